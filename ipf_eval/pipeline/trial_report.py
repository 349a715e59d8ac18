"""Planning and reporting a trial of a new way of delivering support, in words an agency can register.

:func:`~ipf_eval.experiments.design_trial` draws the assignment and writes the pre-analysis plan; this
module shows them the way every report does: the trial's population by size class (disclosure-protected),
the minimum detectable effect in percentage points of a base rate the agency knows, a power table, the
balance table with its columns in words, and :func:`register_plan`, which writes the plan (Markdown, a
standalone HTML page and JSON with both fingerprints) to the folder an agency registers from.  The
assignment itself links firms to arms: :func:`save_assignment` writes it only to the agency's own data
folder, never to the reports.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval._files import atomic_write_json, atomic_write_text
from ipf_eval.data.simulate import SimulatedFirms
from ipf_eval.disclosure import protect_table
from ipf_eval.errors import ParameterError, SpecificationError
from ipf_eval.evidence.trial_evidence import DeliveryTrialEvidence
from ipf_eval.experiments import TrialDesign, assignment_sha256, power
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text, data_banner
from ipf_eval.pipeline.grade_box import CHECK_LABELS, level_meaning
from ipf_eval.pipeline.params import FileSource
from ipf_eval.pipeline.settings import InstrumentRun
from ipf_eval.pipeline.summary import Section, outcome_sentence, verdict_sentence
from ipf_eval.synthesis.country import country_verdicts

__all__ = ["RegisteredPlan", "balance_table", "conditional_section", "deviations_section", "mde_sentence",
           "population_table", "power_table", "register_plan", "save_assignment", "simulated_register",
           "size_class_table", "trial_effects_table", "trial_grade", "trial_summary"]


@keyword_options
def simulated_register(run: InstrumentRun) -> SimulatedFirms:
    """Return the simulated register behind a batch country (its ``data: source: simulated`` settings).

    Raises
    ------
    ParameterError
        If the country's data are the agency's own file: plan its trial on its own register instead.
    """
    from ipf_eval.data import simulate_firms

    source = run.country.data
    if isinstance(source, FileSource):
        raise ParameterError(f"{run.country.code}: this walk-through plans a trial on the embedded simulated "
                             "register; the country's data are its own file, so load its eligible firms and "
                             "call ipf_eval.experiments.design_trial on them directly")
    return simulate_firms(seed=source.seed, n_firms=source.n_firms)


@keyword_options
def population_table(population: pd.DataFrame, *, by: str = "size_class",
                     profile: str = "statistical_office") -> Table:
    """Return the trial population's firms by ``by`` (a frequency table that passes disclosure control)."""
    protected = protect_table(population, by=by, profile=profile, name="trial_population")
    return Table(protected.table, f"firms eligible for the trial by {by.replace('_', ' ')}; cells with "
                                  "too few firms are withheld (disclosure control)")


def _mde_points(design: TrialDesign, base_rate: float) -> float:
    if not 0.0 < base_rate < 1.0:
        raise SpecificationError(f"base_rate must be a share strictly between 0 and 1 (e.g. 0.1 for 10 %); "
                                 f"got {base_rate!r}")
    if design.plan.outcome_sd is not None:
        raise SpecificationError("the design's MDE is already in units of its baseline outcome; "
                                 "base_rate only converts an MDE in standard deviations")
    return float(design.plan.mde[0]) * math.sqrt(base_rate * (1.0 - base_rate))


@keyword_options
def mde_sentence(design: TrialDesign, *, base_rate: float, outcome_label: str) -> str:
    r"""Say the smallest effect the trial can detect, in percentage points of a 0/1 outcome.

    Parameters
    ----------
    design
        From :func:`~ipf_eval.experiments.design_trial` without ``baseline`` (its MDE is in standard
        deviations).
    base_rate
        The outcome's expected rate in the control arm (e.g. last call's share of eligible firms that
        applied).
    outcome_label
        The outcome in words.

    Returns
    -------
    str
        ``"With 830 firms in the control arm and 832 firms in the simplified form arm, the trial can
        detect a change of 3.2 percentage points or more in ..."``.

    Notes
    -----
    A 0/1 outcome with rate :math:`p` has standard deviation :math:`\sqrt{p(1-p)}`, so the MDE in
    percentage points is the plan's MDE in standard deviations times :math:`100\sqrt{p(1-p)}`; this takes
    the control arm's variance for both arms, which is slightly conservative when the effect is positive
    and :math:`p < 0.5`.
    """
    points = _mde_points(design, base_rate)
    p = design.plan
    arms = [f"{fmt.count(n)} firms in the {a.replace('_', ' ')} arm" for a, n in zip(p.arms, p.n_by_arm,
                                                                                    strict=True)]
    level, chance = fmt.percent(p.alpha, decimals=0), fmt.percent(p.power, decimals=0)
    return (f"With {', '.join(arms[:-1])} and {arms[-1]}, the trial can detect a change of "
            f"{fmt.points(points)} or more in {outcome_label} (base rate {fmt.percent(base_rate)}) with "
            f"{chance} probability, at the {level} level (two-sided). Smaller effects may be real but would "
            "likely be missed.")


