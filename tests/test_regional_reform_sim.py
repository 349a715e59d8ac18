"""The simulated regional reform: shape, determinism, the known effect, and bad options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipf_eval.data.regional_reform import simulate_regional_reform
from ipf_eval.errors import SpecificationError


def test_panel_shape_and_reform_indicator() -> None:
    sim = simulate_regional_reform(seed=3)
    p = sim.panel
    assert len(p) == 6 * 8 * 13
    assert p.groupby("region")["year"].nunique().eq(13).all()
    treated = p.loc[p["reform"] == 1]
    assert set(treated["region"]) == set(sim.treated_regions)
    assert treated["year"].min() == sim.reform_year == 2016
    assert all(r.startswith("DK") for r in sim.treated_regions)
    assert (p["n_smes"] > 1000).all()


def test_deterministic_and_seed_dependent() -> None:
    a, b = simulate_regional_reform(seed=5), simulate_regional_reform(seed=5)
    pd.testing.assert_frame_equal(a.panel, b.panel)
    assert not simulate_regional_reform(seed=6).panel["outcome"].equals(a.panel["outcome"])


def test_true_effect_is_what_the_outcome_carries() -> None:
    """Without noise and factors, the treated regions' outcome jumps by exactly the stated effect."""
    kwargs = {"seed": 2, "noise_sd": 0.0, "n_factors": 0}
    sim = simulate_regional_reform(effect_first_year=2.0, effect_last_year=8.0, **kwargs)
    none = simulate_regional_reform(effect_first_year=0.0, effect_last_year=0.0, **kwargs)
    gap = (sim.panel["outcome"] - none.panel["outcome"]).to_numpy()
    post = sim.panel["reform"].to_numpy() == 1
    np.testing.assert_allclose(gap[~post], 0.0, atol=1e-6)
    per_year = pd.Series(gap[post]).groupby(sim.panel.loc[post, "year"].to_numpy()).mean()
    np.testing.assert_allclose(per_year.to_numpy(), sim.true_effect["effect"].to_numpy(), atol=1e-5)
    assert sim.true_effect["effect"].iloc[0] == 2.0
    assert sim.true_effect["effect"].iloc[-1] == 8.0
    assert sim.true_att == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"reform_country": "SE"}, "reform_country"),
        ({"n_treated": 8}, "n_treated"),
        ({"reform_year": 2009}, "reform_year"),
        ({"regions_per_country": 1}, "regions_per_country"),
        ({"noise_sd": -1.0}, "noise_sd"),
    ],
)
def test_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(SpecificationError, match=match):
        simulate_regional_reform(seed=1, **options)
