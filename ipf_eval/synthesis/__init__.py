"""Synthesis across countries: meta-analysis, meta-regression, transferability and recommendations."""

from ipf_eval.synthesis.meta import EggerTest, MetaAnalysisResult, meta_analysis
from ipf_eval.synthesis.meta_regression import MetaRegressionResult, WaldTest, meta_regression
from ipf_eval.synthesis.recommendations import (
    OUTCOME_FAMILIES,
    VERDICTS,
    RecommendationTable,
    outcome_family,
    recommendations,
    verdict,
)
from ipf_eval.synthesis.transfer import TransferabilityResult, transferability

__all__ = [
    "OUTCOME_FAMILIES",
    "VERDICTS",
    "EggerTest",
    "MetaAnalysisResult",
    "MetaRegressionResult",
    "RecommendationTable",
    "TransferabilityResult",
    "WaldTest",
    "meta_analysis",
    "meta_regression",
    "outcome_family",
    "recommendations",
    "transferability",
    "verdict",
]
