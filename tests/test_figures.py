"""Report figures: alt text and caption survive into the HTML, SVG is byte-stable, plots read in words."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure
from matplotlib.patches import Polygon

from ipf_eval.data import simulate_firms
from ipf_eval.did import AggregateResult, aggregate, att_gt
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.pipeline.figures import (
    OKABE_ITO,
    Figure,
    event_study_alt,
    event_study_figure,
    forest_alt,
    forest_figure,
)

SEED = 7  # a sample without cohorts under 7 firms (no EstimationWarning)


@pytest.fixture(scope="module")
def fit() -> Any:
    panel = simulate_firms(seed=SEED, n_firms=4000).evaluation_sample("AT", "loan_guarantee")
    return att_gt(panel, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
                  covariates=["log_age_base", "log_employment_base"], seed=SEED)


@pytest.fixture(scope="module")
def dynamic(fit: Any) -> AggregateResult:
    return aggregate(fit, kind="dynamic", min_e=-5, max_e=5)


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame({"country": ["AT", "DE", "FI", "PL"], "estimate": [0.05, 0.02, 0.09, -0.01],
                         "ci_low": [0.01, -0.02, 0.04, -0.06], "ci_high": [0.09, 0.06, 0.14, 0.04]})


POOLED = {"estimate": 0.04, "ci_low": 0.01, "ci_high": 0.07, "pi_low": -0.03, "pi_high": 0.11}


_MARKUP = re.compile(r'<figure><img alt="([^"<>]*)" src="data:([^;"]+);base64,([A-Za-z0-9+/=]+)">'
                     r"<figcaption>([^<>]*)</figcaption></figure>")


def _parts(markup: str) -> tuple[str, str, bytes, str]:
    """Alt text, mime type, image and caption of the markup (which must match the documented shape)."""
    match = _MARKUP.fullmatch(markup)
    assert match is not None, markup[:200]
    alt, mime, data, caption = match.groups()
    return html.unescape(alt), mime, base64.b64decode(data), html.unescape(caption)


def _line(ax: Any, gid: str) -> Any:
    (line,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return line


def _collections(ax: Any, prefix: str) -> list[Any]:
    return [c for c in ax.collections if (c.get_gid() or "").startswith(prefix)]


def _simple_figure() -> MplFigure:
    fig = MplFigure()
    fig.add_subplot().plot([0, 1, 2], [1, 0, 2], label="x")
    return fig


def test_html_has_alt_image_and_numbered_caption() -> None:
    fig = Figure.from_matplotlib(_simple_figure(), alt="A line falling then rising.", caption="Test plot",
                                 number=3)
    alt, mime, svg, caption = _parts(fig._repr_html_())
    assert (alt, mime, caption) == ("A line falling then rising.", "image/svg+xml", "Figure 3. Test plot")
    assert (svg[:5], b"<svg" in svg, b"<title>Test plot</title>" in svg) == (b"<?xml", True, True)
    assert b"dc:date" not in svg  # no timestamp
    assert [repr(fig), repr(fig.numbered(None)), repr(fig.numbered(4))] == [
        "Figure 3. Test plot", "Test plot", "Figure 4. Test plot"]


def test_svg_is_byte_identical_across_renders(dynamic: AggregateResult) -> None:
    before = matplotlib.rcParams["svg.hashsalt"]
    a, b = (Figure.from_matplotlib(event_study_figure(dynamic, outcome_label="employment"), alt="same",
                                   caption="same", number=1) for _ in range(2))
    assert a.image == b.image
    assert a._repr_html_() == b._repr_html_()
    assert matplotlib.rcParams["svg.hashsalt"] == before  # the fixed salt does not leak into the session


def test_the_determinism_test_can_fail() -> None:
    """Without the fixed salt matplotlib's SVG ids are random, so the equality above is not trivial."""
    import io

    outs = []
    for _ in range(2):
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": None}):
            _simple_figure().savefig(buf, format="svg", metadata={"Date": None})
        outs.append(buf.getvalue())
    assert outs[0] != outs[1]


