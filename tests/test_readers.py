"""read_panel: each format written into tmp_path and read back, column mapping, dtypes, sheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from ipf_eval.data.contract import validate_panel
from ipf_eval.data.readers import read_panel

MAPPING = {"Firm ID": "firm_id", "Year": "year", "First support": "first_support",
           "Employees (log)": "log_emp"}


@pytest.fixture
def agency_frame() -> pd.DataFrame:
    """What an agency exports: its own column names, plus a column the contract does not need."""
    return pd.DataFrame({
        "Firm ID": np.repeat([101, 102, 103, 104], 3),
        "Year": np.tile([2010, 2011, 2012], 4),
        "First support": np.repeat([2011, 2011, 0, 0], 3),
        "Employees (log)": np.round(np.linspace(1.0, 2.1, 12), 3),
        "Comment": ["ok"] * 12,
    })


def _expected(agency_frame: pd.DataFrame) -> pd.DataFrame:
    return agency_frame[list(MAPPING)].rename(columns=MAPPING)


def _write(frame: pd.DataFrame, path: Path) -> None:
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith(".dta"):
        frame.rename(columns=lambda c: c.replace(" ", "_").replace("(", "").replace(")", "")).to_stata(
            path, write_index=False)
    elif name.endswith(".xlsx"):
        frame.to_excel(path, index=False, sheet_name="panel")
    else:  # pragma: no cover - test helper
        raise AssertionError(name)


@pytest.mark.parametrize("filename", ["panel.csv", "panel.csv.gz", "panel.parquet", "panel.xlsx"])
def test_formats_round_trip(tmp_path: Path, agency_frame: pd.DataFrame, filename: str) -> None:
    path = tmp_path / filename
    _write(agency_frame, path)
    out = read_panel(path, columns=MAPPING)
    pdt.assert_frame_equal(out, _expected(agency_frame), check_dtype=False)
    assert list(out.columns) == list(MAPPING.values())
    assert isinstance(out.index, pd.RangeIndex)


def test_stata_round_trip(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    path = tmp_path / "panel.dta"
    _write(agency_frame, path)
    mapping = {"Firm_ID": "firm_id", "Year": "year", "First_support": "first_support",
               "Employees_log": "log_emp"}
    out = read_panel(path, columns=mapping)
    pdt.assert_frame_equal(out, _expected(agency_frame), check_dtype=False)


def test_without_mapping_reads_everything(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    path = tmp_path / "panel.parquet"
    _write(agency_frame, path)
    pdt.assert_frame_equal(read_panel(path), agency_frame)


def test_keep_unmapped(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    path = tmp_path / "panel.csv"
    _write(agency_frame, path)
    out = read_panel(path, columns={"Year": "year", "Firm ID": "firm_id"}, keep_unmapped=True)
    assert list(out.columns) == ["year", "firm_id", "First support", "Employees (log)", "Comment"]


def test_excel_sheet_by_name_and_position(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="cover", index=False)
        agency_frame.to_excel(writer, sheet_name="panel", index=False)
    by_name = read_panel(path, sheet="panel", columns=MAPPING)
    by_pos = read_panel(path, sheet=1, columns=MAPPING)
    pdt.assert_frame_equal(by_name, _expected(agency_frame), check_dtype=False)
    pdt.assert_frame_equal(by_pos, by_name)


def test_string_ids_keep_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("Firm ID,Year\n00123,2010\n00123,2011\n04560,2010\n")
    out = read_panel(path, columns={"Firm ID": "firm_id", "Year": "year"},
                     dtypes={"firm_id": "string", "year": "integer"})
    assert out["firm_id"].tolist() == ["00123", "00123", "04560"]
    assert out["year"].dtype == np.int64


def test_european_csv(tmp_path: Path) -> None:
    path = tmp_path / "eu.csv"
    path.write_bytes("Unternehmen;Jahr;Umsatz\nMüller;2010;1,5\nMüller;2011;2,25\n".encode("latin-1"))
    out = read_panel(path, sep=";", decimal=",", encoding="latin-1",
                     columns={"Unternehmen": "firm_id", "Jahr": "year", "Umsatz": "turnover"},
                     dtypes={"turnover": "numeric"})
    assert out["firm_id"].tolist() == ["Müller", "Müller"]
    np.testing.assert_array_equal(out["turnover"].to_numpy(), [1.5, 2.25])


def test_dtypes_convert_numbers_stored_as_text(tmp_path: Path) -> None:
    path = tmp_path / "text.xlsx"
    pd.DataFrame({"y": ["1.5", "2", None], "flag": ["yes", "no", None], "s": ["a", "b", "a"]}).to_excel(
        path, index=False)
    out = read_panel(path, dtypes={"y": "numeric", "flag": "bool", "s": "category"})
    np.testing.assert_array_equal(out["y"].to_numpy(dtype=float, na_value=np.nan), [1.5, 2.0, np.nan])
    assert out["flag"].tolist()[:2] == [True, False]
    assert out["flag"].isna().tolist() == [False, False, True]
    assert isinstance(out["s"].dtype, pd.CategoricalDtype)


def test_integer_dtype_with_missing_is_nullable(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("id,g\n1,2005\n2,\n")
    out = read_panel(path, dtypes={"g": "integer"})
    assert str(out["g"].dtype) == "Int64"
    assert out["g"].isna().tolist() == [False, True]


def test_partitioned_parquet_directory(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    folder = tmp_path / "register"
    agency_frame.to_parquet(folder, partition_cols=["Year"], index=False)
    out = read_panel(folder, columns={"Firm ID": "firm_id", "Year": "year"})
    assert len(out) == 12
    assert sorted(out["year"].astype(int).unique().tolist()) == [2010, 2011, 2012]


def test_read_then_validate(tmp_path: Path, agency_frame: pd.DataFrame) -> None:
    path = tmp_path / "panel.xlsx"
    _write(agency_frame, path)
    vp = validate_panel(read_panel(path, columns=MAPPING), idname="firm_id", tname="year",
                        gname="first_support", ynames="log_emp")
    assert vp.n_units == 4
    assert vp.cohorts == (2011,)
    assert vp.periods == (2010, 2011, 2012)


def test_numeric_dtype_accepts_booleans(tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    pd.DataFrame({"exporter": [True, False, True]}).to_parquet(path)
    out = read_panel(path, dtypes={"exporter": "numeric"})
    assert out["exporter"].tolist() == [True, False, True]
