"""Tests of ipf_eval.did.bacon: the decomposition adds up to TWFE, each piece checked independently, the
TWFE bias under staggered dynamic effects, and errors."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did.bacon import bacon_decomposition
from ipf_eval.did.sun_abraham import event_study
from ipf_eval.did.twfe import twfe
from ipf_eval.errors import DataError, DataWarning, EstimationError, SpecificationError

matplotlib.use("Agg")


def simulate(seed: int, *, n_units: int = 400, n_periods: int = 10, shares: dict[int, float] | None = None,
             base: float = 0.5, slope: float = 0.5, noise: float = 1.0) -> pd.DataFrame:
    """Staggered panel whose effect grows with time since support: tau(e) = base + slope * e, e >= 0."""
    rng = np.random.default_rng(seed)
    shares = shares or {0: 0.1, 3: 0.3, 6: 0.3, 8: 0.3}
    g_unit = rng.choice(np.array(list(shares)), size=n_units, p=list(shares.values()))
    ids = np.repeat(np.arange(1, n_units + 1), n_periods)
    t = np.tile(np.arange(1, n_periods + 1), n_units)
    g = g_unit[ids - 1]
    tau = np.where((g > 0) & (t >= g), base + slope * (t - g), 0.0)
    y = rng.normal(size=n_units)[ids - 1] + 0.3 * t + tau + noise * rng.normal(size=ids.size)
    return pd.DataFrame({"firm": ids, "year": t, "g": g, "y": y, "tau": tau})


def twfe_by_hand(frame: pd.DataFrame, g_col: str, y_col: str = "y", t_col: str = "year",
                 id_col: str = "firm") -> tuple[float, float]:
    """TWFE coefficient and variance of the two-way demeaned treatment on a balanced (sub)panel."""
    d = ((frame[g_col] > 0) & (frame[t_col] >= frame[g_col])).astype(float)
    dd = d - d.groupby(frame[id_col]).transform("mean") - d.groupby(frame[t_col]).transform("mean") + d.mean()
    return float((dd * frame[y_col]).sum() / (dd**2).sum()), float((dd**2).mean())


# -- adds up to TWFE -------------------------------------------------------------------------------

def test_mpdta_weighted_sum_equals_twfe(mpdta: pd.DataFrame) -> None:
    bd = bacon_decomposition(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    tw = twfe(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    comp = bd.comparisons
    assert (comp["weight"] * comp["estimate"]).sum() == pytest.approx(tw.estimate, abs=1e-10)
    assert bd.twfe_estimate == pytest.approx(tw.estimate, abs=1e-10)
    assert comp["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (comp["weight"] > 0).all()
    # 3 cohorts and a never-treated group: 3 treated-vs-never and 3 pairs x 2 timing comparisons
    assert comp["type"].value_counts().to_dict() == {"treated_vs_never_treated": 3,
                                                     "earlier_vs_later_treated": 3,
                                                     "later_vs_earlier_treated": 3}


@pytest.mark.parametrize("shares", [
    {0: 0.1, 3: 0.3, 6: 0.3, 8: 0.3},
    {0: 0.2, 1: 0.15, 4: 0.25, 7: 0.2, 12: 0.2},  # firms supported throughout and after the window
    {2: 0.3, 5: 0.4, 9: 0.3},  # no never-supported firms
])
def test_simulated_weighted_sum_equals_twfe(shares: dict[int, float]) -> None:
    frame = simulate(8, n_units=200, shares=shares)
    if 12 in shares:
        with pytest.warns(DataWarning, match="first supported after the last period"):
            bd = bacon_decomposition(frame, yname="y", tname="year", idname="firm", gname="g")
        with pytest.warns(DataWarning, match="first supported after the last period"):
            tw = twfe(frame, yname="y", tname="year", idname="firm", gname="g")
        assert "later_vs_always_treated" in set(bd.comparisons["type"])
    else:
        bd = bacon_decomposition(frame, yname="y", tname="year", idname="firm", gname="g")
        tw = twfe(frame, yname="y", tname="year", idname="firm", gname="g")
    comp = bd.comparisons
    assert (comp["weight"] * comp["estimate"]).sum() == pytest.approx(tw.estimate, abs=1e-10)
    assert comp["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    if 0 not in shares:
        assert "treated_vs_never_treated" not in set(comp["type"])


def test_each_comparison_is_twfe_on_its_subsample() -> None:
    """Goodman-Bacon's definitions: each 2x2 estimate is TWFE on its two groups and window, and each weight is
    (subsample share)^2 x (variance of the demeaned treatment there) / (variance in the full panel)."""
    frame = simulate(9, n_units=200, shares={0: 0.25, 3: 0.25, 6: 0.25, 8: 0.25})
    bd = bacon_decomposition(frame, yname="y", tname="year", idname="firm", gname="g")
    _, v_full = twfe_by_hand(frame, "g")
    n_total = frame["firm"].nunique()
    n_periods = frame["year"].nunique()
    for row in bd.comparisons.itertuples(index=False):
        pair = frame.loc[frame["g"].isin([row.treated, row.control])]
        if row.type == "treated_vs_never_treated":
            window = pair
        elif row.type == "earlier_vs_later_treated":
            window = pair.loc[pair["year"] < row.control]
        else:
            window = pair.loc[pair["year"] >= row.control]
        est, v_sub = twfe_by_hand(window, "g")
        assert row.estimate == pytest.approx(est, abs=1e-10)
        share = pair["firm"].nunique() / n_total * window["year"].nunique() / n_periods
        assert row.weight == pytest.approx(share**2 * v_sub / v_full, rel=1e-10)


def test_permutation_and_caller_frame(mpdta: pd.DataFrame) -> None:
    before = mpdta.copy(deep=True)
    base = bacon_decomposition(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    pd.testing.assert_frame_equal(mpdta, before)
    permuted = bacon_decomposition(mpdta.sample(frac=1.0, random_state=3), yname="lemp", tname="year",
                                   idname="countyreal", gname="first.treat")
    pd.testing.assert_frame_equal(permuted.comparisons, base.comparisons, rtol=1e-12, atol=1e-14)


# -- why TWFE misleads under staggered dynamic effects ---------------------------------------------

def test_twfe_bias_explained_by_forbidden_comparisons_and_fixed_by_event_study() -> None:
    frame = simulate(0, n_units=600)
    true_att = frame.loc[frame["tau"] > 0, "tau"].mean()  # average effect over supported firm-periods
    tw = twfe(frame, yname="y", tname="year", idname="firm", gname="g")
    # effects grow with time since support and every effect is positive, yet TWFE is far below the truth:
    # already-supported firms serve as controls, so their growing effects are subtracted
    assert frame.loc[frame["tau"] > 0, "tau"].min() > 0
    assert tw.ci_high < true_att
    assert tw.estimate < 0.5 * true_att

    bd = bacon_decomposition(frame, yname="y", tname="year", idname="firm", gname="g")
    by_type = bd.by_type.set_index("type")
    # the "forbidden" later-vs-earlier comparisons carry the wrong sign and much weight
    assert by_type["estimate"].to_dict()["later_vs_earlier_treated"] < 0
    assert by_type["weight"].to_dict()["later_vs_earlier_treated"] > 0.3
    forbidden = bd.comparisons.loc[bd.comparisons["type"] == "later_vs_earlier_treated"]
    assert (forbidden["estimate"] < 0).all()
    # without them, the clean comparisons are much closer to the truth than TWFE
    clean = bd.comparisons.loc[bd.comparisons["type"] != "later_vs_earlier_treated"]
    clean_avg = float((clean["weight"] * clean["estimate"]).sum() / clean["weight"].sum())
    assert abs(clean_avg - true_att) < abs(tw.estimate - true_att) / 2

    # the interaction-weighted event study recovers every dynamic effect: the truth lies within a
    # Bonferroni-adjusted (simultaneous 95%) band over all event times
    first = event_study(frame, yname="y", tname="year", idname="firm", gname="g")
    n_e = len(first.to_frame())
    es = event_study(frame, yname="y", tname="year", idname="firm", gname="g", alpha=0.05 / n_e).to_frame()
    truth = np.where(es["event_time"] >= 0, 0.5 + 0.5 * es["event_time"], 0.0)
    assert np.all((es["ci_low"] <= truth) & (truth <= es["ci_high"]))


# -- result object ---------------------------------------------------------------------------------

def test_result_interface(mpdta: pd.DataFrame) -> None:
    bd = bacon_decomposition(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    frame = bd.to_frame()
    assert list(frame.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                       "ci_high"]
    assert {"type", "treated", "control", "weight"} <= set(frame.columns)
    assert frame["std_error"].isna().all()
    assert frame["term"].iloc[0] == "treated_vs_never_treated:2004_vs_0"
    text = str(bd)
    assert "TWFE coefficient" in text
    assert "-0.0365" in text
    payload = json.loads(json.dumps(bd.to_dict()))
    assert len(payload["comparisons"]) == 9
    ax = bd.plot()
    assert ax.get_xlabel() == "weight"
    assert len(ax.collections) == 3  # one scatter per comparison type present


# -- errors ----------------------------------------------------------------------------------------

def test_error_unbalanced_panel(mpdta: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"needs a balanced panel; 1 of 500 firms .* balance it first"):
        bacon_decomposition(mpdta.iloc[1:], yname="lemp", tname="year", idname="countyreal",
                            gname="first.treat")


def test_error_covariates(mpdta: pd.DataFrame) -> None:
    with pytest.raises(SpecificationError, match="covariates are not supported"):
        bacon_decomposition(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                            covariates=["lpop"])


def test_error_no_firm_changes_status() -> None:
    frame = simulate(1, n_units=60, shares={0: 0.5, 1: 0.5})
    with pytest.raises(EstimationError, match="no firm changes support status"):
        bacon_decomposition(frame, yname="y", tname="year", idname="firm", gname="g")


def test_error_treatment_collinear_with_period_effects() -> None:
    # a single cohort and no comparison firms: D is a period dummy.  validate_panel refuses such data, so the
    # estimator's own guard is reached through a hand-built ValidatedPanel (clean, sorted by construction)
    frame = simulate(1, n_units=60, shares={4: 1.0})
    panel = ValidatedPanel(data=frame, idname="firm", tname="year", gname="g", ynames=("y",), covariates=(),
                           periods=tuple(range(1, 11)), cohorts=(4,), n_units=60, balanced=True)
    with pytest.raises(EstimationError, match="collinear with the period"):
        bacon_decomposition(panel, yname="y", tname="year", idname="firm", gname="g")
