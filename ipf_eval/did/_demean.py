r"""Partialling out firm and period fixed effects (private).

Two routines remove fixed effects from the columns of a matrix, both with optional observation weights:

* :class:`TwoWayProjector` removes one-way *unit* effects and one-way *time* effects **exactly**, in one pass,
  for balanced and unbalanced panels alike.  By Frisch-Waugh-Lovell, residualising on unit dummies
  :math:`U` and time dummies :math:`Z` equals residualising on :math:`U` (a within transformation, computed
  with ``np.bincount``) and then on :math:`\tilde Z = (I - P_U) Z`.  The second step needs only the
  :math:`T \times T` matrix

  .. math:: \tilde Z' W \tilde Z = \operatorname{diag}(W_{\cdot s}) - Q' \operatorname{diag}(1/W_{i\cdot}) Q,

  where :math:`Q_{is}` is the total weight of unit :math:`i` in period :math:`s`, and
  :math:`\tilde Z' W \tilde x = Z' W \tilde x` (a ``bincount`` by period), because :math:`\tilde x` is
  already orthogonal to the unit dummies.  The cost is :math:`O(N p + n_{units} T^2)` with no iteration and
  no tolerance, so the result is exact to rounding error whether or not the panel is balanced.  This is
  what the estimators use whenever the dense ``n_units x T`` matrix :math:`Q` is affordable.

* :func:`alternating_projections` (the method of alternating projections, as in ``reghdfe``/``fixest``
  without acceleration) handles any number of fixed-effect dimensions; iterations stop when the largest
  change of any column is below ``tol`` times the column's scale.  It is the fallback for very many periods
  and a second code path in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipf_eval.errors import EstimationError

__all__ = ["TwoWayProjector", "alternating_projections", "factorize"]

#: Above this many cells (units x periods), :class:`TwoWayProjector` is not used (memory of ``Q``).
MAX_DENSE_CELLS = 60_000_000


def factorize(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
    """Return integer codes ``0..k-1`` (int64, in sorted order of the levels) and the number of levels ``k``.

    Integer input that is already sorted (firm ids of a validated panel) or spans a compact range (periods)
    is coded in one vectorised pass; anything else goes through ``pandas.factorize``.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.size > 0:
        if arr.size == 1 or bool(np.all(arr[1:] >= arr[:-1])):
            change = np.empty(arr.size, dtype=np.int64)
            change[0] = 0
            np.not_equal(arr[1:], arr[:-1], out=change[1:])
            codes = np.cumsum(change)
            return codes, int(codes[-1]) + 1
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 4 * arr.size and hi - lo < 50_000_000:
            offset = (arr - lo).astype(np.int64, copy=False)
            present = np.zeros(hi - lo + 1, dtype=np.int64)
            present[offset] = 1
            mapping = np.cumsum(present) - 1
            return mapping[offset], int(present.sum())
    codes, uniques = pd.factorize(arr, sort=True)
    return codes.astype(np.int64, copy=False), len(uniques)


def _group_sums(codes: np.ndarray, n: int, mat: np.ndarray) -> np.ndarray:
    """Sum the rows of ``mat`` (``N x p``) within groups ``codes`` (``0..n-1``); returns ``n x p``."""
    out = np.empty((n, mat.shape[1]), dtype=np.float64)
    for j in range(mat.shape[1]):
        out[:, j] = np.bincount(codes, weights=mat[:, j], minlength=n)
    return out


