"""Every public function refuses an unknown keyword option with a SpecificationError (issue 15, by class).

The functions are found, not listed: every function in the ``__all__`` of every public module of the
package.  An unknown option is refused before the function runs (so no other argument is needed), names the
option and lists the accepted ones.  Functions that take ``**kwargs`` check their options themselves and
are tested with their own arguments in the bad-input catalogue.  A warning raised inside a wrapped
function still points at the caller's line, not at the wrapper.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import ipf_eval
from ipf_eval.errors import SpecificationError


def _public_functions() -> dict[str, Callable[..., Any]]:
    names = ["ipf_eval"] + [m.name for m in pkgutil.walk_packages(ipf_eval.__path__, "ipf_eval.")
                            if not any(p.startswith("_") for p in m.name.split(".")[1:])]
    found: dict[str, Callable[..., Any]] = {}
    for name in names:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr, None)
            if inspect.isfunction(obj) and obj.__module__.startswith("ipf_eval"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return dict(sorted(found.items()))


FUNCTIONS = _public_functions()
CHECKED = {k: f for k, f in FUNCTIONS.items()
           if not any(p.kind is inspect.Parameter.VAR_KEYWORD
                      for p in inspect.signature(f).parameters.values())}


def test_the_sweep_finds_the_public_api() -> None:
    assert len(FUNCTIONS) > 200
    assert "ipf_eval.did.att_gt.att_gt" in CHECKED
    assert "ipf_eval.pipeline.bundle.export_bundle" in CHECKED


@pytest.mark.parametrize("name", list(CHECKED))
def test_an_unknown_option_is_refused(name: str) -> None:
    func = CHECKED[name]
    with pytest.raises(SpecificationError, match=r"unknown option\(s\) 'zz_not_an_option'") as info:
        func(zz_not_an_option=1)
    accepted = [p.name for p in inspect.signature(func).parameters.values()
                if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    assert (accepted[0] in str(info.value)) if accepted else "takes no options" in str(info.value)


def test_a_warning_points_at_the_callers_line() -> None:
    from ipf_eval.data import simulate_firms, validate_panel

    sample = simulate_firms(seed=3, n_firms=300).evaluation_sample("AT", "loan_guarantee")
    sample = sample.assign(log_employment=sample["log_employment"].mask(sample.index % 7 == 0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_panel(sample, idname="firm_id", tname="year", gname="first_support_year",
                       ynames=["log_employment"])
    mine = [w for w in caught if issubclass(w.category, UserWarning) and "ipf_eval" not in w.filename]
    assert mine, [(w.filename, str(w.message)[:80]) for w in caught]
    assert all(w.filename == __file__ for w in mine)
    assert not [w for w in caught if w.filename.endswith("_defaults.py")]
