"""The sections of ``instrument_evaluation.ipynb`` (one country x one instrument), in order."""

from __future__ import annotations

from collections.abc import Callable

from .cells import SETUP, Cells, code, md, params


# ---------------------------------------------------------------------------------------------------------
# instrument_evaluation.ipynb
# ---------------------------------------------------------------------------------------------------------
def inst_title() -> Cells:
    return [md("""
# Instrument evaluation

One country's instrument, evaluated from the firm panel: a disclosure-safe data summary, the main estimates
with the estimator that fits the design, the event study and pre-trend test, robustness, heterogeneity by
size class, additionality and cost-effectiveness, reach and delivery, findings, and a peer-review appendix.
The batch (`ipf-eval render`) runs this notebook once per country and instrument with the parameters below
replaced; opened in JupyterLab it evaluates the default.
""")]


def inst_parameters() -> Cells:
    return [params('''
country = "AT"
country_name = "Austria"
agency = "Austrian Research Promotion Agency"
instrument = "loan_guarantee"
instrument_label = "Loan guarantees"
design = "open_call"
outcomes = ["log_employment", "log_turnover", "alive"]
primary_outcome = "log_employment"
data_source = "simulated"
data_path = ""
data_columns = {}
sim_seed = 2024
sim_n_firms = 30000
disclosure_profile = "statistical_office"
control_group = "not_yet_treated"
est_method = "dr"
base_period = "universal"
covariates = ["log_age_base", "log_employment_base"]
bootstrap = True
n_boot = 199
alpha = 0.05
programme_cost_per_firm = 200000.0
admin_cost_per_firm = 2500.0
seed = 2024
evidence_path = ""  # the batch passes a file; empty: nothing is written
context = ""
''')]


def inst_setup() -> Cells:
    return [code(SETUP + '''
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt
from ipf_eval.did.twfe import twfe
from ipf_eval.disclosure import protect_table
from ipf_eval.errors import EstimationError, IpfEvalError
from ipf_eval.evidence import cost_effectiveness, evidence_grade, input_additionality
from ipf_eval.pipeline import write_evidence



def fit(data, outcome, *, boot):
    """att_gt with the chosen method; if the propensity score separates, fall back to regression adjustment."""
    kw = dict(yname=outcome, tname="year", idname="firm_id", gname="first_support_year",
              covariates=list(covariates) or None, control_group=control_group, base_period=base_period,
              bootstrap=boot, n_boot=n_boot, seed=seed, alpha=alpha)
    try:
        return att_gt(data, est_method=est_method, **kw), est_method
    except EstimationError as exc:
        if est_method == "reg":
            raise
        display(Markdown(f"> {html.escape(outcome)}: {est_method} is not estimable "
                         f"({html.escape(_publishable(str(exc)))}); "
                         f"using regression adjustment (reg) instead."))
        return att_gt(data, est_method="reg", **kw), "reg"


display(Markdown(f"## {html.escape(country_name)} ({html.escape(country)}): {html.escape(instrument_label)}\\n\\n"
                 f"Agency: {html.escape(agency)}. Assignment design: **{html.escape(design)}**. "
                 f"Disclosure profile: `{html.escape(disclosure_profile)}`.\\n\\n{html.escape(context)}"))
''')]


def inst_data() -> Cells:
    return [md("## Data\nThe evaluation sample: the applicants and, for open calls, eligible firms that never applied."),
            code('''
from ipf_eval.data.contract import validate_panel

applications = None
if data_source == "simulated":
    from ipf_eval.data.simulate import simulate_firms

    sim = simulate_firms(seed=sim_seed, n_firms=sim_n_firms)
    panel = sim.evaluation_sample(country, instrument)
    applications = sim.applications.loc[(sim.applications["country"] == country)
                                        & (sim.applications["instrument"] == instrument)]
else:
    from ipf_eval.data.readers import read_panel

    panel = read_panel(data_path, columns=data_columns or None)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    checked = validate_panel(panel, idname="firm_id", tname="year", gname="first_support_year",
                             ynames=list(outcomes), covariates=list(covariates),
                             extra_columns=[c for c in ("size_class", "sector", "region") if c in panel.columns])
notes(caught)
firms = checked.data.groupby("firm_id", sort=True).first().reset_index()
firms["group"] = np.where(firms["first_support_year"] > 0, "supported", "comparison")
n_supported = int((firms["first_support_year"] > 0).sum())
display(Markdown(f"{checked.n_units:,} firms observed in {len(checked.periods)} years "
                 f"({checked.periods[0]}-{checked.periods[-1]}); {len(checked.cohorts)} support cohorts."))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    summary_table = protect_table(firms, by=["size_class", "group"], profile=disclosure_profile,
                                  name="firms by size class")
notes(caught)
table(summary_table.table, f"evaluation sample of {instrument_label}, {country_name}; firms counted once; "
      f"cells below the {disclosure_profile} threshold suppressed ({summary_table.n_suppressed} cells)")
''')]


