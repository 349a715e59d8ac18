r"""The randomisation procedure shared by :func:`design_trial` and :func:`analyse_trial`.

One procedure draws an assignment, so that the analysis can redraw it exactly as the design did
(randomisation inference under the design's own rule): units (firms, or clusters) are put in a canonical
order (sorted by id, so the row order of the caller's frame does not matter), each stratum gets
deterministic quotas by the largest-remainder rule with the leftover units' arms drawn at random, and the
units of each stratum are ordered at random and dealt out by those quotas.  Re-randomisation repeats the
draw until the largest absolute standardized mean difference is at most a threshold.

Leftover units: with quotas :math:`q_k = s_k n_h` in a stratum of :math:`n_h` units, every arm gets
:math:`\lfloor q_k \rfloor` units and the :math:`L = n_h - \sum_k \lfloor q_k \rfloor` leftover units go to
:math:`L` distinct arms chosen by systematic sampling (Madow) with inclusion probabilities equal to the
fractional parts :math:`q_k - \lfloor q_k \rfloor` (which sum to :math:`L`), over the arms in a random order.
Each arm's count is thus :math:`\lfloor q_k \rfloor` or :math:`\lceil q_k \rceil`, its expected count is
exactly :math:`q_k`, and every unit's probability of arm :math:`k` is exactly :math:`s_k`: no arm is
favoured across strata (a deterministic tie-break, e.g. always the first arm, would be).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipf_eval.errors import SpecificationError

__all__ = ["Randomisation", "UnitStructure", "anova_icc", "column_names", "draw_arms", "randomise",
           "smd_matrix", "stratum_keys", "unit_structure"]

_EPS = 1e-9


def column_names(value: object, param: str, function: str) -> tuple[str, ...]:
    """Return ``value`` (one column name, a list of them, or ``None``) as a tuple without repeats.

    Raises
    ------
    SpecificationError
        If an element is not a string (the message names ``function`` and ``param``).
    """
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    out = tuple(value) if isinstance(value, Sequence) else (value,)
    if not all(isinstance(v, str) for v in out):
        raise SpecificationError(f"{function}(): `{param}` must be a column name or a list of column names "
                                 f"(strings); got {value!r}.")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, eq=False)
class UnitStructure:
    """Firms, the units randomised (firms or clusters) and their strata, in canonical (sorted id) order.

    Attributes
    ----------
    firm_unit
        Code of each firm's unit, one entry per row of the frame in its own order.
    unit_stratum
        Stratum code of each unit (``0 .. n_strata - 1``).
    n_strata
        Number of strata.
    stratum_sizes
        Units per stratum.
    """

    firm_unit: np.ndarray
    unit_stratum: np.ndarray
    n_strata: int
    stratum_sizes: np.ndarray


def stratum_keys(frame: pd.DataFrame, strata: tuple[str, ...]) -> pd.Series:
    """One text label per row combining the strata columns (``"a | b"``); ``"all"`` without strata."""
    if not strata:
        return pd.Series("all", index=frame.index, dtype=object)
    parts = [frame[c].astype(str) for c in strata]
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = out + " | " + p
    return out


def unit_structure(frame: pd.DataFrame, *, idname: str, strata: tuple[str, ...],
                   cluster: str | None) -> UnitStructure:
    """Return the canonical unit structure of ``frame`` (checks are the caller's)."""
    unit_ids = frame[cluster] if cluster is not None else frame[idname]
    levels = np.sort(pd.unique(unit_ids.to_numpy()))
    firm_unit = np.searchsorted(levels, unit_ids.to_numpy())
    keys = stratum_keys(frame, strata).to_numpy()
    unit_key = np.empty(levels.size, dtype=object)
    unit_key[firm_unit] = keys
    codes, uniques = pd.factorize(pd.Series(unit_key), sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    return UnitStructure(
        firm_unit=np.asarray(firm_unit, dtype=np.int64),
        unit_stratum=codes,
        n_strata=len(uniques),
        stratum_sizes=np.bincount(codes, minlength=len(uniques)),
    )


def _stratum_counts(n: int, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Arm counts in a stratum of ``n`` units: largest-remainder quotas, leftovers by systematic sampling."""
    quota = shares * n
    base = np.floor(quota + _EPS).astype(np.int64)
    leftover = int(n - base.sum())
    if leftover <= 0:
        return base
    frac = np.clip(quota - base, 0.0, None)
    order = rng.permutation(shares.size)
    cum = np.cumsum(frac[order])
    cum *= leftover / cum[-1]  # remove rounding drift: the fractional parts sum to `leftover`
    points = rng.random() + np.arange(leftover)
    picked = order[np.minimum(np.searchsorted(cum, points, side="right"), shares.size - 1)]
    counts = base.copy()
    np.add.at(counts, picked, 1)
    return counts


def draw_arms(structure: UnitStructure, shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one stratified assignment; return the arm code (``0 .. len(shares) - 1``) of every unit."""
    arm = np.empty(structure.unit_stratum.size, dtype=np.int64)
    for s in range(structure.n_strata):
        idx = np.nonzero(structure.unit_stratum == s)[0]
        counts = _stratum_counts(idx.size, shares, rng)
        arm[idx[rng.permutation(idx.size)]] = np.repeat(np.arange(shares.size), counts)
    return arm


def smd_matrix(X: np.ndarray, arm: np.ndarray, n_arms: int) -> np.ndarray:
    r"""Standardized mean differences of each arm against arm 0: ``(n_arms - 1) × p``.

    :math:`(\bar x_k - \bar x_0) / \sqrt{(s_k^2 + s_0^2)/2}`; 0 when both variances and the difference are 0,
    infinite when only the variances are.
    """
    out = np.zeros((n_arms - 1, X.shape[1]))
    if X.shape[1] == 0:
        return out
    x0 = X[arm == 0]
    m0 = x0.mean(axis=0)
    v0 = x0.var(axis=0, ddof=1) if x0.shape[0] > 1 else np.zeros(X.shape[1])
    for k in range(1, n_arms):
        xk = X[arm == k]
        vk = xk.var(axis=0, ddof=1) if xk.shape[0] > 1 else np.zeros(X.shape[1])
        diff = xk.mean(axis=0) - m0
        sd = np.sqrt((vk + v0) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[k - 1] = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0),
                                  np.where(np.abs(diff) > 0, np.inf, 0.0))
    return out


@dataclass(frozen=True)
class Randomisation:
    """The outcome of :func:`randomise`: firm-level arm codes and how the rule went."""

    firm_arm: np.ndarray
    draws: int
    met: bool | None
    max_abs_smd: float | None


def randomise(structure: UnitStructure, X: np.ndarray, shares: np.ndarray, *, rerandomise: int,
              max_smd: float, rng: np.random.Generator) -> Randomisation:
    """Draw an assignment, redrawing up to ``rerandomise`` times until max |SMD| over ``X`` <= ``max_smd``.

    When no draw meets the rule, the best-balanced one is kept (``met=False``); the analysis redraws with
    this same procedure, fallback included.
    """
    n_arms = shares.size
    firm_arm = draw_arms(structure, shares, rng)[structure.firm_unit]
    if X.shape[1] == 0:
        return Randomisation(firm_arm, 1, None, None)
    worst = float(np.max(np.abs(smd_matrix(X, firm_arm, n_arms))))
    if rerandomise == 0:
        return Randomisation(firm_arm, 1, None, worst)
    best_arm, best = firm_arm, worst
    for d in range(rerandomise + 1):
        if d > 0:
            firm_arm = draw_arms(structure, shares, rng)[structure.firm_unit]
            worst = float(np.max(np.abs(smd_matrix(X, firm_arm, n_arms))))
        if worst <= max_smd:
            return Randomisation(firm_arm, d + 1, True, worst)
        if worst < best:
            best_arm, best = firm_arm, worst
    return Randomisation(best_arm, rerandomise + 1, False, best)


def anova_icc(y: np.ndarray, groups: np.ndarray) -> float:
    r"""One-way ANOVA estimator of the intra-cluster correlation, truncated to :math:`[0, 1]`.

    :math:`\hat\rho = (MSB - MSW) / (MSB + (n_0 - 1) MSW)` with
    :math:`n_0 = (N - \sum_j n_j^2 / N)/(J - 1)` for unequal cluster sizes.
    """
    codes, _ = pd.factorize(pd.Series(groups))
    n_j = np.bincount(codes).astype(float)
    J, N = n_j.size, float(y.size)
    means = np.bincount(codes, weights=y) / n_j
    msb = float(np.sum(n_j * (means - y.mean()) ** 2) / (J - 1))
    msw = float(np.sum((y - means[codes]) ** 2) / (N - J)) if N > J else 0.0
    n0 = (N - float(np.sum(n_j**2)) / N) / (J - 1)
    denom = msb + (n0 - 1) * msw
    if denom <= 0:
        return 0.0
    return float(min(max((msb - msw) / denom, 0.0), 1.0))
