"""The sections of ``country_report.ipynb``, ``synthesis.ipynb`` and the two case-study notebooks."""

from __future__ import annotations

from .cells import SETUP, Cells, code, md, params


# ---------------------------------------------------------------------------------------------------------
# country_report.ipynb
# ---------------------------------------------------------------------------------------------------------
def country_sections() -> Cells:
    return [
        md("# Country report\nEvery instrument the agency runs, side by side, from the evidence records the "
           "instrument evaluations wrote."),
        params('''
country = "AT"
country_name = "Austria"
agency = "Austrian Research Promotion Agency"
context = ""
disclosure_profile = "statistical_office"
instruments = ["innovation_voucher", "rd_grant", "loan_guarantee", "export_support", "growth_coaching",
               "equity_readiness"]
instrument_labels = {}
evidence_dir = "evidence"
seed = 2024
'''),
        code(SETUP + '''
from ipf_eval.pipeline import evidence_frame, read_evidence

records = read_evidence(evidence_dir, country=country)
display(Markdown(f"## {html.escape(country_name)}: {html.escape(agency)}\\n\\n{html.escape(context)}\\n\\n"
                 f"Evidence available for {len(records)} of {len(instruments)} instruments."))
missing = sorted(set(instruments) - {r["instrument"] for r in records})
if missing:
    display(Markdown("Not evaluated in this run: " + ", ".join(html.escape(instrument_labels.get(m, m)) for m in missing)))
# One estimate per instrument and outcome: the headline, the estimate the evaluation's grade belongs to
# (a lottery's RCT, a scored call's RDD, otherwise the staggered DiD).
frame = evidence_frame(records)
frame = frame.loc[frame["headline"]].reset_index(drop=True)
'''),
        md("## Instruments side by side"),
        code('''
if len(frame):
    side = frame.assign(instrument=frame["instrument"].map(lambda i: instrument_labels.get(i, i)))
    side = side[["instrument", "outcome", "estimator", "term", "estimand", "estimate", "ci_low", "ci_high", "p_value",
                  "evidence_grade"]]
    table(side, f"evidence records of {country_name}'s instrument evaluations: per instrument and outcome the "
          f"headline estimate, the one its evidence grade belongs to (att_gt: staggered DiD, simple aggregation; "
          f"rct: the lottery's analysis; rdd: the regression discontinuity at the threshold, robust "
          f"bias-corrected)")
    if side["estimator"].str.startswith("att_gt").nunique() > 1:
        display(Markdown("The rows estimate different things: a DiD row is the average effect on supported "
                         "firms over the years since support; a lottery's (rct) row is the one-year change "
                         "for users of the support; a scored call's (rdd) row is the one-year change for firms "
                         "at the threshold. Compare instruments with this in mind."))
    side = side.loc[side["outcome"].isin(["log_employment", "log_turnover", "exporter", "export_share", "alive"])]
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(side) + 1.0))
    labels = [f"{r.instrument}: {r.outcome} ({r.estimator})" for r in side.itertuples()]
    ax.errorbar(side["estimate"], range(len(side)), xerr=[side["estimate"] - side["ci_low"],
                side["ci_high"] - side["estimate"]], fmt="o", color="black", capsize=3)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(side)), labels)
    ax.invert_yaxis()
    ax.set_title(f"{country_name}: estimated effects")
    caption(f"Headline estimates of {country_name}'s instruments on outcomes measured in log points or "
            f"shares, with their intervals (euro outcomes are in the table); the estimator is named in each "
            f"label; source: instrument evaluations.")
'''),
        md("## Recommendations for the agency"),
        code('''
lines = []
for rec in records:
    label = instrument_labels.get(rec["instrument"], rec["instrument"])
    heads = frame.loc[frame["instrument"] == rec["instrument"]] if len(frame) else frame
    sig = heads.loc[heads["p_value"].lt(0.05)]
    pos = sig.loc[sig["estimate"] > 0, "outcome"].tolist()
    neg = sig.loc[sig["estimate"] < 0, "outcome"].tolist()
    verdict = ("keep and scale up where demand exists" if pos and not neg else
               "review: some outcomes move the wrong way" if neg else
               "no measurable effect yet: review design or targeting")
    grades = sorted(set(heads["evidence_grade"].astype(str))) or [str(rec.get("evidence_grade"))]
    lines.append(f"- **{html.escape(label)}** (grade {html.escape(' / '.join(grades))}): {verdict}"
                 + (f"; significant gains in {', '.join(pos)}" if pos else "") + ".")
display(Markdown("\\n".join(lines) if lines else "No evidence yet."))
'''),
    ]


