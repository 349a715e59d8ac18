"""Reach and delivery: who the support reaches, how fast and at what administrative cost, across agencies.

Every indicator is computed from generic frames and passes disclosure control before it is returned:
counts of supported firms by category go through
:func:`~ipf_eval.disclosure.tables.protect_table` (threshold rule with secondary suppression against the
published total), the per-group delivery indicators are hidden when a group has too few applicant firms,
and the support delivered (a magnitude) is also checked with the dominance and p % rules.

Expected columns of ``applications`` (names are arguments): ``firm_id``, ``country``, ``instrument``,
``application_date``, ``decision_date`` (missing while pending), ``accepted`` (bool, 0/1 or an outcome
string such as ``"accepted"``/``"rejected"``, see :data:`ACCEPTED_VALUES`),
``support_amount`` (euro, for accepted applications), and classification columns such as ``size_class``,
``sector``, ``region``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_options, keyword_options, user_stack_level
from ipf_eval.disclosure.audit import AuditEntry, AuditLog, format_cell_key
from ipf_eval.disclosure.cells import primary_failures
from ipf_eval.disclosure.local_log import record_details
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.disclosure.tables import protect_table
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = [
    "ACCEPTED_VALUES",
    "LOWER_IS_BETTER",
    "NOT_ACCEPTED_VALUES",
    "DeliveryTable",
    "benchmark_delivery",
    "delivery_indicators",
    "take_up",
]

#: Indicators ranked by :func:`benchmark_delivery` (lower is better for each).
LOWER_IS_BETTER: tuple[str, ...] = ("median_days", "p90_days", "admin_cost_per_euro")


@dataclass(frozen=True, eq=False)
class DeliveryTable(ResultMixin):
    """A disclosure-controlled table of reach or delivery indicators.

    Attributes
    ----------
    name
        Table name (used in the audit log).
    table
        One row per group with the indicators, ``status`` and ``rule``; hidden indicators are NaN.
    audit
        What was hidden and why.
    profile
        Disclosure profile applied.
    specification
        The call.
    notes
        Caveats (categories without population counts, pending applications, ...).
    """

    name: str
    table: pd.DataFrame
    audit: AuditLog
    profile: DisclosureProfile
    specification: Specification
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "name": self.name,
            "table": json_safe(self.table),
            "audit": self.audit.to_dict(),
            "profile": self.profile.to_dict(),
            "notes": list(self.notes),
            "specification": self.specification.to_dict(),
        }

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title=f"Reach and delivery: {self.name}",
            facts=(("Profile", self.profile.describe()), ("Hidden rows", str(len(self.audit)))),
            table=self.table,
            notes=self.notes,
        )


def _columns(frame: Any, cols: Sequence[str], where: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{where} must be a pandas DataFrame; got {type(frame).__name__!r}.")
    dups = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(
            f"{where} has duplicated column labels {[str(d) for d in dups]!r}; a column named twice is "
            "ambiguous: drop or rename the copies (e.g. after a concat or merge)."
        )
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where} lacks column(s) {missing!r}; available columns are {list(frame.columns)!r}. "
            "Pass the right column names."
        )


#: Decision outcomes read as accepted / not accepted when ``accepted_col`` holds strings (case-insensitive).
ACCEPTED_VALUES: tuple[str, ...] = ("accepted", "approved", "granted", "funded")
NOT_ACCEPTED_VALUES: tuple[str, ...] = (
    "rejected", "declined", "refused", "withdrawn", "pending", "ineligible",
)


def _accepted(frame: pd.DataFrame, col: str) -> pd.Series:
    s = frame[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(bool)
    values = set(pd.unique(s.dropna()))
    if values <= {0, 1}:
        return s.fillna(0).astype(int).astype(bool)
    if all(isinstance(v, str) for v in values):
        lowered = s.str.lower()
        unknown = sorted(set(lowered.dropna()) - set(ACCEPTED_VALUES) - set(NOT_ACCEPTED_VALUES))
        if not unknown:
            return lowered.isin(ACCEPTED_VALUES)
        log = record_details(f"decision outcomes of {col!r} neither accepted nor not accepted", columns=col,
                             values=unknown)
        raise DataError(
            f"column {col!r} holds {len(unknown)} decision outcome(s) that are neither accepted "
            f"{list(ACCEPTED_VALUES)!r} nor not accepted {list(NOT_ACCEPTED_VALUES)!r} (they are "
            f"{'listed in the local log ' + repr(str(log)) if log else 'not listed'}). Map the outcome to "
            "True/False first."
        )
    log = record_details(f"values of {col!r} that are not a decision outcome", columns=col,
                         values=sorted(map(str, values))[:20])
    raise DataError(
        f"column {col!r} must be boolean, 0/1 or a decision outcome string; it holds values of type "
        f"{', '.join(sorted({type(v).__name__ for v in values}))} (they are "
        f"{'listed in the local log ' + repr(str(log)) if log else 'not listed'}). Map the decision outcome "
        "to True/False first."
    )


def _by_list(by: str | Sequence[str]) -> list[str]:
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise SpecificationError("by must name at least one column; got an empty list.")
    return cols


@keyword_options
def take_up(
    applications: pd.DataFrame,
    *,
    population: pd.DataFrame,
    by: str | Sequence[str] = "size_class",
    id_col: str = "firm_id",
    accepted_col: str = "accepted",
    population_count_col: str | None = None,
    profile: str | DisclosureProfile = "statistical_office",
    total_label: str = "Total",
    name: str = "take_up",
) -> DeliveryTable:
    r"""Take-up among eligible SMEs by category, and representation relative to the SME population.

    Parameters
    ----------
    applications
        One row per application (see the module docstring).  Not modified.
    population
        The eligible SME population: one row per firm with the ``by`` columns, or one row per category with
        a count in ``population_count_col``.  Not modified.
    by
        Classification column(s): ``"size_class"``, ``"sector"``, ``"region"`` or several.
    id_col
        Firm identifier in ``applications``.
    accepted_col
        Boolean, 0/1 or outcome-string column: was the application accepted.
    population_count_col
        Count column when ``population`` is aggregated; ``None`` when it is firm-level.
    profile
        Disclosure profile for the counts of supported firms.
    total_label
        Label of the total row.
    name
        Table name for the audit log.

    Returns
    -------
    DeliveryTable
        Columns ``*by, n_supported, n_population, take_up_rate, share_supported, share_population,
        representation_ratio, status, rule``.

    Raises
    ------
    DataError
        If a column is missing or named twice, ``accepted_col`` is not boolean, population counts are
        negative, fractional or infinite, or a cell with supported firms has a population count of 0.
    SpecificationError
        If ``by`` is empty or the profile is unknown.

    Warns
    -----
    DisclosureWarning
        When counts of supported firms are hidden.

    Notes
    -----
    A firm counts once, in the category of its first accepted application.  Take-up rate
    :math:`n^{sup}_c / N_c`; representation ratio
    :math:`(n^{sup}_c / n^{sup}) / (N_c / N)` — above 1 the instrument over-reaches category :math:`c`
    relative to its weight among eligible SMEs.  Counts of supported firms are protected with
    :func:`~ipf_eval.disclosure.tables.protect_table` (threshold and secondary suppression against the
    total); population counts are treated as public register statistics.
    """
    by_cols = _by_list(by)
    prof = get_profile(profile)
    _columns(applications, [*by_cols, id_col, accepted_col], "applications")
    pop_cols = [*by_cols] + ([population_count_col] if population_count_col else [])
    _columns(population, pop_cols, "population")
    supported = applications.loc[_accepted(applications, accepted_col), [*by_cols, id_col]]
    supported = supported.drop_duplicates(subset=[id_col], keep="first")
    with warnings.catch_warnings():  # one warning from this function instead of the inner one
        warnings.simplefilter("ignore", DisclosureWarning)
        counts = protect_table(
            supported,
            by=by_cols,
            id_col=id_col,
            profile=prof,
            stat="count",
            total_label=total_label,
            name=name,
        )
    table = counts.table.rename(columns={"value": "n_supported"}).drop(columns=["n_firms"])
    if population_count_col:
        pop_counts = pd.to_numeric(population[population_count_col], errors="coerce")
        if pop_counts.isna().any() or (pop_counts < 0).any():
            raise DataError(
                f"population_count_col {population_count_col!r} must hold non-negative counts; fix "
                "missing or negative values."
            )
        values = pop_counts.to_numpy(dtype=float)
        odd = ~np.isfinite(values) | (values != np.round(values))
        if odd.any():
            raise DataError(
                f"population_count_col {population_count_col!r} must hold whole numbers of firms; "
                f"{int(odd.sum())} row(s) are infinite or fractional."
            )
        pop = population.assign(_n=pop_counts).groupby(by_cols, observed=True)["_n"].sum()
    else:
        pop = population.groupby(by_cols, observed=True).size().astype(float)
    supported_cells = supported.groupby(by_cols, observed=True)[id_col].nunique()
    in_pop = pop.reindex(supported_cells.index)
    empty = (in_pop == 0).to_numpy() & (supported_cells > 0).to_numpy()
    if empty.any():
        cells = [k if isinstance(k, tuple) else (k,) for k in supported_cells.index[empty][:5]]
        raise DataError(
            f"population counts are 0 in cell(s) {cells!r} that have supported firms; a take-up rate there "
            "would be infinite. The population must include the supported firms: check the counts (and "
            "that both frames code the categories alike)."
        )
    pop_frame = pop.rename("n_population").reset_index()
    grand = float(pop_frame["n_population"].sum())
    # population margins, labelled like protect_table's
    margin_rows = []
    for r in range(len(by_cols)):
        for keep in _subsets(len(by_cols), r):
            kept = [by_cols[i] for i in keep]
            g = (
                pop_frame.groupby(kept, observed=True)["n_population"].sum().reset_index()
                if kept
                else (pd.DataFrame({"n_population": [grand]}))
            )
            for c in by_cols:
                if c not in kept:
                    g[c] = total_label
            margin_rows.append(g)
    pop_all = pd.concat([pop_frame, *margin_rows], ignore_index=True)
    for c in by_cols:
        table[c] = table[c].astype(object)
        pop_all[c] = pop_all[c].astype(object)
    # cells in protect_table's order, then population categories with no supported firm (0 supported)
    merged = table.merge(pop_all, on=by_cols, how="left")
    extra = pop_all.merge(table[by_cols], on=by_cols, how="left", indicator=True)
    extra = extra.loc[extra["_merge"] == "left_only", [*by_cols, "n_population"]]
    if len(extra):
        extra = extra.assign(n_supported=0.0, status="published", rule="")
        merged = pd.concat([merged, extra[merged.columns]], ignore_index=True)
    total_mask = np.ones(len(merged), dtype=bool)
    for c in by_cols:
        total_mask &= merged[c] == total_label
    total_supported = float(merged.loc[total_mask, "n_supported"].iloc[0]) if total_mask.any() else math.nan
    merged["take_up_rate"] = merged["n_supported"] / merged["n_population"]
    merged["share_supported"] = merged["n_supported"] / total_supported
    merged["share_population"] = merged["n_population"] / grand
    merged["representation_ratio"] = merged["share_supported"] / merged["share_population"]
    notes = []
    if merged["n_population"].isna().any():
        notes.append("Some categories of supported firms have no population count; their take-up is missing.")
    cols = [
        *by_cols,
        "n_supported",
        "n_population",
        "take_up_rate",
        "share_supported",
        "share_population",
        "representation_ratio",
        "status",
        "rule",
    ]
    spec = Specification(
        estimator="take_up",
        arguments={
            "by": by_cols,
            "id_col": id_col,
            "accepted_col": accepted_col,
            "population_count_col": population_count_col,
            "profile": prof.name,
            "name": name,
        },
        n_obs=len(applications),
        n_units=int(applications[id_col].nunique()),
    )
    if len(counts.audit):
        warnings.warn(
            f"{name}: {len(counts.audit)} count(s) of supported firms hidden under profile {prof.name!r}; "
            "see .audit.",
            DisclosureWarning,
            stacklevel=user_stack_level(),
        )
    return DeliveryTable(
        name=name,
        table=merged[cols].reset_index(drop=True),
        audit=counts.audit,
        profile=prof,
        specification=spec,
        notes=tuple(notes),
    )


def _subsets(k: int, r: int) -> list[tuple[int, ...]]:
    import itertools

    return list(itertools.combinations(range(k), r))


@keyword_options
def delivery_indicators(
    applications: pd.DataFrame,
    *,
    by: str | Sequence[str] = ("country", "instrument"),
    id_col: str = "firm_id",
    application_date: str = "application_date",
    decision_date: str = "decision_date",
    accepted_col: str = "accepted",
    amount_col: str = "support_amount",
    admin_costs: pd.DataFrame | None = None,
    admin_cost_col: str = "admin_cost",
    profile: str | DisclosureProfile = "statistical_office",
    name: str = "delivery",
) -> DeliveryTable:
    r"""Delivery indicators per group: decision times, rejection rate, support delivered, admin cost per euro.

    Parameters
    ----------
    applications
        One row per application.  Not modified.
    by
        Grouping columns (one agency's instrument: ``("country", "instrument")``).
    id_col, application_date, decision_date, accepted_col, amount_col
        Column names; dates must be datetime-like (strings are parsed); a missing decision date marks a
        pending application.
    admin_costs
        Optional frame with the ``by`` columns and ``admin_cost_col``: the agency's administrative cost of
        running the instrument (euro) over the same period.
    admin_cost_col
        Column of ``admin_costs``.
    profile
        Disclosure profile.
    name
        Table name for the audit log.

    Returns
    -------
    DeliveryTable
        Columns ``*by, n_applications, n_applicant_firms, n_pending, n_supported_firms, rejection_rate,
        median_days, p90_days, support_delivered, admin_cost_per_euro, status, rule``.

    Raises
    ------
    DataError
        If a column is missing or named twice, dates cannot be parsed, a decision precedes its application,
        amounts are not numbers, negative or infinite, or ``accepted_col`` is not boolean.
    SpecificationError
        If ``by`` is empty or the profile is unknown.

    Warns
    -----
    DisclosureWarning
        When a group's indicators are hidden.

    Notes
    -----
    Decision time is the number of days from application to decision (decided applications only);
    ``p90_days`` is the 90th percentile (linear interpolation).  Rejection rate is the share of decided
    applications not accepted.  Administrative cost per euro delivered is
    :math:`A_g / \sum_{i \in g} s_i` over accepted applications.  A group with fewer applicant firms than
    the profile's threshold is hidden entirely (its percentiles would describe single firms); support
    delivered — and with it the admin cost per euro — is also hidden when the accepted firms' amounts fail
    the threshold, dominance or p % rule.
    """
    by_cols = _by_list(by)
    prof = get_profile(profile)
    _columns(
        applications,
        [*by_cols, id_col, application_date, decision_date, accepted_col, amount_col],
        "applications",
    )
    apps = applications[[*by_cols, id_col, application_date, decision_date, accepted_col, amount_col]].copy()
    try:
        start = pd.to_datetime(apps[application_date])
        end = pd.to_datetime(apps[decision_date])
    except (ValueError, TypeError) as exc:
        raise DataError(f"could not parse {application_date!r}/{decision_date!r} as dates: {exc}") from exc
    if start.isna().any():
        raise DataError(
            f"column {application_date!r} has {int(start.isna().sum())} missing date(s); every "
            "application needs a date."
        )
    days = (end - start).dt.days
    if (days < 0).any():
        raise DataError(
            f"{int((days < 0).sum())} application(s) have {decision_date!r} before "
            f"{application_date!r}; fix the dates."
        )
    apps["_days"] = days
    apps["_acc"] = _accepted(apps, accepted_col)
    amount = pd.to_numeric(apps[amount_col], errors="coerce")
    text = (amount.isna() & apps[amount_col].notna()).to_numpy()
    if text.any():
        raise DataError(
            f"column {amount_col!r} holds {int(text.sum())} value(s) that are not numbers (dtype "
            f"{str(apps[amount_col].dtype)!r}); convert it with pandas.to_numeric (missing amounts may stay "
            "missing)."
        )
    if (amount < 0).any():
        raise DataError(f"column {amount_col!r} has negative amounts; support amounts must be >= 0.")
    if np.isinf(amount.to_numpy(dtype=float)).any():
        raise DataError(f"column {amount_col!r} has infinite amounts; fix or drop those applications.")
    apps["_v"] = amount.fillna(0.0).where(apps["_acc"], 0.0)
    decided = apps["_days"].notna()
    rows = []
    grouped = apps.groupby(by_cols, observed=True, sort=True)
    for key, g in grouped:
        key_t = key if isinstance(key, tuple) else (key,)
        d = g.loc[g["_days"].notna()]
        rows.append(
            {
                **dict(zip(by_cols, key_t, strict=True)),
                "n_applications": len(g),
                "n_applicant_firms": int(g[id_col].nunique()),
                "n_pending": int(g["_days"].isna().sum()),
                "n_supported_firms": int(g.loc[g["_acc"], id_col].nunique()),
                "rejection_rate": float((~d["_acc"]).mean()) if len(d) else math.nan,
                "median_days": float(d["_days"].median()) if len(d) else math.nan,
                "p90_days": float(np.percentile(d["_days"], 90)) if len(d) else math.nan,
                "support_delivered": float(g["_v"].sum()),
            }
        )
    table = pd.DataFrame(rows)
    if admin_costs is not None:
        _columns(admin_costs, [*by_cols, admin_cost_col], "admin_costs")
        ac = admin_costs[[*by_cols, admin_cost_col]].rename(columns={admin_cost_col: "_admin"})
        table = table.merge(ac, on=by_cols, how="left")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = table["_admin"] / table["support_delivered"]
        table["admin_cost_per_euro"] = ratio.where(table["support_delivered"] > 0)
        table = table.drop(columns=["_admin"])
    else:
        table["admin_cost_per_euro"] = np.nan
    # disclosure control
    # classified accepted applications (rows missing a classification or firm are in no group above)
    acc = apps.loc[apps["_acc"]].dropna(subset=[*by_cols, id_col])
    amount_failures = primary_failures(acc, by=by_cols, value="_v", id_col=id_col, profile=prof)
    status, rules, entries = [], [], []
    for i, row in table.iterrows():
        key_t = tuple(row[c] for c in by_cols)
        failed_all: list[tuple[str, str]] = []
        if row["n_applicant_firms"] < prof.min_firms:
            failed_all.append(("threshold", f"fewer than {prof.min_firms} applicant firms"))
        failed_amount = amount_failures.get(key_t, ())
        if failed_all:
            table.loc[
                i,
                [
                    "n_applications",
                    "n_applicant_firms",
                    "n_pending",
                    "n_supported_firms",
                    "rejection_rate",
                    "median_days",
                    "p90_days",
                    "support_delivered",
                    "admin_cost_per_euro",
                ],
            ] = np.nan
        elif failed_amount:
            table.loc[i, ["support_delivered", "admin_cost_per_euro"]] = np.nan
        failed = failed_all + [(r, f"support delivered: {why}") for r, why in failed_amount]
        if failed:
            rule = "+".join(dict.fromkeys(r for r, _ in failed))
            status.append("primary")
            rules.append(rule)
            entries.append(
                AuditEntry(
                    name,
                    format_cell_key(dict(zip(by_cols, key_t, strict=True))),
                    "primary",
                    rule,
                    "; ".join(why for _, why in failed),
                )
            )
        else:
            status.append("published")
            rules.append("")
    table["status"] = status
    table["rule"] = rules
    notes = []
    if (~decided).any():
        notes.append(
            f"{int((~decided).sum())} pending application(s) excluded from decision times and "
            "rejection rates."
        )
    if admin_costs is None:
        notes.append("No admin_costs given: admin_cost_per_euro is missing.")
    spec = Specification(
        estimator="delivery_indicators",
        arguments={
            "by": by_cols,
            "id_col": id_col,
            "application_date": application_date,
            "decision_date": decision_date,
            "accepted_col": accepted_col,
            "amount_col": amount_col,
            "admin_costs": admin_costs is not None,
            "profile": prof.name,
            "name": name,
        },
        n_obs=len(applications),
        n_units=int(applications[id_col].nunique()),
    )
    if entries:
        warnings.warn(
            f"{name}: indicators of {len(entries)} group(s) hidden under profile {prof.name!r}; see .audit.",
            DisclosureWarning,
            stacklevel=user_stack_level(),
        )
    return DeliveryTable(
        name=name,
        table=table,
        audit=AuditLog(tuple(entries), prof.name),
        profile=prof,
        specification=spec,
        notes=tuple(notes),
    )


#: The keywords of :func:`benchmark_delivery`: its own options, then the column names it passes on to
#: :func:`delivery_indicators` through ``**columns``.
_BENCHMARK_OPTIONS = ("applications", "country_col", "instrument_col", "admin_costs", "profile", "name",
                      "id_col", "application_date", "decision_date", "accepted_col", "amount_col",
                      "admin_cost_col")


def benchmark_delivery(
    applications: pd.DataFrame,
    *,
    country_col: str = "country",
    instrument_col: str = "instrument",
    admin_costs: pd.DataFrame | None = None,
    profile: str | DisclosureProfile = "statistical_office",
    name: str = "delivery_benchmark",
    **columns: str,
) -> DeliveryTable:
    """Benchmark delivery across agencies: per instrument, rank countries and measure the gap to the best.

    Parameters
    ----------
    applications
        Applications of all agencies (one row per application).  Not modified.
    country_col, instrument_col
        Columns identifying the agency (country) and the instrument.
    admin_costs
        Optional administrative costs per country and instrument (see :func:`delivery_indicators`).
    profile
        Disclosure profile.
    name
        Table name for the audit log.
    **columns
        Other column names passed to :func:`delivery_indicators` (``id_col``, ``application_date``,
        ``decision_date``, ``accepted_col``, ``amount_col``, ``admin_cost_col``).

    Returns
    -------
    DeliveryTable
        One row per country and instrument with the indicators of :func:`delivery_indicators` and, for each
        indicator in :data:`LOWER_IS_BETTER`, ``rank_<indicator>`` (1 = best among the countries offering
        the instrument; ties share the best rank), ``best_<indicator>``, ``best_country_<indicator>`` and
        ``gap_<indicator>`` (value minus best; 0 for the best).

    Raises
    ------
    SpecificationError
        If a keyword is neither an option above nor one of the column names of ``**columns``.
    DataError
        As :func:`delivery_indicators`.

    Warns
    -----
    DisclosureWarning
        When a group's indicators are hidden (hidden values are not ranked).

    Notes
    -----
    Rejection rates are reported but not ranked: a low rate can mean an accessible instrument or a lax
    selection, so the direction of "better" is not defined.
    """
    check_options(columns, _BENCHMARK_OPTIONS, function="benchmark_delivery")
    with warnings.catch_warnings():  # re-issued below with the benchmark's wording
        warnings.simplefilter("ignore", DisclosureWarning)
        ind = delivery_indicators(
            applications,
            by=[country_col, instrument_col],
            admin_costs=admin_costs,
            profile=profile,
            name=name,
            **columns,
        )
    table = ind.table.copy()
    for indicator in LOWER_IS_BETTER:
        grp = table.groupby(instrument_col, observed=True)[indicator]
        table[f"rank_{indicator}"] = grp.rank(method="min", ascending=True)
        best = grp.transform("min")
        table[f"best_{indicator}"] = best
        table[f"gap_{indicator}"] = table[indicator] - best
        best_country = {}
        for inst, g in table.groupby(instrument_col, observed=True):
            valid = g.dropna(subset=[indicator])
            best_country[inst] = (
                valid[country_col].iloc[int(np.argmin(valid[indicator].to_numpy()))] if len(valid) else None
            )
        table[f"best_country_{indicator}"] = table[instrument_col].map(best_country)
    notes = list(ind.notes)
    n_countries = table.groupby(instrument_col, observed=True)[country_col].nunique()
    single = sorted(str(i) for i in n_countries[n_countries < 2].index)
    if single:
        notes.append(
            f"Instrument(s) {single!r} are offered by one country only: nothing to benchmark against."
        )
    if len(ind.audit):
        warnings.warn(
            f"{name}: indicators of {len(ind.audit)} group(s) hidden and not ranked; see .audit.",
            DisclosureWarning,
            stacklevel=user_stack_level(),
        )
    spec = Specification(
        estimator="benchmark_delivery",
        arguments={
            "country_col": country_col,
            "instrument_col": instrument_col,
            "profile": ind.profile.name,
            "admin_costs": admin_costs is not None,
            "name": name,
            **columns,
        },
        n_obs=ind.specification.n_obs,
        n_units=ind.specification.n_units,
    )
    return DeliveryTable(
        name=name, table=table, audit=ind.audit, profile=ind.profile, specification=spec, notes=tuple(notes)
    )
