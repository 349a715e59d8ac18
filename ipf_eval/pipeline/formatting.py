"""How every number in a report is written: counts, euro, percentages, p-values and effects in units.

Readers are programme managers of EU agencies, so the rules follow the EU Interinstitutional Style Guide
(English conventions): decimal point, comma thousands separator (``1,471``, ``0.042``); a space between
figure and per cent sign, as in the guide's spacing table (``2.5 %``, ``95 % interval``), always U+0020 so
strings compare predictably; the ISO code before amounts (``EUR 12,345``, ``EUR 12.3 million``).  Negative
numbers take the minus sign U+2212 (:data:`MINUS`), not the en dash, which marks a missing value
(:data:`MISSING`); effects take ``+`` when positive; a value that rounds to zero has no sign.  Rounding is
half away from zero on the decimal Python prints for a float (``0.125`` -> ``0.13``).  No function returns
``inf``, ``nan``, scientific notation or a count with decimals.  Every formatter takes ``missing``, returned
for ``None``, ``NaN``, ``pandas.NA`` and (except by :func:`count` and :func:`p_value`, which raise)
infinite values.  All functions are pure; none touches display options.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import SpecificationError

__all__ = ["COLUMN_LABELS", "MINUS", "MISSING", "OUTCOME_DISPLAY", "EffectInUnits", "OutcomeDisplay",
           "column_label", "count", "effect_in_units", "effect_sentence", "euro", "number", "outcome_display",
           "outcome_displays_of", "p_text", "p_value", "percent", "points", "use_outcomes"]

#: Marker for a value that is missing or cannot be shown (en dash, U+2013).
MISSING = "\u2013"
#: Sign of negative numbers (minus sign, U+2212).
MINUS = "\u2212"

Scale = Literal["log", "level", "share"]
_SCALES: tuple[str, ...] = ("log", "level", "share")
_EURO_UNITS = frozenset({"euro", "eur", "€"})
# Precision for any float at any number of decimals used here (the largest float has 309 digits).
_CTX = Context(prec=800, rounding=ROUND_HALF_UP)


def _is_missing(x: Any) -> bool:
    return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float | np.floating) and math.isnan(x))


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def _to_float(x: Any, func: str, param: str) -> float:
    if not isinstance(x, bool | np.bool_ | str | bytes):
        try:
            return float(x)
        except (TypeError, ValueError):
            pass
    raise SpecificationError(f"{func}: {param} must be a number; got {x!r} of type {type(x).__name__}.")


def _float(x: Any, func: str, param: str = "x") -> float:
    return math.nan if _is_missing(x) else _to_float(x, func, param)


def _finite(x: Any, func: str) -> float | None:
    """Return ``x`` as a float, or None when it is missing or infinite (shown as the marker)."""
    f = _float(x, func)
    return f if math.isfinite(f) else None


def _dec(x: float) -> Decimal:
    """Return the decimal Python prints for ``x``: ``0.125`` rounds like the ``0.125`` a reader sees."""
    return Decimal(repr(float(x)))


def _round(d: Decimal, decimals: int) -> Decimal:
    return d.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP, context=_CTX)


def _signed(d: Decimal, decimals: int, *, plus: bool = False) -> str:
    """Round ``d`` to ``decimals`` with thousands separators, MINUS if negative, ``+`` if asked."""
    body = format(q := _round(abs(d), decimals), ",f")
    return body if q == 0 else (MINUS if d < 0 else "+" if plus else "") + body


def _sig_decimals(a: float, digits: int) -> int:
    """Return the decimals that show ``digits`` significant digits of ``|a|``, keeping all integer digits."""
    a = abs(a)
    if a == 0:
        return 0
    exp = math.floor(math.log10(a))
    decimals = max(0, digits - 1 - exp)
    if decimals > 0 and _round(_dec(a), decimals) >= Decimal(10) ** (exp + 1):
        decimals -= 1  # rounding carried into the next power of ten: 9.996 -> 10.0, not 10.00
    return decimals


def _check_int(value: Any, func: str, param: str, minimum: int) -> int:
    if not _is_int(value) or value < minimum:
        raise SpecificationError(f"{func}: {param} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _euro_body(x: float, *, plus: bool = False) -> str:
    d = _dec(x)
    a = abs(d)
    # Bands are chosen on the rounded amount: 99,999.5 is EUR 100,000, 9,999,999 is EUR 10.0 million.
    if (q := _round(a, 0)) < 100_000 or (q := _round(_round(a.scaleb(-3), 0).scaleb(3), 0)) < 10_000_000:
        body = format(q, ",f")
    elif (q := _round(a.scaleb(-6), 1)) < 1000:
        body = f"{format(q, ',f')} million"
    else:
        q = _round(a.scaleb(-9), 1)
        body = f"{format(q, ',f')} billion"
    sign = "" if q == 0 else MINUS if d < 0 else "+" if plus else ""
    return f"{sign}EUR {body}"


@keyword_options
def count(n: Any, *, missing: str = MISSING) -> str:
    """Write a count as a whole number with thousands separators: ``count(np.int64(1471)) == "1,471"``.

    ``n`` is an int, numpy integer or whole float (within ``1e-9`` relative, so a sum of weights that should
    be whole passes); a negative count (a difference) takes :data:`MINUS`.

    Raises
    ------
    SpecificationError
        If ``n`` is fractional (a count never is), infinite, a bool or not a number.
    """
    if _is_missing(n):
        return missing
    v = int(n) if _is_int(n) else _to_float(n, "count", "n")
    if isinstance(v, float) and (not math.isfinite(v) or abs(v - round(v)) > 1e-9 * max(1.0, abs(v))):
        raise SpecificationError(
            f"count: n must be a whole number (a count is never fractional); got {n!r}.  Round it "
            "deliberately before formatting it, or use number() for a figure that is not a count.")
    return _signed(Decimal(round(v)), 0)


@keyword_options
def euro(x: Any, *, missing: str = MISSING) -> str:
    """Write an amount in euro, rounded to the precision a reader needs.

    By the absolute amount: below 100,000 to the euro (``EUR 99,999``); below 10 million to the thousand
    (``EUR 123,000``); below 1,000 million to 0.1 million (``EUR 12.3 million``); then to 0.1 billion.  The
    band is chosen after rounding: 99,999.5 is ``EUR 100,000``, 9,999,999 is ``EUR 10.0 million`` (never
    ``EUR 10,000,000``).  Negative: ``−EUR 12,345``.  Infinite amounts get the ``missing`` marker (a cost
    per unit is infinite when nothing additional was bought: say so next to it).

    Raises
    ------
    SpecificationError
        If ``x`` is a bool or not a number.
    """
    f = _finite(x, "euro")
    return missing if f is None else _euro_body(f)


@keyword_options
def percent(x: Any, *, decimals: int = 1, missing: str = MISSING) -> str:
    """Write a fraction as a percentage with ``decimals`` decimals: ``percent(0.025) == "2.5 %"``.

    Raises
    ------
    SpecificationError
        If ``x`` is not a number or ``decimals`` is not an integer >= 0.
    """
    decimals = _check_int(decimals, "percent", "decimals", 0)
    f = _finite(x, "percent")
    return missing if f is None else f"{_signed(_dec(f).scaleb(2), decimals)} %"


@keyword_options
def points(x: Any, *, decimals: int = 1, missing: str = MISSING) -> str:
    """Write a difference of shares in percentage points: ``points(0.012) == "1.2 percentage points"``.

    ``x`` is a difference of fractions (0.300 - 0.288); ``"1 percentage point"`` only with no decimals.

    Raises
    ------
    SpecificationError
        If ``x`` is not a number or ``decimals`` is not an integer >= 0.
    """
    decimals = _check_int(decimals, "points", "decimals", 0)
    f = _finite(x, "points")
    if f is None:
        return missing
    body = _signed(_dec(f).scaleb(2), decimals)
    return f"{body} percentage {'point' if body.lstrip(MINUS) == '1' else 'points'}"


@keyword_options
def p_value(p: Any, *, missing: str = MISSING) -> str:
    """Write a p-value: ``"< 0.001"`` below 0.001, otherwise three decimals (``"0.042"``, ``"1.000"``).

    ``p`` up to ``1 + 1e-9`` (rounding error of the test) reads as 1; a missing p (not computed) gives the
    ``missing`` marker.

    Raises
    ------
    SpecificationError
        If ``p`` is below 0, above 1, infinite or not a number.
    """
    if _is_missing(p):
        return missing
    f = _to_float(p, "p_value", "p")
    if not 0.0 <= f <= 1.0 + 1e-9:
        raise SpecificationError(f"p_value: p must be a probability in [0, 1]; got {p!r}.  Check the test "
                                 "that produced it (a one-sided p-value doubled past 1, a sign error).")
    return "< 0.001" if f < 0.001 else _signed(_dec(min(f, 1.0)), 3)


@keyword_options
def p_text(p: Any) -> str:
    """Write a p-value in a sentence: ``"p < 0.001"`` or ``"p = 0.042"`` (rules of :func:`p_value`)."""
    shown = p_value(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


@keyword_options
def number(x: Any, *, digits: int = 3, missing: str = MISSING) -> str:
    """Write a figure with ``digits`` significant digits, never in scientific notation.

    Integer digits are never dropped and integers are written whole: ``number(24667.4) == "24,667"``,
    ``number(0.000123) == "0.000123"``, ``number(1.5) == "1.50"``, ``number(1471) == "1,471"``.

    Raises
    ------
    SpecificationError
        If ``x`` is not a number or ``digits`` is not an integer >= 1.
    """
    digits = _check_int(digits, "number", "digits", 1)
    if _is_int(x):
        return _signed(Decimal(int(x)), 0)
    f = _finite(x, "number")
    return missing if f is None else _signed(_dec(f), _sig_decimals(f, digits))


@dataclass(frozen=True)
class EffectInUnits:
    """An effect and interval in the units a reader uses, and the text showing them (:func:`effect_in_units`).

    ``value``, ``low``, ``high`` are on the display scale: the proportional change :math:`e^b - 1` for
    ``"log"`` (0.025 is +2.5 %), the difference of shares for ``"share"``, the effect in ``unit`` for
    ``"level"``; ``low`` and ``high`` are NaN when there is no interval.
    """

    value: float
    low: float
    high: float
    scale: Scale
    unit: str
    text: str
    alpha: float = 0.05


def _parts(e: EffectInUnits) -> tuple[str, str]:
    """Return the signed value with its unit and the interval's text."""
    unit = e.unit.strip()
    if e.scale == "log":
        fmt, suffix = (lambda v: f"{_signed(_dec(v).scaleb(2), 1, plus=True)} %"), ""
    elif e.scale == "share":
        fmt, suffix = (lambda v: _signed(_dec(v).scaleb(2), 1, plus=True)), " percentage points"
    elif unit.lower() in _EURO_UNITS or unit.lower().startswith("euro_"):
        fmt, suffix = (lambda v: _euro_body(v, plus=True)), ""
    else:  # other levels: the same decimals for all three, two significant digits of the largest
        decimals = _sig_decimals(max(abs(v) for v in (e.value, e.low, e.high) if not math.isnan(v)), 2)
        fmt, suffix = (lambda v: _signed(_dec(v), decimals, plus=True)), f" {unit}" if unit else ""
    if math.isnan(e.low):
        return fmt(e.value) + suffix, "interval not available"
    label = f"{100 * (1 - e.alpha):.10g} % interval"
    return fmt(e.value) + suffix, f"{label} {fmt(e.low)} to {fmt(e.high)}{suffix}"


