"""Who the instrument reaches: the SME mix of the country's firms, and the delivery of applications.

* :func:`population_mix` gives the shares of micro, small and medium firms among all of a country's firms,
  which the forum's transferability step reweights size-class effects to.
* :func:`reach_summary` tabulates applications by call year under disclosure control and summarises
  delivery: applications, median days from application to decision, and the share accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ipf_eval.disclosure import ProtectedTable, protect_table
from ipf_eval.errors import SpecificationError

__all__ = ["ReachSummary", "population_mix", "reach_summary"]


def population_mix(population: pd.DataFrame, *, idname: str = "firm_id",
                   size_column: str = "size_class") -> pd.Series:
    """Shares of firms by size class (each firm counted once, by its first observed size class).

    Parameters
    ----------
    population
        All firms of the country (one or more rows per firm); not modified.
    idname, size_column
        Column names.

    Returns
    -------
    pandas.Series
        Share of firms per size class, indexed by size class in sorted order; empty without ``size_column``.
    """
    if size_column not in population.columns or not len(population):
        return pd.Series(dtype=float, name="share")
    mix = population.groupby(idname)[size_column].first().value_counts(normalize=True)
    return mix.sort_index().rename("share")


@dataclass(frozen=True, eq=False)
class ReachSummary:
    """Applications by call year (disclosure-protected) and the delivery indicators."""

    table: ProtectedTable
    applications: int
    median_decision_days: float
    acceptance_rate: float


def reach_summary(applications: pd.DataFrame, *, profile: str) -> ReachSummary:
    """Tabulate applications by call year and summarise decision times and acceptance.

    Parameters
    ----------
    applications
        One row per application with ``firm_id, call_year, application_date, decision_date, outcome``
        (``"accepted"`` or another decision); not modified.
    profile
        Disclosure profile of the table.

    Returns
    -------
    ReachSummary
        The protected table and the three indicators.

    Raises
    ------
    SpecificationError
        If a needed column is missing or there are no applications.
    """
    needed = ["firm_id", "call_year", "application_date", "decision_date", "outcome"]
    missing = [c for c in needed if c not in applications.columns]
    if missing:
        raise SpecificationError(f"reach_summary: the applications lack columns {missing!r}; give "
                                 f"one row per application with {needed!r}")
    if not len(applications):
        raise SpecificationError("reach_summary: there are no applications; pass None when the data source "
                                 "has no delivery data")
    apps = applications.assign(decided=lambda d: (pd.to_datetime(d["decision_date"])
                                                  - pd.to_datetime(d["application_date"])).dt.days)
    table = protect_table(apps, by=["call_year"], profile=profile, name="applications by call year")
    return ReachSummary(table=table, applications=len(apps),
                        median_decision_days=float(apps["decided"].median()),
                        acceptance_rate=float((apps["outcome"] == "accepted").mean()))
