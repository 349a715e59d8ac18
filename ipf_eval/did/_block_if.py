r"""Influence functions of ATT(g, t) without covariates, stored per cohort block (private).

On a balanced panel without covariates the influence function of every ATT(g, t) is, on each unit
:math:`i` of cohort block :math:`c` (units sorted by cohort),

.. math:: \psi_{ik} = w_i \big((y_i - \bar y_c)^\top B_{c,k} + d_{c,k}\big),

with :math:`y_i` the unit's row of outcomes over all periods, :math:`\bar y_c` the block's weighted mean
row, :math:`B_{c,k}` a period-contrast vector and :math:`d_{c,k}` a constant.  Linear maps of the influence
functions (aggregations) keep that form, so nothing of size ``n_units × n_cells`` is needed: covariances
come from per-block second moments (``T × T``) and multiplier-bootstrap draws from per-block sums of
multiplier-weighted outcomes (``n_boot × T``).  :meth:`BlockInfluence.dense` materialises the matrix when
asked for (``AttGtResult.influence_function``, clustered inference).

Both storages implement :class:`~ipf_eval.inference.influence.InfluenceFunction`, so aggregations combine,
bootstrap and take covariances of them without knowing which one they hold.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ipf_eval.errors import SpecificationError
from ipf_eval.inference.bootstrap import MULTIPLIER_KINDS, gaussian_draws, multiplier_block_sums
from ipf_eval.inference.dense import DenseInfluence

__all__ = ["BlockInfluence", "BlockMoments", "BlockSparseInfluence", "block_moments"]

FloatArray = NDArray[np.float64]
#: Rows processed at once when centring outcomes.
_ROWS = 1 << 15


def _check_kind(kind: str) -> None:
    if kind not in MULTIPLIER_KINDS:
        raise SpecificationError(f"draws(kind=...) must be one of {MULTIPLIER_KINDS!r}; got {kind!r}")


@dataclass(frozen=True)
class BlockMoments:
    """Per-block data: row ranges, weights, centred outcomes' moments and block means."""

    y: FloatArray  # n × T outcomes, units sorted by block
    w: FloatArray  # n unit weights
    bounds: tuple[tuple[int, int], ...]  # row range of each block
    ybar: FloatArray  # nb × T weighted (w) mean of each block
    wsum: FloatArray  # nb: sum of w
    m0: FloatArray  # nb: sum of w^2
    m1: FloatArray  # nb × T: sum of w^2 (y - ybar)
    m2: FloatArray  # nb × T × T: sum of w^2 (y - ybar)(y - ybar)'
    boot: dict[tuple[int, int, str], tuple[FloatArray, FloatArray]] = field(default_factory=dict)


def block_moments(y: FloatArray, w: FloatArray, bounds: tuple[tuple[int, int], ...]) -> BlockMoments:
    """Compute the per-block weighted means and centred second moments (two-pass, accurate)."""
    nb, t_count = len(bounds), y.shape[1]
    ybar = np.zeros((nb, t_count))
    wsum = np.zeros(nb)
    m0 = np.zeros(nb)
    m1 = np.zeros((nb, t_count))
    m2 = np.zeros((nb, t_count, t_count))
    for c, (a, b) in enumerate(bounds):
        wb = w[a:b]
        sw = float(wb.sum())
        wsum[c] = sw
        ybar[c] = (wb @ y[a:b]) / sw if sw > 0 else np.zeros(t_count)
        m0[c] = float(wb @ wb)
        for lo in range(a, b, _ROWS):  # centred in chunks: accurate, and little memory
            hi = min(b, lo + _ROWS)
            wc = y[lo:hi] - ybar[c]
            wc *= w[lo:hi, None]
            m1[c] += w[lo:hi] @ wc
            m2[c] += wc.T @ wc
    return BlockMoments(y, w, bounds, ybar, wsum, m0, m1, m2)


