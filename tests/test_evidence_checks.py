"""The checks behind evidence grades (:mod:`ipf_eval.evidence.checks`) on data with known violations.

Each violation is built into a clean simulated sample whose check passes, so the failure is the
violation's doing: bunching above a scored call's threshold fails ``density``; a covariate jumping there
fails ``covariate_continuity``; losers lost from a lottery fail ``attrition`` on the differential; winners
shifted on a baseline covariate fail ``balance``; a trend before support fails ``pre_trends``; a weak
take-up difference fails ``first_stage``.  A check that cannot be computed is ``missing``, never passed,
and costs its level too.  The pre-trend test's power figures are checked against an analytic value and
against the bias an injected trend really causes in the headline.

On clean simulations the tests behind the checks pass at their nominal rate (Monte Carlo at the end).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from ipf_eval.data import COUNTRY_PROFILES, DEFAULT_INSTRUMENTS, simulate_firms
from ipf_eval.data.contract import validate_panel
from ipf_eval.did import aggregate, att_gt
from ipf_eval.discontinuity import rdd
from ipf_eval.errors import EstimationWarning
from ipf_eval.evidence.checks import (
    attrition_check,
    bandwidth_check,
    covariate_continuity_check,
    density_check,
    did_balance_and_overlap,
    first_stage_check,
    lottery_balance_check,
    pretrend_check,
    pretrend_power,
)
from ipf_eval.evidence.design_estimators import applicant_cross_section
from ipf_eval.evidence.diagnostics import bonferroni_pretrend
from ipf_eval.evidence.grading import (
    MAX_ABS_SMD,
    MAX_ATTRITION,
    MAX_DIFFERENTIAL_ATTRITION,
    MIN_FIRST_STAGE_F,
    SIGNIFICANCE,
    Check,
    evidence_grade,
)
from ipf_eval.experiments import rct

COVS = ["log_age_base", "log_employment_base"]  # every instrument's covariates (params/instruments/*.yaml)
Y = "log_employment"
IDS: dict[str, Any] = {"tname": "year", "idname": "firm_id", "gname": "first_support_year"}


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence rdrobust's notes (mass points, bandwidth adjustments), which rdd() passes on as warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)
        yield


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate_firms(seed=2024, n_firms=30_000)


def _cross(sample: pd.DataFrame) -> pd.DataFrame:
    return applicant_cross_section(sample, outcome=Y, covariates=COVS)


def _rdd(cross: pd.DataFrame, **kwargs: Any) -> Any:
    args: dict[str, Any] = {"covariates": COVS, "sensitivity": (0.5, 2.0), **kwargs}
    with _quiet():
        return rdd(cross, yname="change", scorename="score", cutoff="threshold", call="application_year",
                   **args)


def _rdd_checks(res: Any) -> list[Check]:
    return [density_check(res), covariate_continuity_check(res), bandwidth_check(res)]


def _did(sample: pd.DataFrame, *, control_group: str = "not_yet_treated", min_e: int = -5) -> dict[str, Any]:
    """The staggered DiD as the evaluation runs it (dr, universal base), and its pre-trend check."""
    res = att_gt(sample, yname=Y, covariates=COVS, control_group=control_group, est_method="dr",
                 base_period="universal", bootstrap=False, **IDS)
    simple = aggregate(res, kind="simple").to_frame().iloc[0]
    dyn = aggregate(res, kind="dynamic", min_e=min_e, max_e=5)
    pre = bonferroni_pretrend(dyn, source=res)
    check, power = pretrend_check(dyn, headline_se=float(simple["std_error"]),
                                  headline_estimate=float(simple["estimate"]),
                                  bonferroni_p=None if pre is None else pre.p_value)
    return {"res": res, "simple": simple, "dyn": dyn, "pre": pre, "check": check, "power": power}


def _statuses(checks: list[Check]) -> list[str]:
    return [c.status for c in checks]


# ---------------------------------------------------------------------------------------------------- RDD
@pytest.fixture(scope="module")
def grants(sim: Any) -> pd.DataFrame:
    """Spanish R&D grant applicants (484; sharp design: supported iff at or above the threshold)."""
    return _cross(sim.evaluation_sample("ES", "rd_grant"))


def test_bunching_just_above_the_threshold_fails_density_and_costs_a_level(grants: pd.DataFrame) -> None:
    """Half the firms within 5 points below the threshold (0.4 SD of the score) reappear just above it."""
    clean = _rdd_checks(_rdd(grants))
    assert _statuses(clean) == ["passed"] * 3
    assert evidence_grade(design="rdd", checks=clean).level == 4

    x = (grants["score"] - grants["threshold"]).to_numpy()
    rng = np.random.default_rng(11)
    near = np.flatnonzero((x >= -5.0) & (x < 0.0))
    moved = rng.choice(near, size=near.size // 2, replace=False)
    bunched = grants.copy()
    bunched.loc[moved, "score"] = bunched.loc[moved, "threshold"] + rng.uniform(0.0, 0.5, moved.size)
    res = _rdd(bunched)
    checks = _rdd_checks(res)
    density = checks[0]
    assert moved.size >= 30
    assert density.status == "failed"
    assert density.value == pytest.approx(res.density.p_value)
    assert density.value < SIGNIFICANCE / 10
    assert res.density.density_right > res.density.density_left  # the mass piled up above, not below
    assert "manipulation" in density.reason
    grade = evidence_grade(design="rdd", checks=checks)  # the other checks computed on the same data
    assert grade.level < 4
    assert "density" in grade.failed
    assert density.reason in grade.reasons


def test_a_covariate_that_jumps_at_the_threshold_fails_continuity(grants: pd.DataFrame) -> None:
    """Firms above the threshold 1 SD older at baseline.

    With 484 applicants the robust interval of a covariate's jump is about 0.7 SD either side, so half a
    standard deviation goes unseen (Bonferroni p = 0.28 on this sample); one SD is seen (p = 0.002).
    """
    above = (grants["score"] >= grants["threshold"]).to_numpy()
    jumped = grants.copy()
    jumped.loc[above, "log_age_base"] += grants["log_age_base"].std()
    check = covariate_continuity_check(_rdd(jumped, sensitivity=()))
    assert check.status == "failed"
    assert check.value < SIGNIFICANCE
    assert "smallest p for log_age_base" in check.reason
    assert check.figures["n_covariates"] == 2


# ---------------------------------------------------------------------------------------------------- lottery
@pytest.fixture(scope="module")
def voucher(sim: Any) -> pd.DataFrame:
    return sim.evaluation_sample("AT", "innovation_voucher")


def _without_call_year(panel: pd.DataFrame, firms: np.ndarray, *, blank: bool = False) -> pd.DataFrame:
    """Lose ``firms``' call-year observations: drop the rows, or (``blank``) leave the outcome missing."""
    rows = (panel["year"] == panel["application_year"]) & panel["firm_id"].isin(firms)
    if not blank:
        return panel.loc[~rows]
    out = panel.copy()
    out.loc[rows, Y] = np.nan
    return out


