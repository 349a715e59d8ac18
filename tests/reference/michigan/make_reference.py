"""Regenerate fe_example_14_1.json: Wooldridge Example 14.1 on ipf_eval.datasets.michigan_training_grants().

Run from the repository root: .venv/bin/python tests/reference/michigan/make_reference.py
"""

from __future__ import annotations

import json
from pathlib import Path

import linearmodels
from linearmodels import PanelOLS

from ipf_eval.datasets import michigan_training_grants

d = michigan_training_grants()
d["grant_now"] = (d["year"] == d["first_support_year"]).astype(float)
d["grant_lag1"] = (d["year"] == d["first_support_year"] + 1).astype(float)
x = d.dropna(subset=["lscrap"]).set_index(["firm_id", "year"])
fit = PanelOLS.from_formula("lscrap ~ d88 + d89 + grant_now + grant_lag1 + EntityEffects", x).fit()
out = {
    "source": "linearmodels PanelOLS (unadjusted covariance), linearmodels " + linearmodels.__version__,
    "params": {k: float(v) for k, v in fit.params.items()},
    "std_errors": {k: float(v) for k, v in fit.std_errors.items()},
    "nobs": int(fit.nobs),
    "n_firms": int(fit.entity_info["total"]),
    "rsquared_within": float(fit.rsquared),
    "textbook": {
        "source": "Wooldridge, Introductory Econometrics, Example 14.1 (JTRAIN), rounded to 3 decimals",
        "grant": -0.252,
        "grant_se": 0.151,
        "grant_1": -0.422,
        "grant_1_se": 0.210,
        "n": 162,
        "r2": 0.201,
    },
}
Path(__file__).with_name("fe_example_14_1.json").write_text(json.dumps(out, indent=2) + "\n")
