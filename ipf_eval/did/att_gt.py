r"""Callaway and Sant'Anna (2021) group-time average treatment effects, ATT(g, t).

The panel is pivoted once into a ``units × periods`` outcome matrix; each ``(g, t)`` comparison is a
two-period, two-group difference in differences on the units of cohort ``g`` and the comparison units,
estimated with the Sant'Anna and Zhao (2020) estimators of :mod:`ipf_eval.did._drdid`.  Without covariates
every estimator reduces to a difference of weighted cell means, computed directly from per-(cohort, period)
means with an influence function linear in them.  Standard errors come from the influence functions
(analytic) and, optionally, from a chunked multiplier bootstrap that also gives the sup-t critical value of
a simultaneous band over all ATT(g, t).

On a balanced panel without covariates or clusters, the influence functions are kept per cohort block
(:mod:`ipf_eval.did._block_if`): covariances come from per-cohort ``T × T`` moments and bootstrap draws from
per-cohort multiplier sums, so no ``n_units × n_cells`` matrix is built unless
``AttGtResult.influence_function`` is read.  With covariates, cells that share their units (a cohort and its
comparison cohorts) share the propensity score and the outcome-regression design.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ipf_eval._arrays import fast_unique, firm_starts
from ipf_eval._defaults import (
    CONTROL_GROUP,
    N_BOOT,
    check_alpha,
    check_outcome_varies,
    keyword_options,
    user_stack_level,
    warn_few_clusters,
)
from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.did._att_gt_cells import (
    Inputs,
    cohort_bounds,
    estimate_cells,
    fast_panel_cells,
    sort_by_cohort,
)
from ipf_eval.did._att_gt_results import AttGtResult, PreTest
from ipf_eval.did._block_if import BlockInfluence, BlockSparseInfluence, block_panel_cells
from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.inference.bootstrap import MULTIPLIER_KINDS, bootstrap_standard_errors, sup_t_critical_value
from ipf_eval.inference.dense import DenseInfluence
from ipf_eval.inference.influence import InfluenceFunction
from ipf_eval.results import DropRecord, Specification

__all__ = ["att_gt"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_CONTROL_GROUPS = ("never_treated", "not_yet_treated")
_METHODS = ("dr", "ipw", "reg")
_BASE_PERIODS = ("varying", "universal")


def _choice(value: object, allowed: tuple[str, ...], parameter: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise SpecificationError(f"att_gt({parameter}=...) must be one of {allowed!r}; got {value!r}")
    return value


def _check_options(
    control_group: object,
    est_method: object,
    base_period: object,
    anticipation: object,
    n_boot: object,
    seed: object,
    alpha: object,
    panel: object,
    bootstrap: object,
) -> None:
    _choice(control_group, _CONTROL_GROUPS, "control_group")
    _choice(est_method, _METHODS, "est_method")
    _choice(base_period, _BASE_PERIODS, "base_period")
    if isinstance(anticipation, bool) or not isinstance(anticipation, (int, np.integer)) or anticipation < 0:
        raise SpecificationError(
            f"att_gt(anticipation=...) must be a non-negative integer; got {anticipation!r}"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise SpecificationError(f"att_gt(n_boot=...) must be an integer of at least 2; got {n_boot!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise SpecificationError(f"att_gt(seed=...) must be None or a non-negative integer; got {seed!r}")
    check_alpha(alpha, function="att_gt")
    for name, value in (("panel", panel), ("bootstrap", bootstrap)):
        if not isinstance(value, bool):
            raise SpecificationError(f"att_gt({name}=...) must be True or False; got {value!r}")


def _frame(
    data: pd.DataFrame | ValidatedPanel,
    *,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    covariates: tuple[str, ...],
    weights: str | None,
    cluster: str | None,
    panel: bool,
) -> tuple[pd.DataFrame, tuple[DropRecord, ...], tuple[int, ...]]:
    for name, value in (("yname", yname), ("tname", tname), ("idname", idname), ("gname", gname)):
        if not isinstance(value, str):
            raise SpecificationError(f"att_gt({name}=...) must be a column name (str); got {value!r}")
    if isinstance(data, ValidatedPanel):
        if panel and not data.panel:
            raise SpecificationError(
                "att_gt(panel=True) got a ValidatedPanel validated as repeated cross-sections (panel=False); "
                "pass panel=False or re-validate with validate_panel(..., panel=True)"
            )
        for name, value, have in (
            ("idname", idname, data.idname),
            ("tname", tname, data.tname),
            ("gname", gname, data.gname),
        ):
            if value != have:
                raise SpecificationError(
                    f"att_gt({name}={value!r}) does not match the validated panel's {name} {have!r}; pass "
                    "the names used in validate_panel or re-validate"
                )
        needed = [yname, *covariates, *([weights] if weights else []), *([cluster] if cluster else [])]
        missing = [c for c in needed if c not in data.data.columns]
        if missing:
            raise DataError(f"columns {missing!r} are not in the validated panel; re-validate with them")
        return data.data, data.dropped, data.periods
    if not isinstance(data, pd.DataFrame):
        raise SpecificationError(
            f"att_gt(data=...) must be a pandas DataFrame or a ValidatedPanel; got {type(data).__name__!r}"
        )
    vp = validate_panel(
        data,
        idname=idname,
        tname=tname,
        gname=gname,
        ynames=yname,
        covariates=covariates,
        weightsname=weights,
        clustervars=(cluster,) if cluster else (),
        panel=panel,
    )
    return vp.data, vp.dropped, vp.periods


def _per_unit(
    values: NDArray[Any], first: IntArray, unit: IntArray | None, column: str, idname: str
) -> NDArray[Any]:
    """Return the per-unit value and raise if it varies within a unit.

    ``unit=None`` means a balanced panel sorted by (unit, period): rows ``i * T .. (i + 1) * T - 1`` are
    unit ``i``, so the check is a reshape.
    """
    per_unit = values[first]
    if unit is None:
        block = values.reshape(first.size, -1, *values.shape[1:])
        varies_unit = np.any((block != per_unit[:, None]).reshape(first.size, -1), axis=1)
        if not np.any(varies_unit):
            return per_unit
        unit = np.repeat(np.arange(first.size, dtype=np.int64), block.shape[1])
    varies = per_unit[unit] != values
    if varies.ndim > 1:
        varies = np.any(varies, axis=1)
    if np.any(varies):
        bad = int(np.unique(unit[varies]).size)
        raise DataError(
            f"column {column!r} varies within {bad} firm(s) ({idname!r}); it must be constant per firm "
            "(a time-invariant first-support period, weight or cluster)"
        )
    return per_unit


def _design(frame: pd.DataFrame, covariates: tuple[str, ...]) -> FloatArray | None:
    """Return the design ``[1, covariates]``; non-numeric covariates become dummies (first level dropped)."""
    if not covariates:
        return None
    parts = [np.ones((len(frame), 1))]
    for c in covariates:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or not pd.api.types.is_numeric_dtype(col):
            dummies = pd.get_dummies(col.astype("category"), drop_first=True, dtype=np.float64)
            parts.append(dummies.to_numpy(dtype=np.float64))
        else:
            parts.append(col.to_numpy(dtype=np.float64)[:, None])
    return np.column_stack(parts)


def _build_inputs(
    frame: pd.DataFrame,
    *,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    covariates: tuple[str, ...],
    weights: str | None,
    cluster: str | None,
    panel: bool,
    dropped: tuple[DropRecord, ...],
    periods_hint: tuple[int, ...] = (),
) -> Inputs:
    t = frame[tname].to_numpy(dtype=np.int64)
    hint = np.asarray(periods_hint, dtype=np.int64)
    # the validated panel's periods, if they fit (checked: first, last and, for a balanced panel, every row)
    fits = hint.size > 0 and panel and int(t.min()) == hint[0] and int(t.max()) == hint[-1]
    periods = hint if fits else fast_unique(t)
    y = frame[yname].to_numpy(dtype=np.float64)
    g_row = frame[gname].to_numpy(dtype=np.int64)
    w_row = None if weights is None else frame[weights].to_numpy(dtype=np.float64)
    if w_row is not None and (not np.all(np.isfinite(w_row)) or np.any(w_row < 0) or not np.any(w_row > 0)):
        raise DataError(f"weights column {weights!r} must be finite, non-negative and not all zero")
    c_row = None if cluster is None else pd.factorize(frame[cluster])[0].astype(np.int64)
    numeric = all(
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        for c in covariates
    )
    # panels with numeric covariates need them per unit only (built below, without a per-row design)
    x_row = None if panel and numeric else _design(frame, covariates)
    if not panel:
        tcode = np.searchsorted(periods, t).astype(np.int64)
        w_all = np.ones(len(frame)) if w_row is None else w_row
        return Inputs(y, tcode, g_row, w_all, x_row, c_row, periods, len(frame), dropped)
    unit: IntArray | None
    n_t = periods.size
    starts = firm_starts(frame[idname])  # the contract sorts rows by (firm, period)
    n = int(starts.sum())
    first = np.flatnonzero(starts).astype(np.int64)
    if (
        len(frame) == n * n_t
        and np.array_equal(first, np.arange(n, dtype=np.int64) * n_t)
        and np.array_equal(t.reshape(n, n_t), np.broadcast_to(periods, (n, n_t)))
    ):
        # balanced and sorted by (firm, period): the outcome matrix is a reshape
        unit = None
        ymat = y.reshape(n, n_t)
    else:
        if fits:  # the hint was only checked for a balanced panel
            periods = fast_unique(t)
            n_t = periods.size
        tcode = np.searchsorted(periods, t).astype(np.int64)
        unit_codes, uniq = pd.factorize(frame[idname])
        unit = unit_codes.astype(np.int64)
        n = len(uniq)
        if np.all(unit[1:] >= unit[:-1]):  # rows sorted by firm: first rows directly
            first = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]]).astype(np.int64)
        else:
            first = np.full(n, len(frame), dtype=np.int64)
            np.minimum.at(first, unit, np.arange(len(frame), dtype=np.int64))
        ymat = np.full((n, n_t), np.nan, order="F")
        ymat[unit, tcode] = y
    cohort = _per_unit(g_row, first, unit, gname, idname)
    w = np.ones(n) if w_row is None else _per_unit(w_row, first, unit, str(weights), idname)
    cl = None if c_row is None else _per_unit(c_row, first, unit, str(cluster), idname)
    x = None
    if covariates:
        if x_row is None:
            parts = [np.ones(n)]
            x_varies = False
            for c in covariates:
                col = frame[c].to_numpy(dtype=np.float64)
                base = col[first]
                if unit is None:
                    x_varies = x_varies or bool(np.any(col.reshape(n, n_t) != base[:, None]))
                else:
                    x_varies = x_varies or bool(np.any(base[unit] != col))
                parts.append(base)
            x = np.column_stack(parts)
        else:
            x = x_row[first]
            if unit is None:
                x_varies = bool(np.any(x_row.reshape(n, n_t, -1) != x[:, None, :]))
            else:
                x_varies = bool(np.any(x[unit] != x_row))
        if x_varies:
            warnings.warn(
                f"covariates {list(covariates)!r} vary within firms; att_gt uses each firm's value in its "
                "first observed period (baseline covariates)",
                DataWarning,
                stacklevel=user_stack_level(),
            )
    return Inputs(ymat, None, cohort, w, x, cl, periods, len(frame), dropped)


def _column_major(inp: Inputs) -> Inputs:
    """Store a panel's outcome matrix by column (period), the access pattern of the per-cell loops."""
    if inp.y.ndim == 2 and not inp.y.flags.f_contiguous:
        return dataclasses.replace(inp, y=np.asfortranarray(inp.y))
    return inp


