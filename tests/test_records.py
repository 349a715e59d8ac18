"""Evidence records: the headline estimate per outcome, its estimand, per-estimate grades, old records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ipf_eval.errors import PipelineError
from ipf_eval.pipeline.records import (
    EVIDENCE_COLUMNS,
    SCHEMA,
    default_estimand,
    evidence_frame,
    read_evidence,
    write_evidence,
)
from ipf_eval.pipeline.render import write_evidence_csv


def _row(outcome: str, estimator: str, term: str, estimate: float, **extra: Any) -> dict[str, Any]:
    return {"outcome": outcome, "estimator": estimator, "term": term, "estimate": estimate, "std_error": 0.01,
            "statistic": estimate / 0.01, "p_value": 0.5, "ci_low": estimate - 0.02,
            "ci_high": estimate + 0.02, "n_obs": 100, **extra}


def _lottery_rows() -> pd.DataFrame:
    """A lottery's estimates as the instrument notebook writes them: the RCT's effect on users is headline."""
    return pd.DataFrame([
        _row("y", "att_gt_dr", "att", 0.01, headline=False, evidence_grade="3"),
        _row("y", "rct", "itt", 0.04, headline=False),
        _row("y", "rct", "first_stage", 0.9, headline=False),
        _row("y", "rct", "late", 0.05, headline=True, estimand="effect on users, one-year change"),
        # the RCT gave no estimate for z: the DiD stays its headline
        _row("z", "att_gt_dr", "att", 0.02, headline=True, evidence_grade="3"),
    ])


def test_headline_round_trip(tmp_path: Path) -> None:
    rows = _lottery_rows()
    before = rows.copy()
    write_evidence(tmp_path / "PL__v.json", country="PL", instrument="v", design="lottery", estimates=rows,
                   evidence_grade="5")
    pd.testing.assert_frame_equal(rows, before)  # the caller's table is not modified
    frame = evidence_frame(read_evidence(tmp_path))
    assert list(frame.columns) == list(EVIDENCE_COLUMNS)
    heads = frame.loc[frame["headline"], ["outcome", "estimator", "term"]].values.tolist()
    assert heads == [["y", "rct", "late"], ["z", "att_gt_dr", "att"]]
    assert frame["headline"].dtype == bool
    late = frame.loc[frame["term"] == "late"].iloc[0]
    assert late["estimand"] == "effect on users, one-year change"  # given: kept
    assert late["estimate"] == pytest.approx(0.05, abs=1e-15)
    itt = frame.loc[frame["term"] == "itt"].iloc[0]
    assert itt["estimand"] == default_estimand("rct", "itt")  # not given: described
    assert "winners vs losers" in itt["estimand"]
    # the DiD rows carry the DiD's grade, the others the record's (the RCT's)
    grades = dict(zip(frame["estimator"] + ":" + frame["term"], frame["evidence_grade"], strict=True))
    assert grades == {"att_gt_dr:att": "3", "rct:itt": "5", "rct:first_stage": "5", "rct:late": "5"}
    assert frame.loc[frame["outcome"] == "z", "evidence_grade"].tolist() == ["3"]


def test_headline_defaults_to_att_gt_when_missing(tmp_path: Path) -> None:
    rows = _lottery_rows().drop(columns=["headline", "evidence_grade", "estimand"])
    rows["headline"] = [None, None, None, True, None]  # partly given: the rest follows the old rule
    rows = rows.loc[rows["outcome"] == "y"]
    write_evidence(tmp_path / "a.json", country="AT", instrument="v", design="lottery",
                   estimates=rows.loc[rows["term"] != "late"].drop(columns=["headline"]))
    write_evidence(tmp_path / "b.json", country="DK", instrument="v", design="lottery",
                   estimates=rows.iloc[1:])  # rct rows only: None -> not att_gt -> False
    frame = evidence_frame(read_evidence(tmp_path))
    at = frame.loc[frame["country"] == "AT"]
    assert at.loc[at["headline"], "estimator"].tolist() == ["att_gt_dr"]
    dk = frame.loc[frame["country"] == "DK"]
    assert dk.loc[dk["headline"], "term"].tolist() == ["late"]


def test_old_records_without_headline_or_estimand(tmp_path: Path) -> None:
    """Records written before the fields existed: att_gt rows are the headline; estimands are described."""
    old = {"schema": SCHEMA, "country": "FI", "instrument": "v", "design": "lottery", "evidence_grade": "5",
           "grade_reason": "", "n_firms": 500, "n_supported": 200, "disclosure_profile": "statistical_office",
           "version": "0.1.0", "results": {}, "extra": {},
           "estimates": [{k: v for k, v in r.items() if k not in ("headline", "estimand", "evidence_grade")}
                         for r in _lottery_rows().to_dict(orient="records")]}
    (tmp_path / "FI__v.json").write_text(json.dumps(old), encoding="utf-8")
    frame = evidence_frame(read_evidence(tmp_path))
    assert frame.loc[frame["headline"], "estimator"].tolist() == ["att_gt_dr", "att_gt_dr"]
    assert not frame.loc[frame["estimator"] == "rct", "headline"].any()
    assert set(frame["evidence_grade"]) == {"5"}  # no per-estimate grades: the record's
    by_term = dict(zip(frame["term"], frame["estimand"], strict=False))
    assert by_term["att"] == "ATT of supported firms, averaged over post-support years"
    assert by_term["late"].startswith("effect on users")
    assert by_term["first_stage"] == "take-up difference between winners and losers"
    assert default_estimand("rdd", "robust").endswith("(robust bias-corrected)")
    assert default_estimand("other", "x") == "other: x"


def test_csv_has_headline_and_estimand_columns(tmp_path: Path) -> None:
    folder = tmp_path / "evidence"
    write_evidence(folder / "PL__v.json", country="PL", instrument="v", design="lottery",
                   estimates=_lottery_rows(), evidence_grade="5")
    assert write_evidence_csv(folder, tmp_path / "evidence.csv") == 5
    csv = pd.read_csv(tmp_path / "evidence.csv")
    assert list(csv.columns) == list(EVIDENCE_COLUMNS)
    assert {"headline", "estimand"} <= set(csv.columns)
    # rows sorted by outcome, estimator, term
    assert csv["term"].tolist() == ["att", "first_stage", "itt", "late", "att"]
    assert csv["headline"].tolist() == [False, False, False, True, True]
    assert csv["evidence_grade"].tolist() == [3, 5, 5, 5, 3]


def test_two_headlines_for_one_outcome_is_an_error(tmp_path: Path) -> None:
    rows = _lottery_rows()
    rows.loc[rows["term"] == "itt", "headline"] = True
    with pytest.raises(PipelineError, match=r"more than one headline estimate for outcome\(s\) \['y'\]"):
        write_evidence(tmp_path / "x.json", country="PL", instrument="v", design="lottery", estimates=rows)
    assert not (tmp_path / "x.json").exists()


def test_headline_must_be_boolean(tmp_path: Path) -> None:
    rows = [_row("y", "rct", "late", 0.05, headline="yes")]
    with pytest.raises(PipelineError, match=r"'headline' must hold True/False .*got 'yes' for estimator "):
        write_evidence(tmp_path / "x.json", country="PL", instrument="v", design="lottery", estimates=rows)
