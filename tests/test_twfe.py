"""Tests of ipf_eval.did.twfe: mpdta reference values, statsmodels/linearmodels agreement, invariances,
errors."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from ipf_eval.data.contract import validate_panel
from ipf_eval.did._demean import TwoWayProjector, alternating_projections, factorize
from ipf_eval.did.twfe import twfe
from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError

matplotlib.use("Agg")

REFERENCE = Path(__file__).parent / "reference" / "twfe" / "twfe_mpdta.csv"


def make_panel(seed: int, *, n_units: int = 80, n_periods: int = 6, drop_share: float = 0.0) -> pd.DataFrame:
    """Staggered panel with a time-varying covariate, firm-constant weights and 16 regions."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(1, n_units + 1), n_periods)
    t = np.tile(np.arange(1, n_periods + 1), n_units)
    g_unit = rng.choice([0, 3, 4, 6], size=n_units, p=[0.4, 0.2, 0.2, 0.2])
    g = g_unit[ids - 1]
    alpha = rng.normal(size=n_units)[ids - 1]
    x1 = rng.normal(size=ids.size) + 0.1 * t
    d = ((g > 0) & (t >= g)).astype(float)
    y = alpha + 0.2 * t + 0.5 * x1 + d * (1.0 + 0.3 * (t - g)) + rng.normal(size=ids.size)
    frame = pd.DataFrame({
        "firm": ids, "year": t, "g": g, "y": y, "x1": x1, "d": d.astype(int),
        "w": rng.uniform(0.5, 2.0, size=n_units)[ids - 1],
        "region": rng.integers(0, 16, size=n_units)[ids - 1],
    })
    if drop_share > 0:
        frame = frame.loc[rng.random(len(frame)) > drop_share].reset_index(drop=True)
    return frame


def dummy_ols(frame: pd.DataFrame, regressors: list[str], *, weights: str | None = None,
              cluster: str = "firm", use_correction: bool = True,
              ) -> sm.regression.linear_model.RegressionResults:
    """statsmodels (W)LS with explicit firm and year dummies: the second code path."""
    dummies = pd.get_dummies(frame[["firm", "year"]].astype(str), drop_first=True, dtype=float)
    exog = sm.add_constant(pd.concat([frame[regressors].astype(float), dummies], axis=1))
    model = (sm.WLS(frame["y"], exog, weights=frame[weights]) if weights else sm.OLS(frame["y"], exog))
    return model.fit(cov_type="cluster", cov_kwds={"groups": pd.factorize(frame[cluster])[0],
                                                    "use_correction": use_correction})


# -- published reference on mpdta ------------------------------------------------------------------

