"""The sections of an instrument report, built from an :class:`~ipf_eval.evidence.InstrumentEvidence`.

Each function returns what one section of ``notebooks/instrument_evaluation`` displays (tables with their
source lines, notes, text), so the notebook only narrates and every sentence that depends on a result is
here, where tests reach it.  Names from parameter files are escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.evidence import InstrumentEvidence
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.pipeline.formatting import p_text
from ipf_eval.pipeline.grade_box import grade_box, grades_table

__all__ = [
    "ASSUMPTIONS",
    "ReportNames",
    "appendix",
    "cost_section",
    "data_section",
    "design_section",
    "estimates_section",
    "event_study_caption",
    "event_study_figure",
    "findings",
    "grade_box",
    "grade_section",
    "header",
    "heterogeneity_section",
    "matched_section",
    "pretrend_text",
    "rd_figure",
    "rd_plot_caption",
    "reach_section",
    "robustness_section",
]

#: The identifying assumption of each design, in words.
ASSUMPTIONS: dict[str, str] = {
    "open_call": "Parallel trends: without support, supported firms' outcomes would have evolved like those "
                 "of eligible firms not yet supported, conditional on baseline age and size; no "
                 "anticipation.",
    "lottery": "Random assignment among applicants; losers' outcomes show what winners' would have been.",
    "scored_call": "Near the published threshold, firms just above and just below are comparable; no "
                   "manipulation of scores.",
}

_E = html.escape
_EST = ["estimate", "std_error", "ci_low", "ci_high"]


@dataclass(frozen=True)
class ReportNames:
    """Display names from the parameter files: country and agency, instrument label, context."""

    country_name: str
    agency: str
    instrument_label: str
    context: str = ""


def _level(ev: InstrumentEvidence) -> str:
    return f"{100 * (1 - ev.instrument.estimator.alpha):.0f}%"


def _notes(ev: InstrumentEvidence, *steps: str) -> Text | None:
    """Point to the technical appendix where a step raised notes (the notes themselves go there)."""
    n = len({t for s in steps for t in ev.notes.get(s, ())})
    if not n:
        return None
    return Text(f"<small>{n} technical note{'s' if n > 1 else ''} on this step: see the technical "
                "appendix.</small>")


@keyword_options
def header(ev: InstrumentEvidence, names: ReportNames) -> Text:
    """Return the report's heading: country, instrument, agency, design, disclosure profile and context."""
    return Text(f"## {_E(names.country_name)} ({_E(ev.country)}): {_E(names.instrument_label)}\n\n"
                f"Agency: {_E(names.agency)}. Assignment design: **{_E(ev.instrument.design)}**. "
                f"Disclosure profile: `{_E(ev.disclosure_profile)}`.\n\n{_E(names.context)}")


@keyword_options
def data_section(ev: InstrumentEvidence, names: ReportNames) -> list[object]:
    """Firms, years and cohorts of the sample, and firms by size class (disclosure-protected)."""
    s = ev.sample
    out: list[object] = [_notes(ev, "data"),
                         Text(f"{s.n_firms:,} firms observed in {len(s.periods)} years ({s.periods[0]}-"
                              f"{s.periods[-1]}); {s.n_cohorts} support cohorts.")]
    if s.by_size_class is not None:
        out.append(Table(s.by_size_class.table,
                         f"evaluation sample of {names.instrument_label}, {names.country_name}; firms "
                         f"counted once; cells below the {ev.disclosure_profile} threshold suppressed "
                         f"({s.by_size_class.n_suppressed} cells)"))
    return out


