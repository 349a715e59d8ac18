"""Rule tables for the Maryland SMS evidence grade and the OECD six-steps mapping.

The rule: a level is awarded only when every check it requires was computed and passed; each required check
that failed or is missing (not computed, not supplied) costs one level, with its reason, and so does a
supplied optional check that failed; the floor is level 1.  The tables below are our own copy of the
documented rules, not read from the library.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ipf_eval.errors import SpecificationError
from ipf_eval.evidence import CHECKS, DESIGNS, DIAGNOSTICS, OECD_STEPS, Check, evidence_grade, required_checks

BASE = {"lottery": 5, "rct": 5, "rdd": 4, "iv": 4, "did": 3, "matching": 2, "regression": 2,
        "before_after": 1}
STEP = {"lottery": 6, "rct": 6, "rdd": 6, "iv": 6, "did": 6, "matching": 5, "regression": 4,
        "before_after": 3}
REQUIRED = {
    "lottery": ("balance", "attrition"),
    "rct": ("balance", "attrition"),
    "rdd": ("density", "covariate_continuity", "bandwidth_sensitivity"),
    "iv": ("first_stage",),
    "did": ("pre_trends", "balance", "overlap"),
    "matching": ("balance", "overlap"),
    "regression": ("balance",),
    "before_after": (),
}
# figures that make each check pass, by name
PASSING: dict[str, dict[str, Any]] = {
    "balance": {"max_abs_smd": 0.05, "balance_pvalue": 0.6},
    "attrition": {"attrition": 0.05, "differential_attrition": 0.01},
    "first_stage": {"first_stage_f": 40.0},
    "density": {"density_pvalue": 0.5},
    "covariate_continuity": {"covariate_pvalue": 0.5},
    "bandwidth_sensitivity": {"bandwidth_stable": True},
    "pre_trends": {"pretrend_pvalue": 0.5, "pretrend_power": 0.9},
    "overlap": {"overlap_share": 0.0},
}
# (figures that make the check fail, words expected in its reason)
FAILING: dict[str, tuple[dict[str, Any], str]] = {
    "balance": ({"max_abs_smd": 0.4}, "poor covariate balance"),
    "attrition": ({"attrition": 0.35, "differential_attrition": 0.01}, "high attrition"),
    "first_stage": ({"first_stage_f": 4.0}, "weak first stage"),
    "density": ({"density_pvalue": 0.001}, "manipulation at the threshold"),
    "covariate_continuity": ({"covariate_pvalue": 0.001}, "a covariate jumps"),
    "bandwidth_sensitivity": ({"bandwidth_stable": False}, "moves outside its interval"),
    "pre_trends": ({"pretrend_pvalue": 0.01, "pretrend_power": 0.9}, "pre-trend test rejects"),
    "overlap": ({"overlap_share": 0.2}, "poor overlap"),
}


def _all_passing(design: str, *, takeup: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in required_checks(design, takeup=takeup):
        out.update(PASSING[name])
    return out


def test_rule_tables_match_the_documentation() -> None:
    assert BASE == DESIGNS
    assert {d: required_checks(d) for d in BASE} == REQUIRED
    assert required_checks("lottery", takeup=True) == ("balance", "attrition", "first_stage")
    assert required_checks("rdd", takeup=True)[-1] == "first_stage"
    assert set(DIAGNOSTICS.values()) <= set(CHECKS)
    assert set(OECD_STEPS) == {1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize("design", sorted(BASE))
def test_nothing_supplied_means_every_required_check_is_missing(design: str) -> None:
    g = evidence_grade(design=design)
    assert g.base_level == BASE[design]
    assert g.missing == REQUIRED[design]
    assert g.passed == ()
    assert g.level == max(1, BASE[design] - len(REQUIRED[design]))
    assert g.oecd_step == STEP[design]
    assert g.oecd_step_label == OECD_STEPS[STEP[design]]
    for c in g.checks:
        assert "not computed" in c.reason


@pytest.mark.parametrize("design", sorted(BASE))
def test_the_full_level_needs_every_required_check_passed(design: str) -> None:
    g = evidence_grade(design=design, diagnostics=_all_passing(design))
    assert g.level == BASE[design]
    assert g.passed == REQUIRED[design]
    assert g.failed == g.missing == g.reasons == ()


@pytest.mark.parametrize(("design", "check"), [(d, c) for d in sorted(BASE) for c in REQUIRED[d]])
def test_each_failed_or_missing_required_check_costs_one_level(design: str, check: str) -> None:
    figures = _all_passing(design)
    failing, words = FAILING[check]
    failed = evidence_grade(design=design, diagnostics={**figures, **failing})
    assert failed.level == max(1, BASE[design] - 1)
    assert failed.failed == (check,)
    assert words in failed.check(check).reason
    assert failed.reasons == (failed.check(check).reason,)
    for key in PASSING[check]:
        figures.pop(key, None)
    missing = evidence_grade(design=design, diagnostics=figures)
    assert missing.level == max(1, BASE[design] - 1)
    assert missing.missing == (check,)


def test_a_pretrend_test_without_power_is_missing_and_a_weak_one_fails() -> None:
    base = {"max_abs_smd": 0.05, "overlap_share": 0.0}
    no_power = evidence_grade(design="did", diagnostics={**base, "pretrend_pvalue": 0.5})
    assert no_power.missing == ("pre_trends",)
    assert "power was not computed" in no_power.check("pre_trends").reason
    weak = evidence_grade(design="did",
                          diagnostics={**base, "pretrend_pvalue": 0.5, "pretrend_power": 0.3})
    assert weak.failed == ("pre_trends",)
    assert "too weak" in weak.check("pre_trends").reason
    assert evidence_grade(design="did", diagnostics={**base, "pretrend_pvalue": 0.5,
                                                     "pretrend_power": 0.5}).level == 3


def test_takeup_adds_the_first_stage() -> None:
    figures = _all_passing("lottery")
    assert evidence_grade(design="lottery", diagnostics=figures).level == 5
    users = evidence_grade(design="lottery", diagnostics=figures, takeup=True)
    assert users.level == 4
    assert users.missing == ("first_stage",)
    strong = evidence_grade(design="lottery", diagnostics={**figures, "first_stage_f": 10.0}, takeup=True)
    assert strong.level == 5


def test_levels_add_up_and_the_floor_is_one() -> None:
    g = evidence_grade(design="rdd", diagnostics={"density_pvalue": 0.01, "covariate_pvalue": 0.5})
    assert g.failed == ("density",)
    assert g.missing == ("bandwidth_sensitivity",)
    assert g.level == 2
    g = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.001, "max_abs_smd": 0.6,
                                                  "comparison_justified": False})
    assert g.level == 1
    assert any("floored at level 1" in n for n in g.notes)
    # an optional check that failed costs a level too; one that passed changes nothing
    full = _all_passing("did")
    assert evidence_grade(design="did", diagnostics={**full, "comparison_justified": False}).level == 2
    assert evidence_grade(design="did", diagnostics={**full, "comparison_justified": True}).level == 3


def test_checks_given_win_over_figures_and_unused_figures_are_noted() -> None:
    computed = Check("balance", "failed", 0.5, 0.25, "poor covariate balance (computed)")
    g = evidence_grade(design="lottery", checks=[computed], diagnostics=_all_passing("lottery"))
    assert g.check("balance") is computed
    assert g.level == 4
    g = evidence_grade(design="lottery", diagnostics={**_all_passing("lottery"), "density_pvalue": 0.001})
    assert g.level == 5
    assert any("density does not apply" in n for n in g.notes)


def test_thresholds_are_parameters() -> None:
    figures = {**_all_passing("matching"), "max_abs_smd": 0.15}
    assert evidence_grade(design="matching", diagnostics=figures).level == 2
    strict = evidence_grade(design="matching", diagnostics=figures, max_smd=0.1)
    assert strict.level == 1
    assert "0.15 > 0.1" in strict.reasons[0]
    lax = evidence_grade(design="did", diagnostics={**_all_passing("did"), "pretrend_pvalue": 0.03},
                         pretrend_alpha=0.01)
    assert lax.level == 3


def test_result_conventions() -> None:
    g = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.01, "max_abs_smd": 0.05})
    frame: Any = g.to_frame()
    assert list(frame["check"]) == ["pre_trends", "balance", "overlap"]
    assert list(frame["status"]) == ["failed", "passed", "missing"]
    d = json.loads(json.dumps(g.to_dict(), allow_nan=False))
    assert d["sms_level"] == 1
    assert d["checks_failed"] == ["pre_trends"]
    assert d["checks_missing"] == ["overlap"]
    assert "Maryland SMS level" in str(g)
    with pytest.raises(KeyError, match="no check 'density'"):
        g.check("density")
    with pytest.raises(AttributeError):
        g.level = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"design": "case_study"}, "design must be one of"),
        ({"design": "did", "diagnostics": {"placebo": 0.2}}, "unknown diagnostic\\(s\\) \\['placebo'\\]"),
        ({"design": "did", "diagnostics": {"pretrend_pvalue": 1.5}}, "must lie in \\[0, 1\\]"),
        ({"design": "iv", "diagnostics": {"first_stage_f": -2.0}}, "must lie in \\[0, inf\\]"),
        ({"design": "iv", "diagnostics": {"first_stage_f": float("nan")}}, "must be a finite number"),
        ({"design": "did", "diagnostics": {"comparison_justified": "yes"}}, "must be True or False"),
        ({"design": "did", "pretrend_alpha": 0.0}, "pretrend_alpha must lie in"),
        ({"design": "did", "max_smd": -0.1}, "max_smd must lie in"),
        ({"design": "did", "checks": [Check.missing("balance", "x"), Check.missing("balance", "y")]},
         "give each check once"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        evidence_grade(**kwargs)


def test_bad_checks() -> None:
    with pytest.raises(SpecificationError, match=r"Check\(name=\.\.\.\) must be one of"):
        Check("parallel", "passed")
    with pytest.raises(SpecificationError, match=r"Check\(status=\.\.\.\)"):
        Check("balance", "assumed")  # type: ignore[arg-type]


def test_every_evidence_result_is_strict_json_and_displays() -> None:
    from ipf_eval.evidence import (
        cost_effectiveness,
        input_additionality,
        output_additionality,
        survey_additionality,
    )

    results: list[Any] = [
        evidence_grade(design="did", diagnostics={"comparison_justified": False}),
        input_additionality(
            effect=1.0, effect_se=1.0, subsidy_per_firm=1.0, subsidy_se=1.0, method="fieller"
        ),
        output_additionality(effect=0.1, effect_se=0.1),
        survey_additionality(n_respondents=5, n_full_deadweight=1),
        cost_effectiveness(effect=0.1, effect_se=0.1, n_supported=3, programme_cost=10.0, outcome_unit="job"),
    ]
    for res in results:
        text = json.dumps(res.to_dict(), allow_nan=False)
        assert json.loads(text)
        assert str(res).strip()
        assert "<div class='ipf-eval-summary'>" in res._repr_html_()
        assert r"\begin{table}" in res.summary().as_latex()
