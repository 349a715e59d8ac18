"""honest_did and relative_magnitudes_ci: HonestDiD relative magnitudes (Rambachan and Roth 2023).

* R HonestDiD reproduced (tests/reference/honestdid): ``lb``/``ub`` of
  ``createSensitivityResults_relativeMagnitudes`` (C-LF) on the Benzarti-Carloni event study and on an
  ipf_eval one, the least-favourable critical values and R's normal draws.
* The closed-form dual vertices give the linear programme's value (scipy's HiGHS) to 1e-10.
* A large effect without pre-trends survives large Mbar; a built-in pre-trend widens the sets and breaks
  down early; the sets are nested in Mbar and contain the estimate; the breakdown search brackets the
  switch.
* Every raise; a real att_gt fit end to end (table, summary, JSON, plot, frozen, speed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from ipf_eval.data import simulate_firms
from ipf_eval.did import AggregateResult, HonestDidResult, aggregate, att_gt, honest_did
from ipf_eval.did.honest import _r_rnorm, _RelativeMagnitudes, relative_magnitudes_ci
from ipf_eval.errors import EstimationError, SpecificationError

matplotlib.use("Agg")

REF = json.loads((Path(__file__).parent / "reference" / "honestdid" / "honestdid_reference.json").read_text())
CASES = [k for k in REF if k not in ("lf_cv", "r_rnorm")]
COLS: dict[str, Any] = {"yname": "y", "tname": "t", "idname": "firm", "gname": "g"}


def _ci(case: dict[str, Any], mbar: float, **kw: Any) -> tuple[float, float]:
    grid = case["grid"] or {}
    return relative_magnitudes_ci(case["betahat"], case["sigma"], num_pre=case["num_pre"],
                                  num_post=case["num_post"], mbar=mbar, l_vec=case["l_vec"],
                                  grid_points=grid.get("points", 1000), grid_lb=grid.get("lb"),
                                  grid_ub=grid.get("ub"), **kw)


# --- (a) R HonestDiD ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_reproduces_r_honestdid(name: str) -> None:
    case = REF[name]
    got = np.array([_ci(case, m, extend_grid=False) for m in case["mbar"]])
    np.testing.assert_allclose(got[:, 0], case["lb"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], case["ub"], rtol=0, atol=1e-6)
    # where R's set is not cut by its grid, extending the grid changes nothing; where it is, it only adds
    grid = case["grid"] or {}
    sd = np.sqrt(np.array(case["l_vec"]) @ np.array(case["sigma"])[case["num_pre"]:, case["num_pre"]:]
                 @ np.array(case["l_vec"]))
    lb_end, ub_end = grid.get("lb", -20 * sd), grid.get("ub", 20 * sd)
    for m, lo, hi in zip(case["mbar"], case["lb"], case["ub"], strict=True):
        ext = _ci(case, m)
        if lo > lb_end + 1e-12 and hi < ub_end - 1e-12:
            assert ext == pytest.approx((lo, hi), abs=1e-12)
        else:
            assert ext[0] <= lo + 1e-12
            assert ext[1] >= hi - 1e-12


def test_original_interval_matches_r() -> None:
    for name in CASES:
        case = REF[name]
        rm = _RelativeMagnitudes(case["betahat"], case["sigma"], case["num_pre"], case["num_post"],
                                 case["l_vec"], 0.05, 0)
        half = 1.959963984540054 * rm.sd_theta
        assert rm.estimate - half == pytest.approx(case["original_lb"][0], abs=1e-12)
        assert rm.estimate + half == pytest.approx(case["original_ub"][0], abs=1e-12)


def test_least_favourable_critical_values_match_r() -> None:
    for row in REF["lf_cv"]:
        case = REF[row["case"]]
        rm = _RelativeMagnitudes(case["betahat"], case["sigma"], case["num_pre"], case["num_post"],
                                 case["l_vec"], 0.05, 0)
        j = row["s"] + case["num_pre"] - 1  # polyhedra come by pre-period change, then + / -
        got = rm.polyhedra(row["mbar"])[2 * j + (0 if row["max_positive"] else 1)][3]
        # sigma_Y is singular (rank num_post + 1 of 2 num_post): the null-space part of its square root,
        # ~1e-10, is LAPACK's choice, so the draws and their quantile agree to ~1e-8, not to the last bit
        assert got == pytest.approx(row["lf_cv"], rel=1e-7)


def test_r_normal_draws() -> None:
    for seed in (0, 2024):
        np.testing.assert_allclose(_r_rnorm(6, seed), REF["r_rnorm"][f"seed_{seed}"], rtol=1e-14)


def test_vertices_give_the_linear_programme_value() -> None:
    """eta(theta) = min_nu max_j (y_j - X_j nu) / sd_j by HiGHS is the max over the closed-form vertices."""
    rng = np.random.default_rng(3)
    for num_pre, num_post in ((2, 3), (4, 5), (1, 1)):
        n = num_pre + num_post
        root = rng.normal(size=(n, n)) * 0.05
        l_vec = rng.uniform(-0.5, 1.0, num_post)
        rm = _RelativeMagnitudes(rng.normal(0, 0.1, n), root @ root.T + 1e-3 * np.eye(n), num_pre, num_post,
                                 l_vec, 0.05, 0)
        gamma = np.eye(num_post)
        gamma[0] = l_vec  # first row l': tau = inv(gamma) @ (theta, nu)
        inv = np.linalg.inv(gamma)
        for poly, v in zip(rm.polyhedra(0.7), (s * 0.7 * r for r in rm.pre_diff for s in (1.0, -1.0)),
                           strict=True):
            a = np.vstack([rm.post_diff - v, -rm.post_diff - v])
            sd = np.sqrt(np.diag(a @ rm.cov @ a.T))
            x = a[:, num_pre:] @ inv[:, 1:]
            for theta in (-0.3, 0.05, 0.4):
                y = a @ rm.beta - a[:, num_pre:] @ inv[:, 0] * theta
                res = linprog(np.r_[1.0, np.zeros(x.shape[1])], A_ub=-np.column_stack([sd, x]), b_ub=-y,
                              bounds=[(None, None)] * (1 + x.shape[1]), method="highs")
                assert res.status == 0
                assert np.max(poly[0] - poly[1] * theta) == pytest.approx(res.fun, abs=1e-10)


# --- (b), (c) behaviour on simulated event studies -------------------------------------------------

def _panel(seed: int, effect: float, pretrend: float, n: int = 1500) -> pd.DataFrame:
    """Ten periods; cohorts first supported in 6, 7, 8 and never; treated firms drift by ``pretrend``."""
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 6, 7, 8], size=n, p=[0.4, 0.2, 0.2, 0.2])
    t = np.arange(1, 11)
    firm, period = np.repeat(np.arange(n), t.size), np.tile(t, n)
    gg = np.repeat(g, t.size)
    treated = (gg > 0) & (period >= gg)
    y = (np.repeat(rng.normal(size=n), t.size) + 0.1 * period + effect * treated
         + pretrend * (gg > 0) * period + rng.normal(0, 0.3, firm.size))
    return pd.DataFrame({"firm": firm, "t": period, "g": gg, "y": y})


def _event_study(data: pd.DataFrame, **kw: Any) -> AggregateResult:
    fit = att_gt(data, **COLS, base_period=kw.pop("base_period", "universal"), bootstrap=False)
    return aggregate(fit, kind=kw.pop("kind", "dynamic"), **{"min_e": -4, "max_e": 2, **kw})


@pytest.fixture(scope="module")
def clean() -> AggregateResult:
    return _event_study(_panel(1, effect=1.0, pretrend=0.0))


@pytest.fixture(scope="module")
def drifting() -> AggregateResult:
    return _event_study(_panel(1, effect=0.0, pretrend=0.08))  # no effect: the "effect" is the trend


def test_large_effect_without_pretrends_is_robust(clean: AggregateResult) -> None:
    res = honest_did(clean)
    assert res.breakdown_mbar > 5.0
    assert np.all(res.ci_low > 0)
    assert res.pre_event_times.tolist() == [-4, -3, -2]
    assert res.post_event_times.tolist() == [0, 1, 2]


def test_pretrend_widens_the_sets_and_breaks_down_early(clean: AggregateResult,
                                                        drifting: AggregateResult) -> None:
    def widening(res: HonestDidResult) -> float:  # robust width at Mbar = 1 over the original width
        return float((res.ci_high[0] - res.ci_low[0]) / (res.original_ci[1] - res.original_ci[0]))

    robust, fragile = honest_did(clean, mbar=[1.0]), honest_did(drifting, mbar=[1.0])
    assert widening(fragile) > 2 * widening(robust)
    assert fragile.original_ci[0] > 0  # significant without the sensitivity analysis ...
    assert fragile.breakdown_mbar < 1.0 < robust.breakdown_mbar  # ... but not robust to it


def test_sets_nested_in_mbar_and_contain_the_estimate(drifting: AggregateResult) -> None:
    res = honest_did(drifting, mbar=np.linspace(0.0, 3.0, 13).tolist())
    assert np.all(np.diff(res.ci_low) <= 1e-12)
    assert np.all(np.diff(res.ci_high) >= -1e-12)
    assert res.ci_low[0] < res.estimate < res.ci_high[0]
    lo, hi = res.original_ci  # at Mbar = 0 the robust set is close to the usual interval
    assert abs(res.ci_low[0] - lo) < 0.15 * (hi - lo)
    assert abs(res.ci_high[0] - hi) < 0.15 * (hi - lo)


def test_breakdown_brackets_the_switch(drifting: AggregateResult) -> None:
    res = honest_did(drifting, mbar=[0.5], breakdown_tol=0.01)
    assert res.breakdown_mbar > 0
    assert not res.breakdown_capped
    b = res.breakdown_mbar
    check = honest_did(drifting, mbar=[b, b + res.breakdown_tol])
    assert check.ci_low[0] > 0 or check.ci_high[0] < 0  # excludes zero at the breakdown value ...
    assert check.ci_low[1] <= 0 <= check.ci_high[1]  # ... and no longer one tolerance above it


def test_breakdown_zero_and_capped(clean: AggregateResult) -> None:
    capped = honest_did(clean, breakdown_cap=2.0)
    assert capped.breakdown_capped
    assert capped.breakdown_mbar == 2.0
    assert ">= 2 (the search cap)" in capped.summary().as_text()
    null = honest_did(_event_study(_panel(4, effect=0.0, pretrend=0.0, n=600)), mbar=[0.0])
    assert null.ci_low[0] <= 0 <= null.ci_high[0]  # no effect: zero inside already at Mbar = 0
    assert null.breakdown_mbar == 0.0
    assert not null.breakdown_capped


def test_scaling_the_target_scales_the_set() -> None:
    case = REF["ipf_sim_average_post"]
    base = _ci(case, 1.0)
    scaled = relative_magnitudes_ci(case["betahat"], case["sigma"], num_pre=4, num_post=6, mbar=1.0,
                                    l_vec=3.0 * np.array(case["l_vec"]))
    np.testing.assert_allclose(scaled, 3.0 * np.array(base), rtol=1e-10)


def test_large_t_statistic_is_on_the_grid() -> None:
    """R's grid (+-20 se around zero) misses an estimate 40 se away; the extended grid does not."""
    beta, sigma = np.r_[0.0, 0.001, 0.4, 0.4], np.eye(4) * 1e-4
    lo, hi = relative_magnitudes_ci(beta, sigma, num_pre=2, num_post=2, mbar=0.5)
    assert lo < 0.4 < hi
    assert np.isfinite(hi)
    assert np.isnan(relative_magnitudes_ci(beta, sigma, num_pre=2, num_post=2, mbar=0.5,
                                           extend_grid=False)[0])


