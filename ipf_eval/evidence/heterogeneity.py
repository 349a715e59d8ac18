"""Effects by size class, for the report and the forum's transferability step.

Each outcome's effect is estimated separately within micro, small and medium firms **with the estimator
of its headline** (:mod:`ipf_eval.evidence.headline`), so that the forum reweights the same kind of estimate
it pools: the staggered DiD with the instrument's estimator choices and analytic standard errors
(:func:`size_class_effects`), or the design's own estimator on the applicants of each size class
(:func:`design_size_class_effects`: the lottery's effect on users, the scored call's robust
bias-corrected effect at the threshold).  A size class with fewer than :data:`MIN_SUPPORTED_FIRMS`
supported firms (for a lottery or a scored call: fewer than that many applicants on either side) is not
estimated: the estimate would be too noisy to say anything, and its cell too small to publish under most
disclosure profiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.data.contract import ValidatedPanel
from ipf_eval.did import aggregate
from ipf_eval.errors import IpfEvalError
from ipf_eval.evidence.design_estimators import RDD_VCE, DesignEstimates
from ipf_eval.evidence.fallbacks import FittedAttGt

__all__ = ["MIN_SUPPORTED_FIRMS", "SIZE_CLASSES", "SizeClassEffect", "design_size_class_effects",
           "size_class_effects"]

#: Size classes estimated, in this order.
SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium")
#: Fewest supported firms a size class needs to be estimated.
MIN_SUPPORTED_FIRMS = 20


@dataclass(frozen=True)
class SizeClassEffect:
    """The effect within one size class, or why it was not estimated."""

    size_class: str
    estimator: str | None = None
    term: str = "att"
    estimate: float | None = None
    std_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    note: str = ""
    fallback_reason: str = ""

    @property
    def estimated(self) -> bool:
        """Whether an estimate exists."""
        return self.estimate is not None


@keyword_options
def size_class_effects(checked: ValidatedPanel, fit: Callable[[pd.DataFrame], FittedAttGt], *,
                       idname: str = "firm_id", gname: str = "first_support_year",
                       size_column: str = "size_class") -> tuple[SizeClassEffect, ...]:
    """Estimate the simple-aggregated ATT within each size class.

    Parameters
    ----------
    checked
        The validated panel (with ``size_column``).
    fit
        Fits the staggered DiD of the outcome on a sub-panel (the evaluation's own estimator choices, no
        bootstrap), e.g. ``lambda sub: att_gt_with_fallback(sub, ...)``.
    idname, gname, size_column
        Column names; a firm's size class is its first observed value.

    Returns
    -------
    tuple of SizeClassEffect
        One per size class in :data:`SIZE_CLASSES`.
    """
    data = checked.data
    if size_column not in data.columns:
        note = f"no {size_column!r} column: not estimated"
        return tuple(SizeClassEffect(s, note=note) for s in SIZE_CLASSES)
    firms = data.groupby(idname, sort=True).first().reset_index()
    out: list[SizeClassEffect] = []
    for size in SIZE_CLASSES:
        sub = data.loc[data[idname].isin(firms.loc[firms[size_column] == size, idname])]
        if (sub.groupby(idname)[gname].first() > 0).sum() < MIN_SUPPORTED_FIRMS:
            out.append(SizeClassEffect(size, note=f"fewer than {MIN_SUPPORTED_FIRMS} supported firms: not "
                                                  "estimated"))
            continue
        try:
            fitted = fit(sub)
            r = aggregate(fitted.result, kind="simple").to_frame().iloc[0]
        except IpfEvalError as exc:
            out.append(SizeClassEffect(size, note=f"not estimated: {type(exc).__name__}"))
            continue
        out.append(SizeClassEffect(size, fitted.estimator, "att", float(r["estimate"]), float(r["std_error"]),
                                   float(r["ci_low"]), float(r["ci_high"]), "", fitted.fallback_reason))
    return tuple(out)


def _firm_sizes(panel: pd.DataFrame, idname: str, size_column: str) -> pd.Series:
    return panel.groupby(idname, sort=True)[size_column].first()


@keyword_options
def design_size_class_effects(design: DesignEstimates, panel: pd.DataFrame, *, terms: Mapping[str, str],
                              covariates: Sequence[str] = (), seed: int, alpha: float,
                              idname: str = "firm_id",
                              size_column: str = "size_class") -> dict[str, tuple[SizeClassEffect, ...]]:
    """Estimate the design's own headline term within each size class of applicants.

    Parameters
    ----------
    design
        The design's estimates (:func:`ipf_eval.evidence.design_estimators.design_estimates`), whose
        applicant cross-sections are split by size class.
    panel
        The evaluation sample (for each applicant's size class, its first observed value).
    terms
        The headline term of each outcome whose headline is the design's estimator (``late`` or ``itt``
        for a lottery, ``robust`` for a scored call); other outcomes are skipped.
    covariates
        The evaluation's baseline covariates (as in the whole-sample estimate).
    seed, alpha
        Seed and 1 minus the coverage (no randomisation inference within size classes: analytic standard
        errors, as the forum pools them).
    idname, size_column
        Column names.

    Returns
    -------
    dict
        Per outcome, one :class:`SizeClassEffect` per size class in :data:`SIZE_CLASSES`.

    Notes
    -----
    Each size class is analysed exactly as the whole sample: a lottery with :func:`ipf_eval.rct` (Lin's
    adjustment, the effect on users through take-up), a scored call with :func:`ipf_eval.rdd` at each
    call's threshold, its own MSE-optimal bandwidth and the same variance estimator
    (:data:`~ipf_eval.evidence.design_estimators.RDD_VCE`).  The estimand is the design's, restricted to the
    size class: the effect on users among the size class's applicants, or the effect at the threshold for
    firms of that size class.
    """
    if not design.estimator or size_column not in panel.columns:
        note = (f"no {size_column!r} column: not estimated" if design.estimator else
                "no design estimator: not estimated")
        return {o: tuple(SizeClassEffect(s, design.estimator or None, t, note=note) for s in SIZE_CLASSES)
                for o, t in terms.items()}
    from ipf_eval.discontinuity import rdd
    from ipf_eval.experiments import rct

    sizes = _firm_sizes(panel, idname, size_column)
    out: dict[str, tuple[SizeClassEffect, ...]] = {}
    for outcome, term in terms.items():
        cross = design.cross_sections.get(outcome)
        if cross is None:
            out[outcome] = tuple(SizeClassEffect(s, design.estimator, term, note="the design's estimator did "
                                                 "not run for this outcome") for s in SIZE_CLASSES)
            continue
        cross = cross.assign(**{size_column: cross[idname].map(sizes)})
        effects = []
        for size in SIZE_CLASSES:
            sub = cross.loc[cross[size_column] == size].reset_index(drop=True)
            sides = sub["arm"].value_counts() if design.estimator == "rct" else (
                sub["score"] >= sub["threshold"]).value_counts()
            if len(sides) < 2 or int(sides.min()) < MIN_SUPPORTED_FIRMS:
                effects.append(SizeClassEffect(size, design.estimator, term,
                                               note=f"fewer than {MIN_SUPPORTED_FIRMS} applicants on a side: "
                                                    "not estimated"))
                continue
            try:
                res: Any
                if design.estimator == "rct":
                    res = rct(sub, yname="change", treatname="arm", takeup="used",
                              covariates=list(covariates) or None, n_permutations=0, seed=seed, alpha=alpha)
                else:
                    res = rdd(sub, yname="change", scorename="score", cutoff="threshold", takeup="used",
                              call="application_year", covariates=list(covariates) or None, alpha=alpha,
                              vce=RDD_VCE, density=False, sensitivity=())
                rows = res.to_frame().set_index("term")
                r = {k: float(v) for k, v in rows.loc[term, ["estimate", "std_error", "ci_low",
                                                          "ci_high"]].items()}
            except (IpfEvalError, KeyError) as exc:
                effects.append(SizeClassEffect(size, design.estimator, term,
                                               note=f"not estimated: {type(exc).__name__}"))
                continue
            effects.append(SizeClassEffect(size, design.estimator, term, float(r["estimate"]),
                                           float(r["std_error"]), float(r["ci_low"]), float(r["ci_high"])))
        out[outcome] = tuple(effects)
    return out
