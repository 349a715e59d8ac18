"""The batch plan: which notebook runs with which validated parameters, and where each output goes.

Layout of the output folder (``output_dir`` in the batch file, ``reports/`` by default)::

    reports/index.html                       the forum index: every run, its status and error
    reports/evidence.csv                     one row per estimate
    reports/synthesis.html                   the forum synthesis
    reports/forum/<instrument>.html          one instrument across the agencies, and its peer review
    reports/bundles/<CC>.zip                 each country's evidence bundle, which the synthesis reads
    reports/<case study>.html                Michigan case study, getting started
    reports/<CC>/index.html                  the country index
    reports/<CC>/country_report.html         the country report
    reports/<CC>/<instrument>.html           one instrument evaluation
    reports/_runs/                           executed notebooks, evidence JSON, the resume manifest
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import ParameterError
from ipf_eval.pipeline.params import (
    BatchParams,
    CountryParams,
    FileSource,
    InstrumentParams,
    check_notebook_parameters,
    resolve_confined,
)
from ipf_eval.pipeline.settings import batch_settings

__all__ = ["NOTEBOOK_FILES", "Plan", "Run", "build_plan", "parse_only"]

RunKind = Literal["instrument", "country", "synthesis", "case_study"]

#: Notebook file used for each kind of run (case studies are named by their own file).
NOTEBOOK_FILES: dict[str, str] = {
    "instrument": "instrument_evaluation.ipynb",
    "delivery_trial": "delivery_trial.ipynb",
    "country": "country_report.ipynb",
    "synthesis": "synthesis.ipynb",
    "forum_instrument": "forum_instrument.ipynb",
}

#: Stage of each kind; a stage starts when the previous one has finished.
STAGES: dict[str, int] = {"instrument": 0, "country": 1, "synthesis": 2, "case_study": 2}


@dataclass(frozen=True)
class Run:
    """One notebook execution of the batch.

    Attributes
    ----------
    run_id
        Stable identifier, e.g. ``"NO/innovation_voucher"``, ``"NO"``, ``"synthesis"``.
    kind
        ``"instrument"``, ``"country"``, ``"synthesis"`` or ``"case_study"``.
    title
        Human-readable title for index pages (escaped when rendered).
    notebook
        Source notebook.
    parameters
        Validated plain parameter values (names checked against the notebook's ``parameters`` cell).
    executed
        Where the executed notebook of a successful run is kept.
    failed
        Where the executed notebook of a failed run is kept for debugging.
    html
        The rendered report.
    evidence
        The evidence JSON an instrument run writes (``None`` for other kinds).
    data_files
        Input data files whose content is hashed for ``--resume``.
    param_files
        The parameter files the notebook reads (batch, country, instrument), also hashed for ``--resume``.
    disclosure_profile
        The profile the rendered report is scanned with before it is published (``None``: not scanned, for
        the case studies on public or simulated data).
    country, instrument
        Identifiers, when they apply.
    """

    run_id: str
    kind: RunKind
    title: str
    notebook: Path
    parameters: Mapping[str, Any]
    executed: Path
    failed: Path
    html: Path
    evidence: Path | None = None
    data_files: tuple[Path, ...] = ()
    param_files: tuple[Path, ...] = ()
    disclosure_profile: str | None = None
    country: str | None = None
    instrument: str | None = None

    @property
    def stage(self) -> int:
        """Stage number: instruments 0, country reports 1, synthesis and case studies 2."""
        return STAGES[self.kind]


@dataclass(frozen=True)
class Plan:
    """The validated batch: parameters, folders and the runs in execution order."""

    batch: BatchParams
    batch_file: Path
    root: Path
    output_dir: Path
    work_dir: Path
    evidence_dir: Path
    notebooks_dir: Path
    countries: Mapping[str, CountryParams]
    instruments: Mapping[str, InstrumentParams]
    runs: tuple[Run, ...] = field(default=())
    selected: frozenset[str] = field(default=frozenset())

    @property
    def bundle_dir(self) -> Path:
        """Where the batch writes each country's evidence bundle (``<output_dir>/bundles``)."""
        return self.output_dir / "bundles"

    @property
    def forum_evidence_dir(self) -> Path:
        """The evidence the synthesis reads: the records of the bundles (``<work_dir>/forum_evidence``)."""
        return self.work_dir / "forum_evidence"

    def stage(self, number: int) -> list[Run]:
        """Return the selected runs of one stage."""
        return [r for r in self.runs if r.stage == number and r.run_id in self.selected]


@keyword_options
def parse_only(only: str | None) -> tuple[str, str | None] | None:
    """Parse ``--only COUNTRY[/INSTRUMENT]``.

    Raises
    ------
    ParameterError
        If the value is not ``CC`` or ``CC/instrument``.
    """
    if only is None:
        return None
    parts = only.split("/")
    import re

    if (len(parts) not in (1, 2) or not re.fullmatch(r"[A-Z]{2}", parts[0])
            or (len(parts) == 2 and not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", parts[1]))):
        raise ParameterError(f"--only {only!r} is not COUNTRY or COUNTRY/INSTRUMENT; write e.g. 'NO' or "
                             f"'NO/innovation_voucher'")
    return parts[0], (parts[1] if len(parts) == 2 else None)


@keyword_options
def build_plan(batch_file: Path | str, *, only: str | None = None, project_root: Path | None = None,
               notebooks_dir: Path | None = None) -> Plan:
    """Read and validate every parameter file and build the list of runs.

    Parameters
    ----------
    batch_file
        The batch file, normally ``params/batch.yaml``; country and instrument files are read from the
        ``countries/`` and ``instruments/`` folders next to it.
    only
        ``"CC"`` or ``"CC/instrument"`` to select a subset: that country's instrument runs, its country
        report and the synthesis (which pools the new evidence with the other countries' evidence already
        in the output folder); ``None`` selects everything.
    project_root
        Root that relative paths are resolved from and confined to; defaults to the parent of the folder
        that holds the batch file.
    notebooks_dir
        Folder holding the notebooks; defaults to ``<project_root>/notebooks``.

    Returns
    -------
    Plan
        The plan with every run's parameters checked against its notebook.

    Raises
    ------
    ParameterError
        If a file is missing or invalid, a path escapes the project, a country or instrument named in
        ``only`` is not in the batch, or a notebook parameter name is unknown.
    """
    settings = batch_settings(batch_file)
    batch, batch_path, params_dir = settings.batch, settings.batch_file, settings.params_dir
    root = (project_root or params_dir.parent).resolve()
    nb_dir = (notebooks_dir or root / "notebooks").resolve()
    data_dirs = [resolve_confined(d, root=root, allowed=[], file=batch_path, key=f"data_dirs[{i}]")
                 if not Path(d).is_absolute() else Path(d).resolve() for i, d in enumerate(batch.data_dirs)]
    output_dir = resolve_confined(batch.output_dir, root=root, allowed=[], file=batch_path, key="output_dir")
    work_dir = output_dir / "_runs"
    evidence_dir = work_dir / "evidence"
    countries, instruments = settings.countries, settings.instruments
    params = str(batch_path)
    country_files = {c: params_dir / "countries" / f"{c}.yaml" for c in countries}
    inst_files = {i: params_dir / "instruments" / f"{i}.yaml" for i in instruments}
    all_files = (batch_path, *country_files.values(), *inst_files.values())

    runs: list[Run] = []
    for code, country in countries.items():
        data_files: tuple[Path, ...] = ()
        if isinstance(country.data, FileSource):
            resolved = resolve_confined(country.data.path, root=root, allowed=data_dirs,
                                        file=country_files[code], key="data.path")
            data_files = (resolved,)
            if country.data.applications is not None:
                data_files += (resolve_confined(country.data.applications.path, root=root, allowed=data_dirs,
                                                file=country_files[code], key="data.applications.path"),)
        for name in country.instruments:
            if name not in instruments:
                continue
            inst = instruments[name]
            evidence = evidence_dir / f"{code}__{name}.json"
            runs.append(Run(
                run_id=f"{code}/{name}", kind="instrument", title=f"{country.name}: {inst.label}",
                notebook=nb_dir / NOTEBOOK_FILES["delivery_trial" if inst.design == "delivery_trial"
                                                 else "instrument"],
                parameters={"country": code, "instrument": name, "params": params,
                            "evidence_path": str(evidence), "created": ""},
                executed=work_dir / code / f"{name}.ipynb", failed=work_dir / code / f"{name}.failed.ipynb",
                html=output_dir / code / f"{name}.html", evidence=evidence, data_files=data_files,
                param_files=(batch_path, country_files[code], inst_files[name]),
                disclosure_profile=country.disclosure_profile, country=code, instrument=name))
    for code, country in countries.items():
        names = [i for i in country.instruments if i in instruments]
        runs.append(Run(
            run_id=code, kind="country", title=f"{country.name}: country report",
            notebook=nb_dir / NOTEBOOK_FILES["country"],
            parameters={"country": code, "params": params, "evidence_dir": str(evidence_dir)},
            executed=work_dir / code / "country_report.ipynb",
            failed=work_dir / code / "country_report.failed.ipynb",
            html=output_dir / code / "country_report.html",
            param_files=(batch_path, country_files[code], *(inst_files[i] for i in names)),
            disclosure_profile=country.disclosure_profile, country=code))
    if batch.synthesis:
        runs.append(Run(
            run_id="synthesis", kind="synthesis", title="Forum synthesis",
            notebook=nb_dir / NOTEBOOK_FILES["synthesis"],
            parameters={"params": params, "evidence_dir": str(work_dir / "forum_evidence"), "left_out": []},
            executed=work_dir / "synthesis.ipynb", failed=work_dir / "synthesis.failed.ipynb",
            html=output_dir / "synthesis.html", param_files=all_files,
            disclosure_profile=_strictest(c.disclosure_profile for c in countries.values())))
        evaluated = {i for c in countries.values() for i in c.instruments}
        for name, inst in instruments.items():
            if name not in evaluated:
                continue
            runs.append(Run(  # the agencies side by side and the peer review: part of the synthesis
                run_id=f"forum/{name}", kind="synthesis", title=f"{inst.label} across the forum",
                notebook=nb_dir / NOTEBOOK_FILES["forum_instrument"],
                parameters={"params": params, "evidence_dir": str(work_dir / "forum_evidence"),
                            "instrument": name, "left_out": []},
                executed=work_dir / "forum" / f"{name}.ipynb",
                failed=work_dir / "forum" / f"{name}.failed.ipynb",
                html=output_dir / "forum" / f"{name}.html", param_files=all_files,
                disclosure_profile=_strictest(c.disclosure_profile for c in countries.values())))
    for case in batch.case_studies:
        runs.append(Run(
            run_id=case, kind="case_study", title=case.replace("_", " ").capitalize(),
            notebook=nb_dir / f"{case}.ipynb", parameters={"params": params},
            executed=work_dir / f"{case}.ipynb", failed=work_dir / f"{case}.failed.ipynb",
            html=output_dir / f"{case}.html", param_files=(batch_path,)))

    selected = _select(runs, parse_only(only), countries, instruments, batch_path)
    checked_notebooks: dict[Path, None] = {}
    final: list[Run] = []
    for run in runs:
        if not run.notebook.is_file():
            raise ParameterError(f"notebook {str(run.notebook)!r} for run {run.run_id!r} does not exist; "
                                 f"sync the notebook pairs (make refresh-notebooks)")
        checked = check_notebook_parameters(run.notebook, run.parameters)
        checked_notebooks[run.notebook] = None
        final.append(Run(**{**run.__dict__, "parameters": checked}))
    return Plan(batch=batch, batch_file=batch_path, root=root, output_dir=output_dir, work_dir=work_dir,
                evidence_dir=evidence_dir, notebooks_dir=nb_dir, countries=countries,
                instruments=instruments, runs=tuple(final), selected=frozenset(selected))


def _strictest(profiles: Iterable[str]) -> str:
    """Return the profile with the largest minimum cell (the synthesis shows every country's evidence)."""
    from ipf_eval.disclosure import get_profile

    return max(profiles, key=lambda p: (get_profile(p).min_firms, p))


def _select(runs: list[Run], only: tuple[str, str | None] | None, countries: Mapping[str, CountryParams],
            instruments: Mapping[str, InstrumentParams], batch_path: Path) -> set[str]:
    if only is None:
        return {r.run_id for r in runs}
    code, name = only
    if code not in countries:
        raise ParameterError(f"--only names country {code!r}, which is not in 'countries' of "
                             f"{str(batch_path)!r} ({sorted(countries)!r}); add it there or pick one of "
                             "those")
    if name is not None and not any(r.run_id == f"{code}/{name}" for r in runs):
        runs_there = [i for i in countries[code].instruments if i in instruments]
        raise ParameterError(f"--only names instrument {name!r}, which country {code!r} does not run in this "
                             f"batch (it runs {runs_there!r}); pick one of those")
    # the synthesis pools every country's evidence, so a re-run country changes it too
    return {r.run_id for r in runs
            if r.kind == "synthesis"
            or (r.country == code and (r.kind == "country" or name is None or r.instrument == name))}
