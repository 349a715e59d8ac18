"""Agency benchmarking adjusted for the SME mix: indirect standardisation, bootstrap intervals, disclosure.

Four kinds of test: recover known stratum rates from data simulated here (agencies that deliver alike but
serve different SMEs, and agencies that truly differ); exact hand computations on tiny frames; bootstrap
coverage of the simple rate; and the contract (reproducible, caller's frames untouched, values hidden
with counts only in the warning, every raise).
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
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError
from ipf_eval.evidence.delivery_mix import RECORD_COLUMNS, AdjustedBenchmark, adjusted_delivery_benchmark
from ipf_eval.pipeline.delivery_figure import admin_cost_vs_reach_alt, admin_cost_vs_reach_figure

SIZES = np.array(["micro", "small", "medium"])
BASE_DAYS = np.array([30, 60, 90])
RATES = np.array([0.10, 0.25, 0.45])
MIX_A, MIX_B = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.2, 0.7])
OPEN = DisclosureProfile(name="open", min_firms=1)  # no threshold: for the hand computations
EXACT: dict[str, Any] = {"profile": OPEN, "min_stratum_firms": 1, "min_tail_firms": 1, "n_boot": 0}


def _agencies(specs: dict[str, tuple[np.ndarray, np.ndarray, int]], *, n: int, seed: int
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eligible firms and their applications; ``specs``: country -> (mix, take-up by size, extra days).

    Days to decision are ``BASE_DAYS[size] + extra + Poisson(8)``; regions are country-specific (nested).
    """
    rng = np.random.default_rng(seed)
    elig, apps = [], []
    for country, (mix, rates, extra) in specs.items():
        size = rng.choice(3, size=n, p=mix)
        firms = pd.DataFrame({"firm_id": [f"{country}{i:05d}" for i in range(n)], "country": country,
                              "instrument": "voucher", "eligible": True, "size_class": SIZES[size],
                              "sector": "C", "region": [f"{country}{r}" for r in rng.integers(1, 3, n)]})
        elig.append(firms)
        applied = rng.random(n) < rates[size]
        start = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
        days = BASE_DAYS[size] + extra + rng.poisson(8.0, n)
        apps.append(firms.drop(columns="eligible").assign(
            application_date=start, decision_date=start + pd.to_timedelta(days, unit="D"),
            call_year=2021).loc[applied])
    return pd.concat(apps, ignore_index=True), pd.concat(elig, ignore_index=True)


def _row(bench: AdjustedBenchmark, country: str, indicator: str) -> pd.Series:
    t = bench.table
    (i,) = np.flatnonzero((t["country"] == country) & (t["indicator"] == indicator))
    return t.iloc[i]


def _run(apps: pd.DataFrame, elig: pd.DataFrame | None = None, **kw: Any) -> AdjustedBenchmark:
    kw = {"indicators": ("take_up", "median_days", "p90_days"), "n_boot": 199, "seed": 3, **kw}
    return adjusted_delivery_benchmark(apps, eligibility=elig, **kw)


def _take_up_truth(elig: pd.DataFrame, rates: dict[str, np.ndarray]) -> dict[str, float]:
    """The estimand: the adjusted take-up from the true stratum rates and the sample's eligible counts."""
    n = pd.crosstab(elig["country"], elig["size_class"]).reindex(columns=SIZES, fill_value=0)
    rho = np.vstack([rates[c] for c in n.index])
    r_s = (n.to_numpy() * rho).sum(0) / n.to_numpy().sum(0)
    r = (n.to_numpy() * rho).sum() / n.to_numpy().sum()
    obs, exp = (n.to_numpy() * rho).sum(1), (n.to_numpy() * r_s).sum(1)
    return {c: float(obs[i] / exp[i] * r) for i, c in enumerate(n.index)}


