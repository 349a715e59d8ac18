"""evaluate_instrument: the whole evaluation of one (country, instrument) as one library step.

* The batch and the library agree: the committed evidence (written by the default batch) is what
  ``evaluate_instrument`` returns for the same data and parameters, row for row.
* A lottery's headline is its effect on users, a scored call's the robust RDD estimate; the DiD rows keep
  the DiD's grade; costs are built on the DiD; the matched DiD by cohort respects the disclosure profile.
* Simulated data say so on every row, with the true value of each estimand; the intervals cover it.
* Bad input is a typed error naming the problem; the caller's data are never modified.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data import simulate_firms
from ipf_eval.errors import DataError, ParameterError, SpecificationError
from ipf_eval.evidence import InstrumentEvidence, evaluate_instrument, evidence_frame, read_evidence
from ipf_eval.evidence.parameters import load_instrument_file

PROJECT = Path(__file__).resolve().parents[1]
INSTRUMENTS = PROJECT / "params" / "instruments"
COMMITTED = PROJECT / "notebooks" / "evidence"
NUMERIC = ["estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high", "true_value"]


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate_firms(seed=2024, n_firms=30_000)


def _instrument(name: str, **estimator: Any) -> dict[str, Any]:
    values = load_instrument_file(INSTRUMENTS / f"{name}.yaml").model_dump()
    values["estimator"].update(estimator)
    return values


def _delivery(sim: Any, country: str, name: str) -> dict[str, pd.DataFrame]:
    apps = sim.applications
    return {"applications": apps.loc[(apps["country"] == country) & (apps["instrument"] == name)],
            "population": sim.panel.loc[sim.panel["country"] == country]}


def test_the_batch_and_the_library_give_the_same_evidence(sim: Any) -> None:
    """The committed AT loan-guarantee record came from ``ipf-eval render``; the library call reproduces "
      "it."""
    committed = json.loads((COMMITTED / "AT__loan_guarantee.json").read_text(encoding="utf-8"))
    ev = evaluate_instrument(sim.evaluation_sample("AT", "loan_guarantee"),
                             INSTRUMENTS / "loan_guarantee.yaml", country="AT", seed=2024,
                             created=committed["provenance"]["created"],
                             **_delivery(sim, "AT", "loan_guarantee"))
    mine = ev.to_frame()
    batch = evidence_frame(read_evidence(COMMITTED, country="AT"))
    batch = batch.loc[batch["instrument"] == "loan_guarantee"].reset_index(drop=True)
    # numbers to 1e-12 (the batch may have run on another machine's BLAS), everything else exactly
    np.testing.assert_allclose(mine[NUMERIC].to_numpy(float), batch[NUMERIC].to_numpy(float), rtol=1e-12,
                               atol=1e-12)
    pd.testing.assert_frame_equal(mine.drop(columns=NUMERIC), batch.drop(columns=NUMERIC))
    assert ev.costs.per_firm == 14_500.0  # the instrument file's costs, not a notebook literal
    cost = ev.tables["costs"].iloc[0]
    assert cost["cost_per_unit"] == pytest.approx(committed["tables"]["costs"][0]["cost_per_unit"], rel=1e-10)


def test_the_call_of_the_readme_gives_the_batch_rows(sim: Any) -> None:
    """Without delivery data or the population, the rows equal the batch's in every column but the time."""
    sample = sim.evaluation_sample("AT", "loan_guarantee")
    ev = evaluate_instrument(sample, str(INSTRUMENTS / "loan_guarantee.yaml"), country="AT", seed=2024)
    batch = evidence_frame(read_evidence(COMMITTED, country="AT"))
    batch = batch.loc[batch["instrument"] == "loan_guarantee"].reset_index(drop=True)
    mine = ev.to_frame()
    np.testing.assert_allclose(mine[NUMERIC].to_numpy(float), batch[NUMERIC].to_numpy(float), rtol=1e-12,
                               atol=1e-12)
    rest = [c for c in mine.columns if c not in NUMERIC and c != "created"]
    pd.testing.assert_frame_equal(mine[rest], batch[rest])
    assert ev.reach is None
    assert ev.tables["delivery"].empty
    assert ev.country == "AT"


