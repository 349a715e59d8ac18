"""design_trial(): blocked assignment, clusters, re-randomisation, MDE, balance, the plan and its hashes."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipf_eval.errors import DataError, EstimationWarning, SpecificationError
from ipf_eval.experiments import (
    MIN_CELL_FIRMS,
    PreAnalysisPlan,
    TrialDesign,
    assignment_sha256,
    design_trial,
)


def firms(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "firm_id": [f"FIRM-{i:05d}" for i in range(n)],
        "sector": rng.choice(["C", "G", "J"], size=n, p=[0.5, 0.3, 0.2]),
        "size": rng.choice(["small", "medium"], size=n),
        "emp0": rng.lognormal(2.0, 0.6, size=n),
        "x1": rng.normal(size=n),
        "x2": rng.binomial(1, 0.4, size=n),
    })


def stratified(sizes: list[int], seed: int = 0) -> pd.DataFrame:
    """Firms in strata of the given sizes."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"s{i}" for i in range(len(sizes))], sizes)
    n = labels.size
    return pd.DataFrame({"firm_id": [f"FIRM-{i:05d}" for i in range(n)], "block": rng.permutation(labels),
                         "emp0": rng.normal(10, 2, size=n)})


def clustered(n_clusters: int = 60, seed: int = 0, *, icc: float = 0.3, sizes: tuple[int, int] = (5, 15),
              ) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    m = rng.integers(sizes[0], sizes[1] + 1, size=n_clusters)
    cl = np.repeat(np.arange(n_clusters), m)
    region = np.where(np.arange(n_clusters) % 2 == 0, "north", "south")[cl]
    y = rng.normal(scale=np.sqrt(icc), size=n_clusters)[cl] + rng.normal(scale=np.sqrt(1 - icc), size=cl.size)
    return pd.DataFrame({"firm_id": [f"FIRM-{i:05d}" for i in range(cl.size)], "agency": cl,
                         "region": region, "emp0": y})


def counts_by(design: TrialDesign, by: str) -> pd.DataFrame:
    return design.assignment.groupby([by, "arm"]).size().unstack(fill_value=0)


# ------------------------------------------------------------------------------------------ assignment
def test_assignment_reproducible_from_the_seed_whatever_the_row_order():
    df = firms()
    a = design_trial(df, idname="firm_id", strata=["sector", "size"], seed=11).assignment
    b = design_trial(df, idname="firm_id", strata=["sector", "size"], seed=11).assignment
    shuffled = df.sample(frac=1.0, random_state=5)
    c = design_trial(shuffled, idname="firm_id", strata=["sector", "size"], seed=11).assignment
    other = design_trial(df, idname="firm_id", strata=["sector", "size"], seed=12).assignment
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert (a["arm"] != other["arm"]).mean() > 0.3
    assert list(a.columns) == ["firm_id", "sector", "size", "arm"]
    assert a["firm_id"].is_monotonic_increasing
    assert set(a["firm_id"]) == set(df["firm_id"])


SMALL_STRATA = pytest.mark.filterwarnings("ignore:.*fewer than 2 firms:ipf_eval.errors.EstimationWarning")


@SMALL_STRATA
@pytest.mark.parametrize("seed", range(8))
def test_three_arms_sizes_differ_by_at_most_one_in_every_stratum(seed):
    df = stratified([3, 5, 7, 11, 23, 40], seed=seed)
    d = design_trial(df, idname="firm_id", strata="block", arms=("control", "grant", "loan"), seed=seed)
    c = counts_by(d, "block")
    assert list(c.columns) == ["control", "grant", "loan"]
    assert ((c.max(axis=1) - c.min(axis=1)) <= 1).all()
    assert c.min().min() >= 1
    assert d.plan.n_by_arm == tuple(int(v) for v in c.sum().to_numpy())


@SMALL_STRATA
@pytest.mark.parametrize("seed", range(8))
def test_unequal_shares_counts_within_one_of_quota(seed):
    sizes = [3, 4, 10, 17, 50]
    df = stratified(sizes, seed=seed)
    d = design_trial(df, idname="firm_id", strata="block", shares=(1 / 3, 2 / 3), seed=seed)
    c = counts_by(d, "block")
    n = c.sum(axis=1)
    assert (np.abs(c["control"] - n / 3) < 1).all()
    assert (np.abs(c["treatment"] - 2 * n / 3) < 1).all()


