"""Unknown keyword options, infinite or missing costs, and data messages that quote no cell (part of the
bad-input catalogue, ``tests/test_bad_input_catalogue.py``, whose data builders and case structure this file
shares).

Every public function refuses an unknown keyword option with a :class:`SpecificationError` naming the option
(with a close match when there is one) and the accepted ones, not Python's bare ``TypeError``.  Cost fields
of the parameter models refuse ``inf`` and ``nan`` with a :class:`ParameterError` naming the key.  Messages
about the data give counts, column names and row positions, never a firm's identifier or value: those go
to the local log (:mod:`ipf_eval.disclosure.local_log`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from test_bad_input_catalogue import (
    ROOT,
    VP,
    Args,
    Case,
    E,
    W,
    _apps,
    _cross,
    _effects,
    _first_row,
    _panel,
    _sim,
    _with,
    check_refused,
    cross,
    frame_of,
    nothing,
    panel,
)

from ipf_eval._params_io import validate_model
from ipf_eval.data import michigan_training_grants, read_panel, simulate_firms, validate_panel
from ipf_eval.did import bacon_decomposition
from ipf_eval.disclosure import (
    combine_audits,
    identifier_set,
    local_log_path,
    publishable_text,
    record_details,
    run_identifiers,
    scan_identifiers,
    scrub_identifiers,
)
from ipf_eval.errors import DataError, IpfEvalWarning, ParameterError, SpecificationError
from ipf_eval.evidence import benchmark_delivery, evaluate_instrument, evidence_grade, required_checks
from ipf_eval.evidence.parameters import as_instrument, programme_costs
from ipf_eval.pipeline.params import CountryParams, load_yaml
from ipf_eval.synthesis import meta_analysis
from ipf_eval.weighting import ipw

RD_GRANT = ROOT / "params/instruments/rd_grant.yaml"
INF, NAN = math.inf, math.nan


@pytest.fixture(autouse=True)
def local_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records of the local log go to a file of this test (and the test can read it)."""
    log = tmp_path / "local.log"
    monkeypatch.setenv("IPF_EVAL_LOCAL_LOG", str(log))
    return log


def _sample() -> Args:
    return {"data": _sim().evaluation_sample("AT", "rd_grant")}


def _instrument(**costs: float) -> dict[str, Any]:
    spec = yaml.safe_load(RD_GRANT.read_text())
    return {**spec, "costs": {**spec["costs"], **costs}}


def _country(**costs: float) -> dict[str, Any]:
    spec = load_yaml(ROOT / "params/countries/PL.yaml")
    return {**spec, "costs": {"innovation_voucher": costs}}


def _unbalanced() -> pd.DataFrame:
    return _panel().iloc[1:]


# ---- unknown keyword options ------------------------------------------------------------------------------

