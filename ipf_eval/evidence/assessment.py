"""Every estimate's grade, from the checks its design requires (:mod:`ipf_eval.evidence.checks`).

An evaluation grades each (estimator, outcome) on its own:

* the staggered DiD of an outcome: that outcome's pre-trend test and its power, and the design-wide balance
  after propensity weighting and propensity-score overlap;
* a lottery's estimates of an outcome: balance of winners and losers and attrition (design-wide, attrition on
  that outcome), and for the effect on users that outcome's first stage;
* a scored call's RDD of an outcome: the density test and covariate continuity (design-wide), that outcome's
  bandwidth sensitivity, and for a fuzzy design the jump in take-up at the threshold.

The sensitivity analyses beside the grade (HonestDiD for DiD headlines, placebo thresholds for the RDD) are
collected here too.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import AggregateResult, HonestDidResult, aggregate, honest_did
from ipf_eval.errors import IpfEvalError
from ipf_eval.evidence.checks import (
    PretrendPower,
    attrition_check,
    bandwidth_check,
    covariate_continuity_check,
    density_check,
    did_balance_and_overlap,
    first_stage_check,
    lottery_balance_check,
    pretrend_check,
)
from ipf_eval.evidence.design_estimators import RDD_VCE, DesignEstimates
from ipf_eval.evidence.diagnostics import PretrendCheck, bonferroni_pretrend
from ipf_eval.evidence.fallbacks import FittedAttGt
from ipf_eval.evidence.grading import MIN_FIRST_STAGE_F, Check, EvidenceGrade, evidence_grade
from ipf_eval.evidence.headline import GRADE_DESIGN

__all__ = ["EVENT_WINDOW", "DesignAssessment", "DidAssessment", "assess_design", "assess_did"]

#: Event times of the event studies (years before and after support).
EVENT_WINDOW = (-5, 5)


@dataclass(frozen=True, eq=False)
class DidAssessment:
    """The staggered DiD's grade per outcome and what it rests on.

    Attributes
    ----------
    grades
        Each outcome's grade (``pre_trends`` of that outcome, design-wide ``balance`` and ``overlap``).
    dynamics, pretrends, power
        Each outcome's event study, its Bonferroni pre-trend test and that test's power (Roth 2022).
    balance, overlap
        The checks of the propensity weighting, shared by every outcome.
    honest
        Each outcome's HonestDiD relative-magnitudes bounds (:func:`ipf_eval.did.honest_did`), where the
        event study has at least two pre-support event times.
    """

    grades: Mapping[str, EvidenceGrade]
    dynamics: Mapping[str, AggregateResult]
    pretrends: Mapping[str, PretrendCheck]
    power: Mapping[str, PretrendPower | None]
    balance: Check
    overlap: Check
    honest: Mapping[str, HonestDidResult] = field(default_factory=dict)


@keyword_options
def assess_did(checked: ValidatedPanel, fits: Mapping[str, FittedAttGt],
               headlines: Mapping[str, tuple[float, float]], *,
               covariates: Sequence[str], control_group: str, seed: int) -> DidAssessment:
    """Grade the staggered DiD of every outcome.

    Parameters
    ----------
    checked
        The validated panel.
    fits
        The ``att_gt`` fit of each outcome.
    headlines
        The estimate and standard error of each outcome's simple aggregation.
    covariates, control_group
        The instrument's estimator choices.
    seed
        Seed of the draws behind the pre-trend test's power.

    Returns
    -------
    DidAssessment
        Per outcome: the grade, the event study, the pre-trend test and its power.
    """
    bal, over = did_balance_and_overlap(checked, covariates=covariates, control_group=control_group)
    grades, dyns, pres, powers, honest = {}, {}, {}, {}, {}
    for outcome, fitted in fits.items():
        try:
            dyn = aggregate(fitted.result, kind="dynamic", min_e=EVENT_WINDOW[0], max_e=EVENT_WINDOW[1])
        except IpfEvalError:
            dyn = None
        pre = bonferroni_pretrend(dyn, source=fitted.result) if dyn is not None else None
        check, power = pretrend_check(dyn, headline_estimate=headlines[outcome][0],
                                      headline_se=headlines[outcome][1],
                                      bonferroni_p=None if pre is None else pre.p_value, seed=seed)
        grades[outcome] = evidence_grade(design="did", checks=[check, bal, over])
        if dyn is not None:
            dyns[outcome] = dyn
            # fewer than two pre-support event times, or gaps: no sensitivity analysis
            with contextlib.suppress(IpfEvalError):
                honest[outcome] = honest_did(dyn, alpha=dyn.alpha)
        if pre is not None:
            pres[outcome] = pre
        powers[outcome] = power
    return DidAssessment(grades, dyns, pres, powers, bal, over, honest)


@dataclass(frozen=True, eq=False)
class DesignAssessment:
    """The design's own estimator's grade per (outcome, term), and its sensitivity analyses.

    Attributes
    ----------
    grades
        The grade of each (outcome, term) of the design's estimator: a lottery's intention-to-treat and
        take-up difference need balance and attrition, its effect on users the first stage as well; every
        term of a fuzzy RDD needs the first stage.
    placebo
        For a scored call, the RDD of the primary outcome at placebo thresholds (:func:`placebo_thresholds`).
    """

    grades: Mapping[tuple[str, str], EvidenceGrade] = field(default_factory=dict)
    placebo: pd.DataFrame | None = None


def _rct_grades(design_est: DesignEstimates, panel: pd.DataFrame, covariates: Sequence[str]
                ) -> dict[tuple[str, str], EvidenceGrade]:
    grades: dict[tuple[str, str], EvidenceGrade] = {}
    first = next(iter(design_est.cross_sections.values()))
    balance = lottery_balance_check(first, covariates=covariates)
    for outcome, res in design_est.results.items():
        table = res.to_frame().set_index("term")
        checks = [balance, attrition_check(panel, outcome=outcome)]
        if "first_stage" in table.index:
            fs = table.loc["first_stage"].to_dict()
            first_stage = first_stage_check(float(fs["estimate"]), float(fs["std_error"]),
                                            what="take-up difference between winners and losers")
        else:
            first_stage = Check.missing("first_stage", "take-up was not observed")
        for term in table.index:
            takeup = term == "late"
            terms_checks = [*checks, *([first_stage] if takeup else [])]
            grades[(outcome, str(term))] = evidence_grade(design="lottery", takeup=takeup,
                                                          checks=terms_checks)
    return grades


def _rdd_first_stage(cross: pd.DataFrame, bandwidth: float) -> Check:
    """Check the jump in take-up at the threshold, estimated within the outcome's own bandwidth."""
    from ipf_eval.discontinuity import rdd

    centred = cross["score"] - cross["threshold"]
    near = cross.loc[centred.abs() <= bandwidth]
    below, above = near.loc[centred < 0, "used"], near.loc[centred >= 0, "used"]
    if len(below) and len(above) and below.nunique() == 1 and above.nunique() == 1 and \
            float(above.iloc[0]) > float(below.iloc[0]):
        return Check("first_stage", "passed", math.inf, MIN_FIRST_STAGE_F,
                     f"take-up jumps from {float(below.iloc[0]):.0%} to {float(above.iloc[0]):.0%} at the "
                     "threshold, without exception within the bandwidth")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fs = rdd(cross, yname="used", scorename="score", cutoff="threshold", call="application_year",
                     vce=RDD_VCE, bandwidth=bandwidth, density=False, sensitivity=())
    except IpfEvalError as exc:
        return Check.missing("first_stage", f"the jump in take-up could not be estimated ({exc})")
    jump = fs.to_frame().set_index("term").loc["conventional"].to_dict()
    return first_stage_check(float(jump["estimate"]), float(jump["std_error"]),
                             what="jump in take-up at the threshold")


