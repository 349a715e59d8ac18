"""Private building blocks of :func:`ipf_eval.data.contract.validate_panel` and the readers.

Each helper either returns a cleaned value or raises :class:`~ipf_eval.errors.DataError` /
:class:`~ipf_eval.errors.SpecificationError` with a message that follows the package template: what is
wrong, where (column, counts) and how to fix it.

Messages about the data end up in reports, so they never name a firm or quote a single firm's value: they
give counts, column names and, where the remedy needs them, period and support-timing codes (the design's
grid of years, shared by the firms of a cohort).  Which firms, and their outcome, covariate or weight
values, are recorded in the local log (:func:`ipf_eval.disclosure.local_log.record_details`), whose file the
message names (:func:`listed`).
"""

from __future__ import annotations

import difflib
import itertools
import warnings
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._arrays import fast_unique, firm_starts
from ipf_eval._arrays import plain_numeric as _plain_numeric
from ipf_eval._defaults import check_numbers_not_text, user_stack_level
from ipf_eval.disclosure.local_log import record_details
from ipf_eval.errors import DataError, DataWarning, SpecificationError
from ipf_eval.results import DropRecord

__all__: list[str] = []

#: How many example values (column names, period codes) a message quotes.
N_EXAMPLES = 5


def examples(values: Iterable[Any], k: int = N_EXAMPLES) -> str:
    """Quote up to ``k`` distinct values with ``!r``, then say how many more there are.

    For column names, period and support-timing codes only: firm identifiers and firms' values go to the
    local log through :func:`listed`.
    """
    if isinstance(values, (pd.Series, pd.Index, np.ndarray, pd.api.extensions.ExtensionArray)):
        series = pd.Series(np.asarray(values, dtype=object))
    else:
        series = pd.Series(list(values), dtype=object)
    distinct = series.drop_duplicates()
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in distinct.iloc[:k])
    more = len(distinct) - k
    return shown + (f" and {more} more" if more > 0 else "")


def close_matches(name: str, candidates: Iterable[Hashable]) -> str:
    """Return a ``" (did you mean 'x'?)"`` hint, case-insensitive, or an empty string."""
    cands = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in cands}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if not hits:
        return ""
    return " (did you mean " + " or ".join(repr(lowered[h]) for h in hits) + "?)"


def name_tuple(value: Sequence[str] | str | None, param: str) -> tuple[str, ...]:
    """Turn a column-name argument into a tuple of names; a single string is one name."""
    if value is None:
        return ()
    items: tuple[Any, ...] = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in items if not isinstance(v, str) or not v]
    if bad:
        raise SpecificationError(
            f"{param} must hold non-empty column names (strings); got {examples(bad)} in {value!r}. "
            "Pass the column names as strings."
        )
    dups = sorted({v for v in items if items.count(v) > 1})
    if dups:
        raise SpecificationError(f"{param} names {examples(dups)} more than once; list each column once.")
    return items


def check_roles(roles: dict[str, tuple[str, ...]]) -> None:
    """Refuse a column used in two roles among id, period, support, outcomes, covariates and weights."""
    owner: dict[str, str] = {}
    for role, names in roles.items():
        for name in names:
            if name in owner:
                raise SpecificationError(
                    f"column {name!r} is given both as {owner[name]} and as {role}; a column plays one role. "
                    "Pass a copy under another name if you really need both."
                )
            owner[name] = role


def check_columns_present(
    data: pd.DataFrame, needed: Sequence[str], roles: dict[str, tuple[str, ...]]
) -> None:
    """Raise one DataError naming every missing column, its role and close matches."""
    if not data.columns.is_unique:
        dups = data.columns[data.columns.duplicated()].unique()
        raise DataError(
            f"the data have duplicated column labels {examples(dups)}; every column needs a unique name. "
            "Rename or drop the duplicates before validating."
        )
    missing = [c for c in needed if c not in data.columns]
    if not missing:
        return
    role_of = {n: r for r, names in roles.items() for n in names}
    parts = [f"{c!r} ({role_of.get(c, 'column')}){close_matches(c, data.columns)}" for c in missing]
    raise DataError(
        f"{len(missing)} column(s) not found in the data: {', '.join(parts)}. "
        f"Available columns ({len(data.columns)}): {examples(data.columns, k=20)}. "
        "Fix the argument or rename the column (read_panel(columns=...) maps agency names)."
    )