def _median_truth(apps: pd.DataFrame, extra: dict[str, int]) -> dict[str, float]:
    """The estimand of the adjusted median days from the true Poisson distributions and the sample's mix."""
    counts = pd.crosstab(apps["country"], apps["size_class"]).reindex(columns=SIZES, fill_value=0)
    x = np.arange(0, 400)
    cdf = {c: np.vstack([stats.poisson.cdf(x - BASE_DAYS[s] - extra[c], 8.0) for s in range(3)])
           for c in counts.index}  # stratum x days
    n = counts.to_numpy(dtype=float)
    pooled_s = sum(n[i][:, None] * cdf[c] for i, c in enumerate(counts.index)) / n.sum(0)[:, None]

    def q(f: np.ndarray) -> float:
        return float(x[np.argmax(f >= 0.5)])

    ref = q((n.sum(0)[:, None] * pooled_s).sum(0) / n.sum())
    out = {}
    for i, c in enumerate(counts.index):
        pi = n[i] / n[i].sum()
        out[c] = ref + q((pi[:, None] * cdf[c]).sum(0)) - q((pi[:, None] * pooled_s).sum(0))
    return out


def _disjoint(a: pd.Series, b: pd.Series, kind: str) -> bool:
    return bool(a[f"{kind}_ci_high"] < b[f"{kind}_ci_low"] or b[f"{kind}_ci_high"] < a[f"{kind}_ci_low"])


# ------------------------------------------------------------------------------------- the done-when
def test_same_delivery_different_mix_differs_raw_agrees_adjusted() -> None:
    apps, elig = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=2500, seed=11)
    bench = _run(apps, elig)
    truth = _take_up_truth(elig, {"AT": RATES, "BE": RATES})  # equal: same rates, reference = pooled rate
    assert truth["AT"] == pytest.approx(truth["BE"], rel=1e-12)
    for ind, tol in (("take_up", 0.03), ("median_days", 3.0), ("p90_days", 6.0)):
        a, b = _row(bench, "AT", ind), _row(bench, "BE", ind)
        assert (a["status"], b["status"]) == ("published", "published")
        assert _disjoint(a, b, "raw"), (ind, a["raw"], b["raw"])  # the mix makes the raw values differ
        assert not _disjoint(a, b, "adjusted"), ind  # ... and the adjustment removes it
        assert abs(a["adjusted"] - b["adjusted"]) < tol, ind
    for c in ("AT", "BE"):
        r = _row(bench, c, "take_up")
        assert r["adjusted_ci_low"] <= truth[c] <= r["adjusted_ci_high"]
    assert abs(_row(bench, "BE", "take_up")["raw"] - _row(bench, "AT", "take_up")["raw"]) > 0.15
    assert "region" in " ".join(bench.notes)  # regions are nested in countries: left out, with a note
    assert set(bench.stratification["variables"]) == {"size_class x sector"}


def test_agencies_that_truly_differ_are_recovered() -> None:
    extra = {"AT": 0, "BE": 20}
    rates = {"AT": RATES, "BE": 1.5 * RATES}
    apps, elig = _agencies({"AT": (MIX_A, rates["AT"], 0), "BE": (MIX_B, rates["BE"], 20)}, n=2500, seed=12)
    bench = _run(apps, elig)
    truth = _take_up_truth(elig, rates)
    medians = _median_truth(apps, extra)
    a, b = _row(bench, "AT", "take_up"), _row(bench, "BE", "take_up")
    for c, r in (("AT", a), ("BE", b)):
        assert r["adjusted_ci_low"] <= truth[c] <= r["adjusted_ci_high"], (c, r["adjusted"], truth[c])
        m = _row(bench, c, "median_days")
        assert m["adjusted_ci_low"] <= medians[c] <= m["adjusted_ci_high"], (c, m["adjusted"], medians[c])
    assert _disjoint(a, b, "adjusted")
    assert b["adjusted"] > a["adjusted"]
    # the pooled reference contains both agencies, which pulls the adjusted ratio towards 1 (the estimand
    # is below 1.5), but it is far closer to the true stratum ratio than the raw ratio
    ratio_adj, ratio_raw = b["adjusted"] / a["adjusted"], b["raw"] / a["raw"]
    assert truth["BE"] / truth["AT"] == pytest.approx(ratio_adj, rel=0.08)
    assert abs(ratio_adj - 1.5) < 0.5 * abs(ratio_raw - 1.5)
    ma, mb = _row(bench, "AT", "median_days"), _row(bench, "BE", "median_days")
    assert 0 < mb["adjusted"] - ma["adjusted"] < mb["raw"] - ma["raw"]


