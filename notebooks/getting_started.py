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
# # Getting started
# A short tour for an evaluator: load the simulated panel of one country's loan guarantees, validate it,
# estimate the effect of the instrument, compare it with the simulator's true effect, and look at the event
# study. The data are simulated firms, for demonstration.

# %% tags=["parameters"]
params = "../params/batch.yaml"  # the batch file: the country's simulated data settings come from it

# %%
from ipf_eval import aggregate, att_gt, validate_panel
from ipf_eval.data.provenance import read_provenance, true_value
from ipf_eval.pipeline import instrument_run
from ipf_eval.pipeline.display import Text, data_banner, setup_notebook, show
from ipf_eval.pipeline.figures import event_study_alt, event_study_figure

report = setup_notebook()
run = instrument_run(params, country="AT", instrument="loan_guarantee")
sample = run.load_data().panel
show(data_banner(["simulated" if read_provenance(sample) is not None else "file"], agency=run.country.agency))
checked = validate_panel(sample, idname="firm_id", tname="year", gname="first_support_year",
                         ynames=["log_employment"], covariates=["log_age_base", "log_employment_base"])
show(Text(f"{checked.n_units:,} firms, cohorts {list(checked.cohorts)}."))

# %% [markdown]
# ## One estimate
# `att_gt` estimates group-time effects; `aggregate` summarises them.

# %%
res = att_gt(checked, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
             covariates=["log_age_base", "log_employment_base"], control_group="not_yet_treated",
             base_period="universal", bootstrap=False)
overall = aggregate(res, kind="simple")
show(overall.summary())
true_att = true_value(sample, "att_gt", "att", "log_employment")  # simulated samples carry the truth
show(Text(f"<small>Source: att_gt on the simulated panel. The simulator's true effect on the supported firms "
          f"is {true_att:.3f}; the estimate is {overall.to_frame()['estimate'].iloc[0]:.3f}.</small>"))

# %%
dynamic = aggregate(res, kind="dynamic", min_e=-4, max_e=4)  # employment is in logs: shown in percent
report.figure(event_study_figure(dynamic, outcome_label="employment", scale="log"),
              alt=event_study_alt(dynamic, outcome_label="employment", scale="log"),
              caption="Loan guarantees, Austria (simulated): effect on employment by years since support, in "
                      "percent. Event study on simulated data; the true effect builds up over four years. "
                      "Source: simulate_firms.")

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
