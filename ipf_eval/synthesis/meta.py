"""Random-effects meta-analysis of per-country (per-study) estimates: :func:`meta_analysis`.

Pools estimates that follow the tidy convention (one row per study with ``estimate`` and ``std_error``),
reports heterogeneity (tau², I², H², Cochran's Q), a prediction interval, leave-one-out results, forest and
funnel plots and Egger's regression test.  Validated against R metafor (see ``tests/test_meta_analysis.py``
and ``tests/reference/metafor/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame
from ipf_eval.synthesis._common import check_frame, check_method, extract_effects, fmt
from ipf_eval.synthesis._rma import fit_rma

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["EggerTest", "MetaAnalysisResult", "meta_analysis"]

_METHOD_NAMES = {
    "reml": "REML",
    "dl": "DerSimonian-Laird",
    "pm": "Paule-Mandel",
    "fe": "equal effects (no tau²)",
}


@dataclass(frozen=True, eq=False)
class EggerTest:
    """Egger's regression test for funnel-plot asymmetry.

    Attributes
    ----------
    model
        ``"lm"``: weighted regression of the estimates on their standard errors (weights ``1/se²``) with a
        multiplicative dispersion term, t-test with ``k - 2`` df (the classical test of Egger et al. 1997;
        metafor's ``regtest(res, model="lm")``).  ``"rma"``: the meta-regression of the estimates on their
        standard errors with the same tau² estimator and test as the pooled model (metafor's default
        ``regtest(res)``).
    statistic, p_value, df
        Test of the slope on the standard error (``df`` is ``None`` for a z-test).
    limit_estimate, limit_ci_low, limit_ci_high
        The intercept: the effect extrapolated to a study of infinite precision, with its interval.
    """

    model: str
    statistic: float
    p_value: float
    df: int | None
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "model": self.model,
                "statistic": self.statistic,
                "p_value": self.p_value,
                "df": self.df,
                "limit_estimate": self.limit_estimate,
                "limit_ci_low": self.limit_ci_low,
                "limit_ci_high": self.limit_ci_high,
            }
        )


@dataclass(frozen=True, eq=False)
class MetaAnalysisResult(ResultMixin):
    r"""Result of :func:`meta_analysis` (frozen).

    Attributes
    ----------
    estimate, std_error, statistic, p_value, ci_low, ci_high
        Pooled effect :math:`\hat\mu`, its standard error, the z (or, with Knapp-Hartung, t) statistic
        against 0, its p-value and the ``1 - alpha`` confidence interval.
    df_resid
        Degrees of freedom of the t-distribution (``k - 1``) with Knapp-Hartung, else ``None``.
    tau2, tau2_se, tau
        Between-study variance, its standard error (REML only, from the Fisher information; ``nan`` for
        the other estimators) and its square root.
    i2, h2
        :math:`I^2` as a proportion in [0, 1] (0.9222 means 92.22 %) and :math:`H^2`.
    q, q_df, q_pvalue
        Cochran's Q test of homogeneity (equal-effects weights), ``k - 1`` df.
    pi_low, pi_high
        ``1 - alpha`` prediction interval for the true effect in a new study (country).
    k, method, knapp_hartung, alpha
        Number of studies and the options used.
    labels, study_estimates, study_std_errors, weights
        Per-study inputs and the relative weights (summing to one) in the pooled estimate.
    label
        Name of the label column (``None`` when studies were numbered).
    specification
        What produced the result.
    """

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    df_resid: int | None
    tau2: float
    tau2_se: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    pi_low: float
    pi_high: float
    k: int
    method: str
    knapp_hartung: bool
    alpha: float
    labels: tuple[str, ...]
    study_estimates: tuple[float, ...]
    study_std_errors: tuple[float, ...]
    weights: tuple[float, ...]
    label: str | None
    specification: Specification

    # ------------------------------------------------------------------ diagnostics
    def leave_one_out(self) -> pd.DataFrame:
        """Refit the model ``k`` times, each time without one study.

        Returns
        -------
        pandas.DataFrame
            One row per omitted study: ``left_out`` (its label), ``estimate``, ``std_error``,
            ``statistic``, ``p_value``, ``ci_low``, ``ci_high``, ``q``, ``q_pvalue``, ``tau2``, ``i2``,
            ``h2`` of the model fitted to the remaining studies (metafor's ``leave1out``).  With ``k = 2``
            the remaining study is reported on its own (normal interval, no heterogeneity statistics).
        """
        y = np.asarray(self.study_estimates)
        v = np.asarray(self.study_std_errors) ** 2
        rows: list[dict[str, Any]] = []
        for i, name in enumerate(self.labels):
            keep = np.arange(self.k) != i
            if keep.sum() < 2:
                se_j = float(np.sqrt(v[keep][0]))
                est = float(y[keep][0])
                crit = float(stats.norm.isf(self.alpha / 2))
                rows.append({"left_out": name, "estimate": est, "std_error": se_j,
                             "statistic": est / se_j, "p_value": float(2 * stats.norm.sf(abs(est / se_j))),
                             "ci_low": est - crit * se_j, "ci_high": est + crit * se_j, "q": np.nan,
                             "q_pvalue": np.nan, "tau2": np.nan, "i2": np.nan, "h2": np.nan})
                continue
            fit = fit_rma(y[keep], v[keep], np.ones((int(keep.sum()), 1)), method=self.method,
                          knapp_hartung=self.knapp_hartung, alpha=self.alpha)
            rows.append({"left_out": name, "estimate": float(fit.beta[0]), "std_error": float(fit.se[0]),
                         "statistic": float(fit.statistic[0]), "p_value": float(fit.p_value[0]),
                         "ci_low": float(fit.ci_low[0]), "ci_high": float(fit.ci_high[0]), "q": fit.qe,
                         "q_pvalue": fit.qe_pvalue, "tau2": fit.tau2, "i2": fit.i2, "h2": fit.h2})
        return pd.DataFrame(rows)

    def egger_test(self, *, model: Literal["lm", "rma"] = "lm") -> EggerTest:
        r"""Egger's regression test for funnel-plot asymmetry (small-study effects).

        Parameters
        ----------
        model
            ``"lm"`` (default, the classical test): weighted least squares of the estimates on their
            standard errors with weights :math:`1/se_i^2` and a multiplicative dispersion parameter; t-test
            of the slope with ``k - 2`` df (metafor ``regtest(res, model="lm")``).  ``"rma"``: the
            meta-regression :math:`y_i = \beta_0 + \beta_1 se_i + u_i + e_i` with this model's tau²
            estimator and test (z, or t with Knapp-Hartung), which is metafor's default ``regtest(res)``.

        Returns
        -------
        EggerTest
            Statistic, p-value and the limit estimate (intercept).

        Raises
        ------
        SpecificationError
            Unknown ``model``, or fewer than three studies (the regression has two coefficients).

        References
        ----------
        Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected by
        a simple, graphical test. BMJ, 315(7109), 629-634.
        """
        if model not in ("lm", "rma"):
            raise SpecificationError(
                f"model of egger_test() must be 'lm' (classical Egger test) or 'rma' (meta-regression "
                f"version), got {model!r}"
            )
        if self.k < 3:
            raise SpecificationError(
                f"Egger's test regresses the estimates on their standard errors and needs at least 3 "
                f"studies, got k={self.k}; the funnel plot cannot be assessed with so few countries"
            )
        y = np.asarray(self.study_estimates)
        se = np.asarray(self.study_std_errors)
        X = np.column_stack([np.ones(self.k), se])
        if model == "lm":
            fit = fit_rma(y, se**2, X, method="fe", knapp_hartung=True, alpha=self.alpha)
        else:
            fit = fit_rma(y, se**2, X, method=self.method, knapp_hartung=self.knapp_hartung,
                          alpha=self.alpha)
        return EggerTest(
            model=model,
            statistic=float(fit.statistic[1]),
            p_value=float(fit.p_value[1]),
            df=fit.df_resid,
            limit_estimate=float(fit.beta[0]),
            limit_ci_low=float(fit.ci_low[0]),
            limit_ci_high=float(fit.ci_high[0]),
        )

    # ------------------------------------------------------------------ plots
    def forest_plot(self, *, ax: Axes | None = None) -> Axes:
        """Draw a forest plot: study estimates with intervals, the pooled diamond and prediction interval.

        Parameters
        ----------
        ax
            Axes to draw on; a new figure is created when ``None``.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * self.k + 1.8))
        y = np.asarray(self.study_estimates)
        se = np.asarray(self.study_std_errors)
        crit = float(stats.norm.isf(self.alpha / 2))
        pos = np.arange(self.k, 0, -1, dtype=float) + 1.0
        w = np.asarray(self.weights)
        ax.hlines(pos, y - crit * se, y + crit * se, color="black", linewidth=1)
        ax.scatter(y, pos, s=20 + 200 * w / w.max(), marker="s", color="black", zorder=3)
        diamond_x = [self.ci_low, self.estimate, self.ci_high, self.estimate]
        diamond_y = [0.0, 0.3, 0.0, -0.3]
        ax.fill(diamond_x, diamond_y, color="tab:blue", zorder=3)
        ax.hlines(0.0, self.pi_low, self.pi_high, color="tab:blue", linestyle="--", linewidth=1)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_yticks([*pos.tolist(), 0.0])
        ax.set_yticklabels([*self.labels, "Pooled (RE)" if self.method != "fe" else "Pooled (EE)"])
        ax.set_xlabel("Estimate")
        ax.set_ylim(-1.0, pos.max() + 1.0)
        return ax

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """Forest plot (same as :meth:`forest_plot`)."""
        return self.forest_plot(ax=ax)

    def funnel_plot(self, *, ax: Axes | None = None) -> Axes:
        r"""Funnel plot: estimates against standard errors (inverted axis) with pseudo-confidence limits.

        The funnel is centred at the pooled estimate with limits :math:`\hat\mu \pm z_{1-\alpha/2}\, se`;
        asymmetry can be tested with :meth:`egger_test`.

        Parameters
        ----------
        ax
            Axes to draw on; a new figure is created when ``None``.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 5))
        y = np.asarray(self.study_estimates)
        se = np.asarray(self.study_std_errors)
        crit = float(stats.norm.isf(self.alpha / 2))
        se_max = float(se.max()) * 1.1
        grid = np.linspace(0.0, se_max, 50)
        ax.fill_betweenx(grid, self.estimate - crit * grid, self.estimate + crit * grid, color="0.92")
        ax.plot(self.estimate - crit * grid, grid, color="grey", linestyle="--", linewidth=0.8)
        ax.plot(self.estimate + crit * grid, grid, color="grey", linestyle="--", linewidth=0.8)
        ax.axvline(self.estimate, color="tab:blue", linewidth=1)
        ax.scatter(y, se, color="black", zorder=3)
        ax.set_ylim(se_max, 0.0)
        ax.set_xlabel("Estimate")
        ax.set_ylabel("Standard error")
        return ax

    # ------------------------------------------------------------------ tables
    def to_frame(self, *, include_studies: bool = False) -> pd.DataFrame:
        """Tidy table of the pooled effect, optionally followed by the studies.

        Parameters
        ----------
        include_studies
            When true, one row per study follows the pooled row (normal-theory interval for each study).

        Returns
        -------
        pandas.DataFrame
            Columns ``term, estimate, std_error, statistic, p_value, ci_low, ci_high``, then ``kind``
            (``"pooled"`` or ``"study"``), ``weight`` (relative weight of the study; 1 for the pooled row),
            ``pi_low``, ``pi_high`` (prediction interval, pooled row only).  The pooled row has
            ``term == "pooled"``; study rows carry the study label as ``term`` (and, when the label column
            is ``country``, also in the ``country`` identifier column).
        """
        rows: list[dict[str, Any]] = [{
            "term": "pooled", "estimate": self.estimate, "std_error": self.std_error,
            "statistic": self.statistic, "p_value": self.p_value, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "kind": "pooled", "weight": 1.0, "pi_low": self.pi_low,
            "pi_high": self.pi_high,
        }]
        if include_studies:
            crit = float(stats.norm.isf(self.alpha / 2))
            for name, est, se, w in zip(self.labels, self.study_estimates, self.study_std_errors,
                                        self.weights, strict=True):
                z = est / se
                row: dict[str, Any] = {
                    "term": name, "estimate": est, "std_error": se, "statistic": z,
                    "p_value": float(2 * stats.norm.sf(abs(z))), "ci_low": est - crit * se,
                    "ci_high": est + crit * se, "kind": "study", "weight": w, "pi_low": np.nan,
                    "pi_high": np.nan,
                }
                rows.append(row)
            if self.label == "country":
                for row in rows:
                    row["country"] = None if row["kind"] == "pooled" else row["term"]
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (pooled effect, heterogeneity, studies, specification)."""
        return json_safe({
            "estimate": self.estimate, "std_error": self.std_error, "statistic": self.statistic,
            "p_value": self.p_value, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "df_resid": self.df_resid, "tau2": self.tau2, "tau2_se": self.tau2_se, "tau": self.tau,
            "i2": self.i2, "h2": self.h2, "q": self.q, "q_df": self.q_df, "q_pvalue": self.q_pvalue,
            "pi_low": self.pi_low, "pi_high": self.pi_high, "k": self.k, "method": self.method,
            "knapp_hartung": self.knapp_hartung, "alpha": self.alpha,
            "studies": [
                {"label": n, "estimate": e, "std_error": s, "weight": w}
                for n, e, s, w in zip(self.labels, self.study_estimates, self.study_std_errors,
                                      self.weights, strict=True)
            ],
            "specification": self.specification.to_dict(),
        })

    def summary(self) -> Summary:
        """Printable summary: heterogeneity facts and the pooled-effect table."""
        model = "Equal-effects model" if self.method == "fe" else "Random-effects model"
        level = f"{100 * (1 - self.alpha):g}%"
        facts = [
            ("Studies (k)", str(self.k)),
            ("tau² estimator", _METHOD_NAMES[self.method]),
            ("Inference", f"Knapp-Hartung t({self.df_resid})" if self.knapp_hartung else "normal (z)"),
            ("tau² (SE)", f"{fmt(self.tau2)} ({fmt(self.tau2_se)})" if self.method == "reml"
             else fmt(self.tau2)),
            ("tau", fmt(self.tau)),
            ("I²", f"{100 * self.i2:.2f}%"),
            ("H²", f"{self.h2:.2f}"),
            (f"Q(df = {self.q_df})", f"{self.q:.4f}, p = {fmt(self.q_pvalue)}"),
            (f"{level} prediction interval", f"[{fmt(self.pi_low)}, {fmt(self.pi_high)}]"),
        ]
        table = self.to_frame(include_studies=True)[["term", "estimate", "std_error", "statistic", "p_value",
                                                      "ci_low", "ci_high", "weight"]]
        notes = (f"Confidence intervals at {level}; study rows use normal intervals; weights are relative "
                 "weights in the pooled estimate.",)
        return Summary(title=f"{model}: meta-analysis of {self.k} estimates", facts=tuple(facts),
                       table=table, notes=notes)


