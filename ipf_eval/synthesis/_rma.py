r"""Numerical engine shared by :func:`meta_analysis` and :func:`meta_regression` (private).

The model is the (mixed-effects) meta-regression of Viechtbauer (2010, metafor's ``rma.uni``)

.. math:: y_i = x_i'\beta + u_i + e_i, \quad u_i \sim N(0, \tau^2), \quad e_i \sim N(0, v_i),

with known sampling variances :math:`v_i`.  Everything here works on plain numpy arrays; validation of user
input happens in the public modules.  Studies are few (countries, not firms), so dense ``k x k`` algebra
is used throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, stats

from ipf_eval.errors import EstimationError

__all__ = ["METHODS", "RmaFit", "check_design", "estimate_tau2", "fit_rma", "reml_loglik"]

#: Estimators of the between-study variance that the engine knows.
METHODS: tuple[str, ...] = ("reml", "dl", "pm", "fe")

_ROOT_XTOL = 1e-14
_MAX_DOUBLINGS = 200


@dataclass(frozen=True)
class RmaFit:
    """Everything one fit of the (mixed-effects) model produces; arrays are read-only copies."""

    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df_resid: int | None
    tau2: float
    tau2_se: float
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df1: int
    qm_df2: int | None
    qm_pvalue: float
    i2: float
    h2: float
    weights: np.ndarray
    k: int
    p: int
    crit: float


def _p_matrix(v_total: np.ndarray, X: np.ndarray) -> np.ndarray:
    r"""Return :math:`P = W - W X (X'WX)^{-1} X'W` with :math:`W = \mathrm{diag}(1/v)`.

    Computed as :math:`W^{1/2}(I - QQ')W^{1/2}` from the QR decomposition of :math:`W^{1/2}X`, which stays
    accurate when moderators are badly scaled (e.g. calendar years).
    """
    sw = 1.0 / np.sqrt(v_total)
    Q, _ = np.linalg.qr(X * sw[:, None])
    M = np.eye(len(v_total)) - Q @ Q.T
    return (sw[:, None] * M) * sw[None, :]


def _wls(y: np.ndarray, v_total: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Weighted least squares by QR: coefficients, :math:`(X'WX)^{-1}` and :math:`\log|X'WX|`."""
    sw = 1.0 / np.sqrt(v_total)
    Q, R = np.linalg.qr(X * sw[:, None])
    beta = linalg.solve_triangular(R, Q.T @ (y * sw))
    R_inv = linalg.solve_triangular(R, np.eye(R.shape[0]))
    logdet = float(2.0 * np.sum(np.log(np.abs(np.diag(R)))))
    return beta, R_inv @ R_inv.T, logdet


