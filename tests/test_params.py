"""Parameter files: YAML 1.1 traps, the pydantic schema, path confinement, notebook parameter checks."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import nbformat
import pytest
import yaml
from _pipeline_helpers import FIXTURES, country_yaml, instrument_yaml, make_project, write_yaml

from ipf_eval._params_io import validate_model
from ipf_eval.errors import ParameterError
from ipf_eval.pipeline.params import (
    CountryParams,
    StrictSafeLoader,
    check_notebook_parameters,
    check_plain,
    load_batch_file,
    load_country_file,
    load_instrument_file,
    load_yaml,
    notebook_parameter_names,
    resolve_confined,
)
from ipf_eval.pipeline.plan import build_plan, parse_only
from ipf_eval.pipeline.settings import batch_settings

PROJECT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------- YAML loader
def test_yaml_1_1_traps_stay_strings() -> None:
    text = ("a: NO\nb: 012\nc: on\nd: off\ne: yes\nf: 2024-01-31\ng: 1_000\nh: 0x1F\ni: y\n"
            "t: true\nu: false\nv: 12\nw: -3\nx: 1.5\ny: 1e3\nz: ~\n")
    data = yaml.load(text, Loader=StrictSafeLoader)
    assert data == {"a": "NO", "b": "012", "c": "on", "d": "off", "e": "yes", "f": "2024-01-31",
                    "g": "1_000", "h": "0x1F", "i": "y", "t": True, "u": False, "v": 12, "w": -3,
                    "x": 1.5, "y": 1000.0, "z": None}
    # the plain safe_load falls into every trap; this is what the loader protects against
    plain = yaml.safe_load(text)
    assert plain["a"] is False
    assert plain["b"] == 10
    assert plain["c"] is True


def test_loader_does_not_change_pyyaml_safeloader() -> None:
    assert yaml.safe_load("a: NO")["a"] is False  # the global SafeLoader is untouched
    assert yaml.load("a: NO", Loader=StrictSafeLoader)["a"] == "NO"


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "x.yaml"
    f.write_text("workers: 2\nworkers: 3\n")
    with pytest.raises(ParameterError, match=r"duplicate key 'workers'"):
        load_yaml(f)


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("countries: [AT\n")
    with pytest.raises(ParameterError, match=r"bad\.yaml.*not valid YAML"):
        load_yaml(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"cannot read the parameter file"):
        load_yaml(tmp_path / "nope.yaml")


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    f = tmp_path / "list.yaml"
    f.write_text("- AT\n- NO\n")
    with pytest.raises(ParameterError, match=r"mapping of keys to values.*got list"):
        load_yaml(f)


# --------------------------------------------------------------------------------------------- country files
def test_unquoted_norway_loads(tmp_path: Path) -> None:
    f = tmp_path / "NO.yaml"
    f.write_text("code: NO\nname: Norway\nagency: Innovation Norway\ndata: {source: simulated}\n"
                 "instruments: [rd_grant]\n")
    params = load_country_file(f)
    assert params.code == "NO"
    assert params.data.source == "simulated"
    assert params.data.n_firms == 30_000


def test_boolean_country_code_asks_for_quotes() -> None:
    data = country_yaml("NO", ["rd_grant"])
    data["code"] = False  # what yaml.safe_load makes of an unquoted NO
    with pytest.raises(ParameterError, match=r"key 'code'.*got False.*put the value in quotes"):
        validate_model(CountryParams, data, "NO.yaml")


def test_octal_region_trap_number_instead_of_text() -> None:
    data = country_yaml("AT", ["rd_grant"], name=10)
    with pytest.raises(ParameterError, match=r"key 'name'.*got 10.*quotes"):
        validate_model(CountryParams, data, "AT.yaml")


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "AT.yaml", {**country_yaml("AT", ["rd_grant"]), "disclosure": "x"})
    with pytest.raises(ParameterError, match=r"AT\.yaml.*key 'disclosure'.*remove the key"):
        load_country_file(f)


def test_missing_key(tmp_path: Path) -> None:
    data = country_yaml("AT", ["rd_grant"])
    del data["agency"]
    f = write_yaml(tmp_path / "AT.yaml", data)
    with pytest.raises(ParameterError, match=r"key 'agency'.*add the key"):
        load_country_file(f)


def test_lowercase_code_rejected(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "at.yaml", country_yaml("at", ["rd_grant"]))
    with pytest.raises(ParameterError, match=r"key 'code'.*two upper-case letters"):
        load_country_file(f)


def test_code_must_match_file_name(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "DK.yaml", country_yaml("AT", ["rd_grant"]))
    with pytest.raises(ParameterError, match=r"'code' is 'AT' but the file is named 'DK\.yaml'"):
        load_country_file(f)


def test_string_number_rejected(tmp_path: Path) -> None:
    f = tmp_path / "AT.yaml"
    f.write_text("code: AT\nname: Austria\nagency: FFG\ndata: {source: simulated, n_firms: 030000}\n"
                 "instruments: [rd_grant]\n")
    with pytest.raises(ParameterError, match=r"key 'data\.n_firms'.*'030000'.*plain number"):
        load_country_file(f)


def test_unknown_data_source(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "AT.yaml", country_yaml("AT", ["x"], data={"source": "sql"}))
    with pytest.raises(ParameterError, match=r"key 'data'.*'sql'"):
        load_country_file(f)


def test_duplicate_instruments(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "AT.yaml", country_yaml("AT", ["rd_grant", "rd_grant"]))
    with pytest.raises(ParameterError, match=r"instruments \['rd_grant'\] are listed more than once"):
        load_country_file(f)


def test_unknown_disclosure_profile(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "AT.yaml", country_yaml("AT", ["x"], disclosure_profile="lenient"))
    with pytest.raises(ParameterError, match=r"disclosure_profile.*'lenient'.*allowed values"):
        load_country_file(f)


# --------------------------------------------------------------------------------------------- instruments
def test_instrument_defaults(tmp_path: Path) -> None:
    from ipf_eval._defaults import CONTROL_GROUP, N_BOOT
    from ipf_eval.did.att_gt import att_gt

    inst = load_instrument_file(write_yaml(tmp_path / "alpha.yaml", instrument_yaml("alpha")))
    # one place for defaults: the instrument file's and att_gt's are the same
    assert inst.estimator.control_group == CONTROL_GROUP == inspect.signature(att_gt).parameters[
        "control_group"].default
    assert inst.estimator.n_boot == N_BOOT == inspect.signature(att_gt).parameters["n_boot"].default
    assert inst.estimator.bootstrap is False
    assert inst.costs.admin_cost_per_firm == 0.0


def test_instrument_name_matches_file(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "beta.yaml", instrument_yaml("alpha"))
    with pytest.raises(ParameterError, match=r"'name' is 'alpha' but the file is named 'beta\.yaml'"):
        load_instrument_file(f)


def test_unknown_outcome(tmp_path: Path) -> None:
    """An outcome must be standard or defined under custom_outcomes of the instrument or country file; the
    batch is refused with both files named and a close match for a misspelt name."""
    batch = make_project(tmp_path, {"AT": ["alpha"]}, notebooks=False)
    write_yaml(tmp_path / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["log_employmnet"]))
    with pytest.raises(ParameterError, match=r"alpha\.yaml.*AT\.yaml.*outcome 'log_employmnet'.*did you mean "
                                             r"'log_employment'"):
        batch_settings(batch)
    write_yaml(tmp_path / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["happiness"]))
    with pytest.raises(ParameterError, match=r"'happiness' is neither a standard outcome"):
        batch_settings(batch)
    # defined in the country file: accepted, and resolved with the country's definition
    over = {"custom_outcomes": {"happiness": {"column": "Smiles", "kind": "level", "label": "happiness",
                                              "unit": "smiles"}}}
    batch = make_project(tmp_path / "own", {"AT": ["alpha"]}, country_over={"AT": over}, notebooks=False)
    write_yaml(tmp_path / "own" / "params" / "instruments" / "alpha.yaml",
               instrument_yaml("alpha", outcomes=["happiness"]))
    spec = batch_settings(batch).outcome_specs("AT", "alpha")["happiness"]
    assert (spec.column, spec.kind, spec.unit, spec.standard) == ("Smiles", "level", "smiles", False)


def test_primary_outcome_must_be_evaluated(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "alpha.yaml", instrument_yaml("alpha", primary_outcome="log_turnover"))
    with pytest.raises(ParameterError, match=r"primary_outcome 'log_turnover' is not in outcomes"):
        load_instrument_file(f)


def test_bool_must_be_bool(tmp_path: Path) -> None:
    f = tmp_path / "alpha.yaml"
    f.write_text("name: alpha\nlabel: A\ndesign: open_call\noutcomes: [alive]\nestimator: {bootstrap: yes}\n"
                 "costs: {programme_cost_per_firm: 5}\n")
    with pytest.raises(ParameterError, match=r"estimator\.bootstrap.*'yes'.*write true or false"):
        load_instrument_file(f)


def test_negative_cost(tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "alpha.yaml", instrument_yaml("alpha", costs={"programme_cost_per_firm": -1}))
    with pytest.raises(ParameterError, match=r"costs\.programme_cost_per_firm.*greater than 0"):
        load_instrument_file(f)


def test_country_cost_override(tmp_path: Path) -> None:
    # NO overrides alpha's administrative cost only; AT keeps the instrument file's costs
    batch = make_project(tmp_path, {"NO": ["alpha", "beta"], "AT": ["alpha"]},
                         country_over={"NO": {"costs": {"alpha": {"admin_cost_per_firm": 250.0}}}})
    from ipf_eval.evidence.parameters import programme_costs
    from ipf_eval.pipeline import instrument_run

    def costs(run: str) -> tuple[float, float]:
        code, name = run.split("/")
        r = instrument_run(batch, country=code, instrument=name)
        used = programme_costs(r.instrument, r.costs)
        return used.programme_cost_per_firm, used.admin_cost_per_firm

    assert costs("NO/alpha") == (1000.0, 250.0)
    assert costs("NO/beta") == (1000.0, 0.0)
    assert costs("AT/alpha") == (1000.0, 0.0)
    write_yaml(tmp_path / "params" / "countries" / "NO.yaml",
               country_yaml("NO", ["alpha", "beta"], costs={"beta": {"programme_cost_per_firm": 40.5}}))
    assert costs("NO/beta") == (40.5, 0.0)
    assert costs("NO/alpha") == (1000.0, 0.0)


@pytest.mark.parametrize(("costs", "message"), [
    ({"gamma": {"programme_cost_per_firm": 5.0}},
     r"costs are given for \['gamma'\], which this country does not run"),
    ({"alpha": {}}, r"costs\.alpha.*the override sets no cost"),
    ({"alpha": {"programme_cost_per_firm": 0}}, r"costs\.alpha\.programme_cost_per_firm.*greater than 0"),
    ({"alpha": {"subsidy": 5}}, r"costs\.alpha\.subsidy.*remove the key or fix its spelling"),
])
def test_country_cost_override_rejects(tmp_path: Path, costs: dict[str, object], message: str) -> None:
    f = write_yaml(tmp_path / "NO.yaml", country_yaml("NO", ["alpha"], costs=costs))
    with pytest.raises(ParameterError, match=message):
        load_country_file(f)


# --------------------------------------------------------------------------------------------- batch
def test_batch_defaults(tmp_path: Path) -> None:
    f = tmp_path / "batch.yaml"
    f.write_text("countries: [AT, NO]\n")
    batch = load_batch_file(f)
    assert batch.countries == ["AT", "NO"]
    assert (batch.workers, batch.output_dir, batch.synthesis) == (2, "reports", True)


def test_batch_duplicate_countries(tmp_path: Path) -> None:
    f = tmp_path / "batch.yaml"
    f.write_text("countries: [AT, AT]\n")
    with pytest.raises(ParameterError, match=r"countries \['AT'\] are listed more than once"):
        load_batch_file(f)


def test_batch_workers_range(tmp_path: Path) -> None:
    f = tmp_path / "batch.yaml"
    f.write_text("countries: [AT]\nworkers: -1\n")
    with pytest.raises(ParameterError, match=r"key 'workers'.*greater than or equal to 0"):
        load_batch_file(f)


def test_committed_defaults_validate() -> None:
    params = PROJECT / "params"
    batch = load_batch_file(params / "batch.yaml")
    assert batch.countries == ["AT", "DK", "ES", "FI", "NO", "PL"]
    names = set()
    for code in batch.countries:
        country = load_country_file(params / "countries" / f"{code}.yaml")
        assert country.data.source == "simulated"
        names.update(country.instruments)
    assert len(names) == 7  # six instruments and Denmark's delivery trial
    for name in names:
        load_instrument_file(params / "instruments" / f"{name}.yaml")


# --------------------------------------------------------------------------------------------- paths
def test_paths_confined(tmp_path: Path) -> None:
    root = tmp_path / "project"
    data = tmp_path / "register"
    (root / "data").mkdir(parents=True)
    data.mkdir()
    assert resolve_confined("data/x.csv", root=root, allowed=[], file="f", key="k") == root / "data" / "x.csv"
    inside = resolve_confined(str(data / "y.csv"), root=root, allowed=[data], file="f", key="k")
    assert inside == data / "y.csv"
    with pytest.raises(ParameterError, match=r"key 'data\.path' is '\.\./\.\./etc/passwd'.*outside"):
        resolve_confined("../../etc/passwd", root=root, allowed=[data], file="f", key="data.path")
    with pytest.raises(ParameterError, match=r"outside the project.*data_dirs"):
        resolve_confined("/etc/passwd", root=root, allowed=[data], file="f", key="data.path")


def test_symlink_escape_rejected(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ParameterError, match=r"outside the project"):
        resolve_confined("link/secret.csv", root=root, allowed=[], file="f", key="data.path")


# ----------------------------------------------------------------------------------------- notebook params
def test_check_plain() -> None:
    check_plain({"a": [1, 2.0, "x", None, True, {"b": []}]}, where="p")
    with pytest.raises(ParameterError, match=r"parameter 'p\[0\]' is a PosixPath"):
        check_plain([Path("/x")], where="p")
    with pytest.raises(ParameterError, match=r"parameter 'p' is NaN"):
        check_plain(math.nan, where="p")
    with pytest.raises(ParameterError, match=r"non-string key 1"):
        check_plain({1: "a"}, where="p")


def test_notebook_parameter_names() -> None:
    names = notebook_parameter_names(FIXTURES / "country_report.ipynb")
    assert "evidence_dir" in names
    assert "country" in names


def test_unknown_notebook_parameter_rejected() -> None:
    nb = FIXTURES / "michigan_training_grants.ipynb"
    assert check_notebook_parameters(nb, {"params": "p.yaml"}) == {"params": "p.yaml"}
    with pytest.raises(ParameterError, match=r"parameters \['__import__'\] are not defined.*'params'"):
        check_notebook_parameters(nb, {"params": "p.yaml", "__import__": "os"})


def test_parameters_cell_required(tmp_path: Path) -> None:
    nb = nbformat.read(str(FIXTURES / "getting_started.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}))
    path = tmp_path / "two.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ParameterError, match=r"has 2 cells tagged 'parameters'; exactly one"):
        notebook_parameter_names(path)
    (tmp_path / "junk.ipynb").write_text("not json")
    with pytest.raises(ParameterError, match=r"cannot read notebook"):
        notebook_parameter_names(tmp_path / "junk.ipynb")


# --------------------------------------------------------------------------------------------- plan
def test_build_plan(tmp_path: Path) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha", "beta"], "AT": ["alpha"]},
                         batch={"case_studies": ["getting_started"]})
    plan = build_plan(batch)
    ids = [r.run_id for r in plan.runs]
    assert ids == ["NO/alpha", "NO/beta", "AT/alpha", "NO", "AT", "synthesis", "forum/alpha", "forum/beta",
                   "getting_started"]
    run = plan.runs[0]
    # the notebook gets names and the batch file; it reads every other setting from the same files
    assert run.parameters == {"country": "NO", "instrument": "alpha", "params": str(batch.resolve()),
                              "evidence_path": str(run.evidence), "created": ""}
    assert run.param_files == (batch.resolve(), tmp_path / "params" / "countries" / "NO.yaml",
                               tmp_path / "params" / "instruments" / "alpha.yaml")
    assert run.html == tmp_path / "reports" / "NO" / "alpha.html"
    assert run.evidence == tmp_path / "reports" / "_runs" / "evidence" / "NO__alpha.json"
    assert plan.selected == frozenset(ids)


def test_only(tmp_path: Path) -> None:
    plan = build_plan(make_project(tmp_path, {"NO": ["alpha", "beta"], "AT": ["alpha"]}), only="NO/beta")
    # the synthesis and the instruments' forum pages pool every country, so they are re-run with any subset
    forum = {"synthesis", "forum/alpha", "forum/beta"}
    assert plan.selected == {"NO/beta", "NO", *forum}
    plan = build_plan(tmp_path / "params" / "batch.yaml", only="AT")
    assert plan.selected == {"AT/alpha", "AT", *forum}
    with pytest.raises(ParameterError, match=r"country 'SE', which is not in 'countries'"):
        build_plan(tmp_path / "params" / "batch.yaml", only="SE")
    with pytest.raises(ParameterError, match=r"instrument 'beta', which country 'AT' does not run"):
        build_plan(tmp_path / "params" / "batch.yaml", only="AT/beta")


@pytest.mark.parametrize("only", ["no", "NO/", "NO/x/y", "NOR", "NO/Beta"])
def test_parse_only_rejects(only: str) -> None:
    with pytest.raises(ParameterError, match=r"is not COUNTRY or COUNTRY/INSTRUMENT"):
        parse_only(only)


def test_batch_instrument_filter(tmp_path: Path) -> None:
    plan = build_plan(make_project(tmp_path, {"NO": ["alpha", "beta"]}, batch={"instruments": ["beta"]}))
    assert [r.run_id for r in plan.runs if r.kind == "instrument"] == ["NO/beta"]


def test_file_source_confined(tmp_path: Path) -> None:
    over = {"NO": {"data": {"source": "file", "path": "../outside.csv", "columns": {"firm_id": "orgnr"}}}}
    with pytest.raises(ParameterError, match=r"NO\.yaml.*key 'data\.path'.*outside"):
        build_plan(make_project(tmp_path / "p", {"NO": ["alpha"]}, country_over=over))


def test_file_source_parameters(tmp_path: Path) -> None:
    over = {"NO": {"data": {"source": "file", "path": "data/no.csv", "columns": {"firm_id": "orgnr"}}}}
    plan = build_plan(make_project(tmp_path, {"NO": ["alpha"]}, country_over=over))
    from ipf_eval.pipeline import instrument_run

    assert plan.runs[0].data_files == (tmp_path / "data" / "no.csv",)
    run = instrument_run(plan.batch_file, country="NO", instrument="alpha")
    assert run.data_path == tmp_path / "data" / "no.csv"
    assert dict(run.country.data.columns) == {"firm_id": "orgnr"}


def test_output_dir_confined(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"key 'output_dir' is '\.\./elsewhere'"):
        build_plan(make_project(tmp_path, batch={"output_dir": "../elsewhere"}))


def test_missing_country_file(tmp_path: Path) -> None:
    batch = make_project(tmp_path)
    write_yaml(batch, {"countries": ["AT", "SE"]})
    with pytest.raises(ParameterError, match=r"SE\.yaml.*cannot read"):
        build_plan(batch)


def test_missing_notebook(tmp_path: Path) -> None:
    batch = make_project(tmp_path)
    (tmp_path / "notebooks" / "synthesis.ipynb").unlink()
    with pytest.raises(ParameterError, match=r"synthesis\.ipynb.*does not exist"):
        build_plan(batch)


def test_notebook_without_parameter_rejected_before_running(tmp_path: Path) -> None:
    batch = make_project(tmp_path)
    nb_path = tmp_path / "notebooks" / "country_report.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace('evidence_dir = "evidence"', "")
    nbformat.write(nb, str(nb_path))
    with pytest.raises(ParameterError, match=r"parameters \['evidence_dir'\] are not defined"):
        build_plan(batch)
