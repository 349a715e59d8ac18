"""A catalogue of bad input across the public API, by class of problem rather than by case.

Each case is one call with one thing wrong: an unknown keyword option, a degenerate column (constant or
all-missing outcome; zero, negative or non-finite weights; text where numbers are needed; numbers stored as
text; a period or reference period out of range; a column named twice), a magnitude a rule needs
non-negative, an infinite or missing cost or effect, or an argument out of its range.  Every case asserts the
error type, that the message names the problem (option, column or value) and that no DataFrame or array
passed in was modified.  ``tests/test_bad_inputs.py`` holds the catalogue of ``validate_panel`` and
``read_panel`` (the contract); this file covers the estimators, evidence, disclosure, synthesis, inference
and parameters.
"""

from __future__ import annotations

import copy
import functools
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import ipf_eval
from ipf_eval.data import simulate_firms, validate_panel
from ipf_eval.did import aggregate, att_gt, bacon_decomposition, did_2x2, event_study, honest_did, twfe
from ipf_eval.disclosure import (
    DisclosureProfile,
    check_figure_data,
    check_result,
    check_table,
    get_profile,
    primary_failures,
    protect_table,
    scan_html,
)
from ipf_eval.discontinuity import density_test, rd_plot_data, rdd
from ipf_eval.errors import (
    DataError,
    EstimationError,
    IpfEvalWarning,
    ParameterError,
    SpecificationError,
)
from ipf_eval.evidence import (
    benchmark_delivery,
    cost_effectiveness,
    delivery_indicators,
    evidence_grade,
    input_additionality,
    output_additionality,
    survey_additionality,
    take_up,
)
from ipf_eval.evidence.parameters import as_instrument, load_instrument_file
from ipf_eval.experiments import power, rct
from ipf_eval.inference import (
    bootstrap_standard_errors,
    cluster_sums,
    if_covariance,
    if_standard_errors,
    multiplier_draws,
    sup_t_critical_value,
)
from ipf_eval.synthesis import meta_analysis, meta_regression, recommendations, transferability, verdict
from ipf_eval.weighting import aipw, balance, conditional_did, crump_alpha, ipw, match, overlap

ROOT = Path(__file__).resolve().parents[1]
Args = dict[str, Any]
#: (id, arguments builder, call, error type, regex the message must match)
Case = tuple[str, Callable[[], Args], Callable[..., Any], type[Exception], str]


def E(text: str) -> str:
    """A literal fragment of a message, as a regex."""
    return re.escape(text)


# ---- small deterministic data, built once ---------------------------------------------------------------

@functools.cache
def _panel() -> pd.DataFrame:
    """60 firms x 2003-2008; cohorts 2005 and 2006 and never supported; one baseline covariate ``x``."""
    rng = np.random.default_rng(3)
    n = 60
    firms = np.repeat(np.arange(1, n + 1), 6)
    years = np.tile(np.arange(2003, 2009), n)
    g = np.repeat(rng.choice([0, 2005, 2006], n, p=[0.5, 0.25, 0.25]), 6)
    x = np.repeat(rng.normal(size=n), 6)
    y = 1 + 0.3 * x + 0.1 * (years - 2003) + 0.2 * ((g > 0) & (years >= g)) + rng.normal(0, 0.3, firms.size)
    return pd.DataFrame({"firm_id": firms, "year": years, "g": g, "y": y, "x": x,
                         "sector": np.repeat(rng.choice(["C", "J"], n), 6), "w": 1.0,
                         "d": (g > 0).astype(int)})


@functools.cache
def _cross() -> pd.DataFrame:
    """300 firms, one row each: outcome, treatment, covariates, an RD score with a jump at 0."""
    rng = np.random.default_rng(5)
    n = 300
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    score = rng.uniform(-1, 1, n)
    return pd.DataFrame({"y": 1 + x + 0.5 * d + rng.normal(size=n), "d": d, "x": x,
                         "sector": rng.choice(["C", "J", "M"], n), "used": d, "score": score,
                         "yr": 1 + score + 0.4 * (score >= 0) + rng.normal(0, 0.3, n), "thr": 0.0,
                         "strata": rng.choice(["a", "b"], n)})


@functools.cache
def _sim() -> Any:
    return simulate_firms(seed=1, n_firms=600)


def _apps() -> pd.DataFrame:
    return _sim().applications.rename(columns={"supported": "accepted"})


def _population() -> pd.DataFrame:
    return pd.DataFrame({"size_class": ["micro", "small", "medium"], "n": [300, 200, 100]})


@functools.cache
def _att_varying() -> Any:
    return att_gt(_panel(), yname="y", tname="year", idname="firm_id", gname="g", bootstrap=False)


@functools.cache
def _dynamic_universal() -> Any:
    res = att_gt(_panel(), yname="y", tname="year", idname="firm_id", gname="g", bootstrap=False,
                 base_period="universal")
    return aggregate(res, kind="dynamic")


def _effects() -> pd.DataFrame:
    return pd.DataFrame({"country": list("ABCDE"), "estimate": [0.1, 0.2, 0.15, 0.05, 0.3],
                         "std_error": [0.05, 0.04, 0.06, 0.05, 0.07], "rd": [1.0, 2.0, 3.0, 4.0, 5.0]})


def _evidence() -> pd.DataFrame:
    return pd.DataFrame({"country": list("ABCAB"), "instrument": ["grant"] * 3 + ["loan"] * 2,
                         "outcome": "log_employment", "estimate": [0.1, 0.2, 0.15, 0.05, 0.3],
                         "std_error": [0.05, 0.04, 0.06, 0.05, 0.07], "grade": [3, 4, 3, 2, 3],
                         "cost_per_unit": [1000.0, 2000.0, 1500.0, 500.0, 800.0]})


def _cells() -> pd.DataFrame:
    return pd.DataFrame({"size_class": ["micro", "small", "medium"], "estimate": [0.1, 0.2, 0.3],
                         "std_error": [0.05, 0.05, 0.05], "n": [50.0, 40.0, 30.0]})


def _mix() -> pd.DataFrame:
    return pd.DataFrame({"size_class": ["micro", "small", "medium"], "share": [0.5, 0.3, 0.2]})


def _micro() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    return pd.DataFrame({"firm_id": np.arange(60), "region": rng.choice(list("ABC"), 60),
                         "amount": rng.uniform(10, 100, 60)})


def _agg() -> pd.DataFrame:
    return pd.DataFrame({"region": list("ABC"), "n_firms": [20, 12, 15], "mean": [1.0, 2.0, 3.0]})


def _inf() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(50, 3))


def _with(frame: pd.DataFrame, column: str, mask: Any, value: Any) -> pd.DataFrame:
    """A copy of ``frame`` with ``value`` in ``column`` where ``mask`` holds (the column widened to fit)."""
    out = frame.copy()
    if isinstance(value, str):
        out[column] = out[column].astype(object)
    elif isinstance(value, float):
        out[column] = out[column].astype("float64")
    out.loc[mask(out), column] = value
    return out


def _first_firm(df: pd.DataFrame) -> Any:
    return df["firm_id"] == 1


def _first_row(df: pd.DataFrame) -> Any:
    return df.index == 0


