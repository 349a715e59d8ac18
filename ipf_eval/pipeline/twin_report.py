"""Twinning in words and units, for a programme manager: the sentence, the synthesis section, the page.

The estimates come from :mod:`ipf_eval.synthesis.twinning`; this module writes them the way every report
does (:mod:`ipf_eval.pipeline.formatting`: percent, percentage points, euro, jobs), says plainly when an
effect is not distinguishable from zero, and labels simulated data (:func:`~ipf_eval.pipeline.display.
data_banner`).  :func:`twin_sentence` returns plain text; the display objects and the page escape every
name that comes from data or parameter files.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.pipeline import formatting as fmt
from ipf_eval.pipeline.display import Table, Text, data_banner
from ipf_eval.synthesis.twinning import TwinEstimate, TwinTable, twin_table

__all__ = [
    "instrument_twins_section",
    "twin_detail",
    "twin_page",
    "twin_section",
    "twin_sentence",
    "twin_summary_section",
]



def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


_METHOD = ("Each row copies one country's evaluation of an instrument to another country: the effects the "
           "evaluating country estimated within its micro, small and medium firms (with the estimator of its "
           "headline estimate), reweighted to the other country's mix of firms. Nothing is pooled: the twin "
           "rests on one evaluation, whose evidence grade it carries. Size classes the evaluating country "
           "could not estimate are assumed to respond like its other size classes (their share of the "
           "target's firms is shown). The twin assumes that firms of the same size respond alike in both "
           "countries; differences in sectors, regions or how the agency delivers the support are not "
           "adjusted for.")


def _label(instrument: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(instrument) or instrument.replace("_", " ").capitalize()


def _parts(estimate: float, low: float, high: float, outcome: str, alpha: float) -> tuple[str, str]:
    """Return the signed effect with its unit and the interval's text (``"95 % interval ... to ..."``)."""
    shown = fmt.outcome_display(outcome)
    text = fmt.effect_in_units(estimate, low, high, scale=shown.scale, unit=shown.unit, alpha=alpha).text
    value, _, interval = text.partition(" (")
    return value, interval.removesuffix(")")


def _share(share: float) -> str:
    if 0 < share < 0.005:
        return "less than 1 %"
    return fmt.percent(share, decimals=0)


def _per_firm(outcome: str) -> str:
    return " per supported firm" if fmt.outcome_display(outcome).scale == "level" else ""


def _grade(grade: int) -> str:
    return f"evidence grade: Maryland level {int(grade)} of 5"


@keyword_options
def twin_sentence(t: TwinEstimate, *, label: str | None = None) -> str:
    """Return the twin in one plain-text sentence, in the outcome's units.

    Parameters
    ----------
    t
        From :func:`ipf_eval.synthesis.twinning.twin_estimate`.
    label
        The instrument in words (default: its name, e.g. ``"Innovation voucher"``).

    Returns
    -------
    str
        ``"Copied to DK, Innovation vouchers would raise turnover by about 4.1 % (95 % interval +1.0 % to
        +7.3 %), from AT's evaluation (evidence grade: Maryland level 4 of 5); 6 % of DK's firms are in size
        classes AT could not estimate (medium), assumed to respond like AT's others."``  An effect whose
        interval includes zero is "not distinguishable from zero"; not HTML-escaped.
    """
    name = label or _label(t.instrument, None)
    shown = fmt.outcome_display(t.outcome)
    value, interval = _parts(t.estimate, t.ci_low, t.ci_high, t.outcome, t.alpha)
    size = value.lstrip("+" + fmt.MINUS)
    per = _per_firm(t.outcome)
    if t.significant:
        verb = "raise" if t.estimate > 0 else "lower"
        effect = f"would {verb} {shown.label} by about {size}{per} ({interval})"
    else:
        effect = (f"would change {shown.label} by about {value}{per} ({interval}), an effect not "
                  "distinguishable from zero")
    if t.extrapolated_share > 0:
        classes = ", ".join(t.extrapolated_classes)
        extra = (f"{_share(t.extrapolated_share)} of {t.target}'s firms are in size classes {t.source} could "
                 f"not estimate ({classes}), assumed to respond like {t.source}'s others")
    else:
        extra = f"{t.source} estimated every size class of {t.target}'s firms"
    return (f"Copied to {t.target}, {name} {effect}, from {t.source}'s evaluation ({_grade(t.grade)}); "
            f"{extra}.")


