"""Tests of ipf_eval.synthesis.meta_regression.

Reference values: R metafor output in tests/reference/metafor/metafor_values.json (provenance in the
README there); tolerances at the printed precision (5e-5 for 4 decimals, 5e-3 for 2 decimals, I² and R² in
percent with 2 decimals).  Coefficient tables add a relative tolerance of 5e-5: metafor stops its Fisher
scoring once tau² changes by less than 1e-5, and with ``year`` (~1970) as a moderator the intercept moves
by 5.7e-4 per 1e-5 of tau², so metafor's printed 4th decimal can differ from the exact REML solution by
more than half a unit (intercept of ``~ ablat + year``: exact -3.54535, printed -3.5455).  Second code
paths for DL / PM / REML are written independently here.
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
from scipy import optimize

from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.synthesis import MetaRegressionResult, meta_analysis, meta_regression

matplotlib.use("Agg")

REF = Path(__file__).parent / "reference" / "metafor"
VALUES = json.loads((REF / "metafor_values.json").read_text(encoding="utf-8"))
P4 = 5e-5
P2 = 5e-3
RTOL = 5e-5  # metafor's convergence threshold for tau² (see module docstring)
R2_VALUES = json.loads((REF / "metafor_r2_values.json").read_text(encoding="utf-8"))


def bcg() -> pd.DataFrame:
    """dat.bcg with log risk ratios and their standard errors (metafor escalc(measure="RR"))."""
    d = pd.read_csv(REF / "dat_bcg.csv")
    n1, n2 = d["tpos"] + d["tneg"], d["cpos"] + d["cneg"]
    d["estimate"] = np.log(d["tpos"] / n1) - np.log(d["cpos"] / n2)
    d["std_error"] = np.sqrt(1 / d["tpos"] - 1 / n1 + 1 / d["cpos"] - 1 / n2)
    d["country"] = d["author"] + ", " + d["year"].astype(str)
    return d


def check_coefficients(res: MetaRegressionResult, ref: dict, stat_key: str = "zval",
                       skip_pval: tuple[int, ...] = ()) -> None:
    assert list(res.terms) == ref["terms"]
    frame = res.to_frame()
    assert frame["term"].tolist() == ref["terms"]
    np.testing.assert_allclose(frame["estimate"], ref["estimate"], atol=P4, rtol=RTOL)
    np.testing.assert_allclose(frame["std_error"], ref["se"], atol=P4, rtol=RTOL)
    np.testing.assert_allclose(frame["statistic"], ref[stat_key], atol=P4, rtol=RTOL)
    keep = [i for i in range(len(ref["terms"])) if i not in skip_pval]
    np.testing.assert_allclose(frame["p_value"].to_numpy()[keep], np.asarray(ref["pval"])[keep], atol=P4,
                               rtol=RTOL)
    np.testing.assert_allclose(frame["ci_low"], ref["ci_lb"], atol=P4, rtol=RTOL)
    np.testing.assert_allclose(frame["ci_high"], ref["ci_ub"], atol=P4, rtol=RTOL)


def check_heterogeneity(res: MetaRegressionResult, ref: dict) -> None:
    assert res.tau2 == pytest.approx(ref["tau2"], abs=P4)
    assert res.tau2_se == pytest.approx(ref["tau2_se"], abs=P4)
    assert res.tau == pytest.approx(ref["tau"], abs=P4)
    assert 100 * res.i2 == pytest.approx(ref["I2_percent"], abs=P2)
    assert res.h2 == pytest.approx(ref["H2"], abs=P2)
    assert 100 * res.r2 == pytest.approx(ref["R2_percent"], abs=P2)
    assert res.qe == pytest.approx(ref["QE"], abs=P4)
    assert res.qe_df == ref["QE_df"]


# --------------------------------------------------------------------------- published metafor output
def test_reml_two_numeric_moderators_match_metafor() -> None:
    ref = VALUES["bcg_mods_ablat_year"]
    res = meta_regression(bcg(), moderators=["ablat", "year"])
    check_coefficients(res, ref)
    check_heterogeneity(res, ref)
    assert res.qe_pvalue == pytest.approx(ref["QE_pval"], abs=P4)
    assert res.qm == pytest.approx(ref["QM"], abs=P4, rel=RTOL)
    assert res.qm_df1 == ref["QM_df"]
    assert res.qm_df2 is None
    assert res.qm_pvalue == pytest.approx(ref["QM_pval"], abs=P4)
    # R² is relative to the REML random-effects model without moderators
    assert res.tau2_re == pytest.approx(meta_analysis(bcg()).tau2, abs=1e-14)


def test_knapp_hartung_single_moderator_matches_metafor() -> None:
    """metafor's README prints tau² = 0.0764 where the exact REML solution is 0.076348 (both a score root
    and a direct maximisation agree to 1e-9, and the restricted likelihood is higher there than at 0.0764):
    its Fisher scoring stopped early.  Quantities that depend on tau² are therefore compared at one printed
    unit (tau², its SE), 0.02 percentage points (R²) or relative 1e-4 (F), the rest at printed precision.
    """
    ref = VALUES["bcg_mods_ablat_knha"]
    d = bcg()
    res = meta_regression(d, moderators="ablat", knapp_hartung=True)
    check_coefficients(res, ref, stat_key="tval")
    assert res.tau2 == pytest.approx(ref["tau2"], abs=1e-4)
    assert res.tau2_se == pytest.approx(ref["tau2_se"], abs=1e-4)
    assert res.tau == pytest.approx(ref["tau"], abs=1e-4)
    assert 100 * res.i2 == pytest.approx(ref["I2_percent"], abs=P2)
    assert res.h2 == pytest.approx(ref["H2"], abs=P2)
    assert 100 * res.r2 == pytest.approx(ref["R2_percent"], abs=0.02)
    assert res.qe == pytest.approx(ref["QE"], abs=P4)
    assert res.qe_df == ref["QE_df"]
    assert res.df_resid == 11
    assert res.qe_pvalue == pytest.approx(ref["QE_pval"], abs=P4)
    assert res.qm == pytest.approx(ref["F"], rel=1e-4)
    assert (res.qm_df1, res.qm_df2) == (ref["F_df1"], ref["F_df2"])
    assert res.qm_pvalue == pytest.approx(ref["F_pval"], abs=P4)
    assert res.to_frame()["df"].tolist() == [11, 11]
    # our tau² is the better maximiser of the restricted likelihood
    y, v = d["estimate"].to_numpy(), d["std_error"].to_numpy() ** 2
    X = np.column_stack([np.ones(len(d)), d["ablat"]])
    assert _neg_ll(res.tau2, y, v, X) < _neg_ll(ref["tau2"], y, v, X)


def test_factor_with_numeric_moderators_matches_metafor() -> None:
    ref = VALUES["bcg_mods_alloc_year_ablat"]
    res = meta_regression(bcg(), moderators=["alloc", "year", "ablat"])
    check_coefficients(res, ref)
    check_heterogeneity(res, ref)
    assert res.qe_pvalue == pytest.approx(ref["QE_pval"], abs=P4)
    # metafor's btt=2:3: the allocation factor tested jointly
    wt = res.wald_test(["alloc[random]", "alloc[systematic]"])
    assert wt.statistic == pytest.approx(ref["QM_btt_2_3"], abs=P4)
    assert wt.df1 == ref["QM_btt_df"]
    assert wt.df2 is None
    assert wt.p_value == pytest.approx(ref["QM_btt_pval"], abs=P4)
    assert json.loads(json.dumps(wt.to_dict()))["terms"] == ["alloc[random]", "alloc[systematic]"]


def test_factor_only_has_r2_floored_at_zero() -> None:
    ref = VALUES["bcg_mods_alloc"]
    res = meta_regression(bcg(), moderators="alloc")
    check_coefficients(res, ref)
    check_heterogeneity(res, ref)
    assert res.r2 == 0.0  # residual tau² (0.3615) exceeds the total tau² (0.3132): floored
    assert res.qm == pytest.approx(ref["QM"], abs=P4)
    assert res.qm_pvalue == pytest.approx(ref["QM_pval"], abs=P4)
    # the omnibus test equals a Wald test of all moderator terms
    wt = res.wald_test(list(res.terms[1:]))
    assert wt.statistic == pytest.approx(res.qm, rel=1e-12)


def test_equal_effects_meta_regression_matches_metafor() -> None:
    ref = VALUES["bcg_mods_ablat_year_fe"]
    res = meta_regression(bcg(), moderators=["ablat", "year"], method="fe")
    check_coefficients(res, ref, skip_pval=(1,))
    assert res.to_frame()["p_value"][1] < 1e-4  # printed as <.0001
    assert res.tau2 == 0.0
    # metafor: max(0, adjusted R² of the weighted least squares fit); was NaN here before issue 18
    assert 100 * res.r2 == pytest.approx(R2_VALUES["bcg_fe_ablat_year"]["R2_percent"], rel=1e-10)
    assert res.qe == pytest.approx(ref["QE"], abs=P4)
    assert res.qm == pytest.approx(ref["QM"], abs=P4)
    assert 100 * res.i2 == pytest.approx(ref["I2_percent"], abs=P2)
    assert res.h2 == pytest.approx(ref["H2"], abs=P2)


def homogeneous() -> pd.DataFrame:
    d = pd.read_csv(REF / "dat_homogeneous.csv")
    return d.assign(estimate=d["yi"], std_error=np.sqrt(d["vi"]), country=d["study"].astype(str))


@pytest.mark.parametrize(("key", "method"), [("homogeneous_reml_x", "reml"), ("homogeneous_dl_x", "dl")])
def test_r2_is_zero_without_heterogeneity_to_explain(key: str, method: str) -> None:
    """No between-study variance without moderators: metafor 3.8-1 reports R² = 0, not NaN (issue 18).

    Values: ``make_r2_reference.R`` (R ``rma(yi, vi, mods = ~ x, data = h)``); before the fix ``r2``
    was NaN here.
    """
    ref = R2_VALUES[key]
    assert R2_VALUES["homogeneous_reml_only"]["tau2"] == 0
    res = meta_regression(homogeneous(), moderators="x", method=method)
    assert res.tau2_re == 0.0
    assert res.tau2 == 0.0
    assert res.r2 == ref["R2_percent"] == 0
    np.testing.assert_allclose(res.coef, ref["beta"], rtol=1e-8)
    np.testing.assert_allclose(res.std_error, ref["se"], rtol=1e-8)
    assert "Pseudo-R²" in res.summary().as_text()


@pytest.mark.parametrize(
    ("key", "data", "moderators"),
    [("homogeneous_fe_x", homogeneous, "x"), ("bcg_fe_alloc", bcg, "alloc")],
)
def test_equal_effects_r2_is_metafors_weighted_adjusted_r2(key: str, data: Any, moderators: str) -> None:
    """``method="fe"``: metafor's max(0, adjusted R² of lm(yi ~ X, weights = 1/vi)); floored at 0."""
    ref = R2_VALUES[key]
    res = meta_regression(data(), moderators=moderators, method="fe")
    assert 100 * res.r2 == pytest.approx(ref["R2_percent"], rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(res.coef, ref["beta"], rtol=1e-8)


def test_equal_effects_r2_second_code_path() -> None:
    """The same adjusted R² from statsmodels' weighted least squares."""
    import statsmodels.api as sm

    d = homogeneous()
    fit = sm.WLS(d["estimate"], sm.add_constant(d[["x"]]), weights=1 / d["std_error"] ** 2).fit()
    res = meta_regression(d, moderators="x", method="fe")
    assert res.r2 == pytest.approx(max(0.0, fit.rsquared_adj), rel=1e-10)
    constant = d.assign(estimate=0.25)
    assert meta_regression(constant, moderators="x", method="fe").r2 == 0.0


# --------------------------------------------------------------------------- second code paths
def _design(d: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(d)), d["ablat"], d["year"]])


