"""The checks behind an evidence grade, computed from the data and the design's estimates.

Each function returns a :class:`~ipf_eval.evidence.grading.Check`: passed or failed with the figure it rests
on, or missing with the reason it could not be computed (a missing check is never counted as passed).

=========================  ===================================================================================
check                      how it is computed
=========================  ===================================================================================
``balance`` (lottery)      winners vs losers on the baseline covariates: max absolute SMD and an omnibus test
                           (OLS of the assignment on the covariates, heteroskedasticity-robust F test)
``attrition``              applicants observed the year before the call but not in the call year: overall,
                           and the absolute difference between the arms
``first_stage``            the take-up difference (lottery) or the jump in take-up at the threshold (fuzzy
                           RDD): ``F = (estimate / standard error)^2``
``density``                the Cattaneo-Jansson-Ma manipulation test at the threshold (rddensity)
``covariate_continuity``   each baseline covariate as an RD outcome; Bonferroni over the covariates
``bandwidth_sensitivity``  the estimates at half and at double the bandwidth lie inside the robust interval
``pre_trends``             Bonferroni test over the pre-support event times, and its power: the linear
                           pre-trend it detects 80 % of the time, and the bias that trend would cause in the
                           headline relative to the effect the design detects with 80 % power (Roth 2022)
``balance`` (DiD)          per support cohort, the baseline covariates of supported and comparison firms
                           after propensity-score (odds) weighting: the largest absolute SMD over cohorts
``overlap``                share of firms whose propensity score of their cohort, with the cohort's size taken
                           out, lies outside [0.01, 0.99]
=========================  ===================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import keyword_options
from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import AggregateResult
from ipf_eval.errors import EstimationError, IpfEvalError
from ipf_eval.evidence.grading import (
    MAX_ABS_SMD,
    MAX_ATTRITION,
    MAX_DIFFERENTIAL_ATTRITION,
    MAX_EXTREME_SCORE_SHARE,
    MIN_FIRST_STAGE_F,
    MIN_PRETREND_POWER,
    SIGNIFICANCE,
    Check,
    evidence_grade,
)

__all__ = [
    "EXTREME_SCORE",
    "PRETREND_POWER",
    "PretrendPower",
    "attrition_check",
    "bandwidth_check",
    "covariate_continuity_check",
    "density_check",
    "did_balance_and_overlap",
    "first_stage_check",
    "lottery_balance_check",
    "pretrend_check",
    "pretrend_power",
]

#: Propensity scores below this or above one minus it count as extreme for the overlap check.
EXTREME_SCORE = 0.01
#: Power at which the pre-trend test's detectable trend is computed (Roth 2022 uses 50 % and 80 %).
PRETREND_POWER = 0.8
_Z_MDE = float(stats.norm.ppf(1 - SIGNIFICANCE / 2) + stats.norm.ppf(PRETREND_POWER))  # 2.80
_DRAWS = 20_000


# ------------------------------------------------------------------------------------------------ lottery
@keyword_options
def lottery_balance_check(cross: pd.DataFrame, *, covariates: Sequence[str], treat: str = "arm",
                          max_smd: float = MAX_ABS_SMD, alpha: float = SIGNIFICANCE) -> Check:
    """Compare winners and losers on the baseline covariates: max |SMD| and a robust omnibus F test.

    The verdict rests on the omnibus test, which asks whether the draw was random: in a randomised design
    with low attrition, chance differences are not bias (What Works Clearinghouse 2020 requires baseline
    equivalence only of quasi-experiments and of trials with high attrition), and the experiment's
    estimates adjust for the covariates (Lin 2013).  The largest absolute standardised mean difference is
    reported beside it, with a note when it exceeds ``max_smd``.

    Parameters
    ----------
    cross
        One row per applicant with the assignment ``treat`` (0/1) and the covariates.
    covariates
        Baseline covariates.
    treat
        Assignment column.
    max_smd, alpha
        Thresholds.

    Returns
    -------
    Check
        ``balance``; missing without covariates or without both arms.
    """
    from ipf_eval.weighting import balance

    if not covariates:
        return Check.missing("balance", "the instrument has no baseline covariates to compare")
    data = cross.dropna(subset=[treat, *covariates])
    counts = data[treat].value_counts()
    if len(counts) < 2 or counts.min() < 2:
        return Check.missing("balance", "fewer than two applicants in an arm")
    smd = balance(data, treatname=treat, covariates=list(covariates)).max_abs_smd
    p = _omnibus_p(data, treat, covariates)
    figures = {"max_abs_smd": smd, "p_value": p, "n_applicants": float(len(data))}
    if p < alpha:
        return Check("balance", "failed", p, alpha,
                     f"winners and losers differ on baseline characteristics more than chance allows "
                     f"(omnibus p = {p:.3g} < {alpha:g}; largest |SMD| {smd:.2f}): the draw may not have "
                     "been random", figures)
    within = (f"; the largest difference (|SMD| {smd:.2f}, above {max_smd:g}) is within chance for "
              f"{len(data):,} applicants and the estimates adjust for it") if smd > max_smd else \
        f"; largest |SMD| {smd:.2f}"
    return Check("balance", "passed", p, alpha,
                 f"balanced as a random draw implies (omnibus p = {p:.3g}{within})", figures)


def _omnibus_p(data: pd.DataFrame, treat: str, covariates: Sequence[str]) -> float:
    """p-value of the HC1-robust F test that the covariates do not predict the assignment."""
    import statsmodels.api as sm

    X = sm.add_constant(data[list(covariates)].to_numpy(dtype=float))
    fit = sm.OLS(data[treat].to_numpy(dtype=float), X).fit(cov_type="HC1")
    k = X.shape[1] - 1
    test = fit.f_test(np.eye(k + 1)[1:])
    return float(np.clip(test.pvalue, 0.0, 1.0))


@keyword_options
def attrition_check(panel: pd.DataFrame, *, outcome: str, idname: str = "firm_id", tname: str = "year",
                    treat: str = "arm", max_attrition: float = MAX_ATTRITION,
                    max_differential: float = MAX_DIFFERENTIAL_ATTRITION) -> Check:
    r"""Applicants lost between the year before the call and the call year, overall and by arm.

    Notes
    -----
    Among applicants observed in year :math:`a_i - 1` (the year before their call), attrition is the share
    without an observed ``outcome`` in the call year :math:`a_i`; the differential attrition is
    :math:`|A_1 - A_0|`, the absolute difference between winners' and losers' attrition.
    """
    apps = panel.loc[(panel["application_year"] > 0) & panel[treat].notna()]
    before = apps.loc[apps[tname] == apps["application_year"] - 1].groupby(idname)[treat].first()
    after = apps.loc[(apps[tname] == apps["application_year"]) & apps[outcome].notna(), idname]
    if before.nunique() < 2:
        return Check.missing("attrition", "applicants of both arms are needed before the call")
    lost = ~before.index.isin(after.to_numpy())
    rates = pd.Series(lost, index=before.index).groupby(before).mean()
    overall, diff = float(lost.mean()), float(abs(rates.iloc[-1] - rates.iloc[0]))
    return evidence_grade(design="rct", diagnostics={"attrition": overall, "differential_attrition": diff},
                          max_attrition=max_attrition,
                          max_differential_attrition=max_differential).check("attrition")


@keyword_options
def first_stage_check(estimate: float, std_error: float, *, what: str,
                      min_f: float = MIN_FIRST_STAGE_F) -> Check:
    """Check the first stage's F statistic ``(estimate / std_error)^2`` against ``min_f``.

    Parameters
    ----------
    estimate, std_error
        The take-up difference (or jump) and its standard error.
    what
        What the first stage is, for the reason (e.g. ``"take-up difference between the arms"``).
    min_f
        Threshold (Staiger and Stock 1997).
    """
    if not (math.isfinite(estimate) and math.isfinite(std_error) and std_error > 0):
        return Check.missing("first_stage", f"the {what} has no standard error")
    f = (estimate / std_error) ** 2
    check = evidence_grade(design="iv", diagnostics={"first_stage_f": f},
                           min_first_stage_f=min_f).check("first_stage")
    return Check(check.name, check.status, check.value, check.threshold,
                 f"{check.reason}; {what} {estimate:.3g} (SE {std_error:.3g})", {"estimate": estimate})


# ---------------------------------------------------------------------------------------------------- RDD
@keyword_options
def density_check(result: object, *, alpha: float = SIGNIFICANCE) -> Check:
    """Check the manipulation test of an :class:`~ipf_eval.discontinuity.RDDResult`."""
    dens = getattr(result, "density", None)
    if dens is None or not math.isfinite(float(dens.p_value)):
        return Check.missing("density", "the density test could not be computed (too few scores)")
    return evidence_grade(design="rdd", diagnostics={"density_pvalue": float(dens.p_value)},
                          density_alpha=alpha).check("density")


@keyword_options
def covariate_continuity_check(result: object, *, alpha: float = SIGNIFICANCE) -> Check:
    """Baseline covariates at the threshold: Bonferroni over their RD p-values."""
    table = getattr(result, "covariate_balance", pd.DataFrame())
    p = pd.to_numeric(table.get("p_value", pd.Series(dtype=float)), errors="coerce").dropna()
    if not len(p):
        return Check.missing("covariate_continuity", "no baseline covariate could be estimated at the "
                                                     "threshold")
    adjusted = float(min(1.0, len(p) * p.min()))
    check = evidence_grade(design="rdd", diagnostics={"covariate_pvalue": adjusted},
                           covariate_alpha=alpha).check("covariate_continuity")
    worst = str(table["covariate"].to_numpy()[int(np.argmin(p.reindex(table.index).fillna(np.inf)))])
    return Check(check.name, check.status, check.value, check.threshold,
                 f"{check.reason}; {len(p)} covariates, smallest p for {worst}", {"n_covariates": len(p)})


@keyword_options
def bandwidth_check(result: object) -> Check:
    """Check the estimates at half and double the bandwidth against the robust interval of the main one."""
    sens = getattr(result, "sensitivity", pd.DataFrame())
    rows = {float(m): r for m, r in zip(sens.get("multiple", []), sens.to_dict(orient="records"),
                                        strict=True)}
    if 0.5 not in rows or 2.0 not in rows:
        return Check.missing("bandwidth_sensitivity", "the estimates at half and double the bandwidth were "
                                                      "not computed")
    lo, hi = result.ci_robust  # type: ignore[attr-defined]
    half, double = float(rows[0.5]["estimate"]), float(rows[2.0]["estimate"])
    if not (math.isfinite(half) and math.isfinite(double)):
        return Check.missing("bandwidth_sensitivity", "the estimate at half or double the bandwidth could "
                                                      "not be computed")
    stable = bool(lo <= half <= hi and lo <= double <= hi)
    check = evidence_grade(design="rdd",
                           diagnostics={"bandwidth_stable": stable}).check("bandwidth_sensitivity")
    return Check(check.name, check.status, check.value, check.threshold,
                 f"{check.reason}: {half:.3g} at half and {double:.3g} at double the bandwidth, robust "
                 f"interval {lo:.3g} to {hi:.3g}", {"half": half, "double": double})


# ---------------------------------------------------------------------------------------------------- DiD
@dataclass(frozen=True)
class PretrendPower:
    """The power of the Bonferroni pre-trend test against linear pre-trends.

    Attributes
    ----------
    slope
        The slope per period of the linear pre-trend the test rejects with probability :data:`PRETREND_POWER`
        (in outcome units per year: the pre-trend's minimal detectable effect).
    bias
        The bias that trend would cause in the headline estimate.
    ratio
        ``bias`` over the effect it is compared with: the headline estimate's magnitude, or the effect the
        design detects with 80 % power (``2.80`` times the headline's standard error) when that is larger.
    power_at_effect
        The probability that the pre-test rejects the linear pre-trend which, continued after support, would
        by itself produce that effect: the trend that would explain the estimate away (or hide an effect the
        design could detect).
    n_event_times
        Pre-support event times tested.
    """

    slope: float
    bias: float
    ratio: float
    power_at_effect: float
    n_event_times: int


@keyword_options
def pretrend_power(dynamic: AggregateResult, *, headline_se: float, headline_estimate: float = 0.0,
                   alpha: float = SIGNIFICANCE, power: float = PRETREND_POWER,
                   seed: int = 0) -> PretrendPower | None:
    r"""Find the linear pre-trend the event study's Bonferroni pre-test detects with probability ``power``.

    Parameters
    ----------
    dynamic
        ``aggregate(res, kind="dynamic")`` of the staggered DiD.
    headline_se, headline_estimate
        Standard error and estimate of the headline (simple aggregation).
    alpha, power
        Level of the pre-test and the power sought.
    seed
        Seed of the normal draws that give the test's rejection probability.

    Returns
    -------
    PretrendPower or None
        ``None`` without pre-support event times with a standard error.

    Notes
    -----
    A linear violation of parallel trends :math:`\delta_e = \gamma (e + 1)` (zero in the reference period
    :math:`e = -1`; with ``base_period="varying"`` each pre-period coefficient is a one-period difference
    and equals :math:`\gamma`).  The pre-test rejects when :math:`\max_e |\hat\beta_e / s_e| > c`,
    :math:`c = \Phi^{-1}(1 - \alpha / 2k)` over the :math:`k` pre-period coefficients, whose rejection
    probability under :math:`\hat\beta \sim N(\delta(\gamma), \Sigma)` is computed from 20,000 draws of
    :math:`N(0, \Sigma)` shared across :math:`\gamma`, so it is monotone in :math:`|\gamma|` and
    :math:`\gamma^*` is found by bisection.  The trend biases each post-support ATT(g, t) by
    :math:`\gamma^*(t - g + 1)`, so the headline by :math:`\gamma^* \sum w_{gt} (t - g + 1)` with the simple
    aggregation's weights (cohort shares :math:`\hat P(G = g)`).  ``ratio`` compares that bias with
    :math:`\max(|\hat\theta|, 2.80\,s)`: the headline estimate, or, when it is smaller, the effect the DiD
    itself detects with 80 % power at the 5 % level.  ``power_at_effect`` is the pre-test's rejection
    probability at the slope whose bias equals that effect: the trend that would explain the estimate away.
    Below one half (:data:`~ipf_eval.evidence.grading.MIN_PRETREND_POWER`) the test is more likely than
    not to miss it, and its passing says little.

    References
    ----------
    Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel trends.
    *American Economic Review: Insights*, 4(3), 305-322.
    """
    labels = np.asarray(dynamic.labels, dtype=float)
    se = np.asarray(dynamic.std_error, dtype=float)
    k = len(labels)
    pre = (labels < 0) & np.isfinite(se) & (se > 0)
    if not pre.any() or not headline_se > 0:
        return None
    cov = np.asarray(dynamic.influence.covariance(), dtype=float)[:k, :k][np.ix_(pre, pre)]
    s = se[pre]
    corr = cov / np.outer(s, s)
    varying = dynamic.source.specification.arguments.get("base_period") == "varying"
    shape = np.ones(pre.sum()) if varying else labels[pre] + 1.0
    crit = float(stats.norm.ppf(1 - alpha / (2 * pre.sum())))
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = np.random.default_rng(seed).standard_normal((_DRAWS, pre.sum())) @ root.T
    mu = shape / s

    def reject(gamma: float) -> float:
        return float(np.mean(np.any(np.abs(z + gamma * mu) > crit, axis=1)))

    hi = 1.0 / float(np.max(np.abs(mu)))
    while reject(hi) < power:
        hi *= 2.0
    lo = 0.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if reject(mid) < power else (lo, mid)
    slope = hi
    src = dynamic.source
    post = src.time >= src.group
    # the simple aggregation weights each post-support cell by its cohort's share P(G = g), not by the
    # cell's count of supported firms (which falls as firms exit)
    cohorts = np.unique(src.group)
    size = np.array([float(np.sum(src.unit_weights[src.unit_cohort == c])) for c in cohorts])
    n = size[np.searchsorted(cohorts, src.group[post])]
    e = (src.time - src.group)[post] + 1.0
    per_slope = float(np.sum(n * e) / np.sum(n)) if n.sum() > 0 else math.nan
    scale = max(abs(headline_estimate), _Z_MDE * headline_se)
    explaining = reject(scale / per_slope) if per_slope > 0 else math.nan
    return PretrendPower(slope=slope, bias=slope * per_slope, ratio=slope * per_slope / scale,
                         power_at_effect=explaining, n_event_times=int(pre.sum()))


@keyword_options
def pretrend_check(dynamic: AggregateResult | None, *, headline_se: float, bonferroni_p: float | None,
                   headline_estimate: float = 0.0, seed: int = 0) -> tuple[Check, PretrendPower | None]:
    """Compute the ``pre_trends`` check: the Bonferroni pre-test and its power (:func:`pretrend_power`)."""
    if dynamic is None or bonferroni_p is None:
        return Check.missing("pre_trends", "no pre-support periods to test"), None
    pw = pretrend_power(dynamic, headline_se=headline_se, headline_estimate=headline_estimate, seed=seed)
    diag: dict[str, float] = {"pretrend_pvalue": bonferroni_p}
    if pw is not None and math.isfinite(pw.power_at_effect):
        diag["pretrend_power"] = pw.power_at_effect
    check = evidence_grade(design="did", diagnostics=diag,
                           min_pretrend_power=MIN_PRETREND_POWER).check("pre_trends")
    figures = {"p_value": bonferroni_p, "mde_slope": None if pw is None else pw.slope,
               "power_ratio": None if pw is None else pw.ratio,
               "power_at_effect": None if pw is None else pw.power_at_effect}
    return Check(check.name, check.status, check.value, check.threshold, check.reason, figures), pw


@keyword_options
def did_balance_and_overlap(checked: ValidatedPanel, *, covariates: Sequence[str], control_group: str,
                            max_smd: float = MAX_ABS_SMD,
                            max_share: float = MAX_EXTREME_SCORE_SHARE) -> tuple[Check, Check]:
    r"""Covariate balance after propensity weighting, and propensity-score overlap, per support cohort.

    Notes
    -----
    For each cohort :math:`g`, the firms of the cohort and its comparison firms (never supported, and with
    ``control_group="not_yet_treated"`` first supported after :math:`g`) observed in :math:`g - 1`: a logit
    of cohort membership on the baseline covariates gives :math:`\hat p`; comparison firms are weighted by
    :math:`\hat p / (1 - \hat p)` (the ATT weights of the doubly robust and IPW estimators), and balance is
    the largest absolute weighted SMD over covariates and cohorts.

    Overlap is the share of all these firms (pooled over cohorts) whose score lies outside
    :math:`[0.01, 0.99]` once the cohort's size is taken out: :math:`\tilde p = \hat o / (1 + \hat o)` with
    :math:`\hat o = \frac{\hat p}{1 - \hat p} \frac{n_0}{n_1}`, the score the firm would have if the
    cohort were as large as its comparison group.  :math:`\tilde p / (1 - \tilde p)` estimates the ratio
    of the covariate densities of supported and comparison firms at the firm's covariates, so a firm is
    extreme when firms like it are 99 times more common in one group than in the other.  The raw
    :math:`\hat p` would flag most comparison firms of a small cohort (a cohort of 50 firms against 5,000
    comparison firms has scores near 0.01 everywhere) although each supported firm has many comparable
    ones.  A logit that separates fails overlap.
    """
    from ipf_eval.weighting import balance, overlap

    if not covariates:
        why = "the instrument has no baseline covariates"
        return Check.missing("balance", why), Check.missing("overlap", why)
    data = checked.data
    idn, tn, gn = checked.idname, checked.tname, checked.gname
    smds, extreme, total, separated, skipped = [], 0, 0, [], 0
    for g in checked.cohorts:
        rows = data.loc[data[tn] == g - 1]
        comp = (rows[gn] == 0) | ((rows[gn] > g) & (control_group == "not_yet_treated"))
        rows = rows.loc[(rows[gn] == g) | comp, [idn, gn, *covariates]].drop_duplicates(idn)
        rows = rows.assign(_d=(rows[gn] == g).astype(int)).dropna(subset=list(covariates))
        if rows["_d"].sum() < 2 or (1 - rows["_d"]).sum() < 2:
            skipped += 1
            continue
        try:
            ov = overlap(rows, treatname="_d", covariates=list(covariates))
        except EstimationError:
            separated.append(str(g))
            continue
        except IpfEvalError:
            skipped += 1
            continue
        ps = np.empty(len(rows))
        d = rows["_d"].to_numpy() == 1
        ps[d], ps[~d] = ov.ps_treated, ov.ps_control
        n1 = float(d.sum())
        odds = ps / (1.0 - ps) * (len(ps) - n1) / n1
        balanced = odds / (1.0 + odds)
        extreme += int(np.sum((balanced < EXTREME_SCORE) | (balanced > 1 - EXTREME_SCORE)))
        total += len(ps)
        w = np.where(d, 1.0, ps / (1.0 - ps))
        smds.append(balance(rows, treatname="_d", covariates=list(covariates), weights=w).max_abs_smd)
    if separated:
        cohorts = ", ".join(separated)
        why = f"the propensity score separates supported and comparison firms in cohort(s) {cohorts}"
        over = Check("overlap", "failed", 1.0, max_share, f"poor overlap: {why}")
    elif total:
        over = evidence_grade(design="did", diagnostics={"overlap_share": extreme / total},
                              max_extreme_share=max_share).check("overlap")
    else:
        over = Check.missing("overlap", "no cohort has two supported and two comparison firms")
    if smds:
        bal = evidence_grade(design="did", diagnostics={"max_abs_smd": float(max(smds))},
                             max_smd=max_smd).check("balance")
        bal = Check(bal.name, bal.status, bal.value, bal.threshold,
                    f"{bal.reason} after propensity weighting, over {len(smds)} cohorts", bal.figures)
    else:
        bal = Check.missing("balance", "no cohort's propensity score could be estimated")
    return bal, over
