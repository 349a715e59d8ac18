r"""The regression-discontinuity plot of a scored call, safe to publish: binned means and polynomial fits.

The bins and the global polynomial fits are rdrobust's ``rdplot`` (Calonico, Cattaneo & Titiunik 2015);
this module centres scores per call, drops every bin that rests on fewer than ``min_firms`` firms, keeps
no value that describes a single firm, and draws the plot with matplotlib.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from ipf_eval._defaults import check_alpha, check_outcome_varies, keyword_options, user_stack_level
from ipf_eval.discontinuity._score import centred_score
from ipf_eval.errors import (
    DataError,
    DataWarning,
    DisclosureError,
    DisclosureWarning,
    EstimationError,
    EstimationWarning,
    SpecificationError,
)
from ipf_eval.results import DropRecord, ResultMixin, Specification, Summary, json_safe

__all__ = ["RdPlotData", "rd_plot_data"]

_BINSELECT = ("es", "espr", "esmv", "esmvpr", "qs", "qspr", "qsmv", "qsmvpr")
_MAX_P = 6
_ORDINAL = ("zero", "first", "second", "third", "fourth", "fifth", "sixth")
_NUMPY_NOISE = ("Mean of empty slice", "invalid value encountered in scalar divide")
_N_GRID = 500  # points per side of the fitted curve, as rdplot
_BIN_COLUMNS = ("side", "mean_score", "mean_y", "n_firms", "ci_low", "ci_high")
_CURVE_COLUMNS = ("side", "score", "fitted")


@dataclass(frozen=True, eq=False)
class RdPlotData(ResultMixin):
    """The published data of an RD plot, and the plot.

    Attributes
    ----------
    bins
        One row per published bin: ``side`` (``"below"``/``"above"`` the threshold), ``mean_score`` (mean
        centred score of the bin's firms, where the dot is drawn), ``mean_y`` (mean outcome, covariate
        adjusted when covariates were given), ``n_firms``, ``ci_low``, ``ci_high`` (the bin mean's t
        interval; missing for a one-firm bin).  Every row has ``n_firms >= min_firms``.
    curve
        The global polynomial fits: ``side``, ``score`` (centred), ``fitted``; each side runs from its
        outermost published bin to the threshold (0), where both sides are evaluated.
    n_bins_dropped, n_firms_dropped, min_firms
        Bins left out for holding fewer than ``min_firms`` firms, and the firms in them.
    yname, p, alpha, specification
        Outcome column (default axis label), order of the fits, 1 minus the bins' interval coverage, and
        the arguments with the firm counts.
    n_bins, binselect
        Bins rdrobust formed below and above the threshold (empty ones included, before dropping), and its
        description of how their number was chosen.
    notes
        Messages from rdrobust and the disclosure step.
    """

    bins: pd.DataFrame
    curve: pd.DataFrame
    n_bins_dropped: int
    n_firms_dropped: int
    min_firms: int
    yname: str
    p: int
    n_bins: tuple[int, int]
    binselect: str
    alpha: float
    specification: Specification
    notes: tuple[str, ...] = ()

    def fitted_at_threshold(self, side: str) -> float:
        """Return the fitted curve of ``side`` (``"below"`` or ``"above"``) at the threshold."""
        c = self.curve
        return float(c.loc[(c["side"] == side) & (c["score"] == 0.0), "fitted"].iloc[0])

    @property
    def jump(self) -> float:
        """Difference of the two fitted curves at the threshold (above minus below)."""
        return self.fitted_at_threshold("above") - self.fitted_at_threshold("below")

    def to_frame(self) -> pd.DataFrame:
        """Return the published bins table (a copy)."""
        return self.bins.copy()

    def alt_text(self, *, label: str | None = None) -> str:
        """Return one sentence describing the plot, for screen readers (``label``: default the outcome)."""
        what = label or _pretty(self.yname)
        gap = (f" ({self.n_bins_dropped} bins with fewer than {self.min_firms} firms are not shown)"
               if self.n_bins_dropped else "")
        move = "rises" if self.jump >= 0 else "falls"
        return (f"Binned means of {what} against the score relative to the threshold, in {len(self.bins)} "
                f"bins of at least {self.min_firms} firms{gap}, with a {_ORDINAL[self.p]}-order polynomial "
                f"fit on each side; the fit {move} by {abs(self.jump):.3g} at the threshold.")

    def plot(self, *, ax: Any = None, xlabel: str = "Score relative to the threshold",
             ylabel: str | None = None, title: str | None = None) -> Any:
        """Draw the bins (uniform dots), the fit on each side and a dashed line at 0; return the Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.0))
        b = self.bins
        ax.scatter(b["mean_score"], b["mean_y"], s=20, color="C0", zorder=3, label="binned means")
        for side in ("below", "above"):
            c = self.curve.loc[self.curve["side"] == side]
            ax.plot(c["score"], c["fitted"], color="C3", linewidth=1.5,
                    label=f"polynomial fit (order {self.p})" if side == "below" else None)
        ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
        span = float(self.curve["score"].max() - self.curve["score"].min())
        if span >= 5:  # scores in points: whole-number ticks
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel if ylabel is not None else _pretty(self.yname))
        if title is not None:
            ax.set_title(title)
        ax.legend(frameon=False, fontsize="small")
        return ax

    def summary(self) -> Summary:
        """Return the printable summary (the bins table)."""
        a = self.specification.arguments
        facts = (("firms below / above", f"{a['n_below']} / {a['n_above']}"),
                 ("bins formed below / above", f"{self.n_bins[0]} / {self.n_bins[1]}"),
                 ("bins dropped (firms in them)", f"{self.n_bins_dropped} ({self.n_firms_dropped})"),
                 ("jump of the fit at the threshold", f"{self.jump:.4g}"))
        return Summary(title="Regression discontinuity plot (rdrobust rdplot)", facts=facts, table=self.bins,
                       notes=(f"Bins with fewer than {self.min_firms} firms are not published.", *self.notes))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary."""
        return json_safe({
            "bins": self.bins, "curve": self.curve, "n_bins_dropped": self.n_bins_dropped,
            "n_firms_dropped": self.n_firms_dropped, "min_firms": self.min_firms, "yname": self.yname,
            "p": self.p, "n_bins": list(self.n_bins), "binselect": self.binselect, "alpha": self.alpha,
            "jump": self.jump, "notes": list(self.notes), "specification": self.specification.to_dict(),
        })


def _pretty(name: str) -> str:
    return name.replace("_", " ")


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _check_options(min_firms: object, nbins: object, p: object, binselect: object) -> None:
    if not _is_int(min_firms) or min_firms < 1:
        raise SpecificationError("rd_plot_data(): `min_firms` must be a positive integer (1 disables the "
                                 f"rule); got {min_firms!r}.")
    pair: Sequence[object] = nbins if isinstance(nbins, (tuple, list)) else (nbins, nbins)
    if nbins is not None and (len(pair) != 2 or not all(_is_int(v) and v >= 1 for v in pair)):
        raise SpecificationError(
            "rd_plot_data(): `nbins` must be None (chosen by `binselect`), a positive integer or a pair "
            f"(below, above) of them; got {nbins!r}."
        )
    if not _is_int(p) or not 0 <= p <= _MAX_P:
        raise SpecificationError(
            f"rd_plot_data(): `p` must be an integer from 0 to {_MAX_P} (4 = rdplot's quartic); got {p!r}. "
            "Higher-order global polynomials are unstable (Gelman & Imbens 2019)."
        )
    if binselect not in _BINSELECT:
        raise SpecificationError(
            f"rd_plot_data(): `binselect` must be one of {_BINSELECT!r}; got {binselect!r}.")


def _run_rdplot(y: np.ndarray, x: np.ndarray, covs: np.ndarray | None, notes: list[str], **kw: Any) -> Any:
    """Call rdplot without a figure, turning its prints into notes and warnings, its errors into ours."""
    from rdrobust import rdplot

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = rdplot(y, x, c=0.0, covs=covs, hide=True, **kw)
    except Exception as exc:  # rdrobust raises bare Exception and numpy errors
        raise EstimationError(
            f"rd_plot_data(): rdrobust's rdplot failed ({type(exc).__name__}: {exc}). Check that each side "
            "of the threshold has enough firms with distinct scores, or set `nbins`."
        ) from exc
    messages = [m.strip() for m in out.getvalue().splitlines() if m.strip()]
    messages += [str(w.message).strip() for w in caught  # numpy's are from rdplot's unused bin lengths
                 if not issubclass(w.category, (FutureWarning, DeprecationWarning))
                 and not (issubclass(w.category, RuntimeWarning) and str(w.message) in _NUMPY_NOISE)]
    for m in dict.fromkeys(messages):
        notes.append(f"rdplot: {m}")
        warnings.warn(f"rd_plot_data(): rdrobust's rdplot reported: {m}", EstimationWarning,
                      stacklevel=user_stack_level())
    return res


@keyword_options
def rd_plot_data(data: pd.DataFrame, *, yname: str, scorename: str, cutoff: float | str, min_firms: int = 10,
                 nbins: int | tuple[int, int] | None = None, p: int = 4, binselect: str = "esmv",
                 covariates: Sequence[str] | None = None, call: str | None = None, idname: str | None = None,
                 alpha: float = 0.05) -> RdPlotData:
    r"""Binned means and global polynomial fits of a scored call (rdrobust's ``rdplot``), safe to publish.

    Parameters
    ----------
    data
        One row per applicant firm (not modified).
    yname
        Outcome column.
    scorename
        Evaluators' score (the running variable); firms with score :math:`\ge` threshold are above it.
    cutoff
        Threshold: a number, or a column holding each firm's threshold; scores are centred (score minus
        threshold) so that calls are pooled at 0.
    min_firms
        Bins with fewer firms are not published (their count is); each side needs at least this many.
    nbins
        Bins below and above the threshold (one number for both, or a pair); ``None`` lets ``binselect``
        choose.
    p
        Order of the global polynomial fitted on each side (rdplot's default 4).
    binselect
        rdplot's bin selector: ``"esmv"`` (evenly spaced, mimicking variance; default), ``"es"``, ``"espr"``,
        ``"esmvpr"``, or the quantile-spaced ``"qs"``, ``"qspr"``, ``"qsmv"``, ``"qsmvpr"`` (bins with
        similar numbers of firms, so fewer are dropped).
    covariates
        Numeric covariates added to the polynomial fits; bin means are then adjusted (rdplot's
        ``covs_eval="mean"``).
    call
        Column identifying the call; a threshold column must be constant within it.
    idname
        Firm identifier; when given, each firm must appear once (the bin counts count rows).
    alpha
        1 minus the coverage of the bin means' intervals.

    Returns
    -------
    RdPlotData

    Raises
    ------
    DataError
        Missing columns; a non-numeric score, outcome or covariate; infinite values; a constant outcome; a
        firm repeated; a threshold varying within a call.
    SpecificationError
        A threshold outside the score range; a bad ``min_firms``, ``nbins``, ``p``, ``binselect``, ``alpha``.
    DisclosureError
        A side of the threshold with fewer than ``min_firms`` firms, or none of its bins publishable.
    EstimationError
        rdplot cannot fit the polynomial or form the bins (too few firms, too few distinct scores).

    Warns
    -----
    DisclosureWarning, DataWarning, EstimationWarning
        Bins dropped (with the numbers of bins and firms); rows with missing values dropped; messages from
        rdplot (mass points in the score, no variation of the outcome on one side).

    Notes
    -----
    For bin :math:`B_j` with :math:`n_j` firms the dot is :math:`(\bar X_j, \bar Y_j)`, the means of the
    centred score and the outcome over its firms; on each side the fit is the least-squares polynomial
    :math:`\hat\mu_\pm(x) = \sum_{k=0}^{p}\hat\gamma_{\pm,k}x^k` over all the side's firms, and the jump is
    :math:`\hat\mu_+(0) - \hat\mu_-(0)`.  The number of bins follows Calonico, Cattaneo & Titiunik (2015).
    Unlike rdplot's figure, the dots sit at the bins' mean score, not their midpoints, and the curves stop
    at the outermost published dot: evenly spaced bins span the lowest to the highest score, so their
    midpoints (and rdplot's curve grid) would give away the score of a single firm.  The plot is a picture
    of the design, not its estimate: global high-order polynomials estimate the jump poorly (Gelman &
    Imbens 2019); report :func:`~ipf_eval.discontinuity.rdd.rdd`.

    References
    ----------
    Calonico, S., Cattaneo, M. D. and Titiunik, R. (2015). Optimal data-driven regression discontinuity
    plots. *Journal of the American Statistical Association* 110(512), 1753-1769.

    Gelman, A. and Imbens, G. (2019). Why high-order polynomials should not be used in regression
    discontinuity designs. *Journal of Business & Economic Statistics* 37(3), 447-456.

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> from ipf_eval.evidence.design_estimators import applicant_cross_section
    >>> sim = simulate_firms(seed=3, n_firms=30000, countries=["AT"], instruments=["rd_grant"])
    >>> cross = applicant_cross_section(sim.evaluation_sample("AT", "rd_grant"), outcome="log_employment")
    >>> res = rd_plot_data(cross, yname="change", scorename="score", cutoff="threshold",
    ...                    call="application_year", binselect="qsmv")
    >>> ax = res.plot(ylabel="Change in log employment")
    """
    _check_options(min_firms, nbins, p, binselect)
    alpha = check_alpha(alpha, function="rd_plot_data")
    covs = [covariates] if isinstance(covariates, str) else list(covariates or [])
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"rd_plot_data(): `data` must be a pandas DataFrame; got {type(data).__name__!r}.")
    if not data.index.is_unique:  # rows are matched by label below; a new frame, the caller's is untouched
        data = data.reset_index(drop=True)
    missing = [c for c in [yname, *covs, *([idname] if idname else [])] if c not in data.columns]
    if missing:
        raise DataError(f"rd_plot_data(): column(s) {missing!r} not found in `data`.")
    x, frame, dropped = centred_score(data, scorename=scorename, cutoff=cutoff, call=call, extra=(),
                                      func="rd_plot_data")
    used = [yname, *covs]
    for col in (c for c in used if not pd.api.types.is_numeric_dtype(data[c])):
        raise DataError(f"rd_plot_data(): {'outcome' if col == yname else 'covariate'} {col!r} must be "
                        f"numeric; got dtype {str(data[col].dtype)!r}. Dummy-code a categorical covariate.")
    vals = data.loc[frame.index, used].astype(float)
    na = vals.isna().any(axis=1).to_numpy()
    if na.any():
        warnings.warn(f"rd_plot_data(): dropped {int(na.sum())} of {na.size} rows with missing values in "
                      f"{used!r}.", DataWarning, stacklevel=user_stack_level())
        dropped = (*dropped, DropRecord(reason=f"missing values in {used!r}", n_rows=int(na.sum())))
    x, vals = x[~na], vals.loc[~na]
    n_inf = int((~np.isfinite(vals.to_numpy())).any(axis=1).sum())
    if n_inf:
        raise DataError(f"rd_plot_data(): {n_inf} rows have infinite values in {used!r}; drop or recode.")
    check_outcome_varies(vals[yname].to_numpy(), column=yname, function="rd_plot_data")
    if idname is not None:
        dup = data.loc[vals.index, idname].duplicated()
        if dup.any():
            raise DataError(f"rd_plot_data(): {int(dup.sum())} rows repeat a firm in {idname!r} (e.g. "
                            f"{data.loc[vals.index[dup.to_numpy()][:3], idname].tolist()!r}); bins count "
                            "firms, so pass one row per applicant.")
    n_below, n_above = int((x < 0).sum()), int((x >= 0).sum())
    for where, n in (("below", n_below), ("above", n_above)):
        if n < min_firms:
            raise DisclosureError(
                f"rd_plot_data(): only {n} firms {where} the threshold, fewer than `min_firms`={min_firms}; "
                "the fit on that side would describe too few firms to publish.")
        if n <= p + 1:
            raise EstimationError(f"rd_plot_data(): {n} firms {where} the threshold; a polynomial of order "
                                  f"{p} needs more than {p + 1}. Lower `p`.")
    notes: list[str] = []
    kw: dict[str, Any] = {"p": int(p), "binselect": binselect, "ci": 100 * (1 - alpha)}
    if nbins is not None:
        kw["nbins"] = list(nbins) if isinstance(nbins, (tuple, list)) else int(nbins)
    res = _run_rdplot(vals[yname].to_numpy(), x, vals[covs].to_numpy() if covs else None, notes, **kw)
    vb = res.vars_bins
    side = np.where(vb["rdplot_mean_x"].to_numpy(dtype=float) < 0, "below", "above")
    n_bin = vb["rdplot_N"].to_numpy(dtype=int)
    if int(n_bin[side == "below"].sum()) != n_below or int(n_bin[side == "above"].sum()) != n_above:
        raise EstimationError(  # the disclosure guarantee rests on these counts
            f"rd_plot_data(): rdplot's bin counts add up to {int(n_bin.sum())}, not {n_below + n_above}.")
    one = n_bin < 2  # rdplot gives a one-firm bin a zero-width interval
    bins = pd.DataFrame({"side": side, "mean_score": vb["rdplot_mean_x"].to_numpy(dtype=float),
                         "mean_y": vb["rdplot_mean_y"].to_numpy(dtype=float), "n_firms": n_bin,
                         "ci_low": np.where(one, np.nan, vb["rdplot_ci_l"].to_numpy(dtype=float)),
                         "ci_high": np.where(one, np.nan, vb["rdplot_ci_r"].to_numpy(dtype=float))},
                        columns=list(_BIN_COLUMNS))
    small = bins["n_firms"] < min_firms
    n_bins_dropped, n_firms_dropped = int(small.sum()), int(bins.loc[small, "n_firms"].sum())
    bins = bins.loc[~small].reset_index(drop=True)
    if n_bins_dropped:
        msg = (f"{n_bins_dropped} of {len(small)} bins held fewer than {min_firms} firms "
               f"({n_firms_dropped} firms in all) and are not published.")
        notes.append(msg)
        warnings.warn(f"rd_plot_data(): {msg} Fewer bins (`nbins`) or quantile-spaced bins "
                      "(binselect='qsmv') lose fewer.", DisclosureWarning, stacklevel=user_stack_level())
    for s in ("below", "above"):
        if not (bins["side"] == s).any():
            raise DisclosureError(f"rd_plot_data(): no bin {s} the threshold holds {min_firms} firms. Use "
                                  "fewer bins (`nbins`) or quantile-spaced bins (binselect='qsmv').")
    curve = _curve(res, bins)
    spec = Specification(
        estimator="rd_plot_data",
        arguments={"yname": yname, "scorename": scorename, "cutoff": cutoff, "min_firms": int(min_firms),
                   "nbins": None if nbins is None else kw["nbins"], "p": int(p), "binselect": binselect,
                   "covariates": covs, "call": call, "idname": idname, "alpha": alpha,
                   "n_below": n_below, "n_above": n_above},
        n_obs=x.size, n_units=x.size, dropped=dropped)
    return RdPlotData(bins=bins, curve=curve, n_bins_dropped=n_bins_dropped, n_firms_dropped=n_firms_dropped,
                      min_firms=int(min_firms), yname=yname, p=int(p),
                      n_bins=(int(res.J[0]), int(res.J[1])), binselect=str(res.binselect), alpha=alpha,
                      specification=spec, notes=tuple(notes))


def _curve(res: Any, bins: pd.DataFrame) -> pd.DataFrame:
    """Return rdplot's polynomial on each side, on a grid from the outermost published bin to the threshold.

    rdplot's own grid starts at the lowest (ends at the highest) score, so the curve is re-evaluated from its
    coefficients; covariates shift both sides by the same constant, read off rdplot's curve at 0.
    """
    y0 = res.vars_poly["rdplot_y"].to_numpy(dtype=float)
    parts = []
    for s, col, at0 in (("below", "Left", _N_GRID - 1), ("above", "Right", _N_GRID)):
        coef = res.coef[col].to_numpy(dtype=float)
        shift = y0[at0] - coef[0]  # rdplot's grid ends (starts) exactly at the threshold
        ms = bins.loc[bins["side"] == s, "mean_score"]
        grid = np.linspace(ms.min(), 0.0, _N_GRID) if s == "below" else np.linspace(0.0, ms.max(), _N_GRID)
        parts.append(pd.DataFrame({"side": s, "score": grid,
                                   "fitted": np.polynomial.polynomial.polyval(grid, coef) + shift}))
    return pd.concat(parts, ignore_index=True)[list(_CURVE_COLUMNS)]
