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

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipf_eval._defaults import keyword_options
from ipf_eval._files import atomic_write_bytes, file_sha256
from ipf_eval._version import __version__
from ipf_eval.errors import EvidenceSchemaError, PipelineError
from ipf_eval.evidence import SCHEMA_VERSION, evidence_frame, read_evidence, validate_record

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "Bundle", "BundleError", "SynthesisInput", "export_bundle",
           "prepare_forum_evidence", "primary_outcomes", "read_bundle", "synthesis_evidence"]

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

    @property
    def left_out(self) -> tuple[tuple[str, str, bool], ...]:
        """The evaluations its agency could not export (``run``, why, whether stale), from the manifest."""
        rows = self.manifest.get("left_out") or []
        return tuple((str(r.get("run", "")), str(r.get("reason", "")), bool(r.get("stale")))
                     for r in rows if isinstance(r, Mapping))

    def left_out_lines(self, *, stale: bool = True) -> list[str]:
        """One line per evaluation left out of the bundle (``stale=False``: not those with stale evidence)."""
        return [f"{self.path.name}: {why}; that evaluation is not in the bundle"
                for _, why, is_stale in self.left_out if stale or not is_stale]


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


def _run_problems(runs: Sequence[Any], manifest: Mapping[str, Any],
                  records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, bool]]:
    """Map each run that cannot be exported to ``(why, stale)``: never run, failed, or stale evidence."""
    problems: dict[str, tuple[str, bool]] = {}
    stale = {f"{r['country']}/{r['instrument']}" for r in records if r.get("stale")}
    have = {f"{r['country']}/{r['instrument']}" for r in records}
    for run in runs:
        entry = manifest.get(run.run_id)
        if entry is None:
            problems[run.run_id] = (f"{run.run_id} was never run", False)
        elif entry.get("status") != "ok":
            reason = str(entry.get("error", "")).splitlines()[0] if entry.get("error") else "failed"
            kind = "did not pass the output disclosure scan" if "disclosure scan" in reason else "failed"
            problems[run.run_id] = (f"{run.run_id} {kind} ({reason[:200]})", run.run_id in stale)
        elif run.run_id in stale:
            problems[run.run_id] = (f"the evidence of {run.run_id} is stale (its latest run failed)", True)
        elif run.kind == "instrument" and run.run_id not in have:
            problems[run.run_id] = (f"{run.run_id} has no evidence record", False)
    return problems


