"""Twinning (issue 16): what an instrument evaluated in CC would achieve in DD's mix of firms.

* Known truth: hand-built size-class effects and mixes; the twin equals the hand-computed reweighted
  effect and standard error, and the extrapolation rule (classes CC could not estimate respond like CC's
  DD-weighted average of the others) holds.
* Two code paths: with DD's mix equal to CC's, the twin is CC's mix-weighted size-class average; with one
  source, it equals the forum's transferability matrix.
* Every refusal raises a typed error with a clear message.
* The sentence and section in units, the not-significant wording, the simulated-data label.
* ``ipf-eval twin`` on a small rendered batch, from its evidence folder and from its bundles.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _evidence_helpers import estimate_row
from _pipeline_helpers import instrument_yaml, make_project, write_yaml

from ipf_eval.errors import DataError, EstimationError, SpecificationError
from ipf_eval.evidence import validate_table
from ipf_eval.evidence.schema import empty_table
from ipf_eval.pipeline import twin_report
from ipf_eval.pipeline.display import Banner, Table, Text
from ipf_eval.synthesis import forum, twinning

Z = 1.959963984540054  # scipy.stats.norm.isf(0.025)
AT = {"micro": (0.10, 0.02), "small": (0.04, 0.01), "medium": (0.01, 0.03)}
AT_MIX = {"micro": 0.7, "small": 0.2, "medium": 0.1}
DK_MIX = {"micro": 0.5, "small": 0.3, "medium": 0.2}


def het_rows(country: str, effects: dict[str, tuple[float, float] | None], *, instrument: str = "voucher",
             outcome: str = "log_turnover", estimator: str = "rct",
             term: str = "late") -> list[dict[str, Any]]:
    rows = []
    for size, eff in effects.items():
        est, se = eff if eff is not None else (math.nan, math.nan)
        rows.append({"country": country, "instrument": instrument, "outcome": outcome, "size_class": size,
                     "estimator": estimator, "term": term, "estimate": est, "std_error": se,
                     "ci_low": est - Z * se, "ci_high": est + Z * se, "true_value": math.nan,
                     "note": "" if eff is not None else "fewer than 20 applicants on a side: not estimated"})
    return rows


def mix_rows(country: str, shares: dict[str, float], *, instrument: str = "voucher") -> list[dict[str, Any]]:
    return [{"country": country, "instrument": instrument, "size_class": s, "share": v}
            for s, v in shares.items()]


def head_rows(*countries: str, instrument: str = "voucher", outcome: str = "log_turnover",
              **over: Any) -> list[dict[str, Any]]:
    return [estimate_row(c, instrument, outcome, design="lottery", estimator="rct", term="late",
                         estimate=0.05, std_error=0.02, ci_low=0.0108, ci_high=0.0892, evidence_grade=4,
                         grade_design="lottery", **over) for c in countries]


def frames(het: list[dict[str, Any]], mix: list[dict[str, Any]], heads: list[dict[str, Any]]
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three inputs as the synthesis builds them from evidence records (validated by the schema)."""
    def table(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
        return validate_table(name, pd.DataFrame(rows)) if rows else empty_table(name)

    return (table("heterogeneity", het), table("population_mix", mix),
            forum.headline_estimates(table("estimates", heads)))


@pytest.fixture
def basic() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return frames(het_rows("AT", AT), mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX), head_rows("AT", "DK"))


# --- known truth --------------------------------------------------------------------------------------------

