"""No rendered output names a firm: the scan rule, the local log, the data messages and the batch's scan."""

from __future__ import annotations

import base64
import json
import os
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from _pipeline_helpers import PROJECT, make_project, real_project
from conftest import make_tiny_panel

from ipf_eval.data import _checks as ck
from ipf_eval.data import simulate_firms
from ipf_eval.data.contract import validate_panel
from ipf_eval.disclosure import (
    WITHHELD_MESSAGE,
    identifier_set,
    publishable_text,
    record_details,
    run_identifiers,
    scan_identifiers,
    scrub_identifiers,
)
from ipf_eval.disclosure import local_log as ll
from ipf_eval.disclosure.identifiers import MIN_DIGITS, write_identifiers
from ipf_eval.errors import DataError, DataWarning
from ipf_eval.pipeline import build_plan, run_batch
from ipf_eval.pipeline import runner as runner_mod
from ipf_eval.pipeline.display import NotebookReport, Notes, TechnicalAppendix, reviewer_sentence

ENV = ll.ENV_VAR


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local log in the test's folder, named by the environment variable as the batch names it."""
    path = tmp_path / "local" / "run.log"
    monkeypatch.setenv(ENV, str(path))
    return path


# ---- the scan rule -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ids", "found"), [
    ("firm FIRM-00042 was dropped", ["FIRM-00042", "FIRM-00043"], ["FIRM-00042"]),
    ("firms 'FIRM-00042', \"FIRM-00043\".", ["FIRM-00042", "FIRM-00043"], ["FIRM-00042", "FIRM-00043"]),
    ("XFIRM-00042, FIRM-000421 and FIRM-00042b are other tokens", ["FIRM-00042"], []),
    ("<td>FIRM-00042</td>", ["FIRM-00042"], ["FIRM-00042"]),
    ("O&#x27;Brien-1 in the page", ["O'Brien-1"], ["O'Brien-1"]),
    ("id #123, then (AB)", ["#123"], ["#123"]),
    ("case matters: firm-00042", ["FIRM-00042"], []),
    # numbers: six digits or more, whole numbers only
    ("firm 410501.", [410501], ["410501"]),
    ("firm 410,501 and 410501.0", [410501], ["410501"]),
    ("p = 0.410501; 410501.5; 2,410,501 EUR; x410501; 4105012", [410501], []),
    ("410501,410502", [410501, 410502, 410503], ["410501", "410502"]),
    ("ids read from a CSV as floats", [410501.0], []),
    ("410501 read as float", [410501.0, np.int64(410502)], ["410501"]),
    ("text of digits 410501", ["410501"], ["410501"]),
    # leading zeros: written as text, searched digit for digit from three characters
    ("firm 00042 and 0.00042", ["00042"], ["00042"]),
    ("42 and 042", ["00042"], []),
    # too short to tell from words and numbers: skipped
    ("A firm of 12 people, 2009, 120 rows; firm AB", ["A", "AB", 12, 2009, 120], []),
    ("missing values are ignored", [None, np.nan, pd.NA], []),
])
def test_the_scan_rule(text: str, ids: list[Any], found: list[str]) -> None:
    assert scan_identifiers(text, ids) == found


def test_short_identifiers_are_counted_as_skipped() -> None:
    s = identifier_set(["FIRM-00042", 410501, 17, "AB", "", None])
    assert (s.n_searched, s.n_skipped) == (2, 2)
    assert bool(s)
    assert not identifier_set([1, 2, 3])


def test_simulated_firm_numbers_are_not_searched() -> None:
    """Simulated firms are numbered 1..n: every one is below MIN_DIGITS digits, so a report full of counts,
    years and amounts is clean, and the batch does not search simulated data at all."""
    ids = range(1, 30_001)
    assert identifier_set(ids).n_searched == 0
    report = "12,000 firms, 2009-2015, 120 supported; effect 0.041 (n = 4,211); firm 42"
    assert scan_identifiers(report, ids) == []
    assert 10 ** (MIN_DIGITS - 1) > 30_000