# ---------------------------------------------------------------------------------------------------------
# synthesis.ipynb
# ---------------------------------------------------------------------------------------------------------
def synthesis_sections() -> Cells:
    return [
        md("# Forum synthesis\nWhich instruments work, where, and how much the effect varies between "
           "countries: a random-effects meta-analysis per instrument and outcome, forest plots, "
           "and ranked recommendations."),
        params('''
evidence_dir = "evidence"
countries = ["AT", "DK", "ES", "FI", "NO", "PL"]
seed = 2024
'''),
        code(SETUP + '''
from ipf_eval.errors import IpfEvalError
from ipf_eval.pipeline import evidence_frame, read_evidence
from ipf_eval.synthesis import meta_analysis

frame = evidence_frame(read_evidence(evidence_dir))
# Each evaluation's headline estimate per outcome: the one its evidence grade belongs to (a lottery's effect
# on users, a scored call's robust RDD estimate, otherwise the staggered DiD's average ATT).
frame = frame.loc[frame["country"].isin(countries) & frame["std_error"].gt(0) & frame["headline"]].copy()
# Estimators that estimate the same thing form one family: att_gt whatever its covariate adjustment.
frame["family"] = np.where(frame["estimator"].str.startswith("att_gt"), "att_gt",
                           frame["estimator"].astype(str) + " " + frame["term"].astype(str))
frame["grade"] = pd.to_numeric(frame["evidence_grade"], errors="coerce")
# Different estimators are not pooled: per instrument and outcome keep the family most countries report
# (ties: the higher grade), and list the others.
kept, left_out = [], []
for (inst, outcome), grp in frame.groupby(["instrument", "outcome"], sort=True):
    fam = grp.groupby("family").agg(k=("country", "nunique"), top=("grade", "max")).reset_index()
    best = fam.sort_values(["k", "top", "family"], ascending=[False, False, True])["family"].iloc[0]
    kept.append(grp.loc[grp["family"] == best])
    left_out += [f"{inst} / {outcome}: {r.country} ({r.estimator}, {r.term}; the group pools {best})"
                 for r in grp.loc[grp["family"] != best].itertuples()]
frame = pd.concat(kept, ignore_index=True) if kept else frame
display(Markdown(f"{len(frame)} headline estimates from {frame['country'].nunique()} countries, "
                 f"{frame['instrument'].nunique()} instruments."))
if left_out:
    display(Markdown("Not pooled, because the other countries' evaluations of the same instrument and outcome "
                     "report a different estimator (see the country reports): " + "; ".join(
                         html.escape(x) for x in left_out) + "."))
'''),
        md("## Meta-analysis per instrument and outcome"),
        code('''
pooled, metas = [], {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for (inst, outcome), grp in frame.groupby(["instrument", "outcome"], sort=True):
        if grp["country"].nunique() < 3:
            continue
        try:
            meta = meta_analysis(grp.reset_index(drop=True), label="country")
        except IpfEvalError as exc:
            display(Markdown(f"> {html.escape(inst)} / {html.escape(outcome)}: {html.escape(_publishable(str(exc)))}"))
            continue
        metas[(inst, outcome)] = meta
        row = meta.to_frame().iloc[0]
        pooled.append({"instrument": inst, "outcome": outcome,
                       "estimator": ", ".join(sorted(set(grp["estimator"]))) + f" ({grp['term'].iloc[0]})",
                       "estimand": "; ".join(sorted(set(grp["estimand"]))), "countries": grp["country"].nunique(),
                       "estimate": row["estimate"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                       "p_value": row["p_value"]})
notes(caught)
pooled = pd.DataFrame(pooled)
table(pooled, "random-effects meta-analysis (REML) of the countries' headline estimates, one estimator per "
      "instrument and outcome: att_gt = staggered DiD (Callaway-Sant'Anna), the average effect on supported "
      "firms over the years since support; rct late = a lottery's one-year change for users (itt: for winners); "
      "rdd robust = the one-year change at a scored call's threshold, robust bias-corrected. Effects of "
      "different rows are different estimands")
'''),
        md("## Forest plots"),
        code('''
for (inst, outcome), meta in metas.items():
    fig, ax = plt.subplots(figsize=(6.5, 3.0))
    meta.plot(ax=ax)
    est_name = ", ".join(sorted(set(frame.loc[(frame["instrument"] == inst) & (frame["outcome"] == outcome),
                                              "estimator"])))
    ax.set_title(f"{inst}: {outcome} ({est_name})")
    caption(f"Forest plot of {inst} on {outcome}: country headline estimates ({est_name}) and the pooled "
            f"effect; source: evidence records of the instrument evaluations.")
'''),
        md("## Transferability\nWhat an instrument would likely do in each country's SME population: size-class "
           "effects (staggered DiD per size class, whatever the headline design) pooled across the countries "
           "that evaluated it (random effects per size class), reweighted "
           "to the target country's mix of micro, small and medium firms. A flag marks targets whose mix puts "
           "weight on size classes no source could estimate (extrapolation)."),
        code('''
from ipf_eval.synthesis import transferability

records = read_evidence(evidence_dir)
mixes = {}
for rec in records:
    mix = (rec.get("extra") or {}).get("population_mix")
    if rec["country"] in countries and mix:
        mixes.setdefault(rec["country"], mix)
cells = []
for rec in records:
    het = (rec.get("extra") or {}).get("heterogeneity") or {}
    for row in het.get("by_size_class", []):
        if row.get("std_error") and row["std_error"] > 0:
            cells.append({"instrument": rec["instrument"], "outcome": het["outcome"], "country": rec["country"],
                          "size_class": row["size_class"], "estimate": row["estimate"],
                          "std_error": row["std_error"]})
cells = pd.DataFrame(cells)
matrix = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for (inst, outcome), grp in (cells.groupby(["instrument", "outcome"], sort=True) if len(cells) else []):
        pooled_cells = []
        for size, sub in grp.groupby("size_class", sort=True):
            if len(sub) >= 2:
                m = meta_analysis(sub.reset_index(drop=True), label="country").to_dict()
                pooled_cells.append({"size_class": size, "estimate": m["estimate"], "std_error": m["std_error"]})
            else:
                pooled_cells.append({"size_class": size, "estimate": float(sub["estimate"].iloc[0]),
                                     "std_error": float(sub["std_error"].iloc[0])})
        pooled_cells = pd.DataFrame(pooled_cells)
        for target in sorted(mixes):
            mix = pd.DataFrame({"size_class": list(mixes[target]), "share": list(mixes[target].values())})
            try:
                tr = transferability(pooled_cells, target_mix=mix, cells=("size_class",),
                                     on_extrapolation="ignore")
            except IpfEvalError as exc:
                display(Markdown(f"> {html.escape(inst)} in {html.escape(target)}: {html.escape(_publishable(str(exc)))}"))
                continue
            matrix.append({"instrument": inst, "outcome": outcome, "target": target,
                           "cell": f"{tr.estimate:+.3f}" + (" (extrapolated)" if tr.extrapolation else ""),
                           "covered_share": tr.coverage})
notes(caught)
if matrix:
    matrix = pd.DataFrame(matrix)
    wide = matrix.pivot(index=["instrument", "outcome"], columns="target", values="cell").reset_index()
    wide.columns.name = None
    table(wide, "predicted effect in each target country's SME mix, in the outcome's units (log points for "
                "log outcomes); size-class effects pooled "
                "across source countries from the evidence records; (extrapolated): part of the target's mix "
                "falls in size classes without a source estimate, whose effect is then not counted")
else:
    display(Markdown("No size-class estimates in the evidence records yet."))
'''),
        md("## Ranked recommendations\nEstimates pooled per instrument and outcome and ranked, with a verdict "
           "that weighs the pooled effect, the grades of the designs and agreement between countries."),
        code('''
from ipf_eval.synthesis.recommendations import recommendations

# the pooled headline rows, each with the grade of the design that produced it
graded = frame.dropna(subset=["grade"]).astype({"grade": int})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    recs = recommendations(graded[["country", "instrument", "outcome", "estimate", "std_error", "grade"]])
notes(caught)
ranked = recs.to_frame()
used = (graded.groupby(["instrument", "outcome"])["estimator"].agg(lambda e: ", ".join(sorted(set(e))))
        .rename("estimator").reset_index())
ranked = ranked.merge(used, on=["instrument", "outcome"], how="left")
table(ranked[["rank", "instrument", "outcome", "estimator", "verdict", "k", "estimate", "ci_low", "ci_high", "i2"]],
      "recommendations (ipf_eval.synthesis.recommendations) from the pooled headline estimates above (one "
      "estimator per instrument and outcome): random-effects pooling, the Maryland grades of those estimates' "
      "designs, agreement across at least 3 countries")
display(Markdown("\\n".join(f"{r.rank}. {html.escape(r.wording)}" for r in ranked.head(10).itertuples())))
'''),
    ]


