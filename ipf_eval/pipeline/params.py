"""Parameter files of the batch: YAML read safely, validated by pydantic models before papermill sees them.

Three kinds of file live under ``params/``:

``batch.yaml``
    What to run (countries, optionally a subset of instruments), where to write, how many workers, the
    per-notebook timeout and the batch seed.
``countries/<CODE>.yaml``
    One per country: name, agency, data source (the embedded simulated default or a register file with a
    column mapping), disclosure profile, the instruments the agency runs, and context text.
``instruments/<name>.yaml``
    One per instrument: label, assignment design, outcomes, estimator choices and programme costs.

The instrument models (:class:`InstrumentParams` and its blocks) live in the evidence layer
(:mod:`ipf_eval.evidence.parameters`), which evaluates an instrument from them; the strict YAML loader and
the error messages that name file, key and remedy are in :mod:`ipf_eval._params_io`.  Both are re-exported
here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from ipf_eval._params_io import ParamsModel, StrictSafeLoader, check_file_name, load_yaml, validate_model
from ipf_eval.errors import ParameterError
from ipf_eval.evidence.parameters import (
    OUTCOMES,
    CostOverride,
    EstimatorParams,
    InstrumentCosts,
    InstrumentParams,
    load_instrument_file,
)

__all__ = [
    "OUTCOMES",
    "BatchParams",
    "CostOverride",
    "CountryParams",
    "EstimatorParams",
    "FileSource",
    "InstrumentCosts",
    "InstrumentParams",
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
CaseStudy = Literal["michigan_training_grants", "getting_started"]
_CASE_STUDIES: tuple[CaseStudy, ...] = ("michigan_training_grants", "getting_started")


# ---------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------
class SimulatedSource(ParamsModel):
    """The embedded simulated default data (``ipf_eval.data.simulate_firms``)."""

    source: Literal["simulated"]
    seed: int = Field(default=2024, ge=0, le=2**32 - 1)
    n_firms: int = Field(default=30_000, ge=500, le=2_000_000)


class FileSource(ParamsModel):
    """A register or monitoring file (CSV, Parquet, Stata, Excel) mapped onto the panel contract."""

    source: Literal["file"]
    path: Annotated[str, StringConstraints(min_length=1)]
    columns: dict[ColumnName, ColumnName] = Field(default_factory=dict)


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
    reuse_kernels: bool = True
    case_studies: list[CaseStudy] = Field(default_factory=lambda: list(_CASE_STUDIES))

    @model_validator(mode="after")
    def _unique_countries(self) -> BatchParams:
        dup = sorted({c for c in self.countries if self.countries.count(c) > 1})
        if dup:
            raise ValueError(f"countries {dup!r} are listed more than once; list each once")
        return self


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
