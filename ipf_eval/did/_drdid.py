"""Sant'Anna and Zhao (2020) two-period difference-in-differences estimators with influence functions.

Private building blocks of :func:`ipf_eval.did.att_gt.att_gt`.  Each function estimates one two-period,
two-group ATT on the units (panel) or rows (repeated cross-sections) of one ``(g, t)`` comparison and
returns the estimate with its influence function on that sample, scaled as in R's ``DRDID`` package:
``Var(att) ≈ mean(psi**2) / n``.

Panel estimators (``dy = Y_t - Y_b``, ``d`` treated indicator, ``x`` design with an intercept column):

* :func:`panel_dr` -- the doubly robust estimator (logit propensity score, OLS outcome regression on the
  comparison units), ``DRDID::drdid_panel``;
* :func:`panel_ipw` -- the normalised (Hájek) inverse-probability-weighted estimator,
  ``DRDID::std_ipw_did_panel``;
* :func:`panel_reg` -- the outcome-regression estimator, ``DRDID::reg_did_panel``.

Repeated cross-section estimators (``y`` outcome, ``post`` indicator of the later period):
:func:`rc_dr` (locally efficient, ``DRDID::drdid_rc``), :func:`rc_ipw` (``std_ipw_did_rc``) and
:func:`rc_reg` (``reg_did_rc``).

Propensity scores above ``1 - 1e-6`` are capped, and comparison units with scores of at least
:data:`TRIM_LEVEL` get zero weight, as in ``DRDID``; the number trimmed is returned so that the caller
can warn with the ``(g, t)`` cell named.

References
----------
Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators.
*Journal of Econometrics* 219(1), 101-122.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ipf_eval.errors import EstimationError

__all__ = ["TRIM_LEVEL", "TwoPeriodFit", "panel_dr", "panel_ipw", "panel_reg", "rc_dr", "rc_ipw", "rc_reg"]

FloatArray = NDArray[np.float64]

#: Comparison units with a propensity score at or above this level get zero weight (as in DRDID).
TRIM_LEVEL = 0.995
_PS_CAP = 1.0 - 1e-6


@dataclass(frozen=True)
class TwoPeriodFit:
    """Estimate and influence function of one two-period comparison."""

    att: float
    inf_func: FloatArray
    n_trimmed: int = 0


def _check_design(x: FloatArray, rows: NDArray[np.bool_], what: str, label: str) -> None:
    sub = x[rows]
    if sub.shape[0] < x.shape[1] or np.linalg.matrix_rank(sub) < x.shape[1]:
        raise EstimationError(
            f"the covariate design is singular among the {what} ({int(rows.sum())} rows) for {label}: a "
            "covariate is constant there or collinear with others (e.g. constant within a cohort); drop or "
            "recode it, or use fewer covariates"
        )


@dataclass(frozen=True)
class _OlsDesign:
    """What a weighted OLS on given rows needs besides the outcome (shared by every outcome)."""

    wr: FloatArray  # weights, zero outside the rows
    xw: FloatArray  # x * wr
    xtwx: FloatArray
    xpx_inv: FloatArray


def _ols_design(
    x: FloatArray, w: FloatArray, rows: NDArray[np.bool_], label: str, what: str
) -> _OlsDesign:
    _check_design(x, rows, what, label)
    n = x.shape[0]
    wr = w * rows
    xw = x * wr[:, None]
    xtwx = xw.T @ x
    return _OlsDesign(wr, xw, xtwx, np.linalg.inv(xtwx / n))


def _ols_fit(y: FloatArray, x: FloatArray, des: _OlsDesign) -> tuple[FloatArray, FloatArray]:
    coef = np.linalg.solve(des.xtwx, des.xw.T @ y)
    fitted = x @ coef
    resid = y - fitted
    alr = ((des.wr * resid)[:, None] * x) @ des.xpx_inv
    return fitted, alr


def _ols(
    y: FloatArray, x: FloatArray, w: FloatArray, rows: NDArray[np.bool_], label: str, what: str
) -> tuple[FloatArray, FloatArray]:
    """Weighted OLS on ``rows``: fitted values for all rows and the asymptotic linear representation."""
    return _ols_fit(y, x, _ols_design(x, w, rows, label, what))


def _logit(d: FloatArray, x: FloatArray, w: FloatArray, label: str) -> tuple[FloatArray, FloatArray]:
    """Weighted logit of ``d`` on ``x`` by Newton-Raphson to full precision.

    Returns the fitted probabilities and the asymptotic linear representation ``score @ (H/n)^{-1}``.
    """
    _check_design(x, np.ones(d.shape[0], dtype=bool), "treated and comparison units", label)
    n = d.shape[0]
    p1 = float(np.sum(w * d) / np.sum(w))
    beta = np.zeros(x.shape[1])
    beta[0] = np.log(p1 / (1.0 - p1))
    converged = False
    for _ in range(100):
        eta = x @ beta
        if np.max(np.abs(eta)) > 35.0:
            break
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = x.T @ (w * (d - p))
        hess = (x * (w * p * (1.0 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.max(np.abs(step)) < 1e-11 * (1.0 + np.max(np.abs(beta))):
            converged = True
            break
    if not converged:
        raise EstimationError(
            f"no overlap for {label}: the propensity score model separates the treated cohort from the "
            "comparison units (scores at 0 or 1); use fewer or coarser covariates, or est_method='reg'"
        )
    eta = x @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    hess = (x * (w * p * (1.0 - p))[:, None]).T @ x
    alr = ((w * (d - p))[:, None] * x) @ np.linalg.inv(hess / n)
    return p, alr


def _trim(ps: FloatArray, d: FloatArray) -> tuple[FloatArray, FloatArray, int]:
    ps = np.minimum(ps, _PS_CAP)
    keep = np.where(d == 1.0, True, ps < TRIM_LEVEL)
    return ps, keep.astype(np.float64), int(np.sum(~keep))


def _norm(w: FloatArray) -> FloatArray:
    return w / np.mean(w)


def _guard(value: float, what: str, label: str) -> None:
    if not value > 0.0:
        raise EstimationError(
            f"no {what} carry weight for {label} (all trimmed or absent); the cohort and its comparison "
            "units do not overlap -- use fewer covariates or a different control_group"
        )


@dataclass(frozen=True)
class _PanelWeights:
    """The parts of a panel estimator that do not depend on the outcome (one per sample of units)."""

    w_t: FloatArray
    w_c: FloatArray
    alr_ps: FloatArray
    n_trim: int


def _panel_weights(
    d: FloatArray, x: FloatArray, w: FloatArray, label: str, cache: dict[str, Any] | None
) -> _PanelWeights:
    """Propensity-score weights of a panel sample (computed once per sample when ``cache`` is given)."""
    if cache is not None and "ps" in cache:
        pw: _PanelWeights = cache["ps"]
        return pw
    ps_full, alr_ps = _logit(d, x, w, label)
    ps, trim, n_trim = _trim(ps_full, d)
    w_t = trim * w * d
    w_c = trim * w * ps * (1.0 - d) / (1.0 - ps)
    pw = _PanelWeights(w_t, w_c, alr_ps, n_trim)
    if cache is not None:
        cache["ps"] = pw
    return pw


def _panel_ols(
    x: FloatArray, w: FloatArray, d: FloatArray, label: str, cache: dict[str, Any] | None
) -> _OlsDesign:
    if cache is not None and "ols" in cache:
        des: _OlsDesign = cache["ols"]
        return des
    des = _ols_design(x, w, d == 0.0, label, "comparison units")
    if cache is not None:
        cache["ols"] = des
    return des


def panel_dr(
    dy: FloatArray,
    d: FloatArray,
    x: FloatArray,
    w: FloatArray,
    label: str,
    cache: dict[str, Any] | None = None,
) -> TwoPeriodFit:
    r"""Doubly robust panel DiD (``DRDID::drdid_panel``).

    ``cache`` (optional, a dict owned by the caller) keeps the propensity score and the regression
    design between calls on the same units, treatment and weights with different outcomes.

    Notes
    -----
    .. math:: \widehat{ATT} = \frac{\sum_i w_i D_i(\Delta Y_i - \hat\mu_0(X_i))}{\sum_i w_i D_i}
       - \frac{\sum_i w_i \frac{\hat p(X_i)(1-D_i)}{1-\hat p(X_i)}(\Delta Y_i - \hat\mu_0(X_i))}
       {\sum_i w_i \frac{\hat p(X_i)(1-D_i)}{1-\hat p(X_i)}}
    """
    w = _norm(w)
    pw = _panel_weights(d, x, w, label, cache)
    w_t, w_c, alr_ps = pw.w_t, pw.w_c, pw.alr_ps
    des = _panel_ols(x, w, d, label, cache)
    _guard(float(np.sum(w_c)), "comparison units", label)
    n = dy.shape[0]
    key = "dr_terms"
    if cache is not None and key in cache:
        m_t, m_c, lev_t, lev_c = cache[key]
    else:
        # alr_ols @ v = (wr * resid) * (x @ xpx_inv @ v): the outcome-free part, per sample
        m_t, m_c = float(np.mean(w_t)), float(np.mean(w_c))
        lev_t = x @ (des.xpx_inv @ (x.T @ w_t / n))
        lev_c = x @ (des.xpx_inv @ (x.T @ w_c / n))
        if cache is not None:
            cache[key] = (m_t, m_c, lev_t, lev_c)
    # skinny products by einsum, not BLAS: many small calls, where threaded BLAS only adds overhead
    coef = np.linalg.solve(des.xtwx, np.einsum("ij,i->j", des.xw, dy))
    r = dy - np.einsum("ij,j->i", x, coef)
    wres = des.wr * r
    eta_t = float(np.einsum("i,i->", w_t, r)) / n / m_t
    eta_c = float(np.einsum("i,i->", w_c, r)) / n / m_c
    inf_t = (w_t * (r - eta_t) - wres * lev_t) / m_t
    wc_r = w_c * (r - eta_c)
    m2 = np.einsum("ij,i->j", x, wc_r) / n
    inf_c = (wc_r + np.einsum("ij,j->i", alr_ps, m2) - wres * lev_c) / m_c
    return TwoPeriodFit(eta_t - eta_c, inf_t - inf_c, pw.n_trim)


def panel_ipw(
    dy: FloatArray,
    d: FloatArray,
    x: FloatArray,
    w: FloatArray,
    label: str,
    cache: dict[str, Any] | None = None,
) -> TwoPeriodFit:
    """Normalised IPW panel DiD (``DRDID::std_ipw_did_panel``); ``cache`` as in :func:`panel_dr`."""
    w = _norm(w)
    pw = _panel_weights(d, x, w, label, cache)
    w_t, w_c, alr_ps, n_trim = pw.w_t, pw.w_c, pw.alr_ps, pw.n_trim
    _guard(float(np.sum(w_c)), "comparison units", label)
    m_t, m_c = float(np.mean(w_t)), float(np.mean(w_c))
    eta_t = float(np.mean(w_t * dy)) / m_t
    eta_c = float(np.mean(w_c * dy)) / m_c
    inf_t = w_t * (dy - eta_t) / m_t
    m2 = np.mean((w_c * (dy - eta_c))[:, None] * x, axis=0)
    inf_c = (w_c * (dy - eta_c) + alr_ps @ m2) / m_c
    return TwoPeriodFit(eta_t - eta_c, inf_t - inf_c, n_trim)


def panel_reg(
    dy: FloatArray,
    d: FloatArray,
    x: FloatArray,
    w: FloatArray,
    label: str,
    cache: dict[str, Any] | None = None,
) -> TwoPeriodFit:
    """Outcome-regression panel DiD (``DRDID::reg_did_panel``); ``cache`` as in :func:`panel_dr`."""
    w = _norm(w)
    out, alr_ols = _ols_fit(dy, x, _panel_ols(x, w, d, label, cache))
    w_t = w * d
    m_t = float(np.mean(w_t))
    eta_t = float(np.mean(w_t * dy)) / m_t
    eta_c = float(np.mean(w_t * out)) / m_t
    inf_t = w_t * (dy - eta_t) / m_t
    inf_c = (w_t * (out - eta_c) + alr_ols @ np.mean(w_t[:, None] * x, axis=0)) / m_t
    return TwoPeriodFit(eta_t - eta_c, inf_t - inf_c, 0)


def _mean_ratio(num: FloatArray, den: FloatArray) -> float:
    return float(np.mean(num)) / float(np.mean(den))


def rc_dr(
    y: FloatArray, post: FloatArray, d: FloatArray, x: FloatArray, w: FloatArray, label: str
) -> TwoPeriodFit:
    """Locally efficient doubly robust DiD for repeated cross-sections (``DRDID::drdid_rc``)."""
    w = _norm(w)
    ps_full, alr_ps = _logit(d, x, w, label)
    ps, trim, n_trim = _trim(ps_full, d)
    c0, c1 = (d == 0.0) & (post == 0.0), (d == 0.0) & (post == 1.0)
    t0, t1 = (d == 1.0) & (post == 0.0), (d == 1.0) & (post == 1.0)
    for rows, what in (
        (c0, "comparison units in the base period"),
        (c1, "comparison units in period t"),
        (t0, "treated units in the base period"),
        (t1, "treated units in period t"),
    ):
        if not rows.any():
            raise EstimationError(f"no {what} for {label}; this comparison cannot be estimated")
    f_c0, a_c0 = _ols(y, x, w, c0, label, "comparison units in the base period")
    f_c1, a_c1 = _ols(y, x, w, c1, label, "comparison units in period t")
    f_t0, a_t0 = _ols(y, x, w, t0, label, "treated units in the base period")
    f_t1, a_t1 = _ols(y, x, w, t1, label, "treated units in period t")
    f_c = post * f_c1 + (1.0 - post) * f_c0
    odds = ps / (1.0 - ps)
    w_tpre, w_tpost = trim * w * d * (1.0 - post), trim * w * d * post
    w_cpre = trim * w * odds * (1.0 - d) * (1.0 - post)
    w_cpost = trim * w * odds * (1.0 - d) * post
    _guard(float(np.sum(w_cpre)) * float(np.sum(w_cpost)), "comparison units", label)
    w_d, w_dt1, w_dt0 = trim * w * d, trim * w * d * post, trim * w * d * (1.0 - post)
    r = y - f_c
    e_tpre = w_tpre * r / np.mean(w_tpre)
    e_tpost = w_tpost * r / np.mean(w_tpost)
    e_cpre = w_cpre * r / np.mean(w_cpre)
    e_cpost = w_cpost * r / np.mean(w_cpost)
    e_dpost = w_d * (f_t1 - f_c1) / np.mean(w_d)
    e_dt1 = w_dt1 * (f_t1 - f_c1) / np.mean(w_dt1)
    e_dpre = w_d * (f_t0 - f_c0) / np.mean(w_d)
    e_dt0 = w_dt0 * (f_t0 - f_c0) / np.mean(w_dt0)
    a_tpre, a_tpost = float(np.mean(e_tpre)), float(np.mean(e_tpost))
    a_cpre, a_cpost = float(np.mean(e_cpre)), float(np.mean(e_cpost))
    a_dpost, a_dt1 = float(np.mean(e_dpost)), float(np.mean(e_dt1))
    a_dpre, a_dt0 = float(np.mean(e_dpre)), float(np.mean(e_dt0))
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre) + (a_dpost - a_dt1) - (a_dpre - a_dt0)

    def cm(v: FloatArray) -> FloatArray:
        return np.mean(v[:, None] * x, axis=0)

    inf_tpre = e_tpre - w_tpre * a_tpre / np.mean(w_tpre)
    inf_tpost = e_tpost - w_tpost * a_tpost / np.mean(w_tpost)
    m1_post = -cm(w_tpost * post) / np.mean(w_tpost)
    m1_pre = -cm(w_tpre * (1.0 - post)) / np.mean(w_tpre)
    inf_treat = inf_tpost - inf_tpre + a_c1 @ m1_post + a_c0 @ m1_pre
    inf_cpre = e_cpre - w_cpre * a_cpre / np.mean(w_cpre)
    inf_cpost = e_cpost - w_cpost * a_cpost / np.mean(w_cpost)
    m2_pre = cm(w_cpre * (r - a_cpre)) / np.mean(w_cpre)
    m2_post = cm(w_cpost * (r - a_cpost)) / np.mean(w_cpost)
    m3_post = -cm(w_cpost * post) / np.mean(w_cpost)
    m3_pre = -cm(w_cpre * (1.0 - post)) / np.mean(w_cpre)
    inf_cont = inf_cpost - inf_cpre + alr_ps @ (m2_post - m2_pre) + a_c1 @ m3_post + a_c0 @ m3_pre
    inf_eff = (
        (e_dpost - w_d * a_dpost / np.mean(w_d))
        - (e_dt1 - w_dt1 * a_dt1 / np.mean(w_dt1))
        - (e_dpre - w_d * a_dpre / np.mean(w_d))
        + (e_dt0 - w_dt0 * a_dt0 / np.mean(w_dt0))
    )
    mom_post = cm(w_d / np.mean(w_d) - w_dt1 / np.mean(w_dt1))
    mom_pre = cm(w_d / np.mean(w_d) - w_dt0 / np.mean(w_dt0))
    inf_or = (a_t1 - a_c1) @ mom_post - (a_t0 - a_c0) @ mom_pre
    return TwoPeriodFit(att, inf_treat - inf_cont + inf_eff + inf_or, n_trim)


def rc_ipw(
    y: FloatArray, post: FloatArray, d: FloatArray, x: FloatArray, w: FloatArray, label: str
) -> TwoPeriodFit:
    """Normalised IPW DiD for repeated cross-sections (``DRDID::std_ipw_did_rc``)."""
    w = _norm(w)
    ps_full, alr_ps = _logit(d, x, w, label)
    ps, trim, n_trim = _trim(ps_full, d)
    odds = ps / (1.0 - ps)
    w_tpre, w_tpost = trim * w * d * (1.0 - post), trim * w * d * post
    w_cpre = trim * w * odds * (1.0 - d) * (1.0 - post)
    w_cpost = trim * w * odds * (1.0 - d) * post
    for v, what in (
        (w_tpre, "treated units in the base period"),
        (w_tpost, "treated units in period t"),
        (w_cpre, "comparison units in the base period"),
        (w_cpost, "comparison units in period t"),
    ):
        _guard(float(np.sum(v)), what, label)
    a_tpre, a_tpost = _mean_ratio(w_tpre * y, w_tpre), _mean_ratio(w_tpost * y, w_tpost)
    a_cpre, a_cpost = _mean_ratio(w_cpre * y, w_cpre), _mean_ratio(w_cpost * y, w_cpost)
    att = (a_tpost - a_tpre) - (a_cpost - a_cpre)
    inf_treat = w_tpost * (y - a_tpost) / np.mean(w_tpost) - w_tpre * (y - a_tpre) / np.mean(w_tpre)
    inf_cont = w_cpost * (y - a_cpost) / np.mean(w_cpost) - w_cpre * (y - a_cpre) / np.mean(w_cpre)
    m2_pre = np.mean((w_cpre * (y - a_cpre))[:, None] * x, axis=0) / np.mean(w_cpre)
    m2_post = np.mean((w_cpost * (y - a_cpost))[:, None] * x, axis=0) / np.mean(w_cpost)
    inf_cont = inf_cont + alr_ps @ (m2_post - m2_pre)
    return TwoPeriodFit(att, inf_treat - inf_cont, n_trim)


def rc_reg(
    y: FloatArray, post: FloatArray, d: FloatArray, x: FloatArray, w: FloatArray, label: str
) -> TwoPeriodFit:
    """Outcome-regression DiD for repeated cross-sections (``DRDID::reg_did_rc``)."""
    w = _norm(w)
    c0, c1 = (d == 0.0) & (post == 0.0), (d == 0.0) & (post == 1.0)
    f_pre, a_pre = _ols(y, x, w, c0, label, "comparison units in the base period")
    f_post, a_post = _ols(y, x, w, c1, label, "comparison units in period t")
    w_tpre, w_tpost, w_c = w * d * (1.0 - post), w * d * post, w * d
    for v, what in ((w_tpre, "treated units in the base period"), (w_tpost, "treated units in period t")):
        _guard(float(np.sum(v)), what, label)
    e_tpre, e_tpost = _mean_ratio(w_tpre * y, w_tpre), _mean_ratio(w_tpost * y, w_tpost)
    e_c = _mean_ratio(w_c * (f_post - f_pre), w_c)
    att = (e_tpost - e_tpre) - e_c
    inf_treat = w_tpost * (y - e_tpost) / np.mean(w_tpost) - w_tpre * (y - e_tpre) / np.mean(w_tpre)
    m1 = np.mean(w_c[:, None] * x, axis=0)
    inf_c = (w_c * (f_post - f_pre - e_c) + a_post @ m1 - a_pre @ m1) / np.mean(w_c)
    return TwoPeriodFit(att, inf_treat - inf_c, 0)
