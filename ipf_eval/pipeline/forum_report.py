"""The sections of the country report and the forum synthesis, built from evidence records.

The rules (what is pooled, how instruments are judged) live in :mod:`ipf_eval.synthesis.forum` and
:mod:`ipf_eval.synthesis.country`; this module turns their results into the tables, text and figures the
notebooks display.  Names from parameter files are escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.pipeline.summary import Section, money
from ipf_eval.synthesis.country import country_verdicts
from ipf_eval.synthesis.forum import FamilySelection, PooledHeadlines, TransferMatrix

__all__ = [
    "RANKING_RULE",
    "UNITS",
    "country_findings",
    "country_overview",
    "country_recommendations",
    "effects_plot",
    "forest",
    "heterogeneity_words",
    "in_units",
    "left_out_text",
    "pooled_table",
    "ranked_table",
    "recommendations_section",
    "selection_text",
    "side_by_side",
    "stale_text",
    "transfer_sentence",
    "transfer_table",
    "units_words",
]

_E = html.escape

#: A cost unit in the plural, as in "66 jobs per EUR 1 million".
UNITS: Mapping[str, str] = {"job": "jobs", "euro_rd": "euro of R&D", "exporter": "exporters",
                            "euro_equity": "euro of equity raised"}


@keyword_options
def units_words(cost_unit: str) -> str:
    """Return a cost unit in the plural, e.g. ``"jobs"`` (an agency's own: :func:`summary.cost_label`)."""
    if cost_unit.startswith("custom:"):
        from ipf_eval.pipeline.summary import cost_label

        return cost_label(cost_unit, plural=True)
    return UNITS.get(cost_unit, cost_unit)


@keyword_options
def country_overview(records: Sequence[Mapping[str, Any]], *, country: str, country_name: str, agency: str,
                     context: str, instruments: Sequence[str], labels: Mapping[str, str]) -> list[Text]:
    """Return the country report's heading and which instruments have evidence."""
    out = [Text(f"## {_E(country_name)}: {_E(agency)}\n\n{_E(context)}\n\n"
                f"Evidence available for {len(records)} of {len(instruments)} instruments.")]
    missing = sorted(set(instruments) - {str(r["instrument"]) for r in records})
    if missing:
        out.append(Text("Not evaluated in this run: " + ", ".join(_E(labels.get(m, m)) for m in missing)))
    return out


@keyword_options
def side_by_side(headlines: pd.DataFrame, *, country_name: str, labels: Mapping[str, str]) -> list[object]:
    """Return the headline estimate of every instrument and outcome, and a warning when estimands differ."""
    if not len(headlines):
        return []
    side = headlines.assign(instrument=headlines["instrument"].map(lambda i: labels.get(i, i)),
                            effect=in_units(headlines), outcome=headlines["outcome"].map(
                                lambda o: fmt.outcome_display(str(o)).label))
    side = side[["instrument", "outcome", "estimator", "term", "estimand", "effect", "p_value",
                 "evidence_grade"]]
    out: list[object] = [Table(side, f"evidence records of {country_name}'s instrument evaluations: per "
                                     "instrument and outcome the headline estimate, the one its evidence "
                                     "grade belongs to (att_gt: staggered DiD, simple aggregation; rct: the "
                                     "lottery's analysis; rdd: the regression discontinuity at the "
                                     "threshold, robust bias-corrected)")]
    if side["estimator"].str.startswith("att_gt").nunique() > 1:
        out.append(Text("The rows estimate different things: a DiD row is the average effect on supported "
                        "firms over the years since support; a lottery's (rct) row is the one-year change "
                        "for users of the support; a scored call's (rdd) row is the one-year change for "
                        "firms at the threshold. Compare instruments with this in mind."))
    return out


@keyword_options
def effects_plot(headlines: pd.DataFrame, *, country_name: str, labels: Mapping[str, str],
                 alpha: float = 0.05) -> tuple[Any, str, str] | None:
    """Return the headline effects' figure, alt text and caption (``None`` when no effect can be drawn).

    Each instrument's headline effect on each outcome with its interval, in the outcome's units: outcomes
    in logs in percent, shares in percentage points, one panel each, the estimator in words
    (:func:`ipf_eval.pipeline.figures.headline_effects_figure`).  Effects in euro are left to the table,
    as the caption says; ``alpha`` is the level of the intervals given (0.05: 95 %).
    """
    from ipf_eval.pipeline import figures

    if not len(headlines):
        return None
    shown = [fmt.outcome_display(str(o)) for o in headlines["outcome"]]
    finite = np.isfinite(pd.to_numeric(headlines["estimate"], errors="coerce").to_numpy(dtype=np.float64))
    if not any(ok and s.scale != "level" for ok, s in zip(finite, shown, strict=True)):
        return None
    fig = figures.headline_effects_figure(headlines, labels=labels, alpha=alpha)
    alt = figures.headline_effects_alt(headlines, labels=labels, alpha=alpha)

    def outcomes(*scales: str) -> str:
        names = list(dict.fromkeys(s.label for s in shown if s.scale in scales))
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    units = "; ".join(f"{outcomes(scale)} in {words}"
                      for scale, words in (("log", "percent"), ("share", "percentage points"))
                      if any(s.scale == scale for s in shown))
    level = any(s.scale == "level" for s in shown)
    families = {"att_gt" if str(e).startswith("att_gt") else str(e)
                for e, s in zip(headlines["estimator"], shown, strict=True) if s.scale != "level"}
    caption = (f"Headline effect of each of {country_name}'s instruments on each outcome, with its "
               f"{100 * (1 - alpha):.10g} % confidence interval: {units}. Colour and marker show the "
               + ("estimator, which differs between instruments and estimates a different effect (see the "
                  "table above)." if len(families) > 1 else "estimator.")
               + (f" Effects in euro or other amounts ({outcomes('level')}) are in the table above only."
                  if level else "")
               + " Source: the instrument evaluations' evidence records.")
    return fig, alt, caption


@keyword_options
def country_recommendations(headlines: pd.DataFrame, records: Sequence[Mapping[str, Any]], *,
                            labels: Mapping[str, str]) -> Text:
    """One bullet per evaluated instrument: its verdict and grades (:mod:`ipf_eval.synthesis.country`)."""
    verdicts = country_verdicts(headlines, instruments=[str(r["instrument"]) for r in records], labels=labels)
    lines = [f"- **{_E(v.label)}** (grade {' / '.join(str(g) for g in v.grades)}): {_E(v.wording)}."
             for v in verdicts]
    return Text("\n".join(lines) if lines else "No evidence yet.")


@keyword_options
def left_out_text(left_out: Sequence[str]) -> list[Text]:
    """List the countries, bundles and evaluations the synthesis could not use, each with the reason."""
    if not left_out:
        return []
    return [Text("**Left out of this synthesis** (the evidence could not be exported or read):\n\n"
                 + "\n".join(f"- {_E(str(x))}" for x in left_out))]


@keyword_options
def stale_text(records: Sequence[Mapping[str, Any]], *, included: bool) -> list[Text]:
    """Say which evaluations are out of date (their latest run failed) and whether the page used them."""
    from ipf_eval.pipeline.stale import stale_lines

    lines = stale_lines(records, included=included)
    if not lines:
        return []
    head = ("Out of date and used anyway (the batch's include_stale), labelled:" if included else
            "Out of date and left out (their latest run failed; set include_stale in the batch file to use "
            "them):")
    return [Text(f"**{head}**\n\n" + "\n".join(f"- {_E(x)}" for x in lines))]


@keyword_options
def selection_text(selection: FamilySelection) -> list[Text]:
    """How many headline estimates are pooled, and which were left out because they use another estimator."""
    kept = selection.kept
    out = [Text(f"{len(kept)} headline estimates from {kept['country'].nunique()} countries, "
                f"{kept['instrument'].nunique()} instruments.")]
    if selection.left_out:
        out.append(Text("Not pooled, because the other countries' evaluations of the same instrument and "
                        "outcome report a different estimator (see the country reports): "
                        + "; ".join(_E(x) for x in selection.left_out) + "."))
    return out


@keyword_options
def pooled_table(pooled: PooledHeadlines) -> list[object]:
    """Return the random-effects pooled estimate per instrument and outcome."""
    notes = [Text(f"> {_E(e)}") for e in pooled.errors]
    table = pooled.table
    if len(table):
        table = table.assign(effect=in_units(table), outcome=table["outcome"].map(
            lambda o: fmt.outcome_display(str(o)).label))
        table = table[["instrument", "outcome", "estimator", "estimand", "countries", "effect", "p_value"]]
    return [*notes, Table(table, "random-effects meta-analysis (REML) of the countries' headline "
                                        "estimates, one estimator per instrument and outcome: att_gt = "
                                        "staggered DiD (Callaway-Sant'Anna), the average effect on "
                                        "supported firms over the years since support; rct late = a "
                                        "lottery's one-year change for users (itt: for winners); rdd robust "
                                        "= the one-year change at a scored call's threshold, robust "
                                        "bias-corrected. Effects of different rows are different estimands")]


_FAMILY_WORDS: Mapping[str, str] = {"att_gt": "staggered DiD", "rct late": "lottery, effect on users",
                                    "rct itt": "lottery, effect of winning",
                                    "rdd robust": "scored call, at the threshold"}


def _value_text(estimate: float, outcome: str) -> str:
    shown = fmt.outcome_display(outcome)
    return fmt.effect_in_units(float(estimate), float("nan"), float("nan"), scale=shown.scale,
                               unit=shown.unit).text.removesuffix(" (interval not available)")


def _band_text(row: Mapping[Any, Any], outcome: str, low: str, high: str) -> str:
    shown = fmt.outcome_display(outcome)
    band = fmt.effect_in_units(float(row["estimate"]), float(row[low]), float(row[high]), scale=shown.scale,
                               unit=shown.unit)
    return band.text.split("interval ", 1)[-1].removesuffix(")")


@keyword_options
def transfer_table(matrix: TransferMatrix, *, labels: Mapping[str, str] | None = None) -> list[object]:
    """Return the predicted effect of each pooled instrument and outcome in each target country's SME mix.

    One row per instrument, outcome and target: the reweighted effect in the outcome's units, the interval
    of the reweighted mean, the prediction interval for that country (adding the between-country variance
    of the pooled estimate), the estimator family and source countries of the pooled estimate, and whether
    part of the target's mix had no size-class estimate (extrapolated).
    """
    notes: list[object] = [Text(f"> {_E(e)}") for e in matrix.errors]
    cells = matrix.cells
    if not len(cells):
        return [*notes, Text("No size-class estimates of the pooled estimators in the evidence records yet.")]
    names = labels or {}
    rows = [{"instrument": names.get(str(r["instrument"]), str(r["instrument"]).replace("_", " ")),
             "outcome": fmt.outcome_display(str(r["outcome"])).label, "target": r["target"],
             "effect in the target's SME mix": _value_text(float(r["estimate"]), str(r["outcome"])),
             "95 % interval": _band_text(r, str(r["outcome"]), "ci_low", "ci_high"),
             "likely range in that country": _band_text(r, str(r["outcome"]), "pi_low", "pi_high"),
             "estimated by": _FAMILY_WORDS.get(str(r["family"]), str(r["family"])),
             "from": r["sources"],
             "extrapolated": f"yes ({r['uncovered']})" if r["extrapolated"] else "no"}
            for r in cells.to_dict(orient="records")]
    return [*notes, Table(pd.DataFrame(rows),
                          "each pooled instrument and outcome's size-class effects (micro, small, medium "
                          "firms), from the same countries and estimator as its pooled estimate, pooled per "
                          "size class (random effects) and reweighted to the target country's mix of firms; "
                          "likely range: the 95 % prediction interval, adding the variation between "
                          "countries of the pooled estimate; extrapolated: part of the target's mix falls in "
                          "size classes without an estimate, whose effect is then assumed like the others'")]


@keyword_options
def transfer_sentence(matrix: TransferMatrix | None, instrument: str, outcome: str) -> str:
    """Return a recommendation's clause: the effect predicted in each member's SME mix, or why none is.

    When every target misses the same size classes, they are named once ("medium firms, 4 % to 7 % of the
    mixes, had no estimate ..."); otherwise each extrapolated target is marked.
    """
    if matrix is None:
        return ""
    rows = matrix.for_group(instrument, outcome)
    if not len(rows):
        return "; no size-class estimates, so no prediction for each member's SME mix"
    records = rows.to_dict(orient="records")
    same = len({str(r["uncovered"]) for r in records}) == 1 and all(r["extrapolated"] for r in records)
    parts = [f"{_E(str(r['target']))} {_value_text(float(r['estimate']), outcome)}"
             + (" (extrapolated)" if r["extrapolated"] and not same else "") for r in records]
    text = ("; in each member's mix of micro, small and medium firms (same countries and estimator): "
            + ", ".join(parts))
    if same:
        shares = 1.0 - rows["covered_share"].astype(float)
        low, high = fmt.percent(float(shares.min()), decimals=0), fmt.percent(float(shares.max()), decimals=0)
        span = low if low == high else f"{low} to {high}"
        text += (f" ({_E(str(records[0]['uncovered']))} firms, {span} of the mixes, had no estimate and are "
                 "assumed to respond like the others)")
    return text


@keyword_options
def ranked_table(ranked: pd.DataFrame, *, top: int = 10) -> list[object]:
    """Return the ranked recommendations and the wording of the first ``top``."""
    cols = ["rank", "instrument", "outcome", "estimator", "verdict", "k", "effect", "variation", "min_grade",
            "value_index", *[c for c in ("checks_missing",) if c in ranked.columns]]
    shown = ranked.assign(effect=in_units(ranked) if len(ranked) else [],
                          outcome=ranked["outcome"].map(lambda o: fmt.outcome_display(str(o)).label),
                          variation=ranked["i2"].map(lambda v: heterogeneity_words(float(v)))
                          if len(ranked) else [])
    return [Table(shown.reindex(columns=cols), "recommendations (ipf_eval.synthesis.recommendations) from "
                                               "the pooled headline estimates above (one estimator per "
                                               "instrument and outcome): random-effects pooling; min_grade: "
                                               "the weakest Maryland grade among the countries' estimates "
                                               "(each rests on the checks its design requires); "
                                               "value_index: outcomes per euro relative to the typical "
                                               "instrument with the same outcome; checks_missing: "
                                               "countries whose grade rests on checks that could not be "
                                               "computed"),
            Text("\n".join(f"{r['rank']}. {_E(str(r['wording']))}"
                           for r in ranked.head(top).to_dict(orient="records")))]


@keyword_options
def in_units(rows: pd.DataFrame, *, alpha: float = 0.05) -> list[str]:
    """Return each row's effect and interval in the units people use (percent, euro, percentage points)."""
    out = []
    for r in rows.to_dict(orient="records"):
        shown = fmt.outcome_display(str(r["outcome"]))
        out.append(fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                       scale=shown.scale, unit=shown.unit, alpha=alpha).text)
    return out