# ---------------------------------------------------------------------------------------------------------
# michigan_training_grants.ipynb and getting_started.ipynb
# ---------------------------------------------------------------------------------------------------------
def michigan_sections() -> Cells:
    return [
        md("# Case study: Michigan job-training grants\nHolzer, Block, Cheatham and Knott (1993) studied "
           "grants to Michigan manufacturing firms for worker training (1987-1989). The firm panel ships "
           "with linearmodels; here it is mapped to the panel contract and analysed with the package."),
        params("seed = 2024"),
        code(SETUP + '''
from ipf_eval.datasets import michigan_training_grants

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    mich = michigan_training_grants()
notes(caught)
counts = mich.groupby("first_support_year")["firm_id"].nunique()
display(Markdown(f"{mich['firm_id'].nunique()} firms, {mich['year'].min()}-{mich['year'].max()}: "
                 f"{counts.get(1988, 0)} received a grant in 1988, {counts.get(1989, 0)} in 1989, "
                 f"{counts.get(0, 0)} never."))
'''),
        md("## The published fixed-effects result\nWooldridge (Example 14.1) regresses the log scrap rate on "
           "the grant, its lag and year dummies with firm fixed effects, on the 54 firms that report scrap "
           "rates in all three years."),
        code('''
from linearmodels import PanelOLS

scrap = mich.dropna(subset=["lscrap"])
scrap = scrap.loc[scrap.groupby("firm_id")["year"].transform("size") == 3]
fe = PanelOLS.from_formula("lscrap ~ d88 + d89 + grant + grant_lag + EntityEffects",
                           data=scrap.set_index(["firm_id", "year"])).fit()
published = pd.DataFrame({"term": ["grant", "grant_lag"], "published": [-0.252, -0.422],
                          "published_se": [0.151, 0.210]})
published["estimate"] = [fe.params["grant"], fe.params["grant_lag"]]
published["std_error"] = [fe.std_errors["grant"], fe.std_errors["grant_lag"]]
table(published, f"firm fixed effects (linearmodels PanelOLS), {fe.nobs} observations on "
      f"{scrap['firm_id'].nunique()} firms; published values from Wooldridge, Example 14.1")
'''),
        md("## Modern estimators\nStaggered adoption (1988 and 1989 cohorts) calls for group-time effects: "
           "Callaway and Sant'Anna against never-supported firms, with the 1987 base year."),
        code('''
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cs = att_gt(scrap, yname="lscrap", tname="year", idname="firm_id", gname="first_support_year",
                control_group="never_treated", base_period="universal", bootstrap=True, n_boot=999, seed=seed)
    dyn = aggregate(cs, kind="dynamic")
notes(caught)
frame = dyn.to_frame()
table(frame[["term", "ci_kind", "estimate", "std_error", "ci_low", "ci_high"]],
      "att_gt on the log scrap rate, never-supported comparison firms, multiplier bootstrap (999 draws)")
dyn.plot(ax=plt.subplots()[1])
plt.title("Michigan training grants: log scrap rate by years since the grant")
caption("Event study of the log scrap rate around the training grant; source: Holzer et al. (1993) data "
        "via linearmodels.")
'''),
        md("Both approaches agree in sign: training grants lowered scrap rates, by more in the year after the "
           "grant. The group-time estimator makes the comparison explicit (never-supported firms) and does not "
           "use already-supported firms as controls."),
    ]


