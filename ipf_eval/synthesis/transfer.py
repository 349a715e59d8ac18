"""Transferability: predict an instrument's effect in a target country by reweighting subgroup effects.

:func:`transferability` takes subgroup (cell) effects estimated in source countries, e.g. per size class x
sector, and the target country's SME population mix over the same cells, and returns the mix-weighted
effect with its standard error, the share of the target covered by source estimates and an extrapolation
flag.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._defaults import check_alpha, keyword_options, user_stack_level
from ipf_eval.errors import DataError, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame
from ipf_eval.synthesis._common import check_columns, check_frame, fmt

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["TransferabilityResult", "transferability"]

_CELL_SEP = " | "


@dataclass(frozen=True, eq=False)
class TransferabilityResult(ResultMixin):
    r"""Result of :func:`transferability` (frozen).

    Attributes
    ----------
    estimate, std_error, statistic, p_value, ci_low, ci_high
        Predicted effect in the target, :math:`\hat\theta_T = \sum_{c \in C} \tilde w_c \hat\theta_c`
        over the covered cells :math:`C` with the target shares renormalised to the covered total, its
        standard error, z statistic, p-value and normal ``1 - alpha`` interval.
    coverage
        Share of the target population in cells with a source estimate (thin cells included).
    uncovered_share, thin_share
        Target share in cells without any source estimate, and in covered cells whose source support is
        below ``min_support``.
    extrapolation
        ``True`` when ``uncovered_share`` or ``thin_share`` exceeds ``share_tolerance``: the prediction
        then relies on the assumption that the effect in those cells resembles the covered cells.
    cells
        Names of the cell columns.
    uncovered_cells, thin_cells
        Cells (tuples of cell values) with target mass beyond the tolerance but no, or only thin, support.
    cell_table
        Per-cell records (cell values, ``share``, ``estimate``, ``std_error``, ``support``, ``weight`` used,
        ``contribution`` to the estimate, ``status``: ``covered``, ``thin``, ``uncovered`` or
        ``not_in_target``).
    alpha
        Significance level of the interval.
    specification
        What produced the result.
    """

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    coverage: float
    uncovered_share: float
    thin_share: float
    extrapolation: bool
    cells: tuple[str, ...]
    uncovered_cells: tuple[tuple[Any, ...], ...]
    thin_cells: tuple[tuple[Any, ...], ...]
    cell_table: tuple[Mapping[str, Any], ...]
    alpha: float
    specification: Specification

    def cell_frame(self) -> pd.DataFrame:
        """Per-cell table (a fresh DataFrame built from :attr:`cell_table`)."""
        return pd.DataFrame([dict(r) for r in self.cell_table])

    def to_frame(self, *, include_cells: bool = False) -> pd.DataFrame:
        """Tidy table: one row ``term == "transported_effect"``, optionally followed by the covered cells.

        Parameters
        ----------
        include_cells
            When true, add one row per covered cell (``term`` is the cell values joined by ``" | "``) with
            the cell's estimate and normal interval.

        Returns
        -------
        pandas.DataFrame
            The tidy columns, then ``kind`` (``"transported"`` / ``"cell"``), ``weight`` (the renormalised
            target share of the cell), ``coverage`` and ``extrapolation`` (on the first row).
        """
        rows: list[dict[str, Any]] = [{
            "term": "transported_effect", "estimate": self.estimate, "std_error": self.std_error,
            "statistic": self.statistic, "p_value": self.p_value, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "kind": "transported", "weight": 1.0, "coverage": self.coverage,
            "extrapolation": self.extrapolation,
        }]
        if include_cells:
            crit = float(stats.norm.isf(self.alpha / 2))
            for rec in self.cell_table:
                if rec["status"] not in ("covered", "thin"):
                    continue
                est, se = rec["estimate"], rec["std_error"]
                rows.append({
                    "term": _CELL_SEP.join(str(rec[c]) for c in self.cells), "estimate": est,
                    "std_error": se, "statistic": est / se,
                    "p_value": float(2 * stats.norm.sf(abs(est / se))),
                    "ci_low": est - crit * se, "ci_high": est + crit * se, "kind": "cell",
                    "weight": rec["weight"], "coverage": np.nan, "extrapolation": rec["status"] == "thin",
                })
        return tidy_frame(rows)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "estimate": self.estimate, "std_error": self.std_error, "statistic": self.statistic,
            "p_value": self.p_value, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "coverage": self.coverage, "uncovered_share": self.uncovered_share,
            "thin_share": self.thin_share, "extrapolation": self.extrapolation, "cells": list(self.cells),
            "uncovered_cells": [list(c) for c in self.uncovered_cells],
            "thin_cells": [list(c) for c in self.thin_cells],
            "cell_table": [dict(r) for r in self.cell_table], "alpha": self.alpha,
            "specification": self.specification.to_dict(),
        })

    def summary(self) -> Summary:
        """Printable summary: the transported effect, coverage and the extrapolation flag."""
        notes = [f"Interval at {100 * (1 - self.alpha):g}% (normal)."]
        if self.extrapolation:
            notes.append(
                f"Extrapolation: {100 * self.uncovered_share:.1f}% of the target lies in cells without a "
                f"source estimate and {100 * self.thin_share:.1f}% in cells with thin source support."
            )
        facts = (
            ("Cells", " x ".join(self.cells)),
            ("Coverage of target", f"{100 * self.coverage:.1f}%"),
            ("Extrapolation", "yes" if self.extrapolation else "no"),
            ("Estimate (SE)", f"{fmt(self.estimate)} ({fmt(self.std_error)})"),
        )
        return Summary(title="Transferability: effect reweighted to the target population mix",
                       facts=facts, table=self.to_frame(include_cells=True), notes=tuple(notes))

    def plot(self, *, ax: Axes | None = None) -> Axes:
        """Cell estimates with intervals, marker size proportional to the target share.

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

        frame = self.to_frame(include_cells=True)
        cells = frame[frame["kind"] == "cell"]
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 0.35 * len(cells) + 1.8))
        pos = np.arange(len(cells), 0, -1, dtype=float)
        ax.hlines(pos, cells["ci_low"], cells["ci_high"], color="black")
        weights = cells["weight"].to_numpy(dtype=float)
        ax.scatter(cells["estimate"], pos, s=20 + 300 * weights, color="black", zorder=3)
        ax.axvline(self.estimate, color="tab:blue", linewidth=1.2)
        ax.axvspan(self.ci_low, self.ci_high, color="tab:blue", alpha=0.15)
        ax.set_yticks(pos.tolist())
        ax.set_yticklabels(cells["term"].tolist())
        ax.set_xlabel("Effect (vertical line: transported effect)")
        return ax


