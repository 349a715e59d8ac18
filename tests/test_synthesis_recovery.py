"""The synthesis run on the default simulated batch recovers the simulator's true pooled effects.

Per country: Callaway-Sant'Anna on the instrument's evaluation sample (doubly robust, not-yet-supported
comparisons, baseline covariates), simple aggregation.  Across countries: REML random-effects pooling.
The simulator knows every country's true ATT; the true pooled effect is their unweighted mean, the
quantity a random-effects mean estimates when countries are exchangeable.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import ipf_eval
from ipf_eval.data import simulate_firms

OUTCOMES = [("loan_guarantee", "log_employment"), ("loan_guarantee", "log_turnover"),
            ("export_support", "log_employment"), ("growth_coaching", "log_employment")]


@pytest.fixture(scope="module")
def per_country() -> pd.DataFrame:
    sim = simulate_firms(seed=2024, n_firms=30_000)
    truth = sim.truth.aggregate
    truth = truth[truth["kind"] == "simple"]
    rows = []
    for instrument, outcome in OUTCOMES:
        countries = sorted(sim.calls.loc[sim.calls["instrument"] == instrument, "country"].unique())
        for country in countries:
            sample = sim.evaluation_sample(country, instrument)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ipf_eval.IpfEvalWarning)
                res = ipf_eval.att_gt(sample, yname=outcome, tname="year", idname="firm_id",
                                      gname="first_support_year",
                                      covariates=["log_age_base", "log_employment_base"],
                                      control_group="not_yet_treated", bootstrap=False)
            simple = ipf_eval.aggregate(res, kind="simple").to_frame().iloc[0]
            true = truth.loc[(truth["country"] == country) & (truth["instrument"] == instrument)
                             & (truth["outcome"] == outcome), "att"]
            rows.append({"country": country, "instrument": instrument, "outcome": outcome,
                         "estimate": simple["estimate"], "std_error": simple["std_error"],
                         "ci_low": simple["ci_low"], "ci_high": simple["ci_high"],
                         "truth": float(true.iloc[0])})
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.parametrize(("instrument", "outcome"), OUTCOMES)
def test_pooled_interval_covers_the_true_pooled_effect(per_country, instrument, outcome) -> None:
    grp = per_country[(per_country["instrument"] == instrument) & (per_country["outcome"] == outcome)]
    assert len(grp) >= 4
    meta = ipf_eval.meta_analysis(grp.reset_index(drop=True), label="country", method="reml").to_dict()
    true_pooled = grp["truth"].mean()
    assert meta["ci_low"] <= true_pooled <= meta["ci_high"], (meta, true_pooled)
    # the prediction interval is about countries: every country's true effect lies inside it
    assert (grp["truth"] >= meta["pi_low"]).all()
    assert (grp["truth"] <= meta["pi_high"]).all()


@pytest.mark.slow
def test_country_intervals_cover_their_truth(per_country) -> None:
    pc = per_country
    covered = (pc["ci_low"] <= pc["truth"]) & (pc["truth"] <= pc["ci_high"])
    # 20 independent 95% intervals: at least 18 must cover (under nominal coverage the chance of three or
    # more misses is 0.075; the seed is fixed, so the outcome is deterministic)
    assert len(pc) == 20
    assert covered.sum() >= 18, pc.loc[~covered]


@pytest.mark.slow
def test_recommendations_on_the_simulated_batch(per_country) -> None:
    evidence = per_country.assign(grade=3)
    table = ipf_eval.recommendations(evidence).to_frame().set_index(["instrument", "outcome"])
    # guarantees raise employment in every simulated country; coaching has no effect by construction
    assert table.loc[("loan_guarantee", "log_employment"), "verdict"] == "works"
    assert table.loc[("growth_coaching", "log_employment"), "verdict"] in {
        "no evidence of an effect", "inconclusive"}
    assert np.isfinite(table["estimate"]).all()