@dataclass(frozen=True, eq=False)
class BlockInfluence:
    r"""``n × k`` influence functions :math:`w_i((y_i - \bar y_c)^\top B_c + d_c)`, held per block."""

    mom: BlockMoments
    coef: FloatArray  # nb × T × k
    const: FloatArray  # nb × k
    _cache: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.setflags(write=False)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_units, k)`` as the dense matrix."""
        return (int(self.mom.y.shape[0]), int(self.const.shape[1]))

    @property
    def n_units(self) -> int:
        """Number of units (rows)."""
        return int(self.mom.y.shape[0])

    @property
    def ndim(self) -> int:
        """Two, as the dense matrix."""
        return 2

    def setflags(self, *, write: bool) -> None:
        """Freeze the coefficient arrays (the influence functions are read-only)."""
        if not write:
            self.coef.setflags(write=False)
            self.const.setflags(write=False)

    def select(self, cols: NDArray[np.int64]) -> BlockInfluence:
        """Keep columns ``cols``."""
        return BlockInfluence(self.mom, self.coef[:, :, cols], self.const[:, cols])

    def __matmul__(self, m: FloatArray) -> BlockInfluence:
        """Right-multiply by a ``k × j`` matrix (or a ``k`` vector, giving one column)."""
        mat = np.asarray(m, dtype=np.float64).reshape(self.const.shape[1], -1)
        return BlockInfluence(self.mom, self.coef @ mat, self.const @ mat)

    def combine(self, weights: ArrayLike) -> BlockInfluence:
        """Return the influence functions of ``k × j`` (or ``k``) linear combinations, still per block."""
        return self @ np.asarray(weights, dtype=np.float64)

    def add_block_constants(self, q: FloatArray) -> BlockInfluence:
        """Add ``w_i q[c]`` (``q``: ``nb × k``) to the influence function of every unit of block ``c``."""
        return BlockInfluence(self.mom, self.coef, self.const + q)

    def add_group_terms(
        self, unit_weights: ArrayLike, groups: ArrayLike, terms: ArrayLike
    ) -> BlockInfluence | DenseInfluence:
        """Return ``psi_i + unit_weights[i] * terms[groups[i]]``.

        Per block (a block constant) when the groups are constant within blocks and the unit weights are
        proportional to the blocks' weights ``w`` (the case of cohort shares); otherwise on the dense matrix.
        """
        uw = np.asarray(unit_weights, dtype=np.float64)
        codes = np.asarray(groups)
        t = np.asarray(terms, dtype=np.float64)
        mom = self.mom
        first_rows = np.array([a for a, _ in mom.bounds], dtype=np.int64)
        sizes = np.array([b - a for a, b in mom.bounds], dtype=np.int64)
        if uw.shape == mom.w.shape and codes.shape == mom.w.shape and codes.dtype.kind in "iu":
            ratio = float(uw.sum()) / float(mom.w.sum())
            per_block = np.array_equal(np.repeat(codes[first_rows], sizes), codes)
            if per_block and np.allclose(uw, ratio * mom.w, rtol=1e-12, atol=0.0):
                # w_i q[c] = raw weight * q[c] * ratio, the unit weights being the raw ones rescaled
                return self.add_block_constants(ratio * t.reshape(t.shape[0], -1)[codes[first_rows]])
        return DenseInfluence(self.dense()).add_group_terms(uw, codes, t)

    def nonzero_columns(self) -> NDArray[np.bool_]:
        """Columns that are not identically zero."""
        return np.asarray(np.any(self.coef != 0.0, axis=(0, 1)) | np.any(self.const != 0.0, axis=0))

    def gram(self) -> FloatArray:
        r""":math:`\sum_i \psi_i \psi_i^\top` (``k × k``) from the block moments."""
        k = self.const.shape[1]
        out = np.zeros((k, k))
        mom = self.mom
        for c in range(len(mom.bounds)):
            bc, dc = self.coef[c], self.const[c]
            if not (np.any(bc) or np.any(dc)):
                continue
            cross = np.outer(bc.T @ mom.m1[c], dc)
            out += bc.T @ mom.m2[c] @ bc + cross + cross.T + mom.m0[c] * np.outer(dc, dc)
        return out

    def covariance(self) -> FloatArray:
        """Return ``gram / n**2``, the covariance of the estimators (independent units; cached, read-only)."""
        if "covariance" not in self._cache:
            cov = self.gram() / float(self.shape[0]) ** 2
            cov.setflags(write=False)
            self._cache["covariance"] = cov
        return self._cache["covariance"]

    def standard_errors(self) -> FloatArray:
        """Return the roots of the covariance's diagonal (negative rounding clipped to zero)."""
        return np.asarray(np.sqrt(np.clip(np.diag(self.covariance()), 0.0, None)))

    def dense(self) -> FloatArray:
        """Return the ``n × k`` matrix (cached, read-only)."""
        if "dense" not in self._cache:
            mom = self.mom
            out = np.zeros(self.shape, order="F")
            for c, (a, b) in enumerate(mom.bounds):
                bc, dc = self.coef[c], self.const[c]
                cols = np.flatnonzero(np.any(bc != 0.0, axis=0) | (dc != 0.0))
                if cols.size == 0:
                    continue
                vals = (mom.y[a:b] - mom.ybar[c]) @ bc[:, cols] + dc[cols]
                out[a:b, cols] = mom.w[a:b, None] * vals
            out.setflags(write=False)
            self._cache["dense"] = out
        return self._cache["dense"]

    def draws(self, *, n_boot: int, seed: int, kind: str = "mammen") -> FloatArray:
        """Return ``n_boot × k`` multiplier-bootstrap draws, the multipliers of ``multiplier_draws``.

        Two-point multipliers go through the per-block multiplier sums of the outcomes (cached on the
        moments, so an estimate and its aggregations share them); Gaussian ones are drawn from
        :meth:`covariance` (their exact law given the data).
        """
        _check_kind(kind)
        if kind == "gaussian":
            return gaussian_draws(self.covariance(), n_boot=n_boot, seed=seed)
        return self.draws_from_basis(block_boot_basis(self.mom, n_boot=n_boot, seed=seed, kind=kind))

    def draws_from_basis(self, basis: tuple[FloatArray, FloatArray]) -> FloatArray:
        r"""Bootstrap draws :math:`n^{-1}\sum_i V_{ib}\psi_i` from the per-block multiplier sums."""
        zy, zw = basis  # nb × n_boot × T and nb × n_boot
        out = np.zeros((zw.shape[1], self.const.shape[1]))
        for c in range(len(self.mom.bounds)):
            out += zy[c] @ self.coef[c] + np.outer(zw[c], self.const[c])
        return out / float(self.shape[0])


