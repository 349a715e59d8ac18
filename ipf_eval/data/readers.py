"""Read an agency's panel file (CSV, Parquet, Stata, Excel) and map its column names onto the contract.

:func:`read_panel` only reads, renames and type-checks; it does not validate the panel.  Pass the result to
:func:`ipf_eval.data.contract.validate_panel` (every estimator does so anyway).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.data import _checks as ck
from ipf_eval.errors import DataError, SpecificationError

__all__ = ["READ_OPTION_FORMATS", "SUPPORTED_FORMATS", "read_columns", "read_panel"]

#: File extensions read by :func:`read_panel`, mapped to the format name.
SUPPORTED_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".csv.gz": "csv",
    ".csv.zip": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".dta": "stata",
    ".xlsx": "excel",
    ".xlsm": "excel",
}
_DTYPES = ("numeric", "integer", "string", "category", "bool")
#: The reading options of :func:`read_panel` and the formats each applies to (as in pandas: ``read_csv``
#: takes all but ``sheet``; ``read_excel`` takes the sheet, the decimal and thousands marks for numbers
#: stored as text, extra missing-value codes and the lines to skip; Parquet and Stata files carry their own
#: types and take none).
READ_OPTION_FORMATS: dict[str, tuple[str, ...]] = {
    "sep": ("csv",),
    "decimal": ("csv", "excel"),
    "thousands": ("csv", "excel"),
    "encoding": ("csv",),
    "sheet": ("excel",),
    "na_values": ("csv", "excel"),
    "skiprows": ("csv", "excel"),
}
_FORMAT_NAMES = {"csv": "CSV", "excel": "Excel", "parquet": "Parquet", "stata": "Stata"}


def _format_of(path: Path, file_format: str | None) -> str:
    if file_format is not None:
        formats = sorted(set(SUPPORTED_FORMATS.values()))
        if file_format not in formats:
            raise SpecificationError(f"file_format must be one of {formats!r} or None; got {file_format!r}.")
        return file_format
    if path.is_dir():  # a partitioned Parquet dataset
        if not any(path.rglob("*.parquet")) and not any(path.rglob("*.pq")):
            raise DataError(f"directory {str(path)!r} holds no .parquet files; pass a file, or the folder "
                            "of a partitioned Parquet dataset.")
        return "parquet"
    name = path.name.lower()
    for ext in sorted(SUPPORTED_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return SUPPORTED_FORMATS[ext]
    hint = " Save .xls workbooks as .xlsx." if name.endswith(".xls") else ""
    raise DataError(
        f"unsupported file extension {path.suffix!r} for {str(path)!r}; read_panel reads "
        f"{', '.join(SUPPORTED_FORMATS)}.{hint} Pass file_format='csv' (or 'parquet', 'stata', 'excel') "
        "if the extension is misleading."
    )


def _check_mapping(columns: Mapping[str, str]) -> None:
    bad = [(k, v) for k, v in columns.items() if not isinstance(k, str) or not isinstance(v, str) or not v]
    if bad:
        raise SpecificationError(
            f"columns must map source column names to contract names (strings); got {bad[:5]!r}."
        )
    targets: dict[str, list[str]] = {}
    for src, dst in columns.items():
        targets.setdefault(dst, []).append(src)
    clashes = {dst: srcs for dst, srcs in targets.items() if len(srcs) > 1}
    if clashes:
        dst, srcs = next(iter(clashes.items()))
        raise DataError(
            f"columns maps {len(srcs)} source columns {srcs!r} to the same name {dst!r}; each contract name "
            "must come from one source column. Drop one of them from the mapping."
        )


def _delimiter(path: Path, sep: str | None) -> str:
    return sep if sep is not None else ("\t" if path.name.lower().endswith(".tsv") else ",")


class _Options(NamedTuple):
    """The text-reading options of one call, checked."""

    sep: str | None
    decimal: str
    encoding: str | None
    thousands: str | None
    na_values: list[str] | None
    skiprows: int | None


def _read(path: Path, fmt: str, *, sheet: str | int | None, usecols: list[str] | None,
          str_cols: list[str], opts: _Options) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path, sep=_delimiter(path, opts.sep), decimal=opts.decimal,
                           thousands=opts.thousands, encoding=opts.encoding, usecols=usecols,
                           na_values=opts.na_values, skiprows=opts.skiprows,
                           dtype={c: str for c in str_cols} or None)
    if fmt == "parquet":
        return pd.read_parquet(path, columns=usecols)
    if fmt == "stata":
        return pd.read_stata(path, columns=usecols)
    frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="openpyxl",
                          decimal=opts.decimal, thousands=opts.thousands, na_values=opts.na_values,
                          skiprows=opts.skiprows, dtype={c: str for c in str_cols} or None)
    return frame if usecols is None else frame.loc[:, usecols]


def _source_columns(path: Path, fmt: str, *, sep: str | None, encoding: str | None, sheet: str | int | None,
                    skiprows: int | None) -> list[str]:
    """Return the column names in the file, read without loading the rows where the format allows it."""
    if fmt == "csv":
        return [str(c) for c in pd.read_csv(path, sep=_delimiter(path, sep), encoding=encoding, nrows=0,
                                            skiprows=skiprows).columns]
    if fmt == "parquet":
        import pyarrow.dataset as pads

        return list(pads.dataset(str(path), format="parquet", partitioning="hive").schema.names)
    if fmt == "excel":
        return [str(c) for c in pd.read_excel(path, sheet_name=0 if sheet is None else sheet,
                                              engine="openpyxl", nrows=0, skiprows=skiprows).columns]
    with pd.io.stata.StataReader(path) as reader:
        return list(reader.variable_labels())


def _raw_header(path: Path, fmt: str, *, sep: str | None, encoding: str | None, sheet: str | int | None,
                skiprows: int | None) -> list[str]:
    """Return the header row as written in the file (pandas renames a repeated name ``x`` to ``x.1``)."""
    if fmt == "csv":
        row = pd.read_csv(path, sep=_delimiter(path, sep), encoding=encoding, header=None, nrows=1,
                          skiprows=skiprows, dtype=str, keep_default_na=False)
    elif fmt == "excel":
        row = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, engine="openpyxl", header=None,
                            nrows=1, skiprows=skiprows, dtype=str, keep_default_na=False)
    else:  # Parquet keeps repeated names in its schema; Stata forbids them
        return _source_columns(path, fmt, sep=sep, encoding=encoding, sheet=sheet, skiprows=skiprows)
    return [] if row.empty else [str(v) for v in row.iloc[0].tolist()]


def _check_duplicate_names(path: Path, header: Sequence[str], *, read_all: bool,
                           mapped: Sequence[str]) -> None:
    """Refuse a file whose header repeats a column name among the columns read."""
    seen: dict[str, int] = {}
    for name in header:
        seen[name] = seen.get(name, 0) + 1
    repeated = [name for name, k in seen.items() if k > 1 and name != ""]
    used = repeated if read_all else [n for n in repeated if n in mapped]
    if used:
        positions = {n: [i + 1 for i, h in enumerate(header) if h == n] for n in used}
        shown = "; ".join(f"{n!r} in columns {pos}" for n, pos in list(positions.items())[:5])
        raise DataError(
            f"{str(path)!r} has {len(used)} column name(s) used more than once ({shown}); pandas would read "
            f"the copies as {used[0]!r}.1, ..., so which one is meant is ambiguous. Rename the columns in "
            "the file (or drop the copies), or map only columns whose names are unique."
        )


def _check_exists(p: Path) -> None:
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        hint = ck.close_matches(p.name, [c.name for c in parent.iterdir()]) if parent.is_dir() else ""
        raise DataError(f"file {str(p)!r} does not exist{hint}; check the path (relative paths start at "
                        f"{os.getcwd()!r}).")


def _check_options(p: Path, fmt: str, given: Mapping[str, object]) -> tuple[list[str] | None, int | None]:
    """Check that each reading option given applies to the format; return ``na_values`` and ``skiprows``."""
    for name, value in given.items():
        if value is None:
            continue
        formats = READ_OPTION_FORMATS[name]
        if fmt not in formats:
            shown = " and ".join(_FORMAT_NAMES[f] for f in formats)
            raise SpecificationError(f"{name} applies to {shown} files only; {str(p)!r} is {fmt} (got "
                                     f"{name}={value!r}); remove it.")
    for name in ("sep", "thousands", "encoding"):
        value = given.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise SpecificationError(f"{name} must be a non-empty string or None; got {value!r}.")
    na_raw, skip = given.get("na_values"), given.get("skiprows")
    na_values: list[str] | None = None
    if na_raw is not None:
        if isinstance(na_raw, str) or not isinstance(na_raw, Sequence) or \
                not all(isinstance(v, str) for v in na_raw):
            raise SpecificationError(f"na_values must be a list of strings (extra codes read as missing, "
                                     f"e.g. ['-', 'n/a']) or None; got {na_raw!r}.")
        na_values = list(na_raw)
    if skip is not None and (isinstance(skip, bool) or not isinstance(skip, int) or skip < 0):
        raise SpecificationError(f"skiprows must be a whole number >= 0 (lines above the header) or None; "
                                 f"got {skip!r}.")
    return na_values, skip if isinstance(skip, int) else None


@contextlib.contextmanager
def _reading(p: Path, fmt: str, encoding: str | None) -> Iterator[None]:
    """Turn the readers' own exceptions into a :class:`DataError` naming the file and the remedy."""
    try:
        yield
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file {str(p)!r} is empty (no header row); export the panel again.") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"file {str(p)!r} is not valid {encoding or 'UTF-8'} text ({exc.reason} at byte "
                        f"{exc.start}); pass encoding='latin-1' (or the file's encoding).") from exc
    except Exception as exc:  # pandas, pyarrow, openpyxl and zipfile each raise their own family
        raise DataError(f"cannot read {str(p)!r} as {fmt}: {type(exc).__name__}: {exc}. Check that the file "
                        "is complete and really in that format (re-export it if it is corrupt).") from exc


