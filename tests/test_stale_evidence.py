"""Stale evidence (ipf_eval.pipeline.stale): the synthesis leaves out, or labels, evaluations whose latest
run failed, and says which; the banner is idempotent and its error text is disclosure-checked."""

from __future__ import annotations

import json
from pathlib import Path

from _evidence_helpers import estimate_row, record

from ipf_eval.evidence import evidence_frame, read_evidence, write_evidence
from ipf_eval.pipeline import forum_report as section
from ipf_eval.pipeline.stale import mark_evidence_stale, mark_report_stale, stale_lines, stale_reason
from ipf_eval.synthesis.forum import headline_estimates


def _records(tmp_path: Path) -> list[dict[str, object]]:
    for code in ("AT", "DK", "FI"):
        rows = [estimate_row(code, "alpha", created="2026-11-30T08:00:00Z")]
        write_evidence(tmp_path / f"{code}__alpha.json", record(code, "alpha", rows=rows))
    made = mark_evidence_stale(tmp_path / "DK__alpha.json", failed_at="2026-12-03T10:00:00Z",
                               error="DataError: column 'log_employment' is missing\nTraceback ...")
    assert made == "2026-11-30T08:00:00Z"
    return read_evidence(tmp_path)


def test_the_synthesis_leaves_stale_rows_out_unless_asked(tmp_path: Path) -> None:
    records = _records(tmp_path)
    frame = evidence_frame(records)
    assert frame.set_index("country")["stale"].to_dict() == {"AT": False, "DK": True, "FI": False}
    assert sorted(headline_estimates(frame)["country"]) == ["AT", "FI"]
    assert sorted(headline_estimates(frame, include_stale=True)["country"]) == ["AT", "DK", "FI"]
    (line,) = stale_lines(records, included=False)
    assert line.startswith("DK alpha: left out; its evidence is from the run of 2026-11-30")
    assert "DataError: column 'log_employment' is missing" in line
    assert "Traceback" not in line  # the first line only
    shown = section.stale_text(records, included=False)[0].markdown
    assert "left out" in shown
    assert "include_stale" in shown
    assert "used, labelled stale" in section.stale_text(records, included=True)[0].markdown
    assert section.stale_text([r for r in records if r["country"] != "DK"], included=False) == []


def test_the_banner_is_put_once_and_replaced(tmp_path: Path) -> None:
    page = tmp_path / "x.html"
    page.write_text("<html><body class='a'><h1>Report</h1></body></html>", encoding="utf-8")
    assert mark_report_stale(page, report_from="2026-11-30T08:00:00Z", error="first <failure>")
    assert mark_report_stale(page, report_from="2026-11-30T08:00:00Z", error="second failure")
    text = page.read_text(encoding="utf-8")
    assert text.count("id='stale-report'") == 1
    assert "second failure" in text
    assert "first" not in text
    assert text.index("stale-report") < text.index("<h1>")
    assert "the run of 2026-11-30" in text
    assert not mark_report_stale(tmp_path / "none.html", report_from="", error="x")


def test_stale_reasons_are_one_short_line() -> None:
    assert stale_reason("") == "unknown error"
    assert len(stale_reason("x" * 1000)) == 300
    assert stale_reason("\n\n  DataError: bad\nmore") == "DataError: bad"


def test_a_record_of_another_version_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "AT__alpha.json"
    path.write_text(json.dumps({"schema": "ipf_eval.evidence", "schema_version": 1}), encoding="utf-8")
    before = path.read_bytes()
    assert mark_evidence_stale(path, failed_at="2026-12-03T10:00:00Z", error="x") is None
    assert path.read_bytes() == before
    assert mark_evidence_stale(tmp_path / "missing.json", failed_at="", error="x") is None
