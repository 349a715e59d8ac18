r"""Least squares with absorbed firm and period effects and a cluster-robust sandwich (private).

Shared by :func:`ipf_eval.did.twfe.twfe` and :func:`ipf_eval.did.sun_abraham.event_study`.  Written with
numpy rather than statsmodels or linearmodels because the fixed effects are partialled out exactly in one
pass (:mod:`ipf_eval.did._demean`) and only the few remaining regressors enter the normal equations, so the
work is a handful of ``np.bincount`` passes over the rows: no dummy matrices, no sparse solver, and memory of
a few columns of the panel.  The tests check it against statsmodels with explicit dummies and against
linearmodels' ``PanelOLS``.

Small-sample conventions of the cluster-robust variance
:math:`\hat V = c\,(\ddot X' W \ddot X)^{-1} \big(\sum_g \hat s_g \hat s_g'\big) (\ddot X' W \ddot X)^{-1}`,
with :math:`\hat s_g = \sum_{i \in g} w_i \ddot x_i \hat e_i`, :math:`N` observations, :math:`G` clusters,
:math:`k` regressors:

``"nested"`` (default; fixest's default ``ssc(adj = TRUE, fixef.K = "nested", cluster.adj = TRUE)``)
    :math:`c = \frac{G}{G-1}\frac{N-1}{N-K}`, where :math:`K = k` plus the levels of every fixed effect
    *not* nested in the clusters (fixed effects nested in a cluster do not count).  With firm clusters:
    :math:`K = k + T`.
``"full"`` (Stata ``regress``/statsmodels OLS with firm and period dummies, linearmodels with
``group_debias=True``, fixest ``fixef.K = "full"``)
    :math:`c = \frac{G}{G-1}\frac{N-1}{N-K}` with :math:`K = k + n_{units} + r_T`, where :math:`r_T` is the
    number of free period effects (:math:`T-1` in a connected panel).
``"absorbed"`` (linearmodels ``PanelOLS(...).fit(cov_type="clustered")`` default)
    :math:`c = \frac{N}{N - K}` with the same :math:`K` as ``"full"``: absorbed effects and regressors use
    degrees of freedom, no :math:`G/(G-1)` factor.
``"none"``
    :math:`c = 1`.

Tests, p-values and intervals use Student's :math:`t` with :math:`G - 1` degrees of freedom (fixest's
convention for clustered errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval.did._demean import MAX_DENSE_CELLS, TwoWayProjector, alternating_projections
from ipf_eval.errors import EstimationError, SpecificationError
from ipf_eval.results import ID_COLUMNS, TIDY_COLUMNS

__all__ = [
    "DF_CORRECTIONS", "DfCorrection", "FEFit", "check_df_correction", "fit_fe_ols", "t_inference",
    "tidy_table",
]

DfCorrection = Literal["nested", "full", "absorbed", "none"]
DF_CORRECTIONS: tuple[str, ...] = ("nested", "full", "absorbed", "none")

DF_DESCRIPTIONS: dict[str, str] = {
    "nested": "G/(G-1) x (N-1)/(N-K), K = regressors + fixed effects not nested in the clusters "
              "(fixest default)",
    "full": "G/(G-1) x (N-1)/(N-K), K = regressors + all absorbed effects (statsmodels/Stata with dummies)",
    "absorbed": "N/(N-K), K = regressors + all absorbed effects (linearmodels PanelOLS default)",
    "none": "no small-sample correction",
}


def check_df_correction(df_correction: str, *, function: str) -> None:
    """Raise :class:`SpecificationError` unless ``df_correction`` is one of :data:`DF_CORRECTIONS`."""
    if df_correction not in DF_CORRECTIONS:
        raise SpecificationError(
            f"{function}(df_correction=...) must be one of {DF_CORRECTIONS!r}; got {df_correction!r}"
        )


@dataclass(frozen=True, eq=False)
class FEFit:
    """Coefficients and cluster-robust covariance of a two-way fixed-effects regression."""

    coef: np.ndarray
    vcov: np.ndarray
    names: tuple[str, ...]
    n_obs: int
    n_clusters: int
    n_units: int
    n_periods: int
    k_fe_full: int
    k_df: int
    correction: float
    df_correction: str
    residual_ss: float


def _nested(fe_codes: np.ndarray, n_levels: int, cluster_codes: np.ndarray, n_clusters: int) -> bool:
    """Whether every level of a fixed effect lies within one cluster."""
    if n_clusters > n_levels:  # nested levels partition the clusters, so there cannot be more clusters
        return False
    lo = np.full(n_levels, np.iinfo(np.int64).max)
    hi = np.full(n_levels, -1)
    np.minimum.at(lo, fe_codes, cluster_codes)
    np.maximum.at(hi, fe_codes, cluster_codes)
    return bool(np.all(lo == hi))


def fit_fe_ols(
    y: np.ndarray,
    x: np.ndarray,
    names: Sequence[str],
    *,
    unit: np.ndarray,
    n_units: int,
    time: np.ndarray,
    n_periods: int,
    cluster: np.ndarray,
    n_clusters: int,
    cluster_is_unit: bool,
    weights: np.ndarray | None,
    df_correction: str,
) -> FEFit:
    """Regress ``y`` on ``x`` with unit and time effects absorbed; cluster-robust covariance.

    Raises
    ------
    EstimationError
        If a regressor is collinear with the fixed effects or with the other regressors, if there are fewer
        than two clusters, or if no residual degrees of freedom remain.
    """
    n_obs, k = x.shape
    if n_clusters < 2:
        raise EstimationError(
            f"cluster-robust standard errors need at least 2 clusters; the data have {n_clusters}; "
            "cluster on a coarser or different variable (cluster=...)"
        )
    if n_units * n_periods <= MAX_DENSE_CELLS:
        projector = TwoWayProjector.build(unit, n_units, time, n_periods, weights)
        ry = projector.residualize(y)
        rx = projector.residualize(x)
        time_rank = projector.time_rank
    else:  # pragma: no cover - only for panels with very many periods
        groups = [(unit, n_units), (time, n_periods)]
        ry = alternating_projections(y, groups, weights)
        rx = alternating_projections(x, groups, weights)
        time_rank = n_periods - 1
    # collinearity: a regressor that the fixed effects (nearly) explain, or a combination of regressors
    if weights is None:
        centred_ss = np.array([np.var(x[:, j]) * n_obs for j in range(k)])
        rxw = rx
    else:
        centred_ss = np.array([np.cov(x[:, j], aweights=weights, bias=True) * weights.sum()
                               for j in range(k)])
        rxw = rx * weights[:, None]
    xtx = rx.T @ rxw
    resid_ss = np.diag(xtx).copy()
    share = np.where(centred_ss > 0, resid_ss / np.where(centred_ss > 0, centred_ss, 1.0), 0.0)
    bad = [names[j] for j in range(k) if share[j] < 1e-10]
    if bad:
        raise EstimationError(
            f"regressor(s) {bad!r} do not vary once firm and period fixed effects are removed (collinear "
            "with "
            "the fixed effects), so their coefficients are not identified; e.g. a treatment that switches on "
            "for every firm in the same period, or a time-invariant covariate; drop them or add comparison "
            "firms whose treatment timing differs"
        )
    scale = np.sqrt(resid_ss)
    corr = xtx / np.outer(scale, scale)
    eigval, eigvec = np.linalg.eigh(corr)
    if eigval[0] < 1e-10:
        involved = [names[int(j)] for j in np.flatnonzero(np.abs(eigvec[:, 0]) > 1e-3)]
        raise EstimationError(
            f"regressors {involved!r} are collinear once firm and period fixed effects are removed (singular "
            "design); drop one of them"
        )
    xty = rxw.T @ ry
    coef = np.linalg.solve(xtx, xty)
    e = ry - rx @ coef
    scores = np.empty((n_clusters, k))
    we = e if weights is None else e * weights
    for j in range(k):
        scores[:, j] = np.bincount(cluster, weights=rx[:, j] * we, minlength=n_clusters)
    bread = np.linalg.inv(xtx)
    vcov = bread @ (scores.T @ scores) @ bread
    k_fe_full = n_units + time_rank
    if df_correction == "nested":
        k_fe = 0 if cluster_is_unit or _nested(unit, n_units, cluster, n_clusters) else n_units
        if not _nested(time, n_periods, cluster, n_clusters):
            k_fe += n_periods if k_fe == 0 else time_rank
        k_df = k + k_fe
    else:
        k_df = k + k_fe_full
    if n_obs - k_df <= 0:
        raise EstimationError(
            f"no residual degrees of freedom: {n_obs} observations and {k_df} parameters (regressors plus "
            "fixed effects); use a longer panel or fewer regressors"
        )
    if df_correction in ("nested", "full"):
        correction = n_clusters / (n_clusters - 1) * (n_obs - 1) / (n_obs - k_df)
    elif df_correction == "absorbed":
        correction = n_obs / (n_obs - k_df)
    else:
        correction = 1.0
    vcov = correction * (vcov + vcov.T) / 2.0
    return FEFit(coef=coef, vcov=vcov, names=tuple(names), n_obs=n_obs, n_clusters=n_clusters,
                 n_units=n_units, n_periods=n_periods, k_fe_full=k_fe_full, k_df=k_df,
                 correction=float(correction), df_correction=df_correction, residual_ss=float(e @ we))


def t_inference(estimate: np.ndarray, std_error: np.ndarray, df: int, alpha: float) -> dict[str, np.ndarray]:
    """Return estimate, standard error, statistic, two-sided p-value and ``1 - alpha`` interval (t)."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    crit = float(stats.t.ppf(1.0 - alpha / 2.0, df))
    return {"estimate": est, "std_error": se, "statistic": stat,
            "p_value": 2.0 * stats.t.sf(np.abs(stat), df),
            "ci_low": est - crit * se, "ci_high": est + crit * se}


def tidy_table(terms: Sequence[str], inference: Mapping[str, np.ndarray], extra: Mapping[str, Any],
               rows: np.ndarray | None = None) -> pd.DataFrame:
    """Build a tidy table at once: :data:`TIDY_COLUMNS`, identifiers in :data:`ID_COLUMNS` order, the rest.

    ``rows`` (a boolean mask or index array) selects rows of every column.
    """
    def pick(values: Any) -> Any:
        arr = np.asarray(values) if not np.isscalar(values) else np.full(len(terms), values)
        return arr if rows is None else arr[rows]

    columns: dict[str, Any] = {"term": pick(np.asarray(list(terms), dtype=object))}
    columns.update({c: pick(inference[c]) for c in TIDY_COLUMNS[1:]})
    columns.update({c: pick(extra[c]) for c in ID_COLUMNS if c in extra})
    columns.update({c: pick(v) for c, v in extra.items() if c not in ID_COLUMNS})
    return pd.DataFrame(columns)