def _twice(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return pd.concat([frame, frame[[column]]], axis=1)


S: Args = {"yname": "y", "tname": "year", "idname": "firm_id", "gname": "g"}
D2: Args = {"yname": "y", "tname": "year", "idname": "firm_id", "treatname": "d"}
W: Args = {"yname": "y", "treatname": "d", "covariates": ["x"]}
RD: Args = {"yname": "yr", "scorename": "score", "cutoff": 0.0}
VP: Args = {"idname": "firm_id", "tname": "year", "gname": "g", "ynames": "y"}
CE: Args = {"effect_se": 0.1, "n_supported": 10, "outcome_unit": "job"}


def panel(**columns: Any) -> Callable[[], Args]:
    return lambda: {"data": _panel().assign(**columns)}


def cross(**columns: Any) -> Callable[[], Args]:
    return lambda: {"data": _cross().assign(**columns)}


def frame_of(build: Callable[[], pd.DataFrame], key: str = "data") -> Callable[[], Args]:
    return lambda: {key: build()}


def nothing() -> Args:
    return {}


CONST = "outcome column 'y' is constant: 1.0 in all"

DID_CASES: list[Case] = [
    ("att_gt unknown option", panel(), lambda data: att_gt(data, **S, bogus=1), SpecificationError,
     E("att_gt() got unknown option(s) 'bogus'; it accepts data, yname,")),
    ("att_gt misspelt option", panel(), lambda data: att_gt(data, **S, covariate=["x"]), SpecificationError,
     E("'covariate' (did you mean 'covariates'?)")),
    ("att_gt constant outcome", panel(y=1.0), lambda data: att_gt(data, **S, bootstrap=False), DataError,
     E("att_gt(): " + CONST)),
    ("att_gt constant binary outcome", panel(y=0), lambda data: att_gt(data, **S, bootstrap=False), DataError,
     E("outcome column 'y' is constant: 0.0")),
    ("att_gt zero weight for a firm", panel(w=np.where(_panel()["firm_id"] == 1, 0.0, 1.0)),
     lambda data: att_gt(data, **S, weights="w", bootstrap=False), DataError,
     r"weights column 'w' is zero for 1 firm\(s\) \(6 rows"),
    ("att_gt infinite weight", lambda: {"data": _with(_panel(), "w", _first_firm, np.inf)},
     lambda data: att_gt(data, **S, weights="w", bootstrap=False), DataError,
     r"weights column 'w' holds 6 infinite value\(s\)"),
    ("att_gt negative weight", lambda: {"data": _with(_panel(), "w", _first_firm, -1.0)},
     lambda data: att_gt(data, **S, weights="w", bootstrap=False), DataError,
     r"weights column 'w' holds 6 negative value\(s\)"),
    ("att_gt text weights", panel(w="heavy"), lambda data: att_gt(data, **S, weights="w", bootstrap=False),
     DataError, "weights column 'w' is not numeric"),
    ("att_gt numbers stored as text", panel(x=_panel()["x"].round(1).astype(str)),
     lambda data: att_gt(data, **S, covariates=["x"], bootstrap=False), DataError,
     r"covariate 'x' holds numbers stored as text .*pandas.to_numeric\(data\['x'\]\)"),
    ("att_gt all-missing outcome", panel(y=np.nan), lambda data: att_gt(data, **S, bootstrap=False),
     DataError, r"no rows left after dropping rows with missing or non-finite values \('y': 360"),
    ("att_gt text outcome", panel(y="n/a"), lambda data: att_gt(data, **S), DataError,
     "outcome column 'y' is not numeric"),
    ("att_gt unknown control group", panel(), lambda data: att_gt(data, **S, control_group="never"),
     SpecificationError,
     r"control_group=.*must be one of \('never_treated', 'not_yet_treated'\); got 'never'"),
    ("att_gt unknown est_method", panel(), lambda data: att_gt(data, **S, est_method="ols"),
     SpecificationError, r"est_method=.*got 'ols'"),
    ("att_gt negative anticipation", panel(), lambda data: att_gt(data, **S, anticipation=-1),
     SpecificationError, r"anticipation=.*non-negative integer; got -1"),
    ("att_gt anticipation beyond the periods", panel(),
     lambda data: att_gt(data, **S, anticipation=5, bootstrap=False), DataError,
     r"no cohort can be estimated.*\(\+ anticipation 5\)"),
    ("att_gt one bootstrap draw", panel(), lambda data: att_gt(data, **S, n_boot=1), SpecificationError,
     r"n_boot=.*at least 2; got 1"),
    ("att_gt negative seed", panel(), lambda data: att_gt(data, **S, seed=-3), SpecificationError,
     r"seed=.*got -3"),
    ("att_gt alpha above 1", panel(), lambda data: att_gt(data, **S, alpha=1.5), SpecificationError,
     r"alpha of att_gt\(\) must be a number strictly between 0 and 1; got 1.5"),
    ("att_gt covariates as a string", panel(), lambda data: att_gt(data, **S, covariates="x"),
     SpecificationError, r"covariates=.*list of column names; got 'x'"),
    ("att_gt no never-treated firms", lambda: {"data": _panel()[_panel()["g"] > 0]},
     lambda data: att_gt(data, **S, bootstrap=False), EstimationError,
     "no never-treated firms.*control_group='not_yet_treated'"),
    ("att_gt data not a frame", nothing, lambda: att_gt({"y": [1]}, **S), SpecificationError,
     r"att_gt\(data=...\) must be a pandas DataFrame or a ValidatedPanel; got 'dict'"),
    ("aggregate unknown option", nothing, lambda: aggregate(_att_varying(), kind="dynamic", window=3),
     SpecificationError, E("aggregate() got unknown option(s) 'window'")),
    ("aggregate unknown kind", nothing, lambda: aggregate(_att_varying(), kind="event"), SpecificationError,
     r"aggregate\(kind=...\) must be one of .*got 'event'"),
    ("aggregate min_e above max_e", nothing,
     lambda: aggregate(_att_varying(), kind="dynamic", min_e=3, max_e=-3), SpecificationError,
     "min_e=3 is larger than max_e=-3"),
    ("aggregate fractional event time", nothing, lambda: aggregate(_att_varying(), kind="dynamic", min_e=1.5),
     SpecificationError, r"min_e=.*must be None or an integer; got 1.5"),
    ("aggregate event times out of range", nothing,
     lambda: aggregate(_att_varying(), kind="dynamic", min_e=10, max_e=20), EstimationError,
     r"no event times in \[10, 20\]"),
    ("aggregate of a frame", panel(), lambda data: aggregate(data), SpecificationError,
     r"aggregate\(result=...\) must be the result of att_gt; got 'DataFrame'"),
    ("twfe constant outcome", panel(y=1.0), lambda data: twfe(data, **S), DataError, E("twfe(): " + CONST)),
    ("twfe text covariate", panel(), lambda data: twfe(data, **S, covariates=["sector"]), DataError,
     "column 'sector' must be numeric; it has dtype"),
    ("twfe zero weight for a firm", panel(w=np.where(_panel()["firm_id"] == 1, 0.0, 1.0)),
     lambda data: twfe(data, **S, weights="w"), DataError, "weights column 'w' is zero for 1 firm"),
    ("twfe treatment and cohort", panel(), lambda data: twfe(data, **{**S, "treatname": "d"}),
     SpecificationError, "exactly one of treatname= .* got treatname='d', gname='g'"),
    ("twfe unknown df_correction", panel(), lambda data: twfe(data, **S, df_correction="stata"),
     SpecificationError, r"df_correction=.*got 'stata'"),
    ("twfe unknown option", panel(), lambda data: twfe(data, **S, robust=True), SpecificationError,
     E("twfe() got unknown option(s) 'robust'")),
    ("event_study reference at support", panel(), lambda data: event_study(data, **S, reference_period=0),
     SpecificationError, r"reference_period=...\) must be a pre-support event time .* got 0"),
    ("event_study reference after support", panel(), lambda data: event_study(data, **S, reference_period=2),
     SpecificationError, "must be a pre-support event time .*got 2"),
    ("event_study reference not observed", panel(), lambda data: event_study(data, **S, reference_period=-10),
     EstimationError, r"not observed at the reference event time -10"),
    ("event_study fractional reference", panel(), lambda data: event_study(data, **S, reference_period=-1.5),
     SpecificationError, r"reference_period=...\) must be an integer; got -1.5"),
    ("event_study constant outcome", panel(y=1.0), lambda data: event_study(data, **S), DataError,
     E("event_study(): " + CONST)),
    ("event_study unknown comparison", panel(), lambda data: event_study(data, **S, control_cohort="all"),
     SpecificationError, r"control_cohort=.*got 'all'"),
    ("did_2x2 constant outcome", panel(y=1.0), lambda data: did_2x2(data, **D2, pre=2004, post=2007),
     DataError, E("did_2x2(): " + CONST)),
    ("did_2x2 period outside the data", panel(), lambda data: did_2x2(data, **D2, pre=1990, post=2007),
     DataError, r"did_2x2\(pre=1990\): period not in column 'year'"),
    ("did_2x2 pre after post", panel(), lambda data: did_2x2(data, **D2, pre=2007, post=2004),
     SpecificationError, "needs pre < post; got pre=2007, post=2004"),
    ("did_2x2 treatment switches", panel(d=(_panel()["year"] >= 2005).astype(int)),
     lambda data: did_2x2(data, **D2, pre=2004, post=2007), DataError,
     "treatname column 'd' changes within firm"),
    ("did_2x2 treatment coded 0/2", panel(d=_panel()["d"] * 2),
     lambda data: did_2x2(data, **D2, pre=2004, post=2007), DataError, "treatname column 'd' must be a 0/1"),
    ("did_2x2 unknown option", panel(), lambda data: did_2x2(data, **D2, pre=2004, post=2007, base=2003),
     SpecificationError, E("did_2x2() got unknown option(s) 'base'")),
    ("bacon with covariates", panel(), lambda data: bacon_decomposition(data, **S, covariates=["x"]),
     SpecificationError, "covariates are not supported"),
    ("bacon constant outcome", panel(y=1.0), lambda data: bacon_decomposition(data, **S), DataError,
     E("bacon_decomposition(): " + CONST)),
    ("bacon unbalanced panel", lambda: {"data": _panel().iloc[1:]},
     lambda data: bacon_decomposition(data, **S), DataError, r"needs a balanced panel; 1 of 60 firms"),
    ("honest_did varying base period", nothing, lambda: honest_did(aggregate(_att_varying(), kind="dynamic")),
     SpecificationError, "fit att_gt with base_period='universal'; got base_period='varying'"),
    ("honest_did negative mbar", nothing, lambda: honest_did(_dynamic_universal(), mbar=-1),
     SpecificationError, "mbar must be finite and >= 0.*got -1"),
    ("honest_did wrong l_vec", nothing, lambda: honest_did(_dynamic_universal(), l_vec=[1, 2, 3, 4, 5, 6, 7]),
     SpecificationError, r"l_vec must hold one weight per post-reference event time"),
    ("honest_did zero grid", nothing, lambda: honest_did(_dynamic_universal(), grid_points=0),
     SpecificationError, "grid_points must be an integer >= 2; got 0"),
    ("honest_did unknown option", nothing, lambda: honest_did(_dynamic_universal(), method="FLCI"),
     SpecificationError, E("honest_did() got unknown option(s) 'method'")),
    ("honest_did of a simple aggregate", nothing, lambda: honest_did(aggregate(_att_varying())),
     SpecificationError, "event_study must be aggregate.*got kind='simple'"),
]

WEIGHTING_CASES: list[Case] = [
    ("ipw constant outcome", cross(y=2.0), lambda data: ipw(data, **W), DataError,
     E("ipw(): outcome column 'y' is constant: 2.0 in all 300 rows")),
    ("aipw constant outcome", cross(y=2.0), lambda data: aipw(data, **W), DataError,
     E("aipw(): outcome column 'y' is constant")),
    ("match constant outcome", cross(y=2.0), lambda data: match(data, **W), DataError,
     E("match(): outcome column 'y' is constant")),
    ("ipw numbers stored as text", cross(x=_cross()["x"].round(2).astype(str)), lambda data: ipw(data, **W),
     DataError, E("ipw(): covariate 'x' holds numbers stored as text")),
    ("ipw infinite outcome", lambda: {"data": _with(_cross(), "y", _first_row, np.inf)},
     lambda data: ipw(data, **W), DataError, "outcome 'y' contains infinite values"),
    ("ipw text outcome", cross(y="high"), lambda data: ipw(data, **W), DataError,
     "outcome 'y' must be numeric"),
    ("ipw treatment coded 1/2", cross(d=_cross()["d"] + 1), lambda data: ipw(data, **W), DataError,
     "column 'd' must be coded 0/1"),
    ("ipw every firm treated", cross(d=1), lambda data: ipw(data, **W), EstimationError,
     r"every firm has treatname='d' equal to 1"),
    ("ipw trim out of range", cross(), lambda data: ipw(data, **W, trim=0.7), SpecificationError,
     r"`trim` must be 'none', 'crump' or a number in \(0, 0.5\); got 0.7"),
    ("ipw no covariates", cross(), lambda data: ipw(data, yname="y", treatname="d", covariates=[]),
     SpecificationError, "`covariates` is empty"),
    ("ipw unknown option", cross(), lambda data: ipw(data, **W, normalise=True), SpecificationError,
     E("ipw() got unknown option(s) 'normalise'; it accepts data, yname, treatname, covariates, trim, "
       "alpha")),
    ("match negative caliper", cross(), lambda data: match(data, **W, caliper=-1.0), SpecificationError,
     "`caliper` must be a positive number .*got -1.0"),
    ("match no neighbours", cross(), lambda data: match(data, **W, n_neighbors=0), SpecificationError,
     "`n_neighbors` must be a positive integer; got 0"),
    ("match misspelt option", cross(), lambda data: match(data, **W, neighbours=2), SpecificationError,
     E("'neighbours'")),
    ("balance missing weights", lambda: {"data": _cross(), "weights": np.r_[np.nan, np.ones(299)]},
     lambda data, weights: balance(data, treatname="d", covariates=["x"], weights=weights), DataError,
     r"`weights` must be finite; found 1 missing or infinite"),
    ("balance infinite weights", lambda: {"data": _cross(), "weights": np.r_[np.inf, np.ones(299)]},
     lambda data, weights: balance(data, treatname="d", covariates=["x"], weights=weights), DataError,
     "`weights` must be finite"),
    ("balance negative weights", lambda: {"data": _cross(), "weights": -np.ones(300)},
     lambda data, weights: balance(data, treatname="d", covariates=["x"], weights=weights), DataError,
     "`weights` must be non-negative; found 300 negative"),
    ("balance text weights column", cross(), lambda data: balance(data, treatname="d", covariates=["x"],
                                                                  weights="sector"),
     DataError, "weights column 'sector' must be numeric"),
    ("balance weights of the wrong length", lambda: {"data": _cross(), "weights": np.ones(3)},
     lambda data, weights: balance(data, treatname="d", covariates=["x"], weights=weights), DataError,
     r"one value per row of `data` \(300\); got shape \(3,\)"),
    ("balance zero weights in an arm", lambda: {"data": _cross(), "weights": 1.0 - _cross()["d"].to_numpy()},
     lambda data, weights: balance(data, treatname="d", covariates=["x"], weights=weights), DataError,
     "weights sum to zero in the treated or the comparison group"),
    ("balance numbers stored as text", cross(x=_cross()["x"].round(2).astype(str)),
     lambda data: balance(data, treatname="d", covariates=["x"]), DataError,
     E("balance(): covariate 'x' holds numbers stored as text")),
    ("overlap numbers stored as text", cross(x=_cross()["x"].round(2).astype(str)),
     lambda data: overlap(data, treatname="d", covariates=["x"]), DataError,
     E("overlap(): covariate 'x' holds numbers stored as text")),
    ("overlap missing column", cross(), lambda data: overlap(data, treatname="d", covariates=["size"]),
     DataError, r"column\(s\) \['size'\] not found"),
    ("crump_alpha score above 1", lambda: {"ps": np.array([0.2, 1.4])}, lambda ps: crump_alpha(ps), DataError,
     r"propensity scores in \[0, 1\]; got shape \(2,\) with 1 value"),
    ("crump_alpha no scores", lambda: {"ps": np.array([])}, lambda ps: crump_alpha(ps), DataError,
     "non-empty 1-D array"),
    ("crump_alpha text scores", nothing, lambda: crump_alpha(np.array(["high", "low"])), DataError,
     r"crump_alpha\(ps=...\) must be an array of propensity scores"),
    ("conditional_did unknown option", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], bogus=3), SpecificationError,
     E("conditional_did() got unknown option(s) 'bogus'") + ".*method='aipw' accepts trim, alpha"),
    ("conditional_did option of another method", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], method="ipw", caliper=0.1),
     SpecificationError, E("'caliper'") + ".*method='ipw' accepts trim, alpha"),
    ("conditional_did pre after post", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], pre=2007, post=2004), SpecificationError,
     r"`pre`=2007 is after `post`=2004"),
    ("conditional_did periods that cannot be ordered", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], pre="base", post=2007), SpecificationError,
     r"`pre`='base' and `post`=2007 cannot be ordered"),
    ("conditional_did pre equals post", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], pre=2005, post=2005), SpecificationError,
     "`pre` and `post` are both 2005"),
    ("conditional_did period not observed", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], pre=1999), DataError,
     r"`pre`=1999 is not a value of 'year'"),
    ("conditional_did unknown method", panel(),
     lambda data: conditional_did(data, **D2, covariates=["x"], method="ols"), SpecificationError,
     r"`method` must be one of \['aipw', 'ipw', 'match'\]; got 'ols'"),
    ("conditional_did constant outcome", panel(y=1.0),
     lambda data: conditional_did(data, **D2, covariates=["x"]), DataError,
     E("outcome column 'delta_y' is constant: 0.0")),
]

