"""The country report's chart of headline effects: in the outcomes' units, one panel per unit, in words."""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure

from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.pipeline import forum_report
from ipf_eval.pipeline.figures import OKABE_ITO, Figure, headline_effects_alt, headline_effects_figure

LABELS = {"loan_guarantee": "Loan guarantees", "innovation_voucher": "Innovation vouchers",
          "rd_grant": "R&D grants"}


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "instrument": ["loan_guarantee", "loan_guarantee", "innovation_voucher", "rd_grant", "rd_grant"],
        "outcome": ["log_employment", "alive", "log_turnover", "log_employment", "rd_spending"],
        "estimator": ["att_gt_dr", "att_gt_dr", "rct", "rdd", "rct"],
        "term": ["att", "att", "late", "robust", "late"],
        "estimate": [0.1, 0.02, -0.05, 0.03, 25_000.0],
        "ci_low": [0.05, -0.01, -0.09, -0.02, 1_000.0],
        "ci_high": [0.15, 0.05, -0.01, 0.08, 49_000.0],
    })


def _by_gid(fig: MplFigure, prefix: str) -> dict[str, Any]:
    """Artists of every panel whose gid starts with ``prefix``, by gid."""
    out: dict[str, Any] = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections]:
            if (artist.get_gid() or "").startswith(prefix):
                out[str(artist.get_gid())] = artist
    return out


def test_log_effects_are_drawn_in_percent_and_shares_in_points(rows: pd.DataFrame) -> None:
    fig = headline_effects_figure(rows, labels=LABELS)
    assert [ax.get_xlabel() for ax in fig.axes] == ["Effect (%)", "Effect (percentage points)"]
    points = _by_gid(fig, "estimates-")
    # 0.1 log points is exp(0.1) - 1 = 10.5 %, not 10 %; each interval end is transformed the same way
    np.testing.assert_allclose(points["estimates-log-att_gt"].get_xdata(), [100 * math.expm1(0.1)])
    assert round(float(points["estimates-log-att_gt"].get_xdata()[0]), 1) == 10.5
    (segment,) = _by_gid(fig, "intervals-log-att_gt")["intervals-log-att_gt"].get_segments()
    np.testing.assert_allclose(segment[:, 0], [100 * math.expm1(0.05), 100 * math.expm1(0.15)])
    np.testing.assert_allclose(points["estimates-share-att_gt"].get_xdata(), [2.0])
    (segment,) = _by_gid(fig, "intervals-share-att_gt")["intervals-share-att_gt"].get_segments()
    np.testing.assert_allclose(segment[:, 0], [-1.0, 5.0])
    np.testing.assert_allclose(points["estimates-log-rct late"].get_xdata(), [100 * math.expm1(-0.05)])


def test_rows_and_legend_read_in_words(rows: pd.DataFrame) -> None:
    fig = headline_effects_figure(rows, labels=LABELS)
    ticks = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes]
    assert ticks == [
        ["Loan guarantees: employment", "Innovation vouchers: turnover", "R&D grants: employment"],
        ["Loan guarantees: the share of firms still active"]]
    (legend,) = fig.legends
    names = [t.get_text() for t in legend.get_texts()]
    assert names == ["Staggered DiD: average effect on supported firms since support",
                     "Lottery: one-year effect on firms that used the support",
                     "Scored call: one-year effect at the score threshold"]
    assert "95 % confidence interval" in legend.get_title().get_text()
    shown = " ".join([*(t for panel in ticks for t in panel), *names, *(ax.get_xlabel() for ax in fig.axes)])
    for code in ("_", "att_gt", "log", "rct", "rdd"):
        assert code not in shown
    for ax in fig.axes:  # a zero line in every panel, inside the axis
        (zero,) = [ln for ln in ax.lines if (ln.get_gid() or "").startswith("zero-line")]
        assert ax.get_xlim()[0] < 0 < ax.get_xlim()[1]
        assert list(zero.get_xdata()) == [0.0, 0.0]


def test_colour_blind_safe_colours_and_distinct_markers(rows: pd.DataFrame) -> None:
    points = _by_gid(headline_effects_figure(rows, labels=LABELS), "estimates-log-")
    palette = {c.lower() for c in OKABE_ITO.values()}
    assert {mcolors.to_hex(p.get_color()) for p in points.values()} <= palette
    assert len({p.get_marker() for p in points.values()}) == len(points) == 3  # colour is never the only cue


def test_euro_outcomes_are_left_to_the_table(rows: pd.DataFrame) -> None:
    fig = headline_effects_figure(rows, labels=LABELS)
    ticks = " ".join(t.get_text() for ax in fig.axes for t in ax.get_yticklabels())
    assert "R&D spending" not in ticks
    alt = headline_effects_alt(rows, labels=LABELS)
    assert alt.endswith("Not charted, in euro or other units (see the table): R&D grants (R&D spending).")
    only_log = headline_effects_figure(rows.iloc[[0, 2]], labels=LABELS)
    assert [ax.get_xlabel() for ax in only_log.axes] == ["Effect (%)"]
    assert only_log.axes[0].get_title(loc="left") == ""  # one panel: no panel title needed


def test_alt_states_every_charted_estimate_with_its_interval(rows: pd.DataFrame) -> None:
    alt = headline_effects_alt(rows, labels=LABELS)
    assert alt.startswith("Chart of 4 headline effect estimates. In percent: ")
    for part in ("Loan guarantees, employment (staggered DiD): +10.5 % (95 % interval +5.1 % to +16.2 %)",
                 "Innovation vouchers, turnover (lottery, effect on users): \u22124.9 % (95 % interval "
                 "\u22128.6 % to \u22121.0 %)",
                 "R&D grants, employment (scored call, at the threshold): +3.0 % (95 % interval \u22122.0 % "
                 "to +8.3 %)",
                 ". In percentage points: Loan guarantees, the share of firms still active (staggered DiD): "
                 "+2.0 percentage points (95 % interval \u22121.0 to +5.0 percentage points)",
                 "The 95 % confidence interval excludes zero for 2 of the 4"):
        assert part in alt, part
    assert not re.search(r"\b(nan|inf|NaN)\b", alt)


