"""Write the project's notebooks (*.ipynb) from the Python source below, so that they are reviewed as code.

Run ``python notebooks/build_notebooks.py`` to rewrite the notebooks without outputs, or
``ipf-eval refresh-notebooks`` to rewrite them and re-execute them with their default parameters (the
committed outputs).  Each notebook is a list of sections; a section is a function returning cells, so a
new section is one function added to the notebook's list (see ``INSTRUMENT_SECTIONS`` in
``builder/instrument.py``; the other notebooks' sections are in ``builder/forum.py``).

Rules the hygiene test enforces: exactly one cell tagged ``parameters``; kernel ``python3``; no per-firm
rows printed; every figure has a caption and every table a source line.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import nbformat
from nbformat.v4 import new_notebook

HERE = Path(__file__).resolve().parent
_PACKAGE = "ipf_eval_notebook_builder"


def _load_builder() -> ModuleType:
    """Import ``builder/`` next to this file as a package (fresh each time: a test may build another copy)."""
    for name in [m for m in sys.modules if m == _PACKAGE or m.startswith(_PACKAGE + ".")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(_PACKAGE, HERE / "builder" / "__init__.py",
                                                  submodule_search_locations=[str(HERE / "builder")])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the notebook sections from {HERE / 'builder'}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[_PACKAGE] = package
    spec.loader.exec_module(package)
    return package


_load_builder()
from ipf_eval_notebook_builder.cells import Cells  # noqa: E402
from ipf_eval_notebook_builder.forum import (  # noqa: E402
    country_sections,
    getting_started_sections,
    michigan_sections,
    synthesis_sections,
)
from ipf_eval_notebook_builder.instrument import INSTRUMENT_SECTIONS  # noqa: E402

NOTEBOOKS: dict[str, Callable[[], Cells]] = {
    "instrument_evaluation": lambda: [c for section in INSTRUMENT_SECTIONS for c in section()],
    "country_report": country_sections,
    "synthesis": synthesis_sections,
    "michigan_training_grants": michigan_sections,
    "getting_started": getting_started_sections,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name]())
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:40]}-{index:03d}"  # stable ids: a rebuild does not churn every cell
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(names: list[str] | None = None) -> None:
    for name in names or list(NOTEBOOKS):
        nbformat.write(build(name), str(HERE / f"{name}.ipynb"))


if __name__ == "__main__":
    main(sys.argv[1:] or None)
