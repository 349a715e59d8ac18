"""Additionality: what the support added, per euro (input) and in outcomes (output), and survey ratios.

Counterfactual estimates (from a DiD, matching, RDD or RCT effect) and survey-based ratios (recipients'
own statements about what they would have done without support) are different kinds of evidence; they are
kept in separate result classes, and the survey one says so in every output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import SpecificationError
from ipf_eval.evidence._common import (
    choice,
    finite,
    non_negative,
    p_two_sided,
    positive,
    z_crit,
)
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = [
    "SURVEY_LABEL",
    "InputAdditionality",
    "OutputAdditionality",
    "SurveyAdditionality",
    "input_additionality",
    "output_additionality",
    "survey_additionality",
]

#: Label carried by every survey-based additionality output.
SURVEY_LABEL = "survey-based (self-reported), not counterfactual"


def _plot_rows(frame: pd.DataFrame, ax: Any, ref: float | None) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    y = np.arange(len(frame))
    est = frame["estimate"].to_numpy(dtype=float)
    lo = frame["ci_low"].to_numpy(dtype=float)
    hi = frame["ci_high"].to_numpy(dtype=float)
    low_err = est - np.where(np.isfinite(lo), lo, est)
    high_err = np.where(np.isfinite(hi), hi, est) - est
    ax.errorbar(est, y, xerr=[low_err, high_err], fmt="o", capsize=3)
    if ref is not None:
        ax.axvline(ref, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, frame["term"].tolist())
    return ax


@dataclass(frozen=True, eq=False)
class InputAdditionality(ResultMixin):
    r"""Input additionality of R&D support: the change in R&D spending per euro of subsidy.

    Attributes
    ----------
    ratio
        :math:`\rho`, additional *total* R&D per euro of subsidy (1 = purely additive).
    std_error, ci_low, ci_high
        Its standard error and interval (``ci_low``/``ci_high`` infinite when the Fieller set is unbounded).
    private_leverage
        :math:`\rho - 1`, additional *privately financed* R&D per euro of subsidy (0 = purely additive).
    label
        ``"crowding out"``, ``"additive"``, ``"crowding in"`` or ``"inconclusive"`` (see Notes of
        :func:`input_additionality`).
    unbounded
        Whether the interval is unbounded (Fieller with an insignificant subsidy estimate).
    """

    ratio: float
    std_error: float
    ci_low: float
    ci_high: float
    private_leverage: float
    label: str
    unbounded: bool
    method: str
    alpha: float
    outcome: str
    specification: Specification

    @property
    def statistic(self) -> float:
        r"""Return the z statistic for :math:`H_0: \rho = 1` (purely additive)."""
        return (self.ratio - 1.0) / self.std_error

    @property
    def p_value(self) -> float:
        r"""Return the two-sided p-value for :math:`H_0: \rho = 1`."""
        return p_two_sided(self.statistic)

    def to_frame(self) -> pd.DataFrame:
        """Return two tidy rows: ``additionality_ratio`` and ``private_leverage`` (the ratio minus 1)."""
        common = {
            "std_error": self.std_error,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "outcome": self.outcome,
            "label": self.label,
            "method": self.method,
            "basis": "counterfactual",
        }
        return tidy_frame(
            [
                {
                    "term": "additionality_ratio",
                    "estimate": self.ratio,
                    "ci_low": self.ci_low,
                    "ci_high": self.ci_high,
                    **common,
                },
                {
                    "term": "private_leverage",
                    "estimate": self.private_leverage,
                    "ci_low": self.ci_low - 1.0,
                    "ci_high": self.ci_high - 1.0,
                    **common,
                },
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "ratio": self.ratio,
                "std_error": self.std_error,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "private_leverage": self.private_leverage,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "label": self.label,
                "unbounded": self.unbounded,
                "method": self.method,
                "alpha": self.alpha,
                "outcome": self.outcome,
                "specification": self.specification.to_dict(),
            }
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title="Input additionality (R&D per euro of subsidy)",
            facts=(
                ("Label", self.label),
                ("Interval", f"{100 * (1 - self.alpha):g}% ({self.method})"),
                ("Outcome", self.outcome),
            ),
            table=self.to_frame()[["term", "estimate", "std_error", "ci_low", "ci_high", "p_value"]],
            notes=(
                "ratio < 1: crowding out; = 1: purely additive; > 1: crowding in. "
                "The p-value tests ratio = 1.",
            ),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Plot the ratio and its interval against the purely additive value 1; return the Axes."""
        return _plot_rows(self.to_frame().iloc[:1], ax, 1.0)


