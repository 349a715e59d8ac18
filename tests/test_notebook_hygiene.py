"""The committed notebooks follow the house rules: one parameters cell, python3, clean committed outputs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["instrument_evaluation", "country_report", "synthesis", "michigan_training_grants",
         "getting_started"]


def _load(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    nbformat.validate(nb)
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[list[dict]]:
    return [list(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", NAMES)
def test_structure(name: str) -> None:
    nb = _load(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    assert tagged[0].cell_type == "code"


@pytest.mark.parametrize("name", NAMES)
def test_committed_outputs_from_one_clean_run(name: str) -> None:
    nb = _load(name)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "execution counts must run 1, 2, 3, ... (one clean run)"
    outputs = [o for cell in _outputs(nb) for o in cell]
    assert outputs, "the notebook must be committed with its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]


def _text(output: dict) -> str:
    data = output.get("data", {})
    return "".join(str(data.get(k, "")) for k in ("text/markdown", "text/html", "text/plain"))


@pytest.mark.parametrize("name", NAMES)
def test_figures_have_captions_and_tables_sources(name: str) -> None:
    for cell in _outputs(_load(name)):
        for i, out in enumerate(cell):
            following = " ".join(_text(o) for o in cell[i + 1:i + 3])
            if "image/png" in out.get("data", {}):
                assert "*Figure" in following, f"a figure in {name} has no caption"
            if "<table" in str(out.get("data", {}).get("text/html", "")):
                assert "Source:" in following, f"a table in {name} has no source line"


@pytest.mark.parametrize("name", NAMES)
def test_no_firm_level_rows(name: str) -> None:
    for cell in _outputs(_load(name)):
        for out in cell:
            html_text = str(out.get("data", {}).get("text/html", ""))
            assert not re.search(r"<th>\s*firm_id\s*</th>", html_text), f"{name} shows a firm_id column"
            assert "firm_id" not in str(out.get("data", {}).get("text/plain", "")).split("\n")[0]


def test_notebooks_are_generated_from_build_script() -> None:
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in NAMES:
        built = [(c.cell_type, c.source) for c in module.build(name).cells]
        committed = [(c.cell_type, c.source) for c in _load(name).cells]
        assert built == committed, f"{name}.ipynb differs from build_notebooks.py; run refresh-notebooks"


def test_sanitize_file_only_timestamps_and_addresses() -> None:
    text = (NOTEBOOKS / "nbval_sanitize.cfg").read_text()
    sections = re.findall(r"^\[(\w+)\]", text, flags=re.MULTILINE)
    assert sections == ["timestamps", "memory_addresses"]
