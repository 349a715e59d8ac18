r"""Manipulation test at the threshold: the Cattaneo, Jansson & Ma (2020) local polynomial density test.

The test is computed by the ``rddensity`` package (Cattaneo, Jansson & Ma), which this module calls;
nothing is re-implemented. It tests :math:`H_0: f(c^-) = f(c^+)`, continuity of the density of the score
at the threshold: a jump suggests that firms (or evaluators) sort around the threshold (McCrary 2008).

References
----------
Cattaneo, M. D., Jansson, M. and Ma, X. (2020). Simple local polynomial density estimators. *Journal of the
American Statistical Association* 115(531), 1449-1455.

Cattaneo, M. D., Jansson, M. and Ma, X. (2018). Manipulation testing based on density discontinuity. *The
Stata Journal* 18(1), 234-261.

McCrary, J. (2008). Manipulation of the running variable in the regression discontinuity design: a density
test. *Journal of Econometrics* 142(2), 698-714.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.discontinuity._score import centred_score
from ipf_eval.errors import EstimationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["DensityResult", "density_test", "run_density_test"]


@dataclass(frozen=True, eq=False)
class DensityResult(ResultMixin):
    r"""Result of the density (manipulation) test at the threshold.

    Attributes
    ----------
    statistic, p_value
        Robust bias-corrected t statistic of :math:`\hat f(c^+) - \hat f(c^-)` and its two-sided p-value
        (jackknife variance, the rddensity default).
    density_left, density_right
        Estimated density just below and just above the threshold.
    h_left, h_right
        Bandwidths on each side.
    n_left, n_right
        Firms below and at/above the threshold (whole sample).
    n_eff_left, n_eff_right
        Firms inside the bandwidths.
    method
        Description of the test.
    """

    statistic: float
    p_value: float
    density_left: float
    density_right: float
    h_left: float
    h_right: float
    n_left: int
    n_right: int
    n_eff_left: int
    n_eff_right: int
    method: str
    specification: Specification
    x: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    def to_frame(self) -> pd.DataFrame:
        """Return a one-row tidy table (``estimate`` = density difference right minus left)."""
        return tidy_frame(
            [
                {
                    "term": "density_jump",
                    "estimate": self.density_right - self.density_left,
                    "statistic": self.statistic,
                    "p_value": self.p_value,
                    "method": self.method,
                }
            ]
        )

    def summary(self) -> Summary:
        """Return the printable summary."""
        return Summary(
            title="Manipulation test at the threshold",
            facts=(
                ("method", self.method),
                ("firms left / right", f"{self.n_left} / {self.n_right}"),
                ("bandwidth left / right", f"{self.h_left:.4g} / {self.h_right:.4g}"),
            ),
            table=self.to_frame()[["term", "estimate", "statistic", "p_value"]],
            notes=("H0: the density of the score is continuous at the threshold.",),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Histogram of the centred score within the bandwidths; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        x = self.x[(self.x >= -self.h_left) & (self.x <= self.h_right)]
        edges = np.unique(
            np.concatenate([np.linspace(-self.h_left, 0, 11), np.linspace(0, self.h_right, 11)])
        )
        ax.hist(x, bins=edges, density=True, color="tab:blue", alpha=0.6)
        ax.axvline(0, color="black", linewidth=1)
        ax.set_xlabel("score minus threshold")
        ax.set_ylabel("density")
        ax.set_title(f"density test p = {self.p_value:.3f}")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (no per-firm scores)."""
        return json_safe(
            {
                "statistic": self.statistic,
                "p_value": self.p_value,
                "density_left": self.density_left,
                "density_right": self.density_right,
                "h_left": self.h_left,
                "h_right": self.h_right,
                "n_left": self.n_left,
                "n_right": self.n_right,
                "n_eff_left": self.n_eff_left,
                "n_eff_right": self.n_eff_right,
                "method": self.method,
                "specification": self.specification.to_dict(),
            }
        )


@keyword_options
def run_density_test(x: np.ndarray, spec: Specification) -> DensityResult:
    """Run ``rddensity`` on the centred score ``x`` (threshold 0) and wrap the result.

    Raises
    ------
    EstimationError
        rddensity failed (for example too few distinct scores on one side).
    """
    rddensity = importlib.import_module("rddensity").rddensity

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = rddensity(X=np.asarray(x, dtype=float), c=0.0)
    except Exception as exc:  # rddensity raises bare Exception
        raise EstimationError(
            f"density test: rddensity failed ({exc}); the score may have too few distinct "
            "values near the threshold."
        ) from exc
    t = float(res.test["t_jk"])
    p = float(res.test["p_jk"])
    if not np.isfinite(t) or not np.isfinite(p):
        raise EstimationError(
            "density test: rddensity returned a non-finite statistic; the score may have too "
            "few distinct values near the threshold."
        )
    h = res.h
    hl, hr = float(h["left"]), float(h["right"])
    return DensityResult(
        statistic=t,
        p_value=p,
        density_left=float(res.hat["left"]),
        density_right=float(res.hat["right"]),
        h_left=hl,
        h_right=hr,
        n_left=int((x < 0).sum()),
        n_right=int((x >= 0).sum()),
        n_eff_left=int(((x < 0) & (x >= -hl)).sum()),
        n_eff_right=int(((x >= 0) & (x <= hr)).sum()),
        method="Cattaneo-Jansson-Ma (2020) local polynomial density test (rddensity, jackknife)",
        specification=spec,
        x=np.asarray(x, dtype=float),
    )


@keyword_options
def density_test(
    data: pd.DataFrame, *, scorename: str, cutoff: float | str, call: str | None = None
) -> DensityResult:
    r"""Test for manipulation of the score at the threshold (Cattaneo, Jansson & Ma 2020).

    Parameters
    ----------
    data
        One row per firm (not modified).
    scorename
        Score column.
    cutoff
        Threshold: a number, or the name of a column holding each firm's threshold (per call).
    call
        Column identifying the call; with a threshold column, the threshold must be constant within call.

    Returns
    -------
    DensityResult

    Raises
    ------
    DataError
        Missing columns, non-numeric or infinite scores, a threshold that varies within a call.
    SpecificationError
        A threshold outside the range of the scores.
    EstimationError
        The test cannot be computed.

    Notes
    -----
    The densities on each side are estimated by local quadratic density estimators (``rddensity``
    defaults: triangular kernel, bandwidths chosen separately on each side); the statistic is
    :math:`T = (\hat f_+ - \hat f_-)/\hat\sigma` with jackknife standard error.

    References
    ----------
    Cattaneo, Jansson & Ma (2020); McCrary (2008).
    """
    x, _, dropped = centred_score(
        data, scorename=scorename, cutoff=cutoff, call=call, extra=(), func="density_test"
    )
    spec = Specification(
        estimator="density_test",
        arguments={"scorename": scorename, "cutoff": cutoff, "call": call},
        n_obs=x.size,
        n_units=x.size,
        dropped=dropped,
    )
    return run_density_test(x, spec)
