"""The per-instrument forum page in words and units: the agencies side by side, and each one's peer review.

The rules (which estimate represents an agency, what a design can show, when two estimates diverge and what
explains it, which questions a check raises) live in :mod:`ipf_eval.synthesis.peer_review`; this module
writes their results the way every report does (:mod:`ipf_eval.pipeline.formatting`: percent, percentage
points, euro; :func:`ipf_eval.pipeline.summary.findings_rows` for the finding, grade and cost of each
agency) as display objects for ``notebooks/forum_instrument.py``.  Names that come from data or parameter
files are escaped; the evaluations' own reasons pass disclosure control.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure import WITHHELD_MESSAGE, publishable_text, run_identifiers
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.pipeline.forum_report import heterogeneity_words
from ipf_eval.pipeline.summary import Section, findings_rows
from ipf_eval.synthesis.forum import pooling_family
from ipf_eval.synthesis.peer_review import (
    DIVERGENCE_KINDS,
    LARGE_I2,
    design_label,
    design_limits,
    divergences,
    instrument_comparison,
    review_questions,
)

__all__ = ["comparison_section", "costs_section", "design_limits_section", "peer_review_section",
           "summary_section"]

_E = html.escape

#: How each estimator family reads in a table.
_ESTIMATED_BY: Mapping[str, str] = {"att_gt": "staggered DiD", "rct late": "lottery, effect on users",
                                    "rct itt": "lottery, effect of winning",
                                    "rdd robust": "scored call, at the threshold"}
_DESIGN_SHORT: Mapping[str, str] = {"did": "staggered DiD", "lottery": "lottery", "rdd": "scored call"}


def _estimated_by(row: Mapping[Any, Any]) -> str:
    if not isinstance(row.get("estimator"), str) or not isinstance(row.get("term"), str):
        return fmt.MISSING
    family = pooling_family(str(row["estimator"]), str(row["term"]))
    return _ESTIMATED_BY.get(family, family)


def _days(x: Any) -> str:
    if x is None or pd.isna(x):
        return fmt.MISSING
    return fmt.count(float(x)) if float(x).is_integer() else fmt.number(float(x))


def _out_of_date(row: Mapping[Any, Any]) -> str:
    if not bool(row.get("stale", False)):
        return "no"
    return f"yes: the evidence of {str(row.get('created') or '')[:10]}; the latest run failed"


@keyword_options
def summary_section(table: pd.DataFrame, records: Sequence[Mapping[str, Any]], *, instrument: str,
                    include_stale: bool = False, alpha: float = 0.05) -> list[object]:
    """Return the page's first section (``<section id="summary">``): the finding of each agency, in short.

    Parameters
    ----------
    table
        From :func:`ipf_eval.synthesis.peer_review.instrument_comparison` (or ``empty_comparison``).
    records
        The evidence records the page is built from (for the number of questions for the meeting).
    instrument
        The instrument of the page.
    include_stale
        Whether out-of-date evaluations count (the batch's ``include_stale``).
    alpha
        Level of the intervals shown.

    Returns
    -------
    list
        One line per agency (its primary outcome's effect in units with its interval and the evidence
        grade), then how many questions the peer review raises for the meeting.
    """
    if not len(table):
        return [Section("summary", "In short", ("No agency's evaluation of this instrument reached the forum "
                                                "in this run: see what was left out below.",))]
    heads = table.loc[table["headline"].astype(bool)]
    found = findings_rows(heads, {(str(r["country"]), str(r["instrument"])): str(r["outcome"])
                                  for r in heads.to_dict(orient="records")}, alpha=alpha)
    items = [f"{r['country']} ({r['outcome']}): {r['effect']}; evidence {r['grade']}."  # Section escapes
             for r in found.to_dict(orient="records")]
    codes = [str(c) for c in table["country"]]
    asked = sum(len(review_questions(records, instrument=instrument, host=c, countries=codes,
                                     include_stale=include_stale)) for c in codes)
    items.append(f"The peer review below raises {asked} question{'' if asked == 1 else 's'} for the "
                 "meeting, from checks that failed or could not be computed and from estimates that diverge."
                 if asked else "The peer review below raises no question from the checks or divergences.")
    return [Section("summary", "In short", tuple(items))]


@keyword_options
def comparison_section(table: pd.DataFrame, *, alpha: float = 0.05) -> list[object]:
    """Return the agencies side by side: one row per agency evaluating the instrument.

    Parameters
    ----------
    table
        From :func:`ipf_eval.synthesis.peer_review.instrument_comparison`.
    alpha
        Level of the intervals shown.

    Returns
    -------
    list
        A lead paragraph, the table (the primary outcome's headline effect in units with its interval, how
        it was estimated, the evidence grade, the cost per outcome where the effect is distinguishable from
        zero, applications, supported firms, median days to a decision and acceptance rate, the data source
        and whether the evidence is out of date; a delivery figure the agency did not supply is shown as
        missing, never as zero) and notes when the rows estimate different things or differ in outcome.
    """
    if not len(table):
        return [Text("No agency has evidence on this instrument.")]
    label = str(table["label"].iloc[0])
    heads = table.loc[table["headline"].astype(bool)]
    found = findings_rows(heads, {(str(r["country"]), str(r["instrument"])): str(r["outcome"])
                                  for r in heads.to_dict(orient="records")}, alpha=alpha)
    by_country = {str(r["country"]): r for r in found.to_dict(orient="records")}
    rows = []
    for r in table.to_dict(orient="records"):
        f = by_country.get(str(r["country"]), {})
        rows.append({"country": r["country"], "outcome": f.get("outcome", fmt.MISSING),
                     "effect": f.get("effect", "no headline estimate"), "estimated_by": _estimated_by(r),
                     "grade": f.get("grade", fmt.MISSING),
                     "cost": f.get("cost") or "no cost unit for this outcome",
                     "applications": fmt.count(r["applications"]),
                     "supported_firms": fmt.count(r["n_supported"]),
                     "median_days_to_decision": _days(r["median_decision_days"]),
                     "acceptance_rate": fmt.percent(r["acceptance_rate"], decimals=0),
                     "data_source": r["data_source"] if isinstance(r["data_source"], str) else fmt.MISSING,
                     "out_of_date": _out_of_date(r)})
    codes = ", ".join(_E(str(c)) for c in table["country"])
    out: list[object] = [
        Text(f"**{_E(label)}**, evaluated by {len(table)} "
             f"agenc{'y' if len(table) == 1 else 'ies'} ({codes})."),
        Table(pd.DataFrame(rows),
              f"each agency's evidence record of {label}: the headline estimate of the instrument's primary "
              "outcome (the design's own estimator, the one its evidence grade belongs to) with its "
              f"{100 * (1 - alpha):.0f} % interval; Maryland grade (1-5); cost per additional unit counting "
              "the subsidy and the agency's administration, given only where the effect is distinguishable "
              "from zero; applications, median days from application to decision and acceptance rate from "
              f"the agency's applications data ({fmt.MISSING} where it supplied none)")]
    shown = {str(f) for f in found["outcome"]}
    if len(shown) > 1:
        out.append(Text("The agencies' rows are about different outcomes (" + ", ".join(_E(s) for s in
                                                                                    sorted(shown))
                        + "): an agency without a headline estimate of the primary outcome shows its first "
                          "one instead."))
    families = {_estimated_by(r) for r in heads.to_dict(orient="records")}
    if len(families) > 1:
        out.append(Text("The rows estimate different things (" + ", ".join(_E(f) for f in sorted(families))
                        + "): a DiD row is the average effect on supported firms over the years since "
                          "support, a lottery's row the one-year change for its applicants, a scored call's "
                          "the one-year change at the threshold. Compare them with this in mind."))
    return out


@keyword_options
def costs_section(rows: pd.DataFrame, *, alpha: float = 0.05) -> list[object]:
    """Return the cost per outcome of every outcome the agencies price, one row per agency.

    Parameters
    ----------
    rows
        From :func:`ipf_eval.synthesis.peer_review.costed_headlines`.
    alpha
        Level of the intervals behind the rule.

    Returns
    -------
    list
        A table with one column per priced outcome: the cost per additional unit where the effect is
        distinguishable from zero, otherwise why none is given
        (:func:`ipf_eval.pipeline.summary.findings_rows`); a dash where the agency does not price that
        outcome.
    """
    if not len(rows):
        return [Text("No agency prices an outcome of this instrument (no cost per outcome).")]
    wide: dict[str, dict[str, str]] = {str(c): {"country": str(c)} for c in sorted(set(rows["country"]))}
    labels = {}
    for outcome in sorted(set(rows["outcome"])):
        labels[outcome] = fmt.outcome_display(str(outcome)).label
        mine = rows.loc[rows["outcome"] == outcome]
        found = findings_rows(rows, {(str(c), str(i)): str(outcome)
                                     for c, i in zip(mine["country"], mine["instrument"], strict=True)},
                              alpha=alpha)
        for r in found.to_dict(orient="records"):
            wide[str(r["country"])][labels[outcome]] = str(r["cost"])
    frame = pd.DataFrame(list(wide.values())).reindex(columns=["country", *labels.values()])
    return [Table(frame.fillna(fmt.MISSING),
                  "each agency's evidence record: programme cost (subsidy and the agency's administration) "
                  "per additional unit its headline estimate implies; given only where the effect is "
                  "distinguishable from zero")]


def _units(outcome: str, estimate: float, low: float, high: float, alpha: float) -> str:
    shown = fmt.outcome_display(outcome)
    return fmt.effect_in_units(float(estimate), float(low), float(high), scale=shown.scale, unit=shown.unit,
                               alpha=alpha).text


def _design_of(row: Mapping[Any, Any]) -> str:
    design = row.get("grade_design")
    return str(design) if isinstance(design, str) else str(row.get("design"))


def _reason(text: str) -> str:
    if not text:
        return ""
    public = publishable_text(text, identifiers=run_identifiers())
    return "" if public == WITHHELD_MESSAGE else f" (The evaluation recorded: {public}.)"


def _limits_table(table: pd.DataFrame, host: str | None) -> Table:
    """Return what each design behind the agencies' headline estimates can and cannot show (host's first)."""
    designs: dict[str, tuple[str, list[str]]] = {}
    for r in table.to_dict(orient="records"):
        design = _design_of(r)
        designs.setdefault(design_label(design), (design, []))[1].append(str(r["country"]))
    limits = []
    for name, (design, agencies) in sorted(designs.items(), key=lambda kv: (host not in kv[1][1], kv[0])):
        can, cannot = design_limits(design)
        limits.append({"design": name, "agencies": ", ".join(agencies), "can_show": can,
                       "cannot_show": cannot})
    return Table(pd.DataFrame(limits), "what the comparison behind each agency's headline estimates "
                                       "identifies, and what it leaves open, from the assumptions of its "
                                       "design")


@keyword_options
def design_limits_section(records: Sequence[Mapping[str, Any]], *, instrument: str,
                          countries: Sequence[str] | None = None) -> list[object]:
    """Return, once for the page, what each design behind the agencies' estimates can and cannot show.

    Parameters
    ----------
    records
        Evidence records; not modified.
    instrument
        The instrument.
    countries
        The agencies compared (``None``: every one with a record of the instrument).

    Returns
    -------
    list
        A :class:`~ipf_eval.pipeline.display.Table` with one row per design (its agencies, what it can
        show, what it cannot), so that each agency's review below need not repeat it.
    """
    return [_limits_table(instrument_comparison(records, instrument=instrument, countries=countries), None)]


@keyword_options
def peer_review_section(records: Sequence[Mapping[str, Any]], *, instrument: str, host: str,
                        countries: Sequence[str] | None = None, include_stale: bool = False,
                        alpha: float = 0.05, large_i2: float = LARGE_I2,
                        design_table: bool = True) -> list[object]:
    """Return the peer review of the host agency's evaluation of an instrument, paired with its peers'.

    Parameters
    ----------
    records
        Evidence records (:func:`ipf_eval.evidence.read_evidence`); not modified.
    instrument
        The instrument.
    host
        The agency (country) whose evaluation is reviewed; the other agencies evaluating the instrument
        (of ``countries``) are its peers.
    countries
        The agencies compared (``None``: every one with a record of the instrument).
    include_stale
        Whether estimates of evaluations whose latest run failed are compared.
    alpha
        Level of the intervals shown.
    large_i2
        I² from which the variation between countries counts as large
        (:func:`ipf_eval.synthesis.peer_review.divergences`).
    design_table
        Whether the review repeats the table of what each design can show (``False`` when the page shows
        it once, :func:`design_limits_section`).

    Returns
    -------
    list
        The heading; a table of what each design (the host's and its peers') can and cannot show; the
        divergences between the host's estimates and its peers', each with the diagnostics that differ as
        the candidate explanation (or a sentence saying there are none); and the questions for the
        peer-review meeting as ``<section id="questions-<host>">``.

    Raises
    ------
    SpecificationError
        For an unknown instrument or host (:mod:`ipf_eval.synthesis.peer_review`).
    """
    questions = review_questions(records, instrument=instrument, host=host, countries=countries,
                                 include_stale=include_stale, large_i2=large_i2)
    table = instrument_comparison(records, instrument=instrument, countries=countries)
    peers = [str(c) for c in table["country"] if c != host]
    h = _E(str(host))
    who = (f"Peers evaluating the same instrument: {', '.join(_E(p) for p in peers)}." if peers else
           "No other agency evaluated this instrument: no peer to compare with; the questions come from the "
           "evaluation's own checks.")
    out: list[object] = [Text(f"### {h}: its evaluation reviewed by its peers\n\n{who}")]
    if design_table:
        out.append(_limits_table(table, host))
    div = divergences(records, instrument=instrument, countries=countries, host=host,
                      include_stale=include_stale, large_i2=large_i2)
    if not len(div):
        out.append(Text(f"No headline estimate of {h} diverges from a peer's: every pair of intervals "
                        "overlaps, none points the other way with an effect distinguishable from zero, and "
                        "no outcome varies much more between countries than chance would explain."))
    else:
        rows = [{"outcome": fmt.outcome_display(str(d["outcome"])).label, "peer": d["peer"],
                 "how_they_differ": DIVERGENCE_KINDS[str(d["kind"])],
                 "this_evaluation": _units(str(d["outcome"]), d["estimate"], d["ci_low"], d["ci_high"],
                                           alpha),
                 "peer_evaluation": _units(str(d["outcome"]), d["peer_estimate"], d["peer_ci_low"],
                                           d["peer_ci_high"], alpha),
                 "variation": (heterogeneity_words(float(d["i2"])) if math.isfinite(float(d["i2"])) else
                               "not pooled (fewer than three countries)"),
                 "candidate_explanation": d["explanation"]}
                for d in div.to_dict(orient="records")]
        out.append(Table(pd.DataFrame(rows), f"headline estimates of {host} and each peer for the same "
                                             "outcome that diverge: intervals that do not overlap, or "
                                             "opposite directions with one distinguishable from zero, or the "
                                             "pair "
                                             "furthest apart when the random-effects meta-analysis finds "
                                             "large variation between countries; candidate explanation: the "
                                             "checks that passed in one evaluation and failed or were not "
                                             "computed in the other"))
    items = tuple(str(q["question"]) + _reason(str(q["reason"])) for q in questions.to_dict(orient="records"))
    if not items:
        items = (f"No check of {host}'s headline estimates failed or was left uncomputed, and none diverges "
                 "from a peer's: the meeting can turn to the programme itself.",)
    out.append(Section(f"questions-{str(host).lower()}", f"Questions for the peer-review meeting: {host}",
                       items))
    return out