OPTION_NAME_CASES: list[Case] = [
    ("validate_panel unknown option", panel(), lambda data: validate_panel(data, **VP, strict=True),
     SpecificationError, E("validate_panel() got unknown option(s) 'strict'; it accepts data, idname, tname, "
                           "gname, ynames, covariates, weightsname")),
    ("validate_panel misspelt option", panel(), lambda data: validate_panel(data, **VP, weights="w"),
     SpecificationError, E("validate_panel() got unknown option(s) 'weights' (did you mean 'weightsname'?)")),
    ("simulate_firms unknown option", nothing, lambda: simulate_firms(seed=1, n_firms=600, n_countries=2),
     SpecificationError, E("simulate_firms() got unknown option(s) 'n_countries'") +
     ".*it accepts seed, n_firms, countries"),
    ("simulate_firms misspelt option", nothing, lambda: simulate_firms(seed=1, n_firm=600),
     SpecificationError, E("simulate_firms() got unknown option(s) 'n_firm' (did you mean 'n_firms'?)")),
    ("evaluate_instrument unknown option", _sample,
     lambda data: evaluate_instrument(data, RD_GRANT, seed=1, bootstrap=False), SpecificationError,
     E("evaluate_instrument() got unknown option(s) 'bootstrap'; it accepts data, instrument, country, "
       "costs, disclosure_profile, seed")),
    ("evaluate_instrument misspelt option", _sample,
     lambda data: evaluate_instrument(data, RD_GRANT, seed=1, cost={"programme_cost_per_firm": 1.0}),
     SpecificationError, E("evaluate_instrument() got unknown option(s) 'cost' (did you mean 'costs'?)")),
    ("evidence_grade unknown option", nothing, lambda: evidence_grade(design="did", alpha=0.1),
     SpecificationError, E("evidence_grade() got unknown option(s) 'alpha'") +
     ".*it accepts design, checks, diagnostics, takeup, pretrend_alpha"),
    ("evidence_grade misspelt option", nothing, lambda: evidence_grade(design="rct", take_up=True),
     SpecificationError, E("evidence_grade() got unknown option(s) 'take_up' (did you mean 'takeup'?)")),
    ("required_checks misspelt option", nothing, lambda: required_checks("rct", take_up=True),
     SpecificationError, E("required_checks() got unknown option(s) 'take_up' (did you mean 'takeup'?); it "
                           "accepts design, takeup")),
    ("combine_audits unknown option", nothing, lambda: combine_audits([], profile="statistical_office"),
     SpecificationError, E("combine_audits() got unknown option(s) 'profile'; it accepts logs")),
    ("publishable_text unknown option", nothing, lambda: publishable_text("3 firms", threshold=3),
     SpecificationError, E("publishable_text() got unknown option(s) 'threshold'; it accepts text, profile, "
                           "identifiers")),
    ("publishable_text misspelt option", nothing, lambda: publishable_text("text", identifier=["FIRM-00042"]),
     SpecificationError, E("'identifier' (did you mean 'identifiers'?)")),
    ("michigan_training_grants any option", nothing, lambda: michigan_training_grants(path="mi.csv"),
     SpecificationError, E("michigan_training_grants() got unknown option(s) 'path'; it takes no options")),
    ("identifier_set unknown option", nothing, lambda: identifier_set(["FIRM-00042"], min_digits=4),
     SpecificationError, E("identifier_set() got unknown option(s) 'min_digits'; it accepts ids")),
    ("scan_identifiers unknown option", nothing,
     lambda: scan_identifiers("FIRM-00042", ["FIRM-00042"], ignore_case=True), SpecificationError,
     E("scan_identifiers() got unknown option(s) 'ignore_case'; it accepts text, ids")),
    ("scrub_identifiers misspelt option", nothing,
     lambda: scrub_identifiers("FIRM-00042", ["FIRM-00042"], replace="x"), SpecificationError,
     E("scrub_identifiers() got unknown option(s) 'replace' (did you mean 'replacement'?)")),
    ("run_identifiers any option", nothing, lambda: run_identifiers(run="AT/rd_grant"), SpecificationError,
     E("run_identifiers() got unknown option(s) 'run'; it takes no options")),
    ("local_log_path any option", nothing, lambda: local_log_path(create=True), SpecificationError,
     E("local_log_path() got unknown option(s) 'create'; it takes no options")),
    ("record_details misspelt option", nothing, lambda: record_details("rows dropped", column="y"),
     SpecificationError, E("record_details() got unknown option(s) 'column' (did you mean 'columns'?)")),
    ("benchmark_delivery misspelt own option", frame_of(_apps, "a"),
     lambda a: benchmark_delivery(a, country="country"), SpecificationError,
     E("benchmark_delivery() got unknown option(s) 'country' (did you mean 'country_col'?); it accepts "
       "applications, country_col, instrument_col")),
    ("benchmark_delivery misspelt column option", frame_of(_apps, "a"),
     lambda a: benchmark_delivery(a, decision="decided_on"), SpecificationError,
     E("'decision' (did you mean 'decision_date'?)") + ".*accepted_col, amount_col, admin_cost_col"),
]

# ---- infinite or missing costs in the parameter models ----------------------------------------------------

