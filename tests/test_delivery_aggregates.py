"""The mix-adjusted delivery benchmark from per-agency aggregates (what travels in an evidence bundle).

Kinds of test: a second code path (aggregates per agency, pooled at the forum, against
``adjusted_delivery_benchmark`` on the pooled microdata, here and on the simulator); the done-when of the
issue on the aggregate path; coverage of the analytic intervals by Monte Carlo; hand computations;
disclosure (thresholds, merging into "other", no firm identifiers); the contract (reproducible, inputs
untouched); every raise.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipf_eval.data import simulate_firms
from ipf_eval.disclosure import DisclosureProfile
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.evidence.delivery_aggregates import (
    AGGREGATE_COLUMNS,
    AGGREGATE_INDICATORS,
    DeliveryAggregates,
    adjusted_benchmark_from_aggregates,
    delivery_mix_aggregates,
)
from ipf_eval.evidence.delivery_mix import RECORD_COLUMNS, AdjustedBenchmark, adjusted_delivery_benchmark
from ipf_eval.pipeline.delivery_figure import admin_cost_vs_reach_alt

SIZES, SECTORS = np.array(["micro", "small", "medium"]), np.array(["C", "J"])
BASE_DAYS = np.array([30, 60, 90])
RATES = np.array([0.10, 0.25, 0.45])
MIX_A, MIX_B, MIX_C = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.2, 0.7]), np.array([0.4, 0.3, 0.3])
OPEN = DisclosureProfile(name="open", min_firms=1)
MIX = ("size_class", "sector")
RATE_INDICATORS = ("take_up", "first_time_share", "dropout_rate")
KEY = ["country", "instrument", "indicator"]


def _world(specs: dict[str, tuple[np.ndarray, np.ndarray, int]], *, n: int, seed: int
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Applications, eligible firms and call costs; ``specs``: country -> (size mix, take-up, extra days).

    Sector J raises take-up by a fifth, days by 5 and drop-out by 5 points; 30 % of applicants apply
    again in a later or the same call (so first-time shares are below 1); days are
    ``BASE_DAYS[size] + extra + Poisson(8)``.
    """
    rng = np.random.default_rng(seed)
    calls = (2020, 2021, 2022)
    apps, elig, costs = [], [], []
    for country, (mix, rates, extra) in specs.items():
        size, sector = rng.choice(3, size=n, p=mix), rng.integers(0, 2, n)
        firms = pd.DataFrame({"firm_id": [f"{country}-SECRET-{i:05d}" for i in range(n)], "country": country,
                              "instrument": "voucher", "eligible": True, "size_class": SIZES[size],
                              "sector": SECTORS[sector]})
        elig.append(firms)
        applied = np.flatnonzero(rng.random(n) < rates[size] * (1 + 0.2 * sector))
        rows = np.concatenate([applied, applied[rng.random(applied.size) < 0.3]])
        call = rng.choice(calls, rows.size)
        start = pd.to_datetime([f"{c}-03-01" for c in call]) + pd.to_timedelta(rng.integers(0, 30, rows.size),
                                                                                unit="D")
        days = BASE_DAYS[size[rows]] + extra + rng.poisson(8.0, rows.size) + 5 * sector[rows]
        decided = rng.random(rows.size) > 0.12 + 0.05 * sector[rows]
        supported = decided & (rng.random(rows.size) < 0.5)
        apps.append(firms.drop(columns="eligible").iloc[rows].assign(
            call_year=call, application_date=start,
            decision_date=pd.Series(start + pd.to_timedelta(days, unit="D")).where(decided).to_numpy(),
            supported=supported,
            support_amount=np.where(supported, rng.integers(10, 60, rows.size) * 1e3, 0.0)))
        costs.append(pd.DataFrame({"country": country, "instrument": "voucher", "call_year": list(calls),
                                   "admin_cost_eur": rng.integers(50, 90, len(calls)) * 1e3}))
    return (pd.concat(apps, ignore_index=True), pd.concat(elig, ignore_index=True),
            pd.concat(costs, ignore_index=True))


