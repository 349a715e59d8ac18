"""Bad input to att_gt and aggregate: typed errors and warnings that name the cohort and period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data.contract import validate_panel
from ipf_eval.did import _drdid
from ipf_eval.did.aggregate import aggregate
from ipf_eval.did.att_gt import att_gt
from ipf_eval.errors import DataError, DataWarning, EstimationError, EstimationWarning, SpecificationError
from ipf_eval.inference.bootstrap import multiplier_draws

COLS: dict[str, Any] = {"yname": "y", "tname": "year", "idname": "firm", "gname": "first"}


def panel(
    cohorts: dict[int, int], years: tuple[int, ...] = (2001, 2002, 2003, 2004), seed: int = 0
) -> pd.DataFrame:
    """Balanced panel with ``cohorts[g]`` firms first supported in ``g`` (0 = never)."""
    rng = np.random.default_rng(seed)
    g = np.concatenate([np.full(n, c) for c, n in cohorts.items()])
    n, t = g.size, len(years)
    year = np.tile(np.asarray(years), n)
    first = np.repeat(g, t)
    x = np.repeat(rng.normal(size=n), t)
    return pd.DataFrame(
        {
            "firm": np.repeat(np.arange(n), t),
            "year": year,
            "first": first,
            "x": x,
            "y": rng.normal(size=n * t) + x + 0.5 * (year >= first) * (first > 0),
            "w": 1.0,
            "cl": np.repeat(np.arange(n) % 4, t),
        }
    )


@pytest.fixture
def data() -> pd.DataFrame:
    return panel({0: 30, 2003: 15, 2004: 15})


# -- options ----------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"control_group": "nevertreated"}, r"control_group=\.\.\.\) must be one of .*'nevertreated'"),
        ({"est_method": "ols"}, r"est_method=.*'ols'"),
        ({"base_period": "fixed"}, r"base_period=.*'fixed'"),
        ({"boot_weights": "normal"}, r"boot_weights=.*'normal'"),
        ({"anticipation": -1}, r"anticipation=.*-1"),
        ({"anticipation": 1.5}, r"anticipation=.*1\.5"),
        ({"n_boot": 1}, r"n_boot=.*at least 2.*1"),
        ({"seed": "a"}, r"seed=.*'a'"),
        ({"alpha": 1.5}, r"alpha of att_gt\(\) must be a number strictly between 0 and 1; got 1\.5"),
        ({"panel": "yes"}, r"panel=.*'yes'"),
        ({"bootstrap": 1}, r"bootstrap=.*1"),
        ({"covariates": "x"}, r"covariates=.*list of column names.*'x'"),
        ({"weights": 3}, r"weights=.*column name.*3"),
        ({"yname": 3}, r"yname=.*column name.*3"),
    ],
)
def test_bad_options(data: pd.DataFrame, kwargs: dict[str, Any], match: str) -> None:
    args = {**COLS, **kwargs}
    with pytest.raises(SpecificationError, match=match):
        att_gt(data, **args)


def test_data_must_be_a_frame() -> None:
    with pytest.raises(SpecificationError, match=r"DataFrame or a ValidatedPanel.*'list'"):
        att_gt([1, 2], **COLS)  # type: ignore[arg-type]


def test_validated_panel_names_must_match(data: pd.DataFrame) -> None:
    vp = validate_panel(data, idname="firm", tname="year", gname="first", ynames="y")
    with pytest.raises(SpecificationError, match=r"idname='x'.*does not match.*'firm'"):
        att_gt(vp, **{**COLS, "idname": "x"})
    with pytest.raises(DataError, match=r"\['x'\] are not in the validated panel"):
        att_gt(vp, **COLS, covariates=["x"])
    res = att_gt(vp, **COLS, bootstrap=False)
    np.testing.assert_allclose(res.att, att_gt(data, **COLS, bootstrap=False).att)
    rc = validate_panel(data, idname="firm", tname="year", gname="first", ynames="y", panel=False)
    with pytest.raises(SpecificationError, match=r"repeated cross-sections"):
        att_gt(rc, **COLS)


def test_time_varying_clusters_are_refused(data: pd.DataFrame) -> None:
    vp_data = data.assign(cl=np.arange(len(data)) % 7)
    vp = validate_panel(vp_data, idname="firm", tname="year", gname="first", ynames="y", clustervars=["cl"])
    with pytest.raises(DataError, match=r"column 'cl' varies within .* firm"):
        att_gt(vp, **COLS, cluster="cl")


def test_negative_weights_in_a_validated_panel(data: pd.DataFrame) -> None:
    vp = validate_panel(data, idname="firm", tname="year", gname="first", ynames="y", extra_columns=["w"])
    object.__setattr__(vp, "data", vp.data.assign(w=-1.0))
    with pytest.raises(DataError, match=r"weights column 'w' must be finite, non-negative"):
        att_gt(vp, **COLS, weights="w")


# -- comparison groups and cohorts ----------
def test_no_never_treated_firms() -> None:
    data = panel({2003: 15, 2004: 15})
    with pytest.raises(EstimationError, match=r"no never-treated firms.*not_yet_treated"):
        att_gt(data, **COLS)
    with pytest.warns(DataWarning, match=r"cohort 2004 serves as the comparison group"):
        res = att_gt(data, **COLS, control_group="not_yet_treated", bootstrap=False)
    assert set(res.group) == {2003}
    assert res.time.max() == 2003


def test_not_yet_treated_without_any_usable_period() -> None:
    # with one period of anticipation cohort 2002 has no pre-period and cohort 2003 becomes the comparison
    # group, leaving only 2001
    data = panel({2002: 10, 2003: 10}, years=(2001, 2002, 2003))
    with (
        pytest.warns(DataWarning, match=r"cohort 2003 serves|dropped 10 firms"),
        pytest.raises(EstimationError, match=r"at least two periods in 'year'; got \[2001\]"),
    ):
        att_gt(data, **COLS, control_group="not_yet_treated", anticipation=1)


def test_cohort_of_one_firm(data: pd.DataFrame) -> None:
    one = pd.concat([data, panel({2002: 1}).assign(firm=999)], ignore_index=True)
    with pytest.warns(DataWarning), pytest.raises(EstimationError, match=r"cohorts \[2002\].*single firm"):
        att_gt(one, **COLS)


def test_small_cohort_warns() -> None:
    data = panel({0: 30, 2003: 3, 2004: 15})
    with pytest.warns(EstimationWarning, match=r"cohorts \[2003\].*fewer than 5"):
        att_gt(data, **COLS, bootstrap=False)


def test_every_firm_supported_in_the_first_period() -> None:
    data = panel({0: 10, 2001: 10})
    with pytest.warns(DataWarning), pytest.raises(DataError, match=r"first period"):
        att_gt(data, **COLS)


def test_first_period_cohort_kept_by_the_validator_is_dropped_here() -> None:
    data = panel({0: 20, 2001: 5, 2003: 10})
    vp = validate_panel(
        data, idname="firm", tname="year", gname="first", ynames="y", already_supported="keep"
    )
    with pytest.warns(DataWarning, match=r"dropped 5 firms of cohorts \[2001\].*first period 2001"):
        res = att_gt(vp, **COLS, bootstrap=False)
    assert set(res.group) == {2003}
    only = validate_panel(
        panel({0: 20, 2001: 5}),
        idname="firm",
        tname="year",
        gname="first",
        ynames="y",
        already_supported="keep",
    )
    with pytest.raises(DataError, match=r"every supported firm was first supported .* \[2001\]"):
        att_gt(only, **COLS)


# -- designs and overlap ----------
def test_covariate_constant_within_cohort_and_controls_is_singular(data: pd.DataFrame) -> None:
    # 'flag' is 1 in cohort 2004 and 0 elsewhere: in ATT(2003, t) it is constant (singular design)
    data = data.assign(flag=(data["first"] == 2004).astype(float))
    with pytest.raises(EstimationError, match=r"singular .*ATT\(g=2003, t=2002\)"):
        att_gt(data, **COLS, covariates=["flag"], est_method="dr")


def test_cohort_indicator_covariate(data: pd.DataFrame) -> None:
    data = data.assign(flag=(data["first"] == 2003).astype(float))
    with pytest.raises(EstimationError, match=r"no overlap for ATT\(g=2003, t=2002\)"):
        att_gt(data, **COLS, covariates=["flag"], est_method="ipw")
    with pytest.raises(EstimationError, match=r"singular among the comparison units .*ATT\(g=2003, t=2002\)"):
        att_gt(data, **COLS, covariates=["flag"], est_method="reg")


def test_trimmed_propensity_scores_warn() -> None:
    # binary covariate: among b = 1, 400 treated firms and one comparison firm (score 400/401 > 0.995)
    data = panel({0: 101, 2003: 420}, years=(2001, 2002, 2003))
    firm_b = np.isin(data["firm"], np.r_[np.arange(101, 501), 0])
    data["b"] = firm_b.astype(float)
    with pytest.warns(EstimationWarning, match=r"1 comparison units .*0\.995.*ATT\(g=2003, t=200[23]\)"):
        att_gt(data, **COLS, covariates=["b"], est_method="dr", bootstrap=False)


def test_few_clusters_warn(data: pd.DataFrame) -> None:
    with pytest.warns(EstimationWarning, match=r"only 4 clusters in 'cl'"):
        res = att_gt(data, **COLS, cluster="cl", n_boot=99, seed=1)
    assert res.n_clusters == 4


def test_nan_outcomes_are_dropped_with_a_warning(data: pd.DataFrame) -> None:
    data = data.copy()
    data.loc[[0, 5], "y"] = np.nan
    with pytest.warns(DataWarning, match=r"2 .*row"):
        res = att_gt(data, **COLS, bootstrap=False)
    assert np.all(np.isfinite(res.att))
    assert res.specification.dropped[0].n_rows == 2


def test_cell_without_comparison_units_is_left_out_with_a_warning() -> None:
    data = panel({0: 10, 2003: 10})
    data = data[~((data["first"] == 0) & (data["year"] == 2004))]
    with pytest.warns(
        EstimationWarning, match=r"ATT\(g=2003, t=2004\).* left out: 10 treated and 0 comparison"
    ):
        res = att_gt(data, **COLS, bootstrap=False)
    assert 2004 not in set(res.time)


def test_nothing_estimable() -> None:
    data = panel({0: 10, 2003: 10})
    data = data[~((data["first"] == 0) & (data["year"] >= 2002))]
    with pytest.warns(EstimationWarning), pytest.raises(EstimationError, match=r"no ATT.*could be estimated"):
        att_gt(data, **COLS)


def test_singular_pretest_warns() -> None:
    data = panel({0: 20, 2003: 10, 2004: 10})
    # both cohorts move identically between 2001 and 2002: their pre-period ATTs have one influence function
    treated = data["first"] > 0
    data.loc[treated & (data["year"] == 2002), "y"] = data.loc[
        treated & (data["year"] == 2001), "y"
    ].to_numpy()
    with pytest.warns(EstimationWarning, match=r"pre-test .* singular"):
        res = att_gt(data, **COLS, bootstrap=False)
    assert res.pretest is None


# -- two-period building blocks ----------
def test_all_comparison_units_trimmed() -> None:
    d = np.r_[np.ones(300), 0.0]
    x, w, dy = np.ones((301, 1)), np.ones(301), np.linspace(0, 1, 301)
    with pytest.raises(EstimationError, match=r"no comparison units carry weight for cell"):
        _drdid.panel_ipw(dy, d, x, w, "cell")


def test_repeated_cross_section_blocks_need_all_four_cells() -> None:
    rng = np.random.default_rng(0)
    n = 40
    y, x, w = rng.normal(size=n), np.ones((n, 1)), np.ones(n)
    d = np.r_[np.ones(10), np.zeros(30)]
    post = np.r_[np.ones(10), (np.arange(30) % 2).astype(float)]  # treated only in period t
    with pytest.raises(EstimationError, match=r"no treated units in the base period for cell"):
        _drdid.rc_dr(y, post, d, x, w, "cell")
    with pytest.raises(EstimationError, match=r"no treated units in the base period carry weight for cell"):
        _drdid.rc_ipw(y, post, d, x, w, "cell")
    with pytest.raises(EstimationError, match=r"no treated units in the base period carry weight for cell"):
        _drdid.rc_reg(y, post, d, x, w, "cell")


def test_multiplier_draws_arguments() -> None:
    inf = np.ones((5, 2))
    with pytest.raises(SpecificationError, match=r"n_boot must be a positive integer; got 0"):
        multiplier_draws(inf, n_boot=0, seed=1)
    with pytest.raises(SpecificationError, match=r"kind must be one of .*'webb'"):
        multiplier_draws(inf, n_boot=10, seed=1, kind="webb")


# -- aggregate ----------
def test_aggregate_arguments(data: pd.DataFrame) -> None:
    res = att_gt(data, **COLS, bootstrap=False)
    with pytest.raises(SpecificationError, match=r"result of att_gt; got 'str'"):
        aggregate("res")  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"kind=\.\.\.\) must be one of .*'event'"):
        aggregate(res, kind="event")
    with pytest.raises(SpecificationError, match=r"max_e=.*integer; got 1\.5"):
        aggregate(res, kind="dynamic", max_e=1.5)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"kind='dynamic' only.*kind='group'"):
        aggregate(res, kind="group", min_e=0)
    with pytest.raises(SpecificationError, match=r"min_e=2 is larger than max_e=1"):
        aggregate(res, kind="dynamic", min_e=2, max_e=1)
    with pytest.raises(EstimationError, match=r"no post-support ATT.*e <= -1"):
        aggregate(res, kind="simple", max_e=-1)
    with pytest.raises(EstimationError, match=r"no post-support ATT.*e <= -1"):
        aggregate(res, kind="group", max_e=-1)
    with pytest.raises(EstimationError, match=r"no event times in \[5, 6\]"):
        aggregate(res, kind="dynamic", min_e=5, max_e=6)
    with pytest.raises(EstimationError, match=r"no event time e >= 0 in \[-2, -1\]"):
        aggregate(res, kind="dynamic", min_e=-2, max_e=-1)


def test_aggregate_windows(data: pd.DataFrame) -> None:
    res = att_gt(data, **COLS, bootstrap=False)
    dyn = aggregate(res, kind="dynamic", min_e=-1, max_e=0)
    assert dyn.labels.tolist() == [-1, 0]
    bal = aggregate(res, kind="dynamic", balance_e=1)
    # only cohort 2003 is observed one period after support: the event study follows it alone
    assert bal.labels.tolist() == [-1, 0, 1]
    np.testing.assert_allclose(bal.estimates[-1], res.att[(res.group == 2003) & (res.time == 2004)])