# ---------------------------------------------------------------------------------- hand computations
def _tiny_take_up() -> tuple[pd.DataFrame, pd.DataFrame]:
    """AT: 4 micro (1 applied), 2 small (2 applied); BE: 2 micro (1 applied), 4 small (2 applied)."""
    sizes = {"AT": ["micro"] * 4 + ["small"] * 2, "BE": ["micro"] * 2 + ["small"] * 4}
    applied = {"AT": [1, 0, 0, 0, 1, 1], "BE": [1, 0, 1, 1, 0, 0]}
    elig = pd.DataFrame([{"firm_id": f"{c}{i}", "country": c, "instrument": "voucher", "eligible": True,
                          "size_class": s} for c in sizes for i, s in enumerate(sizes[c])])
    apps = elig.loc[np.concatenate([applied["AT"], applied["BE"]]).astype(bool)].assign(
        application_date=pd.Timestamp("2022-01-10")).drop(columns="eligible")
    return apps.reset_index(drop=True), elig


def test_take_up_expected_and_adjusted_by_hand() -> None:
    apps, elig = _tiny_take_up()
    bench = adjusted_delivery_benchmark(apps, eligibility=elig, mix="size_class", indicators=["take_up"],
                                        **EXACT)
    # pooled stratum rates: micro 2/6, small 4/6; pooled rate 6/12
    at, be = _row(bench, "AT", "take_up"), _row(bench, "BE", "take_up")
    assert at["raw"] == pytest.approx(0.5, rel=1e-12)
    assert be["raw"] == pytest.approx(0.5, rel=1e-12)
    assert at["expected"] == pytest.approx((4 / 3 + 2 * 2 / 3) / 6, rel=1e-12)  # 4/9
    assert be["expected"] == pytest.approx((2 / 3 + 4 * 2 / 3) / 6, rel=1e-12)  # 5/9
    assert at["adjusted"] == pytest.approx(0.5 / (4 / 9) * 0.5, rel=1e-12)  # 0.5625
    assert be["adjusted"] == pytest.approx(0.5 / (5 / 9) * 0.5, rel=1e-12)  # 0.45
    assert at["reference"] == be["reference"] == pytest.approx(0.5, rel=1e-12)
    assert (at["n_firms"], at["status"]) == (6, "published")
    assert np.isnan(at["raw_ci_low"])
    assert np.isnan(at["adjusted_ci_high"])


def test_median_days_expected_and_adjusted_by_hand() -> None:
    days = {"AT": [("micro", 10), ("micro", 20), ("small", 40)],
            "BE": [("micro", 30), ("small", 50), ("small", 60)]}
    start = pd.Timestamp("2022-01-10")
    apps = pd.DataFrame([{"firm_id": f"{c}{i}", "country": c, "instrument": "voucher", "size_class": s,
                          "application_date": start, "decision_date": start + pd.Timedelta(days=d)}
                         for c in days for i, (s, d) in enumerate(days[c])])
    bench = adjusted_delivery_benchmark(apps, mix=["size_class"], indicators=["median_days"], **EXACT)
    at, be = _row(bench, "AT", "median_days"), _row(bench, "BE", "median_days")
    # inverse empirical cdf: pooled median of 10..60 is 30; AT 20, BE 50.  Reweighted to AT's mix (2/3 micro):
    # weights 2/9 on 10, 20, 30 and 1/9 on 40, 50, 60 -> 30; to BE's mix (1/3 micro) -> 40
    assert (at["raw"], at["expected"], at["reference"], at["adjusted"]) == (20, 30, 30, 20)
    assert (be["raw"], be["expected"], be["reference"], be["adjusted"]) == (50, 40, 30, 40)


