"""Tables built from firm-level rows, with primary and secondary (complementary) cell suppression.

:func:`protect_table` aggregates microdata into a frequency or magnitude table over one or more
classification columns, adds the margins (totals along every axis), applies the primary sensitivity rules
of a :class:`~ipf_eval.disclosure.profiles.DisclosureProfile` to every cell *and* margin, and then
suppresses complementary cells until no hidden cell can be recovered exactly from the published ones.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.linalg import null_space

from ipf_eval._defaults import keyword_options, user_stack_level
from ipf_eval.disclosure.audit import AuditEntry, AuditLog, format_cell_key
from ipf_eval.disclosure.cells import (
    _cell_stats,
    _Key,
    _primary_rules,
    _Stats,
    check_magnitudes,
    check_unique_columns,
)
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = ["ProtectedTable", "protect_table", "recoverable_cells"]


class _Total:
    """Sentinel for a margin coordinate (sorts after every category)."""

    def __repr__(self) -> str:
        return "<Total>"


_TOTAL = _Total()


@dataclass(frozen=True, eq=False)
class ProtectedTable(ResultMixin):
    """A table that passed disclosure control: hidden cells are NaN and every row carries its status.

    Attributes
    ----------
    name
        Name of the table (used in the audit log).
    table
        The publishable table: the classification columns, the value columns (NaN where hidden), the firm
        count ``n_firms`` (missing where hidden) when there is one, ``status`` (``"published"``,
        ``"primary"`` or ``"secondary"``) and ``rule``.  Hidden values are not stored anywhere in the object.
    audit
        What was hidden and why.
    profile
        The profile applied.
    specification
        The call that produced the table.
    notes
        Caveats (for example rules that could not be checked).
    """

    name: str
    table: pd.DataFrame
    audit: AuditLog
    profile: DisclosureProfile
    specification: Specification
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_suppressed(self) -> int:
        """Number of hidden cells (primary and secondary)."""
        return int((self.table["status"] != "published").sum())

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the publishable table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary: the table's records, the audit log and the profile."""
        return {
            "name": self.name,
            "profile": self.profile.to_dict(),
            "table": json_safe(self.table),
            "audit": self.audit.to_dict(),
            "notes": list(self.notes),
            "specification": self.specification.to_dict(),
        }

    def summary(self) -> Summary:
        """Return the printable summary: the publishable table and the suppression counts."""
        return Summary(
            title=f"Disclosure-controlled table: {self.name}",
            facts=(
                ("Profile", self.profile.describe()),
                ("Cells", str(len(self.table))),
                ("Primary suppressions", str(self.audit.n_primary)),
                ("Secondary suppressions", str(self.audit.n_secondary)),
            ),
            table=self.table,
            notes=self.notes,
        )


def _check_frame(data: Any, columns: Sequence[str], *, where: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{where} must be a pandas DataFrame; got {type(data).__name__!r}.")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(
            f"{where} lacks column(s) {missing!r}; available columns are {list(data.columns)!r}. "
            "Rename the columns or pass the right names."
        )


def _sorted_unique(values: pd.Series) -> list[Any]:
    uniq = list(pd.unique(values))
    try:
        return sorted(uniq)
    except TypeError:
        return uniq


def _equations(axes: list[list[Any]]) -> list[list[tuple[_Key, int]]]:
    """Linear relations between cells and margins: for every axis and every line, cells minus total = 0."""
    full = [[*cats, _TOTAL] for cats in axes]
    eqs: list[list[tuple[_Key, int]]] = []
    for d, cats in enumerate(axes):
        others = [full[j] for j in range(len(axes)) if j != d]
        for combo in itertools.product(*others):
            def key(c: Any, combo: tuple[Any, ...] = combo, d: int = d) -> _Key:
                rest = list(combo)
                rest.insert(d, c)
                return tuple(rest)

            eqs.append([(key(c), 1) for c in cats] + [(key(_TOTAL), -1)])
    return eqs


