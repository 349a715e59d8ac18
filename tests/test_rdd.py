"""rdd(): rdrobust pass-through on the Senate data, simulated sharp/fuzzy designs, calls, diagnostics."""

from __future__ import annotations

import json
import types
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.discontinuity import density_test, rdd
from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError

matplotlib.use("Agg")
rdrobust_pkg = pytest.importorskip("rdrobust")
pytest.importorskip("rddensity")

REF = Path(__file__).parent / "reference" / "rdrobust" / "senate.json"


@pytest.fixture(scope="module")
def senate() -> pd.DataFrame:
    from rdrobust.datasets import rdrobust_RDsenate

    return rdrobust_RDsenate()


@pytest.fixture(scope="module")
def senate_fit(senate):
    with pytest.warns(DataWarning, match=r"dropped 93 of 1390 rows with missing values in \['vote'\]"):
        return rdd(senate, yname="vote", scorename="margin", cutoff=0, sensitivity=(0.5, 1.0, 2.0))


def test_senate_passes_rdrobust_through(senate, senate_fit):
    from rdrobust import rdrobust

    direct = rdrobust(senate.vote, senate.margin)
    tab = senate_fit.table.set_index("term")
    assert tab.loc["conventional", "estimate"] == direct.coef.iloc[0, 0]
    assert tab.loc["conventional", "std_error"] == direct.se.iloc[0, 0]
    assert tab.loc["robust", "estimate"] == direct.coef.iloc[2, 0]
    assert tab.loc["robust", "std_error"] == direct.se.iloc[2, 0]
    assert tab.loc["robust", "ci_low"] == direct.ci.iloc[2, 0]
    assert tab.loc["robust", "ci_high"] == direct.ci.iloc[2, 1]
    assert tab.loc["robust", "p_value"] == direct.pv.iloc[2, 0]


def test_senate_reference_values(senate_fit):
    ref = json.loads(REF.read_text())
    tab = senate_fit.table.set_index("term")
    for term in ("conventional", "robust"):
        for col in ("estimate", "std_error", "ci_low", "ci_high"):
            assert tab.loc[term, col] == pytest.approx(ref[term][col], abs=5e-7), (term, col)
    assert senate_fit.estimate == pytest.approx(7.4141, abs=5e-5)  # the documented conventional estimate
    assert senate_fit.h[0] == pytest.approx(ref["h"], abs=5e-7)
    assert senate_fit.b[0] == pytest.approx(ref["b"], abs=5e-7)
    assert (senate_fit.n_left, senate_fit.n_right) == (ref["n_left"], ref["n_right"])
    assert (senate_fit.n_eff_left, senate_fit.n_eff_right) == (ref["n_eff_left"], ref["n_eff_right"])
    assert senate_fit.specification.n_obs == ref["n_obs"]
    # density test on all 1,390 margins (missing outcomes do not matter for it)
    assert senate_fit.density.statistic == pytest.approx(ref["density"]["t_jk"], abs=5e-7)
    assert senate_fit.density.p_value == pytest.approx(ref["density"]["p_jk"], abs=5e-7)
    assert senate_fit.density.n_left + senate_fit.density.n_right == 1390


def test_density_test_public_function(senate):
    ref = json.loads(REF.read_text())
    res = density_test(senate, scorename="margin", cutoff=0.0)
    assert res.p_value == pytest.approx(ref["density"]["p_jk"], abs=5e-7)
    assert res.to_frame().loc[0, "term"] == "density_jump"
    assert res.plot().get_xlabel() == "score minus threshold"
    json.dumps(res.to_dict())
    assert "Manipulation" in res.summary().as_text()


