"""Command line: ``ipf-eval render``, ``check``, ``init``, ``export``, ``synthesise``, ``twin`` and more.

Exit codes: 0 success; 1 some runs failed (listed in the summary and in ``reports/index.html``);
2 invalid parameters or data (``check``), a refused ``init``, ``export`` or ``synthesise``, or a twin that
cannot be estimated (``twin``: the message says why); 3 the pipeline could not run (unwritable output
folder, unreachable scheduler); 130 interrupted.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from ipf_eval._defaults import keyword_options
from ipf_eval._files import atomic_write_text
from ipf_eval.errors import BatchLockedError, ParameterError, PipelineError

if TYPE_CHECKING:
    from ipf_eval.pipeline.plan import Plan

__all__ = ["NOTEBOOKS", "main", "refresh_notebooks", "sync_notebook"]

NOTEBOOKS = ("getting_started", "instrument_evaluation", "delivery_trial", "country_report", "synthesis",
             "forum_instrument", "michigan_training_grants", "delivery_trial_planning")


def _parser() -> argparse.ArgumentParser:
    from ipf_eval._version import __version__

    parser = argparse.ArgumentParser(prog="ipf-eval",
                                     description="Evaluate SME support instruments in batch.")
    parser.add_argument("--version", action="version", version=f"ipf-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="run the notebooks of a batch and render the HTML reports")
    render.add_argument("--params", default="params/batch.yaml",
                        help="batch file (default params/batch.yaml)")
    render.add_argument("--only", default=None, metavar="COUNTRY[/INSTRUMENT]",
                        help="run one country or one instrument of it, then its country report and the "
                             "synthesis")
    render.add_argument("--workers", type=int, default=None,
                        help="worker processes (default from batch file; 0 = in process)")
    render.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask distributed scheduler address, e.g. tcp://10.0.0.5:8786")
    render.add_argument("--resume", action="store_true", help="skip runs whose inputs have not changed")
    render.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    render.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    check = sub.add_parser("check", help="validate every parameter file, open each agency's data file and "
                                         "check its columns, and list the planned runs (runs no notebook)")
    check.add_argument("--params", default="params/batch.yaml", metavar="FILE",
                       help="batch file (default params/batch.yaml)")
    init = sub.add_parser("init", help="start a country that evaluates its own data: write params/countries/"
                                       "CC.yaml from a commented template and create data/CC/")
    init.add_argument("code", metavar="CC",
                      help="the country's ISO 3166 two-letter code, upper case (e.g. SE)")
    init.add_argument("--params", default="params", metavar="DIR",
                      help="parameter folder (default params); data/CC/ is created next to it")
    export = sub.add_parser("export", help="write a country's evidence bundle (one zip) from its finished "
                                           "run, to send to the forum instead of data")
    export.add_argument("--country", required=True, metavar="CC")
    export.add_argument("--out", default=None, metavar="FILE",
                        help="the zip to write (default <output_dir>/bundles/CC.zip)")
    export.add_argument("--partial", action="store_true",
                        help="leave out the instrument evaluations that failed, are stale or never ran "
                             "(listed in the bundle) instead of refusing the country")
    export.add_argument("--params", default="params/batch.yaml", metavar="FILE",
                        help="batch file of the run (default params/batch.yaml)")
    synth = sub.add_parser("synthesise", help="render the forum synthesis from evidence bundles alone")
    synth.add_argument("bundles", nargs="+", metavar="BUNDLE")
    synth.add_argument("--out", default="forum", metavar="DIR", help="output folder (default forum)")
    synth.add_argument("--notebooks", default=None, metavar="DIR",
                       help="folder holding synthesis.ipynb (default the project's notebooks/)")
    twin = sub.add_parser("twin", help="estimate what an instrument evaluated in one country would achieve "
                                       "in another country's mix of micro, small and medium firms")
    twin.add_argument("--from", dest="source", required=True, metavar="CC",
                      help="the country whose evaluation is copied")
    twin.add_argument("--to", dest="target", required=True, metavar="DD",
                      help="the country it would be copied to (its mix of firms)")
    twin.add_argument("--instrument", required=True, metavar="NAME")
    twin.add_argument("--outcome", default=None, metavar="O",
                      help="the outcome (default: the instrument's primary outcome)")
    evidence = twin.add_mutually_exclusive_group()
    evidence.add_argument("--params", default=None, metavar="FILE",
                          help="batch file whose evidence folder is read (default params/batch.yaml)")
    evidence.add_argument("--bundles", nargs="+", default=None, metavar="ZIP",
                          help="evidence bundles to read instead of a batch's evidence folder")
    twin.add_argument("--out", default=None, metavar="FILE.html",
                      help="also write a small standalone HTML page")
    refresh = sub.add_parser("refresh-notebooks",
                             help="sync notebooks/*.ipynb with their jupytext sources (*.py) and re-execute "
                                  "them")
    refresh.add_argument("--params", default="params/batch.yaml")
    refresh.add_argument("--skip-batch", action="store_true",
                         help="reuse the evidence of the last batch run instead of rendering the batch first")
    refresh.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    return parser


@keyword_options
def sync_notebook(source: Path) -> nbformat.NotebookNode:
    """Read a notebook's jupytext source (``name.py``, percent format) as a notebook without outputs.

    Cell ids are numbered from the notebook's name, so re-syncing an unchanged source changes nothing.

    Raises
    ------
    PipelineError
        If the source is missing or has not exactly one cell tagged ``parameters``.
    """
    import jupytext

    if not source.is_file():
        raise PipelineError(f"notebook source {str(source)!r} not found; run from the project root")
    nb = jupytext.read(str(source))
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise PipelineError(f"{source.name} has {len(tagged)} cells tagged 'parameters'; exactly one is "
                            f"required (papermill injects the batch's values after it)")
    stem = source.stem[:40]
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{stem}-{index:03d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _sync_sources(nb_dir: Path) -> None:
    """Give each ``NAME.ipynb`` the code of its source ``NAME.py``, keeping its outputs until it is re-run."""
    from jupytext.combine import combine_inputs_with_outputs

    for name in NOTEBOOKS:
        path = nb_dir / f"{name}.ipynb"
        fresh = sync_notebook(nb_dir / f"{name}.py")
        if path.is_file():
            old = nbformat.read(str(path), as_version=4)
            if [c.source for c in old.cells] == [c.source for c in fresh.cells]:
                continue
            merged = combine_inputs_with_outputs(fresh, old)
            for cell, synced in zip(merged.cells, fresh.cells, strict=True):
                cell["id"] = synced["id"]
            fresh = merged
        atomic_write_text(path, nbformat.writes(fresh) + "\n")


@keyword_options
def refresh_notebooks(batch_file: Path, *, skip_batch: bool = False, timeout: int = 1800) -> int:
    """Sync the notebook pairs and re-run them, so their committed outputs come from one clean run.

    Steps: give each ``.ipynb`` its source's code (the batch renders from the ``.ipynb``); run the batch
    (unless ``skip_batch``) so that ``notebooks/evidence/`` holds the default evidence
    the country report and the synthesis read; then for every notebook read its jupytext source
    (``notebooks/NAME.py``, the file people edit and review), execute it top to bottom with its default
    parameters (nbclient, kernel ``python3``) and write ``notebooks/NAME.ipynb`` with the outputs.

    Returns
    -------
    int
        Exit code (0 on success).

    Raises
    ------
    PipelineError
        If a source is missing or a notebook fails (its ``.ipynb`` then keeps its outputs; when the batch
        ran, with its source's code).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from ipf_eval.pipeline._kernels import private_kernel_manager, shutdown_kernel
    from ipf_eval.pipeline.plan import build_plan
    from ipf_eval.pipeline.runner import run_batch

    plan = build_plan(batch_file)
    nb_dir = plan.notebooks_dir
    if not skip_batch:
        _sync_sources(nb_dir)  # the batch renders from the .ipynb files: give them the sources' code first
        report = run_batch(plan, progress=True)
        print(report.summary_table())
        if report.exit_code:
            return report.exit_code
    evidence = nb_dir / "evidence"
    evidence.mkdir(exist_ok=True)
    for old in evidence.glob("*.json"):
        old.unlink()
    for src in sorted(plan.evidence_dir.glob("*.json")):
        shutil.copy2(src, evidence / src.name)
    for name in NOTEBOOKS:
        path = nb_dir / f"{name}.ipynb"
        start = time.perf_counter()
        nb = sync_notebook(nb_dir / f"{name}.py")
        km, folder = private_kernel_manager("python3")  # a fresh kernel per notebook, on private sockets
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(nb_dir)}})
        try:
            client.execute()
        except CellExecutionError as exc:
            raise PipelineError(f"{path.name} failed with its default parameters; it was not rewritten: "
                                f"{str(exc).strip().splitlines()[-1]}") from exc
        finally:
            shutdown_kernel(km, client.kc, folder)
        atomic_write_text(path, nbformat.writes(nb) + "\n")
        print(f"executed {path.name} in {time.perf_counter() - start:.1f} s")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (batch schedulers, systemd) stops a batch as cleanly as Ctrl-C