def inst_main() -> Cells:
    return [md("""
## Main estimates
Staggered difference-in-differences (Callaway and Sant'Anna, 2021): group-time effects ATT(g, t) against
firms not yet supported, doubly robust on the baseline covariates, aggregated to one effect per outcome.
For lotteries and scored calls the sample holds applicants only, so losers and firms below the threshold
form the comparison group; the design-specific estimators (RCT, RDD) follow and, where they run, give each
outcome's headline estimate: the one the evidence grade belongs to, used by the country report and the
synthesis.
"""), code('''
results, rows = {}, []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for outcome in outcomes:
        try:
            res, method = fit(checked, outcome, boot=bootstrap)
        except IpfEvalError as exc:
            display(Markdown(f"> {html.escape(outcome)}: no estimate ({html.escape(_publishable(str(exc)))})"))
            continue
        results[outcome] = res
        simple = aggregate(res, kind="simple").to_frame().iloc[0]
        # headline until the design's own estimator (RCT, RDD) gives this outcome an estimate
        rows.append({"outcome": outcome, "estimator": f"att_gt_{method}", "term": "att",
                     "estimand": "ATT of supported firms, averaged over post-support years", "headline": True,
                     "n_obs": res.specification.n_obs,
                     **{k: simple[k] for k in ("estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high")}})
notes(caught)
estimates = pd.DataFrame(rows, columns=["outcome", "estimator", "term", "estimand", "headline", "n_obs", "estimate",
                                        "std_error", "statistic", "p_value", "ci_low", "ci_high"])
table(estimates[["outcome", "estimate", "std_error", "ci_low", "ci_high", "p_value"]],
      f"{', '.join(sorted(set(estimates['estimator'])))} ({control_group}, base period {base_period}); "
      f"{100 * (1 - alpha):.0f}% "
      f"{'bootstrap' if bootstrap else 'analytic'} intervals; {country_name}, {instrument_label}")
''')]


