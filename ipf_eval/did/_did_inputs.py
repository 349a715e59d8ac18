"""Input handling shared by the regression-based DiD estimators (private).

Every estimator accepts a pandas DataFrame or a :class:`~ipf_eval.data.contract.ValidatedPanel`.  A frame is
validated with :func:`~ipf_eval.data.contract.validate_panel` (which copies the rows it keeps, so the caller's
frame is never modified); a validated panel is used as it is after checking that the names agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_outcome_varies
from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.results import DropRecord

__all__ = ["PanelInput", "check_name", "check_names", "prepare_panel"]

PanelInput = pd.DataFrame | ValidatedPanel

#: Column name used when an estimator has no cohort column but the validator needs one.
_NO_COHORT = "__ipf_eval_no_cohort__"


@dataclass(frozen=True, eq=False)
class PreparedPanel:
    """The validated rows an estimator works on, and what was dropped on the way in."""

    frame: pd.DataFrame
    dropped: tuple[DropRecord, ...]


def check_name(value: object, *, function: str, parameter: str, optional: bool = False) -> None:
    """Raise :class:`SpecificationError` unless ``value`` is a column name (a string)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise SpecificationError(
            f"{function}({parameter}=...) must be a column name (str); got {value!r}"
        )


def check_names(value: Sequence[str] | None, *, function: str, parameter: str) -> tuple[str, ...]:
    """Return ``value`` as a tuple of column names; a single string is rejected to avoid iterating letters."""
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise SpecificationError(
            f"{function}({parameter}=...) must be a list of column names; got {value!r} "
            f"(write {parameter}=[{value!r}] for one column)"
        )
    return tuple(value)


def prepare_panel(
    data: PanelInput,
    *,
    function: str,
    idname: str,
    tname: str,
    ynames: Sequence[str],
    gname: str | None = None,
    covariates: Sequence[str] = (),
    weightsname: str | None = None,
    clustervars: Sequence[str] = (),
    extra_columns: Sequence[str] = (),
    already_supported: str = "drop",
) -> PreparedPanel:
    """Validate the input and return the rows to use.

    A DataFrame goes through :func:`~ipf_eval.data.contract.validate_panel` with
    ``time_invariant_covariates=False`` (the regressions here use covariates as observed) and the given
    ``already_supported`` policy for firms supported in or before the first period.

    Raises
    ------
    DataError
        If ``data`` is neither a DataFrame nor a ValidatedPanel, a column is missing, an outcome or covariate
        is not numeric, an outcome is constant, or a weight, cluster or extra column has missing values (or
        weights are negative).
    SpecificationError
        If the names passed disagree with those of a ValidatedPanel.
    """
    extras = tuple(dict.fromkeys(
        c for c in (*clustervars, *extra_columns) if c not in (idname, tname, gname)
    ))
    if isinstance(data, ValidatedPanel):
        for parameter, given, stored in (("idname", idname, data.idname), ("tname", tname, data.tname),
                                         ("gname", gname, data.gname)):
            if given is not None and given != stored:
                raise SpecificationError(
                    f"{function}({parameter}={given!r}) does not match the validated panel's {parameter} "
                    f"{stored!r}; pass {parameter}={stored!r} or validate the panel again with the new name"
                )
        needed = [*ynames, *covariates, *([weightsname] if weightsname else []), *extras]
        missing = [c for c in dict.fromkeys(needed) if c not in data.data.columns]
        if missing:
            raise DataError(
                f"columns {missing!r} are not in the validated panel (it kept {list(data.data.columns)!r}); "
                "validate again passing them as ynames, covariates, weightsname, clustervars or extra_columns"
            )
        frame, dropped = data.data, data.dropped
    elif isinstance(data, pd.DataFrame):
        if gname is None:
            cols = list(dict.fromkeys([idname, tname, *ynames, *covariates,
                                       *([weightsname] if weightsname else []), *extras]))
            missing = [c for c in cols if c not in data.columns]
            if missing:
                raise DataError(
                    f"columns {missing!r} are not in the data; available: {list(data.columns)!r}"
                )
            source = data.loc[:, cols].assign(**{_NO_COHORT: 0})
            gcol = _NO_COHORT
        else:
            source, gcol = data, gname
        panel = validate_panel(source, idname=idname, tname=tname, gname=gcol, ynames=tuple(ynames),
                               covariates=tuple(covariates), weightsname=weightsname,
                               clustervars=tuple(c for c in clustervars if c not in (idname, tname, gcol)),
                               extra_columns=tuple(c for c in extra_columns
                                                   if c not in (idname, tname, gcol)),
                               time_invariant_covariates=False, already_supported=already_supported)
        frame, dropped = panel.data, panel.dropped
    else:
        raise DataError(
            f"{function}(data=...) must be a pandas DataFrame or an ipf_eval ValidatedPanel; got "
            f"{type(data).__name__!r}; convert it with pandas.DataFrame(...) first"
        )
    for col in (*ynames, *covariates):
        if not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col])):
            raise DataError(
                f"column {col!r} must be numeric; it has dtype {frame[col].dtype!s}; convert it, or encode a "
                "categorical covariate as dummy columns (pandas.get_dummies(..., drop_first=True))"
            )
    for col in ynames:
        check_outcome_varies(frame[col].to_numpy(dtype=np.float64, na_value=np.nan), column=col,
                             function=function)
    for col in (*([weightsname] if weightsname else []), *extras):
        n_missing = int(frame[col].isna().sum())
        if n_missing:
            raise DataError(
                f"column {col!r} has {n_missing} missing values; fill them or drop those rows before "
                "estimating"
            )
    if weightsname is not None:
        w = pd.to_numeric(frame[weightsname], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise DataError(
                f"weights column {weightsname!r} must hold finite non-negative numbers, not all zero; got "
                f"range [{np.nanmin(w)!r}, {np.nanmax(w)!r}]"
            )
    return PreparedPanel(frame=frame, dropped=tuple(dropped))
