"""What explains the differences between countries: meta-regression of the pooled headline estimates.

For each instrument and outcome the forum pools (:func:`ipf_eval.synthesis.forum.select_families`), the
countries' headline estimates are regressed, one characteristic at a time, on what travels in the evidence
bundles: the country's SME mix (the share of micro firms among its firms, from the disclosure-checked
``population_mix`` table), the evidence grade of its estimate (the quality of its design, as carried out)
and the design of its evaluation.  :func:`explain_differences` applies the rules; the wording is in
:mod:`ipf_eval.pipeline.explain_report`.

The rules, chosen because the forum has few countries per instrument:

* **One characteristic at a time.**  Each univariable model has two coefficients; fitting them jointly
  would leave no residual degrees of freedom with five or six countries.
* **Enough countries.**  A model is fitted only when it keeps at least :data:`MIN_RESIDUAL_DF` residual
  degrees of freedom (``k - p >= 3``: five countries for one numeric characteristic); fewer is reported as
  too few, never fitted.
* **Exploratory below ten countries per characteristic** (:data:`COUNTRIES_PER_MODERATOR`, the Cochrane
  Handbook's guide): such a result is a question for the forum, not a finding.
* **A characteristic that is the same in every country cannot explain anything** and is reported as such.
  The design is constant within a pooled family by construction (one estimator family per instrument and
  outcome), so it varies only when an estimator family spans designs.
* **Knapp-Hartung** t and F tests (the default), because with few countries the normal-theory tests of a
  random-effects meta-regression reject too often.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import DataError, IpfEvalError, SpecificationError
from ipf_eval.synthesis._common import check_columns, check_frame
from ipf_eval.synthesis.meta_regression import MetaRegressionResult, meta_regression

__all__ = [
    "COUNTRIES_PER_MODERATOR",
    "EXPLAIN_COLUMNS",
    "MIN_RESIDUAL_DF",
    "MODERATORS",
    "DifferenceExplanations",
    "country_moderators",
    "explain_differences",
]

#: Residual degrees of freedom (countries minus coefficients) a meta-regression must keep to be fitted.
MIN_RESIDUAL_DF = 3

#: Countries per characteristic below which a meta-regression is exploratory (Cochrane Handbook 10.11.5.1).
COUNTRIES_PER_MODERATOR = 10

#: The country characteristics examined, in order, and how a one-unit change of each is read.
MODERATORS: dict[str, str] = {
    "micro_share": "10 percentage points more micro firms among the country's firms",
    "evidence_grade": "one Maryland level higher evidence grade of the country's estimate",
    "design": "the design of the country's evaluation",
}

#: How the numeric characteristics are scaled so that one unit is the change :data:`MODERATORS` names.
_SCALE: dict[str, float] = {"micro_share": 10.0, "evidence_grade": 1.0}

#: Columns of :attr:`DifferenceExplanations.table`.
EXPLAIN_COLUMNS: tuple[str, ...] = (
    "instrument", "outcome", "family", "moderator", "countries", "status", "exploratory", "levels",
    "slope", "std_error", "ci_low", "ci_high", "p_value", "df_resid", "tau2_before", "tau2_after", "r2",
    "note",
)

_KEPT_COLUMNS = ("country", "instrument", "outcome", "estimate", "std_error", "design", "family")
_MIX_COLUMNS = ("country", "instrument", "size_class", "share")


@dataclass(frozen=True, eq=False)
class DifferenceExplanations:
    """The meta-regressions of :func:`explain_differences` and the rule each comparison met (frozen).

    Attributes
    ----------
    table
        One row per instrument, outcome and characteristic (:data:`EXPLAIN_COLUMNS`): ``status`` is
        ``"fitted"``, ``"too_few_countries"``, ``"constant"`` (the same in every country), ``"missing"``
        (a country lacks the characteristic, e.g. no size class in its data) or ``"failed"`` (with the
        reason in ``note``).  For a fitted numeric characteristic ``slope`` is the change of the effect per
        unit of :data:`MODERATORS` (on the outcome's scale: log points, shares or units) with its standard
        error, interval and p-value; for the design ``slope`` is the difference to the reference design when
        there are two, else missing, and ``p_value`` is the omnibus test.  ``tau2_before`` and
        ``tau2_after`` are the between-country variances without and with the characteristic, ``r2`` the
        share of it explained.
    fits
        The :class:`~ipf_eval.synthesis.meta_regression.MetaRegressionResult` of each fitted row, keyed by
        ``(instrument, outcome, moderator)``.
    moderators
        The characteristics of each country used (aggregates only): ``country, instrument, outcome,
        micro_share, evidence_grade, design``.
    min_residual_df, alpha
        The rules applied (the exploratory threshold is :data:`COUNTRIES_PER_MODERATOR`).
    """

    table: pd.DataFrame
    fits: dict[tuple[str, str, str], MetaRegressionResult] = field(default_factory=dict)
    moderators: pd.DataFrame = field(default_factory=pd.DataFrame)
    min_residual_df: int = MIN_RESIDUAL_DF
    alpha: float = 0.05

    def fitted(self) -> pd.DataFrame:
        """Return the rows that were fitted."""
        return self.table.loc[self.table["status"] == "fitted"].reset_index(drop=True)


def _micro_shares(population_mix: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Share of micro firms per (country, instrument); a country's other records stand in for one missing."""
    mix = population_mix.loc[population_mix["size_class"].astype(str) == "micro"]
    out: dict[tuple[str, str], float] = {}
    for r in mix.itertuples(index=False):
        share = pd.to_numeric(pd.Series([r.share]), errors="coerce").iloc[0]
        if pd.notna(share):
            out[(str(r.country), str(r.instrument))] = float(share)
    return out


def _micro_share_of(shares: dict[tuple[str, str], float], country: str, instrument: str) -> float:
    if (country, instrument) in shares:
        return shares[(country, instrument)]
    others = [v for (c, _), v in sorted(shares.items()) if c == country]
    return others[0] if others else float("nan")


@keyword_options
def country_moderators(kept: pd.DataFrame, population_mix: pd.DataFrame) -> pd.DataFrame:
    """Return the characteristics of each country's pooled headline estimate.

    Parameters
    ----------
    kept
        ``select_families(...).kept``: one headline estimate per country, instrument and outcome, with
        ``grade`` (or ``evidence_grade``) and ``design``; not modified.
    population_mix
        The evidence records' ``population_mix`` table (shares of micro, small and medium firms per country
        and instrument); not modified.

    Returns
    -------
    pandas.DataFrame
        ``country, instrument, outcome, estimate, std_error, family, micro_share, evidence_grade, design``:
        ``micro_share`` is missing for a country without a population mix (its data have no size class).

    Raises
    ------
    DataError
        A frame is not a DataFrame or lacks a column.
    """
    check_frame(kept, "kept")
    check_frame(population_mix, "population_mix")
    check_columns(kept, {c: c for c in _KEPT_COLUMNS}, "kept")
    check_columns(population_mix, {c: c for c in _MIX_COLUMNS}, "population_mix")
    grade_col = "grade" if "grade" in kept.columns else "evidence_grade"
    if grade_col not in kept.columns:
        raise DataError("kept must have a 'grade' or 'evidence_grade' column (the Maryland level of each "
                        "headline estimate); pass forum.select_families(...).kept")
    shares = _micro_shares(population_mix)
    out = kept.loc[:, [*_KEPT_COLUMNS]].copy()
    out["micro_share"] = [_micro_share_of(shares, str(c), str(i))
                          for c, i in zip(kept["country"], kept["instrument"], strict=True)]
    out["evidence_grade"] = pd.to_numeric(kept[grade_col], errors="coerce").to_numpy(dtype=float)
    out["design"] = kept["design"].astype(str).to_numpy()
    columns = ["country", "instrument", "outcome", "estimate", "std_error", "family", "micro_share",
               "evidence_grade", "design"]
    return out[columns].sort_values(["instrument", "outcome", "country"], ignore_index=True)


def _row(inst: str, outcome: str, family: str, moderator: str, k: int, status: str, note: str,
         **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EXPLAIN_COLUMNS, np.nan)
    row.update(instrument=inst, outcome=outcome, family=family, moderator=moderator, countries=k,
               status=status, exploratory=bool(k < COUNTRIES_PER_MODERATOR), levels="", note=note)
    row.update(values)
    return row


def _fit_one(grp: pd.DataFrame, moderator: str, *, min_residual_df: int, method: str, knapp_hartung: bool,
             alpha: float) -> tuple[dict[str, Any], MetaRegressionResult | None]:
    inst, outcome = str(grp["instrument"].iloc[0]), str(grp["outcome"].iloc[0])
    family, k = str(grp["family"].iloc[0]), len(grp)
    values = grp[moderator]
    if moderator != "design" and values.isna().any():
        n = int(values.isna().sum())
        return _row(inst, outcome, family, moderator, k, "missing",
                    f"{n} of {k} countries have no {moderator.replace('_', ' ')} in their evidence"), None
    levels = sorted({str(v) for v in values}) if moderator == "design" else []
    if values.nunique() < 2:
        return _row(inst, outcome, family, moderator, k, "constant",
                    "the same in every country of this comparison", levels=", ".join(levels)), None
    p = 1 + (len(levels) - 1 if moderator == "design" else 1)
    if k - p < min_residual_df:
        return _row(inst, outcome, family, moderator, k, "too_few_countries",
                    f"{k} countries; this comparison needs at least {p + min_residual_df}",
                    levels=", ".join(levels)), None
    frame = grp.assign(**({moderator: values * _SCALE[moderator]} if moderator in _SCALE else {}))
    try:
        fit = meta_regression(frame, moderators=moderator, method=method,  # type: ignore[arg-type]
                              knapp_hartung=knapp_hartung, alpha=alpha)
    except IpfEvalError as exc:
        return _row(inst, outcome, family, moderator, k, "failed", str(exc), levels=", ".join(levels)), None
    one = len(fit.terms) == 2
    slope = dict(slope=fit.coef[1], std_error=fit.std_error[1], ci_low=fit.ci_low[1],
                 ci_high=fit.ci_high[1]) if one else {}
    return _row(inst, outcome, family, moderator, k, "fitted", "", levels=", ".join(levels),
                p_value=fit.qm_pvalue, df_resid=k - len(fit.terms), tau2_before=fit.tau2_re,
                tau2_after=fit.tau2, r2=fit.r2, **slope), fit


@keyword_options
def explain_differences(kept: pd.DataFrame, population_mix: pd.DataFrame, *,
                        moderators: Sequence[str] = tuple(MODERATORS), min_countries: int = 3,
                        min_residual_df: int = MIN_RESIDUAL_DF, method: str = "reml",
                        knapp_hartung: bool = True, alpha: float = 0.05) -> DifferenceExplanations:
    r"""Meta-regress each pooled instrument's and outcome's country estimates on country characteristics.

    Parameters
    ----------
    kept
        ``select_families(...).kept``: the headline estimates the forum pools; not modified.
    population_mix
        The ``population_mix`` evidence table (shares of micro, small and medium firms); not modified.
    moderators
        Characteristics examined, each on its own, of :data:`MODERATORS`.
    min_countries
        Instruments and outcomes with fewer countries are not examined (as in the pooling).
    min_residual_df
        Residual degrees of freedom a model must keep (``k - p``) to be fitted; at least 1.
    method, knapp_hartung, alpha
        As in :func:`~ipf_eval.synthesis.meta_regression.meta_regression` (REML with Knapp-Hartung tests
        by default).

    Returns
    -------
    DifferenceExplanations

    Raises
    ------
    SpecificationError
        An unknown characteristic, ``min_residual_df`` or ``min_countries`` not a positive whole number, a
        bad ``alpha``.
    DataError
        As :func:`country_moderators`.

    Notes
    -----
    For one instrument and outcome with countries :math:`i = 1, \dots, k`, headline estimates
    :math:`y_i` and standard errors :math:`s_i`, and a characteristic :math:`x_i`, the model is
    :math:`y_i = \beta_0 + \beta_1 x_i + u_i + e_i` with :math:`u_i \sim N(0, \tau^2)` and
    :math:`e_i \sim N(0, s_i^2)`.  The estimand :math:`\beta_1` is how the countries' average effects
    differ with the characteristic: an association across countries, not the effect of changing it, since
    countries differ in many ways at once (ecological bias; Thompson and Higgins 2002).  ``micro_share`` is
    scaled so that :math:`\beta_1` is per 10 percentage points.  ``r2`` is the share of :math:`\tau^2`
    explained.  With few countries, and several characteristics tried, a small p-value is a question for
    the forum rather than a finding (Higgins and Thompson 2004).

    References
    ----------
    Thompson, S. G., & Higgins, J. P. T. (2002). How should meta-regression analyses be undertaken and
    interpreted? Statistics in Medicine, 21(11), 1559-1573.
    Higgins, J. P. T., & Thompson, S. G. (2004). Controlling the risk of spurious findings from
    meta-regression. Statistics in Medicine, 23(11), 1663-1682.
    Knapp, G., & Hartung, J. (2003). Improved tests for a random effects meta-regression with a single
    covariate. Statistics in Medicine, 22(17), 2693-2710.
    Deeks, J. J., Higgins, J. P. T., & Altman, D. G. (2023). Analysing data and undertaking meta-analyses,
    section 10.11.5. In Cochrane Handbook for Systematic Reviews of Interventions, version 6.4.
    """
    mods = [moderators] if isinstance(moderators, str) else list(moderators)
    unknown = [m for m in mods if m not in MODERATORS]
    if unknown or not mods:
        raise SpecificationError(f"explain_differences: moderators must be some of {list(MODERATORS)!r}; got "
                                 f"{moderators!r}")
    for name, value in (("min_residual_df", min_residual_df), ("min_countries", min_countries)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise SpecificationError(f"explain_differences: {name} must be a whole number of at least 1; got "
                                     f"{value!r}")
    alpha_f = check_alpha(alpha, function="explain_differences")
    frame = country_moderators(kept, population_mix)
    rows, fits = [], {}
    for _, grp in frame.groupby(["instrument", "outcome"], sort=True):
        if grp["country"].nunique() < min_countries:
            continue
        grp = grp.reset_index(drop=True)
        for moderator in mods:
            row, fit = _fit_one(grp, moderator, min_residual_df=int(min_residual_df), method=method,
                                knapp_hartung=knapp_hartung, alpha=alpha_f)
            rows.append(row)
            if fit is not None:
                fits[(str(row["instrument"]), str(row["outcome"]), moderator)] = fit
    table = pd.DataFrame(rows, columns=list(EXPLAIN_COLUMNS))
    return DifferenceExplanations(table=table, fits=fits, moderators=frame,
                                  min_residual_df=int(min_residual_df), alpha=alpha_f)
