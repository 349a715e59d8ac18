"""att_gt and aggregate on mpdta against R did 2.5.1 (see tests/reference/mpdta/README.md).

Reference values are R's full-precision ``bstrap=FALSE`` output; the second code path for settings R's
values do not cover (not-yet-treated controls, universal base period, covariates, repeated cross-sections)
is moderndid's independent ``att_gt``/``aggte``, which agrees with R where both are available.
"""

from __future__ import annotations

import json
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.did import _drdid
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt
from ipf_eval.errors import DataWarning, SpecificationError

matplotlib.use("Agg")

REF = Path(__file__).parent / "reference" / "mpdta"
EST_ATOL = 1e-10  # R's values agree across implementations to ~1e-15
SE_RTOL = 1e-9  # ... and to ~1e-14 for analytic standard errors
COLS: dict[str, Any] = {"yname": "lemp", "tname": "year", "idname": "countyreal", "gname": "first.treat"}


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    path = files("moderndid") / "core" / "datasets" / "mpdta_long.pkl.gz"
    data = pd.read_pickle(str(path))
    counts = data.groupby("first.treat")["countyreal"].nunique().to_dict()
    assert counts == {0: 309, 2004: 20, 2006: 40, 2007: 131}
    assert data.shape[0] == 2500
    assert sorted(data["year"].unique()) == [2003, 2004, 2005, 2006, 2007]
    return data


@pytest.fixture(scope="module")
def fits(mpdta: pd.DataFrame) -> dict[str, Any]:
    return {m: att_gt(mpdta, **COLS, est_method=m, seed=20210101) for m in ("dr", "ipw")}


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_att_gt_matches_r(fits: dict[str, Any], method: str) -> None:
    ref = pd.read_csv(REF / "r_did_attgt.csv")
    ref = ref[ref["scenario"] == f"mpdta_nev_{method}"]
    res = fits[method]
    np.testing.assert_array_equal(res.group, ref["group"])
    np.testing.assert_array_equal(res.time, ref["t"])
    np.testing.assert_allclose(res.att, ref["att"], rtol=0, atol=EST_ATOL)
    np.testing.assert_allclose(res.std_error, ref["se"], rtol=SE_RTOL)


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_pretest_matches_r(fits: dict[str, Any], method: str) -> None:
    ref = pd.read_csv(REF / "r_did_pretest.csv").set_index("scenario").loc[f"mpdta_nev_{method}"]
    pre = fits[method].pretest
    assert pre is not None
    assert pre.df == 5
    assert pre.statistic == pytest.approx(ref["W"], rel=1e-9)
    assert pre.p_value == pytest.approx(ref["Wpval"], abs=1e-5)


@pytest.mark.parametrize("method", ["dr", "ipw"])
@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_r(fits: dict[str, Any], method: str, kind: str) -> None:
    ref = pd.read_csv(REF / "r_did_aggte.csv")
    ref = ref[(ref["scenario"] == f"mpdta_nev_{method}") & (ref["type"] == kind)]
    agg = aggregate(fits[method], kind=kind)
    assert agg.overall_att == pytest.approx(ref["overall_att"].iloc[0], abs=EST_ATOL)
    assert agg.overall_std_error == pytest.approx(ref["overall_se"].iloc[0], rel=SE_RTOL)
    if kind == "simple":
        assert agg.labels.size == 0
        return
    np.testing.assert_array_equal(agg.labels, ref["egt"].astype(int))
    np.testing.assert_allclose(agg.estimates, ref["att_egt"], rtol=0, atol=EST_ATOL)
    np.testing.assert_allclose(agg.std_error, ref["se_egt"], rtol=SE_RTOL)


