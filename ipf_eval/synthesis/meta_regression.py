"""Mixed-effects meta-regression of per-country estimates on country characteristics: :func:`meta_regression`.

Validated against R metafor's ``rma(yi, vi, mods = ...)`` (see ``tests/test_meta_regression.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import check_alpha, check_numbers_not_text, keyword_options
from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame
from ipf_eval.synthesis._common import (
    check_columns,
    check_frame,
    check_method,
    extract_effects,
    fmt,
)
from ipf_eval.synthesis._rma import check_design, fit_rma

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MetaRegressionResult", "WaldTest", "meta_regression"]


@dataclass(frozen=True, eq=False)
class WaldTest:
    """Joint test that a set of meta-regression coefficients are all zero.

    ``statistic`` is chi-square with ``df1`` df (``df2`` is ``None``), or with Knapp-Hartung an F statistic
    (the chi-square form divided by ``df1``) with ``(df1, df2)`` df.
    """

    terms: tuple[str, ...]
    statistic: float
    df1: int
    df2: int | None
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({"terms": list(self.terms), "statistic": self.statistic, "df1": self.df1,
                          "df2": self.df2, "p_value": self.p_value})


@dataclass(frozen=True, eq=False)
class MetaRegressionResult(ResultMixin):
    r"""Result of :func:`meta_regression` (frozen).

    Attributes
    ----------
    terms
        Coefficient names: ``"intercept"``, numeric moderators by column name, dummy-coded categorical
        moderators as ``"column[level]"`` (first level is the reference).
    coef, std_error, statistic, p_value, ci_low, ci_high
        Per-term estimates, standard errors, z (or t with Knapp-Hartung) statistics, p-values, intervals.
    vcov
        Covariance matrix of the coefficients (rows and columns in ``terms`` order).
    df_resid
        ``k - p`` with Knapp-Hartung, else ``None``.
    tau2, tau2_se, tau, i2, h2
        Residual heterogeneity: between-study variance not explained by the moderators, its SE (REML only),
        square root, and :math:`I^2` (proportion) / :math:`H^2` relative to the typical sampling variance.
    r2
        Pseudo-:math:`R^2 = \max(0, (\hat\tau^2_{RE} - \hat\tau^2_{ME}) / \hat\tau^2_{RE})` as a
        proportion, with :math:`\hat\tau^2_{RE}` (``tau2_re``) from the model without moderators and the
        same estimator; 0 when :math:`\hat\tau^2_{RE} = 0` (nothing left to explain).  With
        ``method="fe"``: :math:`\max(0, \bar R^2)`, the adjusted :math:`R^2` of the weighted least
        squares fit with weights :math:`1/v_i`.  Both as R metafor's ``rma()`` (3.8 and 4.x).
    qe, qe_df, qe_pvalue
        Test for residual heterogeneity (``k - p`` df).
    qm, qm_df1, qm_df2, qm_pvalue
        Omnibus test of all moderators (every term except the intercept): chi-square on ``qm_df1`` df, or F
        on ``(qm_df1, qm_df2)`` df with Knapp-Hartung.
    """

    terms: tuple[str, ...]
    coef: tuple[float, ...]
    std_error: tuple[float, ...]
    statistic: tuple[float, ...]
    p_value: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    vcov: tuple[tuple[float, ...], ...]
    df_resid: int | None
    tau2: float
    tau2_se: float
    tau: float
    i2: float
    h2: float
    r2: float
    tau2_re: float
    qe: float
    qe_df: int
    qe_pvalue: float
    qm: float
    qm_df1: int
    qm_df2: int | None
    qm_pvalue: float
    k: int
    method: str
    knapp_hartung: bool
    alpha: float
    moderators: tuple[str, ...]
    labels: tuple[str, ...]
    specification: Specification

    def wald_test(self, terms: Sequence[str]) -> WaldTest:
        """Test jointly that the coefficients of ``terms`` are zero (metafor's ``btt``).

        Parameters
        ----------
        terms
            Names from :attr:`terms`, e.g. ``["alloc[random]", "alloc[systematic]"]`` to test a factor.

        Returns
        -------
        WaldTest
            Chi-square (or, with Knapp-Hartung, F) statistic, degrees of freedom and p-value.

        Raises
        ------
        SpecificationError
            ``terms`` is empty or names a term that is not in the model.
        """
        names = [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in names if t not in self.terms]
        if not names or unknown:
            raise SpecificationError(
                f"terms of wald_test() must be a non-empty list of model terms {list(self.terms)!r}; "
                f"unknown: {unknown!r}"
            )
        idx = [self.terms.index(t) for t in names]
        b = np.asarray(self.coef)[idx]
        V = np.asarray(self.vcov)[np.ix_(idx, idx)]
        chi2 = float(b @ np.linalg.solve(V, b))
        m = len(idx)
        if self.df_resid is None:
            return WaldTest(tuple(names), chi2, m, None, float(stats.chi2.sf(chi2, m)))
        f = chi2 / m
        return WaldTest(tuple(names), f, m, self.df_resid, float(stats.f.sf(f, m, self.df_resid)))

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with one row per term (``term`` named as in :attr:`terms`) and a ``df`` column."""
        rows = [
            {"term": t, "estimate": b, "std_error": s, "statistic": z, "p_value": p, "ci_low": lo,
             "ci_high": hi, "df": self.df_resid}
            for t, b, s, z, p, lo, hi in zip(self.terms, self.coef, self.std_error, self.statistic,
                                             self.p_value, self.ci_low, self.ci_high, strict=True)
        ]
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (coefficients, heterogeneity, tests, specification)."""
        return json_safe({
            "coefficients": self.to_frame().to_dict(orient="records"),
            "tau2": self.tau2, "tau2_se": self.tau2_se, "tau": self.tau, "i2": self.i2, "h2": self.h2,
            "r2": self.r2, "tau2_re": self.tau2_re, "qe": self.qe, "qe_df": self.qe_df,
            "qe_pvalue": self.qe_pvalue, "qm": self.qm, "qm_df1": self.qm_df1, "qm_df2": self.qm_df2,
            "qm_pvalue": self.qm_pvalue, "k": self.k, "method": self.method,
            "knapp_hartung": self.knapp_hartung, "alpha": self.alpha, "moderators": list(self.moderators),
            "specification": self.specification.to_dict(),
        })

    def summary(self) -> Summary:
        """Printable summary: residual heterogeneity, the two Q tests and the coefficient table."""
        qm_label = (f"QM F(df1 = {self.qm_df1}, df2 = {self.qm_df2})" if self.qm_df2 is not None
                    else f"QM(df = {self.qm_df1})")
        facts = (
            ("Studies (k)", str(self.k)),
            ("tau² estimator", self.method.upper()),
            ("Residual tau² (SE)", f"{fmt(self.tau2)} ({fmt(self.tau2_se)})"),
            ("I² (residual)", f"{100 * self.i2:.2f}%"),
            ("H² (residual)", f"{self.h2:.2f}"),
            ("Pseudo-R²", "" if not np.isfinite(self.r2) else f"{100 * self.r2:.2f}%"),
            (f"QE(df = {self.qe_df})", f"{self.qe:.4f}, p = {fmt(self.qe_pvalue)}"),
            (qm_label, f"{self.qm:.4f}, p = {fmt(self.qm_pvalue)}"),
        )
        return Summary(title=f"Mixed-effects meta-regression ({self.k} estimates)", facts=facts,
                       table=self.to_frame(),
                       notes=(f"Intervals at {100 * (1 - self.alpha):g}%; categorical moderators are "
                              "dummy-coded against their first level.",))

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """Coefficient plot of the moderators (intercept omitted) with their confidence intervals.

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
            _, ax = plt.subplots(figsize=(6, 0.5 * len(self.terms) + 1.5))
        names = list(self.terms[1:])
        pos = np.arange(len(names), 0, -1, dtype=float)
        b = np.asarray(self.coef[1:])
        ax.hlines(pos, np.asarray(self.ci_low[1:]), np.asarray(self.ci_high[1:]), color="black")
        ax.scatter(b, pos, color="black", zorder=3)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_yticks(pos.tolist())
        ax.set_yticklabels(names)
        ax.set_xlabel("Coefficient")
        return ax


def _design(effects: pd.DataFrame, moderators: list[str],
            labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Build the design matrix: intercept, numeric moderators as is, categoricals dummy-coded."""
    columns = [np.ones(len(effects))]
    names = ["intercept"]
    for col in moderators:
        series = effects[col]
        missing = series.isna().to_numpy()
        if missing.any():
            examples = [labels[i] for i in np.flatnonzero(missing)[:5]]
            raise DataError(
                f"moderator column {col!r} has {int(missing.sum())} missing value(s) (studies {examples!r}); "
                "drop those studies or impute the moderator before the meta-regression"
            )
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float)
            if not np.isfinite(values).all():
                raise DataError(f"moderator column {col!r} has non-finite values; replace them")
            columns.append(values)
            names.append(str(col))
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            observed = set(series.tolist())
            levels = [c for c in series.cat.categories.tolist() if c in observed]
        else:
            levels = sorted(set(series.tolist()), key=lambda x: (str(type(x)), x))
        if len(levels) < 2:
            raise EstimationError(
                f"categorical moderator {col!r} takes a single value {levels!r} across the studies, so its "
                "effect cannot be estimated; drop it from moderators"
            )
        for level in levels[1:]:
            columns.append((series == level).to_numpy(dtype=float))
            names.append(f"{col}[{level}]")
    return np.column_stack(columns), names


@keyword_options
def meta_regression(
    effects: pd.DataFrame,
    *,
    moderators: str | Sequence[str],
    estimate: str = "estimate",
    std_error: str = "std_error",
    label: str | None = "country",
    method: Literal["reml", "dl", "pm", "fe"] = "reml",
    knapp_hartung: bool = False,
    alpha: float = 0.05,
) -> MetaRegressionResult:
    r"""Mixed-effects meta-regression of per-study estimates on study-level moderators.

    Parameters
    ----------
    effects
        One row per study (country) with estimate, standard error and moderator columns; never modified.
    moderators
        Column name(s) of the moderators.  Numeric columns enter linearly under their own name; other
        columns (strings, booleans, categoricals) are dummy-coded with the first level as reference (the
        first category of a pandas Categorical, else the smallest value in sorted order, as R's
        ``factor``), the dummies named ``"column[level]"`` (patsy/formulaic style without ``T.``).
    estimate, std_error, label
        Columns with the estimates, their standard errors and study labels (``label=None`` numbers them).
    method
        Estimator of the residual between-study variance: ``"reml"`` (default), ``"dl"``, ``"pm"`` or
        ``"fe"`` (no residual heterogeneity).
    knapp_hartung
        Knapp-Hartung variance and t / F tests with ``k - p`` denominator df (metafor ``test="knha"``).
    alpha
        Significance level of the intervals.

    Returns
    -------
    MetaRegressionResult
        Coefficients (``to_frame()`` has one row per term: ``intercept``, then the moderator terms),
        residual heterogeneity, QE and QM tests, pseudo-:math:`R^2`; ``wald_test()`` for subsets of terms.

    Raises
    ------
    DataError
        ``effects`` not a DataFrame (or with duplicated column labels), missing or non-numeric estimate
        columns, bad standard errors, a moderator column that is missing, has missing values or holds
        numbers stored as text.
    SpecificationError
        Fewer than two studies, no moderators, an unknown ``method``, bad ``alpha``, or as many
        coefficients (intercept plus moderator terms) as studies: the model needs ``k - p >= 1``.
    EstimationError
        The design is rank deficient (a constant or collinear moderator, a categorical moderator with a
        single level).

    Notes
    -----
    Model: :math:`y_i = x_i'\beta + u_i + e_i`, :math:`u_i \sim N(0, \tau^2)`, :math:`e_i \sim N(0, v_i)`;
    the estimands are :math:`\beta` (how the mean effect varies with country characteristics) and the
    residual heterogeneity :math:`\tau^2`.  Given :math:`\hat\tau^2`,
    :math:`\hat\beta = (X'WX)^{-1}X'Wy`, :math:`W = \mathrm{diag}(1/(v_i + \hat\tau^2))`,
    :math:`\mathrm{Var}(\hat\beta) = (X'WX)^{-1}` (times :math:`s^2 = \hat e'W\hat e/(k-p)` with
    Knapp-Hartung).  :math:`\tau^2` estimators generalise those of :func:`meta_analysis`: DL
    :math:`(Q_E - (k-p))/\mathrm{tr}(P_0)`, PM the root of :math:`y'P y = k - p`, REML the root of the
    restricted score :math:`y'PPy = \mathrm{tr}(P)`, with
    :math:`P = W - WX(X'WX)^{-1}X'W`.  :math:`Q_E = y'P_0y` uses weights :math:`1/v_i`;
    :math:`Q_M = \hat\beta_2'\mathrm{Var}(\hat\beta_2)^{-1}\hat\beta_2` over the non-intercept terms.

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
    Statistical Software, 36(3), 1-48.
    Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the random-effects
    model. Journal of Educational and Behavioral Statistics, 30(3), 261-293.
    Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression with a single
    covariate. Statistics in Medicine, 22(17), 2693-2710.
    Raudenbush, S. W. (2009). Analyzing effect sizes: Random-effects models. In H. Cooper, L. V. Hedges,
    & J. C. Valentine (Eds.), The handbook of research synthesis and meta-analysis (2nd ed., pp. 295-315).

    Examples
    --------
    >>> import pandas as pd
    >>> effects = pd.DataFrame({"country": ["AT", "DE", "FI", "NL", "SE"],
    ...                         "estimate": [0.05, 0.12, 0.02, 0.09, 0.04],
    ...                         "std_error": [0.03, 0.04, 0.02, 0.05, 0.03],
    ...                         "rd_intensity": [3.1, 3.1, 2.9, 2.3, 3.4]})
    >>> res = meta_regression(effects, moderators="rd_intensity", knapp_hartung=True)
    >>> res.to_frame()["term"].tolist()
    ['intercept', 'rd_intensity']
    """
    check_frame(effects, "effects")
    method_l = check_method(method, "meta_regression")
    alpha_f = check_alpha(alpha, function="meta_regression")
    if not isinstance(knapp_hartung, (bool, np.bool_)):
        raise SpecificationError(f"knapp_hartung must be True or False, got {knapp_hartung!r}")
    mods = [moderators] if isinstance(moderators, str) else list(moderators)
    if not mods:
        raise SpecificationError(
            "moderators of meta_regression() is empty; name at least one column, or use meta_analysis() "
            "for a model without moderators"
        )
    check_columns(effects, {f"moderators[{i}]": m for i, m in enumerate(mods)}, "effects")
    check_numbers_not_text(effects, mods, function="meta_regression", role="moderator")
    y, se, labels = extract_effects(effects, estimate=estimate, std_error=std_error, label=label,
                                    frame_name="effects")
    k = len(y)
    X, names = _design(effects, mods, labels)
    p = X.shape[1]
    if k - p < 1:
        raise SpecificationError(
            f"the meta-regression has {p} coefficients (intercept + {p - 1} moderator term(s) {names[1:]!r}) "
            f"but only k={k} studies; it needs at least p + 1 = {p + 1} studies (at most k - 2 = {k - 2} "
            "moderator terms); drop moderators or merge categories"
        )
    check_design(X, names)
    v = se**2
    fit = fit_rma(y, v, X, method=method_l, knapp_hartung=bool(knapp_hartung), alpha=alpha_f)
    if method_l == "fe":
        tau2_re, r2 = 0.0, _weighted_adjusted_r2(y, X, 1.0 / v)
    else:
        tau2_re = fit_rma(y, v, np.ones((k, 1)), method=method_l, knapp_hartung=False, alpha=alpha_f).tau2
        r2 = max(0.0, (tau2_re - fit.tau2) / tau2_re) if tau2_re > 0 else 0.0
    spec = Specification(
        estimator="meta_regression",
        arguments={"moderators": mods, "estimate": estimate, "std_error": std_error, "label": label,
                   "method": method_l, "knapp_hartung": bool(knapp_hartung), "alpha": alpha_f},
        n_obs=k,
        n_units=k,
    )

    def tup(a: np.ndarray) -> tuple[float, ...]:
        return tuple(float(x) for x in a)

    return MetaRegressionResult(
        terms=tuple(names),
        coef=tup(fit.beta),
        std_error=tup(fit.se),
        statistic=tup(fit.statistic),
        p_value=tup(fit.p_value),
        ci_low=tup(fit.ci_low),
        ci_high=tup(fit.ci_high),
        vcov=tuple(tup(row) for row in fit.vcov),
        df_resid=fit.df_resid,
        tau2=fit.tau2,
        tau2_se=fit.tau2_se,
        tau=float(np.sqrt(fit.tau2)),
        i2=fit.i2,
        h2=fit.h2,
        r2=float(r2),
        tau2_re=float(tau2_re),
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_pvalue=fit.qe_pvalue,
        qm=fit.qm,
        qm_df1=fit.qm_df1,
        qm_df2=fit.qm_df2,
        qm_pvalue=fit.qm_pvalue,
        k=k,
        method=method_l,
        knapp_hartung=bool(knapp_hartung),
        alpha=alpha_f,
        moderators=tuple(mods),
        labels=tuple(labels),
        specification=spec,
    )


def _weighted_adjusted_r2(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> float:
    r"""Return :math:`\max(0, \bar R^2)` of the weighted least squares fit of ``y`` on ``X``, as R's ``lm``.

    :math:`R^2 = \mathrm{MSS}/(\mathrm{MSS} + \mathrm{RSS})` with the weighted sums of squares about the
    weighted mean of the fit, :math:`\bar R^2 = 1 - (1 - R^2)(k - 1)/(k - p)`; 0 when ``y`` is constant
    (metafor's pseudo-:math:`R^2` of an equal-effects meta-regression).
    """
    if np.ptp(y) == 0:
        return 0.0
    k, p = X.shape
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    fitted = X @ beta
    centre = float(np.sum(w * fitted) / np.sum(w))
    mss = float(np.sum(w * (fitted - centre) ** 2))
    rss = float(np.sum(w * (y - fitted) ** 2))
    r2 = mss / (mss + rss)
    return max(0.0, 1.0 - (1.0 - r2) * (k - 1) / (k - p))
