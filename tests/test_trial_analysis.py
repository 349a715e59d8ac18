"""analyse_trial(): effects recovered, coverage, deviations from the plan, ITT, constrained RI, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.experiments import DEVIATION_KINDS, Deviation, TrialAnalysis, analyse_trial, design_trial, rct
from ipf_eval.experiments._randomise import randomise, smd_matrix, unit_structure
from ipf_eval.experiments.trial_analysis import _itt


def firms(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "firm_id": [f"FIRM-{i:05d}" for i in range(n)],
        "sector": rng.choice(["C", "G", "J"], size=n, p=[0.5, 0.3, 0.2]),
        "emp0": rng.normal(10.0, 2.0, size=n),
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
    })


def trial(n: int = 400, seed: int = 0, effects: dict[str, float] | None = None, **design_kw):
    """A design and outcome data with known ITT effects per treatment arm."""
    effects = {"treatment": 0.5} if effects is None else effects
    df = firms(n, seed)
    kw = dict(idname="firm_id", strata="sector", baseline="emp0", covariates=["x1"], yname="emp",
              secondary=["sales"], seed=seed, n_permutations=19)
    kw.update(design_kw)
    if len(effects) > 1:
        kw.setdefault("arms", ("control", *effects))
    design = design_trial(df, **kw)
    arm = df["firm_id"].map(design.assignment.set_index("firm_id")["arm"])
    rng = np.random.default_rng(seed + 1000)
    tau = arm.map(effects).fillna(0.0).to_numpy()
    treated = (arm != "control").to_numpy()
    y = 1 + 0.8 * df["emp0"] + 0.5 * df["x1"] + tau + rng.normal(scale=1 + 0.5 * treated, size=n)
    data = df.assign(emp=y, sales=y + rng.normal(size=n), arm=arm)
    return design, data


# ------------------------------------------------------------------------------------------- estimates
def test_recovers_a_known_effect_and_runs_rct_as_planned():
    design, data = trial(600, seed=1)
    res = analyse_trial(data, design, yname="emp")
    assert isinstance(res, TrialAnalysis)
    assert res.deviations == ()
    assert res.followed_plan
    itt = res.result.table.iloc[0]
    assert abs(itt["estimate"] - 0.5) < 3 * itt["std_error"]
    merged = design.assignment.merge(data[["firm_id", "emp", "emp0", "x1"]], on="firm_id")
    direct = rct(merged.assign(z=(merged["arm"] == "treatment").astype(int)), yname="emp", treatname="z",
                 covariates=["emp0", "x1"], strata="sector", n_permutations=0)
    assert res.result.itt == pytest.approx(direct.itt, rel=1e-10)
    assert itt["std_error"] == pytest.approx(direct.table.iloc[0]["std_error"], rel=1e-10)
    assert res.result.specification.arguments["covariates"] == ["emp0", "x1"]
    assert "HC2" in res.result.variance_method
    assert res.n_analysed == 600


def test_the_ri_statistic_is_rcts_itt_and_its_p_value_agrees_with_rcts_permutations():
    design, data = trial(300, seed=2, effects={"treatment": 0.15}, n_permutations=999)
    res = analyse_trial(data, design, yname="emp", seed=1)
    merged = design.assignment.merge(data[["firm_id", "emp", "emp0", "x1"]], on="firm_id")
    z = (merged["arm"] == "treatment").to_numpy(float)
    C = merged[["emp0", "x1"]].to_numpy(float)
    D = pd.get_dummies(merged["sector"], dtype=float).to_numpy()
    own = _itt(merged["emp"].to_numpy(float), z, C, D, np.ones(z.size, dtype=bool))
    assert own == pytest.approx(res.result.itt, rel=1e-10)
    direct = rct(merged.assign(z=z), yname="emp", treatname="z", covariates=["emp0", "x1"], strata="sector",
                 n_permutations=999, seed=2)
    p = res.p_values_ri["treatment"]
    assert 0.01 < p < 0.99
    assert abs(p - direct.p_value_ri) < 0.07


def test_confidence_interval_coverage():
    """300 small trials (80 firms, 2 strata, heteroskedastic errors): 95 % intervals cover within MC error."""
    reps, covered = 300, 0
    for rep in range(reps):
        rng = np.random.default_rng(rep)
        df = pd.DataFrame({"firm_id": [f"FIRM-{i:05d}" for i in range(80)],
                           "sector": np.repeat(["C", "G"], 40), "x1": rng.normal(size=80)})
        design = design_trial(df, idname="firm_id", strata="sector", covariates=["x1"], yname="emp",
                              n_permutations=0, seed=rep)
        z = (df["firm_id"].map(design.assignment.set_index("firm_id")["arm"]) == "treatment").to_numpy()
        data = df.assign(emp=df["x1"] + 1.0 * z + rng.normal(scale=1 + 0.5 * z, size=80))
        row = analyse_trial(data, design, yname="emp", arm_col=None).result.table.iloc[0]
        covered += bool(row["ci_low"] <= 1.0 <= row["ci_high"])
    assert abs(covered / reps - 0.95) < 3 * np.sqrt(0.95 * 0.05 / reps)


def test_itt_uses_the_assigned_arm_when_the_data_say_otherwise():
    design, data = trial(400, seed=3)
    flipped = data.copy()
    idx = flipped.index[:25]
    flipped.loc[idx, "arm"] = np.where(flipped.loc[idx, "arm"] == "control", "treatment", "control")
    itt = analyse_trial(flipped, design, yname="emp")
    clean = analyse_trial(data, design, yname="emp")
    assert itt.result.itt == clean.result.itt
    assert [d.kind for d in itt.deviations] == ["arm_changed"]
    assert clean.deviations == ()
    assert "25 firms ended up in another arm" in itt.deviations[0].message
    as_treated = rct(flipped.assign(z=(flipped["arm"] == "treatment").astype(int)), yname="emp",
                     treatname="z", covariates=["emp0", "x1"], strata="sector", n_permutations=0)
    assert as_treated.itt != pytest.approx(itt.result.itt, rel=1e-6)


def test_three_arms_are_each_compared_with_control():
    effects = {"grant": 0.3, "loan": 1.2}
    design, data = trial(900, seed=4, effects=effects)
    res = analyse_trial(data, design, yname="emp")
    assert list(res.results) == ["grant", "loan"]
    assert res.deviations == ()
    for arm, tau in effects.items():
        row = res.results[arm].table.iloc[0]
        assert abs(row["estimate"] - tau) < 3 * row["std_error"]
        assert res.results[arm].n_treated + res.results[arm].n_control < 900
    frame = res.to_frame()
    assert list(frame["group"]) == ["grant", "loan"]
    assert (frame["outcome"] == "emp").all()
    p = frame["p_value"].to_numpy()
    low, high = np.argmin(p), np.argmax(p)
    holm = frame["p_value_holm"].to_numpy()
    assert holm[low] == pytest.approx(min(1.0, 2 * p[low]), rel=1e-12, abs=1e-300)
    assert holm[high] == pytest.approx(max(holm[low], p[high]), rel=1e-12, abs=1e-300)
    one = analyse_trial(data, design, yname="emp", treatment="loan")
    assert [d.kind for d in one.deviations] == ["comparisons_dropped"]
    assert one.result.itt == res.results["loan"].itt


def test_clustered_trial_uses_cr1_and_cluster_level_randomisation_inference():
    rng = np.random.default_rng(5)
    cl = np.repeat(np.arange(60), 8)
    df = pd.DataFrame({"firm_id": [f"FIRM-{i:05d}" for i in range(cl.size)], "agency": cl,
                       "region": np.where(cl % 2 == 0, "north", "south"),
                       "emp0": rng.normal(size=60)[cl] + rng.normal(size=cl.size)})
    design = design_trial(df, idname="firm_id", strata="region", cluster="agency", baseline="emp0",
                          yname="emp", n_permutations=49, seed=5)
    z = (df["firm_id"].map(design.assignment.set_index("firm_id")["arm"]) == "treatment").to_numpy()
    data = df.assign(emp=df["emp0"] + 3.0 * z + rng.normal(size=60)[cl] + rng.normal(size=cl.size))
    res = analyse_trial(data, design, yname="emp", arm_col=None)
    assert "cluster-robust CR1" in res.result.variance_method
    row = res.result.table.iloc[0]
    assert abs(row["estimate"] - 3.0) < 3 * row["std_error"]
    assert res.p_values_ri["treatment"] == pytest.approx(1 / 50)
    assert res.specification.n_units == 60
    assert any("No arm column" in n for n in res.notes)


def test_randomisation_inference_redraws_with_the_rerandomisation_rule():
    design, data = trial(300, seed=6, covariates=["x1", "x2"], rerandomise=200, max_smd=0.05,
                         n_permutations=39)
    assert design.plan.balance_met
    dd = design.design_data
    structure = unit_structure(dd, idname="firm_id", strata=("sector",), cluster=None)
    X = dd[list(design.plan.covariates)].to_numpy(float)
    rng = np.random.default_rng(0)
    for _ in range(20):
        draw = randomise(structure, X, np.array([0.5, 0.5]), rerandomise=200, max_smd=0.05, rng=rng)
        assert draw.met
        assert np.abs(smd_matrix(X, draw.firm_arm, 2)).max() <= 0.05
    res = analyse_trial(data, design, yname="emp")
    assert res.p_values_ri["treatment"] == pytest.approx(1 / 40)  # effect 0.5 with 300 firms: never matched
    null = analyse_trial(data.assign(emp=data["emp0"] + data["x1"]), design, yname="emp")
    assert 1 / 40 <= null.p_values_ri["treatment"] <= 1.0


def test_takeup_adds_the_effect_on_users():
    design, data = trial(400, seed=7)
    rng = np.random.default_rng(0)
    used = ((data["arm"] == "treatment") & (rng.random(400) < 0.7)).astype(int)
    res = analyse_trial(data.assign(used=used), design, yname="emp", takeup="used")
    assert list(res.result.table["term"]) == ["itt", "first_stage", "late"]
    assert res.deviations == ()
    assert res.result.late == pytest.approx(res.result.itt / res.result.table.iloc[1]["estimate"], rel=0.05)


def test_the_callers_data_is_not_modified():
    design, data = trial(200, seed=8)
    before, assignment = data.copy(), design.assignment.copy()
    analyse_trial(data.iloc[5:], design, yname="sales", covariates=["x2"], alpha=0.1)
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_frame_equal(design.assignment, assignment)


# ------------------------------------------------------------------------------------------- deviations
def _extra_firms(data: pd.DataFrame) -> pd.DataFrame:
    extra = data.iloc[:3].assign(firm_id=["FIRM-90001", "FIRM-90002", "FIRM-90003"])
    return pd.concat([data, extra], ignore_index=True)


DEVIATIONS = [
    ("outcome_not_primary", lambda d: d, {"yname": "sales"},
     r"outcome 'sales' is not the registered primary outcome \('emp'\); it is a registered secondary"),
    ("outcome_not_primary", lambda d: d.assign(other=d["emp"]), {"yname": "other"},
     r"it is not an outcome of the plan"),
    ("covariates_added", lambda d: d, {"covariates": ["emp0", "x1", "x2"]},
     r"covariates \['x2'\] are not in the plan's adjustment set \['emp0', 'x1'\]"),
    ("covariates_dropped", lambda d: d, {"covariates": ["emp0"]},
     r"the plan's covariates \['x1'\] are left out"),
    ("alpha_changed", lambda d: d, {"alpha": 0.1}, r"alpha 0.1 instead of the plan's 0.05"),
    ("n_permutations_changed", lambda d: d, {"n_permutations": 0},
     r"0 randomisation-inference permutations instead of the plan's 19"),
    ("not_in_assignment", _extra_firms, {},
     r"3 firms of the data are not in the assignment; they are excluded"),
    ("missing_from_data", lambda d: d.iloc[5:], {}, r"5 of the 400 assigned firms are missing from the data"),
    ("missing_values", lambda d: d.assign(emp=d["emp"].mask(d.index < 4)), {},
     r"4 assigned firms have missing values \(by column: \{'emp': 4\}\)"),
    ("arm_changed", lambda d: d.assign(arm=d["arm"].mask(d.index < 7, "somewhere else")), {},
     r"7 firms ended up in another arm than assigned \(column 'arm'\)"),
]


@pytest.mark.parametrize(("kind", "change", "kwargs", "match"), DEVIATIONS)
def test_each_deviation_is_listed_alone(kind, change, kwargs, match):
    design, data = trial(400, seed=9)
    res = analyse_trial(change(data), design, **{"yname": "emp", **kwargs})
    assert [d.kind for d in res.deviations] == [kind]
    assert isinstance(res.deviations[0], Deviation)
    assert not res.followed_plan
    message = res.deviations[0].message
    assert re.search(match, message), message
    assert f"Deviation ({kind})" in str(res)
    assert "FIRM-" not in str(res) + json.dumps(res.to_dict())
    assert res.to_dict()["deviations"] == [{"kind": kind, "message": message}]


def test_none_when_the_plan_is_followed_and_all_when_everything_departs():
    design, data = trial(600, seed=10, effects={"grant": 0.4, "loan": 0.8})
    followed = analyse_trial(data, design, yname="emp")
    assert followed.deviations == ()
    assert re.search(r"deviations from the plan\s+none", str(followed))
    changed = _extra_firms(data).iloc[5:].copy()
    changed.loc[changed.index[:4], "sales"] = np.nan
    changed.loc[changed.index[4:10], "arm"] = "control"
    res = analyse_trial(changed, design, yname="sales", covariates=["x1", "x2"], alpha=0.1, n_permutations=9,
                        treatment=["grant"])
    kinds = [d.kind for d in res.deviations]
    assert kinds == [k for k in DEVIATION_KINDS if k != "arm_changed"] + ["arm_changed"]
    assert set(kinds) == set(DEVIATION_KINDS)
    assert res.n_analysed == res.result.n_treated + res.result.n_control
    assert json.loads(json.dumps(res.to_dict()))["followed_plan"] is False


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"yname": "nope"}, DataError, r"column\(s\) \['nope'\] not in `data`"),
    ({"covariates": ["x1", "zz"]}, DataError, r"column\(s\) \['zz'\] not in `data`"),
    ({"covariates": ["x1", 3]}, SpecificationError, r"`covariates` must be a column name or a list"),
    ({"yname": 3}, SpecificationError, r"`yname` must be a column name \(string\); got 3"),
    ({"treatment": "control"}, SpecificationError, r"`treatment` must name treatment arms of the plan "
                                                   r"\['treatment'\] \(control is 'control'\)"),
    ({"treatment": ["bonus"]}, SpecificationError, r"got \['bonus'\]"),
    ({"alpha": 0}, SpecificationError, r"alpha of analyse_trial\(\) must be a number strictly between 0"),
    ({"n_permutations": -5}, SpecificationError, r"`n_permutations` must be a non-negative integer; got -5"),
    ({"seed": "abc"}, SpecificationError, r"`seed` must be a non-negative integer; got 'abc'"),
    ({"zz_unknown": 1}, SpecificationError, r"unknown option\(s\) 'zz_unknown'"),
])
def test_invalid_arguments_are_refused(kwargs, error, match):
    design, data = trial(120, seed=11)
    with pytest.raises(error, match=match):
        analyse_trial(data, design, **{"yname": "emp", **kwargs})


def test_bad_design_and_data_are_refused_without_quoting_firm_ids():
    design, data = trial(120, seed=12)
    with pytest.raises(SpecificationError, match=r"`design` must be the TrialDesign returned by design_tr"):
        analyse_trial(data, design.plan, yname="emp")
    with pytest.raises(DataError, match=r"`data` must be a pandas DataFrame; got 'dict'"):
        analyse_trial(data.to_dict(), design, yname="emp")
    cases = [
        (pd.concat([data, data.iloc[[1, 2]]]), r"'firm_id' has 4 rows sharing 2 duplicated ids"),
        (data.assign(firm_id=np.arange(120)), r"none of the 120 firms of `data` is in the design's assignm"),
        (data.assign(emp=np.nan), r"no assigned firm has complete values of \['emp', 'emp0', 'x1'\]"),
        (data.drop(columns="firm_id"), r"column\(s\) \['firm_id'\] not in `data`"),
    ]
    for frame, match in cases:
        with pytest.raises(DataError, match=match) as info:
            analyse_trial(frame, design, yname="emp")
        assert "FIRM-" not in str(info.value)


def test_an_unregistered_primary_and_a_stratum_lost_to_attrition():
    df = firms(200, seed=13)
    design = design_trial(df, idname="firm_id", strata="sector", seed=13, n_permutations=0)
    arm = df["firm_id"].map(design.assignment.set_index("firm_id")["arm"])
    data = df.assign(emp=df["emp0"] + (arm == "treatment"))
    res = analyse_trial(data, design, yname="emp", arm_col=None)
    assert [d.kind for d in res.deviations] == ["outcome_not_primary"]
    assert "(the plan registered none)" in res.deviations[0].message
    lost = data.loc[~((data["sector"] == "J") & (arm == "treatment"))]
    with pytest.raises(EstimationError, match=r"stratum 'J' of 'strata\(sector\)' has only control firms"):
        analyse_trial(lost, design, yname="emp", arm_col=None)
