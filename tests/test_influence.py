"""One interface for influence functions: the protocol, its implementations and the results carrying them."""

from __future__ import annotations

import ast
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ipf_eval
from ipf_eval.did import aggregate, att_gt
from ipf_eval.did._block_if import BlockInfluence, BlockSparseInfluence
from ipf_eval.errors import SpecificationError
from ipf_eval.experiments import rct
from ipf_eval.inference import DenseInfluence, HasInfluence, InfluenceFunction
from ipf_eval.inference.bootstrap import multiplier_draws
from ipf_eval.inference.influence import block_covariance, if_covariance
from ipf_eval.weighting import aipw, conditional_did, ipw, match

COLS: dict[str, Any] = {"yname": "lemp", "tname": "year", "idname": "countyreal", "gname": "first.treat"}


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def mp() -> pd.DataFrame:
    from conftest import _load_mpdta

    data = _load_mpdta().copy()
    return data.assign(state=data["countyreal"] % 41)


@pytest.fixture(scope="module")
def cross_section() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 600
    x = rng.normal(size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-0.5 * x))).astype(int)
    take = ((0.6 * d + rng.uniform(size=n)) > 0.7).astype(int)
    return pd.DataFrame({"y": 1.0 + d + x + rng.normal(size=n), "d": d, "x1": x, "t": take,
                         "cl": np.arange(n) // 6})


# --------------------------------------------------------------------------------------------- results
@pytest.mark.parametrize(
    ("label", "options", "storage"),
    [
        ("balanced panel", {}, BlockInfluence),
        ("covariates", {"covariates": ["lpop"]}, BlockSparseInfluence),
        ("clusters", {"cluster": "state"}, DenseInfluence),
        ("repeated cross-sections", {"panel": False}, DenseInfluence),
    ],
)
def test_att_gt_and_aggregations_carry_their_influence(
    mp: pd.DataFrame, label: str, options: dict[str, Any], storage: type
) -> None:
    res = _quiet(att_gt, mp, **COLS, seed=3, n_boot=99, **options)
    assert isinstance(res, HasInfluence), label
    assert isinstance(res.influence, InfluenceFunction)
    assert isinstance(res.influence, storage)
    assert res.influence.shape == (res.n_units, res.att.size)
    np.testing.assert_allclose(res.influence.standard_errors(), res.std_error, rtol=1e-10)
    np.testing.assert_array_equal(res.influence_function, res.influence.dense())
    assert res.unit_cohort.shape == res.unit_weights.shape == (res.n_units,)
    for kind in ("simple", "dynamic", "group", "calendar"):
        agg = aggregate(res, kind=kind)
        assert isinstance(agg, HasInfluence)
        assert isinstance(agg.influence, InfluenceFunction)
        assert agg.influence.shape == (res.n_units, agg.labels.size + 1)  # elements, then overall
        se = agg.influence.standard_errors()
        assert se[-1] == pytest.approx(agg.overall_std_error, rel=1e-10)
        np.testing.assert_allclose(se[:-1], agg.std_error, rtol=1e-10)


def test_weighting_and_experiment_results_carry_their_influence(cross_section: pd.DataFrame) -> None:
    kw = {"yname": "y", "treatname": "d", "covariates": ["x1"]}
    for fit in (_quiet(ipw, cross_section, **kw), _quiet(aipw, cross_section, **kw)):
        assert isinstance(fit, HasInfluence)
        assert isinstance(fit.influence, DenseInfluence)
        assert fit.influence.shape == (fit.n_treated + fit.n_control, 1)
        assert fit.influence.standard_errors()[0] == pytest.approx(fit.std_error, rel=1e-12)
    # matching's Abadie-Imbens standard error is not an influence-function variance
    matched = _quiet(match, cross_section, **kw)
    assert isinstance(matched, HasInfluence)
    assert matched.influence is None
    by_cluster = cross_section.assign(d=(cross_section["cl"] % 2).astype(int))  # assigned per cluster
    for data, options in ((cross_section, {"vce": "hc2"}), (cross_section, {"vce": "hc3"}),
                          (by_cluster, {"cluster": "cl"})):
        exp = _quiet(rct, data, yname="y", treatname="d", takeup="t", covariates=["x1"], n_permutations=0,
                     **options)
        assert isinstance(exp, HasInfluence)
        assert isinstance(exp.influence, DenseInfluence)
        assert (exp.influence.cluster is not None) == ("cluster" in options)
        # one column per row of the table (itt, first stage, effect on users), with the table's SEs; the
        # effect on users' SE comes from linearmodels (another linear solve): agreement to about 1e-11
        np.testing.assert_allclose(exp.influence.standard_errors(), exp.table["std_error"], rtol=1e-9)
        np.testing.assert_allclose(exp.influence.standard_errors()[:2], exp.table["std_error"][:2],
                                   rtol=1e-12)


def test_conditional_did_keeps_the_influence() -> None:
    rng = np.random.default_rng(2)
    n = 300
    firms = np.arange(n)
    d = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    rows = pd.DataFrame({"firm": np.repeat(firms, 2), "year": np.tile([2019, 2021], n),
                         "d": np.repeat(d, 2), "x1": np.repeat(x, 2)})
    rows["y"] = rng.normal(size=2 * n) + rows["d"] * (rows["year"] == 2021)
    res = _quiet(conditional_did, rows, yname="y", tname="year", idname="firm", treatname="d",
                 covariates=["x1"], method="ipw")
    assert isinstance(res.influence, InfluenceFunction)
    assert res.influence.standard_errors()[0] == pytest.approx(res.std_error, rel=1e-12)


def test_results_with_influence_still_pickle(mp: pd.DataFrame) -> None:
    res = att_gt(mp, **COLS, seed=1, n_boot=99)
    back = pickle.loads(pickle.dumps(aggregate(res, kind="dynamic")))
    assert back.overall_att == aggregate(res, kind="dynamic").overall_att
    np.testing.assert_array_equal(back.influence.dense(), aggregate(res, kind="dynamic").influence.dense())


def test_aggregate_reads_public_fields_only() -> None:
    """No attribute access to another object's private names (``res._inf_func`` and the like)."""
    path = Path(ipf_eval.__file__).parent / "did" / "aggregate.py"
    private = [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    assert private == []
    assert "isinstance(all_if" not in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------- two paths
def _block_panel(mp: pd.DataFrame) -> tuple[BlockInfluence, Any]:
    res = att_gt(mp, **COLS, seed=4, n_boot=99)
    assert isinstance(res.influence, BlockInfluence)
    return res.influence, res


def test_block_storage_agrees_with_the_dense_matrix(mp: pd.DataFrame) -> None:
    """Every operation on the per-cohort blocks equals the same operation on the materialised matrix."""
    blk, res = _block_panel(mp)
    dense = DenseInfluence(blk.dense())
    k = blk.shape[1]
    m = np.random.default_rng(0).normal(size=(k, 3))
    np.testing.assert_allclose(blk.covariance(), dense.covariance(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(blk.standard_errors(), dense.standard_errors(), rtol=1e-10)
    np.testing.assert_array_equal(blk.nonzero_columns(), dense.nonzero_columns())
    comb_b, comb_d = blk.combine(m), dense.combine(m)
    np.testing.assert_allclose(comb_b.dense(), comb_d.dense(), rtol=1e-10, atol=1e-12)
    # the multipliers are the same; draws differ only by rounding
    np.testing.assert_allclose(comb_b.draws(n_boot=50, seed=9), comb_d.draws(n_boot=50, seed=9),
                               rtol=1e-8, atol=1e-12)
    # shares' terms: per block when the unit weights are the blocks' weights rescaled ...
    terms = np.random.default_rng(1).normal(size=(5, 3))
    groups = np.searchsorted(np.unique(res.unit_cohort), res.unit_cohort)
    fast = comb_b.add_group_terms(res.unit_weights, groups, terms)
    assert isinstance(fast, BlockInfluence)
    slow = comb_d.add_group_terms(res.unit_weights, groups, terms)
    np.testing.assert_allclose(fast.dense(), slow.dense(), rtol=1e-10, atol=1e-12)
    # ... and on the dense matrix otherwise (groups varying within a block, other weights)
    odd = np.arange(res.n_units) % 5
    other = comb_b.add_group_terms(np.ones(res.n_units) * 2.0, odd, terms)
    assert isinstance(other, DenseInfluence)
    np.testing.assert_allclose(other.dense(), comb_d.add_group_terms(np.full(res.n_units, 2.0), odd,
                                                                     terms).dense(), rtol=1e-10, atol=1e-12)


def test_sparse_storage_agrees_with_the_dense_matrix(mp: pd.DataFrame) -> None:
    res = att_gt(mp, **COLS, covariates=["lpop"], seed=4, n_boot=99)
    sp = res.influence
    assert isinstance(sp, BlockSparseInfluence)
    dense = DenseInfluence(sp.dense())
    np.testing.assert_allclose(sp.covariance(), dense.covariance(), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(sp.nonzero_columns(), dense.nonzero_columns())
    np.testing.assert_allclose(sp.draws(n_boot=40, seed=2), dense.draws(n_boot=40, seed=2), rtol=1e-8,
                               atol=1e-12)
    np.testing.assert_allclose(sp.draws(n_boot=40, seed=2, kind="gaussian"),
                               dense.draws(n_boot=40, seed=2, kind="gaussian"), rtol=1e-8, atol=1e-12)
    w = np.ones(sp.shape[1]) / sp.shape[1]
    np.testing.assert_allclose(sp.combine(w).dense(), dense.combine(w).dense(), rtol=1e-12, atol=1e-14)
    g = np.zeros(sp.n_units, dtype=np.int64)
    plus = sp.add_group_terms(np.ones(sp.n_units), g, np.ones((1, sp.shape[1])))
    np.testing.assert_allclose(plus.dense(), sp.dense() + 1.0)


def test_block_storages_check_the_multiplier_kind(mp: pd.DataFrame) -> None:
    blk, _ = _block_panel(mp)
    sparse = att_gt(mp, **COLS, covariates=["lpop"], bootstrap=False).influence
    for inf in (blk, sparse, DenseInfluence(blk.dense())):
        with pytest.raises(SpecificationError, match=r"kind.* must be one of \('mammen', 'rademacher', "
                                                     r"'gaussian'\); got 'webb'"):
            inf.draws(n_boot=10, seed=1, kind="webb")


# --------------------------------------------------------------------------------------------- DenseInfluence
def test_dense_influence_operations() -> None:
    rng = np.random.default_rng(8)
    values = rng.normal(size=(50, 3))
    cluster = np.arange(50) // 5
    inf = DenseInfluence(values, cluster=cluster)
    assert inf.shape == (50, 3)
    assert inf.n_units == 50
    assert not inf.dense().flags.writeable
    np.testing.assert_allclose(inf.covariance(), if_covariance(values, cluster))
    assert inf.covariance() is inf.covariance()  # cached, read-only
    assert not inf.covariance().flags.writeable
    np.testing.assert_allclose(inf.standard_errors(), np.sqrt(np.diag(inf.covariance())), rtol=1e-12)
    m = rng.normal(size=3)
    assert inf.combine(m).shape == (50, 1)
    np.testing.assert_allclose(inf.combine(m).dense()[:, 0], values @ m)
    assert inf.combine(m).cluster is cluster
    np.testing.assert_array_equal(inf.draws(n_boot=20, seed=1),
                                  multiplier_draws(values, n_boot=20, seed=1, cluster=cluster))
    terms = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    plus = inf.add_group_terms(np.full(50, 0.5), np.r_[np.zeros(25, int), -np.ones(25, int)], terms)
    np.testing.assert_allclose(plus.dense()[:25], values[:25] + 0.5 * terms[0])
    np.testing.assert_allclose(plus.dense()[25:], values[25:])
    vec = DenseInfluence(values[:, 0])
    assert vec.shape == (50, 1)
    blocks = DenseInfluence(np.where(np.arange(50)[:, None] < 20, values, 0.0), blocks=((0, 20), (20, 50)))
    np.testing.assert_allclose(blocks.covariance(), block_covariance(blocks.values, ((0, 20), (20, 50))))
    np.testing.assert_allclose(blocks.covariance(), if_covariance(blocks.values), rtol=1e-12)
    assert blocks.combine(np.eye(3)).blocks is None


def test_dense_influence_errors() -> None:
    values = np.zeros((10, 2))
    with pytest.raises(SpecificationError, match=r"values=\.\.\.\) must be an n x k matrix .*\(2, 5, 1\)"):
        DenseInfluence(np.zeros((2, 5, 1)))
    with pytest.raises(SpecificationError, match=r"cluster=\.\.\.\) must hold one cluster code per unit "
                                                 r"\(10\); got shape \(9,\)"):
        DenseInfluence(values, cluster=np.zeros(9, dtype=np.intp))
    with pytest.raises(SpecificationError, match=r"cluster= or blocks=, not both"):
        DenseInfluence(values, cluster=np.zeros(10, dtype=np.intp), blocks=((0, 10),))
    inf = DenseInfluence(values)
    with pytest.raises(SpecificationError, match=r"combine\(weights=\.\.\.\) needs 2 rows.*got shape \(3,\)"):
        inf.combine(np.ones(3))
    with pytest.raises(SpecificationError, match=r"one entry per unit \(10\); got shapes \(9,\) and \(10,\)"):
        inf.add_group_terms(np.ones(9), np.zeros(10, dtype=int), np.ones((1, 2)))
    with pytest.raises(SpecificationError, match=r"terms=\.\.\.\) must have one row per group and 2 columns; "
                                                 r"got shape \(1, 3\)"):
        inf.add_group_terms(np.ones(10), np.zeros(10, dtype=int), np.ones((1, 3)))
    with pytest.raises(SpecificationError, match=r"groups=\.\.\.\) must be integer row numbers .* 'float64'"):
        inf.add_group_terms(np.ones(10), np.zeros(10), np.ones((1, 2)))
    with pytest.raises(SpecificationError, match=r"groups=\.\.\.\) must be rows of terms \(0\.\.0, .* from 0 "
                                                 r"to 3"):
        inf.add_group_terms(np.ones(10), np.arange(10) % 4, np.ones((1, 2)))
