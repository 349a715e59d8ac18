"""Sun and Abraham (2021) interaction-weighted event study."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options, user_stack_level, warn_few_clusters
from ipf_eval.did._demean import factorize
from ipf_eval.did._did_inputs import PanelInput, check_name, check_names, prepare_panel
from ipf_eval.did._fe_regression import (
    DF_DESCRIPTIONS,
    check_df_correction,
    fit_fe_ols,
    t_inference,
    tidy_table,
)
from ipf_eval.errors import DataWarning, EstimationError, SpecificationError
from ipf_eval.results import DropRecord, ResultMixin, Specification, Summary, json_safe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["EventStudyResult", "event_study"]

_CONTROL_COHORTS = ("never_treated", "last_treated")


@dataclass(frozen=True, eq=False)
class EventStudyResult(ResultMixin):
    r"""Result of :func:`event_study`.

    Attributes
    ----------
    event_times
        Tidy table of the interaction-weighted effects :math:`\hat\nu_e`, one row per event time in
        ``[min_e, max_e]`` (the reference period excluded), with ``event_time`` and ``n_cohorts``.
    cohort_effects
        Tidy table of the cohort-specific effects :math:`\hat\delta_{g,e}` with ``group``, ``time``,
        ``event_time``, the cell size ``n_obs`` and the aggregation ``weight``.
    vcov
        Covariance of the event-time effects (order of ``event_times``), cohort shares held fixed.
    overall
        One-row tidy table: the average of all post-treatment cohort effects (:math:`e \ge 0`) weighted by
        cell size.
    control_cohort, reference_period, n_obs, n_units, n_clusters, cluster, df_correction, alpha, outcome
        Settings and sample sizes.
    specification
        What produced the result.
    """

    event_times: pd.DataFrame
    cohort_effects: pd.DataFrame
    vcov: np.ndarray
    overall: pd.DataFrame
    control_cohort: str
    reference_period: int
    n_obs: int
    n_units: int
    n_clusters: int
    cluster: str
    df_correction: str
    alpha: float
    outcome: str
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return the event-time effects (tidy columns, then ``event_time``, ``outcome``, ``n_cohorts``)."""
        return self.event_times.copy()

    def summary(self) -> Summary:
        """Return the printable summary (text, HTML, LaTeX)."""
        ov = self.overall.iloc[0]
        facts = (
            ("Outcome", self.outcome),
            ("Control cohort", self.control_cohort),
            ("Reference period", f"e = {self.reference_period}"),
            ("Observations", f"{self.n_obs}"),
            ("Firms", f"{self.n_units}"),
            ("Clusters", f"{self.n_clusters} (by {self.cluster!s})"),
            ("SE convention", f"{self.df_correction}: {DF_DESCRIPTIONS[self.df_correction]}; cohort shares "
                              "treated as fixed"),
            ("Overall post-treatment ATT", f"{ov['estimate']:.4f} (SE {ov['std_error']:.4f})"),
        )
        table = self.event_times.loc[:, ["event_time", "estimate", "std_error", "statistic", "p_value",
                                         "ci_low", "ci_high", "n_cohorts"]]
        return Summary(title="Sun-Abraham interaction-weighted event study", facts=facts, table=table,
                       notes=(f"Intervals: pointwise {100 * (1 - self.alpha):g}%, Student t with "
                              f"{self.n_clusters - 1} df.",))

    def uniform_band(self, *, n_draws: int = 10_000, seed: int = 0) -> pd.DataFrame:
        r"""Return a simultaneous (sup-t) band over the event times, in the tidy columns.

        Parameters
        ----------
        n_draws
            Gaussian draws used to find the critical value.
        seed
            Seed of those draws (the band is reproducible for a given seed).

        Returns
        -------
        pandas.DataFrame
            The event-time rows with ``ci_low``/``ci_high`` replaced by the band, ``ci_kind="uniform"`` and
            the ``critical_value`` used.

        Notes
        -----
        Plug-in sup-t band (Montiel Olea and Plagborg-Møller, 2019): the critical value :math:`c` is the
        :math:`1-\alpha` quantile of :math:`\max_e |Z_e|/\sqrt{V_{ee}}` for :math:`Z \sim N(0, V)`, with
        :math:`V` the estimated covariance of the event-time effects (cohort shares held fixed), so
        :math:`\hat\nu_e \pm c\,se_e` covers every :math:`\nu_e` jointly with probability
        :math:`1-\alpha` asymptotically.

        References
        ----------
        Montiel Olea, J. L. and Plagborg-Møller, M. (2019). Simultaneous confidence bands: theory,
        implementation, and an application to SVARs. *Journal of Applied Econometrics* 34(1), 1-17.
        """
        from ipf_eval.inference.bootstrap import sup_t_critical_value

        if isinstance(n_draws, bool) or not isinstance(n_draws, int) or n_draws < 100:
            raise SpecificationError(f"uniform_band(n_draws=...) must be an integer >= 100; got {n_draws!r}")
        se = np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))
        ok = se > 0
        draws = np.zeros((n_draws, se.size))
        if ok.any():
            rng = np.random.default_rng(seed)
            sub = self.vcov[np.ix_(ok, ok)]
            draws[:, ok] = rng.multivariate_normal(np.zeros(int(ok.sum())), sub, size=n_draws,
                                                   method="eigh")
        crit = sup_t_critical_value(draws, se, alpha=self.alpha)
        band = self.event_times.copy()
        band["ci_low"] = band["estimate"] - crit * band["std_error"]
        band["ci_high"] = band["estimate"] + crit * band["std_error"]
        band["ci_kind"] = "uniform"
        band["critical_value"] = crit
        return band

    def plot(self, *, ax: Axes | None = None, uniform: bool = True, seed: int = 0, **kwargs: Any) -> Axes:
        """Plot the event-time effects with pointwise intervals and (by default) the uniform sup-t band.

        The reference period is drawn at zero; ``seed`` fixes the draws of :meth:`uniform_band`.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        et = self.event_times
        e = et["event_time"].to_numpy()
        est = et["estimate"].to_numpy()
        if uniform and len(et):
            band = self.uniform_band(seed=seed)
            ax.fill_between(e, band["ci_low"].to_numpy(), band["ci_high"].to_numpy(), alpha=0.2,
                            step="mid", label=f"uniform {100 * (1 - self.alpha):.0f}% band")
        ax.errorbar(e, est, yerr=[est - et["ci_low"].to_numpy(), et["ci_high"].to_numpy() - est],
                    fmt="o", capsize=3, label="estimate", **kwargs)
        ax.plot([self.reference_period], [0.0], marker="D", color="grey", linestyle="none",
                label=f"reference (e = {self.reference_period})")
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.axvline(-0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel("periods since first support")
        ax.set_ylabel(f"effect on {self.outcome}")
        ax.set_title("Interaction-weighted event study")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "estimator": "event_study", "event_times": self.event_times,
            "cohort_effects": self.cohort_effects, "overall": self.overall, "vcov": self.vcov,
            "control_cohort": self.control_cohort, "reference_period": self.reference_period,
            "n_obs": self.n_obs, "n_units": self.n_units, "n_clusters": self.n_clusters,
            "cluster": self.cluster, "df_correction": self.df_correction, "alpha": self.alpha,
            "specification": self.specification.to_dict(),
        })


@keyword_options
def event_study(
    data: PanelInput,
    *,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    covariates: Sequence[str] | None = None,
    control_cohort: str = "never_treated",
    reference_period: int = -1,
    min_e: int | None = None,
    max_e: int | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    df_correction: str = "nested",
) -> EventStudyResult:
    r"""Estimate dynamic effects with the Sun and Abraham (2021) interaction-weighted estimator.

    Parameters
    ----------
    data
        Firm panel or ``ValidatedPanel``.
    yname, tname, idname
        Outcome, integer period and firm id columns.
    gname
        First period of support (0 for never supported).  Firms first supported after the last period are
        never supported within the sample and join the never-supported group; firms supported in or before
        the first period have no pre-support period and are dropped (with a DataWarning).
    covariates
        Numeric regressors added linearly to the regression.
    control_cohort
        ``"never_treated"``: never-supported firms are the comparison group.  ``"last_treated"``: the
        last-supported cohort (with any never-supported firms) is the comparison group, and the periods from
        its first support period on are dropped.
    reference_period
        Event time left out of the interactions (the normalisation): a pre-support event time (negative,
        default -1); every cohort must be observed there.
    min_e, max_e
        Range of event times reported.  The regression always includes every relative period of every
        cohort (leaving some out would pool them into the reference and contaminate the estimates); these
        only select what ``to_frame()`` and ``plot()`` show.
    cluster
        Column defining the clusters; default ``idname``.
    alpha
        One minus the confidence level (pointwise intervals).
    df_correction
        Small-sample convention of the cluster-robust variance, as in :func:`ipf_eval.did.twfe.twfe`
        (default ``"nested"``, fixest's).

    Returns
    -------
    EventStudyResult
        Event-time effects, cohort-specific effects with their weights, and an overall post-period average.

    Raises
    ------
    SpecificationError
        If ``control_cohort`` is not an allowed value, ``min_e > max_e``, ``reference_period`` is not a
        negative (pre-support) event time, an option is unknown, or an argument has the wrong type.
    DataError
        If the data break the panel contract or the outcome is constant.
    EstimationError
        If there are no never-supported firms (with ``"never_treated"``), fewer than two cohorts (with
        ``"last_treated"``), no supported cohort left, a cohort not observed at the reference period, or a
        singular design.

    Warns
    -----
    DataWarning
        When firms supported in or before the first period (no pre-period) are dropped.
    EstimationWarning
        With fewer than :data:`~ipf_eval._defaults.MIN_CLUSTERS` (20) clusters.

    Notes
    -----
    With cohorts :math:`g` (first support period), comparison cohort :math:`C` and reference event time
    :math:`r`, the regression is

    .. math:: Y_{it} = \alpha_i + \lambda_t + \sum_{g \notin C} \sum_{e \ne r}
              \delta_{g,e}\, 1\{G_i = g,\ t - g = e\} + X_{it}'\gamma + \varepsilon_{it},

    whose :math:`\delta_{g,e}` estimate the cohort-specific average effects
    :math:`CATT_{g,e} = E[Y_{i,g+e}(g) - Y_{i,g+e}(\infty) \mid G_i = g]` relative to period :math:`g+r`
    under parallel trends and no anticipation.  The interaction-weighted estimator is

    .. math:: \hat\nu_e = \sum_g \hat w_{g,e}\, \hat\delta_{g,e}, \qquad
              \hat w_{g,e} = \frac{n_{g,e}}{\sum_{h} n_{h,e}},

    with :math:`n_{g,e}` the number of observations of cohort :math:`g` at event time :math:`e` (the
    cohort's share among cohorts observed at :math:`e`; cohort size in a balanced panel).  Without
    covariates, in a balanced panel with never-supported controls and :math:`r = -1`,
    :math:`\hat\delta_{g,e}` equals Callaway and Sant'Anna's :math:`ATT(g, g+e)` with never-treated controls
    and universal base period, and :math:`\hat\nu_e` their dynamic aggregation.

    Standard errors: :math:`\widehat{Var}(\hat\nu_e) = \hat w_e' \hat V_\delta \hat w_e`, the delta method
    with the cohort shares treated as fixed (as fixest's ``sunab`` aggregation does; Sun and Abraham also
    give a version adding the shares' sampling variance, which is not included here), where
    :math:`\hat V_\delta` is the cluster-robust covariance of the regression.  The regression uses dense
    interaction columns: memory grows with rows times (cohorts x relative periods).

    References
    ----------
    Sun, L. and Abraham, S. (2021). Estimating dynamic treatment effects in event studies with heterogeneous
    treatment effects. *Journal of Econometrics*, 225(2), 175-199.

    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics*, 225(2), 200-230.

    Examples
    --------
    >>> es = event_study(panel, yname="lemp", tname="year", idname="countyreal",
    ...                  gname="first.treat")  # doctest: +SKIP
    >>> es.plot()  # doctest: +SKIP
    """
    fn = "event_study"
    for parameter, value, optional in (("yname", yname, False), ("tname", tname, False),
                                       ("idname", idname, False), ("gname", gname, False),
                                       ("cluster", cluster, True)):
        check_name(value, function=fn, parameter=parameter, optional=optional)
    covs = check_names(covariates, function=fn, parameter="covariates")
    if control_cohort not in _CONTROL_COHORTS:
        raise SpecificationError(
            f"event_study(control_cohort=...) must be one of {_CONTROL_COHORTS!r}; got {control_cohort!r}"
        )
    bounds: tuple[tuple[str, int | None], ...] = (
        ("reference_period", reference_period), ("min_e", min_e), ("max_e", max_e),
    )
    for bound_name, bound in bounds:
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, np.integer))):
            raise SpecificationError(f"event_study({bound_name}=...) must be an integer; got {bound!r}")
    if min_e is not None and max_e is not None and min_e > max_e:
        raise SpecificationError(f"event_study() needs min_e <= max_e; got min_e={min_e!r}, max_e={max_e!r}")
    if reference_period >= 0:
        raise SpecificationError(
            f"event_study(reference_period=...) must be a pre-support event time (a negative integer, "
            f"usually -1); got {reference_period!r}: event time 0 is the first period of support, so a "
            "reference at or after it measures effects against a period that is already affected"
        )
    check_df_correction(df_correction, function=fn)
    check_alpha(alpha, function=fn)
    cluster_col = idname if cluster is None else cluster
    prepared = prepare_panel(data, function=fn, idname=idname, tname=tname, ynames=(yname,), gname=gname,
                             covariates=covs, clustervars=(cluster_col,))
    frame = prepared.frame
    dropped = list(prepared.dropped)
    t_all = frame[tname].to_numpy(dtype=np.int64)
    g_all = frame[gname].to_numpy(dtype=np.int64)
    t_min, t_max = int(t_all.min()), int(t_all.max())
    g_all = np.where(g_all > t_max, 0, g_all)  # supported after the sample: untreated within it
    keep = np.ones(t_all.size, dtype=bool)
    always = (g_all > 0) & (g_all <= t_min)
    if always.any():
        cohorts_gone = sorted(set(g_all[always].tolist()))
        n_units_gone = int(frame.loc[always, idname].nunique())
        warnings.warn(
            f"event_study(): dropped {n_units_gone} firms of cohort(s) {cohorts_gone!r}, supported in or "
            f"before the first period {t_min} (no pre-support period to compare with)", DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped.append(DropRecord(reason="supported in or before the first period", n_rows=int(always.sum()),
                                  n_units=n_units_gone))
        keep &= ~always
    treated_cohorts = sorted(set(g_all[keep & (g_all > 0)].tolist()))
    if control_cohort == "never_treated":
        if not np.any(keep & (g_all == 0)):
            raise EstimationError(
                "event_study(control_cohort='never_treated'): no never-supported firms in the data; use "
                "control_cohort='last_treated' (the last-supported cohort as comparison group)"
            )
        control_g: int | None = None
    else:
        if len(treated_cohorts) < 2:
            raise EstimationError(
                f"event_study(control_cohort='last_treated') needs at least two supported cohorts; found "
                f"{treated_cohorts!r}; use control_cohort='never_treated'"
            )
        control_g = treated_cohorts[-1]
        late = keep & (t_all >= control_g)
        dropped.append(DropRecord(reason=f"periods from {control_g} on (last cohort is the control)",
                                  n_rows=int(late.sum())))
        keep &= ~late
        treated_cohorts = treated_cohorts[:-1]
    if not treated_cohorts:
        raise EstimationError(
            "event_study(): no supported cohort with a pre-support period remains; nothing to estimate"
        )
    sub = frame.loc[keep]
    t = t_all[keep]
    g = g_all[keep]
    if control_g is not None:
        g = np.where(g == control_g, 0, g)
    rel = np.where(g > 0, t - g, np.iinfo(np.int64).min)
    span = int(t_max - t_min + 1)
    key_rows_all = g * (2 * span + 1) + (rel + span)
    uniq, counts = np.unique(key_rows_all[g > 0], return_counts=True)
    cell_g, cell_e_all = uniq // (2 * span + 1), uniq % (2 * span + 1) - span
    observed = set(zip(cell_g.tolist(), cell_e_all.tolist(), strict=True))
    missing_ref = [c for c in treated_cohorts if (c, reference_period) not in observed]
    if missing_ref:
        raise EstimationError(
            f"event_study(): cohort(s) {missing_ref!r} are not observed at the reference event time "
            f"{reference_period!r}; choose another reference_period (e.g. -1) or drop those cohorts"
        )
    not_ref = cell_e_all != reference_period
    cell_keys = list(zip(cell_g[not_ref].tolist(), cell_e_all[not_ref].tolist(), strict=True))
    key_cells = uniq[not_ref]
    n_cell = counts[not_ref].astype(np.float64)
    if not cell_keys:
        raise EstimationError(
            f"event_study(): the supported cohorts are observed only at the reference event time "
            f"{reference_period!r}; there is no other period to estimate an effect for"
        )
    y = sub[yname].to_numpy(dtype=np.float64)
    x = np.zeros((y.size, len(cell_keys) + len(covs)))
    treated_rows = np.flatnonzero(g > 0)
    key_rows = g[treated_rows] * (2 * span + 1) + (rel[treated_rows] + span)
    pos = np.minimum(np.searchsorted(key_cells, key_rows), key_cells.size - 1)
    codes = np.where(key_cells[pos] == key_rows, pos, -1)
    has_col = codes >= 0
    x[treated_rows[has_col], codes[has_col]] = 1.0
    for j, c in enumerate(covs):
        x[:, len(cell_keys) + j] = sub[c].to_numpy(dtype=np.float64)
    unit, n_units = factorize(sub[idname])
    time, n_periods = factorize(t)
    if cluster_col == idname:
        clus, n_clusters = unit, n_units
    else:
        clus, n_clusters = factorize(sub[cluster_col])
    names = [f"cohort:{gg}:event_time:{ee}" for gg, ee in cell_keys] + list(covs)
    fit = fit_fe_ols(y, x, names, unit=unit, n_units=n_units, time=time, n_periods=n_periods, cluster=clus,
                     n_clusters=n_clusters, cluster_is_unit=cluster_col == idname, weights=None,
                     df_correction=df_correction)
    warn_few_clusters(n_clusters, function="event_study", column=cluster_col)
    k_cells = len(cell_keys)
    delta = fit.coef[:k_cells]
    v_delta = fit.vcov[:k_cells, :k_cells]
    cell_e = np.array([ee for _, ee in cell_keys])
    event_list = sorted(set(cell_e.tolist()))
    weights = np.zeros((len(event_list), k_cells))
    for i, ee in enumerate(event_list):
        mask = cell_e == ee
        weights[i, mask] = n_cell[mask] / n_cell[mask].sum()
    df_t = n_clusters - 1
    nu = weights @ delta
    v_nu = weights @ v_delta @ weights.T
    ev = t_inference(nu, np.sqrt(np.diag(v_nu)), df_t, alpha)
    lo = -np.inf if min_e is None else min_e
    hi = np.inf if max_e is None else max_e
    shown = np.array([lo <= ee <= hi for ee in event_list], dtype=bool)
    if not shown.any():
        raise SpecificationError(
            f"event_study(): no event time in [min_e, max_e] = [{min_e!r}, {max_e!r}]; event times "
            f"available: {event_list!r}"
        )
    event_times = tidy_table([f"event_time:{ee}" for ee in event_list], ev,
                             {"event_time": np.array(event_list), "outcome": yname,
                              "n_cohorts": (weights > 0).sum(axis=1)}, rows=shown)
    v_shown = v_nu[np.ix_(shown, shown)]
    ce = t_inference(delta, np.sqrt(np.diag(v_delta)), df_t, alpha)
    cohort_effects = tidy_table(names[:k_cells], ce, {
        "group": np.array([gg for gg, _ in cell_keys]), "time": np.array([gg + ee for gg, ee in cell_keys]),
        "event_time": cell_e, "outcome": yname, "n_obs": n_cell.astype(np.int64),
        "weight": weights.sum(axis=0),
    })
    post = cell_e >= 0
    w_all = np.where(post, n_cell, 0.0)
    w_all = w_all / w_all.sum() if w_all.sum() > 0 else w_all
    ov = t_inference(np.array([w_all @ delta]), np.array([np.sqrt(w_all @ v_delta @ w_all)]), df_t, alpha)
    overall = tidy_table(["overall_post"], ov, {"outcome": yname})
    spec = Specification(
        estimator=fn,
        arguments={"yname": yname, "tname": tname, "idname": idname, "gname": gname, "covariates": list(covs),
                   "control_cohort": control_cohort, "reference_period": reference_period, "min_e": min_e,
                   "max_e": max_e, "cluster": cluster, "alpha": alpha, "df_correction": df_correction},
        n_obs=fit.n_obs, n_units=n_units, dropped=tuple(dropped),
    )
    return EventStudyResult(
        event_times=event_times, cohort_effects=cohort_effects, vcov=v_shown,
        overall=overall, control_cohort=control_cohort,
        reference_period=int(reference_period), n_obs=fit.n_obs, n_units=n_units, n_clusters=n_clusters,
        cluster=cluster_col, df_correction=df_correction, alpha=float(alpha), outcome=yname,
        specification=spec,
    )
