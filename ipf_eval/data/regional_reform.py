r"""Simulated region-by-year aggregates with a reform in a block of regions, and its known effect.

Some reforms reach every firm of a region or a country at once (a regional voucher scheme, a new R&D tax
credit): there are no untreated firms, only untreated regions.  :func:`simulate_regional_reform` generates
the aggregate panel such a reform is evaluated on with synthetic control or synthetic difference in
differences (:mod:`ipf_eval.synthetic`): one outcome per region and year, the number of SMEs behind each
figure, and the true effect of the reform.

The outcome follows an interactive fixed-effects (factor) model,

.. math:: Y_{rt} = \mu_r + \lambda_t + \sum_{f=1}^{F} \ell_{rf} F_{ft} + \tau_{rt} D_{rt} + \varepsilon_{rt},

with region levels :math:`\mu_r`, common year effects :math:`\lambda_t`, region-specific loadings
:math:`\ell_{rf}` on trending common factors :math:`F_{ft}`, and noise.  The reform's regions are chosen
among those most exposed to the first factor (``selection`` > 0), so their trend differs from the average
region's: a plain difference in differences is then biased, while a weighted comparison that matches the
treated regions' pre-reform path (synthetic control, synthetic DiD) is not.  The effect :math:`\tau_{rt}`
builds up linearly from ``effect_first_year`` to ``effect_last_year`` over the reform years.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import SpecificationError

__all__ = ["RegionalReform", "simulate_regional_reform"]

_COUNTRIES: tuple[str, ...] = ("AT", "DK", "ES", "FI", "NO", "PL")


@dataclass(frozen=True, eq=False)
class RegionalReform:
    """A simulated region-by-year panel with a reform, and its true effect.

    Attributes
    ----------
    panel
        One row per region and year: ``region``, ``country``, ``year``, ``outcome`` (innovating SMEs per
        1,000 SMEs), ``n_smes`` (SMEs in the region that year), ``reform`` (1 for the reform's regions from
        ``reform_year`` on, else 0).
    treated_regions
        The regions that introduced the reform.
    reform_year
        First year of the reform.
    true_effect
        The true effect per reform year (mean over the treated regions): ``year``, ``effect``.
    true_att
        The true average effect over the treated regions and reform years, the estimand of
        :func:`ipf_eval.synthetic.synthetic_did`.
    outcome_label
        What ``outcome`` measures, for tables and axes.
    seed
        The seed the panel was drawn with.
    """

    panel: pd.DataFrame
    treated_regions: tuple[str, ...]
    reform_year: int
    true_effect: pd.DataFrame
    true_att: float
    outcome_label: str
    seed: int


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SpecificationError(
            f"simulate_regional_reform(): `{name}` must be an integer of at least {low}; got {value!r}."
        )
    return int(value)


@keyword_options
def simulate_regional_reform(
    *,
    seed: int,
    regions_per_country: int = 8,
    countries: Sequence[str] = _COUNTRIES,
    years: tuple[int, int] = (2008, 2020),
    reform_year: int = 2016,
    reform_country: str = "DK",
    n_treated: int = 3,
    effect_first_year: float = 4.0,
    effect_last_year: float = 10.0,
    n_factors: int = 2,
    selection: float = 1.5,
    noise_sd: float = 2.0,
) -> RegionalReform:
    r"""Simulate innovating SMEs per 1,000 SMEs by region and year, with a reform in some regions.

    Parameters
    ----------
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed and arguments give the same panel.
    regions_per_country
        Regions of each country (all of them enter the donor pool, except the treated ones).
    countries
        ISO codes of the countries whose regions are simulated.
    years
        First and last year.
    reform_year
        First year of the reform (at least 3 years after the first year, at most the last year).
    reform_country
        Country whose regions introduce the reform (one of ``countries``).
    n_treated
        How many of its regions introduce it (at most ``regions_per_country``).
    effect_first_year, effect_last_year
        True effect, innovating SMEs per 1,000 SMEs, in the first and last reform year (linear in between).
    n_factors
        Number of common trending factors.
    selection
        How strongly the reform's regions are chosen among those most exposed to the first factor
        (0: at random among the country's regions).
    noise_sd
        Standard deviation of the idiosyncratic noise.

    Returns
    -------
    RegionalReform
        The panel and the true effect.

    Raises
    ------
    SpecificationError
        Invalid counts, years or country.

    Notes
    -----
    The estimand is the average effect on the treated regions over the reform years,
    :math:`\tau = \frac{1}{N_{tr} T_{post}} \sum_{r \in tr} \sum_{t \ge t_0} \tau_{rt}`; see the module
    docstring for the model.  Treated regions are drawn with probabilities proportional to
    :math:`\exp(\text{selection} \cdot \ell_{r1})` among the reform country's regions.

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021). Synthetic
    difference-in-differences. *American Economic Review* 111(12), 4088-4118.

    Examples
    --------
    >>> sim = simulate_regional_reform(seed=1)
    >>> sorted(sim.panel.columns)
    ['country', 'n_smes', 'outcome', 'reform', 'region', 'year']
    """
    per = _check_int(regions_per_country, "regions_per_country", 2)
    n_tr = _check_int(n_treated, "n_treated", 1)
    n_f = _check_int(n_factors, "n_factors", 0)
    codes = [str(c) for c in countries]
    if reform_country not in codes:
        raise SpecificationError(
            f"simulate_regional_reform(): `reform_country` {reform_country!r} is not among `countries` "
            f"{codes!r}."
        )
    if n_tr >= per:
        raise SpecificationError(
            f"simulate_regional_reform(): `n_treated`={n_tr} must be below `regions_per_country`={per} "
            "so that the reform country keeps untreated regions."
        )
    first, last = (int(years[0]), int(years[1]))
    if not first + 3 <= int(reform_year) <= last:
        raise SpecificationError(
            f"simulate_regional_reform(): `reform_year` must lie between {first + 3} (three years before "
            f"it observed) and {last}; got {reform_year!r}."
        )
    for name, value in (("noise_sd", noise_sd), ("selection", selection)):
        if not np.isfinite(value) or (name == "noise_sd" and value < 0):
            raise SpecificationError(f"simulate_regional_reform(): `{name}` must be a finite number "
                                     f"(non-negative for noise_sd); got {value!r}.")
    rng = np.random.default_rng(seed)
    year = np.arange(first, last + 1)
    n_t = year.size
    regions = [f"{c}{i + 1:02d}" for c in codes for i in range(per)]
    country = np.repeat(codes, per)
    n_r = len(regions)
    level = 120.0 + rng.normal(scale=15.0, size=n_r)
    year_effect = np.cumsum(rng.normal(loc=0.8, scale=1.0, size=n_t))
    loadings = rng.normal(size=(n_r, n_f))
    t_scaled = (year - first) / max(n_t - 1, 1)
    factors = np.column_stack([8.0 * (f + 1) * t_scaled**(1 + f) + rng.normal(scale=0.3, size=n_t)
                               for f in range(n_f)]) if n_f else np.zeros((n_t, 0))
    candidates = np.nonzero(country == reform_country)[0]
    weight = np.exp(float(selection) * loadings[candidates, 0]) if n_f else np.ones(candidates.size)
    treated_idx = np.sort(rng.choice(candidates, size=n_tr, replace=False, p=weight / weight.sum()))
    post = year >= int(reform_year)
    ramp = np.zeros(n_t)
    n_post = int(post.sum())
    ramp[post] = np.linspace(float(effect_first_year), float(effect_last_year), n_post) if n_post > 1 else \
        float(effect_first_year)
    reform = np.zeros((n_r, n_t), dtype=np.int64)
    reform[np.ix_(treated_idx, np.nonzero(post)[0])] = 1
    y = (level[:, None] + year_effect[None, :] + loadings @ factors.T + reform * ramp[None, :]
         + rng.normal(scale=float(noise_sd), size=(n_r, n_t)))
    base_smes = np.round(np.exp(rng.normal(np.log(20_000), 0.6, size=n_r)))
    n_smes = base_smes[:, None] * (1 + 0.01 * (year - first))[None, :]
    panel = pd.DataFrame({
        "region": np.repeat(regions, n_t),
        "country": np.repeat(country, n_t),
        "year": np.tile(year, n_r),
        "outcome": np.round(y.ravel(), 6),
        "n_smes": np.round(n_smes).astype(np.int64).ravel(),
        "reform": reform.ravel(),
    })
    true_effect = pd.DataFrame({"year": year[post], "effect": ramp[post]})
    return RegionalReform(
        panel=panel,
        treated_regions=tuple(regions[i] for i in treated_idx),
        reform_year=int(reform_year),
        true_effect=true_effect,
        true_att=float(ramp[post].mean()),
        outcome_label="innovating SMEs per 1,000 SMEs",
        seed=int(seed),
    )
