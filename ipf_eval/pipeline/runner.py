"""The batch runner: papermill in a process pool or on Dask, retries, timeouts, atomic outputs, resume.

Stages run in order (instrument evaluations, then country reports, then the synthesis and case studies);
runs within a stage run in parallel.  Each run executes its notebook into a temporary file, renders it to
HTML without code and only then moves the report, the evidence JSON and the executed notebook into place
(:func:`os.replace`).  A failing run does not stop the others: its executed notebook is kept as
``*.failed.ipynb`` next to the good ones, the previous good report is left untouched, and the index pages
list the error.  The manifest ``_runs/manifest.json`` records, per run, a hash of everything it depends on
(parameter values, notebook bytes, input data bytes, library source, consumed evidence) so that
``resume=True`` skips runs whose inputs have not changed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as _as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

import ipf_eval
from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure.identifiers import IdentifierSet, identifier_set, output_text
from ipf_eval.errors import BatchLockedError, IpfEvalError, PipelineError
from ipf_eval.pipeline._io import (
    atomic_write_json,
    atomic_write_text,
    ensure_writable_dir,
    file_sha256,
    remove_stale_temporaries,
    stable_hash,
)
from ipf_eval.pipeline._kernels import discard_warm_kernel, execute_warm, remove_socket_folders
from ipf_eval.pipeline.plan import Plan, Run
from ipf_eval.pipeline.render import (
    notebook_to_html,
    write_country_index,
    write_evidence_csv,
    write_forum_index,
)
from ipf_eval.pipeline.stale import mark_evidence_stale, mark_report_stale

__all__ = ["BatchReport", "RunOutcome", "execute_run", "run_batch", "write_indexes"]

Status = Literal["ok", "failed", "skipped"]
KERNEL = "python3"
_DASK_CONNECT_TIMEOUT = "20s"


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one run."""

    run_id: str
    status: Status
    error: str = ""
    seconds: float = 0.0
    attempts: int = 0
    notebook: str = ""


@dataclass(frozen=True)
class BatchReport:
    """Outcome of a batch: one :class:`RunOutcome` per selected run, total wall time."""

    outcomes: tuple[RunOutcome, ...]
    seconds: float

    @property
    def failed(self) -> tuple[RunOutcome, ...]:
        """Runs that failed."""
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def exit_code(self) -> int:
        """0 when every run succeeded or was skipped, 1 otherwise."""
        return 1 if self.failed else 0

    def summary_table(self) -> str:
        """Plain-text table: run, status, seconds, first line of the error."""
        width = max([len("run"), *(len(o.run_id) for o in self.outcomes)])
        lines = [f"{'run':<{width}}  {'status':<7}  {'seconds':>7}  error", "-" * (width + 30)]
        for o in self.outcomes:
            err = o.error.splitlines()[0][:100] if o.error else ""
            lines.append(f"{o.run_id:<{width}}  {o.status:<7}  {o.seconds:7.1f}  {err}")
        counts = {s: sum(1 for o in self.outcomes if o.status == s) for s in ("ok", "failed", "skipped")}
        lines.append(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped "
                     f"in {self.seconds:.1f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# One run (executed in a worker process)
# ---------------------------------------------------------------------------------------------------------
def _papermill_execute(notebook: str, output: str, parameters: dict[str, Any], timeout: int,
                       cwd: str, reuse_kernel: bool = False) -> None:
    if reuse_kernel:
        execute_warm(notebook, output, parameters=parameters, kernel_name=KERNEL, timeout=timeout, cwd=cwd)
        return
    import papermill

    papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=KERNEL,
                               progress_bar=False, log_output=False, execution_timeout=timeout,
                               start_timeout=60, cwd=cwd)