def _check_sheet(p: Path, sheet: str | int) -> None:
    with pd.ExcelFile(p, engine="openpyxl") as book:
        sheets = [str(name) for name in book.sheet_names]
    if (isinstance(sheet, str) and sheet not in sheets) or (
            isinstance(sheet, int) and not 0 <= sheet < len(sheets)):
        raise DataError(f"sheet {sheet!r} not found in {str(p)!r}"
                        f"{ck.close_matches(str(sheet), sheets)}; sheets are {sheets!r}.")


@keyword_options
def read_columns(
    path: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    file_format: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
    skiprows: int | None = None,
) -> list[str]:
    """Return the column names of a panel file, reading its header only where the format allows it.

    Parameters
    ----------
    path
        The file, as for :func:`read_panel`.
    sheet, file_format, sep, encoding, skiprows
        As for :func:`read_panel` (the options that decide where the header is).

    Returns
    -------
    list of str
        The file's column names, in file order, before any mapping.

    Raises
    ------
    DataError
        Missing, unreadable or empty file; unsupported extension; an unknown Excel sheet.
    SpecificationError
        An option that does not apply to the file's format, or an invalid ``file_format``.

    Examples
    --------
    >>> read_columns("register.csv", sep=";")  # doctest: +SKIP
    ['FirmNo', 'Year', 'FirstGrant']
    """
    p = Path(path)
    _check_exists(p)
    fmt = _format_of(p, file_format)
    _, skip = _check_options(p, fmt, {"sep": sep, "encoding": encoding, "sheet": sheet, "skiprows": skiprows})
    with _reading(p, fmt, encoding):
        if fmt == "excel" and sheet is not None:
            _check_sheet(p, sheet)
        return _source_columns(p, fmt, sep=sep, encoding=encoding, sheet=sheet, skiprows=skip)