def test_losers_lost_in_the_call_year_fail_attrition_on_the_differential(voucher: pd.DataFrame) -> None:
    clean = attrition_check(voucher, outcome=Y)
    assert clean.status == "passed"
    assert clean.value == 0.0  # the simulator's applicants are all observed in their call year
    arms = voucher.loc[voucher["application_year"] > 0].groupby("firm_id")["arm"].first()
    losers, winners = arms.index[arms == 0].to_numpy(), arms.index[arms == 1].to_numpy()
    rng = np.random.default_rng(5)
    lost = rng.choice(losers, size=round(0.15 * losers.size), replace=False)
    attrited = _without_call_year(voucher, lost)

    check = attrition_check(attrited, outcome=Y)
    assert check.status == "failed"
    assert "differential" in check.reason
    assert check.value == pytest.approx(lost.size / losers.size)  # winners lose nobody
    assert check.threshold == MAX_DIFFERENTIAL_ATTRITION
    assert check.figures["overall"] == pytest.approx(lost.size / arms.size)
    assert check.figures["overall"] < MAX_ATTRITION  # the overall rate alone would pass
    balance = lottery_balance_check(_cross(attrited), covariates=COVS)
    assert balance.status == "passed"
    grade = evidence_grade(design="lottery", checks=[balance, check])
    assert grade.level == 4
    assert grade.reasons == (check.reason,)

    # the same share lost in both arms is not differential; a quarter of both lost is too many
    both = np.concatenate([lost, rng.choice(winners, size=round(0.15 * winners.size), replace=False)])
    even = attrition_check(_without_call_year(voucher, both), outcome=Y)
    assert even.status == "passed"
    assert even.figures["differential"] < 0.01
    quarter = np.concatenate([rng.choice(a, size=round(0.25 * a.size), replace=False)
                              for a in (losers, winners)])
    high = attrition_check(_without_call_year(voucher, quarter, blank=True), outcome=Y)
    assert high.status == "failed"
    assert high.value == pytest.approx(0.25, abs=0.01)
    assert "high attrition" in high.reason


