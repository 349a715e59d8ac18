"""Layer 1: the panel contract, readers, the synthetic firm panels and bundled examples."""

from ipf_eval.data.contract import ValidatedPanel, validate_panel
from ipf_eval.data.readers import SUPPORTED_FORMATS, read_panel

__all__ = ["SUPPORTED_FORMATS", "ValidatedPanel", "read_panel", "validate_panel"]
