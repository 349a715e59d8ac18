"""IPW, AIPW, matching and conditional DiD on simulated data: recovery, double robustness, coverage, API."""

from __future__ import annotations

import dataclasses
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import EstimationWarning
from ipf_eval.results import TIDY_COLUMNS
from ipf_eval.weighting import aipw, conditional_did, ipw, match

matplotlib.use("Agg")


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def cross_section(n: int, seed: int, *, case: str = "both_right", effect: str = "constant") -> pd.DataFrame:
    """x1 ~ N(0,1), x2 ~ Bernoulli(0.4), sector in {a, b, c}.

    case "both_right": logit score and linear outcome in (x1, x2, sector) are both correct;
    "ps_right": outcome has x1^2 (the linear outcome model is wrong); "or_right": the score has x1^2
    (the logit in x1, x2, sector is wrong) while the outcome is linear.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    sector = rng.choice(np.array(["a", "b", "c"]), size=n)
    sb = (sector == "b").astype(float)
    index = -0.6 + 0.7 * x1 - 0.5 * x2 + 0.4 * sb
    if case == "or_right":
        index = -1.2 + 0.7 * x1 + 0.6 * x1**2 - 0.5 * x2
    d = (rng.random(n) < _expit(index)).astype(float)
    y0 = 1.0 + x1 + 0.5 * x2 - 0.3 * sb + rng.normal(size=n)
    if case == "ps_right":
        y0 = y0 + 1.5 * x1**2
    tau = 1.0 if effect == "constant" else 1.0 + 0.5 * x1
    return pd.DataFrame({"y": y0 + d * tau, "d": d, "x1": x1, "x2": x2, "sector": sector})


COVS = ["x1", "x2", "sector"]


def test_recovers_constant_effect_all_estimators():
    df = cross_section(3000, 1)
    for f, kw in ((ipw, {}), (aipw, {}), (match, {"n_neighbors": 4, "caliper": None})):
        res = f(df, yname="y", treatname="d", covariates=COVS, **kw)
        assert abs(res.estimate - 1.0) < 3.5 * res.std_error, (f.__name__, res.estimate, res.std_error)
        assert 0.02 < res.std_error < 0.2


def test_double_robustness():
    """AIPW is consistent when one of the two models is right; IPW is not when the score model is wrong."""
    n = 20000
    ps_right = cross_section(n, 2, case="ps_right")
    r = aipw(ps_right, yname="y", treatname="d", covariates=COVS)
    assert abs(r.estimate - 1.0) < 4 * r.std_error
    or_right = cross_section(n, 3, case="or_right")
    r_ipw = ipw(or_right, yname="y", treatname="d", covariates=COVS)
    assert abs(r_ipw.estimate - 1.0) > 4 * r_ipw.std_error  # the wrong score biases IPW: the test can fail
    r_dr = aipw(or_right, yname="y", treatname="d", covariates=COVS)
    assert abs(r_dr.estimate - 1.0) < 4 * r_dr.std_error


def _population_att(seed: int = 99, n: int = 2_000_000) -> float:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    sb = (rng.integers(0, 3, size=n) == 1).astype(float)
    p = _expit(-0.6 + 0.7 * x1 - 0.5 * x2 + 0.4 * sb)
    return float(1.0 + 0.5 * np.sum(p * x1) / np.sum(p))  # E[tau(X) | D=1] by weighting with p(X)


def test_aipw_monte_carlo_coverage():
    """500 replications, n = 400, heterogeneous effect: coverage of the 95% interval within 93-97%."""
    truth = _population_att()
    hits = []
    for rep in range(500):
        df = cross_section(400, 1000 + rep, effect="heterogeneous")
        lo, hi = aipw(df, yname="y", treatname="d", covariates=COVS).ci
        hits.append(lo <= truth <= hi)
    cover = float(np.mean(hits))
    assert 0.93 <= cover <= 0.97, cover


def test_ipw_se_close_to_monte_carlo_sd():
    """The influence-function SE (estimated score included) matches the sampling SD over 300 draws."""
    est, ses = [], []
    for rep in range(300):
        r = ipw(cross_section(500, 5000 + rep), yname="y", treatname="d", covariates=COVS)
        est.append(r.estimate)
        ses.append(r.std_error)
    assert np.mean(ses) == pytest.approx(np.std(est, ddof=1), rel=0.12)


def test_match_without_replacement_and_caliper():
    df = cross_section(1500, 7)
    r = match(df, yname="y", treatname="d", covariates=COVS, replace=False, caliper=None)
    assert r.n_control == r.n_treated  # one distinct control per treated firm
    w = r.weights
    assert set(np.unique(w[df["d"] == 0])) <= {0.0, 1.0}
    assert abs(r.estimate - 1.0) < 4 * r.std_error
    with pytest.warns(EstimationWarning, match=r"treated firms have no comparison firm within the caliper"):
        r2 = match(df, yname="y", treatname="d", covariates=COVS, caliper=0.0005)
    assert r2.n_treated < int(df["d"].sum())
    assert r2.n_trimmed == int(df["d"].sum()) - r2.n_treated


def test_trimming_warns_with_count():
    df = cross_section(2000, 8)
    df.loc[df.index[:40], "x1"] += 4.0  # a few extreme scores
    with pytest.warns(
        EstimationWarning, match=r"trimming \(rule 'crump', alpha = 0\.\d+\) dropped \d+ of 2000"
    ):
        r = aipw(df, yname="y", treatname="d", covariates=COVS, trim="crump")
    assert r.n_trimmed > 0
    assert r.n_treated + r.n_control + r.n_trimmed == 2000
    assert (r.weights[r.weights.index[:40]] == 0).sum() > 0


def _panel(n: int, seed: int) -> pd.DataFrame:
    """Two periods; selection on a firm level a_i and on x; trend depends on x (conditional PT holds)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    a = rng.normal(size=n)
    d = (rng.random(n) < _expit(-0.5 + 0.8 * x + 1.0 * a)).astype(float)
    y0 = 2.0 + a + 0.5 * x + rng.normal(scale=0.5, size=n)
    y1 = 2.0 + a + 0.5 * x + (0.3 + 0.6 * x) + 1.0 * d + rng.normal(scale=0.5, size=n)
    ids = np.arange(n)
    return pd.concat(
        [
            pd.DataFrame({"firm": ids, "year": 2018, "y": y0, "d": d, "x": x}),
            pd.DataFrame({"firm": ids, "year": 2020, "y": y1, "d": d, "x": x}),
        ],
        ignore_index=True,
    )