def inst_design_estimator() -> Cells:
    return [md("""
## The design's own estimator
Lotteries are analysed as the randomised experiments they are (intention to treat, Lin's covariate
adjustment, effect on users, randomisation-inference p-value); scored calls as a regression discontinuity at
the published threshold. Both use one row per applicant: the change in the outcome from the year before the
call to the year of the call.
"""), code('''
design_rows = []
if design in ("lottery", "scored_call") and "application_year" in checked.data.columns.union(panel.columns):
    apps_panel = panel.loc[panel["application_year"] > 0]
    before = apps_panel.loc[apps_panel["year"] == apps_panel["application_year"] - 1].set_index("firm_id")
    after = apps_panel.loc[apps_panel["year"] == apps_panel["application_year"]].set_index("firm_id")
    common = before.index.intersection(after.index)
    cross = after.loc[common, ["arm", "score", "threshold", "application_year", *covariates]].copy()
    cross["used"] = (after.loc[common, "first_support_year"] > 0).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for outcome in outcomes:
            cross["change"] = after.loc[common, outcome].astype(float) - before.loc[common, outcome].astype(float)
            try:
                if design == "lottery":
                    from ipf_eval.experiments import rct

                    res = rct(cross.reset_index(), yname="change", treatname="arm", takeup="used",
                              covariates=list(covariates) or None, n_permutations=199, seed=seed, alpha=alpha)
                    name = "rct"
                else:
                    from ipf_eval.discontinuity import rdd

                    res = rdd(cross.reset_index(), yname="change", scorename="score", cutoff="threshold",
                              takeup="used", call="application_year", alpha=alpha)
                    name = "rdd"
            except IpfEvalError as exc:
                display(Markdown(f"> {html.escape(outcome)}: {html.escape(_publishable(str(exc)))}"))
                continue
            tidy = res.to_frame()
            # The headline (the estimate the grade belongs to): the lottery's effect on users (ITT without a
            # take-up term); the threshold's robust bias-corrected estimate, as rdd() presents it.
            if name == "rct":
                head = "late" if (tidy["term"] == "late").any() else "itt"
                words = {"itt": "intention to treat: one-year change, winners vs losers of the lottery",
                         "late": "effect on users (winners who took up support): one-year change",
                         "first_stage": "take-up difference between winners and losers"}
            else:
                head = "robust"
                kind = "fuzzy: compliers at the threshold" if res.fuzzy else "sharp"
                words = {t: f"effect at the threshold ({kind}): one-year change ({t}"
                            f"{' bias-corrected' if t == 'robust' else ''})" for t in ("robust", "conventional")}
            for _, r in tidy.iterrows():
                design_rows.append({"outcome": outcome, "estimator": name, "term": r["term"],
                                    "estimand": words.get(r["term"], r["term"]), "headline": r["term"] == head,
                                    "n_obs": len(cross), **{k: r[k] for k in ("estimate", "std_error", "statistic",
                                                                             "p_value", "ci_low", "ci_high")}})
    notes(caught)
    if design_rows:
        design_table = pd.DataFrame(design_rows)
        table(design_table[["outcome", "estimator", "term", "estimate", "std_error", "ci_low", "ci_high", "p_value",
                            "headline"]],
              f"{'ipf_eval.experiments.rct' if design == 'lottery' else 'ipf_eval.discontinuity.rdd'} on "
              f"{len(cross):,} applicants; change from the year before the call to the year of the call; "
              f"headline: the estimate the evidence grade belongs to (it replaces the DiD as the outcome's "
              f"headline in the country report and the synthesis)")
        own_outcomes = set(design_table.loc[design_table["headline"], "outcome"])
        estimates.loc[estimates["outcome"].isin(own_outcomes), "headline"] = False
        estimates = pd.concat([estimates, design_table], ignore_index=True)
else:
    display(Markdown("An open call has no random or score-based assignment: the staggered DiD above is the "
                     "design's estimator."))
''')]


def inst_event_study() -> Cells:
    return [md("## Event study and pre-trends\nEffects by years since first support; negative years test for "
               "differences before support."), code('''
pretrend_p = None
if primary_outcome in results:
    res = results[primary_outcome]
    dynamic = aggregate(res, kind="dynamic", min_e=-5, max_e=5)
    dynamic.plot(ax=plt.subplots()[1])
    plt.title(f"{primary_outcome}: effect by years since support")
    caption(f"Event study of {primary_outcome} for {instrument_label} in {country_name}; "
            f"{100 * (1 - alpha):.0f}% intervals; source: att_gt, aggregated by event time.")
    # Pre-trend check used for the grade: Bonferroni over the pre-support event-time effects. Each averages
    # the cohorts' ATT(g, t), so it stays well sized with small cohorts, where the joint chi-square Wald test
    # of every pre-period ATT(g, t) (an estimated covariance of many cells) rejects too often.
    dyn = dynamic.to_frame()
    pre = dyn.loc[(dyn["ci_kind"] == "pointwise") & (dyn["event_time"].fillna(0) < 0) & dyn["p_value"].notna()]
    if len(pre):
        pretrend_p = float(min(1.0, len(pre) * pre["p_value"].min()))
        verdict = "passes" if pretrend_p >= 0.05 else "fails"
        wald = (f" The joint Wald test of all {res.pretest.df} pre-period ATT(g, t) gives p = "
                f"{res.pretest.p_value:.3f} (over-sized with small cohorts; shown for comparison)."
                if res.pretest is not None else "")
        display(Markdown(f"Pre-trend test (Bonferroni over {len(pre)} pre-support event times): "
                         f"p = {pretrend_p:.3f}; the parallel-trends check **{verdict}** at the 5% level.{wald}"))
''')]


