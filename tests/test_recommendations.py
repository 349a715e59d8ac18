"""Rule tables for the verdicts, and the ranked recommendations built on the meta-analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.synthesis.recommendations import VERDICTS, outcome_family, recommendations, verdict

STRONG = {"min_grade_found": 3, "n_countries": 3, "any_strong_single": True, "pi_low": 0.01, "pi_high": 0.12}


@pytest.mark.parametrize(
    ("ci", "estimate", "facts", "direction", "expected"),
    [
        # works: interval excludes zero, grade >= 3, three countries, prediction interval beneficial
        ((0.02, 0.10), 0.06, STRONG, 1, "works"),
        # same interval, but only two countries evaluated it -> promising
        ((0.02, 0.10), 0.06, {**STRONG, "n_countries": 2}, 1, "promising"),
        # same interval, but it may not work in a new country (prediction interval crosses zero)
        ((0.02, 0.10), 0.06, {**STRONG, "pi_low": -0.02}, 1, "promising"),
        # no prediction interval (one country) -> promising
        ((0.02, 0.10), 0.06, {**STRONG, "pi_low": float("nan"), "pi_high": float("nan")}, 1, "promising"),
        # same interval, weak design (grade 2) -> promising
        ((0.02, 0.10), 0.06, {**STRONG, "min_grade_found": 2}, 1, "promising"),
        # interval includes zero, positive estimate, one strong country significant -> promising
        ((-0.01, 0.10), 0.045, STRONG, 1, "promising"),
        # interval includes zero, no strong single, precise -> no evidence of an effect
        ((-0.015, 0.012), -0.001, {**STRONG, "any_strong_single": False}, 1,
         "no evidence of an effect"),
        # interval includes zero, wide -> inconclusive
        ((-0.08, 0.09), 0.005, {**STRONG, "any_strong_single": False}, 1, "inconclusive"),
        # negative estimate: a strong single beneficial country does not make it promising
        ((-0.08, 0.01), -0.035, STRONG, 1, "inconclusive"),
        # adverse and strong design -> harmful
        ((-0.10, -0.02), -0.06, STRONG, 1, "harmful"),
        # adverse but weak design -> inconclusive
        ((-0.10, -0.02), -0.06, {**STRONG, "min_grade_found": 1}, 1, "inconclusive"),
        # smaller is better (exit risk): a negative interval is beneficial
        ((-0.05, -0.03), -0.04, {**STRONG, "pi_low": -0.06, "pi_high": -0.01}, -1, "works"),
        ((0.03, 0.05), 0.04, STRONG, -1, "harmful"),
    ],
)
def test_verdict_rules(ci, estimate, facts, direction, expected) -> None:
    got = verdict(ci_low=ci[0], ci_high=ci[1], estimate=estimate, direction=direction, **facts)
    assert got == expected


def test_verdict_thresholds_are_parameters() -> None:
    facts = {**STRONG, "n_countries": 2}
    assert verdict(ci_low=0.01, ci_high=0.1, estimate=0.05, min_countries=2, **facts) == "works"
    null = {"min_grade_found": 3, "n_countries": 3, "any_strong_single": False}
    assert verdict(ci_low=-0.04, ci_high=0.04, estimate=0.0, negligible=0.05, **null) == \
        "no evidence of an effect"
    assert verdict(ci_low=-0.04, ci_high=0.04, estimate=0.0, negligible=0.03, **null) == "inconclusive"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": 0}, "direction must be 1 or -1"),
        ({"ci_low": 0.2, "ci_high": 0.1}, "ci_low <= ci_high"),
        ({"ci_low": float("nan")}, "must be finite"),
    ],
)
def test_verdict_rejects_bad_input(kwargs, match) -> None:
    base = {"ci_low": 0.0, "ci_high": 0.1, "estimate": 0.05, **STRONG}
    with pytest.raises(SpecificationError, match=match):
        verdict(**{**base, **kwargs})


def test_outcome_families() -> None:
    assert outcome_family("log_employment") == "growth"
    assert outcome_family("exporter") == "internationalisation"
    assert outcome_family("equity_raised") == "capital-market readiness"
    assert outcome_family("rd_spending") == "innovation"
    assert outcome_family("alive") == "survival"
    assert outcome_family("something_else") == "other"


def _evidence() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    countries = ["AT", "DK", "ES", "FI", "NO", "PL"]
    for c in countries:
        rows.append({"country": c, "instrument": "loan_guarantee", "outcome": "log_employment",
                     "estimate": 0.12 + rng.normal(0, 0.01), "std_error": 0.02, "grade": 3,
                     "cost_per_unit": 9000.0})
        rows.append({"country": c, "instrument": "growth_coaching", "outcome": "log_employment",
                     "estimate": rng.normal(0, 0.003), "std_error": 0.004, "grade": 3,
                     "cost_per_unit": np.nan})
        rows.append({"country": c, "instrument": "innovation_voucher", "outcome": "log_turnover",
                     "estimate": 0.08 + rng.normal(0, 0.01), "std_error": 0.03, "grade": 5,
                     "cost_per_unit": 3000.0})
    return pd.DataFrame(rows)


def test_recommendations_rank_and_words() -> None:
    evidence = _evidence()
    before = evidence.copy(deep=True)
    table = recommendations(evidence).to_frame()
    pd.testing.assert_frame_equal(evidence, before)
    by = table.set_index("instrument")
    assert by.loc["loan_guarantee", "verdict"] == "works"
    assert by.loc["innovation_voucher", "verdict"] == "works"
    assert by.loc["growth_coaching", "verdict"] == "no evidence of an effect"
    # both "works": ranked by grade-weighted value for money, not by how many countries are significant
    assert list(table["instrument"][:2]) == ["innovation_voucher", "loan_guarantee"]
    works = table.loc[table["verdict"] == "works"].set_index("instrument")
    expected = (1e6 / works["cost_per_unit"]) / (1e6 / works["cost_per_unit"]).groupby(
        works["outcome"]).transform("median") * works["min_grade"] / 5
    np.testing.assert_allclose(works["value_score"], expected, rtol=1e-12)
    assert list(table["rank"]) == [1, 2, 3]
    assert set(table["verdict"]) <= set(VERDICTS)
    assert table["wording"].str.len().min() > 20
    # the words say how strong the weakest design behind a "works" is
    assert by.loc["innovation_voucher", "wording"].endswith("with designs of Maryland level 5 or above.")
    assert by.loc["loan_guarantee", "wording"].endswith("with designs of Maryland level 3 or above.")


def test_recommendations_single_country_is_noted() -> None:
    ev = _evidence().query("country == 'AT' and instrument == 'loan_guarantee'")
    row = recommendations(ev).to_frame().iloc[0]
    assert row["verdict"] == "promising"  # interval excludes zero but only one country evaluated it
    assert "one country only" in row["notes"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda f: f.drop(columns=["grade"]), "missing columns \\['grade'\\]"),
        (lambda f: f.assign(std_error=0.0), "std_error must be positive"),
        (lambda f: f.assign(std_error=-0.1), "std_error must be positive"),
    ],
)
def test_recommendations_reject_bad_evidence(change, match) -> None:
    with pytest.raises(DataError, match=match):
        recommendations(change(_evidence()))


def test_heterogeneity_note_when_countries_disagree() -> None:
    rows = [{"country": c, "instrument": "export_support", "outcome": "exporter", "estimate": e,
             "std_error": 0.01, "grade": 3} for c, e in
             zip("ABCDEF", [0.15, -0.1, 0.2, -0.05, 0.12, 0.0], strict=True)]
    row = recommendations(pd.DataFrame(rows)).to_frame().iloc[0]
    assert row["i2"] > 0.75
    assert row["pi_low"] < 0 < row["pi_high"]
    assert "effects vary across countries" in row["notes"]
