"""The synthesis' agency comparison adjusted for SME mix (issue 19), from the counts the records carry.

* Every instrument evaluation of the default batch records its ``delivery_mix`` counts (they travel in the
  bundles); pooling them gives the same benchmark as pooling the agencies' own aggregates directly.
* The section: a table per instrument, one row per agency plus all agencies, indicators that do not vary
  named in a sentence, the cost-against-reach chart with alt text, the simulated-data banner, no ``nan``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ipf_eval.evidence import evidence_table, read_evidence
from ipf_eval.evidence.delivery_aggregates import adjusted_benchmark_from_aggregates
from ipf_eval.pipeline import delivery_report
from ipf_eval.pipeline.display import Banner, Table, Text
from ipf_eval.pipeline.figures import Figure

EVIDENCE = Path(__file__).resolve().parents[1] / "notebooks" / "evidence"


@pytest.fixture(scope="module")
def records() -> list[dict[str, object]]:
    return read_evidence(EVIDENCE)


def test_every_evaluation_with_applications_records_its_counts(records: list[dict[str, object]]) -> None:
    counts = evidence_table(records, "delivery_mix")
    evaluated = {(str(r["country"]), str(r["instrument"])) for r in records
                 if r["design"] != "delivery_trial"}
    assert {tuple(k) for k in counts[["country", "instrument"]].drop_duplicates().to_numpy()} == evaluated
    assert "firm_id" not in counts.columns
    assert set(counts["indicator"]) >= {"take_up", "days_to_decision", "admin_cost"}


def test_the_benchmark_pools_the_records_counts(records: list[dict[str, object]]) -> None:
    bench = delivery_report.agency_benchmark(records)
    assert bench is not None
    direct = adjusted_benchmark_from_aggregates(evidence_table(records, "delivery_mix"))
    pd.testing.assert_frame_equal(bench.table, direct.table)
    two = delivery_report.agency_benchmark(records, countries=["AT", "DK"])
    assert two is not None
    assert set(two.table["country"]) == {"AT", "DK"}
    assert delivery_report.agency_benchmark([r for r in records if r["design"] == "delivery_trial"]) is None


def test_the_section_compares_agencies_in_one_table_per_instrument(records: list[dict[str, object]]) -> None:
    bench = delivery_report.agency_benchmark(records)
    items = delivery_report.delivery_benchmark_section(bench, labels={"rd_grant": "R&D grants"},
                                                       data_sources=["simulated"])
    assert isinstance(items[0], Banner)
    assert delivery_report.METHOD in [i.markdown for i in items if isinstance(i, Text)]
    tables = [i for i in items if isinstance(i, Table)]
    assert len(tables) == bench.table["instrument"].nunique()
    for t in tables:
        assert t.frame["agency"].iloc[-1] == "all agencies"
        assert "take-up among eligible firms" in t.frame.columns
        cells = " ".join(t.frame.astype(str).to_numpy().ravel())
        assert "nan" not in cells.lower()
        assert "; raw " in cells
        assert "not adjusted: an agency total" in cells
    texts = " ".join(i.markdown for i in items if isinstance(i, Text))
    # the simulator has one application per firm and a decision for each: nothing to compare there
    assert "The same for every agency, so not compared: first-time applicants (100.0 %)" in texts
    assert "**R&amp;D grants**" in texts
    figures = [i for i in items if isinstance(i, Figure)]
    assert figures
    assert all(f.alt for f in figures)


def test_without_counts_the_section_says_so() -> None:
    (only,) = delivery_report.delivery_benchmark_section(None)
    assert "cannot be compared here" in only.markdown  # type: ignore[attr-defined]
