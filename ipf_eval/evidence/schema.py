"""The typed evidence schema: one definition of every evidence table, validated on write and on read.

An evaluation of one (country, instrument) produces an evidence record (:mod:`ipf_eval.evidence.records`)
made of the tables below.  ``reports/evidence.csv`` is the ``estimates`` table of every record; the
country report and the synthesis read the tables only through :func:`validate_table`, so a table whose
columns, types or values drift fails loudly instead of producing a wrong number.

======================  ===============================================================================
table                   one row per
======================  ===============================================================================
``estimates``           estimate (outcome x estimator x term), with its grade, the checks behind it
                        (passed, failed, missing, with the reasons), its sensitivity figures and
                        provenance; ``stale`` when the latest run of its evaluation failed
``heterogeneity``       outcome x size class: the effect by the outcome's headline estimator and term
``population_mix``      size class of the country's firms (shares of all firms, for transferability)
``delivery``            delivery indicator (applications, median decision days, acceptance rate)
``delivery_mix``        delivery indicator x SME-mix stratum (x bin of days to decision): the
                        disclosure-checked counts the forum's mix-adjusted agency benchmark pools
                        (:mod:`ipf_eval.evidence.delivery_aggregates`)
``costs``               costed outcome: programme cost per additional unit and its interval
======================  ===============================================================================

The schema is versioned by :data:`SCHEMA_VERSION`; a record written under another version is refused
with the remedy (re-run the evaluation) rather than read with guessed defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pandera.pandas as pa

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import EvidenceSchemaError
from ipf_eval.evidence.grading import CHECKS
from ipf_eval.evidence.outcomes import OUTCOME_KINDS

__all__ = [
    "CHECK_LIST_COLUMNS",
    "DATA_SOURCES",
    "DELIVERY_MIX_INDICATORS",
    "DESIGN_VALUES",
    "ESTIMATE_COLUMNS",
    "GRADE_DESIGNS",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "TABLES",
    "empty_table",
    "validate_table",
]

#: Name written into every evidence record.
SCHEMA_NAME = "ipf_eval.evidence"
#: Version of the tables below; bump it when a column is added, removed or changes meaning.
SCHEMA_VERSION = 8

#: Where the data came from: the embedded simulator or the agency's own data.
DATA_SOURCES: tuple[str, ...] = ("simulated", "file")
#: Assignment designs of an instrument.
DESIGN_VALUES: tuple[str, ...] = ("open_call", "scored_call", "lottery", "delivery_trial")
#: Designs an estimate's evidence grade can belong to (see :func:`ipf_eval.evidence.headline.grade_design`).
GRADE_DESIGNS: tuple[str, ...] = ("did", "lottery", "rdd")

#: Units a cost per outcome is given in (:data:`ipf_eval.evidence.cost_basis.COST_UNITS`); an agency's own
#: level or binary outcome is costed in ``custom:<outcome>``.
COST_UNIT_NAMES: tuple[str, ...] = ("job", "euro_rd", "exporter", "euro_equity")
_COST_UNIT = r"^(|" + "|".join(COST_UNIT_NAMES) + r"|custom:[a-z][a-z0-9_]{0,39})$"

_COUNTRY = pa.Check.str_matches(r"^[A-Z]{2}$")
_NAME = pa.Check.str_matches(r"^[a-z][a-z0-9_]{0,39}$")
_SHA256 = pa.Check.str_matches(r"^[0-9a-f]{64}$")
_ISO_UTC = pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_SIZE = pa.Check.isin(["micro", "small", "medium", "large"])


def _str(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    return pa.Column(str, checks=list(checks), nullable=nullable)


def _float(*checks: pa.Check) -> pa.Column:
    return pa.Column(float, checks=list(checks), nullable=True)


def _count(nullable: bool = False) -> pa.Column:
    return pa.Column("Int64", checks=[pa.Check.ge(0)], nullable=nullable)


def _check_names(value: str) -> bool:
    return value == "" or all(name in CHECKS for name in value.split(";"))


#: Columns listing check names (semicolon-separated, possibly empty).
CHECK_LIST_COLUMNS: tuple[str, ...] = ("checks_passed", "checks_failed", "checks_missing")


def _check_list() -> pa.Column:
    return pa.Column(str, checks=[pa.Check(_check_names, element_wise=True,
                                           error="semicolon-separated names of checks")])


def _one_headline(frame: pd.DataFrame) -> bool:
    heads = frame.loc[frame["headline"], ["country", "instrument", "outcome"]]
    return not bool(heads.duplicated().any())


_ESTIMATES = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "outcome": _str(_NAME),
        "outcome_label": _str(pa.Check.str_length(min_value=1, max_value=100)),
        "outcome_kind": _str(pa.Check.isin(list(OUTCOME_KINDS))),
        "outcome_unit": _str(pa.Check.str_length(max_value=60)),
        "design": _str(pa.Check.isin(list(DESIGN_VALUES))),
        "estimator": _str(pa.Check.str_matches(r"^(att_gt_(dr|ipw|reg)|rct|rdd)$")),
        "estimand": _str(pa.Check.str_length(min_value=1)),
        "headline": pa.Column(bool),
        "term": _str(pa.Check.str_length(min_value=1)),
        "estimate": _float(),
        "std_error": _float(pa.Check.ge(0)),
        "statistic": _float(),
        "p_value": _float(pa.Check.in_range(0.0, 1.0)),
        "ci_low": _float(),
        "ci_high": _float(),
        "evidence_grade": pa.Column("Int64", checks=[pa.Check.in_range(1, 5)]),
        "grade_design": _str(pa.Check.isin(list(GRADE_DESIGNS))),
        "checks_passed": _check_list(),
        "checks_failed": _check_list(),
        "checks_missing": _check_list(),
        "grade_reasons": _str(),
        "pretrend_p": _float(pa.Check.in_range(0.0, 1.0)),
        "pretrend_mde": _float(pa.Check.ge(0)),
        "honest_breakdown_m": _float(pa.Check.ge(0)),
        "cost_per_outcome": _float(pa.Check.gt(0)),
        "cost_ci_low": _float(pa.Check.gt(0)),
        "cost_ci_high": _float(pa.Check.gt(0)),
        "cost_unit": _str(pa.Check.str_matches(_COST_UNIT)),
        "true_value": _float(),
        "n_obs": _count(),
        "n_firms": _count(),
        "n_supported": _count(),
        "disclosure_profile": _str(pa.Check.isin(["statistical_office", "research_data_centre"])),
        "data_source": _str(pa.Check.isin(list(DATA_SOURCES))),
        "data_sha256": _str(_SHA256),
        "run_id": _str(pa.Check.str_matches(r"^[0-9a-f]{16}$")),
        "created": _str(_ISO_UTC),
        "version": _str(pa.Check.str_length(min_value=1)),
        "schema_version": pa.Column("Int64", checks=[pa.Check.eq(SCHEMA_VERSION)]),
        "stale": pa.Column(bool),
    },
    checks=[pa.Check(_one_headline, error="more than one headline estimate for an outcome")],
    unique=["country", "instrument", "outcome", "estimator", "term"],
    strict=True, ordered=True, coerce=True, name="estimates",
)

_HETEROGENEITY = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "outcome": _str(_NAME),
        "size_class": _str(_SIZE),
        "estimator": _str(pa.Check.str_matches(r"^(att_gt_(dr|ipw|reg)|rct|rdd)$"), nullable=True),
        "term": _str(pa.Check.isin(["att", "itt", "late", "robust"])),
        "estimate": _float(),
        "std_error": _float(pa.Check.ge(0)),
        "ci_low": _float(),
        "ci_high": _float(),
        "true_value": _float(),
        "note": _str(),
    },
    unique=["country", "instrument", "outcome", "size_class"],
    strict=True, ordered=True, coerce=True, name="heterogeneity",
)

_POPULATION_MIX = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "size_class": _str(_SIZE),
        "share": pa.Column(float, checks=[pa.Check.in_range(0.0, 1.0)]),
    },
    unique=["country", "instrument", "size_class"],
    strict=True, ordered=True, coerce=True, name="population_mix",
)

_DELIVERY = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "indicator": _str(pa.Check.isin(["applications", "median_decision_days", "acceptance_rate"])),
        "value": pa.Column(float, checks=[pa.Check.ge(0)]),
    },
    unique=["country", "instrument", "indicator"],
    strict=True, ordered=True, coerce=True, name="delivery",
)

#: Indicators of the ``delivery_mix`` table (the aggregates of
#: :func:`ipf_eval.evidence.delivery_aggregates.delivery_mix_aggregates`).
DELIVERY_MIX_INDICATORS: tuple[str, ...] = ("take_up", "first_time_share", "dropout_rate", "days_to_decision",
                                            "admin_cost", "euro_granted")

_DELIVERY_MIX = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "indicator": _str(pa.Check.isin(list(DELIVERY_MIX_INDICATORS))),
        "stratum": _str(pa.Check.str_length(min_value=1, max_value=200)),
        "bin_low": _float(pa.Check.ge(0)),
        "bin_high": _float(pa.Check.ge(0)),
        "n": pa.Column(float, checks=[pa.Check.ge(0)]),
        "events": _float(pa.Check.ge(0)),
    },
    unique=["country", "instrument", "indicator", "stratum", "bin_low"],
    strict=True, ordered=True, coerce=True, name="delivery_mix",
)

_COSTS = pa.DataFrameSchema(
    {
        "country": _str(_COUNTRY),
        "instrument": _str(_NAME),
        "outcome": _str(_NAME),
        "estimator": _str(pa.Check.str_length(min_value=1)),
        "term": _str(pa.Check.str_length(min_value=1)),
        "evidence_grade": pa.Column("Int64", checks=[pa.Check.in_range(1, 5)]),
        "unit": _str(pa.Check.str_length(min_value=1)),
        "cost_per_unit": _float(),
        "ci_low": _float(),
        "ci_high": _float(),
        "unbounded": pa.Column(bool),
        "cost_per_firm": pa.Column(float, checks=[pa.Check.gt(0)]),
        "n_supported": _count(),
    },
    unique=["country", "instrument", "outcome"],
    strict=True, ordered=True, coerce=True, name="costs",
)

#: The schema of each evidence table, by name.
TABLES: Mapping[str, pa.DataFrameSchema] = {
    "estimates": _ESTIMATES,
    "heterogeneity": _HETEROGENEITY,
    "population_mix": _POPULATION_MIX,
    "delivery": _DELIVERY,
    "delivery_mix": _DELIVERY_MIX,
    "costs": _COSTS,
}

#: Columns of ``reports/evidence.csv`` (the ``estimates`` table), in this order.
ESTIMATE_COLUMNS: tuple[str, ...] = tuple(_ESTIMATES.columns)


def _schema(name: str) -> pa.DataFrameSchema:
    if name not in TABLES:
        raise EvidenceSchemaError(f"evidence table {name!r} is not defined; the tables are "
                                  f"{sorted(TABLES)!r}")
    return TABLES[name]


@keyword_options
def empty_table(name: str) -> pd.DataFrame:
    """Return an empty table with the columns and dtypes of evidence table ``name``.

    Raises
    ------
    EvidenceSchemaError
        If ``name`` is not one of :data:`TABLES`.
    """
    schema = _schema(name)
    frame = pd.DataFrame({col: pd.Series(dtype=str(c.dtype)) for col, c in schema.columns.items()})
    return validate_table(name, frame)


def _describe(name: str, exc: pa.errors.SchemaErrors, where: str) -> str:
    cases = exc.failure_cases
    parts = []
    for (column, check), grp in cases.groupby(["column", "check"], dropna=False, sort=False):
        values = list(dict.fromkeys(repr(v) for v in grp["failure_case"].tolist()))[:5]
        col = "the table" if column is None or column == name else f"column {column!r}"
        parts.append(f"{col} fails {check!r} (values {', '.join(values)})")
        if len(parts) == 6:
            break
    return (f"evidence table {name!r}{where} does not match schema version {SCHEMA_VERSION}: "
            + "; ".join(parts) + "; re-run the evaluation with this version of ipf_eval, or fix the table")


@keyword_options
def validate_table(name: str, frame: pd.DataFrame, *, where: str = "") -> pd.DataFrame:
    """Validate (and coerce to the declared dtypes) one evidence table.

    Parameters
    ----------
    name
        One of :data:`TABLES`.
    frame
        The table; not modified.
    where
        Where it came from (a file name), for the error message.

    Returns
    -------
    pandas.DataFrame
        A validated copy with exactly the schema's columns, in the schema's order, with their dtypes.

    Raises
    ------
    EvidenceSchemaError
        Naming every failing column and check with up to five offending values, and the remedy.
    """
    schema = _schema(name)
    suffix = f" in {where}" if where else ""
    if not isinstance(frame, pd.DataFrame):
        raise EvidenceSchemaError(f"evidence table {name!r}{suffix} must be a pandas DataFrame; got "
                                  f"{type(frame).__name__}")
    columns = list(schema.columns)
    if set(frame.columns) == set(columns):
        frame = frame[columns]  # JSON records keep their keys sorted: the schema's order is the table's
    try:
        return schema.validate(frame.copy(), lazy=True).reset_index(drop=True)
    except pa.errors.SchemaErrors as exc:
        raise EvidenceSchemaError(_describe(name, exc, suffix)) from None


def table_records(name: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Validate a table and return its rows as JSON-safe dictionaries (missing values as ``None``)."""
    from ipf_eval.results import json_safe

    valid = validate_table(name, frame)
    rows: list[dict[str, Any]] = json_safe(valid.astype(object).where(valid.notna(), None))
    return rows
