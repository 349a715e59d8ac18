"""The evaluation's rules as library functions: estimator fallback, pre-trend check, cost basis, the
applicant cross-section of lotteries and scored calls, size-class heterogeneity, reach, instrument costs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipf_eval import aggregate, att_gt, validate_panel
from ipf_eval.data import simulate_firms
from ipf_eval.disclosure import WITHHELD_MESSAGE, publishable_text
from ipf_eval.errors import EstimationError, ParameterError, SpecificationError
from ipf_eval.evidence import evidence_frame, read_evidence
from ipf_eval.evidence.cost_basis import COST_UNITS, baseline_level, costed_estimates, reportable
from ipf_eval.evidence.design_estimators import applicant_cross_section, design_estimand, design_estimates
from ipf_eval.evidence.diagnostics import bonferroni_pretrend
from ipf_eval.evidence.fallbacks import FALLBACK_METHOD, att_gt_with_fallback
from ipf_eval.evidence.heterogeneity import MIN_SUPPORTED_FIRMS, size_class_effects
from ipf_eval.evidence.parameters import CostOverride, as_instrument, load_instrument_file, programme_costs
from ipf_eval.evidence.reach import population_mix, reach_summary
from ipf_eval.evidence.schema import COST_UNIT_NAMES

PROJECT = Path(__file__).resolve().parents[1]
PARAMS = PROJECT / "params"
KW = {"yname": "y", "tname": "year", "idname": "firm_id", "gname": "first_support_year", "bootstrap": False}


@pytest.fixture(scope="module")
def sim() -> object:
    return simulate_firms(seed=2024, n_firms=12_000)


def _separated(seed: int = 1) -> pd.DataFrame:
    """Supported firms have x in [1, 2], comparison firms in [-2, -1]: the propensity score separates."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(200):
        g = 2012 if i < 60 else 0
        x = rng.uniform(1, 2) if g else rng.uniform(-2, -1)
        for t in range(2010, 2015):
            rows.append({"firm_id": i, "year": t, "first_support_year": g, "x": x,
                         "y": rng.normal() + 0.1 * x * (t - 2010) + (0.5 if g and t >= g else 0.0)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ fallbacks
@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_separation_falls_back_to_regression_adjustment(method: str) -> None:
    data = _separated()
    fit = att_gt_with_fallback(data, est_method=method, covariates=["x"], **KW)
    assert (fit.method, fit.estimator) == ("reg", "att_gt_reg")
    assert "propensity score model separates" in fit.fallback_reason
    direct = att_gt(data, est_method="reg", covariates=["x"], **KW)
    np.testing.assert_array_equal(fit.result.att, direct.att)  # the fallback is exactly reg
    with pytest.raises(EstimationError, match="separates"):
        att_gt(data, est_method=method, covariates=["x"], **KW)


def test_no_fallback_when_the_method_works() -> None:
    fit = att_gt_with_fallback(_separated(), est_method="dr", **KW)  # no covariates: nothing separates
    assert (fit.method, fit.fallback_reason) == ("dr", "")


def test_regression_adjustment_has_no_fallback() -> None:
    data = _separated().assign(x=lambda d: (d["first_support_year"] > 0).astype(float))  # singular design
    assert FALLBACK_METHOD["reg"] is None
    with pytest.raises(EstimationError, match="singular"):
        att_gt_with_fallback(data, est_method="reg", covariates=["x"], **KW)


def test_fallback_rejects_unknown_method() -> None:
    with pytest.raises(SpecificationError, match=r"est_method=\.\.\.\) must be one of \['dr', 'ipw', "
                                                 r"'reg'\]"):
        att_gt_with_fallback(_separated(), est_method="ols", **KW)


# ------------------------------------------------------------------------------------------------ pre-trends
def test_bonferroni_pretrend_by_hand(sim: object) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")  # type: ignore[attr-defined]
    res = att_gt(sample, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
                 control_group="not_yet_treated", bootstrap=False)
    dyn = aggregate(res, kind="dynamic", min_e=-5, max_e=5)
    check = bonferroni_pretrend(dyn, source=res)
    assert check is not None
    frame = dyn.to_frame()
    pre = frame.loc[(frame["ci_kind"] == "pointwise") & (frame["event_time"] < 0), "p_value"].dropna()
    assert check.n_event_times == len(pre) >= 2
    assert check.p_value == pytest.approx(min(1.0, len(pre) * pre.min()), rel=1e-15)
    assert check.passed is (check.p_value >= 0.05)
    assert check.wald_p_value == res.pretest.p_value  # type: ignore[union-attr]
    assert check.to_dict()["passed"] is check.passed


def test_bonferroni_pretrend_fails_on_a_pre_trend() -> None:
    rng = np.random.default_rng(3)
    rows = [{"firm_id": i, "year": t, "first_support_year": 2015 if i < 100 else 0,
             "y": rng.normal(scale=0.1) + (0.3 * (t - 2010) if i < 100 else 0.0)}
            for i in range(300) for t in range(2010, 2018)]
    res = att_gt(pd.DataFrame(rows), **KW)
    check = bonferroni_pretrend(aggregate(res, kind="dynamic"))
    assert check is not None
    assert not check.passed


def test_bonferroni_pretrend_needs_pre_periods_and_an_event_study(sim: object) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")  # type: ignore[attr-defined]
    res = att_gt(sample, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
                 bootstrap=False)
    assert bonferroni_pretrend(aggregate(res, kind="dynamic", min_e=0)) is None
    with pytest.raises(SpecificationError, match=r"needs an event study .* got kind='simple'"):
        bonferroni_pretrend(aggregate(res, kind="simple"))
    with pytest.raises(SpecificationError, match=r"alpha=\.\.\.\) must be in \(0, 1\); got 1.5"):
        bonferroni_pretrend(aggregate(res, kind="dynamic"), alpha=1.5)


# ------------------------------------------------------------------------------------------------ costs
def test_costed_estimates_are_the_headlines_with_a_unit() -> None:
    est = pd.DataFrame([
        {"outcome": "log_employment", "estimator": "att_gt_dr", "term": "att", "std_error": 0.1,
         "headline": False},
        # the lottery's effect on users is the headline: it is costed, the DiD beside it is not
        {"outcome": "log_employment", "estimator": "rct", "term": "late", "std_error": 0.1, "headline": True},
        {"outcome": "log_turnover", "estimator": "att_gt_dr", "term": "att", "std_error": 0.1,
         "headline": True},  # no unit
        {"outcome": "rd_spending", "estimator": "att_gt_reg", "term": "att", "std_error": 0.0,
         "headline": True},  # no SE
        {"outcome": "exporter", "estimator": "att_gt_ipw", "term": "att", "std_error": 0.02,
         "headline": True},
    ])
    kept = costed_estimates(est)
    assert kept[["outcome", "estimator"]].values.tolist() == [["log_employment", "rct"],
                                                             ["exporter", "att_gt_ipw"]]
    assert COST_UNITS["log_employment"].scale == "log"
    assert costed_estimates(est.iloc[0:0]).empty


def test_a_cost_is_reported_only_for_an_effect_above_zero() -> None:
    assert reportable(0.01, 0.2)
    assert not reportable(-0.01, 0.2)  # not distinguishable from zero
    assert not reportable(-0.3, -0.1)  # negative
    assert not reportable(0.0, 0.2)
    assert not reportable(float("nan"), 0.2)
    assert {u.unit for u in COST_UNITS.values()} == set(COST_UNIT_NAMES)


def test_costs_follow_the_headline_on_the_committed_evidence() -> None:
    rows = evidence_frame(read_evidence(PROJECT / "notebooks" / "evidence"))
    has_cost = rows["cost_per_outcome"].notna()
    assert has_cost.any()
    assert rows.loc[has_cost, "headline"].all()
    costed = rows["headline"] & rows["outcome"].isin(list(COST_UNITS))
    # the cost columns are empty on exactly the costed headlines whose interval is not above zero
    assert (has_cost == (costed & (rows["ci_low"] > 0))).all()
    assert (rows.loc[has_cost, "cost_ci_low"] <= rows.loc[has_cost, "cost_per_outcome"]).all()
    assert (rows.loc[has_cost, "cost_per_outcome"] <= rows.loc[has_cost, "cost_ci_high"]).all()
    assert (rows.loc[~has_cost, "cost_unit"] == "").all()
    assert set(rows.loc[has_cost, "estimator"]) >= {"rct", "rdd"}  # lotteries and scored calls are costed


def test_baseline_level_by_hand() -> None:
    data = pd.DataFrame({"firm_id": [1, 1, 2, 2, 3, 3], "year": [2010, 2011] * 3,
                         "first_support_year": [2011, 2011, 2011, 2011, 0, 0],
                         "log_employment": np.log([4.0, 5.0, 8.0, 9.0, 100.0, 100.0])})
    assert baseline_level(data, "log_employment") == pytest.approx(6.0, rel=1e-14)  # firms 1, 2 in 2010
    assert math.isnan(baseline_level(data.loc[data["firm_id"] == 3], "log_employment"))


def test_programme_costs_merge_country_and_instrument() -> None:
    inst = load_instrument_file(PARAMS / "instruments" / "loan_guarantee.yaml")
    base = programme_costs(inst)
    assert (base.programme_cost_per_firm, base.admin_cost_per_firm) == (12000.0, 2500.0)
    assert base.per_firm == 14500.0
    own = programme_costs(inst, CostOverride(admin_cost_per_firm=500.0))
    assert (own.programme_cost_per_firm, own.admin_cost_per_firm) == (12000.0, 500.0)
    assert programme_costs(inst, {"programme_cost_per_firm": 9000.0}).per_firm == 11500.0
    with pytest.raises(ParameterError, match=r"key 'subsidy'.*remove the key"):
        programme_costs(inst, {"subsidy": 1.0})


def test_as_instrument_accepts_model_mapping_and_path() -> None:
    inst = load_instrument_file(PARAMS / "instruments" / "rd_grant.yaml")
    assert as_instrument(inst) is inst
    assert as_instrument(str(PARAMS / "instruments" / "rd_grant.yaml")) == inst
    assert as_instrument(inst.model_dump()) == inst
    with pytest.raises(ParameterError, match=r"must be an InstrumentParams.*got int"):
        as_instrument(3)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"key 'design'.*'randomised'"):
        as_instrument({**inst.model_dump(), "design": "randomised"})


# ------------------------------------------------------------------------------ design's own estimator
def test_applicant_cross_section_by_hand() -> None:
    panel = pd.DataFrame({
        "firm_id": [1, 1, 1, 2, 2, 3, 3], "year": [2010, 2011, 2012, 2011, 2012, 2010, 2011],
        "application_year": [2011, 2011, 2011, 2012, 2012, 0, 0],
        "first_support_year": [2011, 2011, 2011, 0, 0, 0, 0], "arm": [1.0, 1, 1, 0, 0, np.nan, np.nan],
        "score": np.nan, "threshold": np.nan, "size": [1.0, 1, 1, 2, 2, 3, 3],
        "y": [1.0, 3.0, 4.0, 10.0, 9.5, 0.0, 0.0]})
    cross = applicant_cross_section(panel, outcome="y", covariates=["size"])
    assert list(cross.columns) == ["firm_id", "arm", "score", "threshold", "application_year", "size", "used",
                                   "change"]
    assert cross[["firm_id", "used", "change"]].values.tolist() == [[1, 1, 2.0], [2, 0, -0.5]]
    with pytest.raises(SpecificationError, match=r"lacks columns \['arm'\]"):
        applicant_cross_section(panel.drop(columns="arm"), outcome="y")


def test_design_estimates_of_a_lottery_are_the_rct_on_the_cross_section(sim: object) -> None:
    from ipf_eval import rct

    sample = sim.evaluation_sample("AT", "innovation_voucher")  # type: ignore[attr-defined]
    covs = ["log_age_base", "log_employment_base"]
    out = design_estimates(sample, design="lottery", outcomes=["log_turnover"], covariates=covs, seed=5,
                           alpha=0.05)
    assert out.ran
    assert out.estimator == "rct"
    cross = applicant_cross_section(sample, outcome="log_turnover", covariates=covs)
    direct = rct(cross, yname="change", treatname="arm", takeup="used", covariates=covs, n_permutations=199,
                 seed=5).to_frame()
    assert out.rows["term"].tolist() == direct["term"].tolist()
    np.testing.assert_array_equal(out.rows["estimate"].to_numpy(), direct["estimate"].to_numpy())
    assert out.n_applicants == len(cross)
    assert design_estimand("rct", "late").startswith("effect on users")


def test_open_call_has_no_design_estimator(sim: object) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")  # type: ignore[attr-defined]
    out = design_estimates(sample, design="open_call", outcomes=["log_employment"], covariates=[], seed=1,
                           alpha=0.05)
    assert not out.ran
    assert out.estimator == ""
    assert out.rows.empty


def test_design_estimator_failure_is_recorded(sim: object) -> None:
    sample = sim.evaluation_sample("AT", "innovation_voucher")  # type: ignore[attr-defined]
    out = design_estimates(sample.assign(arm=1.0), design="lottery", outcomes=["log_turnover"], covariates=[],
                           seed=1, alpha=0.05)
    assert not out.ran
    assert out.failures[0][0] == "log_turnover"


# ------------------------------------------------------------------------------------------ heterogeneity
def test_size_class_effects(sim: object) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")  # type: ignore[attr-defined]
    checked = validate_panel(sample, idname="firm_id", tname="year", gname="first_support_year",
                             ynames=["log_employment"], extra_columns=["size_class"])
    calls: list[int] = []

    def fit(sub: pd.DataFrame) -> object:
        calls.append(sub["firm_id"].nunique())
        return att_gt_with_fallback(sub, est_method="reg", yname="log_employment", tname="year",
                                    idname="firm_id", gname="first_support_year", bootstrap=False)

    effects = {e.size_class: e for e in size_class_effects(checked, fit)}  # type: ignore[arg-type]
    supported = sample.groupby("firm_id").first().query("first_support_year > 0")["size_class"].value_counts()
    for size, eff in effects.items():
        if supported.get(size, 0) < MIN_SUPPORTED_FIRMS:
            assert not eff.estimated
            assert eff.note.startswith("fewer than 20 supported firms")
        else:
            sub = sample.loc[sample["size_class"] == size]
            direct = aggregate(att_gt(sub, yname="log_employment", tname="year", idname="firm_id",
                                      gname="first_support_year", est_method="reg", bootstrap=False))
            assert eff.estimate == direct.overall_att
    assert any(e.estimated for e in effects.values())
    no_size = validate_panel(sample, idname="firm_id", tname="year", gname="first_support_year",
                             ynames=["log_employment"])
    assert all("no 'size_class' "
               "column" in e.note for e in size_class_effects(no_size, fit))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- reach
def test_population_mix_and_reach(sim: object) -> None:
    panel = sim.panel  # type: ignore[attr-defined]
    at = panel.loc[panel["country"] == "AT"]
    mix = population_mix(at)
    assert mix.sum() == pytest.approx(1.0, abs=1e-12)
    firms = at.groupby("firm_id")["size_class"].first()
    assert mix["micro"] == pytest.approx((firms == "micro").mean(), abs=1e-15)
    assert population_mix(at.drop(columns="size_class")).empty
    apps = sim.applications  # type: ignore[attr-defined]
    apps = apps.loc[(apps["country"] == "AT") & (apps["instrument"] == "loan_guarantee")]
    reach = reach_summary(apps, profile="statistical_office")
    assert reach.applications == len(apps)
    assert reach.acceptance_rate == pytest.approx((apps["outcome"] == "accepted").mean(), abs=1e-15)
    days = (pd.to_datetime(apps["decision_date"]) - pd.to_datetime(apps["application_date"])).dt.days
    assert reach.median_decision_days == days.median()
    with pytest.raises(SpecificationError, match=r"lack columns \['decision_date'\]"):
        reach_summary(apps.drop(columns="decision_date"), profile="statistical_office")
    with pytest.raises(SpecificationError, match="there are no applications"):
        reach_summary(apps.iloc[0:0], profile="statistical_office")


def test_publishable_text_withholds_small_counts() -> None:
    assert publishable_text("140 firms were dropped") == "140 firms were dropped"
    assert publishable_text("2 firms were dropped") == WITHHELD_MESSAGE
    assert publishable_text("9 firms", profile="statistical_office") == "9 firms"


def test_instrument_outcomes_are_the_simulated_outcomes() -> None:
    from ipf_eval.data._sim_config import OUTCOMES as SIMULATED
    from ipf_eval.evidence import OUTCOMES

    assert OUTCOMES == SIMULATED