def _cell_keys(frame: pd.DataFrame, cells: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(frame[c].tolist() for c in cells), strict=True))


def _check_unique(keys: list[tuple[Any, ...]], frame_name: str, remedy: str) -> None:
    seen: set[tuple[Any, ...]] = set()
    dups = []
    for key in keys:
        if key in seen:
            dups.append(key)
        seen.add(key)
    if dups:
        raise DataError(f"{frame_name} has duplicated cells {dups[:5]!r}; {remedy}")


@keyword_options
def transferability(
    subgroup_effects: pd.DataFrame,
    *,
    target_mix: pd.DataFrame,
    cells: Sequence[str] = ("size_class", "sector"),
    estimate: str = "estimate",
    std_error: str = "std_error",
    weight: str = "share",
    support: str | None = None,
    min_support: float = 1.0,
    covariance: np.ndarray | None = None,
    share_tolerance: float = 1e-3,
    sum_tolerance: float = 1e-6,
    on_extrapolation: Literal["warn", "ignore", "error"] = "warn",
    alpha: float = 0.05,
) -> TransferabilityResult:
    r"""Predict the effect of an instrument in a target country by reweighting subgroup effects to its mix.

    Parameters
    ----------
    subgroup_effects
        One row per cell (e.g. size class x sector) with the effect estimated in the source countries
        (possibly pooled across sources with :func:`meta_analysis` first) and its standard error; never
        modified.
    target_mix
        The target country's SME population over the same cells: one row per cell with its share
        (``weight`` column); shares are non-negative and sum to one.  Never modified.
    cells
        Columns identifying a cell, present in both frames.
    estimate, std_error
        Columns of ``subgroup_effects`` with the cell effects and their standard errors.
    weight
        Column of ``target_mix`` with the target shares.
    support
        Optional column of ``subgroup_effects`` measuring source support of a cell (e.g. number of treated
        firms or of source countries); cells with ``support < min_support`` are *thin*.
    min_support
        Threshold for thin support (only used with ``support``).
    covariance
        Optional ``(n, n)`` covariance matrix of the cell estimates in the row order of
        ``subgroup_effects``; its diagonal must equal the squared standard errors (relative tolerance
        1e-6).  Default: cells independent.
    share_tolerance
        Target share above which an uncovered or thin cell counts as extrapolation (default 0.1 %).
    sum_tolerance
        Allowed absolute deviation of the target shares' sum from one.
    on_extrapolation
        ``"warn"`` (default) issues an :class:`~ipf_eval.errors.EstimationWarning` when the prediction
        extrapolates, ``"ignore"`` only sets the flag, ``"error"`` raises
        :class:`~ipf_eval.errors.EstimationError`.
    alpha
        Significance level of the normal interval.

    Returns
    -------
    TransferabilityResult
        Transported effect, standard error, interval, coverage, extrapolation flag and per-cell table.

    Raises
    ------
    DataError
        A frame is not a DataFrame; a column is missing (cells, estimate, standard error, weight,
        support); estimates or shares missing; standard errors missing, zero or negative; support counts
        that are not numbers or negative; negative shares; shares not summing to one; duplicated cells or
        column labels.
    SpecificationError
        ``cells`` empty, bad ``alpha``, tolerances, ``min_support`` or ``on_extrapolation``; ``covariance``
        of the wrong shape, not finite, not symmetric, or inconsistent with the standard errors.
    EstimationError
        No target mass falls in a covered cell, or extrapolation with ``on_extrapolation="error"``.

    Notes
    -----
    Estimand: the average effect on the target's supported SMEs if the cell effects are transportable
    (conditional effects within a cell are the same in source and target; Stuart et al. 2011; Dehejia,
    Pop-Eleches & Samii 2021), :math:`\theta_T = \sum_c w_c \theta_c`, with :math:`w_c` the target share
    of cell :math:`c`.  With covered cells :math:`C` and coverage :math:`\pi = \sum_{c\in C} w_c`, the
    estimator is :math:`\hat\theta_T = \sum_{c\in C} (w_c/\pi) \hat\theta_c` and
    :math:`\mathrm{Var}(\hat\theta_T) = \tilde w' \Sigma \tilde w` (with :math:`\Sigma` diagonal,
    :math:`\sum_c \tilde w_c^2 se_c^2`, unless ``covariance`` is given).  When :math:`\pi = 1` this is
    exactly :math:`\sum_c w_c\hat\theta_c`; when :math:`\pi < 1` it implicitly assumes that the uncovered
    part of the target has the covered part's average effect, which is why the result is flagged.  The
    target shares are taken as known (population register counts); their sampling error is ignored.
    Cells present in the sources but absent from ``target_mix`` get weight 0.

    References
    ----------
    Stuart, E. A., Cole, S. R., Bradshaw, C. P., & Leaf, P. J. (2011). The use of propensity scores to
    assess the generalizability of results from randomized trials. Journal of the Royal Statistical
    Society: Series A, 174(2), 369-386.
    Dehejia, R., Pop-Eleches, C., & Samii, C. (2021). From local to global: External validity in a
    fertility natural experiment. Journal of Business & Economic Statistics, 39(1), 217-243.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"size_class": ["micro", "small"], "sector": ["C", "C"],
    ...                       "estimate": [0.10, 0.04], "std_error": [0.02, 0.01]})
    >>> mix = pd.DataFrame({"size_class": ["micro", "small"], "sector": ["C", "C"], "share": [0.5, 0.5]})
    >>> round(transferability(cells, target_mix=mix).estimate, 3)
    0.07
    """
    check_frame(subgroup_effects, "subgroup_effects")
    check_frame(target_mix, "target_mix")
    cell_cols = [cells] if isinstance(cells, str) else list(cells)
    if not cell_cols:
        raise SpecificationError("cells must name at least one column identifying a cell, got an empty list")
    alpha_f = check_alpha(alpha, function="transferability")
    if on_extrapolation not in ("warn", "ignore", "error"):
        raise SpecificationError(
            f"on_extrapolation must be 'warn', 'ignore' or 'error', got {on_extrapolation!r}"
        )
    for name, value in (("share_tolerance", share_tolerance), ("sum_tolerance", sum_tolerance)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= float(value) < 1:
            raise SpecificationError(f"{name} must be a number in [0, 1), got {value!r}")
    if (isinstance(min_support, bool) or not isinstance(min_support, (int, float))
            or not 0 <= float(min_support) < np.inf):
        raise SpecificationError(
            f"min_support must be a finite number >= 0 (the support a cell needs to count as covered, in the "
            f"units of column support), got {min_support!r}"
        )
    src_cols = {f"cells[{i}]": c for i, c in enumerate(cell_cols)}
    src_cols.update({"estimate": estimate, "std_error": std_error})
    if support is not None:
        src_cols["support"] = support
    check_columns(subgroup_effects, src_cols, "subgroup_effects")
    tgt_cols = {f"cells[{i}]": c for i, c in enumerate(cell_cols)}
    tgt_cols["weight"] = weight
    check_columns(target_mix, tgt_cols, "target_mix")

    theta = pd.to_numeric(subgroup_effects[estimate], errors="coerce").to_numpy(dtype=float)
    se = pd.to_numeric(subgroup_effects[std_error], errors="coerce").to_numpy(dtype=float)
    src_keys = _cell_keys(subgroup_effects, cell_cols)
    if not np.isfinite(theta).all():
        bad = [src_keys[i] for i in np.flatnonzero(~np.isfinite(theta))[:5]]
        raise DataError(f"column {estimate!r} of subgroup_effects has missing or non-numeric estimates in "
                        f"cells {bad!r}; drop those rows (the cells then count as uncovered) or supply "
                        "estimates")
    bad_se = ~np.isfinite(se) | (se <= 0)
    if bad_se.any():
        bad = [src_keys[i] for i in np.flatnonzero(bad_se)[:5]]
        raise DataError(f"column {std_error!r} of subgroup_effects has missing, zero or negative standard "
                        f"errors in cells {bad!r}; every cell estimate needs a positive standard error")
    _check_unique(src_keys, "subgroup_effects",
                  "pool the estimates of a cell first (e.g. with meta_analysis) so each cell has one row")
    if support is not None:
        sup_col = subgroup_effects[support]
        if pd.api.types.is_bool_dtype(sup_col.dtype) or not pd.api.types.is_numeric_dtype(sup_col.dtype):
            raise DataError(f"column {support!r} (parameter support) of subgroup_effects must be numeric "
                            "(the number of firms behind each cell estimate), got dtype "
                            f"{str(sup_col.dtype)!r}; convert it with pandas.to_numeric")
        sup = sup_col.to_numpy(dtype=float, na_value=np.nan)
        neg = sup < 0
        if neg.any():
            bad = [src_keys[i] for i in np.flatnonzero(neg)[:5]]
            raise DataError(f"column {support!r} (parameter support) of subgroup_effects has negative values "
                            f"in cells {bad!r}; support counts the firms behind a cell estimate and is >= 0 "
                            "(a missing support counts as thin)")
    else:
        sup = np.full(len(theta), np.inf)

    shares = pd.to_numeric(target_mix[weight], errors="coerce").to_numpy(dtype=float)
    tgt_keys = _cell_keys(target_mix, cell_cols)
    if not np.isfinite(shares).all():
        raise DataError(f"column {weight!r} of target_mix has missing or non-numeric shares; every cell of "
                        "the target mix needs a share (use 0 for empty cells)")
    if (shares < 0).any():
        bad = [tgt_keys[i] for i in np.flatnonzero(shares < 0)[:5]]
        raise DataError(f"column {weight!r} of target_mix has negative shares in cells {bad!r}; shares are "
                        "population proportions and must be >= 0")
    total = float(shares.sum())
    if abs(total - 1.0) > sum_tolerance:
        raise DataError(f"the shares in column {weight!r} of target_mix sum to {total!r}, not 1 (tolerance "
                        f"{sum_tolerance!r}); normalise them, e.g. mix[{weight!r}] / mix[{weight!r}].sum()")
    _check_unique(tgt_keys, "target_mix", "aggregate the target population to one row per cell")

    n = len(theta)
    if covariance is not None:
        cov = np.asarray(covariance, dtype=float)
        if cov.shape != (n, n):
            raise SpecificationError(f"covariance must be a ({n}, {n}) matrix in the row order of "
                                     f"subgroup_effects, got shape {cov.shape!r}")
        if not np.isfinite(cov).all():
            raise SpecificationError(f"covariance must hold finite numbers; it has "
                                     f"{int((~np.isfinite(cov)).sum())} missing or infinite entries")
        if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-14):
            raise SpecificationError("covariance must be symmetric")
        if not np.allclose(np.diag(cov), se**2, rtol=1e-6, atol=0.0):
            raise SpecificationError("the diagonal of covariance must equal the squared standard errors in "
                                     f"column {std_error!r} (relative tolerance 1e-6)")
    else:
        cov = np.diag(se**2)

    src_index = {key: i for i, key in enumerate(src_keys)}
    target_share = dict(zip(tgt_keys, shares.tolist(), strict=True))
    w_src = np.zeros(n)
    uncovered: list[tuple[Any, ...]] = []
    thin: list[tuple[Any, ...]] = []
    uncovered_share = thin_share = 0.0
    for key, share in target_share.items():
        i = src_index.get(key)
        if i is None:
            uncovered_share += share
            if share > share_tolerance:
                uncovered.append(key)
            continue
        w_src[i] = share
        if not sup[i] >= min_support:  # NaN support counts as thin
            thin_share += share
            if share > share_tolerance:
                thin.append(key)
    coverage = float(w_src.sum())
    if coverage <= 0:
        raise EstimationError(
            "no target mass falls in a cell with a source estimate (coverage 0); the sources cannot speak "
            f"to this target; check that the cell values in {cell_cols!r} are coded the same in both frames"
        )
    w_norm = w_src / coverage
    est = float(w_norm @ theta)
    var = float(w_norm @ cov @ w_norm)
    se_est = float(np.sqrt(var))
    z = est / se_est
    crit = float(stats.norm.isf(alpha_f / 2))
    extrapolation = uncovered_share > share_tolerance or thin_share > share_tolerance
    if extrapolation:
        message = (
            f"transferability extrapolates: {100 * uncovered_share:.1f}% of the target mix is in cells "
            f"without a source estimate {uncovered[:5]!r} and {100 * thin_share:.1f}% in cells with thin "
            f"support {thin[:5]!r}; the estimate assumes those cells behave like the covered ones"
        )
        if on_extrapolation == "error":
            raise EstimationError(message + "; pass on_extrapolation='warn' to accept the extrapolation")
        if on_extrapolation == "warn":
            warnings.warn(message, EstimationWarning, stacklevel=user_stack_level())

    records: list[dict[str, Any]] = []
    for i, key in enumerate(src_keys):
        share = target_share.get(key)
        status = ("not_in_target" if share is None
                  else "thin" if not sup[i] >= min_support else "covered")
        rec = dict(zip(cell_cols, key, strict=True))
        rec.update({"share": 0.0 if share is None else float(share), "estimate": float(theta[i]),
                    "std_error": float(se[i]), "support": None if support is None else float(sup[i]),
                    "weight": float(w_norm[i]), "contribution": float(w_norm[i] * theta[i]),
                    "status": status})
        records.append(rec)
    for key in tgt_keys:
        if key not in src_index:
            rec = dict(zip(cell_cols, key, strict=True))
            rec.update({"share": float(target_share[key]), "estimate": float("nan"),
                        "std_error": float("nan"), "support": None, "weight": 0.0, "contribution": 0.0,
                        "status": "uncovered"})
            records.append(rec)

    spec = Specification(
        estimator="transferability",
        arguments={"cells": cell_cols, "estimate": estimate, "std_error": std_error, "weight": weight,
                   "support": support, "min_support": float(min_support),
                   "covariance": covariance is not None, "share_tolerance": float(share_tolerance),
                   "sum_tolerance": float(sum_tolerance), "on_extrapolation": on_extrapolation,
                   "alpha": alpha_f},
        n_obs=n,
        n_units=len(tgt_keys),
    )
    return TransferabilityResult(
        estimate=est,
        std_error=se_est,
        statistic=float(z),
        p_value=float(2 * stats.norm.sf(abs(z))),
        ci_low=est - crit * se_est,
        ci_high=est + crit * se_est,
        coverage=coverage,
        uncovered_share=float(uncovered_share),
        thin_share=float(thin_share),
        extrapolation=bool(extrapolation),
        cells=tuple(cell_cols),
        uncovered_cells=tuple(uncovered),
        thin_cells=tuple(thin),
        cell_table=tuple(MappingProxyType(r) for r in records),
        alpha=alpha_f,
        specification=spec,
    )