def test_lpop_matches_published_table(mpdta: pd.DataFrame) -> None:
    pub = pd.read_csv(REF / "r_did_published_lpop.csv")
    res = att_gt(mpdta, **COLS, covariates=["lpop"], bootstrap=False)
    np.testing.assert_array_equal(res.group, pub["group"])
    np.testing.assert_allclose(res.att, pub["att_lpop"], rtol=0, atol=5e-5)
    assert res.pretest is not None
    assert res.pretest.p_value == pytest.approx(0.23267, abs=1e-5)


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_bootstrap_se_close_to_analytic(fits: dict[str, Any], method: str) -> None:
    res = fits[method]
    ratio = res.boot_std_error / res.std_error
    assert np.all(np.abs(ratio - 1.0) < 0.15), ratio
    assert res.critical_value is not None
    # a sup-t critical value over 12 estimates lies between the pointwise and the Bonferroni value
    assert 1.96 < res.critical_value < 3.2
    for kind in ("simple", "group", "dynamic", "calendar"):
        agg = aggregate(res, kind=kind)
        assert agg.overall_boot_std_error == pytest.approx(agg.overall_std_error, rel=0.15)
        if agg.boot_std_error is not None and agg.labels.size:
            np.testing.assert_allclose(agg.boot_std_error, agg.std_error, rtol=0.15)


def test_bootstrap_reproducible_with_seed(mpdta: pd.DataFrame) -> None:
    a = att_gt(mpdta, **COLS, seed=5, n_boot=199)
    b = att_gt(mpdta, **COLS, seed=5, n_boot=199)
    c = att_gt(mpdta, **COLS, seed=6, n_boot=199)
    assert a.boot_std_error is not None
    assert b.boot_std_error is not None
    np.testing.assert_array_equal(a.boot_std_error, b.boot_std_error)
    assert a.critical_value == b.critical_value
    assert c.boot_std_error is not None
    assert not np.array_equal(a.boot_std_error, c.boot_std_error)
    np.testing.assert_array_equal(
        aggregate(a, kind="dynamic").boot_std_error, aggregate(b, kind="dynamic").boot_std_error
    )


@pytest.mark.parametrize("weights", ["rademacher", "gaussian"])
def test_other_multipliers_agree_with_analytic(mpdta: pd.DataFrame, weights: str) -> None:
    res = att_gt(mpdta, **COLS, seed=11, boot_weights=weights)
    assert res.boot_std_error is not None
    np.testing.assert_allclose(res.boot_std_error, res.std_error, rtol=0.15)


def test_reg_without_covariates_is_difference_in_means(mpdta: pd.DataFrame) -> None:
    """Second code path: ATT(g,t) and its SE from plain cell means, written out with pandas."""
    res = att_gt(mpdta, **COLS, est_method="reg", bootstrap=False)
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first().reindex(wide.index)
    n = len(wide)
    for k, (grp, t, b) in enumerate(zip(res.group, res.time, res.base_time, strict=True)):
        expected_base = grp - 1 if t >= grp else t - 1
        assert b == expected_base
        dy = wide[t] - wide[b]
        treated, control = dy[g == grp], dy[g == 0]
        att = treated.mean() - control.mean()
        var = ((treated - treated.mean()) ** 2).sum() / len(treated) ** 2 + (
            (control - control.mean()) ** 2
        ).sum() / len(control) ** 2
        assert res.att[k] == pytest.approx(att, abs=1e-10)
        assert res.std_error[k] == pytest.approx(np.sqrt(var), rel=1e-10)
        assert res.n_treated[k] == len(treated)
        assert res.n_control[k] == len(control)
    assert res.n_units == n


def test_general_two_period_path_equals_fast_path(mpdta: pd.DataFrame) -> None:
    """The no-covariate shortcut equals the full DRDID formulas with an intercept-only design."""
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    g = mpdta.groupby("countyreal")["first.treat"].first().reindex(wide.index).to_numpy()
    keep = (g == 2006) | (g == 0)
    res = att_gt(mpdta, **COLS, bootstrap=False)
    k = int(np.nonzero((res.group == 2006) & (res.time == 2007))[0][0])
    # influence-function rows: firms ordered by cohort (never supported last), then by id
    order = np.lexsort((wide.index.to_numpy(), np.where(g == 0, 10_000, g)))
    keep, dy_order = keep[order], (wide[2007] - wide[2005]).to_numpy()[order]
    dy, d = dy_order[keep], (g[order][keep] == 2006).astype(float)
    x, w = np.ones((d.size, 1)), np.ones(d.size)
    n, n1 = res.n_units, d.size
    for fn in (_drdid.panel_dr, _drdid.panel_ipw, _drdid.panel_reg):
        fit = fn(dy, d, x, w, "test")
        assert fit.att == pytest.approx(res.att[k], abs=1e-12)
        full = res.influence_function[:, k]
        np.testing.assert_allclose((n / n1) * fit.inf_func, full[keep], atol=1e-10)
        assert np.all(full[~keep] == 0.0)