@keyword_options
def estimates_section(ev: InstrumentEvidence, names: ReportNames) -> list[object]:
    """Return the staggered DiD estimate of every outcome."""
    est = ev.instrument.estimator
    did = ev.estimates.loc[ev.estimates["estimator"].str.startswith("att_gt")]
    order = {o: i for i, o in enumerate(ev.instrument.outcomes)}
    did = did.sort_values("outcome", key=lambda s: s.map(order), kind="mergesort")
    estimators = ", ".join(sorted(set(did["estimator"])))
    return [_notes(ev, "estimates"),
            Table(did[["outcome", "estimate", "std_error", "ci_low", "ci_high", "p_value"]],
                  f"{estimators} ({est.control_group}, base period {est.base_period}); {_level(ev)} "
                  f"{'bootstrap' if est.bootstrap else 'analytic'} intervals; {names.country_name}, "
                  f"{names.instrument_label}")]


@keyword_options
def design_section(ev: InstrumentEvidence) -> list[object]:
    """Return the design's own estimator (RCT or RDD), or why an open call has none."""
    d = ev.design_estimates
    if not d.estimator and ev.instrument.design == "open_call":
        return [Text("An open call has no random or score-based assignment: the staggered DiD above is the "
                     "design's estimator.")]
    out: list[object] = [_notes(ev, "design")]
    if d.ran:
        rows = ev.estimates.loc[ev.estimates["estimator"] == d.estimator]
        order = {o: i for i, o in enumerate(ev.instrument.outcomes)}
        rows = rows.sort_values("outcome", key=lambda s: s.map(order), kind="mergesort")
        module = "ipf_eval.experiments.rct" if d.estimator == "rct" else "ipf_eval.discontinuity.rdd"
        out.append(Table(rows[["outcome", "estimator", "term", *_EST, "p_value", "headline"]],
                         f"{module} on {d.n_applicants:,} applicants; change from the year before the call "
                         "to the year of the call; headline: the estimate the evidence grade belongs to (it "
                         "replaces the DiD as the outcome's headline in the country report and the "
                         "synthesis)"))
    return out


@keyword_options
def event_study_figure(ev: InstrumentEvidence, names: ReportNames) -> tuple[Any, str, str] | None:
    """Return the primary outcome's event-study figure, its alt text and caption (``None`` without one)."""
    from ipf_eval.pipeline import figures
    from ipf_eval.pipeline.formatting import outcome_display

    if ev.event_study is None:
        return None
    shown = outcome_display(ev.instrument.primary)
    unit = shown.unit or ("units" if shown.scale == "level" else None)  # a level outcome given no unit
    fig = figures.event_study_figure(ev.event_study, outcome_label=shown.label, scale=shown.scale, unit=unit)
    alt = figures.event_study_alt(ev.event_study, outcome_label=shown.label, scale=shown.scale, unit=unit)
    return fig, alt, event_study_caption(ev, names)


@keyword_options
def rd_figure(ev: InstrumentEvidence, names: ReportNames) -> tuple[Any, str, str] | None:
    """Return a scored call's RD plot, its alt text and caption (``None`` without one)."""
    from matplotlib.figure import Figure as MplFigure

    from ipf_eval.pipeline.formatting import outcome_display

    if ev.rd_plot is None:
        return None
    label = outcome_display(ev.instrument.primary).label
    fig = MplFigure(figsize=(7.0, 3.6))
    ev.rd_plot.plot(ax=fig.subplots(), ylabel=f"One-year change in {label}")
    return fig, ev.rd_plot.alt_text(label=f"the one-year change in {label}"), rd_plot_caption(ev, names)


@keyword_options
def rd_plot_caption(ev: InstrumentEvidence, names: ReportNames) -> str:
    """Return the caption of the RD plot of a scored call's primary outcome (what it shows, in words)."""
    plot = ev.rd_plot
    if plot is None:
        return ""
    alt = plot.alt_text(label=f"the one-year change in {ev.instrument.primary}")
    return (f"{alt} {names.instrument_label} in {names.country_name}; source: "
            "ipf_eval.discontinuity.rd_plot_data (rdrobust's rdplot, quantile-spaced bins).")


