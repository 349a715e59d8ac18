"""Parameter files of the batch: YAML read safely, validated by pydantic models before papermill sees them.

Three kinds of file live under ``params/``:

``batch.yaml``
    What to run (countries, optionally a subset of instruments), where to write, how many workers, the
    per-notebook timeout and the batch seed.
``countries/<CODE>.yaml``
    One per country: name, agency, data source (the embedded simulated default or a register file with
    its format, reading options, a column mapping and optional delivery data, see :class:`FileSource`),
    disclosure profile, the instruments the agency runs, and context text.
``instruments/<name>.yaml``
    One per instrument: label, assignment design, outcomes, estimator choices and programme costs.

The instrument models (:class:`InstrumentParams` and its blocks) live in the evidence layer
(:mod:`ipf_eval.evidence.parameters`), which evaluates an instrument from them; the strict YAML loader and
the error messages that name file, key and remedy are in :mod:`ipf_eval._params_io`.  Both are re-exported
here.
"""

from __future__ import annotations

import codecs
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ipf_eval._defaults import keyword_options
from ipf_eval._params_io import ParamsModel, StrictSafeLoader, check_file_name, load_yaml, validate_model
from ipf_eval.data.readers import READ_OPTION_FORMATS, SUPPORTED_FORMATS
from ipf_eval.errors import ParameterError
from ipf_eval.evidence.parameters import (
    OUTCOMES,
    CostOverride,
    CustomOutcome,
    EstimatorParams,
    InstrumentCosts,
    InstrumentParams,
    load_instrument_file,
)

__all__ = [
    "OUTCOMES",
    "ApplicationsSource",
    "BatchParams",
    "CostOverride",
    "CountryParams",
    "CustomOutcome",
    "EstimatorParams",
    "FileSource",
    "InstrumentCosts",
    "InstrumentParams",
    "ReadOptions",
    "SimulatedSource",
    "StrictSafeLoader",
    "check_notebook_parameters",
    "check_plain",
    "load_batch_file",
    "load_country_file",
    "load_instrument_file",
    "load_yaml",
    "resolve_confined",
]

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(max_length=5000)]
CaseStudy = Literal["michigan_training_grants", "getting_started", "delivery_trial_planning"]
_CASE_STUDIES: tuple[CaseStudy, ...] = ("michigan_training_grants", "getting_started",
                                        "delivery_trial_planning")


# ---------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------
class SimulatedSource(ParamsModel):
    """The embedded simulated default data (``ipf_eval.data.simulate_firms``)."""

    source: Literal["simulated"]
    seed: int = Field(default=2024, ge=0, le=2**32 - 1)
    n_firms: int = Field(default=30_000, ge=500, le=2_000_000)


FileFormat = Literal["csv", "parquet", "stata", "excel"]
OneChar = Annotated[str, StringConstraints(min_length=1, max_length=1)]
SheetName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class _Block(ParamsModel):
    """A block of the data source whose unknown keys are reported with the block's allowed keys."""

    _block: ClassVar[str] = ""

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = list(cls.model_fields)
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                parts = []
                for key in unknown:
                    close = difflib.get_close_matches(key, allowed, n=2)
                    parts.append(repr(key) + (f" (did you mean {' or '.join(map(repr, close))}?)" if close
                                              else ""))
                text = (f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(parts)} under "
                        f"{cls._block!r}; the keys of {cls._block!r} are {', '.join(map(repr, allowed))}")
                raise PydanticCustomError("extra_forbidden", "{text}", {"text": text})
        return data


