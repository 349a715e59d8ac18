"""What a notebook evaluates, read from the same parameter files the batch uses.

The notebooks take only names (a country, an instrument) and the batch file as parameters; everything else
(the agency, its data source, disclosure profile and costs, the instrument's design, outcomes and
estimator choices, the seed) comes from ``params/`` through the functions here.  An evaluation opened in
JupyterLab with its default parameters and the same evaluation run by ``ipf-eval render`` therefore read
the same values and give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ipf_eval.errors import ParameterError, PipelineError
from ipf_eval.evidence import InstrumentEvidence, evaluate_instrument
from ipf_eval.evidence.parameters import CostOverride, InstrumentParams
from ipf_eval.pipeline.params import (
    BatchParams,
    CountryParams,
    FileSource,
    load_batch_file,
    load_country_file,
    load_instrument_file,
    resolve_confined,
)

__all__ = ["BatchSettings", "EvaluationData", "InstrumentRun", "batch_settings", "instrument_run"]


@dataclass(frozen=True)
class BatchSettings:
    """The validated batch file with its countries and the instruments they run."""

    batch: BatchParams
    batch_file: Path
    root: Path
    countries: dict[str, CountryParams]
    instruments: dict[str, InstrumentParams]

    @property
    def params_dir(self) -> Path:
        """The folder holding the batch file and the ``countries/`` and ``instruments/`` folders."""
        return self.batch_file.parent

    def instrument_labels(self, country: str) -> dict[str, str]:
        """Label of each instrument a country runs in this batch."""
        return {name: self.instruments[name].label for name in self.country(country).instruments
                if name in self.instruments}

    def country(self, code: str) -> CountryParams:
        """Return the parameters of one country of the batch.

        Raises
        ------
        ParameterError
            If the batch does not list the country.
        """
        if code not in self.countries:
            raise ParameterError(f"country {code!r} is not in 'countries' of {str(self.batch_file)!r} "
                                 f"({sorted(self.countries)!r}); add it there or pick one of those")
        return self.countries[code]


def batch_settings(params: str | Path) -> BatchSettings:
    """Read and validate the batch file, its country files and the instrument files they name.

    Parameters
    ----------
    params
        The batch file (``params/batch.yaml``); relative paths are taken from the working directory.

    Returns
    -------
    BatchSettings
        The validated files.

    Raises
    ------
    ParameterError
        If a file is missing or invalid.
    """
    batch_file = Path(params).resolve()
    batch = load_batch_file(batch_file)
    params_dir = batch_file.parent
    countries = {c: load_country_file(params_dir / "countries" / f"{c}.yaml") for c in batch.countries}
    names = sorted({i for c in countries.values() for i in c.instruments
                    if batch.instruments is None or i in batch.instruments})
    instruments = {i: load_instrument_file(params_dir / "instruments" / f"{i}.yaml") for i in names}
    return BatchSettings(batch, batch_file, params_dir.parent.resolve(), countries, instruments)


@dataclass(frozen=True, eq=False)
class EvaluationData:
    """The data of one evaluation: the panel, the delivery data and the country's firms."""

    panel: pd.DataFrame
    applications: pd.DataFrame | None = None
    population: pd.DataFrame | None = None
    data_file: Path | None = None


@dataclass(frozen=True)
class InstrumentRun:
    """One (country, instrument) of a batch, with everything needed to evaluate it."""

    settings: BatchSettings
    country: CountryParams
    instrument: InstrumentParams
    data_path: Path | None = field(default=None)

    @property
    def seed(self) -> int:
        """The batch seed (every random step)."""
        return self.settings.batch.seed

    @property
    def costs(self) -> CostOverride | None:
        """The country's own costs for this instrument, if its file gives them."""
        return self.country.costs.get(self.instrument.name)

    def load_data(self) -> EvaluationData:
        """Load the evaluation sample: the embedded simulation or the agency's file.

        Raises
        ------
        DataError
            If the file cannot be read or a mapped column is missing.
        """
        source = self.country.data
        if isinstance(source, FileSource):
            from ipf_eval.data import read_panel

            if self.data_path is None:
                raise PipelineError(f"country {self.country.code!r} reads a file but no resolved path was "
                                    f"given; build the run with ipf_eval.pipeline.instrument_run")
            panel = read_panel(self.data_path, columns=dict(source.columns) or None, keep_unmapped=True)
            return EvaluationData(panel=panel, data_file=self.data_path)
        from ipf_eval.data import simulate_firms

        sim = simulate_firms(seed=source.seed, n_firms=source.n_firms)
        code, name = self.country.code, self.instrument.name
        apps = sim.applications
        return EvaluationData(
            panel=sim.evaluation_sample(code, name),
            applications=apps.loc[(apps["country"] == code) & (apps["instrument"] == name)],
            population=sim.panel.loc[sim.panel["country"] == code])

    def evaluate(self, data: EvaluationData | None = None, *,
                 created: str | None = None) -> InstrumentEvidence:
        """Evaluate the instrument on ``data`` (loaded with :meth:`load_data` when ``None``)."""
        data = data if data is not None else self.load_data()
        return evaluate_instrument(data.panel, self.instrument, country=self.country.code, costs=self.costs,
                                   disclosure_profile=self.country.disclosure_profile, seed=self.seed,
                                   applications=data.applications, population=data.population,
                                   created=created or None)


def instrument_run(params: str | Path, *, country: str, instrument: str) -> InstrumentRun:
    """Return the (country, instrument) of a batch file, validated.

    Parameters
    ----------
    params
        The batch file.
    country, instrument
        Which evaluation: a country of the batch and an instrument it runs.

    Returns
    -------
    InstrumentRun
        Its settings; :meth:`InstrumentRun.evaluate` runs it.

    Raises
    ------
    ParameterError
        If a file is invalid, the batch does not list the country, the country does not run the instrument,
        or its data file lies outside the project and the declared data folders.
    """
    settings = batch_settings(params)
    cp = settings.country(country)
    if instrument not in settings.instruments or instrument not in cp.instruments:
        raise ParameterError(f"country {country!r} does not run instrument {instrument!r} in "
                             f"{str(settings.batch_file)!r} (it runs "
                             f"{list(settings.instrument_labels(country))!r}); pick one of those")
    data_path = None
    if isinstance(cp.data, FileSource):
        allowed = [resolve_confined(d, root=settings.root, allowed=[], file=settings.batch_file,
                                    key=f"data_dirs[{i}]") if not Path(d).is_absolute() else Path(d).resolve()
                   for i, d in enumerate(settings.batch.data_dirs)]
        data_path = resolve_confined(cp.data.path, root=settings.root, allowed=allowed,
                                     file=settings.params_dir / "countries" / f"{country}.yaml",
                                     key="data.path")
    return InstrumentRun(settings, cp, settings.instruments[instrument], data_path)
