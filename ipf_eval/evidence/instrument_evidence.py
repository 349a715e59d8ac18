"""The evidence of one (country, instrument): a frozen record of everything its evaluation found.

:func:`ipf_eval.evidence.evaluate_instrument` returns an :class:`InstrumentEvidence`.  Its
:meth:`~InstrumentEvidence.to_frame` is exactly that evaluation's rows of ``reports/evidence.csv`` and
:meth:`~InstrumentEvidence.to_dict` the evidence record the batch writes (both validated by
:mod:`ipf_eval.evidence.schema`); the other attributes hold the results behind them for display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from ipf_eval.did import AggregateResult, HonestDidResult
from ipf_eval.disclosure import ProtectedTable
from ipf_eval.discontinuity import RdPlotData
from ipf_eval.errors import EstimationError
from ipf_eval.evidence.additionality import InputAdditionality
from ipf_eval.evidence.checks import PretrendPower
from ipf_eval.evidence.design_estimators import DesignEstimates
from ipf_eval.evidence.diagnostics import PretrendCheck
from ipf_eval.evidence.grading import EvidenceGrade
from ipf_eval.evidence.parameters import InstrumentParams, ProgrammeCosts
from ipf_eval.evidence.reach import ReachSummary
from ipf_eval.evidence.robustness import MatchedDidByCohort, TwfeComparison
from ipf_eval.evidence.schema import SCHEMA_NAME, SCHEMA_VERSION, TABLES, table_records, validate_table
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = ["InstrumentEvidence", "Provenance", "SampleSummary"]


@dataclass(frozen=True)
class Provenance:
    """Where an evaluation's numbers come from.

    Attributes
    ----------
    data_source
        ``"simulated"`` (the embedded simulator) or ``"file"`` (the agency's own data).
    data_sha256
        SHA-256 of the evaluated panel's content (:func:`ipf_eval.data.provenance.frame_sha256`).
    run_id
        16 hex digits identifying what determines the evidence rows (instrument parameters, country, costs,
        disclosure profile, seed, data, package and schema version): the same inputs give the same
        ``run_id``, whether or not delivery data were passed.
    created
        UTC time the evidence was produced (``YYYY-MM-DDTHH:MM:SSZ``); the batch keeps the time of the first
        run with the same inputs, so an identical re-run reproduces the evidence byte for byte.
    version
        ipf_eval version.
    seed
        Seed of every random step.
    simulation_seed, simulation_n_firms
        For simulated data, the :func:`~ipf_eval.data.simulate_firms` arguments that reproduce them.
    """

    data_source: str
    data_sha256: str
    run_id: str
    created: str
    version: str
    seed: int
    simulation_seed: int | None = None
    simulation_n_firms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"data_source": self.data_source, "data_sha256": self.data_sha256, "run_id": self.run_id,
                "created": self.created, "version": self.version, "seed": self.seed,
                "simulation_seed": self.simulation_seed, "simulation_n_firms": self.simulation_n_firms,
                "schema_version": SCHEMA_VERSION}


@dataclass(frozen=True, eq=False)
class SampleSummary:
    """The evaluation sample: firms, supported firms, years, cohorts, and firms by size class."""

    n_firms: int
    n_supported: int
    periods: tuple[int, ...]
    n_cohorts: int
    by_size_class: ProtectedTable | None


@dataclass(frozen=True, eq=False)
class InstrumentEvidence(ResultMixin):
    """Everything the evaluation of one instrument in one country found.

    Attributes
    ----------
    country
        ISO code.
    instrument
        The validated instrument parameters.
    costs
        The programme costs used for cost-effectiveness.
    disclosure_profile
        The profile every published table passed.
    provenance
        Data source, data hash, run id, time, version and seed.
    sample
        The evaluation sample.
    estimates
        The evidence rows (schema ``estimates``): one per outcome, estimator and term, with the headline
        flag, the grade of the design behind the row and, for simulated data, the true value.
    grade
        The evidence grade of the headline design (:attr:`grade_design`).
    did_grade
        The grade of the staggered DiD (the same as ``grade`` for an open call).
    grade_design
        ``"lottery"``, ``"rdd"`` or ``"did"``: the design the grade belongs to.
    grades
        The grade of every evidence row, keyed by ``(grade_design, outcome, term)``: each rests on the checks
        its design requires (:mod:`ipf_eval.evidence.assessment`).
    design_estimates
        The design's own estimator (lottery: RCT; scored call: RDD).
    pretrend
        The pre-trend check of the primary outcome's event study, or ``None`` without pre-periods.
    pretrend_power
        The power of that pre-trend test (Roth 2022), or ``None``.
    honest
        HonestDiD relative-magnitudes bounds of the primary outcome's event study, or ``None``.
    placebo
        For a scored call, the RDD of the primary outcome at placebo thresholds, or ``None``.
    rd_plot
        For a scored call, the RD plot of the primary outcome (binned means, bins of fewer than the
        profile's minimum number of firms left out), or ``None``.
    event_study
        The primary outcome's event study (``aggregate(kind="dynamic")``), or ``None``.
    robustness
        TWFE next to Callaway-Sant'Anna for the primary outcome.
    matched
        The matched DiD by support cohort, or ``None`` (no covariates, no estimate).
    input_additionality
        Additional R&D per euro of subsidy (when R&D spending is an outcome).
    reach
        Applications by call year and delivery indicators (when delivery data were given).
    tables
        The evidence tables besides ``estimates`` (``heterogeneity``, ``population_mix``, ``delivery``,
        ``costs``), each validated by its schema.
    notes
        Messages of each step (warnings and fallbacks), already passed through disclosure control.
    specification
        The call.
    """

    country: str
    instrument: InstrumentParams
    costs: ProgrammeCosts
    disclosure_profile: str
    provenance: Provenance
    sample: SampleSummary
    estimates: pd.DataFrame
    grade: EvidenceGrade
    did_grade: EvidenceGrade
    grade_design: str
    grades: Mapping[tuple[str, str, str], EvidenceGrade]
    design_estimates: DesignEstimates
    pretrend: PretrendCheck | None
    pretrend_power: PretrendPower | None
    honest: HonestDidResult | None
    placebo: pd.DataFrame | None
    rd_plot: RdPlotData | None
    event_study: AggregateResult | None
    robustness: TwfeComparison | None
    matched: MatchedDidByCohort | None
    input_additionality: InputAdditionality | None
    reach: ReachSummary | None
    tables: Mapping[str, pd.DataFrame]
    notes: Mapping[str, tuple[str, ...]]
    specification: Specification

    @property
    def headlines(self) -> pd.DataFrame:
        """The headline estimate of each outcome (a copy of those evidence rows)."""
        return self.estimates.loc[self.estimates["headline"]].reset_index(drop=True)

    def table(self, name: str) -> pd.DataFrame:
        """Return a copy of one evidence table (``estimates`` or one of :attr:`tables`)."""
        if name == "estimates":
            return self.to_frame()
        if name not in self.tables:
            raise KeyError(f"no evidence table {name!r}; the tables are {['estimates', *self.tables]!r}")
        return self.tables[name].copy()

    def to_frame(self) -> pd.DataFrame:
        """Return the evidence rows: exactly this evaluation's rows of ``reports/evidence.csv``."""
        return validate_table("estimates", self.estimates)

    def to_dict(self) -> dict[str, Any]:
        """Return the evidence record (JSON-safe): identifiers, provenance, grades and every table."""
        record: dict[str, Any] = {
            "schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION,
            "country": self.country, "instrument": self.instrument.name, "design": self.instrument.design,
            "label": self.instrument.label, "disclosure_profile": self.disclosure_profile,
            "provenance": self.provenance.to_dict(),
            "n_firms": self.sample.n_firms, "n_supported": self.sample.n_supported,
            "grade_design": self.grade_design, "evidence_grade": self.grade.level,
            "grade": self.grade.to_dict(), "did_grade": self.did_grade.to_dict(),
            "grades": [{"grade_design": d, "outcome": o, "term": t, **_grade_record(g)}
                       for (d, o, t), g in self.grades.items()],
            "pretrend": None if self.pretrend is None else self.pretrend.to_dict(),
            "pretrend_power": None if self.pretrend_power is None else asdict(self.pretrend_power),
            "honest": None if self.honest is None else self.honest.to_dict(),
            "placebo": None if self.placebo is None else self.placebo.to_dict(orient="records"),
            "costs_used": {"programme_cost_per_firm": self.costs.programme_cost_per_firm,
                           "admin_cost_per_firm": self.costs.admin_cost_per_firm,
                           "source": self.costs.source},
            "tables": {"estimates": table_records("estimates", self.estimates),
                       **{name: table_records(name, self.tables[name]) for name in TABLES
                          if name != "estimates"}},
            "notes": {step: list(texts) for step, texts in self.notes.items()},
        }
        return dict(json_safe(record))

    def grade_of(self, outcome: str, *, estimator: str | None = None, term: str | None = None
                 ) -> EvidenceGrade:
        """Return the grade of one evidence row (by default the outcome's headline).

        Raises
        ------
        KeyError
            If there is no such row.
        """
        rows = self.estimates.loc[self.estimates["outcome"] == outcome]
        if estimator is not None:
            rows = rows.loc[rows["estimator"] == estimator]
        if term is not None:
            rows = rows.loc[rows["term"] == term]
        if estimator is None and term is None:
            rows = rows.loc[rows["headline"]]
        if not len(rows):
            raise KeyError(f"no evidence row for outcome {outcome!r}, estimator {estimator!r}, term {term!r}")
        row = rows.iloc[0]
        return self.grades[(str(row["grade_design"]), outcome, str(row["term"]))]

    def summary(self) -> Summary:
        """Return the printable summary: the headline estimate of each outcome and the grade."""
        heads = self.headlines
        cols = ["outcome", "estimator", "term", "estimate", "ci_low", "ci_high", "p_value", "evidence_grade"]
        notes = [f"Simulated data (seed {self.provenance.simulation_seed}): the figures demonstrate the "
                 "method and are not an evaluation of the named agency."] \
            if self.provenance.data_source == "simulated" else []
        return Summary(
            title=f"Evidence: {self.instrument.label} ({self.instrument.name}), {self.country}",
            facts=(("Design", self.instrument.design),
                   ("Evidence grade", f"Maryland level {self.grade.level} ({self.grade_design})"),
                   ("Checks", _checks_in_words(self.grade)),
                   ("Firms", f"{self.sample.n_firms:,} ({self.sample.n_supported:,} supported)"),
                   ("Data", f"{self.provenance.data_source}, sha256 {self.provenance.data_sha256[:12]}"),
                   ("Run", f"{self.provenance.run_id}, {self.provenance.created}")),
            table=heads[cols],
            notes=tuple(notes),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Plot the primary outcome's event study; return the Axes.

        Raises
        ------
        EstimationError
            If the event study could not be estimated.
        """
        if self.event_study is None:
            raise EstimationError("no event study: the primary outcome's staggered DiD could not be "
                                  "estimated")
        return self.event_study.plot(ax=ax)


def _grade_record(grade: EvidenceGrade) -> dict[str, Any]:
    """Return a grade for the evidence record: without its specification, which repeats the checks."""
    record = grade.to_dict()
    record.pop("specification", None)
    return record


def _checks_in_words(grade: EvidenceGrade) -> str:
    parts = [f"{label} {', '.join(names)}" for label, names in
             (("passed", grade.passed), ("failed", grade.failed), ("missing", grade.missing)) if names]
    return "; ".join(parts) or "none required"
