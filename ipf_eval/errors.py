"""The package's error and warning tree.

Every exception raised on purpose by ipf_eval derives from :class:`IpfEvalError`, so a batch job can catch
the whole family with one ``except``.  Input problems are also :class:`ValueError`, estimation failures
also :class:`RuntimeError`, so code written against the standard library keeps working.

Messages follow one template: what is wrong (the value quoted with ``!r``), where (the parameter or
column, with row counts and a few example ids) and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BatchLockedError",
    "DataError",
    "DataWarning",
    "DisclosureError",
    "DisclosureWarning",
    "EstimationError",
    "EstimationWarning",
    "EvidenceSchemaError",
    "IpfEvalError",
    "IpfEvalWarning",
    "ParameterError",
    "PipelineError",
    "SpecificationError",
]


class IpfEvalError(Exception):
    """Root of every error that ipf_eval raises on purpose."""


class DataError(IpfEvalError, ValueError):
    """The data break the panel contract: missing or mistyped columns, duplicates, bad timing."""


class SpecificationError(IpfEvalError, ValueError):
    """An argument is not one of the allowed values, or arguments contradict each other."""


class EvidenceSchemaError(IpfEvalError, ValueError):
    """An evidence record or table does not match the typed evidence schema (columns, types, values)."""


class ParameterError(SpecificationError):
    """A parameter file (YAML) or a notebook parameter is invalid; the message names file and key."""


class EstimationError(IpfEvalError, RuntimeError):
    """The estimator cannot produce a number: no overlap, a singular design, no comparison units."""


class DisclosureError(IpfEvalError, RuntimeError):
    """An output would disclose confidential firm-level information and cannot be published."""


class PipelineError(IpfEvalError, RuntimeError):
    """A batch run failed: a notebook raised, a kernel died, an output could not be written."""


class BatchLockedError(PipelineError):
    """Another batch is writing to the same output folder (its process id is in the lock file)."""


class IpfEvalWarning(UserWarning):
    """Root of every warning that ipf_eval issues."""


class DataWarning(IpfEvalWarning):
    """Data were changed on the way in (rows dropped, periods recoded); the message gives counts."""


class EstimationWarning(IpfEvalWarning):
    """An estimate exists but deserves caution: few clusters, extreme weights, a failed diagnostic."""


class DisclosureWarning(IpfEvalWarning):
    """Cells were suppressed by disclosure control; the audit log says which and why."""
