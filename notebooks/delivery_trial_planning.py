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
# # Planning a delivery trial
# An agency wants to know whether a simplified application form brings more eligible firms to complete an
# application for its innovation vouchers. Before the next call it randomises the form among the eligible
# firms, and registers how it will analyse the result before any firm applies. This walk-through chooses the
# population, the strata and the sample, checks the smallest effect the trial can detect, draws the
# assignment and registers the pre-analysis plan. The firms are simulated, for demonstration.

# %% tags=["parameters"]
params = "../params/batch.yaml"  # the batch file: the country's simulated register and the seed come from it
country = "DK"  # the agency planning the trial
instrument = "innovation_voucher"  # the call whose eligible firms take part

# %%
from ipf_eval.data.delivery_trial import call_take_up, call_years, trial_population
from ipf_eval.experiments import design_trial
from ipf_eval.pipeline import instrument_run, trial_report
from ipf_eval.pipeline.display import Text, data_banner, setup_notebook, show

report = setup_notebook()
run = instrument_run(params, country=country, instrument=instrument)
show(data_banner(["simulated"], agency=run.country.agency))
sim = trial_report.simulated_register(run)  # the simulated register behind the batch's reports

# %% [markdown]
# ## 1. The population
# Every firm eligible for the next call, with what the agency knows before the call: size class, sector,
# region, employment and whether the firm applied before. Nothing measured after the call is used.

# %%
*earlier, call_year = call_years(sim, country=country, instrument=instrument)  # the trial is in the last
population = trial_population(sim, country=country, instrument=instrument, call_year=call_year)
show(Text(f"{len(population):,} firms are eligible for the {call_year} call."))
show(trial_report.population_table(population, profile=run.country.disclosure_profile))

# %% [markdown]
# ## 2. How small an effect the trial can see
# The previous call's share of eligible firms that applied is the base rate. Half of the firms get the
# simplified form; the minimum detectable effect says whether the trial is worth running at this size.

# %%
base_rate = call_take_up(sim, country=country, instrument=instrument, call_year=earlier[-1])
design = design_trial(
    population, idname="firm_id", strata=["size_class", "region"], arms=("control", "simplified_form"),
    seed=run.seed, yname="completed", secondary=["started", "days_to_decision"],
    covariates=["log_employment_base", "applied_before"], rerandomise=100, max_smd=0.05,
    title="A simplified application form for innovation vouchers")
show(Text(trial_report.mde_sentence(design, base_rate=base_rate,
                                    outcome_label="the share of eligible firms completing an application")))
show(trial_report.power_table(design, base_rate=base_rate, effects=[0.01, 0.02, 0.03, 0.04, 0.05]))

# %% [markdown]
# ## 3. The assignment and its balance
# Within each size class and region half the firms are drawn for the simplified form; the draw is repeated
# until the arms are balanced on employment and earlier applications, and the rule is part of the plan.

# %%
show(trial_report.balance_table(design))

# %% [markdown]
# ## 4. The pre-analysis plan, registered
# The plan fixes the hypotheses, outcomes, estimator, covariates and the minimum detectable effect. Its
# SHA-256 and the assignment's are what the agency registers; the assignment itself links firms to arms and
# stays in the agency's data folder (`trial_report.save_assignment`).

# %%
show(design.plan)
plans = run.settings.root / run.settings.batch.output_dir / "trial_plans"
registered = trial_report.register_plan(design, out_dir=plans, name=f"{country}-simplified_form",
                                        data_source="simulated")
show(Text(f"Registered as `trial_plans/{registered.html.name}` (also `.md` and `.json`). Plan SHA-256 "
          f"`{registered.plan_sha256}`; assignment SHA-256 `{registered.assignment_sha256}`."))

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
