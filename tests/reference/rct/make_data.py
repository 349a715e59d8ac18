"""Write ``trial.csv``: a simulated clustered lottery with partial take-up (seed 2026)."""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(2026)
g, m = 40, 6
cl = np.repeat(np.arange(g), m)
z = rng.permutation(np.repeat([0, 1], g // 2))[cl]
x = rng.normal(size=cl.size)
used = ((z * (rng.random(cl.size) < 0.65)) | (rng.random(cl.size) < 0.1)).astype(int)
y = 1.2 * used + 0.5 * x + rng.normal(scale=0.7, size=g)[cl] + rng.normal(size=cl.size) * (1 + 0.5 * used)
frame = pd.DataFrame({"cl": cl, "z": z, "used": used, "x": np.round(x, 10), "y": np.round(y, 10)})
frame.to_csv(Path(__file__).with_name("trial.csv"), index=False)
