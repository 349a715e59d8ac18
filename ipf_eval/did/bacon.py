"""Goodman-Bacon (2021) decomposition of the TWFE coefficient into 2x2 comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.did._did_inputs import PanelInput, check_name, prepare_panel
from ipf_eval.disclosure.local_log import record_details
from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["COMPARISON_TYPES", "BaconResult", "bacon_decomposition"]

#: The kinds of 2x2 comparison, in the order tables list them.
COMPARISON_TYPES: tuple[str, ...] = (
    "treated_vs_never_treated",
    "earlier_vs_later_treated",
    "later_vs_earlier_treated",
    "later_vs_always_treated",
)


@dataclass(frozen=True, eq=False)
class BaconResult(ResultMixin):
    """Result of :func:`bacon_decomposition`.

    Attributes
    ----------
    comparisons
        One row per 2x2 comparison with columns ``type`` (one of :data:`COMPARISON_TYPES`), ``treated`` and
        ``control`` (first support period of each group; 0 = never supported within the sample; the first
        period labels firms supported throughout), ``estimate`` and ``weight``.
    by_type
        Total weight and weighted average estimate per comparison type.
    twfe_estimate
        The TWFE coefficient, equal to ``(comparisons.weight * comparisons.estimate).sum()``.
    n_obs, n_units, n_periods, outcome
        Sample sizes and outcome.
    specification
        What produced the result.
    """

    comparisons: pd.DataFrame
    by_type: pd.DataFrame
    twfe_estimate: float
    n_obs: int
    n_units: int
    n_periods: int
    outcome: str
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return one row per comparison: tidy columns (no standard errors), then type, cohorts, weight."""
        rows = [{"term": f"{r.type}:{r.treated}_vs_{r.control}", "estimate": r.estimate,
                 "outcome": self.outcome,
                 "type": r.type, "treated": r.treated, "control": r.control, "weight": r.weight}
                for r in self.comparisons.itertuples(index=False)]
        return tidy_frame(rows)

    def summary(self) -> Summary:
        """Return the printable summary: the weight and average estimate of each comparison type."""
        negative = self.by_type.loc[self.by_type["type"] != "treated_vs_never_treated"]
        facts = (
            ("Outcome", self.outcome),
            ("TWFE coefficient", f"{self.twfe_estimate:.4f}"),
            ("Observations", f"{self.n_obs} ({self.n_units} firms x {self.n_periods} periods)"),
            ("Comparisons", f"{len(self.comparisons)}"),
            ("Weight on timing comparisons", f"{negative['weight'].sum():.4f}"),
        )
        notes = ("'later_vs_earlier_treated' and 'later_vs_always_treated' use already-supported firms as "
                 "controls: with effects that change over time they are biased and can flip the sign of the "
                 "TWFE coefficient.",)
        return Summary(title="Goodman-Bacon decomposition of the TWFE coefficient", facts=facts,
                       table=self.by_type, notes=notes)

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Scatter each comparison's estimate against its weight, by type; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        markers = dict(zip(COMPARISON_TYPES, ("o", "^", "s", "D"), strict=True))
        for kind, part in self.comparisons.groupby("type", sort=False):
            ax.scatter(part["weight"], part["estimate"], marker=markers[str(kind)], label=str(kind), **kwargs)
        ax.axhline(self.twfe_estimate, color="grey", linestyle="--", linewidth=0.8,
                   label=f"TWFE = {self.twfe_estimate:.4g}")
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_xlabel("weight")
        ax.set_ylabel("2x2 DiD estimate")
        ax.set_title("Goodman-Bacon decomposition")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "estimator": "bacon_decomposition", "comparisons": self.comparisons, "by_type": self.by_type,
            "twfe_estimate": self.twfe_estimate, "n_obs": self.n_obs, "n_units": self.n_units,
            "n_periods": self.n_periods, "specification": self.specification.to_dict(),
        })


