"""Package-wide defaults and the argument checks every layer shares.

A base module like :mod:`ipf_eval.errors` and :mod:`ipf_eval.results`: it imports nothing of the package
but the error tree, so the data, methods, evidence, synthesis and pipeline layers can all use it.  Every
function default and parameter-file default that means the same thing reads its value here, so the
estimators, the notebooks and the batch cannot drift apart.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import os
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Final, Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from ipf_eval.errors import DataError, EstimationWarning, SpecificationError

__all__ = [
    "CONTROL_GROUP",
    "MIN_CLUSTERS",
    "N_BOOT",
    "check_alpha",
    "check_numbers_not_text",
    "check_options",
    "check_outcome_varies",
    "keyword_options",
    "warn_few_clusters",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Default number of bootstrap draws (multiplier bootstrap of the DiD estimators, parametric bootstrap of
#: cost ratios).  With :math:`B = 999`, :math:`(B + 1)\alpha` is a whole number for the usual levels
#: (:math:`\alpha` = 0.01, 0.05, 0.10), the choice Davidson and MacKinnon (2000) recommend for bootstrap
#: tests.  Parameter files may ask for fewer draws (the default batch uses 199 to run quickly).
N_BOOT: Final = 999

#: Default comparison group of the staggered difference-in-differences estimators: firms never supported,
#: as in R ``did`` (Callaway and Sant'Anna 2021).  ``"not_yet_treated"`` adds firms supported later (more
#: comparison firms, but it assumes no anticipation before their own support).
CONTROL_GROUP: Final[Literal["never_treated", "not_yet_treated"]] = "never_treated"

#: Below this number of clusters a warning says that cluster-robust standard errors (and a cluster
#: multiplier bootstrap) are unreliable: with fewer than about 20 to 50 clusters the sandwich estimator is
#: biased downwards and Wald tests over-reject (Cameron and Miller 2015, section VI).
MIN_CLUSTERS: Final = 20

_FEW_CLUSTERS_REFERENCE = "Cameron and Miller 2015"


def check_alpha(alpha: object, *, function: str, parameter: str = "alpha") -> float:
    r"""Return a significance level as a float after checking that it lies strictly between 0 and 1.

    Parameters
    ----------
    alpha
        The value received.
    function
        Public name of the function whose argument it is, e.g. ``"att_gt"`` (named in the message).
    parameter
        Name of the argument, ``"alpha"`` unless the function calls its level something else.

    Returns
    -------
    float
        ``alpha`` as a Python float.

    Raises
    ------
    SpecificationError
        If ``alpha`` is not a real number (a bool is not) or does not satisfy :math:`0 < \alpha < 1`.

    Examples
    --------
    >>> check_alpha(0.05, function="att_gt")
    0.05
    """
    if isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool):
        value = float(alpha)
        if math.isfinite(value) and 0.0 < value < 1.0:
            return value
    raise SpecificationError(
        f"{parameter} of {function}() must be a number strictly between 0 and 1; got {alpha!r}. "
        f"It is the significance level, not the coverage: pass {parameter}=0.05 for 95% intervals."
    )


def user_stack_level() -> int:
    """Return the ``stacklevel`` that points a warning at the first frame outside ipf_eval: the user's line.

    Written here, as pandas' ``find_stack_level``, because a hand-counted stack level breaks whenever a
    wrapper (:func:`keyword_options`) or a helper sits between the public function and the warning: the
    warning then names a line of ipf_eval instead of the notebook cell that called it.
    """
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = inspect.currentframe()
    level = 0
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return max(level, 1)


def warn_few_clusters(n_clusters: int, *, function: str, column: str | None) -> None:
    """Warn with :class:`~ipf_eval.errors.EstimationWarning` when there are fewer than :data:`MIN_CLUSTERS`.

    Parameters
    ----------
    n_clusters
        Number of clusters in the data used.
    function
        Public name of the estimator (named in the message).
    column
        The cluster column.

    Warns
    -----
    EstimationWarning
        When ``n_clusters < MIN_CLUSTERS``.
    """
    if n_clusters < MIN_CLUSTERS:
        warnings.warn(
            f"{function}(): only {n_clusters} clusters in {column!r}; cluster-robust standard errors are "
            f"unreliable with fewer than {MIN_CLUSTERS} clusters ({_FEW_CLUSTERS_REFERENCE}): treat the "
            "intervals as too narrow, or use randomisation inference or a wild cluster bootstrap",
            EstimationWarning,
            stacklevel=user_stack_level(),
        )


def _unknown_options_message(function: str, unknown: Iterable[str], accepted: Collection[str],
                             accepts: str = "it accepts") -> str:
    parts = []
    for name in unknown:
        hits = difflib.get_close_matches(name, list(accepted), n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(h) for h in hits)}?)" if hits else ""
        parts.append(f"{name!r}{hint}")
    if not accepted:
        return f"{function}() got unknown option(s) {', '.join(parts)}; it takes no options. Remove them."
    return (
        f"{function}() got unknown option(s) {', '.join(parts)}; {accepts} {', '.join(accepted)}. "
        "Correct the spelling or remove the option."
    )


def check_options(options: Mapping[str, Any], accepted: Collection[str], *, function: str,
                  accepts: str = "it accepts") -> None:
    """Raise :class:`~ipf_eval.errors.SpecificationError` when ``options`` holds a name not in ``accepted``.

    Parameters
    ----------
    options
        The keyword options received (e.g. a function's ``**options``).
    accepted
        The names it accepts, in the order the message lists them.
    function
        Public name of the function (named in the message).
    accepts
        The words before the list of accepted names, e.g. ``"with method='ipw' it accepts"``.

    Raises
    ------
    SpecificationError
        Naming each unknown option (with a close match when there is one) and every accepted one.

    Examples
    --------
    >>> check_options({"trim": 0.1}, ("trim", "alpha"), function="ipw")
    """
    unknown = [str(k) for k in options if k not in accepted]
    if unknown:
        raise SpecificationError(_unknown_options_message(function, unknown, accepted, accepts))


def keyword_options(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make a public function refuse unknown keyword options with a :class:`SpecificationError`.

    Python's own ``TypeError`` ("got an unexpected keyword argument") names neither the accepted options
    nor a close match, and is not part of the package's error tree.  The wrapper checks the keyword names
    against the signature before the call and is otherwise transparent (``inspect.signature`` and the
    docstring are those of ``func``).  Functions that take ``**kwargs`` are returned unchanged: they check
    their options themselves (:func:`check_options`).

    Parameters
    ----------
    func
        The public function.

    Returns
    -------
    Callable
        ``func``, wrapped.
    """
    params = inspect.signature(func).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return func
    accepted = tuple(p.name for p in params
                     if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
    accepted_set = frozenset(accepted)
    name = func.__name__

    @functools.wraps(func)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if kwargs and not accepted_set.issuperset(kwargs):
            raise SpecificationError(
                _unknown_options_message(name, [k for k in kwargs if k not in accepted_set], accepted)
            )
        return func(*args, **kwargs)

    return checked


def check_outcome_varies(values: Any, *, column: str, function: str) -> None:
    """Raise :class:`~ipf_eval.errors.DataError` when an outcome takes one value in every row used.

    An effect on an outcome that never varies is zero by construction, with a zero (or undefined) standard
    error: a number that only says the column is wrong (a code read as text and filled, a unit that never
    changes, the wrong column).  Missing and non-finite values are ignored (the callers drop them first).

    Parameters
    ----------
    values
        The outcome values of the rows used (array-like of numbers).
    column
        The outcome column (named in the message).
    function
        Public name of the estimator (named in the message).

    Raises
    ------
    DataError
        If the finite values are all equal.
    """
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size and float(finite.min()) == float(finite.max()):
        raise DataError(
            f"{function}(): outcome column {column!r} is constant: {float(finite[0])!r} in all {finite.size} "
            "rows used, so every effect on it is 0 by construction and has no standard error. Check that "
            f"{column!r} is the outcome you meant and was read correctly, or leave it out."
        )


def _numbers_as_text(s: pd.Series) -> bool:
    """Whether a text (object or string dtype) column holds only numbers written as text, e.g. '2.5'."""
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s.dtype):
        return False
    if not (pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype)):
        return False
    present = s.dropna()
    if present.empty:
        return False
    for part in (present.head(200), present):  # a cheap look at the first values, then all of them
        values = part.to_numpy(dtype=object)
        if not all(isinstance(v, str) for v in values):
            return False
        parsed = pd.to_numeric(pd.Series(values, dtype=object).str.strip(), errors="coerce")
        if parsed.isna().any():
            return False
    return True


