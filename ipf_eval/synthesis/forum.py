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
* **Transferability** (:func:`transferability_matrix`): for each pooled instrument and outcome, the
  size-class effects of the same estimator family from the same countries as the pooled estimate (random
  effects per size class; a size class with one country is taken as it is), reweighted to each target
  country's mix of micro, small and medium firms, with a prediction interval that adds the pooled
  estimate's between-country variance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ipf_eval._defaults import keyword_options
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


@keyword_options
def pooling_family(estimator: str, term: str) -> str:
    """Return the family an estimate is pooled in: ``att_gt``, or ``"<estimator> <term>"`` otherwise."""
    return "att_gt" if estimator_family(estimator) == "att_gt" else f"{estimator} {term}"


@keyword_options
def headline_estimates(frame: pd.DataFrame, *, countries: Sequence[str] | None = None,
                       include_stale: bool = False) -> pd.DataFrame:
    """Return the pooled candidates: headline estimates with a positive standard error.

    Parameters
    ----------
    frame
        Evidence rows (:func:`ipf_eval.evidence.evidence_frame`); not modified.
    countries
        The synthesis countries (``None``: all).
    include_stale
        Whether rows whose evaluation's latest run failed (``stale``) are pooled; by default they are
        left out (:func:`ipf_eval.pipeline.stale.stale_lines` lists them).

    Returns
    -------
    pandas.DataFrame
        Those rows, with ``family`` (:func:`pooling_family`) and ``grade`` (the integer evidence grade).
    """
    keep = frame["headline"].astype(bool) & frame["std_error"].gt(0)
    if not include_stale and "stale" in frame.columns:
        keep &= ~frame["stale"].astype(bool)
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


@keyword_options
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


@keyword_options
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
    """Predicted effects of each pooled instrument and outcome in each target country's SME mix.

    Attributes
    ----------
    cells
        Long: ``instrument, outcome, family, sources, target, estimate, std_error, ci_low, ci_high, pi_low,
        pi_high, extrapolated, covered_share, uncovered``.  ``family`` and ``sources`` (the countries,
        comma-separated) are those of the pooled estimate the recommendation rests on; ``ci_*`` is the
        interval of the reweighted mean, ``pi_*`` adds the between-country variance of that pooled
        estimate; ``uncovered`` names the size classes of the target's mix without a source estimate (or
        with only a thin one), comma-separated.
    errors
        Instrument and target pairs that could not be predicted, with the reason.
    """

    cells: pd.DataFrame
    errors: tuple[str, ...] = ()

    def for_group(self, instrument: str, outcome: str) -> pd.DataFrame:
        """Return the predictions of one instrument and outcome, one row per target country."""
        keep = (self.cells["instrument"] == instrument) & (self.cells["outcome"] == outcome)
        return self.cells.loc[keep].reset_index(drop=True)


_TRANSFER_COLUMNS = ["instrument", "outcome", "family", "sources", "target", "estimate", "std_error",
                     "ci_low", "ci_high", "pi_low", "pi_high", "extrapolated", "covered_share",
                     "uncovered"]


def _country_mixes(population_mix: pd.DataFrame, countries: Sequence[str]) -> dict[str, pd.DataFrame]:
    mixes: dict[str, pd.DataFrame] = {}
    for (code, _), mix in population_mix.groupby(["country", "instrument"], sort=False):
        if code in countries and str(code) not in mixes and len(mix):
            mixes[str(code)] = mix[["size_class", "share"]].reset_index(drop=True)
    return mixes


def _pooled_cells(sub: pd.DataFrame) -> pd.DataFrame:
    pooled = []
    for size, cell in sub.groupby("size_class", sort=True):
        if len(cell) >= 2:
            m = meta_analysis(cell.reset_index(drop=True), label="country").to_dict()
            pooled.append({"size_class": size, "estimate": m["estimate"], "std_error": m["std_error"]})
        else:
            pooled.append({"size_class": size, "estimate": float(cell["estimate"].iloc[0]),
                           "std_error": float(cell["std_error"].iloc[0])})
    return pd.DataFrame(pooled)


