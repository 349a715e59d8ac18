"""The batch runner, with faults injected through tiny fixture notebooks (see fixtures/notebooks)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
from _evidence_helpers import estimate_row, record
from _pipeline_helpers import make_project

from ipf_eval.errors import PipelineError
from ipf_eval.pipeline import build_plan, run_batch
from ipf_eval.pipeline import runner as runner_mod

EVIL = "<script>alert('x')</script> & Co"


def _no_temporaries(folder: Path) -> bool:
    return not list(folder.rglob(".ipf-eval-tmp-*"))


def _kernel_socket_folders() -> set[Path]:
    """The kernel socket folders of this process and its (possibly killed) workers.

    A folder is named after the process that made it; one made by a live process outside this process's
    tree belongs to another test session running at the same time, and is not ours to count.
    """
    import tempfile

    from ipf_eval.pipeline._kernels import FOLDER_PREFIX

    ours = {os.getpid(), *(c.pid for c in psutil.Process().children(recursive=True))}
    found = set()
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        pid = folder.name[len(FOLDER_PREFIX):].split("-")[0]
        if not pid.isdigit() or int(pid) in ours or not psutil.pid_exists(int(pid)):
            found.add(folder)
    return found


def _kernels_of_this_process() -> list[psutil.Process]:
    kernels = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(proc.cmdline()):
                kernels.append(proc)
        except psutil.Error:
            continue
    return kernels


@pytest.mark.slow
def test_faults_in_a_process_pool_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # other engineers edit the library while these tests run; pin its fingerprint
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = make_project(tmp_path, {"AT": ["alpha", "raising", "killed", "sleepy", "silent"]},
                         batch={"timeout": 10, "workers": 2},
                         country_over={"AT": {"name": EVIL}})
    plan = build_plan(batch)
    report = run_batch(plan, progress=False)
    status = {o.run_id: o for o in report.outcomes}
    assert {k: v.status for k, v in status.items()} == {
        "AT/alpha": "ok", "AT/raising": "failed", "AT/killed": "failed", "AT/sleepy": "failed",
        "AT/silent": "failed", "AT": "ok", "synthesis": "ok",
        **{f"forum/{name}": "ok" for name in ("alpha", "raising", "killed", "sleepy", "silent")}}
    assert report.exit_code == 1
    assert status["AT/raising"].error == "ValueError: injected failure for AT (cell 3)"
    assert "kernel died" in status["AT/killed"].error
    assert "timeout" in status["AT/sleepy"].error
    assert "without writing its evidence" in status["AT/silent"].error
    out = tmp_path / "reports"
    # failed notebooks are kept for debugging, with the traceback inside; no report was published for them
    failed_nb = json.loads((out / "_runs" / "AT" / "raising.failed.ipynb").read_text())
    assert any(o.get("ename") == "ValueError" for c in failed_nb["cells"] for o in c.get("outputs", []))
    assert not (out / "AT" / "raising.html").exists()
    assert (out / "AT" / "alpha.html").is_file()
    assert (out / "AT" / "country_report.html").is_file()
    # the HTML carries outputs, not code
    page = (out / "AT" / "alpha.html").read_text()
    assert "firms read" in page
    assert "write_evidence(" not in page
    assert "import pandas" not in page
    # evidence.csv: only the run that succeeded
    csv = pd.read_csv(out / "evidence.csv")
    assert csv[["country", "instrument", "outcome"]].values.tolist() == [["AT", "alpha", "log_employment"]]
    # index pages list the errors and escape names from parameter files
    index = (out / "index.html").read_text()
    runs = (out / "runs.html").read_text()  # the run log has its own page; the landing page links to it
    country_index = (out / "AT" / "index.html").read_text()
    assert "7 runs, 4 failed" not in index
    assert "12 runs, 4 failed" in index
    assert "<a href='runs.html'>" in index
    assert "<table id='findings'>" in index  # the landing page opens on the findings
    assert index.index("id='findings'") < index.index("runs.html")
    assert "ValueError: injected failure for AT (cell 3)" in runs
    assert "raising.failed.ipynb" in country_index
    assert "<script>" not in index + runs + country_index
    assert "&lt;script&gt;" in country_index
    assert _no_temporaries(out)
    assert report.summary_table().splitlines()[-1].startswith("8 ok, 4 failed, 0 skipped")

    # resume: nothing changed, so the good runs are skipped and the failed ones run again
    html_before = (out / "AT" / "alpha.html").stat().st_mtime_ns
    again = run_batch(build_plan(batch, only="AT/alpha"), resume=True, workers=0, progress=False)
    assert [(o.run_id, o.status) for o in again.outcomes] == [
        ("AT/alpha", "skipped"), ("AT", "skipped"), ("synthesis", "skipped"),
        *((f"forum/{name}", "skipped") for name in sorted(["alpha", "raising", "killed", "sleepy",
                                                              "silent"]))]
    assert again.exit_code == 0
    assert (out / "AT" / "alpha.html").stat().st_mtime_ns == html_before
    assert not _kernels_of_this_process()


def _write_csv(path: Path, *, good: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"orgnr": f, "aar": t, "first_support_year": 2012 if f < 3 else 0,
             "log_employment": 1.0 + t / 1e4} for f in range(6) for t in range(2010, 2015)]
    frame = pd.DataFrame(rows)
    if not good:
        frame = frame.drop(columns=["log_employment"])
    frame.to_csv(path, index=False)


def test_bad_data_keeps_the_previous_good_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    over = {"NO": {"data": {"source": "file", "path": "data/no.csv",
                            "columns": {"firm_id": "orgnr", "year": "aar"}}}}
    batch = make_project(tmp_path, {"NO": ["alpha"]}, country_over=over, batch={"synthesis": False})
    csv = tmp_path / "data" / "no.csv"
    _write_csv(csv, good=True)
    first = run_batch(build_plan(batch, only="NO/alpha"), progress=False)
    assert [o.status for o in first.outcomes] == ["ok", "ok"]
    out = tmp_path / "reports"
    good_html = (out / "NO" / "alpha.html").read_bytes()
    good_evidence = (out / "_runs" / "evidence" / "NO__alpha.json").read_bytes()
    assert b"6 firms read" in good_html

    _write_csv(csv, good=False)  # the data changed, so --resume must rerun it; it now fails
    second = run_batch(build_plan(batch, only="NO/alpha"), resume=True, progress=False)
    outcome = second.outcomes[0]
    assert outcome.status == "failed"
    assert outcome.error.startswith("DataError: ")
    assert "'log_employment'" in outcome.error
    # the earlier report stays, marked stale: a banner on its page, its evidence rows stale, and the run log
    # says so
    page = (out / "NO" / "alpha.html").read_text(encoding="utf-8")
    assert "id='stale-report'" in page
    assert "the latest run failed: DataError" in page
    assert re.sub(r"<div id='stale-report'.*?</div>", "", page, count=1, flags=re.S).encode() == good_html
    old_record, record = json.loads(good_evidence), json.loads((out / "_runs" / "evidence" /
                                                                "NO__alpha.json").read_text())
    assert record["stale"]["error"].startswith("DataError")
    rows, old_rows = record["tables"]["estimates"], old_record["tables"]["estimates"]
    assert [r["stale"] for r in rows] == [True] * len(rows)
    assert [(r["run_id"], r["created"]) for r in rows] == [(r["run_id"], r["created"]) for r in old_rows]
    csv_rows = pd.read_csv(out / "evidence.csv")
    assert csv_rows.loc[csv_rows["country"] == "NO", "stale"].all()
    assert (out / "_runs" / "NO" / "alpha.failed.ipynb").is_file()
    index = (out / "NO" / "index.html").read_text()
    assert "DataError" in index
    assert "Out of date: the page shown is the report of" in index
    assert "out of date (the evidence of" in index  # the findings row
    assert _no_temporaries(out)

    # the same failure again keeps one banner and the date of the report shown
    run_batch(build_plan(batch, only="NO/alpha"), resume=True, progress=False)
    assert (out / "NO" / "alpha.html").read_text(encoding="utf-8").count("id='stale-report'") == 1

    # a later successful run removes the mark
    _write_csv(csv, good=True)
    third = run_batch(build_plan(batch, only="NO/alpha"), resume=True, progress=False)
    assert third.outcomes[0].status == "ok"
    assert "stale-report" not in (out / "NO" / "alpha.html").read_text(encoding="utf-8")
    fresh = json.loads((out / "_runs" / "evidence" / "NO__alpha.json").read_text())
    assert "stale" not in fresh
    assert not any(r["stale"] for r in fresh["tables"]["estimates"])
    assert "Out of date" not in (out / "NO" / "index.html").read_text()


def test_unwritable_output_folder(tmp_path: Path) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha"]})
    (tmp_path / "reports").write_text("a file where the output folder should be")
    with pytest.raises(PipelineError, match=r"output folder .*reports' cannot be written.*output_dir"):
        run_batch(build_plan(batch), progress=False)


def test_publish_failure_is_a_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path, text: str) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(runner_mod, "atomic_write_text", refuse)
    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake_papermill)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    report = run_batch(build_plan(batch, only="NO/alpha"), progress=False)
    assert report.outcomes[0].status == "failed"
    assert report.outcomes[0].error.startswith("rendering or publishing failed: PermissionError")
    assert not (tmp_path / "reports" / "NO" / "alpha.html").exists()
    assert (tmp_path / "reports" / "_runs" / "NO" / "alpha.failed.ipynb").is_file()
    assert _no_temporaries(tmp_path / "reports")


def _fake_papermill(notebook: str, output: str, parameters: dict[str, Any], timeout: int, cwd: str,
                    reuse_kernel: bool = False) -> None:
    """Stand-in for papermill: copy the notebook and write the evidence the real notebook would write."""
    from ipf_eval.pipeline import instrument_run, write_evidence

    Path(output).write_text(Path(notebook).read_text())
    if "evidence_path" in parameters:
        country, name = parameters["country"], parameters["instrument"]
        run = instrument_run(parameters["params"], country=country, instrument=name)
        row = estimate_row(country, name, estimate=run.instrument.costs.programme_cost_per_firm / 1000)
        write_evidence(parameters["evidence_path"], record(country, name, rows=[row]))


def test_kernel_start_error_is_retried_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def flaky(notebook: str, output: str, parameters: dict[str, Any], timeout: int, cwd: str,
              reuse_kernel: bool = False) -> None:
        calls.append(notebook)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        _fake_papermill(notebook, output, parameters, timeout, cwd)

    monkeypatch.setattr(runner_mod, "_papermill_execute", flaky)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    report = run_batch(build_plan(batch, only="NO/alpha"), progress=False)
    assert report.outcomes[0].status == "ok"
    assert report.outcomes[0].attempts == 2
    assert len(calls) == 3  # two attempts for NO/alpha, one for the country report


def test_kernel_start_error_twice_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(runner_mod, "_papermill_execute", broken)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    outcome = run_batch(build_plan(batch, only="NO/alpha"), progress=False).outcomes[0]
    assert outcome.attempts == 2
    assert outcome.error == ("RuntimeError: Kernel died before replying to "
                             "kernel_info")


def test_notebook_errors_are_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from papermill.exceptions import PapermillExecutionError

    def raising(*args: Any) -> None:
        raise PapermillExecutionError(3, 4, "x", "KeyError", "'kernel'", [])

    monkeypatch.setattr(runner_mod, "_papermill_execute", raising)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    outcome = run_batch(build_plan(batch, only="NO/alpha"), progress=False).outcomes[0]
    assert outcome.attempts == 1
    assert outcome.error == "KeyError: 'kernel' (cell 4)"


def test_interrupt_leaves_published_files_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake_papermill)
    batch = make_project(tmp_path, {"NO": ["alpha", "beta"]})
    plan = build_plan(batch)
    run_batch(plan, progress=False)
    out = tmp_path / "reports"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "manifest" not in p.name}

    def interrupt(outcome: runner_mod.RunOutcome) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "_on_complete", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_batch(plan, progress=False)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "manifest" not in p.name}
    assert set(after) == set(before)  # nothing new, nothing half-written
    assert after[out / "index.html"] == before[out / "index.html"]
    assert _no_temporaries(out)


@pytest.mark.slow
def test_interrupt_stops_running_kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha", "sleepy"]}, batch={"workers": 2, "timeout": 300})

    def interrupt(outcome: runner_mod.RunOutcome) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "_on_complete", interrupt)
    sockets_before = _kernel_socket_folders()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_batch(build_plan(batch), progress=False)
    assert time.perf_counter() - start < 100  # did not wait for the 120 s sleep
    assert _kernel_socket_folders() <= sockets_before  # the killed workers' kernel socket folders are gone
    deadline = time.monotonic() + 10
    while _kernels_of_this_process() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _kernels_of_this_process()
    assert _no_temporaries(tmp_path / "reports")
    assert not (tmp_path / "reports" / "NO" / "sleepy.html").exists()


def test_resume_reruns_when_parameters_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake_papermill)
    batch = make_project(tmp_path, {"NO": ["alpha", "beta"]}, batch={"synthesis": False})
    run_batch(build_plan(batch), progress=False)
    inst = tmp_path / "params" / "instruments" / "beta.yaml"
    inst.write_text(inst.read_text().replace("programme_cost_per_firm: 1000.0",
                                             "programme_cost_per_firm: 2000.0"))
    report = run_batch(build_plan(batch), resume=True, progress=False)
    # beta's evidence changed, so the country report that reads it runs again
    status = {o.run_id: o.status for o in report.outcomes}
    assert status == {"NO/alpha": "skipped", "NO/beta": "ok", "NO": "ok"}
    report = run_batch(build_plan(batch), resume=True, progress=False)
    assert {o.status for o in report.outcomes} == {"skipped"}


def test_manifest_records_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake_papermill)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    run_batch(build_plan(batch), progress=False)
    manifest = json.loads((tmp_path / "reports" / "_runs" / "manifest.json").read_text())
    assert set(manifest["runs"]) == {"NO/alpha", "NO"}
    assert manifest["runs"]["NO/alpha"]["status"] == "ok"
    assert len(manifest["runs"]["NO/alpha"]["key"]) == 64


@pytest.mark.slow
def test_dask_local_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=2,
                                  dashboard_address=None) as cluster:
        report = run_batch(build_plan(batch), scheduler=cluster.scheduler_address, progress=False)
    assert [(o.run_id, o.status) for o in report.outcomes] == [("NO/alpha", "ok"), ("NO", "ok")]
    assert (tmp_path / "reports" / "NO" / "alpha.html").is_file()


def test_unreachable_scheduler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(runner_mod, "_DASK_CONNECT_TIMEOUT", "1s")
    batch = make_project(tmp_path, {"NO": ["alpha"]})
    with pytest.raises(PipelineError, match=r"cannot connect to the Dask scheduler 'tcp://127\.0\.0\.1:9'"):
        run_batch(build_plan(batch), scheduler="tcp://127.0.0.1:9", progress=False)


def test_concurrent_batch_refused_and_stale_lock_cleared(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake_papermill)
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"synthesis": False})
    lock = tmp_path / "reports" / "_runs" / "batch.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getppid()))  # a live process that is not this one
    with pytest.raises(PipelineError, match=r"another batch \(process \d+\) is writing"):
        run_batch(build_plan(batch), progress=False)
    lock.write_text("999999999")  # a process that no longer exists
    assert run_batch(build_plan(batch), progress=False).exit_code == 0
    assert not lock.exists()


def test_disclosure_scan_blocks_a_report(tmp_path: Path) -> None:
    # 6 firms pass the statistical office's 3-firm rule, not the research data centre's 10
    over = {"NO": {"data": {"source": "file", "path": "data/no.csv",
                            "columns": {"firm_id": "orgnr", "year": "aar"}},
                   "disclosure_profile": "research_data_centre"}}
    batch = make_project(tmp_path, {"NO": ["alpha"]}, country_over=over, batch={"synthesis": False})
    _write_csv(tmp_path / "data" / "no.csv", good=True)
    outcome = run_batch(build_plan(batch, only="NO/alpha"), progress=False).outcomes[0]
    assert outcome.status == "failed"
    assert outcome.error.startswith("disclosure scan of the rendered report found '6 firms' (small_count)")
    assert not (tmp_path / "reports" / "NO" / "alpha.html").exists()
    assert (tmp_path / "reports" / "_runs" / "NO" / "alpha.failed.ipynb").is_file()
