"""The result object shared by ``match``, ``ipw``, ``aipw`` and ``conditional_did``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from scipy import stats

from ipf_eval.inference.influence import InfluenceFunction
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame
from ipf_eval.weighting.balance import BalanceResult

__all__ = ["EffectResult"]


@dataclass(frozen=True, eq=False)
class EffectResult(ResultMixin):
    """An average effect on the treated estimated under selection on observables.

    Attributes
    ----------
    method
        ``"ipw"``, ``"aipw"``, ``"match"`` or ``"conditional_did:<method>"``.
    estimand
        ``"ATT"``.
    outcome
        Outcome column (for conditional DiD, the before-after change).
    estimate, std_error
        Point estimate and standard error.
    alpha
        Level of the normal confidence interval.
    n_treated, n_control
        Firms used after trimming (for matching: treated firms matched, distinct controls used).
    n_trimmed
        Firms dropped by trimming or by the caliper.
    balance
        Balance before and after adjustment (``plot()`` draws its love plot).
    weights
        Adjustment weights indexed like the rows of ``data`` used (treated 1, controls their ATT weight or
        matching frequency; trimmed firms 0). Per-firm: not included in ``to_dict()``.
    influence
        The influence function of the estimate
        (:class:`~ipf_eval.inference.influence.InfluenceFunction`, one column, one row per firm used,
        in the order of ``data``'s rows after trimming), when the standard error is influence-function
        based (``ipw``, ``aipw``); ``None`` for matching, whose Abadie-Imbens standard error is not.
    variance_method
        How the SE was obtained.
    notes
        Caveats recorded during estimation.
    specification
        Arguments, data and drops.
    """

    method: str
    estimand: str
    outcome: str
    estimate: float
    std_error: float
    alpha: float
    n_treated: int
    n_control: int
    n_trimmed: int
    balance: BalanceResult
    variance_method: str
    specification: Specification
    weights: pd.Series = field(repr=False)
    influence: InfluenceFunction | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    @property
    def statistic(self) -> float:
        """The z statistic."""
        return self.estimate / self.std_error if self.std_error > 0 else float("nan")

    @property
    def p_value(self) -> float:
        """Two-sided normal p-value."""
        return float(2 * stats.norm.sf(abs(self.statistic)))

    @property
    def ci(self) -> tuple[float, float]:
        """Normal confidence interval at level ``1 - alpha``."""
        z = stats.norm.ppf(1 - self.alpha / 2)
        return (self.estimate - z * self.std_error, self.estimate + z * self.std_error)

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table (one row, term ``ATT``)."""
        lo, hi = self.ci
        return tidy_frame(
            [
                {
                    "term": self.estimand,
                    "estimate": self.estimate,
                    "std_error": self.std_error,
                    "statistic": self.statistic,
                    "p_value": self.p_value,
                    "ci_low": lo,
                    "ci_high": hi,
                    "outcome": self.outcome,
                    "method": self.method,
                }
            ]
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title=f"{self.estimand} by {self.method}: {self.outcome}",
            facts=(
                ("treated firms", str(self.n_treated)),
                ("comparison firms", str(self.n_control)),
                ("trimmed / unmatched", str(self.n_trimmed)),
                ("standard error", self.variance_method),
                ("max |SMD| after", f"{self.balance.max_abs_smd:.3f}"),
            ),
            table=self.to_frame()[
                ["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
            ],
            notes=(f"{100 * (1 - self.alpha):g}% normal confidence interval.", *self.notes),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Love plot of covariate balance before and after adjustment; returns the Axes."""
        return self.balance.plot(ax=ax)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (aggregates only: no per-firm weights)."""
        lo, hi = self.ci
        return json_safe(
            {
                "method": self.method,
                "estimand": self.estimand,
                "outcome": self.outcome,
                "estimate": self.estimate,
                "std_error": self.std_error,
                "ci_low": lo,
                "ci_high": hi,
                "alpha": self.alpha,
                "p_value": self.p_value,
                "n_treated": self.n_treated,
                "n_control": self.n_control,
                "n_trimmed": self.n_trimmed,
                "variance_method": self.variance_method,
                "notes": list(self.notes),
                "balance": self.balance.to_dict(),
                "specification": self.specification.to_dict(),
            }
        )
