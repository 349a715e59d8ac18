"""The grade rule on real evaluations: every row's grade rests on exactly its design's checks, and says so.

* Every evidence row (the committed default batch, and fresh evaluations of each design) lists in
  ``checks_passed``/``checks_failed``/``checks_missing`` exactly the checks its design requires; its level is
  the design's base level less one for each of them that did not pass, so no row holds a level whose
  required check failed or is missing.
* The grade box near the top of the instrument report names the level, what it means, every check with its
  verdict, and the sensitivity analysis in words; no report says a check was assumed to pass.
* The recommendations say when a grade rests on a missing check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ipf_eval.data import simulate_firms
from ipf_eval.disclosure import get_profile
from ipf_eval.evidence import (
    DESIGNS,
    Check,
    evaluate_instrument,
    evidence_frame,
    evidence_grade,
    read_evidence,
    required_checks,
)
from ipf_eval.pipeline import instrument_report as section
from ipf_eval.pipeline.formatting import p_text
from ipf_eval.synthesis import recommendations

PROJECT = Path(__file__).resolve().parents[1]
INSTRUMENTS = PROJECT / "params" / "instruments"
COMMITTED = PROJECT / "notebooks" / "evidence"


def _names(value: Any) -> list[str]:
    return [n for n in str(value).split(";") if n] if isinstance(value, str) else []


def _assert_rule(rows: pd.DataFrame) -> None:
    for r in rows.to_dict(orient="records"):
        passed, failed, missing = (_names(r[c]) for c in ("checks_passed", "checks_failed", "checks_missing"))
        listed = passed + failed + missing
        assert len(listed) == len(set(listed)), r
        design = r["grade_design"]
        required = set(required_checks(design, takeup=r["term"] == "late"))
        if design == "rdd":  # a fuzzy RDD adds the first stage to every term
            assert required <= set(listed) <= required | {"first_stage"}, r
        else:
            assert set(listed) == required, r
        expected = max(1, DESIGNS[design] - len(failed) - len(missing))
        assert r["evidence_grade"] == expected, r
        assert (r["grade_reasons"] == "") == (not failed and not missing), r
        if design == "did":
            assert ("pre_trends" in missing) == pd.isna(r["pretrend_p"]), r


def test_every_committed_row_obeys_the_rule() -> None:
    rows = evidence_frame(read_evidence(COMMITTED))
    assert len(rows) > 100
    _assert_rule(rows)
    heads = rows.loc[rows["headline"]]
    # the default batch holds every design, and some headline is not at its design's full level
    assert set(heads["grade_design"]) == {"did", "lottery", "rdd"}
    assert (heads["evidence_grade"] < heads["grade_design"].map(DESIGNS)).any()


def test_no_committed_report_assumes_a_check_passed() -> None:
    for path in sorted((PROJECT / "notebooks").glob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        assert "assumes this check passed" not in text, path.name
        assert "not supplied" not in text, path.name


@pytest.fixture(scope="module")
def evaluations() -> dict[str, Any]:
    sim = simulate_firms(seed=11, n_firms=8000)
    return {name: evaluate_instrument(sim.evaluation_sample("AT", name), INSTRUMENTS / f"{name}.yaml",
                                      seed=11, created="2026-01-01T00:00:00Z")
            for name in ("loan_guarantee", "innovation_voucher", "rd_grant")}


def test_fresh_evaluations_obey_the_rule(evaluations: dict[str, Any]) -> None:
    for ev in evaluations.values():
        _assert_rule(ev.to_frame())
        for r in ev.to_frame().to_dict(orient="records"):
            grade = ev.grades[(r["grade_design"], r["outcome"], r["term"])]
            assert grade.level == r["evidence_grade"]
            assert ";".join(grade.missing) == r["checks_missing"]
        record = ev.to_dict()
        assert len(record["grades"]) == len(ev.estimates)
        assert all("specification" not in g for g in record["grades"])


def test_the_lottery_grade_box_shows_randomisation_inference(evaluations: dict[str, Any]) -> None:
    ev = evaluations["innovation_voucher"]
    text = "\n".join(repr(x) for x in section.grade_box(ev))
    grade = ev.grade_of(ev.instrument.primary)
    assert f"Maryland level {grade.level} of 5" in text
    for name in ("Balance of baseline characteristics", "Attrition", "Take-up (first stage)"):
        assert name in text
    ri = ev.design_estimates.results[ev.instrument.primary].p_value_ri
    assert p_text(ri) in text
    assert "Randomisation inference" in text


def test_the_scored_call_grade_box_shows_bandwidth_and_placebo(evaluations: dict[str, Any]) -> None:
    ev = evaluations["rd_grant"]
    text = "\n".join(repr(x) for x in section.grade_box(ev))
    for words in ("density test", "Bandwidth:", "placebo thresholds"):
        assert words in text
    assert ev.placebo is not None
    assert list(ev.placebo["placebo"]) == ["below", "above"]
    assert ev.rd_plot is not None
    assert (ev.rd_plot.bins["n_firms"] >= get_profile(ev.disclosure_profile).min_firms).all()
    assert "Binned means" in section.rd_plot_caption(ev, section.ReportNames("Austria", "FFG", "R&D grant"))


def test_the_did_grade_box_and_pretrend_text(evaluations: dict[str, Any]) -> None:
    ev = evaluations["loan_guarantee"]
    text = "\n".join(repr(x) for x in section.grade_box(ev))
    for words in ("No pre-support trend", "Overlap", "**Sensitivity.**"):
        assert words in text
    pre = repr(section.pretrend_text(ev))
    assert ev.pretrend_power is not None
    assert f"{ev.pretrend_power.slope:.3g} per year" in pre


def test_a_missing_check_is_named_in_the_box_and_costs_a_level() -> None:
    grade = evidence_grade(design="lottery", checks=[Check.missing("balance", "no covariates"),
                                                     Check("attrition", "passed", 0.01, 0.2, "low")])
    assert grade.level == 4
    assert grade.missing == ("balance",)
    from ipf_eval.pipeline.grade_box import level_meaning

    assert "could not be computed" in level_meaning(grade)


def test_recommendations_say_when_a_grade_rests_on_a_missing_check() -> None:
    rows = pd.DataFrame({"country": ["AT", "DK", "FI"], "instrument": "voucher", "outcome": "log_turnover",
                         "estimate": [0.1, 0.12, 0.09], "std_error": 0.02, "grade": [4, 5, 4],
                         "checks_missing": ["balance", "", "attrition;balance"]})
    table = recommendations(rows).to_frame()
    assert table.loc[0, "checks_missing"] == "AT (balance), FI (attrition, balance)"
    assert "rests on checks that could not be computed" in table.loc[0, "wording"]
    clean = recommendations(rows.assign(checks_missing="")).to_frame()
    assert "could not be computed" not in clean.loc[0, "wording"]
