"""Primary and secondary suppression of tables built from firm-level rows."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.disclosure import DisclosureProfile, get_profile, protect_table
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError


def _rows(cells: dict[str, list[float]]) -> pd.DataFrame:
    """One row per firm: cell label -> list of firm contributions."""
    recs = []
    fid = 0
    for cell, values in cells.items():
        for v in values:
            recs.append({"firm_id": f"F{fid:05d}", "sector": cell, "rd": v})
            fid += 1
    return pd.DataFrame(recs)


def _by_cell(t: pd.DataFrame, col: str = "sector") -> Any:
    return t.set_index(col)


# --------------------------------------------------------------------------- primary rules


def test_threshold_rule_and_one_dimensional_complement() -> None:
    data = _rows({"A": [10, 20, 30, 40], "B": [5, 6], "C": [1, 2, 3], "D": [100, 100, 100, 100]})
    with pytest.warns(DisclosureWarning, match="1 cell\\(s\\) hidden by primary rules and 1 by secondary"):
        res = protect_table(data, by="sector", value="rd", profile="statistical_office")
    t = _by_cell(res.table)
    assert t.loc["B", "status"] == "primary"
    assert t.loc["B", "rule"] == "threshold"
    # complementary cell: the smallest published cell (C, total 6) rather than A (100) or D (400)
    assert t.loc["C", "status"] == "secondary"
    assert t.loc["C", "rule"] == "complementary"
    assert np.isnan(t.loc["B", "value"])
    assert np.isnan(t.loc["C", "value"])
    assert pd.isna(t.loc["B", "n_firms"])
    assert pd.isna(t.loc["C", "n_firms"])
    assert t.loc["A", "value"] == pytest.approx(100.0, abs=1e-12)
    assert t.loc["D", "value"] == pytest.approx(400.0, abs=1e-12)
    assert t.loc["Total", "value"] == pytest.approx(100 + 11 + 6 + 400, abs=1e-9)
    assert t.loc["Total", "n_firms"] == 13
    assert res.n_suppressed == 2
    # the published total minus published cells leaves B + C, not B alone
    leftover = t.loc["Total", "value"] - t.loc[["A", "D"], "value"].sum()
    assert leftover == pytest.approx(11 + 6, abs=1e-9)
    assert leftover != pytest.approx(11, abs=1e-6)


def test_no_margins_means_no_secondary_suppression() -> None:
    data = _rows({"A": [10, 20, 30, 40], "B": [5, 6], "C": [1, 2, 3]})
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by="sector", value="rd", margins=False)
    assert list(res.table["status"]) == ["published", "primary", "published"]
    assert "Total" not in set(res.table["sector"])


@pytest.mark.parametrize(
    ("contributions", "expected"),
    [
        ([90.0, 5.0, 5.0], "primary"),  # 90 % > 85 %
        ([85.0, 10.0, 5.0], "published"),  # exactly 85 % does not exceed 85 %
        ([80.0, 10.0, 10.0], "published"),
    ],
)
def test_one_85_dominance_rule(contributions: list[float], expected: str) -> None:
    data = _rows({"A": contributions, "B": [30.0, 30.0, 30.0, 30.0], "C": [40.0, 40.0, 40.0, 40.0]})
    if expected == "primary":
        with pytest.warns(DisclosureWarning):
            res = protect_table(data, by="sector", value="rd", margins=False)
    else:
        res = protect_table(data, by="sector", value="rd", margins=False)
    t = _by_cell(res.table)
    assert t.loc["A", "status"] == expected
    if expected == "primary":
        assert t.loc["A", "rule"] == "dominance"


def test_negative_contributions_are_refused_by_the_dominance_rule() -> None:
    """The (n, k) rule is defined for non-negative contributions; it used to run on absolute values."""
    data = _rows({"A": [-90.0, 5.0, 5.0], "B": [30.0, 30.0, 30.0, 30.0], "C": [40.0, 40.0, 40.0, 40.0]})
    with pytest.raises(DataError, match=r"value column 'rd' has 1 negative value\(s\); the dominance"):
        protect_table(data, by="sector", value="rd", margins=False)
    threshold_only = get_profile("statistical_office").replace(dominance_n=None, dominance_k=None)
    assert protect_table(data, by="sector", value="rd", margins=False,
                         profile=threshold_only).table["status"].tolist() == ["published"] * 3


def test_two_90_dominance_and_threshold_under_research_data_centre() -> None:
    # 11 firms: two largest 50 + 41 = 91 of 100 > 90 %
    dominated = [50.0, 41.0] + [1.0] * 9
    balanced = [10.0] * 12
    small = [10.0] * 9  # 9 firms < 10
    data = _rows({"A": dominated, "B": balanced, "C": small})
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by="sector", value="rd", profile="research_data_centre", margins=False)
    t = _by_cell(res.table)
    assert t.loc["A", "rule"] == "dominance"
    assert t.loc["B", "status"] == "published"
    assert t.loc["C", "rule"] == "threshold"


def test_p_percent_rule_on_its_own() -> None:
    prof = DisclosureProfile(name="p_only", min_firms=1, p_percent=10.0)
    # T - x1 - x2 = 9 < 0.1 * 100 = 10 -> sensitive;  11 >= 10 -> safe
    data = _rows({"A": [100.0, 50.0, 4.5, 4.5], "B": [100.0, 50.0, 5.5, 5.5]})
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by="sector", value="rd", profile=prof, margins=False)
    t = _by_cell(res.table)
    assert t.loc["A", "rule"] == "p_percent"
    assert t.loc["B", "status"] == "published"


def test_contributions_are_summed_per_firm() -> None:
    # firm X has three rows in cell A: one contributor, not three
    data = pd.DataFrame({
        "firm_id": ["X", "X", "X", "Y", "Z", "W"],
        "sector": ["A", "A", "A", "B", "B", "B"],
        "rd": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    })
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by="sector", value="rd", margins=False)
    t = _by_cell(res.table)
    assert t.loc["A", "rule"] == "threshold+dominance"  # one contributor: both rules fail
    assert t.loc["B", "n_firms"] == 3


def test_count_and_mean_tables() -> None:
    data = _rows({"A": [2.0, 4.0, 6.0], "B": [1.0, 1.0, 1.0, 5.0]})
    counts = protect_table(data, by="sector")
    assert counts.specification.arguments["stat"] == "count"
    assert list(counts.table["value"]) == [3.0, 4.0, 7.0]
    means = protect_table(data, by="sector", value="rd", stat="mean")
    assert list(means.table["value"]) == pytest.approx([4.0, 2.0, 20.0 / 7.0], abs=1e-12)


def test_counts_ignore_dominance() -> None:
    # one huge contributor would fail (1, 85) for a magnitude table, but counts only use the threshold
    data = _rows({"A": [1000.0, 1.0, 1.0], "B": [1.0, 1.0, 1.0]})
    res = protect_table(data, by="sector")
    assert set(res.table["status"]) == {"published"}


# --------------------------------------------------------------------------- secondary suppression


def _published_relations(
    table: pd.DataFrame, by: list[str], total: str = "Total"
) -> tuple[list[tuple[Any, ...]], list[dict[tuple[Any, ...], float]]]:
    """Linear relations implied by the published margins, built independently of the library."""
    keys = [tuple(r) for r in table[by].itertuples(index=False)]
    cats = [sorted({k[d] for k in keys if k[d] != total}) for d in range(len(by))]
    full = [[*c, total] for c in cats]
    rels = []
    for d in range(len(by)):
        others = [full[j] for j in range(len(by)) if j != d]
        for combo in itertools.product(*others):
            def put(c: Any, combo: tuple[Any, ...] = combo, d: int = d) -> tuple[Any, ...]:
                rest = list(combo)
                rest.insert(d, c)
                return tuple(rest)

            rels.append({**{put(c): 1.0 for c in cats[d]}, put(total): -1.0})
    return keys, rels


def _determined_hidden_cells(table: pd.DataFrame, by: list[str]) -> list[tuple]:
    """Hidden cells whose value the published cells determine exactly (rank test on the hidden block)."""
    keys, rels = _published_relations(table, by)
    hidden = [k for k, s in zip(keys, table["status"], strict=True) if s != "published"]
    if not hidden:
        return []
    pos = {k: i for i, k in enumerate(hidden)}
    a = np.zeros((len(rels), len(hidden)))
    for r, rel in enumerate(rels):
        for k, coef in rel.items():
            if k in pos:
                a[r, pos[k]] = coef
    base = np.linalg.matrix_rank(a)
    out = []
    for k, j in pos.items():
        e = np.zeros((1, len(hidden)))
        e[0, j] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == base:
            out.append(k)
    return out


def _random_microdata(seed: int, dims: dict[str, list[str]], n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"firm_id": np.arange(n)})
    for col, cats in dims.items():
        p = rng.dirichlet(np.full(len(cats), 0.6))
        frame[col] = rng.choice(cats, size=n, p=p)
    frame["turnover"] = rng.lognormal(12, 1.5, size=n)
    return frame


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("profile", ["statistical_office", "research_data_centre"])
def test_two_dimensional_table_hides_nothing_recoverable(seed: int, profile: str) -> None:
    data = _random_microdata(seed, {"sector": list("ABCDE"), "size_class": ["micro", "small", "medium"]}, 160)
    before = data.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DisclosureWarning)
        res = protect_table(data, by=["sector", "size_class"], value="turnover", profile=profile)
    pd.testing.assert_frame_equal(data, before)
    assert (len(caught) == 1) == (res.n_suppressed > 0)
    if profile == "research_data_centre":  # 160 firms in 15 cells: some cell is always below 10 firms
        assert res.n_suppressed >= 2
    t = res.table
    assert _determined_hidden_cells(t, ["sector", "size_class"]) == []
    # every row and column (margins included) with a hidden cell has at least two hidden cells
    for col in ("sector", "size_class"):
        hidden_per_line = t.assign(h=t["status"] != "published").groupby(col)["h"].sum()
        assert not (hidden_per_line == 1).any()
    # every cell that fails a primary rule (recomputed here) is hidden, and published values are exact
    prof: Any = get_profile(profile)
    inner = t[(t["sector"] != "Total") & (t["size_class"] != "Total")]
    firm: Any = data.groupby(["sector", "size_class", "firm_id"])["turnover"].sum()
    for row in inner.itertuples(index=False):
        try:
            contrib = np.sort(firm.loc[(row.sector, row.size_class)].to_numpy())[::-1]
        except KeyError:
            contrib = np.array([])
        n = contrib.size
        sensitive = 0 < n < prof.min_firms or (
            n > 0 and contrib[: prof.dominance_n].sum() > prof.dominance_k / 100 * contrib.sum()
        )
        if sensitive:
            assert row.status == "primary"
        if row.status == "published":
            assert row.value == pytest.approx(contrib.sum(), rel=1e-12, abs=1e-9)
            assert row.n_firms == n


def test_three_dimensional_table_hides_nothing_recoverable() -> None:
    dims = {"sector": list("ABC"), "size_class": ["s", "m"], "region": ["R1", "R2", "R3"]}
    data = _random_microdata(7, dims, 120)
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by=list(dims), value="turnover")
    assert len(res.table) == 4 * 3 * 4
    assert _determined_hidden_cells(res.table, list(dims)) == []


def test_chain_pattern_needs_more_than_row_column_pairs() -> None:
    """Two blocks of hidden cells linked by one cell: the null-space step must hide more."""
    from ipf_eval.disclosure.tables import _equations, _secondary, recoverable_cells

    axes = [["r1", "r2", "r3", "r4"], ["c1", "c2", "c3", "c4"]]
    eqs = _equations(axes)
    cells = list(itertools.product(*[[*a, "T"] for a in axes]))
    # replace the library's sentinel by ours: rebuild relations with "T" as the total label
    from ipf_eval.disclosure.tables import _TOTAL

    def norm(k: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple("T" if v is _TOTAL else v for v in k)

    eqs = [[(norm(k), s) for k, s in eq] for eq in eqs]
    primary = {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2"),
               ("r3", "c3"), ("r3", "c4"), ("r4", "c3"), ("r4", "c4"), ("r2", "c3")}
    # every line with a hidden cell has >= 2, yet the bridge (r2, c3) is determined
    assert ("r2", "c3") in recoverable_cells(sorted(primary), eqs)
    order = {k: i for i, k in enumerate(cells)}
    n_firms = dict.fromkeys(cells, 5)
    cost = dict.fromkeys(cells, 1.0)
    extra = _secondary(primary, eqs, n_firms, cost, order)
    assert recoverable_cells(sorted(primary | extra), eqs) == []


def test_audit_log_records_reasons_but_never_values() -> None:
    data = _rows({"A": [123456.789, 1.0, 1.0, 1.0], "B": [50000.0] * 3, "C": [60000.0] * 3})
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by="sector", value="rd", name="rd_by_sector")
    log = res.audit.to_frame()
    assert list(log["status"]) == ["primary", "secondary"]
    assert list(log["cell"]) == ["sector=A", "sector=B"]
    assert set(log["table"]) == {"rd_by_sector"}
    assert log["value_hidden"].all()
    text = res.audit.to_json() + res.to_frame().to_string() + str(res.to_dict())
    for hidden_value in ("123459", "150000", "123,459", "1.5e+05", "1.23459e+05"):
        assert hidden_value not in text
    assert "dominance" in text


def test_result_conventions() -> None:
    data = _rows({"A": [1.0, 2.0, 3.0], "B": [4.0, 5.0, 6.0]})
    res = protect_table(data, by="sector", value="rd")
    d = res.to_dict()
    assert d["profile"]["name"] == "statistical_office"
    assert d["table"][0]["sector"] == "A"
    assert "statistical_office" in res.summary().as_text()
    assert "<table" in res._repr_html_()
    out = res.to_frame()
    out.loc[0, "value"] = -1.0
    assert res.table.loc[0, "value"] == 6.0


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"by": "sector", "value": "rd", "stat": "median"}, SpecificationError, "stat must be one of"),
        ({"by": "sector", "value": "rd", "stat": "count"}, SpecificationError, "takes no value column"),
        ({"by": "sector", "stat": "sum"}, SpecificationError, "needs a value column"),
        ({"by": []}, SpecificationError, "at least one classification column"),
        ({"by": "region"}, DataError, "lacks column"),
        ({"by": "sector", "profile": "eurostat"}, SpecificationError, "research_data_centre"),
        ({"by": "sector", "value": "label"}, DataError, "must be numeric"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    data = _rows({"A": [1.0, 2.0, 3.0]}).assign(label="x")
    with pytest.raises(error, match=match):
        protect_table(data, **kwargs)


def test_missing_values_are_refused() -> None:
    data = _rows({"A": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="column 'sector' has 1 missing"):
        protect_table(data.assign(sector=pd.Series(["A", None, "A"])), by="sector")
    with pytest.raises(DataError, match="value column 'rd' has 1 missing"):
        protect_table(data.assign(rd=[1.0, np.nan, 2.0]), by="sector", value="rd")
    with pytest.raises(DataError, match="must be a pandas DataFrame"):
        protect_table([1, 2], by="sector")  # type: ignore[arg-type]


def test_integer_and_categorical_classifications() -> None:
    data = _rows({"A": [1.0, 2.0, 3.0], "B": [4.0, 5.0, 6.0]})
    data["year"] = [2020, 2021, 2020, 2021, 2020, 2021]
    data["sector"] = pd.Categorical(data["sector"])
    with pytest.warns(DisclosureWarning):
        res = protect_table(data, by=["sector", "year"], value="rd")
    t = res.table
    assert list(t["year"]) == [2020, 2021, "Total"] * 3
    assert list(t["sector"]) == ["A"] * 3 + ["B"] * 3 + ["Total"] * 3
    assert t.iloc[-1]["value"] == pytest.approx(21.0, abs=1e-12)


def test_total_label_must_not_be_a_category() -> None:
    data = _rows({"Total": [1.0, 2.0, 3.0], "B": [4.0, 5.0, 6.0]})
    with pytest.raises(SpecificationError, match="contain the category 'Total'"):
        protect_table(data, by="sector")
    res = protect_table(data, by="sector", total_label="All sectors")
    assert list(res.table["sector"]) == ["B", "Total", "All sectors"]
