r"""Regression discontinuity at a score threshold (grants awarded to applications scored above a cut-off).

Estimation and inference are delegated to the ``rdrobust`` package (Calonico, Cattaneo, Farrell &
Titiunik); this module validates the data, centres scores per call, adds the manipulation test, covariate
balance at the threshold and a bandwidth sensitivity table, and returns a frozen result.

References
----------
Calonico, S., Cattaneo, M. D. and Titiunik, R. (2014). Robust nonparametric confidence intervals for
regression-discontinuity designs. *Econometrica* 82(6), 2295-2326.

Calonico, S., Cattaneo, M. D., Farrell, M. H. and Titiunik, R. (2017). rdrobust: software for
regression-discontinuity designs. *The Stata Journal* 17(2), 372-404.

Cattaneo, M. D., Jansson, M. and Ma, X. (2020). Simple local polynomial density estimators. *JASA* 115,
1449-1455.

Imbens, G. W. and Angrist, J. D. (1994). *Econometrica* 62(2), 467-475 (fuzzy designs as local IV).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._cross_section import as_binary
from ipf_eval._defaults import check_alpha, check_outcome_varies, keyword_options, user_stack_level
from ipf_eval.discontinuity._score import centred_score
from ipf_eval.discontinuity.density import DensityResult, run_density_test
from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.results import DropRecord, ResultMixin, Specification, Summary, json_safe, tidy_frame

__all__ = ["RDDResult", "rdd"]

_KERNELS = ("triangular", "epanechnikov", "uniform")
_BWSELECT = (
    "mserd",
    "msetwo",
    "msesum",
    "msecomb1",
    "msecomb2",
    "cerrd",
    "certwo",
    "cersum",
    "cercomb1",
    "cercomb2",
)
_VCE = ("nn", "hc0", "hc1", "hc2", "hc3")


@dataclass(frozen=True, eq=False)
class RDDResult(ResultMixin):
    """A regression-discontinuity estimate with diagnostics.

    Attributes
    ----------
    table
        Tidy table: ``conventional`` and ``robust`` rows (``ci_kind`` says which interval); the robust
        bias-corrected interval is the one to report (Calonico, Cattaneo & Titiunik 2014).
    fuzzy
        Whether take-up was used (the estimate is then the effect on compliers at the threshold).
    h, b
        Main and bias bandwidths (left, right).
    n_left, n_right, n_eff_left, n_eff_right
        Firms on each side, in total and within ``h``.
    density
        The manipulation test (``None`` when ``density=False``).
    covariate_balance
        rdrobust on each covariate: robust estimate, interval and p-value (a jump suggests sorting).
    sensitivity
        Estimates over bandwidth multiples of ``h`` (plotted by ``plot()``).
    """

    table: pd.DataFrame
    fuzzy: bool
    h: tuple[float, float]
    b: tuple[float, float]
    n_left: int
    n_right: int
    n_eff_left: int
    n_eff_right: int
    density: DensityResult | None
    covariate_balance: pd.DataFrame
    sensitivity: pd.DataFrame
    alpha: float
    specification: Specification
    notes: tuple[str, ...] = ()

    def _get(self, term: str, col: str) -> float:
        return float(self.table.loc[self.table["term"] == term, col].iloc[0])

    @property
    def estimate(self) -> float:
        """The conventional local polynomial estimate."""
        return self._get("conventional", "estimate")

    @property
    def ci_robust(self) -> tuple[float, float]:
        """The robust bias-corrected confidence interval."""
        return (self._get("robust", "ci_low"), self._get("robust", "ci_high"))

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table."""
        return self.table.copy()

    def summary(self) -> Summary:
        """Return the printable summary."""
        facts = [
            ("design", "fuzzy" if self.fuzzy else "sharp"),
            ("firms left / right", f"{self.n_left} / {self.n_right}"),
            ("within bandwidth left / right", f"{self.n_eff_left} / {self.n_eff_right}"),
            ("bandwidth h (left, right)", f"{self.h[0]:.4g}, {self.h[1]:.4g}"),
        ]
        if self.density is not None:
            facts.append(("density test p-value", f"{self.density.p_value:.4f}"))
        if len(self.covariate_balance):
            facts.append(
                ("smallest covariate balance p-value", f"{self.covariate_balance['p_value'].min():.4f}")
            )
        return Summary(
            title="Regression discontinuity (rdrobust)",
            facts=tuple(facts),
            table=self.table[["term", "estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]],
            notes=(
                "Report the robust bias-corrected interval (Calonico, Cattaneo & Titiunik 2014); its "
                "estimate column is the bias-corrected point estimate.",
                *self.notes,
            ),
        )

    def plot(self, *, ax: Any = None) -> Any:
        """Bandwidth sensitivity: estimates and robust intervals against the bandwidth; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        s = self.sensitivity
        est = s["estimate"].to_numpy(dtype=float)
        err = np.vstack([est - s["ci_low"].to_numpy(dtype=float), s["ci_high"].to_numpy(dtype=float) - est])
        ax.errorbar(s["bandwidth"], est, yerr=err, fmt="o", capsize=3)
        ax.axhline(0, color="grey", linewidth=1)
        ax.axvline(self.h[0], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("bandwidth (score units)")
        ax.set_ylabel("estimate (robust CI)")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe(
            {
                "table": self.table,
                "fuzzy": self.fuzzy,
                "h": list(self.h),
                "b": list(self.b),
                "n_left": self.n_left,
                "n_right": self.n_right,
                "n_eff_left": self.n_eff_left,
                "n_eff_right": self.n_eff_right,
                "alpha": self.alpha,
                "notes": list(self.notes),
                "density": None if self.density is None else self.density.to_dict(),
                "covariate_balance": self.covariate_balance,
                "sensitivity": self.sensitivity,
                "specification": self.specification.to_dict(),
            }
        )


def _call_rdrobust(
    y: np.ndarray,
    x: np.ndarray,
    *,
    fuzzy: np.ndarray | None,
    p: int,
    kernel: str,
    h: float | None,
    b: float | None,
    bwselect: str,
    vce: str,
    cluster: np.ndarray | None,
    level: float,
    notes: list[str],
    what: str,
) -> Any:
    """Call rdrobust (threshold 0), turning its prints and bare exceptions into typed warnings/errors."""
    from rdrobust import rdrobust

    out = io.StringIO()
    kw: dict[str, Any] = {
        "c": 0.0,
        "p": p,
        "kernel": kernel,
        "bwselect": bwselect,
        "level": level,
        "vce": "cr1" if cluster is not None else vce,
    }
    if fuzzy is not None:
        kw["fuzzy"] = fuzzy
    if h is not None:
        kw["h"] = h
    if b is not None:
        kw["b"] = b
    if cluster is not None:
        kw["cluster"] = cluster
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = rdrobust(y, x, **kw)
    except Exception as exc:  # rdrobust raises bare Exception and numpy errors
        raise EstimationError(
            f"rdd(): rdrobust failed for {what} ({type(exc).__name__}: {exc}); too few firms "
            "near the threshold, or a bandwidth too small. Give a wider `bandwidth`."
        ) from exc
    messages = [m.strip() for m in out.getvalue().splitlines() if m.strip()]
    messages += [
        str(w.message).strip()
        for w in caught
        if not issubclass(w.category, (FutureWarning, DeprecationWarning))
    ]
    for m in dict.fromkeys(messages):
        notes.append(f"rdrobust ({what}): {m}")
        warnings.warn(f"rdd(): rdrobust reported for {what}: {m}", EstimationWarning,
                      stacklevel=user_stack_level())
    return res


@keyword_options
def rdd(
    data: pd.DataFrame,
    *,
    yname: str,
    scorename: str,
    cutoff: float | str,
    takeup: str | None = None,
    covariates: Sequence[str] | None = None,
    bandwidth: float | None = None,
    kernel: str = "triangular",
    p: int = 1,
    call: str | None = None,
    cluster: str | None = None,
    bwselect: str = "mserd",
    vce: str = "nn",
    density: bool = True,
    sensitivity: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
    alpha: float = 0.05,
) -> RDDResult:
    r"""Sharp or fuzzy regression discontinuity at a score threshold, through rdrobust.

    Parameters
    ----------
    data
        One row per applicant firm (not modified).
    yname
        Outcome column.
    scorename
        Evaluators' score (the running variable). Firms with score :math:`\ge` threshold are above it.
    cutoff
        Threshold: a number, or a column holding each firm's threshold (different calls, different
        thresholds). Scores are centred, score minus threshold, so calls are pooled at 0.
    takeup
        0/1 column: the firm received the support. Gives a fuzzy design (effect on compliers at the
        threshold); ``None`` for a sharp design (support if and only if above the threshold).
    covariates
        Baseline covariates checked for balance at the threshold (rdrobust on each; not used to adjust).
    bandwidth
        Main bandwidth :math:`h` in score units (the bias bandwidth then equals it, as in rdrobust);
        ``None`` to select it by ``bwselect``.
    kernel
        ``"triangular"``, ``"epanechnikov"`` or ``"uniform"``.
    p
        Order of the local polynomial (1 = local linear); the bias correction uses order ``p + 1``.
    call
        Column identifying the call; a threshold column must be constant within it.
    cluster
        Cluster column (rdrobust's CR1 variance).
    bwselect
        rdrobust bandwidth selector (default ``"mserd"``).
    vce
        rdrobust variance estimator without clusters (default ``"nn"``, nearest-neighbour).
    density
        Run the Cattaneo-Jansson-Ma manipulation test (rddensity).
    sensitivity
        Multiples of the main bandwidth for the sensitivity table and plot (empty to skip).
    alpha
        Level of the confidence intervals.

    Returns
    -------
    RDDResult

    Raises
    ------
    DataError
        Missing columns, a non-numeric or infinite score, an infinite or constant outcome, take-up not 0/1,
        a threshold varying within a call.
    SpecificationError
        A threshold outside the score range; invalid ``kernel``, ``p``, ``bandwidth``, ``bwselect``, ``vce``,
        ``sensitivity`` or ``alpha``.
    EstimationError
        No firm within the bandwidth on one side of the threshold; rdrobust cannot estimate.

    Warns
    -----
    EstimationWarning
        Messages from rdrobust (mass points, bandwidth adjustments); a failed density test.

    Notes
    -----
    Sharp design: :math:`\tau = \lim_{s\downarrow c}E[Y\mid S=s] - \lim_{s\uparrow c}E[Y\mid S=s]`; fuzzy:
    the same jump in the outcome divided by the jump in take-up (local Wald, Imbens & Angrist 1994). Local
    polynomial estimates with robust bias-corrected inference (Calonico, Cattaneo & Titiunik 2014);
    everything numerical is rdrobust's own output.

    References
    ----------
    Calonico, Cattaneo & Titiunik (2014); Calonico, Cattaneo, Farrell & Titiunik (2017); Cattaneo, Jansson
    & Ma (2020); McCrary (2008); Imbens & Angrist (1994).
    """
    alpha = check_alpha(alpha, function="rdd")
    if kernel not in _KERNELS:
        raise SpecificationError(f"rdd(): `kernel` must be one of {_KERNELS!r}; got {kernel!r}.")
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or not 0 <= p <= 4:
        raise SpecificationError(f"rdd(): `p` must be an integer from 0 to 4 (1 = local linear); got {p!r}.")
    if bwselect not in _BWSELECT:
        raise SpecificationError(f"rdd(): `bwselect` must be one of {_BWSELECT!r}; got {bwselect!r}.")
    if vce not in _VCE:
        raise SpecificationError(f"rdd(): `vce` must be one of {_VCE!r}; got {vce!r}.")
    if bandwidth is not None and (
        isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0
    ):
        raise SpecificationError(f"rdd(): `bandwidth` must be a positive number or None; got {bandwidth!r}.")
    mults = [float(m) for m in sensitivity]
    if any(not m > 0 for m in mults):
        raise SpecificationError(
            f"rdd(): `sensitivity` must hold positive multiples; got {list(sensitivity)!r}."
        )
    covs = [covariates] if isinstance(covariates, str) else list(covariates or [])
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"rdd(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    missing = [
        c
        for c in [yname, *([takeup] if takeup else []), *([cluster] if cluster else []), *covs]
        if c not in data.columns
    ]
    if missing:
        raise DataError(f"rdd(): column(s) {missing!r} not found in `data`.")
    # every firm with a score enters the density test; the estimation drops missing outcomes (with a count)
    x_all, frame_all, dropped = centred_score(
        data, scorename=scorename, cutoff=cutoff, call=call, extra=(), func="rdd"
    )
    score_dropped = dropped
    used = [yname, *([takeup] if takeup else []), *([cluster] if cluster else [])]
    na = data.loc[frame_all.index, used].isna().any(axis=1).to_numpy()
    if na.any():
        warnings.warn(
            f"rdd(): dropped {int(na.sum())} of {na.size} rows with missing values in {used!r} from the "
            "estimation (they stay in the density test).",
            DataWarning,
            stacklevel=user_stack_level(),
        )
        dropped = (*dropped, DropRecord(reason=f"missing values in {used!r}", n_rows=int(na.sum())))
    x = x_all[~na]
    frame = data.loc[frame_all.index[~na], used]
    if min(int((x < 0).sum()), int((x >= 0).sum())) == 0:
        raise EstimationError(
            "rdd(): after dropping missing outcomes no firm is left on one side of the threshold."
        )
    y = frame[yname]
    if not pd.api.types.is_numeric_dtype(y):
        raise DataError(f"rdd(): outcome {yname!r} must be numeric; got dtype {str(y.dtype)!r}.")
    yv = y.to_numpy(dtype=float)
    if not np.isfinite(yv).all():
        raise DataError(
            f"rdd(): outcome {yname!r} holds {int((~np.isfinite(yv)).sum())} infinite value(s) (log of 0?); "
            "recode or drop them."
        )
    check_outcome_varies(yv, column=yname, function="rdd")
    t = as_binary(frame[takeup], takeup, "rdd") if takeup else None
    cl = pd.factorize(frame[cluster])[0] if cluster else None
    cl_all = pd.factorize(data.loc[frame_all.index, cluster])[0] if cluster else None
    if bandwidth is not None:
        nl, nr = int(((x < 0) & (x >= -bandwidth)).sum()), int(((x >= 0) & (x <= bandwidth)).sum())
        if min(nl, nr) <= p + 1:
            raise EstimationError(
                f"rdd(): with `bandwidth`={bandwidth!r} there are {nl} firms below and {nr} at or above the "
                f"threshold inside the bandwidth; a local polynomial of order {p} needs more than {p + 1} "
                "on each side. Widen `bandwidth` (or use bandwidth=None)."
            )
    level = 100 * (1 - alpha)
    notes: list[str] = []
    common: dict[str, Any] = {
        "p": p,
        "kernel": kernel,
        "bwselect": bwselect,
        "vce": vce,
        "cluster": cl,
        "level": level,
        "notes": notes,
    }
    res = _call_rdrobust(yv, x, fuzzy=t, h=bandwidth, b=None, what="the outcome", **common)
    coef, se, ci, pv = res.coef.iloc[:, 0], res.se.iloc[:, 0], res.ci, res.pv.iloc[:, 0]
    if not (np.isfinite(se.to_numpy(dtype=float)) & (se.to_numpy(dtype=float) > 0)).all():
        raise EstimationError(
            f"rdd(): the standard error of the jump in {yname!r} is zero or undefined: the outcome does not "
            "vary within the bandwidth on either side of the threshold, so the jump has no sampling "
            "variability to estimate. Check the outcome, or give a wider `bandwidth`."
        )
    rows = []
    for term, key, est_key in (
        ("conventional", "Conventional", "Conventional"),
        ("robust", "Robust", "Robust"),
    ):
        rows.append(
            {
                "term": term,
                "estimate": float(coef[est_key]),
                "std_error": float(se[key]),
                "statistic": float(coef[est_key]) / float(se[key]),
                "p_value": float(pv[key]),
                "ci_low": float(ci.loc[key].iloc[0]),
                "ci_high": float(ci.loc[key].iloc[1]),
                "ci_kind": term,
            }
        )
    table = tidy_frame(rows)
    h = (float(res.bws.iloc[0, 0]), float(res.bws.iloc[0, 1]))
    b = (float(res.bws.iloc[1, 0]), float(res.bws.iloc[1, 1]))
    n_eff = (int(res.N_h[0]), int(res.N_h[1]))
    spec_args = {
        "yname": yname,
        "scorename": scorename,
        "cutoff": cutoff,
        "takeup": takeup,
        "covariates": covs,
        "bandwidth": bandwidth,
        "kernel": kernel,
        "p": p,
        "call": call,
        "cluster": cluster,
        "bwselect": bwselect,
        "vce": vce,
        "density": density,
        "sensitivity": mults,
        "alpha": alpha,
    }
    spec = Specification(estimator="rdd", arguments=spec_args, n_obs=x.size, n_units=x.size, dropped=dropped)
    dens: DensityResult | None = None
    if density:
        try:
            dens = run_density_test(
                x_all,
                Specification(
                    estimator="density_test",
                    arguments={"scorename": scorename, "cutoff": cutoff, "call": call},
                    n_obs=x_all.size,
                    n_units=x_all.size,
                    dropped=score_dropped,
                ),
            )
        except EstimationError as exc:
            notes.append(f"Density test not available: {exc}")
            warnings.warn(
                f"rdd(): the density test could not be computed: {exc}", EstimationWarning,
                stacklevel=user_stack_level())
    bal_rows = []
    for cov in covs:
        cv = data.loc[frame_all.index, cov]
        if not pd.api.types.is_numeric_dtype(cv) or cv.dtype == bool:
            raise DataError(
                f"rdd(): covariate {cov!r} must be numeric for the balance check; got "
                f"{str(cv.dtype)!r}. Dummy-code it first."
            )
        ok = cv.notna().to_numpy()
        if not ok.all():
            notes.append(f"Balance of {cov!r}: {int((~ok).sum())} firms with missing values left out.")
        rc = _call_rdrobust(
            cv.to_numpy(dtype=float)[ok],
            x_all[ok],
            fuzzy=None,
            h=None,
            b=None,
            what=f"covariate {cov!r}",
            **{**common, "cluster": None if cl_all is None else cl_all[ok]},
        )
        bal_rows.append(
            {
                "covariate": cov,
                "estimate": float(rc.coef.iloc[0, 0]),
                "ci_low": float(rc.ci.loc["Robust"].iloc[0]),
                "ci_high": float(rc.ci.loc["Robust"].iloc[1]),
                "p_value": float(rc.pv.loc["Robust"].iloc[0]),
                "bandwidth": float(rc.bws.iloc[0, 0]),
            }
        )
    sens_rows = []
    for m in mults:
        hh, bb = m * h[0], m * b[0]
        nl, nr = int(((x < 0) & (x >= -hh)).sum()), int(((x >= 0) & (x <= hh)).sum())
        if min(nl, nr) <= p + 1:
            notes.append(f"Sensitivity: bandwidth {hh:.4g} skipped ({nl} left, {nr} right).")
            continue
        rs = _call_rdrobust(yv, x, fuzzy=t, h=hh, b=bb, what=f"bandwidth {hh:.4g}", **common)
        sens_rows.append(
            {
                "multiple": m,
                "bandwidth": hh,
                "estimate": float(rs.coef.iloc[0, 0]),
                "ci_low": float(rs.ci.loc["Robust"].iloc[0]),
                "ci_high": float(rs.ci.loc["Robust"].iloc[1]),
                "n_eff_left": int(rs.N_h[0]),
                "n_eff_right": int(rs.N_h[1]),
            }
        )
    return RDDResult(
        table=table,
        fuzzy=t is not None,
        h=h,
        b=b,
        n_left=int((x < 0).sum()),
        n_right=int((x >= 0).sum()),
        n_eff_left=n_eff[0],
        n_eff_right=n_eff[1],
        density=dens,
        covariate_balance=pd.DataFrame(
            bal_rows, columns=["covariate", "estimate", "ci_low", "ci_high", "p_value", "bandwidth"]
        ),
        sensitivity=pd.DataFrame(
            sens_rows,
            columns=["multiple", "bandwidth", "estimate", "ci_low", "ci_high", "n_eff_left", "n_eff_right"],
        ),
        alpha=alpha,
        specification=spec,
        notes=tuple(notes),
    )
