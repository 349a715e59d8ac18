"""What a notebook evaluates, read from the same parameter files the batch uses.

The notebooks take only names (a country, an instrument) and the batch file as parameters; everything else
(the agency, its data source, disclosure profile and costs, the instrument's design, outcomes and
estimator choices, the seed) comes from ``params/`` through the functions here.  An evaluation opened in
JupyterLab with its default parameters and the same evaluation run by ``ipf-eval render`` therefore read
the same values and give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.errors import DataError, ParameterError, SpecificationError
from ipf_eval.evidence import InstrumentEvidence, evaluate_instrument
from ipf_eval.evidence.outcomes import OutcomeSpec, outcome_specs
from ipf_eval.evidence.parameters import CostOverride, InstrumentParams
from ipf_eval.evidence.reach import applications_from_file
from ipf_eval.evidence.trial_evidence import DeliveryTrialEvidence, evaluate_delivery_trial
from ipf_eval.pipeline.params import (
    BatchParams,
    CountryParams,
    FileSource,
    ReadOptions,
    _file_format,
    load_batch_file,
    load_country_file,
    load_instrument_file,
    resolve_confined,
)

__all__ = ["BatchSettings", "EvaluationData", "InstrumentRun", "batch_settings", "instrument_run",
           "load_country_data"]


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

    def outcome_specs(self, country: str, instrument: str) -> dict[str, OutcomeSpec]:
        """Return the outcomes a country's evaluation of an instrument estimates, resolved.

        The country's ``custom_outcomes`` and the instrument's are merged (the instrument's win on a name
        both define).

        Raises
        ------
        ParameterError
            If an outcome is neither standard nor defined in either file (the message names both).
        """
        cp, inst = self.country(country), self.instruments[instrument]
        where = (f"{str(self.params_dir / 'instruments' / f'{instrument}.yaml')!r} (evaluated for "
                 f"{str(self.params_dir / 'countries' / f'{country}.yaml')!r})")
        return outcome_specs(inst.outcomes, custom={**cp.custom_outcomes, **inst.custom_outcomes},
                             where=where)

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


@keyword_options
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
    settings = BatchSettings(batch, batch_file, params_dir.parent.resolve(), countries, instruments)
    for code, cp in countries.items():
        for name in cp.instruments:
            if name in instruments:
                settings.outcome_specs(code, name)  # every outcome name is standard or defined
    return settings


@dataclass(frozen=True, eq=False)
class EvaluationData:
    """The data of one evaluation: the panel, the delivery data and the country's firms.

    ``eligibility`` lists the firms eligible for the instrument with their SME mix, and ``admin_costs``
    the agency's administrative cost per call (the simulator has both; an agency's own files do not yet).
    """

    panel: pd.DataFrame
    applications: pd.DataFrame | None = None
    population: pd.DataFrame | None = None
    data_file: Path | None = None
    eligibility: pd.DataFrame | None = None
    admin_costs: pd.DataFrame | None = None


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

        For a file source this is :func:`load_country_data`; when the applications file has an
        ``instrument`` column, only this instrument's applications are kept.

        Raises
        ------
        DataError
            If a file cannot be read (the message names the country file and the key).
        ParameterError
            If a mapped column is not in the file, a read option does not fit the file, or a path lies
            outside the project and the declared data folders.
        """
        source = self.country.data
        if isinstance(source, FileSource):
            data = load_country_data(self.settings, self.country.code)
            apps = data.applications
            if apps is not None and "instrument" in apps.columns:
                apps = apps.loc[apps["instrument"] == self.instrument.name].reset_index(drop=True)
            return EvaluationData(panel=data.panel, applications=apps, data_file=data.data_file)
        from ipf_eval.data import simulate_firms

        sim = simulate_firms(seed=source.seed, n_firms=source.n_firms)
        code, name = self.country.code, self.instrument.name
        apps = sim.applications
        elig = sim.eligibility
        elig = elig.loc[(elig["country"] == code) & (elig["instrument"] == name), ["firm_id", "eligible"]]
        calls = sim.calls
        return EvaluationData(
            panel=sim.evaluation_sample(code, name),
            applications=apps.loc[(apps["country"] == code) & (apps["instrument"] == name)],
            population=sim.panel.loc[sim.panel["country"] == code],
            eligibility=elig.merge(sim.firms[["firm_id", "size_class", "sector"]], on="firm_id", how="left"),
            admin_costs=calls.loc[(calls["country"] == code) & (calls["instrument"] == name),
                                  ["call_year", "admin_cost_eur"]].reset_index(drop=True))

    def evaluate_trial(self, *, created: str | None = None) -> DeliveryTrialEvidence:
        """Run the delivery trial of an instrument of design ``delivery_trial`` on the simulated register.

        The steps an agency takes, in order: the eligible firms of the call (baseline columns only), the
        registered design drawn from the batch seed (:func:`ipf_eval.experiments.design_trial`), then the
        outcomes after the call (the simulator's, with the trial block's ``simulated_effects``), analysed
        as the plan says (:func:`ipf_eval.evidence.evaluate_delivery_trial`).

        Raises
        ------
        ParameterError
            If the instrument is not a delivery trial, or the country's data are its own file (a trial on an
            agency's own files needs its assignment and outcome files, which this version does not read).
        """
        from ipf_eval.data import simulate_firms
        from ipf_eval.data.delivery_trial import (
            DeliveryTrialEffects,
            simulate_delivery_trial,
            trial_population,
        )
        from ipf_eval.experiments import design_trial

        trial, code = self.instrument.trial, self.country.code
        if trial is None:
            raise ParameterError(f"instrument {self.instrument.name!r} has design "
                                 f"{self.instrument.design!r}, not 'delivery_trial'; evaluate it with "
                                 "InstrumentRun.evaluate")
        source = self.country.data
        if isinstance(source, FileSource):
            raise ParameterError(f"{code}: the delivery trial {self.instrument.name!r} runs on the "
                                 "embedded simulated data only; an agency's own trial needs its assignment "
                                 "and outcome files, which this version does not read. Remove the trial from "
                                 "the country's instruments or use source: simulated")
        sim = simulate_firms(seed=source.seed, n_firms=source.n_firms)
        population = trial_population(sim, country=code, instrument=trial.population,
                                      call_year=trial.call_year)
        design = design_trial(
            population, idname="firm_id", strata=list(trial.strata), arms=("control", trial.treatment),
            shares=(1.0 - trial.treated_share, trial.treated_share), seed=self.seed,
            yname=self.instrument.primary,
            secondary=[o for o in self.instrument.outcomes if o != self.instrument.primary],
            covariates=list(trial.covariates), rerandomise=trial.rerandomise, max_smd=trial.max_smd,
            n_permutations=trial.n_permutations, title=self.instrument.label)
        outcome = simulate_delivery_trial(population, design.assignment, seed=self.seed,
                                          effects=replace(DeliveryTrialEffects(), **{
                                              k: v for k, v in trial.simulated_effects.model_dump().items()
                                              if v is not None}),
                                          treatment=trial.treatment)
        return evaluate_delivery_trial(outcome.outcomes, design, self.instrument, country=code,
                                       seed=self.seed, disclosure_profile=self.country.disclosure_profile,
                                       created=created or None, data_source="simulated", truth=outcome.truth,
                                       population=sim.panel.loc[sim.panel["country"] == code])

    def evaluate(self, data: EvaluationData | None = None, *,
                 created: str | None = None) -> InstrumentEvidence:
        """Evaluate the instrument on ``data`` (loaded with :meth:`load_data` when ``None``)."""
        data = data if data is not None else self.load_data()
        return evaluate_instrument(data.panel, self.instrument, country=self.country.code, costs=self.costs,
                                   disclosure_profile=self.country.disclosure_profile, seed=self.seed,
                                   applications=data.applications, population=data.population,
                                   created=created or None, custom_outcomes=self.country.custom_outcomes,
                                   eligibility=data.eligibility, admin_costs=data.admin_costs)


