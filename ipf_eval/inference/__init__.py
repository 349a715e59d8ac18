"""Shared inference: influence-function variances, the multiplier bootstrap and sup-t uniform bands."""

from ipf_eval.inference.bootstrap import bootstrap_standard_errors, multiplier_draws, sup_t_critical_value
from ipf_eval.inference.dense import DenseInfluence
from ipf_eval.inference.influence import (
    HasInfluence,
    InfluenceFunction,
    cluster_sums,
    if_covariance,
    if_standard_errors,
)

__all__ = [
    "DenseInfluence",
    "HasInfluence",
    "InfluenceFunction",
    "bootstrap_standard_errors",
    "cluster_sums",
    "if_covariance",
    "if_standard_errors",
    "multiplier_draws",
    "sup_t_critical_value",
]
