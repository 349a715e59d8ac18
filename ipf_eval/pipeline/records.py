"""Evidence records: what an instrument notebook hands to the country report, the synthesis and evidence.csv.

An evidence record is one JSON file per (country, instrument): identifiers, the design and its evidence
grade, and a list of estimates in the tidy layout (``term, estimate, std_error, statistic, p_value,
ci_low, ci_high``) with the outcome and estimator of each.  Result objects' ``to_dict()`` output can be
attached under ``results`` for reviewers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipf_eval._version import __version__
from ipf_eval.errors import PipelineError
from ipf_eval.pipeline._io import atomic_write_json
from ipf_eval.results import TIDY_COLUMNS, json_safe

__all__ = ["EVIDENCE_COLUMNS", "evidence_frame", "read_evidence", "write_evidence"]

SCHEMA = "ipf_eval.evidence/1"

#: Columns of ``reports/evidence.csv``, in this order.
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "country", "instrument", "outcome", "design", "estimator", *TIDY_COLUMNS,
    "evidence_grade", "n_obs", "n_firms", "n_supported", "disclosure_profile", "version",
)

_ESTIMATE_KEYS = ("outcome", "estimator", *TIDY_COLUMNS, "n_obs")


def write_evidence(path: str | Path, *, country: str, instrument: str, design: str,
                   estimates: pd.DataFrame | Sequence[Mapping[str, Any]],
                   evidence_grade: str | None = None, grade_reason: str = "",
                   n_firms: int | None = None, n_supported: int | None = None,
                   disclosure_profile: str | None = None,
                   results: Mapping[str, Any] | None = None,
                   extra: Mapping[str, Any] | None = None) -> Path:
    """Write one evidence record atomically.

    Parameters
    ----------
    path
        Target JSON file (the batch passes it as the notebook parameter ``evidence_path``).
    country, instrument, design
        Identifiers.
    estimates
        One row per estimate with ``outcome``, ``estimator`` and the tidy columns (``n_obs`` optional).
    evidence_grade, grade_reason
        The grade given to the design and why.
    n_firms, n_supported
        Firms in the evaluation sample and supported firms (already checked against disclosure rules).
    disclosure_profile
        The profile the notebook applied.
    results
        ``to_dict()`` output of result objects, keyed by a short name.
    extra
        Further JSON-safe facts (costs, reach).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    PipelineError
        If an estimate lacks ``outcome``, ``estimator``, ``term`` or ``estimate``.
    """
    frame = estimates if isinstance(estimates, pd.DataFrame) else pd.DataFrame(list(estimates))
    needed = ["outcome", "estimator", "term", "estimate"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PipelineError(f"estimates lack columns {missing!r}; pass a table with {needed!r} and the tidy "
                            f"columns {list(TIDY_COLUMNS)!r}")
    rows = [{k: row.get(k) for k in _ESTIMATE_KEYS} for row in frame.to_dict(orient="records")]
    record = {
        "schema": SCHEMA, "country": country, "instrument": instrument, "design": design,
        "evidence_grade": evidence_grade, "grade_reason": grade_reason, "n_firms": n_firms,
        "n_supported": n_supported, "disclosure_profile": disclosure_profile, "version": __version__,
        "estimates": rows, "results": dict(results or {}), "extra": dict(extra or {}),
    }
    target = Path(path)
    atomic_write_json(target, json_safe(record))
    return target


def read_evidence(folder: str | Path, *, country: str | None = None) -> list[dict[str, Any]]:
    """Read every evidence record in ``folder`` (sorted by file name), optionally for one country.

    Raises
    ------
    PipelineError
        If a file is not valid JSON or not an evidence record.
    """
    records = []
    for file in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PipelineError(f"evidence file {str(file)!r} cannot be read ({exc}); rerun its "
                                f"notebook") from exc
        if not isinstance(record, dict) or record.get("schema") != SCHEMA:
            raise PipelineError(f"{str(file)!r} is not an evidence record (schema {SCHEMA!r}); remove it")
        if country is None or record.get("country") == country:
            records.append(record)
    return records


def evidence_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Flatten evidence records into one row per estimate with :data:`EVIDENCE_COLUMNS`."""
    rows = []
    for rec in records:
        for est in rec.get("estimates", []):
            rows.append({**{k: rec.get(k) for k in EVIDENCE_COLUMNS if k in rec}, **est})
    frame = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    return frame.sort_values(["country", "instrument", "outcome", "estimator", "term"],
                             kind="mergesort").reset_index(drop=True)
