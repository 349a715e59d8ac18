"""Score thresholds: regression discontinuity through rdrobust (:func:`rdd`), density test and RD plot."""

from ipf_eval.discontinuity.density import DensityResult, density_test
from ipf_eval.discontinuity.plot import RdPlotData, rd_plot_data
from ipf_eval.discontinuity.rdd import RDDResult, rdd

__all__ = ["DensityResult", "RDDResult", "RdPlotData", "density_test", "rd_plot_data", "rdd"]
