"""The forum's synthesis from evidence records: which estimates are pooled, how, and what transfers where.

The rules, each a function here:

* **What is pooled** (:func:`headline_estimates`): each evaluation's headline estimate of each outcome (the
  one its grade belongs to), with a positive standard error, from the synthesis countries.
* **Like with like** (:func:`select_families`): estimators that estimate the same thing form one family
  (``att_gt`` whatever its covariate adjustment; otherwise estimator and term, e.g. ``rct late``).  Per
  instrument and outcome only one family is pooled: the one most countries report (ties: the higher best
  grade, then the family name); the other countries' estimates are listed as not pooled.
* **Pooling** (:func:`pool_headlines`): a random-effects meta-analysis (REML) per instrument and outcome
  with at least :data:`MIN_COUNTRIES` countries.
* **Transferability** (:func:`transferability_matrix`): size-class effects of the staggered DiD pooled
  across the countries that estimated them (random effects per size class; a size class with one country is
  taken as it is) and reweighted to each target country's mix of micro, small and medium firms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ipf_eval.errors import IpfEvalError
from ipf_eval.evidence.headline import estimator_family
from ipf_eval.synthesis.meta import MetaAnalysisResult, meta_analysis
from ipf_eval.synthesis.recommendations import RecommendationTable, recommendations
from ipf_eval.synthesis.transfer import transferability

__all__ = [
    "MIN_COUNTRIES",
    "FamilySelection",
    "PooledHeadlines",
    "TransferMatrix",
    "headline_estimates",
    "pool_headlines",
    "pooling_family",
    "ranked_recommendations",
    "select_families",
    "transferability_matrix",
]

#: Fewest countries a meta-analysis pools.
MIN_COUNTRIES = 3


def pooling_family(estimator: str, term: str) -> str:
    """Return the family an estimate is pooled in: ``att_gt``, or ``"<estimator> <term>"`` otherwise."""
    return "att_gt" if estimator_family(estimator) == "att_gt" else f"{estimator} {term}"


def headline_estimates(frame: pd.DataFrame, *, countries: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the pooled candidates: headline estimates with a positive standard error.

    Parameters
    ----------
    frame
        Evidence rows (:func:`ipf_eval.evidence.evidence_frame`); not modified.
    countries
        The synthesis countries (``None``: all).

    Returns
    -------
    pandas.DataFrame
        Those rows, with ``family`` (:func:`pooling_family`) and ``grade`` (the integer evidence grade).
    """
    keep = frame["headline"].astype(bool) & frame["std_error"].gt(0)
    if countries is not None:
        keep &= frame["country"].isin(list(countries))
    out = frame.loc[keep].copy()
    out["family"] = [pooling_family(e, t) for e, t in zip(out["estimator"], out["term"], strict=True)]
    out["grade"] = out["evidence_grade"].astype(int)
    return out.reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class FamilySelection:
    """The estimates pooled (one family per instrument and outcome) and those left out, in words."""

    kept: pd.DataFrame
    left_out: tuple[str, ...] = ()


def select_families(frame: pd.DataFrame) -> FamilySelection:
    """Keep one estimator family per instrument and outcome: the one most countries report.

    Parameters
    ----------
    frame
        From :func:`headline_estimates`.

    Returns
    -------
    FamilySelection
        ``kept``: the rows of each group's chosen family; ``left_out``: one line per other row, naming the
        country, its estimator and term, and the family the group pools.
    """
    kept, left_out = [], []
    for (inst, outcome), grp in frame.groupby(["instrument", "outcome"], sort=True):
        fam = grp.groupby("family").agg(k=("country", "nunique"), top=("grade", "max")).reset_index()
        best = fam.sort_values(["k", "top", "family"], ascending=[False, False, True])["family"].iloc[0]
        kept.append(grp.loc[grp["family"] == best])
        left_out += [f"{inst} / {outcome}: {r['country']} ({r['estimator']}, {r['term']}; the group pools "
                     f"{best})"
                     for r in grp.loc[grp["family"] != best].to_dict(orient="records")]
    out = pd.concat(kept, ignore_index=True) if kept else frame.iloc[0:0].copy()
    return FamilySelection(out, tuple(left_out))


@dataclass(frozen=True, eq=False)
class PooledHeadlines:
    """One pooled estimate per instrument and outcome, the meta-analyses behind them, and what failed."""

    table: pd.DataFrame
    metas: dict[tuple[str, str], MetaAnalysisResult] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def pool_headlines(frame: pd.DataFrame, *, min_countries: int = MIN_COUNTRIES) -> PooledHeadlines:
    """Random-effects meta-analysis (REML) of the kept headline estimates per instrument and outcome.

    Parameters
    ----------
    frame
        ``select_families(...).kept``.
    min_countries
        Groups with fewer countries are not pooled.

    Returns
    -------
    PooledHeadlines
        ``instrument, outcome, estimator, estimand, countries, estimate, ci_low, ci_high, p_value`` per
        group, the fitted meta-analyses, and a message per group that could not be pooled.
    """
    rows, metas, errors = [], {}, []
    for (inst, outcome), grp in frame.groupby(["instrument", "outcome"], sort=True):
        if grp["country"].nunique() < min_countries:
            continue
        try:
            meta = meta_analysis(grp.reset_index(drop=True), label="country")
        except IpfEvalError as exc:
            errors.append(f"{inst} / {outcome}: {exc}")
            continue
        metas[(str(inst), str(outcome))] = meta
        row = meta.to_frame().iloc[0]
        rows.append({"instrument": inst, "outcome": outcome,
                     "estimator": ", ".join(sorted(set(grp["estimator"]))) + f" ({grp['term'].iloc[0]})",
                     "estimand": "; ".join(sorted(set(grp["estimand"]))),
                     "countries": grp["country"].nunique(),
                     "estimate": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                     "p_value": row["p_value"]})
    columns = ["instrument", "outcome", "estimator", "estimand", "countries", "estimate", "ci_low", "ci_high",
               "p_value"]
    return PooledHeadlines(pd.DataFrame(rows, columns=columns), metas, tuple(errors))


