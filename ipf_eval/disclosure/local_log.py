"""The local log: the firm identifiers and values behind a data message, kept on this machine.

Messages about data problems (warnings and errors of :func:`ipf_eval.data.validate_panel`) end up in
reports, so they give counts and column names only; which firms, and their values, go to a local log file
that the analyst opens and that is never published.  The data layer calls :func:`record_details`, which
appends one record and returns the file, so that the message can say where the firms are listed.

Where the log is:

* the file named by the environment variable :data:`ENV_VAR` (``IPF_EVAL_LOCAL_LOG``) when it is set.  The
  batch sets it for every notebook it runs to ``<project>/.ipf_eval/logs/<run>.log`` (``<run>`` is the run
  id with ``/`` replaced by ``__``, e.g. ``AT__loan_guarantee.log``), outside ``reports/`` and ignored by
  git; a reused kernel sees a fixed link to that file (see :func:`ipf_eval.pipeline.runner.execute_run`);
* otherwise ``data_problems.log`` in a private temporary folder (readable by its owner only) created once
  per process, e.g. when a notebook is opened in JupyterLab or ``validate_panel`` is called from a script.

The batch also writes the identifiers of the run's data next to the log (:func:`identifiers_file`), for the
notebooks' notes to scrub (:func:`ipf_eval.disclosure.identifiers.run_identifiers`).  Files and folders are
created readable by their owner only.  A record is written with one ``write`` call, so runs in parallel
processes that share a file do not interleave their lines.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options

__all__ = ["DEFAULT_NAME", "ENV_VAR", "MAX_LISTED", "fixed_link_to", "identifiers_file", "local_log_path",
           "record_details", "start_local_log"]

#: The environment variable naming the local log file.
ENV_VAR = "IPF_EVAL_LOCAL_LOG"
#: The file name of the log in the private temporary folder when :data:`ENV_VAR` is not set.
DEFAULT_NAME = "data_problems.log"
#: At most this many distinct identifiers (and values) are written per record, then how many more.
MAX_LISTED = 1000

_DEFAULT_FOLDER: dict[int, Path] = {}  # process id -> its private temporary folder
_LINK_FOLDER: dict[int, Path] = {}  # process id -> its private folder of fixed links


@keyword_options
def local_log_path() -> Path:
    """Return the local log file records go to now (see the module docstring), resolving links.

    Returns
    -------
    pathlib.Path
        The file named by ``IPF_EVAL_LOCAL_LOG``, or ``data_problems.log`` in this process's private
        temporary folder (created on first use).
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        return Path(os.path.realpath(os.path.expanduser(value)))
    folder = _DEFAULT_FOLDER.get(os.getpid())
    if folder is None or not folder.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="ipf-eval-local-log-"))  # mode 0700
        _DEFAULT_FOLDER[os.getpid()] = folder
    return folder / DEFAULT_NAME


@keyword_options
def identifiers_file() -> Path | None:
    """Return the file of the current run's firm identifiers: the local log's with suffix ``.ids``.

    ``None`` when ``IPF_EVAL_LOCAL_LOG`` is not set (outside a batch run there is no such file).
    """
    if not os.environ.get(ENV_VAR, "").strip():
        return None
    return local_log_path().with_suffix(".ids")


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _as_list(values: Iterable[Any]) -> list[Any]:
    if isinstance(values, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)):
        return [_plain(v) for v in np.asarray(values, dtype=object)]
    return [_plain(v) for v in values]


def _listing(values: Iterable[Any]) -> tuple[list[str], int]:
    """Distinct values in order of appearance, at most :data:`MAX_LISTED` as reprs; and how many."""
    items = list(dict.fromkeys(_key(v) for v in _as_list(values)))
    shown = [_show(v) for v in items[:MAX_LISTED]]
    return shown, len(items)


def _key(v: Any) -> Any:
    """Return a hashable stand-in: unhashable values by their repr, pairs as tuples of stand-ins."""
    if isinstance(v, tuple):
        return tuple(_key(x) for x in v)
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _show(v: Any) -> str:
    if isinstance(v, tuple) and len(v) == 2:
        return f"{v[0]!r} ({v[1]!r})"
    return repr(v)


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