@keyword_options
def effect_in_units(estimate: float, ci_low: float, ci_high: float, *, scale: str, unit: str = "",
                    alpha: float = 0.05) -> EffectInUnits:
    r"""Turn an estimate and its interval into the units people use.

    Parameters
    ----------
    estimate, ci_low, ci_high
        Effect and interval on the outcome's scale; both ends may be NaN (no interval), not just one.
    scale
        ``"log"``: log points, shown as the percent change :math:`e^{b} - 1` with each end transformed the
        same way (:math:`e^{c} - 1`: the interval is asymmetric); ``"share"``: a difference of shares or of
        a 0/1 outcome's means, in percentage points; ``"level"``: in ``unit``.
    unit, alpha
        For ``"level"``: ``"jobs"``, ``"exporters"``...; ``"euro"`` (``"EUR"``, ``"€"``, ``"euro_rd"``...)
        writes amounts with :func:`euro` (kept, not shown, on other scales).  The interval's level is
        :math:`1 - \alpha` (0.05: ``"95 % interval"``).

    Returns
    -------
    EffectInUnits
        ``text`` like ``"+2.5 % (95 % interval +0.7 % to +4.3 %)"``, ``"+3.1 jobs (95 % interval +0.5 to
        +5.7 jobs)"``, ``"+EUR 24,667 (...)"``, ``"+4.2 percentage points (95 % interval +1.0 to +7.4
        percentage points)"``.  Percentages and points have one decimal; other levels two significant
        digits of the largest of value and ends, the same decimals for all three.

    Raises
    ------
    SpecificationError
        For an unknown ``scale``, a missing or infinite ``estimate``, ``alpha`` outside (0, 1), one missing
        or an infinite end, ``ci_low > ci_high``, or a log effect too large to exponentiate.
    """
    if scale not in _SCALES:
        raise SpecificationError(
            f"effect_in_units: scale must be one of {list(_SCALES)!r}; got {scale!r}.  Use 'log' for "
            "outcomes in logs, 'share' for 0/1 outcomes and shares, 'level' with a unit for the rest.")
    b = _float(estimate, "effect_in_units", "estimate")
    if not math.isfinite(b):
        raise SpecificationError(f"effect_in_units: estimate must be a finite number; got {estimate!r}.")
    a = _to_float(alpha, "effect_in_units", "alpha")
    if not 0.0 < a < 1.0:
        raise SpecificationError(f"effect_in_units: alpha must be in (0, 1), e.g. 0.05; got {alpha!r}.")
    lo, hi = _float(ci_low, "effect_in_units", "ci_low"), _float(ci_high, "effect_in_units", "ci_high")
    if math.isnan(lo) != math.isnan(hi) or math.isinf(lo) or math.isinf(hi):
        raise SpecificationError("effect_in_units: the interval ends must be both finite or both missing; "
                                 f"got ci_low={ci_low!r}, ci_high={ci_high!r}.")
    if lo > hi:
        raise SpecificationError(f"effect_in_units: ci_low must not exceed ci_high; got ci_low={ci_low!r} > "
                                 f"ci_high={ci_high!r}.  Pass the interval ends in order.")
    if scale == "log":
        try:
            b, lo, hi = math.expm1(b), math.expm1(lo), math.expm1(hi)
        except OverflowError as exc:
            raise SpecificationError(f"effect_in_units: {estimate!r} (interval {ci_low!r} to {ci_high!r}) is "
                                     "too large for log points; check the scale.") from exc
    draft = EffectInUnits(b, lo, hi, scale=cast(Scale, scale), unit=unit, text="", alpha=a)
    value, interval = _parts(draft)
    return replace(draft, text=f"{value} ({interval})")


