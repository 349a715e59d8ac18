"""Input checks shared by the synthesis functions (private)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.synthesis._rma import METHODS

__all__ = [
    "check_columns",
    "check_frame",
    "check_method",
    "extract_effects",
    "fmt",
]


def check_frame(obj: Any, parameter: str) -> pd.DataFrame:
    """Return ``obj`` if it is a DataFrame with unique column labels, else raise :class:`DataError`."""
    if not isinstance(obj, pd.DataFrame):
        raise DataError(
            f"{parameter} must be a pandas DataFrame with one row per estimate, got {type(obj).__name__!r}; "
            "build one with pandas.DataFrame(...) or a result's to_frame()"
        )
    dups = obj.columns[obj.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(
            f"{parameter} has duplicated column labels {[str(d) for d in dups]!r}; a column named twice "
            "is ambiguous: drop or rename the copies (e.g. after a concat or merge)"
        )
    return obj


def check_columns(frame: pd.DataFrame, columns: dict[str, str], frame_name: str) -> None:
    """Raise :class:`DataError` when a column named by a parameter is missing from ``frame``."""
    for parameter, column in columns.items():
        if column not in frame.columns:
            raise DataError(
                f"column {column!r} (parameter {parameter}) is not in {frame_name}; available columns: "
                f"{list(map(str, frame.columns))!r}; pass {parameter}= with the right column name"
            )


def check_method(method: Any, function: str) -> str:
    """Validate the tau^2 estimator name (case-insensitive); return it in lower case."""
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise SpecificationError(
            f"method of {function}() must be one of {list(METHODS)!r}, got {method!r}; "
            "'reml' (restricted maximum likelihood) is the default and usually the best choice"
        )
    return method.lower()


def _numeric(frame: pd.DataFrame, column: str, parameter: str) -> np.ndarray:
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise DataError(
            f"column {column!r} (parameter {parameter}) must be numeric, got dtype {str(series.dtype)!r}; "
            "convert it with pandas.to_numeric"
        )
    return series.to_numpy(dtype=float, na_value=np.nan)


def _examples(labels: Sequence[str], mask: np.ndarray) -> list[str]:
    """Return the labels of up to five flagged rows (study labels, which the synthesis publishes anyway).

    The flagged values themselves are not quoted: the messages give counts by reason instead.
    """
    return [labels[i] for i in np.flatnonzero(mask)[:5]]


def extract_effects(
    effects: pd.DataFrame,
    *,
    estimate: str,
    std_error: str,
    label: str | None,
    frame_name: str,
    min_k: int = 2,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate the tidy estimate columns and return ``(y, se, labels)``.

    Raises :class:`DataError` for missing or non-numeric columns, missing estimates and standard errors that
    are missing, non-finite, zero or negative; :class:`SpecificationError` when fewer than ``min_k`` rows.
    """
    cols = {"estimate": estimate, "std_error": std_error}
    if label is not None:
        cols["label"] = label
    check_columns(effects, cols, frame_name)
    y = _numeric(effects, estimate, "estimate")
    se = _numeric(effects, std_error, "std_error")
    if label is None:
        labels = [f"study {i + 1}" for i in range(len(effects))]
    else:
        labels = [str(x) for x in effects[label].tolist()]
    bad_y = ~np.isfinite(y)
    if bad_y.any():
        raise DataError(
            f"column {estimate!r} has {int(bad_y.sum())} missing or non-finite estimate(s) (rows "
            f"{_examples(labels, bad_y)!r}); drop those rows or supply the estimates"
        )
    bad_se = ~np.isfinite(se) | (se <= 0)
    if bad_se.any():
        finite = np.isfinite(se)
        reasons = [f"{int(n)} {why}" for n, why in ((np.sum(~finite), "missing or non-finite"),
                                                     (np.sum(finite & (se == 0)), "zero"),
                                                     (np.sum(finite & (se < 0)), "negative")) if n]
        raise DataError(
            f"column {std_error!r} has {int(bad_se.sum())} standard error(s) that are missing, non-finite, "
            f"zero or negative ({', '.join(reasons)}; rows {_examples(labels, bad_se)!r}); every study needs "
            "a positive standard error"
        )
    if len(y) < min_k:
        raise SpecificationError(
            f"{frame_name} has {len(y)} row(s) but at least {min_k} studies are needed to pool; with a "
            "single estimate report it directly (its own interval) instead of a meta-analysis"
        )
    return y, se, labels


def fmt(x: float, digits: int = 4) -> str:
    """Format a float for summaries (``nan`` shown as an empty string)."""
    return "" if not np.isfinite(x) else f"{x:.{digits}f}"
