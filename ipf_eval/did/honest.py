r"""HonestDiD sensitivity analysis under relative magnitudes (Rambachan and Roth 2023), method C-LF.

As R ``HonestDiD``'s ``createSensitivityResults_relativeMagnitudes`` (same grid, same least-favourable draws
from R's generator), without a solver: the moments of :math:`\Delta^{RM}` come in :math:`\pm` pairs, so the
dual of the test's programme has at most ``num_post + 2`` vertices, whatever :math:`\theta`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from ipf_eval._defaults import check_options, keyword_options
from ipf_eval.did._att_gt_results import AggregateResult
from ipf_eval.errors import EstimationError, SpecificationError
from ipf_eval.results import ResultMixin, Specification, Summary, json_safe, tidy_frame

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["HonestDidResult", "honest_did", "relative_magnitudes_ci"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Polyhedron = tuple[FloatArray, FloatArray, FloatArray, float]  # vertex values, slopes, covariance, LF cv
_N_DRAWS = 1000  # draws of the least-favourable critical value (R's ``sims``)
_MAX_EXTENSIONS = 20  # blocks of grid added on an open side of the default grid
_METHOD = "C-LF"


def _r_rnorm(n: int, seed: int) -> FloatArray:
    """``set.seed(seed); rnorm(n)`` with R's default generators (Mersenne-Twister, inversion)."""
    s, key = seed & 0xFFFFFFFF, np.empty(675, dtype=np.uint32)
    for j in range(675):  # 50 scrambling steps, then R's 625 seeds (position, then the 624 words)
        s = (69069 * s + 1) & 0xFFFFFFFF
        key[j] = s
    gen = np.random.MT19937(0)
    gen.state = {"bit_generator": "MT19937", "state": {"key": key[51:], "pos": 624}}
    u = gen.random_raw(2 * n).astype(np.float64) * 2.3283064365386963e-10
    u[u <= 0.0] = 0.5 * 2.328306437080797e-10
    return np.asarray(special.ndtri((np.floor(2.0**27 * u[0::2]) + u[1::2]) / 2.0**27))  # 2 uniforms each