def _rows(mask: pd.Series) -> str:
    """``"rows [1, 7]"``: where the offending cells are (positions, not values: messages reach reports)."""
    rows = [int(i) for i in np.flatnonzero(mask.to_numpy(dtype=bool))]
    more = f" and {len(rows) - ck.N_EXAMPLES} more" if len(rows) > ck.N_EXAMPLES else ""
    return f"rows {rows[: ck.N_EXAMPLES]!r}{more}, counted from 0 after the header"


def _apply_dtypes(frame: pd.DataFrame, dtypes: Mapping[str, str], path: Path) -> pd.DataFrame:
    for col, kind in dtypes.items():
        if kind not in _DTYPES:
            raise SpecificationError(f"dtypes[{col!r}] must be one of {_DTYPES!r}; got {kind!r}.")
        if col not in frame.columns:
            raise SpecificationError(
                f"dtypes names column {col!r}, which is not in the result"
                f"{ck.close_matches(col, frame.columns)}; "
                f"columns are {ck.examples(frame.columns, k=20)} (use the contract names after mapping)."
            )
        s = frame[col]
        if kind in ("numeric", "integer"):
            if not pd.api.types.is_numeric_dtype(s.dtype):  # booleans count as numbers (0/1)
                converted = pd.to_numeric(s.astype(object), errors="coerce")
                bad = converted.isna() & s.notna()
                if bad.any():
                    where = ck.listed_values(f"read_panel(): text in a {kind} column of {str(path)!r}", col,
                                             s[bad])
                    raise DataError(
                        f"column {col!r} of {str(path)!r} should be {kind} but {int(bad.sum())} of {len(s)} "
                        f"value(s) are text ({int(s[bad].nunique())} distinct; {_rows(bad)}; {where}). Fix "
                        "these cells (decimal commas: pass decimal=','; codes for a missing value: pass "
                        "na_values=[...]) or read the column as 'string'."
                    )
                s = converted
            if kind == "integer":
                values = s.astype("float64")
                frac = values.notna() & (values != values.round())
                if frac.any():
                    where = ck.listed_values(f"read_panel(): fractions in an integer column of {str(path)!r}",
                                             col, s[frac])
                    raise DataError(
                        f"column {col!r} of {str(path)!r} should be integer but holds {int(frac.sum())} "
                        f"fractional value(s) ({_rows(frac)}; {where}); fix them or ask for 'numeric'."
                    )
                s = s.astype("Int64") if s.isna().any() else s.astype("int64")
            frame[col] = s
        elif kind == "string":
            frame[col] = s.astype("string")
        elif kind == "category":
            frame[col] = s.astype("category")
        else:
            frame[col] = _as_bool(s, col, path)
    return frame


