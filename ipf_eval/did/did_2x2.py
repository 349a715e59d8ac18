"""The classic two-group, two-period difference-in-differences with cluster-robust standard errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options, warn_few_clusters
from ipf_eval.did._did_inputs import PanelInput, check_name, check_names, prepare_panel
from ipf_eval.did._fe_regression import t_inference, tidy_table
from ipf_eval.disclosure.local_log import record_details
from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["DiD2x2Result", "did_2x2"]


@dataclass(frozen=True, eq=False)
class DiD2x2Result(ResultMixin):
    """Result of :func:`did_2x2`.

    Attributes
    ----------
    term
        Name of the interaction term holding the DiD effect (``f"{treatname}_x_post"``).
    estimate, std_error, statistic, p_value, ci_low, ci_high
        The DiD effect and its inference (Student's t with ``n_clusters - 1`` df).
    coefficients
        Tidy table of every coefficient of the regression.
    cell_means
        Mean outcome and row count per group (``treated`` 0/1) and period (``pre``/``post``).
    vcov
        Cluster-robust covariance of the coefficients (order of ``coefficients``).
    pre, post
        The two periods compared.
    n_obs, n_units, n_clusters, cluster, alpha, outcome, specification
        Sample sizes and settings.
    """

    term: str
    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    coefficients: pd.DataFrame
    cell_means: pd.DataFrame
    vcov: np.ndarray
    pre: int
    post: int
    n_obs: int
    n_units: int
    n_clusters: int
    cluster: str
    alpha: float
    outcome: str
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table: one row per coefficient, with ``outcome``."""
        return self.coefficients.copy()

    def summary(self) -> Summary:
        """Return the printable summary (text, HTML, LaTeX)."""
        facts = (
            ("Outcome", self.outcome),
            ("Periods", f"pre = {self.pre}, post = {self.post}"),
            ("Observations", f"{self.n_obs}"),
            ("Firms", f"{self.n_units}"),
            ("Clusters", f"{self.n_clusters} (by {self.cluster!s})"),
            ("SE convention", "cluster-robust, G/(G-1) x (N-1)/(N-K) (statsmodels default)"),
            ("Intervals", f"{100 * (1 - self.alpha):g}%, Student t with {self.n_clusters - 1} df"),
        )
        return Summary(title="Two-group, two-period DiD", facts=facts,
                       table=self.coefficients.loc[:, ["term", "estimate", "std_error", "statistic",
                                                       "p_value",
                                                       "ci_low", "ci_high"]])

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot mean outcomes of both groups in both periods and the treated group's counterfactual."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        cm = self.cell_means.set_index(["treated", "period"])["mean"]
        xs = [0, 1]
        treated = [cm[(1, "pre")], cm[(1, "post")]]
        control = [cm[(0, "pre")], cm[(0, "post")]]
        ax.plot(xs, treated, marker="o", label="supported", **kwargs)
        ax.plot(xs, control, marker="o", label="comparison", **kwargs)
        ax.plot(xs, [treated[0], treated[0] + control[1] - control[0]], linestyle="--", color="grey",
                label="supported, counterfactual")
        ax.set_xticks(xs, labels=[str(self.pre), str(self.post)])
        ax.set_ylabel(f"mean {self.outcome}")
        ax.set_title(f"DiD = {self.estimate:.4g} (SE {self.std_error:.3g})")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "estimator": "did_2x2", "term": self.term, "estimate": self.estimate,
            "std_error": self.std_error, "coefficients": self.coefficients, "cell_means": self.cell_means,
            "vcov": self.vcov, "pre": self.pre, "post": self.post, "n_obs": self.n_obs,
            "n_units": self.n_units, "n_clusters": self.n_clusters, "cluster": self.cluster,
            "alpha": self.alpha, "specification": self.specification.to_dict(),
        })


