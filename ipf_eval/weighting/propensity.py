"""Propensity scores by logit, with separation checks, and Crump et al. (2009) trimming.

References
----------
Rosenbaum, P. R. and Rubin, D. B. (1983). The central role of the propensity score in observational
studies for causal effects. *Biometrika* 70(1), 41-55.

Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009). Dealing with limited overlap in
estimation of average treatment effects. *Biometrika* 96(1), 187-199.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import DataError, EstimationError

__all__ = ["LogitFit", "crump_alpha", "fit_logit"]

#: Scores closer than this to 0 or 1 count as "perfectly predicted".
_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class LogitFit:
    r"""A fitted logit propensity model.

    Attributes
    ----------
    coef
        Coefficients, constant first.
    names
        ``("const", *covariates)``.
    Z
        Design matrix with the constant (``n × (k+1)``).
    ps
        Fitted scores.
    hessian_inv
        :math:`(Z' W Z / n)^{-1}` with :math:`W = \mathrm{diag}(p(1-p))`, used in influence functions.
    """

    coef: np.ndarray
    names: tuple[str, ...]
    Z: np.ndarray
    ps: np.ndarray
    hessian_inv: np.ndarray

    @property
    def logit(self) -> np.ndarray:
        r"""The linear index :math:`Z\hat\gamma` (the log-odds of the score)."""
        return np.asarray(self.Z @ self.coef)

    def linear_rep(self, d: np.ndarray) -> np.ndarray:
        r"""Asymptotic linear representation of :math:`\sqrt n(\hat\gamma-\gamma)` (``n × (k+1)``)."""
        return np.asarray(((d - self.ps)[:, None] * self.Z) @ self.hessian_inv)


def _separating_covariate(X: np.ndarray, d: np.ndarray, names: Sequence[str]) -> str | None:
    """Name a covariate that alone predicts treatment perfectly (complete or quasi-complete), if any."""
    t, c = d == 1, d == 0
    for j, name in enumerate(names):
        x = X[:, j]
        if x.max() == x.min():
            continue
        if x[t].min() > x[c].max() or x[t].max() < x[c].min():
            return f"{name!r} (the treated and comparison ranges do not overlap)"
        levels = np.unique(x)
        if levels.size == 2:
            for lev in levels:
                sel = x == lev
                share = d[sel].mean()
                if share in (0.0, 1.0) and sel.sum() >= 1:
                    group = "treated" if share == 1.0 else "comparison firms"
                    n_sel = int(sel.sum())
                    return f"{name!r} (every firm with {name}={lev:g} is among the {group}; {n_sel} firms)"
    return None


def _expit(eta: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * eta)))


def _newton_logit(Z: np.ndarray, d: np.ndarray, maxiter: int = 100) -> tuple[np.ndarray, bool]:
    """Maximise the logit log-likelihood by Newton-Raphson with step halving; return (coef, converged)."""

    def loglik(g: np.ndarray) -> float:
        eta = Z @ g
        return float(np.sum(d * eta - np.logaddexp(0.0, eta)))

    coef = np.zeros(Z.shape[1])
    ll = loglik(coef)
    for _ in range(maxiter):
        p = _expit(Z @ coef)
        grad = Z.T @ (d - p)
        hess = (Z * (p * (1 - p))[:, None]).T @ Z
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return coef, False
        t = 1.0
        while True:
            new = coef + t * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t /= 2
        coef, ll_old, ll = new, ll, ll_new
        if np.max(np.abs(t * step)) <= 1e-10 * (1.0 + np.max(np.abs(coef))) or abs(
            ll - ll_old
        ) <= 1e-15 * abs(ll):
            return coef, bool(np.all(np.isfinite(coef)))
    return coef, False


@keyword_options
def fit_logit(X: np.ndarray, d: np.ndarray, names: Sequence[str], *, func: str) -> LogitFit:
    r"""Fit :math:`P(D=1\mid X)` by logit (Newton-Raphson with step halving) and check for separation.

    Parameters
    ----------
    X
        Covariates without a constant.
    d
        Treatment 0/1.
    names
        Covariate names, for messages.
    func
        Public function name, for messages.

    Returns
    -------
    LogitFit

    Raises
    ------
    EstimationError
        Perfect or quasi-perfect separation (the covariate is named when one covariate alone separates),
        a singular design, or a fit that does not converge.
    """
    names = list(names)
    n = len(d)
    Z = np.column_stack([np.ones(n), X]) if X.size else np.ones((n, 1))
    rank = np.linalg.matrix_rank(Z.T @ Z / n)
    if rank < Z.shape[1]:
        raise EstimationError(
            f"{func}(): the covariates {names!r} are collinear (rank {rank} < {Z.shape[1]} columns with the "
            "constant); drop redundant covariates or dummy levels."
        )
    culprit = _separating_covariate(X, d, names) if X.size else None
    if culprit is not None:
        raise EstimationError(
            f"{func}(): perfect separation in the propensity-score logit: covariate {culprit}. The score is "
            "0 or 1 for those firms, so there is no overlap. Remedy: drop or coarsen that covariate, merge "
            "sparse categories, or restrict `data` to firms comparable on it."
        )
    coef, converged = _newton_logit(Z, d)
    ps = _expit(Z @ coef)
    extreme = (ps < _EPS) | (ps > 1 - _EPS)
    if (not converged and extreme.any()) or extreme.mean() > 0.5:
        raise EstimationError(
            f"{func}(): perfect (or quasi-perfect) separation in the propensity-score logit with covariates "
            f"{names!r}: {int(extreme.sum())} of {n} firms have a fitted score within {_EPS:g} of 0 or 1. "
            "No single covariate separates the groups, so a combination does; drop or coarsen covariates "
            "(interactions, fine categories) or restrict `data` to comparable firms."
        )
    if not converged:
        raise EstimationError(
            f"{func}(): the propensity-score logit did not converge with covariates {names!r}; rescale "
            "covariates (e.g. euros in thousands) or drop near-collinear ones."
        )
    W = ps * (1 - ps)
    hess = (Z * W[:, None]).T @ Z / n
    return LogitFit(coef=coef, names=("const", *names), Z=Z, ps=ps, hessian_inv=np.linalg.inv(hess))


@keyword_options
def crump_alpha(ps: np.ndarray) -> float:
    r"""Optimal trimming threshold of Crump, Hotz, Imbens and Mitnik (2009).

    Parameters
    ----------
    ps
        Estimated propensity scores.

    Returns
    -------
    float
        :math:`\alpha` in :math:`[0, 0.5)`; firms with scores outside :math:`[\alpha, 1-\alpha]` are dropped.

    Raises
    ------
    DataError
        If ``ps`` is not a non-empty 1-D array of numbers in :math:`[0, 1]`.

    Notes
    -----
    With :math:`g(x) = 1/(p(x)(1-p(x)))`, no trimming is optimal when
    :math:`\sup g \le 2\,E[g]`; otherwise :math:`\alpha` solves
    :math:`1/(\alpha(1-\alpha)) = 2\,E[g \mid g \le 1/(\alpha(1-\alpha))]`, found as in the paper by
    scanning the sorted :math:`g` values. The rule minimises the variance of the (overlap-sample) ATE; it
    is used here for the ATT as well, which is a common pragmatic choice (stated in results).
    """
    try:
        raw = np.asarray(ps, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"crump_alpha(ps=...) must be an array of propensity scores; got {ps!r}.") from exc
    if raw.ndim != 1 or raw.size == 0 or not np.all((raw >= 0.0) & (raw <= 1.0)):
        raise DataError(
            "crump_alpha(ps=...) must be a non-empty 1-D array of propensity scores in [0, 1]; got shape "
            f"{raw.shape!r} with {int(np.sum(~((raw >= 0.0) & (raw <= 1.0))))} value(s) missing or outside "
            "[0, 1]. Pass the fitted scores, e.g. overlap(...).ps_treated."
        )
    p = np.clip(raw, 1e-12, 1 - 1e-12)
    g = np.sort(1.0 / (p * (1 - p)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    cummean = np.cumsum(g) / np.arange(1, g.size + 1)
    # largest gamma = g_k such that g_k <= 2 * mean(g_1..g_k)
    ok = np.nonzero(g <= 2.0 * cummean)[0]
    k = int(ok[-1])
    gamma = 2.0 * cummean[k]
    # alpha(1-alpha) = 1/gamma
    return float(0.5 - np.sqrt(max(0.25 - 1.0 / gamma, 0.0)))
