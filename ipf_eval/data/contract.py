"""The panel contract: one row per firm and period, named by arguments, validated once at the entry point.

(Interface skeleton; the full validator is being written.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ipf_eval.results import DropRecord

__all__ = ["ValidatedPanel", "validate_panel"]


@dataclass(frozen=True, eq=False)
class ValidatedPanel:
    """A panel that passed :func:`validate_panel`; every estimator accepts it instead of a DataFrame.

    Attributes
    ----------
    data
        A private copy of the caller's rows that passed validation, sorted by ``(idname, tname)``, with a
        fresh RangeIndex, incomplete rows dropped, and ``gname`` coded 0 for never supported firms
        (integer dtype).  Never the caller's object.
    idname, tname, gname
        Column names of firm id, integer period and first period of support.
    ynames, covariates
        Outcome and covariate columns kept.
    periods
        Sorted distinct periods observed.
    cohorts
        Sorted distinct first-support periods of supported firms (0 excluded).
    n_units
        Number of distinct firms.
    balanced
        Whether every firm is observed in every period.
    dropped
        What was removed on the way in and why.
    """

    data: pd.DataFrame
    idname: str
    tname: str
    gname: str
    ynames: tuple[str, ...]
    covariates: tuple[str, ...]
    periods: tuple[int, ...]
    cohorts: tuple[int, ...]
    n_units: int
    balanced: bool
    dropped: tuple[DropRecord, ...] = ()


def validate_panel(
    data: pd.DataFrame,
    *,
    idname: str,
    tname: str,
    gname: str,
    ynames: Sequence[str] | str,
    covariates: Sequence[str] = (),
    weightsname: str | None = None,
    clustervars: Sequence[str] = (),
    extra_columns: Sequence[str] = (),
) -> ValidatedPanel:
    """Validate a firm panel against the contract (skeleton: the full validator replaces this)."""
    raise NotImplementedError
