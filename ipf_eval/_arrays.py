"""Array helpers shared by the data layer and the estimators (a private base module: any layer may use it).

Fast paths for the shapes the panel contract guarantees: distinct values of small integer codes, and the
first row of each firm in rows sorted by firm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fast_unique", "firm_positions", "firm_starts", "plain_numeric"]


def plain_numeric(values: pd.Series | pd.Index | np.ndarray) -> np.ndarray | None:
    """Return the values as a numpy array if their dtype is plain (non-extension) numeric, else ``None``."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return np.asarray(values)
    return None


def fast_unique(values: pd.Series | np.ndarray) -> np.ndarray:
    """Sorted distinct values (as ``np.unique``); integer codes of a small range are counted, not sorted."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < max(1 << 16, arr.size // 4):
            if lo >= 0 and hi < max(1 << 16, arr.size // 4) and arr.dtype == np.intp:
                present = np.bincount(arr, minlength=hi + 1)[lo:] > 0  # no shifted copy
            else:
                present = np.bincount((arr - lo).astype(np.intp, copy=False), minlength=hi - lo + 1) > 0
            return (np.flatnonzero(present) + lo).astype(arr.dtype)
    return np.unique(arr)


def firm_positions(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by firm: a boolean 'first row of its firm' and each row's firm number (0, 1, ...)."""
    arr = plain_numeric(ids)
    if arr is not None and arr.dtype.kind in "iu":  # sorted integer ids: compare neighbours, no hashing
        starts = np.ones(arr.size, dtype=bool)
        np.not_equal(arr[1:], arr[:-1], out=starts[1:])
    else:
        codes = pd.factorize(ids)[0]
        starts = np.ones(len(codes), dtype=bool)
        starts[1:] = codes[1:] != codes[:-1]
    return starts, np.cumsum(starts) - 1


def firm_starts(ids: pd.Series) -> np.ndarray:
    """For rows sorted by firm: a boolean 'first row of its firm' (see :func:`firm_positions`)."""
    arr = plain_numeric(ids)
    if arr is not None and arr.dtype.kind in "iu":
        starts = np.ones(arr.size, dtype=bool)
        np.not_equal(arr[1:], arr[:-1], out=starts[1:])
        return starts
    return firm_positions(ids)[0]