@keyword_options
def effect_sentence(subject: str, outcome_label: str, effect: EffectInUnits, *, significant: bool,
                    horizon: str = "", without: str = "the support") -> str:
    """Write one plain-English sentence: the effect, its interval, whether it is told from zero.

    Parameters
    ----------
    subject, outcome_label
        Who (``"Supported firms"``) and the outcome in words (``outcome_display(name).label``).
    effect, significant, horizon
        From :func:`effect_in_units`; whether it is distinguishable from zero (the caller's test); an
        optional time phrase after the value, e.g. ``"three years after support"``.
    without
        What the effect is compared with (``"than without <without>"``): ``"the support"``, or for a
        delivery trial the new way of applying.

    Returns
    -------
    str
        ``"Supported firms: employment is 2.5 % higher than without the support (95 % interval +0.7 % to
        +4.3 %); the effect is distinguishable from zero."``; ``lower`` when negative, ``no different`` when
        it rounds to zero,
        ``not distinguishable`` when ``significant`` is false.  Factual, no verdicts.

    Raises
    ------
    SpecificationError
        If ``subject`` or ``outcome_label`` is empty or ``significant`` is not a bool.
    """
    for name, text in (("subject", subject), ("outcome_label", outcome_label)):
        if not isinstance(text, str) or not text.strip():
            raise SpecificationError(f"effect_sentence: {name} must be a non-empty string; got {text!r}.")
    if not isinstance(significant, bool | np.bool_):
        raise SpecificationError(f"effect_sentence: significant must be True or False; got {significant!r}.")
    value, interval = _parts(effect)
    # an effect is a difference from what would have happened without the support, not growth over time
    side = {"+": "higher", MINUS: "lower"}.get(value[:1])
    when = f" {horizon.strip()}" if horizon.strip() else ""
    told = "distinguishable" if significant else "not distinguishable"
    size = value.lstrip("+" + MINUS)
    what = f"{size} {side}" if side else f"no different ({size})"
    return (f"{subject.strip()}: {outcome_label.strip()} is {what}{when} than without {without.strip()} "
            f"({interval}); the effect is {told} from zero.")


