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
# # Delivery trial
# A new way of delivering a call, randomised among the firms eligible for it: the plan registered before the
# call, the balance of the arms, the effects on starting and completing an application, every departure
# from the plan, and decision times. The batch (`ipf-eval render`) runs this notebook for every instrument of
# design `delivery_trial`; the evaluation is one library call, `InstrumentRun.evaluate_trial`.

# %% tags=["parameters"]
country = "DK"  # a country of the batch file
instrument = "simplified_application"  # an instrument of design delivery_trial that country runs
params = "../params/batch.yaml"  # the batch file; every other setting comes from it and the files it names
evidence_path = ""  # the batch passes a file; empty: nothing is written
created = ""  # the batch passes the evidence time stamp; empty: now

# %%
from ipf_eval.evidence import write_evidence
from ipf_eval.pipeline import instrument_run, trial_report
from ipf_eval.pipeline.display import Text, data_banner, setup_notebook, show
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes

report = setup_notebook()
run = instrument_run(params, country=country, instrument=instrument)
ev = run.evaluate_trial(created=created)
use_outcomes(outcome_displays_of(ev.estimates))  # the trial's outcomes, in words and units
show(data_banner([ev.provenance.data_source], agency=run.country.agency))
show(Text(f"**{run.country.name}, {run.country.agency}.** {run.instrument.description}"))
show(trial_report.trial_summary(ev, label=run.instrument.label))
show(trial_report.trial_grade(ev))

# %% [markdown]
# ## The registered plan
# Written and fingerprinted before the call; the analysis below follows it.

# %%
show(ev.design.plan)

# %% [markdown]
# ## Balance of the arms
# The firms offered the new delivery and the others, on what was known before the call.

# %%
show(trial_report.balance_table(ev.design))

# %% [markdown]
# ## Effects of the new delivery
# Intention to treat: every firm drawn for the new delivery counts, whether or not it applied.

# %%
show(trial_report.trial_effects_table(ev))
show(trial_report.size_class_table(ev))

# %% [markdown]
# ## Departures from the plan

# %%
show(trial_report.deviations_section(ev))

# %% [markdown]
# ## Decision times
# Only completed applications get a decision, so decision times are compared between the firms that
# completed one in each arm.

# %%
show(trial_report.conditional_section(ev))
if evidence_path:
    write_evidence(evidence_path, ev.to_dict())

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