def test_first_time_share_and_dropout_by_hand() -> None:
    calls = [("f1", 2018), ("f1", 2019), ("f2", 2019), ("f3", 2020), ("f4", 2019), ("f4", 2020)]
    apps = pd.DataFrame([{"firm_id": f, "country": "AT", "instrument": "voucher", "size_class": "micro",
                          "call_year": y, "application_date": pd.Timestamp(f"{y}-03-01")} for f, y in calls])
    apps["decision_date"] = apps["application_date"] + pd.Timedelta(days=30)
    apps.loc[[1, 5], "decision_date"] = pd.NaT  # two applications without a decision
    bench = adjusted_delivery_benchmark(apps, mix="size_class", indicators=["first_time_share",
                                                                              "dropout_rate"], **EXACT)
    # after the first call year (2018): f1 repeat, f2 first, f3 first, f4 first then repeat -> 3 of 5
    first = _row(bench, "AT", "first_time_share")
    assert (first["raw"], first["n_firms"]) == (pytest.approx(0.6, rel=1e-12), 4)
    drop = _row(bench, "AT", "dropout_rate")
    assert (drop["raw"], drop["n_firms"]) == (pytest.approx(2 / 6, rel=1e-12), 4)
    assert any("upper bound" in n for n in bench.notes)


def test_cost_indicators_raw_with_pooled_reference_and_dominance() -> None:
    rows = []
    for c, amounts in (("AT", [100, 200, 300]), ("BE", [100, 100, 100, 100]), ("CZ", [1000, 10, 10, 10])):
        for i, a in enumerate(amounts):
            rows.append({"firm_id": f"{c}{i}", "country": c, "instrument": "voucher", "size_class": "micro",
                         "call_year": 2020 + i % 2, "application_date": pd.Timestamp("2020-02-01"),
                         "supported": True, "support_amount": float(a)})
    apps = pd.DataFrame(rows)
    costs = pd.DataFrame({"country": ["AT", "AT", "BE", "BE", "CZ", "CZ", "CZ"],
                          "instrument": "voucher", "call_year": [2020, 2021, 2020, 2021, 2020, 2021, 2022],
                          "admin_cost_eur": [1000.0, 2000.0, 1500.0, 2500.0, 800.0, 800.0, 999.0]})
    with pytest.warns(DisclosureWarning, match=r"1 value\(s\) of 1 agency-instrument group\(s\) hidden"):
        bench = adjusted_delivery_benchmark(
            apps, admin_costs=costs, mix="size_class", n_boot=0,
            indicators=["admin_cost_per_supported_firm", "admin_cost_per_euro"])
    per_firm, per_euro = (bench.table.loc[bench.table["indicator"] == i].set_index("country")
                          for i in ("admin_cost_per_supported_firm", "admin_cost_per_euro"))
    assert per_firm["raw"].tolist() == pytest.approx([1000.0, 1000.0, 400.0], rel=1e-12)
    assert per_firm["reference"].iloc[0] == pytest.approx(8600.0 / 11, rel=1e-12)
    assert per_euro.loc["AT", "raw"] == pytest.approx(5.0, rel=1e-12)
    assert per_euro.loc["BE", "raw"] == pytest.approx(10.0, rel=1e-12)
    assert per_euro.loc["AT", "reference"] == pytest.approx(7000.0 / 1000.0, rel=1e-12)  # CZ left out
    assert (per_euro.loc["CZ", "status"], per_euro.loc["CZ", "rule"]) == ("primary", "dominance")
    assert per_euro["raw"].isna().tolist() == [False, False, True]
    assert per_firm[["adjusted", "expected", "raw_ci_low", "raw_ci_high"]].isna().all().all()
    assert any("1 call(s) with a cost but no application" in n for n in bench.notes)