def test_winners_shifted_on_a_baseline_covariate_fail_balance(voucher: pd.DataFrame) -> None:
    cross = _cross(voucher)
    assert lottery_balance_check(cross, covariates=COVS).status == "passed"
    shifted = cross.copy()
    shifted.loc[shifted["arm"] == 1, "log_employment_base"] += 0.5 * cross["log_employment_base"].std()
    check = lottery_balance_check(shifted, covariates=COVS)
    assert check.status == "failed"
    assert check.value < SIGNIFICANCE / 10  # the omnibus test's p-value
    assert check.figures["max_abs_smd"] > MAX_ABS_SMD  # and the SMD reported beside it
    grade = evidence_grade(design="lottery", checks=[check, attrition_check(voucher, outcome=Y)])
    assert grade.level == 4
    assert grade.failed == ("balance",)
    assert grade.reasons == (check.reason,)


def _first_stage(cross: pd.DataFrame) -> Check:
    fs = rct(cross, yname="change", treatname="arm", takeup="used", covariates=COVS, n_permutations=0,
             seed=1).to_frame().set_index("term").loc["first_stage"]
    return first_stage_check(float(fs["estimate"]), float(fs["std_error"]),
                             what="take-up difference between winners and losers")


def test_first_stage_fails_when_take_up_barely_differs_and_passes_when_it_does(voucher: pd.DataFrame) -> None:
    cross = _cross(voucher)
    others = [lottery_balance_check(cross, covariates=COVS), attrition_check(voucher, outcome=Y)]
    strong = _first_stage(cross)  # about 90 % of winners use the voucher, no loser can
    assert strong.status == "passed"
    assert strong.value > 100 * MIN_FIRST_STAGE_F
    assert evidence_grade(design="lottery", checks=[*others, strong], takeup=True).level == 5

    rng = np.random.default_rng(3)  # take-up 50 % among losers, 53 % among winners
    weak = _first_stage(cross.assign(used=(rng.random(len(cross)) < 0.5 + 0.03 * cross["arm"]).astype(int)))
    assert weak.status == "failed"
    assert weak.value < MIN_FIRST_STAGE_F
    assert "weak first stage" in weak.reason
    grade = evidence_grade(design="lottery", checks=[*others, weak], takeup=True)
    assert grade.level == 4
    assert grade.reasons == (weak.reason,)
    assert first_stage_check(0.3, 0.1, what="x").status == "failed"  # F = 9
    assert first_stage_check(0.3, 0.09, what="x").status == "passed"  # F = 11.1


# ---------------------------------------------------------------------------------------------------- DiD
@pytest.fixture(scope="module")
def guarantees(sim: Any) -> pd.DataFrame:
    return sim.evaluation_sample("AT", "loan_guarantee")


def _with_trend(sample: pd.DataFrame, gamma: float, *, before_only: bool) -> pd.DataFrame:
    """Add ``gamma * (t - g + 1)`` to supported firms' outcome (before support only, or in every year)."""
    g, t = sample["first_support_year"], sample["year"]
    rows = (g > 0) & (t < g) if before_only else g > 0
    out = sample.copy()
    out.loc[rows, Y] += gamma * (t[rows] - g[rows] + 1)
    return out


