"""Faults injected into a small batch (two countries, one instrument), through the command line (issue 15).

For a notebook that raises, a kernel that is killed and a report that cannot be written: the exit code is 1,
the failure is listed with its reason, the other country's reports are unchanged, the failed run's earlier
report is still there and marked stale, its rows in ``evidence.csv`` are stale, the synthesis does without
them (and says so), no temporary file or process is left behind, and ``--resume`` finishes the rest.  For
Ctrl-C: exit 130, nothing left behind, and ``--resume`` completes the batch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import psutil
import pytest
from _pipeline_helpers import make_project

from ipf_eval.pipeline import runner as runner_mod
from ipf_eval.pipeline.cli import main

PAGES = ["DK/alpha.html", "DK/country_report.html"]


def _no_temporaries(folder: Path) -> bool:
    return not list(folder.rglob(".ipf-eval-tmp-*"))


def _leftover_processes() -> list[str]:
    """Live descendants of this process that a batch left behind: pool workers and kernels.

    Python's multiprocessing resource tracker (one per process that ever used a process pool, living as long
    as that process) is not a leftover of a batch.
    """
    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            line = " ".join(proc.cmdline())
            if proc.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in line:
                alive.append(line)
        except psutil.Error:
            continue
    return alive


def _wait_for_no_leftovers(seconds: float = 10.0) -> list[str]:
    import time

    deadline = time.monotonic() + seconds
    while _leftover_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    return _leftover_processes()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished good batch of AT and DK (one instrument each, and the synthesis); yields its batch file."""
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = make_project(tmp_path, {"AT": ["alpha"], "DK": ["alpha"]}, batch={"workers": 2, "timeout": 60})
    assert main(["render", "--params", str(batch), "--no-progress"]) == 0
    return batch


def _render(batch: Path, *more: str) -> int:
    return main(["render", "--params", str(batch), "--no-progress", *more])


def _inject(batch: Path, fault: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make AT's instrument run fail with ``fault``; return what its error starts with.

    An unwritable report is a patched writer, so that batch runs in this process (``--workers 0``): as root,
    file permissions do not stop a write.
    """
    if fault in ("raise", "kill"):
        (batch.parent / "fault-AT.txt").write_text(fault)
        return "ValueError: injected fault for AT" if fault == "raise" else "kernel died during execution"
    real = runner_mod.atomic_write_text

    def refuse(path: Path, text: str) -> None:
        if Path(path).name == "alpha.html" and Path(path).parent.name == "AT":
            raise PermissionError(13, "Permission denied", str(path))
        real(path, text)

    monkeypatch.setattr(runner_mod, "atomic_write_text", refuse)
    return "rendering or publishing failed: PermissionError"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["raise", "kill", "unwritable"])
def test_a_fault_fails_only_its_run(project: Path, fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = project.parent.parent / "reports"
    before = {p: (out / p).read_bytes() for p in PAGES}
    earlier = (out / "AT" / "alpha.html").read_text(encoding="utf-8")
    reason = _inject(project, fault, monkeypatch)

    assert _render(project, *(["--workers", "0"] if fault == "unwritable" else [])) == 1
    manifest = json.loads((out / "_runs" / "manifest.json").read_text())["runs"]
    assert manifest["AT/alpha"]["status"] == "failed"
    assert manifest["AT/alpha"]["error"].startswith(reason)
    assert {k: v["status"] for k, v in manifest.items() if k != "AT/alpha"} == {
        "DK/alpha": "ok", "AT": "ok", "DK": "ok", "synthesis": "ok", "forum/alpha": "ok"}
    assert reason in (out / "runs.html").read_text(encoding="utf-8")
    assert reason in (out / "AT" / "index.html").read_text(encoding="utf-8")
    assert {p: (out / p).read_bytes() for p in PAGES} == before  # the other country's reports unchanged
    page = (out / "AT" / "alpha.html").read_text(encoding="utf-8")
    assert "id='stale-report'" in page
    assert "the latest run failed" in page
    assert re.sub(r"<div id='stale-report'.*?</div>", "", page, count=1, flags=re.S) == earlier
    rows = pd.read_csv(out / "evidence.csv")
    assert rows.loc[rows["country"] == "AT", "stale"].all()
    assert not rows.loc[rows["country"] == "DK", "stale"].any()
    # the synthesis went through the bundles: AT could not be exported, is named, and its rows not used
    assert not (out / "bundles" / "AT.zip").exists()
    assert (out / "bundles" / "DK.zip").is_file()
    synthesis = (out / "synthesis.html").read_text(encoding="utf-8")
    assert "estimates from 1 countries: [&#x27;DK&#x27;]" in synthesis or \
        "estimates from 1 countries: ['DK']" in synthesis
    assert "left out: cannot export AT: AT/alpha failed" in synthesis
    assert "1 agencies side by side: [" in (out / "forum" / "alpha.html").read_text(encoding="utf-8")
    assert _no_temporaries(out)
    assert not _wait_for_no_leftovers()

    # the fault mended: --resume runs what failed (and what depends on it), skips DK's instrument
    (project.parent / "fault-AT.txt").unlink(missing_ok=True)
    monkeypatch.undo()
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    assert _render(project, "--resume") == 0
    manifest = json.loads((out / "_runs" / "manifest.json").read_text())["runs"]
    assert {v["status"] for v in manifest.values()} == {"ok"}
    assert "stale-report" not in (out / "AT" / "alpha.html").read_text(encoding="utf-8")
    assert (out / "bundles" / "AT.zip").is_file()
    assert "estimates from 2 countries" in (out / "synthesis.html").read_text(encoding="utf-8")
    assert not _wait_for_no_leftovers()


@pytest.mark.slow
def test_ctrl_c_leaves_nothing_behind_and_resume_finishes(project: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = project.parent.parent / "reports"
    (project.parent / "instruments" / "alpha.yaml").write_text(
        (project.parent / "instruments" / "alpha.yaml").read_text().replace("1000.0", "2000.0"))
    before = {p: (out / p).read_bytes() for p in ["AT/alpha.html", *PAGES, "synthesis.html"]}
    seen: list[str] = []

    def interrupt(outcome: runner_mod.RunOutcome) -> None:
        seen.append(outcome.run_id)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "_on_complete", interrupt)
    assert _render(project) == 130
    assert len(seen) == 1
    assert _no_temporaries(out)
    assert not (out / "_runs" / "batch.lock").exists()
    assert not _wait_for_no_leftovers()
    unchanged = [p for p, data in before.items() if (out / p).read_bytes() == data]
    assert len(unchanged) >= len(before) - 1  # at most the one run that finished was published

    monkeypatch.setattr(runner_mod, "_on_complete", lambda outcome: None)
    assert _render(project, "--resume") == 0
    manifest = json.loads((out / "_runs" / "manifest.json").read_text())["runs"]
    assert {v["status"] for v in manifest.values()} == {"ok"}
    assert len(manifest) == 6
    assert not _wait_for_no_leftovers()