# ---------------------------------------------------------------------------------- bootstrap intervals
def test_bootstrap_interval_coverage_and_se_of_a_simple_rate() -> None:
    """200 samples of 2 x 200 firms (random mix), 199 draws each: coverage of the raw take-up of AT."""
    p_true = float(MIX_A @ RATES)
    rng = np.random.default_rng(2024)
    covered, se_ratio = [], []
    start = pd.Timestamp("2022-01-10")
    for rep in range(200):
        size = np.concatenate([rng.choice(3, 200, p=MIX_A), rng.choice(3, 200, p=MIX_B)])
        elig = pd.DataFrame({"firm_id": np.arange(400), "country": np.repeat(["AT", "BE"], 200),
                             "instrument": "voucher", "size_class": SIZES[size]})
        apps = elig.loc[rng.random(400) < RATES[size]].assign(application_date=start)
        bench = adjusted_delivery_benchmark(apps, eligibility=elig, eligible_col=None, mix="size_class",
                                            indicators=["take_up"], n_boot=199, seed=rep)
        r = _row(bench, "AT", "take_up")
        covered.append(r["raw_ci_low"] <= p_true <= r["raw_ci_high"])
        se_ratio.append(r["raw_std_error"] / np.sqrt(r["raw"] * (1 - r["raw"]) / 200))
    coverage = float(np.mean(covered))
    assert abs(coverage - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 200), coverage  # within binomial error
    assert np.median(se_ratio) == pytest.approx(1.0, abs=0.05)  # bootstrap SE ~ binomial SE


# ----------------------------------------------------------------------------------------- contract
def test_reproducible_and_frames_unchanged() -> None:
    apps, elig = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 5)}, n=400, seed=5)
    before = apps.copy(deep=True), elig.copy(deep=True)
    kw: dict[str, Any] = {"indicators": ("take_up", "median_days")}
    one, two = _run(apps, elig, seed=9, **kw), _run(apps, elig, seed=9, **kw)
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(apps, before[0])
    pd.testing.assert_frame_equal(elig, before[1])
    other = _run(apps, elig, seed=10, **kw)
    pd.testing.assert_series_equal(one.table["adjusted"], other.table["adjusted"])  # points: no randomness
    assert not one.table["adjusted_ci_low"].equals(other.table["adjusted_ci_low"])


def test_small_agency_hidden_counts_only_and_kept_out_of_the_reference() -> None:
    apps, elig = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=400, seed=6)
    kw: dict[str, Any] = {"indicators": ("take_up", "median_days")}
    tiny_elig = pd.DataFrame({"firm_id": ["LU-SECRET-1", "LU-SECRET-2"], "country": "LU",
                              "instrument": "voucher", "eligible": True, "size_class": "micro",
                              "sector": "C", "region": "LU0"})
    tiny_apps = tiny_elig.iloc[:1].drop(columns="eligible").assign(
        application_date=pd.Timestamp("2021-03-02"), decision_date=pd.Timestamp("2021-04-11"), call_year=2021)
    with pytest.warns(DisclosureWarning) as caught:
        bench = _run(pd.concat([apps, tiny_apps]), pd.concat([elig, tiny_elig]), **kw)
    (message,) = [str(w.message) for w in caught]
    assert "2 value(s) of 1 agency-instrument group(s) hidden" in message
    assert "LU" not in message
    assert "40" not in message
    lu = bench.table.loc[bench.table["country"] == "LU"]
    assert (lu["status"] == "primary").all()
    assert lu[["raw", "adjusted", "n_firms"]].isna().all().all()
    assert "LU" not in set(bench.to_records()["country"])
    assert list(bench.to_records().columns) == list(RECORD_COLUMNS)
    assert "SECRET" not in json.dumps(bench.to_dict())
    assert "SECRET" not in bench.summary().as_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        without = _run(apps, elig, **kw)
    pd.testing.assert_series_equal(  # LU is not in the pooled reference (it could be differenced out)
        bench.table.loc[bench.table["country"] != "LU", "reference"].reset_index(drop=True),
        without.table["reference"])


def test_share_hidden_when_few_firms_on_one_side_and_quantile_tail_rule() -> None:
    apps, elig = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=400, seed=7)
    few = pd.DataFrame({"firm_id": [f"CZ{i}" for i in range(50)], "country": "CZ", "instrument": "voucher",
                        "eligible": True, "size_class": "small", "sector": "C", "region": "CZ0"})
    few_apps = few.iloc[:2].drop(columns="eligible").assign(
        application_date=pd.Timestamp("2021-03-02"), decision_date=pd.Timestamp("2021-04-11"), call_year=2021)
    with pytest.warns(DisclosureWarning):
        bench = _run(pd.concat([apps, few_apps]), pd.concat([elig, few]))
    cz = _row(bench, "CZ", "take_up")
    assert (cz["status"], cz["rule"]) == ("primary", "threshold")
    with pytest.warns(DisclosureWarning, match="hidden"):
        tail = _run(apps.groupby("country").head(15), elig, min_tail_firms=10)
    p90 = tail.table.loc[tail.table["indicator"] == "p90_days"]
    assert (p90["rule"] == "quantile_tail").all()
    assert p90["raw"].isna().all()
    assert "quantile_tail" in set(tail.audit.to_frame()["rule"])


