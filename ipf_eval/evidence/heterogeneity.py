"""Heterogeneity of the staggered DiD by size class, for the report and the forum's transferability step.

The effect on the primary outcome is estimated separately within micro, small and medium firms (the
staggered DiD with the instrument's estimator choices, analytic standard errors).  A size class with fewer
than :data:`MIN_SUPPORTED_FIRMS` supported firms is not estimated: the estimate would be too noisy to say
anything, and its cell too small to publish under most disclosure profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import aggregate
from ipf_eval.errors import IpfEvalError
from ipf_eval.evidence.fallbacks import FittedAttGt

__all__ = ["MIN_SUPPORTED_FIRMS", "SIZE_CLASSES", "SizeClassEffect", "size_class_effects"]

#: Size classes estimated, in this order.
SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium")
#: Fewest supported firms a size class needs to be estimated.
MIN_SUPPORTED_FIRMS = 20


@dataclass(frozen=True)
class SizeClassEffect:
    """The effect within one size class, or why it was not estimated."""

    size_class: str
    estimator: str | None = None
    estimate: float | None = None
    std_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""
    fallback_reason: str = ""

    @property
    def estimated(self) -> bool:
        """Whether an estimate exists."""
        return self.estimate is not None


def size_class_effects(checked: ValidatedPanel, fit: Callable[[pd.DataFrame], FittedAttGt], *,
                       idname: str = "firm_id", gname: str = "first_support_year",
                       size_column: str = "size_class") -> tuple[SizeClassEffect, ...]:
    """Estimate the simple-aggregated ATT within each size class.

    Parameters
    ----------
    checked
        The validated panel (with ``size_column``).
    fit
        Fits the staggered DiD of the outcome on a sub-panel (the evaluation's own estimator choices, no
        bootstrap), e.g. ``lambda sub: att_gt_with_fallback(sub, ...)``.
    idname, gname, size_column
        Column names; a firm's size class is its first observed value.

    Returns
    -------
    tuple of SizeClassEffect
        One per size class in :data:`SIZE_CLASSES`.
    """
    data = checked.data
    if size_column not in data.columns:
        note = f"no {size_column!r} column: not estimated"
        return tuple(SizeClassEffect(s, note=note) for s in SIZE_CLASSES)
    firms = data.groupby(idname, sort=True).first().reset_index()
    out: list[SizeClassEffect] = []
    for size in SIZE_CLASSES:
        sub = data.loc[data[idname].isin(firms.loc[firms[size_column] == size, idname])]
        if (sub.groupby(idname)[gname].first() > 0).sum() < MIN_SUPPORTED_FIRMS:
            out.append(SizeClassEffect(size, note=f"fewer than {MIN_SUPPORTED_FIRMS} supported firms: not "
                                                  "estimated"))
            continue
        try:
            fitted = fit(sub)
            r = aggregate(fitted.result, kind="simple").to_frame().iloc[0]
        except IpfEvalError as exc:
            out.append(SizeClassEffect(size, note=f"not estimated: {type(exc).__name__}"))
            continue
        out.append(SizeClassEffect(size, fitted.estimator, float(r["estimate"]), float(r["std_error"]),
                                   float(r["ci_low"]), float(r["ci_high"]), "", fitted.fallback_reason))
    return tuple(out)
