"""Score thresholds: regression discontinuity through rdrobust (:func:`rdd`) and the density test."""

from ipf_eval.discontinuity.density import DensityResult, density_test
from ipf_eval.discontinuity.rdd import RDDResult, rdd

__all__ = ["DensityResult", "RDDResult", "density_test", "rdd"]
