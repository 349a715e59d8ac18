r"""Power calculations for a planned pilot: minimum detectable effect, required sample, achieved power.

References
----------
Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the statistical power of
experimental designs. *Evaluation Review* 19(5), 547-556.

Duflo, E., Glennerster, R. and Kremer, M. (2007). Using randomization in development economics research:
a toolkit. *Handbook of Development Economics* 4, 3895-3962 (section 4: clustered designs, partial
compliance, covariates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["PowerResult", "power"]


@dataclass(frozen=True, eq=False)
class PowerResult(ResultMixin):
    r"""A power calculation: the solved quantity and the design it assumes.

    Attributes
    ----------
    solved_for
        ``"effect"`` (minimum detectable effect), ``"n"`` (required firms) or ``"power"``.
    effect
        Effect on users (outcome units) that is detectable, or was given.
    n
        Firms in the trial (rounded up to whole clusters when solved for).
    n_clusters
        Clusters (``n / cluster_size``).
    power
        Power at ``effect`` and ``n``.
    design_effect
        :math:`1 + (m-1)\rho`.
    specification
        Every design input.
    """

    solved_for: str
    effect: float
    n: float
    n_clusters: float
    power: float
    design_effect: float
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row tidy table: ``term`` names the solved quantity; ``estimate`` its value."""
        value = {"effect": self.effect, "n": self.n, "power": self.power}[self.solved_for]
        return tidy_frame(
            [
                {
                    "term": f"power:{self.solved_for}",
                    "estimate": value,
                    "effect": self.effect,
                    "n": self.n,
                    "n_clusters": self.n_clusters,
                    "power": self.power,
                    "design_effect": self.design_effect,
                }
            ]
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        a = self.specification.arguments
        facts = tuple((k, str(v)) for k, v in a.items())
        table = pd.DataFrame(
            [
                {
                    "minimum detectable / target effect": self.effect,
                    "firms": self.n,
                    "clusters": self.n_clusters,
                    "power": self.power,
                    "design effect": self.design_effect,
                }
            ]
        )
        return Summary(
            title=f"Power calculation (solved for {self.solved_for})",
            facts=facts,
            table=table,
            notes=("Normal approximation (Bloom 1995); two-sided test; effect on users = ITT / take-up.",),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Power against the number of firms at the design's effect; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        a = self.specification.arguments
        ns = np.linspace(max(self.n / 10, 2.0), self.n * 2.5, 200)
        pw = [
            _power(
                self.effect,
                _se(nn, a["treat_share"], a["r2"], self.design_effect, a["outcome_sd"], a["takeup"]),
                a["alpha"],
            )
            for nn in ns
        ]
        ax.plot(ns, pw)
        ax.axhline(self.power, color="grey", linestyle="--", linewidth=1)
        ax.axvline(self.n, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("firms in the trial")
        ax.set_ylabel(f"power at effect {self.effect:.3g}")
        ax.set_ylim(0, 1)
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "solved_for": self.solved_for,
                "effect": self.effect,
                "n": self.n,
                "n_clusters": self.n_clusters,
                "power": self.power,
                "design_effect": self.design_effect,
                "specification": self.specification.to_dict(),
            }
        )


def _se(n: float, p: float, r2: float, deff: float, sd: float, takeup: float) -> float:
    """Return the standard error of the effect on users: sqrt(deff (1-R2) sd^2 / (P(1-P) n)) / takeup."""
    return math.sqrt(deff * (1 - r2) * sd**2 / (p * (1 - p) * n)) / takeup


def _power(effect: float, se: float, alpha: float) -> float:
    z = stats.norm.ppf(1 - alpha / 2)
    lam = abs(effect) / se
    return float(stats.norm.sf(z - lam) + stats.norm.cdf(-z - lam))


def _check_unit(
    name: str, value: Any, *, lo_open: bool = True, hi: float = 1.0, hi_open: bool = True
) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > 0 if lo_open else v >= 0) and (v < hi if hi_open else v <= hi)
    if not ok:
        lo_b, hi_b = ("(" if lo_open else "["), (")" if hi_open else "]")
        raise SpecificationError(
            f"power(): `{name}` must be a number in {lo_b}0, {hi:g}{hi_b}; got {value!r}."
        )
    return float(value)