@SMALL_STRATA
def test_no_arm_is_favoured_across_strata():
    """Leftover firms' arms are random: a fixed tie-break would give 400 (or 800) treated firms here."""
    d = design_trial(stratified([3] * 400), idname="firm_id", strata="block", seed=1)
    treated = d.plan.n_by_arm[1]
    assert abs(treated - 600) < 50  # binomial sd 10
    u = design_trial(stratified([4] * 300), idname="firm_id", strata="block", shares=(1 / 3, 2 / 3), seed=2)
    # quota 4/3 and 8/3: the leftover goes to treatment with probability 2/3; expected 800, sd 8.2
    assert abs(u.plan.n_by_arm[1] - 800) < 35


def test_clusters_are_assigned_whole():
    df = clustered(60)
    d = design_trial(df, idname="firm_id", strata="region", cluster="agency", baseline="emp0", seed=4)
    per_cluster = d.assignment.groupby("agency")["arm"].nunique()
    assert (per_cluster == 1).all()
    arm_of = d.assignment.groupby("agency")["arm"].first()
    region_of = d.assignment.groupby("agency")["region"].first()
    by_region = pd.crosstab(region_of, arm_of)
    assert ((by_region["control"] - by_region["treatment"]).abs() <= 1).all()
    assert d.plan.n_clusters == 60
    assert d.plan.vce == "cr1"


def test_the_callers_frame_is_not_modified():
    df = clustered(40)
    df["x1"] = np.linspace(0, 1, len(df))
    before = df.copy()
    design_trial(df, idname="firm_id", strata="region", cluster="agency", baseline="emp0", covariates=["x1"],
                 rerandomise=20, max_smd=0.2, seed=3)
    pd.testing.assert_frame_equal(df, before)


# ------------------------------------------------------------------------------------------------ power
def _bloom(n: float, p: float, sd: float, alpha: float = 0.05, power: float = 0.8,
           deff: float = 1.0) -> float:
    mult = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(mult * np.sqrt(deff * sd**2 / (p * (1 - p) * n)))


@pytest.mark.parametrize("shares", [None, (1 / 3, 2 / 3)])
def test_mde_is_blooms_formula_and_simulated_power_hits_the_target(shares):
    df = firms(400, seed=1)
    d = design_trial(df, idname="firm_id", strata="sector", seed=7, baseline="emp0", yname="emp",
                     shares=shares)
    n0, n1 = d.plan.n_by_arm
    sd = float(df["emp0"].std(ddof=1))
    mde = _bloom(n0 + n1, n1 / (n0 + n1), sd)
    assert d.plan.mde[0] == pytest.approx(mde, rel=1e-12)
    assert d.plan.outcome_sd == pytest.approx(sd, rel=1e-12)
    assert d.plan.r2 == 0.0
    assert d.plan.mde_units == "units of emp0"
    # 2,000 trials of a difference in means with the planned arm sizes and a true effect equal to the MDE
    rng = np.random.default_rng(99)
    reps = 2000
    y0 = rng.normal(0.0, sd, size=(reps, n0))
    y1 = rng.normal(mde, sd, size=(reps, n1))
    se = np.sqrt(y0.var(axis=1, ddof=1) / n0 + y1.var(axis=1, ddof=1) / n1)
    reject = np.abs((y1.mean(axis=1) - y0.mean(axis=1)) / se) > stats.norm.ppf(0.975)
    assert abs(reject.mean() - 0.8) < 3 * np.sqrt(0.8 * 0.2 / reps)


def test_without_baseline_the_mde_is_in_standard_deviations():
    d = design_trial(firms(200), idname="firm_id", seed=1, yname="emp")
    assert d.plan.outcome_sd is None
    assert d.plan.mde[0] == pytest.approx(_bloom(200, 0.5, 1.0), rel=1e-12)
    assert "standard deviations" in d.plan.mde_units
    assert "expressed in standard deviations" in d.plan.as_markdown()


