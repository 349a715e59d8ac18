"""Tests of ipf_eval.did.sun_abraham.event_study: CS equivalence, statsmodels dummies, recovery, coverage."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.did.sun_abraham import event_study
from ipf_eval.errors import DataWarning, EstimationError, EstimationWarning, SpecificationError

matplotlib.use("Agg")


def simulate(seed: int, *, n_units: int = 300, n_periods: int = 8, shares: dict[int, float] | None = None,
             slope: float = 0.5, noise: float = 1.0, drop_share: float = 0.0) -> pd.DataFrame:
    """Staggered panel: effect 0.5 + slope * e at event time e >= 0, common trend, firm effects."""
    rng = np.random.default_rng(seed)
    shares = shares or {0: 0.3, 3: 0.25, 5: 0.25, 6: 0.2}
    g_unit = rng.choice(np.array(list(shares)), size=n_units, p=list(shares.values()))
    ids = np.repeat(np.arange(1, n_units + 1), n_periods)
    t = np.tile(np.arange(1, n_periods + 1), n_units)
    g = g_unit[ids - 1]
    tau = np.where((g > 0) & (t >= g), 0.5 + slope * (t - g), 0.0)
    x = rng.normal(size=ids.size)
    y = rng.normal(size=n_units)[ids - 1] + 0.3 * t + 0.4 * x + tau + noise * rng.normal(size=ids.size)
    frame = pd.DataFrame({"firm": ids, "year": t, "g": g, "y": y, "x": x, "tau": tau})
    if drop_share:
        frame = frame.loc[rng.random(len(frame)) > drop_share].reset_index(drop=True)
    return frame


def cs_universal_by_hand(frame: pd.DataFrame, y: str, t: str, g: str) -> tuple[pd.Series, pd.Series]:
    """Callaway-Sant'Anna ATT(g, t), never-treated controls, universal base g-1, by cell means; and the
    dynamic aggregation with cohort-size weights (balanced panel)."""
    means = frame.groupby([g, t])[y].mean()
    sizes = frame.groupby(g)[frame.columns[0]].size() / frame[t].nunique()
    periods = sorted(frame[t].unique())
    att = {}
    for cohort in sorted(c for c in frame[g].unique() if c > 0):
        base = cohort - 1
        for period in periods:
            if period == base:
                continue
            att[(cohort, period)] = (means[(cohort, period)] - means[(cohort, base)]) - (
                means[(0, period)] - means[(0, base)])
    att_s = pd.Series(att)
    dyn = {}
    for e in sorted({p - c for c, p in att}):
        cells = [(c, p) for c, p in att if p - c == e]
        w = np.array([sizes[c] for c, _ in cells], dtype=float)
        dyn[e] = float(np.dot(w / w.sum(), [att[k] for k in cells]))
    return att_s, pd.Series(dyn)


def dummy_regression(frame: pd.DataFrame, cells: list[tuple[int, int]], covariates: list[str],
                     cluster: str = "firm") -> sm.regression.linear_model.RegressionResults:
    """OLS with firm and year dummies and one dummy per (cohort, event time) cell (statsmodels)."""
    inter = pd.DataFrame({f"c{c}_e{e}": ((frame["g"] == c) & (frame["year"] - frame["g"] == e)).astype(float)
                          for c, e in cells}, index=frame.index)
    dummies = pd.get_dummies(frame[["firm", "year"]].astype(str), drop_first=True, dtype=float)
    exog = sm.add_constant(pd.concat([inter, frame[covariates], dummies], axis=1))
    return sm.OLS(frame["y"], exog).fit(cov_type="cluster",
                                        cov_kwds={"groups": pd.factorize(frame[cluster])[0]})


# -- equivalence with Callaway-Sant'Anna (universal base period) -----------------------------------

def test_mpdta_equals_cs_universal_base_by_hand(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    att, dyn = cs_universal_by_hand(mpdta, "lemp", "year", "first.treat")
    got = res.to_frame().set_index("event_time")["estimate"]
    assert sorted(got.index) == sorted(dyn.index)
    np.testing.assert_allclose(got.loc[dyn.index].to_numpy(), dyn.to_numpy(), rtol=0, atol=1e-10)
    ce = res.cohort_effects.set_index(["group", "time"])["estimate"]
    np.testing.assert_allclose(ce.loc[list(att.index)].to_numpy(), att.to_numpy(), rtol=0, atol=1e-10)
    # the overall post-period average equals CS's "simple" aggregation
    post = [(c, p) for c, p in att.index if p >= c]
    sizes = mpdta.groupby("first.treat")["countyreal"].nunique()
    w = np.array([sizes[c] for c, _ in post], dtype=float)
    assert res.overall["estimate"].iloc[0] == pytest.approx(np.dot(w / w.sum(), att.loc[post]), abs=1e-10)


def test_mpdta_equals_moderndid_universal_base(mpdta: pd.DataFrame) -> None:
    import moderndid

    mp = moderndid.att_gt(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                          est_method="reg", base_period="universal", control_group="nevertreated",
                          boot=False, cband=False)
    agg = moderndid.aggte(mp, type="dynamic")
    ref = pd.Series(np.asarray(agg.att_by_event), index=np.asarray(agg.event_times).astype(int))
    ref = ref.drop(index=-1)  # the reference period, 0 by construction
    got = event_study(mpdta, yname="lemp", tname="year", idname="countyreal",
                      gname="first.treat").to_frame().set_index("event_time")["estimate"]
    np.testing.assert_allclose(got.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=0, atol=1e-10)


def test_min_e_max_e_only_select_reported_event_times(mpdta: pd.DataFrame) -> None:
    full = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    window = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                         min_e=-2, max_e=1)
    assert window.to_frame()["event_time"].tolist() == [-2, 0, 1]
    pd.testing.assert_frame_equal(window.to_frame(),
                                  full.to_frame().loc[lambda f: f["event_time"].between(-2, 1)]
                                  .reset_index(drop=True))
    keep = full.to_frame()["event_time"].between(-2, 1).to_numpy()
    np.testing.assert_allclose(window.vcov, full.vcov[np.ix_(keep, keep)], rtol=1e-14)


# -- second code path: statsmodels dummy regression (coefficients and delta-method SEs) ------------

@pytest.mark.parametrize("drop_share", [0.0, 0.2])
def test_equals_statsmodels_dummy_regression(drop_share: float) -> None:
    frame = simulate(1, n_units=90, n_periods=6, drop_share=drop_share)
    res = event_study(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["x"],
                      df_correction="full")
    ce = res.cohort_effects
    cells = list(zip(ce["group"], ce["event_time"], strict=True))
    ref = dummy_regression(frame, cells, ["x"])
    names = [f"c{c}_e{e}" for c, e in cells]
    np.testing.assert_allclose(ce["estimate"].to_numpy(), ref.params[names].to_numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ce["std_error"].to_numpy(), ref.bse[names].to_numpy(), rtol=1e-10)
    # interaction weights: cell sizes over cohorts observed at each event time; delta method, fixed weights
    v = ref.cov_params().loc[names, names].to_numpy()
    est = res.to_frame().set_index("event_time")
    sizes = frame.loc[frame["g"] > 0].assign(e=lambda f: f["year"] - f["g"]).groupby(["g", "e"]).size()
    for e in est.index:
        w = np.array([sizes[(c, ee)] if ee == e else 0.0 for c, ee in cells])
        w = w / w.sum()
        assert est.loc[e, "estimate"] == pytest.approx(w @ ref.params[names].to_numpy(), rel=1e-10, abs=1e-12)
        assert est.loc[e, "std_error"] == pytest.approx(np.sqrt(w @ v @ w), rel=1e-10)


def test_last_treated_control_equals_dummy_regression() -> None:
    frame = simulate(2, n_units=120, n_periods=7, shares={3: 0.3, 4: 0.3, 6: 0.4})
    res = event_study(frame, yname="y", tname="year", idname="firm", gname="g", control_cohort="last_treated",
                      df_correction="full")
    sub = frame.loc[frame["year"] < 6].assign(g=lambda f: f["g"].where(f["g"] != 6, 0))
    ce = res.cohort_effects
    cells = list(zip(ce["group"], ce["event_time"], strict=True))
    assert {c for c, _ in cells} == {3, 4}
    ref = dummy_regression(sub, cells, [])
    names = [f"c{c}_e{e}" for c, e in cells]
    np.testing.assert_allclose(ce["estimate"].to_numpy(), ref.params[names].to_numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ce["std_error"].to_numpy(), ref.bse[names].to_numpy(), rtol=1e-10)
    assert res.n_obs == len(sub)
    assert any("last cohort is the control" in d.reason for d in res.specification.dropped)


# -- recovery --------------------------------------------------------------------------------------

def test_noise_free_panel_recovers_dynamic_effects_exactly() -> None:
    frame = simulate(3, noise=0.0)
    res = event_study(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["x"])
    est = res.to_frame().set_index("event_time")["estimate"]
    truth = np.where(est.index >= 0, 0.5 + 0.5 * est.index, 0.0)
    np.testing.assert_allclose(est.to_numpy(), truth, rtol=0, atol=1e-10)


def test_recovers_dynamic_effects_within_bonferroni_band() -> None:
    frame = simulate(4, n_units=600)
    n_event_times = len(event_study(frame, yname="y", tname="year", idname="firm", gname="g").to_frame())
    res = event_study(frame, yname="y", tname="year", idname="firm", gname="g", alpha=0.05 / n_event_times)
    tab = res.to_frame()
    truth = np.where(tab["event_time"] >= 0, 0.5 + 0.5 * tab["event_time"], 0.0)
    assert np.all((tab["ci_low"] <= truth) & (truth <= tab["ci_high"]))


def test_uniform_band_is_wider_and_reproducible(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    band = res.uniform_band(seed=3)
    point = res.to_frame()
    k = len(point)
    crit = band["critical_value"].iloc[0]
    # between the pointwise and the Bonferroni critical values (t with G-1 df is close to normal at G=500)
    assert stats.norm.ppf(0.975) < crit < stats.norm.ppf(1 - 0.025 / k)
    assert (band["ci_high"] - band["ci_low"] > point["ci_high"] - point["ci_low"]).all()
    assert (band["ci_kind"] == "uniform").all()
    pd.testing.assert_frame_equal(band, res.uniform_band(seed=3))
    with pytest.raises(SpecificationError, match="n_draws"):
        res.uniform_band(n_draws=10)


def test_uniform_band_with_independent_effects_has_the_sidak_value(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    diag = dataclasses.replace(res, vcov=np.diag(np.diag(res.vcov)))
    k = len(res.to_frame())
    sidak = stats.norm.ppf(1 - (1 - 0.95 ** (1 / k)) / 2)
    # 10,000 draws: the Monte Carlo error of the 95% quantile is about 0.01
    assert diag.uniform_band(seed=0)["critical_value"].iloc[0] == pytest.approx(sidak, abs=0.03)


@pytest.mark.slow
def test_monte_carlo_coverage_of_pointwise_intervals() -> None:
    """500 small panels (50 firms x 5 periods): 95% intervals cover the truth 93-97% of the time.

    The simulated frames are clean and sorted by construction, so they are wrapped in a ValidatedPanel
    directly (skipping validate_panel keeps the test fast; validation is tested elsewhere).
    """
    rng = np.random.default_rng(20260501)
    truth = {-3: 0.0, -2: 0.0, 0: 1.0, 1: 1.5}
    hits = np.zeros((500, len(truth)), dtype=bool)
    uniform_hits = np.zeros(500, dtype=bool)
    n, periods = 50, 5
    ids = np.repeat(np.arange(n), periods)
    t = np.tile(np.arange(1, periods + 1), n)
    for r in range(500):
        g = rng.choice([0, 3, 4], size=n, p=[0.4, 0.3, 0.3])[ids]
        tau = np.where((g > 0) & (t >= g), 1.0 + 0.5 * (t - g), 0.0)
        y = rng.normal(size=n)[ids] + 0.3 * t + tau + rng.normal(size=ids.size)
        frame = pd.DataFrame({"firm": ids, "year": t, "g": g, "y": y})
        panel = ValidatedPanel(data=frame, idname="firm", tname="year", gname="g", ynames=("y",),
                               covariates=(), periods=tuple(range(1, periods + 1)),
                               cohorts=tuple(sorted({int(c) for c in g if c > 0})), n_units=n, balanced=True)
        res = event_study(panel, yname="y", tname="year", idname="firm", gname="g")
        tab = res.to_frame().set_index("event_time")
        lo = tab["ci_low"].to_dict()
        hi = tab["ci_high"].to_dict()
        hits[r] = [float(lo[e]) <= v <= float(hi[e]) for e, v in truth.items()]
        band = res.uniform_band(n_draws=2000, seed=r).set_index("event_time")
        uniform_hits[r] = all(band.loc[e, "ci_low"] <= v <= band.loc[e, "ci_high"] for e, v in truth.items())
    coverage = hits.mean(axis=0)
    assert np.all((coverage >= 0.93) & (coverage <= 0.97)), coverage
    # the sup-t band covers all four event-time effects at once
    assert 0.93 <= uniform_hits.mean() <= 0.97, uniform_hits.mean()


# -- invariances, inputs ---------------------------------------------------------------------------

def test_invariances_and_caller_frame() -> None:
    frame = simulate(5, n_units=120, drop_share=0.1)
    before = frame.copy(deep=True)
    base = event_study(frame, yname="y", tname="year", idname="firm", gname="g").to_frame()
    pd.testing.assert_frame_equal(frame, before)
    shifted = event_study(frame.assign(y=frame["y"] - 7.0), yname="y", tname="year", idname="firm",
                          gname="g").to_frame()
    scaled = event_study(frame.assign(y=frame["y"] * 0.25), yname="y", tname="year", idname="firm",
                         gname="g").to_frame()
    permuted = event_study(frame.sample(frac=1.0, random_state=1), yname="y", tname="year", idname="firm",
                           gname="g").to_frame()
    np.testing.assert_allclose(shifted["estimate"], base["estimate"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(shifted["std_error"], base["std_error"], rtol=1e-8)
    np.testing.assert_allclose(scaled["estimate"], 0.25 * base["estimate"], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(scaled["std_error"], 0.25 * base["std_error"], rtol=1e-10)
    np.testing.assert_allclose(permuted["estimate"], base["estimate"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(permuted["std_error"], base["std_error"], rtol=1e-9)


def test_result_interface(mpdta: pd.DataFrame) -> None:
    res = event_study(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                       "ci_high"]
    assert {"event_time", "n_cohorts"} <= set(frame.columns)
    assert list(res.cohort_effects.columns[7:10]) == ["group", "time", "event_time"]
    np.testing.assert_allclose(res.cohort_effects.groupby("event_time")["weight"].sum(), 1.0, rtol=1e-14)
    assert "cohort shares treated as fixed" in str(res)
    payload = json.loads(json.dumps(res.to_dict()))
    assert payload["reference_period"] == -1
    ax = res.plot()
    assert ax.get_xlabel() == "periods since first support"


# -- errors ----------------------------------------------------------------------------------------

def test_error_bad_control_cohort() -> None:
    with pytest.raises(SpecificationError, match=r"control_cohort=\.\.\.\) must be one of"):
        event_study(simulate(1), yname="y", tname="year", idname="firm", gname="g", control_cohort="notyet")


def test_error_no_never_treated() -> None:
    frame = simulate(1, shares={3: 0.5, 5: 0.5})
    with pytest.raises(EstimationError, match=r"no never-supported firms.*control_cohort='last_treated'"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g")


def test_error_last_treated_needs_two_cohorts() -> None:
    frame = simulate(1, shares={0: 0.5, 4: 0.5})
    with pytest.raises(EstimationError, match="needs at least two supported cohorts"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", control_cohort="last_treated")


def test_error_reference_not_observed_and_window() -> None:
    frame = simulate(1)
    with pytest.raises(EstimationError, match=r"not observed at the reference event time -6"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", reference_period=-6)
    with pytest.raises(SpecificationError, match="needs min_e <= max_e"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", min_e=2, max_e=0)
    with pytest.raises(SpecificationError, match=r"no event time in \[min_e, max_e\]"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", min_e=20)
    with pytest.raises(SpecificationError, match=r"min_e=\.\.\.\) must be an integer"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", min_e=1.5)  # type: ignore[arg-type]


def test_error_only_reference_period_observed() -> None:
    frame = simulate(1, n_periods=4).loc[lambda f: (f["g"] == 0) | (f["year"] == f["g"] - 1)]
    frame = frame.loc[frame["g"].isin([0, 3])]
    with pytest.raises(EstimationError, match="observed only at the reference event time"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g")


def test_already_supported_firms_dropped_with_warning() -> None:
    frame = simulate(1, shares={0: 0.4, 1: 0.2, 4: 0.4})
    panel = validate_panel(frame, idname="firm", tname="year", gname="g", ynames="y",
                           already_supported="keep")
    with pytest.warns(DataWarning, match=r"dropped \d+ firms of cohort\(s\) \[1\], supported in or before"):
        res = event_study(panel, yname="y", tname="year", idname="firm", gname="g")
    assert set(res.cohort_effects["group"]) == {4}


def test_error_singular_covariate() -> None:
    frame = simulate(1).assign(const_within=lambda f: f["firm"] * 1.0)
    with pytest.raises(EstimationError, match=r"\['const_within'\] do not vary"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["const_within"])


def test_warning_few_clusters() -> None:
    frame = simulate(1).assign(region=lambda f: f["firm"] % 6)
    with pytest.warns(EstimationWarning, match="only 6 clusters"):
        event_study(frame, yname="y", tname="year", idname="firm", gname="g", cluster="region")


def test_error_no_cohort_with_pre_period() -> None:
    frame = simulate(1, shares={0: 0.5, 1: 0.5})
    panel = validate_panel(frame, idname="firm", tname="year", gname="g", ynames="y",
                           already_supported="keep")
    with pytest.warns(DataWarning, match="supported in or before"), \
            pytest.raises(EstimationError, match="no supported cohort with a pre-support period remains"):
        event_study(panel, yname="y", tname="year", idname="firm", gname="g")
