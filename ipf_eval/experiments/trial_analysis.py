r"""Analysis of a finished randomised trial against its pre-analysis plan, with every deviation listed.

:func:`analyse_trial` merges the outcome data with the design's (confidential) assignment, runs
:func:`~ipf_eval.experiments.rct` as the plan says (the assigned arm, the plan's strata, clusters,
covariates and standard errors), computes the randomisation-inference p-value by redrawing the assignment
with the design's own procedure (its re-randomisation rule included), and records each departure from the
plan as a :class:`Deviation`.

References
----------
Olken, B. A. (2015). Promises and pitfalls of pre-analysis plans. *Journal of Economic Perspectives*
29(3), 61-80.

Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate balance in experiments.
*Annals of Statistics* 40(2), 1263-1282.

Lin, W. (2013). Agnostic notes on regression adjustments to experimental data: reexamining Freedman's
critique. *Annals of Applied Statistics* 7(1), 295-318.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._cross_section import design_matrix
from ipf_eval._defaults import check_alpha, keyword_options
from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.experiments._randomise import column_names, randomise, stratum_keys, unit_structure
from ipf_eval.experiments.rct import RCTResult, rct
from ipf_eval.experiments.trial_design import TrialDesign
from ipf_eval.results import FrozenMapping, ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["DEVIATION_KINDS", "Deviation", "TrialAnalysis", "analyse_trial"]

_FN = "analyse_trial"

#: Every kind of :class:`Deviation`, in the order they are checked.
DEVIATION_KINDS: tuple[str, ...] = (
    "outcome_not_primary",
    "covariates_added",
    "covariates_dropped",
    "alpha_changed",
    "n_permutations_changed",
    "comparisons_dropped",
    "not_in_assignment",
    "missing_from_data",
    "missing_values",
    "arm_changed",
)


@dataclass(frozen=True)
class Deviation:
    """One departure of the analysis from the registered plan.

    Attributes
    ----------
    kind
        One of :data:`DEVIATION_KINDS`.
    message
        What departs, with counts (never firm identifiers).
    """

    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-safe dictionary."""
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True, eq=False)
class TrialAnalysis(ResultMixin):
    """A trial analysed against its plan.

    Attributes
    ----------
    results
        The :class:`~ipf_eval.experiments.RCTResult` of each treatment arm against the control arm, keyed
        by arm label (one entry for a two-arm trial).
    p_values_ri
        Randomisation-inference p-value of the ITT of each comparison (``None`` with
        ``n_permutations=0``), from redraws of the design's own assignment procedure and rule.
    deviations
        Every departure from the plan; empty when the plan was followed.
    plan_sha256
        The plan analysed against.
    yname, alpha
        The outcome analysed and the level used.
    n_analysed
        Firms in the comparisons (assigned to control or a compared arm, present in the data, complete).
    specification
        The arguments and counts.
    notes
        Remarks that are not deviations.
    """

    results: Mapping[str, RCTResult]
    p_values_ri: Mapping[str, float | None]
    deviations: tuple[Deviation, ...]
    plan_sha256: str
    yname: str
    alpha: float
    n_analysed: int
    specification: Specification
    notes: tuple[str, ...] = field(default=())

    @property
    def result(self) -> RCTResult:
        """The first (for a two-arm trial, the only) comparison's result; others are in ``results``."""
        return next(iter(self.results.values()))

    @property
    def followed_plan(self) -> bool:
        """Whether the analysis departs from the plan in nothing."""
        return not self.deviations

    def to_frame(self) -> pd.DataFrame:
        """Tidy table of every comparison: ``group`` is the treatment arm, ``outcome`` the outcome.

        Extra columns: ``p_value_ri`` (ITT rows) and, with more than one comparison, ``p_value_holm``
        (Holm-adjusted normal p-values of the ITTs).
        """
        rows: list[dict[str, Any]] = []
        for arm, res in self.results.items():
            for raw in res.table.to_dict(orient="records"):
                rec = {str(k): v for k, v in raw.items()}
                rec.update(group=arm, outcome=self.yname,
                           p_value_ri=self.p_values_ri.get(arm) if rec["term"] == "itt" else None)
                rows.append(rec)
        frame = tidy_frame(rows)
        frame["p_value_ri"] = frame["p_value_ri"].astype(float)
        if len(self.results) > 1:
            itt = frame["term"] == "itt"
            frame["p_value_holm"] = np.nan
            frame.loc[itt, "p_value_holm"] = _holm(frame.loc[itt, "p_value"].to_numpy(dtype=float))
        return frame

    def summary(self) -> Summary:
        """Return the printable summary; every deviation is a note."""
        facts = [("plan SHA-256", self.plan_sha256), ("outcome", self.yname),
                 ("firms analysed", str(self.n_analysed)),
                 ("deviations from the plan", str(len(self.deviations)) if self.deviations else "none")]
        facts += [(f"randomisation p-value ({arm})", "not computed" if p is None else f"{p:.4f}")
                  for arm, p in self.p_values_ri.items()]
        cols = ["term", "group", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]
        return Summary(title="Randomised trial analysed against its pre-analysis plan", facts=tuple(facts),
                       table=self.to_frame()[cols],
                       notes=(f"{100 * (1 - self.alpha):g}% normal confidence intervals; intention to treat "
                              "(assigned arm).",
                              *[f"Deviation ({d.kind}): {d.message}" for d in self.deviations], *self.notes))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({"plan_sha256": self.plan_sha256, "yname": self.yname, "alpha": self.alpha,
                          "n_analysed": self.n_analysed, "followed_plan": self.followed_plan,
                          "deviations": [d.to_dict() for d in self.deviations],
                          "p_values_ri": dict(self.p_values_ri), "table": self.to_frame(),
                          "results": {a: r.to_dict() for a, r in self.results.items()},
                          "notes": list(self.notes), "specification": self.specification.to_dict()})


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values."""
    order = np.argsort(p)
    m = p.size
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def _names(value: object, param: str) -> tuple[str, ...]:
    return column_names(value, param, _FN)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise SpecificationError(f"{_FN}(): `{name}` must be a non-negative integer; got {value!r}.")
    return int(value)


def _plan_deviations(plan_covs: tuple[str, ...], covs: tuple[str, ...], primary: str | None, yname: str,
                     secondary: tuple[str, ...], alpha: tuple[float, float], n_perm: tuple[int, int],
                     arms: tuple[tuple[str, ...], tuple[str, ...]]) -> list[Deviation]:
    out = []
    if yname != primary:
        where = ("a registered secondary outcome" if yname in secondary else "not an outcome of the plan")
        registered = f"({primary!r})" if primary is not None else "(the plan registered none)"
        out.append(Deviation("outcome_not_primary", f"outcome {yname!r} is not the registered primary "
                             f"outcome {registered}; it is {where}, so its tests are exploratory."))
    added, dropped = [c for c in covs if c not in plan_covs], [c for c in plan_covs if c not in covs]
    if added:
        out.append(Deviation("covariates_added", f"covariates {added!r} are not in the plan's adjustment set "
                             f"{list(plan_covs)!r}."))
    if dropped:
        out.append(Deviation("covariates_dropped", f"the plan's covariates {dropped!r} are left out."))
    if alpha[0] != alpha[1]:
        out.append(Deviation("alpha_changed", f"alpha {alpha[0]:g} instead of the plan's {alpha[1]:g}."))
    if n_perm[0] != n_perm[1]:
        out.append(Deviation("n_permutations_changed", f"{n_perm[0]} randomisation-inference permutations "
                             f"instead of the plan's {n_perm[1]}."))
    if len(arms[0]) < len(arms[1]):
        out.append(Deviation("comparisons_dropped", f"only {list(arms[0])!r} of the plan's treatment arms "
                             f"{list(arms[1])!r} are compared with control."))
    return out


@keyword_options
def analyse_trial(
    data: pd.DataFrame,
    design: TrialDesign,
    *,
    yname: str,
    covariates: str | Sequence[str] | None = None,
    arm_col: str | None = "arm",
    treatment: str | Sequence[str] | None = None,
    takeup: str | None = None,
    n_permutations: int | None = None,
    seed: int = 0,
    alpha: float | None = None,
) -> TrialAnalysis:
    r"""Analyse a finished trial as its pre-analysis plan says, and list every deviation from the plan.

    Parameters
    ----------
    data
        One row per firm with the outcome (and covariates, take-up, the arm applied); not modified.
        Matched to ``design.assignment`` on the design's ``idname``; its own strata, cluster and arm
        columns are not used for estimation (the assignment's are).
    design
        The :class:`~ipf_eval.experiments.TrialDesign` that drew the assignment.
    yname
        Outcome column; anything but the plan's primary outcome is flagged.
    covariates
        Adjustment covariates; ``None`` for the plan's (others are flagged as added or dropped).
    arm_col
        Column of the arm each firm actually ended up in, checked against the assignment (firms whose arm
        differs are counted; the analysis keeps the assigned arm: intention to treat). ``None``, or a
        column absent from ``data``, skips the check (a note says so).
    treatment
        Treatment arm(s) to compare with control; ``None`` for every treatment arm (as planned).
    takeup
        0/1 column of actual use of the support: adds the effect on users (Wald/IV), a secondary estimand.
    n_permutations
        Randomisation-inference permutations; ``None`` for the plan's number (the issue's default of 999
        is the plan's default: another number is a deviation). 0 skips randomisation inference.
    seed
        Seed of the permutations.
    alpha
        Level; ``None`` for the plan's (another level is flagged).

    Returns
    -------
    TrialAnalysis

    Raises
    ------
    SpecificationError
        ``design`` is not a TrialDesign; a ``treatment`` arm is not a treatment arm of the plan; invalid
        ``yname``, ``covariates``, ``n_permutations``, ``seed`` or ``alpha``.
    DataError
        ``data`` is not a DataFrame; missing columns; duplicated ids; no firm of ``data`` in the
        assignment; no complete rows.
    EstimationError
        From :func:`~ipf_eval.experiments.rct` (a stratum without both arms after attrition, a
        singular design).

    Notes
    -----
    With more than two arms each treatment arm :math:`k` is compared with the control arm on the firms
    of those two arms, :math:`\hat\tau_k` by :func:`rct` with stratum effects and Lin's (2013) adjustment,
    and the ITT p-values are also Holm-adjusted (``to_frame()``). Randomisation inference: the design's
    procedure (strata, whole clusters, largest-remainder quotas, the re-randomisation rule of Morgan &
    Rubin 2012 with its fallback) redraws :math:`B` assignments of all the design's firms; each is
    restricted to the firms analysed and :math:`\hat\tau_{k,b}` recomputed by the same regression;
    :math:`p_k = (1 + \#\{|\hat\tau_{k,b}| \ge |\hat\tau_k|\})/(1 + B)`, which tests the sharp null of no
    effect of any arm on any firm. Firms missing from the data or with missing values are dropped
    (deviations); under the sharp null their absence does not depend on the assignment.

    References
    ----------
    Olken (2015); Morgan & Rubin (2012); Lin (2013).

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from ipf_eval.experiments import design_trial
    >>> frame = pd.DataFrame({"firm_id": [f"F{i:03d}" for i in range(40)], "sector": ["C", "J"] * 20})
    >>> design = design_trial(frame, idname="firm_id", strata="sector", seed=1, yname="sales")
    >>> arm = frame["firm_id"].map(design.assignment.set_index("firm_id")["arm"])
    >>> data = frame.assign(sales=np.where(arm == "treatment", 2.0, 1.0) + np.arange(40) % 7 / 10)
    >>> res = analyse_trial(data, design, yname="sales", n_permutations=0)
    >>> [d.kind for d in res.deviations]
    ['n_permutations_changed']
    """
    if not isinstance(design, TrialDesign):
        raise SpecificationError(f"{_FN}(): `design` must be the TrialDesign returned by design_trial(); got "
                                 f"{type(design).__name__!r}.")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{_FN}(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    if not isinstance(yname, str):
        raise SpecificationError(f"{_FN}(): `yname` must be a column name (string); got {yname!r}.")
    plan, idname, assignment = design.plan, design.idname, design.assignment
    covs = plan.covariates if covariates is None else _names(covariates, "covariates")
    alpha_v = plan.alpha if alpha is None else check_alpha(alpha, function=_FN)
    n_perm = plan.n_permutations if n_permutations is None else _count("n_permutations", n_permutations)
    seed_v = _count("seed", seed)
    arms_t = plan.arms[1:] if treatment is None else _names(treatment, "treatment")
    bad = [a for a in arms_t if a not in plan.arms[1:]]
    if bad or not arms_t:
        raise SpecificationError(f"{_FN}(): `treatment` must name treatment arms of the plan "
                                 f"{list(plan.arms[1:])!r} (control is {plan.arms[0]!r}); got {treatment!r}.")
    used = list(dict.fromkeys([yname, *covs, *([takeup] if takeup else [])]))
    missing = [c for c in [idname, *used] if c not in data.columns]
    if missing:
        raise DataError(f"{_FN}(): column(s) {missing!r} not in `data` ({data.shape[1]} columns); check the "
                        "spelling of yname, covariates and takeup (ids are matched on the design's "
                        f"{idname!r}).")
    ids = data[idname]
    if ids.duplicated().any():
        raise DataError(f"{_FN}(): id column {idname!r} has {int(ids.duplicated(keep=False).sum())} rows "
                        f"sharing {int(ids[ids.duplicated()].nunique())} duplicated ids; `data` must hold "
                        "one row per firm.")
    deviations = _plan_deviations(plan.covariates, covs, plan.primary_outcome, yname, plan.secondary_outcomes,
                                  (alpha_v, plan.alpha), (n_perm, plan.n_permutations),
                                  (arms_t, plan.arms[1:]))
    in_plan = ids.isin(assignment[idname]).to_numpy()
    if not in_plan.any():
        raise DataError(f"{_FN}(): none of the {len(data)} firms of `data` is in the design's assignment "
                        f"(matched on {idname!r}: dtype {str(ids.dtype)!r} in data, "
                        f"{str(assignment[idname].dtype)!r} in the assignment). Check the id column.")
    if (~in_plan).any():
        deviations.append(Deviation("not_in_assignment", f"{int((~in_plan).sum())} firms of the data are not "
                                    "in the assignment; they are excluded from the analysis."))
    absent = int((~assignment[idname].isin(ids)).sum())
    if absent:
        deviations.append(Deviation("missing_from_data", f"{absent} of the {len(assignment)} assigned firms "
                                    "are missing from the data (attrition)."))
    own = [c for c in used if c not in assignment.columns]
    merged = assignment.merge(data.loc[in_plan, [idname, *own]], on=idname, how="inner", validate="1:1")
    incomplete = merged[used].isna().any(axis=1).to_numpy()
    if incomplete.any():
        per_col = {c: int(merged[c].isna().sum()) for c in used if merged[c].isna().any()}
        deviations.append(Deviation("missing_values", f"{int(incomplete.sum())} assigned firms have missing "
                                    f"values (by column: {per_col!r}) and are excluded."))
        merged = merged.loc[~incomplete].reset_index(drop=True)
    if merged.empty:
        raise DataError(f"{_FN}(): no assigned firm has complete values of {used!r}.")
    notes: list[str] = []
    if arm_col is not None and arm_col in data.columns:
        applied = data.loc[in_plan, [idname, arm_col]].rename(columns={arm_col: "__applied__"})
        both = assignment[[idname, "arm"]].merge(applied, on=idname, how="inner")
        changed = both["__applied__"].notna() & (both["__applied__"].astype(str) != both["arm"].astype(str))
        if changed.any():
            deviations.append(Deviation("arm_changed", f"{int(changed.sum())} firms ended up in another arm "
                                        f"than assigned (column {arm_col!r}); they are analysed in their "
                                        "assigned arm (intention to treat)."))
    else:
        notes.append(f"No arm column {arm_col!r} in the data: the arms applied were not checked against "
                     "the assignment.")
    # readable names: rct() quotes them in its messages (a stratum without both arms, ...)
    stratum_col = f"strata({', '.join(plan.strata)})"
    merged[stratum_col] = stratum_keys(merged, plan.strata).to_numpy()
    results: dict[str, RCTResult] = {}
    for arm in arms_t:
        sub = merged.loc[merged["arm"].isin([plan.arms[0], arm])].reset_index(drop=True)
        sub[f"assigned to {arm}"] = (sub["arm"] == arm).astype(int)
        results[arm] = rct(sub, yname=yname, treatname=f"assigned to {arm}", covariates=list(covs) or None,
                           takeup=takeup, strata=stratum_col if plan.n_strata > 1 else None,
                           cluster=plan.cluster, vce="hc2", n_permutations=0, alpha=alpha_v)
    p_ri = _randomisation_inference(design, merged, stratum_col, yname, covs, arms_t, n_perm, seed_v)
    args = {"yname": yname, "covariates": list(covs), "arm_col": arm_col, "treatment": list(arms_t),
            "takeup": takeup, "n_permutations": n_perm, "seed": seed_v, "alpha": alpha_v,
            "plan_sha256": plan.sha256}
    compared = merged.loc[merged["arm"].isin([plan.arms[0], *arms_t])]
    spec = Specification(estimator=_FN, arguments=args, n_obs=len(compared),
                         n_units=int(compared[plan.cluster].nunique()) if plan.cluster else len(compared),
                         seed=seed_v)
    return TrialAnalysis(results=FrozenMapping(results), p_values_ri=FrozenMapping(p_ri),
                         deviations=tuple(deviations), plan_sha256=plan.sha256, yname=yname, alpha=alpha_v,
                         n_analysed=len(compared), specification=spec, notes=tuple(notes))


def _itt(y: np.ndarray, z: np.ndarray, C: np.ndarray, D: np.ndarray, mask: np.ndarray) -> float:
    """Return the ITT of :func:`rct` on the firms in ``mask`` (Lin-interacted, with stratum effects)."""
    Dm = D[mask]
    Dm = Dm[:, Dm.any(axis=0)][:, 1:]
    W = np.column_stack([C[mask], Dm])
    W = W - W.mean(axis=0)
    zm = z[mask]
    X = np.column_stack([np.ones(zm.size), zm, W, zm[:, None] * W])
    return float(np.linalg.lstsq(X, y[mask], rcond=None)[0][1])


def _randomisation_inference(design: TrialDesign, merged: pd.DataFrame, stratum_col: str, yname: str,
                             covs: tuple[str, ...], arms_t: tuple[str, ...], n_perm: int,
                             seed: int) -> dict[str, float | None]:
    """RI p-values of every comparison, redrawing the design's assignment (rule included)."""
    plan = design.plan
    if n_perm == 0:
        return dict.fromkeys(arms_t)
    y = merged[yname].to_numpy(dtype=float)
    C = design_matrix(merged, list(covs), _FN)[0] if covs else np.empty((len(merged), 0))
    D = pd.get_dummies(merged[stratum_col].astype(str), dtype=float).to_numpy()
    code = {a: k for k, a in enumerate(plan.arms)}
    arm_obs = merged["arm"].map(code).to_numpy(dtype=np.int64)
    wanted = [code[a] for a in arms_t]

    def stats(arm: np.ndarray) -> np.ndarray:
        return np.array([_itt(y, (arm == k).astype(float), C, D, (arm == 0) | (arm == k)) for k in wanted])

    observed = stats(arm_obs)
    dd = design.design_data
    structure = unit_structure(dd, idname=design.idname, strata=plan.strata, cluster=plan.cluster)
    X_bal = dd[list(plan.covariates) if plan.rerandomise else []].to_numpy(dtype=float)
    pos = pd.Index(dd[design.idname]).get_indexer(merged[design.idname])
    rng = np.random.default_rng(seed)
    shares = np.asarray(plan.shares)
    exceed = np.zeros(len(wanted))
    tol = 1e-12 * np.maximum(1.0, np.abs(observed))
    for _ in range(n_perm):
        drawn = randomise(structure, X_bal, shares, rerandomise=plan.rerandomise, max_smd=plan.max_smd,
                          rng=rng).firm_arm[pos]
        exceed += np.abs(stats(drawn)) >= np.abs(observed) - tol
    return {a: float((1 + exceed[i]) / (1 + n_perm)) for i, a in enumerate(arms_t)}
