"""The synthesis' section "What explains the differences between countries", in words and units.

The meta-regressions and their rules are in :mod:`ipf_eval.synthesis.explain`; this module writes them
for a forum delegate: one row per instrument and outcome, a column per country characteristic, each cell
the change of the effect in the outcome's units (percent, percentage points, euro, jobs) with its interval
and p-value, or why it could not be estimated; and a sentence comparing the number of associations found
with the number chance alone would give.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd
from scipy import stats

from ipf_eval._defaults import keyword_options
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.synthesis.explain import COUNTRIES_PER_MODERATOR, DifferenceExplanations

__all__ = ["COLUMN_WORDS", "explain_cell", "explain_section"]

_E = html.escape

#: The column of each characteristic, in words (one unit of it: what a cell's change is per).
COLUMN_WORDS: Mapping[str, str] = {
    "micro_share": "per 10 percentage points more micro firms",
    "evidence_grade": "per Maryland level higher grade",
    "design": "design of the evaluation",
}

_STATUS_WORDS: Mapping[str, str] = {
    "constant": "the same in every country",
    "too_few_countries": "too few countries",
    "missing": "not known for every country",
    "failed": "could not be estimated",
}


@keyword_options
def explain_cell(row: Mapping[str, Any], *, alpha: float = 0.05) -> str:
    """Return one comparison in words: the change of the effect with its interval and p-value, or why not.

    Parameters
    ----------
    row
        A row of :attr:`ipf_eval.synthesis.explain.DifferenceExplanations.table`.
    alpha
        The intervals' level is ``1 - alpha``.

    Returns
    -------
    str
        ``"-2.4 % (95 % interval -5.6 % to +0.9 %), p = 0.106"`` for a numeric characteristic (the
        outcome's units: percent for log outcomes, percentage points for shares, euro or the unit of a
        level), ``"differs between designs (p = 0.04)"`` for a design with more than two levels; else the
        reason it was not estimated (``"too few countries (4; needs 5)"``).
    """
    status = str(row["status"])
    if status != "fitted":
        words = _STATUS_WORDS.get(status, status)
        if status == "too_few_countries":
            need = str(row["note"]).rsplit(" ", 1)[-1]
            words = f"{words} ({int(row['countries'])}; needs {need})"
        return words
    p = fmt.p_text(float(row["p_value"]))
    if pd.isna(row["slope"]):
        text = f"differs between designs ({p})"
    else:
        shown = fmt.outcome_display(str(row["outcome"]))
        effect = fmt.effect_in_units(float(row["slope"]), float(row["ci_low"]), float(row["ci_high"]),
                                     scale=shown.scale, unit=shown.unit, alpha=alpha)
        text = f"{effect.text}, {p}"
    return text


def _variation(grp: pd.DataFrame) -> str:
    """Whether the countries' estimates vary more than their sampling error (the model without moderators)."""
    before = pd.to_numeric(grp["tau2_before"], errors="coerce").dropna()
    if not len(before):
        return "not estimated"
    return "none beyond chance" if float(before.iloc[0]) == 0.0 else "more than chance"


def _range_sentence(explanations: DifferenceExplanations) -> list[Text]:
    """Say how far apart the countries' shares of micro firms are (a slope per 10 points may extrapolate)."""
    shares = pd.to_numeric(explanations.moderators.get("micro_share", pd.Series(dtype=float)),
                           errors="coerce").dropna()
    if shares.nunique() < 2 or "micro_share" not in set(explanations.fitted()["moderator"]):
        return []
    low, high = fmt.percent(float(shares.min()), decimals=0), fmt.percent(float(shares.max()), decimals=0)
    spread = float(shares.max() - shares.min())
    beyond = (" A change of 10 percentage points is more than the countries span: read the change per 10 "
              "points as a rate, not as something observed." if spread < 0.1 else "")
    return [Text(f"The countries' shares of micro firms range from {low} to {high}.{beyond}")]