def inst_grade() -> Cells:
    return [md("## Design and evidence grade\nThe Maryland Scientific Methods Scale level of the design, "
               "downgraded for failed diagnostics."), code('''
# The grade belongs to the design whose estimator produced the headline: the lottery's RCT analysis or the
# threshold's RDD when they ran, otherwise the staggered DiD (whose pre-trend test is then a diagnostic).
grade_design_used = {"lottery": "lottery", "scored_call": "rdd"}.get(design, "did") if design_rows else "did"
diagnostics = {}
if grade_design_used == "did" and pretrend_p is not None:
    diagnostics["pretrend_pvalue"] = pretrend_p
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    grade = evidence_grade(design=grade_design_used, diagnostics=diagnostics)
    # the staggered DiD rows keep the DiD's own grade (with its pre-trend diagnostic) in the evidence record
    did_grade = grade if grade_design_used == "did" else evidence_grade(
        design="did", diagnostics={} if pretrend_p is None else {"pretrend_pvalue": pretrend_p})
notes(caught)
display(HTML(grade.summary().as_html()))
display(Markdown("<small>Source: ipf_eval.evidence.evidence_grade on the diagnostics above</small>"))
''')]


def inst_robustness() -> Cells:
    return [md("## Robustness\nThe two-way fixed-effects regression next to Callaway and Sant'Anna; TWFE "
               "can be biased when effects vary over time and cohorts adopt at different times."), code('''
robust = []
if primary_outcome in results:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tw = twfe(checked, yname=primary_outcome, tname="year", idname="firm_id", gname="first_support_year",
                      cluster="firm_id", alpha=alpha)
            row = tw.to_frame().iloc[0]
            robust.append({"estimator": "TWFE", **{k: row[k] for k in ("estimate", "std_error", "ci_low", "ci_high")}})
        except IpfEvalError as exc:
            display(Markdown(f"> TWFE: no estimate ({html.escape(_publishable(str(exc)))})"))
    notes(caught)
    main_row = estimates.loc[(estimates["outcome"] == primary_outcome)
                             & estimates["estimator"].str.startswith("att_gt")].iloc[0]
    robust.append({"estimator": "Callaway-Sant'Anna", **{k: main_row[k] for k in ("estimate", "std_error", "ci_low", "ci_high")}})
    table(pd.DataFrame(robust), f"{primary_outcome}; TWFE with firm and year effects, clustered by firm")
    if len(robust) == 2:
        gap = abs(robust[0]["estimate"] - robust[1]["estimate"])
        if gap > 2 * np.hypot(robust[0]["std_error"], robust[1]["std_error"]):
            display(Markdown(f"TWFE and Callaway-Sant'Anna differ by {gap:.3f}, more than twice the standard "
                             "error of the difference. The Goodman-Bacon decomposition shows which 2x2 "
                             "comparisons drive TWFE (firms observed in every year)."))
            from ipf_eval.did.bacon import bacon_decomposition

            years = checked.data.groupby("firm_id")["year"].transform("size")
            balanced = checked.data.loc[years == len(checked.periods)]
            try:
                bacon = bacon_decomposition(balanced, yname=primary_outcome, tname="year", idname="firm_id",
                                            gname="first_support_year")
                table(bacon.by_type, f"Goodman-Bacon decomposition of TWFE on {primary_outcome}, balanced "
                      f"panel of {bacon.n_units} firms; TWFE estimate {bacon.twfe_estimate:.3f}")
            except IpfEvalError as exc:
                display(Markdown(f"> Bacon decomposition not available: {html.escape(_publishable(str(exc)))}"))
        else:
            display(Markdown("TWFE and Callaway-Sant'Anna agree within twice the standard error of the difference."))
'''), md("""
### Matched difference-in-differences by support cohort
The same estimand as Callaway and Sant'Anna's effect in the year of support, ATT(g, g): for each support
cohort g, the change in the outcome from the year before support (g - 1) to the year of support (g), supported
firms of cohort g against comparison firms of the same comparison group (never supported, plus firms supported
only after g when the comparison group is not-yet-supported firms). Instead of the doubly robust adjustment,
each supported firm is compared with its nearest neighbour on the propensity score of the baseline covariates
(Heckman, Ichimura and Todd 1997). Cohorts too small for the disclosure profile are not shown.
"""), code('''
from scipy import stats

from ipf_eval.disclosure import get_profile
from ipf_eval.errors import DataWarning
from ipf_eval.weighting import conditional_did

min_firms = get_profile(disclosure_profile).min_firms
if primary_outcome in results and not list(covariates):
    display(Markdown("> Matched DiD: no baseline covariates to match on (parameter `covariates` is empty)."))
elif primary_outcome in results:
    res = results[primary_outcome]
    cs_name = f"Callaway-Sant'Anna ({main_row['estimator'].removeprefix('att_gt_')})"
    cells = res.to_frame()
    cells = cells.loc[(cells["ci_kind"] == "pointwise") & (cells["group"] == cells["time"])
                      & cells["std_error"].gt(0)]
    firm_cohort = checked.data.groupby("firm_id", sort=True)["first_support_year"].first()
    by_cohort, skipped, cohort_rows, partial, caught = [], [], {}, [], []
    with warnings.catch_warnings(record=True) as caught_all:
        warnings.simplefilter("always")
        for cell in cells.itertuples():
            g = int(cell.group)
            if min(cell.n_treated, cell.n_control) < min_firms:
                skipped.append(f"{g} (fewer firms than the {disclosure_profile} threshold of {min_firms})")
                continue
            comparison = (firm_cohort == 0) | ((firm_cohort > g) & (control_group == "not_yet_treated"))
            keep = firm_cohort.index[(firm_cohort == g) | comparison]
            two = checked.data.loc[checked.data["firm_id"].isin(keep) & checked.data["year"].isin([g - 1, g]),
                                   ["firm_id", "year", primary_outcome, *covariates, "first_support_year"]]
            two = two.assign(in_cohort=(two["first_support_year"] == g).astype(int))
            with warnings.catch_warnings(record=True) as caught_g:
                warnings.simplefilter("always")
                try:
                    m = conditional_did(two, yname=primary_outcome, tname="year", idname="firm_id",
                                        treatname="in_cohort", covariates=list(covariates), pre=g - 1, post=g,
                                        method="match", alpha=alpha)
                except IpfEvalError as exc:
                    m = None
                    skipped.append(f"{g} (matching not possible: {type(exc).__name__})")
            # firms missing in g - 1 or g (exits) are left out, as att_gt does; firms without a match inside
            # the caliper are named per cohort below (without their number); other warnings are shown
            if any("caliper" in str(w.message) for w in caught_g):
                partial.append(str(g))
            caught += [w for w in caught_g if not issubclass(w.category, DataWarning)
                       and "caliper" not in str(w.message)]
            if m is None:
                continue
            if min(m.n_treated, m.n_control) < min_firms:
                skipped.append(f"{g} (fewer matched firms than the {disclosure_profile} threshold of {min_firms})")
                continue
            lo, hi = m.ci
            cohort_rows[g] = (m.estimate, m.std_error)
            # a count of unmatched firms below the threshold would be disclosed by differencing the two rows
            unmatched = int(cell.n_treated) - int(m.n_treated)
            matched_count = (f"{m.n_treated:,}" if unmatched == 0 or unmatched >= min_firms else
                             f"{int(cell.n_treated):,} minus fewer than {min_firms}")
            by_cohort += [
                {"cohort": str(g), "estimator": cs_name, "estimate": cell.estimate, "std_error": cell.std_error,
                 "ci_low": cell.ci_low, "ci_high": cell.ci_high, "supported firms": f"{int(cell.n_treated):,}",
                 "comparison firms": f"{int(cell.n_control):,}"},
                {"cohort": str(g), "estimator": "matched DiD (nearest neighbour)", "estimate": m.estimate,
                 "std_error": m.std_error, "ci_low": lo, "ci_high": hi,
                 "supported firms": matched_count, "comparison firms": f"{m.n_control:,} matched"},
            ]
    notes(caught + list(caught_all))
    all_cohorts, e0 = {int(g) for g in cells["group"]}, None
    if by_cohort and set(cohort_rows) == all_cohorts:
        # Combined: the cohort-size weighted average, the weights of Callaway-Sant'Anna's event-time-0 effect
        # (cohort shares among supported firms). The cohorts share comparison firms and no covariance of the
        # matched estimates is available, so the matched row's SE is the bound sum_g w_g SE_g (valid for any
        # correlation between cohorts; conservative). The nearest-neighbour bootstrap is not valid (Abadie and
        # Imbens 2008), so none is used.
        sizes = firm_cohort.loc[firm_cohort.isin(sorted(all_cohorts))].value_counts()
        w = np.array([sizes[g] for g in cohort_rows], dtype=float)
        w /= w.sum()
        est_m = float(w @ np.array([v[0] for v in cohort_rows.values()]))
        se_m = float(w @ np.array([v[1] for v in cohort_rows.values()]))
        z = float(stats.norm.ppf(1 - alpha / 2))
        try:
            e0 = aggregate(res, kind="dynamic", min_e=0, max_e=0).to_frame()
        except IpfEvalError as exc:
            display(Markdown(f"> No combined row: {html.escape(_publishable(str(exc)))}"))
            e0 = None
    if e0 is not None:
        e0 = e0.loc[(e0["event_time"] == 0) & (e0["ci_kind"] == "pointwise")].iloc[0]
        by_cohort += [
            {"cohort": "all (event time 0)", "estimator": cs_name, "estimate": e0["estimate"],
             "std_error": e0["std_error"], "ci_low": e0["ci_low"], "ci_high": e0["ci_high"],
             "supported firms": "", "comparison firms": ""},
            {"cohort": "all (event time 0)", "estimator": "matched DiD, cohort-size weighted (conservative SE)",
             "estimate": est_m, "std_error": se_m, "ci_low": est_m - z * se_m, "ci_high": est_m + z * se_m,
             "supported firms": "", "comparison firms": ""},
        ]
    if by_cohort:
        table(pd.DataFrame(by_cohort),
              f"{primary_outcome}, change from the year before support to the year of support, per support cohort: "
              f"ATT(g, g) of att_gt (its covariate adjustment in brackets; {control_group} comparison firms; "
              f"analytic SE) "
              f"and ipf_eval.weighting.conditional_did(method='match'): one nearest neighbour on the logit "
              f"propensity score of {', '.join(covariates)}, with replacement, caliper 0.2 SD, Abadie-Imbens SE "
              f"(score treated as known), effect on the matched supported firms. 'all (event time 0)': "
              f"Callaway-Sant'Anna's event-time-0 aggregation and the matched estimates averaged with the same "
              f"cohort-size weights; its SE is the sum of weighted cohort SEs, an upper bound because the cohorts "
              f"share comparison firms; {100 * (1 - alpha):.0f}% intervals")
    if partial:
        display(Markdown(f"Cohort(s) {', '.join(partial)}: some supported firms have no comparison firm within "
                         "the caliper; the matched row estimates the effect on the supported firms that were "
                         "matched (its count of supported firms)."))
    if skipped:
        display(Markdown("Cohorts not shown: " + "; ".join(html.escape(x) for x in skipped)
                         + (". No combined row: it would not cover the same cohorts as Callaway-Sant'Anna's "
                            "event-time-0 effect." if by_cohort else ".")))
    elif not by_cohort:
        display(Markdown("No support cohort to compare."))
''')]


