"""Evidence grades: the Maryland Scientific Methods Scale level an estimate's checks earn, and its OECD step.

A design starts from its base level and each check the level requires must have been **computed and
passed**.  A check that failed lowers the level by one, with its reason; a check that could not be computed
(too few firms, no covariates, no pre-periods, not supplied) is **missing** and lowers the level by one too:
a missing check is never assumed passed.  The level is therefore the highest one whose required checks all
passed (each required check that did not pass takes one level away), and never below 1.

========================  ==========  ==========  ==========================================================
design                    base level  OECD step   required checks
========================  ==========  ==========  ==========================================================
``lottery``, ``rct``      5           6           ``balance``, ``attrition``; ``first_stage`` for an effect
                                                  on users (``takeup=True``)
``rdd``                   4           6           ``density``, ``covariate_continuity``,
                                                  ``bandwidth_sensitivity``; ``first_stage`` when fuzzy
``iv``                    4           6           ``first_stage``
``did``                   3           6           ``pre_trends`` (with power), ``balance``, ``overlap``
``matching``              2           5           ``balance``, ``overlap``
``regression``            2           4           ``balance``
``before_after``          1           3           none
========================  ==========  ==========  ==========================================================

The OECD step is a property of the design (how the counterfactual is built); checks lower the SMS level but
not the step.  Storey's steps 1-3 are monitoring (take-up, recipients' opinions, recipients' view of the
difference made) and 4-6 evaluation (comparison with typical firms, with matched firms, and taking account
of selection bias).  Before-after comparisons have no comparison group, so they are placed at the top of the
monitoring steps; this is our judgement, not Storey's.

The checks are computed by :mod:`ipf_eval.evidence.checks` and passed as :class:`Check` objects; for use by
hand, :func:`evidence_grade` also builds them from plain figures by name (``diagnostics``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = [
    "CHECKS",
    "DESIGNS",
    "DIAGNOSTICS",
    "MAX_ABS_SMD",
    "MAX_ATTRITION",
    "MAX_DIFFERENTIAL_ATTRITION",
    "MAX_EXTREME_SCORE_SHARE",
    "MIN_FIRST_STAGE_F",
    "MIN_PRETREND_POWER",
    "OECD_STEPS",
    "SIGNIFICANCE",
    "Check",
    "EvidenceGrade",
    "evidence_grade",
    "required_checks",
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

#: What each check verifies, in one line (the names are those of the evidence file).
CHECKS: dict[str, str] = {
    "balance": "baseline characteristics are balanced between the groups compared",
    "attrition": "outcomes are observed for nearly every firm, equally often in both arms",
    "first_stage": "assignment moves take-up of the support strongly enough",
    "density": "no sign that scores were manipulated around the threshold",
    "covariate_continuity": "baseline characteristics do not jump at the threshold",
    "bandwidth_sensitivity": "the estimate is stable at half and at double the bandwidth",
    "pre_trends": "no trend before support, with a test able to see one large enough to matter",
    "overlap": "comparison firms resemble the supported ones (propensity scores away from 0 and 1)",
    "comparison_justified": "the comparison group was argued to share the supported firms' trends",
}

_REQUIRED: dict[str, tuple[str, ...]] = {
    "lottery": ("balance", "attrition"),
    "rct": ("balance", "attrition"),
    "rdd": ("density", "covariate_continuity", "bandwidth_sensitivity"),
    "iv": ("first_stage",),
    "did": ("pre_trends", "balance", "overlap"),
    "matching": ("balance", "overlap"),
    "regression": ("balance",),
    "before_after": (),
}

#: Level of the significance tests behind a check (pre-trends, density, covariate continuity, omnibus
#: balance).
SIGNIFICANCE = 0.05
#: Largest absolute standardised mean difference accepted (What Works Clearinghouse 2020: differences above
#: 0.25 SD cannot be adjusted away; Stuart 2010).  0.1 is the stricter common target (``max_smd=0.1``).
MAX_ABS_SMD = 0.25
#: Smallest first-stage F statistic for an effect on users (Staiger and Stock 1997).
MIN_FIRST_STAGE_F = 10.0
#: Largest overall and differential attrition (What Works Clearinghouse 2020, close to its cautious boundary).
MAX_ATTRITION = 0.20
MAX_DIFFERENTIAL_ATTRITION = 0.05
#: Largest share of propensity scores outside [0.01, 0.99] (Crump, Hotz, Imbens and Mitnik 2009 trim at 0.1;
#: beyond 0.01 the weights of a firm exceed 99 comparison firms').
MAX_EXTREME_SCORE_SHARE = 0.05
#: Smallest probability with which the pre-trend test must detect the linear pre-trend that, continued after
#: support, would by itself produce the estimated effect (or an effect the design detects with 80 % power,
#: when the estimate is smaller): below one half the test is more likely than not to miss the very trend
#: that would explain the finding away, and its passing says little (Roth 2022 reports the power of
#: pre-tests at 50 % and 80 %).
MIN_PRETREND_POWER = 0.5

#: Figures :func:`evidence_grade` accepts by name, and the check each one feeds.
DIAGNOSTICS: dict[str, str] = {
    "pretrend_pvalue": "pre_trends",
    "pretrend_power": "pre_trends",
    "max_abs_smd": "balance",
    "balance_pvalue": "balance",
    "overlap_share": "overlap",
    "first_stage_f": "first_stage",
    "density_pvalue": "density",
    "covariate_pvalue": "covariate_continuity",
    "bandwidth_stable": "bandwidth_sensitivity",
    "attrition": "attrition",
    "differential_attrition": "attrition",
    "comparison_justified": "comparison_justified",
}

Status = Literal["passed", "failed", "missing"]


@dataclass(frozen=True)
class Check:
    """One check behind a grade: its verdict, the figure it rests on, and the reason in words.

    Attributes
    ----------
    name
        One of :data:`CHECKS`.
    status
        ``"passed"``, ``"failed"`` or ``"missing"`` (could not be computed; never counted as passed).
    value, threshold
        The figure the verdict rests on and the threshold it was compared with (``None`` when missing).
    reason
        The figure and the verdict, or why the check is missing, in plain words.
    figures
        Other figures of the check (e.g. the omnibus p-value of a balance check).
    """

    name: str
    status: Status
    value: float | None = None
    threshold: float | None = None
    reason: str = ""
    figures: Mapping[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in CHECKS:
            raise SpecificationError(f"Check(name=...) must be one of {sorted(CHECKS)!r}; got {self.name!r}")
        if self.status not in ("passed", "failed", "missing"):
            raise SpecificationError(f"Check(status=...) must be 'passed', 'failed' or 'missing'; got "
                                     f"{self.status!r}")

    @classmethod
    def missing(cls, name: str, why: str) -> Check:
        """Build a check that could not be computed, with the reason."""
        return cls(name, "missing", reason=f"{name} not computed: {why}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return dict(json_safe({"name": self.name, "status": self.status, "value": self.value,
                               "threshold": self.threshold, "reason": self.reason,
                               "figures": dict(self.figures)}))


@keyword_options
def required_checks(design: str, *, takeup: bool = False) -> tuple[str, ...]:
    """Return the checks a design's base level requires.

    Parameters
    ----------
    design
        One of :data:`DESIGNS`.
    takeup
        Whether the estimate uses take-up (a lottery's effect on users, a fuzzy RDD): then ``first_stage``
        is required as well.

    Raises
    ------
    SpecificationError
        If the design is unknown.
    """
    if design not in DESIGNS:
        raise SpecificationError(
            f"design must be one of {sorted(DESIGNS)!r}; got {design!r}. Choose the design that built the "
            "comparison group."
        )
    extra = ("first_stage",) if takeup and design in ("lottery", "rct", "rdd") else ()
    return _REQUIRED[design] + extra


@dataclass(frozen=True, eq=False)
class EvidenceGrade(ResultMixin):
    """The evidence grade of one estimate.

    Attributes
    ----------
    design
        The design as given.
    base_level
        Maryland SMS level of the design when every required check passes.
    level
        The level earned (1 to 5): one below the base for every required check that failed or is missing.
    checks
        Every required check (in the design's order), then any other check supplied.
    oecd_step
        Step of the OECD (2007) / Storey (1998) six-step framework that the design reaches.
    oecd_step_label
        The step's name.
    notes
        Figures supplied for checks the design does not use (ignored).
    specification
        The call.
    """

    design: str
    base_level: int
    level: int
    checks: tuple[Check, ...]
    oecd_step: int
    oecd_step_label: str
    notes: tuple[str, ...]
    specification: Specification

    def _names(self, status: Status) -> tuple[str, ...]:
        return tuple(c.name for c in self.checks if c.status == status)

    @property
    def passed(self) -> tuple[str, ...]:
        """Names of the checks that passed."""
        return self._names("passed")

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the checks that failed."""
        return self._names("failed")

    @property
    def missing(self) -> tuple[str, ...]:
        """Names of the checks that could not be computed."""
        return self._names("missing")

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the level is below the base: each failed or missing check's reason, in order."""
        return tuple(c.reason for c in self.checks if c.status != "passed")

    def check(self, name: str) -> Check:
        """Return the check called ``name``.

        Raises
        ------
        KeyError
            If the grade has no such check.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"the grade has no check {name!r}; it has {[c.name for c in self.checks]!r}")

    def to_frame(self) -> pd.DataFrame:
        """Return one row per check: name, status, value, threshold and reason."""
        return pd.DataFrame([{"check": c.name, "status": c.status, "value": c.value, "threshold": c.threshold,
                              "reason": c.reason} for c in self.checks],
                            columns=["check", "status", "value", "threshold", "reason"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return {"design": self.design, "base_level": self.base_level, "sms_level": self.level,
                "oecd_step": self.oecd_step, "oecd_step_label": self.oecd_step_label,
                "checks": [c.to_dict() for c in self.checks], "checks_passed": list(self.passed),
                "checks_failed": list(self.failed), "checks_missing": list(self.missing),
                "reasons": list(self.reasons), "notes": list(self.notes),
                "specification": self.specification.to_dict()}

    def summary(self) -> Summary:
        """Return the printable summary: the level and every check."""
        return Summary(
            title="Evidence grade",
            facts=(("Design", self.design),
                   ("Maryland SMS level", f"{self.level} (design: {self.base_level})"),
                   ("OECD step", f"{self.oecd_step}: {self.oecd_step_label}")),
            table=self.to_frame(),
            notes=self.notes,
        )


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise SpecificationError(f"diagnostics[{name!r}] must be a finite number; got {value!r}.")
    if not low <= float(value) <= high:
        raise SpecificationError(f"diagnostics[{name!r}] must lie in [{low:g}, {high:g}]; got {value!r}.")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecificationError(f"diagnostics[{name!r}] must be True or False; got {value!r}.")
    return value


def _from_diagnostics(name: str, d: Mapping[str, Any], t: Mapping[str, float]) -> Check:
    """Build one check from figures supplied by name (:data:`DIAGNOSTICS`)."""
    def fig(key: str, low: float = 0.0, high: float = 1.0) -> float | None:
        return _number(key, d[key], low, high) if key in d else None

    if name == "pre_trends":
        p, power = fig("pretrend_pvalue"), fig("pretrend_power")
        if p is None:
            return Check.missing(name, "no pre-trend p-value supplied")
        if p < t["pretrend_alpha"]:
            return Check(name, "failed", p, t["pretrend_alpha"],
                         f"pre-trend test rejects parallel trends (p = {p:.3g} < {t['pretrend_alpha']:g})")
        if power is None:
            return Check(name, "missing", p, t["pretrend_alpha"],
                         f"pre_trends not computed: the pre-trend test passed (p = {p:.3g}) but its power "
                         "was not computed, and a test without power says nothing")
        if power < t["min_pretrend_power"]:
            return Check(name, "failed", power, t["min_pretrend_power"],
                         f"pre-trend test too weak: it would detect a pre-support trend large enough to "
                         f"explain the effect only {power:.0%} of the time (p = {p:.3g})", {"p_value": p})
        return Check(name, "passed", p, t["pretrend_alpha"],
                     f"no pre-trend (p = {p:.3g}), and the test would detect a trend large enough to explain "
                     f"the effect {power:.0%} of the time", {"power": power})
    if name == "balance":
        smd, p = fig("max_abs_smd", 0.0, math.inf), fig("balance_pvalue")
        if smd is None:
            return Check.missing(name, "no standardised mean difference supplied")
        if smd > t["max_smd"]:
            return Check(name, "failed", smd, t["max_smd"],
                         f"poor covariate balance (max |SMD| = {smd:.3g} > {t['max_smd']:g})", {"p_value": p})
        if p is not None and p < t["balance_alpha"]:
            return Check(name, "failed", smd, t["max_smd"],
                         f"covariates differ jointly (omnibus p = {p:.3g} < {t['balance_alpha']:g})",
                         {"p_value": p})
        return Check(name, "passed", smd, t["max_smd"], f"balanced (max |SMD| = {smd:.3g})", {"p_value": p})
    if name == "overlap":
        share = fig("overlap_share")
        if share is None:
            return Check.missing(name, "no propensity-score overlap supplied")
        verdict: Status = "passed" if share <= t["max_extreme_share"] else "failed"
        words = "good overlap" if verdict == "passed" else "poor overlap"
        return Check(name, verdict, share, t["max_extreme_share"],
                     f"{words} ({share:.1%} of propensity scores outside [0.01, 0.99])")
    if name == "first_stage":
        f = fig("first_stage_f", 0.0, math.inf)
        if f is None:
            return Check.missing(name, "no first-stage F statistic supplied")
        if f < t["min_first_stage_f"]:
            return Check(name, "failed", f, t["min_first_stage_f"],
                         f"weak first stage (F = {f:.3g} < {t['min_first_stage_f']:g})")
        return Check(name, "passed", f, t["min_first_stage_f"], f"strong first stage (F = {f:.3g})")
    if name == "density":
        p = fig("density_pvalue")
        if p is None:
            return Check.missing(name, "no density test supplied")
        if p < t["density_alpha"]:
            return Check(name, "failed", p, t["density_alpha"],
                         f"manipulation at the threshold (density test p = {p:.3g} < {t['density_alpha']:g})")
        return Check(name, "passed", p, t["density_alpha"], f"no manipulation detected (density test p = "
                                                            f"{p:.3g})")
    if name == "covariate_continuity":
        p = fig("covariate_pvalue")
        if p is None:
            return Check.missing(name, "no covariate test at the threshold supplied")
        jumps: Status = "passed" if p >= t["covariate_alpha"] else "failed"
        words = "no covariate jumps" if jumps == "passed" else "a covariate jumps"
        return Check(name, jumps, p, t["covariate_alpha"],
                     f"{words} at the threshold (Bonferroni p = {p:.3g})")
    if name == "bandwidth_sensitivity":
        if "bandwidth_stable" not in d:
            return Check.missing(name, "no bandwidth sensitivity supplied")
        ok = _flag("bandwidth_stable", d["bandwidth_stable"])
        return Check(name, "passed" if ok else "failed", float(ok), 1.0,
                     "stable at half and double the bandwidth" if ok else
                     "the estimate moves outside its interval at half or double the bandwidth")
    if name == "attrition":
        a, diff = fig("attrition"), fig("differential_attrition")
        if a is None or diff is None:
            return Check.missing(name, "overall and differential attrition are both needed")
        if a > t["max_attrition"]:
            return Check(name, "failed", a, t["max_attrition"],
                         f"high attrition ({a:.1%} > {t['max_attrition']:.0%})", {"differential": diff})
        if diff > t["max_differential_attrition"]:
            return Check(name, "failed", diff, t["max_differential_attrition"],
                         f"high differential attrition ({diff:.1%} > {t['max_differential_attrition']:.0%})",
                         {"overall": a})
        return Check(name, "passed", a, t["max_attrition"],
                     f"low attrition ({a:.1%} overall, {diff:.1%} differential)", {"differential": diff})
    # comparison_justified
    ok = _flag("comparison_justified", d["comparison_justified"])
    return Check(name, "passed" if ok else "failed", float(ok), 1.0,
                 "comparison group justified" if ok else
                 "comparison group not justified (no argument that it shares the supported firms' trends)")


@keyword_options
def evidence_grade(
    *,
    design: str,
    checks: Sequence[Check] = (),
    diagnostics: Mapping[str, float | bool] | None = None,
    takeup: bool = False,
    pretrend_alpha: float = SIGNIFICANCE,
    max_smd: float = MAX_ABS_SMD,
    balance_alpha: float = SIGNIFICANCE,
    min_first_stage_f: float = MIN_FIRST_STAGE_F,
    density_alpha: float = SIGNIFICANCE,
    covariate_alpha: float = SIGNIFICANCE,
    max_attrition: float = MAX_ATTRITION,
    max_differential_attrition: float = MAX_DIFFERENTIAL_ATTRITION,
    max_extreme_share: float = MAX_EXTREME_SCORE_SHARE,
    min_pretrend_power: float = MIN_PRETREND_POWER,
) -> EvidenceGrade:
    r"""Grade the evidence behind an estimate on the Maryland Scientific Methods Scale.

    Parameters
    ----------
    design
        One of ``"lottery"``, ``"rct"``, ``"rdd"``, ``"iv"``, ``"did"``, ``"matching"``, ``"regression"``,
        ``"before_after"`` (see :data:`DESIGNS`).
    checks
        Computed checks (:class:`Check`, e.g. from :mod:`ipf_eval.evidence.checks`); a check given here wins
        over one built from ``diagnostics``.
    diagnostics
        Plain figures by name (:data:`DIAGNOSTICS`): ``pretrend_pvalue`` and ``pretrend_power``,
        ``max_abs_smd`` (and optionally ``balance_pvalue``, an omnibus test), ``overlap_share``,
        ``first_stage_f``, ``density_pvalue``, ``covariate_pvalue`` (Bonferroni over the covariates),
        ``bandwidth_stable`` (bool), ``attrition`` and ``differential_attrition`` (shares), and
        ``comparison_justified`` (bool, optional for a DiD).  A required check with no figure is missing.
    takeup
        The estimate uses take-up (a lottery's effect on users, a fuzzy RDD): ``first_stage`` is required.
    pretrend_alpha, balance_alpha, density_alpha, covariate_alpha
        Levels of the tests behind the checks.
    max_smd, min_first_stage_f, max_attrition, max_differential_attrition, max_extreme_share,
    min_pretrend_power
        Thresholds (defaults: the module constants, with their references).

    Returns
    -------
    EvidenceGrade
        Base and earned SMS level, every check with its verdict and reason, OECD step.

    Raises
    ------
    SpecificationError
        If the design, a check or a diagnostic name is unknown, a figure is out of range, or a threshold is
        invalid.

    Notes
    -----
    With :math:`R` the design's required checks, :math:`L = \max(1, L_{design} - |\{c \in R: c \text{ not
    passed}\}| - |\{c \notin R \text{ supplied}: c \text{ failed}\}|)`: a failed or missing required check
    costs one level, and so does a supplied optional check that failed (``comparison_justified``).

    References
    ----------
    Sherman, L. W. et al. (1997). *Preventing Crime: What Works, What Doesn't, What's Promising*. US
    Department of Justice.
    What Works Centre for Local Economic Growth (2016). *Guide to Scoring Evidence Using the Maryland
    Scientific Methods Scale*.
    What Works Clearinghouse (2020). *Standards Handbook, Version 4.1*. Institute of Education Sciences.
    OECD (2007). *OECD Framework for the Evaluation of SME and Entrepreneurship Policies and Programmes*.
    Storey, D. J. (1998). *Six Steps to Heaven*. Warwick Business School.
    Staiger, D. and Stock, J. H. (1997). Instrumental variables regression with weak instruments.
    *Econometrica*, 65(3), 557-586.
    Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel trends.
    *American Economic Review: Insights*, 4(3), 305-322.

    Examples
    --------
    >>> from ipf_eval.evidence import evidence_grade
    >>> g = evidence_grade(design="did", diagnostics={"pretrend_pvalue": 0.01, "max_abs_smd": 0.05,
    ...                                               "overlap_share": 0.0})
    >>> g.level, g.failed, g.missing
    (2, ('pre_trends',), ())
    """
    required = required_checks(design, takeup=takeup)
    thresholds = {"pretrend_alpha": pretrend_alpha, "balance_alpha": balance_alpha,
                  "density_alpha": density_alpha, "covariate_alpha": covariate_alpha,
                  "max_attrition": max_attrition, "max_differential_attrition": max_differential_attrition,
                  "max_extreme_share": max_extreme_share, "max_smd": max_smd,
                  "min_first_stage_f": min_first_stage_f,
                  "min_pretrend_power": min_pretrend_power}
    bounded = ("pretrend_alpha", "balance_alpha", "density_alpha", "covariate_alpha", "max_attrition",
               "max_differential_attrition", "max_extreme_share", "min_pretrend_power")
    for pname, pval in thresholds.items():
        high = 1.0 if pname in bounded else math.inf
        if isinstance(pval, bool) or not isinstance(pval, (int, float)) or not 0.0 < float(pval) <= high:
            raise SpecificationError(f"{pname} must lie in (0, {high:g}]; got {pval!r}.")
    diag = dict(diagnostics or {})
    unknown = sorted(set(diag) - set(DIAGNOSTICS))
    if unknown:
        raise SpecificationError(
            f"unknown diagnostic(s) {unknown!r}; known diagnostics are {sorted(DIAGNOSTICS)!r}."
        )
    given = {c.name: c for c in checks}
    if len(given) != len(checks):
        raise SpecificationError(f"checks name {[c.name for c in checks]!r}; give each check once")
    for c in checks:
        if not isinstance(c, Check):
            raise SpecificationError(f"checks must be Check objects; got {type(c).__name__}")
    optional = [n for n in dict.fromkeys([*given, *(DIAGNOSTICS[k] for k in diag)]) if n not in required]
    built: list[Check] = []
    notes: list[str] = []
    for name in [*required, *optional]:
        if name in given:
            built.append(given[name])
        elif name in required or (name == "comparison_justified" and design == "did"):
            built.append(_from_diagnostics(name, diag, thresholds))
        else:
            notes.append(f"{name} does not apply to design {design!r} and was ignored.")
    lost = sum(c.status != "passed" for c in built if c.name in required)
    lost += sum(c.status == "failed" for c in built if c.name not in required)
    base = DESIGNS[design]
    if base - lost < 1:
        notes.append("the grade is floored at level 1.")
    step = _DESIGN_STEP[design]
    spec = Specification(
        estimator="evidence_grade",
        arguments={"design": design, "checks": [c.to_dict() for c in checks], "diagnostics": diag,
                   "takeup": takeup, **thresholds},
        n_obs=0,
        n_units=0,
    )
    return EvidenceGrade(design=design, base_level=base, level=max(1, base - lost), checks=tuple(built),
                         oecd_step=step, oecd_step_label=OECD_STEPS[step], notes=tuple(notes),
                         specification=spec)
