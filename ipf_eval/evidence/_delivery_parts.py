"""Per-indicator computations of :func:`~ipf_eval.evidence.delivery_mix.adjusted_delivery_benchmark`.

Private to the evidence layer.  Each ``*_part`` function takes frames with internal column names (``_c``
country, ``_k`` instrument, ``_id`` firm, then the indicator's own columns and the mix columns), applies the
disclosure rules group by group, pools the published groups of each instrument, builds the strata and
runs the bootstrap of :mod:`ipf_eval.evidence._standardise`; it returns the rows, audit entries, strata
descriptions and notes as a :class:`Part`.  Rows of hidden groups hold only their status and rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval.disclosure.audit import AuditEntry, format_cell_key
from ipf_eval.disclosure.cells import primary_failures
from ipf_eval.disclosure.profiles import DisclosureProfile
from ipf_eval.evidence._standardise import (
    GroupUnits,
    Strata,
    collapse_strata,
    percentile_interval,
    quantile_draws,
    rate_draws,
)

Key = tuple[str, str, str]
#: Probability of each quantile indicator.
PROBS = {"median_days": 0.5, "p90_days": 0.9}


@dataclass(frozen=True)
class Setup:
    """The options every part needs."""

    mix: tuple[str, ...]
    indicators: tuple[str, ...]
    profile: DisclosureProfile
    min_stratum: int
    min_tail: int
    n_boot: int
    seed: int
    alpha: float
    name: str


@dataclass
class Part:
    """What one indicator contributes: rows by key, audit entries, strata descriptions, notes."""

    rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    entries: list[AuditEntry] = field(default_factory=list)
    strata: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def hide(self, key: Key, rule: str, reason: str, name: str) -> None:
        self.rows[key] = {"status": "primary", "rule": rule}  # no value of the row is kept
        cell = format_cell_key({"country": key[0], "instrument": key[1], "indicator": key[2]})
        self.entries.append(AuditEntry(name, cell, "primary", rule, reason))


def _strata_row(inst: str, ind: str, strata: Strata) -> dict[str, Any]:
    return {"instrument": inst, "indicator": ind, "variables": " x ".join(strata.variables),
            "nested_left_out": ", ".join(strata.nested), "n_strata": strata.n_strata,
            "share_firms_collapsed": strata.share_collapsed}


def _fill(part: Part, keys: list[Key], draws: Any, n_firms: list[int], s: Setup, k: int | None) -> None:
    """Write the point values and intervals of the passing groups (``k``: quantile index or None)."""
    def pick(a: Any) -> Any:
        return a if k is None else a[..., k]

    obs, exp, adj, ref = (pick(a) for a in (draws.observed, draws.expected, draws.adjusted, draws.reference))
    lo_o, hi_o, se_o = percentile_interval(obs[1:], s.alpha)
    lo_a, hi_a, se_a = percentile_interval(adj[1:], s.alpha)
    for gi, key in enumerate(keys):
        finite = math.isfinite(float(adj[0, gi]))
        part.rows[key] = {
            "raw": obs[0, gi], "raw_ci_low": lo_o[gi], "raw_ci_high": hi_o[gi], "raw_std_error": se_o[gi],
            "adjusted": adj[0, gi], "adjusted_ci_low": lo_a[gi] if finite else np.nan,
            "adjusted_ci_high": hi_a[gi] if finite else np.nan,
            "adjusted_std_error": se_a[gi] if finite else np.nan, "expected": exp[0, gi],
            "reference": ref[0], "n_firms": n_firms[gi], "status": "published", "rule": ""}


def rate_part(units: pd.DataFrame, ind: str, s: Setup) -> Part:
    """Units: one row per firm and group with ``_c, _k, _id, _y, _m`` and the mix columns."""
    part, m = Part(), s.profile.min_firms
    for inst, by_inst in units.groupby("_k", sort=True):
        passing = []
        for country, g in by_inst.groupby("_c", sort=True):
            key = (str(country), str(inst), ind)
            with_event, without = int((g["_y"] > 0).sum()), int((g["_y"] < g["_m"]).sum())
            if len(g) < m:
                part.hide(key, "threshold", f"fewer than {m} firms", s.name)
            elif 0 < with_event < m or 0 < without < m:
                part.hide(key, "threshold", f"fewer than {m} firms on one side of the share", s.name)
            else:
                passing.append((key, g))
        if not passing:
            continue
        pool = pd.concat([g for _, g in passing], ignore_index=True)
        agency = np.asarray(pool["_c"].astype("category").cat.codes, dtype=np.int64)
        strata = collapse_strata(pool[list(s.mix)], agency, min_firms=s.min_stratum)
        part.strata.append(_strata_row(str(inst), ind, strata))
        groups, start = [], 0
        for key, g in passing:
            n = len(g)
            groups.append(GroupUnits(key="|".join(key), n_firms=n, firm=np.arange(n, dtype=np.int64),
                                     stratum=strata.codes[start:start + n],
                                     y=g["_y"].to_numpy(dtype=float), m=g["_m"].to_numpy(dtype=float)))
            start += n
        draws = rate_draws(groups, strata.n_strata, seed=s.seed, n_boot=s.n_boot)
        _fill(part, [k for k, _ in passing], draws, [len(g) for _, g in passing], s, None)
    return part


def days_part(decided: pd.DataFrame, firm_mix: pd.DataFrame, inds: Sequence[str], s: Setup) -> Part:
    """Decided applications ``_c, _k, _id, _days``; ``firm_mix`` one row per firm and group with the mix."""
    part, m = Part(), s.profile.min_firms
    probs = [PROBS[i] for i in inds]
    for inst, by_inst in decided.groupby("_k", sort=True):
        passing = []
        for country, g in by_inst.groupby("_c", sort=True):
            n = int(g["_id"].nunique())
            if n < m:
                for ind in inds:
                    part.hide((str(country), str(inst), ind), "threshold", f"fewer than {m} firms", s.name)
            else:
                passing.append((str(country), g))
        if not passing:
            continue
        firms = pd.concat([pd.DataFrame({"_c": c, "_id": pd.unique(g["_id"])}) for c, g in passing],
                          ignore_index=True)
        firms = firms.merge(firm_mix.loc[firm_mix["_k"] == inst].drop(columns="_k"), on=["_c", "_id"],
                            how="left")
        agency = np.asarray(firms["_c"].astype("category").cat.codes, dtype=np.int64)
        strata = collapse_strata(firms[list(s.mix)], agency, min_firms=s.min_stratum)
        for ind in inds:
            part.strata.append(_strata_row(str(inst), ind, strata))
        groups, start = [], 0
        for country, g in passing:
            ids = pd.Index(pd.unique(g["_id"]))
            pos = ids.get_indexer(pd.Index(g["_id"])).astype(np.int64)
            groups.append(GroupUnits(key=f"{country}|{inst}|days", n_firms=len(ids), firm=pos,
                                     stratum=strata.codes[start:start + len(ids)][pos],
                                     y=g["_days"].to_numpy(dtype=float), m=np.ones(len(g))))
            start += len(ids)
        draws = quantile_draws(groups, strata.n_strata, probs, seed=s.seed, n_boot=s.n_boot)
        for k, ind in enumerate(inds):
            keys = [(c, str(inst), ind) for c, _ in passing]
            _fill(part, keys, draws, [int(g["_id"].nunique()) for _, g in passing], s, k)
            for gi, (key, (_, g)) in enumerate(zip(keys, passing, strict=True)):
                q = float(draws.observed[0, gi, k])
                above = int(g.loc[g["_days"] > q, "_id"].nunique())
                below = int(g.loc[g["_days"] < q, "_id"].nunique())
                if min(above, below) < s.min_tail:
                    part.hide(key, "quantile_tail", f"fewer than {s.min_tail} firms above or below the "
                              "quantile", s.name)
    return part


def match_calls(apps: pd.DataFrame, costs: pd.DataFrame, by_call: bool
                ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Keep the calls with both applications and a cost (``by_call``), with a note on those left out."""
    if not by_call:
        return apps, costs, []
    keys = ["_c", "_k", "_call"]
    calls = apps[keys].drop_duplicates().merge(costs[keys].drop_duplicates(), on=keys)
    n_unmatched = (len(apps[keys].drop_duplicates()) - len(calls),
                   len(costs[keys].drop_duplicates()) - len(calls))
    notes = [f"Administrative costs: {n_unmatched[0]} call(s) with applications but no cost and "
             f"{n_unmatched[1]} call(s) with a cost but no application are left out (costs and supported "
             "firms are matched call by call)."] if any(n_unmatched) else []
    return apps.merge(calls, on=keys), costs.merge(calls, on=keys), notes


