"""An agency evaluates its own data, from ``ipf-eval init`` to a rendered report (issue 14's "done when").

The data are real: the Michigan training grants panel (Holzer, Block, Cheatham and Knott 1993, shipped with
linearmodels, a test dependency), written the way a continental register extract comes: semicolon-separated,
decimal commas and thousands points, Latin-1 with umlauts in the column names, firm identifiers as text
(``FIRM-00042``), the agency's own column names, no ``size_class``, and outcomes the standard list does not
have (employment in jobs, log sales).  ``ipf-eval init``, editing, ``ipf-eval check`` (exit 0) and
``ipf-eval render --only SE`` give an instrument report and evidence rows with ``data_source == "file"``,
and no rendered page carries a firm identifier.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ipf_eval.data import michigan_training_grants
from ipf_eval.pipeline.cli import main

PROJECT = Path(__file__).resolve().parents[1]

#: The file's columns (German register names, Latin-1) for the contract's and the agency's own columns.
COLUMNS = {"firm_id": "Betrieb", "year": "Jahr", "first_support_year": "ErsteFörderung"}
OWN = {"Beschäftigte": "employment", "Umsatz": "sales"}


def _register_extract(path: Path) -> pd.DataFrame:
    """Write the Michigan panel as a register extract; return the panel as the evaluation should read it."""
    data = michigan_training_grants()
    complete = data.groupby("firm_id")[["employment", "sales"]].transform(lambda s: s.notna().all())
    data = data.loc[complete.all(axis=1)].reset_index(drop=True)
    ids = {f: f"FIRM-{i:05d}" for i, f in enumerate(sorted(data["firm_id"].unique()), start=1)}
    out = pd.DataFrame({"Betrieb": data["firm_id"].map(ids), "Jahr": data["year"],
                        "ErsteFörderung": data["first_support_year"], "Beschäftigte": data["employment"],
                        "Umsatz": data["sales"]})
    text = out.to_csv(sep=";", index=False, decimal=",", float_format="%.2f")
    # thousands points in the sales figures, as a German spreadsheet writes them
    lines = text.splitlines()
    body = []
    for line in lines[1:]:
        cells = line.split(";")
        whole, _, cents = cells[4].partition(",")
        cells[4] = f"{int(whole):,}".replace(",", ".") + ("," + cents if cents else "")
        body.append(";".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join([lines[0], *body]) + "\n").encode("latin-1"))
    return out


@pytest.mark.slow
def test_init_check_render_on_a_register_extract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params"
    (params / "countries").mkdir(parents=True)
    (params / "instruments").mkdir()
    shutil.copytree(PROJECT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns("*.py", "evidence", ".ipynb_checkpoints"))
    (params / "instruments" / "training_grant.yaml").write_text(yaml.safe_dump({
        "name": "training_grant", "label": "Training grants", "design": "open_call",
        "outcomes": ["employment", "log_sales"], "primary_outcome": "employment",
        "custom_outcomes": {"log_sales": {"column": "Umsatz", "transform": "log", "kind": "log",
                                          "label": "sales"}},
        "estimator": {"control_group": "never_treated", "est_method": "reg", "base_period": "universal",
                      "covariates": [], "bootstrap": False},
        "costs": {"programme_cost_per_firm": 20000, "admin_cost_per_firm": 1500}}))
    (params / "batch.yaml").write_text(yaml.safe_dump({
        "countries": [], "output_dir": "reports", "data_dirs": ["data"], "workers": 0, "timeout": 300,
        "seed": 7, "synthesis": False, "case_studies": []}))

    # 1. init writes the commented country file and the data folder
    assert main(["init", "SE", "--params", str(params)]) == 0
    country_file = params / "countries" / "SE.yaml"
    assert country_file.is_file()
    assert (tmp_path / "data" / "SE").is_dir()
    expected = _register_extract(tmp_path / "data" / "SE" / "firms.csv")

    # 2. the analyst edits it: the file, how to read it, which column is which, the agency's own outcome
    country = yaml.safe_load(country_file.read_text(encoding="utf-8"))
    country.update(name="Sweden", agency="Tillväxtverket", instruments=["training_grant"],
                   context="A register extract.")
    country.pop("costs", None)
    country["data"] = {"source": "file", "path": "data/SE/firms.csv", "format": "csv",
                       "read": {"sep": ";", "decimal": ",", "thousands": ".", "encoding": "latin-1"},
                       "columns": COLUMNS}
    country["custom_outcomes"] = {"employment": {"column": "Beschäftigte", "kind": "level",
                                                 "label": "employment", "unit": "jobs"}}
    country_file.write_text(yaml.safe_dump(country, allow_unicode=True), encoding="utf-8")
    batch = yaml.safe_load((params / "batch.yaml").read_text())
    batch["countries"] = ["SE"]
    (params / "batch.yaml").write_text(yaml.safe_dump(batch))
    capsys.readouterr()

    # 3. check opens the data and finds nothing wrong
    code = main(["check", "--params", str(params / "batch.yaml")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "SE" in out
    assert "1 instrument ok" in out or "1 of 1" in out

    # 4. render the country
    code = main(["render", "--params", str(params / "batch.yaml"), "--only", "SE", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    reports = tmp_path / "reports"
    page = (reports / "SE" / "training_grant.html").read_text(encoding="utf-8")
    assert "id='summary'" in page or 'id="summary"' in page
    assert "jobs" in page  # the agency's own level outcome, in its unit
    evidence = pd.read_csv(reports / "evidence.csv")
    assert len(evidence)
    assert set(evidence["data_source"]) == {"file"}
    assert set(evidence["outcome"]) == {"employment", "log_sales"}
    assert set(evidence.loc[evidence["outcome"] == "employment", "outcome_unit"]) == {"jobs"}
    assert int(evidence["n_firms"].iloc[0]) == expected["Betrieb"].nunique()
    # no banner (real data), and no firm identifier on any rendered page
    ids = set(expected["Betrieb"])
    for html in reports.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert "data-banner" not in text
        assert not any(i in text for i in ids), f"{html.name} names a firm"
    assert np.isfinite(evidence["estimate"]).all()
