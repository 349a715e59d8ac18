"""One place for defaults and argument checks (ipf_eval._defaults)."""

from __future__ import annotations

import ast
import importlib
import inspect
import math
import pkgutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import papermill  # noqa: F401 - imported first, as in use: it loads ipf_eval's engine (_warm_engine) itself
import pytest

import ipf_eval
from ipf_eval._defaults import CONTROL_GROUP, MIN_CLUSTERS, N_BOOT, check_alpha, warn_few_clusters
from ipf_eval.errors import EstimationWarning, SpecificationError

PACKAGE = Path(ipf_eval.__file__).parent


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(ipf_eval.__path__, "ipf_eval."))


# --------------------------------------------------------------------------------------------- constants
def test_constants() -> None:
    assert N_BOOT == 999
    assert CONTROL_GROUP == "never_treated"
    assert MIN_CLUSTERS == 20


def test_every_function_default_uses_the_package_defaults() -> None:
    """Every ``n_boot`` default is N_BOOT and every ``control_group`` default is CONTROL_GROUP."""
    seen: dict[str, list[str]] = {"n_boot": [], "control_group": []}
    for name in _modules():
        module = importlib.import_module(name)
        for qual, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != name:
                continue
            params = inspect.signature(fn).parameters
            for pname, expected in (("n_boot", N_BOOT), ("control_group", CONTROL_GROUP)):
                p = params.get(pname)
                if p is not None and p.default is not inspect.Parameter.empty:
                    assert p.default == expected, f"{name}.{qual}({pname}={p.default!r})"
                    seen[pname].append(f"{name}.{qual}")
    assert "ipf_eval.did.att_gt.att_gt" in seen["n_boot"]
    assert "ipf_eval.evidence.cost.cost_effectiveness" in seen["n_boot"]
    assert "ipf_eval.did.att_gt.att_gt" in seen["control_group"]


def test_estimator_params_defaults() -> None:
    from ipf_eval.pipeline.params import EstimatorParams

    est = EstimatorParams()
    assert est.n_boot == N_BOOT
    assert est.control_group == CONTROL_GROUP


# --------------------------------------------------------------------------------------------- check_alpha
@pytest.mark.parametrize("value", [0.05, 0.5, 1e-6, np.float64(0.1), np.float32(0.25)])
def test_check_alpha_accepts_levels(value: object) -> None:
    out = check_alpha(value, function="f")
    assert isinstance(out, float)
    assert out == pytest.approx(float(value))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", [0, 1, 0.0, 1.0, -0.05, 1.5, 95, math.nan, math.inf, True, False, "0.05", None, [0.05]]
)
def test_check_alpha_rejects(value: object) -> None:
    with pytest.raises(SpecificationError) as info:
        check_alpha(value, function="att_gt")
    msg = str(info.value)
    # one template: parameter and function, what it must be, what it got, the remedy
    assert msg.startswith("alpha of att_gt() must be a number strictly between 0 and 1; got ")
    assert f"got {value!r}." in msg
    assert "pass alpha=0.05 for 95% intervals" in msg


def test_check_alpha_names_the_parameter() -> None:
    with pytest.raises(SpecificationError, match=r"^pretrend_alpha of evidence_grade\(\) must be .* got 2\. "
                                                 r".*pass pretrend_alpha=0\.05"):
        check_alpha(2, function="evidence_grade", parameter="pretrend_alpha")