def test_caption_and_alt_are_escaped() -> None:
    fig = Figure.from_matplotlib(_simple_figure(), alt='Effect "small" <b>', caption="a < b & <script>")
    markup = fig._repr_html_()
    assert ("<script>" in markup, "<b>" in markup) == (False, False)
    assert "<figcaption>a &lt; b &amp; &lt;script&gt;</figcaption>" in markup
    assert 'alt="Effect &quot;small&quot; &lt;b&gt;"' in markup
    alt, _, _, caption = _parts(markup)
    assert (caption, alt) == ("a < b & <script>", 'Effect "small" <b>')


def test_png_and_pyplot_figures_are_closed() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    out = Figure.from_matplotlib(fig, alt="A rising line.", caption="PNG", fmt="png")
    assert (out.mime, out.image[:4]) == ("image/png", b"\x89PNG")
    assert not plt.fignum_exists(fig.number)
    assert _parts(out._repr_html_())[1:3] == ("image/png", out.image)


@pytest.mark.parametrize("alt", ["", "   "])
def test_empty_alt_raises(alt: str) -> None:
    fig = _simple_figure()
    with pytest.raises(SpecificationError, match="alt must be a non-empty description"):
        Figure.from_matplotlib(fig, alt=alt, caption="c")
    with pytest.raises(SpecificationError, match="alt must be a non-empty description"):
        Figure(image=b"x", mime="image/png", alt=alt, caption="c")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"fig": "axes"}, "fig must be a matplotlib Figure"),
    ({"fmt": "gif"}, "fmt must be one of"),
    ({"number": 0}, "number must be a positive int"),
    ({"caption": 3}, "caption must be a str"),
])
def test_bad_figure_arguments_raise(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"fig": _simple_figure(), "alt": "a", "caption": "c", **kwargs}
    if args["fig"] == "axes":
        args["fig"] = _simple_figure().axes[0]
    with pytest.raises(SpecificationError, match=match):
        Figure.from_matplotlib(**args)


