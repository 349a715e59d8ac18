"""The per-instrument forum page: agencies side by side, design limits, divergences and review questions
(ipf_eval.synthesis.peer_review) and their rendering (ipf_eval.pipeline.peer_review_report)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _evidence_helpers import estimate_row, record

from ipf_eval.disclosure import scan_html
from ipf_eval.errors import SpecificationError
from ipf_eval.evidence import read_evidence
from ipf_eval.evidence.grading import CHECKS
from ipf_eval.evidence.schema import DESIGN_VALUES, GRADE_DESIGNS
from ipf_eval.pipeline import peer_review_report as rr
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.pipeline.formatting import MISSING
from ipf_eval.pipeline.summary import Section
from ipf_eval.synthesis import peer_review as pr

COMMITTED = Path(__file__).resolve().parents[1] / "notebooks" / "evidence"
LOTTERY_CHECKS = "balance;attrition;first_stage"
LABELS = {"log_employment": "employment", "rd_spending": "R&D spending"}


def _row(country: str, outcome: str, estimate: float, low: float, high: float, **over: Any) -> dict[str, Any]:
    """A lottery's headline estimate of instrument ``voucher`` (all its checks passed unless overridden)."""
    values: dict[str, Any] = {
        "design": "lottery", "estimator": "rct", "term": "late", "grade_design": "lottery",
        "estimand": "effect on users", "evidence_grade": 5, "checks_passed": LOTTERY_CHECKS,
        "estimate": estimate, "ci_low": low, "ci_high": high, "std_error": (high - low) / (2 * 1.959964),
        "outcome_label": LABELS.get(outcome, outcome),
        "outcome_kind": "level" if outcome == "rd_spending" else "log",
        "outcome_unit": "euro" if outcome == "rd_spending" else "jobs",
    }
    values.update(over)
    return estimate_row(country, "voucher", outcome, **values)


def _cost(country: str, outcome: str, unit: str, cost: float | None) -> dict[str, Any]:
    return {"country": country, "instrument": "voucher", "outcome": outcome, "estimator": "rct",
            "term": "late", "evidence_grade": 5, "unit": unit, "cost_per_unit": cost, "ci_low": None,
            "ci_high": None, "unbounded": cost is None, "cost_per_firm": 8400.0, "n_supported": 40}


def _delivery(country: str, applications: float, days: float, rate: float) -> list[dict[str, Any]]:
    return [{"country": country, "instrument": "voucher", "indicator": k, "value": v}
            for k, v in (("applications", applications), ("median_decision_days", days),
                         ("acceptance_rate", rate))]


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """AT: a significant employment effect with its cost, all checks passed, delivery data.  DK: no
    employment effect (a cost wrongly written next to it), balance failed, take-up missing, no delivery
    data.  Their employment intervals do not overlap."""
    at = record("AT", "voucher", design="lottery", rows=[
        _row("AT", "log_employment", 0.10, 0.06, 0.14, cost_per_outcome=20000.0, cost_ci_low=15000.0,
             cost_ci_high=30000.0, cost_unit="job"),
        _row("AT", "rd_spending", 1000.0, -500.0, 2500.0)],
        delivery=_delivery("AT", 300.0, 45.0, 0.4),
        costs=[_cost("AT", "log_employment", "job", 20000.0), _cost("AT", "rd_spending", "euro_rd", None)])
    dk = record("DK", "voucher", design="lottery", rows=[
        _row("DK", "log_employment", 0.01, -0.02, 0.04, checks_passed="attrition", checks_failed="balance",
             checks_missing="first_stage", evidence_grade=3, cost_per_outcome=5000.0, cost_ci_low=4000.0,
             cost_ci_high=6000.0, cost_unit="job"),
        _row("DK", "rd_spending", 1500.0, -400.0, 3400.0)],
        costs=[_cost("DK", "log_employment", "job", 5000.0)])
    at["grades"] = [{"grade_design": "lottery", "outcome": "log_employment", "term": "late",
                     "checks": [{"name": "balance", "status": "passed", "reason": "balanced"}]}]
    dk["grades"] = [{"grade_design": "lottery", "outcome": "log_employment", "term": "late",
                     "checks": [{"name": "balance", "status": "failed",
                                 "reason": "poor covariate balance (max |SMD| = 0.4 > 0.25)"},
                                {"name": "first_stage", "status": "missing",
                                 "reason": "first_stage not computed: take-up was not observed"}]}]
    other = record("AT", "rd_grant")  # another instrument: never on this page
    return [at, dk, other]