@keyword_options
def transferability_matrix(heterogeneity: pd.DataFrame, population_mix: pd.DataFrame, *, kept: pd.DataFrame,
                           countries: Sequence[str], between: Mapping[tuple[str, str], float] | None = None,
                           alpha: float = 0.05) -> TransferMatrix:
    r"""Reweight the pooled evaluations' size-class effects to each target country's SME mix.

    Parameters
    ----------
    heterogeneity
        The evidence records' ``heterogeneity`` tables (:func:`ipf_eval.evidence.evidence_table`): each
        outcome's effect per size class with its headline estimator and term.
    population_mix
        Their ``population_mix`` tables; a country's mix is taken from its first record that has one.
    kept
        The pooled headline estimates (``select_families(...).kept``): per instrument and outcome, the
        estimator family and the countries the recommendation pools.  Only size-class effects of that
        family from those countries are used.
    countries
        The target countries (each with a population mix).
    between
        Per ``(instrument, outcome)`` the between-country variance :math:`\hat\tau^2` of the
        recommendation's pooled estimate (column ``tau2`` of :func:`ranked_recommendations`); the
        prediction interval adds it.  Missing: 0.
    alpha
        1 minus the intervals' coverage.

    Returns
    -------
    TransferMatrix
        One predicted effect per pooled instrument and outcome and target country.

    Notes
    -----
    For instrument and outcome :math:`j`, let :math:`S_j` be the countries and :math:`f_j` the estimator
    family of the pooled estimate its recommendation rests on.  The effect in size class :math:`s` is the
    random-effects (REML) pool of the :math:`f_j` size-class estimates of the countries in :math:`S_j` (a
    size class estimated in one country is taken as it is); the prediction for target :math:`T` is
    :math:`\sum_s m_{Ts} \hat\theta_s` over the size classes with an estimate, with the target's
    population shares :math:`m_{Ts}` renormalised to them (:func:`~ipf_eval.synthesis.transferability`;
    flagged as extrapolated when the uncovered share is material).  Its interval is normal with the
    reweighted standard error; the prediction interval adds the between-country variance of the pooled
    estimate, since a new country differs from the pooled mean by more than its size mix (Riley, Higgins
    and Deeks 2011).  The estimand is the effect the instrument's supported firms would have had, on
    average, if they had been distributed over size classes like the target's firms.

    References
    ----------
    Riley, R. D., Higgins, J. P. T., & Deeks, J. J. (2011). Interpretation of random effects
    meta-analyses. BMJ, 342, d549.
    Stuart, E. A., Cole, S. R., Bradshaw, C. P., & Leaf, P. J. (2011). The use of propensity scores to
    assess the generalizability of results from randomized trials. JRSS A, 174(2), 369-386.
    """
    from scipy.stats import norm

    crit = float(norm.isf(alpha / 2))
    mixes = _country_mixes(population_mix, countries)
    het = heterogeneity.loc[heterogeneity["std_error"].gt(0)]
    het = het.assign(family=[pooling_family(e, t)
                             for e, t in zip(het["estimator"], het["term"], strict=True)])
    cells, errors = [], []
    for (inst, outcome), grp in kept.groupby(["instrument", "outcome"], sort=True):
        family = str(grp["family"].iloc[0])
        sources = sorted(set(grp["country"]))
        sub = het.loc[(het["instrument"] == inst) & (het["outcome"] == outcome) & (het["family"] == family)
                      & het["country"].isin(sources)]
        if not len(sub):
            errors.append(f"{inst} / {outcome}: no size-class estimates of {family} from "
                          f"{', '.join(sources)}")
            continue
        pooled_cells = _pooled_cells(sub)
        tau2 = float((between or {}).get((str(inst), str(outcome)), 0.0) or 0.0)
        for target in sorted(mixes):
            try:
                tr = transferability(pooled_cells, target_mix=mixes[target], cells=("size_class",),
                                     on_extrapolation="ignore", alpha=alpha)
            except IpfEvalError as exc:
                errors.append(f"{inst} / {outcome} in {target}: {exc}")
                continue
            half = crit * (tr.std_error ** 2 + max(tau2, 0.0)) ** 0.5
            cells.append({"instrument": inst, "outcome": outcome, "family": family,
                          "sources": ", ".join(sorted(set(sub["country"]))), "target": target,
                          "estimate": tr.estimate, "std_error": tr.std_error, "ci_low": tr.ci_low,
                          "ci_high": tr.ci_high, "pi_low": tr.estimate - half, "pi_high": tr.estimate + half,
                          "extrapolated": bool(tr.extrapolation), "covered_share": tr.coverage,
                          "uncovered": ", ".join(str(c[0]) for c in (*tr.uncovered_cells, *tr.thin_cells))})
    return TransferMatrix(pd.DataFrame(cells, columns=_TRANSFER_COLUMNS), tuple(errors))


@keyword_options
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
