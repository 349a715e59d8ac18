"""Shared helpers of the pipeline tests: build a small project (params + fixture notebooks) in a folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def country_yaml(code: str, instruments: list[str], **over: Any) -> dict[str, Any]:
    data = {"code": code, "name": f"Country {code}", "agency": f"Agency {code}",
            "data": {"source": "simulated", "seed": 1, "n_firms": 2000},
            "disclosure_profile": "statistical_office", "instruments": instruments, "context": "Test."}
    data.update(over)
    return data


def instrument_yaml(name: str, **over: Any) -> dict[str, Any]:
    data = {"name": name, "label": name.replace("_", " ").capitalize(), "design": "open_call",
            "outcomes": ["log_employment"], "estimator": {"bootstrap": False},
            "costs": {"programme_cost_per_firm": 1000.0}}
    data.update(over)
    return data


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def make_project(root: Path, countries: dict[str, list[str]] | None = None, *,
                 batch: dict[str, Any] | None = None, country_over: dict[str, dict[str, Any]] | None = None,
                 notebooks: bool = True) -> Path:
    """Write params/ (batch, countries, instruments) and notebooks/ (fixtures); return the batch file."""
    countries = countries if countries is not None else {"AT": ["alpha", "beta"]}
    country_over = country_over or {}
    for code, insts in countries.items():
        write_yaml(root / "params" / "countries" / f"{code}.yaml",
                   country_yaml(code, insts, **country_over.get(code, {})))
        for name in insts:
            write_yaml(root / "params" / "instruments" / f"{name}.yaml", instrument_yaml(name))
    data = {"countries": list(countries), "output_dir": "reports", "workers": 0, "timeout": 60, "seed": 1,
            "synthesis": True, "case_studies": []}
    data.update(batch or {})
    if notebooks:
        shutil.copytree(FIXTURES, root / "notebooks", ignore=shutil.ignore_patterns("*.py"),
                        dirs_exist_ok=True)
    return write_yaml(root / "params" / "batch.yaml", data)


PROJECT = Path(__file__).resolve().parents[1]


def real_project(root: Path, batch: dict[str, Any], *, n_firms: int | None = 12_000) -> Path:
    """Copy the default parameters into ``root/params`` (small simulated data, no bootstrap) with ``batch``.

    For tests that run the real notebooks (``notebooks_dir=PROJECT / "notebooks"``) on a few countries and
    instruments; returns the batch file.
    """
    params = root / "params"
    for sub in ("countries", "instruments"):
        (params / sub).mkdir(parents=True)
        for f in (PROJECT / "params" / sub).glob("*.yaml"):
            data = yaml.safe_load(f.read_text())
            if sub == "countries" and n_firms is not None:
                data["data"]["n_firms"] = n_firms
            elif sub == "instruments":
                data.setdefault("estimator", {})["bootstrap"] = False
            (params / sub / f.name).write_text(yaml.safe_dump(data))
    (params / "batch.yaml").write_text(yaml.safe_dump(batch))
    return params / "batch.yaml"
