"""Shared machinery of every result object: the specification record, summaries and tidy tables.

Results are frozen dataclasses.  Each carries a :class:`Specification` (what produced it), and offers
``summary()`` (a :class:`Summary` with text, HTML and LaTeX renderings), ``to_frame()`` (a long table with
the fixed columns in :data:`TIDY_COLUMNS` plus identifiers), ``plot(ax=)`` and ``to_dict()`` (JSON-safe).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._version import __version__

__all__ = [
    "ID_COLUMNS",
    "TIDY_COLUMNS",
    "DropRecord",
    "FrozenMapping",
    "ResultMixin",
    "Specification",
    "Summary",
    "json_safe",
    "tidy_frame",
]

#: Columns every ``to_frame()`` carries, in this order, whatever ``alpha`` was.
TIDY_COLUMNS: tuple[str, ...] = (
    "term",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "ci_low",
    "ci_high",
)

#: Identifier columns that a tidy table may add after :data:`TIDY_COLUMNS` (only those that apply).
ID_COLUMNS: tuple[str, ...] = (
    "group",
    "time",
    "event_time",
    "country",
    "instrument",
    "outcome",
    "ci_kind",
)


@dataclass(frozen=True)
class DropRecord:
    """Rows or units removed on the way in, with the reason and the count."""

    reason: str
    n_rows: int
    n_units: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"reason": self.reason, "n_rows": int(self.n_rows), "n_units": int(self.n_units)}


class FrozenMapping(Mapping[str, Any]):
    """A read-only mapping (nested mappings read-only too) that pickles, compares and prints like a dict.

    Results are frozen, and so is what they record: item assignment raises :class:`TypeError`.  Lists
    inside are copied (so the caller's lists can change without changing the record) but stay lists.

    Examples
    --------
    >>> args = FrozenMapping({"yname": "y", "covariates": ["x1"]})
    >>> args["yname"], dict(args) == {"yname": "y", "covariates": ["x1"]}
    ('y', True)
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {k: _freeze_value(v) for k, v in (data or {}).items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[type[FrozenMapping], tuple[dict[str, Any]]]:
        return (FrozenMapping, (self._data,))


def _freeze_value(value: Any) -> Any:
    if isinstance(value, FrozenMapping):
        return value
    if isinstance(value, Mapping):
        return FrozenMapping(value)
    if isinstance(value, list):
        return [_freeze_value(v) for v in value]
    return value


@dataclass(frozen=True)
class Specification:
    """What produced a result: the estimator, its arguments and the data it saw.

    Parameters
    ----------
    estimator
        Public name of the function that produced the result, e.g. ``"att_gt"``.
    arguments
        The arguments as plain values (column names, options, seed); stored as a read-only
        :class:`FrozenMapping`.
    n_obs
        Number of rows used.
    n_units
        Number of distinct units (firms) used.
    dropped
        Rows or units removed, with reasons.
    seed
        Seed of every random step, or ``None`` when nothing was random.
    version
        ipf_eval version.
    """

    estimator: str
    arguments: Mapping[str, Any]
    n_obs: int
    n_units: int
    dropped: tuple[DropRecord, ...] = ()
    seed: int | None = None
    version: str = __version__

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", _freeze_value(dict(self.arguments)))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "estimator": self.estimator,
            "arguments": json_safe(dict(self.arguments)),
            "n_obs": int(self.n_obs),
            "n_units": int(self.n_units),
            "dropped": [d.to_dict() for d in self.dropped],
            "seed": self.seed,
            "version": self.version,
        }


@keyword_options
def json_safe(obj: Any) -> Any:
    """Convert numpy and pandas scalars, arrays and frames into JSON-safe Python values.

    Non-finite floats become ``None`` so that the output is strict JSON.
    """
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [json_safe(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return json_safe(obj.tolist())
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


@keyword_options
def tidy_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a tidy table with :data:`TIDY_COLUMNS` first, then identifiers in :data:`ID_COLUMNS` order.

    Parameters
    ----------
    rows
        One mapping per estimate; keys outside the two column lists are kept after them.

    Returns
    -------
    pandas.DataFrame
        The table, with a fresh ``RangeIndex``.
    """
    frame = pd.DataFrame(list(rows))
    for col in TIDY_COLUMNS:
        if col not in frame.columns:
            frame[col] = np.nan
    ids = [c for c in ID_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in TIDY_COLUMNS and c not in ID_COLUMNS]
    return frame[[*TIDY_COLUMNS, *ids, *rest]].reset_index(drop=True)


def _format_cell(value: Any, digits: int) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else f"{float(value):.{digits}f}"
    if value is None or value is pd.NA:
        return ""
    return str(value)


@dataclass(frozen=True, eq=False)
class Summary:
    """A printable summary of a result: a title, key facts, one table and notes.

    ``as_text()``, ``as_html()`` and ``as_latex()`` render the same content; every string that comes from
    data (column names, labels) is escaped in HTML and LaTeX.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    table: pd.DataFrame
    notes: tuple[str, ...] = ()
    digits: int = 4

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = [str(c) for c in self.table.columns]
        body = [[_format_cell(v, self.digits) for v in row] for row in self.table.itertuples(index=False)]
        return header, body

    def as_text(self) -> str:
        """Render as fixed-width text."""
        header, body = self._cells()
        widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(header)]
        lines = [self.title, "=" * max(len(self.title), sum(widths) + 2 * len(widths))]
        key_width = max((len(k) for k, _ in self.facts), default=0)
        lines += [f"{k:<{key_width}}  {v}" for k, v in self.facts]
        if header:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
            lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
            lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        """Render as an HTML fragment (all text escaped)."""
        esc = html.escape
        header, body = self._cells()
        parts = [f"<div class='ipf-eval-summary'><h4>{esc(self.title)}</h4>"]
        if self.facts:
            parts.append("<table class='ipf-eval-facts'>")
            parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self.facts]
            parts.append("</table>")
        if header:
            parts.append("<table class='ipf-eval-table'><thead><tr>")
            parts += [f"<th>{esc(h)}</th>" for h in header]
            parts.append("</tr></thead><tbody>")
            for r in body:
                parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
            parts.append("</tbody></table>")
        parts += [f"<p class='ipf-eval-note'>{esc(n)}</p>" for n in self.notes]
        parts.append("</div>")
        return "".join(parts)

    def as_latex(self) -> str:
        """Render as a LaTeX ``tabular`` inside a ``table`` environment."""
        header, body = self._cells()

        def tex(s: str) -> str:
            for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                         ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}")):
                s = s.replace(a, b)
            return s

        lines = [r"\begin{table}", r"\centering", f"\\caption{{{tex(self.title)}}}",
                 r"\begin{tabular}{" + "l" * max(len(header), 1) + "}", r"\hline"]
        if header:
            lines.append(" & ".join(tex(h) for h in header) + r" \\")
            lines.append(r"\hline")
            lines += [" & ".join(tex(c) for c in r) + r" \\" for r in body]
        lines += [r"\hline", r"\end{tabular}"]
        lines += [f"\\par\\footnotesize {tex(k)}: {tex(v)}" for k, v in self.facts]
        lines += [f"\\par\\footnotesize Note: {tex(n)}" for n in self.notes]
        lines.append(r"\end{table}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    def _repr_html_(self) -> str:
        return self.as_html()


class ResultMixin:
    """Display behaviour shared by every result: ``str`` and the notebook HTML repr use ``summary()``."""

    def summary(self) -> Summary:
        """Return the printable summary of the result."""
        raise NotImplementedError  # pragma: no cover - every result overrides it

    def __str__(self) -> str:
        return self.summary().as_text()

    def _repr_html_(self) -> str:
        return self.summary().as_html()
