"""Private helpers shared by the evidence modules: argument checks and normal quantiles."""

from __future__ import annotations

import math
from typing import Any

from scipy import stats

from ipf_eval.errors import SpecificationError


def finite(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise SpecificationError(f"{name} must be a finite number; got {value!r}.")
    return float(value)


def positive(name: str, value: Any, remedy: str = "") -> float:
    """Return ``value`` as a float, or raise if it is not finite and strictly positive."""
    v = finite(name, value)
    if v <= 0:
        tail = f" {remedy}" if remedy else ""
        raise SpecificationError(f"{name} must be strictly positive; got {value!r}.{tail}")
    return v


def non_negative(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not finite and non-negative."""
    v = finite(name, value)
    if v < 0:
        raise SpecificationError(f"{name} must be non-negative; got {value!r}.")
    return v


def z_crit(alpha: float) -> float:
    """Two-sided standard normal critical value."""
    return float(stats.norm.ppf(1 - alpha / 2))


def p_two_sided(statistic: float) -> float:
    """Two-sided normal p-value (NaN for a NaN statistic)."""
    if not math.isfinite(statistic):
        return math.nan
    return float(2 * stats.norm.sf(abs(statistic)))


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise SpecificationError(f"{name} must be one of {list(allowed)!r}; got {value!r}.")
    return str(value)
