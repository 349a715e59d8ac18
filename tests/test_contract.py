"""Happy paths of the panel contract: what validate_panel keeps, casts, sorts, drops and records."""

from __future__ import annotations

import copy
import pathlib
import warnings

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.errors import DataWarning
from ipf_eval.results import DropRecord

NAMES = {"idname": "firm_id", "tname": "year", "gname": "first_support"}


def _validate(df: pd.DataFrame, **kwargs: object) -> ValidatedPanel:
    args: dict[str, object] = {**NAMES, "ynames": "log_emp", **kwargs}
    return validate_panel(df, **args)  # type: ignore[arg-type]


def test_happy_path_attributes(tiny_panel: pd.DataFrame) -> None:
    vp = _validate(tiny_panel, ynames=["log_emp", "exporter"], covariates=["log_age", "sector"],
                   weightsname="weight", clustervars=["region"])
    assert vp.periods == (2003, 2004, 2005, 2006, 2007)
    assert vp.cohorts == (2005, 2006)
    assert vp.n_units == 8
    assert vp.n_obs == 40
    assert vp.balanced is True
    assert vp.dropped == ()
    assert vp.notes == ()
    assert vp.small_cohorts == ()
    assert vp.has_never_supported is True
    assert vp.ynames == ("log_emp", "exporter")
    assert vp.covariates == ("log_age", "sector")
    assert vp.weightsname == "weight"
    assert vp.clustervars == ("region",)
    assert list(vp.data.columns) == ["firm_id", "year", "first_support", "log_emp", "exporter", "log_age",
                                     "sector", "weight", "region"]
    assert vp.data["year"].dtype == np.int64
    assert vp.data["first_support"].dtype == np.int64
    assert vp.data["exporter"].dtype == np.float64
    # booleans become 0/1 floats, the values themselves unchanged
    np.testing.assert_array_equal(vp.data["exporter"].to_numpy(), tiny_panel["exporter"].to_numpy(float))
    assert isinstance(vp.data.index, pd.RangeIndex)


def test_only_named_columns_are_kept(tiny_panel: pd.DataFrame) -> None:
    vp = _validate(tiny_panel, extra_columns=["region"])
    assert list(vp.data.columns) == ["firm_id", "year", "first_support", "log_emp", "region"]
    assert vp.extra_columns == ("region",)


