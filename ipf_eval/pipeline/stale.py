"""Stale reports: when a run fails, its earlier report stays where it is, marked as out of date.

A failed run never removes or half-writes a published report (:func:`ipf_eval.pipeline.runner.execute_run`
publishes atomically), but an earlier report left in place must not pass for the latest one.  After a
failed run the batch therefore

* puts a banner at the top of the earlier page (``<div id="stale-report">``): "this report is from the run
  of <date>; the latest run failed: <error>" (:func:`mark_report_stale`);
* marks the earlier evidence record stale (:func:`mark_evidence_stale`): the record gains ``stale`` (when
  the latest run failed, and why) and each of its rows ``stale = True``, so ``evidence.csv``, the country
  and index pages say so and the synthesis leaves the rows out unless the batch's ``include_stale`` says
  otherwise (:func:`stale_lines`).

A later successful run replaces the page and the record, which removes the mark.  Error texts pass
disclosure control and are cut to their first line.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._files import atomic_write_text
from ipf_eval.disclosure import publishable_text

__all__ = ["STALE_ID", "mark_evidence_stale", "mark_report_stale", "stale_banner", "stale_lines",
           "stale_reason"]

#: HTML id of the banner on a stale page.
STALE_ID = "stale-report"
_BANNER = re.compile(r"<div id=['\"]" + STALE_ID + r"['\"].*?</div>", re.S)
_MAX_ERROR = 300


@keyword_options
def stale_reason(error: str) -> str:
    """Return a failed run's error as one publishable line (disclosure-checked, at most 300 characters)."""
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "unknown error")
    text = publishable_text(first)
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def _day(stamp: str) -> str:
    return str(stamp)[:10] if stamp else "an earlier run"


@keyword_options
def stale_banner(*, report_from: str, error: str) -> str:
    """Return the banner of a stale page: when the report shown was made and why the latest run failed."""
    when, why = html.escape(_day(report_from)), html.escape(stale_reason(error))
    return (f"<div id='{STALE_ID}' role='alert' style='border:2px solid #b35806;background:#fee0b6;"
            f"padding:0.6em 1em;margin:0 0 1em 0'><strong>Out of date.</strong> This report is from the run "
            f"of {when}; the latest run failed: {why}. Its figures are not those of the current data or "
            "parameters.</div>")


@keyword_options
def mark_report_stale(page: Path, *, report_from: str, error: str) -> bool:
    """Put (or replace) the stale banner at the top of a published page; return whether there was one.

    Parameters
    ----------
    page
        The published HTML report (left as it is when it does not exist).
    report_from
        When the report shown was made (ISO time stamp).
    error
        Why the latest run failed.
    """
    if not page.is_file():
        return False
    text = _BANNER.sub("", page.read_text(encoding="utf-8"), count=1)
    banner = stale_banner(report_from=report_from, error=error)
    match = re.search(r"<body[^>]*>", text)
    text = text[: match.end()] + banner + text[match.end():] if match else banner + text
    atomic_write_text(page, text)
    return True


@keyword_options
def mark_evidence_stale(record_path: Path, *, failed_at: str, error: str) -> str | None:
    """Mark an earlier evidence record stale; return when it was made (``None``: there is none).

    The record gains ``stale: {"failed_at", "error"}`` and each of its ``estimates`` rows ``stale = True``;
    everything else (its own ``run_id`` and ``created``) is kept.
    """
    if not record_path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    from ipf_eval.errors import IpfEvalError
    from ipf_eval.evidence import write_evidence

    record["stale"] = {"failed_at": failed_at, "error": stale_reason(error)}
    rows = (record.get("tables") or {}).get("estimates") or []
    for row in rows:
        row["stale"] = True
    try:
        write_evidence(record_path, record)
    except IpfEvalError:  # a record of another schema version: the synthesis refuses it anyway
        return None
    created = next((str(r.get("created")) for r in rows if r.get("created")), "")
    return created or str((record.get("provenance") or {}).get("created", ""))


@keyword_options
def stale_lines(records: Sequence[Mapping[str, Any]], *, included: bool) -> list[str]:
    """One line per stale evaluation: which, when its report was made, why the latest run failed.

    ``included`` says whether the page uses them anyway (the batch's ``include_stale``).
    """
    out = []
    for rec in records:
        mark = rec.get("stale")
        if not isinstance(mark, Mapping):
            continue
        rows = pd.DataFrame((rec.get("tables") or {}).get("estimates") or [])
        made = str(rows["created"].iloc[0]) if "created" in rows.columns and len(rows) else ""
        what = "used, labelled stale" if included else "left out"
        out.append(f"{rec.get('country')} {rec.get('instrument')}: {what}; its evidence is from the run of "
                   f"{_day(made)} and the latest run failed ({stale_reason(str(mark.get('error', '')))})")
    return out
