"""Delivery trials in the batch (issue 19): design ``delivery_trial``, its evaluation step, record and report.

* The evaluation follows the plan: its ITT rows equal ``analyse_trial`` run by hand (a second code path),
  the simulated truth travels beside them, the grade is a randomised design's with its two checks, and the
  record is a valid evidence record without firm identifiers.
* Departures and attrition are seen: firms missing from the outcome data are a deviation, and attrition
  beyond the limits costs the grade a level.
* Parameters, the plan's notebook and bad input are refused with typed errors.
* Every display object of the report renders (HTML and text).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from _pipeline_helpers import PROJECT, write_yaml

from ipf_eval.data import simulate_firms
from ipf_eval.data.delivery_trial import simulate_delivery_trial, trial_population
from ipf_eval.errors import DataError, ParameterError, SpecificationError
from ipf_eval.evidence import validate_record
from ipf_eval.evidence.parameters import load_instrument_file
from ipf_eval.evidence.trial_evidence import evaluate_delivery_trial
from ipf_eval.experiments import analyse_trial, design_trial
from ipf_eval.pipeline import instrument_run, trial_report
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes
from ipf_eval.pipeline.params import FileSource
from ipf_eval.pipeline.plan import build_plan

TRIAL_FILE = PROJECT / "params" / "instruments" / "simplified_application.yaml"


@pytest.fixture(scope="module")
def trial() -> dict[str, Any]:
    """A small simulated trial: population, registered design, outcomes, truth and the evaluation."""
    sim = simulate_firms(seed=5, n_firms=12_000)
    population = trial_population(sim, country="DK", instrument="innovation_voucher")
    design = design_trial(population, idname="firm_id", strata=["size_class"],
                          arms=("control", "simplified_form"), seed=3, yname="completed",
                          secondary=["started", "days_to_decision"],
                          covariates=["log_employment_base", "applied_before"], n_permutations=99)
    outcome = simulate_delivery_trial(population, design.assignment, seed=3)
    inst = load_instrument_file(TRIAL_FILE)
    ev = evaluate_delivery_trial(outcome.outcomes, design, inst, country="DK", seed=3,
                                 created="2026-01-01T00:00:00Z", truth=outcome.truth, population=sim.panel)
    return {"sim": sim, "design": design, "outcome": outcome, "inst": inst, "ev": ev}


def test_the_itt_rows_are_the_plans_analysis(trial: dict[str, Any]) -> None:
    ev, design, outcome = trial["ev"], trial["design"], trial["outcome"]
    rows = ev.estimates.set_index("outcome")
    assert set(rows.index) == {"completed", "started"}
    assert rows["headline"].all()
    assert set(rows["term"]) == {"itt"}
    assert set(rows["design"]) == {"delivery_trial"}
    for name in ("completed", "started"):
        by_hand = analyse_trial(outcome.outcomes, design, yname=name, treatment="simplified_form", seed=3)
        itt = by_hand.result.table.set_index("term").loc["itt"]
        assert rows.loc[name, "estimate"] == pytest.approx(float(itt["estimate"]), rel=1e-12)
        assert rows.loc[name, "std_error"] == pytest.approx(float(itt["std_error"]), rel=1e-12)
        truth = outcome.truth.set_index(["outcome", "size_class"]).loc[(name, "all"), "effect"]
        assert rows.loc[name, "true_value"] == pytest.approx(float(truth), rel=1e-12)
    assert (rows["n_supported"] == design.plan.n_by_arm[1]).all()


def test_the_grade_is_a_randomised_designs_with_its_checks(trial: dict[str, Any]) -> None:
    ev = trial["ev"]
    assert ev.grade.level == 5
    assert set(ev.grade.passed) == {"balance", "attrition"}
    assert set(ev.estimates["grade_design"]) == {"lottery"}
    assert ev.deviations() == []  # a registered secondary outcome is no departure


def test_days_to_decision_is_a_comparison_not_an_effect(trial: dict[str, Any]) -> None:
    ev, outcome = trial["ev"], trial["outcome"]
    cond = ev.conditional
    assert set(cond["outcome"]) == {"days_to_decision"}
    data = outcome.outcomes.dropna(subset=["days_to_decision"])
    means = data.groupby("arm")["days_to_decision"].mean()
    expected = means["simplified_form"] - means["control"]
    assert cond["difference"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    assert "days_to_decision" not in set(ev.estimates["outcome"])


def test_the_record_is_valid_and_holds_no_firm(trial: dict[str, Any]) -> None:
    ev = trial["ev"]
    record = validate_record(ev.to_dict())
    assert record["plan"]["sha256"] == ev.design.plan.sha256
    assert record["design"] == "delivery_trial"
    blob = json.dumps(record)
    assert "assignment\"" not in blob.replace("assignment_sha256", "")
    for rows in record["tables"].values():
        assert all("firm_id" not in row for row in rows)
    assert len(record["tables"]["population_mix"]) == 3


def test_missing_firms_are_a_deviation_and_attrition_costs_a_level(trial: dict[str, Any]) -> None:
    design, outcome, inst = trial["design"], trial["outcome"], trial["inst"]
    data = outcome.outcomes
    treated = data.loc[data["arm"] == "simplified_form", "firm_id"]
    gone = set(treated.iloc[: int(0.3 * len(treated))])  # 30 % of one arm lost
    thinned = data.loc[~data["firm_id"].isin(gone)]
    ev = evaluate_delivery_trial(thinned, design, inst, country="DK", seed=3, created="2026-01-01T00:00:00Z")
    kinds = {k for _, k, _ in ev.deviations()}
    assert "missing_from_data" in kinds
    assert "attrition" in ev.grade.failed
    assert ev.grade.level == 4
    assert all(str(f) not in " ".join(m for _, _, m in ev.deviations()) for f in list(gone)[:20])


def test_bad_input_is_refused(trial: dict[str, Any]) -> None:
    design, outcome, inst = trial["design"], trial["outcome"], trial["inst"]
    voucher = load_instrument_file(PROJECT / "params" / "instruments" / "innovation_voucher.yaml")
    with pytest.raises(SpecificationError, match="it evaluates instruments of design 'delivery_trial'"):
        evaluate_delivery_trial(outcome.outcomes, design, voucher, country="DK", seed=1)
    with pytest.raises(DataError, match=r"lack the column\(s\) \['completed'\]"):
        evaluate_delivery_trial(outcome.outcomes.drop(columns="completed"), design, inst, country="DK",
                                seed=1)
    with pytest.raises(SpecificationError, match="disclosure_profile must be one of"):
        evaluate_delivery_trial(outcome.outcomes, design, inst, country="DK", seed=1, disclosure_profile="x")
    with pytest.raises(SpecificationError, match="data_source must be 'simulated' or 'file'"):
        evaluate_delivery_trial(outcome.outcomes, design, inst, country="DK", seed=1, data_source="web")
    with pytest.raises(SpecificationError, match="unknown option"):
        evaluate_delivery_trial(outcome.outcomes, design, inst, country="DK", seed=1, strata="x")


def _trial_file(tmp_path: Path, **change: Any) -> Path:
    data = copy.deepcopy(yaml.safe_load(TRIAL_FILE.read_text()))
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return write_yaml(tmp_path / "simplified_application.yaml", data)


def test_the_trial_block_goes_with_its_design(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="needs a 'trial' block"):
        load_instrument_file(_trial_file(tmp_path, trial=None))
    with pytest.raises(ParameterError, match="belongs to design 'delivery_trial'"):
        load_instrument_file(_trial_file(tmp_path, design="lottery"))
    with pytest.raises(ParameterError, match="start_efect"):
        load_instrument_file(_trial_file(tmp_path, trial={"population": "innovation_voucher",
                                                          "simulated_effects": {"start_efect": 0.1}}))
    with pytest.raises(ParameterError, match="treated_share"):
        load_instrument_file(_trial_file(tmp_path, trial={"population": "innovation_voucher",
                                                          "treated_share": 1.0}))


def test_the_batch_runs_a_trial_through_its_own_notebook() -> None:
    plan = build_plan(PROJECT / "params" / "batch.yaml")
    runs = {r.run_id: r for r in plan.runs}
    assert runs["DK/simplified_application"].notebook.name == "delivery_trial.ipynb"
    assert runs["DK/innovation_voucher"].notebook.name == "instrument_evaluation.ipynb"
    assert "forum/simplified_application" in runs


def test_a_trial_on_an_agencys_own_file_is_refused_clearly(tmp_path: Path) -> None:
    run = instrument_run(PROJECT / "params" / "batch.yaml", country="DK", instrument="simplified_application")
    source = FileSource.model_validate({"source": "file", "path": "data/DK/firms.csv",
                                        "columns": {"firm_id": "id"}})
    changed = replace(run, country=run.country.model_copy(update={"data": source}))
    with pytest.raises(ParameterError, match="runs on the embedded simulated data only"):
        changed.evaluate_trial()


def test_every_part_of_the_report_renders(trial: dict[str, Any]) -> None:
    ev = trial["ev"]
    use_outcomes(outcome_displays_of(ev.estimates))  # as the notebook does, for the summary's sentences
    items = [trial_report.trial_summary(ev, label="Simplified form"), trial_report.trial_grade(ev),
             trial_report.trial_effects_table(ev), trial_report.size_class_table(ev),
             trial_report.deviations_section(ev), *trial_report.conditional_section(ev),
             trial_report.balance_table(ev.design), ev.design.plan]
    for item in items:
        shown = item._repr_html_() if hasattr(item, "_repr_html_") else item._repr_markdown_()
        assert shown
        assert not re.search(r"\bnan\b", shown, flags=re.IGNORECASE)
        assert repr(item)
    summary = repr(items[0])
    assert "Eligible firms offered the new way of applying" in summary
    assert "than without it" in summary
    assert "The analysis followed the registered plan." in summary
    effects = items[2].frame
    assert "true effect (simulated)" in effects.columns
    assert effects["outcome"].tolist() == ["the share of eligible firms completing an application",
                                           "the share of eligible firms starting an application"]
    assert np.all([v.endswith("percentage points)") for v in effects["effect of the new delivery"]])
    assert "not an effect of the new delivery" in repr(trial_report.conditional_section(ev)[1])
    assert isinstance(effects, pd.DataFrame)
