"""Time ipf_eval's DiD estimators against their Python peers on the same data, in one run.

Usage (from the project root)::

    python benchmarks/did_benchmark.py                 # 10k, 100k and 1M firms x 10 periods
    python benchmarks/did_benchmark.py --sizes 10000   # a quick look

The peers (diff-diff, csdid, pyfixest, linearmodels) are installed by this script into a separate
environment, ``.venv-bench``, never into the package's own dependencies.  Each (tool, scenario, size) runs in
a fresh process so that one tool's memory does not count against another; the median of ``--repeats`` runs is
printed with the ratio to ipf_eval (ratio > 1: ipf_eval is faster) and the peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / ".venv-bench"
PEERS = ["diff-diff", "csdid", "pyfixest", "linearmodels", "pyarrow"]
SCENARIOS = {
    "attgt_nocov": ["ipf_eval", "diff_diff", "csdid"],
    "attgt_dr_cov": ["ipf_eval", "diff_diff", "csdid"],
    "attgt_boot": ["ipf_eval", "diff_diff", "csdid"],
    "twfe": ["ipf_eval", "pyfixest", "linearmodels"],
}


def ensure_bench_env() -> Path:
    """Create ``.venv-bench`` with the peers and ipf_eval (editable) if it is missing."""
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)], check=True)
    return python


def make_panel(n_firms: int, n_periods: int = 10, seed: int = 0) -> pd.DataFrame:
    """Staggered panel: cohorts in periods 4..n_periods, a third never treated, dynamic effects."""
    rng = np.random.default_rng(seed)
    periods = np.arange(1, n_periods + 1)
    cohorts = np.concatenate([[0], periods[3:]])
    probs = np.concatenate([[1 / 3], np.full(len(cohorts) - 1, (2 / 3) / (len(cohorts) - 1))])
    g = rng.choice(cohorts, size=n_firms, p=probs)
    x = rng.normal(size=n_firms)
    alpha = rng.normal(size=n_firms) + 0.3 * x
    t = np.tile(periods, n_firms)
    ids = np.repeat(np.arange(n_firms), n_periods)
    gg = np.repeat(g, n_periods)
    e = t - gg
    effect = np.where((gg > 0) & (e >= 0), 0.05 + 0.02 * e, 0.0)
    y = np.repeat(alpha, n_periods) + 0.01 * t + 0.1 * np.repeat(x, n_periods) * t / n_periods
    y = y + effect + rng.normal(scale=0.5, size=n_firms * n_periods)
    return pd.DataFrame({"id": ids, "t": t, "g": gg, "x": np.repeat(x, n_periods), "y": y})


def run_one(
    python: Path, tool: str, scenario: str, data_path: Path, timeout: float
) -> dict[str, float] | str:
    cmd = [str(python), str(Path(__file__).with_name("_bench_worker.py")), "--tool", tool,
           "--scenario", scenario, "--data", str(data_path)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timeout>{timeout:.0f}s"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed: {last[:60]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    python = ensure_bench_env()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"panel_{n}.parquet"
            make_panel(n, args.periods).to_parquet(path)
            for scenario in args.scenarios:
                results: dict[str, dict[str, float] | str] = {}
                for tool in SCENARIOS[scenario]:
                    repeats = args.repeats if n < 1_000_000 else 1
                    runs = [run_one(python, tool, scenario, path, args.timeout) for _ in range(repeats)]
                    ok = [r for r in runs if isinstance(r, dict)]
                    if ok:
                        results[tool] = {
                            "seconds": statistics.median(r["seconds"] for r in ok),
                            "peak_mib": max(r["peak_mib"] for r in ok),
                        }
                    else:
                        results[tool] = str(runs[0])
                base = results.get("ipf_eval")
                for tool, res in results.items():
                    row = {"firms": n, "rows": n * args.periods, "scenario": scenario, "tool": tool}
                    if isinstance(res, dict):
                        row |= {"seconds": round(res["seconds"], 3), "peak_mib": round(res["peak_mib"])}
                        if isinstance(base, dict):
                            row["ratio_vs_ipf_eval"] = round(res["seconds"] / base["seconds"], 2)
                    else:
                        row["note"] = res
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
