"""The data block of a country file: an agency's own CSV, Parquet, Stata or Excel file and its delivery data.

``data: {source: file, path, format, read, columns, applications}``: the reading options reach pandas, the
mapping is ``contract name: file column``, firm ids such as ``FIRM-00042`` survive, and every error names the
country file and the key.  The files are built in ``tmp_path`` from simulated panels, so the loaded data can
be compared with what was written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from ipf_eval.data import simulate_firms
from ipf_eval.data.readers import read_columns, read_panel
from ipf_eval.errors import DataError, ParameterError, SpecificationError
from ipf_eval.pipeline.params import FileSource, ReadOptions
from ipf_eval.pipeline.plan import build_plan
from ipf_eval.pipeline.settings import batch_settings, instrument_run, load_country_data

PROJECT = Path(__file__).resolve().parents[1]
INSTRUMENT = "loan_guarantee"
RENAME = {"firm_id": "FirmNo", "year": "Year", "first_support_year": "FirstGrant", "size_class": "Größe",
          "support_amount": "Belopp"}  # contract name: file column
APPS_RENAME = {"firm_id": "FirmNo", "call_year": "Call", "application_date": "Applied",
               "decision_date": "Decided", "outcome": "Decision"}
#: The applications' contract names (issue 14): firm_id, call, applied, decided, granted -> file columns.
APPS_COLUMNS = {"firm_id": "FirmNo", "call": "Call", "applied": "Applied", "decided": "Decided",
                "granted": "Decision"}


# -- helpers -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate_firms(seed=5, n_firms=3000)


@pytest.fixture(scope="module")
def panel(sim: Any) -> pd.DataFrame:
    return sim.evaluation_sample("AT", INSTRUMENT)


def _ids(values: pd.Series) -> list[str]:
    return [f"FIRM-{int(i):05d}" for i in values]


def _project(root: Path, data: dict[str, Any], *, code: str = "SE") -> Path:
    """A params tree: the project's instrument files, a batch of one country and its country file."""
    params = root / "params"
    shutil.copytree(PROJECT / "params" / "instruments", params / "instruments")
    (params / "countries").mkdir(parents=True)
    country = {"code": code, "name": "Sweden", "agency": "Tillväxtverket", "data": data,
               "instruments": [INSTRUMENT]}
    (params / "countries" / f"{code}.yaml").write_text(yaml.safe_dump(country, allow_unicode=True),
                                                       encoding="utf-8")
    (params / "batch.yaml").write_text(yaml.safe_dump({"countries": [code], "seed": 1, "case_studies": []}))
    return params / "batch.yaml"


def _european_csv(frame: pd.DataFrame, path: Path) -> None:
    """``;``-separated, decimal comma, thousands ``.``, Latin-1, ``-`` for missing, renamed columns."""
    out = frame.rename(columns=RENAME)
    out["FirmNo"] = _ids(frame["firm_id"])
    out["Belopp"] = [f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") for v in
                     frame["support_amount"]]  # 42800.0 -> "42.800,00"
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep=";", decimal=",", index=False, encoding="latin-1", na_rep="-")


