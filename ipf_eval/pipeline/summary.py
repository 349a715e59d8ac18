"""The first screen of a report: the finding in units people use, the grade, the cost and the verdict.

A programme manager reads :func:`instrument_summary` in a minute: one sentence per outcome in percent, jobs,
euro or percentage points, with its interval; the evidence grade with its one-line meaning; the cost per
additional job or euro where the effect is distinguishable from zero (and why not, where it is not); and the
verdict of :func:`ipf_eval.synthesis.country.country_verdicts`.  The notebook shows it as
``<section id="summary">``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.evidence import InstrumentEvidence
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.grade_box import level_meaning
from ipf_eval.synthesis.country import VERDICT_WORDS, CountryVerdict, country_verdicts

__all__ = ["COST_LABELS", "HORIZONS", "SUBJECTS", "Section", "cost_label", "cost_sentence", "findings_rows",
           "instrument_summary", "money", "outcome_sentence", "verdict_sentence", "verdict_words"]

#: Who an estimate is about, by the design its grade belongs to (a delivery trial's by its own design).
SUBJECTS: Mapping[str, str] = {
    "did": "Supported firms",
    "lottery": "Lottery winners who used the support",
    "rdd": "Firms just above the score threshold",
    "delivery_trial": "Eligible firms offered the new way of applying",
}
#: Over which time an estimate measures the effect, by design.
HORIZONS: Mapping[str, str] = {
    "did": "on average over the years since support",
    "lottery": "in the year of the call",
    "rdd": "in the year of the call",
    "delivery_trial": "at the call",
}
#: What one unit of a cost per outcome is.
COST_LABELS: Mapping[str, str] = {
    "job": "additional job",
    "euro_rd": "additional euro of R&D",
    "exporter": "additional exporter",
    "euro_equity": "additional euro of equity raised",
}
_E = html.escape


@keyword_options
def cost_label(cost_unit: str, *, plural: bool = False) -> str:
    """Return what one unit of a cost per outcome is, e.g. ``"additional job"``.

    For an agency's own outcome (``custom:<name>``): ``"additional unit of <label> (<unit>)"`` for a level
    outcome, ``"additional firm with <label>"`` for a binary one; with ``plural``, ``"units of <label>
    (<unit>)"`` and ``"firms with <label>"`` (as in "66 units per EUR 1 million").
    """
    if not cost_unit.startswith("custom:"):
        return COST_LABELS.get(cost_unit, cost_unit)
    shown = fmt.outcome_display(cost_unit.removeprefix("custom:"))
    lead = "" if plural else "additional "
    if shown.scale == "share":
        return f"{lead}firm{'s' if plural else ''} with {shown.label}"
    return (f"{lead}unit{'s' if plural else ''} of {shown.label}"
            + (f" ({shown.unit})" if shown.unit else ""))


def _costed(outcome: str) -> bool:
    return bool(fmt.outcome_display(outcome).cost_unit)


@dataclass(frozen=True)
class Section:
    """A report section with an HTML id (``<section id=...>``) and a plain-text form for nbval."""

    id: str
    title: str
    items: tuple[str, ...]
    lead: str = ""

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self) -> str:
        """Return the section as HTML (``<section id=...>``), every text escaped."""
        items = "".join(f"<li>{_E(i)}</li>" for i in self.items)
        lead = f"<p><strong>{_E(self.lead)}</strong></p>" if self.lead else ""
        return f"<section id='{_E(self.id)}'><h2>{_E(self.title)}</h2>{lead}<ul>{items}</ul></section>"

    def __repr__(self) -> str:
        lines = [self.title, *([self.lead] if self.lead else []), *(f"- {i}" for i in self.items)]
        return "\n".join(lines)


def _significant(row: Mapping[str, Any]) -> bool:
    low, high = float(row["ci_low"]), float(row["ci_high"])
    return bool(math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0))


@keyword_options
def outcome_sentence(row: Mapping[str, Any], *, alpha: float = 0.05) -> str:
    """Return one evidence row as a sentence in units people use.

    Parameters
    ----------
    row
        An evidence row (``outcome``, ``grade_design``, ``estimate``, ``ci_low``, ``ci_high``).
    alpha
        Level of the interval.

    Returns
    -------
    str
        E.g. ``"Supported firms: employment rises by 12.7 % on average over the years since support (95 %
        interval +11.5 % to +13.9 %); the effect is distinguishable from zero."``
    """
    shown = fmt.outcome_display(str(row["outcome"]))
    effect = fmt.effect_in_units(float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]),
                                 scale=shown.scale, unit=shown.unit, alpha=alpha)
    design = "delivery_trial" if row.get("design") == "delivery_trial" else str(row["grade_design"])
    return fmt.effect_sentence(SUBJECTS[design], shown.label, effect, significant=_significant(row),
                               horizon=HORIZONS[design],
                               without="it" if design == "delivery_trial" else "the support")


@keyword_options
def cost_sentence(row: Mapping[str, Any]) -> str | None:
    """Return the cost per additional unit of a costed headline row, or why there is none.

    ``None`` for an outcome without a cost unit.  Where the effect's interval is not above zero the sentence
    says that no cost per outcome is given, and why; a cost is never shown for an effect that may be zero.
    """
    unit = str(row.get("cost_unit") or "")
    raw = row.get("cost_per_outcome")
    cost = math.nan if raw is None or pd.isna(raw) else float(raw)
    label = fmt.outcome_display(str(row["outcome"])).label
    if unit and math.isfinite(cost):
        what = cost_label(unit)
        return (f"Cost per {what}: {money(cost)} (interval {money(float(row['cost_ci_low']))} to "
                f"{money(float(row['cost_ci_high']))}), counting the subsidy and the agency's "
                "administration.")
    if not _costed(str(row["outcome"])):
        return None
    if float(row["ci_high"]) < 0:
        return (f"The effect on {label} is negative: the programme is associated with less of it, so no "
                "cost per additional unit is given.")
    return (f"The effect on {label} is not distinguishable from zero, so no cost per additional unit is "
            "given: the programme may not buy any.")


@keyword_options
def money(x: float) -> str:
    """Format a cost per outcome: to the cent below EUR 100 (a cost per euro of R&D), else as euro."""
    return f"EUR {x:,.2f}" if math.isfinite(x) and 0 < abs(x) < 100 else fmt.euro(x)


@keyword_options
def verdict_words(verdict: CountryVerdict) -> str:
    """Return the verdict on an instrument in words, naming the outcomes that improved by their labels."""
    gains = ", ".join(fmt.outcome_display(o).label for o in verdict.gains)
    return VERDICT_WORDS[verdict.verdict] + (f"; significant gains in {gains}" if gains else "")


@keyword_options
def verdict_sentence(verdict: CountryVerdict, label: str) -> str:
    """Return the verdict as the summary's lead sentence: ``"<label>: <verdict in words>."``."""
    return f"{label}: {verdict_words(verdict)}."