@keyword_options
def export_bundle(plan: Any, country: str, *, out: Path | str | None = None, partial: bool = False) -> Path:
    """Write one country's evidence bundle from a finished run (one zip; see the module docstring).

    Parameters
    ----------
    plan
        The batch plan (:func:`ipf_eval.pipeline.build_plan`) the run was made with.
    country
        The country code.
    out
        The zip to write (default ``<output_dir>/bundles/<CC>.zip``).
    partial
        Leave out the instrument evaluations that cannot be exported (failed, stale or never run) instead of
        refusing the whole country; each is listed, with the reason, in the manifest's ``left_out``, which
        the synthesis shows.  At least one evaluation must remain.

    Returns
    -------
    pathlib.Path
        The bundle written (atomically).  The same finished run gives the same bytes: every time stamp in
        the bundle is when its evidence was made, not when it was exported.

    Raises
    ------
    BundleError
        If the country is not in the plan, one of its runs failed, was never run, is stale, or did not pass
        the output disclosure scan (with ``partial``: if none of its evaluations can be exported), or its
        evidence record is missing or invalid.
    """
    from ipf_eval.pipeline.summary import findings_rows

    if country not in plan.countries:
        raise BundleError(f"country {country!r} is not in the batch ({sorted(plan.countries)!r})")
    runs = [r for r in plan.runs if r.country == country and r.kind in ("instrument", "country")]
    manifest = _load_manifest(plan.work_dir)
    all_records = list(read_evidence(plan.evidence_dir, country=country))
    problems = _run_problems(runs, manifest, all_records)
    left_out = {run_id: why for run_id, why in problems.items()
                if partial and any(r.run_id == run_id and r.kind == "instrument" for r in runs)}
    refused = {run_id: why for run_id, why in problems.items() if run_id not in left_out}
    kept_runs = [r for r in runs if r.run_id not in left_out]
    if refused or not any(r.kind == "instrument" for r in kept_runs):
        lines = [why for why, _ in (refused or left_out).values()]
        raise BundleError(f"cannot export {country}: " + "; ".join(lines or ["it has no evaluation"])
                          + f"; re-run it (ipf-eval render --only {country}) and export again")
    wanted = {r.instrument for r in kept_runs if r.kind == "instrument"}
    records = [r for r in all_records if r["instrument"] in wanted]

    members: dict[str, bytes] = {}
    for rec in sorted(records, key=lambda r: str(r["instrument"])):
        members[f"evidence/{country}__{rec['instrument']}.json"] = _json_bytes(rec)
    members["audit.json"] = _json_bytes({
        r.run_id: {"status": manifest[r.run_id]["status"], "created": manifest[r.run_id].get("created", ""),
                   "disclosure_profile": r.disclosure_profile, "output_scan": "passed"} for r in kept_runs})
    frame = evidence_frame(records)
    primaries = {(country, name): plan.instruments[name].primary for name in sorted(wanted)}
    members["summaries.json"] = _json_bytes(findings_rows(frame, primaries).to_dict(orient="records"))
    delivery = [row for rec in records for row in (rec.get("tables") or {}).get("delivery", [])]
    members["delivery.json"] = _json_bytes(delivery)
    data_files = sorted({p for r in kept_runs for p in r.data_files})
    members["inputs.json"] = _json_bytes({p.name: file_sha256(p) if p.is_file() else "missing"
                                          for p in data_files})
    params_files = sorted({p for r in kept_runs for p in r.param_files if p.is_file()})
    for p in params_files:
        members[f"params/{p.parent.name}/{p.name}" if p.parent.name in ("countries", "instruments")
                else f"params/{p.name}"] = p.read_bytes()
    created = max((str(manifest[r.run_id].get("created", "")) for r in kept_runs), default="")
    head = {"format": BUNDLE_FORMAT, "bundle_version": BUNDLE_VERSION, "country": country,
            "package_version": __version__, "schema_version": SCHEMA_VERSION, "run_date": created,
            "left_out": [{"run": run_id, "reason": why, "stale": stale}
                         for run_id, (why, stale) in sorted(left_out.items())],
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


@keyword_options
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
    """The records of the accepted bundles, and one line per bundle left out, with the reason.

    ``rejected`` lists the bundles that could not be used; the evaluations that the accepted bundles'
    agencies left out (:func:`export_bundle` with ``partial``) are in each bundle's
    :meth:`Bundle.left_out_lines`, and :attr:`left_out` lists both, as the synthesis page does.
    """

    records: tuple[Mapping[str, Any], ...]
    accepted: tuple[Bundle, ...]
    rejected: tuple[str, ...]

    @property
    def left_out(self) -> tuple[str, ...]:
        """The bundles rejected, then the evaluations the accepted bundles do not hold."""
        return (*self.rejected, *(line for b in self.accepted for line in b.left_out_lines()))


@keyword_options
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


@keyword_options
def primary_outcomes(bundles: Sequence[Bundle], *, first: str | None = None) -> dict[str, str]:
    """Return each instrument's primary outcome from the instrument files the bundles carry.

    Evidence records do not say which outcome is an instrument's primary one; its instrument file does, and
    every bundle carries the files it was made with.  Where bundles disagree, the bundle of country
    ``first`` (a twin's source) wins, then the countries in alphabetical order.  An instrument file that does
    not validate is skipped.
    """
    import yaml
    from pydantic import ValidationError

    from ipf_eval.evidence import InstrumentParams

    primaries: dict[str, str] = {}
    for bundle in sorted(bundles, key=lambda b: (b.country != first, b.country)):
        for name, data in sorted(bundle.members.items()):
            if not (name.startswith("params/instruments/") and name.endswith(".yaml")):
                continue
            try:
                inst = InstrumentParams.model_validate(yaml.safe_load(data))
            except (ValidationError, yaml.YAMLError, TypeError):
                continue
            primaries.setdefault(inst.name, inst.primary)
    return primaries


@keyword_options
def prepare_forum_evidence(plan: Any) -> list[str]:
    """Export every country's bundle and gather the synthesis's evidence from those bundles alone.

    The batch's synthesis goes through the same path as the forum's (:func:`synthesise_bundles`): each
    country of the plan is exported with ``partial=True`` to ``<output_dir>/bundles/<CC>.zip`` (a country
    that cannot be exported at all loses the bundle of an earlier run, so that no out-of-date bundle is sent
    by mistake), the bundles are read back and validated, and their records are written to
    ``plan.forum_evidence_dir``, which the synthesis notebook reads.  Evidence whose latest run failed
    cannot travel in a bundle; the batch's own stale records are added, marked stale, so that the synthesis
    lists them and, with the batch's ``include_stale``, uses them labelled.

    Returns
    -------
    list of str
        One line per country or evaluation left out, with the reason (the synthesis lists them).
    """
    from ipf_eval.evidence import write_evidence

    left_out: list[str] = []
    paths: list[Path] = []
    for code in plan.countries:
        target = plan.bundle_dir / f"{code}.zip"
        try:
            paths.append(export_bundle(plan, code, out=target, partial=True))
        except BundleError as exc:
            target.unlink(missing_ok=True)
            left_out.append(str(exc))
    found = synthesis_evidence(paths)
    left_out += found.rejected  # bundles that could not be read back
    left_out += [line for b in found.accepted for line in b.left_out_lines(stale=False)]
    folder = plan.forum_evidence_dir
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    have = set()
    for rec in found.records:
        have.add((rec["country"], rec["instrument"]))
        write_evidence(folder / f"{rec['country']}__{rec['instrument']}.json", rec)
    for rec in read_evidence(plan.evidence_dir):
        if rec.get("stale") and (rec["country"], rec["instrument"]) not in have:
            write_evidence(folder / f"{rec['country']}__{rec['instrument']}.json", rec)
    return left_out