@keyword_options
def country_findings(headlines: pd.DataFrame, *, primaries: Mapping[str, str], labels: Mapping[str, str],
                     country: str) -> list[object]:
    """Return the country report's first section (``<section id="summary">``): a finding per instrument.

    Each row: the instrument, its primary outcome's headline effect in units with its interval, the evidence
    grade, the cost per outcome where the effect is distinguishable from zero, and the verdict.
    """
    from ipf_eval.pipeline.summary import findings_rows

    rows = findings_rows(headlines, {(country, i): o for i, o in primaries.items()})
    if not len(rows):
        return [Section("summary", "Findings", ("No instrument of this country has evidence yet.",))]
    name = {str(i): labels.get(str(i), str(i)) for i in rows["instrument"]}
    items = tuple(f"{name[str(r['instrument'])]} ({r['outcome']}): {r['effect']}; evidence {r['grade']}"
                  + (f"; cost {r['cost']}" if r["cost"] else "") + f". Verdict: {r['verdict']}."
                  for r in rows.to_dict(orient="records"))
    table = rows.assign(instrument=rows["instrument"].map(lambda i: labels.get(str(i), str(i))))
    return [Section("summary", "Findings", items),
            Table(table.drop(columns=["country", "data_source"]),
                  "headline estimate of each instrument's primary outcome (the design's own estimator where "
                  "it ran), its evidence grade, cost per outcome and the verdict of the country rules")]


