"""Every number a report shows: counts, euro, percentages, p-values, figures and effects in units."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data._sim_config import OUTCOMES
from ipf_eval.errors import SpecificationError
from ipf_eval.evidence.cost_basis import COST_UNITS
from ipf_eval.pipeline.formatting import (
    MINUS,
    MISSING,
    OUTCOME_DISPLAY,
    OutcomeDisplay,
    count,
    effect_in_units,
    effect_sentence,
    euro,
    number,
    outcome_display,
    p_value,
    percent,
    points,
)

NAN = float("nan")
INF = float("inf")


@pytest.mark.parametrize(("n", "text"), [
    (1471, "1,471"), (1471.0, "1,471"), (np.int64(1471), "1,471"), (np.int32(1471), "1,471"),
    (np.uint64(1471), "1,471"), (np.int8(7), "7"), (np.float64(1471.0), "1,471"), (0, "0"), (0.0, "0"),
    (-3, f"{MINUS}3"), (10**20, "100,000,000,000,000,000,000"), (1470.9999999999998, "1,471"),
])
def test_count_writes_whole_numbers_with_separators(n: object, text: str) -> None:
    assert count(n) == text


@pytest.mark.parametrize("n", [None, NAN, np.nan, pd.NA, np.float32("nan")])
def test_count_missing(n: object) -> None:
    assert count(n) == MISSING == "\u2013"
    assert count(n, missing="n/a") == "n/a"


@pytest.mark.parametrize(("n", "match"), [
    (1471.5, "never fractional"), (0.2, "never fractional"), (INF, "whole number"),
    (True, "must be a number"), ("12", "must be a number"), ([1], "must be a number"),
])
def test_count_rejects(n: object, match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        count(n)


@pytest.mark.parametrize(("x", "text"), [
    (0, "EUR 0"), (0.4, "EUR 0"), (-0.4, "EUR 0"), (0.5, "EUR 1"), (2.5, "EUR 3"), (12_345.5, "EUR 12,346"),
    (99_999.4, "EUR 99,999"), (99_999.5, "EUR 100,000"), (100_000, "EUR 100,000"),
    (123_456, "EUR 123,000"), (123_500, "EUR 124,000"), (9_999_499, "EUR 9,999,000"),
    (9_999_500, "EUR 10.0 million"), (9_999_999, "EUR 10.0 million"), (10_000_000, "EUR 10.0 million"),
    (12_345_678, "EUR 12.3 million"), (999_949_999, "EUR 999.9 million"), (999_950_000, "EUR 1.0 billion"),
    (1.234e9, "EUR 1.2 billion"), (-12_345, f"{MINUS}EUR 12,345"), (-123_456, f"{MINUS}EUR 123,000"),
    (np.float64(24_667.4), "EUR 24,667"), (np.int64(5), "EUR 5"),
])
def test_euro_bands(x: float, text: str) -> None:
    assert euro(x) == text


def test_euro_infinite_and_missing_amounts_get_the_marker() -> None:
    assert [euro(v) for v in (INF, -INF, NAN, None, pd.NA)] == [MISSING] * 5
    assert euro(INF, missing="no additional units") == "no additional units"
    with pytest.raises(SpecificationError, match=r"euro: x must be a number; got True"):
        euro(True)


@pytest.mark.parametrize(("x", "kwargs", "text"), [
    (0.025, {}, "2.5 %"), (0.025, {"decimals": 0}, "3 %"), (0.0125, {}, "1.3 %"),
    (-0.004, {}, f"{MINUS}0.4 %"), (-0.0004, {}, "0.0 %"), (12.5, {}, "1,250.0 %"),
    (1, {"decimals": 2}, "100.00 %"), (0.1234, {"decimals": 2}, "12.34 %"),
])
def test_percent(x: float, kwargs: dict[str, Any], text: str) -> None:
    assert percent(x, **kwargs) == text


@pytest.mark.parametrize(("x", "kwargs", "text"), [
    (0.012, {}, "1.2 percentage points"), (0.01, {"decimals": 0}, "1 percentage point"),
    (0.01, {}, "1.0 percentage points"), (-0.012, {}, f"{MINUS}1.2 percentage points"),
    (-0.01, {"decimals": 0}, f"{MINUS}1 percentage point"), (0.0, {}, "0.0 percentage points"),
])
def test_points(x: float, kwargs: dict[str, Any], text: str) -> None:
    assert points(x, **kwargs) == text


def test_percent_and_points_missing_and_bad_decimals() -> None:
    assert [percent(v) for v in (NAN, INF, None)] == [MISSING] * 3
    assert [points(v) for v in (NAN, -INF, None)] == [MISSING] * 3
    for bad in (-1, 1.5, True):
        with pytest.raises(SpecificationError, match=r"percent: decimals must be an integer >= 0"):
            percent(0.1, decimals=bad)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"points: decimals must be an integer >= 0; got -2"):
        points(0.1, decimals=-2)
    with pytest.raises(SpecificationError, match=r"percent: x must be a number"):
        percent("2.5%")


@pytest.mark.parametrize(("p", "text"), [
    (0.0, "< 0.001"), (0.000999, "< 0.001"), (np.float64(0.0009999999), "< 0.001"), (0.001, "0.001"),
    (0.0014, "0.001"), (0.0424, "0.042"), (0.0425, "0.043"), (0.5, "0.500"), (0.9996, "1.000"), (1, "1.000"),
    (1.0, "1.000"), (1 + 1e-12, "1.000"),
])
def test_p_value(p: float, text: str) -> None:
    assert p_value(p) == text


@pytest.mark.parametrize("p", [-0.01, 1.01, INF, -INF])
def test_p_value_rejects_non_probabilities(p: float) -> None:
    with pytest.raises(SpecificationError, match=r"p_value: p must be a probability in \[0, 1\]"):
        p_value(p)


def test_p_value_missing() -> None:
    assert p_value(NAN) == p_value(None) == MISSING
    assert p_value(None, missing="not computed") == "not computed"


@pytest.mark.parametrize(("x", "kwargs", "text"), [
    (24_667.4, {}, "24,667"), (0.000123, {}, "0.000123"), (1.5, {}, "1.50"), (9.996, {}, "10.0"),
    (999.9999, {}, "1,000"), (123.456, {}, "123"), (0.5, {}, "0.500"), (0.0, {}, "0"), (-0.0, {}, "0"),
    (1471, {}, "1,471"), (np.int64(5), {}, "5"), (-24_667.4, {}, f"{MINUS}24,667"),
    (1e20, {}, "100,000,000,000,000,000,000"), (1e-12, {}, "0.00000000000100"),
    (3.14159, {"digits": 2}, "3.1"), (0.000123456, {"digits": 1}, "0.0001"), (np.float32(2.5), {}, "2.50"),
])
def test_number(x: float, kwargs: dict[str, Any], text: str) -> None:
    assert number(x, **kwargs) == text


def test_number_missing_and_errors() -> None:
    assert [number(v) for v in (INF, -INF, NAN, None, pd.NA)] == [MISSING] * 5
    with pytest.raises(SpecificationError, match=r"number: digits must be an integer >= 1; got 0"):
        number(1.0, digits=0)
    with pytest.raises(SpecificationError, match=r"number: x must be a number; got 'x'"):
        number("x")


def test_no_output_shows_inf_nan_or_scientific_notation() -> None:
    values = [0.0, 1e-300, 1e-12, 0.000123, 0.5, 1.0, 99_999.4, 1e6, 1e15, 1e20, 1e300, INF, -INF, NAN,
              -1e-12, -1e15, np.float64(1e18), None]
    outputs = [f(v) for v in values for f in (euro, percent, points, number)]
    outputs += [count(v) for v in [0, 1, 10**6, np.int64(2**62), 1e15, 1e20, np.uint64(2**63), NAN]]
    outputs += [p_value(v) for v in [0.0, 1e-300, 0.5, 1.0, NAN]]
    for text in outputs:
        assert not any(bad in text.lower() for bad in ("inf", "nan", "e+", "e-")), text
    assert not any(count(v).endswith(".000") or "." in count(v) for v in [1471.0, np.float64(1e15), 10**20])


def test_log_effect_transforms_value_and_interval_ends() -> None:
    b, lo, hi = 0.0245, 0.007, 0.042
    e = effect_in_units(b, lo, hi, scale="log")
    assert (e.value, e.low, e.high) == (math.expm1(b), math.expm1(lo), math.expm1(hi))
    assert e.value == pytest.approx(math.exp(b) - 1, rel=1e-12, abs=0)
    assert e.high == pytest.approx(math.exp(hi) - 1, rel=1e-12, abs=0)
    assert e.text == "+2.5 % (95 % interval +0.7 % to +4.3 %)"
    assert (e.scale, e.unit, e.alpha) == ("log", "", 0.05)


def test_log_interval_is_asymmetric_around_the_value() -> None:
    e = effect_in_units(0.2, 0.2 - 0.15, 0.2 + 0.15, scale="log")
    assert e.high - e.value > e.value - e.low > 0
    assert e.text == "+22.1 % (95 % interval +5.1 % to +41.9 %)"
    neg = effect_in_units(-0.02, -0.05, 0.01, scale="log", alpha=0.1)
    assert neg.text == f"{MINUS}2.0 % (90 % interval {MINUS}4.9 % to +1.0 %)"


@pytest.mark.parametrize(("args", "kwargs", "text"), [
    ((3.14, 0.52, 5.7), {"scale": "level", "unit": "jobs"}, "+3.1 jobs (95 % interval +0.5 to +5.7 jobs)"),
    ((24.6, 3.1, 46.2), {"scale": "level", "unit": "jobs"}, "+25 jobs (95 % interval +3 to +46 jobs)"),
    ((0.35, -0.1, 0.8), {"scale": "level", "unit": "exporters"},
     f"+0.35 exporters (95 % interval {MINUS}0.10 to +0.80 exporters)"),
    ((24_667.4, 3_120, 46_214), {"scale": "level", "unit": "euro"},
     "+EUR 24,667 (95 % interval +EUR 3,120 to +EUR 46,214)"),
    ((-1_200, -150_000, 2e7), {"scale": "level", "unit": "EUR"},
     f"{MINUS}EUR 1,200 (95 % interval {MINUS}EUR 150,000 to +EUR 20.0 million)"),
    ((5.0, 1.0, 9.0), {"scale": "level"}, "+5.0 (95 % interval +1.0 to +9.0)"),
    ((0.042, 0.01, 0.074), {"scale": "share"},
     "+4.2 percentage points (95 % interval +1.0 to +7.4 percentage points)"),
    ((0.012, 0.002, 0.022), {"scale": "share", "alpha": 0.01},
     "+1.2 percentage points (99 % interval +0.2 to +2.2 percentage points)"),
    ((0.02, NAN, NAN), {"scale": "log"}, "+2.0 % (interval not available)"),
    ((0.02, None, None), {"scale": "share"}, "+2.0 percentage points (interval not available)"),
    ((0.02, 0.01, 0.03), {"scale": "log", "alpha": 0.005}, "+2.0 % (99.5 % interval +1.0 % to +3.0 %)"),
])
def test_effect_texts(args: tuple[float, float, float], kwargs: dict[str, object], text: str) -> None:
    assert effect_in_units(*args, **kwargs).text == text  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((0.1, 0.0, 0.2), {"scale": "logs"}, r"scale must be one of \['log', 'level', 'share'\]; got 'logs'"),
    ((NAN, 0.0, 0.2), {"scale": "log"}, r"estimate must be a finite number; got nan"),
    ((None, 0.0, 0.2), {"scale": "log"}, r"estimate must be a finite number; got None"),
    ((INF, 0.0, 0.2), {"scale": "level"}, r"estimate must be a finite number"),
    ((0.1, 0.3, 0.2), {"scale": "log"}, r"ci_low must not exceed ci_high; got ci_low=0.3 > ci_high=0.2"),
    ((0.1, NAN, 0.2), {"scale": "log"}, r"both finite or both missing"),
    ((0.1, 0.0, INF), {"scale": "share"}, r"both finite or both missing"),
    ((0.1, 0.0, 0.2), {"scale": "log", "alpha": 0.0}, r"alpha must be in \(0, 1\)"),
    ((0.1, 0.0, 0.2), {"scale": "log", "alpha": 5}, r"alpha must be in \(0, 1\)"),
    ((800.0, 700.0, 900.0), {"scale": "log"}, r"too large for log points"),
    (("0.1", 0.0, 0.2), {"scale": "log"}, r"estimate must be a number"),
])
def test_effect_in_units_rejects(args: tuple[object, ...], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        effect_in_units(*args, **kwargs)  # type: ignore[arg-type]


def test_effect_is_frozen() -> None:
    e = effect_in_units(0.1, 0.0, 0.2, scale="share")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.value = 0.3  # type: ignore[misc]


def test_effect_sentences() -> None:
    up = effect_in_units(0.0245, 0.007, 0.042, scale="log")
    assert effect_sentence("Supported firms", "employment", up, significant=True) == (
        "Supported firms: employment is 2.5 % higher than without the support (95 % interval +0.7 % to "
        "+4.3 %); the effect is distinguishable from zero.")
    down = effect_in_units(-0.012, -0.03, 0.006, scale="share")
    assert effect_sentence("Supported firms", "the share of firms still active", down, significant=False,
                           horizon="three years after support") == (
        "Supported firms: the share of firms still active is 1.2 percentage points lower three years after "
        f"support than without the support (95 % interval {MINUS}3.0 to +0.6 percentage points); the effect "
        "is not distinguishable from zero.")
    flat = effect_in_units(0.0001, -0.02, 0.02, scale="log")
    assert "employment is no different (0.0 %) than" in effect_sentence("Firms", "employment", flat,
                                                                         significant=False)
    eur = effect_in_units(24_667.4, 3_120, 46_214, scale="level", unit="euro")
    sentence = effect_sentence("Supported firms", "R&D spending", eur,
                               significant=np.bool_(True))  # type: ignore[arg-type]
    assert "R&D spending is EUR 24,667 higher than without the support (95 % interval +EUR 3,120" in sentence


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"subject": " "}, r"subject must be a non-empty string; got ' '"),
    ({"outcome_label": ""}, r"outcome_label must be a non-empty string"),
    ({"significant": "yes"}, r"significant must be True or False; got 'yes'"),
])
def test_effect_sentence_rejects(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"subject": "Supported firms", "outcome_label": "employment",
                               "significant": True, "effect": effect_in_units(0.1, 0.0, 0.2, scale="log")}
    args |= kwargs
    with pytest.raises(SpecificationError, match=match):
        effect_sentence(**args)  # type: ignore[arg-type]


def test_outcome_display_covers_the_simulated_outcomes_and_agrees_with_the_cost_basis() -> None:
    assert set(OUTCOMES) <= set(OUTCOME_DISPLAY)
    for name, cost in COST_UNITS.items():
        shown = outcome_display(name)
        assert (shown.scale == "log") == (cost.scale == "log"), name
        if cost.unit.startswith("euro"):
            assert (shown.scale, shown.unit) == ("level", "euro"), name
        assert shown.cost_unit == cost.unit, name  # the reports name the unit the evaluation costs in
    assert {n for n, d in OUTCOME_DISPLAY.items() if d.cost_unit} == set(COST_UNITS)
    assert outcome_display("log_employment") == OutcomeDisplay("employment", "log", "", "job")
    assert outcome_display("exporter").scale == "share"
    with pytest.raises(TypeError):
        OUTCOME_DISPLAY["new"] = OutcomeDisplay("x", "level")  # type: ignore[index]


def test_outcome_display_falls_back_to_the_name_in_words() -> None:
    assert outcome_display("log_sales") == OutcomeDisplay("log sales", "level", "")
    assert outcome_display("scrap") == OutcomeDisplay("scrap", "level")
    with pytest.raises(SpecificationError, match=r"outcome_display: name must be a non-empty outcome name"):
        outcome_display("")
