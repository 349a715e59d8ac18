"""What explains the differences between countries (issue 16): meta-regression in the forum's synthesis.

* Known truth: countries' effects built to grow with their share of micro firms; the slope per 10
  percentage points is recovered, and equals a direct ``meta_regression`` on the hand-scaled moderator (a
  second code path, itself validated against R metafor in ``tests/test_meta_regression.py``).
* The rules: too few countries, a characteristic that is the same everywhere, one missing for a country,
  the design when it varies, the exploratory flag.
* The section in words and units, and the sentence comparing what was found with what chance would give.
* Bad input raises typed errors; the inputs are not modified.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipf_eval.errors import DataError, SpecificationError
from ipf_eval.pipeline import explain_report
from ipf_eval.pipeline.display import Table, Text
from ipf_eval.synthesis import explain
from ipf_eval.synthesis.meta_regression import meta_regression

COUNTRIES = ("AT", "BE", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "IE", "IT", "NL")


def kept_rows(effects: dict[str, float], *, se: float = 0.01, instrument: str = "voucher",
              outcome: str = "log_turnover", grades: dict[str, int] | None = None,
              designs: dict[str, str] | None = None) -> pd.DataFrame:
    """Headline estimates as ``select_families(...).kept`` has them (the columns explain uses)."""
    rows = [{"country": c, "instrument": instrument, "outcome": outcome, "estimate": e, "std_error": se,
             "design": (designs or {}).get(c, "lottery"), "family": "rct late",
             "grade": (grades or {}).get(c, 4)} for c, e in effects.items()]
    return pd.DataFrame(rows)


def mix_rows(micro: dict[str, float], *, instrument: str = "voucher") -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for c, m in micro.items():
        rest = 1.0 - m
        rows += [{"country": c, "instrument": instrument, "size_class": "micro", "share": m},
                 {"country": c, "instrument": instrument, "size_class": "small", "share": 0.7 * rest},
                 {"country": c, "instrument": instrument, "size_class": "medium", "share": 0.3 * rest}]
    return pd.DataFrame(rows)


def _linear(countries: tuple[str, ...], slope_per_share: float,
            noise: float = 0.0) -> tuple[dict[str, float], dict[str, float]]:
    rng = np.random.default_rng(7)
    micro = dict(zip(countries, np.linspace(0.55, 0.85, len(countries)), strict=True))
    eff = {c: 0.01 + slope_per_share * m + noise * float(rng.standard_normal()) for c, m in micro.items()}
    return eff, micro


def _row(table: pd.DataFrame, moderator: str) -> pd.Series:
    return table.loc[table["moderator"] == moderator].iloc[0]


def test_a_known_slope_per_ten_points_of_micro_firms_is_recovered() -> None:
    eff, micro = _linear(COUNTRIES, 0.3)  # 0.3 log points per unit share = 0.03 per 10 points
    kept, mix = kept_rows(eff, se=0.002), mix_rows(micro)
    out = explain.explain_differences(kept, mix, moderators=["micro_share"])
    row = _row(out.table, "micro_share")
    assert row["status"] == "fitted"
    assert row["slope"] == pytest.approx(0.03, abs=1e-9)  # no noise: the line exactly
    assert not row["exploratory"]  # 12 countries for one characteristic
    assert row["df_resid"] == len(COUNTRIES) - 2


def test_the_slope_equals_a_direct_meta_regression_on_the_scaled_share() -> None:
    eff, micro = _linear(COUNTRIES[:7], 0.4, noise=0.02)
    kept, mix = kept_rows(eff, se=0.015), mix_rows(micro)
    out = explain.explain_differences(kept, mix, moderators=["micro_share"])
    direct = meta_regression(kept.assign(micro=kept["country"].map(micro) * 10), moderators="micro",
                             knapp_hartung=True)
    row = _row(out.table, "micro_share")
    assert row["slope"] == pytest.approx(direct.coef[1], rel=1e-12, abs=1e-14)
    assert row["std_error"] == pytest.approx(direct.std_error[1], rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((direct.ci_low[1], direct.ci_high[1]), rel=1e-12)
    assert row["p_value"] == pytest.approx(direct.p_value[1], rel=1e-10)
    assert row["tau2_before"] == pytest.approx(direct.tau2_re, rel=1e-12, abs=1e-15)
    assert row["exploratory"]  # 7 countries
    assert out.fits[("voucher", "log_turnover", "micro_share")].knapp_hartung


def test_too_few_countries_are_not_fitted() -> None:
    eff, micro = _linear(COUNTRIES[:4], 0.3, noise=0.01)
    out = explain.explain_differences(kept_rows(eff, grades=dict(zip(COUNTRIES[:4], [2, 3, 4, 4],
                                                                     strict=True))),
                                      mix_rows(micro))
    assert set(out.table.loc[out.table["moderator"] != "design", "status"]) == {"too_few_countries"}
    assert _row(out.table, "micro_share")["note"] == "4 countries; this comparison needs at least 5"
    assert not out.fits
    assert explain_report.explain_cell(_row(out.table, "micro_share")) == "too few countries (4; needs 5)"
    # a looser rule fits them
    loose = explain.explain_differences(kept_rows(eff), mix_rows(micro), moderators=["micro_share"],
                                        min_residual_df=2)
    assert _row(loose.table, "micro_share")["status"] == "fitted"


def test_constant_missing_and_varying_design() -> None:
    eff, micro = _linear(COUNTRIES[:6], 0.3, noise=0.01)
    designs = {c: ("lottery" if i % 2 else "scored_call") for i, c in enumerate(COUNTRIES[:6])}
    kept = kept_rows(eff, designs=designs)
    out = explain.explain_differences(kept, mix_rows(micro))
    assert _row(out.table, "evidence_grade")["status"] == "constant"
    design = _row(out.table, "design")
    assert design["status"] == "fitted"
    assert design["levels"] == "lottery, scored_call"
    direct = meta_regression(kept, moderators="design", knapp_hartung=True)
    assert design["slope"] == pytest.approx(direct.coef[1], rel=1e-12)
    assert design["p_value"] == pytest.approx(direct.qm_pvalue, rel=1e-10)
    no_mix = explain.explain_differences(kept, mix_rows({c: m for c, m in micro.items() if c != "AT"}))
    missing = _row(no_mix.table, "micro_share")
    assert missing["status"] == "missing"
    assert missing["note"] == "1 of 6 countries have no micro share in their evidence"
    # a country's mix recorded under another instrument stands in (the mix is the country's, not the call's)
    other = pd.concat([mix_rows({c: m for c, m in micro.items() if c != "AT"}),
                       mix_rows({"AT": micro["AT"]}, instrument="grant")], ignore_index=True)
    moved = explain.explain_differences(kept, other, moderators=["micro_share"])
    assert _row(moved.table, "micro_share")["status"] == "fitted"


def test_groups_below_the_pooling_minimum_are_skipped_and_nothing_is_said_of_them() -> None:
    kept = kept_rows({"AT": 0.1, "BE": 0.2})
    out = explain.explain_differences(kept, mix_rows({"AT": 0.6, "BE": 0.7}))
    assert not len(out.table)
    items = explain_report.explain_section(out)
    assert "No instrument and outcome was pooled from enough countries" in items[-1].markdown  # type: ignore


def test_the_section_in_units_with_the_rule_and_the_chance_sentence() -> None:
    eff, micro = _linear(COUNTRIES[:6], 0.3, noise=0.01)
    out = explain.explain_differences(kept_rows(eff), mix_rows(micro))
    items = explain_report.explain_section(out, labels={"voucher": "Innovation vouchers"})
    texts = " ".join(i.markdown for i in items if isinstance(i, Text))
    assert "A comparison needs at least 5 countries" in texts
    assert "exploratory" in texts
    assert "The evidence grade is the same in every country of every comparison" in texts
    assert "The design of the evaluation is the same in every country" in texts
    table = next(i for i in items if isinstance(i, Table)).frame
    assert list(table.columns) == ["instrument", "outcome", "countries", "variation between countries",
                                   "per 10 percentage points more micro firms"]
    assert table["instrument"].iloc[0] == "Innovation vouchers"
    cell = table["per 10 percentage points more micro firms"].iloc[0]
    row = _row(out.table, "micro_share")
    assert cell.startswith(f"+{100 * np.expm1(row['slope']):.1f} % (95 % interval")  # log points as percent
    assert cell.endswith(f"p = {row['p_value']:.3f}") or "p < 0.001" in cell
    assert "The countries' shares of micro firms range from 55 % to 85 %." in texts
    assert "more than the countries span" not in texts
    narrow = explain.explain_differences(kept_rows(eff), mix_rows({c: 0.70 + (m - 0.55) / 10
                                                                   for c, m in micro.items()}))
    narrow_texts = " ".join(i.markdown for i in explain_report.explain_section(narrow) if isinstance(i, Text))
    assert "range from 70 % to 73 %. A change of 10 percentage points is more than the countries span" in \
        narrow_texts
    fitted = out.fitted()
    found = int((fitted["p_value"] < 0.05).sum())
    assert f"Of {len(fitted)} comparisons that could be made, {found} show an association" in texts


def test_the_chance_sentence_tells_many_associations_from_a_few() -> None:
    def fitted(ps: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"p_value": ps})

    few = explain_report._chance_sentence(fitted([0.01] + [0.5] * 19), 0.05)
    assert "1 show an association" in few
    assert "about 1.0" in few
    assert "none of them should be read as a finding" in few
    many = explain_report._chance_sentence(fitted([0.01] * 8 + [0.5] * 12), 0.05)
    assert "more than chance would give" in many
    assert "not findings" in many


def test_inputs_are_not_modified() -> None:
    eff, micro = _linear(COUNTRIES[:6], 0.3, noise=0.01)
    kept, mix = kept_rows(eff), mix_rows(micro)
    before = (kept.copy(deep=True), mix.copy(deep=True))
    explain.explain_differences(kept, mix)
    pd.testing.assert_frame_equal(kept, before[0])
    pd.testing.assert_frame_equal(mix, before[1])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"moderators": ["gdp"]}, r"moderators must be some of \['micro_share'"),
    ({"moderators": []}, "moderators must be some of"),
    ({"min_residual_df": 0}, "min_residual_df must be a whole number of at least 1; got 0"),
    ({"min_residual_df": True}, "min_residual_df must be a whole number"),
    ({"min_countries": 2.5}, "min_countries must be a whole number of at least 1; got 2.5"),
    ({"alpha": 1.5}, "alpha"),
    ({"knapp_hartung_": True}, "knapp_hartung_"),
])
def test_bad_options_are_refused(kwargs: dict[str, Any], match: str) -> None:
    eff, micro = _linear(COUNTRIES[:6], 0.3)
    with pytest.raises(SpecificationError, match=match):
        explain.explain_differences(kept_rows(eff), mix_rows(micro), **kwargs)


def test_missing_columns_are_refused() -> None:
    eff, micro = _linear(COUNTRIES[:6], 0.3)
    with pytest.raises(DataError, match="design"):
        explain.explain_differences(kept_rows(eff).drop(columns="design"), mix_rows(micro))
    with pytest.raises(DataError, match="share"):
        explain.explain_differences(kept_rows(eff), mix_rows(micro).drop(columns="share"))
    with pytest.raises(DataError, match="'grade' or 'evidence_grade'"):
        explain.explain_differences(kept_rows(eff).drop(columns="grade"), mix_rows(micro))
    with pytest.raises(DataError, match="kept"):
        explain.explain_differences([1, 2], mix_rows(micro))  # type: ignore[arg-type]