COST_CASES: list[Case] = [
    ("instrument infinite programme cost", nothing,
     lambda: as_instrument(_instrument(programme_cost_per_firm=INF)), ParameterError,
     r"key 'costs.programme_cost_per_firm': Input should be a finite number \(got inf\)"),
    ("instrument missing programme cost", nothing,
     lambda: as_instrument(_instrument(programme_cost_per_firm=NAN)), ParameterError,
     r"key 'costs.programme_cost_per_firm': Input should be a finite number \(got nan\)"),
    ("instrument minus infinite programme cost", nothing,
     lambda: as_instrument(_instrument(programme_cost_per_firm=-INF)), ParameterError,
     r"key 'costs.programme_cost_per_firm': Input should be a finite number \(got -inf\)"),
    ("instrument infinite admin cost", nothing,
     lambda: as_instrument(_instrument(admin_cost_per_firm=INF)), ParameterError,
     r"key 'costs.admin_cost_per_firm': Input should be a finite number \(got inf\)"),
    ("instrument missing admin cost", nothing,
     lambda: as_instrument(_instrument(admin_cost_per_firm=NAN)), ParameterError,
     r"key 'costs.admin_cost_per_firm': Input should be a finite number \(got nan\)"),
    ("country infinite programme cost", nothing,
     lambda: validate_model(CountryParams, _country(programme_cost_per_firm=INF), "PL.yaml"), ParameterError,
     r"'PL.yaml': key 'costs.innovation_voucher.programme_cost_per_firm': Input should be a finite number "
     r"\(got inf\)"),
    ("country missing admin cost", nothing,
     lambda: validate_model(CountryParams, _country(admin_cost_per_firm=NAN), "PL.yaml"), ParameterError,
     r"key 'costs.innovation_voucher.admin_cost_per_firm': Input should be a finite number \(got nan\)"),
    ("cost override mapping infinite", nothing,
     lambda: programme_costs(as_instrument(RD_GRANT), {"programme_cost_per_firm": INF}), ParameterError,
     r"'<costs>': key 'programme_cost_per_firm': Input should be a finite number \(got inf\)"),
    ("evaluate_instrument infinite cost", _sample,
     lambda data: evaluate_instrument(data, RD_GRANT, seed=1, costs={"programme_cost_per_firm": INF}),
     ParameterError, r"key 'programme_cost_per_firm': Input should be a finite number \(got inf\)"),
    ("evaluate_instrument missing admin cost", _sample,
     lambda data: evaluate_instrument(data, RD_GRANT, seed=1, costs={"admin_cost_per_firm": NAN}),
     ParameterError, r"key 'admin_cost_per_firm': Input should be a finite number \(got nan\)"),
]

# ---- messages about the data give counts, not cells -------------------------------------------------------

MESSAGE_CASES: list[Case] = [
    ("bacon unbalanced panel lists no firm", frame_of(_unbalanced),
     lambda data: bacon_decomposition(data, yname="y", tname="year", idname="firm_id", gname="g"), DataError,
     r"1 of 60 firms are not observed in all 6 periods \(the firms are listed in the local log '[^']+'\)"),
    ("ipw treatment coded 0/7", cross(d=_cross()["d"] * 7), lambda data: ipw(data, **W), DataError,
     r"column 'd' must be coded 0/1 \(or boolean\); found \d+ of 300 rows with other values \(1 distinct "
     r"value\(s\) other than 0 and 1; see data\['d'\].value_counts\(\)\)"),
    ("ipw treatment as text", cross(d=np.where(_cross()["d"] == 1, "yes", "no")), lambda data: ipw(data, **W),
     DataError,
     r"column 'd' must be coded 0/1 \(or boolean\); it has dtype .* and 300 of its 300 rows are not numbers"),
    ("ipw one-level covariate", cross(sector="C"),
     lambda data: ipw(data, yname="y", treatname="d", covariates=["x", "sector"]), DataError,
     "categorical covariate 'sector' takes a single value in all 300 rows used"),
    ("meta_analysis negative standard error",
     lambda: {"effects": _with(_effects(), "std_error", _first_row, -0.05)},
     lambda effects: meta_analysis(effects), DataError, r"zero or negative \(1 negative; rows \['A'\]\)"),
    ("meta_analysis several bad standard errors",
     lambda: {"effects": _effects().assign(std_error=[0.0, INF, 0.04, 0.06, 0.05])},
     lambda effects: meta_analysis(effects), DataError,
     r"has 2 standard error\(s\) .*\(1 missing or non-finite, 1 zero; rows \['A', 'B'\]\)"),
]

OPTION_CASES: list[Case] = [*OPTION_NAME_CASES, *COST_CASES, *MESSAGE_CASES]


@pytest.mark.parametrize(("make", "call", "error", "match"), [c[1:] for c in OPTION_CASES],
                         ids=[c[0] for c in OPTION_CASES])
def test_bad_option_is_refused(make: Callable[[], Args], call: Callable[..., Any], error: type[Exception],
                               match: str) -> None:
    check_refused(make, call, error, match)


# ---- the cells a message must not quote -------------------------------------------------------------------

SECRET = 987654.25