@dataclass(frozen=True, eq=False)
class TransferMatrix:
    """Predicted effects of each instrument in each target country's SME mix.

    Attributes
    ----------
    cells
        Long: ``instrument, outcome, target, estimate, extrapolated, covered_share``.
    errors
        Instrument and target pairs that could not be predicted, with the reason.
    """

    cells: pd.DataFrame
    errors: tuple[str, ...] = ()

    def wide(self) -> pd.DataFrame:
        """Instruments by target country, each cell ``+0.123`` or ``+0.123 (extrapolated)``."""
        if not len(self.cells):
            return pd.DataFrame(columns=["instrument", "outcome"])
        text = self.cells.assign(cell=[f"{e:+.3f}" + (" (extrapolated)" if x else "")
                                       for e, x in zip(self.cells["estimate"], self.cells["extrapolated"],
                                                       strict=True)])
        wide = text.pivot(index=["instrument", "outcome"], columns="target", values="cell").reset_index()
        wide.columns.name = None
        return wide


def transferability_matrix(heterogeneity: pd.DataFrame, population_mix: pd.DataFrame, *,
                           countries: Sequence[str]) -> TransferMatrix:
    """Pool size-class effects across source countries and reweight them to each target country's mix.

    Parameters
    ----------
    heterogeneity
        The evidence records' ``heterogeneity`` tables (:func:`ipf_eval.evidence.evidence_table`).
    population_mix
        Their ``population_mix`` tables; a country's mix is taken from its first record that has one.
    countries
        Source and target countries.

    Returns
    -------
    TransferMatrix
        One predicted effect per instrument, outcome and target country.
    """
    het = heterogeneity.loc[heterogeneity["country"].isin(list(countries))
                            & heterogeneity["std_error"].gt(0)]
    mixes: dict[str, pd.DataFrame] = {}
    for (code, _), mix in population_mix.groupby(["country", "instrument"], sort=False):
        if code in countries and str(code) not in mixes and len(mix):
            mixes[str(code)] = mix[["size_class", "share"]].reset_index(drop=True)
    cells, errors = [], []
    for (inst, outcome), grp in het.groupby(["instrument", "outcome"], sort=True):
        pooled = []
        for size, sub in grp.groupby("size_class", sort=True):
            if len(sub) >= 2:
                m = meta_analysis(sub.reset_index(drop=True), label="country").to_dict()
                pooled.append({"size_class": size, "estimate": m["estimate"], "std_error": m["std_error"]})
            else:
                pooled.append({"size_class": size, "estimate": float(sub["estimate"].iloc[0]),
                               "std_error": float(sub["std_error"].iloc[0])})
        pooled_cells = pd.DataFrame(pooled)
        for target in sorted(mixes):
            try:
                tr = transferability(pooled_cells, target_mix=mixes[target], cells=("size_class",),
                                     on_extrapolation="ignore")
            except IpfEvalError as exc:
                errors.append(f"{inst} in {target}: {exc}")
                continue
            cells.append({"instrument": inst, "outcome": outcome, "target": target, "estimate": tr.estimate,
                          "extrapolated": bool(tr.extrapolation), "covered_share": tr.coverage})
    columns = ["instrument", "outcome", "target", "estimate", "extrapolated", "covered_share"]
    return TransferMatrix(pd.DataFrame(cells, columns=columns), tuple(errors))


def ranked_recommendations(frame: pd.DataFrame) -> tuple[RecommendationTable, pd.DataFrame]:
    """Rank the pooled headline estimates with :func:`~ipf_eval.synthesis.recommendations`.

    Parameters
    ----------
    frame
        ``select_families(...).kept``.

    Returns
    -------
    tuple
        The recommendation table and its ranked rows with the estimators behind each (column
        ``estimator``).
    """
    graded = frame.dropna(subset=["grade"]).astype({"grade": int})
    if "cost_per_outcome" in graded.columns:  # each country's cost per outcome of its headline estimate
        graded = graded.assign(cost_per_unit=graded["cost_per_outcome"])
    columns = ["country", "instrument", "outcome", "estimate", "std_error", "grade",
               *[c for c in ("checks_missing", "cost_per_unit") if c in graded.columns]]
    recs = recommendations(graded[columns])
    used = (graded.groupby(["instrument", "outcome"])["estimator"].agg(lambda e: ", ".join(sorted(set(e))))
            .rename("estimator").reset_index())
    ranked = recs.to_frame().merge(used, on=["instrument", "outcome"], how="left")
    return recs, ranked
