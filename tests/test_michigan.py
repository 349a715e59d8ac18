"""Tests of ipf_eval.datasets.michigan_training_grants (Holzer et al. 1993 via linearmodels)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from linearmodels import PanelOLS

from ipf_eval.data.contract import validate_panel
from ipf_eval.datasets import michigan_training_grants
from ipf_eval.errors import DataError, DataWarning

REFERENCE = json.loads(
    (Path(__file__).parent / "reference" / "michigan" / "fe_example_14_1.json").read_text()
)


def test_shape_ids_and_years() -> None:
    df = michigan_training_grants()
    assert df.shape[0] == 471
    assert df["firm_id"].nunique() == 157
    assert df["firm_id"].dtype == np.int64
    assert df["year"].dtype == np.int64
    assert sorted(df["year"].unique()) == [1987, 1988, 1989]
    assert not df.duplicated(["firm_id", "year"]).any()
    assert list(df.columns[:3]) == ["firm_id", "year", "first_support_year"]
    for col in ("lscrap", "hrsemp", "lhrsemp", "log_employment", "grant", "grant_lag", "d88", "d89"):
        assert col in df.columns, col


def test_first_support_year_from_grant_indicators() -> None:
    df = michigan_training_grants()
    g = df.groupby("firm_id")["first_support_year"]
    assert (g.nunique() == 1).all()
    cohorts = g.first().value_counts().to_dict()
    assert cohorts == {0: 91, 1988: 36, 1989: 30}
    # grant is 1 exactly in the support year, grant_lag exactly the year after.
    np.testing.assert_array_equal(df["grant"], (df["year"] == df["first_support_year"]).astype(int))
    np.testing.assert_array_equal(df["grant_lag"], (df["year"] == df["first_support_year"] + 1).astype(int))


def test_missing_outcomes_are_left_missing() -> None:
    from linearmodels.datasets import jobtraining

    raw = jobtraining.load()
    df = michigan_training_grants()
    assert int(df["lscrap"].isna().sum()) == int(raw["lscrap"].isna().sum()) == 309
    assert int(df["hrsemp"].isna().sum()) == int(raw["hrsemp"].isna().sum())
    merged = df.merge(
        raw[["fcode", "year", "lscrap", "lemploy"]], left_on=["firm_id", "year"], right_on=["fcode", "year"]
    )
    pdt.assert_series_equal(merged["lscrap_x"], merged["lscrap_y"], check_names=False)
    pdt.assert_series_equal(merged["log_employment"], merged["lemploy"], check_names=False)


def test_fresh_copy_each_call() -> None:
    a = michigan_training_grants()
    a.loc[:, "lscrap"] = 0.0
    b = michigan_training_grants()
    assert b["lscrap"].isna().sum() == 309


def test_contract_drops_missing_scrap_rates_with_a_count() -> None:
    df = michigan_training_grants()
    with pytest.warns(DataWarning, match=r"309"):
        vp = validate_panel(df, idname="firm_id", tname="year", gname="first_support_year", ynames="lscrap")
    assert vp.n_obs == 162
    assert vp.cohorts == (1988, 1989)


def test_reproduces_wooldridge_example_14_1() -> None:
    """Firm FE of lscrap on d88, d89, grant, grant_1: Wooldridge (Introductory Econometrics) Example 14.1."""
    df = michigan_training_grants()
    df["grant_now"] = (df["year"] == df["first_support_year"]).astype(float)
    df["grant_lag1"] = (df["year"] == df["first_support_year"] + 1).astype(float)
    x = df.dropna(subset=["lscrap"]).set_index(["firm_id", "year"])
    fit = PanelOLS.from_formula("lscrap ~ d88 + d89 + grant_now + grant_lag1 + EntityEffects", x).fit()
    book = REFERENCE["textbook"]
    # Published figures are rounded to 3 decimals.
    assert fit.params["grant_now"] == pytest.approx(book["grant"], abs=5e-4)
    assert fit.std_errors["grant_now"] == pytest.approx(book["grant_se"], abs=5e-4)
    assert fit.params["grant_lag1"] == pytest.approx(book["grant_1"], abs=5e-4)
    assert fit.std_errors["grant_lag1"] == pytest.approx(book["grant_1_se"], abs=5e-4)
    assert fit.nobs == book["n"] == REFERENCE["nobs"]
    assert int(fit.entity_info["total"]) == REFERENCE["n_firms"] == 54
    assert fit.rsquared == pytest.approx(book["r2"], abs=5e-4)
    # Full precision, as produced by make_reference.py.
    for name, value in REFERENCE["params"].items():
        assert fit.params[name] == pytest.approx(value, rel=1e-9), name
    for name, value in REFERENCE["std_errors"].items():
        assert fit.std_errors[name] == pytest.approx(value, rel=1e-9), name


def test_missing_source_columns_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    from linearmodels.datasets import jobtraining

    real = jobtraining.load

    def broken() -> pd.DataFrame:
        return real().drop(columns=["lscrap", "grant_1"])

    monkeypatch.setattr(jobtraining, "load", broken)
    with pytest.raises(DataError, match=r"lacks columns \['grant_1', 'lscrap'\]"):
        michigan_training_grants()
