"""Bundled example datasets mapped to the panel contract (re-exported from :mod:`ipf_eval.data.examples`)."""

from ipf_eval.data.examples import michigan_training_grants

__all__ = ["michigan_training_grants"]
