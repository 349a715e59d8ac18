"""Tests of ipf_eval.did.did_2x2: four means, independent sandwich, statsmodels formula, errors."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from ipf_eval.did.did_2x2 import did_2x2
from ipf_eval.errors import DataError, EstimationError, EstimationWarning, SpecificationError

matplotlib.use("Agg")


def make_panel(seed: int, *, n_units: int = 120, drop_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_units), 3)
    t = np.tile([2018, 2019, 2020], n_units)
    treat = (rng.random(n_units) < 0.4).astype(int)[ids]
    x = rng.normal(size=ids.size)
    y = rng.normal(size=n_units)[ids] + 0.3 * (t - 2018) + 0.8 * x + 1.5 * treat * (t == 2020) \
        + rng.normal(size=ids.size)
    frame = pd.DataFrame({"firm": ids, "year": t, "treat": treat, "x": x, "y": y,
                          "region": (ids % 15)})
    if drop_share:
        frame = frame.loc[rng.random(len(frame)) > drop_share].reset_index(drop=True)
    return frame


def four_means(frame: pd.DataFrame, y: str, t: str, treat: str, pre: int, post: int) -> float:
    m = frame.loc[frame[t].isin([pre, post])].groupby([treat, t])[y].mean()
    return float((m[(1, post)] - m[(1, pre)]) - (m[(0, post)] - m[(0, pre)]))


def cluster_sandwich(frame: pd.DataFrame, cols: list[str], y: str, cluster: str) -> np.ndarray:
    """Cluster-robust covariance written out with numpy (independent of statsmodels)."""
    x = frame[cols].to_numpy(dtype=float)
    yy = frame[y].to_numpy(dtype=float)
    beta = np.linalg.solve(x.T @ x, x.T @ yy)
    e = yy - x @ beta
    codes, levels = pd.factorize(frame[cluster])
    scores = np.zeros((len(levels), x.shape[1]))
    np.add.at(scores, codes, x * e[:, None])
    bread = np.linalg.inv(x.T @ x)
    n, k, g = len(yy), x.shape[1], len(levels)
    return g / (g - 1) * (n - 1) / (n - k) * bread @ scores.T @ scores @ bread


@pytest.mark.parametrize("drop_share", [0.0, 0.2])
def test_equals_difference_of_four_means(drop_share: float) -> None:
    frame = make_panel(1, drop_share=drop_share)
    res = did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020)
    assert res.estimate == pytest.approx(four_means(frame, "y", "year", "treat", 2018, 2020), abs=1e-10)
    cm = res.cell_means.set_index(["treated", "period"])
    assert cm.loc[(1, "post"), "mean"] == pytest.approx(
        frame.loc[(frame["treat"] == 1) & (frame["year"] == 2020), "y"].mean(), rel=1e-13)


def test_mpdta_four_means_and_sandwich(mpdta: pd.DataFrame) -> None:
    res = did_2x2(mpdta, yname="lemp", tname="year", idname="countyreal", treatname="treat", pre=2003,
                  post=2007)
    assert res.estimate == pytest.approx(four_means(mpdta, "lemp", "year", "treat", 2003, 2007), abs=1e-10)
    sub = mpdta.loc[mpdta["year"].isin([2003, 2007])].assign(
        const=1.0, post=lambda f: (f["year"] == 2007).astype(float),
        inter=lambda f: f["treat"] * f["post"])
    vcov = cluster_sandwich(sub, ["const", "treat", "post", "inter"], "lemp", "countyreal")
    assert res.std_error == pytest.approx(np.sqrt(vcov[3, 3]), rel=1e-10)
    assert res.n_clusters == 500


def test_se_equals_statsmodels_formula_with_covariates() -> None:
    frame = make_panel(2, drop_share=0.1)
    with pytest.warns(EstimationWarning, match=r"did_2x2\(\): only 15 clusters in 'region'"):
        res = did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020,
                      covariates=["x"], cluster="region")
    sub = frame.loc[frame["year"].isin([2018, 2020])].assign(post=lambda f: (f["year"] == 2020).astype(int))
    ref = smf.ols("y ~ treat * post + x", data=sub).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(sub["region"])[0]})
    assert res.estimate == pytest.approx(ref.params["treat:post"], rel=1e-10)
    assert res.std_error == pytest.approx(ref.bse["treat:post"], rel=1e-10)
    tab = res.to_frame().set_index("term")
    assert tab.loc["x", "estimate"] == pytest.approx(ref.params["x"], rel=1e-10)
    assert res.n_clusters == 15


def test_invariances_and_caller_frame() -> None:
    frame = make_panel(3)
    before = frame.copy(deep=True)
    base = did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2019)
    pd.testing.assert_frame_equal(frame, before)
    shifted = did_2x2(frame.assign(y=frame["y"] + 50.0), yname="y", tname="year", idname="firm",
                      treatname="treat", pre=2018, post=2019)
    scaled = did_2x2(frame.assign(y=frame["y"] * 3.0), yname="y", tname="year", idname="firm",
                     treatname="treat", pre=2018, post=2019)
    permuted = did_2x2(frame.sample(frac=1.0, random_state=0), yname="y", tname="year", idname="firm",
                       treatname="treat", pre=2018, post=2019)
    assert shifted.estimate == pytest.approx(base.estimate, abs=1e-10)
    assert shifted.std_error == pytest.approx(base.std_error, rel=1e-8)
    assert scaled.estimate == pytest.approx(3.0 * base.estimate, rel=1e-10)
    assert scaled.std_error == pytest.approx(3.0 * base.std_error, rel=1e-10)
    assert permuted.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert permuted.std_error == pytest.approx(base.std_error, rel=1e-10)


def test_recovers_effect_in_interval() -> None:
    res = did_2x2(make_panel(4, n_units=400), yname="y", tname="year", idname="firm", treatname="treat",
                  pre=2019, post=2020)
    assert res.ci_low < 1.5 < res.ci_high


def test_result_interface() -> None:
    res = did_2x2(make_panel(5), yname="y", tname="year", idname="firm", treatname="treat", pre=2018,
                  post=2020)
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                       "ci_high"]
    assert frame["term"].tolist() == ["const", "treat", "post", "treat_x_post"]
    assert "pre = 2018, post = 2020" in str(res)
    assert json.loads(json.dumps(res.to_dict()))["term"] == "treat_x_post"
    ax = res.plot()
    assert len(ax.get_lines()) == 3


# -- errors ----------------------------------------------------------------------------------------

def test_error_pre_not_before_post() -> None:
    with pytest.raises(SpecificationError, match="needs pre < post; got pre=2020, post=2018"):
        did_2x2(make_panel(1), yname="y", tname="year", idname="firm", treatname="treat", pre=2020, post=2018)


def test_error_period_not_in_data() -> None:
    with pytest.raises(DataError, match=r"pre=2010\): period not in column 'year'"):
        did_2x2(make_panel(1), yname="y", tname="year", idname="firm", treatname="treat", pre=2010, post=2020)
    with pytest.raises(SpecificationError, match=r"post=\.\.\.\) must be an integer period"):
        did_2x2(make_panel(1), yname="y", tname="year", idname="firm", treatname="treat", pre=2018,
                post="2020")  # type: ignore[arg-type]


def test_error_treat_not_binary() -> None:
    frame = make_panel(1).assign(treat=lambda f: f["treat"] * 3)
    with pytest.raises(DataError, match="must be a 0/1"):
        did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020)


def test_error_treat_varies_within_firm() -> None:
    frame = make_panel(1)
    frame = frame.assign(treat=frame["treat"] * (frame["year"] == 2020))
    with pytest.raises(DataError, match="changes within firm"):
        did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020)


def test_error_no_treated_or_no_controls() -> None:
    frame = make_panel(1)
    with pytest.raises(EstimationError, match=r"no rows for .*supported firms in 2018"):
        did_2x2(frame.assign(treat=0), yname="y", tname="year", idname="firm", treatname="treat", pre=2018,
                post=2020)
    with pytest.raises(EstimationError, match=r"no rows for .*comparison firms in 2018"):
        did_2x2(frame.assign(treat=1), yname="y", tname="year", idname="firm", treatname="treat", pre=2018,
                post=2020)


def test_error_singular_design() -> None:
    frame = make_panel(1).assign(copy_treat=lambda f: f["treat"] * 2.0)
    with pytest.raises(EstimationError, match="is singular"):
        did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020,
                covariates=["copy_treat"])


def test_error_clusters() -> None:
    frame = make_panel(1).assign(one=1, few=lambda f: f["firm"] % 5)
    with pytest.raises(EstimationError, match="at least 2 clusters"):
        did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020,
                cluster="one")
    with pytest.warns(EstimationWarning, match="only 5 clusters"):
        did_2x2(frame, yname="y", tname="year", idname="firm", treatname="treat", pre=2018, post=2020,
                cluster="few")
