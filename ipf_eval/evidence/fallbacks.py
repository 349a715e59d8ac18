"""Estimator fallbacks: what the evaluation uses when the chosen covariate adjustment cannot be estimated.

The staggered DiD is estimated with the instrument's ``est_method`` (doubly robust by default).  When the
propensity score of a (cohort, period) cell separates (no overlap: :class:`~ipf_eval.errors.EstimationError`),
the doubly robust and inverse-probability estimators cannot be computed, but outcome regression still can;
the evaluation then uses regression adjustment for that outcome and says so.  Regression adjustment itself
has no fallback: its failure is reported as "no estimate".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import AttGtResult, att_gt
from ipf_eval.errors import EstimationError, SpecificationError

__all__ = ["FALLBACK_METHOD", "FittedAttGt", "att_gt_with_fallback"]

#: The covariate adjustment used when the chosen one cannot be estimated (``None``: no fallback).
FALLBACK_METHOD: Mapping[str, str | None] = {"dr": "reg", "ipw": "reg", "reg": None}


@dataclass(frozen=True, eq=False)
class FittedAttGt:
    """An ``att_gt`` fit with the covariate adjustment actually used.

    Attributes
    ----------
    result
        The fit.
    method
        The ``est_method`` used (the chosen one, or its fallback).
    fallback_reason
        Why the chosen method was replaced (the estimation error's message), or ``""``.
    """

    result: AttGtResult
    method: str
    fallback_reason: str = ""

    @property
    def estimator(self) -> str:
        """The estimator name written into evidence rows: ``att_gt_<method>``."""
        return f"att_gt_{self.method}"


def att_gt_with_fallback(data: pd.DataFrame | ValidatedPanel, *, est_method: str,
                         **arguments: Any) -> FittedAttGt:
    """Fit :func:`ipf_eval.att_gt` with ``est_method``; on an estimation error, with its fallback.

    Parameters
    ----------
    data
        The panel (passed to ``att_gt`` unchanged).
    est_method
        ``"dr"``, ``"ipw"`` or ``"reg"``.
    **arguments
        Every other ``att_gt`` argument (``yname``, ``tname``, ``covariates``, ``control_group``, ...).

    Returns
    -------
    FittedAttGt
        The fit, the method used and, when the fallback was used, why.

    Raises
    ------
    SpecificationError
        If ``est_method`` is not one of :data:`FALLBACK_METHOD` or ``arguments`` contains ``est_method``.
    EstimationError
        If the fallback fails too, or the chosen method fails and has no fallback.
    """
    if est_method not in FALLBACK_METHOD:
        raise SpecificationError(f"att_gt_with_fallback(est_method=...) must be one of "
                                 f"{sorted(FALLBACK_METHOD)!r}; got {est_method!r}")
    try:
        return FittedAttGt(att_gt(data, est_method=est_method, **arguments), est_method)
    except EstimationError as exc:
        fallback = FALLBACK_METHOD[est_method]
        if fallback is None:
            raise
        return FittedAttGt(att_gt(data, est_method=fallback, **arguments), fallback, str(exc))
