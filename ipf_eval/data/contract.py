"""The panel contract: one row per firm and period, named by arguments, validated once at the entry point.

Every estimator in ipf_eval accepts a :class:`ValidatedPanel` (or a DataFrame that it passes through
:func:`validate_panel`).  The contract is:

* **One row per firm and period.**  Columns are named by arguments, never by position: ``idname`` (firm),
  ``tname`` (positive integer period, usually the year), ``gname`` (first period of support; 0, missing
  or ``+inf`` for never supported), outcome columns ``ynames``, ``covariates`` (time-invariant baseline
  characteristics by default), optional ``weightsname``, ``clustervars`` and ``extra_columns`` (e.g.
  ``country``, ``region``, ``sector``, ``size_class``, ``support_amount``, ``score``, ``arm``).
* **The caller's frame is never modified.**  The validated frame is a private copy holding only the named
  columns (id, period, support timing, outcomes, covariates, weights, cluster variables, extra columns, in
  that order), sorted by ``(idname, tname)`` with a fresh ``RangeIndex``; ``tname`` and ``gname`` are int64
  (``gname`` 0 = never supported), outcomes float64 (booleans become 0/1), nullable numeric covariates
  float64, categorical covariates keep their categories (unused ones removed), ids keep their dtype (a float
  id column of whole numbers, as read from a CSV with blanks, becomes int64).
* **One validation, many estimators.**  :meth:`ValidatedPanel.unit_frame` gives one row per firm (support
  timing, baseline covariates and weight, first and last period, number of periods);
  :meth:`ValidatedPanel.cohort_sizes` the number of firms per cohort; :meth:`ValidatedPanel.to_dict` a
  JSON-safe record of what was validated, dropped and recoded.

**Refused** with a :class:`~ipf_eval.errors.DataError` naming the column, counts and the remedy (never a
firm: see *Messages* below): an empty frame; missing columns (with close matches); non-numeric
outcomes, periods, support timing or weights; non-integer period codes (2004.5 or inf; 2004.0 is accepted
and cast); periods that are not positive (0 codes "never supported"); duplicate (firm, period) rows;
support timing that varies within a firm, or that holds only 0/1 (a support *indicator* given instead of
the first period of support); negative, infinite or zero weights; weights that vary within a firm; an id
column that mixes types (``1`` and ``"1"``); a covariate with a single value or level, or holding numbers
stored as text (``"2.5"``: convert it, or make it ``category`` if the digits are codes); no comparison firms
(neither never-supported firms nor a second cohort to serve as not-yet-supported comparison); with
``require_never_treated=True``, no never-supported firm.  Argument errors (a column in two roles, an
unknown option, no outcome) are :class:`~ipf_eval.errors.SpecificationError`.

**Changed**, never silently: each change issues a :class:`~ipf_eval.errors.DataWarning` with counts,
repeated in ``ValidatedPanel.notes``; removed rows are also in ``ValidatedPanel.dropped``
(:class:`~ipf_eval.results.DropRecord`: reason, rows, firms):

* rows with a missing id, period, outcome, covariate, weight or cluster variable, or a non-finite outcome
  or covariate (``log(0)``), are dropped;
* firms whose support began in or before the first period of the panel (``0 < gname <= min(t)``: they have
  no pre-support period, R ``did``'s "already treated" units) are dropped, as R ``did`` does
  (``already_supported="drop"``, the default); ``"error"`` refuses them, ``"keep"`` keeps them;
* support after the last period (``gname > max(t)``, e.g. 2010 in a 2003-2007 panel) is recoded 0, as R
  ``did`` does: such firms are not supported within the window and serve as comparison firms, under a
  never-supported as under a not-yet-supported comparison group;
* support inside the window that is not an observed period (2006 in a biennial 2003/2005/2007 panel) is
  recoded to the first observed period on or after it (2007);
* period codes with gaps (2003, 2005, 2007) are taken as consecutive waves: "the period before 2005" is
  2003 (``period_gaps="warn"``, the default; ``"error"`` refuses gaps, ``"accept"`` takes them silently);
* covariates that vary within a firm are replaced by the firm's baseline (first observed) value
  (``time_invariant_covariates=True``, the default), because the estimators condition on baseline
  characteristics; ``False`` keeps them as observed;
* cohorts with fewer than ``min_cohort_size`` firms (default 2) are kept, named in a warning and listed in
  ``ValidatedPanel.small_cohorts``: no standard error can be estimated for them.

**Messages** end up in reports, so they name columns and give counts (and period or support-timing codes
where the remedy needs them), never a firm identifier or a firm's value: which firms, with their values, are
written to the local log (:mod:`ipf_eval.disclosure.local_log`), whose file the message names.

A missing ``gname`` is not a missing value: it means "never supported" and becomes 0 without a warning.
``panel=False`` (repeated cross-sections) allows several rows per (id, period) and skips the within-firm
checks (timing, covariates, weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._arrays import fast_unique, firm_positions, firm_starts
from ipf_eval._defaults import keyword_options
from ipf_eval.data import _checks as ck
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.results import DropRecord

__all__ = ["ValidatedPanel", "validate_panel"]

_ALREADY = ("drop", "error", "keep")
_GAPS = ("warn", "error", "accept")


@dataclass(frozen=True, eq=False)
class ValidatedPanel:
    """A panel that passed :func:`validate_panel`; every estimator accepts it instead of a DataFrame.

    Attributes
    ----------
    data
        A private copy of the caller's rows that passed validation, sorted by ``(idname, tname)``, with a
        fresh RangeIndex, incomplete rows dropped, and ``gname`` coded 0 for never supported firms
        (integer dtype).  Never the caller's object.
    idname, tname, gname
        Column names of firm id, integer period and first period of support.
    ynames, covariates
        Outcome and covariate columns kept.
    periods
        Sorted distinct periods observed.
    cohorts
        Sorted distinct first-support periods of supported firms (0 excluded).
    n_units
        Number of distinct firms.
    balanced
        Whether every firm is observed in every period.
    dropped
        What was removed on the way in and why.
    weightsname
        Column of (time-invariant, non-negative) sampling weights, or ``None``.
    clustervars
        Cluster-variable columns kept.
    extra_columns
        Other columns kept unchecked (e.g. ``country``, ``support_amount``).
    notes
        Every DataWarning message issued while validating (recodings, small cohorts, period gaps), so that a
        report can repeat them.
    small_cohorts
        Cohorts with fewer firms than ``min_cohort_size``.
    panel
        ``True`` for a panel (firms followed over time), ``False`` for repeated cross-sections.
    """

    data: pd.DataFrame
    idname: str
    tname: str
    gname: str
    ynames: tuple[str, ...]
    covariates: tuple[str, ...]
    periods: tuple[int, ...]
    cohorts: tuple[int, ...]
    n_units: int
    balanced: bool
    dropped: tuple[DropRecord, ...] = ()
    weightsname: str | None = None
    clustervars: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    small_cohorts: tuple[int, ...] = ()
    panel: bool = True
    _unit_cache: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_obs(self) -> int:
        """Number of rows (firm-periods) kept."""
        return len(self.data)

    @property
    def has_never_supported(self) -> bool:
        """Whether at least one firm is never supported (``gname == 0``)."""
        return bool((self.data[self.gname] == 0).any())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe description: names, sizes, periods, cohorts, drops and notes (no rows)."""
        return {
            "idname": self.idname, "tname": self.tname, "gname": self.gname, "ynames": list(self.ynames),
            "covariates": list(self.covariates), "weightsname": self.weightsname,
            "clustervars": list(self.clustervars), "extra_columns": list(self.extra_columns),
            "n_obs": self.n_obs, "n_units": int(self.n_units), "periods": list(self.periods),
            "cohorts": list(self.cohorts), "balanced": bool(self.balanced), "panel": bool(self.panel),
            "small_cohorts": list(self.small_cohorts), "dropped": [d.to_dict() for d in self.dropped],
            "notes": list(self.notes),
        }

    def unit_frame(self) -> pd.DataFrame:
        """One row per firm: id, support timing, baseline covariates and weights, periods observed.

        Returns
        -------
        pandas.DataFrame
            Columns ``idname``, ``gname``, the covariates and the weights column (values of the firm's first
            observed period, its *baseline*), then ``first_period``, ``last_period`` and ``n_periods``;
            sorted by firm, fresh RangeIndex.  A new copy on every call, safe to modify.

        Notes
        -----
        With ``time_invariant_covariates=True`` (the default of :func:`validate_panel`) covariates are
        constant within a firm, so the baseline value is the value.  For repeated cross-sections
        (``panel=False``) a "firm" is an id value and the first row per id is used.
        """
        if "frame" not in self._unit_cache:
            cols = [self.idname, self.gname, *self.covariates]
            if self.weightsname is not None:
                cols.append(self.weightsname)
            d = self.data
            starts, firm_no = firm_positions(d[self.idname])
            units = d.loc[starts, cols].reset_index(drop=True)
            t = d[self.tname].to_numpy()
            n = int(starts.sum())
            extra = {
                "first_period": t[starts],
                "last_period": np.maximum.reduceat(t, np.flatnonzero(starts)) if n else t[:0],
                "n_periods": np.bincount(firm_no, minlength=n).astype("int64"),
            }
            for name, values in extra.items():
                if name not in units.columns:
                    units[name] = values
            self._unit_cache["frame"] = units
        return self._unit_cache["frame"].copy()

    def cohort_sizes(self) -> pd.Series:
        """Count firms per support cohort, 0 (never supported) included, sorted by cohort.

        Returns
        -------
        pandas.Series
            Index: cohort (first period of support, 0 for never supported); values: number of firms (int64).
        """
        units = self.unit_frame()
        sizes = units.groupby(self.gname).size().astype("int64").sort_index()
        sizes.index.name = self.gname
        sizes.name = "n_firms"
        return sizes


