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


def _pooled_by_hand(src: pd.DataFrame) -> pd.DataFrame:
    pooled = []
    for size, sub in src.groupby("size_class", sort=True):
        if len(sub) >= 2:
            m = meta_analysis(sub.reset_index(drop=True), label="country").to_dict()
            pooled.append({"size_class": size, "estimate": m["estimate"], "std_error": m["std_error"]})
        else:
            pooled.append({"size_class": size, "estimate": sub["estimate"].iloc[0],
                           "std_error": sub["std_error"].iloc[0]})
    return pd.DataFrame(pooled)


COUNTRIES = ["AT", "DK", "ES", "FI", "NO", "PL"]


@pytest.fixture(scope="module")
def transfer_inputs(records: list[dict[str, object]], frame: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[tuple[str, str], float]]:
    kept = select_families(headline_estimates(frame)).kept
    _, ranked = ranked_recommendations(kept)
    between = {(r["instrument"], r["outcome"]): r["tau2"] for _, r in ranked.iterrows()}
    return (evidence_table(records, "heterogeneity"), evidence_table(records, "population_mix"), kept,
            between)


def test_transferability_reweights_the_pooled_estimators_size_class_effects(
        transfer_inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[tuple[str, str], float]]
) -> None:
    het, mix, kept, between = transfer_inputs
    matrix = transferability_matrix(het, mix, kept=kept, countries=COUNTRIES, between=between)
    assert not matrix.errors
    cells = matrix.cells
    assert set(cells["target"]) == set(COUNTRIES)
    # every prediction rests on the family and countries of the pooled estimate its recommendation uses
    for (inst, outcome), grp in cells.groupby(["instrument", "outcome"]):
        pooled = kept.loc[(kept["instrument"] == inst) & (kept["outcome"] == outcome)]
        assert set(grp["family"]) == set(pooled["family"])
        assert set(", ".join(grp["sources"]).split(", ")) <= set(pooled["country"])
    designs = set(cells["family"])
    assert {"att_gt", "rct late", "rdd robust"} <= designs  # the design's own estimators, not the DiD
    # one cell by hand: the R&D grant's (a scored call's) effect on R&D spending in Poland
    one = cells.loc[(cells["instrument"] == "rd_grant") & (cells["outcome"] == "rd_spending")
                    & (cells["target"] == "PL")].iloc[0]
    sources = kept.loc[(kept["instrument"] == "rd_grant") & (kept["outcome"] == "rd_spending"), "country"]
    src = het.loc[(het["instrument"] == "rd_grant") & (het["outcome"] == "rd_spending")
                  & (het["estimator"] == "rdd") & het["country"].isin(sources) & het["std_error"].gt(0)]
    target = mix.loc[mix["country"] == "PL"].drop_duplicates("size_class")[["size_class", "share"]]
    tr = transferability(_pooled_by_hand(src), target_mix=target.reset_index(drop=True),
                         cells=("size_class",), on_extrapolation="ignore")
    assert one["estimate"] == tr.estimate
    assert one["ci_low"] == tr.ci_low
    assert one["extrapolated"] == tr.extrapolation
    tau2 = between[("rd_grant", "rd_spending")]
    half = 1.959963984540054 * np.sqrt(tr.std_error ** 2 + tau2)
    assert one["pi_low"] == pytest.approx(tr.estimate - half, rel=1e-12)
    assert one["pi_high"] - one["pi_low"] >= one["ci_high"] - one["ci_low"]


def test_transferability_ignores_other_estimators_and_countries(
        transfer_inputs: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[tuple[str, str], float]]
) -> None:
    het, mix, kept, _ = transfer_inputs
    base = transferability_matrix(het, mix, kept=kept, countries=COUNTRIES).cells
    # a DiD size-class row for the lottery, and a row from a country the pool left out, change nothing
    extra = het.loc[het["estimator"] == "rct"].head(3).assign(estimator="att_gt_dr", term="att",
                                                              estimate=99.0)
    inst = str(extra["instrument"].iloc[0])
    outsider = sorted(set(COUNTRIES) - set(kept.loc[kept["instrument"] == inst, "country"]))
    others = extra.assign(country=outsider[0], estimator="rct", term="late") if outsider else extra.iloc[0:0]
    extra = extra.assign(country="ZZ")
    moved = transferability_matrix(pd.concat([het, extra, others], ignore_index=True), mix, kept=kept,
                                   countries=COUNTRIES).cells
    pd.testing.assert_frame_equal(base, moved)
    empty = transferability_matrix(het.iloc[0:0], mix, kept=kept, countries=COUNTRIES)
    assert empty.cells.empty
    assert len(empty.errors) == kept.groupby(["instrument", "outcome"]).ngroups
    assert "no size-class estimates of" in empty.errors[0]


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
