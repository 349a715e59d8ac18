"""Configuration of the synthetic firm panels: country profiles, instruments, designs and effect sizes.

Private module of :mod:`ipf_eval.data.simulate`; the public names (``InstrumentSpec``, ``EffectSpec``,
``DEFAULT_INSTRUMENTS``, ``COUNTRY_PROFILES``) are re-exported there.  Every number here is documented next to
the published figure it is calibrated to (``calibration.md`` in the project's shared reference material,
summarised in the Notes of :func:`ipf_eval.data.simulate.simulate_firms`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "COUNTRY_PROFILES",
    "DEFAULT_COUNTRIES",
    "DEFAULT_INSTRUMENTS",
    "DESIGNS",
    "OUTCOMES",
    "SECTORS",
    "SIZE_CLASSES",
    "CountryProfile",
    "EffectSpec",
    "InstrumentSpec",
]

SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium")
"""EU size classes by employees: micro < 10, small 10-49, medium 50-249."""

SIZE_BOUNDS: tuple[tuple[float, float], ...] = ((1.0, 10.0), (10.0, 50.0), (50.0, 250.0))
"""Employment range of each size class (lower bound included, upper excluded)."""

SECTORS: tuple[str, ...] = ("C", "G", "J", "M", "F")
"""NACE Rev. 2 sections: C manufacturing, G trade, J ICT, M professional services, F construction."""

OUTCOMES: tuple[str, ...] = (
    "log_employment",
    "log_turnover",
    "rd_spending",
    "exporter",
    "export_share",
    "equity_raised",
    "alive",
)
"""Outcome columns of the simulated panel, in order."""

DESIGNS: tuple[str, ...] = ("open_call", "scored_call", "lottery")
"""Assignment designs an instrument can use."""

Design = Literal["open_call", "scored_call", "lottery"]


@dataclass(frozen=True)
class EffectSpec:
    """Size and timing of an instrument's effect on one outcome.

    Parameters
    ----------
    base
        Effect at full strength for a firm with size multiplier 1 and country multiplier 1.  Units depend on
        the outcome: log points for ``log_employment`` and ``log_turnover``; euro of extra R&D per euro of
        support for ``rd_spending`` (input additionality); for ``exporter`` a shift of the latent export
        propensity (which moves both exporter status and ``export_share``, so ``export_share`` takes no
        separate specification); the factor by which the yearly probability of
        raising equity is multiplied for ``equity_raised`` (2.0 doubles it); a reduction of the yearly exit
        hazard (probability) for ``alive``.
    dynamics
        Multiplier of ``base`` by event time ``e = year - first_support_year`` (``dynamics[0]`` in the first
        year of support); the last value holds for all later years.  ``(1.0, 0.3, 0.0)`` fades out after a
        year; ``(0.4, 0.7, 1.0)`` builds up.
    """

    base: float
    dynamics: tuple[float, ...] = (1.0,)


@dataclass(frozen=True)
class InstrumentSpec:
    """An SME support instrument: eligibility, take-up, calls, support amount, design and effects.

    Parameters
    ----------
    design
        ``"open_call"`` (applicants selected on observables, accepted at random with ``accept_rate``),
        ``"scored_call"`` (support iff the evaluators' score is at least the call's published threshold, with
        take-up ``takeup_above`` above and ``takeup_below`` below the threshold) or ``"lottery"`` (applicants
        win with probability ``win_prob``; winners use the support with probability ``use_rate``).
    takeup
        Share of eligible firms that apply over the whole window (before the country's ``reach`` factor).
    selection
        Sign and strength of selection into applying: the slope of the application log-odds on the firm's
        standardised observable strength index (larger, younger firms in knowledge-intensive sectors score
        high).  Positive: stronger firms apply; negative: weaker firms apply; 0: no selection.
    amount_median
        Median support in euro for a firm with about 12 employees (log employment 2.5) at price level 1
        (before the country's ``price`` factor).
    amount_sd_log
        Standard deviation of log amount across firms (0 gives one fixed amount, as for vouchers).
    amount_size_elasticity
        Elasticity of the amount with respect to baseline employment.
    amount_bounds
        Smallest and largest amount in euro (after the price factor).
    sizes, sectors
        Size classes and NACE sections eligible.
    max_age
        Oldest eligible firm age in years at the call (``None``: no age limit).
    n_calls
        Number of calls per country (call years are drawn per country: staggered adoption).
    accept_rate
        Share of open-call applicants supported (decided at random, independent of everything else).
    win_prob
        Lottery: probability that an applicant wins.
    use_rate
        Lottery: probability that a winner uses the support (Cornet et al. 2006: 1 voucher in 10 unused).
    threshold_mean, score_sd, score_weights
        Scored call: published thresholds are drawn around ``threshold_mean`` (sd 2, rounded to 0.5 points);
        the score has mean 60 and standard deviation ``score_sd`` and loads with weights
        ``(observables, unobserved productivity, noise)`` on the firm's strength index, its unobserved
        productivity level and an idiosyncratic draw.
    takeup_above, takeup_below
        Scored call: probability of support above (at) and below the threshold; ``(1, 0)`` is a sharp design.
    size_multipliers
        Effect multipliers for micro, small and medium firms.
    effects
        Effect on each outcome (outcomes not listed are unaffected).
    admin_fixed_eur, admin_per_application_eur
        Administrative cost of running a call: a fixed part plus a part per application (before the country's
        ``admin_cost`` factor).
    """

    design: Design
    takeup: float
    selection: float
    amount_median: float
    amount_sd_log: float
    amount_size_elasticity: float
    amount_bounds: tuple[float, float]
    sizes: tuple[str, ...] = SIZE_CLASSES
    sectors: tuple[str, ...] = SECTORS
    max_age: int | None = None
    n_calls: int = 3
    accept_rate: float = 0.7
    win_prob: float = 0.4
    use_rate: float = 1.0
    threshold_mean: float = 60.0
    score_sd: float = 12.0
    score_weights: tuple[float, float, float] = (0.5, 0.5, 0.7)
    takeup_above: float = 1.0
    takeup_below: float = 0.0
    size_multipliers: tuple[float, float, float] = (1.0, 1.0, 0.55)
    effects: Mapping[str, EffectSpec] = field(default_factory=dict)
    admin_fixed_eur: float = 50_000.0
    admin_per_application_eur: float = 500.0


@dataclass(frozen=True)
class CountryProfile:
    """A country's SME population and its agency.

    Parameters
    ----------
    weight
        Relative number of firms.
    size_mix, sector_mix
        Shares of incumbent firms by size class (micro, small, medium) and NACE section (C, G, J, M, F).
    regions, region_mix
        NUTS2 codes and their shares of firms.
    exit_factor
        Multiplier of the yearly exit hazard.
    growth
        Mean yearly macro growth of employment (log points); turnover grows 1.2 times as fast.
    turnover_shift
        Log turnover per employee relative to the sample mean (price and productivity level).
    export_shift
        Shift of the latent export propensity (small open economies export more).
    effect_multiplier
        Multiplier of every instrument's effect before the country-by-instrument draw.
    reach
        Multiplier of every instrument's take-up (the agency's reach).
    price
        Multiplier of support amounts (price level).
    admin_cost
        Multiplier of administrative cost per call.
    instruments
        Instruments the agency runs.
    """

    weight: float
    size_mix: tuple[float, float, float]
    sector_mix: tuple[float, float, float, float, float]
    regions: tuple[str, ...]
    region_mix: tuple[float, ...]
    exit_factor: float
    growth: float
    turnover_shift: float
    export_shift: float
    effect_multiplier: float
    reach: float
    price: float
    admin_cost: float
    instruments: tuple[str, ...]


_VOUCHER = "innovation_voucher"
_RD = "rd_grant"
_GUAR = "loan_guarantee"
_EXP = "export_support"
_COACH = "growth_coaching"
_EQ = "equity_readiness"

# Take-up (share of eligible firms applying over the whole window) is set so that, with the default 30,000
# firms, every call of every default country supports at least about 20 firms (typically 30-100): cohorts
# that small still give usable ATT(g, t), smaller ones do not (a handful of treated firms per cell, no
# overlap).  Effects, amounts, designs and selection keep their calibrated values.  Growth coaching's age
# limit is 15 years: with 10, the last cohorts' firms observed in the first years were all founded in the
# window's first year, so one value of log_age_base separated them from the comparison firms.
DEFAULT_INSTRUMENTS: Mapping[str, InstrumentSpec] = MappingProxyType(
    {
        # Cornet et al. (2006): lottery, EUR 7,500 vouchers, 1 in 10 unused; UK growth vouchers: turnover
        # +8.2 % lasting about a year, no employment effect; 8 in 10 projects additional.
        _VOUCHER: InstrumentSpec(
            design="lottery",
            takeup=0.18,
            selection=0.3,
            amount_median=7_500.0,
            amount_sd_log=0.0,
            amount_size_elasticity=0.0,
            amount_bounds=(2_500.0, 10_000.0),
            sizes=("micro", "small"),
            n_calls=3,
            win_prob=0.4,
            use_rate=0.9,
            size_multipliers=(1.0, 1.0, 0.6),
            effects={
                "log_turnover": EffectSpec(0.085, (1.0, 0.3, 0.0)),
                "rd_spending": EffectSpec(0.8, (1.0, 0.0)),
            },
            admin_fixed_eur=30_000.0,
            admin_per_application_eur=150.0,
        ),
        # Bronzini and Iachini (2014): input additionality near 1 for small firms, none for large ones;
        # Criscuolo et al. (2019): about +10 % employment, small firms only; Howell (2017), Santoleri et al.
        # (2024): more equity raised after early-stage grants.
        _RD: InstrumentSpec(
            design="scored_call",
            takeup=0.24,
            selection=0.8,
            amount_median=150_000.0,
            amount_sd_log=0.35,
            amount_size_elasticity=0.15,
            amount_bounds=(50_000.0, 400_000.0),
            sectors=("C", "J", "M"),
            n_calls=4,
            threshold_mean=62.0,
            takeup_above=1.0,
            takeup_below=0.0,
            size_multipliers=(1.0, 1.0, 0.1),
            effects={
                "rd_spending": EffectSpec(1.05, (0.5, 0.5, 0.0)),
                "log_employment": EffectSpec(0.11, (0.4, 0.8, 1.0)),
                "log_turnover": EffectSpec(0.06, (0.0, 0.5, 1.0)),
                "equity_raised": EffectSpec(1.5, (1.0, 1.0, 1.0, 0.0)),
            },
            admin_fixed_eur=80_000.0,
            admin_per_application_eur=1_500.0,
        ),
        # Asdrubali and Signore (2015): employment +17.3 %, turnover +19.6 % by year 5; Bertoni et al. (2018):
        # sales +14.8, employment +16.9 points over two years, fewer bankruptcies (exit risk 3-5 pp lower).
        _GUAR: InstrumentSpec(
            design="open_call",
            takeup=0.12,
            selection=-0.6,
            amount_median=300_000.0,
            amount_sd_log=0.5,
            amount_size_elasticity=0.25,
            amount_bounds=(25_000.0, 1_500_000.0),
            n_calls=4,
            accept_rate=0.75,
            size_multipliers=(1.0, 1.0, 0.55),
            effects={
                "log_employment": EffectSpec(0.15, (0.4, 0.7, 0.9, 1.0)),
                "log_turnover": EffectSpec(0.17, (0.4, 0.7, 0.9, 1.0)),
                "alive": EffectSpec(0.012, (1.0, 1.0, 1.0, 1.0, 0.0)),
            },
            admin_fixed_eur=40_000.0,
            admin_per_application_eur=400.0,
        ),
        # Munch and Schaur (2018): sales, value added and employment up, strongest for small firms.
        _EXP: InstrumentSpec(
            design="open_call",
            takeup=0.11,
            selection=1.0,
            amount_median=20_000.0,
            amount_sd_log=0.4,
            amount_size_elasticity=0.2,
            amount_bounds=(5_000.0, 60_000.0),
            sectors=("C", "G", "J", "M"),
            n_calls=3,
            accept_rate=0.7,
            size_multipliers=(1.0, 1.0, 0.5),
            effects={
                "exporter": EffectSpec(0.35, (0.6, 1.0)),
                "log_turnover": EffectSpec(0.07, (0.5, 1.0)),
                "log_employment": EffectSpec(0.04, (0.3, 0.7, 1.0)),
            },
            admin_fixed_eur=40_000.0,
            admin_per_application_eur=600.0,
        ),
        # Advice and coaching: about 0 on employment; small turnover gain that fades (UK growth vouchers).
        _COACH: InstrumentSpec(
            design="open_call",
            takeup=0.12,
            selection=0.4,
            amount_median=10_000.0,
            amount_sd_log=0.2,
            amount_size_elasticity=0.0,
            amount_bounds=(4_000.0, 20_000.0),
            sizes=("micro", "small"),
            max_age=15,
            n_calls=3,
            accept_rate=0.8,
            size_multipliers=(1.0, 1.0, 0.5),
            effects={"log_turnover": EffectSpec(0.05, (1.0, 0.5, 0.0))},
            admin_fixed_eur=30_000.0,
            admin_per_application_eur=300.0,
        ),
        # Capital-market readiness: equity raised roughly doubled (deep-tech grants, Howell 2017; Santoleri
        # et al. 2024); one-sided fuzzy take-up above the threshold.
        _EQ: InstrumentSpec(
            design="scored_call",
            takeup=0.24,
            selection=0.8,
            amount_median=50_000.0,
            amount_sd_log=0.3,
            amount_size_elasticity=0.1,
            amount_bounds=(20_000.0, 120_000.0),
            sizes=("micro", "small"),
            sectors=("C", "J", "M"),
            n_calls=3,
            threshold_mean=58.0,
            takeup_above=0.85,
            takeup_below=0.0,
            size_multipliers=(1.0, 0.9, 0.5),
            effects={
                "equity_raised": EffectSpec(2.0, (1.0, 1.0, 1.0, 1.0, 0.0)),
                "log_employment": EffectSpec(0.05, (0.3, 0.7, 1.0)),
            },
            admin_fixed_eur=60_000.0,
            admin_per_application_eur=1_000.0,
        ),
    }
)
"""Default instruments, keyed by name, calibrated to the published magnitudes (see module docstring)."""

_ALL = (_VOUCHER, _RD, _GUAR, _EXP, _COACH, _EQ)

COUNTRY_PROFILES: Mapping[str, CountryProfile] = MappingProxyType(
    {
        "AT": CountryProfile(
            1.0,
            (0.66, 0.26, 0.08),
            (0.24, 0.24, 0.10, 0.20, 0.22),
            ("AT13", "AT12", "AT22", "AT31"),
            (0.32, 0.22, 0.20, 0.26),
            0.9,
            0.012,
            0.10,
            0.3,
            1.0,
            1.0,
            1.0,
            1.0,
            _ALL,
        ),
        "DK": CountryProfile(
            0.8,
            (0.70, 0.23, 0.07),
            (0.16, 0.24, 0.16, 0.26, 0.18),
            ("DK01", "DK03", "DK04"),
            (0.45, 0.25, 0.30),
            1.0,
            0.014,
            0.20,
            0.4,
            1.15,
            1.2,
            1.1,
            1.1,
            (_VOUCHER, _RD, _EXP, _COACH, _EQ),
        ),
        "ES": CountryProfile(
            2.0,
            (0.74, 0.21, 0.05),
            (0.18, 0.32, 0.07, 0.18, 0.25),
            ("ES30", "ES51", "ES61", "ES52"),
            (0.30, 0.30, 0.22, 0.18),
            1.25,
            0.008,
            -0.20,
            0.0,
            0.85,
            0.9,
            0.85,
            0.85,
            (_RD, _GUAR, _EXP, _COACH),
        ),
        "FI": CountryProfile(
            0.8,
            (0.68, 0.24, 0.08),
            (0.22, 0.22, 0.14, 0.22, 0.20),
            ("FI1B", "FI19", "FI1D"),
            (0.48, 0.30, 0.22),
            0.95,
            0.011,
            0.10,
            0.3,
            1.1,
            1.1,
            1.0,
            0.95,
            (_VOUCHER, _RD, _GUAR, _EXP, _EQ),
        ),
        "NO": CountryProfile(
            0.7,
            (0.69, 0.24, 0.07),
            (0.14, 0.26, 0.14, 0.24, 0.22),
            ("NO08", "NO0A", "NO06"),
            (0.50, 0.32, 0.18),
            0.9,
            0.013,
            0.30,
            0.2,
            1.0,
            1.0,
            1.15,
            1.2,
            (_VOUCHER, _RD, _GUAR, _COACH, _EQ),
        ),
        "PL": CountryProfile(
            1.6,
            (0.72, 0.22, 0.06),
            (0.26, 0.30, 0.08, 0.14, 0.22),
            ("PL91", "PL22", "PL41", "PL21"),
            (0.30, 0.26, 0.24, 0.20),
            1.15,
            0.020,
            -0.60,
            0.1,
            0.8,
            0.8,
            0.6,
            0.7,
            (_VOUCHER, _GUAR, _EXP, _COACH, _EQ),
        ),
        "DE": CountryProfile(
            2.5,
            (0.64, 0.27, 0.09),
            (0.26, 0.24, 0.10, 0.20, 0.20),
            ("DE21", "DE11", "DE30"),
            (0.38, 0.37, 0.25),
            0.85,
            0.012,
            0.10,
            0.3,
            1.0,
            0.9,
            1.0,
            1.05,
            (_RD, _GUAR, _EXP, _COACH, _EQ),
        ),
        "IT": CountryProfile(
            2.2,
            (0.75, 0.21, 0.04),
            (0.26, 0.28, 0.06, 0.18, 0.22),
            ("ITC4", "ITH5", "ITF3"),
            (0.42, 0.30, 0.28),
            1.1,
            0.006,
            -0.05,
            0.2,
            0.9,
            0.85,
            0.95,
            1.0,
            (_VOUCHER, _RD, _GUAR, _EXP),
        ),
        "NL": CountryProfile(
            1.2,
            (0.70, 0.23, 0.07),
            (0.14, 0.26, 0.14, 0.28, 0.18),
            ("NL32", "NL33", "NL41"),
            (0.34, 0.36, 0.30),
            1.0,
            0.013,
            0.15,
            0.4,
            1.05,
            1.1,
            1.05,
            1.0,
            (_VOUCHER, _RD, _EXP, _COACH, _EQ),
        ),
        "SE": CountryProfile(
            1.0,
            (0.69, 0.24, 0.07),
            (0.18, 0.22, 0.16, 0.24, 0.20),
            ("SE11", "SE23", "SE22"),
            (0.44, 0.30, 0.26),
            0.9,
            0.013,
            0.20,
            0.35,
            1.1,
            1.1,
            1.1,
            1.0,
            (_VOUCHER, _RD, _GUAR, _EXP, _EQ),
        ),
    }
)
"""Country profiles available to :func:`simulate_firms`, keyed by ISO 3166-1 alpha-2 code."""

DEFAULT_COUNTRIES: tuple[str, ...] = ("AT", "DK", "ES", "FI", "NO", "PL")
"""Countries simulated by default (each runs 4-6 instruments; each instrument runs in 5 of them)."""
