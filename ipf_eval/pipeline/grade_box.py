"""The grade box near the top of an instrument report: the level, what it means, its checks and sensitivity.

A programme manager reads the box in a minute: the Maryland level the headline estimate earned, one sentence
on what that level means, each check the design requires with its figure and whether it passed, failed or
could not be computed, and the sensitivity analysis of the headline in words.  A reviewer finds the same
checks, with every figure, in :func:`grades_table`.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.evidence import CHECKS, EvidenceGrade, InstrumentEvidence
from ipf_eval.evidence.design_estimators import N_PERMUTATIONS
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.pipeline.formatting import p_text

__all__ = ["CHECK_LABELS", "LEVEL_MEANING", "grade_box", "grades_table", "level_meaning", "sensitivity_text"]

#: What a design's full level means, in one sentence (Maryland Scientific Methods Scale; What Works Centre
#: for Local Economic Growth 2016).
LEVEL_MEANING: dict[str, str] = {
    "lottery": "the strongest evidence: firms were assigned by lot, so the difference in outcomes between "
               "winners and losers is the effect of the support.",
    "rdd": "strong evidence: firms just either side of the score threshold are as good as randomly "
           "assigned, so the jump in outcomes at the threshold is the effect of the support there.",
    "did": "credible evidence: supported firms are compared with similar firms before and after support, and "
           "the comparison passed its checks.",
}
_BELOW = ("the design could give level-{base} evidence, but {n} check(s) it needs {verb}: read the estimate "
          "with the caution the checks below describe.")

#: The checks' names as a report shows them.
CHECK_LABELS: dict[str, str] = {
    "balance": "Balance of baseline characteristics",
    "attrition": "Attrition",
    "first_stage": "Take-up (first stage)",
    "density": "No manipulation of scores (density test)",
    "covariate_continuity": "No jump in baseline characteristics at the threshold",
    "bandwidth_sensitivity": "Stable at half and double the bandwidth",
    "pre_trends": "No pre-support trend, with a test strong enough to see one",
    "overlap": "Overlap of supported and comparison firms",
    "comparison_justified": "Comparison group justified",
}

_STATUS = {"passed": "passed", "failed": "**failed**", "missing": "**missing** (not computed)"}
_E = html.escape


def _headline(ev: InstrumentEvidence) -> pd.Series | None:
    heads = ev.headlines
    rows = heads.loc[heads["outcome"] == ev.instrument.primary]
    return rows.iloc[0] if len(rows) else None


def _honest_text(ev: InstrumentEvidence, row: pd.Series) -> str:
    honest = ev.honest
    alpha = ev.instrument.estimator.alpha
    if honest is None:
        return ("No sensitivity analysis of parallel trends could be computed (it needs an event study with "
                "at least two pre-support years).")
    if not float(row["p_value"]) < alpha:
        return ("The effect is not statistically significant, so no violation of parallel trends is needed "
                "to overturn it (HonestDiD bounds in the appendix).")
    m = float(honest.breakdown_mbar)
    if m <= 0:
        return ("The effect is fragile: once trends after support may depart from parallel by even a small "
                "fraction of the largest pre-support departure, its interval includes zero (HonestDiD, "
                "Rambachan and Roth 2023).")
    more = " or more" if getattr(honest, "breakdown_capped", False) else ""
    return (f"The effect stays statistically significant unless post-support departures from parallel trends "
            f"exceed {m:.2g}{more} times the largest pre-support one (HonestDiD relative magnitudes, "
            "Rambachan and Roth 2023).")


def _num(value: float) -> str:
    """Format a figure as a report shows it: thousands separated, three significant digits below 1,000."""
    return f"{value:+,.0f}" if abs(value) >= 1000 else f"{value:+.3g}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@keyword_options
def level_meaning(grade: EvidenceGrade) -> str:
    """Return what a grade's level means, in one sentence (why it is below the design's level, if it is)."""
    if grade.level == grade.base_level and grade.design in LEVEL_MEANING:
        return LEVEL_MEANING[grade.design]
    lost = len(grade.failed) + len(grade.missing)
    verb = "failed or could not be computed" if grade.failed and grade.missing else \
        ("failed" if grade.failed else "could not be computed")
    return _BELOW.format(base=grade.base_level, n=lost, verb=verb)


def _placebo_text(ev: InstrumentEvidence) -> str:
    placebo = ev.placebo
    if placebo is None or not len(placebo):
        return ""
    alpha = ev.instrument.estimator.alpha
    parts, spurious = [], 0
    for r in placebo.to_dict(orient="records"):
        if not math.isfinite(float(r["p_value"])):
            parts.append(f"not estimable {r['placebo']}")
            continue
        spurious += float(r["p_value"]) < alpha
        parts.append(f"{_num(float(r['estimate']))} ({p_text(float(r['p_value']))}) {r['placebo']}")
    verdict = ("no jump where the support does not change" if spurious == 0 else
               f"{spurious} spurious jump(s), a sign that the RDD picks up curvature rather than the support")
    return (f" At placebo thresholds (the median score below and above the real one) the jump is "
            f"{' and '.join(parts)}: {verdict}.")


@keyword_options
def sensitivity_text(ev: InstrumentEvidence) -> str:
    """Return the sensitivity analysis of the primary outcome's headline, in words.

    A DiD headline gets its HonestDiD breakdown value, an RDD headline its bandwidth sensitivity and
    placebo thresholds, a lottery headline its randomisation-inference p-value beside the analytic one.
    """
    row = _headline(ev)
    if row is None:
        return "There is no headline estimate of the primary outcome, so there is nothing to test."
    design = str(row["grade_design"])
    if design == "did":
        return _honest_text(ev, row)
    grade = ev.grade_of(ev.instrument.primary)
    if design == "rdd":
        bw = grade.check("bandwidth_sensitivity")
        return f"Bandwidth: {_E(bw.reason)}.{_placebo_text(ev)}"
    res = ev.design_estimates.results.get(ev.instrument.primary)
    ri = getattr(res, "p_value_ri", None)
    if ri is None:
        return "The randomisation-inference p-value could not be computed."
    est = ev.estimates
    itt = est.loc[(est["outcome"] == ev.instrument.primary) & (est["estimator"] == "rct")
                  & (est["term"] == "itt")]
    analytic = f", against the analytic {p_text(float(itt['p_value'].iloc[0]))}" if len(itt) else ""
    return (f"Randomisation inference ({N_PERMUTATIONS} re-draws of the lottery): {p_text(float(ri))} for "
            f"the intention-to-treat effect{analytic}; the two agree when the sample is large enough for the "
            "analytic interval.")


@keyword_options
def grade_box(ev: InstrumentEvidence) -> list[object]:
    """Return the grade box: level and meaning, the required checks, and the sensitivity in words."""
    row = _headline(ev)
    if row is None:
        return [Text("### Evidence grade\n\nNo headline estimate of the primary outcome: nothing was "
                     "graded.")]
    grade = ev.grade_of(ev.instrument.primary)
    lines = [f"### Evidence grade: Maryland level {grade.level} of 5",
             "",
             f"**Level {grade.level}** means {level_meaning(grade)} "
             f"The design ({_E(ev.instrument.design)}) reaches level {grade.base_level} only when every "
             f"check it needs was computed and passed; each check that failed or could not be computed costs "
             f"one level. The grade belongs to the headline estimate of {_E(ev.instrument.primary)} "
             f"({_E(str(row['estimator']))}, {_E(str(row['term']))}).",
             ""]
    for c in grade.checks:
        lines.append(f"- {CHECK_LABELS.get(c.name, c.name)}: {_STATUS[c.status]}. {_E(_capital(c.reason))}.")
    if grade.missing:
        absent = ", ".join(CHECK_LABELS[n].lower() for n in grade.missing)
        lines += ["", f"The grade does not rest on {absent}: not computed, so not counted as passed."]
    lines += ["", f"**Sensitivity.** {sensitivity_text(ev)}"]
    others = [(o, ev.grade_of(o)) for o in ev.headlines["outcome"] if o != ev.instrument.primary]
    if others:
        lines += ["", "Other outcomes' headlines: " + "; ".join(
            f"{_E(o)} level {g.level}" + (f" ({', '.join(g.failed + g.missing)} not passed)"
                                          if g.failed or g.missing else "") for o, g in others) + "."]
    return [Text("\n".join(lines))]


@keyword_options
def grades_table(ev: InstrumentEvidence) -> list[object]:
    """Return every check of every headline's grade, with its figure and reason (for reviewers)."""
    rows = []
    for r in ev.headlines.to_dict(orient="records"):
        grade: EvidenceGrade = ev.grades[(str(r["grade_design"]), str(r["outcome"]), str(r["term"]))]
        for c in grade.checks:
            rows.append({"outcome": r["outcome"], "estimator": r["estimator"], "level": grade.level,
                         "check": c.name, "status": c.status,
                         "value": c.value if c.value is not None and math.isfinite(c.value) else None,
                         "threshold": c.threshold, "reason": c.reason})
    frame = pd.DataFrame(rows, columns=["outcome", "estimator", "level", "check", "status", "value",
                                        "threshold", "reason"])
    return [Table(frame, "ipf_eval.evidence.evaluate_instrument: the checks each design requires "
                         "(ipf_eval.evidence.checks), graded by ipf_eval.evidence.evidence_grade"),
            Text("<small>What the checks verify: "
                 + "; ".join(f"{n}: {CHECKS[n]}" for n in dict.fromkeys(frame["check"])) + ".</small>")]
