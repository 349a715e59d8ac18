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
# # Instrument evaluation
#
# One country's instrument, evaluated from the firm panel: a disclosure-safe data summary, the main estimates
# with the estimator that fits the design, the event study and pre-trend test, robustness, heterogeneity by
# size class, additionality and cost-effectiveness, reach and delivery, findings, and a peer-review appendix.
# The batch (`ipf-eval render`) runs this notebook once per country and instrument with the parameters below
# replaced; opened in JupyterLab it evaluates the default, with every setting read from the same parameter
# files the batch uses. The whole evaluation is one library call, `ipf_eval.evidence.evaluate_instrument`;
# the cells below display its result.

# %% tags=["parameters"]
country = "AT"  # a country of the batch file
instrument = "loan_guarantee"  # an instrument that country runs
params = "../params/batch.yaml"  # the batch file; every other setting comes from it and the files it names
evidence_path = ""  # the batch passes a file; empty: nothing is written
created = ""  # the batch passes the evidence time stamp; empty: now

# %%
from ipf_eval.evidence import write_evidence
from ipf_eval.pipeline import instrument_report as section
from ipf_eval.pipeline import instrument_run
from ipf_eval.pipeline.display import Text, data_banner, setup_notebook, show
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes
from ipf_eval.pipeline.summary import instrument_summary

report = setup_notebook()
run = instrument_run(params, country=country, instrument=instrument)
names = section.ReportNames(run.country.name, run.country.agency, run.instrument.label, run.country.context)
ev = run.evaluate(created=created)
use_outcomes(outcome_displays_of(ev.estimates))  # the agency's own outcomes, in its words and units
show(data_banner([ev.provenance.data_source], agency=run.country.agency))
show(section.header(ev, names))
show(instrument_summary(ev, label=names.instrument_label))
show(section.grade_box(ev))

# %% [markdown]
# ## Data
# The evaluation sample: the applicants and, for open calls, eligible firms that never applied.

# %%
show(section.data_section(ev, names))

# %% [markdown]
# ## Main estimates
# Staggered difference-in-differences (Callaway and Sant'Anna, 2021): group-time effects ATT(g, t) against
# firms not yet supported, doubly robust on the baseline covariates, aggregated to one effect per outcome.
# For lotteries and scored calls the sample holds applicants only, so losers and firms below the threshold
# form the comparison group; the design-specific estimators (RCT, RDD) follow and, where they run, give each
# outcome's headline estimate: the one the evidence grade belongs to, used by the country report and the
# synthesis.

# %%
show(section.estimates_section(ev, names))

# %% [markdown]
# ## The design's own estimator
# Lotteries are analysed as the randomised experiments they are (intention to treat, Lin's covariate
# adjustment, effect on users, randomisation-inference p-value); scored calls as a regression discontinuity at
# the published threshold. Both use one row per applicant: the change in the outcome from the year before the
# call to the year of the call.

# %%
show(section.design_section(ev))
rd = section.rd_figure(ev, names)
if rd is not None:
    report.figure(rd[0], alt=rd[1], caption=rd[2])

# %% [markdown]
# ## Event study and pre-trends
# Effects by years since first support; negative years test for differences before support.

# %%
es = section.event_study_figure(ev, names)
if es is not None:
    report.figure(es[0], alt=es[1], caption=es[2])
show(section.pretrend_text(ev))

# %% [markdown]
# ## The checks behind the evidence grades
# Each headline's Maryland Scientific Methods Scale level rests on the checks its design requires: a level is
# awarded only when every one of them was computed and passed; a check that failed or could not be computed
# costs one level, with its reason.

# %%
show(section.grade_section(ev))

# %% [markdown]
# ## Robustness
# The two-way fixed-effects regression next to Callaway and Sant'Anna; TWFE can be biased when effects vary
# over time and cohorts adopt at different times.

# %%
show(section.robustness_section(ev))

# %% [markdown]
# ### Matched difference-in-differences by support cohort
# The same estimand as Callaway and Sant'Anna's effect in the year of support, ATT(g, g): for each support
# cohort g, the change in the outcome from the year before support (g - 1) to the year of support (g),
# supported firms of cohort g against comparison firms of the same comparison group (never supported, plus
# firms supported only after g when the comparison group is not-yet-supported firms). Instead of the doubly
# robust adjustment, each supported firm is compared with its nearest neighbour on the propensity score of the
# baseline covariates (Heckman, Ichimura and Todd 1997). Cohorts too small for the disclosure profile are not
# shown.

# %%
show(section.matched_section(ev))

# %% [markdown]
# ## Heterogeneity by size class

# %%
show(section.heterogeneity_section(ev))

# %% [markdown]
# ## Additionality and cost-effectiveness
# Cost per additional unit of outcome, counting the subsidy and the agency's administration.

# %%
show(section.cost_section(ev))

# %% [markdown]
# ## Reach and delivery
# Applications, support decisions and decision times as the agency records them.

# %%
show(section.reach_section(ev, names))

# %% [markdown]
# ## Findings

# %%
show(section.findings(ev))

# %% [markdown]
# ## Appendix: peer review
# A fixed structure, so one agency can review another's evaluation.

# %%
show(section.appendix(ev))

# %% [markdown]
# ## Technical appendix
# Every note the evaluation's steps raised (fallbacks, suppressed cells, numerical warnings), in words a
# reviewer can act on.

# %%
show(report.appendix(ev.notes))

# %% [markdown]
# ## Evidence record
# Written for the country report, the synthesis and `evidence.csv`.

# %%
if evidence_path:
    write_evidence(evidence_path, ev)
    show(Text(f"{len(ev.estimates)} estimates recorded for the country report and the synthesis."))
else:
    show(Text(f"{len(ev.estimates)} estimates; no evidence file requested (parameter `evidence_path`)."))
