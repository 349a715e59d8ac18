r"""The mix-adjusted delivery benchmark from the aggregates that travel in evidence bundles.

Agencies cannot share application-level data, so :func:`~ipf_eval.evidence.delivery_mix.
adjusted_delivery_benchmark`, which needs every agency's applications in one frame, cannot run at the
forum.  The benchmark splits into two steps instead:

1. :func:`delivery_mix_aggregates`, run by each agency at home on its own applications of one instrument,
   counts by SME-mix stratum what indirect standardisation needs: eligible firms and applicants (take-up),
   applications and first applications, applications and drop-outs, a histogram of days to decision, and
   the agency's administrative cost and euro granted.  Every published cell passes the disclosure
   profile; the table (:data:`AGGREGATE_COLUMNS`) is the ``delivery_mix`` evidence table.
2. :func:`adjusted_benchmark_from_aggregates`, run by the forum on the concatenated tables of several
   agencies, pools the counts and returns the same :class:`~ipf_eval.evidence.delivery_mix.
   AdjustedBenchmark` as the microdata version, with analytic intervals instead of the firm bootstrap.

On the same data and strata the two paths give the same raw, expected and adjusted rates (to rounding),
and quantiles within one bin of the histogram (tests/test_delivery_aggregates.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.disclosure.audit import AuditEntry, AuditLog, format_cell_key
from ipf_eval.disclosure.cells import primary_failures
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.evidence._aggregate_parts import OTHER, cost_part, days_part, rate_part
from ipf_eval.evidence._delivery_parts import (
    MixSource,
    Part,
    dropout_units,
    first_time_units,
    match_calls,
    take_up_units,
)
from ipf_eval.evidence.delivery_mix import (
    _STRATA_COLUMNS,
    INDICATORS,
    AdjustedBenchmark,
    _amounts,
    _assemble,
    _count,
    _dates,
    _flags,
    _frame,
    _labels,
)
from ipf_eval.results import DropRecord, ResultMixin, Specification, Summary, json_safe

__all__ = ["AGGREGATE_COLUMNS", "AGGREGATE_INDICATORS", "DeliveryAggregates",
           "adjusted_benchmark_from_aggregates", "delivery_mix_aggregates"]

_HOME, _FORUM = "delivery_mix_aggregates", "adjusted_benchmark_from_aggregates"
#: The columns of :attr:`DeliveryAggregates.table`, the ``delivery_mix`` evidence table.
AGGREGATE_COLUMNS: tuple[str, ...] = ("country", "instrument", "indicator", "stratum", "bin_low", "bin_high",
                                      "n", "events")
#: The indicators of the aggregates, in the order of the table.
AGGREGATE_INDICATORS: tuple[str, ...] = ("take_up", "first_time_share", "dropout_rate", "days_to_decision",
                                         "admin_cost", "euro_granted")
_RATES = ("take_up", "first_time_share", "dropout_rate")
_KEY = ["country", "instrument", "indicator", "stratum", "bin_low"]
#: Stratum of the cost rows (agency totals).
ALL = "all"
#: The aggregate rows each benchmark indicator needs.
_NEEDS = {"take_up": ("take_up",), "first_time_share": ("first_time_share",),
          "dropout_rate": ("dropout_rate",), "median_days": ("days_to_decision",),
          "p90_days": ("days_to_decision",), "admin_cost_per_supported_firm": ("admin_cost",),
          "admin_cost_per_euro": ("admin_cost", "euro_granted")}
_INTERVALS = ("analytic (Wilson score for raw rates, log-scale delta method for adjusted rates, binomial "
              "order statistics for quantiles)")


@dataclass(frozen=True, eq=False)
class DeliveryAggregates(ResultMixin):
    """One agency's disclosure-checked counts by SME-mix stratum for one instrument.

    Attributes
    ----------
    country, instrument
        The agency and the instrument.
    table
        The counts, with exactly the columns :data:`AGGREGATE_COLUMNS` (see
        :func:`delivery_mix_aggregates`).  No firm identifier and no single firm's value.
    audit
        The cells merged or dropped by disclosure control, and why (never their values).
    profile
        Disclosure profile applied.
    specification
        The call (arguments, rows and firms seen).
    notes
        Caveats: skipped indicators, merged strata, definitions.  Safe to publish with the table.
    """

    country: str
    instrument: str
    table: pd.DataFrame
    audit: AuditLog
    profile: DisclosureProfile
    specification: Specification
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of :attr:`table`."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"country": self.country, "instrument": self.instrument, "table": json_safe(self.table),
                "audit": self.audit.to_dict(), "profile": self.profile.to_dict(), "notes": list(self.notes),
                "specification": self.specification.to_dict()}

    def summary(self) -> Summary:
        """Return the printable summary: the counts and the notes."""
        return Summary(title=f"Delivery counts by SME-mix stratum: {self.country} {self.instrument}",
                       facts=(("Profile", self.profile.describe()), ("Cells merged or dropped",
                                                                     str(len(self.audit)))),
                       table=self.table, notes=self.notes)


# ---------------------------------------------------------------------------------------------- at home
def _label(value: Any, parameter: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecificationError(f"{parameter} of {_HOME}() must be a non-empty string (the agency's "
                                 f"{parameter} label); got {value!r}.")
    return value


def _mine(frame: pd.DataFrame, where: str, cols: dict[str, str], values: dict[str, str]) -> pd.DataFrame:
    """Return the rows of ``frame`` of this agency and instrument (all rows when the columns are absent)."""
    keep = np.ones(len(frame), dtype=bool)
    for what, col in cols.items():
        if col in frame.columns:
            keep &= (frame[col].astype(str) == values[what]).to_numpy()
    if len(frame) and not keep.any():
        seen = {what: sorted(map(str, pd.unique(frame[c].dropna())))[:10] for what, c in cols.items()
                if c in frame.columns}
        raise DataError(f"{_HOME}(): {where} has no row of country {values['country']!r} and instrument "
                        f"{values['instrument']!r} ({len(frame)} rows; values present {seen!r}). Pass the "
                        "agency's own country= and instrument= labels.")
    return frame.loc[keep]


def _mix_labels(frame: pd.DataFrame, where: str, mix: Sequence[str]) -> pd.DataFrame:
    absent = [c for c in mix if c not in frame.columns]
    if absent:
        raise DataError(f"{_HOME}(): {where} lacks the mix column(s) {absent!r} ({len(frame)} rows, columns "
                        f"{list(frame.columns)!r}); add them or name other mix= columns.")
    out = pd.DataFrame({c: _labels(frame[c]).to_numpy() for c in mix}, index=frame.index)
    for c in mix:
        bad = int(out[c].str.contains("|", regex=False).sum())
        if bad:
            raise DataError(f"{_HOME}(): column {c!r} of {where} has {bad} value(s) containing '|', which "
                            "joins the mix values into stratum keys; recode those categories.")
    if len(mix) == 1 and (out[mix[0]] == OTHER).any():
        raise DataError(f"{_HOME}(): column {mix[0]!r} of {where} has the category {OTHER!r}, the name of "
                        "the stratum that collects strata failing disclosure control; rename that category.")
    return out


def _stratum(units: pd.DataFrame, mix: Sequence[str]) -> pd.Series:
    if not mix:
        return pd.Series(ALL, index=units.index)
    key = units[mix[0]].astype(str).to_numpy(dtype=object)
    for c in mix[1:]:
        key = key + "|" + units[c].astype(str).to_numpy(dtype=object)
    return pd.Series(key, index=units.index, dtype=object)


class _Cells:
    """Collects the published rows, the audit entries and the notes of one agency's aggregates."""

    def __init__(self, country: str, instrument: str, profile: DisclosureProfile) -> None:
        self.country, self.instrument, self.profile = country, instrument, profile
        self.rows: list[dict[str, Any]] = []
        self.entries: list[AuditEntry] = []
        self.notes: list[str] = []

    def add(self, ind: str, stratum: str, n: float, events: float = np.nan, low: float = np.nan,
            high: float = np.nan) -> None:
        self.rows.append({"country": self.country, "instrument": self.instrument, "indicator": ind,
                          "stratum": stratum, "bin_low": low, "bin_high": high, "n": float(n),
                          "events": float(events)})

    def hide(self, ind: str, stratum: str, rule: str, reason: str) -> None:
        cell = format_cell_key({"country": self.country, "instrument": self.instrument, "indicator": ind,
                                "stratum": stratum})
        self.entries.append(AuditEntry("delivery_mix", cell, "primary", rule, reason))

    def fails(self, firms: int, with_event: int, without: int) -> str:
        """Return why a rate cell fails the threshold rule (on either side of the share), or ``""``."""
        m = self.profile.min_firms
        if firms < m:
            return f"fewer than {m} firms"
        one_side = 0 < with_event < m or 0 < without < m
        return f"fewer than {m} firms on one side of the share" if one_side else ""

    def rates(self, units: pd.DataFrame, ind: str, mix: Sequence[str]) -> tuple[set[str], bool]:
        """One row per stratum (``n`` units, ``events``); failing strata merged into ``"other"``.

        Returns the strata published on their own and whether ``"other"`` was published (or not needed).
        """
        if units.empty:
            return set(), True
        u = units.assign(_s=_stratum(units, mix), _w=(units["_y"] > 0), _wo=(units["_y"] < units["_m"]))
        by = u.groupby("_s", sort=True).agg(n=("_m", "sum"), events=("_y", "sum"), firms=("_m", "size"),
                                            w=("_w", "sum"), wo=("_wo", "sum"))
        other = pd.Series(0.0, index=by.columns)
        merged, alone = 0, set()
        for s, r in by.iterrows():
            reason = self.fails(int(r["firms"]), int(r["w"]), int(r["wo"]))
            if reason:
                self.hide(ind, str(s), "threshold", f"{reason}: merged into stratum {OTHER!r}")
                other, merged = other + r, merged + 1
            else:
                self.add(ind, str(s), r["n"], r["events"])
                alone.add(str(s))
        if not merged:
            return alone, True
        reason = self.fails(int(other["firms"]), int(other["w"]), int(other["wo"]))
        if reason:
            self.hide(ind, OTHER, "threshold", f"{reason}: dropped")
            self.notes.append(f"{ind}: {merged} stratum(s) failing disclosure control merged into {OTHER!r}, "
                              f"which still fails ({reason}) and is dropped.")
        else:
            self.add(ind, OTHER, other["n"], other["events"])
            self.notes.append(f"{ind}: {merged} stratum(s) failing disclosure control merged into {OTHER!r}.")
        return alone, not reason

    def _bins(self, days: np.ndarray, firms: np.ndarray, width: int) -> list[tuple[float, float, int]]:
        """Bins of ``width`` days, each merged with the next until it has ``min_firms`` firms."""
        m, out = self.profile.min_firms, []
        order = np.argsort(days, kind="stable")
        days, firms = days[order], firms[order]
        idx = (days // width).astype(np.int64)
        cur: set[Any] = set()
        start, n = None, 0
        for j in np.unique(idx):
            sel = idx == j
            start = int(j) if start is None else start
            cur.update(firms[sel].tolist())
            n += int(sel.sum())
            if len(cur) >= m:
                out.append((float(start * width), float((j + 1) * width), n))
                cur, start, n = set(), None, 0
        if n and out:  # the last bins, too few firms: merged into the bin before
            lo, _, n0 = out[-1]
            out[-1] = (lo, float((int(idx[-1]) + 1) * width), n0 + n)
        return out

    def histogram(self, decided: pd.DataFrame, mix: Sequence[str], width: int, alone: set[str],
                  other_ok: bool) -> None:
        """Histogram of ``_days`` per stratum, on the strata of drop-out (``alone``, ``"other"``).

        Drop-out counts the same applications: a stratum it merged into ``"other"`` is merged here too, and
        ``"other"`` is dropped here when it was dropped there (so that no drop-out count can be recovered as
        applications minus decided ones).  A stratum with fewer than ``min_firms`` firms with a decided
        application, impossible for a stratum that passed the drop-out rule, would also go to ``"other"``.
        """
        if decided.empty:
            return
        d = decided.assign(_s=_stratum(decided, mix))
        m, ind = self.profile.min_firms, "days_to_decision"
        rest: list[pd.DataFrame] = [d.loc[~d["_s"].isin(alone)]]
        widened = 0
        for s, g in d.loc[d["_s"].isin(alone)].groupby("_s", sort=True):
            if g["_id"].nunique() < m:
                rest.append(g)
                continue
            bins = self._bins(g["_days"].to_numpy(dtype=float), g["_id"].to_numpy(), width)
            widened += sum(hi - lo > width for lo, hi, _ in bins)
            for lo, hi, n in bins:
                self.add(ind, str(s), n, low=lo, high=hi)
        g = pd.concat(rest)
        for s in sorted(set(g["_s"])):
            self.hide(ind, str(s), "threshold", f"merged into stratum {OTHER!r}, as for dropout_rate")
        if len(g) and (not other_ok or g["_id"].nunique() < m):
            self.hide(ind, OTHER, "threshold", f"stratum {OTHER!r} fails the threshold rule here or for "
                      "dropout_rate: dropped")
            self.notes.append(f"{ind}: {g['_s'].nunique()} stratum(s) merged into {OTHER!r} as for "
                              f"dropout_rate; {OTHER!r} is dropped.")
        elif len(g):
            for lo, hi, n in self._bins(g["_days"].to_numpy(dtype=float), g["_id"].to_numpy(), width):
                self.add(ind, OTHER, n, low=lo, high=hi)
            self.notes.append(f"{ind}: {g['_s'].nunique()} stratum(s) merged into {OTHER!r} as for "
                              "dropout_rate.")
        if widened:
            self.notes.append(f"{ind}: {widened} bin(s) wider than {width} days, where bins with fewer than "
                              f"{m} firms were merged with their neighbour (bin_low and bin_high give the "
                              "range).")

    def costs(self, apps: pd.DataFrame, costs: pd.DataFrame, by_call: bool, with_amounts: bool) -> None:
        """Agency totals: ``admin_cost`` and ``euro_granted`` (``n`` awards), after the disclosure rules."""
        apps, costs, notes = match_calls(apps, costs, by_call)
        self.notes += notes
        sup = apps.loc[apps["_sup"]]
        n_firms, m = int(sup["_id"].nunique()), self.profile.min_firms
        if not n_firms or costs.empty:
            self.notes.append("Cost rows skipped: no supported firm or no administrative cost"
                              + (" in the matched calls." if by_call else "."))
            return
        if n_firms < m:
            for ind in ("admin_cost", "euro_granted") if with_amounts else ("admin_cost",):
                self.hide(ind, ALL, "threshold", f"fewer than {m} supported firms")
            self.notes.append(f"Cost rows dropped: fewer than {m} supported firms.")
            return
        self.add("admin_cost", ALL, len(sup), float(costs["_cost"].sum()))
        if not with_amounts:
            return
        failed = primary_failures(sup, by=["_c", "_k"], value="_amt", id_col="_id", profile=self.profile)
        fails = failed.get((self.country, self.instrument), ())
        if fails:
            self.hide("euro_granted", ALL, "+".join(dict.fromkeys(f.rule for f in fails)),
                      "; ".join(f"euro granted: {f.reason}" for f in fails))
            self.notes.append("euro_granted dropped: the amounts granted fail the "
                              f"{'+'.join(dict.fromkeys(f.rule for f in fails))} rule of the profile.")
        else:
            self.add("euro_granted", ALL, len(sup), float(sup["_amt"].sum()))

    def frame(self) -> pd.DataFrame:
        t = pd.DataFrame(self.rows, columns=list(AGGREGATE_COLUMNS))
        t = t.astype({c: object for c in AGGREGATE_COLUMNS[:4]} | {c: float for c in AGGREGATE_COLUMNS[4:]})
        order = t["indicator"].map({k: i for i, k in enumerate(AGGREGATE_INDICATORS)})
        t = t.assign(_o=order, _x=t["stratum"] == OTHER).sort_values(["_o", "_x", "stratum", "bin_low"],
                                                                      kind="stable")
        return t.drop(columns=["_o", "_x"]).reset_index(drop=True)


@keyword_options
def delivery_mix_aggregates(
    applications: pd.DataFrame,
    *,
    country: str,
    instrument: str,
    eligibility: pd.DataFrame | None = None,
    admin_costs: pd.DataFrame | None = None,
    mix: str | Sequence[str] = ("size_class", "sector"),
    bin_days: int = 7,
    profile: str | DisclosureProfile = "statistical_office",
    country_col: str = "country",
    instrument_col: str = "instrument",
    id_col: str = "firm_id",
    application_date: str = "application_date",
    decision_date: str = "decision_date",
    call_col: str = "call_year",
    supported_col: str = "supported",
    amount_col: str = "support_amount",
    eligible_col: str | None = "eligible",
    admin_cost_col: str = "admin_cost_eur",
) -> DeliveryAggregates:
    r"""Count, at home, what the forum's mix-adjusted delivery benchmark needs, disclosure-checked.

    Parameters
    ----------
    applications
        The agency's applications to the instrument, one row per application, with ``id_col``,
        ``application_date`` and the ``mix`` columns (and ``decision_date``, ``call_col``,
        ``supported_col``, ``amount_col`` for the indicators that need them).  When the frame has
        ``country_col`` / ``instrument_col``, only the rows of ``country`` and ``instrument`` are used.
        Not modified.
    country, instrument
        The agency's country and the instrument (labels of the table).
    eligibility
        One row per firm listed for the instrument: ``id_col``, ``eligible_col`` and the ``mix`` columns;
        needed for ``take_up`` (rows of other countries or instruments are left out as above).
    admin_costs
        Administrative costs with ``admin_cost_col`` (euro), per call (with ``call_col``: matched to the
        applications call by call) or in total; e.g. the agency's rows of the simulator's ``calls`` frame.
    mix
        Firm characteristics of the strata; a stratum is named by its values joined by ``"|"``
        (``"micro|C"``), ``"all"`` for an empty mix.  The forum needs every agency to use the same ``mix``.
    bin_days
        Width of the bins of the histogram of days to decision.
    profile
        Disclosure profile: its ``min_firms`` threshold applies to every cell, its dominance and p % rules
        to the euro granted.
    country_col, instrument_col, id_col, application_date, decision_date, call_col, supported_col, \
amount_col, eligible_col, admin_cost_col
        Column names, as in :func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark`.

    Returns
    -------
    DeliveryAggregates
        The table (:data:`AGGREGATE_COLUMNS`), the audit log and the notes.

    Raises
    ------
    DataError
        If a frame is not a DataFrame, names a column twice or lacks a column, has no row of this country
        and instrument, identifiers or application dates are missing, dates cannot be read or a decision
        precedes its application, flags are not boolean, amounts or costs are negative or not numbers, or a
        mix value contains ``"|"`` (or, for a single mix variable, is ``"other"``).
    SpecificationError
        If ``country`` or ``instrument`` is not a non-empty string, ``bin_days`` is not a positive
        integer, the mix names an identifier column or the profile is unknown.

    Notes
    -----
    Rows of the table, for the agency :math:`a` and every stratum :math:`s` of the mix (units as in
    :func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark`; a firm's stratum is read from
    ``eligibility`` for take-up and from its first application otherwise):

    ``take_up``, ``first_time_share``, ``dropout_rate``
        :math:`n = M_{as}` (eligible firms; applications after the first call year; applications) and
        ``events`` :math:`= Y_{as}` (firms that applied; first applications; applications without a
        decision).  ``bin_low``, ``bin_high`` NaN.
    ``days_to_decision``
        A histogram of decided applications' days to decision: ``n`` applications with
        :math:`\text{bin\_low} \le d < \text{bin\_high}`; ``events`` NaN.
    ``admin_cost``, ``euro_granted``
        Stratum ``"all"``: ``n`` awards (supported applications; a firm supported in two calls counts
        twice, as in the microdata version) and ``events`` the total administrative cost or euro granted.

    **Disclosure.**  A rate stratum is published when at least ``min_firms`` firms stand behind it and,
    for the share, none or at least ``min_firms`` firms on either side (the rule of the microdata
    version).  Strata that fail are merged into one stratum ``"other"``; if ``"other"`` fails as well it
    is dropped.  The histogram of days uses the strata of drop-out (the same applications): a stratum
    merged into ``"other"`` there is merged here, and ``"other"`` is dropped here when it is dropped
    there, so that no drop-out count can be recovered as applications (which the take-up counts give
    when firms apply once) minus decided applications.  Its bins are accumulated from the left until they
    hold ``min_firms`` firms (bins widen; the last bins join the one before).  The cost rows need
    ``min_firms`` supported firms, the euro granted also the dominance and p % rules.  Every merge or drop
    is in the audit log and, as a count, in the notes.  Otherwise strata are merged indicator by
    indicator, over populations that differ (eligible firms, applications after the first call year,
    all applications); no secondary suppression across the indicators is attempted beyond the drop-out
    and histogram coupling.

    References
    ----------
    Breslow, N. E. and Day, N. E. (1987). *Statistical Methods in Cancer Research, Vol. II*. IARC
    Scientific Publications 82, chapter 2.

    Hundepool, A. et al. (2012). *Statistical Disclosure Control*. Wiley, chapter 4.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> sim = simulate_firms(seed=5, n_firms=3_000)
    >>> agg = delivery_mix_aggregates(sim.applications, country="AT", instrument="rd_grant",
    ...                               admin_costs=sim.calls)
    >>> agg.table.columns.tolist() == list(AGGREGATE_COLUMNS)
    True
    """
    prof = get_profile(profile)
    country, instrument = _label(country, "country"), _label(instrument, "instrument")
    width = _count("bin_days", bin_days, 1, fn=_HOME)
    mix_cols = [mix] if isinstance(mix, str) else list(mix) if isinstance(mix, Sequence) else [mix]
    reserved = [country_col, instrument_col, id_col]
    if not all(isinstance(c, str) for c in mix_cols) or len(set(mix_cols)) < len(mix_cols) or (
            set(reserved) & set(mix_cols)):
        raise SpecificationError(f"mix of {_HOME}() must be distinct column names other than the firm, "
                                 f"country and instrument columns {reserved!r}; got {mix!r}.")
    cols, values = {"country": country_col, "instrument": instrument_col}, {"country": country,
                                                                            "instrument": instrument}
    _frame(applications, "applications", [id_col, application_date], [id_col], fn=_HOME)
    mine = _mine(applications, "applications", cols, values)
    apps = pd.DataFrame({"_c": country, "_k": instrument, "_id": mine[id_col].astype(str).to_numpy()})
    apps = pd.concat([apps, _mix_labels(mine, "applications", mix_cols).reset_index(drop=True)], axis=1)
    apps["_start"] = _dates(mine, application_date, "applications", fn=_HOME).to_numpy()
    n_undated = int(apps["_start"].isna().sum())
    if n_undated:
        raise DataError(f"{_HOME}(): column {application_date!r} has {n_undated} missing date(s) of "
                        f"{len(apps)}; every application needs a date. Drop or fix those rows.")
    if decision_date in mine.columns:
        end = _dates(mine, decision_date, "applications", fn=_HOME).to_numpy()
        apps["_days"] = (end - apps["_start"]).dt.days
        n_negative = int((apps["_days"] < 0).sum())
        if n_negative:
            raise DataError(f"{_HOME}(): {n_negative} application(s) of {len(apps)} have {decision_date!r} "
                            f"before {application_date!r} (negative days to decision); fix the dates.")
    if call_col in mine.columns:
        apps["_call"] = mine[call_col].to_numpy()
    mixer = MixSource(tuple(mix_cols), None)
    apps_sorted = apps.assign(_row=np.arange(len(apps))).sort_values(["_start", "_row"], kind="stable")
    cells = _Cells(country, instrument, prof)
    if eligibility is None:
        cells.notes.append("take_up skipped: no eligibility frame given.")
    else:
        _frame(eligibility, "eligibility", [id_col, *([eligible_col] if eligible_col else [])], [id_col],
               fn=_HOME)
        el = _mine(eligibility, "eligibility", cols, values)
        elig = pd.DataFrame({"_c": country, "_k": instrument, "_id": el[id_col].astype(str).to_numpy()})
        elig = pd.concat([elig, _mix_labels(el, "eligibility", mix_cols).reset_index(drop=True)], axis=1)
        if eligible_col:
            elig = elig.loc[_flags(el, eligible_col, "eligibility", fn=_HOME).to_numpy()]
        units, outside = take_up_units(apps, elig.drop_duplicates("_id"), mixer)
        if outside:
            many = str(outside) if outside >= prof.min_firms else f"fewer than {prof.min_firms}"
            cells.notes.append(f"take_up: {many} applicant firm(s) not listed as eligible are left out.")
        cells.rates(units, "take_up", mix_cols)
    if "_call" not in apps:
        cells.notes.append(f"first_time_share skipped: no call column {call_col!r} in applications.")
    else:
        cells.rates(first_time_units(apps_sorted, mixer), "first_time_share", mix_cols)
        cells.notes.append("first_time_share: applications of the first call year in the data are left out "
                           "(all would be first applications); history before the data window is unknown, so "
                           "the share is an upper bound.")
    if "_days" not in apps:
        cells.notes.append(f"dropout_rate and days_to_decision skipped: no column {decision_date!r} in "
                           "applications.")
    else:
        alone, other_ok = cells.rates(dropout_units(apps_sorted, mixer), "dropout_rate", mix_cols)
        decided = apps.loc[apps["_days"].notna(), ["_c", "_k", "_id", "_days"]]
        firm_mix = mixer.attach(decided[["_c", "_k", "_id"]].drop_duplicates(), apps_sorted)
        cells.histogram(decided.merge(firm_mix, on=["_c", "_k", "_id"], how="left"), mix_cols, width, alone,
                        other_ok)
    if admin_costs is None:
        cells.notes.append("Cost rows skipped: no admin_costs frame given.")
    elif supported_col not in mine.columns:
        cells.notes.append(f"Cost rows skipped: no column {supported_col!r} in applications.")
    else:
        _frame(admin_costs, "admin_costs", [admin_cost_col], fn=_HOME)
        ac = _mine(admin_costs, "admin_costs", cols, values)
        ca = apps[["_c", "_k", "_id"]].assign(
            _sup=_flags(mine, supported_col, "applications", fn=_HOME).to_numpy(),
            _amt=(_amounts(mine, amount_col, "applications", fn=_HOME).to_numpy()
                  if amount_col in mine.columns else 0.0))
        cc = pd.DataFrame({"_c": country, "_k": instrument,
                           "_cost": _amounts(ac, admin_cost_col, "admin_costs", fn=_HOME).to_numpy()})
        by_call = call_col in ac.columns and "_call" in apps
        if by_call:
            ca["_call"], cc["_call"] = apps["_call"].to_numpy(), ac[call_col].to_numpy()
        if amount_col not in mine.columns:
            cells.notes.append(f"euro_granted skipped: no column {amount_col!r} in applications.")
        cells.costs(ca, cc, by_call, amount_col in mine.columns)
    spec = Specification(
        estimator=_HOME,
        arguments={"country": country, "instrument": instrument, "mix": mix_cols, "bin_days": width,
                   "profile": prof.name, "eligibility": eligibility is not None,
                   "admin_costs": admin_costs is not None, "country_col": country_col,
                   "instrument_col": instrument_col, "id_col": id_col, "application_date": application_date,
                   "decision_date": decision_date, "call_col": call_col, "supported_col": supported_col,
                   "amount_col": amount_col, "eligible_col": eligible_col, "admin_cost_col": admin_cost_col},
        n_obs=len(apps), n_units=int(apps["_id"].nunique()),
        dropped=(DropRecord("rows of other countries or instruments", n_rows=len(applications) - len(mine)),)
        if len(mine) < len(applications) else ())
    return DeliveryAggregates(country=country, instrument=instrument, table=cells.frame(),
                              audit=AuditLog(tuple(cells.entries), prof.name), profile=prof,
                              specification=spec, notes=tuple(dict.fromkeys(cells.notes + mixer.notes)))


# ------------------------------------------------------------------------------------------- at the forum
def _check_aggregates(agg: Any) -> pd.DataFrame:
    """Validate the concatenated aggregates; return them with plain types."""
    where = f"{_FORUM}(): aggregates"
    if not isinstance(agg, pd.DataFrame):
        raise DataError(f"{where} must be a pandas DataFrame with columns {list(AGGREGATE_COLUMNS)!r}; got "
                        f"{type(agg).__name__!r}.")
    dups = agg.columns[agg.columns.duplicated()].unique().tolist()
    missing = [c for c in AGGREGATE_COLUMNS if c not in agg.columns]
    extra = [str(c) for c in agg.columns if c not in AGGREGATE_COLUMNS]
    if dups or missing or extra:
        raise DataError(f"{where} must have exactly the columns {list(AGGREGATE_COLUMNS)!r}; it lacks "
                        f"{missing!r}, has the extra {extra!r} and duplicated {[str(d) for d in dups]!r} "
                        f"({len(agg)} rows). Concatenate DeliveryAggregates.table frames (or select those "
                        "columns).")
    out = pd.DataFrame(index=pd.RangeIndex(len(agg)))
    for c in AGGREGATE_COLUMNS[:4]:
        s = agg[c]
        bad = int((s.isna() | ~s.map(lambda v: isinstance(v, str) and bool(v))).sum())
        if bad:
            raise DataError(f"{where}: column {c!r} has {bad} value(s) of {len(s)} that are missing or not "
                            "non-empty strings; every row needs its country, instrument, indicator and "
                            "stratum.")
        out[c] = s.astype(str).to_numpy()
    for c in AGGREGATE_COLUMNS[4:]:
        s = agg[c]
        if not (pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)):
            raise DataError(f"{where}: column {c!r} must be numeric; it has dtype {str(s.dtype)!r}. Convert "
                            "it with pandas.to_numeric.")
        out[c] = s.astype(float).to_numpy()
    unknown = sorted(set(out["indicator"]) - set(AGGREGATE_INDICATORS))
    if unknown:
        raise DataError(f"{where}: column 'indicator' has {int(out['indicator'].isin(unknown).sum())} row(s) "
                        f"with unknown indicator(s) {unknown!r}; the indicators are "
                        f"{list(AGGREGATE_INDICATORS)!r}.")
    days = (out["indicator"] == "days_to_decision").to_numpy()
    n, events = out["n"].to_numpy(), out["events"].to_numpy()
    low, high = out["bin_low"].to_numpy(), out["bin_high"].to_numpy()
    with np.errstate(invalid="ignore"):
        checks: tuple[tuple[str, np.ndarray, str], ...] = (
            ("n", ~np.isfinite(n) | (n < 0), "missing, infinite or negative counts"),
            ("events", ~days & (~np.isfinite(events) | (events < 0)),
             "missing, infinite or negative values where a rate or cost row needs them"),
            ("events", out["indicator"].isin(_RATES).to_numpy() & (events > n), "more events than units (n)"),
            ("bin_low", days & (~np.isfinite(low) | ~np.isfinite(high) | (low < 0) | (high <= low)),
             "days_to_decision bins that are missing, negative or empty (bin_high <= bin_low)"),
        )
    for col, wrong, what in checks:
        if int(wrong.sum()):
            raise DataError(f"{where}: column {col!r} has {int(wrong.sum())} row(s) of {len(out)} with "
                            f"{what}; recompute those aggregates with delivery_mix_aggregates().")
    n_dup = int(out.duplicated(_KEY).sum())
    if n_dup:
        raise DataError(f"{where} has {n_dup} row(s) duplicating the key {_KEY!r}; an agency's table was "
                        "probably concatenated twice. Drop the duplicates.")
    hist = out.loc[days].sort_values(["country", "instrument", "stratum", "bin_low"])
    overlap = hist.groupby(["country", "instrument", "stratum"])["bin_high"].shift() > hist["bin_low"]
    if int(overlap.sum()):
        raise DataError(f"{where}: column 'bin_low' has {int(overlap.sum())} days_to_decision bin(s) that "
                        "overlap the bin before in their stratum; recompute them with "
                        "delivery_mix_aggregates().")
    strata = out.loc[~out["indicator"].isin(("admin_cost", "euro_granted")) & (out["stratum"] != OTHER)]
    parts = strata.assign(_p=strata["stratum"].str.count(r"\|") + 1).groupby("instrument")["_p"].nunique()
    if (parts > 1).any():
        raise DataError(f"{where}: column 'stratum' mixes keys of different mixes for instrument(s) "
                        f"{sorted(parts.index[parts > 1])!r} (keys with different numbers of '|'-joined "
                        "values); every agency must compute its aggregates with the same mix=.")
    return out