def reml_loglik(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    r"""Restricted log-likelihood of the model at ``tau2`` (up to an additive constant).

    .. math:: \ell_R(\tau^2) = -\tfrac12\Big[\sum_i \log(v_i+\tau^2)
              + \log|X'WX| + (y - X\hat\beta)'W(y - X\hat\beta)\Big]
    """
    v_total = v + tau2
    beta, _, logdet = _wls(y, v_total, X)
    resid = y - X @ beta
    return float(-0.5 * (np.sum(np.log(v_total)) + logdet + np.sum(resid**2 / v_total)))


def _find_root_decreasing(f: Callable[[float], float], start_upper: float) -> float:
    """Root of a function that is positive at 0 and eventually negative, by bracketing and Brent's method."""
    upper = max(start_upper, 1e-8)
    for _ in range(_MAX_DOUBLINGS):
        if not np.isfinite(upper):
            break
        if f(upper) < 0:
            root = optimize.brentq(f, 0.0, upper, xtol=_ROOT_XTOL, rtol=4 * np.finfo(float).eps, maxiter=500)
            return float(root)
        upper *= 2.0
    raise EstimationError(
        "the between-study variance tau2 could not be bracketed (its estimating equation stays positive up "
        f"to tau2={upper!r}); the estimates are too large for floating point: rescale them (e.g. report "
        "thousands of euro instead of euro)"
    )


def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    P0 = _p_matrix(v, X)
    qe = float(y @ P0 @ y)
    return max(0.0, (qe - (k - p)) / float(np.trace(P0)))


def _tau2_pm(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape

    def gen_q(t: float) -> float:
        return float(y @ _p_matrix(v + t, X) @ y) - (k - p)

    if gen_q(0.0) <= 0:
        return 0.0
    return _find_root_decreasing(gen_q, float(np.var(y)) + float(np.mean(v)))


def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    def score(t: float) -> float:
        P = _p_matrix(v + t, X)
        Py = P @ y
        return float(Py @ Py - np.trace(P))

    if score(0.0) <= 0:
        return 0.0
    return _find_root_decreasing(score, float(np.var(y)) + float(np.mean(v)))


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> float:
    """Between-study variance by ``method`` (one of :data:`METHODS`)."""
    if method == "fe":
        return 0.0
    if method == "dl":
        return _tau2_dl(y, v, X)
    if method == "pm":
        return _tau2_pm(y, v, X)
    return _tau2_reml(y, v, X)


def fit_rma(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    *,
    method: str,
    knapp_hartung: bool,
    alpha: float,
) -> RmaFit:
    r"""Fit the model; ``X`` includes the intercept column; requires ``k > p`` and full column rank.

    Tests of single coefficients use the normal distribution, or ``t(k - p)`` with the Knapp-Hartung
    variance :math:`s^2 (X'WX)^{-1}`, :math:`s^2 = \sum_i w_i (y_i - x_i'\hat\beta)^2 / (k - p)`
    (no truncation of :math:`s^2` at 1, as in metafor).  The omnibus test of all coefficients but the
    first (QM) is chi-square with ``p - 1`` df, or ``F(p - 1, k - p)`` with Knapp-Hartung.
    """
    k, p = X.shape
    tau2 = estimate_tau2(y, v, X, method)
    v_total = v + tau2
    w = 1.0 / v_total
    beta, vcov, _ = _wls(y, v_total, X)
    resid = y - X @ beta
    df_resid: int | None = None
    if knapp_hartung:
        df_resid = k - p
        s2 = float(np.sum(w * resid**2)) / df_resid
        vcov = vcov * s2
        crit = float(stats.t.isf(alpha / 2, df_resid))
    else:
        crit = float(stats.norm.isf(alpha / 2))
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = beta / se
    if df_resid is None:
        p_value = 2 * stats.norm.sf(np.abs(statistic))
    else:
        p_value = 2 * stats.t.sf(np.abs(statistic), df_resid)

    # Test for (residual) heterogeneity: always with the equal-effects weights 1 / v_i.
    P0 = _p_matrix(v, X)
    qe = float(y @ P0 @ y)
    qe_df = k - p
    qe_pvalue = float(stats.chi2.sf(qe, qe_df))

    # Omnibus test of the moderators (all coefficients except the intercept).
    qm_df1 = p - 1
    qm_df2: int | None = None
    if qm_df1 > 0:
        b2 = beta[1:]
        qm = float(b2 @ np.linalg.solve(vcov[1:, 1:], b2))
        if df_resid is None:
            qm_pvalue = float(stats.chi2.sf(qm, qm_df1))
        else:
            qm = qm / qm_df1
            qm_df2 = df_resid
            qm_pvalue = float(stats.f.sf(qm, qm_df1, qm_df2))
    else:
        qm, qm_pvalue = float("nan"), float("nan")

    # I^2 and H^2 as in metafor: with an estimated tau^2 relative to the "typical" sampling variance
    # s^2 = (k - p) / tr(P0) (Higgins & Thompson 2002); for the equal-effects model from QE.
    if method == "fe":
        i2 = max(0.0, (qe - qe_df) / qe) if qe > 0 else 0.0
        h2 = qe / qe_df
        tau2_se = float("nan")
    else:
        s2_typical = qe_df / float(np.trace(P0))
        i2 = tau2 / (tau2 + s2_typical)
        h2 = (tau2 + s2_typical) / s2_typical
        if method == "reml":
            P = _p_matrix(v_total, X)
            tau2_se = float(np.sqrt(2.0 / np.sum(P * P)))
        else:
            tau2_se = float("nan")

    def ro(a: np.ndarray) -> np.ndarray:
        out = np.array(a, dtype=float, copy=True)
        out.setflags(write=False)
        return out

    return RmaFit(
        beta=ro(beta),
        vcov=ro(vcov),
        se=ro(se),
        statistic=ro(statistic),
        p_value=ro(p_value),
        ci_low=ro(beta - crit * se),
        ci_high=ro(beta + crit * se),
        df_resid=df_resid,
        tau2=float(tau2),
        tau2_se=tau2_se,
        qe=qe,
        qe_df=qe_df,
        qe_pvalue=qe_pvalue,
        qm=qm,
        qm_df1=qm_df1,
        qm_df2=qm_df2,
        qm_pvalue=qm_pvalue,
        i2=float(i2),
        h2=float(h2),
        weights=ro(w),
        k=k,
        p=p,
        crit=crit,
    )


def check_design(X: np.ndarray, names: list[str]) -> None:
    """Raise :class:`EstimationError` when the design matrix is rank deficient."""
    rank = int(np.linalg.matrix_rank(X))
    if rank < X.shape[1]:
        raise EstimationError(
            f"the moderator design matrix with columns {names!r} has rank {rank} < {X.shape[1]} "
            "(a moderator is constant or collinear with others across the studies); drop or recode "
            "the offending moderator"
        )
