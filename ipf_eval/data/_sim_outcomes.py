"""Untreated potential outcomes, individual treatment effects and observed outcomes of the synthetic panels.

Private module of :mod:`ipf_eval.data.simulate`.  Outcomes are first drawn for every firm and year of the
window as ``n_firms x n_years`` arrays (cells before entry or after exit are never shown), then the
individual effects of each applicant are computed from the same random draws (so ``Y(1) - Y(0)`` is the
effect, exactly), and added for the firms that were supported, from their first year of support on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ipf_eval.data._sim_config import CountryProfile, InstrumentSpec
from ipf_eval.data._sim_population import (
    LAGE_CENTRE,
    LEMP_CENTRE,
    Applications,
    Population,
    first_exit,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Log turnover per employee by NACE section (C, G, J, M, F) relative to 11.9 (about EUR 150,000).
_TURNOVER_SECTOR = np.array([0.1, 0.6, 0.0, -0.3, -0.1])
# Share of firms performing R&D by section and the size-class factor.
_RD_SECTOR = np.array([0.30, 0.05, 0.45, 0.30, 0.03])
_RD_SIZE = np.array([0.7, 1.0, 1.4])
# Export propensity by section and log-odds of raising equity in a year by section.
_EXPORT_SECTOR = np.array([0.6, 0.2, 0.3, -0.2, -1.0])
_EQUITY_SECTOR = np.array([0.2, -0.5, 1.0, 0.3, -0.8])
# Heterogeneity of individual effects: multiplier max(1 + HET_SD * v_i, 0), v_i standard normal.
HET_SD = 0.4
# Smallest yearly exit hazard a treatment can leave.
_MIN_HAZARD = 0.002
_GFC_YEAR = 2009


@dataclass
class Outcomes:
    """Observed outcomes (firm x year), applicants' individual effects (applicant x year) and exits."""

    observed: dict[str, FloatArray]
    effects: dict[str, FloatArray]
    exit_idx: IntArray


def _ar1(rng: np.random.Generator, n: int, n_years: int, rho: float, sd: float) -> FloatArray:
    """Stationary AR(1) noise with innovation standard deviation ``sd``."""
    out = np.empty((n, n_years))
    out[:, 0] = rng.normal(0.0, sd / np.sqrt(1.0 - rho**2), n)
    innov = rng.normal(0.0, sd, (n, n_years))
    for t in range(1, n_years):
        out[:, t] = rho * out[:, t - 1] + innov[:, t]
    return out


