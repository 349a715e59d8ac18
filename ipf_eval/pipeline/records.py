"""Evidence records of the batch: the evidence layer's typed records, re-exported for the pipeline.

An instrument notebook writes its evaluation's record with :func:`write_evidence`; the country report, the
synthesis and ``evidence.csv`` read them with :func:`read_evidence` and :func:`evidence_frame`.  The
schema (columns, types, allowed values, version) is :mod:`ipf_eval.evidence.schema`.
"""

from __future__ import annotations

from ipf_eval.evidence.records import (
           evidence_frame,
           evidence_table,
           read_evidence,
           validate_record,
           write_evidence,
)
from ipf_eval.evidence.schema import ESTIMATE_COLUMNS

__all__ = ["EVIDENCE_COLUMNS", "evidence_frame", "evidence_table", "read_evidence", "validate_record",
           "write_evidence"]

#: Columns of ``reports/evidence.csv``, in this order (the evidence schema's ``estimates`` table).
EVIDENCE_COLUMNS: tuple[str, ...] = ESTIMATE_COLUMNS