@dataclass(frozen=True)
class OutcomeDisplay:
    """How an outcome is shown: its label in words, the scale of its effects, their unit on a level scale.

    ``cost_unit`` names what a cost per outcome counts (``job``, ``euro_rd``, ``exporter``, ``euro_equity``,
    or ``custom:<name>`` for an agency's own level or binary outcome); empty when the outcome is not costed.
    """

    label: str
    scale: Scale
    unit: str = ""
    cost_unit: str = ""


#: The simulated panels' outcomes in words.  ``exporter`` (0/1) is shown as a share, and costed per
#: additional exporter.
OUTCOME_DISPLAY: Mapping[str, OutcomeDisplay] = MappingProxyType({
    "log_employment": OutcomeDisplay("employment", "log", "", "job"),
    "log_turnover": OutcomeDisplay("turnover", "log"),
    "rd_spending": OutcomeDisplay("R&D spending", "level", "euro", "euro_rd"),
    "exporter": OutcomeDisplay("the share of firms that export", "share", "", "exporter"),
    "export_share": OutcomeDisplay("the share of turnover exported", "share"),
    "equity_raised": OutcomeDisplay("equity raised", "level", "euro", "euro_equity"),
    "alive": OutcomeDisplay("the share of firms still active", "share"),
})

# The agency's own outcomes of the evidence a report shows (set by use_outcomes; one report per kernel).
_CUSTOM: dict[str, OutcomeDisplay] = {}