def test_embedded_svg_is_searched_and_png_bytes_are_not() -> None:
    svg = base64.b64encode(b"<svg><text>FIRM-00042</text></svg>").decode()
    page = f'<img src="data:image/svg+xml;base64,{svg}">'
    assert scan_identifiers(page, ["FIRM-00042"]) == ["FIRM-00042"]
    png = base64.b64encode(b"\x89PNG+410501+").decode()
    assert scan_identifiers(f'<img src="data:image/png;base64,{png}+410501/">', [410501]) == []


def test_scrub_replaces_every_identifier() -> None:
    text = "firms 'FIRM-00042', 'FIRM-00043' and 410,501 (not 0.410501)"
    out = scrub_identifiers(text, ["FIRM-00042", "FIRM-00043", 410501])
    assert out == "firms '[withheld]', '[withheld]' and [withheld] (not 0.410501)"
    assert scrub_identifiers("nothing here", ["FIRM-00042"]) == "nothing here"


def test_a_large_register_scans_fast() -> None:
    ids = [f"FIRM-{i:07d}" for i in range(200_000)] + list(range(1_000_000, 1_200_000))
    s = identifier_set(ids)
    page = ("<p>effect 0.12 in 12,345 firms; FIRM-0000042 and 1000042</p>" * 20_000)
    assert s.find(page) == ["1000042", "FIRM-0000042"]


def test_publishable_text_scrubs_identifiers_before_the_small_count_check() -> None:
    assert publishable_text("firm FIRM-00042 lacks turnover", identifiers=["FIRM-00042"]) == (
        "firm [withheld] lacks turnover")
    assert publishable_text("firm FIRM-00042 lacks turnover") == "firm FIRM-00042 lacks turnover"
    assert publishable_text("2 firms lack turnover", identifiers=["FIRM-00042"]) == WITHHELD_MESSAGE


# ---- the local log -----------------------------------------------------------------------------------------

def test_record_details_writes_a_private_local_file(log: Path) -> None:
    path = record_details("rows dropped", columns=["year", "log_emp"], ids=["FIRM-00042", "FIRM-00042",
                                                                           "FIRM-00043"])
    assert path == log.resolve()
    text = log.read_text()
    assert "rows dropped  columns: 'year', 'log_emp'  (2 firm(s))" in text
    assert "firms: 'FIRM-00042', 'FIRM-00043'" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    record_details("weights negative", columns="w", ids=pd.Series(["A-1", "A-2"]), values=[-1.5, -2.0])
    assert "firm (value): 'A-1' (-1.5), 'A-2' (-2.0)" in log.read_text()


def test_record_details_lists_at_most_max_listed(log: Path) -> None:
    record_details("many", ids=range(ll.MAX_LISTED + 7))
    assert "and 7 more" in log.read_text()


def test_without_the_variable_the_log_is_private_and_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    path = record_details("x", ids=["FIRM-00042"])
    assert path is not None
    assert path.name == ll.DEFAULT_NAME
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "FIRM-00042" in path.read_text()
    assert ll.identifiers_file() is None
    assert not run_identifiers()


def test_an_unwritable_log_does_not_stop_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(ENV, str(tmp_path / "a_file" / "run.log"))
    assert record_details("x", ids=["FIRM-00042"]) is None
    assert ck.listed("x", "y", ["FIRM-00042"]).startswith("the firms are not listed: no local log")


def test_the_run_identifiers_are_read_next_to_the_log(log: Path) -> None:
    assert ll.identifiers_file() == log.resolve().with_suffix(".ids")
    assert not run_identifiers()
    write_identifiers(log.with_suffix(".ids"), ["FIRM-00042", 410501, None])
    assert stat.S_IMODE(log.with_suffix(".ids").stat().st_mode) == 0o600
    assert run_identifiers().find("FIRM-00042 410501") == ["410501", "FIRM-00042"]
    write_identifiers(log.with_suffix(".ids"), ["FIRM-00043"])
    assert run_identifiers().find("FIRM-00042 FIRM-00043") == ["FIRM-00043"]


