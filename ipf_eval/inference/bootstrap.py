r"""Multiplier bootstrap on influence functions, with sup-t simultaneous bands.

Each draw perturbs the influence functions with i.i.d. mean-zero, unit-variance multipliers, one per unit
(or per cluster when units are clustered):

.. math:: \\hat\\theta^*_b - \\hat\\theta = n^{-1} \\sum_c V_{cb} \\sum_{i \\in c} \\psi_i .

Standard errors are the interquartile range of the draws divided by
:math:`\\Phi^{-1}(0.75) - \\Phi^{-1}(0.25)` (robust to a few wild draws, as in R's ``did``); the sup-t
critical value is the :math:`1-\\alpha` quantile of
:math:`\\max_k |\\hat\\theta^*_{bk} - \\hat\\theta_k| / s_k`.
Multipliers are generated in chunks of units, so memory stays at ``O(k × n_boot)`` whatever the number
of units, and the same ``seed`` reproduces the same multipliers for any set of influence functions on the
same units (so aggregations of one estimate share the draws of that estimate).

References
----------
Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
*Journal of Econometrics* 225(2), 200-230.

Mammen, E. (1993). Bootstrap and wild bootstrap for high dimensional linear models.
*Annals of Statistics* 21(1), 255-285.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.inference.influence import _cluster_sums, check_influence

__all__ = [
    "MULTIPLIER_KINDS",
    "bootstrap_standard_errors",
    "draws_from_influence",
    "gaussian_draws",
    "multiplier_block_sums",
    "multiplier_draws",
    "sup_t_critical_value",
]

FloatArray = NDArray[np.float64]
#: The multiplier distributions :func:`multiplier_draws` accepts.
MULTIPLIER_KINDS: tuple[str, ...] = ("mammen", "rademacher", "gaussian")

_SQRT5 = float(np.sqrt(5.0))
_MAMMEN_LOW = (1.0 - _SQRT5) / 2.0
_MAMMEN_HIGH = (1.0 + _SQRT5) / 2.0
_MAMMEN_P_LOW = (_SQRT5 + 1.0) / (2.0 * _SQRT5)
#: ``P(V = low)`` as a threshold on uniform 16-bit integers: 47422 / 65536 = 0.723602 instead of
#: 0.723607 (the multipliers' mean is 1e-5 off zero, which cannot move a draw: influence functions sum to
#: zero); 16-bit draws are four times faster than 32-bit ones.
_MAMMEN_THRESHOLD = np.uint16(round(_MAMMEN_P_LOW * 2.0**16))
#: Upper bound on the number of multipliers held in memory at once.
_CHUNK_ELEMENTS = 1 << 21


def _multipliers(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> FloatArray:
    u = rng.integers(0, 1 << 16, size=shape, dtype=np.uint16)
    if kind == "mammen":
        return np.where(u < _MAMMEN_THRESHOLD, _MAMMEN_LOW, _MAMMEN_HIGH)
    return np.where(u < np.uint16(1 << 15), -1.0, 1.0)


@keyword_options
def multiplier_draws(
    inf_func: FloatArray,
    *,
    n_boot: int,
    seed: int,
    cluster: NDArray[np.intp] | None = None,
    kind: str = "mammen",
    covariance: FloatArray | None = None,
) -> FloatArray:
    r"""Return ``n_boot × k`` bootstrap draws of :math:`\\hat\\theta^* - \\hat\\theta`.

    Parameters
    ----------
    inf_func
        ``n × k`` influence functions (one row per unit), scaled so that the variance of the estimator is
        :math:`n^{-2}\\sum_i\\psi_i^2`.
    n_boot
        Number of draws.
    seed
        Seed of the multipliers.
    cluster
        Optional cluster codes ``0..C-1`` per unit: one multiplier per cluster.
    kind
        ``"mammen"`` (two-point, skewness-matching; R's ``did``), ``"rademacher"`` (±1) or ``"gaussian"``.
        Gaussian multipliers make the draws exactly :math:`N(0, n^{-2}S^\\top S)` given the data (``S`` the
        cluster-summed influence functions), so they are drawn from that ``k × k`` covariance directly: no
        per-unit random numbers, time ``O(n k^2)``, memory ``O(k^2 + n_boot k)``.
    covariance
        ``"gaussian"`` only: the covariance :math:`n^{-2}S^\\top S` when the caller has it already.

    Returns
    -------
    numpy.ndarray
        The draws, shape ``(n_boot, k)``.

    Raises
    ------
    SpecificationError
        If ``n_boot`` is not a positive integer, ``seed`` not a non-negative integer or ``kind`` unknown.
    DataError
        If ``inf_func`` is not a non-empty matrix of finite numbers or ``cluster`` not one non-negative
        integer code per row.
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 1:
        raise SpecificationError(f"n_boot must be a positive integer; got {n_boot!r}")
    if kind not in MULTIPLIER_KINDS:
        raise SpecificationError(f"kind must be one of {MULTIPLIER_KINDS!r}; got {kind!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SpecificationError(f"multiplier_draws(seed=...) must be a non-negative integer; got {seed!r}")
    mat, codes = check_influence(inf_func, cluster, function="multiplier_draws")
    return draws_from_influence(mat, n_boot=int(n_boot), seed=int(seed), cluster=codes, kind=kind,
                                covariance=covariance)


@keyword_options
def draws_from_influence(
    inf_func: FloatArray,
    *,
    n_boot: int,
    seed: int,
    cluster: NDArray[np.intp] | None = None,
    kind: str = "mammen",
    covariance: FloatArray | None = None,
) -> FloatArray:
    """:func:`multiplier_draws` without the checks of the influence functions (built by the package).

    Raises
    ------
    SpecificationError
        If ``n_boot`` is not a positive integer or ``kind`` is unknown.
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 1:
        raise SpecificationError(f"n_boot must be a positive integer; got {n_boot!r}")
    if kind not in MULTIPLIER_KINDS:
        raise SpecificationError(f"kind must be one of {MULTIPLIER_KINDS!r}; got {kind!r}")
    n = inf_func.shape[0]
    mat = np.asarray(inf_func, dtype=np.float64).reshape(n, -1)
    s = mat if kind == "gaussian" and covariance is not None else _cluster_sums(mat, cluster)
    m, k = s.shape
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        cov = (s.T @ s) / float(n) ** 2 if covariance is None else covariance
        return gaussian_draws(cov, n_boot=n_boot, seed=seed)
    out = np.zeros((n_boot, k))
    step = max(1, _CHUNK_ELEMENTS // n_boot)
    for start in range(0, m, step):
        block = s[start : start + step]
        v = _multipliers(rng, (block.shape[0], n_boot), kind)
        out += v.T @ block
    return out / float(n)


@keyword_options
def gaussian_draws(covariance: FloatArray, *, n_boot: int, seed: int) -> FloatArray:
    r"""Return ``n_boot`` draws of :math:`N(0, \Sigma)` (the ``"gaussian"`` multipliers' exact law)."""
    rng = np.random.default_rng(seed)
    lam, vec = np.linalg.eigh(covariance)
    root = vec * np.sqrt(np.clip(lam, 0.0, None))
    return np.asarray(rng.standard_normal((n_boot, covariance.shape[0])) @ root.T)


@keyword_options
def multiplier_block_sums(
    values: list[FloatArray], bounds: tuple[tuple[int, int], ...], *, n_boot: int, seed: int, kind: str
) -> list[FloatArray]:
    r"""Return :math:`\sum_{i \in c} V_{ib} x_i` (``n_boot × p_c``) for every block ``c`` of rows.

    ``values[c]`` holds the rows ``bounds[c]`` (contiguous, covering ``0..n-1`` in order) of block ``c``'s
    own columns.  The multipliers :math:`V` are those :func:`multiplier_draws` uses for ``n`` unclustered
    rows with the same ``seed`` and ``kind`` (``"mammen"`` or ``"rademacher"``), so that draws of any
    influence function that is, within each block, linear in the block's values follow from these sums
    exactly.
    """
    n = bounds[-1][1] if bounds else 0
    rng = np.random.default_rng(seed)
    out = [np.zeros((n_boot, v.shape[1])) for v in values]
    step = max(1, _CHUNK_ELEMENTS // n_boot)
    starts = np.array([a for a, _ in bounds], dtype=np.int64)
    for start in range(0, n, step):
        stop = min(n, start + step)
        v = _multipliers(rng, (stop - start, n_boot), kind)
        c = int(np.searchsorted(starts, start, side="right")) - 1
        while c < len(bounds) and bounds[c][0] < stop:
            a, b = max(bounds[c][0], start), min(bounds[c][1], stop)
            if b > a and values[c].shape[1]:
                lo = bounds[c][0]
                out[c] += v[a - start : b - start].T @ values[c][a - lo : b - lo]
            c += 1
    return out


def _quantile(x: FloatArray, q: float) -> FloatArray:
    return np.asarray(np.quantile(x, q, axis=0, method="inverted_cdf"))


def _draws_matrix(draws: object, function: str) -> FloatArray:
    try:
        mat = np.asarray(draws, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{function}(draws=...) must be a numeric n_boot × k array; got {draws!r:.80}."
        ) from exc
    if mat.ndim != 2 or mat.shape[0] < 2:
        raise DataError(
            f"{function}(draws=...) must be an n_boot × k array with at least 2 draws; got shape "
            f"{mat.shape!r}."
        )
    return mat


@keyword_options
def bootstrap_standard_errors(draws: FloatArray) -> FloatArray:
    """Return the IQR-based bootstrap standard error of each column of ``draws`` (NaN when degenerate).

    Raises
    ------
    DataError
        If ``draws`` is not a numeric ``n_boot × k`` array with at least 2 draws.
    """
    draws = _draws_matrix(draws, "bootstrap_standard_errors")
    iqr = _quantile(draws, 0.75) - _quantile(draws, 0.25)
    se = iqr / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    return np.where(se > 0.0, se, np.nan)


@keyword_options
def sup_t_critical_value(draws: FloatArray, se: FloatArray, *, alpha: float) -> float:
    r"""Return the sup-t critical value for a ``1 - alpha`` simultaneous band over the finite-SE columns.

    Parameters
    ----------
    draws
        ``n_boot × k`` bootstrap draws of :math:`\\hat\\theta^* - \\hat\\theta`.
    se
        Standard errors used to studentise each column (columns with NaN are left out).
    alpha
        One minus the simultaneous coverage.

    Returns
    -------
    float
        The :math:`1-\\alpha` quantile (inverse empirical CDF) of the maximal studentised deviation; NaN
        when no column has a finite standard error.

    Raises
    ------
    DataError
        If ``draws`` is not an ``n_boot × k`` array with at least 2 draws, or ``se`` does not hold ``k``
        standard errors.
    SpecificationError
        If ``alpha`` is not strictly between 0 and 1.
    """
    draws = _draws_matrix(draws, "sup_t_critical_value")
    check_alpha(alpha, function="sup_t_critical_value")
    se = np.asarray(se, dtype=np.float64)
    if se.shape != (draws.shape[1],):
        raise DataError(
            f"sup_t_critical_value(se=...) must hold one standard error per column of draws "
            f"({draws.shape[1]}); got shape {se.shape!r}."
        )
    ok = np.isfinite(se) & (se > 0)
    if not ok.any():
        return float("nan")
    t = np.max(np.abs(draws[:, ok] / se[ok]), axis=1)
    return float(np.quantile(t, 1.0 - alpha, method="inverted_cdf"))