def listed(kind: str, column: str | Sequence[str], ids: Iterable[Any], values: Iterable[Any] | None = None,
           ) -> str:
    """Record the firms (and values) behind a message in the local log; return the clause that says where.

    The clause reads "the firms are listed in the local log '<file>'" (", and their values" when values are
    recorded), or says that no log could be written.
    """
    path = record_details(kind, columns=column, ids=ids, values=values)
    what = "the firms and their values are" if values is not None else "the firms are"
    if path is None:
        return (f"{what} not listed: no local log could be written (set the environment variable "
                "IPF_EVAL_LOCAL_LOG to a writable file)")
    return f"{what} listed in the local log {str(path)!r}"


def listed_values(kind: str, column: str, values: Iterable[Any]) -> str:
    """Record the cell values behind a message about a file in the local log; return the clause saying where.

    For the readers, which do not know yet which column identifies the firms: the message gives counts and
    row positions, the values go to the log (a firm's amount or code in a report is a disclosure).
    """
    path = record_details(kind, columns=column, values=values)
    if path is None:
        return ("the values are not listed: no local log could be written (set the environment variable "
                "IPF_EVAL_LOCAL_LOG to a writable file)")
    return f"the values are listed in the local log {str(path)!r}"


def _n_firms(ids: pd.Series) -> int:
    return int(ids.nunique())


def _bad_rows(values: pd.Series, ids: pd.Series, mask: np.ndarray | pd.Series, *, kind: str, column: str,
              quote: bool) -> str:
    """``"in k firm(s) (...)"``: quote the values when ``quote`` (codes); log the firms with their values."""
    m = np.asarray(mask, dtype=bool)
    shown = f"values {examples(values[m])}; " if quote else ""
    return f"in {_n_firms(ids[m])} firm(s) ({shown}{listed(kind, column, ids[m], values[m])})"


def numeric_values(s: pd.Series, *, column: str, role: str, ids: pd.Series, allow_bool: bool) -> pd.Series:
    """Return ``s`` as a numeric Series (float64 or int64), or raise a DataError naming bad values.

    Numeric dtypes (numpy or nullable) pass; object columns pass when every non-missing entry is a
    number; booleans pass when ``allow_bool``.  Strings, dates and categories are refused.
    """
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if allow_bool:
            return s.astype("float64")
        raise DataError(
            f"{role} column {column!r} is boolean (dtype {str(dtype)!r}); it must hold integer codes. "
            "Recode it as integers."
        )
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return s.astype("float64")  # nullable Int64/Float64: pd.NA becomes NaN
        return s
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        numeric_kinds = ("integer", "floating", "mixed-integer-float", "empty")
        if kind in numeric_kinds or (allow_bool and kind == "boolean"):
            return pd.to_numeric(s, errors="coerce").astype("float64")
    if pd.api.types.is_datetime64_any_dtype(dtype):
        hint = f"Convert it, e.g. data[{column!r}].dt.year."
    else:
        hint = (f"Convert it with pandas.to_numeric(data[{column!r}]) after fixing the entries that are "
                "not numbers.")
    notnum = pd.to_numeric(s.astype(object), errors="coerce").isna() & s.notna()
    n_bad = int(notnum.sum())
    quote = role in ("period", "support timing")  # codes, not a firm's values
    where = (f"; {n_bad} row(s) are not numbers, "
             f"{_bad_rows(s, ids, notnum, kind=f'{role} not numeric', column=column, quote=quote)}"
             if n_bad else "")
    raise DataError(f"{role} column {column!r} is not numeric (dtype {str(dtype)!r}){where}. {hint}")


def integer_codes(s: pd.Series, *, column: str, role: str, ids: pd.Series) -> None:
    """Raise a DataError when a numeric column holds non-integer values (2004.5, inf); 2004.0 passes."""
    if _plain_numeric(s) is not None and s.dtype.kind in "iu":
        return  # integer dtype: integer codes by construction
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    frac = ~finite & ~np.isnan(values)  # +-inf
    frac[finite] = values[finite] != np.round(values[finite])
    if frac.any():
        raise DataError(
            f"{role} column {column!r} holds {int(frac.sum())} non-integer value(s) "
            f"{_bad_rows(s, ids, frac, kind=f'{role} not an integer', column=column, quote=True)}; "
            "periods must be integer codes such as years (2004.0 is "
            "accepted, 2004.5 is not). Recode half-years or quarters as consecutive integers "
            "(e.g. 4 * year + quarter)."
        )