def _expected(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(firm_id=_ids(frame["firm_id"]))


def _same_values(loaded: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = loaded.loc[:, list(expected.columns)]
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False, check_exact=False,
                                  rtol=1e-12, atol=0.0)


CSV_BLOCK: dict[str, Any] = {
    "source": "file", "path": "data/SE/firms.csv",
    "read": {"sep": ";", "decimal": ",", "thousands": ".", "encoding": "latin-1", "na_values": ["-"]},
    "columns": RENAME}


# -- loading -------------------------------------------------------------------------------------------------
def test_european_csv_is_read_as_written(tmp_path: Path, panel: pd.DataFrame) -> None:
    before = panel.copy()
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    data = load_country_data(batch_settings(_project(tmp_path, CSV_BLOCK)), "SE")
    pdt_panel = data.panel
    assert set(pdt_panel.columns[:len(RENAME)]) == set(RENAME)  # the mapped columns first, contract names
    assert "Größe" not in pdt_panel.columns
    assert pdt_panel["firm_id"].str.fullmatch(r"FIRM-\d{5}").all()
    assert pd.api.types.is_float_dtype(pdt_panel["arm"])  # '-' read as missing, so the column is numeric
    assert pdt_panel["support_amount"].max() > 1000  # thousands separators understood
    _same_values(pdt_panel, _expected(panel))
    pd.testing.assert_frame_equal(panel, before)  # the caller's frame is untouched
    assert data.applications is None
    assert data.data_file == tmp_path / "data" / "SE" / "firms.csv"


def test_instrument_run_evaluates_the_file(tmp_path: Path, panel: pd.DataFrame) -> None:
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    run = instrument_run(_project(tmp_path, CSV_BLOCK), country="SE", instrument=INSTRUMENT)
    assert run.data_path == tmp_path / "data" / "SE" / "firms.csv"
    data = run.load_data()
    _same_values(data.panel, _expected(panel))
    evidence = run.evaluate(data, created="2024-01-01T00:00:00Z")
    assert evidence.provenance.data_source == "file"
    assert evidence.sample.n_firms == panel["firm_id"].nunique()


def test_excel_second_sheet_with_title_rows(tmp_path: Path, panel: pd.DataFrame) -> None:
    path = tmp_path / "data" / "SE" / "firms.xlsx"
    path.parent.mkdir(parents=True)
    out = panel.rename(columns=RENAME).assign(FirmNo=_ids(panel["firm_id"]))
    with pd.ExcelWriter(path, engine="openpyxl") as book:
        notes = pd.DataFrame({"note": ["Extract of the register, 2024"]})
        notes.to_excel(book, sheet_name="Notes", index=False)
        out.to_excel(book, sheet_name="Panel", index=False, startrow=2, na_rep="-")
    block = {"source": "file", "path": "data/SE/firms.xlsx",
             "read": {"sheet": "Panel", "skiprows": 2, "na_values": ["-"]}, "columns": RENAME}
    loaded = load_country_data(batch_settings(_project(tmp_path, block)), "SE").panel
    _same_values(loaded, _expected(panel))


def test_format_overrides_the_suffix(tmp_path: Path, panel: pd.DataFrame) -> None:
    path = tmp_path / "data" / "SE" / "firms.export"
    path.parent.mkdir(parents=True)
    panel.to_parquet(path)
    block = {"source": "file", "path": "data/SE/firms.export", "format": "parquet"}
    loaded = load_country_data(batch_settings(_project(tmp_path, block)), "SE").panel
    pd.testing.assert_frame_equal(loaded, panel.reset_index(drop=True), check_dtype=False)
    assert loaded["firm_id"].dtype == np.int64  # Parquet ids keep the file's type


@pytest.mark.parametrize(("written", "kind", "first"), [
    (["42", "1043", "7"], "int64", 42),            # plain whole numbers: integers, as pandas reads them
    (["00042", "01043", "00007"], "string", "00042"),  # leading zeros: kept as text
    (["FIRM-00042", "FIRM-01043", "FIRM-00007"], "string", "FIRM-00042"),
])
def test_firm_ids_keep_their_form(tmp_path: Path, written: list[str], kind: str, first: object) -> None:
    rows = [f"{i};{t};{2012 if n == 0 else 0};1,5" for n, i in enumerate(written) for t in (2010, 2011, 2012)]
    path = tmp_path / "data" / "SE" / "firms.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Firm;Year;G;LnEmp\n" + "\n".join(rows) + "\n")
    block = {"source": "file", "path": "data/SE/firms.csv", "read": {"sep": ";", "decimal": ","},
             "columns": {"firm_id": "Firm", "year": "Year", "first_support_year": "G",
                         "log_employment": "LnEmp"}}
    loaded = load_country_data(batch_settings(_project(tmp_path, block)), "SE").panel
    assert str(loaded["firm_id"].dtype) == kind
    assert loaded["firm_id"].iloc[0] == first
    assert loaded["log_employment"].tolist() == [1.5] * 9