@keyword_options
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ipf-eval`` console script; returns the exit code.

    SIGTERM is handled like Ctrl-C: workers and kernels are stopped, temporary files removed, published
    reports left as they were, and the exit code is 130.
    """
    args = _parser().parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return _main(args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _data_problems(plan: Plan, params: str) -> list[str]:
    """Check the selected countries' data files before any notebook runs (:func:`check.data_problems`)."""
    from ipf_eval.pipeline.check import data_problems
    from ipf_eval.pipeline.settings import batch_settings

    countries = sorted({str(r.country) for s in (0, 1) for r in plan.stage(s) if r.country})
    return [str(p) for p in data_problems(batch_settings(params), countries)]


def _bundle_command(args: argparse.Namespace) -> int:
    """Run ``ipf-eval export`` or ``ipf-eval synthesise`` (:mod:`ipf_eval.pipeline.bundle`); 2 on refusal."""
    from ipf_eval.pipeline.bundle import BundleError, export_bundle, read_bundle
    from ipf_eval.pipeline.forum_synthesis import synthesise_bundles
    from ipf_eval.pipeline.plan import build_plan

    try:
        if args.command == "export":
            path = export_bundle(build_plan(args.params), args.country, out=args.out, partial=args.partial)
            print(f"bundle written: {path}")
            for line in read_bundle(path).left_out_lines():
                print(f"ipf-eval: left out: {line}", file=sys.stderr)
            return 0
        page, found = synthesise_bundles(args.bundles, out=args.out, notebooks=args.notebooks)
    except BundleError as exc:
        print(f"ipf-eval: {exc}", file=sys.stderr)
        return 2
    for line in found.left_out:
        print(f"ipf-eval: left out: {line}", file=sys.stderr)
    print(f"synthesis of {len(found.accepted)} bundle(s) ({', '.join(b.country for b in found.accepted)}): "
          f"{page}")
    return 0


