"""Ground truth of the synthetic panels: ATT(g,t), aggregations, subgroups, ITT and effects at thresholds.

Private module of :mod:`ipf_eval.data.simulate`.  Every quantity is a *sample* average of the simulated
individual effects ``Y_it(1) - Y_it(0)`` (the ``effects`` frame), taken over the firm-years that are observed
in the panel; the definitions are spelled out in :class:`ipf_eval.data.simulate.GroundTruth`.  The work is
done with numpy group sums over integer codes (country, instrument, size class, sector and outcome are codes
here; :mod:`ipf_eval.data.simulate` attaches the labels).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from ipf_eval.data._sim_config import OUTCOMES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ALL = -1
"""Code of the "all" level in subgroup tables."""


def _groups(cols: Sequence[IntArray]) -> tuple[IntArray, list[IntArray]]:
    """Group index of each row by the key columns, and the keys of each group (sorted lexicographically)."""
    m = cols[0].shape[0]
    code = np.zeros(m, dtype=np.int64)
    for c in cols:
        if m == 0:
            break
        c0 = c - c.min()
        code = code * (int(c0.max()) + 1) + c0
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return inv.astype(np.int64), [c[first] for c in cols]


def _means(inv: IntArray, n_groups: int, values: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Column means of ``values`` (rows x outcomes) within groups, optionally weighted."""
    w = np.ones(inv.shape[0]) if weights is None else weights
    total = np.bincount(inv, weights=w, minlength=n_groups)
    out = np.empty((n_groups, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(inv, weights=w * values[:, j], minlength=n_groups) / total
    return out


def _stack(
    keys: Mapping[str, npt.NDArray[np.generic]], values: Mapping[str, npt.NDArray[np.generic]]
) -> pd.DataFrame:
    """Long frame: each key row repeated once per outcome, the outcome code in ``outcome``."""
    n_out = len(OUTCOMES)
    cols: dict[str, npt.NDArray[np.generic]] = {}
    first = next(iter(values.values()))
    n_rows = first.shape[0]
    for name, arr in keys.items():
        cols[name] = np.repeat(arr, n_out)
    cols["outcome"] = np.tile(np.arange(n_out, dtype=np.int64), n_rows)
    for name, arr in values.items():
        cols[name] = arr.reshape(-1) if arr.ndim == 2 else np.repeat(arr, n_out)
    return pd.DataFrame(cols)


class EffectArrays:
    """Numpy views of the ``effects`` frame (integer codes) used by every truth table."""

    def __init__(self, effects: pd.DataFrame) -> None:
        self.firm = effects["firm_id"].to_numpy(dtype=np.int64)
        self.year = effects["year"].to_numpy(dtype=np.int64)
        self.country = effects["country"].to_numpy(dtype=np.int64)
        self.instrument = effects["instrument"].to_numpy(dtype=np.int64)
        self.size = effects["size_class"].to_numpy(dtype=np.int64)
        self.sector = effects["sector"].to_numpy(dtype=np.int64)
        self.group = effects["application_year"].to_numpy(dtype=np.int64)
        self.event = effects["event_time"].to_numpy(dtype=np.int64)
        self.supported = effects["supported"].to_numpy(dtype=bool)
        self.would_take = effects["would_take"].to_numpy(dtype=bool)
        self.arm = effects["arm"].to_numpy(dtype=float)
        self.score = effects["score"].to_numpy(dtype=float)
        self.threshold = effects["threshold"].to_numpy(dtype=float)
        self.values = effects[list(OUTCOMES)].to_numpy(dtype=float)


def _cells(
    e: EffectArrays, rows: BoolArray, extra: Sequence[str]
) -> tuple[list[IntArray], FloatArray, IntArray]:
    """Mean effects per (country, instrument, *extra, group, year) cell among ``rows``, and firm counts."""
    cols = [
        e.country[rows],
        e.instrument[rows],
        *(getattr(e, x)[rows] for x in extra),
        e.group[rows],
        e.year[rows],
    ]
    inv, keys = _groups(cols)
    means = _means(inv, len(keys[0]), e.values[rows])
    counts = np.bincount(inv, minlength=len(keys[0])).astype(np.int64)
    return keys, means, counts


def _cohort_sizes(e: EffectArrays, extra: Sequence[str]) -> tuple[IntArray, list[IntArray]]:
    """Supported firms per (country, instrument, *extra, group): sizes and keys."""
    rows = e.supported
    cols = [e.country[rows], e.instrument[rows], *(getattr(e, x)[rows] for x in extra), e.group[rows]]
    _, firm_keys = _groups([*cols, e.firm[rows]])
    inv, keys = _groups(firm_keys[:-1])
    return np.bincount(inv, minlength=len(keys[0])).astype(np.int64), keys


def _lookup_sizes(cell_keys: Sequence[IntArray], sizes: IntArray, size_keys: Sequence[IntArray]) -> IntArray:
    """Cohort size of each cell (cells are keyed by the cohort keys followed by the year)."""
    inv, _ = _groups([np.concatenate([a, b]) for a, b in zip(size_keys, cell_keys[:-1], strict=True)])
    n = sizes.shape[0]
    table = np.zeros(int(inv.max()) + 1 if inv.size else 0, dtype=np.int64)
    table[inv[:n]] = sizes
    return table[inv[n:]]


def att_gt(e: EffectArrays) -> pd.DataFrame:
    """Compute the true ATT(g,t): mean individual effect among cohort ``g`` firms observed in year ``t``."""
    keys, means, counts = _cells(e, e.supported, ())
    frame = _stack(
        {
            "country": keys[0],
            "instrument": keys[1],
            "group": keys[2],
            "time": keys[3],
            "event_time": keys[3] - keys[2],
        },
        {"att": means, "n_firms": counts},
    )
    cols = ["country", "instrument", "outcome", "group", "time", "event_time", "att", "n_firms"]
    return frame[cols].sort_values(cols[:5], ignore_index=True)


def _weighted_long(
    keys: Sequence[IntArray], att: FloatArray, weight: FloatArray, names: Sequence[str]
) -> pd.DataFrame:
    """Weighted means of ``att`` (cells x outcomes) within the groups of ``keys``; weights summed."""
    inv, gkeys = _groups(list(keys))
    n_groups = len(gkeys[0])
    means = _means(inv, n_groups, att, weight)
    total = np.bincount(inv, weights=weight, minlength=n_groups).astype(np.int64)
    return _stack(dict(zip(names, gkeys, strict=True)), {"att": means, "n_firms": total})


def aggregate(e: EffectArrays) -> pd.DataFrame:
    """Aggregate the true ATT(g,t): simple, dynamic, group and calendar (Callaway-Sant'Anna weights)."""
    keys, means, _ = _cells(e, e.supported, ())
    sizes, size_keys = _cohort_sizes(e, ())
    w = _lookup_sizes(keys, sizes, size_keys).astype(float)
    c, k, g, t = keys
    post = t >= g
    simple = _weighted_long([c[post], k[post]], means[post], w[post], ["country", "instrument"])
    # n_firms of the simple aggregation: every supported firm of the (country, instrument) once.
    inv, _ = _groups([size_keys[0], size_keys[1]])
    firms = np.bincount(inv, weights=sizes.astype(float)).astype(np.int64)
    simple["n_firms"] = np.repeat(firms, len(OUTCOMES))
    dynamic = _weighted_long([c, k, t - g], means, w, ["country", "instrument", "event_time"])
    calendar = _weighted_long(
        [c[post], k[post], t[post]], means[post], w[post], ["country", "instrument", "time"]
    )
    group = _weighted_long(
        [c[post], k[post], g[post]], means[post], np.ones(int(post.sum())), ["country", "instrument", "group"]
    )
    inv_g, gk = _groups([c[post], k[post], g[post]])
    first = np.zeros(len(gk[0]), dtype=np.int64)
    first[inv_g] = w[post].astype(np.int64)
    group["n_firms"] = np.repeat(first, len(OUTCOMES))
    parts = []
    for kind, frame in (("simple", simple), ("dynamic", dynamic), ("group", group), ("calendar", calendar)):
        frame = frame.copy()
        frame["kind"] = kind
        parts.append(frame)
    out = pd.concat(parts, ignore_index=True)
    for col in ("event_time", "group", "time"):
        out[col] = out[col].astype("Int64")
    cols = ["country", "instrument", "outcome", "kind", "event_time", "group", "time", "att", "n_firms"]
    return out[cols].reset_index(drop=True)


def subgroup(e: EffectArrays) -> pd.DataFrame:
    """Aggregate ATT(g,t) simply within size class x sector cells and their margins (code ``ALL``)."""
    frames = []
    post_rows = e.supported & (e.year >= e.group)
    for extra in (("size", "sector"), ("size",), ("sector",)):
        keys, means, _ = _cells(e, post_rows, extra)
        sizes, size_keys = _cohort_sizes(e, extra)
        w = _lookup_sizes(keys, sizes, size_keys).astype(float)
        names = ["country", "instrument", *extra]
        frame = _weighted_long(keys[: 2 + len(extra)], means, w, names)
        inv, _ = _groups(list(size_keys[:-1]))
        firms = np.bincount(inv, weights=sizes.astype(float)).astype(np.int64)
        frame["n_firms"] = np.repeat(firms, len(OUTCOMES))
        for col in ("size", "sector"):
            if col not in extra:
                frame[col] = ALL
        frames.append(frame.rename(columns={"size": "size_class"}))
    out = pd.concat(frames, ignore_index=True)
    cols = ["country", "instrument", "outcome", "size_class", "sector", "att", "n_firms"]
    return out[cols].sort_values(cols[:5], ignore_index=True)


def experiment(e: EffectArrays) -> pd.DataFrame:
    """Lottery truth by event time: ITT over all applicants observed, and the effect among would-be users."""
    rows = ~np.isnan(e.arm)
    inv, keys = _groups([e.country[rows], e.instrument[rows], e.event[rows]])
    n_groups = len(keys[0])
    take = e.would_take[rows].astype(float)
    vals = e.values[rows]
    itt = _means(inv, n_groups, vals * take[:, None])
    users = np.bincount(inv, weights=take, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        on_users = _means(inv, n_groups, vals, take)
    frame = _stack(
        {"country": keys[0], "instrument": keys[1], "event_time": keys[2]},
        {
            "itt": itt,
            "effect_on_users": on_users,
            "n_applicants": np.bincount(inv, minlength=n_groups).astype(np.int64),
            "n_winners": np.bincount(inv, weights=e.arm[rows], minlength=n_groups).astype(np.int64),
            "n_users": users.astype(np.int64),
        },
    )
    cols = ["country", "instrument", "outcome", "event_time", "itt", "effect_on_users", "n_applicants"]
    cols += ["n_winners", "n_users"]
    return frame[cols].sort_values(cols[:4], ignore_index=True)


def at_threshold(e: EffectArrays, score_sd: FloatArray, jump: FloatArray, bandwidth: float) -> pd.DataFrame:
    """Scored-call truth by event time: mean effect among applicants within ``bandwidth`` score SDs.

    ``score_sd`` and ``jump`` (take-up above minus below the threshold) are indexed by instrument code.
    """
    scored = ~np.isnan(e.score)
    band = np.zeros_like(scored)
    band[scored] = np.abs(e.score[scored] - e.threshold[scored]) <= bandwidth * score_sd[e.instrument[scored]]
    inv, keys = _groups([e.country[band], e.instrument[band], e.event[band]])
    n_groups = len(keys[0])
    effect = _means(inv, n_groups, e.values[band])
    first_stage = jump[keys[1]]
    frame = _stack(
        {"country": keys[0], "instrument": keys[1], "event_time": keys[2]},
        {
            "effect_at_threshold": effect,
            "first_stage": first_stage,
            "itt_at_threshold": effect * first_stage[:, None],
            "bandwidth": bandwidth * score_sd[keys[1]],
            "n_in_band": np.bincount(inv, minlength=n_groups).astype(np.int64),
        },
    )
    cols = ["country", "instrument", "outcome", "event_time", "effect_at_threshold", "first_stage"]
    cols += ["itt_at_threshold", "bandwidth", "n_in_band"]
    return frame[cols].sort_values(cols[:4], ignore_index=True)
