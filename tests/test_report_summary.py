"""The first screen of the reports: banner, summary in units, costs that follow the evidence, findings.

* Simulated data get the banner on every page; an agency's own data get none; a mix says how many.
* The summary states each outcome in percent, euro or percentage points with its interval, the grade with
  its meaning, and a cost per outcome only where the effect's interval lies above zero.
* The landing pages hold one findings row per country and instrument; tables print counts as integers.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data import simulate_firms
from ipf_eval.evidence import evaluate_instrument, evidence_frame, evidence_table, read_evidence
from ipf_eval.pipeline.display import Table, data_banner
from ipf_eval.pipeline.summary import (
    cost_sentence,
    findings_rows,
    instrument_summary,
    money,
    outcome_sentence,
)

PROJECT = Path(__file__).resolve().parents[1]
INSTRUMENTS = PROJECT / "params" / "instruments"


@pytest.fixture(scope="module")
def evaluations() -> dict[str, Any]:
    sim = simulate_firms(seed=2024, n_firms=20_000)
    return {name: evaluate_instrument(sim.evaluation_sample("AT", name), INSTRUMENTS / f"{name}.yaml",
                                      seed=2024, created="2026-01-01T00:00:00Z")
            for name in ("loan_guarantee", "innovation_voucher", "rd_grant")}


def test_the_banner_follows_the_data_source() -> None:
    simulated = data_banner(["simulated", "simulated"], agency="FFG")
    assert simulated is not None
    assert "simulated firms" in repr(simulated)
    assert "not an evaluation of FFG" in repr(simulated)
    assert "id='data-banner'" in simulated.to_html()
    assert data_banner(["file", "file"]) is None
    assert data_banner([]) is None
    mixed = data_banner(["simulated", "file", "file"])
    assert mixed is not None
    assert "1 of 3 estimates" in repr(mixed)
    assert "<b>" not in data_banner(["simulated"], agency="<b>x</b>").to_html()  # type: ignore[union-attr]


def test_the_summary_speaks_in_units(evaluations: dict[str, Any]) -> None:
    for name, ev in evaluations.items():
        section = instrument_summary(ev, label=ev.instrument.label)
        text = repr(section)
        assert "id='summary'" in section._repr_html_()
        assert text.splitlines()[1].startswith(f"{ev.instrument.label}: ")
        assert f"Maryland level {ev.grade_of(ev.instrument.primary).level} of 5" in text
        for bad in ("log points", "inf", "nan", "e+", "log_employment"):
            assert bad not in text, (name, bad)
        assert len([i for i in section.items if "than without the support" in i]) == len(ev.headlines)
    lg = repr(instrument_summary(evaluations["loan_guarantee"], label="Loan guarantees"))
    assert "employment is" in lg
    assert "%" in lg
    assert "Cost per additional job: EUR" in lg


def test_the_log_effect_is_a_percent_with_transformed_ends(evaluations: dict[str, Any]) -> None:
    ev = evaluations["loan_guarantee"]
    row = ev.headlines.set_index("outcome").loc["log_employment"]
    sentence = outcome_sentence({**row.to_dict(), "outcome": "log_employment"})
    pct = 100 * math.expm1(float(row["estimate"]))
    low, high = (100 * math.expm1(float(row[c])) for c in ("ci_low", "ci_high"))
    assert f"{pct:.1f} % higher" in sentence
    assert f"+{low:.1f} % to +{high:.1f} %" in sentence


def test_costs_only_where_the_effect_is_above_zero(evaluations: dict[str, Any]) -> None:
    for ev in evaluations.values():
        for r in ev.headlines.to_dict(orient="records"):
            sentence = cost_sentence(r)
            if not np.isfinite(r["cost_per_outcome"]):
                assert sentence is None or "no cost per additional unit is given" in sentence
                assert r["cost_unit"] == ""
            else:
                assert r["ci_low"] > 0
                assert sentence is not None
                assert sentence.startswith("Cost per ")
    zero = {"outcome": "log_employment", "estimate": 0.01, "ci_low": -0.02, "ci_high": 0.04,
            "cost_per_outcome": float("nan"), "cost_unit": ""}
    assert "not distinguishable from zero" in str(cost_sentence(zero))
    negative = {**zero, "estimate": -0.05, "ci_low": -0.08, "ci_high": -0.02}
    assert "is negative" in str(cost_sentence(negative))
    assert cost_sentence({**zero, "outcome": "log_turnover"}) is None  # no cost unit
    assert money(2.1434) == "EUR 2.14"
    assert money(11_806.4) == "EUR 11,806"


def test_findings_have_one_row_per_country_and_instrument() -> None:
    rows = evidence_frame(read_evidence(PROJECT / "notebooks" / "evidence"))
    primaries = {(c, i): "log_employment" for c, i in rows[["country", "instrument"]].drop_duplicates()
                 .itertuples(index=False)}
    table = findings_rows(rows, primaries)
    assert len(table) == len(primaries)
    assert not table[["country", "instrument"]].duplicated().any()
    text = " ".join(table.astype(str).to_numpy().ravel())
    for bad in ("inf", "nan", "e+", ".000"):
        assert bad not in text
    assert set(table["data_source"]) == {"simulated"}
    assert table["grade"].str.fullmatch(r"level [1-5] of 5").all()


def test_tables_print_counts_as_integers() -> None:
    html = Table(pd.DataFrame({"n_firms": [1471.0, 5.0], "share": [0.12345, 0.5]}), "test")._repr_html_()
    assert "1,471<" in html
    assert "1,471.000" not in html
    assert "0.123" in html
    assert re.search(r">5<", html)


def test_the_synthesis_opens_on_its_recommendations() -> None:
    from ipf_eval.pipeline import forum_report as section
    from ipf_eval.synthesis import forum

    records = read_evidence(PROJECT / "notebooks" / "evidence")
    rows = evidence_frame(records)
    kept = forum.select_families(forum.headline_estimates(rows)).kept
    _, ranked = forum.ranked_recommendations(kept)
    countries = sorted(set(rows["country"]))
    matrix = forum.transferability_matrix(
        evidence_table(records, "heterogeneity"), evidence_table(records, "population_mix"), kept=kept,
        countries=countries,
        between={(r["instrument"], r["outcome"]): r["tau2"] for _, r in ranked.iterrows()})
    rec = section.recommendations_section(ranked, top=5, transfer=matrix)
    assert "id='recommendations'" in rec._repr_html_()
    assert rec.lead == section.RANKING_RULE
    assert len(rec.items) == min(5, len(ranked))
    first = rec.items[0]
    assert first.startswith("1. ")
    assert "Pooled over" in first
    assert "Maryland level" in first
    for bad in ("log_", "inf", "nan", "))"):
        assert bad not in " ".join(rec.items)
    # each recommendation says what its pooled evaluations predict in every member's SME mix
    for item, r in zip(rec.items, ranked.head(5).to_dict(orient="records"), strict=True):
        assert "in each member's mix of micro, small and medium firms" in item
        predicted = matrix.for_group(r["instrument"], r["outcome"])
        assert len(predicted) == len(countries)
        for code in countries:
            assert f"{code} " in item.split("medium firms", 1)[1]
    table = section.transfer_table(matrix)[-1]
    shown = table.frame
    assert {"95 % interval", "likely range in that country", "estimated by"} <= set(shown.columns)
    assert not any("log_" in str(v) for v in shown.to_numpy().ravel())
    assert section.heterogeneity_words(0.1).startswith("little")
    assert section.heterogeneity_words(0.6).startswith("substantial")
    assert section.heterogeneity_words(0.9).startswith("considerable")
    assert "not estimable" in section.heterogeneity_words(float("nan"))


def test_the_country_report_opens_on_its_findings() -> None:
    from ipf_eval.pipeline import forum_report as section

    rows = evidence_frame(read_evidence(PROJECT / "notebooks" / "evidence", country="AT"))
    labels = {i: i.replace("_", " ").capitalize() for i in sorted(set(rows["instrument"]))}
    out = section.country_findings(rows, primaries=dict.fromkeys(labels, "log_employment"), labels=labels,
                                   country="AT")
    summary = out[0]
    assert "id='summary'" in summary._repr_html_()
    assert len(summary.items) == len(labels)
    assert all("Verdict:" in i for i in summary.items)


@pytest.mark.slow
def test_a_report_on_an_agencys_own_file_has_no_banner(tmp_path: Path) -> None:
    """The real instrument notebook on a register extract (a CSV, so no simulator tag): data_source is
    ``file`` on every evidence row, and neither the report nor the landing page carries the banner."""
    import yaml
    from _pipeline_helpers import real_project

    from ipf_eval.pipeline import build_plan, run_batch

    batch = real_project(tmp_path, {"countries": ["AT"], "instruments": ["loan_guarantee"],
                                    "output_dir": "reports", "data_dirs": ["data"], "workers": 0,
                                    "timeout": 300, "seed": 7, "synthesis": False, "case_studies": []},
                         n_firms=None)
    params = batch.parent
    sample = simulate_firms(seed=5, n_firms=12_000).evaluation_sample("AT", "loan_guarantee")
    (tmp_path / "data").mkdir()
    sample.rename(columns={"firm_id": "FirmNo"}).to_csv(tmp_path / "data" / "register.csv", index=False)
    country = yaml.safe_load((params / "countries" / "AT.yaml").read_text())
    country["data"] = {"source": "file", "path": "data/register.csv", "columns": {"firm_id": "FirmNo"}}
    (params / "countries" / "AT.yaml").write_text(yaml.safe_dump(country))
    report = run_batch(build_plan(params / "batch.yaml", project_root=tmp_path,
                                  notebooks_dir=PROJECT / "notebooks"), progress=False)
    assert report.exit_code == 0, report.summary_table()
    out = tmp_path / "reports"
    evidence = pd.read_csv(out / "evidence.csv")
    assert set(evidence["data_source"]) == {"file"}
    page = (out / "AT" / "loan_guarantee.html").read_text()
    assert "id=\"summary\"" in page or "id='summary'" in page
    for html_page in (page, (out / "index.html").read_text(), (out / "AT" / "index.html").read_text()):
        assert "data-banner" not in html_page
        assert "simulated firms" not in html_page


def test_the_synthesis_forest_plots_carry_alt_text() -> None:
    from ipf_eval.pipeline import forum_report as section
    from ipf_eval.pipeline.figures import Figure
    from ipf_eval.synthesis import forum

    rows = evidence_frame(read_evidence(PROJECT / "notebooks" / "evidence"))
    kept = forum.select_families(forum.headline_estimates(rows)).kept
    pooled = forum.pool_headlines(kept)
    inst, outcome = next(iter(pooled.metas))
    drawn = section.forest(kept, pooled, instrument=inst, outcome=outcome)
    assert drawn is not None
    fig, alt, caption = drawn
    n = int(((kept["instrument"] == inst) & (kept["outcome"] == outcome)).sum())
    assert f"Chart of {n} estimates" in alt
    assert "pooled" in caption
    assert 'alt="Chart of' in Figure.from_matplotlib(fig, alt=alt, caption=caption, number=1)._repr_html_()
    assert section.forest(kept, pooled, instrument="no_such", outcome=outcome) is None
