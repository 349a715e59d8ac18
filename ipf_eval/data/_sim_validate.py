"""Argument validation of :func:`ipf_eval.data.simulate.simulate_firms` (private module)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ipf_eval.data._sim_config import (
    COUNTRY_PROFILES,
    DEFAULT_COUNTRIES,
    DEFAULT_INSTRUMENTS,
    DESIGNS,
    OUTCOMES,
    SECTORS,
    SIZE_CLASSES,
    InstrumentSpec,
)
from ipf_eval.errors import SpecificationError

__all__ = ["check_arguments", "check_instruments"]


def _check_probability(name: str, key: str, value: float, *, open_low: bool = False) -> None:
    low_ok = value > 0.0 if open_low else value >= 0.0
    if not (math.isfinite(value) and low_ok and value <= 1.0):
        bound = "(0, 1]" if open_low else "[0, 1]"
        raise SpecificationError(
            f"simulate_firms: instruments[{key!r}].{name} must lie in {bound}; got {value!r}."
        )


def _check_spec(key: str, spec: object) -> InstrumentSpec:
    """Validate one instrument specification."""
    if not isinstance(spec, InstrumentSpec):
        raise SpecificationError(
            f"simulate_firms: instruments[{key!r}] must be an InstrumentSpec (e.g. dataclasses.replace("
            f"DEFAULT_INSTRUMENTS[{key!r}], ...)); got {type(spec).__name__!r}."
        )
    if spec.design not in DESIGNS:
        raise SpecificationError(
            f"simulate_firms: instruments[{key!r}].design must be one of {list(DESIGNS)!r}; "
            f"got {spec.design!r}."
        )
    _check_probability("takeup", key, spec.takeup, open_low=True)
    for name in ("accept_rate", "win_prob", "use_rate", "takeup_above", "takeup_below"):
        _check_probability(name, key, float(getattr(spec, name)))
    if not (isinstance(spec.n_calls, int) and spec.n_calls >= 1):
        raise SpecificationError(
            f"simulate_firms: instruments[{key!r}].n_calls must be >= 1; got {spec.n_calls!r}."
        )
    bad = sorted(set(spec.sizes) - set(SIZE_CLASSES)) + sorted(set(spec.sectors) - set(SECTORS))
    bad += sorted(set(spec.effects) - (set(OUTCOMES) - {"export_share"}))
    if bad:
        raise SpecificationError(
            f"simulate_firms: instruments[{key!r}] names unknown size classes, sectors or effect outcomes "
            f"{bad!r}; size classes are {list(SIZE_CLASSES)!r}, sectors {list(SECTORS)!r}, outcomes "
            f"{[o for o in OUTCOMES if o != 'export_share']!r} (export_share follows exporter)."
        )
    return spec


def check_instruments(
    instruments: Sequence[str] | Mapping[str, InstrumentSpec] | None,
) -> dict[str, InstrumentSpec]:
    """Resolve ``instruments`` to validated specifications, in the order of DEFAULT_INSTRUMENTS."""
    if instruments is None:
        return dict(DEFAULT_INSTRUMENTS)
    if isinstance(instruments, str):
        raise SpecificationError(
            f"simulate_firms: instruments must be a sequence of names or a mapping, not the string "
            f"{instruments!r}; write instruments=[{instruments!r}]."
        )
    names = list(instruments)
    if not names:
        raise SpecificationError(
            f"simulate_firms: instruments is empty; give at least one of {list(DEFAULT_INSTRUMENTS)!r} "
            "or None."
        )
    unknown = [k for k in names if k not in DEFAULT_INSTRUMENTS]
    if unknown:
        raise SpecificationError(
            f"simulate_firms: unknown instrument(s) {unknown!r}; known instruments are "
            f"{list(DEFAULT_INSTRUMENTS)!r} (override a design with a mapping to an InstrumentSpec)."
        )
    if isinstance(instruments, Mapping):
        return {k: _check_spec(k, instruments[k]) for k in DEFAULT_INSTRUMENTS if k in instruments}
    return {k: DEFAULT_INSTRUMENTS[k] for k in DEFAULT_INSTRUMENTS if k in names}


def check_arguments(
    seed: object,
    n_firms: object,
    countries: Sequence[str] | None,
    years: object,
    selection_on_level: float,
    effect_scale: float,
    entry_share: float,
) -> tuple[int, int, tuple[str, ...], tuple[int, int]]:
    """Validate the scalar arguments; return seed, n_firms, country codes and (first, last) year."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise SpecificationError(f"simulate_firms: seed must be a non-negative integer; got {seed!r}.")
    if isinstance(n_firms, bool) or not isinstance(n_firms, int | np.integer) or int(n_firms) < 1:
        raise SpecificationError(f"simulate_firms: n_firms must be an integer >= 1; got {n_firms!r}.")
    if (
        not isinstance(years, tuple | list)
        or len(years) != 2
        or not all(isinstance(y, int | np.integer) and not isinstance(y, bool) for y in years)
    ):
        raise SpecificationError(
            "simulate_firms: years must be a (first, last) pair of integers such as (2008, 2020); "
            f"got {years!r}."
        )
    start, end = int(years[0]), int(years[1])
    if end - start < 3:
        raise SpecificationError(
            f"simulate_firms: years={years!r} must run forwards over at least 4 years (first < last, e.g. "
            "(2008, 2020)): calls need two earlier years and one later year."
        )
    if countries is None:
        codes = DEFAULT_COUNTRIES
    else:
        if isinstance(countries, str):
            raise SpecificationError(
                f"simulate_firms: countries must be a sequence of ISO codes, not the string {countries!r}; "
                f"write countries=[{countries!r}]."
            )
        codes = tuple(countries)
        if not codes:
            raise SpecificationError(
                f"simulate_firms: countries is empty; give ISO codes among {list(COUNTRY_PROFILES)!r} "
                "or None."
            )
        unknown = [c for c in codes if c not in COUNTRY_PROFILES]
        if unknown:
            raise SpecificationError(
                f"simulate_firms: unknown country code(s) {unknown!r}; profiles exist for "
                f"{list(COUNTRY_PROFILES)!r}."
            )
        if len(set(codes)) != len(codes):
            raise SpecificationError(f"simulate_firms: countries contains duplicates: {list(codes)!r}.")
    if not math.isfinite(selection_on_level):
        raise SpecificationError(
            f"simulate_firms: selection_on_level must be a finite number; got {selection_on_level!r}."
        )
    if not (math.isfinite(effect_scale) and effect_scale >= 0.0):
        raise SpecificationError(
            f"simulate_firms: effect_scale must be finite and >= 0; got {effect_scale!r}."
        )
    if not (0.0 <= entry_share < 1.0):
        raise SpecificationError(f"simulate_firms: entry_share must lie in [0, 1); got {entry_share!r}.")
    return int(seed), int(n_firms), codes, (start, end)
