r"""Aggregations of group-time average treatment effects (Callaway and Sant'Anna 2021, section 3).

Every aggregated parameter is a weighted average of ATT(g, t) whose weights are cohort shares
:math:`\hat P(G = g)`; its influence function is the same weighted average of the ATT(g, t) influence
functions plus the influence function of the estimated shares, so the standard errors and the bootstrap of
the aggregation are those of the result it aggregates (same units, clusters and multipliers).

The aggregation reads the result's public fields only: the estimates, ``unit_cohort`` and ``unit_weights``
for the shares, and ``influence``, whose operations (:class:`~ipf_eval.inference.influence.InfluenceFunction`:
combine, add the shares' terms, covariance, bootstrap draws) work whatever its storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ipf_eval._defaults import keyword_options
from ipf_eval.did._att_gt_results import AggregateResult, AttGtResult
from ipf_eval.errors import EstimationError, SpecificationError
from ipf_eval.inference.bootstrap import bootstrap_standard_errors, sup_t_critical_value
from ipf_eval.inference.influence import InfluenceFunction
from ipf_eval.results import Specification

__all__ = ["aggregate"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_KINDS = ("simple", "dynamic", "group", "calendar")


@dataclass(frozen=True)
class _Shares:
    """Cohort shares and each unit's cohort code (``-1`` for units of no cohort in the table)."""

    cohorts: IntArray
    pg: FloatArray
    unit_code: IntArray
    weights: FloatArray
    n_cells: int


def _shares(res: AttGtResult) -> _Shares:
    cohorts = np.unique(res.group)
    unit = res.unit_cohort
    pos = np.searchsorted(cohorts, unit)
    pos_c = np.minimum(pos, cohorts.size - 1)
    code = np.where(cohorts[pos_c] == unit, pos_c, -1).astype(np.int64)
    w = res.unit_weights
    ok = code >= 0
    pg = np.bincount(code[ok], weights=w[ok], minlength=cohorts.size) / unit.size
    return _Shares(cohorts, pg, code, w, int(res.att.size))


def _combine(
    sh: _Shares, cells: IntArray, codes: IntArray, values: FloatArray, estimated_weights: bool
) -> tuple[float, FloatArray, FloatArray]:
    r"""Share-weighted average of ``values`` (items of cohorts ``codes``) as a linear map.

    Returns the estimate, the weights ``m`` on the ATT(g, t) influence functions (one per cell of the
    result; ``cells`` are the items' cells) and the per-cohort vector ``q`` of the influence function of
    the estimated shares, so that the influence function is ``inf @ m + w_i * q[cohort_i]``. With
    ``estimated_weights``, :math:`q_c = (A_c - N_c\hat\theta) / P`, where :math:`A_c` sums the values of
    cohort ``c``'s items, :math:`N_c` counts them and :math:`P` sums the items' shares (R ``did``'s ``wif``).
    """
    pgk = sh.pg[codes]
    total = float(pgk.sum())
    est = float(pgk @ values) / total
    m = np.zeros(sh.n_cells)
    np.add.at(m, cells, pgk / total)
    q = np.zeros(sh.cohorts.size)
    if estimated_weights:
        a = np.bincount(codes, weights=values, minlength=sh.cohorts.size)
        cnt = np.bincount(codes, minlength=sh.cohorts.size).astype(np.float64)
        q = (a - cnt * est) / total
    return est, m, q


def _influence(res: AttGtResult, sh: _Shares, m: FloatArray, q: FloatArray) -> InfluenceFunction:
    """Return the ``n × j`` influence functions ``inf @ m + w_i q[cohort_i]`` of ``j`` aggregations."""
    qz = np.vstack([q, np.zeros((1, q.shape[1]))])  # units of no cohort in the table (code -1): no term
    return res.influence.combine(m).add_group_terms(sh.weights, sh.unit_code, qz)


