r"""The forum's side of the mix-adjusted delivery benchmark from aggregates.

The computations of :func:`~ipf_eval.evidence.delivery_aggregates.adjusted_benchmark_from_aggregates`,

private to the evidence layer.  Each ``*_part`` function takes the validated aggregates of one indicator
(the columns of :data:`~ipf_eval.evidence.delivery_aggregates.AGGREGATE_COLUMNS`, every agency of every
instrument), computes per instrument the observed, expected, adjusted and pooled values with their
analytic intervals and returns them as a :class:`~ipf_eval.evidence._delivery_parts.Part`, the rows of
:func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark`'s table.

* :func:`rate_part`: indirect standardisation of stratum counts (the arithmetic of
  :func:`~ipf_eval.evidence._standardise.rate_draws` on the data row), a Wilson score interval for the
  raw rate and a delta-method interval on the log scale for the adjusted rate;
* :func:`days_part`: quantiles of piecewise-linear distribution functions built from the histograms (linear
  interpolation within bins), with the distribution-free order-statistic interval;
* :func:`cost_part`: cost ratios of agency totals, raw, with the pooled reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ipf_eval.evidence._delivery_parts import PROBS, Part
from ipf_eval.evidence._standardise import _rates

FloatArray = NDArray[np.float64]
#: Stratum into which an agency merges the strata that fail disclosure control.
OTHER = "other"


def _strata_row(inst: str, ind: str, n_parts: int, strata: Sequence[str], share_other: float
                ) -> dict[str, Any]:
    return {"instrument": inst, "indicator": ind, "variables": f"{n_parts} mix variable(s), as delivered",
            "nested_left_out": "", "n_strata": len(strata), "share_firms_collapsed": share_other}


def _n_parts(strata: Sequence[str]) -> int:
    parts = {s.count("|") + 1 for s in strata if s != OTHER}
    return parts.pop() if parts else 0


def _single_agency_note(ind: str, inst: str, counts: pd.DataFrame) -> list[str]:
    """Note the share of units in strata that only one agency delivered (they carry no adjustment)."""
    held = counts.groupby("stratum")["country"].nunique()
    alone = counts.loc[counts["stratum"].map(held) == 1, "n"].sum()
    share = float(alone / counts["n"].sum()) if counts["n"].sum() > 0 else 0.0
    if share <= 0:
        return []
    return [f"{ind} of {inst}: {share:.1%} of the units are in strata delivered by one agency only; there "
            "the reference is that agency's own rate or distribution, so they carry no adjustment."]


# ------------------------------------------------------------------------------------------------ rates
def wilson(events: FloatArray, n: FloatArray, z: float) -> tuple[FloatArray, FloatArray]:
    r"""Wilson score interval ends for ``events`` out of ``n`` (NaN where ``n = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = events / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    low = np.where(events <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))  # exact ends at p = 0 and p = 1
    high = np.where(events >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def rate_intervals(y: FloatArray, m: FloatArray, alpha: float) -> dict[str, FloatArray]:
    r"""Point values and analytic intervals of every agency's raw and adjusted rate.

    Parameters
    ----------
    y, m
        Events and units, agencies by strata (one instrument).
    alpha
        Intervals have level :math:`1 - \alpha`.

    Returns
    -------
    dict
        ``raw, raw_ci_low, raw_ci_high, raw_std_error, adjusted, adjusted_ci_low, adjusted_ci_high,
        adjusted_std_error, expected`` (one value per agency) and ``reference`` (a scalar array).

    Notes
    -----
    With :math:`A_a = r\, Y_a / D_a`, :math:`D_a = \sum_s M_{as} r_s`,
    :math:`r_s = Y_{\cdot s} / M_{\cdot s}`, :math:`r = Y_{\cdot\cdot} / M_{\cdot\cdot}`, and the stratum
    counts :math:`Y_{bs}` of every agency binomial given :math:`M_{bs}`, the delta method gives

    .. math:: \widehat{\operatorname{Var}}(\log A_a)
              = \sum_{b,s} g_{bs}^2\, \frac{Y_{bs}(M_{bs} - Y_{bs})}{M_{bs}}, \qquad
              g_{bs} = \frac{1}{M_{\cdot\cdot} r} + \frac{[b = a]}{Y_a} - \frac{M_{as}}{M_{\cdot s} D_a},

    the interval :math:`A_a \exp(\pm z_{1-\alpha/2} \hat\sigma)`.  When :math:`Y_a = 0` or
    :math:`Y_a = M_a` (the log or the variance degenerates) the Wilson interval of the raw rate is scaled
    by :math:`r / E_a` instead; when no agency has an event (:math:`r = 0`) the adjusted interval is the
    raw one.
    """
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    observed, expected, adjusted, reference = (a[0] for a in _rates(y[None], m[None]))
    r = float(reference)
    y_a, m_a = y.sum(axis=1), m.sum(axis=1)
    raw_lo, raw_hi = wilson(y_a, m_a, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_se = np.sqrt(observed * (1.0 - observed) / m_a)
        m_s = m.sum(axis=0)
        r_s = np.where(m_s > 0, y.sum(axis=0) / np.where(m_s > 0, m_s, 1.0), 0.0)
        d_a = (m * r_s).sum(axis=1)
        var_units = np.where(m > 0, y * (m - y) / np.where(m > 0, m, 1.0), 0.0)
        factor = np.where(r == 0, 1.0, r / (d_a / m_a))
    lo, hi, se = (np.full(len(y_a), np.nan) for _ in range(3))
    for a in range(len(y_a)):
        if not math.isfinite(float(adjusted[a])):
            continue
        if r > 0 and 0 < y_a[a] < m_a[a] and d_a[a] > 0:
            g = 1.0 / (m.sum() * r) - np.where(m_s > 0, m[a] / np.where(m_s > 0, m_s, 1.0), 0.0) / d_a[a]
            g = np.broadcast_to(g, m.shape).copy()
            g[a] += 1.0 / y_a[a]
            s_log = float(np.sqrt((g * g * var_units).sum()))
            lo[a], hi[a] = adjusted[a] * math.exp(-z * s_log), adjusted[a] * math.exp(z * s_log)
            se[a] = adjusted[a] * s_log
        else:
            lo[a], hi[a], se[a] = factor[a] * raw_lo[a], factor[a] * raw_hi[a], factor[a] * raw_se[a]
    return {"raw": observed, "raw_ci_low": raw_lo, "raw_ci_high": raw_hi, "raw_std_error": raw_se,
            "adjusted": adjusted, "adjusted_ci_low": lo, "adjusted_ci_high": hi, "adjusted_std_error": se,
            "expected": expected, "reference": np.asarray(r)}


def rate_part(rows: pd.DataFrame, ind: str, alpha: float) -> Part:
    """Rows of one rate indicator: ``country, instrument, stratum, n, events``."""
    part = Part()
    for inst, by_inst in rows.groupby("instrument", sort=True):
        counts = by_inst.loc[by_inst["n"] > 0]
        if counts.empty:
            continue
        countries, ci = np.unique(counts["country"].to_numpy(dtype=str), return_inverse=True)
        strata, si = np.unique(counts["stratum"].to_numpy(dtype=str), return_inverse=True)
        n, y = np.zeros((countries.size, strata.size)), np.zeros((countries.size, strata.size))
        np.add.at(n, (ci, si), counts["n"].to_numpy(dtype=float))
        np.add.at(y, (ci, si), counts["events"].to_numpy(dtype=float))
        out = rate_intervals(y, n, alpha)
        m_a = n.sum(axis=1)
        for gi, country in enumerate(countries):
            part.rows[(str(country), str(inst), ind)] = {
                **{k: float(v[gi]) for k, v in out.items() if k != "reference"},
                "reference": float(out["reference"]), "n_firms": float(m_a[gi]), "status": "published",
                "rule": ""}
        other = float(n[:, list(strata).index(OTHER)].sum() / m_a.sum()) if OTHER in strata else 0.0
        names = [str(x) for x in strata]
        part.strata.append(_strata_row(str(inst), ind, _n_parts(names), names, other))
        part.notes += _single_agency_note(ind, str(inst), counts)
    return part


# -------------------------------------------------------------------------------------------- quantiles
def _inverse(grid: FloatArray, cum: FloatArray, targets: FloatArray) -> FloatArray:
    """Invert the piecewise-linear cumulative ``cum`` (on ``grid``) at each target (clamped to the grid)."""
    i = np.clip(np.searchsorted(cum, targets, side="left"), 1, len(grid) - 1)
    c0, c1 = cum[i - 1], cum[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(c1 > c0, (targets - c0) / (c1 - c0), 0.0)
    x = grid[i - 1] + np.clip(frac, 0.0, 1.0) * (grid[i] - grid[i - 1])
    top = grid[np.argmax(cum >= cum[-1])]  # where the last count is reached
    return np.where(targets <= cum[0], grid[0], np.where(targets >= cum[-1], top, x))


def _cumulative(bins: pd.DataFrame, grid: FloatArray) -> FloatArray:
    """Cumulative counts on ``grid`` of histogram rows, each bin's count spread evenly over the bin."""
    lo, hi = bins["bin_low"].to_numpy(dtype=float), bins["bin_high"].to_numpy(dtype=float)
    share = np.clip((grid[None, :] - lo[:, None]) / (hi - lo)[:, None], 0.0, 1.0)
    return np.asarray(bins["n"].to_numpy(dtype=float) @ share, dtype=np.float64)


def days_part(rows: pd.DataFrame, inds: Sequence[str], alpha: float, min_tail: int, name: str) -> Part:
    r"""Histogram rows ``country, instrument, stratum, bin_low, bin_high, n``: the quantile indicators.

    Notes
    -----
    Every histogram defines a piecewise-linear cumulative count :math:`C_{as}(x)` (its bins' counts spread
    evenly over the bins); sums of them are piecewise linear on the union of all bin edges, so quantiles of
    the observed (:math:`\sum_s C_{as}`), pooled (:math:`\sum_{a,s} C_{as}`) and expected
    (:math:`\sum_s \pi_{as} \sum_b C_{bs} / N_{\cdot s}`) distributions are exact inverses.  The interval
    for the observed :math:`p`-quantile of :math:`N_a` applications is :math:`[x_{(l)}, x_{(u)}]` with
    :math:`l = F^{-1}_{B}(\alpha/2)`, :math:`u = F^{-1}_{B}(1 - \alpha/2) + 1`, :math:`B \sim
    \operatorname{Bin}(N_a, p)` and :math:`x_{(k)}` read at cumulative count :math:`k - 1/2`; it is shifted
    by :math:`\hat Q(p) - E_a` to the adjusted value.
    """
    part = Part()
    probs = np.array([PROBS[i] for i in inds])
    for inst, by_inst in rows.groupby("instrument", sort=True):
        hist = by_inst.loc[by_inst["n"] > 0]
        if hist.empty:
            continue
        grid = np.unique(np.concatenate([hist["bin_low"].to_numpy(float), hist["bin_high"].to_numpy(float)]))
        countries = sorted(str(c) for c in hist["country"].unique())
        strata = sorted(str(s) for s in hist["stratum"].unique())
        cum = np.zeros((len(countries), len(strata), grid.size))
        for (c, s), g in hist.groupby(["country", "stratum"], sort=True):
            cum[countries.index(str(c)), strata.index(str(s))] = _cumulative(g, grid)
        n_as = cum[:, :, -1]
        n_s = n_as.sum(axis=0)
        pooled = cum.sum(axis=(0, 1))
        reference = _inverse(grid, pooled, probs * pooled[-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            f_s = np.where(n_s[:, None] > 0, cum.sum(axis=0) / np.where(n_s > 0, n_s, 1.0)[:, None], 0.0)
        for gi, country in enumerate(countries):
            own = cum[gi].sum(axis=0)
            n_a = float(own[-1])
            observed = _inverse(grid, own, probs * n_a)
            expected = _inverse(grid, (n_as[gi] / n_a) @ f_s, probs)
            adjusted = reference + observed - expected
            l_rank = stats.binom.ppf(alpha / 2.0, n_a, probs)
            u_rank = stats.binom.ppf(1.0 - alpha / 2.0, n_a, probs) + 1.0
            lo = np.where(l_rank >= 1, _inverse(grid, own, l_rank - 0.5), grid[0])
            hi = np.where(u_rank <= n_a, _inverse(grid, own, u_rank - 0.5), grid[-1])
            below = np.interp(observed, grid, own)  # applications below the quantile, on the histogram
            for k, ind in enumerate(inds):
                key = (country, str(inst), ind)
                if min(below[k], n_a - below[k]) < min_tail:
                    part.hide(key, "quantile_tail", f"fewer than {min_tail} decided applications above or "
                              "below the quantile", name)
                    continue
                shift = adjusted[k] - observed[k]
                part.rows[key] = {
                    "raw": observed[k], "raw_ci_low": lo[k], "raw_ci_high": hi[k], "raw_std_error": np.nan,
                    "adjusted": adjusted[k], "adjusted_ci_low": lo[k] + shift,
                    "adjusted_ci_high": hi[k] + shift,
                    "adjusted_std_error": np.nan, "expected": expected[k], "reference": reference[k],
                    "n_firms": n_a, "status": "published", "rule": ""}
        other = float(n_as[:, strata.index(OTHER)].sum() / n_as.sum()) if OTHER in strata else 0.0
        for ind in inds:
            part.strata.append(_strata_row(str(inst), ind, _n_parts(strata), strata, other))
        part.notes += _single_agency_note("days_to_decision", str(inst), hist)
    return part


# ------------------------------------------------------------------------------------------------ costs
def cost_part(costs: pd.DataFrame, amounts: pd.DataFrame, inds: Sequence[str]) -> Part:
    """``costs``: the ``admin_cost`` rows (n awards, events euro); ``amounts``: the ``euro_granted`` rows."""
    part = Part()
    granted = {(str(c), str(k)): float(e) for c, k, e in amounts[["country", "instrument", "events"]]
               .itertuples(index=False)}
    stats_: dict[tuple[str, str, str], tuple[float, float]] = {}
    for c, k, n, e in costs[["country", "instrument", "n", "events"]].itertuples(index=False):
        for ind in inds:
            den = float(n) if ind == "admin_cost_per_supported_firm" else granted.get((str(c), str(k)), 0.0)
            if den > 0:
                key = (str(c), str(k), ind)
                stats_[key] = (float(e), den)
                part.rows[key] = {"raw": float(e) / den, "n_firms": float(n), "status": "published",
                                  "rule": ""}
    for key in stats_:
        mine = [stats_[k2] for k2 in stats_ if k2[1:] == key[1:]]
        part.rows[key]["reference"] = sum(a for a, _ in mine) / sum(d for _, d in mine)
    return part