def _expit(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _dynamics(specs: Sequence[InstrumentSpec], outcome: str, n_years: int) -> tuple[FloatArray, FloatArray]:
    """Per instrument: the base effect on ``outcome`` and its multiplier by event time 0..n_years-1."""
    base = np.zeros(len(specs))
    dyn = np.zeros((len(specs), n_years))
    for k, spec in enumerate(specs):
        eff = spec.effects.get(outcome)
        if eff is None:
            continue
        base[k] = eff.base
        d = np.asarray(eff.dynamics, dtype=float)
        dyn[k] = d[np.minimum(np.arange(n_years), d.size - 1)]
    return base, dyn


def simulate_outcomes(
    rng: np.random.Generator,
    *,
    pop: Population,
    apps: Applications,
    specs: Sequence[InstrumentSpec],
    profiles: Sequence[CountryProfile],
    country_multiplier: FloatArray,
    effect_scale: float,
) -> Outcomes:
    """Draw untreated outcomes, compute the applicants' individual effects, add them for supported firms."""
    n, n_years, c, s = pop.n, pop.n_years, pop.country, pop.sector
    years = pop.start + np.arange(n_years)
    rel = np.arange(n_years)[None, :] - pop.first_idx[:, None]
    le = pop.lemp_base - LEMP_CENTRE
    la = pop.log_age_base - LAGE_CENTRE

    # Macro paths: country employment index (with a 2009 dip), common to the country's firms.  There are no
    # sector-specific yearly shocks: the selection index loads on the sector, so sector paths would be
    # trends not captured by the baseline covariates and break conditional parallel trends in each panel.
    growth = np.array([p.growth for p in profiles])
    steps = growth[:, None] + rng.normal(0.0, 0.015, (len(profiles), n_years))
    steps[:, years == _GFC_YEAR] -= 0.04
    steps[:, 0] = 0.0
    mu = np.cumsum(steps, axis=1)
    region_level = rng.normal(0.0, 0.1, int(pop.region.max()) + 1)
    macro = mu[c] - mu[c, pop.first_idx][:, None]

    e_emp = _ar1(rng, n, n_years, 0.6, 0.06)
    e_turn = _ar1(rng, n, n_years, 0.5, 0.08)
    slope = 0.01 - 0.02 * le - 0.012 * la
    lemp0 = pop.lemp_base[:, None] + macro + rel * slope[:, None] + e_emp
    turnover_shift = np.array([p.turnover_shift for p in profiles])[c]
    lturn0 = (
        lemp0
        + 11.9
        + (_TURNOVER_SECTOR[s] + turnover_shift + region_level[pop.region] + pop.productivity)[:, None]
        + 0.2 * macro
        + e_turn
    )

    performer = rng.random(n) < np.minimum(_RD_SECTOR[s] * _RD_SIZE[pop.size], 0.9)
    rd_level = 6000.0 * np.exp(pop.lemp_base + rng.normal(-0.125, 0.5, n))
    rd0 = (performer * rd_level)[:, None] * np.exp(macro + 0.3 * rng.normal(size=(n, n_years)) - 0.045)

    export_shift = np.array([p.export_shift for p in profiles])[c]
    x_firm = -0.9 + 0.45 * le + _EXPORT_SECTOR[s] + export_shift + rng.normal(0.0, 0.8, n)
    x0 = x_firm[:, None] + _ar1(rng, n, n_years, 0.8, 0.3)
    share_noise = 0.3 * rng.normal(size=(n, n_years))
    exporter0 = (x0 > 0.0).astype(float)
    share0 = exporter0 * _expit(-1.5 + 0.6 * x0 + share_noise)

    p_eq0 = _expit(-3.7 + _EQUITY_SECTOR[s] + 0.25 * le - 0.3 * la)[:, None]
    u_eq = rng.random((n, n_years))
    eq_amount = np.round(
        np.exp(np.log(200_000.0) + 0.35 * le[:, None] + 0.7 * rng.normal(size=(n, n_years))), -3
    )
    equity0 = np.where(u_eq < p_eq0, eq_amount, 0.0)

    # Individual effects of every applicant, whether supported or not.
    f, k = apps.firm, apps.instrument
    event = np.arange(n_years)[None, :] - apps.year_idx[:, None]
    post = event >= 0
    ev = np.clip(event, 0, None)
    size_mult = np.array([sp.size_multipliers for sp in specs])[k, pop.size[f]]
    het = np.maximum(1.0 + HET_SD * pop.het[f], 0.0)
    mult = (size_mult * country_multiplier[c[f], k] * effect_scale * het)[:, None]

    def strength(outcome: str) -> FloatArray:
        base, dyn = _dynamics(specs, outcome, n_years)
        return np.where(post, base[k][:, None] * dyn[k[:, None], ev], 0.0)

    effects: dict[str, FloatArray] = {}
    effects["log_employment"] = strength("log_employment") * mult
    effects["log_turnover"] = strength("log_turnover") * mult
    effects["rd_spending"] = strength("rd_spending") * mult * apps.amount[:, None]
    x1 = x0[f] + strength("exporter") * mult
    exporter1 = (x1 > 0.0).astype(float)
    share1 = exporter1 * _expit(-1.5 + 0.6 * x1 + share_noise[f])
    effects["exporter"] = exporter1 - exporter0[f]
    effects["export_share"] = share1 - share0[f]
    eq_base, eq_dyn = _dynamics(specs, "equity_raised", n_years)
    eq_factor = np.where(
        post, (np.where(eq_base > 0, eq_base, 1.0)[k] - 1.0)[:, None] * eq_dyn[k[:, None], ev], 0.0
    )
    p_eq1 = np.clip(p_eq0[f] * (1.0 + eq_factor * mult), 0.0, 0.95)
    equity1 = np.where(u_eq[f] < p_eq1, eq_amount[f], 0.0)
    effects["equity_raised"] = equity1 - equity0[f]
    h0 = pop.hazard0[f]
    reduction = np.clip(strength("alive") * mult, 0.0, None)
    h1 = h0 - np.minimum(reduction, np.maximum(h0 - _MIN_HAZARD, 0.0))
    u = pop.u_exit[f]
    effects["alive"] = ((u >= h1) & (u < h0)).astype(float)

    observed = {
        "log_employment": lemp0,
        "log_turnover": lturn0,
        "rd_spending": rd0,
        "exporter": exporter0,
        "export_share": share0,
        "equity_raised": equity0,
    }
    sup = apps.supported
    fs = f[sup]
    for name in ("log_employment", "log_turnover", "rd_spending"):
        observed[name][fs] += effects[name][sup]
    observed["exporter"][fs] = exporter1[sup]
    observed["export_share"][fs] = share1[sup]
    observed["equity_raised"][fs] = equity1[sup]

    exit_idx = pop.exit0_idx.copy()
    exit_idx[fs] = first_exit(u[sup], h1[sup], pop.first_idx[fs])
    return Outcomes(observed=observed, effects=effects, exit_idx=exit_idx)