@keyword_options
def use_outcomes(displays: Mapping[str, OutcomeDisplay]) -> None:
    """Set the agency's own outcomes (``custom_outcomes``) that :func:`outcome_display` knows.

    A report calls it once, with :func:`outcome_displays_of` on the evidence it shows; it replaces what an
    earlier report in the same kernel set.

    Raises
    ------
    SpecificationError
        If a name is a standard outcome or a value is not an :class:`OutcomeDisplay`.
    """
    clash = sorted(set(displays) & set(OUTCOME_DISPLAY))
    if clash:
        raise SpecificationError(f"use_outcomes: {clash!r} are standard outcomes; custom outcomes need "
                                 "other names.")
    bad = [k for k, v in displays.items() if not isinstance(v, OutcomeDisplay)]
    if bad:
        raise SpecificationError(f"use_outcomes: values for {bad!r} are not OutcomeDisplay objects.")
    _CUSTOM.clear()
    _CUSTOM.update(displays)


_KIND_SCALE: Mapping[str, Scale] = {"log": "log", "level": "level", "share": "share", "binary": "share"}


@keyword_options
def outcome_displays_of(rows: pd.DataFrame) -> dict[str, OutcomeDisplay]:
    """Return the display of every custom outcome in evidence rows (columns ``outcome_label/kind/unit``).

    Raises
    ------
    SpecificationError
        If two rows define the same custom outcome differently (e.g. two agencies gave one name to two
        outcomes): rename one in its country or instrument file.
    """
    needed = {"outcome", "outcome_label", "outcome_kind", "outcome_unit"}
    if not len(rows) or not needed <= set(rows.columns):
        return {}
    own = rows.loc[~rows["outcome"].isin(list(OUTCOME_DISPLAY)), sorted(needed)].drop_duplicates()
    out: dict[str, OutcomeDisplay] = {}
    for name, grp in own.groupby("outcome", sort=True):
        if len(grp) > 1:
            raise SpecificationError(f"custom outcome {name!r} is defined differently in the evidence ("
                                     f"{len(grp)} label/kind/unit combinations); rename one of them.")
        r = grp.iloc[0]
        kind = str(r["outcome_kind"])
        out[str(name)] = OutcomeDisplay(str(r["outcome_label"]), _KIND_SCALE.get(kind, "level"),
                                        str(r["outcome_unit"]),
                                        f"custom:{name}" if kind in ("level", "binary") else "")
    return out


