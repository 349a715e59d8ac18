"""Per-(g, t) estimation for :func:`ipf_eval.did.att_gt.att_gt` (private).

Units are sorted by cohort (never supported last) so that every cohort is a contiguous block of rows and
every comparison group a union of blocks; without covariates each ATT(g, t) is then a difference of weighted
mean changes over slices, with an influence function written straight into its column.  With covariates,
or for repeated cross-sections, each cell calls the Sant'Anna-Zhao estimators of
:mod:`ipf_eval.did._drdid` on its rows.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ipf_eval._arrays import fast_unique
from ipf_eval._defaults import user_stack_level
from ipf_eval.did import _drdid
from ipf_eval.did._block_if import BlockSparseInfluence
from ipf_eval.errors import EstimationWarning
from ipf_eval.results import DropRecord

__all__ = ["Inputs", "cohort_bounds", "estimate_cells", "fast_panel_cells", "sort_by_cohort"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
CellResults = tuple[list[int], FloatArray, FloatArray, IntArray, IntArray]


@dataclass(frozen=True)
class Inputs:
    """Arrays the estimator works on (one row per unit for panels, per observation otherwise)."""

    y: FloatArray  # panel: n × T (NaN where unobserved); rc: n
    tcode: IntArray | None  # rc only: period index of each row
    cohort: IntArray  # first support period, 0 = never (in sample)
    weights: FloatArray
    x: FloatArray | None  # n × k design with intercept, or None without covariates
    cluster: IntArray | None
    periods: IntArray
    n_obs: int
    dropped: tuple[DropRecord, ...]


_PANEL = {"dr": _drdid.panel_dr, "ipw": _drdid.panel_ipw, "reg": _drdid.panel_reg}
_RC = {"dr": _drdid.rc_dr, "ipw": _drdid.rc_ipw, "reg": _drdid.rc_reg}


def sort_by_cohort(inp: Inputs) -> Inputs:
    """Order units (rows) by cohort, never-treated last, keeping the firm order within a cohort.

    Every cohort is then a contiguous block and every comparison group a union of at most two blocks, so
    the estimator works on slices instead of masks; the order depends on the data, not on the row order.
    """
    key = np.where(inp.cohort == 0, np.iinfo(np.int64).max, inp.cohort)
    if np.all(key[1:] >= key[:-1]):
        return inp
    values = fast_unique(inp.cohort)
    if values.size > 64:
        order = np.argsort(key, kind="stable")
    else:  # few cohorts: a counting sort (stable, one pass per cohort)
        levels = np.sort(np.where(values == 0, np.iinfo(np.int64).max, values))
        order = np.concatenate([np.flatnonzero(key == v) for v in levels])
    y = inp.y[order]
    if inp.y.ndim == 2 and inp.y.flags.f_contiguous and not inp.y.flags.c_contiguous:
        y = np.asfortranarray(y)  # keep the layout: F for column (period) access, C for row blocks
    return Inputs(
        y,
        None if inp.tcode is None else inp.tcode[order],
        inp.cohort[order],
        inp.weights[order],
        None if inp.x is None else inp.x[order],
        None if inp.cluster is None else inp.cluster[order],
        inp.periods,
        inp.n_obs,
        inp.dropped,
    )


def _blocks(cohort: IntArray) -> dict[int, tuple[int, int]]:
    """Row range of each cohort in a cohort-sorted array."""
    change = np.flatnonzero(np.r_[True, cohort[1:] != cohort[:-1], True])
    return {int(cohort[a]): (int(a), int(b)) for a, b in itertools.pairwise(change)}


def fast_panel_cells(
    inp: Inputs, cells: list[tuple[int, int, int]], *, control_group: str, anticipation: int
) -> tuple[list[int], FloatArray, FloatArray, IntArray, IntArray]:
    r"""ATT(g, t) without covariates: differences of weighted mean changes on contiguous cohort blocks.

    The influence function of unit ``i`` is :math:`n w_i (\Delta Y_i - \bar{\Delta Y}_{grp}) / W_{grp}`
    (``grp`` its cohort's group: treated or comparison; :math:`W` the group's weight sum), zero elsewhere.
    """
    y, w, periods = inp.y, inp.weights, inp.periods
    n = y.shape[0]
    blocks = _blocks(inp.cohort)
    cohorts_sorted = sorted(c for c in blocks if c > 0)
    never = blocks.get(0)
    inf = np.zeros((n, len(cells)), order="F")
    att = np.full(len(cells), np.nan)
    n_t = np.zeros(len(cells), dtype=np.int64)
    n_c = np.zeros(len(cells), dtype=np.int64)
    kept: list[int] = []
    for k, (g, cur, base) in enumerate(cells):
        if cur == base:
            kept.append(k)
            att[k] = 0.0
            continue
        label = f"ATT(g={g}, t={int(periods[cur])}) (base period {int(periods[base])})"
        treated = [blocks[g]]
        if control_group == "never_treated":
            ctrl_cohorts = []
        else:
            thr = periods[max(cur, base)] + anticipation
            ctrl_cohorts = [c for c in cohorts_sorted if c > thr and c != g]
        control = [blocks[c] for c in ctrl_cohorts] + ([never] if never is not None else [])
        stats_ = []
        for group in (treated, control):
            sw = swy = 0.0
            cnt = 0
            parts = []
            for a, b in group:
                dy = y[a:b, cur] - y[a:b, base]
                wb = w[a:b]
                ok = ~np.isnan(dy)
                if not ok.all():
                    dy = np.where(ok, dy, 0.0)
                    wb = np.where(ok, wb, 0.0)
                sw += float(wb.sum())
                swy += float(wb @ dy)
                cnt += int(ok.sum())
                parts.append((a, b, dy, wb))
            stats_.append((sw, swy, cnt, parts))
        (s1, sy1, nt, p1), (s0, sy0, nc, p0) = stats_
        if nt == 0 or nc == 0 or not s1 > 0 or not s0 > 0:
            warnings.warn(
                f"{label} is left out: {nt} treated and {nc} comparison units are observed in both periods "
                "with positive weight",
                EstimationWarning,
                stacklevel=user_stack_level(),
            )
            continue
        mu1, mu0 = sy1 / s1, sy0 / s0
        att[k] = mu1 - mu0
        for parts, mu, scale in ((p1, mu1, n / s1), (p0, mu0, -n / s0)):
            for a, b, dy, wb in parts:
                inf[a:b, k] = scale * wb * (dy - mu)
        n_t[k], n_c[k] = nt, nc
        kept.append(k)
    return kept, att, inf, n_t, n_c


def cohort_bounds(cohort: IntArray) -> tuple[tuple[int, int], ...]:
    """Row ranges of the cohort blocks of a cohort-sorted array, in row order."""
    return tuple(_blocks(cohort).values())


def _record(
    fit: _drdid.TwoPeriodFit,
    label: str,
    att: FloatArray,
    inf: FloatArray | BlockSparseInfluence,
    idx: IntArray,
    k: int,
    scale: float,
) -> None:
    """Store one cell's estimate and influence function; warn about trimmed propensity scores."""
    if fit.n_trimmed:
        warnings.warn(
            f"{fit.n_trimmed} comparison units with propensity scores >= {_drdid.TRIM_LEVEL} were "
            f"given zero weight in {label} (limited overlap)",
            EstimationWarning,
            stacklevel=user_stack_level(),
        )
    att[k] = fit.att
    if isinstance(inf, BlockSparseInfluence):
        inf.write(k, idx, scale * fit.inf_func)
        return
    if idx.size and int(idx[-1]) - int(idx[0]) + 1 == idx.size:  # one run of units: a slice
        np.multiply(fit.inf_func, scale, out=inf[int(idx[0]) : int(idx[-1]) + 1, k])
        return
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    if breaks.size <= 8:  # a few runs (cohort blocks): slices instead of a scatter
        for lo, hi in itertools.pairwise([0, *breaks.tolist(), idx.size]):
            a = int(idx[lo])
            np.multiply(fit.inf_func[lo:hi], scale, out=inf[a : a + hi - lo, k])
        return
    inf[idx, k] = scale * fit.inf_func


