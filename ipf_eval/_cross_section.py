"""Validation of cross-sectional input shared by the weighting, experiments and rdd layers.

One row per firm: an outcome, a 0/1 treatment (or assignment) column and covariates.  Rows with a missing
value in any column used are dropped with a :class:`~ipf_eval.errors.DataWarning` that gives the count; the
caller's frame is never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipf_eval._defaults import user_stack_level
from ipf_eval.errors import DataError, DataWarning, EstimationError, SpecificationError
from ipf_eval.results import DropRecord

__all__ = ["CrossSection", "as_binary", "design_matrix", "prepare_cross_section"]


@dataclass(frozen=True, eq=False)
class CrossSection:
    """Validated cross-sectional input.

    Attributes
    ----------
    frame
        The rows used (a copy), with the original index.
    d
        Treatment (or assignment) as floats 0/1.
    y
        Outcome, or ``None`` when no outcome was requested.
    X
        Covariates, dummy-coded, without a constant (``n × k``).
    xnames
        Names of the columns of ``X``.
    dropped
        Rows removed, with reasons.
    """

    frame: pd.DataFrame
    d: np.ndarray
    y: np.ndarray | None
    X: np.ndarray
    xnames: tuple[str, ...]
    dropped: tuple[DropRecord, ...]


def _columns(names: str | Sequence[str] | None, param: str, func: str) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    out = list(names)
    bad = [c for c in out if not isinstance(c, str)]
    if bad:
        raise SpecificationError(f"{func}(): `{param}` must be column names (strings); got {bad!r}.")
    return out


def _is_number(value: object) -> bool:
    """Whether one cell reads as a number (missing cells count as numbers: they are dropped elsewhere)."""
    if value is None or value is pd.NA:
        return True
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def as_binary(values: pd.Series, column: str, func: str) -> np.ndarray:
    """Return a 0/1 float array, or raise :class:`DataError` counting the offending rows.

    The message gives counts and the column's dtype, never the values themselves: messages reach reports,
    and the column may hold a firm's amounts or codes.
    """
    if values.dtype == bool:
        return values.to_numpy(dtype=float)
    try:
        arr = pd.to_numeric(values, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        n_text = sum(1 for v in values.to_numpy(dtype=object) if not _is_number(v))
        raise DataError(
            f"{func}(): column {column!r} must be coded 0/1 (or boolean); it has dtype {str(values.dtype)!r} "
            f"and {n_text} of its {len(values)} rows are not numbers (see data[{column!r}].value_counts()). "
            "Recode it, e.g. `data.assign(col=(data[col] == 'treated').astype(int))`."
        ) from exc
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        n_values = int(pd.unique(arr[bad]).size)
        raise DataError(
            f"{func}(): column {column!r} must be coded 0/1 (or boolean); found {int(bad.sum())} of "
            f"{arr.size} rows with other values ({n_values} distinct value(s) other than 0 and 1; see "
            f"data[{column!r}].value_counts()). Recode it to 0 (comparison) and 1 (treated)."
        )
    return arr


def design_matrix(frame: pd.DataFrame, covariates: Sequence[str], func: str) -> tuple[np.ndarray, list[str]]:
    """Dummy-code categorical covariates (first level dropped) and return ``(X, names)`` without a constant.

    Numeric columns are used as they are; object, string, categorical and boolean columns become
    indicator columns named ``"col[level]"``.
    """
    parts: list[pd.DataFrame] = []
    for col in covariates:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s):
            dummies = pd.get_dummies(
                s.astype("category"), prefix=col, prefix_sep="[", drop_first=True, dtype=float
            )
            dummies.columns = [f"{c}]" for c in dummies.columns]
            if dummies.shape[1] == 0:
                raise DataError(
                    f"{func}(): categorical covariate {col!r} takes a single value in all {len(s)} rows "
                    "used, so it cannot explain anything; drop it from `covariates`."
                )
            parts.append(dummies)
        elif s.dtype == bool or pd.api.types.is_numeric_dtype(s):
            parts.append(s.astype(float).to_frame(col))
        else:
            raise DataError(
                f"{func}(): covariate {col!r} has dtype {str(s.dtype)!r}, which is neither numeric nor "
                "categorical; convert it before calling."
            )
    if not parts:
        return np.empty((len(frame), 0)), []
    X = pd.concat(parts, axis=1)
    return X.to_numpy(dtype=float), [str(c) for c in X.columns]


def prepare_cross_section(
    data: pd.DataFrame,
    *,
    func: str,
    treatname: str,
    yname: str | None = None,
    covariates: str | Sequence[str] | None = None,
    extra: Sequence[str] = (),
    treat_param: str = "treatname",
    require_both_groups: bool = True,
) -> CrossSection:
    """Validate a one-row-per-firm frame and return the arrays the estimators need.

    Parameters
    ----------
    data
        The caller's frame (not modified).
    func
        Name of the public function, used in messages.
    treatname
        0/1 treatment or assignment column.
    yname
        Outcome column, or ``None``.
    covariates
        Covariate columns (categoricals are dummy-coded).
    extra
        Further columns that must exist and be non-missing (strata, clusters, take-up).
    treat_param
        Name of the parameter holding ``treatname``, for messages.
    require_both_groups
        Raise :class:`EstimationError` when every firm (or no firm) is treated.

    Returns
    -------
    CrossSection

    Raises
    ------
    DataError
        ``data`` is not a DataFrame, a column is missing, the treatment is not 0/1, or no rows remain.
    EstimationError
        Every firm is treated, or none is.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{func}(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    covs = _columns(covariates, "covariates", func)
    used = [treatname, *([yname] if yname is not None else []), *covs, *extra]
    used = list(dict.fromkeys(used))
    missing = [c for c in used if c not in data.columns]
    if missing:
        raise DataError(
            f"{func}(): column(s) {missing!r} not found in `data` (columns: {list(data.columns)[:12]!r}...). "
            "Check the spelling of the column arguments."
        )
    frame = data.loc[:, used].copy()
    na = frame.isna().any(axis=1).to_numpy()
    dropped: list[DropRecord] = []
    if na.any():
        per_col = {c: int(frame[c].isna().sum()) for c in used if frame[c].isna().any()}
        warnings.warn(
            f"{func}(): dropped {int(na.sum())} of {len(frame)} rows with missing values (by column: "
            f"{per_col!r}).",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped.append(DropRecord(reason=f"missing values in {sorted(per_col)!r}", n_rows=int(na.sum())))
        frame = frame.loc[~na]
    if len(frame) == 0:
        raise DataError(f"{func}(): no rows left after dropping missing values in {used!r}.")
    d = as_binary(frame[treatname], treatname, func)
    if require_both_groups:
        n1 = int(d.sum())
        if n1 == 0 or n1 == len(d):
            which = "every" if n1 else "no"
            raise EstimationError(
                f"{func}(): {which} firm has {treat_param}={treatname!r} equal to 1 ({n1} of {len(d)} rows); "
                "an effect needs both treated and comparison firms. Add comparison firms to `data`."
            )
    y = None
    if yname is not None:
        ys = frame[yname]
        if not pd.api.types.is_numeric_dtype(ys) and ys.dtype != bool:
            raise DataError(f"{func}(): outcome {yname!r} must be numeric; got dtype {str(ys.dtype)!r}.")
        y = ys.to_numpy(dtype=float)
        if not np.isfinite(y).all():
            raise DataError(f"{func}(): outcome {yname!r} contains infinite values; remove or recode them.")
    X, xnames = design_matrix(frame, covs, func)
    if X.size and not np.isfinite(X).all():
        raise DataError(f"{func}(): covariates contain infinite values; remove or recode them.")
    return CrossSection(frame=frame, d=d, y=y, X=X, xnames=tuple(xnames), dropped=tuple(dropped))
