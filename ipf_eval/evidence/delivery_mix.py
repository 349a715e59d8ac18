r"""Agency benchmarking that compares like with like: delivery indicators adjusted for the SME mix.

Agencies serve different SMEs: one agency's applicants are mostly micro firms in services, another's
medium-sized manufacturers.  Raw take-up rates and decision times then differ even where the agencies
deliver alike.  :func:`adjusted_delivery_benchmark` reports, per agency (country), instrument and
indicator, the raw value, the value expected from the agency's SME mix at the rates of all agencies
together (indirect standardisation), the mix-adjusted value and the pooled reference, each with a firm
bootstrap interval, and hides every value that fails disclosure control.

Indicators (:data:`INDICATORS`), each computed only when its inputs are there (otherwise skipped with a
note, never guessed):

``take_up``
    Share of the firms listed as eligible (``eligibility``) that applied to the agency's instrument.
``first_time_share``
    Share of applications that are the firm's first application to that agency's instrument in the data
    (needs ``call_col``).  Applications of the first call year in the data are left out: every one of them
    would count as a first application by construction.  Applications before the data window cannot be
    seen, so later applications may still be repeats: the share is an upper bound.
``dropout_rate``
    Share of applications without a decision date (needs ``decision_date``): withdrawn or abandoned
    applications, and applications still pending when the data were extracted (remove those first).
``median_days``, ``p90_days``
    Median and 90th percentile of the days from application to decision (decided applications).
``admin_cost_per_supported_firm``, ``admin_cost_per_euro``
    The agency's administrative cost of running the instrument (``admin_costs``, e.g. the ``calls``
    frame of :func:`~ipf_eval.data.simulate_firms`) per supported application and per euro granted
    (needs ``supported_col`` and ``amount_col``).  Reported raw only (see the Notes of
    :func:`adjusted_delivery_benchmark`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import N_BOOT, check_alpha, keyword_options, user_stack_level
from ipf_eval.disclosure.audit import AuditEntry, AuditLog
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError
from ipf_eval.evidence._delivery_parts import (
    MISSING,
    Key,
    MixSource,
    Part,
    Setup,
    cost_part,
    days_part,
    dropout_units,
    first_time_units,
    rate_part,
    take_up_units,
)
from ipf_eval.results import DropRecord, ResultMixin, Specification, Summary, json_safe, tidy_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ADJUSTMENTS", "INDICATORS", "RECORD_COLUMNS", "UNITS", "AdjustedBenchmark",
           "adjusted_delivery_benchmark"]

_FN = "adjusted_delivery_benchmark"
#: The indicators, in the order of the table.
INDICATORS: tuple[str, ...] = ("take_up", "first_time_share", "dropout_rate", "median_days", "p90_days",
                               "admin_cost_per_supported_firm", "admin_cost_per_euro")
#: How each indicator is adjusted: ratio of observed to expected rate times the pooled rate, pooled
#: quantile plus observed minus expected quantile, or not at all.
ADJUSTMENTS: Mapping[str, str] = {
    "take_up": "indirect_ratio", "first_time_share": "indirect_ratio", "dropout_rate": "indirect_ratio",
    "median_days": "quantile_shift", "p90_days": "quantile_shift",
    "admin_cost_per_supported_firm": "none", "admin_cost_per_euro": "none",
}
#: Unit of each indicator (shares are between 0 and 1).
UNITS: Mapping[str, str] = {
    "take_up": "share", "first_time_share": "share", "dropout_rate": "share", "median_days": "days",
    "p90_days": "days", "admin_cost_per_supported_firm": "euro", "admin_cost_per_euro": "euro per euro",
}
#: The columns of :meth:`AdjustedBenchmark.to_records`, the aggregates that travel in evidence bundles.
RECORD_COLUMNS: tuple[str, ...] = ("country", "instrument", "indicator", "raw", "raw_ci_low", "raw_ci_high",
                                   "adjusted", "adjusted_ci_low", "adjusted_ci_high", "expected",
                                   "reference", "n_firms", "status")
_VALUES = ("raw", "raw_ci_low", "raw_ci_high", "raw_std_error", "adjusted", "adjusted_ci_low",
           "adjusted_ci_high", "adjusted_std_error", "expected", "reference", "n_firms")
_TABLE_COLUMNS = (*RECORD_COLUMNS, "rule", "adjustment", "unit", "raw_std_error", "adjusted_std_error")
#: Okabe-Ito orange and blue (Okabe and Ito 2008), as in :mod:`ipf_eval.pipeline.figures`.
_ORANGE, _BLUE = "#E69F00", "#0072B2"
_STRATA_COLUMNS = ("instrument", "indicator", "variables", "nested_left_out", "n_strata",
                   "share_firms_collapsed")


@dataclass(frozen=True, eq=False)
class AdjustedBenchmark(ResultMixin):
    """Delivery indicators per agency and instrument, raw and adjusted for the SME mix, with intervals.

    Attributes
    ----------
    name
        Name used in the audit log.
    table
        One row per country, instrument and indicator (columns ``RECORD_COLUMNS`` then ``rule``,
        ``adjustment``, ``unit``, ``raw_std_error``, ``adjusted_std_error``); hidden values are NaN.  It
        carries no firm identifier and no firm-level value.
    stratification
        Per instrument and indicator: the mix variables used, those left out as nested in agencies, the
        number of strata and the share of firms in collapsed (margin) strata.
    audit
        What was hidden and why (never the hidden values).
    profile
        Disclosure profile applied.
    specification
        The call (arguments, rows and firms seen, seed).
    alpha, n_boot
        Level of the intervals and number of bootstrap draws.
    notes
        Caveats: skipped indicators, variables left out, definitions.
    interval_method
        How the intervals were computed, when not by the firm bootstrap (the analytic intervals of
        :func:`~ipf_eval.evidence.delivery_aggregates.adjusted_benchmark_from_aggregates`); ``""`` for the
        percentile firm bootstrap with ``n_boot`` draws.
    """

    name: str
    table: pd.DataFrame
    stratification: pd.DataFrame
    audit: AuditLog
    profile: DisclosureProfile
    specification: Specification
    alpha: float
    n_boot: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    interval_method: str = ""

    def to_records(self) -> pd.DataFrame:
        """Return the published rows only, with exactly the columns of :data:`RECORD_COLUMNS`.

        Rows whose status is not ``"published"`` (hidden by disclosure control, not estimable) are left
        out; a value that does not apply (the adjusted value of a cost indicator, an interval when
        ``n_boot=0``) is NaN.  ``json_safe(bench.to_records())`` gives the list of dictionaries.
        """
        published = self.table.loc[self.table["status"] == "published", list(RECORD_COLUMNS)]
        return published.reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """Return the long tidy table: two rows (``value`` ``"raw"`` and ``"adjusted"``) per table row.

        Columns are the package's tidy columns (``term`` is the indicator, ``std_error`` the bootstrap
        standard error; ``statistic`` and ``p_value`` are NaN), ``country``, ``instrument``, then
        ``value, expected, reference, n_firms, status, rule``.
        """
        rows = []
        for r in self.table.to_dict(orient="records"):
            for kind in ("raw", "adjusted"):
                rows.append({"term": r["indicator"], "estimate": r[kind], "std_error": r[f"{kind}_std_error"],
                             "ci_low": r[f"{kind}_ci_low"], "ci_high": r[f"{kind}_ci_high"],
                             "country": r["country"], "instrument": r["instrument"], "value": kind,
                             **{c: r[c] for c in ("expected", "reference", "n_firms", "status", "rule")}})
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"name": self.name, "table": json_safe(self.table),
                "stratification": json_safe(self.stratification), "audit": self.audit.to_dict(),
                "profile": self.profile.to_dict(), "alpha": self.alpha, "n_boot": self.n_boot,
                "notes": list(self.notes), "specification": self.specification.to_dict(),
                "interval_method": self.interval_method or "percentile firm bootstrap"}

    def summary(self) -> Summary:
        """Return the printable summary: the table (without standard errors) and the notes."""
        shown = self.table.drop(columns=["raw_std_error", "adjusted_std_error", "adjustment", "unit"])
        method = self.interval_method or f"percentile, {self.n_boot} firm bootstrap draws"
        return Summary(
            title=f"Delivery benchmark adjusted for the SME mix: {self.name}",
            facts=(("Profile", self.profile.describe()), ("Intervals", f"{1 - self.alpha:.0%} {method}"),
                   ("Hidden values", str(len(self.audit)))),
            table=shown, notes=self.notes)

    def plot(self, *, ax: Axes | None = None, indicator: str | None = None,
             instrument: str | None = None) -> Axes:
        """Dot chart of one indicator: raw (hollow) and adjusted (filled) values with their intervals.

        Parameters
        ----------
        ax
            Axes to draw on; by default a new figure that pyplot does not manage.
        indicator
            The indicator (default: the first one in the table).
        instrument
            Only this instrument (default: all, rows labelled ``country · instrument``).

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        SpecificationError
            If the indicator or instrument is not in the table.
        """
        from matplotlib.figure import Figure as MplFigure

        ind = self.table["indicator"].iloc[0] if indicator is None and len(self.table) else indicator
        rows = self.table.loc[(self.table["indicator"] == ind) & (self.table["status"] == "published")]
        if instrument is not None:
            rows = rows.loc[rows["instrument"] == instrument]
        if ind not in set(self.table["indicator"]) or (instrument is not None
                                                        and instrument not in set(self.table["instrument"])):
            raise SpecificationError(
                f"plot(): indicator {ind!r} / instrument {instrument!r} is not in the table; it has "
                f"indicators {sorted(set(self.table['indicator']))!r} and instruments "
                f"{sorted(set(self.table['instrument']))!r}.")
        if ax is None:
            ax = MplFigure(figsize=(7.0, 0.35 * len(rows) + 1.6), layout="constrained").add_subplot()
        y = np.arange(len(rows), 0, -1, dtype=float)
        styles = (("raw", 0.12, "white", _ORANGE), ("adjusted", -0.12, _BLUE, _BLUE))
        for kind, shift, face, colour in styles:
            ax.hlines(y + shift, rows[f"{kind}_ci_low"], rows[f"{kind}_ci_high"], colors=colour,
                      linewidth=1.5)
            ax.plot(rows[kind], y + shift, linestyle="none", marker="o", color=colour, markerfacecolor=face,
                    markeredgewidth=1.5, label=f"{kind.capitalize()} ({1 - self.alpha:.0%} interval)")
        labels = [f"{c}" if instrument is not None else f"{c} · {i}"
                  for c, i in zip(rows["country"], rows["instrument"], strict=True)]
        if instrument is not None and len(rows):
            ax.axvline(float(rows["reference"].iloc[0]), color="0.45", linestyle="--", linewidth=1.0,
                       label="All agencies together")
        ax.set_yticks(y.tolist(), labels)
        ax.margins(y=0.15)
        ax.set_xlabel(f"{str(ind).replace('_', ' ')} ({UNITS.get(str(ind), '')})")
        ax.legend(loc="best", fontsize="small", frameon=False)
        return ax


# ----------------------------------------------------------------------------------------- validation
def _frame(obj: Any, where: str, cols: Sequence[str], keys: Sequence[str] = (), fn: str = _FN) -> None:
    if not isinstance(obj, pd.DataFrame):
        raise DataError(f"{fn}(): {where} must be a pandas DataFrame; got {type(obj).__name__!r}.")
    dups = obj.columns[obj.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(f"{fn}(): {where} has duplicated column labels {[str(d) for d in dups]!r}; drop or "
                        "rename the copies (e.g. after a concat or merge).")
    missing = [c for c in cols if c not in obj.columns]
    if missing:
        raise DataError(f"{fn}(): {where} lacks column(s) {missing!r} ({len(obj)} rows, columns "
                        f"{list(obj.columns)!r}). Pass the right column names.")
    for c in keys:
        n_missing = int(obj[c].isna().sum())
        if n_missing:
            raise DataError(f"{fn}(): column {c!r} of {where} has {n_missing} missing value(s) of "
                            f"{len(obj)}; every row needs its identifiers {list(keys)!r}. Drop those rows.")


def _count(name: str, value: Any, minimum: int, remedy: str = "", fn: str = _FN) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecificationError(f"{name} of {fn}() must be an integer >= {minimum}; got {value!r}.{remedy}")
    return int(value)


def _dates(frame: pd.DataFrame, col: str, where: str, fn: str = _FN) -> pd.Series:
    s = frame[col]
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return pd.Series(pd.to_datetime(s).to_numpy(dtype="datetime64[ns]"), index=frame.index)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise DataError(f"{fn}(): column {col!r} of {where} holds numbers (dtype {str(s.dtype)!r}), not "
                        "dates; convert it with pandas.to_datetime (with the right unit or format) first.")
    parsed = pd.to_datetime(s, errors="coerce", format="mixed")
    bad = int((parsed.isna() & s.notna()).sum())
    if bad:
        raise DataError(f"{fn}(): column {col!r} of {where} has {bad} value(s) of {len(s)} that are not "
                        "dates; convert it with pandas.to_datetime and fix or drop the rows it cannot read.")
    return pd.Series(parsed.to_numpy(dtype="datetime64[ns]"), index=frame.index)


def _flags(frame: pd.DataFrame, col: str, where: str, fn: str = _FN) -> pd.Series:
    s = frame[col]
    if pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
        return s.astype(bool)
    if set(pd.unique(s.dropna())) <= {0, 1} and not s.isna().any():
        return s.astype(int).astype(bool)
    raise DataError(f"{fn}(): column {col!r} of {where} must be boolean or 0/1 without missing values; it "
                    f"has dtype {str(s.dtype)!r} and {int(s.isna().sum())} missing value(s) of {len(s)}. "
                    "Map it to True/False first.")


def _amounts(frame: pd.DataFrame, col: str, where: str, fn: str = _FN) -> pd.Series:
    v = pd.to_numeric(frame[col], errors="coerce")
    bad = int(((v.isna() & frame[col].notna()) | (v < 0) | np.isinf(v.fillna(0.0))).sum())
    if bad or pd.api.types.is_bool_dtype(frame[col].dtype):
        raise DataError(f"{fn}(): column {col!r} of {where} has {bad} value(s) of {len(v)} that are not "
                        "finite non-negative numbers (euro); fix them (missing values may stay missing).")
    return v.fillna(0.0).astype(float)


def _labels(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), MISSING).astype(str)


def _setup(prof: DisclosureProfile, mix: Any, indicators: Any, name: Any, *, n_boot: Any, seed: Any,
           alpha: Any, min_stratum_firms: Any, min_tail_firms: Any, reserved: Sequence[str]) -> Setup:
    """Check the options (not the frames) and gather them."""
    counts = (_count("n_boot", n_boot, 0, " Pass n_boot=0 for no intervals."), _count("seed", seed, 0),
              _count("min_stratum_firms", min_stratum_firms, 1), _count("min_tail_firms", min_tail_firms, 1))
    level = check_alpha(alpha, function=_FN)
    mix_cols = [mix] if isinstance(mix, str) else list(mix) if isinstance(mix, Sequence) else [mix]
    if not all(isinstance(c, str) for c in mix_cols) or len(set(mix_cols)) < len(mix_cols) or (
            set(reserved) & set(mix_cols)):
        raise SpecificationError(f"mix of {_FN}() must be distinct column names other than the firm, country "
                                 f"and instrument columns {list(reserved)!r}; got {mix!r}.")
    wanted = list(INDICATORS) if indicators is None else (
        [indicators] if isinstance(indicators, str) else list(indicators))
    unknown = [i for i in wanted if i not in INDICATORS]
    if unknown or not wanted:
        raise SpecificationError(f"indicators of {_FN}() must be a non-empty list of {list(INDICATORS)!r}; "
                                 f"got {len(unknown)} unknown: {unknown!r}. Correct the spelling.")
    if not isinstance(name, str) or not name:
        raise SpecificationError(f"name of {_FN}() must be a non-empty string; got {name!r}.")
    return Setup(mix=tuple(mix_cols), indicators=tuple(wanted), profile=prof, min_stratum=counts[2],
                 min_tail=counts[3], n_boot=counts[0], seed=counts[1], alpha=level, name=name)


def _mix_present(frame: pd.DataFrame, where: str, mix_cols: Sequence[str]) -> None:
    absent = [c for c in mix_cols if c not in frame.columns]
    if absent:
        raise DataError(f"{_FN}(): {where} lacks the mix column(s) {absent!r} ({len(frame)} rows) and no "
                        "firms frame is given; pass firms= with one row per firm and these columns, or name "
                        "other mix= columns.")


def _nested_note(strata_rows: list[dict[str, Any]]) -> list[str]:
    nested = sorted({v for r in strata_rows for v in r["nested_left_out"].split(", ") if v})
    return [f"Mix variable(s) {nested!r} left out: no category is shared by two agencies (nested in "
            "countries)."] if nested else []


def _assemble(parts: list[Part], computed: list[str], groups: pd.DataFrame
              ) -> tuple[pd.DataFrame, list[AuditEntry], list[dict[str, Any]]]:
    """One row per group and computed indicator; groups without units are ``not_estimable``."""
    rows: dict[Key, dict[str, Any]] = {}
    entries: list[AuditEntry] = []
    strata_rows: list[dict[str, Any]] = []
    for p in parts:
        rows.update(p.rows)
        entries += p.entries
        strata_rows += p.strata
    out = []
    for ind in [i for i in INDICATORS if i in computed]:
        for c, k in sorted((str(c), str(k)) for c, k in groups.itertuples(index=False)):
            r = {v: np.nan for v in _VALUES} | {"status": "not_estimable", "rule": "no units"}
            out.append({"country": c, "instrument": k, "indicator": ind, **r, **rows.get((c, k, ind), {}),
                        "adjustment": ADJUSTMENTS[ind], "unit": UNITS[ind]})
    table = pd.DataFrame(out, columns=list(_TABLE_COLUMNS)).astype({"n_firms": float})
    table = table.sort_values(["instrument", "country"], kind="stable").reset_index(drop=True)
    return table, entries, strata_rows


# -------------------------------------------------------------------------------------------- public
@keyword_options
def adjusted_delivery_benchmark(
    applications: pd.DataFrame,
    *,
    eligibility: pd.DataFrame | None = None,
    firms: pd.DataFrame | None = None,
    admin_costs: pd.DataFrame | None = None,
    mix: str | Sequence[str] = ("size_class", "sector", "region"),
    indicators: Sequence[str] | None = None,
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
    min_stratum_firms: int = 20,
    min_tail_firms: int = 10,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
    profile: str | DisclosureProfile = "statistical_office",
    name: str = "adjusted_delivery_benchmark",
) -> AdjustedBenchmark:
    r"""Benchmark agencies' delivery against what their SME mix leads one to expect, with intervals.

    Parameters
    ----------
    applications
        One row per application, all agencies (see the module docstring).  Not modified.
    eligibility
        One row per eligible firm (and country, instrument), ``eligible_col`` marking eligibility; needed
        for ``take_up``.  Not modified.
    firms
        One row per firm with ``id_col`` and the ``mix`` columns; when given, the mix is read here for
        every indicator, otherwise from ``eligibility`` (take-up) and ``applications`` (a firm's first
        application to the instrument).  Not modified.
    admin_costs
        Administrative costs with the country, instrument and ``admin_cost_col`` columns (euro), one row
        per call (with ``call_col``: matched call by call to the applications) or per agency and
        instrument; e.g. the ``calls`` frame of the simulator.  Needed for the cost indicators.
    mix
        Firm characteristics to adjust for, in order of priority (the last is dropped first when cells
        are sparse).  A variable none of whose categories two agencies share (e.g. NUTS regions of one
        country) is left out with a note.  An empty list gives no adjustment.
    indicators
        Indicators to compute (default: all of :data:`INDICATORS` whose inputs are present).
    country_col, instrument_col, id_col, application_date, decision_date, call_col, supported_col, \
