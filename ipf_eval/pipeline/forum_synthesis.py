"""The forum's synthesis from evidence bundles alone: no batch file, no data (``ipf-eval synthesise``).

The bundles are validated by :func:`ipf_eval.pipeline.bundle.synthesis_evidence`; the records of those
accepted are written to a folder and the synthesis notebook is executed on it by the batch runner's
:func:`ipf_eval.pipeline.runner.execute_run` (so the page is published atomically, after the same
disclosure scan as a batch's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipf_eval._defaults import keyword_options
from ipf_eval.pipeline.bundle import BundleError, SynthesisInput, primary_outcomes, synthesis_evidence
from ipf_eval.pipeline.runner import execute_run

__all__ = ["synthesise_bundles"]


def _notebooks_dir(notebooks: Path | str | None) -> Path:
    if notebooks is not None:
        return Path(notebooks).resolve()
    source_tree = Path(__file__).resolve().parents[2] / "notebooks"
    return source_tree if (source_tree / "synthesis.ipynb").is_file() else Path.cwd() / "notebooks"


def _task(name: str, notebook: Path, html: Path, work: Path, parameters: dict[str, Any], *, title: str,
          timeout: int) -> dict[str, Any]:
    return {"run_id": name, "notebook": str(notebook), "parameters": parameters, "reuse_kernel": False,
            "executed": str(work / f"{Path(name).name}.ipynb"),
            "failed": str(work / f"{Path(name).name}.failed.ipynb"), "html": str(html), "evidence": None,
            "title": title, "timeout": timeout, "cwd": str(notebook.parent),
            "disclosure_profile": "research_data_centre"}


@keyword_options
def synthesise_bundles(paths: Sequence[Path | str], *, out: Path | str, notebooks: Path | str | None = None,
                       timeout: int = 1200) -> tuple[Path, SynthesisInput]:
    """Render the forum synthesis from evidence bundles alone (no batch file, no data).

    Parameters
    ----------
    paths
        The bundles (zips from :func:`ipf_eval.pipeline.bundle.export_bundle`).
    out
        The folder to write ``synthesis.html`` and ``forum/<instrument>.html`` (each instrument's agencies
        side by side, and its peer review) into; ``_bundles/`` beside them holds the accepted records and the
        executed notebooks.
    notebooks
        The folder holding ``synthesis.ipynb`` and ``forum_instrument.ipynb`` (default: the project's
        ``notebooks/``).
    timeout
        Seconds per notebook cell.

    Returns
    -------
    tuple
        The synthesis page and what was synthesised (:class:`SynthesisInput`: the bundles accepted and one
        line per bundle or evaluation left out).

    Raises
    ------
    BundleError
        If no bundle could be used, or a notebook failed (the message names it and says why; pages already
        written stay).
    """
    from ipf_eval.evidence import write_evidence

    found = synthesis_evidence(paths)
    if not found.accepted:
        raise BundleError("no bundle could be used: " + "; ".join(found.rejected))
    target = Path(out).resolve()
    work = target / "_bundles"
    evidence = work / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    for old in evidence.glob("*.json"):
        old.unlink()
    for rec in found.records:
        write_evidence(evidence / f"{rec['country']}__{rec['instrument']}.json", rec)
    nb_dir = _notebooks_dir(notebooks)
    common = {"params": "", "evidence_dir": str(evidence), "left_out": list(found.left_out),
              "primary_outcomes": primary_outcomes(found.accepted)}
    labels = {str(r["instrument"]): str(r.get("label") or r["instrument"]) for r in found.records}
    tasks = [_task("synthesis", nb_dir / "synthesis.ipynb", target / "synthesis.html", work, common,
                   title="Forum synthesis", timeout=timeout)]
    tasks += [_task(f"forum/{name}", nb_dir / "forum_instrument.ipynb", target / "forum" / f"{name}.html",
                    work / "forum", {**common, "instrument": name}, title=f"{label} across the forum",
                    timeout=timeout) for name, label in sorted(labels.items())]
    for task in tasks:
        result = execute_run(task)
        if result["status"] != "ok":
            raise BundleError(f"the {task['title']} notebook failed: {result['error']}")
    return target / "synthesis.html", found
