"""Administrative cost against reach: one chart per instrument of the mix-adjusted delivery benchmark.

:func:`admin_cost_vs_reach_figure` draws, for one instrument, every agency with a published adjusted
take-up and a published administrative cost per supported firm as a point labelled by its country code:
take-up among eligible SMEs adjusted for the SME mix on the x axis (percent, with its confidence interval
as a horizontal error bar), the cost per supported firm on the y axis (euro; no interval, see
:func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark`), dashed lines at the pooled values.
It returns a :class:`~ipf_eval.pipeline.figures.Figure`: rendered once to deterministic SVG, with alt text
(:func:`admin_cost_vs_reach_alt`) that names every point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.evidence.delivery_mix import AdjustedBenchmark
from ipf_eval.pipeline.figures import OKABE_ITO, Figure

__all__ = ["admin_cost_vs_reach_alt", "admin_cost_vs_reach_figure"]

_REACH, _COST = "take_up", "admin_cost_per_supported_firm"


@dataclass(frozen=True)
class _Chart:
    """The points of one instrument (reach in percent, cost in euro) and what is left out."""

    points: pd.DataFrame
    reach_ref: float
    cost_ref: float
    n_left_out: int
    level: str
    words: str


def _chart(benchmark: Any, instrument: Any, function: str) -> _Chart:
    if not isinstance(benchmark, AdjustedBenchmark):
        raise SpecificationError(f"{function}: benchmark must be an AdjustedBenchmark (the result of "
                                 f"adjusted_delivery_benchmark); got {type(benchmark).__name__}.")
    table = benchmark.table
    instruments = sorted(set(table["instrument"]))
    if instrument not in instruments:
        raise SpecificationError(f"{function}: instrument must be one of {instruments!r}; got "
                                 f"{instrument!r}.")
    rows = table.loc[(table["instrument"] == instrument) & (table["status"] == "published")]
    reach = rows.loc[(rows["indicator"] == _REACH) & np.isfinite(rows["adjusted"].astype(float))]
    cost = rows.loc[(rows["indicator"] == _COST) & np.isfinite(rows["raw"].astype(float))]
    both = reach[["country", "adjusted", "adjusted_ci_low", "adjusted_ci_high", "reference"]].merge(
        cost[["country", "raw", "reference"]], on="country", suffixes=("_reach", "_cost"))
    n_agencies = int(table.loc[table["instrument"] == instrument, "country"].nunique())
    if both.empty:
        raise DataError(
            f"{function}: no agency offering {instrument!r} has both a published adjusted take-up and a "
            f"published administrative cost per supported firm ({n_agencies} agencies in the table, "
            f"{len(reach)} with take-up, {len(cost)} with cost). Pass eligibility= and admin_costs= to "
            "adjusted_delivery_benchmark, or show the values in a table.")
    points = pd.DataFrame({
        "country": both["country"].astype(str).to_numpy(),
        "reach": 100.0 * both["adjusted"].to_numpy(dtype=float),
        "reach_low": 100.0 * both["adjusted_ci_low"].to_numpy(dtype=float),
        "reach_high": 100.0 * both["adjusted_ci_high"].to_numpy(dtype=float),
        "cost": both["raw"].to_numpy(dtype=float)}).sort_values("country").reset_index(drop=True)
    return _Chart(points=points, reach_ref=100.0 * float(both["reference_reach"].iloc[0]),
                  cost_ref=float(both["reference_cost"].iloc[0]), n_left_out=n_agencies - len(points),
                  level=f"{1 - benchmark.alpha:.0%}", words=str(instrument).replace("_", " "))


def _euro(value: float) -> str:
    return f"EUR {value:,.0f}"


@keyword_options
def admin_cost_vs_reach_alt(benchmark: AdjustedBenchmark, *, instrument: str) -> str:
    """Describe the cost-against-reach chart of one instrument in words, for its alt text.

    Parameters
    ----------
    benchmark, instrument
        As for :func:`admin_cost_vs_reach_figure` (and the same errors).

    Returns
    -------
    str
        Every agency's adjusted take-up with its interval and its cost per supported firm, the pooled
        values, that costs have no interval and are not adjusted, and how many agencies are not shown.
    """
    c = _chart(benchmark, instrument, "admin_cost_vs_reach_alt")
    p = c.points
    parts = []
    for country, reach, low, high, cost in zip(p["country"], p["reach"], p["reach_low"], p["reach_high"],
                                               p["cost"], strict=True):
        interval = (f" ({c.level} interval {low:.1f} to {high:.1f} %)"
                    if np.isfinite(low) and np.isfinite(high) else "")
        parts.append(f"{country} {reach:.1f} %{interval} at {_euro(float(cost))}")
    i, j = int(np.argmin(p["cost"].to_numpy())), int(np.argmax(p["reach"].to_numpy()))
    text = (f"Chart of administrative cost per supported firm against take-up among eligible SMEs adjusted "
            f"for the SME mix, {c.words}, {len(p)} agenc{'ies' if len(p) != 1 else 'y'}: "
            + "; ".join(parts)
            + f". Lowest cost: {p['country'].iloc[i]}; widest adjusted reach: {p['country'].iloc[j]}. "
            f"All agencies together: take-up {c.reach_ref:.1f} %, {_euro(c.cost_ref)} per supported firm. "
            "Costs are agency totals, not adjusted for the SME mix and without interval")
    if c.n_left_out:
        text += (f". {c.n_left_out} agenc{'ies' if c.n_left_out != 1 else 'y'} offering the instrument "
                 "not shown (a value hidden by disclosure control or missing)")
    return text + "."


@keyword_options
def admin_cost_vs_reach_figure(benchmark: AdjustedBenchmark, *, instrument: str, caption: str | None = None,
                               number: int | None = None) -> Figure:
    """Chart administrative cost per supported firm against mix-adjusted take-up, one point per agency.

    Parameters
    ----------
    benchmark
        Result of :func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark` with take-up and
        cost indicators (``eligibility=`` and ``admin_costs=`` given).
    instrument
        The instrument charted.
    caption, number
        Caption (default: "Administrative cost and reach of <instrument>, by agency") and figure number.

    Returns
    -------
    Figure
        The rendered SVG figure with its alt text (:func:`admin_cost_vs_reach_alt`); byte-identical from
        run to run.

    Raises
    ------
    SpecificationError
        If ``benchmark`` is not an :class:`~ipf_eval.evidence.delivery_mix.AdjustedBenchmark` or the
        instrument is not in it.
    DataError
        If no agency has both a published adjusted take-up and a published cost per supported firm.

    Notes
    -----
    Only published values are drawn (hidden agencies are counted in the alt text, not shown).  The cost
    has no interval: it is an agency total (see the Notes of ``adjusted_delivery_benchmark``).
    """
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D

    c = _chart(benchmark, instrument, "admin_cost_vs_reach_figure")
    alt = admin_cost_vs_reach_alt(benchmark, instrument=instrument)
    p = c.points
    fig = MplFigure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    blue, grey = OKABE_ITO["blue"], "0.45"
    x, y = p["reach"].to_numpy(), p["cost"].to_numpy()
    has_ci = np.isfinite(p["reach_low"].to_numpy()) & np.isfinite(p["reach_high"].to_numpy())
    err = np.vstack([np.where(has_ci, x - p["reach_low"].to_numpy(), 0.0),
                     np.where(has_ci, p["reach_high"].to_numpy() - x, 0.0)])
    ax.errorbar(x, y, xerr=err, fmt="o", color=blue, ecolor=blue, elinewidth=1.5, capsize=3, markersize=6,
                gid="agencies", zorder=3)
    for r in p.itertuples(index=False):
        ax.annotate(str(r.country).replace("$", r"\$"), (r.reach, r.cost), xytext=(5, 5),
                    textcoords="offset points", fontsize="small", gid=f"label-{r.country}")
    ax.axvline(c.reach_ref, color=grey, linestyle="--", linewidth=1.0, gid="pooled-reach")
    ax.axhline(c.cost_ref, color=grey, linestyle=":", linewidth=1.0, gid="pooled-cost")
    ax.set_xlabel("Take-up among eligible SMEs, adjusted for the SME mix (%)")
    ax.set_ylabel("Administrative cost per supported firm (euro)")
    ax.yaxis.set_major_formatter("{x:,.0f}")
    handles = [Line2D([], [], color=blue, marker="o", linewidth=1.5),
               Line2D([], [], color=grey, linestyle="--", linewidth=1.0),
               Line2D([], [], color=grey, linestyle=":", linewidth=1.0)]
    names = [f"Agency (take-up with {c.level} confidence interval)", "Take-up, all agencies together",
             "Cost per supported firm, all agencies together"]
    fig.legend(handles, names, loc="outside lower center", fontsize="small", frameon=False)
    caption = caption if caption is not None else f"Administrative cost and reach of {c.words}, by agency"
    return Figure.from_matplotlib(fig, alt=alt, caption=caption, number=number)
