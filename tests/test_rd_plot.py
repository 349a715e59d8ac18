"""rd_plot_data(): rdplot pass-through, a known jump, disclosure-safe bins, errors, the plot, determinism."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ipf_eval.data import simulate_firms
from ipf_eval.disclosure import check_figure_data
from ipf_eval.discontinuity import RdPlotData, rd_plot_data
from ipf_eval.errors import (
    DataError,
    DataWarning,
    DisclosureError,
    DisclosureWarning,
    EstimationError,
    EstimationWarning,
    SpecificationError,
)
from ipf_eval.evidence.design_estimators import applicant_cross_section

matplotlib.use("Agg")
pytest.importorskip("rdrobust")

BIN_COLUMNS = ["side", "mean_score", "mean_y", "n_firms", "ci_low", "ci_high"]
SCORED: dict[str, Any] = {"yname": "change", "scorename": "score", "cutoff": "threshold",
                          "call": "application_year"}
KNOWN: dict[str, Any] = {"yname": "y", "scorename": "score", "cutoff": "threshold", "call": "call"}


@functools.cache
def _scored_call() -> pd.DataFrame:
    """About 2,500 applicants of the simulated Austrian scored R&D grant, four calls, thresholds 61-62.5."""
    sim = simulate_firms(seed=3, n_firms=30000, countries=["AT"], instruments=["rd_grant"])
    return applicant_cross_section(sim.evaluation_sample("AT", "rd_grant"), outcome="log_employment")


@pytest.fixture
def scored_call() -> pd.DataFrame:
    return _scored_call().copy()


def _known_jump(n: int = 2000, seed: int = 11) -> pd.DataFrame:
    """y = 1 + 0.5 x + 2 (x >= 0) + noise, x the score minus its call's threshold (two calls)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    call = rng.integers(0, 2, n)
    threshold = np.where(call == 0, 60.0, 55.5)
    z = rng.normal(0, 1, n)
    return pd.DataFrame({
        "firm_id": np.arange(n), "call": call, "threshold": threshold, "score": threshold + 10 * x,
        "z": z, "y": 1 + 0.5 * x + 2 * (x >= 0) + rng.normal(0, 0.5, n),
        "y_z": 1 + 0.5 * x + 2 * (x >= 0) + 1.0 * z + rng.normal(0, 0.5, n),
    })


