"""Evidence records: what an instrument notebook hands to the country report, the synthesis and evidence.csv.

An evidence record is one JSON file per (country, instrument): identifiers, the design and its evidence
grade, and a list of estimates in the tidy layout (``term, estimate, std_error, statistic, p_value,
ci_low, ci_high``) with the outcome and estimator of each.  Result objects' ``to_dict()`` output can be
attached under ``results`` for reviewers.

Each estimate also says what it estimates (``estimand``) and whether it is the **headline** estimate of
its outcome: the one the evidence grade belongs to (a lottery's RCT effect, a scored call's regression
discontinuity, otherwise the staggered DiD).  The country report and the synthesis pool headline rows only.
Records written before these fields existed are read with the rule that held then: the ``att_gt`` rows are
the headline, and the estimand is described from the estimator and term.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipf_eval._version import __version__
from ipf_eval.errors import PipelineError
from ipf_eval.pipeline._io import atomic_write_json
from ipf_eval.results import TIDY_COLUMNS, json_safe

__all__ = ["EVIDENCE_COLUMNS", "default_estimand", "default_headline", "evidence_frame", "read_evidence",
           "write_evidence"]

SCHEMA = "ipf_eval.evidence/1"

#: Columns of ``reports/evidence.csv``, in this order.
EVIDENCE_COLUMNS: tuple[str, ...] = (
    "country", "instrument", "outcome", "design", "estimator", "estimand", "headline", *TIDY_COLUMNS,
    "evidence_grade", "n_obs", "n_firms", "n_supported", "disclosure_profile", "version",
)

_ESTIMATE_KEYS = ("outcome", "estimator", "estimand", "headline", *TIDY_COLUMNS, "n_obs")

# What each (estimator, term) of the instrument notebook estimates, for records that do not say so.
_ESTIMANDS: dict[tuple[str, str], str] = {
    ("rct", "itt"): "intention to treat: one-year change, winners vs losers of the lottery",
    ("rct", "late"): "effect on users (winners who took up support): one-year change",
    ("rct", "first_stage"): "take-up difference between winners and losers",
    ("rdd", "robust"): "effect at the threshold: one-year change (robust bias-corrected)",
    ("rdd", "conventional"): "effect at the threshold: one-year change (conventional)",
}
_ATT_GT_ESTIMAND = "ATT of supported firms, averaged over post-support years"


def default_estimand(estimator: Any, term: Any) -> str:
    """Describe the estimand of an estimate from its estimator and term (for records that do not say).

    Parameters
    ----------
    estimator
        The estimate's ``estimator`` (``att_gt_<method>``, ``rct``, ``rdd``, ...).
    term
        The estimate's ``term`` (``att``, ``itt``, ``late``, ``first_stage``, ``robust``, ``conventional``).

    Returns
    -------
    str
        What the estimate measures, in words; ``"<estimator>: <term>"`` for combinations the instrument
        notebook does not write.
    """
    if str(estimator).startswith("att_gt"):
        return _ATT_GT_ESTIMAND
    return _ESTIMANDS.get((str(estimator), str(term)), f"{estimator}: {term}")


def default_headline(estimator: Any) -> bool:
    """Return the headline flag for records written without one: the staggered DiD rows are the headline.

    Parameters
    ----------
    estimator
        The estimate's ``estimator``.

    Returns
    -------
    bool
        Whether ``estimator`` starts with ``att_gt`` (the rule before records said which row is headline).
    """
    return str(estimator).startswith("att_gt")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _headline_flags(frame: pd.DataFrame) -> list[bool]:
    if "headline" not in frame.columns:
        return [default_headline(e) for e in frame["estimator"]]
    flags = []
    for value, estimator in zip(frame["headline"].tolist(), frame["estimator"].tolist(), strict=True):
        if _missing(value):
            flags.append(default_headline(estimator))
        elif isinstance(value, bool):  # tolist() gives Python bools for a boolean column
            flags.append(value)
        else:
            raise PipelineError(
                f"estimates column 'headline' must hold True/False (or be missing); got {value!r} for "
                f"estimator {estimator!r}; mark the estimate the evidence grade belongs to with True"
            )
    return flags


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
        Optional columns: ``headline`` (True for the estimate of each outcome that the evidence grade
        belongs to; missing or empty: the ``att_gt`` rows), ``estimand`` (what the row estimates, in words;
        missing: described from ``estimator`` and ``term``) and ``evidence_grade`` (the grade of the design
        behind that row when it differs from the record's, e.g. the DiD rows of a lottery).
    evidence_grade, grade_reason
        The grade given to the design whose estimator is the headline, and why.
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
        If an estimate lacks ``outcome``, ``estimator``, ``term`` or ``estimate``, if ``headline`` holds
        something other than True/False, or if an outcome has more than one headline estimate.
    """
    frame = estimates if isinstance(estimates, pd.DataFrame) else pd.DataFrame(list(estimates))
    needed = ["outcome", "estimator", "term", "estimate"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PipelineError(f"estimates lack columns {missing!r}; pass a table with {needed!r} and the tidy "
                            f"columns {list(TIDY_COLUMNS)!r}")
    flags = _headline_flags(frame)
    heads = pd.Series([o for o, f in zip(frame["outcome"].tolist(), flags, strict=True) if f], dtype=object)
    doubled = sorted(str(o) for o in heads[heads.duplicated()].unique())
    if doubled:
        raise PipelineError(f"estimates mark more than one headline estimate for outcome(s) {doubled!r}; "
                            f"set headline=True on one row per outcome (the one the evidence grade is for)")
    rows = []
    for row, flag in zip(frame.to_dict(orient="records"), flags, strict=True):
        out = {k: row.get(k) for k in _ESTIMATE_KEYS}
        out["headline"] = flag
        if _missing(out["estimand"]) or out["estimand"] == "":
            out["estimand"] = default_estimand(row["estimator"], row["term"])
        if not _missing(row.get("evidence_grade")):
            out["evidence_grade"] = str(row["evidence_grade"])
        rows.append(out)
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
    """Flatten evidence records into one row per estimate with :data:`EVIDENCE_COLUMNS`.

    An estimate's own ``evidence_grade`` (when the record gives one) replaces the record's.  Estimates
    without ``headline`` or ``estimand`` (records written before these fields) get ``headline`` True for
    the ``att_gt`` rows and an ``estimand`` described from the estimator and term.
    """
    rows = []
    for rec in records:
        for est in rec.get("estimates", []):
            row = {**{k: rec.get(k) for k in EVIDENCE_COLUMNS if k in rec},
                   **{k: v for k, v in est.items() if not (k == "evidence_grade" and _missing(v))}}
            if _missing(row.get("headline")):
                row["headline"] = default_headline(row.get("estimator"))
            if _missing(row.get("estimand")) or row.get("estimand") == "":
                row["estimand"] = default_estimand(row.get("estimator"), row.get("term"))
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(EVIDENCE_COLUMNS))
    frame["headline"] = frame["headline"].astype(bool)
    return frame.sort_values(["country", "instrument", "outcome", "estimator", "term"],
                             kind="mergesort").reset_index(drop=True)