# -- side by side ------------------------------------------------------------------------------------------

def test_the_comparison_has_one_row_per_agency(records: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(records)
    table = pr.instrument_comparison(records, instrument="voucher", primary="log_employment")
    assert records == before  # the records are not modified
    assert tuple(table.columns) == pr.COMPARISON_COLUMNS
    assert table["country"].tolist() == ["AT", "DK"]
    assert (table["outcome"] == "log_employment").all()
    assert table["grade_design"].tolist() == ["lottery", "lottery"]
    assert table["evidence_grade"].tolist() == [5, 3]
    assert not table["stale"].any()
    only_dk = pr.instrument_comparison(records, instrument="voucher", countries=["DK", "SE"])
    assert only_dk["country"].tolist() == ["DK"]


def test_the_primary_outcome_defaults_to_the_one_most_agencies_estimate(
        records: list[dict[str, Any]]) -> None:
    assert set(pr.instrument_comparison(records, instrument="voucher")["outcome"]) == {"log_employment"}
    records[1]["tables"]["estimates"] = [r for r in records[1]["tables"]["estimates"]
                                         if r["outcome"] == "rd_spending"]
    table = pr.instrument_comparison(records, instrument="voucher", primary="log_employment")
    assert table["outcome"].tolist() == ["log_employment", "rd_spending"]  # DK's first headline instead
    assert pr.instrument_comparison(records, instrument="voucher")["outcome"].tolist() == ["rd_spending"] * 2


def test_cost_is_shown_only_where_the_effect_is_distinguishable_from_zero(
        records: list[dict[str, Any]]) -> None:
    table = pr.instrument_comparison(records, instrument="voucher", primary="log_employment")
    assert table["cost_per_outcome"].iloc[0] == 20000.0
    assert math.isnan(table["cost_per_outcome"].iloc[1])  # DK's record wrote one next to a null effect
    lead, shown = rr.comparison_section(table)[:2]
    assert isinstance(lead, Text)
    assert isinstance(shown, Table)
    assert "EUR 20,000 per additional job" in shown.frame["cost"].iloc[0]
    assert shown.frame["cost"].iloc[1] == "not given: the effect is not distinguishable from zero"
    assert "5,000" not in shown._repr_html_()
    costs = pr.costed_headlines(records, instrument="voucher")
    assert list(zip(costs["country"], costs["outcome"], strict=True)) == [
        ("AT", "log_employment"), ("AT", "rd_spending"), ("DK", "log_employment")]
    (cost_table,) = rr.costs_section(costs)
    assert isinstance(cost_table, Table)
    wide = cost_table.frame.set_index("country")
    assert "EUR 20,000 per additional job" in wide.loc["AT", "employment"]
    assert wide.loc["DK", "employment"].startswith("not given")
    assert wide.loc["AT", "R&D spending"].startswith("not given")
    assert wide.loc["DK", "R&D spending"] == MISSING  # DK does not price R&D
    assert rr.costs_section(costs.iloc[0:0])[0].markdown.startswith("No agency prices")  # type: ignore[attr-defined]


def test_missing_delivery_is_shown_as_missing_not_zero(records: list[dict[str, Any]]) -> None:
    table = pr.instrument_comparison(records, instrument="voucher")
    at, dk = table.to_dict(orient="records")
    assert (at["applications"], at["median_decision_days"], at["acceptance_rate"]) == (300.0, 45.0, 0.4)
    assert all(math.isnan(dk[k]) for k in ("applications", "median_decision_days", "acceptance_rate"))
    shown = rr.comparison_section(table)[1]
    assert isinstance(shown, Table)
    row = shown.frame.set_index("country").loc["DK"]
    assert (row["applications"], row["median_days_to_decision"], row["acceptance_rate"]) == (MISSING,) * 3
    assert shown.frame.set_index("country").loc["AT", "median_days_to_decision"] == "45"
    html_text = shown._repr_html_()
    for header in ("Effect", "Evidence grade", "Cost per outcome", "Applications", "Median days to decision",
                   "Out of date", "Data source"):
        assert f"<th>{header}</th>" in html_text


def test_a_stale_evaluation_is_flagged_asked_about_and_not_compared(records: list[dict[str, Any]]) -> None:
    for row in records[1]["tables"]["estimates"]:
        row["stale"] = True
    table = pr.instrument_comparison(records, instrument="voucher")
    assert table["stale"].tolist() == [False, True]
    shown = rr.comparison_section(table)[1]
    assert isinstance(shown, Table)
    assert shown.frame["out_of_date"].iloc[1].startswith("yes: the evidence of 2026-01-01")
    assert pr.divergences(records, instrument="voucher").empty
    assert len(pr.divergences(records, instrument="voucher", include_stale=True)) == 1
    questions = pr.review_questions(records, instrument="voucher", host="DK")
    assert questions["source"].iloc[0] == "stale"


# -- what each design can show ---------------------------------------------------------------------------

@pytest.mark.parametrize("design", sorted({*DESIGN_VALUES, *GRADE_DESIGNS, "rct", "matching", "weighting",
                                           "iv", "regression", "before_after"}))
def test_design_limits_for_each_design(design: str) -> None:
    can, cannot = pr.design_limits(design)
    assert len(can) > 40
    assert len(cannot) > 40
    assert can != cannot
    assert pr.design_label(design)


def test_design_limits_name_what_each_design_rests_on() -> None:
    assert "chance" in pr.design_limits("lottery")[0]
    assert pr.design_limits("lottery") == pr.design_limits("rct")
    assert "threshold" in pr.design_limits("scored_call")[0]
    assert pr.design_limits("scored_call") == pr.design_limits("rdd")
    assert "same path before" in pr.design_limits("open_call")[0]
    assert "not recorded" in pr.design_limits("weighting")[1]
    with pytest.raises(SpecificationError, match=r"design must be one of .*got 'coin_flip'"):
        pr.design_limits("coin_flip")


# -- divergences -----------------------------------------------------------------------------------------

def test_non_overlapping_estimates_diverge_and_the_differing_checks_are_named(
        records: list[dict[str, Any]]) -> None:
    div = pr.divergences(records, instrument="voucher")
    assert tuple(div.columns) == pr.DIVERGENCE_COLUMNS
    assert len(div) == 1  # R&D spending overlaps
    d = div.iloc[0]
    assert (d["outcome"], d["country"], d["peer"], d["kind"]) == ("log_employment", "AT", "DK", "no_overlap")
    assert d["differing"] == "balance;first_stage"  # attrition passed in both: not a candidate
    assert "the balance check passed in AT and failed in DK" in d["explanation"]
    assert "the take-up check (first stage) passed in AT and was not computed in DK" in d["explanation"]
    assert math.isnan(d["i2"])  # two countries: not pooled
    flipped = pr.divergences(records, instrument="voucher", host="DK").iloc[0]
    assert (flipped["country"], flipped["peer"], flipped["estimate"]) == ("DK", "AT", 0.01)
    assert "failed in DK and passed in AT" in flipped["explanation"]


def test_overlapping_estimates_do_not_diverge_but_opposite_significant_ones_do() -> None:
    def two(b_low: float, b_est: float, b_high: float) -> list[dict[str, Any]]:
        return [record(c, "voucher", design="lottery", rows=[_row(c, "log_employment", e, lo, hi)])
                for c, (lo, e, hi) in (("AT", (0.01, 0.05, 0.09)), ("DK", (b_low, b_est, b_high)))]

    assert pr.divergences(two(0.00, 0.04, 0.08), instrument="voucher").empty
    opposite = pr.divergences(two(-0.10, -0.03, 0.04), instrument="voucher")
    assert opposite["kind"].tolist() == ["opposite_signs"]
    assert "No diagnostic differs" in opposite["explanation"].iloc[0]


def test_large_heterogeneity_reports_the_pair_furthest_apart() -> None:
    se = 0.052  # every pair of intervals overlaps, but Q is large
    rows = {"AT": 0.0001, "DK": 0.11, "FI": 0.2}
    recs = [record(c, "voucher", design="lottery", rows=[
        _row(c, "log_employment", e, e - 1.959964 * se, e + 1.959964 * se, std_error=se)])
        for c, e in rows.items()]
    div = pr.divergences(recs, instrument="voucher")
    assert div["kind"].tolist() == ["heterogeneity"]
    assert (div["country"].iloc[0], div["peer"].iloc[0]) == ("AT", "FI")
    assert div["i2"].iloc[0] >= pr.LARGE_I2
    assert div["q"].iloc[0] > 2
    hosted = pr.divergences(recs, instrument="voucher", host="DK")
    assert (hosted["country"].iloc[0], hosted["peer"].iloc[0]) == ("DK", "AT")  # AT: further from DK
    assert pr.divergences(recs, instrument="voucher", large_i2=0.99).empty
    with pytest.raises(SpecificationError, match=r"large_i2 must be a share in \(0, 1\]; got 2"):
        pr.divergences(recs, instrument="voucher", large_i2=2)


def test_a_difference_of_design_is_named_as_a_candidate_explanation() -> None:
    recs = [record("AT", "voucher", design="lottery", rows=[_row("AT", "log_employment", 0.10, 0.06, 0.14)]),
            record("FI", "voucher", design="open_call", rows=[estimate_row(
                "FI", "voucher", "log_employment", estimate=0.01, ci_low=-0.02, ci_high=0.04)])]
    d = pr.divergences(recs, instrument="voucher").iloc[0]
    assert d["differing"] == ""  # a lottery's and a DiD's checks are not comparable
    assert "the two estimate different things" in d["explanation"]
    question = pr.review_questions(recs, instrument="voucher", host="FI")["question"].iloc[0]
    assert "The two designs estimate different things" in question
    section = rr.peer_review_section(recs, instrument="voucher", host="FI")
    limits = next(x for x in section if isinstance(x, Table))
    assert limits.frame["agencies"].tolist() == ["FI", "AT"]  # the host's design first


# -- questions -------------------------------------------------------------------------------------------

def test_a_question_for_each_failed_and_missing_check_and_none_for_passed(
        records: list[dict[str, Any]]) -> None:
    q = pr.review_questions(records, instrument="voucher", host="DK")
    assert tuple(q.columns) == pr.QUESTION_COLUMNS
    checks = q.loc[q["source"] == "check"]
    assert list(zip(checks["check"], checks["status"], strict=True)) == [("balance", "failed"),
                                                                          ("first_stage", "missing")]
    assert "attrition" not in set(checks["check"])  # passed
    assert checks["outcomes"].tolist() == ["log_employment", "log_employment"]
    assert checks["question"].iloc[1].startswith("Take-up of the support could not be measured (for "
                                                 "employment): ")
    assert checks["reason"].iloc[0] == "poor covariate balance (max |SMD| = 0.4 > 0.25)"
    (div,) = q.loc[q["source"] == "divergence"].to_dict(orient="records")
    assert div["peer"] == "AT"
    assert div["check"] == "balance;first_stage"
    assert div["question"].startswith("Your interval for the effect on employment does not overlap AT's")
    assert "The balance check failed in your evaluation and passed in AT's" in div["question"]
    host_at = pr.review_questions(records, instrument="voucher", host="AT")
    assert host_at["source"].tolist() == ["divergence"]  # every check of AT passed


@pytest.mark.parametrize("status", ["failed", "missing"])
@pytest.mark.parametrize("check", sorted(CHECKS))
def test_every_check_and_status_has_its_question(check: str, status: str) -> None:
    others = [c for c in CHECKS if c != check][:2]
    rows = [_row("AT", "log_employment", 0.1, 0.06, 0.14, checks_passed=";".join(others),
                 **{f"checks_{status}": check})]
    q = pr.review_questions([record("AT", "voucher", design="lottery", rows=rows)], instrument="voucher",
                            host="AT")
    assert list(zip(q["check"], q["status"], strict=True)) == [(check, status)]
    said, ask = pr.CHECK_QUESTIONS[(check, status)]
    assert q["question"].iloc[0] == f"{said} (for employment): {ask}"
    assert ask.endswith("?")
    assert "_" not in said + ask


def test_unknown_instrument_host_or_countries_are_errors(records: list[dict[str, Any]]) -> None:
    with pytest.raises(SpecificationError, match=r"instrument='nope' has no evidence record; .*'voucher'"):
        pr.instrument_comparison(records, instrument="nope")
    with pytest.raises(SpecificationError, match=r"instrument='nope'"):
        pr.divergences(records, instrument="nope")
    with pytest.raises(SpecificationError, match=r"instrument must be an instrument's name"):
        pr.costed_headlines(records, instrument=3)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"host='SE' has no evidence record of 'voucher'.*'AT', "
                                                 r"'DK'"):
        pr.review_questions(records, instrument="voucher", host="SE")
    with pytest.raises(SpecificationError, match=r"host='SE'"):
        pr.divergences(records, instrument="voucher", host="SE")
    with pytest.raises(SpecificationError, match=r"host='SE'"):
        rr.peer_review_section(records, instrument="voucher", host="SE")
    with pytest.raises(SpecificationError, match=r"countries=\['SE'\]: none of them evaluated 'voucher'"):
        pr.instrument_comparison(records, instrument="voucher", countries=["SE"])
    with pytest.raises(SpecificationError, match=r"host='DK'.*\['AT'\]"):
        pr.review_questions(records, instrument="voucher", host="DK", countries=["AT"])