def test_applications_are_loaded_mapped_and_selected_per_instrument(tmp_path: Path, sim: Any,
                                                                    panel: pd.DataFrame) -> None:
    apps = sim.applications.loc[sim.applications["country"] == "AT"].reset_index(drop=True)
    before = apps.copy()
    assert apps["instrument"].nunique() > 1
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    file_apps = apps.rename(columns=APPS_RENAME).assign(FirmNo=_ids(apps["firm_id"]))
    (tmp_path / "data" / "SE" / "applications.csv").write_text(file_apps.to_csv(sep="|", index=False))
    block = {**CSV_BLOCK, "applications": {"path": "data/SE/applications.csv", "format": "csv",
                                           "read": {"sep": "|"}, "columns": APPS_COLUMNS}}
    batch = _project(tmp_path, block)
    data = load_country_data(batch_settings(batch), "SE")
    assert data.applications is not None
    expected = apps.assign(firm_id=_ids(apps["firm_id"]))  # dates parsed, decisions accepted/rejected
    _same_values(data.applications, expected)
    pd.testing.assert_frame_equal(apps, before)

    run_data = instrument_run(batch, country="SE", instrument=INSTRUMENT).load_data()
    assert run_data.applications is not None
    assert set(run_data.applications["instrument"]) == {INSTRUMENT}
    assert len(run_data.applications) == int((apps["instrument"] == INSTRUMENT).sum())
    plan = build_plan(batch, notebooks_dir=PROJECT / "notebooks")
    assert plan.runs[0].data_files == (tmp_path / "data" / "SE" / "firms.csv",
                                       tmp_path / "data" / "SE" / "applications.csv")


def test_ids_of_panel_and_applications_match_in_kind(tmp_path: Path) -> None:
    path = tmp_path / "data" / "SE"
    path.mkdir(parents=True)
    (path / "firms.csv").write_text("firm_id,year,first_support_year\n1,2010,0\n2,2010,2010\n")
    (path / "apps.csv").write_text("firm_id,call,applied,decided,granted\n0002,2010,2010-02-01,,no\n")
    block = {"source": "file", "path": "data/SE/firms.csv", "applications": {"path": "data/SE/apps.csv"}}
    data = load_country_data(batch_settings(_project(tmp_path, block)), "SE")
    assert data.applications is not None
    assert data.panel["firm_id"].tolist() == ["1", "2"]  # the applications' ids are text, so both are
    assert data.applications["firm_id"].tolist() == ["0002"]


# -- errors in the country file ------------------------------------------------------------------------------
def _country_error(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ParameterError) as info:
        batch_settings(_project(tmp_path, data))
    return str(info.value)


def test_unknown_read_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    message = _country_error(tmp_path, {"source": "file", "path": "x.csv", "read": {"delimiter": ";"}})
    assert "SE.yaml" in message
    assert "key 'data.read'" in message  # the union tag pydantic adds is left out
    assert "unknown key 'delimiter' under 'read'" in message
    assert "'sep', 'decimal', 'thousands', 'encoding', 'sheet', 'na_values', 'skiprows'" in message


def test_unknown_data_key_suggests_the_spelling(tmp_path: Path) -> None:
    message = _country_error(tmp_path, {"source": "file", "path": "x.csv", "colums": {"firm_id": "F"}})
    assert "unknown key 'colums' (did you mean 'columns'?) under 'data'" in message
    message = _country_error(tmp_path / "a", {"source": "file", "path": "x.csv",
                                              "applications": {"path": "a.csv", "sepp": ";"}})
    assert "key 'data.applications'" in message
    assert "unknown key 'sepp'" in message


