"""Write ``dat_homogeneous.csv``: 12 simulated studies without heterogeneity (seed 18)."""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(18)
k = 12
x = np.round(rng.uniform(0, 1, k), 6)
vi = np.round(rng.uniform(0.02, 0.08, k), 6)
yi = np.round(0.3 + 0.05 * x + rng.normal(scale=np.sqrt(vi) * 0.5), 6)
pd.DataFrame({"study": np.arange(1, k + 1), "yi": yi, "vi": vi, "x": x}).to_csv(
    Path(__file__).with_name("dat_homogeneous.csv"), index=False
)
