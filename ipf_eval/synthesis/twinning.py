r"""Twinning: what an instrument evaluated in one country would achieve in another country's SME mix.

The forum's twinning question is "country CC evaluated instrument NAME; what would it do in DD?".
:func:`twin_estimate` answers it from CC's own evidence, without pooling: CC's effects of the instrument
per size class (the evidence table ``heterogeneity``: each outcome's effect within micro, small and medium
firms, estimated with the outcome's headline estimator) reweighted to DD's mix of firms (the evidence table
``population_mix``).  It is the single-source version of
:func:`ipf_eval.synthesis.forum.transferability_matrix`, which pools the size-class effects of several
countries first.  The result says how much of DD's mix falls in size classes CC could not estimate (the
extrapolated share) and which evidence grade the estimate rests on: that of CC's headline estimate of the
same instrument and outcome.  :func:`twin_table` does every (source, target) pair of an instrument for the
synthesis page.

The rules, each stated once here:

* **Source effects**: CC's size-class rows of the instrument and outcome with a finite estimate and a
  positive standard error; their estimator and term are the outcome's headline estimator and term
  (:mod:`ipf_eval.evidence.heterogeneity`).
* **Target mix**: DD's ``population_mix`` rows of the same instrument when DD evaluates it, otherwise those
  of DD's first record that has a mix (a country's mix is the same for each of its instruments).
* **Extrapolation**: size classes of DD's mix without a CC estimate (those CC could not estimate, and any
  class CC never estimates, such as ``large``) are assumed to respond like the average of CC's estimated
  classes weighted by DD's mix; their share of DD's firms is reported as ``extrapolated_share``.
* **Grade**: the Maryland level of CC's headline estimate of the instrument and outcome
  (:func:`ipf_eval.synthesis.forum.headline_estimates`); without one (stale, or no standard error) there is
  no twin.
* **Primary outcome**: an evidence record does not say which outcome is its instrument's primary one (the
  instrument file does: ``primary_outcome``, else its first outcome), so ``outcome=None`` needs
  ``primary_outcomes`` (from the batch's or the bundle's instrument files) or an instrument with size-class
  estimates of one outcome only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import DataError, EstimationError, IpfEvalError, SpecificationError
from ipf_eval.results import ResultMixin, Summary, json_safe, tidy_frame
from ipf_eval.synthesis._common import check_columns, check_frame
from ipf_eval.synthesis.transfer import transferability

__all__ = ["TWIN_COLUMNS", "TwinEstimate", "TwinTable", "twin_estimate", "twin_table"]

_HET_COLUMNS = ("country", "instrument", "outcome", "size_class", "estimator", "term", "estimate",
                "std_error")
_MIX_COLUMNS = ("country", "instrument", "size_class", "share")
_SIZE_ORDER = ("micro", "small", "medium", "large")
_HEAD_COLUMNS = ("country", "instrument", "outcome", "estimate", "ci_low", "ci_high")

#: Columns of :attr:`TwinTable.rows`, in this order.
TWIN_COLUMNS: tuple[str, ...] = (
    "instrument", "outcome", "source", "target", "estimator", "term", "grade", "estimate", "std_error",
    "ci_low", "ci_high", "p_value", "significant", "extrapolated_share", "extrapolated_classes",
    "source_estimate", "source_ci_low", "source_ci_high", "data_source")


@dataclass(frozen=True, eq=False)
class TwinEstimate(ResultMixin):
    r"""What an instrument evaluated in ``source`` would achieve in ``target``'s SME mix (frozen).

    Attributes
    ----------
    source, target, instrument, outcome
        The country that evaluated the instrument, the country it would be copied to, the instrument and the
        outcome.
    estimate, std_error, ci_low, ci_high, p_value
        The source's size-class effects reweighted to the target's mix,
        :math:`\hat\theta_{D} = \sum_{k \in C} (m_{Dk}/\pi)\,\hat\theta_{Ck}`, its standard error, normal
        ``1 - alpha`` interval and two-sided p-value (on the outcome's scale: log points, shares or level).
    alpha
        1 minus the interval's coverage.
    extrapolated_share
        :math:`1 - \pi`: the share of the target's firms in size classes the source has no estimate for.
    extrapolated_classes
        Those size classes (with a positive target share), in the order of the target's mix.
    cells
        One mapping per size class of the source or the target: ``size_class``, ``target_share``,
        ``estimate`` and ``std_error`` (the source's; NaN when not estimated), ``weight`` (the renormalised
        target share applied; 0 when not estimated), ``status`` (``covered``, ``extrapolated`` or
        ``not_in_target``) and ``note`` (why the source could not estimate it).
    estimator, term
        The source's size-class estimator and term (those of its headline of the outcome, e.g.
        ``att_gt_dr att``, ``rct late``, ``rdd robust``).
    grade
        The evidence grade (Maryland level 1-5) of the source's headline estimate of the instrument and
        outcome: the evidence the twin rests on.
    source_estimate, source_ci_low, source_ci_high
        The source's own headline estimate and interval, for comparison (its estimand: the effect on its own
        supported firms, not reweighted).
    data_source
        ``"simulated"`` when the source's or the target's evidence comes from simulated firms, else
        ``"file"``.
    notes
        What a reader should know about the inputs (where the target's mix was taken from, a size-class
        estimator that differs from the headline's).
    """

    source: str
    target: str
    instrument: str
    outcome: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    extrapolated_share: float
    extrapolated_classes: tuple[str, ...]
    cells: tuple[Mapping[str, Any], ...]
    estimator: str
    term: str
    grade: int
    source_estimate: float
    source_ci_low: float
    source_ci_high: float
    data_source: str
    notes: tuple[str, ...] = ()

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (the effect is distinguishable from zero at ``alpha``)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)

    @property
    def simulated(self) -> bool:
        """Whether the evidence behind the twin comes from simulated firms."""
        return self.data_source == "simulated"

    def cell_frame(self) -> pd.DataFrame:
        """Return the size classes: target share, source estimate, weight applied and status."""
        columns = ["size_class", "target_share", "estimate", "std_error", "weight", "status", "note"]
        return pd.DataFrame([dict(c) for c in self.cells], columns=columns)

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy row (``term == "twin_effect"``) with the identifiers and the extrapolated share."""
        statistic = self.estimate / self.std_error if self.std_error > 0 else math.nan
        row = {"term": "twin_effect", "estimate": self.estimate, "std_error": self.std_error,
               "statistic": statistic, "p_value": self.p_value, "ci_low": self.ci_low,
               "ci_high": self.ci_high, "country": self.target, "instrument": self.instrument,
               "outcome": self.outcome, "source": self.source,
               "extrapolated_share": self.extrapolated_share, "grade": self.grade}
        return tidy_frame([row])

    def to_row(self) -> dict[str, Any]:
        """Return the row of :class:`TwinTable` (columns :data:`TWIN_COLUMNS`)."""
        return {"instrument": self.instrument, "outcome": self.outcome, "source": self.source,
                "target": self.target, "estimator": self.estimator, "term": self.term, "grade": self.grade,
                "estimate": self.estimate, "std_error": self.std_error, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "p_value": self.p_value, "significant": self.significant,
                "extrapolated_share": self.extrapolated_share,
                "extrapolated_classes": ", ".join(self.extrapolated_classes),
                "source_estimate": self.source_estimate, "source_ci_low": self.source_ci_low,
                "source_ci_high": self.source_ci_high, "data_source": self.data_source}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return dict(json_safe({**self.to_row(), "alpha": self.alpha,
                               "extrapolated_classes": list(self.extrapolated_classes),
                               "cells": [dict(c) for c in self.cells], "notes": list(self.notes)}))

    def summary(self) -> Summary:
        """Printable summary: the twin effect, its grade, the extrapolated share and the size classes."""
        facts = (("Instrument", self.instrument), ("Outcome", self.outcome),
                 ("From", f"{self.source} ({self.estimator} {self.term}, evidence grade {self.grade})"),
                 ("To", f"{self.target}'s SME mix"),
                 ("Estimate (SE)", f"{self.estimate:.4f} ({self.std_error:.4f})"),
                 ("Extrapolated share", f"{100 * self.extrapolated_share:.1f}%"
                  + (f" ({', '.join(self.extrapolated_classes)})" if self.extrapolated_classes else "")),
                 ("Source's own headline", f"{self.source_estimate:.4f}"),
                 ("Data", self.data_source))
        notes = (f"Interval at {100 * (1 - self.alpha):g}% (normal); size classes independent.",
                 *self.notes)
        return Summary(title="Twinning: an instrument's effect in another country's SME mix", facts=facts,
                       table=self.cell_frame(), notes=notes)


@dataclass(frozen=True, eq=False)
class TwinTable:
    """Every (source, target) twin of the instruments asked for, and the pairs that could not be twinned.

    Attributes
    ----------
    rows
        One row per twin (columns :data:`TWIN_COLUMNS`), sorted by instrument, outcome, source and target.
    twins
        The :class:`TwinEstimate` behind each row, in the same order.
    errors
        One line per source (or pair) that could not be twinned, with the reason.
    alpha
        1 minus the intervals' coverage.
    """

    rows: pd.DataFrame
    twins: tuple[TwinEstimate, ...] = ()
    errors: tuple[str, ...] = ()
    alpha: float = 0.05

    def for_group(self, instrument: str, outcome: str) -> pd.DataFrame:
        """Return the rows of one instrument and outcome."""
        keep = (self.rows["instrument"] == instrument) & (self.rows["outcome"] == outcome)
        return self.rows.loc[keep].reset_index(drop=True)


def _check_inputs(heterogeneity: Any, population_mix: Any, headlines: Any) -> pd.DataFrame:
    for name, frame, columns in (("heterogeneity", heterogeneity, _HET_COLUMNS),
                                 ("population_mix", population_mix, _MIX_COLUMNS),
                                 ("headlines", headlines, _HEAD_COLUMNS)):
        check_frame(frame, name)
        check_columns(frame, {c: c for c in columns}, name)
    if "grade" not in headlines.columns and "evidence_grade" not in headlines.columns:
        raise DataError("headlines must have a 'grade' or 'evidence_grade' column (the Maryland level of "
                        "each headline estimate); pass forum.headline_estimates(evidence_frame(records))")
    heads = headlines
    if "headline" in heads.columns:
        heads = heads.loc[heads["headline"].astype(bool)]
    grade_col = "grade" if "grade" in heads.columns else "evidence_grade"
    return heads.assign(_grade=heads[grade_col])


def _countries(*frames: pd.DataFrame) -> list[str]:
    return sorted({str(c) for f in frames for c in f["country"].dropna()})


def _check_country(code: Any, parameter: str, known: Sequence[str]) -> str:
    if not isinstance(code, str) or code not in known:
        raise SpecificationError(f"{parameter} {code!r} is not a country of the evidence; the evidence has "
                                 f"{list(known)!r}; pass one of them (an ISO code, upper case)")
    return code


def _usable(rows: pd.DataFrame) -> pd.Series:
    est = pd.to_numeric(rows["estimate"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    se = pd.to_numeric(rows["std_error"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return pd.Series(np.isfinite(est) & np.isfinite(se) & (se > 0), index=rows.index)


def _source_rows(het: pd.DataFrame, source: str, instrument: str) -> pd.DataFrame:
    rows = het.loc[(het["country"] == source) & (het["instrument"] == instrument)]
    if not len(rows) or not _usable(rows).any():
        have = sorted({str(i) for i in het.loc[(het["country"] == source) & _usable(het), "instrument"]})
        why = ("it has no size-class rows of it: it does not evaluate the instrument, or its data have no "
               "size_class column" if not len(rows) else "none of its size classes could be estimated")
        raise DataError(f"{source} has no size-class estimates of instrument {instrument!r} ({why}); "
                        f"{source} has size-class estimates of {have!r}: twin one of those, or another "
                        "country's evaluation of the instrument")
    return rows


def _resolve_outcome(rows: pd.DataFrame, *, source: str, instrument: str, outcome: str | None,
                     primary_outcomes: Mapping[str, str] | None) -> str:
    have = sorted({str(o) for o in rows.loc[_usable(rows), "outcome"]})
    listed = sorted({str(o) for o in rows["outcome"]})
    if outcome is None:
        outcome = (primary_outcomes or {}).get(instrument)
        if outcome is None:
            if len(have) == 1:
                return have[0]
            raise SpecificationError(
                f"outcome=None means the primary outcome of {instrument!r}, which the evidence records do "
                f"not name (the instrument file does); pass outcome= (one of {have!r}) or "
                "primary_outcomes={instrument: outcome} from the instrument files")
    if outcome not in listed:
        raise SpecificationError(f"outcome {outcome!r} has no size-class rows of {instrument!r} in {source}; "
                                 f"the outcomes are {listed!r}")
    if outcome not in have:
        notes = sorted({str(n) for n in rows.loc[rows["outcome"] == outcome, "note"] if str(n)}) \
            if "note" in rows.columns else []
        raise DataError(f"{source} could not estimate the effect of {instrument!r} on {outcome!r} in any "
                        f"size class ({'; '.join(notes) or 'no estimate'}); outcomes with size-class "
                        f"estimates: {have!r}")
    return outcome


def _target_mix(mix: pd.DataFrame, target: str, instrument: str) -> tuple[pd.DataFrame, str]:
    mine = mix.loc[mix["country"] == target]
    if not len(mine):
        raise DataError(f"{target} has no population mix in the evidence (the population_mix table of its "
                        "records is empty: its data have no size_class column, or it sent no record); a "
                        "target needs its shares of micro, small and medium firms")
    same = mine.loc[mine["instrument"] == instrument]
    if len(same):
        return same, ""
    first = str(mine["instrument"].iloc[0])
    return (mine.loc[mine["instrument"] == first],
            f"{target} does not evaluate {instrument}: its mix of firms is taken from its record of {first}")


def _headline(heads: pd.DataFrame, source: str, instrument: str, outcome: str) -> Mapping[str, Any]:
    rows = heads.loc[(heads["country"] == source) & (heads["instrument"] == instrument)
                     & (heads["outcome"] == outcome)]
    if not len(rows) or pd.isna(rows["_grade"].iloc[0]):
        raise DataError(f"{source} has no usable headline estimate of {instrument!r} on {outcome!r} (its "
                        "latest run failed and the evidence is stale, or the estimate has no standard "
                        "error), so there is no evidence grade for the twin to rest on; re-run the "
                        "evaluation")
    return {str(k): v for k, v in rows.iloc[0].to_dict().items()}


def _data_source(heads: pd.DataFrame, source_row: Mapping[str, Any], target: str) -> str:
    values = [str(source_row.get("data_source", "file"))]
    if "data_source" in heads.columns:
        values += [str(v) for v in heads.loc[heads["country"] == target, "data_source"]]
    return "simulated" if "simulated" in values else "file"


@keyword_options
def twin_estimate(heterogeneity: pd.DataFrame, population_mix: pd.DataFrame, headlines: pd.DataFrame, *,
                  source: str, target: str, instrument: str, outcome: str | None = None,
                  primary_outcomes: Mapping[str, str] | None = None, alpha: float = 0.05) -> TwinEstimate:
    r"""Estimate what ``instrument`` would achieve in ``target``'s SME mix from ``source``'s evaluation.

    Parameters
    ----------
    heterogeneity
        The evidence records' ``heterogeneity`` tables (``evidence_table(records, "heterogeneity")``): each
        outcome's effect per size class with its headline estimator and term.  Not modified.
    population_mix
        Their ``population_mix`` tables (``evidence_table(records, "population_mix")``).  Not modified.
    headlines
        The headline estimates (:func:`ipf_eval.synthesis.forum.headline_estimates`, column ``grade``; an
        ``evidence_frame`` works too: its headline rows and ``evidence_grade`` are used).  Not modified.
    source, target
        The country that evaluated the instrument (CC) and the country it would be copied to (DD).
    instrument
        The instrument's name.
    outcome
        The outcome; ``None``: the instrument's primary outcome, from ``primary_outcomes`` (the records do
        not name it), or the only outcome with size-class estimates in ``source``.
    primary_outcomes
        The primary outcome of each instrument (``{name: params.primary}`` from the instrument files).
    alpha
        1 minus the interval's coverage.

    Returns
    -------
    TwinEstimate
        The reweighted effect with its interval, the extrapolated share and classes, the source's estimator,
        the grade of its headline estimate and that estimate for comparison.

    Raises
    ------
    SpecificationError
        ``source`` or ``target`` is not a country of the evidence, ``source == target``, ``outcome`` is not
        an outcome of the instrument in ``source``, ``outcome=None`` without a known primary outcome, or a
        bad ``alpha``.
    DataError
        ``source`` has no size-class estimates of the instrument (or of the outcome), ``target`` has no
        population mix, ``source`` has no usable headline estimate (stale, or no standard error), a frame
        lacks a column, or the target's shares do not sum to one.
    EstimationError
        None of the target's firms falls in a size class the source estimated.

    Notes
    -----
    Let :math:`\hat\theta_{Ck}` be the source's effect in size class :math:`k` with standard error
    :math:`s_k`, :math:`m_{Dk}` the target's share of firms in class :math:`k`, :math:`C` the classes the
    source estimated and :math:`\pi = \sum_{k \in C} m_{Dk}`.  The twin is

    .. math::

        \hat\theta_D = \sum_{k \in C} w_k \hat\theta_{Ck}, \quad w_k = m_{Dk} / \pi, \qquad
        \widehat{\mathrm{se}}(\hat\theta_D) = \Big(\sum_{k \in C} w_k^2 s_k^2\Big)^{1/2},

    with a normal interval.  It estimates the target's effect if the effect within a size class is the
    same in both countries (transportability of conditional effects: Stuart et al. 2011; Dehejia,
    Pop-Eleches and Samii 2021) -- differences in sector, region or the agency's delivery are not
    adjusted for.  **Extrapolation rule**: renormalising the weights over :math:`C` is the same as giving
    each class the source could not estimate (share :math:`1 - \pi`, reported as ``extrapolated_share``)
    the effect :math:`\sum_{k \in C} w_k \hat\theta_{Ck}` -- the average of the source's estimated classes
    weighted by the target's mix -- with no extra uncertainty for that assumption.  **Variance**: the
    size-class estimates come from disjoint sets of firms estimated separately, so they are taken as
    independent; the heterogeneity table carries no covariance between classes (a covariance would enter
    as :math:`w'\Sigma w`, :func:`ipf_eval.synthesis.transferability`).  The target's shares are register
    counts, taken as known.  With the target's mix equal to the source's, the twin is the source's
    mix-weighted average of its size-class effects, which differs from its headline (the headline weights
    the supported firms, not all firms, and may use a different sample).

    References
    ----------
    Stuart, E. A., Cole, S. R., Bradshaw, C. P., & Leaf, P. J. (2011). The use of propensity scores to
    assess the generalizability of results from randomized trials. Journal of the Royal Statistical
    Society: Series A, 174(2), 369-386.
    Dehejia, R., Pop-Eleches, C., & Samii, C. (2021). From local to global: External validity in a
    fertility natural experiment. Journal of Business & Economic Statistics, 39(1), 217-243.

    Examples
    --------
    >>> import pandas as pd
    >>> het = pd.DataFrame({"country": "AT", "instrument": "voucher", "outcome": "log_turnover",
    ...                     "size_class": ["micro", "small"], "estimator": "rct", "term": "late",
    ...                     "estimate": [0.06, 0.02], "std_error": [0.02, 0.01]})
    >>> mix = pd.DataFrame({"country": "DK", "instrument": "voucher", "size_class": ["micro", "small"],
    ...                     "share": [0.5, 0.5]})
    >>> heads = pd.DataFrame({"country": "AT", "instrument": "voucher", "outcome": "log_turnover",
    ...                       "estimate": [0.05], "ci_low": [0.01], "ci_high": [0.09], "grade": [4]})
    >>> round(twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher").estimate, 3)
    0.04
    """
    alpha_f = check_alpha(alpha, function="twin_estimate")
    heads = _check_inputs(heterogeneity, population_mix, headlines)
    known = _countries(heterogeneity, population_mix, headlines)
    _check_country(source, "source", known)
    _check_country(target, "target", known)
    if source == target:
        raise SpecificationError(f"source and target are both {source!r}: a twin copies an instrument to "
                                 "another country; for the source's own effect read its evaluation")
    rows = _source_rows(heterogeneity, source, instrument)
    outcome = _resolve_outcome(rows, source=source, instrument=instrument, outcome=outcome,
                               primary_outcomes=primary_outcomes)
    mix, mix_note = _target_mix(population_mix, target, instrument)
    head = _headline(heads, source, instrument, outcome)
    return _twin(rows.loc[rows["outcome"] == outcome], mix, head, heads, source=source, target=target,
                 instrument=instrument, outcome=outcome, alpha=alpha_f, notes=(mix_note,) if mix_note else ())


def _size_rank(size: str) -> tuple[int, str]:
    return (_SIZE_ORDER.index(size) if size in _SIZE_ORDER else len(_SIZE_ORDER), size)


def _twin(rows: pd.DataFrame, mix: pd.DataFrame, head: Mapping[str, Any], heads: pd.DataFrame, *,
          source: str, target: str, instrument: str, outcome: str, alpha: float,
          notes: tuple[str, ...]) -> TwinEstimate:
    usable = rows.loc[_usable(rows)]
    effects = pd.DataFrame({"size_class": usable["size_class"].astype(str).to_numpy(),
                            "estimate": pd.to_numeric(usable["estimate"]).to_numpy(dtype=float),
                            "std_error": pd.to_numeric(usable["std_error"]).to_numpy(dtype=float)})
    target_mix = pd.DataFrame({"size_class": mix["size_class"].astype(str).to_numpy(),
                               "share": pd.to_numeric(mix["share"]).to_numpy(dtype=float)})
    try:
        tr = transferability(effects, target_mix=target_mix, cells=("size_class",), share_tolerance=0.0,
                             on_extrapolation="ignore", alpha=alpha)
    except EstimationError as exc:
        raise EstimationError(f"{instrument} from {source} to {target}: none of {target}'s firms is in a "
                              f"size class {source} estimated ({sorted(effects['size_class'])!r}): {exc}"
                              ) from exc
    except DataError as exc:
        raise DataError(f"{instrument} from {source} to {target}: {exc}") from exc
    share = dict(zip(target_mix["size_class"], target_mix["share"], strict=True))
    why = {str(r["size_class"]): str(r.get("note", "") or "") for r in rows.to_dict(orient="records")}
    by_class = {str(r["size_class"]): r for r in tr.cell_table}
    cells: list[dict[str, Any]] = []
    for size in sorted(set(target_mix["size_class"]) | set(effects["size_class"]), key=_size_rank):
        rec = by_class.get(size)
        covered = rec is not None and rec["status"] != "uncovered"
        status = ("not_in_target" if size not in share else "covered" if covered else "extrapolated")
        cells.append({"size_class": size, "target_share": float(share.get(size, 0.0)),
                      "estimate": float(rec["estimate"]) if covered and rec else math.nan,
                      "std_error": float(rec["std_error"]) if covered and rec else math.nan,
                      "weight": float(rec["weight"]) if covered and rec else 0.0, "status": status,
                      "note": "" if covered else why.get(size) or f"{source} has no {size} firms' estimate"})
    extrapolated = tuple(c["size_class"] for c in cells
                         if c["status"] == "extrapolated" and c["target_share"] > 0)
    families = sorted({f"{e} {t}" for e, t in zip(usable["estimator"], usable["term"], strict=True)})
    estimator, term = str(usable["estimator"].iloc[0]), str(usable["term"].iloc[0])
    extra = list(notes)
    if len(families) > 1:
        extra.append(f"{source}'s size classes use different estimators ({', '.join(families)})")
    if "estimator" in head and str(head["estimator"]) != estimator:
        extra.append(f"{source}'s size-class effects use {estimator}, its headline {head['estimator']}")
    return TwinEstimate(
        source=source, target=target, instrument=instrument, outcome=outcome, estimate=tr.estimate,
        std_error=tr.std_error, ci_low=tr.ci_low, ci_high=tr.ci_high, p_value=tr.p_value, alpha=alpha,
        extrapolated_share=float(max(0.0, 1.0 - tr.coverage)), extrapolated_classes=extrapolated,
        cells=tuple(cells), estimator=estimator, term=term, grade=int(head["_grade"]),
        source_estimate=float(head["estimate"]), source_ci_low=float(head["ci_low"]),
        source_ci_high=float(head["ci_high"]), data_source=_data_source(heads, head, target),
        notes=tuple(extra))


@keyword_options
def twin_table(heterogeneity: pd.DataFrame, population_mix: pd.DataFrame, headlines: pd.DataFrame, *,
               instrument: str | Sequence[str] | None = None, outcome: str | None = None,
               primary_outcomes: Mapping[str, str] | None = None, sources: Sequence[str] | None = None,
               targets: Sequence[str] | None = None, alpha: float = 0.05) -> TwinTable:
    """Twin every evaluation of an instrument to every other country's SME mix (:func:`twin_estimate`).

    Parameters
    ----------
    heterogeneity, population_mix, headlines
        As in :func:`twin_estimate`.
    instrument
        One instrument, several, or ``None``: every instrument with size-class estimates.
    outcome
        The outcome; ``None``: each instrument's primary outcome from ``primary_outcomes``, and for an
        instrument not in it every outcome with size-class estimates (the records do not name the primary
        outcome).
    primary_outcomes
        The primary outcome of each instrument (from the instrument files).
    sources, targets
        Restrict the evaluating countries and the target countries (``None``: every country with size-class
        estimates of the instrument, and every country with a population mix).
    alpha
        1 minus the intervals' coverage.

    Returns
    -------
    TwinTable
        One row per source, target, instrument and outcome, and a line per source or pair that could not be
        twinned (no usable headline, no target firm in an estimated class).

    Raises
    ------
    SpecificationError
        A bad ``alpha``, or an instrument named that no country has size-class estimates of.
    DataError
        A frame lacks a column.
    """
    alpha_f = check_alpha(alpha, function="twin_table")
    heads = _check_inputs(heterogeneity, population_mix, headlines)
    het = heterogeneity.loc[_usable(heterogeneity)]
    have = sorted({str(i) for i in het["instrument"]})
    names = have if instrument is None else [instrument] if isinstance(instrument, str) else list(instrument)
    unknown = [n for n in names if n not in have]
    if unknown:
        raise SpecificationError(f"no country has size-class estimates of {unknown!r}; instruments with "
                                 f"size-class estimates: {have!r}")
    mixes = sorted({str(c) for c in population_mix["country"]})
    twins: list[TwinEstimate] = []
    errors: list[str] = []
    for name in names:
        wanted = outcome or (primary_outcomes or {}).get(name)
        outcomes = [wanted] if wanted else sorted({str(o) for o in het.loc[het["instrument"] == name,
                                                                           "outcome"]})
        for out in outcomes:
            from_here = sorted({str(c) for c in het.loc[(het["instrument"] == name) & (het["outcome"] == out),
                                                         "country"]})
            if not from_here:
                errors.append(f"{name} / {out}: no country has size-class estimates")
            for src in from_here:
                if sources is not None and src not in sources:
                    continue
                rows = heterogeneity.loc[(heterogeneity["country"] == src)
                                         & (heterogeneity["instrument"] == name)
                                         & (heterogeneity["outcome"] == out)]
                try:
                    head = _headline(heads, src, name, out)
                except DataError as exc:
                    errors.append(f"{name} / {out} from {src}: {exc}")
                    continue
                for dst in mixes:
                    if dst == src or (targets is not None and dst not in targets):
                        continue
                    try:
                        mix, note = _target_mix(population_mix, dst, name)
                        twins.append(_twin(rows, mix, head, heads, source=src, target=dst, instrument=name,
                                           outcome=out, alpha=alpha_f, notes=(note,) if note else ()))
                    except IpfEvalError as exc:
                        errors.append(f"{name} / {out} from {src} to {dst}: {exc}")
    twins.sort(key=lambda t: (t.instrument, t.outcome, t.source, t.target))
    frame = pd.DataFrame([t.to_row() for t in twins], columns=list(TWIN_COLUMNS))
    return TwinTable(frame, tuple(twins), tuple(errors), alpha_f)

