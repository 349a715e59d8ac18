"""Outcomes an instrument is evaluated on: the standard list, and an agency's own (``custom_outcomes``).

A standard outcome (:data:`OUTCOMES`) is a column of the panel contract with a known meaning: its kind says
how the reports express an effect on it (``log``: percent; ``share`` and ``binary``: percentage points;
``level``: the outcome's unit) and :data:`STANDARD_COST_UNITS` how costs are counted.  An agency adds its own
in a country or instrument file::

    custom_outcomes:
      log_scrap: {column: Scrap, transform: log1p, kind: log, label: Scrap rate, unit: scrap per 100 items}
      employment: {column: Employees, kind: level, label: Employment, unit: jobs}

:func:`outcome_specs` resolves an instrument's outcome names against both, and :func:`derive_outcomes`
builds the custom outcome columns on a copy of the data (``log`` and ``log1p`` transforms), with a typed
error naming the column, what was found and the remedy.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import StringConstraints, model_validator

from ipf_eval._defaults import keyword_options
from ipf_eval._params_io import ParamsModel
from ipf_eval.errors import DataError, ParameterError

__all__ = [
    "OUTCOMES",
    "OUTCOME_KINDS",
    "STANDARD_COST_UNITS",
    "CustomOutcome",
    "OutcomeSpec",
    "cost_unit_of",
    "derive_outcomes",
    "outcome_specs",
]

OutcomeKind = Literal["log", "level", "share", "binary"]
#: How an outcome is measured: ``log`` (effects shown as percent), ``level`` (in its unit), ``share`` (a
#: share between 0 and 1: percentage points) or ``binary`` (0/1: percentage points of firms).
OUTCOME_KINDS: tuple[str, ...] = ("log", "level", "share", "binary")

#: The standard outcome columns of the panel contract (those the simulator draws), with their kind, label
#: and unit.
_STANDARD: Mapping[str, tuple[OutcomeKind, str, str]] = {
    "log_employment": ("log", "employment", "jobs"),
    "log_turnover": ("log", "turnover", "euro"),
    "rd_spending": ("level", "R&D spending", "euro"),
    "exporter": ("binary", "the share of firms that export", "exporters"),
    "export_share": ("share", "the share of turnover exported", ""),
    "equity_raised": ("level", "equity raised", "euro"),
    "alive": ("binary", "the share of firms still active", "firms"),
}
OUTCOMES: tuple[str, ...] = tuple(_STANDARD)

#: The cost unit of each standard outcome that is costed (an additional job, euro of R&D, exporter, euro
#: of equity); the others have none.
STANDARD_COST_UNITS: Mapping[str, str] = {"log_employment": "job", "rd_spending": "euro_rd",
                                          "exporter": "exporter", "equity_raised": "euro_equity"}

_Label = Annotated[str, StringConstraints(min_length=1, max_length=100)]
_Unit = Annotated[str, StringConstraints(max_length=60)]
_Column = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CustomOutcome(ParamsModel):
    """An agency's own outcome: the data column it comes from, its transform, kind, label and unit."""

    column: _Column
    transform: Literal["none", "log", "log1p"] = "none"
    kind: OutcomeKind
    label: _Label
    unit: _Unit = ""

    @model_validator(mode="after")
    def _transform_fits_kind(self) -> CustomOutcome:
        if self.transform != "none" and self.kind != "log":
            raise ValueError(f"transform {self.transform!r} makes a log outcome; set kind: log (effects are "
                             f"then shown in percent), or transform: none for kind {self.kind!r}")
        return self


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome an evaluation estimates: where its column comes from and how effects on it read.

    Attributes
    ----------
    name
        The outcome's name in the evidence (``log_employment``, ``log_scrap``).
    column
        The data column it is built from (the name itself for a standard outcome).
    transform
        ``none``, ``log`` or ``log1p``.
    kind
        ``log``, ``level``, ``share`` or ``binary``.
    label, unit
        How the reports name it and count a level effect.
    standard
        Whether it is one of :data:`OUTCOMES`.
    """

    name: str
    column: str
    transform: str
    kind: str
    label: str
    unit: str
    standard: bool

    @property
    def scale(self) -> str:
        """The scale the reports express effects on: ``log`` (percent), ``share`` (points) or ``level``."""
        return {"binary": "share"}.get(self.kind, self.kind)


def _standard_spec(name: str) -> OutcomeSpec:
    kind, label, unit = _STANDARD[name]
    return OutcomeSpec(name, name, "none", kind, label, unit, True)


@keyword_options
def outcome_specs(outcomes: Sequence[str], *, custom: Mapping[str, CustomOutcome] | None = None,
                  where: str = "the instrument file") -> dict[str, OutcomeSpec]:
    """Resolve outcome names against the standard list and the agency's ``custom_outcomes``.

    Parameters
    ----------
    outcomes
        The instrument's outcome names, in order.
    custom
        The custom outcomes in force (the country's and the instrument's, merged).
    where
        Where the names come from, for the error message.

    Returns
    -------
    dict
        Name to :class:`OutcomeSpec`, in the order of ``outcomes``.

    Raises
    ------
    ParameterError
        If a name is neither standard nor defined (with close matches), or a custom outcome reuses a
        standard name.
    """
    custom = dict(custom or {})
    clash = sorted(set(custom) & set(OUTCOMES))
    if clash:
        raise ParameterError(f"custom_outcomes {clash!r} reuse standard outcome names; give your own outcome "
                             "another name (the standard ones are read from the column of that name)")
    out: dict[str, OutcomeSpec] = {}
    for name in outcomes:
        if name in _STANDARD:
            out[name] = _standard_spec(name)
        elif name in custom:
            c = custom[name]
            out[name] = OutcomeSpec(name, c.column, c.transform, c.kind, c.label, c.unit, False)
        else:
            known = [*OUTCOMES, *custom]
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise ParameterError(f"{where}: outcome {name!r} is neither a standard outcome "
                                 f"{list(OUTCOMES)!r} nor defined in custom_outcomes{hint}; fix the name or "
                                 "define it under "
                                 "custom_outcomes (column, kind, label) in the country or instrument file")
    return out


@keyword_options
def cost_unit_of(spec: OutcomeSpec) -> str | None:
    """Return the cost unit of an outcome, or ``None`` when it is not costed.

    Standard outcomes follow :data:`STANDARD_COST_UNITS`.  A custom ``level`` outcome is costed per unit
    (its ``unit``, e.g. ``jobs``: the cost per additional job) and a custom ``binary`` outcome per
    additional firm with the outcome; custom ``log`` and ``share`` outcomes are not costed (a cost per
    percent has no unit a budget holder can use).
    """
    if spec.standard:
        return STANDARD_COST_UNITS.get(spec.name)
    return f"custom:{spec.name}" if spec.kind in ("level", "binary") else None


@keyword_options
def derive_outcomes(data: pd.DataFrame, specs: Mapping[str, OutcomeSpec]) -> pd.DataFrame:
    """Return a copy of ``data`` with every custom outcome's column built from its source column.

    Parameters
    ----------
    data
        The panel (not modified).
    specs
        From :func:`outcome_specs`.

    Returns
    -------
    pandas.DataFrame
        ``data`` with one column per custom outcome (its name): the source column, ``log`` or ``log1p``
        of it.  Standard outcomes are left as they are.

    Raises
    ------
    DataError
        If a source column is missing, not numeric, or (for ``log``/``log1p``) holds values the transform
        cannot take; the message gives counts and the column, never a firm's value.
    """
    custom = [s for s in specs.values() if not s.standard]
    if not custom:
        return data
    out = data.copy()
    for s in custom:
        if s.column not in data.columns:
            close = difflib.get_close_matches(s.column, [str(c) for c in data.columns], n=3)
            hint = f" (close: {', '.join(repr(c) for c in close)})" if close else ""
            raise DataError(f"custom outcome {s.name!r} reads column {s.column!r}, which is not in the data"
                            f"{hint}; fix 'column' under custom_outcomes or map the file's column")
        values = data[s.column]
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            raise DataError(f"custom outcome {s.name!r}: column {s.column!r} is {values.dtype} (text), not "
                            "numbers; fix the file (decimal commas: read: {decimal: ','}) or pick a numeric "
                            "column")
        x: pd.Series = values.astype(float)
        if s.transform == "log":
            bad = int((x <= 0).sum())
            if bad:
                raise DataError(f"custom outcome {s.name!r}: transform log needs positive values, but "
                                f"{bad} of {int(x.notna().sum())} values of column {s.column!r} are zero or "
                                "negative; use transform: log1p for counts with zeros")
            x = pd.Series(np.log(x), index=x.index)
        elif s.transform == "log1p":
            bad = int((x <= -1).sum())
            if bad:
                raise DataError(f"custom outcome {s.name!r}: transform log1p needs values above -1, but "
                                f"{bad} values of column {s.column!r} are not; check the column")
            x = pd.Series(np.log1p(x), index=x.index)
        if s.kind in ("share", "binary"):
            outside = int(((x < 0) | (x > 1)).sum())
            if outside:
                raise DataError(f"custom outcome {s.name!r} is a {s.kind} but {outside} values of column "
                                f"{s.column!r} lie outside 0 to 1; give shares as fractions (0.25, not 25) "
                                "or use kind: level")
            if s.kind == "binary" and not x.dropna().isin([0.0, 1.0]).all():
                raise DataError(f"custom outcome {s.name!r} is binary but column {s.column!r} holds values "
                                "other than 0 and 1; use kind: share for fractions")
        out[s.name] = x
    return out
