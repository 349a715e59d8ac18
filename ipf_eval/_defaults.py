"""Package-wide defaults and the argument checks every layer shares.

A base module like :mod:`ipf_eval.errors` and :mod:`ipf_eval.results`: it imports nothing of the package
but the error tree, so the data, methods, evidence, synthesis and pipeline layers can all use it.  Every
function default and parameter-file default that means the same thing reads its value here, so the
estimators, the notebooks and the batch cannot drift apart.
"""

from __future__ import annotations

import math
import warnings
from typing import Final, Literal

import numpy as np

from ipf_eval.errors import EstimationWarning, SpecificationError

__all__ = ["CONTROL_GROUP", "MIN_CLUSTERS", "N_BOOT", "check_alpha", "warn_few_clusters"]

#: Default number of bootstrap draws (multiplier bootstrap of the DiD estimators, parametric bootstrap of
#: cost ratios).  With :math:`B = 999`, :math:`(B + 1)\alpha` is a whole number for the usual levels
#: (:math:`\alpha` = 0.01, 0.05, 0.10), the choice Davidson and MacKinnon (2000) recommend for bootstrap
#: tests.  Parameter files may ask for fewer draws (the default batch uses 199 to run quickly).
N_BOOT: Final = 999

#: Default comparison group of the staggered difference-in-differences estimators: firms never supported,
#: as in R ``did`` (Callaway and Sant'Anna 2021).  ``"not_yet_treated"`` adds firms supported later (more
#: comparison firms, but it assumes no anticipation before their own support).
CONTROL_GROUP: Final[Literal["never_treated", "not_yet_treated"]] = "never_treated"

#: Below this number of clusters a warning says that cluster-robust standard errors (and a cluster
#: multiplier bootstrap) are unreliable: with fewer than about 20 to 50 clusters the sandwich estimator is
#: biased downwards and Wald tests over-reject (Cameron and Miller 2015, section VI).
MIN_CLUSTERS: Final = 20

_FEW_CLUSTERS_REFERENCE = "Cameron and Miller 2015"


def check_alpha(alpha: object, *, function: str, parameter: str = "alpha") -> float:
    r"""Return a significance level as a float after checking that it lies strictly between 0 and 1.

    Parameters
    ----------
    alpha
        The value received.
    function
        Public name of the function whose argument it is, e.g. ``"att_gt"`` (named in the message).
    parameter
        Name of the argument, ``"alpha"`` unless the function calls its level something else.

    Returns
    -------
    float
        ``alpha`` as a Python float.

    Raises
    ------
    SpecificationError
        If ``alpha`` is not a real number (a bool is not) or does not satisfy :math:`0 < \alpha < 1`.

    Examples
    --------
    >>> check_alpha(0.05, function="att_gt")
    0.05
    """
    if isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool):
        value = float(alpha)
        if math.isfinite(value) and 0.0 < value < 1.0:
            return value
    raise SpecificationError(
        f"{parameter} of {function}() must be a number strictly between 0 and 1; got {alpha!r}. "
        f"It is the significance level, not the coverage: pass {parameter}=0.05 for 95% intervals."
    )


def warn_few_clusters(n_clusters: int, *, function: str, column: str | None, stacklevel: int = 2) -> None:
    """Warn with :class:`~ipf_eval.errors.EstimationWarning` when there are fewer than :data:`MIN_CLUSTERS`.

    Parameters
    ----------
    n_clusters
        Number of clusters in the data used.
    function
        Public name of the estimator (named in the message).
    column
        The cluster column.
    stacklevel
        As for :func:`warnings.warn`, counted from the caller of this function.

    Warns
    -----
    EstimationWarning
        When ``n_clusters < MIN_CLUSTERS``.
    """
    if n_clusters < MIN_CLUSTERS:
        warnings.warn(
            f"{function}(): only {n_clusters} clusters in {column!r}; cluster-robust standard errors are "
            f"unreliable with fewer than {MIN_CLUSTERS} clusters ({_FEW_CLUSTERS_REFERENCE}): treat the "
            "intervals as too narrow, or use randomisation inference or a wild cluster bootstrap",
            EstimationWarning,
            stacklevel=stacklevel + 1,
        )
