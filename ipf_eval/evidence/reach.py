"""Who the instrument reaches: the SME mix of the country's firms, and the delivery of applications.

* :func:`population_mix` gives the shares of micro, small and medium firms among all of a country's firms,
  which the forum's transferability step reweights size-class effects to.
* :func:`reach_summary` tabulates applications by call year under disclosure control and summarises
  delivery: applications, median days from application to decision, and the share accepted.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure import ProtectedTable, protect_table
from ipf_eval.errors import DataError, SpecificationError

__all__ = ["APPLICATION_COLUMNS", "ReachSummary", "applications_from_file", "population_mix", "reach_summary"]


@keyword_options
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


#: The columns of an agency's applications file (contract name: what it holds).
APPLICATION_COLUMNS: Mapping[str, str] = {
    "firm_id": "the applicant firm (as in the panel)",
    "call": "the call's year",
    "applied": "the date the application was made (YYYY-MM-DD)",
    "decided": "the date it was decided (YYYY-MM-DD; empty while pending)",
    "granted": "whether it was granted (1/0, yes/no, true/false, granted/rejected)",
}
_YES = frozenset({"1", "1.0", "yes", "y", "true", "t", "granted", "accepted", "approved"})
_NO = frozenset({"0", "0.0", "no", "n", "false", "f", "rejected", "refused", "declined"})


@keyword_options
def applications_from_file(frame: pd.DataFrame, *, where: str = "the applications") -> pd.DataFrame:
    """Turn an agency's applications (:data:`APPLICATION_COLUMNS`) into the form :func:`reach_summary` reads.

    Parameters
    ----------
    frame
        One row per application with ``firm_id, call, applied, decided, granted`` (not modified); other
        columns (e.g. ``instrument``) are kept.
    where
        Where the rows came from, for the error messages.

    Returns
    -------
    pandas.DataFrame
        ``firm_id, call_year, application_date, decision_date, outcome`` (``"accepted"`` or
        ``"rejected"``) and the other columns.

    Raises
    ------
    DataError
        If a column is missing, a call year is not a whole number, a date does not parse or a decision is
        not a yes/no value; the message gives counts and the column, never a firm's value.
    """
    missing = [c for c in APPLICATION_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{where} lack the column(s) {missing!r}; map them under data.applications.columns "
                        f"(contract name: your column): {dict(APPLICATION_COLUMNS)!r}")
    call = pd.to_numeric(frame["call"], errors="coerce")
    bad = int((call.isna() | (call != call.round())).sum())
    if bad:
        raise DataError(f"{where}: {bad} of {len(frame)} values of column 'call' are not a year; give the "
                        "call's year as a whole number")
    dates = {}
    for col in ("applied", "decided"):
        text = frame[col]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' format inference
            parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
        unparsed = int((parsed.isna() & text.notna() & text.astype("string").str.strip().ne("")).sum())
        if unparsed or (col == "applied" and parsed.isna().any()):
            n = unparsed or int(parsed.isna().sum())
            raise DataError(f"{where}: {n} of {len(frame)} values of column {col!r} are not dates; write "
                            "dates as YYYY-MM-DD" + ("" if col == "decided" else " (every application has "
                                                     "a date)"))
        dates[col] = parsed
    granted = frame["granted"].astype("string").str.strip().str.lower()
    known = granted.isin(_YES | _NO)
    if not known.all():
        raise DataError(f"{where}: {int((~known).sum())} of {len(frame)} values of column 'granted' are not "
                        "a decision; use 1/0, yes/no, true/false or granted/rejected")
    out = frame.drop(columns=list(APPLICATION_COLUMNS)[1:]).assign(
        call_year=call.astype("int64"), application_date=dates["applied"], decision_date=dates["decided"],
        outcome=granted.isin(_YES).map({True: "accepted", False: "rejected"}).astype(str))
    return out


@dataclass(frozen=True, eq=False)
class ReachSummary:
    """Applications by call year (disclosure-protected) and the delivery indicators."""

    table: ProtectedTable
    applications: int
    median_decision_days: float
    acceptance_rate: float


@keyword_options
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
    # pending applications (no decision date) count as applications but not in the decision time
    table = protect_table(apps, by=["call_year"], profile=profile, name="applications by call year")
    return ReachSummary(table=table, applications=len(apps),
                        median_decision_days=float(apps["decided"].median()),
                        acceptance_rate=float((apps["outcome"] == "accepted").mean()))