@keyword_options
def meta_analysis(
    effects: pd.DataFrame,
    *,
    estimate: str = "estimate",
    std_error: str = "std_error",
    label: str | None = "country",
    method: Literal["reml", "dl", "pm", "fe"] = "reml",
    knapp_hartung: bool = False,
    alpha: float = 0.05,
) -> MetaAnalysisResult:
    r"""Pool per-country (per-study) estimates with a random-effects meta-analysis.

    Parameters
    ----------
    effects
        One row per study (country) with the estimate and its standard error, e.g. the pooled rows of
        several ``to_frame()`` tables; never modified.
    estimate, std_error
        Columns holding the estimates :math:`y_i` and their standard errors :math:`\sqrt{v_i}`.
    label
        Column with study labels (default ``"country"``); ``None`` numbers the studies.
    method
        Estimator of the between-study variance :math:`\tau^2`: ``"reml"`` (restricted maximum
        likelihood, default), ``"dl"`` (DerSimonian-Laird), ``"pm"`` (Paule-Mandel) or ``"fe"`` (equal
        effects, :math:`\tau^2 = 0`).
    knapp_hartung
        Use the Knapp-Hartung variance and t-distribution with ``k - 1`` df for the pooled effect and the
        prediction interval (metafor ``test="knha"``).
    alpha
        Significance level; intervals are ``1 - alpha``.

    Returns
    -------
    MetaAnalysisResult
        Pooled effect, heterogeneity statistics, prediction interval; ``leave_one_out()``,
        ``egger_test()``, ``forest_plot()``/``plot()``, ``funnel_plot()``.

    Raises
    ------
    DataError
        ``effects`` is not a DataFrame, a column is missing or not numeric, an estimate is missing, or a
        standard error is missing, zero or negative.
    SpecificationError
        Fewer than two studies, an unknown ``method``, ``alpha`` outside (0, 1), ``knapp_hartung`` not a
        bool.

    Notes
    -----
    Random-effects model: :math:`y_i = \mu + u_i + e_i`, :math:`u_i \sim N(0, \tau^2)`,
    :math:`e_i \sim N(0, v_i)` with known :math:`v_i`; the estimand is :math:`\mu`, the mean of the
    distribution of true effects across countries.  Given :math:`\hat\tau^2`,
    :math:`\hat\mu = \sum_i w_i y_i / \sum_i w_i` with :math:`w_i = 1/(v_i + \hat\tau^2)` and
    :math:`\mathrm{Var}(\hat\mu) = 1/\sum_i w_i`.  Estimators of :math:`\tau^2` (truncated at 0):

    * DL: :math:`(Q - (k-1)) / (\sum w^0_i - \sum (w^0_i)^2 / \sum w^0_i)`, :math:`w^0_i = 1/v_i`.
    * PM: the root of the generalised Q, :math:`\sum_i w_i (y_i - \hat\mu)^2 = k - 1` (Brent's
      method, absolute tolerance 1e-14).
    * REML: the root of the restricted score :math:`y'PPy - \mathrm{tr}(P)` (Brent's method, tolerance
      1e-14), or 0 when the score is negative at 0; SE from the Fisher information
      :math:`\sqrt{2/\mathrm{tr}(PP)}`.

    :math:`Q = \sum_i w^0_i (y_i - \hat\mu_{EE})^2` on ``k - 1`` df.  :math:`I^2 = \hat\tau^2 /
    (\hat\tau^2 + \tilde v)` and :math:`H^2 = (\hat\tau^2 + \tilde v)/\tilde v` with the typical
    sampling variance :math:`\tilde v = (k-1)/\mathrm{tr}(P_0)` (Higgins & Thompson 2002, as metafor);
    for ``method="fe"``, :math:`I^2 = \max(0, (Q - (k-1))/Q)` and :math:`H^2 = Q/(k-1)`.  Knapp-Hartung
    multiplies the variance by :math:`s^2 = \sum_i w_i (y_i - \hat\mu)^2/(k-1)` (not truncated) and uses
    :math:`t_{k-1}`.  Prediction interval: :math:`\hat\mu \pm c \sqrt{\hat\tau^2 + SE(\hat\mu)^2}`
    with :math:`c` the normal quantile, or the :math:`t_{k-1}` quantile with Knapp-Hartung (metafor's
    convention).

    References
    ----------
    DerSimonian, R., & Laird, N. (1986). Meta-analysis in clinical trials. Controlled Clinical Trials,
    7(3), 177-188.
    Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors. Journal of Research of the
    National Bureau of Standards, 87(5), 377-385.
    Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the random-effects
    model. Journal of Educational and Behavioral Statistics, 30(3), 261-293.
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
    Statistical Software, 36(3), 1-48.
    Higgins, J. P. T., & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis. Statistics
    in Medicine, 21(11), 1539-1558.
    Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression with a single
    covariate. Statistics in Medicine, 22(17), 2693-2710.
    Egger, M., Davey Smith, G., Schneider, M., & Minder, C. (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ, 315(7109), 629-634.

    Examples
    --------
    >>> import pandas as pd
    >>> effects = pd.DataFrame({"country": ["AT", "DE", "FI", "NL"],
    ...                         "estimate": [0.05, 0.12, 0.02, 0.09],
    ...                         "std_error": [0.03, 0.04, 0.02, 0.05]})
    >>> res = meta_analysis(effects, method="reml")
    >>> round(res.estimate, 3)
    0.059
    """
    check_frame(effects, "effects")
    method_l = check_method(method, "meta_analysis")
    alpha_f = check_alpha(alpha, function="meta_analysis")
    if not isinstance(knapp_hartung, (bool, np.bool_)):
        raise SpecificationError(f"knapp_hartung must be True or False, got {knapp_hartung!r}")
    y, se, labels = extract_effects(effects, estimate=estimate, std_error=std_error, label=label,
                                    frame_name="effects")
    k = len(y)
    fit = fit_rma(y, se**2, np.ones((k, 1)), method=method_l, knapp_hartung=bool(knapp_hartung),
                  alpha=alpha_f)
    mu, se_mu = float(fit.beta[0]), float(fit.se[0])
    se_pred = float(np.sqrt(fit.tau2 + se_mu**2))
    w = np.asarray(fit.weights)
    spec = Specification(
        estimator="meta_analysis",
        arguments={"estimate": estimate, "std_error": std_error, "label": label, "method": method_l,
                   "knapp_hartung": bool(knapp_hartung), "alpha": alpha_f},
        n_obs=k,
        n_units=k,
    )
    return MetaAnalysisResult(
        estimate=mu,
        std_error=se_mu,
        statistic=float(fit.statistic[0]),
        p_value=float(fit.p_value[0]),
        ci_low=float(fit.ci_low[0]),
        ci_high=float(fit.ci_high[0]),
        df_resid=fit.df_resid,
        tau2=fit.tau2,
        tau2_se=fit.tau2_se,
        tau=float(np.sqrt(fit.tau2)),
        i2=fit.i2,
        h2=fit.h2,
        q=fit.qe,
        q_df=fit.qe_df,
        q_pvalue=fit.qe_pvalue,
        pi_low=mu - fit.crit * se_pred,
        pi_high=mu + fit.crit * se_pred,
        k=k,
        method=method_l,
        knapp_hartung=bool(knapp_hartung),
        alpha=alpha_f,
        labels=tuple(labels),
        study_estimates=tuple(float(x) for x in y),
        study_std_errors=tuple(float(x) for x in se),
        weights=tuple(float(x) for x in w / w.sum()),
        label=label,
        specification=spec,
    )