def test_one_estimate_and_another_level() -> None:
    one = pd.DataFrame({"instrument": ["x_scheme"], "outcome": ["log_employment"], "estimator": ["rct"],
                        "term": ["itt"], "estimate": [0.0], "ci_low": [-0.1], "ci_high": [0.1]})
    alt = headline_effects_alt(one, alpha=0.1)
    assert alt == ("Chart of 1 headline effect estimate. In percent: X scheme, employment (lottery, effect "
                   "of winning): 0.0 % (90 % interval \u22129.5 % to +10.5 %). Its 90 % confidence "
                   "interval includes zero.")
    (legend,) = headline_effects_figure(one, alpha=0.1).legends
    assert legend.get_title().get_text().startswith("Estimate and 90 % confidence interval")


def test_missing_intervals_and_estimates_never_show_nan(rows: pd.DataFrame) -> None:
    rows = rows.copy()
    rows.loc[0, ["ci_low", "ci_high"]] = np.nan  # no interval: the point alone
    rows.loc[2, "estimate"] = np.nan  # not estimable: left out and named
    rows.loc[3, "estimate"] = 800.0  # too large for log points: exp overflows, so not estimable either
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = headline_effects_figure(rows, labels=LABELS)
        alt = headline_effects_alt(rows, labels=LABELS)
    assert "Loan guarantees, employment (staggered DiD): +10.5 % (interval not available)" in alt
    assert "Not charted, not estimable: Innovation vouchers (turnover); R&D grants (employment)." in alt
    assert "excludes zero for 0 of the 1 estimates with an interval" in alt
    assert not re.search(r"\b(nan|inf|NaN)\b", alt)
    assert not _by_gid(fig, "intervals-log-")["intervals-log-att_gt"].get_segments()
    np.testing.assert_allclose(_by_gid(fig, "estimates-log-")["estimates-log-att_gt"].get_xdata(),
                               [100 * math.expm1(0.1)])


def test_the_figure_renders_with_its_alt_text(rows: pd.DataFrame) -> None:
    labels = {**LABELS, "loan_guarantee": "Loans <b>$5</b>"}
    fig = headline_effects_figure(rows, labels=labels)
    assert fig.canvas.manager is None  # not a pyplot figure: never shown without its alt text
    assert "Loans <b>\\$5</b>: employment" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    shown = Figure.from_matplotlib(fig, alt=headline_effects_alt(rows, labels=labels), caption="c", number=2)
    markup = shown.to_html()
    assert 'alt="Chart of 4 headline effect estimates. In percent: Loans &lt;b&gt;$5&lt;/b&gt;' in markup


def test_the_callers_rows_are_not_modified(rows: pd.DataFrame) -> None:
    before = rows.copy()
    headline_effects_figure(rows, labels=LABELS)
    headline_effects_alt(rows, labels=LABELS)
    pd.testing.assert_frame_equal(rows, before)


@pytest.mark.parametrize("function", [headline_effects_figure, headline_effects_alt])
def test_empty_and_uncharted_input(rows: pd.DataFrame, function: Any) -> None:
    name = function.__name__
    with pytest.raises(DataError, match=rf"{name}: none of the 0 rows can be charted"):
        function(rows.iloc[:0])
    with pytest.raises(DataError, match=r"none of the 1 rows can be charted.*1 rows are on outcomes in euro"):
        function(rows.iloc[[4]])
    with pytest.raises(DataError, match=rf"{name}: rows lack the columns \['ci_high'\]"):
        function(rows.drop(columns="ci_high"))
    with pytest.raises(SpecificationError, match=rf"{name}: rows must be a pandas DataFrame; got list"):
        function([1, 2])
    with pytest.raises(SpecificationError, match=rf"{name}: alpha must be a number in \(0, 1\).*got 5"):
        function(rows, alpha=5)
    with pytest.raises(SpecificationError, match=rf"{name}: labels must map instrument names"):
        function(rows, labels=["Loan guarantees"])


def test_the_country_report_draws_through_the_figures_module(rows: pd.DataFrame) -> None:
    drawn = forum_report.effects_plot(rows, country_name="Austria", labels=LABELS)
    assert drawn is not None
    fig, alt, caption = drawn
    assert isinstance(fig, MplFigure)
    assert fig.canvas.manager is None
    assert alt == headline_effects_alt(rows, labels=LABELS)
    assert caption.startswith("Headline effect of each of Austria's instruments on each outcome, with its "
                              "95 % confidence interval: employment and turnover in percent; the share of "
                              "firms still active in percentage points.")
    assert "(R&D spending) are in the table above only" in caption
    assert caption.endswith("Source: the instrument evaluations' evidence records.")
    assert "estimates a different effect" in caption  # three estimators side by side
    one_estimator = forum_report.effects_plot(rows.iloc[:2], country_name="Austria", labels=LABELS)
    assert one_estimator is not None
    assert "Colour and marker show the estimator. Source:" in one_estimator[2]
    assert forum_report.effects_plot(rows.iloc[:0], country_name="Austria", labels=LABELS) is None
    assert forum_report.effects_plot(rows.iloc[[4]], country_name="Austria", labels=LABELS) is None