def test_a_lottery(sim: Any) -> None:
    inst = {**_instrument("innovation_voucher", bootstrap=False),
            "outcomes": ["log_turnover", "log_employment"],
            "primary_outcome": "log_turnover"}
    sample = sim.evaluation_sample("PL", "innovation_voucher")
    before = sample.copy()
    ev = evaluate_instrument(sample, inst, country="PL", seed=2024,
                             **_delivery(sim, "PL", "innovation_voucher"))
    pd.testing.assert_frame_equal(sample, before)  # the caller's data are not modified
    est = ev.to_frame()
    heads = est.loc[est["headline"]]
    assert sorted(heads["outcome"]) == ["log_employment", "log_turnover"]
    assert set(zip(heads["estimator"], heads["term"], strict=True)) == {("rct", "late")}
    did = est.loc[est["estimator"].str.startswith("att_gt")]
    assert not did["headline"].any()
    assert ev.grade_design == "lottery"
    assert ev.grade.level == 5
    assert (est.loc[est["estimator"] == "rct", "evidence_grade"] == 5).all()
    assert (did["evidence_grade"] == ev.did_grade.level).all()
    assert ev.did_grade.level <= 3
    assert set(did["grade_design"]) == {"did"}
    assert set(est.loc[~est.index.isin(did.index), "grade_design"]) == {
        "lottery"}
    # costs follow the headline: the lottery's effect on users, with its grade
    costs = ev.tables["costs"]
    assert set(zip(costs["estimator"], costs["term"], strict=True)) <= {("rct", "late")}
    assert (costs["evidence_grade"] == 5).all()
    # the matched DiD per cohort: the statistical-office threshold, and the combined row by hand
    rows = ev.matched.rows  # type: ignore[union-attr]
    cohorts = rows.loc[rows["cohort"].str.fullmatch(r"\d{4}")]
    cs = cohorts.loc[cohorts["estimator"].str.startswith("Callaway-Sant'Anna")]
    nn = cohorts.loc[cohorts["estimator"] == "matched DiD (nearest neighbour)"]
    assert len(cs) == len(nn) >= 2
    assert list(cs["cohort"]) == list(nn["cohort"])
    w = pd.to_numeric(cs["supported firms"].str.replace(",", "")).to_numpy(float)
    w = w / w.sum()
    combined = rows.loc[rows["estimator"].str.startswith("matched DiD, cohort-size weighted")].iloc[0]
    assert combined["estimate"] == pytest.approx(w @ nn["estimate"].to_numpy(float), rel=1e-12)
    assert combined["std_error"] == pytest.approx(w @ nn["std_error"].to_numpy(float), rel=1e-12)
    _check_first_cohort(sim, nn)


def _check_first_cohort(sim: Any, nn: pd.DataFrame) -> None:
    """The first cohort's matched estimate, recomputed: cohort g against later and never-supported firms."""
    from ipf_eval import validate_panel
    from ipf_eval.errors import DataWarning
    from ipf_eval.weighting import conditional_did

    covs = ["log_age_base", "log_employment_base"]
    panel = validate_panel(sim.evaluation_sample("PL", "innovation_voucher"), idname="firm_id", tname="year",
                           gname="first_support_year", ynames=["log_turnover", "log_employment"],
                           covariates=covs).data
    g = int(nn["cohort"].iloc[0])
    cohort = panel.groupby("firm_id")["first_support_year"].transform("first")
    two = panel.loc[((cohort == g) | (cohort == 0) | (cohort > g)) & panel["year"].isin([g - 1, g])]
    with pytest.warns(DataWarning, match="observed in only one of the periods"):
        res = conditional_did(two.assign(d=(cohort.loc[two.index] == g).astype(int)), yname="log_turnover",
                              tname="year", idname="firm_id", treatname="d", covariates=covs, pre=g - 1,
                              post=g, method="match")
    assert nn["estimate"].iloc[0] == res.estimate
    assert nn["std_error"].iloc[0] == res.std_error


