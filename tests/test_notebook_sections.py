"""Execute notebook sections with papermill and check what they show.

* The synthesis pools each evaluation's **headline** estimate (the one its grade belongs to): a lottery's
  RCT effect on users, a scored call's robust RDD estimate, otherwise the DiD; a group mixing estimators
  pools the most common one and names the rest.
* The instrument notebook writes one headline per outcome and shows the matched DiD next to
  Callaway-Sant'Anna's ATT(g, g) per support cohort, with the combined row when every cohort is shown, and
  leaves out (and names) cohorts below the disclosure threshold.

Three notebook executions in all (about 8 s each on 2 cores).
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataWarning

papermill = pytest.importorskip("papermill")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
DISPLAY_TOL = 5e-4 + 1e-9  # tables show 3 decimals


class _Tables(HTMLParser):
    """Collect the <table> elements of an HTML string as lists of rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _outputs(nb: nbformat.NotebookNode) -> list[str]:
    """Every output of the executed notebook as text (HTML or Markdown), in order."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out.get("evalue")
            data = out.get("data", {})
            text = data.get("text/html") or data.get("text/markdown") or data.get("text/plain", "")
            texts.append(str(text))
    return texts


def _table(texts: list[str], source_starts: str) -> pd.DataFrame:
    """The table whose source line (the output after it) starts with ``source_starts``."""
    for i, text in enumerate(texts[:-1]):
        if "<table" in text and f"Source: {source_starts}" in html.unescape(texts[i + 1]):
            parser = _Tables()
            parser.feed(text)
            rows = parser.tables[0]
            return pd.DataFrame(rows[1:], columns=rows[0])
    raise AssertionError(f"no table with source {source_starts!r}")


def _num(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.str.replace(",", ""), errors="coerce").to_numpy(dtype=float)


def _run(name: str, out: Path, parameters: dict[str, Any], cwd: Path) -> list[str]:
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(cwd), progress_bar=False)
    return _outputs(nbformat.read(str(out), as_version=4))


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed evidence records, rewritten: lotteries' effect on users and scored calls' robust RDD
    estimate are the headline, except in the first lottery country, left as a record from before the headline
    field (its DiD row is then the headline: a group that mixes estimators)."""
    folder = tmp_path_factory.mktemp("evidence")
    files = sorted(NOTEBOOKS.glob("evidence/*.json"))
    assert files, "notebooks/evidence holds the evidence records of the default batch"
    old_lottery = min(json.loads(f.read_text())["country"] for f in files
                      if json.loads(f.read_text())["design"] == "lottery")
    for file in files:
        record = json.loads(file.read_text(encoding="utf-8"))
        head = {"lottery": ("rct", "late"), "scored_call": ("rdd", "robust")}.get(record["design"])
        for est in record["estimates"]:
            for key in ("headline", "estimand", "evidence_grade"):
                est.pop(key, None)
            if head and not (record["design"] == "lottery" and record["country"] == old_lottery):
                est["headline"] = (est["estimator"], est["term"]) == head
        (folder / file.name).write_text(json.dumps(record), encoding="utf-8")
    (folder / "old_lottery.txt").write_text(old_lottery)
    return folder


def _expected(evidence: Path) -> tuple[pd.DataFrame, str]:
    from ipf_eval.pipeline import evidence_frame, read_evidence

    frame = evidence_frame(read_evidence(evidence))
    return frame, (evidence / "old_lottery.txt").read_text()


