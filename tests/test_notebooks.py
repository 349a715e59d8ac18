"""The committed notebooks: paired jupytext sources that only narrate, committed outputs from one clean run,
and defaults read from the same parameter files as the batch (so both give the same numbers)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

from ipf_eval.pipeline.cli import NOTEBOOKS as NAMES

papermill = pytest.importorskip("papermill")

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
PLAIN = (ast.Constant, ast.List, ast.Dict, ast.Tuple, ast.UnaryOp)


def _load(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(str(FOLDER / f"{name}.ipynb"), as_version=4)
    nbformat.validate(nb)
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[list[dict]]:
    return [list(c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"]


def _text(output: dict) -> str:
    data = output.get("data", {})
    return "".join(str(data.get(k, "")) for k in ("text/markdown", "text/html", "text/plain"))


def test_only_pairs_live_in_the_notebooks_folder() -> None:
    assert not (FOLDER / "builder").exists()
    assert not (FOLDER / "build_notebooks.py").exists()
    assert sorted(p.stem for p in FOLDER.glob("*.ipynb")) == sorted(NAMES)
    assert sorted(p.stem for p in FOLDER.glob("*.py")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_pair_in_sync(name: str) -> None:
    """The .ipynb holds exactly the cells of its jupytext source (``make refresh-notebooks`` syncs them)."""
    source = jupytext.read(str(FOLDER / f"{name}.py"))
    committed = _load(name)
    cells = [(c.cell_type, c.source) for c in source.cells]
    assert [(c.cell_type, c.source) for c in committed.cells] == cells
    assert committed.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_sources_narrate(name: str) -> None:
    """Short, no function or class definitions, a parameters cell of plain literals only."""
    text = (FOLDER / f"{name}.py").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    nb = jupytext.read(str(FOLDER / f"{name}.py"))
    for cell in nb.cells:
        if cell.cell_type == "code":
            tree = ast.parse(cell.source)
            defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
            kinds = [type(d).__name__ for d in defs]
            assert not defs, f"{name} defines {kinds}: put the logic in the library"
    (params,) = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    for stmt in ast.parse(params.source).body:
        assert isinstance(stmt, ast.Assign), ast.dump(stmt)
        assert isinstance(stmt.value, PLAIN), ast.dump(stmt)
    names = {t.id for s in ast.parse(params.source).body for t in s.targets}  # type: ignore[attr-defined]
    assert "params" in names


@pytest.mark.parametrize("name", NAMES)
def test_committed_outputs_from_one_clean_run(name: str) -> None:
    nb = _load(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "execution counts must run 1, 2, 3, ... (one clean run)"
    outputs = [o for cell in _outputs(nb) for o in cell]
    assert outputs, "the notebook must be committed with its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]


@pytest.mark.parametrize("name", NAMES)
def test_figures_have_captions_and_tables_sources(name: str) -> None:
    n_tables = 0
    for cell in _outputs(_load(name)):
        for i, out in enumerate(cell):
            here_and_after = " ".join(_text(o) for o in cell[i:i + 3])
            if "image/png" in out.get("data", {}):
                assert "*Figure" in here_and_after, f"a figure in {name} has no caption"
            if "<table" in str(out.get("data", {}).get("text/html", "")):
                n_tables += 1
                assert "Source:" in here_and_after, f"a table in {name} has no source line"
    assert n_tables or name == "getting_started"


@pytest.mark.parametrize("name", NAMES)
def test_no_firm_level_rows(name: str) -> None:
    for cell in _outputs(_load(name)):
        for out in cell:
            html_text = str(out.get("data", {}).get("text/html", ""))
            header = re.search(r"<th>\s*(firm_id|Firm id)\s*</th>", html_text)
            assert not header, f"{name} shows a firm_id column"
            assert "firm_id" not in str(out.get("data", {}).get("text/plain", "")).split("\n")[0]


def test_sanitize_file_only_timestamps_and_addresses() -> None:
    text = (FOLDER / "nbval_sanitize.cfg").read_text()
    assert set(re.findall(r"^\[(\w+)\]", text, flags=re.M)) == {"timestamps", "memory_addresses"}


@pytest.mark.slow
def test_the_interactive_default_gives_the_batch_numbers(tmp_path: Path) -> None:
    """The instrument notebook run with its default parameters (as an evaluator opens it) writes the same
    evidence as the batch wrote for the same (country, instrument): both read params/."""
    committed = json.loads((FOLDER / "evidence" / "AT__loan_guarantee.json").read_text(encoding="utf-8"))
    defaults = papermill.inspect_notebook(str(FOLDER / "instrument_evaluation.ipynb"))
    assert (defaults["country"]["default"], defaults["instrument"]["default"]) == ('"AT"', '"loan_guarantee"')
    path = tmp_path / "evidence.json"
    papermill.execute_notebook(str(FOLDER / "instrument_evaluation.ipynb"), str(tmp_path / "out.ipynb"),
                               parameters={"evidence_path": str(path),
                                           "created": committed["provenance"]["created"]},
                               kernel_name="python3", cwd=str(FOLDER), progress_bar=False)
    mine = json.loads(path.read_text(encoding="utf-8"))
    assert mine["provenance"] == committed["provenance"]
    for name, rows in committed["tables"].items():
        assert len(mine["tables"][name]) == len(rows), name
        for got, want in zip(mine["tables"][name], rows, strict=True):
            assert got.keys() == want.keys()
            for key, value in want.items():
                if isinstance(value, float):
                    assert np.isclose(got[key], value, rtol=1e-12, atol=1e-12), (name, key)
                else:
                    assert got[key] == value, (name, key)