@keyword_options
def event_study_caption(ev: InstrumentEvidence, names: ReportNames) -> str:
    """Return the caption of the primary outcome's event-study figure."""
    from ipf_eval.pipeline.formatting import outcome_display

    label = outcome_display(ev.instrument.primary).label
    return (f"Effect of {names.instrument_label} on {label} by years since support, {names.country_name}; "
            f"{_level(ev)} intervals; {ev.sample.n_supported:,} supported firms; source: staggered "
            "difference-in-differences (att_gt), aggregated by event time.")


@keyword_options
def pretrend_text(ev: InstrumentEvidence) -> Text | None:
    """Return the pre-trend check in words (``None`` without pre-periods)."""
    p = ev.pretrend
    if p is None:
        return None
    verdict = "does not reject" if p.passed else "rejects"
    wald = (f" The joint Wald test of all {p.wald_df} pre-period ATT(g, t) gives {p_text(p.wald_p_value)} "
            f"(over-sized with small cohorts; shown for comparison)." if p.wald_p_value is not None else "")
    pw = ev.pretrend_power
    power = ("" if pw is None else
             f" Its power (Roth 2022): it detects a linear pre-trend of {pw.slope:.3g} per year 80% of the "
             f"time (such a trend, continued after support, would bias the effect by {pw.bias:.3g}), and a "
             f"trend large enough to explain the effect away {pw.power_at_effect:.0%} of the time.")
    check = ev.did_grade.check("pre_trends")
    return Text(f"Pre-trend test (Bonferroni over {p.n_event_times} pre-support event times): "
                f"{p_text(p.p_value)}; it **{verdict}** parallel trends at the 5% level.{power} The "
                f"pre_trends check {check.status}: {_E(check.reason)}.{wald}")


@keyword_options
def grade_section(ev: InstrumentEvidence) -> list[object]:
    """Return every check behind every headline's grade, with its figure and reason."""
    return [_notes(ev, "grade"), *grades_table(ev)]


@keyword_options
def robustness_section(ev: InstrumentEvidence) -> list[object]:
    """TWFE beside Callaway-Sant'Anna and, when they differ, the Goodman-Bacon decomposition."""
    r = ev.robustness
    if r is None:
        return []
    primary = ev.instrument.primary
    out: list[object] = [_notes(ev, "robustness"),
                         Table(r.table, f"{primary}; TWFE with firm and year effects, clustered by firm")]
    if r.differ is None:
        return out
    if r.differ:
        gap = abs(float(r.table["estimate"].iloc[0]) - float(r.table["estimate"].iloc[1]))
        out.append(Text(f"TWFE and Callaway-Sant'Anna differ by {gap:.3f}, more than twice the standard "
                        "error of the difference. The Goodman-Bacon decomposition shows which 2x2 "
                        "comparisons drive TWFE (firms observed in every year)."))
        if r.bacon is not None:
            out.append(Table(r.bacon.by_type, f"Goodman-Bacon decomposition of TWFE on {primary}, balanced "
                                              f"panel of {r.bacon.n_units} firms; TWFE estimate "
                                              f"{r.bacon.twfe_estimate:.3f}"))
    else:
        out.append(Text("TWFE and Callaway-Sant'Anna agree within twice the standard error of the "
                        "difference."))
    return out


