"""Realistic synthetic SME panels with known truth: :func:`simulate_firms`.

Agencies cannot share firm microdata, so the package's default data and most of its tests are simulated.
:func:`simulate_firms` draws a business-register-like panel of SMEs in several countries, the agencies'
delivery data (calls, applications, decisions, eligibility, administrative cost) for six support
instruments, and the ground truth every estimator can be checked against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from ipf_eval._defaults import keyword_options
from ipf_eval.data import _sim_truth
from ipf_eval.data._sim_config import (
    COUNTRY_PROFILES,
    DEFAULT_COUNTRIES,
    DEFAULT_INSTRUMENTS,
    OUTCOMES,
    SECTORS,
    SIZE_CLASSES,
    CountryProfile,
    EffectSpec,
    InstrumentSpec,
)
from ipf_eval.data._sim_outcomes import simulate_outcomes
from ipf_eval.data._sim_population import (
    build_population,
    call_statistics,
    decide,
    draw_calls,
    eligibility_and_applications,
)
from ipf_eval.data._sim_validate import check_arguments, check_instruments
from ipf_eval.data.provenance import tag_simulated, truth_key
from ipf_eval.errors import SpecificationError

__all__ = [
    "COUNTRY_PROFILES",
    "DEFAULT_COUNTRIES",
    "DEFAULT_INSTRUMENTS",
    "CountryProfile",
    "EffectSpec",
    "GroundTruth",
    "InstrumentSpec",
    "SimulatedFirms",
    "SimulationConfig",
    "simulate_firms",
]

_THRESHOLD_BANDWIDTH = 0.25  # in score standard deviations
_COUNTRY_INSTRUMENT_SD = 0.1  # sd of log country x instrument effect multipliers


@dataclass(frozen=True)
class SimulationConfig:
    """The validated arguments of one :func:`simulate_firms` call (enough to reproduce it)."""

    seed: int
    n_firms: int
    countries: tuple[str, ...]
    years: tuple[int, int]
    instruments: Mapping[str, InstrumentSpec]
    selection_on_level: float
    effect_scale: float
    entry_share: float


@dataclass(frozen=True, eq=False)
class GroundTruth:
    r"""The true effects behind a simulated panel.

    All effects are **sample** averages of the simulated individual effects ``Y_it(1) - Y_it(0)`` (stored in
    ``effects``) over firm-years observed in the panel, so an unbiased estimator's confidence interval should
    cover them at its nominal rate.  Units are those of the outcome: log points, euro, or 0/1 differences
    (``exporter``, ``alive``).  Frames are shared, not copied: copy before modifying them.  Rows are sorted by
    country (in the order simulated), instrument (in the order of :data:`DEFAULT_INSTRUMENTS`), outcome (in
    the panel's order), then the remaining keys.

    Attributes
    ----------
    att_gt
        ``country, instrument, outcome, group, time, event_time, att, n_firms``: the true
        :math:`ATT(g,t) = n_{gt}^{-1} \sum_{i: G_i = g, i \text{ observed in } t} (Y_{it}(1) - Y_{it}(0))`
        over the ``n_firms`` supported firms of cohort ``g`` (first support year, = call year) observed in
        year ``t``, for every year in which the cohort is observed; rows with ``time < group`` are exactly 0
        (no anticipation).
    aggregate
        ``country, instrument, outcome, kind, event_time, group, time, att, n_firms`` with Callaway and
        Sant'Anna's (2021) aggregations of ``att_gt``, weighting cells by cohort size :math:`n_g` (number of
        supported firms in the cohort): ``kind="simple"``: :math:`\sum_{g, t \ge g} n_g ATT(g,t) /
        \sum_{g, t \ge g} n_g`; ``"dynamic"``: for each ``event_time`` e (negative ones included, all 0)
        :math:`\sum_g n_g ATT(g, g+e) / \sum_g n_g` over the cohorts observed at ``g + e``; ``"group"``: for
        each ``group`` the unweighted mean of :math:`ATT(g,t)` over ``t >= g``; ``"calendar"``: for each
        ``time`` t the ``n_g``-weighted mean of :math:`ATT(g,t)` over ``g <= t``.  Columns that do not apply
        are ``<NA>``.  ``n_firms`` sums the sizes of the cohorts that enter.
    subgroup
        ``country, instrument, outcome, size_class, sector, att, n_firms``: the simple aggregation computed
        within each size class x sector cell, and within size classes (``sector="all"``) and sectors
        (``size_class="all"``), with the subgroup's own cells and cohort sizes.
    experiment
        Lottery instruments, by ``country, instrument, outcome, event_time`` (years since the call, pooled
        over calls): ``itt`` is the mean over *all* applicants observed at that event time (winners and
        losers) of :math:`D_i(1) (Y_{it}(1) - Y_{it}(0))`, where :math:`D_i(1)` says whether the applicant
        would use the support if it won.  A difference in means between winners and losers estimates it.
        ``effect_on_users`` is the mean effect among applicants with :math:`D_i(1) = 1` (the LATE);
        ``n_applicants``, ``n_winners`` and ``n_users`` count the applicants observed.
    threshold
        Scored calls, by ``country, instrument, outcome, event_time`` (pooled over calls, score centred on
        each call's threshold): ``effect_at_threshold`` is the mean individual effect of the ``n_in_band``
        applicants observed whose score lies within ``bandwidth`` points (a quarter of the score's standard
        deviation) of their call's threshold, estimating :math:`E[Y(1) - Y(0) \mid score = threshold]`,
        the target of a sharp RDD and (compliance being independent of effects) of a fuzzy one;
        ``first_stage`` is the jump in the probability of support at the threshold and ``itt_at_threshold``
        their product (the jump of the reduced form).
    effects
        One row per applicant and observed year: ``firm_id, year, country, instrument, size_class, sector,
        application_year, event_time, supported, would_take, arm, score, threshold`` and, per outcome, the
        individual effect :math:`Y_{it}(1) - Y_{it}(0)` had the firm been supported in its call year (0 before
        it).  For ``alive`` this is the effect on surviving year ``t`` given the firm entered it.
    multipliers
        ``country, instrument, design, effect_multiplier``: the country x instrument effect multiplier drawn
        for this seed (the country's multiplier times a log-normal draw with sd 0.1) times ``effect_scale``.
    """

    att_gt: pd.DataFrame
    aggregate: pd.DataFrame
    subgroup: pd.DataFrame
    experiment: pd.DataFrame
    threshold: pd.DataFrame
    effects: pd.DataFrame
    multipliers: pd.DataFrame


@dataclass(frozen=True, eq=False)
class SimulatedFirms:
    """A simulated SME panel, the agencies' delivery data and the ground truth.

    Attributes
    ----------
    panel
        One row per firm and year while the firm is active, sorted by ``firm_id, year``; see the Notes of
        :func:`simulate_firms` for the columns.
    firms
        One row per firm: ``firm_id, country, region, sector, size_class, birth_year, first_year, exit_year``
        (0 if active at the end of the window), ``log_age_base, log_employment_base, instrument,
        application_year, first_support_year, support_amount``.
    applications
        One row per application as an agency holds it, rejected ones included: ``firm_id, country, region,
        sector, size_class, instrument, call_year, design, application_date, decision_date, outcome``
        (``"accepted"``/``"rejected"``: the agency's decision), ``supported`` (whether support was paid: a
        lottery winner or accepted scored-call applicant may decline), ``score, threshold, arm,
        amount_requested, support_amount``.
    calls
        One row per call: ``country, instrument, call_year, design, open_date, close_date, threshold``
        (published, scored calls only), ``n_applications, n_supported, budget_eur`` (awards rounded up to
        EUR 50,000), ``admin_cost_eur`` (the agency's cost of running the call).
    eligibility
        One row per firm and instrument its country runs: ``firm_id, country, instrument, eligible``.  A firm
        is eligible if its size class and sector qualify, and it was active during one of the country's calls
        for the instrument, observed the year before, and (growth coaching) at most 15 years old.
    truth
        The :class:`GroundTruth`.
    config
        The :class:`SimulationConfig` that produced it.
    """

    panel: pd.DataFrame
    firms: pd.DataFrame
    applications: pd.DataFrame
    calls: pd.DataFrame
    eligibility: pd.DataFrame
    truth: GroundTruth
    config: SimulationConfig = field(repr=False)

    def __repr__(self) -> str:
        start, end = self.config.years
        return (
            f"SimulatedFirms(seed={self.config.seed}, n_firms={self.config.n_firms}, rows={len(self.panel)}, "
            f"years={start}-{end}, countries={list(self.config.countries)!r}, "
            f"instruments={list(self.config.instruments)!r})"
        )

    def evaluation_sample(self, country: str, instrument: str) -> pd.DataFrame:
        """Panel rows of the firms relevant to evaluating one instrument in one country.

        Parameters
        ----------
        country
            ISO code of a simulated country.
        instrument
            An instrument that ``country`` runs.

        Returns
        -------
        pandas.DataFrame
            A fresh copy of the panel rows (index reset) of the firms that applied to ``instrument`` in
            ``country`` (supported or not).  For open calls the firms of ``country`` that never applied to
            any instrument and were eligible for this one are added as comparison firms
            (``instrument == "none"``, ``first_support_year == 0``).  For lotteries and scored calls only
            applicants are returned: the design's comparison group is the losers or the firms below the
            threshold.  Firms that applied to another instrument are never included.

        Raises
        ------
        SpecificationError
            If ``country`` is not simulated or does not run ``instrument``.
        """
        runs = self.calls.loc[self.calls["country"] == country, "instrument"].unique().tolist()
        if country not in self.config.countries:
            raise SpecificationError(
                f"evaluation_sample: country={country!r} is not simulated; choose one of "
                f"{list(self.config.countries)!r}."
            )
        if instrument not in runs:
            raise SpecificationError(
                f"evaluation_sample: country {country!r} runs no instrument {instrument!r}; it runs "
                f"{sorted(runs)!r}."
            )
        panel = self.panel
        in_country = panel["country"] == country
        mask = in_country & (panel["instrument"] == instrument)
        if self.config.instruments[instrument].design == "open_call":
            elig = self.eligibility
            ok = elig.loc[(elig["instrument"] == instrument) & elig["eligible"], "firm_id"]
            mask |= in_country & (panel["instrument"] == "none") & panel["firm_id"].isin(ok)
        sample = panel.loc[mask].reset_index(drop=True)
        return tag_simulated(sample, seed=self.config.seed, n_firms=self.config.n_firms, country=country,
                             instrument=instrument, truth=self.sample_truth(country, instrument))

    def sample_truth(self, country: str, instrument: str) -> dict[str, float]:
        """Return the true value of every estimand an evaluation of one (country, instrument) reports.

        Parameters
        ----------
        country, instrument
            As in :meth:`evaluation_sample`.

        Returns
        -------
        dict
            By :func:`ipf_eval.data.provenance.truth_key`: ``att_gt|att|<outcome>|`` (the simple aggregation
            of ATT(g, t)); for lotteries ``rct|itt|...``, ``rct|late|...`` (effect on users) and
            ``rct|first_stage|...`` (share of applicants who would use the support), and for scored calls
            ``rdd|robust|...`` and ``rdd|conventional|...`` (the effect at the threshold), all for the
            one-year change to the call year (event time 0); ``att_gt|att|<outcome>|<size class>`` for the
            simple aggregation within each size class.  See :class:`GroundTruth` for the definitions.
        """
        truth = self.truth
        out: dict[str, float] = {}

        def rows(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.loc[(frame["country"] == country) & (frame["instrument"] == instrument)]

        agg = rows(truth.aggregate)
        for r in agg.loc[agg["kind"] == "simple"].to_dict(orient="records"):
            out[truth_key("att_gt", "att", str(r["outcome"]))] = float(r["att"])
        sub = rows(truth.subgroup)
        for r in sub.loc[(sub["sector"] == "all") & (sub["size_class"] != "all")].to_dict(orient="records"):
            out[truth_key("att_gt", "att", str(r["outcome"]), str(r["size_class"]))] = float(r["att"])
        exp = rows(truth.experiment)
        for r in exp.loc[exp["event_time"] == 0].to_dict(orient="records"):
            outcome = str(r["outcome"])
            out[truth_key("rct", "itt", outcome)] = float(r["itt"])
            out[truth_key("rct", "late", outcome)] = float(r["effect_on_users"])
            if int(r["n_applicants"]) > 0:
                out[truth_key("rct", "first_stage", outcome)] = int(r["n_users"]) / int(r["n_applicants"])
        thr = rows(truth.threshold)
        for r in thr.loc[thr["event_time"] == 0].to_dict(orient="records"):
            for term in ("robust", "conventional"):
                out[truth_key("rdd", term, str(r["outcome"]))] = float(r["effect_at_threshold"])
        return out


def _strings(codes: npt.NDArray[np.int64], labels: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """Build a string column (pandas' default string dtype) from integer codes, through Arrow (fast)."""
    arr = pa.array(list(labels), type=pa.string()).take(pa.array(codes))
    return arr.to_pandas().array


def _relabel(frame: pd.DataFrame, labels: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Replace integer code columns by their string labels (code -1 stands for "all")."""
    out = frame.copy()
    for col, names in labels.items():
        if col in out:
            codes = out[col].to_numpy(dtype=np.int64)
            out[col] = _strings(np.where(codes < 0, len(names), codes), [*names, "all"])
    return out


def _dates(year: npt.NDArray[np.int64], day: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    """Dates from years and day of the year (0 = 1 January)."""
    jan1 = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    return (jan1 + day.astype("timedelta64[D]")).astype("datetime64[s]")


@keyword_options
def simulate_firms(
    *,
    seed: int,
    n_firms: int = 30_000,
    countries: Sequence[str] | None = None,
    years: tuple[int, int] = (2008, 2020),
    instruments: Sequence[str] | Mapping[str, InstrumentSpec] | None = None,
    selection_on_level: float = 0.0,
    effect_scale: float = 1.0,
    entry_share: float = 0.2,
) -> SimulatedFirms:
    r"""Simulate an SME register panel, agencies' delivery data and the true effects of their instruments.

    Parameters
    ----------
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed (and arguments) gives identical frames.
    n_firms
        Number of firms ever observed, entrants included.
    countries
        ISO 3166-1 alpha-2 codes among :data:`COUNTRY_PROFILES` (AT, DK, ES, FI, NO, PL, DE, IT, NL, SE).
        Default: AT, DK, ES, FI, NO, PL.  Each country has its own size, sector and
        region mix, exit rates, growth, agency reach, price and cost levels, and runs its own set of
        instruments (each default country runs 4 to 6; each instrument runs in 5 of the six).
    years
        First and last year observed (at least 4 years).  Calls take place from the third year to the
        last-but-one, so every cohort has two pre-support years and one post-support year in the window.
    instruments
        Which instruments to simulate: ``None`` for all six of :data:`DEFAULT_INSTRUMENTS`, a sequence of
        their names for a subset, or a mapping from names to :class:`InstrumentSpec` to change take-up,
        design, selection (``dataclasses.replace(DEFAULT_INSTRUMENTS["export_support"], selection=-1.0)``),
        amounts or effects.
    selection_on_level
        Extra selection into applying (and, for scored calls, a component of the score is always present)
        on the firm's unobserved productivity level, which shifts ``log_turnover`` permanently.  0 (default):
        applications depend only on observables, so cross-sectional matching on the baseline covariates and
        DiD with them are both unbiased.  Non-zero: DiD stays unbiased (the level differences out), matching
        on baseline covariates does not.
    effect_scale
        Multiplier of every effect (0 simulates no effect anywhere, for size checks).
    entry_share
        Share of firms born inside the window (entrants; observed from their birth year).

    Returns
    -------
    SimulatedFirms
        ``panel``, ``firms``, ``applications``, ``calls``, ``eligibility``, ``truth`` (a
        :class:`GroundTruth`) and ``config``.

    Raises
    ------
    SpecificationError
        If ``seed`` is not a non-negative integer, ``n_firms < 1``, ``years`` is not a forward pair spanning
        at least 4 years, ``countries`` is empty, a string, has duplicates or unknown codes, ``instruments``
        is empty, a string or names an unknown instrument or an invalid :class:`InstrumentSpec`, or
        ``selection_on_level``, ``effect_scale`` or ``entry_share`` is out of range.

    Notes
    -----
    **Panel columns.** ``firm_id, year`` (int64); ``country, region`` (NUTS2), ``sector`` (NACE section),
    ``size_class`` (baseline, time-invariant: micro < 10, small 10-49, medium 50-249 employees);
    ``birth_year``; baseline covariates ``log_age_base`` (:math:`\log(1 + \text{age})` in the first year
    observed; 0 for entrants) and ``log_employment_base``; ``instrument`` (the one the firm applied to,
    ``"none"`` if it never applied); ``application_year`` (call year, 0 if none); ``first_support_year``
    (= the call year if supported, 0 otherwise: support starts in the call year, effects start then, never
    before); ``support_amount`` (euro, 0 if not supported); ``score``, ``threshold`` (scored calls, NaN
    otherwise); ``arm`` (1.0/0.0 for lottery applicants, NaN otherwise); outcomes ``log_employment``,
    ``log_turnover``, ``rd_spending`` (euro), ``exporter`` (0/1), ``export_share`` (0 to 1),
    ``equity_raised`` (euro raised in the year), ``alive`` (0/1).

    **Survival.** A firm's rows run from its first year to its exit year or the last year, and stop after
    exit.  ``alive`` is 1 if the firm is still active at the end of the year and 0 in its exit year, so
    ``1 - alive`` is the yearly exit indicator among the firms at risk, and the effect on ``alive`` is the
    reduction of the yearly exit hazard.  The cumulative effect on exit risk over several years is the sum
    of the dynamic effects (loan guarantees: about 1.2 pp a year for four years, 4 to 5 pp in total).

    **Applications.** A firm applies to at most one instrument, at most once: this keeps every firm's
    treatment and its truth unambiguous.  Among eligible firms the log-odds of applying are
    :math:`a_{ck} + s_k z_i + \lambda p_i / 0.3`, with :math:`z_i` a standardised index of observables
    (log baseline employment, minus log age, sector), :math:`s_k` the instrument's ``selection``,
    :math:`p_i` the unobserved productivity level and :math:`\lambda` = ``selection_on_level``; the
    intercept gives the expected take-up ``takeup_k * reach_c``.  Applicants choose at random one of
    the calls held after their first year and (coaching) while they are young enough, without regard to
    their future exit, and do not apply if they have closed by then (staggered adoption).  Open calls
    accept applicants at random; scored calls support iff the score (60 + ``score_sd`` x a mix of
    :math:`z_i`, :math:`p_i` and noise, clipped to [0, 100]) is at least the call's published threshold
    (fuzzy take-up through ``takeup_above``/``takeup_below``); lotteries draw winners with ``win_prob``,
    winners use the support with probability ``use_rate``.

    **Untreated outcomes.** :math:`\log` employment is baseline employment plus the country's path
    (with a 2009 dip), a firm trend linear in the centred baseline covariates (young and small firms grow
    faster) and AR(1) noise; log turnover adds sector, country, region and firm productivity levels.
    Applications depend only on covariates (and on :math:`p_i`, a level), never on outcome shocks, so
    parallel trends hold conditionally on the baseline covariates for every outcome, and for
    ``log_employment`` and ``log_turnover`` the conditional trend is exactly linear in them (outcome
    regression with linear covariates is correctly specified).  Unconditional parallel trends fail when
    selection is non-zero.  Exit hazards depend on size class, age and country only (never on outcome
    shocks), so survivors' paths are not selected.  There are no sector-specific yearly shocks: selection
    loads on the sector, so sector paths would be trends the two baseline covariates do not capture.
    With the default 30,000 firms cohorts have about 20-100 supported firms; pre-period ATT(g, t) are then
    centred on 0 with correct standard errors, but a Wald pre-test over many pre-period cells is oversized
    (it rejects 15-30 % at 5 % even with randomly permuted cohort labels); use more firms for size checks.

    **Effects.** For applicant *i* of instrument *k* in country *c*, at event time
    :math:`e = t - g_i \ge 0`, an effect on a log outcome is
    :math:`\beta_k \, d_k(e) \, m_k(\text{size}_i) \, \mu_{ck} \, (1 + 0.4 v_i)` with base :math:`\beta_k`,
    dynamics :math:`d_k`, size multipliers :math:`m_k` (1.5-2 times larger for micro and small than
    medium firms; near 0 for medium firms for R&D grants), a country x instrument multiplier
    :math:`\mu_{ck}` and firm heterogeneity :math:`v_i \sim N(0, 1)`.  R&D spending rises by
    :math:`\beta_k` euro per euro of support (spread by :math:`d_k`); export support shifts a latent
    export propensity (exporter status and share respond); the yearly probability of raising equity is
    multiplied by :math:`1 + (\beta_k - 1)\,\cdot` the same factors; loan guarantees lower the yearly exit
    hazard.  Default magnitudes follow published evaluations: employment 0.05-0.17 log points for grants
    and guarantees, about 0 for coaching; turnover 0.07-0.20 for guarantees, about 0.08 for vouchers fading
    after a year; R&D input additionality about 1; exit risk 3-5 pp lower for guarantees; equity raised
    about doubled by equity readiness.

    **Truth.** See :class:`GroundTruth`: sample averages of the simulated individual effects over the
    firm-years observed.

    References
    ----------
    Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple time periods.
    *Journal of Econometrics* 225(2), 200-230.

    Calibration: Cornet, Vroomen and van der Steeg (2006); Bronzini and Iachini (2014); Howell (2017);
    Criscuolo et al. (2019); Asdrubali and Signore (2015); Bertoni, Colombo and Quas (2018); Munch and
    Schaur (2018); Santoleri et al. (2024); Dimos and Pugh (2016).

    Examples
    --------
    >>> from ipf_eval.data.simulate import simulate_firms
    >>> sim = simulate_firms(seed=1, n_firms=2_000)
    >>> sorted(sim.panel["country"].unique())
    ['AT', 'DK', 'ES', 'FI', 'NO', 'PL']
    """
    seed_, n, codes, (start, end) = check_arguments(
        seed, n_firms, countries, years, selection_on_level, effect_scale, entry_share
    )
    specs_map = check_instruments(instruments)
    keys = list(specs_map)
    specs = [specs_map[k] for k in keys]
    profiles = [COUNTRY_PROFILES[c] for c in codes]
    n_years = end - start + 1
    runs = np.array([[k in p.instruments for k in keys] for p in profiles], dtype=bool)
    region_labels = [r for p in profiles for r in p.regions]
    region_offsets = np.cumsum([0] + [len(p.regions) for p in profiles])[:-1].astype(np.int64)

    rng = np.random.default_rng(seed_)
    pop = build_population(
        rng,
        n=n,
        profiles=profiles,
        region_offsets=region_offsets,
        start=start,
        end=end,
        entry_share=entry_share,
    )
    calls = draw_calls(rng, runs=runs, specs=specs, n_years=n_years)
    eligible, applied, call_row = eligibility_and_applications(
        rng,
        pop=pop,
        calls=calls,
        runs=runs,
        specs=specs,
        profiles=profiles,
        selection_on_level=selection_on_level,
    )
    apps = decide(
        rng, pop=pop, calls=calls, instrument=applied, call_row=call_row, specs=specs, profiles=profiles
    )
    country_mult = np.array([p.effect_multiplier for p in profiles])[:, None] * np.exp(
        rng.normal(0.0, _COUNTRY_INSTRUMENT_SD, (len(profiles), len(keys)))
    )
    outcomes = simulate_outcomes(
        rng,
        pop=pop,
        apps=apps,
        specs=specs,
        profiles=profiles,
        country_multiplier=country_mult,
        effect_scale=effect_scale,
    )

    # Firm-level treatment columns.
    inst_labels = ["none", *keys]
    f = apps.firm
    inst_code = np.zeros(n, dtype=np.int64)
    inst_code[f] = apps.instrument + 1
    app_year = np.zeros(n, dtype=np.int64)
    app_year[f] = start + apps.year_idx
    first_support = np.zeros(n, dtype=np.int64)
    first_support[f] = np.where(apps.supported, start + apps.year_idx, 0)
    amount = np.zeros(n)
    amount[f] = np.where(apps.supported, apps.amount, 0.0)
    score = np.full(n, np.nan)
    score[f] = apps.score
    threshold = np.full(n, np.nan)
    threshold[f] = apps.threshold
    arm = np.full(n, np.nan)
    arm[f] = apps.arm
    exit_idx = outcomes.exit_idx
    last_idx = np.minimum(exit_idx, n_years - 1)

    statics = {
        "country": (pop.country, list(codes)),
        "region": (pop.region, region_labels),
        "sector": (pop.sector, list(SECTORS)),
        "size_class": (pop.size, list(SIZE_CLASSES)),
    }

    # Panel: one row per firm and year from the first year to exit (or the end of the window).
    counts = last_idx - pop.first_idx + 1
    rep = np.repeat(np.arange(n), counts)
    t = pop.first_idx[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(counts) - counts, counts))
    panel_cols: dict[str, object] = {
        "firm_id": (rep + 1).astype(np.int64),
        "year": (start + t).astype(np.int64),
    }
    for name, (codes_, labels) in statics.items():
        panel_cols[name] = _strings(codes_[rep], labels)
    panel_cols.update(
        {
            "birth_year": pop.birth_year[rep],
            "log_age_base": pop.log_age_base[rep],
            "log_employment_base": pop.lemp_base[rep],
            "instrument": _strings(inst_code[rep], inst_labels),
            "application_year": app_year[rep],
            "first_support_year": first_support[rep],
            "support_amount": amount[rep],
            "score": score[rep],
            "threshold": threshold[rep],
            "arm": arm[rep],
        }
    )
    for name, values in outcomes.observed.items():
        panel_cols[name] = values[rep, t]
    panel_cols["exporter"] = outcomes.observed["exporter"][rep, t].astype(np.int64)
    panel_cols["alive"] = (t != exit_idx[rep]).astype(np.int64)
    panel = pd.DataFrame(panel_cols)

    firm_cols: dict[str, object] = {"firm_id": np.arange(1, n + 1, dtype=np.int64)}
    for name, (codes_, labels) in statics.items():
        firm_cols[name] = _strings(codes_, labels)
    firm_cols.update(
        {
            "birth_year": pop.birth_year,
            "first_year": start + pop.first_idx,
            "exit_year": np.where(exit_idx < n_years, start + exit_idx, 0).astype(np.int64),
            "log_age_base": pop.log_age_base,
            "log_employment_base": pop.lemp_base,
            "instrument": _strings(inst_code, inst_labels),
            "application_year": app_year,
            "first_support_year": first_support,
            "support_amount": amount,
        }
    )
    firms = pd.DataFrame(firm_cols)

    elig_firm, elig_inst = np.nonzero(runs[pop.country])
    eligibility = pd.DataFrame(
        {
            "firm_id": (elig_firm + 1).astype(np.int64),
            "country": _strings(pop.country[elig_firm], list(codes)),
            "instrument": _strings(elig_inst, keys),
            "eligible": eligible[elig_firm, elig_inst],
        }
    )

    design_labels = [s.design for s in specs]
    call_year = start + calls.year_idx
    stats = call_statistics(calls=calls, apps=apps, specs=specs, profiles=profiles)
    calls_frame = pd.DataFrame(
        {
            "country": _strings(calls.country, list(codes)),
            "instrument": _strings(calls.instrument, keys),
            "call_year": call_year.astype(np.int64),
            "design": _strings(calls.instrument, design_labels),
            "open_date": _dates(call_year, calls.open_day),
            "close_date": _dates(call_year, calls.open_day + 45),
            "threshold": calls.threshold,
            **stats,
        }
    ).sort_values(["country", "instrument", "call_year"], ignore_index=True)

    applications = pd.DataFrame(
        {
            "firm_id": (f + 1).astype(np.int64),
            "country": _strings(pop.country[f], list(codes)),
            "region": _strings(pop.region[f], region_labels),
            "sector": _strings(pop.sector[f], list(SECTORS)),
            "size_class": _strings(pop.size[f], list(SIZE_CLASSES)),
            "instrument": _strings(apps.instrument, keys),
            "call_year": (start + apps.year_idx).astype(np.int64),
            "design": _strings(apps.instrument, design_labels),
            "application_date": _dates(start + apps.year_idx, apps.application_day),
            "decision_date": _dates(start + apps.year_idx, apps.decision_day),
            "outcome": _strings(apps.accepted.astype(np.int64), ["rejected", "accepted"]),
            "supported": apps.supported,
            "score": apps.score,
            "threshold": apps.threshold,
            "arm": apps.arm,
            "amount_requested": apps.amount,
            "support_amount": np.where(apps.supported, apps.amount, 0.0),
        }
    ).sort_values(["country", "instrument", "call_year", "application_date", "firm_id"], ignore_index=True)

    # Individual effects of applicants over their observed years.
    a_counts = last_idx[f] - pop.first_idx[f] + 1
    a_rep = np.repeat(np.arange(f.size), a_counts)
    a_t = pop.first_idx[f][a_rep] + (
        np.arange(a_rep.size) - np.repeat(np.cumsum(a_counts) - a_counts, a_counts)
    )
    fr = f[a_rep]
    # Truth is computed on integer codes (fast groupby) and labelled afterwards.
    eff_cols: dict[str, object] = {
        "firm_id": (fr + 1).astype(np.int64),
        "year": (start + a_t).astype(np.int64),
        "country": pop.country[fr],
        "instrument": apps.instrument[a_rep],
        "size_class": pop.size[fr],
        "sector": pop.sector[fr],
        "application_year": (start + apps.year_idx[a_rep]).astype(np.int64),
        "event_time": (a_t - apps.year_idx[a_rep]).astype(np.int64),
        "supported": apps.supported[a_rep],
        "would_take": apps.would_take[a_rep],
        "arm": apps.arm[a_rep],
        "score": apps.score[a_rep],
        "threshold": apps.threshold[a_rep],
    }
    for name in OUTCOMES:
        eff_cols[name] = outcomes.effects[name][a_rep, a_t]
    effects = pd.DataFrame(eff_cols)
    truth_labels = {
        "country": list(codes),
        "instrument": keys,
        "size_class": list(SIZE_CLASSES),
        "sector": list(SECTORS),
        "outcome": list(OUTCOMES),
    }
    score_sd = np.array([s.score_sd for s in specs])
    jump = np.array([s.takeup_above - s.takeup_below for s in specs])
    arrays = _sim_truth.EffectArrays(effects)
    gt = _sim_truth.att_gt(arrays)
    aggregate = _sim_truth.aggregate(arrays)
    subgroup = _sim_truth.subgroup(arrays)
    experiment = _sim_truth.experiment(arrays)
    at_threshold = _sim_truth.at_threshold(arrays, score_sd, jump, _THRESHOLD_BANDWIDTH)
    run_c, run_k = np.nonzero(runs)
    multipliers = pd.DataFrame(
        {
            "country": [codes[c] for c in run_c],
            "instrument": [keys[k] for k in run_k],
            "design": [design_labels[k] for k in run_k],
            "effect_multiplier": country_mult[run_c, run_k] * effect_scale,
        }
    )
    truth = GroundTruth(
        att_gt=_relabel(gt, truth_labels),
        aggregate=_relabel(aggregate, truth_labels),
        subgroup=_relabel(subgroup, truth_labels),
        experiment=_relabel(experiment, truth_labels),
        threshold=_relabel(at_threshold, truth_labels),
        effects=_relabel(effects, truth_labels),
        multipliers=multipliers,
    )
    config = SimulationConfig(
        seed=seed_,
        n_firms=n,
        countries=codes,
        years=(start, end),
        instruments=MappingProxyType(dict(specs_map)),
        selection_on_level=float(selection_on_level),
        effect_scale=float(effect_scale),
        entry_share=float(entry_share),
    )
    return SimulatedFirms(
        panel=panel,
        firms=firms,
        applications=applications,
        calls=calls_frame,
        eligibility=eligibility,
        truth=truth,
        config=config,
    )
