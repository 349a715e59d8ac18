"""Evidence bundles: what an agency sends the forum instead of its data.

An agency evaluates at home; :func:`export_bundle` packs a finished run of one country into one zip:

==========================  ===========================================================================
member                      what
==========================  ===========================================================================
``manifest.json``           format, bundle version, country, package and schema versions, run date, and
                            the SHA-256 of every other member
``evidence/CC__NAME.json``  the country's evidence records (the typed schema, with its version)
``audit.json``              the disclosure audit: every run's status, the profile its pages were scanned
                            under, and that the scan passed
``summaries.json``          per instrument: its primary outcome's finding in units, grade, cost, verdict
``delivery.json``           the delivery indicators (aggregates only)
``inputs.json``             the SHA-256 of each input data file (not the data)
``params/...yaml``          the batch, country and instrument files used
==========================  ===========================================================================

Export refuses a run that failed, is stale, was never run or did not pass the output disclosure scan.
:func:`read_bundle` validates a bundle (manifest hashes, no member missing or extra, schema version,
package compatibility, no firm-level table) and :func:`synthesis_evidence` gathers the records of several
bundles for the forum's synthesis, rejecting a tampered, truncated, incompatible or duplicated bundle with a
message naming it while the others still count.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipf_eval._files import atomic_write_bytes, file_sha256
from ipf_eval._version import __version__
from ipf_eval.errors import EvidenceSchemaError, PipelineError
from ipf_eval.evidence import SCHEMA_VERSION, evidence_frame, read_evidence, validate_record

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "Bundle", "BundleError", "SynthesisInput", "export_bundle",
           "read_bundle", "synthesis_evidence", "synthesise_bundles"]

#: The ``format`` of a bundle's manifest.
BUNDLE_FORMAT = "ipf_eval.bundle"
#: Version of the bundle layout.
BUNDLE_VERSION = 1
_FIXED = ("audit.json", "summaries.json", "delivery.json", "inputs.json")
# keys that mark a table with one row per firm: never in a bundle
_FIRM_LEVEL = frozenset({"firm_id", "firm", "idname"})


class BundleError(PipelineError):
    """A bundle cannot be exported or read: the message names the bundle (or the run) and the problem."""


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: its manifest and evidence records."""

    path: Path
    country: str
    manifest: Mapping[str, Any]
    records: tuple[Mapping[str, Any], ...]
    members: Mapping[str, bytes] = field(repr=False, default_factory=dict)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(str(version).split("+")[0].split(".")[:2])


def _load_manifest(work_dir: Path) -> dict[str, Any]:
    path = work_dir / "manifest.json"
    try:
        runs = json.loads(path.read_text(encoding="utf-8")).get("runs", {})
    except (OSError, ValueError) as exc:
        raise BundleError(f"no finished run to export: {str(path)!r} cannot be read ({exc}); render the "
                          "country first (ipf-eval render --only CC)") from exc
    return dict(runs)


