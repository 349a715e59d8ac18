"""The project's own files install what it needs and agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

import ipf_eval
from ipf_eval import errors

ROOT = Path(__file__).resolve().parents[1]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    out: dict[str, str] = {}
    for spec in specs:
        req = Requirement(spec)
        out[_normalise(req.name)] = ",".join(sorted(str(s) for s in req.specifier))
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    entries: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            entries += [d for d in dep["pip"] if not d.startswith("-e")]
        else:
            entries.append(dep)
    for entry in entries:
        req = Requirement(entry.replace(" ", ""))
        if _normalise(req.name) in {"python", "pip"}:
            continue
        out[_normalise(req.name)] = ",".join(sorted(str(s) for s in req.specifier))
    return out


def test_environment_yml_matches_pyproject() -> None:
    pyproject = _pyproject_requirements()
    conda = _conda_requirements()
    missing = sorted(set(pyproject) - set(conda))
    extra = sorted(set(conda) - set(pyproject))
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    differ = {k: (pyproject[k], conda[k]) for k in pyproject if pyproject[k] != conda[k]}
    assert not differ, f"floors differ (pyproject, environment.yml): {differ}"


def test_environment_yml_installs_the_package_itself() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert ["-e ." in section for section in pip_sections] == [True]
    assert "conda-forge" in env["channels"]


def test_constraints_pin_every_declared_dependency() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_normalise(name)] = version
    for name, spec in _pyproject_requirements().items():
        assert name in pins, f"{name} is declared but not pinned in constraints.txt (run make constraints)"
        assert Requirement(f"{name}{spec}").specifier.contains(pins[name]), (
            f"constraints.txt pins {name}=={pins[name]}, outside the declared range {spec!r}"
        )


def test_ci_calls_make_test_and_nothing_else() -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[-1] == "make test"
    words = {w for ln in lines for w in ln.split()}
    assert not words & {"pytest", "pip", "python", "ruff", "mypy"}


def test_error_tree_follows_style() -> None:
    assert issubclass(errors.DataError, errors.IpfEvalError)
    assert issubclass(errors.DataError, ValueError)
    assert issubclass(errors.SpecificationError, ValueError)
    assert issubclass(errors.ParameterError, errors.SpecificationError)
    assert issubclass(errors.EstimationError, RuntimeError)
    assert issubclass(errors.EstimationError, errors.IpfEvalError)
    for warning in (errors.DataWarning, errors.EstimationWarning, errors.DisclosureWarning):
        assert issubclass(warning, errors.IpfEvalWarning)
    assert issubclass(errors.IpfEvalWarning, UserWarning)


def test_public_surface_is_declared() -> None:
    for name in ipf_eval.__all__:
        assert hasattr(ipf_eval, name), f"ipf_eval.__all__ names {name!r} but it is not importable"
    assert ipf_eval.__version__ != "0.0.0+unknown"


def test_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make reports" in readme
    assert "make test" in readme
