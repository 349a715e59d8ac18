r"""Variance from influence functions: pointwise standard errors and covariance matrices.

An estimator :math:`\\hat\\theta` is asymptotically linear with influence function :math:`\\psi` when
:math:`\\hat\\theta - \\theta = n^{-1}\\sum_i \\psi_i + o_p(n^{-1/2})`.  Its variance is estimated by
:math:`n^{-2}\\sum_i \\psi_i\\psi_i^\\top` (independent units) or by
:math:`n^{-2}\\sum_c (\\sum_{i\\in c}\\psi_i)(\\sum_{i\\in c}\\psi_i)^\\top` when units are clustered; no
small-sample factor is applied (the convention of R's ``did`` package).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["cluster_sums", "if_covariance", "if_standard_errors"]

FloatArray = NDArray[np.float64]


def cluster_sums(inf_func: FloatArray, cluster: NDArray[np.intp] | None) -> FloatArray:
    """Sum the rows of ``inf_func`` (``n × k``) within clusters coded ``0..C-1``; identity when ``None``."""
    if cluster is None:
        return inf_func
    n_clusters = int(cluster.max()) + 1 if cluster.size else 0
    mat = inf_func.reshape(inf_func.shape[0], -1)
    out = np.empty((n_clusters, mat.shape[1]))
    for j in range(mat.shape[1]):
        out[:, j] = np.bincount(cluster, weights=mat[:, j], minlength=n_clusters)
    return out


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
    """
    n = inf_func.shape[0]
    s = cluster_sums(inf_func, cluster)
    return np.asarray((s.T @ s) / float(n) ** 2)


def if_standard_errors(inf_func: FloatArray, cluster: NDArray[np.intp] | None = None) -> FloatArray:
    """Return the standard error of each column's estimator (root of the covariance's diagonal)."""
    n = inf_func.shape[0]
    s = cluster_sums(inf_func, cluster)
    return np.asarray(np.sqrt(np.einsum("ij,ij->j", s, s)) / float(n))