def _fieller(num: float, num_se: float, den: float, den_se: float, z: float) -> tuple[float, float, bool]:
    """Fieller interval for num/den with independent normal estimates; (low, high, unbounded)."""
    a = den**2 - z**2 * den_se**2
    b = -2.0 * num * den
    c = num**2 - z**2 * num_se**2
    disc = b**2 - 4 * a * c
    if a <= 0 or disc < 0:
        return -math.inf, math.inf, True
    root = math.sqrt(disc)
    lo, hi = sorted(((-b - root) / (2 * a), (-b + root) / (2 * a)))
    return lo, hi, False


@keyword_options
def input_additionality(
    *,
    effect: float,
    effect_se: float,
    subsidy_per_firm: float,
    subsidy_se: float = 0.0,
    outcome: Literal["total_rd", "private_rd"] = "total_rd",
    alpha: float = 0.05,
    method: Literal["delta", "fieller"] = "delta",
    equivalence_margin: float = 0.25,
) -> InputAdditionality:
    r"""Input additionality: additional R&D spending per euro of subsidy, with its interval.

    Parameters
    ----------
    effect
        Estimated effect of the support on annual R&D spending per supported firm, in euros (an ATT on the
        R&D level, not on its log).
    effect_se
        Its standard error (strictly positive).
    subsidy_per_firm
        Average subsidy paid per supported firm and year, in euros (strictly positive).
    subsidy_se
        Standard error of the average subsidy when it is itself estimated (0 when taken from accounts).
    outcome
        ``"total_rd"`` when the outcome is total R&D spending including the subsidised part (as in
        Frascati-based surveys and most registers), ``"private_rd"`` when it is privately financed R&D
        only.
    alpha
        1 minus the interval's coverage.
    method
        ``"delta"`` (symmetric, delta method) or ``"fieller"`` (exact for a ratio of normal estimates; equal
        to the delta interval when ``subsidy_se`` is 0).
    equivalence_margin
        Half-width around 1 within which an interval that contains 1 counts as ``"additive"``.

    Returns
    -------
    InputAdditionality
        The ratio :math:`\rho`, the private leverage :math:`\rho - 1`, interval and label.

    Raises
    ------
    SpecificationError
        If a standard error is not positive (``effect_se``) or negative (``subsidy_se``), the subsidy is not
        positive, ``alpha`` is outside (0, 1), or ``outcome``/``method`` is unknown.

    Notes
    -----
    Convention: :math:`\rho = \Delta R^{total} / S`, total R&D added per euro of subsidy :math:`S`.  With the
    outcome measured as total R&D, :math:`\rho = \hat\beta / S`; with privately financed R&D,
    :math:`\rho = 1 + \hat\beta / S`.  Then :math:`\rho < 1` is (partial) crowding out of private R&D,
    :math:`\rho = 1` purely additive, :math:`\rho > 1` crowding in; :math:`\rho - 1` is the extra private
    R&D per euro.  Delta method:
    :math:`\mathrm{se}(\rho)^2 = \mathrm{se}(\hat\beta)^2/S^2 + \hat\beta^2\mathrm{se}(S)^2/S^4`
    (independent estimates).  Fieller: the set of :math:`\rho` with
    :math:`|\hat\beta - \rho S| \le z\sqrt{\operatorname{se}(\hat\beta)^2 + \rho^2\operatorname{se}(S)^2}`.

    Label: ``"crowding out"`` if the upper bound is below 1, ``"crowding in"`` if the lower bound is above
    1, ``"additive"`` if the interval contains 1 and lies within ``1 ± equivalence_margin``, otherwise
    ``"inconclusive"``.

    References
    ----------
    David, P. A., Hall, B. H. and Toole, A. A. (2000). Is public R&D a complement or substitute for private
    R&D? *Research Policy*, 29(4-5), 497-529.
    Zúñiga-Vicente, J. Á., Alonso-Borrego, C., Forcadell, F. J. and Galán, J. I. (2014). Assessing the
    effect of public subsidies on firm R&D investment: a survey. *Journal of Economic Surveys*, 28(1), 36-67.
    Dimos, C. and Pugh, G. (2016). The effectiveness of R&D subsidies: a meta-regression analysis of the
    evaluation literature. *Research Policy*, 45(4), 797-815.
    Fieller, E. C. (1954). Some problems in interval estimation. *JRSS B*, 16(2), 175-185.

    Examples
    --------
    >>> from ipf_eval.evidence import input_additionality
    >>> res = input_additionality(effect=200_000, effect_se=20_000, subsidy_per_firm=100_000)
    >>> round(res.ratio, 2), round(res.private_leverage, 2), res.label
    (2.0, 1.0, 'crowding in')
    """
    e = finite("effect", effect)
    e_se = positive("effect_se", effect_se, "Pass the standard error of the effect on R&D spending.")
    s = positive("subsidy_per_firm", subsidy_per_firm, "Pass the average subsidy paid per firm in euros.")
    s_se = non_negative("subsidy_se", subsidy_se)
    a = check_alpha(alpha, function="input_additionality")
    outcome = choice("outcome", outcome, ("total_rd", "private_rd"))  # type: ignore[assignment]
    method = choice("method", method, ("delta", "fieller"))  # type: ignore[assignment]
    margin = positive("equivalence_margin", equivalence_margin)
    z = z_crit(a)
    shift = 0.0 if outcome == "total_rd" else 1.0
    q = e / s
    se = math.sqrt(e_se**2 / s**2 + e**2 * s_se**2 / s**4)
    if method == "delta":
        lo, hi, unbounded = q - z * se, q + z * se, False
    else:
        lo, hi, unbounded = _fieller(e, e_se, s, s_se, z)
    ratio, lo, hi = q + shift, lo + shift, hi + shift
    if hi < 1.0:
        label = "crowding out"
    elif lo > 1.0:
        label = "crowding in"
    elif lo >= 1.0 - margin and hi <= 1.0 + margin:
        label = "additive"
    else:
        label = "inconclusive"
    spec = Specification(
        estimator="input_additionality",
        arguments={
            "effect": e,
            "effect_se": e_se,
            "subsidy_per_firm": s,
            "subsidy_se": s_se,
            "outcome": outcome,
            "alpha": a,
            "method": method,
            "equivalence_margin": margin,
        },
        n_obs=0,
        n_units=0,
    )
    return InputAdditionality(
        ratio=ratio,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        private_leverage=ratio - 1.0,
        label=label,
        unbounded=unbounded,
        method=method,
        alpha=a,
        outcome=outcome,
        specification=spec,
    )