def test_the_twin_is_the_hand_computed_reweighted_effect(basic: tuple[pd.DataFrame, ...]) -> None:
    het, mix, heads = basic
    before = [f.copy() for f in basic]
    t = twinning.twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher")
    est = 0.5 * 0.10 + 0.3 * 0.04 + 0.2 * 0.01
    se = math.sqrt(0.5**2 * 0.02**2 + 0.3**2 * 0.01**2 + 0.2**2 * 0.03**2)
    assert t.estimate == pytest.approx(est, rel=1e-12, abs=1e-14)
    assert t.std_error == pytest.approx(se, rel=1e-12)
    assert (t.ci_low, t.ci_high) == pytest.approx((est - Z * se, est + Z * se), rel=1e-10)
    assert t.p_value == pytest.approx(math.erfc(abs(est / se) / math.sqrt(2)), rel=1e-9)
    assert t.extrapolated_share == 0.0
    assert t.extrapolated_classes == ()
    assert (t.source, t.target, t.instrument, t.outcome) == ("AT", "DK", "voucher", "log_turnover")
    assert (t.estimator, t.term, t.grade) == ("rct", "late", 4)
    assert (t.source_estimate, t.source_ci_low, t.source_ci_high) == (0.05, 0.0108, 0.0892)
    assert t.data_source == "simulated"
    assert t.simulated
    assert t.significant
    assert [c["weight"] for c in t.cells] == pytest.approx([0.5, 0.3, 0.2], rel=1e-12)
    for frame, copy in zip(basic, before, strict=True):  # the caller's frames are not modified
        pd.testing.assert_frame_equal(frame, copy)
    assert json.loads(json.dumps(t.to_dict()))["estimate"] == pytest.approx(est)
    assert t.to_frame()["term"].tolist() == ["twin_effect"]
    assert "Twinning" in str(t)


def test_the_extrapolated_share_and_its_rule() -> None:
    """Classes CC could not estimate get CC's average of the others weighted by DD's mix."""
    effects = {"micro": AT["micro"], "small": AT["small"], "medium": None}
    dk = {"micro": 0.5, "small": 0.3, "medium": 0.15, "large": 0.05}
    het, mix, heads = frames(het_rows("AT", effects), mix_rows("DK", dk), head_rows("AT"))
    t = twinning.twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher")
    assert t.extrapolated_share == pytest.approx(0.2, rel=1e-12)
    assert t.extrapolated_classes == ("medium", "large")
    w = np.array([0.5, 0.3]) / 0.8
    est = float(w @ [0.10, 0.04])
    assert t.estimate == pytest.approx(est, rel=1e-12)
    assert t.std_error == pytest.approx(math.sqrt(float(w**2 @ [0.02**2, 0.01**2])), rel=1e-12)
    # the rule: the same as giving each unestimated class the covered classes' DD-weighted average
    assert t.estimate == pytest.approx(0.5 * 0.10 + 0.3 * 0.04 + 0.2 * est, rel=1e-12)
    status = {c["size_class"]: c["status"] for c in t.cells}
    assert status == {"micro": "covered", "small": "covered", "medium": "extrapolated",
                      "large": "extrapolated"}
    medium = next(c for c in t.cells if c["size_class"] == "medium")
    assert "fewer than 20 applicants" in medium["note"]
    assert medium["weight"] == 0.0


# --- second code paths --------------------------------------------------------------------------------------

def test_with_the_source_mix_the_twin_is_the_sources_mix_weighted_average() -> None:
    het, mix, heads = frames(het_rows("AT", AT), mix_rows("AT", AT_MIX) + mix_rows("DK", AT_MIX),
                             head_rows("AT", "DK"))
    t = twinning.twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher")
    sizes = list(AT)
    shares = np.array([AT_MIX[s] for s in sizes])
    effects = np.array([AT[s][0] for s in sizes])
    ses = np.array([AT[s][1] for s in sizes])
    assert t.estimate == pytest.approx(float(np.average(effects, weights=shares)), rel=1e-12)
    assert t.std_error == pytest.approx(float(np.sqrt(np.sum((shares * ses) ** 2))), rel=1e-12)