def test_a_trend_before_support_fails_pre_trends_with_sensible_figures(guarantees: pd.DataFrame) -> None:
    clean = _did(guarantees)
    assert clean["check"].figures["p_value"] >= SIGNIFICANCE  # no pre-trend in the simulator
    gamma = 0.03  # log points a year, rising until the year before support
    fit = _did(_with_trend(guarantees, gamma, before_only=True))
    check, power = fit["check"], fit["power"]
    assert check.status == "failed"
    assert "rejects parallel trends" in check.reason
    assert check.value == check.figures["p_value"]
    assert check.value < 1e-6
    # the detectable slope is a property of the design: positive, well below the injected trend (which is
    # therefore rejected) and nearly what it was on clean data; the bias and ratio are finite and positive
    slope = check.figures["mde_slope"]
    assert 0 < slope < gamma / 2
    assert slope == pytest.approx(clean["check"].figures["mde_slope"], rel=0.05)
    assert power is not None
    assert power.n_event_times == 4
    assert power.bias > 0
    assert 0 < power.ratio < np.inf
    others = [Check("balance", "passed"), Check("overlap", "passed")]
    grade = evidence_grade(design="did", checks=[check, *others])
    assert grade.level == 2
    assert grade.reasons == (check.reason,)


def test_pretrend_power_matches_the_analytic_slope_and_the_bias_a_trend_causes(
        guarantees: pd.DataFrame) -> None:
    """The detectable slope against one pre-period, and the headline's bias under an injected linear trend.

    With one pre-period coefficient (event time -2, shape -1) the Bonferroni test is a two-sided z test,
    so the slope it detects 80 % of the time is ``q * s`` with ``Phi(q - 1.96) + Phi(-q - 1.96) = 0.8``
    (20,000 draws: Monte Carlo error about 0.4 %).  With never-treated comparisons, adding
    ``gamma * (t - g + 1)`` to supported firms shifts each ATT(g, t) by exactly that, so the headline moves
    by ``gamma`` times the simple aggregation's mean of ``e + 1``: what ``bias / slope`` must be.
    """
    one = _did(guarantees, min_e=-2)
    frame = one["dyn"].to_frame()
    se = float(frame.loc[frame["event_time"] == -2, "std_error"].iloc[0])
    crit = stats.norm.ppf(1 - SIGNIFICANCE / 2)
    q = optimize.brentq(lambda v: stats.norm.sf(crit - v) + stats.norm.cdf(-crit - v) - 0.8, 0.0, 10.0)
    assert one["power"].n_event_times == 1
    assert one["power"].slope == pytest.approx(q * se, rel=0.01)

    gamma = 0.05
    base = _did(guarantees, control_group="never_treated")
    shifted = _did(_with_trend(guarantees, gamma, before_only=False), control_group="never_treated")
    moved = (shifted["dyn"].to_frame()["estimate"] - base["dyn"].to_frame()["estimate"]).to_numpy()[1:]
    np.testing.assert_allclose(moved / gamma, np.arange(-5, 6) + 1.0, atol=1e-8)  # gamma * (e + 1)
    headline_shift = float(shifted["simple"]["estimate"] - base["simple"]["estimate"]) / gamma
    pw = pretrend_power(base["dyn"], headline_se=float(base["simple"]["std_error"]))
    assert pw is not None
    assert pw.bias / pw.slope == pytest.approx(headline_shift, rel=1e-8)


