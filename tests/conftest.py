"""Shared pytest fixtures."""

from __future__ import annotations

import functools
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest


def make_tiny_panel() -> pd.DataFrame:
    """8 firms x 5 years (2003-2007): cohorts 2005 (firms 1, 2) and 2006 (3, 4), firms 5-8 never supported."""
    firms = np.repeat(np.arange(1, 9), 5)
    years = np.tile(np.arange(2003, 2008), 8)
    first = np.repeat([2005, 2005, 2006, 2006, 0, 0, 0, 0], 5)
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "firm_id": firms,
        "year": years,
        "first_support": first,
        "log_emp": rng.normal(2.0, 0.5, firms.size),
        "exporter": rng.random(firms.size) < 0.4,
        "sector": np.repeat(["C10", "C20", "J62", "C10", "J62", "C20", "C10", "J62"], 5),
        "log_age": np.repeat(np.linspace(1.0, 3.0, 8), 5),
        "weight": np.repeat([1.0, 2.0, 1.5, 1.0, 0.5, 1.0, 2.0, 1.0], 5),
        "region": np.repeat(["DE1", "DE1", "DE2", "DE2", "DE3", "DE3", "DE1", "DE2"], 5),
    })


@pytest.fixture
def tiny_panel() -> pd.DataFrame:
    """A fresh copy of the tiny valid panel (see :func:`make_tiny_panel`)."""
    return make_tiny_panel()


@functools.cache
def _load_mpdta() -> pd.DataFrame:
    """mpdta (R did's county panel) from the moderndid wheel, which the test extras install."""
    data = pd.read_pickle(str(files("moderndid") / "core" / "datasets" / "mpdta_long.pkl.gz"))
    counts = data.groupby("first.treat")["countyreal"].nunique().to_dict()
    if counts != {0: 309, 2004: 20, 2006: 40, 2007: 131} or len(data) != 2500:
        raise RuntimeError(
            f"the installed mpdta is not the reference panel: cohorts {counts}, {len(data)} rows"
        )
    return data


@pytest.fixture
def mpdta() -> pd.DataFrame:
    """A fresh copy of mpdta for each test (500 counties x 2003-2007; cohorts checked on loading)."""
    return _load_mpdta().copy()
