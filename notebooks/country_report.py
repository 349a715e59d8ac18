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
# # Country report
# Every instrument the agency runs, side by side, from the evidence records the instrument evaluations wrote.

# %% tags=["parameters"]
country = "AT"  # a country of the batch file
params = "../params/batch.yaml"  # the batch file: names, agency, context and instruments come from it
evidence_dir = "evidence"  # the evidence records of the instrument evaluations

# %%
from ipf_eval.evidence import evidence_frame, read_evidence
from ipf_eval.pipeline import batch_settings
from ipf_eval.pipeline import forum_report as section
from ipf_eval.pipeline.display import data_banner, setup_notebook, show
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes

report = setup_notebook()
settings = batch_settings(params)
cp = settings.country(country)
labels = settings.instrument_labels(country)
records = read_evidence(evidence_dir, country=country)
frame = evidence_frame(records)
use_outcomes(outcome_displays_of(frame))  # the agency's own outcomes, in its words and units
show(data_banner(frame["data_source"], agency=cp.agency))
primaries = {name: settings.instruments[name].primary for name in labels}
show(section.country_findings(frame, primaries=primaries, labels=labels, country=country))
show(section.country_overview(records, country=country, country_name=cp.name, agency=cp.agency,
                              context=cp.context, instruments=list(labels), labels=labels))
# One estimate per instrument and outcome: the headline, the estimate the evaluation's grade belongs to
# (a lottery's RCT, a scored call's RDD, otherwise the staggered DiD).
headlines = frame.loc[frame["headline"]].reset_index(drop=True)

# %% [markdown]
# ## Instruments side by side

# %%
show(section.side_by_side(headlines, country_name=cp.name, labels=labels))
# Each instrument's effects in the outcomes' units (percent, percentage points); euro effects: the table.
drawn = section.effects_plot(headlines, country_name=cp.name, labels=labels)
if drawn is not None:
    report.figure(drawn[0], alt=drawn[1], caption=drawn[2])

# %% [markdown]
# ## Recommendations for the agency

# %%
show(section.country_recommendations(headlines, records, labels=labels))

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