def varies_within_firm(values: pd.Series, starts: np.ndarray, firm_no: np.ndarray | None) -> np.ndarray:
    """Per row: does the value differ from the firm's first (baseline) row?  Rows sorted by firm."""
    plain = _plain_numeric(values)
    if plain is not None and plain.size > 1:
        # a firm varies iff two neighbouring rows of it differ: a cheap test before the per-row answer
        same = plain[1:] == plain[:-1]
        if plain.dtype.kind == "f":
            same |= np.isnan(plain[1:]) & np.isnan(plain[:-1])
        if bool(np.all(same | starts[1:])):
            return np.zeros(plain.size, dtype=bool)
    arr = values.to_numpy()
    if firm_no is None:
        firm_no = np.cumsum(starts) - 1
    first = arr[starts][firm_no]
    differs = np.asarray(first != arr, dtype=bool)
    both_missing = np.asarray(pd.isna(first), dtype=bool) & np.asarray(pd.isna(arr), dtype=bool)
    return differs & ~both_missing


def describe_periods(periods: Sequence[int], k: int = 12) -> str:
    """Compact list of period codes for messages."""
    ps = list(periods)
    if len(ps) <= k:
        return repr(ps)
    return f"[{ps[0]}, {ps[1]}, ..., {ps[-1]}] ({len(ps)} periods)"


# ---- the stages of validate_panel, in the order it runs them ---------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Column names by role, as parsed from the arguments of ``validate_panel``."""

    idname: str
    tname: str
    gname: str
    ynames: tuple[str, ...]
    covariates: tuple[str, ...]
    weights: tuple[str, ...]
    clustervars: tuple[str, ...]
    extra_columns: tuple[str, ...]

    @property
    def needed(self) -> list[str]:
        """Every column kept, in output order, each once."""
        return list(dict.fromkeys([self.idname, self.tname, self.gname, *self.ynames, *self.covariates,
                                   *self.weights, *self.clustervars, *self.extra_columns]))

    @property
    def by_role(self) -> dict[str, tuple[str, ...]]:
        """Role name -> columns, for messages."""
        return {"idname": (self.idname,), "tname": (self.tname,), "gname": (self.gname,),
                "ynames": self.ynames, "covariates": self.covariates, "weightsname": self.weights,
                "clustervars": self.clustervars, "extra_columns": self.extra_columns}


