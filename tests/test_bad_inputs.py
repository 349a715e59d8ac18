"""A catalogue of malformed inputs: each asserts the error (or warning) type and a fragment of its message."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data.contract import validate_panel
from ipf_eval.data.readers import read_panel
from ipf_eval.errors import DataError, DataWarning, SpecificationError

NAMES: dict[str, Any] = {"idname": "firm_id", "tname": "year", "gname": "first_support", "ynames": "log_emp"}
Mutate = Callable[[pd.DataFrame], Any]


def _set(mask: Callable[[pd.DataFrame], Any], column: str, value: Any) -> Mutate:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        if isinstance(value, str):
            df[column] = df[column].astype(object)
        elif isinstance(value, float) and pd.api.types.is_integer_dtype(df[column].dtype):
            df[column] = df[column].astype("float64")
        df.loc[mask(df), column] = value
        return df
    return mutate


def _firm(k: int) -> Callable[[pd.DataFrame], Any]:
    return lambda df: df["firm_id"] == k


def _row(i: int) -> Callable[[pd.DataFrame], Any]:
    return lambda df: df.index == i


def _same(df: pd.DataFrame) -> pd.DataFrame:
    return df


# (id, mutation of the tiny panel, extra keyword arguments, error type, message fragment)
ERROR_CASES: list[tuple[str, Mutate, dict[str, Any], type[Exception], str]] = [
    ("missing outcome column, close match", _same, {"ynames": "log_empl"}, DataError,
     r"not found in the data: 'log_empl' \(ynames\) \(did you mean 'log_emp'"),
    ("missing id column", lambda d: d.drop(columns="firm_id"), {}, DataError, r"'firm_id' \(idname\)"),
    ("missing covariate listed with available", _same, {"covariates": ["SIZE"]}, DataError,
     r"Available columns \(9\)"),
    ("empty frame", lambda d: d.iloc[:0], {}, DataError, r"empty \(0 rows, 9 columns\)"),
    ("not a DataFrame", lambda d: d.to_dict(), {}, DataError, "must be a pandas DataFrame; got 'dict'"),
    ("duplicated column labels", lambda d: pd.concat([d, d[["log_emp"]]], axis=1), {}, DataError,
     "duplicated column labels 'log_emp'"),
    ("text outcome", _set(_row(4), "log_emp", "n/a"), {}, DataError,
     r"outcome column 'log_emp' is not numeric .*1 row\(s\) are not numbers, in 1 firm\(s\) \(the firms and "
     r"their values are listed in the local log '[^']+'\)"),
    ("text period", lambda d: d.assign(year=d["year"].astype(str)), {}, DataError,
     "period column 'year' is not numeric.*pandas.to_numeric"),
    ("datetime period", lambda d: d.assign(year=pd.to_datetime(d["year"].astype(str) + "-01-01")), {},
     DataError, r"dt\.year"),
    ("boolean period", lambda d: d.assign(year=d["year"] > 2004), {}, DataError, "'year' is boolean"),
    ("half-year period", _set(_row(2), "year", 2005.5), {}, DataError,
     r"period column 'year' holds 1 non-integer value\(s\) in 1 firm\(s\) \(values 2005.5; the firms and "
     r"their values are listed in the local log"),
    ("fractional gname", _set(_firm(1), "first_support", 2004.5), {}, DataError,
     "support timing column 'first_support' holds 5 non-integer"),
    ("negative gname", _set(_firm(2), "first_support", -1), {}, DataError, "5 negative value"),
    ("text gname", _set(_firm(2), "first_support", "never"), {}, DataError,
     "support timing column 'first_support' is not numeric.*'never'"),
    ("duplicate firm-period", lambda d: pd.concat([d, d.iloc[[0, 6]]]), {}, DataError,
     r"2 duplicate \('firm_id', 'year'\) row\(s\) in 2 firm\(s\), in periods 2003, 2004 \(the firms and "
     r"their values are listed in the local log"),
    ("gname varies within firm", _set(_row(3), "first_support", 2006), {}, DataError,
     r"varies within 1 firm\(s\) \(values 2005, 2006; missing counts as 0, never supported; the firms are "
     r"listed in the local log"),
    ("gname missing in some rows", _set(_row(3), "first_support", np.nan), {}, DataError,
     "missing counts as 0"),
    ("support indicator instead of timing",
     lambda d: d.assign(first_support=(d["first_support"].between(1, d["year"])).astype(int)),
     {}, DataError, r"varies within 4 firm.*looks like a support indicator"),
    ("ever-supported dummy as timing", lambda d: d.assign(first_support=(d["first_support"] > 0).astype(int)),
     {}, DataError, r"not a period code \(periods start at 2003\).*looks like a support indicator"),
    ("ever-supported dummy, cross-sections", lambda d: d.assign(first_support=(d["first_support"] > 0) * 1),
     {"panel": False}, DataError, "not a period code.*looks like a support indicator"),
    ("infinite period", _set(_row(0), "year", np.inf), {}, DataError,
     r"period column 'year' holds 1 non-integer value\(s\) in 1 firm\(s\) \(values inf"),
    ("period zero", lambda d: d.assign(year=d["year"] - 2003, first_support=0), {}, DataError,
     r"must be positive because gname 0 means never supported"),
    ("already supported, option error", _set(_firm(5), "first_support", 2001), {"already_supported": "error"},
     DataError, r"1 firm\(s\) \(5 rows\) were already supported.*already_supported='drop'"),
    ("period gaps, option error", lambda d: d[d["year"] != 2004], {"period_gaps": "error"}, DataError,
     r"not consecutive integers: found \[2003, 2005, 2006, 2007\] with jumps 2003->2005"),
    ("categorical covariate with one level", lambda d: d.assign(sector="C10"), {"covariates": ["sector"]},
     DataError, "categorical covariate 'sector' has a single level 'C10'"),
    ("category dtype, one level used",
     lambda d: d.assign(sector=pd.Categorical(["C10"] * 40, ["C10", "J62"])), {"covariates": "sector"},
     DataError, "single level 'C10'"),
    ("constant numeric covariate", lambda d: d.assign(log_age=1.0), {"covariates": ["log_age"]}, DataError,
     "covariate 'log_age' has a single value 1.0"),
    ("no comparison firms", lambda d: d[d["firm_id"] <= 2], {}, DataError,
     r"no comparison firms.*cohort \(2005,\); add never-supported firms"),
    ("require never treated", lambda d: d[d["first_support"] > 0], {"require_never_treated": True}, DataError,
     r"require_never_treated=True but no firm is never supported.*cohorts 2005, 2006"),
    ("negative weights", _set(_firm(3), "weight", -1.0), {"weightsname": "weight"}, DataError,
     r"weights column 'weight' holds 5 negative value\(s\) in 1 firm\(s\) \(the firms and their values are "
     r"listed"),
    ("text weights", _set(_row(0), "weight", "high"), {"weightsname": "weight"}, DataError,
     r"weights column 'weight' is not numeric.*1 row\(s\) are not numbers, in 1 firm\(s\) \(the firms and "
     "their values are listed"),
    ("all-zero weights", lambda d: d.assign(weight=0.0), {"weightsname": "weight"}, DataError,
     "zero in all 40 rows"),
    ("weights vary within firm", _set(_row(1), "weight", 9.0), {"weightsname": "weight"}, DataError,
     r"weights 'weight' vary within 1 firm\(s\) \(the firms are listed in the local log"),
    ("id mixes int and str", lambda d: d.assign(firm_id=[*d["firm_id"].iloc[:5].astype(str),
                                                        *d["firm_id"].iloc[5:]]), {}, DataError,
     r"mixes value types \['int', 'str'\]"),
    ("every outcome missing", lambda d: d.assign(log_emp=np.nan), {}, DataError,
     "no rows left after dropping"),
    ("every firm already supported", lambda d: d.assign(first_support=2003), {}, DataError,
     "no rows left: every firm was supported in or before the first period 2003"),
    # argument errors
    ("no outcome", _same, {"ynames": []}, SpecificationError, "ynames is empty"),
    ("column in two roles", _same, {"covariates": ["log_emp"]}, SpecificationError,
     "column 'log_emp' is given both as ynames and as covariates"),
    ("unknown already_supported", _same, {"already_supported": "ignore"}, SpecificationError,
     r"already_supported must be one of \('drop', 'error', 'keep'\); got 'ignore'"),
    ("unknown period_gaps", _same, {"period_gaps": True}, SpecificationError, "period_gaps must be one of"),
    ("min_cohort_size zero", _same, {"min_cohort_size": 0}, SpecificationError,
     "min_cohort_size must be a positive integer; got 0"),
    ("covariate not a string", _same, {"covariates": ["log_age", 3]}, SpecificationError,
     "covariates must hold non-empty column names"),
    ("covariate twice", _same, {"covariates": ["log_age", "log_age"]}, SpecificationError,
     "covariates names 'log_age' more than once"),
    ("idname not a string", _same, {"idname": 0}, SpecificationError, "idname must be a column name"),
    ("extra column with a role", _same, {"extra_columns": ["year"]}, SpecificationError,
     "extra_columns names 'year', which already has a role"),
]


@pytest.mark.parametrize(("mutate", "kwargs", "error", "match"),
                         [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_validate_panel_refuses(tiny_panel: pd.DataFrame, mutate: Mutate, kwargs: dict[str, Any],
                                error: type[Exception], match: str) -> None:
    data = mutate(tiny_panel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # drops announced before the error are not under test
        with pytest.raises(error, match=match):
            validate_panel(data, **{**NAMES, **kwargs})


WARNING_CASES: list[tuple[str, Mutate, dict[str, Any], str]] = [
    ("id missing", _set(_row(0), "firm_id", np.nan), {}, r"'firm_id': 1 missing"),
    ("period missing", _set(_row(6), "year", np.nan), {},
     r"dropped 1 of 40 row\(s\).*'year': 1 missing.*; 1 firm\(s\) affected \(the firms are listed"),
    ("outcome missing", _set(_row(11), "log_emp", np.nan), {},
     r"'log_emp': 1 missing or non-finite.*1 firm\(s\) affected"),
    ("outcome is log(0)", _set(_row(11), "log_emp", -np.inf), {}, "'log_emp': 1 missing or non-finite"),
    ("covariate missing", _set(_row(39), "sector", None), {"covariates": ["sector"]},
     r"'sector': 1 missing.*1 firm\(s\) affected"),
    ("cluster variable missing", _set(_row(0), "region", None), {"clustervars": ["region"]},
     "'region': 1 missing"),
    ("weight missing", _set(_firm(6), "weight", np.nan), {"weightsname": "weight"},
     r"dropped 5 of 40.*'weight': 5 missing"),
    ("single-firm cohort", _set(_firm(4), "first_support", 2007), {},
     r"cohort\(s\) 2006 \(1 firm\), 2007 \(1 firm\) have fewer than 2 firms"),
    ("period gaps", lambda d: d[d["year"] != 2004], {}, "taken as consecutive waves.*before 2005 is 2003"),
    ("already supported", _set(_firm(5), "first_support", 2001), {}, r"already supported.*dropped"),
    ("supported in the first period", _set(_firm(5), "first_support", 2003), {}, "no pre-support period"),
    ("supported after the window", _set(_firm(6), "first_support", 2010), {},
     "after the last period 2007.*recoded to 0"),
    ("gname between periods", lambda d: d[d["year"] != 2006], {"period_gaps": "accept"},
     r"not an observed period; recoded.*\(2006->2007; the firms are listed in the local log"),
    ("covariate varies within firm", lambda d: d.assign(log_age=d["log_age"] + d["year"] / 1000),
     {"covariates": ["log_age"]}, r"covariate 'log_age' varies within 8 firm\(s\).*baseline"),
]


@pytest.mark.parametrize(("mutate", "kwargs", "match"), [c[1:] for c in WARNING_CASES],
                         ids=[c[0] for c in WARNING_CASES])
def test_validate_panel_warns(tiny_panel: pd.DataFrame, mutate: Mutate, kwargs: dict[str, Any],
                              match: str) -> None:
    data = mutate(tiny_panel)
    with pytest.warns(DataWarning, match=match):
        vp = validate_panel(data, **{**NAMES, **kwargs})
    assert any(__import__("re").search(match, note) for note in vp.notes)


# ---- read_panel -------------------------------------------------------------------------------------------

def _csv(text: str, name: str = "panel.csv") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text.encode("latin-1"))
        return path
    return make


def _bytes(data: bytes, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return make


def _xlsx(tmp: Path) -> Path:
    path = tmp / "book.xlsx"
    pd.DataFrame({"Firm ID": [1, 2], "Year": [2010, 2010]}).to_excel(path, sheet_name="Panel", index=False)
    return path


def _parquet(tmp: Path) -> Path:
    path = tmp / "p.parquet"
    pd.DataFrame({"Firm ID": [1, 2], "Year": [2010, 2010]}).to_parquet(path)
    return path


def _frame_file(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path)
    return path


GOOD = "Firm ID,Year,Employment\n1,2010,5\n1,2011,n.a.\n2,2010,7.5\n"

READ_CASES: list[tuple[str, Callable[[Path], Path], dict[str, Any], type[Exception], str]] = [
    ("missing file", lambda tmp: tmp / "panle.csv", {}, DataError, "does not exist"),
    ("missing file, close match", lambda tmp: _csv(GOOD)(tmp).with_name("panle.csv"), {}, DataError,
     r"does not exist \(did you mean 'panel.csv'\?\)"),
    ("unsupported extension", _csv(GOOD, "panel.sav"), {}, DataError, r"unsupported file extension '\.sav'"),
    ("old Excel", _csv(GOOD, "panel.xls"), {}, DataError, r"Save \.xls workbooks as \.xlsx"),
    ("corrupt parquet", _bytes(b"PAR1 this is not parquet", "p.parquet"), {}, DataError,
     "cannot read .* as parquet"),
    ("corrupt xlsx", _bytes(b"not a zip archive", "b.xlsx"), {}, DataError, "cannot read .* as excel"),
    ("corrupt dta", _bytes(b"\x00\x01garbage", "s.dta"), {}, DataError, "cannot read .* as stata"),
    ("empty csv", _bytes(b"", "e.csv"), {}, DataError, r"is empty \(no header row\)"),
    ("latin-1 read as utf-8", _csv("Firma,Jahr\nMüller,2010\n"), {}, DataError,
     "not valid UTF-8.*encoding='latin-1'"),
    ("mapped column not in file", _csv(GOOD), {"columns": {"Firm Id": "firm_id", "Yr": "year"}}, DataError,
     r"2 mapped column\(s\) not in .*'Firm Id' \(did you mean 'Firm ID'\?\).*Available columns \(3\)"),
    ("semicolon file without sep", _csv("Firm ID;Year\n1;2010\n"), {"columns": {"Firm ID": "firm_id"}},
     DataError, "pass sep=';'"),
    ("two sources, one name", _csv(GOOD), {"columns": {"Firm ID": "firm_id", "Year": "firm_id"}}, DataError,
     r"maps 2 source columns \['Firm ID', 'Year'\] to the same name 'firm_id'"),
    ("mapped name clashes with kept column", _csv("A,B,y\n1,2,3\n"),
     {"columns": {"A": "y"}, "keep_unmapped": True}, DataError, r"mapped name\(s\) \['y'\] already exist"),
    ("numeric expected, text found", _csv(GOOD),
     {"columns": {"Employment": "emp"}, "dtypes": {"emp": "numeric"}}, DataError,
     r"column 'emp' .* should be numeric but 1 of 3 value\(s\) are text \(1 distinct; rows \[1\], counted "
     r"from 0 after the header; the values are listed in the local log"),
    ("integer expected, fraction found", _csv("g\n2005\n2005.5\n"), {"dtypes": {"g": "integer"}}, DataError,
     r"should be integer but holds 1 fractional value\(s\) \(rows \[1\], .*; the values are listed in the "
     "local log"),
    ("bool expected, other text", _csv("flag\nyes\nmaybe\n"), {"dtypes": {"flag": "bool"}}, DataError,
     r"should be bool but holds 1 value\(s\) that are not yes/no \(1 distinct; rows \[1\]"),
    ("unknown sheet", _xlsx, {"sheet": "Panle"}, DataError,
     r"sheet 'Panle' not found .*\(did you mean 'Panel'\?\); sheets are \['Panel'\]"),
    ("sheet position out of range", _xlsx, {"sheet": 3}, DataError, "sheet 3 not found"),
    ("sheet for a CSV", _csv(GOOD), {"sheet": "Panel"}, SpecificationError, "applies to Excel files only"),
    ("CSV option for parquet", _parquet, {"sep": ";"}, SpecificationError, "sep applies to CSV files only"),
    ("unknown dtype kind", _csv(GOOD), {"dtypes": {"Year": "int"}}, SpecificationError,
     r"dtypes\['Year'\] must be one of"),
    ("dtype for unknown column", _csv(GOOD), {"columns": {"Year": "year"}, "dtypes": {"Year": "integer"}},
     SpecificationError, r"dtypes names column 'Year', which is not in the result \(did you mean 'year'\?\)"),
    ("unknown file_format", _csv(GOOD), {"file_format": "sas"}, SpecificationError,
     "file_format must be one of"),
    ("directory without parquet files", lambda tmp: tmp, {}, DataError, "holds no .parquet files"),
    ("parquet without columns", lambda tmp: _frame_file(pd.DataFrame(index=range(3)), tmp / "n.parquet"), {},
     DataError, "no columns found"),
    ("empty mapping", _csv(GOOD), {"columns": {}}, SpecificationError, "columns is empty"),
    ("mapping to a non-string", _csv(GOOD), {"columns": {"Year": 3}}, SpecificationError,
     "columns must map source column names"),
]


@pytest.mark.parametrize(("make", "kwargs", "error", "match"), [c[1:] for c in READ_CASES],
                         ids=[c[0] for c in READ_CASES])
def test_read_panel_refuses(tmp_path: Path, make: Callable[[Path], Path], kwargs: dict[str, Any],
                            error: type[Exception], match: str) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=match):
        read_panel(path, **kwargs)


def test_catalogue_size() -> None:
    """This catalogue (the contract) and tests/test_bad_input_{catalogue,files,options}.py: >= 150 cases."""
    from test_bad_input_catalogue import CASES
    from test_bad_input_files import FILE_CASES
    from test_bad_input_options import OPTION_CASES

    here = len(ERROR_CASES) + len(WARNING_CASES) + len(READ_CASES)
    assert here >= 30
    assert here + len(CASES) + len(FILE_CASES) + len(OPTION_CASES) >= 150
