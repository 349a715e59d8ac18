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
    evidence_frame,
    evidence_table,
    read_evidence,
    write_evidence,
)
from ipf_eval.pipeline.render import notebook_to_html
from ipf_eval.pipeline.runner import BatchReport, RunOutcome, run_batch
from ipf_eval.pipeline.settings import BatchSettings, InstrumentRun, batch_settings, instrument_run

__all__ = [
    "EVIDENCE_COLUMNS",
    "BatchParams",
    "BatchReport",
    "BatchSettings",
    "CostOverride",
    "CountryParams",
    "InstrumentParams",
    "InstrumentRun",
    "Plan",
    "Run",
    "RunOutcome",
    "batch_settings",
    "build_plan",
    "check_notebook_parameters",
    "evidence_frame",
    "evidence_table",
    "instrument_run",
    "load_batch_file",
    "load_country_file",
    "load_instrument_file",
    "notebook_to_html",
    "read_evidence",
    "run_batch",
    "write_evidence",
]
