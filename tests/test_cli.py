"""The ipf-eval command line: exit codes, messages and the summary table."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _evidence_helpers import record
from _pipeline_helpers import make_project

from ipf_eval.pipeline import cli
from ipf_eval.pipeline import runner as runner_mod


def _fake(notebook: str, output: str, parameters: dict[str, Any], timeout: int, cwd: str,
          reuse_kernel: bool = False) -> None:
    from ipf_eval.pipeline import write_evidence

    Path(output).write_text(Path(notebook).read_text())
    if "evidence_path" in parameters:
        if parameters["instrument"] == "raising":
            raise RuntimeError("injected")
        write_evidence(parameters["evidence_path"], record(parameters["country"], parameters["instrument"]))


def test_check_lists_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha"]})
    assert cli.main(["check", "--params", str(batch)]) == 0
    out = capsys.readouterr().out
    assert "NO/alpha" in out
    assert "4 runs" in out  # NO/alpha, the NO report, the synthesis and alpha's forum page
    assert "forum/alpha" in out


def test_render_success_and_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(runner_mod, "_papermill_execute", _fake)
    batch = make_project(tmp_path, {"NO": ["alpha", "raising"]})
    code = cli.main(["render", "--params", str(batch), "--workers", "0", "--no-progress",
                     "--only", "NO/alpha"])
    out = capsys.readouterr().out
    assert code == 0
    assert "5 ok, 0 failed, 0 skipped" in out  # NO/alpha, the NO report, the synthesis, two forum pages
    assert "synthesis" in out
    assert cli.main(["render", "--params", str(batch), "--workers", "0", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "NO/raising" in out
    assert "RuntimeError: injected" in out
    assert (tmp_path / "reports" / "index.html").is_file()


def test_invalid_parameters_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path, batch={"workers": "two"})
    assert cli.main(["render", "--params", str(batch)]) == 2
    assert "key 'workers'" in capsys.readouterr().err
    assert cli.main(["render", "--params", str(make_project(tmp_path / "b")), "--only", "no"]) == 2


def test_negative_workers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path)
    assert cli.main(["render", "--params", str(batch), "--workers", "-1"]) == 2
    assert "--workers -1 must be 0" in capsys.readouterr().err


def test_unwritable_output_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path)
    (tmp_path / "reports").write_text("in the way")
    assert cli.main(["render", "--params", str(batch), "--workers", "0"]) == 3
    assert "cannot be written" in capsys.readouterr().err


def test_a_second_render_on_the_same_folder_exits_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A batch already writing to the output folder (its live process id in the lock): exit 2, nothing run."""
    import os

    batch = make_project(tmp_path)
    lock = tmp_path / "reports" / "_runs" / "batch.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getppid()))  # a live process that is not this one
    assert cli.main(["render", "--params", str(batch), "--workers", "0"]) == 2
    assert "another batch (process" in capsys.readouterr().err
    assert lock.read_text() == str(os.getppid())  # the other batch's lock is left alone
    assert not (tmp_path / "reports" / "AT").exists()


def test_interrupt_exit_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "refresh_notebooks", interrupted)
    import ipf_eval.pipeline.runner

    monkeypatch.setattr(ipf_eval.pipeline.runner, "run_batch", interrupted)
    assert cli.main(["render", "--params", str(make_project(tmp_path)), "--workers", "0"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_refresh_needs_notebook_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path)  # fixture notebooks come as .ipynb only
    assert cli.main(["refresh-notebooks", "--params", str(batch), "--skip-batch"]) == 3
    assert "getting_started.py' not found" in capsys.readouterr().err


def _sources(folder: Path) -> None:
    """Write the jupytext source of every fixture notebook next to it (as the project keeps them)."""
    import jupytext

    for nb in folder.glob("*.ipynb"):
        jupytext.write(jupytext.read(str(nb)), str(nb.with_suffix(".py")), fmt="py:percent")


def test_console_script_installed() -> None:
    exe = shutil.which("ipf-eval", path=str(Path(sys.executable).parent))
    assert exe is not None
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0
    assert "render" in result.stdout


@pytest.mark.slow
def test_sigterm_stops_a_running_batch_cleanly(tmp_path: Path) -> None:
    import signal
    import time

    import psutil

    batch = make_project(tmp_path, {"NO": ["sleepy"]}, batch={"workers": 1, "timeout": 300})
    exe = shutil.which("ipf-eval", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.Popen([exe, "render", "--params", str(batch), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "reports" / "_runs" / "NO"
    deadline = time.monotonic() + 90
    while not list(runs.glob(".ipf-eval-tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the notebook is executing
    assert list(runs.glob(".ipf-eval-tmp-*")), "the batch never started its notebook"
    tree = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert not list((tmp_path / "reports").rglob(".ipf-eval-tmp-*"))
    assert not (tmp_path / "reports" / "_runs" / "batch.lock").exists()
    time.sleep(1)
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_refresh_reports_a_failing_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path)
    _sources(tmp_path / "notebooks")
    src = tmp_path / "notebooks" / "getting_started.py"
    src.write_text(src.read_text().replace("ax.plot([0, 1, 2], [0, 1, 4])", "raise ValueError('broken "
                                                                            "default')"))
    nb = tmp_path / "notebooks" / "getting_started.ipynb"
    before = nb.read_text()
    assert cli.main(["refresh-notebooks", "--params", str(batch), "--skip-batch"]) == 3
    assert "getting_started.ipynb failed with its default parameters" in capsys.readouterr().err
    assert nb.read_text() == before  # not rewritten


def test_refresh_syncs_sources_into_notebooks(tmp_path: Path) -> None:
    import jupytext
    import nbformat

    batch = make_project(tmp_path)
    _sources(tmp_path / "notebooks")
    src = tmp_path / "notebooks" / "getting_started.py"
    src.write_text(src.read_text() + "\n# %%\nprint('added in the source')\n")
    assert cli.main(["refresh-notebooks", "--params", str(batch), "--skip-batch"]) == 0
    for name in cli.NOTEBOOKS:
        nb = nbformat.read(str(tmp_path / "notebooks" / f"{name}.ipynb"), as_version=4)
        pair = jupytext.read(str(tmp_path / "notebooks" / f"{name}.py"))
        assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in pair.cells]
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1))  # one clean run
    last = nbformat.read(str(tmp_path / "notebooks" / "getting_started.ipynb"), as_version=4).cells[-1]
    assert last.outputs[0]["text"] == "added in the source\n"
    assert cli.sync_notebook(src).cells[0]["id"] == "getting_started-000"  # stable ids: no churn

