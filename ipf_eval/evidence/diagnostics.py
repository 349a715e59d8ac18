"""Diagnostics an evaluation computes for its grade: the pre-trend check of the staggered DiD.

The pre-trend check is a Bonferroni test over the event-study's pre-support effects: each pre-support
event-time effect averages the cohorts' ATT(g, t) for that many years before support, so it stays well
sized with small cohorts, where the joint chi-square Wald test of every pre-period ATT(g, t) (an estimated
covariance of many cells) rejects too often.  The joint Wald test is kept alongside for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ipf_eval._defaults import keyword_options
from ipf_eval.did import AggregateResult, AttGtResult
from ipf_eval.errors import SpecificationError

__all__ = ["PRETREND_ALPHA", "PretrendCheck", "bonferroni_pretrend"]

#: Level of the pre-trend check used for the grade.
PRETREND_ALPHA = 0.05


@dataclass(frozen=True)
class PretrendCheck:
    """The pre-trend check of an event study.

    Attributes
    ----------
    p_value
        Bonferroni p-value: ``min(1, k * min_e p_e)`` over the ``k`` pre-support event times ``e < 0`` with a
        pointwise p-value.
    n_event_times
        ``k``.
    alpha
        Level of the check.
    wald_p_value, wald_df
        The joint Wald test of every pre-period ATT(g, t) from ``att_gt`` (``None`` when not computed).
    """

    p_value: float
    n_event_times: int
    alpha: float = PRETREND_ALPHA
    wald_p_value: float | None = None
    wald_df: int | None = None

    @property
    def passed(self) -> bool:
        """Whether parallel trends are not rejected at ``alpha``."""
        return self.p_value >= self.alpha

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"p_value": self.p_value, "n_event_times": self.n_event_times, "alpha": self.alpha,
                "passed": self.passed, "wald_p_value": self.wald_p_value, "wald_df": self.wald_df}


@keyword_options
def bonferroni_pretrend(dynamic: AggregateResult, *, source: AttGtResult | None = None,
                        alpha: float = PRETREND_ALPHA) -> PretrendCheck | None:
    r"""Bonferroni pre-trend test over the pre-support event times of an event study.

    Parameters
    ----------
    dynamic
        ``aggregate(res, kind="dynamic")``.
    source
        The ``att_gt`` result, whose joint Wald pre-test is reported alongside (optional).
    alpha
        Level of the check.

    Returns
    -------
    PretrendCheck or None
        ``None`` when the event study has no pre-support event time with a p-value (no pre-periods).

    Raises
    ------
    SpecificationError
        If ``dynamic`` is not an event study (``kind="dynamic"``) or ``alpha`` is not in (0, 1).

    Notes
    -----
    With pointwise p-values :math:`p_e` of the event-time effects :math:`\theta_e, e < 0`, the test of
    :math:`H_0: \theta_e = 0 \ \forall e < 0` rejects when :math:`k \min_e p_e < \alpha`; it controls the
    size at :math:`\alpha` for any correlation between the :math:`\hat\theta_e`.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics*, 225(2), 200-230.
    """
    if dynamic.kind != "dynamic":
        raise SpecificationError(f"bonferroni_pretrend needs an event study (aggregate(kind='dynamic')); got "
                                 f"kind={dynamic.kind!r}")
    if not 0 < alpha < 1:
        raise SpecificationError(f"bonferroni_pretrend(alpha=...) must be in (0, 1); got {alpha!r}")
    frame = dynamic.to_frame()
    pre = frame.loc[(frame["ci_kind"] == "pointwise") & (frame["event_time"].fillna(0) < 0)
                    & frame["p_value"].notna()]
    if not len(pre):
        return None
    p = float(min(1.0, len(pre) * float(np.min(pre["p_value"].to_numpy(dtype=float)))))
    test = source.pretest if source is not None else None
    return PretrendCheck(p_value=p, n_event_times=len(pre), alpha=alpha,
                         wald_p_value=None if test is None else float(test.p_value),
                         wald_df=None if test is None else int(test.df))