EXPERIMENT_CASES: list[Case] = [
    ("rct constant outcome", cross(y=3.0), lambda data: rct(data, yname="y", treatname="d"), DataError,
     E("rct(): outcome column 'y' is constant: 3.0")),
    ("rct numbers stored as text", cross(x=_cross()["x"].round(2).astype(str)),
     lambda data: rct(data, yname="y", treatname="d", covariates=["x"]), DataError,
     E("rct(): covariate 'x' holds numbers stored as text")),
    ("rct infinite outcome", lambda: {"data": _with(_cross(), "y", _first_row, -np.inf)},
     lambda data: rct(data, yname="y", treatname="d"), DataError, "outcome 'y' contains infinite values"),
    ("rct unknown vce", cross(), lambda data: rct(data, yname="y", treatname="d", vce="hc1"),
     SpecificationError, r"`vce` must be one of \('hc2', 'hc3'\); got 'hc1'"),
    ("rct negative permutations", cross(),
     lambda data: rct(data, yname="y", treatname="d", n_permutations=-1), SpecificationError,
     "`n_permutations` must be a non-negative integer; got -1"),
    ("rct unknown option", cross(), lambda data: rct(data, yname="y", treatname="d", permutations=99),
     SpecificationError, E("rct() got unknown option(s) 'permutations' (did you mean 'n_permutations'?)")),
    ("rct take-up without a first stage", cross(used=0),
     lambda data: rct(data, yname="y", treatname="d", takeup="used", n_permutations=0), EstimationError,
     "take-up 'used' is 0.000 in both arms"),
    ("rct stratum with one arm", cross(strata=np.where(_cross()["d"] == 1, "a", "b")),
     lambda data: rct(data, yname="y", treatname="d", strata="strata", n_permutations=0), EstimationError,
     r"stratum 'a' of 'strata' has only supported firms"),
    ("power without n or effect", nothing, lambda: power(), SpecificationError,
     r"give `n` .*`effect` .*got neither"),
    ("power zero effect", nothing, lambda: power(effect=0.0), SpecificationError,
     "`effect` must be a positive number or None; got 0.0"),
    ("power all treated", nothing, lambda: power(effect=0.2, treat_share=1.0), SpecificationError,
     r"`treat_share` must be a number in \(0, 1\); got 1.0"),
    ("power zero take-up", nothing, lambda: power(effect=0.2, takeup=0.0), SpecificationError,
     r"`takeup` must be a number in \(0, 1\]; got 0.0"),
    ("power unknown option", nothing, lambda: power(effect=0.2, sides=1), SpecificationError,
     E("power() got unknown option(s) 'sides'")),
]

