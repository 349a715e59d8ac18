r"""Variance from influence functions: pointwise standard errors and covariance matrices.

An estimator :math:`\\hat\\theta` is asymptotically linear with influence function :math:`\\psi` when
:math:`\\hat\\theta - \\theta = n^{-1}\\sum_i \\psi_i + o_p(n^{-1/2})`.  Its variance is estimated by
:math:`n^{-2}\\sum_i \\psi_i\\psi_i^\\top` (independent units) or by
:math:`n^{-2}\\sum_c (\\sum_{i\\in c}\\psi_i)(\\sum_{i\\in c}\\psi_i)^\\top` when units are clustered; no
small-sample factor is applied (the convention of R's ``did`` package).

:class:`InfluenceFunction` is the interface every result's influence functions offer (whatever their
storage: a dense matrix, :class:`~ipf_eval.inference.dense.DenseInfluence`, or the per-cohort blocks of
the DiD estimators), and :class:`HasInfluence` the interface of a result that carries them, so that code
combining estimates (aggregations, contrasts) reads public fields and dispatches by method, not by type.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import DataError

__all__ = [
    "HasInfluence",
    "InfluenceFunction",
    "block_covariance",
    "check_influence",
    "cluster_sums",
    "if_covariance",
    "if_standard_errors",
]

FloatArray = NDArray[np.float64]


@runtime_checkable
class InfluenceFunction(Protocol):
    r"""``n × k`` influence functions :math:`\psi` of ``k`` estimators on the same ``n`` units.

    Scaled so that :math:`\hat\theta - \theta \approx n^{-1}\sum_i \psi_i`: the covariance of the
    estimators is :math:`n^{-2}\sum_i \psi_i\psi_i^\top` (summed within clusters first when the units are
    clustered).  Implementations are read-only; every operation returns a new object or a new array.
    """

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_units, k)``, the shape of the dense matrix."""
        ...

    @property
    def n_units(self) -> int:
        """Number of units (rows)."""
        ...

    def combine(self, weights: ArrayLike) -> InfluenceFunction:
        """Return the influence functions of linear combinations: ``psi @ weights`` (``k × j`` or ``k``)."""
        ...

    def add_group_terms(
        self, unit_weights: ArrayLike, groups: ArrayLike, terms: ArrayLike
    ) -> InfluenceFunction:
        """Return ``psi_i + unit_weights[i] * terms[groups[i]]`` (``terms``: a row per group, ``k`` columns).

        The influence function of an estimated weight that is constant within groups of units (the cohort
        shares of an aggregation).  ``groups`` index the rows of ``terms`` (negative values count from the
        end, as in numpy).
        """
        ...

    def covariance(self) -> FloatArray:
        """Return the ``k × k`` covariance of the estimators (cluster-robust when units are clustered)."""
        ...

    def standard_errors(self) -> FloatArray:
        """Return the ``k`` standard errors: roots of the covariance's diagonal."""
        ...

    def nonzero_columns(self) -> NDArray[np.bool_]:
        """Which of the ``k`` columns are not identically zero."""
        ...

    def draws(self, *, n_boot: int, seed: int, kind: str = "mammen") -> FloatArray:
        r"""``n_boot × k`` multiplier-bootstrap draws of :math:`\hat\theta^* - \hat\theta`.

        The multipliers depend on ``seed``, ``kind`` and the units only, so influence functions of the
        same units (an estimate and its aggregations) share them; see
        :func:`~ipf_eval.inference.bootstrap.multiplier_draws`.
        """
        ...

    def dense(self) -> FloatArray:
        """Return the read-only ``n × k`` matrix."""
        ...


@runtime_checkable
class HasInfluence(Protocol):
    """A result that carries the influence functions of its estimates (``None`` when it has none)."""

    @property
    def influence(self) -> InfluenceFunction | None:
        """The influence functions, one column per estimate (the result's documentation gives the order)."""
        ...