def _sparse_tails(seed: int = 5) -> pd.DataFrame:
    """800 firms within 1 point of the threshold 50, 7 stragglers 4-6 points away in 5 tiny outer bins."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-1, 1, 800), [-6.0, -5.8, -5.1, -3.9], [4.2, 5.5, 6.0]])
    return pd.DataFrame({"score": 50 + x, "y": 0.3 * x + (x >= 0) + rng.normal(0, 0.2, x.size)})


def test_bins_and_curve_are_rdplots_own(scored_call: pd.DataFrame) -> None:
    from rdrobust import rdplot

    with pytest.warns(DisclosureWarning, match=r"bins held fewer than 10 firms"):
        res = rd_plot_data(scored_call, **SCORED)
    x = (scored_call["score"] - scored_call["threshold"]).to_numpy()
    direct = rdplot(scored_call["change"].to_numpy(), x, hide=True)
    vb = direct.vars_bins
    kept = vb.loc[vb["rdplot_N"] >= 10].reset_index(drop=True)
    assert list(res.bins.columns) == BIN_COLUMNS
    np.testing.assert_array_equal(res.bins["mean_score"], kept["rdplot_mean_x"])
    np.testing.assert_array_equal(res.bins["mean_y"], kept["rdplot_mean_y"])
    np.testing.assert_array_equal(res.bins["n_firms"], kept["rdplot_N"])
    np.testing.assert_array_equal(res.bins["ci_low"], kept["rdplot_ci_l"])
    np.testing.assert_array_equal(res.bins["ci_high"], kept["rdplot_ci_r"])
    assert (res.bins["side"] == np.where(kept["rdplot_mean_x"] < 0, "below", "above")).all()
    assert res.n_bins == tuple(direct.J)
    assert res.n_bins_dropped == int((vb["rdplot_N"] < 10).sum())
    assert res.n_firms_dropped == int(vb.loc[vb["rdplot_N"] < 10, "rdplot_N"].sum())
    poly = direct.vars_poly
    assert res.fitted_at_threshold("below") == poly["rdplot_y"].iloc[499]
    assert res.fitted_at_threshold("above") == poly["rdplot_y"].iloc[500]
    assert res.jump == pytest.approx(direct.coef["Right"].iloc[0] - direct.coef["Left"].iloc[0], abs=1e-12)
    for side, sel in (("below", slice(0, 500)), ("above", slice(500, 1000))):
        c = res.curve.loc[res.curve["side"] == side]
        ref = np.interp(c["score"], poly["rdplot_x"].iloc[sel], poly["rdplot_y"].iloc[sel])
        np.testing.assert_allclose(c["fitted"], ref, atol=1e-6)  # the same polynomial, on another grid
    assert res.specification.n_units == len(scored_call)


def test_known_jump_is_recovered() -> None:
    data = _known_jump()
    res = rd_plot_data(data, **KNOWN, binselect="qsmv", idname="firm_id")
    assert res.jump == pytest.approx(2.0, abs=0.3)  # quartic boundary values: sd of the jump about 0.1
    assert res.fitted_at_threshold("below") == pytest.approx(1.0, abs=0.2)
    lin = rd_plot_data(data, **KNOWN, p=1, binselect="qsmv")
    assert lin.jump == pytest.approx(2.0, abs=0.1)  # the linear fit is the true model (sd about 0.045)
    assert res.n_bins_dropped == 0
    assert (res.bins.loc[res.bins["side"] == "below", "mean_y"] < 1.6).all()
    assert (res.bins.loc[res.bins["side"] == "above", "mean_y"] > 2.4).all()


def test_covariates_adjust_the_fit_and_keep_the_jump() -> None:
    data = _known_jump()
    res = rd_plot_data(data, **{**KNOWN, "yname": "y_z"}, covariates=["z"], p=1, binselect="qsmv")
    assert res.jump == pytest.approx(2.0, abs=0.15)
    assert list(res.specification.arguments["covariates"]) == ["z"]


def test_numeric_cutoff_equals_the_centred_column() -> None:
    data = _known_jump()
    data["x"] = data["score"] - data["threshold"]
    a = rd_plot_data(data, yname="y", scorename="x", cutoff=0)
    b = rd_plot_data(data, **KNOWN)
    pd.testing.assert_frame_equal(a.bins, b.bins, rtol=1e-10, atol=1e-12)
    assert a.jump == pytest.approx(b.jump, abs=1e-10)


def test_small_bins_are_dropped_and_counted() -> None:
    data = _sparse_tails()
    with pytest.warns(DisclosureWarning, match=r"held fewer than 10 firms \(7 firms in all\)"):
        res = rd_plot_data(data, yname="y", scorename="score", cutoff=50, nbins=12, p=1)
    x = data["score"].to_numpy() - 50
    below = np.histogram(x[x < 0], np.linspace(x.min(), 0, 13))[0]
    above = np.histogram(x[x >= 0], np.linspace(0, x.max(), 13))[0]
    counts = np.concatenate([below, above])
    small = (counts > 0) & (counts < 10)
    assert (res.bins["n_firms"] >= 10).all()
    assert res.n_bins_dropped == int(small.sum()) == 5
    assert res.n_firms_dropped == int(counts[small].sum()) == 7
    assert res.bins["n_firms"].sum() + res.n_firms_dropped == len(data)
    assert res.min_firms == 10
    assert res.notes[-1].startswith("5 of ")
    # no published value belongs to a single firm: the curve stops at the outermost published mean score
    assert res.curve["score"].min() == res.bins["mean_score"].min() > x.min() + 4
    assert res.curve["score"].max() == res.bins["mean_score"].max() < x.max() - 4
    protected = check_figure_data(res.to_frame(), count_col="n_firms", profile="research_data_centre")
    assert (protected.table["status"] == "published").all()


def test_min_firms_one_keeps_every_bin_but_no_zero_width_interval() -> None:
    data = _sparse_tails()
    res = rd_plot_data(data, yname="y", scorename="score", cutoff=50, nbins=12, p=1, min_firms=1)
    assert res.n_bins_dropped == res.n_firms_dropped == 0
    ones = res.bins["n_firms"] == 1
    assert ones.sum() == 3  # the stragglers at -5.1, -3.9 and 4.2
    assert res.bins.loc[ones, ["ci_low", "ci_high"]].isna().all().all()


def test_callers_frame_is_not_modified(scored_call: pd.DataFrame) -> None:
    data = _known_jump()
    data.index = np.repeat(np.arange(len(data) // 2), 2)  # duplicated labels must not confuse the rows
    before = data.copy()
    res = rd_plot_data(data, **KNOWN, binselect="qsmv")
    pd.testing.assert_frame_equal(data, before)
    ref = rd_plot_data(data.reset_index(drop=True), **KNOWN, binselect="qsmv")
    pd.testing.assert_frame_equal(res.bins, ref.bins)
    scored_before = scored_call.copy()
    with pytest.warns(DisclosureWarning):
        rd_plot_data(scored_call, **SCORED)
    pd.testing.assert_frame_equal(scored_call, scored_before)


def test_same_input_same_output(scored_call: pd.DataFrame) -> None:
    kw = {**SCORED, "binselect": "qsmv"}
    a, b = rd_plot_data(scored_call, **kw), rd_plot_data(scored_call, **kw)
    pd.testing.assert_frame_equal(a.bins, b.bins, check_exact=True)
    pd.testing.assert_frame_equal(a.curve, b.curve, check_exact=True)
    assert a.to_dict() == b.to_dict()
    assert a.alt_text() == b.alt_text()


def test_plot_and_alt_text(scored_call: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plot() must not call plt.show()"))
    res = rd_plot_data(scored_call, **SCORED, binselect="qsmv")
    fig, ax = plt.subplots()
    try:
        out = res.plot(ax=ax, ylabel="Change in log employment", title="R&D grant")
        assert out is ax
        assert len(ax.lines) == 3  # the fit below, the fit above, the dashed threshold
        assert ax.lines[2].get_linestyle() == "--"
        np.testing.assert_array_equal(ax.lines[2].get_xdata(), [0, 0])
        assert len(ax.collections) == 1
        dots = ax.collections[0]
        assert len(dots.get_offsets()) == len(res.bins)
        assert len(np.unique(dots.get_sizes())) == 1  # uniform dots, not sized by the counts
        assert ax.get_xlabel() == "Score relative to the threshold"
        assert ax.get_ylabel() == "Change in log employment"
        assert ax.get_title() == "R&D grant"
    finally:
        plt.close(fig)
    ax2 = res.plot()
    assert ax2.get_ylabel() == "change"
    assert ax2.get_title() == ""
    plt.close(ax2.figure)
    text = res.alt_text(label="the change in log employment")
    assert text.startswith("Binned means of the change in log employment against the score relative")
    assert "fourth-order polynomial fit on each side" in text
    assert f"by {abs(res.jump):.3g} at the threshold." in text
    assert text.count(".") == 1 + f"{abs(res.jump):.3g}".count(".")  # one sentence
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.min_firms = 1  # type: ignore[misc]
    assert isinstance(res, RdPlotData)
    pd.testing.assert_frame_equal(res.to_frame(), res.bins)
    assert res.to_frame() is not res.bins
    assert "bins dropped" in str(res)


def test_alt_text_mentions_dropped_bins_and_a_fall() -> None:
    data = _sparse_tails()
    data["y"] = -data["y"]
    with pytest.warns(DisclosureWarning):
        res = rd_plot_data(data, yname="y", scorename="score", cutoff=50, nbins=12, p=1)
    text = res.alt_text()
    assert "(5 bins with fewer than 10 firms are not shown)" in text
    assert "first-order polynomial" in text
    assert "the fit falls by" in text


def test_missing_outcomes_are_dropped_with_a_warning() -> None:
    data = _known_jump()
    data.loc[:4, "y"] = np.nan
    with pytest.warns(DataWarning, match=r"dropped 5 of 2000 rows with missing values in \['y'\]"):
        res = rd_plot_data(data, **KNOWN, binselect="qsmv")
    assert res.specification.n_obs == 1995
    assert res.specification.dropped[-1].n_rows == 5


def test_mass_points_are_reported() -> None:
    data = _known_jump()
    data["score"] = data["score"].round()
    with pytest.warns(EstimationWarning, match="Mass points detected"):
        res = rd_plot_data(data, yname="y", scorename="score", cutoff=60, min_firms=1)
    assert any("Mass points" in n for n in res.notes)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_firms": 0}, r"`min_firms` must be a positive integer .* got 0"),
        ({"min_firms": True}, r"`min_firms` must be a positive integer .* got True"),
        ({"nbins": 0}, r"`nbins` must be None .* got 0"),
        ({"nbins": (5,)}, r"`nbins` must be None .* got \(5,\)"),
        ({"nbins": 2.5}, r"`nbins` must be None .* got 2.5"),
        ({"p": 7}, r"`p` must be an integer from 0 to 6 .* got 7"),
        ({"binselect": "evenly"}, r"`binselect` must be one of .* got 'evenly'"),
        ({"alpha": 1.5}, r"alpha"),
        ({"cutoff": 99.0}, r"threshold 99.0 in call .* is outside the range of 'score'"),
        ({"cutoff": True}, r"`cutoff` must be a number or the name of a threshold column"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, Any], match: str) -> None:
    kw = {**KNOWN, **kwargs}
    with pytest.raises(SpecificationError, match=match):
        rd_plot_data(_known_jump(), **kw)


def test_bad_data_raise() -> None:
    data = _known_jump()
    kw: dict[str, Any] = dict(KNOWN)
    with pytest.raises(DataError, match=r"`data` must be a pandas DataFrame; got 'dict'"):
        rd_plot_data(data.to_dict(), **kw)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"column\(s\) \['sales'\] not found"):
        rd_plot_data(data, **{**kw, "yname": "sales"})
    with pytest.raises(DataError, match=r"column\(s\) \['age'\] not found"):
        rd_plot_data(data, **kw, covariates=["age"])
    with pytest.raises(DataError, match=r"outcome 'y' must be numeric; got dtype"):
        rd_plot_data(data.assign(y=data["y"].astype(str)), **kw)
    with pytest.raises(DataError, match=r"covariate 'z' must be numeric"):
        rd_plot_data(data.assign(z="a"), **kw, covariates=["z"])
    with pytest.raises(DataError, match=r"score 'score' must be numeric"):
        rd_plot_data(data.assign(score=data["score"].astype(str)), **kw)
    with pytest.raises(DataError, match=r"1 rows have infinite values in \['y'\]"):
        rd_plot_data(data.assign(y=data["y"].where(data.index != 3, np.inf)), **kw)
    with pytest.raises(DataError, match=r"2 rows repeat a firm in 'firm_id' \(e.g. \[0, 1\]\)"):
        rd_plot_data(data.assign(firm_id=np.r_[0, 1, 0, 1, 4:len(data)]), **kw, idname="firm_id")
    with pytest.raises(DataError, match=r"the threshold 'threshold' takes 2 values in call .*0"):
        rd_plot_data(data.assign(call=0), **kw)


def test_disclosure_and_estimation_failures_raise() -> None:
    rng = np.random.default_rng(2)
    few_above = pd.DataFrame({"score": np.r_[rng.uniform(-1, 0, 200), [0.1, 0.3, 0.5, 0.7]],
                              "y": rng.normal(size=204)})
    with pytest.raises(DisclosureError, match=r"only 4 firms above the threshold, fewer than `min_firms`=10"):
        rd_plot_data(few_above, yname="y", scorename="score", cutoff=0)
    with pytest.raises(EstimationError, match=r"4 firms above the threshold; a polynomial of order 4 needs"):
        rd_plot_data(few_above, yname="y", scorename="score", cutoff=0, min_firms=3)
    with pytest.raises(DisclosureError, match=r"no bin below the threshold holds 150 firms"), \
            pytest.warns(DisclosureWarning):
            rd_plot_data(_known_jump(), **KNOWN, min_firms=150, nbins=10)
    tiny = pd.DataFrame({"score": np.linspace(-1, 1, 15), "y": rng.normal(size=15)})
    with pytest.raises(EstimationError, match=r"rdplot failed .*Not enough observations"):
        rd_plot_data(tiny, yname="y", scorename="score", cutoff=0.01, min_firms=1, p=1)