def check_numbers_not_text(data: pd.DataFrame, columns: Iterable[str], *, function: str,
                           role: str = "covariate") -> None:
    """Raise :class:`~ipf_eval.errors.DataError` for a text column whose every value is a number.

    Text covariates are dummy-coded (one indicator per distinct value); a numeric covariate that was read
    as text (``"2.5"``, ``"17"``) would silently become dozens of indicators instead of one slope.  A
    column meant as a category whose codes are digits (a NACE code ``"26"``) is accepted once it has the
    ``category`` dtype.

    Parameters
    ----------
    data
        The frame (not modified).
    columns
        The columns to check.
    function
        Public name of the function (named in the message).
    role
        What the columns are, for the message (``"covariate"``, ``"moderator"``).

    Raises
    ------
    DataError
        Naming the column, its dtype and both remedies (never a firm's value: messages reach reports).
    """
    for col in columns:
        s = data[col]
        if _numbers_as_text(s):
            raise DataError(
                f"{function}(): {role} {col!r} holds numbers stored as text (dtype {str(s.dtype)!r}; every "
                f"one of its {int(s.notna().sum())} values reads as a number); as text it would be "
                "dummy-coded, one indicator per distinct value. Convert it with "
                f"pandas.to_numeric(data[{col!r}]), or, if the numbers are category codes, with "
                f"data[{col!r}].astype('category')."
            )
