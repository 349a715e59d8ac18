r"""Analysis of randomised experiments (lotteries among applicants): ITT, Lin's estimator, Wald/IV, RI.

References
----------
Lin, W. (2013). Agnostic notes on regression adjustments to experimental data: reexamining Freedman's
critique. *Annals of Applied Statistics* 7(1), 295-318.

Imbens, G. W. and Angrist, J. D. (1994). Identification and estimation of local average treatment effects.
*Econometrica* 62(2), 467-475.

Imbens, G. W. and Rubin, D. B. (2015). *Causal Inference for Statistics, Social, and Biomedical Sciences*,
chapters 5-7 (Fisher randomisation tests, Neyman variance, stratified experiments).

LaLonde, R. J. (1986). Evaluating the econometric evaluations of training programs with experimental data.
*American Economic Review* 76(4), 604-620.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipf_eval._cross_section import as_binary, design_matrix, prepare_cross_section
from ipf_eval._defaults import check_alpha, check_numbers_not_text, check_outcome_varies, keyword_options
from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.inference.dense import DenseInfluence
from ipf_eval.inference.influence import InfluenceFunction
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["RCTResult", "rct"]

_VCE = ("hc2", "hc3")


@dataclass(frozen=True, eq=False)
class RCTResult(ResultMixin):
    """Intention-to-treat and (with take-up) effect-on-users estimates from a randomised experiment.

    Attributes
    ----------
    table
        Tidy table: ``itt`` always; ``first_stage`` and ``late`` when ``takeup`` was given.
    p_value_ri
        Randomisation-inference p-value of the sharp null of no effect (``None`` when
        ``n_permutations=0``).
    n_treated, n_control
        Firms assigned to each arm.
    takeup_treated, takeup_control
        Take-up rates by arm (``None`` without ``takeup``).
    variance_method
        Description of the standard errors.
    specification
        Arguments, data and drops; ``seed`` holds the permutation seed actually used.
    influence
        The influence functions of the table's estimates
        (:class:`~ipf_eval.inference.influence.InfluenceFunction`), one column per row of ``table`` in its
        order, one row per firm used (clustered when ``cluster`` was given).  Scaled so that each column's
        standard error is the table's: HC2/HC3 leverage factors or the CR1 factor for the ITT and first
        stage, the unadjusted IV sandwich for the effect on users.
    """

    table: pd.DataFrame
    p_value_ri: float | None
    n_treated: int
    n_control: int
    takeup_treated: float | None
    takeup_control: float | None
    variance_method: str
    alpha: float
    specification: Specification
    influence: InfluenceFunction = field(repr=False)
    notes: tuple[str, ...] = field(default=())

    def _row(self, term: str) -> pd.Series:
        return self.table.loc[self.table["term"] == term].iloc[0]

    @property
    def itt(self) -> float:
        """The intention-to-treat estimate."""
        return float(self._row("itt")["estimate"])

    @property
    def late(self) -> float | None:
        """The effect on firms that took the support up (Wald/IV), or ``None``."""
        return float(self._row("late")["estimate"]) if (self.table["term"] == "late").any() else None

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table."""
        return self.table.copy()

    def summary(self) -> Summary:
        """Return the printable summary."""
        facts = [
            ("assigned to support", str(self.n_treated)),
            ("assigned to control", str(self.n_control)),
            ("standard errors", self.variance_method),
        ]
        if self.takeup_treated is not None:
            facts.append(
                ("take-up (support / control)", f"{self.takeup_treated:.3f} / {self.takeup_control:.3f}")
            )
        if self.p_value_ri is not None:
            facts.append(("randomisation p-value (ITT)", f"{self.p_value_ri:.4f}"))
        return Summary(
            title="Randomised experiment",
            facts=tuple(facts),
            table=self.table[list(self.table.columns[:7])],
            notes=(f"{100 * (1 - self.alpha):g}% normal confidence intervals.", *self.notes),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Point estimates with confidence intervals (ITT and, with take-up, LATE); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3))
        t = self.table[self.table["term"] != "first_stage"].reset_index(drop=True)
        pos = np.arange(len(t))
        est = t["estimate"].to_numpy(dtype=float)
        err = np.vstack([est - t["ci_low"].to_numpy(dtype=float), t["ci_high"].to_numpy(dtype=float) - est])
        ax.errorbar(est, pos, xerr=err, fmt="o", capsize=4)
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(pos)
        ax.set_yticklabels(t["term"])
        ax.set_xlabel(str(self.specification.arguments.get("yname", "effect")))
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "table": self.table,
                "p_value_ri": self.p_value_ri,
                "n_treated": self.n_treated,
                "n_control": self.n_control,
                "takeup_treated": self.takeup_treated,
                "takeup_control": self.takeup_control,
                "variance_method": self.variance_method,
                "alpha": self.alpha,
                "notes": list(self.notes),
                "specification": self.specification.to_dict(),
            }
        )


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return coefficients, residuals and (X'X)^{-1}."""
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ (X.T @ y)
    return beta, y - X @ beta, xtx_inv


def robust_vcov(
    X: np.ndarray, resid: np.ndarray, xtx_inv: np.ndarray, *, vce: str, groups: np.ndarray | None = None
) -> np.ndarray:
    """Sandwich covariance: HC2, HC3, or cluster-robust CR1 (Stata small-sample factor) when ``groups``."""
    n, k = X.shape
    if groups is not None:
        codes, _ = pd.factorize(groups)
        G = int(codes.max()) + 1
        scores = np.zeros((G, k))
        np.add.at(scores, codes, X * resid[:, None])
        meat = scores.T @ scores
        factor = G / (G - 1) * (n - 1) / (n - k)
        return np.asarray(factor * xtx_inv @ meat @ xtx_inv)
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)
    if np.any(h > 1 - 1e-10):
        raise EstimationError(
            "rct(): a firm has leverage 1 in the regression (a covariate or stratum identifies "
            "it alone); HC2/HC3 are undefined. Coarsen strata or drop that covariate."
        )
    u2 = resid**2 / ((1 - h) if vce == "hc2" else (1 - h) ** 2)
    meat = (X * u2[:, None]).T @ X
    return np.asarray(xtx_inv @ meat @ xtx_inv)


