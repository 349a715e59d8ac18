"""What a country report recommends for each of its instruments, by explicit rules on the headline estimates.

=========================================  ==========================================================
headline estimates of the instrument       verdict
=========================================  ==========================================================
some significantly beneficial, none        keep and scale up where demand exists
significantly adverse, and one of the
gains graded at least ``min_grade``
the same, but every gain graded below      gains found on weak evidence: strengthen the evaluation
``min_grade``                              before scaling up
some significantly adverse                 review: some outcomes move the wrong way
none significant                           no measurable effect yet: review design or targeting
=========================================  ==========================================================

"Significant" means a two-sided p-value below ``alpha``; a positive estimate is beneficial for every
outcome the forum evaluates (employment, turnover, exports, equity, R&D, survival).  A grade below
``min_grade`` (Maryland level 3 by default) means a check the design needs failed or could not be computed
(:mod:`ipf_eval.evidence.grading`): such a gain is not a basis for scaling up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ipf_eval._defaults import keyword_options

__all__ = ["VERDICT_WORDS", "CountryVerdict", "country_verdicts"]

#: The verdict of each rule, in words.
VERDICT_WORDS: Mapping[str, str] = {
    "keep": "keep and scale up where demand exists",
    "weak_evidence": "gains found on weak evidence: strengthen the evaluation before scaling up",
    "review": "review: some outcomes move the wrong way",
    "no_effect": "no measurable effect yet: review design or targeting",
}


@dataclass(frozen=True)
class CountryVerdict:
    """The verdict on one instrument of a country, the grades behind it and the outcomes that improved."""

    instrument: str
    label: str
    verdict: str
    grades: tuple[int, ...]
    gains: tuple[str, ...]

    @property
    def wording(self) -> str:
        """The verdict as one Markdown bullet's text (the label is escaped by the caller)."""
        return VERDICT_WORDS[self.verdict] + (f"; significant gains in {', '.join(self.gains)}"
                                              if self.gains else "")


@keyword_options
def country_verdicts(headlines: pd.DataFrame, *, instruments: Sequence[str],
                     labels: Mapping[str, str] | None = None, alpha: float = 0.05,
                     min_grade: int = 3) -> list[CountryVerdict]:
    """Apply the rules to each evaluated instrument of one country.

    Parameters
    ----------
    headlines
        The country's headline evidence rows (``headline`` True), with ``instrument``, ``outcome``,
        ``estimate``, ``p_value`` and ``evidence_grade``.
    instruments
        The instruments evaluated, in report order.
    labels
        Display label of each instrument.
    alpha
        Significance level of the rules.
    min_grade
        The weakest grade a gain needs to support "keep and scale up".

    Returns
    -------
    list of CountryVerdict
        One per instrument.
    """
    labels = labels or {}
    out = []
    for name in instruments:
        heads = headlines.loc[headlines["instrument"] == name]
        sig = heads.loc[heads["p_value"].lt(alpha)]
        pos = tuple(str(o) for o in sig.loc[sig["estimate"] > 0, "outcome"])
        neg = tuple(str(o) for o in sig.loc[sig["estimate"] < 0, "outcome"])
        strong = bool((sig.loc[sig["estimate"] > 0, "evidence_grade"] >= min_grade).any())
        verdict = ("review" if neg else "no_effect" if not pos else "keep" if strong else "weak_evidence")
        grades = tuple(sorted({int(g) for g in heads["evidence_grade"]}))
        out.append(CountryVerdict(name, labels.get(name, name), verdict, grades, pos))
    return out
