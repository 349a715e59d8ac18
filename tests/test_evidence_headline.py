"""The headline rule and the design the grade belongs to (ipf_eval.evidence.headline)."""

from __future__ import annotations

import pandas as pd
import pytest

from ipf_eval.errors import SpecificationError
from ipf_eval.evidence.headline import (
    DESIGN_ESTIMATOR,
    GRADE_DESIGN,
    estimator_family,
    grade_design,
    headline_term,
    mark_headlines,
)


def _rows(*spec: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"outcome": o, "estimator": e, "term": t} for o, e, t in spec])


def _heads(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    h = frame.loc[frame["headline"]]
    return list(zip(h["outcome"], h["estimator"], h["term"], strict=True))


@pytest.mark.parametrize(("estimator", "family"), [("att_gt_dr", "att_gt"), ("att_gt_ipw", "att_gt"),
                                                   ("att_gt_reg", "att_gt"), ("rct", "rct"), ("rdd", "rdd")])
def test_estimator_family(estimator: str, family: str) -> None:
    assert estimator_family(estimator) == family


def test_unknown_estimator_is_an_error() -> None:
    with pytest.raises(SpecificationError, match=r"estimator 'twfe' is not one an evaluation writes"):
        estimator_family("twfe")


@pytest.mark.parametrize(("estimator", "terms", "head"), [
    ("rct", ["itt", "first_stage", "late"], "late"),  # take-up observed: the effect on users
    ("rct", ["itt"], "itt"),  # no take-up column: intention to treat
    ("rdd", ["conventional", "robust"], "robust"),
    ("att_gt_reg", ["att"], "att"),
    ("rdd", ["conventional"], None),
])
def test_headline_term(estimator: str, terms: list[str], head: str | None) -> None:
    assert headline_term(estimator, terms) == head


def test_grade_design_follows_the_design_when_its_estimator_ran() -> None:
    assert grade_design("lottery", design_estimator_ran=True) == "lottery"
    assert grade_design("scored_call", design_estimator_ran=True) == "rdd"
    assert grade_design("open_call", design_estimator_ran=True) == "did"
    for design in DESIGN_ESTIMATOR:
        assert grade_design(design, design_estimator_ran=False) == "did"
    assert set(GRADE_DESIGN.values()) == {"lottery", "rdd", "did"}


def test_grade_design_unknown() -> None:
    with pytest.raises(SpecificationError, match=r"design must be one of .* got 'rct'"):
        grade_design("rct", design_estimator_ran=True)


def test_lottery_headline_is_the_effect_on_users() -> None:
    est = _rows(("y", "att_gt_dr", "att"), ("y", "rct", "itt"), ("y", "rct", "first_stage"),
                ("y", "rct", "late"), ("z", "att_gt_dr", "att"), ("z", "rct", "itt"))
    out = mark_headlines(est, "lottery")
    assert _heads(out) == [("y", "rct", "late"), ("z", "rct", "itt")]
    assert "headline" not in est.columns  # the caller's frame is not modified


def test_design_estimator_missing_for_an_outcome_keeps_the_did() -> None:
    est = _rows(("y", "att_gt_reg", "att"), ("z", "att_gt_dr", "att"), ("z", "rdd", "conventional"),
                ("z", "rdd", "robust"))
    assert _heads(mark_headlines(est, "scored_call")) == [("y", "att_gt_reg", "att"), ("z", "rdd", "robust")]


def test_open_call_headline_is_the_did_even_beside_other_rows() -> None:
    est = _rows(("y", "rdd", "robust"), ("y", "att_gt_dr", "att"))
    assert _heads(mark_headlines(est, "open_call")) == [("y", "att_gt_dr", "att")]


def test_one_headline_per_outcome_on_the_default_evidence() -> None:
    from pathlib import Path

    from ipf_eval.evidence import evidence_frame, read_evidence

    frame = evidence_frame(read_evidence(Path(__file__).parents[1] / "notebooks" / "evidence"))
    for (_, _, design), grp in frame.groupby(["country", "instrument", "design"]):
        redone = mark_headlines(grp.drop(columns="headline"), str(design))
        assert redone["headline"].tolist() == grp["headline"].tolist()
        assert (grp.groupby("outcome")["headline"].sum() == 1).all()


def test_empty_estimates() -> None:
    out = mark_headlines(pd.DataFrame(columns=["outcome", "estimator", "term"]), "lottery")
    assert out["headline"].tolist() == []
