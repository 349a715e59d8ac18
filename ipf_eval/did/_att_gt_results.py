"""Result objects of :func:`~ipf_eval.did.att_gt.att_gt` and :func:`~ipf_eval.did.aggregate.aggregate`.

Both are frozen; their arrays are read-only.  ``to_frame()`` gives one row per estimate and interval kind
(``ci_kind`` is ``"pointwise"``, or ``"uniform"`` for the sup-t simultaneous band when the bootstrap ran).
Pointwise intervals use the analytic standard errors; the uniform band uses the bootstrap standard errors
and the bootstrap sup-t critical value (R ``did``'s construction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ipf_eval._defaults import check_options
from ipf_eval.inference.influence import InfluenceFunction
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["AggregateResult", "AttGtResult", "PreTest"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _freeze(*arrays: NDArray[Any] | None) -> None:
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0))


def _rows(
    terms: list[str],
    est: FloatArray,
    se: FloatArray,
    boot_se: FloatArray | None,
    crit: float | None,
    alpha: float,
    ids: dict[str, list[Any]],
) -> list[dict[str, Any]]:
    """Build tidy rows: pointwise (analytic SE) and, when available, uniform (bootstrap SE x sup-t)."""
    z = _z(alpha)
    rows: list[dict[str, Any]] = []
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    pval = 2.0 * stats.norm.sf(np.abs(stat))
    for i, term in enumerate(terms):
        row = {
            "term": term,
            "estimate": float(est[i]),
            "std_error": float(se[i]),
            "statistic": float(stat[i]),
            "p_value": float(pval[i]),
            "ci_low": float(est[i] - z * se[i]),
            "ci_high": float(est[i] + z * se[i]),
        }
        row.update({k: v[i] for k, v in ids.items()})
        row["ci_kind"] = "pointwise"
        rows.append(row)
    if boot_se is not None and crit is not None and np.isfinite(crit):
        for i, term in enumerate(terms):
            b = float(boot_se[i])
            row = {
                "term": term,
                "estimate": float(est[i]),
                "std_error": b,
                "statistic": float(est[i] / b) if b > 0 else np.nan,
                "p_value": np.nan,
                "ci_low": float(est[i] - crit * b),
                "ci_high": float(est[i] + crit * b),
            }
            row.update({k: v[i] for k, v in ids.items()})
            row["ci_kind"] = "uniform"
            rows.append(row)
    return rows


def _event_plot(
    ax: Axes,
    x: FloatArray,
    est: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    ulo: FloatArray | None,
    uhi: FloatArray | None,
    pre: NDArray[np.bool_],
    label: str,
    **kwargs: Any,
) -> None:
    for mask, colour, name in ((pre, "tab:grey", "pre-support"), (~pre, "tab:blue", "post-support")):
        if not mask.any():
            continue
        c = kwargs.get("color", colour)
        if ulo is not None and uhi is not None:
            ax.vlines(
                x[mask],
                ulo[mask],
                uhi[mask],
                colors=c,
                alpha=0.35,
                linewidth=5,
                label=f"{name}: uniform band",
            )
        ax.errorbar(
            x[mask],
            est[mask],
            yerr=[est[mask] - lo[mask], hi[mask] - est[mask]],
            fmt="o",
            color=c,
            capsize=3,
            label=f"{name}: estimate, pointwise CI",
        )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("ATT")
    ax.legend(fontsize="small")


@dataclass(frozen=True)
class PreTest:
    """Wald test that all pre-support ATT(g, t) (g > t) are zero: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "statistic": json_safe(self.statistic),
            "df": int(self.df),
            "p_value": json_safe(self.p_value),
        }