def _twin_command(args: argparse.Namespace) -> int:
    """Run ``ipf-eval twin``: print the twin's sentence and size classes; 2 when it cannot be estimated."""
    from ipf_eval.errors import IpfEvalError
    from ipf_eval.evidence import evidence_frame, evidence_table, read_evidence
    from ipf_eval.pipeline import twin_report
    from ipf_eval.pipeline.bundle import primary_outcomes, synthesis_evidence
    from ipf_eval.pipeline.display import data_banner
    from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes
    from ipf_eval.pipeline.plan import build_plan
    from ipf_eval.synthesis import forum, twinning

    records: Sequence[Mapping[str, Any]]
    try:
        if args.bundles:
            found = synthesis_evidence(args.bundles)
            for line in found.left_out:
                print(f"ipf-eval: left out: {line}", file=sys.stderr)
            records = found.records
            primaries = primary_outcomes(found.accepted, first=args.source)
            include_stale, where = False, "the bundles given"
        else:
            plan = build_plan(args.params or "params/batch.yaml")
            records = read_evidence(plan.evidence_dir)
            primaries = {name: inst.primary for name, inst in plan.instruments.items()}
            include_stale, where = plan.batch.include_stale, str(plan.evidence_dir)
        if not records:
            print(f"ipf-eval: no evidence records in {where}: render the batch first (ipf-eval render) or "
                  "pass --bundles", file=sys.stderr)
            return 2
        frame = evidence_frame(records)
        use_outcomes(outcome_displays_of(frame))  # an agency's own outcomes, in their units
        twin = twinning.twin_estimate(
            evidence_table(records, "heterogeneity"), evidence_table(records, "population_mix"),
            forum.headline_estimates(frame, include_stale=include_stale), source=args.source,
            target=args.target, instrument=args.instrument, outcome=args.outcome, primary_outcomes=primaries)
    except ParameterError as exc:
        print(f"ipf-eval: invalid parameters: {exc}", file=sys.stderr)
        return 2
    except IpfEvalError as exc:
        print(f"ipf-eval: {exc}", file=sys.stderr)
        return 2
    labels = {str(r["instrument"]): str(r["label"]) for r in records if r.get("label")}
    label = labels.get(args.instrument)
    banner = data_banner([twin.data_source])
    if banner is not None:
        print(repr(banner))
    print(twin_report.twin_sentence(twin, label=label))
    print()
    print(twin_report.twin_detail(twin).frame.to_string(index=False))
    for note in twin.notes:
        print(f"Note: {note}.")
    if args.out:
        target = Path(args.out)
        try:
            atomic_write_text(target, twin_report.twin_page(twin, label=label))
        except OSError as exc:
            print(f"ipf-eval: cannot write {str(target)!r} ({exc})", file=sys.stderr)
            return 3
        print(f"page written: {target}")
    return 0


