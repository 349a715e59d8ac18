"""Planning a delivery trial in words (issue 19): the MDE in points, power, balance, registering the plan.

* The MDE in percentage points is the plan's MDE in standard deviations times sqrt(p(1-p)), and the power
  table gives the target power at that effect (a second code path through ``power``).
* ``register_plan`` writes Markdown, HTML and JSON holding the plan's fingerprints and no firm identifier;
  ``save_assignment`` writes the canonical CSV whose SHA-256 is the registered one, and refuses the reports.
* The simulated call's take-up equals a count by hand.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipf_eval.data import simulate_firms
from ipf_eval.data.delivery_trial import call_take_up, call_years, trial_population
from ipf_eval.errors import DisclosureWarning, SpecificationError
from ipf_eval.experiments import design_trial
from ipf_eval.pipeline import trial_report


def _firms(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"firm_id": [f"FIRM-{i:05d}" for i in range(n)],
                         "size_class": rng.choice(["micro", "small", "medium"], n, p=[0.6, 0.3, 0.1]),
                         "log_employment_base": rng.normal(1.5, 0.8, n),
                         "applied_before": rng.integers(0, 2, n)})


@pytest.fixture(scope="module")
def design() -> object:
    return design_trial(_firms(), idname="firm_id", strata="size_class", arms=("control", "simplified_form"),
                        seed=5, yname="completed", covariates=["log_employment_base", "applied_before"],
                        rerandomise=20, max_smd=0.1, title="Simplified <form> & co")


def test_the_mde_in_points_is_the_plan_mde_times_the_binomial_sd(design: object) -> None:
    p = 0.06
    text = trial_report.mde_sentence(design, base_rate=p, outcome_label="completed applications")
    n = 400
    closed = (stats.norm.isf(0.025) + stats.norm.isf(0.2)) * math.sqrt(p * (1 - p) / (0.25 * n))
    assert f"detect a change of {100 * closed:.1f} percentage points or more in completed applications" \
        in text
    assert "(base rate 6.0 %) with 80 % probability, at the 5 % level" in text
    assert text.startswith("With 200 firms in the control arm and 200 firms in the simplified form arm")


def test_the_power_table_reaches_the_target_at_the_mde(design: object) -> None:
    p = 0.06
    mde = design.plan.mde[0] * math.sqrt(p * (1 - p))  # type: ignore[attr-defined]
    table = trial_report.power_table(design, base_rate=p, effects=[mde, 2 * mde]).frame
    assert table["power"].iloc[0] == "80 %"
    assert int(table["power"].iloc[1].split()[0]) > 95
    assert table["effect"].iloc[0].endswith("percentage points")


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5])
def test_a_base_rate_must_be_a_share(design: object, rate: float) -> None:
    with pytest.raises(SpecificationError, match="base_rate must be a share strictly between 0 and 1"):
        trial_report.mde_sentence(design, base_rate=rate, outcome_label="x")


def test_a_design_with_a_baseline_needs_no_base_rate() -> None:
    d = design_trial(_firms(), idname="firm_id", seed=1, yname="employment", baseline="log_employment_base")
    with pytest.raises(SpecificationError, match="already in units of its baseline outcome"):
        trial_report.mde_sentence(d, base_rate=0.1, outcome_label="x")


def test_balance_table_in_words(design: object) -> None:
    table = trial_report.balance_table(design)
    assert list(table.frame.columns) == ["baseline characteristic", "arm", "firms", "mean",
                                         "difference from control", "standardised difference"]
    assert set(table.frame["baseline characteristic"]) == {"log employment base", "applied before"}
    assert "re-randomised until every standardised difference was at most 0.1" in table.source


def test_register_plan_writes_the_plan_and_no_firm_identifier(design: object, tmp_path: Path) -> None:
    out = trial_report.register_plan(design, out_dir=tmp_path / "plans", name="DK-simplified_form")
    plan = design.plan  # type: ignore[attr-defined]
    assert out.plan_sha256 == plan.sha256
    assert json.loads(out.json.read_text())["sha256"] == plan.sha256
    page = out.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "Simplified &lt;form&gt; &amp; co" in page
    assert "<form>" not in page
    for path in (out.markdown, out.html, out.json):
        assert "FIRM-" not in path.read_text()
    assert sorted(p.name for p in (tmp_path / "plans").iterdir()) == [
        "DK-simplified_form.html", "DK-simplified_form.json", "DK-simplified_form.md"]  # no temporary file
    assert "data-banner" not in page  # an agency's own plan
    demo = trial_report.register_plan(design, out_dir=tmp_path / "demo", name="x", data_source="simulated")
    assert "id='data-banner'" in demo.html.read_text()
    assert demo.markdown.read_text().startswith("> SIMULATED DATA.")
    assert demo.plan_sha256 == out.plan_sha256
    with pytest.raises(SpecificationError, match="plain file name"):
        trial_report.register_plan(design, out_dir=tmp_path, name="../escape")
    with pytest.raises(SpecificationError, match="data_source must be 'file' or 'simulated'"):
        trial_report.register_plan(design, out_dir=tmp_path, name="y", data_source="web")


def test_save_assignment_is_the_registered_canonical_csv(design: object, tmp_path: Path) -> None:
    path = trial_report.save_assignment(design, tmp_path / "data" / "DK" / "assignment.csv")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == design.plan.assignment_sha256  # type: ignore[attr-defined]
    reports = tmp_path / "reports"
    with pytest.raises(SpecificationError, match="lies inside the reports folder"):
        trial_report.save_assignment(design, reports / "trial_plans" / "a.csv", reports_dir=reports)
    assert not reports.exists()


def test_the_population_table_is_disclosure_protected() -> None:
    firms = _firms(60).assign(size_class=["micro"] * 58 + ["medium"] * 2)  # the profile's threshold is 3
    with pytest.warns(DisclosureWarning, match="1 cell"):
        table = trial_report.population_table(firms, profile="statistical_office").frame
    medium = table.loc[table["size_class"] == "medium"].iloc[0]
    assert medium["status"] != "published"
    assert pd.isna(medium["n_firms"])
    assert not (table["n_firms"].astype(str) == "58").any()  # nor recoverable from the total


def test_call_take_up_counts_the_call_applicants_among_its_eligible_firms() -> None:
    sim = simulate_firms(seed=3, n_firms=8000)
    years = call_years(sim, country="DK", instrument="innovation_voucher")
    assert list(years) == sorted(years)
    assert len(years) >= 2
    assert call_years(sim, country="DK", instrument="no_such") == ()
    year = years[-2]
    firms = trial_population(sim, country="DK", instrument="innovation_voucher", call_year=year)
    apps = sim.applications
    applied = set(apps.loc[(apps["country"] == "DK") & (apps["instrument"] == "innovation_voucher")
                           & (apps["call_year"] == year), "firm_id"])
    by_hand = sum(f in applied for f in firms["firm_id"]) / len(firms)
    assert call_take_up(sim, country="DK", instrument="innovation_voucher", call_year=year) == by_hand
    assert 0 < by_hand < 0.5