def test_synthesis_pools_headline_rows(evidence: Path, tmp_path: Path) -> None:
    from ipf_eval.synthesis import meta_analysis

    texts = _run("synthesis", tmp_path / "synthesis.ipynb", {"evidence_dir": str(evidence)}, NOTEBOOKS)
    pooled = _table(texts, "random-effects meta-analysis (REML) of the countries' headline estimates")
    frame, old_lottery = _expected(evidence)
    by_inst = {inst: grp for inst, grp in pooled.groupby("instrument")}
    designs = frame.groupby("instrument")["design"].first()
    lottery = [i for i in by_inst if designs[i] == "lottery"]
    scored = [i for i in by_inst if designs[i] == "scored_call"]
    assert lottery, "the default batch has lotteries"
    assert scored, "the default batch has scored calls"
    own = {"lottery": r"rct \(late\)", "scored_call": r"rdd \(robust\)"}
    for inst, grp in by_inst.items():
        # open calls: the DiD, whatever covariate adjustment each country's att_gt used (one family)
        pattern = own.get(designs[inst], r"att_gt_\w+(, att_gt_\w+)* \(att\)")
        assert grp["estimator"].str.fullmatch(pattern).all(), (inst, set(grp["estimator"]))
    for inst in lottery + scored:
        for row in by_inst[inst].itertuples():
            term = "late" if inst in lottery else "robust"
            rows = frame.loc[(frame["instrument"] == inst) & (frame["outcome"] == row.outcome)
                             & (frame["term"] == term) & frame["headline"]]
            if inst in lottery:
                assert old_lottery not in set(rows["country"])  # its DiD row was not pooled with RCTs
            assert int(str(row.countries)) == rows["country"].nunique() == len(rows)
            assert "one-year change" in str(row.estimand)
            meta = meta_analysis(rows.reset_index(drop=True), label="country").to_frame().iloc[0]
            got = _num(pd.Series([row.estimate, row.ci_low, row.ci_high]))
            want = np.array([meta["estimate"], meta["ci_low"], meta["ci_high"]])
            np.testing.assert_allclose(got, want, rtol=0, atol=DISPLAY_TOL)
    note = html.unescape(next(t for t in texts if t.startswith("Not pooled")))
    assert re.search(rf"{old_lottery} \(att_gt_\w+, att; the group pools rct late\)", note)
    ranked = _table(texts, "recommendations (ipf_eval.synthesis.recommendations) from the pooled headline")
    assert ranked["instrument"].isin(lottery).any()
    for row in ranked.loc[ranked["instrument"].isin(lottery)].itertuples():
        same = pooled.loc[(pooled["instrument"] == row.instrument) & (pooled["outcome"] == row.outcome)]
        assert str(row.k) == same["countries"].iloc[0]
        assert row.estimator == "rct"


def test_instrument_notebook_headline_and_matched_did(tmp_path: Path) -> None:
    from ipf_eval.data.contract import validate_panel
    from ipf_eval.data.simulate import simulate_firms
    from ipf_eval.weighting import conditional_did

    path = tmp_path / "PL__innovation_voucher.json"
    params = {"country": "PL", "country_name": "Poland", "instrument": "innovation_voucher",
              "instrument_label": "Innovation vouchers", "design": "lottery",
              "outcomes": ["log_turnover", "log_employment"], "primary_outcome": "log_turnover",
              "bootstrap": False, "evidence_path": str(path)}
    texts = _run("instrument_evaluation", tmp_path / "inst.ipynb", params, NOTEBOOKS)
    record = json.loads(path.read_text(encoding="utf-8"))
    est = pd.DataFrame(record["estimates"])
    heads = est.loc[est["headline"]]
    assert sorted(heads["outcome"]) == ["log_employment", "log_turnover"]
    assert set(zip(heads["estimator"], heads["term"], strict=True)) == {("rct", "late")}
    did = est.loc[est["estimator"].str.startswith("att_gt")]
    assert not did["headline"].any()
    assert (est.loc[est["estimator"] == "rct", "evidence_grade"] == record["evidence_grade"]).all()
    assert int(record["evidence_grade"]) == 5
    assert (did["evidence_grade"].astype(int) <= 3).all()

    # the cost-effectiveness table says which estimates (and grade) it is built on
    assert any("effects: the staggered DiD (att_gt) estimates, Maryland level" in html.unescape(t)
               and "the headline lottery estimate, level 5" in html.unescape(t) for t in texts)
    matched = _table(texts, "log_turnover, change from the year before support to the year of support")
    cohorts = matched.loc[matched["cohort"].str.fullmatch(r"\d{4}")]
    cs = cohorts.loc[cohorts["estimator"].str.startswith("Callaway-Sant'Anna")]
    nn = cohorts.loc[cohorts["estimator"] == "matched DiD (nearest neighbour)"]
    assert len(cs) == len(nn) >= 2
    assert list(cs["cohort"]) == list(nn["cohort"])
    assert (_num(cs["supported firms"]) >= 3).all()  # statistical_office threshold
    assert (_num(nn["comparison firms"].str.removesuffix(" matched")) >= 3).all()
    # the combined matched row: the cohort-size weighted mean, with the bound sum_g w_g SE_g
    w = _num(cs["supported firms"])
    w = w / w.sum()
    combined = matched.loc[matched["estimator"].str.startswith("matched DiD, cohort-size weighted")].iloc[0]
    assert float(combined["estimate"]) == pytest.approx(w @ _num(nn["estimate"]), abs=2 * DISPLAY_TOL)
    assert float(combined["std_error"]) == pytest.approx(w @ _num(nn["std_error"]), abs=2 * DISPLAY_TOL)
    # the first cohort, recomputed: cohort g against never-supported and later-supported firms, g - 1 to g
    sim = simulate_firms(seed=2024, n_firms=30000)
    panel = validate_panel(sim.evaluation_sample("PL", "innovation_voucher"), idname="firm_id", tname="year",
                           gname="first_support_year", ynames=["log_turnover", "log_employment"],
                           covariates=["log_age_base", "log_employment_base"]).data
    g = int(nn["cohort"].iloc[0])
    cohort = panel.groupby("firm_id")["first_support_year"].transform("first")
    two = panel.loc[((cohort == g) | (cohort == 0) | (cohort > g)) & panel["year"].isin([g - 1, g])]
    with pytest.warns(DataWarning, match="observed in only one of the periods"):
        res = conditional_did(two.assign(d=(cohort.loc[two.index] == g).astype(int)), yname="log_turnover",
                              tname="year", idname="firm_id", treatname="d",
                              covariates=["log_age_base", "log_employment_base"], pre=g - 1, post=g,
                              method="match")
    assert float(nn["estimate"].iloc[0]) == pytest.approx(res.estimate, abs=DISPLAY_TOL)
    assert float(nn["std_error"].iloc[0]) == pytest.approx(res.std_error, abs=DISPLAY_TOL)