def _p(v: np.ndarray, X: np.ndarray) -> np.ndarray:
    W = np.diag(1 / v)
    return W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W


def test_dl_matches_method_of_moments_formula() -> None:
    d = bcg()
    y, v, X = d["estimate"].to_numpy(), d["std_error"].to_numpy() ** 2, _design(d)
    P0 = _p(v, X)
    expected = max(0.0, (y @ P0 @ y - (len(y) - 3)) / np.trace(P0))
    res = meta_regression(d, moderators=["ablat", "year"], method="dl")
    assert res.tau2 == pytest.approx(expected, rel=1e-10)
    W = np.diag(1 / (v + expected))
    beta = np.linalg.solve(X.T @ W @ X, X.T @ W @ y)
    np.testing.assert_allclose(res.coef, beta, rtol=1e-9)


def test_pm_solves_generalised_q_with_moderators() -> None:
    d = bcg()
    y, v, X = d["estimate"].to_numpy(), d["std_error"].to_numpy() ** 2, _design(d)
    res = meta_regression(d, moderators=["ablat", "year"], method="pm")
    assert res.tau2 > 0
    assert y @ _p(v + res.tau2, X) @ y == pytest.approx(len(y) - 3, abs=1e-9)


def _neg_ll(t: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Negative restricted log-likelihood (up to a constant), written independently of the library."""
    W = np.diag(1 / (v + t))
    A = X.T @ W @ X
    r = y - X @ np.linalg.solve(A, X.T @ W @ y)
    return float(0.5 * (np.sum(np.log(v + t)) + np.linalg.slogdet(A)[1] + r @ W @ r))


def test_reml_with_moderators_agrees_with_direct_maximisation() -> None:
    d = bcg()
    y, v, X = d["estimate"].to_numpy(), d["std_error"].to_numpy() ** 2, _design(d)
    opt = optimize.minimize_scalar(_neg_ll, bounds=(0.0, 5.0), args=(y, v, X), method="bounded",
                                   options={"xatol": 1e-12, "maxiter": 1000})
    res = meta_regression(d, moderators=["ablat", "year"])
    # the likelihood is flat near its maximum (curvature ~140), so a bounded search locates it to ~1e-7
    # and likelihood values agree to rounding noise (~1e-11 with years as a moderator)
    assert res.tau2 == pytest.approx(opt.x, abs=1e-6)
    assert _neg_ll(res.tau2, y, v, X) <= opt.fun + 1e-9


def test_meta_regression_with_dummy_equals_subgroup_means_under_fe() -> None:
    """With a binary moderator and tau² = 0 the coefficients are the two inverse-variance means."""
    d = bcg()
    d["high_latitude"] = d["ablat"] > 30
    res = meta_regression(d, moderators="high_latitude", method="fe")
    assert list(res.terms) == ["intercept", "high_latitude[True]"]
    lo = meta_analysis(d[~d["high_latitude"]], method="fe").estimate
    hi = meta_analysis(d[d["high_latitude"]], method="fe").estimate
    assert res.coef[0] == pytest.approx(lo, abs=1e-12)
    assert res.coef[1] == pytest.approx(hi - lo, abs=1e-12)


def test_categorical_reference_is_first_category() -> None:
    d = bcg()
    d["alloc"] = pd.Categorical(d["alloc"], categories=["random", "alternate", "systematic"])
    res = meta_regression(d, moderators="alloc")
    assert list(res.terms) == ["intercept", "alloc[alternate]", "alloc[systematic]"]
    default = meta_regression(bcg(), moderators="alloc")
    # same model, different parametrisation: identical fit
    assert res.tau2 == pytest.approx(default.tau2, abs=1e-12)
    assert res.coef[0] == pytest.approx(default.coef[0] + default.coef[1], abs=1e-10)


# --------------------------------------------------------------------------- result object
def test_result_is_frozen_input_untouched_and_serialisable() -> None:
    d = bcg()
    before = d.copy(deep=True)
    res = meta_regression(d, moderators=["alloc", "ablat"], knapp_hartung=True)
    pd.testing.assert_frame_equal(d, before)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.tau2 = 0.0  # type: ignore[misc]
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert [c["term"] for c in out["coefficients"]] == ["intercept", "alloc[random]", "alloc[systematic]",
                                                        "ablat"]
    assert out["specification"]["arguments"]["moderators"] == ["alloc", "ablat"]
    assert out["qm_df2"] == 9


def test_summary_and_plot() -> None:
    import matplotlib.pyplot as plt

    res = meta_regression(bcg(), moderators="ablat", knapp_hartung=True)
    text = str(res)
    assert "QM F(df1 = 1, df2 = 11)" in text
    assert "Pseudo-R²" in text
    assert "QE(df = 11)" in text
    _fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ablat"]
    assert res.plot() is not None
    plt.close("all")


# --------------------------------------------------------------------------- bad input
def test_moderator_not_in_frame() -> None:
    with pytest.raises(DataError, match=r"column 'latitude' \(parameter moderators\[0\]\) is not in effects"):
        meta_regression(bcg(), moderators=["latitude"])


def test_too_many_moderators_for_k() -> None:
    d = bcg().iloc[:4].copy()
    d["m1"], d["m2"], d["m3"] = np.arange(4.0), np.arange(4.0) ** 2, np.arange(4.0) ** 3
    with pytest.raises(SpecificationError, match=r"has 4 coefficients .* only k=4 studies"):
        meta_regression(d, moderators=["m1", "m2", "m3"])


def test_single_study_rejected() -> None:
    with pytest.raises(SpecificationError, match=r"at least 2 studies"):
        meta_regression(bcg().iloc[[0]], moderators="ablat")


def test_constant_moderator_is_singular() -> None:
    d = bcg()
    d["const"] = 1.0
    with pytest.raises(EstimationError, match=r"\['intercept', 'ablat', 'const'\] has rank 2 < 3"):
        meta_regression(d, moderators=["ablat", "const"])


def test_single_level_factor_is_rejected() -> None:
    d = bcg()
    d["region"] = "EU"
    with pytest.raises(EstimationError, match=r"moderator 'region' takes a single value \['EU'\]"):
        meta_regression(d, moderators=["ablat", "region"])


def test_missing_moderator_values() -> None:
    d = bcg()
    d.loc[2, "ablat"] = np.nan
    with pytest.raises(DataError, match=r"moderator column 'ablat' has 1 missing.*Rosenthal et al, 1960"):
        meta_regression(d, moderators="ablat")


def test_non_finite_moderator() -> None:
    d = bcg()
    d["ablat"] = d["ablat"].astype(float)
    d.loc[1, "ablat"] = np.inf
    with pytest.raises(DataError, match=r"moderator column 'ablat' has non-finite values"):
        meta_regression(d, moderators="ablat")


def test_empty_moderators() -> None:
    with pytest.raises(SpecificationError, match=r"moderators of meta_regression\(\) is empty"):
        meta_regression(bcg(), moderators=[])


def test_unknown_method_and_bad_knapp_hartung() -> None:
    with pytest.raises(SpecificationError, match=r"method of meta_regression\(\) must be one of"):
        meta_regression(bcg(), moderators="ablat", method="ml")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"knapp_hartung must be True or False"):
        meta_regression(bcg(), moderators="ablat", knapp_hartung=1)  # type: ignore[arg-type]


def test_bad_standard_error() -> None:
    d = bcg()
    d.loc[0, "std_error"] = 0.0
    with pytest.raises(DataError, match=r"zero or negative"):
        meta_regression(d, moderators="ablat")


def test_wald_test_unknown_term() -> None:
    res = meta_regression(bcg(), moderators="ablat")
    with pytest.raises(SpecificationError, match=r"unknown: \['year'\]"):
        res.wald_test(["year"])
    with pytest.raises(SpecificationError, match=r"non-empty list"):
        res.wald_test([])
    single = res.wald_test("ablat")
    assert single.statistic == pytest.approx(res.statistic[1] ** 2, rel=1e-12)