def block_panel_cells(
    y: FloatArray,
    w: FloatArray,
    cohort: NDArray[np.int64],
    periods: NDArray[np.int64],
    cells: list[tuple[int, int, int]],
    *,
    control_group: str,
    anticipation: int,
) -> tuple[list[int], FloatArray, BlockInfluence, NDArray[np.int64], NDArray[np.int64], list[str]]:
    r"""ATT(g, t) without covariates on a balanced panel, from per-cohort means.

    Units must be sorted by cohort (never supported last) and ``y`` hold no missing value.  Returns the kept
    cells, the estimates, the :class:`BlockInfluence` of all cells, treated and comparison counts and the
    labels of the cells left out (no unit with positive weight), for the caller to warn about.
    """
    n = y.shape[0]
    change = np.flatnonzero(np.r_[True, cohort[1:] != cohort[:-1], True])
    bounds = tuple((int(a), int(b)) for a, b in itertools.pairwise(change))
    block_of = {int(cohort[a]): c for c, (a, _) in enumerate(bounds)}
    mom = block_moments(y, w, bounds)
    nb, t_count, k_all = len(bounds), y.shape[1], len(cells)
    coef = np.zeros((nb, t_count, k_all))
    const = np.zeros((nb, k_all))
    att = np.full(k_all, np.nan)
    n_t = np.zeros(k_all, dtype=np.int64)
    n_c = np.zeros(k_all, dtype=np.int64)
    sizes = np.array([b - a for a, b in bounds], dtype=np.int64)
    cohorts_sorted = sorted(g for g in block_of if g > 0)
    kept: list[int] = []
    left_out: list[str] = []
    for k, (g, cur, base) in enumerate(cells):
        if cur == base:
            kept.append(k)
            att[k] = 0.0
            continue
        treated = [block_of[g]]
        if control_group == "never_treated":
            ctrl = [block_of[0]] if 0 in block_of else []
        else:
            thr = periods[max(cur, base)] + anticipation
            ctrl = [block_of[c] for c in cohorts_sorted if c > thr and c != g]
            ctrl += [block_of[0]] if 0 in block_of else []
        nt, nc = int(sizes[treated].sum()), int(sizes[ctrl].sum()) if ctrl else 0
        s1 = float(mom.wsum[treated].sum())
        s0 = float(mom.wsum[ctrl].sum()) if ctrl else 0.0
        if nt == 0 or nc == 0 or not s1 > 0 or not s0 > 0:
            left_out.append(
                f"ATT(g={g}, t={int(periods[cur])}) (base period {int(periods[base])}) is left out: {nt} "
                f"treated and {nc} comparison units are observed in both periods with positive weight"
            )
            continue
        contrast = np.zeros(t_count)
        contrast[cur], contrast[base] = 1.0, -1.0
        dbar = mom.ybar[:, cur] - mom.ybar[:, base]
        mu1 = float(mom.wsum[treated] @ dbar[treated]) / s1
        mu0 = float(mom.wsum[ctrl] @ dbar[ctrl]) / s0
        att[k] = mu1 - mu0
        for blocks, mu, scale in ((treated, mu1, n / s1), (ctrl, mu0, -n / s0)):
            for c in blocks:
                coef[c, :, k] = scale * contrast
                const[c, k] = scale * (dbar[c] - mu)
        n_t[k], n_c[k] = nt, nc
        kept.append(k)
    return kept, att, BlockInfluence(mom, coef, const), n_t, n_c, left_out