# -- the rendered sections -------------------------------------------------------------------------------

def test_the_peer_review_section_pairs_the_host_with_its_peers(records: list[dict[str, Any]]) -> None:
    section = rr.peer_review_section(records, instrument="voucher", host="DK")
    heading = section[0]
    assert isinstance(heading, Text)
    assert heading.markdown.startswith("### DK: its evaluation reviewed")
    limits, div = [x for x in section if isinstance(x, Table)]
    assert limits.frame.columns.tolist() == ["design", "agencies", "can_show", "cannot_show"]
    assert "<th>Cannot show</th>" in limits._repr_html_()
    assert div.frame["peer"].tolist() == ["AT"]
    assert div.frame["this_evaluation"].iloc[0].startswith("+1.0 %")
    assert "<th>Candidate explanation</th>" in div._repr_html_()
    questions = section[-1]
    assert isinstance(questions, Section)
    assert questions.id == "questions-dk"
    assert len(questions.items) == 3
    assert questions.items[0].endswith("(The evaluation recorded: poor covariate balance (max |SMD| = 0.4 > "
                                       "0.25).)")
    assert "<section id='questions-dk'>" in questions._repr_html_()
    # the page shows the designs once and each review without them
    (once,) = rr.design_limits_section(records, instrument="voucher")
    assert isinstance(once, Table)
    pd.testing.assert_frame_equal(once.frame.drop(columns="agencies"), limits.frame.drop(columns="agencies"))
    lean = rr.peer_review_section(records, instrument="voucher", host="DK", design_table=False)
    assert [x.frame.columns.tolist()[0] for x in lean if isinstance(x, Table)] == ["outcome"]