# ---------------------------------------------------------------------------------------------------- missing
def test_checks_that_cannot_be_computed_are_missing_and_cost_a_level(
        voucher: pd.DataFrame, guarantees: pd.DataFrame, grants: pd.DataFrame) -> None:
    balance = lottery_balance_check(_cross(voucher), covariates=[])
    assert balance.status == "missing"
    assert balance.value is None
    assert "no baseline covariates" in balance.reason
    grade = evidence_grade(design="lottery", checks=[balance, attrition_check(voucher, outcome=Y)])
    assert grade.level == 4
    assert grade.missing == ("balance",)
    assert grade.passed == ("attrition",)
    assert grade.reasons == (balance.reason,)

    # a DiD whose only cohort is first observed the year before its support: no pre-period to test
    g0 = int(guarantees.loc[guarantees["first_support_year"] > 0, "first_support_year"].min())
    keep = guarantees["first_support_year"].isin([0, g0]) & (guarantees["year"] >= g0 - 1)
    short = guarantees.loc[keep].reset_index(drop=True)
    fit = _did(short)
    assert fit["pre"] is None
    assert fit["power"] is None
    assert fit["check"].status == "missing"
    assert "no pre-support periods" in fit["check"].reason
    checked = validate_panel(short, ynames=[Y], covariates=COVS, **IDS)
    bal, over = did_balance_and_overlap(checked, covariates=COVS, control_group="not_yet_treated")
    checks = [fit["check"], bal, over]
    grade = evidence_grade(design="did", checks=checks)
    assert grade.missing[0] == "pre_trends"
    assert fit["check"].reason in grade.reasons
    assert grade.level == max(1, 3 - sum(c.status != "passed" for c in checks))
    assert grade.level <= 2
    no_covs = did_balance_and_overlap(checked, covariates=[], control_group="not_yet_treated")
    assert _statuses(list(no_covs)) == ["missing", "missing"]

    # an RDD run without the density test and without covariates
    grade = evidence_grade(design="rdd", checks=_rdd_checks(_rdd(grants, covariates=None, density=False)))
    assert grade.missing == ("density", "covariate_continuity")
    assert grade.passed == ("bandwidth_sensitivity",)
    assert grade.level == 2
    assert len(grade.reasons) == 2


# ---------------------------------------------------------------------------------------------- Monte Carlo
MC_SEEDS = tuple(range(9101, 9111))
MC_FIRMS = 50_000  # over the ten countries: about 5,000 firms a country, as in the default 30,000 over six
LOTTERY_CHUNKS = 4  # voucher take-up is raised fourfold and each country's applicants split in four


def _mc_specs() -> dict[str, Any]:
    voucher = DEFAULT_INSTRUMENTS["innovation_voucher"]
    return {"rd_grant": DEFAULT_INSTRUMENTS["rd_grant"],
            "equity_readiness": DEFAULT_INSTRUMENTS["equity_readiness"],
            "innovation_voucher": dataclasses.replace(voucher, takeup=LOTTERY_CHUNKS * voucher.takeup),
            "loan_guarantee": DEFAULT_INSTRUMENTS["loan_guarantee"]}


@pytest.fixture(scope="module")
def clean_runs() -> pd.DataFrame:
    """One row per (seed, country, instrument, chunk): p-values of the checks' tests on clean data.

    Samples are independent: different instruments' applicants are different firms, the loan guarantees'
    comparison firms never applied to anything, and lottery chunks are disjoint random quarters.
    """
    rows: list[dict[str, Any]] = []
    countries = list(COUNTRY_PROFILES)
    for seed in MC_SEEDS:
        s = simulate_firms(seed=seed, n_firms=MC_FIRMS, countries=countries, instruments=_mc_specs())
        for country, inst in s.calls[["country", "instrument"]].drop_duplicates().itertuples(index=False):
            sample = s.evaluation_sample(country, inst)
            key = {"seed": seed, "country": country, "instrument": inst}
            if inst in ("rd_grant", "equity_readiness"):
                res = _rdd(_cross(sample), takeup="used", sensitivity=(), vce="hc3")
                n = res.n_left + res.n_right
                rows.append({**key, "test": "density", "p": density_check(res).value, "n": n})
                rows.append({**key, "test": "continuity", "p": covariate_continuity_check(res).value, "n": n})
            elif inst == "innovation_voucher":
                cross = _cross(sample)
                part = np.random.default_rng(seed).permutation(len(cross)) % LOTTERY_CHUNKS
                for k in range(LOTTERY_CHUNKS):
                    check = lottery_balance_check(cross.loc[part == k], covariates=COVS)
                    rows.append({**key, "test": "balance", "p": check.figures["p_value"],
                                 "n": int((part == k).sum())})
            else:
                fit = _did(sample)
                rows.append({**key, "test": "pre_trends", "p": fit["check"].figures["p_value"],
                             "ratio": fit["check"].figures["power_ratio"], "status": fit["check"].status,
                             "n": sample["firm_id"].nunique()})
    return pd.DataFrame(rows)