@keyword_options
def twin_detail(t: TwinEstimate) -> Table:
    """Return the size classes behind a twin: the target's share, the source's effect and the weight used."""
    rows = []
    crit = _crit(t.alpha)
    for c in t.cells:
        if c["status"] == "covered":
            est, half = float(c["estimate"]), crit * float(c["std_error"])
            value, interval = _parts(est, est - half, est + half, t.outcome, t.alpha)
            effect = f"{value} ({interval})"
        else:
            note = str(c["note"]).removesuffix(": not estimated").removesuffix(" not estimated")
            effect = f"not estimated ({note})" if note else "not estimated"
        rows.append({"size class": c["size_class"], f"share of {t.target}'s firms": _share(c["target_share"]),
                     f"effect in {t.source}": effect,
                     "weight in the twin": (fmt.percent(c["weight"], decimals=0) if c["status"] == "covered"
                                            else "assumed like the others" if c["status"] == "extrapolated"
                                            else "not in the target's mix")})
    return Table(pd.DataFrame(rows),
                 f"{t.source}'s evidence record of {t.instrument} (size-class effects on {t.outcome}, "
                 f"{t.estimator} {t.term}) and {t.target}'s mix of firms; "
                 f"{100 * (1 - t.alpha):.10g} % normal intervals")


def _crit(alpha: float) -> float:
    from scipy.stats import norm

    return float(norm.isf(alpha / 2))


def _row_text(t: TwinEstimate) -> dict[str, str]:
    value, interval = _parts(t.estimate, t.ci_low, t.ci_high, t.outcome, t.alpha)
    own, own_interval = _parts(t.source_estimate, t.source_ci_low, t.source_ci_high, t.outcome, t.alpha)
    extra = _share(t.extrapolated_share) + (f" ({', '.join(t.extrapolated_classes)})"
                                            if t.extrapolated_classes else "")
    return {"from": f"{t.source} (grade {t.grade})", "to": t.target,
            "effect in the target's SME mix": value,
            "interval": interval.split("interval ", 1)[-1],
            "distinguishable from zero": "yes" if t.significant else "no",
            "firms in size classes not estimated": extra,
            "source's own estimate": f"{own} ({own_interval.split('interval ', 1)[-1]})"}


def _opening(table: TwinTable) -> tuple[list[object], list[object]]:
    """Return a twinning section's opening (banner, method; or why nothing was twinned) and its errors."""
    errors: list[object] = [Text("**Not twinned:**\n\n" + "\n".join(f"- {_esc(e)}" for e in table.errors))] \
        if table.errors else []
    if not table.twins:
        return [Text("No instrument has size-class estimates and a usable headline estimate in the evidence "
                     "records yet, so nothing can be twinned.")], errors
    out: list[object] = []
    banner = data_banner(t.data_source for t in table.twins)
    if banner is not None:
        out.append(banner)
    out.append(Text(_METHOD))
    return out, errors


