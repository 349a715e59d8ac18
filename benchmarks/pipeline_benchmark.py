"""Time the default batch and split each notebook's time into kernel start, imports, compute and render.

Usage (from the project root, after ``make setup``)::

    .venv/bin/python benchmarks/pipeline_benchmark.py [--params params/batch.yaml] [--workers 2]

Runs the batch as ``make reports`` does (into the batch file's output folder), then reads each executed
notebook's per-cell durations recorded by papermill:

- ``kernel``: papermill's whole-notebook duration minus the sum of its cell durations (kernel start-up,
  shutdown and papermill's own bookkeeping);
- ``imports``: the first code cell after the ``parameters`` cell (the notebooks' set-up cell);
- ``compute``: every other cell;
- ``render``: nbconvert to HTML, timed again here on the executed notebook;
- ``other``: the rest of the run's wall time (disclosure scan, atomic writes).

The issue's target is the amortised overhead: (batch wall time × workers / notebooks) − mean compute.
By default each worker keeps one kernel and resets it between notebooks (``reuse_kernels``), so only a
worker's first notebook pays the kernel start and the imports; ``--modes warm,fresh`` runs the batch both
ways and prints the ratio of their overheads.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
import pandas as pd

from ipf_eval.pipeline import build_plan, notebook_to_html, run_batch


def split_notebook(path: Path) -> dict[str, float]:
    """Kernel, imports and compute seconds of one executed notebook, from papermill's metadata."""
    nb = nbformat.read(str(path), as_version=4)
    total = float(nb.metadata.get("papermill", {}).get("duration") or 0.0)
    code = [c for c in nb.cells if c.cell_type == "code"]
    durations = [float(c.metadata.get("papermill", {}).get("duration") or 0.0) for c in code]
    tags = [c.metadata.get("tags", []) for c in code]
    after_params = [i for i, t in enumerate(tags) if "parameters" in t or "injected-parameters" in t]
    setup_index = (max(after_params) + 1) if after_params else 0
    imports = durations[setup_index] if setup_index < len(durations) else 0.0
    compute = sum(durations) - imports
    start = time.perf_counter()
    notebook_to_html(path, title=path.stem)
    render = time.perf_counter() - start
    return {"kernel": total - sum(durations), "imports": imports, "compute": compute, "render": render}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params/batch.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="warm",
                        help="comma-separated: warm (reused kernels, the default batch), fresh (one kernel "
                             "per notebook)")
    args = parser.parse_args()
    overheads = {}
    for mode in args.modes.split(","):
        print(f"== {mode} kernels ==")
        overheads[mode] = run_mode(args.params, args.workers, reuse=mode == "warm")
        print()
    if {"warm", "fresh"} <= set(overheads):
        print(f"overhead per notebook: warm {overheads['warm']:.2f} s, fresh {overheads['fresh']:.2f} s "
              f"(fresh / warm = {overheads['fresh'] / overheads['warm']:.1f}x)")


def run_mode(params: str, workers: int, *, reuse: bool) -> float:
    """Run the batch once in one mode, print the per-notebook split; return the amortised overhead."""
    plan = build_plan(params)
    report = run_batch(plan, workers=workers, progress=False, reuse_kernels=reuse)
    rows: list[dict[str, object]] = []
    for outcome in report.outcomes:
        if outcome.status != "ok":
            rows.append({"run": outcome.run_id, "status": outcome.status})
            continue
        parts = split_notebook(Path(outcome.notebook))
        other = outcome.seconds - parts["kernel"] - parts["imports"] - parts["compute"] - parts["render"]
        rows.append({"run": outcome.run_id, "status": "ok", "wall": outcome.seconds, **parts, "other": other})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 160)
    print(table.round(2).to_string(index=False))
    ok = table[table["status"] == "ok"]
    n = len(report.outcomes)
    amortised = report.seconds * workers / n
    print()
    print(f"batch: {n} notebooks in {report.seconds:.1f} s with {workers} workers "
          f"({amortised:.2f} s of worker time per notebook)")
    for col in ("kernel", "imports", "compute", "render", "other"):
        print(f"  median {col:<8} {statistics.median(ok[col]):6.2f} s")
    overhead = amortised - float(ok["compute"].mean())
    print(f"amortised overhead beyond the notebooks' own compute: {overhead:.2f} s per notebook "
          "(target 1.2 s)")
    return overhead


if __name__ == "__main__":
    main()
