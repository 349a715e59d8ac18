"""Selection on observables: propensity scores, matching, IPW, doubly robust estimators and balance.

Public functions: :func:`match`, :func:`ipw`, :func:`aipw`, :func:`balance`, :func:`overlap` and
:func:`conditional_did` (two-period before-after changes).
"""

from ipf_eval.weighting._result import EffectResult
from ipf_eval.weighting.balance import BalanceResult, OverlapResult, balance, overlap
from ipf_eval.weighting.conditional_did import conditional_did
from ipf_eval.weighting.ipw import aipw, ipw
from ipf_eval.weighting.matching import match
from ipf_eval.weighting.propensity import crump_alpha

__all__ = [
    "BalanceResult",
    "EffectResult",
    "OverlapResult",
    "aipw",
    "balance",
    "conditional_did",
    "crump_alpha",
    "ipw",
    "match",
    "overlap",
]
