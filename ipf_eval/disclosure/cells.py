"""Per-cell statistics and the primary suppression rules of a table, and which cells fail them.

:func:`primary_failures` answers the question other layers ask of a grouped magnitude (support delivered
per group, R&D spending per sector): which cells may not be published under a profile, by which rule and
why, before any table is built.  :func:`~ipf_eval.disclosure.tables.protect_table` applies the same rules
and adds secondary suppression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.errors import DataError, SpecificationError

__all__ = ["RuleFailure", "check_magnitudes", "check_unique_columns", "primary_failures"]

_Key = tuple[Any, ...]


class RuleFailure(NamedTuple):
    """A primary suppression rule a cell fails and why.

    ``rule`` is ``"threshold"``, ``"dominance"`` or ``"p_percent"``; ``reason`` says it in words.
    """

    rule: str
    reason: str


_Stats = tuple[int, float, float, tuple[float, ...]]


@keyword_options
def check_unique_columns(frame: pd.DataFrame, *, where: str) -> None:
    """Raise :class:`DataError` when ``frame`` has a column label more than once (after a concat or merge)."""
    dups = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(
            f"{where} has duplicated column labels {[str(d) for d in dups]!r}; a column named twice is "
            "ambiguous: drop or rename the copies before disclosure control."
        )


@keyword_options
def check_magnitudes(values: pd.Series, *, column: str, profile: DisclosureProfile, where: str) -> np.ndarray:
    r"""Return a magnitude column as floats after checking it can go through the sensitivity rules.

    The :math:`(n, k)` dominance and p % rules are defined for non-negative contributions (Hundepool et al.
    2012, section 4.2): with positive and negative contributions a cell total can be small while single
    firms are large, and a rule on absolute values no longer bounds what a contributor learns about
    another.  Negative values are therefore refused under a profile that applies either rule.

    Raises
    ------
    DataError
        If the column is not numeric, or holds missing, infinite or (under a dominance or p % rule)
        negative values.
    """
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        raise DataError(f"{where}: value column {column!r} must be numeric; got dtype {values.dtype}.")
    n_missing = int(values.isna().sum())
    if n_missing:
        raise DataError(
            f"{where}: value column {column!r} has {n_missing} missing value(s). Drop or impute them before "
            "building the table."
        )
    v = values.to_numpy(dtype=float)
    n_inf = int(np.isinf(v).sum())
    if n_inf:
        raise DataError(
            f"{where}: value column {column!r} has {n_inf} infinite value(s); a cell total would be "
            "infinite. Fix or drop those rows."
        )
    negative = v < 0
    if negative.any() and (profile.dominance_n is not None or profile.p_percent is not None):
        raise DataError(
            f"{where}: value column {column!r} has {int(negative.sum())} negative value(s); the dominance "
            f"and p% rules of profile {profile.name!r} need non-negative contributions. Tabulate a "
            "non-negative magnitude (split a balance into its positive and negative parts, e.g. gains and "
            "losses, and protect each), or use a profile without these rules (get_profile(...).replace("
            "dominance_n=None, dominance_k=None, p_percent=None)) if your statistical office allows it."
        )
    return v


def _cell_stats(contrib: pd.DataFrame, keys: list[str], id_col: str, top_k: int) -> dict[_Key, _Stats]:
    """Per cell: number of firms, total, absolute total and the ``top_k`` largest absolute contributions."""
    firm = contrib.groupby([*keys, id_col], sort=False, observed=True)["_v"].sum().reset_index()
    firm["_a"] = firm["_v"].abs()
    if not keys:
        a = np.sort(firm["_a"].to_numpy())[::-1]
        top = tuple(float(x) for x in a[:top_k])
        return {(): (len(firm), float(firm["_v"].sum()), float(a.sum()), top)}
    firm = firm.sort_values([*keys, "_a"], ascending=[True] * len(keys) + [False], kind="mergesort")
    grouped = firm.groupby(keys, sort=False, observed=True)
    firm["_rank"] = grouped.cumcount().to_numpy()
    agg = grouped.agg(n=("_v", "size"), total=("_v", "sum"), abs_total=("_a", "sum"))
    tops: dict[_Key, list[float]] = {}
    for tup in firm.loc[firm["_rank"] < top_k, [*keys, "_a"]].itertuples(index=False):
        tops.setdefault(tuple(tup[:-1]), []).append(float(tup[-1]))
    out: dict[_Key, _Stats] = {}
    for k, n, total, abs_total in zip(agg.index, agg["n"], agg["total"], agg["abs_total"], strict=True):
        kt: _Key = k if isinstance(k, tuple) else (k,)
        out[kt] = (int(n), float(total), float(abs_total), tuple(tops[kt]))
    return out


def _primary_rules(
    n: int, abs_total: float, tops: tuple[float, ...], profile: DisclosureProfile, magnitude: bool
) -> list[RuleFailure]:
    """Return the (rule, reason) pairs that a cell fails; empty when it may be published."""
    if n == 0:
        return []
    failed: list[RuleFailure] = []
    if n < profile.min_firms:
        failed.append(RuleFailure("threshold", f"fewer than {profile.min_firms} contributing firms"))
    if magnitude and abs_total > 0:
        if profile.dominance_n is not None and profile.dominance_k is not None:
            top = sum(tops[: profile.dominance_n])
            if top > profile.dominance_k / 100.0 * abs_total:
                failed.append(RuleFailure(
                    "dominance",
                    f"the largest {profile.dominance_n} contributor(s) exceed {profile.dominance_k:g}% "
                    "of the cell total",
                ))
        if profile.p_percent is not None:
            x1 = tops[0] if tops else 0.0
            x2 = tops[1] if len(tops) > 1 else 0.0
            if abs_total - x1 - x2 < profile.p_percent / 100.0 * x1:
                failed.append(RuleFailure(
                    "p_percent",
                    f"the second largest contributor could estimate the largest to within "
                    f"{profile.p_percent:g}%",
                ))
    return failed


@keyword_options
def primary_failures(
    contributions: pd.DataFrame,
    *,
    by: str | Sequence[str],
    value: str | None = None,
    id_col: str = "firm_id",
    profile: str | DisclosureProfile = "statistical_office",
) -> dict[tuple[Any, ...], tuple[RuleFailure, ...]]:
    r"""Return, for every cell of a grouped table, the primary suppression rules it fails.

    Parameters
    ----------
    contributions
        Firm-level rows (several rows per firm are summed per firm within a cell).  Not modified.
    by
        Classification column(s) defining the cells.
    value
        Magnitude column: the threshold, dominance and p % rules apply.  ``None`` for a count of firms:
        the threshold rule only.
    id_col
        Firm identifier column; firms, not rows, are the contributors.
    profile
        Disclosure profile name or object (see :func:`~ipf_eval.disclosure.profiles.get_profile`).

    Returns
    -------
    dict
        One entry per cell with at least one contributing firm, keyed by the tuple of its ``by`` values (in
        ``by`` order): the :class:`RuleFailure` s of the cell, an empty tuple when it may be published.

    Raises
    ------
    DataError
        If ``contributions`` is not a DataFrame or names a column twice, a column is missing, a
        classification or id value is missing, or ``value`` is not numeric, has missing or infinite values,
        or negative values under a profile with a dominance or p % rule (:func:`check_magnitudes`).
    SpecificationError
        If ``by`` is empty or the profile is unknown.

    Notes
    -----
    With firm contributions :math:`x_1 \ge x_2 \ge \dots` (non-negative, summed per firm) and cell
    total :math:`T = \sum x_i`, a cell of :math:`n` firms fails the threshold rule when
    :math:`n < n_{min}`, the :math:`(n, k)` dominance rule when :math:`\sum_{i \le n} x_i > (k/100) T` and
    the p % rule when :math:`T - x_1 - x_2 < (p/100) x_1`: the rules of
    :func:`~ipf_eval.disclosure.tables.protect_table`, without secondary suppression.

    References
    ----------
    Hundepool, A. et al. (2012). *Statistical Disclosure Control*. Wiley, section 4.2.

    Examples
    --------
    >>> import pandas as pd
    >>> from ipf_eval.disclosure import primary_failures
    >>> rows = pd.DataFrame({"firm_id": range(6), "region": list("AAAAAB"),
    ...                      "amount": [90.0, 2.0, 3.0, 2.0, 3.0, 5.0]})
    >>> failures = primary_failures(rows, by="region", value="amount")
    >>> [f.rule for f in failures[("A",)]], [f.rule for f in failures[("B",)]]
    (['dominance'], ['threshold', 'dominance'])
    """
    prof = get_profile(profile)
    by_cols = [by] if isinstance(by, str) else list(by)
    if not by_cols:
        raise SpecificationError(
            "primary_failures(by=...) must name at least one classification column; got an empty list."
        )
    if not isinstance(contributions, pd.DataFrame):
        raise DataError(
            f"primary_failures(contributions=...) must be a pandas DataFrame; got "
            f"{type(contributions).__name__!r}."
        )
    check_unique_columns(contributions, where="primary_failures(): contributions")
    needed = [*by_cols, id_col, *([value] if value is not None else [])]
    missing = [c for c in needed if c not in contributions.columns]
    if missing:
        raise DataError(
            f"primary_failures(): contributions lack column(s) {missing!r}; available columns are "
            f"{list(contributions.columns)!r}. Pass the right names to by=, value= and id_col=."
        )
    for col in [*by_cols, id_col]:
        n_missing = int(contributions[col].isna().sum())
        if n_missing:
            raise DataError(
                f"primary_failures(): column {col!r} has {n_missing} missing value(s); every contribution "
                "needs a cell and a firm. Drop those rows or recode missing values as their own category."
            )
    # internal names, whatever the caller's columns are called (one of them may be "_v")
    keys = [f"_by{i}" for i in range(len(by_cols))]
    contrib = pd.DataFrame({
        **{k: contributions[c].array for k, c in zip(keys, by_cols, strict=True)},
        "_id": contributions[id_col].array,
    })
    if value is not None:
        contrib["_v"] = check_magnitudes(contributions[value], column=value, profile=prof,
                                         where="primary_failures()")
    else:
        contrib["_v"] = 1.0
    if contrib.empty:
        return {}
    top_k = max(2, prof.dominance_n or 0)
    magnitude = value is not None
    return {
        key: tuple(_primary_rules(st[0], st[2], st[3], prof, magnitude))
        for key, st in _cell_stats(contrib, keys, "_id", top_k).items()
    }