def _check_int(value: object, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise SpecificationError(f"aggregate({name}=...) must be None or an integer; got {value!r}")


@keyword_options
def aggregate(
    result: AttGtResult,
    *,
    kind: str = "simple",
    min_e: int | None = None,
    max_e: int | None = None,
    balance_e: int | None = None,
) -> AggregateResult:
    r"""Aggregate ATT(g, t) into an overall effect, an event study, or effects by cohort or period.

    Parameters
    ----------
    result
        The :class:`~ipf_eval.did._att_gt_results.AttGtResult` to aggregate.
    kind
        ``"simple"`` (share-weighted average of post-support ATT(g, t)), ``"dynamic"`` (by periods since
        support ``e``), ``"group"`` (by cohort) or ``"calendar"`` (by period).
    min_e, max_e
        Event-time window of ``"dynamic"``; ``max_e`` also caps the post-support periods that
        ``"simple"`` and ``"group"`` average (as in R ``did``).
    balance_e
        ``"dynamic"`` only: keep cohorts observed for at least ``balance_e`` periods after support, so the
        event-study composition does not change with ``e`` (then ``e <= balance_e``).

    Returns
    -------
    AggregateResult
        Overall estimate with analytic (and bootstrap) standard error and interval; per-element estimates
        with pointwise intervals and, when the source ran the bootstrap, a sup-t uniform band.

    Raises
    ------
    SpecificationError
        ``kind`` unknown, a window argument not an integer, ``min_e > max_e``, or ``min_e``/``balance_e``
        given for a kind other than ``"dynamic"``.
    EstimationError
        No ATT(g, t) falls in the requested window.

    Notes
    -----
    With cohort shares :math:`\hat p_g = n^{-1}\sum_i w_i 1\{G_i = g\}`,

    .. math:: \theta_{es}(e) = \sum_g 1\{g + e \le \mathcal T\}\,
       \frac{\hat p_g}{\sum_{g'} 1\{g' + e \le \mathcal T\} \hat p_{g'}}\, ATT(g, g + e),

    :math:`\theta_{sel}(g) = \frac{1}{\mathcal T - g + 1}\sum_{t \ge g} ATT(g, t)` with overall
    :math:`\sum_g \hat p_g\theta_{sel}(g) / \sum_g \hat p_g`; :math:`\theta_c(t)` averages
    :math:`ATT(g, t)` over cohorts already supported in :math:`t`; the overall dynamic and calendar
    effects are simple means of :math:`\theta_{es}(e), e \ge 0` and :math:`\theta_c(t)`; simple is the
    share-weighted mean of all post-support ATT(g, t). Influence functions include the estimation of the
    shares (R ``did``'s ``wif``), so the analytic standard errors equal ``aggte(..., bstrap=FALSE)``.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics* 225(2), 200-230.
    """
    if not isinstance(result, AttGtResult):
        raise SpecificationError(
            f"aggregate(result=...) must be the result of att_gt; got {type(result).__name__!r}"
        )
    if not isinstance(kind, str) or kind not in _KINDS:
        raise SpecificationError(f"aggregate(kind=...) must be one of {_KINDS!r}; got {kind!r}")
    for name, value in (("min_e", min_e), ("max_e", max_e), ("balance_e", balance_e)):
        _check_int(value, name)
    if kind != "dynamic" and (min_e is not None or balance_e is not None):
        raise SpecificationError(
            f"aggregate(min_e=..., balance_e=...) apply to kind='dynamic' only; got kind={kind!r} with "
            f"min_e={min_e!r}, balance_e={balance_e!r}"
        )
    lo_e = -np.inf if min_e is None else float(min_e)
    hi_e = np.inf if max_e is None else float(max_e)
    if lo_e > hi_e:
        raise SpecificationError(f"aggregate: min_e={min_e!r} is larger than max_e={max_e!r}")
    sh = _shares(result)
    g, t, att = result.group, result.time, result.att
    e = t - g
    cells = np.arange(g.size, dtype=np.int64)
    codes = np.searchsorted(sh.cohorts, g).astype(np.int64)
    post = (g <= t) & (e <= hi_e)
    labels = np.zeros(0, dtype=np.int64)
    parts: list[tuple[float, FloatArray, FloatArray]] = []
    if kind == "simple":
        if not post.any():
            raise EstimationError(f"no post-support ATT(g, t) with e <= {max_e!r} to aggregate")
        overall, m_all, q_all = _combine(sh, cells[post], codes[post], att[post], True)
    elif kind == "group":
        keep = [c for c in range(sh.cohorts.size) if np.any(post & (codes == c))]
        if not keep:
            raise EstimationError(f"no post-support ATT(g, t) with e <= {max_e!r} to aggregate")
        for c in keep:
            sel = post & (codes == c)
            parts.append(_combine(sh, cells[sel], codes[sel], att[sel], False))
        labels = sh.cohorts[keep]
        kc = np.asarray(keep, dtype=np.int64)
        theta = np.array([p[0] for p in parts])
        # cohort-level items: only the estimate and the share term are used (cells are not ATT(g, t) here)
        overall, _, q_all = _combine(sh, np.zeros(kc.size, dtype=np.int64), kc, theta, True)
        m_all = np.column_stack([p[1] for p in parts]) @ (sh.pg[kc] / sh.pg[kc].sum())
    elif kind == "dynamic":
        include = np.ones(g.size, dtype=bool)
        eseq = np.unique(e)
        if balance_e is not None:
            include = (t.max() - g) >= balance_e
            eseq = np.unique(e[include])
            eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - (t.max() - t.min()))]
        eseq = eseq[(eseq >= lo_e) & (eseq <= hi_e)]
        if eseq.size == 0:
            raise EstimationError(
                f"no event times in [{min_e!r}, {max_e!r}] (balance_e={balance_e!r}) to aggregate"
            )
        for ev in eseq:
            sel = (e == ev) & include
            parts.append(_combine(sh, cells[sel], codes[sel], att[sel], True))
        labels = eseq.astype(np.int64)
        epos = labels >= 0
        if not epos.any():
            raise EstimationError(f"no event time e >= 0 in [{min_e!r}, {max_e!r}]: no overall effect")
        overall = float(np.mean([p[0] for p, ok in zip(parts, epos, strict=True) if ok]))
        m_all = np.column_stack([p[1] for p in parts])[:, epos].mean(axis=1)
        q_all = np.column_stack([p[2] for p in parts])[:, epos].mean(axis=1)
    else:
        periods = np.unique(t[t >= g.min()])
        for p in periods:
            sel = (t == p) & (g <= t)
            parts.append(_combine(sh, cells[sel], codes[sel], att[sel], True))
        labels = periods.astype(np.int64)
        overall = float(np.mean([p[0] for p in parts]))
        m_all = np.column_stack([p[1] for p in parts]).mean(axis=1)
        q_all = np.column_stack([p[2] for p in parts]).mean(axis=1)
    estimates = [p[0] for p in parts]
    m_mat = np.column_stack([*(p[1] for p in parts), m_all])
    q_mat = np.column_stack([*(p[2] for p in parts), q_all])
    all_if = _influence(result, sh, m_mat, q_mat)
    se_all = np.where(all_if.nonzero_columns(), all_if.standard_errors(), np.nan)
    boot_all = None
    crit = None
    spec_src = result.specification
    if result.n_boot is not None and spec_src.seed is not None:
        draws = all_if.draws(n_boot=result.n_boot, seed=spec_src.seed, kind=result.boot_weights)
        boot_all = np.where(np.isfinite(se_all), bootstrap_standard_errors(draws), np.nan)
        if labels.size:
            crit = sup_t_critical_value(draws[:, :-1], boot_all[:-1], alpha=result.alpha)
    spec = Specification(
        estimator="aggregate",
        arguments={
            "kind": kind,
            "min_e": min_e,
            "max_e": max_e,
            "balance_e": balance_e,
            "att_gt": dict(spec_src.arguments),
        },
        n_obs=spec_src.n_obs,
        n_units=spec_src.n_units,
        dropped=spec_src.dropped,
        seed=spec_src.seed,
    )
    return AggregateResult(
        kind=kind,
        overall_att=float(overall),
        overall_std_error=float(se_all[-1]),
        overall_boot_std_error=None if boot_all is None else float(boot_all[-1]),
        labels=labels,
        estimates=np.asarray(estimates, dtype=np.float64),
        std_error=se_all[:-1].copy(),
        boot_std_error=None if boot_all is None else boot_all[:-1].copy(),
        critical_value=crit,
        alpha=result.alpha,
        specification=spec,
        source=result,
        influence=all_if,
    )
