"""Tests of ipf_eval.synthesis.transferability.

Kinds of checks: exact answers on hand-built examples; the simulator's individual true effects (a country's
true average effect on its supported firm-years is the target-mix-weighted average of its true cell
effects, and a source country's cell effects reweighted to a target's mix equal the inverse-odds weighted
mean of the source's individual effects); a small Monte Carlo for the standard error; bad input.
"""

from __future__ import annotations

import dataclasses
import json
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataError, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.synthesis import TransferabilityResult, meta_analysis, transferability

matplotlib.use("Agg")


def cells_2x2() -> pd.DataFrame:
    return pd.DataFrame({
        "size_class": ["micro", "micro", "small", "small"],
        "sector": ["C", "J", "C", "J"],
        "estimate": [0.10, 0.30, 0.05, 0.20],
        "std_error": [0.02, 0.05, 0.01, 0.04],
        "n_firms": [120, 40, 300, 8],
    })


def mix_2x2() -> pd.DataFrame:
    return pd.DataFrame({
        "size_class": ["micro", "micro", "small", "small"],
        "sector": ["C", "J", "C", "J"],
        "share": [0.4, 0.1, 0.3, 0.2],
    })


# --------------------------------------------------------------------------- exact, hand-built
def test_full_coverage_is_the_mix_weighted_sum() -> None:
    res = transferability(cells_2x2(), target_mix=mix_2x2())
    w = np.array([0.4, 0.1, 0.3, 0.2])
    theta = np.array([0.10, 0.30, 0.05, 0.20])
    se = np.array([0.02, 0.05, 0.01, 0.04])
    assert res.estimate == pytest.approx(w @ theta, abs=1e-15)  # 0.125
    assert res.estimate == pytest.approx(0.125, abs=1e-15)
    assert res.std_error == pytest.approx(np.sqrt(np.sum(w**2 * se**2)), rel=1e-14)
    assert res.coverage == pytest.approx(1.0, abs=1e-15)
    assert not res.extrapolation
    assert res.uncovered_cells == ()
    assert res.thin_cells == ()
    z = 1.959963984540054
    assert res.ci_high - res.estimate == pytest.approx(z * res.std_error, rel=1e-12)
    assert res.statistic == pytest.approx(res.estimate / res.std_error, rel=1e-14)


def test_source_mix_reproduces_source_average() -> None:
    """Reweighting to the sources' own mix gives back their pooled average (the trivial transport)."""
    c = cells_2x2()
    own = c.assign(share=c["n_firms"] / c["n_firms"].sum())[["size_class", "sector", "share"]]
    res = transferability(c, target_mix=own)
    assert res.estimate == pytest.approx(np.average(c["estimate"], weights=c["n_firms"]), abs=1e-15)


def test_single_cell_column_and_unused_source_cells() -> None:
    c = pd.DataFrame({"size_class": ["micro", "small", "medium"], "estimate": [1.0, 2.0, 5.0],
                      "std_error": [0.1, 0.2, 0.3]})
    mix = pd.DataFrame({"size_class": ["micro", "small"], "share": [0.25, 0.75]})
    res = transferability(c, target_mix=mix, cells="size_class")
    assert res.estimate == pytest.approx(1.75, abs=1e-15)
    status = {r["size_class"]: r["status"] for r in res.cell_table}
    assert status == {"micro": "covered", "small": "covered", "medium": "not_in_target"}


def test_covariance_is_used() -> None:
    c = cells_2x2()
    se = c["std_error"].to_numpy()
    corr = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    cov = corr * np.outer(se, se)
    res = transferability(c, target_mix=mix_2x2(), covariance=cov)
    w = np.array([0.4, 0.1, 0.3, 0.2])
    assert res.std_error == pytest.approx(np.sqrt(w @ cov @ w), rel=1e-14)
    assert res.std_error > transferability(c, target_mix=mix_2x2()).std_error


