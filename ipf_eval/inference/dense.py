r"""Influence functions held as a dense ``n × k`` matrix, optionally with clusters.

:class:`DenseInfluence` implements :class:`~ipf_eval.inference.influence.InfluenceFunction` for the
estimators whose influence functions are an ordinary matrix (weighting estimators, randomised experiments,
DiD with covariates or clusters).  The covariance is :math:`n^{-2} S^\top S` with :math:`S` the
influence functions summed within clusters (no small-sample factor: an estimator that reports one scales
its influence functions accordingly), and bootstrap draws are those of
:func:`~ipf_eval.inference.bootstrap.multiplier_draws`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ipf_eval.errors import SpecificationError
from ipf_eval.inference.bootstrap import draws_from_influence
from ipf_eval.inference.influence import _if_covariance, _if_standard_errors, block_covariance

__all__ = ["DenseInfluence"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class DenseInfluence:
    """``n × k`` influence functions as a read-only matrix.

    Parameters
    ----------
    values
        The influence functions, one row per unit (a vector is one column).  Made read-only.
    cluster
        Optional cluster codes ``0..C-1``, one per unit: covariances and bootstrap multipliers are then
        per cluster.
    blocks
        Optional row ranges ``(start, stop)`` covering the rows, outside of which many columns are zero
        (units sorted by cohort): the covariance is then summed block by block over the columns each block
        touches (:func:`~ipf_eval.inference.influence.block_covariance`).  Not with ``cluster``.  Linear
        combinations (:meth:`combine`) drop it.

    Raises
    ------
    SpecificationError
        ``values`` not one- or two-dimensional, ``cluster`` not one code per unit, or both ``cluster`` and
        ``blocks`` given.
    """

    values: FloatArray
    cluster: NDArray[np.intp] | None = None
    blocks: tuple[tuple[int, int], ...] | None = None
    _cache: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if values.ndim != 2:
            raise SpecificationError(
                f"DenseInfluence(values=...) must be an n x k matrix (or a vector); got an array of shape "
                f"{values.shape!r}"
            )
        if self.cluster is not None:
            if np.shape(self.cluster) != (values.shape[0],):
                raise SpecificationError(
                    f"DenseInfluence(cluster=...) must hold one cluster code per unit ({values.shape[0]}); "
                    f"got shape {np.shape(self.cluster)!r}"
                )
            if self.blocks is not None:
                raise SpecificationError(
                    "DenseInfluence takes cluster= or blocks=, not both: the block covariance assumes "
                    "independent units; drop blocks= for clustered units"
                )
        values.setflags(write=False)
        object.__setattr__(self, "values", values)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_units, k)``."""
        return (int(self.values.shape[0]), int(self.values.shape[1]))

    @property
    def n_units(self) -> int:
        """Number of units (rows)."""
        return int(self.values.shape[0])

    def combine(self, weights: ArrayLike) -> DenseInfluence:
        """Return ``values @ weights`` (``k × j``, or a ``k`` vector for one column), same clusters.

        Raises
        ------
        SpecificationError
            If ``weights`` does not have ``k`` rows.
        """
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim not in (1, 2) or w.shape[0] != self.values.shape[1]:
            raise SpecificationError(
                f"combine(weights=...) needs {self.values.shape[1]} rows, one per column of the influence "
                f"functions; got shape {w.shape!r}"
            )
        return DenseInfluence(self.values @ w.reshape(w.shape[0], -1), self.cluster)

    def add_group_terms(self, unit_weights: ArrayLike, groups: ArrayLike, terms: ArrayLike) -> DenseInfluence:
        """Return ``values[i] + unit_weights[i] * terms[groups[i]]`` for every unit ``i``, same clusters.

        Raises
        ------
        SpecificationError
            If ``unit_weights`` or ``groups`` do not have one entry per unit, ``terms`` not ``k`` columns,
            or a group is not a row of ``terms``.
        """
        n, k = self.shape
        uw = np.asarray(unit_weights, dtype=np.float64)
        codes = np.asarray(groups)
        t = np.asarray(terms, dtype=np.float64)
        t = t.reshape(t.shape[0], -1) if t.ndim else t
        if uw.shape != (n,) or codes.shape != (n,):
            raise SpecificationError(
                f"add_group_terms() needs unit_weights and groups with one entry per unit ({n}); got shapes "
                f"{uw.shape!r} and {codes.shape!r}"
            )
        if t.ndim != 2 or t.shape[1] != k:
            raise SpecificationError(
                f"add_group_terms(terms=...) must have one row per group and {k} columns; got shape "
                f"{t.shape!r}"
            )
        if codes.dtype.kind not in "iu":
            raise SpecificationError(
                f"add_group_terms(groups=...) must be integer row numbers of terms; got dtype "
                f"{codes.dtype.name!r}"
            )
        if n and not (-t.shape[0] <= int(codes.min()) and int(codes.max()) < t.shape[0]):
            raise SpecificationError(
                f"add_group_terms(groups=...) must be rows of terms (0..{t.shape[0] - 1}, or negative from "
                f"the end); got values from {int(codes.min())} to {int(codes.max())}"
            )
        return DenseInfluence(self.values + uw[:, None] * t[codes], self.cluster)

    def covariance(self) -> FloatArray:
        """Return the read-only ``k × k`` covariance ``S.T @ S / n**2`` (cached)."""
        if "covariance" not in self._cache:
            if self.blocks is not None:
                cov = block_covariance(self.values, self.blocks)
            else:
                cov = _if_covariance(self.values, self.cluster)
            cov.setflags(write=False)
            self._cache["covariance"] = cov
        return self._cache["covariance"]

    def standard_errors(self) -> FloatArray:
        """Return the ``k`` standard errors ``sqrt(sum_c S_c**2) / n``."""
        return _if_standard_errors(self.values, self.cluster)

    def nonzero_columns(self) -> NDArray[np.bool_]:
        """Return which columns are not identically zero."""
        return np.asarray(np.any(self.values != 0.0, axis=0))

    def draws(self, *, n_boot: int, seed: int, kind: str = "mammen") -> FloatArray:
        """Return ``n_boot × k`` multiplier-bootstrap draws (one multiplier per unit, or per cluster).

        Gaussian multipliers are drawn from :meth:`covariance` directly (their exact law given the data).
        """
        cov = self.covariance() if kind == "gaussian" else None
        return draws_from_influence(self.values, n_boot=n_boot, seed=seed, cluster=self.cluster, kind=kind,
                                    covariance=cov)

    def dense(self) -> FloatArray:
        """Return the read-only ``n × k`` matrix."""
        return self.values
