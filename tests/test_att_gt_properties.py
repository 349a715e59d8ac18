"""Invariance properties of att_gt and aggregate (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt
from ipf_eval.errors import DataWarning

COLS: dict[str, Any] = {"yname": "y", "tname": "year", "idname": "firm", "gname": "first"}
KINDS = ("simple", "group", "dynamic", "calendar")


def panel(seed: int = 0, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice([0, 2002, 2003, 2004], size=n, p=[0.4, 0.2, 0.2, 0.2])
    years = np.arange(2001, 2005)
    firm = np.repeat(np.arange(n) * 7 + 3, years.size)
    year = np.tile(years, n)
    first = np.repeat(g, years.size)
    x = np.repeat(rng.normal(size=n), years.size)
    y = rng.normal(size=firm.size) + 0.5 * x + (year >= first) * (first > 0) * 0.7
    return pd.DataFrame(
        {
            "firm": firm,
            "year": year,
            "first": first,
            "y": y,
            "x": x,
            "w": np.repeat(rng.uniform(0.5, 2.0, n), years.size),
        }
    )


SETTINGS = [
    {"est_method": "dr"},
    {"est_method": "dr", "covariates": ["x"]},
    {"est_method": "ipw", "covariates": ["x"], "control_group": "not_yet_treated"},
    {"est_method": "reg", "covariates": ["x"], "base_period": "universal", "weights": "w"},
    {"est_method": "dr", "covariates": ["x"], "panel": False, "cluster": "firm"},
]


def fit(data: pd.DataFrame, **kwargs: Any) -> tuple[Any, list[Any]]:
    res = att_gt(data, **COLS, bootstrap=False, **kwargs)
    return res, [aggregate(res, kind=k) for k in KINDS]


@settings(max_examples=8, deadline=None, derandomize=True)
@given(shift=st.floats(-1e3, 1e3, allow_nan=False), setting=st.sampled_from(SETTINGS))
def test_adding_a_constant_changes_nothing(shift: float, setting: dict[str, Any]) -> None:
    data = panel()
    base, base_aggs = fit(data, **setting)
    moved = data.assign(y=data["y"] + shift)
    res, aggs = fit(moved, **setting)
    np.testing.assert_allclose(res.att, base.att, rtol=0, atol=1e-9 * (1 + abs(shift)))
    np.testing.assert_allclose(res.std_error, base.std_error, rtol=1e-7, atol=1e-9 * (1 + abs(shift)))
    for a, b in zip(aggs, base_aggs, strict=True):
        assert a.overall_att == pytest.approx(b.overall_att, abs=1e-9 * (1 + abs(shift)))


@settings(max_examples=8, deadline=None, derandomize=True)
@given(
    scale=st.floats(1e-3, 1e3).map(lambda v: v * (1 if v > 0.5 else -1)), setting=st.sampled_from(SETTINGS)
)
def test_scaling_the_outcome_scales_effects_and_ses(scale: float, setting: dict[str, Any]) -> None:
    data = panel()
    base, base_aggs = fit(data, **setting)
    res, aggs = fit(data.assign(y=data["y"] * scale), **setting)
    np.testing.assert_allclose(res.att, scale * base.att, rtol=1e-8, atol=1e-12 * abs(scale))
    np.testing.assert_allclose(res.std_error, abs(scale) * base.std_error, rtol=1e-8)
    if base.pretest is not None and res.pretest is not None:
        assert res.pretest.statistic == pytest.approx(base.pretest.statistic, rel=1e-7)
    for a, b in zip(aggs, base_aggs, strict=True):
        assert a.overall_att == pytest.approx(scale * b.overall_att, rel=1e-8, abs=1e-12)
        assert a.overall_std_error == pytest.approx(abs(scale) * b.overall_std_error, rel=1e-8)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(perm_seed=st.integers(0, 2**31 - 1), setting=st.sampled_from(SETTINGS))
def test_permuting_rows_changes_nothing(perm_seed: int, setting: dict[str, Any]) -> None:
    data = panel()
    base = att_gt(data, **COLS, seed=3, n_boot=99, **setting)
    shuffled = data.sample(frac=1.0, random_state=perm_seed % (2**31))
    res = att_gt(shuffled, **COLS, seed=3, n_boot=99, **setting)
    np.testing.assert_allclose(res.att, base.att, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.std_error, base.std_error, rtol=1e-10)
    # units are ordered by id inside, so even the bootstrap draws coincide
    assert res.boot_std_error is not None
    assert base.boot_std_error is not None
    np.testing.assert_allclose(res.boot_std_error, base.boot_std_error, rtol=1e-10)
    for kind in KINDS:
        assert aggregate(res, kind=kind).overall_std_error == pytest.approx(
            aggregate(base, kind=kind).overall_std_error, rel=1e-10
        )


@settings(max_examples=4, deadline=None, derandomize=True)
@given(setting=st.sampled_from(SETTINGS), panel_mode=st.booleans())
def test_callers_frame_is_not_modified(setting: dict[str, Any], panel_mode: bool) -> None:
    setting = {k: v for k, v in setting.items() if k != "panel"}
    data = panel(1)
    data.loc[3, "y"] = np.nan  # the contract drops it with a warning, on its own copy
    before = data.copy(deep=True)
    with pytest.warns(DataWarning, match="missing"):
        res = att_gt(data, **COLS, panel=panel_mode, n_boot=49, seed=1, **setting)
    aggregate(res, kind="dynamic")
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(("kind", "third"), [("mammen", 1.0), ("rademacher", 0.0)])
def test_multiplier_moments(kind: str, third: float) -> None:
    from ipf_eval.inference.bootstrap import _multipliers

    v = _multipliers(np.random.default_rng(0), (1_000_000, 1), kind)
    # 1e6 draws: Monte Carlo standard errors about 1e-3 (mean, variance) and 2e-3 (third moment)
    assert abs(v.mean()) < 5e-3
    assert v.var() == pytest.approx(1.0, abs=5e-3)
    assert (v**3).mean() == pytest.approx(third, abs=1e-2)


def test_gaussian_draws_have_the_influence_function_covariance() -> None:
    from ipf_eval.inference.bootstrap import multiplier_draws
    from ipf_eval.inference.influence import if_covariance

    rng = np.random.default_rng(4)
    inf = rng.normal(size=(300, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    draws = multiplier_draws(inf, n_boot=40_000, seed=1, kind="gaussian")
    np.testing.assert_allclose(np.cov(draws.T), if_covariance(inf), rtol=0.05, atol=1e-7)


@pytest.mark.parametrize(
    "setting",
    [
        {"est_method": "dr"},
        {"est_method": "reg", "control_group": "not_yet_treated"},
        {"est_method": "dr", "covariates": ["x"]},
        {"est_method": "ipw", "covariates": ["x"], "base_period": "universal"},
    ],
)
def test_block_influence_paths_equal_the_dense_path(setting: dict[str, Any]) -> None:
    """The per-cohort influence-function storage (fast path) equals the dense firms x cells path.

    Clustering by firm (one firm per cluster) forces the dense path; without clusters the block path
    runs.  Both must give the same ATT(g,t), SEs, pre-test and aggregated SEs, and the dense matrix
    rebuilt from the blocks must reproduce the reported SEs.
    """
    data = panel(seed=11, n=240).assign(cluster_id=lambda d: d["firm"])
    fast, fast_aggs = fit(data, **setting)
    dense, dense_aggs = fit(data, cluster="cluster_id", **setting)
    f, d = fast.to_frame(), dense.to_frame()
    np.testing.assert_allclose(f["estimate"], d["estimate"], rtol=0, atol=1e-12)
    # one firm per cluster: the cluster sandwich equals the unclustered one up to G/(G-1) = 1 exactly here
    np.testing.assert_allclose(f["std_error"], d["std_error"], rtol=1e-10)
    for a, b in zip(fast_aggs, dense_aggs, strict=True):
        np.testing.assert_allclose(a.to_frame()["std_error"], b.to_frame()["std_error"], rtol=1e-10)
    inf = np.asarray(fast.influence_function)
    n = inf.shape[0]
    ses = np.sqrt(np.diag(inf.T @ inf) / n**2)
    reported = f["std_error"].to_numpy()
    estimated = np.isfinite(reported)  # the universal base period's reference cells have no SE
    assert estimated.sum() >= 9
    np.testing.assert_allclose(ses[estimated], reported[estimated], rtol=1e-10)