def _anova_icc(y: pd.Series, g: pd.Series) -> float:
    """The one-way ANOVA estimator written out independently of the package."""
    groups = y.groupby(g)
    n_j, means = groups.size().to_numpy(float), groups.mean().to_numpy()
    N, J = n_j.sum(), n_j.size
    msb = np.sum(n_j * (means - y.mean()) ** 2) / (J - 1)
    msw = np.sum((y - g.map(groups.mean())) ** 2) / (N - J)
    n0 = (N - np.sum(n_j**2) / N) / (J - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


def test_icc_estimator_recovers_a_known_icc_with_unequal_clusters():
    df = clustered(400, seed=8, icc=0.3, sizes=(3, 20))
    d = design_trial(df, idname="firm_id", cluster="agency", baseline="emp0", seed=1)
    assert d.plan.icc == pytest.approx(_anova_icc(df["emp0"], df["agency"]), rel=1e-10)
    assert abs(d.plan.icc - 0.3) < 0.05
    assert "ANOVA" in d.plan.icc_source


def test_clustered_mde_matches_the_design_effect_formula():
    df = clustered(80, seed=2, icc=0.2, sizes=(10, 10))
    d = design_trial(df, idname="firm_id", strata="region", cluster="agency", baseline="emp0", seed=5)
    rho = d.plan.icc
    clusters = d.assignment.groupby("agency")["arm"].first()
    p = float((clusters == "treatment").mean())
    deff = 1 + (10 - 1) * rho
    mde = _bloom(len(df), p, float(df["emp0"].std(ddof=1)), deff=deff)
    assert d.plan.mde[0] == pytest.approx(mde, rel=1e-12)
    assert d.power_results[0].design_effect == pytest.approx(deff, rel=1e-12)
    assumed = design_trial(df, idname="firm_id", cluster="agency", icc=0.05, seed=5)
    assert assumed.plan.icc == 0.05
    assert assumed.plan.icc_source.startswith("assumed")


# ---------------------------------------------------------------------------------------- rerandomisation
def test_rerandomisation_meets_a_strict_rule_and_records_it():
    df = firms(400, seed=3)
    kw = dict(idname="firm_id", strata="sector", baseline="emp0", covariates=["x1", "x2"], rerandomise=300,
              max_smd=0.03, seed=21)
    d = design_trial(df, **kw)
    again = design_trial(df, **kw)
    p = d.plan
    assert p.balance_met is True
    assert p.rerandomise == 300
    assert p.max_smd == 0.03
    assert 1 <= p.draws_used <= 301
    assert p.max_abs_smd <= 0.03
    assert d.balance["smd"].abs().max() <= 0.03 + 1e-12
    pd.testing.assert_frame_equal(d.assignment, again.assignment)
    assert again.plan.draws_used == p.draws_used
    single = design_trial(df, **{**kw, "rerandomise": 0})
    assert single.plan.balance_met is None
    assert single.plan.draws_used == 1
    if p.draws_used > 1:  # the first draw was rejected, so it is the single-draw assignment
        assert single.plan.max_abs_smd > 0.03
    md = p.as_markdown()
    assert "Morgan & Rubin 2012" in md
    assert "Inference must respect this rule" in md


def test_a_rule_that_cannot_be_met_warns_and_keeps_the_best_draw():
    df = firms(100)
    with pytest.warns(EstimationWarning, match=r"no draw of 4 met max \|SMD\| <= 1e-06"):
        d = design_trial(df, idname="firm_id", covariates=["x1"], rerandomise=3, max_smd=1e-6, seed=0)
    assert d.plan.balance_met is False
    assert d.plan.draws_used == 4
    assert any("not met" in n for n in d.notes)


# ------------------------------------------------------------------------------------------ plan and hashes
def _mutate(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.001
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return (*value, value[0]) if value else ("extra",)
    return "changed"  # None


def test_the_plan_hash_is_stable_and_changes_with_every_field():
    df = clustered(40)
    kw = dict(idname="firm_id", strata="region", cluster="agency", baseline="emp0", yname="emp",
              secondary=["sales"], seed=3)
    plan = design_trial(df, **kw).plan
    assert design_trial(df, **kw).plan.sha256 == plan.sha256
    assert plan.sha256 == hashlib.sha256(plan.canonical_json().encode("utf-8")).hexdigest()
    content = {k: v for k, v in plan.to_dict().items() if k != "sha256"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    assert plan.sha256 == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    names = [f.name for f in dataclasses.fields(PreAnalysisPlan) if f.name != "sha256"]
    seen = {plan.sha256}
    for name in names:
        changed = dataclasses.replace(plan, **{name: _mutate(getattr(plan, name))})
        assert changed.sha256 not in seen, name
        seen.add(changed.sha256)
    assert len(seen) == len(names) + 1
    assert dataclasses.replace(plan).sha256 == plan.sha256


def test_the_assignment_hash_follows_the_documented_canonical_form():
    df = firms(150).sample(frac=1.0, random_state=0)  # rows out of order
    d = design_trial(df, idname="firm_id", strata="sector", seed=9)
    pairs = sorted(zip(d.assignment["firm_id"], d.assignment["arm"], strict=True))
    text = "firm_id,arm\n" + "".join(f"{i},{a}\n" for i, a in pairs)
    assert d.plan.assignment_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert assignment_sha256(d.assignment.iloc[::-1], idname="firm_id") == d.plan.assignment_sha256
    numeric = design_trial(df.assign(firm_id=np.arange(150) * 7 % 151), idname="firm_id", seed=9)
    pairs = sorted(zip(numeric.assignment["firm_id"], numeric.assignment["arm"], strict=True))
    text = "firm_id,arm\n" + "".join(f"{i},{a}\n" for i, a in pairs)
    assert numeric.plan.assignment_sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_plan_texts_hold_no_firm_identifier_and_html_is_escaped():
    df = firms(200)
    d = design_trial(df, idname="firm_id", strata=["sector", "size"], baseline="emp0", covariates=["x1"],
                     yname="emp", rerandomise=10, max_smd=0.2, seed=2, title="<b>R&D</b> grants")
    plan = d.plan
    texts = [plan.as_markdown(), plan.as_html(), json.dumps(plan.to_dict()), json.dumps(d.to_dict()),
             str(d), d.summary().as_html(), d.to_frame().to_csv()]
    assert not [t for t in texts if "FIRM-" in t]
    html = plan.as_html()
    assert "&lt;b&gt;R&amp;D&lt;/b&gt;" in html
    assert "<b>R&D" not in html
    assert plan.as_markdown().startswith("# <b>R&D</b> grants")
    for section in ("Hypotheses", "Outcomes", "Randomisation", "Power", "Analysis", "Registration"):
        assert f"## {section}" in plan.as_markdown()
    assert plan.hypotheses == ("H1: assignment to 'treatment' rather than 'control' changes emp (two-sided "
                               "test of a zero intention-to-treat effect at alpha = 0.05).",)
    assert plan.assignment_sha256 in plan.as_markdown()
    assert plan.sha256 in html


def test_the_balance_table_is_per_arm_and_suppresses_small_arms():
    df = firms(200)
    d = design_trial(df, idname="firm_id", strata="sector", baseline="emp0", covariates=["x1"], seed=1)
    b = d.to_frame()
    assert list(b.columns) == ["variable", "arm", "n_firms", "mean", "difference", "smd", "suppressed"]
    assert len(b) == 4
    assert not b["suppressed"].any()
    arms = d.assignment["arm"]
    treated = df.set_index("firm_id").loc[d.assignment.loc[arms == "treatment", "firm_id"], "emp0"]
    control = df.set_index("firm_id").loc[d.assignment.loc[arms == "control", "firm_id"], "emp0"]
    row = b[(b["variable"] == "emp0") & (b["arm"] == "treatment")].iloc[0]
    assert row["mean"] == pytest.approx(treated.mean(), rel=1e-12)
    assert row["difference"] == pytest.approx(treated.mean() - control.mean(), rel=1e-12)
    pooled = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2)
    assert row["smd"] == pytest.approx((treated.mean() - control.mean()) / pooled, rel=1e-10)
    small = design_trial(firms(60), idname="firm_id", arms=("control", "a", "b"), shares=(0.1, 0.45, 0.45),
                         baseline="emp0", seed=1)
    t = small.balance
    assert small.plan.n_by_arm[0] < MIN_CELL_FIRMS
    assert t.loc[t["arm"] == "control", "mean"].isna().all()
    assert t["difference"].isna().all()
    assert t.loc[t["arm"] == "a", "mean"].notna().all()
    assert t.loc[t["arm"] != "control", "suppressed"].all()
    assert any("suppressed" in n for n in small.notes)


def test_to_dict_is_json_and_summary_displays():
    d = design_trial(firms(120), idname="firm_id", arms=("control", "grant", "loan"), baseline="emp0", seed=0)
    out = json.loads(json.dumps(d.to_dict()))
    assert out["plan"]["sha256"] == d.plan.sha256
    assert len(out["plan"]["mde"]) == 2
    assert "MDE loan vs control" in str(d)
    assert "<table" in d._repr_html_()
    assert "Holm" in d.plan.as_markdown()
    assert isinstance(d.plan, PreAnalysisPlan)
    assert d.specification.seed == 0


# ---------------------------------------------------------------------------------------------- errors
BASE = dict(idname="firm_id", seed=1)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"strata": ["sector", "nope"]}, DataError, r"column\(s\) \['nope'\] not in `frame`"),
    ({"shares": (0.3, 0.3)}, SpecificationError, r"positive and sum to 1; got \(0.3, 0.3\)"),
    ({"shares": (0.2, 0.3, 0.5)}, SpecificationError, r"one share per arm \(2 arms"),
    ({"shares": (1.2, -0.2)}, SpecificationError, r"positive and sum to 1"),
    ({"shares": "half"}, SpecificationError, r"one share per arm"),
    ({"arms": ("control",)}, SpecificationError, r"`arms` must be two or more distinct"),
    ({"arms": ("a", "a")}, SpecificationError, r"`arms` must be two or more distinct"),
    ({"arms": "control"}, SpecificationError, r"`arms` must be two or more distinct"),
    ({"alpha": 5}, SpecificationError, r"alpha of design_trial\(\) must be a number strictly between"),
    ({"power": 1.2}, SpecificationError, r"`power` must be a number strictly between 0.025 and 1; got 1.2"),
    ({"power": 0.01}, SpecificationError, r"`power` must be a number strictly between 0.025"),
    ({"seed": -1}, SpecificationError, r"`seed` must be an integer >= 0; got -1"),
    ({"seed": 1.5}, SpecificationError, r"`seed` must be an integer >= 0; got 1.5"),
    ({"rerandomise": -2}, SpecificationError, r"`rerandomise` must be an integer >= 0; got -2"),
    ({"rerandomise": 5}, SpecificationError, r"needs balance variables; give `covariates` or `baseline`"),
    ({"max_smd": 0, "covariates": ["x1"]}, SpecificationError, r"`max_smd` must be a number strictly"),
    ({"n_permutations": -1}, SpecificationError, r"`n_permutations` must be an integer >= 0"),
    ({"icc": 1.5, "cluster": "sector"}, SpecificationError, r"`icc` must be a number in \[0, 1\]; got 1.5"),
    ({"cluster": "sector"}, SpecificationError, r"needs the intra-cluster correlation"),
    ({"strata": ["sector", 3]}, SpecificationError, r"`strata` must be a column name or a list"),
    ({"yname": 3}, SpecificationError, r"`yname` must be a string or None; got 3"),
    ({"idname": 3}, SpecificationError, r"`idname` must be a column name \(string\); got 3"),
    ({"strata": "arm"}, SpecificationError, r"'arm' is the name of the assignment's arm column"),
    ({"covariates": ["sector"]}, DataError, r"balance variable 'sector' must be numeric"),
    ({"zz_unknown": 1}, SpecificationError, r"unknown option\(s\) 'zz_unknown'"),
])
def test_invalid_arguments_are_refused(kwargs, error, match):
    df = firms(60)
    if "arm" in kwargs.values():
        df = df.assign(arm=df["sector"])
    with pytest.raises(error, match=match):
        design_trial(df, **{**BASE, **kwargs})