def inst_heterogeneity() -> Cells:
    return [md("## Heterogeneity by size class"), code('''
het, extra = [], {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for size in ("micro", "small", "medium"):
        sub = checked.data.loc[checked.data["firm_id"].isin(firms.loc[firms["size_class"] == size, "firm_id"])]
        if (sub.groupby("firm_id")["first_support_year"].first() > 0).sum() < 20:
            het.append({"size_class": size, "note": "fewer than 20 supported firms: not estimated"})
            continue
        try:
            r = aggregate(fit(sub, primary_outcome, boot=False)[0], kind="simple").to_frame().iloc[0]
            het.append({"size_class": size, "estimate": r["estimate"], "std_error": r["std_error"],
                        "ci_low": r["ci_low"], "ci_high": r["ci_high"], "note": ""})
        except IpfEvalError as exc:
            het.append({"size_class": size, "note": f"not estimated: {type(exc).__name__}"})
notes(caught)
table(pd.DataFrame(het), f"{primary_outcome}; att_gt per size class (analytic standard errors)")
# For the forum's transferability matrix: the size-class effects and this country's SME mix by size class
# (shares of all firms in the data, not counts of supported firms).
population = sim.panel.loc[sim.panel["country"] == country] if data_source == "simulated" else panel
mix = population.groupby("firm_id")["size_class"].first().value_counts(normalize=True)
extra["heterogeneity"] = {"outcome": primary_outcome,
                          "by_size_class": [h for h in het if "estimate" in h]}
extra["population_mix"] = {str(k): float(v) for k, v in mix.sort_index().items()}
''')]