def _secret_ids() -> pd.DataFrame:
    return _unbalanced().assign(firm_id=lambda d: d["firm_id"] + 410500)


#: (id, call, text that must not appear in the message)
HIDDEN: list[tuple[str, Callable[[], Any], str]] = [
    ("bacon firm identifiers",
     lambda: bacon_decomposition(_secret_ids(), yname="y", tname="year", idname="firm_id", gname="g"),
     "410501"),
    ("treatment value", lambda: ipw(_cross().assign(d=_cross()["d"] * SECRET), **W), "987654"),
    ("treatment text", lambda: ipw(_cross().assign(d=np.where(_cross()["d"] == 1, "FIRM-00042", "0")), **W),
     "FIRM-00042"),
    ("one-level covariate", lambda: ipw(_cross().assign(sector="SECTOR-Q"), yname="y", treatname="d",
                                        covariates=["x", "sector"]), "SECTOR-Q"),
    ("standard error", lambda: meta_analysis(_with(_effects(), "std_error", _first_row, -SECRET)), "987654"),
]


@pytest.mark.parametrize(("call", "hidden"), [c[1:] for c in HIDDEN], ids=[c[0] for c in HIDDEN])
def test_messages_quote_no_cell(call: Callable[[], Any], hidden: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IpfEvalWarning)
        with pytest.raises(DataError) as info:
            call()
    assert hidden not in str(info.value)


def test_the_firms_of_an_unbalanced_panel_go_to_thelocal_log(local_log: Path) -> None:
    with pytest.raises(DataError, match=E(str(local_log))):
        bacon_decomposition(_secret_ids(), yname="y", tname="year", idname="firm_id", gname="g")
    assert "410501" in local_log.read_text()


@pytest.mark.parametrize(("text", "dtypes"), [("v\n1\nSECRET-7781\n", {"v": "numeric"}),
                                              ("v\n1\n7781.5\n", {"v": "integer"}),
                                              ("v\nyes\nSECRET-7781\n", {"v": "bool"})],
                         ids=["text in a numeric column", "fraction in an integer column",
                              "text in a bool column"])
def test_read_panel_logs_the_cells_it_refuses(tmp_path: Path, local_log: Path, text: str,
                                              dtypes: dict[str, str]) -> None:
    path = tmp_path / "panel.csv"
    path.write_text(text, encoding="utf-8")
    listed = r"rows \[1\], counted from 0 after the header; the values are listed in the local log"
    with pytest.raises(DataError, match=listed) as info:
        read_panel(path, dtypes=dtypes)
    assert "7781" not in str(info.value)
    assert "7781" in local_log.read_text()


def _two_period_panel(treat: list[Any]) -> pd.DataFrame:
    rows = [{"firm_id": f, "year": t, "y": float(f + t - 2020), "d": treat[f]} for f in range(len(treat))
            for t in (2020, 2021)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("estimator", ["did_2x2", "twfe"])
def test_a_treatment_column_of_amounts_is_not_quoted(estimator: str, local_log: Path) -> None:
    from ipf_eval.did import did_2x2, twfe

    frame = _two_period_panel([0, 1, 0, 48311.25])  # a support amount passed as the indicator
    before = frame.copy()
    options = {"pre": 2020, "post": 2021} if estimator == "did_2x2" else {}
    fit = did_2x2 if estimator == "did_2x2" else twfe
    with pytest.raises(DataError, match=r"holds 3 distinct value\(s\) and 0 missing") as info:
        fit(frame, yname="y", tname="year", idname="firm_id", treatname="d", **options)
    assert "48311" not in str(info.value)
    assert "48311" in local_log.read_text()
    pd.testing.assert_frame_equal(frame, before)


def test_a_free_text_decision_is_not_quoted(local_log: Path) -> None:
    from ipf_eval.evidence import delivery_indicators

    apps = pd.DataFrame({"country": ["AT"] * 3, "instrument": ["rd_grant"] * 3, "firm_id": [1, 2, 3],
                         "application_date": pd.to_datetime(["2024-01-10"] * 3),
                         "decision_date": pd.to_datetime(["2024-02-10"] * 3),
                         "accepted": ["approved", "rejected", "ask Acme AB"], "support_amount": [1.0] * 3})
    with pytest.raises(DataError, match=r"holds 1 decision outcome\(s\) that are neither") as info:
        delivery_indicators(apps)
    assert "acme" not in str(info.value).lower()
    assert "acme" in local_log.read_text().lower()
