"""Ranked policy recommendations across countries, with wording that follows explicit rules.

Each (instrument, outcome) gets a pooled random-effects estimate across the countries that evaluated it,
and a verdict chosen by the rules in :func:`verdict` — never by judgement at render time, so the same
evidence always gives the same words.  The verdicts, from strongest to weakest:

``works``
    The pooled confidence interval excludes zero on the beneficial side, the weakest contributing
    evidence grade is at least ``min_grade`` (Maryland scale, default 3), at least ``min_countries``
    countries (default 3) evaluated the instrument, and the prediction interval (where the effect in a new
    country would lie) is beneficial too.  Nothing counts how many countries' own estimates are
    significant: small countries' imprecise estimates carry their weight in the pooled estimate.
``promising``
    The pooled point estimate is beneficial and either the pooled interval excludes zero but a condition
    of ``works`` fails, or at least one country with grade ≥ ``min_grade`` found a beneficial effect whose
    interval excludes zero.
``no evidence of an effect``
    The pooled interval includes zero and lies within ±``negligible`` (a precise null).
``inconclusive``
    The pooled interval includes zero and is too wide to rule out an effect of size ``negligible``.
``harmful``
    The pooled interval excludes zero on the adverse side and the weakest grade is at least ``min_grade``;
    with a weaker grade the verdict is ``inconclusive`` with a note.

**Ranking.**  By verdict, then by the weakest evidence grade behind it (stronger evidence first), then by
value for money: the pooled effect per euro (units per EUR 1 million of programme cost, from the
countries' costs per outcome) relative to the median of the instruments with the same outcome, times the
weakest grade over 5 (``value_score``; outcomes without a cost unit after those with one); then by the
pooled z-statistic.  Effects per euro in different units (jobs, euro of R&D, exporters) are made
comparable by the ratio to instruments with the same outcome.

A note ``effects vary across countries`` is added when I² ≥ 75 % and the prediction interval crosses zero,
and a note naming the countries and checks when a contributing grade rests on checks that could not be
computed (column ``checks_missing``): a recommendation never rests on such a grade without saying so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe
from ipf_eval.synthesis.meta import meta_analysis

__all__ = [
    "OUTCOME_FAMILIES",
    "VERDICTS",
    "RecommendationTable",
    "outcome_family",
    "recommendations",
    "verdict",
]

#: The forum's policy challenges and the outcome columns that measure them.
OUTCOME_FAMILIES: Mapping[str, str] = {
    "log_employment": "growth",
    "log_turnover": "growth",
    "exporter": "internationalisation",
    "export_share": "internationalisation",
    "equity_raised": "capital-market readiness",
    "rd_spending": "innovation",
    "alive": "survival",
}

#: Verdicts in order of strength (rank 0 is strongest).
VERDICTS: tuple[str, ...] = ("works", "promising", "no evidence of an effect", "inconclusive", "harmful")

Verdict = Literal["works", "promising", "no evidence of an effect", "inconclusive", "harmful"]


@keyword_options
def outcome_family(outcome: str) -> str:
    """Return the policy family of an outcome column (``"other"`` when it is not a standard outcome)."""
    return OUTCOME_FAMILIES.get(outcome, "other")


@keyword_options
def verdict(
    *,
    ci_low: float,
    ci_high: float,
    estimate: float,
    min_grade_found: int,
    n_countries: int,
    any_strong_single: bool,
    pi_low: float = math.nan,
    pi_high: float = math.nan,
    direction: int = 1,
    min_grade: int = 3,
    min_countries: int = 3,
    negligible: float = 0.02,
) -> Verdict:
    """Apply the verdict rules of this module to one pooled estimate.

    Parameters
    ----------
    ci_low, ci_high, estimate
        Pooled confidence interval and point estimate.
    min_grade_found
        Weakest evidence grade (Maryland scale 1-5) among the contributing estimates.
    n_countries
        Number of countries whose estimates were pooled.
    any_strong_single
        Whether at least one country with grade ≥ ``min_grade`` found a beneficial effect excluding zero.
    pi_low, pi_high
        The pooled prediction interval (``nan`` when it cannot be estimated, e.g. one country).
    direction
        ``+1`` when larger values are beneficial, ``-1`` when smaller are (e.g. exit risk).
    min_grade, min_countries, negligible
        Thresholds of the rules (see the module docstring).

    Returns
    -------
    str
        One of :data:`VERDICTS`.

    Raises
    ------
    SpecificationError
        If ``direction`` is not ±1, the interval is reversed or not finite, the estimate is not finite,
        or a threshold is out of range (``min_grade`` and ``min_grade_found`` 1 to 5, ``min_countries``
        and ``n_countries`` at least 1, ``negligible`` finite and >= 0).
    """
    if isinstance(direction, bool) or direction not in (1, -1):
        raise SpecificationError(f"direction must be 1 or -1, got {direction!r}.")
    _check_thresholds(min_grade=min_grade, min_countries=min_countries, negligible=negligible,
                      function="verdict")
    for name, value, high in (("min_grade_found", min_grade_found, 5), ("n_countries", n_countries, None)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1 or \
                (high is not None and value > high):
            allowed = "from 1 to 5" if high is not None else ">= 1"
            raise SpecificationError(f"verdict({name}=...) must be an integer {allowed}, got {value!r}.")
    if not (math.isfinite(ci_low) and math.isfinite(ci_high) and ci_low <= ci_high):
        raise SpecificationError(
            f"The pooled interval must be finite with ci_low <= ci_high, got ({ci_low!r}, {ci_high!r})."
        )
    if not math.isfinite(estimate):
        raise SpecificationError(f"verdict(estimate=...) must be a finite number, got {estimate!r}.")
    lo, hi, est = (ci_low, ci_high, estimate) if direction == 1 else (-ci_high, -ci_low, -estimate)
    pi_lo = pi_low if direction == 1 else -pi_high
    strong_design = min_grade_found >= min_grade
    if lo > 0:
        transfers = math.isfinite(pi_lo) and pi_lo > 0
        return "works" if strong_design and n_countries >= min_countries and transfers else "promising"
    if hi < 0:
        return "harmful" if strong_design else "inconclusive"
    if est > 0 and any_strong_single:
        return "promising"
    if -negligible <= lo and hi <= negligible:
        return "no evidence of an effect"
    return "inconclusive"


@dataclass(frozen=True, eq=False)
class RecommendationTable(ResultMixin):
    """Ranked recommendations, one row per (instrument, outcome).

    Attributes
    ----------
    table
        Columns: ``rank, instrument, outcome, family, verdict, wording, k, estimate, std_error, ci_low,
        ci_high, pi_low, pi_high, i2, tau2, min_grade, n_agree, cost_per_unit, notes``.
    specification
        The arguments that produced the table.
    """

    table: pd.DataFrame
    specification: Specification

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the ranked table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"recommendations": json_safe(self.table), "specification": self.specification.to_dict()}

    def summary(self) -> Summary:
        """Return the printable summary."""
        cols = ["rank", "instrument", "outcome", "verdict", "k", "estimate", "ci_low", "ci_high", "min_grade"]
        return Summary(
            title="Ranked recommendations across countries",
            facts=(("pooling", str(self.specification.arguments.get("method"))),),
            table=self.table[cols],
            notes=tuple(
                f"{r.instrument} / {r.outcome}: {r.wording}" for r in self.table.itertuples(index=False)
            ),
        )


_REQUIRED = ("country", "instrument", "outcome", "estimate", "std_error", "grade")


def _check_thresholds(*, min_grade: Any, min_countries: Any, negligible: Any, function: str) -> None:
    """Refuse verdict thresholds outside their range (a grade is 1 to 5 on the Maryland scale)."""
    if isinstance(min_grade, bool) or not isinstance(min_grade, (int, np.integer)) or not 1 <= min_grade <= 5:
        raise SpecificationError(
            f"{function}(min_grade=...) must be an integer from 1 to 5 (Maryland scale), got {min_grade!r}."
        )
    if (isinstance(min_countries, bool) or not isinstance(min_countries, (int, np.integer))
            or min_countries < 1):
        raise SpecificationError(
            f"{function}(min_countries=...) must be a positive integer, got {min_countries!r}."
        )
    if (isinstance(negligible, bool) or not isinstance(negligible, (int, float, np.number))
            or not math.isfinite(float(negligible)) or float(negligible) < 0):
        raise SpecificationError(
            f"{function}(negligible=...) must be a finite number >= 0 (the effect size too small to matter, "
            f"in the outcome's units), got {negligible!r}."
        )


def _numeric_column(evidence: pd.DataFrame, column: str) -> np.ndarray:
    series = evidence[column]
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise DataError(
            f"evidence column {column!r} must be numeric, got dtype {str(series.dtype)!r}; convert it with "
            "pandas.to_numeric"
        )
    return series.to_numpy(dtype=float, na_value=np.nan)


def _rows(evidence: pd.DataFrame, mask: np.ndarray) -> list[dict[str, Any]]:
    rows = evidence.loc[mask, ["country", "instrument", "outcome"]].head(3)
    return [{str(k): v for k, v in r.items()} for r in rows.to_dict("records")]


def _check_evidence(evidence: pd.DataFrame, directions: Mapping[str, Any]) -> None:
    """Refuse evidence rows and directions that would give a verdict on bad numbers."""
    est = _numeric_column(evidence, "estimate")
    if not np.isfinite(est).all():
        raise DataError(
            f"estimate must be a finite number; {int((~np.isfinite(est)).sum())} rows are not, e.g. "
            f"{_rows(evidence, ~np.isfinite(est))!r}. Drop those rows or supply the estimates."
        )
    se = _numeric_column(evidence, "std_error")
    bad_se = ~(np.isfinite(se) & (se > 0))
    if bad_se.any():
        raise DataError(
            f"std_error must be positive and finite; {int(bad_se.sum())} rows are not, e.g. "
            f"{_rows(evidence, bad_se)!r}."
        )
    grade = _numeric_column(evidence, "grade")
    bad_grade = ~(np.isfinite(grade) & (grade == np.round(grade)) & (grade >= 1) & (grade <= 5))
    if bad_grade.any():
        raise DataError(
            f"grade must be a whole number from 1 to 5 (Maryland scale); {int(bad_grade.sum())} rows are not "
            f"(values {sorted(set(grade[bad_grade].tolist()))[:5]!r}), e.g. {_rows(evidence, bad_grade)!r}."
        )
    if "cost_per_unit" in evidence.columns:
        cost = _numeric_column(evidence, "cost_per_unit")
        bad_cost = ~np.isnan(cost) & ~(np.isfinite(cost) & (cost > 0))
        if bad_cost.any():
            raise DataError(
                f"cost_per_unit must be a positive finite number of euros, or missing when the outcome has "
                f"no cost; {int(bad_cost.sum())} rows are not (values "
                f"{sorted(set(cost[bad_cost].tolist()))[:5]!r}), e.g. {_rows(evidence, bad_cost)!r}. An "
                "effect of zero or below has no cost per unit: leave it missing."
            )
    dup = evidence.duplicated(["country", "instrument", "outcome"], keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"evidence has {int(dup.sum())} rows that repeat a (country, instrument, outcome), e.g. "
            f"{_rows(evidence, dup)!r}; pooling would count a country twice. Keep one headline estimate per "
            "country, instrument and outcome."
        )
    bad_dir = {k: v for k, v in directions.items() if isinstance(v, bool) or v not in (1, -1)}
    if bad_dir:
        raise SpecificationError(
            f"directions must map outcomes to +1 (larger is better) or -1 (smaller is better), got "
            f"{bad_dir!r}."
        )


def _value_for_money(table: pd.DataFrame) -> pd.DataFrame:
    r"""Add ``units_per_million``, ``value_index`` and ``value_score`` (see the module's ranking rule).

    ``units_per_million`` is :math:`10^6 / c` with :math:`c` the countries' median cost per outcome;
    ``value_index`` divides it by the median over the instruments with the same outcome (1 = typical value
    for money for that outcome); ``value_score`` multiplies the index by the weakest grade over 5.
    """
    cost = table["cost_per_unit"].astype(float)
    per_million = np.where(np.isfinite(cost) & (cost > 0), 1e6 / cost.where(cost > 0, np.nan), np.nan)
    out = table.assign(units_per_million=per_million)
    typical = out.groupby("outcome")["units_per_million"].transform("median")
    out["value_index"] = out["units_per_million"] / typical
    out["value_score"] = out["value_index"] * out["min_grade"] / 5.0
    return out


def _missing_checks(grp: pd.DataFrame) -> str:
    """Which countries' grades rest on missing checks, and which: ``"AT (balance), DK (pre_trends)"``."""
    if "checks_missing" not in grp.columns:
        return ""
    parts = [f"{c} ({str(m).replace(';', ', ')})" for c, m in zip(grp["country"], grp["checks_missing"],
                                                                    strict=True)
             if isinstance(m, str) and m]
    return ", ".join(parts)


_ACRONYMS = {"rd": "R&D", "sme": "SME", "smes": "SMEs", "ict": "ICT"}


def _wording(v: str, instrument: str, outcome: str, notes: Sequence[str], weakest_grade: int) -> str:
    name = " ".join(_ACRONYMS.get(w.lower(), w) for w in instrument.split("_"))
    family = outcome_family(outcome)
    base = {
        "works": f"The {name} works: it improves {outcome} ({family}) in several countries, "
        f"with designs of Maryland level {weakest_grade} or above.",
        "promising": f"The {name} is promising for {outcome} ({family}); "
        "the evidence is not yet conclusive.",
        "no evidence of an effect": f"No evidence that the {name} changes {outcome}; "
        "the estimate is precise.",
        "inconclusive": f"The evidence on the {name} and {outcome} is inconclusive.",
        "harmful": f"The {name} appears to harm {outcome}; reconsider its design.",
    }[v]
    return base + "".join(f" Note: {n}." for n in notes)


@keyword_options
def recommendations(
    evidence: pd.DataFrame,
    *,
    method: Literal["reml", "dl", "pm"] = "reml",
    directions: Mapping[str, int] | None = None,
    min_grade: int = 3,
    min_countries: int = 3,
    negligible: float = 0.02,
    alpha: float = 0.05,
) -> RecommendationTable:
    """Pool per-country estimates per (instrument, outcome) and rank them with rule-based verdicts.

    Parameters
    ----------
    evidence
        One row per (country, instrument, outcome) with columns ``country, instrument, outcome, estimate,
        std_error, grade`` and optionally ``cost_per_unit`` and ``checks_missing`` (semicolon-separated
        names of the checks behind the grade that could not be computed, as in ``evidence.csv``).
    method
        Random-effects estimator of the between-country variance passed to
        :func:`ipf_eval.synthesis.meta_analysis`.
    directions
        Outcome → ``+1`` (larger is better, the default) or ``-1`` (smaller is better).
    min_grade, min_countries, negligible
        Thresholds of the verdict rules (see :func:`verdict`).
    alpha
        Level of the intervals.

    Returns
    -------
    RecommendationTable
        Ranked: by verdict strength, then the weakest grade, then grade-weighted value for money
        (``value_score``; rows without a cost per outcome after those with one), then the pooled z-statistic;
        ``units_per_million``, ``value_index`` and ``value_score`` show the value for money, and
        ``checks_missing`` lists the countries whose grade rests on missing checks.

    Raises
    ------
    DataError
        If ``evidence`` is not a DataFrame, required columns are missing or named twice, an estimate is
        not a finite number, a standard error is not positive and finite, a grade is not a whole number
        from 1 to 5, a cost per unit is zero, negative or infinite, or a (country, instrument, outcome)
        appears twice.
    SpecificationError
        If ``alpha`` is not strictly between 0 and 1, ``method`` is not a random-effects estimator, a
        direction is not ±1, or a threshold is out of range (see :func:`verdict`).

    Notes
    -----
    With one country the pooled estimate is that country's estimate (no heterogeneity can be estimated) and
    ``works`` is impossible (no prediction interval, and fewer than ``min_countries`` countries).

    References
    ----------
    What Works Centre for Local Economic Growth (2016). Guide to scoring evidence using the Maryland
    Scientific Methods Scale.
    """
    alpha = check_alpha(alpha, function="recommendations")
    if not isinstance(evidence, pd.DataFrame):
        raise DataError(
            f"evidence must be a pandas DataFrame with one row per country, instrument and outcome; got "
            f"{type(evidence).__name__!r}. Build it with ipf_eval.evidence.evidence_frame(records)."
        )
    if method not in ("reml", "dl", "pm"):
        raise SpecificationError(
            f"method of recommendations() must be one of ['reml', 'dl', 'pm'] (a random-effects estimator: "
            f"countries differ), got {method!r}."
        )
    _check_thresholds(min_grade=min_grade, min_countries=min_countries, negligible=negligible,
                      function="recommendations")
    missing = [c for c in _REQUIRED if c not in evidence.columns]
    if missing:
        raise DataError(
            f"evidence is missing columns {missing!r}; it needs {list(_REQUIRED)!r} "
            "(one row per country, instrument and outcome)."
        )
    dups = evidence.columns[evidence.columns.duplicated()].unique().tolist()
    if dups:
        raise DataError(f"evidence has duplicated column labels {[str(d) for d in dups]!r}; drop the copies.")
    if directions is not None and not isinstance(directions, Mapping):
        raise SpecificationError(f"directions must be a mapping outcome -> +1 or -1, got {directions!r}.")
    directions = dict(directions or {})
    _check_evidence(evidence, directions)
    z = float(norm.ppf(1 - alpha / 2))
    rows = []
    for (instrument, outcome), grp in evidence.groupby(["instrument", "outcome"], sort=True):
        direction = int(directions.get(str(outcome), 1))
        est_i = grp["estimate"].to_numpy(float) * direction
        se_i = grp["std_error"].to_numpy(float)
        beneficial = est_i - z * se_i > 0
        grades = grp["grade"].to_numpy(int)
        if len(grp) >= 2:
            pooled = meta_analysis(grp, estimate="estimate", std_error="std_error", label="country",
                                   method=method, alpha=alpha).to_dict()
        else:
            e, s = float(grp["estimate"].iloc[0]), float(grp["std_error"].iloc[0])
            pooled = {"estimate": e, "std_error": s, "ci_low": e - z * s, "ci_high": e + z * s,
                      "pi_low": np.nan, "pi_high": np.nan, "i2": np.nan, "tau2": np.nan}
        v = verdict(
            ci_low=float(pooled["ci_low"]), ci_high=float(pooled["ci_high"]),
            estimate=float(pooled["estimate"]), min_grade_found=int(grades.min()), n_countries=len(grp),
            any_strong_single=bool((beneficial & (grades >= min_grade)).any()),
            pi_low=float(pooled["pi_low"]) if pooled.get("pi_low") is not None else math.nan,
            pi_high=float(pooled["pi_high"]) if pooled.get("pi_high") is not None else math.nan,
            direction=direction, min_grade=min_grade, min_countries=min_countries, negligible=negligible,
        )
        notes = []
        pi_low, pi_high = pooled.get("pi_low"), pooled.get("pi_high")
        i2 = pooled.get("i2")
        if i2 is not None and pi_low is not None and pi_high is not None and np.isfinite(i2) \
                and i2 >= 0.75 and pi_low < 0 < pi_high:
            notes.append("effects vary across countries")
        if len(grp) == 1:
            notes.append("one country only")
        missing_checks = _missing_checks(grp)
        if missing_checks:
            notes.append(f"the grade of {missing_checks} rests on checks that could not be computed, "
                         "which are not counted as passed")
        cost = grp["cost_per_unit"].median() if "cost_per_unit" in grp.columns else np.nan
        rows.append({
            "instrument": instrument, "outcome": outcome, "family": outcome_family(str(outcome)),
            "verdict": v, "wording": _wording(v, str(instrument), str(outcome), notes, int(grades.min())),
            "k": len(grp),
            "estimate": pooled["estimate"], "std_error": pooled["std_error"], "ci_low": pooled["ci_low"],
            "ci_high": pooled["ci_high"], "pi_low": pi_low, "pi_high": pi_high, "i2": i2,
            "tau2": pooled.get("tau2"), "min_grade": int(grades.min()), "n_agree": int(beneficial.sum()),
            "cost_per_unit": cost, "checks_missing": missing_checks, "notes": "; ".join(notes),
        })
    table = pd.DataFrame(rows)
    if len(table):
        table = _value_for_money(table)
        table["_strength"] = table["verdict"].map(VERDICTS.index)
        table["_score"] = -table["value_score"].fillna(-np.inf)
        table["_grade"] = -table["min_grade"]
        table["_z"] = -(table["estimate"] / table["std_error"]).abs()
        table = table.sort_values(["_strength", "_grade", "_score", "_z", "instrument", "outcome"],
                                  kind="mergesort")
        table = table.drop(columns=["_strength", "_score", "_grade", "_z"]).reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
    spec = Specification(
        estimator="recommendations",
        arguments={"method": method, "min_grade": min_grade, "min_countries": min_countries,
                   "negligible": negligible, "alpha": alpha, "directions": directions},
        n_obs=len(evidence), n_units=int(evidence["country"].nunique()),
    )
    return RecommendationTable(table=table, specification=spec)

