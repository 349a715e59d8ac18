"""``ipf-eval check`` and ``ipf-eval init``: is the project ready to render, and a start for an agency's data.

:func:`check_project` reads every parameter file under the batch file's folder (``countries/*.yaml`` and
``instruments/*.yaml``, whether the batch lists them or not) and collects every problem instead of stopping
at the first; builds the batch plan; and opens the data file of every country of the batch that reads its
own data (``data.source: file``), without running a notebook, to check for each instrument it runs what the
evaluation will need: the panel contract (firm, year, first year of support), the outcomes (after building
the country's own outcomes), the covariates, the columns of the instrument's design, and the contract's own
validation (:func:`ipf_eval.data.validate_panel`).

Every problem names the file, the key or column, what was found and the remedy.  No message quotes a firm
identifier or one firm's value: the checks written here give counts only, and messages that come from the
data layer (which quote example ids and values to the analyst who validates a panel interactively) have
their example lists withheld and pass :func:`ipf_eval.disclosure.publishable_text`.

:func:`init_country` writes ``params/countries/CC.yaml`` from the commented template
(``ipf_eval/pipeline/templates/country.yaml``) and creates the empty ``data/CC/`` folder.
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.data import validate_panel
from ipf_eval.disclosure import WITHHELD_MESSAGE, get_profile, publishable_text
from ipf_eval.errors import DataError, IpfEvalError, ParameterError, PipelineError, SpecificationError
from ipf_eval.evidence.outcomes import OutcomeSpec, derive_outcomes, outcome_specs
from ipf_eval.pipeline.formatting import count
from ipf_eval.pipeline.params import (
    CountryParams,
    FileSource,
    InstrumentParams,
    load_batch_file,
    load_country_file,
    load_instrument_file,
)
from ipf_eval.pipeline.plan import Run, build_plan
from ipf_eval.pipeline.settings import BatchSettings, EvaluationData, batch_settings

__all__ = [
    "CONTRACT_COLUMNS",
    "DESIGN_COLUMNS",
    "CheckReport",
    "CountrySummary",
    "InitResult",
    "Problem",
    "check_project",
    "country_template",
    "data_problems",
    "init_country",
]

#: The columns every evaluation reads, with what they are.
CONTRACT_COLUMNS: Mapping[str, str] = {
    "firm_id": "firm identifier",
    "year": "period (year)",
    "first_support_year": "first year of support (0: never supported)",
}
#: The columns the design's own estimator needs besides the contract's (``application_year`` first; an open
#: call needs none).
DESIGN_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "open_call": (),
    "scored_call": ("application_year", "score", "threshold"),
    "lottery": ("application_year", "arm"),
}
#: What :func:`ipf_eval.evidence.design_estimators.applicant_cross_section` reads for a lottery or a scored
#: call, whichever the design: a column missing from this set makes the evaluation fail.
_CROSS_SECTION_COLUMNS = ("application_year", "arm", "score", "threshold")
#: What the reach and delivery tables read from the applications
#: (:func:`ipf_eval.evidence.reach.reach_summary`).
_APPLICATION_COLUMNS = ("firm_id", "call_year", "application_date", "decision_date", "outcome")
#: Optional classifications the evaluation keeps when the data have them.
_CLASSIFICATIONS = ("size_class", "sector", "region")
_CODE = re.compile(r"^[A-Z]{2}$")
_TEMPLATE_CODE = "__CODE__"

# -- withholding examples from data-layer messages ---------------------------------------------------------
# The data layer quotes up to five example ids or values after words such as "e.g.", "ids", "firms",
# "values" and "rows"; those lists are withheld.  Items are Python reprs: quoted text, numbers, None, NaT...
_ITEM = (r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\[[^\]]*\]|Timestamp\([^)]*\)|<NA>|NaT|None|True|False"
         r"|[-+]?(?:inf|nan|\d[\w.:+-]*))")
_EXAMPLES = re.compile(r"(?P<marker>\b(?:e\.g\.|values?|ids?|firm\(s\)|firms?|include|rows?)\s+)"
                       rf"{_ITEM}(?:\s*,\s*{_ITEM})*(?:\s+and\s+\d+\s+more)?")
_TOKEN = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[\w.+-]+")
_WITHHELD = "[withheld]"
_FIRM_COUNT = re.compile(r"(?<![\w.])(\d+)\s+(?:firm\(s\)|firms?\b|compan(?:y|ies)\b|enterprises?\b|SMEs?\b)")


def _publishable(message: str, ids: frozenset[str] = frozenset()) -> str:
    """Withhold a message's example lists, firm identifiers and small firm counts; then disclosure control.

    A count of firms below the strictest profile's minimum becomes "fewer than k firms", so a message that
    says what is wrong stays readable; :func:`~ipf_eval.disclosure.publishable_text` is the final gate.
    """
    text = _EXAMPLES.sub(lambda m: m.group("marker") + _WITHHELD, message)
    if ids:
        text = _TOKEN.sub(lambda m: _WITHHELD if m.group(0).strip("'\"") in ids else m.group(0), text)
    text = _FIRM_COUNT.sub(lambda m: _n_firms(int(m.group(1))) if int(m.group(1)) > 0 else m.group(0), text)
    return publishable_text(text)


def _string_ids(panel: pd.DataFrame) -> frozenset[str]:
    """Return the firm identifiers held as text (numeric ids are covered by withholding example lists)."""
    if "firm_id" not in panel.columns or pd.api.types.is_numeric_dtype(panel["firm_id"].dtype):
        return frozenset()
    return frozenset(str(v) for v in panel["firm_id"].dropna().unique())


def _n_firms(n: int) -> str:
    """Write a number of firms, or "fewer than k firms" where k is the strictest profile's minimum."""
    k = get_profile("research_data_centre").min_firms
    return f"{count(n)} firms" if n >= k else f"fewer than {k} firms"