@keyword_options
def matched_section(ev: InstrumentEvidence) -> list[object]:
    """Callaway-Sant'Anna's ATT(g, g) and the matched DiD per support cohort."""
    m = ev.matched
    est = ev.instrument.estimator
    if m is None:
        if ev.event_study is not None and not est.covariates:
            return [Text("> Matched DiD: no baseline covariates to match on (parameter `covariates` is "
                         "empty).")]
        return []
    out: list[object] = [_notes(ev, "matched")]
    if len(m.rows):
        out.append(Table(
            m.rows,
            f"{ev.instrument.primary}, change from the year before support to the year of support, per "
            f"support cohort: ATT(g, g) of att_gt (its covariate adjustment in brackets; {est.control_group} "
            "comparison firms; analytic SE) and ipf_eval.weighting.conditional_did(method='match'): one "
            f"nearest neighbour on the logit propensity score of {', '.join(est.covariates)}, with "
            "replacement, caliper 0.2 SD, Abadie-Imbens SE (score treated as known), effect on the matched "
            "supported firms. 'all (event time 0)': Callaway-Sant'Anna's event-time-0 aggregation and the "
            "matched estimates averaged with the same cohort-size weights; its SE is the sum of weighted "
            f"cohort SEs, an upper bound because the cohorts share comparison firms; {_level(ev)} intervals"))
    if m.partial:
        out.append(Text(f"Cohort(s) {', '.join(m.partial)}: some supported firms have no comparison firm "
                        "within the caliper; the matched row estimates the effect on the supported firms "
                        "that were matched (its count of supported firms)."))
    if m.skipped:
        tail = (". No combined row: it would not cover the same cohorts as Callaway-Sant'Anna's "
                "event-time-0 effect." if len(m.rows) else ".")
        out.append(Text("Cohorts not shown: " + "; ".join(_E(x) for x in m.skipped) + tail))
    elif not len(m.rows):
        out.append(Text("No support cohort to compare."))
    return out


_ESTIMATED_BY = {"rct": "the lottery", "rdd": "the scored call's discontinuity"}


@keyword_options
def heterogeneity_section(ev: InstrumentEvidence) -> list[object]:
    """Return each outcome's effect by size class, with the estimator of its headline, in units."""
    from ipf_eval.pipeline import formatting as fmt

    het = ev.tables["heterogeneity"]
    rows = []
    for r in het.to_dict(orient="records"):
        shown = fmt.outcome_display(str(r["outcome"]))
        estimated = r["estimate"] is not None and pd.notna(r["estimate"])
        effect = (fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                      scale=shown.scale, unit=shown.unit).text if estimated else "")
        by = r["estimator"] if isinstance(r["estimator"], str) else ""
        rows.append({"outcome": shown.label, "size_class": r["size_class"],
                     "estimated_by": _ESTIMATED_BY.get(by, "staggered DiD" if by else ""),
                     "effect": effect, "note": r["note"]})
    return [_notes(ev, "heterogeneity"),
            Table(pd.DataFrame(rows, columns=["outcome", "size_class", "estimated_by", "effect", "note"]),
                  "each outcome's effect within micro, small and medium firms, estimated as its headline "
                  "is (the design's own estimator where it ran, otherwise the staggered DiD), analytic "
                  "standard errors; the forum reweights these to each member's SME mix")]


@keyword_options
def cost_section(ev: InstrumentEvidence) -> list[object]:
    """Input additionality (R&D per subsidy euro) and the cost per additional unit."""
    from IPython.display import HTML

    out: list[object] = [_notes(ev, "costs")]
    if ev.input_additionality is not None:
        out += [HTML(ev.input_additionality.summary().as_html()),
                Text("<small>Source: ipf_eval.evidence.input_additionality, R&D effect per subsidy "
                     "euro</small>")]
    costs = ev.tables["costs"]
    if not len(costs):
        out.append(Text("No outcome of this instrument has a cost-effectiveness unit, or no effect was "
                        "estimated."))
        return out
    from ipf_eval.pipeline import formatting as fmt
    from ipf_eval.pipeline.summary import cost_label, cost_sentence, money

    heads = ev.headlines
    lines = [c for c in (cost_sentence({str(k): v for k, v in r.items()})
                         for r in heads.to_dict(orient="records")) if c]
    out.append(Text("\n".join(f"- {_E(c)}" for c in lines)))
    shown = costs.assign(cost_per_unit=costs["cost_per_unit"].map(money), ci_low=costs["ci_low"].map(money),
                         ci_high=costs["ci_high"].map(money), unit=costs["unit"].map(cost_label),
                         outcome=costs["outcome"].map(lambda o: fmt.outcome_display(str(o)).label))
    shown = shown[["outcome", "estimator", "term", "evidence_grade", "unit", "cost_per_unit", "ci_low",
                   "ci_high"]]
    out.append(Table(shown, f"cost of {money(ev.costs.per_firm)} per supported firm (subsidy and "
                            f"administration) over each outcome's headline effect per supported firm (the "
                            f"design's own estimator where it ran); {ev.sample.n_supported:,} supported "
                            "firms; exact (Fieller) intervals for a known cost; no cost where the effect's "
                            "interval is not above zero"))
    return out


