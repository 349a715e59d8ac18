r"""Peer review of one instrument across the forum's agencies.

The agencies side by side, what each design can show, where their estimates diverge and why, and the
questions for the peer-review meeting.

Everything here reads evidence records (:func:`ipf_eval.evidence.read_evidence`, or the records of the
agencies' bundles) and nothing else: aggregate estimates, their checks and the delivery indicators.  No
firm-level value is read or returned.

The rules, each a function here:

* **Side by side** (:func:`instrument_comparison`): per agency evaluating the instrument, the headline
  estimate (the one its grade belongs to) of the instrument's primary outcome, its design and grade, the
  cost per outcome as the evaluation wrote it (only where the effect is positive and distinguishable from
  zero: a cost is never given for an effect that may be zero), and reach and time to decision from the
  ``delivery`` table, missing where the agency supplied no applications data (never zero).
* **What a design can show** (:func:`design_limits`): per design, in plain words, what its comparison
  identifies and what it leaves open.
* **Divergence** (:func:`divergences`): two agencies' headline estimates of the same outcome diverge when
  their intervals do not overlap, or when they point in opposite directions and at least one of them is
  distinguishable from zero.  When the random-effects meta-analysis of the outcome
  (:func:`ipf_eval.synthesis.forum.pool_headlines`, at least three countries) finds large heterogeneity
  (:math:`I^2 \ge` :data:`LARGE_I2`) but no pair diverges, the two estimates furthest apart are reported.
* **Candidate explanation**: the diagnostics that differ between the two evaluations, i.e. a check that
  failed or was not computed in one and passed in the other; and a difference of design or estimand, since
  two designs estimate different things.  When nothing differs, the gap is attributed to the programme, the
  firms it reaches or the period, which the meeting has to discuss.
* **Questions** (:func:`review_questions`): one per check the host's headline estimates failed and one per
  check they could not compute (:data:`CHECK_QUESTIONS`), none for a check that passed; one per divergence
  between the host and a peer; and one when the host's evaluation is out of date (its latest run failed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import SpecificationError
from ipf_eval.evidence.grading import CHECKS
from ipf_eval.evidence.records import evidence_frame, evidence_table
from ipf_eval.synthesis.forum import headline_estimates, pool_headlines, pooling_family, select_families

__all__ = [
    "CHECK_QUESTIONS",
    "CHECK_WORDS",
    "COMPARISON_COLUMNS",
    "DESIGN_WORDS",
    "DIVERGENCE_COLUMNS",
    "DIVERGENCE_KINDS",
    "LARGE_I2",
    "QUESTION_COLUMNS",
    "costed_headlines",
    "design_label",
    "design_limits",
    "divergences",
    "empty_comparison",
    "evaluating_countries",
    "instrument_comparison",
    "instrument_records",
    "review_questions",
]

#: I² (a share) from which the variation between countries counts as large ("substantial" in the Cochrane
#: Handbook's rough guide).
LARGE_I2 = 0.5

#: The design names evidence records and grades use, and the design whose limits apply to each.
_CANONICAL: Mapping[str, str] = {
    "lottery": "lottery", "rct": "lottery",
    "scored_call": "rdd", "rdd": "rdd",
    "open_call": "did", "did": "did",
    "matching": "matching", "weighting": "matching",
    "iv": "iv", "regression": "regression", "before_after": "before_after",
    "delivery_trial": "delivery_trial",
}

#: Each design in words.
DESIGN_WORDS: Mapping[str, str] = {
    "lottery": "lottery (support allocated at random among applicants)",
    "rdd": "scored call (regression discontinuity at the score threshold)",
    "did": "staggered difference-in-differences (supported firms against firms not yet supported)",
    "matching": "matching or weighting on recorded characteristics",
    "iv": "instrumental variable (a rule that moved take-up)",
    "regression": "regression on recorded characteristics",
    "before_after": "before-after comparison of supported firms",
    "delivery_trial": "delivery trial (a new way of delivering a call randomised among eligible firms)",
}

_LIMITS: Mapping[str, tuple[str, str]] = {
    "delivery_trial": (
        "The effect of the new way of delivering the call on the eligible firms' applications: firms were "
        "drawn at random for it, so the difference in how many start and complete an application is "
        "caused by the change of delivery, for firms like those of this call.",
        "Whether the extra applicants gain from the support itself (that is the instrument's own "
        "evaluation); effects on decision times beyond a comparison of completed applications, which mixes "
        "the change with the different firms it brings in; and effects in later calls or at full scale."),
    "lottery": (
        "The effect of the support itself on the firms that applied: winners and losers of the draw differ "
        "only by chance, so the difference in their outcomes is caused by the support (with take-up "
        "observed, the effect on the winners who used it).",
        "The effect on firms that would not apply, or on applicants when a call is not oversubscribed; "
        "effects beyond the years observed after the call; and whether a larger, smaller or targeted "
        "programme would do as well, since winners are only compared with losers of the same calls."),
    "rdd": (
        "The effect of the support on firms scored close to the threshold: firms just above and just below "
        "it are alike, so the jump in outcomes at the threshold is caused by the support.",
        "The effect on the best-rated projects far above the threshold or on weak ones far below; whether "
        "moving the threshold would help (only if effects are similar near it); and nothing at all if "
        "scores were steered across the threshold."),
    "did": (
        "The average effect on supported firms over the years since support, against comparison firms not "
        "(yet) supported that were on the same path before: credible when the paths were parallel before "
        "support and the comparison firms resemble the supported ones.",
        "Whether firms were selected, or selected themselves, for reasons that also change their later "
        "growth (an expansion plan, a new manager) without showing before support; and the effect on firms "
        "that did not apply."),
    "matching": (
        "How supported firms fared against unsupported firms that looked the same on the recorded "
        "characteristics (size, age, sector, past growth).",
        "Anything about differences that are not recorded (motivation, management, a project in the "
        "pipeline): the estimate assumes that nothing unrecorded drove both support and outcomes."),
    "iv": (
        "The effect on the firms whose take-up the rule or shock moved.",
        "The effect on firms that would take the support up anyway, or never; and it rests on the rule "
        "changing outcomes only through the support."),
    "regression": (
        "Whether supported firms differ from others once recorded characteristics are held fixed: an "
        "association.",
        "Cause and effect: supported firms may differ in ways the regression does not capture."),
    "before_after": (
        "How the supported firms changed after the support: monitoring.",
        "What would have happened without the support: with no comparison group, economic trends are "
        "counted as the effect."),
}

#: Each check in words, as the subject of a sentence.
CHECK_WORDS: Mapping[str, str] = {
    "balance": "the balance check",
    "attrition": "the attrition check",
    "first_stage": "the take-up check (first stage)",
    "density": "the manipulation test at the threshold",
    "covariate_continuity": "the covariate test at the threshold",
    "bandwidth_sensitivity": "the bandwidth check",
    "pre_trends": "the pre-trend test",
    "overlap": "the overlap check",
    "comparison_justified": "the case for the comparison group",
}

_STATUS_WORDS: Mapping[str, str] = {"passed": "passed", "failed": "failed", "missing": "was not computed"}

#: For each check and status (failed, missing): what happened, and the question it raises for the meeting.
CHECK_QUESTIONS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("pre_trends", "failed"): (
        "The pre-trend test found a trend before support, or was too weak to see one that would explain the "
        "effect",
        "why would supported and comparison firms have followed the same path after the support, when "
        "that cannot be shown for the years before it?"),
    ("pre_trends", "missing"): (
        "The pre-trend test was not run, or its power was not computed",
        "what supports parallel trends of supported and comparison firms before the support?"),
    ("balance", "failed"): (
        "The firms compared differ in their characteristics before the support",
        "which differences remain, and could they, rather than the support, explain the effect?"),
    ("balance", "missing"): (
        "Balance was not checked",
        "how do we know that the firms compared were alike before the support?"),
    ("attrition", "failed"): (
        "Many firms' outcomes are missing, or more often in one group than the other",
        "could the firms that dropped out of the data bias the comparison?"),
    ("attrition", "missing"): (
        "Attrition could not be measured",
        "were the outcomes of nearly every applicant observed, and equally often among winners and losers?"),
    ("first_stage", "failed"): (
        "Winning the draw, or passing the threshold, moved take-up of the support only weakly",
        "why did so many firms not take the support up, or obtain it anyway, and how reliable is the effect "
        "on users?"),
    ("first_stage", "missing"): (
        "Take-up of the support could not be measured",
        "how many of the selected firms actually used the support?"),
    ("density", "failed"): (
        "More applications than expected land just above the score threshold",
        "could scores have been adjusted to pass firms, and does the effect hold without the applications "
        "closest to the threshold?"),
    ("density", "missing"): (
        "The manipulation test at the threshold could not be run",
        "how are scores set, and could applicants or assessors steer them across the threshold?"),
    ("covariate_continuity", "failed"): (
        "A characteristic of the firms jumps at the score threshold",
        "are firms just above the threshold different from those just below in ways that also drive the "
        "outcome?"),
    ("covariate_continuity", "missing"): (
        "No characteristic of the firms could be compared at the threshold",
        "what shows that firms just above and just below the threshold were alike?"),
    ("bandwidth_sensitivity", "failed"): (
        "The estimate moves outside its interval when fewer or more applications around the threshold are "
        "used",
        "which window is right, and why does the answer depend on it?"),
    ("bandwidth_sensitivity", "missing"): (
        "The estimate was not repeated with fewer and more applications around the threshold",
        "does the effect depend on how close to the threshold the comparison is made?"),
    ("overlap", "failed"): (
        "Many supported firms have hardly any comparable unsupported firms",
        "which supported firms does the estimate really speak for?"),
    ("overlap", "missing"): (
        "Overlap between supported and comparison firms could not be assessed",
        "are there comparison firms like the supported ones?"),
    ("comparison_justified", "failed"): (
        "The case for the comparison group was found wanting",
        "which other comparison group was considered, and what did it show?"),
    ("comparison_justified", "missing"): (
        "The choice of comparison group was not argued",
        "why would those firms have followed the supported firms' path without the support?"),
}

#: What each kind of divergence means, in words.
DIVERGENCE_KINDS: Mapping[str, str] = {
    "no_overlap": "the intervals do not overlap",
    "opposite_signs": "opposite directions, at least one distinguishable from zero",
    "heterogeneity": "large variation between countries; these two are furthest apart",
}

#: Columns of :func:`instrument_comparison`, in this order.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "country", "instrument", "label", "outcome", "outcome_label", "design", "grade_design", "estimator",
    "term", "estimand", "headline", "estimate", "std_error", "ci_low", "ci_high", "p_value",
    "evidence_grade", "checks_passed", "checks_failed", "checks_missing", "cost_per_outcome", "cost_ci_low",
    "cost_ci_high", "cost_unit", "n_supported", "applications", "median_decision_days", "acceptance_rate",
    "data_source", "created", "stale",
)
#: Columns of :func:`divergences`, in this order.
DIVERGENCE_COLUMNS: tuple[str, ...] = (
    "instrument", "outcome", "outcome_label", "country", "peer", "kind", "estimate", "ci_low", "ci_high",
    "peer_estimate", "peer_ci_low", "peer_ci_high", "grade_design", "peer_grade_design", "i2", "q",
    "q_pvalue", "differing", "explanation",
)
#: Columns of :func:`review_questions`, in this order.
QUESTION_COLUMNS: tuple[str, ...] = ("host", "instrument", "source", "check", "status", "outcomes", "peer",
                                     "question", "reason")

_DELIVERY = ("applications", "median_decision_days", "acceptance_rate")
_COST = ("cost_per_outcome", "cost_ci_low", "cost_ci_high")


def _canonical(design: Any) -> str:
    if not isinstance(design, str) or design not in _CANONICAL:
        raise SpecificationError(f"design must be one of {sorted(_CANONICAL)!r}; got {design!r}. Use the "
                                 "design of the evidence record (lottery, scored_call, open_call) or the "
                                 "design its grade belongs to (lottery, rdd, did)")
    return _CANONICAL[design]


@keyword_options
def design_label(design: str) -> str:
    """Return a design in words, e.g. ``"lottery (support allocated at random among applicants)"``.

    Raises
    ------
    SpecificationError
        If the design is unknown (see :func:`design_limits`).
    """
    return DESIGN_WORDS[_canonical(design)]


@keyword_options
def design_limits(design: str) -> tuple[str, str]:
    """Return what a design can show and what it cannot, in plain words.

    Parameters
    ----------
    design
        An evidence record's design (``lottery``, ``scored_call``, ``open_call``, ``delivery_trial``), the
        design a grade belongs to (``lottery``, ``rdd``, ``did``) or another design of the Maryland scale
        (``rct``, ``matching`` or ``weighting``, ``iv``, ``regression``, ``before_after``).

    Returns
    -------
    tuple of str
        ``(can_show, cannot_show)``.

    Raises
    ------
    SpecificationError
        If the design is none of these.

    Examples
    --------
    >>> can, cannot = design_limits("scored_call")
    >>> can.startswith("The effect of the support on firms scored close to the threshold")
    True
    """
    return _LIMITS[_canonical(design)]


@keyword_options
def evaluating_countries(records: Sequence[Mapping[str, Any]], *, instrument: str,
                         countries: Sequence[str] | None = None) -> list[str]:
    """Return the countries (of ``countries``, if given) with an evidence record of ``instrument``, sorted.

    Empty when none has one (every agency's evaluation failed or was left out): a page about the instrument
    then says so instead of failing, while :func:`instrument_records` treats it as a mistake.
    """
    wanted = None if countries is None else {str(c) for c in countries}
    return sorted({str(r.get("country")) for r in records if r.get("instrument") == instrument
                   and (wanted is None or str(r.get("country")) in wanted)})


@keyword_options
def empty_comparison() -> pd.DataFrame:
    """Return :func:`instrument_comparison`'s table with no agency in it (its columns, no rows)."""
    return pd.DataFrame(columns=list(COMPARISON_COLUMNS))


@keyword_options
def instrument_records(records: Sequence[Mapping[str, Any]], *, instrument: str,
                       countries: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Return the evidence records of one instrument (optionally of some countries), sorted by country.

    Raises
    ------
    SpecificationError
        If no record evaluates ``instrument`` (the message lists those that do), or none of ``countries``
        evaluated it.
    """
    if not isinstance(instrument, str):
        raise SpecificationError(f"instrument must be an instrument's name (str); got {instrument!r}")
    mine = sorted((dict(r) for r in records if r.get("instrument") == instrument),
                  key=lambda r: str(r.get("country")))
    if not mine:
        have = sorted({str(r.get("instrument")) for r in records})
        raise SpecificationError(f"instrument={instrument!r} has no evidence record; the records evaluate "
                                 f"{have!r}: pass one of those")
    if countries is not None:
        wanted = [str(c) for c in countries]
        kept = [r for r in mine if r.get("country") in wanted]
        if not kept:
            raise SpecificationError(f"countries={wanted!r}: none of them evaluated {instrument!r}; those "
                                     f"that did: {sorted(str(r['country']) for r in mine)!r}")
        mine = kept
    return mine


def _host_record(mine: Sequence[Mapping[str, Any]], host: Any, instrument: str) -> Mapping[str, Any]:
    for rec in mine:
        if rec.get("country") == host:
            return rec
    raise SpecificationError(f"host={host!r} has no evidence record of {instrument!r} among the agencies "
                             f"compared; those that evaluated it: {[str(r['country']) for r in mine]!r}")


def _primary(heads: pd.DataFrame, primary: str | None) -> str | None:
    if primary is not None:
        return primary
    if not len(heads):
        return None
    counts = heads.groupby("outcome")["country"].nunique().reset_index()
    return str(counts.sort_values(["country", "outcome"], ascending=[False, True])["outcome"].iloc[0])


def _without_unfounded_costs(heads: pd.DataFrame) -> pd.DataFrame:
    """Drop the cost of a row whose effect's interval does not lie above zero (a record written by hand)."""
    keep = heads["ci_low"].astype(float).gt(0) & heads["ci_high"].astype(float).gt(0)
    return heads.assign(**{c: heads[c].where(keep) for c in _COST})


@keyword_options
def costed_headlines(records: Sequence[Mapping[str, Any]], *, instrument: str,
                     countries: Sequence[str] | None = None) -> pd.DataFrame:
    """Return each agency's headline rows of the outcomes it costs, with a cost only where it is founded.

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
    pandas.DataFrame
        Rows of the ``estimates`` table: per agency, the headline estimate of each outcome its ``costs``
        table prices (jobs, euro of R&D, exporters, euro of equity, or the agency's own unit), sorted by
        country and outcome.  ``cost_per_outcome`` and its interval are kept only where the effect's
        interval lies above zero, as the evaluation writes them; otherwise they are missing.

    Raises
    ------
    SpecificationError
        If no record evaluates ``instrument`` or none of ``countries`` did.
    """
    mine = instrument_records(records, instrument=instrument, countries=countries)
    frame = evidence_frame(mine)
    priced = {(str(c), str(o)) for c, o in evidence_table(mine, "costs")[["country", "outcome"]].itertuples(
        index=False)}
    keep = frame["headline"].astype(bool) & pd.Series(
        [(str(c), str(o)) in priced for c, o in zip(frame["country"], frame["outcome"], strict=True)],
        index=frame.index, dtype=bool)
    return _without_unfounded_costs(frame.loc[keep]).reset_index(drop=True)


@keyword_options
def instrument_comparison(records: Sequence[Mapping[str, Any]], *, instrument: str,
                          countries: Sequence[str] | None = None,
                          primary: str | None = None) -> pd.DataFrame:
    """One row per agency evaluating an instrument: its primary outcome's headline, grade, cost and delivery.

    Parameters
    ----------
    records
        Evidence records (:func:`ipf_eval.evidence.read_evidence`); not modified.
    instrument
        The instrument's name.
    countries
        The agencies compared (``None``: every one with a record of the instrument).
    primary
        The instrument's primary outcome (``InstrumentParams.primary``; the records do not name it).
        ``None``: the outcome most of the agencies have a headline estimate of (ties: the first by name).
        An agency without a headline estimate of it shows its first headline outcome instead (column
        ``outcome`` says which).

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARISON_COLUMNS`, one row per agency sorted by country: the headline row
        of the evidence (estimate, interval, estimator, design, grade and checks, ``stale``, provenance),
        ``label`` (the instrument in words), the cost per outcome only where the effect's interval lies
        above zero (missing otherwise), and the delivery indicators ``applications`` (reach),
        ``median_decision_days`` and ``acceptance_rate``, missing where the agency's record has none.  An
        agency whose evaluation produced no headline estimate has a row with missing figures.

    Raises
    ------
    SpecificationError
        If no record evaluates ``instrument`` or none of ``countries`` did.
    """
    mine = instrument_records(records, instrument=instrument, countries=countries)
    frame = evidence_frame(mine)
    heads = frame.loc[frame["headline"].astype(bool)]
    wanted = _primary(heads, primary)
    delivery = evidence_table(mine, "delivery")
    rows = []
    for rec in mine:
        country = str(rec["country"])
        own = heads.loc[heads["country"] == country]
        pick = own.loc[own["outcome"] == wanted] if len(own.loc[own["outcome"] == wanted]) else own
        row: dict[str, Any] = ({str(k): v for k, v in pick.iloc[0].to_dict().items()} if len(pick) else
                               {"country": country, "instrument": instrument, "headline": False,
                                "design": rec.get("design"), "stale": bool(frame.loc[
                                    frame["country"] == country, "stale"].any())})
        if len(pick):  # a cost is never given for an effect that may be zero
            founded = _without_unfounded_costs(pick.iloc[:1]).iloc[0]
            row.update({c: founded[c] for c in _COST})
        mine_delivery = delivery.loc[delivery["country"] == country].set_index("indicator")["value"]
        row.update({k: float(mine_delivery[k]) if k in mine_delivery.index else np.nan for k in _DELIVERY})
        row["label"] = str(rec.get("label") or instrument.replace("_", " "))
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=list(COMPARISON_COLUMNS))
    out["stale"] = out["stale"].fillna(False).astype(bool)
    out["headline"] = out["headline"].fillna(False).astype(bool)
    return out.reset_index(drop=True)


def _statuses(row: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for status in ("passed", "failed", "missing"):
        for name in str(row.get(f"checks_{status}") or "").split(";"):
            if name:
                out[name] = status
    return out


def _differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Return the checks both evaluations report that passed in one and not in the other."""
    sa, sb = _statuses(a), _statuses(b)
    return [(c, sa[c], sb[c]) for c in CHECKS if c in sa and c in sb and sa[c] != sb[c]
            and "passed" in (sa[c], sb[c])]


@dataclass(frozen=True)
class _Divergence:
    a: Mapping[str, Any]
    b: Mapping[str, Any]
    kind: str
    i2: float
    q: float
    q_pvalue: float

    @property
    def checks(self) -> list[tuple[str, str, str]]:
        return _differing(self.a, self.b)

    @property
    def other_design(self) -> bool:
        return bool(pooling_family(str(self.a["estimator"]), str(self.a["term"]))
                    != pooling_family(str(self.b["estimator"]), str(self.b["term"])))


def _kind(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    lows, highs = (float(a["ci_low"]), float(b["ci_low"])), (float(a["ci_high"]), float(b["ci_high"]))
    if not all(math.isfinite(x) for x in (*lows, *highs)):
        return None
    if lows[0] > highs[1] or lows[1] > highs[0]:
        return "no_overlap"
    ea, eb = float(a["estimate"]), float(b["estimate"])

    def significant(low: float, high: float) -> bool:
        return low > 0 or high < 0

    if ea * eb < 0 and (significant(lows[0], highs[0]) or significant(lows[1], highs[1])):
        return "opposite_signs"
    return None


def _check_i2(large_i2: Any) -> float:
    if isinstance(large_i2, bool) or not isinstance(large_i2, int | float) or not 0 < float(large_i2) <= 1:
        raise SpecificationError(f"large_i2 must be a share in (0, 1]; got {large_i2!r}. The default "
                                 f"{LARGE_I2} is 'substantial' heterogeneity")
    return float(large_i2)


def _divergences(mine: Sequence[Mapping[str, Any]], *, instrument: str, host: str | None,
                 include_stale: bool, large_i2: float) -> list[_Divergence]:
    heads = headline_estimates(evidence_frame(mine), include_stale=include_stale)
    pooled = pool_headlines(select_families(heads).kept)
    found: list[_Divergence] = []
    for outcome, grp in heads.groupby("outcome", sort=True):
        meta = pooled.metas.get((instrument, str(outcome)))
        i2, q, qp = (meta.i2, meta.q, meta.q_pvalue) if meta is not None else (math.nan,) * 3
        rows = [{str(k): v for k, v in r.items()}
                for r in grp.sort_values("country", kind="mergesort").to_dict(orient="records")]
        pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]]
        if host is not None:
            pairs = [(a, b) if a["country"] == host else (b, a) for a, b in pairs
                     if host in (a["country"], b["country"])]
        here = [_Divergence(a, b, kind, i2, q, qp) for a, b in pairs if (kind := _kind(a, b)) is not None]
        if not here and pairs and math.isfinite(i2) and i2 >= large_i2:
            a, b = max(pairs, key=lambda p: abs(float(p[0]["estimate"]) - float(p[1]["estimate"])))
            here = [_Divergence(a, b, "heterogeneity", i2, q, qp)]
        found += here
    return found


def _explanation(d: _Divergence) -> str:
    ca, cb = str(d.a["country"]), str(d.b["country"])
    parts = []
    if d.other_design:
        parts.append(f"the two estimate different things ({ca}: {design_label(str(d.a['grade_design']))}, "
                     f"{d.a['estimand']}; {cb}: {design_label(str(d.b['grade_design']))}, {d.b['estimand']})")
    parts += [f"{CHECK_WORDS[c]} {_STATUS_WORDS[sa]} in {ca} and {_STATUS_WORDS[sb]} in {cb}"
              for c, sa, sb in d.checks]
    if parts:
        return "Candidate explanation: " + "; ".join(parts) + "."
    common = [CHECK_WORDS[c] for c, s in _statuses(d.a).items() if s == "passed" and
              _statuses(d.b).get(c) == "passed"]
    both = f" (both passed {_and(common)})" if common else ""
    return (f"No diagnostic differs between the two evaluations{both}: the gap more likely reflects the "
            "programme, the firms it reaches or the years observed.")


@keyword_options
def divergences(records: Sequence[Mapping[str, Any]], *, instrument: str,
                countries: Sequence[str] | None = None, host: str | None = None, include_stale: bool = False,
                large_i2: float = LARGE_I2) -> pd.DataFrame:
    r"""Where the agencies' headline estimates of the same outcome diverge, and which diagnostics differ.

    Parameters
    ----------
    records
        Evidence records; not modified.
    instrument
        The instrument.
    countries
        The agencies compared (``None``: all with a record of the instrument).
    host
        With a country: only its pairs, each oriented with the host as ``country``; the heterogeneity row
        (see Notes) then pairs the host with the peer whose estimate lies furthest from its own.
    include_stale
        Whether estimates of evaluations whose latest run failed are compared (by default not, as in the
        synthesis).
    large_i2
        The I² from which the variation between countries counts as large.

    Returns
    -------
    pandas.DataFrame
        :data:`DIVERGENCE_COLUMNS`: per diverging pair and outcome both estimates and intervals, the kind
        (:data:`DIVERGENCE_KINDS`), the designs their grades belong to, the outcome's I², Q and its p-value
        (missing below three countries), ``differing`` (the checks that passed in one evaluation and failed
        or were not computed in the other, semicolon-separated) and ``explanation`` in words.

    Raises
    ------
    SpecificationError
        For an unknown instrument or host, or ``large_i2`` outside (0, 1].

    Notes
    -----
    Estimates :math:`i, j` of one outcome diverge when :math:`[l_i, u_i] \cap [l_j, u_j] = \emptyset`, or
    when :math:`\hat\theta_i \hat\theta_j < 0` and one interval excludes zero.  When no pair of the outcome
    diverges but the random-effects meta-analysis of its headline estimates (the family most countries
    report, :func:`ipf_eval.synthesis.forum.select_families`) has :math:`I^2 \ge` ``large_i2``, the pair
    with the largest :math:`|\hat\theta_i - \hat\theta_j|` is reported as ``heterogeneity``.  Non-overlap
    of two 95 % intervals is a conservative test of a difference (Schenker and Gentleman 2001): a pair
    flagged here differs, and some pairs that differ are not flagged.

    References
    ----------
    Schenker, N., & Gentleman, J. F. (2001). On judging the significance of differences by examining the
    overlap between confidence intervals. The American Statistician, 55(3), 182-186.
    """
    threshold = _check_i2(large_i2)
    mine = instrument_records(records, instrument=instrument, countries=countries)
    if host is not None:
        _host_record(mine, host, instrument)
    rows = []
    for d in _divergences(mine, instrument=instrument, host=host, include_stale=include_stale,
                          large_i2=threshold):
        rows.append({"instrument": instrument, "outcome": d.a["outcome"],
                     "outcome_label": d.a["outcome_label"], "country": d.a["country"],
                     "peer": d.b["country"], "kind": d.kind,
                     "estimate": d.a["estimate"], "ci_low": d.a["ci_low"], "ci_high": d.a["ci_high"],
                     "peer_estimate": d.b["estimate"], "peer_ci_low": d.b["ci_low"],
                     "peer_ci_high": d.b["ci_high"], "grade_design": d.a["grade_design"],
                     "peer_grade_design": d.b["grade_design"], "i2": d.i2, "q": d.q, "q_pvalue": d.q_pvalue,
                     "differing": ";".join(c for c, _, _ in d.checks), "explanation": _explanation(d)})
    return pd.DataFrame(rows, columns=list(DIVERGENCE_COLUMNS))


def _reasons(rec: Mapping[str, Any], heads: pd.DataFrame, check: str, status: str) -> str:
    keys = {(str(r["grade_design"]), str(r["outcome"]), str(r["term"]))
            for r in heads.to_dict(orient="records")}
    found: list[str] = []
    for grade in rec.get("grades") or []:
        if (str(grade.get("grade_design")), str(grade.get("outcome")), str(grade.get("term"))) not in keys:
            continue
        found += [str(c.get("reason") or "") for c in grade.get("checks") or []
                  if c.get("name") == check and c.get("status") == status]
    return "; ".join(dict.fromkeys(r for r in found if r))


def _divergence_question(d: _Divergence) -> str:
    peer, label = str(d.b["country"]), str(d.a["outcome_label"])
    higher = "higher" if float(d.a["estimate"]) > float(d.b["estimate"]) else "lower"
    lead = {"no_overlap": f"Your interval for the effect on {label} does not overlap {peer}'s (your "
                          f"estimate is {higher})",
            "opposite_signs": f"Your estimate of the effect on {label} and {peer}'s point in opposite "
                              f"directions, and at least one is distinguishable from zero",
            "heterogeneity": f"The agencies' estimates of the effect on {label} vary more than chance would "
                             f"explain (I\u00b2 = {100 * d.i2:.0f} %), and {peer}'s lies furthest from yours "
                             f"(your estimate is {higher})"}[d.kind]
    if d.other_design:
        return (f"{lead}. The two designs estimate different things ({design_label(str(d.a['grade_design']))}"
                f" here, {design_label(str(d.b['grade_design']))} in {peer}): is the gap one of what is "
                "estimated, rather than of the effect?")
    if d.checks:
        what = "; ".join(f"{CHECK_WORDS[c]} {_STATUS_WORDS[sa]} in your evaluation and {_STATUS_WORDS[sb]} "
                         f"in {peer}'s" for c, sa, sb in d.checks)
        return (f"{lead}. {what[:1].upper()}{what[1:]}: could this explain the gap, and which estimate "
                "should the forum rely on?")
    return (f"{lead}, although no check differs between the two evaluations: what differs in the programme "
            "(amount of support, who may apply), the firms it reaches or the years observed?")


@keyword_options
def review_questions(records: Sequence[Mapping[str, Any]], *, instrument: str, host: str,
                     countries: Sequence[str] | None = None, include_stale: bool = False,
                     large_i2: float = LARGE_I2) -> pd.DataFrame:
    """Questions for the peer-review meeting on the host agency's evaluation of an instrument.

    Parameters
    ----------
    records
        Evidence records; not modified.
    instrument
        The instrument.
    host
        The agency (country) whose evaluation is reviewed.
    countries
        The agencies compared (``None``: all with a record of the instrument); the host must be one.
    include_stale, large_i2
        As in :func:`divergences`.

    Returns
    -------
    pandas.DataFrame
        :data:`QUESTION_COLUMNS`, in this order: one row (``source`` ``"stale"``) when the host's
        evaluation is out of date; one row (``source`` ``"check"``) per check that failed and one per check
        that was not computed for any of the host's headline estimates, in the order of
        :data:`ipf_eval.evidence.grading.CHECKS`, with the outcomes concerned (semicolon-separated) and the
        evaluation's own reasons where the record holds them; none for a check that passed; then one row
        (``source`` ``"divergence"``) per divergence between the host and a peer (:func:`divergences`),
        naming the peer and the checks that differ (``check``, semicolon-separated).

    Raises
    ------
    SpecificationError
        For an unknown instrument or host, or ``large_i2`` outside (0, 1].
    """
    threshold = _check_i2(large_i2)
    mine = instrument_records(records, instrument=instrument, countries=countries)
    rec = _host_record(mine, host, instrument)
    frame = evidence_frame([rec])
    heads = frame.loc[frame["headline"].astype(bool)]
    base = {"host": host, "instrument": instrument}
    rows: list[dict[str, Any]] = []
    if bool(frame["stale"].any()):
        when = str(frame["created"].iloc[0])[:10]
        rows.append({**base, "source": "stale", "check": "", "status": "", "outcomes": "", "peer": "",
                     "question": f"The latest run of this evaluation failed, so its figures are those of "
                                 f"{when}: what failed, and will it be re-run before the forum relies on it?",
                     "reason": ""})
    for check in CHECKS:
        for status in ("failed", "missing"):
            hit = heads.loc[heads[f"checks_{status}"].map(lambda v, c=check: c in str(v).split(";"))]
            if not len(hit):
                continue
            said, ask = CHECK_QUESTIONS[(check, status)]
            labels = list(dict.fromkeys(str(x) for x in hit["outcome_label"]))
            rows.append({**base, "source": "check", "check": check, "status": status,
                         "outcomes": ";".join(dict.fromkeys(str(x) for x in hit["outcome"])), "peer": "",
                         "question": f"{said} (for {_and(labels)}): {ask}",
                         "reason": _reasons(rec, hit, check, status)})
    for d in _divergences(mine, instrument=instrument, host=host, include_stale=include_stale,
                          large_i2=threshold):
        rows.append({**base, "source": "divergence", "check": ";".join(c for c, _, _ in d.checks),
                     "status": "", "outcomes": str(d.a["outcome"]), "peer": str(d.b["country"]),
                     "question": _divergence_question(d), "reason": ""})
    return pd.DataFrame(rows, columns=list(QUESTION_COLUMNS))


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
