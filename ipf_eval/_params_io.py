"""Reading parameter files: a strict YAML loader, and validation errors that name file, key and remedy.

Shared by the instrument parameters of the evidence layer (:mod:`ipf_eval.evidence.parameters`) and the batch
and country files of the pipeline (:mod:`ipf_eval.pipeline.params`).

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import ParameterError

__all__ = ["ParamsModel", "StrictSafeLoader", "check_file_name", "load_yaml", "validate_model"]


class ParamsModel(BaseModel):
    """Base of every parameter model: unknown keys are errors, values are frozen and strictly typed."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


ModelT = TypeVar("ModelT", bound=ParamsModel)


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


@keyword_options
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
                             "shown") from exc
    if not isinstance(data, dict):
        raise ParameterError(f"{str(path)!r}: the file must hold a mapping of keys to values at the top "
                             f"level, got {type(data).__name__}; write 'key: value' lines")
    return data


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


# Tags pydantic puts in an error's location for a discriminated union (``data: {source: file}`` gives
# ``data.file.read``); the key the user wrote is ``data.read``.
_UNION_TAGS: dict[str, frozenset[str]] = {"data": frozenset({"file", "simulated"})}


def _without_tags(loc: Any) -> list[Any]:
    parts = list(loc)
    out: list[Any] = []
    for i, part in enumerate(parts):
        if i and str(parts[i - 1]) in _UNION_TAGS and str(part) in _UNION_TAGS[str(parts[i - 1])]:
            continue
        out.append(part)
    return out


def _from_validation(path: Path | str, exc: ValidationError) -> ParameterError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in _without_tags(err.get("loc", ()))) or "<top level>"
        msg = str(err.get("msg", "invalid value"))
        lines.append(f"key {loc!r}: {msg} (got {err.get('input')!r}); {_remedy(err)}")
    return ParameterError(f"{str(path)!r}: " + "; ".join(lines))


def validate_model(model: type[ModelT], data: Mapping[str, Any], path: Path | str) -> ModelT:
    """Validate ``data`` with ``model``; a failure becomes a :class:`ParameterError` naming file and keys.

    Parameters
    ----------
    model
        The pydantic model.
    data
        The values, e.g. from :func:`load_yaml`.
    path
        Where the values came from (the file, or a description such as ``"<instrument>"``).

    Returns
    -------
    ParamsModel
        The validated model.

    Raises
    ------
    ParameterError
        One message listing every invalid key with the value received and the remedy.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise _from_validation(path, exc) from None


def check_file_name(value: str, path: Path, key: str) -> None:
    """Check that a file's identifying key (a country ``code``, an instrument ``name``) is its file name.

    Raises
    ------
    ParameterError
        Naming the key, its value, the file and both remedies.
    """
    if value != path.stem:
        raise ParameterError(f"{str(path)!r}: key {key!r} is {value!r} but the file is named {path.name!r}; "
                             f"rename the file to {value}.yaml or fix the {key}")