@keyword_options
def reach_section(ev: InstrumentEvidence, names: ReportNames) -> list[object]:
    """Applications by call year and delivery indicators."""
    r = ev.reach
    if r is None:
        return [Text("Skipped: this data source has no applications data, so reach and the delivery "
                     "indicators (applications, time to decision, acceptance rate) are not reported. Add an "
                     "applications file to the country's data block to include them.")]
    return [_notes(ev, "reach"),
            Table(r.table.table, f"applications to {names.instrument_label} in {names.country_name} by call "
                                 f"year (firms counted); median decision time {r.median_decision_days:.0f} "
                                 f"days; {r.acceptance_rate:.0%} of applications accepted")]


@keyword_options
def findings(ev: InstrumentEvidence) -> Text:
    """Each outcome's DiD and design estimates in one line each, and the grade."""
    alpha = ev.instrument.estimator.alpha
    order = {o: i for i, o in enumerate(ev.instrument.outcomes)}
    rows = ev.estimates.assign(_did=~ev.estimates["estimator"].str.startswith("att_gt"),
                               _o=ev.estimates["outcome"].map(order))
    rows = rows.sort_values(["_did", "_o"], kind="mergesort")
    lines = []
    for r in rows.to_dict(orient="records"):
        if not str(r["estimator"]).startswith("att_gt") and r["term"] not in ("itt", "late", "robust"):
            continue
        sig = "statistically significant" if r["p_value"] < alpha else "not statistically significant"
        lines.append(f"- **{_E(r['outcome'])}** ({_E(str(r['estimator']))}, {_E(str(r['term']))}"
                     f"{'; headline' if r['headline'] else ''}): {r['estimate']:+.3f} ({_level(ev)} CI "
                     f"{r['ci_low']:+.3f} to {r['ci_high']:+.3f}), {sig}.")
    lines.append(f"- Evidence grade of the headline of {_E(ev.instrument.primary)}: Maryland level "
                 f"**{ev.grade.level}** ({_E(ev.grade.oecd_step_label)}); each outcome's headline has its "
                 "own grade (above), which the country report and the synthesis use.")
    return Text("\n".join(lines))


@keyword_options
def appendix(ev: InstrumentEvidence) -> list[object]:
    """Return the peer-review appendix: design, assumptions, diagnostics and the grade's reasons."""
    est = ev.instrument.estimator
    diag = pd.DataFrame([{"check": c.name, "verdict": c.status, "reason": c.reason} for c in ev.grade.checks],
                        columns=["check", "verdict", "reason"])
    own = {"lottery": "the RCT analysis of the lottery (ipf_eval.rct)",
           "scored_call": "a regression discontinuity at the threshold "
                          "(ipf_eval.rdd)"}.get(ev.instrument.design)
    did_name = f"Callaway-Sant'Anna ({est.est_method}), comparison: {est.control_group}"
    graded = own if (own and ev.design_estimates.ran) else did_name
    reasons = "; ".join(ev.grade.reasons) or "every check the design requires passed"
    return [Text(f"**Design.** {_E(ev.instrument.design)}; graded estimator: {graded}; staggered DiD "
                 f"(Callaway-Sant'Anna, {est.est_method}, {est.control_group}) alongside.\n\n"
                 f"**Identifying assumptions.** {ASSUMPTIONS[ev.instrument.design]}"),
            Table(diag, "the checks of the headline's grade, computed by ipf_eval.evidence.checks"),
            Text(f"**Grade.** Maryland level {ev.grade.level} (design level {ev.grade.base_level}); "
                 f"{_E(reasons)}.")]
