"""Firm population, exits, calls, eligibility, applications and decisions of the synthetic firm panels.

Private module of :mod:`ipf_eval.data.simulate`.  Everything is vectorised over firms; the random draws are
made in a fixed order from one :class:`numpy.random.Generator`, so a seed fixes every array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ipf_eval.data._sim_config import (
    DESIGNS,
    SECTORS,
    SIZE_BOUNDS,
    SIZE_CLASSES,
    CountryProfile,
    InstrumentSpec,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Yearly exit hazard by size class (micro, small, medium) before country and age factors.
_EXIT_BASE = np.array([0.075, 0.045, 0.03])
# Size mix of firms born inside the window (almost all start micro).
_ENTRANT_MIX = np.array([0.88, 0.11, 0.01])
# Observable "strength" of a sector (enters the selection index): C, G, J, M, F.
_SECTOR_STRENGTH = np.array([0.1, -0.2, 0.4, 0.2, -0.4])
# Mean log employment (centre of covariates) and mean log age used to centre trends.
LEMP_CENTRE = 2.5
LAGE_CENTRE = 2.0
# Processing time in days between the call's closing date and the decision, by design.
_DECISION_LAG = {"open_call": 45.0, "scored_call": 90.0, "lottery": 25.0}


@dataclass
class Population:
    """Firm-level arrays (one entry per firm, index = firm_id - 1)."""

    n: int
    n_years: int
    start: int
    country: IntArray
    size: IntArray
    sector: IntArray
    region: IntArray
    birth_year: IntArray
    first_idx: IntArray
    lemp_base: FloatArray
    log_age_base: FloatArray
    strength: FloatArray
    productivity: FloatArray
    het: FloatArray
    u_exit: FloatArray
    hazard0: FloatArray
    exit0_idx: IntArray


@dataclass
class Calls:
    """One entry per call (country, instrument, call year)."""

    country: IntArray
    instrument: IntArray
    year_idx: IntArray
    threshold: FloatArray
    open_day: IntArray


@dataclass
class Applications:
    """One entry per application (each firm applies at most once)."""

    firm: IntArray
    instrument: IntArray
    call: IntArray
    year_idx: IntArray
    accepted: BoolArray
    supported: BoolArray
    would_take: BoolArray
    arm: FloatArray
    score: FloatArray
    threshold: FloatArray
    amount: FloatArray
    application_day: IntArray
    decision_day: IntArray


def _categorical(rng: np.random.Generator, probs: FloatArray, rows: IntArray) -> IntArray:
    """Draw one category per entry of ``rows`` from the row ``probs[rows]`` (rows sum to one)."""
    cum = np.cumsum(probs, axis=1)[rows]
    u: FloatArray = rng.random(size=(int(rows.shape[0]),))
    out = (u[:, None] >= cum[:, :-1]).sum(axis=1)
    return out.astype(np.int64)


def _expit(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def build_population(
    rng: np.random.Generator,
    *,
    n: int,
    profiles: Sequence[CountryProfile],
    region_offsets: IntArray,
    start: int,
    end: int,
    entry_share: float,
) -> Population:
    """Draw the firms: country, size class, sector, region, birth year, baseline covariates and exits."""
    n_years = end - start + 1
    weights = np.array([p.weight for p in profiles], dtype=float)
    country = _categorical(rng, (weights / weights.sum())[None, :], np.zeros(n, dtype=np.int64))
    entrant = rng.random(n) < entry_share

    size_mix = np.array([p.size_mix for p in profiles], dtype=float)
    size_mix = size_mix / size_mix.sum(axis=1, keepdims=True)
    size = _categorical(rng, size_mix, country)
    size_entrant = _categorical(rng, _ENTRANT_MIX[None, :], np.zeros(n, dtype=np.int64))
    size = np.where(entrant, size_entrant, size)

    sector_mix = np.array([p.sector_mix for p in profiles], dtype=float)
    sector = _categorical(rng, sector_mix / sector_mix.sum(axis=1, keepdims=True), country)

    max_regions = max(len(p.regions) for p in profiles)
    region_mix = np.zeros((len(profiles), max_regions))
    for j, p in enumerate(profiles):
        region_mix[j, : len(p.regions)] = np.asarray(p.region_mix) / np.sum(p.region_mix)
    region = _categorical(rng, region_mix, country) + region_offsets[country]

    age_incumbent = np.minimum(np.floor(rng.exponential(12.0, n)), 60.0).astype(np.int64)
    birth_entrant = rng.integers(start + 1, end + 1, n) if end > start else np.full(n, start)
    birth_year = np.where(entrant, birth_entrant, start - age_incumbent).astype(np.int64)
    first_idx = np.where(entrant, birth_year - start, 0).astype(np.int64)
    first_year = start + first_idx
    log_age_base = np.log1p(np.maximum(first_year - birth_year, 0).astype(float))

    bounds = np.log(np.array(SIZE_BOUNDS))
    lemp_base = bounds[size, 0] + rng.random(n) * (bounds[size, 1] - bounds[size, 0])

    strength_raw = (
        0.7 * (lemp_base - lemp_base.mean()) / max(float(lemp_base.std()), 1e-12)
        - 0.3 * (log_age_base - log_age_base.mean()) / max(float(log_age_base.std()), 1e-12)
        + _SECTOR_STRENGTH[sector]
    )
    strength = (strength_raw - strength_raw.mean()) / max(float(strength_raw.std()), 1e-12)
    productivity = rng.normal(0.0, 0.3, n)
    het = rng.normal(0.0, 1.0, n)

    years = start + np.arange(n_years)
    age = years[None, :] - birth_year[:, None]
    age_factor = np.where(age < 2, 1.6, np.where(age < 5, 1.25, 1.0))
    exit_factor = np.array([p.exit_factor for p in profiles])[country]
    hazard0 = _EXIT_BASE[size][:, None] * exit_factor[:, None] * age_factor
    u_exit = rng.random((n, n_years))
    exit0_idx = first_exit(u_exit, hazard0, first_idx)
    return Population(
        n=n,
        n_years=n_years,
        start=start,
        country=country,
        size=size,
        sector=sector,
        region=region.astype(np.int64),
        birth_year=birth_year,
        first_idx=first_idx,
        lemp_base=lemp_base,
        log_age_base=log_age_base,
        strength=strength,
        productivity=productivity,
        het=het,
        u_exit=u_exit,
        hazard0=hazard0,
        exit0_idx=exit0_idx,
    )


def first_exit(u: FloatArray, hazard: FloatArray, first_idx: IntArray) -> IntArray:
    """Index of the year a firm exits (``U < hazard`` from its first year on); ``n_years`` if it survives."""
    n_years = u.shape[1]
    hit = (u < hazard) & (np.arange(n_years)[None, :] >= first_idx[:, None])
    return np.where(hit.any(axis=1), hit.argmax(axis=1), n_years).astype(np.int64)


def draw_calls(
    rng: np.random.Generator,
    *,
    runs: BoolArray,
    specs: Sequence[InstrumentSpec],
    n_years: int,
) -> Calls:
    """Draw the call years (staggered across countries), thresholds and opening days of every call."""
    country: list[int] = []
    instrument: list[int] = []
    year_idx: list[int] = []
    threshold: list[float] = []
    candidates = np.arange(2, n_years - 1)  # calls need two earlier years and one later year
    for c in range(runs.shape[0]):
        for k, spec in enumerate(specs):
            chosen = np.sort(rng.choice(candidates, size=min(spec.n_calls, candidates.size), replace=False))
            thr = np.round(2.0 * (spec.threshold_mean + 2.0 * rng.normal(size=chosen.size))) / 2.0
            if not runs[c, k]:
                continue
            for y, th in zip(chosen, thr, strict=True):
                country.append(c)
                instrument.append(k)
                year_idx.append(int(y))
                threshold.append(float(th) if spec.design == "scored_call" else np.nan)
    n_calls = len(country)
    open_day = rng.integers(31, 120, n_calls) if n_calls else np.zeros(0, dtype=np.int64)
    return Calls(
        country=np.asarray(country, dtype=np.int64),
        instrument=np.asarray(instrument, dtype=np.int64),
        year_idx=np.asarray(year_idx, dtype=np.int64),
        threshold=np.asarray(threshold, dtype=float),
        open_day=np.asarray(open_day, dtype=np.int64),
    )


def _feasible(
    pop: Population, firms: IntArray, call_years: IntArray, max_age: int | None, *, alive: bool
) -> BoolArray:
    """Which calls each firm could answer: observed a year before, young enough and (``alive``) active."""
    first = pop.first_idx[firms][:, None]
    ok = call_years[None, :] > first
    if alive:
        ok &= call_years[None, :] <= pop.exit0_idx[firms][:, None]
    if max_age is not None:
        age = pop.start + call_years[None, :] - pop.birth_year[firms][:, None]
        ok &= age <= max_age
    return ok


def _intercept(index: FloatArray, target: float) -> float:
    """Intercept ``a`` with ``mean(expit(a + index)) == target`` (bisection; ``target`` in (0, 1))."""
    lo, hi = -25.0, 25.0
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if float(_expit(mid + index).mean()) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def eligibility_and_applications(
    rng: np.random.Generator,
    *,
    pop: Population,
    calls: Calls,
    runs: BoolArray,
    specs: Sequence[InstrumentSpec],
    profiles: Sequence[CountryProfile],
    selection_on_level: float,
) -> tuple[BoolArray, IntArray, IntArray]:
    """Eligibility (firm x instrument), the instrument each firm applies to (-1: none) and the call row.

    Application log-odds are ``a_ck + selection_k * strength_i + selection_on_level * productivity_i / 0.3``
    among eligible firms, with ``a_ck`` set so the expected share of eligible firms applying equals
    ``takeup_k * reach_c``.  A firm applies to at most one instrument (one uniform draw against the
    cumulated probabilities) and to one of the calls its age allows, chosen at random; a firm that closed
    before that call does not apply.
    """
    n_inst = len(specs)
    eligible = np.zeros((pop.n, n_inst), dtype=bool)
    prob = np.zeros((pop.n, n_inst))
    level = selection_on_level * pop.productivity / 0.3
    for k, spec in enumerate(specs):
        size_ok = np.isin(pop.size, [SIZE_CLASSES.index(s) for s in spec.sizes])
        sector_ok = np.isin(pop.sector, [SECTORS.index(s) for s in spec.sectors])
        for c in range(runs.shape[0]):
            if not runs[c, k]:
                continue
            firms = np.flatnonzero((pop.country == c) & size_ok & sector_ok)
            in_call = (calls.country == c) & (calls.instrument == k)
            feas = _feasible(pop, firms, calls.year_idx[in_call], spec.max_age, alive=True)
            firms = firms[feas.any(axis=1)]
            if firms.size == 0:
                continue
            eligible[firms, k] = True
            index = spec.selection * pop.strength[firms] + level[firms]
            target = min(max(spec.takeup * profiles[c].reach, 1e-6), 0.95)
            prob[firms, k] = _expit(_intercept(index, target) + index)
    total = prob.sum(axis=1)
    prob = prob / np.maximum(total, 1.0)[:, None]
    u = rng.random(pop.n)
    cum = np.cumsum(prob, axis=1)
    chosen = (u[:, None] >= cum).sum(axis=1)
    instrument = np.where(chosen < n_inst, chosen, -1).astype(np.int64)

    call_row = np.full(pop.n, -1, dtype=np.int64)
    priority = rng.random((pop.n, max(1, *(spec.n_calls for spec in specs))))
    for k, spec in enumerate(specs):
        for c in range(runs.shape[0]):
            firms = np.flatnonzero((instrument == k) & (pop.country == c))
            if firms.size == 0:
                continue
            rows = np.flatnonzero((calls.country == c) & (calls.instrument == k))
            # The call is chosen among those the firm's age allows, not knowing whether it will still be
            # active then (choosing among the calls it survives to would select on future exit shocks).
            feas = _feasible(pop, firms, calls.year_idx[rows], spec.max_age, alive=False)
            keys = np.where(feas, priority[firms, : rows.size], -1.0)
            call_row[firms] = rows[keys.argmax(axis=1)]
    # Firms that closed before their call do not apply.
    gone = (instrument >= 0) & (calls.year_idx[np.maximum(call_row, 0)] > pop.exit0_idx)
    instrument[gone] = -1
    call_row[gone] = -1
    return eligible, instrument, call_row


def decide(
    rng: np.random.Generator,
    *,
    pop: Population,
    calls: Calls,
    instrument: IntArray,
    call_row: IntArray,
    specs: Sequence[InstrumentSpec],
    profiles: Sequence[CountryProfile],
) -> Applications:
    """Score, randomise or select the applicants, set amounts and application/decision dates."""
    firm = np.flatnonzero(instrument >= 0).astype(np.int64)
    n_app = firm.size
    inst = instrument[firm]
    call = call_row[firm]
    u_decide = rng.random(n_app)
    u_take = rng.random(n_app)
    eps_score = rng.normal(size=n_app)
    eps_amount = rng.normal(size=n_app)
    app_offset = rng.integers(0, 46, n_app)
    lag_u = rng.random(n_app)

    def per_inst(attr: str) -> FloatArray:
        return np.array([float(getattr(s, attr)) for s in specs])[inst]

    design = np.array([DESIGNS.index(s.design) for s in specs])[inst]
    is_open, is_scored, is_lottery = design == 0, design == 1, design == 2

    weights = np.array([s.score_weights for s in specs], dtype=float)[inst]
    norm = np.sqrt((weights**2).sum(axis=1))
    latent = (
        weights[:, 0] * pop.strength[firm]
        + weights[:, 1] * pop.productivity[firm] / 0.3
        + weights[:, 2] * eps_score
    ) / norm
    score_all = np.clip(60.0 + per_inst("score_sd") * latent, 0.0, 100.0)
    threshold = np.where(is_scored, calls.threshold[call], np.nan)
    score = np.where(is_scored, score_all, np.nan)
    above = score_all >= np.where(is_scored, calls.threshold[call], np.inf)

    arm = np.where(is_lottery, (u_decide < per_inst("win_prob")).astype(float), np.nan)
    accepted = np.where(is_open, u_decide < per_inst("accept_rate"), np.where(is_scored, above, arm == 1.0))
    take_if_won = np.where(
        is_scored,
        np.where(above, u_take < per_inst("takeup_above"), u_take < per_inst("takeup_below")),
        np.where(is_lottery, u_take < per_inst("use_rate"), True),
    )
    supported = np.where(is_scored, take_if_won, accepted & take_if_won)
    # For lotteries and open calls the potential take-up is the take-up if the firm won / were accepted.
    would_take = take_if_won.astype(bool)

    price = np.array([p.price for p in profiles])[pop.country[firm]]
    lo = np.array([s.amount_bounds[0] for s in specs])[inst] * price
    hi = np.array([s.amount_bounds[1] for s in specs])[inst] * price
    amount = (
        per_inst("amount_median")
        * price
        * np.exp(
            per_inst("amount_size_elasticity") * (pop.lemp_base[firm] - LEMP_CENTRE)
            + per_inst("amount_sd_log") * eps_amount
        )
    )
    amount = np.round(np.clip(amount, lo, hi) / 100.0) * 100.0

    application_day = calls.open_day[call] + app_offset
    lag = np.array([_DECISION_LAG[s.design] for s in specs])[inst]
    admin = np.array([p.admin_cost for p in profiles])[pop.country[firm]]
    decision_day = calls.open_day[call] + 45 + np.round(lag * admin * (0.7 + 0.6 * lag_u)).astype(np.int64)
    return Applications(
        firm=firm,
        instrument=inst,
        call=call,
        year_idx=calls.year_idx[call],
        accepted=np.asarray(accepted, dtype=bool),
        supported=np.asarray(supported, dtype=bool),
        would_take=would_take,
        arm=arm,
        score=score,
        threshold=threshold,
        amount=amount,
        application_day=application_day.astype(np.int64),
        decision_day=decision_day.astype(np.int64),
    )


def call_statistics(
    *,
    calls: Calls,
    apps: Applications,
    specs: Sequence[InstrumentSpec],
    profiles: Sequence[CountryProfile],
) -> Mapping[str, npt.NDArray[np.generic]]:
    """Applications, supported firms, budget (awards rounded up to EUR 50,000) and admin cost per call."""
    n_calls = calls.country.size
    n_app = np.bincount(apps.call, minlength=n_calls).astype(np.int64)
    n_sup = np.bincount(apps.call, weights=apps.supported.astype(float), minlength=n_calls).astype(np.int64)
    awarded = np.bincount(apps.call, weights=np.where(apps.supported, apps.amount, 0.0), minlength=n_calls)
    budget = np.ceil(awarded / 50_000.0) * 50_000.0
    fixed = np.array([s.admin_fixed_eur for s in specs])[calls.instrument]
    per_app = np.array([s.admin_per_application_eur for s in specs])[calls.instrument]
    factor = np.array([p.admin_cost for p in profiles])[calls.country]
    admin = np.round((fixed + per_app * n_app) * factor, -2)
    return {"n_applications": n_app, "n_supported": n_sup, "budget_eur": budget, "admin_cost_eur": admin}