@dataclass
class Log:
    """What validation changed: drop records and the DataWarning messages, issued at the user's call site."""

    dropped: list[DropRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record and issue a DataWarning; called from a stage that ``validate_panel`` calls directly."""
        self.notes.append(message)
        # at the caller of validate_panel, however many frames of ipf_eval lie between
        warnings.warn(message, DataWarning, stacklevel=user_stack_level())


def coerce_types(df: pd.DataFrame, r: Roles) -> pd.DataFrame:
    """Check and cast ids, periods, support timing, outcomes, weights and nullable covariates (in place)."""
    ids = df[r.idname]
    if pd.api.types.is_object_dtype(ids.dtype) and pd.api.types.infer_dtype(ids, skipna=True) in (
            "mixed", "mixed-integer"):
        kinds = sorted({type(v).__name__ for v in ids.dropna()})
        raise DataError(f"id column {r.idname!r} mixes value types {kinds!r} (e.g. 1 and '1' would be two "
                        f"firms); convert it to one type, e.g. data[{r.idname!r}].astype(str).")
    df[r.tname] = numeric_values(df[r.tname], column=r.tname, role="period", ids=ids, allow_bool=False)
    integer_codes(df[r.tname], column=r.tname, role="period", ids=ids)
    g = numeric_values(df[r.gname], column=r.gname, role="support timing", ids=ids, allow_bool=False)
    if _plain_numeric(g) is not None and g.dtype.kind in "iu":
        neg = (g < 0).to_numpy()
        if not neg.any():  # integer codes, no missing values: nothing to recode
            df[r.gname] = g.astype("int64")
            return _coerce_rest(df, r, ids)
    g = g.astype("float64")
    neg = (g < 0).to_numpy()
    if neg.any():
        where = _bad_rows(g, ids, neg, kind="support timing negative", column=r.gname, quote=True)
        raise DataError(f"support timing column {r.gname!r} holds {int(neg.sum())} negative value(s) {where}"
                        "; it must be the first period of support, or 0 / missing for never supported.")
    g = g.mask(g == np.inf, 0.0).fillna(0.0)  # missing or +inf: never supported (documented)
    integer_codes(g, column=r.gname, role="support timing", ids=ids)
    df[r.gname] = g
    return _coerce_rest(df, r, ids)


def _coerce_rest(df: pd.DataFrame, r: Roles, ids: pd.Series) -> pd.DataFrame:
    """Cast outcomes, weights and nullable covariates (the second half of :func:`coerce_types`)."""
    for y in r.ynames:
        df[y] = numeric_values(df[y], column=y, role="outcome", ids=ids, allow_bool=True).astype("float64")
    for w in r.weights:
        df[w] = numeric_values(df[w], column=w, role="weights", ids=ids, allow_bool=False).astype("float64")
        negw = (df[w] < 0).to_numpy()
        if negw.any():
            raise DataError(f"weights column {w!r} holds {int(negw.sum())} negative value(s) "
                            f"{_bad_rows(df[w], ids, negw, kind='weights negative', column=w, quote=False)}; "
                            "weights must be >= 0. Fix or drop those rows.")
        infw = np.isinf(df[w].to_numpy(dtype="float64", na_value=np.nan))
        if infw.any():
            raise DataError(f"weights column {w!r} holds {int(infw.sum())} infinite value(s) in "
                            f"{_n_firms(ids[infw])} firm(s) ({listed('weights infinite', w, ids[infw])}); "
                            "a firm with an infinite weight would be the whole "
                            "estimate. Fix those weights (a division by zero upstream?) or drop the rows.")
    check_numbers_not_text(df, r.covariates, function="validate_panel")
    for c in r.covariates:
        dt = df[c].dtype
        if (pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
                and isinstance(dt, pd.api.extensions.ExtensionDtype)):
            df[c] = df[c].astype("float64")  # nullable numbers: pd.NA becomes NaN
    return df


def drop_incomplete(df: pd.DataFrame, r: Roles, log: Log) -> pd.DataFrame:
    """Drop rows with a missing id, period, outcome, covariate, weight or cluster value; cast t and g."""
    ids = df[r.idname]
    finite_checked = (*r.ynames, *r.covariates, *r.weights)
    per_column: list[str] = []
    missing_in: list[str] = []
    bad = np.zeros(len(df), dtype=bool)
    for col in dict.fromkeys([r.idname, r.tname, *finite_checked, *r.clustervars]):
        s = df[col]
        if _plain_numeric(s) is not None and s.dtype.kind in "iu":
            continue  # plain integers cannot be missing
        miss = s.isna().to_numpy()
        if col in finite_checked and pd.api.types.is_float_dtype(s.dtype):
            miss = miss | ~np.isfinite(s.to_numpy(dtype="float64", na_value=np.nan))
        if miss.any():
            kind = "missing or non-finite" if col in finite_checked else "missing"
            per_column.append(f"{col!r}: {int(miss.sum())} {kind}")
            missing_in.append(col)
            bad = bad | miss
    if bad.any():
        n_bad = int(bad.sum())
        bad_ids = ids[bad & ids.notna().to_numpy()]
        reason = "missing or non-finite values (" + "; ".join(per_column) + ")"
        log.dropped.append(DropRecord(reason=reason, n_rows=n_bad, n_units=int(bad_ids.nunique())))
        affected = "the firms are not known (their id is missing)"
        if len(bad_ids):
            where = listed(f"rows dropped: {reason}", missing_in, bad_ids)
            affected = f"{bad_ids.nunique()} firm(s) affected ({where})"
        log.warn(f"dropped {n_bad} of {len(df)} row(s) with {reason}; {affected}. Impute or fix these values "
                 "beforehand to keep the rows.")
        df = df.loc[~bad].reset_index(drop=True)
        if len(df) == 0:
            raise DataError(f"no rows left after dropping rows with {reason}; check the columns named above.")
    for col in (r.tname, r.gname):
        if df[col].dtype != np.dtype("int64"):
            df[col] = df[col].astype("int64")
    if pd.api.types.is_float_dtype(df[r.idname].dtype):
        id_values = df[r.idname].to_numpy(dtype="float64")
        if (np.isfinite(id_values) & (id_values == np.round(id_values))).all():
            df[r.idname] = id_values.astype("int64")  # whole-number ids read as float because of blanks
    nonpos = (df[r.tname] <= 0).to_numpy()
    if nonpos.any():
        raise DataError(f"period column {r.tname!r} holds {int(nonpos.sum())} value(s) <= 0, e.g. "
                        f"{examples(df[r.tname][nonpos])}; periods must be positive because gname 0 means "
                        f"never supported. Recode, e.g. data[{r.tname!r}] - min + 1 (and shift {r.gname!r} "
                        "alike).")
    return df


def sort_and_check_structure(df: pd.DataFrame, r: Roles, *, panel: bool) -> pd.DataFrame:
    """Sort by (id, period); refuse duplicate firm-periods, timing that varies within a firm, 0/1 timing."""
    g_arr = df[r.gname].to_numpy()  # int64 and >= 0 here: "only 0 and 1, with a 1" is "max is 1"
    indicator = bool(g_arr.size and int(g_arr.max()) == 1 and int(g_arr.min()) >= 0
                     and df[r.tname].min() > 1)
    hint = (
        f" {r.gname!r} holds only 0 and 1: it looks like a support indicator, but it must be the first "
        f"period of support; from an indicator column d: data[{r.tname!r}].where(data[d] == 1)"
        f".groupby(data[{r.idname!r}]).transform('min').fillna(0)."
    ) if indicator else ""
    id_arr = _plain_numeric(df[r.idname])
    t_all = df[r.tname].to_numpy()
    no_dups = False
    if id_arr is not None and id_arr.dtype.kind in "iu":
        # numeric ids already in (id, period) order (the usual layout) skip hashing and sorting
        new_firm = id_arr[1:] != id_arr[:-1]
        is_sorted = bool(np.all(id_arr[1:] >= id_arr[:-1]))
        if is_sorted:
            t_up = t_all[1:] > t_all[:-1]
            no_dups = bool(np.all(new_firm | t_up))  # periods strictly increase within every firm
            is_sorted = no_dups or bool(np.all(new_firm | t_up | (t_all[1:] == t_all[:-1])))
    else:
        is_sorted = False
    if not is_sorted:
        codes = pd.factorize(df[r.idname], sort=True)[0]
        order = np.lexsort((t_all, codes))
        if not (order[1:] > order[:-1]).all():  # already sorted data skip the (costly) reordering copy
            df = df.iloc[order].reset_index(drop=True)
    ids = df[r.idname]
    if panel:
        starts = firm_starts(ids)
        firm_no = None
        t_arr = df[r.tname].to_numpy()
        dup = np.zeros(len(df), dtype=bool)
        if not no_dups:
            dup[1:] = ~starts[1:] & (t_arr[1:] == t_arr[:-1])
        if dup.any():
            where = listed("duplicate firm-period rows", [r.idname, r.tname], ids[dup], df[r.tname][dup])
            raise DataError(
                f"{int(dup.sum())} duplicate ({r.idname!r}, {r.tname!r}) row(s) in {ids[dup].nunique()} "
                f"firm(s), in periods {examples(df[r.tname][dup])} ({where}); the "
                "contract is one row per firm and period. Aggregate or de-duplicate them "
                "(data.drop_duplicates), or pass panel=False for repeated cross-sections."
            )
        varying = varies_within_firm(df[r.gname], starts, firm_no)
        if varying.any():
            firms = ids[varying].unique()
            where = listed("support timing varies within a firm", r.gname, firms)
            raise DataError(
                f"support timing {r.gname!r} varies within {len(firms)} firm(s) (values "
                f"{examples(df.loc[ids.isin(firms), r.gname])}; missing counts as 0, never supported; "
                f"{where}). It must be the first period of support, constant within a "
                f"firm: e.g. data.groupby({r.idname!r})[{r.gname!r}].transform('max') if later rows were "
                "left blank." + hint
            )
    if indicator:
        raise DataError(f"support timing {r.gname!r} is not a period code (periods start at "
                        f"{int(df[r.tname].min())}).{hint}")
    return df


def check_period_gaps(df: pd.DataFrame, r: Roles, *, period_gaps: str, log: Log) -> np.ndarray:
    """Warn (or refuse) when the period codes are not consecutive integers; return the sorted periods."""
    periods = fast_unique(df[r.tname].to_numpy())
    jumps = [(int(a), int(b)) for a, b in itertools.pairwise(periods) if b - a != 1]
    if not jumps or period_gaps == "accept":
        return periods
    msg = (f"period codes in {r.tname!r} are not consecutive integers: found "
           f"{describe_periods(periods.tolist())} with jumps {', '.join(f'{a}->{b}' for a, b in jumps[:5])}; "
           f"they are taken as consecutive waves (the period before {jumps[0][1]} is {jumps[0][0]}).")
    if period_gaps == "error":
        raise DataError(msg + " Pass period_gaps='accept' if the waves are regular, or recode them.")
    log.warn(msg + " Pass period_gaps='accept' to silence this, or 'error' to refuse gaps.")
    return periods


def align_support_timing(df: pd.DataFrame, r: Roles, *, already_supported: str, log: Log,
                         periods: np.ndarray | None = None) -> pd.DataFrame:
    """Recode support after the window to 0, drop (or refuse) firms already supported, align to periods.

    ``periods`` are the frame's sorted distinct periods when the caller has them already.
    """
    ids = df[r.idname]
    periods = fast_unique(df[r.tname].to_numpy()) if periods is None else periods
    first, last = int(periods[0]), int(periods[-1])
    gv = df[r.gname].to_numpy()
    late = gv > last
    if late.any():
        firms = ids[late].unique()
        where = listed(f"support after the last period {last}: recoded to 0", r.gname, firms)
        log.warn(f"{len(firms)} firm(s) first supported after the last period {last} (gname "
                 f"{examples(gv[late])}; {where}) are not supported within the "
                 "window: gname recoded to 0, they serve as comparison firms.")
        df.loc[late, r.gname] = 0
    gv = df[r.gname].to_numpy()
    early = (gv > 0) & (gv <= first)
    if early.any() and already_supported != "keep":
        firms = ids[early].unique()
        where = listed(f"already supported in or before the first period {first}", r.gname, firms)
        what = (f"{len(firms)} firm(s) ({int(early.sum())} rows) were already supported in or before the "
                f"first period {first} (gname {examples(gv[early])}; {where}): they "
                "have no pre-support period")
        if already_supported == "error":
            raise DataError(what + ". Drop them, or pass already_supported='drop' (or 'keep').")
        reason = f"already supported in or before the first period {first} (0 < {r.gname} <= {first})"
        log.dropped.append(DropRecord(reason=reason, n_rows=int(early.sum()), n_units=len(firms)))
        log.warn(what + "; dropped (pass already_supported='keep' to keep them, 'error' to refuse).")
        df = df.loc[~early].reset_index(drop=True)
        if len(df) == 0:
            raise DataError(f"no rows left: every firm was supported in or before the first period {first}.")
        ids = df[r.idname]
        periods = fast_unique(df[r.tname].to_numpy())
    gv = df[r.gname].to_numpy()
    g_distinct = fast_unique(gv)
    off_grid = g_distinct[(g_distinct > periods[0]) & (g_distinct <= periods[-1])
                          & ~np.isin(g_distinct, periods)]
    inside = np.isin(gv, off_grid) if off_grid.size else None
    if inside is not None and inside.any():
        new = periods[np.searchsorted(periods, gv[inside])]
        pairs = ", ".join(f"{a}->{b}" for a, b in sorted(set(zip(gv[inside].tolist(), new.tolist(),
                                                                  strict=True))))
        where = listed("support timing not an observed period: recoded", r.gname, ids[inside])
        log.warn(f"support timing {r.gname!r} of {ids[inside].nunique()} firm(s) is not an observed period; "
                 f"recoded to the first observed period on or after it ({pairs}; {where}).")
        df.loc[inside, r.gname] = new
    return df


def check_covariates_and_weights(df: pd.DataFrame, r: Roles, *, panel: bool, time_invariant: bool,
                                 log: Log) -> pd.DataFrame:
    """Use baseline covariate values, refuse single-level covariates and weights that break the contract."""
    ids = df[r.idname]
    starts = firm_starts(ids)
    firm_no = None
    for c in r.covariates:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            df[c] = s = s.cat.remove_unused_categories()
        if panel and time_invariant:
            varying = varies_within_firm(s, starts, firm_no)
            if varying.any():
                firms = ids[varying].unique()
                firm_no = np.cumsum(starts) - 1 if firm_no is None else firm_no
                df[c] = s = s.iloc[np.flatnonzero(starts)[firm_no]].reset_index(drop=True)
                where = listed("covariate varies within a firm: baseline value used", c, firms)
                log.warn(f"covariate {c!r} varies within {len(firms)} firm(s) ({where}); the "
                         "baseline (first observed) value is used in every period. Pass "
                         "time_invariant_covariates=False to keep time-varying values.")
        plain = _plain_numeric(s)
        if plain is not None and plain.size:
            finite = plain if plain.dtype.kind in "iu" else plain[~np.isnan(plain)]
            single = finite.size == 0 or bool(finite.min() == finite.max())
        else:
            single = s.nunique(dropna=True) < 2
        if single:
            is_cat = not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype)
            kind = "categorical covariate" if is_cat else "covariate"
            raise DataError(f"{kind} {c!r} has a single {'level' if is_cat else 'value'} "
                            f"{examples(s.dropna())} in the {len(df)} rows kept; it carries no "
                            "information and makes the design singular. Remove it from covariates.")
    for w in r.weights:
        if panel:
            varying = varies_within_firm(df[w], starts, firm_no)
            if varying.any():
                firms = ids[varying].unique()
                where = listed("weights vary within a firm", w, firms)
                raise DataError(f"weights {w!r} vary within {len(firms)} firm(s) ({where}); "
                                "weights must be constant within a firm. Use the baseline weight: "
                                f"data.groupby({r.idname!r})[{w!r}].transform('first').")
        if not (df[w] > 0).any():
            raise DataError(f"weights column {w!r} is zero in all {len(df)} rows; give positive weights.")
        zero = (df[w] == 0).to_numpy()
        if zero.any():
            zero_ids = ids[zero].unique()
            unit = "firm(s)" if panel else "observation(s) of firm(s)"
            raise DataError(f"weights column {w!r} is zero for {len(zero_ids)} {unit} ({int(zero.sum())} "
                            f"rows; {listed('weights zero', w, zero_ids)}); a zero sampling weight leaves "
                            "a firm out "
                            "of every mean while it still counts in the number of firms behind the "
                            f"standard errors. Drop those firms first: data[data[{w!r}] > 0].")
    return df


def check_cohorts(df: pd.DataFrame, r: Roles, *, min_cohort_size: int, require_never_treated: bool,
                  log: Log) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (cohorts, small cohorts); warn on small cohorts, refuse a panel without comparison firms."""
    starts = firm_starts(df[r.idname])
    sizes = df.loc[starts, r.gname].value_counts().sort_index()
    cohorts = tuple(int(c) for c in sizes.index if c != 0)
    n_never = int(sizes.get(0, 0))
    small = tuple(c for c in cohorts if sizes[c] < min_cohort_size)
    if small:
        listed = ", ".join(f"{c} ({int(sizes[c])} firm{'' if sizes[c] == 1 else 's'})" for c in small)
        log.warn(f"cohort(s) {listed} have fewer than {min_cohort_size} firms; their effects cannot be "
                 "estimated with a standard error. Pool them with a neighbouring cohort or drop them.")
    if n_never == 0 and len(cohorts) < 2:
        raise DataError(f"no comparison firms: every firm is supported and all in the same cohort "
                        f"{cohorts!r}; add never-supported firms (gname 0) from the business register, or "
                        "firms supported later (not-yet-supported comparisons).")
    if require_never_treated and n_never == 0:
        raise DataError(f"require_never_treated=True but no firm is never supported ({r.gname!r} == 0); all "
                        f"{int(sizes.sum())} firms are in cohorts {examples(cohorts, k=10)}. Add "
                        "never-supported firms, or use not-yet-supported comparisons "
                        "(require_never_treated=False).")
    return cohorts, small