def block_boot_basis(
    mom: BlockMoments, *, n_boot: int, seed: int, kind: str
) -> tuple[FloatArray, FloatArray]:
    """Per-block multiplier sums of ``w (y - ybar)`` and ``w`` (cached on ``mom`` by seed, draws, kind)."""
    key = (int(seed), int(n_boot), kind)
    if key not in mom.boot:
        values = []
        for c, (a, b) in enumerate(mom.bounds):
            v = np.empty((b - a, mom.y.shape[1] + 1))
            np.subtract(mom.y[a:b], mom.ybar[c], out=v[:, :-1])
            v[:, :-1] *= mom.w[a:b, None]
            v[:, -1] = mom.w[a:b]
            values.append(v)
        sums = np.stack(multiplier_block_sums(values, mom.bounds, n_boot=n_boot, seed=seed, kind=kind))
        mom.boot[key] = (np.ascontiguousarray(sums[:, :, :-1]), np.ascontiguousarray(sums[:, :, -1]))
    return mom.boot[key]


@dataclass(frozen=True, eq=False)
class BlockSparseInfluence:
    """``n × k`` influence functions stored per cohort block, each block holding only the cells it enters.

    Units are sorted by cohort; block ``c`` (rows ``bounds[c]``) stores a dense ``rows × len(cols[c])``
    matrix for the cells ``cols[c]``; every other entry is zero.  With covariates a cell's influence function
    lives on its cohort and its comparison cohorts only, so this holds about half the entries of the dense
    matrix, and covariances are sums of per-block Gram matrices.
    """

    n: int
    k: int
    bounds: tuple[tuple[int, int], ...]
    cols: tuple[NDArray[np.int64], ...]
    data: tuple[FloatArray, ...]
    _cache: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    @classmethod
    def allocate(
        cls, n: int, k: int, bounds: tuple[tuple[int, int], ...], cols: list[list[int]]
    ) -> BlockSparseInfluence:
        """Zero storage for blocks ``bounds`` entered by cells ``cols[c]``."""
        col_arrays = tuple(np.asarray(sorted(set(c)), dtype=np.int64) for c in cols)
        data = tuple(
            np.zeros((b - a, c.size), order="F") for (a, b), c in zip(bounds, col_arrays, strict=True)
        )
        return cls(n, k, bounds, col_arrays, data)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_units, k)`` as the dense matrix."""
        return (self.n, self.k)

    @property
    def n_units(self) -> int:
        """Number of units (rows)."""
        return self.n

    @property
    def ndim(self) -> int:
        """Two, as the dense matrix."""
        return 2

    def setflags(self, *, write: bool) -> None:
        """Freeze the stored blocks."""
        if not write:
            for d in self.data:
                d.setflags(write=False)

    def write(self, k: int, idx: NDArray[np.int64], values: FloatArray) -> None:
        """Set column ``k`` to ``values`` on the sorted rows ``idx`` (in blocks that cell ``k`` enters)."""
        for c, (a, b) in enumerate(self.bounds):
            lo, hi = np.searchsorted(idx, [a, b])
            if hi <= lo:
                continue
            pos = int(np.searchsorted(self.cols[c], k))  # allocated: cell k enters block c
            if hi - lo == b - a:  # the whole block: a slice
                self.data[c][:, pos] = values[lo:hi]
            else:
                self.data[c][idx[lo:hi] - a, pos] = values[lo:hi]

    def select(self, sel: NDArray[np.int64]) -> BlockSparseInfluence:
        """Keep columns ``sel`` (renumbered ``0..len(sel)-1``)."""
        new = np.full(self.k, -1, dtype=np.int64)
        new[sel] = np.arange(sel.size)
        cols, data = [], []
        for c_cols, d in zip(self.cols, self.data, strict=True):
            mapped = new[c_cols]
            keep = mapped >= 0
            cols.append(mapped[keep])
            data.append(d if keep.all() else np.asfortranarray(d[:, keep]))
        return BlockSparseInfluence(self.n, int(sel.size), self.bounds, tuple(cols), tuple(data))

    def combine(self, weights: ArrayLike) -> DenseInfluence:
        """Return the influence functions of ``k × j`` (or ``k``) linear combinations (dense, not sparse)."""
        w = np.asarray(weights, dtype=np.float64)
        return DenseInfluence(self @ w.reshape(w.shape[0], -1))

    def add_group_terms(self, unit_weights: ArrayLike, groups: ArrayLike, terms: ArrayLike) -> DenseInfluence:
        """Return ``psi_i + unit_weights[i] * terms[groups[i]]`` (dense)."""
        return DenseInfluence(self.dense()).add_group_terms(unit_weights, groups, terms)

    def __matmul__(self, m: FloatArray) -> FloatArray:
        """Right-multiply by a ``k × j`` matrix (or a ``k`` vector): a dense ``n × j`` result."""
        mat = np.asarray(m, dtype=np.float64)
        out = np.zeros((self.n, *mat.shape[1:]))
        for (a, b), c_cols, d in zip(self.bounds, self.cols, self.data, strict=True):
            if c_cols.size:
                out[a:b] = d @ mat[c_cols]
        return out

    def gram(self) -> FloatArray:
        r""":math:`\sum_i \psi_i \psi_i^\top` from the per-block Gram matrices."""
        out = np.zeros((self.k, self.k))
        for c_cols, d in zip(self.cols, self.data, strict=True):
            if c_cols.size:
                out[np.ix_(c_cols, c_cols)] += d.T @ d
        return out

    def covariance(self) -> FloatArray:
        """Return ``gram / n**2``, the covariance of the estimators (independent units; cached, read-only)."""
        if "covariance" not in self._cache:
            cov = self.gram() / float(self.n) ** 2
            cov.setflags(write=False)
            self._cache["covariance"] = cov
        return self._cache["covariance"]

    def standard_errors(self) -> FloatArray:
        """Return the roots of the covariance's diagonal (negative rounding clipped to zero)."""
        return np.asarray(np.sqrt(np.clip(np.diag(self.covariance()), 0.0, None)))

    def nonzero_columns(self) -> NDArray[np.bool_]:
        """Columns that are not identically zero."""
        out = np.zeros(self.k, dtype=bool)
        for c_cols, d in zip(self.cols, self.data, strict=True):
            if c_cols.size:
                out[c_cols] |= np.any(d != 0.0, axis=0)
        return out

    def dense(self) -> FloatArray:
        """Return the ``n × k`` matrix (cached, read-only)."""
        if "dense" not in self._cache:
            out = np.zeros(self.shape, order="F")
            for (a, b), c_cols, d in zip(self.bounds, self.cols, self.data, strict=True):
                if c_cols.size:
                    out[a:b, c_cols] = d
            out.setflags(write=False)
            self._cache["dense"] = out
        return self._cache["dense"]

    def draws(self, *, n_boot: int, seed: int, kind: str = "mammen") -> FloatArray:
        """Multiplier-bootstrap draws, with the multipliers of ``multiplier_draws`` on the dense matrix.

        Gaussian multipliers are drawn from :meth:`covariance` (their exact law given the data).
        """
        _check_kind(kind)
        if kind == "gaussian":
            return gaussian_draws(self.covariance(), n_boot=n_boot, seed=seed)
        sums = multiplier_block_sums(list(self.data), self.bounds, n_boot=n_boot, seed=seed, kind=kind)
        out = np.zeros((n_boot, self.k))
        for c_cols, s in zip(self.cols, sums, strict=True):
            if c_cols.size:
                out[:, c_cols] += s
        return out / float(self.n)