def _log_mass(a: FloatArray, b: FloatArray) -> FloatArray:
    """``log(Phi(b) - Phi(a))`` for ``a <= b``, accurate in both tails."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log1p(-special.ndtr(a) - special.ndtr(-b))
        for mask, lo, hi in ((a >= 0, -b, -a), (b <= 0, a, b)):
            l_lo, l_hi = special.log_ndtr(lo[mask]), special.log_ndtr(hi[mask])
            out[mask] = l_hi + np.log1p(-np.exp(l_lo - l_hi))
    return np.asarray(out)


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SpecificationError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _check_mbar(mbar: Any) -> float:
    number = isinstance(mbar, (int, float, np.number)) and not isinstance(mbar, bool)
    value = float(mbar) if number else math.nan
    if not math.isfinite(value) or value < 0:
        raise SpecificationError(f"mbar must be finite and >= 0 (post-period violations relative to the "
                                 f"largest pre-period one); got {mbar!r}.")
    return value


class _RelativeMagnitudes:
    """The parts of the test that do not depend on Mbar, and the test on a grid of theta."""

    def __init__(self, betahat: ArrayLike, sigma: ArrayLike, num_pre: int, num_post: int,
                 l_vec: ArrayLike | None, alpha: float, seed: int) -> None:
        npre, t = _integer("num_pre", num_pre, 1), _integer("num_post", num_post, 1)
        n, eye = npre + t, np.eye(npre + t)
        beta, cov = np.asarray(betahat, dtype=float).reshape(-1), np.asarray(sigma, dtype=float)
        if beta.size != n or not np.all(np.isfinite(beta)):
            raise SpecificationError(f"betahat must hold num_pre + num_post = {n} finite values (pre-periods "
                                     f"first, the reference period left out); got {beta.size} values.")
        if cov.shape != (n, n) or not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, rtol=1e-8):
            raise SpecificationError(f"sigma must be a finite symmetric {n} x {n} matrix; got {cov.shape}.")
        lv = np.eye(t)[0] if l_vec is None else np.asarray(l_vec, dtype=float).reshape(-1)
        if lv.size != t or not np.all(np.isfinite(lv)) or not np.any(lv != 0):
            raise SpecificationError(f"l_vec must hold num_post = {t} finite weights, not all 0; got {lv!r}.")
        if not 0.0 < float(alpha) < 1.0:
            raise SpecificationError(f"alpha must be in (0, 1); got {alpha!r}.")
        self.beta, self.cov, self.num_pre, self.num_post, self.l_vec = beta, cov, npre, t, lv
        self.alpha, self.kappa = float(alpha), float(alpha) / 10.0
        # first differences delta_r - delta_{r-1} after (post) and before (pre) delta_0 = 0
        self.post_diff = eye[npre:] - np.vstack([np.zeros(n), eye[npre:-1]])
        self.pre_diff = np.vstack([eye[1:npre], np.zeros(n)]) - eye[:npre]
        # dual vertices (unnormalised): m = D'^{-1} l split into the + and - moments, and each pair
        # (e_r, e_r) of moments unless m lives on r alone (the pair is then not a vertex)
        m = np.cumsum(lv[::-1])[::-1].copy()
        m[np.abs(m) <= 1e-14 * np.max(np.abs(m))] = 0.0
        pos, neg, support = np.maximum(m, 0.0), np.maximum(-m, 0.0), np.flatnonzero(m)
        pairs = [np.tile(np.eye(t)[r], 2) for r in range(t) if not np.array_equal(support, [r])]
        self.rays = np.vstack([np.concatenate([pos, neg]), np.concatenate([neg, pos]), *pairs])
        dw = self.post_diff[:, npre:] @ (lv / float(lv @ lv))  # moves l'tau by one
        self.theta_shift = np.concatenate([dw, -dw])
        self.draws = _r_rnorm(_N_DRAWS * 2 * t, int(seed)).reshape(_N_DRAWS, 2 * t)
        self.sd_theta = math.sqrt(max(float(lv @ cov[npre:, npre:] @ lv), 0.0))
        self.estimate = float(lv @ beta[npre:])

    def polyhedra(self, mbar: float) -> list[Polyhedron]:
        """Each polyhedron of Delta^RM(Mbar): its vertices' values, slopes and covariance, and LF value."""
        out = []
        for v in (sign * mbar * row for row in self.pre_diff for sign in (1.0, -1.0)):
            a = np.vstack([self.post_diff - v, -self.post_diff - v])
            cov_y = a @ self.cov @ a.T
            sd = np.sqrt(np.maximum(np.diag(cov_y), 0.0))
            if np.any(sd <= 0):
                raise EstimationError("A moment of the relative-magnitudes restriction has zero variance: "
                                      "the post-period block of sigma is singular; check the covariance.")
            lam = self.rays / (self.rays @ sd)[:, None]
            vals, vecs = np.linalg.eigh(cov_y)  # draws as mvtnorm::rmvnorm: symmetric square root
            eta = np.max(self.draws @ ((vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T) @ lam.T, axis=1)
            out.append((lam @ (a @ self.beta), lam @ self.theta_shift, lam @ cov_y @ lam.T,
                        float(np.quantile(eta, 1.0 - self.kappa))))
        return out

    def accept(self, polys: list[Polyhedron], theta: FloatArray) -> NDArray[np.bool_]:
        """Which ``theta`` the C-LF test accepts for at least one polyhedron."""
        log_size = math.log((self.alpha - self.kappa) / (1.0 - self.kappa))
        cols, accepted = np.arange(theta.size), np.zeros(theta.size, dtype=bool)
        for p, q, cov, lf_cv in polys:
            values = p[:, None] - q[:, None] * theta[None, :]
            best = np.argmax(values, axis=0)
            eta, var = values[best, cols], cov[best, best]
            ratio = cov[:, best] / np.where(var > 0, var, 1.0)
            den = 1.0 - ratio
            with np.errstate(divide="ignore", invalid="ignore"):
                cut = (values - ratio * eta) / den
            vlo = np.max(np.where(den > 1e-12, cut, -np.inf), axis=0)
            vup = np.min(np.where(den < -1e-12, cut, np.inf), axis=0)
            if self.num_post > 1:  # as R: the LF cut-off truncates only with nuisance parameters
                vup = np.minimum(vup, lf_cv)
            sd_b = np.sqrt(np.where(var > 0, var, 1.0))
            stat, zlo, zup = eta / sd_b, vlo / sd_b, vup / sd_b
            inside = (zlo <= stat) & (stat <= zup) & (stat > 0)
            reject = eta > lf_cv
            log_sf = _log_mass(stat[inside], zup[inside]) - _log_mass(zlo[inside], zup[inside])
            reject[inside] |= log_sf < log_size
            degenerate = var < np.finfo(float).eps
            reject[degenerate] = eta[degenerate] > 0
            accepted |= ~reject
        return accepted

    def interval(self, mbar: float, grid_points: int = 1000, grid_lb: float | None = None,
                 grid_ub: float | None = None, extend_grid: bool = True,
                 extend_open: bool = True) -> tuple[float, float]:
        """Smallest and largest accepted grid points; ``extend_open=False`` skips the open-side blocks."""
        if (grid_lb is None or grid_ub is None) and not self.sd_theta > 0:
            raise EstimationError("l'sigma_post l is zero: the default grid (+-20 standard errors) is empty.")
        lb, ub = (-20.0 * self.sd_theta if grid_lb is None else float(grid_lb),
                  20.0 * self.sd_theta if grid_ub is None else float(grid_ub))
        if not (math.isfinite(lb) and math.isfinite(ub) and lb < ub):
            raise SpecificationError(f"The grid needs finite grid_lb < grid_ub; got [{lb!r}, {ub!r}].")
        polys, by, n = self.polyhedra(mbar), (ub - lb) / (grid_points - 1), grid_points - 1
        free_lo, free_hi = extend_grid and grid_lb is None, extend_grid and grid_ub is None
        # whole blocks of R's spacing until the estimate +- 20 standard errors is on the grid
        n_lo = math.ceil(max(0.0, lb - self.estimate + 20.0 * self.sd_theta) / (ub - lb)) if free_lo else 0
        n_hi = math.ceil(max(0.0, self.estimate + 20.0 * self.sd_theta - ub) / (ub - lb)) if free_hi else 0
        theta = np.concatenate([lb - by * np.arange(n_lo * n, 0, -1), np.linspace(lb, ub, grid_points),
                                ub + by * np.arange(1, n_hi * n + 1)])
        ok = self.accept(polys, theta)
        for _ in range(_MAX_EXTENSIONS if extend_open else 0):
            if free_hi and ok[-1]:
                more = theta[-1] + by * np.arange(1, n + 1)
                theta, ok = np.concatenate([theta, more]), np.concatenate([ok, self.accept(polys, more)])
            if free_lo and ok[0]:
                more = theta[0] - by * np.arange(n, 0, -1)
                theta, ok = np.concatenate([more, theta]), np.concatenate([self.accept(polys, more), ok])
        if not np.any(ok):
            return math.nan, math.nan
        lo = -math.inf if extend_open and free_lo and ok[0] else float(np.min(theta[ok]))
        hi = math.inf if extend_open and free_hi and ok[-1] else float(np.max(theta[ok]))
        return lo, hi


@keyword_options
def relative_magnitudes_ci(
    betahat: ArrayLike, sigma: ArrayLike, *, num_pre: int, num_post: int, mbar: float,
    l_vec: ArrayLike | None = None, alpha: float = 0.05, grid_points: int = 1000,
    grid_lb: float | None = None, grid_ub: float | None = None, extend_grid: bool = True, seed: int = 0,
) -> tuple[float, float]:
    r"""Robust confidence set for :math:`\theta = l'\tau_{post}` under relative magnitudes :math:`\bar M`.

    Parameters
    ----------
    betahat, sigma, num_pre, num_post
        Event-study coefficients, ``num_pre`` pre-periods (earliest first) then ``num_post`` post-periods
        (the reference period, normalised to zero, left out), and their covariance.
    mbar, l_vec, alpha
        :math:`\bar M \ge 0`; the target's weights on the post-periods (default the first post-period, as
        R); one minus the coverage.
    grid_points, grid_lb, grid_ub
        Grid of :math:`\theta`; default R's, 1000 points on :math:`\pm 20` standard errors of
        :math:`l'\hat\beta_{post}` around zero.
    extend_grid, seed
        On a side not given explicitly, add blocks of the grid's spacing until it covers the estimate
        :math:`\pm 20` standard errors and, where the accepted set reaches the end (R warns "CI is open at
        one of the endpoints"), until it does not (at most 20 blocks, then :math:`\pm\infty`); ``False``
        gives R's numbers in every case.  Seed of the 1000 least-favourable draws (R's generator).

    Returns
    -------
    tuple of float
        ``(lower, upper)``: the extreme accepted grid points (R's ``lb``, ``ub``), ``nan`` if none is.

    Raises
    ------
    SpecificationError
        Sizes that do not conform, ``sigma`` not symmetric, ``l_vec`` all zero, ``mbar`` negative or not
        finite, ``alpha`` outside (0, 1), ``grid_points < 2`` or ``grid_lb >= grid_ub``.
    EstimationError
        A moment of the restriction, or :math:`l'\hat\beta_{post}`, has zero variance.

    Notes
    -----
    With :math:`\beta = \tau + \delta`, :math:`\delta_0 = 0`, :math:`\Delta^{RM}(\bar M) = \{\delta :
    |\delta_{t+1} - \delta_t| \le \bar M \max_{s<0} |\delta_{s+1} - \delta_s|, t \ge 0\}` is a union of
    polyhedra :math:`A\delta \le 0` (location, sign of the largest pre-period change).  For each, theta is
    rejected when :math:`\hat\eta = \min_\nu \max_j (Y_j(\theta) - X_j\nu)/\sigma_j` exceeds the
    :math:`1-\kappa` quantile of its least-favourable law (:math:`\kappa = \alpha/10`) or else the
    :math:`1-(\alpha-\kappa)/(1-\kappa)` quantile of a normal truncated to the conditioning interval
    (capped at that value); only moments with post-periods enter, the set is the union's accepted points.

    References
    ----------
    Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. *Review of Economic
    Studies* 90(5), 2555-2591.

    Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment inequalities.
    *Review of Economic Studies* 90(6), 2763-2791.

    Examples
    --------
    >>> import numpy as np
    >>> lo, hi = relative_magnitudes_ci([0.0, 0.3, 0.3], np.eye(3) * 1e-4, num_pre=1, num_post=2, mbar=1)
    >>> bool(lo < 0.3 < hi)
    True
    """
    rm = _RelativeMagnitudes(betahat, sigma, num_pre, num_post, l_vec, alpha, seed)
    return rm.interval(_check_mbar(mbar), _integer("grid_points", grid_points, 2), grid_lb, grid_ub,
                       extend_grid)


def _breakdown(excludes: Callable[[float], bool], known: dict[float, bool], cap: float,
               tol: float) -> tuple[float, bool]:
    """Largest Mbar checked to exclude zero, by bisection; ``known`` holds the checks already made."""
    for m in (0.0, cap):
        known[m] = known[m] if m in known else excludes(m)
    if not known[0.0] or known[cap]:
        return (cap, True) if known[0.0] else (0.0, False)
    hi = min([m for m, ex in known.items() if not ex and 0.0 < m < cap], default=cap)
    lo = max([m for m, ex in known.items() if ex and m < hi], default=0.0)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excludes(mid) else (lo, mid)
    return lo, False


@dataclass(frozen=True, eq=False)
class HonestDidResult(ResultMixin):
    r"""Robust confidence sets under relative magnitudes from :func:`honest_did`.

    Attributes
    ----------
    mbar, ci_low, ci_high
        Values of :math:`\bar M` and the robust (C-LF) set at each.
    estimate, std_error
        :math:`l'\hat\beta_{post}` and its standard error (``original_ci``: the usual interval).
    breakdown_mbar, breakdown_capped, breakdown_cap, breakdown_tol
        Largest :math:`\bar M` found whose set excludes zero, whether it is the search's cap, the cap and
        the tolerance (see :func:`honest_did`).
    l_vec, pre_event_times, post_event_times, reference_event_time
        Target weights on ``post_event_times``, the pre-periods used and the normalised reference period.
    betahat, sigma, alpha, specification, source
        Coefficients (pre, then post) and covariance tested, level, specification, event study analysed.
    """

    mbar: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    estimate: float
    std_error: float
    breakdown_mbar: float
    breakdown_capped: bool
    breakdown_cap: float
    breakdown_tol: float
    l_vec: FloatArray
    pre_event_times: IntArray
    post_event_times: IntArray
    reference_event_time: int
    betahat: FloatArray
    sigma: FloatArray
    alpha: float
    specification: Specification
    source: AggregateResult = field(repr=False)
    method: ClassVar[str] = _METHOD

    def __post_init__(self) -> None:
        for a in (self.mbar, self.ci_low, self.ci_high, self.l_vec, self.pre_event_times,
                  self.post_event_times, self.betahat, self.sigma):
            a.setflags(write=False)

    @property
    def original_ci(self) -> tuple[float, float]:
        """The usual (non-robust) interval of the target."""
        half = float(stats.norm.ppf(1.0 - self.alpha / 2.0)) * self.std_error
        return self.estimate - half, self.estimate + half

    def to_frame(self) -> pd.DataFrame:
        """Return the tidy table: the original interval, then the robust set at each ``mbar``."""
        stat, (lo, hi) = self.estimate / self.std_error, self.original_ci  # std_error > 0 (checked)
        rows: list[dict[str, Any]] = [
            {"term": "original", "estimate": self.estimate, "std_error": self.std_error, "statistic": stat,
             "p_value": float(2.0 * stats.norm.sf(abs(stat))), "ci_low": lo, "ci_high": hi,
             "mbar": math.nan, "method": "original"}]
        rows += [{"term": f"Mbar={m:g}", "estimate": self.estimate, "ci_low": float(a), "ci_high": float(b),
                  "mbar": float(m), "method": self.method}
                 for m, a, b in zip(self.mbar, self.ci_low, self.ci_high, strict=True)]
        return tidy_frame(rows)

    def summary(self) -> Summary:
        """Return the printable summary."""
        (lo, hi), args, m = self.original_ci, self.specification.arguments, self.breakdown_mbar
        brk = (f">= {self.breakdown_cap:g} (the search cap)" if self.breakdown_capped else "0 (zero inside)"
               if m == 0 else f"{m:.4g} (bisection tolerance {self.breakdown_tol:g})")
        weights = ", ".join(f"e={e}: {w:.3g}" for e, w in zip(self.post_event_times, self.l_vec, strict=True))
        facts = (("Restriction", "|post-period change| <= Mbar x largest |pre-period change|"),
                 ("Target", f"l'tau, weights {weights}"),
                 ("Estimate", f"{self.estimate:.4f} (std. error {self.std_error:.4f})"),
                 (f"Original {1 - self.alpha:.0%} CI", f"[{lo:.4f}, {hi:.4f}]"),
                 ("Pre-periods", f"{self.pre_event_times.tolist()} (reference {self.reference_event_time})"),
                 ("Method", f"{self.method}, {args['grid_points']}-point grid, seed {args['seed']}"),
                 ("Breakdown Mbar", brk))
        notes = ("Robust sets (Rambachan and Roth 2023) hold every effect not rejected when post-period "
                 "violations of parallel trends are at most Mbar times the largest pre-period one.",)
        return Summary(title="HonestDiD sensitivity analysis (relative magnitudes)", facts=facts,
                       table=self.to_frame()[["method", "mbar", "ci_low", "ci_high"]], notes=notes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        keys = ("breakdown_mbar", "breakdown_capped", "breakdown_cap", "breakdown_tol", "l_vec",
                "pre_event_times", "post_event_times", "reference_event_time", "alpha")
        return {"kind": "honest_did", "method": self.method, "estimates": json_safe(self.to_frame()),
                **{k: json_safe(getattr(self, k)) for k in keys},
                "specification": self.specification.to_dict()}

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot the original interval (left) and the robust sets against ``mbar``; returns the Axes.

        ``color`` is the only keyword option (of the estimates); any other is refused with
        :class:`~ipf_eval.errors.SpecificationError`.
        """
        check_options(kwargs, ("color",), function="HonestDidResult.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        m = np.sort(self.mbar)
        x0 = float(m[0]) - (float(np.min(np.diff(m))) if m.size > 1 else 0.5)
        lo, hi = self.original_ci
        ax.vlines([x0], [lo], [hi], colors="tab:red", linewidth=2, label="original")
        ax.vlines(self.mbar, self.ci_low, self.ci_high, colors=kwargs.get("color", "tab:blue"), linewidth=2,
                  label=f"robust ({self.method})")
        if self.breakdown_mbar > 0 and not self.breakdown_capped:
            ax.axvline(self.breakdown_mbar, color="grey", linestyle=":", label="breakdown Mbar")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(xlabel="Mbar (post-period violation relative to the largest pre-period one)", ylabel="effect")
        ax.legend(fontsize="small")
        return ax


def _event_study_inputs(es: Any) -> tuple[FloatArray, FloatArray, IntArray, IntArray, int]:
    if not isinstance(es, AggregateResult) or es.kind != "dynamic":
        got = f"kind={es.kind!r}" if isinstance(es, AggregateResult) else type(es).__name__
        raise SpecificationError(f"event_study must be aggregate(att_gt_result, kind='dynamic'); got {got}.")
    base = es.source.specification.arguments.get("base_period")
    if base != "universal":
        raise SpecificationError(f"honest_did needs coefficients relative to one reference period: fit "
                                 f"att_gt with base_period='universal'; got base_period={base!r}.")
    ref = -1 - int(es.source.specification.arguments.get("anticipation", 0))
    labels = np.asarray(es.labels, dtype=np.int64)
    pre, post = labels < ref, labels > ref
    if not np.any(pre):
        raise SpecificationError(f"The event study has no pre-period besides the reference e = {ref} (event "
                                 f"times {labels.tolist()}); aggregate with min_e <= {ref - 1}.")
    if not np.any(labels >= 0):
        raise SpecificationError(f"The event study has no post-support period e >= 0 (event times "
                                 f"{labels.tolist()}); aggregate with max_e >= 0.")
    pre_e, post_e, idx = labels[pre], labels[post], np.flatnonzero(labels != ref)
    if not (np.array_equal(pre_e, np.arange(ref - pre_e.size, ref))
            and np.array_equal(post_e, np.arange(ref + 1, ref + 1 + post_e.size))):
        raise SpecificationError(f"honest_did needs consecutive event times around the reference e = {ref}; "
                                 f"got {labels.tolist()}: choose min_e/max_e for a window without gaps.")
    beta = np.asarray(es.estimates, dtype=float)[idx]
    sigma = np.asarray(es.influence.covariance(), dtype=float)[np.ix_(idx, idx)]
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(sigma))) or np.any(np.diag(sigma) <= 0):
        raise EstimationError(f"The event study has a non-finite estimate or a zero variance at event times "
                              f"{labels[idx].tolist()} (outside the reference period).")
    return beta, sigma, pre_e, post_e, ref


@keyword_options
def honest_did(
    event_study: AggregateResult, *, mbar: float | Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    alpha: float = 0.05, l_vec: Sequence[float] | None = None, breakdown_cap: float = 10.0,
    breakdown_tol: float = 0.01, grid_points: int = 1000, seed: int = 0,
) -> HonestDidResult:
    r"""Sensitivity of an event study to violations of parallel trends: relative magnitudes.

    Parameters
    ----------
    event_study
        ``aggregate(res, kind="dynamic")`` of an :func:`~ipf_eval.did.att_gt.att_gt` fit with
        ``base_period="universal"``.  The reference period ``e = -1 - anticipation`` is dropped; the
        consecutive event times before it are the pre-periods, those after it the post-periods.
    mbar, alpha
        Values of :math:`\bar M` (finite, ``>= 0``) at which to report the robust set; one minus coverage.
    l_vec
        Weights of the target on ``post_event_times``; default the average over event times ``e >= 0``.
    breakdown_cap, breakdown_tol, grid_points, seed
        Upper end and tolerance of the breakdown search; as in :func:`relative_magnitudes_ci` (default
        grid, extended where needed).

    Returns
    -------
    HonestDidResult
        Robust sets, original interval and breakdown value.

    Raises
    ------
    SpecificationError
        Not a dynamic aggregation or not a universal base period; no pre-period besides the reference, no
        post-support period or gaps in the event times; ``mbar`` empty, negative or not finite; ``l_vec``
        of the wrong length; bad ``breakdown_cap``, ``breakdown_tol`` or ``grid_points``.
    EstimationError
        A non-finite estimate or a zero variance outside the reference period.

    Notes
    -----
    The target is :math:`\theta = l'\tau_{post}`, the robust set :func:`relative_magnitudes_ci` on the
    coefficients and their influence-function covariance.  ``breakdown_mbar`` is the largest
    :math:`\bar M \le` ``breakdown_cap`` whose set excludes zero (``ci_low > 0`` or ``ci_high < 0``), by
    bisection to ``breakdown_tol`` assuming exclusion is monotone in :math:`\bar M`: the largest value
    checked, the breakdown lying in ``[breakdown_mbar, breakdown_mbar + breakdown_tol)``; ``0.0`` when the
    set at :math:`\bar M = 0` contains zero, the cap with ``breakdown_capped=True`` if zero is excluded there.

    References
    ----------
    Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. *Review of Economic
    Studies* 90(5), 2555-2591.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> from ipf_eval.did import aggregate, att_gt
    >>> panel = simulate_firms(seed=7, n_firms=4000).evaluation_sample("AT", "loan_guarantee")
    >>> fit = att_gt(panel, yname="log_employment", tname="year", idname="firm_id",
    ...              gname="first_support_year", base_period="universal", bootstrap=False)
    >>> honest_did(aggregate(fit, kind="dynamic", min_e=-5, max_e=5), mbar=[0.5, 1.0]).ci_low.size
    2
    """
    beta, sigma, pre_e, post_e, ref = _event_study_inputs(event_study)
    lv = (post_e >= 0) / float(np.sum(post_e >= 0)) if l_vec is None else np.asarray(l_vec, dtype=float)
    if lv.shape != post_e.shape:
        raise SpecificationError(f"l_vec must hold one weight per post-reference event time "
                                 f"{post_e.tolist()}; got {l_vec!r}.")
    grid_m = np.array([_check_mbar(m) for m in np.atleast_1d(np.asarray(mbar, dtype=object))], dtype=float)
    if not grid_m.size:
        raise SpecificationError("mbar must hold at least one value; got an empty sequence.")
    cap, tol = float(breakdown_cap), float(breakdown_tol)
    if not (math.isfinite(cap) and cap > 0 and 0 < tol < cap):
        raise SpecificationError(f"breakdown_cap must be finite and > 0, breakdown_tol in (0, "
                                 f"breakdown_cap); got {breakdown_cap!r} and {breakdown_tol!r}.")
    points = _integer("grid_points", grid_points, 2)
    rm = _RelativeMagnitudes(beta, sigma, pre_e.size, post_e.size, lv, alpha, seed)
    cis = [rm.interval(float(m), points) for m in grid_m]
    known = {float(m): bool(lo * hi > 0) for m, (lo, hi) in zip(grid_m, cis, strict=True)}  # zero outside

    def excludes(m: float) -> bool:  # never depends on the open-side blocks (zero is inside R's grid)
        return bool(np.prod(rm.interval(m, points, extend_open=False)) > 0)

    breakdown, capped = _breakdown(excludes, known, cap, tol)
    src = event_study.specification
    arguments = {"mbar": grid_m.tolist(), "alpha": float(alpha), "l_vec": None if l_vec is None else
                 rm.l_vec.tolist(), "breakdown_cap": cap, "breakdown_tol": tol, "grid_points": points,
                 "seed": int(seed), "method": _METHOD, "aggregate": dict(src.arguments)}
    spec = Specification(estimator="honest_did", arguments=arguments, n_obs=src.n_obs, n_units=src.n_units,
                         dropped=src.dropped, seed=int(seed))
    return HonestDidResult(
        mbar=grid_m, ci_low=np.array([c[0] for c in cis]), ci_high=np.array([c[1] for c in cis]),
        estimate=rm.estimate, std_error=rm.sd_theta, breakdown_mbar=breakdown, breakdown_capped=capped,
        breakdown_cap=cap, breakdown_tol=tol, l_vec=rm.l_vec, pre_event_times=pre_e, post_event_times=post_e,
        reference_event_time=ref, betahat=beta, sigma=sigma, alpha=rm.alpha, specification=spec,
        source=event_study,
    )
