r"""Covariate balance (standardised mean differences, variance ratios, love plot) and overlap diagnostics.

Conventions
-----------
Standardised mean difference (SMD) of covariate :math:`x`:

.. math:: \mathrm{SMD} = \frac{\bar x_{1,w} - \bar x_{0,w}}{\sqrt{(s^2_1 + s^2_0)/2}},

where :math:`\bar x_{g,w}` are (weighted) group means and :math:`s^2_g` the *unweighted* group variances in
the full sample before adjustment: the same pooled-SD denominator is used before and after weighting or
matching, so a change in the SMD reflects a change in means only (Austin 2009; Stuart 2010).  The variance
ratio is :math:`s^2_{1,w}/s^2_{0,w}` with weighted variances.  Rules of thumb: :math:`|\mathrm{SMD}| < 0.1`
and variance ratios in :math:`[0.5, 2]`.

References
----------
Austin, P. C. (2009). Balance diagnostics for comparing the distribution of baseline covariates between
treatment groups in propensity-score matched samples. *Statistics in Medicine* 28, 3083-3107.

Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009). Dealing with limited overlap in
estimation of average treatment effects. *Biometrika* 96(1), 187-199.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._cross_section import prepare_cross_section
from ipf_eval._defaults import check_numbers_not_text, keyword_options
from ipf_eval.errors import DataError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe
from ipf_eval.weighting.propensity import crump_alpha, fit_logit

__all__ = ["BalanceResult", "OverlapResult", "balance", "balance_table", "overlap"]


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sw = w.sum()
    m = (w[:, None] * x).sum(axis=0) / sw
    v = (w[:, None] * (x - m) ** 2).sum(axis=0) / sw
    # unbiased-style correction with Kish effective size so that unit weights give the usual sample variance
    n_eff = sw**2 / (w**2).sum()
    if n_eff > 1:
        v = v * n_eff / (n_eff - 1)
    return m, v


@keyword_options
def balance_table(
    X: np.ndarray, d: np.ndarray, names: Sequence[str], weights: np.ndarray | None = None
) -> pd.DataFrame:
    """Balance statistics before and (when ``weights`` is given) after adjustment.

    Parameters
    ----------
    X
        Covariates (``n × k``).
    d
        Treatment 0/1.
    names
        Covariate names.
    weights
        Adjustment weights (IPW weights, or matching frequency weights); ``None`` for "before" only.

    Returns
    -------
    pandas.DataFrame
        One row per covariate: ``covariate, mean_treated, mean_control, smd, variance_ratio`` and, with
        weights, ``mean_treated_adj, mean_control_adj, smd_adj, variance_ratio_adj``.
    """
    t, c = d == 1, d == 0
    one_t, one_c = np.ones(t.sum()), np.ones(c.sum())
    m1, v1 = _wmean_var(X[t], one_t)
    m0, v0 = _wmean_var(X[c], one_c)
    pooled = np.sqrt((v1 + v0) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, (m1 - m0) / pooled, 0.0)
        vr = np.where(v0 > 0, v1 / v0, np.nan)
    out = pd.DataFrame(
        {"covariate": list(names), "mean_treated": m1, "mean_control": m0, "smd": smd, "variance_ratio": vr}
    )
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        wt, wc = w[t], w[c]
        if wt.sum() <= 0 or wc.sum() <= 0:
            raise DataError("balance(): weights sum to zero in the treated or the comparison group.")
        keep_t, keep_c = wt > 0, wc > 0
        a1, s1 = _wmean_var(X[t][keep_t], wt[keep_t])
        a0, s0 = _wmean_var(X[c][keep_c], wc[keep_c])
        with np.errstate(divide="ignore", invalid="ignore"):
            out["mean_treated_adj"] = a1
            out["mean_control_adj"] = a0
            out["smd_adj"] = np.where(pooled > 0, (a1 - a0) / pooled, 0.0)
            out["variance_ratio_adj"] = np.where(s0 > 0, s1 / s0, np.nan)
    return out


def love_plot(table: pd.DataFrame, ax: Any = None, threshold: float = 0.1) -> Any:
    """Draw a love plot (absolute SMD per covariate before and after) and return the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 0.35 * len(table) + 1.5))
    pos = np.arange(len(table))
    ax.scatter(np.abs(table["smd"]), pos, marker="o", facecolors="none", edgecolors="tab:red", label="before")
    if "smd_adj" in table:
        ax.scatter(np.abs(table["smd_adj"]), pos, marker="o", color="tab:blue", label="after")
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(pos)
    ax.set_yticklabels(table["covariate"])
    ax.set_xlabel("absolute standardised mean difference (pooled SD)")
    ax.legend(loc="lower right")
    return ax