def _aggregates(apps: pd.DataFrame, elig: pd.DataFrame | None, costs: pd.DataFrame | None, **kw: Any
                ) -> list[DeliveryAggregates]:
    pairs = apps[["country", "instrument"]].drop_duplicates().itertuples(index=False)
    return [delivery_mix_aggregates(apps, country=c, instrument=k, eligibility=elig, admin_costs=costs, **kw)
            for c, k in pairs]


def _pool(aggs: list[DeliveryAggregates], **kw: Any) -> AdjustedBenchmark:
    return adjusted_benchmark_from_aggregates(pd.concat([a.table for a in aggs], ignore_index=True), **kw)


def _side_by_side(forum: AdjustedBenchmark, micro: AdjustedBenchmark) -> pd.DataFrame:
    both = forum.table.merge(micro.table, on=KEY, suffixes=("_f", "_m"), validate="one_to_one")
    assert len(both) == len(forum.table) == len(micro.table)
    assert (both["status_f"] == both["status_m"]).all()
    return both


def _width(t: pd.DataFrame, kind: str, side: str) -> pd.Series:
    return t[f"{kind}_ci_high_{side}"] - t[f"{kind}_ci_low_{side}"]


@pytest.fixture(scope="module")
def three() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _world({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0), "CZ": (MIX_C, 1.2 * RATES, 10)}, n=3000,
                  seed=1)


# ------------------------------------------------------------------------------------ second code path
def test_aggregates_reproduce_the_microdata_benchmark(three: tuple[pd.DataFrame, ...]) -> None:
    apps, elig, costs = three
    aggs = _aggregates(apps, elig, costs)
    # the precondition of exact agreement: no stratum merged at home (default profile, threshold 3) and no
    # cell collapsed in the microdata version (every size x sector cell has firms of all three agencies)
    assert [len(a.audit) for a in aggs] == [0, 0, 0]
    assert not any((a.table["stratum"] == "other").any() for a in aggs)
    forum = _pool(aggs)
    micro = adjusted_delivery_benchmark(apps, eligibility=elig, admin_costs=costs, mix=MIX,
                                        min_stratum_firms=1, n_boot=499, seed=4)
    assert (micro.stratification["share_firms_collapsed"] == 0).all()
    assert set(micro.stratification["n_strata"]) == {6}
    t = _side_by_side(forum, micro)
    assert (t["status_f"] == "published").all()
    rates = t.loc[t["indicator"].isin(RATE_INDICATORS)]
    for col in ("raw", "expected", "adjusted", "reference"):
        np.testing.assert_allclose(rates[f"{col}_f"], rates[f"{col}_m"], rtol=1e-12, atol=0)
    take_up = t.loc[t["indicator"] == "take_up"]
    np.testing.assert_array_equal(take_up["n_firms_f"], take_up["n_firms_m"])  # eligible firms
    days = t.loc[t["indicator"].isin(["median_days", "p90_days"])]
    for col in ("raw", "expected", "adjusted", "reference"):  # binned at 7 days: within one bin
        assert (days[f"{col}_f"] - days[f"{col}_m"]).abs().max() < 7.0, col
    cost = t.loc[t["indicator"].str.startswith("admin_cost")]
    for col in ("raw", "reference"):
        np.testing.assert_allclose(cost[f"{col}_f"], cost[f"{col}_m"], rtol=1e-12, atol=0)
    assert cost[["adjusted_f", "raw_ci_low_f"]].isna().all().all()
    # intervals against the firm bootstrap (499 draws): widths within a band per kind of unit
    for inds, band in ((("take_up", "dropout_rate"), (0.85, 1.2)),
                       (("first_time_share",), (1.0, 1.45))):  # a firm's two applications: one is first
        sel = t.loc[t["indicator"].isin(inds)]
        for kind in ("raw", "adjusted"):
            ratio = _width(sel, kind, "f") / _width(sel, kind, "m")
            assert ratio.between(*band).all(), (inds, kind, ratio.round(3).tolist())
    for kind in ("raw", "adjusted"):  # quantiles of discrete days: interval ends within one bin
        for end in ("low", "high"):
            assert (days[f"{kind}_ci_{end}_f"] - days[f"{kind}_ci_{end}_m"]).abs().max() < 7.0, (kind, end)