def _moderndid(data: pd.DataFrame, **kwargs: Any) -> Any:
    from moderndid import att_gt as m_att_gt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m_att_gt(data, boot=False, cband=False, **kwargs)


def _moderndid_agg(res: object, kind: str) -> Any:
    from moderndid import aggte

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return aggte(res, type=kind, boot=False, cband=False)


SCENARIOS = [
    ("not_yet_treated", "varying", None, "dr", 1e-10),
    ("never_treated", "universal", None, "dr", 1e-10),
    ("not_yet_treated", "universal", None, "ipw", 1e-10),
    # with covariates the logit is solved iteratively by both: agreement to ~1e-12
    ("never_treated", "varying", ["lpop"], "dr", 1e-8),
    ("never_treated", "varying", ["lpop"], "ipw", 1e-8),
    ("never_treated", "varying", ["lpop"], "reg", 1e-8),
    ("not_yet_treated", "universal", ["lpop"], "dr", 1e-8),
]


@pytest.mark.parametrize(("control", "base", "covs", "method", "tol"), SCENARIOS)
def test_agrees_with_moderndid(
    mpdta: pd.DataFrame, control: str, base: str, covs: list[str] | None, method: str, tol: float
) -> None:
    res = att_gt(
        mpdta,
        **COLS,
        control_group=control,
        base_period=base,
        covariates=covs,
        est_method=method,
        bootstrap=False,
    )
    ref = _moderndid(
        mpdta,
        yname="lemp",
        tname="year",
        idname="countyreal",
        gname="first.treat",
        control_group=control.replace("_", ""),
        base_period=base,
        xformla=None if covs is None else "~" + "+".join(covs),
        est_method=method,
    )
    np.testing.assert_array_equal(res.group, np.asarray(ref.groups))
    np.testing.assert_array_equal(res.time, np.asarray(ref.times))
    np.testing.assert_allclose(res.att, np.asarray(ref.att_gt), rtol=0, atol=tol)
    finite = np.isfinite(res.std_error)
    np.testing.assert_allclose(res.std_error[finite], np.asarray(ref.se_gt)[finite], rtol=tol * 10)
    assert res.pretest is not None
    assert res.pretest.statistic == pytest.approx(float(ref.wald_stat), rel=tol * 10)
    if base == "universal":
        ref_cells = res.time == res.group - 1
        assert np.all(res.att[ref_cells] == 0.0)
        assert np.all(np.isnan(res.std_error[ref_cells]))
    for kind in ("simple", "group", "dynamic", "calendar"):
        agg, magg = aggregate(res, kind=kind), _moderndid_agg(ref, kind)
        assert agg.overall_att == pytest.approx(magg.overall_att, abs=tol)
        assert agg.overall_std_error == pytest.approx(magg.overall_se, rel=tol * 10)
        if kind != "simple":
            np.testing.assert_allclose(agg.estimates, np.asarray(magg.att_by_event), atol=tol)
            ok = np.isfinite(agg.std_error)
            np.testing.assert_allclose(agg.std_error[ok], np.asarray(magg.se_by_event)[ok], rtol=tol * 10)


@pytest.mark.parametrize(("covs", "method"), [(None, "dr"), (["x"], "reg"), (["x"], "ipw"), (["x"], "dr")])
def test_repeated_cross_sections_agree_with_moderndid(
    mpdta: pd.DataFrame, covs: list[str] | None, method: str
) -> None:
    """panel=False: rows are independent draws (R's allow_unbalanced_panel / panel=FALSE path)."""
    rng = np.random.default_rng(3)
    rc = mpdta.sample(frac=0.7, random_state=1).reset_index(drop=True)
    rc["row"] = np.arange(len(rc))
    rc["x"] = rc["lpop"] + rng.normal(0.0, 0.1, len(rc))
    res = att_gt(
        rc,
        yname="lemp",
        tname="year",
        idname="row",
        gname="first.treat",
        covariates=covs,
        est_method=method,
        panel=False,
        bootstrap=False,
    )
    ref = _moderndid(
        rc,
        yname="lemp",
        tname="year",
        idname="row",
        gname="first.treat",
        panel=False,
        xformla=None if covs is None else "~x",
        est_method=method,
    )
    np.testing.assert_allclose(res.att, np.asarray(ref.att_gt), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.std_error, np.asarray(ref.se_gt), rtol=1e-8)
    assert res.n_units == len(rc)
    for kind in ("simple", "dynamic"):
        agg, magg = aggregate(res, kind=kind), _moderndid_agg(ref, kind)
        assert agg.overall_att == pytest.approx(magg.overall_att, abs=1e-9)
        assert agg.overall_std_error == pytest.approx(magg.overall_se, rel=1e-8)


