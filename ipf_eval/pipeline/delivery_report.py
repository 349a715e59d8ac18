"""The synthesis' agency comparison: how each agency delivers, raw and adjusted for its SME mix.

The forum never holds an agency's applications: each evaluation records disclosure-checked counts by
SME-mix stratum (the ``delivery_mix`` evidence table, carried in the evidence bundles), and
:func:`agency_benchmark` pools them with
:func:`~ipf_eval.evidence.delivery_aggregates.adjusted_benchmark_from_aggregates`.  This module writes
the result for a forum delegate: per instrument one table of agencies with each indicator raw and
adjusted, in percent, days or euro with their intervals, and the chart of administrative cost against
reach (:mod:`ipf_eval.pipeline.delivery_figure`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import IpfEvalError
from ipf_eval.evidence.delivery_mix import AdjustedBenchmark
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text, data_banner

__all__ = ["INDICATOR_WORDS", "METHOD", "agency_benchmark", "delivery_benchmark_section"]

_E = html.escape

#: Each indicator in words, as a table column says it.
INDICATOR_WORDS: Mapping[str, str] = {
    "take_up": "take-up among eligible firms",
    "first_time_share": "first-time applicants",
    "dropout_rate": "applications dropped before a decision",
    "median_days": "median days to decision",
    "p90_days": "90th percentile of days to decision",
    "admin_cost_per_supported_firm": "administrative cost per supported firm",
    "admin_cost_per_euro": "administrative cost per euro granted",
}

METHOD = ("Agencies serve different firms: one mostly micro firms in services, another medium-sized "
          "manufacturers. Raw delivery figures then differ even where the agencies deliver alike. Each "
          "figure is shown raw and adjusted for the agency's SME mix (indirect standardisation on size class "
          "and sector): the adjusted figure compares the agency with what all agencies together achieve "
          "with firms like its own. The adjustment uses only counts by size class and sector that each "
          "agency's evidence bundle carries, never its applications. Where one agency serves most of the "
          "firms of a kind, the reference leans towards that agency, so adjusted gaps between agencies are, "
          "if anything, understated. Administrative costs are agency totals: they are shown raw. Sectors, "
          "regions and the quality of the firms applying are not the only differences between agencies; an "
          "adjusted gap is a question for the peer review, not a verdict.")


@keyword_options
def agency_benchmark(records: Sequence[Mapping[str, Any]], *, countries: Sequence[str] | None = None,
                     alpha: float = 0.05) -> AdjustedBenchmark | None:
    """Pool the evidence records' ``delivery_mix`` counts into the mix-adjusted agency benchmark.

    Parameters
    ----------
    records
        Evidence records (:func:`ipf_eval.evidence.read_evidence`, or a bundle's); not modified.
    countries
        The agencies compared (``None``: every one with counts).
    alpha
        The intervals' level is ``1 - alpha``.

    Returns
    -------
    AdjustedBenchmark or None
        ``None`` when no record carries delivery counts (no agency had applications data).
    """
    from ipf_eval.evidence import evidence_table
    from ipf_eval.evidence.delivery_aggregates import adjusted_benchmark_from_aggregates

    counts = evidence_table(records, "delivery_mix")
    if countries is not None:
        counts = counts.loc[counts["country"].isin(list(countries))]
    if not len(counts):
        return None
    return adjusted_benchmark_from_aggregates(counts.reset_index(drop=True), alpha=alpha)


def _value(x: Any, unit: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    v = float(x)
    if unit == "share":
        return fmt.percent(v)
    if unit == "days":
        return f"{v:.0f} days"
    if unit == "euro per euro":
        return f"{100 * v:.1f} cents"
    return fmt.euro(v)


def _with_interval(row: Mapping[str, Any], which: str, unit: str, level: str) -> str:
    value = _value(row[which], unit)
    if not value:
        return ""
    low, high = _value(row[f"{which}_ci_low"], unit), _value(row[f"{which}_ci_high"], unit)
    return f"{value} ({level} interval {low} to {high})" if low and high else value


@keyword_options
def delivery_benchmark_section(benchmark: AdjustedBenchmark | None, *,
                               labels: Mapping[str, str] | None = None,
                               data_sources: Sequence[str] = ()) -> list[object]:
    """Return the synthesis section comparing the agencies' delivery, raw and adjusted for SME mix.

    Parameters
    ----------
    benchmark
        From :func:`agency_benchmark` (``None``: a sentence saying that no agency sent delivery counts).
    labels
        The instruments in words, by name.
    data_sources
        The ``data_source`` of the evidence behind it, for the simulated-data banner.

    Returns
    -------
    list
        The banner when the figures are simulated, the method in words, per instrument a heading, a
        :class:`~ipf_eval.pipeline.display.Table` (agency, indicator, raw with its interval, expected from
        the agency's mix, adjusted with its interval, all agencies together) and the chart of administrative
        cost against reach where it can be drawn; then the benchmark's notes.
    """
    if benchmark is None:
        return [Text("No agency's evidence carries delivery counts by size class and sector (none had "
                     "applications data with a size class), so the agencies' delivery cannot be compared "
                     "here.")]
    from ipf_eval.pipeline.delivery_figure import admin_cost_vs_reach_figure

    out: list[object] = []
    banner = data_banner(list(data_sources))
    if banner is not None:
        out.append(banner)
    out.append(Text(METHOD))
    level = f"{100 * (1 - benchmark.alpha):.10g} %"
    table = benchmark.table
    shown = table.loc[table["status"] == "published"]
    order = {k: i for i, k in enumerate(INDICATOR_WORDS)}
    for inst, grp in shown.groupby("instrument", sort=True):
        name = (labels or {}).get(str(inst)) or str(inst).replace("_", " ").capitalize()
        records = [{str(k): v for k, v in r.items()} for r in grp.to_dict(orient="records")]
        indicators = sorted({str(r["indicator"]) for r in records}, key=lambda k: order.get(k, 99))
        same = [k for k in indicators if len({round(float(r["raw"]), 9) for r in records
                                              if r["indicator"] == k}) == 1 and
                len([r for r in records if r["indicator"] == k]) > 1]
        columns = [k for k in indicators if k not in same]
        rows: dict[str, dict[str, str]] = {}
        reference: dict[str, str] = {"agency": "all agencies"}
        for r in records:
            k = str(r["indicator"])
            if k not in columns:
                continue
            unit = str(r["unit"])
            if r["adjustment"] != "none":
                cell = (f"{_with_interval(r, 'adjusted', unit, level)}; raw {_value(r['raw'], unit)}"
                        if _value(r["adjusted"], unit) else f"raw {_value(r['raw'], unit)}")
            else:
                cell = f"{_value(r['raw'], unit)} (not adjusted: an agency total)"
            column = INDICATOR_WORDS.get(k, k)
            rows.setdefault(str(r["country"]), {"agency": str(r["country"])})[column] = cell
            reference[column] = _value(r["reference"], unit)
        frame = pd.DataFrame([rows[c] for c in sorted(rows)] + [reference],
                             columns=["agency", *[INDICATOR_WORDS.get(k, k) for k in columns]]).fillna("")
        out.append(Text(f"**{_E(name)}**"))
        out.append(Table(frame, (
            "each agency's counts by size class and sector from its evidence bundle, pooled by the forum; "
            "adjusted for SME mix: observed over expected (the rates of all agencies in the agency's own "
            "mix) times the rate of all agencies, for days the pooled quantile plus observed minus "
            f"expected, with its {level} interval (analytic); raw: as observed; cells with too few firms are "
            "merged or withheld")))
        if same:
            first = {k: next(r for r in records if r["indicator"] == k) for k in same}
            words = [f"{INDICATOR_WORDS.get(k, k)} ({_value(first[k]['raw'], str(first[k]['unit']))})"
                     for k in same]
            out.append(Text("The same for every agency, so not compared: " + "; ".join(_E(w) for w in words)
                            + "."))
        try:
            out.append(admin_cost_vs_reach_figure(benchmark, instrument=str(inst)))
        except IpfEvalError:
            out.append(Text("No chart of administrative cost against reach: no agency has both a published "
                            "adjusted take-up and a published administrative cost for this instrument."))
    hidden = table.loc[table["status"] != "published"]
    if len(hidden):
        out.append(Text(f"{len(hidden)} figures are not shown: too few firms behind them, or not estimable."))
    if benchmark.notes:
        out.append(Text("**Notes:**\n\n" + "\n".join(f"- {_E(n)}" for n in dict.fromkeys(benchmark.notes))))
    return out
