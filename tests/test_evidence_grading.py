"""Rule tables for the Maryland SMS evidence grade and the OECD six-steps mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ipf_eval.errors import SpecificationError
from ipf_eval.evidence import DESIGNS, DIAGNOSTICS, OECD_STEPS, evidence_grade

# Our own copy of the documented rules (not read from the library) -----------------------------------------
BASE = {
    "lottery": 5,
    "rct": 5,
    "rdd": 4,
    "iv": 4,
    "did": 3,
    "matching": 2,
    "regression": 2,
    "before_after": 1,
}
STEP = {
    "lottery": 6,
    "rct": 6,
    "rdd": 6,
    "iv": 6,
    "did": 6,
    "matching": 5,
    "regression": 4,
    "before_after": 3,
}
APPLIES = {
    "pretrend_pvalue": {"did", "matching", "regression"},
    "max_abs_smd": {"lottery", "rct", "rdd", "did", "matching", "regression"},
    "first_stage_f": {"iv", "rdd", "lottery", "rct"},
    "density_pvalue": {"rdd"},
    "attrition": set(BASE),
    "differential_attrition": set(BASE),
    "comparison_justified": {"did"},
}
# (failing value, passing value at the boundary, words expected in the reason)
VALUES = {
    "pretrend_pvalue": (0.01, 0.05, "pre-trend test rejects"),
    "max_abs_smd": (0.4, 0.25, "poor covariate balance"),
    "first_stage_f": (4.0, 10.0, "weak first stage"),
    "density_pvalue": (0.001, 0.05, "manipulation at the threshold"),
    "attrition": (0.35, 0.20, "high attrition"),
    "differential_attrition": (0.08, 0.05, "high differential attrition"),
    "comparison_justified": (False, True, "comparison group not justified"),
}


def test_rule_tables_match_the_documentation() -> None:
    assert BASE == DESIGNS
    assert {k: v[1] for k, v in DIAGNOSTICS.items()} == APPLIES
    assert set(OECD_STEPS) == {1, 2, 3, 4, 5, 6}


@pytest.mark.parametrize("design", sorted(BASE))
def test_base_level_and_oecd_step_without_diagnostics(design: str) -> None:
    g = evidence_grade(design=design)
    assert g.base_level == BASE[design]
    assert g.level == BASE[design]
    assert g.oecd_step == STEP[design]
    assert g.oecd_step_label == OECD_STEPS[STEP[design]]
    assert g.downgrades == ()
    # every applicable check that was not supplied is listed (differential attrition goes with attrition)
    expected_missing = {d for d, ds in APPLIES.items() if design in ds} - {"differential_attrition"}
    assert {n.split(" ")[0] for n in g.notes} == expected_missing


@pytest.mark.parametrize(
    ("design", "diagnostic"),
    [(design, diag) for design in sorted(BASE) for diag in sorted(VALUES)],
)
def test_every_design_by_diagnostic_combination(design: str, diagnostic: str) -> None:
    fail_value, pass_value, words = VALUES[diagnostic]
    failed = evidence_grade(design=design, diagnostics={diagnostic: fail_value})
    passed = evidence_grade(design=design, diagnostics={diagnostic: pass_value})
    assert passed.level == BASE[design]
    assert passed.downgrades == ()
    if design in APPLIES[diagnostic]:
        assert failed.level == max(1, BASE[design] - 1)
        assert len(failed.downgrades) == 1
        assert words in failed.downgrades[0].reason
        assert failed.downgrades[0].diagnostic == diagnostic
    else:
        assert failed.level == BASE[design]
        assert any(f"{diagnostic} does not apply" in n for n in failed.notes)
    assert failed.oecd_step == STEP[design]


def test_each_failed_category_costs_one_level_and_the_floor_is_one() -> None:
    g = evidence_grade(design="rdd", diagnostics={"density_pvalue": 0.01, "first_stage_f": 3.0})
    assert g.level == 2
    assert [d.category for d in g.downgrades] == ["first_stage", "manipulation"]
    g = evidence_grade(design="rct", diagnostics={"attrition": 0.5, "differential_attrition": 0.2})
    assert g.level == 4  # one category: attrition
    g = evidence_grade(
        design="did",
        diagnostics={
            "pretrend_pvalue": 0.001,
            "max_abs_smd": 0.6,
            "attrition": 0.4,
            "comparison_justified": False,
        },
    )
    assert g.base_level == 3
    assert g.level == 1
    assert len(g.downgrades) == 4
    assert any("floored at level 1" in n for n in g.notes)
    assert evidence_grade(design="before_after", diagnostics={"attrition": 0.9}).level == 1


def test_thresholds_are_parameters() -> None:
    assert evidence_grade(design="matching", diagnostics={"max_abs_smd": 0.15}).level == 2
    strict = evidence_grade(design="matching", diagnostics={"max_abs_smd": 0.15}, max_smd=0.1)
    assert strict.level == 1
    assert "0.15 > 0.1" in strict.reasons[0]
    lax = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.03}, pretrend_alpha=0.01)
    assert lax.level == 3


def test_result_conventions() -> None:
    g = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.01, "max_abs_smd": 0.05})
    frame: Any = g.to_frame()
    assert frame.loc[0, "sms_level"] == 2
    assert frame.loc[0, "oecd_step"] == 6
    assert "pre-trend" in frame.loc[0, "reasons"]
    d = json.loads(json.dumps(g.to_dict()))
    assert d["sms_level"] == 2
    assert d["downgrades"][0]["category"] == "pre_trends"
    assert "Maryland SMS level" in str(g)
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
    ],
)
def test_bad_input(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        evidence_grade(**kwargs)


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