@keyword_options
def heterogeneity_words(i2: float) -> str:
    """Describe I² (a share) in words, after the Cochrane Handbook's rough guide."""
    if not np.isfinite(i2):
        return "heterogeneity not estimable (one country)"
    share = f"I² = {100 * i2:.0f} %"
    words = ("little" if i2 < 0.3 else "moderate" if i2 < 0.5 else "substantial" if i2 < 0.75 else
             "considerable")
    return f"{words} variation between countries ({share})"


RANKING_RULE = ("Ranked by the strength of the verdict (works, promising, no evidence of an effect, "
                "inconclusive, harmful), then by the weakest evidence grade behind it (stronger evidence "
                "first), then by value for money weighted by the evidence: the pooled effect per euro "
                "(outcomes per EUR 1 million of programme cost) relative to the typical instrument with the "
                "same outcome, times the weakest grade over 5; outcomes without a cost come after those with "
                "one. 'Works' needs the pooled interval to exclude zero, every "
                "country's grade at Maryland level 3 or better, at least 3 countries, and a prediction "
                "interval that excludes zero too: it would likely work in a new country. No rule counts "
                "significant results.")


@keyword_options
def recommendations_section(ranked: pd.DataFrame, *, top: int = 10,
                            transfer: TransferMatrix | None = None) -> Section:
    """Return the forum's recommendations, the synthesis' first section (``<section id="recommendations">``).

    Each recommendation gives its verdict in words, the pooled effect in units with its interval and
    prediction interval, the heterogeneity in words, the weakest grade behind it, the cost per outcome
    where one exists, the notes (missing checks, one country only), and with ``transfer`` the effect
    predicted in each member's SME mix from the same pooled evaluations (:func:`transfer_sentence`).
    """
    items = []
    for r in ranked.head(top).to_dict(orient="records"):
        shown = fmt.outcome_display(str(r["outcome"]))
        effect = fmt.effect_in_units(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                     scale=shown.scale, unit=shown.unit)
        pi = ""
        if np.isfinite(r.get("pi_low", np.nan)) and np.isfinite(r.get("pi_high", np.nan)):
            band = fmt.effect_in_units(float(r["estimate"]), float(r["pi_low"]), float(r["pi_high"]),
                                       scale=shown.scale, unit=shown.unit)
            ends = band.text.split("interval ", 1)[-1].removesuffix(")").replace(" to ", " and ", 1)
            pi = f"; in a new country the effect would likely lie between {ends}"
        cost = r.get("cost_per_unit", np.nan)
        unit = shown.cost_unit
        cost_text = ""
        if np.isfinite(cost):
            index = float(r.get("value_index", np.nan))
            cost_text = (f"; median cost per outcome {money(float(cost))}, "
                         f"{fmt.number(float(r['units_per_million']))} {units_words(unit)} per EUR 1 "
                         "million"
                         + (f" ({fmt.number(index)} times the typical instrument for this outcome)"
                            if np.isfinite(index) else ""))
        wording = str(r["wording"]).replace(str(r["outcome"]), shown.label).replace("_", " ")
        items.append(f"{int(r['rank'])}. {wording} Pooled over {int(r['k'])} countries: "
                     f"{shown.label} {effect.text}{pi}; {heterogeneity_words(float(r.get('i2', np.nan)))}; "
                     f"weakest grade: Maryland level {int(r['min_grade'])}{cost_text}"
                     f"{transfer_sentence(transfer, str(r['instrument']), str(r['outcome']))}.")
    lead = RANKING_RULE if len(ranked) else "No instrument was evaluated in enough countries to rank."
    return Section("recommendations", "Recommendations for the forum", tuple(items), lead)


