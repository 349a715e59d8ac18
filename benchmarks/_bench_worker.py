"""Run one timed estimation in a fresh process and print one JSON line (called by did_benchmark.py).

Only the estimation is timed: the data are loaded and every tool is imported and warmed up on a
500-firm slice first (so just-in-time compilation and import time are not counted against anyone).
Peak memory is the process's high-water mark (``ru_maxrss``) after the fit, and ``extra_mib`` what the
fit added on top of the loaded data.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings

import pandas as pd


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run(tool: str, scenario: str, data: pd.DataFrame) -> None:
    covs = ["x"] if scenario == "attgt_dr_cov" else None
    boot = scenario == "attgt_boot"
    if scenario == "twfe":
        if tool == "ipf_eval":
            import ipf_eval

            ipf_eval.twfe(data, yname="y", tname="t", idname="id", gname="g")
        elif tool == "pyfixest":
            import pyfixest as pf

            data = data.assign(d=((data["g"] > 0) & (data["t"] >= data["g"])).astype(float))
            pf.feols("y ~ d | id + t", data=data, vcov={"CRV1": "id"}).tidy()
        elif tool == "linearmodels":
            from linearmodels.panel import PanelOLS

            data = data.assign(d=((data["g"] > 0) & (data["t"] >= data["g"])).astype(float))
            panel = data.set_index(["id", "t"])
            PanelOLS(panel["y"], panel[["d"]], entity_effects=True, time_effects=True).fit(
                cov_type="clustered", cluster_entity=True
            )
        return
    if tool == "ipf_eval":
        import ipf_eval

        res = ipf_eval.att_gt(data, yname="y", tname="t", idname="id", gname="g", covariates=covs,
                              est_method="dr", bootstrap=boot, n_boot=999, seed=1)
        ipf_eval.aggregate(res, kind="dynamic")
    elif tool == "diff_diff":
        from diff_diff import CallawaySantAnna

        est = CallawaySantAnna(estimation_method="dr", n_bootstrap=999 if boot else 0, cband=boot, seed=1)
        res = est.fit(data, outcome="y", unit="id", time="t", first_treat="g", covariates=covs)
        res.aggregate("event_study") if hasattr(res, "aggregate") else None
    elif tool == "csdid":
        from csdid.att_gt import ATTgt

        att = ATTgt(yname="y", tname="t", idname="id", gname="g", data=data,
                    xformla="y ~ x" if covs else None, cband=boot, biters=999)
        att.fit(est_method="dr", bstrap=boot)
        att.aggte(typec="dynamic")
    else:  # pragma: no cover - guarded by argparse choices
        raise SystemExit(f"unknown tool {tool!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    tools = ["ipf_eval", "diff_diff", "csdid", "pyfixest", "linearmodels"]
    parser.add_argument("--tool", required=True, choices=tools)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    data = pd.read_parquet(args.data)
    warnings.simplefilter("ignore")
    _run(args.tool, args.scenario, data[data["id"] < 500].reset_index(drop=True))
    before = _maxrss_mib()
    start = time.perf_counter()
    _run(args.tool, args.scenario, data)
    seconds = time.perf_counter() - start
    after = _maxrss_mib()
    print(json.dumps({"seconds": seconds, "peak_mib": after, "extra_mib": max(0.0, after - before)}))


if __name__ == "__main__":
    main()
