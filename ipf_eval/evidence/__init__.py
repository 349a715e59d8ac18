"""Evidence per estimate: grades, additionality, cost-effectiveness, reach and delivery."""

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
from ipf_eval.evidence.grading import (
    DESIGNS,
    DIAGNOSTICS,
    OECD_STEPS,
    Downgrade,
    EvidenceGrade,
    evidence_grade,
)

__all__ = [
    "ACCEPTED_VALUES",
    "DESIGNS",
    "DIAGNOSTICS",
    "LOWER_IS_BETTER",
    "NOT_ACCEPTED_VALUES",
    "OECD_STEPS",
    "OUTCOME_UNITS",
    "SURVEY_LABEL",
    "CostEffectiveness",
    "DeliveryTable",
    "Downgrade",
    "EvidenceGrade",
    "InputAdditionality",
    "OutputAdditionality",
    "SurveyAdditionality",
    "benchmark_delivery",
    "cost_effectiveness",
    "delivery_indicators",
    "evidence_grade",
    "input_additionality",
    "output_additionality",
    "survey_additionality",
    "take_up",
]
