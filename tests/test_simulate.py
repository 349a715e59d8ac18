"""Tests of the synthetic firm panels (ipf_eval.data.simulate): structure, truth, calibration, designs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from ipf_eval import aggregate, att_gt
from ipf_eval.data._sim_config import OUTCOMES
from ipf_eval.data.contract import validate_panel
from ipf_eval.data.simulate import (
    COUNTRY_PROFILES,
    DEFAULT_COUNTRIES,
    DEFAULT_INSTRUMENTS,
    EffectSpec,
    SimulatedFirms,
    simulate_firms,
)
from ipf_eval.errors import SpecificationError

INSTRUMENTS = tuple(DEFAULT_INSTRUMENTS)
PANEL_COLUMNS = [
    "firm_id", "year", "country", "region", "sector", "size_class", "birth_year", "log_age_base",
    "log_employment_base", "instrument", "application_year", "first_support_year", "support_amount",
    "score", "threshold", "arm", *OUTCOMES,
]  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> SimulatedFirms:
    return simulate_firms(seed=12, n_firms=20_000)


@pytest.fixture(scope="module")
def big() -> SimulatedFirms:
    """High take-up everywhere: many supported firms, so realised truths are close to their expectations."""
    specs = {k: dataclasses.replace(v, takeup=0.15) for k, v in DEFAULT_INSTRUMENTS.items()}
    return simulate_firms(seed=7, n_firms=30_000, instruments=specs)


def _pooled(agg: pd.DataFrame, kind: str, instrument: str, outcome: str, **where: int) -> float:
    """Average over countries of an aggregated truth, weighted by the number of supported firms."""
    d = agg[(agg["kind"] == kind) & (agg["instrument"] == instrument) & (agg["outcome"] == outcome)]
    for col, value in where.items():
        d = d[d[col] == value]
    return float((d["att"] * d["n_firms"]).sum() / d["n_firms"].sum())


# --------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_frames() -> None:
    a = simulate_firms(seed=5, n_firms=3_000)
    b = simulate_firms(seed=5, n_firms=3_000)
    for name in ("panel", "firms", "applications", "calls", "eligibility"):
        pdt.assert_frame_equal(getattr(a, name), getattr(b, name))
    for field in dataclasses.fields(a.truth):
        pdt.assert_frame_equal(getattr(a.truth, field.name), getattr(b.truth, field.name))


def test_different_seeds_differ() -> None:
    a = simulate_firms(seed=5, n_firms=3_000)
    b = simulate_firms(seed=6, n_firms=3_000)
    assert not a.panel["log_employment"].head(200).equals(b.panel["log_employment"].head(200))
    assert not a.calls["call_year"].equals(b.calls["call_year"])


# --------------------------------------------------------------------------- panel structure
def test_panel_columns_and_types(sim: SimulatedFirms) -> None:
    p = sim.panel
    assert list(p.columns) == PANEL_COLUMNS
    for col in (
        "firm_id",
        "year",
        "birth_year",
        "application_year",
        "first_support_year",
        "exporter",
        "alive",
    ):
        assert p[col].dtype == np.int64, col
    for col in ("country", "region", "sector", "size_class", "instrument"):
        assert pd.api.types.is_string_dtype(p[col]), col
    assert not p[list(OUTCOMES)].isna().any().any()
    assert sorted(p["country"].unique()) == sorted(DEFAULT_COUNTRIES)
    assert "NO" in set(p["country"])  # Norway's code must survive as a string
    assert set(p["size_class"]) == {"micro", "small", "medium"}
    assert set(p["sector"]) == {"C", "G", "J", "M", "F"}
    assert p["year"].min() == 2008
    assert p["year"].max() == 2020


def test_panel_contract_basics(sim: SimulatedFirms) -> None:
    p = sim.panel
    assert not p.duplicated(["firm_id", "year"]).any()
    by_firm = p.groupby("firm_id")
    for col in (
        "first_support_year",
        "instrument",
        "support_amount",
        "size_class",
        "log_employment_base",
        "arm",
    ):
        assert (by_firm[col].nunique(dropna=False) == 1).all(), col
    never = p["first_support_year"] == 0
    assert (p.loc[never, "support_amount"] == 0).all()
    assert (p.loc[~never, "support_amount"] > 0).all()
    assert (p.loc[~never, "instrument"] != "none").all()
    assert (p.loc[~never, "first_support_year"] == p.loc[~never, "application_year"]).all()
    assert (p.loc[p["instrument"] == "none", "application_year"] == 0).all()
    # Supported firms are observed before support (no "already treated" firms).
    first_obs = by_firm["year"].min()
    g = by_firm["first_support_year"].first()
    assert (first_obs[g > 0] < g[g > 0]).all()
    # Years are consecutive within a firm.
    assert (by_firm["year"].max() - first_obs + 1 == by_firm.size()).all()
    vp = validate_panel(
        p,
        idname="firm_id",
        tname="year",
        gname="first_support_year",
        ynames=["log_employment", "alive"],
        covariates=["log_employment_base", "log_age_base", "sector"],
    )
    assert vp.n_units == p["firm_id"].nunique()
    assert vp.n_obs == len(p)
    assert vp.dropped == ()
    assert set(vp.cohorts) == set(g[g > 0].unique())


def test_entry_exit_and_survival_coding(sim: SimulatedFirms) -> None:
    p, firms = sim.panel, sim.firms
    last = p.groupby("firm_id").tail(1).set_index("firm_id")
    entrants = firms[firms["birth_year"] > 2008]
    assert len(entrants) > 0.1 * len(firms)
    first = p.groupby("firm_id")["year"].min()
    assert (first.loc[entrants["firm_id"]].to_numpy() == entrants["birth_year"].to_numpy()).all()
    exited = firms[firms["exit_year"] > 0].set_index("firm_id")
    assert len(exited) > 0.2 * len(firms)
    # Rows run through the exit year, where alive == 0, and stop there; alive == 0 nowhere else.
    assert (last.loc[exited.index, "year"] == exited["exit_year"]).all()
    assert (last.loc[exited.index, "alive"] == 0).all()
    assert int((p["alive"] == 0).sum()) == len(exited)
    survivors = firms.loc[firms["exit_year"] == 0, "firm_id"]
    assert (last.loc[survivors, "year"] == 2020).all()
    assert (last.loc[survivors, "alive"] == 1).all()
    # Exit risk is higher for micro than medium firms.
    rate = p.groupby("size_class")["alive"].mean()
    assert rate["micro"] < rate["medium"]


def test_each_country_has_its_own_mix(sim: SimulatedFirms) -> None:
    f = sim.firms
    mix = pd.crosstab(f["country"], f["size_class"], normalize="index")
    assert mix["micro"].max() - mix["micro"].min() > 0.03
    regions = f.groupby("country")["region"].unique()
    for code, regs in regions.items():
        assert 2 <= len(regs) <= 4
        assert all(r.startswith(str(code)) for r in regs)


def test_instrument_coverage_across_countries(sim: SimulatedFirms) -> None:
    runs = sim.calls.groupby("country")["instrument"].nunique()
    assert (runs >= 4).all()
    where = sim.calls.groupby("instrument")["country"].nunique()
    assert set(where.index) == set(INSTRUMENTS)
    assert (where >= 4).all()
    designs = sim.calls.groupby("instrument")["design"].first().to_dict()
    assert designs == {
        "innovation_voucher": "lottery",
        "rd_grant": "scored_call",
        "equity_readiness": "scored_call",
        "loan_guarantee": "open_call",
        "export_support": "open_call",
        "growth_coaching": "open_call",
    }
    # Staggered adoption: several cohorts per country and instrument, differing across countries.
    cohorts = sim.firms[sim.firms["first_support_year"] > 0].groupby(["country", "instrument"])
    assert (cohorts["first_support_year"].nunique() >= 2).all()
    years = sim.calls.groupby("instrument")["call_year"].apply(frozenset)
    assert any(len(y) > 4 for y in years)


def test_support_amounts_are_realistic(sim: SimulatedFirms) -> None:
    a = sim.applications[sim.applications["supported"]]
    med = a.groupby("instrument")["support_amount"].median()
    assert 5_000 <= med["innovation_voucher"] <= 10_000
    assert 100_000 <= med["rd_grant"] <= 300_000
    assert 120_000 <= med["loan_guarantee"] <= 300_000
    assert 12_000 <= med["export_support"] <= 30_000
    assert 6_000 <= med["growth_coaching"] <= 15_000
    assert 30_000 <= med["equity_readiness"] <= 80_000
    # Vouchers: one amount per country (EUR 7,500 at price level 1).
    assert (
        a[a["instrument"] == "innovation_voucher"].groupby("country")["support_amount"].nunique() == 1
    ).all()


# --------------------------------------------------------------------------- delivery data
def test_applications_calls_and_eligibility_agree(sim: SimulatedFirms) -> None:
    apps, calls, firms, elig = sim.applications, sim.calls, sim.firms, sim.eligibility
    applied = firms[firms["instrument"] != "none"]
    assert len(apps) == len(applied) == apps["firm_id"].nunique()  # at most one application per firm
    assert set(apps["outcome"]) == {"accepted", "rejected"}
    assert (apps["outcome"] == "rejected").sum() > 0.1 * len(apps)
    assert (apps["decision_date"] > apps["application_date"]).all()
    assert (apps["decision_date"].dt.year == apps["call_year"]).all()
    assert (apps["application_date"].dt.year == apps["call_year"]).all()
    counts = apps.groupby(["country", "instrument", "call_year"]).agg(
        n_applications=("firm_id", "size"),
        n_supported=("supported", "sum"),
        awarded=("support_amount", "sum"),
    )
    merged = calls.set_index(["country", "instrument", "call_year"]).join(counts.add_suffix("_apps"))
    merged = merged.fillna({"n_applications_apps": 0, "n_supported_apps": 0, "awarded_apps": 0.0})
    assert (merged["n_applications"] == merged["n_applications_apps"]).all()
    assert (merged["n_supported"] == merged["n_supported_apps"]).all()
    assert (merged["budget_eur"] >= merged["awarded_apps"]).all()
    assert (merged["budget_eur"] - merged["awarded_apps"] < 50_000).all()
    assert (calls["admin_cost_eur"] > 0).all()
    # Eligibility: one row per firm and instrument its country runs; every applicant was eligible.
    assert not elig.duplicated(["firm_id", "instrument"]).any()
    runs = calls[["country", "instrument"]].drop_duplicates()
    n_expected = firms.merge(runs, on="country").shape[0]
    assert len(elig) == n_expected
    key = elig.set_index(["firm_id", "instrument"])["eligible"]
    assert key.loc[list(zip(apps["firm_id"], apps["instrument"], strict=True))].all()
    assert elig["eligible"].mean() < 0.95
    # Take-up among eligible firms can be computed by size class (vouchers: micro and small only).
    take = elig.merge(firms[["firm_id", "size_class"]], on="firm_id").merge(
        apps[["firm_id", "instrument"]].assign(applied=True), on=["firm_id", "instrument"], how="left"
    )
    v = take[(take["instrument"] == "innovation_voucher") & take["eligible"]]
    assert set(v["size_class"]) == {"micro", "small"}
    assert 0.01 < v["applied"].notna().mean() < 0.15


def test_scored_calls_support_by_threshold(sim: SimulatedFirms) -> None:
    apps = sim.applications
    rd = apps[apps["instrument"] == "rd_grant"]
    assert rd["score"].notna().all()
    assert rd["threshold"].notna().all()
    assert ((rd["score"] >= rd["threshold"]) == rd["supported"]).all()  # sharp
    assert ((rd["score"] >= rd["threshold"]) == (rd["outcome"] == "accepted")).all()
    thr = rd.groupby(["country", "call_year"])["threshold"].nunique()
    assert (thr == 1).all()
    calls = sim.calls.set_index(["country", "instrument", "call_year"])["threshold"]
    published = calls.loc[list(zip(rd["country"], rd["instrument"], rd["call_year"], strict=True))].to_numpy()
    np.testing.assert_array_equal(published, rd["threshold"].to_numpy())
    eq = apps[apps["instrument"] == "equity_readiness"]
    above = eq["score"] >= eq["threshold"]
    assert not eq.loc[~above, "supported"].any()
    assert 0.7 < eq.loc[above, "supported"].mean() < 0.97  # fuzzy: some accepted firms decline
    other = apps[~apps["instrument"].isin(["rd_grant", "equity_readiness"])]
    assert other["score"].isna().all()
    assert other["threshold"].isna().all()


def test_lottery_arms(sim: SimulatedFirms) -> None:
    apps = sim.applications
    v = apps[apps["instrument"] == "innovation_voucher"]
    assert set(v["arm"].unique()) == {0.0, 1.0}
    assert not v.loc[v["arm"] == 0, "supported"].any()
    assert 0.8 < v.loc[v["arm"] == 1, "supported"].mean() < 0.97  # about 1 voucher in 10 unused
    assert 0.3 < v["arm"].mean() < 0.5
    assert apps.loc[apps["instrument"] != "innovation_voucher", "arm"].isna().all()


# --------------------------------------------------------------------------- truth
def test_truth_is_zero_before_support(sim: SimulatedFirms) -> None:
    gt = sim.truth.att_gt
    pre = gt[gt["time"] < gt["group"]]
    assert len(pre) > 0
    assert (pre["att"] == 0.0).all()
    eff = sim.truth.effects
    assert (eff.loc[eff["event_time"] < 0, list(OUTCOMES)] == 0.0).all().all()
    dyn = sim.truth.aggregate
    dyn = dyn[(dyn["kind"] == "dynamic") & (dyn["event_time"] < 0)]
    assert (dyn["att"] == 0.0).all()


def test_att_gt_equals_mean_of_individual_effects(sim: SimulatedFirms) -> None:
    eff = sim.truth.effects
    sup = eff[eff["supported"]]
    means = sup.groupby(["country", "instrument", "application_year", "year"])[list(OUTCOMES)].mean()
    ref = (
        means.reset_index()
        .melt(
            id_vars=["country", "instrument", "application_year", "year"],
            var_name="outcome",
            value_name="ref",
        )
        .rename(columns={"application_year": "group", "year": "time"})
    )
    got = sim.truth.att_gt.merge(
        ref, on=["country", "instrument", "group", "time", "outcome"], validate="1:1"
    )
    assert len(got) == len(sim.truth.att_gt) == len(ref)
    np.testing.assert_allclose(got["att"], got["ref"], rtol=1e-12, atol=1e-12)
    n = (
        sup.groupby(["country", "instrument", "application_year", "year"])
        .size()
        .rename("n_ref")
        .reset_index()
    )
    one = sim.truth.att_gt[sim.truth.att_gt["outcome"] == "log_employment"]
    one = one.merge(
        n.rename(columns={"application_year": "group", "year": "time"}),
        on=["country", "instrument", "group", "time"],
    )
    assert len(one) == len(n)
    assert (one["n_firms"] == one["n_ref"]).all()


def test_aggregations_follow_their_definitions(sim: SimulatedFirms) -> None:
    gt, agg = sim.truth.att_gt, sim.truth.aggregate
    sizes = (
        sim.firms[sim.firms["first_support_year"] > 0]
        .groupby(["country", "instrument", "first_support_year"])
        .size()
        .rename("n_g")
        .reset_index()
        .rename(columns={"first_support_year": "group"})
    )
    cells = gt.merge(sizes, on=["country", "instrument", "group"], validate="m:1")
    post = cells[cells["time"] >= cells["group"]]
    keys = ["country", "instrument", "outcome"]

    def wmean(d: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        g = d.assign(wa=d["att"] * d["n_g"]).groupby(by)
        return (g["wa"].sum() / g["n_g"].sum()).rename("ref").reset_index()

    simple = wmean(post, keys)
    got = agg[agg["kind"] == "simple"].merge(simple, on=keys, validate="1:1")
    assert len(got) == len(simple)
    np.testing.assert_allclose(got["att"], got["ref"], rtol=1e-12, atol=1e-12)
    n_sup = sizes.groupby(["country", "instrument"])["n_g"].sum().rename("n_sup").reset_index()
    got = got.merge(n_sup, on=["country", "instrument"])
    assert (got["n_firms"] == got["n_sup"]).all()

    dynamic = wmean(cells, [*keys, "event_time"])
    got = (
        agg[agg["kind"] == "dynamic"].astype({"event_time": "int64"}).merge(dynamic, on=[*keys, "event_time"])
    )
    assert len(got) == len(dynamic)
    np.testing.assert_allclose(got["att"], got["ref"], rtol=1e-12, atol=1e-12)

    group = post.groupby([*keys, "group"])["att"].mean().rename("ref").reset_index()
    got = agg[agg["kind"] == "group"].astype({"group": "int64"}).merge(group, on=[*keys, "group"])
    assert len(got) == len(group)
    np.testing.assert_allclose(got["att"], got["ref"], rtol=1e-12, atol=1e-12)

    calendar = wmean(post, [*keys, "time"])
    got = agg[agg["kind"] == "calendar"].astype({"time": "int64"}).merge(calendar, on=[*keys, "time"])
    assert len(got) == len(calendar)
    np.testing.assert_allclose(got["att"], got["ref"], rtol=1e-12, atol=1e-12)


def test_subgroup_truth_follows_its_definition(sim: SimulatedFirms) -> None:
    eff = sim.truth.effects
    sup = eff[eff["supported"]]
    sg = sim.truth.subgroup
    subsets = {("micro", "all"): sup[sup["size_class"] == "micro"], ("all", "J"): sup[sup["sector"] == "J"]}
    keys = ["country", "instrument", "application_year"]
    for (size, sector), rows in subsets.items():
        post = rows[rows["year"] >= rows["application_year"]]
        cell_means = post.groupby([*keys, "year"])["log_employment"].mean().rename("att").reset_index()
        n_g = rows.groupby(keys)["firm_id"].nunique().rename("n_g").reset_index()
        cells = cell_means.merge(n_g, on=keys).assign(wa=lambda d: d["att"] * d["n_g"])
        by = cells.groupby(["country", "instrument"])
        ref = by["wa"].sum() / by["n_g"].sum()
        got_rows = sg[
            (sg["size_class"] == size) & (sg["sector"] == sector) & (sg["outcome"] == "log_employment")
        ]
        got = got_rows.set_index(["country", "instrument"])["att"]
        assert len(got) == len(ref)
        np.testing.assert_allclose(got.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-12, atol=1e-12)
    crossed = sg[(sg["size_class"] != "all") & (sg["sector"] != "all")]
    assert len(crossed) > 0


def test_effect_scale_zero_gives_null_truth() -> None:
    s = simulate_firms(seed=3, n_firms=3_000, effect_scale=0.0)
    assert (s.truth.att_gt["att"] == 0.0).all()
    assert (s.truth.effects[list(OUTCOMES)] == 0.0).all().all()
    assert (s.truth.multipliers["effect_multiplier"] == 0.0).all()


# --------------------------------------------------------------------------- calibration
def test_magnitudes_within_calibration_ranges(big: SimulatedFirms) -> None:
    agg = big.truth.aggregate
    # Employment: 0.05-0.17 log points for grants and guarantees; about 0 for coaching.
    assert 0.05 <= _pooled(agg, "simple", "loan_guarantee", "log_employment") <= 0.17
    assert 0.05 <= _pooled(agg, "simple", "rd_grant", "log_employment") <= 0.17
    assert _pooled(agg, "simple", "growth_coaching", "log_employment") == 0.0
    # Turnover: 0.07-0.20 for guarantees; about 0.08 for vouchers, fading after a year.
    assert 0.07 <= _pooled(agg, "simple", "loan_guarantee", "log_turnover") <= 0.20
    voucher = [_pooled(agg, "dynamic", "innovation_voucher", "log_turnover", event_time=e) for e in range(4)]
    assert 0.06 <= voucher[0] <= 0.11
    assert voucher[1] < 0.5 * voucher[0]
    assert voucher[2] == voucher[3] == 0.0
    # Exit risk 3-5 pp lower over the four years after a guarantee (sum of yearly hazard reductions).
    exit_cut = sum(_pooled(agg, "dynamic", "loan_guarantee", "alive", event_time=e) for e in range(4))
    assert 0.03 <= exit_cut <= 0.055
    # R&D: about one extra euro per subsidy euro for micro and small firms (0.8-1.3).
    eff = big.truth.effects
    rd = eff[(eff["instrument"] == "rd_grant") & eff["supported"] & (eff["size_class"] != "medium")]
    rd = rd.merge(big.firms[["firm_id", "support_amount"]], on="firm_id")
    per_euro = (rd["rd_spending"] / rd["support_amount"]).groupby(rd["event_time"]).mean()
    assert 0.8 <= per_euro.loc[[0, 1]].sum() <= 1.3
    assert (per_euro.loc[per_euro.index >= 2] == 0.0).all()
    # Equity raised roughly doubled by equity readiness in the four years after support.
    eq = eff[(eff["instrument"] == "equity_readiness") & eff["supported"] & eff["event_time"].between(0, 3)]
    obs = eq.merge(
        big.panel[["firm_id", "year", "equity_raised"]], on=["firm_id", "year"], suffixes=("_eff", "")
    )
    ratio = obs["equity_raised"].mean() / (obs["equity_raised"] - obs["equity_raised_eff"]).mean()
    assert 1.6 <= ratio <= 2.6


def test_effects_larger_for_micro_and_small_firms(big: SimulatedFirms) -> None:
    sg = big.truth.subgroup
    sg = sg[(sg["sector"] == "all") & (sg["outcome"] == "log_employment")]

    def by_size(instrument: str) -> pd.Series:
        d = sg[sg["instrument"] == instrument]
        return d.groupby("size_class")[["att", "n_firms"]].apply(
            lambda x: float((x["att"] * x["n_firms"]).sum() / x["n_firms"].sum())
        )

    lg = by_size("loan_guarantee")
    assert 1.4 <= lg["small"] / lg["medium"] <= 2.5
    assert 1.4 <= lg["micro"] / lg["medium"] <= 2.5
    rd = by_size("rd_grant")
    assert rd["medium"] < 0.25 * rd["small"]  # near 0 for medium firms


def test_effects_differ_by_country(sim: SimulatedFirms) -> None:
    agg = sim.truth.aggregate
    lg = agg[
        (agg["kind"] == "simple")
        & (agg["instrument"] == "loan_guarantee")
        & (agg["outcome"] == "log_employment")
    ]
    assert lg["att"].max() / lg["att"].min() > 1.15
    mult = sim.truth.multipliers
    assert mult["effect_multiplier"].std() > 0.05


# --------------------------------------------------------------------------- designs recover the truth
def test_lottery_difference_in_means_recovers_true_effect(sim: SimulatedFirms) -> None:
    """Issue 2 "done when": winners minus losers among voucher applicants, in a post year, HC2 95% CI."""
    exp = sim.truth.experiment
    p = sim.panel
    lot = p[p["instrument"] == "innovation_voucher"]
    checked = 0
    for outcome in ("log_turnover", "rd_spending"):
        d = lot[lot["year"] == lot["application_year"]]  # first post year (event time 0)
        fit = smf.ols(f"{outcome} ~ arm", data=d).fit(cov_type="HC2")
        lo, hi = fit.conf_int().loc["arm"]
        t = exp[
            (exp["instrument"] == "innovation_voucher")
            & (exp["outcome"] == outcome)
            & (exp["event_time"] == 0)
        ]
        truth = float((t["itt"] * t["n_applicants"]).sum() / t["n_applicants"].sum())
        assert int(t["n_applicants"].sum()) == len(d)
        assert lo <= truth <= hi, (outcome, lo, truth, hi)
        checked += 1
    # The change since the year before the call has far less noise: the interval is tight and excludes 0.
    pre = lot[lot["year"] == lot["application_year"] - 1].set_index("firm_id")["log_turnover"]
    post = lot[lot["year"] == lot["application_year"]].set_index("firm_id")[["log_turnover", "arm"]]
    d = post.assign(change=post["log_turnover"] - pre.reindex(post.index))
    fit = smf.ols("change ~ arm", data=d).fit(cov_type="HC2")
    lo, hi = fit.conf_int().loc["arm"]
    t = exp[
        (exp["instrument"] == "innovation_voucher")
        & (exp["outcome"] == "log_turnover")
        & (exp["event_time"] == 0)
    ]
    truth = float((t["itt"] * t["n_applicants"]).sum() / t["n_applicants"].sum())
    assert lo <= truth <= hi
    assert lo > 0.0
    assert hi - lo < 0.08
    assert checked == 2


@pytest.mark.slow
def test_lottery_interval_coverage_over_seeds() -> None:
    """Welch 95% intervals for winners minus losers cover the sample ITT in about 95% of data sets."""
    covered, runs = 0, 30
    for seed in range(runs):
        s = simulate_firms(seed=1000 + seed, n_firms=4_000, instruments=["innovation_voucher"])
        lot = s.panel[s.panel["instrument"] == "innovation_voucher"]
        pre = lot[lot["year"] == lot["application_year"] - 1].set_index("firm_id")["log_turnover"]
        post = lot[lot["year"] == lot["application_year"]].set_index("firm_id")
        change = post["log_turnover"] - pre.reindex(post.index)
        win, lose = change[post["arm"] == 1], change[post["arm"] == 0]
        res = stats.ttest_ind(win, lose, equal_var=False)
        lo, hi = res.confidence_interval(0.95)
        t = s.truth.experiment
        t = t[(t["outcome"] == "log_turnover") & (t["event_time"] == 0)]
        truth = float((t["itt"] * t["n_applicants"]).sum() / t["n_applicants"].sum())
        covered += int(lo <= truth <= hi)
    # Binomial(30, 0.95): P(covered <= 24) = 0.016; an interval covering 80% would fail half the time.
    assert covered >= 25, covered


def _naive_gap(s: SimulatedFirms, instrument: str, outcome: str) -> tuple[float, float]:
    """Post-support difference in means, supported vs eligible never-applied firms, and the true ATT."""
    gaps, truths, weights = [], [], []
    for country in s.calls.loc[s.calls["instrument"] == instrument, "country"].unique():
        smp = s.evaluation_sample(country, instrument)
        for g in sorted(smp.loc[smp["first_support_year"] > 0, "first_support_year"].unique()):
            d = smp[smp["year"] == g]
            treated = d.loc[d["first_support_year"] == g, outcome]
            control = d.loc[d["instrument"] == "none", outcome]
            gaps.append(treated.mean() - control.mean())
            weights.append(len(treated))
            gt = s.truth.att_gt
            truths.append(
                float(
                    gt.loc[
                        (gt["country"] == country)
                        & (gt["instrument"] == instrument)
                        & (gt["outcome"] == outcome)
                        & (gt["group"] == g)
                        & (gt["time"] == g),
                        "att",
                    ].iloc[0]
                )
            )
    w = np.asarray(weights, dtype=float)
    return float(np.average(gaps, weights=w)), float(np.average(truths, weights=w))


def test_naive_comparison_biased_in_the_direction_of_selection(sim: SimulatedFirms) -> None:
    # Export support selects stronger (larger) firms: the naive gap in log employment far exceeds the truth.
    gap, truth = _naive_gap(sim, "export_support", "log_employment")
    assert gap > truth + 0.3
    # Loan guarantees select weaker firms: the naive gap is below the truth.
    gap, truth = _naive_gap(sim, "loan_guarantee", "log_employment")
    assert gap < truth - 0.2
    # Without selection the naive gap is close to the truth.
    spec = dataclasses.replace(DEFAULT_INSTRUMENTS["export_support"], selection=0.0, takeup=0.2)
    s0 = simulate_firms(seed=11, n_firms=20_000, instruments={"export_support": spec})
    gap, truth = _naive_gap(s0, "export_support", "log_employment")
    assert abs(gap - truth) < 0.1


def test_parallel_trends_hold_conditionally_on_covariates(big: SimulatedFirms) -> None:
    """Placebo DiD from g-2 to g-1 (no effect yet): zero with baseline covariates, biased without them.

    Stacked 2x2 comparisons of each cohort with eligible never-applied firms, within (country, cohort,
    sector) strata (partialled out by demeaning, Frisch-Waugh-Lovell), HC2 standard errors.
    """
    rows = []
    for country in big.calls.loc[big.calls["instrument"] == "export_support", "country"].unique():
        smp = big.evaluation_sample(country, "export_support")
        cols = [
            "firm_id",
            "first_support_year",
            "instrument",
            "log_employment_base",
            "log_age_base",
            "sector",
        ]
        for g in smp.loc[smp["first_support_year"] > 0, "first_support_year"].unique():
            keep = (smp["first_support_year"] == g) | (smp["instrument"] == "none")
            before = smp.loc[keep & (smp["year"] == g - 2), [*cols, "log_employment"]]
            after = smp.loc[keep & (smp["year"] == g - 1), ["firm_id", "log_employment"]]
            w = before.merge(after, on="firm_id", suffixes=("_0", "_1"))
            rows.append(
                pd.DataFrame(
                    {
                        "dy": w["log_employment_1"] - w["log_employment_0"],
                        "D": (w["first_support_year"] == g).astype(float),
                        "lemp": w["log_employment_base"],
                        "lage": w["log_age_base"],
                        "stratum": f"{country}{g}" + w["sector"].astype(str),
                    }
                )
            )
    st = pd.concat(rows, ignore_index=True)
    num = ["dy", "D", "lemp", "lage"]
    dm = st[num] - st.groupby("stratum")[num].transform("mean")
    with_x = smf.ols("dy ~ 0 + D + lemp + lage", data=dm).fit(cov_type="HC2")
    without = smf.ols("dy ~ 0 + D", data=dm).fit(cov_type="HC2")
    assert (st["D"] == 1).sum() > 1_000
    assert abs(with_x.params["D"]) < 3 * with_x.bse["D"]
    assert abs(with_x.params["D"]) < 0.01
    assert without.params["D"] < -5 * without.bse["D"]  # stronger firms grow more slowly


OPEN_CALLS = ("loan_guarantee", "export_support", "growth_coaching")
X_BASE = ["log_age_base", "log_employment_base"]


def test_every_call_supports_enough_firms_for_cohort_estimation() -> None:
    """Default take-up: each call of each default (country, instrument) supports >= 20 firms at 30,000 firms.

    Growth coaching (age limit 15 years) can then be estimated with baseline covariates in every country:
    with an age limit of 10, the firms of the last cohorts observed in the first years were all founded in
    the same year (one value of ``log_age_base``), the propensity score separated them from the comparison
    firms and ``att_gt`` raised EstimationError in most country samples of these two seeds.
    """
    for seed in (0, 1):
        sim = simulate_firms(seed=seed, n_firms=30_000)
        calls = sim.calls
        runs = [(c, k) for c in DEFAULT_COUNTRIES for k in COUNTRY_PROFILES[c].instruments]
        assert len(runs) == 30
        assert len(calls) == sum(DEFAULT_INSTRUMENTS[k].n_calls for _, k in runs)
        assert calls["n_supported"].min() >= 20, calls.nsmallest(3, "n_supported")
        for country in calls.loc[calls["instrument"] == "growth_coaching", "country"].unique():
            res = att_gt(
                sim.evaluation_sample(country, "growth_coaching"),
                yname="log_employment",
                tname="year",
                idname="firm_id",
                gname="first_support_year",
                covariates=X_BASE,
                control_group="not_yet_treated",
                bootstrap=False,
            )
            assert res.pretest is not None
            assert np.isfinite(res.att).all()


@pytest.mark.slow
def test_open_call_pre_trends_are_zero_given_baseline_covariates() -> None:
    """Callaway-Sant'Anna on each open-call evaluation sample (100,000 firms, default instruments).

    Pre-period event-study estimates (e = -3..-1, not-yet-treated comparisons, baseline covariates) are
    pooled over the five countries running the instrument (independent samples, inverse-variance
    weights): within 3 standard errors (at most 0.006) of 0 and below 0.005 log points.  The Wald pre-test
    rejects at 5 % in at most 4 of the 15 samples: its chi-square approximation is somewhat oversized with
    cohorts of 100-300 firms and 10-40 pre-period cells (with cohort labels permuted at random, i.e. exact
    parallel trends, it rejects 15-30 % of the samples at 30,000 firms), so 0.75 rejections are expected
    only asymptotically; a violation of parallel trends makes it reject in most samples.  Power check:
    without covariates (selection on observables makes unconditional trends differ) it rejects in most.
    """
    sim = simulate_firms(seed=5, n_firms=100_000)
    rejections_x, rejections_none, n_samples = 0, 0, 0
    for instrument in OPEN_CALLS:
        countries = sim.calls.loc[sim.calls["instrument"] == instrument, "country"].unique()
        est, var = np.zeros(3), np.zeros(3)
        for country in countries:
            smp = sim.evaluation_sample(country, instrument)
            kw = dict(yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
                      control_group="not_yet_treated", bootstrap=False)  # fmt: skip
            res = att_gt(smp, covariates=X_BASE, **kw)  # type: ignore[arg-type]
            dyn = aggregate(res, kind="dynamic", min_e=-3, max_e=0).to_frame()
            pre = dyn[dyn["event_time"].isin([-3, -2, -1])].sort_values("event_time")
            assert len(pre) == 3
            w = 1.0 / pre["std_error"].to_numpy() ** 2
            est += w * pre["estimate"].to_numpy()
            var += w
            assert res.pretest is not None
            rejections_x += res.pretest.p_value < 0.05
            naive = att_gt(smp, covariates=None, **kw)  # type: ignore[arg-type]
            assert naive.pretest is not None
            rejections_none += naive.pretest.p_value < 0.05
            n_samples += 1
        pooled, se = est / var, 1.0 / np.sqrt(var)
        assert np.all(se < 0.002), (instrument, se)
        assert np.all(np.abs(pooled) < 3.0 * se), (instrument, pooled, se)
        assert np.all(np.abs(pooled) < 0.005), (instrument, pooled)
    assert n_samples == 15
    assert rejections_x <= 4
    assert rejections_none >= 10


def test_sharp_rdd_at_the_threshold_recovers_true_effect(big: SimulatedFirms) -> None:
    """R&D grants: local linear fit on each side of the threshold (6 points, uniform kernel), event time 0."""
    p = big.panel
    rd = p[p["instrument"] == "rd_grant"]
    pre = rd[rd["year"] == rd["application_year"] - 1].set_index("firm_id")["rd_spending"]
    post = rd[rd["year"] == rd["application_year"]].set_index("firm_id")
    d = post.assign(dy=post["rd_spending"] - pre.reindex(post.index), c=post["score"] - post["threshold"])
    d = d.assign(above=(d["c"] >= 0).astype(float))
    near = d[d["c"].abs() <= 6.0]
    fit = smf.ols("dy ~ above * c", data=near).fit(cov_type="HC2")
    lo, hi = fit.conf_int().loc["above"]
    t = big.truth.threshold
    t = t[(t["instrument"] == "rd_grant") & (t["outcome"] == "rd_spending") & (t["event_time"] == 0)]
    truth = float((t["effect_at_threshold"] * t["n_in_band"]).sum() / t["n_in_band"].sum())
    assert (t["first_stage"] == 1.0).all()
    assert lo <= truth <= hi
    assert lo > 0.0
    # Above-threshold firms are stronger: the raw gap between supported and rejected applicants in
    # log turnover before the call is positive (why the design needs the threshold).
    before = rd[rd["year"] == rd["application_year"] - 1]
    gap = before.groupby(before["first_support_year"] > 0)["log_turnover"].mean()
    assert gap[True] - gap[False] > 0.2


def test_selection_on_level_selects_on_unobserved_productivity() -> None:
    gaps = {}
    for level in (0.0, 2.0):
        s = simulate_firms(seed=4, n_firms=8_000, selection_on_level=level, instruments=["export_support"])
        q = s.panel.assign(productivity=s.panel["log_turnover"] - s.panel["log_employment"])
        supported = q[(q["first_support_year"] > 0) & (q["year"] == q["first_support_year"] - 1)]
        others = q[q["instrument"] == "none"]
        gaps[level] = supported["productivity"].mean() - others["productivity"].mean()
    assert abs(gaps[0.0]) < 0.1
    assert gaps[2.0] > 0.3


# --------------------------------------------------------------------------- evaluation_sample
def test_evaluation_sample(sim: SimulatedFirms) -> None:
    lot = sim.evaluation_sample("AT", "innovation_voucher")
    assert (lot["instrument"] == "innovation_voucher").all()
    assert (lot["country"] == "AT").all()
    assert lot["arm"].notna().all()
    scored = sim.evaluation_sample("DK", "rd_grant")
    assert set(scored["instrument"]) == {"rd_grant"}
    opened = sim.evaluation_sample("ES", "export_support")
    assert set(opened["instrument"]) == {"export_support", "none"}
    elig = sim.eligibility
    ok = set(elig.loc[(elig["instrument"] == "export_support") & elig["eligible"], "firm_id"])
    assert set(opened["firm_id"]) <= ok
    assert "F" not in set(opened["sector"])  # construction is not eligible for export support
    before = sim.panel.copy()
    opened.loc[:, "log_employment"] = 0.0
    pdt.assert_frame_equal(sim.panel, before)


def test_evaluation_sample_errors(sim: SimulatedFirms) -> None:
    with pytest.raises(SpecificationError, match=r"country='SE' is not simulated"):
        sim.evaluation_sample("SE", "rd_grant")
    with pytest.raises(SpecificationError, match=r"country 'ES' runs no instrument 'innovation_voucher'"):
        sim.evaluation_sample("ES", "innovation_voucher")


def test_subsets_of_countries_and_instruments() -> None:
    s = simulate_firms(
        seed=2, n_firms=2_000, countries=["SE", "NO"], years=(2010, 2016), instruments=["rd_grant"]
    )
    assert set(s.panel["country"]) == {"SE", "NO"}
    assert set(s.calls["instrument"]) == {"rd_grant"}
    assert s.panel["year"].between(2010, 2016).all()
    assert set(s.panel["instrument"]) <= {"rd_grant", "none"}
    assert s.calls["call_year"].between(2012, 2015).all()
    tiny = simulate_firms(seed=2, n_firms=1)
    assert tiny.panel["firm_id"].nunique() == 1


def test_designs_can_be_changed() -> None:
    specs = {
        "export_support": dataclasses.replace(DEFAULT_INSTRUMENTS["export_support"], design="lottery"),
        "loan_guarantee": dataclasses.replace(
            DEFAULT_INSTRUMENTS["loan_guarantee"], design="scored_call", takeup_above=0.9, takeup_below=0.1
        ),
        "rd_grant": dataclasses.replace(DEFAULT_INSTRUMENTS["rd_grant"], design="open_call"),
    }
    s = simulate_firms(seed=2, n_firms=8_000, instruments=specs)
    assert s.calls.groupby("instrument")["design"].first().to_dict() == {
        "export_support": "lottery",
        "loan_guarantee": "scored_call",
        "rd_grant": "open_call",
    }
    apps = s.applications
    assert set(s.truth.experiment["instrument"]) == {"export_support"}
    assert set(s.truth.threshold["instrument"]) == {"loan_guarantee"}
    lg = apps[apps["instrument"] == "loan_guarantee"]
    above = lg["score"] >= lg["threshold"]
    assert 0.0 < lg.loc[~above, "supported"].mean() < 0.25  # two-sided fuzzy design
    assert 0.75 < lg.loc[above, "supported"].mean() < 1.0
    rd = apps[apps["instrument"] == "rd_grant"]
    assert rd["score"].isna().all()
    assert set(apps.loc[apps["instrument"] == "export_support", "arm"].unique()) == {0.0, 1.0}
    np.testing.assert_allclose(s.truth.threshold["first_stage"], 0.8, rtol=1e-12)
    years = simulate_firms(seed=1, n_firms=2_000, years=(2008, 2011))
    assert set(years.calls["call_year"]) == {2010}  # the only year with two earlier years and one later


# --------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_firms": 0}, r"n_firms must be an integer >= 1; got 0"),
        ({"n_firms": 10.5}, r"n_firms must be an integer >= 1; got 10\.5"),
        ({"seed": -1}, r"seed must be a non-negative integer; got -1"),
        ({"seed": True}, r"seed must be a non-negative integer; got True"),
        ({"years": (2020, 2008)}, r"years=\(2020, 2008\) must run forwards"),
        ({"years": (2008, 2010)}, r"at least 4 years"),
        ({"years": (2008,)}, r"years must be a \(first, last\) pair"),
        ({"countries": []}, r"countries is empty"),
        ({"countries": "AT"}, r"not the string 'AT'"),
        ({"countries": ["AT", "XX"]}, r"unknown country code\(s\) \['XX'\]"),
        ({"countries": ["AT", "AT"]}, r"countries contains duplicates"),
        ({"instruments": []}, r"instruments is empty"),
        ({"instruments": "rd_grant"}, r"not the string 'rd_grant'"),
        ({"instruments": ["rd_grant", "tax_credit"]}, r"unknown instrument\(s\) \['tax_credit'\]"),
        ({"instruments": {"rd_grant": 3}}, r"instruments\['rd_grant'\] must be an InstrumentSpec"),
        ({"selection_on_level": float("nan")}, r"selection_on_level must be a finite number"),
        ({"effect_scale": -1.0}, r"effect_scale must be finite and >= 0; got -1\.0"),
        ({"entry_share": 1.0}, r"entry_share must lie in \[0, 1\); got 1\.0"),
    ],
)
def test_argument_errors(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"seed": 1, "n_firms": 100}
    args.update(kwargs)
    with pytest.raises(SpecificationError, match=match):
        simulate_firms(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"design": "auction"},
            r"\.design must be one of \['open_call', 'scored_call', 'lottery'\]; got 'auction'",
        ),
        ({"takeup": 0.0}, r"\.takeup must lie in \(0, 1\]; got 0\.0"),
        ({"win_prob": 1.5}, r"\.win_prob must lie in \[0, 1\]; got 1\.5"),
        ({"n_calls": 0}, r"\.n_calls must be >= 1; got 0"),
        ({"sizes": ("large",)}, r"unknown size classes, sectors or effect outcomes \['large'\]"),
        ({"effects": {"export_share": EffectSpec(0.1)}}, r"effect outcomes \['export_share'\]"),
    ],
)
def test_instrument_spec_errors(change: dict[str, object], match: str) -> None:
    spec = dataclasses.replace(DEFAULT_INSTRUMENTS["rd_grant"], **change)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=match):
        simulate_firms(seed=1, n_firms=100, instruments={"rd_grant": spec})


def test_profiles_cover_known_countries() -> None:
    assert set(DEFAULT_COUNTRIES) <= set(COUNTRY_PROFILES)
    assert "NO" in DEFAULT_COUNTRIES
    for code, prof in COUNTRY_PROFILES.items():
        assert len(code) == 2
        assert code.isupper()
        assert 2 <= len(prof.regions) <= 4
        assert len(prof.instruments) >= 4