def test_one_alpha_validator() -> None:
    """No module but _defaults defines its own alpha check."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defs = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and "alpha" in n.name
                and n.name.startswith(("check", "_check", "validate", "_validate"))]
        if path.name != "_defaults.py":
            where = path.relative_to(PACKAGE)
            assert not defs, f"{where} defines {defs!r}; use ipf_eval._defaults.check_alpha"


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"y": rng.normal(size=n), "d": np.tile([0, 1], n // 2), "x1": rng.normal(size=n)})


def _calls() -> list[tuple[str, object]]:
    from ipf_eval.evidence import cost_effectiveness, input_additionality
    from ipf_eval.experiments import power, rct
    from ipf_eval.synthesis import meta_analysis, recommendations
    from ipf_eval.weighting import aipw, ipw, match

    effects = pd.DataFrame({"estimate": [0.1, 0.2, 0.3], "std_error": [0.1, 0.1, 0.1],
                            "label": ["a", "b", "c"]})
    evidence = pd.DataFrame({"country": ["AT", "DK"], "instrument": ["g", "g"], "outcome": ["y", "y"],
                             "estimate": [0.1, 0.2], "std_error": [0.05, 0.05], "grade": [3, 3]})
    cost = {"effect": 0.5, "effect_se": 0.1, "n_supported": 100, "programme_cost": 1e6, "outcome_unit": "job"}
    return [
        ("rct", lambda a: rct(_frame(), yname="y", treatname="d", alpha=a)),
        ("ipw", lambda a: ipw(_frame(), yname="y", treatname="d", covariates=["x1"], alpha=a)),
        ("aipw", lambda a: aipw(_frame(), yname="y", treatname="d", covariates=["x1"], alpha=a)),
        ("match", lambda a: match(_frame(), yname="y", treatname="d", covariates=["x1"], alpha=a)),
        ("power", lambda a: power(n=100, alpha=a)),
        ("meta_analysis", lambda a: meta_analysis(effects, alpha=a)),
        ("recommendations", lambda a: recommendations(evidence, alpha=a)),
        ("cost_effectiveness", lambda a: cost_effectiveness(**cost, alpha=a)),  # type: ignore[arg-type]
        ("input_additionality", lambda a: input_additionality(effect=1.0, effect_se=0.5, subsidy_per_firm=2.0,
                                                              alpha=a)),
    ]


@pytest.mark.parametrize(("function", "call"), _calls(), ids=[f for f, _ in _calls()])
def test_entry_points_share_the_template(function: str, call: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = rf"^alpha of {function}\(\) must be a number strictly between 0 and 1; got 1\.5\."
        with pytest.raises(SpecificationError, match=expected):
            call(1.5)  # type: ignore[operator]


# --------------------------------------------------------------------------------------------- few clusters
def test_warn_few_clusters() -> None:
    expected = r"^twfe\(\): only 19 clusters in 'region'; .* fewer than 20 clusters \(Cameron and Miller"
    with pytest.warns(EstimationWarning, match=expected) as record:
        warn_few_clusters(19, function="twfe", column="region")
    assert record[0].filename == __file__  # the first frame outside ipf_eval: this test
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_few_clusters(MIN_CLUSTERS, function="twfe", column="region")


def test_estimators_share_the_cluster_threshold() -> None:
    """did_2x2, twfe and event_study warn below 20 clusters like att_gt (10 was their old threshold)."""
    from ipf_eval.did import did_2x2, event_study, twfe

    rng = np.random.default_rng(3)
    firms, years = 120, [2016, 2017, 2018, 2019]
    g = np.where(np.arange(firms) % 3 == 0, 0, np.where(np.arange(firms) % 3 == 1, 2018, 2019))
    frame = pd.DataFrame({"firm": np.repeat(np.arange(firms), len(years)), "year": np.tile(years, firms),
                          "g": np.repeat(g, len(years))})
    frame["d"] = ((frame["g"] > 0) & (frame["year"] >= frame["g"])).astype(int)
    frame["treat"] = (frame["g"] > 0).astype(int)
    frame["y"] = rng.normal(size=len(frame)) + frame["d"]
    frame["region"] = frame["firm"] % 15
    cols = {"yname": "y", "tname": "year", "idname": "firm", "cluster": "region"}
    for function, call in (
        ("twfe", lambda: twfe(frame, **cols, treatname="d")),
        ("did_2x2", lambda: did_2x2(frame, **cols, treatname="treat", pre=2016, post=2019)),
        ("event_study", lambda: event_study(frame, **cols, gname="g")),
    ):
        with pytest.warns(EstimationWarning, match=rf"^{function}\(\): only 15 clusters in 'region'"):
            call()
