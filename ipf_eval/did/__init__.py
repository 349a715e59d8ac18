"""Difference-in-differences: 2x2, two-way fixed effects, Callaway-Sant'Anna, Sun-Abraham, Bacon."""

from ipf_eval.did._att_gt_results import AggregateResult, AttGtResult, PreTest
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt
from ipf_eval.did.bacon import COMPARISON_TYPES, BaconResult, bacon_decomposition
from ipf_eval.did.did_2x2 import DiD2x2Result, did_2x2
from ipf_eval.did.honest import HonestDidResult, honest_did
from ipf_eval.did.sun_abraham import EventStudyResult, event_study
from ipf_eval.did.twfe import TWFEResult, twfe

__all__ = [
    "COMPARISON_TYPES",
    "AggregateResult",
    "AttGtResult",
    "BaconResult",
    "DiD2x2Result",
    "EventStudyResult",
    "HonestDidResult",
    "PreTest",
    "TWFEResult",
    "aggregate",
    "att_gt",
    "bacon_decomposition",
    "did_2x2",
    "event_study",
    "honest_did",
    "twfe",
]