@dataclass(frozen=True, eq=False)
class AttGtResult(ResultMixin):
    """Group-time average treatment effects from :func:`~ipf_eval.did.att_gt.att_gt`.

    Attributes
    ----------
    group, time, base_time
        Cohort ``g``, period ``t`` and the base period of each ATT(g, t).
    att, std_error
        Estimates and analytic (influence-function) standard errors (NaN for a universal base period's
        reference cell).
    boot_std_error, critical_value
        Bootstrap standard errors and the sup-t critical value (``None`` without bootstrap).
    pretest
        Wald pre-test of parallel trends, or ``None`` when there are no pre-periods.
    n_treated, n_control
        Units of the cohort and comparison units used by each ATT(g, t).
    alpha, n_boot, boot_weights, n_clusters, specification
        Level, bootstrap draws and multiplier distribution, number of clusters (``None``: independent
        units) and the specification.
    influence
        The influence functions (:class:`~ipf_eval.inference.influence.InfluenceFunction`), one column per
        ATT(g, t) in the table's order and one row per unit, units ordered by cohort (never supported
        last), then by id; clustered when ``n_clusters`` is not ``None``.
    unit_cohort, unit_weights
        Per unit, in the rows' order: the cohort (first support period; 0 never supported) and the weight
        normalised to mean one (all ones without ``weights``).  Aggregations estimate cohort shares from
        them.
    """

    group: IntArray
    time: IntArray
    base_time: IntArray
    att: FloatArray
    std_error: FloatArray
    boot_std_error: FloatArray | None
    critical_value: float | None
    pretest: PreTest | None
    n_treated: IntArray
    n_control: IntArray
    alpha: float
    n_boot: int | None
    boot_weights: str
    n_clusters: int | None
    specification: Specification
    influence: InfluenceFunction = field(repr=False)
    unit_cohort: IntArray = field(repr=False)
    unit_weights: FloatArray = field(repr=False)

    def __post_init__(self) -> None:
        _freeze(
            self.group,
            self.time,
            self.base_time,
            self.att,
            self.std_error,
            self.boot_std_error,
            self.n_treated,
            self.n_control,
            self.unit_cohort,
            self.unit_weights,
        )

    @property
    def event_time(self) -> IntArray:
        """Periods since first support, ``t - g``."""
        return self.time - self.group

    @property
    def n_units(self) -> int:
        """Number of units (firms; observations for repeated cross-sections)."""
        return self.influence.n_units

    @property
    def influence_function(self) -> FloatArray:
        """Read-only ``n_units × n_cells`` influence functions.

        Columns follow the table; rows are units ordered by cohort (never supported last), then by id.
        """
        return self.influence.dense()

    @property
    def ci_low(self) -> FloatArray:
        """Lower pointwise confidence limits."""
        return np.asarray(self.att - _z(self.alpha) * self.std_error)

    @property
    def ci_high(self) -> FloatArray:
        """Upper pointwise confidence limits."""
        return np.asarray(self.att + _z(self.alpha) * self.std_error)

    def uniform_band(self) -> tuple[FloatArray, FloatArray] | None:
        """Return the simultaneous (sup-t) band ``(low, high)``, or ``None`` without bootstrap."""
        if self.boot_std_error is None or self.critical_value is None:
            return None
        half = self.critical_value * self.boot_std_error
        return np.asarray(self.att - half), np.asarray(self.att + half)

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table: one row per ATT(g, t) and interval kind."""
        terms = [f"ATT(g={g}, t={t})" for g, t in zip(self.group, self.time, strict=True)]
        ids = {
            "group": self.group.tolist(),
            "time": self.time.tolist(),
            "event_time": self.event_time.tolist(),
            "base_time": self.base_time.tolist(),
            "n_treated": self.n_treated.tolist(),
            "n_control": self.n_control.tolist(),
        }
        rows = _rows(
            terms, self.att, self.std_error, self.boot_std_error, self.critical_value, self.alpha, ids
        )
        return tidy_frame(rows)

    def summary(self) -> Summary:
        """Return the printable summary."""
        args = self.specification.arguments
        facts = [
            ("Estimator", "Callaway-Sant'Anna ATT(g, t)"),
            ("Outcome", str(args["yname"])),
            ("Method", str(args["est_method"])),
            ("Comparison group", str(args["control_group"])),
            ("Base period", str(args["base_period"])),
            ("Anticipation", str(args["anticipation"])),
            ("Units", str(self.n_units)),
            ("Confidence level", f"{1 - self.alpha:.0%}"),
        ]
        if self.n_clusters is not None:
            facts.append(("Clusters", f"{self.n_clusters} ({args['cluster']})"))
        if self.critical_value is not None:
            facts.append(
                (
                    "Bootstrap",
                    f"{self.n_boot} {self.boot_weights} multiplier draws, sup-t critical value "
                    f"{self.critical_value:.3f}",
                )
            )
        if self.pretest is not None:
            facts.append(
                (
                    "Pre-test of parallel trends",
                    f"W = {self.pretest.statistic:.4f}, "
                    f"df = {self.pretest.df}, p = {self.pretest.p_value:.4f}",
                )
            )
        table = pd.DataFrame(
            {
                "group": self.group,
                "time": self.time,
                "att": self.att,
                "std_error": self.std_error,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )
        band = self.uniform_band()
        if band is not None:
            table["band_low"], table["band_high"] = band
        notes = (
            "Pointwise intervals use analytic (influence-function) standard errors; the uniform band uses "
            "bootstrap standard errors and the sup-t critical value.",
        )
        return Summary(
            title="Group-time average treatment effects", facts=tuple(facts), table=table, notes=notes
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "kind": "att_gt",
            "specification": self.specification.to_dict(),
            "estimates": json_safe(self.to_frame()),
            "pretest": None if self.pretest is None else self.pretest.to_dict(),
            "critical_value": json_safe(self.critical_value),
            "alpha": self.alpha,
        }

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot ATT(g, t) against event time ``t - g`` (cohorts side by side), pre-periods in grey."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        cohorts = np.unique(self.group)
        offset = {int(g): (i - (len(cohorts) - 1) / 2) * 0.1 for i, g in enumerate(cohorts)}
        x = self.event_time + np.array([offset[int(g)] for g in self.group])
        band = self.uniform_band()
        _event_plot(
            ax,
            x.astype(float),
            self.att,
            self.ci_low,
            self.ci_high,
            None if band is None else band[0],
            None if band is None else band[1],
            self.time < self.group,
            "periods since first support (t - g), cohorts side by side",
            **kwargs,
        )
        return ax


@dataclass(frozen=True, eq=False)
class AggregateResult(ResultMixin):
    """An aggregation of ATT(g, t) from :func:`~ipf_eval.did.aggregate.aggregate`.

    Attributes
    ----------
    kind
        ``"simple"``, ``"dynamic"`` (by event time ``e``), ``"group"`` (by cohort) or ``"calendar"``.
    overall_att, overall_std_error, overall_boot_std_error
        The overall summary parameter and its analytic (and bootstrap) standard error.
    labels
        Event times, cohorts or periods of the per-element estimates (empty for ``"simple"``).
    estimates, std_error, boot_std_error, critical_value
        Per-element estimates, analytic and bootstrap standard errors, and the sup-t critical value.
    alpha, specification, source
        Level, the specification and the :class:`AttGtResult` aggregated.
    influence
        The influence functions of the per-element estimates (columns in ``labels`` order), then of the
        overall parameter (last column), on the units of ``source`` (the cohort shares' estimation
        included).
    """

    kind: str
    overall_att: float
    overall_std_error: float
    overall_boot_std_error: float | None
    labels: IntArray
    estimates: FloatArray
    std_error: FloatArray
    boot_std_error: FloatArray | None
    critical_value: float | None
    alpha: float
    specification: Specification
    source: AttGtResult = field(repr=False)
    influence: InfluenceFunction = field(repr=False)

    def __post_init__(self) -> None:
        _freeze(self.labels, self.estimates, self.std_error, self.boot_std_error)

    @property
    def overall_ci(self) -> tuple[float, float]:
        """Pointwise confidence interval of the overall parameter."""
        half = _z(self.alpha) * self.overall_std_error
        return self.overall_att - half, self.overall_att + half

    @property
    def ci_low(self) -> FloatArray:
        """Lower pointwise confidence limits of the per-element estimates."""
        return np.asarray(self.estimates - _z(self.alpha) * self.std_error)

    @property
    def ci_high(self) -> FloatArray:
        """Upper pointwise confidence limits of the per-element estimates."""
        return np.asarray(self.estimates + _z(self.alpha) * self.std_error)

    def uniform_band(self) -> tuple[FloatArray, FloatArray] | None:
        """Return the simultaneous band over the elements ``(low, high)``, or ``None`` without bootstrap."""
        if self.boot_std_error is None or self.critical_value is None:
            return None
        half = self.critical_value * self.boot_std_error
        return np.asarray(self.estimates - half), np.asarray(self.estimates + half)

    def _id_column(self) -> str | None:
        return {"dynamic": "event_time", "group": "group", "calendar": "time"}.get(self.kind)

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table: the overall parameter, then one row per element and interval kind."""
        boot = None if self.overall_boot_std_error is None else np.array([self.overall_boot_std_error])
        rows = _rows(
            [f"overall ({self.kind})"],
            np.array([self.overall_att]),
            np.array([self.overall_std_error]),
            None,
            None,
            self.alpha,
            {},
        )
        if boot is not None:
            rows[0]["boot_std_error"] = float(boot[0])
        col = self._id_column()
        if col is not None and self.labels.size:
            terms = [f"{col}={v}" for v in self.labels]
            rows += _rows(
                terms,
                self.estimates,
                self.std_error,
                self.boot_std_error,
                self.critical_value,
                self.alpha,
                {col: self.labels.tolist()},
            )
        frame = tidy_frame(rows)
        if col is not None and col in frame.columns:
            frame[col] = frame[col].astype("Int64")
        return frame

    def summary(self) -> Summary:
        """Return the printable summary."""
        lo, hi = self.overall_ci
        facts = [
            ("Aggregation", self.kind),
            ("Overall ATT", f"{self.overall_att:.4f}"),
            ("Std. error", f"{self.overall_std_error:.4f}"),
            (f"{1 - self.alpha:.0%} CI", f"[{lo:.4f}, {hi:.4f}]"),
            ("Units", str(self.source.n_units)),
        ]
        if self.critical_value is not None and np.isfinite(self.critical_value):
            facts.append(("Sup-t critical value", f"{self.critical_value:.3f}"))
        col = self._id_column() or "label"
        table = pd.DataFrame(
            {
                col: self.labels,
                "estimate": self.estimates,
                "std_error": self.std_error,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            }
        )
        band = self.uniform_band()
        if band is not None:
            table["band_low"], table["band_high"] = band
        return Summary(
            title=f"Aggregated ATT ({self.kind})",
            facts=tuple(facts),
            table=table,
            notes=("Pointwise intervals: analytic standard errors; uniform band: bootstrap sup-t.",),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "kind": self.kind,
            "overall_att": json_safe(self.overall_att),
            "overall_std_error": json_safe(self.overall_std_error),
            "estimates": json_safe(self.to_frame()),
            "critical_value": json_safe(self.critical_value),
            "alpha": self.alpha,
            "specification": self.specification.to_dict(),
        }

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot the per-element estimates with pointwise intervals and the uniform band (pre-periods grey).

        ``color`` is the only keyword option (of the estimates); any other is refused with
        :class:`~ipf_eval.errors.SpecificationError`.
        """
        check_options(kwargs, ("color",), function="AggregateResult.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        band = self.uniform_band()
        if self.kind == "simple" or not self.labels.size:
            lo, hi = self.overall_ci
            ax.errorbar(
                [0.0],
                [self.overall_att],
                yerr=[[self.overall_att - lo], [hi - self.overall_att]],
                fmt="o",
                capsize=3,
                color=kwargs.get("color", "tab:blue"),
                label="overall ATT",
            )
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_xticks([0.0], ["overall"])
            ax.set_ylabel("ATT")
            return ax
        pre = self.labels < 0 if self.kind == "dynamic" else np.zeros(self.labels.size, dtype=bool)
        xlabel = {
            "dynamic": "periods since first support (e)",
            "group": "cohort (first support period)",
            "calendar": "period",
        }[self.kind]
        _event_plot(
            ax,
            self.labels.astype(float),
            self.estimates,
            self.ci_low,
            self.ci_high,
            None if band is None else band[0],
            None if band is None else band[1],
            pre,
            xlabel,
            **kwargs,
        )
        return ax