def test_callers_frame_is_not_modified(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.sample(frac=1.0, random_state=3)  # shuffled, non-default index
    df.loc[df.index[:3], "first_support"] = np.nan  # then filled per firm below: constant within firms
    df["first_support"] = df.groupby("firm_id")["first_support"].transform("max")
    df.loc[df.index[5], "log_emp"] = np.nan
    df["sector"] = df["sector"].astype("category")
    before = copy.deepcopy(df)
    with pytest.warns(DataWarning, match="dropped 1 of 40"):
        vp = _validate(df, covariates=["sector", "log_age"], weightsname="weight")
    pdt.assert_frame_equal(df, before)
    assert vp.data is not df
    vp.data.loc[0, "log_emp"] = 123.0  # the validated copy is private
    pdt.assert_frame_equal(df, before)


def test_shuffled_rows_give_identical_frame(tiny_panel: pd.DataFrame) -> None:
    ref = _validate(tiny_panel, covariates=["sector"]).data
    for seed in (1, 2, 3):
        shuffled = tiny_panel.sample(frac=1.0, random_state=seed)
        pdt.assert_frame_equal(_validate(shuffled, covariates=["sector"]).data, ref)
    # sorted by (firm, year)
    assert ref["firm_id"].is_monotonic_increasing
    assert (ref.groupby("firm_id")["year"].diff().dropna() == 1).all()


def test_string_ids_pandas3(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(firm_id=("F" + tiny_panel["firm_id"].astype(str)).astype("string"))
    vp = _validate(df)
    assert vp.data["firm_id"].dtype == df["firm_id"].dtype
    assert vp.n_units == 8
    assert vp.data["firm_id"].iloc[0] == "F1"
    # default pandas 3 str dtype too
    vp2 = _validate(tiny_panel.assign(firm_id="F" + tiny_panel["firm_id"].astype(str)))
    assert vp2.n_units == 8


def test_nullable_integer_and_float_columns(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(
        year=tiny_panel["year"].astype("Int64"),
        first_support=tiny_panel["first_support"].astype("Int64"),
        log_emp=tiny_panel["log_emp"].astype("Float64"),
        log_age=tiny_panel["log_age"].astype("Float64"),
    )
    df.loc[df["first_support"] == 0, "first_support"] = pd.NA  # missing gname: never supported
    df.loc[3, "log_emp"] = pd.NA
    with pytest.warns(DataWarning, match=r"'log_emp': 1 missing"):
        vp = _validate(df, covariates=["log_age"])
    assert vp.data["year"].dtype == np.int64
    assert vp.data["first_support"].dtype == np.int64
    assert vp.data["log_emp"].dtype == np.float64
    assert vp.data["log_age"].dtype == np.float64
    assert vp.cohorts == (2005, 2006)
    assert (vp.unit_frame()["first_support"] == 0).sum() == 4
    assert vp.balanced is False


def test_float_periods_that_are_integers_are_cast(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(year=tiny_panel["year"].astype(float),
                           first_support=tiny_panel["first_support"].astype(float))
    vp = _validate(df)
    assert vp.data["year"].dtype == np.int64
    assert vp.periods == (2003, 2004, 2005, 2006, 2007)


def test_inf_gname_means_never(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(first_support=tiny_panel["first_support"].replace(0, np.inf).astype(float))
    vp = _validate(df)
    pdt.assert_series_equal(vp.data["first_support"], _validate(tiny_panel).data["first_support"])


def test_categorical_covariate_keeps_categories_and_drops_unused(tiny_panel: pd.DataFrame) -> None:
    sector = pd.Categorical(tiny_panel["sector"], categories=["C10", "C20", "J62", "K64"])
    df = tiny_panel.assign(sector=sector)
    vp = _validate(df, covariates=["sector"])
    assert isinstance(vp.data["sector"].dtype, pd.CategoricalDtype)
    assert list(vp.data["sector"].cat.categories) == ["C10", "C20", "J62"]


def test_drop_records_for_missing_values(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.copy()
    df.loc[[0, 1], "log_emp"] = np.nan
    df.loc[7, "log_emp"] = -np.inf  # log(0)
    df.loc[12, "log_age"] = np.nan
    with pytest.warns(DataWarning, match=r"dropped 4 of 40 row\(s\)") as rec:
        vp = _validate(df, covariates=["log_age"])
    assert len(rec) == 1
    assert vp.n_obs == 36
    (drop,) = vp.dropped
    assert isinstance(drop, DropRecord)
    assert drop.n_rows == 4
    assert drop.n_units == 3  # firms 1 (rows 0, 1), 2 (row 7), 3 (row 12)
    assert "'log_emp': 3 missing or non-finite" in drop.reason
    assert "'log_age': 1 missing or non-finite" in drop.reason
    assert vp.notes == (str(rec[0].message),)
    assert vp.balanced is False
    assert vp.n_units == 8


def test_already_supported_firms_dropped_and_recorded(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.copy()
    df.loc[df["firm_id"] == 5, "first_support"] = 2001  # before the panel
    df.loc[df["firm_id"] == 6, "first_support"] = 2003  # in the first period: no pre-period
    with pytest.warns(DataWarning, match=r"2 firm\(s\) \(10 rows\) were already supported"):
        vp = _validate(df)
    assert vp.n_units == 6
    assert set(vp.data["firm_id"]) == {1, 2, 3, 4, 7, 8}
    (drop,) = vp.dropped
    assert (drop.n_rows, drop.n_units) == (10, 2)
    assert "first period 2003" in drop.reason
    kept = _validate(df, already_supported="keep", min_cohort_size=1)
    assert kept.n_units == 8
    assert kept.cohorts == (2001, 2003, 2005, 2006)


def test_late_support_becomes_never(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.copy()
    df.loc[df["firm_id"] == 5, "first_support"] = 2010
    with pytest.warns(DataWarning, match="after the last period 2007"):
        vp = _validate(df)
    assert vp.cohorts == (2005, 2006)
    assert (vp.data.loc[vp.data["firm_id"] == 5, "first_support"] == 0).all()
    assert len(vp.notes) == 1


def test_period_gaps_warn_accept_and_recode_gname(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel[tiny_panel["year"].isin([2003, 2005, 2007])].copy()
    with pytest.warns(DataWarning) as rec:
        vp = _validate(df)
    messages = [str(w.message) for w in rec]
    assert any("taken as consecutive waves" in m and "2003->2005" in m for m in messages)
    # cohort 2006 is not an observed period: recoded to 2007
    assert any("2006->2007" in m for m in messages)
    assert vp.cohorts == (2005, 2007)
    assert vp.periods == (2003, 2005, 2007)
    with pytest.warns(DataWarning, match="2006->2007"):
        quiet = _validate(df, period_gaps="accept")
    assert len(quiet.notes) == 1


def test_time_varying_covariate_replaced_by_baseline(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(log_age=tiny_panel["log_age"] + 0.1 * (tiny_panel["year"] - 2003))
    with pytest.warns(DataWarning, match="baseline"):
        vp = _validate(df, covariates=["log_age"])
    baseline = df[df["year"] == 2003].set_index("firm_id")["log_age"]
    expected = vp.data["firm_id"].map(baseline)
    np.testing.assert_array_equal(vp.data["log_age"].to_numpy(), expected.to_numpy())
    kept = _validate(df, covariates=["log_age"], time_invariant_covariates=False)
    np.testing.assert_array_equal(kept.data["log_age"].to_numpy(), df["log_age"].to_numpy())


def test_small_cohort_is_recorded(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.copy()
    df.loc[df["firm_id"] == 4, "first_support"] = 2007
    with pytest.warns(DataWarning, match=r"2006 \(1 firm\), 2007 \(1 firm\)"):
        vp = _validate(df)
    assert vp.small_cohorts == (2006, 2007)
    quiet = _validate(df, min_cohort_size=1)
    assert quiet.small_cohorts == ()


def test_not_yet_supported_comparisons_are_enough(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel[tiny_panel["first_support"] > 0]
    vp = _validate(df)
    assert vp.has_never_supported is False
    assert vp.cohorts == (2005, 2006)


def test_unit_frame(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel[~((tiny_panel["firm_id"] == 2) & (tiny_panel["year"] == 2003))]
    vp = _validate(df, covariates=["sector", "log_age"], weightsname="weight")
    units = vp.unit_frame()
    assert list(units.columns) == ["firm_id", "first_support", "sector", "log_age", "weight", "first_period",
                                   "last_period", "n_periods"]
    assert len(units) == 8
    row = units.set_index("firm_id").loc[2]
    assert (row["first_period"], row["last_period"], row["n_periods"]) == (2004, 2007, 4)
    assert units["n_periods"].sum() == vp.n_obs
    units.loc[0, "first_support"] = 99  # a copy: the panel is untouched
    assert vp.unit_frame().loc[0, "first_support"] == 2005
    assert vp.cohort_sizes().to_dict() == {0: 4, 2005: 2, 2006: 2}


def test_repeated_cross_sections(tiny_panel: pd.DataFrame) -> None:
    df = pd.concat([tiny_panel, tiny_panel.assign(log_emp=tiny_panel["log_emp"] + 1)], ignore_index=True)
    vp = _validate(df, panel=False)
    assert vp.panel is False
    assert vp.n_obs == 80
    assert vp.balanced is False


def test_cluster_by_firm_allowed(tiny_panel: pd.DataFrame) -> None:
    vp = _validate(tiny_panel, clustervars="firm_id")
    assert vp.clustervars == ("firm_id",)
    assert list(vp.data.columns) == ["firm_id", "year", "first_support", "log_emp"]


def test_float_ids_with_blanks_become_integers(tiny_panel: pd.DataFrame) -> None:
    df = tiny_panel.assign(firm_id=tiny_panel["firm_id"].astype(float))
    df.loc[0, "firm_id"] = np.nan
    with pytest.warns(DataWarning, match=r"'firm_id': 1 missing") as rec:
        vp = _validate(df)
    assert rec[0].filename == __file__  # stacklevel points at the caller of validate_panel
    assert vp.data["firm_id"].dtype == np.int64
    assert vp.n_obs == 39
    assert vp.dropped[0].n_units == 0  # the firm of a row without id is unknown


def test_to_dict_is_json_safe(tiny_panel: pd.DataFrame) -> None:
    import json

    df = tiny_panel.copy()
    df.loc[0, "log_emp"] = np.nan
    with pytest.warns(DataWarning):
        vp = _validate(df, covariates=["sector"])
    out = json.loads(json.dumps(vp.to_dict()))
    assert out["n_obs"] == 39
    assert out["n_units"] == 8
    assert out["periods"] == [2003, 2004, 2005, 2006, 2007]
    assert out["cohorts"] == [2005, 2006]
    assert out["dropped"] == [{"reason": vp.dropped[0].reason, "n_rows": 1, "n_units": 1}]
    assert out["notes"] == list(vp.notes)


def test_message_counts_firms_and_names_the_local_log(tiny_panel: pd.DataFrame, tmp_path: pathlib.Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "data_problems.log"
    monkeypatch.setenv("IPF_EVAL_LOCAL_LOG", str(log))
    df = tiny_panel.assign(log_age=tiny_panel["log_age"] + tiny_panel["year"] / 1000)
    with pytest.warns(DataWarning, match=r"8 firm\(s\) \(the firms are listed in the local log '[^']+\.log'"):
        _validate(df, covariates=["log_age"])
    assert "firms: 1, 2, 3, 4, 5, 6, 7, 8" in log.read_text()


def test_real_panel_michigan_training_grants() -> None:
    """Holzer et al. (1993) firm panel shipped by linearmodels: missing scrap rates dropped and counted."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("linearmodels")  # locate the data file without importing linearmodels
    if spec is None or spec.origin is None:
        pytest.skip("linearmodels is not installed")
    raw = pd.read_csv(Path(spec.origin).parent / "datasets" / "jobtraining" / "jobtraining.csv.bz2")
    first_grant = raw["year"].where(raw["grant"] == 1).groupby(raw["fcode"]).transform("min")
    df = raw.assign(first_grant=first_grant)  # NaN for firms never granted: never supported
    before = copy.deepcopy(df)
    with pytest.warns(DataWarning, match=r"dropped 309 of 471 row\(s\).*'lscrap': 309 missing"):
        vp = validate_panel(df, idname="fcode", tname="year", gname="first_grant", ynames="lscrap",
                            extra_columns=["employ"])
    pdt.assert_frame_equal(df, before)
    kept = raw[raw["lscrap"].notna()]
    assert vp.n_obs == len(kept) == 162
    assert vp.n_units == kept["fcode"].nunique()
    assert vp.periods == (1987, 1988, 1989)
    assert vp.cohorts == (1988, 1989)
    assert vp.dropped[0].n_units == raw.loc[raw["lscrap"].isna(), "fcode"].nunique()
    units = vp.unit_frame()
    assert int((units["first_grant"] == 0).sum()) == int(kept.groupby("fcode")["grant"].max().eq(0).sum())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_firms=st.integers(4, 15), n_missing=st.integers(0, 5))
def test_property_order_invariance_and_no_mutation(seed: int, n_firms: int, n_missing: int) -> None:
    rng = np.random.default_rng(seed)
    years = np.arange(2010, 2016)
    g = rng.choice([0, 0, 2012, 2014], n_firms)
    g[:2] = 0  # at least two never-supported firms: always a comparison group
    df = pd.DataFrame({
        "firm_id": np.repeat([f"F{i:03d}" for i in range(n_firms)], years.size),
        "year": np.tile(years, n_firms),
        "first_support": np.repeat(g, years.size).astype(float),
        "log_emp": rng.normal(size=n_firms * years.size),
    })
    df.loc[rng.choice(len(df), n_missing, replace=False), "log_emp"] = np.nan
    shuffled = df.sample(frac=1.0, random_state=seed)
    before = copy.deepcopy(shuffled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # small cohorts and drops depend on the draw
        ref = _validate(df, min_cohort_size=1)
        out = _validate(shuffled, min_cohort_size=1)
    pdt.assert_frame_equal(shuffled, before)
    pdt.assert_frame_equal(out.data, ref.data)
    assert out.dropped == ref.dropped
    assert ref.n_obs == len(df) - n_missing
    assert sum(d.n_rows for d in ref.dropped) == n_missing
