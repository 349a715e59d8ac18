"""Profiles, audit logs and the checks on aggregated tables, results, figure data and report text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.disclosure import (
    AuditEntry,
    AuditLog,
    DisclosureProfile,
    check_figure_data,
    check_result,
    check_table,
    combine_audits,
    get_profile,
    list_profiles,
    scan_html,
)
from ipf_eval.errors import DataError, DisclosureError, DisclosureWarning, SpecificationError
from ipf_eval.results import Specification, tidy_frame

# --------------------------------------------------------------------------- profiles


def test_named_profiles_hold_the_documented_rules() -> None:
    so = get_profile("statistical_office")
    assert (so.min_firms, so.dominance_n, so.dominance_k, so.p_percent, so.min_residual_df) == (
        3,
        1,
        85.0,
        None,
        None,
    )
    rdc = get_profile("research_data_centre")
    assert (rdc.min_firms, rdc.dominance_n, rdc.dominance_k, rdc.p_percent, rdc.min_residual_df) == (
        10,
        2,
        90.0,
        10.0,
        10,
    )
    assert list_profiles() == ("research_data_centre", "statistical_office")
    assert get_profile(so) is so
    assert "(1, 85) dominance" in so.describe()
    assert json.loads(json.dumps(rdc.to_dict()))["p_percent"] == 10.0


def test_profiles_are_frozen_and_replace_returns_a_copy() -> None:
    so = get_profile("statistical_office")
    with pytest.raises(AttributeError):
        so.min_firms = 1  # type: ignore[misc]
    five = so.replace(name="strict", min_firms=5)
    assert five.min_firms == 5
    assert so.min_firms == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_firms": 0}, "min_firms must be a positive integer"),
        ({"min_firms": 3, "dominance_n": 1}, "must both be set or both be None"),
        ({"min_firms": 3, "dominance_n": 0, "dominance_k": 80.0}, "dominance_n must be a positive"),
        ({"min_firms": 3, "dominance_n": 1, "dominance_k": 120.0}, "dominance_k is a percentage"),
        ({"min_firms": 3, "p_percent": 0.0}, "p_percent must lie in"),
        ({"min_firms": 3, "min_residual_df": -1}, "min_residual_df must be a non-negative"),
    ],
)
def test_invalid_profiles(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        DisclosureProfile(name="x", **kwargs)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(SpecificationError, match=r"\['research_data_centre', 'statistical_office'\]"):
        get_profile("eurostat")


# --------------------------------------------------------------------------- audit log


def test_audit_log_combines_and_exports() -> None:
    a = AuditLog(
        (AuditEntry("t1", "sector=A", "primary", "threshold", "fewer than 3 contributing firms"),),
        profile="statistical_office",
    )
    b = AuditLog(
        (AuditEntry("t2", "sector=B", "secondary", "complementary", "protects A"),),
        profile="statistical_office",
    )
    both = combine_audits([a, b])
    assert len(both) == 2
    assert both.n_primary == 1
    assert both.n_secondary == 1
    assert both.profile == "statistical_office"
    frame = both.to_frame()
    assert list(frame.columns) == ["table", "cell", "status", "rule", "reason", "value_hidden"]
    assert list(frame["table"]) == ["t1", "t2"]
    assert json.loads(both.to_json())["entries"][1]["rule"] == "complementary"
    assert "Secondary suppressions" in str(both)
    assert len(AuditLog().to_frame()) == 0


# --------------------------------------------------------------------------- aggregated tables and figures


def _agg() -> pd.DataFrame:
    return pd.DataFrame(
        {"region": ["R1", "R2", "R3", "R4"], "n_firms": [12, 2, 5, 0], "mean_growth": [0.1, 0.5, 0.2, np.nan]}
    )


def test_check_table_threshold_and_total_complement() -> None:
    frame = _agg()
    before = frame.copy()
    with pytest.warns(DisclosureWarning, match="1 row\\(s\\) hidden"):
        res = check_table(frame, count_col="n_firms")
    pd.testing.assert_frame_equal(frame, before)
    t: Any = res.table
    assert list(t["status"]) == ["published", "primary", "published", "published"]  # 0 firms: empty cell
    assert np.isnan(t.loc[1, "mean_growth"])
    assert pd.isna(t.loc[1, "n_firms"])
    assert t.loc[0, "mean_growth"] == 0.1
    assert res.audit.entries[0].cell == "region=R2"
    with pytest.warns(DisclosureWarning, match="2 row\\(s\\) hidden"):
        res = check_table(frame, count_col="n_firms", has_total=True)
    # complement: the smallest non-empty published row (R3, 5 firms)
    assert list(res.table["status"]) == ["published", "primary", "secondary", "published"]


def test_check_table_rdc_threshold() -> None:
    with pytest.warns(DisclosureWarning, match="2 row\\(s\\) hidden"):
        res = check_table(_agg(), count_col="n_firms", profile="research_data_centre")
    assert list(res.table["status"]) == ["published", "primary", "primary", "published"]


def test_check_figure_data_hides_points() -> None:
    points = pd.DataFrame(
        {"event_time": [-2, -1, 0, 1], "att": [0.0, 0.01, 0.05, 0.07], "n_firms": [40, 40, 2, 40]}
    )
    with pytest.warns(DisclosureWarning):
        res = check_figure_data(points, count_col="n_firms", value_cols=["att"], key_cols=["event_time"])
    table: Any = res.table
    assert np.isnan(table.loc[2, "att"])
    assert pd.isna(table.loc[2, "n_firms"])  # a small count is hidden too
    assert table.loc[1, "n_firms"] == 40
    assert res.audit.entries[0].cell == "event_time=0"
    assert res.name == "figure"


@pytest.mark.parametrize(
    ("frame", "kwargs", "match"),
    [
        (_agg(), {"count_col": "firms"}, "count_col 'firms' is not a column"),
        (_agg().assign(n_firms=[1, -2, 3, 4]), {"count_col": "n_firms"}, "non-negative firm counts"),
        (_agg(), {"count_col": "n_firms", "value_cols": ["growth"]}, "value_cols \\['growth'\\]"),
        ([1, 2], {"count_col": "n_firms"}, "must be a pandas DataFrame"),
    ],
)
def test_check_table_bad_input(frame: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DataError, match=match):
        check_table(frame, **kwargs)


# --------------------------------------------------------------------------- model results


@dataclass(frozen=True, eq=False)
class _FakeResult:
    frame: pd.DataFrame
    n_units: int
    extra: dict[str, Any]

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        spec = Specification(estimator="fake", arguments={}, n_obs=10 * self.n_units, n_units=self.n_units)
        return {"specification": spec.to_dict(), **self.extra}


def _result(n_treated: tuple[int, ...] = (40, 4, 25), n_units: int = 500, **extra: Any) -> _FakeResult:
    rows = [
        {
            "term": "att",
            "estimate": 0.1 * (i + 1),
            "std_error": 0.02,
            "statistic": 5.0,
            "p_value": 0.0,
            "ci_low": 0.0,
            "ci_high": 0.2,
            "group": g,
            "n_treated": n,
        }
        for i, (g, n) in enumerate(zip([2015, 2016, 2017], n_treated, strict=True))
    ]
    return _FakeResult(tidy_frame(rows), n_units, extra)


def test_check_result_hides_rows_resting_on_few_firms() -> None:
    # under the statistical office profile 4 treated firms pass; under the RDC profile they do not
    res = check_result(_result(), profile="statistical_office")
    assert list(res.table["status"]) == ["published"] * 3
    assert res.table["estimate"].tolist() == pytest.approx([0.1, 0.2, 0.3], abs=1e-12)
    with pytest.warns(DisclosureWarning, match="_FakeResult: 1 row"):
        res = check_result(_result(), profile="research_data_centre", df_resid=400)
    t = res.table
    assert list(t["status"]) == ["published", "primary", "published"]
    assert t.loc[1, ["estimate", "std_error", "ci_low", "ci_high", "n_treated"]].isna().all()
    assert res.audit.entries[0].cell == "term=att, group=2016"
    assert "n_treated below 10 firms" in res.audit.entries[0].reason


def test_check_result_whole_model_fails_on_residual_df() -> None:
    with pytest.warns(DisclosureWarning, match="3 row\\(s\\) hidden"):
        res = check_result(_result(df_resid=8), profile="research_data_centre")
    assert list(res.table["rule"]) == ["residual_df", "residual_df+threshold", "residual_df"]
    assert res.table["estimate"].isna().all()
    res_ok = check_result(
        _result(n_treated=(40, 40, 40), diagnostics={"df_resid": 12}), profile="research_data_centre"
    )
    assert (res_ok.table["status"] == "published").all()
    assert res_ok.notes == ()


def test_check_result_notes_unchecked_df_and_accepts_explicit_df() -> None:
    res = check_result(_result(n_treated=(40, 40, 40)), profile="research_data_centre")
    assert "not checked" in res.notes[0]
    with pytest.warns(DisclosureWarning):
        res = check_result(_result(n_treated=(40, 40, 40)), profile="research_data_centre", df_resid=3)
    assert set(res.table["rule"]) == {"residual_df"}


def test_check_result_too_few_firms_overall_and_refusal() -> None:
    with pytest.warns(DisclosureWarning):
        res = check_result(_result(n_treated=(1, 1, 1), n_units=2), profile="statistical_office")
    assert set(res.table["status"]) == {"primary"}
    assert "fewer than 3 firms" in res.audit.entries[0].reason
    with pytest.raises(DisclosureError, match="1 estimate\\(s\\) fail profile 'statistical_office'"):
        check_result(_result(n_treated=(40, 2, 40)), on_fail="raise")


def test_check_result_bad_input() -> None:
    with pytest.raises(SpecificationError, match="must offer to_frame\\(\\) and to_dict\\(\\)"):
        check_result(pd.DataFrame())
    with pytest.raises(SpecificationError, match="on_fail must be 'suppress' or 'raise'"):
        check_result(_result(), on_fail="drop")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="count_cols \\['n_control'\\] are not columns"):
        check_result(_result(), count_cols=["n_control"])


# --------------------------------------------------------------------------- rendered report text


def test_scan_html_finds_identifiers_and_small_counts() -> None:
    html = (
        "<table><tr><td>F000123</td><td>0.4</td></tr></table><p>Supported firms: n = 2; "
        "in Lapland 1 firm; elsewhere n=250 and 45 firms.</p><p>F0001234 is another firm.</p>"
    )
    rep = scan_html(html, id_values=["F000123", "F000999", "17"], profile="statistical_office")
    assert not rep.clean
    found = rep.to_frame()
    ids = found[found["kind"] == "identifier"]
    assert list(ids["token"]) == ["F000123"]  # whole tokens only: F0001234 is a different id
    assert int(ids["occurrences"].iloc[0]) == 1
    small = set(found.loc[found["kind"] == "small_count", "token"])
    assert small == {"n = 2", "1 firm"}
    assert rep.n_ids_checked == 2
    assert rep.n_ids_skipped == 1
    assert rep.to_dict()["clean"] is False
    clean = scan_html("<p>n = 250 firms</p>", id_values=["F000123"])
    assert clean.clean
    assert scan_html("<p>n = 5</p>", profile="research_data_centre").findings[0][1] == "n = 5"


def test_scan_html_raise_and_bad_input() -> None:
    with pytest.raises(DisclosureError, match="1 disclosive finding"):
        scan_html("firm F000123", id_values=["F000123"], on_fail="raise")
    with pytest.raises(SpecificationError, match="text must be a string"):
        scan_html(b"x")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match="min_id_length must be a positive integer"):
        scan_html("x", min_id_length=0)
    with pytest.raises(SpecificationError, match="on_fail must be 'report' or 'raise'"):
        scan_html("x", on_fail="drop")  # type: ignore[arg-type]


def test_check_result_uses_group_counts_reported_in_to_dict() -> None:
    with pytest.warns(DisclosureWarning):
        res = check_result(_result(n_treated=(40, 40, 40), n_control=2), profile="statistical_office")
    assert set(res.table["status"]) == {"primary"}
    assert "n_control below 3 firms" in res.audit.entries[0].reason


def test_check_result_on_a_real_rct_result() -> None:
    from ipf_eval.experiments.rct import rct

    rng = np.random.default_rng(5)
    firms = pd.DataFrame({"treated": np.r_[np.ones(6), np.zeros(40)].astype(int)})
    firms["growth"] = 0.1 * firms["treated"] + rng.normal(0, 0.05, len(firms))
    result = rct(firms, yname="growth", treatname="treated", n_permutations=99, seed=1)
    ok = check_result(result, profile="statistical_office")
    assert (ok.table["status"] == "published").all()
    with pytest.warns(DisclosureWarning):
        refused = check_result(result, profile="research_data_centre", df_resid=40)
    assert (refused.table["status"] == "primary").all()
    assert refused.table["estimate"].isna().all()
    assert "n_treated below 10 firms" in refused.audit.entries[0].reason


def test_disclosure_results_are_strict_json() -> None:
    with pytest.warns(DisclosureWarning):
        checked = check_table(pd.DataFrame({"r": ["a", "b"], "n": [1, 5]}), count_col="n")
    for res in (checked, scan_html("n = 1")):
        assert json.loads(json.dumps(res.to_dict(), allow_nan=False))
        assert str(res).strip()
    assert json.loads(json.dumps(checked.to_dict(), allow_nan=False))["table"][0]["n"] is None
