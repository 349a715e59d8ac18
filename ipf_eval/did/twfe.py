"""Two-way fixed-effects (TWFE) difference-in-differences with cluster-robust standard errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options, warn_few_clusters
from ipf_eval.did._demean import factorize
from ipf_eval.did._did_inputs import PanelInput, check_name, check_names, prepare_panel
from ipf_eval.did._fe_regression import (
    DF_DESCRIPTIONS,
    check_df_correction,
    fit_fe_ols,
    t_inference,
    tidy_table,
)
from ipf_eval.disclosure.local_log import record_details
from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["TWFEResult", "twfe"]


@dataclass(frozen=True, eq=False)
class TWFEResult(ResultMixin):
    """Result of :func:`twfe`: the treatment coefficient, covariate coefficients and their covariance.

    Attributes
    ----------
    term
        Name of the treatment term (the ``treatname`` column, or ``f"{gname}_post"``).
    estimate, std_error, statistic, p_value, ci_low, ci_high
        The treatment coefficient and its inference (Student's t with ``n_clusters - 1`` df).
    coefficients
        Tidy table of every coefficient (treatment first, then covariates).
    vcov
        Cluster-robust covariance matrix, in the order of ``coefficients``.
    n_obs, n_units, n_periods, n_clusters
        Sample sizes.
    cluster
        The clustering column.
    df_correction, correction_factor
        Small-sample convention and the factor it multiplied the sandwich by.
    alpha
        One minus the confidence level.
    outcome
        The outcome column.
    specification
        What produced the result.
    """

    term: str
    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    coefficients: pd.DataFrame
    vcov: np.ndarray
    n_obs: int
    n_units: int
    n_periods: int
    n_clusters: int
    cluster: str
    df_correction: str
    correction_factor: float
    alpha: float
    outcome: str
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table: one row per coefficient, with ``outcome``."""
        return self.coefficients.copy()

    def summary(self) -> Summary:
        """Return the printable summary (text, HTML, LaTeX)."""
        level = f"{100 * (1 - self.alpha):g}%"
        facts = (
            ("Outcome", self.outcome),
            ("Fixed effects", "firm and period (absorbed)"),
            ("Observations", f"{self.n_obs}"),
            ("Firms / periods", f"{self.n_units} / {self.n_periods}"),
            ("Clusters", f"{self.n_clusters} (by {self.cluster!s})"),
            ("SE convention", f"{self.df_correction}: {DF_DESCRIPTIONS[self.df_correction]}"),
            ("Intervals", f"{level}, Student t with {self.n_clusters - 1} df"),
        )
        table = self.coefficients.loc[:, ["term", "estimate", "std_error", "statistic", "p_value",
                                          "ci_low", "ci_high"]]
        notes = ("Under staggered adoption with effects that vary over time or across cohorts, the TWFE "
                 "coefficient is a weighted average of 2x2 comparisons, some using already-treated firms as "
                 "controls (negative weights); see bacon_decomposition() and event_study().",)
        return Summary(title="Two-way fixed-effects DiD", facts=facts, table=table, notes=notes)

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot each coefficient with its confidence interval; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        frame = self.coefficients
        ypos = np.arange(len(frame))[::-1]
        ax.errorbar(frame["estimate"], ypos,
                    xerr=[frame["estimate"] - frame["ci_low"], frame["ci_high"] - frame["estimate"]],
                    fmt="o", capsize=3, **kwargs)
        ax.axvline(0.0, color="grey", linewidth=0.8)
        ax.set_yticks(ypos, labels=list(frame["term"]))
        ax.set_xlabel(f"coefficient ({100 * (1 - self.alpha):g}% CI)")
        ax.set_title(f"TWFE: {self.outcome}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "estimator": "twfe",
            "term": self.term,
            "estimate": self.estimate,
            "std_error": self.std_error,
            "coefficients": self.coefficients,
            "vcov": self.vcov,
            "n_obs": self.n_obs,
            "n_units": self.n_units,
            "n_periods": self.n_periods,
            "n_clusters": self.n_clusters,
            "cluster": self.cluster,
            "df_correction": self.df_correction,
            "correction_factor": self.correction_factor,
            "alpha": self.alpha,
            "specification": self.specification.to_dict(),
        })


def treatment_from_cohort(g: np.ndarray, t: np.ndarray) -> np.ndarray:
    r"""Return :math:`D_{it} = 1\{g_i > 0,\ t \ge g_i\}` as float."""
    return ((g > 0) & (t >= g)).astype(np.float64)