def test_second_code_path_on_the_simulator() -> None:
    sim = simulate_firms(seed=5, n_firms=8_000)
    elig = sim.eligibility.loc[sim.eligibility["eligible"]].merge(sim.firms[["firm_id", *MIX]], on="firm_id")

    def shared(frame: pd.DataFrame) -> pd.DataFrame:  # cells held by one agency would be collapsed
        return frame.loc[frame.groupby(["instrument", *MIX])["country"].transform("nunique") >= 2]

    apps, elig = shared(sim.applications), shared(elig)
    forum = _pool(_aggregates(apps, elig, sim.calls, profile=OPEN), min_tail_firms=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micro = adjusted_delivery_benchmark(apps, eligibility=elig, admin_costs=sim.calls, mix=MIX, n_boot=0,
                                            min_stratum_firms=1, min_tail_firms=1, profile=OPEN)
    exact = micro.stratification.loc[micro.stratification["share_firms_collapsed"] == 0,
                                     ["instrument", "indicator"]]
    assert len(exact) >= 28  # of 30 (the first call year's exclusion leaves one cell to a single agency)
    t = _side_by_side(forum, micro).merge(exact, on=["instrument", "indicator"], how="left", indicator="_e")
    rates = t.loc[t["indicator"].isin(RATE_INDICATORS) & (t["_e"] == "both")]
    assert len(rates) >= 80
    for col in ("raw", "expected", "adjusted", "reference"):
        np.testing.assert_allclose(rates[f"{col}_f"], rates[f"{col}_m"], rtol=1e-12, atol=1e-15)
    days = t.loc[t["indicator"].isin(["median_days", "p90_days"])]
    for col in ("raw", "expected", "adjusted", "reference"):
        assert (days[f"{col}_f"] - days[f"{col}_m"]).abs().max() < 7.0, col
    cost = t.loc[t["indicator"].str.startswith("admin_cost") & (t["status_f"] == "published")]
    assert len(cost) == 60
    np.testing.assert_allclose(cost["raw_f"], cost["raw_m"], rtol=1e-12)
    assert admin_cost_vs_reach_alt(forum, instrument="rd_grant")  # downstream code takes either result


# ------------------------------------------------------------------------------------------ done-when
def test_same_delivery_different_mix_raw_differs_adjusted_agrees() -> None:
    apps, elig, _ = _world({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=2500, seed=11)
    bench = _pool(_aggregates(apps, elig, None))
    t = bench.table.set_index(["country", "indicator"])
    for ind, tol in (("take_up", 0.03), ("dropout_rate", 0.02), ("median_days", 4.0), ("p90_days", 6.0)):
        a, b = t.loc[("AT", ind)], t.loc[("BE", ind)]
        assert (a["status"], b["status"]) == ("published", "published")
        if ind != "dropout_rate":  # drop-out hardly depends on size: the mix moves it by little
            assert a["raw_ci_high"] < b["raw_ci_low"] or b["raw_ci_high"] < a["raw_ci_low"], ind
        assert a["adjusted_ci_high"] >= b["adjusted_ci_low"], ind  # the adjusted intervals overlap
        assert b["adjusted_ci_high"] >= a["adjusted_ci_low"], ind
        assert abs(a["adjusted"] - b["adjusted"]) < tol, ind
    assert t.loc[("BE", "take_up"), "raw"] - t.loc[("AT", "take_up"), "raw"] > 0.15
    assert "analytic" in bench.summary().as_text()
    assert list(bench.to_records().columns) == list(RECORD_COLUMNS)
    json.dumps(bench.to_dict())
    assert bench.plot(indicator="take_up").get_xlabel() == "take up (share)"


# -------------------------------------------------------------------------------------------- coverage
def test_analytic_interval_coverage() -> None:
    """600 replicates of three agencies (packed as 600 instruments of one call, which are independent).

    Take-up: 300 eligible firms per agency, random mix; the raw interval should cover the agency's
    population rate and the adjusted one the adjusted rate of the true stratum rates at the drawn stratum
    sizes (the estimand of indirect standardisation).  Median days: 150 decided applications from a
    shifted gamma, binned by 7 days; the order-statistic interval has a known exact coverage.
    """
    mixes, scale = {"AT": MIX_A, "BE": MIX_B, "CZ": MIX_C}, {"AT": 1.0, "BE": 1.3, "CZ": 0.8}
    rng = np.random.default_rng(7)
    rows, truth = [], {}
    for rep in range(600):
        inst, n_as = f"v{rep:03d}", {}
        for c, mix in mixes.items():
            n_as[c] = rng.multinomial(300, mix)
            y = rng.binomial(n_as[c], scale[c] * RATES)
            rows += [(c, inst, "take_up", SIZES[s], np.nan, np.nan, n_as[c][s], y[s]) for s in range(3)]
            days = 20 + rng.gamma(3.0, 12.0 * scale[c], 150)
            j, k = np.unique(days // 7, return_counts=True)
            rows += [(c, inst, "days_to_decision", "all", 7 * a, 7 * a + 7, m, np.nan)
                     for a, m in zip(j, k, strict=True)]
        n = np.vstack(list(n_as.values())).astype(float)
        rho = np.vstack([scale[c] * RATES for c in mixes])
        r_s, r = (n * rho).sum(0) / n.sum(0), (n * rho).sum() / n.sum()
        truth |= {(c, inst): v for c, v in zip(mixes, (n * rho).sum(1) / (n @ r_s) * r, strict=True)}
    agg = pd.DataFrame(rows, columns=list(AGGREGATE_COLUMNS)).astype({"n": float, "events": float})
    t = adjusted_benchmark_from_aggregates(agg, indicators=["take_up", "median_days"], min_tail_firms=1).table
    tu, md = t.loc[t["indicator"] == "take_up"], t.loc[t["indicator"] == "median_days"]
    assert len(tu) == len(md) == 1800
    band = 3 * np.sqrt(0.95 * 0.05 / 1800)
    p = np.array([scale[c] * mixes[c] @ RATES for c in tu["country"]])  # the population take-up
    adj = np.array([truth[(c, k)] for c, k in zip(tu["country"], tu["instrument"], strict=True)])
    raw_cov = float(np.mean((tu["raw_ci_low"] <= p) & (p <= tu["raw_ci_high"])))
    adj_cov = float(np.mean((tu["adjusted_ci_low"] <= adj) & (adj <= tu["adjusted_ci_high"])))
    assert abs(raw_cov - 0.95) < band, raw_cov
    assert abs(adj_cov - 0.95) < band, adj_cov
    q = np.array([20 + stats.gamma.ppf(0.5, 3.0, scale=12.0 * scale[c]) for c in md["country"]])
    lo, hi = stats.binom.ppf(0.025, 150, 0.5), stats.binom.ppf(0.975, 150, 0.5) + 1
    exact = stats.binom.cdf(hi - 1, 150, 0.5) - stats.binom.cdf(lo - 1, 150, 0.5)  # ~0.96: conservative
    md_cov = float(np.mean((md["raw_ci_low"] <= q) & (q <= md["raw_ci_high"])))
    assert abs(md_cov - exact) < 3 * np.sqrt(exact * (1 - exact) / 1800), (md_cov, exact)


# ------------------------------------------------------------------------------------- hand computations
def _rows(*rows: tuple[Any, ...]) -> pd.DataFrame:
    return pd.DataFrame([(c, "voucher", i, s, lo, hi, float(n), e) for c, i, s, lo, hi, n, e in rows],
                        columns=list(AGGREGATE_COLUMNS))


def test_rates_and_quantiles_by_hand() -> None:
    nan = np.nan
    days = "days_to_decision"
    agg = _rows(("AT", "take_up", "micro", nan, nan, 4, 1.0), ("AT", "take_up", "small", nan, nan, 2, 2.0),
                ("BE", "take_up", "micro", nan, nan, 2, 1.0), ("BE", "take_up", "small", nan, nan, 4, 2.0),
                ("AT", days, "a", 0, 10, 6, nan), ("AT", days, "b", 20, 30, 2, nan),
                ("BE", days, "a", 10, 20, 2, nan), ("BE", days, "b", 30, 40, 6, nan))
    t = adjusted_benchmark_from_aggregates(agg, indicators=["take_up", "median_days"], min_tail_firms=1
                                           ).table.set_index(["country", "indicator"])
    # as tests/test_delivery_mix.py: stratum rates 2/6 and 4/6, pooled 1/2; expected 4/9 and 5/9
    assert t.loc[("AT", "take_up"), ["raw", "expected", "adjusted", "reference"]].tolist() == pytest.approx(
        [0.5, 4 / 9, 0.5625, 0.5], rel=1e-12)
    assert t.loc[("BE", "take_up"), "adjusted"] == pytest.approx(0.45, rel=1e-12)
    # pooled: 6 in [0,10), 2 in [10,20), 2 in [20,30), 6 in [30,40): median 20.  AT: 4th of 8 in [0,10)
    # -> 20/3; expected at AT's mix (3/4 in a): 0.75 * 0.75 x / 10 = 0.5 -> 80/9; adjusted 20 + 20/3 - 80/9
    at, be = t.loc[("AT", "median_days")], t.loc[("BE", "median_days")]
    assert [at["raw"], at["expected"], at["reference"]] == pytest.approx([20 / 3, 80 / 9, 20.0], rel=1e-12)
    assert at["adjusted"] == pytest.approx(20 + 20 / 3 - 80 / 9, rel=1e-12)
    assert [be["raw"], be["expected"]] == pytest.approx([100 / 3, 280 / 9], rel=1e-12)
    # order statistics of 8 at p = 0.5: l = 1, u = 8, read at cumulative counts 0.5 and 7.5
    assert [at["raw_ci_low"], at["raw_ci_high"]] == pytest.approx([5 / 6, 27.5], rel=1e-12)
    assert at["adjusted_ci_high"] - at["adjusted"] == pytest.approx(27.5 - 20 / 3, rel=1e-12)
    assert (at["n_firms"], at["status"]) == (8.0, "published")


def test_quantile_tail_rule_and_skipped_indicators() -> None:
    agg = _rows(("AT", "days_to_decision", "a", 0, 7, 5, np.nan),
                ("AT", "days_to_decision", "a", 7, 14, 4, np.nan))
    bench = adjusted_benchmark_from_aggregates(agg)
    p90 = bench.table.set_index("indicator").loc["p90_days"]
    assert (p90["status"], p90["rule"]) == ("primary", "quantile_tail")
    assert np.isnan(p90["raw"])
    assert "quantile_tail" in set(bench.audit.to_frame()["rule"])
    assert any("take_up skipped: no take_up rows" in n for n in bench.notes)


# ------------------------------------------------------------------------------------------- disclosure
def test_disclosure_merging_into_other_and_no_firm_ids() -> None:
    apps, elig, costs = _world({"LU": (np.array([0.6, 0.3, 0.1]), RATES, 0)}, n=250, seed=21)
    agg = delivery_mix_aggregates(apps, country="LU", instrument="voucher", eligibility=elig,
                                  admin_costs=costs)
    t = agg.table
    assert list(t.columns) == list(AGGREGATE_COLUMNS)
    assert "other" in set(t["stratum"])
    assert len(agg.audit) > 0
    rates = t.loc[t["indicator"] == "take_up"]  # n = eligible firms; events = applicant firms
    assert (rates["n"] >= 3).all()
    for side in (rates["events"], rates["n"] - rates["events"]):
        assert ((side == 0) | (side >= 3)).all()
    hist = t.loc[t["indicator"] == "days_to_decision"]
    decided = apps.assign(days=(apps["decision_date"] - apps["application_date"]).dt.days)
    decided = decided.dropna(subset=["days"])
    decided["stratum"] = decided["size_class"] + "|" + decided["sector"]
    published = set(hist["stratum"]) - {"other"}
    decided.loc[~decided["stratum"].isin(published), "stratum"] = "other"
    for r in hist.itertuples():  # every published bin holds at least 3 firms
        in_bin = decided["days"].between(r.bin_low, r.bin_high, inclusive="left")
        inside = decided.loc[(decided["stratum"] == r.stratum) & in_bin]
        assert inside["firm_id"].nunique() >= 3
        assert len(inside) == r.n
    assert (hist["bin_high"] - hist["bin_low"] > 7).any()  # sparse bins merged: wider bins
    # the histogram has the strata of drop-out (same applications), so no drop-out count is a difference
    assert set(hist["stratum"]) == set(t.loc[t["indicator"] == "dropout_rate", "stratum"])
    audit = agg.audit.to_frame()
    assert set(audit["rule"]) <= {"threshold", "dominance", "p_percent", "threshold+dominance"}
    assert audit["reason"].str.contains("merged into stratum 'other'").any()
    text = json.dumps(agg.to_dict()) + agg.summary().as_text() + " ".join(agg.notes)
    assert "SECRET" not in text
    assert not t.astype(str).apply(lambda col: col.str.contains("SECRET")).any().any()


def test_other_dropped_and_costs_disclosure() -> None:
    apps, elig, costs = _world({"LU": (MIX_A, RATES, 0)}, n=120, seed=4)
    lone = elig.iloc[:1].assign(firm_id="LU-SECRET-X", size_class="medium", sector="J")  # alone in a stratum
    agg = delivery_mix_aggregates(apps, country="LU", instrument="voucher", admin_costs=costs,
                                  eligibility=pd.concat([elig, lone]), profile="research_data_centre")
    assert any("dropout_rate: 6 stratum(s) failing" in n and "is dropped" in n for n in agg.notes)
    assert agg.audit.to_frame()["reason"].str.endswith("dropped").any()
    # drop-out's "other" fails (too few firms on one side), so the histogram's is dropped with it, even
    # though it holds enough firms: applications (take-up events) minus decided would give the drop-outs
    assert not agg.table["indicator"].isin(["dropout_rate", "days_to_decision"]).any()
    assert any("days_to_decision: 5 stratum(s) merged into 'other' as for" in n for n in agg.notes)
    big = apps.assign(support_amount=np.where(apps["supported"], 1e3, 0.0))
    big.loc[big.index[big["supported"]][0], "support_amount"] = 1e8  # one award dominates the euro granted
    dom = delivery_mix_aggregates(big, country="LU", instrument="voucher", admin_costs=costs)
    assert "euro_granted" not in set(dom.table["indicator"])
    assert "admin_cost" in set(dom.table["indicator"])
    assert "dominance" in set(dom.audit.to_frame()["rule"])
    few = apps.assign(supported=False)
    few.loc[few.index[:2], "supported"] = True
    none = delivery_mix_aggregates(few, country="LU", instrument="voucher", admin_costs=costs)
    assert not none.table["indicator"].isin(["admin_cost", "euro_granted"]).any()
    assert any("fewer than 3 supported firms" in n for n in none.notes)


# ---------------------------------------------------------------------------------------------- contract
def test_reproducible_order_free_and_inputs_unchanged(three: tuple[pd.DataFrame, ...]) -> None:
    apps, elig, costs = three
    before = [f.copy(deep=True) for f in three]
    one = delivery_mix_aggregates(apps, country="AT", instrument="voucher", eligibility=elig,
                                  admin_costs=costs)
    two = delivery_mix_aggregates(apps.sample(frac=1.0, random_state=3), country="AT", instrument="voucher",
                                  eligibility=elig.sample(frac=1.0, random_state=4), admin_costs=costs)
    pd.testing.assert_frame_equal(one.table, two.table)
    assert one.notes == two.notes
    for f, b in zip(three, before, strict=True):
        pd.testing.assert_frame_equal(f, b)
    agg = pd.concat([one.table, delivery_mix_aggregates(apps, country="BE", instrument="voucher").table])
    kept = agg.copy(deep=True)
    pd.testing.assert_frame_equal(adjusted_benchmark_from_aggregates(agg).table,
                                  adjusted_benchmark_from_aggregates(agg.iloc[::-1]).table)
    pd.testing.assert_frame_equal(agg, kept)
    assert one.specification.dropped[0].n_rows == int((apps["country"] != "AT").sum())


def test_no_applications_and_skipped_inputs() -> None:
    _, elig, _ = _world({"AT": (MIX_A, RATES, 0)}, n=60, seed=2)
    empty = pd.DataFrame({"firm_id": pd.Series(dtype=str), "size_class": pd.Series(dtype=str),
                          "sector": pd.Series(dtype=str),
                          "application_date": pd.Series(dtype="datetime64[ns]")})
    agg = delivery_mix_aggregates(empty, country="AT", instrument="voucher", eligibility=elig)
    assert set(agg.table["indicator"]) == {"take_up"}
    assert (agg.table["events"] == 0).all()
    assert any("Cost rows skipped" in n for n in agg.notes)
    assert any("dropout_rate and days_to_decision skipped" in n for n in agg.notes)


# ------------------------------------------------------------------------------------------------ raises
@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _world({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=200, seed=2)


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"country": ""}, SpecificationError, r"country of delivery_mix_aggregates\(\) must be a non-empty"),
    ({"bin_days": 0}, SpecificationError, r"bin_days of delivery_mix_aggregates\(\) .* >= 1; got 0"),
    ({"mix": ["size_class", "firm_id"]}, SpecificationError, "mix .* other than the firm, country"),
    ({"profile": "lenient"}, SpecificationError, "profile must be one of"),
    ({"bins_days": 7}, SpecificationError, r"unknown option\(s\) 'bins_days' \(did you mean 'bin_days'"),
    ({"country": "XX"}, DataError, r"applications has no row of country 'XX' and instrument 'voucher'"),
    ({"mix": ["size_class", "staff"]}, DataError, r"applications lacks the mix column\(s\) \['staff'\]"),
])
def test_home_option_errors(small: tuple[pd.DataFrame, ...], change: dict[str, Any], error: type[Exception],
                            match: str) -> None:
    with pytest.raises(error, match=match):
        delivery_mix_aggregates(small[0], **{"country": "AT", "instrument": "voucher", **change})


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda a, e, c: (a.to_numpy(), e, c), r"applications must be a pandas DataFrame; got 'ndarray'"),
    (lambda a, e, c: (a.drop(columns="application_date"), e, c),
     r"applications lacks column\(s\) \['application_date'\]"),
    (lambda a, e, c: (a.assign(firm_id=a["firm_id"].mask(a.index < 3)), e, c),
     r"column 'firm_id' of applications has 3 missing value\(s\)"),
    (lambda a, e, c: (a.assign(sector=a["sector"].replace("C", "C|D")), e, c),
     r"column 'sector' of applications has \d+ value\(s\) containing '\|'"),
    (lambda a, e, c: (a.assign(application_date=a["application_date"].mask(a.index < 4)), e, c),
     r"'application_date' has \d missing date\(s\)"),
    (lambda a, e, c: (a.assign(decision_date=a["application_date"] - pd.Timedelta(days=1)), e, c),
     r"have 'decision_date' before 'application_date'"),
    (lambda a, e, c: (a, e.assign(eligible="yes"), c), r"'eligible' of eligibility must be boolean or 0/1"),
    (lambda a, e, c: (a, e.drop(columns="sector"), c), r"eligibility lacks the mix column\(s\) \['sector'\]"),
    (lambda a, e, c: (a, e, c.assign(admin_cost_eur=-1.0)), r"'admin_cost_eur' of admin_costs has 3 value"),
])
def test_home_data_errors(small: tuple[pd.DataFrame, ...], mutate: Any, match: str) -> None:
    apps, elig, costs = mutate(*small)
    with pytest.raises(DataError, match=match):
        delivery_mix_aggregates(apps, country="AT", instrument="voucher", eligibility=elig, admin_costs=costs)


