"""Where a panel came from: simulated or the agency's own, its content hash, and the simulator's truth.

:meth:`ipf_eval.data.SimulatedFirms.evaluation_sample` tags the frame it returns (in ``DataFrame.attrs``)
with the simulation's seed and size and the true value of every estimand an evaluation reports for that
(country, instrument), so that an evaluation of simulated data says so on every evidence row and records
how far each estimate lies from the truth.  A frame without the tag is the agency's own data.

The tag describes the sample as the simulator returned it: :func:`read_provenance` drops the true values
when the frame no longer has the same firms and rows (a user filtered it), because they would then be the
truth of another sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options

__all__ = ["ATTRS_KEY", "SampleProvenance", "frame_sha256", "read_provenance", "tag_simulated", "true_value",
           "truth_key"]

#: Key of the tag in ``DataFrame.attrs``.
ATTRS_KEY = "ipf_eval_provenance"


@keyword_options
def truth_key(family: str, term: str, outcome: str, subgroup: str = "") -> str:
    """Key of one true value: estimator family (``att_gt``, ``rct``, ``rdd``), term, outcome, subgroup."""
    return "|".join((family, term, outcome, subgroup))


@dataclass(frozen=True)
class SampleProvenance:
    """The provenance tag of a simulated evaluation sample.

    Attributes
    ----------
    data_source
        ``"simulated"``.
    seed, n_firms
        The :func:`~ipf_eval.data.simulate_firms` arguments that reproduce it.
    country, instrument
        The evaluation sample's (country, instrument).
    truth
        True value of each estimand by :func:`truth_key`; empty when the frame was changed after tagging.
    """

    data_source: str
    seed: int
    n_firms: int
    country: str
    instrument: str
    truth: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def true_value(self, family: str, term: str, outcome: str, subgroup: str = "") -> float | None:
        """Return the true value of one estimand, or ``None`` when the simulator does not define it."""
        value = self.truth.get(truth_key(family, term, outcome, subgroup))
        return None if value is None else float(value)


def _shape(frame: pd.DataFrame) -> list[int]:
    firms = int(frame["firm_id"].nunique()) if "firm_id" in frame.columns else -1
    return [len(frame), firms]


@keyword_options
def tag_simulated(frame: pd.DataFrame, *, seed: int, n_firms: int, country: str, instrument: str,
                  truth: Mapping[str, float]) -> pd.DataFrame:
    """Attach the provenance tag to a frame the simulator just built (in place on ``frame.attrs``).

    Returns
    -------
    pandas.DataFrame
        The same frame, for chaining.
    """
    frame.attrs[ATTRS_KEY] = {"data_source": "simulated", "seed": int(seed), "n_firms": int(n_firms),
                              "country": str(country), "instrument": str(instrument),
                              "shape": _shape(frame), "truth": {str(k): float(v) for k, v in truth.items()}}
    return frame


@keyword_options
def read_provenance(frame: pd.DataFrame) -> SampleProvenance | None:
    """Return the provenance tag of ``frame``, or ``None`` for data that are not the simulator's.

    The true values are dropped when the frame's row or firm count differs from the tagged sample's.
    """
    tag: Any = frame.attrs.get(ATTRS_KEY)
    if not isinstance(tag, Mapping) or tag.get("data_source") != "simulated":
        return None
    same = list(tag.get("shape", [])) == _shape(frame)
    truth = {str(k): float(v) for k, v in dict(tag.get("truth", {})).items()} if same else {}
    return SampleProvenance(data_source="simulated", seed=int(tag["seed"]), n_firms=int(tag["n_firms"]),
                            country=str(tag["country"]), instrument=str(tag["instrument"]),
                            truth=MappingProxyType(truth))


@keyword_options
def true_value(frame: pd.DataFrame, family: str, term: str, outcome: str, subgroup: str = "") -> float | None:
    """Return the simulator's true value of one estimand for a tagged sample (``None``: not simulated).

    Examples
    --------
    >>> from ipf_eval.data import simulate_firms
    >>> sample = simulate_firms(seed=1, n_firms=2000).evaluation_sample("AT", "loan_guarantee")
    >>> round(true_value(sample, "att_gt", "att", "log_employment"), 3)  # doctest: +SKIP
    0.127
    """
    tag = read_provenance(frame)
    return None if tag is None else tag.true_value(family, term, outcome, subgroup)


@keyword_options
def frame_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's content: column names, dtypes and every row (row order counts, index does not).

    Notes
    -----
    Row hashes come from :func:`pandas.util.hash_pandas_object` (a fixed key, so the digest is the same in
    every process and on every machine with the same pandas hashing); the digest identifies the data as
    evaluated, whatever file format they were read from.
    """
    digest = hashlib.sha256()
    for name, dtype in frame.dtypes.items():
        digest.update(f"{name}\x1f{dtype}\x1e".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
