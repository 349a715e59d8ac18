"""Evidence grades: the Maryland Scientific Methods Scale level of an estimate and the OECD "six steps" step.

The grade starts from the design (what the comparison group is) and is lowered by one level for every
diagnostic that failed, each with a stated reason.  It never falls below level 1.

========================  ===========  ==========  =====================================================
design                    base level   OECD step   rationale
========================  ===========  ==========  =====================================================
``lottery``, ``rct``      5            6           random assignment removes selection by design
``rdd``, ``iv``           4            6           quasi-random variation near a threshold / instrument
``did``                   3            6           comparison group removes time-invariant selection
``matching``              2            5           matched non-supported firms, selection on observables
``regression``            2            4           comparison with typical firms, controls only
``before_after``          1            3           change among recipients only, no comparison group
========================  ===========  ==========  =====================================================

The OECD step is a property of the design (how the counterfactual is built); failed diagnostics lower the
SMS level but not the step.  Storey's steps 1-3 are monitoring (take-up, recipients' opinions, recipients'
view of the difference made) and 4-6 evaluation (comparison with typical firms, with matched firms, and
taking account of selection bias).  Before-after comparisons have no comparison group, so they are placed
at the top of the monitoring steps; this is our judgement, not Storey's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval.errors import SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary

__all__ = [
    "DESIGNS",
    "DIAGNOSTICS",
    "OECD_STEPS",
    "Downgrade",
    "EvidenceGrade",
    "evidence_grade",
]

#: Base Maryland SMS level of each design.
DESIGNS: dict[str, int] = {
    "lottery": 5,
    "rct": 5,
    "rdd": 4,
    "iv": 4,
    "did": 3,
    "matching": 2,
    "regression": 2,
    "before_after": 1,
}

#: Storey's / OECD (2007) six steps, by number.
OECD_STEPS: dict[int, str] = {
    1: "take-up of the scheme",
    2: "recipients' opinions",
    3: "recipients' views of the difference made",
    4: "comparison of recipients with typical firms",
    5: "comparison with matched firms",
    6: "taking account of selection bias",
}

_DESIGN_STEP: dict[str, int] = {
    "lottery": 6, "rct": 6, "rdd": 6, "iv": 6, "did": 6, "matching": 5, "regression": 4, "before_after": 3,
}

_ALL = frozenset(DESIGNS)

#: Diagnostics understood by :func:`evidence_grade`: (failure category, designs it applies to).
DIAGNOSTICS: dict[str, tuple[str, frozenset[str]]] = {
    "pretrend_pvalue": ("pre_trends", frozenset({"did", "matching", "regression"})),
    "max_abs_smd": ("balance", frozenset({"lottery", "rct", "rdd", "did", "matching", "regression"})),
    "first_stage_f": ("first_stage", frozenset({"iv", "rdd", "lottery", "rct"})),
    "density_pvalue": ("manipulation", frozenset({"rdd"})),
    "attrition": ("attrition", _ALL),
    "differential_attrition": ("attrition", _ALL),
    "comparison_justified": ("comparison_group", frozenset({"did"})),
}


@dataclass(frozen=True)
class Downgrade:
    """One failed diagnostic: which, its value, the threshold it failed and the reason in words."""

    diagnostic: str
    category: str
    value: float | bool
    threshold: float | bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"diagnostic": self.diagnostic, "category": self.category, "value": self.value,
                "threshold": self.threshold, "reason": self.reason}


@dataclass(frozen=True, eq=False)
class EvidenceGrade(ResultMixin):
    """The evidence grade of one estimate.

    Attributes
    ----------
    design
        The design as given.
    base_level
        Maryland SMS level of the design before diagnostics.
    level
        Final level after downgrades (1 to 5).
    downgrades
        The failed diagnostics, one per failure category, with reasons.
    oecd_step
        Step of the OECD (2007) / Storey (1998) six-step framework that the design reaches.
    oecd_step_label
        The step's name.
    notes
        Diagnostics not supplied (the grade assumes them passed) or not applicable to the design.
    specification
        The call.
    """

    design: str
    base_level: int
    level: int
    downgrades: tuple[Downgrade, ...]
    oecd_step: int
    oecd_step_label: str
    notes: tuple[str, ...]
    specification: Specification

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons for the downgrades, in order."""
        return tuple(d.reason for d in self.downgrades)

    def to_frame(self) -> pd.DataFrame:
        """Return one row: design, base and final SMS level, OECD step and the downgrade reasons."""
        return pd.DataFrame([{
            "design": self.design, "base_level": self.base_level, "sms_level": self.level,
            "oecd_step": self.oecd_step, "oecd_step_label": self.oecd_step_label,
            "n_downgrades": len(self.downgrades), "reasons": "; ".join(self.reasons),
        }])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"design": self.design, "base_level": self.base_level, "sms_level": self.level,
                "oecd_step": self.oecd_step, "oecd_step_label": self.oecd_step_label,
                "downgrades": [d.to_dict() for d in self.downgrades], "notes": list(self.notes),
                "specification": self.specification.to_dict()}

    def summary(self) -> Summary:
        """Return the printable summary."""
        table = pd.DataFrame([d.to_dict() for d in self.downgrades],
                             columns=["diagnostic", "category", "value", "threshold", "reason"])
        return Summary(
            title="Evidence grade",
            facts=(("Design", self.design),
                   ("Maryland SMS level", f"{self.level} (design: {self.base_level})"),
                   ("OECD step", f"{self.oecd_step}: {self.oecd_step_label}")),
            table=table,
            notes=self.notes,
        )


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise SpecificationError(f"diagnostics[{name!r}] must be a finite number; got {value!r}.")
    if not low <= float(value) <= high:
        raise SpecificationError(f"diagnostics[{name!r}] must lie in [{low:g}, {high:g}]; got {value!r}.")
    return float(value)