@dataclass(frozen=True, eq=False)
class OutputAdditionality(ResultMixin):
    """Output additionality: the effect on an outcome as a percentage, and in levels per firm.

    Attributes
    ----------
    percent, percent_se, ci_low, ci_high
        Percentage effect with standard error and interval.
    level, level_se, level_ci_low, level_ci_high
        Effect per supported firm in the outcome's units (NaN without ``baseline_level`` on the log scale).
    label
        ``"positive"``, ``"negative"`` or ``"not significant"`` at level ``alpha``.
    """

    outcome: str
    scale: str
    percent: float
    percent_se: float
    ci_low: float
    ci_high: float
    level: float
    level_se: float
    level_ci_low: float
    level_ci_high: float
    label: str
    alpha: float
    ci_method: str
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return tidy rows ``percent_effect`` and, when available, ``level_effect_per_firm``."""
        stat = self.percent / self.percent_se
        rows = [
            {
                "term": "percent_effect",
                "estimate": self.percent,
                "std_error": self.percent_se,
                "statistic": stat,
                "p_value": p_two_sided(stat),
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "outcome": self.outcome,
                "label": self.label,
                "basis": "counterfactual",
            }
        ]
        if math.isfinite(self.level):
            lstat = self.level / self.level_se
            rows.append(
                {
                    "term": "level_effect_per_firm",
                    "estimate": self.level,
                    "std_error": self.level_se,
                    "statistic": lstat,
                    "p_value": p_two_sided(lstat),
                    "ci_low": self.level_ci_low,
                    "ci_high": self.level_ci_high,
                    "outcome": self.outcome,
                    "label": self.label,
                    "basis": "counterfactual",
                }
            )
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "outcome": self.outcome,
                "scale": self.scale,
                "percent": self.percent,
                "percent_se": self.percent_se,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "level": self.level,
                "level_se": self.level_se,
                "level_ci_low": self.level_ci_low,
                "level_ci_high": self.level_ci_high,
                "label": self.label,
                "alpha": self.alpha,
                "ci_method": self.ci_method,
                "specification": self.specification.to_dict(),
            }
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title=f"Output additionality: {self.outcome}",
            facts=(
                ("Label", self.label),
                ("Scale of the estimate", self.scale),
                ("Interval", f"{100 * (1 - self.alpha):g}% ({self.ci_method})"),
            ),
            table=self.to_frame()[["term", "estimate", "std_error", "ci_low", "ci_high", "p_value"]],
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Plot the percentage effect with its interval; return the Axes."""
        return _plot_rows(self.to_frame().iloc[:1], ax, 0.0)


