"""primary_failures: the public answer to "which cells of a grouped table fail the primary rules"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipf_eval.disclosure import RuleFailure, primary_failures, protect_table
from ipf_eval.disclosure.profiles import DisclosureProfile
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError


def _rows() -> pd.DataFrame:
    # A: 5 firms, one dominant (90 of 100); B: 2 firms (threshold); C: 4 balanced firms; D: p % only
    return pd.DataFrame({
        "firm_id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        "region": list("AAAAABBCCCCDDDD"),
        "amount": [90.0, 2.5, 2.5, 2.5, 2.5, 5.0, 5.0, 10.0, 10.0, 10.0, 10.0, 50.0, 45.0, 2.0, 2.0],
    })


def test_rules_per_cell() -> None:
    out = primary_failures(_rows(), by="region", value="amount")
    assert set(out) == {("A",), ("B",), ("C",), ("D",)}
    assert [f.rule for f in out[("A",)]] == ["dominance"]
    assert out[("A",)][0].reason == "the largest 1 contributor(s) exceed 85% of the cell total"
    assert [f.rule for f in out[("B",)]] == ["threshold"]
    assert out[("B",)][0] == RuleFailure("threshold", "fewer than 3 contributing firms")
    assert out[("C",)] == ()
    # D: largest 50 of 99 passes (1, 85) dominance; the research-data-centre profile also checks p %
    assert out[("D",)] == ()
    rdc = primary_failures(_rows(), by="region", value="amount", profile="research_data_centre")
    assert {f.rule for f in rdc[("D",)]} == {"threshold", "dominance", "p_percent"}


def test_counts_apply_the_threshold_only() -> None:
    out = primary_failures(_rows(), by="region")
    assert out[("A",)] == ()
    assert [f.rule for f in out[("B",)]] == ["threshold"]


def test_agrees_with_protect_table_primary_suppression() -> None:
    rows = _rows().assign(size=np.where(np.arange(15) % 2 == 0, "small", "large"))
    for profile in ("statistical_office", "research_data_centre"):
        out = primary_failures(rows, by=["region", "size"], value="amount", profile=profile)
        with pytest.warns(DisclosureWarning, match="hidden by primary rules"):
            table = protect_table(rows, by=["region", "size"], value="amount", profile=profile,
                                  margins=False).table
        for rec in table.itertuples(index=False):
            key = (rec.region, rec.size)
            failed = out.get(key, ())
            assert (rec.status == "primary") == bool(failed), (profile, key)
            if failed:
                assert rec.rule == "+".join(f.rule for f in failed)


def test_several_rows_per_firm_are_summed_and_columns_may_have_any_name() -> None:
    rows = pd.DataFrame({"_v": [1, 1, 1, 1, 2], "g": ["x"] * 5, "amount": [40.0, 40.0, 5.0, 5.0, 10.0]})
    out = primary_failures(rows, by="g", value="amount", id_col="_v")
    assert [f.rule for f in out[("x",)]] == ["threshold", "dominance"]  # 2 firms, firm 1 has 90 of 100
    assert primary_failures(rows.iloc[:0], by="g", value="amount", id_col="_v") == {}


def test_profile_object_and_caller_frame_untouched() -> None:
    rows = _rows()
    before = rows.copy()
    strict = DisclosureProfile(name="strict", min_firms=6)
    out = primary_failures(rows, by="region", value="amount", profile=strict)
    assert all(f.rule == "threshold" for fails in out.values() for f in fails)
    assert len(out[("A",)]) == 1
    pd.testing.assert_frame_equal(rows, before)


def test_bad_input() -> None:
    rows = _rows()
    with pytest.raises(SpecificationError, match=r"primary_failures\(by=\.\.\.\) must name at least one"):
        primary_failures(rows, by=[], value="amount")
    with pytest.raises(DataError, match=r"contributions=\.\.\.\) must be a pandas DataFrame; got 'list'"):
        primary_failures([1, 2], by="region")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"contributions lack column\(s\) \['sector'\]"):
        primary_failures(rows, by="sector", value="amount")
    with pytest.raises(DataError, match=r"column 'region' has 1 missing value\(s\)"):
        primary_failures(rows.assign(region=rows["region"].where(rows.index > 0)), by="region")
    with pytest.raises(DataError, match=r"value column 'region' must be numeric"):
        primary_failures(rows, by="firm_id", value="region")
    with pytest.raises(DataError, match=r"value column 'amount' has 1 missing value\(s\)"):
        primary_failures(rows.assign(amount=rows["amount"].where(rows.index > 0)), by="region",
                         value="amount")
    with pytest.raises(SpecificationError, match="lenient"):
        primary_failures(rows, by="region", profile="lenient")