@keyword_options
def power_table(design: TrialDesign, *, base_rate: float, effects: Sequence[float]) -> Table:
    """Return the trial's power against each effect in ``effects`` (shares, e.g. 0.02 for 2 points)."""
    p = design.plan
    sd = math.sqrt(base_rate * (1.0 - base_rate))
    _mde_points(design, base_rate)  # checks base_rate and the MDE's unit
    n = float(p.n_by_arm[0] + p.n_by_arm[1])
    share = p.n_by_arm[1] / n
    rows = [{"effect": fmt.points(e),
             "power": fmt.percent(power(effect=float(e), n=n, alpha=p.alpha, treat_share=share,
                                        outcome_sd=sd).power, decimals=0)} for e in effects]
    return Table(pd.DataFrame(rows), "probability that the trial's test rejects no effect, normal "
                                     f"approximation (Bloom 1995), {fmt.count(n)} firms, base rate "
                                     f"{fmt.percent(base_rate)}, no covariate adjustment counted")


@keyword_options
def balance_table(design: TrialDesign) -> Table:
    """Return the design's balance table (means by arm, difference, standardised difference) in words."""
    b = design.balance
    frame = pd.DataFrame({"baseline characteristic": b["variable"].str.replace("_", " "), "arm": b["arm"],
                          "firms": b["n_firms"].map(fmt.count), "mean": b["mean"].map(fmt.number),
                          "difference from control": b["difference"].map(fmt.number),
                          "standardised difference": b["smd"].map(lambda v: fmt.number(v, digits=2))})
    rule = ("re-randomised until every standardised difference was at most "
            f"{design.plan.max_smd:g}" if design.plan.rerandomise else "a single draw")
    return Table(frame, f"the drawn assignment, whole sample ({rule}); arms with fewer than 10 firms are "
                        "withheld")


@dataclass(frozen=True)
class RegisteredPlan:
    """The files :func:`register_plan` wrote and the fingerprints to register."""

    markdown: Path
    html: Path
    json: Path
    plan_sha256: str
    assignment_sha256: str


_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


def _plan_summary(design: TrialDesign) -> Section:
    """Return the registered plan's first screen: what is tested, on whom, how small an effect it can see."""
    p = design.plan
    arms = ", ".join(f"{a.replace('_', ' ')}: {fmt.count(n)} firms" for a, n in zip(p.arms, p.n_by_arm,
                                                                                    strict=True))
    items = (*p.hypotheses, f"Primary outcome: {p.primary_outcome or 'none registered'}; arms: {arms}.",
             f"Minimum detectable effect: {fmt.number(p.mde[0])} {p.mde_units} (power "
             f"{fmt.percent(p.power, decimals=0)}, level {fmt.percent(p.alpha, decimals=0)}).",
             f"Plan SHA-256: {p.sha256}; assignment SHA-256: {p.assignment_sha256}.")
    return Section("summary", "Summary", items, p.title)