@keyword_options
def check_influence(
    inf_func: object, cluster: object, *, function: str
) -> tuple[FloatArray, NDArray[np.intp] | None]:
    """Return ``inf_func`` as a float matrix (a vector is one column) and ``cluster`` as codes, checked.

    Raises
    ------
    DataError
        If the influence functions are not a non-empty numeric vector or matrix of finite numbers, or the
        cluster codes are not one non-negative integer per row.
    """
    try:
        mat = np.asarray(inf_func, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{function}(inf_func=...) must be a numeric n × k array; got {inf_func!r:.80}."
        ) from exc
    if mat.ndim == 1:
        mat = mat[:, None]
    if mat.ndim != 2 or mat.shape[0] == 0:
        raise DataError(
            f"{function}(inf_func=...) must be a non-empty n × k array (one row per unit); got shape "
            f"{mat.shape!r}."
        )
    bad = ~np.isfinite(mat)
    if bad.any():
        n_rows = int(bad.any(axis=1).sum())
        raise DataError(
            f"{function}(inf_func=...) holds {int(bad.sum())} missing or infinite value(s) in {n_rows} "
            "row(s); an influence function is finite for every unit (use 0 for units that do not enter an "
            "estimate)."
        )
    if cluster is None:
        return mat, None
    codes = np.asarray(cluster)
    if codes.shape != (mat.shape[0],) or not (np.issubdtype(codes.dtype, np.integer) and
                                              (codes.size == 0 or int(codes.min()) >= 0)):
        raise DataError(
            f"{function}(cluster=...) must hold one non-negative integer cluster code per row of inf_func "
            f"({mat.shape[0]} rows); got shape {codes.shape!r} and dtype {codes.dtype.name!r}. Code the "
            "clusters with pandas.factorize(column)[0]."
        )
    return mat, codes.astype(np.intp, copy=False)


def _cluster_sums(inf_func: FloatArray, cluster: NDArray[np.intp] | None) -> FloatArray:
    if cluster is None:
        return inf_func
    n_clusters = int(cluster.max()) + 1 if cluster.size else 0
    mat = inf_func.reshape(inf_func.shape[0], -1)
    out = np.empty((n_clusters, mat.shape[1]))
    for j in range(mat.shape[1]):
        out[:, j] = np.bincount(cluster, weights=mat[:, j], minlength=n_clusters)
    return out


def _if_covariance(inf_func: FloatArray, cluster: NDArray[np.intp] | None = None) -> FloatArray:
    n = inf_func.shape[0]
    s = _cluster_sums(inf_func, cluster)
    return np.asarray((s.T @ s) / float(n) ** 2)


def _if_standard_errors(inf_func: FloatArray, cluster: NDArray[np.intp] | None = None) -> FloatArray:
    n = inf_func.shape[0]
    s = _cluster_sums(inf_func, cluster)
    return np.asarray(np.sqrt(np.einsum("ij,ij->j", s, s)) / float(n))


@keyword_options
def cluster_sums(inf_func: FloatArray, cluster: NDArray[np.intp] | None) -> FloatArray:
    """Sum the rows of ``inf_func`` (``n × k``) within clusters coded ``0..C-1``; identity when ``None``.

    Raises
    ------
    DataError
        If ``inf_func`` is not a non-empty matrix of finite numbers or ``cluster`` not one non-negative
        integer code per row.
    """
    mat, codes = check_influence(inf_func, cluster, function="cluster_sums")
    return _cluster_sums(mat, codes)


@keyword_options
def if_covariance(inf_func: FloatArray, cluster: NDArray[np.intp] | None = None) -> FloatArray:
    r"""Return the ``k × k`` covariance of the estimators whose influence functions are the columns.

    Parameters
    ----------
    inf_func
        ``n × k`` influence functions, one row per unit (or observation).
    cluster
        Optional cluster codes ``0..C-1`` per row.

    Returns
    -------
    numpy.ndarray
        :math:`n^{-2} S^\\top S` with ``S`` the (cluster-summed) influence functions.

    Raises
    ------
    DataError
        If ``inf_func`` is not a non-empty matrix of finite numbers or ``cluster`` not one non-negative
        integer code per row.
    """
    mat, codes = check_influence(inf_func, cluster, function="if_covariance")
    return _if_covariance(mat, codes)


@keyword_options
def if_standard_errors(inf_func: FloatArray, cluster: NDArray[np.intp] | None = None) -> FloatArray:
    """Return the standard error of each column's estimator (root of the covariance's diagonal).

    Raises
    ------
    DataError
        If ``inf_func`` is not a non-empty matrix of finite numbers or ``cluster`` not one non-negative
        integer code per row.
    """
    mat, codes = check_influence(inf_func, cluster, function="if_standard_errors")
    return _if_standard_errors(mat, codes)


@keyword_options
def block_covariance(inf_func: FloatArray, bounds: tuple[tuple[int, int], ...]) -> FloatArray:
    """Return ``inf_func.T @ inf_func / n**2`` summed over row blocks, each over the columns it touches.

    For influence functions that are zero outside a few blocks of rows per column (units sorted by cohort,
    each ATT(g, t) living on its cohort and its comparison cohorts): the blocks' Gram matrices are smaller
    than the full one.  ``bounds`` are the row ranges ``(start, stop)`` of the blocks.
    """
    n, k = inf_func.shape
    cov = np.zeros((k, k))
    for a, b in bounds:
        block = inf_func[a:b]
        cols = np.flatnonzero(np.any(block != 0.0, axis=0))
        if cols.size:
            sub = block[:, cols]
            cov[np.ix_(cols, cols)] += sub.T @ sub
    return cov / float(n) ** 2
