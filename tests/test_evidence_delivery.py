"""Reach (take-up, representation) and delivery (decision times, rejections, admin cost), benchmarking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.disclosure import DisclosureProfile
from ipf_eval.errors import DataError, DisclosureWarning, SpecificationError
from ipf_eval.evidence import benchmark_delivery, delivery_indicators, take_up


def _apps() -> pd.DataFrame:
    """Hand-made applications: AT voucher (5 firms), FI voucher (6 firms), NL voucher (2 firms)."""
    rows = []
    fid = 0

    def add(
        country: str, days: list[int | None], accepted: list[bool], amounts: list[float], size: list[str]
    ) -> None:
        nonlocal fid
        for d, a, amt, sz in zip(days, accepted, amounts, size, strict=True):
            rows.append(
                {
                    "firm_id": f"F{fid:04d}",
                    "country": country,
                    "instrument": "voucher",
                    "application_date": pd.Timestamp("2021-01-04"),
                    "decision_date": pd.Timestamp("2021-01-04") + pd.Timedelta(days=d)
                    if d is not None
                    else pd.NaT,
                    "accepted": a,
                    "support_amount": amt,
                    "size_class": sz,
                }
            )
            fid += 1

    add(
        "AT",
        [10, 20, 30, 40, 50],
        [True, True, True, False, False],
        [100.0, 100.0, 100.0, 0.0, 0.0],
        ["micro", "micro", "small", "small", "micro"],
    )
    add(
        "FI",
        [5, 5, 15, 25, 35, None],
        [True, True, True, True, False, False],
        [1000.0, 10.0, 10.0, 10.0, 0.0, 0.0],
        ["micro", "micro", "micro", "medium", "small", "small"],
    )
    add("NL", [7, 9], [True, False], [50.0, 0.0], ["small", "small"])
    return pd.DataFrame(rows)


ADMIN = pd.DataFrame(
    {"country": ["AT", "FI", "NL"], "instrument": ["voucher"] * 3, "admin_cost": [60.0, 51.5, 5.0]}
)


def test_delivery_indicators_hand_values() -> None:
    apps = _apps()
    before = apps.copy()
    with pytest.warns(DisclosureWarning, match="indicators of 2 group\\(s\\) hidden"):
        res = delivery_indicators(apps, admin_costs=ADMIN)
    pd.testing.assert_frame_equal(apps, before)
    t = res.table.set_index("country")
    at = t.loc["AT"]
    assert at["n_applications"] == 5
    assert at["n_supported_firms"] == 3
    assert at["rejection_rate"] == pytest.approx(0.4, abs=1e-12)
    assert at["median_days"] == 30.0
    assert at["p90_days"] == pytest.approx(46.0, abs=1e-12)  # linear interpolation between 40 and 50
    assert at["support_delivered"] == pytest.approx(300.0, abs=1e-12)
    assert at["admin_cost_per_euro"] == pytest.approx(0.2, abs=1e-12)
    assert at["status"] == "published"
    # FI: one pending application is excluded from times and rejections; support dominated by one firm
    fi = t.loc["FI"]
    assert fi["n_pending"] == 1
    assert fi["rejection_rate"] == pytest.approx(0.2, abs=1e-12)
    assert fi["median_days"] == 15.0
    assert np.isnan(fi["support_delivered"])
    assert np.isnan(fi["admin_cost_per_euro"])
    assert fi["rule"] == "dominance"
    # NL: two applicant firms, everything hidden
    nl = t.loc["NL"]
    assert nl["rule"].startswith("threshold")
    assert nl[["n_applications", "median_days", "rejection_rate", "support_delivered"]].isna().all()
    assert any("pending" in n for n in res.notes)
    cells = list(res.audit.to_frame()["cell"])
    assert cells == ["country=FI, instrument=voucher", "country=NL, instrument=voucher"]


def test_benchmark_ranks_and_gaps() -> None:
    apps = _apps()
    with pytest.warns(DisclosureWarning, match="hidden and not ranked"):
        res = benchmark_delivery(apps, admin_costs=ADMIN)
    t: Any = res.table.set_index("country")
    # median days: AT 30, FI 15, NL hidden
    assert t.loc["FI", "rank_median_days"] == 1.0
    assert t.loc["AT", "rank_median_days"] == 2.0
    assert np.isnan(t.loc["NL", "rank_median_days"])
    assert t.loc["AT", "gap_median_days"] == pytest.approx(15.0, abs=1e-12)
    assert t.loc["FI", "gap_median_days"] == 0.0
    assert set(t["best_country_median_days"]) == {"FI"}
    # admin cost per euro: only AT is published
    assert t.loc["AT", "rank_admin_cost_per_euro"] == 1.0
    assert t.loc["AT", "best_country_admin_cost_per_euro"] == "AT"
    assert len(res.table) == 3


def test_benchmark_notes_single_country_and_rejects_unknown_keywords() -> None:
    apps = _apps()
    at = apps[apps["country"] == "AT"]
    res = benchmark_delivery(at)
    assert any("one country only" in n for n in res.notes)
    with pytest.raises(SpecificationError, match=r"benchmark_delivery\(\) got unknown option\(s\) 'amount' "
                       r"\(did you mean 'amount_col'\?\)"):
        benchmark_delivery(apps, amount="support_amount")


def test_take_up_and_representation_with_secondary_suppression() -> None:
    apps = _apps()
    pop = pd.DataFrame({"size_class": ["micro", "small", "medium", "large"], "n": [600, 300, 80, 20]})
    with pytest.warns(DisclosureWarning, match="2 count\\(s\\) of supported firms hidden"):
        res = take_up(apps, population=pop, population_count_col="n")
    t: Any = res.table.set_index("size_class")
    # supported firms: micro 5 (AT 2, FI 3), small 2 (AT 1, NL 1), medium 1 (FI)
    assert t.loc["micro", "n_supported"] == 5
    assert t.loc["medium", "status"] == "primary"
    assert t.loc["small", "status"] == "primary"
    assert np.isnan(t.loc["small", "take_up_rate"])
    assert t.loc["Total", "n_supported"] == 8
    assert t.loc["micro", "take_up_rate"] == pytest.approx(5 / 600, abs=1e-12)
    assert t.loc["micro", "representation_ratio"] == pytest.approx((5 / 8) / (600 / 1000), abs=1e-12)
    # population categories without supported firms appear with zero take-up
    assert t.loc["large", "n_supported"] == 0
    assert t.loc["large", "representation_ratio"] == 0.0
    assert t.loc["Total", "take_up_rate"] == pytest.approx(8 / 1000, abs=1e-12)


def test_take_up_secondary_suppression_protects_against_the_total() -> None:
    pop = pd.DataFrame({"size_class": ["micro", "small", "medium"], "n": [600, 300, 100]})
    two = DisclosureProfile(name="two_firms", min_firms=2)
    with pytest.warns(DisclosureWarning, match="2 count\\(s\\)"):
        res = take_up(_apps(), population=pop, population_count_col="n", profile=two)
    t = res.table.set_index("size_class")
    assert t.loc["medium", "status"] == "primary"  # 1 firm
    assert t.loc["small", "status"] == "secondary"  # otherwise Total - micro - small would reveal medium
    assert t.loc[["micro", "Total"], "n_supported"].tolist() == [5, 8]
    assert list(res.audit.to_frame()["rule"]) == ["threshold", "complementary"]


def test_take_up_with_firm_level_population() -> None:
    apps = _apps()
    pop = pd.DataFrame({"size_class": ["micro"] * 50 + ["small"] * 50})
    res = take_up(apps[apps["size_class"] != "medium"].assign(accepted=True), population=pop)
    t = res.table.set_index("size_class")
    assert t.loc["micro", "n_population"] == 50
    assert t.loc["micro", "n_supported"] == 6
    assert t.loc["micro", "take_up_rate"] == pytest.approx(6 / 50, abs=1e-12)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda a: a.drop(columns=["decision_date"]), "lacks column\\(s\\) \\['decision_date'\\]"),
        (lambda a: a.assign(accepted="yes"), "neither accepted"),
        (lambda a: a.assign(accepted=2.5), "must be boolean, 0/1 or a decision outcome string"),
        (lambda a: a.assign(decision_date=a["application_date"] - pd.Timedelta(days=3)), "before"),
        (lambda a: a.assign(support_amount=-1.0), "negative amounts"),
        (lambda a: a.assign(application_date=pd.NaT), "missing date"),
    ],
)
def test_delivery_bad_input(mutate: Callable[[pd.DataFrame], pd.DataFrame], match: str) -> None:
    with pytest.raises(DataError, match=match):
        delivery_indicators(mutate(_apps()))


def test_take_up_bad_input() -> None:
    pop = pd.DataFrame({"size_class": ["micro"], "n": [-1]})
    with pytest.raises(DataError, match="must hold non-negative counts"):
        take_up(_apps(), population=pop, population_count_col="n")
    with pytest.raises(DataError, match="population lacks column"):
        take_up(_apps(), population=pd.DataFrame({"sector": ["C"]}))
    with pytest.raises(SpecificationError, match="by must name at least one column"):
        take_up(_apps(), population=pop, by=[])
    with pytest.raises(DataError, match="applications must be a pandas DataFrame"):
        take_up([1], population=pop)  # type: ignore[arg-type]


def test_outcome_strings_are_read_as_decisions() -> None:
    apps = _apps()
    as_text = apps.assign(accepted=np.where(apps["accepted"], "Accepted", "rejected"))
    with pytest.warns(DisclosureWarning):
        a = delivery_indicators(apps)
    with pytest.warns(DisclosureWarning):
        b = delivery_indicators(as_text)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_benchmark_on_simulated_delivery_data_matches_direct_computation() -> None:
    import warnings

    from ipf_eval.data.simulate import simulate_firms

    sim = simulate_firms(seed=3, n_firms=4000)
    apps = sim.applications
    admin: Any = sim.calls.groupby(["country", "instrument"], as_index=False)["admin_cost_eur"].sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisclosureWarning)
        res = benchmark_delivery(
            apps, accepted_col="outcome", admin_costs=admin, admin_cost_col="admin_cost_eur"
        )
    t: Any = res.table
    published = t[t["status"] == "published"]
    assert len(published) >= 20
    days = (apps["decision_date"] - apps["application_date"]).dt.days
    direct = apps.assign(days=days).groupby(["country", "instrument"])["days"].median()
    for row in published.itertuples(index=False):
        assert row.median_days == direct.loc[(row.country, row.instrument)]
        paid = apps.loc[
            (apps["country"] == row.country)
            & (apps["instrument"] == row.instrument)
            & (apps["outcome"] == "accepted"),
            "support_amount",
        ].sum()
        assert row.support_delivered == pytest.approx(paid, rel=1e-12)
    # the best country of each instrument has rank 1 and no gap; everyone else a non-negative gap
    best = t[t["rank_median_days"] == 1]
    assert (best["gap_median_days"] == 0).all()
    assert (t["gap_median_days"].dropna() >= 0).all()
    assert t.loc[t["median_days"].isna(), "rank_median_days"].isna().all()
    hidden_cost = t["admin_cost_per_euro"].isna()
    assert t.loc[hidden_cost, "rank_admin_cost_per_euro"].isna().all()
    assert (t.loc[t["status"] != "published", "rule"] != "").all()
