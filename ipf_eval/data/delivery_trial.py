r"""Simulated delivery trials with known effects: :func:`trial_population`, :func:`simulate_delivery_trial`.

An agency testing a new way of delivering an instrument (a simplified application form, a fast-track
decision, proactive outreach) randomises it among the firms eligible for one call.  This module draws that
population from a :class:`~ipf_eval.data.simulate.SimulatedFirms` and the trial's outcomes from firm-level
potential outcomes, with the true intention-to-treat effects on the trial sample.

References
----------
Bhargava, S. and Manoli, D. (2015). Psychological frictions and the incomplete take-up of social benefits:
evidence from an IRS field experiment. *American Economic Review* 105(11), 3489-3529.

Finkelstein, A. and Notowidigdo, M. J. (2019). Take-up and targeting: experimental evidence from SNAP.
*Quarterly Journal of Economics* 134(3), 1505-1556.

Athey, S. and Imbens, G. W. (2017). The econometrics of randomized experiments. In Banerjee, A. V. and
Duflo, E. (eds.), *Handbook of Economic Field Experiments* 1, 73-140.

Frangakis, C. E. and Rubin, D. B. (2002). Principal stratification in causal inference. *Biometrics* 58(1),
21-29.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.data._sim_config import SIZE_CLASSES
from ipf_eval.data.simulate import SimulatedFirms
from ipf_eval.errors import DataError, SpecificationError

__all__ = ["BASELINE_COLUMNS", "DeliveryTrial", "DeliveryTrialEffects", "call_take_up", "call_years",
           "simulate_delivery_trial", "trial_population"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.integer[Any]]
# Per outcome: expected control and treated values, estimand weights (None: 1), drawn control and treated
# potential outcomes, and which firms the realised effect averages over (None: all).
_Parts = tuple[FloatArray, FloatArray, FloatArray | None, FloatArray, FloatArray,
               npt.NDArray[np.bool_] | None]

#: Columns of :func:`trial_population` (all known before the call) that the outcome model uses or carries.
BASELINE_COLUMNS: tuple[str, ...] = ("firm_id", "country", "instrument", "call_year", "size_class", "sector",
                                     "region", "log_employment_base", "applied_before")
_COVARIATES = ("size_class", "sector", "region", "log_employment_base", "applied_before")
_ESTIMANDS = {"started": "itt", "completed": "itt", "days_to_decision": "itt_always_completers"}

# Log-odds loadings of starting an application (micro firms have least capacity to apply; firms that
# applied before know the procedure) and of completing a started one (see the Notes of the simulator).
_START_SIZE = {"micro": -0.3, "small": 0.0, "medium": 0.25}
_SECTOR = {"C": 0.1, "G": -0.2, "J": 0.3, "M": 0.2, "F": -0.3}
_REGION_SPREAD = 0.2  # region effects evenly spaced over [-0.2, 0.2] in the sorted order of the regions
_START_LEMP, _START_BEFORE = 0.35, 0.9
_COMPLETE_SIZE = {"micro": -0.35, "small": 0.0, "medium": 0.3}
_COMPLETE_LEMP, _COMPLETE_BEFORE = 0.15, 0.6
# Relative expected processing time by size class (bigger projects take longer to appraise).
_DAYS_SIZE = {"micro": 0.9, "small": 1.0, "medium": 1.2}


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise SpecificationError(f"DeliveryTrialEffects: {name} must be a real number; got {value!r}.")
    if math.isfinite(float(value)):
        return float(value)
    raise SpecificationError(f"DeliveryTrialEffects: {name} must be finite; got {value!r}.")


@dataclass(frozen=True)
class DeliveryTrialEffects:
    r"""True effects of a new delivery mode (e.g. a simplified application form), validated on creation.

    Parameters
    ----------
    start_rate, start_effect
        Mean over the eligible firms of the probability of starting an application under the usual
        delivery (control), and of its change under the new one.  Defaults 0.10 and +0.04 (4 percentage
        points), the order of magnitude of simplified forms and reminders in take-up trials (Bhargava and
        Manoli 2015; Finkelstein and Notowidigdo 2019).
    completion_rate, completion_effect
        Mean probability that a started application is completed and submitted, under control, and its
        mean change.  Defaults 0.75 and +0.08 (drop-out falls from about 25 % to 17 %).
    days_mean, days_effect
        Mean expected days from submission to decision under control (default 45, the simulated open
        calls' processing lag) and its mean change (default -6).
    days_shape
        Shape :math:`k` of the gamma distribution of days around their expectation (coefficient of
        variation :math:`1/\sqrt{k}`; default 16: 25 %, about 11 days).
    size_multipliers
        Relative size of every effect for micro, small and medium firms; normalised so the mean effect over
        the population is the one given.  Default ``(1.5, 0.8, 0.5)``: effects about three times larger for
        micro than for medium firms, so heterogeneity is visible.

    Raises
    ------
    SpecificationError
        A value that is not a finite number; a rate outside (0, 1) or a rate plus its effect outside
        (0, 1); ``days_mean <= 0``, ``days_mean + days_effect <= 0`` or ``days_shape <= 0``; multipliers
        that are not three non-negative numbers with at least one positive.
    """

    start_rate: float = 0.10
    start_effect: float = 0.04
    completion_rate: float = 0.75
    completion_effect: float = 0.08
    days_mean: float = 45.0
    days_effect: float = -6.0
    days_shape: float = 16.0
    size_multipliers: tuple[float, float, float] = (1.5, 0.8, 0.5)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "size_multipliers":
                object.__setattr__(self, f.name, _number(getattr(self, f.name), f.name))
        fail, mult = "DeliveryTrialEffects: ", self.size_multipliers
        for rate, effect in (("start_rate", "start_effect"), ("completion_rate", "completion_effect")):
            r, e = getattr(self, rate), getattr(self, effect)
            if not (0.0 < r < 1.0 and 0.0 < r + e < 1.0):
                raise SpecificationError(f"{fail}{rate} and {rate} + {effect} must lie strictly between 0 "
                                         f"and 1 (probabilities); got {rate}={r!r}, {effect}={e!r}.")
        if self.days_mean <= 0 or self.days_mean + self.days_effect <= 0 or self.days_shape <= 0:
            raise SpecificationError(f"{fail}days_mean, days_mean + days_effect and days_shape must be "
                                     f"positive; got days_mean={self.days_mean!r}, days_effect="
                                     f"{self.days_effect!r}, days_shape={self.days_shape!r}.")
        if not isinstance(mult, tuple | list) or len(mult) != len(SIZE_CLASSES):
            raise SpecificationError(f"{fail}size_multipliers must be three numbers (micro, small, medium); "
                                     f"got {mult!r}.")
        values = tuple(_number(m, "size_multipliers") for m in mult)
        if min(values) < 0 or max(values) <= 0:
            raise SpecificationError(f"{fail}size_multipliers must be non-negative with at least one "
                                     f"positive; got {mult!r}.")
        object.__setattr__(self, "size_multipliers", values)

    def scaled(self, factor: float) -> DeliveryTrialEffects:
        """Return a copy with the three effects multiplied by ``factor`` (0 gives a trial without effect)."""
        k = _number(factor, "factor")
        return replace(self, start_effect=k * self.start_effect, completion_effect=k * self.completion_effect,
                       days_effect=k * self.days_effect)


@dataclass(frozen=True, eq=False)
class DeliveryTrial:
    """A simulated delivery trial: observed outcomes, potential-outcome expectations and the true effects.

    Attributes
    ----------
    outcomes
        One row per assigned firm, sorted by id: ``<idname>, <arm_col>, started, completed, applied``
        (= ``completed``; int64 0/1), ``days_to_decision`` (float, NaN unless completed), then the
        baseline columns of :data:`BASELINE_COLUMNS` other than the id.
    truth
        ``outcome, size_class, estimand, effect, effect_realised, mean_control, mean_treated, n_firms,
        expected_n``: per outcome (``started``, ``completed``, ``days_to_decision``), over all assigned
        firms (``size_class == "all"``) and per size class.  ``effect = mean_treated - mean_control`` is
        the estimand of :func:`simulate_delivery_trial`'s Notes (an expectation over the outcome draws);
        ``effect_realised`` the same average of this draw's individual effects; ``expected_n`` the expected
        number of firms the estimand averages over (``n_firms``, or the expected always-completers).
    potential
        One row per assigned firm: ``<idname>, p_started_control, p_started_treated,
        p_completed_control, p_completed_treated, days_control, days_treated`` (expected days).
    effects, seed, idname, arm_col, treatment, control
        The arguments that produced it.
    """

    outcomes: pd.DataFrame
    truth: pd.DataFrame
    potential: pd.DataFrame = field(repr=False)
    effects: DeliveryTrialEffects
    seed: int
    idname: str
    arm_col: str
    treatment: str
    control: str

    def effect(self, outcome: str, size_class: str = "all") -> float:
        """Return the true effect on ``outcome`` over all assigned firms or one size class."""
        rows = self.truth.loc[(self.truth["outcome"] == outcome) & (self.truth["size_class"] == size_class)]
        if rows.empty:
            raise SpecificationError(f"DeliveryTrial.effect: no truth for outcome={outcome!r}, size_class="
                                     f"{size_class!r}; outcomes are {list(_ESTIMANDS)!r}, size classes "
                                     f"{self.truth['size_class'].unique().tolist()!r}.")
        return float(rows["effect"].iloc[0])

    def __repr__(self) -> str:
        n_treated = int((self.outcomes[self.arm_col] == self.treatment).sum())
        return (f"DeliveryTrial(n_firms={len(self.outcomes)}, {self.treatment}={n_treated}, "
                f"{self.control}={len(self.outcomes) - n_treated}, seed={self.seed})")


@keyword_options
def trial_population(
    sim: SimulatedFirms, *, country: str, instrument: str, call_year: int | None = None
) -> pd.DataFrame:
    """Return the firms eligible for one call of a country's instrument, with their baseline covariates.

    Parameters
    ----------
    sim
        A simulation from :func:`~ipf_eval.data.simulate.simulate_firms` (not modified).
    country
        A simulated country.
    instrument
        An instrument that ``country`` runs.
    call_year
        Year of one of its calls; ``None`` for the latest.

    Returns
    -------
    pandas.DataFrame
        One row per firm (sorted by ``firm_id``) eligible for the instrument (``sim.eligibility``) and
        able to answer this call: observed the year before, active in the call year and, with an age
        limit, young enough.  Columns :data:`BASELINE_COLUMNS`: ``firm_id, country, instrument, call_year,
        size_class, sector, region, log_employment_base`` and ``applied_before`` (int64 0/1: applied to
        this instrument in an earlier call).  Nothing measured after the call.

    Raises
    ------
    SpecificationError
        ``sim`` is not a :class:`~ipf_eval.data.simulate.SimulatedFirms`; ``country``, ``instrument`` or
        ``call_year`` is not one simulated (the message lists the valid ones).
    DataError
        No firm is eligible and active at that call (simulate more firms).

    Examples
    --------
    >>> from ipf_eval.data.simulate import simulate_firms
    >>> sim = simulate_firms(seed=1, n_firms=4000)
    >>> pop = trial_population(sim, country="ES", instrument="loan_guarantee")
    >>> list(pop.columns) == list(BASELINE_COLUMNS)
    True
    """
    fn = "trial_population"
    if not isinstance(sim, SimulatedFirms):
        raise SpecificationError(f"{fn}: sim must be a SimulatedFirms from simulate_firms(); got "
                                 f"{type(sim).__name__}.")
    countries = list(sim.config.countries)
    if country not in countries:
        raise SpecificationError(f"{fn}: country={country!r} is not simulated; choose one of {countries!r}.")
    calls = sim.calls.loc[sim.calls["country"] == country]
    runs = sorted(calls["instrument"].unique().tolist())
    if instrument not in runs:
        raise SpecificationError(f"{fn}: country {country!r} runs no instrument {instrument!r}; it runs "
                                 f"{runs!r}.")
    years = sorted(int(y) for y in calls.loc[calls["instrument"] == instrument, "call_year"])
    if call_year is None:
        year = years[-1]
    elif isinstance(call_year, bool) or not isinstance(call_year, int | np.integer) or call_year not in years:
        raise SpecificationError(f"{fn}: {country!r} ran no {instrument!r} call in call_year={call_year!r}; "
                                 f"its calls were in {years!r} (or pass call_year=None for the latest).")
    else:
        year = int(call_year)
    elig = sim.eligibility
    ok = elig.loc[(elig["country"] == country) & (elig["instrument"] == instrument) & elig["eligible"]]
    firms = sim.firms.loc[sim.firms["firm_id"].isin(ok["firm_id"])]
    active = (firms["first_year"] < year) & ((firms["exit_year"] == 0) | (firms["exit_year"] >= year))
    max_age = sim.config.instruments[instrument].max_age
    if max_age is not None:
        active &= year - firms["birth_year"] <= max_age
    firms = firms.loc[active].sort_values("firm_id", ignore_index=True)
    if firms.empty:
        raise DataError(f"{fn}: no firm of {country!r} is eligible for {instrument!r} and active at its "
                        f"{year} call; simulate more firms (n_firms={sim.config.n_firms}) or choose another "
                        "call, instrument or country.")
    apps = sim.applications
    before = apps.loc[(apps["country"] == country) & (apps["instrument"] == instrument)
                      & (apps["call_year"] < year), "firm_id"]
    out = pd.DataFrame({
        "firm_id": firms["firm_id"].to_numpy(dtype=np.int64),
        "country": ok["country"].iloc[:1].repeat(len(firms)).to_numpy(),
        "instrument": ok["instrument"].iloc[:1].repeat(len(firms)).to_numpy(),
        "call_year": np.full(len(firms), year, dtype=np.int64),
    })
    for col in ("size_class", "sector", "region", "log_employment_base"):
        out[col] = firms[col].to_numpy()
    out["applied_before"] = firms["firm_id"].isin(before).to_numpy().astype(np.int64)
    return out



@keyword_options
def call_years(sim: SimulatedFirms, *, country: str, instrument: str) -> tuple[int, ...]:
    """Return the years of a country's calls for an instrument, in order (empty when it runs none)."""
    calls = sim.calls
    years = calls.loc[(calls["country"] == country) & (calls["instrument"] == instrument), "call_year"]
    return tuple(sorted(int(y) for y in years))


@keyword_options
def call_take_up(sim: SimulatedFirms, *, country: str, instrument: str, call_year: int) -> float:
    """Return the share of a call's eligible firms (:func:`trial_population`) that applied to it.

    The base rate an agency plans a delivery trial from: how many of the firms it could reach applied last
    time.  Raises as :func:`trial_population`.
    """
    firms = trial_population(sim, country=country, instrument=instrument, call_year=call_year)["firm_id"]
    apps = sim.applications
    applied = apps.loc[(apps["country"] == country) & (apps["instrument"] == instrument)
                       & (apps["call_year"] == call_year), "firm_id"]
    return float(firms.isin(applied).mean())

def _expit(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _shift(index: FloatArray, target: float, base: FloatArray | None = None) -> float:
    """Log-odds shift ``g`` with ``mean(expit(index + g) - base) == target`` (bisection; 0 when target 0)."""
    if target == 0.0 and base is not None:
        return 0.0
    ref = 0.0 if base is None else float(base.mean())
    lo, hi = -40.0, 40.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if float(_expit(index + mid).mean()) - ref < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _calibrate(index: FloatArray, size: IntArray, rate: float, effect: float,
               class_effect: FloatArray, what: str) -> tuple[FloatArray, FloatArray]:
    """Control and treated probabilities: overall mean ``rate``, size-class mean effects ``class_effect``."""
    index = index + _shift(index, rate)
    p0 = _expit(index)
    p1 = p0.copy()
    for s in np.unique(size).astype(np.int64):
        m = size == s
        target = float(class_effect[s])
        room = (-float(p0[m].mean()), 1.0 - float(p0[m].mean()))
        if not room[0] < target < room[1]:
            raise SpecificationError(
                f"simulate_delivery_trial: the {what} effect for {SIZE_CLASSES[s]} firms would be "
                f"{target:.4f} (effects.{what}_effect={effect!r} times its size multiplier), but their "
                f"mean control probability is {-room[0]:.4f}; lower the effect or the {SIZE_CLASSES[s]} "
                "multiplier."
            )
        p1[m] = _expit(index[m] + _shift(index[m], target, p0[m]))
    return p0, p1


def _check_frames(population: pd.DataFrame, assignment: pd.DataFrame, *, arm_col: str, treatment: str,
                  control: str, idname: str) -> None:
    fn = "simulate_delivery_trial"
    if not isinstance(population, pd.DataFrame) or not isinstance(assignment, pd.DataFrame):
        raise SpecificationError(f"{fn}: population and assignment must be pandas DataFrames; got "
                                 f"{type(population).__name__} and {type(assignment).__name__}.")
    names = {"arm_col": arm_col, "treatment": treatment, "control": control, "idname": idname}
    if not all(isinstance(v, str) and v for v in names.values()) or treatment == control or arm_col == idname:
        raise SpecificationError(f"{fn}: arm_col, treatment, control and idname must be non-empty strings, "
                                 f"treatment != control and arm_col != idname; got {names!r}.")
    for name, frame, need in (("population", population, [idname, *BASELINE_COLUMNS[1:]]),
                              ("assignment", assignment, [idname, arm_col])):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise DataError(f"{fn}: {name} lacks column(s) {missing!r}; it needs {need!r} (build the "
                            "population with trial_population(), or set idname/arm_col).")
        dup, nan = int(frame[idname].duplicated().sum()), int(frame[idname].isna().sum())
        if dup or nan or frame.empty:
            raise DataError(f"{fn}: {name}[{idname!r}] must identify its {len(frame)} rows (at least one) "
                            f"uniquely; {dup} duplicated and {nan} missing.")
    arms = assignment[arm_col]
    other = sorted(map(str, set(arms.dropna().unique().tolist()) - {treatment, control}))
    if other or arms.isna().any():
        raise DataError(f"{fn}: assignment[{arm_col!r}] must be {control!r} or {treatment!r}; found other "
                        f"labels {other!r} and {int(arms.isna().sum())} missing. Keep only these two arms, "
                        "or set treatment/control to the labels used.")
    unknown = int((~assignment[idname].isin(population[idname])).sum())
    if unknown:
        raise DataError(f"{fn}: {unknown} of {len(assignment)} assigned firms are not in the population "
                        f"(matched on {idname!r}); assign firms of the trial population only.")
    lemp = population["log_employment_base"]
    bad = [c for c in _COVARIATES if population[c].isna().any()]
    bad += ["log_employment_base (numeric, finite)"] * (
        not pd.api.types.is_numeric_dtype(lemp) or not np.isfinite(lemp.to_numpy(dtype=float)).all())
    bad += [f"size_class (one of {list(SIZE_CLASSES)!r})"] * (
        not set(population["size_class"].unique().tolist()) <= set(SIZE_CLASSES))
    bad += ["applied_before (0/1)"] * (not population["applied_before"].isin([0, 1]).all())
    if bad:
        raise DataError(f"{fn}: population column(s) {bad!r} have missing or invalid values; every firm "
                        f"needs valid {list(_COVARIATES)!r}.")


@keyword_options
def simulate_delivery_trial(
    population: pd.DataFrame,
    assignment: pd.DataFrame,
    *,
    seed: int,
    effects: DeliveryTrialEffects = DeliveryTrialEffects(),
    arm_col: str = "arm",
    treatment: str = "simplified_form",
    control: str = "control",
    idname: str = "firm_id",
) -> DeliveryTrial:
    r"""Simulate a randomised delivery trial among eligible firms, with its true intention-to-treat effects.

    Parameters
    ----------
    population
        The firms eligible for the call, one row each, with the columns of :func:`trial_population`
        (not modified).  The model is calibrated on this population.
    assignment
        Any frame with ``idname`` and ``arm_col`` (e.g. from ``ipf_eval.experiments.design_trial``): the
        assigned firms, a subset of ``population``, each in arm ``treatment`` or ``control`` (not modified).
    seed
        Seed of :func:`numpy.random.default_rng`: same seed, population and assignment give identical frames.
    effects
        The :class:`DeliveryTrialEffects`.
    arm_col, treatment, control, idname
        The arm column of ``assignment``, its two labels and the firm identifier of both frames.

    Returns
    -------
    DeliveryTrial
        ``outcomes`` (observed), ``potential`` (expectations), ``truth`` (true effects on the sample).

    Raises
    ------
    SpecificationError
        Invalid ``seed``, ``effects``, labels or column names; an effect too large for a size class's
        control probability.
    DataError
        Missing columns, duplicated or missing ids, arm labels other than the two, assigned firms not in
        the population, missing covariates, unknown size classes, ``applied_before`` not 0/1.

    Notes
    -----
    **Model.** Firm *i* (size class :math:`s_i`, log baseline employment :math:`\ell_i`, earlier
    application :math:`A_i`) has the start index :math:`x_i'\beta = b_{s_i} + b_{sector} + b_{region} +
    0.35(\ell_i - \bar\ell) + 0.9 A_i` (sector effects -0.3 to 0.3, region effects evenly spaced over
    [-0.2, 0.2]) and the completion index :math:`x_i'\beta_q` (size effects -0.35/0/0.3, half the sector and
    region effects, :math:`0.15(\ell_i - \bar\ell) + 0.6 A_i`).  Under arm :math:`a \in \{0, 1\}`

    .. math::
        p_i(a) = \Lambda(\alpha + x_i'\beta + a\gamma_{s_i}), \quad
        q_i(a) = \Lambda(\alpha_q + x_i'\beta_q + a\gamma^q_{s_i}), \quad
        m_i(a) = \mu_{s_i} + a\delta_{s_i}.

    :math:`\alpha` makes the population mean of :math:`p_i(0)` ``start_rate``; :math:`\gamma_s` makes the
    mean of :math:`p_i(1) - p_i(0)` over the population's class *s* equal :math:`\tau\omega_s/\bar\omega`
    (``start_effect`` :math:`\tau`, ``size_multipliers`` :math:`\omega`, :math:`\bar\omega` their
    population-weighted mean), so the population mean effect is :math:`\tau`; likewise for :math:`q` and
    the expected days :math:`m` (:math:`\mu_s \propto` 0.9/1.0/1.2, mean ``days_mean``).  Independent
    :math:`U_i, V_i \sim U(0,1)` and :math:`G_i \sim \mathrm{Gamma}(k, 1/k)` (mean 1), drawn for every
    population firm in id order, are shared by the two arms: :math:`S_i(a) = 1\{U_i < p_i(a)\}`,
    :math:`C_i(a) = S_i(a)1\{V_i < q_i(a)\}`, :math:`D_i(a) = m_i(a)G_i`, observed if :math:`C_i(Z_i) = 1`.

    **Estimands** (``truth``) on the assigned firms :math:`\mathcal A`, and within each size class: the
    finite-population averages of the firms' expected effects, conditional on the sample (Athey and Imbens
    2017),

    .. math::
        \tau_S = \frac{1}{|\mathcal A|}\sum_{i \in \mathcal A} \big(p_i(1) - p_i(0)\big), \quad
        \tau_C = \frac{1}{|\mathcal A|}\sum_{i \in \mathcal A} \big(p_i(1) q_i(1) - p_i(0) q_i(0)\big).

    The (stratified) difference in means is unbiased for them, and its Neyman/HC2 variance is conservative
    only by the variance of the firms' expected effects over *n* (negligible here).  Days exist only for
    completers and the new delivery changes who completes, so the days estimand is the effect among firms
    that would complete under both arms (always-completers; Frangakis and Rubin 2002):

    .. math::
        \tau_D = \frac{\sum_{i \in \mathcal A} \pi_i\,\delta_{s_i}}{\sum_{i \in \mathcal A} \pi_i}, \qquad
        \pi_i = P\{C_i(0) = C_i(1) = 1\} = \min(p_i(0), p_i(1))\,\min(q_i(0), q_i(1)).

    As :math:`G_i` is independent of completion and :math:`m_i(a)` depends on the size class only, within
    class *s* the difference in mean days between the arms' completers is unbiased for
    :math:`\tau_{D,s} = \delta_s`; the class differences weighted by :math:`n_s \hat c_s` (:math:`\hat c_s`
    the class's completion rate in the arm where it is lower, the control arm for positive effects)
    estimate :math:`\tau_D`.  The pooled comparison of completers does not: it mixes in the extra, mostly
    micro, completers (about -6.4 against :math:`\tau_D \approx -4.9` days with the defaults).
    ``effect_realised`` replaces the expectations by this draw's :math:`S_i(a)`, :math:`C_i(a)` (for days,
    :math:`D_i(1) - D_i(0)` over the realised always-completers).

    References
    ----------
    Bhargava and Manoli (2015); Finkelstein and Notowidigdo (2019); Athey and Imbens (2017); Frangakis and
    Rubin (2002).  See the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from ipf_eval.data.simulate import simulate_firms
    >>> sim = simulate_firms(seed=1, n_firms=4000)
    >>> pop = trial_population(sim, country="ES", instrument="loan_guarantee")
    >>> arms = np.where(np.random.default_rng(2).random(len(pop)) < 0.5, "simplified_form", "control")
    >>> trial = simulate_delivery_trial(pop, pop[["firm_id"]].assign(arm=arms), seed=3)
    >>> round(trial.effect("started"), 2)
    0.04
    """
    fn = "simulate_delivery_trial"
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise SpecificationError(f"{fn}: seed must be a non-negative integer; got {seed!r}.")
    if not isinstance(effects, DeliveryTrialEffects):
        raise SpecificationError(f"{fn}: effects must be a DeliveryTrialEffects; got "
                                 f"{type(effects).__name__}.")
    _check_frames(population, assignment, arm_col=arm_col, treatment=treatment, control=control,
                  idname=idname)
    pop = population.sort_values(idname, kind="mergesort", ignore_index=True)
    size = pop["size_class"].map({s: k for k, s in enumerate(SIZE_CLASSES)}).to_numpy(dtype=np.int64)
    lemp_c = pop["log_employment_base"].to_numpy(dtype=np.float64)
    lemp_c = lemp_c - lemp_c.mean()
    before = pop["applied_before"].to_numpy(dtype=np.float64)
    sector = pop["sector"].map(_SECTOR).fillna(0.0).to_numpy(dtype=np.float64)
    regions = sorted(pop["region"].astype(str).unique().tolist())
    spread = np.linspace(-_REGION_SPREAD, _REGION_SPREAD, len(regions)) if len(regions) > 1 else [0.0]
    region = pop["region"].astype(str).map(dict(zip(regions, spread, strict=True))).to_numpy(dtype=np.float64)
    shares = np.bincount(size, minlength=len(SIZE_CLASSES)) / size.size
    omega = np.asarray(effects.size_multipliers) / float(shares @ np.asarray(effects.size_multipliers))

    def by_size(table: dict[str, float]) -> FloatArray:
        return np.array([table[s] for s in SIZE_CLASSES])[size]

    start_index = by_size(_START_SIZE) + sector + region + _START_LEMP * lemp_c + _START_BEFORE * before
    p0, p1 = _calibrate(start_index, size, effects.start_rate, effects.start_effect,
                        effects.start_effect * omega, "start")
    complete_index = (by_size(_COMPLETE_SIZE) + 0.5 * (sector + region) + _COMPLETE_LEMP * lemp_c
                      + _COMPLETE_BEFORE * before)
    q0, q1 = _calibrate(complete_index, size, effects.completion_rate, effects.completion_effect,
                        effects.completion_effect * omega, "completion")
    rel = by_size(_DAYS_SIZE)
    m0 = effects.days_mean * rel / rel.mean()
    delta = (effects.days_effect * omega)[size]
    if np.any(m0 + delta <= 0):
        raise SpecificationError(f"{fn}: effects.days_effect={effects.days_effect!r} times the size "
                                 "multipliers makes expected days non-positive for a size class; lower it.")
    m1 = m0 + delta

    rng = np.random.default_rng(int(seed))
    u, v = rng.random(size.size), rng.random(size.size)
    g = rng.gamma(effects.days_shape, 1.0 / effects.days_shape, size.size)

    arm_of = assignment.set_index(idname)[arm_col]
    rows = np.flatnonzero(pop[idname].isin(arm_of.index).to_numpy())
    sub = pop.iloc[rows].reset_index(drop=True)
    arm = arm_of.reindex(sub[idname]).to_numpy()
    z = arm == treatment
    size = size[rows]
    p0, p1, q0, q1, m0, m1, u, v, g = (np.asarray(x[rows], dtype=np.float64)
                                       for x in (p0, p1, q0, q1, m0, m1, u, v, g))
    s0, s1 = (u < p0).astype(np.float64), (u < p1).astype(np.float64)
    c0, c1 = s0 * (v < q0), s1 * (v < q1)
    completed = np.where(z, c1, c0).astype(np.int64)
    outcomes = pd.DataFrame({
        idname: sub[idname].to_numpy(), arm_col: arm, "started": np.where(z, s1, s0).astype(np.int64),
        "completed": completed, "applied": completed.copy(),
        "days_to_decision": np.where(completed == 1, np.where(z, m1, m0) * g, np.nan),
    })
    for col in BASELINE_COLUMNS[1:]:
        outcomes[col] = sub[col].to_numpy()
    potential = pd.DataFrame({
        idname: sub[idname].to_numpy(), "p_started_control": p0, "p_started_treated": p1,
        "p_completed_control": p0 * q0, "p_completed_treated": p1 * q1,
        "days_control": m0, "days_treated": m1,
    })
    truth = _truth(size, {
        "started": (p0, p1, None, s0, s1, None),
        "completed": (p0 * q0, p1 * q1, None, c0, c1, None),
        "days_to_decision": (m0, m1, np.minimum(p0, p1) * np.minimum(q0, q1), m0 * g, m1 * g, c0 * c1 == 1),
    })
    return DeliveryTrial(outcomes=outcomes, truth=truth, potential=potential, effects=effects, seed=int(seed),
                         idname=idname, arm_col=arm_col, treatment=treatment, control=control)


def _truth(size: IntArray, parts: dict[str, _Parts]) -> pd.DataFrame:
    """Truth table: per outcome, over all assigned firms and per size class (see the Notes)."""
    records = []
    groups = [("all", np.ones(size.size, dtype=bool))] + [
        (label, size == k) for k, label in enumerate(SIZE_CLASSES) if np.any(size == k)]
    for outcome, (e0, e1, weight, y0, y1, keep) in parts.items():
        w = np.ones(size.size) if weight is None else weight
        for label, m in groups:
            total = float(w[m].sum())
            mc, mt = (float(w[m] @ e[m]) / total if total > 0 else math.nan for e in (e0, e1))
            rk = m if keep is None else m & keep
            records.append({
                "outcome": outcome, "size_class": label, "estimand": _ESTIMANDS[outcome], "effect": mt - mc,
                "effect_realised": float((y1 - y0)[rk].mean()) if rk.any() else math.nan,
                "mean_control": mc, "mean_treated": mt, "n_firms": int(m.sum()), "expected_n": total,
            })
    return pd.DataFrame.from_records(records)