def test_conditional_did_recovers_effect_and_agrees_with_moderndid():
    moderndid = pytest.importorskip("moderndid")
    pan = _panel(3000, 11)
    res = conditional_did(pan, yname="y", tname="year", idname="firm", treatname="d", covariates=["x"])
    assert res.method == "conditional_did:aipw"
    assert abs(res.estimate - 1.0) < 4 * res.std_error
    post = pan[pan.year == 2020]
    cross = aipw(post, yname="y", treatname="d", covariates=["x"])  # ignores a_i: biased
    assert abs(cross.estimate - 1.0) > 4 * cross.std_error
    pre, post = pan[pan.year == 2018].sort_values("firm"), post.sort_values("firm")
    Z = np.column_stack([np.ones(len(pre)), pre["x"].to_numpy()])
    ref = moderndid.drdid_panel(
        post["y"].to_numpy(), pre["y"].to_numpy(), pre["d"].to_numpy(), Z, trim_level=1.0
    )
    assert res.estimate == pytest.approx(ref.att, rel=1e-6)
    assert res.std_error == pytest.approx(ref.se, rel=1e-5)
    ref_ipw = moderndid.std_ipw_did_panel(
        post["y"].to_numpy(), pre["y"].to_numpy(), pre["d"].to_numpy(), Z, trim_level=1.0
    )
    r_ipw = conditional_did(
        pan, yname="y", tname="year", idname="firm", treatname="d", covariates=["x"], method="ipw"
    )
    assert r_ipw.estimate == pytest.approx(ref_ipw.att, rel=1e-6)
    assert r_ipw.std_error == pytest.approx(ref_ipw.se, rel=1e-5)
    r_m = conditional_did(
        pan,
        yname="y",
        tname="year",
        idname="firm",
        treatname="d",
        covariates=["x"],
        method="match",
        n_neighbors=4,
        caliper=None,
    )
    assert abs(r_m.estimate - 1.0) < 4 * r_m.std_error
    assert r_m.specification.n_obs == 2 * 3000


def test_result_api_and_data_untouched():
    df = cross_section(800, 12)
    before = df.copy()
    for f, kw in ((ipw, {}), (aipw, {}), (match, {"caliper": None})):
        res = f(df, yname="y", treatname="d", covariates=COVS, alpha=0.1, **kw)
        frame = res.to_frame()
        assert list(frame.columns[:7]) == list(TIDY_COLUMNS)
        assert frame.loc[0, "ci_low"] == pytest.approx(res.estimate - 1.6448536 * res.std_error, rel=1e-6)
        text = res.summary().as_text()
        assert "ATT" in text
        assert "<table" in res.summary().as_html()
        json.dumps(res.to_dict())
        assert "weights" not in res.to_dict()  # nothing per firm
        ax = res.plot()
        assert ax.get_xlabel().startswith("absolute standardised mean difference")
        with pytest.raises(dataclasses.FrozenInstanceError):
            res.estimate = 0.0  # type: ignore[misc]
        assert res.weights.index.equals(df.index)
    pd.testing.assert_frame_equal(df, before)