# ---------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing to fix before the batch can run.

    Attributes
    ----------
    file
        The file to look at: a parameter file, or the data file as written in the country file.
    key
        The key (``data.columns``), the column (``column 'score'``) or ``file``.
    message
        What was found and the remedy (counts only, never a firm's identifier or value).
    country, instrument
        The evaluation it concerns, where it concerns one.
    """

    file: str
    key: str
    message: str
    country: str | None = None
    instrument: str | None = None

    def __str__(self) -> str:
        if self.key == "file" or self.message.startswith(f"key {self.key!r}") or self.key in self.message:
            return f"{self.file}: {self.message}"
        return f"{self.file}: {self.key}: {self.message}"


@dataclass(frozen=True)
class CountrySummary:
    """What the check found for one country of the batch.

    Attributes
    ----------
    code
        The country code.
    source
        ``"simulated"`` or ``"file"``.
    where
        ``"simulated (seed 2024)"`` or ``"file data/SE/firms.csv"`` (the path as the country file gives it).
    opened
        Whether the data were opened (always ``False`` for simulated data: nothing to open).
    n_rows, n_firms
        Size of the opened panel (``None`` when not opened).
    n_applications
        Rows of the applications file (``None`` without one).
    instruments
        The instruments the country runs in this batch.
    failed
        Those with at least one problem.
    n_problems
        Problems found for this country (its data and its instruments).
    notes
        What the contract would change (rows dropped and why), counts only.
    """

    code: str
    source: str
    where: str
    opened: bool = False
    n_rows: int | None = None
    n_firms: int | None = None
    n_applications: int | None = None
    instruments: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    n_problems: int = 0
    notes: tuple[str, ...] = ()

    def line(self) -> str:
        """One line, e.g. ``SE  file data/SE/firms.csv: 12,345 rows, 1,234 firms, 3 instruments ok``."""
        head = f"{self.code}  {self.where}"
        if self.source == "simulated":
            return f"{head}: nothing to open"
        if not self.opened:
            return f"{head}: not opened ({_problems(self.n_problems)}, listed below)"
        k = len(self.instruments)
        size = f"{count(self.n_rows)} rows, {count(self.n_firms) if self.n_firms is not None else '?'} firms"
        if self.n_applications is not None:
            size += f", {count(self.n_applications)} applications"
        if not self.n_problems:
            return f"{head}: {size}, {k} instrument{'s' if k != 1 else ''} ok"
        ok = k - len(self.failed)
        where = f" in {', '.join(self.failed)}" if self.failed else ""
        return f"{head}: {size}, {ok} of {k} instruments ok, {_problems(self.n_problems)}{where}"


def _problems(n: int) -> str:
    return f"{n} problem{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class CheckReport:
    """The result of :func:`check_project`.

    Attributes
    ----------
    batch_file
        The batch file checked.
    files
        Every parameter file validated.
    problems
        Everything to fix, in the order found.
    countries
        One summary per country of the batch (empty when the parameter files are too broken to read it).
    runs
        The planned runs (empty when the plan could not be built).
    output_dir
        Where the reports would go (``None`` when the plan could not be built).
    """

    batch_file: Path
    files: tuple[Path, ...]
    problems: tuple[Problem, ...]
    countries: tuple[CountrySummary, ...] = ()
    runs: tuple[Run, ...] = ()
    output_dir: Path | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing needs fixing."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        """0 when all is well, 2 (invalid parameters or data) otherwise."""
        return 0 if self.ok else 2

    def run_lines(self) -> list[str]:
        """Return the planned runs, one per line, and their number with the output folder."""
        if self.output_dir is None:
            return ["no plan: the batch could not be built (see the problems)"]
        lines = [f"{run.run_id:<40} {run.kind:<11} {run.notebook.name}" for run in self.runs]
        return [*lines, f"{len(self.runs)} runs; output folder {self.output_dir}"]

    def summary_lines(self) -> list[str]:
        """One line per country of the batch, each followed by its notes (indented)."""
        lines: list[str] = []
        for c in self.countries:
            lines.append(c.line())
            lines += [f"    note: {n}" for n in c.notes]
        return lines

    def problem_lines(self) -> list[str]:
        """One line per problem."""
        return [f"  - {p}" for p in self.problems]

    def as_text(self) -> str:
        """Return the whole report: planned runs, countries, problems and the verdict."""
        lines = [*self.run_lines(), "", *self.summary_lines()]
        if self.problems:
            lines += ["", f"{_problems(len(self.problems))}:", *self.problem_lines()]
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        """Return the last line: all well, or how many problems to fix."""
        if self.ok:
            return f"ok: {len(self.files)} parameter files valid, every data file opened and checked"
        return f"{_problems(len(self.problems))} to fix; then run ipf-eval check again"


class _Found:
    """Problems collected while checking, without duplicates, with paths shown from the project root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[Problem] = []

    def shown(self, path: Path | str) -> str:
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def add(self, problem: Problem) -> None:
        if all(p.message != problem.message for p in self.items):  # the plan re-reads what was checked
            self.items.append(problem)

    def parameter(self, exc: ParameterError, file: Path | None = None, *, country: str | None = None,
                  instrument: str | None = None) -> None:
        """Record a parameter error; its message starts with the file it names, which becomes ``file``."""
        message = str(exc)
        m = re.match(r"^'([^']+)': (.*)$", message, flags=re.DOTALL)
        if m:
            file, message = Path(m.group(1)), m.group(2)
        message = message.replace(f"{self.root}{os.sep}", "")  # paths in the message, from the project root
        key = re.search(r"key '([^']+)'", message)
        shown = self.shown(file) if file is not None else "parameters"
        self.add(Problem(shown, key.group(1) if key else "file", message, country, instrument))


# ---------------------------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------------------------
@keyword_options
def check_project(batch_file: Path | str) -> CheckReport:
    """Check that a batch can run: every parameter file, the plan, and every agency data file it reads.

    Parameters
    ----------
    batch_file
        The batch file (``params/batch.yaml``); the country and instrument files are the ``countries/`` and
        ``instruments/`` folders next to it, the project root the folder above.

    Returns
    -------
    CheckReport
        Every problem found (empty when all is well), the planned runs and one summary per country.

    Notes
    -----
    No notebook runs and no estimator is fitted: the data are opened with
    :func:`ipf_eval.pipeline.settings.load_country_data` and checked column by column, then with
    :func:`ipf_eval.data.validate_panel` for each instrument.  Simulated countries have nothing to open.
    """
    batch_path = Path(batch_file).resolve()
    params_dir = batch_path.parent
    found = _Found(params_dir.parent)
    country_files = sorted((params_dir / "countries").glob("*.yaml"))
    inst_files = sorted((params_dir / "instruments").glob("*.yaml"))
    strays = [*(params_dir / "countries").glob("*.yml"), *(params_dir / "instruments").glob("*.yml")]
    for stray in sorted(strays):
        found.add(Problem(found.shown(stray), "file", f"the file ends in .yml and is not read; rename it to "
                                                      f"{stray.stem}.yaml"))
    try:
        load_batch_file(batch_path)
    except ParameterError as exc:
        found.parameter(exc, batch_path)
    countries: dict[str, CountryParams] = {}
    for f in country_files:
        try:
            countries[f.stem] = load_country_file(f)
        except ParameterError as exc:
            found.parameter(exc, f, country=f.stem)
    instruments: dict[str, InstrumentParams] = {}
    for f in inst_files:
        try:
            instruments[f.stem] = load_instrument_file(f)
        except ParameterError as exc:
            found.parameter(exc, f, instrument=f.stem)
    _cross_references(countries, instruments, {f.stem for f in inst_files}, params_dir, found)

    settings: BatchSettings | None = None
    try:
        settings = batch_settings(batch_path)
    except ParameterError as exc:
        found.parameter(exc)
    runs: tuple[Run, ...] = ()
    output_dir = None
    try:
        plan = build_plan(batch_path)
        runs, output_dir = plan.runs, plan.output_dir
    except ParameterError as exc:
        found.parameter(exc)

    summaries: list[CountrySummary] = []
    if settings is not None:
        for code in settings.batch.countries:
            summaries.append(_check_country(settings, code, found))
    return CheckReport(batch_file=batch_path, files=(batch_path, *country_files, *inst_files),
                       problems=tuple(found.items), countries=tuple(summaries), runs=runs,
                       output_dir=output_dir)


@keyword_options
def data_problems(settings: BatchSettings, countries: Iterable[str]) -> tuple[Problem, ...]:
    """Open the data of the given countries and check them as :func:`check_project` does; return the problems.

    ``ipf-eval render`` calls it before any notebook runs, so that a covariate or outcome the data lack
    stops the batch with exit 2 instead of failing runs one by one.  Simulated countries have nothing to
    open.
    """
    found = _Found(settings.root)
    for code in countries:
        _check_country(settings, code, found)
    return tuple(found.items)


def _cross_references(countries: Mapping[str, CountryParams], instruments: Mapping[str, InstrumentParams],
                      inst_names: set[str], params_dir: Path, found: _Found) -> None:
    """Every instrument a country file names has a file, and its outcomes resolve for that country."""
    for code, cp in countries.items():
        cfile = params_dir / "countries" / f"{code}.yaml"
        for name in cp.instruments:
            ifile = params_dir / "instruments" / f"{name}.yaml"
            if name not in inst_names:
                close = difflib.get_close_matches(name, sorted(inst_names), n=3)
                hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
                found.add(Problem(found.shown(cfile), "instruments", f"instrument {name!r} has no file "
                                  f"{found.shown(ifile)}{hint}; fix the name or add the instrument file "
                                  f"(instrument files: {sorted(inst_names)!r})", code, name))
                continue
            if name not in instruments:
                continue  # its file is invalid: already reported
            inst = instruments[name]
            where = f"{str(ifile)!r} (evaluated for {str(cfile)!r})"  # as BatchSettings.outcome_specs says
            try:
                outcome_specs(inst.outcomes, custom={**cp.custom_outcomes, **inst.custom_outcomes},
                              where=where)
            except ParameterError as exc:
                found.parameter(exc, ifile, country=code, instrument=name)


def _check_country(settings: BatchSettings, code: str, found: _Found) -> CountrySummary:
    cp = settings.country(code)
    names = tuple(i for i in cp.instruments if i in settings.instruments)
    source = cp.data
    if not isinstance(source, FileSource):
        return CountrySummary(code, "simulated", f"simulated (seed {source.seed})", instruments=names)
    before = len(found.items)
    checker = _DataCheck(settings, code, source.path, found)
    data = checker.open()
    if data is None:
        return CountrySummary(code, "file", f"file {source.path}", instruments=names,
                              n_problems=len(found.items) - before)
    panel, apps = data.panel, data.applications
    if apps is not None and source.applications is not None:
        checker.applications(apps, source.applications.path)
    base_ok = checker.contract(panel)
    failed = [name for name in names if not checker.instrument(panel, name, base_ok=base_ok)]
    n_firms = int(panel["firm_id"].nunique()) if "firm_id" in panel.columns else None
    return CountrySummary(code, "file", f"file {source.path}", opened=True, n_rows=len(panel),
                          n_firms=n_firms, n_applications=None if apps is None else len(apps),
                          instruments=names,
                          failed=tuple(names) if not base_ok else tuple(failed),
                          n_problems=len(found.items) - before, notes=tuple(checker.notes))


class _DataCheck:
    """The checks of one file-sourced country's data; problems go to ``found``, counts only."""

    def __init__(self, settings: BatchSettings, code: str, data_file: str, found: _Found) -> None:
        self.settings, self.code, self.data_file, self.found = settings, code, data_file, found
        self.country_file = found.shown(settings.params_dir / "countries" / f"{code}.yaml")
        self.ids: frozenset[str] = frozenset()
        self.notes: list[str] = []

    def problem(self, key: str, message: str, instrument: str | None = None) -> None:
        self.found.add(Problem(self.data_file, key, _publishable(message, self.ids), self.code, instrument))

    def open(self) -> EvaluationData | None:
        """Open the data as the evaluation does; ``None`` (and a problem) when they cannot be read."""
        from ipf_eval.pipeline.settings import load_country_data

        remedy = (f"check data.path, data.format, the read: options and data.columns in "
                  f"{self.country_file}")
        try:
            data = load_country_data(self.settings, self.code)
        except ParameterError as exc:
            self.found.parameter(exc, self.settings.params_dir / "countries" / f"{self.code}.yaml",
                                 country=self.code)
            return None
        except IpfEvalError as exc:
            self.problem("data", f"the data cannot be opened: {exc}; {remedy}")
            return None
        except (OSError, ValueError) as exc:  # a reader's own error (encoding, malformed file)
            self.problem("data", f"the data cannot be read ({type(exc).__name__}: {exc}); {remedy}")
            return None
        self.ids = _string_ids(data.panel)
        if data.applications is not None:
            self.ids |= _string_ids(data.applications)
        return data

    def applications(self, apps: pd.DataFrame, path: str) -> None:
        """Check the delivery data have the columns the reach and delivery tables read."""
        remedy = (f"map your file's column to it under data.applications.columns in {self.country_file}, "
                  "or remove data.applications")
        for col in _APPLICATION_COLUMNS:
            if col not in apps.columns:
                close = difflib.get_close_matches(col, [str(c) for c in apps.columns], n=3)
                hint = f" (close: {', '.join(repr(c) for c in close)})" if close else ""
                self.found.add(Problem(path, f"column {col!r}", f"column {col!r} (read by the reach and "
                                       f"delivery tables) is not in the applications{hint}; {remedy}",
                                       self.code))
        for col in ("application_date", "decision_date"):
            if col not in apps.columns:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas' format inference warnings
                parsed = pd.to_datetime(apps[col], errors="coerce")
            bad = int((parsed.isna() & apps[col].notna()).sum())
            if bad:
                self.found.add(Problem(path, f"column {col!r}", f"column {col!r} of the applications holds "
                                       f"{count(bad)} of {count(len(apps))} values that are not dates; write "
                                       "dates as YYYY-MM-DD", self.code))

    # -- columns -----------------------------------------------------------------------------------------
    def _missing(self, panel: pd.DataFrame, col: str, why: str, remedy: str,
                 instrument: str | None = None) -> bool:
        """Record a problem and return ``True`` when ``col`` is not in the data (``why``: who needs it)."""
        if col in panel.columns:
            return False
        close = difflib.get_close_matches(col, [str(c) for c in panel.columns], n=3)
        hint = f" (close: {', '.join(repr(c) for c in close)})" if close else ""
        self.problem(f"column {col!r}", f"column {col!r} ({why}) is not in the data{hint}; {remedy}",
                     instrument)
        return True

    def _numeric(self, panel: pd.DataFrame, col: str, why: str, instrument: str | None = None) -> bool:
        """Record a problem and return ``False`` when ``col`` is neither numeric nor boolean."""
        s = panel[col]
        if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
            return True
        converted = pd.to_numeric(s.astype(object), errors="coerce")
        n_bad = int((converted.isna() & s.notna()).sum())
        self.problem(f"column {col!r}", f"column {col!r} ({why}) is not numeric (dtype {s.dtype}): "
                     f"{count(n_bad)} of {count(len(s))} values are not numbers; fix those cells in the file "
                     f"(decimal commas need read: {{decimal: ','}}, thousands separators read: "
                     f"{{thousands: ' '}}, codes for missing values read: {{na_values: [...]}} in "
                     f"{self.country_file})", instrument)
        return False

    def _usable(self, panel: pd.DataFrame, col: str, why: str, remedy: str,
                instrument: str | None = None) -> bool:
        return (not self._missing(panel, col, why, remedy, instrument)
                and self._numeric(panel, col, why, instrument))

    def _map_remedy(self, col: str) -> str:
        return (f"map your file's column to it under data.columns in {self.country_file} "
                f"({col}: YourColumn)")

    def contract(self, panel: pd.DataFrame) -> bool:
        """Check the columns every evaluation reads: firm, year and first year of support."""
        ok = not self._missing(panel, "firm_id", CONTRACT_COLUMNS["firm_id"], self._map_remedy("firm_id"))
        for col in ("year", "first_support_year"):
            ok = self._usable(panel, col, CONTRACT_COLUMNS[col], self._map_remedy(col)) and ok
        if not ok:
            return False
        year = panel["year"].astype(float)
        bad = int((year.notna() & ((year <= 0) | (year != year.round()))).sum())
        if bad:
            self.problem("column 'year'", f"the period column 'year' holds {count(bad)} values that are not "
                         "positive whole numbers; give the calendar year of each row")
            ok = False
        g = panel["first_support_year"].astype(float)
        negative = int((g < 0).sum())
        if negative:
            self.problem("column 'first_support_year'", f"{count(negative)} rows have a negative first year "
                         "of support; give the first year of support, 0 (or empty) for never supported")
            ok = False
        if not bool((g > 0).any()):
            self.problem("column 'first_support_year'", "no firm has a first year of support above 0: there "
                         "is nothing to evaluate; give each supported firm's first year of support (0 for "
                         "never supported), not a 0/1 indicator")
            ok = False
        varies = panel.assign(_g=g.fillna(0.0)).groupby("firm_id", sort=False)["_g"].nunique()
        n_vary = int((varies > 1).sum())
        if n_vary:
            self.problem("column 'first_support_year'", f"the first year of support varies within "
                         f"{_n_firms(n_vary)}; it must be the same in every row of a firm (its first year of "
                         "support, also in the years before it)")
            ok = False
        return ok

    def instrument(self, panel: pd.DataFrame, name: str, *, base_ok: bool) -> bool:
        """Check the outcomes, covariates and design columns of one instrument, then the panel contract."""
        inst = self.settings.instruments[name]
        ifile = self.found.shown(self.settings.params_dir / "instruments" / f"{name}.yaml")
        before = len(self.found.items)
        if inst.design == "delivery_trial":
            self.problem(f"instruments: {name}", f"{name} in {ifile} is a delivery trial, which this "
                         "version runs on the embedded simulated data only (an agency's own trial needs its "
                         "assignment and outcome files, not read yet); remove it from the country's "
                         "instruments, or evaluate the trial with ipf_eval.experiments.analyse_trial", name)
            return False
        try:
            specs = self.settings.outcome_specs(self.code, name)
        except ParameterError as exc:
            self.found.parameter(exc, country=self.code, instrument=name)
            return False
        custom: dict[str, OutcomeSpec] = {}
        for spec in specs.values():
            if spec.standard:
                self._usable(panel, spec.name, f"an outcome of {name} in {ifile}",
                             f"{self._map_remedy(spec.name)}, or define your own outcome under "
                             "custom_outcomes and list it in the instrument file", name)
                continue
            try:
                derive_outcomes(panel, {spec.name: spec})
            except DataError as exc:
                self.problem(f"custom_outcomes.{spec.name}", str(exc), name)
                continue
            custom[spec.name] = spec
        covariates = list(inst.estimator.covariates)
        for cov in covariates:
            self._usable(panel, cov, f"a covariate of {name} in {ifile}, estimator.covariates",
                         f"{self._map_remedy(cov)}, or remove it from estimator.covariates", name)
        self._design(panel, name, inst.design, ifile)
        if not base_ok or len(self.found.items) > before:
            return False
        self._contract_of(derive_outcomes(panel, custom), name, list(specs), covariates, inst.design)
        return len(self.found.items) == before

    def _design(self, panel: pd.DataFrame, name: str, design: str, ifile: str) -> None:
        what = f"needed by the {design} design of {name} in {ifile}"
        for col in DESIGN_COLUMNS.get(design, ()):
            self._usable(panel, col, what, self._map_remedy(col), name)
        if not DESIGN_COLUMNS.get(design):
            return
        years = panel["application_year"] if "application_year" in panel.columns else None
        if years is None or not pd.api.types.is_numeric_dtype(years):
            return
        applicants = years > 0
        if not bool(applicants.any()):
            self.problem("column 'application_year'", f"no row has an application year above 0, so the "
                         f"{design} of {name} has no applicants; give each applicant's call year (0 for "
                         "firms that never applied)", name)
            return
        for col in DESIGN_COLUMNS[design][1:]:
            if col in panel.columns and not bool(panel.loc[applicants, col].notna().any()):
                self.problem(f"column {col!r}", f"column {col!r} ({what}) is empty in all "
                             f"{count(int(applicants.sum()))} applicant rows (application_year above 0); "
                             "give each applicant's value", name)

    def _contract_of(self, frame: pd.DataFrame, name: str, outcomes: Sequence[str], covariates: Sequence[str],
                     design: str) -> None:
        roles = {"firm_id", "year", "first_support_year", *outcomes, *covariates}
        extra = [c for c in (*_CLASSIFICATIONS, *_design_extras(design))
                 if c in frame.columns and c not in roles]
        try:
            with warnings.catch_warnings(record=True):  # their texts quote example ids: counts come below
                warnings.simplefilter("always")
                checked = validate_panel(frame, idname="firm_id", tname="year", gname="first_support_year",
                                         ynames=list(outcomes), covariates=list(covariates),
                                         extra_columns=extra)
        except (DataError, SpecificationError) as exc:
            self.problem("panel contract", f"the data break the panel contract for {name}: {exc}", name)
            return
        for d in checked.dropped:
            note = _publishable(f"{name}: {count(d.n_rows)} rows would be dropped ({d.reason})", self.ids)
            if note not in self.notes and note != WITHHELD_MESSAGE:
                self.notes.append(note)


def _design_extras(design: str) -> Iterable[str]:
    return _CROSS_SECTION_COLUMNS if DESIGN_COLUMNS.get(design) else ()


# ---------------------------------------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InitResult:
    """What :func:`init_country` wrote.

    Attributes
    ----------
    code
        The country code.
    country_file
        The country file written.
    data_dir
        The folder for the agency's files.
    data_dir_created
        Whether the folder was created (``False`` when it existed).
    next_steps
        What to do next, one step per item.
    """

    code: str
    country_file: Path
    data_dir: Path
    data_dir_created: bool
    next_steps: tuple[str, ...]


def _check_code(code: object) -> str:
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise ParameterError(f"country code {code!r} is not two upper-case letters (the ISO 3166 code, e.g. "
                             "'SE'); write it in capitals")
    return code


@keyword_options
def country_template(code: str) -> str:
    """Return the commented country-file template with ``code`` filled in.

    Raises
    ------
    ParameterError
        If ``code`` is not two upper-case letters.
    """
    code = _check_code(code)
    text = files("ipf_eval.pipeline").joinpath("templates", "country.yaml").read_text(encoding="utf-8")
    return text.replace(_TEMPLATE_CODE, code)


@keyword_options
def init_country(code: str, *, params_dir: Path | str = "params") -> InitResult:
    """Write ``<params_dir>/countries/<code>.yaml`` from the template and create ``data/<code>/``.

    Parameters
    ----------
    code
        The country's ISO 3166 two-letter code, upper case.
    params_dir
        The parameter folder (holding ``batch.yaml``); the project root is the folder above it, where
        ``data/<code>/`` is created (empty).

    Returns
    -------
    InitResult
        The files written and the next steps.

    Raises
    ------
    ParameterError
        If the code is not two upper-case letters, the parameter folder does not exist, or the country file
        exists already (it is never overwritten).
    PipelineError
        If the file or the folder cannot be written.
    """
    code = _check_code(code)
    params = Path(params_dir)
    if not params.is_dir():
        raise ParameterError(f"parameter folder {str(params)!r} not found; run from the project root or "
                             "pass --params DIR (the folder holding batch.yaml)")
    target = params / "countries" / f"{code}.yaml"
    if target.exists():
        raise ParameterError(f"{str(target)!r} exists already and is not overwritten; edit it, or delete or "
                             "rename it to start again from the template")
    text = country_template(code)
    data_dir = params.parent / "data" / code
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as fh:
            fh.write(text)
        created = not data_dir.is_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise ParameterError(f"{str(target)!r} exists already and is not overwritten") from exc
    except OSError as exc:
        raise PipelineError(f"cannot write {str(target)!r} or {str(data_dir)!r}: {exc.strerror}; check the "
                            "folder's permissions") from exc
    batch = params / "batch.yaml"
    option = "" if params == Path("params") else f" --params {batch}"
    steps = (
        f"put the agency's firm panel in {data_dir}/ as firms.csv (or change data.path and data.format in "
        f"{target}); it stays on this machine: data/ is never committed",
        f"edit {target}: name, agency, instruments, the read: options and the column mapping under "
        "data.columns (contract name: your file's column)",
        f"add \"{code}\" to countries in {batch}",
        f"ipf-eval check{option}",
        f"ipf-eval render{option} --only {code}",
    )
    return InitResult(code, target, data_dir, created, steps)
