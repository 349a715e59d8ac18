"""ipf_eval: evidence on SME support instruments for European public innovation agencies."""

from ipf_eval._version import __version__
from ipf_eval.errors import (
    DataError,
    EstimationError,
    IpfEvalError,
    IpfEvalWarning,
    SpecificationError,
)

__all__ = [
    "DataError",
    "EstimationError",
    "IpfEvalError",
    "IpfEvalWarning",
    "SpecificationError",
    "__version__",
]
