"""Minimal evidence records that pass the schema, for tests that need a record without estimating."""

from __future__ import annotations

from typing import Any

from ipf_eval.evidence import ESTIMATE_COLUMNS, SCHEMA_VERSION


def estimate_row(country: str = "AT", instrument: str = "alpha", outcome: str = "log_employment",
                 **over: Any) -> dict[str, Any]:
    """One valid evidence row (a DiD headline estimate); keyword arguments replace its values."""
    row: dict[str, Any] = {
        "country": country, "instrument": instrument, "outcome": outcome, "outcome_label": "employment",
        "outcome_kind": "log", "outcome_unit": "", "design": "open_call",
        "estimator": "att_gt_dr", "estimand": "ATT of supported firms, averaged over post-support years",
        "headline": True, "term": "att", "estimate": 0.1, "std_error": 0.05, "statistic": 2.0,
        "p_value": 0.0455,
        "ci_low": 0.002, "ci_high": 0.198, "evidence_grade": 3, "grade_design": "did",
        "checks_passed": "pre_trends;balance;overlap", "checks_failed": "", "checks_missing": "",
        "grade_reasons": "", "pretrend_p": 0.4, "pretrend_mde": 0.01, "honest_breakdown_m": 1.5,
        "cost_per_outcome": None, "cost_ci_low": None, "cost_ci_high": None, "cost_unit": "",
        "true_value": None,
        "n_obs": 100, "n_firms": 20, "n_supported": 10, "disclosure_profile": "statistical_office",
        "data_source": "simulated", "data_sha256": "0" * 64, "run_id": "0" * 16,
        "created": "2026-01-01T00:00:00Z", "version": "test", "schema_version": SCHEMA_VERSION,
        "stale": False,
    }
    row.update(over)
    return {k: row[k] for k in ESTIMATE_COLUMNS}


def record(country: str = "AT", instrument: str = "alpha", *, rows: list[dict[str, Any]] | None = None,
           design: str = "open_call", **tables: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid evidence record holding ``rows`` (default: one DiD row) and empty other tables."""
    rows = rows if rows is not None else [estimate_row(country, instrument, design=design)]
    all_tables = {"estimates": rows, "heterogeneity": [], "population_mix": [], "delivery": [],
                  "delivery_mix": [], "costs": []}
    all_tables.update(tables)
    return {"schema": "ipf_eval.evidence", "schema_version": SCHEMA_VERSION, "country": country,
            "instrument": instrument, "design": design, "tables": all_tables}