RD_CASES: list[Case] = [
    ("rdd constant outcome", cross(yr=1.0), lambda data: rdd(data, **RD), DataError,
     E("rdd(): outcome column 'yr' is constant: 1.0")),
    ("rdd infinite score", lambda: {"data": _with(_cross(), "score", _first_row, np.inf)},
     lambda data: rdd(data, **RD), DataError, r"score 'score' holds 1 infinite value\(s\)"),
    ("rdd infinite outcome", lambda: {"data": _with(_cross(), "yr", _first_row, np.inf)},
     lambda data: rdd(data, **RD), DataError, r"outcome 'yr' holds 1 infinite value\(s\)"),
    ("rdd text score", cross(score=_cross()["score"].astype(str)), lambda data: rdd(data, **RD), DataError,
     "score 'score' must be numeric; got dtype"),
    ("rdd text threshold column", cross(thr="zero"), lambda data: rdd(data, **{**RD, "cutoff": "thr"}),
     DataError, "threshold column 'thr' must be numeric"),
    ("rdd infinite threshold", lambda: {"data": _with(_cross(), "thr", _first_row, np.inf)},
     lambda data: rdd(data, **{**RD, "cutoff": "thr"}), DataError,
     r"threshold column 'thr' holds 1 infinite value\(s\)"),
    ("rdd cutoff outside the scores", cross(), lambda data: rdd(data, **{**RD, "cutoff": 5.0}),
     SpecificationError, r"threshold 5.0 is outside the range of 'score'"),
    ("rdd negative bandwidth", cross(), lambda data: rdd(data, **RD, bandwidth=-1.0), SpecificationError,
     "`bandwidth` must be a positive number or None; got -1.0"),
    ("rdd text covariate", cross(), lambda data: rdd(data, **RD, covariates=["sector"]), DataError,
     "covariate 'sector' must be numeric"),
    ("rdd unknown option", cross(), lambda data: rdd(data, **RD, h=0.5), SpecificationError,
     E("rdd() got unknown option(s) 'h'")),
    ("density_test infinite score", lambda: {"data": _with(_cross(), "score", _first_row, -np.inf)},
     lambda data: density_test(data, scorename="score", cutoff=0.0), DataError,
     r"density_test\(\): score 'score' holds 1 infinite"),
    ("density_test cutoff outside", cross(), lambda data: density_test(data, scorename="score", cutoff=7.0),
     SpecificationError, "threshold 7.0 is outside the range"),
    ("density_test unknown option", cross(),
     lambda data: density_test(data, scorename="score", cutoff=0.0, bandwidth=0.3), SpecificationError,
     E("density_test() got unknown option(s) 'bandwidth'")),
    ("rd_plot_data constant outcome", cross(yr=1.0), lambda data: rd_plot_data(data, **RD), DataError,
     E("rd_plot_data(): outcome column 'yr' is constant")),
    ("rd_plot_data zero min_firms", cross(), lambda data: rd_plot_data(data, **RD, min_firms=0),
     SpecificationError, "`min_firms` must be a positive integer .*got 0"),
    ("rd_plot_data zero bins", cross(), lambda data: rd_plot_data(data, **RD, nbins=0), SpecificationError,
     "`nbins` must be None .*got 0"),
]

