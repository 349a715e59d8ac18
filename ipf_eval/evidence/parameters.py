"""The instrument parameters: design, outcomes, estimator choices and costs (``params/instruments/*.yaml``).

One pydantic model per block, validated strictly (unknown keys are errors) before anything is estimated.
:func:`ipf_eval.evidence.evaluate_instrument` takes an :class:`InstrumentParams` or the path of an instrument
file; the batch (:mod:`ipf_eval.pipeline`) reads the same files through :func:`load_instrument_file`, so an
evaluation run interactively and one run by the batch use the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from ipf_eval._defaults import CONTROL_GROUP, N_BOOT, keyword_options
from ipf_eval._params_io import ParamsModel, check_file_name, load_yaml, validate_model
from ipf_eval.errors import ParameterError
from ipf_eval.evidence.outcomes import OUTCOMES, CustomOutcome

__all__ = [
    "OUTCOMES",
    "CostOverride",
    "CustomOutcome",
    "DeliveryTrialParams",
    "EstimatorParams",
    "InstrumentCosts",
    "InstrumentParams",
    "ProgrammeCosts",
    "SimulatedTrialEffects",
    "as_instrument",
    "load_instrument_file",
    "programme_costs",
]

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
#: An outcome name: a standard outcome (:data:`OUTCOMES`) or one of ``custom_outcomes``.
Outcome = Name
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Design = Literal["open_call", "scored_call", "lottery", "delivery_trial"]


class EstimatorParams(ParamsModel):
    """Estimator choices passed to the staggered difference-in-differences estimator."""

    control_group: Literal["never_treated", "not_yet_treated"] = CONTROL_GROUP
    est_method: Literal["dr", "ipw", "reg"] = "dr"
    base_period: Literal["universal", "varying"] = "universal"
    covariates: list[ColumnName] = Field(default_factory=list)
    bootstrap: bool = True
    n_boot: int = Field(default=N_BOOT, ge=99, le=9999)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)


class InstrumentCosts(ParamsModel):
    """Programme costs in euro: the subsidy per supported firm and the agency's administrative cost.

    Both are finite numbers: YAML's ``.inf`` and ``.nan`` are refused (a cost-effectiveness ratio of an
    infinite or missing cost is not a number anyone can use).
    """

    programme_cost_per_firm: float = Field(gt=0, allow_inf_nan=False)
    admin_cost_per_firm: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class CostOverride(ParamsModel):
    """A country's own programme costs for one instrument; a key left out keeps the instrument's value.

    As in :class:`InstrumentCosts`, a cost given is a finite number.
    """

    programme_cost_per_firm: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    admin_cost_per_firm: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _not_empty(self) -> CostOverride:
        if self.programme_cost_per_firm is None and self.admin_cost_per_firm is None:
            raise ValueError("the override sets no cost; give programme_cost_per_firm and/or "
                             "admin_cost_per_firm, or remove the instrument from 'costs'")
        return self


class SimulatedTrialEffects(ParamsModel):
    """The true effects the simulator gives a delivery trial; a key left out keeps the simulator's default.

    The fields of :class:`ipf_eval.data.delivery_trial.DeliveryTrialEffects`, for simulated data only.
    """

    start_rate: float | None = Field(default=None, gt=0.0, lt=1.0)
    start_effect: float | None = Field(default=None, gt=-1.0, lt=1.0)
    completion_rate: float | None = Field(default=None, gt=0.0, lt=1.0)
    completion_effect: float | None = Field(default=None, gt=-1.0, lt=1.0)
    days_mean: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    days_effect: float | None = Field(default=None, allow_inf_nan=False)
    days_shape: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)


class DeliveryTrialParams(ParamsModel):
    """A randomised trial of a new way of delivering a call (``design: delivery_trial``).

    The firms eligible for one call of ``population`` (another instrument the country runs) are randomised
    within ``strata`` between the current delivery (``control``) and ``treatment``; the plan
    (:func:`ipf_eval.experiments.design_trial`) is drawn from ``seed`` of the batch and registered before
    the outcomes; the analysis (:func:`ipf_eval.experiments.analyse_trial`) follows it.
    ``simulated_effects`` are the true effects the embedded simulator gives the new delivery (fields of
    :class:`ipf_eval.data.delivery_trial.DeliveryTrialEffects`); they are ignored for an agency's own data.
    """

    population: Name
    treatment: Name = "simplified_form"
    treatment_label: Annotated[str, StringConstraints(min_length=1, max_length=200)] = (
        "the simplified application form")
    call_year: int | None = Field(default=None, ge=1900, le=2100)
    strata: list[ColumnName] = Field(default_factory=lambda: ["size_class", "region"])
    covariates: list[ColumnName] = Field(default_factory=lambda: ["log_employment_base", "applied_before"])
    treated_share: float = Field(default=0.5, gt=0.0, lt=1.0)
    rerandomise: int = Field(default=100, ge=0, le=10_000)
    max_smd: float = Field(default=0.05, gt=0.0, le=1.0)
    n_permutations: int = Field(default=999, ge=0, le=99_999)
    simulated_effects: SimulatedTrialEffects = Field(default_factory=SimulatedTrialEffects)


class InstrumentParams(ParamsModel):
    """One instrument: its design, the outcomes evaluated, estimator choices and costs.

    ``outcomes`` are standard outcome names (:data:`OUTCOMES`) or the agency's own, defined under
    ``custom_outcomes`` here or in the country file (:mod:`ipf_eval.evidence.outcomes`); names are
    resolved, with close matches for a misspelt one, when the batch is read and when an instrument is
    evaluated.
    """

    name: Name
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    design: Design
    outcomes: list[Outcome] = Field(min_length=1)
    primary_outcome: Outcome | None = None
    estimator: EstimatorParams = Field(default_factory=EstimatorParams)
    costs: InstrumentCosts
    description: Text = ""
    custom_outcomes: dict[Name, CustomOutcome] = Field(default_factory=dict)
    trial: DeliveryTrialParams | None = None

    @model_validator(mode="after")
    def _trial_with_its_design(self) -> InstrumentParams:
        if self.design == "delivery_trial" and self.trial is None:
            raise ValueError("design 'delivery_trial' needs a 'trial' block (population: the instrument "
                             "whose call's eligible firms take part, treatment, strata, ...)")
        if self.design != "delivery_trial" and self.trial is not None:
            raise ValueError(f"the 'trial' block belongs to design 'delivery_trial', not {self.design!r}; "
                             "remove it or set design: delivery_trial")
        return self

    @model_validator(mode="after")
    def _primary_in_outcomes(self) -> InstrumentParams:
        dup = sorted({o for o in self.outcomes if self.outcomes.count(o) > 1})
        if dup:
            raise ValueError(f"outcomes {dup!r} are listed more than once; list each once")
        clash = sorted(set(self.custom_outcomes) & set(OUTCOMES))
        if clash:
            raise ValueError(f"custom_outcomes {clash!r} reuse standard outcome names; give your own outcome "
                             "another name")
        if self.primary_outcome is not None and self.primary_outcome not in self.outcomes:
            raise ValueError(f"primary_outcome {self.primary_outcome!r} is not in outcomes "
                             f"{self.outcomes!r}; add it to outcomes or choose one of them")
        return self

    @property
    def primary(self) -> str:
        """The primary outcome: ``primary_outcome`` or, when it is not given, the first outcome."""
        return self.primary_outcome or self.outcomes[0]


@keyword_options
def load_instrument_file(path: Path | str) -> InstrumentParams:
    """Read and validate an instrument file; its ``name`` must match the file name.

    Parameters
    ----------
    path
        The file, e.g. ``params/instruments/loan_guarantee.yaml``.

    Returns
    -------
    InstrumentParams
        The validated parameters.

    Raises
    ------
    ParameterError
        If the file is invalid or its name differs from the file name.
    """
    path = Path(path)
    params = validate_model(InstrumentParams, load_yaml(path), path)
    check_file_name(params.name, path, "name")
    return params


@keyword_options
def as_instrument(instrument: InstrumentParams | Mapping[str, Any] | str | Path) -> InstrumentParams:
    """Return validated instrument parameters from a model, a mapping of values or an instrument file.

    Raises
    ------
    ParameterError
        If the file or the values are invalid, or ``instrument`` is of another type.
    """
    if isinstance(instrument, InstrumentParams):
        return instrument
    if isinstance(instrument, str | Path):
        return load_instrument_file(instrument)
    if isinstance(instrument, Mapping):
        return validate_model(InstrumentParams, instrument, "<instrument>")
    raise ParameterError(f"instrument must be an InstrumentParams, a mapping of its values or the path of an "
                         f"instrument file (params/instruments/NAME.yaml); got {type(instrument).__name__}")


@dataclass(frozen=True)
class ProgrammeCosts:
    """The costs an evaluation uses: euro per supported firm, subsidy and administration, and their origin."""

    programme_cost_per_firm: float
    admin_cost_per_firm: float
    source: str

    @property
    def per_firm(self) -> float:
        """Subsidy plus administration per supported firm."""
        return self.programme_cost_per_firm + self.admin_cost_per_firm


@keyword_options
def programme_costs(
    instrument: InstrumentParams,
    costs: CostOverride | InstrumentCosts | Mapping[str, float] | None = None,
) -> ProgrammeCosts:
    """Combine an instrument's costs with a country's own (a key the country leaves out keeps its value).

    Parameters
    ----------
    instrument
        The instrument parameters (their ``costs`` are the default).
    costs
        The country's costs: a :class:`CostOverride` (from the ``costs:`` block of a country file), an
        :class:`InstrumentCosts`, a mapping with ``programme_cost_per_firm`` and/or ``admin_cost_per_firm``,
        or ``None`` for the instrument's own.

    Returns
    -------
    ProgrammeCosts
        The euro per supported firm used for cost-effectiveness, with ``source`` saying where they came from.

    Raises
    ------
    ParameterError
        If a mapping has unknown keys or invalid values.
    """
    base = instrument.costs
    if costs is None:
        return ProgrammeCosts(base.programme_cost_per_firm, base.admin_cost_per_firm,
                              f"instrument file ({instrument.name})")
    if isinstance(costs, Mapping):
        costs = validate_model(CostOverride, costs, "<costs>")
    programme = costs.programme_cost_per_firm if costs.programme_cost_per_firm is not None \
        else base.programme_cost_per_firm
    admin = costs.admin_cost_per_firm if costs.admin_cost_per_firm is not None else base.admin_cost_per_firm
    return ProgrammeCosts(float(programme), float(admin), "country's own costs")
