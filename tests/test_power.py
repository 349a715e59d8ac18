"""power(): MDE, required sample and power, cross-checked against statsmodels.stats.power.

ipf_eval uses the normal approximation (Bloom 1995). ``NormalIndPower`` uses the same approximation, so
achieved power agrees to rounding; its ``solve_power`` is a numerical root-finder (tolerance ~1e-6
relative), hence rtol 1e-4 for solved quantities. ``TTestIndPower`` uses the noncentral t: its MDE is
larger by about z/t-quantile differences, well under 1 % at n = 400 (checked at rtol 5e-3) and shrinking
with n.
"""

from __future__ import annotations

import json
import math

import matplotlib
import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from ipf_eval.errors import SpecificationError
from ipf_eval.experiments import power

matplotlib.use("Agg")


@pytest.mark.parametrize(("n", "share"), [(400, 0.5), (400, 0.3), (2000, 0.5), (150, 0.6)])
def test_mde_against_normal_power(n, share):
    res = power(n=n, treat_share=share)
    n1 = n * share
    ref = NormalIndPower().solve_power(effect_size=None, nobs1=n1, ratio=(n - n1) / n1, alpha=0.05, power=0.8)
    assert res.solved_for == "effect"
    assert res.effect == pytest.approx(ref, rel=1e-4)
    # closed form (Bloom 1995)
    m = 1.959963984540054 + 0.8416212335729143
    assert res.effect == pytest.approx(m * math.sqrt(1 / (share * (1 - share) * n)), rel=1e-12)


@pytest.mark.parametrize("effect", [0.1, 0.25, 0.5])
def test_achieved_power_and_required_n_against_normal_power(effect):
    res = power(effect=effect, n=500)
    ref = NormalIndPower().power(effect_size=effect, nobs1=250, alpha=0.05, ratio=1.0)
    assert res.power == pytest.approx(ref, rel=1e-10)
    req = power(effect=effect)
    n_ref = 2 * NormalIndPower().solve_power(effect_size=effect, nobs1=None, ratio=1.0, alpha=0.05, power=0.8)
    assert req.n == math.ceil(n_ref - 1e-6)
    assert power(effect=effect, n=req.n).power >= 0.8
    assert power(effect=effect, n=req.n - 1).power < 0.8


def test_t_test_power_close_at_moderate_n():
    res = power(n=400)
    ref = TTestIndPower().solve_power(effect_size=None, nobs1=200, ratio=1.0, alpha=0.05, power=0.8)
    assert res.effect == pytest.approx(ref, rel=5e-3)
    assert res.effect < ref  # the normal approximation is slightly optimistic


def test_takeup_r2_cluster_scaling():
    base = power(n=1000).effect
    assert power(n=1000, takeup=0.5).effect == pytest.approx(2 * base, rel=1e-12)
    assert power(n=1000, r2=0.36).effect == pytest.approx(0.8 * base, rel=1e-12)
    assert power(n=1000, outcome_sd=3.0).effect == pytest.approx(3 * base, rel=1e-12)
    cl = power(n=1000, cluster_size=20, icc=0.05)
    assert cl.design_effect == pytest.approx(1 + 19 * 0.05)
    assert cl.effect == pytest.approx(base * math.sqrt(1.95), rel=1e-12)
    assert cl.n_clusters == 50
    req = power(effect=0.3, cluster_size=20, icc=0.05)
    assert req.n % 20 == 0
    assert power(effect=0.3, n=req.n, cluster_size=20, icc=0.05).power >= 0.8
    assert power(effect=0.3, n=req.n - 20, cluster_size=20, icc=0.05).power < 0.8


def test_result_api():
    res = power(n=800, takeup=0.8)
    frame = res.to_frame()
    assert frame.loc[0, "term"] == "power:effect"
    assert frame.loc[0, "estimate"] == res.effect
    assert "Bloom" in res.summary().as_text()
    json.dumps(res.to_dict())
    ax = res.plot()
    assert ax.get_xlabel() == "firms in the trial"
    ys = ax.get_lines()[0].get_ydata()
    assert np.all(np.diff(ys) >= 0)  # power increases with n


def test_bad_input():
    with pytest.raises(SpecificationError, match=r"give `n` .* `effect` .* or both .*; got neither"):
        power()
    with pytest.raises(SpecificationError, match=r"`takeup` must be a number in \(0, 1\]; got 0"):
        power(n=100, takeup=0)
    with pytest.raises(SpecificationError, match=r"`r2` must be a number in \[0, 1\); got 1\.0"):
        power(n=100, r2=1.0)
    with pytest.raises(SpecificationError, match=r"`icc` must be a number in \[0, 1\]; got -0\.1"):
        power(n=100, icc=-0.1)
    with pytest.raises(SpecificationError, match=r"alpha of power\(\) must be a number strictly .*; got 0"):
        power(n=100, alpha=0)
    with pytest.raises(SpecificationError, match=r"`treat_share` must be a number in \(0, 1\); got 1"):
        power(n=100, treat_share=1)
    with pytest.raises(SpecificationError, match=r"`cluster_size` must be a positive integer; got 2\.5"):
        power(n=100, cluster_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(SpecificationError, match=r"`outcome_sd` must be a positive number; got -1"):
        power(n=100, outcome_sd=-1)
    with pytest.raises(SpecificationError, match=r"`n` must be a positive number or None; got -5"):
        power(n=-5)
    with pytest.raises(SpecificationError, match=r"`n`=30 gives fewer than 2 clusters of size 20"):
        power(n=30, cluster_size=20)
    with pytest.raises(SpecificationError, match=r"`n`=30 gives fewer than 2 clusters of size 20"):
        power(n=30, effect=0.2, cluster_size=20)
    with pytest.raises(SpecificationError, match=r"`power` must be a number in \(0, 1\); got 1\.2"):
        power(n=100, power=1.2)
    with pytest.raises(SpecificationError, match=r"`power`=0\.01 must exceed alpha/2 = 0\.025"):
        power(n=100, power=0.01)
