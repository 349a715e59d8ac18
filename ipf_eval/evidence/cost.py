"""Cost-effectiveness: programme cost per additional unit of outcome (job, euro of turnover, exporter)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ipf_eval._defaults import N_BOOT, check_alpha, keyword_options
from ipf_eval.errors import EstimationError, SpecificationError
from ipf_eval.evidence._common import choice, finite, non_negative, p_two_sided, positive, z_crit
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["OUTCOME_UNITS", "CostEffectiveness", "cost_effectiveness"]

#: Outcome units with a readable name; any other non-empty string is accepted as given.
OUTCOME_UNITS: dict[str, str] = {
    "job": "additional job",
    "euro_turnover": "additional euro of turnover",
    "exporter": "additional exporter",
    "euro_equity": "additional euro of equity raised",
    "euro_rd": "additional euro of R&D",
    "euro_exports": "additional euro of exports",
}


@dataclass(frozen=True, eq=False)
class CostEffectiveness(ResultMixin):
    """Cost per additional unit of outcome, with the units produced and their interval.

    Attributes
    ----------
    cost_per_unit, std_error, ci_low, ci_high
        Discounted cost per discounted additional unit, its delta-method standard error and interval;
        ``ci_high`` is ``inf`` when ``unbounded``.
    unbounded
        The effect's interval includes zero (or lies below it), so the cost per unit has no finite upper
        bound: the programme may produce no additional units at all.
    effect_sign
        ``"positive"``, ``"not significant"`` or ``"negative"`` (the effect's interval).
    additional_units, additional_units_se, units_ci_low, units_ci_high
        Discounted additional units over the horizon, all supported firms together.
    units_per_million, units_per_million_ci
        Additional units per million euro of discounted cost (always a bounded interval; rank on this when
        effects may be zero).
    discounted_cost
        Discounted programme cost.
    """

    outcome_unit: str
    cost_per_unit: float
    std_error: float
    ci_low: float
    ci_high: float
    unbounded: bool
    effect_sign: str
    additional_units: float
    additional_units_se: float
    units_ci_low: float
    units_ci_high: float
    units_per_million: float
    units_per_million_ci: tuple[float, float]
    discounted_cost: float
    method: str
    alpha: float
    specification: Specification
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Return tidy rows ``cost_per_unit``, ``additional_units`` and ``units_per_million_euro``."""
        z_units = self.additional_units / self.additional_units_se
        per_m_se = self.additional_units_se / self.discounted_cost * 1e6
        common = {"outcome": self.outcome_unit, "unbounded": self.unbounded, "method": self.method}
        return tidy_frame(
            [
                {
                    "term": "cost_per_unit",
                    "estimate": self.cost_per_unit,
                    "std_error": self.std_error,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                    **common,
                },
                {
                    "term": "additional_units",
                    "estimate": self.additional_units,
                    "std_error": self.additional_units_se,
                    "statistic": z_units,
                    "p_value": p_two_sided(z_units),
                    "ci_low": self.units_ci_low,
                    "ci_high": self.units_ci_high,
                    **common,
                },
                {
                    "term": "units_per_million_euro",
                    "estimate": self.units_per_million,
                    "std_error": per_m_se,
                    "statistic": z_units,
                    "p_value": p_two_sided(z_units),
                    "ci_low": self.units_per_million_ci[0],
                    "ci_high": self.units_per_million_ci[1],
                    **common,
                },
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (an infinite bound becomes ``None``; see ``unbounded``)."""
        return json_safe(
            {
                "outcome_unit": self.outcome_unit,
                "cost_per_unit": self.cost_per_unit,
                "std_error": self.std_error,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "unbounded": self.unbounded,
                "effect_sign": self.effect_sign,
                "additional_units": self.additional_units,
                "additional_units_se": self.additional_units_se,
                "units_ci_low": self.units_ci_low,
                "units_ci_high": self.units_ci_high,
                "units_per_million": self.units_per_million,
                "units_per_million_ci": list(self.units_per_million_ci),
                "discounted_cost": self.discounted_cost,
                "method": self.method,
                "alpha": self.alpha,
                "notes": list(self.notes),
                "specification": self.specification.to_dict(),
            }
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        name = OUTCOME_UNITS.get(self.outcome_unit, self.outcome_unit)
        return Summary(
            title=f"Cost-effectiveness: cost per {name}",
            facts=(
                ("Discounted cost (EUR)", f"{self.discounted_cost:,.0f}"),
                ("Effect", self.effect_sign),
                ("Interval", f"{100 * (1 - self.alpha):g}% ({self.method})"),
            ),
            table=self.to_frame()[["term", "estimate", "std_error", "ci_low", "ci_high"]],
            notes=self.notes,
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Plot cost per unit with its interval (an arrow marks an unbounded upper end); return the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        hi = (
            self.ci_high
            if math.isfinite(self.ci_high)
            else self.ci_low + 3 * (self.cost_per_unit - self.ci_low)
        )
        ax.plot([self.ci_low, hi], [0, 0], color="C0")
        ax.plot([self.cost_per_unit], [0], "o", color="C0")
        if not math.isfinite(self.ci_high):
            ax.annotate("", xy=(hi, 0), xytext=(self.cost_per_unit, 0), arrowprops={"arrowstyle": "->"})
        ax.set_yticks([0], [self.outcome_unit])
        ax.set_xlabel("cost per additional unit (EUR)")
        return ax


def _discounted(values: Sequence[float], rate: float) -> float:
    return float(sum(v / (1.0 + rate) ** t for t, v in enumerate(values)))


@keyword_options
def cost_effectiveness(
    *,
    effect: float,
    effect_se: float,
    n_supported: int,
    programme_cost: float | Sequence[float] | None,
    outcome_unit: str,
    effect_scale: Literal["level", "log"] = "level",
    baseline_level: float | None = None,
    horizon_years: int = 1,
    discount_rate: float = 0.0,
    alpha: float = 0.05,
    method: Literal["delta", "fieller", "bootstrap"] = "delta",
    n_boot: int = N_BOOT,
    seed: int | None = None,
) -> CostEffectiveness:
    r"""Programme cost per additional unit of outcome, with an interval that is honest about zero effects.

    Parameters
    ----------
    effect, effect_se
        Effect per supported firm and year (an ATT) and its standard error (strictly positive).  In the
        outcome's units for ``effect_scale="level"`` (jobs, euros, or a probability for exporter status), in
        log points for ``effect_scale="log"``.
    n_supported
        Number of firms supported (strictly positive).
    programme_cost
        Total cost in euros (grants or guarantees' expected losses plus administration), or a sequence of
        yearly costs starting in year 0.  Required.
    outcome_unit
        ``"job"``, ``"euro_turnover"``, ``"exporter"``, ``"euro_equity"``, ``"euro_rd"``, ``"euro_exports"``
        or any other name for the unit.
    effect_scale
        ``"level"`` or ``"log"``; a log effect is converted with ``baseline_level``.
    baseline_level
        Mean outcome of supported firms before support (needed with ``effect_scale="log"``).
    horizon_years
        Years over which the annual effect is counted (it is assumed to persist unchanged).
    discount_rate
        Annual discount rate applied to both units and costs (e.g. 0.035, the Green Book rate).
    alpha
        1 minus the interval's coverage.
    method
        ``"delta"``: symmetric delta-method interval when the effect is significant, else
        :math:`[C/U_{high}, \infty)`; ``"fieller"``: the exact interval for a ratio with a known numerator,
        :math:`[C/U_{high}, C/U_{low}]`, unbounded when :math:`U_{low} \le 0`; ``"bootstrap"``: percentile
        interval of parametric draws of the effect.
    n_boot, seed
        Number of draws and seed for ``method="bootstrap"``.

    Returns
    -------
    CostEffectiveness
        Cost per unit, units produced, units per million euro, intervals and the ``unbounded`` flag.

    Raises
    ------
    SpecificationError
        If ``programme_cost`` is missing or not positive, ``n_supported`` or ``effect_se`` is not positive,
        ``baseline_level`` is missing for a log effect, ``horizon_years`` is below 1, the discount rate is
        negative, or an option is unknown.
    EstimationError
        If the effect is exactly zero: no additional units, so no cost per unit (a negative effect gives an
        infinite cost per unit with ``effect_sign="negative"``).

    Notes
    -----
    Annual additional units per firm: :math:`u = \hat\beta` (level) or :math:`u = (e^{\hat\beta} - 1)\bar y_0`
    (log).  With discount factor :math:`D = \sum_{t=0}^{H-1} (1 + r)^{-t}`, the discounted additional units
    are :math:`U = u\,n\,D` and the cost per unit is :math:`C/U` where
    :math:`C = \sum_t c_t (1 + r)^{-t}`.  Delta method: :math:`\mathrm{se}(C/U) = C\,\mathrm{se}(U)/U^2`.
    Because the cost is known, the exact (Fieller)
    set is :math:`\{C/U' : U' \in [U_{low}, U_{high}]\}`: when the effect's interval includes zero, the cost
    per unit can be arbitrarily large and the interval is reported as :math:`[C/U_{high}, \infty)` with
    ``unbounded=True``.

    References
    ----------
    HM Treasury (2022). *The Green Book*, chapter on discounting.
    Fieller, E. C. (1954). Some problems in interval estimation. *JRSS B*, 16(2), 175-185.

    Examples
    --------
    >>> from ipf_eval.evidence import cost_effectiveness
    >>> res = cost_effectiveness(effect=0.5, effect_se=0.1, n_supported=100, programme_cost=1_000_000,
    ...                          outcome_unit="job", method="fieller")
    >>> round(res.cost_per_unit), round(res.ci_low), round(res.ci_high)
    (20000, 14368, 32894)
    """
    if programme_cost is None:
        raise SpecificationError(
            "programme_cost is missing: cost-effectiveness needs the programme's total cost in euros (grants "
            "paid plus administration). Add it to the instrument's cost data or pass programme_cost=..."
        )
    if isinstance(programme_cost, (int, float)) and not isinstance(programme_cost, bool):
        costs = [positive("programme_cost", programme_cost, "Pass the programme's total cost in euros.")]
    elif isinstance(programme_cost, Sequence) and not isinstance(programme_cost, str) and len(programme_cost):
        costs = [non_negative(f"programme_cost[{i}]", c) for i, c in enumerate(programme_cost)]
        if sum(costs) <= 0:
            raise SpecificationError(
                f"programme_cost must add up to a positive amount; got {programme_cost!r}."
            )
    else:
        raise SpecificationError(
            f"programme_cost must be a positive number or a non-empty sequence of yearly costs; got "
            f"{programme_cost!r}."
        )
    b = finite("effect", effect)
    se = positive("effect_se", effect_se, "Pass the standard error of the effect.")
    if isinstance(n_supported, bool) or not isinstance(n_supported, (int, np.integer)) or n_supported <= 0:
        raise SpecificationError(
            f"n_supported must be a positive integer (firms supported); got {n_supported!r}."
        )
    if not isinstance(outcome_unit, str) or not outcome_unit:
        raise SpecificationError(
            f"outcome_unit must be a non-empty string such as 'job'; got {outcome_unit!r}."
        )
    effect_scale = choice("effect_scale", effect_scale, ("level", "log"))  # type: ignore[assignment]
    method = choice("method", method, ("delta", "fieller", "bootstrap"))  # type: ignore[assignment]
    if (
        isinstance(horizon_years, bool)
        or not isinstance(horizon_years, (int, np.integer))
        or horizon_years < 1
    ):
        raise SpecificationError(f"horizon_years must be an integer of at least 1; got {horizon_years!r}.")
    rate = non_negative("discount_rate", discount_rate)
    a = check_alpha(alpha, function="cost_effectiveness")
    z = z_crit(a)
    base: float | None = None
    if effect_scale == "log":
        if baseline_level is None:
            raise SpecificationError(
                "baseline_level is required when effect_scale='log': pass the supported firms' mean outcome "
                "before support, to convert log points into units."
            )
        base = positive("baseline_level", baseline_level)
        u, u_se = (math.exp(b) - 1.0) * base, math.exp(b) * base * se
    else:
        u, u_se = b, se
    n = int(n_supported)
    disc = _discounted([1.0] * int(horizon_years), rate)
    cost = _discounted(costs, rate)
    units, units_se = u * n * disc, u_se * n * disc
    if units == 0.0:
        raise EstimationError(
            f"cost_effectiveness(): effect={effect!r} is exactly zero, so the programme produces no "
            f"additional {outcome_unit!r} units at the point estimate and the cost per unit is undefined "
            "(not a number to rank on). Report the effect and its interval instead; the cost per unit needs "
            "a non-zero effect."
        )
    u_lo, u_hi = units - z * units_se, units + z * units_se
    # no additional units at the point estimate: the cost per additional unit is infinite, never negative
    cpu = cost / units if units > 0 else math.inf
    cpu_se = cost * units_se / units**2 if units > 0 else math.inf
    sign = "positive" if u_lo > 0 else ("negative" if u_hi < 0 else "not significant")
    notes: list[str] = []
    if method == "bootstrap":
        if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
            raise SpecificationError(f"n_boot must be an integer of at least 100; got {n_boot!r}.")
        rng = np.random.default_rng(seed)
        draws_b = rng.normal(b, se, size=n_boot)
        draws_u = (np.expm1(draws_b) * base if base is not None else draws_b) * n * disc
        ratios = np.where(draws_u > 0, cost / np.where(draws_u > 0, draws_u, 1.0), np.inf)
        lo = float(np.quantile(ratios, a / 2, method="inverted_cdf"))
        hi = float(np.quantile(ratios, 1 - a / 2, method="inverted_cdf"))
        unbounded = not math.isfinite(hi)
        share = float((draws_u <= 0).mean())
        if share > 0:
            notes.append(f"{share:.1%} of the draws produce no additional units (cost per unit infinite).")
    elif sign == "positive":
        if method == "delta":
            lo, hi = cpu - z * cpu_se, cpu + z * cpu_se
        else:
            lo, hi = cost / u_hi, cost / u_lo
        unbounded = False
    else:
        unbounded = True
        lo, hi = (cost / u_hi if u_hi > 0 else -math.inf), math.inf
    if sign == "not significant":
        notes.append(
            "The effect's interval includes zero: the programme may produce no additional units, so "
            "the cost per unit has no finite upper bound."
        )
    elif sign == "negative":
        notes.append(
            "The effect is negative: the programme reduces the outcome, and a cost per additional unit "
            "is not meaningful."
        )
    per_m = units / cost * 1e6
    spec = Specification(
        estimator="cost_effectiveness",
        arguments={
            "effect": b,
            "effect_se": se,
            "n_supported": n,
            "programme_cost": costs,
            "outcome_unit": outcome_unit,
            "effect_scale": effect_scale,
            "baseline_level": base,
            "horizon_years": int(horizon_years),
            "discount_rate": rate,
            "alpha": a,
            "method": method,
            "n_boot": n_boot if method == "bootstrap" else None,
        },
        n_obs=0,
        n_units=n,
        seed=seed if method == "bootstrap" else None,
    )
    return CostEffectiveness(
        outcome_unit=outcome_unit,
        cost_per_unit=cpu,
        std_error=cpu_se,
        ci_low=lo,
        ci_high=hi,
        unbounded=unbounded,
        effect_sign=sign,
        additional_units=units,
        additional_units_se=units_se,
        units_ci_low=u_lo,
        units_ci_high=u_hi,
        units_per_million=per_m,
        units_per_million_ci=(u_lo / cost * 1e6, u_hi / cost * 1e6),
        discounted_cost=cost,
        method=method,
        alpha=a,
        specification=spec,
        notes=tuple(notes),
    )
