"""Bad input to the weighting estimators: typed errors and warnings with useful messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.weighting import aipw, balance, conditional_did, ipw, match, overlap
from ipf_eval.weighting import ipw as ipw_module_fn
from ipf_eval.weighting import propensity as prop_mod
from ipf_eval.weighting.propensity import LogitFit

ipw_mod = __import__("ipf_eval.weighting.ipw", fromlist=["prepare_weighting"])


def data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.5).astype(float)
    d = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * x1 - 0.3)))).astype(int)
    return pd.DataFrame(
        {
            "y": x1 + d + rng.normal(size=n),
            "d": d,
            "x1": x1,
            "x2": x2,
            "sector": rng.choice(["a", "b"], size=n),
        }
    )


ESTIMATORS = [ipw, aipw, match]


@pytest.mark.parametrize("f", ESTIMATORS)
def test_every_firm_treated(f):
    df = data().assign(d=1)
    with pytest.raises(EstimationError, match=r"every firm has treatname='d' equal to 1 \(400 of 400 rows\)"):
        f(df, yname="y", treatname="d", covariates=["x1"])


@pytest.mark.parametrize("f", ESTIMATORS)
def test_treatment_not_binary(f):
    df = data().assign(d=lambda x: x["d"] * 2)
    with pytest.raises(DataError, match=r"column 'd' must be coded 0/1 \(or boolean\); found \d+ of 400 rows "
                       r"with other values \(1 distinct value\(s\) other than 0 and 1"):
        f(df, yname="y", treatname="d", covariates=["x1"])
    df2 = data().assign(d=lambda x: np.where(x["d"] == 1, "yes", "no"))
    with pytest.raises(DataError, match=r"column 'd' must be coded 0/1 \(or boolean\); it has dtype .* "
                       r"and 400 of its 400 rows are not numbers"):
        f(df2, yname="y", treatname="d", covariates=["x1"])


def test_perfect_separation_names_covariate():
    df = data()
    df["score"] = df["d"] * 10.0 + np.random.default_rng(1).random(len(df))  # treated all above 10
    with pytest.raises(
        EstimationError,
        match=r"perfect separation.*covariate 'score' \(the treated and comparison "
        r"ranges do not overlap\).*Remedy",
    ):
        ipw(df, yname="y", treatname="d", covariates=["x1", "score"])
    df["flag"] = 0.0
    df.loc[df.index[(df["d"] == 1).to_numpy()][:5], "flag"] = 1.0  # flag = 1 only for treated firms
    with pytest.raises(
        EstimationError,
        match=r"covariate 'flag' \(every firm with flag=1 is among the treated; "
        r"5 firms\)",
    ):
        aipw(df, yname="y", treatname="d", covariates=["x1", "flag"])


def test_separation_by_a_combination_of_covariates():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=300), rng.normal(size=300)
    df = pd.DataFrame({"y": rng.normal(size=300), "d": (a + b > 0).astype(int), "a": a, "b": b})
    with pytest.raises(EstimationError, match=r"quasi-perfect\) separation.*No single covariate separates"):
        match(df, yname="y", treatname="d", covariates=["a", "b"])


def test_no_overlap_after_fit(monkeypatch):
    df = data()
    d = df["d"].to_numpy(float)
    fake = LogitFit(
        coef=np.zeros(2),
        names=("const", "x1"),
        Z=np.ones((len(df), 2)),
        ps=np.where(d == 1, 0.9, 0.1),
        hessian_inv=np.eye(2),
    )
    monkeypatch.setattr(ipw_mod, "fit_logit", lambda *a, **k: fake)
    with pytest.raises(
        EstimationError,
        match=r"no overlap: the propensity scores of treated firms lie in "
        r"\[0\.9000, 0\.9000\]",
    ):
        ipw(df, yname="y", treatname="d", covariates=["x1"])
    with (
        pytest.warns(EstimationWarning, match="trimming"),
        pytest.raises(EstimationError, match=r"no treated or no comparison firm is left after trimming"),
    ):
        ipw(df, yname="y", treatname="d", covariates=["x1"], trim=0.15)


def test_logit_not_converging(monkeypatch):
    monkeypatch.setattr(prop_mod, "_newton_logit", lambda Z, d: (np.zeros(Z.shape[1]), False))
    with pytest.raises(EstimationError, match=r"logit did not converge with covariates \['x1'\]; rescale"):
        ipw(data(), yname="y", treatname="d", covariates=["x1"])


def test_collinear_covariates():
    df = data().assign(x3=lambda x: 2 * x["x1"])
    with pytest.raises(EstimationError, match=r"collinear \(rank 2 < 3 columns"):
        aipw(df, yname="y", treatname="d", covariates=["x1", "x3"])


def test_aipw_singular_outcome_regression(monkeypatch):
    df = data()
    df["z"] = np.where(df["d"] == 1, np.random.default_rng(2).normal(size=len(df)), 0.0)
    d = df["d"].to_numpy(float)
    Z = np.column_stack([np.ones(len(df)), df["z"]])
    fake = LogitFit(
        coef=np.zeros(2), names=("const", "z"), Z=Z, ps=np.full(len(df), d.mean()), hessian_inv=np.eye(2)
    )
    monkeypatch.setattr(ipw_mod, "fit_logit", lambda *a, **k: fake)
    with pytest.raises(EstimationError, match=r"outcome regression on comparison firms is singular"):
        aipw(df, yname="y", treatname="d", covariates=["z"])


def test_missing_values_dropped_with_count_and_missing_column():
    df = data()
    df.loc[df.index[:7], "x1"] = np.nan
    with pytest.warns(
        DataWarning, match=r"dropped 7 of 400 rows with missing values \(by column: \{'x1': 7\}\)"
    ):
        r = ipw(df, yname="y", treatname="d", covariates=["x1"])
    assert r.specification.dropped[0].n_rows == 7
    with pytest.raises(DataError, match=r"column\(s\) \['nope'\] not found"):
        ipw(df, yname="y", treatname="d", covariates=["nope"])
    with pytest.raises(DataError, match=r"`data` must be a pandas DataFrame; got 'dict'"):
        ipw({"a": 1}, yname="y", treatname="d", covariates=["x1"])  # type: ignore[arg-type]


def test_bad_covariate_types_and_values():
    df = data().assign(when=pd.Timestamp("2020-01-01"))
    with pytest.raises(DataError, match=r"covariate 'when' has dtype"):
        ipw(df, yname="y", treatname="d", covariates=["when"])
    with pytest.raises(DataError, match=r"categorical covariate 'one' takes a single value"):
        ipw(data().assign(one="a"), yname="y", treatname="d", covariates=["one"])
    with pytest.raises(DataError, match=r"covariates contain infinite values"):
        ipw(data().assign(x1=np.inf), yname="y", treatname="d", covariates=["x1"])
    with pytest.raises(DataError, match=r"outcome 'y' contains infinite values"):
        ipw(data().assign(y=np.inf), yname="y", treatname="d", covariates=["x1"])
    with pytest.raises(DataError, match=r"outcome 'sector' must be numeric"):
        ipw(data(), yname="sector", treatname="d", covariates=["x1"])


def test_specification_errors():
    df = data()
    kw = {"yname": "y", "treatname": "d", "covariates": ["x1"]}
    with pytest.raises(
        SpecificationError, match=r"`trim` must be 'none', 'crump' or a number in \(0, 0\.5\); got 'x'"
    ):
        ipw(df, **kw, trim="x")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"`trim` must be .* got 0\.7"):
        aipw(df, **kw, trim=0.7)
    with pytest.raises(SpecificationError, match=r"alpha of ipw\(\) must be a number strictly .*; got 1\.5"):
        ipw(df, **kw, alpha=1.5)
    with pytest.raises(SpecificationError, match=r"`covariates` is empty"):
        ipw(df, yname="y", treatname="d", covariates=[])
    with pytest.raises(SpecificationError, match=r"`covariates` must be column names \(strings\); got \[3\]"):
        ipw(df, yname="y", treatname="d", covariates=[3])  # type: ignore[list-item]
    with pytest.raises(SpecificationError, match=r"`estimand` must be 'att'.*got 'ate'"):
        match(df, **kw, estimand="ate")
    with pytest.raises(SpecificationError, match=r"`n_neighbors` must be a positive integer; got 0"):
        match(df, **kw, n_neighbors=0)
    with pytest.raises(SpecificationError, match=r"`var_neighbors` must be a positive integer; got 1\.5"):
        match(df, **kw, var_neighbors=1.5)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"`caliper` must be a positive number .* got -1"):
        match(df, **kw, caliper=-1)


def test_matching_capacity_and_caliper_errors():
    df = data()
    n1, n0 = int(df["d"].sum()), int((1 - df["d"]).sum())
    with pytest.raises(
        EstimationError,
        match=rf"without replacement needs 3 x {n1} comparison firms but there "
        rf"are {n0}",
    ):
        match(df, yname="y", treatname="d", covariates=["x1"], replace=False, n_neighbors=3)
    with pytest.raises(EstimationError, match=rf"`n_neighbors`=500 exceeds the {n0} comparison firms"):
        match(df, yname="y", treatname="d", covariates=["x1"], n_neighbors=500)
    rng = np.random.default_rng(5)
    far = pd.DataFrame(
        {
            "y": rng.normal(size=40),
            "d": np.repeat([1, 0], 20),
            "x": np.r_[rng.normal(0.5, 0.01, 20), rng.normal(0.0, 0.01, 19), 0.6],
        }
    )
    with pytest.raises(EstimationError, match=r"no treated firm has a comparison firm within the caliper"):
        match(far, yname="y", treatname="d", covariates=["x"], caliper=1e-9)


def test_weight_concentration_warning():
    rng = np.random.default_rng(9)
    n = 300
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * x - 2)))).astype(int)
    df = pd.DataFrame({"y": x + rng.normal(size=n), "d": d, "x": x})
    with pytest.warns(
        EstimationWarning,
        match=r"one comparison firm carries \d+\.\d% of the total comparison "
        r"weight",
    ):
        ipw_module_fn(df, yname="y", treatname="d", covariates=["x"])


def test_balance_and_overlap_errors():
    df = data()
    with pytest.raises(
        DataError, match=r"`weights` must have one value per row of `data` \(400\); got shape"
    ):
        balance(df, treatname="d", covariates=["x1"], weights=np.ones(3))
    with pytest.raises(DataError, match=r"`weights` must be non-negative; found 1 negative"):
        balance(df, treatname="d", covariates=["x1"], weights=np.r_[-1.0, np.ones(399)])
    with pytest.raises(DataError, match=r"weights sum to zero in the treated or the comparison group"):
        balance(df, treatname="d", covariates=["x1"], weights=df["d"].to_numpy(float))
    with pytest.raises(EstimationError, match=r"no firm has treatname='d' equal to 1"):
        overlap(df.assign(d=0), treatname="d", covariates=["x1"])


def _two_period(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    ids = np.arange(n)
    d = (rng.random(n) < 0.4).astype(int)
    x = rng.normal(size=n)
    return pd.concat(
        [
            pd.DataFrame({"id": ids, "t": 1, "y": rng.normal(size=n), "d": d, "x": x}),
            pd.DataFrame({"id": ids, "t": 2, "y": rng.normal(size=n) + d, "d": d, "x": x}),
        ],
        ignore_index=True,
    )


def test_conditional_did_errors():
    pan = _two_period()
    kw = {"yname": "y", "tname": "t", "idname": "id", "treatname": "d", "covariates": ["x"]}
    with pytest.raises(
        SpecificationError, match=r"`method` must be one of \['aipw', 'ipw', 'match'\]; got 'ols'"
    ):
        conditional_did(pan, **kw, method="ols")
    with pytest.raises(SpecificationError, match=r"`pre` and `post` are both 1"):
        conditional_did(pan, **kw, pre=1, post=1)
    with pytest.raises(DataError, match=r"`post`=5 is not a value of 't'"):
        conditional_did(pan, **kw, post=5)
    with pytest.raises(DataError, match=r"2 duplicate \('id', 't'\) rows"):
        conditional_did(pd.concat([pan, pan.iloc[:2]]), **kw)
    bad = pan.copy()
    bad.loc[bad.index[-1], "d"] = 1 - bad.loc[bad.index[-1], "d"]
    with pytest.raises(DataError, match=r"'d' changes within firm between 1 and 2"):
        conditional_did(bad, **kw)
    with pytest.raises(DataError, match=r"column\(s\) \['zz'\] not found"):
        conditional_did(pan, **{**kw, "covariates": ["zz"]})
    with pytest.raises(DataError, match=r"`data` must be a pandas DataFrame"):
        conditional_did([1, 2], **kw)  # type: ignore[arg-type]
    with pytest.warns(DataWarning, match=r"dropped 3 firms observed in only one of the periods 1 and 2"):
        res = conditional_did(pan.iloc[3:], **kw)
    assert res.specification.dropped[0].n_units == 3


def test_no_rows_left_after_missing_values():
    df = data().assign(x1=np.nan)
    with (
        pytest.warns(DataWarning, match=r"dropped 400 of 400 rows"),
        pytest.raises(DataError, match=r"no rows left after dropping missing values in \['d', 'y', 'x1'\]"),
    ):
        ipw(df, yname="y", treatname="d", covariates=["x1"])