def _is_kernel_start_error(exc: BaseException) -> bool:
    """Whether ``exc`` looks like a kernel that failed to start (worth one retry), not a notebook error."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, (PapermillExecutionError, DeadKernelError, CellTimeoutError)):
        return False
    return isinstance(exc, (RuntimeError, TimeoutError)) and "kernel" in str(exc).lower()


def _describe(exc: BaseException) -> str:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    if isinstance(exc, DeadKernelError):
        return f"kernel died during execution (DeadKernelError: {exc})"
    if isinstance(exc, CellTimeoutError):
        return f"a cell exceeded the execution timeout (CellTimeoutError: {str(exc).splitlines()[0]})"
    return f"{type(exc).__name__}: {exc}"


def _disclosure_findings(page: str, profile: Any, *, identifiers: IdentifierSet | None = None,
                         outputs: Mapping[str, Path | None] | None = None,
                         local_log: Path | None = None) -> str:
    """Scan a run's rendered outputs before they are published; return the error or ''.

    First for the firm identifiers of the data the run was built from (``identifiers``), in the page and
    in each of ``outputs`` (name -> file: the evidence file's text values, the executed notebook's sources
    and text outputs); the identifiers found go to ``local_log``, never into the error, which the index
    pages publish.  Then the page for small counts under the run's disclosure ``profile`` (``None``: no
    small-count scan).
    """
    if identifiers:
        hits = _identifiers_in({"HTML page": page, **{name: output_text(path)
                                                       for name, path in (outputs or {}).items()}},
                                identifiers)
        if hits:
            return _identifier_error(hits, local_log)
    if not profile:
        return ""
    from ipf_eval.disclosure import scan_html

    report = scan_html(page, profile=str(profile))
    if report.clean:
        return ""
    found = ", ".join(f"{token!r} ({kind})" for kind, token, _ in report.findings[:5])
    return (f"disclosure scan of the rendered report found {found} under profile {profile!r}; the report "
            f"was not published: protect the table or text that shows it (ipf_eval.disclosure)")


@keyword_options
def execute_run(task: Mapping[str, Any]) -> dict[str, Any]:
    """Execute one notebook, render it and publish its outputs atomically.

    Runs in a worker process; takes and returns plain values so it pickles for a process pool or Dask.

    Parameters
    ----------
    task
        ``run_id``, ``notebook``, ``parameters``, ``executed``, ``failed``, ``html``, ``evidence`` (or
        ``None``), ``title``, ``timeout``, ``cwd``, ``disclosure_profile`` (the rendered page is scanned
        under it before it is published; ``None``: not scanned), and optionally ``confidential``: a dict
        with ``local_log`` (the run's local log file), ``batch_file`` and ``countries`` (the countries
        whose agency files the run shows; see *Notes*).

    Returns
    -------
    dict
        ``run_id``, ``status`` (``"ok"`` or ``"failed"``), ``error``, ``seconds``, ``attempts``,
        ``notebook`` (the executed or failed notebook).

    Notes
    -----
    With ``confidential``, the run's local log is started (``<project>/.ipf_eval/logs/<run>.log``, ``/`` in
    the run id replaced by ``__``) and the kernel finds it through the environment variable
    ``IPF_EVAL_LOCAL_LOG``: the data layer lists there the firms behind its messages
    (:mod:`ipf_eval.disclosure.local_log`).  A reused kernel keeps the environment it started with, so it
    is given a fixed symbolic link (in a private temporary folder of this worker) that is pointed at each
    run's log in turn; where symbolic links cannot be made, the run starts a fresh kernel.

    The firm identifiers of each country's agency file (``data.source: file``, read with
    :func:`ipf_eval.pipeline.settings.load_country_data`; the applications file's too) are written next to
    the log (``<run>.ids``, removed when the run ends) for the notebook's notes to scrub, and every
    rendered output (the page, the evidence file's text values, the executed notebook) is searched for
    them under the rule of :mod:`ipf_eval.disclosure.identifiers`.  One found fails the run: nothing is
    published, the error says how many were found and where, and the identifiers themselves go to the
    local log.  Simulated data are not searched: their identifiers are the simulator's firm numbers 1..n,
    not confidential, and would match every count in the report.  The error of a failed run (published on
    the index pages) has the identifiers scrubbed, and a failed notebook that names one is kept next to
    the local log instead of under the output folder.
    """
    start = time.perf_counter()
    executed, failed, html_path = Path(task["executed"]), Path(task["failed"]), Path(task["html"])
    evidence = Path(task["evidence"]) if task.get("evidence") else None
    params = dict(task["parameters"])
    error = ""
    attempts = 0
    confidential = dict(task.get("confidential") or {})
    id_values, id_error = _firm_ids(confidential)
    identifiers = identifier_set(id_values)
    local_log = _start_run_log(confidential, str(task["run_id"]), id_values)
    kept_failed = failed
    with contextlib.ExitStack() as stack:
        tmp_nb = stack.enter_context(_temporary(executed))
        tmp_ev = stack.enter_context(_temporary(evidence)) if evidence is not None else None
        if tmp_ev is not None:
            params["evidence_path"] = str(tmp_ev)
        with _kernel_environment(local_log, bool(task.get("reuse_kernel", False))) as reuse_kernel:
            while True:
                attempts += 1
                try:
                    _papermill_execute(str(task["notebook"]), str(tmp_nb), params, int(task["timeout"]),
                                       str(task["cwd"]), reuse_kernel)
                    break
                except Exception as exc:
                    if attempts == 1 and _is_kernel_start_error(exc):
                        continue
                    error = _describe(exc)
                    break
        if not error and tmp_ev is not None and not tmp_ev.is_file():
            error = ("the notebook finished without writing its evidence file (parameter 'evidence_path'); "
                     "check that its last cells call ipf_eval.pipeline.write_evidence")
        if not error and id_error:
            error = (f"the firm identifiers of the data could not be read for the disclosure scan "
                     f"({id_error}); the report was not published")
        if not error:
            try:
                page = notebook_to_html(tmp_nb, title=str(task["title"]))
                error = _disclosure_findings(page, task.get("disclosure_profile"), identifiers=identifiers,
                                             outputs={"evidence file": tmp_ev, "executed notebook": tmp_nb},
                                             local_log=local_log)
            except Exception as exc:
                error = f"rendering failed: {type(exc).__name__}: {exc}"
        if not error:
            try:
                atomic_write_text(html_path, page)
                if tmp_ev is not None and evidence is not None:
                    os.replace(tmp_ev, evidence)
                os.replace(tmp_nb, executed)
                with contextlib.suppress(FileNotFoundError):
                    failed.unlink()
            except Exception as exc:
                error = f"rendering or publishing failed: {type(exc).__name__}: {exc}"
        if error and tmp_nb.is_file():
            kept_failed = _failed_notebook_place(tmp_nb, failed, identifiers, local_log)
            with contextlib.suppress(OSError):
                os.replace(tmp_nb, kept_failed)
    if local_log is not None:  # read by the notebook's notes while it ran; one copy of the ids fewer
        with contextlib.suppress(OSError):
            local_log.with_suffix(".ids").unlink(missing_ok=True)
    error = identifiers.scrub(error)  # the index pages and the manifest publish a run's error
    return {"run_id": task["run_id"], "status": "failed" if error else "ok", "error": error,
            "seconds": time.perf_counter() - start, "attempts": attempts,
            "notebook": str(kept_failed if error else executed)}


# -- what a run keeps on this machine: its local log and the identifiers of its data ----------------------
#: The folder of the runs' local logs, under the project root: outside the output folder, ignored by git.
LOCAL_LOG_DIR = Path(".ipf_eval") / "logs"


def _confidential(run: Run, plan: Plan) -> dict[str, Any]:
    """Return a task's ``confidential`` entry: the run's local log, the countries whose files it shows."""
    from ipf_eval.pipeline.params import FileSource

    codes = list(plan.countries) if run.kind == "synthesis" else [run.country] if run.country else []
    return {"local_log": str(plan.root / LOCAL_LOG_DIR / f"{run.run_id.replace('/', '__')}.log"),
            "batch_file": str(plan.batch_file),
            "countries": [c for c in codes if c in plan.countries
                          and isinstance(plan.countries[c].data, FileSource)]}


def _firm_ids(confidential: Mapping[str, Any]) -> tuple[list[Any], str]:
    """Read the firm ids of the agency files of ``confidential['countries']``; ``(ids, error or '')``."""
    countries = list(confidential.get("countries") or [])
    if not countries:
        return [], ""
    import warnings

    from ipf_eval.pipeline.settings import batch_settings, load_country_data

    ids: list[Any] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the notebook reports what reading the file says
            settings = batch_settings(confidential["batch_file"])
            for code in countries:
                data = load_country_data(settings, code)
                for frame in (data.panel, data.applications):
                    if frame is not None and "firm_id" in frame.columns:
                        ids += frame["firm_id"].dropna().unique().tolist()
    except Exception as exc:  # the notebook meets the same problem and says what it is
        return [], f"{type(exc).__name__}: {exc}"
    return ids, ""


def _start_run_log(confidential: Mapping[str, Any], run_id: str, ids: list[Any]) -> Path | None:
    """Start the run's local log and write (or remove) the identifiers file next to it."""
    from ipf_eval.disclosure.identifiers import write_identifiers
    from ipf_eval.disclosure.local_log import start_local_log

    if not confidential.get("local_log"):
        return None
    try:
        log = start_local_log(confidential["local_log"], title=f"run {run_id}")
        if ids:
            write_identifiers(log.with_suffix(".ids"), ids)
        else:
            log.with_suffix(".ids").unlink(missing_ok=True)
    except OSError:
        return None
    return log


@contextlib.contextmanager
def _kernel_environment(local_log: Path | None, reuse_kernel: bool) -> Iterator[bool]:
    """Set ``IPF_EVAL_LOCAL_LOG`` for the kernel while the notebook runs; yield whether to reuse the kernel.

    A fresh kernel gets the run's log itself; a reused one keeps the environment it started with, so it
    gets this thread's fixed link, pointed at the run's log now.  Without symbolic links the run starts a
    fresh kernel instead.  The variable is the process's: two threads of one Dask worker starting kernels
    at the same moment may swap their logs (both stay local; the scan of the outputs is unaffected).
    """
    from ipf_eval.disclosure.local_log import ENV_VAR, fixed_link_to

    if local_log is None:
        yield reuse_kernel
        return
    value = str(local_log)
    if reuse_kernel:
        try:
            value = str(fixed_link_to(local_log))
        except (OSError, NotImplementedError):
            reuse_kernel = False
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = value
    try:
        yield reuse_kernel
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous


def _identifiers_in(texts: Mapping[str, str], identifiers: IdentifierSet) -> dict[str, list[str]]:
    """Map each identifier found to the outputs it appears in."""
    found: dict[str, list[str]] = {}
    for name, text in texts.items():
        for hit in identifiers.find(text):
            found.setdefault(hit, []).append(name)
    return found


def _identifier_error(found: Mapping[str, list[str]], local_log: Path | None) -> str:
    """Record the identifiers found in the local log; return the run's error, which names none of them."""
    from ipf_eval.disclosure.local_log import record_details

    where = sorted({name for names in found.values() for name in names})
    listed = "they are not listed: the run has no local log"
    if local_log is not None:
        for name in where:
            record_details(f"firm identifiers found in the rendered {name}: the report was not published",
                           ids=[i for i, names in found.items() if name in names], log=local_log)
        listed = f"they are listed in the local log {str(local_log)!r}"
    return (f"disclosure scan: the rendered report names {len(found)} firm identifier(s) of the data it was "
            f"built from (in the {', '.join(where)}); the report was not published: {listed}; find the "
            "note, table or caption that prints them")


def _failed_notebook_place(notebook: Path, failed: Path, identifiers: IdentifierSet,
                           local_log: Path | None) -> Path:
    """Where a failed run's notebook is kept: ``failed``, or next to the local log when it names a firm."""
    if local_log is None or not identifiers or not identifiers.find(output_text(notebook)):
        return failed
    with contextlib.suppress(OSError):
        failed.unlink(missing_ok=True)  # an older failure's notebook: superseded by this one
    return local_log.with_suffix(".failed.ipynb")


@contextlib.contextmanager
def _temporary(target: Path) -> Iterator[Path]:
    """Yield a temporary file name next to ``target``, deleted on exit if it still exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".ipf-eval-tmp-{target.name}.{os.getpid()}.{time.monotonic_ns()}{target.suffix}"
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# ---------------------------------------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------------------------------------
def _report_pid(queue: Any) -> None:
    """Pool initializer: tell the parent this worker's process id (so that an abort can stop it)."""
    queue.put(os.getpid())


class _Executor:
    """Submit runs and iterate over them as they complete: serial, process pool or Dask."""

    def __init__(self, workers: int, scheduler: str | None) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._pid_queue: Any = None
        self._reported: set[int] = set()
        self._client: Any = None
        if scheduler is not None:
            try:
                from distributed import Client
            except ImportError as exc:  # pragma: no cover - dask is installed in the project venv
                raise PipelineError("--scheduler needs the 'distributed' package; pip install dask "
                                    "distributed") from exc
            try:
                self._client = Client(scheduler, timeout=_DASK_CONNECT_TIMEOUT)
            except OSError as exc:
                raise PipelineError(f"cannot connect to the Dask scheduler {scheduler!r} ({exc}); check the "
                                    f"address (tcp://host:8786) and that the scheduler is running") from exc
        elif workers > 0:
            import multiprocessing
            import threading

            import papermill  # noqa: F401 - imported once here, inherited by forked workers

            # fork is cheap (workers inherit the imports) and safe while this process has a single thread
            method = "fork" if os.name == "posix" and threading.active_count() == 1 else "spawn"
            ctx = multiprocessing.get_context(method)
            self._pid_queue = ctx.SimpleQueue()
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_report_pid,
                                             initargs=(self._pid_queue,))

    def map_completed(self, fn: Callable[[Mapping[str, Any]], dict[str, Any]],
                      tasks: list[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        if self._client is not None:
            from distributed import as_completed as dask_completed

            futures = [self._client.submit(fn, t, pure=False, key=f"ipf-eval-{t['run_id']}-{time.time_ns()}")
                       for t in tasks]
            for fut in dask_completed(futures):
                yield _result_or_failure(fut, tasks, futures)
        elif self._pool is not None:
            pool_futures = [self._pool.submit(fn, t) for t in tasks]
            for fut in _as_completed(pool_futures):
                yield _result_or_failure(fut, tasks, pool_futures)
        else:
            for t in tasks:
                yield fn(t)

    def worker_pids(self) -> list[int]:
        """Process ids of the pool's live workers: those they reported on starting that are our children.

        A reported id that is no longer a child of this process belongs to a worker that has exited (and
        may have been reused by an unrelated process), so it is left out.
        """
        import psutil

        if self._pid_queue is None:
            return []
        while not self._pid_queue.empty():
            self._reported.add(int(self._pid_queue.get()))
        children = {child.pid for child in psutil.Process().children()}
        return sorted(self._reported & children)

    def abort(self) -> None:
        """Cancel pending work and stop worker processes and their kernels."""
        if self._pool is not None:
            pids = self.worker_pids()
            _kill_trees(pids)
            remove_socket_folders(pids)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            self._close_queue()
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._close_queue()
        if self._client is not None:
            self._client.close()

    def _close_queue(self) -> None:
        if self._pid_queue is not None:
            self._pid_queue.close()
            self._pid_queue = None


def _result_or_failure(fut: Any, tasks: list[dict[str, Any]], futures: list[Any]) -> dict[str, Any]:
    task = tasks[futures.index(fut)]
    try:
        result: dict[str, Any] = fut.result()
        return result
    except Exception as exc:  # a worker process died (BrokenProcessPool) or Dask lost the task
        return {"run_id": task["run_id"], "status": "failed", "seconds": 0.0, "attempts": 1,
                "error": f"worker failed: {type(exc).__name__}: {exc}", "notebook": ""}


def _kill_trees(pids: list[int]) -> None:
    import psutil

    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for child in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
            proc.kill()


# ---------------------------------------------------------------------------------------------------------
# Manifest and resume
# ---------------------------------------------------------------------------------------------------------
def _library_fingerprint() -> str:
    """Version plus a hash of the installed ipf_eval sources (an editable install changes without a bump)."""
    root = Path(ipf_eval.__file__).parent
    digest = stable_hash({str(p.relative_to(root)): file_sha256(p) for p in sorted(root.rglob("*.py"))})
    return f"{ipf_eval.__version__}+{digest[:16]}"


def _input_key(run: Run, plan: Plan, library: str) -> str:
    consumed: dict[str, str] = {}
    if run.kind in ("country", "synthesis") and plan.evidence_dir.is_dir():
        prefix = f"{run.country}__" if run.kind == "country" else ""
        consumed = {p.name: file_sha256(p) for p in sorted(plan.evidence_dir.glob(f"{prefix}*.json"))}
    return stable_hash({
        "parameters": dict(run.parameters), "notebook": file_sha256(run.notebook), "library": library,
        "data": {str(p): file_sha256(p) if p.is_file() else "missing" for p in run.data_files},
        "params": {str(p): file_sha256(p) if p.is_file() else "missing" for p in run.param_files},
        "evidence": consumed,
    })


def _load_manifest(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    runs = data.get("runs") if isinstance(data, dict) else None
    return dict(runs) if isinstance(runs, dict) else {}


def _up_to_date(run: Run, entry: Mapping[str, Any] | None, key: str) -> bool:
    return (entry is not None and entry.get("status") == "ok" and entry.get("key") == key
            and run.html.is_file() and (run.evidence is None or run.evidence.is_file()))


# ---------------------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------------------
def _created(entry: Mapping[str, Any] | None, key: str) -> str:
    """Return a run's evidence time stamp: the last successful run's with the same inputs, else now.

    An identical re-run then reproduces its evidence byte for byte, while a run with any changed input
    (parameters, data, notebook, library) gets the time it was made.
    """
    if entry is not None and entry.get("status") == "ok" and entry.get("key") == key and entry.get("created"):
        return str(entry["created"])
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _task(run: Run, plan: Plan, timeout: int, reuse_kernel: bool, created: str = "") -> dict[str, Any]:
    parameters = dict(run.parameters)
    if "created" in parameters:
        parameters["created"] = created
    return {"run_id": run.run_id, "notebook": str(run.notebook), "parameters": parameters,
            "reuse_kernel": reuse_kernel,
            "executed": str(run.executed), "failed": str(run.failed), "html": str(run.html),
            "evidence": str(run.evidence) if run.evidence else None, "title": run.title,
            "timeout": timeout, "cwd": str(plan.notebooks_dir), "disclosure_profile": run.disclosure_profile,
            "confidential": _confidential(run, plan)}


def _on_complete(outcome: RunOutcome) -> None:
    """Run in the main process after each run completes (tests inject interrupts here)."""


@keyword_options
def run_batch(plan: Plan, *, workers: int | None = None, scheduler: str | None = None, resume: bool = False,
              timeout: int | None = None, progress: bool = True,
              reuse_kernels: bool | None = None) -> BatchReport:
    """Run the selected runs of a plan stage by stage and write the index pages and ``evidence.csv``.

    Parameters
    ----------
    plan
        From :func:`ipf_eval.pipeline.build_plan`.
    workers
        Worker processes (default: the batch file's ``workers``); 0 runs everything in this process.
    scheduler
        Address of a Dask distributed scheduler; runs are submitted there instead of a local pool.
    resume
        Skip runs whose recorded input hash matches and whose outputs exist.
    timeout
        Per-cell execution timeout in seconds (default: the batch file's ``timeout``).
    progress
        Show a tqdm progress bar on stderr.
    reuse_kernels
        Keep one kernel per worker and reset it between notebooks instead of starting one per notebook
        (default: the batch file's ``reuse_kernels``, itself ``True``); see
        :mod:`ipf_eval.pipeline._kernels`.  Runs sent to a Dask ``scheduler`` always start fresh kernels.

    Returns
    -------
    BatchReport
        One outcome per selected run; ``exit_code`` is 1 when any run failed.

    Raises
    ------
    PipelineError
        If the output folder cannot be written, another batch is writing to it, or the Dask scheduler cannot
        be reached.
    KeyboardInterrupt
        Re-raised after workers and kernels are stopped and temporary files removed; published files
        are left as they were before the interrupted run.
    """
    start = time.perf_counter()
    n_workers = plan.batch.workers if workers is None else workers
    limit = plan.batch.timeout if timeout is None else timeout
    reuse = (plan.batch.reuse_kernels if reuse_kernels is None else reuse_kernels) and scheduler is None
    for folder, what in ((plan.output_dir, "output folder"), (plan.work_dir, "work folder"),
                         (plan.evidence_dir, "evidence folder")):
        ensure_writable_dir(folder, what=what)
    with _batch_lock(plan.work_dir / "batch.lock"):
        return _run_locked(plan, n_workers=n_workers, scheduler=scheduler, resume=resume, limit=limit,
                           progress=progress, start=start, reuse=reuse)


@contextlib.contextmanager
def _batch_lock(path: Path) -> Iterator[None]:
    """Hold ``path`` (holding this process id) while a batch writes into the output folder."""
    import psutil

    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(path.read_text().strip() or "0")
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and psutil.pid_exists(pid):
            raise BatchLockedError(f"another batch (process {pid}) is writing to {str(path.parent)!r}; wait "
                                   f"for it to finish, or delete {str(path)!r} if that process is not "
                                   "ipf-eval") from None
        path.unlink(missing_ok=True)  # left by a batch that was killed
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _run_locked(plan: Plan, *, n_workers: int, scheduler: str | None, resume: bool, limit: int,
                progress: bool, start: float, reuse: bool) -> BatchReport:
    from tqdm.auto import tqdm

    remove_stale_temporaries(plan.output_dir)
    manifest_path = plan.work_dir / "manifest.json"
    manifest = _load_manifest(manifest_path)
    library = _library_fingerprint()
    outcomes: list[RunOutcome] = []
    selected = [r for s in (0, 1, 2) for r in plan.stage(s)]
    by_id = {r.run_id: r for r in selected}
    executor = _Executor(n_workers, scheduler)
    bar = tqdm(total=len(selected), disable=not progress, unit="notebook", desc="ipf-eval render")
    try:
        for stage in (0, 1, 2):
            tasks, keys, created = [], {}, {}
            for run in _with_forum_evidence(plan, plan.stage(stage)):
                keys[run.run_id] = _input_key(run, plan, library)
                if resume and _up_to_date(run, manifest.get(run.run_id), keys[run.run_id]):
                    outcomes.append(RunOutcome(run.run_id, "skipped", notebook=str(run.executed)))
                    bar.update(1)
                    continue
                created[run.run_id] = _created(manifest.get(run.run_id), keys[run.run_id])
                tasks.append(_task(run, plan, limit, reuse, created[run.run_id]))
            # longest first (by the last recorded duration; new runs count as long): fewer idle workers at
            # the end of a stage
            tasks.sort(key=lambda t: -float(manifest.get(t["run_id"], {}).get("seconds") or float("inf")))
            for result in executor.map_completed(execute_run, tasks):
                outcome = RunOutcome(**result)
                outcomes.append(outcome)
                finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
                previous = manifest.get(outcome.run_id)
                manifest[outcome.run_id] = {
                    "key": keys[outcome.run_id], "status": outcome.status, "error": outcome.error,
                    "seconds": round(outcome.seconds, 3), "attempts": outcome.attempts,
                    "finished": finished,
                    "created": created[outcome.run_id] if outcome.status == "ok" else "",
                }
                if outcome.status == "failed":
                    manifest[outcome.run_id].update(_mark_stale(by_id[outcome.run_id], previous,
                                                                error=outcome.error, failed_at=finished))
                atomic_write_json(manifest_path, {"version": 1, "library": library, "runs": manifest})
                bar.update(1)
                bar.set_postfix_str(f"{outcome.run_id}: {outcome.status}")
                _on_complete(outcome)
        executor.close()
    except BaseException:
        executor.abort()
        remove_stale_temporaries(plan.output_dir)
        raise
    finally:
        bar.close()
        discard_warm_kernel()  # the in-process (workers=0) kernel; pool workers shut theirs down on exit
    write_evidence_csv(plan.evidence_dir, plan.output_dir / "evidence.csv")
    write_indexes(plan, manifest)
    order = {r.run_id: i for i, r in enumerate(selected)}
    outcomes.sort(key=lambda o: order[o.run_id])
    return BatchReport(outcomes=tuple(outcomes), seconds=time.perf_counter() - start)


def _with_forum_evidence(plan: Plan, runs: list[Run]) -> list[Run]:
    """Before the synthesis runs: export every country's bundle and give it the bundles' evidence.

    The batch's synthesis reads what the forum's would
    (:func:`ipf_eval.pipeline.bundle.prepare_forum_evidence`); the countries and evaluations left out, with
    the reasons, become its ``left_out`` parameter.
    """
    if not any(r.kind == "synthesis" for r in runs):
        return runs
    from dataclasses import replace

    from ipf_eval.pipeline.bundle import prepare_forum_evidence

    left_out = prepare_forum_evidence(plan)
    return [replace(r, parameters={**r.parameters, "left_out": left_out}) if r.kind == "synthesis" else r
            for r in runs]


def _mark_stale(run: Run, previous: Mapping[str, Any] | None, *, error: str,
                failed_at: str) -> dict[str, Any]:
    """Mark a failed run's earlier page and evidence stale (:mod:`ipf_eval.pipeline.stale`).

    Returns the manifest's ``report_from``: when the report still shown was made (empty: there is none).
    """
    report_from = ""
    if previous is not None:
        report_from = str(previous.get("report_from") or "") if previous.get("status") == "failed" else \
            str(previous.get("created") or previous.get("finished") or "")
    if run.evidence is not None:
        made = mark_evidence_stale(run.evidence, failed_at=failed_at, error=error)
        report_from = made or report_from
    shown = mark_report_stale(run.html, report_from=report_from, error=error)
    return {"report_from": report_from if shown else ""}


@keyword_options
def write_indexes(plan: Plan, manifest: Mapping[str, Any]) -> None:
    """Write ``reports/index.html`` and every ``reports/<CC>/index.html`` from the manifest."""
    def row(run: Run, label: str) -> dict[str, Any]:
        return {"run_id": run.run_id, "label": label, "html": run.html, "failed": run.failed,
                "entry": manifest.get(run.run_id), "kind": run.kind, "country": run.country,
                "instrument": run.instrument if run.kind == "instrument" else None}

    findings = _findings(plan)

    countries = []
    for code, country in plan.countries.items():
        runs = [r for r in plan.runs if r.country == code]
        rows = [row(r, "Country report" if r.kind == "country" else
                    plan.instruments[str(r.instrument)].label) for r in runs]
        index = plan.output_dir / code / "index.html"
        mine = None if findings is None else findings.loc[findings["country"] == code]
        write_country_index(target=index, country=code, country_name=country.name, agency=country.agency,
                            rows=rows, findings=mine)
        countries.append((code, country.name, index))
    all_rows = [row(r, r.title) for r in plan.runs]
    write_forum_index(target=plan.output_dir / "index.html", rows=all_rows, countries=countries,
                      evidence_csv=plan.output_dir / "evidence.csv", findings=findings)


def _findings(plan: Plan) -> pd.DataFrame | None:
    """Read the findings of the landing pages from ``evidence.csv`` (``None`` while there is none)."""
    from ipf_eval.evidence import read_evidence_csv
    from ipf_eval.pipeline.summary import findings_rows

    path = plan.output_dir / "evidence.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        evidence = read_evidence_csv(path)
    except IpfEvalError:
        return None  # an evidence file of another version: the run log still lists every report
    primaries = {(str(r.country), str(r.instrument)): plan.instruments[str(r.instrument)].primary
                 for r in plan.runs if r.kind == "instrument"}
    return findings_rows(evidence, primaries)