def getting_started_sections() -> Cells:
    return [
        md("# Getting started\nA short tour for an evaluator: simulate a small panel, validate it, estimate "
           "the effect of one instrument, and look at the event study."),
        params("seed = 2024\nsim_n_firms = 30000"),
        code(SETUP + '''
from ipf_eval.data.contract import validate_panel
from ipf_eval.data.simulate import simulate_firms
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt

sim = simulate_firms(seed=seed, n_firms=sim_n_firms)
sample = sim.evaluation_sample("AT", "loan_guarantee")
checked = validate_panel(sample, idname="firm_id", tname="year", gname="first_support_year",
                         ynames=["log_employment"], covariates=["log_age_base", "log_employment_base"])
display(Markdown(f"{checked.n_units:,} firms, cohorts {list(checked.cohorts)}."))
'''),
        md("## One estimate\n`att_gt` estimates group-time effects; `aggregate` summarises them."),
        code('''
res = att_gt(checked, yname="log_employment", tname="year", idname="firm_id", gname="first_support_year",
             covariates=["log_age_base", "log_employment_base"], control_group="not_yet_treated",
             base_period="universal", bootstrap=False)
overall = aggregate(res, kind="simple")
display(HTML(overall.summary().as_html()))
truth = sim.truth.aggregate
true_att = truth.loc[(truth["country"] == "AT") & (truth["instrument"] == "loan_guarantee")
                     & (truth["outcome"] == "log_employment") & (truth["kind"] == "simple"), "att"].iloc[0]
display(Markdown(f"<small>Source: att_gt on the simulated panel. The simulator's true effect on the supported "
                 f"firms is {true_att:.3f}; the estimate is {overall.to_frame()['estimate'].iloc[0]:.3f}.</small>"))
'''),
        code('''
aggregate(res, kind="dynamic", min_e=-4, max_e=4).plot(ax=plt.subplots()[1])
plt.title("Loan guarantees, Austria (simulated): employment effect by years since support")
caption("Event study on simulated data; the true effect builds up over four years. Source: simulate_firms.")
'''),
    ]