def inst_cost() -> Cells:
    return [md("## Additionality and cost-effectiveness\nCost per additional unit of outcome, counting the "
               "subsidy and the agency's administration."), code('''
cost_rows = []
cost_per_firm = programme_cost_per_firm + admin_cost_per_firm
units = {"log_employment": ("job", "log", "employment"), "rd_spending": ("euro_rd", "level", None),
         "exporter": ("exporter", "level", None), "equity_raised": ("euro_equity", "level", None)}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for _, est in estimates.loc[estimates["estimator"].str.startswith("att_gt")].iterrows():
        if est["outcome"] not in units or not est["std_error"] > 0:
            continue
        unit, scale, level = units[est["outcome"]]
        baseline = None
        if scale == "log":
            pre = checked.data.loc[(checked.data["first_support_year"] > 0)
                                   & (checked.data["year"] == checked.data["first_support_year"] - 1)]
            baseline = float(np.exp(pre[est["outcome"]]).mean())
        try:
            ce = cost_effectiveness(effect=float(est["estimate"]), effect_se=float(est["std_error"]),
                                    n_supported=n_supported, programme_cost=cost_per_firm * n_supported,
                                    outcome_unit=unit, effect_scale=scale, baseline_level=baseline, alpha=alpha)
        except IpfEvalError as exc:
            display(Markdown(f"> {html.escape(est['outcome'])}: {html.escape(_publishable(str(exc)))}"))
            continue
        cost_rows.append({"outcome": est["outcome"], "unit": unit, "cost_per_unit": ce.cost_per_unit,
                          "ci_low": ce.ci_low, "ci_high": ce.ci_high, "unbounded": ce.unbounded})
    main_est = estimates.loc[estimates["estimator"].str.startswith("att_gt")]
    if "rd_spending" in set(main_est["outcome"]):
        est = main_est.loc[main_est["outcome"] == "rd_spending"].iloc[0]
        ia = input_additionality(effect=float(est["estimate"]), effect_se=float(est["std_error"]),
                                 subsidy_per_firm=programme_cost_per_firm, alpha=alpha)
        display(HTML(ia.summary().as_html()))
        display(Markdown("<small>Source: ipf_eval.evidence.input_additionality, R&D effect per subsidy euro</small>"))
notes(caught)
if cost_rows:
    table(pd.DataFrame(cost_rows), f"cost of EUR {cost_per_firm:,.0f} per supported firm (subsidy and "
          f"administration); {n_supported} supported firms; effects: the staggered DiD (att_gt) estimates, "
          f"Maryland level {did_grade.level}"
          + ("" if grade_design_used == "did" else
             f" (the headline {grade_design_used} estimate, level {grade.level}, measures a one-year change "
             f"and is not costed)")
          + "; delta-method intervals")
    extra["cost_effectiveness"] = cost_rows
else:
    display(Markdown("No outcome of this instrument has a cost-effectiveness unit, or no effect was estimated."))
''')]