def _as_bool(s: pd.Series, col: str, path: Path) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s
    truthy = {"1", "true", "yes", "y", "t", "1.0"}
    falsy = {"0", "false", "no", "n", "f", "0.0"}
    text = s.astype("string").str.strip().str.lower()
    known = text.isin(truthy | falsy) | s.isna()
    if not known.all():
        bad = ~known
        where = ck.listed_values(f"read_panel(): values other than yes/no in a bool column of {str(path)!r}",
                                 col, s[bad])
        raise DataError(
            f"column {col!r} of {str(path)!r} should be bool but holds {int(bad.sum())} value(s) that are "
            f"not yes/no ({int(s[bad].nunique())} distinct; {_rows(bad)}; {where}); use 1/0, true/false or "
            "yes/no."
        )
    return text.isin(truthy).astype("boolean").mask(s.isna())


@keyword_options
def read_panel(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    dtypes: Mapping[str, str] | None = None,
    keep_unmapped: bool = False,
    file_format: str | None = None,
    sep: str | None = None,
    decimal: str = ".",
    encoding: str | None = None,
    thousands: str | None = None,
    na_values: Sequence[str] | None = None,
    skiprows: int | None = None,
) -> pd.DataFrame:
    """Read a firm panel from CSV, Parquet, Stata or Excel and rename its columns to the contract names.

    Parameters
    ----------
    path
        The file.  The format follows the extension: ``.csv``, ``.txt``, ``.tsv``, ``.csv.gz``, ``.csv.zip``,
        ``.parquet``/``.pq`` (or a directory holding a partitioned Parquet dataset), ``.dta`` (Stata),
        ``.xlsx``/``.xlsm`` (Excel, via openpyxl).
    columns
        Mapping of the file's column names to contract names, e.g. ``{"Firm ID": "firm_id", "Year": "year"}``.
        When given, only these columns are read (in this order) unless ``keep_unmapped``.  ``None`` reads
        every column unchanged.
    sheet
        Excel only: sheet name or 0-based position (default: the first sheet).
    dtypes
        Optional expected types by *contract* name: ``"numeric"``, ``"integer"``, ``"string"`` (read as text,
        keeping leading zeros in ids such as ``"00123"``), ``"category"`` or ``"bool"``.  Text that parses as
        numbers is converted; anything else is a DataError naming the cells.
    keep_unmapped
        With ``columns``, also keep the file's other columns (after the mapped ones), unrenamed.
    file_format
        Override the extension: ``"csv"``, ``"parquet"``, ``"stata"`` or ``"excel"``.
    sep, encoding
        CSV only: field separator (default ``","``, tab for ``.tsv``) and text encoding (e.g. ``"latin-1"``).
    decimal, thousands
        CSV and Excel: decimal mark (``","`` for many European exports) and thousands separator (e.g. ``"."``
        or ``" "``; default none) of numbers written as text.  In a workbook they apply to text cells only;
        numeric cells are numbers already.
    na_values
        CSV and Excel: extra codes read as missing (e.g. ``["-", "n/a"]``), in addition to pandas' defaults
        (empty cells, ``NA``, ``NaN``, ...).
    skiprows
        CSV and Excel: number of lines above the header row to skip (titles, notes of an export).

    Returns
    -------
    pandas.DataFrame
        The data with contract column names and a fresh RangeIndex; not yet validated.

    Raises
    ------
    DataError
        Missing, unreadable or empty file; unsupported extension; a column name that the file's header
        repeats, among the columns read; mapped columns not in the file (with the available columns and
        close matches); two source columns mapped to one name or a mapped name that clashes with a kept
        column; values of the wrong type for ``dtypes``; an unknown Excel sheet.
    SpecificationError
        Invalid arguments: an unknown ``dtypes`` kind or ``file_format``, an option for a format it does not
        apply to (:data:`READ_OPTION_FORMATS`: ``sep``/``encoding`` CSV only, ``sheet`` Excel only, the
        others CSV and Excel), ``na_values`` that are not strings, a negative ``skiprows``.

    Notes
    -----
    Parquet and Stata files carry their own column types and missing values: no reading option applies.

    Examples
    --------
    >>> panel = read_panel("register.xlsx", columns={"Firm ID": "firm_id", "Year": "year"},
    ...                    dtypes={"firm_id": "string", "year": "integer"})  # doctest: +SKIP
    """
    p = Path(path)
    _check_exists(p)
    fmt = _format_of(p, file_format)
    if not isinstance(decimal, str) or len(decimal) != 1:
        raise SpecificationError(f"decimal must be one character ('.' or ','); got {decimal!r}.")
    na_list, skip = _check_options(p, fmt, {
        "sep": sep, "decimal": decimal if decimal != "." else None, "thousands": thousands,
        "encoding": encoding, "sheet": sheet, "na_values": na_values, "skiprows": skiprows})
    mapping = dict(columns) if columns is not None else None
    if mapping is not None:
        if not mapping:
            raise SpecificationError("columns is empty; map at least one column, or pass None to read all.")
        _check_mapping(mapping)
    inverse = {v: k for k, v in (mapping or {}).items()}
    str_cols = [inverse.get(c, c) for c, kind in (dtypes or {}).items() if kind == "string"]

    options = _Options(sep=sep, decimal=decimal, encoding=encoding, thousands=thousands, na_values=na_list,
                       skiprows=skip)
    with _reading(p, fmt, encoding):
        if fmt == "excel" and sheet is not None:
            _check_sheet(p, sheet)
        frame: pd.DataFrame | None = None
        if fmt == "excel":  # a workbook is parsed whole anyway: read it once
            frame = _read(p, fmt, sheet=sheet, usecols=None, str_cols=str_cols, opts=options)
            available = [str(c) for c in frame.columns]
        else:
            available = _source_columns(p, fmt, sep=sep, encoding=encoding, sheet=sheet, skiprows=skip)
        if fmt != "stata":
            header = _raw_header(p, fmt, sep=sep, encoding=encoding, sheet=sheet, skiprows=skip)
            _check_duplicate_names(p, header, read_all=mapping is None or keep_unmapped,
                                   mapped=list(mapping or {}))
        usecols: list[str] | None = None
        if mapping is not None:
            missing = [c for c in mapping if c not in available]
            if missing:
                parts = [f"{c!r}{ck.close_matches(c, available)}" for c in missing]
                sep_hint = ""
                if fmt == "csv" and len(available) == 1 and any(x in available[0] for x in ";\t|"):
                    sep_hint = " The header has a single column: pass sep=';' (or the file's separator)."
                raise DataError(
                    f"{len(missing)} mapped column(s) not in {str(p)!r}: {', '.join(parts)}. Available "
                    f"columns ({len(available)}): {ck.examples(available, k=30)}.{sep_hint}"
                )
            usecols = None if keep_unmapped else list(mapping)
        if frame is None:
            wanted_str = [c for c in str_cols if c in available]
            frame = _read(p, fmt, sheet=sheet, usecols=usecols, str_cols=wanted_str, opts=options)

    if mapping is not None:
        if usecols is not None:
            frame = frame.loc[:, usecols]
        else:
            frame = frame.loc[:, [*mapping, *[c for c in frame.columns if c not in mapping]]]
        clash = [c for c in frame.columns if c not in mapping and c in mapping.values()]
        if clash:
            raise DataError(f"mapped name(s) {clash!r} already exist as unmapped column(s) in {str(p)!r}; "
                            "map those columns too, or pass keep_unmapped=False.")
        frame = frame.rename(columns=mapping)
    frame = frame.reset_index(drop=True)
    if frame.shape[1] == 0:
        raise DataError(f"no columns found in {str(p)!r}; check the file (and sep= for a CSV).")
    if dtypes:
        frame = _apply_dtypes(frame, dtypes, p)
    return frame
