"""The batch's synthesis goes through evidence bundles, as the forum's does (issue 16).

The real notebooks on three small simulated countries: the batch exports one bundle per country into
``reports/bundles/``, the synthesis notebook reads the bundles' records (``_runs/forum_evidence``), and the
pooled estimates it shows equal those pooled straight from the batch's own evidence folder to 1e-12.  A
country that cannot be exported is left out and named on the page, and its old bundle is removed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _pipeline_helpers import PROJECT, real_project

from ipf_eval.evidence import evidence_frame, read_evidence
from ipf_eval.pipeline import build_plan, run_batch
from ipf_eval.pipeline.bundle import prepare_forum_evidence, read_bundle
from ipf_eval.synthesis import forum

COUNTRIES = ["AT", "FI", "NO"]
NUMBERS = ["estimate", "ci_low", "ci_high", "p_value", "countries"]


def _pooled(folder: Path) -> object:
    selection = forum.select_families(forum.headline_estimates(evidence_frame(read_evidence(folder)),
                                                               countries=COUNTRIES))
    return forum.pool_headlines(selection.kept).table


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forum_path")
    batch = real_project(root, {"countries": COUNTRIES, "instruments": ["loan_guarantee"],
                                "output_dir": "reports", "workers": 2, "timeout": 300, "seed": 7,
                                "synthesis": True, "case_studies": []}, n_firms=6_000)
    report = run_batch(build_plan(batch, project_root=root, notebooks_dir=PROJECT / "notebooks"),
                       progress=False)
    assert report.exit_code == 0, report.summary_table()
    return root


@pytest.mark.slow
def test_the_synthesis_is_built_from_the_bundles(rendered: Path) -> None:
    reports = rendered / "reports"
    for code in COUNTRIES:
        bundle = read_bundle(reports / "bundles" / f"{code}.zip")
        assert bundle.country == code
        assert not bundle.left_out
    executed = json.loads((reports / "_runs" / "synthesis.ipynb").read_text())
    injected = "".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                       for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert "forum_evidence" in injected  # the notebook read the bundles' records, not _runs/evidence
    via_bundles = _pooled(reports / "_runs" / "forum_evidence")
    direct = _pooled(reports / "_runs" / "evidence")
    assert len(direct) > 0
    assert list(via_bundles[["instrument", "outcome"]].itertuples(index=False)) == \
        list(direct[["instrument", "outcome"]].itertuples(index=False))
    np.testing.assert_allclose(via_bundles[NUMBERS].to_numpy(float), direct[NUMBERS].to_numpy(float),
                               rtol=0, atol=1e-12)
    # the same finished run gives the same bundle bytes
    before = (reports / "bundles" / "AT.zip").read_bytes()
    prepare_forum_evidence(build_plan(rendered / "params" / "batch.yaml", project_root=rendered,
                                      notebooks_dir=PROJECT / "notebooks"))
    assert (reports / "bundles" / "AT.zip").read_bytes() == before


@pytest.mark.slow
def test_a_country_that_cannot_be_exported_is_left_out_and_named(rendered: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(rendered, copy)
    plan = build_plan(copy / "params" / "batch.yaml", project_root=copy, notebooks_dir=PROJECT / "notebooks")
    manifest_path = plan.work_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["runs"]["FI"]["status"] = "failed"  # FI's country report failed: its bundle cannot be made
    manifest["runs"]["FI"]["error"] = "ValueError: injected"
    manifest_path.write_text(json.dumps(manifest))
    left_out = prepare_forum_evidence(plan)
    assert len(left_out) == 1
    assert left_out[0].startswith("cannot export FI: FI failed (ValueError: injected)")
    assert not (plan.bundle_dir / "FI.zip").exists()  # no out-of-date bundle to send by mistake
    assert {r["country"] for r in read_evidence(plan.forum_evidence_dir)} == {"AT", "NO"}