def test_unbalanced_panel_is_pairwise_balanced(mpdta: pd.DataFrame) -> None:
    """Dropping one county-year changes only the ATT(g,t) that use that county in that year."""
    full = att_gt(mpdta, **COLS, bootstrap=False)
    county = mpdta["countyreal"].iloc[0]
    assert mpdta.loc[mpdta["countyreal"] == county, "first.treat"].iloc[0] == 2007
    drop = mpdta[(mpdta["countyreal"] == county) & (mpdta["year"] == 2005)].index
    part = att_gt(mpdta.drop(index=drop), **COLS, bootstrap=False)
    touched = ((part.time == 2005) | (part.base_time == 2005)) & (part.group == 2007)
    assert touched.sum() == 2
    np.testing.assert_allclose(part.att[~touched], full.att[~touched], rtol=0, atol=1e-12)
    assert np.all(np.abs(part.att[touched] - full.att[touched]) > 1e-6)
    assert part.n_units == full.n_units
    np.testing.assert_array_equal(part.n_treated[touched], full.n_treated[touched] - 1)
    # the changed cells equal the balanced estimator on the county-less sample
    rest = att_gt(mpdta[mpdta["countyreal"] != county], **COLS, bootstrap=False)
    np.testing.assert_allclose(part.att[touched], rest.att[touched], rtol=0, atol=1e-12)


def test_outputs(fits: dict[str, Any]) -> None:
    res = fits["dr"]
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
    assert {"group", "time", "event_time", "ci_kind"} <= set(frame.columns)
    assert sorted(frame["ci_kind"].unique()) == ["pointwise", "uniform"]
    point = frame[frame["ci_kind"] == "pointwise"]
    np.testing.assert_allclose(point["ci_high"] - point["estimate"], 1.959963984540054 * point["std_error"])
    uni = frame[frame["ci_kind"] == "uniform"]
    np.testing.assert_allclose(
        (uni["ci_high"] - uni["estimate"]).to_numpy(), res.critical_value * res.boot_std_error
    )
    assert "Pre-test" in str(res.summary())
    assert "<table" in res._repr_html_()
    assert "tabular" in res.summary().as_latex()
    json.dumps(res.to_dict())
    agg = aggregate(res, kind="dynamic")
    af = agg.to_frame()
    assert af["term"].iloc[0] == "overall (dynamic)"
    assert set(af.loc[1:, "ci_kind"]) == {"pointwise", "uniform"}
    assert af["event_time"].dropna().astype(int).tolist()[:7] == [-3, -2, -1, 0, 1, 2, 3]
    json.dumps(agg.to_dict())
    assert "dynamic" in str(agg)
    import matplotlib.pyplot as plt

    for obj in (res, agg, aggregate(res, kind="simple"), aggregate(res, kind="group")):
        fig, ax = plt.subplots()
        assert obj.plot(ax=ax) is ax
        plt.close(fig)
    fig, ax = plt.subplots()
    assert agg.plot(ax=ax, color="tab:green") is ax
    with pytest.raises(SpecificationError, match=r"colour.*color"):  # a keyword it would have ignored
        agg.plot(ax=ax, colour="tab:green")
    plt.close(fig)
    with pytest.raises(ValueError, match="read-only"):
        res.influence_function[0, 0] = 1.0
    with pytest.raises(AttributeError):
        res.att = np.zeros(3)


