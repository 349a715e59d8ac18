"""Report figures a non-statistician can read, embedded with their alt text.

A notebook draws a figure (:func:`event_study_figure`, :func:`forest_figure`), describes it in one sentence
(:func:`event_study_alt`, :func:`forest_alt`) and displays ``Figure.from_matplotlib(fig, alt=...,
caption=...)``: the plot is rendered once to SVG, closed (so the inline backend does not show it again
without alt text) and shown as ``<figure><img alt=...><figcaption>`` HTML, which nbconvert copies into the
report.  Its plain text is ``"Figure N. caption"``, stable for nbval.

Effects are shown in percent for log outcomes, percentage points for shares and the unit for levels.
Colours are Okabe-Ito (distinguishable under the common colour-vision deficiencies); before/after points
also differ in marker fill, so colour is never the only cue.

References
----------
Okabe, M. and Ito, K. (2008). Color Universal Design (CUD): how to make figures and presentations that are
friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ipf_eval._defaults import keyword_options
from ipf_eval.did import AggregateResult
from ipf_eval.errors import DataError, SpecificationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

__all__ = ["OKABE_ITO", "SVG_HASHSALT", "Figure", "event_study_alt", "event_study_figure", "forest_alt",
           "forest_figure", "headline_effects_alt", "headline_effects_figure"]

#: The Okabe-Ito colour-blind-safe palette (Okabe and Ito 2008).
OKABE_ITO: Mapping[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
_PRE, _POST = OKABE_ITO["orange"], OKABE_ITO["blue"]
_SCALES = ("log", "share", "level")
#: Fixed salt of the ids matplotlib writes into SVG (clip paths, glyphs); random per render otherwise.
SVG_HASHSALT = "ipf-eval"

Scale = Literal["log", "share", "level"]
FloatArray = NDArray[np.float64]


def _check_alt(alt: Any) -> None:
    if not isinstance(alt, str) or not alt.strip():
        raise SpecificationError(f"alt must be a non-empty description of the figure; got {alt!r}. Say in "
                                 "one sentence what a reader should see (event_study_alt writes one).")


@dataclass(frozen=True, repr=False)
class Figure:
    """A rendered figure with its alt text and caption; build it with :meth:`from_matplotlib`.

    Displays in Jupyter as an HTML ``<figure>`` whose ``<img>`` carries the alt text and embeds the image
    as a base64 data URI; its ``repr`` is ``"Figure N. caption"`` (``"caption"`` when unnumbered).

    Attributes
    ----------
    image, mime
        The rendered image and its type, ``"image/svg+xml"`` or ``"image/png"``.
    alt, caption, number
        Description for screen readers (non-empty), caption and figure number (``None``: unnumbered).
    """

    image: bytes
    mime: str
    alt: str
    caption: str
    number: int | None = None

    def __post_init__(self) -> None:
        _check_alt(self.alt)
        if not isinstance(self.caption, str):
            raise SpecificationError(f"caption must be a str; got {type(self.caption).__name__}.")
        if self.number is not None and (type(self.number) is not int or self.number < 1):
            raise SpecificationError(f"number must be a positive int or None; got {self.number!r}.")

    @classmethod
    def from_matplotlib(cls, fig: MplFigure, *, alt: str, caption: str, number: int | None = None,
                        fmt: Literal["svg", "png"] = "svg") -> Figure:
        """Render a matplotlib figure, close it and return the display object.

        Parameters
        ----------
        fig
            The figure (``ax.figure`` for an Axes); closed after rendering.
        alt, caption, number
            One-sentence description of what the figure shows (not empty), the caption (plain text,
            escaped on display) and the figure number shown before it (``None``: none).
        fmt
            ``"svg"`` (default: text stays crisp at any zoom) or ``"png"`` (at ``savefig.dpi``).

        Returns
        -------
        Figure
            The rendered figure.

        Raises
        ------
        SpecificationError
            If ``alt`` is empty, ``fig`` is not a matplotlib Figure or ``fmt`` is unknown.

        Notes
        -----
        The SVG is byte-identical from run to run: matplotlib hashes its element ids (clip paths, glyphs)
        with ``svg.hashsalt``, a random UUID unless set, so the render runs under a fixed salt (in an
        ``rc_context``, leaving the caller's settings alone); ``metadata={"Date": None}`` leaves out the
        timestamp.  The caption becomes the SVG ``<title>`` and the alt text its description.
        """
        from matplotlib import rc_context
        from matplotlib.figure import Figure as MplFigure

        _check_alt(alt)
        if not isinstance(fig, MplFigure):
            raise SpecificationError(f"fig must be a matplotlib Figure; got {type(fig).__name__}. Pass "
                                     "ax.figure for an Axes.")
        if fmt not in ("svg", "png"):
            raise SpecificationError(f"fmt must be one of ['svg', 'png']; got {fmt!r}.")
        buf = io.BytesIO()
        try:
            if fmt == "svg":
                meta = {"Date": None, "Title": str(caption), "Description": alt}
                with rc_context({"svg.hashsalt": SVG_HASHSALT, "svg.fonttype": "path"}):
                    fig.savefig(buf, format="svg", metadata=meta, bbox_inches="tight")
            else:
                fig.savefig(buf, format="png", bbox_inches="tight")
        finally:
            if fig.canvas.manager is not None:  # a pyplot figure: release it, keep the inline backend quiet
                import matplotlib.pyplot as plt

                plt.close(fig)
        mime = "image/svg+xml" if fmt == "svg" else "image/png"
        return cls(image=buf.getvalue(), mime=mime, alt=alt, caption=caption, number=number)

    def numbered(self, number: int | None) -> Figure:
        """Return a copy with another figure number."""
        return replace(self, number=number)

    def to_html(self) -> str:
        """Return the ``<figure>`` markup (alt text and caption escaped, image as a base64 data URI)."""
        data = base64.b64encode(self.image).decode("ascii")
        return (f'<figure><img alt="{html.escape(self.alt)}" src="data:{self.mime};base64,{data}">'
                f"<figcaption>{html.escape(repr(self))}</figcaption></figure>")

    _repr_html_ = to_html

    def __repr__(self) -> str:
        return self.caption if self.number is None else f"Figure {self.number}. {self.caption}"


@dataclass(frozen=True)
class _Units:
    """How effects on one scale are shown: transformation, axis label and numbers in words."""

    scale: str
    unit: str | None

    @classmethod
    def check(cls, scale: Any, unit: str | None, function: str) -> _Units:
        if scale not in _SCALES:
            raise SpecificationError(f"{function}: scale must be one of {list(_SCALES)!r}; got {scale!r}.")
        if scale == "level" and (not isinstance(unit, str) or not unit.strip()):
            raise SpecificationError(f"{function}: scale='level' needs the outcome's unit for the axis "
                                     f"label; got unit={unit!r}. Pass e.g. unit='euros' or unit='jobs'.")
        return cls(str(scale), unit)

    def show(self, values: Any) -> FloatArray:
        """Model scale -> reader's: ``100 (exp(b) - 1)`` for log, ``100 b`` for share, ``b`` for level."""
        v = np.asarray(values, dtype=np.float64)
        return np.asarray(100 * np.expm1(v) if self.scale == "log" else 100 * v if self.scale == "share"
                          else v)

    def axis(self, outcome_label: str) -> str:
        unit = {"log": "%", "share": "percentage points"}.get(self.scale, self.unit)
        return _mpl_text(f"Effect on {outcome_label} ({unit})")

    def number(self, value: float) -> str:
        if not np.isfinite(value):
            return "not estimable"
        if self.scale == "level":
            return f"{value:+,.0f}" if abs(value) >= 100 else f"{value:+.3g}"
        return f"{value:+.1f}" + ("%" if self.scale == "log" else "")

    def value(self, value: float) -> str:
        return self.span(value, None)

    def span(self, low: float, high: float | None, sep: str = " to ") -> str:
        suffix = {"log": "", "share": " percentage points"}.get(self.scale, f" {self.unit}")
        return self.number(low) + ("" if high is None else sep + self.number(high)) + suffix


def _mpl_text(text: str) -> str:
    """Escape ``$`` so that matplotlib shows text from data literally (no mathtext)."""
    return text.replace("$", r"\$")


def _new_axes(figsize: tuple[float, float] | None = None) -> Axes:
    """Axes on a figure pyplot does not manage (never shown implicitly, no global state)."""
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=figsize, layout="constrained").add_subplot()