# ---- the messages of the panel contract ----------------------------------------------------------------

NAMES: dict[str, Any] = {"idname": "firm_id", "tname": "year", "gname": "first_support", "ynames": "log_emp"}
Mutate = Callable[[pd.DataFrame], pd.DataFrame]


def _panel() -> pd.DataFrame:
    """The tiny panel with agency-style ids FIRM-00041..FIRM-00048 and a weight that is a firm's own value."""
    df = make_tiny_panel()
    return df.assign(firm_id=[f"FIRM-{40 + k:05d}" for k in df["firm_id"]])


def _at(mask: Callable[[pd.DataFrame], Any], column: str, value: Any) -> Mutate:
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        if isinstance(value, str) or df[column].dtype.kind in "iub":
            df[column] = df[column].astype(object if isinstance(value, str) else "float64")
        df.loc[mask(df), column] = value
        return df
    return mutate


def _firm(k: int) -> Callable[[pd.DataFrame], Any]:
    return lambda df: df["firm_id"] == f"FIRM-{40 + k:05d}"


def _row(i: int) -> Callable[[pd.DataFrame], Any]:
    return lambda df: df.index == i


WARNS: list[tuple[str, Mutate, dict[str, Any]]] = [
    ("outcome missing", _at(_row(11), "log_emp", np.nan), {}),
    ("period missing", _at(_row(6), "year", np.nan), {}),
    ("covariate missing", _at(_row(39), "sector", None), {"covariates": ["sector"]}),
    ("support after the window", _at(_firm(6), "first_support", 2010), {}),
    ("already supported", _at(_firm(5), "first_support", 2001), {}),
    ("support between periods", lambda d: d[d["year"] != 2006], {"period_gaps": "accept"}),
    ("covariate varies", lambda d: d.assign(log_age=d["log_age"] + d["year"] / 1000),
     {"covariates": "log_age"}),
]
ERRORS: list[tuple[str, Mutate, dict[str, Any]]] = [
    ("text outcome", _at(_row(4), "log_emp", "1.234,5"), {}),
    ("half-year period", _at(_row(2), "year", 2005.5), {}),
    ("negative gname", _at(_firm(2), "first_support", -1), {}),
    ("duplicate rows", lambda d: pd.concat([d, d.iloc[[0, 6]]]), {}),
    ("gname varies", _at(_row(3), "first_support", 2006), {}),
    ("negative weights", _at(_firm(3), "weight", -1.2345), {"weightsname": "weight"}),
    ("text weights", _at(_row(0), "weight", "1.2345 (est.)"), {"weightsname": "weight"}),
    ("weights vary", _at(_row(1), "weight", 9.8765), {"weightsname": "weight"}),
    ("already supported, refused", _at(_firm(5), "first_support", 2001), {"already_supported": "error"}),
]
FIRM_VALUES = ("1.234,5", "1.2345", "9.8765")


def _clean(message: str) -> None:
    assert "FIRM-" not in message, message
    assert not any(v in message for v in FIRM_VALUES), message


