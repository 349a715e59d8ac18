"""Output folders of the batch pipeline; atomic writes and hashes come from :mod:`ipf_eval._files`.

Every file the pipeline publishes is first written under a temporary name in the destination folder and
then moved into place (see :mod:`ipf_eval._files`), so a run that is interrupted or fails leaves either the
previous good file or the new complete one, never a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ipf_eval._files import (
    TMP_PREFIX,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    file_sha256,
    stable_hash,
)
from ipf_eval.errors import PipelineError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "ensure_writable_dir",
    "file_sha256",
    "stable_hash",
]

_TMP_PREFIX = TMP_PREFIX


def ensure_writable_dir(path: Path, *, what: str) -> Path:
    """Create ``path`` if needed and check that a file can be written in it.

    Parameters
    ----------
    path
        The folder.
    what
        What the folder is for, used in the error message (e.g. ``"output folder"``).

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    PipelineError
        If the folder cannot be created or written to.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PipelineError(
            f"the {what} {str(path)!r} cannot be written ({type(exc).__name__}: {exc}); choose a folder you "
            f"can write to (batch key 'output_dir') or fix its permissions"
        ) from exc
    return path


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files left in ``folder`` (recursively) by a run that was killed; return the count."""
    count = 0
    if not folder.is_dir():
        return 0
    for tmp in folder.rglob(_TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            count += 1
    return count