def cost_part(apps: pd.DataFrame, costs: pd.DataFrame, inds: Sequence[str], by_call: bool, s: Setup) -> Part:
    """Cost indicators per group.

    ``apps`` holds ``_c, _k, _id, _sup, _amt`` (and ``_call``), ``costs`` ``_c, _k, _cost`` (and ``_call``).
    """
    part, m = Part(), s.profile.min_firms
    apps, costs, part.notes = match_calls(apps, costs, by_call)
    sup = apps.loc[apps["_sup"]]
    total = costs.groupby(["_c", "_k"])["_cost"].sum()
    amount_fail = (primary_failures(sup, by=["_c", "_k"], value="_amt", id_col="_id", profile=s.profile)
                   if "admin_cost_per_euro" in inds else {})
    stats: dict[Key, tuple[float, float]] = {}
    for (country, inst), g in apps.groupby(["_c", "_k"], sort=True):
        gs = g.loc[g["_sup"]]
        a = float(total.get((country, inst), np.nan))
        n_sup = int(gs["_id"].nunique())
        for ind in inds if n_sup else ():  # no supported firm: not estimable
            key = (str(country), str(inst), ind)
            den = float(len(gs)) if ind == "admin_cost_per_supported_firm" else float(gs["_amt"].sum())
            fails = ([("threshold", f"fewer than {m} supported firms")] if n_sup < m else []) + (
                [(f.rule, f"euro granted: {f.reason}") for f in amount_fail.get((country, inst), ())]
                if ind == "admin_cost_per_euro" else [])
            if fails:
                part.hide(key, "+".join(dict.fromkeys(r for r, _ in fails)), "; ".join(w for _, w in fails),
                          s.name)
            elif den > 0 and math.isfinite(a):
                stats[key] = (a, den)
                part.rows[key] = {"raw": a / den, "n_firms": n_sup, "status": "published", "rule": ""}
    for ind in inds:  # the pooled reference over the published agencies of each instrument
        for inst in {k[1] for k in stats if k[2] == ind}:
            mine = [k for k in stats if k[1] == inst and k[2] == ind]
            ref = sum(stats[k][0] for k in mine) / sum(stats[k][1] for k in mine)
            for k in mine:
                part.rows[k]["reference"] = ref
    return part


