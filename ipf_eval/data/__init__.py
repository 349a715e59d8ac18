"""Layer 1: the panel contract, readers, the synthetic firm panels and bundled examples."""

from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.data.examples import michigan_training_grants
from ipf_eval.data.readers import SUPPORTED_FORMATS, read_panel
from ipf_eval.data.simulate import (
    COUNTRY_PROFILES,
    DEFAULT_COUNTRIES,
    DEFAULT_INSTRUMENTS,
    EffectSpec,
    GroundTruth,
    InstrumentSpec,
    SimulatedFirms,
    SimulationConfig,
    simulate_firms,
)

__all__ = [
    "COUNTRY_PROFILES",
    "DEFAULT_COUNTRIES",
    "DEFAULT_INSTRUMENTS",
    "SUPPORTED_FORMATS",
    "EffectSpec",
    "GroundTruth",
    "InstrumentSpec",
    "SimulatedFirms",
    "SimulationConfig",
    "ValidatedPanel",
    "michigan_training_grants",
    "read_panel",
    "simulate_firms",
    "validate_panel",
]