@keyword_options
def recoverable_cells(
    suppressed: Sequence[_Key], equations: Sequence[Sequence[tuple[_Key, int]]]
) -> list[_Key]:
    """Return the hidden cells whose value is determined exactly by the published cells.

    A hidden cell is determined when its unit vector lies in the row space of the linear relations
    restricted to the hidden cells, i.e. when every solution of the homogeneous system leaves it unchanged.
    """
    if not suppressed:
        return []
    index = {k: i for i, k in enumerate(suppressed)}
    rows = []
    for eq in equations:
        row = np.zeros(len(suppressed))
        for k, sign in eq:
            if k in index:
                row[index[k]] = sign
        if row.any():
            rows.append(row)
    if not rows:
        return []
    basis = null_space(np.vstack(rows))
    if basis.size == 0:
        return list(suppressed)
    free = np.abs(basis).max(axis=1) > 1e-9
    return [k for k, f in zip(suppressed, free, strict=True) if not f]


def _secondary(
    primary: set[_Key],
    equations: list[list[tuple[_Key, int]]],
    n_firms: Mapping[_Key, int],
    cost: Mapping[_Key, float],
    order: Mapping[_Key, int],
) -> set[_Key]:
    """Greedy complementary suppression; see :func:`protect_table` Notes."""
    hidden = set(primary)
    secondary: set[_Key] = set()

    def rank(k: _Key) -> tuple[int, float, int, int]:
        return (0 if n_firms[k] > 0 else 1, cost[k], n_firms[k], order[k])

    def add(k: _Key) -> None:
        hidden.add(k)
        secondary.add(k)

    while True:
        changed = False
        for eq in equations:
            members = [k for k, _ in eq]
            if sum(k in hidden for k in members) == 1:
                candidates = sorted((k for k in members if k not in hidden), key=rank)
                if candidates:
                    add(candidates[0])
                    changed = True
        if changed:
            continue
        ordered = sorted(hidden, key=lambda k: order[k])
        exposed = recoverable_cells(ordered, equations)
        if not exposed:
            break
        target = exposed[0]
        pool = sorted(
            {k for eq in equations if any(m == target for m, _ in eq) for k, _ in eq if k not in hidden},
            key=rank,
        )
        if not pool:  # pragma: no cover - cannot happen: every cell lies on at least one relation
            pool = sorted((k for k in order if k not in hidden), key=rank)
        choice = pool[0]
        for cand in pool:
            trial = sorted([*hidden, cand], key=lambda k: order[k])
            if target not in recoverable_cells(trial, equations):
                choice = cand
                break
        add(choice)
    return secondary