@pytest.mark.parametrize(("mutate", "kwargs"), [c[1:] for c in WARNS], ids=[c[0] for c in WARNS])
def test_warnings_name_no_firm_and_the_log_lists_them(log: Path, mutate: Mutate,
                                                      kwargs: dict[str, Any]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vp = validate_panel(mutate(_panel()), **{**NAMES, **kwargs})
    messages = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    assert messages
    for text in [*messages, *vp.notes, *(d.reason for d in vp.dropped), json.dumps(vp.to_dict())]:
        _clean(text)
    assert any(f"listed in the local log {str(log.resolve())!r}" in m for m in messages)
    assert "FIRM-000" in log.read_text()


@pytest.mark.parametrize(("mutate", "kwargs"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_name_no_firm_and_the_log_lists_them(log: Path, mutate: Mutate,
                                                    kwargs: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        with pytest.raises(DataError, match="listed in the local log") as info:
            validate_panel(mutate(_panel()), **{**NAMES, **kwargs})
    _clean(str(info.value))
    assert "FIRM-000" in log.read_text()


def test_the_log_pairs_each_firm_with_its_value(log: Path) -> None:
    with pytest.raises(DataError, match=r"holds 5 negative value\(s\) in 1 firm\(s\)"):
        validate_panel(_at(_firm(3), "weight", -1.2345)(_panel()), **NAMES, weightsname="weight")
    assert "firm (value): 'FIRM-00043' (-1.2345)" in log.read_text()


# ---- what the notebooks show -------------------------------------------------------------------------------

def test_notes_and_the_appendix_scrub_the_run_identifiers(log: Path) -> None:
    write_identifiers(log.with_suffix(".ids"), ["FIRM-00042", 410501])
    message = "DataWarning: firms (e.g. FIRM-00042, 410501) are not observed in all 5 periods"
    notes = repr(Notes((message,)))
    assert "FIRM-00042" not in notes
    assert "410501" not in notes
    assert "[withheld]" in notes
    assert "[withheld]" in reviewer_sentence(message)
    appendix = TechnicalAppendix((("data", message),))
    for shown in (appendix._repr_html_(), repr(appendix)):
        assert "FIRM-00042" not in shown
        assert "410501" not in shown
    report = NotebookReport()
    report.notes.append(message)
    assert "FIRM-00042" not in repr(report.appendix({"estimates": [message]}))


# ---- the batch's scan --------------------------------------------------------------------------------------

def _firm_file(path: Path, *, n_firms: int = 8) -> list[str]:
    """A file of the fixture contract with agency ids and missing outcomes: the validation warns (about three
    firms, not fewer: the fixture notebook prints its warnings unchecked, and the page scan withholds a
    small count)."""
    ids = [f"FIRM-{k:05d}" for k in range(40, 40 + n_firms)]
    rows = [{"FirmNo": f, "year": y, "first_support_year": 2005 if i < 2 else 0,
             "log_employment": 2.0 + 0.1 * i + 0.01 * (y - 2003)}
            for i, f in enumerate(ids) for y in range(2003, 2008)]
    frame = pd.DataFrame(rows)
    frame.loc[[3, 17, 26], "log_employment"] = np.nan  # FIRM-00040, FIRM-00043, FIRM-00045
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return ids


def _file_project(root: Path, instruments: list[str], **batch: Any) -> Path:
    over = {"AT": {"data": {"source": "file", "path": "data/at.csv", "columns": {"firm_id": "FirmNo"}}}}
    return make_project(root, {"AT": instruments}, country_over=over,
                        batch={"synthesis": False, "data_dirs": ["data"], **batch})


def _files_naming(folder: Path, ids: list[str]) -> dict[str, list[str]]:
    named = {}
    for p in folder.rglob("*"):
        if p.is_file():
            text = p.read_text(encoding="utf-8", errors="replace")
            hits = [i for i in ids if i in text]
            if hits:
                named[str(p.relative_to(folder))] = hits
    return named


def test_the_task_says_whose_identifiers_a_run_must_not_show(tmp_path: Path) -> None:
    batch = _file_project(tmp_path, ["alpha"])
    _firm_file(tmp_path / "data" / "at.csv")
    plan = build_plan(batch)
    tasks = {r.run_id: runner_mod._task(r, plan, 60, True) for r in plan.runs}
    assert tasks["AT/alpha"]["confidential"] == {
        "local_log": str(tmp_path.resolve() / ".ipf_eval" / "logs" / "AT__alpha.log"),
        "batch_file": str(plan.batch_file), "countries": ["AT"]}
    assert tasks["AT"]["confidential"]["countries"] == ["AT"]
    simulated = build_plan(make_project(tmp_path / "sim", {"NO": ["alpha"]}))
    for run in simulated.runs:
        assert runner_mod._task(run, simulated, 60, True)["confidential"]["countries"] == []


def test_the_kernel_finds_the_run_log_through_a_fixed_link(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    target = tmp_path / "logs" / "AT__alpha.log"
    target.parent.mkdir()
    with runner_mod._kernel_environment(target, True) as reuse:
        assert reuse
        link = Path(os.environ[ENV])
        assert link != target
        assert link.resolve() == target.resolve()
        assert ll.local_log_path() == target.resolve()
    assert ENV not in os.environ
    with runner_mod._kernel_environment(target, False) as reuse:
        assert not reuse
        assert os.environ[ENV] == str(target)


def test_the_scan_fails_on_an_identifier_and_names_none(tmp_path: Path) -> None:
    log = ll.start_local_log(tmp_path / "logs" / "AT__alpha.log", title="run AT/alpha")
    evidence = tmp_path / "evidence.json"
    evidence.write_text(json.dumps({"notes": {"data": ["firm FIRM-00042 dropped"]}, "n_obs": 410501}))
    ids = identifier_set(["FIRM-00042", "FIRM-00043", 410501])
    error = runner_mod._disclosure_findings("<p>clean page, 410501 rows</p>", None, identifiers=ids,
                                            outputs={"evidence file": evidence}, local_log=log)
    assert error.startswith("disclosure scan: the rendered report names 2 firm identifier(s)")
    assert "(in the HTML page, evidence file)" in error
    _clean(error)
    assert "410501" not in error
    assert "FIRM-00042" in log.read_text()
    assert "410501" in log.read_text()
    evidence.write_text(json.dumps({"n_obs": 410501}))  # the evidence file's numbers are not searched
    assert runner_mod._disclosure_findings("<p>clean</p>", None, identifiers=ids,
                                           outputs={"evidence file": evidence}, local_log=log) == ""


def test_the_searched_text_of_a_notebook_skips_its_png_bytes(tmp_path: Path) -> None:
    from ipf_eval.disclosure.identifiers import output_text

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="DataWarning: firm FIRM-00042"),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBOR+410501/", "text/plain": "<Figure>"}),
        nbformat.v4.new_output("error", ename="KeyError", evalue="'FIRM-00043'", traceback=["KeyError"]),
    ])])
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, str(path))
    text = output_text(path)
    assert scan_identifiers(text, ["FIRM-00042", "FIRM-00043", 410501]) == ["FIRM-00042", "FIRM-00043"]
    assert output_text(tmp_path / "missing.json") == ""