@pytest.mark.parametrize(("data", "pattern"), [
    ({"path": "x.parquet", "read": {"sep": ";"}},
     r"read\.sep does not apply to 'x\.parquet', a parquet file \(from its suffix\); parquet files carry "
     r"their own types"),
    ({"path": "x.dta", "read": {"encoding": "latin-1", "na_values": ["-"]}},
     r"read\.encoding, read\.na_values do not apply to 'x\.dta', a stata file"),
    ({"path": "x.csv", "read": {"sheet": "Panel"}},
     r"read\.sheet does not apply to 'x\.csv', a csv file .*'decimal', 'encoding', 'na_values', 'sep'"),
    ({"path": "x.xlsx", "read": {"sep": ";"}}, r"read\.sep does not apply to 'x\.xlsx', a excel file"),
    ({"path": "x.txt", "format": "parquet", "read": {"decimal": ","}},
     r"read\.decimal does not apply to 'x\.txt', a parquet file \(from its format key\).*fix format"),
    ({"path": "x.csv", "applications": {"path": "a.parquet", "read": {"thousands": "."}}},
     r"applications\.read\.thousands does not apply to 'a\.parquet'"),
])
def test_read_option_that_does_not_fit_the_format(tmp_path: Path, data: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        batch_settings(_project(tmp_path, {"source": "file", **data}))


@pytest.mark.parametrize(("read", "pattern"), [
    ({"encoding": "latin-99"}, r"key 'data\.read\.encoding': .*unknown text encoding 'latin-99'"),
    ({"sheet": True}, r"key 'data\.read\.sheet': .*the sheet's name .* or its position counted from 0"),
    ({"sheet": -1}, r"key 'data\.read\.sheet'"),
    ({"skiprows": -2}, r"key 'data\.read\.skiprows'"),
    ({"decimal": ",,"}, r"key 'data\.read\.decimal'"),
    ({"na_values": "-"}, r"key 'data\.read\.na_values'"),
])
def test_invalid_read_values(tmp_path: Path, read: dict[str, Any], pattern: str) -> None:
    path = "x.xlsx" if "sheet" in read else "x.csv"
    with pytest.raises(ParameterError, match=pattern):
        batch_settings(_project(tmp_path, {"source": "file", "path": path, "read": read}))


def test_two_contract_names_for_one_file_column(tmp_path: Path) -> None:
    message = _country_error(tmp_path, {"source": "file", "path": "x.csv",
                                        "columns": {"firm_id": "Id", "year": "Id"}})
    assert "columns maps 'firm_id', 'year' to the same file column 'Id'" in message


# -- errors when the data are opened -------------------------------------------------------------------------
def test_mapped_column_missing_from_the_file(tmp_path: Path, panel: pd.DataFrame) -> None:
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    block = {**CSV_BLOCK, "columns": {**RENAME, "firm_id": "FirmNr", "year": "year"}}
    with pytest.raises(ParameterError) as info:
        load_country_data(batch_settings(_project(tmp_path, block)), "SE")
    message = str(info.value)
    assert message.startswith(repr(str(tmp_path / "params" / "countries" / "SE.yaml")))
    assert "key 'data.columns.firm_id' is 'FirmNr', which is not a column of" in message
    assert "(close: 'FirmNo')" in message
    assert "key 'data.columns.year' is 'year'" in message
    assert "(close: 'Year')" in message
    assert "the file's columns are ['FirmNo', 'Year'" in message


def test_mapped_application_column_missing(tmp_path: Path, panel: pd.DataFrame) -> None:
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    (tmp_path / "data" / "SE" / "apps.csv").write_text("FirmNo,Call\nFIRM-00001,2010\n")
    block = {**CSV_BLOCK, "applications": {"path": "data/SE/apps.csv",
                                           "columns": {"firm_id": "FirmNo", "call_year": "CallYear"}}}
    with pytest.raises(ParameterError, match=r"key 'data\.applications\.columns\.call_year' is 'CallYear'.*"
                                             r"\(close: 'Call'\).*\['FirmNo', 'Call'\]"):
        load_country_data(batch_settings(_project(tmp_path, block)), "SE")


def test_single_column_header_suggests_the_separator(tmp_path: Path, panel: pd.DataFrame) -> None:
    _european_csv(panel, tmp_path / "data" / "SE" / "firms.csv")
    block = {**CSV_BLOCK, "read": {"encoding": "latin-1"}}
    with pytest.raises(ParameterError, match=r"header was read as a single column: set data\.read\.sep"):
        load_country_data(batch_settings(_project(tmp_path, block)), "SE")


def test_read_errors_name_the_country_file_and_key(tmp_path: Path, panel: pd.DataFrame) -> None:
    _european_csv(panel, tmp_path / "a" / "data" / "SE" / "firms.csv")
    block = {**CSV_BLOCK, "read": {"sep": ";"}}  # Latin-1 bytes read as UTF-8
    with pytest.raises(DataError, match=r"SE\.yaml': key 'data\.path' is 'data/SE/firms\.csv': .*not valid "
                                        r"UTF-8 .*keys of data\.read"):
        load_country_data(batch_settings(_project(tmp_path / "a", block)), "SE")
    missing = {**CSV_BLOCK, "path": "data/SE/nowhere.csv"}
    with pytest.raises(DataError, match=r"'data\.path' is 'data/SE/nowhere\.csv': file .* does not exist"):
        load_country_data(batch_settings(_project(tmp_path / "b", missing)), "SE")


def test_option_refused_by_the_reader_is_a_parameter_error(tmp_path: Path, panel: pd.DataFrame) -> None:
    folder = tmp_path / "data" / "SE" / "panel"  # a partitioned Parquet dataset: no suffix to check
    folder.mkdir(parents=True)
    panel.to_parquet(folder / "part-0.parquet")
    block = {"source": "file", "path": "data/SE/panel", "read": {"sep": ";"}}
    with pytest.raises(ParameterError, match=r"key 'data\.read': sep applies to CSV files only.*is parquet"):
        load_country_data(batch_settings(_project(tmp_path, block)), "SE")


def test_applications_path_is_confined(tmp_path: Path) -> None:
    block = {"source": "file", "path": "data/SE/firms.csv", "applications": {"path": "../../outside.csv"}}
    batch = _project(tmp_path / "p", block)
    with pytest.raises(ParameterError, match=r"SE\.yaml'.*key 'data\.applications\.path'.*outside"):
        instrument_run(batch, country="SE", instrument=INSTRUMENT)
    with pytest.raises(ParameterError, match=r"key 'data\.applications\.path'.*outside"):
        build_plan(batch)


def test_simulated_country_has_nothing_to_open(tmp_path: Path) -> None:
    batch = _project(tmp_path, {"source": "simulated", "seed": 1, "n_firms": 2000})
    with pytest.raises(ParameterError, match=r"key 'data\.source' is 'simulated': there is no file to open"):
        load_country_data(batch_settings(batch), "SE")


# -- the reader ----------------------------------------------------------------------------------------------
def test_read_panel_thousands_na_values_skiprows(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("Export of 2024\n\nId;Amount;Score\n1;1.234.567,5;-\n2;12,25;n/a\n")
    out = read_panel(path, sep=";", decimal=",", thousands=".", na_values=["-", "n/a"], skiprows=2)
    assert out["Amount"].tolist() == [1234567.5, 12.25]
    assert out["Score"].isna().all()
    assert read_columns(path, sep=";", skiprows=2) == ["Id", "Amount", "Score"]


def test_read_panel_excel_decimal_and_na_values(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    pd.DataFrame({"Id": [1, 2], "Amount": ["1.234,5", "-"]}).to_excel(path, index=False)
    out = read_panel(path, decimal=",", thousands=".", na_values=["-"])
    np.testing.assert_array_equal(out["Amount"].to_numpy(dtype=float), [1234.5, np.nan])
    assert read_columns(path) == ["Id", "Amount"]


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"thousands": "."}, r"thousands applies to CSV and Excel files only; .* is parquet"),
    ({"na_values": ["-"]}, r"na_values applies to CSV and Excel files only"),
    ({"skiprows": 1}, r"skiprows applies to CSV and Excel files only"),
])
def test_read_panel_refuses_text_options_for_parquet(tmp_path: Path, kwargs: dict[str, Any],
                                                     pattern: str) -> None:
    path = tmp_path / "f.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(SpecificationError, match=pattern):
        read_panel(path, **kwargs)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"na_values": "-"}, r"na_values must be a list of strings"),
    ({"na_values": [0]}, r"na_values must be a list of strings"),
    ({"skiprows": -1}, r"skiprows must be a whole number >= 0"),
    ({"sep": ""}, r"sep must be a non-empty string"),
    ({"decimal": ",,"}, r"decimal must be one character"),
])
def test_read_panel_refuses_bad_option_values(tmp_path: Path, kwargs: dict[str, Any], pattern: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    with pytest.raises(SpecificationError, match=pattern):
        read_panel(path, **kwargs)


def test_read_columns_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"does not exist"):
        read_columns(tmp_path / "none.csv")
    path = tmp_path / "f.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(path, index=False, sheet_name="Data")
    with pytest.raises(DataError, match=r"sheet 'Panel' not found .*\['Data'\]"):
        read_columns(path, sheet="Panel")
    with pytest.raises(SpecificationError, match=r"sep applies to CSV files only"):
        read_columns(path, sep=";")


def test_models_expose_the_options() -> None:
    source = FileSource.model_validate({"source": "file", "path": "x.csv", "read": {"sep": ";"}})
    assert source.read == ReadOptions(sep=";")
    assert source.read.given() == {"sep": ";"}
    assert source.applications is None
    assert source.format is None