class ReadOptions(_Block):
    """How a file is read (``read:`` of a data source); every key is optional.

    Each option applies to the formats pandas reads it for
    (:data:`ipf_eval.data.readers.READ_OPTION_FORMATS`):

    ``sep``, ``encoding``
        CSV only: the column separator (default ``","``, tab for ``.tsv``) and the text encoding (default
        UTF-8; e.g. ``latin-1``, ``cp1252``).
    ``decimal``, ``thousands``
        CSV and Excel: the decimal mark and the thousands separator of numbers written as text (in a
        workbook, numeric cells are numbers already).
    ``sheet``
        Excel only: the sheet's name, or its position counted from 0 (default: the first sheet).
    ``na_values``
        CSV and Excel: extra codes that mean "missing" (e.g. ``["-", "n/a"]``), besides empty cells and
        pandas' defaults (``NA``, ``NaN``, ...).
    ``skiprows``
        CSV and Excel: lines above the header row to skip.

    Parquet and Stata files carry their own types and missing values: no option applies to them, and giving
    one is an error naming the key and the format.
    """

    _block: ClassVar[str] = "read"

    sep: Annotated[str, StringConstraints(min_length=1, max_length=10)] | None = None
    decimal: OneChar | None = None
    thousands: OneChar | None = None
    encoding: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    sheet: SheetName | Annotated[int, Field(ge=0)] | None = None
    na_values: list[Annotated[str, StringConstraints(max_length=100)]] | None = None
    skiprows: Annotated[int, Field(ge=0)] | None = None

    @field_validator("sheet", mode="before")
    @classmethod
    def _sheet(cls, value: Any) -> Any:
        ok = (isinstance(value, str) and 0 < len(value) <= 100) or value is None or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        if not ok:
            raise ValueError("sheet must be the sheet's name (text; quote a name YAML reads as a number or "
                             "true/false) or its position counted from 0")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown text encoding {value!r}; use the file's encoding, e.g. utf-8, "
                                 "latin-1 or cp1252") from None
        return value

    def given(self) -> dict[str, Any]:
        """Return the options set in the file (name to value), for :func:`ipf_eval.data.read_panel`."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


def _file_format(path: str, declared: str | None) -> str | None:
    """Return the format of ``path``: ``declared`` or from its suffix (``None`` when it is not known)."""
    if declared is not None:
        return declared
    name = path.lower()
    for ext in sorted(SUPPORTED_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return SUPPORTED_FORMATS[ext]
    return None  # a folder of Parquet files, or an extension read_panel refuses when the file is read


def _check_read(path: str, declared: str | None, read: ReadOptions, where: str) -> None:
    fmt = _file_format(path, declared)
    if fmt is None:
        return
    wrong = [k for k in read.given() if fmt not in READ_OPTION_FORMATS[k]]
    if wrong:
        fits = sorted(k for k, formats in READ_OPTION_FORMATS.items() if fmt in formats)
        how, fix = (("from its suffix", "set format if the suffix is misleading") if declared is None
                    else ("from its format key", "fix format"))
        options = (f"the read options of {fmt} files are {', '.join(map(repr, fits))}" if fits
                   else f"{fmt} files carry their own types and take no read options")
        raise PydanticCustomError(
            "read_option_format", "{text}",
            {"text": f"{', '.join(f'{where}.{k}' for k in wrong)} do{'es' if len(wrong) == 1 else ''} not "
                     f"apply to {path!r}, a {fmt} file ({how}); {options}: remove "
                     f"{'it' if len(wrong) == 1 else 'them'}, or {fix}"})


def _check_columns(columns: Mapping[str, str], where: str) -> None:
    by_file: dict[str, list[str]] = {}
    for contract, file_column in columns.items():
        by_file.setdefault(file_column, []).append(contract)
    twice = {f: c for f, c in by_file.items() if len(c) > 1}
    if twice:
        file_column, names = next(iter(twice.items()))
        raise PydanticCustomError(
            "column_mapping", "{text}",
            {"text": f"{where} maps {', '.join(map(repr, names))} to the same file column {file_column!r}; "
                     f"each contract name (left) takes its own file column (right): fix the mapping"})


class ApplicationsSource(_Block):
    """The optional delivery data of a file source (``data.applications``): one row per application.

    ``path``, ``format``, ``read`` and ``columns`` work as in :class:`FileSource`.  The reach and delivery
    tables (:func:`ipf_eval.evidence.reach.reach_summary`) read ``firm_id``, ``call_year``,
    ``application_date``, ``decision_date`` and ``outcome`` (``"accepted"`` or another decision); a
    column ``instrument``, when present, selects each instrument's applications.
    """

    _block: ClassVar[str] = "applications"

    path: Annotated[str, StringConstraints(min_length=1)]
    format: FileFormat | None = None
    read: ReadOptions = Field(default_factory=ReadOptions)
    columns: dict[ColumnName, ColumnName] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> ApplicationsSource:
        _check_read(self.path, self.format, self.read, "applications.read")
        _check_columns(self.columns, "applications.columns")
        return self


class FileSource(_Block):
    """A register or monitoring file (CSV, Parquet, Stata, Excel) mapped onto the panel contract.

    Keys (all optional but ``source`` and ``path``):

    ``path``
        The file, relative to the project root; it must lie in the project or a folder of ``data_dirs`` in
        the batch file.  A folder holding a partitioned Parquet dataset is read as Parquet.
    ``format``
        ``csv``, ``parquet``, ``stata`` or ``excel``; by default from the suffix (``.csv``, ``.txt``,
        ``.tsv``, ``.csv.gz``, ``.csv.zip``, ``.parquet``, ``.pq``, ``.dta``, ``.xlsx``, ``.xlsm``).
    ``read``
        How the file is read: :class:`ReadOptions`.
    ``columns``
        **Contract name: file column**, e.g. ``{firm_id: FirmNo, year: Year}``.  A contract column the file
        already has under its own name needs no entry; the file's other columns are kept unrenamed.
    ``applications``
        Optional delivery data: :class:`ApplicationsSource`.

    The firm identifier of a CSV or Excel file is read as text and kept as text unless every id is a plain
    whole number (``42``, not ``0042``), which becomes an integer: ids such as ``FIRM-00042`` or ``00042``
    survive unchanged (:func:`ipf_eval.pipeline.settings.load_country_data`).
    """

    _block: ClassVar[str] = "data"

    source: Literal["file"]
    path: Annotated[str, StringConstraints(min_length=1)]
    format: FileFormat | None = None
    read: ReadOptions = Field(default_factory=ReadOptions)
    columns: dict[ColumnName, ColumnName] = Field(default_factory=dict)
    applications: ApplicationsSource | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FileSource:
        _check_read(self.path, self.format, self.read, "read")
        _check_columns(self.columns, "columns")
        return self


class CountryParams(ParamsModel):
    """One country: its agency, data, disclosure profile, the instruments it runs and its own costs.

    ``costs`` maps an instrument name to the country's programme costs where they differ from the
    instrument file's (subsidy levels and administration differ between agencies).
    """

    code: CountryCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    agency: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    data: SimulatedSource | FileSource = Field(discriminator="source")
    disclosure_profile: Literal["statistical_office", "research_data_centre"] = "statistical_office"
    instruments: list[Name] = Field(min_length=1)
    context: Text = ""
    costs: dict[Name, CostOverride] = Field(default_factory=dict)
    custom_outcomes: dict[Name, CustomOutcome] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_instruments(self) -> CountryParams:
        dup = sorted({i for i in self.instruments if self.instruments.count(i) > 1})
        if dup:
            raise ValueError(f"instruments {dup!r} are listed more than once; list each once")
        unknown = sorted(set(self.costs) - set(self.instruments))
        if unknown:
            raise ValueError(f"costs are given for {unknown!r}, which this country does not run "
                             f"(instruments: {self.instruments!r}); fix the name or add the instrument")
        return self


class BatchParams(ParamsModel):
    """The batch: which countries and instruments to run, where to write, workers, timeout, seed."""

    countries: list[CountryCode] = Field(min_length=1)
    instruments: list[Name] | None = None
    output_dir: Annotated[str, StringConstraints(min_length=1)] = "reports"
    data_dirs: list[Annotated[str, StringConstraints(min_length=1)]] = Field(default_factory=lambda: ["data"])
    workers: int = Field(default=2, ge=0, le=64)
    timeout: int = Field(default=1200, ge=10, le=86_400)
    seed: int = Field(default=2024, ge=0, le=2**32 - 1)
    synthesis: bool = True
    include_stale: bool = False  # the synthesis pools evidence whose latest run failed (labelled) or not
    reuse_kernels: bool = True
    case_studies: list[CaseStudy] = Field(default_factory=lambda: list(_CASE_STUDIES))

    @model_validator(mode="after")
    def _unique_countries(self) -> BatchParams:
        dup = sorted({c for c in self.countries if self.countries.count(c) > 1})
        if dup:
            raise ValueError(f"countries {dup!r} are listed more than once; list each once")
        return self


@keyword_options
def load_batch_file(path: Path | str) -> BatchParams:
    """Read and validate a batch file.

    Raises
    ------
    ParameterError
        If the file cannot be read or a key is unknown, missing or invalid; the message names the file,
        the key and the remedy.
    """
    path = Path(path)
    params = validate_model(BatchParams, load_yaml(path), path)
    return params


@keyword_options
def load_country_file(path: Path | str) -> CountryParams:
    """Read and validate a country file; its ``code`` must match the file name (``NO.yaml``).

    Raises
    ------
    ParameterError
        If the file is invalid or its code differs from the file name.
    """
    path = Path(path)
    params = validate_model(CountryParams, load_yaml(path), path)
    check_file_name(params.code, path, "code")
    return params


# ---------------------------------------------------------------------------------------------------------
# Paths and notebook parameters
# ---------------------------------------------------------------------------------------------------------
@keyword_options
def resolve_confined(value: str, *, root: Path, allowed: Sequence[Path], file: Path | str, key: str) -> Path:
    """Resolve a path from a parameter file and check it stays inside the project or a declared folder.

    Parameters
    ----------
    value
        The path as written (relative paths are taken from ``root``).
    root
        The project root.
    allowed
        Folders the path may resolve into (already resolved); the project root is always allowed.
    file, key
        Where the value came from, for the error message.

    Returns
    -------
    pathlib.Path
        The resolved absolute path (symbolic links followed).

    Raises
    ------
    ParameterError
        If the path escapes every allowed folder (``..`` or an absolute path elsewhere).
    """
    raw = Path(value).expanduser()
    resolved = (raw if raw.is_absolute() else root / raw).resolve()
    bases = [root.resolve(), *allowed]
    if not any(resolved == b or resolved.is_relative_to(b) for b in bases):
        raise ParameterError(
            f"{str(file)!r}: key {key!r} is {value!r}, which resolves to {str(resolved)!r}, outside the "
            f"project {str(root)!r} and the declared data folders {[str(b) for b in allowed]!r}; move the "
            f"file into one of them or add its folder to 'data_dirs' in the batch file")
    return resolved


_PLAIN_SCALARS = (str, int, float, bool, type(None))


@keyword_options
def check_plain(value: Any, *, where: str) -> None:
    """Check that ``value`` is made only of plain literals (str, int, float, bool, None, list, dict).

    Raises
    ------
    ParameterError
        If anything else is found (papermill would write its ``repr`` into the notebook).
    """
    if isinstance(value, _PLAIN_SCALARS):
        if isinstance(value, float) and value != value:  # NaN
            raise ParameterError(f"notebook parameter {where!r} is NaN; pass a finite number or None")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_plain(item, where=f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ParameterError(f"notebook parameter {where!r} has a non-string key {k!r}; use text "
                                     "keys")
            check_plain(item, where=f"{where}.{k}")
        return
    raise ParameterError(f"notebook parameter {where!r} is a {type(value).__name__} ({value!r}); only plain "
                         f"str, int, float, bool, None, list and dict values may be passed to a notebook")


def notebook_parameter_names(notebook: Path) -> tuple[str, ...]:
    """Return the names assigned in the notebook's cell tagged ``parameters``.

    Raises
    ------
    ParameterError
        If the notebook cannot be read or has no cell tagged ``parameters`` or more than one.
    """
    import nbformat
    import papermill

    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read notebook {str(notebook)!r}: {exc}") from exc
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ParameterError(f"notebook {str(notebook)!r} has {len(tagged)} cells tagged 'parameters'; "
                             f"exactly one is required")
    return tuple(papermill.inspect_notebook(str(notebook)).keys())


@keyword_options
def check_notebook_parameters(notebook: Path, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check names and values before they reach papermill, and return a plain copy.

    Parameters
    ----------
    notebook
        The notebook that will be executed.
    parameters
        Name to value.

    Returns
    -------
    dict
        The parameters (a new dict).

    Raises
    ------
    ParameterError
        If a name is not assigned in the notebook's ``parameters`` cell, or a value is not a plain literal.
    """
    known = set(notebook_parameter_names(notebook))
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ParameterError(f"parameters {unknown!r} are not defined in the 'parameters' cell of "
                             f"{str(notebook)!r} (it defines {sorted(known)!r}); remove them or add them to "
                             "the notebook")
    for name, value in parameters.items():
        check_plain(value, where=name)
    return dict(parameters)
