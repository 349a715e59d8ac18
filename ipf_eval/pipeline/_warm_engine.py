"""The warm-kernel papermill engine, as the entry point ``papermill.engine: ipf_eval_warm`` loads it.

papermill registers the engines named in the ``papermill.engine`` entry-point group when it is imported
(its documented way of adding an engine), so importing this module builds the engine class from
:func:`ipf_eval.pipeline._kernels.make_engine`.
"""

from ipf_eval.pipeline._kernels import make_engine

__all__ = ["WarmEngine"]

WarmEngine = make_engine()