def _root(ax: Axes) -> MplFigure:
    from matplotlib.figure import Figure as MplFigure

    fig = ax.figure
    return fig if isinstance(fig, MplFigure) else fig.figure


def _event_values(dynamic: Any, units: _Units, function: str) -> tuple[NDArray[np.int64], FloatArray,
                                                                         FloatArray, FloatArray, str]:
    """Event times, estimates and pointwise interval ends on the reader's scale, and the level ("95%")."""
    if not isinstance(dynamic, AggregateResult) or dynamic.kind != "dynamic" or not dynamic.labels.size:
        got = dynamic.kind if isinstance(dynamic, AggregateResult) else type(dynamic).__name__
        raise SpecificationError(f"{function}: dynamic must be an AggregateResult of kind 'dynamic' with "
                                 f"event times; got {got!r}. Use did.aggregate(res, kind='dynamic').")
    est, lo, hi = (units.show(a) for a in (dynamic.estimates, dynamic.ci_low, dynamic.ci_high))
    return dynamic.labels.astype(np.int64), est, lo, hi, f"{1.0 - dynamic.alpha:.0%}"


@keyword_options
def event_study_figure(dynamic: AggregateResult, *, outcome_label: str, scale: Scale = "log",
                       unit: str | None = None, band: bool = True, ax: Axes | None = None) -> MplFigure:
    r"""Plot an event study for readers who are not statisticians.

    One point per year since support with its pointwise confidence interval (and the wider band covering
    all years together, when the bootstrap ran and ``band`` is true); years before support in orange with
    hollow markers, after support in blue with filled ones; a line at zero and a dashed line, labelled,
    where support starts (between years -1 and 0).  Event times are labelled as integers only.

    Parameters
    ----------
    dynamic
        Result of ``ipf_eval.did.aggregate(res, kind="dynamic")``.
    outcome_label
        The outcome in words, as it reads in "Effect on ..." (``"employment"``).
    scale, unit
        ``"log"`` (log outcome, shown in percent), ``"share"`` (a 0-1 share, shown in percentage points)
        or ``"level"`` (shown in ``unit``, e.g. ``"euros"``, required then and ignored otherwise).
    band
        Draw the simultaneous (sup-t) band when the result has one.
    ax
        Axes to draw on; by default a new figure that pyplot does not manage.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on, for :meth:`Figure.from_matplotlib`.

    Raises
    ------
    SpecificationError
        If ``dynamic`` is not a dynamic aggregation, ``scale`` is unknown or ``unit`` is missing for
        ``scale="level"``.

    Notes
    -----
    On the log scale an estimate :math:`b` is shown as :math:`100(e^{b} - 1)` percent, as are both ends of
    its interval (the map is monotone, so intervals keep their coverage).

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> from ipf_eval.did import aggregate, att_gt
    >>> panel = simulate_firms(seed=7, n_firms=4000).evaluation_sample("AT", "loan_guarantee")
    >>> dyn = aggregate(att_gt(panel, yname="log_employment", tname="year", idname="firm_id",
    ...                        gname="first_support_year", seed=7), kind="dynamic", min_e=-5, max_e=5)
    >>> fig = event_study_figure(dyn, outcome_label="employment")
    >>> alt = event_study_alt(dyn, outcome_label="employment")
    >>> Figure.from_matplotlib(fig, alt=alt, caption="Employment of supported firms", number=1)
    Figure 1. Employment of supported firms
    """
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    units = _Units.check(scale, unit, "event_study_figure")
    e, est, lo, hi, level = _event_values(dynamic, units, "event_study_figure")
    ax = _new_axes() if ax is None else ax
    uniform = dynamic.uniform_band() if band else None
    pre = e < 0
    for mask, colour, name, face, key in ((pre, _PRE, "Before support", "white", "pre"),
                                          (~pre, _POST, "After support", _POST, "post")):
        if not mask.any():
            continue
        if uniform is not None:
            ax.vlines(e[mask], units.show(uniform[0])[mask], units.show(uniform[1])[mask], colors=colour,
                      alpha=0.25, linewidth=7, gid=f"band-{key}")
        ok = mask & np.isfinite(lo) & np.isfinite(hi)
        ax.vlines(e[ok], lo[ok], hi[ok], colors=colour, linewidth=1.5, gid=f"intervals-{key}")
        ax.plot(e[mask], est[mask], linestyle="none", marker="o", markersize=6, color=colour,
                markerfacecolor=face, markeredgewidth=1.5, label=name, gid=f"estimates-{key}", zorder=3)
    ax.axhline(0.0, color=OKABE_ITO["black"], linewidth=0.8, gid="zero-line")
    ax.axvline(-0.5, color=OKABE_ITO["black"], linewidth=1.0, linestyle="--", gid="support-line")
    ax.text(-0.45, 0.98, "Support starts", transform=blended_transform_factory(ax.transData, ax.transAxes),
            ha="left", va="top", fontsize="small", gid="support-label")
    ax.set_xticks(e.tolist(), [f"{v:d}".replace("-", "\N{MINUS SIGN}") for v in e.tolist()])
    ax.minorticks_off()
    ax.set_xlim(min(int(e.min()), 0) - 0.6, max(int(e.max()), -1) + 0.6)
    ax.set_xlabel("Years since support")
    ax.set_ylabel(units.axis(outcome_label))
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", linewidth=1.5))
    labels.append(f"{level} confidence interval (each year)")
    if uniform is not None:
        handles.append(Line2D([], [], color="0.3", alpha=0.25, linewidth=7))
        labels.append(f"{level} band (all years together)")
    ax.legend(handles, labels, loc="best", fontsize="small", frameon=False)
    return _root(ax)