def test_indicator_without_its_column_is_skipped_with_a_note() -> None:
    apps, _ = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=300, seed=8)
    bench = adjusted_delivery_benchmark(apps.drop(columns=["decision_date", "call_year"]), n_boot=0)
    assert bench.table.empty
    text = " ".join(bench.notes)
    for skipped in ("take_up skipped", "first_time_share skipped", "days to decision skipped",
                    "Cost indicators skipped"):
        assert skipped in text


# --------------------------------------------------------------------------------------- simulator
@pytest.fixture(scope="module")
def sim_bench() -> AdjustedBenchmark:
    sim = simulate_firms(seed=5, n_firms=3_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)  # p90 needs more firms than these agencies have
        return adjusted_delivery_benchmark(sim.applications, eligibility=sim.eligibility, firms=sim.firms,
                                           admin_costs=sim.calls, n_boot=99, seed=5)


def test_on_the_simulator(sim_bench: AdjustedBenchmark) -> None:
    t = sim_bench.table
    assert set(t["indicator"]) == {"take_up", "first_time_share", "dropout_rate", "median_days", "p90_days",
                                   "admin_cost_per_supported_firm", "admin_cost_per_euro"}
    take_up = t.loc[(t["indicator"] == "take_up") & (t["status"] == "published")]
    assert len(take_up) >= 20
    assert take_up["adjusted"].between(0, 1).all()
    assert (take_up["raw_ci_low"] <= take_up["raw"]).all()
    assert (take_up["raw"] <= take_up["raw_ci_high"]).all()
    assert "region" in " ".join(sim_bench.notes)
    assert "firm_id" not in t.columns
    json.dumps(sim_bench.to_dict())
    tidy = sim_bench.to_frame()
    assert list(tidy.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                      "ci_high"]
    assert len(tidy) == 2 * len(t)
    assert "adjusted" in sim_bench.summary().as_text()
    ax = sim_bench.plot(indicator="take_up", instrument="rd_grant")
    assert ax.get_xlabel() == "take up (share)"


def test_figure_has_alt_text_and_a_deterministic_svg(sim_bench: AdjustedBenchmark) -> None:
    one = admin_cost_vs_reach_figure(sim_bench, instrument="rd_grant", number=2)
    two = admin_cost_vs_reach_figure(sim_bench, instrument="rd_grant", number=2)
    assert one.image == two.image
    assert one.mime == "image/svg+xml"
    assert b"<svg" in one.image
    assert one.alt.strip()
    assert one.alt == admin_cost_vs_reach_alt(sim_bench, instrument="rd_grant")
    assert "per supported firm" in one.alt
    assert "EUR" in one.alt
    assert repr(one).startswith("Figure 2. Administrative cost and reach of rd grant")


