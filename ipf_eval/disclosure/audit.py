"""The audit log of disclosure control: which cells were hidden, by which rule and why.

The log never holds a hidden value, only the fact that a cell was hidden and the reason, so that it can be
published next to the table (or handed to the output checker of a research data centre) without itself
disclosing anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.results import ResultMixin, Summary

__all__ = ["STATUSES", "AuditEntry", "AuditLog", "combine_audits", "format_cell_key"]

#: Status of a published cell: shown, hidden by a sensitivity rule, or hidden to protect another cell.
STATUSES: tuple[str, ...] = ("published", "primary", "secondary")

_ENTRY_COLUMNS = ("table", "cell", "status", "rule", "reason", "value_hidden")


@keyword_options
def format_cell_key(key: Mapping[str, Any]) -> str:
    """Format a cell's coordinates as ``"col=value, col=value"`` (``"(all)"`` for an empty key)."""
    if not key:
        return "(all)"
    return ", ".join(f"{k}={v}" for k, v in key.items())


@dataclass(frozen=True)
class AuditEntry:
    """One hidden cell: where it is, which rule hid it and why.

    Parameters
    ----------
    table
        Name of the table, figure or result.
    cell
        The cell's coordinates, formatted by :func:`format_cell_key`.
    status
        ``"primary"`` (a sensitivity rule failed) or ``"secondary"`` (hidden so that a primary cell cannot be
        recovered from the margins).
    rule
        ``"threshold"``, ``"dominance"``, ``"p_percent"``, ``"residual_df"`` or ``"complementary"``; several
        failed primary rules are joined with ``"+"``.
    reason
        Plain-language explanation, without the hidden value.
    value_hidden
        Always ``True`` for entries in the log; kept as a column so exported logs are self-describing.
    """

    table: str
    cell: str
    status: str
    rule: str
    reason: str
    value_hidden: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {c: getattr(self, c) for c in _ENTRY_COLUMNS}


@dataclass(frozen=True, eq=False)
class AuditLog(ResultMixin):
    """An immutable list of :class:`AuditEntry`, with the profile that produced them.

    Combine logs with ``log_a + log_b`` or :func:`combine_audits`; export with :meth:`to_frame`,
    :meth:`to_dict` or :meth:`to_json`.
    """

    entries: tuple[AuditEntry, ...] = ()
    profile: str = ""

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries)

    def __add__(self, other: AuditLog) -> AuditLog:
        if not isinstance(other, AuditLog):
            return NotImplemented
        profile = self.profile if self.profile == other.profile or not other.profile else (
            other.profile if not self.profile else f"{self.profile}+{other.profile}"
        )
        return AuditLog(entries=self.entries + other.entries, profile=profile)

    @property
    def n_primary(self) -> int:
        """Number of cells hidden by a sensitivity rule."""
        return sum(e.status == "primary" for e in self.entries)

    @property
    def n_secondary(self) -> int:
        """Number of cells hidden to protect others."""
        return sum(e.status == "secondary" for e in self.entries)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per hidden cell: ``table, cell, status, rule, reason, value_hidden``."""
        return pd.DataFrame([e.to_dict() for e in self.entries], columns=list(_ENTRY_COLUMNS))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary: the profile and the list of entries."""
        return {
            "profile": self.profile,
            "n_primary": self.n_primary,
            "n_secondary": self.n_secondary,
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the log as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> Summary:
        """Return the printable summary: counts and the list of hidden cells."""
        return Summary(
            title="Disclosure control audit log",
            facts=(
                ("Profile", self.profile or "(none)"),
                ("Primary suppressions", str(self.n_primary)),
                ("Secondary suppressions", str(self.n_secondary)),
            ),
            table=self.to_frame().drop(columns=["value_hidden"]),
            notes=("Hidden values are never recorded; only the cell, the rule and the reason.",),
        )


@keyword_options
def combine_audits(logs: Iterable[AuditLog]) -> AuditLog:
    """Concatenate several audit logs (for a report made of several tables) into one."""
    out = AuditLog()
    for log in logs:
        out = out + log
    return out