@keyword_options
def event_study_alt(dynamic: AggregateResult, *, outcome_label: str, scale: Scale = "log",
                    unit: str | None = None) -> str:
    """Describe an event-study figure in one sentence, for its alt text.

    Parameters
    ----------
    dynamic, outcome_label, scale, unit
        As for :func:`event_study_figure` (and the same errors).

    Returns
    -------
    str
        The number of years before support, their range and whether all their pointwise intervals include
        zero; the effect, with its interval, in the first and the last year after support.
    """
    units = _Units.check(scale, unit, "event_study_alt")
    e, est, lo, hi, level = _event_values(dynamic, units, "event_study_alt")
    pre, post = np.flatnonzero(e < 0), np.flatnonzero(e >= 0)
    before = "no years before support are shown"
    if pre.size:
        finite = pre[np.isfinite(lo[pre]) & np.isfinite(hi[pre])]
        missed = int(np.sum((lo[finite] > 0) | (hi[finite] < 0)))
        years = "the year" if pre.size == 1 else f"the {pre.size} years"
        before = (f"in {years} before support the estimates lie between "
                  f"{units.span(float(est[pre].min()), float(est[pre].max()), ' and ')}, and ")
        before += (f"every {level} confidence interval includes zero (no clear difference before support)"
                   if missed == 0 else
                   f"in {missed} of them the {level} confidence interval excludes zero (a difference "
                   "already before support)")
    after = "no years after support are shown"
    if post.size:
        after = "the effect is " + " and ".join(
            f"{units.value(float(est[i]))} ({level} interval {units.span(float(lo[i]), float(hi[i]))}) in "
            + ("year 0 (the first year of support)" if e[i] == 0 else f"year {e[i]}")
            for i in dict.fromkeys((int(post[0]), int(post[-1]))))
    return (f"Chart of the estimated effect of support on {outcome_label} by year since support: {before}; "
            f"{after}.")