@keyword_options
def bacon_decomposition(
    data: PanelInput,
    *,
    yname: str,
    tname: str,
    idname: str,
    gname: str,
    covariates: Sequence[str] | None = None,
) -> BaconResult:
    r"""Decompose the TWFE DiD coefficient into all 2x2 comparisons and their weights.

    Parameters
    ----------
    data
        Balanced firm panel or ``ValidatedPanel``.
    yname, tname, idname
        Outcome, integer period and firm id columns.
    gname
        First period of support (0 for never supported).  Firms supported after the last period count as
        never supported within the sample; firms supported in or before the first period as supported
        throughout (labelled with the first period).
    covariates
        Not supported (the decomposition holds for the regression without covariates); must be ``None``.

    Returns
    -------
    BaconResult
        The comparisons with estimates and weights; their weighted sum is the TWFE coefficient of
        :func:`ipf_eval.did.twfe.twfe` with ``gname``.

    Raises
    ------
    SpecificationError
        If covariates are passed or an option is unknown.
    DataError
        If the panel is unbalanced or the outcome is constant.
    EstimationError
        If no firm changes treatment status within the sample or the treatment is collinear with the period
        effects (one timing group and no never-supported firms).

    Notes
    -----
    Let timing groups :math:`k` have first support period :math:`t^*_k`, unit shares :math:`n_k`, and share of
    periods supported :math:`\bar D_k`; :math:`U` is the never-supported group and
    :math:`\hat V^D` the variance of the treatment after removing firm and period effects.  Goodman-Bacon's
    Theorem 1 gives

    .. math:: \hat\beta^{TWFE} = \sum_{k} s_{kU}\hat\beta_{kU}
              + \sum_{k} \sum_{l > k} \big(s^k_{kl}\hat\beta^k_{kl} + s^l_{kl}\hat\beta^l_{kl}\big),

    where :math:`\hat\beta_{kU}` compares group :math:`k` with :math:`U` before and after :math:`t^*_k`;
    :math:`\hat\beta^k_{kl}` compares earlier group :math:`k` with the not-yet-supported later group
    :math:`l` before :math:`t^*_l`; and :math:`\hat\beta^l_{kl}` compares :math:`l` with the already-supported
    :math:`k` after :math:`t^*_k` (the "forbidden" comparison).  The weights are

    .. math:: s_{kU} = \frac{(n_k + n_U)^2\, n_{kU}(1-n_{kU})\, \bar D_k (1-\bar D_k)}{\hat V^D},\quad
              s^k_{kl} = \frac{((n_k+n_l)(1-\bar D_l))^2\, n_{kl}(1-n_{kl})
              \frac{\bar D_k-\bar D_l}{1-\bar D_l}\frac{1-\bar D_k}{1-\bar D_l}}{\hat V^D},\quad
              s^l_{kl} = \frac{((n_k+n_l)\bar D_k)^2\, n_{kl}(1-n_{kl})
              \frac{\bar D_l}{\bar D_k}\frac{\bar D_k-\bar D_l}{\bar D_k}}{\hat V^D},

    with :math:`n_{ab} = n_a/(n_a+n_b)`; they are non-negative and sum to one.  When effects grow with time
    since support, :math:`\hat\beta^l_{kl}` subtracts the earlier group's growing effect, which pulls
    :math:`\hat\beta^{TWFE}` towards zero or past it; equivalently some group-time effects enter TWFE with
    negative weights (de Chaisemartin and D'Haultfœuille, 2020).

    References
    ----------
    Goodman-Bacon, A. (2021). Difference-in-differences with variation in treatment timing. *Journal of
    Econometrics*, 225(2), 254-277.

    de Chaisemartin, C. and D'Haultfœuille, X. (2020). Two-way fixed effects estimators with heterogeneous
    treatment effects. *American Economic Review*, 110(9), 2964-2996.

    Examples
    --------
    >>> bd = bacon_decomposition(panel, yname="lemp", tname="year", idname="countyreal",
    ...                          gname="first.treat")  # doctest: +SKIP
    >>> bd.to_frame()  # doctest: +SKIP
    """
    fn = "bacon_decomposition"
    for parameter, value in (("yname", yname), ("tname", tname), ("idname", idname), ("gname", gname)):
        check_name(value, function=fn, parameter=parameter)
    if covariates:
        raise SpecificationError(
            f"bacon_decomposition(covariates={covariates!r}): covariates are not supported; the "
            "decomposition "
            "holds for the TWFE regression without covariates; residualise the outcome on them first or use "
            "event_study()/att_gt() with covariates"
        )
    prepared = prepare_panel(data, function=fn, idname=idname, tname=tname, ynames=(yname,), gname=gname,
                             already_supported="keep")
    frame = prepared.frame
    periods = np.sort(frame[tname].unique())
    n_units = int(frame[idname].nunique())
    n_periods = periods.size
    if len(frame) != n_units * n_periods:
        counts = frame.groupby(idname).size()
        short = counts.index[counts < n_periods]
        log = record_details(f"bacon_decomposition(): firms not observed in all {n_periods} periods",
                             columns=idname, ids=short)
        where = (f"the firms are listed in the local log {str(log)!r}" if log is not None else
                 "the firms are not listed: no local log could be written")
        raise DataError(
            f"bacon_decomposition() needs a balanced panel; {short.size} of {n_units} firms are not observed "
            f"in all {n_periods} periods ({where}); balance it first, e.g. keep the firms observed in every "
            f"period: data[data.groupby({idname!r})[{tname!r}].transform('size') == {n_periods}]"
        )
    t_min, t_max = int(periods[0]), int(periods[-1])
    g_raw = frame[gname].to_numpy(dtype=np.int64)
    g_eff = np.where((g_raw == 0) | (g_raw > t_max), 0, np.maximum(g_raw, t_min))
    t = frame[tname].to_numpy(dtype=np.int64)
    y = frame[yname].to_numpy(dtype=np.float64)
    d = ((g_eff > 0) & (t >= g_eff)).astype(np.float64)
    # group-by-period means of y (balanced: every group is observed in every period)
    means = pd.DataFrame({"g": g_eff, "t": t, "y": y}).groupby(["g", "t"])["y"].mean().unstack("t")
    means = means.reindex(columns=periods)
    groups = [int(v) for v in means.index]
    unit_g = pd.Series(g_eff).groupby(frame[idname].to_numpy()).first()
    share = unit_g.value_counts(normalize=True).reindex(groups).to_numpy()
    n_of = dict(zip(groups, share, strict=True))
    dbar = {gg: float(np.mean(periods >= gg)) if gg > 0 else 0.0 for gg in groups}
    timing = sorted(gg for gg in groups if gg > 0)
    if not any(0.0 < dbar[gg] < 1.0 for gg in timing):
        raise EstimationError(
            f"bacon_decomposition(): no firm changes support status within the periods {t_min}-{t_max} "
            f"(cohorts in {gname!r}: {timing!r}); there is no 2x2 comparison to make"
        )
    # variance of the two-way demeaned treatment (balanced panel: exact one-pass formula)
    unit_codes, _ = pd.factorize(frame[idname].to_numpy())
    time_codes = np.searchsorted(periods, t)
    d_i = np.bincount(unit_codes, weights=d) / n_periods
    d_t = np.bincount(time_codes, weights=d) / n_units
    d_dd = d - d_i[unit_codes] - d_t[time_codes] + d.mean()
    v_d = float(np.mean(d_dd**2))
    if v_d < 1e-14:
        raise EstimationError(
            f"bacon_decomposition(): the treatment derived from {gname!r} is collinear with the period "
            "effects "
            "(all supported firms share one timing and there are no never-supported firms); the TWFE "
            "coefficient is not identified"
        )
    twfe_estimate = float(d_dd @ y / (d_dd @ d_dd))

    def window(gg: int, lo: int | None, hi: int | None) -> float:
        cols = np.ones(n_periods, dtype=bool)
        if lo is not None:
            cols &= periods >= lo
        if hi is not None:
            cols &= periods < hi
        return float(means.loc[gg].to_numpy()[cols].mean())

    rows: list[dict[str, Any]] = []
    never = 0 in groups
    for k in timing:
        if never and 0.0 < dbar[k] < 1.0:
            n_k, n_u = n_of[k], n_of[0]
            n_ku = n_k / (n_k + n_u)
            weight = (n_k + n_u) ** 2 * n_ku * (1 - n_ku) * dbar[k] * (1 - dbar[k]) / v_d
            est = (window(k, k, None) - window(k, None, k)) - (window(0, k, None) - window(0, None, k))
            rows.append({"type": "treated_vs_never_treated", "treated": k, "control": 0, "estimate": est,
                         "weight": weight})
    for a, k in enumerate(timing):
        for l in timing[a + 1:]:  # noqa: E741 - l is the paper's notation for the later group
            n_k, n_l, dk, dl = n_of[k], n_of[l], dbar[k], dbar[l]
            n_kl = n_k / (n_k + n_l)
            if dk < 1.0:  # earlier k supported, later l not yet: periods before l's support
                weight = (((n_k + n_l) * (1 - dl)) ** 2 * n_kl * (1 - n_kl)
                          * (dk - dl) / (1 - dl) * (1 - dk) / (1 - dl) / v_d)
                est = (window(k, k, l) - window(k, None, k)) - (window(l, k, l) - window(l, None, k))
                rows.append({"type": "earlier_vs_later_treated", "treated": k, "control": l, "estimate": est,
                             "weight": weight})
            if dl > 0.0:  # later l supported, earlier k already supported: periods from k's support on
                weight = ((n_k + n_l) * dk) ** 2 * n_kl * (1 - n_kl) * (dl / dk) * (dk - dl) / dk / v_d
                est = (window(l, l, None) - window(l, k, l)) - (window(k, l, None) - window(k, k, l))
                kind = "later_vs_always_treated" if dk == 1.0 else "later_vs_earlier_treated"
                rows.append({"type": kind, "treated": l, "control": k, "estimate": est, "weight": weight})
    comparisons = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    comparisons["type"] = pd.Categorical(comparisons["type"], categories=list(COMPARISON_TYPES))
    comparisons = comparisons.sort_values(["type", "treated", "control"], kind="mergesort")
    comparisons["type"] = comparisons["type"].astype(str)
    comparisons = comparisons.reset_index(drop=True)
    by_type = (comparisons.assign(we=comparisons["estimate"] * comparisons["weight"])
               .groupby("type", sort=False).agg(weight=("weight", "sum"), we=("we", "sum"),
                                                 n_comparisons=("weight", "size")).reset_index())
    by_type["estimate"] = by_type["we"] / by_type["weight"]
    by_type = by_type.loc[:, ["type", "n_comparisons", "weight", "estimate"]]
    spec = Specification(estimator=fn,
                         arguments={"yname": yname, "tname": tname, "idname": idname, "gname": gname},
                         n_obs=len(frame), n_units=n_units, dropped=prepared.dropped)
    return BaconResult(comparisons=comparisons, by_type=by_type, twfe_estimate=twfe_estimate,
                       n_obs=len(frame), n_units=n_units, n_periods=n_periods, outcome=yname,
                       specification=spec)
