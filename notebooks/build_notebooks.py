"""Write the project's notebooks (*.ipynb) from the Python source below, so that they are reviewed as code.

Run ``python notebooks/build_notebooks.py`` to rewrite the notebooks without outputs, or
``ipf-eval refresh-notebooks`` to rewrite them and re-execute them with their default parameters (the
committed outputs).  Each notebook is a list of sections; a section is a function returning cells, so a
new section is one function added to the notebook's list (see ``INSTRUMENT_SECTIONS``).

Rules the hygiene test enforces: exactly one cell tagged ``parameters``; kernel ``python3``; no per-firm
rows printed; every figure has a caption and every table a source line.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
Cells = list[nbformat.NotebookNode]


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(src: str, *, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(src: str) -> nbformat.NotebookNode:
    return code(src, tags=("parameters",))


# Shared set-up: deterministic figures, captions and source lines, warnings shown as notes (their text
# would otherwise carry file paths and line numbers into the outputs).
SETUP = '''
import html
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

matplotlib.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "figure.figsize": (7.0, 3.6),
                            "svg.hashsalt": "ipf-eval"})
pd.set_option("display.precision", 3)
warnings.simplefilter("ignore", FutureWarning)
_figure = [0]


def caption(text):
    """Show the current figure with a numbered caption below it."""
    _figure[0] += 1
    plt.show()
    display(Markdown(f"*Figure {_figure[0]}.* {html.escape(text)}"))


def table(frame, source):
    """Show a table with its source line."""
    display(HTML(frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:,.3f}", escape=True)))
    display(Markdown(f"<small>Source: {html.escape(source)}</small>"))


def _publishable(text):
    """Warnings can quote small numbers of firms; withhold those (strictest profile)."""
    from ipf_eval.disclosure import scan_html

    if scan_html(text, profile="research_data_centre").clean:
        return text
    return "a message was withheld by disclosure control because it quotes a small number of firms"


def notes(caught, limit=6):
    """List the distinct warnings raised during a step (without file paths), at most ``limit``."""
    seen = list(dict.fromkeys(_publishable(f"{w.category.__name__}: {w.message}") for w in caught))
    for text in seen[:limit]:
        display(Markdown(f"> Note ({html.escape(text)})"))
    if len(seen) > limit:
        display(Markdown(f"> ... and {len(seen) - limit} similar notes."))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    display(Markdown(f"> Note ({html.escape(_publishable(f'{category.__name__}: {message}'))})"))


warnings.showwarning = _show_warning
'''


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
            by_cohort += [
                {"cohort": str(g), "estimator": cs_name, "estimate": cell.estimate, "std_error": cell.std_error,
                 "ci_low": cell.ci_low, "ci_high": cell.ci_high, "supported firms": f"{int(cell.n_treated):,}",
                 "comparison firms": f"{int(cell.n_control):,}"},
                {"cohort": str(g), "estimator": "matched DiD (nearest neighbour)", "estimate": m.estimate,
                 "std_error": m.std_error, "ci_low": lo, "ci_high": hi,
                 "supported firms": f"{m.n_treated:,}", "comparison firms": f"{m.n_control:,} matched"},
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
          f"administration); {n_supported} supported firms; delta-method intervals")
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


NOTEBOOKS: dict[str, Callable[[], Cells]] = {
    "instrument_evaluation": lambda: [c for section in INSTRUMENT_SECTIONS for c in section()],
    "country_report": country_sections,
    "synthesis": synthesis_sections,
    "michigan_training_grants": michigan_sections,
    "getting_started": getting_started_sections,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name]())
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:40]}-{index:03d}"  # stable ids: a rebuild does not churn every cell
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(names: list[str] | None = None) -> None:
    for name in names or list(NOTEBOOKS):
        nbformat.write(build(name), str(HERE / f"{name}.ipynb"))


if __name__ == "__main__":
    main(sys.argv[1:] or None)
