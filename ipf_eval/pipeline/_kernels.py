"""Warm kernels: one Jupyter kernel per worker, reset between notebooks instead of restarted.

Starting a kernel and importing pandas, statsmodels, matplotlib and ipf_eval costs about 4.5 s per notebook
on the reference machine, more than most notebooks' own compute.  A worker therefore keeps its kernel
between runs and, before each notebook, restores it to the state of a fresh kernel as far as a notebook
can observe it:

* the user namespace, input/output history and the execution counter (``InteractiveShell.reset`` with
  ``new_session=True``, so the executed notebook is numbered from 1 as from a fresh kernel);
* the working directory, ``sys.path``, ``os.environ``, the warning filters, ``warnings.showwarning`` and
  the record of warnings already shown (so a warning appears in every notebook that triggers it);
* matplotlib's rcParams (the notebooks and seaborn's themes change them) and every open figure;
* the legacy global random states of ``random`` and ``numpy.random`` (the notebooks seed their own
  generators, but a library call that used the global state would otherwise differ between runs).

Imported modules stay imported: that is the saving.  Module-level state of ipf_eval is immutable
(constants and tables), so what a notebook computes does not depend on which notebooks the kernel ran
before; ``tests/test_pipeline_kernels.py`` checks that evidence files are byte-identical to those from fresh
kernels.  A kernel is discarded after any failed run (it may be dead, busy or in an unknown state) and
after :data:`MAX_RUNS_PER_KERNEL` runs, to bound memory.

Why hand-written: papermill and nbclient start one kernel per notebook and offer no reset; nbclient
accepts an existing kernel manager (``km=``), which this module supplies through a papermill engine.  The
engine is registered the way papermill documents for third-party engines: an entry point in the
``papermill.engine`` group (``pyproject.toml``) naming :mod:`ipf_eval.pipeline._warm_engine`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from typing import Any

from ipf_eval.errors import PipelineError

__all__ = ["ENGINE_NAME", "FOLDER_PREFIX", "MAX_RUNS_PER_KERNEL", "discard_warm_kernel", "execute_warm",
           "make_engine", "private_kernel_manager", "remove_socket_folders", "shutdown_kernel"]

ENGINE_NAME = "ipf_eval_warm"
#: Socket folders are ``<tempdir>/<FOLDER_PREFIX><pid of the process that owns the kernel>-<random>``.
FOLDER_PREFIX = "ipf-eval-kernel-"
MAX_RUNS_PER_KERNEL = 32

# Run silently in the kernel before every notebook.  The first time it records the pristine state (after
# importing matplotlib, whose rcParams are part of it); every time it restores that state.  Names live in
# a private module so the user namespace stays empty.
_RESET_CODE = r'''
def _ipf_eval_reset(cwd):
    import os, random, sys, types, warnings
    state = sys.modules.get("_ipf_eval_warm_state")
    if state is None:
        import matplotlib
        import matplotlib.pyplot
        import numpy
        state = types.ModuleType("_ipf_eval_warm_state")
        state.filters = list(warnings.filters)
        state.showwarning = warnings.showwarning
        state.formatwarning = warnings.formatwarning
        state.rc = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
        state.path = list(sys.path)
        state.environ = dict(os.environ)
        state.random = random.getstate()
        state.np_random = numpy.random.get_state()
        sys.modules["_ipf_eval_warm_state"] = state
    else:
        import matplotlib
        import matplotlib.pyplot
        import numpy
        matplotlib.pyplot.close("all")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matplotlib.rcParams.update(state.rc)
        warnings.filters[:] = state.filters
        getattr(warnings, "_filters_mutated", lambda: None)()  # modules forget the warnings they showed
        warnings.showwarning = state.showwarning
        warnings.formatwarning = state.formatwarning
        sys.path[:] = state.path
        os.environ.clear()
        os.environ.update(state.environ)
        random.setstate(state.random)
        numpy.random.set_state(state.np_random)
    get_ipython().reset(new_session=True, aggressive=False)
    os.chdir(cwd)
'''

_local = threading.local()


def make_engine() -> type:
    """Build the papermill engine class (imports papermill lazily; registered by ``_warm_engine``)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine
    from papermill.utils import merge_kwargs, remove_args

    class _ResettingClient(PapermillNotebookClient):
        """Runs the reset in the (reused) kernel before the cells; keeps the kernel when done."""

        def __init__(self, nb_man: Any, *, reset_cwd: str, **kw: Any) -> None:
            super().__init__(nb_man, **kw)
            self._reset_cwd = reset_cwd
            this: Any = self  # nbclient's traitlets are untyped for mypy
            this.kc = getattr(_local, "kc", None)  # the kernel's client too: no new handshake per notebook
            # papermill rewrites the whole output notebook after every cell (to show progress); the batch
            # only reads the final one, which papermill still writes when the run ends, however it ends
            nb_man.save = lambda *args, **kwargs: None

        def papermill_execute_cells(self) -> None:
            code = _RESET_CODE + f"\n_ipf_eval_reset({self._reset_cwd!r})\n"
            this: Any = self
            reply = this.wait_for_reply(this.kc.execute(code, silent=True, store_history=False))
            content = (reply or {}).get("content", {})
            if content.get("status") != "ok":
                raise PipelineError(f"resetting the reused kernel failed: {content.get('ename')}: "
                                    f"{content.get('evalue')}; run with fresh kernels (reuse_kernels: false)")
            super().papermill_execute_cells()

        def execute(self, **kwargs: Any) -> Any:
            try:
                return super().execute(**kwargs)
            finally:
                this: Any = self
                _local.kc = this.kc
                vars(this.nb_man).pop("save", None)  # papermill's own save again, for the final write

    class WarmEngine(NBClientEngine):
        """papermill engine executing in the worker's warm kernel (``km`` and ``reset_cwd`` required)."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None,
                                     start_timeout: int = 60, execution_timeout: int | None = None,
                                     **kwargs: Any) -> Any:
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                                 kernel_name=kernel_name, log_output=log_output, stdout_file=stdout_file,
                                 stderr_file=stderr_file)
            # no IPython history database: nothing to write on every reset, no code kept in the home folder
            final.setdefault("extra_arguments", ["--HistoryManager.enabled=False"])
            return _ResettingClient(nb_man, **final).execute()

    return WarmEngine


def _warm_manager(kernel_name: str) -> Any:
    """Return this thread's kernel manager (nbclient starts it on first use); recycle it after many runs."""
    km = getattr(_local, "km", None)
    if km is not None and (getattr(_local, "runs", 0) >= MAX_RUNS_PER_KERNEL or not _is_alive(km)):
        discard_warm_kernel()
        km = None
    if km is None:
        km, folder = private_kernel_manager(kernel_name)
        _local.km, _local.runs, _local.folder = km, 0, folder
        _register_shutdown()
    return km


