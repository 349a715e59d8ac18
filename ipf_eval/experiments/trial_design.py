r"""Design of a randomised trial among applicant firms, with a registered pre-analysis plan.

:func:`design_trial` draws a stratified (blocked) random assignment, optionally re-randomised until the
arms balance on baseline covariates, computes the minimum detectable effect of the planned sample and
writes a :class:`PreAnalysisPlan` whose SHA-256 fingerprints (of the plan and of the assignment) an agency
can register before the outcomes exist.  :func:`ipf_eval.experiments.analyse_trial` later analyses the
finished trial against that plan and lists every deviation from it.

References
----------
Bloom, H. S. (1995). Minimum detectable effects: a simple way to report the statistical power of
experimental designs. *Evaluation Review* 19(5), 547-556.

Bruhn, M. and McKenzie, D. (2009). In pursuit of balance: randomization in practice in development field
experiments. *American Economic Journal: Applied Economics* 1(4), 200-232.

Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate balance in experiments.
*Annals of Statistics* 40(2), 1263-1282.

Lin, W. (2013). Agnostic notes on regression adjustments to experimental data: reexamining Freedman's
critique. *Annals of Applied Statistics* 7(1), 295-318.

Olken, B. A. (2015). Promises and pitfalls of pre-analysis plans. *Journal of Economic Perspectives*
29(3), 61-80.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, keyword_options, user_stack_level
from ipf_eval.errors import DataError, EstimationWarning, SpecificationError
from ipf_eval.experiments._randomise import anova_icc, column_names, randomise, smd_matrix, unit_structure
from ipf_eval.experiments.power import PowerResult
from ipf_eval.experiments.power import power as power_calculation
from ipf_eval.experiments.trial_plan import PreAnalysisPlan
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe

__all__ = ["MIN_CELL_FIRMS", "PreAnalysisPlan", "TrialDesign", "assignment_sha256", "design_trial"]

#: Smallest number of firms behind a published mean: arms with fewer firms have their balance-table
#: means and differences suppressed (the usual threshold rule of statistical disclosure control).
MIN_CELL_FIRMS = 10

_FN = "design_trial"
_ARM = "arm"


@dataclass(frozen=True, eq=False)
class TrialDesign(ResultMixin):
    """A drawn assignment, its balance, its power and the pre-analysis plan.

    Attributes
    ----------
    assignment
        One row per firm, sorted by id: ``idname``, the strata columns, the cluster column (if any) and
        ``arm``.  **Confidential local data**: it links firm identifiers to arms and must not be published
        or sent with the plan; the agency keeps it and registers only ``plan.assignment_sha256``.
    plan
        The :class:`PreAnalysisPlan` (publishable: no firm identifiers).
    balance
        Balance table (publishable): per balance variable and arm, over the whole sample, the number of
        firms, the mean, the difference from the control arm and the standardized mean difference; values
        resting on an arm of fewer than :data:`MIN_CELL_FIRMS` firms are suppressed (``NaN``,
        ``suppressed=True``).  No per-stratum values are published.
    power_results
        The :func:`~ipf_eval.experiments.power` calculation behind each minimum detectable effect, one per
        treatment arm (against control).
    specification
        The arguments, the number of firms and units, the seed.
    design_data
        **Confidential**: the firm-level columns the randomisation used (ids, strata, cluster, balance
        variables), in the order of ``assignment``; :func:`analyse_trial` redraws the assignment from it
        for randomisation inference.
    notes
        Remarks on the draw (re-randomisation outcome, suppressed cells).
    """

    assignment: pd.DataFrame
    plan: PreAnalysisPlan
    balance: pd.DataFrame
    power_results: tuple[PowerResult, ...]
    specification: Specification
    design_data: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def idname(self) -> str:
        """The firm identifier column."""
        return str(self.specification.arguments["idname"])

    def to_frame(self) -> pd.DataFrame:
        """Return the (publishable) balance table; the confidential assignment is ``self.assignment``."""
        return self.balance.copy()

    def summary(self) -> Summary:
        """Return the printable summary (no firm identifiers)."""
        p = self.plan
        facts = [
            ("arms (firms)", ", ".join(f"{a} ({n})" for a, n in zip(p.arms, p.n_by_arm, strict=True))),
            ("strata", f"{p.n_strata} ({', '.join(p.strata) or 'none'})"),
            ("seed", str(p.seed)),
            ("re-randomisation", _rule_fact(p)),
            *[(f"MDE {a} vs {p.arms[0]}", f"{m:.4g} ({p.mde_units})") for a, m in zip(p.arms[1:], p.mde,
                                                                                     strict=True)],
            ("plan SHA-256", p.sha256),
            ("assignment SHA-256", p.assignment_sha256),
        ]
        if p.cluster is not None:
            facts.insert(2, ("clusters", f"{p.n_clusters} ({p.cluster}); ICC {p.icc:.3f} ({p.icc_source})"))
        return Summary(title=f"Trial design: {p.title}", facts=tuple(facts), table=self.balance,
                       notes=("The assignment links firms to arms: keep it locally, never publish it.",
                              *self.notes))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (plan, balance, notes, specification; never the assignment)."""
        return json_safe({"plan": self.plan.to_dict(), "balance": self.balance, "notes": list(self.notes),
                          "specification": self.specification.to_dict()})