def _forest_inputs(rows: Any, pooled: Any, label_col: str, function: str
                   ) -> tuple[list[str], FloatArray, FloatArray | None]:
    """Check the forest inputs; return labels, ``n x 3`` (estimate, low, high) and the pooled 5-vector."""
    if not isinstance(rows, pd.DataFrame):
        raise SpecificationError(f"{function}: rows must be a pandas DataFrame; got {type(rows).__name__}.")
    missing = [c for c in (label_col, "estimate", "ci_low", "ci_high") if c not in rows.columns]
    if missing or not len(rows):
        raise DataError(
            f"{function}: rows need at least one row and the columns {missing!r} (it has {len(rows)} rows "
            f"and columns {list(rows.columns)!r}); pass label_col= for another label column."
        )
    values = rows[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=np.float64)
    labels = [str(v) for v in rows[label_col]]
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        raise DataError(
            f"{function}: {bad.size} of {len(rows)} rows have a missing or infinite estimate or interval "
            f"end (e.g. {[labels[i] for i in bad[:3]]!r}); drop them first."
        )
    if pooled is None:
        return labels, values, None
    if not isinstance(pooled, Mapping | pd.Series):
        raise SpecificationError(f"{function}: pooled must be a mapping or Series with estimate, ci_low and "
                                 f"ci_high; got {type(pooled).__name__}.")
    keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    got = [pooled.get(k) for k in keys]
    pool = np.array([np.nan if v is None else float(v) for v in got])
    if not np.isfinite(pool[:3]).all():
        raise DataError(f"{function}: pooled needs finite estimate, ci_low and ci_high; got {got[:3]!r}.")
    return labels, values, pool