def export_bundle(plan: Any, country: str, *, out: Path | str | None = None) -> Path:
    """Write one country's evidence bundle from a finished run (one zip; see the module docstring).

    Parameters
    ----------
    plan
        The batch plan (:func:`ipf_eval.pipeline.build_plan`) the run was made with.
    country
        The country code.
    out
        The zip to write (default ``<output_dir>/bundles/<CC>.zip``).

    Returns
    -------
    pathlib.Path
        The bundle written (atomically).

    Raises
    ------
    BundleError
        If the country is not in the plan, one of its runs failed, was never run, is stale, or did not pass
        the output disclosure scan, or its evidence record is missing or invalid.
    """
    from ipf_eval.pipeline.summary import findings_rows

    if country not in plan.countries:
        raise BundleError(f"country {country!r} is not in the batch ({sorted(plan.countries)!r})")
    runs = [r for r in plan.runs if r.country == country and r.kind in ("instrument", "country")]
    manifest = _load_manifest(plan.work_dir)
    problems = []
    for run in runs:
        entry = manifest.get(run.run_id)
        if entry is None:
            problems.append(f"{run.run_id} was never run")
        elif entry.get("status") != "ok":
            reason = str(entry.get("error", "")).splitlines()[0] if entry.get("error") else "failed"
            kind = "did not pass the output disclosure scan" if "disclosure scan" in reason else "failed"
            problems.append(f"{run.run_id} {kind} ({reason[:200]})")
    records = [r for r in read_evidence(plan.evidence_dir, country=country)]
    stale = [f"{r['country']}/{r['instrument']}" for r in records if r.get("stale")]
    if stale:
        problems.append(f"the evidence of {', '.join(stale)} is stale (its latest run failed)")
    wanted = {r.instrument for r in runs if r.kind == "instrument"}
    missing = sorted(wanted - {str(r["instrument"]) for r in records})
    if missing and not problems:
        problems.append(f"no evidence record for {missing!r}")
    if problems:
        raise BundleError(f"cannot export {country}: " + "; ".join(problems) + "; re-run it (ipf-eval render "
                          f"--only {country}) and export again")

    members: dict[str, bytes] = {}
    for rec in sorted(records, key=lambda r: str(r["instrument"])):
        members[f"evidence/{country}__{rec['instrument']}.json"] = _json_bytes(rec)
    members["audit.json"] = _json_bytes({
        r.run_id: {"status": manifest[r.run_id]["status"], "finished": manifest[r.run_id].get("finished", ""),
                   "disclosure_profile": r.disclosure_profile, "output_scan": "passed"} for r in runs})
    frame = evidence_frame(records)
    primaries = {(country, name): plan.instruments[name].primary for name in sorted(wanted)}
    members["summaries.json"] = _json_bytes(findings_rows(frame, primaries).to_dict(orient="records"))
    delivery = [row for rec in records for row in (rec.get("tables") or {}).get("delivery", [])]
    members["delivery.json"] = _json_bytes(delivery)
    data_files = sorted({p for r in runs for p in r.data_files})
    members["inputs.json"] = _json_bytes({p.name: file_sha256(p) if p.is_file() else "missing"
                                          for p in data_files})
    params_files = sorted({p for r in runs for p in r.param_files if p.is_file()})
    for p in params_files:
        members[f"params/{p.parent.name}/{p.name}" if p.parent.name in ("countries", "instruments")
                else f"params/{p.name}"] = p.read_bytes()
    created = max((str(manifest[r.run_id].get("finished", "")) for r in runs), default="")
    head = {"format": BUNDLE_FORMAT, "bundle_version": BUNDLE_VERSION, "country": country,
            "package_version": __version__, "schema_version": SCHEMA_VERSION, "run_date": created,
            "exported": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "members": {name: _sha(data) for name, data in sorted(members.items())}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("manifest.json", _json_bytes(head)), *sorted(members.items())]:
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    target = Path(out) if out is not None else plan.output_dir / "bundles" / f"{country}.zip"
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _firm_level(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return any(str(k) in _FIRM_LEVEL for k in obj) or any(_firm_level(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_firm_level(v) for v in obj)
    return False


def read_bundle(path: Path | str) -> Bundle:
    """Read and validate one bundle.

    Raises
    ------
    BundleError
        If the file is not a bundle zip, a member is missing, extra or changed (its SHA-256 differs from
        the manifest's), the schema version or the package's major.minor version differs from this
        ipf_eval's, a member holds a firm-level table, or an evidence record is invalid; the message names
        the bundle and the problem.
    """
    p = Path(path)
    where = f"bundle {p.name!r}"
    try:
        with zipfile.ZipFile(p) as zf:
            contents = {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise BundleError(f"{where} cannot be read as a zip ({exc}); ask its agency to export it again") \
            from exc
    if "manifest.json" not in contents:
        raise BundleError(f"{where} has no manifest.json; it was not written by ipf-eval export")
    try:
        head = json.loads(contents["manifest.json"])
    except ValueError as exc:
        raise BundleError(f"{where}: manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(head, dict) or head.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where}: manifest.json is not an ipf_eval bundle manifest")
    if head.get("bundle_version") != BUNDLE_VERSION:
        raise BundleError(f"{where} has bundle version {head.get('bundle_version')!r}; this ipf_eval reads "
                          f"version {BUNDLE_VERSION}")
    if head.get("schema_version") != SCHEMA_VERSION:
        newer = isinstance(head.get("schema_version"), int) and head["schema_version"] > SCHEMA_VERSION
        raise BundleError(f"{where} holds evidence schema version {head.get('schema_version')!r}; this "
                          f"ipf_eval reads version {SCHEMA_VERSION}: "
                          + ("update ipf_eval to synthesise it" if newer else "ask its agency to re-run and "
                                                                              "export with this version"))
    if _major_minor(str(head.get("package_version", ""))) != _major_minor(__version__):
        raise BundleError(f"{where} was made with ipf_eval {head.get('package_version')!r}, this is "
                          f"{__version__}: the major.minor versions must agree")
    listed = dict(head.get("members") or {})
    missing = sorted(set(listed) - set(contents))
    extra = sorted(set(contents) - set(listed) - {"manifest.json"})
    if missing:
        raise BundleError(f"{where} lacks members {missing!r} that its manifest lists (truncated?)")
    if extra:
        raise BundleError(f"{where} holds members {extra!r} that its manifest does not list")
    changed = sorted(name for name, digest in listed.items() if _sha(contents[name]) != digest)
    if changed:
        raise BundleError(f"{where}: the SHA-256 of {changed!r} differs from its manifest: the bundle was "
                          "changed after export; ask its agency for the original")
    allowed = [n for n in listed if n.startswith(("evidence/", "params/")) or n in _FIXED]
    odd = sorted(set(listed) - set(allowed))
    if odd:
        raise BundleError(f"{where} holds members {odd!r} that a bundle does not have")
    country = str(head.get("country", ""))
    records = []
    for name in sorted(n for n in listed if n.startswith("evidence/")):
        try:
            rec = validate_record(json.loads(contents[name]), where=f"{p.name}:{name}")
        except (ValueError, EvidenceSchemaError) as exc:
            raise BundleError(f"{where}: {name} is not a valid evidence record ({exc})") from exc
        if rec.get("country") != country:
            raise BundleError(f"{where}: {name} is for country {rec.get('country')!r}, the bundle for "
                              f"{country!r}")
        if rec.get("stale"):
            raise BundleError(f"{where}: {name} is stale (its latest run failed); it cannot be synthesised")
        records.append(rec)
    for name in sorted(n for n in listed if n.endswith(".json") and not n.startswith("evidence/")):
        try:
            obj = json.loads(contents[name])
        except ValueError as exc:
            raise BundleError(f"{where}: {name} is not valid JSON ({exc})") from exc
        if _firm_level(obj):
            raise BundleError(f"{where}: {name} holds a firm-level table (a firm identifier column); "
                              "microdata never leave the agency")
    for rec in records:
        for table, rows in (rec.get("tables") or {}).items():
            if _firm_level(rows):
                raise BundleError(f"{where}: the {table} table of {rec.get('instrument')} holds firm "
                                  "identifiers; microdata never leave the agency")
    if not records:
        raise BundleError(f"{where} holds no evidence record")
    return Bundle(p, country, head, tuple(records), contents)


@dataclass(frozen=True)
class SynthesisInput:
    """The records of the accepted bundles, and one line per bundle left out, with the reason."""

    records: tuple[Mapping[str, Any], ...]
    accepted: tuple[Bundle, ...]
    rejected: tuple[str, ...]


def synthesis_evidence(paths: Sequence[Path | str]) -> SynthesisInput:
    """Validate each bundle and gather the records of those accepted (a bad bundle never stops the rest).

    Two bundles of the same country are both left out: the forum cannot tell which is the agency's.
    """
    accepted: list[Bundle] = []
    rejected: list[str] = []
    for path in paths:
        try:
            accepted.append(read_bundle(path))
        except BundleError as exc:
            rejected.append(str(exc))
    by_country: dict[str, list[Bundle]] = {}
    for b in accepted:
        by_country.setdefault(b.country, []).append(b)
    kept = []
    for code, group in sorted(by_country.items()):
        if len(group) > 1:
            names = ", ".join(repr(b.path.name) for b in group)
            rejected.append(f"bundles {names} are all for {code}: left out; send one bundle per country")
            continue
        kept.append(group[0])
    records = tuple(rec for b in kept for rec in b.records)
    return SynthesisInput(records, tuple(kept), tuple(rejected))


def _notebooks_dir(notebooks: Path | str | None) -> Path:
    if notebooks is not None:
        return Path(notebooks).resolve()
    source_tree = Path(__file__).resolve().parents[2] / "notebooks"
    return source_tree if (source_tree / "synthesis.ipynb").is_file() else Path.cwd() / "notebooks"


def synthesise_bundles(paths: Sequence[Path | str], *, out: Path | str, notebooks: Path | str | None = None,
                       timeout: int = 1200) -> tuple[Path, SynthesisInput]:
    """Render the forum synthesis from evidence bundles alone (no batch file, no data).

    Parameters
    ----------
    paths
        The bundles (zips from :func:`export_bundle`).
    out
        The folder to write ``synthesis.html`` into (and ``_bundles/evidence/``, the accepted records).
    notebooks
        The folder holding ``synthesis.ipynb`` (default: the project's ``notebooks/``).
    timeout
        Seconds per notebook cell.

    Returns
    -------
    tuple
        The page written and what was synthesised (:class:`SynthesisInput`: the bundles accepted and one
        line per bundle left out).

    Raises
    ------
    BundleError
        If no bundle could be used, or the synthesis notebook failed (the message says why).
    """
    from ipf_eval.evidence import write_evidence
    from ipf_eval.pipeline.runner import execute_run

    found = synthesis_evidence(paths)
    if not found.accepted:
        raise BundleError("no bundle could be used: " + "; ".join(found.rejected))
    target = Path(out).resolve()
    evidence = target / "_bundles" / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    for old in evidence.glob("*.json"):
        old.unlink()
    for rec in found.records:
        write_evidence(evidence / f"{rec['country']}__{rec['instrument']}.json", rec)
    nb_dir = _notebooks_dir(notebooks)
    task = {"run_id": "synthesis", "notebook": str(nb_dir / "synthesis.ipynb"),
            "parameters": {"params": "", "evidence_dir": str(evidence), "left_out": list(found.rejected)},
            "reuse_kernel": False, "executed": str(target / "_bundles" / "synthesis.ipynb"),
            "failed": str(target / "_bundles" / "synthesis.failed.ipynb"),
            "html": str(target / "synthesis.html"),
            "evidence": None, "title": "Forum synthesis", "timeout": timeout, "cwd": str(nb_dir),
            "disclosure_profile": "research_data_centre"}
    result = execute_run(task)
    if result["status"] != "ok":
        raise BundleError(f"the synthesis notebook failed: {result['error']}")
    return target / "synthesis.html", found