@keyword_options
def twin_section(table: TwinTable, *, labels: Mapping[str, str] | None = None) -> list[object]:
    """Return the synthesis page's twinning section: one table per instrument and outcome.

    Parameters
    ----------
    table
        From :func:`ipf_eval.synthesis.twinning.twin_table`.
    labels
        The instruments in words, by name.

    Returns
    -------
    list
        The simulated-data banner when any twin rests on simulated firms, the method in words, per
        instrument and outcome a heading, a :class:`~ipf_eval.pipeline.display.Table` (from, to, the effect
        in the target's mix in units with its interval, whether it is distinguishable from zero, the share
        of the target's firms in size classes not estimated, the source's own estimate) and a sentence
        saying how many twins cannot be told from zero; then the pairs that could not be twinned.
    """
    out, errors = _opening(table)
    if not table.twins:
        return [*out, *errors]
    level = f"{100 * (1 - table.alpha):.10g} %"
    for (inst, outcome), twins in _groups(table).items():
        shown = fmt.outcome_display(outcome)
        out.append(Text(f"**{_esc(_label(inst, labels))}: effect on {_esc(shown.label)}**"))
        out.append(Table(pd.DataFrame([_row_text(t) for t in twins]),
                         f"each evaluating country's evidence record: its effects of {inst} within micro, "
                         "small and medium firms (its headline estimator), reweighted to the target "
                         f"country's mix of firms, no pooling; interval: {level}, normal, size classes "
                         "independent; grade: the Maryland level (1-5) of the evaluating country's headline "
                         "estimate; firms in size classes not estimated: assumed to respond like the "
                         "evaluating country's other size classes; own estimate: its headline estimate, for "
                         "its own supported firms"))
        unclear = sum(not t.significant for t in twins)
        if unclear == len(twins):
            words = (f"None of these {len(twins)} twins is distinguishable from zero ({level} interval "
                     "includes zero): on this evidence one cannot tell whether copying the instrument would "
                     f"change {_esc(shown.label)} in any of these countries.")
        elif unclear:
            words = (f"{unclear} of these {len(twins)} twins are not distinguishable from zero "
                     f"({level} interval includes zero): the evidence cannot say whether the instrument "
                     "would change it there.")
        else:
            words = f"All {len(twins)} twins are distinguishable from zero."
        out.append(Text(words))
    return [*out, *errors]



def _groups(table: TwinTable) -> dict[tuple[str, str], list[TwinEstimate]]:
    groups: dict[tuple[str, str], list[TwinEstimate]] = {}
    for t in table.twins:
        groups.setdefault((t.instrument, t.outcome), []).append(t)
    return groups


def _direction_words(twins: list[TwinEstimate]) -> str:
    up = sum(t.significant and t.estimate > 0 for t in twins)
    down = sum(t.significant and t.estimate < 0 for t in twins)
    if not up and not down:
        return "none"
    parts = ([f"{up} beneficial"] if up else []) + ([f"{down} harmful"] if down else [])
    return " and ".join(parts)


def _range(first: str, last: str) -> str:
    """``"+1.9 to +4.3 percentage points"``: a unit in words after both ends is written once."""
    words = first.split(" ", 1)[1] if " " in first else ""
    if words and not any(ch.isdigit() for ch in words) and last.endswith(" " + words):
        return f"{first.removesuffix(' ' + words)} to {last}"
    return f"{first} to {last}"


@keyword_options
def twin_summary_section(table: TwinTable, *, labels: Mapping[str, str] | None = None,
                         detail: str = "") -> list[object]:
    """Return the synthesis' twinning summary: one row per instrument and outcome, the pairs elsewhere.

    A forum of twenty agencies has up to 380 twins per instrument; the synthesis shows what they add up to
    and leaves every pair to the instrument's own page (:func:`twin_section` there).

    Parameters
    ----------
    table
        From :func:`ipf_eval.synthesis.twinning.twin_table`.
    labels
        The instruments in words, by name.
    detail
        Where the pairs are shown (a sentence ending the section), e.g. ``"Every pair is on the
        instrument's forum page."``; empty for none.

    Returns
    -------
    list
        The simulated-data banner when any twin rests on simulated firms, the method in words, a
        :class:`~ipf_eval.pipeline.display.Table` (instrument, outcome, evaluating countries, target
        countries, twins, how many are distinguishable from zero and in which direction, the range of the
        twins' effects in units, the best evidence grade behind them, the largest share of a target's firms
        in size classes not estimated), then the pairs that could not be twinned.
    """
    out, errors = _opening(table)
    if not table.twins:
        return [*out, *errors]
    rows = []
    for (inst, outcome), twins in _groups(table).items():
        low, high = min(t.estimate for t in twins), max(t.estimate for t in twins)
        first, _ = _parts(low, float("nan"), float("nan"), outcome, table.alpha)
        last, _ = _parts(high, float("nan"), float("nan"), outcome, table.alpha)
        rows.append({"instrument": _label(inst, labels), "outcome": fmt.outcome_display(outcome).label,
                     "from": ", ".join(sorted({t.source for t in twins})),
                     "twins": fmt.count(len(twins)),
                     "distinguishable from zero": f"{_direction_words(twins)} of {len(twins)}",
                     "effects in the targets' SME mix": first if low == high else _range(first, last),
                     "best grade behind them": f"level {max(int(t.grade) for t in twins)}",
                     "largest share of firms in size classes not estimated":
                         _share(max(t.extrapolated_share for t in twins))})
    level = f"{100 * (1 - table.alpha):.10g} %"
    out.append(Table(pd.DataFrame(rows),
                     "every evaluating country's effects within micro, small and medium firms reweighted to "
                     f"each other country's mix of firms, no pooling; distinguishable from zero: the {level} "
                     "interval excludes zero; range: the smallest and largest twin effect (point estimates); "
                     "grade: the Maryland level (1-5) of the evaluating country's headline estimate"))
    if detail:
        out.append(Text(_esc(detail)))
    return [*out, *errors]