def test_a_host_without_peers_or_problems_gets_a_plain_answer() -> None:
    recs = [record("AT", "voucher", design="lottery", rows=[_row("AT", "log_employment", 0.1, 0.06, 0.14)])]
    section = rr.peer_review_section(recs, instrument="voucher", host="AT")
    assert "No other agency evaluated this instrument" in section[0].markdown  # type: ignore[attr-defined]
    assert any(isinstance(x, Text) and "diverges from a peer's" in x.markdown for x in section)
    questions = section[-1]
    assert isinstance(questions, Section)
    assert questions.items[0].startswith("No check of AT's")


def _html(items: list[object]) -> str:
    parts = []
    for x in items:
        if isinstance(x, Text):
            parts.append(x.markdown)
        else:
            parts.append(x._repr_html_())  # type: ignore[attr-defined]
    return "\n".join(parts)


def test_nothing_firm_level_on_the_committed_evidence() -> None:
    """Every instrument of the committed evidence: one row per agency, aggregates only, and the rendered
    page passes the disclosure scan (no small counts of firms, no firm-level columns)."""
    records = read_evidence(COMMITTED)
    for instrument in sorted({str(r["instrument"]) for r in records}):
        agencies = sorted(str(r["country"]) for r in records if r["instrument"] == instrument)
        table = pr.instrument_comparison(records, instrument=instrument)
        assert table["country"].tolist() == agencies
        items = [*rr.comparison_section(table),
                 *rr.costs_section(pr.costed_headlines(records, instrument=instrument))]
        for host in agencies:
            items += rr.peer_review_section(records, instrument=instrument, host=host)
        frames = [table, pr.divergences(records, instrument=instrument)]
        for frame in frames:
            assert not [c for c in frame.columns if "firm_id" in str(c) or str(c) in ("idname", "firm")]
        page = _html(items)
        assert "firm_id" not in page
        assert scan_html(page, profile="statistical_office").clean, instrument


def test_the_committed_vouchers_diverge_where_their_intervals_do_not_overlap() -> None:
    records = read_evidence(COMMITTED)
    div = pr.divergences(records, instrument="innovation_voucher")
    turnover = div.loc[div["outcome"] == "log_turnover"]
    assert (turnover["kind"] == "no_overlap").all()
    for r in turnover.to_dict(orient="records"):
        assert r["ci_low"] > r["peer_ci_high"] or r["peer_ci_low"] > r["ci_high"]
        assert r["i2"] >= pr.LARGE_I2  # and the meta-analysis finds large variation too
    table = pr.instrument_comparison(records, instrument="innovation_voucher", primary="log_turnover")
    assert isinstance(table, pd.DataFrame)
    assert len(table) == 5
