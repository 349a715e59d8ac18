"""Which estimate is an outcome's headline, and which design its evidence grade belongs to.

Every outcome of an evaluation has exactly one **headline** estimate: the estimate of the design's own
estimator.  The grade, the country report and the synthesis use it.

==============  ======================  ==============================  ===========================
design          design's own estimator  headline term                   grade belongs to (design)
==============  ======================  ==============================  ===========================
lottery         ``rct``                 ``late`` (effect on users) if   ``lottery`` (Maryland 5)
                                        take-up was observed, else
                                        ``itt``
scored_call     ``rdd``                 ``robust`` (bias-corrected)     ``rdd`` (Maryland 4)
open_call       ``att_gt``              ``att`` (simple aggregation)    ``did`` (Maryland 3)
delivery_trial  ``rct``                 ``itt`` (effect of the new      ``lottery`` (Maryland 5)
                                        delivery on eligible firms)
==============  ======================  ==============================  ===========================

When the design's own estimator did not run for an outcome (too few applicants, no score), the staggered
DiD (``att_gt``) stays that outcome's headline, and its rows carry the DiD's grade.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import SpecificationError

__all__ = [
    "DESIGN_ESTIMATOR",
    "GRADE_DESIGN",
    "estimator_family",
    "grade_design",
    "headline_term",
    "mark_headlines",
]

#: The estimator family each assignment design calls for.
DESIGN_ESTIMATOR: dict[str, str] = {"lottery": "rct", "scored_call": "rdd", "open_call": "att_gt",
                                    "delivery_trial": "rct"}
#: The design (in :data:`ipf_eval.evidence.DESIGNS`) an estimator family's estimates are graded as.
GRADE_DESIGN: dict[str, str] = {"rct": "lottery", "rdd": "rdd", "att_gt": "did"}
# Headline term of each family, in order of preference (the first present wins).
_HEADLINE_TERMS: dict[str, tuple[str, ...]] = {"rct": ("late", "itt"), "rdd": ("robust",), "att_gt": ("att",)}


def _design(design: str) -> str:
    if design not in DESIGN_ESTIMATOR:
        raise SpecificationError(f"design must be one of {sorted(DESIGN_ESTIMATOR)!r}; got {design!r}. Use "
                                 "the assignment design of the instrument file.")
    return design


@keyword_options
def estimator_family(estimator: str) -> str:
    """Return the family of an estimator name: ``att_gt_dr``, ``att_gt_ipw``, ``att_gt_reg`` -> ``att_gt``.

    Raises
    ------
    SpecificationError
        If the name is not one the evaluation writes (``att_gt_<method>``, ``rct``, ``rdd``).
    """
    name = str(estimator)
    family = "att_gt" if name.startswith("att_gt") else name
    if family not in GRADE_DESIGN:
        raise SpecificationError(f"estimator {estimator!r} is not one an evaluation writes; expected "
                                 "att_gt_<method>, rct or rdd")
    return family


@keyword_options
def headline_term(estimator: str, terms: Sequence[str]) -> str | None:
    """Return which of an estimator's terms is the headline, or ``None`` if none of them is.

    Parameters
    ----------
    estimator
        ``att_gt_<method>``, ``rct`` or ``rdd``.
    terms
        The terms of that estimator's tidy table for one outcome.

    Returns
    -------
    str or None
        ``rct``: ``late`` (the effect on users) when take-up was observed, otherwise ``itt``; ``rdd``:
        ``robust``; ``att_gt``: ``att``.
    """
    for term in _HEADLINE_TERMS[estimator_family(estimator)]:
        if term in terms:
            return term
    return None


@keyword_options
def grade_design(design: str, *, design_estimator_ran: bool) -> str:
    """Return the design the evaluation's evidence grade belongs to.

    Parameters
    ----------
    design
        The instrument's assignment design: ``lottery``, ``scored_call`` or ``open_call``.
    design_estimator_ran
        Whether the design's own estimator (RCT for a lottery, RDD for a scored call) produced an estimate
        for at least one outcome.

    Returns
    -------
    str
        ``"lottery"``, ``"rdd"`` or ``"did"``: the design's own when its estimator ran, otherwise ``"did"``
        (the staggered DiD, which runs for every design).

    Raises
    ------
    SpecificationError
        If ``design`` is unknown.
    """
    family = DESIGN_ESTIMATOR[_design(design)]
    return GRADE_DESIGN[family] if design_estimator_ran else "did"


@keyword_options
def mark_headlines(estimates: pd.DataFrame, design: str) -> pd.DataFrame:
    """Set the ``headline`` column: one estimate per outcome, the design's own where it ran.

    Parameters
    ----------
    estimates
        One row per estimate with ``outcome``, ``estimator`` and ``term``; not modified.
    design
        The instrument's assignment design.

    Returns
    -------
    pandas.DataFrame
        A copy with a boolean ``headline``: for each outcome, the headline term of the design's own
        estimator if it has a row for that outcome, otherwise the ``att`` row of the staggered DiD.

    Raises
    ------
    SpecificationError
        If ``design`` or an estimator is unknown.
    """
    own = DESIGN_ESTIMATOR[_design(design)]
    out = estimates.copy()
    flags = pd.Series(False, index=out.index)
    families = out["estimator"].map(estimator_family) if len(out) else pd.Series(dtype=str)
    for _, rows in out.groupby("outcome", sort=False):
        fam = families.loc[rows.index]
        for family in dict.fromkeys((own, "att_gt")):
            mine = rows.loc[fam == family]
            term = headline_term(family, mine["term"].tolist()) if len(mine) else None
            if term is not None:
                flags.loc[mine.index[mine["term"] == term][0]] = True
                break
    out["headline"] = flags.astype(bool)
    return out