INFERENCE_CASES: list[Case] = [
    ("multiplier_draws missing influence", lambda: {"inf": np.where(np.arange(150).reshape(50, 3) == 4,
                                                                    np.nan, _inf())},
     lambda inf: multiplier_draws(inf, n_boot=10, seed=1), DataError,
     r"multiplier_draws\(inf_func=...\) holds 1 missing or infinite value\(s\) in 1 row"),
    ("multiplier_draws negative seed", lambda: {"inf": _inf()}, lambda inf: multiplier_draws(inf, n_boot=10,
                                                                                            seed=-1),
     SpecificationError, r"seed=...\) must be a non-negative integer; got -1"),
    ("multiplier_draws clusters of the wrong length",
     lambda: {"inf": _inf(), "cl": np.zeros(3, dtype=np.intp)},
     lambda inf, cl: multiplier_draws(inf, n_boot=10, seed=1, cluster=cl), DataError,
     r"cluster=...\) must hold one non-negative integer cluster code per row of inf_func \(50 rows\)"),
    ("multiplier_draws no draws", lambda: {"inf": _inf()},
     lambda inf: multiplier_draws(inf, n_boot=0, seed=1), SpecificationError,
     "n_boot must be a positive integer; got 0"),
    ("multiplier_draws unknown kind", lambda: {"inf": _inf()},
     lambda inf: multiplier_draws(inf, n_boot=10, seed=1, kind="webb"), SpecificationError,
     r"kind must be one of .*got 'webb'"),
    ("if_standard_errors no units", lambda: {"inf": np.ones((0, 2))}, lambda inf: if_standard_errors(inf),
     DataError, r"must be a non-empty n × k array .*got shape \(0, 2\)"),
    ("if_covariance negative cluster codes", lambda: {"inf": _inf(), "cl": np.full(50, -1)},
     lambda inf, cl: if_covariance(inf, cl), DataError, r"if_covariance\(cluster=...\) must hold one "
                                                        r"non-negative integer"),
    ("if_covariance text", nothing, lambda: if_covariance(np.array([["a", "b"]])), DataError,
     r"inf_func=...\) must be a numeric n × k array"),
    ("cluster_sums float codes", lambda: {"inf": _inf(), "cl": np.zeros(50)},
     lambda inf, cl: cluster_sums(inf, cl), DataError, "dtype 'float64'.*pandas.factorize"),
    ("bootstrap_standard_errors text draws", nothing,
     lambda: bootstrap_standard_errors(np.array([["a", "b"], ["c", "d"]])), DataError,
     r"bootstrap_standard_errors\(draws=...\) must be a numeric n_boot × k array"),
    ("bootstrap_standard_errors one draw", lambda: {"draws": np.ones((1, 3))},
     lambda draws: bootstrap_standard_errors(draws), DataError, r"at least 2 draws; got shape \(1, 3\)"),
    ("sup_t coverage in percent", lambda: {"draws": _inf(), "se": np.ones(3)},
     lambda draws, se: sup_t_critical_value(draws, se, alpha=95), SpecificationError,
     r"alpha of sup_t_critical_value\(\) must be a number strictly between 0 and 1; got 95"),
    ("sup_t standard errors of the wrong length", lambda: {"draws": _inf(), "se": np.ones(2)},
     lambda draws, se: sup_t_critical_value(draws, se, alpha=0.05), DataError,
     r"one standard error per column of draws \(3\); got shape \(2,\)"),
    ("sup_t unknown option", lambda: {"draws": _inf(), "se": np.ones(3)},
     lambda draws, se: sup_t_critical_value(draws, se, alpha=0.05, level=0.95), SpecificationError,
     E("sup_t_critical_value() got unknown option(s) 'level'")),
]