def test_instrument_notebook_scored_call_small_cohorts(tmp_path: Path) -> None:
    """A scored call on a small sample under the research-data-centre profile: the RDD's robust estimate is
    the headline, and cohorts (or matched comparisons) below 10 firms are left out and named, so no combined
    row is shown."""
    from ipf_eval.data.simulate import simulate_firms
    from ipf_eval.disclosure import scan_html

    path = tmp_path / "DK__rd_grant.json"
    params = {"country": "DK", "country_name": "Denmark", "instrument": "rd_grant",
              "instrument_label": "R&D grants", "design": "scored_call", "outcomes": ["log_employment"],
              "primary_outcome": "log_employment", "sim_n_firms": 10000,
              "disclosure_profile": "research_data_centre", "bootstrap": False, "evidence_path": str(path)}
    texts = _run("instrument_evaluation", tmp_path / "inst.ipynb", params, NOTEBOOKS)
    record = json.loads(path.read_text(encoding="utf-8"))
    est = pd.DataFrame(record["estimates"])
    assert set(est["estimator"]) >= {"rdd", "att_gt_dr"}
    heads = est.loc[est["headline"]]
    assert list(zip(heads["outcome"], heads["estimator"], heads["term"], strict=True)) == [
        ("log_employment", "rdd", "robust")]
    assert "fuzzy" in heads["estimand"].iloc[0]
    assert (est.loc[est["estimator"] == "rdd", "evidence_grade"] == record["evidence_grade"]).all()

    sample = simulate_firms(seed=2024, n_firms=10000).evaluation_sample("DK", "rd_grant")
    first = sample.groupby("firm_id")["first_support_year"].first()
    sizes = {g: int((first == g).sum()) for g in sorted({int(v) for v in first}) if g > 0}
    small = {str(g) for g, n in sizes.items() if n < 10}
    assert small, "the sample has a support cohort below the research-data-centre threshold"
    matched = _table(texts, "log_employment, change from the year before support to the year of support")
    assert set(matched["cohort"]).isdisjoint(small)
    assert not matched["cohort"].str.startswith("all").any()  # cohorts missing: no combined row
    counts = _num(matched["comparison firms"].str.removesuffix(" matched"))
    assert (counts >= 10).all()
    cs_rows = matched.loc[matched["estimator"].str.startswith("Callaway-Sant'Anna")].set_index("cohort")
    nn_rows = matched.loc[matched["estimator"] == "matched DiD (nearest neighbour)"].set_index("cohort")
    assert (_num(cs_rows["supported firms"]) >= 10).all()
    for g, text in nn_rows["supported firms"].items():
        # no count of unmatched firms below the threshold can be had by differencing the two rows
        total = int(str(cs_rows.loc[g, "supported firms"]).replace(",", ""))
        if "minus fewer than" in text:
            assert text == f"{total:,} minus fewer than 10"
        else:
            unmatched = total - int(text.replace(",", ""))
            assert unmatched == 0 or unmatched >= 10, (g, text, total)
    note = next(html.unescape(t) for t in texts if t.startswith("Cohorts not shown"))
    for g in small:
        assert f"{g} (fewer firms than the research_data_centre threshold of 10)" in note
    assert "No combined row" in note
    shown = set(matched["cohort"]) | {re.sub(r" .*", "", x) for x in note.split(": ", 1)[1].split("; ")}
    assert shown >= {str(g) for g in sizes}  # every cohort is either shown or named
    assert scan_html("\n".join(texts), profile="research_data_centre").clean