def test_home_other_category_error(small: tuple[pd.DataFrame, ...]) -> None:
    apps = small[0].assign(sector=small[0]["sector"].replace("J", "other"))
    with pytest.raises(DataError, match=r"column 'sector' of applications has the category 'other'"):
        delivery_mix_aggregates(apps, country="AT", instrument="voucher", mix="sector")


@pytest.fixture(scope="module")
def pooled(small: tuple[pd.DataFrame, ...]) -> pd.DataFrame:
    return pd.concat([a.table for a in _aggregates(small[0], small[1], small[2])], ignore_index=True)


def _set(frame: pd.DataFrame, rows: Any, col: str, value: Any) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rows(out), col] = value
    return out


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda t: t.to_dict(), r"aggregates must be a pandas DataFrame .* got 'dict'"),
    (lambda t: t.drop(columns="events"), r"exactly the columns .* it lacks \['events'\]"),
    (lambda t: t.assign(source="x"), r"has the extra \['source'\]"),
    (lambda t: _set(t, lambda f: f.index < 2, "stratum", None),
     r"column 'stratum' has 2 value\(s\) .* missing"),
    (lambda t: t.assign(n=t["n"].astype(str)), r"column 'n' must be numeric; it has dtype"),
    (lambda t: _set(t, lambda f: f.index < 1, "indicator", "speed"), r"unknown indicator\(s\) \['speed'\]"),
    (lambda t: _set(t, lambda f: f.index < 1, "n", -1.0), r"column 'n' has 1 row\(s\) .* negative counts"),
    (lambda t: _set(t, lambda f: f["indicator"] == "take_up", "events", 1e9), "more events than units"),
    (lambda t: _set(t, lambda f: f["indicator"] == "dropout_rate", "events", np.nan),
     r"column 'events' has \d+ row\(s\) .* where a rate or cost row needs them"),
    (lambda t: _set(t, lambda f: f["indicator"] == "days_to_decision", "bin_high", 0.0),
     "days_to_decision bins that are missing, negative or empty"),
    (lambda t: pd.concat([t, t.iloc[:3]]), r"has 3 row\(s\) duplicating the key"),
    (lambda t: _set(t, lambda f: f["indicator"] == "days_to_decision", "bin_high",
                    t.loc[t["indicator"] == "days_to_decision", "bin_high"] + 3.0), "overlap the bin before"),
    (lambda t: t.assign(stratum=t["stratum"].where(t["country"] != "BE", t["stratum"].str.replace("|", "-"))),
     r"mixes keys of different mixes for instrument\(s\) \['voucher'\]"),
])
def test_forum_data_errors(pooled: pd.DataFrame, mutate: Any, match: str) -> None:
    with pytest.raises(DataError, match=match):
        adjusted_benchmark_from_aggregates(mutate(pooled))


@pytest.mark.parametrize(("change", "match"), [
    ({"alpha": 1.5}, r"alpha of adjusted_benchmark_from_aggregates\(\) must be .* got 1\.5"),
    ({"indicators": ["take_up", "speed"]}, r"1 unknown: \['speed'\]"),
    ({"indicators": []}, "non-empty list"),
    ({"min_tail_firms": 0}, r"min_tail_firms of adjusted_benchmark_from_aggregates\(\) .* >= 1; got 0"),
    ({"name": ""}, "name .* non-empty string"),
    ({"n_boot": 99}, r"unknown option\(s\) 'n_boot'"),
])
def test_forum_option_errors(pooled: pd.DataFrame, change: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        adjusted_benchmark_from_aggregates(pooled, **change)


def test_the_evidence_schema_knows_every_indicator_the_aggregates_write() -> None:
    from ipf_eval.evidence.schema import DELIVERY_MIX_INDICATORS

    assert DELIVERY_MIX_INDICATORS == AGGREGATE_INDICATORS