@keyword_options
def twfe(
    data: PanelInput,
    *,
    yname: str,
    tname: str,
    idname: str,
    treatname: str | None = None,
    gname: str | None = None,
    covariates: Sequence[str] | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    df_correction: str = "nested",
    alpha: float = 0.05,
) -> TWFEResult:
    r"""Estimate the two-way fixed-effects DiD regression with cluster-robust standard errors.

    Parameters
    ----------
    data
        Firm panel (one row per firm and period) or a ``ValidatedPanel``.
    yname, tname, idname
        Outcome, integer period and firm id columns.
    treatname
        A 0/1 column :math:`D_{it}` (1 when firm *i* is supported in period *t*).  Give exactly one of
        ``treatname`` and ``gname``.
    gname
        First period of support (0 or missing: never supported); the treatment is then
        :math:`D_{it} = 1\{g_i > 0,\ t \ge g_i\}` and its term is named ``f"{gname}_post"``.  Firms
        supported in or before the first period are kept (treated throughout, as in a plain regression);
        support after the last period counts as never supported.
    covariates
        Additional regressors (numeric columns), entered linearly.  Time-invariant ones are absorbed by the
        firm effects and rejected as collinear.
    weights
        Column of sampling weights (weighted least squares; non-negative and constant within a firm, as
        :func:`~ipf_eval.data.contract.validate_panel` requires), or ``None``.
    cluster
        Column defining the clusters; default ``idname`` (clustering by firm).
    df_correction
        Small-sample factor of the cluster-robust variance: ``"nested"`` (default, fixest's),
        ``"full"`` (statsmodels/Stata with explicit dummies), ``"absorbed"`` (linearmodels' PanelOLS
        default) or ``"none"``; see Notes.
    alpha
        One minus the confidence level of the intervals.

    Returns
    -------
    TWFEResult
        Frozen result; ``to_frame()`` names terms after their columns.

    Raises
    ------
    SpecificationError
        If both or neither of ``treatname``/``gname`` are given, an option is not an allowed value, or an
        option is unknown.
    DataError
        If a column is missing or not numeric, the outcome is constant, a weight is zero, negative or
        infinite, or ``treatname`` is not 0/1.
    EstimationError
        If no observation is treated or none untreated, the treatment is collinear with the fixed effects
        (singular design), or there are fewer than two clusters.

    Warns
    -----
    EstimationWarning
        With fewer than :data:`~ipf_eval._defaults.MIN_CLUSTERS` (20) clusters.

    Notes
    -----
    The model is

    .. math:: Y_{it} = \alpha_i + \lambda_t + \beta D_{it} + X_{it}'\gamma + \varepsilon_{it},

    and :math:`\hat\beta` is the least-squares coefficient after partialling out the firm and period
    effects (Frisch-Waugh-Lovell).  Under staggered adoption :math:`\hat\beta` equals a variance-weighted
    average of all 2x2 DiD comparisons (Goodman-Bacon, 2021), including comparisons of later-treated with
    already-treated firms; with effects that change over time some group-time effects receive negative
    weights (de Chaisemartin and D'Haultfœuille, 2020), so :math:`\hat\beta` need not lie between the
    smallest and largest true effect.  Use :func:`ipf_eval.did.bacon.bacon_decomposition` to diagnose it and
    :func:`ipf_eval.did.sun_abraham.event_study` (or ``att_gt``) to estimate effects robust to it.

    *Implementation.*  The firm and period effects are removed exactly in one pass for balanced and
    unbalanced panels (a within transformation by firm, then a projection on the firm-demeaned period
    dummies through a :math:`T \times T` system), and the few remaining regressors are solved by ordinary
    normal equations with a sandwich written in numpy.  This avoids dummy matrices and iterative demeaning
    (no convergence tolerance to tune) and keeps memory at a few columns of the panel, which is what makes
    10-million-row panels fast; tests check it against statsmodels OLS with explicit dummies and
    linearmodels' ``PanelOLS`` to 1e-10.

    *Degrees of freedom.*  The cluster-robust variance
    :math:`c\,(\ddot X'W\ddot X)^{-1}\sum_g \hat s_g\hat s_g'(\ddot X'W\ddot X)^{-1}` uses, with
    :math:`N` rows, :math:`G` clusters and :math:`k` regressors: ``"nested"``
    :math:`c = \frac{G}{G-1}\frac{N-1}{N-K}` with :math:`K = k` plus the levels of fixed effects not nested
    in the clusters (with firm clusters :math:`K = k + T`; fixest's default); ``"full"`` the same with
    :math:`K = k + n_{firms} + T - 1`; ``"absorbed"`` :math:`c = N/(N-K)` with that full :math:`K`; ``"none"``
    :math:`c = 1`.  On mpdta (``lemp`` on the derived treatment, clustered by county) these give 0.013265,
    0.014832, 0.014820 and 0.013239.  p-values and intervals use Student's t with :math:`G-1` df.

    References
    ----------
    Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing. *Journal of
    Econometrics*, 225(2), 254-277.

    de Chaisemartin, C. and D'Haultfœuille, X. (2020). Two-way fixed effects estimators with heterogeneous
    treatment effects. *American Economic Review*, 110(9), 2964-2996.

    Examples
    --------
    >>> res = twfe(panel, yname="lemp", tname="year", idname="countyreal",
    ...            gname="first.treat")  # doctest: +SKIP
    >>> res.to_frame()  # doctest: +SKIP
    """
    fn = "twfe"
    for parameter, value, optional in (("yname", yname, False), ("tname", tname, False),
                                       ("idname", idname, False), ("treatname", treatname, True),
                                       ("gname", gname, True), ("weights", weights, True),
                                       ("cluster", cluster, True)):
        check_name(value, function=fn, parameter=parameter, optional=optional)
    covs = check_names(covariates, function=fn, parameter="covariates")
    if (treatname is None) == (gname is None):
        raise SpecificationError(
            f"twfe() needs exactly one of treatname= (a 0/1 treatment column) and gname= (first period of "
            f"support); got treatname={treatname!r}, gname={gname!r}"
        )
    check_df_correction(df_correction, function=fn)
    check_alpha(alpha, function=fn)
    cluster_col = idname if cluster is None else cluster
    prepared = prepare_panel(
        data, function=fn, idname=idname, tname=tname, ynames=(yname,), gname=gname, covariates=covs,
        weightsname=weights, clustervars=(cluster_col,),
        extra_columns=(treatname,) if treatname is not None else (), already_supported="keep",
    )
    frame = prepared.frame
    t = frame[tname].to_numpy()
    if treatname is not None:
        raw = frame[treatname]
        values = pd.unique(raw.dropna())
        if raw.isna().any() or not set(np.asarray(values, dtype=object).tolist()) <= {0, 1}:
            log = record_details(f"twfe(): values of {treatname!r} that are not 0/1", columns=treatname,
                                 values=sorted(map(repr, values)))
            raise DataError(
                f"treatname column {treatname!r} must be 0/1 (or boolean) with no missing values; it holds "
                f"{len(values)} distinct value(s) and {int(raw.isna().sum())} missing (the values are "
                f"{'listed in the local log ' + repr(str(log)) if log else 'not listed'}); recode it, or "
                "pass gname= with the first period of support instead"
            )
        d = raw.to_numpy(dtype=np.float64)
        term = treatname
    else:
        gcol = str(gname)
        d = treatment_from_cohort(frame[gcol].to_numpy(), t)
        term = f"{gcol}_post"
    n_treated = int(d.sum())
    if n_treated == 0 or n_treated == d.size:
        which = "treated" if n_treated == 0 else "untreated"
        raise EstimationError(
            f"twfe(): no {which} observations ({n_treated} of {d.size} rows have {term!r} = 1); the effect "
            "is not identified; add comparison firms or check the treatment coding"
        )
    unit, n_units = factorize(frame[idname])
    time, n_periods = factorize(t)
    if cluster_col == idname:
        clus, n_clusters = unit, n_units
    else:
        clus, n_clusters = factorize(frame[cluster_col])
    w = None if weights is None else frame[weights].to_numpy(dtype=np.float64)
    x = np.column_stack([d, *(frame[c].to_numpy(dtype=np.float64) for c in covs)])
    fit = fit_fe_ols(frame[yname].to_numpy(dtype=np.float64), x, (term, *covs), unit=unit, n_units=n_units,
                     time=time, n_periods=n_periods, cluster=clus, n_clusters=n_clusters,
                     cluster_is_unit=cluster_col == idname, weights=w, df_correction=df_correction)
    warn_few_clusters(n_clusters, function="twfe", column=cluster_col)
    se = np.sqrt(np.diag(fit.vcov))
    inf = t_inference(fit.coef, se, n_clusters - 1, alpha)
    coefficients = tidy_table(fit.names, inf, {"outcome": yname})
    first = {k: float(v[0]) for k, v in inf.items()}
    spec = Specification(
        estimator=fn,
        arguments={"yname": yname, "tname": tname, "idname": idname, "treatname": treatname, "gname": gname,
                   "covariates": list(covs), "weights": weights, "cluster": cluster,
                   "df_correction": df_correction, "alpha": alpha},
        n_obs=fit.n_obs, n_units=n_units, dropped=prepared.dropped,
    )
    return TWFEResult(
        term=term, estimate=float(first["estimate"]), std_error=float(first["std_error"]),
        statistic=float(first["statistic"]), p_value=float(first["p_value"]), ci_low=float(first["ci_low"]),
        ci_high=float(first["ci_high"]), coefficients=coefficients, vcov=fit.vcov, n_obs=fit.n_obs,
        n_units=n_units, n_periods=n_periods, n_clusters=n_clusters, cluster=cluster_col,
        df_correction=df_correction, correction_factor=fit.correction, alpha=float(alpha), outcome=yname,
        specification=spec,
    )
