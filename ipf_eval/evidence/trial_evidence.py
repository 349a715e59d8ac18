r"""The evidence of a delivery trial: a new way of delivering a call, randomised, analysed as planned.

:func:`evaluate_delivery_trial` is the evaluation step of an instrument of design ``delivery_trial``
(:class:`~ipf_eval.evidence.parameters.DeliveryTrialParams`).  It takes the trial's registered design
(:func:`ipf_eval.experiments.design_trial`, drawn before the call) and the outcomes observed after it, and
returns a frozen :class:`DeliveryTrialEvidence` whose :meth:`~DeliveryTrialEvidence.to_dict` is an
evidence record like any other instrument's: the country report, the bundles and the synthesis read it
without knowing it comes from a trial.

* Outcomes observed for every assigned firm (0/1: started, completed an application) are analysed by
  :func:`ipf_eval.experiments.analyse_trial` exactly as the plan says: the intention-to-treat effect of
  the new delivery, with the plan's strata, covariates and randomisation inference.  Each becomes an
  evidence row (estimator ``rct``, term ``itt``, the headline).
* An outcome observed only for some firms (days to decision: only completed applications get a decision) is
  not randomised between the firms observed: the new delivery changes who completes.  It is reported as a
  comparison of means between arms among the firms observed, labelled as such, and is no evidence row.
* The grade is that of a randomised design (Maryland 5) when its checks pass: balance of the drawn arms on
  the plan's covariates (:func:`~ipf_eval.evidence.checks.lottery_balance_check`) and attrition (assigned
  firms missing from the outcome data, overall and by arm).  Every departure from the plan is listed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._files import stable_hash
from ipf_eval._version import __version__
from ipf_eval.data.provenance import frame_sha256
from ipf_eval.disclosure import PROFILES, get_profile
from ipf_eval.errors import DataError, IpfEvalError, SpecificationError
from ipf_eval.evidence.checks import lottery_balance_check
from ipf_eval.evidence.evaluate import _created
from ipf_eval.evidence.grading import (
    MAX_ATTRITION,
    MAX_DIFFERENTIAL_ATTRITION,
    Check,
    EvidenceGrade,
    evidence_grade,
)
from ipf_eval.evidence.instrument_evidence import Provenance
from ipf_eval.evidence.outcomes import OutcomeSpec, outcome_specs
from ipf_eval.evidence.parameters import DeliveryTrialParams, InstrumentParams, as_instrument
from ipf_eval.evidence.reach import population_mix
from ipf_eval.evidence.schema import (
    ESTIMATE_COLUMNS,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    TABLES,
    empty_table,
    table_records,
    validate_table,
)
from ipf_eval.experiments import TrialAnalysis, TrialDesign, analyse_trial, rct
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = ["DeliveryTrialEvidence", "evaluate_delivery_trial"]



@dataclass(frozen=True, eq=False)
class DeliveryTrialEvidence(ResultMixin):
    """Everything the evaluation of a delivery trial found (frozen).

    Attributes
    ----------
    country, instrument
        The agency and the instrument parameters (design ``delivery_trial``).
    design
        The registered :class:`~ipf_eval.experiments.TrialDesign` (its ``assignment`` is confidential).
    analyses
        One :class:`~ipf_eval.experiments.TrialAnalysis` per outcome analysed as randomised.
    estimates
        The evidence rows (:data:`~ipf_eval.evidence.schema.ESTIMATE_COLUMNS`).
    tables
        The other evidence tables (``heterogeneity``: each randomised outcome's effect by size class;
        ``population_mix``; the delivery and cost
        tables are empty: a trial has no programme cost of its own).
    grade
        The grade of the randomised estimates and the checks behind it.
    conditional
        Outcomes observed only for some firms: per outcome and arm the firms observed and their mean
        (disclosure-checked), and the difference; not randomised comparisons.
    provenance
        Where the numbers come from.
    disclosure_profile
        The profile every table passed.
    notes
        Messages by step, for the technical appendix.
    specification
        The call.
    """

    country: str
    instrument: InstrumentParams
    design: TrialDesign
    analyses: Mapping[str, TrialAnalysis]
    estimates: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    grade: EvidenceGrade
    conditional: pd.DataFrame
    provenance: Provenance
    disclosure_profile: str
    specification: Specification
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def trial(self) -> DeliveryTrialParams:
        """The trial block of the instrument file."""
        if self.instrument.trial is None:  # evaluate_delivery_trial refuses such an instrument
            raise SpecificationError(f"instrument {self.instrument.name!r} has no trial block")
        return self.instrument.trial

    def deviations(self) -> list[tuple[str, str, str]]:
        """Return every departure from the plan as ``(outcome, kind, message)``.

        Analysing a registered secondary outcome is no departure.
        """
        plan = self.design.plan
        out = []
        for outcome, analysis in self.analyses.items():
            for d in analysis.deviations:
                if d.kind == "outcome_not_primary" and outcome in plan.secondary_outcomes:
                    continue
                out.append((outcome, d.kind, d.message))
        return out

    def to_frame(self) -> pd.DataFrame:
        """Return the evidence rows (this evaluation's rows of ``reports/evidence.csv``)."""
        return validate_table("estimates", self.estimates)

    def to_dict(self) -> dict[str, Any]:
        """Return the evidence record (JSON-safe) with the plan and its fingerprints, never the assignment."""
        record: dict[str, Any] = {
            "schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
            "country": self.country, "instrument": self.instrument.name, "design": self.instrument.design,
            "label": self.instrument.label, "disclosure_profile": self.disclosure_profile,
            "provenance": self.provenance.to_dict(),
            "n_firms": int(self.design.plan.n_firms), "n_supported": int(self.design.plan.n_by_arm[1]),
            "grade_design": "lottery", "evidence_grade": self.grade.level, "grade": self.grade.to_dict(),
            "plan": self.design.plan.to_dict(),
            "deviations": [{"outcome": o, "kind": k, "message": m} for o, k, m in self.deviations()],
            "conditional": self.conditional.to_dict(orient="records"),
            "tables": {"estimates": table_records("estimates", self.estimates),
                       **{name: table_records(name, self.tables[name]) for name in TABLES
                          if name != "estimates"}},
            "notes": {step: list(texts) for step, texts in self.notes.items()},
        }
        return dict(json_safe(record))

    def summary(self) -> Summary:
        """Return the printable summary: the effects, the grade and the deviations."""
        facts = (("Country", self.country), ("Trial", self.instrument.label),
                 ("Evidence grade", f"Maryland level {self.grade.level}"),
                 ("Plan SHA-256", self.design.plan.sha256),
                 ("Deviations from the plan", str(len(self.deviations()))))
        return Summary(title=f"Delivery trial: {self.instrument.label} ({self.country})", facts=facts,
                       table=self.estimates[["outcome", "term", "estimate", "std_error", "ci_low", "ci_high",
                                             "p_value"]])


def _attrition(design: TrialDesign, outcomes: pd.DataFrame, idname: str) -> Check:
    """Check the assigned firms missing from the outcome data, overall and the difference between arms."""
    assigned = design.assignment[[idname, "arm"]]
    seen = assigned[idname].isin(outcomes[idname])
    overall = float(1.0 - seen.mean())
    by_arm = (1.0 - seen.groupby(assigned["arm"]).mean()).to_numpy(dtype=float)
    differential = float(by_arm.max() - by_arm.min()) if by_arm.size > 1 else 0.0
    figures = {"overall": overall, "differential": differential}
    if overall > MAX_ATTRITION or differential > MAX_DIFFERENTIAL_ATTRITION:
        return Check("attrition", "failed", overall, MAX_ATTRITION,
                     f"{100 * overall:.1f} % of the assigned firms have no outcome data "
                     f"({100 * differential:.1f} points more in one arm): the arms compared may no longer be "
                     "alike", figures)
    return Check("attrition", "passed", overall, MAX_ATTRITION,
                 f"{100 * overall:.1f} % of the assigned firms have no outcome data, "
                 f"{100 * differential:.1f} points apart between arms: within the limits", figures)


def _conditional(merged: pd.DataFrame, name: str, spec: OutcomeSpec,
                 arms: tuple[str, ...], min_firms: int) -> list[dict[str, Any]]:
    rows = []
    seen = merged.dropna(subset=[name])
    means = {}
    for arm in arms:
        values = seen.loc[seen["_assigned"] == arm, name].to_numpy(dtype=float)
        shown = values.size >= min_firms
        means[arm] = float(values.mean()) if shown else math.nan
        rows.append({"outcome": name, "label": spec.label, "unit": spec.unit, "arm": arm,
                     "n_firms": int(values.size) if shown else None, "mean": means[arm],
                     "difference": math.nan})
    rows[-1]["difference"] = means[arms[-1]] - means[arms[0]]
    return rows


def _size_class_effects(merged: pd.DataFrame, *, outcome: str, treatment: str, country: str,
                        instrument: str, min_firms: int) -> list[dict[str, Any]]:
    """ITT within each size class (strata within it), for the forum's twinning."""
    rows = []
    for size, grp in merged.groupby("size_class", sort=True):
        z = (grp["_assigned"] == treatment).astype(int)
        note, est = "", None
        if min(int(z.sum()), int((1 - z).sum())) < max(min_firms, 20):
            note = "fewer than 20 firms in an arm: not estimated"
        else:
            try:
                est = rct(grp.assign(_z=z), yname=outcome, treatname="_z", strata="_stratum",
                          n_permutations=0).table.iloc[0]
            except IpfEvalError as exc:
                note = f"not estimated: {exc}"
        rows.append({"country": country, "instrument": instrument, "outcome": outcome,
                     "size_class": str(size),
                     "estimator": "rct" if est is not None else None, "term": "itt",
                     "estimate": math.nan if est is None else float(est["estimate"]),
                     "std_error": math.nan if est is None else float(est["std_error"]),
                     "ci_low": math.nan if est is None else float(est["ci_low"]),
                     "ci_high": math.nan if est is None else float(est["ci_high"]),
                     "true_value": math.nan, "note": note})
    return rows


@keyword_options
def evaluate_delivery_trial(outcomes: pd.DataFrame, design: TrialDesign, instrument: InstrumentParams | str,
                            *, country: str, seed: int, disclosure_profile: str = "statistical_office",
                            created: str | None = None, data_source: str = "simulated",
                            truth: pd.DataFrame | None = None, population: pd.DataFrame | None = None,
                            idname: str = "firm_id") -> DeliveryTrialEvidence:
    r"""Evaluate a delivery trial as its registered plan says and build its evidence record.

    Parameters
    ----------
    outcomes
        One row per firm observed after the call: ``idname``, ``arm`` as recorded, the instrument's
        outcome columns and the plan's covariates; not modified.
    design
        The registered design (drawn before the call).
    instrument
        The instrument parameters (design ``delivery_trial``) or the path of its file.
    country, seed
        The agency and the seed of the randomisation inference.
    disclosure_profile
        Profile every published table passes.
    created
        UTC time stamp of the evidence (``YYYY-MM-DDTHH:MM:SSZ``); by default now.
    data_source
        ``"simulated"`` or ``"file"``.
    truth
        For simulated trials, the true effects (``outcome, size_class, effect``) written beside the estimates.
    population
        The country's firms, for its SME mix (``population_mix``); ``None``: none.
    idname
        The firm identifier column.

    Returns
    -------
    DeliveryTrialEvidence

    Raises
    ------
    SpecificationError
        The instrument's design is not ``delivery_trial``, an unknown option, a bad profile or data source.
    DataError
        An outcome column is missing from ``outcomes``.

    Notes
    -----
    For an outcome :math:`Y` observed for every assigned firm and random assignment :math:`Z` within strata,
    the estimand is the intention-to-treat effect
    :math:`\tau = \frac{1}{n}\sum_i \{Y_i(1) - Y_i(0)\}` of offering the new delivery to the eligible firms
    of this call, estimated with stratum effects and Lin's covariate adjustment
    (:func:`~ipf_eval.experiments.analyse_trial`).  For an outcome observed only when a firm completes an
    application, :math:`E[Y \mid Z = 1, \text{completed}] - E[Y \mid Z = 0, \text{completed}]` is shown
    but not as a causal effect: when the new delivery brings in other firms, the completers of the two arms
    differ (a principal-stratification problem; Frangakis and Rubin 2002).

    References
    ----------
    Athey, S., & Imbens, G. W. (2017). The econometrics of randomized experiments. Handbook of Economic
    Field Experiments, 1, 73-140.
    Frangakis, C. E., & Rubin, D. B. (2002). Principal stratification in causal inference. Biometrics,
    58(1), 21-29.
    Bhargava, S., & Manoli, D. (2015). Psychological frictions and the incomplete take-up of social
    benefits: evidence from an IRS field experiment. American Economic Review, 105(11), 3489-3529.
    """
    created = _created(created)
    inst = as_instrument(instrument)
    if inst.design != "delivery_trial" or inst.trial is None:
        raise SpecificationError(f"evaluate_delivery_trial: instrument {inst.name!r} has design "
                                 f"{inst.design!r}; it evaluates instruments of design 'delivery_trial' (use "
                                 "evaluate_instrument for the others)")
    if disclosure_profile not in PROFILES:
        raise SpecificationError(f"disclosure_profile must be one of {sorted(PROFILES)!r}; got "
                                 f"{disclosure_profile!r}")
    if data_source not in ("simulated", "file"):
        raise SpecificationError(f"data_source must be 'simulated' or 'file'; got {data_source!r}")
    trial = inst.trial
    specs = outcome_specs(inst.outcomes, custom=inst.custom_outcomes, where=f"instrument {inst.name!r}")
    missing = [spec.column for spec in specs.values() if spec.column not in outcomes.columns]
    if missing:
        raise DataError(f"the trial's outcome data lack the column(s) {missing!r} of the instrument's "
                        f"outcomes; the data have {len(outcomes.columns)} columns: map them in the "
                        "instrument file's custom_outcomes")
    data = outcomes.rename(columns={spec.column: name for name, spec in specs.items()
                                    if spec.column != name})
    min_firms = get_profile(disclosure_profile).min_firms
    plan = design.plan
    arms = plan.arms
    merged = data.merge(design.assignment[[idname, *plan.strata, "arm"]].rename(columns={"arm": "_assigned"}),
                        on=idname, how="inner", suffixes=("", "_plan"))
    merged["_stratum"] = merged[[c if c in data.columns else f"{c}_plan" for c in plan.strata]].astype(str) \
        .agg("|".join, axis=1) if plan.strata else "all"
    notes: dict[str, list[str]] = {"analysis": [], "checks": []}
    analyses: dict[str, TrialAnalysis] = {}
    rows, conditional, het = [], [], []
    for name, spec in specs.items():
        if data[name].isna().any():
            conditional += _conditional(merged, name, spec, arms, min_firms)
            notes["analysis"].append(f"{spec.label} is observed only for some firms, so it is compared "
                                     "between the firms observed in each arm, not as a randomised effect.")
            continue
        analysis = analyse_trial(data, design, yname=name, treatment=trial.treatment, seed=seed)
        analyses[name] = analysis
        itt = analysis.result.table.loc[analysis.result.table["term"] == "itt"].iloc[0]
        rows.append({"outcome": name, "estimator": "rct", "term": "itt", "headline": True,
                     "estimand": f"effect of {trial.treatment_label} on {spec.label} among the firms "
                                 "eligible for the call (intention to treat, randomised)",
                     "estimate": float(itt["estimate"]), "std_error": float(itt["std_error"]),
                     "statistic": float(itt["statistic"]), "p_value": float(itt["p_value"]),
                     "ci_low": float(itt["ci_low"]), "ci_high": float(itt["ci_high"]),
                     "n_obs": int(analysis.n_analysed), "outcome_label": spec.label,
                     "outcome_kind": spec.kind, "outcome_unit": spec.unit})
        if "size_class" in merged.columns:
            het += _size_class_effects(merged, outcome=name, treatment=trial.treatment, country=country,
                                       instrument=inst.name, min_firms=min_firms)
    if not rows:
        raise DataError("none of the trial's outcomes is observed for every assigned firm, so none can be "
                        "analysed as randomised; list at least one such outcome (e.g. completed)")
    cross = merged.assign(_z=(merged["_assigned"] == trial.treatment).astype(int))
    checks = [lottery_balance_check(cross, covariates=[c for c in plan.covariates if c in cross.columns],
                                    treat="_z"),
              _attrition(design, data, idname)]
    grade = evidence_grade(design="lottery", checks=checks)
    true = {} if truth is None else {str(r["outcome"]): float(r["effect"]) for r in truth.to_dict("records")
                                     if str(r.get("size_class", "all")) == "all"}
    data_sha = frame_sha256(outcomes)
    provenance = Provenance(
        data_source=data_source, data_sha256=data_sha,
        run_id=stable_hash({"instrument": inst.model_dump(mode="json"), "country": country, "seed": seed,
                            "data": data_sha, "plan": plan.sha256,
                            "profile": disclosure_profile, "version": __version__,
                            "schema_version": SCHEMA_VERSION})[:16],
        created=created, version=__version__, seed=seed)
    est = pd.DataFrame(rows).assign(
        country=country, instrument=inst.name, design=inst.design, evidence_grade=grade.level,
        grade_design="lottery", checks_passed=";".join(grade.passed), checks_failed=";".join(grade.failed),
        checks_missing=";".join(grade.missing), grade_reasons=" ".join(grade.reasons),
        pretrend_p=math.nan, pretrend_mde=math.nan, honest_breakdown_m=math.nan, cost_per_outcome=math.nan,
        cost_ci_low=math.nan, cost_ci_high=math.nan, cost_unit="",
        n_firms=int(plan.n_firms), n_supported=int(plan.n_by_arm[1]), disclosure_profile=disclosure_profile,
        data_source=data_source, data_sha256=provenance.data_sha256, run_id=provenance.run_id,
        created=created, version=__version__, schema_version=SCHEMA_VERSION, stale=False)
    est["true_value"] = est["outcome"].map(lambda o: true.get(o, math.nan))
    est = validate_table("estimates", est[list(ESTIMATE_COLUMNS)].sort_values(
        ["outcome", "estimator", "term"], ignore_index=True))
    mix = population_mix(population) if population is not None else pd.Series(dtype=float)
    mix_table = pd.DataFrame({"country": country, "instrument": inst.name, "size_class": list(mix.index),
                              "share": mix.to_numpy(dtype=float)})
    tables = {"heterogeneity": validate_table("heterogeneity", pd.DataFrame(het)) if het
              else empty_table("heterogeneity"),
              "population_mix": validate_table("population_mix", mix_table) if len(mix_table)
              else empty_table("population_mix"),
              **{name: empty_table(name) for name in ("delivery", "delivery_mix", "costs")}}
    spec_obj = Specification(estimator="evaluate_delivery_trial",
                             arguments={"instrument": inst.name, "country": country, "seed": seed,
                                        "disclosure_profile": disclosure_profile, "plan_sha256": plan.sha256},
                             n_obs=len(merged), n_units=int(merged[idname].nunique()), seed=seed)
    return DeliveryTrialEvidence(
        country=country, instrument=inst, design=design, analyses=analyses, estimates=est, tables=tables,
        grade=grade, conditional=pd.DataFrame(conditional, columns=["outcome", "label", "unit", "arm",
                                                                    "n_firms", "mean", "difference"]),
        provenance=provenance, disclosure_profile=disclosure_profile, specification=spec_obj,
        notes={k: tuple(v) for k, v in notes.items() if v})