@dataclass(frozen=True, eq=False)
class TwoWayProjector:
    r"""Exact residual maker for unit and time fixed effects (see the module docstring).

    Build it with :meth:`build`; :meth:`residualize` then removes both sets of effects from any matrix.

    Attributes
    ----------
    unit, time
        Integer codes (``0..n_units-1``, ``0..n_times-1``) of each observation.
    weights
        Observation weights, or ``None`` for unweighted least squares.
    unit_weight
        Total weight (or count) of each unit.
    q_scaled
        ``Q / W_i`` (``n_units x n_times``), used to map time effects back to unit means.
    a_pinv
        Pseudo-inverse of :math:`\tilde Z' W \tilde Z`.
    time_rank
        Rank of :math:`\tilde Z' W \tilde Z`: the number of free time effects once unit effects are in
        (``n_times - 1`` when the unit-period graph is connected).
    unit_starts, unit_rows
        First row and number of rows of each unit when rows are sorted by unit (else ``None``).
    """

    unit: np.ndarray
    time: np.ndarray
    n_units: int
    n_times: int
    weights: np.ndarray | None
    unit_weight: np.ndarray
    q_scaled: np.ndarray
    a_pinv: np.ndarray
    time_rank: int
    unit_starts: np.ndarray | None = None
    unit_rows: np.ndarray | None = None

    @classmethod
    def build(
        cls, unit: np.ndarray, n_units: int, time: np.ndarray, n_times: int, weights: np.ndarray | None = None
    ) -> TwoWayProjector:
        """Precompute the ``T x T`` system for units ``unit`` and periods ``time`` (integer codes)."""
        cell = unit * n_times + time
        flat: np.ndarray
        if weights is None:
            flat = np.bincount(cell, minlength=n_units * n_times).astype(np.float64)
        else:
            flat = np.bincount(cell, weights=weights, minlength=n_units * n_times)
        del cell
        q = flat.reshape(n_units, n_times)
        unit_weight = q.sum(axis=1)
        if np.any(unit_weight <= 0):
            raise EstimationError(
                "a firm has zero total weight; drop firms whose weights are all zero before estimating"
            )
        q_scaled = q / unit_weight[:, None]
        a = np.diag(q.sum(axis=0)) - q_scaled.T @ q
        a = (a + a.T) / 2.0
        vals, vecs = np.linalg.eigh(a)
        cutoff = max(float(vals.max(initial=0.0)), 1.0) * 1e-11 * n_times
        keep = vals > cutoff
        a_pinv = (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T
        # rows sorted by unit (as in a validated panel): segment sums and repeats replace scatter/gather
        starts: np.ndarray | None = None
        rows: np.ndarray | None = None
        if unit.size > 1 and bool(np.all(unit[1:] >= unit[:-1])):
            starts = np.flatnonzero(np.concatenate(([True], unit[1:] != unit[:-1])))
            rows = np.diff(np.append(starts, unit.size))
        return cls(unit=unit, time=time, n_units=n_units, n_times=n_times, weights=weights,
                   unit_weight=unit_weight, q_scaled=q_scaled, a_pinv=a_pinv, time_rank=int(keep.sum()),
                   unit_starts=starts, unit_rows=rows)

    def residualize(self, mat: np.ndarray) -> np.ndarray:
        """Return ``mat`` (``N x p`` or length ``N``) with unit and time effects removed (a new array).

        Columns are processed one at a time as contiguous vectors: two passes of sums (segment sums
        ``np.add.reduceat`` when rows are sorted by unit, as in a validated panel, ``np.bincount`` otherwise)
        and three expansions back to rows, which is much faster than row-gathers on an ``N x p`` block.
        """
        arr = np.asarray(mat, dtype=np.float64)
        if arr.ndim == 1:
            return self._residualize_column(np.ascontiguousarray(arr))
        out = np.empty(arr.shape, dtype=np.float64, order="F")
        for j in range(arr.shape[1]):
            out[:, j] = self._residualize_column(np.ascontiguousarray(arr[:, j]))
        return out

    def _unit_sums(self, values: np.ndarray) -> np.ndarray:
        if self.unit_starts is not None:
            return np.add.reduceat(values, self.unit_starts)
        return np.bincount(self.unit, weights=values, minlength=self.n_units)

    def _per_row(self, per_unit: np.ndarray) -> np.ndarray:
        if self.unit_rows is not None:
            return np.repeat(per_unit, self.unit_rows)
        return per_unit[self.unit]

    def _residualize_column(self, col: np.ndarray) -> np.ndarray:
        w = self.weights
        unit_means = self._unit_sums(col if w is None else col * w) / self.unit_weight
        within = col - self._per_row(unit_means)
        period_sums = np.bincount(self.time, weights=within if w is None else within * w,
                                  minlength=self.n_times)
        gamma = self.a_pinv @ period_sums
        within -= gamma[self.time]
        within += self._per_row(self.q_scaled @ gamma)
        return within


def alternating_projections(
    mat: np.ndarray,
    groups: Sequence[tuple[np.ndarray, int]],
    weights: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> np.ndarray:
    """Remove several sets of fixed effects by alternating projections.

    Parameters
    ----------
    mat
        ``N x p`` (or length-``N``) float array; not modified.
    groups
        One ``(codes, n_levels)`` pair per fixed-effect dimension.
    weights
        Optional observation weights.
    tol
        Stop when, for every column, the largest absolute change in a sweep is below ``tol`` times the
        column's largest absolute value (plus one).
    max_iter
        Maximum number of sweeps.

    Returns
    -------
    numpy.ndarray
        The residualised array, same shape as ``mat``.

    Raises
    ------
    EstimationError
        If the iterations do not converge within ``max_iter`` sweeps.
    """
    arr = np.array(mat, dtype=np.float64, copy=True)
    flat = arr.ndim == 1
    if flat:
        arr = arr[:, None]
    w = np.ones(arr.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    group_weights = [np.bincount(c, weights=w, minlength=n) for c, n in groups]
    scale = np.abs(arr).max(axis=0) + 1.0
    active = np.arange(arr.shape[1])
    for _ in range(max_iter):
        sub = arr[:, active]
        change = np.zeros(active.shape[0])
        for (codes, n), gw in zip(groups, group_weights, strict=True):
            means = _group_sums(codes, n, sub * w[:, None]) / np.where(gw > 0, gw, 1.0)[:, None]
            sub -= means[codes]
            change = np.maximum(change, np.abs(means).max(axis=0))
        arr[:, active] = sub
        done = change <= tol * scale[active]
        active = active[~done]
        if active.size == 0:
            return arr[:, 0] if flat else arr
    raise EstimationError(
        f"alternating projections did not converge in {max_iter} sweeps (tol={tol!r}); the fixed effects are "
        "probably only weakly connected; check for firms observed in a single period or isolated groups"
    )