amount_col, eligible_col, admin_cost_col
        Column names.  Dates must be datetime-like (strings are parsed).  ``eligible_col=None``: every row
        of ``eligibility`` is eligible.
    min_stratum_firms
        A cell of the mix is a stratum when it has at least this many firms from at least two agencies.
    min_tail_firms
        A quantile is published only when at least this many firms lie strictly above it and strictly
        below it.
    n_boot
        Bootstrap draws (0: no intervals).
    seed
        Seed of the bootstrap (same seed and data, identical results).
    alpha
        Intervals have level :math:`1 - \alpha`.
    profile
        Disclosure profile (its ``min_firms`` threshold applies to every value).
    name
        Name in the audit log and the warning.

    Returns
    -------
    AdjustedBenchmark
        The table, stratification, audit log and notes; :meth:`~AdjustedBenchmark.to_records` gives the
        published rows with :data:`RECORD_COLUMNS`.

    Raises
    ------
    DataError
        If a frame is not a DataFrame, names a column twice or lacks a column, identifiers are missing,
        dates cannot be read or a decision precedes its application, flags are not boolean, amounts or
        costs are negative or not numbers, or ``firms`` lists a firm twice.
    SpecificationError
        If an option is out of range (``n_boot < 0``, ``alpha`` not in (0, 1), ...), an indicator is
        unknown, the mix names an identifier column or the profile is unknown.

    Warns
    -----
    DisclosureWarning
        Naming how many values of how many agencies were hidden (never the values).

    Notes
    -----
    **Rates** (take-up, first-time share, drop-out) are ratios of sums over firms: firm :math:`i` of
    agency :math:`a` contributes :math:`y_i` events out of :math:`m_i` units (for take-up :math:`m_i = 1`).
    With strata :math:`s` of the mix, :math:`Y_{as} = \sum_{i \in a, s} y_i`, :math:`M_{as}` alike and the
    pooled stratum rates :math:`r_s = \sum_a Y_{as} / \sum_a M_{as}` (all agencies, same instrument),

    .. math:: O_a = \frac{\sum_s Y_{as}}{\sum_s M_{as}}, \quad
              E_a = \frac{\sum_s M_{as} r_s}{\sum_s M_{as}}, \quad
              \tilde O_a = \frac{O_a}{E_a}\, r, \quad r = \frac{\sum_{a,s} Y_{as}}{\sum_{a,s} M_{as}},

    the observed, expected and adjusted rates (indirect standardisation: the standardised ratio
    :math:`O_a / E_a` times the pooled rate; Breslow and Day 1987, ch. 2).  When :math:`E_a = 0` the
    adjusted rate is 0 if :math:`r = 0` and undefined otherwise.  Adjusted rates compare each agency
    with the pool; two agencies' adjusted rates are exactly comparable when their stratum rates are
    constant multiples of the reference rates, otherwise approximately (Breslow and Day 1987).

    **Every agency is part of the pool.**  An agency that supplies most firms of the strata it serves
    pulls their reference rates (and distributions) towards its own, so adjusted gaps between agencies
    shrink towards zero.  With two agencies of mirror-image mixes (tests/test_delivery_mix.py) a true
    take-up ratio of 1.5 in every stratum appears as about 1.35, and a 20-day slower decision in every
    stratum as about 3 days at the median (the median of a mixture barely moves when a minority
    component shifts).  With few agencies per instrument, read adjusted gaps as understated; raw gaps
    and the ``stratification`` table show how different the mixes are.

    **Quantiles** of days to decision: with :math:`\pi_{as}` agency :math:`a`'s share of decided
    applications in stratum :math:`s` and :math:`\hat F_s` the pooled distribution in :math:`s`, the
    expected quantile is :math:`E_a = \hat F_{a}^{-1}(p)` for :math:`\hat F_a = \sum_s \pi_{as} \hat F_s`
    (the pooled distribution reweighted to the agency's mix, the analogue of :math:`E_a` for a mean) and
    the adjusted quantile :math:`\hat Q(p) + (O_a - E_a)`, in days.  Quantiles are the inverse of the
    (weighted) empirical distribution function, Hyndman and Fan (1996) definition 1, so that observed and
    expected quantiles are defined alike.

    **Strata**: the cross of the mix variables; a cell with fewer than ``min_stratum_firms`` firms or
    with firms of one agency only is merged into its parent margin (the cross without the last variable),
    repeatedly, and the firms left form one residual stratum.  Strata are built on the published
    agencies' firms, per instrument and indicator (see ``stratification``).

    **Intervals**: a nonparametric bootstrap resampling firms (with all their applications) within each
    agency, the reference rates recomputed in each draw; the raw and adjusted values use the same draws
    and intervals are percentile intervals (Efron and Tibshirani 1993, ch. 13).  Each agency's draws come
    from a generator seeded by ``seed`` and the agency, instrument and indicator.

    **Costs** are agency totals, not attributed to firms: they cannot be standardised at firm level, and
    with a handful of calls per agency no resampling interval is defensible (a firm bootstrap would hold
    the cost fixed while the workload varies).  They are reported raw, with the pooled cost over the
    published agencies as reference, without interval, expected or adjusted value.  Cost per supported
    firm counts awards: a firm supported in two calls counts twice.

    **Disclosure**: a value is hidden when fewer than the profile's ``min_firms`` firms stand behind it
    (for shares, also when fewer than that many firms are on either side of it; for cost per euro, when
    the amounts granted fail the profile's threshold, dominance or p % rule; for quantiles, when fewer
    than ``min_tail_firms`` firms lie above or below it).  Agencies hidden on a share or a cost are left
    out of the pooled reference and the strata, so that the reference cannot be differenced to recover
    them; agencies hidden on a quantile tail stay in the pooled distribution (a quantile cannot be
    differenced).  Profile judgements of this kind need the intervals: Ash et al. (2012).

    References
    ----------
    Ash, A. S., Fienberg, S. E., Louis, T. A., Normand, S.-L. T., Stukel, T. A. and Utts, J. (2012).
    Statistical issues in assessing hospital performance. Committee of Presidents of Statistical
    Societies, report for the Centers for Medicare and Medicaid Services.

    Breslow, N. E. and Day, N. E. (1987). *Statistical Methods in Cancer Research, Vol. II: The Design
    and Analysis of Cohort Studies*. IARC Scientific Publications 82, chapter 2.

    Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman and Hall.

    Hyndman, R. J. and Fan, Y. (1996). Sample quantiles in statistical packages. *The American
    Statistician* 50(4), 361-365.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> sim = simulate_firms(seed=5, n_firms=8_000)
    >>> bench = adjusted_delivery_benchmark(sim.applications, eligibility=sim.eligibility, firms=sim.firms,
    ...                                     admin_costs=sim.calls, indicators=["take_up", "median_days"],
    ...                                     n_boot=99, seed=5)
    >>> bench.to_records().columns.tolist()[:4]
    ['country', 'instrument', 'indicator', 'raw']
    >>> bench.stratification["variables"].unique().tolist()  # regions are nested in countries
    ['size_class x sector']
    """
    prof = get_profile(profile)
    s = _setup(prof, mix, indicators, name, n_boot=n_boot, seed=seed, alpha=alpha,
               min_stratum_firms=min_stratum_firms, min_tail_firms=min_tail_firms,
               reserved=(country_col, instrument_col, id_col))
    mix_cols, wanted = list(s.mix), list(s.indicators)
    ids = [id_col, country_col, instrument_col]
    ren = {id_col: "_id", country_col: "_c", instrument_col: "_k"}
    _frame(applications, "applications", [*ids, application_date], ids)
    apps = pd.DataFrame({v: applications[k].astype(str).to_numpy() for k, v in ren.items()})
    apps["_start"] = _dates(applications, application_date, "applications").to_numpy()
    n_undated = int(apps["_start"].isna().sum())
    if n_undated:
        raise DataError(f"{_FN}(): column {application_date!r} has {n_undated} missing date(s) of "
                        f"{len(apps)}; every application needs a date. Drop or fix those rows.")
    if decision_date in applications.columns:
        end = _dates(applications, decision_date, "applications").to_numpy()
        apps["_days"] = (end - apps["_start"]).dt.days
        n_negative = int((apps["_days"] < 0).sum())
        if n_negative:
            raise DataError(f"{_FN}(): {n_negative} application(s) of {len(apps)} have {decision_date!r} "
                            f"before {application_date!r} (negative days to decision); fix the dates.")
    if call_col in applications.columns:
        apps["_call"] = applications[call_col].to_numpy()
    source = None
    if firms is not None:
        _frame(firms, "firms", [id_col, *mix_cols], [id_col])
        n_dup = int(firms[id_col].duplicated().sum())
        if n_dup:
            raise DataError(f"{_FN}(): firms lists {n_dup} firm(s) more than once ({len(firms)} rows); it "
                            "must have one row per firm. Drop the duplicates.")
        source = pd.DataFrame({"_id": firms[id_col].astype(str).to_numpy(),
                               **{c: _labels(firms[c]).to_numpy() for c in mix_cols}})
    else:
        _mix_present(applications, "applications", mix_cols)
        for c in mix_cols:
            apps[c] = _labels(applications[c]).to_numpy()
    mixer = MixSource(tuple(mix_cols), source)
    apps_sorted = apps.assign(_row=np.arange(len(apps))).sort_values(["_start", "_row"], kind="stable")
    groups = apps[["_c", "_k"]].drop_duplicates()
    parts: list[Part] = []
    notes: list[str] = []
    dropped: list[DropRecord] = []
    computed: list[str] = []
    if "take_up" in wanted and eligibility is None:
        notes.append("take_up skipped: no eligibility frame given.")
    elif "take_up" in wanted and eligibility is not None:
        _frame(eligibility, "eligibility", [*ids, *([eligible_col] if eligible_col else [])], ids)
        elig = pd.DataFrame({v: eligibility[k].astype(str).to_numpy() for k, v in ren.items()})
        if firms is None:
            _mix_present(eligibility, "eligibility", mix_cols)
            for c in mix_cols:
                elig[c] = _labels(eligibility[c]).to_numpy()
        if eligible_col:
            elig = elig.loc[_flags(eligibility, eligible_col, "eligibility").to_numpy()]
        elig = elig.drop_duplicates(["_c", "_k", "_id"])
        units, outside = take_up_units(apps, elig, mixer)
        if outside:
            dropped.append(DropRecord("applicant firms not listed as eligible: left out of take-up",
                                      n_rows=outside, n_units=outside))
            notes.append(f"take_up: {outside} applicant firm(s) not listed as eligible are left out.")
        parts.append(rate_part(units, "take_up", s))
        computed.append("take_up")
        groups = pd.concat([groups, elig[["_c", "_k"]]]).drop_duplicates()
    if "first_time_share" in wanted and "_call" not in apps:
        notes.append(f"first_time_share skipped: no call column {call_col!r} in applications.")
    elif "first_time_share" in wanted:
        parts.append(rate_part(first_time_units(apps_sorted, mixer), "first_time_share", s))
        computed.append("first_time_share")
        notes.append("first_time_share: applications of each agency's first call year in the data are left "
                     "out (all would be first applications); history before the data window is unknown, so "
                     "the share is an upper bound.")
    days_inds = [i for i in ("median_days", "p90_days") if i in wanted]
    if "_days" not in apps and ("dropout_rate" in wanted or days_inds):
        notes.append(f"dropout_rate and days to decision skipped: no column {decision_date!r} in "
                     "applications.")
    elif "_days" in apps:
        if "dropout_rate" in wanted:
            parts.append(rate_part(dropout_units(apps_sorted, mixer), "dropout_rate", s))
            computed.append("dropout_rate")
            notes.append("dropout_rate: applications without a decision date; pending applications count "
                         "as drop-outs unless removed first.")
        if days_inds:
            decided = apps.loc[apps["_days"].notna(), ["_c", "_k", "_id", "_days"]]
            firm_mix = mixer.attach(decided[["_c", "_k", "_id"]].drop_duplicates(), apps_sorted)
            parts.append(days_part(decided, firm_mix, days_inds, s))
            computed += days_inds
    cost_inds = [i for i in ("admin_cost_per_supported_firm", "admin_cost_per_euro") if i in wanted]
    if cost_inds and admin_costs is None:
        notes.append("Cost indicators skipped: no admin_costs frame given.")
    elif cost_inds and supported_col not in applications.columns:
        notes.append(f"Cost indicators skipped: no column {supported_col!r} in applications.")
    elif cost_inds and admin_costs is not None:
        _frame(admin_costs, "admin_costs", [country_col, instrument_col, admin_cost_col],
               [country_col, instrument_col])
        if "admin_cost_per_euro" in cost_inds and amount_col not in applications.columns:
            notes.append(f"admin_cost_per_euro skipped: no column {amount_col!r} in applications.")
            cost_inds.remove("admin_cost_per_euro")
        ca = apps[["_c", "_k", "_id"]].assign(
            _sup=_flags(applications, supported_col, "applications").to_numpy(),
            _amt=(_amounts(applications, amount_col, "applications").to_numpy()
                  if amount_col in applications.columns else 0.0))
        cc = pd.DataFrame({"_c": admin_costs[country_col].astype(str).to_numpy(),
                           "_k": admin_costs[instrument_col].astype(str).to_numpy(),
                           "_cost": _amounts(admin_costs, admin_cost_col, "admin_costs").to_numpy()})
        by_call = call_col in admin_costs.columns and "_call" in apps
        if by_call:
            ca["_call"], cc["_call"] = apps["_call"].to_numpy(), admin_costs[call_col].to_numpy()
        parts.append(cost_part(ca, cc, cost_inds, by_call, s))
        computed += cost_inds
        notes.append("Cost indicators are agency totals: not adjusted for the SME mix and without interval.")
    table, entries, strata_rows = _assemble(parts, computed, groups)
    n_hidden_groups = len({(r.country, r.instrument) for r in table.itertuples() if r.status == "primary"})
    if entries:
        warnings.warn(f"{name}: {len(entries)} value(s) of {n_hidden_groups} agency-instrument group(s) "
                      f"hidden under profile {prof.name!r}; see .audit.", DisclosureWarning,
                      stacklevel=user_stack_level())
    spec = Specification(
        estimator=_FN,
        arguments={"mix": mix_cols, "indicators": wanted, "country_col": country_col,
                   "instrument_col": instrument_col, "id_col": id_col, "application_date": application_date,
                   "decision_date": decision_date, "call_col": call_col, "supported_col": supported_col,
                   "amount_col": amount_col, "eligible_col": eligible_col, "admin_cost_col": admin_cost_col,
                   "eligibility": eligibility is not None, "firms": firms is not None,
                   "admin_costs": admin_costs is not None, "min_stratum_firms": s.min_stratum,
                   "min_tail_firms": s.min_tail, "n_boot": s.n_boot, "alpha": s.alpha, "profile": prof.name,
                   "name": name},
        n_obs=len(applications), n_units=int(apps["_id"].nunique()), dropped=tuple(dropped), seed=s.seed)
    return AdjustedBenchmark(
        name=name, table=table, stratification=pd.DataFrame(strata_rows, columns=list(_STRATA_COLUMNS)),
        audit=AuditLog(tuple(entries), prof.name), profile=prof, specification=spec, alpha=s.alpha,
        n_boot=s.n_boot, notes=tuple(dict.fromkeys(notes + mixer.notes + [
            n for p in parts for n in p.notes] + _nested_note(strata_rows))))
