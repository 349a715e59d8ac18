"""Layer 5: parameter files, the batch plan and runner, rendering and the ``ipf-eval`` command line."""

from ipf_eval.pipeline.params import (
    BatchParams,
    CostOverride,
    CountryParams,
    InstrumentParams,
    check_notebook_parameters,
    load_batch_file,
    load_country_file,
    load_instrument_file,
)
from ipf_eval.pipeline.plan import Plan, Run, build_plan
from ipf_eval.pipeline.records import (
    EVIDENCE_COLUMNS,
    default_estimand,
    default_headline,
    evidence_frame,
    read_evidence,
    write_evidence,
)
from ipf_eval.pipeline.render import notebook_to_html
from ipf_eval.pipeline.runner import BatchReport, RunOutcome, run_batch

__all__ = [
    "EVIDENCE_COLUMNS",
    "BatchParams",
    "BatchReport",
    "CostOverride",
    "CountryParams",
    "InstrumentParams",
    "Plan",
    "Run",
    "RunOutcome",
    "build_plan",
    "check_notebook_parameters",
    "default_estimand",
    "default_headline",
    "evidence_frame",
    "load_batch_file",
    "load_country_file",
    "load_instrument_file",
    "notebook_to_html",
    "read_evidence",
    "run_batch",
    "write_evidence",
]