# --------------------------------------------------------------------------------- units of the indicators
MISSING = "(missing)"
_GROUP = ["_c", "_k", "_id"]


@dataclass
class MixSource:
    """Where the firms' mix comes from: ``firms`` (``_id`` and the mix labels) or each indicator's frame."""

    columns: tuple[str, ...]
    firms: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    def attach(self, units: pd.DataFrame, frame_mix: pd.DataFrame) -> pd.DataFrame:
        """Add the mix columns to ``units`` (``_c, _k, _id``; a firm's first row of ``frame_mix``)."""
        cols = list(self.columns)
        if self.firms is not None:
            out = units.merge(self.firms, on="_id", how="left")
        else:
            out = units.merge(frame_mix.drop_duplicates(_GROUP)[[*_GROUP, *cols]], on=_GROUP, how="left")
        unknown = int(out[cols].isna().any(axis=1).sum()) if cols else 0
        if unknown:
            self.notes.append(f"{unknown} firm(s) without mix characteristics are put in a {MISSING!r} "
                              "category.")
        return out.fillna({c: MISSING for c in cols})


def take_up_units(apps: pd.DataFrame, elig: pd.DataFrame, mix: MixSource) -> tuple[pd.DataFrame, int]:
    """One row per eligible firm: ``_y`` 1 if it applied, ``_m`` 1; and the applicant firms not eligible."""
    applied = apps[_GROUP].drop_duplicates().assign(_y=1.0)
    units = elig[_GROUP].merge(applied, on=_GROUP, how="left").fillna({"_y": 0.0}).assign(_m=1.0)
    return mix.attach(units, elig), len(applied) - int(units["_y"].sum())


def first_time_units(apps_sorted: pd.DataFrame, mix: MixSource) -> pd.DataFrame:
    """One row per firm: first applications (``_y``) among its applications after the first call year."""
    a = apps_sorted.assign(_first=~apps_sorted.duplicated(_GROUP))
    a = a.loc[a["_call"] > a.groupby(["_c", "_k"])["_call"].transform("min")]
    units = a.groupby(_GROUP, sort=False).agg(_y=("_first", "sum"), _m=("_first", "size")).reset_index()
    return mix.attach(units.astype({"_y": float, "_m": float}), apps_sorted)


def dropout_units(apps_sorted: pd.DataFrame, mix: MixSource) -> pd.DataFrame:
    """One row per firm: applications without a decision date (``_y``) among its applications (``_m``)."""
    a = apps_sorted.assign(_y=apps_sorted["_days"].isna().astype(float))
    units = a.groupby(_GROUP, sort=False).agg(_y=("_y", "sum"), _m=("_y", "size")).reset_index()
    return mix.attach(units.astype({"_m": float}), apps_sorted)