def private_kernel_manager(kernel_name: str) -> tuple[Any, str | None]:
    """Return an unstarted kernel manager whose channels are unix sockets in a new private folder.

    The kernel's channels go over unix sockets in a 0700 folder instead of loopback TCP ports, where any
    local user could subscribe to its output stream (the notebooks handle confidential firm data).  On
    systems without unix sockets the manager uses TCP and the folder is ``None``.  The caller shuts the
    kernel down and removes the folder (see :func:`shutdown_kernel`).
    """
    import tempfile

    from jupyter_client import AsyncKernelManager

    folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-") if os.name == "posix" else None
    if folder is None:
        return AsyncKernelManager(kernel_name=kernel_name), None
    km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc", ip=os.path.join(folder, "ipc"))
    return km, folder


def _is_alive(km: Any) -> bool:
    if not km.has_kernel:
        return True  # created, not started yet
    from jupyter_core.utils import run_sync

    with contextlib.suppress(Exception):
        return bool(run_sync(km.is_alive)())
    return False


def execute_warm(notebook: str, output: str, *, parameters: dict[str, Any], kernel_name: str, timeout: int,
                 cwd: str) -> None:
    """Execute ``notebook`` into ``output`` with papermill in this thread's warm kernel.

    The kernel is reset before the first cell (see the module docstring); on any exception it is shut
    down and the next call starts a fresh one.

    Parameters
    ----------
    notebook, output
        Paths of the notebook to run and of the executed notebook papermill writes.
    parameters
        Validated plain values injected after the ``parameters`` cell.
    kernel_name
        Jupyter kernel (the batch uses ``python3``).
    timeout
        Per-cell execution timeout in seconds.
    cwd
        Working directory of the notebook (set in the kernel by the reset).

    Raises
    ------
    papermill.exceptions.PapermillExecutionError
        A cell raised; the executed notebook with the traceback is written to ``output``.
    nbclient.exceptions.DeadKernelError, nbclient.exceptions.CellTimeoutError
        The kernel died or a cell exceeded ``timeout``.
    PipelineError
        The reset of the reused kernel failed.
    """
    import papermill

    km = _warm_manager(kernel_name)
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name=kernel_name,
                                   engine_name=ENGINE_NAME, km=km, reset_cwd=cwd, progress_bar=False,
                                   log_output=False, execution_timeout=timeout, start_timeout=60, cwd=cwd)
    except BaseException:
        discard_warm_kernel()
        raise
    _local.runs = getattr(_local, "runs", 0) + 1


def discard_warm_kernel() -> None:
    """Shut down this thread's warm kernel, if any (safe to call when there is none)."""
    km, kc, folder = (getattr(_local, name, None) for name in ("km", "kc", "folder"))
    _local.km, _local.kc, _local.runs, _local.folder = None, None, 0, None
    shutdown_kernel(km, kc, folder)


def remove_socket_folders(pids: list[int]) -> None:
    """Remove the socket folders of kernels owned by processes that were killed (they cannot clean up)."""
    import tempfile
    from pathlib import Path

    for pid in pids:
        for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}{int(pid)}-*"):
            shutil.rmtree(folder, ignore_errors=True)


def shutdown_kernel(km: Any, kc: Any, folder: str | None) -> None:
    """Stop a client's channels, shut its kernel down and remove its socket folder (each may be ``None``)."""
    if kc is not None:
        with contextlib.suppress(Exception):
            kc.stop_channels()
    if km is not None:
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _register_shutdown() -> None:
    """Shut the kernel down when this (worker) process exits; once per process."""
    if getattr(_register_shutdown, "done", False):
        return
    import atexit
    from multiprocessing import util

    # Pool workers leave through os._exit after running multiprocessing's finalizers, not atexit.
    util.Finalize(None, discard_warm_kernel, exitpriority=10)
    atexit.register(discard_warm_kernel)
    _register_shutdown.done = True  # type: ignore[attr-defined]