@keyword_options
def forest_figure(rows: pd.DataFrame, *, pooled: Mapping[str, float] | pd.Series | None = None,
                  label_col: str = "country", outcome_label: str, scale: Scale = "log",
                  unit: str | None = None, pooled_label: str = "All countries (pooled)", alpha: float = 0.05,
                  ax: Axes | None = None) -> MplFigure:
    """Plot one row per country estimate, top to bottom as given, and the pooled diamond at the bottom.

    Parameters
    ----------
    rows, label_col
        One row per estimate with ``estimate``, ``ci_low``, ``ci_high`` (model scale) and the label column.
    pooled
        ``estimate``, ``ci_low``, ``ci_high`` and optionally ``pi_low``, ``pi_high`` (prediction interval,
        a thin line through the diamond), e.g. the pooled row of ``meta_analysis(...).to_frame()``.
    outcome_label, scale, unit
        As for :func:`event_study_figure`; the x axis reads "Effect on <outcome_label> (<unit>)".
    pooled_label, alpha
        Label of the pooled row; level of the intervals given (for the legend and alt text).
    ax
        Axes to draw on; by default a new figure, 0.4 inch high per row, legend below the plot.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    SpecificationError, DataError
        ``rows`` not a DataFrame, ``pooled`` not a mapping, ``scale`` unknown or ``unit`` missing; ``rows``
        empty, lacking a column or with non-finite values, or ``pooled`` incomplete.
    """
    from matplotlib import rcParams
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    units = _Units.check(scale, unit, "forest_figure")
    labels, values, pool = _forest_inputs(rows, pooled, label_col, "forest_figure")
    n, own = len(labels), ax is None
    if ax is None:
        ax = _new_axes((float(rcParams["figure.figsize"][0]), 0.4 * (n + (pool is not None)) + 1.9))
    est, lo, hi = (units.show(values[:, j]) for j in range(3))
    y = np.arange(n, 0, -1, dtype=np.float64)
    level, black, blue = f"{1 - alpha:.0%}", OKABE_ITO["black"], OKABE_ITO["blue"]
    ax.hlines(y, lo, hi, colors=black, linewidth=1.5, gid="intervals")
    ax.plot(est, y, linestyle="none", marker="s", markersize=6, color=black, gid="estimates", zorder=3)
    handles = [Line2D([], [], color=black, marker="s", linewidth=1.5)]
    names = [f"Estimate and {level} confidence interval"]
    ticks, ticklabels = y.tolist(), list(labels)
    if pool is not None:
        p_est, p_lo, p_hi, pi_lo, pi_hi = units.show(pool).tolist()
        if np.isfinite(pi_lo) and np.isfinite(pi_hi):
            ax.hlines(0.0, pi_lo, pi_hi, colors=blue, linewidth=1.0, gid="prediction-interval")
            handles.append(Line2D([], [], color=blue, linewidth=1.0))
            names.append("Range expected for a new country (prediction interval)")
        ax.add_patch(Polygon([(p_lo, 0.0), (p_est, 0.3), (p_hi, 0.0), (p_est, -0.3)], closed=True,
                             facecolor=blue, edgecolor=blue, zorder=3, gid="pooled"))
        handles.append(Line2D([], [], color=blue, marker="D", linestyle="none", markersize=8))
        names.append(f"Pooled estimate (width: {level} confidence interval)")
        ax.axhline(0.5, color="0.8", linewidth=0.8)
        ticks.append(0.0)
        ticklabels.append(pooled_label)
    ax.axvline(0.0, color=black, linewidth=0.8, gid="zero-line")
    ax.set_yticks(ticks, [_mpl_text(s) for s in ticklabels])
    ax.minorticks_off()
    ax.set_ylim(-0.7 if pool is not None else 0.4, n + 0.6)
    ax.set_xlabel(units.axis(outcome_label))
    if own:
        _root(ax).legend(handles, names, loc="outside lower center", fontsize="small", frameon=False)
    else:
        ax.legend(handles, names, loc="best", fontsize="small", frameon=False)
    return _root(ax)


@keyword_options
def forest_alt(rows: pd.DataFrame, *, pooled: Mapping[str, float] | pd.Series | None = None,
               label_col: str = "country", outcome_label: str, scale: Scale = "log", unit: str | None = None,
               alpha: float = 0.05) -> str:
    """Describe a forest figure in one sentence, for its alt text.

    Parameters
    ----------
    rows, pooled, label_col, outcome_label, scale, unit, alpha
        As for :func:`forest_figure` (and the same errors).

    Returns
    -------
    str
        The number of estimates, their range (naming the rows at both ends), how many intervals exclude
        zero, the pooled estimate with its interval and the prediction interval when given.
    """
    units = _Units.check(scale, unit, "forest_alt")
    labels, values, pool = _forest_inputs(rows, pooled, label_col, "forest_alt")
    est, lo, hi = (units.show(values[:, j]) for j in range(3))
    level, n = f"{1 - alpha:.0%}", len(labels)
    i, j = int(np.argmin(est)), int(np.argmax(est))
    text = f"Chart of {n} estimate{'s' * (n > 1)} of the effect on {outcome_label}" + (
        f": {units.value(float(est[0]))} ({labels[0]})" if n == 1 else
        f", from {units.number(float(est[i]))} ({labels[i]}) to {units.value(float(est[j]))} ({labels[j]})")
    excl = int(np.sum((lo > 0) | (hi < 0)))
    text += f"; the {level} confidence interval excludes zero for {excl} of the {n}"
    if pool is not None:
        p_est, p_lo, p_hi, pi_lo, pi_hi = units.show(pool).tolist()
        text += f"; the pooled estimate is {units.value(p_est)} ({level} interval {units.span(p_lo, p_hi)})"
        if np.isfinite(pi_lo) and np.isfinite(pi_hi):
            text += f", and a new country's effect is expected between {units.span(pi_lo, pi_hi, ' and ')}"
    return text + "."