def inst_reach() -> Cells:
    return [md("## Reach and delivery\nApplications, support decisions and decision times as the agency records them."),
            code('''
if applications is not None and len(applications):
    apps = applications.assign(decided=lambda d: (pd.to_datetime(d["decision_date"])
                                                   - pd.to_datetime(d["application_date"])).dt.days)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reach = protect_table(apps, by=["call_year"], profile=disclosure_profile, name="applications by call year")
    notes(caught)
    table(reach.table, f"applications to {instrument_label} in {country_name} by call year (firms counted); "
          f"median decision time {apps['decided'].median():.0f} days; "
          f"{(apps['outcome'] == 'accepted').mean():.0%} of applications accepted")
    extra["delivery"] = {"applications": int(len(apps)), "median_decision_days": float(apps["decided"].median()),
                         "acceptance_rate": float((apps["outcome"] == "accepted").mean())}
else:
    display(Markdown("Delivery data are not part of this data source."))
''')]


def inst_findings() -> Cells:
    return [md("## Findings"), code('''
lines = []
for _, est in estimates.iterrows():
    if not str(est["estimator"]).startswith("att_gt") and est["term"] not in ("itt", "late", "robust"):
        continue
    sig = "statistically significant" if est["p_value"] < alpha else "not statistically significant"
    lines.append(f"- **{html.escape(est['outcome'])}** ({html.escape(str(est['estimator']))}, "
                 f"{html.escape(str(est['term']))}{'; headline' if est['headline'] else ''}): {est['estimate']:+.3f} "
                 f"({100 * (1 - alpha):.0f}% CI {est['ci_low']:+.3f} to {est['ci_high']:+.3f}), {sig}.")
lines.append(f"- Evidence grade: Maryland level **{grade.level}** ({html.escape(grade.oecd_step_label)}); it "
             f"belongs to the headline estimates, which the country report and the synthesis use.")
display(Markdown("\\n".join(lines)))
''')]