@keyword_options
def instrument_twins_section(records: Sequence[Mapping[str, Any]], *, instrument: str,
                             sources: Sequence[str], targets: Sequence[str], primary: str | None = None,
                             include_stale: bool = False, label: str | None = None) -> list[object]:
    """Return every twin of one instrument, for its forum page (:func:`twin_section`).

    Parameters
    ----------
    records
        Evidence records (:func:`ipf_eval.evidence.read_evidence`); not modified.
    instrument
        The instrument of the page.
    sources, targets
        The agencies whose evaluations are twinned, and the members they are twinned to.
    primary
        The instrument's primary outcome (``None``: every outcome with size-class estimates).
    include_stale
        Whether evaluations whose latest run failed are twinned.
    label
        The instrument in words.

    Returns
    -------
    list
        :func:`twin_section` of the instrument's twins, or a sentence saying why there are none (no
        agency's evidence has size-class estimates of it: its data have no size class column).
    """
    from ipf_eval.evidence import evidence_frame, evidence_table
    from ipf_eval.synthesis.forum import headline_estimates

    het = evidence_table(records, "heterogeneity")
    usable = het.loc[(het["instrument"] == instrument) & het["country"].isin(list(sources))
                     & pd.to_numeric(het["std_error"], errors="coerce").gt(0)] if len(het) else het
    if not len(usable):
        return [Text("No agency's evidence has effects of this instrument within size classes (their data "
                     "have no size class, or no size class could be estimated), so it cannot be twinned to "
                     "another member's mix of firms.")]
    heads = headline_estimates(evidence_frame(records), countries=list(targets), include_stale=include_stale)
    twins = twin_table(het, evidence_table(records, "population_mix"), heads, instrument=instrument,
                       primary_outcomes={instrument: primary} if primary else None, sources=list(sources),
                       targets=list(targets))
    return twin_section(twins, labels={instrument: label} if label else None)

_STYLE = ("<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
          "color:#222}table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;"
          "padding:.3rem .6rem;text-align:left}</style>")


@keyword_options
def twin_page(t: TwinEstimate, *, label: str | None = None) -> str:
    """Return a small standalone HTML page of one twin (``ipf-eval twin --out``).

    The simulated-data banner first when the evidence is simulated, then the sentence
    (:func:`twin_sentence`), the size classes behind it (:func:`twin_detail`), the method and the notes.
    Every name from the evidence is escaped; the page loads nothing from the network.
    """
    name = label or _label(t.instrument, None)
    title = f"Twinning: {name} from {t.source} to {t.target}"
    banner = data_banner([t.data_source])
    notes = "".join(f"<li>{_esc(n)}</li>" for n in t.notes)
    body = ((banner.to_html() if banner is not None else "")
            + f"<h1>{_esc(title)}</h1><p>{_esc(twin_sentence(t, label=label))}</p>"
            + _table_html(twin_detail(t))
            + f"<h2>How this is estimated</h2><p>{_esc(_METHOD)}</p>"
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>{_STYLE}"
            f"</head><body>{body}</body></html>\n")


def _table_html(table: Table) -> str:
    frame = table.frame.set_axis([fmt.column_label(str(c)) for c in table.frame.columns], axis="columns")
    return (frame.to_html(index=False, na_rep="", escape=True)
            + f"\n<p><small>Source: {_esc(table.source)}</small></p>")