def test_bad_data_is_refused_without_quoting_firm_ids():
    df = firms(60)
    cases = [
        (pd.concat([df, df.iloc[[3, 7]]]), {}, r"2 duplicated ids; the frame must hold one row per firm"),
        (df.assign(firm_id=df["firm_id"].mask(df.index < 2)), {}, r"'firm_id' has 2 missing values"),
        (df.assign(sector=df["sector"].mask(df.index < 3)), {"strata": "sector"},
         r"column 'sector' has 3 missing values"),
        (df.assign(x1=df["x1"].mask(df.index < 4)), {"covariates": "x1"},
         r"balance variable 'x1' has 4 missing values"),
        (df.assign(emp0=1.0), {"baseline": "emp0"}, r"baseline column 'emp0' is constant over all 60 firms"),
        (df.head(30), {"strata": ["sector", "size"], "arms": ("c", "a", "b", "d", "e")},
         r"3 of 6 strata have fewer than 5 firms \(smallest: 4\), too few to give each arm at least one"),
    ]
    for frame, kwargs, match in cases:
        with pytest.raises(DataError, match=match) as info:
            design_trial(frame, **{**BASE, **kwargs})
        assert "FIRM-" not in str(info.value)
    with pytest.raises(DataError, match=r"`frame` must be a pandas DataFrame"):
        design_trial(df.to_dict(), **BASE)


def test_strata_varying_within_a_cluster_are_refused():
    df = clustered(20)
    df["size"] = np.where(df.index % 3 == 0, "small", "medium")
    with pytest.raises(DataError, match=r"strata \['size'\] vary within \d+ clusters of 'agency'"):
        design_trial(df, idname="firm_id", strata="size", cluster="agency", baseline="emp0", seed=1)


def test_a_stratum_arm_of_one_firm_warns():
    with pytest.warns(EstimationWarning, match=r"1 strata give some arm fewer than 2 firms"):
        design_trial(stratified([3, 20]), idname="firm_id", strata="block", seed=1)


def test_assignment_sha256_needs_its_columns():
    with pytest.raises(DataError, match=r"column\(s\) \['arm'\] not in the assignment"):
        assignment_sha256(firms(10), idname="firm_id")
