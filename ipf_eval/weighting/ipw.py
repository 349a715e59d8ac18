"""Inverse probability weighting and doubly robust (AIPW) estimators of the ATT.

References
----------
Hirano, K., Imbens, G. W. and Ridder, G. (2003). Efficient estimation of average treatment effects using
the estimated propensity score. *Econometrica* 71(4), 1161-1189.

Robins, J. M., Rotnitzky, A. and Zhao, L. P. (1994). Estimation of regression coefficients when some
regressors are not always observed. *Journal of the American Statistical Association* 89, 846-866.

Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators. *Journal of
Econometrics* 219(1), 101-122.

Rosenbaum, P. R. and Rubin, D. B. (1983). The central role of the propensity score in observational
studies for causal effects. *Biometrika* 70(1), 41-55.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ipf_eval._cross_section import CrossSection, prepare_cross_section
from ipf_eval._defaults import (
    check_alpha,
    check_numbers_not_text,
    check_outcome_varies,
    keyword_options,
    user_stack_level,
)
from ipf_eval.errors import EstimationError, EstimationWarning, SpecificationError
from ipf_eval.inference.dense import DenseInfluence
from ipf_eval.results import Specification
from ipf_eval.weighting._result import EffectResult
from ipf_eval.weighting.balance import BalanceResult, balance_table
from ipf_eval.weighting.propensity import LogitFit, crump_alpha, fit_logit

__all__ = ["aipw", "ipw"]

Trim = Literal["none", "crump"] | float

#: Warn when one comparison firm carries more than this share of the total comparison weight.
_MAX_WEIGHT_SHARE = 0.10


@dataclass(frozen=True, eq=False)
class _Prepared:
    cs: CrossSection
    keep: np.ndarray
    fit: LogitFit
    n_trimmed: int
    trim_alpha: float
    notes: tuple[str, ...]


def _check_trim(trim: Trim, func: str) -> None:
    if isinstance(trim, str):
        if trim not in ("none", "crump"):
            raise SpecificationError(
                f"{func}(): `trim` must be 'none', 'crump' or a number in (0, 0.5); got {trim!r}."
            )
    elif isinstance(trim, bool) or not isinstance(trim, (int, float)) or not 0.0 < float(trim) < 0.5:
        raise SpecificationError(
            f"{func}(): `trim` must be 'none', 'crump' or a number in (0, 0.5); got {trim!r}."
        )


def prepare_weighting(
    data: pd.DataFrame, *, func: str, yname: str, treatname: str, covariates: Sequence[str], trim: Trim
) -> _Prepared:
    """Validate, fit the logit, trim (refitting on the trimmed sample) and check overlap."""
    _check_trim(trim, func)
    if isinstance(covariates, str):
        covariates = [covariates]
    cs = prepare_cross_section(data, func=func, treatname=treatname, yname=yname, covariates=covariates)
    check_numbers_not_text(cs.frame, covariates, function=func)
    check_outcome_varies(cs.y, column=yname, function=func)
    if not cs.xnames:
        raise SpecificationError(
            f"{func}(): `covariates` is empty; name at least one covariate of the "
            "propensity score (with none, use rct() for a difference in means)."
        )
    fit = fit_logit(cs.X, cs.d, cs.xnames, func=func)
    keep = np.ones(len(cs.d), dtype=bool)
    a = 0.0
    notes: list[str] = []
    if trim != "none":
        a = crump_alpha(fit.ps) if trim == "crump" else float(trim)
        keep = (fit.ps >= a) & (fit.ps <= 1 - a)
        n_out = int((~keep).sum())
        if n_out:
            nt, nc = int((~keep & (cs.d == 1)).sum()), int((~keep & (cs.d == 0)).sum())
            warnings.warn(
                f"{func}(): trimming (rule {trim!r}, alpha = {a:.4f}) dropped {n_out} of {len(keep)} firms "
                f"({nt} treated, {nc} comparison) with a propensity score outside [{a:.4f}, {1 - a:.4f}]; "
                "the estimand is the effect on the treated firms inside the overlap region.",
                EstimationWarning,
                stacklevel=user_stack_level(),
            )
            notes.append(f"Trimmed {n_out} firms ({nt} treated) with scores outside [{a:.4f}, {1 - a:.4f}].")
            d_kept = cs.d[keep]
            if d_kept.sum() == 0 or d_kept.sum() == d_kept.size:
                raise EstimationError(
                    f"{func}(): no treated or no comparison firm is left after trimming "
                    f"(alpha = {a:.4f}); there is no overlap. Revisit the covariates."
                )
            fit = fit_logit(cs.X[keep], d_kept, cs.xnames, func=func)
    d = cs.d[keep]
    p1, p0 = fit.ps[d == 1], fit.ps[d == 0]
    if p1.min() > p0.max() or p1.max() < p0.min():
        raise EstimationError(
            f"{func}(): no overlap: the propensity scores of treated firms lie in [{p1.min():.4f}, "
            f"{p1.max():.4f}] and those of comparison firms in [{p0.min():.4f}, {p0.max():.4f}]. Restrict "
            "`data` to comparable firms or change the covariates."
        )
    return _Prepared(
        cs=cs, keep=keep, fit=fit, n_trimmed=int((~keep).sum()), trim_alpha=a, notes=tuple(notes)
    )


def _weights_series(prep: _Prepared, w_used: np.ndarray) -> pd.Series:
    full = np.zeros(len(prep.cs.d))
    full[prep.keep] = w_used
    return pd.Series(full, index=prep.cs.frame.index, name="weight")


def _check_weights(w0: np.ndarray, func: str, notes: list[str]) -> None:
    share = float(w0.max() / w0.sum())
    if share > _MAX_WEIGHT_SHARE:
        msg = (
            f"{func}(): one comparison firm carries {100 * share:.1f}% of the total comparison weight; "
            "the estimate leans on a few firms. Consider trim='crump' and check overlap()."
        )
        warnings.warn(msg, EstimationWarning, stacklevel=user_stack_level())
        notes.append(f"Largest comparison weight share {100 * share:.1f}%.")


def _spec(func: str, prep: _Prepared, args: Mapping[str, object]) -> Specification:
    n = int(prep.keep.sum())
    return Specification(estimator=func, arguments=args, n_obs=n, n_units=n, dropped=prep.cs.dropped)


def _weighting_result(
    method: str,
    prep: _Prepared,
    d: np.ndarray,
    w0: np.ndarray,
    psi: np.ndarray,
    att: float,
    *,
    yname: str,
    treatname: str,
    covariates: Sequence[str],
    trim: Trim,
    alpha: float,
    n_control: int,
    notes: list[str],
    variance_method: str,
) -> EffectResult:
    """Assemble the result shared by :func:`ipw` and :func:`aipw`: SE from the influence function, balance."""
    se = float(np.sqrt(np.sum(psi**2)) / psi.size)
    w_all = np.where(d == 1, 1.0, w0 * (d.sum() / w0.sum()))
    bal = BalanceResult(
        table=balance_table(prep.cs.X[prep.keep], d, prep.cs.xnames, w_all),
        method="ipw",
        specification=_spec("balance", prep, {"treatname": treatname}),
    )
    args = {"yname": yname, "treatname": treatname, "covariates": list(covariates), "trim": trim,
            "alpha": alpha}
    return EffectResult(
        method=method,
        estimand="ATT",
        outcome=yname,
        estimate=att,
        std_error=se,
        alpha=alpha,
        n_treated=int(d.sum()),
        n_control=n_control,
        n_trimmed=prep.n_trimmed,
        balance=bal,
        variance_method=variance_method,
        specification=_spec(method, prep, args),
        weights=_weights_series(prep, w_all),
        influence=DenseInfluence(psi),
        notes=tuple(notes),
    )


@keyword_options
def ipw(
    data: pd.DataFrame,
    *,
    yname: str,
    treatname: str,
    covariates: Sequence[str],
    trim: Trim = "none",
    alpha: float = 0.05,
) -> EffectResult:
    r"""ATT by inverse probability weighting with normalised (Hajek) weights.

    Parameters
    ----------
    data
        One row per firm (not modified).
    yname
        Outcome column.
    treatname
        0/1 treatment column.
    covariates
        Covariates of the logit propensity score (categoricals dummy-coded).
    trim
        ``"none"``, ``"crump"`` (Crump et al. 2009 optimal threshold) or a fixed threshold in (0, 0.5).
    alpha
        Level of the confidence interval.

    Returns
    -------
    EffectResult

    Raises
    ------
    DataError
        Missing columns, a treatment that is not 0/1, a constant outcome, a covariate holding numbers stored
        as text.
    SpecificationError
        Invalid ``trim``, ``alpha`` or an empty ``covariates``; an unknown option.
    EstimationError
        Every firm treated or none; perfect separation; no overlap.

    Warns
    -----
    EstimationWarning
        Firms were trimmed (with the count), or one comparison firm carries > 10 % of the weight.

    Notes
    -----
    With :math:`\hat p(x)` from a logit,

    .. math:: \hat\tau_{ATT} = \frac{\sum_i D_i Y_i}{\sum_i D_i} -
              \frac{\sum_i (1-D_i)\hat w_i Y_i}{\sum_i (1-D_i)\hat w_i},\qquad
              \hat w_i = \frac{\hat p(X_i)}{1-\hat p(X_i)}.

    The standard error is :math:`\sqrt{\sum_i \hat\psi_i^2}/n` with the influence function
    :math:`\psi` that includes the estimation of the logit coefficients (Hirano, Imbens & Ridder 2003;
    the form of Sant'Anna & Zhao 2020's ``std_ipw`` with one period).

    References
    ----------
    Hirano, Imbens & Ridder (2003); Rosenbaum & Rubin (1983); Sant'Anna & Zhao (2020).
    """
    alpha = check_alpha(alpha, function="ipw")
    prep = prepare_weighting(
        data, func="ipw", yname=yname, treatname=treatname, covariates=covariates, trim=trim
    )
    d = prep.cs.d[prep.keep]
    y = np.asarray(prep.cs.y)[prep.keep]
    ps, Z = prep.fit.ps, prep.fit.Z
    w1 = d
    w0 = ps * (1 - d) / (1 - ps)
    notes = list(prep.notes)
    _check_weights(w0[d == 0], "ipw", notes)
    eta1 = np.sum(w1 * y) / np.sum(w1)
    eta0 = np.sum(w0 * y) / np.sum(w0)
    att = eta1 - eta0
    inf_treat = w1 * (y - eta1) / np.mean(w1)
    m2 = np.mean((w0 * (y - eta0))[:, None] * Z, axis=0)
    inf_cont = (w0 * (y - eta0) + prep.fit.linear_rep(d) @ m2) / np.mean(w0)
    return _weighting_result(
        "ipw", prep, d, w0, inf_treat - inf_cont, float(att), yname=yname, treatname=treatname,
        covariates=covariates, trim=trim, alpha=alpha, n_control=int((1 - d).sum()), notes=notes,
        variance_method="influence function incl. estimated propensity score",
    )


@keyword_options
def aipw(
    data: pd.DataFrame,
    *,
    yname: str,
    treatname: str,
    covariates: Sequence[str],
    trim: Trim = "none",
    alpha: float = 0.05,
) -> EffectResult:
    r"""Doubly robust (augmented IPW) ATT with an influence-function standard error.

    Parameters
    ----------
    data
        One row per firm (not modified).
    yname
        Outcome column.
    treatname
        0/1 treatment column.
    covariates
        Covariates of both the logit propensity score and the linear outcome model for comparison firms.
    trim
        ``"none"``, ``"crump"`` or a fixed threshold in (0, 0.5).
    alpha
        Level of the confidence interval.

    Returns
    -------
    EffectResult

    Raises
    ------
    DataError
        Missing columns, a treatment that is not 0/1, a constant outcome, a covariate holding numbers stored
        as text.
    SpecificationError
        Invalid ``trim``, ``alpha`` or an empty ``covariates``; an unknown option.
    EstimationError
        Every firm treated or none; perfect separation; no overlap; a singular outcome regression.

    Warns
    -----
    EstimationWarning
        Firms were trimmed (with the count), or one comparison firm carries > 10 % of the weight.

    Notes
    -----
    With :math:`\hat m_0(x) = x'\hat\beta_0` fitted by OLS on comparison firms and
    :math:`\hat w_i = \hat p(X_i)/(1-\hat p(X_i))`,

    .. math:: \hat\tau_{ATT} = \frac{\sum_i D_i (Y_i - \hat m_0(X_i))}{\sum_i D_i} -
              \frac{\sum_i (1-D_i)\hat w_i (Y_i - \hat m_0(X_i))}{\sum_i (1-D_i)\hat w_i}.

    It is consistent if either the logit or the linear outcome model is correct (Robins, Rotnitzky & Zhao
    1994). The standard error uses the influence function that accounts for the estimation of both
    nuisance models (the cross-sectional form of Sant'Anna & Zhao 2020's ``drdid_panel``).

    References
    ----------
    Robins, Rotnitzky & Zhao (1994); Sant'Anna & Zhao (2020); Hirano, Imbens & Ridder (2003).
    """
    alpha = check_alpha(alpha, function="aipw")
    prep = prepare_weighting(
        data, func="aipw", yname=yname, treatname=treatname, covariates=covariates, trim=trim
    )
    d = prep.cs.d[prep.keep]
    y = np.asarray(prep.cs.y)[prep.keep]
    ps, Z, n = prep.fit.ps, prep.fit.Z, d.size
    c = d == 0
    xtx = Z[c].T @ Z[c]
    if np.linalg.matrix_rank(xtx) < Z.shape[1]:
        raise EstimationError(
            f"aipw(): the outcome regression on comparison firms is singular (covariates "
            f"{list(prep.cs.xnames)!r}); drop covariates constant among comparison firms."
        )
    beta = np.linalg.solve(xtx, Z[c].T @ y[c])
    out = Z @ beta
    w1 = d
    w0 = ps * (1 - d) / (1 - ps)
    notes = list(prep.notes)
    _check_weights(w0[c], "aipw", notes)
    r = y - out
    eta1 = np.sum(w1 * r) / np.sum(w1)
    eta0 = np.sum(w0 * r) / np.sum(w0)
    att = eta1 - eta0
    # linear representation of the OLS coefficients (comparison firms only)
    lin_ols = (((1 - d) * r)[:, None] * Z) @ np.linalg.inv(xtx / n)
    lin_ps = prep.fit.linear_rep(d)
    inf_treat = (w1 * (r - eta1) - lin_ols @ np.mean(w1[:, None] * Z, axis=0)) / np.mean(w1)
    m2 = np.mean((w0 * (r - eta0))[:, None] * Z, axis=0)
    m3 = np.mean(w0[:, None] * Z, axis=0)
    inf_cont = (w0 * (r - eta0) + lin_ps @ m2 - lin_ols @ m3) / np.mean(w0)
    return _weighting_result(
        "aipw", prep, d, w0, inf_treat - inf_cont, float(att), yname=yname, treatname=treatname,
        covariates=covariates, trim=trim, alpha=alpha, n_control=int(c.sum()), notes=notes,
        variance_method="influence function incl. estimated propensity score and outcome model",
    )