# --- (d) errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mbar": [-0.5]}, "mbar must be finite and >= 0"),
    ({"mbar": [np.inf]}, "mbar must be finite"),
    ({"mbar": np.nan}, "mbar must be finite"),
    ({"mbar": ["one"]}, "mbar must be finite"),
    ({"mbar": []}, "mbar must hold at least one value"),
    ({"l_vec": [1.0, 0.0]}, "l_vec must hold one weight per post-reference event time"),
    ({"breakdown_cap": np.inf}, "breakdown_cap must be finite"),
    ({"breakdown_tol": 0.0}, "breakdown_tol in"),
    ({"grid_points": 1}, "grid_points must be an integer >= 2"),
    ({"alpha": 1.5}, r"alpha must be in \(0, 1\)"),
])
def test_honest_did_argument_errors(clean: AggregateResult, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        honest_did(clean, **kwargs)


def test_honest_did_event_study_errors(clean: AggregateResult) -> None:
    data = _panel(2, effect=1.0, pretrend=0.0, n=600)
    with pytest.raises(SpecificationError, match=r"kind='dynamic'\); got kind='group'"):
        honest_did(_event_study(data, kind="group", min_e=None, max_e=None))
    with pytest.raises(SpecificationError, match="got AttGtResult"):
        honest_did(clean.source)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="base_period='universal'; got base_period='varying'"):
        honest_did(_event_study(data, base_period="varying"))
    with pytest.raises(SpecificationError, match="no pre-period besides the reference e = -1"):
        honest_did(_event_study(data, min_e=-1))
    for keep, match in ((clean.labels < 0, "no post-support period e >= 0"),
                        (clean.labels != -3, "consecutive event times")):
        cut = dataclasses.replace(clean, labels=clean.labels[keep], estimates=clean.estimates[keep],
                                  std_error=clean.std_error[keep])  # aggregate itself never returns these
        with pytest.raises(SpecificationError, match=match):
            honest_did(cut)
    bad = dataclasses.replace(clean, estimates=np.where(clean.labels == 1, np.nan, clean.estimates))
    with pytest.raises(EstimationError, match="non-finite estimate or a zero variance"):
        honest_did(bad)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"num_pre": 0}, SpecificationError, "num_pre must be an integer >= 1"),
    ({"betahat": [0.1, 0.2]}, SpecificationError, "betahat must hold num_pre \\+ num_post = 3"),
    ({"sigma": np.eye(2)}, SpecificationError, "sigma must be a finite symmetric 3 x 3"),
    ({"sigma": np.triu(np.ones((3, 3)))}, SpecificationError, "symmetric"),
    ({"l_vec": [0.0, 0.0]}, SpecificationError, "l_vec must hold num_post = 2 finite weights, not all 0"),
    ({"mbar": -1.0}, SpecificationError, "mbar must be finite and >= 0"),
    ({"alpha": 0.0}, SpecificationError, "alpha must be in"),
    ({"grid_points": 1}, SpecificationError, "grid_points must be an integer >= 2"),
    ({"grid_lb": 1.0, "grid_ub": 0.0}, SpecificationError, "grid_lb < grid_ub"),
    ({"sigma": np.array([[0.0, 0, 0], [0, 1, 1], [0, 1, 1]])}, EstimationError, "has zero variance"),
    ({"sigma": np.diag([1.0, 1.0, 0.0]), "l_vec": [0.0, 1.0]}, EstimationError, "l'sigma_post l is zero"),
])
def test_relative_magnitudes_ci_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {"betahat": [0.0, 0.1, 0.1], "sigma": np.eye(3) * 0.01, "num_pre": 1,
                            "num_post": 2, "mbar": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        relative_magnitudes_ci(**args)


# --- (e) a real fit ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loan_guarantee() -> AggregateResult:
    sample = simulate_firms(seed=7, n_firms=4000).evaluation_sample("AT", "loan_guarantee")
    fit = att_gt(sample, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
                 control_group="not_yet_treated", base_period="universal", bootstrap=False)
    return aggregate(fit, kind="dynamic", min_e=-5, max_e=5)


def test_real_fit_end_to_end(loan_guarantee: AggregateResult) -> None:
    before = loan_guarantee.estimates.copy()
    res = honest_did(loan_guarantee)  # its time is measured in benchmarks/, not asserted here
    assert isinstance(res, HonestDidResult)
    assert res.pre_event_times.tolist() == [-5, -4, -3, -2]
    assert res.post_event_times.tolist() == list(range(6))
    np.testing.assert_allclose(res.l_vec, np.full(6, 1 / 6))
    np.testing.assert_array_equal(loan_guarantee.estimates, before)
    # the wrapper is the low-level function on the event study's coefficients and covariance
    for m, lo, hi in zip(res.mbar, res.ci_low, res.ci_high, strict=True):
        assert (lo, hi) == relative_magnitudes_ci(res.betahat, res.sigma, num_pre=4, num_post=6, mbar=m,
                                                  l_vec=res.l_vec)
    assert res.estimate == pytest.approx(float(np.mean(loan_guarantee.estimates[5:])), rel=1e-12)
    frame = res.to_frame()
    assert frame.columns[:7].tolist() == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                          "ci_high"]
    assert frame["method"].tolist() == ["original"] + ["C-LF"] * 4
    np.testing.assert_allclose(frame["mbar"].iloc[1:], [0.5, 1.0, 1.5, 2.0])
    assert (frame.loc[0, "ci_low"], frame.loc[0, "ci_high"]) == pytest.approx(res.original_ci)
    assert "Breakdown Mbar" in res.summary().as_text()
    assert "<table" in res._repr_html_()
    assert "\\begin{table}" in res.summary().as_latex()
    blob = json.dumps(res.to_dict(), allow_nan=False)
    assert json.loads(blob)["specification"]["arguments"]["aggregate"]["kind"] == "dynamic"
    ax = res.plot()
    assert ax.get_xlabel().startswith("Mbar")
    assert res.plot(ax=ax, color="tab:green") is ax
    with pytest.raises(SpecificationError, match="linewidth"):  # refused, not silently ignored
        res.plot(ax=ax, linewidth=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.breakdown_mbar = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        res.ci_low[0] = 0.0
