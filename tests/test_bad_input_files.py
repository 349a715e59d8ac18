"""Bad files for ``read_panel``: a column name used twice in the header, an unknown option (part of the
bad-input catalogue, ``tests/test_bad_input_catalogue.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ipf_eval.data import read_panel
from ipf_eval.errors import DataError, SpecificationError


def E(text: str) -> str:
    """A literal fragment of a message, as a regex."""
    return re.escape(text)


# ---- files: a column name used twice in the header --------------------------------------------------------

def _csv(text: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "panel.csv"
        path.write_text(text, encoding="utf-8")
        return path
    return make


def _xlsx_twice(tmp: Path) -> Path:
    path = tmp / "book.xlsx"
    frame = pd.DataFrame([[1, 2010, 5, 6]], columns=["Firm", "Year", "Emp", "Emp2"])
    frame.to_excel(path, index=False)
    from openpyxl import load_workbook

    book = load_workbook(path)
    book.active.cell(row=1, column=4, value="Emp")  # the header now repeats "Emp"
    book.save(path)
    return path


TWICE = "Firm,Year,Emp,Emp\n1,2010,5,6\n2,2010,7,8\n"

FILE_CASES: list[tuple[str, Callable[[Path], Path], dict[str, Any], type[Exception], str]] = [
    ("csv header repeats a name", _csv(TWICE), {}, DataError,
     r"has 1 column name\(s\) used more than once \('Emp' in columns \[3, 4\]\); pandas would read "
     r"the copies as 'Emp'.1"),
    ("csv repeated name mapped", _csv(TWICE), {"columns": {"Firm": "firm_id", "Emp": "emp"}}, DataError,
     r"'Emp' in columns \[3, 4\]"),
    ("csv repeated name kept unmapped", _csv(TWICE), {"columns": {"Firm": "firm_id"}, "keep_unmapped": True},
     DataError, "used more than once"),
    ("csv repeated name after skipped lines", _csv("exported 2024\n" + TWICE), {"skiprows": 1}, DataError,
     "'Emp' in columns"),
    ("excel header repeats a name", _xlsx_twice, {}, DataError, r"'Emp' in columns \[3, 4\]"),
    ("read_panel unknown option", _csv(TWICE), {"delimiter": ";"}, SpecificationError,
     E("read_panel() got unknown option(s) 'delimiter'")),
]


@pytest.mark.parametrize(("make", "kwargs", "error", "match"), [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])
def test_bad_file_is_refused(tmp_path: Path, make: Callable[[Path], Path], kwargs: dict[str, Any],
                             error: type[Exception], match: str) -> None:
    path = make(tmp_path)
    with pytest.raises(error, match=match):
        read_panel(path, **kwargs)


def test_a_repeated_name_outside_the_mapping_is_not_read() -> None:
    """Only the columns read must have unique names: a mapping that leaves the copies out reads fine."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = _csv(TWICE)(Path(tmp))
        frame = read_panel(path, columns={"Firm": "firm_id", "Year": "year"})
    assert list(frame.columns) == ["firm_id", "year"]
