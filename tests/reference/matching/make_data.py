"""Write ``firms.csv`` for make_reference.R: 400 simulated firms, 146 supported (numpy seed 7).

``lg`` and ``lg3`` are the logit propensity scores (statsmodels ``Logit`` linear predictor) on ``x1, x2``
and on the coarse ``x3, x2`` (``x3`` takes few values, so many scores tie); R's ``Match`` matches on them.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

rng = np.random.default_rng(7)
n = 400
x1 = rng.normal(size=n)
x2 = rng.binomial(1, 0.4, n)
d = rng.binomial(1, 1 / (1 + np.exp(-(-0.8 + 0.9 * x1 + 0.5 * x2))))
y = 1 + 0.5 * x1 + 0.3 * x2 + 1.0 * d + rng.normal(size=n) * (1 + 0.5 * np.abs(x1))
frame = pd.DataFrame({"y": np.round(y, 8), "d": d, "x1": np.round(x1, 8), "x2": x2})
frame["x3"] = np.round(frame["x1"] * 2) / 2
for name, cols in (("lg", ["x1", "x2"]), ("lg3", ["x3", "x2"])):
    frame[name] = sm.Logit(frame["d"], sm.add_constant(frame[cols])).fit(disp=0).fittedvalues
frame.to_csv(Path(__file__).with_name("firms.csv"), index=False, float_format="%.17g")
