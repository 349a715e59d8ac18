"""Evidence bundles (ipf_eval.pipeline.bundle): export from a finished run, validate, synthesise.

* Export packs a country's evidence records, audit, summaries, delivery aggregates, parameter files and input
  hashes, with a manifest of SHA-256s; it refuses a failed, stale or never-run country.
* A bundle with one changed byte, a missing member, a schema version from the future, two bundles of the same
  country, and a bundle holding a firm-level table are each rejected with a message naming the bundle, while
  the others still synthesise.
* The pooled estimates from bundles equal those from the batch's own evidence folder.
* From three bundles copied to an empty folder elsewhere, ``ipf-eval synthesise`` renders the synthesis.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from _pipeline_helpers import make_project

from ipf_eval.evidence import evidence_frame, read_evidence
from ipf_eval.pipeline import build_plan, run_batch
from ipf_eval.pipeline import runner as runner_mod
from ipf_eval.pipeline.bundle import BundleError, export_bundle, read_bundle, synthesis_evidence
from ipf_eval.pipeline.cli import main
from ipf_eval.pipeline.stale import mark_evidence_stale
from ipf_eval.synthesis import forum

PROJECT = Path(__file__).resolve().parents[1]
COUNTRIES = ["AT", "DK", "FI"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("forum")
    mp = pytest.MonkeyPatch()
    mp.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = make_project(root, {code: ["alpha"] for code in COUNTRIES}, batch={"synthesis": False})
    report = run_batch(build_plan(batch), progress=False)
    mp.undo()
    assert report.exit_code == 0, report.summary_table()
    return root, batch


@pytest.fixture(scope="module")
def bundles(finished: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _, batch = finished
    out = tmp_path_factory.mktemp("bundles")
    return {c: export_bundle(build_plan(batch), c, out=out / f"{c}.zip") for c in COUNTRIES}


def _rewrite(src: Path, dst: Path, *, change: dict[str, bytes] | None = None, drop: str = "",
             manifest: dict[str, object] | None = None, rehash: bool = False) -> Path:
    """Copy a bundle, changing members (optionally fixing the manifest's hashes to match)."""
    with zipfile.ZipFile(src) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    head = json.loads(members.pop("manifest.json"))
    members.update(change or {})
    members.pop(drop, None)
    if rehash:
        head["members"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    head.update(manifest or {})
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("manifest.json", json.dumps(head))
        for name, data in members.items():
            zf.writestr(name, data)
    return dst


def test_a_bundle_holds_the_evidence_and_its_provenance(bundles: dict[str, Path]) -> None:
    b = read_bundle(bundles["AT"])
    assert b.country == "AT"
    names = set(b.manifest["members"])
    assert {"audit.json", "summaries.json", "delivery.json", "inputs.json", "evidence/AT__alpha.json",
            "params/batch.yaml", "params/countries/AT.yaml", "params/instruments/alpha.yaml"} <= names
    for name, digest in b.manifest["members"].items():
        assert hashlib.sha256(b.members[name]).hexdigest() == digest
    audit = json.loads(b.members["audit.json"])
    assert {v["status"] for v in audit.values()} == {"ok"}
    assert b.manifest["schema_version"] == b.records[0]["schema_version"]
    assert not any(n.endswith((".csv", ".parquet")) for n in names)


def test_the_pooled_estimates_from_bundles_equal_the_batchs(finished: tuple[Path, Path],
                                                            bundles: dict[str, Path]) -> None:
    root, _ = finished
    direct = forum.pool_headlines(forum.select_families(forum.headline_estimates(
        evidence_frame(read_evidence(root / "reports" / "_runs" / "evidence")))).kept).table
    found = synthesis_evidence(list(bundles.values()))
    assert not found.rejected
    via = forum.pool_headlines(forum.select_families(forum.headline_estimates(
        evidence_frame(list(found.records)))).kept).table
    assert len(direct) > 0
    assert via.equals(direct)


def test_bad_bundles_are_rejected_and_the_others_synthesise(bundles: dict[str, Path], tmp_path: Path) -> None:
    at = bundles["AT"]
    with zipfile.ZipFile(at) as zf:
        record = zf.read("evidence/AT__alpha.json")
    flipped = bytearray(record)
    flipped[len(flipped) // 2] ^= 1
    firm_rows = json.dumps([{"firm_id": "FIRM-00042", "indicator": "applications", "value": 1.0}]).encode()
    cases = {
        "changed byte": (_rewrite(at, tmp_path / "changed.zip", change={"evidence/AT__alpha.json":
                                                                        bytes(flipped)}),
                         r"SHA-256 of \['evidence/AT__alpha.json'\] differs"),
        "missing member": (_rewrite(at, tmp_path / "truncated.zip", drop="audit.json"),
                           r"lacks members \['audit.json'\]"),
        "future schema": (_rewrite(at, tmp_path / "future.zip", manifest={"schema_version": 99}),
                          r"schema version 99.*update ipf_eval"),
        "firm-level table": (_rewrite(at, tmp_path / "microdata.zip", change={"delivery.json": firm_rows},
                                      rehash=True), r"firm-level table"),
        "not a zip": (tmp_path / "junk.zip", r"cannot be read as a zip"),
    }
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    for what, (path, message) in cases.items():
        with pytest.raises(BundleError, match=message) as info:
            read_bundle(path)
        assert repr(path.name) in str(info.value), what
    found = synthesis_evidence([*(p for p, _ in cases.values()), bundles["DK"], bundles["FI"]])
    assert [b.country for b in found.accepted] == ["DK", "FI"]
    assert len(found.rejected) == len(cases)
    # two bundles of one country: both left out, named
    copy = shutil.copy(bundles["DK"], tmp_path / "DK-again.zip")
    twice = synthesis_evidence([bundles["DK"], Path(copy), bundles["FI"]])
    assert [b.country for b in twice.accepted] == ["FI"]
    assert any("are all for DK" in r and "'DK-again.zip'" in r for r in twice.rejected)


def test_export_refuses_a_stale_failed_or_unknown_country(finished: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    root, _ = finished
    work = tmp_path / "copy"
    shutil.copytree(root, work)
    plan = build_plan(work / "params" / "batch.yaml")
    mark_evidence_stale(plan.evidence_dir / "DK__alpha.json", failed_at="2026-12-03T00:00:00Z",
                        error="DataError: broken file")
    with pytest.raises(BundleError, match=r"cannot export DK: the evidence of DK/alpha is stale"):
        export_bundle(plan, "DK", out=tmp_path / "DK.zip")
    manifest_path = plan.work_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["runs"]["FI/alpha"]["status"] = "failed"
    manifest["runs"]["FI/alpha"]["error"] = "disclosure scan of the rendered report found '2 firms'"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"FI/alpha did not pass the output disclosure scan"):
        export_bundle(plan, "FI", out=tmp_path / "FI.zip")
    with pytest.raises(BundleError, match=r"'SE' is not in the batch"):
        export_bundle(plan, "SE")
    assert not (tmp_path / "DK.zip").exists()
    assert not (tmp_path / "FI.zip").exists()


@pytest.mark.slow
def test_synthesise_from_bundles_alone(bundles: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "inbox"
    elsewhere.mkdir()
    copies = [str(shutil.copy(p, elsewhere / p.name)) for p in bundles.values()]
    bad = str(_rewrite(bundles["AT"], elsewhere / "AT-tampered.zip", drop="inputs.json"))
    out = tmp_path / "forum"
    code = main(["synthesise", *copies, bad, "--out", str(out), "--notebooks", str(PROJECT / "notebooks")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "left out" in captured.err
    page = (out / "synthesis.html").read_text(encoding="utf-8")
    assert "id='recommendations'" in page or 'id="recommendations"' in page
    assert "AT-tampered.zip" in page  # the page lists the bundle it left out
    assert main(["synthesise", bad, "--out", str(tmp_path / "none")]) == 2


def test_a_partial_export_leaves_out_the_failed_evaluation_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(runner_mod, "_library_fingerprint", lambda: "pinned")
    batch = make_project(tmp_path, {"AT": ["alpha", "beta"]}, batch={"synthesis": False})
    assert run_batch(build_plan(batch), progress=False).exit_code == 0
    plan = build_plan(batch)
    manifest_path = plan.work_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["runs"]["AT/beta"].update(status="failed", error="ValueError: injected")
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"cannot export AT: AT/beta failed \(ValueError: injected\)"):
        export_bundle(plan, "AT", out=tmp_path / "strict.zip")
    bundle = read_bundle(export_bundle(plan, "AT", out=tmp_path / "AT.zip", partial=True))
    assert [r["instrument"] for r in bundle.records] == ["alpha"]
    assert bundle.left_out == (("AT/beta", "AT/beta failed (ValueError: injected)", False),)
    found = synthesis_evidence([bundle.path])
    assert not found.rejected
    assert found.left_out == ("AT.zip: AT/beta failed (ValueError: injected); that evaluation is "
                              "not in the bundle",)
    assert main(["export", "--country", "AT", "--partial", "--params", str(batch), "--out",
                 str(tmp_path / "cli.zip")]) == 0
    assert "left out: cli.zip: AT/beta failed" in capsys.readouterr().err
    # nothing left to export: refused even with --partial
    manifest["runs"]["AT/alpha"].update(status="failed", error="ValueError: injected")
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"cannot export AT: AT/alpha failed"):
        export_bundle(plan, "AT", out=tmp_path / "none.zip", partial=True)
