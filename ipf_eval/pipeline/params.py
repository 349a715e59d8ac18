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

YAML 1.1 traps
--------------
PyYAML's ``safe_load`` implements YAML 1.1, where the country code ``NO`` (and ``yes``, ``on``, ``off``,
``y``, ``n``) becomes a boolean, ``012`` becomes the octal integer 10, ``1_000`` an integer and
``2024-01-31`` a date.  :class:`StrictSafeLoader` is a ``yaml.SafeLoader`` that resolves only the YAML 1.2
core schema's ``true``/``false``/``null``, decimal integers without a leading zero and plain decimal
floats; every other plain scalar stays the string that was typed.  Duplicate keys are an error.  The
pydantic models then refuse a boolean or a number where a string is expected and say to quote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ipf_eval._defaults import CONTROL_GROUP, N_BOOT
from ipf_eval.errors import ParameterError

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

#: Outcome columns of the panel contract that an instrument may be evaluated on.
OUTCOMES: tuple[str, ...] = (
    "log_employment",
    "log_turnover",
    "rd_spending",
    "exporter",
    "export_share",
    "equity_raised",
    "alive",
)

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Outcome = Literal["log_employment", "log_turnover", "rd_spending", "exporter", "export_share",
                  "equity_raised", "alive"]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(max_length=5000)]
CaseStudy = Literal["michigan_training_grants", "getting_started"]
_CASE_STUDIES: tuple[CaseStudy, ...] = ("michigan_training_grants", "getting_started")


# ---------------------------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------------------------
class StrictSafeLoader(yaml.SafeLoader):
    """A ``yaml.SafeLoader`` that resolves only YAML 1.2 core booleans, nulls and plain numbers.

    ``NO``, ``yes``, ``on``, ``off`` stay strings; ``012`` and ``1_000`` stay strings; dates stay strings;
    a mapping with a repeated key is an error.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's class-level registry

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, refusing duplicate keys."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)\.[0-9]*(?:[eE][-+]?[0-9]+)?|(?:0|[1-9][0-9]*)[eE][-+]?[0-9]+"
               r"|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$"),
    list("-+0123456789."))


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with :class:`StrictSafeLoader`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        The top-level mapping.

    Raises
    ------
    ParameterError
        If the file is missing, is not valid YAML, repeats a key, or is not a mapping at the top level.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterError(f"{str(path)!r}: cannot read the parameter file ({exc.strerror}); check the "
                             f"path and that the file exists") from exc
    try:
        data = yaml.load(text, Loader=StrictSafeLoader)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{str(path)!r}: not valid YAML: {exc}; fix the syntax at the line "
                             f"shown") from exc
    if not isinstance(data, dict):
        raise ParameterError(f"{str(path)!r}: the file must hold a mapping of keys to values at the top "
                             f"level, got {type(data).__name__}; write 'key: value' lines")
    return data


# ---------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SimulatedSource(_Model):
    """The embedded simulated default data (``ipf_eval.data.simulate_firms``)."""

    source: Literal["simulated"]
    seed: int = Field(default=2024, ge=0, le=2**32 - 1)
    n_firms: int = Field(default=30_000, ge=500, le=2_000_000)


class FileSource(_Model):
    """A register or monitoring file (CSV, Parquet, Stata, Excel) mapped onto the panel contract."""

    source: Literal["file"]
    path: Annotated[str, StringConstraints(min_length=1)]
    columns: dict[ColumnName, ColumnName] = Field(default_factory=dict)


class CostOverride(_Model):
    """A country's own programme costs for one instrument; a key left out keeps the instrument's value."""

    programme_cost_per_firm: float | None = Field(default=None, gt=0)
    admin_cost_per_firm: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _not_empty(self) -> CostOverride:
        if self.programme_cost_per_firm is None and self.admin_cost_per_firm is None:
            raise ValueError("the override sets no cost; give programme_cost_per_firm and/or "
                             "admin_cost_per_firm, or remove the instrument from 'costs'")
        return self


class CountryParams(_Model):
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


class EstimatorParams(_Model):
    """Estimator choices passed to the staggered difference-in-differences estimator."""

    control_group: Literal["never_treated", "not_yet_treated"] = CONTROL_GROUP
    est_method: Literal["dr", "ipw", "reg"] = "dr"
    base_period: Literal["universal", "varying"] = "universal"
    covariates: list[ColumnName] = Field(default_factory=list)
    bootstrap: bool = True
    n_boot: int = Field(default=N_BOOT, ge=99, le=9999)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)


class InstrumentCosts(_Model):
    """Programme costs in euro: the subsidy per supported firm and the agency's administrative cost."""

    programme_cost_per_firm: float = Field(gt=0)
    admin_cost_per_firm: float = Field(default=0.0, ge=0)