def _coefficient_influence(
    X: np.ndarray,
    resid: np.ndarray,
    xtx_inv: np.ndarray,
    *,
    vce: str,
    groups: np.ndarray | None,
    column: int = 1,
) -> np.ndarray:
    r"""Influence function of one coefficient (default: assignment, column 1), matching :func:`robust_vcov`.

    :math:`\psi_i = n\,[(X'X)^{-1}x_i]_j\,e_i\,s_i`, with :math:`s_i = (1-h_{ii})^{-1/2}` (HC2),
    :math:`(1-h_{ii})^{-1}` (HC3) or the constant :math:`\sqrt{G/(G-1)\,(n-1)/(n-k)}` (CR1, summed
    within clusters), so that :math:`n^{-2}\sum \psi_i^2` is the sandwich variance.
    """
    n, k = X.shape
    psi = n * (X @ xtx_inv[:, column]) * resid
    if groups is not None:
        g = int(pd.factorize(groups)[0].max()) + 1
        return np.asarray(psi * np.sqrt(g / (g - 1) * (n - 1) / (n - k)))
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)
    return np.asarray(psi / (np.sqrt(1 - h) if vce == "hc2" else (1 - h)))


def _row(term: str, est: float, se: float, alpha: float, **extra: Any) -> dict[str, Any]:
    z = stats.norm.ppf(1 - alpha / 2)
    stat = est / se if se > 0 else float("nan")
    return {
        "term": term,
        "estimate": est,
        "std_error": se,
        "statistic": stat,
        "p_value": float(2 * stats.norm.sf(abs(stat))),
        "ci_low": est - z * se,
        "ci_high": est + z * se,
        **extra,
    }


