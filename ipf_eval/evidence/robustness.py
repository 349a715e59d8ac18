"""Robustness of the staggered DiD: TWFE beside Callaway-Sant'Anna, and a matched DiD by support cohort.

* **TWFE.**  The two-way fixed-effects regression estimates a weighted average of 2x2 comparisons, some of
  which use already-supported firms as controls; with effects that vary over time and staggered adoption
  it can differ from Callaway and Sant'Anna's ATT.  :func:`twfe_comparison` puts the two side by side and,
  when they differ by more than twice the standard error of the difference, decomposes TWFE (Goodman-Bacon
  2021) on the balanced panel.
* **Matched DiD.**  :func:`matched_did_by_cohort` estimates Callaway and Sant'Anna's effect in the year of
  support, ATT(g, g), for each cohort g a second way: each supported firm of the cohort is compared with its
  nearest neighbour on the propensity score of the baseline covariates (Heckman, Ichimura and Todd 1997)
  instead of the doubly robust adjustment.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import keyword_options
from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import AttGtResult, BaconResult, aggregate, bacon_decomposition, twfe
from ipf_eval.errors import DataWarning, IpfEvalError

__all__ = ["MatchedDidByCohort", "TwfeComparison", "matched_did_by_cohort", "twfe_comparison"]

_EST = ("estimate", "std_error", "ci_low", "ci_high")


@dataclass(frozen=True, eq=False)
class TwfeComparison:
    """TWFE next to Callaway-Sant'Anna for one outcome.

    Attributes
    ----------
    table
        ``estimator, estimate, std_error, ci_low, ci_high``: TWFE (when it could be estimated) and
        Callaway-Sant'Anna.
    differ
        Whether the two differ by more than twice the standard error of the difference (``None`` when
        TWFE could not be estimated).
    bacon
        The Goodman-Bacon decomposition when they differ and it could be computed.
    errors
        Why TWFE or the decomposition could not be computed.
    """

    table: pd.DataFrame
    differ: bool | None
    bacon: BaconResult | None = None
    errors: tuple[str, ...] = ()


@keyword_options
def twfe_comparison(checked: ValidatedPanel, *, outcome: str, callaway_santanna: dict[str, Any],
                    alpha: float, idname: str = "firm_id", tname: str = "year",
                    gname: str = "first_support_year") -> TwfeComparison:
    r"""Compare TWFE (firm and year effects, clustered by firm) with the Callaway-Sant'Anna estimate.

    Parameters
    ----------
    checked
        The validated panel.
    outcome
        The outcome (normally the instrument's primary outcome).
    callaway_santanna
        The Callaway-Sant'Anna estimate of that outcome: ``estimate, std_error, ci_low, ci_high``.
    alpha
        1 minus the intervals' coverage.
    idname, tname, gname
        Column names.

    Returns
    -------
    TwfeComparison
        The table, whether the two differ, and the decomposition when they do.

    Notes
    -----
    The estimates differ when :math:`|\hat\beta_{TWFE} - \widehat{ATT}| > 2 \sqrt{se_{TWFE}^2 +
    se_{CS}^2}` (the two estimates' covariance is ignored).

    References
    ----------
    Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing. *Journal of
    Econometrics*, 225(2), 254-277.
    """
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        tw = twfe(checked, yname=outcome, tname=tname, idname=idname, gname=gname, cluster=idname,
                  alpha=alpha)
        row = tw.to_frame().iloc[0]
        rows.append({"estimator": "TWFE", **{k: row[k] for k in _EST}})
    except IpfEvalError as exc:
        errors.append(f"TWFE: no estimate ({exc})")
    rows.append({"estimator": "Callaway-Sant'Anna", **{k: callaway_santanna[k] for k in _EST}})
    table = pd.DataFrame(rows, columns=["estimator", *_EST])
    if len(rows) < 2:
        return TwfeComparison(table, None, None, tuple(errors))
    gap = abs(rows[0]["estimate"] - rows[1]["estimate"])
    differ = bool(gap > 2 * np.hypot(rows[0]["std_error"], rows[1]["std_error"]))
    bacon = None
    if differ:
        data = checked.data
        years = data.groupby(idname)[tname].transform("size")
        balanced = data.loc[years == len(checked.periods)]
        try:
            bacon = bacon_decomposition(balanced, yname=outcome, tname=tname, idname=idname, gname=gname)
        except IpfEvalError as exc:
            errors.append(f"Bacon decomposition not available: {exc}")
    return TwfeComparison(table, differ, bacon, tuple(errors))


@dataclass(frozen=True, eq=False)
class MatchedDidByCohort:
    """Callaway-Sant'Anna's ATT(g, g) and a nearest-neighbour matched DiD, per support cohort.

    Attributes
    ----------
    rows
        Two rows per cohort shown (Callaway-Sant'Anna, matched) and, when every cohort is shown, two
        combined rows (``cohort == "all (event time 0)"``); counts of firms as display strings.
    skipped
        Cohorts not shown, each with the reason.
    partial
        Cohorts in which some supported firms had no comparison firm within the caliper.
    notes
        Warnings of the estimators other than those summarised in ``partial``.
    combined
        Whether the combined rows are present.
    """

    rows: pd.DataFrame
    skipped: tuple[str, ...] = ()
    partial: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    combined: bool = False
    combined_error: str = ""
    cohort_estimates: dict[int, tuple[float, float]] = field(default_factory=dict)


def _note(w: warnings.WarningMessage) -> str:
    return f"{w.category.__name__}: {w.message}"


@keyword_options
def matched_did_by_cohort(checked: ValidatedPanel, result: AttGtResult, *, outcome: str,
                          covariates: Sequence[str], control_group: str, min_firms: int, profile: str,
                          alpha: float, estimator_label: str, idname: str = "firm_id", tname: str = "year",
                          gname: str = "first_support_year") -> MatchedDidByCohort:
    r"""Compare Callaway-Sant'Anna's ATT(g, g) with a matched DiD for each support cohort g.

    Parameters
    ----------
    checked
        The validated panel.
    result
        ``att_gt`` of ``outcome`` on it.
    outcome, covariates
        Outcome and the baseline covariates matched on (at least one).
    control_group
        ``att_gt``'s comparison group: never-supported firms, plus (``"not_yet_treated"``) firms first
        supported after g.
    min_firms, profile
        The disclosure profile's minimum number of firms per cell and its name: a cohort with fewer
        supported or comparison firms is not shown, nor a count of unmatched firms below it.
    alpha
        1 minus the intervals' coverage.
    estimator_label
        How the Callaway-Sant'Anna rows are labelled, e.g. ``"Callaway-Sant'Anna (dr)"``.
    idname, tname, gname
        Column names.

    Returns
    -------
    MatchedDidByCohort
        The rows, skipped and partly matched cohorts, and other warnings.

    Notes
    -----
    For cohort g the matched estimate is the change from g - 1 to g of the matched supported firms minus
    that of their nearest neighbours (one, with replacement, caliper 0.2 SD of the logit score; Abadie and
    Imbens standard errors with the score treated as known), via
    ``ipf_eval.weighting.conditional_did(method="match")``.  The combined row averages the cohorts with
    Callaway and Sant'Anna's event-time-0 weights (cohort shares among supported firms); the cohorts share
    comparison firms and no covariance of the matched estimates is available, so its standard error is the
    bound :math:`\sum_g w_g SE_g`, valid for any correlation between cohorts (conservative).  The
    nearest-neighbour bootstrap is not valid (Abadie and Imbens 2008), so none is used.

    References
    ----------
    Heckman, J. J., Ichimura, H. and Todd, P. E. (1997). Matching as an econometric evaluation estimator.
    *Review of Economic Studies*, 64(4), 605-654.
    Abadie, A. and Imbens, G. W. (2008). On the failure of the bootstrap for matching estimators.
    *Econometrica*, 76(6), 1537-1557.
    """
    from ipf_eval.weighting import conditional_did

    data = checked.data
    cells = result.to_frame()
    cells = cells.loc[(cells["ci_kind"] == "pointwise") & (cells["group"] == cells["time"])
                      & cells["std_error"].gt(0)]
    firm_cohort = data.groupby(idname, sort=True)[gname].first()
    by_cohort: list[dict[str, Any]] = []
    skipped: list[str] = []
    partial: list[str] = []
    notes: list[str] = []
    cohort_rows: dict[int, tuple[float, float]] = {}
    for cell in cells.to_dict(orient="records"):
        g = int(cell["group"])
        n_treated, n_control = int(cell["n_treated"]), int(cell["n_control"])
        if min(n_treated, n_control) < min_firms:
            skipped.append(f"{g} (fewer firms than the {profile} threshold of {min_firms})")
            continue
        comparison = (firm_cohort == 0) | ((firm_cohort > g) & (control_group == "not_yet_treated"))
        keep = firm_cohort.index[(firm_cohort == g) | comparison]
        two = data.loc[data[idname].isin(keep) & data[tname].isin([g - 1, g]),
                       [idname, tname, outcome, *covariates, gname]]
        two = two.assign(in_cohort=(two[gname] == g).astype(int))
        with warnings.catch_warnings(record=True) as caught_g:
            warnings.simplefilter("always")
            try:
                m = conditional_did(two, yname=outcome, tname=tname, idname=idname, treatname="in_cohort",
                                    covariates=list(covariates), pre=g - 1, post=g, method="match",
                                    alpha=alpha)
            except IpfEvalError as exc:
                m = None
                skipped.append(f"{g} (matching not possible: {type(exc).__name__})")
        # firms missing in g - 1 or g (exits) are left out, as att_gt does; firms without a match inside
        # the caliper are named per cohort (without their number); other warnings are kept as notes
        if any("caliper" in str(w.message) for w in caught_g):
            partial.append(str(g))
        notes += [_note(w) for w in caught_g
                  if not issubclass(w.category, DataWarning) and "caliper" not in str(w.message)]
        if m is None:
            continue
        if min(m.n_treated, m.n_control) < min_firms:
            skipped.append(f"{g} (fewer matched firms than the {profile} threshold of {min_firms})")
            continue
        lo, hi = m.ci
        cohort_rows[g] = (m.estimate, m.std_error)
        # a count of unmatched firms below the threshold would be disclosed by differencing the two rows
        unmatched = n_treated - int(m.n_treated)
        matched_count = (f"{m.n_treated:,}" if unmatched == 0 or unmatched >= min_firms else
                         f"{n_treated:,} minus fewer than {min_firms}")
        by_cohort += [
            {"cohort": str(g), "estimator": estimator_label, "estimate": cell["estimate"],
             "std_error": cell["std_error"], "ci_low": cell["ci_low"], "ci_high": cell["ci_high"],
             "supported firms": f"{n_treated:,}", "comparison firms": f"{n_control:,}"},
            {"cohort": str(g), "estimator": "matched DiD (nearest neighbour)", "estimate": m.estimate,
             "std_error": m.std_error, "ci_low": lo, "ci_high": hi,
             "supported firms": matched_count, "comparison firms": f"{m.n_control:,} matched"},
        ]
    all_cohorts = {int(g) for g in cells["group"]}
    combined, combined_error = False, ""
    if by_cohort and set(cohort_rows) == all_cohorts:
        sizes = firm_cohort.loc[firm_cohort.isin(sorted(all_cohorts))].value_counts()
        w = np.array([sizes[g] for g in cohort_rows], dtype=float)
        w /= w.sum()
        est_m = float(w @ np.array([v[0] for v in cohort_rows.values()]))
        se_m = float(w @ np.array([v[1] for v in cohort_rows.values()]))
        z = float(stats.norm.ppf(1 - alpha / 2))
        try:
            e0 = aggregate(result, kind="dynamic", min_e=0, max_e=0).to_frame()
        except IpfEvalError as exc:
            combined_error = str(exc)
        else:
            e0r = e0.loc[(e0["event_time"] == 0) & (e0["ci_kind"] == "pointwise")].iloc[0]
            by_cohort += [
                {"cohort": "all (event time 0)", "estimator": estimator_label, "estimate": e0r["estimate"],
                 "std_error": e0r["std_error"], "ci_low": e0r["ci_low"], "ci_high": e0r["ci_high"],
                 "supported firms": "", "comparison firms": ""},
                {"cohort": "all (event time 0)",
                 "estimator": "matched DiD, cohort-size weighted (conservative SE)", "estimate": est_m,
                 "std_error": se_m, "ci_low": est_m - z * se_m, "ci_high": est_m + z * se_m,
                 "supported firms": "", "comparison firms": ""},
            ]
            combined = True
    columns = ["cohort", "estimator", *_EST, "supported firms", "comparison firms"]
    return MatchedDidByCohort(pd.DataFrame(by_cohort, columns=columns), tuple(skipped), tuple(partial),
                              tuple(notes), combined, combined_error, cohort_rows)
