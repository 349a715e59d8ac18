"""Evidence per estimate: the evaluation of an instrument, grades, additionality, costs, reach and delivery.

:func:`evaluate_instrument` runs the whole evaluation of one (country, instrument) and returns an
:class:`InstrumentEvidence`; its rows follow the typed schema of :mod:`ipf_eval.evidence.schema` and are
written and read by :func:`write_evidence` and :func:`read_evidence`.
"""

from ipf_eval.evidence.additionality import (
    SURVEY_LABEL,
    InputAdditionality,
    OutputAdditionality,
    SurveyAdditionality,
    input_additionality,
    output_additionality,
    survey_additionality,
)
from ipf_eval.evidence.cost import OUTCOME_UNITS, CostEffectiveness, cost_effectiveness
from ipf_eval.evidence.delivery import (
    ACCEPTED_VALUES,
    LOWER_IS_BETTER,
    NOT_ACCEPTED_VALUES,
    DeliveryTable,
    benchmark_delivery,
    delivery_indicators,
    take_up,
)
from ipf_eval.evidence.evaluate import evaluate_instrument
from ipf_eval.evidence.grading import (
    CHECKS,
    DESIGNS,
    DIAGNOSTICS,
    OECD_STEPS,
    Check,
    EvidenceGrade,
    evidence_grade,
    required_checks,
)
from ipf_eval.evidence.instrument_evidence import InstrumentEvidence, Provenance, SampleSummary
from ipf_eval.evidence.parameters import (
    OUTCOMES,
    CostOverride,
    EstimatorParams,
    InstrumentCosts,
    InstrumentParams,
    ProgrammeCosts,
    load_instrument_file,
)
from ipf_eval.evidence.records import (
    evidence_frame,
    evidence_table,
    read_evidence,
    read_evidence_csv,
    validate_record,
    write_evidence,
)
from ipf_eval.evidence.schema import ESTIMATE_COLUMNS, SCHEMA_VERSION, TABLES, validate_table

__all__ = [
    "ACCEPTED_VALUES",
    "CHECKS",
    "DESIGNS",
    "DIAGNOSTICS",
    "ESTIMATE_COLUMNS",
    "LOWER_IS_BETTER",
    "NOT_ACCEPTED_VALUES",
    "OECD_STEPS",
    "OUTCOMES",
    "OUTCOME_UNITS",
    "SCHEMA_VERSION",
    "SURVEY_LABEL",
    "TABLES",
    "Check",
    "CostEffectiveness",
    "CostOverride",
    "DeliveryTable",
    "EstimatorParams",
    "EvidenceGrade",
    "InputAdditionality",
    "InstrumentCosts",
    "InstrumentEvidence",
    "InstrumentParams",
    "OutputAdditionality",
    "ProgrammeCosts",
    "Provenance",
    "SampleSummary",
    "SurveyAdditionality",
    "benchmark_delivery",
    "cost_effectiveness",
    "delivery_indicators",
    "evaluate_instrument",
    "evidence_frame",
    "evidence_grade",
    "evidence_table",
    "input_additionality",
    "load_instrument_file",
    "output_additionality",
    "read_evidence",
    "read_evidence_csv",
    "required_checks",
    "survey_additionality",
    "take_up",
    "validate_record",
    "validate_table",
    "write_evidence",
]
