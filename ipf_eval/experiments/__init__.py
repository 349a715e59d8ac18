"""Randomised experiments: analysis of lotteries among applicants (:func:`rct`) and power (:func:`power`)."""

from ipf_eval.experiments.power import PowerResult, power
from ipf_eval.experiments.rct import RCTResult, rct

__all__ = ["PowerResult", "RCTResult", "power", "rct"]