def test_senate_result_api(senate, senate_fit):
    before = senate.copy()
    assert list(senate_fit.sensitivity["multiple"]) == [0.5, 1.0, 2.0]
    row = senate_fit.sensitivity.set_index("multiple").loc[1.0]
    assert row["estimate"] == pytest.approx(senate_fit.estimate, rel=1e-6)  # h at its selected value
    ax = senate_fit.plot()
    assert ax.get_xlabel() == "bandwidth (score units)"
    text = senate_fit.summary().as_text()
    assert "density test p-value" in text
    json.dumps(senate_fit.to_dict())
    assert list(senate_fit.to_frame()["ci_kind"]) == ["conventional", "robust"]
    pd.testing.assert_frame_equal(senate, before)


def scored(n: int = 3000, seed: int = 0, *, fuzzy: bool = False, effect: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.uniform(30, 90, n)
    above = score >= 60
    got = np.where(rng.random(n) < np.where(above, 0.8, 0.1), 1, 0) if fuzzy else above.astype(int)
    age = rng.normal(10, 3, n)  # smooth in the score: no jump
    y = (
        1.0
        + 0.05 * (score - 60)
        + 0.01 * (score - 60) ** 2 / 10
        + effect * got
        + 0.1 * age
        + rng.normal(size=n)
    )
    return pd.DataFrame({"y": y, "score": score, "got": got, "age": age})


def test_sharp_recovery_and_covariate_balance():
    df = scored()
    res = rdd(df, yname="y", scorename="score", cutoff=60, covariates=["age"], sensitivity=())
    lo, hi = res.ci_robust
    assert lo < 2.0 < hi
    assert not res.fuzzy
    assert res.covariate_balance.loc[0, "covariate"] == "age"
    assert res.covariate_balance.loc[0, "p_value"] > 0.01
    assert res.density is not None
    assert res.density.p_value > 0.01  # uniform scores: no manipulation


def test_fuzzy_recovery():
    df = scored(6000, 1, fuzzy=True)
    res = rdd(df, yname="y", scorename="score", cutoff=60, takeup="got", density=False, sensitivity=())
    assert res.fuzzy
    lo, hi = res.ci_robust
    assert lo < 2.0 < hi
    assert hi - lo < 3.0


def test_calls_are_centred_per_call():
    a, b = scored(1500, 2), scored(1500, 3)
    b = b.assign(score=b.score + 8.0)  # second call: threshold 68
    df = pd.concat([a.assign(call="2019", thr=60.0), b.assign(call="2020", thr=68.0)], ignore_index=True)
    res = rdd(df, yname="y", scorename="score", cutoff="thr", call="call", density=False, sensitivity=())
    manual = rdd(
        df.assign(c=df.score - df.thr), yname="y", scorename="c", cutoff=0.0, density=False, sensitivity=()
    )
    pd.testing.assert_frame_equal(res.table, manual.table)
    lo, hi = res.ci_robust
    assert lo < 2.0 < hi


def test_manipulation_detected():
    rng = np.random.default_rng(4)
    score = rng.uniform(30, 90, 3000)
    bump = rng.uniform(60, 62, 500)  # applicants pushed just over the threshold
    df = pd.DataFrame({"score": np.r_[score, bump]})
    res = density_test(df, scorename="score", cutoff=60)
    assert res.p_value < 0.01
    assert res.density_right > res.density_left


def test_rdrobust_messages_become_warnings():
    df = scored(3000, 5).assign(score=lambda d: np.round(d.score))  # integer scores: mass points
    with pytest.warns(EstimationWarning, match=r"rdrobust reported for the outcome: Mass points detected"):
        res = rdd(df, yname="y", scorename="score", cutoff=60, density=False, sensitivity=())
    assert any("Mass points" in n for n in res.notes)


def test_density_failure_is_a_warning(monkeypatch):
    import ipf_eval.discontinuity.density as dens

    def boom(**_: object) -> None:
        raise Exception("too few unique values")

    monkeypatch.setattr(dens.importlib, "import_module", lambda name: types.SimpleNamespace(rddensity=boom))
    with pytest.warns(
        EstimationWarning,
        match=r"density test could not be computed: density test: rddensity "
        r"failed \(too few unique values\)",
    ):
        res = rdd(scored(800, 6), yname="y", scorename="score", cutoff=60, sensitivity=())
    assert res.density is None
    nan_res = types.SimpleNamespace(test={"t_jk": np.nan, "p_jk": np.nan})
    monkeypatch.setattr(
        dens.importlib, "import_module", lambda name: types.SimpleNamespace(rddensity=lambda **_: nan_res)
    )
    with pytest.raises(EstimationError, match=r"rddensity returned a non-finite statistic"):
        density_test(scored(800, 6), scorename="score", cutoff=60)


def test_bad_input():
    df = scored(600, 7)
    kw = {"yname": "y", "scorename": "score", "density": False, "sensitivity": ()}
    with pytest.raises(
        SpecificationError,
        match=r"threshold 100\.0 is outside the range of 'score' \[30\.\d+, "
        r"89\.\d+\]",
    ):
        rdd(df, cutoff=100, **kw)
    two = pd.concat([df.assign(call="a", thr=60.0), df.assign(call="b", thr=95.0)], ignore_index=True)
    with pytest.raises(SpecificationError, match=r"threshold 95\.0 in call 'b' is outside the range"):
        rdd(two, cutoff="thr", call="call", **kw)
    two.loc[0, "thr"] = 61.0
    with pytest.raises(DataError, match=r"the threshold 'thr' takes 2 values in call 'a'"):
        rdd(two, cutoff="thr", call="call", **kw)
    with pytest.raises(
        EstimationError,
        match=r"with `bandwidth`=0\.01 there are \d+ firms below and \d+ at or "
        r"above the threshold inside the bandwidth",
    ):
        rdd(df, cutoff=60, bandwidth=0.01, **kw)
    with pytest.raises(DataError, match=r"column 'got' must be coded 0/1"):
        rdd(df.assign(got=df.got * 2), cutoff=60, takeup="got", **kw)
    with pytest.raises(SpecificationError, match=r"`kernel` must be one of"):
        rdd(df, cutoff=60, kernel="gaussian", **kw)
    with pytest.raises(SpecificationError, match=r"`p` must be an integer from 0 to 4"):
        rdd(df, cutoff=60, p=7, **kw)
    with pytest.raises(SpecificationError, match=r"`bwselect` must be one of"):
        rdd(df, cutoff=60, bwselect="ik", **kw)
    with pytest.raises(SpecificationError, match=r"`vce` must be one of"):
        rdd(df, cutoff=60, vce="hc9", **kw)
    with pytest.raises(SpecificationError, match=r"`bandwidth` must be a positive number or None; got -2"):
        rdd(df, cutoff=60, bandwidth=-2, **kw)
    with pytest.raises(SpecificationError, match=r"`sensitivity` must hold positive multiples"):
        rdd(df, cutoff=60, yname="y", scorename="score", sensitivity=(0.0,))
    with pytest.raises(
        SpecificationError, match=r"`cutoff` must be a number or the name of a threshold column"
    ):
        rdd(df, cutoff=[60], **kw)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        rdd(df, cutoff=60, covariates=["nope"], **kw)
    with pytest.raises(DataError, match=r"column\(s\) \['thr'\] not found"):
        rdd(df, cutoff="thr", **kw)
    with pytest.raises(DataError, match=r"score 'score' must be numeric"):
        rdd(df.assign(score="x"), cutoff=60, **kw)
    with pytest.raises(DataError, match=r"outcome 'y' must be numeric"):
        rdd(df.assign(y="x"), cutoff=60, **kw)
    with pytest.raises(DataError, match=r"covariate 'lab' must be numeric for the balance check"):
        rdd(df.assign(lab="a"), cutoff=60, covariates=["lab"], **kw)
    with pytest.raises(DataError, match=r"`data` must be a pandas DataFrame"):
        rdd([1], cutoff=60, **kw)  # type: ignore[arg-type]
    with (
        pytest.raises(DataError, match=r"no rows left after dropping missing values"),
        pytest.warns(DataWarning),
    ):
        rdd(df.assign(score=np.nan), cutoff=60, **kw)
    gone = df.assign(y=np.where(df.score >= 60, np.nan, df.y))
    with (
        pytest.warns(DataWarning, match=r"dropped \d+ of 600 rows"),
        pytest.raises(EstimationError, match=r"no firm is left on one side of the threshold"),
    ):
        rdd(gone, cutoff=60, **kw)
    tiny = df.iloc[:12]
    with pytest.raises(EstimationError, match=r"rdrobust failed for the outcome"):
        rdd(tiny.assign(score=np.r_[np.full(6, 50.0), np.full(6, 70.0)]), cutoff=60, **kw)


def test_recovery_on_simulated_scored_call():
    """simulate_firms' R&D grant (scored calls, sharp at each call's published threshold): the robust interval
    of the RDD on the change in log employment since the year before the call covers the true effect at
    the threshold (pooled over countries, weighted by applicants in the truth's band) at event times 0-2."""
    from ipf_eval.data.simulate import simulate_firms

    sim = simulate_firms(seed=3, n_firms=40_000, instruments=["rd_grant"])
    p = sim.panel[sim.panel["instrument"] == "rd_grant"]
    p = p.assign(e=p["year"] - p["application_year"], call=p["country"] + p["application_year"].astype(str))
    pre = p[p["e"] == -1].set_index("firm_id")["log_employment"].rename("pre")
    th = sim.truth.threshold
    for e in (0, 1, 2):
        q = p[p["e"] == e].join(pre, on="firm_id")
        q = q.assign(growth=q["log_employment"] - q["pre"]).dropna(subset=["growth"])
        t = th[(th["outcome"] == "log_employment") & (th["event_time"] == e)]
        truth = float(np.average(t["effect_at_threshold"], weights=t["n_in_band"]))
        res = rdd(
            q,
            yname="growth",
            scorename="score",
            cutoff="threshold",
            call="call",
            density=False,
            sensitivity=(),
        )
        lo, hi = res.ci_robust
        assert lo < truth < hi, (e, truth, lo, hi)
        assert truth > 0.03  # a real effect, not a trivially covered zero


def test_density_test_bad_input_and_clustered_rdd():
    with pytest.raises(DataError, match=r"density_test\(\): `data` must be a pandas DataFrame"):
        density_test([1, 2], scorename="score", cutoff=60)  # type: ignore[arg-type]
    df = scored(2000, 8).assign(grp=lambda d: np.arange(len(d)) % 100)
    plain = rdd(df, yname="y", scorename="score", cutoff=60, density=False, sensitivity=())
    clustered = rdd(df, yname="y", scorename="score", cutoff=60, cluster="grp", density=False, sensitivity=())
    from rdrobust import rdrobust

    direct = rdrobust(df.y, df.score, c=60, cluster=df.grp, vce="cr1")
    assert clustered.table.loc[1, "std_error"] == pytest.approx(direct.se.iloc[2, 0], rel=1e-12)
    assert clustered.table.loc[1, "std_error"] != plain.table.loc[1, "std_error"]


def test_a_jump_without_sampling_variability_is_an_error_not_a_division_by_zero():
    """Take-up that is exactly 0 below and 1 above the threshold has a standard error of zero."""
    x = np.linspace(-10, 10, 400)
    data = pd.DataFrame({"score": x, "used": (x >= 0).astype(float)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EstimationWarning)  # rdrobust's own division by zero, reported
        with pytest.raises(EstimationError, match="error of the jump in 'used' is zero"):
            rdd(data, yname="used", scorename="score", cutoff=0.0, bandwidth=5.0, density=False,
                sensitivity=())
