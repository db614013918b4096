"""Benchmark: fit the metapopulation SEIR to Li et al.'s 375 cities (2020-01-10 .. 02-08, with the
14-day Tencent flow matrix) and make a 30-day ensemble forecast; optionally the province backtest.

Usage: .venv/bin/python benchmarks/seir.py [--quick] [--members N]

The last line of stdout is one JSON object: fit_375_s, forecast_30d_s, reference_s (a fixed numpy
workload timed in the same run) and the ratios to it, plus the province backtest headline figures
(null with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.epidemic import backtest, china2020, fit  # noqa: E402


def reference_workload() -> float:
    """A fixed numpy workload (matrix products of the same size as the fit's flows)."""
    rng = np.random.default_rng(0)
    a, m = rng.random((100, 375)), rng.random((375, 375))
    t0 = time.perf_counter()
    for _ in range(200):
        a = (a @ m) / 375.0
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the province backtest")
    ap.add_argument("--members", type=int, default=300)
    args = ap.parse_args(argv)
    ref = reference_workload()
    daily = china2020.read_li2020_incidence()
    pop = china2020.read_li2020_population().to_numpy(float)
    flows = china2020.read_li2020_mobility()
    t0 = time.perf_counter()
    f = fit.fit_eakf(daily, pop, flows, n_members=args.members)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = fit.forecast_samples(f, 30, flows.mean(axis=0))
    table = fit.quantile_table(f, samples)
    forecast_s = time.perf_counter() - t0
    wuhan = table[(table.region == "Wuhan") & (table.target == "confirmed_daily") & (table["quantile"] == 0.5)]
    print(f"375 cities x {len(daily)} days, {args.members} members: fit {fit_s:.2f} s, "
          f"30-day forecast {forecast_s:.2f} s ({len(table)} rows); Wuhan median day 1: "
          f"{wuhan['value'].iloc[0]:.0f}")
    out = {"fit_375_s": round(fit_s, 3), "forecast_30d_s": round(forecast_s, 3), "reference_s": round(ref, 4),
           "fit_375_vs_reference": round(fit_s / ref, 1), "forecast_30d_vs_reference": round(forecast_s / ref, 1),
           "members": args.members, "relative_wis_vs_persistence": None, "relative_wis_vs_loglinear": None,
           "coverage_50": None, "coverage_95": None, "backtest_s": None}
    if not args.quick:
        t0 = time.perf_counter()
        tasks = backtest.run_backtest(backtest.province_inputs(),
                                      pd.date_range("2020-01-24", "2020-03-10", freq="3D"), 14)
        s = backtest.summarise(tasks)
        out.update({k: round(s[k], 3) for k in ("relative_wis_vs_persistence", "relative_wis_vs_loglinear",
                                                 "coverage_50", "coverage_95")})
        out["backtest_s"] = round(time.perf_counter() - t0, 1)
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
