"""ipf_eval: evidence on SME support instruments for European public innovation agencies.

Functions over a tidy DataFrame and column names; frozen results with ``summary()``, ``to_frame()``,
``plot(ax=)`` and ``to_dict()``.  The layers: :mod:`ipf_eval.data` (contract, readers, simulator),
the methods (:mod:`ipf_eval.did`, :mod:`ipf_eval.weighting`, :mod:`ipf_eval.experiments`,
:mod:`ipf_eval.discontinuity`, :mod:`ipf_eval.inference`), the evidence layer (:mod:`ipf_eval.evidence`,
:mod:`ipf_eval.disclosure`), :mod:`ipf_eval.synthesis` and :mod:`ipf_eval.pipeline`; bundled real
examples in :mod:`ipf_eval.datasets`.
"""

from ipf_eval import datasets
from ipf_eval._version import __version__
from ipf_eval.data import michigan_training_grants, read_panel, simulate_firms, validate_panel
from ipf_eval.did import aggregate, att_gt, bacon_decomposition, did_2x2, event_study, honest_did, twfe
from ipf_eval.disclosure import check_result, check_table, get_profile, protect_table
from ipf_eval.discontinuity import density_test, rd_plot_data, rdd
from ipf_eval.errors import (
    DataError,
    DataWarning,
    DisclosureError,
    DisclosureWarning,
    EstimationError,
    EstimationWarning,
    IpfEvalError,
    IpfEvalWarning,
    ParameterError,
    PipelineError,
    SpecificationError,
)
from ipf_eval.evidence import (
    benchmark_delivery,
    cost_effectiveness,
    delivery_indicators,
    evidence_grade,
    input_additionality,
    output_additionality,
    survey_additionality,
    take_up,
)
from ipf_eval.experiments import power, rct
from ipf_eval.synthesis import meta_analysis, meta_regression, recommendations, transferability
from ipf_eval.weighting import aipw, balance, conditional_did, ipw, match, overlap

__all__ = [
    "DataError",
    "DataWarning",
    "DisclosureError",
    "DisclosureWarning",
    "EstimationError",
    "EstimationWarning",
    "IpfEvalError",
    "IpfEvalWarning",
    "ParameterError",
    "PipelineError",
    "SpecificationError",
    "__version__",
    "aggregate",
    "aipw",
    "att_gt",
    "bacon_decomposition",
    "balance",
    "benchmark_delivery",
    "check_result",
    "check_table",
    "conditional_did",
    "cost_effectiveness",
    "datasets",
    "delivery_indicators",
    "density_test",
    "did_2x2",
    "event_study",
    "evidence_grade",
    "get_profile",
    "honest_did",
    "input_additionality",
    "ipw",
    "match",
    "meta_analysis",
    "meta_regression",
    "michigan_training_grants",
    "output_additionality",
    "overlap",
    "power",
    "protect_table",
    "rct",
    "rd_plot_data",
    "rdd",
    "read_panel",
    "recommendations",
    "simulate_firms",
    "survey_additionality",
    "take_up",
    "transferability",
    "twfe",
    "validate_panel",
]
