"""An agency's own outcomes (``custom_outcomes``): resolved, built from their column, evaluated, costed and
shown in their own words and units.

* A custom log outcome built from ``exp(log_employment)`` gives exactly the standard outcome's estimates (a
  second code path through the whole evaluation).
* A level outcome in jobs is costed per additional unit; a log outcome is not costed.
* Misspelt names, clashes with standard names, transforms that do not fit the kind and bad columns are typed
  errors naming the outcome, the column and the remedy, never a firm's value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval._params_io import validate_model
from ipf_eval.data import simulate_firms
from ipf_eval.errors import DataError, ParameterError, SpecificationError
from ipf_eval.evidence import evaluate_instrument
from ipf_eval.evidence.outcomes import CustomOutcome, derive_outcomes, outcome_specs
from ipf_eval.evidence.parameters import load_instrument_file
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.summary import cost_label

INSTRUMENTS = Path(__file__).resolve().parents[1] / "params" / "instruments"


def _custom(**values: Any) -> CustomOutcome:
    return validate_model(CustomOutcome, values, "<test>")


def test_names_resolve_against_the_standard_list_and_the_agencys_own() -> None:
    own = {"log_scrap": _custom(column="Scrap", transform="log1p", kind="log", label="Scrap rate")}
    specs = outcome_specs(["log_employment", "log_scrap"], custom=own)
    assert list(specs) == ["log_employment", "log_scrap"]
    assert specs["log_employment"].standard
    assert (specs["log_scrap"].column, specs["log_scrap"].transform, specs["log_scrap"].scale) == (
        "Scrap", "log1p", "log")
    with pytest.raises(ParameterError, match=r"outcome 'log_employmnet'.*did you mean 'log_employment'"):
        outcome_specs(["log_employmnet"], custom=own, where="instruments/x.yaml")
    with pytest.raises(ParameterError, match=r"reuse standard outcome names"):
        outcome_specs(["alive"], custom={"alive": _custom(column="A", kind="binary", label="Alive")})


def test_a_transform_must_fit_the_kind() -> None:
    with pytest.raises(ParameterError, match=r"transform 'log' makes a log outcome; set kind: log"):
        _custom(column="Scrap", transform="log", kind="level", label="Scrap")
    with pytest.raises(ParameterError, match=r"kind"):
        _custom(column="Scrap", kind="ratio", label="Scrap")


def test_derived_columns_are_built_on_a_copy() -> None:
    data = pd.DataFrame({"firm_id": ["FIRM-00001", "FIRM-00002"], "Scrap": [0.0, 3.0], "Emp": [4.0, 10.0],
                         "Flag": [0, 1]})
    before = data.copy()
    specs = outcome_specs(["log_scrap", "emp", "flag"], custom={
        "log_scrap": _custom(column="Scrap", transform="log1p", kind="log", label="Scrap rate"),
        "emp": _custom(column="Emp", kind="level", label="Employment", unit="jobs"),
        "flag": _custom(column="Flag", kind="binary", label="Patent filed")})
    out = derive_outcomes(data, specs)
    pd.testing.assert_frame_equal(data, before)
    np.testing.assert_allclose(out["log_scrap"], np.log1p([0.0, 3.0]))
    np.testing.assert_allclose(out["emp"], [4.0, 10.0])
    assert list(out["flag"]) == [0.0, 1.0]


@pytest.mark.parametrize(("values", "column", "match"), [
    ({"column": "Nope", "kind": "level", "label": "X"}, {"Scrap": [1.0]}, r"column 'Nope'.*not in the data"),
    ({"column": "Scrap", "kind": "level", "label": "X"}, {"Scrap": ["1,5"]}, r"not numbers.*decimal"),
    ({"column": "Scrap", "transform": "log", "kind": "log", "label": "X"}, {"Scrap": [0.0, 2.0]},
     r"1 of 2 values.*zero or negative.*log1p"),
    ({"column": "Scrap", "kind": "binary", "label": "X"}, {"Scrap": [0.0, 0.5]}, r"other than 0 and 1"),
    ({"column": "Scrap", "kind": "share", "label": "X"}, {"Scrap": [0.0, 25.0]}, r"outside 0 to 1"),
])
def test_bad_columns_are_typed_errors_without_firm_values(values: dict[str, Any],
                                                          column: dict[str, list[Any]],
                                                          match: str) -> None:
    data = pd.DataFrame({"firm_id": ["FIRM-00042"] * len(next(iter(column.values()))), **column})
    with pytest.raises(DataError, match=match) as info:
        derive_outcomes(data, outcome_specs(["own"], custom={"own": _custom(**values)}))
    assert "FIRM-00042" not in str(info.value)


@pytest.fixture(scope="module")
def evaluated() -> tuple[Any, Any]:
    sample = simulate_firms(seed=11, n_firms=8000).evaluation_sample("AT", "loan_guarantee")
    sample = sample.assign(Employees=np.exp(sample["log_employment"]))
    values = load_instrument_file(INSTRUMENTS / "loan_guarantee.yaml").model_dump()
    values["estimator"].update(bootstrap=False)
    standard = evaluate_instrument(sample, values, country="AT", seed=3, created="2026-12-01T00:00:00Z")
    values["outcomes"] = ["log_employment", "log_jobs", "employment"]
    values["custom_outcomes"] = {"log_jobs": {"column": "Employees", "transform": "log", "kind": "log",
                                              "label": "staff numbers"}}
    country_own = {"employment": {"column": "Employees", "kind": "level", "label": "employment",
                                  "unit": "jobs"}}
    own = evaluate_instrument(sample, values, country="AT", seed=3, created="2026-12-01T00:00:00Z",
                              custom_outcomes=country_own)
    return standard, own


def test_a_custom_log_outcome_reproduces_the_standard_one(evaluated: tuple[Any, Any]) -> None:
    standard, own = evaluated
    est = own.estimates.set_index(["outcome", "estimator", "term"])
    ref = standard.estimates.set_index(["outcome", "estimator", "term"]).loc["log_employment"]
    mine = est.loc["log_jobs"]
    np.testing.assert_allclose(mine["estimate"], ref["estimate"], rtol=1e-10)
    np.testing.assert_allclose(mine["std_error"], ref["std_error"], rtol=1e-10)
    # the simulator's known effect on employment lies in the interval of the custom outcome
    truth = float(ref["true_value"].iloc[0])
    assert float(mine["ci_low"].iloc[0]) < truth < float(mine["ci_high"].iloc[0])
    rows = own.estimates.drop_duplicates("outcome").set_index("outcome")
    assert rows.loc["log_jobs", ["outcome_label", "outcome_kind", "outcome_unit"]].tolist() == [
        "staff numbers", "log", ""]
    assert rows.loc["employment", ["outcome_label", "outcome_kind", "outcome_unit"]].tolist() == [
        "employment", "level", "jobs"]
    assert rows.loc["log_employment", "outcome_kind"] == "log"


def test_a_custom_level_outcome_is_costed_per_unit(evaluated: tuple[Any, Any]) -> None:
    _, own = evaluated
    costs = own.tables["costs"].set_index("outcome")
    assert "log_jobs" not in costs.index  # a log outcome has no cost per unit a budget holder can use
    assert costs.loc["employment", "unit"] == "custom:employment"
    head = own.headlines.set_index("outcome").loc["employment"]
    assert float(head["ci_low"]) > 0  # the simulated guarantees add jobs: a cost per job is reported
    assert head["cost_unit"] == "custom:employment"
    assert float(head["cost_per_outcome"]) == pytest.approx(own.costs.per_firm / float(head["estimate"]),
                                                            rel=1e-9)


def test_reports_show_custom_outcomes_in_their_words(evaluated: tuple[Any, Any]) -> None:
    _, own = evaluated
    fmt.use_outcomes(fmt.outcome_displays_of(own.estimates))
    try:
        shown = fmt.outcome_display("employment")
        assert (shown.label, shown.scale, shown.unit, shown.cost_unit) == ("employment", "level", "jobs",
                                                                          "custom:employment")
        assert fmt.outcome_display("log_jobs").scale == "log"
        assert cost_label("custom:employment") == "additional unit of employment (jobs)"
        text = fmt.effect_in_units(2.5, 1.0, 4.0, scale=shown.scale, unit=shown.unit).text
        assert text == "+2.5 jobs (95 % interval +1.0 to +4.0 jobs)"
    finally:
        fmt.use_outcomes({})
    assert fmt.outcome_display("employment").unit == ""  # reset: unknown again
    other = own.estimates.assign(country="SE", outcome_label="employees")  # another agency, another meaning
    clash = pd.concat([own.estimates, other], ignore_index=True)
    with pytest.raises(SpecificationError, match=r"'employment' is defined differently"):
        fmt.outcome_displays_of(clash)