@keyword_options
def protect_table(
    microdata: pd.DataFrame,
    *,
    by: str | Sequence[str],
    value: str | None = None,
    id_col: str = "firm_id",
    profile: str | DisclosureProfile = "statistical_office",
    stat: Literal["sum", "mean", "count"] | None = None,
    margins: bool = True,
    total_label: str = "Total",
    name: str = "table",
) -> ProtectedTable:
    r"""Build a frequency or magnitude table from firm-level rows and apply disclosure control.

    Parameters
    ----------
    microdata
        Firm-level rows (several rows per firm are allowed; they are summed per firm within each cell).
        Not modified.
    by
        Classification column(s) spanning the table (one for a 1-D table, two for a 2-D table, ...).
    value
        Magnitude column to aggregate; ``None`` for a frequency (count of firms) table.
    id_col
        Firm identifier column; firms, not rows, are the contributors.
    profile
        Disclosure profile name or object (see :func:`~ipf_eval.disclosure.profiles.get_profile`).
    stat
        ``"sum"`` or ``"mean"`` (per firm) of ``value``, or ``"count"`` (number of distinct firms).
        Defaults to ``"sum"`` when ``value`` is given and ``"count"`` otherwise.
    margins
        Publish totals along every axis (and the grand total).  Secondary suppression protects against
        recovery from these margins; without margins only primary suppression is needed.
    total_label
        Label of the margin rows in the classification columns.
    name
        Table name recorded in the audit log.

    Returns
    -------
    ProtectedTable
        The publishable table with columns ``*by, value, n_firms, status, rule`` (one row per cell of the
        full cross-classification, margins last along each axis); hidden cells have ``value`` NaN and
        ``n_firms`` missing.

    Raises
    ------
    DataError
        If a column is missing or named twice, ``value`` is not numeric, has missing or infinite values, or
        negative values under a profile with a dominance or p % rule, or a classification or id value is
        missing.
    SpecificationError
        If ``stat`` is unknown or does not match ``value``, ``by`` is empty, a category equals
        ``total_label``, or the profile is unknown.

    Warns
    -----
    DisclosureWarning
        When at least one cell is hidden.

    Notes
    -----
    *Primary suppression.*  Every cell and margin with :math:`1 \le n < n_{min}` contributing firms fails
    the threshold rule.  For magnitude tables (``stat`` ``"sum"`` or ``"mean"``), with firm contributions
    :math:`x_1 \ge x_2 \ge \dots` (non-negative, summed per firm) and cell total :math:`T = \sum x_i`,
    the :math:`(n, k)` dominance rule fails when :math:`\sum_{i \le n} x_i > (k/100) T` and the p % rule
    fails when :math:`T - x_1 - x_2 < (p/100) x_1`.  Empty cells (no firm) are published as structural
    zeros.

    *Secondary suppression* (complementary cells).  Each margin gives a linear relation
    :math:`\sum_c x_{\dots c \dots} - x_{\dots T \dots} = 0`.  The greedy algorithm (i) repeatedly
    finds a relation with exactly one hidden member and hides its cheapest other member (smallest absolute
    total, then fewest firms; empty cells last), and (ii) when no relation has a single hidden member,
    computes the null space of the relations restricted to the hidden cells: a hidden cell is recoverable
    exactly when every null-space vector is zero in its coordinate.  For the first recoverable cell it hides
    the cheapest member of one of its relations that makes it unrecoverable, and repeats.  The result
    guarantees that no hidden value is determined by the published cells and margins (exact disclosure);
    it does not enforce protection intervals (bounds an attacker can derive from non-negativity), for which
    linear-programming methods such as those in tau-ARGUS are needed.  The same pattern hides the firm
    counts, since ``mean`` times ``n_firms`` would recover a sum.

    References
    ----------
    Hundepool, A. et al. (2012). *Statistical Disclosure Control*. Wiley, sections 4.2 (sensitivity rules)
    and 4.3 (secondary cell suppression).

    Examples
    --------
    >>> import warnings
    >>> import pandas as pd
    >>> from ipf_eval.disclosure import protect_table
    >>> rows = pd.DataFrame({"firm_id": range(9), "sector": list("AAAABBCCC"),
    ...                      "rd": [5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 3.0, 4.0]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     table = protect_table(rows, by="sector", value="rd").table
    >>> table[["sector", "value", "status"]]
      sector  value     status
    0      A   26.0  published
    1      B    NaN    primary
    2      C    NaN  secondary
    3  Total   39.0  published
    """
    prof = get_profile(profile)
    by_cols = [by] if isinstance(by, str) else list(by)
    if not by_cols:
        raise SpecificationError("by must name at least one classification column; got an empty list.")
    if stat is None:
        stat = "count" if value is None else "sum"
    if stat not in ("sum", "mean", "count"):
        raise SpecificationError(f"stat must be one of ['sum', 'mean', 'count']; got {stat!r}.")
    if stat == "count" and value is not None:
        raise SpecificationError(
            f"stat='count' counts firms and takes no value column; got value={value!r}. "
            "Drop value=, or use stat='sum' or 'mean'."
        )
    if stat != "count" and value is None:
        raise SpecificationError(f"stat={stat!r} needs a value column; pass value='column_name'.")
    needed = [*by_cols, id_col] + ([value] if value is not None else [])
    _check_frame(microdata, needed, where="microdata")
    check_unique_columns(microdata, where="microdata")
    for col in [*by_cols, id_col]:
        n_missing = int(microdata[col].isna().sum())
        if n_missing:
            raise DataError(
                f"column {col!r} has {n_missing} missing value(s); disclosure control needs every row "
                "classified. Drop those rows or recode missing values as their own category."
            )
    contrib = microdata[[*by_cols, id_col]].copy()
    if value is not None:
        contrib["_v"] = check_magnitudes(microdata[value], column=value, profile=prof,
                                         where="protect_table()")
    else:
        contrib["_v"] = 1.0
    if margins:
        clash = [c for c in by_cols if (microdata[c].astype(str) == total_label).any()]
        if clash:
            raise SpecificationError(
                f"column(s) {clash!r} contain the category {total_label!r}, which is also the margin label; "
                "pass another total_label=."
            )
    axes = [_sorted_unique(contrib[c]) for c in by_cols]
    magnitude = stat != "count"

    stats: dict[_Key, _Stats] = {}
    top_k = max(2, prof.dominance_n or 0)
    k_dim = len(by_cols)
    subsets = [s for r in range(k_dim + 1) for s in itertools.combinations(range(k_dim), r)] if margins else [
        tuple(range(k_dim))
    ]
    for subset in subsets:
        for sub_key, st in _cell_stats(contrib, [by_cols[i] for i in subset], id_col, top_k).items():
            full_key = [_TOTAL] * k_dim
            for i, v in zip(subset, sub_key, strict=True):
                full_key[i] = v
            stats[tuple(full_key)] = st
    grid_axes = [[*cats, _TOTAL] for cats in axes] if margins else axes
    cells: list[_Key] = list(itertools.product(*grid_axes))
    order = {k: i for i, k in enumerate(cells)}
    empty: _Stats = (0, 0.0, 0.0, ())
    n_firms = {k: stats.get(k, empty)[0] for k in cells}
    cost = {k: (stats.get(k, empty)[2] if magnitude else float(stats.get(k, empty)[0])) for k in cells}

    failed = {k: _primary_rules(st[0], st[2], st[3], prof, magnitude)
              for k, st in ((k, stats.get(k, empty)) for k in cells)}
    primary = {k for k, f in failed.items() if f}
    secondary = _secondary(primary, _equations(axes), n_firms, cost, order) if margins else set()

    def label(v: Any) -> Any:
        return total_label if v is _TOTAL else v

    records = []
    entries = []
    for k in cells:
        n, total, _, _ = stats.get(k, empty)
        if stat == "count":
            val = float(n)
        elif stat == "sum":
            val = total
        else:
            val = total / n if n > 0 else np.nan
        key_map = {c: label(v) for c, v in zip(by_cols, k, strict=True)}
        if k in primary:
            status, rule = "primary", "+".join(r for r, _ in failed[k])
            entries.append(AuditEntry(name, format_cell_key(key_map), status, rule,
                                      "; ".join(reason for _, reason in failed[k])))
        elif k in secondary:
            status, rule = "secondary", "complementary"
            entries.append(AuditEntry(
                name, format_cell_key(key_map), status, rule,
                "hidden so that a suppressed cell cannot be recovered from the margins",
            ))
        else:
            status, rule = "published", ""
        hidden = status != "published"
        records.append({**key_map, "value": np.nan if hidden else val,
                        "n_firms": pd.NA if hidden else n, "status": status, "rule": rule})
    table = pd.DataFrame.from_records(records, columns=[*by_cols, "value", "n_firms", "status", "rule"])
    table["n_firms"] = table["n_firms"].astype("Int64")
    audit = AuditLog(entries=tuple(entries), profile=prof.name)
    spec = Specification(
        estimator="protect_table",
        arguments={"by": by_cols, "value": value, "id_col": id_col, "profile": prof.name, "stat": stat,
                   "margins": margins, "name": name},
        n_obs=len(microdata),
        n_units=int(microdata[id_col].nunique()),
    )
    if entries:
        warnings.warn(
            f"{name}: {len(primary)} cell(s) hidden by primary rules and {len(secondary)} by secondary "
            f"suppression under profile {prof.name!r}; see .audit for the reasons.",
            DisclosureWarning,
            stacklevel=user_stack_level(),
        )
    return ProtectedTable(name=name, table=table, audit=audit, profile=prof, specification=spec)