def _main(args: argparse.Namespace) -> int:
    from ipf_eval.pipeline.plan import build_plan
    from ipf_eval.pipeline.runner import run_batch

    try:
        if args.command == "twin":
            return _twin_command(args)
        if args.command in ("export", "synthesise"):
            return _bundle_command(args)
        if args.command == "check":
            from ipf_eval.pipeline.check import check_project

            checked = check_project(Path(args.params))
            print("\n".join([*checked.run_lines(), *checked.summary_lines()]))
            if checked.problems:
                print(f"ipf-eval: {len(checked.problems)} problem(s):", file=sys.stderr)
                print("\n".join(checked.problem_lines()), file=sys.stderr)
            print(checked.verdict(), file=sys.stderr if checked.problems else sys.stdout)
            return checked.exit_code
        if args.command == "init":
            from ipf_eval.pipeline.check import init_country

            made = init_country(args.code, params_dir=args.params)
            print(f"wrote {made.country_file}")
            print(f"{'created' if made.data_dir_created else 'kept'} {made.data_dir}/ (empty; data/ is never "
                  "committed)")
            print("next steps:")
            print("\n".join(f"  {i}. {step}" for i, step in enumerate(made.next_steps, 1)))
            return 0
        if args.command == "refresh-notebooks":
            return refresh_notebooks(Path(args.params), skip_batch=args.skip_batch, timeout=args.timeout)
        plan = build_plan(args.params, only=args.only)
        if args.workers is not None and args.workers < 0:
            raise ParameterError(f"--workers {args.workers!r} must be 0 (in process) or more")
        problems = _data_problems(plan, args.params)
        if problems:
            print(f"ipf-eval: the data cannot be evaluated ({len(problems)} problem(s)); no notebook was "
                  "run:\n" + "\n".join(f"  - {p}" for p in problems)
                  + "\nfix them (ipf-eval check lists them too), then render again", file=sys.stderr)
            return 2
        report = run_batch(plan, workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                           timeout=args.timeout, progress=not args.no_progress)
    except ParameterError as exc:
        print(f"ipf-eval: invalid parameters: {exc}", file=sys.stderr)
        return 2
    except BatchLockedError as exc:
        print(f"ipf-eval: {exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"ipf-eval: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("ipf-eval: interrupted; published reports are those of the last complete runs", file=sys.stderr)
        return 130
    print(report.summary_table())
    print(f"reports in {plan.output_dir / 'index.html'}")
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
