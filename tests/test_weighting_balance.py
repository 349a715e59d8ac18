"""Balance (SMD, variance ratios, love plot), overlap diagnostics and the Crump et al. trimming rule."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from ipf_eval.weighting import balance, crump_alpha, ipw, match, overlap

matplotlib.use("Agg")


def data(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.5).astype(float)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.9 * x1 + 0.5 * x2 - 0.5)))).astype(int)
    return pd.DataFrame(
        {
            "y": x1 + d + rng.normal(size=n),
            "d": d,
            "x1": x1,
            "x2": x2,
            "sector": rng.choice(["a", "b", "c"], size=n),
        }
    )


def test_smd_and_variance_ratio_by_hand():
    df = data()
    res = balance(df, treatname="d", covariates=["x1", "sector"])
    t, c = df[df.d == 1], df[df.d == 0]
    sd = np.sqrt((t.x1.var(ddof=1) + c.x1.var(ddof=1)) / 2)
    row = res.table.set_index("covariate").loc["x1"]
    assert row["smd"] == pytest.approx((t.x1.mean() - c.x1.mean()) / sd, rel=1e-12)
    assert row["variance_ratio"] == pytest.approx(t.x1.var(ddof=1) / c.x1.var(ddof=1), rel=1e-12)
    assert list(res.table["covariate"]) == ["x1", "sector[b]", "sector[c]"]
    assert res.method == "raw"


def test_weighted_balance_by_hand_and_column_weights():
    df = data()
    w = np.where(df.d == 1, 1.0, np.linspace(0.5, 2.0, len(df)))
    res = balance(df.assign(w=w), treatname="d", covariates=["x1"], weights="w")
    res2 = balance(df, treatname="d", covariates=["x1"], weights=w)
    pd.testing.assert_frame_equal(res.table, res2.table)
    t, c = df.d == 1, df.d == 0
    mt, mc = df.x1[t].mean(), np.average(df.x1[c], weights=w[c])
    sd = np.sqrt((df.x1[t].var(ddof=1) + df.x1[c].var(ddof=1)) / 2)  # unadjusted pooled SD, before and after
    assert res.table.loc[0, "smd_adj"] == pytest.approx((mt - mc) / sd, rel=1e-12)
    neff = w[c].sum() ** 2 / (w[c] ** 2).sum()
    vc = np.average((df.x1[c] - mc) ** 2, weights=w[c]) * neff / (neff - 1)
    assert res.table.loc[0, "variance_ratio_adj"] == pytest.approx(df.x1[t].var(ddof=1) / vc, rel=1e-12)


def test_weighting_and_matching_improve_balance():
    df = data(3000, 1)
    for res, bound in (
        (ipw(df, yname="y", treatname="d", covariates=["x1", "x2"]), 0.15),
        (match(df, yname="y", treatname="d", covariates=["x1", "x2"], n_neighbors=3, caliper=None), 0.15),
    ):
        tab = res.balance.table
        assert np.abs(tab["smd"]).max() > 0.3
        assert np.abs(tab["smd_adj"]).max() < bound
        # the result's weights reproduce its balance table through the public function
        again = balance(df, treatname="d", covariates=["x1", "x2"], weights=res.weights.to_numpy())
        np.testing.assert_allclose(again.table["smd_adj"], tab["smd_adj"], rtol=1e-12)


def test_balance_result_api():
    res = balance(data(), treatname="d", covariates=["x1", "x2"], weights=np.ones(1000))
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 2
    assert ax.get_legend() is not None
    assert "max |SMD| after" in res.summary().as_text()
    json.dumps(res.to_dict())
    assert res.to_frame() is not res.table


def _crump_by_root(ps: np.ndarray) -> float:
    """Crump et al. (2009) by solving g(alpha) = 1/(alpha(1-alpha)) - 2 E[h | h <= 1/(alpha(1-alpha))] = 0."""
    h = 1 / (ps * (1 - ps))
    if h.max() <= 2 * h.mean():
        return 0.0

    def g(a: float) -> float:
        gam = 1 / (a * (1 - a))
        sel = h <= gam
        return gam - (2 * h[sel].mean() if sel.any() else 0.0)

    grid = np.linspace(1e-4, 0.4999, 20001)
    vals = np.array([g(a) for a in grid])
    k = np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0][0]  # smallest alpha (largest gamma) root
    return float(optimize.brentq(g, grid[k], grid[k + 1]))


@pytest.mark.parametrize("scale", [1.0, 2.5, 4.0])
def test_crump_alpha_matches_root_finding(scale):
    rng = np.random.default_rng(int(scale * 10))
    ps = 1 / (1 + np.exp(-scale * rng.normal(size=5000)))
    a = crump_alpha(ps)
    expected = _crump_by_root(ps)
    # the solution lies between two sorted values of 1/(p(1-p)); the mean over {h <= gamma} is flat there
    assert a == pytest.approx(expected, abs=2e-3)
    if scale >= 2.5:
        assert 0.02 < a < 0.2  # Crump et al. report ~0.1 in many applications


def test_crump_alpha_zero_with_good_overlap():
    ps = np.random.default_rng(1).uniform(0.3, 0.7, 1000)
    assert crump_alpha(ps) == 0.0


def test_overlap_result():
    res = overlap(data(2000, 3), treatname="d", covariates=["x1", "x2"])
    tab = res.to_frame()
    assert list(tab["group"]) == ["treated", "comparison"]
    assert tab["n"].sum() == 2000
    assert 0 <= res.crump_alpha < 0.5
    ax = res.plot()
    assert ax.get_xlabel() == "propensity score"
    assert "Crump" in res.summary().as_text()
    json.dumps(res.to_dict())
