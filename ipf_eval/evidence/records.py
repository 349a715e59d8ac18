"""Evidence records on disk: one JSON file per (country, instrument), written and read through the schema.

A record is :meth:`InstrumentEvidence.to_dict() <ipf_eval.evidence.InstrumentEvidence.to_dict>`:
identifiers, provenance, grades and the evidence tables of :mod:`ipf_eval.evidence.schema`.  Every table is
validated when the record is written and again when it is read, so the country report, the synthesis and
``evidence.csv`` never see a column they do not expect.  Files are written atomically (a temporary file
renamed into place) with sorted keys, so the same evidence gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._files import atomic_write_json
from ipf_eval.errors import EvidenceSchemaError
from ipf_eval.evidence.instrument_evidence import InstrumentEvidence
from ipf_eval.evidence.schema import (
    CHECK_LIST_COLUMNS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    TABLES,
    empty_table,
    validate_table,
)

__all__ = ["evidence_frame", "evidence_table", "read_evidence", "read_evidence_csv", "validate_record",
           "write_evidence"]

_REQUIRED = ("schema", "schema_version", "country", "instrument", "design", "tables")


@keyword_options
def validate_record(record: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    """Check an evidence record's identifiers and validate each of its tables.

    Parameters
    ----------
    record
        A record as written by :func:`write_evidence` (or ``InstrumentEvidence.to_dict()``).
    where
        Where it came from, for messages.

    Returns
    -------
    dict
        The record (a shallow copy).

    Raises
    ------
    EvidenceSchemaError
        If a required key is missing, the schema name or version differs, a table is missing or does not
        match its schema, or a table's rows belong to another country or instrument.
    """
    at = f" in {where}" if where else ""
    if not isinstance(record, Mapping):
        raise EvidenceSchemaError(f"an evidence record{at} must be a JSON object; got "
                                  f"{type(record).__name__}")
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        raise EvidenceSchemaError(f"the evidence record{at} lacks keys {missing!r}; it was not written by "
                                  f"ipf_eval.evidence.write_evidence: re-run the evaluation")
    if record["schema"] != SCHEMA_NAME or record["schema_version"] != SCHEMA_VERSION:
        raise EvidenceSchemaError(
            f"the evidence record{at} has schema {record['schema']!r} version {record['schema_version']!r}; "
            f"this ipf_eval reads {SCHEMA_NAME!r} version {SCHEMA_VERSION}: re-run the evaluation with it")
    tables = record["tables"]
    if not isinstance(tables, Mapping) or sorted(tables) != sorted(TABLES):
        got = sorted(tables) if isinstance(tables, Mapping) else type(tables).__name__
        raise EvidenceSchemaError(f"the evidence record{at} must hold the tables {sorted(TABLES)!r}; got "
                                  f"{got!r}")
    for name in TABLES:
        frame = _table_frame(name, tables[name], at)
        for key in ("country", "instrument"):
            if key in frame.columns and len(frame) and set(frame[key]) != {record[key]}:
                raise EvidenceSchemaError(
                    f"table {name!r} of the evidence record{at} holds {key} values "
                    f"{sorted(set(frame[key]))!r} "
                    f"but the record is for {record[key]!r}; re-run the evaluation")
    return dict(record)


def _table_frame(name: str, rows: Any, at: str) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise EvidenceSchemaError(f"table {name!r} of the evidence record{at} must be a list of rows; got "
                                  f"{type(rows).__name__}")
    if not rows:
        return empty_table(name)
    return validate_table(name, pd.DataFrame(rows), where=at.removeprefix(" in "))


@keyword_options
def write_evidence(path: str | Path, evidence: InstrumentEvidence | Mapping[str, Any]) -> Path:
    """Write one evidence record atomically (validated first).

    Parameters
    ----------
    path
        The JSON file (the batch passes the notebook parameter ``evidence_path``).
    evidence
        The evaluation's result, or a record (``InstrumentEvidence.to_dict()``).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    EvidenceSchemaError
        If the record does not match the schema; nothing is written then.
    """
    record = evidence.to_dict() if isinstance(evidence, InstrumentEvidence) else dict(evidence)
    validate_record(record, where=str(path))
    target = Path(path)
    atomic_write_json(target, record)
    return target


@keyword_options
def read_evidence(folder: str | Path, *, country: str | None = None) -> list[dict[str, Any]]:
    """Read and validate every evidence record in ``folder`` (sorted by file name), optionally one country's.

    Raises
    ------
    EvidenceSchemaError
        If a file is not valid JSON or not a valid evidence record (the message names the file).
    """
    records = []
    for file in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EvidenceSchemaError(f"evidence file {str(file)!r} cannot be read ({exc}); re-run its "
                                      "evaluation") from exc
        record = validate_record(record, where=str(file))
        if country is None or record.get("country") == country:
            records.append(record)
    return records


@keyword_options
def evidence_table(records: Sequence[Mapping[str, Any]], name: str) -> pd.DataFrame:
    """Concatenate one table of several evidence records, validated by its schema.

    Parameters
    ----------
    records
        From :func:`read_evidence`.
    name
        A table of :data:`ipf_eval.evidence.schema.TABLES`.

    Returns
    -------
    pandas.DataFrame
        The rows of every record; the ``estimates`` table is sorted by country, instrument, outcome,
        estimator and term (the order of ``evidence.csv``).

    Raises
    ------
    EvidenceSchemaError
        If ``name`` is unknown or a table does not match its schema.
    """
    if name not in TABLES:
        raise EvidenceSchemaError(f"evidence table {name!r} is not defined; the tables are "
                                  f"{sorted(TABLES)!r}")
    rows = [row for rec in records for row in (rec.get("tables") or {}).get(name, [])]
    frame = validate_table(name, pd.DataFrame(rows)) if rows else empty_table(name)
    if name == "estimates":
        frame = frame.sort_values(["country", "instrument", "outcome", "estimator", "term"],
                                  kind="mergesort").reset_index(drop=True)
    return frame


@keyword_options
def read_evidence_csv(path: str | Path) -> pd.DataFrame:
    """Read ``evidence.csv`` back into the typed ``estimates`` table.

    Text columns are read as text (a ``run_id`` of decimal digits, or one like ``"12e4..."``, would
    otherwise become a number) and the table is validated by the schema.

    Raises
    ------
    EvidenceSchemaError
        If the file cannot be read or does not match the schema.
    """
    text = {name for name, col in TABLES["estimates"].columns.items()
            if str(col.dtype).startswith(("str", "string"))}
    try:
        frame = pd.read_csv(path, dtype={c: str for c in text}, keep_default_na=True)
    except (OSError, ValueError) as exc:
        raise EvidenceSchemaError(f"{str(path)!r} cannot be read as evidence.csv ({exc})") from exc
    # an empty list of checks and no grade reasons are written as empty fields, which read back as missing
    blank = [c for c in (*CHECK_LIST_COLUMNS, "grade_reasons", "cost_unit", "outcome_unit")
             if c in frame.columns]
    frame[blank] = frame[blank].fillna("")
    return validate_table("estimates", frame, where=str(path))


@keyword_options
def evidence_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per estimate of every record: the rows of ``evidence.csv`` (the ``estimates`` table)."""
    return evidence_table(records, "estimates")
