r"""Conditional difference-in-differences for two periods: matching or weighting on before-after changes.

Most agency evaluations compare the change in an outcome between a baseline year and a follow-up year for
supported firms with the change for similar unsupported firms.  With two periods this is the
cross-sectional estimator of :mod:`ipf_eval.weighting` applied to :math:`\Delta Y_i = Y_{i,post} -
Y_{i,pre}` with baseline covariates (Heckman, Ichimura & Todd 1997; Abadie 2005; Sant'Anna & Zhao 2020).

References
----------
Abadie, A. (2005). Semiparametric difference-in-differences estimators. *Review of Economic Studies* 72,
1-19.

Heckman, J. J., Ichimura, H. and Todd, P. E. (1997). Matching as an econometric evaluation estimator.
*Review of Economic Studies* 64, 605-654.

Sant'Anna, P. H. C. and Zhao, J. (2020). Doubly robust difference-in-differences estimators. *Journal of
Econometrics* 219(1), 101-122.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_options, user_stack_level
from ipf_eval.errors import DataError, DataWarning, SpecificationError
from ipf_eval.results import DropRecord, Specification
from ipf_eval.weighting._result import EffectResult
from ipf_eval.weighting.ipw import aipw, ipw
from ipf_eval.weighting.matching import match

__all__ = ["conditional_did"]

_METHODS = {"aipw": aipw, "ipw": ipw, "match": match}
#: The options each method takes on top of the columns ``conditional_did`` passes itself.
_OPTIONS: dict[str, tuple[str, ...]] = {
    name: tuple(p for p in inspect.signature(func).parameters
                if p not in ("data", "yname", "treatname", "covariates"))
    for name, func in _METHODS.items()
}


def conditional_did(
    data: pd.DataFrame,
    *,
    yname: str,
    tname: str,
    idname: str,
    treatname: str,
    covariates: Sequence[str],
    pre: Any = None,
    post: Any = None,
    method: str = "aipw",
    **options: Any,
) -> EffectResult:
    r"""ATT on the before-after change of the outcome, by matching, IPW or doubly robust weighting.

    Parameters
    ----------
    data
        Long panel: one row per firm and period (not modified).
    yname
        Outcome column.
    tname
        Period column.
    idname
        Firm identifier.
    treatname
        0/1 column marking supported firms (constant within firm).
    covariates
        Baseline covariates, taken from the ``pre`` period rows.
    pre, post
        The two periods compared; default: the smallest and largest value of ``tname``.
    method
        ``"aipw"`` (default, Sant'Anna & Zhao 2020 doubly robust DiD), ``"ipw"`` (Abadie 2005 with
        normalised weights) or ``"match"`` (nearest neighbour on the score, Heckman et al. 1997).
    **options
        Options of the estimator chosen by ``method``: ``trim`` and ``alpha`` for ``"ipw"`` and ``"aipw"``;
        ``n_neighbors``, ``replace``, ``caliper``, ``estimand``, ``trim``, ``var_neighbors`` and ``alpha``
        for ``"match"``.  Any other name is refused before anything is estimated.

    Returns
    -------
    EffectResult
        ``method`` is ``"conditional_did:<method>"`` and ``outcome`` is ``"delta_<yname>"``.

    Raises
    ------
    DataError
        Missing columns, duplicate (firm, period) rows, a treatment that changes within a firm, or a period
        that is absent.
    SpecificationError
        Unknown ``method``, an option the method does not take, or ``pre`` not before ``post``.
    EstimationError
        As for the underlying estimator (no overlap, separation, every firm treated).

    Warns
    -----
    DataWarning
        Firms observed in only one of the two periods are dropped (count given).

    Notes
    -----
    The estimand is :math:`E[Y_{post}(1) - Y_{post}(0) \mid D=1]` under conditional parallel trends:
    :math:`E[\Delta Y(0) \mid X, D=1] = E[\Delta Y(0) \mid X, D=0]`, and overlap.
    """
    if method not in _METHODS:
        raise SpecificationError(
            f"conditional_did(): `method` must be one of {sorted(_METHODS)!r}; got {method!r}."
        )
    check_options(options, _OPTIONS[method], function="conditional_did",
                  accepts=f"besides the columns, pre, post and method, method={method!r} accepts")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"conditional_did(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    cols = list(dict.fromkeys([yname, tname, idname, treatname, *covariates]))
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"conditional_did(): column(s) {missing!r} not found in `data`.")
    frame = data.loc[:, cols]
    periods = np.sort(frame[tname].dropna().unique())
    pre = periods[0] if pre is None else pre
    post = periods[-1] if post is None else post
    pre = pre.item() if isinstance(pre, np.generic) else pre
    post = post.item() if isinstance(post, np.generic) else post
    if pre == post:
        raise SpecificationError(f"conditional_did(): `pre` and `post` are both {pre!r}; give two periods.")
    try:
        reversed_periods = bool(pre > post)
    except TypeError as exc:
        raise SpecificationError(
            f"conditional_did(): `pre`={pre!r} and `post`={post!r} cannot be ordered; pass two values of "
            f"{tname!r}."
        ) from exc
    if reversed_periods:
        raise SpecificationError(
            f"conditional_did(): `pre`={pre!r} is after `post`={post!r}; the baseline must come first (the "
            "change is post minus pre), so swap them."
        )
    for name, val in (("pre", pre), ("post", post)):
        if val not in set(periods.tolist()):
            raise DataError(
                f"conditional_did(): `{name}`={val!r} is not a value of {tname!r} (found "
                f"{periods.tolist()[:10]!r})."
            )
    two = frame[frame[tname].isin([pre, post])]
    if two.duplicated([idname, tname]).any():
        n_dup = int(two.duplicated([idname, tname]).sum())
        raise DataError(
            f"conditional_did(): {n_dup} duplicate ({idname!r}, {tname!r}) rows; keep one row per "
            "firm and period."
        )
    if (two.groupby(idname)[treatname].nunique(dropna=True) > 1).any():
        raise DataError(
            f"conditional_did(): {treatname!r} changes within firm between {pre!r} and {post!r}; it "
            "must mark the supported firms (constant within firm)."
        )
    a = two[two[tname] == pre].set_index(idname)
    b = two[two[tname] == post].set_index(idname)
    common = a.index.intersection(b.index)
    n_lost = int(len(a.index.union(b.index)) - len(common))
    dropped: list[DropRecord] = []
    if n_lost:
        warnings.warn(
            f"conditional_did(): dropped {n_lost} firms observed in only one of the periods {pre!r} and "
            f"{post!r}.",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped.append(DropRecord(reason="observed in one period only", n_rows=n_lost, n_units=n_lost))
    dname = f"delta_{yname}"
    wide = a.loc[common, [treatname, *covariates]].copy()
    wide[dname] = b.loc[common, yname].to_numpy() - a.loc[common, yname].to_numpy()
    wide = wide.reset_index()
    res = _METHODS[method](wide, yname=dname, treatname=treatname, covariates=covariates, **options)
    spec = res.specification
    args = {
        "yname": yname,
        "tname": tname,
        "idname": idname,
        "treatname": treatname,
        "covariates": covariates,
        "pre": pre,
        "post": post,
        "method": method,
        **dict(spec.arguments),
    }
    args["yname"] = yname
    new_spec = Specification(
        estimator="conditional_did",
        arguments=args,
        n_obs=2 * spec.n_obs,
        n_units=spec.n_units,
        dropped=(*dropped, *spec.dropped),
    )
    return dataclasses.replace(res, method=f"conditional_did:{method}", specification=new_spec)