@dataclass(frozen=True, eq=False)
class BalanceResult(ResultMixin):
    """Balance before and after adjustment; see the module notes for the SMD convention."""

    table: pd.DataFrame
    method: str
    specification: Specification
    threshold: float = 0.1

    @property
    def max_abs_smd(self) -> float:
        """Largest absolute SMD after adjustment (before, when there is no adjustment)."""
        col = "smd_adj" if "smd_adj" in self.table else "smd"
        return float(np.abs(self.table[col]).max())

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title=f"Covariate balance ({self.method})",
            facts=(("firms", str(self.specification.n_obs)), ("max |SMD| after", f"{self.max_abs_smd:.3f}")),
            table=self.table,
            notes=(
                "SMD = difference in means / sqrt((s1^2 + s0^2)/2), unweighted pre-adjustment variances "
                "in the denominator before and after; |SMD| < 0.1 is the usual benchmark.",
            ),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the balance table (one row per covariate; this is not an estimate table)."""
        return self.table.copy()

    def plot(self, *, ax: Any = None) -> Any:
        """Draw the love plot and return the Axes."""
        return love_plot(self.table, ax=ax, threshold=self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {
            "method": self.method,
            "table": json_safe(self.table),
            "specification": self.specification.to_dict(),
        }


@keyword_options
def balance(
    data: pd.DataFrame,
    *,
    treatname: str,
    covariates: Sequence[str],
    weights: str | np.ndarray | pd.Series | None = None,
) -> BalanceResult:
    """Standardised mean differences and variance ratios before and after weighting or matching.

    Parameters
    ----------
    data
        One row per firm.
    treatname
        0/1 treatment column.
    covariates
        Covariates to check (categoricals are dummy-coded).
    weights
        Adjustment weights: a column name, or an array aligned with ``data`` (for example
        ``ipw(...).weights`` or ``match(...).weights``); ``None`` for the raw comparison.

    Returns
    -------
    BalanceResult

    Raises
    ------
    DataError
        Missing columns, a treatment that is not 0/1, a covariate holding numbers stored as text, or weights
        that are not numeric, of the wrong length, missing, infinite or negative.
    EstimationError
        Every firm treated, or none.

    Notes
    -----
    Pooled-SD convention: see the module docstring. Weighted variances use the Kish effective sample size.
    """
    extra: list[str] = [weights] if isinstance(weights, str) else []
    cs = prepare_cross_section(data, func="balance", treatname=treatname, covariates=covariates, extra=extra)
    check_numbers_not_text(cs.frame, [covariates] if isinstance(covariates, str) else covariates,
                           function="balance")
    w: np.ndarray | None
    if weights is None:
        w = None
    elif isinstance(weights, str):
        col = cs.frame[weights]
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            raise DataError(
                f"balance(): weights column {weights!r} must be numeric; got dtype {str(col.dtype)!r}. "
                f"Convert it with pandas.to_numeric(data[{weights!r}])."
            )
        w = col.to_numpy(dtype=float)
    else:
        arr = np.asarray(weights, dtype=float)
        if arr.shape != (len(data),):
            raise DataError(
                f"balance(): `weights` must have one value per row of `data` ({len(data)}); "
                f"got shape {arr.shape!r}."
            )
        w = arr[data.index.get_indexer(cs.frame.index)]
    if w is not None and not np.isfinite(w).all():
        raise DataError(
            f"balance(): `weights` must be finite; found {int((~np.isfinite(w)).sum())} missing or infinite "
            "value(s). Weights from a propensity score of exactly 0 or 1 are infinite: trim the score first "
            "(ipw(..., trim='crump'))."
        )
    if w is not None and (w < 0).any():
        raise DataError(
            f"balance(): `weights` must be non-negative; found {int((w < 0).sum())} negative values."
        )
    table = balance_table(cs.X, cs.d, cs.xnames, w)
    spec = Specification(
        estimator="balance",
        arguments={
            "treatname": treatname,
            "covariates": list(covariates),
            "weights": weights if isinstance(weights, str) else (None if weights is None else "array"),
        },
        n_obs=len(cs.d),
        n_units=len(cs.d),
        dropped=cs.dropped,
    )
    return BalanceResult(table=table, method="raw" if w is None else "weighted", specification=spec)


@dataclass(frozen=True, eq=False)
class OverlapResult(ResultMixin):
    """Propensity-score overlap diagnostics and the Crump et al. (2009) trimming threshold."""

    ps_treated: np.ndarray = field(repr=False)
    ps_control: np.ndarray = field(repr=False)
    crump_alpha: float
    specification: Specification

    def table(self) -> pd.DataFrame:
        """Quantiles of the score by group, and firms outside the other group's range or the Crump band."""
        rows = []
        lo = max(self.ps_treated.min(), self.ps_control.min())
        hi = min(self.ps_treated.max(), self.ps_control.max())
        a = self.crump_alpha
        for name, p in (("treated", self.ps_treated), ("comparison", self.ps_control)):
            q = np.quantile(p, [0.0, 0.05, 0.5, 0.95, 1.0])
            rows.append(
                {
                    "group": name,
                    "n": p.size,
                    "min": q[0],
                    "p05": q[1],
                    "median": q[2],
                    "p95": q[3],
                    "max": q[4],
                    "outside_common_support": int(((p < lo) | (p > hi)).sum()),
                    "outside_crump_band": int(((p < a) | (p > 1 - a)).sum()),
                }
            )
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title="Propensity-score overlap",
            table=self.table(),
            facts=(("Crump et al. alpha", f"{self.crump_alpha:.4f}"),),
            notes=("Crump et al. (2009) keep firms with alpha <= p <= 1 - alpha.",),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return the overlap table (one row per group)."""
        return self.table()

    def plot(self, *, ax: Any = None) -> Any:
        """Histogram of the propensity score by group, with the Crump band; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        bins = np.linspace(0, 1, 41)
        ax.hist(self.ps_treated, bins=bins, alpha=0.5, density=True, label="treated")
        ax.hist(self.ps_control, bins=bins, alpha=0.5, density=True, label="comparison")
        if self.crump_alpha > 0:
            for v in (self.crump_alpha, 1 - self.crump_alpha):
                ax.axvline(v, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("propensity score")
        ax.set_ylabel("density")
        ax.legend()
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (group summaries only, nothing per firm)."""
        return {
            "crump_alpha": self.crump_alpha,
            "table": json_safe(self.table()),
            "specification": self.specification.to_dict(),
        }


@keyword_options
def overlap(data: pd.DataFrame, *, treatname: str, covariates: Sequence[str]) -> OverlapResult:
    """Fit the logit propensity score and describe overlap between treated and comparison firms.

    Parameters
    ----------
    data
        One row per firm.
    treatname
        0/1 treatment column.
    covariates
        Covariates of the logit (categoricals dummy-coded).

    Returns
    -------
    OverlapResult

    Raises
    ------
    DataError
        Missing columns, a treatment that is not 0/1, or a covariate holding numbers stored as text.
    EstimationError
        Every firm treated or none; perfect separation in the logit.

    References
    ----------
    Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009). *Biometrika* 96(1), 187-199.
    """
    cs = prepare_cross_section(data, func="overlap", treatname=treatname, covariates=covariates)
    check_numbers_not_text(cs.frame, [covariates] if isinstance(covariates, str) else covariates,
                           function="overlap")
    fit = fit_logit(cs.X, cs.d, cs.xnames, func="overlap")
    spec = Specification(
        estimator="overlap",
        arguments={"treatname": treatname, "covariates": list(covariates)},
        n_obs=len(cs.d),
        n_units=len(cs.d),
        dropped=cs.dropped,
    )
    return OverlapResult(
        ps_treated=fit.ps[cs.d == 1],
        ps_control=fit.ps[cs.d == 0],
        crump_alpha=crump_alpha(fit.ps),
        specification=spec,
    )