@keyword_options
def output_additionality(
    *,
    effect: float,
    effect_se: float,
    scale: Literal["log", "level"] = "log",
    baseline_level: float | None = None,
    outcome: str = "outcome",
    alpha: float = 0.05,
    ci_method: Literal["delta", "transform"] = "delta",
) -> OutputAdditionality:
    r"""Output additionality from an outcome effect: percentage change and change per firm.

    Parameters
    ----------
    effect, effect_se
        The estimated effect (e.g. an ATT) and its standard error (strictly positive).
    scale
        ``"log"`` when the outcome was in logs (the effect is in log points), ``"level"`` when in units.
    baseline_level
        Mean outcome of supported firms before support (units).  Needed to express a log effect per firm
        and a level effect as a percentage.
    outcome
        Name of the outcome (employment, turnover, ...), carried to the outputs.
    alpha
        1 minus the interval's coverage.
    ci_method
        ``"delta"`` (symmetric interval from the delta method) or ``"transform"`` (transform the log-point
        interval's end points, which keeps the interval inside :math:`(-100\%, \infty)`).

    Returns
    -------
    OutputAdditionality
        The percentage and per-firm effects with intervals.

    Raises
    ------
    SpecificationError
        If ``effect_se`` is not positive, ``baseline_level`` is missing for a level effect or not positive,
        or ``scale``/``ci_method`` is unknown.

    Notes
    -----
    Log scale: :math:`\%\Delta = 100(e^{\hat\beta} - 1)` with
    :math:`\operatorname{se} = 100 e^{\hat\beta}\operatorname{se}(\hat\beta)`; per firm
    :math:`(e^{\hat\beta} - 1)\bar y_0`.  Level scale: :math:`\%\Delta = 100\hat\beta/\bar y_0`.
    ``label`` is based on the effect's own z test.

    References
    ----------
    Halvorsen, R. and Palmquist, R. (1980). The interpretation of dummy variables in semilogarithmic
    equations. *American Economic Review*, 70(3), 474-475.
    """
    b = finite("effect", effect)
    se = positive("effect_se", effect_se, "Pass the standard error of the effect.")
    a = check_alpha(alpha, function="output_additionality")
    scale = choice("scale", scale, ("log", "level"))  # type: ignore[assignment]
    ci_method = choice("ci_method", ci_method, ("delta", "transform"))  # type: ignore[assignment]
    base = None if baseline_level is None else positive("baseline_level", baseline_level)
    z = z_crit(a)
    if scale == "log":
        factor = math.exp(b)
        pct, pct_se = 100 * (factor - 1), 100 * factor * se
        if ci_method == "delta":
            lo, hi = pct - z * pct_se, pct + z * pct_se
        else:
            lo, hi = 100 * (math.exp(b - z * se) - 1), 100 * (math.exp(b + z * se) - 1)
        if base is not None:
            level, level_se, llo, lhi = (
                pct / 100 * base,
                pct_se / 100 * base,
                lo / 100 * base,
                hi / 100 * base,
            )
        else:
            level = level_se = llo = lhi = math.nan
    else:
        if base is None:
            raise SpecificationError(
                "baseline_level is required when scale='level' (to express the effect as a percentage); "
                "pass the supported firms' mean outcome before support."
            )
        level, level_se, llo, lhi = b, se, b - z * se, b + z * se
        pct, pct_se, lo, hi = 100 * b / base, 100 * se / base, 100 * llo / base, 100 * lhi / base
    stat = b / se
    label = "not significant" if abs(stat) <= z else ("positive" if b > 0 else "negative")
    spec = Specification(
        estimator="output_additionality",
        arguments={
            "effect": b,
            "effect_se": se,
            "scale": scale,
            "baseline_level": base,
            "outcome": outcome,
            "alpha": a,
            "ci_method": ci_method,
        },
        n_obs=0,
        n_units=0,
    )
    return OutputAdditionality(
        outcome=outcome,
        scale=scale,
        percent=pct,
        percent_se=pct_se,
        ci_low=lo,
        ci_high=hi,
        level=level,
        level_se=level_se,
        level_ci_low=llo,
        level_ci_high=lhi,
        label=label,
        alpha=a,
        ci_method=ci_method,
        specification=spec,
    )