def _rule_fact(p: PreAnalysisPlan) -> str:
    if p.rerandomise == 0:
        return "none"
    met = "met" if p.balance_met else "NOT met (best-balanced draw kept)"
    return f"max |SMD| <= {p.max_smd:g}, up to {p.rerandomise} redraws; {p.draws_used} draws used, {met}"


@keyword_options
def assignment_sha256(assignment: pd.DataFrame, *, idname: str, arm: str = _ARM) -> str:
    r"""Return the SHA-256 of the canonical CSV form of an assignment.

    The canonical form, which an agency can recompute with any tool: UTF-8 text, ``\n`` line ends, a
    header line ``<idname>,arm``, then one line ``<id>,<arm>`` per firm, sorted by id (numerically for
    numeric ids, by Unicode code point for text ids), fields quoted only when they contain a comma, a
    quote or a line break (CSV minimal quoting).  In pandas:
    ``assignment[[idname, "arm"]].sort_values(idname).to_csv(index=False, lineterminator="\n")``.

    Parameters
    ----------
    assignment
        A frame with the id and arm columns (not modified).
    idname
        The firm identifier column.
    arm
        The arm column.

    Returns
    -------
    str
        The hex digest.

    Raises
    ------
    DataError
        When either column is missing.
    """
    missing = [c for c in (idname, arm) if c not in assignment.columns]
    if missing:
        raise DataError(f"assignment_sha256(): column(s) {missing!r} not in the assignment; pass the "
                        "`assignment` of a TrialDesign, or name its columns with `idname` and `arm`.")
    canon = assignment[[idname, arm]].rename(columns={arm: _ARM}).sort_values(idname, kind="mergesort")
    text = canon.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _names(value: object, param: str) -> tuple[str, ...]:
    return column_names(value, param, _FN)


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecificationError(f"{_FN}(): `{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _number(name: str, value: object, lo: float, hi: float, *, closed: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (math.isfinite(v) and ((lo <= v <= hi) if closed else (lo < v < hi))):
        where = f"in [{lo:g}, {hi:g}]" if closed else f"strictly between {lo:g} and {hi:g}"
        raise SpecificationError(f"{_FN}(): `{name}` must be a number {where}; got {value!r}.")
    return v


def _arms_and_shares(arms: object, shares: object) -> tuple[tuple[str, ...], np.ndarray]:
    arm_t = tuple(arms) if isinstance(arms, Sequence) and not isinstance(arms, str) else ()
    if len(arm_t) < 2 or not all(isinstance(a, str) and a for a in arm_t) or len(set(arm_t)) < len(arm_t):
        raise SpecificationError(f"{_FN}(): `arms` must be two or more distinct non-empty labels, control "
                                 f"first, e.g. ('control', 'treatment'); got {arms!r}.")
    if shares is None:
        return arm_t, np.full(len(arm_t), 1.0 / len(arm_t))
    try:
        arr = np.asarray(shares, dtype=float).ravel()
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if arr.size != len(arm_t):
        raise SpecificationError(f"{_FN}(): `shares` must give one share per arm ({len(arm_t)} arms: "
                                 f"{arm_t!r}); got {shares!r}.")
    if not (np.all(np.isfinite(arr)) and np.all(arr > 0) and abs(arr.sum() - 1) < 1e-6):
        raise SpecificationError(f"{_FN}(): `shares` must be positive and sum to 1; got {shares!r} "
                                 f"(sum {float(np.nansum(arr)):g}). E.g. shares=(1/3, 2/3).")
    return arm_t, arr / arr.sum()


def _check_frame(frame: pd.DataFrame, idname: str, strata: tuple[str, ...], cluster: str | None,
                 balance: tuple[str, ...]) -> None:
    ids = frame[idname]
    if ids.isna().any():
        raise DataError(f"{_FN}(): id column {idname!r} has {int(ids.isna().sum())} missing values; every "
                        "firm needs an identifier. Drop or complete those rows.")
    if ids.duplicated().any():
        raise DataError(f"{_FN}(): id column {idname!r} has {int(ids.duplicated(keep=False).sum())} rows "
                        f"sharing {int(ids[ids.duplicated()].nunique())} duplicated ids; the frame must hold "
                        f"one row per firm. De-duplicate, e.g. frame.drop_duplicates({idname!r}).")
    for col in (*strata, *([cluster] if cluster else [])):
        if frame[col].isna().any():
            raise DataError(f"{_FN}(): column {col!r} has {int(frame[col].isna().sum())} missing values; "
                            "strata and clusters must be known for every firm. Code a 'missing' level.")
    for col in balance:
        s = frame[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            raise DataError(f"{_FN}(): balance variable {col!r} must be numeric (dtype {str(s.dtype)!r}); "
                            "dummy-code categories, e.g. pandas.get_dummies, or convert with "
                            "pandas.to_numeric.")
        if s.isna().any():
            raise DataError(f"{_FN}(): balance variable {col!r} has {int(s.isna().sum())} missing values; "
                            "fill them and add a missing-value indicator (Bruhn & McKenzie 2009), or "
                            "leave the variable out.")
    if cluster is not None and strata:
        varying = frame.groupby(cluster, sort=False)[list(strata)].nunique().gt(1).any(axis=1)
        if varying.any():
            raise DataError(f"{_FN}(): the strata {list(strata)!r} vary within {int(varying.sum())} clusters "
                            f"of {cluster!r}; whole clusters are assigned, so every stratum variable must "
                            "be constant within a cluster. Stratify on cluster-level variables.")


@keyword_options
def design_trial(
    frame: pd.DataFrame,
    *,
    idname: str,
    strata: str | Sequence[str] = (),
    arms: Sequence[str] = ("control", "treatment"),
    shares: Sequence[float] | None = None,
    seed: int,
    yname: str | None = None,
    baseline: str | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    covariates: str | Sequence[str] = (),
    secondary: str | Sequence[str] = (),
    hypotheses: str | Sequence[str] | None = None,
    rerandomise: int = 0,
    max_smd: float = 0.1,
    n_permutations: int = 999,
    icc: float | None = None,
    title: str | None = None,
) -> TrialDesign:
    r"""Draw a stratified random assignment of firms and write its pre-analysis plan.

    Parameters
    ----------
    frame
        One row per firm (applicants), known before randomisation; not modified.
    idname
        Firm identifier column (unique).
    strata
        Column(s) whose combinations form the randomisation strata (blocks); none for one block.
    arms
        Arm labels, the control arm first.
    shares
        Target share of each arm (positive, summing to 1); ``None`` for equal shares.
    seed
        Seed of the numpy ``Generator`` (PCG64) that draws the assignment; the same seed and the same
        firms give the same assignment whatever the row order.
    yname
        Name of the primary outcome (measured after the trial; need not be a column yet).
    baseline
        Column holding the primary outcome at baseline: its standard deviation scales the minimum
        detectable effect, and (with ``cluster``) its intra-cluster correlation is estimated. Also a
        balance and adjustment covariate. Without it the MDE is in standard deviations of the outcome.
    cluster
        Column of clusters assigned whole (e.g. regions or intermediaries); strata must be constant
        within clusters.
    alpha, power
        Two-sided level and target power of the MDE.
    covariates
        Numeric baseline covariates: balance table, re-randomisation rule and Lin (2013) adjustment.
    secondary
        Names of secondary outcomes.
    hypotheses
        The hypotheses in words; ``None`` generates one per treatment arm.
    rerandomise
        Maximum number of redraws (Morgan & Rubin 2012); 0 for a single draw.
    max_smd
        Balance threshold of the re-randomisation rule on the largest absolute SMD.
    n_permutations
        Permutations of the planned randomisation inference (added to the issue's list: the plan must fix
        it).
    icc
        Assumed intra-cluster correlation of the outcome, overriding the estimate from ``baseline``
        (added: without a baseline a clustered design has no other source for it).
    title
        Title of the plan.

    Returns
    -------
    TrialDesign
        ``assignment`` is confidential local data (firm ids with arms): never publish it.

    Raises
    ------
    DataError
        Missing columns; missing or duplicated ids; missing strata or clusters; non-numeric or incomplete
        balance variables; a constant baseline; strata varying within a cluster; a stratum too small for
        every arm to get at least one unit.
    SpecificationError
        Invalid ``arms``, ``shares``, ``alpha``, ``power``, ``seed``, ``rerandomise``, ``max_smd``,
        ``n_permutations`` or ``icc``; re-randomisation without balance variables; a clustered design with
        neither ``baseline`` nor ``icc``; a column named ``"arm"`` among ids, strata or clusters.

    Warns
    -----
    EstimationWarning
        When the re-randomisation rule is not met within ``rerandomise`` redraws, or when (without
        clusters) a stratum gives an arm fewer than 2 firms, for which the planned HC2 analysis with
        stratum effects is undefined (leverage 1).

    Notes
    -----
    Assignment (permuted blocks; Bruhn & McKenzie 2009): in stratum :math:`h` of :math:`n_h` units (firms,
    or clusters) arm :math:`k` receives :math:`\lfloor s_k n_h \rfloor` units and the leftover units' arms
    are drawn by systematic sampling with probabilities equal to the fractional quotas, so arm sizes are
    within one of :math:`s_k n_h` and every unit's probability of arm :math:`k` is exactly :math:`s_k`.
    Re-randomisation: the draw is repeated until :math:`\max_{k,j}|d_{kj}| \le` ``max_smd``, with
    :math:`d_{kj} = (\bar x_{kj} - \bar x_{0j}) / \sqrt{(s^2_{kj} + s^2_{0j})/2}`; if no draw of
    :math:`1 +` ``rerandomise`` qualifies, the best is kept.  A re-randomised design is only analysed
    correctly by randomisation inference that re-applies the same rule (Morgan & Rubin 2012): the plan
    says so and :func:`analyse_trial` does it.

    Minimum detectable ITT effect for arm :math:`k` against control (Bloom 1995), via
    :func:`~ipf_eval.experiments.power`:

    .. math:: \mathrm{MDE} = (z_{1-\alpha/2} + z_{\pi}) \sqrt{\frac{[1 + (\bar m - 1)\rho]\,\sigma^2}
              {P(1-P)\,n}},

    with :math:`n` the firms in the two arms, :math:`P` the treated share of units, :math:`\sigma` the
    standard deviation of ``baseline`` (1 without it: the MDE is then in standard deviations),
    :math:`\bar m` the mean cluster size rounded to a whole firm, and :math:`R^2 = 0`: the precision
    gained by the covariate adjustment is not counted, so the MDE is conservative. The intra-cluster
    correlation is the one-way ANOVA estimator
    :math:`\hat\rho = (MSB - MSW)/(MSB + (n_0 - 1) MSW)` with
    :math:`n_0 = (N - \sum_j n_j^2/N)/(J-1)` for unequal cluster sizes, truncated at 0.

    References
    ----------
    Bloom (1995); Bruhn & McKenzie (2009); Morgan & Rubin (2012); Lin (2013); Olken (2015).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"firm_id": [f"F{i:03d}" for i in range(40)], "sector": ["C", "J"] * 20})
    >>> design = design_trial(frame, idname="firm_id", strata="sector", seed=1, yname="sales")
    >>> design.plan.n_by_arm
    (20, 20)
    >>> design.assignment.groupby("sector")["arm"].value_counts().tolist()
    [10, 10, 10, 10]
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{_FN}(): `frame` must be a pandas DataFrame with one row per firm; got "
                        f"{type(frame).__name__!r}.")
    if not isinstance(idname, str):
        raise SpecificationError(f"{_FN}(): `idname` must be a column name (string); got {idname!r}.")
    strata_t, covs = _names(strata, "strata"), _names(covariates, "covariates")
    secondary_t = _names(secondary, "secondary")
    for name, value in (("yname", yname), ("baseline", baseline), ("cluster", cluster), ("title", title)):
        if value is not None and not isinstance(value, str):
            raise SpecificationError(f"{_FN}(): `{name}` must be a string or None; got {value!r}.")
    arm_t, share = _arms_and_shares(arms, shares)
    seed_v = _count("seed", seed, 0)
    alpha_v = check_alpha(alpha, function=_FN)
    power_v = _number("power", power, alpha_v / 2, 1.0)
    n_redraws = _count("rerandomise", rerandomise, 0)
    max_smd_v = _number("max_smd", max_smd, 0.0, math.inf)
    n_perm = _count("n_permutations", n_permutations, 0)
    icc_v = None if icc is None else _number("icc", icc, 0.0, 1.0, closed=True)
    if _ARM in (idname, *strata_t, cluster):
        raise SpecificationError(f"{_FN}(): {_ARM!r} is the name of the assignment's arm column; rename the "
                                 "id, strata or cluster column that is called so.")
    balance = tuple(dict.fromkeys([*([baseline] if baseline else []), *covs]))
    columns = list(dict.fromkeys([idname, *strata_t, *([cluster] if cluster else []), *balance]))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{_FN}(): column(s) {missing!r} not in `frame` ({frame.shape[1]} columns); check "
                        "the spelling of idname, strata, cluster, baseline and covariates.")
    if n_redraws > 0 and not balance:
        raise SpecificationError(f"{_FN}(): `rerandomise`={n_redraws!r} needs balance variables; give "
                                 "`covariates` or `baseline`, or set rerandomise=0.")
    if cluster is not None and baseline is None and icc_v is None:
        raise SpecificationError(f"{_FN}(): a clustered design needs the intra-cluster correlation for its "
                                 "MDE; give `baseline` (estimated from it) or an assumed `icc` in [0, 1].")
    _check_frame(frame, idname, strata_t, cluster, balance)
    work = frame[columns].sort_values(idname, kind="mergesort").reset_index(drop=True)
    if baseline is not None and float(work[baseline].std(ddof=1)) == 0.0:
        raise DataError(f"{_FN}(): baseline column {baseline!r} is constant over all {len(work)} firms; its "
                        "standard deviation cannot scale the MDE. Check the column, or omit `baseline`.")
    structure = unit_structure(work, idname=idname, strata=strata_t, cluster=cluster)
    need = math.ceil(1.0 / float(share.min()) - 1e-9)
    small = structure.stratum_sizes < need
    unit_word = "clusters" if cluster is not None else "firms"
    if small.any():
        raise DataError(f"{_FN}(): {int(small.sum())} of {structure.n_strata} strata have fewer than {need} "
                        f"{unit_word} (smallest: {int(structure.stratum_sizes.min())}), too few to give each "
                        f"arm at least one with shares {np.round(share, 4).tolist()}. Merge small strata or "
                        "stratify on fewer variables.")
    if cluster is None and np.any(structure.stratum_sizes * share.min() < 2 - 1e-9):
        warnings.warn(f"{_FN}(): {int(np.sum(structure.stratum_sizes * share.min() < 2 - 1e-9))} strata give "
                      "some arm fewer than 2 firms; the planned analysis (stratum effects, HC2) is undefined "
                      "for a stratum arm of one firm (leverage 1). Merge small strata.", EstimationWarning,
                      stacklevel=user_stack_level())
    X = work[list(balance)].to_numpy(dtype=float)
    draw = randomise(structure, X, share, rerandomise=n_redraws, max_smd=max_smd_v,
                     rng=np.random.default_rng(seed_v))
    notes: list[str] = []
    if n_redraws > 0 and not draw.met:
        warnings.warn(f"{_FN}(): no draw of {draw.draws} met max |SMD| <= {max_smd_v:g}; the best-balanced "
                      f"draw (max |SMD| {draw.max_abs_smd:.3f}) is kept. Raise `rerandomise` or relax "
                      "`max_smd`.", EstimationWarning, stacklevel=user_stack_level())
        notes.append(f"Re-randomisation rule not met in {draw.draws} draws; best-balanced draw kept.")
    assignment = work[list(dict.fromkeys([idname, *strata_t, *([cluster] if cluster else [])]))].copy()
    assignment[_ARM] = np.asarray(arm_t, dtype=object)[draw.firm_arm]
    table, suppressed = _balance_table(work, balance, draw.firm_arm, arm_t)
    if suppressed:
        notes.append(f"Balance values of arms with fewer than {MIN_CELL_FIRMS} firms are suppressed.")
    sd = float(work[baseline].std(ddof=1)) if baseline is not None else 1.0
    icc_source: str | None = None
    if cluster is not None:
        if icc_v is None and baseline is not None:
            icc_v, icc_source = anova_icc(work[baseline].to_numpy(float), work[cluster].to_numpy()), (
                f"one-way ANOVA estimate from {baseline}")
        else:
            icc_source = "assumed (icc=)"
    powers = _power(draw.firm_arm, structure.firm_unit, len(arm_t), alpha_v, power_v, sd, icc_v or 0.0)
    n_by_arm = tuple(int(v) for v in np.bincount(draw.firm_arm, minlength=len(arm_t)))
    plan = PreAnalysisPlan(
        title=title or f"Randomised trial of {', '.join(arm_t[1:])} against {arm_t[0]}",
        hypotheses=_hypotheses(hypotheses, arm_t, yname, alpha_v),
        primary_outcome=yname, secondary_outcomes=secondary_t, arms=arm_t,
        shares=tuple(float(s) for s in share), n_by_arm=n_by_arm, strata=strata_t,
        n_strata=structure.n_strata, cluster=cluster,
        n_clusters=int(structure.unit_stratum.size) if cluster else None, n_firms=len(work),
        covariates=balance, estimator="rct", vce="cr1" if cluster else "hc2", n_permutations=n_perm,
        alpha=alpha_v, power=power_v, mde=tuple(p.effect for p in powers),
        mde_units=f"units of {baseline}" if baseline else "standard deviations of the outcome",
        outcome_sd=sd if baseline else None, icc=icc_v if cluster else None, icc_source=icc_source, r2=0.0,
        rerandomise=n_redraws, max_smd=max_smd_v, draws_used=draw.draws, balance_met=draw.met,
        max_abs_smd=draw.max_abs_smd, seed=seed_v, numpy_version=np.__version__,
        assignment_sha256=assignment_sha256(assignment, idname=idname),
    )
    args = {"idname": idname, "strata": list(strata_t), "arms": list(arm_t), "shares": share.tolist(),
            "seed": seed_v, "yname": yname, "baseline": baseline, "cluster": cluster, "alpha": alpha_v,
            "power": power_v, "covariates": list(covs), "secondary": list(secondary_t),
            "hypotheses": list(plan.hypotheses), "rerandomise": n_redraws, "max_smd": max_smd_v,
            "n_permutations": n_perm, "icc": icc, "title": plan.title}
    spec = Specification(estimator=_FN, arguments=args, n_obs=len(work),
                         n_units=int(structure.unit_stratum.size), seed=seed_v)
    return TrialDesign(assignment=assignment, plan=plan, balance=table, power_results=powers,
                       specification=spec, design_data=work, notes=tuple(notes))


def _hypotheses(given: str | Sequence[str] | None, arms: tuple[str, ...], yname: str | None,
                alpha: float) -> tuple[str, ...]:
    if given is not None:
        out = (given,) if isinstance(given, str) else tuple(str(h) for h in given)
        if out:
            return out
    outcome = yname or "the primary outcome"
    return tuple(f"H{i}: assignment to {a!r} rather than {arms[0]!r} changes {outcome} (two-sided test "
                 f"of a zero intention-to-treat effect at alpha = {alpha:g})."
                 for i, a in enumerate(arms[1:], 1))


def _power(firm_arm: np.ndarray, firm_unit: np.ndarray, n_arms: int, alpha: float, target: float,
           sd: float, icc: float) -> tuple[PowerResult, ...]:
    """One power calculation per treatment arm against control, on the firms of the two arms."""
    out = []
    for k in range(1, n_arms):
        mask = (firm_arm == 0) | (firm_arm == k)
        units = np.unique(firm_unit[mask])
        units_k = np.unique(firm_unit[firm_arm == k])
        m = max(1, round(int(mask.sum()) / units.size))
        out.append(power_calculation(n=float(mask.sum()), treat_share=units_k.size / units.size, alpha=alpha,
                                     power=target, outcome_sd=sd, icc=float(icc), cluster_size=m, r2=0.0))
    return tuple(out)


def _balance_table(work: pd.DataFrame, balance: tuple[str, ...], firm_arm: np.ndarray,
                   arms: tuple[str, ...]) -> tuple[pd.DataFrame, bool]:
    """Per variable and arm: firms, mean, difference and SMD against control; small arms suppressed."""
    counts = np.bincount(firm_arm, minlength=len(arms))
    small = counts < MIN_CELL_FIRMS
    X = work[list(balance)].to_numpy(dtype=float)
    smd = smd_matrix(X, firm_arm, len(arms))
    rows = []
    for j, var in enumerate(balance):
        m0 = float(X[firm_arm == 0, j].mean())
        for k, a in enumerate(arms):
            mean = float(X[firm_arm == k, j].mean())
            hide_diff = k == 0 or bool(small[k] or small[0])
            rows.append({"variable": var, "arm": a, "n_firms": int(counts[k]),
                         "mean": np.nan if small[k] else mean,
                         "difference": np.nan if hide_diff else mean - m0,
                         "smd": np.nan if hide_diff else float(smd[k - 1, j]),
                         "suppressed": bool(small[k] or (k > 0 and small[0]))})
    cols = ["variable", "arm", "n_firms", "mean", "difference", "smd", "suppressed"]
    return pd.DataFrame(rows, columns=cols), bool(small.any() and balance)