# ------------------------------------------------------------------------------------------ raises
def test_figure_errors(sim_bench: AdjustedBenchmark) -> None:
    with pytest.raises(SpecificationError, match="must be an AdjustedBenchmark"):
        admin_cost_vs_reach_figure(sim_bench.table, instrument="rd_grant")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"instrument must be one of \["):
        admin_cost_vs_reach_alt(sim_bench, instrument="rd_grnat")
    apps, elig = _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=200, seed=1)
    with pytest.raises(DataError, match="no agency offering 'voucher' has both"):
        admin_cost_vs_reach_figure(_run(apps, elig, n_boot=0, indicators=["take_up"]), instrument="voucher")
    with pytest.raises(SpecificationError, match="is not in the table"):
        sim_bench.plot(indicator="speed")


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _agencies({"AT": (MIX_A, RATES, 0), "BE": (MIX_B, RATES, 0)}, n=100, seed=2)


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"n_boot": -1}, SpecificationError, r"n_boot .* integer >= 0; got -1\. Pass n_boot=0"),
    ({"seed": True}, SpecificationError, r"seed .* integer >= 0; got True"),
    ({"min_stratum_firms": 0}, SpecificationError, r"min_stratum_firms .* >= 1; got 0"),
    ({"alpha": 1.5}, SpecificationError, r"alpha .* strictly between 0 and 1; got 1\.5"),
    ({"indicators": ["take_up", "speed"]}, SpecificationError, r"1 unknown: \['speed'\]"),
    ({"indicators": []}, SpecificationError, "non-empty list"),
    ({"mix": ["size_class", "country"]}, SpecificationError, "mix .* other than the firm, country"),
    ({"name": ""}, SpecificationError, "name .* non-empty string"),
    ({"profile": "lenient"}, SpecificationError, "profile must be one of"),
    ({"mix": ["size_class", "staff"]}, DataError, r"applications lacks the mix column\(s\) \['staff'\]"),
])
def test_option_errors(small: tuple[pd.DataFrame, pd.DataFrame], change: dict[str, Any],
                       error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        adjusted_delivery_benchmark(small[0], eligibility=small[1], **{"n_boot": 0, **change})


def _bad(frame: pd.DataFrame, **columns: Any) -> pd.DataFrame:
    return frame.assign(**columns)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda a, e: (a.to_numpy(), e), r"applications must be a pandas DataFrame; got 'ndarray'"),
    (lambda a, e: (pd.concat([a, a[["country"]]], axis=1), e), r"duplicated column labels \['country'\]"),
    (lambda a, e: (a.drop(columns="instrument"), e), r"applications lacks column\(s\) \['instrument'\] \("),
    (lambda a, e: (_bad(a, firm_id=a["firm_id"].mask(a.index < 3)), e),
     r"column 'firm_id' of applications has 3 missing value\(s\)"),
    (lambda a, e: (_bad(a, decision_date=np.arange(len(a))), e), "holds numbers .* not dates"),
    (lambda a, e: (_bad(a, decision_date=a["decision_date"].astype(str).mask(a.index < 2, "soon")), e),
     r"'decision_date' of applications has 2 value\(s\) .* that are not dates"),
    (lambda a, e: (_bad(a, application_date=a["application_date"].mask(a.index < 4)), e),
     r"'application_date' has 4 missing date\(s\)"),
    (lambda a, e: (_bad(a, decision_date=a["application_date"] - pd.Timedelta(days=1)), e),
     r"application\(s\) of \d+ have 'decision_date' before 'application_date' \(negative days"),
    (lambda a, e: (a, _bad(e, eligible="yes")), r"'eligible' of eligibility must be boolean or 0/1"),
    (lambda a, e: (a, e.drop(columns="size_class")),
     r"eligibility lacks the mix column\(s\) \['size_class'\]"),
])
def test_data_errors(small: tuple[pd.DataFrame, pd.DataFrame], mutate: Any, match: str) -> None:
    apps, elig = mutate(small[0], small[1])
    with pytest.raises(DataError, match=match):
        adjusted_delivery_benchmark(apps, eligibility=elig, n_boot=0)


def test_firms_and_cost_errors(small: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    apps, elig = small
    firms = elig[["firm_id", "size_class", "sector", "region"]]
    with pytest.raises(DataError, match=r"firms lists 2 firm\(s\) more than once"):
        adjusted_delivery_benchmark(apps, firms=pd.concat([firms, firms.iloc[:2]]), n_boot=0)
    supported = apps.assign(supported=True, support_amount=1000.0)
    costs = pd.DataFrame({"country": ["AT", "BE"], "instrument": "voucher", "admin_cost_eur": [5e4, -1.0]})
    with pytest.raises(DataError, match=r"'admin_cost_eur' of admin_costs has 1 value\(s\) of 2 .*non-neg"):
        adjusted_delivery_benchmark(supported, admin_costs=costs, n_boot=0)
    with pytest.raises(DataError, match=r"'supported' of applications must be boolean or 0/1"):
        adjusted_delivery_benchmark(supported.assign(supported="maybe"),
                                    admin_costs=costs.assign(admin_cost_eur=1.0), n_boot=0)
