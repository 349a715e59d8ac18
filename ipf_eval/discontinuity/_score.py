"""The running variable of a scored call: score minus threshold, per call (private; rdd and density use it).

:func:`~ipf_eval.discontinuity.rdd.rdd` and :func:`~ipf_eval.discontinuity.density.density_test` both start
from it; it lives here so that neither module imports the other.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ipf_eval._defaults import user_stack_level
from ipf_eval.errors import DataError, DataWarning, SpecificationError
from ipf_eval.results import DropRecord

__all__ = ["centred_score"]


def centred_score(
    data: pd.DataFrame,
    *,
    scorename: str,
    cutoff: float | str,
    call: str | None,
    extra: Sequence[str],
    func: str,
) -> tuple[np.ndarray, pd.DataFrame, tuple[DropRecord, ...]]:
    """Return the score minus its threshold (per call), the rows used and the drop records.

    Raises
    ------
    DataError
        ``data`` not a frame, missing columns, a non-numeric or infinite score or threshold column, a
        threshold varying within a call.
    SpecificationError
        ``cutoff`` neither a number nor a column name; a threshold outside the score range (per call).
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{func}(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float, str, np.number)):
        raise SpecificationError(
            f"{func}(): `cutoff` must be a number or the name of a threshold column; got {cutoff!r}."
        )
    cols = [scorename, *([cutoff] if isinstance(cutoff, str) else []), *([call] if call else []), *extra]
    cols = list(dict.fromkeys(cols))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"{func}(): column(s) {missing!r} not found in `data`.")
    frame = data.loc[:, cols]
    na = frame.isna().any(axis=1).to_numpy()
    dropped: tuple[DropRecord, ...] = ()
    if na.any():
        warnings.warn(
            f"{func}(): dropped {int(na.sum())} of {len(frame)} rows with missing values in {cols!r}.",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped = (DropRecord(reason=f"missing values in {cols!r}", n_rows=int(na.sum())),)
        frame = frame.loc[~na]
    if not pd.api.types.is_numeric_dtype(frame[scorename]) or frame[scorename].dtype == bool:
        raise DataError(
            f"{func}(): score {scorename!r} must be numeric; got dtype {str(frame[scorename].dtype)!r}."
        )
    score = frame[scorename].to_numpy(dtype=float)
    if score.size == 0:
        raise DataError(f"{func}(): no rows left after dropping missing values.")
    if not np.isfinite(score).all():
        raise DataError(
            f"{func}(): score {scorename!r} holds {int((~np.isfinite(score)).sum())} infinite value(s); a "
            "firm infinitely far from the threshold has no place in a local comparison. Fix or drop them."
        )
    if isinstance(cutoff, str):
        if not pd.api.types.is_numeric_dtype(frame[cutoff]) or frame[cutoff].dtype == bool:
            raise DataError(
                f"{func}(): threshold column {cutoff!r} must be numeric; got dtype "
                f"{str(frame[cutoff].dtype)!r}."
            )
        thr = frame[cutoff].to_numpy(dtype=float)
        if not np.isfinite(thr).all():
            raise DataError(
                f"{func}(): threshold column {cutoff!r} holds {int((~np.isfinite(thr)).sum())} infinite "
                "value(s); give each call its finite threshold."
            )
    else:
        thr = np.full(score.size, float(cutoff))
    groups = frame[call].to_numpy() if call else np.zeros(score.size)
    for g in pd.unique(groups):
        sel = groups == g
        t = np.unique(thr[sel])
        where = f" in call {g!r}" if call else ""
        if t.size > 1:
            raise DataError(
                f"{func}(): the threshold {cutoff!r} takes {t.size} values{where} (e.g. {t[:3].tolist()!r}); "
                "it must be constant within a call."
            )
        s = score[sel]
        if not s.min() < t[0] <= s.max():
            raise SpecificationError(
                f"{func}(): threshold {float(t[0])!r}{where} is outside the range of {scorename!r} "
                f"[{s.min():g}, {s.max():g}]; firms on both sides are needed. Check `cutoff` (and its units)."
            )
    return score - thr, frame, dropped