@keyword_options
def adjusted_benchmark_from_aggregates(
    aggregates: pd.DataFrame,
    *,
    alpha: float = 0.05,
    indicators: Sequence[str] | None = None,
    min_tail_firms: int = 10,
    name: str = "adjusted_delivery_benchmark",
) -> AdjustedBenchmark:
    r"""Benchmark agencies' delivery against their SME mix from the aggregates of their evidence bundles.

    Parameters
    ----------
    aggregates
        The concatenated :attr:`DeliveryAggregates.table` of several agencies (columns
        :data:`AGGREGATE_COLUMNS`; e.g. the ``delivery_mix`` evidence table).  Not modified.
    alpha
        Intervals have level :math:`1 - \alpha`.
    indicators
        Indicators of :data:`~ipf_eval.evidence.delivery_mix.INDICATORS` to compute (default: all whose
        aggregates are present).
    min_tail_firms
        A quantile is published only when at least this many of the agency's decided applications lie
        above it and below it (counted on its histograms, i.e. :math:`\min(p, 1-p) N_a`; the microdata
        version counts firms strictly above and below, which ties can lower).
    name
        Name in the audit log.

    Returns
    -------
    AdjustedBenchmark
        The same result as :func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark` (table
        columns, :meth:`~ipf_eval.evidence.delivery_mix.AdjustedBenchmark.to_records`), with
        ``n_boot = 0`` and analytic intervals (``interval_method``).  ``n_firms`` counts the units behind a
        value: eligible firms (take-up), applications (first-time share, drop-out, days) or awards (costs).

    Raises
    ------
    DataError
        If ``aggregates`` is not a DataFrame with exactly :data:`AGGREGATE_COLUMNS`, labels are missing,
        counts are not numbers or negative, a rate has more events than units, bins are empty or overlap,
        a key is duplicated or agencies used different mixes for one instrument.
    SpecificationError
        If ``alpha`` is not in (0, 1), an indicator is unknown, ``min_tail_firms < 1`` or ``name`` is empty.

    Notes
    -----
    **Rates.**  With :math:`Y_{as}` events of :math:`M_{as}` units of agency :math:`a` in stratum
    :math:`s` (``"other"`` pooled as a stratum of its own), :math:`r_s = Y_{\cdot s} / M_{\cdot s}` over
    the agencies of the instrument,

    .. math:: O_a = \frac{Y_{a\cdot}}{M_{a\cdot}}, \quad E_a = \frac{\sum_s M_{as} r_s}{M_{a\cdot}}, \quad
              \tilde O_a = \frac{O_a}{E_a}\, r, \quad r = \frac{Y_{\cdot\cdot}}{M_{\cdot\cdot}},

    as in the microdata version (Breslow and Day 1987).  The raw interval is the Wilson (1927) score
    interval with :math:`M_{a\cdot}` units.  The adjusted interval is the delta method on
    :math:`\log \tilde O_a` with every stratum count binomial given the stratum sizes,

    .. math:: \widehat{\operatorname{Var}}(\log \tilde O_a) = \sum_{b,s}
              \Bigl(\frac{1}{M_{\cdot\cdot} r} + \frac{[b = a]}{Y_{a\cdot}}
              - \frac{M_{as}}{M_{\cdot s} \sum_t M_{at} r_t}\Bigr)^2 \frac{Y_{bs}(M_{bs} - Y_{bs})}{M_{bs}},

    so the sampling error of the reference rates (to which the agency itself contributes) is included, as
    in the firm bootstrap; the interval :math:`\tilde O_a e^{\pm z \hat\sigma}` stays positive.  With no
    event or only events (:math:`\log` or variance degenerate) the Wilson interval of :math:`O_a` is
    scaled by :math:`r / E_a`.  The estimand is conditional on the stratum sizes, like the published
    adjusted rates of indirect standardisation.  Units of the first-time share and drop-out are
    applications: the intervals treat them as independent, where the firm bootstrap of the microdata
    version resamples firms.  For the first-time share this is conservative (of a firm's applications
    exactly one is its first: the intervals are about 1.2 to 1.35 times as wide as the bootstrap's in
    tests/test_delivery_aggregates.py); for take-up and drop-out the widths agree within 15 %.

    **Quantiles** (``median_days``, ``p90_days``): each histogram gives a piecewise-linear distribution
    function (counts spread evenly within bins, the grouped-data quantile); the observed quantile is that
    of the agency's histograms, the pooled one that of all agencies', the expected one that of the pooled
    stratum distributions reweighted to the agency's mix :math:`\pi_{as}`,
    :math:`\hat F_a = \sum_s \pi_{as} \hat F_s`, and adjusted :math:`= \hat Q(p) + (O_a - E_a)`.  The
    interval of the observed quantile is the distribution-free order-statistic interval
    :math:`[x_{(l)}, x_{(u)}]`, :math:`l = F_B^{-1}(\alpha/2)`, :math:`u = F_B^{-1}(1-\alpha/2) + 1`,
    :math:`B \sim \operatorname{Bin}(N_a, p)` (Conover 1999, section 3.2), order statistics read on the
    histogram; it is carried to the adjusted value by the same shift :math:`\hat Q(p) - E_a` (whose own
    sampling error, small when many agencies share the strata, is left out); for continuous days its
    coverage is at least :math:`1 - \alpha` (exactly :math:`F_B(u - 1) - F_B(l - 1)`).  Binning moves a
    quantile by less than the width of the bin holding it (``bin_days`` where no bins were merged).

    **Costs** are reported raw (agency totals), with the pooled cost of the agencies of the instrument
    as reference, as in the microdata version.

    References
    ----------
    Breslow, N. E. and Day, N. E. (1987). *Statistical Methods in Cancer Research, Vol. II: The Design
    and Analysis of Cohort Studies*. IARC Scientific Publications 82, chapter 2.

    Conover, W. J. (1999). *Practical Nonparametric Statistics*, 3rd edition. Wiley, section 3.2.

    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. *Journal
    of the American Statistical Association* 22(158), 209-212.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> sim = simulate_firms(seed=5, n_firms=3_000)
    >>> tables = [delivery_mix_aggregates(sim.applications, country=c, instrument="rd_grant").table
    ...           for c in ("AT", "DK", "ES", "FI", "NO")]
    >>> bench = adjusted_benchmark_from_aggregates(pd.concat(tables), indicators=["median_days"])
    >>> bench.to_records().columns.tolist()[:4]
    ['country', 'instrument', 'indicator', 'raw']
    """
    level = check_alpha(alpha, function=_FORUM)
    tail = _count("min_tail_firms", min_tail_firms, 1, fn=_FORUM)
    wanted = list(INDICATORS) if indicators is None else (
        [indicators] if isinstance(indicators, str) else list(indicators))
    unknown = [i for i in wanted if i not in INDICATORS]
    if unknown or not wanted:
        raise SpecificationError(f"indicators of {_FORUM}() must be a non-empty list of "
                                 f"{list(INDICATORS)!r}; got {len(unknown)} unknown: {unknown!r}. Correct "
                                 "the spelling.")
    if not isinstance(name, str) or not name:
        raise SpecificationError(f"name of {_FORUM}() must be a non-empty string; got {name!r}.")
    agg = _check_aggregates(aggregates)
    present = set(agg["indicator"])
    computed = [i for i in INDICATORS if i in wanted and all(n in present for n in _NEEDS[i])]
    notes = [f"{i} skipped: no {'/'.join(n for n in _NEEDS[i] if n not in present)} rows in the aggregates."
             for i in INDICATORS if i in wanted and i not in computed]
    parts: list[Part] = []

    def rows(ind: str) -> pd.DataFrame:
        return agg.loc[agg["indicator"] == ind]

    for ind in (i for i in _RATES if i in computed):
        parts.append(rate_part(rows(ind), ind, level))
    days_inds = [i for i in ("median_days", "p90_days") if i in computed]
    if days_inds:
        parts.append(days_part(rows("days_to_decision"), days_inds, level, tail, name))
    cost_inds = [i for i in ("admin_cost_per_supported_firm", "admin_cost_per_euro") if i in computed]
    if cost_inds:
        parts.append(cost_part(rows("admin_cost"), rows("euro_granted"), cost_inds))
        notes.append("Cost indicators are agency totals: not adjusted for the SME mix and without interval.")
    notes += [f"Intervals {_INTERVALS}; first-time share and drop-out count applications as independent "
              "units.", "n_firms counts the units behind each value: eligible firms (take-up), applications "
              "(first-time share, drop-out, days to decision), awards (costs)."] if computed else []
    groups = agg[["country", "instrument"]].drop_duplicates()
    table, entries, strata_rows = _assemble(parts, computed, groups)
    prof = DisclosureProfile(name="checked_at_home", min_firms=1,
                             description="Aggregates disclosure-checked by each agency before they "
                                         "travelled; the forum adds the quantile tail rule.")
    spec = Specification(estimator=_FORUM, n_obs=len(agg), n_units=len(groups), arguments={
        "indicators": wanted, "alpha": level, "min_tail_firms": tail, "name": name})
    return AdjustedBenchmark(
        name=name, table=table, stratification=pd.DataFrame(strata_rows, columns=list(_STRATA_COLUMNS)),
        audit=AuditLog(tuple(entries), prof.name), profile=prof, specification=spec, alpha=level, n_boot=0,
        notes=tuple(dict.fromkeys(notes + [n for p in parts for n in p.notes])), interval_method=_INTERVALS)
