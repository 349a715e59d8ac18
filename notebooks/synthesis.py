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
# # Forum synthesis
# Which instruments work, where, and how much the effect varies between countries: a random-effects
# meta-analysis per instrument and outcome, forest plots, and ranked recommendations.

# %% tags=["parameters"]
params = "../params/batch.yaml"  # the batch file: its countries are synthesised ("": every country's records)
evidence_dir = "evidence"  # the evidence records of the instrument evaluations
left_out = []  # type: ignore[var-annotated]  # countries, bundles and evaluations left out, with the reasons
primary_outcomes = {}  # instrument: primary outcome ("" params: from the bundles)

# %%

from ipf_eval.evidence import evidence_frame, evidence_table, read_evidence
from ipf_eval.pipeline import batch_settings, delivery_report, explain_report, twin_report
from ipf_eval.pipeline import forum_report as section
from ipf_eval.pipeline.display import data_banner, setup_notebook, show
from ipf_eval.pipeline.formatting import outcome_displays_of, use_outcomes
from ipf_eval.synthesis import explain, forum, twinning

report = setup_notebook()
records = read_evidence(evidence_dir)
if params:  # inside a batch: its countries and its include_stale
    settings = batch_settings(params)
    countries = list(settings.countries)
    include_stale = settings.batch.include_stale  # evidence whose latest run failed: left out by default
    primary_outcomes = {name: inst.primary for name, inst in settings.instruments.items()}
else:  # from evidence bundles alone (ipf-eval synthesise): every country that sent one
    countries, include_stale = sorted({str(r["country"]) for r in records}), False
use_outcomes(outcome_displays_of(evidence_frame(records)))  # the agencies' own outcomes
labels = {str(r["instrument"]): str(r.get("label", "")) for r in records}  # the instruments in words
show(data_banner(evidence_frame(records)["data_source"]))
# Each evaluation's headline estimate per outcome; estimators that estimate different things are not pooled.
selection = forum.select_families(forum.headline_estimates(evidence_frame(records), countries=countries,
                                                          include_stale=include_stale))
recs, ranked = forum.ranked_recommendations(selection.kept)
# What each pooled instrument would likely do in each member's SME mix: the same countries and estimator.
matrix = forum.transferability_matrix(
    evidence_table(records, "heterogeneity"), evidence_table(records, "population_mix"), kept=selection.kept,
    countries=countries, between={(r["instrument"], r["outcome"]): r["tau2"] for _, r in ranked.iterrows()})
show(section.recommendations_section(ranked, transfer=matrix))
show(section.stale_text(records, included=include_stale))
show(section.left_out_text(left_out))

# %% [markdown]
# ## What was pooled

# %%
show(section.selection_text(selection))

# %% [markdown]
# ## Meta-analysis per instrument and outcome

# %%
pooled = forum.pool_headlines(selection.kept)
show(section.pooled_table(pooled))

# %% [markdown]
# ## What explains the differences between countries
# A meta-regression of each pooled instrument's country estimates on what travels in the evidence bundles:
# the country's SME mix, the evidence grade of its estimate and the design of its evaluation, one at a time.

# %%
differences = explain.explain_differences(selection.kept, evidence_table(records, "population_mix"))
show(explain_report.explain_section(differences, labels=labels))

# %% [markdown]
# ## Forest plots

# %%
for inst, outcome in pooled.metas:
    drawn = section.forest(selection.kept, pooled, instrument=inst, outcome=outcome)
    if drawn is not None:
        report.figure(drawn[0], alt=drawn[1], caption=drawn[2])

# %% [markdown]
# ## Transferability
# What each pooled instrument would likely do in each country's SME population, from the same evaluations as
# its recommendation: each country's size-class effects with the pooled estimator (the lottery's, the scored
# call's or the staggered DiD), pooled per size class (random effects) and reweighted to the target
# country's mix of micro, small and medium firms. The likely range adds the variation between countries of
# the pooled estimate. A flag marks targets whose mix puts weight on size classes no source could estimate.

# %%
show(section.transfer_table(matrix))

# %% [markdown]
# ## Twinning
# What one country's evaluation of an instrument would achieve in each other member's SME mix, from that
# evaluation alone (no pooling): its size-class effects reweighted to the target's mix of micro, small and
# medium firms, with the evidence grade it rests on and the share of the target's firms in size classes the
# source could not estimate. One row per instrument and outcome; every pair is on the instrument's page.

# %%
twins = twinning.twin_table(
    evidence_table(records, "heterogeneity"), evidence_table(records, "population_mix"),
    forum.headline_estimates(evidence_frame(records), countries=countries, include_stale=include_stale),
    primary_outcomes=primary_outcomes, sources=countries, targets=countries)
show(twin_report.twin_summary_section(
    twins, labels=labels,
    detail="Every pair, with its interval, is on the instrument's forum page (forum/<instrument>.html)."))

# %% [markdown]
# ## How the agencies deliver, compared like with like
# Take-up among eligible firms, drop-out, days to decision and administrative cost per agency and instrument,
# raw and adjusted for each agency's mix of firms, from the counts its evidence bundle carries.

# %%
benchmark = delivery_report.agency_benchmark(records, countries=countries)
show(delivery_report.delivery_benchmark_section(benchmark, labels=labels,
                                                data_sources=list(evidence_frame(records)["data_source"])))

# %% [markdown]
# ## Ranked recommendations in full
# Every pooled instrument and outcome with its verdict, the grades behind it and agreement between countries
# (the recommendations at the top, in a table).

# %%
show(section.ranked_table(ranked))

# %% [markdown]
# ## Technical appendix
# Notes raised while this page was built, in words a reviewer can act on.

# %%
show(report.appendix())
