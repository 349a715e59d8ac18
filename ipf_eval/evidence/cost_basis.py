"""The cost basis of an evaluation: which estimates are costed, in which unit, against which cost.

Cost-effectiveness divides the programme's cost (subsidy plus administration per supported firm, times the
number of supported firms) by the additional units the effect implies.  The rules:

* **Which estimates.**  The headline of each outcome with a cost unit (:data:`COST_UNITS`) and a positive
  standard error: the design's own estimator where it ran (a lottery's effect on users, a scored call's
  jump at the threshold), else the staggered DiD's average effect on supported firms over the years since
  support.  The cost per outcome is the cost per supported firm over the effect per supported firm; for a
  lottery it is the cost per additional unit in the year of the call, for a scored call the cost per
  additional unit among the firms at the threshold, the ones a larger or smaller call would add or drop.
* **When a cost is reported.**  Only where the effect is positive and its interval excludes zero
  (:func:`reportable`): otherwise the programme may buy no additional unit at all, and a cost per unit
  would be a division by (nearly) zero.
* **Units.**  Employment is in logs: the effect in log points is turned into jobs with the supported firms'
  mean employment in the year before support (:func:`baseline_level`).  R&D spending and equity raised are in
  euro, exporter status is a 0/1 share (one additional exporter per unit).
* **Cost.**  The instrument file's costs, or the country's own
  (:func:`ipf_eval.evidence.parameters.programme_costs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options

__all__ = ["COST_UNITS", "CostUnit", "baseline_level", "costed_estimates", "reportable"]


@dataclass(frozen=True)
class CostUnit:
    """The unit an outcome is costed in and the scale its effect is measured on."""

    unit: str
    scale: Literal["level", "log"]


#: Outcomes with a cost unit: what one additional unit is, and the effect's scale.
COST_UNITS: Mapping[str, CostUnit] = {
    "log_employment": CostUnit("job", "log"),
    "rd_spending": CostUnit("euro_rd", "level"),
    "exporter": CostUnit("exporter", "level"),
    "equity_raised": CostUnit("euro_equity", "level"),
}


@keyword_options
def costed_estimates(estimates: pd.DataFrame, *, units: Mapping[str, CostUnit] | None = None
                     ) -> pd.DataFrame:
    """Return the estimates that are costed: each outcome's headline, for outcomes with a cost unit.

    Parameters
    ----------
    estimates
        One row per estimate with ``outcome``, ``headline`` and ``std_error``.
    units
        The costed outcomes and their units (default :data:`COST_UNITS`; an evaluation adds its agency's
        own level and binary outcomes).

    Returns
    -------
    pandas.DataFrame
        The headline rows whose outcome is in ``units`` and whose standard error is positive, in their
        original order.
    """
    if not len(estimates):
        return estimates.copy()
    keep = (estimates["headline"].astype(bool) & estimates["outcome"].isin(list(units or COST_UNITS))
            & (estimates["std_error"].astype(float) > 0))
    return estimates.loc[keep].copy()


@keyword_options
def reportable(ci_low: float, ci_high: float) -> bool:
    """Whether a cost per outcome is reported: the effect's interval lies above zero."""
    return bool(np.isfinite(ci_low) and np.isfinite(ci_high) and ci_low > 0)


@keyword_options
def baseline_level(data: pd.DataFrame, outcome: str, *, tname: str = "year",
                   gname: str = "first_support_year") -> float:
    r"""Mean level of a log outcome among supported firms in the year before their support.

    Parameters
    ----------
    data
        The panel (not modified).
    outcome
        A log outcome, e.g. ``log_employment``.
    tname, gname
        Period and first-support-period columns.

    Returns
    -------
    float
        :math:`\bar y_0 = \operatorname{mean}_i \exp(y_{i, G_i - 1})` over supported firms observed in the
        year before support (``nan`` when there is none).
    """
    pre = data.loc[(data[gname] > 0) & (data[tname] == data[gname] - 1), outcome]
    return float(np.exp(pre.astype(float)).mean())
