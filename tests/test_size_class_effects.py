"""Effects by size class with the design's own estimator (ipf_eval.evidence.heterogeneity).

* Each size class is analysed as the whole sample is: the same numbers as calling ``rct`` / ``rdd`` on the
  size class's applicants (a second code path).
* Known effects that differ by size class are recovered (simulated cross-sections).
* A size class with too few applicants on a side is not estimated, with the reason; no size column, no
  design estimator and an outcome the design did not estimate each say so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipf_eval.discontinuity import rdd
from ipf_eval.evidence.design_estimators import RDD_VCE, DesignEstimates
from ipf_eval.evidence.heterogeneity import MIN_SUPPORTED_FIRMS, SIZE_CLASSES, design_size_class_effects
from ipf_eval.experiments import rct

EFFECT = {"micro": 1.0, "small": 3.0, "medium": -2.0}


def _lottery(n: int = 1200, seed: int = 3, medium: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    size = rng.choice(["micro", "small", "medium"], size=n, p=[0.5, 0.3, 0.2])
    if medium is not None:  # keep only `medium` medium firms
        idx = np.flatnonzero(size == "medium")
        size[idx[medium:]] = "small"
    arm = rng.integers(0, 2, size=n)
    used = arm * (rng.random(n) < 0.8)
    effect = np.array([EFFECT[s] for s in size])
    change = rng.normal(0.0, 1.0, size=n) + effect * used
    cross = pd.DataFrame({"firm_id": np.arange(1, n + 1), "arm": arm, "score": 0.0, "threshold": 0.0,
                          "application_year": 2020, "used": used, "change": change})
    panel = pd.DataFrame({"firm_id": np.repeat(cross["firm_id"], 2), "year": np.tile([2019, 2020], n),
                          "size_class": np.repeat(size, 2)})
    return cross, panel


def _design(estimator: str, cross: pd.DataFrame) -> DesignEstimates:
    return DesignEstimates(estimator, pd.DataFrame(), len(cross), cross_sections={"y": cross})


def test_lottery_size_classes_are_rct_on_each_size_class() -> None:
    cross, panel = _lottery()
    out = design_size_class_effects(_design("rct", cross), panel, terms={"y": "late"}, seed=1, alpha=0.05)
    effects = out["y"]
    assert [e.size_class for e in effects] == list(SIZE_CLASSES)
    sizes = panel.groupby("firm_id")["size_class"].first()
    for e in effects:
        sub = cross.loc[cross["firm_id"].map(sizes) == e.size_class].reset_index(drop=True)
        direct = rct(sub, yname="change", treatname="arm", takeup="used", n_permutations=0,
                     seed=1).to_frame().set_index("term").loc["late"]
        assert (e.estimator, e.term) == ("rct", "late")
        assert e.estimate == pytest.approx(direct["estimate"], rel=1e-12)
        assert e.std_error == pytest.approx(direct["std_error"], rel=1e-12)
        # the known effect on users of each size class, within four standard errors
        assert abs(e.estimate - EFFECT[e.size_class]) < 4 * e.std_error
    assert effects[1].estimate > effects[0].estimate > effects[2].estimate


def test_a_thin_size_class_is_not_estimated() -> None:
    cross, panel = _lottery(medium=2 * MIN_SUPPORTED_FIRMS - 10)
    medium = design_size_class_effects(_design("rct", cross), panel, terms={"y": "late"}, seed=1,
                                       alpha=0.05)["y"][2]
    assert not medium.estimated
    assert "fewer than 20 applicants on a side" in medium.note


def test_scored_call_size_classes_are_rdd_on_each_size_class() -> None:
    rng = np.random.default_rng(11)
    n = 3000
    size = rng.choice(["micro", "small", "medium"], size=n, p=[0.45, 0.35, 0.2])
    score = rng.uniform(-1.0, 1.0, size=n)
    used = (score >= 0).astype(int)
    change = 0.5 * score + np.array([EFFECT[s] for s in size]) * used + rng.normal(0.0, 0.5, size=n)
    cross = pd.DataFrame({"firm_id": np.arange(n), "arm": used, "score": score, "threshold": 0.0,
                          "application_year": 2021, "used": used, "change": change})
    panel = pd.DataFrame({"firm_id": cross["firm_id"], "size_class": size})
    effects = design_size_class_effects(_design("rdd", cross), panel, terms={"y": "robust"}, seed=1,
                                        alpha=0.05)["y"]
    for e in effects:
        sub = cross.loc[size[cross["firm_id"]] == e.size_class].reset_index(drop=True)
        direct = rdd(sub, yname="change", scorename="score", cutoff="threshold", takeup="used",
                     call="application_year", vce=RDD_VCE, density=False,
                     sensitivity=()).to_frame().set_index("term").loc["robust"]
        assert e.estimate == pytest.approx(direct["estimate"], rel=1e-12)
        assert abs(e.estimate - EFFECT[e.size_class]) < 4 * e.std_error


def test_what_cannot_be_estimated_says_why() -> None:
    cross, panel = _lottery(n=300)
    no_size = design_size_class_effects(_design("rct", cross), panel.drop(columns="size_class"),
                                        terms={"y": "late"}, seed=1, alpha=0.05)["y"]
    assert all(not e.estimated and "no 'size_class' column" in e.note for e in no_size)
    none = design_size_class_effects(_design("", cross), panel, terms={"y": "late"}, seed=1, alpha=0.05)["y"]
    assert all("no design estimator" in e.note for e in none)
    other = design_size_class_effects(_design("rct", cross), panel, terms={"z": "late"}, seed=1,
                                      alpha=0.05)["z"]
    assert all("did not run for this outcome" in e.note for e in other)