def _check_pass_rate(runs: pd.DataFrame, test: str, *, exact: bool) -> None:
    """Passes (p >= 5 %) of ``test`` against the 99 % binomial band at 0.95.

    A test of size 5 % passes with probability 0.95: fewer passes than the binomial's 1 % quantile happen
    by chance once in a hundred runs, and so, for a test of exact size, do more than its 99 % quantile (a
    test that never rejects).  Bonferroni tests are conservative, so only the lower bound applies to them.
    """
    p = runs.loc[runs["test"] == test, "p"].astype(float)
    assert p.notna().all()
    passes, reps = int((p >= SIGNIFICANCE).sum()), len(p)
    low, high = stats.binom.ppf([0.01, 0.99], reps, 1 - SIGNIFICANCE)
    assert passes >= low, f"{test}: {passes}/{reps} clean samples pass; at 95 % fewer than {low:g} is rare"
    if exact:
        assert passes <= high, f"{test}: {passes}/{reps} clean samples pass: the test hardly ever rejects"


@pytest.mark.slow
def test_density_test_passes_clean_scored_calls_at_its_nominal_rate(clean_runs: pd.DataFrame) -> None:
    """rddensity on clean scored calls: 163 of 170 pass (95.9 %); 99 % band at 0.95: 154 to 167.

    Seeds 9101-9110, ten countries, R&D grants and equity readiness (95 to 847 applicants, median 250).
    Offline, 500 samples of the default simulation (seeds 10-59, 30,000 firms) passed at 95.8 %.
    """
    _check_pass_rate(clean_runs, "density", exact=True)


@pytest.mark.slow
def test_covariate_continuity_passes_clean_scored_calls_at_its_nominal_rate(clean_runs: pd.DataFrame) -> None:
    """Bonferroni over the covariates' robust RD p-values (HC3): 159 of 170 pass (93.5 %); bound 154.

    Known problem, reported rather than hidden by a tolerance: with rdrobust's default nearest-neighbour
    variance (``vce="nn"``, what ``design_estimates`` uses) the robust p-values are too small when about 70
    firms lie inside the bandwidth on each side.  Offline, 1,500 clean samples of the default simulation
    (seeds 0-59, 100-129 and 300-359; 30,000 firms) passed at 92.4 % (SE 0.7 points, 3.8 SE below 95 %),
    and pure noise on N(0, 12^2) scores rejects 7.3 % at 5 % with n = 300 (5.0 % with n = 1,000).  With
    ``vce="hc3"``, 600 of those samples passed at 94.2 %.  On the 170 samples here ``vce="nn"`` passes
    158: 170 reps cannot tell 92.4 % from 95 %, so this test runs the variance that is calibrated.  The
    check itself (Bonferroni over the balance table's p-values) is right.
    """
    _check_pass_rate(clean_runs, "continuity", exact=False)


@pytest.mark.slow
def test_lottery_balance_omnibus_test_passes_clean_draws_at_its_nominal_rate(
        clean_runs: pd.DataFrame) -> None:
    """The HC1 F test of winners vs losers on the covariates: 307 of 320 pass (95.9 %); band 294 to 312.

    Chunks of 217 to 771 applicants; in 10 of the 320 the largest |SMD| exceeds 0.25 by chance.
    """
    assert clean_runs.loc[clean_runs["test"] == "balance", "n"].between(150, 1_000).all()
    _check_pass_rate(clean_runs, "balance", exact=True)


@pytest.mark.slow
def test_pre_trend_test_passes_clean_panels_at_its_nominal_rate(clean_runs: pd.DataFrame) -> None:
    """Bonferroni over event times -5..-2 of the loan guarantees' DiD: 76 of 80 pass (95.0 %); bound 71.

    The power ratio (bias of the trend the test detects 80 % of the time, over the larger of the headline
    and 2.8 standard errors) has median 0.24 and never exceeds one here, and the test detects the trend
    that would explain the effect away with probability above one half, so ``pre_trends`` passes exactly
    when the test does: the guarantees' effect on employment (about 0.12 log points) is large.
    """
    _check_pass_rate(clean_runs, "pre_trends", exact=False)
    runs = clean_runs.loc[clean_runs["test"] == "pre_trends"]
    assert runs["ratio"].between(0, np.inf, inclusive="neither").all()
    assert ((runs["p"] >= SIGNIFICANCE) == (runs["status"] == "passed")).all()