def test_a_scored_call_with_small_cohorts_under_the_strict_profile() -> None:
    from ipf_eval.disclosure import scan_html

    small_sim = simulate_firms(seed=2024, n_firms=10_000)
    inst = {**_instrument("rd_grant", bootstrap=False), "outcomes": ["log_employment"]}
    sample = small_sim.evaluation_sample("DK", "rd_grant")
    ev = evaluate_instrument(sample, inst, seed=2024, disclosure_profile="research_data_centre")
    est = ev.to_frame()
    heads = est.loc[est["headline"]]
    assert list(zip(heads["outcome"], heads["estimator"], heads["term"], strict=True)) == [
        ("log_employment", "rdd", "robust")]
    assert "fuzzy" in heads["estimand"].iloc[0]
    assert ev.grade_design == "rdd"
    rdd_rows = est.loc[est["estimator"] == "rdd"]
    not_passed = [len([n for n in (f + ";" + m).split(";") if n])
                  for f, m in zip(rdd_rows["checks_failed"], rdd_rows["checks_missing"], strict=True)]
    assert list(rdd_rows["evidence_grade"]) == [max(1, 4 - k) for k in not_passed]
    # the RD plot of a small call under the strict profile: every published bin holds 10 firms or more
    assert ev.rd_plot is not None
    assert (ev.rd_plot.bins["n_firms"] >= 10).all()
    assert set(ev.rd_plot.bins["side"]) == {"below", "above"}
    first = sample.groupby("firm_id")["first_support_year"].first()
    sizes = {g: int((first == g).sum()) for g in sorted({int(v) for v in first}) if g > 0}
    small = {str(g) for g, n in sizes.items() if n < 10}
    assert small, "the sample has a support cohort below the research-data-centre threshold"
    m = ev.matched
    assert m is not None
    assert set(m.rows["cohort"]).isdisjoint(small)
    assert not m.combined
    for g in small:
        assert f"{g} (fewer firms than the research_data_centre threshold of 10)" in m.skipped
    counts = pd.to_numeric(m.rows["comparison firms"].str.removesuffix(" matched").str.replace(",", ""))
    assert (counts >= 10).all()
    cs_rows = m.rows.loc[m.rows["estimator"].str.startswith("Callaway-Sant'Anna")].set_index("cohort")
    nn_rows = m.rows.loc[m.rows["estimator"] == "matched DiD (nearest neighbour)"].set_index("cohort")
    for g, text in nn_rows["supported firms"].items():
        total = int(str(cs_rows.loc[g, "supported firms"]).replace(",", ""))
        if "minus fewer than" in text:
            assert text == f"{total:,} minus fewer than 10"
        else:  # no count of unmatched firms below the threshold can be had by differencing the two rows
            unmatched = total - int(text.replace(",", ""))
            assert unmatched == 0 or unmatched >= 10, (g, text, total)
    shown = set(m.rows["cohort"]) | {re.sub(r" .*", "", x) for x in m.skipped}
    assert shown >= {str(g) for g in sizes}  # every cohort is either shown or named
    assert scan_html(m.rows.to_html(), profile="research_data_centre").clean
    for texts in ev.notes.values():
        assert scan_html(" ".join(texts), profile="research_data_centre").clean


def test_simulated_rows_carry_the_truth_and_the_intervals_cover_it() -> None:
    """On the default batch (committed evidence) the 95% intervals cover the simulator's true values at
    about their nominal rate; a wrong truth key or estimand would give a coverage far from 95%."""
    frame = evidence_frame(read_evidence(COMMITTED))
    covered = (frame["ci_low"] <= frame["true_value"]) & (frame["true_value"] <= frame["ci_high"])
    heads = covered[frame["headline"]]
    assert len(frame) == 197  # 195 estimates of the 30 evaluations and the delivery trial's 2
    assert frame["true_value"].notna().all()
    assert covered.mean() >= 0.85, covered.mean()
    assert heads.mean() >= 0.85, heads.mean()