def _permute(
    z: np.ndarray, strata_codes: np.ndarray, cluster_codes: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """Permute assignment within strata (cluster-level assignments when clusters are given)."""
    out = z.copy()
    if cluster_codes is None:
        for s in np.unique(strata_codes):
            idx = np.nonzero(strata_codes == s)[0]
            out[idx] = z[idx][rng.permutation(idx.size)]
        return out
    ncl = int(cluster_codes.max()) + 1
    zc = np.zeros(ncl)
    zc[cluster_codes] = z
    sc = np.zeros(ncl, dtype=np.int64)
    sc[cluster_codes] = strata_codes
    newc = zc.copy()
    for s in np.unique(sc):
        idx = np.nonzero(sc == s)[0]
        newc[idx] = zc[idx][rng.permutation(idx.size)]
    return newc[cluster_codes]


@keyword_options
def rct(
    data: pd.DataFrame,
    *,
    yname: str,
    treatname: str,
    covariates: Sequence[str] | None = None,
    takeup: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    vce: str = "hc2",
    n_permutations: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
) -> RCTResult:
    r"""Analyse a randomised experiment: ITT, Lin's covariate adjustment, effect on users, RI p-value.

    Parameters
    ----------
    data
        One row per firm (not modified).
    yname
        Outcome column.
    treatname
        0/1 random assignment (lottery win) column.
    covariates
        Baseline covariates for Lin's (2013) fully interacted adjustment; ``None`` for the difference in
        means.
    takeup
        0/1 column: the firm actually used the support. When given, the effect on users is estimated by
        IV (assignment instruments take-up; the Wald ratio without covariates), with the ITT's ``vce``
        or cluster-robust variance.
    strata
        Randomisation strata (blocks). The ITT becomes the stratum-size-weighted average of within-stratum
        differences (stratum indicators centred and interacted with assignment), and permutations stay
        within strata.
    cluster
        Cluster column when assignment was by cluster: cluster-robust (CR1) standard errors and
        cluster-level permutations.
    vce
        ``"hc2"`` (default; equals the Neyman variance for a difference in means) or ``"hc3"``; ignored
        when ``cluster`` is given.
    n_permutations
        Number of random permutations for the randomisation-inference p-value; 0 to skip.
    seed
        Seed of the permutations (``None``: a fresh seed, recorded in ``specification.seed``).
    alpha
        Level of the confidence intervals.

    Returns
    -------
    RCTResult

    Raises
    ------
    DataError
        Missing columns; assignment or take-up not 0/1; assignment varying within a cluster; a constant
        outcome; a covariate holding numbers stored as text.
    SpecificationError
        Invalid ``vce``, ``n_permutations`` or ``alpha``.
    EstimationError
        Every firm (or none) assigned; a stratum without both arms; take-up identical in both arms (no
        first stage); a singular design.

    Notes
    -----
    ITT: :math:`\hat\tau = \bar Y_1 - \bar Y_0` with HC2 standard error
    :math:`\sqrt{s_1^2/n_1 + s_0^2/n_0}` (Neyman). Lin (2013):
    :math:`Y_i = \alpha + \tau Z_i + (X_i-\bar X)'\beta + Z_i (X_i-\bar X)'\gamma + e_i`, HC2/HC3.
    Effect on users (Imbens & Angrist 1994): :math:`\tau_{LATE} = \tau_{ITT}/(\bar T_1 - \bar T_0)`,
    by two-stage least squares with the centred covariates and strata as exogenous regressors, and the
    same variance as the ITT (``vce`` HC2/HC3, or CR1 with ``cluster``), as R estimatr's ``iv_robust``.
    Randomisation inference: the ITT estimator recomputed under ``n_permutations`` re-randomisations;
    :math:`p = (1 + \#\{|\hat\tau_b| \ge |\hat\tau|\})/(1 + B)`.

    References
    ----------
    Lin (2013); Imbens & Angrist (1994); Imbens & Rubin (2015); LaLonde (1986).
    """
    alpha = check_alpha(alpha, function="rct")
    if vce not in _VCE:
        raise SpecificationError(f"rct(): `vce` must be one of {_VCE!r}; got {vce!r}.")
    if (
        isinstance(n_permutations, bool)
        or not isinstance(n_permutations, (int, np.integer))
        or n_permutations < 0
    ):
        raise SpecificationError(
            f"rct(): `n_permutations` must be a non-negative integer; got {n_permutations!r}."
        )
    covs = [covariates] if isinstance(covariates, str) else list(covariates or [])
    extra = [c for c in (takeup, strata, cluster) if c is not None]
    cs = prepare_cross_section(
        data, func="rct", treatname=treatname, yname=yname, covariates=covs, extra=extra
    )
    check_numbers_not_text(cs.frame, covs, function="rct")
    check_outcome_varies(cs.y, column=yname, function="rct")
    z, y, n = cs.d, np.asarray(cs.y), cs.d.size
    notes: list[str] = []
    adj_parts = [cs.X - cs.X.mean(axis=0)] if cs.X.size else []
    strata_codes = np.zeros(n, dtype=np.int64)
    if strata is not None:
        strata_codes, levels = pd.factorize(cs.frame[strata])
        for s in range(len(levels)):
            zs = z[strata_codes == s]
            if zs.min() == zs.max():
                raise EstimationError(
                    f"rct(): stratum {levels[s]!r} of {strata!r} has only "
                    f"{'supported' if zs[0] == 1 else 'control'} firms ({zs.size}); each stratum "
                    "needs both arms. Merge it with a neighbouring stratum or drop it."
                )
        sd, _ = (
            design_matrix(cs.frame.assign(**{strata: cs.frame[strata].astype(str)}), [strata], "rct")
            if len(levels) > 1
            else (np.empty((n, 0)), [])
        )
        if sd.size:
            adj_parts.append(sd - sd.mean(axis=0))
    cluster_codes: np.ndarray | None = None
    if cluster is not None:
        cluster_codes, _ = pd.factorize(cs.frame[cluster])
        nz = pd.Series(z).groupby(cluster_codes).nunique()
        if (nz > 1).any():
            raise DataError(
                f"rct(): assignment {treatname!r} varies within {int((nz > 1).sum())} clusters of "
                f"{cluster!r}; with cluster randomisation every firm in a cluster has the same arm."
            )
    W = np.column_stack(adj_parts) if adj_parts else np.empty((n, 0))

    def design(zz: np.ndarray) -> np.ndarray:
        return (
            np.column_stack([np.ones(n), zz, W, zz[:, None] * W])
            if W.size
            else np.column_stack([np.ones(n), zz])
        )

    X = design(z)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise EstimationError(
            "rct(): the regression design is singular (collinear covariates, or a covariate "
            "constant within an arm); drop redundant covariates."
        )
    beta, resid, xtx_inv = _ols(X, y)
    V = robust_vcov(X, resid, xtx_inv, vce=vce, groups=cluster_codes)
    itt, se_itt = float(beta[1]), float(np.sqrt(V[1, 1]))
    rows = [_row("itt", itt, se_itt, alpha)]
    psi = [_coefficient_influence(X, resid, xtx_inv, vce=vce, groups=cluster_codes)]
    variance_method = "cluster-robust CR1" if cluster is not None else vce.upper()
    if W.size:
        variance_method += " (Lin 2013 interacted regression)"
    tk1 = tk0 = None
    if takeup is not None:
        t = as_binary(cs.frame[takeup], takeup, "rct")
        tk1, tk0 = float(t[z == 1].mean()), float(t[z == 0].mean())
        if tk1 == tk0:
            raise EstimationError(
                f"rct(): take-up {takeup!r} is {tk1:.3f} in both arms; assignment does not move "
                "take-up, so the effect on users is not identified."
            )
        bfs, rfs, _ = _ols(X, t)
        Vfs = robust_vcov(X, rfs, xtx_inv, vce=vce, groups=cluster_codes)
        rows.append(_row("first_stage", float(bfs[1]), float(np.sqrt(Vfs[1, 1])), alpha))
        psi.append(_coefficient_influence(X, rfs, xtx_inv, vce=vce, groups=cluster_codes))
        late_row, late_psi = _late(y, t, z, W, cluster_codes, alpha, vce=vce)
        rows.append(late_row)
        psi.append(late_psi)
        if tk1 - tk0 < 0.1:
            notes.append(f"Weak first stage: take-up differs by only {tk1 - tk0:.3f} between arms.")
    p_ri = None
    used_seed = seed
    if n_permutations > 0:
        if used_seed is None:
            used_seed = int(np.random.SeedSequence().generate_state(1)[0])
        rng = np.random.default_rng(used_seed)
        draws = np.empty(n_permutations)
        for b in range(n_permutations):
            zb = _permute(z, strata_codes, cluster_codes, rng)
            Xb = design(zb)
            draws[b] = np.linalg.lstsq(Xb, y, rcond=None)[0][1]
        p_ri = float(
            (1 + np.sum(np.abs(draws) >= abs(itt) - 1e-12 * max(1.0, abs(itt)))) / (1 + n_permutations)
        )
    args = {
        "yname": yname,
        "treatname": treatname,
        "covariates": covs,
        "takeup": takeup,
        "strata": strata,
        "cluster": cluster,
        "vce": vce,
        "n_permutations": int(n_permutations),
        "seed": seed,
        "alpha": alpha,
    }
    spec = Specification(
        estimator="rct", arguments=args, n_obs=n, n_units=n, dropped=cs.dropped, seed=used_seed
    )
    return RCTResult(
        table=tidy_frame(rows),
        p_value_ri=p_ri,
        n_treated=int(z.sum()),
        n_control=int(n - z.sum()),
        takeup_treated=tk1,
        takeup_control=tk0,
        variance_method=variance_method,
        alpha=alpha,
        specification=spec,
        influence=DenseInfluence(np.column_stack(psi), cluster=cluster_codes),
        notes=tuple(notes),
    )


def _late(
    y: np.ndarray,
    t: np.ndarray,
    z: np.ndarray,
    W: np.ndarray,
    cluster_codes: np.ndarray | None,
    alpha: float,
    *,
    vce: str,
) -> tuple[dict[str, Any], np.ndarray]:
    r"""Two-stage least squares of ``y`` on take-up instrumented by assignment, with the ITT's variance.

    With :math:`Z = [1, W, z]`, :math:`X = [1, W, t]` and the first-stage fit
    :math:`\hat X = Z(Z'Z)^{-1}Z'X`, the estimate is :math:`(Z'X)^{-1}Z'y` and its covariance is the
    sandwich :func:`robust_vcov` of the second stage: bread :math:`(\hat X'\hat X)^{-1}`, scores
    :math:`\hat x_i e_i` with the structural residual :math:`e_i = y_i - x_i'\hat\beta`, and the same
    ``vce`` (HC2/HC3 leverages of :math:`\hat X`) or CR1 factor as the intention-to-treat estimate; this is
    R estimatr's ``iv_robust(se_type=...)`` (``"stata"`` with clusters).  Written here rather than through
    linearmodels' ``IV2SLS``, whose robust and clustered covariances offer no HC2/HC3 (the ITT's default).
    Returns the tidy row and the influence function matching that variance.
    """
    n = y.size
    exog = np.column_stack([np.ones(n), W]) if W.size else np.ones((n, 1))
    Z = np.column_stack([exog, z])
    X = np.column_stack([exog, t])
    beta = np.linalg.solve(Z.T @ X, Z.T @ y)
    resid = y - X @ beta
    x_hat = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
    bread = np.linalg.inv(x_hat.T @ x_hat)
    last = X.shape[1] - 1
    V = robust_vcov(x_hat, resid, bread, vce=vce, groups=cluster_codes)
    psi = _coefficient_influence(x_hat, resid, bread, vce=vce, groups=cluster_codes, column=last)
    return _row("late", float(beta[last]), float(np.sqrt(V[last, last])), alpha), psi