@keyword_options
def register_plan(design: TrialDesign, *, out_dir: str | Path, name: str,
                  data_source: str = "file") -> RegisteredPlan:
    """Write the pre-analysis plan to ``out_dir`` as ``NAME.md``, ``NAME.html`` and ``NAME.json``.

    The files hold no firm identifier (the plan never does); each is written atomically, so an interrupted
    run leaves the previous version.  Register the plan's SHA-256 (and the assignment's) with the forum or
    a trial registry before any outcome is observed.  With ``data_source="simulated"`` (a plan drawn on
    simulated firms, for demonstration) the page and the Markdown open with the simulated-data banner; the
    plan's fingerprint is of its JSON and does not change.

    Raises
    ------
    SpecificationError
        If ``name`` is not a plain file name (letters, digits, ``-`` and ``_``), or ``data_source`` is
        neither ``"file"`` nor ``"simulated"``.
    """
    if not isinstance(name, str) or not _SLUG.match(name):
        raise SpecificationError(f"register_plan: name must be a plain file name of letters, digits, '-' "
                                 f"and '_'; got {name!r}")
    if data_source not in ("file", "simulated"):
        raise SpecificationError(f"register_plan: data_source must be 'file' or 'simulated'; got "
                                 f"{data_source!r}")
    out = Path(out_dir)
    plan = design.plan
    title = html.escape(plan.title)
    banner = data_banner([data_source])
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
            "<body style='font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto'>"
            f"{banner.to_html() if banner else ''}{_plan_summary(design).to_html()}{plan.as_html()}"
            "</body></html>\n")
    markdown = (f"> {banner!r}\n\n" if banner else "") + plan.as_markdown()
    paths = RegisteredPlan(markdown=out / f"{name}.md", html=out / f"{name}.html", json=out / f"{name}.json",
                           plan_sha256=plan.sha256, assignment_sha256=plan.assignment_sha256)
    atomic_write_text(paths.markdown, markdown)
    atomic_write_text(paths.html, page)
    atomic_write_json(paths.json, plan.to_dict())
    return paths


@keyword_options
def save_assignment(design: TrialDesign, path: str | Path, *, reports_dir: str | Path | None = None) -> Path:
    """Write the confidential assignment (firm id, arm) as CSV, in the canonical form its SHA-256 is of.

    Parameters
    ----------
    design
        The trial design.
    path
        Where to write it: the agency's own data folder (``data/CC/...``), which git ignores.
    reports_dir
        The batch's output folder: a ``path`` inside it is refused, because reports are published.

    Raises
    ------
    SpecificationError
        If ``path`` lies inside ``reports_dir``.
    """
    target = Path(path)
    if reports_dir is not None and Path(reports_dir).resolve() in target.resolve().parents:
        raise SpecificationError(f"save_assignment: {target} lies inside the reports folder {reports_dir}; "
                                 "the assignment links firms to arms and must stay in the agency's data "
                                 "folder")
    frame = design.assignment[[design.idname, "arm"]].sort_values(design.idname, kind="mergesort")
    text = frame.to_csv(index=False, lineterminator="\n")
    atomic_write_text(target, text)
    if assignment_sha256(design.assignment, idname=design.idname) != design.plan.assignment_sha256:
        raise SpecificationError("save_assignment: the design's assignment no longer matches its registered "
                                 "SHA-256; it was modified after the plan was written")
    return target



# --------------------------------------------------------------------------- the report of a finished trial

def _display(ev: DeliveryTrialEvidence, outcome: str) -> fmt.OutcomeDisplay:
    """How the trial's own outcome is shown: from its evidence rows, not from the kernel's registry."""
    return fmt.outcome_displays_of(ev.estimates).get(outcome) or fmt.outcome_display(outcome)


def _meaning(ev: DeliveryTrialEvidence) -> str:
    """Return what the grade means for a delivery trial (a lottery's words speak of winners and support)."""
    if ev.grade.level == ev.grade.base_level:
        return ("the strongest evidence: firms were drawn at random for the new delivery, so the difference "
                "in their applications is its effect.")
    return level_meaning(ev.grade)


@keyword_options
def trial_summary(ev: DeliveryTrialEvidence, *, label: str) -> Section:
    """Return the summary block of a delivery-trial report (``<section id="summary">``).

    The verdict on the new delivery first (the country report's rules on its randomised estimates), then one
    sentence per outcome in percentage points with its interval, the grade with its meaning, and whether
    the analysis followed the registered plan.
    """
    heads = ev.estimates.loc[ev.estimates["headline"]]
    primary = ev.instrument.primary
    heads = heads.assign(_o=(heads["outcome"] != primary).astype(int)).sort_values("_o", kind="mergesort")
    (verdict,) = country_verdicts(heads, instruments=[ev.instrument.name], labels={ev.instrument.name: label})
    items = [outcome_sentence({str(k): v for k, v in r.items()}) for r in heads.to_dict(orient="records")]
    items.append(f"Evidence: Maryland level {ev.grade.level} of 5, {_meaning(ev)}")
    n = len(ev.deviations())
    items.append("The analysis followed the registered plan." if not n else
                 f"The analysis departs from the registered plan in {n} way(s), listed below: read those "
                 "results as exploratory.")
    return Section("summary", "Summary", tuple(items), verdict_sentence(verdict, label))


