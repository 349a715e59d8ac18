"""The evaluation of one instrument in one country, as one tested library step.

:func:`evaluate_instrument` runs everything an instrument report shows and the forum reads: validation, the
staggered DiD for every outcome, the design's own estimator, the headline rule, the pre-trend check, the
evidence grade, robustness, heterogeneity, additionality, cost-effectiveness, reach and delivery.  The
notebooks only narrate its result; the batch writes its :meth:`~InstrumentEvidence.to_dict`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import re
import warnings
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._files import stable_hash
from ipf_eval._params_io import validate_model
from ipf_eval._version import __version__
from ipf_eval.data.contract import validate_panel
from ipf_eval.data.provenance import SampleProvenance, frame_sha256, read_provenance
from ipf_eval.did import aggregate
from ipf_eval.disclosure import get_profile, protect_table, publishable_text
from ipf_eval.discontinuity import RdPlotData, rd_plot_data
from ipf_eval.errors import DataError, DisclosureError, IpfEvalError, SpecificationError
from ipf_eval.evidence.additionality import input_additionality
from ipf_eval.evidence.assessment import (
    EVENT_WINDOW,
    DesignAssessment,
    DidAssessment,
    assess_design,
    assess_did,
)
from ipf_eval.evidence.cost import cost_effectiveness
from ipf_eval.evidence.cost_basis import COST_UNITS, CostUnit, baseline_level, costed_estimates, reportable
from ipf_eval.evidence.delivery_aggregates import delivery_mix_aggregates
from ipf_eval.evidence.design_estimators import design_estimates
from ipf_eval.evidence.fallbacks import att_gt_with_fallback
from ipf_eval.evidence.grading import Check, EvidenceGrade, evidence_grade, required_checks
from ipf_eval.evidence.headline import (
    GRADE_DESIGN,
    estimator_family,
    grade_design,
    headline_term,
    mark_headlines,
)
from ipf_eval.evidence.heterogeneity import SizeClassEffect, design_size_class_effects, size_class_effects
from ipf_eval.evidence.instrument_evidence import InstrumentEvidence, Provenance, SampleSummary
from ipf_eval.evidence.outcomes import (
    CustomOutcome,
    OutcomeSpec,
    cost_unit_of,
    derive_outcomes,
    outcome_specs,
)
from ipf_eval.evidence.parameters import (
    CostOverride,
    InstrumentCosts,
    InstrumentParams,
    ProgrammeCosts,
    as_instrument,
    programme_costs,
)
from ipf_eval.evidence.reach import population_mix, reach_summary
from ipf_eval.evidence.robustness import matched_did_by_cohort, twfe_comparison
from ipf_eval.evidence.schema import ESTIMATE_COLUMNS, SCHEMA_VERSION, empty_table, validate_table
from ipf_eval.results import TIDY_COLUMNS, Specification

__all__ = ["ATT_GT_ESTIMAND", "EVENT_WINDOW", "evaluate_instrument"]

#: What the staggered DiD row of an outcome estimates.
ATT_GT_ESTIMAND = "ATT of supported firms, averaged over post-support years"

_ID, _T, _G = "firm_id", "year", "first_support_year"
_STATS = [c for c in TIDY_COLUMNS if c != "term"]
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class _Notes:
    """Messages of each step: warnings raised inside :meth:`step` and notes added, disclosure-checked."""

    def __init__(self) -> None:
        self.by_step: dict[str, list[str]] = {}

    def add(self, step: str, text: str) -> None:
        items = self.by_step.setdefault(step, [])
        text = publishable_text(text)
        if text not in items:
            items.append(text)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self.by_step.setdefault(name, [])
        for w in caught:
            self.add(name, f"{w.category.__name__}: {w.message}")

    def frozen(self) -> dict[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in self.by_step.items()}


def _country(country: str | None, data: pd.DataFrame, tag: SampleProvenance | None) -> str:
    if country is None:
        if tag is not None:
            country = tag.country
        elif "country" in data.columns and data["country"].nunique() == 1:
            country = str(data["country"].iloc[0])
        else:
            raise SpecificationError("evaluate_instrument(country=...) is needed: the data have no single "
                                     "'country' value; pass the ISO code, e.g. country='AT'")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        raise SpecificationError(f"evaluate_instrument(country=...) must be a two-letter upper-case ISO "
                                 f"code; got {country!r}")
    return country


def _created(created: str | None) -> str:
    if created is None or created == "":
        return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(created, str) or not _CREATED.fullmatch(created):
        raise SpecificationError(f"evaluate_instrument(created=...) must be a UTC time "
                                 f"'YYYY-MM-DDTHH:MM:SSZ' or None (now); got {created!r}")
    return created


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**32:
        raise SpecificationError(f"evaluate_instrument(seed=...) must be an integer in [0, 2**32); got "
                                 f"{seed!r}. Every random step (bootstrap, permutations) is seeded from it")
    return int(seed)


def _frame(value: Any, name: str) -> pd.DataFrame | None:
    if value is None:
        return None
    if not isinstance(value, pd.DataFrame):
        raise DataError(f"evaluate_instrument({name}=...) must be a pandas DataFrame or None; got "
                        f"{type(value).__name__}")
    return value


@keyword_options
def evaluate_instrument(
    data: pd.DataFrame,
    instrument: InstrumentParams | Mapping[str, Any] | str,
    *,
    country: str | None = None,
    costs: CostOverride | InstrumentCosts | Mapping[str, float] | None = None,
    disclosure_profile: str = "statistical_office",
    seed: int,
    applications: pd.DataFrame | None = None,
    population: pd.DataFrame | None = None,
    created: str | None = None,
    custom_outcomes: Mapping[str, CustomOutcome | Mapping[str, Any]] | None = None,
    eligibility: pd.DataFrame | None = None,
    admin_costs: pd.DataFrame | None = None,
) -> InstrumentEvidence:
    r"""Evaluate one instrument in one country: estimates, headline, grade, costs, heterogeneity, reach.

    Parameters
    ----------
    data
        The evaluation sample: one row per firm and year with ``firm_id``, ``year``,
        ``first_support_year`` (0: never supported), the instrument's outcomes and covariates, and
        ``size_class``; lotteries and scored calls also ``application_year``, ``arm``, ``score`` and
        ``threshold``.  Typically ``simulate_firms(...).evaluation_sample(country, instrument)`` or the
        agency's register extract.  Never modified.
    instrument
        The instrument parameters: an :class:`~ipf_eval.evidence.parameters.InstrumentParams`, a mapping of
        its values, or the path of an instrument file (``params/instruments/NAME.yaml``).
    country
        ISO code; by default the simulated sample's, or the data's single ``country`` value.
    costs
        The country's own programme costs where they differ from the instrument file's.
    disclosure_profile
        ``"statistical_office"`` or ``"research_data_centre"``: every table that leaves the function passes
        it.
    seed
        Seed of every random step (multiplier bootstrap, randomisation inference).
    applications
        Delivery data, one row per application (``firm_id, call_year, application_date, decision_date,
        outcome``); ``None`` when the data source has none.
    population
        All of the country's firms, for its SME mix by size class; by default ``data``.
    created
        UTC time stamp of the evidence (``YYYY-MM-DDTHH:MM:SSZ``); by default now.
    custom_outcomes
        The country's own outcomes (``custom_outcomes`` of its country file: name to column, transform,
        kind, label, unit); the instrument file's own ``custom_outcomes`` win on a name both define.  Each
        is built from its column on a copy of ``data`` (:mod:`ipf_eval.evidence.outcomes`).
    eligibility
        The firms listed as eligible for the instrument (``firm_id, eligible`` and the SME-mix columns
        ``size_class, sector``), for the take-up among eligible firms; ``None`` when the agency has no list.
    admin_costs
        The agency's administrative cost of running the instrument (``admin_cost_eur``, by ``call_year``
        when given), for the cost per supported firm and per euro granted; ``None`` when unknown.

    Returns
    -------
    InstrumentEvidence
        Frozen; ``to_frame()`` gives the rows of ``evidence.csv``, ``to_dict()`` the evidence record.

    Raises
    ------
    ParameterError
        If the instrument parameters are invalid.
    SpecificationError
        If ``country``, ``seed``, ``created`` or ``disclosure_profile`` is invalid.
    DataError
        If the data break the panel contract (the message names the column and the remedy).

    Notes
    -----
    For every outcome :math:`y`, the staggered DiD estimates Callaway and Sant'Anna's (2021) simple
    aggregation :math:`\theta = \sum_{g} \sum_{t \ge g} w_{g} ATT(g, t)` of the group-time effects, against
    the instrument's comparison group, doubly robust on the baseline covariates (regression adjustment when
    the propensity score separates: :mod:`ipf_eval.evidence.fallbacks`).  A lottery adds the experiment's
    intention-to-treat and effect-on-users estimates, a scored call the regression discontinuity at the
    threshold, both on the one-year change to the call year (:mod:`ipf_eval.evidence.design_estimators`).
    The headline of each outcome and the design its grade belongs to follow
    :mod:`ipf_eval.evidence.headline`; the cost basis follows :mod:`ipf_eval.evidence.cost_basis`.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics*, 225(2), 200-230.
    OECD (2007). *OECD Framework for the Evaluation of SME and Entrepreneurship Policies and Programmes*.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> from ipf_eval.evidence import evaluate_instrument
    >>> sim = simulate_firms(seed=2024, n_firms=8000)
    >>> ev = evaluate_instrument(sim.evaluation_sample("AT", "loan_guarantee"),
    ...                          "params/instruments/loan_guarantee.yaml", seed=2024)  # doctest: +SKIP
    >>> ev.headlines[["outcome", "estimate", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    inst = as_instrument(instrument)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"evaluate_instrument(data=...) must be a pandas DataFrame (one row per firm and "
                        f"year); got {type(data).__name__}")
    profile = get_profile(disclosure_profile)
    seed = _check_seed(seed)
    tag = read_provenance(data)
    country = _country(country, data, tag)
    given = {str(k): v if isinstance(v, CustomOutcome) else validate_model(CustomOutcome, v,
                                                                          f"<custom_outcomes.{k}>")
             for k, v in dict(custom_outcomes or {}).items()}
    specs = outcome_specs(inst.outcomes, custom={**given, **inst.custom_outcomes},
                          where=f"instrument {inst.name!r}")
    original, data = data, derive_outcomes(data, specs)
    created = _created(created)
    applications = _frame(applications, "applications")
    population = _frame(population, "population")
    cost = programme_costs(inst, costs)
    est = inst.estimator
    outcomes: list[str] = list(inst.outcomes)
    covariates, primary = list(est.covariates), inst.primary
    notes = _Notes()

    with notes.step("data"):
        extra = [c for c in ("size_class", "sector", "region") if c in data.columns]
        checked = validate_panel(data, idname=_ID, tname=_T, gname=_G, ynames=outcomes, covariates=covariates,
                                 extra_columns=extra)
    firms = checked.data.groupby(_ID, sort=True).first().reset_index()
    firms["group"] = np.where(firms[_G] > 0, "supported", "comparison")
    n_supported = int((firms[_G] > 0).sum())
    by_size = None
    if "size_class" in firms.columns:
        with notes.step("data"):
            by_size = protect_table(firms, by=["size_class", "group"], profile=disclosure_profile,
                                    name="firms by size class")
    sample = SampleSummary(int(checked.n_units), n_supported, tuple(int(p) for p in checked.periods),
                           len(checked.cohorts), by_size)

    fit = partial(att_gt_with_fallback, est_method=est.est_method, tname=_T, idname=_ID, gname=_G,
                  covariates=covariates or None, control_group=est.control_group, base_period=est.base_period,
                  n_boot=est.n_boot, seed=seed, alpha=est.alpha)
    fits, rows = {}, []
    with notes.step("estimates"):
        for outcome in outcomes:
            try:
                fitted = fit(checked, yname=outcome, bootstrap=est.bootstrap)
            except IpfEvalError as exc:
                notes.add("estimates", f"{outcome}: no estimate ({exc})")
                continue
            if fitted.fallback_reason:
                notes.add("estimates", f"{outcome}: {est.est_method} is not estimable "
                                       f"({fitted.fallback_reason}); using regression adjustment (reg) "
                                       "instead.")
            fits[outcome] = fitted
            simple = aggregate(fitted.result, kind="simple").to_frame().iloc[0]
            rows.append({"outcome": outcome, "estimator": fitted.estimator, "term": "att",
                         "estimand": ATT_GT_ESTIMAND, "n_obs": fitted.result.specification.n_obs,
                         **{k: simple[k] for k in _STATS}})

    with notes.step("design"):
        design_est = design_estimates(data, design=inst.design, outcomes=outcomes, covariates=covariates,
                                      seed=seed, alpha=est.alpha)
    for failed, message in design_est.failures:
        notes.add("design", f"{failed}: {message}")

    with notes.step("grade"):
        headline_fits = {r["outcome"]: (float(r["estimate"]), float(r["std_error"])) for r in rows}
        did_assessment = assess_did(checked, fits, headline_fits, covariates=covariates,
                                    control_group=est.control_group, seed=seed)
        design_assessment = assess_design(design_est, data, covariates=covariates, primary=primary,
                                          alpha=est.alpha)
    rd_plot = None
    if design_est.estimator == "rdd" and primary in design_est.cross_sections:
        with notes.step("design"):
            rd_plot = _rd_plot(design_est.cross_sections[primary], min_firms=profile.min_firms, notes=notes)
    dynamic = did_assessment.dynamics.get(primary)
    pretrend = did_assessment.pretrends.get(primary)
    graded = grade_design(inst.design, design_estimator_ran=design_est.ran)
    grades = _row_grades(did_assessment, design_assessment, design_est.rows, outcomes)
    did_grade = grades.get(("did", primary, "att")) or _unestimated_grade("did", primary)
    head = design_est.rows.loc[design_est.rows["outcome"] == primary, "term"].tolist()
    head_term = headline_term(design_est.estimator, head) if graded != "did" and head else None
    grade = did_grade if head_term is None else grades[(graded, primary, head_term)]

    estimates = _evidence_rows(pd.DataFrame(rows), design_est.rows, inst=inst, country=country, tag=tag,
                               grades=grades, did_assessment=did_assessment, n_firms=sample.n_firms,
                               n_supported=n_supported, profile=disclosure_profile, specs=specs)

    robust = matched = None
    if primary in fits:
        main = estimates.loc[(estimates["outcome"] == primary)
                             & estimates["estimator"].str.startswith("att_gt")].iloc[0]
        with notes.step("robustness"):
            robust = twfe_comparison(checked, outcome=primary, callaway_santanna=dict(main), alpha=est.alpha)
        for text in robust.errors:
            notes.add("robustness", text)
        if covariates:
            with notes.step("matched"):
                matched = matched_did_by_cohort(
                    checked, fits[primary].result, outcome=primary, covariates=covariates,
                    control_group=est.control_group, min_firms=profile.min_firms, profile=disclosure_profile,
                    alpha=est.alpha, estimator_label=f"Callaway-Sant'Anna ({fits[primary].method})")
            for text in matched.notes:
                notes.add("matched", text)
            if matched.combined_error:
                notes.add("matched", f"No combined row: {matched.combined_error}")

    with notes.step("heterogeneity"):
        het = _size_class_table(checked, data, fit, design_est, country=country, instrument=inst.name,
                                outcomes=[o for o in outcomes if o in fits or o in design_est.cross_sections],
                                covariates=covariates, seed=seed, alpha=est.alpha, tag=tag, notes=notes,
                                est_method=est.est_method)
    mix = population_mix(population if population is not None else data)
    if "size_class" not in data.columns:
        notes.add("heterogeneity", "The data have no size_class column: effects by size class and the "
                                   "country's mix of micro, small and medium firms (for the forum's "
                                   "transferability) were skipped. Map a size class column to include them.")
    mix_table = pd.DataFrame({"country": country, "instrument": inst.name, "size_class": list(mix.index),
                              "share": mix.to_numpy(dtype=float)})

    cost_rows, additionality = [], None
    with notes.step("costs"):
        units = _cost_units(specs)
        for _, row in costed_estimates(estimates, units=units).iterrows():
            unit = units[row["outcome"]]
            baseline = baseline_level(checked.data, row["outcome"]) if unit.scale == "log" else None
            try:
                ce = cost_effectiveness(effect=float(row["estimate"]), effect_se=float(row["std_error"]),
                                        n_supported=n_supported, programme_cost=cost.per_firm * n_supported,
                                        outcome_unit=unit.unit, effect_scale=unit.scale,
                                        baseline_level=baseline, alpha=est.alpha, method="fieller")
            except IpfEvalError as exc:
                notes.add("costs", f"{row['outcome']}: {exc}")
                continue
            shown = reportable(float(row["ci_low"]), float(row["ci_high"]))
            cost_rows.append({"country": country, "instrument": inst.name, "outcome": row["outcome"],
                              "estimator": row["estimator"], "term": row["term"],
                              "evidence_grade": row["evidence_grade"], "unit": unit.unit,
                              "cost_per_unit": ce.cost_per_unit if shown else math.nan,
                              "ci_low": ce.ci_low if shown else math.nan,
                              "ci_high": ce.ci_high if shown else math.nan,
                              "unbounded": not shown, "cost_per_firm": cost.per_firm,
                              "n_supported": n_supported})
        rd = estimates.loc[estimates["estimator"].str.startswith("att_gt")
                           & (estimates["outcome"] == "rd_spending")]
        if len(rd):
            try:
                additionality = input_additionality(effect=float(rd["estimate"].iloc[0]),
                                                    effect_se=float(rd["std_error"].iloc[0]),
                                                    subsidy_per_firm=cost.programme_cost_per_firm,
                                                    alpha=est.alpha)
            except IpfEvalError as exc:
                notes.add("costs", f"input additionality: {exc}")

    reach = None
    delivery_rows: list[dict[str, Any]] = []
    mix_aggregates = empty_table("delivery_mix")
    if applications is None or not len(applications):
        notes.add("reach", "No applications data: reach and the delivery indicators (applications, time to "
                           "decision, acceptance rate) were skipped. Add an applications file to the "
                           "country's data block to include them.")
    else:
        with notes.step("reach"):
            reach = reach_summary(applications, profile=disclosure_profile)
        delivery_rows = [{"country": country, "instrument": inst.name, "indicator": k, "value": float(v)}
                         for k, v in (("applications", reach.applications),
                                      ("median_decision_days", reach.median_decision_days),
                                      ("acceptance_rate", reach.acceptance_rate))]
        with notes.step("reach"):
            mix_aggregates = _delivery_mix(applications, country=country, instrument=inst.name,
                                           eligibility=eligibility, admin_costs=admin_costs,
                                           profile=disclosure_profile, notes=notes)

    estimates = _with_costs(estimates, cost_rows)
    provenance = _provenance(original, inst, country=country, cost=cost, profile=disclosure_profile,
                             seed=seed, tag=tag, created=created, specs=specs)
    estimates = estimates.assign(data_source=provenance.data_source, data_sha256=provenance.data_sha256,
                                 run_id=provenance.run_id, created=provenance.created, version=__version__,
                                 schema_version=SCHEMA_VERSION, stale=False)[list(ESTIMATE_COLUMNS)]
    tables = {"heterogeneity": validate_table("heterogeneity", _columns("heterogeneity", het)),
              "population_mix": validate_table("population_mix", mix_table),
              "delivery": validate_table("delivery", _columns("delivery", pd.DataFrame(delivery_rows))),
              "delivery_mix": validate_table("delivery_mix", _columns("delivery_mix", mix_aggregates)),
              "costs": validate_table("costs", _columns("costs", pd.DataFrame(cost_rows)))}
    spec = Specification(
        estimator="evaluate_instrument",
        arguments={"instrument": inst.name, "design": inst.design, "country": country,
                   "costs": {"programme_cost_per_firm": cost.programme_cost_per_firm,
                             "admin_cost_per_firm": cost.admin_cost_per_firm},
                   "disclosure_profile": disclosure_profile, "seed": seed,
                   "estimator": est.model_dump(mode="json")},
        n_obs=len(checked.data), n_units=int(checked.n_units), dropped=tuple(checked.dropped), seed=seed)
    return InstrumentEvidence(
        country=country, instrument=inst, costs=cost, disclosure_profile=disclosure_profile,
        provenance=provenance, sample=sample, estimates=validate_table("estimates", estimates), grade=grade,
        did_grade=did_grade, grade_design=graded, grades=grades, design_estimates=design_est,
        pretrend=pretrend, pretrend_power=did_assessment.power.get(primary),
        honest=did_assessment.honest.get(primary), placebo=design_assessment.placebo, rd_plot=rd_plot,
        event_study=dynamic, robustness=robust, matched=matched, input_additionality=additionality,
        reach=reach, tables=tables, notes=notes.frozen(), specification=spec)


def _cost_units(specs: Mapping[str, OutcomeSpec]) -> dict[str, CostUnit]:
    # standard outcomes as COST_UNITS; an agency's level or binary outcome per additional unit or firm
    out = {}
    for name, spec in specs.items():
        unit = cost_unit_of(spec)
        if unit is not None:
            out[name] = COST_UNITS[name] if spec.standard else CostUnit(unit, "level")
    return out


def _size_class_table(checked: Any, data: pd.DataFrame, fit: Any, design_est: Any, *, country: str,
                      instrument: str, outcomes: list[str], covariates: list[str], seed: int, alpha: float,
                      tag: SampleProvenance | None, notes: _Notes, est_method: str) -> pd.DataFrame:
    # each outcome's size-class effects with its headline's estimator (the forum pools and reweights them)
    terms: dict[str, str] = {}
    for outcome in outcomes:
        own = design_est.rows.loc[design_est.rows["outcome"] == outcome, "term"].tolist()
        term = headline_term(design_est.estimator, own) if own else None
        if term is not None:
            terms[outcome] = term
    by_outcome: dict[str, tuple[SizeClassEffect, ...]] = dict(design_size_class_effects(
        design_est, data, terms=terms, covariates=covariates, seed=seed, alpha=alpha))
    for outcome in outcomes:
        if outcome in terms:
            continue
        by_outcome[outcome] = size_class_effects(checked, partial(fit, yname=outcome, bootstrap=False))
        for eff in by_outcome[outcome]:
            if eff.fallback_reason:
                notes.add("heterogeneity", f"{outcome} ({eff.size_class}): {est_method} is not estimable "
                                           f"({eff.fallback_reason}); using regression adjustment (reg) "
                                           "instead.")
    rows = []
    for outcome in outcomes:
        for e in by_outcome[outcome]:
            family = "att_gt" if outcome not in terms else str(design_est.estimator)
            rows.append({"country": country, "instrument": instrument, "outcome": outcome,
                         "size_class": e.size_class, "estimator": e.estimator, "term": e.term,
                         "estimate": e.estimate, "std_error": e.std_error, "ci_low": e.ci_low,
                         "ci_high": e.ci_high,
                         "true_value": _truth(tag, family, e.term, outcome, e.size_class), "note": e.note})
    return pd.DataFrame(rows)


def _rd_plot(cross: pd.DataFrame, *, min_firms: int, notes: _Notes) -> RdPlotData | None:
    """Draw up the RD plot of the primary outcome: quantile-spaced bins hold about equally many firms.

    When the data-driven number of bins leaves a side without a bin of ``min_firms`` firms (a small call
    under a strict profile), the plot falls back to as many quantile bins per side as hold twice the
    minimum each.
    """
    plot = partial(rd_plot_data, cross, yname="change", scorename="score", cutoff="threshold",
                   call="application_year", idname=_ID, min_firms=min_firms)
    try:
        return plot(binselect="qsmv")
    except DisclosureError:
        centred = cross["score"] - cross["threshold"]
        sides = ((centred < 0).sum(), (centred >= 0).sum())
        below, above = (max(1, int(n) // (2 * min_firms)) for n in sides)
        try:
            return plot(binselect="qs", nbins=(below, above))
        except IpfEvalError as exc:
            notes.add("design", f"no RD plot: {exc}")
    except IpfEvalError as exc:
        notes.add("design", f"no RD plot: {exc}")
    return None


def _with_costs(estimates: pd.DataFrame, cost_rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Give the costed headline rows their cost per outcome and interval (empty where not reportable)."""
    out = estimates.assign(cost_per_outcome=math.nan, cost_ci_low=math.nan, cost_ci_high=math.nan,
                           cost_unit="")
    for c in cost_rows:
        if not math.isfinite(c["cost_per_unit"]):
            continue  # the effect is not distinguishable from zero (or negative): no cost per outcome
        at = ((out["outcome"] == c["outcome"]) & (out["estimator"] == c["estimator"])
              & (out["term"] == c["term"]))
        out.loc[at, ["cost_per_outcome", "cost_ci_low", "cost_ci_high"]] = [c["cost_per_unit"], c["ci_low"],
                                                                            c["ci_high"]]
        out.loc[at, "cost_unit"] = c["unit"]
    return out


def _truth(tag: SampleProvenance | None, family: str, term: str, outcome: str, subgroup: str = "") -> float:
    value = None if tag is None else tag.true_value(family, term, outcome, subgroup)
    return float("nan") if value is None else value


def _delivery_mix(applications: pd.DataFrame, *, country: str, instrument: str,
                  eligibility: pd.DataFrame | None, admin_costs: pd.DataFrame | None, profile: str,
                  notes: Any) -> pd.DataFrame:
    """Return the disclosure-checked counts by SME-mix stratum that the forum's agency benchmark pools."""
    mix = tuple(c for c in ("size_class", "sector") if c in applications.columns)
    if not mix:
        notes.add("reach", "The applications have no size_class or sector column: the counts for the "
                           "forum's agency benchmark adjusted for SME mix were skipped. Map a size class "
                           "column in the applications file to include them.")
        return empty_table("delivery_mix")
    if eligibility is not None and not all(c in eligibility.columns for c in mix):
        notes.add("reach", "The eligibility list lacks the SME-mix columns, so take-up among eligible firms "
                           "is not in the forum's agency benchmark.")
        eligibility = None
    try:
        agg = delivery_mix_aggregates(applications, country=country, instrument=instrument,
                                      eligibility=eligibility, admin_costs=admin_costs, mix=mix,
                                      profile=profile)
    except IpfEvalError as exc:
        notes.add("reach", f"The counts for the forum's agency benchmark could not be computed: {exc}")
        return empty_table("delivery_mix")
    for text in agg.notes:
        notes.add("reach", text)
    return agg.table


def _columns(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Give an empty table its schema's columns (a table with rows already has them)."""
    return frame if len(frame.columns) else empty_table(name)


def _unestimated_grade(design: str, outcome: str) -> EvidenceGrade:
    """Grade an estimate whose checks could not be computed: every required check is missing."""
    why = f"the {'staggered DiD' if design == 'did' else 'design estimator'} of {outcome} did not run"
    return evidence_grade(design=design, checks=[Check.missing(n, why) for n in required_checks(design)])


def _row_grades(did: DidAssessment, design: DesignAssessment, design_rows: pd.DataFrame,
                outcomes: list[str]) -> dict[tuple[str, str, str], EvidenceGrade]:
    """Each evidence row's grade, keyed by (grade design, outcome, term)."""
    grades: dict[tuple[str, str, str], EvidenceGrade] = {("did", o, "att"): g for o, g in did.grades.items()}
    for (outcome, term), g in design.grades.items():
        grades[(g.design, outcome, term)] = g
    for r in design_rows.itertuples():
        key = (GRADE_DESIGN[estimator_family(str(r.estimator))], str(r.outcome), str(r.term))
        if key not in grades:
            grades[key] = _unestimated_grade(key[0], key[1])
    return {k: grades[k] for k in sorted(grades, key=lambda k: (outcomes.index(k[1]) if k[1] in outcomes
                                                                  else len(outcomes), k))}


def _grade_columns(grade: EvidenceGrade) -> dict[str, Any]:
    return {"evidence_grade": grade.level, "checks_passed": ";".join(grade.passed),
            "checks_failed": ";".join(grade.failed), "checks_missing": ";".join(grade.missing),
            "grade_reasons": " ".join(_sentence(r) for r in grade.reasons)}


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(".") else f"{text}."


def _evidence_rows(did: pd.DataFrame, design: pd.DataFrame, *, inst: InstrumentParams, country: str,
                   tag: SampleProvenance | None, grades: Mapping[tuple[str, str, str], EvidenceGrade],
                   did_assessment: DidAssessment, n_firms: int, n_supported: int,
                   profile: str, specs: Mapping[str, OutcomeSpec]) -> pd.DataFrame:
    """Build the evidence rows before provenance: headline flags, each row's grade and checks, true values."""
    columns = ["outcome", "estimator", "term", "estimand", "n_obs", *_STATS]
    parts = [p[columns] for p in (did, design) if len(p)]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    frame = mark_headlines(frame, inst.design)
    family = frame["estimator"].map(estimator_family) if len(frame) else pd.Series(dtype=str)
    frame["grade_design"] = family.map(GRADE_DESIGN)
    extra = []
    for gd, outcome, term in zip(frame["grade_design"], frame["outcome"], frame["term"], strict=True):
        row = _grade_columns(grades[(gd, outcome, term)])
        power = did_assessment.power.get(outcome) if gd == "did" else None
        pre = did_assessment.pretrends.get(outcome) if gd == "did" else None
        honest = did_assessment.honest.get(outcome) if gd == "did" else None
        row.update(pretrend_p=math.nan if pre is None else pre.p_value,
                   pretrend_mde=math.nan if power is None else power.slope,
                   honest_breakdown_m=math.nan if honest is None else honest.breakdown_mbar)
        extra.append(row)
    frame = pd.concat([frame, pd.DataFrame(extra, index=frame.index,
                                           columns=[*_grade_columns(_unestimated_grade("did", "")),
                                                    "pretrend_p", "pretrend_mde", "honest_breakdown_m"])],
                      axis=1)
    frame["true_value"] = [_truth(tag, f, t, o) for f, t, o in zip(family, frame["term"], frame["outcome"],
                                                                    strict=True)]
    frame = frame.assign(country=country, instrument=inst.name, design=inst.design, n_firms=n_firms,
                         n_supported=n_supported, disclosure_profile=profile,
                         outcome_label=frame["outcome"].map(lambda o: specs[o].label),
                         outcome_kind=frame["outcome"].map(lambda o: specs[o].kind),
                         outcome_unit=frame["outcome"].map(lambda o: specs[o].unit))
    frame = frame.sort_values(["country", "instrument", "outcome", "estimator", "term"], kind="mergesort")
    return frame.reset_index(drop=True)


def _provenance(data: pd.DataFrame, inst: InstrumentParams, *, country: str, cost: ProgrammeCosts,
                profile: str, seed: int, tag: SampleProvenance | None, created: str,
                specs: Mapping[str, OutcomeSpec]) -> Provenance:
    # the run id names what determines the evidence rows; delivery data and the population only add the
    # delivery and population-mix tables, so the same estimates have the same run id with or without them
    data_sha = frame_sha256(data)
    inputs = {"instrument": inst.model_dump(mode="json"), "country": country,
              "costs": [cost.programme_cost_per_firm, cost.admin_cost_per_firm],
              "disclosure_profile": profile, "seed": seed, "data": data_sha, "version": __version__,
              "outcomes": {k: vars(v) for k, v in specs.items() if not v.standard},
              "schema_version": SCHEMA_VERSION}
    return Provenance(data_source="simulated" if tag is not None else "file", data_sha256=data_sha,
                      run_id=stable_hash(inputs)[:16], created=created, version=__version__, seed=seed,
                      simulation_seed=None if tag is None else tag.seed,
                      simulation_n_firms=None if tag is None else tag.n_firms)