def test_event_study_reads_in_words(dynamic: AggregateResult) -> None:
    fig = event_study_figure(dynamic, outcome_label="employment")
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t.get_text().replace("\N{MINUS SIGN}", "-") for t in ax.get_xticklabels()]
    assert ticks == [str(e) for e in dynamic.labels]  # integers only, one per event time
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Years since support", "Effect on employment (%)")
    pre, post = _line(ax, "estimates-pre"), _line(ax, "estimates-post")
    shown = np.concatenate([pre.get_ydata(), post.get_ydata()])
    np.testing.assert_allclose(shown, 100 * (np.exp(dynamic.estimates) - 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([pre.get_xdata(), post.get_xdata()]), dynamic.labels)
    segs = np.concatenate([c.get_segments() for c in _collections(ax, "intervals")])
    np.testing.assert_allclose(segs[:, 0, 1], 100 * (np.exp(dynamic.ci_low) - 1), rtol=1e-12)
    np.testing.assert_allclose(segs[:, 1, 1], 100 * (np.exp(dynamic.ci_high) - 1), rtol=1e-12)
    assert (pre.get_color(), post.get_color()) == (OKABE_ITO["orange"], OKABE_ITO["blue"])
    zero, support = _line(ax, "zero-line"), _line(ax, "support-line")
    assert list(zero.get_ydata()) == [0, 0]
    assert (list(support.get_xdata()), support.get_linestyle()) == ([-0.5, -0.5], "--")
    assert "Support starts" in [t.get_text() for t in ax.texts]
    assert _collections(ax, "band-post")  # the bootstrap ran: the uniform band is drawn


def test_event_study_other_scales_and_own_axes(dynamic: AggregateResult) -> None:
    fig = MplFigure()
    ax = fig.add_subplot()
    assert event_study_figure(dynamic, outcome_label="exporting", scale="share", band=False, ax=ax) is fig
    assert ax.get_ylabel() == "Effect on exporting (percentage points)"
    np.testing.assert_allclose(_line(ax, "estimates-post").get_ydata(),
                               100 * dynamic.estimates[dynamic.labels >= 0], rtol=1e-12)
    assert not _collections(ax, "band")
    ax2 = event_study_figure(dynamic, outcome_label="R&D spending", scale="level", unit="euros").axes[0]
    assert ax2.get_ylabel() == "Effect on R&D spending (euros)"
    np.testing.assert_allclose(_line(ax2, "estimates-pre").get_ydata(),
                               dynamic.estimates[dynamic.labels < 0], rtol=1e-12)


def test_event_study_alt_mentions_the_numbers(dynamic: AggregateResult) -> None:
    alt = event_study_alt(dynamic, outcome_label="employment", scale="log")
    pct = 100 * np.expm1(dynamic.estimates)
    pre = dynamic.labels < 0
    assert alt.startswith("Chart of the estimated effect of support on employment by year since support: in "
                          "the 5 years before support")
    covers = bool(np.all((dynamic.ci_low[pre] <= 0) & (dynamic.ci_high[pre] >= 0)))
    assert covers == ("every 95% confidence interval includes zero" in alt)
    assert f"between {pct[pre].min():+.1f}% and {pct[pre].max():+.1f}%" in alt
    assert f"the effect is {pct[dynamic.labels == 0][0]:+.1f}% (95% interval" in alt
    assert f"{pct[-1]:+.1f}% (95% interval {100 * np.expm1(dynamic.ci_low[-1]):+.1f}%" in alt
    assert alt.endswith("in year 5.")


def test_event_study_alt_reports_pre_trends_and_missing_years(fit: Any, dynamic: AggregateResult) -> None:
    shifted = dataclasses.replace(dynamic, estimates=dynamic.estimates + np.where(dynamic.labels < 0, 1.0, 0))
    alt = event_study_alt(shifted, outcome_label="employment")
    assert "in 5 of them the 95% confidence interval excludes zero" in alt
    post_only = aggregate(fit, kind="dynamic", min_e=0, max_e=2)
    alt = event_study_alt(post_only, outcome_label="exporting", scale="share")
    assert "no years before support are shown" in alt
    assert f"{100 * post_only.estimates[0]:+.1f} percentage points" in alt


def test_event_study_errors(fit: Any, dynamic: AggregateResult) -> None:
    with pytest.raises(SpecificationError, match=r"of kind 'dynamic'.*got 'group'"):
        event_study_figure(aggregate(fit, kind="group"), outcome_label="employment")
    with pytest.raises(SpecificationError, match=r"of kind 'dynamic'.*got 'DataFrame'"):
        event_study_alt(pd.DataFrame(), outcome_label="employment")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="scale must be one of"):
        event_study_figure(dynamic, outcome_label="employment", scale="percent")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="scale='level' needs the outcome's unit"):
        event_study_alt(dynamic, outcome_label="R&D spending", scale="level")