def test_untagged_data_are_the_agencys_own(sim: Any) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")
    own = pd.DataFrame(sample.to_dict(orient="list"))  # a plain frame: no simulator tag
    ev = evaluate_instrument(own, INSTRUMENTS / "growth_coaching.yaml", country="AT", seed=1,
                             created="2026-01-01T00:00:00Z")
    est = ev.to_frame()
    assert set(est["data_source"]) == {"file"}
    assert est["true_value"].isna().all()
    assert ev.provenance.simulation_seed is None
    filtered = sample.loc[sample["year"] >= 2009]  # a subset of the simulated sample: the truth is dropped
    ev2 = evaluate_instrument(filtered, INSTRUMENTS / "growth_coaching.yaml", seed=1)
    assert set(ev2.to_frame()["data_source"]) == {"simulated"}
    assert ev2.to_frame()["true_value"].isna().all()


def test_same_inputs_same_record_and_run_id(sim: Any) -> None:
    sample = sim.evaluation_sample("ES", "growth_coaching")
    path = INSTRUMENTS / "growth_coaching.yaml"
    one = evaluate_instrument(sample, path, seed=3, created="2026-01-01T00:00:00Z")
    two = evaluate_instrument(sample.copy(), path, seed=3, created="2026-01-01T00:00:00Z")
    assert json.dumps(one.to_dict(), sort_keys=True) == json.dumps(two.to_dict(), sort_keys=True)
    other = evaluate_instrument(sample, path, seed=4, created="2026-01-01T00:00:00Z")
    assert other.provenance.run_id != one.provenance.run_id
    assert re.fullmatch(r"[0-9a-f]{16}", one.provenance.run_id)
    now = evaluate_instrument(sample, path, seed=3)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", now.provenance.created)


def test_result_displays(sim: Any) -> None:
    ev = evaluate_instrument(sim.evaluation_sample("ES", "growth_coaching"),
                             INSTRUMENTS / "growth_coaching.yaml", seed=3)
    assert isinstance(ev, InstrumentEvidence)
    text = str(ev)
    assert "Simulated data" in text
    assert f"Maryland level {ev.grade.level}" in text
    for name in ev.grade.missing + ev.grade.failed:
        assert name in text
    assert "<table" in ev._repr_html_()
    assert set(ev.summary().table["outcome"]) == {"log_turnover", "log_employment"}
    assert ev.plot().get_xlabel() is not None
    with pytest.raises(KeyError, match="no evidence table 'extra'"):
        ev.table("extra")
    assert ev.table("heterogeneity").equals(ev.tables["heterogeneity"])
    with pytest.raises(AttributeError):
        ev.country = "NO"  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"country": "austria"}, SpecificationError, r"country=\.\.\.\) must be a two-letter upper-case ISO"),
    ({"seed": -1}, SpecificationError, r"seed=\.\.\.\) must be an integer in \[0, 2\*\*32\); got -1"),
    ({"seed": 1.5}, SpecificationError, r"seed=\.\.\.\) must be an integer"),
    ({"created": "2026-01-01"}, SpecificationError, r"created=\.\.\.\) must be a UTC time"),
    ({"disclosure_profile": "loose"}, SpecificationError, r"loose"),
    ({"applications": [1, 2]}, DataError, r"applications=\.\.\.\) must be a pandas DataFrame or None; got "
                                          r"list"),
])
def test_bad_arguments(sim: Any, kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    args = {"seed": 1, **kwargs}
    with pytest.raises(error, match=message):
        evaluate_instrument(sim.evaluation_sample("AT", "loan_guarantee"),
                            INSTRUMENTS / "loan_guarantee.yaml", **args)


def test_bad_data_and_parameters(sim: Any) -> None:
    sample = sim.evaluation_sample("AT", "loan_guarantee")
    path = INSTRUMENTS / "loan_guarantee.yaml"
    with pytest.raises(DataError, match=r"must be a pandas DataFrame .* got dict"):
        evaluate_instrument(sample.to_dict(), path, seed=1)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"'log_turnover'"):
        evaluate_instrument(sample.drop(columns="log_turnover"), path, seed=1)
    with pytest.raises(ParameterError, match=r"cannot read the parameter file"):
        evaluate_instrument(sample, INSTRUMENTS / "missing.yaml", seed=1)
    plain = pd.DataFrame(sample.drop(columns="country").to_dict(orient="list"))
    with pytest.raises(SpecificationError, match=r"country=\.\.\.\) is needed"):
        evaluate_instrument(plain, path, seed=1)