def test_mpdta_matches_reference_values(mpdta: pd.DataFrame) -> None:
    ref = pd.read_csv(REFERENCE)
    nested = twfe(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat")
    absorbed = twfe(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat",
                    df_correction="absorbed")
    coef = ref.loc[ref["quantity"] == "coefficient"].iloc[0]
    assert nested.estimate == pytest.approx(coef["value"], abs=coef["abs_tol"])
    for res, conv in ((nested, "nested"), (absorbed, "absorbed")):
        row = ref.loc[(ref["quantity"] == "std_error") & (ref["df_correction"] == conv)].iloc[0]
        assert res.std_error == pytest.approx(row["value"], abs=row["abs_tol"])
    assert nested.term == "first.treat_post"
    assert nested.n_clusters == 500
    assert nested.n_obs == 2500


def test_mpdta_linearmodels_at_test_time(mpdta: pd.DataFrame) -> None:
    from linearmodels import PanelOLS

    d = (mpdta["first.treat"] > 0) & (mpdta["year"] >= mpdta["first.treat"])
    panel = mpdta.assign(D=d.astype(float))
    indexed = panel.set_index(["countyreal", "year"])
    lm_default = PanelOLS(indexed["lemp"], indexed[["D"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True)
    lm_group = PanelOLS(indexed["lemp"], indexed[["D"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True, group_debias=True)
    ours = {c: twfe(panel, yname="lemp", tname="year", idname="countyreal", treatname="D", df_correction=c)
            for c in ("absorbed", "full")}
    assert ours["absorbed"].estimate == pytest.approx(float(lm_default.params["D"]), abs=1e-12)
    assert ours["absorbed"].std_error == pytest.approx(float(lm_default.std_errors["D"]), rel=1e-10)
    assert ours["full"].std_error == pytest.approx(float(lm_group.std_errors["D"]), rel=1e-10)


# -- second code path: statsmodels with dummies ----------------------------------------------------

@pytest.mark.parametrize("drop_share", [0.0, 0.25])
def test_equals_statsmodels_dummies(drop_share: float) -> None:
    frame = make_panel(3, drop_share=drop_share)
    ref = dummy_ols(frame, ["d", "x1"])
    res = twfe(frame, yname="y", tname="year", idname="firm", treatname="d", covariates=["x1"],
               df_correction="full")
    tab = res.to_frame().set_index("term")
    for name in ("d", "x1"):
        assert tab.loc[name, "estimate"] == pytest.approx(ref.params[name], rel=1e-10, abs=1e-12)
        assert tab.loc[name, "std_error"] == pytest.approx(ref.bse[name], rel=1e-10)
    np.testing.assert_allclose(res.vcov, ref.cov_params().loc[["d", "x1"], ["d", "x1"]].to_numpy(),
                               rtol=1e-9, atol=1e-14)


def test_nested_and_none_conventions_against_statsmodels() -> None:
    frame = make_panel(5, drop_share=0.2)
    raw = dummy_ols(frame, ["d"], use_correction=False)
    none = twfe(frame, yname="y", tname="year", idname="firm", treatname="d", df_correction="none")
    nested = twfe(frame, yname="y", tname="year", idname="firm", treatname="d")
    n, g = len(frame), frame["firm"].nunique()
    k_nested = 1 + frame["year"].nunique()  # firm effects are nested in the firm clusters
    assert none.std_error == pytest.approx(raw.bse["d"], rel=1e-10)
    factor = g / (g - 1) * (n - 1) / (n - k_nested)
    assert nested.std_error == pytest.approx(raw.bse["d"] * np.sqrt(factor), rel=1e-10)
    assert nested.correction_factor == pytest.approx(factor, rel=1e-14)


def test_weights_and_other_cluster_against_statsmodels() -> None:
    frame = make_panel(7, drop_share=0.15)
    ref = dummy_ols(frame, ["d", "x1"], weights="w", cluster="region")
    with pytest.warns(EstimationWarning, match=r"only 16 clusters in 'region'.*fewer than 20"):
        res = twfe(frame, yname="y", tname="year", idname="firm", treatname="d", covariates=["x1"],
                   weights="w", cluster="region", df_correction="full")
    assert res.estimate == pytest.approx(ref.params["d"], rel=1e-10)
    assert res.std_error == pytest.approx(ref.bse["d"], rel=1e-10)
    assert res.n_clusters == frame["region"].nunique()
    # firms are nested in regions here, so "nested" drops the firm effects from K
    with pytest.warns(EstimationWarning, match="only 16 clusters"):
        nested = twfe(frame, yname="y", tname="year", idname="firm", treatname="d", covariates=["x1"],
                      weights="w", cluster="region")
    raw = dummy_ols(frame, ["d", "x1"], weights="w", cluster="region", use_correction=False)
    n, g = len(frame), frame["region"].nunique()
    factor = g / (g - 1) * (n - 1) / (n - (2 + frame["year"].nunique()))
    assert nested.std_error == pytest.approx(raw.bse["d"] * np.sqrt(factor), rel=1e-10)


def test_nested_convention_when_clustering_by_period() -> None:
    """Period effects nested in period clusters do not count; firm effects (not nested) do: K = k + firms."""
    frame = make_panel(9, n_periods=12, drop_share=0.1)
    raw = dummy_ols(frame, ["d"], cluster="year", use_correction=False)
    with pytest.warns(EstimationWarning, match="only 12 clusters in 'year'"):
        nested = twfe(frame, yname="y", tname="year", idname="firm", treatname="d", cluster="year")
    n, g = len(frame), frame["year"].nunique()
    factor = g / (g - 1) * (n - 1) / (n - (1 + frame["firm"].nunique()))
    assert nested.std_error == pytest.approx(raw.bse["d"] * np.sqrt(factor), rel=1e-10)


def test_gname_path_equals_treatname_path() -> None:
    frame = make_panel(11)
    by_g = twfe(frame, yname="y", tname="year", idname="firm", gname="g")
    by_d = twfe(frame, yname="y", tname="year", idname="firm", treatname="d")
    assert by_g.term == "g_post"
    assert by_d.term == "d"
    assert by_g.estimate == pytest.approx(by_d.estimate, rel=1e-13)
    assert by_g.std_error == pytest.approx(by_d.std_error, rel=1e-12)


def test_exact_projection_equals_alternating_projections() -> None:
    frame = make_panel(13, drop_share=0.3)
    unit, n_units = factorize(frame["firm"])
    time, n_times = factorize(frame["year"])
    cols = frame[["y", "x1", "d"]].to_numpy(dtype=float)
    perm = np.random.default_rng(0).permutation(len(frame))  # unsorted firm codes: scatter/gather path
    for w in (None, frame["w"].to_numpy()):
        projector = TwoWayProjector.build(unit, n_units, time, n_times, w)
        assert projector.unit_starts is not None  # sorted firm codes: segment-sum path
        exact = projector.residualize(cols)
        iterated = alternating_projections(cols, [(unit, n_units), (time, n_times)], w, tol=1e-14)
        np.testing.assert_allclose(exact, iterated, rtol=0, atol=1e-10)
        shuffled = TwoWayProjector.build(unit[perm], n_units, time[perm], n_times,
                                         None if w is None else w[perm])
        assert shuffled.unit_starts is None
        np.testing.assert_allclose(shuffled.residualize(cols[perm]), exact[perm], rtol=0, atol=1e-12)


@pytest.mark.parametrize("values", [
    np.array([3, 3, 5, 9, 9, 9]),  # sorted integers: one pass
    np.array([2004, 2003, 2007, 2003, 2005]),  # compact range: lookup table
    np.array([10**12, 5, 10**12, 7]),  # wide range: pandas
    np.array(["b", "a", "c", "a"], dtype=object),  # strings: pandas
])
def test_factorize_paths_agree_with_pandas(values: np.ndarray) -> None:
    codes, n_levels = factorize(values)
    ref_codes, ref_levels = pd.factorize(values, sort=True)
    np.testing.assert_array_equal(codes, ref_codes)
    assert n_levels == len(ref_levels)


def test_alternating_projections_reports_non_convergence() -> None:
    frame = make_panel(13, drop_share=0.3)
    unit, n_units = factorize(frame["firm"])
    time, n_times = factorize(frame["year"])
    with pytest.raises(EstimationError, match="did not converge in 2 sweeps"):
        alternating_projections(frame[["y"]].to_numpy(), [(unit, n_units), (time, n_times)], max_iter=2)


# -- invariances -----------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(shift=st.floats(-1e3, 1e3), scale=st.floats(0.01, 100.0), seed=st.integers(0, 10_000))
def test_invariances(shift: float, scale: float, seed: int) -> None:
    frame = make_panel(seed % 50, n_units=40, drop_share=0.1)
    base = twfe(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["x1"])
    shifted = twfe(frame.assign(y=frame["y"] + shift), yname="y", tname="year", idname="firm", gname="g",
                   covariates=["x1"])
    scaled = twfe(frame.assign(y=frame["y"] * scale), yname="y", tname="year", idname="firm", gname="g",
                  covariates=["x1"])
    permuted = twfe(frame.sample(frac=1.0, random_state=seed), yname="y", tname="year", idname="firm",
                    gname="g", covariates=["x1"])
    assert shifted.estimate == pytest.approx(base.estimate, rel=1e-8, abs=1e-9 * (1 + abs(shift)))
    assert shifted.std_error == pytest.approx(base.std_error, rel=1e-6)
    assert scaled.estimate == pytest.approx(scale * base.estimate, rel=1e-9)
    assert scaled.std_error == pytest.approx(scale * base.std_error, rel=1e-9)
    assert permuted.estimate == pytest.approx(base.estimate, rel=1e-11)
    assert permuted.std_error == pytest.approx(base.std_error, rel=1e-10)


def test_caller_frame_not_modified() -> None:
    frame = make_panel(17, drop_share=0.1)
    before = frame.copy(deep=True)
    twfe(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["x1"], weights="w")
    twfe(frame, yname="y", tname="year", idname="firm", treatname="d")
    pd.testing.assert_frame_equal(frame, before)


def test_validated_panel_input_equals_frame_input() -> None:
    frame = make_panel(19)
    panel = validate_panel(frame, idname="firm", tname="year", gname="g", ynames="y", covariates=["x1"],
                           time_invariant_covariates=False)
    assert twfe(panel, yname="y", tname="year", idname="firm", gname="g", covariates=["x1"]).estimate == \
        pytest.approx(twfe(frame, yname="y", tname="year", idname="firm", gname="g",
                           covariates=["x1"]).estimate, rel=1e-13)


def test_missing_outcomes_dropped_with_count() -> None:
    frame = make_panel(23)
    holes = frame.assign(y=frame["y"].where(frame.index % 17 != 0))
    with pytest.warns(DataWarning, match="missing"):
        res = twfe(holes, yname="y", tname="year", idname="firm", gname="g")
    ref = twfe(frame.loc[frame.index % 17 != 0], yname="y", tname="year", idname="firm", gname="g")
    assert res.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert sum(d.n_rows for d in res.specification.dropped) == int((frame.index % 17 == 0).sum())


# -- result object ---------------------------------------------------------------------------------

def test_result_interface(mpdta: pd.DataFrame) -> None:
    res = twfe(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat", alpha=0.1)
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                       "ci_high"]
    assert frame["term"].tolist() == ["first.treat_post"]
    text = str(res.summary())
    for fragment in ("nested", "G/(G-1)", "Student t with 499 df"):
        assert fragment in text
    assert "<table" in res._repr_html_()
    assert "\\begin{tabular}" in res.summary().as_latex()
    payload = json.loads(json.dumps(res.to_dict()))
    assert payload["estimate"] == pytest.approx(res.estimate)
    assert payload["specification"]["arguments"]["gname"] == "first.treat"
    ax = res.plot()
    assert ax.get_title() == "TWFE: lemp"
    with pytest.raises(AttributeError):
        res.estimate = 0.0  # type: ignore[misc]
    from scipy import stats

    crit = stats.t.ppf(0.95, 499)
    assert res.ci_low == pytest.approx(res.estimate - crit * res.std_error, rel=1e-12)


# -- errors ----------------------------------------------------------------------------------------

def test_error_both_or_neither_treatment() -> None:
    frame = make_panel(1)
    with pytest.raises(SpecificationError, match="exactly one of treatname"):
        twfe(frame, yname="y", tname="year", idname="firm")
    with pytest.raises(SpecificationError, match="exactly one of treatname"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d", gname="g")


def test_error_treatname_not_binary() -> None:
    frame = make_panel(1).assign(d2=lambda f: f["d"] * 2)
    with pytest.raises(DataError, match=r"'d2' must be 0/1"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d2")


def test_error_treatname_missing_values() -> None:
    frame = make_panel(1).assign(d=lambda f: f["d"].astype(float).where(f.index != 3))
    with pytest.raises(DataError, match="missing values"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d")


@pytest.mark.parametrize(("value", "which"), [(0, "treated"), (1, "untreated")])
def test_error_no_treated_or_no_untreated(value: int, which: str) -> None:
    frame = make_panel(1).assign(d=value)
    with pytest.raises(EstimationError, match=f"no {which} observations"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d")


def test_error_treatment_collinear_with_period_effects() -> None:
    frame = make_panel(1)
    frame = frame.assign(d=(frame["year"] >= 4).astype(int))
    with pytest.raises(EstimationError, match=r"\['d'\] do not vary once firm and period fixed effects"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d")


def test_error_time_invariant_covariate() -> None:
    frame = make_panel(1).assign(size=lambda f: f["firm"] % 3)
    with pytest.raises(EstimationError, match=r"\['size'\] do not vary"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["size"])


def test_error_collinear_covariates() -> None:
    frame = make_panel(1).assign(x2=lambda f: 2 * f["x1"] + f["year"])
    with pytest.raises(EstimationError, match="collinear once firm and period fixed effects are removed"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", covariates=["x1", "x2"])


def test_error_single_cluster_and_warning_few_clusters() -> None:
    frame = make_panel(1).assign(one=1, few=lambda f: f["firm"] % 4)
    with pytest.raises(EstimationError, match="at least 2 clusters"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", cluster="one")
    with pytest.warns(EstimationWarning, match="only 4 clusters"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", cluster="few")


def test_error_bad_options() -> None:
    frame = make_panel(1)
    with pytest.raises(SpecificationError, match=r"df_correction=\.\.\.\) must be one of"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", df_correction="stata")
    with pytest.raises(SpecificationError, match=r"alpha of twfe\(\) must be a number strictly .*; got 1\.5"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", alpha=1.5)
    with pytest.raises(SpecificationError, match=r"covariates=\['x1'\] for one column"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", covariates="x1")
    with pytest.raises(SpecificationError, match=r"yname=\.\.\.\) must be a column name"):
        twfe(frame, yname=3, tname="year", idname="firm", gname="g")  # type: ignore[arg-type]


def test_error_data_type_and_columns() -> None:
    frame = make_panel(1)
    with pytest.raises(DataError, match="must be a pandas DataFrame or an ipf_eval ValidatedPanel"):
        twfe(frame.to_numpy(), yname="y", tname="year", idname="firm", gname="g")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"\['nope'\] are not in the data"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="nope")
    with pytest.raises(DataError, match="must be numeric"):
        twfe(frame.assign(sector=np.where(frame["x1"] > 0, "a", "b")), yname="y", tname="year",
             idname="firm", gname="g", covariates=["sector"])


def test_error_validated_panel_mismatch() -> None:
    frame = make_panel(1)
    panel = validate_panel(frame, idname="firm", tname="year", gname="g", ynames="y")
    with pytest.raises(SpecificationError, match=r"idname='id'\) does not match the validated panel"):
        twfe(panel, yname="y", tname="year", idname="id", gname="g")
    with pytest.raises(DataError, match=r"\['x1'\] are not in the validated panel"):
        twfe(panel, yname="y", tname="year", idname="firm", gname="g", covariates=["x1"])


def test_error_bad_weights() -> None:
    frame = make_panel(1)
    with pytest.raises(DataError, match="negative"):
        twfe(frame.assign(w=-frame["w"]), yname="y", tname="year", idname="firm", gname="g", weights="w")


def test_error_firm_with_zero_weight() -> None:
    frame = make_panel(1)
    frame = frame.assign(w=frame["w"].where(frame["firm"] != 1, 0.0))
    with pytest.raises(DataError, match=r"weights column 'w' is zero for 1 firm\(s\)"):
        twfe(frame, yname="y", tname="year", idname="firm", gname="g", weights="w")


def test_error_bad_weights_in_validated_panel() -> None:
    frame = make_panel(1).assign(v=lambda f: -f["w"])
    panel = validate_panel(frame, idname="firm", tname="year", gname="g", ynames="y", extra_columns=["v"])
    with pytest.raises(DataError, match=r"weights column 'v' must hold finite non-negative numbers"):
        twfe(panel, yname="y", tname="year", idname="firm", gname="g", weights="v")


def test_error_no_residual_degrees_of_freedom() -> None:
    frame = pd.DataFrame({"firm": [1, 1, 2, 2], "year": [1, 2, 1, 2], "y": [0.1, 0.4, 0.2, 1.3],
                          "d": [0, 0, 0, 1]})
    with pytest.raises(EstimationError, match="no residual degrees of freedom: 4 observations and 4"):
        twfe(frame, yname="y", tname="year", idname="firm", treatname="d", df_correction="full")