#: Each headline estimator in words, as a legend reads it and as a sentence names it, keyed by its family
#: and, where the family has several headline terms, the term (``"rct late"``).
_ESTIMATOR_WORDS: Mapping[str, tuple[str, str]] = {
    "att_gt": ("Staggered DiD: average effect on supported firms since support", "staggered DiD"),
    "rct late": ("Lottery: one-year effect on firms that used the support", "lottery, effect on users"),
    "rct itt": ("Lottery: one-year effect of winning the lottery", "lottery, effect of winning"),
    "rct": ("Lottery: one-year effect", "lottery"),
    "rdd robust": ("Scored call: one-year effect at the score threshold", "scored call, at the threshold"),
    "rdd": ("Scored call: one-year effect at the score threshold", "scored call, at the threshold"),
}
#: Colour and marker of each estimator family: colour is never the only cue.
_ESTIMATOR_STYLE: Mapping[str, tuple[str, str]] = {
    "att_gt": (OKABE_ITO["blue"], "o"), "rct": (OKABE_ITO["vermillion"], "s"),
    "rdd": (OKABE_ITO["bluish_green"], "D"),
}
_OTHER_STYLES = ((OKABE_ITO["reddish_purple"], "^"), (OKABE_ITO["orange"], "v"), (OKABE_ITO["black"], "P"))
#: The scales drawn, each in its own panel: its x-axis label and the words of its unit.
_PANELS: Mapping[str, tuple[str, str]] = {"log": ("Effect (%)", "percent"),
                                          "share": ("Effect (percentage points)", "percentage points")}
_HEADLINE_COLUMNS = ("instrument", "outcome", "estimator", "estimate", "ci_low", "ci_high")


@dataclass(frozen=True)
class _Point:
    """One charted estimate: instrument and outcome in words, estimator key, values on the reader's scale."""

    name: str
    outcome: str
    key: str
    estimate: float
    low: float
    high: float
    text: str

    @property
    def label(self) -> str:
        """The row's label on the axis: ``"Loan guarantees: employment"``."""
        return f"{self.name}: {self.outcome}"


@dataclass(frozen=True)
class _Headlines:
    """The rows of a headline-effects chart, by panel, and those left out of it (with their labels)."""

    panels: dict[str, list[_Point]]
    levels: list[str]
    not_estimable: list[str]
    level: str


def _estimator_key(estimator: str, term: str) -> str:
    family = "att_gt" if estimator.startswith("att_gt") else estimator
    return f"{family} {term}" if f"{family} {term}" in _ESTIMATOR_WORDS else family


def _estimator_words(key: str) -> tuple[str, str]:
    words = key.replace("_", " ")
    return _ESTIMATOR_WORDS.get(key, (words[:1].upper() + words[1:], words))