@keyword_options
def outcome_display(name: str) -> OutcomeDisplay:
    """Return how outcome ``name`` is shown (:data:`OUTCOME_DISPLAY`, then :func:`use_outcomes`).

    An unknown outcome gets ``OutcomeDisplay(name.replace("_", " "), "level")``.

    Raises
    ------
    SpecificationError
        If ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise SpecificationError(f"outcome_display: name must be a non-empty outcome name; got {name!r}.")
    known = OUTCOME_DISPLAY.get(name) or _CUSTOM.get(name)
    return known or OutcomeDisplay(name.replace("_", " ").strip(), "level")


#: Column headers of the report tables in words (the tables' columns keep their snake_case names).  The
#: interval columns do not state a level: an instrument file may set another ``estimator.alpha``; each
#: table's source line and the text name it.
COLUMN_LABELS: Mapping[str, str] = MappingProxyType({
    # identifiers
    "country": "Country",
    "instrument": "Instrument",
    "outcome": "Outcome",
    "estimator": "Estimator",
    "estimand": "What is estimated",
    "term": "Term",
    "size_class": "Size class",
    "cohort": "Support cohort",
    "call_year": "Call year",
    "target": "Target country",
    "event_time": "Years since support",
    # estimates
    "estimate": "Estimate",
    "std_error": "Standard error",
    "statistic": "Test statistic",
    "p_value": "p-value",
    "ci_low": "Interval, low",
    "ci_high": "Interval, high",
    "ci_kind": "Interval type",
    "effect": "Effect",
    "headline": "Headline estimate",
    "published": "Published estimate",
    "published_se": "Published standard error",
    "n_obs": "Observations",
    "n_firms": "Firms",
    "n_supported": "Supported firms",
    # evidence grades and checks
    "evidence_grade": "Evidence grade (Maryland 1-5)",
    "grade": "Evidence grade",
    "level": "Evidence grade (Maryland 1-5)",
    "min_grade": "Weakest grade (Maryland 1-5)",
    "check": "Check",
    "checks_missing": "Checks not computed",
    "reason": "Reason",
    # costs and the synthesis
    "unit": "Unit",
    "cost": "Cost per outcome",
    "cost_per_unit": "Cost per additional unit",
    "verdict": "Verdict",
    "rank": "Rank",
    "k": "Countries",
    "countries": "Countries",
    "variation": "Variation between countries",
    "value_index": "Value for money (typical = 1)",
    # disclosure control and robustness tables
    "rule": "Disclosure rule",
    "type": "Type of comparison",
    "n_comparisons": "Comparisons",
    "data_source": "Data source",
})


@keyword_options
def column_label(name: str) -> str:
    """Return a table column's header in words.

    Parameters
    ----------
    name
        The column's name in the data (``"p_value"``, ``"evidence_grade"``).

    Returns
    -------
    str
        Its label in :data:`COLUMN_LABELS` (``"p-value"``, ``"Evidence grade (Maryland 1-5)"``); for any
        other name the name with underscores as spaces and its first letter capitalised, the rest left as
        it is (``"call_year"`` -> ``"Call year"``, ``"AT"`` stays ``"AT"``).

    Raises
    ------
    SpecificationError
        If ``name`` is not a string.

    Examples
    --------
    >>> column_label("n_obs")
    'Observations'
    >>> column_label("supported_firms")
    'Supported firms'
    """
    if not isinstance(name, str):
        raise SpecificationError(f"column_label: name must be a column name (str); got {name!r} of type "
                                 f"{type(name).__name__}.  Pass str(column) for other labels.")
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]