SYNTHESIS_CASES: list[Case] = [
    ("meta_analysis unknown option", frame_of(_effects, "effects"),
     lambda effects: meta_analysis(effects, tau2="reml"), SpecificationError,
     E("meta_analysis() got unknown option(s) 'tau2'")),
    ("meta_analysis text estimates", lambda: {"effects": _effects().assign(estimate=["0.1"] * 5)},
     lambda effects: meta_analysis(effects), DataError, r"column 'estimate' \(parameter estimate\) must be "
                                                         "numeric"),
    ("meta_analysis missing estimate", lambda: {"effects": _with(_effects(), "estimate", _first_row, np.nan)},
     lambda effects: meta_analysis(effects), DataError,
     r"1 missing or non-finite estimate\(s\) \(rows \['A'\]"),
    ("meta_analysis zero standard error",
     lambda: {"effects": _with(_effects(), "std_error", _first_row, 0.0)},
     lambda effects: meta_analysis(effects), DataError,
     r"standard error.*zero or negative \(1 zero; rows \['A'\]\)"),
    ("meta_analysis one study", lambda: {"effects": _effects().iloc[:1]},
     lambda effects: meta_analysis(effects), SpecificationError, r"has 1 row\(s\) but at least 2 studies"),
    ("meta_analysis column named twice", lambda: {"effects": _twice(_effects(), "estimate")},
     lambda effects: meta_analysis(effects), DataError,
     r"effects has duplicated column labels \['estimate'\]"),
    ("meta_analysis unknown method", frame_of(_effects, "effects"),
     lambda effects: meta_analysis(effects, method="sj"), SpecificationError,
     r"method of meta_analysis\(\) must be one of .*got 'sj'"),
    ("meta_regression numbers stored as text", lambda: {"effects": _effects().assign(rd=["1", "2", "3", "4",
                                                                                         "5"])},
     lambda effects: meta_regression(effects, moderators="rd"), DataError,
     E("meta_regression(): moderator 'rd' holds numbers stored as text")),
    ("meta_regression constant moderator", lambda: {"effects": _effects().assign(rd=1.0)},
     lambda effects: meta_regression(effects, moderators="rd"), EstimationError,
     r"columns \['intercept', 'rd'\] has rank 1 < 2"),
    ("meta_regression missing moderator", frame_of(_effects, "effects"),
     lambda effects: meta_regression(effects, moderators="gdp"), DataError,
     r"column 'gdp' \(parameter moderators\[0\]\) is not in effects"),
    ("meta_regression no moderators", frame_of(_effects, "effects"),
     lambda effects: meta_regression(effects, moderators=[]), SpecificationError,
     "moderators of meta_regression.* is empty"),
    ("recommendations of a dict", nothing, lambda: recommendations(_evidence().to_dict()), DataError,
     "evidence must be a pandas DataFrame .*got 'dict'"),
    ("recommendations missing estimate", lambda: {"ev": _with(_evidence(), "estimate",
                                                              lambda d: d.index == 4, np.nan)},
     lambda ev: recommendations(ev), DataError, r"estimate must be a finite number; 1 rows are not, e.g. "
                                                r"\[\{'country': 'B', 'instrument': 'loan'"),
    ("recommendations text standard errors", lambda: {"ev": _evidence().assign(std_error="0.05")},
     lambda ev: recommendations(ev), DataError, "evidence column 'std_error' must be numeric"),
    ("recommendations zero standard error", lambda: {"ev": _with(_evidence(), "std_error", _first_row, 0.0)},
     lambda ev: recommendations(ev), DataError, "std_error must be positive and finite; 1 rows"),
    ("recommendations grade outside the scale", lambda: {"ev": _evidence().assign(grade=9)},
     lambda ev: recommendations(ev), DataError, r"grade must be a whole number from 1 to 5 .*values \[9.0\]"),
    ("recommendations text grade", lambda: {"ev": _evidence().assign(grade="high")},
     lambda ev: recommendations(ev), DataError, "evidence column 'grade' must be numeric"),
    ("recommendations negative cost", lambda: {"ev": _with(_evidence(), "cost_per_unit", _first_row, -5.0)},
     lambda ev: recommendations(ev), DataError, r"cost_per_unit must be a positive finite number .*\[-5.0\]"),
    ("recommendations infinite cost", lambda: {"ev": _with(_evidence(), "cost_per_unit", _first_row, np.inf)},
     lambda ev: recommendations(ev), DataError, r"cost_per_unit must be .*\[inf\]"),
    ("recommendations a country twice", lambda: {"ev": _evidence().assign(country="A")},
     lambda ev: recommendations(ev), DataError, "repeat a \\(country, instrument, outcome\\)"),
    ("recommendations text direction", frame_of(_evidence, "ev"),
     lambda ev: recommendations(ev, directions={"log_employment": "up"}), SpecificationError,
     r"directions must map outcomes to \+1 .*\{'log_employment': 'up'\}"),
    ("recommendations grade threshold 0", frame_of(_evidence, "ev"),
     lambda ev: recommendations(ev, min_grade=0), SpecificationError,
     r"recommendations\(min_grade=...\) must be an integer from 1 to 5"),
    ("recommendations negative negligible", frame_of(_evidence, "ev"),
     lambda ev: recommendations(ev, negligible=-0.1), SpecificationError,
     r"negligible=...\) must be a finite number >= 0.*got -0.1"),
    ("recommendations no countries needed", frame_of(_evidence, "ev"),
     lambda ev: recommendations(ev, min_countries=0), SpecificationError, "min_countries=...\\) must be a "
                                                                           "positive integer, got 0"),
    ("recommendations fixed effect", frame_of(_evidence, "ev"), lambda ev: recommendations(ev, method="fe"),
     SpecificationError, r"must be one of \['reml', 'dl', 'pm'\] .*got 'fe'"),
    ("recommendations column named twice", lambda: {"ev": _twice(_evidence(), "grade")},
     lambda ev: recommendations(ev), DataError, r"evidence has duplicated column labels \['grade'\]"),
    ("recommendations directions as a list", frame_of(_evidence, "ev"),
     lambda ev: recommendations(ev, directions=[1]), SpecificationError,
     r"directions must be a mapping outcome -> \+1 or -1, got \[1\]"),
    ("recommendations missing columns", lambda: {"ev": _evidence().drop(columns="grade")},
     lambda ev: recommendations(ev), DataError, r"evidence is missing columns \['grade'\]"),
    ("recommendations unknown option", frame_of(_evidence, "ev"), lambda ev: recommendations(ev, min_k=2),
     SpecificationError, E("recommendations() got unknown option(s) 'min_k'")),
    ("verdict missing negligible", nothing,
     lambda: verdict(ci_low=0.1, ci_high=0.2, estimate=0.15, min_grade_found=3, n_countries=3,
                     any_strong_single=True, negligible=float("nan")), SpecificationError,
     r"verdict\(negligible=...\) must be a finite number >= 0"),
    ("verdict missing estimate", nothing,
     lambda: verdict(ci_low=0.1, ci_high=0.2, estimate=float("nan"), min_grade_found=3, n_countries=3,
                     any_strong_single=True), SpecificationError,
     r"verdict\(estimate=...\) must be a finite"),
    ("verdict reversed interval", nothing,
     lambda: verdict(ci_low=0.3, ci_high=0.2, estimate=0.25, min_grade_found=3, n_countries=3,
                     any_strong_single=True), SpecificationError, r"ci_low <= ci_high, got \(0.3, 0.2\)"),
    ("verdict direction 2", nothing,
     lambda: verdict(ci_low=0.1, ci_high=0.2, estimate=0.15, min_grade_found=3, n_countries=3,
                     any_strong_single=True, direction=2), SpecificationError,
     "direction must be 1 or -1, got 2"),
    ("verdict grade 0", nothing,
     lambda: verdict(ci_low=0.1, ci_high=0.2, estimate=0.15, min_grade_found=0, n_countries=3,
                     any_strong_single=True), SpecificationError, r"min_grade_found=...\) must be an integer "
                                                                  "from 1 to 5, got 0"),
    ("transferability negative support", lambda: {"c": _with(_cells(), "n", _first_row, -1.0), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",), support="n"), DataError,
     r"column 'n' \(parameter support\) of subgroup_effects has negative values in cells \[\('micro',\)\]"),
    ("transferability text support", lambda: {"c": _cells().assign(n="many"), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",), support="n"), DataError,
     r"column 'n' \(parameter support\) of subgroup_effects must be numeric"),
    ("transferability negative min_support", lambda: {"c": _cells(), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",), support="n", min_support=-1.0),
     SpecificationError, "min_support must be a finite number >= 0.*got -1.0"),
    ("transferability missing covariance", lambda: {"c": _cells(), "m": _mix(), "v": np.full((3, 3), np.nan)},
     lambda c, m, v: transferability(c, target_mix=m, cells=("size_class",), covariance=v),
     SpecificationError,
     "covariance must hold finite numbers; it has 9 missing"),
    ("transferability shares not summing to one", lambda: {"c": _cells(), "m": _mix().assign(share=0.5)},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",)), DataError,
     r"shares in column 'share' of target_mix sum to 1.5, not 1"),
    ("transferability negative share", lambda: {"c": _cells(), "m": _mix().assign(share=[1.2, 0.0, -0.2])},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",)), DataError,
     r"negative shares in cells \[\('medium',\)\]"),
    ("transferability infinite estimate", lambda: {"c": _with(_cells(), "estimate", _first_row, np.inf),
                                                   "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",)), DataError,
     r"column 'estimate' of subgroup_effects has missing or non-numeric estimates in cells \[\('micro',\)\]"),
    ("transferability duplicated cells", lambda: {"c": pd.concat([_cells(), _cells()]), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",)), DataError,
     "subgroup_effects has duplicated cells"),
    ("transferability column named twice", lambda: {"c": _twice(_cells(), "estimate"), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",)), DataError,
     r"subgroup_effects has duplicated column labels \['estimate'\]"),
    ("transferability unknown option", lambda: {"c": _cells(), "m": _mix()},
     lambda c, m: transferability(c, target_mix=m, cells=("size_class",), weights="share"),
     SpecificationError,
     E("transferability() got unknown option(s) 'weights' (did you mean 'weight'?)")),
]

DISCLOSURE_CASES: list[Case] = [
    ("protect_table negative magnitudes", lambda: {"m": _micro().assign(amount=-_micro()["amount"])},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     r"protect_table\(\): value column 'amount' has 60 negative value\(s\); the dominance and p% rules of "
     "profile 'statistical_office'"),
    ("protect_table one negative magnitude", lambda: {"m": _with(_micro(), "amount", _first_row, -50.0)},
     lambda m: protect_table(m, by="region", value="amount", profile="research_data_centre"), DataError,
     r"has 1 negative value\(s\).*profile 'research_data_centre'"),
    ("protect_table infinite magnitude", lambda: {"m": _with(_micro(), "amount", _first_row, np.inf)},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     r"value column 'amount' has 1 infinite value\(s\)"),
    ("protect_table missing magnitude", lambda: {"m": _with(_micro(), "amount", _first_row, np.nan)},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     r"value column 'amount' has 1 missing value\(s\)"),
    ("protect_table boolean magnitude", lambda: {"m": _micro().assign(amount=True)},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     "value column 'amount' must be numeric; got dtype bool"),
    ("protect_table text magnitude", lambda: {"m": _micro().assign(amount="1.5")},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     "value column 'amount' must be numeric"),
    ("protect_table column named twice", lambda: {"m": _twice(_micro(), "amount")},
     lambda m: protect_table(m, by="region", value="amount"), DataError,
     r"microdata has duplicated column labels \['amount'\]"),
    ("protect_table unclassified row", lambda: {"m": _with(_micro(), "region", _first_row, None)},
     lambda m: protect_table(m, by="region"), DataError, r"column 'region' has 1 missing value\(s\)"),
    ("protect_table unknown stat", frame_of(_micro, "m"),
     lambda m: protect_table(m, by="region", value="amount", stat="median"), SpecificationError,
     r"stat must be one of \['sum', 'mean', 'count'\]; got 'median'"),
    ("protect_table unknown option", frame_of(_micro, "m"),
     lambda m: protect_table(m, by="region", threshold=5), SpecificationError,
     E("protect_table() got unknown option(s) 'threshold'")),
    ("primary_failures negative magnitudes", lambda: {"m": _micro().assign(amount=-1.0)},
     lambda m: primary_failures(m, by="region", value="amount"), DataError,
     r"primary_failures\(\): value column 'amount' has 60 negative value\(s\)"),
    ("primary_failures infinite magnitude", lambda: {"m": _with(_micro(), "amount", _first_row, np.inf)},
     lambda m: primary_failures(m, by="region", value="amount"), DataError,
     r"primary_failures\(\): value column 'amount' has 1 infinite"),
    ("primary_failures column named twice", lambda: {"m": _twice(_micro(), "region")},
     lambda m: primary_failures(m, by="region"), DataError, r"duplicated column labels \['region'\]"),
    ("check_table fractional counts", lambda: {"t": _agg().assign(n_firms=[20, 2.5, 15])},
     lambda t: check_table(t, count_col="n_firms"), DataError,
     r"count_col 'n_firms' must hold whole numbers of firms; 1 row\(s\) hold fractions"),
    ("check_table negative counts", lambda: {"t": _agg().assign(n_firms=[20, -2, 15])},
     lambda t: check_table(t, count_col="n_firms"), DataError, "must hold non-negative firm counts; 1 row"),
    ("check_table column named twice", lambda: {"t": _twice(_agg(), "mean")},
     lambda t: check_table(t, count_col="n_firms"), DataError,
     r"frame has duplicated column labels \['mean'\]"),
    ("check_table missing count column", frame_of(_agg, "t"), lambda t: check_table(t, count_col="n"),
     DataError, "count_col 'n' is not a column of frame"),
    ("check_figure_data fractional counts", lambda: {"t": _agg().assign(n_firms=[20.5, 12, 15])},
     lambda t: check_figure_data(t, count_col="n_firms"), DataError, "whole numbers of firms"),
    ("check_result negative residual df", nothing, lambda: check_result(power(effect=0.2), df_resid=-3),
     SpecificationError, "df_resid must be None or a finite number >= 0.*got -3"),
    ("check_result unknown on_fail", nothing, lambda: check_result(power(effect=0.2), on_fail="warn"),
     SpecificationError, "on_fail must be 'suppress' or 'raise'; got 'warn'"),
    ("get_profile unknown name", nothing, lambda: get_profile("eurostat"), SpecificationError,
     r"profile must be one of \['research_data_centre', 'statistical_office'\].*got 'eurostat'"),
    ("profile replace unknown rule", nothing, lambda: get_profile("statistical_office").replace(threshold=5),
     SpecificationError, E("DisclosureProfile.replace() got unknown option(s) 'threshold'") +
     ".*min_firms"),
    ("profile with text percentage", nothing,
     lambda: DisclosureProfile(name="x", min_firms=3, dominance_n=1, dominance_k="85"),  # type: ignore[arg-type]
     SpecificationError, r"dominance_k is a percentage and must lie in \(0, 100\]; got '85'"),
    ("profile with a missing p percent", nothing,
     lambda: DisclosureProfile(name="x", min_firms=3, p_percent=float("nan")), SpecificationError,
     r"p_percent must lie in \(0, 100\]; got nan"),
    ("profile without a name", nothing, lambda: DisclosureProfile(name="", min_firms=3), SpecificationError,
     "name must be a non-empty string; got ''"),
    ("scan_html negative id length", nothing, lambda: scan_html("<p>x</p>", min_id_length=-1),
     SpecificationError, "min_id_length must be a positive integer; got -1"),
]

EVIDENCE_CASES: list[Case] = [
    ("cost of a zero effect", nothing,
     lambda: cost_effectiveness(effect=0.0, **CE, programme_cost=1e6), EstimationError,
     r"effect=0.0 is exactly zero, so the programme produces no additional 'job' units"),
    ("cost of a zero log effect", nothing,
     lambda: cost_effectiveness(effect=0, **CE, programme_cost=1e6, effect_scale="log", baseline_level=5.0),
     EstimationError, "effect=0 is exactly zero"),
    ("cost of a missing effect", nothing,
     lambda: cost_effectiveness(effect=float("nan"), **CE, programme_cost=1e6), SpecificationError,
     "effect must be a finite number; got nan"),
    ("cost of an infinite effect", nothing,
     lambda: cost_effectiveness(effect=float("inf"), **CE, programme_cost=1e6), SpecificationError,
     "effect must be a finite number; got inf"),
    ("infinite programme cost", nothing,
     lambda: cost_effectiveness(effect=1.0, **CE, programme_cost=float("inf")), SpecificationError,
     "programme_cost must be a finite number"),
    ("missing yearly cost", nothing,
     lambda: cost_effectiveness(effect=1.0, **CE, programme_cost=[1e5, float("nan")]), SpecificationError,
     r"programme_cost\[1\] must be a finite"),
    ("zero standard error of the effect", nothing,
     lambda: cost_effectiveness(effect=1.0, **{**CE, "effect_se": 0.0}, programme_cost=1e6),
     SpecificationError, "effect_se must be strictly positive"),
    ("negative discount rate", nothing,
     lambda: cost_effectiveness(effect=1.0, **CE, programme_cost=1e6, discount_rate=-0.01),
     SpecificationError,
     "discount_rate must be non-negative; got -0.01"),
    ("cost unknown option", nothing,
     lambda: cost_effectiveness(effect=1.0, **CE, programme_cost=1e6, discount=0.03), SpecificationError,
     E("cost_effectiveness() got unknown option(s) 'discount' (did you mean 'discount_rate'?)")),
    ("input additionality without subsidy", nothing,
     lambda: input_additionality(effect=10.0, effect_se=1.0, subsidy_per_firm=0.0), SpecificationError,
     "subsidy_per_firm must be strictly positive; got 0.0"),
    ("input additionality unknown option", nothing,
     lambda: input_additionality(effect=10.0, effect_se=1.0, subsidy_per_firm=100.0, margin=0.1),
     SpecificationError, E("input_additionality() got unknown option(s) 'margin'")),
    ("output additionality negative baseline", nothing,
     lambda: output_additionality(effect=0.1, effect_se=0.1, scale="level", baseline_level=-5),
     SpecificationError, "baseline_level must be strictly positive; got -5"),
    ("survey counts above respondents", nothing,
     lambda: survey_additionality(n_respondents=100, n_full_deadweight=60, n_partial_deadweight=60),
     SpecificationError, "= 120 exceeds n_respondents = 100"),
    ("delivery infinite amount", lambda: {"a": _with(_apps(), "support_amount", _first_row, np.inf)},
     lambda a: delivery_indicators(a), DataError, "column 'support_amount' has infinite amounts"),
    ("delivery text amount", lambda: {"a": _with(_apps(), "support_amount", _first_row, "n.a.")},
     lambda a: delivery_indicators(a), DataError,
     r"column 'support_amount' holds 1 value\(s\) that are not numbers"),
    ("delivery negative amount", lambda: {"a": _apps().assign(support_amount=-1.0)},
     lambda a: delivery_indicators(a), DataError, "column 'support_amount' has negative amounts"),
    ("delivery column named twice", lambda: {"a": _twice(_apps(), "accepted")},
     lambda a: delivery_indicators(a), DataError,
     r"applications has duplicated column labels \['accepted'\]"),
    ("delivery decision before application",
     lambda: {"a": _apps().assign(decision_date=_apps()["application_date"] - pd.Timedelta(days=5))},
     lambda a: delivery_indicators(a), DataError, r"179 application\(s\) have 'decision_date' before"),
    ("delivery unknown option", frame_of(_apps, "a"),
     lambda a: delivery_indicators(a, amount="support_amount"), SpecificationError,
     E("delivery_indicators() got unknown option(s) 'amount' (did you mean 'amount_col'?)")),
    ("benchmark unknown column keyword", frame_of(_apps, "a"), lambda a: benchmark_delivery(a, amount="x"),
     SpecificationError,
     E("benchmark_delivery() got unknown option(s) 'amount' (did you mean 'amount_col'?)")),
    ("take-up fractional population", lambda: {"a": _apps(), "p": _population().assign(n=[300.5, 200, 100])},
     lambda a, p: take_up(a, population=p, population_count_col="n"), DataError,
     r"population_count_col 'n' must hold whole numbers of firms; 1 row\(s\) are infinite or fractional"),
    ("take-up infinite population", lambda: {"a": _apps(), "p": _population().assign(n=[np.inf, 200, 100])},
     lambda a, p: take_up(a, population=p, population_count_col="n"), DataError,
     "must hold whole numbers of firms"),
    ("take-up empty population cell", lambda: {"a": _apps(), "p": _population().assign(n=[0, 200, 100])},
     lambda a, p: take_up(a, population=p, population_count_col="n"), DataError,
     r"population counts are 0 in cell\(s\) \[\('micro',\)\] that have supported firms"),
    ("take-up negative population", lambda: {"a": _apps(), "p": _population().assign(n=[-5, 200, 100])},
     lambda a, p: take_up(a, population=p, population_count_col="n"), DataError,
     "population_count_col 'n' must hold non-negative counts"),
    ("evidence grade unknown design", nothing, lambda: evidence_grade(design="survey"), SpecificationError,
     r"design must be one of \['before_after', 'did', .*\]; got 'survey'"),
]

DATA_CASES: list[Case] = [
    ("validate_panel zero weight for a firm", panel(w=np.where(_panel()["firm_id"] == 2, 0.0, 1.0)),
     lambda data: validate_panel(data, **VP, weightsname="w"),
     DataError, r"weights column 'w' is zero for 1 firm\(s\).*data\[data\['w'\] > 0\]"),
    ("validate_panel infinite weight", lambda: {"data": _with(_panel(), "w", _first_firm, np.inf)},
     lambda data: validate_panel(data, **VP, weightsname="w"),
     DataError, r"weights column 'w' holds 6 infinite value\(s\)"),
    ("validate_panel numbers stored as text", panel(x=_panel()["x"].round(1).astype(str)),
     lambda data: validate_panel(data, **VP, covariates=["x"]), DataError,
     r"validate_panel\(\): covariate 'x' holds numbers stored as text.*astype\('category'\)"),
    ("instrument with an unknown key", nothing,
     lambda: as_instrument({**yaml.safe_load((ROOT / "params/instruments/rd_grant.yaml").read_text()),
                            "bogus": 1}), ParameterError, "key 'bogus': Extra inputs are not permitted"),
    ("instrument with a negative cost", nothing,
     lambda: as_instrument({**yaml.safe_load((ROOT / "params/instruments/rd_grant.yaml").read_text()),
                            "costs": {"programme_cost_per_firm": -5}}), ParameterError,
     r"key 'costs.programme_cost_per_firm': Input should be greater than 0 \(got -5\)"),
    ("instrument with too few draws", nothing,
     lambda: as_instrument({**yaml.safe_load((ROOT / "params/instruments/rd_grant.yaml").read_text()),
                            "estimator": {"n_boot": 5}}), ParameterError,
     r"key 'estimator.n_boot'.*\(got 5\)"),
    ("instrument file missing", nothing, lambda: load_instrument_file(ROOT / "params/instruments/nope.yaml"),
     ParameterError, "nope.yaml.*cannot read the parameter file"),
]

CASES: list[Case] = [*DID_CASES, *WEIGHTING_CASES, *EXPERIMENT_CASES, *RD_CASES, *INFERENCE_CASES,
                     *SYNTHESIS_CASES, *DISCLOSURE_CASES, *EVIDENCE_CASES, *DATA_CASES]


def _snapshot(args: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.copy(deep=True) if isinstance(v, pd.DataFrame) else copy.deepcopy(v))
            for k, v in args.items()}


def _assert_unchanged(args: Mapping[str, Any], before: Mapping[str, Any]) -> None:
    for key, value in args.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, before[key], check_exact=True)
            assert value.attrs == before[key].attrs, key
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, before[key])


def check_refused(make: Callable[[], Args], call: Callable[..., Any], error: type[Exception],
                  match: str) -> None:
    """Run one catalogue case: the call raises ``error`` matching ``match``, its inputs left unchanged."""
    args = make()
    before = _snapshot(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IpfEvalWarning)  # drops announced before the error are not under test
        with pytest.raises(error, match=match):
            call(**args)
    _assert_unchanged(args, before)


@pytest.mark.parametrize(("make", "call", "error", "match"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_refused(make: Callable[[], Args], call: Callable[..., Any], error: type[Exception],
                              match: str) -> None:
    check_refused(make, call, error, match)


def test_unknown_options_keep_the_signature() -> None:
    """The option check is transparent: signatures and docstrings are the functions' own."""
    import inspect

    assert list(inspect.signature(att_gt).parameters)[:3] == ["data", "yname", "tname"]
    assert att_gt.__doc__ is not None
    assert "Callaway and Sant'Anna" in att_gt.__doc__
    assert ipf_eval.att_gt is att_gt


def test_catalogue_size() -> None:
    from test_bad_input_files import FILE_CASES

    assert len(CASES) + len(FILE_CASES) >= 100
