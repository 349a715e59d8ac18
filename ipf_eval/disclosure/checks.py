"""Disclosure checks for outputs that are already aggregated: tables, model results, figure data, HTML.

Use :func:`~ipf_eval.disclosure.tables.protect_table` when the firm-level rows are at hand (it can apply
the dominance and p % rules and secondary suppression against margins).  The checks here work on what an
estimator or a notebook has already produced: a frame with a firm count per row, a result object following
the tidy conventions (``to_frame()``, ``to_dict()``), the data behind a figure, or the rendered report.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options, user_stack_level
from ipf_eval.disclosure.audit import AuditEntry, AuditLog, format_cell_key
from ipf_eval.disclosure.profiles import DisclosureProfile, get_profile
from ipf_eval.disclosure.tables import ProtectedTable
from ipf_eval.errors import DataError, DisclosureError, DisclosureWarning, SpecificationError
from ipf_eval.results import TIDY_COLUMNS, ResultMixin, Specification, Summary

__all__ = [
    "DEFAULT_COUNT_COLUMNS",
    "ScanReport",
    "check_figure_data",
    "check_result",
    "check_table",
    "scan_html",
]

#: Columns of a result's ``to_frame()`` that count the firms behind a reported estimate.
DEFAULT_COUNT_COLUMNS: tuple[str, ...] = ("n_firms", "n_units", "n_treated", "n_control", "n_supported")

_DF_KEYS: tuple[str, ...] = ("df_resid", "residual_df", "df_residual")


def _row_key(frame: pd.DataFrame, i: int, key_cols: Sequence[str]) -> str:
    if not key_cols:
        return f"row={i}"
    return format_cell_key({c: frame[c].iloc[i] for c in key_cols})


def _finish(
    *,
    name: str,
    frame: pd.DataFrame,
    status: np.ndarray,
    rules: list[str],
    reasons: list[str],
    hide_cols: Sequence[str],
    key_cols: Sequence[str],
    prof: DisclosureProfile,
    spec: Specification,
    notes: tuple[str, ...] = (),
) -> ProtectedTable:
    out = frame.copy()
    hidden = status != "published"
    for col in hide_cols:
        if pd.api.types.is_integer_dtype(out[col]) and hidden.any():
            out[col] = out[col].astype("Int64")
        elif not pd.api.types.is_float_dtype(out[col]) and hidden.any():
            out[col] = out[col].astype("float64")
        out.loc[hidden, col] = pd.NA if out[col].dtype == "Int64" else np.nan
    out["status"] = status
    out["rule"] = rules
    entries = tuple(
        AuditEntry(name, _row_key(frame, int(i), key_cols), str(status[i]), rules[i], reasons[i])
        for i in np.flatnonzero(hidden)
    )
    if entries:
        warnings.warn(
            f"{name}: {len(entries)} row(s) hidden under profile {prof.name!r}; see .audit for the reasons.",
            DisclosureWarning,
            stacklevel=user_stack_level(),
        )
    return ProtectedTable(name=name, table=out, audit=AuditLog(entries=entries, profile=prof.name),
                          profile=prof, specification=spec, notes=notes)


def _validate_counts(frame: Any, count_col: str, *, where: str) -> np.ndarray:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{where} must be a pandas DataFrame; got {type(frame).__name__!r}.")
    if count_col not in frame.columns:
        raise DataError(
            f"count_col {count_col!r} is not a column of {where}; available columns are "
            f"{list(frame.columns)!r}. Add the number of firms behind each row."
        )
    dups = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(
            f"{where} has duplicated column labels {[str(d) for d in dups]!r}; a column named twice is "
            "ambiguous: drop or rename the copies before disclosure control."
        )
    counts = pd.to_numeric(frame[count_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(counts) | (counts < 0)
    if bad.any():
        raise DataError(
            f"count_col {count_col!r} must hold non-negative firm counts; {int(bad.sum())} row(s) are "
            "missing, negative or not numeric. Fix the counts before publishing."
        )
    frac = counts != np.round(counts)
    if frac.any():
        raise DataError(
            f"count_col {count_col!r} must hold whole numbers of firms; {int(frac.sum())} row(s) hold "
            "fractions. A weighted count is not a number of contributors: pass the unweighted number of "
            "firms behind each row."
        )
    return counts


@keyword_options
def check_table(
    frame: pd.DataFrame,
    *,
    count_col: str,
    profile: str | DisclosureProfile = "statistical_office",
    value_cols: Sequence[str] | None = None,
    key_cols: Sequence[str] | None = None,
    has_total: bool = False,
    name: str = "table",
) -> ProtectedTable:
    r"""Apply the threshold rule to an already aggregated table with a firm count per row.

    Parameters
    ----------
    frame
        The aggregated table, one row per cell.  Not modified.
    count_col
        Column holding the number of distinct firms behind each row.
    profile
        Disclosure profile name or object.
    value_cols
        Columns hidden in a suppressed row; defaults to every numeric column.  The count column is always
        hidden too.
    key_cols
        Columns identifying a row in the audit log; defaults to the non-numeric columns.
    has_total
        Whether the rows add up to a total published elsewhere.  If so, and exactly one row is hidden,
        the row with the fewest firms among the others is hidden too (secondary suppression), so that the
        hidden row cannot be recovered by subtraction.
    name
        Table name for the audit log.

    Returns
    -------
    ProtectedTable
        The frame with hidden values set to missing and ``status`` and ``rule`` columns.

    Raises
    ------
    DataError
        If ``frame`` is not a DataFrame or names a column twice, ``count_col`` or a value column is missing,
        or counts are missing, negative or fractional.

    Warns
    -----
    DisclosureWarning
        When at least one row is hidden.

    Notes
    -----
    Only the threshold rule (:math:`1 \le n < n_{min}`) can be applied to aggregates: the dominance and
    p % rules need the firm contributions, so build magnitude tables with
    :func:`~ipf_eval.disclosure.tables.protect_table` from the microdata instead.
    """
    prof = get_profile(profile)
    counts = _validate_counts(frame, count_col, where="frame")
    if value_cols is None:
        value_cols = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    missing = [c for c in value_cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"value_cols {missing!r} are not columns of frame; available: {list(frame.columns)!r}."
        )
    if key_cols is None:
        key_cols = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if count_col not in value_cols:  # a small count is itself disclosive
        value_cols = [*value_cols, count_col]
    status = np.full(len(frame), "published", dtype=object)
    rules = [""] * len(frame)
    reasons = [""] * len(frame)
    small = (counts > 0) & (counts < prof.min_firms)
    for i in np.flatnonzero(small):
        status[i], rules[i] = "primary", "threshold"
        reasons[i] = f"fewer than {prof.min_firms} contributing firms"
    if has_total and small.sum() == 1:
        candidates = [i for i in np.argsort(counts, kind="stable") if not small[i] and counts[i] > 0]
        if candidates:
            j = int(candidates[0])
            status[j], rules[j] = "secondary", "complementary"
            reasons[j] = "hidden so that a suppressed row cannot be recovered from the total"
    spec = Specification(
        estimator="check_table",
        arguments={"count_col": count_col, "profile": prof.name, "value_cols": list(value_cols),
                   "has_total": has_total, "name": name},
        n_obs=len(frame),
        n_units=int(counts.sum()),
    )
    return _finish(name=name, frame=frame, status=status, rules=rules, reasons=reasons, hide_cols=value_cols,
                   key_cols=key_cols, prof=prof, spec=spec)


@keyword_options
def check_figure_data(
    frame: pd.DataFrame,
    *,
    count_col: str,
    profile: str | DisclosureProfile = "statistical_office",
    value_cols: Sequence[str] | None = None,
    key_cols: Sequence[str] | None = None,
    name: str = "figure",
) -> ProtectedTable:
    """Check the data behind a figure: every plotted point must rest on enough firms.

    Parameters
    ----------
    frame
        One row per plotted point (or bar, or bin) with the number of firms behind it.  Not modified.
    count_col
        Column with the number of distinct firms behind each point.
    profile
        Disclosure profile name or object.
    value_cols
        Columns set to NaN for a hidden point (matplotlib leaves NaN points out); defaults to every numeric
        column.  The count column is always hidden too.
    key_cols
        Columns identifying a point in the audit log; defaults to the non-numeric columns.
    name
        Figure name for the audit log.

    Returns
    -------
    ProtectedTable
        The figure data with hidden points set to NaN, and ``status`` and ``rule`` columns.

    Raises
    ------
    DataError
        As :func:`check_table`.

    Warns
    -----
    DisclosureWarning
        When at least one point is hidden.

    Notes
    -----
    Scatter plots of firm-level observations cannot pass: aggregate first (bins, means by group) and pass
    the aggregates with their counts.  Histograms should be checked bin by bin.
    """
    return check_table(frame, count_col=count_col, profile=profile, value_cols=value_cols, key_cols=key_cols,
                       has_total=False, name=name)


def _find_df(d: Mapping[str, Any]) -> float | None:
    for key in _DF_KEYS:
        if key in d and d[key] is not None:
            return float(d[key])
    for sub in ("diagnostics", "specification", "statistics"):
        inner = d.get(sub)
        if isinstance(inner, Mapping):
            for key in _DF_KEYS:
                if key in inner and inner[key] is not None:
                    return float(inner[key])
    return None


@keyword_options
def check_result(
    result: Any,
    *,
    profile: str | DisclosureProfile = "statistical_office",
    count_cols: Sequence[str] | None = None,
    df_resid: float | None = None,
    on_fail: Literal["suppress", "raise"] = "suppress",
    name: str | None = None,
) -> ProtectedTable:
    """Check a model result before its estimates are published.

    Parameters
    ----------
    result
        Any result following the package conventions: ``to_frame()`` (tidy columns, possibly with firm
        counts per row such as ``n_treated``) and ``to_dict()`` (with ``specification.n_units`` and, for
        regression models, ``df_resid``).
    profile
        Disclosure profile name or object.
    count_cols
        Columns of ``to_frame()`` counting the firms behind each estimate; defaults to those of
        :data:`DEFAULT_COUNT_COLUMNS` that are present.  Every such count must reach the threshold.
    df_resid
        Residual degrees of freedom, when the result does not report them (keys ``df_resid``,
        ``residual_df`` or ``df_residual`` in ``to_dict()`` or its ``diagnostics``/``specification``).
    on_fail
        ``"suppress"`` hides failing estimates (NaN) and warns; ``"raise"`` refuses the whole result.
    name
        Name for the audit log; defaults to the class name of ``result``.

    Returns
    -------
    ProtectedTable
        ``result.to_frame()`` with failing rows' estimates, intervals and counts hidden, plus ``status``
        and ``rule`` columns.  Its ``notes`` say which rules could not be checked.

    Raises
    ------
    SpecificationError
        If ``result`` lacks ``to_frame``/``to_dict``, ``on_fail`` is unknown or ``df_resid`` is negative or
        not a finite number.
    DataError
        If a named count column is missing.
    DisclosureError
        With ``on_fail="raise"``, if any estimate fails a rule.

    Warns
    -----
    DisclosureWarning
        When at least one estimate is hidden.

    Notes
    -----
    The whole result fails when it rests on fewer than ``min_firms`` firms (``specification.n_units``), when
    a firm count reported at the top level of ``to_dict()`` (``n_treated``, ``n_control``, ...) is below
    ``min_firms`` or, under a profile with ``min_residual_df``, when the residual degrees of freedom fall
    short.  A row fails when one of its firm counts is below ``min_firms``.  Aggregates published next to
    hidden rows (an overall ATT next to group ATTs with known weights) could be combined to recover a hidden
    row; publish aggregates built from checked rows only.
    """
    prof = get_profile(profile)
    if on_fail not in ("suppress", "raise"):
        raise SpecificationError(f"on_fail must be 'suppress' or 'raise'; got {on_fail!r}.")
    if df_resid is not None and (isinstance(df_resid, bool)
                                 or not isinstance(df_resid, (int, float, np.number))
                                 or not np.isfinite(df_resid) or df_resid < 0):
        raise SpecificationError(
            f"df_resid must be None or a finite number >= 0 (the model's residual degrees of freedom); got "
            f"{df_resid!r}."
        )
    if not (callable(getattr(result, "to_frame", None)) and callable(getattr(result, "to_dict", None))):
        raise SpecificationError(
            "result must offer to_frame() and to_dict() (an ipf_eval result); got "
            f"{type(result).__name__!r}. "
            "Use check_table for a DataFrame."
        )
    label = name or type(result).__name__
    frame = result.to_frame()
    info = result.to_dict()
    spec_info = info.get("specification") if isinstance(info.get("specification"), Mapping) else {}
    n_units = (spec_info or {}).get("n_units", info.get("n_units"))
    if count_cols is None:
        count_cols = [c for c in DEFAULT_COUNT_COLUMNS if c in frame.columns]
    else:
        absent = [c for c in count_cols if c not in frame.columns]
        if absent:
            raise DataError(
                f"count_cols {absent!r} are not columns of {label}.to_frame(); available: "
                f"{list(frame.columns)!r}."
            )
    notes: list[str] = []
    whole: list[tuple[str, str]] = []
    if n_units is not None and float(n_units) < prof.min_firms:
        whole.append(("threshold", f"the model rests on fewer than {prof.min_firms} firms"))
    for key in DEFAULT_COUNT_COLUMNS:
        value = info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < prof.min_firms:
            whole.append(("threshold", f"{key} below {prof.min_firms} firms"))
    if prof.min_residual_df is not None:
        dof = df_resid if df_resid is not None else _find_df(info)
        if dof is None:
            notes.append("Residual degrees of freedom not reported by the result; that rule was not checked. "
                         "Pass df_resid= to check it.")
        elif dof < prof.min_residual_df:
            whole.append(("residual_df", f"fewer than {prof.min_residual_df} residual degrees of freedom"))
    status = np.full(len(frame), "published", dtype=object)
    rules = [""] * len(frame)
    reasons = [""] * len(frame)
    for i in range(len(frame)):
        failed = list(whole)
        for col in count_cols:
            v = pd.to_numeric(pd.Series([frame[col].iloc[i]]), errors="coerce").iloc[0]
            if pd.notna(v) and float(v) < prof.min_firms:
                failed.append(("threshold", f"{col} below {prof.min_firms} firms"))
                break
        if failed:
            status[i] = "primary"
            rules[i] = "+".join(dict.fromkeys(r for r, _ in failed))
            reasons[i] = "; ".join(reason for _, reason in failed)
    if on_fail == "raise" and (status != "published").any():
        raise DisclosureError(
            f"{label}: {int((status != 'published').sum())} estimate(s) fail profile {prof.name!r} "
            f"({sorted({r for r in rules if r})!r}); re-estimate on larger groups or publish with "
            "on_fail='suppress'."
        )
    hide = [c for c in frame.columns if c in TIDY_COLUMNS[1:]] + list(count_cols)
    key_cols = [c for c in ("term", "group", "time", "event_time", "country", "instrument", "outcome")
                if c in frame.columns]
    spec = Specification(
        estimator="check_result",
        arguments={"result": label, "profile": prof.name, "count_cols": list(count_cols), "on_fail": on_fail},
        n_obs=len(frame),
        n_units=int(n_units) if n_units is not None else 0,
    )
    return _finish(name=label, frame=frame, status=status, rules=rules, reasons=reasons, hide_cols=hide,
                   key_cols=key_cols, prof=prof, spec=spec, notes=tuple(notes))


@dataclass(frozen=True, eq=False)
class ScanReport(ResultMixin):
    """Findings of :func:`scan_html`: firm identifiers and small counts found in rendered text.

    Attributes
    ----------
    findings
        One ``(kind, token, occurrences)`` triple per distinct finding; ``kind`` is ``"identifier"`` or
        ``"small_count"``.
    n_ids_checked, n_ids_skipped
        Identifiers searched, and identifiers skipped as too short to search reliably.
    profile
        Name of the profile whose threshold defined a small count.
    """

    findings: tuple[tuple[str, str, int], ...]
    n_ids_checked: int
    n_ids_skipped: int
    profile: str

    @property
    def clean(self) -> bool:
        """Whether nothing was found."""
        return not self.findings

    def to_frame(self) -> pd.DataFrame:
        """Return one row per finding: ``kind, token, occurrences``."""
        return pd.DataFrame(list(self.findings), columns=["kind", "token", "occurrences"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"clean": self.clean, "profile": self.profile, "n_ids_checked": self.n_ids_checked,
                "n_ids_skipped": self.n_ids_skipped,
                "findings": [{"kind": k, "token": t, "occurrences": n} for k, t, n in self.findings]}

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(title="Report scan for firm-level disclosure",
                       facts=(("Clean", str(self.clean)), ("Identifiers checked", str(self.n_ids_checked)),
                              ("Identifiers skipped (too short)", str(self.n_ids_skipped))),
                       table=self.to_frame())


_SMALL_COUNT_PATTERNS = (
    re.compile(r"(?<![\w.])[nN]\s*=\s*(\d+)(?![\w.])"),
    re.compile(r"(?<![\w.])(\d+)\s+(?:firms?|companies|enterprises|SMEs)\b"),
)


@keyword_options
def scan_html(
    text: str,
    *,
    id_values: Iterable[Any] = (),
    profile: str | DisclosureProfile = "statistical_office",
    min_id_length: int = 4,
    on_fail: Literal["report", "raise"] = "report",
) -> ScanReport:
    r"""Scan rendered report text (HTML, Markdown) for firm identifiers and small counts.

    Parameters
    ----------
    text
        The rendered report.
    id_values
        Firm identifiers that must not appear (searched as whole tokens, case-sensitive).
    profile
        Profile whose ``min_firms`` defines a small count: ``n = k`` or ``k firms`` with
        :math:`1 \le k < n_{min}` is reported.
    min_id_length
        Identifiers shorter than this are skipped (a short numeric id matches ordinary numbers); their number
        is reported.  Use string ids of at least this length (e.g. ``"F000123"``) to make the scan reliable.
    on_fail
        ``"report"`` returns the findings; ``"raise"`` raises :class:`~ipf_eval.errors.DisclosureError` when
        something is found.

    Returns
    -------
    ScanReport
        The findings (tokens and occurrence counts).

    Raises
    ------
    SpecificationError
        If ``text`` is not a string, ``min_id_length`` is below 1 or ``on_fail`` is unknown.
    DisclosureError
        With ``on_fail="raise"``, when an identifier or a small count is found.
    """
    prof = get_profile(profile)
    if not isinstance(text, str):
        raise SpecificationError(f"text must be a string (the rendered report); got {type(text).__name__!r}.")
    if not isinstance(min_id_length, int) or min_id_length < 1:
        raise SpecificationError(f"min_id_length must be a positive integer; got {min_id_length!r}.")
    if on_fail not in ("report", "raise"):
        raise SpecificationError(f"on_fail must be 'report' or 'raise'; got {on_fail!r}.")
    ids = {str(v) for v in id_values if v is not None and not (isinstance(v, float) and np.isnan(v))}
    searched = sorted((i for i in ids if len(i) >= min_id_length), key=len, reverse=True)
    findings: list[tuple[str, str, int]] = []
    if searched:
        pattern = re.compile(r"(?<![\w])(" + "|".join(re.escape(i) for i in searched) + r")(?![\w])")
        hits: dict[str, int] = {}
        for m in pattern.finditer(text):
            hits[m.group(1)] = hits.get(m.group(1), 0) + 1
        findings += [("identifier", tok, n) for tok, n in sorted(hits.items())]
    small: dict[str, int] = {}
    for pat in _SMALL_COUNT_PATTERNS:
        for m in pat.finditer(text):
            k = int(m.group(1))
            if 1 <= k < prof.min_firms:
                small[m.group(0)] = small.get(m.group(0), 0) + 1
    findings += [("small_count", tok, n) for tok, n in sorted(small.items())]
    report = ScanReport(findings=tuple(findings), n_ids_checked=len(searched),
                        n_ids_skipped=len(ids) - len(searched), profile=prof.name)
    if on_fail == "raise" and not report.clean:
        kinds = sorted({k for k, _, _ in findings})
        raise DisclosureError(
            f"the report text contains {len(findings)} disclosive finding(s) of kind {kinds!r}; remove firm "
            "identifiers and counts below the threshold before publishing."
        )
    return report