@keyword_options
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
        or its data file or applications file lies outside the project and the declared data folders.
    """
    settings = batch_settings(params)
    cp = settings.country(country)
    if instrument not in settings.instruments or instrument not in cp.instruments:
        raise ParameterError(f"country {country!r} does not run instrument {instrument!r} in "
                             f"{str(settings.batch_file)!r} (it runs "
                             f"{list(settings.instrument_labels(country))!r}); pick one of those")
    data_path = None
    if isinstance(cp.data, FileSource):
        data_path, _ = _data_files(settings, country, cp.data)  # both paths checked before anything runs
    return InstrumentRun(settings, cp, settings.instruments[instrument], data_path)


# ---------------------------------------------------------------------------------------------------------
# An agency's own data: one load per country, for every instrument it runs and for `ipf-eval check`
# ---------------------------------------------------------------------------------------------------------
@keyword_options
def load_country_data(settings: BatchSettings, country: str) -> EvaluationData:
    """Open a file-sourced country's data: its panel and, when the country file gives one, its applications.

    The load is instrument-independent: the same panel serves every instrument the country runs
    (:meth:`InstrumentRun.load_data` only selects each instrument's applications), and ``ipf-eval check``
    opens the data with it without running a notebook.

    Parameters
    ----------
    settings
        The validated batch (:func:`batch_settings`).
    country
        A country of the batch whose ``data.source`` is ``file``.

    Returns
    -------
    EvaluationData
        ``panel`` and ``applications`` (``None`` without ``data.applications``) with contract column names
        (the file's unmapped columns kept unrenamed after the mapped ones), ``data_file`` the resolved panel
        file, ``population`` ``None`` (the population mix is then the panel's).

    Raises
    ------
    ParameterError
        If the batch does not list the country; if it uses the simulated data (there is no file to open:
        the simulated samples are drawn per instrument by :meth:`InstrumentRun.load_data`); if a path lies
        outside the project and the declared data folders; if a ``read`` option does not fit the file; if a
        mapped file column is not in the file (naming the key ``data.columns.<name>``, the column, close
        matches and the file's columns).
    DataError
        If a file is missing, empty or unreadable, or its values do not fit (the message names the country
        file and the key).

    Notes
    -----
    ``columns`` maps **contract name: file column**; :func:`ipf_eval.data.read_panel` takes the inverse.
    The firm identifier of a CSV or Excel file is read as text, so ``FIRM-00042`` and ``00042`` keep their
    form; when every id is a plain whole number without leading zeros (``42``, up to 18 digits) it becomes an
    integer column, as pandas would read it.  Parquet and Stata ids keep the file's type.  When the panel's
    ids are numbers and the applications' text (or the reverse), both become text so they still match.
    """
    cp = settings.country(country)
    source = cp.data
    if not isinstance(source, FileSource):
        raise ParameterError(
            f"{str(_country_file(settings, country))!r}: key 'data.source' is 'simulated': there is no file "
            f"to open (the simulated samples are drawn per instrument by InstrumentRun.load_data); set "
            f"data.source to file with data.path to evaluate the agency's own data")
    data_path, apps_path = _data_files(settings, country, source)
    cfile = _country_file(settings, country)
    panel = _read_source(data_path, value=source.path, fmt=source.format, read=source.read,
                         columns=source.columns, country_file=cfile, prefix="data")
    apps = None
    if source.applications is not None and apps_path is not None:
        a = source.applications
        apps = _read_source(apps_path, value=a.path, fmt=a.format, read=a.read, columns=a.columns,
                            country_file=cfile, prefix="data.applications")
        apps = applications_from_file(apps, where=f"{str(cfile)!r}: the applications file {a.path!r}")
        panel, apps = _matching_ids(panel, apps)
    return EvaluationData(panel=panel, applications=apps, data_file=data_path)


def _country_file(settings: BatchSettings, country: str) -> Path:
    return settings.params_dir / "countries" / f"{country}.yaml"


def _data_files(settings: BatchSettings, country: str, source: FileSource) -> tuple[Path, Path | None]:
    """Resolve ``data.path`` and ``data.applications.path``, each confined to the project and data_dirs."""
    allowed = [resolve_confined(d, root=settings.root, allowed=[], file=settings.batch_file,
                                key=f"data_dirs[{i}]") if not Path(d).is_absolute() else Path(d).resolve()
               for i, d in enumerate(settings.batch.data_dirs)]
    cfile = _country_file(settings, country)
    data_path = resolve_confined(source.path, root=settings.root, allowed=allowed, file=cfile,
                                 key="data.path")
    apps_path = None
    if source.applications is not None:
        apps_path = resolve_confined(source.applications.path, root=settings.root, allowed=allowed,
                                     file=cfile, key="data.applications.path")
    return data_path, apps_path


def _read_source(path: Path, *, value: str, fmt: str | None, read: ReadOptions, columns: dict[str, str],
                 country_file: Path, prefix: str) -> pd.DataFrame:
    """Read one file of a data source; every error names the country file and the key."""
    from ipf_eval.data.readers import read_columns, read_panel

    opts = read.given()
    where = f"{str(country_file)!r}: key '{prefix}.path' is {value!r}"
    try:
        available = read_columns(path, file_format=fmt, sheet=opts.get("sheet"), sep=opts.get("sep"),
                                 encoding=opts.get("encoding"), skiprows=opts.get("skiprows"))
        missing = {k: c for k, c in columns.items() if c not in available}
        if missing:
            raise ParameterError(_missing_columns(missing, available, path, country_file, prefix))
        as_text = _file_format(value, fmt) in ("csv", "excel") and (
            "firm_id" in columns or "firm_id" in available)
        frame = read_panel(path, columns={c: k for k, c in columns.items()} or None, keep_unmapped=True,
                           dtypes={"firm_id": "string"} if as_text else None, file_format=fmt, **opts)
    except ParameterError:
        raise
    except DataError as exc:
        raise DataError(f"{where}: {exc} (read_panel's options are the keys of {prefix}.read; the column "
                        f"mapping is {prefix}.columns)") from exc
    except SpecificationError as exc:
        raise ParameterError(f"{str(country_file)!r}: key '{prefix}.read': {exc} (file {value!r}); fix "
                             f"{prefix}.read or {prefix}.format") from exc
    return _whole_number_ids(frame) if as_text else frame


def _missing_columns(missing: dict[str, str], available: list[str], path: Path, country_file: Path,
                     prefix: str) -> str:
    import difflib

    parts = []
    for key, col in missing.items():
        close = difflib.get_close_matches(col, available, n=3, cutoff=0.6)
        folded = [c for c in available if c.casefold() == col.casefold() and c not in close]
        hint = f" (close: {', '.join(map(repr, [*folded, *close]))})" if close or folded else ""
        parts.append(f"key '{prefix}.columns.{key}' is {col!r}, which is not a column of {str(path)!r}{hint}")
    shown = available[:40]
    more = f" and {len(available) - len(shown)} more" if len(available) > len(shown) else ""
    one_column = ""
    if len(available) == 1 and any(x in available[0] for x in ";\t|,"):
        one_column = (f"; the header was read as a single column: set {prefix}.read.sep to the file's "
                      "separator")
    return (f"{str(country_file)!r}: {'; '.join(parts)}; the file's columns are {shown!r}{more}{one_column}; "
            f"write the file's column name on the right ({prefix}.columns: {{contract name: file column}})")


_WHOLE_NUMBER = r"-?[1-9][0-9]{0,17}|0"


def _whole_number_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn firm ids read as text into integers when each is a plain whole number (``42``, not ``042``)."""
    if "firm_id" not in frame.columns or not pd.api.types.is_string_dtype(frame["firm_id"].dtype):
        return frame
    ids = frame["firm_id"]
    present = ids.dropna()
    if not len(present) or not present.astype(str).str.fullmatch(_WHOLE_NUMBER).all():
        return frame
    numbers = pd.to_numeric(ids)
    return frame.assign(firm_id=numbers.astype("Int64" if ids.isna().any() else "int64"))


def _matching_ids(panel: pd.DataFrame, apps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give panel and applications ids of one kind: both text when one is text and the other numbers."""
    if "firm_id" not in panel.columns or "firm_id" not in apps.columns:
        return panel, apps
    text = [pd.api.types.is_string_dtype(f["firm_id"].dtype) for f in (panel, apps)]
    if text[0] == text[1]:
        return panel, apps
    return (panel.assign(firm_id=panel["firm_id"].astype("string")),
            apps.assign(firm_id=apps["firm_id"].astype("string")))