@pytest.mark.parametrize("reuse", [True, False], ids=["warm kernel", "fresh kernel"])
def test_a_batch_on_an_agency_file_publishes_no_identifier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           reuse: bool) -> None:
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = _file_project(tmp_path, ["alpha"], reuse_kernels=reuse)
    ids = _firm_file(tmp_path / "data" / "at.csv")
    report = run_batch(build_plan(batch), progress=False)
    assert report.exit_code == 0, report.summary_table()
    assert _files_naming(tmp_path / "reports", ids) == {}
    log = tmp_path.resolve() / ".ipf_eval" / "logs" / "AT__alpha.log"
    assert "'FIRM-00040', 'FIRM-00043', 'FIRM-00045'" in log.read_text()
    executed = (tmp_path / "reports" / "_runs" / "AT" / "alpha.ipynb").read_text()
    assert "listed in the local log" in executed
    assert "AT__alpha.log" in executed
    assert not log.with_suffix(".ids").exists()  # the notes' copy of the ids is removed after the run


def test_a_report_that_prints_an_identifier_is_not_published(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = _file_project(tmp_path, ["alpha", "leaky"])
    ids = _firm_file(tmp_path / "data" / "at.csv")
    notebook = tmp_path / "notebooks" / "instrument_evaluation.ipynb"
    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "if instrument == 'leaky':\n    print('first firm:', run.load_data().panel['firm_id'].unique()[2])\n"
        "    raise RuntimeError('firm ' + str(run.load_data().panel['firm_id'].unique()[3]))"))
    nbformat.write(nb, str(notebook))
    report = run_batch(build_plan(batch), progress=False)
    outcome = {o.run_id: o for o in report.outcomes}
    assert outcome["AT/alpha"].status == "ok"
    leaky = outcome["AT/leaky"]
    assert leaky.status == "failed"
    assert "[withheld]" in leaky.error  # the notebook's error, with the identifier scrubbed
    out = tmp_path / "reports"
    assert not (out / "AT" / "leaky.html").exists()
    assert not (out / "_runs" / "AT" / "leaky.failed.ipynb").exists()
    kept = tmp_path.resolve() / ".ipf_eval" / "logs" / "AT__leaky.failed.ipynb"
    assert leaky.notebook == str(kept)
    assert "FIRM-00042" in kept.read_text()
    assert _files_naming(out, ids) == {}


