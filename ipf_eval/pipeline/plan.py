"""The batch plan: which notebook runs with which validated parameters, and where each output goes.

Layout of the output folder (``output_dir`` in the batch file, ``reports/`` by default)::

    reports/index.html                       the forum index: every run, its status and error
    reports/evidence.csv                     one row per estimate
    reports/synthesis.html                   the forum synthesis
    reports/<case study>.html                Michigan case study, getting started
    reports/<CC>/index.html                  the country index
    reports/<CC>/country_report.html         the country report
    reports/<CC>/<instrument>.html           one instrument evaluation
    reports/_runs/                           executed notebooks, evidence JSON, the resume manifest
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ipf_eval.errors import ParameterError
from ipf_eval.pipeline.params import (
    BatchParams,
    CountryParams,
    FileSource,
    InstrumentParams,
    check_notebook_parameters,
    load_batch_file,
    load_country_file,
    load_instrument_file,
    resolve_confined,
)

__all__ = ["NOTEBOOK_FILES", "Plan", "Run", "build_plan", "parse_only"]

RunKind = Literal["instrument", "country", "synthesis", "case_study"]

#: Notebook file used for each kind of run (case studies are named by their own file).
NOTEBOOK_FILES: dict[str, str] = {
    "instrument": "instrument_evaluation.ipynb",
    "country": "country_report.ipynb",
    "synthesis": "synthesis.ipynb",
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
        Input files whose content is hashed for ``--resume``.
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

    def stage(self, number: int) -> list[Run]:
        """Return the selected runs of one stage."""
        return [r for r in self.runs if r.stage == number and r.run_id in self.selected]


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


def _instrument_parameters(country: CountryParams, inst: InstrumentParams,
                           batch: BatchParams, data_path: str, evidence: Path) -> dict[str, Any]:
    est = inst.estimator
    data = country.data
    own = country.costs.get(inst.name)
    programme = inst.costs.programme_cost_per_firm
    admin = inst.costs.admin_cost_per_firm
    if own is not None:
        programme = own.programme_cost_per_firm if own.programme_cost_per_firm is not None else programme
        admin = own.admin_cost_per_firm if own.admin_cost_per_firm is not None else admin
    return {
        "country": country.code,
        "country_name": country.name,
        "agency": country.agency,
        "instrument": inst.name,
        "instrument_label": inst.label,
        "design": inst.design,
        "outcomes": list(inst.outcomes),
        "primary_outcome": inst.primary_outcome or inst.outcomes[0],
        "data_source": data.source,
        "data_path": data_path,
        "data_columns": dict(data.columns) if isinstance(data, FileSource) else {},
        "sim_seed": data.seed if not isinstance(data, FileSource) else 0,
        "sim_n_firms": data.n_firms if not isinstance(data, FileSource) else 0,
        "disclosure_profile": country.disclosure_profile,
        "control_group": est.control_group,
        "est_method": est.est_method,
        "base_period": est.base_period,
        "covariates": list(est.covariates),
        "bootstrap": est.bootstrap,
        "n_boot": est.n_boot,
        "alpha": est.alpha,
        "programme_cost_per_firm": programme,
        "admin_cost_per_firm": admin,
        "seed": batch.seed,
        "evidence_path": str(evidence),
        "context": country.context,
    }


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
    batch_path = Path(batch_file).resolve()
    batch = load_batch_file(batch_path)
    params_dir = batch_path.parent
    root = (project_root or params_dir.parent).resolve()
    nb_dir = (notebooks_dir or root / "notebooks").resolve()
    data_dirs = [resolve_confined(d, root=root, allowed=[], file=batch_path, key=f"data_dirs[{i}]")
                 if not Path(d).is_absolute() else Path(d).resolve() for i, d in enumerate(batch.data_dirs)]
    output_dir = resolve_confined(batch.output_dir, root=root, allowed=[], file=batch_path, key="output_dir")
    work_dir = output_dir / "_runs"
    evidence_dir = work_dir / "evidence"

    countries = {c: load_country_file(params_dir / "countries" / f"{c}.yaml") for c in batch.countries}
    wanted = sorted({i for c in countries.values() for i in c.instruments
                     if batch.instruments is None or i in batch.instruments})
    instruments = {i: load_instrument_file(params_dir / "instruments" / f"{i}.yaml") for i in wanted}

    runs: list[Run] = []
    for code, country in countries.items():
        data_files: tuple[Path, ...] = ()
        data_path = ""
        if isinstance(country.data, FileSource):
            resolved = resolve_confined(country.data.path, root=root, allowed=data_dirs,
                                        file=params_dir / "countries" / f"{code}.yaml", key="data.path")
            data_path, data_files = str(resolved), (resolved,)
        for name in country.instruments:
            if name not in instruments:
                continue
            inst = instruments[name]
            evidence = evidence_dir / f"{code}__{name}.json"
            runs.append(Run(
                run_id=f"{code}/{name}", kind="instrument", title=f"{country.name}: {inst.label}",
                notebook=nb_dir / NOTEBOOK_FILES["instrument"],
                parameters=_instrument_parameters(country, inst, batch, data_path, evidence),
                executed=work_dir / code / f"{name}.ipynb", failed=work_dir / code / f"{name}.failed.ipynb",
                html=output_dir / code / f"{name}.html", evidence=evidence, data_files=data_files,
                country=code, instrument=name))
    for code, country in countries.items():
        names = [i for i in country.instruments if i in instruments]
        runs.append(Run(
            run_id=code, kind="country", title=f"{country.name}: country report",
            notebook=nb_dir / NOTEBOOK_FILES["country"],
            parameters={"country": code, "country_name": country.name, "agency": country.agency,
                        "context": country.context, "disclosure_profile": country.disclosure_profile,
                        "instruments": names,
                        "instrument_labels": {i: instruments[i].label for i in names},
                        "evidence_dir": str(evidence_dir), "seed": batch.seed},
            executed=work_dir / code / "country_report.ipynb",
            failed=work_dir / code / "country_report.failed.ipynb",
            html=output_dir / code / "country_report.html", country=code))
    if batch.synthesis:
        runs.append(Run(
            run_id="synthesis", kind="synthesis", title="Forum synthesis",
            notebook=nb_dir / NOTEBOOK_FILES["synthesis"],
            parameters={"evidence_dir": str(evidence_dir), "countries": list(countries), "seed": batch.seed},
            executed=work_dir / "synthesis.ipynb", failed=work_dir / "synthesis.failed.ipynb",
            html=output_dir / "synthesis.html"))
    for case in batch.case_studies:
        runs.append(Run(
            run_id=case, kind="case_study", title=case.replace("_", " ").capitalize(),
            notebook=nb_dir / f"{case}.ipynb", parameters={"seed": batch.seed},
            executed=work_dir / f"{case}.ipynb", failed=work_dir / f"{case}.failed.ipynb",
            html=output_dir / f"{case}.html"))

    selected = _select(runs, parse_only(only), countries, instruments, batch_path)
    checked_notebooks: dict[Path, None] = {}
    final: list[Run] = []
    for run in runs:
        if not run.notebook.is_file():
            raise ParameterError(f"notebook {str(run.notebook)!r} for run {run.run_id!r} does not exist; "
                                 f"regenerate the notebooks (python notebooks/build_notebooks.py)")
        params = check_notebook_parameters(run.notebook, run.parameters)
        checked_notebooks[run.notebook] = None
        final.append(Run(**{**run.__dict__, "parameters": params}))
    return Plan(batch=batch, batch_file=batch_path, root=root, output_dir=output_dir, work_dir=work_dir,
                evidence_dir=evidence_dir, notebooks_dir=nb_dir, countries=countries,
                instruments=instruments, runs=tuple(final), selected=frozenset(selected))


def _select(runs: list[Run], only: tuple[str, str | None] | None, countries: Mapping[str, CountryParams],
            instruments: Mapping[str, InstrumentParams], batch_path: Path) -> set[str]:
    if only is None:
        return {r.run_id for r in runs}
    code, name = only
    if code not in countries:
        raise ParameterError(f"--only names country {code!r}, which is not in 'countries' of "
                             f"{str(batch_path)!r} ({sorted(countries)!r}); add it there or pick one of "
                             f"those")
    if name is not None and not any(r.run_id == f"{code}/{name}" for r in runs):
        runs_there = [i for i in countries[code].instruments if i in instruments]
        raise ParameterError(f"--only names instrument {name!r}, which country {code!r} does not run in this "
                             f"batch (it runs {runs_there!r}); pick one of those")
    # the synthesis pools every country's evidence, so a re-run country changes it too
    return {r.run_id for r in runs
            if r.kind == "synthesis"
            or (r.country == code and (r.kind == "country" or name is None or r.instrument == name))}