@dataclass(frozen=True, eq=False)
class SurveyAdditionality(ResultMixin):
    """Additionality ratios from a recipient survey (self-reported, not counterfactual).

    Attributes
    ----------
    deadweight, additionality, displacement, net_additionality
        Shares in [0, 1]; ``additionality`` = 1 - ``deadweight``, ``net_additionality`` =
        (1 - deadweight)(1 - displacement).
    std_errors, intervals
        Per ratio, by name.
    basis
        Always :data:`SURVEY_LABEL`.
    """

    deadweight: float
    additionality: float
    displacement: float
    net_additionality: float
    std_errors: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n_respondents: int
    alpha: float
    specification: Specification
    basis: str = SURVEY_LABEL

    def to_frame(self) -> pd.DataFrame:
        """Return tidy rows per ratio, with a ``basis`` column saying they are self-reported."""
        rows = []
        for term in ("deadweight", "additionality", "displacement", "net_additionality"):
            lo, hi = self.intervals[term]
            rows.append(
                {
                    "term": term,
                    "estimate": getattr(self, term),
                    "std_error": self.std_errors[term],
                    "ci_low": lo,
                    "ci_high": hi,
                    "basis": self.basis,
                }
            )
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "basis": self.basis,
                "deadweight": self.deadweight,
                "additionality": self.additionality,
                "displacement": self.displacement,
                "net_additionality": self.net_additionality,
                "std_errors": self.std_errors,
                "intervals": {k: list(v) for k, v in self.intervals.items()},
                "n_respondents": self.n_respondents,
                "alpha": self.alpha,
                "specification": self.specification.to_dict(),
            }
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title="Survey-based additionality",
            facts=(("Basis", self.basis), ("Respondents", str(self.n_respondents))),
            table=self.to_frame()[["term", "estimate", "std_error", "ci_low", "ci_high"]],
            notes=("Self-reported by recipients; not comparable with counterfactual estimates.",),
        )