@keyword_options
def power(
    *,
    effect: float | None = None,
    n: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    treat_share: float = 0.5,
    takeup: float = 1.0,
    r2: float = 0.0,
    icc: float = 0.0,
    cluster_size: int = 1,
    outcome_sd: float = 1.0,
) -> PowerResult:
    r"""Minimum detectable effect, required sample or achieved power of a (cluster-)randomised pilot.

    Give ``n`` to get the minimum detectable effect, ``effect`` to get the required number of firms, or
    both to get the power.

    Parameters
    ----------
    effect
        Effect on firms that use the support, in outcome units.
    n
        Total number of firms in the trial (both arms).
    alpha
        Two-sided significance level.
    power
        Target power (ignored when both ``effect`` and ``n`` are given).
    treat_share
        Share of firms (clusters) assigned to support, :math:`P`.
    takeup
        Take-up among winners minus take-up among controls (compliance), in (0, 1].
    r2
        Share of outcome variance explained by baseline covariates, in [0, 1).
    icc
        Intra-cluster correlation :math:`\rho`, in [0, 1].
    cluster_size
        Firms per cluster :math:`m` (1 for individual randomisation).
    outcome_sd
        Standard deviation of the outcome :math:`\sigma`.

    Returns
    -------
    PowerResult

    Raises
    ------
    SpecificationError
        Neither ``effect`` nor ``n`` given, or any input outside its range.

    Notes
    -----
    Normal approximation (Bloom 1995):

    .. math:: \mathrm{MDE} = \frac{z_{1-\alpha/2} + z_{1-\beta}}{c}
              \sqrt{\frac{[1 + (m-1)\rho](1-R^2)\sigma^2}{P(1-P)\,n}},

    with :math:`c` the take-up difference (the ITT is diluted by :math:`c`, so the detectable effect on
    users scales with :math:`1/c`). :math:`R^2` reduces the residual variance at both levels (a
    simplification when covariates explain cluster and individual variance differently). The required
    :math:`n` inverts the formula and is rounded up to whole clusters. The normal approximation is used
    throughout; it matches ``statsmodels.stats.power.NormalIndPower`` and is slightly optimistic relative
    to the t-based ``TTestIndPower`` in small samples (relative difference in the MDE below 1 % for
    :math:`n \ge 200`).

    References
    ----------
    Bloom (1995); Duflo, Glennerster & Kremer (2007).
    """
    a = check_alpha(alpha, function="power")
    p = _check_unit("treat_share", treat_share)
    c = _check_unit("takeup", takeup, hi_open=False)
    r2v = _check_unit("r2", r2, lo_open=False)
    rho = _check_unit("icc", icc, lo_open=False, hi_open=False)
    if isinstance(cluster_size, bool) or not isinstance(cluster_size, (int, np.integer)) or cluster_size < 1:
        raise SpecificationError(f"power(): `cluster_size` must be a positive integer; got {cluster_size!r}.")
    sd = outcome_sd
    if isinstance(sd, bool) or not isinstance(sd, (int, float)) or not sd > 0 or not math.isfinite(sd):
        raise SpecificationError(f"power(): `outcome_sd` must be a positive number; got {outcome_sd!r}.")
    m = int(cluster_size)
    deff = 1 + (m - 1) * rho
    args = {
        "effect": effect,
        "n": n,
        "alpha": a,
        "power": power,
        "treat_share": p,
        "takeup": c,
        "r2": r2v,
        "icc": rho,
        "cluster_size": m,
        "outcome_sd": float(sd),
    }
    for name, val in (("effect", effect), ("n", n)):
        if val is not None and (
            isinstance(val, bool)
            or not isinstance(val, (int, float))
            or not val > 0
            or not math.isfinite(val)
        ):
            raise SpecificationError(f"power(): `{name}` must be a positive number or None; got {val!r}.")
    spec = Specification(estimator="power", arguments=args, n_obs=0, n_units=0)
    if effect is not None and n is not None:
        if n / m < 2:
            raise SpecificationError(f"power(): `n`={n!r} gives fewer than 2 clusters of size {m}.")
        pw = _power(float(effect), _se(float(n), p, r2v, deff, sd, c), a)
        return PowerResult("power", float(effect), float(n), float(n) / m, pw, deff, spec)
    target = _check_unit("power", power)
    if target <= a / 2:
        raise SpecificationError(f"power(): `power`={power!r} must exceed alpha/2 = {a / 2:g}.")
    mult = stats.norm.ppf(1 - a / 2) + stats.norm.ppf(target)
    if n is not None:
        if n / m < 2:
            raise SpecificationError(f"power(): `n`={n!r} gives fewer than 2 clusters of size {m}.")
        mde = mult * _se(float(n), p, r2v, deff, sd, c)
        return PowerResult(
            "effect",
            float(mde),
            float(n),
            float(n) / m,
            _power(mde, _se(float(n), p, r2v, deff, sd, c), a),
            deff,
            spec,
        )
    if effect is None:
        raise SpecificationError(
            "power(): give `n` (to get the minimum detectable effect), `effect` (to get the "
            "required sample) or both (to get the power); got neither."
        )
    n_exact = (mult / (float(effect) * c)) ** 2 * deff * (1 - r2v) * sd**2 / (p * (1 - p))
    n_req = float(math.ceil(n_exact / m - 1e-9) * m)
    return PowerResult(
        "n",
        float(effect),
        n_req,
        n_req / m,
        _power(float(effect), _se(n_req, p, r2v, deff, sd, c), a),
        deff,
        spec,
    )