def evidence_grade(
    *,
    design: str,
    diagnostics: Mapping[str, float | bool] | None = None,
    pretrend_alpha: float = 0.05,
    max_smd: float = 0.25,
    min_first_stage_f: float = 10.0,
    density_alpha: float = 0.05,
    max_attrition: float = 0.20,
    max_differential_attrition: float = 0.05,
) -> EvidenceGrade:
    r"""Grade the evidence behind an estimate on the Maryland Scientific Methods Scale.

    Parameters
    ----------
    design
        One of ``"lottery"``, ``"rct"``, ``"rdd"``, ``"iv"``, ``"did"``, ``"matching"``, ``"regression"``,
        ``"before_after"`` (see :data:`DESIGNS`).
    diagnostics
        Plain values from the estimation: ``pretrend_pvalue`` (joint pre-trend or placebo test),
        ``max_abs_smd`` (largest absolute standardised mean difference after adjustment),
        ``first_stage_f`` (first-stage F statistic), ``density_pvalue`` (manipulation test at the threshold),
        ``attrition`` and ``differential_attrition`` (shares, 0 to 1), ``comparison_justified`` (bool, DiD:
        whether the comparison group was argued to share the treated firms' trends).  Missing keys are
        treated as passed and listed in ``notes``; keys that do not apply to the design are ignored and
        listed too.
    pretrend_alpha
        The pre-trend test fails when its p-value is below this.
    max_smd
        Balance fails when the largest absolute standardised mean difference exceeds this.
    min_first_stage_f
        The first stage is weak when its F statistic is below this.
    density_alpha
        Manipulation is detected when the density test's p-value is below this.
    max_attrition, max_differential_attrition
        Attrition fails when the overall or the differential (treated minus control) attrition exceeds
        these.

    Returns
    -------
    EvidenceGrade
        Base and final SMS level, downgrades with reasons, OECD step.

    Raises
    ------
    SpecificationError
        If the design or a diagnostic name is unknown, or a diagnostic value is out of range.

    Notes
    -----
    Each failure *category* lowers the level by one: pre-trends, balance, first stage, manipulation,
    attrition (overall or differential) and an unjustified DiD comparison group.  The level is
    :math:`\max(1, L_{design} - \#\text{failed categories})`.

    Thresholds: :math:`p < 0.05` for pre-trend and density tests; :math:`|SMD| > 0.25` after adjustment
    (Stuart 2010; the What Works Clearinghouse treats differences above 0.25 SD as not adjustable; 0.1 is
    the stricter common target and can be set with ``max_smd=0.1``); :math:`F < 10` (Staiger and Stock
    1997); attrition above 20 % overall or 5 percentage points differential (close to the What Works
    Clearinghouse's cautious boundary).

    References
    ----------
    Sherman, L. W. et al. (1997). *Preventing Crime: What Works, What Doesn't, What's Promising*. US
    Department of Justice.
    What Works Centre for Local Economic Growth (2016). *Guide to Scoring Evidence Using the Maryland
    Scientific Methods Scale*.
    OECD (2007). *OECD Framework for the Evaluation of SME and Entrepreneurship Policies and Programmes*.
    Storey, D. J. (1998). *Six Steps to Heaven: Evaluating the Impact of Public Policies to Support Small
    Businesses in Developed Economies*. Warwick Business School.
    Stuart, E. A. (2010). Matching methods for causal inference. *Statistical Science*, 25(1), 1-21.

    Examples
    --------
    >>> from ipf_eval.evidence import evidence_grade
    >>> g = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.01, "max_abs_smd": 0.05})
    >>> g.level, g.oecd_step, g.reasons
    (2, 6, ('pre-trend test rejects parallel trends (p = 0.01 < 0.05)',))
    """
    if design not in DESIGNS:
        raise SpecificationError(
            f"design must be one of {sorted(DESIGNS)!r}; got {design!r}. Choose the design that built the "
            "comparison group."
        )
    for pname, pval, low, high in (
        ("pretrend_alpha", pretrend_alpha, 0.0, 1.0), ("density_alpha", density_alpha, 0.0, 1.0),
        ("max_attrition", max_attrition, 0.0, 1.0),
        ("max_differential_attrition", max_differential_attrition, 0.0, 1.0),
        ("max_smd", max_smd, 0.0, math.inf), ("min_first_stage_f", min_first_stage_f, 0.0, math.inf),
    ):
        if not isinstance(pval, (int, float)) or not low < float(pval) <= high:
            raise SpecificationError(f"{pname} must lie in ({low:g}, {high:g}]; got {pval!r}.")
    diag = dict(diagnostics or {})
    unknown = sorted(set(diag) - set(DIAGNOSTICS))
    if unknown:
        raise SpecificationError(
            f"unknown diagnostic(s) {unknown!r}; known diagnostics are {sorted(DIAGNOSTICS)!r}."
        )
    notes: list[str] = []
    failures: dict[str, Downgrade] = {}

    def fail(name: str, value: float | bool, threshold: float | bool, reason: str) -> None:
        category = DIAGNOSTICS[name][0]
        failures.setdefault(category, Downgrade(name, category, value, threshold, reason))

    for name, (_, applies) in DIAGNOSTICS.items():
        if design not in applies:
            if name in diag:
                notes.append(f"{name} does not apply to design {design!r} and was ignored.")
            continue
        if name not in diag:
            if name != "differential_attrition":
                notes.append(f"{name} not supplied: the grade assumes this check passed.")
            continue
        value = diag[name]
        if name == "comparison_justified":
            if not isinstance(value, bool):
                raise SpecificationError(
                    f"diagnostics['comparison_justified'] must be True or False; got {value!r}."
                )
            if not value:
                fail(name, value, True, "comparison group not justified (no argument that it shares the "
                     "supported firms' trends)")
        elif name == "pretrend_pvalue":
            v = _number(name, value, 0.0, 1.0)
            if v < pretrend_alpha:
                fail(name, v, pretrend_alpha, f"pre-trend test rejects parallel trends (p = {v:.3g} < "
                     f"{pretrend_alpha:g})")
        elif name == "max_abs_smd":
            v = _number(name, value, 0.0, math.inf)
            if v > max_smd:
                fail(name, v, max_smd, f"poor covariate balance (max |SMD| = {v:.3g} > {max_smd:g})")
        elif name == "first_stage_f":
            v = _number(name, value, 0.0, math.inf)
            if v < min_first_stage_f:
                fail(name, v, min_first_stage_f, f"weak first stage (F = {v:.3g} < {min_first_stage_f:g})")
        elif name == "density_pvalue":
            v = _number(name, value, 0.0, 1.0)
            if v < density_alpha:
                fail(name, v, density_alpha, f"manipulation at the threshold (density test p = {v:.3g} < "
                     f"{density_alpha:g})")
        elif name == "attrition":
            v = _number(name, value, 0.0, 1.0)
            if v > max_attrition:
                fail(name, v, max_attrition, f"high attrition ({v:.1%} > {max_attrition:.0%})")
        else:  # differential_attrition
            v = _number(name, value, 0.0, 1.0)
            if v > max_differential_attrition:
                fail(name, v, max_differential_attrition,
                     f"high differential attrition ({v:.1%} > {max_differential_attrition:.0%})")
    order = [DIAGNOSTICS[n][0] for n in DIAGNOSTICS]
    downgrades = tuple(failures[c] for c in dict.fromkeys(order) if c in failures)
    base = DESIGNS[design]
    level = max(1, base - len(downgrades))
    if base - len(downgrades) < 1:
        notes.append("the grade is floored at level 1.")
    step = _DESIGN_STEP[design]
    spec = Specification(
        estimator="evidence_grade",
        arguments={"design": design, "diagnostics": diag, "pretrend_alpha": pretrend_alpha,
                   "max_smd": max_smd,
                   "min_first_stage_f": min_first_stage_f, "density_alpha": density_alpha,
                   "max_attrition": max_attrition, "max_differential_attrition": max_differential_attrition},
        n_obs=0,
        n_units=0,
    )
    return EvidenceGrade(design=design, base_level=base, level=level, downgrades=downgrades, oecd_step=step,
                         oecd_step_label=OECD_STEPS[step], notes=tuple(notes), specification=spec)