@keyword_options
def survey_additionality(
    *,
    n_respondents: int,
    n_full_deadweight: int,
    n_partial_deadweight: int = 0,
    partial_weight: float = 0.5,
    displacement: float = 0.0,
    displacement_se: float = 0.0,
    alpha: float = 0.05,
) -> SurveyAdditionality:
    r"""Deadweight, displacement and net additionality from a survey of supported firms.

    Parameters
    ----------
    n_respondents
        Number of responding supported firms.
    n_full_deadweight
        Respondents saying they would have carried out the project anyway, unchanged.
    n_partial_deadweight
        Respondents saying they would have done it later, smaller or more slowly.
    partial_weight
        Share of deadweight attributed to a partial answer (0.5 by convention).
    displacement
        Share of the additional activity taken from competitors (from a separate survey question), in
        [0, 1].
    displacement_se
        Its standard error (0 when it is an assumption).
    alpha
        1 minus the interval's coverage.

    Returns
    -------
    SurveyAdditionality
        The ratios with normal-approximation intervals, labelled :data:`SURVEY_LABEL`.

    Raises
    ------
    SpecificationError
        If counts are negative, exceed ``n_respondents`` together, ``n_respondents`` is below 1, or a share
        lies outside [0, 1].

    Notes
    -----
    With answers scored :math:`x_i \in \{1, w, 0\}` (full, partial, no deadweight), deadweight
    :math:`d = \bar x` with :math:`\operatorname{se}(d)^2 = (\overline{x^2} - \bar x^2)/n`; net additionality
    :math:`(1 - d)(1 - \delta)` with a delta-method standard error for independent :math:`d, \delta`.
    Intervals are clipped to [0, 1].  These ratios rest on what recipients say they would have done: they
    are not counterfactual estimates and should not be pooled with them.

    References
    ----------
    HM Treasury (2022). *The Green Book: Central Government Guidance on Appraisal and Evaluation*,
    annex on additionality.
    """
    for name, v in (
        ("n_respondents", n_respondents),
        ("n_full_deadweight", n_full_deadweight),
        ("n_partial_deadweight", n_partial_deadweight),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise SpecificationError(f"{name} must be a non-negative integer; got {v!r}.")
    n = int(n_respondents)
    if n < 1:
        raise SpecificationError(f"n_respondents must be at least 1; got {n_respondents!r}.")
    if n_full_deadweight + n_partial_deadweight > n:
        raise SpecificationError(
            f"n_full_deadweight + n_partial_deadweight = {n_full_deadweight + n_partial_deadweight} exceeds "
            f"n_respondents = {n}; check the survey counts."
        )
    w = finite("partial_weight", partial_weight)
    disp = finite("displacement", displacement)
    for share_name, share in (("partial_weight", w), ("displacement", disp)):
        if not 0 <= share <= 1:
            raise SpecificationError(f"{share_name} must lie in [0, 1]; got {share!r}.")
    disp_se = non_negative("displacement_se", displacement_se)
    a = check_alpha(alpha, function="survey_additionality")
    z = z_crit(a)
    d: float = (n_full_deadweight + w * n_partial_deadweight) / n
    ex2 = (n_full_deadweight + w**2 * n_partial_deadweight) / n
    d_se = math.sqrt(max(ex2 - d**2, 0.0) / n)
    net = (1 - d) * (1 - disp)
    net_se = math.sqrt((1 - disp) ** 2 * d_se**2 + (1 - d) ** 2 * disp_se**2)

    def ci(x: float, s: float) -> tuple[float, float]:
        return max(0.0, x - z * s), min(1.0, x + z * s)

    ses = {"deadweight": d_se, "additionality": d_se, "displacement": disp_se, "net_additionality": net_se}
    intervals = {
        "deadweight": ci(d, d_se),
        "additionality": ci(1 - d, d_se),
        "displacement": ci(disp, disp_se),
        "net_additionality": ci(net, net_se),
    }
    spec = Specification(
        estimator="survey_additionality",
        arguments={
            "n_respondents": n,
            "n_full_deadweight": int(n_full_deadweight),
            "n_partial_deadweight": int(n_partial_deadweight),
            "partial_weight": w,
            "displacement": disp,
            "displacement_se": disp_se,
            "alpha": a,
        },
        n_obs=n,
        n_units=n,
    )
    return SurveyAdditionality(
        deadweight=d,
        additionality=1 - d,
        displacement=disp,
        net_additionality=net,
        std_errors=ses,
        intervals=intervals,
        n_respondents=n,
        alpha=a,
        specification=spec,
    )