def test_one_source_agrees_with_the_forum_transferability_matrix(basic: tuple[pd.DataFrame, ...]) -> None:
    het, mix, heads = basic
    kept = heads.loc[heads["country"] == "AT"]
    matrix = forum.transferability_matrix(het, mix, kept=kept, countries=["AT", "DK"])
    cell = matrix.cells.loc[matrix.cells["target"] == "DK"].iloc[0]
    t = twinning.twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher")
    assert t.estimate == pytest.approx(float(cell["estimate"]), rel=1e-12)
    assert t.std_error == pytest.approx(float(cell["std_error"]), rel=1e-12)


# --- the primary outcome ------------------------------------------------------------------------------------

def test_outcome_none_means_the_primary_outcome() -> None:
    het = het_rows("AT", AT) + het_rows("AT", {"micro": (0.3, 0.1), "small": (0.1, 0.1)},
                                         outcome="log_employment")
    heads = head_rows("AT") + head_rows("AT", outcome="log_employment")
    h, m, hd = frames(het, mix_rows("DK", DK_MIX), heads)
    with pytest.raises(SpecificationError, match="primary outcome of 'voucher', which the evidence records"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher")
    t = twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher",
                               primary_outcomes={"voucher": "log_employment"})
    assert t.outcome == "log_employment"
    assert twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher",
                                  outcome="log_turnover").outcome == "log_turnover"
    single = frames(het_rows("AT", AT), mix_rows("DK", DK_MIX), head_rows("AT"))
    assert twinning.twin_estimate(*single, source="AT", target="DK", instrument="voucher").outcome == \
        "log_turnover"  # one outcome with size-class estimates: that one


# --- refusals -----------------------------------------------------------------------------------------------

def test_unknown_countries_and_source_equal_to_target(basic: tuple[pd.DataFrame, ...]) -> None:
    with pytest.raises(SpecificationError, match=r"source 'XX' is not a country of the evidence.*'AT', 'DK'"):
        twinning.twin_estimate(*basic, source="XX", target="DK", instrument="voucher")
    with pytest.raises(SpecificationError, match="target 'SE' is not a country"):
        twinning.twin_estimate(*basic, source="AT", target="SE", instrument="voucher")
    with pytest.raises(SpecificationError, match="source and target are both 'AT'"):
        twinning.twin_estimate(*basic, source="AT", target="AT", instrument="voucher")


def test_no_size_class_estimates_in_the_source() -> None:
    het = het_rows("AT", AT) + het_rows("DK", {"micro": None, "small": None})
    h, m, hd = frames(het, mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX), head_rows("AT", "DK"))
    with pytest.raises(DataError, match=r"AT has no size-class estimates of instrument 'grant' \(it has "
                                        r"no size-class rows of it.*\); AT has size-class estimates of "
                                        r"\['voucher'\]"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="grant")
    with pytest.raises(DataError, match="DK has no size-class estimates of instrument 'voucher' \\(none of "
                                        "its size classes could be estimated"):
        twinning.twin_estimate(h, m, hd, source="DK", target="AT", instrument="voucher")


