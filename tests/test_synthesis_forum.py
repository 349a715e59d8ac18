"""The forum's synthesis rules on evidence records (ipf_eval.synthesis.forum) and a country's verdicts
(ipf_eval.synthesis.country)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipf_eval.evidence import evidence_frame, evidence_table, read_evidence
from ipf_eval.synthesis import meta_analysis, transferability
from ipf_eval.synthesis.country import VERDICT_WORDS, country_verdicts
from ipf_eval.synthesis.forum import (
    headline_estimates,
    pool_headlines,
    pooling_family,
    ranked_recommendations,
    select_families,
    transferability_matrix,
)

COMMITTED = Path(__file__).resolve().parents[1] / "notebooks" / "evidence"


@pytest.fixture(scope="module")
def records() -> list[dict[str, object]]:
    return read_evidence(COMMITTED)


@pytest.fixture(scope="module")
def frame(records: list[dict[str, object]]) -> pd.DataFrame:
    return evidence_frame(records)


def test_pooling_family() -> None:
    assert pooling_family("att_gt_dr", "att") == pooling_family("att_gt_reg", "att") == "att_gt"
    assert pooling_family("rct", "late") == "rct late"


def test_headline_estimates_keep_headlines_with_a_standard_error(frame: pd.DataFrame) -> None:
    heads = headline_estimates(frame, countries=["AT", "DK"])
    assert heads["headline"].all()
    assert (heads["std_error"] > 0).all()
    assert set(heads["country"]) == {"AT", "DK"}
    assert len(headline_estimates(frame)) == int((frame["headline"] & (frame["std_error"] > 0)).sum())
    assert heads["grade"].dtype.kind == "i"


def _row(country: str, estimator: str, term: str, grade: int, estimate: float = 0.1) -> dict[str, object]:
    return {"country": country, "instrument": "voucher", "outcome": "y", "estimator": estimator, "term": term,
            "estimate": estimate, "std_error": 0.05, "family": pooling_family(estimator, term),
            "grade": grade,
            "estimand": "e", "headline": True}


def test_the_family_most_countries_report_is_pooled() -> None:
    frame = pd.DataFrame([_row("AT", "rct", "late", 5), _row("DK", "rct", "late", 5),
                          _row("ES", "att_gt_dr", "att", 3), _row("FI", "rct", "late", 5)])
    sel = select_families(frame)
    assert sel.kept["country"].tolist() == ["AT", "DK", "FI"]
    assert sel.left_out == ("voucher / y: ES (att_gt_dr, att; the group pools rct late)",)


def test_family_ties_go_to_the_higher_grade_then_the_name() -> None:
    tie = pd.DataFrame([_row("AT", "att_gt_dr", "att", 3), _row("DK", "rct", "late", 5)])
    assert select_families(tie).kept["country"].tolist() == ["DK"]
    same_grade = pd.DataFrame([_row("AT", "rdd", "robust", 4), _row("DK", "rct", "itt", 4)])
    assert select_families(same_grade).kept["family"].tolist() == ["rct itt"]  # alphabetical
    assert select_families(tie.iloc[0:0]).kept.empty


def test_pool_headlines_is_the_meta_analysis_of_each_group(frame: pd.DataFrame) -> None:
    kept = select_families(headline_estimates(frame)).kept
    pooled = pool_headlines(kept)
    assert not pooled.errors
    assert len(pooled.table) == len(pooled.metas) > 0
    designs = kept.groupby("instrument")["design"].first()
    for row in pooled.table.to_dict(orient="records"):
        grp = kept.loc[(kept["instrument"] == row["instrument"]) & (kept["outcome"] == row["outcome"])]
        assert row["countries"] == grp["country"].nunique() >= 3
        direct = meta_analysis(grp.reset_index(drop=True), label="country").to_frame().iloc[0]
        assert row["estimate"] == direct["estimate"]
        assert row["ci_low"] == direct["ci_low"]
        own = {"lottery": "rct (late)", "scored_call": "rdd (robust)"}.get(designs[row["instrument"]])
        if own:  # lotteries pool effects on users, scored calls RDD estimates: never the DiD
            assert row["estimator"] == own
            assert "one-year change" in row["estimand"]
        else:
            assert row["estimator"].startswith("att_gt")
            assert row["estimator"].endswith("(att)")
    few = pool_headlines(kept.loc[kept["country"].isin(["AT", "DK"])])
    assert few.table.empty  # fewer than 3 countries: nothing pooled


def test_transferability_matrix_reweights_pooled_size_class_effects(records: list[dict[str, object]]) -> None:
    het = evidence_table(records, "heterogeneity")
    mix = evidence_table(records, "population_mix")
    countries = ["AT", "DK", "ES", "FI", "NO", "PL"]
    matrix = transferability_matrix(het, mix, countries=countries)
    assert not matrix.errors
    cells = matrix.cells
    assert set(cells["target"]) == set(countries)
    # one cell by hand: export support in Poland
    one = cells.loc[(cells["instrument"] == "export_support") & (cells["target"] == "PL")].iloc[0]
    src = het.loc[(het["instrument"] == "export_support") & het["std_error"].gt(0)]
    pooled = []
    for size, sub in src.groupby("size_class", sort=True):
        if len(sub) >= 2:
            m = meta_analysis(sub.reset_index(drop=True), label="country").to_dict()
            pooled.append({"size_class": size, "estimate": m["estimate"], "std_error": m["std_error"]})
        else:
            pooled.append({"size_class": size, "estimate": sub["estimate"].iloc[0],
                           "std_error": sub["std_error"].iloc[0]})
    target = mix.loc[mix["country"] == "PL"].drop_duplicates("size_class")[["size_class", "share"]]
    tr = transferability(pd.DataFrame(pooled), target_mix=target.reset_index(drop=True),
                         cells=("size_class",),
                         on_extrapolation="ignore")
    assert one["estimate"] == tr.estimate
    assert one["extrapolated"] == tr.extrapolation
    wide = matrix.wide()
    assert list(wide.columns) == ["instrument", "outcome", *sorted(countries)]
    assert transferability_matrix(het.iloc[0:0], mix, countries=countries).wide().empty


def test_ranked_recommendations_name_their_estimators(frame: pd.DataFrame) -> None:
    kept = select_families(headline_estimates(frame)).kept
    recs, ranked = ranked_recommendations(kept)
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    voucher = ranked.loc[ranked["instrument"] == "innovation_voucher"]
    assert len(voucher)
    assert set(voucher["estimator"]) == {"rct"}
    assert len(recs.to_frame()) == len(ranked)


@pytest.mark.parametrize(("estimates", "p_values", "verdict"), [
    ([0.2, 0.1], [0.01, 0.50], "keep"),
    ([0.2, -0.1], [0.01, 0.01], "review"),
    ([0.2, -0.1], [0.20, 0.30], "no_effect"),
    ([-0.2], [0.001], "review"),
    ([0.2, 0.1], [0.01, 0.01], "weak_evidence"),  # every gain graded below level 3
])
def test_country_verdict_rules(estimates: list[float], p_values: list[float], verdict: str) -> None:
    grade = 2 if verdict == "weak_evidence" else 3
    heads = pd.DataFrame({"instrument": "voucher", "outcome": [f"y{i}" for i in range(len(estimates))],
                          "estimate": estimates, "p_value": p_values, "evidence_grade": grade})
    (v,) = country_verdicts(heads, instruments=["voucher"], labels={"voucher": "Vouchers"})
    assert v.verdict == verdict
    assert v.label == "Vouchers"
    assert v.grades == (grade,)
    assert v.wording.startswith(VERDICT_WORDS[verdict])
    if verdict == "keep":
        assert v.gains == ("y0",)
        assert v.wording.endswith("significant gains in y0")


def test_country_verdicts_on_the_default_evidence(frame: pd.DataFrame) -> None:
    at = frame.loc[(frame["country"] == "AT") & frame["headline"]]
    verdicts = {v.instrument: v for v in country_verdicts(at, instruments=sorted(set(at["instrument"])))}
    assert verdicts["innovation_voucher"].grades == (5,)
    for v in verdicts.values():
        sig = at.loc[(at["instrument"] == v.instrument) & (at["p_value"] < 0.05)]
        assert set(v.gains) == set(sig.loc[sig["estimate"] > 0, "outcome"])
    assert np.isfinite(at["estimate"]).all()
