"""Warm kernels (ipf_eval.pipeline._kernels): a reused kernel must look like a fresh one to every notebook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest
from _pipeline_helpers import real_project
from nbformat.v4 import new_code_cell, new_notebook

from ipf_eval.pipeline import _kernels
from ipf_eval.pipeline import runner as runner_mod
from ipf_eval.pipeline.plan import build_plan

PROJECT = Path(__file__).resolve().parents[1]

# A "library" module that warns; loaded once per kernel and cached in sys.modules like any library.
LIBRARY = '''
import warnings


def f():
    warnings.warn("ipf-eval-library-warning", UserWarning)
'''
LOAD_LIBRARY = '''
import importlib.util, sys
lib = sys.modules.get("ipf_eval_probe_lib")
if lib is None:
    spec = importlib.util.spec_from_file_location("ipf_eval_probe_lib", "ipf_eval_probe_lib.py")
    lib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lib)
    sys.modules["ipf_eval_probe_lib"] = lib
'''

# A notebook that changes every piece of kernel state the reset restores.
POLLUTE = LOAD_LIBRARY + '''
import os, random, sys, warnings
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
matplotlib.rcParams["figure.dpi"] = 11
plt.figure()
warnings.simplefilter("error")
warnings.showwarning = lambda *a, **k: None
np.random.seed(5)
random.seed(5)
warnings.simplefilter("once")
warnings.warn("ipf-eval-once")
os.chdir("/")
sys.path.append("/nowhere")
os.environ["IPF_EVAL_POLLUTED"] = "1"
secret = 42
warnings.simplefilter("default")
lib.f()  # shown once, then remembered by the module under the current filters
'''

# What a notebook could observe of that state, written as JSON.
PROBE = LOAD_LIBRARY + '''
import warnings
library_warnings = []  # first, before anything else touches the warning filters
_show = warnings.showwarning
warnings.showwarning = lambda message, *args, **kwargs: library_warnings.append(str(message))
lib.f()
warnings.showwarning = _show
import json, os, random, sys, warnings
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("once")
    warnings.warn("ipf-eval-once")
state = {
    "dpi": matplotlib.rcParams["figure.dpi"], "figures": len(plt.get_fignums()),
    "filters": [str(f) for f in warnings.filters], "showwarning": warnings.showwarning.__module__,
    "np_random": float(np.random.random()), "random": random.random(), "cwd": os.getcwd(),
    "path": sys.path[-3:], "env": os.environ.get("IPF_EVAL_POLLUTED"), "secret": "secret" in globals(),
    "history": len(In), "once_warning_shown": len(caught),
    "library_warning_shown": library_warnings,
}
with open(out, "w") as fh:
    json.dump({"state": state, "pid": os.getpid()}, fh)
'''


def _notebook(path: Path, source: str, *, probe: bool = False) -> str:
    cells = [new_code_cell('out = "probe.json"', metadata={"tags": ["parameters"]})] if probe else []
    cells.append(new_code_cell(source))
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, str(path))
    return str(path)


@pytest.fixture
def warm() -> Iterator[None]:
    _kernels.discard_warm_kernel()
    yield
    _kernels.discard_warm_kernel()


def _probe(tmp_path: Path, name: str, *, reuse: bool) -> dict[str, Any]:
    (tmp_path / "ipf_eval_probe_lib.py").write_text(LIBRARY)
    out = tmp_path / f"{name}.json"
    runner_mod._papermill_execute(_notebook(tmp_path / "probe.ipynb", PROBE, probe=True),
                                  str(tmp_path / f"{name}.ipynb"), {"out": str(out)}, 60, str(tmp_path),
                                  reuse)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.slow
def test_reset_kernel_looks_fresh(tmp_path: Path, warm: None) -> None:
    fresh = _probe(tmp_path, "fresh", reuse=False)
    first = _probe(tmp_path, "first", reuse=True)
    _kernels.execute_warm(_notebook(tmp_path / "pollute.ipynb", POLLUTE), str(tmp_path / "polluted.ipynb"),
                          parameters={}, kernel_name="python3", timeout=60, cwd=str(tmp_path))
    after = _probe(tmp_path, "after", reuse=True)
    assert after["pid"] == first["pid"] != fresh["pid"]  # the kernel really was reused
    # the global random states are unseeded (OS entropy) in a fresh kernel, so only the reused kernel's
    # own snapshot can be compared for them
    assert after["state"] == first["state"]
    unseeded = ("np_random", "random")
    assert {k: v for k, v in after["state"].items() if k not in unseeded} == {
        k: v for k, v in fresh["state"].items() if k not in unseeded}
    # numbered from 1 as in a fresh kernel
    executed = nbformat.read(str(tmp_path / "after.ipynb"), as_version=4)
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2, 3]


@pytest.mark.slow
def test_failed_run_discards_the_kernel(tmp_path: Path, warm: None) -> None:
    from papermill.exceptions import PapermillExecutionError

    before = _probe(tmp_path, "before", reuse=True)
    with pytest.raises(PapermillExecutionError):
        _kernels.execute_warm(_notebook(tmp_path / "bad.ipynb", "raise ValueError('x')"),
                              str(tmp_path / "bad_out.ipynb"), parameters={}, kernel_name="python3",
                              timeout=60, cwd=str(tmp_path))
    gone = not psutil.pid_exists(before["pid"])
    assert gone or psutil.Process(before["pid"]).status() == psutil.STATUS_ZOMBIE
    after = _probe(tmp_path, "after", reuse=True)
    assert after["pid"] != before["pid"]
    assert after["state"]["cwd"] == before["state"]["cwd"] == str(tmp_path)


def test_kernel_recycled_after_max_runs(tmp_path: Path, warm: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernels, "MAX_RUNS_PER_KERNEL", 2)
    pids = [_probe(tmp_path, f"run{i}", reuse=True)["pid"] for i in range(3)]
    assert pids[0] == pids[1] != pids[2]


@pytest.mark.slow
def test_real_notebooks_give_identical_evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 warm: None) -> None:
    """Fresh kernels, then warm kernels, then two worker processes re-running the same batch in the same
    folder: byte-identical evidence and reports (each re-run keeps the first run's evidence time stamp, its
    inputs being the same)."""
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = real_project(tmp_path, {"countries": ["NO"], "instruments": ["growth_coaching", "rd_grant"],
                                    "output_dir": "reports", "workers": 0, "timeout": 300, "seed": 7,
                                    "synthesis": False, "case_studies": []})
    out = tmp_path / "reports"
    outputs = {}
    for mode, reuse, workers in (("fresh", False, 0), ("warm", True, 0), ("two workers", True, 2)):
        plan = build_plan(batch, project_root=tmp_path, notebooks_dir=PROJECT / "notebooks")
        report = runner_mod.run_batch(plan, progress=False, reuse_kernels=reuse, workers=workers)
        assert report.exit_code == 0, report.summary_table()
        outputs[mode] = {p.relative_to(out).as_posix(): p.read_bytes()
                         for p in sorted(out.rglob("*")) if p.suffix in (".json", ".html", ".csv")
                         and "manifest" not in p.name and p.name not in ("index.html", "runs.html")}
    assert set(outputs["fresh"]) == set(outputs["warm"]) == set(outputs["two workers"])
    assert len([k for k in outputs["fresh"] if k.endswith(".json")]) == 2
    assert "evidence.csv" in outputs["fresh"]
    for mode in ("warm", "two workers"):
        different = [k for k in outputs["fresh"] if outputs["fresh"][k] != outputs[mode][k]]
        assert different == [], mode


@pytest.mark.skipif(__import__("os").name != "posix", reason="unix sockets are POSIX only")
def test_warm_kernel_channels_are_private_unix_sockets(tmp_path: Path, warm: None) -> None:
    # shell, iopub, stdin, control and heartbeat: unix sockets in a 0700 folder, removed with the kernel
    _probe(tmp_path, "probe", reuse=True)
    km = _kernels._local.km
    folder = Path(_kernels._local.folder)
    assert km.transport == "ipc"
    assert sorted(p.name for p in folder.iterdir()) == [f"ipc-{i}" for i in range(1, 6)]
    assert (folder.stat().st_mode & 0o777) == 0o700
    _kernels.discard_warm_kernel()
    assert not folder.exists()


def test_failed_reset_is_a_pipeline_error(tmp_path: Path, warm: None,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from ipf_eval.errors import PipelineError

    broken = "def _ipf_eval_reset(cwd):\n    raise RuntimeError('broken')\n"
    monkeypatch.setattr(_kernels, "_RESET_CODE", broken)
    message = (r"resetting the reused kernel failed: RuntimeError: broken; run with fresh kernels "
               r"\(reuse_kernels: false\)")
    with pytest.raises(PipelineError, match=message):
        _probe(tmp_path, "probe", reuse=True)
    assert _kernels._local.km is None  # discarded: the next run starts a fresh kernel


def test_papermill_finds_the_warm_engine_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="papermill.engine") if e.name == _kernels.ENGINE_NAME]
    assert ep.value == "ipf_eval.pipeline._warm_engine:WarmEngine"
    import papermill.engines

    from ipf_eval.pipeline._warm_engine import WarmEngine

    assert issubclass(WarmEngine, papermill.engines.NBClientEngine)

