"""The typed evidence schema (ipf_eval.evidence.schema) and evidence records on disk (records)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _evidence_helpers import estimate_row, record

from ipf_eval.errors import EvidenceSchemaError
from ipf_eval.evidence import (
    ESTIMATE_COLUMNS,
    SCHEMA_VERSION,
    TABLES,
    evidence_frame,
    evidence_table,
    read_evidence,
    read_evidence_csv,
    validate_record,
    validate_table,
    write_evidence,
)
from ipf_eval.evidence.schema import empty_table
from ipf_eval.pipeline.render import write_evidence_csv

COMMITTED = Path(__file__).resolve().parents[1] / "notebooks" / "evidence"


def _frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_a_valid_table_gets_the_declared_dtypes() -> None:
    out = validate_table("estimates", _frame(estimate_row(), estimate_row(outcome="log_turnover")))
    assert list(out.columns) == list(ESTIMATE_COLUMNS)
    assert str(out["evidence_grade"].dtype) == "Int64"
    assert out["headline"].dtype == bool
    assert out["true_value"].isna().all()


def test_column_order_of_a_json_record_does_not_matter() -> None:
    row = estimate_row()
    shuffled = pd.DataFrame([dict(sorted(row.items()))])
    assert list(validate_table("estimates", shuffled).columns) == list(ESTIMATE_COLUMNS)


@pytest.mark.parametrize(("change", "message"), [
    ({"design": "randomised"}, r"column 'design' fails .*isin.*'randomised'"),
    ({"evidence_grade": 7}, r"column 'evidence_grade' fails .*in_range.*7"),
    ({"data_source": "survey"}, r"column 'data_source' fails .*'survey'"),
    ({"country": "Austria"}, r"column 'country' fails .*str_matches.*'Austria'"),
    ({"created": "yesterday"}, r"column 'created' fails"),
    ({"p_value": 1.5}, r"column 'p_value' fails"),
    ({"estimator": "ols"}, r"column 'estimator' fails"),
    ({"schema_version": 1}, r"column 'schema_version' fails"),
])
def test_invalid_values_name_the_column(change: dict[str, object], message: str) -> None:
    with pytest.raises(EvidenceSchemaError, match=message):
        validate_table("estimates", _frame(estimate_row(**change)))


def test_missing_and_extra_columns() -> None:
    row = estimate_row()
    del row["run_id"]
    with pytest.raises(EvidenceSchemaError, match=r"run_id"):
        validate_table("estimates", _frame(row))
    with pytest.raises(EvidenceSchemaError, match=r"extra"):
        validate_table("estimates", _frame({**estimate_row(), "extra": 1}))


def test_one_headline_per_outcome_and_unique_rows() -> None:
    two = _frame(estimate_row(), estimate_row(estimator="rdd", term="robust", grade_design="rdd"))
    with pytest.raises(EvidenceSchemaError, match=r"more than one headline estimate"):
        validate_table("estimates", two)
    with pytest.raises(EvidenceSchemaError, match=r"unique|duplicate"):
        validate_table("estimates", _frame(estimate_row(headline=False), estimate_row(headline=False)))


def test_unknown_table_and_not_a_frame() -> None:
    with pytest.raises(EvidenceSchemaError, match=r"evidence table 'extra' is not defined"):
        validate_table("extra", pd.DataFrame())
    with pytest.raises(EvidenceSchemaError, match=r"must be a pandas DataFrame; got list"):
        validate_table("estimates", [])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(TABLES))
def test_empty_tables_have_their_columns(name: str) -> None:
    empty = empty_table(name)
    assert empty.empty
    assert list(empty.columns) == list(TABLES[name].columns)


def test_record_round_trip_and_csv(tmp_path: Path) -> None:
    het = [{"country": "NO", "instrument": "beta", "outcome": "log_employment", "size_class": "micro",
            "estimator": "att_gt_dr", "term": "att", "estimate": 0.1, "std_error": 0.02, "ci_low": 0.06,
            "ci_high": 0.14, "true_value": 0.11, "note": ""},
           {"country": "NO", "instrument": "beta", "outcome": "log_employment", "size_class": "medium",
            "estimator": None, "term": "att", "estimate": None, "std_error": None, "ci_low": None,
            "ci_high": None, "true_value": None, "note": "fewer than 20 supported firms: not estimated"}]
    rows = [estimate_row("NO", "beta", "y1", estimate=0.2), estimate_row("NO", "beta", "y0")]
    write_evidence(tmp_path / "NO__beta.json", record("NO", "beta", rows=rows, heterogeneity=het))
    write_evidence(tmp_path / "AT__alpha.json", record("AT", "alpha"))
    records = read_evidence(tmp_path)
    assert [r["country"] for r in records] == ["AT", "NO"]
    assert [r["instrument"] for r in read_evidence(tmp_path, country="NO")] == ["beta"]
    frame = evidence_frame(records)
    assert list(frame.columns) == list(ESTIMATE_COLUMNS)
    assert frame[["country", "outcome"]].values.tolist() == [["AT", "log_employment"], ["NO", "y0"],
                                                             ["NO", "y1"]]
    het_back = evidence_table(records, "heterogeneity")
    assert het_back["size_class"].tolist() == ["micro", "medium"]
    assert np.isnan(het_back["estimate"].iloc[1])
    assert evidence_table(records, "costs").empty
    assert write_evidence_csv(tmp_path, tmp_path / "evidence.csv") == 3
    csv = read_evidence_csv(tmp_path / "evidence.csv")  # typed again (a run_id "000..." stays text)
    pd.testing.assert_frame_equal(csv, frame)
    again = tmp_path / "again.json"
    write_evidence(again, records[1])
    assert again.read_bytes() == (tmp_path / "NO__beta.json").read_bytes()  # sorted keys: same bytes


def test_records_are_validated_before_anything_is_written(tmp_path: Path) -> None:
    bad = record(rows=[estimate_row(evidence_grade=0)])
    with pytest.raises(EvidenceSchemaError, match=r"evidence_grade"):
        write_evidence(tmp_path / "x.json", bad)
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda r: r.pop("tables"), r"lacks keys \['tables'\]"),
    (lambda r: r.update(schema_version=1), r"version 1; this ipf_eval reads 'ipf_eval.evidence' version"),
    (lambda r: r.update(schema="ipf_eval.evidence/1"), r"has schema 'ipf_eval.evidence/1'"),
    (lambda r: r["tables"].pop("costs"), r"must hold the tables"),
    (lambda r: r["tables"].update(costs={}), r"table 'costs' .* must be a list of rows"),
    (lambda r: r.update(country="NO"), r"holds country values \['AT'\] but the record is for 'NO'"),
])
def test_invalid_records(mutate: object, message: str) -> None:
    rec = record()
    mutate(rec)  # type: ignore[operator]
    with pytest.raises(EvidenceSchemaError, match=message):
        validate_record(rec, where="x.json")


def test_read_evidence_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EvidenceSchemaError, match=r"bad\.json' cannot be read"):
        read_evidence(tmp_path)
    (tmp_path / "bad.json").write_text('{"schema": "other"}')
    with pytest.raises(EvidenceSchemaError, match=r"bad\.json.*lacks keys"):
        read_evidence(tmp_path)
    with pytest.raises(EvidenceSchemaError, match=r"evidence table 'extra' is not defined"):
        evidence_table([], "extra")


def test_committed_evidence_follows_the_schema() -> None:
    records = read_evidence(COMMITTED)
    assert len(records) == 31  # 30 instrument evaluations and one delivery trial
    frame = evidence_frame(records)
    assert set(frame["data_source"]) == {"simulated"}  # the default data are simulated, on every row
    assert frame["true_value"].notna().all()
    assert (frame["schema_version"] == SCHEMA_VERSION).all()
    for rec in records:
        assert rec["schema_version"] == SCHEMA_VERSION
        assert {r["run_id"] for r in rec["tables"]["estimates"]} == {rec["provenance"]["run_id"]}
    raw = json.loads((COMMITTED / "AT__loan_guarantee.json").read_text())
    assert set(raw["tables"]) == set(TABLES)