class InstrumentParams(_Model):
    """One instrument: its design, the outcomes evaluated, estimator choices and costs."""

    name: Name
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    design: Literal["open_call", "scored_call", "lottery"]
    outcomes: list[Outcome] = Field(min_length=1)
    primary_outcome: Outcome | None = None
    estimator: EstimatorParams = Field(default_factory=EstimatorParams)
    costs: InstrumentCosts
    description: Text = ""

    @model_validator(mode="after")
    def _primary_in_outcomes(self) -> InstrumentParams:
        if self.primary_outcome is not None and self.primary_outcome not in self.outcomes:
            raise ValueError(f"primary_outcome {self.primary_outcome!r} is not in outcomes "
                             f"{self.outcomes!r}; add it to outcomes or choose one of them")
        return self


class BatchParams(_Model):
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


# ---------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------
def _remedy(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    value = err.get("input")
    if kind == "extra_forbidden":
        return "remove the key or fix its spelling"
    if kind == "missing":
        return "add the key"
    quotable = {"string_type", "literal_error", "string_pattern_mismatch"}
    if kind in quotable and isinstance(value, bool | int | float):
        return ("YAML read this as a " + type(value).__name__ + "; put the value in quotes "
                "(e.g. code: \"NO\") so it stays text")
    if kind == "string_pattern_mismatch":
        return "use the documented form (country codes: two upper-case letters; names: lower_snake_case)"
    if kind == "literal_error":
        return "use one of the allowed values"
    if kind in {"int_type", "float_type", "int_parsing", "float_parsing"}:
        return "write a plain number without quotes, separators or leading zeros"
    if kind == "bool_type":
        return "write true or false"
    return "see the documentation of this key in ipf_eval.pipeline.params"


def _raise_from_validation(path: Path | str, exc: ValidationError) -> ParameterError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "<top level>"
        msg = str(err.get("msg", "invalid value"))
        lines.append(f"key {loc!r}: {msg} (got {err.get('input')!r}); {_remedy(err)}")
    return ParameterError(f"{str(path)!r}: " + "; ".join(lines))


def _validate(model: type[_Model], data: Mapping[str, Any], path: Path | str) -> Any:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise _raise_from_validation(path, exc) from None


def load_batch_file(path: Path) -> BatchParams:
    """Read and validate a batch file.

    Raises
    ------
    ParameterError
        If the file cannot be read or a key is unknown, missing or invalid; the message names the file,
        the key and the remedy.
    """
    params: BatchParams = _validate(BatchParams, load_yaml(path), path)
    return params


def load_country_file(path: Path) -> CountryParams:
    """Read and validate a country file; its ``code`` must match the file name (``NO.yaml``).

    Raises
    ------
    ParameterError
        If the file is invalid or its code differs from the file name.
    """
    params: CountryParams = _validate(CountryParams, load_yaml(path), path)
    if params.code != path.stem:
        raise ParameterError(f"{str(path)!r}: key 'code' is {params.code!r} but the file is named "
                             f"{path.name!r}; rename the file to {params.code}.yaml or fix the code")
    return params


def load_instrument_file(path: Path) -> InstrumentParams:
    """Read and validate an instrument file; its ``name`` must match the file name.

    Raises
    ------
    ParameterError
        If the file is invalid or its name differs from the file name.
    """
    params: InstrumentParams = _validate(InstrumentParams, load_yaml(path), path)
    if params.name != path.stem:
        raise ParameterError(f"{str(path)!r}: key 'name' is {params.name!r} but the file is named "
                             f"{path.name!r}; rename the file to {params.name}.yaml or fix the name")
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
                                     f"keys")
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
                             f"the notebook")
    for name, value in parameters.items():
        check_plain(value, where=name)
    return dict(parameters)