@keyword_options
def record_details(kind: str, *, columns: str | Sequence[str] = (), ids: Iterable[Any] = (),
                   values: Iterable[Any] | None = None, log: str | os.PathLike[str] | None = None,
                   ) -> Path | None:
    """Append one record (what, which columns, which firms and values) to the local log.

    Parameters
    ----------
    kind
        What the record is about, as the message says it (e.g. ``"rows dropped: missing values"``).
    columns
        The column or columns concerned.
    ids
        The firm identifiers concerned (duplicates are listed once, at most :data:`MAX_LISTED`).
    values
        Optional offending values: one per identifier (each firm is listed with its value), or any number
        (listed after the firms); with no ``ids`` (cells of a file whose firm column is not known yet), the
        values alone.
    log
        The file to write to instead of :func:`local_log_path` (the batch runner records there what its scan
        of a rendered report found).

    Returns
    -------
    pathlib.Path or None
        The log file written, for the message to name; ``None`` when it could not be written (a read-only
        folder): validation goes on, and the message says the firms are not listed.
    """
    cols = (columns,) if isinstance(columns, str) else tuple(columns)
    id_list = _as_list(ids)  # once: ``ids`` may be an iterator
    shown, n_ids = _listing(id_list)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = f"{stamp}  {kind}"
    if cols:
        head += f"  columns: {', '.join(map(repr, cols))}"
    lines = [f"{head}  ({n_ids} firm(s))" if id_list or values is None else head]
    if values is None:
        lines.append(f"    firms: {_more(shown, n_ids)}")
    else:
        value_list = _as_list(values)
        if not id_list:  # cells whose firm is not known yet (a file being read): the values only
            shown_values, n_values = _listing(value_list)
            lines.append(f"    values: {_more(shown_values, n_values)}")
        elif len(id_list) == len(value_list):  # one value per row: each firm with its value
            pairs, n_pairs = _listing(list(zip(id_list, value_list, strict=True)))
            lines.append(f"    firm (value): {_more(pairs, n_pairs)}")
        else:
            shown_values, n_values = _listing(value_list)
            lines += [f"    firms: {_more(shown, n_ids)}", f"    values: {_more(shown_values, n_values)}"]
    try:
        path = Path(log) if log is not None else local_log_path()
        _append(path, "\n".join(lines) + "\n")
    except OSError:
        return None
    return path


def _more(shown: list[str], n: int) -> str:
    text = ", ".join(shown) if shown else "(none known)"
    return text + (f" and {n - len(shown)} more" if n > len(shown) else "")


@keyword_options
def start_local_log(path: str | os.PathLike[str], *, title: str) -> Path:
    """Start (or restart) a run's local log with a header line; return its path.

    Parameters
    ----------
    path
        The log file; its folder is created readable by its owner only, and the file replaced.
    title
        What the log belongs to, e.g. ``"run AT/loan_guarantee"``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# ipf_eval local log of {title}, started {stamp}: the firms behind the data messages of "
                 "its report. Confidential: keep this file on this machine, never publish it.\n")
    return target


@keyword_options
def fixed_link_to(target: str | os.PathLike[str]) -> Path:
    """Point this thread's fixed link at ``target`` and return the link (for ``IPF_EVAL_LOCAL_LOG``).

    A reused Jupyter kernel keeps the environment it was started with, so the batch names a link in it that
    stays the same from run to run and points it at each run's log; :func:`local_log_path` resolves it.  The
    link lives in a private temporary folder of this process (removed when the process exits) and is
    replaced atomically.

    Raises
    ------
    OSError, NotImplementedError
        Where symbolic links cannot be made (the batch then starts a fresh kernel with the log's own path).
    """
    import shutil
    import threading

    folder = _LINK_FOLDER.get(os.getpid())
    if folder is None or not folder.is_dir():
        import atexit
        from multiprocessing import util

        folder = Path(tempfile.mkdtemp(prefix="ipf-eval-log-links-"))  # mode 0700
        _LINK_FOLDER[os.getpid()] = folder
        # pool workers leave through os._exit after multiprocessing's finalizers, not atexit
        util.Finalize(None, shutil.rmtree, args=(str(folder), True), exitpriority=5)
        atexit.register(shutil.rmtree, str(folder), True)
    link = folder / f"kernel-{threading.get_ident()}.log"
    new = link.with_name(f"{link.name}.new")
    new.unlink(missing_ok=True)
    os.symlink(os.fspath(target), new)
    os.replace(new, link)
    return link
