"""Randomised experiments: design, pre-analysis plan, analysis against the plan, lotteries and power.

:func:`design_trial` draws the assignment and writes the plan, :func:`analyse_trial` analyses the finished
trial against it, :func:`rct` analyses lotteries among applicants and :func:`power` plans a pilot.
"""

from ipf_eval.experiments.power import PowerResult, power
from ipf_eval.experiments.rct import RCTResult, rct
from ipf_eval.experiments.trial_analysis import DEVIATION_KINDS, Deviation, TrialAnalysis, analyse_trial
from ipf_eval.experiments.trial_design import MIN_CELL_FIRMS, TrialDesign, assignment_sha256, design_trial
from ipf_eval.experiments.trial_plan import PreAnalysisPlan

__all__ = [
    "DEVIATION_KINDS",
    "MIN_CELL_FIRMS",
    "Deviation",
    "PowerResult",
    "PreAnalysisPlan",
    "RCTResult",
    "TrialAnalysis",
    "TrialDesign",
    "analyse_trial",
    "assignment_sha256",
    "design_trial",
    "power",
    "rct",
]
