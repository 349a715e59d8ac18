"""``ipf-eval init`` (a country file from a template) and ``ipf-eval check`` (parameters, data; no notebook).

The data checks open an agency's file with ``ipf_eval.pipeline.settings.load_country_data``, as the
evaluation does; every message is checked for firm identifiers (``FIRM-00042``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from _pipeline_helpers import PROJECT, instrument_yaml, make_project, write_yaml

from ipf_eval.pipeline import cli
from ipf_eval.pipeline import runner as runner_mod
from ipf_eval.pipeline.check import _publishable, country_template
from ipf_eval.pipeline.params import load_country_file

FIRM_ID = re.compile(r"FIRM-\d{5}")
MAPPING = {"firm_id": "FirmNo", "year": "Year", "first_support_year": "FirstSupport",
           "log_employment": "LnEmp", "log_age_base": "LnAge"}


@pytest.fixture(autouse=True)
def _no_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither init nor check may run a notebook."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a notebook was run")

    monkeypatch.setattr(runner_mod, "_papermill_execute", refuse)
    monkeypatch.setattr(runner_mod, "run_batch", refuse)


def _firms(n_firms: int = 60) -> pd.DataFrame:
    """A firm panel as an agency's file has it: its own column names, ids like ``FIRM-00042``."""
    rng = np.random.default_rng(7)
    years = np.arange(2015, 2021)
    first = np.array([2018 if i % 3 == 0 else 2019 if i % 3 == 1 else 0 for i in range(n_firms)])
    return pd.DataFrame({
        "FirmNo": np.repeat([f"FIRM-{i:05d}" for i in range(n_firms)], len(years)),
        "Year": np.tile(years, n_firms),
        "FirstSupport": np.repeat(first, len(years)),
        "LnEmp": rng.normal(3.0, 1.0, n_firms * len(years)),
        "LnAge": np.repeat(rng.normal(2.0, 0.5, n_firms), len(years)),
    })


def _file_project(root: Path, frame: pd.DataFrame | None = None, *, data: dict[str, Any] | None = None,
                  instrument: dict[str, Any] | None = None) -> Path:
    """A project whose country SE reads ``data/SE/firms.csv`` and runs instrument ``alpha``."""
    source = {"source": "file", "path": "data/SE/firms.csv", "columns": dict(MAPPING), **(data or {})}
    batch = make_project(root, {"SE": ["alpha"]}, country_over={"SE": {"data": source}})
    write_yaml(root / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", **{"estimator": {"bootstrap": False, "covariates": ["log_age_base"]},
                                           **(instrument or {})}))
    path = root / "data" / "SE" / "firms.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    (_firms() if frame is None else frame).to_csv(path, index=False)
    return batch


def _check(batch: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["check", "--params", str(batch)])
    out, err = capsys.readouterr()
    assert not FIRM_ID.search(out + err), "a firm identifier reached the output"
    return code, out, err


