"""Cost per additional unit: hand values, discounting, log conversion, unbounded intervals, bad input."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from ipf_eval.errors import SpecificationError
from ipf_eval.evidence import cost_effectiveness

Z95 = 1.959963984540054
BASE: dict[str, Any] = {
    "effect": 0.5,
    "effect_se": 0.1,
    "n_supported": 100,
    "programme_cost": 1_000_000.0,
    "outcome_unit": "job",
}


def test_level_effect_hand_values_delta_and_fieller() -> None:
    d = cost_effectiveness(**BASE)
    assert d.additional_units == pytest.approx(50.0, abs=1e-12)
    assert d.additional_units_se == pytest.approx(10.0, abs=1e-12)
    assert d.cost_per_unit == pytest.approx(20_000.0, abs=1e-9)
    assert d.std_error == pytest.approx(4_000.0, abs=1e-9)  # C se(U) / U^2
    assert (d.ci_low, d.ci_high) == pytest.approx((20_000 - Z95 * 4_000, 20_000 + Z95 * 4_000), abs=1e-6)
    assert not d.unbounded
    assert d.effect_sign == "positive"
    f = cost_effectiveness(**BASE, method="fieller")
    assert (f.ci_low, f.ci_high) == pytest.approx((1e6 / (50 + Z95 * 10), 1e6 / (50 - Z95 * 10)), rel=1e-12)
    assert f.units_per_million == pytest.approx(50.0, abs=1e-12)
    assert f.units_per_million_ci == pytest.approx((50 - Z95 * 10, 50 + Z95 * 10), abs=1e-9)


def test_discounting_over_the_horizon() -> None:
    res = cost_effectiveness(
        **{**BASE, "programme_cost": [600_000.0, 200_000.0, 200_000.0]}, horizon_years=3, discount_rate=0.05
    )
    factor = 1 + 1 / 1.05 + 1 / 1.05**2
    cost = 600_000 + 200_000 / 1.05 + 200_000 / 1.05**2
    assert factor == pytest.approx(2.8594104308390023, abs=1e-12)
    assert res.discounted_cost == pytest.approx(cost, rel=1e-12)
    assert res.additional_units == pytest.approx(0.5 * 100 * factor, rel=1e-12)
    assert res.cost_per_unit == pytest.approx(cost / (0.5 * 100 * factor), rel=1e-12)
    # without discounting three years of effect cost a third as much per unit as one year
    flat = cost_effectiveness(**BASE, horizon_years=3)
    assert flat.cost_per_unit == pytest.approx(20_000.0 / 3, rel=1e-12)


def test_log_effect_converted_with_baseline() -> None:
    res = cost_effectiveness(
        effect=0.05,
        effect_se=0.01,
        n_supported=200,
        programme_cost=2_000_000.0,
        outcome_unit="job",
        effect_scale="log",
        baseline_level=20.0,
    )
    per_firm = (math.exp(0.05) - 1) * 20.0
    assert res.additional_units == pytest.approx(per_firm * 200, rel=1e-12)
    assert res.additional_units_se == pytest.approx(math.exp(0.05) * 20.0 * 0.01 * 200, rel=1e-12)
    assert res.cost_per_unit == pytest.approx(2_000_000.0 / (per_firm * 200), rel=1e-12)


@pytest.mark.parametrize("method", ["delta", "fieller"])
def test_effect_interval_including_zero_gives_an_unbounded_cost_interval(method: Any) -> None:
    res = cost_effectiveness(**{**BASE, "effect": 0.1}, method=method)
    assert res.effect_sign == "not significant"
    assert res.unbounded
    assert res.ci_high == math.inf
    assert res.ci_low == pytest.approx(1e6 / (10 + Z95 * 10), rel=1e-12)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["ci_high"] is None
    assert d["unbounded"] is True
    assert "no finite upper bound" in res.notes[0]
    frame = res.to_frame()
    assert bool(frame.loc[0, "unbounded"]) is True
    # the units-per-million interval stays bounded and contains zero
    lo, hi = res.units_per_million_ci
    assert lo < 0 < hi


def test_negative_effect_is_flagged() -> None:
    res = cost_effectiveness(**{**BASE, "effect": -0.5})
    assert res.effect_sign == "negative"
    assert res.unbounded
    assert res.ci_low == -math.inf
    assert "not meaningful" in res.notes[0]


def test_bootstrap_agrees_with_fieller_and_is_reproducible() -> None:
    f = cost_effectiveness(**BASE, method="fieller")
    b1 = cost_effectiveness(**BASE, method="bootstrap", seed=11)
    b2 = cost_effectiveness(**BASE, method="bootstrap", seed=11)
    assert (b1.ci_low, b1.ci_high) == (b2.ci_low, b2.ci_high)
    # C/U is monotone in U, so percentiles of C/U* equal C over percentiles of U*: Fieller up to MC error
    assert b1.ci_low == pytest.approx(f.ci_low, rel=0.03)
    assert b1.ci_high == pytest.approx(f.ci_high, rel=0.05)
    assert b1.specification.seed == 11
    weak = cost_effectiveness(**{**BASE, "effect": 0.1}, method="bootstrap", seed=3)
    assert weak.unbounded
    assert "of the draws produce no additional units" in weak.notes[0]


def test_result_conventions_and_plot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    res = cost_effectiveness(**BASE)
    frame = res.to_frame()
    assert list(frame.columns[:7]) == [
        "term",
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "ci_low",
        "ci_high",
    ]
    assert list(frame["term"]) == ["cost_per_unit", "additional_units", "units_per_million_euro"]
    assert frame.loc[1, "statistic"] == pytest.approx(5.0, abs=1e-12)
    assert "cost per additional job" in str(res)
    ax = res.plot()
    assert ax.get_xlabel() == "cost per additional unit (EUR)"
    ax2 = cost_effectiveness(**{**BASE, "effect": 0.1}).plot()
    assert ax2 is not None


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"programme_cost": None}, "programme_cost is missing"),
        ({"programme_cost": 0.0}, "programme_cost must be strictly positive"),
        ({"programme_cost": [0.0, 0.0]}, "must add up to a positive amount"),
        ({"programme_cost": "1e6"}, "programme_cost must be a positive number or a non-empty sequence"),
        ({"n_supported": 0}, "n_supported must be a positive integer"),
        ({"n_supported": -5}, "n_supported must be a positive integer"),
        ({"effect_se": 0.0}, "effect_se must be strictly positive"),
        ({"effect_se": -0.1}, "effect_se must be strictly positive"),
        ({"outcome_unit": ""}, "outcome_unit must be a non-empty string"),
        ({"effect_scale": "log"}, "baseline_level is required when effect_scale='log'"),
        ({"horizon_years": 0}, "horizon_years must be an integer of at least 1"),
        ({"discount_rate": -0.01}, "discount_rate must be non-negative"),
        ({"method": "jackknife"}, "method must be one of"),
        ({"method": "bootstrap", "n_boot": 10}, "n_boot must be an integer of at least 100"),
    ],
)
def test_bad_input(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        cost_effectiveness(**{**BASE, **changes})


@pytest.mark.parametrize("method", ["delta", "fieller"])
def test_negative_point_estimate_gives_infinite_not_negative_cost(method: str) -> None:
    res = cost_effectiveness(**{**BASE, "effect": -0.5}, method=method)
    assert res.cost_per_unit == math.inf
    assert res.unbounded
    assert res.ci_high == math.inf
