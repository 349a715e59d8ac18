r"""Indirect standardisation on SME-mix strata and the firm bootstrap behind the adjusted delivery benchmark.

Private helpers of :mod:`ipf_eval.evidence.delivery_mix`, on plain arrays:

* :func:`collapse_strata` builds the strata (the cross of the mix variables, sparse cells merged into
  their parent margin, variables nested in agencies left out);
* :func:`rate_draws` computes observed, expected and adjusted rates (ratio of sums per firm) for every
  agency of one instrument, for the data and for every bootstrap draw;
* :func:`quantile_draws` does the same for quantiles of days to decision (the pooled distribution
  reweighted to each agency's mix);
* :func:`percentile_interval` turns the draws into percentile intervals.

Draws resample firms with replacement within each agency: row 0 of every array is the data (every firm
once), rows 1..B the bootstrap draws.  Each agency's draws come from its own generator, seeded by
``(seed, crc32(key))``, so an agency's resamples depend on the seed and its own firms only, not on which
other agencies are in the data.  Draws are generated :data:`CHUNK_DRAWS` at a time (memory grows with
draws in a chunk times firms, not with ``n_boot``).
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Bootstrap draws generated at once per agency.
CHUNK_DRAWS = 32


@dataclass(frozen=True)
class Strata:
    """The strata of one instrument's firms for one indicator.

    Attributes
    ----------
    codes
        Stratum of every firm, ``0 .. n_strata - 1``.
    n_strata
        Number of strata.
    variables
        Mix variables used (the finest level of the hierarchy).
    nested
        Mix variables left out because no category is shared by two agencies.
    share_collapsed
        Share of firms whose finest cell was too sparse, so that they sit in a coarser (margin) stratum.
    """

    codes: IntArray
    n_strata: int
    variables: tuple[str, ...]
    nested: tuple[str, ...]
    share_collapsed: float


def nested_variables(mix: pd.DataFrame, agency: IntArray) -> tuple[str, ...]:
    """Return the mix columns none of whose categories is shared by two agencies (e.g. regions)."""
    if len(np.unique(agency)) < 2:
        return ()
    out = []
    for col in mix.columns:
        per_category = pd.Series(agency).groupby(mix[col].to_numpy(), observed=True).nunique()
        if not (per_category >= 2).any():
            out.append(str(col))
    return tuple(out)


def collapse_strata(mix: pd.DataFrame, agency: IntArray, *, min_firms: int) -> Strata:
    """Assign every firm to a stratum, merging sparse cells into their parent margin.

    Parameters
    ----------
    mix
        One row per firm, one column per mix variable (strings), in order of priority.
    agency
        Agency code of every firm.
    min_firms
        A cell is kept when it has at least ``min_firms`` firms and firms of at least two agencies.

    Returns
    -------
    Strata
        The strata.

    Notes
    -----
    Levels run from the cross of all (non-nested) variables down to the first variable alone and then to
    no variable.  At each level the firms not yet assigned are grouped by the level's variables; a cell
    that passes the rule becomes a stratum.  The firms left at the end form one residual stratum.  The
    strata therefore partition the firms: a firm of a sparse cell ``micro x C x AT11`` joins the firms of
    other sparse cells in ``micro x C`` ("the rest of micro x C"), and so on.
    """
    nested = nested_variables(mix, agency)
    variables = tuple(str(c) for c in mix.columns if c not in nested)
    n = len(mix)
    codes = np.full(n, -1, dtype=np.int64)
    level_of = np.full(n, -1, dtype=np.int64)
    next_code = 0
    for level in range(len(variables), -1, -1):
        free = np.flatnonzero(codes < 0)
        if free.size == 0:
            break
        if level == 0:
            codes[free] = next_code
            level_of[free] = 0
            next_code += 1
            break
        keys = mix.iloc[free][list(variables[:level])]
        cell = keys.groupby(list(keys.columns), sort=True, observed=True).ngroup().to_numpy(dtype=np.int64)
        stats = pd.DataFrame({"cell": cell, "agency": agency[free]}).groupby("cell").agg(
            n=("agency", "size"), k=("agency", "nunique"))
        ok_cells = stats.index[(stats["n"] >= min_firms) & (stats["k"] >= 2)].to_numpy(dtype=np.int64)
        mapping = np.full(int(cell.max()) + 1, -1, dtype=np.int64)
        mapping[ok_cells] = np.arange(next_code, next_code + ok_cells.size, dtype=np.int64)
        codes[free] = mapping[cell]
        level_of[free[mapping[cell] >= 0]] = level
        next_code += ok_cells.size
    collapsed = float(np.mean(level_of < len(variables))) if n else 0.0
    return Strata(codes=codes, n_strata=next_code, variables=variables, nested=nested,
                  share_collapsed=collapsed)


@dataclass(frozen=True)
class GroupUnits:
    """One agency's units for one indicator of one instrument.

    Attributes
    ----------
    key
        Stream key of the agency's generator (``"country|instrument|indicator"``).
    n_firms
        Number of firms (the resampled clusters).
    firm
        Firm position ``0 .. n_firms - 1`` of every unit (the identity for firm-level rates).
    stratum
        Stratum of every unit (its firm's).
    y, m
        Rates: numerator and denominator contributions of every unit.  Quantiles: ``y`` holds the value
        (days) and ``m`` is unused.
    """

    key: str
    n_firms: int
    firm: IntArray
    stratum: IntArray
    y: FloatArray
    m: FloatArray


@dataclass(frozen=True)
class Draws:
    """Observed, expected and adjusted values: row 0 the data, rows 1..B the draws.

    ``observed``, ``expected`` and ``adjusted`` have shape ``(1 + B, G)`` for rates and ``(1 + B, G, P)``
    for ``P`` quantiles; ``reference`` (the pooled value) has shape ``(1 + B,)`` or ``(1 + B, P)``.
    """

    observed: FloatArray
    expected: FloatArray
    adjusted: FloatArray
    reference: FloatArray


def group_rng(seed: int, key: str) -> np.random.Generator:
    """Return the generator of one agency's draws, seeded by the seed and a stable hash of its key."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def count_chunks(seed: int, key: str, n: int, n_boot: int) -> Iterator[FloatArray]:
    """Yield how often each of ``n`` firms is drawn, ``(chunk, n)`` per chunk, for ``n_boot`` draws."""
    rng = group_rng(seed, key)
    done = 0
    while done < n_boot:
        c = min(CHUNK_DRAWS, n_boot - done)
        idx = rng.integers(0, n, size=(c, n))
        flat = (idx + (np.arange(c, dtype=np.int64) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=c * n).reshape(c, n).astype(np.float64)
        done += c


def _weight_chunks(groups: Sequence[GroupUnits], seed: int, n_boot: int) -> Iterator[list[FloatArray]]:
    """Yield the data (every firm once), then the bootstrap counts of every agency, chunk by chunk."""
    yield [np.ones((1, g.n_firms)) for g in groups]
    if n_boot:
        for chunk in zip(*(count_chunks(seed, g.key, g.n_firms, n_boot) for g in groups), strict=True):
            yield list(chunk)


def by_stratum(values: FloatArray, codes: IntArray, n_strata: int) -> FloatArray:
    """Row-wise sums of ``values`` (``c x n``) by stratum code: ``c x n_strata``."""
    c = values.shape[0]
    flat = (codes[None, :] + (np.arange(c, dtype=np.int64) * n_strata)[:, None]).ravel()
    sums = np.bincount(flat, weights=values.ravel(), minlength=c * n_strata)
    return np.asarray(sums, dtype=np.float64).reshape(c, n_strata)


def _rates(ty: FloatArray, tm: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Observed, expected, adjusted (``c x G``) and pooled (``c``) rates from stratum totals ``c x G x S``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        n_g = tm.sum(axis=2)
        observed = ty.sum(axis=2) / n_g
        m_s = tm.sum(axis=1)
        r_s = np.where(m_s > 0, ty.sum(axis=1) / np.where(m_s > 0, m_s, 1.0), 0.0)
        reference = ty.sum(axis=(1, 2)) / tm.sum(axis=(1, 2))
        expected = (tm * r_s[:, None, :]).sum(axis=2) / n_g
        ratio = observed / expected
        adjusted = np.where(expected > 0, ratio * reference[:, None],
                            np.where(reference[:, None] == 0, 0.0, np.nan))
    return observed, expected, adjusted, reference


def rate_draws(groups: Sequence[GroupUnits], n_strata: int, *, seed: int, n_boot: int) -> Draws:
    r"""Observed, expected, adjusted and pooled rates, for the data and each draw.

    Notes
    -----
    With :math:`Y_{as}`, :math:`M_{as}` the numerator and denominator totals of agency :math:`a` in stratum
    :math:`s`: observed :math:`O_a = \sum_s Y_{as} / \sum_s M_{as}`, stratum rates
    :math:`r_s = \sum_a Y_{as} / \sum_a M_{as}`, expected :math:`E_a = \sum_s M_{as} r_s / \sum_s M_{as}`,
    pooled :math:`r = \sum Y / \sum M` and adjusted :math:`(O_a / E_a)\, r`.  The reference rates are
    recomputed in every draw (their sampling error is part of the interval).
    """
    n_groups = len(groups)
    parts: list[tuple[FloatArray, ...]] = []
    for chunk in _weight_chunks(groups, seed, n_boot):
        c = chunk[0].shape[0]
        ty = np.zeros((c, n_groups, n_strata))
        tm = np.zeros((c, n_groups, n_strata))
        for gi, (g, w) in enumerate(zip(groups, chunk, strict=True)):
            wu = w[:, g.firm]
            ty[:, gi, :] = by_stratum(wu * g.y, g.stratum, n_strata)
            tm[:, gi, :] = by_stratum(wu * g.m, g.stratum, n_strata)
        parts.append(_rates(ty, tm))
    observed, expected, adjusted, reference = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return Draws(observed=observed, expected=expected, adjusted=adjusted, reference=reference)


def weighted_quantiles(values: FloatArray, weights: FloatArray, probs: Sequence[float]) -> FloatArray:
    r"""Quantiles of sorted ``values`` under each row of ``weights`` (``c x n``): ``c x len(probs)``.

    The inverse of the weighted empirical distribution function (Hyndman and Fan 1996, definition 1):
    :math:`Q(p) = \min\{x_{(k)} : \sum_{j \le k} w_{(j)} \ge p \sum_j w_j\}`; NaN for a row of zero weights.
    """
    out = np.full((weights.shape[0], len(probs)), np.nan)
    if weights.shape[1] == 0:
        return out
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    for k, p in enumerate(probs):
        idx = (cum >= (p * total * (1.0 - 1e-12))[:, None]).argmax(axis=1)
        out[:, k] = np.where(total > 0, values[idx], np.nan)
    return out


def quantile_draws(groups: Sequence[GroupUnits], n_strata: int, probs: Sequence[float], *, seed: int,
                   n_boot: int) -> Draws:
    r"""Observed, expected, adjusted and pooled quantiles of ``y`` (days), for the data and each draw.

    Notes
    -----
    The expected quantile of agency :math:`a` is the quantile of the pooled distribution reweighted to
    :math:`a`'s mix, :math:`\hat F_a^{exp}(x) = \sum_s \pi_{as} \hat F_s(x)` with :math:`\pi_{as}` the
    share of :math:`a`'s units in stratum :math:`s` and :math:`\hat F_s` the pooled distribution in
    :math:`s` (each pooled unit of :math:`s` weighted :math:`\pi_{as} / N_s`); adjusted is the pooled
    quantile plus the observed minus the expected one.
    """
    values = np.concatenate([g.y for g in groups])
    gid = np.concatenate([np.full(g.y.size, i, dtype=np.int64) for i, g in enumerate(groups)])
    strat = np.concatenate([g.stratum for g in groups])
    offsets = np.cumsum([0] + [g.y.size for g in groups])
    order = np.argsort(values, kind="stable")
    values_s, gid_s, strat_s = values[order], gid[order], strat[order]
    pos = [np.flatnonzero(gid_s == i) for i in range(len(groups))]
    unit_s = [order[p] - offsets[i] for i, p in enumerate(pos)]  # each group's units in sorted order
    parts: list[tuple[FloatArray, ...]] = []
    for chunk in _weight_chunks(groups, seed, n_boot):
        c = chunk[0].shape[0]
        w_all = np.zeros((c, values_s.size))
        for i, (g, w) in enumerate(zip(groups, chunk, strict=True)):
            w_all[:, pos[i]] = w[:, g.firm[unit_s[i]]]
        reference = weighted_quantiles(values_s, w_all, probs)
        n_s = by_stratum(w_all, strat_s, n_strata)
        observed = np.empty((c, len(groups), len(probs)))
        expected = np.empty_like(observed)
        for i in range(len(groups)):
            w_g = w_all[:, pos[i]]
            observed[:, i, :] = weighted_quantiles(values_s[pos[i]], w_g, probs)
            n_gs = by_stratum(w_g, strat_s[pos[i]], n_strata)
            with np.errstate(divide="ignore", invalid="ignore"):
                share = n_gs / n_gs.sum(axis=1, keepdims=True)
                factor = np.where(n_s > 0, share / np.where(n_s > 0, n_s, 1.0), 0.0)
            expected[:, i, :] = weighted_quantiles(values_s, w_all * factor[:, strat_s], probs)
        adjusted = reference[:, None, :] + observed - expected
        parts.append((observed, expected, adjusted, reference))
    observed, expected, adjusted, reference = (np.concatenate([p[k] for p in parts]) for k in range(4))
    return Draws(observed=observed, expected=expected, adjusted=adjusted, reference=reference)


def percentile_interval(draws: FloatArray, alpha: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Percentile interval ends and bootstrap standard error over the finite draws (axis 0).

    Rows are the bootstrap draws only (without the data row); with no draw every output is NaN.
    """
    shape = draws.shape[1:]
    if draws.shape[0] == 0:
        nan = np.full(shape, np.nan)
        return nan, nan.copy(), nan.copy()
    with warnings.catch_warnings():  # all-NaN columns (an undefined value) give NaN, quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
        se = np.nanstd(draws, axis=0, ddof=1) if draws.shape[0] > 1 else np.full(shape, np.nan)
    return np.asarray(low), np.asarray(high), np.asarray(se)