@keyword_options
def trial_grade(ev: DeliveryTrialEvidence) -> Text:
    """Return the grade and each check behind it, in words."""
    meaning = _meaning(ev)
    meaning = html.escape(meaning[:1].upper() + meaning[1:])
    lines = [f"**Evidence grade: Maryland level {ev.grade.level} of 5.** {meaning}"]
    lines += [f"- {html.escape(CHECK_LABELS.get(c.name, c.name))}: {c.status}. {html.escape(c.reason)}"
              for c in ev.grade.checks]
    return Text("\n".join(lines))


@keyword_options
def trial_effects_table(ev: DeliveryTrialEvidence) -> Table:
    """Return the randomised effects in percentage points, with both p-values (and the truth if simulated)."""
    rows = []
    for r in ev.estimates.to_dict(orient="records"):
        shown = _display(ev, str(r["outcome"]))
        effect = fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                     scale=shown.scale, unit=shown.unit)
        ri = ev.analyses[str(r["outcome"])].p_values_ri.get(ev.trial.treatment)
        row = {"outcome": shown.label, "effect of the new delivery": effect.text,
               "p_value": float(r["p_value"]),
               "randomisation_p_value": math.nan if ri is None else float(ri),
               "firms": fmt.count(int(r["n_obs"]))}
        if ev.provenance.data_source == "simulated":
            row["true effect (simulated)"] = fmt.effect_in_units(
                float(r["true_value"]), math.nan, math.nan, scale=shown.scale,
                unit=shown.unit).text.removesuffix(" (interval not available)")
        rows.append(row)
    frame = pd.DataFrame(rows)
    return Table(frame, "intention-to-treat effect of offering the new delivery to the call's eligible "
                        "firms, estimated as the registered plan says (stratum effects, Lin covariate "
                        "adjustment, HC2 standard errors); randomisation p-value: the assignment redrawn "
                        "with the plan's procedure and rule")


@keyword_options
def deviations_section(ev: DeliveryTrialEvidence) -> Text:
    """Return every departure from the registered plan, or a sentence saying there is none."""
    devs = ev.deviations()
    if not devs:
        return Text("None: the outcomes, covariates, level, permutations and firms analysed are those the "
                    f"plan registered (plan SHA-256 `{ev.design.plan.sha256}`).")
    return Text("\n".join(f"- {html.escape(_display(ev, o).label)}: {html.escape(m)}"
                          for o, _, m in devs))


@keyword_options
def conditional_section(ev: DeliveryTrialEvidence) -> list[object]:
    """Return the outcomes observed only for some firms: means by arm, with why they are not effects."""
    if not len(ev.conditional):
        return [Text("Every outcome was observed for all the firms assigned.")]
    out: list[object] = []
    for _, grp in ev.conditional.groupby("outcome", sort=False):
        unit = f" {grp['unit'].iloc[0]}" if str(grp["unit"].iloc[0]) else ""
        label = str(grp["label"].iloc[0])
        means = [("" if pd.isna(v) else f"{v:.1f}{unit}") for v in grp["mean"]]
        seen = [("" if pd.isna(n) else fmt.count(n)) for n in grp["n_firms"]]
        frame = pd.DataFrame({"arm": grp["arm"].str.replace("_", " "), "firms observed": seen, "mean": means})
        diff = float(grp["difference"].iloc[-1])
        out.append(Table(frame, f"{label} among the firms for which it is observed, by arm"))
        out.append(Text(
            f"The difference is {'' if math.isnan(diff) else f'{diff:+.1f}{unit}'}. It is not an effect of "
            "the new delivery: the new delivery changes which firms complete an application, so the firms "
            "compared in the two arms are no longer alike."))
    return out


@keyword_options
def size_class_table(ev: DeliveryTrialEvidence) -> Table:
    """Return each randomised outcome's effect within each size class (for the forum's twinning)."""
    het = ev.tables["heterogeneity"]
    rows = []
    for r in het.to_dict(orient="records"):
        shown = _display(ev, str(r["outcome"]))
        estimated = pd.notna(r["estimate"])
        rows.append({"outcome": shown.label, "size_class": r["size_class"],
                     "effect": fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]),
                                                   float(r["ci_high"]), scale=shown.scale,
                                                   unit=shown.unit).text if estimated else "",
                     "note": r["note"]})
    return Table(pd.DataFrame(rows, columns=["outcome", "size_class", "effect", "note"]),
                 "intention-to-treat effect on each outcome within each size class (strata within "
                 "it); size classes with fewer than 20 firms in an arm are not estimated")