def _rdd_grades(design_est: DesignEstimates, fuzzy: bool) -> dict[tuple[str, str], EvidenceGrade]:
    grades: dict[tuple[str, str], EvidenceGrade] = {}
    first_outcome = next(iter(design_est.results))
    res0 = design_est.results[first_outcome]
    density, continuity = density_check(res0), covariate_continuity_check(res0)
    for outcome, res in design_est.results.items():
        checks = [density, continuity, bandwidth_check(res)]
        if fuzzy:
            h = float(getattr(res, "h", (math.nan,))[0])
            checks.append(_rdd_first_stage(design_est.cross_sections[outcome], h) if math.isfinite(h) else
                          Check.missing("first_stage", "the outcome's RDD has no bandwidth"))
        grade = evidence_grade(design="rdd", checks=checks, takeup=fuzzy)
        for term in res.to_frame()["term"]:
            grades[(outcome, str(term))] = grade
    return grades


def placebo_thresholds(cross: pd.DataFrame, *, alpha: float) -> pd.DataFrame:
    """Sharp RDDs at placebo thresholds: the median centred score below, and above, the real threshold.

    No effect should appear where no support changes; a significant jump at a placebo threshold suggests
    the RDD picks up curvature rather than the support.
    """
    from ipf_eval.discontinuity import rdd

    centred = cross.assign(_s=cross["score"] - cross["threshold"])
    rows = []
    for side, sub in (("below", centred.loc[centred["_s"] < 0]), ("above", centred.loc[centred["_s"] >= 0])):
        cut = float(sub["_s"].median()) if len(sub) else math.nan
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = rdd(sub, yname="change", scorename="_s", cutoff=cut, density=False, sensitivity=(),
                        vce=RDD_VCE, alpha=alpha).to_frame().set_index("term").loc["robust"]
            rows.append({"placebo": side, "threshold": cut, "estimate": r["estimate"], "ci_low": r["ci_low"],
                         "ci_high": r["ci_high"], "p_value": r["p_value"]})
        except IpfEvalError:
            rows.append({"placebo": side, "threshold": cut, "estimate": math.nan, "ci_low": math.nan,
                         "ci_high": math.nan, "p_value": math.nan})
    return pd.DataFrame(rows, columns=["placebo", "threshold", "estimate", "ci_low", "ci_high", "p_value"])


@keyword_options
def assess_design(design_est: DesignEstimates, panel: pd.DataFrame, *, covariates: Sequence[str],
                  primary: str, alpha: float) -> DesignAssessment:
    """Grade the design's own estimator for every outcome it estimated.

    Parameters
    ----------
    design_est
        The design's estimates (:func:`ipf_eval.evidence.design_estimators.design_estimates`).
    panel
        The evaluation sample.
    covariates
        Baseline covariates.
    primary
        The primary outcome (its placebo thresholds are estimated).
    alpha
        Level of the placebo intervals.

    Returns
    -------
    DesignAssessment
        The grades (empty when the design's estimator did not run) and, for a scored call, the placebo
        thresholds of the primary outcome.
    """
    if not design_est.ran:
        return DesignAssessment()
    if GRADE_DESIGN[design_est.estimator] == "lottery":
        return DesignAssessment(_rct_grades(design_est, panel, covariates))
    fuzzy = bool(getattr(next(iter(design_est.results.values())), "fuzzy", False))
    outcome = primary if primary in design_est.cross_sections else next(iter(design_est.cross_sections))
    return DesignAssessment(_rdd_grades(design_est, fuzzy),
                            placebo_thresholds(design_est.cross_sections[outcome], alpha=alpha))