def test_weighted_aggregation_uses_weighted_cohort_shares(mpdta: pd.DataFrame) -> None:
    """With sampling weights the shares are weighted, as in R did (moderndid 0.2 ignores them in aggte)."""
    rng = np.random.default_rng(1)
    ids = mpdta["countyreal"].unique()
    weights = pd.Series(rng.uniform(0.5, 2.0, ids.size), index=ids)
    data = mpdta.assign(w=mpdta["countyreal"].map(weights))
    res = att_gt(data, **COLS, weights="w", bootstrap=False)
    units = data.groupby("countyreal")[["first.treat", "w"]].first()
    share = {g: float(units.loc[units["first.treat"] == g, "w"].sum()) for g in (2004, 2006, 2007)}
    post = res.time >= res.group
    pg = np.array([share[int(g)] for g in res.group])
    simple = float(np.sum(pg[post] * res.att[post]) / np.sum(pg[post]))
    assert aggregate(res, kind="simple").overall_att == pytest.approx(simple, abs=1e-12)
    dyn = aggregate(res, kind="dynamic")
    e = res.time - res.group
    for label, est in zip(dyn.labels, dyn.estimates, strict=True):
        m = e == label
        assert est == pytest.approx(float(np.sum(pg[m] * res.att[m]) / np.sum(pg[m])), abs=1e-12)
    # ATT(g, t) themselves agree with moderndid's weighted estimator
    ref = _moderndid(
        data, yname="lemp", tname="year", idname="countyreal", gname="first.treat", weightsname="w"
    )
    np.testing.assert_allclose(res.att, np.asarray(ref.att_gt), rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.std_error, np.asarray(ref.se_gt), rtol=1e-9)


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
def test_anticipation_agrees_with_moderndid(mpdta: pd.DataFrame, control: str) -> None:
    # with one period of anticipation cohort 2004 has no clean pre-period (2003 + 1): dropped, as in R
    with pytest.warns(DataWarning, match=r"dropped 20 firms of cohorts \[2004\]"):
        res = att_gt(mpdta, **COLS, anticipation=1, control_group=control, bootstrap=False)
    ref = _moderndid(
        mpdta,
        yname="lemp",
        tname="year",
        idname="countyreal",
        gname="first.treat",
        anticipation=1,
        control_group=control.replace("_", ""),
    )
    np.testing.assert_allclose(res.att, np.asarray(ref.att_gt), rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.std_error, np.asarray(ref.se_gt), rtol=1e-9)
    for kind in ("simple", "dynamic"):
        agg, magg = aggregate(res, kind=kind), _moderndid_agg(ref, kind)
        assert agg.overall_att == pytest.approx(magg.overall_att, abs=1e-10)
        assert agg.overall_std_error == pytest.approx(magg.overall_se, rel=1e-9)


def test_cluster_robust_standard_errors(mpdta: pd.DataFrame) -> None:
    """Clustering sums influence functions within clusters; one firm per cluster equals no clustering."""
    plain = att_gt(mpdta, **COLS, bootstrap=False)
    own = att_gt(mpdta.assign(cl=mpdta["countyreal"]), **COLS, cluster="cl", bootstrap=False)
    np.testing.assert_allclose(own.std_error, plain.std_error, rtol=1e-12)
    state = mpdta["countyreal"] // 1000  # the state part of the FIPS code: 29 states
    res = att_gt(mpdta.assign(state=state), **COLS, cluster="state", n_boot=199, seed=2)
    assert res.n_clusters == 29
    ids = np.sort(mpdta["countyreal"].unique())
    g = mpdta.groupby("countyreal")["first.treat"].first().reindex(ids).to_numpy()
    order = np.lexsort((ids, np.where(g == 0, 10_000, g)))  # influence-function row order
    codes = pd.factorize((ids // 1000)[order])[0]
    inf = res.influence_function
    sums = np.vstack([np.bincount(codes, weights=inf[:, k]) for k in range(inf.shape[1])]).T
    np.testing.assert_allclose(res.std_error, np.sqrt((sums**2).sum(axis=0)) / len(ids), rtol=1e-12)
    assert res.boot_std_error is not None
    np.testing.assert_allclose(res.boot_std_error, res.std_error, rtol=0.25)
    agg = aggregate(res, kind="simple")
    assert agg.overall_std_error != pytest.approx(aggregate(plain, kind="simple").overall_std_error, rel=1e-3)