def _check_period(value: object, *, parameter: str, periods: np.ndarray, tname: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SpecificationError(f"did_2x2({parameter}=...) must be an integer period; got {value!r}")
    if int(value) not in set(periods.tolist()):
        raise DataError(
            f"did_2x2({parameter}={value!r}): period not in column {tname!r}; periods in the data: "
            f"{sorted(periods.tolist())!r}"
        )
    return int(value)


@keyword_options
def did_2x2(
    data: PanelInput,
    *,
    yname: str,
    tname: str,
    idname: str,
    treatname: str,
    pre: int,
    post: int,
    covariates: Sequence[str] | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
) -> DiD2x2Result:
    r"""Estimate the two-group, two-period difference in differences by OLS.

    Parameters
    ----------
    data
        Firm panel (one row per firm and period) or a ``ValidatedPanel``; only rows of periods ``pre`` and
        ``post`` are used, and firms need not be observed in both.
    yname, tname, idname
        Outcome, integer period and firm id columns.
    treatname
        0/1 group indicator: 1 for firms supported between ``pre`` and ``post``; constant within a firm.
    pre, post
        The period before and the period after support (``pre < post``).
    covariates
        Numeric regressors added linearly.
    cluster
        Column defining the clusters; default ``idname``.
    alpha
        One minus the confidence level.

    Returns
    -------
    DiD2x2Result
        Frozen result with the regression table and the four cell means.

    Raises
    ------
    SpecificationError
        If ``pre >= post``, an option is unknown or an argument has the wrong type.
    DataError
        If a period is not in the data, the outcome is constant, ``treatname`` is not 0/1 or varies within a
        firm.
    EstimationError
        If a group has no rows in one of the periods (no treated or no comparison firms), the design is
        singular, or there are fewer than two clusters.

    Warns
    -----
    EstimationWarning
        With fewer than :data:`~ipf_eval._defaults.MIN_CLUSTERS` (20) clusters.

    Notes
    -----
    The regression

    .. math:: Y_{it} = \beta_0 + \beta_1 \mathit{Treat}_i + \beta_2 \mathit{Post}_t
              + \delta\, \mathit{Treat}_i \mathit{Post}_t + X_{it}'\gamma + \varepsilon_{it}

    is saturated in the four cells when there are no covariates, so

    .. math:: \hat\delta = (\bar Y_{1,post} - \bar Y_{1,pre}) - (\bar Y_{0,post} - \bar Y_{0,pre}),

    which identifies the average effect on the supported firms,
    :math:`E[Y_{post}(1) - Y_{post}(0) \mid Treat = 1]`, under parallel trends and no anticipation.
    Standard errors are cluster-robust (statsmodels, with the factor :math:`\frac{G}{G-1}\frac{N-1}{N-K}`,
    :math:`K` the number of coefficients); intervals use Student's t with :math:`G-1` df.

    References
    ----------
    Angrist, J. D. and Pischke, J.-S. (2009). *Mostly Harmless Econometrics*, ch. 5. Princeton University
    Press.

    Examples
    --------
    >>> res = did_2x2(panel, yname="lemp", tname="year", idname="countyreal", treatname="treat",
    ...               pre=2003, post=2007)  # doctest: +SKIP
    """
    fn = "did_2x2"
    for parameter, value, optional in (("yname", yname, False), ("tname", tname, False),
                                       ("idname", idname, False), ("treatname", treatname, False),
                                       ("cluster", cluster, True)):
        check_name(value, function=fn, parameter=parameter, optional=optional)
    covs = check_names(covariates, function=fn, parameter="covariates")
    check_alpha(alpha, function=fn)
    cluster_col = idname if cluster is None else cluster
    prepared = prepare_panel(data, function=fn, idname=idname, tname=tname, ynames=(yname,),
                             covariates=covs, clustervars=(cluster_col,), extra_columns=(treatname,))
    frame = prepared.frame
    periods = frame[tname].unique()
    pre_p = _check_period(pre, parameter="pre", periods=periods, tname=tname)
    post_p = _check_period(post, parameter="post", periods=periods, tname=tname)
    if pre_p >= post_p:
        raise SpecificationError(f"did_2x2() needs pre < post; got pre={pre!r}, post={post!r}")
    sub = frame.loc[frame[tname].isin([pre_p, post_p])]
    raw = sub[treatname]
    values = pd.unique(raw.dropna())
    if raw.isna().any() or not set(np.asarray(values, dtype=object).tolist()) <= {0, 1}:
        log = record_details(f"did_2x2(): values of {treatname!r} that are not 0/1", columns=treatname,
                             values=sorted(map(repr, values)))
        raise DataError(
            f"treatname column {treatname!r} must be a 0/1 (or boolean) group indicator with no missing "
            f"values; it holds {len(values)} distinct value(s) and {int(raw.isna().sum())} missing "
            f"(the values are {'listed in the local log ' + repr(str(log)) if log else 'not listed'}); "
            f"check with frame[{treatname!r}].value_counts() and recode it"
        )
    treat = raw.to_numpy(dtype=np.float64)
    varies = pd.Series(treat).groupby(sub[idname].to_numpy()).nunique()
    if (varies > 1).any():
        example = list(varies.index[varies > 1][:3])
        raise DataError(
            f"treatname column {treatname!r} changes within firm(s) {example!r} between pre={pre_p} and "
            f"post={post_p}; it must mark the supported group (constant within a firm); if it is a "
            f"treated-and-post indicator, use groupby({idname!r})[{treatname!r}].transform('max')"
        )
    post_ind = (sub[tname].to_numpy() == post_p).astype(np.float64)
    y = sub[yname].to_numpy(dtype=np.float64)
    counts = pd.crosstab(treat, post_ind).reindex(index=[0.0, 1.0], columns=[0.0, 1.0], fill_value=0)
    if (counts.to_numpy() == 0).any():
        empty = [f"{'supported' if g else 'comparison'} firms in {pre_p if not p else post_p}"
                 for g in (0, 1) for p in (0, 1) if counts.iloc[g, p] == 0]
        raise EstimationError(
            f"did_2x2(): no rows for {empty!r}; the comparison needs supported (treatname=1) and comparison "
            "(treatname=0) firms observed in both periods"
        )
    effect = f"{treatname}_x_post"
    names = ["const", treatname, "post", effect, *covs]
    design = np.column_stack([np.ones_like(y), treat, post_ind, treat * post_ind,
                              *(sub[c].to_numpy(dtype=np.float64) for c in covs)])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise EstimationError(
            f"did_2x2(): the design {names!r} is singular (a covariate is constant or collinear with the "
            "group and period indicators); drop it"
        )
    clus_codes, clus_levels = pd.factorize(sub[cluster_col].to_numpy())
    n_clusters = len(clus_levels)
    if n_clusters < 2:
        raise EstimationError(
            f"did_2x2(): cluster-robust standard errors need at least 2 clusters; {cluster_col!r} has "
            f"{n_clusters}; cluster on another variable"
        )
    warn_few_clusters(n_clusters, function="did_2x2", column=cluster_col)
    import statsmodels.api as sm  # imported here: it costs about a second at package import

    ols = sm.OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": clus_codes}, use_t=True)
    params = np.asarray(ols.params)
    vcov = np.asarray(ols.cov_params())
    inf = t_inference(params, np.sqrt(np.diag(vcov)), n_clusters - 1, alpha)
    coefficients = tidy_table(names, inf, {"outcome": yname})
    cell = (pd.DataFrame({"treated": treat.astype(int), "period": np.where(post_ind == 1, "post", "pre"),
                          "y": y})
            .groupby(["treated", "period"]).agg(mean=("y", "mean"), n_rows=("y", "size")).reset_index())
    row = {k: float(v[3]) for k, v in inf.items()}
    spec = Specification(
        estimator=fn,
        arguments={"yname": yname, "tname": tname, "idname": idname, "treatname": treatname, "pre": pre_p,
                   "post": post_p, "covariates": list(covs), "cluster": cluster, "alpha": alpha},
        n_obs=len(y), n_units=int(sub[idname].nunique()), dropped=prepared.dropped,
    )
    return DiD2x2Result(
        term=effect, estimate=float(row["estimate"]), std_error=float(row["std_error"]),
        statistic=float(row["statistic"]), p_value=float(row["p_value"]), ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]), coefficients=coefficients, cell_means=cell, vcov=vcov, pre=pre_p,
        post=post_p, n_obs=len(y), n_units=int(sub[idname].nunique()), n_clusters=n_clusters,
        cluster=cluster_col, alpha=float(alpha), outcome=yname, specification=spec,
    )