@keyword_options
def forest(kept: pd.DataFrame, pooled: PooledHeadlines, *, instrument: str,
           outcome: str) -> tuple[Any, str, str] | None:
    """Return one instrument and outcome's forest figure, alt text and caption (``None`` if not pooled).

    One row per country's headline estimate and the pooled random-effects estimate (a diamond) with its
    prediction interval, in the outcome's units (:func:`ipf_eval.pipeline.figures.forest_figure`).
    """
    from ipf_eval.pipeline import figures

    meta = pooled.metas.get((instrument, outcome))
    if meta is None:
        return None
    rows = kept.loc[(kept["instrument"] == instrument) & (kept["outcome"] == outcome),
                    ["country", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)
    pooled_row = meta.to_frame().iloc[0]
    shown = fmt.outcome_display(outcome)
    unit = shown.unit or None
    fig = figures.forest_figure(rows, pooled=pooled_row, outcome_label=shown.label, scale=shown.scale,
                                unit=unit)
    alt = figures.forest_alt(rows, pooled=pooled_row, outcome_label=shown.label, scale=shown.scale, unit=unit)
    used = pooled.table.loc[(pooled.table["instrument"] == instrument) & (pooled.table["outcome"] == outcome)]
    estimator = str(used["estimator"].iloc[0]) if len(used) else ""
    caption = (f"{instrument.replace('_', ' ').capitalize()}: effect on {shown.label} in each country "
               f"({estimator}) and pooled across {len(rows)} countries (random effects, REML, with the "
               "prediction interval for a new country); source: the countries' evidence records.")
    return fig, alt, caption
