"""Input, output and survey-based additionality: hand-computed values, interval properties, labels."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from ipf_eval.errors import SpecificationError
from ipf_eval.evidence import (
    SURVEY_LABEL,
    input_additionality,
    output_additionality,
    survey_additionality,
)

Z95 = 1.959963984540054


@pytest.mark.parametrize(
    ("effect", "effect_se", "ratio", "label"),
    [
        (150_000.0, 30_000.0, 1.5, "inconclusive"),  # [0.912, 2.088]
        (200_000.0, 20_000.0, 2.0, "crowding in"),  # [1.608, 2.392]
        (50_000.0, 10_000.0, 0.5, "crowding out"),  # [0.304, 0.696]
        (100_000.0, 5_000.0, 1.0, "additive"),  # [0.902, 1.098] inside 1 +/- 0.25
        (-20_000.0, 10_000.0, -0.2, "crowding out"),  # more than full crowding out
    ],
)
def test_input_additionality_hand_values_and_labels(
    effect: float, effect_se: float, ratio: float, label: str
) -> None:
    res = input_additionality(effect=effect, effect_se=effect_se, subsidy_per_firm=100_000.0)
    se = effect_se / 100_000.0
    assert res.ratio == pytest.approx(ratio, abs=1e-12)
    assert res.std_error == pytest.approx(se, abs=1e-12)
    assert res.ci_low == pytest.approx(ratio - Z95 * se, abs=1e-9)
    assert res.ci_high == pytest.approx(ratio + Z95 * se, abs=1e-9)
    assert res.private_leverage == pytest.approx(ratio - 1, abs=1e-12)
    assert res.label == label
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(ratio - 1) / se), abs=1e-12)


def test_private_rd_outcome_shifts_the_ratio_by_one() -> None:
    total = input_additionality(effect=150_000.0, effect_se=30_000.0, subsidy_per_firm=100_000.0)
    private = input_additionality(
        effect=50_000.0, effect_se=30_000.0, subsidy_per_firm=100_000.0, outcome="private_rd"
    )
    assert private.ratio == pytest.approx(total.ratio, abs=1e-12)
    assert private.ci_low == pytest.approx(total.ci_low, abs=1e-12)
    frame = private.to_frame()
    assert list(frame["term"]) == ["additionality_ratio", "private_leverage"]
    assert frame.loc[1, "estimate"] == pytest.approx(0.5, abs=1e-12)
    assert frame.loc[1, "ci_low"] == pytest.approx(total.ci_low - 1, abs=1e-12)
    assert set(frame["basis"]) == {"counterfactual"}


def test_delta_method_with_an_estimated_subsidy() -> None:
    res = input_additionality(effect=120.0, effect_se=30.0, subsidy_per_firm=100.0, subsidy_se=10.0)
    expected = math.sqrt(30.0**2 / 100.0**2 + 120.0**2 * 10.0**2 / 100.0**4)  # = sqrt(0.09 + 0.0144)
    assert res.std_error == pytest.approx(expected, rel=1e-12)
    assert res.std_error == pytest.approx(0.323110, abs=1e-6)


def test_fieller_equals_delta_when_subsidy_is_known() -> None:
    d = input_additionality(effect=120.0, effect_se=30.0, subsidy_per_firm=100.0)
    f = input_additionality(effect=120.0, effect_se=30.0, subsidy_per_firm=100.0, method="fieller")
    assert (f.ci_low, f.ci_high) == pytest.approx((d.ci_low, d.ci_high), abs=1e-12)
    assert not f.unbounded


def test_fieller_bounds_solve_the_defining_equation() -> None:
    e, se_e, s, se_s = 120.0, 30.0, 100.0, 20.0
    f = input_additionality(effect=e, effect_se=se_e, subsidy_per_firm=s, subsidy_se=se_s, method="fieller")
    for q in (f.ci_low, f.ci_high):
        assert abs(e - q * s) == pytest.approx(Z95 * math.sqrt(se_e**2 + q**2 * se_s**2), rel=1e-9)
    assert f.ci_high - f.ratio > f.ratio - f.ci_low  # skewed to the right, unlike the delta interval
    # an insignificant denominator makes the Fieller set unbounded
    u = input_additionality(effect=e, effect_se=se_e, subsidy_per_firm=s, subsidy_se=60.0, method="fieller")
    assert u.unbounded
    assert (u.ci_low, u.ci_high) == (-math.inf, math.inf)
    assert u.label == "inconclusive"
    assert u.to_dict()["ci_high"] is None


def test_fieller_coverage_by_simulation() -> None:
    rng = np.random.default_rng(20240611)
    true_e, true_s, se_e, se_s = 150.0, 100.0, 30.0, 15.0
    hits = 0
    reps = 1500
    for e, s in zip(rng.normal(true_e, se_e, reps), rng.normal(true_s, se_s, reps), strict=True):
        r = input_additionality(
            effect=float(e),
            effect_se=se_e,
            subsidy_per_firm=float(max(s, 1.0)),
            subsidy_se=se_s,
            method="fieller",
        )
        hits += r.ci_low <= true_e / true_s <= r.ci_high
    # Monte Carlo standard error of a 95% coverage with 1500 draws is 0.0056
    assert hits / reps == pytest.approx(0.95, abs=0.02)


def test_output_additionality_log_scale() -> None:
    res = output_additionality(effect=0.1, effect_se=0.02, baseline_level=20.0, outcome="employment")
    pct = 100 * (math.exp(0.1) - 1)
    pct_se = 100 * math.exp(0.1) * 0.02
    assert res.percent == pytest.approx(10.517091807564771, abs=1e-12)
    assert res.percent_se == pytest.approx(pct_se, abs=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx((pct - Z95 * pct_se, pct + Z95 * pct_se), abs=1e-9)
    assert res.level == pytest.approx(pct / 100 * 20.0, abs=1e-12)
    assert res.label == "positive"
    tr = output_additionality(effect=0.1, effect_se=0.02, ci_method="transform")
    assert tr.ci_low == pytest.approx(100 * (math.exp(0.1 - Z95 * 0.02) - 1), abs=1e-9)
    assert tr.ci_high == pytest.approx(100 * (math.exp(0.1 + Z95 * 0.02) - 1), abs=1e-9)
    assert math.isnan(tr.level)
    assert list(tr.to_frame()["term"]) == ["percent_effect"]
    assert list(res.to_frame()["term"]) == ["percent_effect", "level_effect_per_firm"]


def test_output_additionality_level_scale_and_labels() -> None:
    res = output_additionality(effect=2.0, effect_se=0.5, scale="level", baseline_level=40.0)
    assert res.percent == pytest.approx(5.0, abs=1e-12)
    assert res.percent_se == pytest.approx(1.25, abs=1e-12)
    assert res.level == 2.0
    assert output_additionality(effect=-0.1, effect_se=0.01).label == "negative"
    assert output_additionality(effect=0.01, effect_se=0.01).label == "not significant"
    d = json.loads(json.dumps(output_additionality(effect=0.01, effect_se=0.01).to_dict()))
    assert d["level"] is None


def test_survey_additionality_hand_values_and_label() -> None:
    res = survey_additionality(
        n_respondents=100,
        n_full_deadweight=20,
        n_partial_deadweight=30,
        displacement=0.2,
        displacement_se=0.05,
    )
    assert res.deadweight == pytest.approx(0.35, abs=1e-12)
    assert res.std_errors["deadweight"] == pytest.approx(math.sqrt((0.275 - 0.35**2) / 100), abs=1e-12)
    assert res.net_additionality == pytest.approx(0.52, abs=1e-12)
    assert res.std_errors["net_additionality"] == pytest.approx(
        math.sqrt(0.8**2 * 0.001525 + 0.65**2 * 0.05**2), abs=1e-12
    )
    frame = res.to_frame()
    assert set(frame["basis"]) == {SURVEY_LABEL}
    assert SURVEY_LABEL == "survey-based (self-reported), not counterfactual"
    assert res.to_dict()["basis"] == SURVEY_LABEL
    assert "Self-reported" in str(res)
    lo, hi = res.intervals["deadweight"]
    assert 0 <= lo < 0.35 < hi <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"effect_se": 0.0}, "effect_se must be strictly positive"),
        ({"effect_se": -1.0}, "effect_se must be strictly positive"),
        ({"subsidy_per_firm": 0.0}, "subsidy_per_firm must be strictly positive"),
        ({"subsidy_se": -1.0}, "subsidy_se must be non-negative"),
        ({"alpha": 1.5}, r"alpha of input_additionality\(\) must be a number strictly between 0 and 1"),
        ({"method": "bootstrap"}, "method must be one of"),
        ({"outcome": "rd"}, "outcome must be one of"),
        ({"effect": float("inf")}, "effect must be a finite number"),
    ],
)
def test_input_additionality_bad_input(kwargs: dict[str, Any], match: str) -> None:
    args = {"effect": 1.0, "effect_se": 1.0, "subsidy_per_firm": 1.0, **kwargs}
    with pytest.raises(SpecificationError, match=match):
        input_additionality(**args)


def test_output_and_survey_bad_input() -> None:
    with pytest.raises(SpecificationError, match="baseline_level is required when scale='level'"):
        output_additionality(effect=1.0, effect_se=1.0, scale="level")
    with pytest.raises(SpecificationError, match="effect_se must be strictly positive"):
        output_additionality(effect=1.0, effect_se=0.0)
    with pytest.raises(SpecificationError, match="baseline_level must be strictly positive"):
        output_additionality(effect=1.0, effect_se=1.0, baseline_level=-3.0)
    with pytest.raises(SpecificationError, match="exceeds n_respondents = 10"):
        survey_additionality(n_respondents=10, n_full_deadweight=8, n_partial_deadweight=5)
    with pytest.raises(SpecificationError, match="n_full_deadweight must be a non-negative integer"):
        survey_additionality(n_respondents=10, n_full_deadweight=-1)
    with pytest.raises(SpecificationError, match="n_respondents must be at least 1"):
        survey_additionality(n_respondents=0, n_full_deadweight=0)
    with pytest.raises(SpecificationError, match="displacement must lie in \\[0, 1\\]"):
        survey_additionality(n_respondents=10, n_full_deadweight=1, displacement=1.5)


def test_plots_return_axes() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _fig, ax = plt.subplots()
    res = input_additionality(effect=150.0, effect_se=30.0, subsidy_per_firm=100.0)
    assert res.plot(ax=ax) is ax
    assert ax.get_yticklabels()[0].get_text() == "additionality_ratio"
    unbounded = input_additionality(
        effect=150.0, effect_se=30.0, subsidy_per_firm=100.0, subsidy_se=80.0, method="fieller"
    )
    assert unbounded.plot() is not None
    out = output_additionality(effect=0.1, effect_se=0.02)
    assert out.plot() is not None
    assert "Input additionality" in str(res)
    assert "Output additionality" in out.summary().as_html()
    plt.close("all")