def _headline_inputs(rows: Any, labels: Mapping[str, str] | None, alpha: Any, function: str) -> _Headlines:
    """Check the rows; split them into panels (log, share) and the rows not charted."""
    from ipf_eval.pipeline.formatting import effect_in_units, outcome_display

    if not isinstance(rows, pd.DataFrame):
        raise SpecificationError(f"{function}: rows must be a pandas DataFrame; got {type(rows).__name__}.")
    missing = [c for c in _HEADLINE_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(f"{function}: rows lack the columns {missing!r} (it has columns "
                        f"{list(rows.columns)!r}); pass the headline rows of the evidence records.")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise SpecificationError(f"{function}: alpha must be a number in (0, 1), e.g. 0.05; got {alpha!r}.")
    if labels is not None and not isinstance(labels, Mapping):
        raise SpecificationError(f"{function}: labels must map instrument names to labels; got "
                                 f"{type(labels).__name__}.")
    names = dict(labels or {})
    out = _Headlines(panels={}, levels=[], not_estimable=[], level=f"{100 * (1 - float(alpha)):.10g} %")
    for r in rows.to_dict(orient="records"):
        instrument = str(r["instrument"])
        name = names.get(instrument) or instrument.replace("_", " ")
        name = name[:1].upper() + name[1:]
        shown = outcome_display(str(r["outcome"]))
        label = f"{name} ({shown.label})"
        if shown.scale not in _PANELS:
            out.levels.append(label)
            continue
        units = _Units(shown.scale, None)
        with np.errstate(over="ignore", invalid="ignore"):
            est, lo, hi = units.show([float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"])]).tolist()
        if not np.isfinite(est):
            out.not_estimable.append(label)
            continue
        b = float(r["estimate"])
        c_lo, c_hi = float(r["ci_low"]), float(r["ci_high"])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi, c_lo, c_hi = np.nan, np.nan, np.nan, np.nan  # no interval (or one end only): none drawn
        text = effect_in_units(b, c_lo, c_hi, scale=shown.scale, alpha=float(alpha)).text
        key = _estimator_key(str(r["estimator"]), str(r.get("term", "")))
        out.panels.setdefault(shown.scale, []).append(_Point(name, shown.label, key, est, lo, hi, text))
    if not out.panels:
        raise DataError(
            f"{function}: none of the {len(rows)} rows can be charted: it needs at least one finite "
            f"estimate on an outcome in logs or shares ({len(out.levels)} rows are on outcomes in euro or "
            f"other levels, {len(out.not_estimable)} not estimable). Show such estimates in a table.")
    return replace(out, panels={s: out.panels[s] for s in _PANELS if s in out.panels})


@keyword_options
def headline_effects_figure(rows: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                            alpha: float = 0.05) -> MplFigure:
    """Plot each instrument's headline effect on each outcome, one panel per unit, for non-statisticians.

    Outcomes in logs are drawn in percent (:math:`100(e^{b} - 1)`, both interval ends transformed the same
    way) in one panel, shares in percentage points in another; each row is an instrument and outcome
    (``"Loan guarantees: employment"``, top to bottom as given), its estimate and confidence interval
    coloured and marked by estimator (Okabe-Ito colours, a different marker each), with a line at zero and
    a legend naming the estimators in words.  Outcomes in euro or other levels are not drawn (their units
    differ from row to row: show them in a table), nor are rows without a finite estimate; a row without a
    finite interval is drawn as a point.

    Parameters
    ----------
    rows
        One row per headline estimate with ``instrument``, ``outcome`` (its display and scale from
        :func:`ipf_eval.pipeline.formatting.outcome_display`), ``estimator`` (``att_gt_<method>``, ``rct``,
        ``rdd``), ``estimate``, ``ci_low``, ``ci_high`` on the model scale, and optionally ``term`` (a
        lottery's ``late`` or ``itt``), e.g. the headline rows of the evidence records.
    labels
        Instrument names in words (``{"loan_guarantee": "Loan guarantees"}``); other instruments are shown
        with underscores as spaces.
    alpha
        Level of the intervals given, for the legend (0.05: 95 %).

    Returns
    -------
    matplotlib.figure.Figure
        A new figure that pyplot does not manage, one panel per unit, 0.3 inch high per row, for
        :meth:`Figure.from_matplotlib`.

    Raises
    ------
    SpecificationError
        If ``rows`` is not a DataFrame, ``labels`` not a mapping or ``alpha`` not in (0, 1).
    DataError
        If ``rows`` lacks a column or has no row that can be charted (none with a finite estimate on an
        outcome in logs or shares).

    Examples
    --------
    >>> rows = pd.DataFrame({"instrument": ["loan_guarantee", "rd_grant"],
    ...                      "outcome": ["log_employment", "exporter"], "estimator": ["att_gt_dr", "rct"],
    ...                      "term": ["att", "late"], "estimate": [0.1, 0.02], "ci_low": [0.05, -0.01],
    ...                      "ci_high": [0.15, 0.05]})
    >>> fig = headline_effects_figure(rows, labels={"loan_guarantee": "Loan guarantees"})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['Effect (%)', 'Effect (percentage points)']
    """
    from matplotlib import rcParams
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D

    data = _headline_inputs(rows, labels, alpha, "headline_effects_figure")
    sizes = [len(points) for points in data.panels.values()]
    fig = MplFigure(figsize=(float(rcParams["figure.figsize"][0]), 0.3 * sum(sizes) + 0.9 * len(sizes) + 0.9),
                    layout="constrained")
    axes = fig.subplots(len(sizes), 1, squeeze=False, height_ratios=[n + 1.2 for n in sizes])[:, 0]
    keys = list(dict.fromkeys(p.key for points in data.panels.values() for p in points))
    others = iter(_OTHER_STYLES * len(keys))
    style = {k: _ESTIMATOR_STYLE.get(k.split(" ")[0]) or next(others) for k in keys}
    black = OKABE_ITO["black"]
    for ax, (scale, points) in zip(axes, data.panels.items(), strict=True):
        y = np.arange(len(points), 0, -1, dtype=np.float64)
        for key in keys:
            idx = [i for i, p in enumerate(points) if p.key == key]
            if not idx:
                continue
            colour, marker = style[key]
            drawn = [i for i in idx if np.isfinite(points[i].low)]
            ax.hlines(y[drawn], [points[i].low for i in drawn], [points[i].high for i in drawn],
                      colors=colour, linewidth=1.5, gid=f"intervals-{scale}-{key}")
            ax.plot([points[i].estimate for i in idx], y[idx], linestyle="none", marker=marker, markersize=6,
                    color=colour, gid=f"estimates-{scale}-{key}", zorder=3)
        ax.axvline(0.0, color=black, linewidth=0.8, gid=f"zero-line-{scale}")
        values = [v for p in points for v in (p.estimate, p.low, p.high) if np.isfinite(v)]
        low, high = min(0.0, *values), max(0.0, *values)
        pad = 0.08 * (high - low) or 1.0
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(0.4, len(points) + 0.6)
        ax.set_yticks(y.tolist(), [_mpl_text(p.label) for p in points])
        ax.minorticks_off()
        ax.set_xlabel(_PANELS[scale][0])
        if len(sizes) > 1:
            ax.set_title(f"Outcomes in {_PANELS[scale][1]}", loc="left", fontsize="medium")
    handles = [Line2D([], [], color=style[k][0], marker=style[k][1], linewidth=1.5) for k in keys]
    names = [_mpl_text(_estimator_words(k)[0]) for k in keys]
    fig.legend(handles, names, loc="outside lower center", fontsize="small", frameon=False,
               title=f"Estimate and {data.level} confidence interval, by estimator", title_fontsize="small")
    return fig


@keyword_options
def headline_effects_alt(rows: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                         alpha: float = 0.05) -> str:
    """Describe a headline-effects figure for its alt text: every charted estimate with its interval.

    Parameters
    ----------
    rows, labels, alpha
        As for :func:`headline_effects_figure` (and the same errors).

    Returns
    -------
    str
        Per panel (percent, percentage points) each row's instrument, outcome and estimator in words with
        its effect and interval (``"Loan guarantees, employment (staggered DiD): +10.5 % (95 % interval
        +5.1 % to +16.2 %)"``), how many intervals exclude zero, and which rows are not charted (outcomes
        in euro or other levels, estimates that could not be computed).

    Examples
    --------
    >>> rows = pd.DataFrame({"instrument": ["loan_guarantee"], "outcome": ["log_employment"],
    ...                      "estimator": ["att_gt_dr"], "estimate": [0.1], "ci_low": [0.05],
    ...                      "ci_high": [0.15]})
    >>> headline_effects_alt(rows, labels={"loan_guarantee": "Loan guarantees"}).split(". ")[1]
    'In percent: Loan guarantees, employment (staggered DiD): +10.5 % (95 % interval +5.1 % to +16.2 %)'
    """
    data = _headline_inputs(rows, labels, alpha, "headline_effects_alt")
    points = [p for ps in data.panels.values() for p in ps]
    n = len(points)
    text = f"Chart of {n} headline effect estimate{'s' * (n > 1)}"
    for scale, ps in data.panels.items():
        text += f". In {_PANELS[scale][1]}: " + "; ".join(
            f"{p.name}, {p.outcome} ({_estimator_words(p.key)[1]}): {p.text}" for p in ps)
    with_interval = [p for p in points if np.isfinite(p.low)]
    excl = sum(1 for p in with_interval if p.low > 0 or p.high < 0)
    if n == 1 and with_interval:
        text += f". Its {data.level} confidence interval {'excludes' if excl else 'includes'} zero"
    elif with_interval:
        text += f". The {data.level} confidence interval excludes zero for {excl} of the {len(with_interval)}"
        text += " estimates with an interval" if len(with_interval) < n else ""
    if data.levels:
        text += f". Not charted, in euro or other units (see the table): {'; '.join(data.levels)}"
    if data.not_estimable:
        text += f". Not charted, not estimable: {'; '.join(data.not_estimable)}"
    return text + "."