def _allocate_sparse(
    inp: Inputs, cells: list[tuple[int, int, int]], *, control_group: str, anticipation: int
) -> BlockSparseInfluence:
    """Per-block storage for the cells: each cell enters its cohort's block and its comparison blocks."""
    blocks = _blocks(inp.cohort)
    order = sorted(blocks.values())
    index = {rng: c for c, rng in enumerate(order)}
    cols: list[list[int]] = [[] for _ in order]
    cohort_values = sorted(blocks)
    for k, (g, cur, base) in enumerate(cells):
        if cur == base:
            continue
        if control_group == "never_treated":
            members = [g, 0]
        else:
            thr = inp.periods[max(cur, base)] + anticipation
            members = [g, *(c for c in cohort_values if c == 0 or (c > thr and c != g))]
        for c in members:
            if c in blocks:
                cols[index[blocks[c]]].append(k)
    return BlockSparseInfluence.allocate(inp.y.shape[0], len(cells), tuple(order), cols)


def estimate_cells(
    inp: Inputs,
    cells: list[tuple[int, int, int]],
    *,
    control_group: str,
    est_method: str,
    anticipation: int,
    panel: bool,
    sparse: bool = False,
) -> tuple[list[int], FloatArray, FloatArray | BlockSparseInfluence, IntArray, IntArray]:
    """Estimate every cell with the Sant'Anna-Zhao estimators (``sparse``: influence functions per block).

    ``sparse`` needs units sorted by cohort (:func:`sort_by_cohort`).
    """
    n = inp.y.shape[0]
    cohort, w, periods = inp.cohort, inp.weights, inp.periods
    inf: FloatArray | BlockSparseInfluence
    if sparse:
        inf = _allocate_sparse(inp, cells, control_group=control_group, anticipation=anticipation)
    else:
        inf = np.zeros((n, len(cells)), order="F")
    att = np.full(len(cells), np.nan)
    n_t = np.zeros(len(cells), dtype=np.int64)
    n_c = np.zeros(len(cells), dtype=np.int64)
    kept: list[int] = []
    # balanced panel: a cell's units depend only on its cohort and comparison cohorts, so cells sharing
    # them share the sample, the propensity score and the regression design
    complete = panel and not np.isnan(inp.y).any()
    samples: dict[tuple[int, tuple[int, ...]], dict[str, Any]] = {}
    cohort_values = [int(c) for c in np.unique(cohort)]
    for k, (g, cur, base) in enumerate(cells):
        label = f"ATT(g={g}, t={int(periods[cur])}) (base period {int(periods[base])})"
        if cur == base:
            kept.append(k)
            att[k] = 0.0
            continue
        if control_group == "never_treated":
            ctrl_key: tuple[int, ...] = (0,)
        else:
            thr = periods[max(cur, base)] + anticipation
            ctrl_key = tuple(c for c in cohort_values if c == 0 or (c > thr and c != g))
        shared = samples.get((g, ctrl_key)) if complete else None
        if shared is not None:
            idx, d, ws, xs, nt, nc = (shared[key] for key in ("idx", "d", "ws", "xs", "nt", "nc"))
            n1 = idx.size
            fit = _PANEL[est_method](inp.y[idx, cur] - inp.y[idx, base], d, xs, ws, label, shared["fits"])
            _record(fit, label, att, inf, idx, k, n / n1)
            n_t[k], n_c[k] = nt, nc
            kept.append(k)
            continue
        treated = cohort == g
        if control_group == "never_treated":
            control = cohort == 0
        else:
            control = (cohort == 0) | ((cohort > periods[max(cur, base)] + anticipation) & ~treated)
        if panel:
            sample = (treated | control) & ~np.isnan(inp.y[:, cur]) & ~np.isnan(inp.y[:, base])
        else:
            tc = inp.tcode if inp.tcode is not None else np.zeros(n, dtype=np.int64)
            sample = (treated | control) & ((tc == cur) | (tc == base))
        nt, nc = int(np.sum(sample & treated)), int(np.sum(sample & control))
        if nt == 0 or nc == 0 or not np.sum(w[sample & treated]) > 0 or not np.sum(w[sample & control]) > 0:
            warnings.warn(
                f"{label} is left out: {nt} treated and {nc} comparison units are observed in both periods "
                "with positive weight",
                EstimationWarning,
                stacklevel=user_stack_level(),
            )
            continue
        n1 = int(sample.sum())
        idx = np.nonzero(sample)[0]
        d = treated[idx].astype(np.float64)
        ws = w[idx]
        if panel and inp.x is None:
            dy = inp.y[idx, cur] - inp.y[idx, base]
            s1, s0 = float(np.sum(ws * d)), float(np.sum(ws * (1.0 - d)))
            mu1 = float(np.sum(ws * d * dy)) / s1
            mu0 = float(np.sum(ws * (1.0 - d) * dy)) / s0
            att[k] = mu1 - mu0
            values = n * ws * np.where(d == 1.0, (dy - mu1) / s1, -(dy - mu0) / s0)
            if isinstance(inf, BlockSparseInfluence):
                inf.write(k, idx, values)
            else:
                inf[idx, k] = values
        else:
            x = np.ones((n1, 1)) if inp.x is None else inp.x[idx]
            if panel:
                fits: dict[str, Any] | None = None
                if complete:
                    fits = {}
                    samples[(g, ctrl_key)] = {"idx": idx, "d": d, "ws": ws, "xs": x, "nt": nt, "nc": nc,
                                              "fits": fits}
                fit = _PANEL[est_method](inp.y[idx, cur] - inp.y[idx, base], d, x, ws, label, fits)
            else:
                post = (inp.tcode[idx] == cur).astype(np.float64) if inp.tcode is not None else d
                fit = _RC[est_method](inp.y[idx], post, d, x, ws, label)
            _record(fit, label, att, inf, idx, k, n / n1)
        n_t[k], n_c[k] = nt, nc
        kept.append(k)
    return kept, att, inf, n_t, n_c
