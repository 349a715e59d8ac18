# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # One instrument across the forum
# The agencies that run the instrument side by side (effect in units, evidence grade, cost per outcome, reach
# and time to decision), then a peer review of each agency's evaluation by the others.

# %% tags=["parameters"]
params = "../params/batch.yaml"  # the batch file: its countries are compared ("": every country's records)
evidence_dir = "evidence"  # the evidence records of the instrument evaluations
instrument = "innovation_voucher"  # the instrument of this page
left_out = []  # type: ignore[var-annotated]  # countries, bundles and evaluations left out, with the reasons
primary_outcomes = {}  # type: ignore[var-annotated]  # instrument: primary outcome ("" params: from the bundles)

# %%
from ipf_eval.evidence import evidence_frame, read_evidence
from ipf_eval.pipeline import batch_settings, twin_report
from ipf_eval.pipeline import forum_report as section
from ipf_eval.pipeline import peer_review_report as review
from ipf_eval.pipeline.display import data_banner, setup_notebook, show
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes
from ipf_eval.synthesis import peer_review

report = setup_notebook()
records = read_evidence(evidence_dir)
if params:  # inside a batch: its countries, its include_stale and the instrument's primary outcome
    settings = batch_settings(params)
    countries = list(settings.countries)
    include_stale = settings.batch.include_stale  # evidence whose latest run failed: not compared by default
    primary = settings.instruments[instrument].primary if instrument in settings.instruments else None
else:  # from evidence bundles alone: every country that sent one; the primary outcome their files name
    countries, include_stale = sorted({str(r["country"]) for r in records}), False
    primary = primary_outcomes.get(instrument)  # None: the outcome most agencies estimated
use_outcomes(outcome_displays_of(evidence_frame(records)))  # the agencies' own outcomes
evaluated = peer_review.evaluating_countries(records, instrument=instrument, countries=countries)
table = (peer_review.instrument_comparison(records, instrument=instrument, countries=evaluated,
                                           primary=primary)
         if evaluated else peer_review.empty_comparison())  # no agency's evaluation reached the forum
show(data_banner(table["data_source"]))
show(review.summary_section(table, records, instrument=instrument, include_stale=include_stale))
show(section.left_out_text(left_out))

# %% [markdown]
# ## The agencies side by side
# One row per agency: the headline estimate of the instrument's primary outcome (the estimate its evidence
# grade belongs to), the cost per outcome where the effect is distinguishable from zero, and how many firms
# applied and how fast they heard back.

# %%
show(review.comparison_section(table))
if evaluated:  # the cost of every outcome the agencies price (jobs, euro of R&D, ...), not only the primary
    costed = peer_review.costed_headlines(records, instrument=instrument, countries=evaluated)
    show(review.costs_section(costed))
    mine = peer_review.instrument_records(records, instrument=instrument, countries=evaluated)
    show(section.stale_text(mine, included=include_stale))

# %% [markdown]
# ## Peer review
# Each agency's evaluation paired with its peers': what each design can and cannot show, where the
# estimates of the same outcome diverge and which diagnostics may explain it, and the questions for the
# peer-review meeting, from the checks that failed or could not be computed and from the divergences.

# %%
if evaluated:  # what each design can and cannot show, once for the page
    show(review.design_limits_section(records, instrument=instrument, countries=evaluated))
for host in table["country"]:
    show(review.peer_review_section(records, instrument=instrument, host=host, countries=evaluated,
                                    include_stale=include_stale, design_table=False))

# %% [markdown]
# ## Twinning
# What each agency's evaluation of this instrument would achieve in each other member's SME mix, from that
# evaluation alone (no pooling): its size-class effects reweighted to the target's mix of micro, small and
# medium firms, with the evidence grade it rests on.

# %%
if evaluated:
    show(twin_report.instrument_twins_section(records, instrument=instrument, sources=evaluated,
                                              targets=countries, primary=primary, include_stale=include_stale,
                                              label=str(table["label"].iloc[0])))

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
