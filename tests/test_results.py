"""Results are immutable: Specification.arguments is a read-only mapping that still pickles and serialises."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pandas as pd
import pytest

from ipf_eval.did import aggregate, att_gt
from ipf_eval.results import FrozenMapping, Specification


def _spec() -> Specification:
    return Specification(estimator="f", arguments={"yname": "y", "covariates": ["x1", "x2"],
                                                   "inner": {"alpha": 0.05, "deep": {"k": 1}}},
                         n_obs=10, n_units=5, seed=3)


def test_item_assignment_raises() -> None:
    spec = _spec()
    assert isinstance(spec.arguments, FrozenMapping)
    with pytest.raises(TypeError, match="does not support item assignment"):
        spec.arguments["yname"] = "z"  # type: ignore[index]
    with pytest.raises(TypeError, match="does not support item deletion"):
        del spec.arguments["yname"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="does not support item assignment"):
        spec.arguments["inner"]["alpha"] = 0.1  # nested mappings are read-only too
    with pytest.raises(AttributeError):
        spec.arguments.update({"yname": "z"})  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.arguments = {}  # type: ignore[misc]


def test_the_callers_dict_can_change_without_changing_the_record() -> None:
    args = {"yname": "y", "covariates": ["x1"], "inner": {"a": 1}}
    spec = Specification(estimator="f", arguments=args, n_obs=1, n_units=1)
    args["yname"] = "z"
    args["covariates"].append("x2")
    args["inner"]["a"] = 2
    assert spec.arguments == {"yname": "y", "covariates": ["x1"], "inner": {"a": 1}}


def test_pickle_copy_and_replace_round_trip() -> None:
    spec = _spec()
    for back in (pickle.loads(pickle.dumps(spec)), copy.deepcopy(spec), copy.copy(spec)):
        assert back == spec
        assert isinstance(back.arguments, FrozenMapping)
        assert isinstance(back.arguments["inner"], FrozenMapping)
        with pytest.raises(TypeError):
            back.arguments["yname"] = "z"  # type: ignore[index]
    other = dataclasses.replace(spec, arguments={**spec.arguments, "yname": "z"})
    assert isinstance(other.arguments, FrozenMapping)
    assert other.arguments["yname"] == "z"


def test_to_dict_and_display_are_unchanged() -> None:
    spec = _spec()
    out = spec.to_dict()
    assert out["arguments"] == {"yname": "y", "covariates": ["x1", "x2"],
                                "inner": {"alpha": 0.05, "deep": {"k": 1}}}
    assert isinstance(out["arguments"]["inner"], dict)
    json.dumps(out)
    assert repr(spec.arguments) == repr({"yname": "y", "covariates": ["x1", "x2"],
                                         "inner": {"alpha": 0.05, "deep": {"k": 1}}})
    assert dict(spec.arguments)["yname"] == "y"
    assert spec.arguments == FrozenMapping(dict(spec.arguments))


def test_results_cross_process_boundaries(mpdta: pd.DataFrame) -> None:
    res = att_gt(mpdta, yname="lemp", tname="year", idname="countyreal", gname="first.treat", seed=1,
                 n_boot=99)
    agg = aggregate(res, kind="group")
    assert isinstance(agg.specification.arguments["att_gt"], FrozenMapping)
    back = pickle.loads(pickle.dumps(agg))
    assert back.specification == agg.specification
    assert back.to_dict() == agg.to_dict()
    with pytest.raises(TypeError):
        res.specification.arguments["seed"] = 2  # type: ignore[index]