# ---- the done-when test: the real notebooks on an agency's file with data problems -------------------------

@pytest.mark.slow
def test_a_batch_from_an_agency_file_with_data_problems_names_no_firm(tmp_path: Path) -> None:
    """The real instrument notebook and country report on a register extract whose ids look like
    ``FIRM-00042``, with rows that validation drops (a missing year, a missing turnover) and a covariate it
    replaces by its baseline: every rendered file under ``reports/`` is searched for every id; the
    warnings are published with counts and the local log, which lists the firms."""
    batch = real_project(tmp_path, {"countries": ["AT"], "instruments": ["loan_guarantee"],
                                    "output_dir": "reports", "data_dirs": ["data"], "workers": 0,
                                    "timeout": 300, "seed": 7, "synthesis": False, "case_studies": []},
                         n_firms=None)
    params = batch.parent
    sample = simulate_firms(seed=5, n_firms=12_000).evaluation_sample("AT", "loan_guarantee")
    firms = sorted(sample["firm_id"].unique())
    names = {f: f"FIRM-{i:05d}" for i, f in enumerate(firms, start=1)}
    sample = sample.assign(firm_id=sample["firm_id"].map(names))
    first_row = sample.groupby("firm_id").head(1).index
    with_problems = sample.copy()
    with_problems.loc[first_row[:12], "year"] = np.nan  # 12 firms lose a year
    with_problems.loc[first_row[20:32] + 1, "log_turnover"] = np.nan  # 12 firms lose a turnover
    varying = with_problems["firm_id"].isin(with_problems["firm_id"].unique()[40:52])
    with_problems.loc[varying, "log_age_base"] += 0.001 * with_problems.loc[varying, "year"].fillna(0)
    (tmp_path / "data").mkdir()
    register = tmp_path / "data" / "register.csv"
    with_problems.rename(columns={"firm_id": "FirmNo"}).to_csv(register, index=False)
    country = yaml.safe_load((params / "countries" / "AT.yaml").read_text())
    country["data"] = {"source": "file", "path": "data/register.csv", "columns": {"firm_id": "FirmNo"}}
    (params / "countries" / "AT.yaml").write_text(yaml.safe_dump(country))

    report = run_batch(build_plan(params / "batch.yaml", project_root=tmp_path,
                                  notebooks_dir=PROJECT / "notebooks"), progress=False)
    assert report.exit_code == 0, report.summary_table()
    out = tmp_path / "reports"
    ids = sorted(names.values())
    assert "FIRM-00042" in ids
    rendered = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in rendered)
    assert any(p.suffix == ".ipynb" for p in rendered)
    found = {str(p.relative_to(out)): scan_identifiers(p.read_text(encoding="utf-8", errors="replace"), ids)
             for p in rendered}
    assert {k: v for k, v in found.items() if v} == {}
    assert _files_naming(out, ids) == {}  # plain substring search too, whatever the scan rule
    page = (out / "AT" / "loan_guarantee.html").read_text(encoding="utf-8")
    assert "listed in the local log" in page  # the data warnings are published, without the firms
    log = (tmp_path / ".ipf_eval" / "logs" / "AT__loan_guarantee.log").read_text()
    incomplete = with_problems["year"].isna() | with_problems["log_turnover"].isna()
    dropped = with_problems.loc[incomplete, "firm_id"]
    assert set(dropped) <= {i.strip(" '") for line in log.splitlines() if "firms:" in line
                            for i in line.split("firms:", 1)[1].split(", ")}