def test_forest_one_row_per_input_and_pooled_diamond(rows: pd.DataFrame) -> None:
    before = rows.copy()
    ax = forest_figure(rows, pooled=POOLED, outcome_label="employment").axes[0]
    pd.testing.assert_frame_equal(rows, before)  # the caller's frame is not modified
    order = np.argsort(-ax.get_yticks())
    labels = [ax.get_yticklabels()[i].get_text() for i in order]
    assert labels == ["AT", "DE", "FI", "PL", "All countries (pooled)"]  # as given, pooled at the bottom
    points = _line(ax, "estimates")
    np.testing.assert_allclose(points.get_xdata(), 100 * np.expm1(rows["estimate"]), rtol=1e-12)
    assert list(points.get_ydata()) == [4, 3, 2, 1]
    (diamond,) = [p for p in ax.patches if p.get_gid() == "pooled"]
    assert isinstance(diamond, Polygon)
    xy = diamond.get_xy()
    np.testing.assert_allclose(sorted(set(np.round(xy[:, 0], 10))),
                               np.round(100 * np.expm1([0.01, 0.04, 0.07]), 10))
    assert xy[:, 1].max() < 0.5  # below every country row
    (pi,) = _collections(ax, "prediction-interval")
    np.testing.assert_allclose(pi.get_segments()[0][:, 0], 100 * np.expm1([-0.03, 0.11]))
    assert list(_line(ax, "zero-line").get_xdata()) == [0, 0]
    assert ax.get_xlabel() == "Effect on employment (%)"
    Figure.from_matplotlib(ax.figure, alt="forest", caption="renders")  # type: ignore[arg-type]


def test_forest_without_pooled_and_series_pooled(rows: pd.DataFrame) -> None:
    ax = forest_figure(rows, outcome_label="exporting", scale="share").axes[0]
    assert (len(ax.get_yticks()), len(ax.patches)) == (4, 0)
    assert ax.get_xlabel() == "Effect on exporting (percentage points)"
    series = pd.Series({"estimate": 0.04, "ci_low": 0.01, "ci_high": 0.07, "pi_low": np.nan})
    ax = forest_figure(rows.rename(columns={"country": "instrument"}), pooled=series, label_col="instrument",
                       outcome_label="employment").axes[0]
    assert (len(ax.patches), _collections(ax, "prediction-interval")) == (1, [])


def test_forest_alt_mentions_the_numbers(rows: pd.DataFrame) -> None:
    alt = forest_alt(rows, pooled=POOLED, outcome_label="employment")
    pct = lambda b: f"{100 * np.expm1(b):+.1f}%"  # noqa: E731
    assert alt.startswith("Chart of 4 estimates of the effect on employment")
    assert f"from {pct(-0.01)} (PL) to {pct(0.09)} (FI)" in alt
    assert "excludes zero for 2 of the 4" in alt
    assert f"pooled estimate is {pct(0.04)} (95% interval {pct(0.01)} to {pct(0.07)})" in alt
    assert f"between {pct(-0.03)} and {pct(0.11)}." in alt
    one = forest_alt(rows.head(1), outcome_label="R&D spending", scale="level", unit="euros")
    assert one.startswith("Chart of 1 estimate of the effect on R&D spending: +0.05 euros (AT)")


@pytest.mark.parametrize(("change", "error", "match"), [
    ({"rows": [1, 2]}, SpecificationError, "rows must be a pandas DataFrame"),
    ({"rows": "drop"}, DataError, r"the columns \['ci_high'\]"),
    ({"rows": "empty"}, DataError, "at least one row"),
    ({"rows": "nan"}, DataError, r"1 of 4 rows have a missing or infinite.*\['DE'\]"),
    ({"pooled": [0.1, 0.0, 0.2]}, SpecificationError, "pooled must be a mapping"),
    ({"pooled": {"estimate": 0.1}}, DataError, "pooled needs finite estimate"),
    ({"scale": "level"}, SpecificationError, "needs the outcome's unit"),
])
def test_forest_errors(rows: pd.DataFrame, change: dict[str, Any], error: type[Exception], match: str
                       ) -> None:
    special = {"drop": rows.drop(columns="ci_high"), "empty": rows.iloc[:0],
               "nan": rows.assign(estimate=[0.05, np.nan, 0.09, -0.01])}
    args: dict[str, Any] = {"rows": rows, "pooled": POOLED, "outcome_label": "employment", **change}
    if isinstance(args["rows"], str):
        args["rows"] = special[args["rows"]]
    for function in (forest_figure, forest_alt):
        with pytest.raises(error, match=match):
            function(**args)