def _chance_sentence(fitted: pd.DataFrame, alpha: float) -> str:
    n, found = len(fitted), int((fitted["p_value"] < alpha).sum())
    level = f"{100 * alpha:.10g} %"
    expected = alpha * n
    tail = float(stats.binom.sf(found - 1, n, alpha)) if found else 1.0
    verdict = ("so none of them should be read as a finding" if tail > alpha else
               "so there are more than chance would give; they are still questions for the forum to "
               "examine, not findings")
    return (f"Of {n} comparisons that could be made, {found} show an association at the {level} level; "
            f"chance alone would give about {expected:.1f}, {verdict}.")


@keyword_options
def explain_section(explanations: DifferenceExplanations, *,
                    labels: Mapping[str, str] | None = None) -> list[object]:
    """Return the synthesis section on what explains the differences between countries.

    Parameters
    ----------
    explanations
        From :func:`ipf_eval.synthesis.explain.explain_differences`.
    labels
        The instruments in words, by name.

    Returns
    -------
    list
        The rule in words; a :class:`~ipf_eval.pipeline.display.Table` with one row per instrument and
        outcome, whether its countries' estimates vary more than chance, and a column per characteristic
        that varies somewhere (:func:`explain_cell`); a sentence
        for each characteristic that is the same in every country everywhere; and the sentence comparing
        the associations found with what chance would give.  A sentence instead when nothing was examined.
    """
    table = explanations.table
    alpha = explanations.alpha
    need = 1 + 1 + explanations.min_residual_df
    rule = (f"Why do the countries' estimates of the same instrument differ? Each characteristic that "
            "travels in the agencies' evidence bundles is tried on its own, in a meta-regression of the "
            "countries' headline estimates: the share of micro firms among the country's firms (its SME "
            "mix), the evidence grade of its estimate, and the design of its evaluation. A comparison needs "
            f"at least {need} countries (three degrees of freedom left after the fit). With fewer than "
            f"{COUNTRIES_PER_MODERATOR} countries per characteristic every result here is exploratory: a "
            "question for the forum, not a finding. These are associations across countries, which differ "
            "in many ways at once; they are not the effect of changing the characteristic.")
    if not len(table):
        return [Text(rule), Text("No instrument and outcome was pooled from enough countries to compare.")]
    out: list[object] = [Text(rule)]
    varying = [m for m in dict.fromkeys(table["moderator"]) if (table.loc[table["moderator"] == m, "status"]
                                                                  != "constant").any()]
    rows = []
    for (inst, outcome), grp in table.groupby(["instrument", "outcome"], sort=True):
        row: dict[str, str] = {"instrument": (labels or {}).get(str(inst)) or str(inst).replace("_", " "),
                               "outcome": fmt.outcome_display(str(outcome)).label,
                               "countries": fmt.count(int(grp["countries"].iloc[0])),
                               "variation between countries": _variation(grp)}
        for m in varying:
            mine = grp.loc[grp["moderator"] == m]
            row[COLUMN_WORDS.get(m, m)] = explain_cell(mine.iloc[0], alpha=alpha) if len(mine) else ""
        rows.append(row)
    level = f"{100 * (1 - alpha):.10g} %"
    out.append(Table(pd.DataFrame(rows), (
        "random-effects meta-regression (REML, Knapp-Hartung t tests) of each country's headline estimate "
        "on one characteristic at a time; change of the effect in the outcome's units per unit of the "
        f"characteristic, with its {level} interval; micro firms: the share of micro firms among all the "
        "country's firms, from its evidence bundle; grade: the Maryland level (1-5) of the country's "
        "estimate; variation between countries: the between-country variance of the random-effects model "
        "without characteristics")))
    for m in dict.fromkeys(table["moderator"]):
        if m not in varying:
            what = {"design": "The design of the evaluation", "evidence_grade": "The evidence grade",
                    "micro_share": "The share of micro firms"}.get(str(m), str(m))
            out.append(Text(f"{what} is the same in every country of every comparison, so it cannot "
                            "explain the differences here."))
    out.extend(_range_sentence(explanations))
    fitted = explanations.fitted()
    if len(fitted):
        out.append(Text(_chance_sentence(fitted, alpha)))
    else:
        out.append(Text("No comparison had enough countries with differing characteristics to be made."))
    return out
