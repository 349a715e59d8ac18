"""Report tables show their column headers in words; the values below them are formatted as before."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from ipf_eval.errors import SpecificationError
from ipf_eval.pipeline.display import Table
from ipf_eval.pipeline.formatting import COLUMN_LABELS, column_label


def _headers(markup: str) -> list[str]:
    (head,) = re.findall(r"<thead>(.*?)</thead>", markup, flags=re.S)
    return [h.strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", head, flags=re.S)]


def _body(markup: str) -> str:
    (body,) = re.findall(r"<tbody>.*?</tbody>", markup, flags=re.S)
    return body


FRAME = pd.DataFrame({"instrument": ["Loan guarantees", "R&D grants"], "evidence_grade": [3, 5],
                      "p_value": [0.0421, 0.0004], "n_obs": [1471.0, 20.0], "ci_low": [-0.01234, 0.5],
                      "ci_high": [0.25, 1.5], "checks_missing": ["", "pre_trends"],
                      "min_grade": [3, 4], "value_index": [1.0912, 0.5], "size_class": ["micro", "small"]})


def test_the_html_headers_are_words() -> None:
    assert _headers(Table(FRAME, "test")._repr_html_()) == [
        "Instrument", "Evidence grade (Maryland 1-5)", "p-value", "Observations", "Interval, low",
        "Interval, high", "Checks not computed", "Weakest grade (Maryland 1-5)",
        "Value for money (typical = 1)", "Size class"]


def test_no_header_of_the_report_tables_is_snake_case() -> None:
    for name in COLUMN_LABELS:
        label = column_label(name)
        assert "_" not in label, (name, label)
        assert not label[:1].islower() or name == "p_value", (name, label)
    assert column_label("p_value") == "p-value"  # the one label that starts in lower case, as it is written


def test_unknown_columns_fall_back_to_words() -> None:
    assert column_label("call_year_first") == "Call year first"
    assert column_label("supported firms") == "Supported firms"
    assert column_label("AT") == "AT"  # country codes keep their capitals: not str.capitalize()
    assert column_label("effect in the target's SME mix") == "Effect in the target's SME mix"
    assert column_label("") == ""
    markup = Table(pd.DataFrame({"share_exported": [0.5], "DK": ["+0.1"]}), "test")._repr_html_()
    assert _headers(markup) == ["Share exported", "DK"]


def test_column_label_needs_a_string() -> None:
    with pytest.raises(SpecificationError, match=r"column_label: name must be a column name \(str\); got 3"):
        column_label(3)  # type: ignore[arg-type]


def test_values_are_formatted_as_before() -> None:
    frame = FRAME.copy()
    markup = Table(frame, "a source")._repr_html_()
    # the rendering before the headers were put in words, with the p-values formatted by column name
    from ipf_eval.pipeline.display import _float
    from ipf_eval.pipeline.formatting import p_value

    before = FRAME.assign(p_value=FRAME["p_value"].map(p_value)).to_html(index=False, na_rep="",
                                                                          float_format=_float, escape=True)
    assert _body(markup) == _body(before)
    for shown in (">0.042<", "&lt; 0.001", ">1,471<"):
        assert shown in markup
    assert markup.endswith("<p><small>Source: a source</small></p>")
    pd.testing.assert_frame_equal(frame, FRAME)  # the caller's frame keeps its names and values


def test_the_plain_text_form_is_unchanged() -> None:
    assert repr(Table(FRAME, "a source")) == "Table of 2 rows. Source: a source"


def test_headers_from_data_are_escaped() -> None:
    frame = pd.DataFrame({"<b>share</b>_of_firms": [0.5], "p_value": [0.5]})
    markup = Table(frame, "<i>src</i>")._repr_html_()
    assert "<b>" not in markup
    assert "<i>" not in markup
    assert _headers(markup) == ["&lt;b&gt;share&lt;/b&gt; of firms", "p-value"]
    assert "Source: &lt;i&gt;src&lt;/i&gt;" in markup