# -- init ----------------------------------------------------------------------------------------------------
def test_init_writes_the_file_and_the_folder_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params"
    params.mkdir()
    assert cli.main(["init", "SE", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    written = params / "countries" / "SE.yaml"
    assert written.read_text(encoding="utf-8") == country_template("SE")
    data_dir = tmp_path / "data" / "SE"
    assert data_dir.is_dir()
    assert list(data_dir.iterdir()) == []
    for step in ("data/SE", "batch.yaml", "ipf-eval check", "--only SE", "contract name: your file's column"):
        assert step in out

    written.write_text("code: \"SE\"  # edited\n", encoding="utf-8")
    assert cli.main(["init", "SE", "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "SE.yaml' exists already and is not overwritten" in err
    assert written.read_text(encoding="utf-8") == "code: \"SE\"  # edited\n"


@pytest.mark.parametrize("code", ["se", "SWE", "S1", ""])
def test_init_refuses_a_bad_code(tmp_path: Path, capsys: pytest.CaptureFixture[str], code: str) -> None:
    (tmp_path / "params").mkdir()
    assert cli.main(["init", code, "--params", str(tmp_path / "params")]) == 2
    assert "is not two upper-case letters" in capsys.readouterr().err
    assert not (tmp_path / "params" / "countries").exists()
    assert not (tmp_path / "data").exists()


def test_init_needs_the_parameter_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init", "SE", "--params", str(tmp_path / "nowhere")]) == 2
    assert "parameter folder" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_the_template_is_commented_yaml_with_every_key() -> None:
    text = country_template("SE")
    data = yaml.safe_load(text)
    assert data["code"] == "SE"
    assert data["data"]["source"] == "file"
    assert data["data"]["path"] == "data/SE/firms.csv"
    assert data["data"]["format"] == "csv"
    assert data["data"]["columns"]["firm_id"] == "FirmNo"  # contract name: file column
    for key in ("sep", "decimal", "thousands", "encoding", "sheet", "na_values", "skiprows",  # read options
                "applications:", "call:", "applied:", "decided:", "granted:",
                "custom_outcomes:",
                "transform: log1p", "kind: log", "disclosure_profile:", "instruments:", "context:", "costs:",
                "application_year:", "score:", "threshold:", "arm:", "size_class:"):
        assert key in text
    assert "__CODE__" not in text


def _uncommented(text: str) -> str:
    """The template with every commented-out key made active (a comment line that starts with a key)."""
    return re.sub(r"(?m)^(\s*)# (\s*[a-z_]+:(?: |$))", r"\1\2", text)


@pytest.mark.parametrize("variant", ["as written", "optional keys active"])
def test_the_template_loads_as_a_country_file(tmp_path: Path, variant: str) -> None:
    """The final shape: FileSource with format, read and applications (being added to params.py)."""
    text = country_template("SE")
    if variant != "as written":
        text = _uncommented(text)
        for block in ("\n  applications:\n", "\ncustom_outcomes:\n", "\ncosts:\n"):
            assert block in text
    path = tmp_path / "SE.yaml"
    path.write_text(text, encoding="utf-8")
    country = load_country_file(path)
    assert country.code == "SE"
    assert country.data.source == "file"
    assert not (tmp_path / "data" / "SE" / "firms.csv").exists()  # loads although the data are not there yet


def test_the_template_ships_in_the_wheel() -> None:
    import tomllib

    package_data = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["ipf_eval"]
    assert "pipeline/templates/*.yaml" in package_data
    assert (PROJECT / "ipf_eval" / "pipeline" / "templates" / "country.yaml").is_file()


# -- check: parameter files -----------------------------------------------------------------------------
def test_check_passes_on_the_default_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(PROJECT / "params", tmp_path / "params")
    (tmp_path / "notebooks").symlink_to(PROJECT / "notebooks")  # read only: the plan checks parameter names
    code, out, err = _check(tmp_path / "params" / "batch.yaml", capsys)
    assert code == 0, err
    assert "AT  simulated (seed 2024): nothing to open" in out
    # 30 instrument evaluations, a delivery trial, 6 country reports, the synthesis, 7 forum pages and
    # 3 case studies
    assert "48 runs" in out
    assert out.strip().endswith("every data file opened and checked")


def test_check_finds_every_bad_file_also_those_the_batch_does_not_list(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha"]})
    write_yaml(tmp_path / "params" / "instruments" / "gamma.yaml",
               {**instrument_yaml("gamma"), "outcomez": []})
    write_yaml(tmp_path / "params" / "countries" / "SE.yaml",
               {"code": "SE", "name": "Sweden", "agency": "Vinnova", "data": {"source": "simulated"},
                "instruments": ["alpah"]})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "params/instruments/gamma.yaml: key 'outcomez'" in err
    assert "remove the key or fix its spelling" in err
    assert "params/countries/SE.yaml: instrument 'alpah' has no file" in err
    assert "did you mean 'alpha'?" in err
    assert "NO/alpha" in out  # the batch itself is fine: its runs are listed
    assert "2 problems to fix" in err


def test_check_reports_an_unknown_outcome_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha"]})
    write_yaml(tmp_path / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["log_employmnet"]))
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert err.count("outcome 'log_employmnet' is neither a standard outcome") == 1
    assert "did you mean 'log_employment'?" in err
    assert str(tmp_path) not in err  # paths are shown from the project root


def test_check_reports_an_invalid_batch_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = make_project(tmp_path, batch={"workers": "two"})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "params/batch.yaml: key 'workers'" in err
    assert "no plan" in out


# -- check: the agency's data ---------------------------------------------------------------------------
def test_check_opens_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _check(_file_project(tmp_path), capsys)
    assert code == 0, err
    assert "SE  file data/SE/firms.csv: 360 rows, 60 firms, 1 instrument ok" in out


def test_check_missing_covariate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = _file_project(tmp_path, _firms().drop(columns="LnAge"),
                          data={"columns": {k: v for k, v in MAPPING.items() if k != "log_age_base"}})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert ("data/SE/firms.csv: column 'log_age_base' (a covariate of alpha in "
            "params/instruments/alpha.yaml, estimator.covariates) is not in the data") in err
    assert "under data.columns in params/countries/SE.yaml (log_age_base: YourColumn)" in err
    assert "0 of 1 instruments ok" in out


def test_render_stops_before_any_notebook_when_the_data_lack_a_covariate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``ipf-eval render`` runs the data checks first: exit 2 and no notebook (the fixture refuses any)."""
    batch = _file_project(tmp_path, _firms().drop(columns="LnAge"),
                          data={"columns": {k: v for k, v in MAPPING.items() if k != "log_age_base"}})
    code = cli.main(["render", "--params", str(batch), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "no notebook was run" in err
    assert "column 'log_age_base' (a covariate of alpha" in err
    assert not FIRM_ID.search(out + err)
    assert not (tmp_path / "reports" / "SE").exists()


def test_check_missing_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = _file_project(tmp_path, instrument={"outcomes": ["log_employment", "log_turnover"]})
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert "column 'log_turnover' (an outcome of alpha in params/instruments/alpha.yaml) is not in" in err
    assert "log_employment" not in err


def test_check_non_numeric_outcome(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms()
    frame["LnEmp"] = frame["LnEmp"].round(3).astype(str).str.replace(".", ",", regex=False)
    frame.loc[frame["FirmNo"] == "FIRM-00042", "LnEmp"] = "n/a"
    code, _, err = _check(_file_project(tmp_path, frame), capsys)
    assert code == 2
    assert "column 'log_employment' (an outcome of alpha" in err
    assert "is not numeric" in err
    assert re.search(r"\d+ of 360 values are not numbers", err)
    assert "read: {decimal: ','}" in err
    assert "n/a" not in err


def test_check_custom_outcome_from_a_text_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms().assign(Scrap="many")
    source = {"source": "file", "path": "data/SE/firms.csv", "columns": dict(MAPPING)}
    batch = make_project(tmp_path, {"SE": ["alpha"]}, country_over={"SE": {
        "data": source,
        "custom_outcomes": {"log_scrap": {"column": "Scrap", "transform": "log1p", "kind": "log",
                                          "label": "Scrap rate", "unit": "scrap per 100 items"}}}})
    write_yaml(tmp_path / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["log_employment", "log_scrap"]))
    path = tmp_path / "data" / "SE" / "firms.csv"
    path.parent.mkdir(parents=True)
    frame.to_csv(path, index=False)
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert "custom_outcomes.log_scrap" in err
    assert "column 'Scrap' is" in err
    assert "not numbers" in err


def test_check_scored_call_needs_score_and_threshold(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    batch = _file_project(tmp_path, instrument={"design": "scored_call"})
    code, _, err = _check(batch, capsys)
    assert code == 2
    for col in ("application_year", "score", "threshold"):
        assert f"column {col!r} (needed by the scored_call design of alpha" in err


def test_check_scored_call_with_an_empty_threshold(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms().assign(CallYear=lambda d: np.where(d["FirstSupport"] > 0, d["FirstSupport"], 0),
                            Score=1.0, Threshold=np.nan, arm=np.nan)
    mapping = {**MAPPING, "application_year": "CallYear", "score": "Score", "threshold": "Threshold"}
    batch = _file_project(tmp_path, frame, data={"columns": mapping}, instrument={"design": "scored_call"})
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert "column 'threshold' (needed by the scored_call design of alpha" in err
    assert "is empty in all 240 applicant rows" in err
    assert "column 'score'" not in err


def test_check_lottery_needs_the_arm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms().assign(CallYear=lambda d: np.where(d["FirstSupport"] > 0, d["FirstSupport"], 0))
    mapping = {**MAPPING, "application_year": "CallYear"}
    batch = _file_project(tmp_path, frame, data={"columns": mapping}, instrument={"design": "lottery"})
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert "column 'arm' (needed by the lottery design of alpha" in err
    assert "column 'application_year' (needed" not in err


def test_check_refuses_a_delivery_trial_on_an_agencys_own_file(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    trial = yaml.safe_load((PROJECT / "params" / "instruments" / "simplified_application.yaml").read_text())
    batch = _file_project(tmp_path, _firms(), data={"columns": MAPPING},
                          instrument={k: v for k, v in trial.items() if k != "name"})
    code, _, err = _check(batch, capsys)
    assert code == 2
    assert "is a delivery trial, which this version runs on the embedded simulated data only" in err


def test_check_applications(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apps = pd.DataFrame({"FirmNo": [f"FIRM-{i:05d}" for i in range(0, 60, 3)], "Call": 2018,
                         "Applied": "2018-02-01", "Decided": "2018-05-01", "Granted": "accepted"})
    columns = {"firm_id": "FirmNo", "call": "Call", "applied": "Applied", "decided": "Decided",
               "granted": "Granted"}
    batch = _file_project(tmp_path, data={"applications": {"path": "data/SE/applications.csv",
                                                           "columns": columns}})
    apps.to_csv(tmp_path / "data" / "SE" / "applications.csv", index=False)
    code, out, err = _check(batch, capsys)
    assert code == 0, err
    assert "360 rows, 60 firms, 20 applications, 1 instrument ok" in out

    apps.drop(columns="Decided").assign(Applied="soon").to_csv(tmp_path / "data" / "SE" / "applications.csv",
                                                              index=False)
    write_yaml(tmp_path / "params" / "countries" / "SE.yaml", {
        **yaml.safe_load((tmp_path / "params" / "countries" / "SE.yaml").read_text()),
        "data": {"source": "file", "path": "data/SE/firms.csv", "columns": MAPPING,
                 "applications": {"path": "data/SE/applications.csv",
                                  "columns": {k: v for k, v in columns.items() if k != "decided"}}}})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "the applications file 'data/SE/applications.csv' lack the column(s) ['decided']" in err
    apps.assign(Applied="soon").to_csv(tmp_path / "data" / "SE" / "applications.csv", index=False)
    write_yaml(tmp_path / "params" / "countries" / "SE.yaml", {
        **yaml.safe_load((tmp_path / "params" / "countries" / "SE.yaml").read_text()),
        "data": {"source": "file", "path": "data/SE/firms.csv", "columns": MAPPING,
                 "applications": {"path": "data/SE/applications.csv", "columns": columns}}})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "20 of 20 values of column 'applied' are not dates; write dates as YYYY-MM-DD" in err


def test_check_unknown_read_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _check(_file_project(tmp_path, data={"read": {"delimiter": ";"}}), capsys)
    assert code == 2
    assert "params/countries/SE.yaml" in err
    assert "delimiter" in err


def test_check_mapping_to_a_column_the_file_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = _file_project(tmp_path, data={"columns": {**MAPPING, "year": "Yr"}})
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "'Yr'" in err
    assert "SE  file data/SE/firms.csv: not opened (1 problem, listed below)" in out


def test_check_missing_data_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = _file_project(tmp_path)
    (tmp_path / "data" / "SE" / "firms.csv").unlink()
    code, out, err = _check(batch, capsys)
    assert code == 2
    assert "firms.csv" in err
    assert "not opened" in out


def test_check_support_timing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms()
    frame.loc[(frame["FirmNo"] == "FIRM-00042") & (frame["Year"] == 2020), "FirstSupport"] = 2020
    code, _, err = _check(_file_project(tmp_path, frame), capsys)
    assert code == 2
    assert "the first year of support varies within fewer than 10 firms" in err


def test_contract_messages_keep_no_firm_identifier(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    frame = _firms()
    frame = pd.concat([frame, frame.loc[frame["FirmNo"].isin(["FIRM-00042", "FIRM-00043"])]])
    code, _, err = _check(_file_project(tmp_path, frame), capsys)
    assert code == 2
    assert "the data break the panel contract for alpha" in err
    assert "duplicate" in err
    assert "FIRM-000" not in err
    assert "the firms and their values are listed in the local log" in err


def test_examples_and_ids_are_withheld() -> None:
    message = ("period column 'year' holds 12 non-integer value(s), e.g. values 2004.5, 2005.5 (ids "
               "'FIRM-00042', 'FIRM-00043' and 10 more); periods must be integer codes")
    text = _publishable(message)
    assert "FIRM-" not in text
    assert "2004.5" not in text
    assert text.startswith("period column 'year' holds 12 non-integer value(s)")
    assert text.endswith("periods must be integer codes")
    assert _publishable("firm ABC-1 broke it", frozenset({"ABC-1"})) == "firm [withheld] broke it"
    assert _publishable("'x' is missing for 2 firms") == "'x' is missing for fewer than 10 firms"
    assert _publishable("12 firms lack it") == "12 firms lack it"
    assert (_publishable("6 rows in 1 firm(s), e.g. firms 'X-1'")
            == "6 rows in fewer than 10 firms, e.g. firms [withheld]")