def _order(heads: pd.DataFrame, primary: str, outcomes: Sequence[str]) -> pd.DataFrame:
    rank = {o: i for i, o in enumerate([primary, *[o for o in outcomes if o != primary]])}
    return heads.assign(_o=heads["outcome"].map(lambda o: rank.get(o, len(rank)))).sort_values(
        "_o", kind="mergesort").drop(columns="_o")


@keyword_options
def instrument_summary(ev: InstrumentEvidence, *, label: str) -> Section:
    """Return the summary block of an instrument report (``<section id="summary">``).

    Parameters
    ----------
    ev
        The evaluation.
    label
        The instrument's display name.

    Returns
    -------
    Section
        The verdict first, then one sentence per outcome (the primary outcome first), the evidence grade of
        the primary outcome's headline with its meaning, and the cost per outcome of each costed headline.
    """
    alpha = ev.instrument.estimator.alpha
    heads = _order(ev.headlines, ev.instrument.primary, list(ev.instrument.outcomes))
    (verdict,) = country_verdicts(heads, instruments=[ev.instrument.name], labels={ev.instrument.name: label},
                                  alpha=alpha)
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()}
                                     for r in heads.to_dict(orient="records")]
    items = [outcome_sentence(r, alpha=alpha) for r in records]
    if len(heads):
        grade = ev.grade_of(ev.instrument.primary) if ev.instrument.primary in set(heads["outcome"]) else \
            ev.grades[(str(heads["grade_design"].iloc[0]), str(heads["outcome"].iloc[0]),
                       str(heads["term"].iloc[0]))]
        items.append(f"Evidence: Maryland level {grade.level} of 5, {level_meaning(grade)}")
    items += [c for c in (cost_sentence(r) for r in records) if c]
    lead = verdict_sentence(verdict, label) if len(heads) else f"{label}: no headline estimate could be made."
    return Section("summary", "Summary", tuple(items), lead)


def _stale_prefix(row: Mapping[Any, Any]) -> str:
    if not bool(row.get("stale", False)):
        return ""
    return f"out of date (the evidence of {str(row.get('created', ''))[:10]}; the latest run failed): "


@keyword_options
def findings_rows(evidence: pd.DataFrame, primaries: Mapping[tuple[str, str], str], *,
                  alpha: float = 0.05) -> pd.DataFrame:
    """One row per (country, instrument): its primary outcome's headline in units, grade, cost, verdict.

    Parameters
    ----------
    evidence
        Rows of ``evidence.csv``.
    primaries
        The primary outcome of each ``(country, instrument)``.
    alpha
        Level of the intervals and of the verdict rules.

    Returns
    -------
    pandas.DataFrame
        Columns ``country, instrument, outcome, effect, grade, cost, verdict, data_source`` (text columns
        formatted for people).
    """
    rows = []
    heads = evidence.loc[evidence["headline"].astype(bool)]
    for (country, instrument), primary in primaries.items():
        mine = heads.loc[(heads["country"] == country) & (heads["instrument"] == instrument)]
        if not len(mine):
            continue
        (verdict,) = country_verdicts(mine, instruments=[instrument], alpha=alpha)
        row = mine.loc[mine["outcome"] == primary]
        r = (row if len(row) else mine).iloc[0].to_dict()
        shown = fmt.outcome_display(str(r["outcome"]))
        effect = fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                     scale=shown.scale, unit=shown.unit, alpha=alpha)
        cost = float(r["cost_per_outcome"]) if pd.notna(r.get("cost_per_outcome")) else math.nan
        rows.append({"country": country, "instrument": instrument, "outcome": shown.label,
                     "effect": effect.text, "grade": f"level {int(r['evidence_grade'])} of 5",
                     "cost": (f"{money(cost)} per {cost_label(str(r['cost_unit']))}"
                              if math.isfinite(cost) else
                              "not given: the effect is not distinguishable from zero"
                              if _costed(str(r["outcome"])) and float(r["ci_high"]) >= 0 else
                              "not given: the effect is negative" if _costed(str(r["outcome"])) else ""),
                     "verdict": _stale_prefix(r) + verdict_words(verdict),
                     "data_source": str(r["data_source"])})
    return pd.DataFrame(rows, columns=["country", "instrument", "outcome", "effect", "grade", "cost",
                                       "verdict", "data_source"])