def _ensure_choice(value: object, allowed: tuple[str, ...], param: str) -> None:
    if value not in allowed:
        raise SpecificationError(f"{param} must be one of {allowed!r}; got {value!r}.")


@keyword_options
def validate_panel(
    data: pd.DataFrame,
    *,
    idname: str,
    tname: str,
    gname: str,
    ynames: Sequence[str] | str,
    covariates: Sequence[str] | str = (),
    weightsname: str | None = None,
    clustervars: Sequence[str] | str = (),
    extra_columns: Sequence[str] | str = (),
    require_never_treated: bool = False,
    already_supported: str = "drop",
    period_gaps: str = "warn",
    time_invariant_covariates: bool = True,
    min_cohort_size: int = 2,
    panel: bool = True,
) -> ValidatedPanel:
    """Validate a firm panel against the contract and return a private, cleaned copy.

    Parameters
    ----------
    data
        One row per firm and period.  Never modified.
    idname
        Firm identifier column (any hashable type, e.g. integer or pandas string; no mixed types).
    tname
        Period column: positive integer codes (integer-valued floats such as 2004.0 are cast).
    gname
        First period of support; 0, missing or ``+inf`` for never supported.  Constant within a firm.
    ynames
        Outcome column(s): numeric or boolean; cast to float64.
    covariates
        Baseline characteristics: numeric, boolean, string or categorical, with at least two values.
    weightsname
        Optional sampling-weight column: numeric, positive and finite, constant within a firm (a
        firm with weight zero is refused: drop it first).
    clustervars
        Optional cluster-variable columns (rows with missing values are dropped).  May include ``idname``.
    extra_columns
        Optional columns kept as they are, unchecked (e.g. ``country``, ``support_amount``, ``score``).
    require_never_treated
        If ``True``, refuse a panel without never-supported firms (``gname == 0``), as estimators with
        ``control_group="never_treated"`` need them.
    already_supported
        What to do with firms whose support began in or before the first period: ``"drop"`` (default,
        DataWarning and a drop record), ``"error"`` or ``"keep"``.
    period_gaps
        Period codes that are not consecutive integers: ``"warn"`` (default; they are taken as consecutive
        waves), ``"error"``, or ``"accept"`` (taken as waves without a warning, e.g. for a biennial survey).
    time_invariant_covariates
        If ``True`` (default), covariates that vary within a firm are replaced by the firm's baseline (first
        observed) value with a DataWarning; if ``False`` they are kept as observed.
    min_cohort_size
        Cohorts with fewer firms get a DataWarning and are listed in ``small_cohorts`` (default 2).
    panel
        ``True`` for a panel.  ``False`` for repeated cross-sections: duplicate (id, period) rows are allowed
        and the within-firm checks (timing, covariates, weights) are skipped.

    Returns
    -------
    ValidatedPanel
        The cleaned copy with its periods, cohorts, number of firms, drop records and notes.

    Raises
    ------
    DataError
        When the data break the contract (see the module docstring for the list); the message names the
        column, counts and the remedy; the firms concerned are in the local log it names.
    SpecificationError
        When an argument is invalid: a column in two roles, an unknown option value, no outcome.

    Warns
    -----
    DataWarning
        When rows are dropped or values recoded (counts in the message, the firms in the local log).

    Notes
    -----
    The contract follows the data conventions of Callaway and Sant'Anna (2021) as implemented in R ``did``:
    ``gname`` is the first period of support, 0 for never supported; firms already supported in the first
    period have no pre-support period and are dropped.

    References
    ----------
    .. [1] Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time
       periods. Journal of Econometrics, 225(2), 200-230.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"firm": [1, 1, 2, 2, 3, 3, 4, 4], "year": [2004, 2005] * 4,
    ...                    "first": [2005, 2005, 2005, 2005, 0, 0, None, None],
    ...                    "emp": [3.0, 4.0, 5.0, 5.5, 2.0, 2.2, 1.0, 1.1]})
    >>> vp = validate_panel(df, idname="firm", tname="year", gname="first", ynames="emp")
    >>> vp.periods, vp.cohorts, vp.n_units, vp.balanced
    ((2004, 2005), (2005,), 4, True)
    >>> vp.cohort_sizes().to_dict()
    {0: 2, 2005: 2}
    """
    # -- arguments ----------------------------------------------------------------------------------------
    for param, value in (("idname", idname), ("tname", tname), ("gname", gname)):
        if not isinstance(value, str) or not value:
            raise SpecificationError(f"{param} must be a column name (a non-empty string); got {value!r}.")
    r = ck.Roles(idname=idname, tname=tname, gname=gname, ynames=ck.name_tuple(ynames, "ynames"),
                 covariates=ck.name_tuple(covariates, "covariates"),
                 weights=ck.name_tuple(weightsname, "weightsname"),
                 clustervars=ck.name_tuple(clustervars, "clustervars"),
                 extra_columns=ck.name_tuple(extra_columns, "extra_columns"))
    if not r.ynames:
        raise SpecificationError(
            "ynames is empty; name at least one outcome column, e.g. ynames='log_employment'."
        )
    _ensure_choice(already_supported, _ALREADY, "already_supported")
    _ensure_choice(period_gaps, _GAPS, "period_gaps")
    if not isinstance(min_cohort_size, (int, np.integer)) or isinstance(min_cohort_size, bool) \
            or min_cohort_size < 1:
        raise SpecificationError(f"min_cohort_size must be a positive integer; got {min_cohort_size!r}.")
    roles = {k: v for k, v in r.by_role.items() if k not in ("clustervars", "extra_columns")}
    ck.check_roles(roles)
    for name in r.extra_columns:
        if any(name in cols for cols in roles.values()):
            raise SpecificationError(
                f"extra_columns names {name!r}, which already has a role; remove it there."
            )

    # -- the frame ----------------------------------------------------------------------------------------
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame; got {type(data).__name__!r}. "
                        "Read files with ipf_eval.data.read_panel.")
    if data.shape[0] == 0:
        raise DataError(f"the data frame is empty (0 rows, {data.shape[1]} columns); "
                        "pass a panel with one row per firm and period.")
    ck.check_columns_present(data, r.needed, r.by_role)
    # a new frame of the needed columns; copy-on-write (pandas >= 3) copies a column only when a stage
    # writes to it, so the caller's frame is never modified and unchanged columns are not duplicated
    df = data.loc[:, r.needed].reset_index(drop=True)

    # -- the stages (each warns at the caller's line through log.warn) --------------------------------------
    log = ck.Log()
    df = ck.coerce_types(df, r)
    df = ck.drop_incomplete(df, r, log)
    df = ck.sort_and_check_structure(df, r, panel=panel)
    all_periods = ck.check_period_gaps(df, r, period_gaps=period_gaps, log=log)
    n_rows = len(df)
    df = ck.align_support_timing(df, r, already_supported=already_supported, log=log, periods=all_periods)
    df = ck.check_covariates_and_weights(df, r, panel=panel, time_invariant=time_invariant_covariates,
                                         log=log)
    cohorts, small = ck.check_cohorts(df, r, min_cohort_size=int(min_cohort_size),
                                      require_never_treated=require_never_treated, log=log)

    starts = firm_starts(df[idname])  # rows are sorted by firm
    n_units = int(starts.sum())
    kept_periods = all_periods if len(df) == n_rows else fast_unique(df[tname].to_numpy())
    periods = tuple(int(p) for p in kept_periods)
    return ValidatedPanel(
        data=df, idname=idname, tname=tname, gname=gname, ynames=r.ynames, covariates=r.covariates,
        periods=periods, cohorts=cohorts, n_units=n_units,
        balanced=bool(panel and len(df) == n_units * len(periods)),
        dropped=tuple(log.dropped), weightsname=weightsname, clustervars=r.clustervars,
        extra_columns=r.extra_columns, notes=tuple(log.notes), small_cohorts=small, panel=panel,
    )