def test_an_outcome_not_estimated_or_not_listed() -> None:
    het = het_rows("AT", AT) + het_rows("AT", {"micro": None}, outcome="exporter")
    h, m, hd = frames(het, mix_rows("DK", DK_MIX), head_rows("AT"))
    with pytest.raises(DataError, match="AT could not estimate the effect of 'voucher' on 'exporter' in any "
                                        "size class \\(fewer than 20 applicants"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher", outcome="exporter")
    with pytest.raises(SpecificationError, match="outcome 'alive' has no size-class rows of 'voucher' in AT"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher", outcome="alive")


def test_a_target_without_a_population_mix() -> None:
    h, m, hd = frames(het_rows("AT", AT), mix_rows("AT", AT_MIX), head_rows("AT", "DK"))
    with pytest.raises(DataError, match="DK has no population mix in the evidence"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher")


def test_no_usable_headline_means_no_grade_to_rest_on() -> None:
    h, m, hd = frames(het_rows("AT", AT), mix_rows("DK", DK_MIX),
                      head_rows("AT", stale=True) + head_rows("DK"))  # AT's latest run failed
    with pytest.raises(DataError, match="AT has no usable headline estimate of 'voucher' on 'log_turnover'"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher")


def test_no_target_firm_in_an_estimated_class() -> None:
    h, m, hd = frames(het_rows("AT", {"medium": AT["medium"]}), mix_rows("DK", {"micro": 0.6, "small": 0.4}),
                      head_rows("AT"))
    with pytest.raises(EstimationError, match="none of DK's firms is in a size class AT estimated"):
        twinning.twin_estimate(h, m, hd, source="AT", target="DK", instrument="voucher")


def test_bad_options(basic: tuple[pd.DataFrame, ...]) -> None:
    with pytest.raises(SpecificationError, match="alpha of twin_estimate"):
        twinning.twin_estimate(*basic, source="AT", target="DK", instrument="voucher", alpha=5)
    with pytest.raises(SpecificationError, match="target_country"):
        twinning.twin_estimate(*basic, source="AT", target_country="DK", instrument="voucher")  # type: ignore[call-arg]
    with pytest.raises(DataError, match="column 'share'"):
        twinning.twin_estimate(basic[0], basic[1].drop(columns="share"), basic[2], source="AT", target="DK",
                               instrument="voucher")
    with pytest.raises(SpecificationError, match="no country has size-class estimates of \\['grant'\\]"):
        twinning.twin_table(*basic, instrument="grant")


# --- the table of every pair --------------------------------------------------------------------------------

def test_twin_table_has_every_pair_and_says_which_could_not_be_twinned() -> None:
    het = het_rows("AT", AT) + het_rows("DK", {"micro": (0.02, 0.01), "small": (-0.01, 0.02)}) + \
        het_rows("FI", {"micro": (0.05, 0.01)})
    mix = mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX) + mix_rows("FI", {"micro": 0.8, "small": 0.2},
                                                                      instrument="grant")
    h, m, hd = frames(het, mix, head_rows("AT", "DK"))  # FI: no headline of voucher
    table = twinning.twin_table(h, m, hd)
    pairs = list(table.rows[["source", "target"]].itertuples(index=False, name=None))
    assert pairs == [("AT", "DK"), ("AT", "FI"), ("DK", "AT"), ("DK", "FI")]
    assert list(table.rows.columns) == list(twinning.TWIN_COLUMNS)
    for t in table.twins:
        again = twinning.twin_estimate(h, m, hd, source=t.source, target=t.target, instrument="voucher")
        assert (t.estimate, t.std_error) == (again.estimate, again.std_error)
    assert any("from FI: FI has no usable headline" in e for e in table.errors)
    fi = next(t for t in table.twins if t.target == "FI")
    assert "FI does not evaluate voucher: its mix of firms is taken from its record of grant" in fi.notes
    assert len(table.for_group("voucher", "log_turnover")) == 4
    only = twinning.twin_table(h, m, hd, instrument="voucher", sources=["AT"], targets=["FI"])
    assert list(only.rows["target"]) == ["FI"]


# --- in words and units -------------------------------------------------------------------------------------

def _twin(effects: dict[str, tuple[float, float] | None], *, outcome: str = "log_turnover",
          data_source: str = "simulated") -> twinning.TwinEstimate:
    het, mix, heads = frames(het_rows("AT", effects, outcome=outcome),
                             mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX),
                             head_rows("AT", "DK", outcome=outcome, data_source=data_source))
    return twinning.twin_estimate(het, mix, heads, source="AT", target="DK", instrument="voucher")


def test_the_sentence_in_units() -> None:
    t = _twin({"micro": (0.06, 0.01), "small": (0.02, 0.01), "medium": None})
    # 0.5 / 0.8 * 0.06 + 0.3 / 0.8 * 0.02 = 0.045 log points: +4.6 %; se 0.0072887, interval e^(0.045 -+
    # 1.96 se) - 1 = +3.1 % to +6.1 %
    assert twin_report.twin_sentence(t, label="Innovation vouchers") == (
        "Copied to DK, Innovation vouchers would raise turnover by about 4.6 % (95 % interval +3.1 % to "
        "+6.1 %), from AT's evaluation (evidence grade: Maryland level 4 of 5); 20 % of DK's firms are in "
        "size classes AT could not estimate (medium), assumed to respond like AT's others.")
    full = _twin({"micro": (-0.06, 0.01), "small": (-0.02, 0.01), "medium": (-0.01, 0.01)})
    text = twin_report.twin_sentence(full)
    assert text.startswith("Copied to DK, Voucher would lower turnover by about ")
    assert text.endswith("AT estimated every size class of DK's firms.")


def test_the_not_significant_wording_and_euro() -> None:
    t = _twin({"micro": (0.01, 0.02), "small": (-0.01, 0.02), "medium": (0.0, 0.02)}, outcome="exporter")
    text = twin_report.twin_sentence(t)
    assert "would change the share of firms that export by about +0.2 percentage points" in text
    assert "an effect not distinguishable from zero" in text
    assert "raise" not in text
    euro = _twin({"micro": (20_000.0, 5_000.0), "small": (10_000.0, 4_000.0), "medium": (0.0, 9_000.0)},
                 outcome="rd_spending")
    assert "would raise R&D spending by about EUR 13,000 per supported firm (95 % interval +EUR" in \
        twin_report.twin_sentence(euro)


def test_the_section_labels_simulated_data_and_counts_twins_not_told_from_zero() -> None:
    het = het_rows("AT", AT) + het_rows("DK", {"micro": (0.01, 0.05), "small": (0.0, 0.05)})
    h, m, hd = frames(het, mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX) + mix_rows("FI", DK_MIX),
                      head_rows("AT", "DK"))
    items = twin_report.twin_section(twinning.twin_table(h, m, hd), labels={"voucher": "Innovation vouchers"})
    assert isinstance(items[0], Banner)
    texts = [i.markdown for i in items if isinstance(i, Text)]
    assert "**Innovation vouchers: effect on turnover**" in texts
    assert "2 of these 4 twins are not distinguishable from zero" in " ".join(texts)
    table = next(i for i in items if isinstance(i, Table))
    assert list(table.frame["distinguishable from zero"]) == ["yes", "yes", "no", "no"]
    assert table.frame["from"].iloc[0] == "AT (grade 4)"
    real = frames(het_rows("AT", AT), mix_rows("DK", DK_MIX), head_rows("AT", "DK", data_source="file"))
    assert not any(isinstance(i, Banner) for i in twin_report.twin_section(twinning.twin_table(*real)))
    empty = twin_report.twin_section(twinning.twin_table(*frames([], [], head_rows("AT"))))
    assert "nothing can be twinned" in empty[0].markdown  # type: ignore[attr-defined]



def test_the_summary_has_one_row_per_instrument_and_outcome_and_counts_directions() -> None:
    het = (het_rows("AT", AT) + het_rows("DK", {"micro": (0.01, 0.05), "small": (0.0, 0.05)})
           + het_rows("AT", {"micro": (-0.2, 0.01), "small": (-0.1, 0.01)}, outcome="exporter"))
    h, m, hd = frames(het, mix_rows("AT", AT_MIX) + mix_rows("DK", DK_MIX) + mix_rows("FI", DK_MIX),
                      head_rows("AT", "DK") + head_rows("AT", outcome="exporter"))
    table = twinning.twin_table(h, m, hd)
    items = twin_report.twin_summary_section(table, labels={"voucher": "Innovation vouchers"},
                                             detail="Every pair is on the instrument's page <here>.")
    assert isinstance(items[0], Banner)
    summary = next(i for i in items if isinstance(i, Table)).frame
    assert list(summary["outcome"]) == ["the share of firms that export", "turnover"]
    assert set(summary["instrument"]) == {"Innovation vouchers"}
    turnover = summary.loc[summary["outcome"] == "turnover"].iloc[0]
    assert turnover["twins"] == "4"
    assert turnover["from"] == "AT, DK"
    # AT's two twins are beneficial and told from zero, DK's two are not (as in the section's test)
    assert turnover["distinguishable from zero"] == "2 beneficial of 4"
    effects = [t.estimate for t in table.twins if t.outcome == "log_turnover"]
    low = twin_report._parts(min(effects), math.nan, math.nan, "log_turnover", 0.05)[0]
    assert turnover["effects in the targets' SME mix"].startswith(low.removesuffix(" %"))
    exporter = summary.loc[summary["outcome"] != "turnover"].iloc[0]
    assert exporter["distinguishable from zero"] == "2 harmful of 2"
    assert exporter["effects in the targets' SME mix"].endswith(" percentage points")
    assert exporter["effects in the targets' SME mix"].count("percentage points") == 1
    assert "&lt;here&gt;" in items[-1].markdown  # type: ignore[attr-defined]
    # the per-pair section shows every twin; the summary only one row per instrument and outcome
    pairs = [i for i in twin_report.twin_section(table) if isinstance(i, Table)]
    assert sum(len(t.frame) for t in pairs) == len(table.twins) == 6
    empty = twin_report.twin_summary_section(twinning.twin_table(*frames([], [], head_rows("AT"))))
    assert "nothing can be twinned" in empty[0].markdown  # type: ignore[attr-defined]


def test_the_instrument_page_section_says_why_there_are_no_twins() -> None:
    items = twin_report.instrument_twins_section([], instrument="voucher", sources=["AT"], targets=["AT"])
    assert len(items) == 1
    assert "cannot be twinned" in items[0].markdown  # type: ignore[attr-defined]

def test_the_page_is_standalone_labelled_and_escaped() -> None:
    t = _twin(AT)
    page = twin_report.twin_page(t, label="Vouchers <R&D>")
    assert page.startswith("<!DOCTYPE html>")
    assert "id='data-banner'" in page
    assert "Vouchers &lt;R&amp;D&gt;" in page
    assert "<R&D>" not in page
    assert "http" not in page  # nothing loaded from the network
    assert "data-banner" not in twin_report.twin_page(_twin(AT, data_source="file"))


# --- the command line on a small rendered batch -------------------------------------------------------------

COUNTRIES = ("AT", "DK", "FI")
EFFECTS = {"AT": {"micro": (0.08, 0.02), "small": (0.04, 0.02), "medium": None},
           "DK": {"micro": (0.01, 0.03), "small": (0.0, 0.03), "medium": (0.02, 0.03)}}
MIXES = {"AT": AT_MIX, "DK": DK_MIX, "FI": {"micro": 0.6, "small": 0.3, "medium": 0.1}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """A fixture batch of three countries, with size-class effects and mixes added to its records."""
    from ipf_eval.evidence import read_evidence, write_evidence
    from ipf_eval.pipeline import build_plan, run_batch
    from ipf_eval.pipeline import runner as runner_mod
    from ipf_eval.pipeline.bundle import export_bundle

    root = tmp_path_factory.mktemp("twin")
    mp = pytest.MonkeyPatch()
    mp.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = make_project(root, {c: ["alpha"] for c in COUNTRIES}, batch={"synthesis": False})
    write_yaml(root / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["log_turnover", "log_employment"],
                               primary_outcome="log_employment"))
    plan = build_plan(batch)
    report = run_batch(plan, progress=False)
    mp.undo()
    assert report.exit_code == 0, report.summary_table()
    for rec in read_evidence(plan.evidence_dir):
        code = rec["country"]
        het = [r for o in ("log_turnover", "log_employment")
               for r in het_rows(code, EFFECTS.get(code, {}), instrument="alpha", outcome=o)]
        rows = json.loads(pd.DataFrame(het).to_json(orient="records")) if het else []  # NaN as null
        rec["tables"]["heterogeneity"] = rows
        rec["tables"]["population_mix"] = mix_rows(code, MIXES[code], instrument="alpha")
        write_evidence(plan.evidence_dir / f"{code}__alpha.json", rec)
    out = root / "bundles"
    return batch, {c: export_bundle(plan, c, out=out / f"{c}.zip") for c in COUNTRIES}


def _expected_employment_text() -> str:
    from ipf_eval.pipeline.formatting import effect_in_units

    w = np.array([0.6, 0.3]) / 0.9  # FI's mix over the classes AT estimated
    est = float(w @ [0.08, 0.04])
    se = math.sqrt(float(w**2 @ [0.02**2, 0.02**2]))
    return effect_in_units(est, est - Z * se, est + Z * se, scale="log").text.split(" (")[0].lstrip("+")


@pytest.mark.slow
def test_cli_twin_from_the_evidence_folder(rendered: tuple[Path, dict[str, Path]], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from ipf_eval.pipeline import cli

    batch, _ = rendered
    page = tmp_path / "out" / "twin.html"
    code = cli.main(["twin", "--from", "AT", "--to", "FI", "--instrument", "alpha", "--params", str(batch),
                     "--out", str(page)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("SIMULATED DATA.")
    # the primary outcome of the instrument file (log_employment, not its first outcome)
    assert f"Copied to FI, Alpha would raise employment by about {_expected_employment_text()} (95 % " in out
    assert "from AT's evaluation (evidence grade: Maryland level 3 of 5); 10 % of FI's firms" in out
    assert "assumed like the others" in out  # the table of size classes (medium: not estimated)
    html = page.read_text(encoding="utf-8")
    assert "id='data-banner'" in html
    assert "Copied to FI" in html
    assert not list(page.parent.glob(".ipf-eval-tmp-*"))
    assert cli.main(["twin", "--from", "AT", "--to", "FI", "--instrument", "alpha", "--outcome",
                     "log_turnover", "--params", str(batch)]) == 0
    assert "would raise turnover" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_twin_from_bundles_matches_the_evidence_folder(rendered: tuple[Path, dict[str, Path]],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from ipf_eval.pipeline import cli

    batch, bundles = rendered
    args = ["twin", "--from", "AT", "--to", "FI", "--instrument", "alpha"]
    assert cli.main([*args, "--params", str(batch)]) == 0
    direct = capsys.readouterr().out
    assert cli.main([*args, "--bundles", *map(str, bundles.values())]) == 0
    assert capsys.readouterr().out == direct  # the primary outcome travels in the bundle's instrument file


@pytest.mark.slow
def test_cli_twin_refusals_exit_2(rendered: tuple[Path, dict[str, Path]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ipf_eval.pipeline import cli

    batch, _ = rendered
    cases = [(["--from", "AT", "--to", "SE", "--instrument", "alpha"], "target 'SE' is not a country"),
             (["--from", "AT", "--to", "AT", "--instrument", "alpha"], "source and target are both 'AT'"),
             (["--from", "FI", "--to", "AT", "--instrument", "alpha"], "FI has no size-class estimates"),
             (["--from", "AT", "--to", "DK", "--instrument", "beta"], "no size-class estimates of instrument "
                                                                      "'beta'")]
    for extra, message in cases:
        assert cli.main(["twin", *extra, "--params", str(batch)]) == 2
        captured = capsys.readouterr()
        assert message in captured.err
        assert captured.out == ""
    assert cli.main(["twin", "--from", "AT", "--to", "DK", "--instrument", "alpha", "--params",
                     str(batch.parent / "missing.yaml")]) == 2
    assert "invalid parameters" in capsys.readouterr().err