def _recode_cohorts(inp: Inputs, *, gname: str, control_group: str, anticipation: int, panel: bool) -> Inputs:
    """Apply R did's conventions: late cohorts are never treated in-sample, first-period cohorts go."""
    periods = inp.periods
    cohort = np.where(inp.cohort > periods[-1], 0, inp.cohort)
    dropped = list(inp.dropped)
    early = (cohort > 0) & (cohort <= periods[0] + anticipation)
    keep = ~early
    if np.all(cohort[keep] == 0):
        firsts = sorted({int(g) for g in np.unique(cohort[early])})
        raise DataError(
            f"no cohort can be estimated: every supported firm was first supported in or before the first "
            f"period {int(periods[0])} (+ anticipation {anticipation}) (cohorts {firsts!r} in {gname!r}), so "
            "no pre-support period exists; add earlier periods to the panel"
        )
    if early.any():
        n_early = int(early.sum())
        what = "firms" if panel else "rows"
        warnings.warn(
            f"dropped {n_early} {what} of cohorts {sorted({int(g) for g in cohort[early]})!r} ({gname!r}) "
            f"that were already supported in the first period {int(periods[0])}: they have no pre-support "
            "period",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped.append(
            DropRecord(
                reason="supported in the first period",
                n_rows=n_early if not panel else 0,
                n_units=n_early if panel else 0,
            )
        )
    if early.any():
        y, tcode = inp.y[keep], None if inp.tcode is None else inp.tcode[keep]
        cohort, w = cohort[keep], inp.weights[keep]
        x = None if inp.x is None else inp.x[keep]
        cl = None if inp.cluster is None else inp.cluster[keep]
    else:  # nothing to drop: no copies
        y, tcode, w, x, cl = inp.y, inp.tcode, inp.weights, inp.x, inp.cluster
    if not np.any(cohort == 0):
        if control_group == "never_treated":
            raise EstimationError(
                f"no never-treated firms ({gname!r} == 0 or after the last period {int(periods[-1])}) for "
                "control_group='never_treated'; use control_group='not_yet_treated'"
            )
        g_max = int(cohort.max())
        cut = periods < g_max - anticipation
        warnings.warn(
            f"no never-treated firms: as in R's did, cohort {g_max} serves as the comparison group and "
            f"periods >= {g_max - anticipation} are dropped",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        cohort = np.where(cohort == g_max, 0, cohort)
        if panel:
            y = y[:, cut]
        else:
            rows = cut[tcode] if tcode is not None else np.ones(0, dtype=bool)
            y, tcode, cohort, w = y[rows], None if tcode is None else tcode[rows], cohort[rows], w[rows]
            x = None if x is None else x[rows]
            cl = None if cl is None else cl[rows]
        periods = periods[cut]
    if cl is not None:
        cl = pd.factorize(cl)[0].astype(np.int64)
    return Inputs(y, tcode, cohort, w, x, cl, periods, inp.n_obs, tuple(dropped))


def _check_cohort_sizes(cohort: IntArray, k: int, gname: str, panel: bool) -> None:
    groups, sizes = np.unique(cohort[cohort > 0], return_counts=True)
    what = "firm" if panel else "observation"
    single = [int(g) for g, s in zip(groups, sizes, strict=True) if s == 1]
    if single:
        raise EstimationError(
            f"cohorts {single!r} ({gname!r}) have a single {what}: ATT(g, t) for them has no estimable "
            "sampling variance; drop those firms or merge them into a neighbouring cohort"
        )
    small = [int(g) for g, s in zip(groups, sizes, strict=True) if s < k + 5]
    if small:
        warnings.warn(
            f"cohorts {small!r} ({gname!r}) have fewer than {k + 5} {what}s; their ATT(g, t) and standard "
            "errors are imprecise",
            EstimationWarning,
            stacklevel=user_stack_level(),
        )


def _cells(
    periods: IntArray, cohorts: IntArray, base_period: str, anticipation: int
) -> list[tuple[int, int, int]]:
    """Return ``(g, current index, base index)`` for every ATT(g, t), in R did's order."""
    out: list[tuple[int, int, int]] = []
    for g in cohorts:
        pre = np.nonzero(periods + anticipation < g)[0]
        last_pre = int(pre[-1])
        currents = range(1, periods.size) if base_period == "varying" else range(periods.size)
        for cur in currents:
            base = last_pre if base_period == "universal" or g <= periods[cur] else cur - 1
            out.append((int(g), cur, base))
    return out


def _pretest(
    att: FloatArray, se: FloatArray, cov_all: FloatArray, group: IntArray, time: IntArray
) -> PreTest | None:
    pre = np.nonzero((group > time) & np.isfinite(se))[0]
    if pre.size == 0:
        return None
    cov = cov_all[np.ix_(pre, pre)]
    if np.linalg.cond(cov) * np.finfo(float).eps >= 1.0:
        warnings.warn(
            "the Wald pre-test of parallel trends is not reported: the covariance matrix of the pre-period "
            "ATT(g, t) is singular",
            EstimationWarning,
            stacklevel=user_stack_level(),
        )
        return None
    a = att[pre]
    w_stat = float(a @ np.linalg.solve(cov, a))
    return PreTest(statistic=w_stat, df=int(pre.size), p_value=float(stats.chi2.sf(w_stat, pre.size)))


@keyword_options
def att_gt(
    data: pd.DataFrame | ValidatedPanel,
    *,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    covariates: Sequence[str] | None = None,
    control_group: str = CONTROL_GROUP,
    est_method: str = "dr",
    base_period: str = "varying",
    anticipation: int = 0,
    panel: bool = True,
    weights: str | None = None,
    cluster: str | None = None,
    bootstrap: bool = True,
    n_boot: int = N_BOOT,
    seed: int | None = None,
    alpha: float = 0.05,
    boot_weights: str = "mammen",
) -> AttGtResult:
    r"""Estimate Callaway and Sant'Anna (2021) group-time average treatment effects ATT(g, t).

    Parameters
    ----------
    data
        A tidy panel (one row per firm and period) or a :class:`~ipf_eval.data.contract.ValidatedPanel`.
        Never modified.
    yname, tname, idname, gname
        Outcome, integer period, firm id and first-support period (0 or missing: never supported; a
        period after the last one observed also counts as never supported in the sample).
    covariates
        Time-invariant baseline covariates (each firm's value in its first observed period is used).
    control_group
        ``"never_treated"`` (the default, :data:`~ipf_eval._defaults.CONTROL_GROUP`, as in R ``did``) or
        ``"not_yet_treated"`` (never treated plus firms first supported after ``max(t, base) +
        anticipation``).
    est_method
        ``"dr"`` (doubly robust), ``"ipw"`` (normalised inverse probability weighting) or ``"reg"``
        (outcome regression); identical without covariates.
    base_period
        ``"varying"`` (pre-periods compare consecutive periods) or ``"universal"`` (every ATT(g, t) is
        relative to period ``g - anticipation - 1``, reported as 0 with no standard error).
    anticipation
        Number of periods before ``g`` in which firms may already react.
    panel
        ``True`` for a panel of firms; ``False`` treats rows as repeated cross-sections.
    weights
        Optional column of sampling weights, constant within firm.
    cluster
        Optional column of clusters (constant within firm); by default firms are independent.
    bootstrap
        Whether to run the multiplier bootstrap (Mammen weights) for bootstrap standard errors and the
        sup-t simultaneous band.
    n_boot
        Number of bootstrap draws (default :data:`~ipf_eval._defaults.N_BOOT`, 999).
    seed
        Seed of the bootstrap; when ``None`` one is drawn and recorded in the result, so that
        :func:`~ipf_eval.did.aggregate.aggregate` reuses the same draws.
    alpha
        One minus the confidence level of pointwise intervals and of the simultaneous band.
    boot_weights
        Multiplier distribution: ``"mammen"`` (R ``did``'s), ``"rademacher"``, or ``"gaussian"`` (drawn
        exactly from the ``k × k`` influence-function covariance: the fast choice for very large panels).

    Returns
    -------
    AttGtResult
        The ATT(g, t) table with analytic standard errors (and bootstrap ones), pointwise intervals, the
        uniform band, the Wald pre-test and the influence functions used by ``aggregate``.

    Raises
    ------
    SpecificationError
        An option is unknown or not one of its allowed values, or a name does not match a validated panel.
    DataError
        The data break the panel contract (see ``validate_panel``), the outcome is constant, a firm's
        first-support period, weight or cluster varies over time, or every supported firm was supported in
        the first period.
    EstimationError
        No never-treated firms with ``control_group="never_treated"``; a cohort of a single firm; a singular
        covariate design; no overlap of the propensity scores. Messages name the cohort and period.

    Warns
    -----
    DataWarning
        Rows dropped by the contract (missing outcomes...), firms supported in the first period dropped,
        the last cohort used as comparison group when there are no never-treated firms.
    EstimationWarning
        Small cohorts, an ATT(g, t) left out for lack of treated or comparison units, trimmed propensity
        scores (named ``(g, t)``), fewer than :data:`~ipf_eval._defaults.MIN_CLUSTERS` (20) clusters, a
        singular pre-test covariance.

    Notes
    -----
    The estimand is, for cohort :math:`g` (first supported in :math:`g`) and period :math:`t`,

    .. math:: ATT(g, t) = E[Y_t(g) - Y_t(\infty) \mid G = g],

    identified under parallel trends with the chosen comparison group and no anticipation beyond
    ``anticipation`` periods. Each :math:`ATT(g,t)` compares :math:`\Delta Y = Y_t - Y_b` (base period
    :math:`b = g - 1 - \delta` after support, :math:`t-1` before it with a varying base) between the
    cohort (:math:`D=1`) and the comparison units (:math:`D=0`) with the doubly robust estimator

    .. math:: \widehat{ATT}(g,t) = \frac{\sum_i w_i D_i (\Delta Y_i - \hat\mu_0(X_i))}{\sum_i w_i D_i}
       - \frac{\sum_i w_i \hat r(X_i)(1-D_i)(\Delta Y_i - \hat\mu_0(X_i))}{\sum_i w_i \hat r(X_i)(1-D_i)},
       \qquad \hat r(x) = \frac{\hat p(x)}{1 - \hat p(x)},

    with :math:`\hat p` a logit of :math:`D` on :math:`X` and :math:`\hat\mu_0` an OLS regression of
    :math:`\Delta Y` on :math:`X` among comparison units (Sant'Anna and Zhao 2020). Without covariates it is
    the difference of the two groups' mean changes. Analytic standard errors are
    :math:`n^{-1}\sqrt{\sum_i \psi_i^2}` from the influence functions :math:`\psi` (summed within clusters
    first when ``cluster`` is given); they equal R ``did``'s ``bstrap=FALSE`` values.

    *Unbalanced panels* are used "pairwise balanced": each ATT(g, t) uses the firms of cohort ``g`` and the
    comparison firms observed in both ``t`` and its base period, so it is the ATT of the cohort's firms
    observed in those two periods; influence functions of other firms are zero and ``n`` counts all firms.
    On a balanced panel this equals R ``did``'s default. R instead drops firms not observed in every period
    (its default) or, with ``allow_unbalanced_panel=TRUE``, uses the repeated cross-section estimators on
    all rows; that is close to ``panel=False`` with ``cluster=idname`` here. With ``panel=False`` every row
    is an observation (``n`` counts rows; rows are independent unless ``cluster`` is given) and the
    estimators are ``DRDID``'s ``drdid_rc`` (locally efficient), ``std_ipw_did_rc`` and ``reg_did_rc``.

    The Wald pre-test uses the pre-period cells (:math:`g > t`) with their analytic covariance
    :math:`W = \hat\theta_{pre}^\top \hat V^{-1} \hat\theta_{pre} \sim \chi^2_{q}`. Bootstrap standard
    errors are interquartile ranges of the draws over :math:`\Phi^{-1}(.75)-\Phi^{-1}(.25)`; the uniform
    band is :math:`\widehat{ATT} \pm \hat c_{1-\alpha}\,\widehat{se}_{boot}` with :math:`\hat c` the
    :math:`1-\alpha` quantile of :math:`\max_{g,t}|\widehat{ATT}^*-\widehat{ATT}|/\widehat{se}_{boot}`
    (R ``did``'s construction); pointwise intervals use the analytic standard errors. Without bootstrap
    there is no uniform band.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics* 225(2), 200-230.

    Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators.
    *Journal of Econometrics* 219(1), 101-122.

    Examples
    --------
    >>> res = att_gt(mpdta, yname="lemp", tname="year", idname="countyreal",  # doctest: +SKIP
    ...              gname="first.treat", seed=1)
    >>> res.to_frame().head()  # doctest: +SKIP
    """
    _check_options(
        control_group, est_method, base_period, anticipation, n_boot, seed, alpha, panel, bootstrap
    )
    _choice(boot_weights, MULTIPLIER_KINDS, "boot_weights")
    if isinstance(covariates, str):
        raise SpecificationError(f"att_gt(covariates=...) must be a list of column names; got {covariates!r}")
    covs = tuple(covariates or ())
    for name, value in (("weights", weights), ("cluster", cluster)):
        if value is not None and not isinstance(value, str):
            raise SpecificationError(f"att_gt({name}=...) must be None or a column name; got {value!r}")
    frame, dropped, periods_hint = _frame(
        data,
        yname=yname,
        tname=tname,
        idname=idname,
        gname=gname,
        covariates=covs,
        weights=weights,
        cluster=cluster,
        panel=panel,
    )
    raw = _build_inputs(
        frame,
        yname=yname,
        tname=tname,
        idname=idname,
        gname=gname,
        covariates=covs,
        weights=weights,
        cluster=cluster,
        panel=panel,
        dropped=dropped,
        periods_hint=periods_hint,
    )
    check_outcome_varies(frame[yname].to_numpy(dtype=np.float64, na_value=np.nan), column=yname,
                         function="att_gt")
    inp = _recode_cohorts(
        raw, gname=gname, control_group=control_group, anticipation=int(anticipation), panel=panel
    )
    if inp.periods.size < 2:
        raise EstimationError(f"att_gt needs at least two periods in {tname!r}; got {inp.periods.tolist()!r}")
    _check_cohort_sizes(inp.cohort, len(covs), gname, panel)
    n_clusters = None
    if inp.cluster is not None:
        n_clusters = int(inp.cluster.max()) + 1
        warn_few_clusters(n_clusters, function="att_gt", column=cluster)
    cohorts = np.unique(inp.cohort[inp.cohort > 0])
    cells = _cells(inp.periods, cohorts, base_period, int(anticipation))
    inp = sort_by_cohort(inp)
    block_inf: BlockInfluence | None = None
    inf_all: FloatArray | BlockSparseInfluence | None
    if panel and inp.x is None and inp.cluster is None and not np.isnan(inp.y).any():
        kept, att_all, block_inf, n_t, n_c, left_out = block_panel_cells(
            inp.y, inp.weights, inp.cohort, inp.periods, cells,
            control_group=control_group, anticipation=int(anticipation),
        )
        for message in left_out:
            warnings.warn(message, EstimationWarning, stacklevel=user_stack_level())
        inf_all = None
    elif panel and inp.x is None:
        inp = _column_major(inp)
        kept, att_all, inf_all, n_t, n_c = fast_panel_cells(
            inp, cells, control_group=control_group, anticipation=int(anticipation)
        )
    else:
        inp = _column_major(inp)
        kept, att_all, inf_all, n_t, n_c = estimate_cells(
            inp,
            cells,
            control_group=control_group,
            est_method=est_method,
            anticipation=int(anticipation),
            panel=panel,
            sparse=panel and inp.cluster is None,
        )
    if not kept:
        raise EstimationError("no ATT(g, t) could be estimated; see the warnings for each cohort and period")
    sel = np.asarray(kept, dtype=np.int64)
    att = att_all[sel]
    inf: InfluenceFunction
    if block_inf is not None:
        inf = block_inf.select(sel) if sel.size != len(cells) else block_inf
    elif isinstance(inf_all, BlockSparseInfluence):
        sparse = inf_all.select(sel) if sel.size != len(cells) else inf_all
        sparse.setflags(write=False)
        inf = sparse
    else:
        dense_all = inf_all if inf_all is not None else np.zeros((0, len(cells)))
        dense = np.ascontiguousarray(dense_all[:, sel]) if sel.size != len(cells) else dense_all
        # unclustered: an ATT(g, t) lives on its cohort and its comparison cohorts, so sum per cohort block
        blocks = cohort_bounds(inp.cohort) if inp.cluster is None else None
        inf = DenseInfluence(dense, cluster=inp.cluster, blocks=blocks)
    cov = inf.covariance()
    group = np.array([cells[k][0] for k in kept], dtype=np.int64)
    time = inp.periods[[cells[k][1] for k in kept]].astype(np.int64)
    base = inp.periods[[cells[k][2] for k in kept]].astype(np.int64)
    var = np.diag(cov)
    se = np.where(var > 0.0, np.sqrt(np.clip(var, 0.0, None)), np.nan)
    pretest = _pretest(att, se, cov, group, time)
    boot_seed = None
    boot_se = None
    crit = None
    if bootstrap:
        boot_seed = int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        draws = inf.draws(n_boot=int(n_boot), seed=boot_seed, kind=boot_weights)
        boot_se = np.where(np.isfinite(se), bootstrap_standard_errors(draws), np.nan)
        crit = sup_t_critical_value(draws, boot_se, alpha=float(alpha))
    arguments = {
        "yname": yname,
        "tname": tname,
        "idname": idname,
        "gname": gname,
        "covariates": list(covs),
        "control_group": control_group,
        "est_method": est_method,
        "base_period": base_period,
        "anticipation": int(anticipation),
        "panel": panel,
        "weights": weights,
        "cluster": cluster,
        "bootstrap": bootstrap,
        "n_boot": int(n_boot),
        "seed": seed,
        "alpha": float(alpha),
        "boot_weights": boot_weights,
    }
    spec = Specification(
        estimator="att_gt",
        arguments=arguments,
        n_obs=int(inp.n_obs),
        n_units=int(inf.shape[0]),
        dropped=inp.dropped,
        seed=boot_seed,
    )
    return AttGtResult(
        group=group,
        time=time,
        base_time=base,
        att=att,
        std_error=se,
        boot_std_error=boot_se,
        critical_value=crit,
        pretest=pretest,
        n_treated=n_t[sel],
        n_control=n_c[sel],
        alpha=float(alpha),
        n_boot=int(n_boot) if bootstrap else None,
        boot_weights=boot_weights,
        n_clusters=n_clusters,
        specification=spec,
        influence=inf,
        unit_cohort=inp.cohort,
        unit_weights=inp.weights / np.mean(inp.weights),
    )