def test_partial_coverage_renormalises_and_warns() -> None:
    c = cells_2x2().iloc[:3]  # no estimate for (small, J), which has 20% of the target
    with pytest.warns(EstimationWarning, match=r"20\.0% of the target mix is in cells without a source"):
        res = transferability(c, target_mix=mix_2x2())
    assert res.extrapolation
    assert res.coverage == pytest.approx(0.8, abs=1e-15)
    assert res.uncovered_share == pytest.approx(0.2, abs=1e-15)
    assert res.uncovered_cells == (("small", "J"),)
    assert res.estimate == pytest.approx((0.4 * 0.10 + 0.1 * 0.30 + 0.3 * 0.05) / 0.8, abs=1e-15)
    frame = res.cell_frame()
    assert frame.loc[frame["status"] == "uncovered", "share"].tolist() == [0.2]
    assert frame["weight"].sum() == pytest.approx(1.0, abs=1e-15)


def test_partial_coverage_ignore_and_error() -> None:
    c = cells_2x2().iloc[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = transferability(c, target_mix=mix_2x2(), on_extrapolation="ignore")
    assert res.extrapolation
    with pytest.raises(EstimationError, match=r"extrapolates.*on_extrapolation='warn'"):
        transferability(c, target_mix=mix_2x2(), on_extrapolation="error")


def test_tiny_uncovered_mass_below_tolerance_is_not_extrapolation() -> None:
    mix = pd.DataFrame({"size_class": ["micro", "micro", "small", "small", "medium"],
                        "sector": ["C", "J", "C", "J", "C"], "share": [0.4, 0.1, 0.3, 0.1995, 0.0005]})
    res = transferability(cells_2x2(), target_mix=mix)
    assert not res.extrapolation
    assert res.uncovered_share == pytest.approx(0.0005)
    assert res.coverage == pytest.approx(0.9995)


def test_thin_support_is_flagged() -> None:
    with pytest.warns(EstimationWarning, match=r"20\.0% in cells with thin support \[\('small', 'J'\)\]"):
        res = transferability(cells_2x2(), target_mix=mix_2x2(), support="n_firms", min_support=10)
    assert res.extrapolation
    assert res.coverage == pytest.approx(1.0)
    assert res.thin_cells == (("small", "J"),)
    assert res.thin_share == pytest.approx(0.2)
    full = res.to_frame(include_cells=True)
    assert full.loc[full["term"] == "small | J", "extrapolation"].tolist() == [True]


# --------------------------------------------------------------------------- simulator truth
@pytest.fixture(scope="module")
def simulated_effects() -> pd.DataFrame:
    from ipf_eval.data.simulate import simulate_firms

    sim = simulate_firms(seed=20240611, n_firms=12_000)
    e = sim.truth.effects
    post = e["supported"].astype(bool) & (e["year"] >= e["application_year"])
    return e.loc[post].reset_index(drop=True)


def _cell_means(rows: pd.DataFrame, outcome: str) -> pd.DataFrame:
    g = rows.groupby(["size_class", "sector"], observed=True)[outcome]
    out = g.agg(estimate="mean", n="size").reset_index()
    out["std_error"] = 1.0  # the truth has no sampling error; any positive SE leaves the estimate unchanged
    return out


def test_country_cell_truth_reweighted_to_its_mix_gives_its_true_effect(simulated_effects) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for (country, instrument), rows in simulated_effects.groupby(["country", "instrument"], observed=True):
        for outcome in ("log_employment", "rd_spending", "exporter"):
            cells = _cell_means(rows, outcome)
            mix = cells.assign(share=cells["n"] / cells["n"].sum())[["size_class", "sector", "share"]]
            res = transferability(cells, target_mix=mix)
            truth = rows[outcome].mean()
            assert res.estimate == pytest.approx(truth, rel=1e-10, abs=1e-12), (country, instrument, outcome)
            checked += 1
    assert checked >= 60


def test_transport_equals_inverse_odds_weighting_of_source_effects(simulated_effects) -> None:  # type: ignore[no-untyped-def]
    """Source cell effects reweighted to a target mix = source individual effects weighted by the odds
    (target share / source share) of their cell: the stratified and the weighting forms of the same
    transported estimand (Stuart et al. 2011; Dehejia, Pop-Eleches & Samii 2021)."""
    e = simulated_effects[simulated_effects["instrument"] == "rd_grant"]
    countries = sorted(e["country"].unique())
    assert len(countries) >= 2
    source, target = e[e["country"] == countries[0]], e[e["country"] == countries[1]]
    src_cells = _cell_means(source, "rd_spending")
    tgt = target.groupby(["size_class", "sector"], observed=True).size().rename("n").reset_index()
    tgt["share"] = tgt["n"] / tgt["n"].sum()
    common = src_cells.merge(tgt[["size_class", "sector"]], on=["size_class", "sector"])
    tgt_common = tgt.merge(common[["size_class", "sector"]], on=["size_class", "sector"])
    tgt_common["share"] = tgt_common["n"] / tgt_common["n"].sum()
    res = transferability(common, target_mix=tgt_common[["size_class", "sector", "share"]])
    src = source.merge(common[["size_class", "sector", "n"]], on=["size_class", "sector"])
    src = src.merge(tgt_common[["size_class", "sector", "share"]], on=["size_class", "sector"])
    src_share = src["n"] / len(src)
    weights = src["share"] / src_share
    assert res.estimate == pytest.approx(np.average(src["rd_spending"], weights=weights), rel=1e-10)


# --------------------------------------------------------------------------- Monte Carlo
def test_standard_error_matches_sampling_spread() -> None:
    rng = np.random.default_rng(7)
    c = cells_2x2()
    truth = transferability(c, target_mix=mix_2x2())
    draws = []
    for _ in range(1000):
        noisy = c.assign(estimate=c["estimate"] + rng.normal(0.0, c["std_error"]))
        draws.append(transferability(noisy, target_mix=mix_2x2()).estimate)
    draws_a = np.asarray(draws)
    # mean within 4 Monte Carlo SEs of the truth; SD within 9% of the analytic SE (MC relative SE of an SD
    # from 1000 normal draws is 2.2%, so this is a 4-SE band)
    assert abs(draws_a.mean() - truth.estimate) < 4 * truth.std_error / np.sqrt(len(draws_a))
    assert draws_a.std(ddof=1) == pytest.approx(truth.std_error, rel=0.09)


def test_pooled_cells_from_meta_analysis_feed_transferability() -> None:
    """Cells pooled across source countries with meta_analysis, then transported."""
    rows = []
    for cell, base in (("C", 0.1), ("J", 0.3)):
        for country, shift, se in (("AT", 0.01, 0.03), ("DE", -0.02, 0.02), ("FI", 0.0, 0.04)):
            rows.append({"sector": cell, "country": country, "estimate": base + shift, "std_error": se})
    src = pd.DataFrame(rows)
    pooled: list[dict[str, object]] = []
    estimates: list[float] = []
    for cell in ("C", "J"):
        m = meta_analysis(src[src["sector"] == cell], method="fe")
        pooled.append({"sector": cell, "estimate": m.estimate, "std_error": m.std_error})
        estimates.append(m.estimate)
    mix = pd.DataFrame({"sector": ["C", "J"], "share": [0.75, 0.25]})
    res = transferability(pd.DataFrame(pooled), target_mix=mix, cells=["sector"])
    assert res.estimate == pytest.approx(0.75 * estimates[0] + 0.25 * estimates[1], abs=1e-15)


# --------------------------------------------------------------------------- result object
def test_result_object() -> None:
    import matplotlib.pyplot as plt

    c, mix = cells_2x2(), mix_2x2()
    c0, mix0 = c.copy(deep=True), mix.copy(deep=True)
    res = transferability(c, target_mix=mix)
    pd.testing.assert_frame_equal(c, c0)
    pd.testing.assert_frame_equal(mix, mix0)
    assert isinstance(res, TransferabilityResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.estimate = 1.0  # type: ignore[misc]
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                       "ci_high"]
    assert frame["term"].tolist() == ["transported_effect"]
    assert len(res.to_frame(include_cells=True)) == 5
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert out["coverage"] == pytest.approx(1.0)
    assert out["extrapolation"] is False
    assert out["specification"]["estimator"] == "transferability"
    assert "Coverage of target" in str(res)
    _fig, ax = plt.subplots()
    assert res.plot(ax=ax) is ax
    assert len(ax.get_yticklabels()) == 4
    assert res.plot() is not None
    plt.close("all")


# --------------------------------------------------------------------------- bad input
def test_shares_not_summing_to_one() -> None:
    mix = mix_2x2().assign(share=[40, 10, 30, 20])
    with pytest.raises(DataError, match=r"sum to 100\.0, not 1.*normalise them"):
        transferability(cells_2x2(), target_mix=mix)


def test_negative_share() -> None:
    mix = mix_2x2().assign(share=[0.5, -0.1, 0.4, 0.2])
    with pytest.raises(DataError, match=r"negative shares in cells \[\('micro', 'J'\)\]"):
        transferability(cells_2x2(), target_mix=mix)


def test_missing_share() -> None:
    mix = mix_2x2().assign(share=[0.5, np.nan, 0.3, 0.2])
    with pytest.raises(DataError, match=r"missing or non-numeric shares"):
        transferability(cells_2x2(), target_mix=mix)


def test_cell_column_missing_from_target_mix() -> None:
    with pytest.raises(DataError, match=r"column 'sector' \(parameter cells\[1\]\) is not in target_mix"):
        transferability(cells_2x2(), target_mix=mix_2x2().drop(columns=["sector"]))


def test_columns_missing_from_subgroup_effects() -> None:
    with pytest.raises(DataError, match=r"'region' \(parameter cells\[0\]\) is not in subgroup_effects"):
        transferability(cells_2x2(), target_mix=mix_2x2(), cells=["region"])
    with pytest.raises(DataError, match=r"column 'se' \(parameter std_error\)"):
        transferability(cells_2x2(), target_mix=mix_2x2(), std_error="se")
    with pytest.raises(DataError, match=r"column 'weight' \(parameter weight\) is not in target_mix"):
        transferability(cells_2x2(), target_mix=mix_2x2(), weight="weight")


def test_bad_cell_estimates() -> None:
    c = cells_2x2()
    c.loc[1, "estimate"] = np.nan
    with pytest.raises(DataError, match=r"missing or non-numeric estimates in cells \[\('micro', 'J'\)\]"):
        transferability(c, target_mix=mix_2x2())
    c = cells_2x2()
    c.loc[2, "std_error"] = 0.0
    with pytest.raises(DataError, match=r"zero or negative standard errors in cells \[\('small', 'C'\)\]"):
        transferability(c, target_mix=mix_2x2())


def test_duplicated_cells() -> None:
    c = pd.concat([cells_2x2(), cells_2x2().iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match=r"subgroup_effects has duplicated cells.*meta_analysis"):
        transferability(c, target_mix=mix_2x2())
    mix = pd.concat([mix_2x2(), mix_2x2().iloc[[0]]], ignore_index=True).assign(share=[0.2] * 5)
    with pytest.raises(DataError, match=r"target_mix has duplicated cells"):
        transferability(cells_2x2(), target_mix=mix)


def test_no_coverage_at_all() -> None:
    mix = pd.DataFrame({"size_class": ["medium"], "sector": ["K"], "share": [1.0]})
    with pytest.raises(EstimationError, match=r"coverage 0.*coded the same"):
        transferability(cells_2x2(), target_mix=mix)


def test_bad_options() -> None:
    with pytest.raises(SpecificationError, match=r"on_extrapolation must be 'warn', 'ignore' or 'error'"):
        transferability(cells_2x2(), target_mix=mix_2x2(), on_extrapolation="raise")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"cells must name at least one column"):
        transferability(cells_2x2(), target_mix=mix_2x2(), cells=[])
    with pytest.raises(SpecificationError, match=r"share_tolerance must be a number in \[0, 1\)"):
        transferability(cells_2x2(), target_mix=mix_2x2(), share_tolerance=2.0)
    with pytest.raises(SpecificationError, match=r"alpha of transferability\(\)"):
        transferability(cells_2x2(), target_mix=mix_2x2(), alpha=1.5)
    with pytest.raises(DataError, match=r"subgroup_effects must be a pandas DataFrame"):
        transferability([1, 2], target_mix=mix_2x2())  # type: ignore[arg-type]


def test_bad_covariance() -> None:
    se = cells_2x2()["std_error"].to_numpy()
    with pytest.raises(SpecificationError, match=r"covariance must be a \(4, 4\) matrix.*\(3, 3\)"):
        transferability(cells_2x2(), target_mix=mix_2x2(), covariance=np.eye(3))
    asym = np.diag(se**2)
    asym[0, 1] = 1e-4
    with pytest.raises(SpecificationError, match=r"covariance must be symmetric"):
        transferability(cells_2x2(), target_mix=mix_2x2(), covariance=asym)
    with pytest.raises(SpecificationError, match=r"diagonal of covariance must equal the squared"):
        transferability(cells_2x2(), target_mix=mix_2x2(), covariance=np.eye(4))