def inst_appendix() -> Cells:
    return [md("## Appendix: peer review\nA fixed structure, so one agency can review another's evaluation."),
            code('''
assumptions = {
    "open_call": "Parallel trends: without support, supported firms' outcomes would have evolved like those of "
                 "eligible firms not yet supported, conditional on baseline age and size; no anticipation.",
    "lottery": "Random assignment among applicants; losers' outcomes show what winners' would have been.",
    "scored_call": "Near the published threshold, firms just above and just below are comparable; no "
                   "manipulation of scores.",
}[design]
diag = pd.DataFrame([{"diagnostic": "pre-trend test p-value (DiD event study, Bonferroni)",
                      "value": "" if pretrend_p is None else f"{pretrend_p:.3f}",
                      "verdict": "" if pretrend_p is None else ("pass" if pretrend_p >= 0.05 else "fail")}])
own = {"lottery": "the RCT analysis of the lottery (ipf_eval.rct)",
       "scored_call": "a regression discontinuity at the threshold (ipf_eval.rdd)"}.get(design)
headline = own if (own and design_rows) else f"Callaway-Sant'Anna ({est_method}), comparison: {control_group}"
display(Markdown(f"**Design.** {html.escape(design)}; graded estimator: {headline}; staggered DiD "
                 f"(Callaway-Sant'Anna, {est_method}, {control_group}) alongside."
                 f"\\n\\n**Identifying assumptions.** {assumptions}"))
table(diag, "diagnostics computed above")
reasons = "; ".join(grade.reasons) or "no downgrade"
display(Markdown(f"**Grade.** Maryland level {grade.level} (design level {grade.base_level}); {html.escape(reasons)}."))
''')]


def inst_evidence() -> Cells:
    return [md("## Evidence record\nWritten for the country report, the synthesis and `evidence.csv`."), code('''
if evidence_path:
    estimates["evidence_grade"] = np.where(estimates["estimator"].str.startswith("att_gt"), str(did_grade.level),
                                           str(grade.level))
    write_evidence(evidence_path, country=country, instrument=instrument, design=design, estimates=estimates,
                   evidence_grade=str(grade.level), grade_reason="; ".join(grade.reasons),
                   n_firms=checked.n_units, n_supported=n_supported, disclosure_profile=disclosure_profile,
                   results={"grade": grade.to_dict()}, extra=extra)
    display(Markdown(f"{len(estimates)} estimates recorded for the country report and the synthesis."))
else:
    display(Markdown(f"{len(estimates)} estimates; no evidence file requested (parameter `evidence_path`)."))
''')]


INSTRUMENT_SECTIONS: list[Callable[[], Cells]] = [
    inst_title, inst_parameters, inst_setup, inst_data, inst_main, inst_design_estimator, inst_event_study,
    inst_grade,
    inst_robustness, inst_heterogeneity, inst_cost, inst_reach, inst_findings, inst_appendix, inst_evidence,
]
