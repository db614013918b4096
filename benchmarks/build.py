"""Benchmark: `riskcard build` — a full 14-day rebuild and a daily incremental build.

Generates a synthetic nation (forecast.synth) with 15 days of pings, split into one ping part per
local day. Then, in one run:
  * full rebuild: the first 14 days, cold cache (every part read, stays and city-days computed);
  * daily build: the 15th day's part arrives, the build reads only it and redoes the cheap steps;
  * reference: pyarrow's raw read of that one part (no checks), to quote the daily build as a ratio.
Steps whose engine module does not exist yet (forecast.flows, forecast.grades) are replaced by
trivial stand-ins and listed in "stubbed_steps".

    .venv/bin/python benchmarks/build.py                 # 30,000 subscribers
    .venv/bin/python benchmarks/build.py --quick         # 3,000 subscribers, under a minute
    .venv/bin/python benchmarks/build.py --subscribers 200000

The per-1M-subscriber figure is a linear extrapolation from the measured run (labelled as such).
The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.synth import NationConfig, generate_nation_to_dir  # noqa: E402
from miniapp.build import BuildParams, run_build  # noqa: E402

KEY = b"benchmark-key-not-secret-000000"


def stub_flows(ctx):
    return pd.DataFrame({"local_date": pd.Series([], dtype="datetime64[s]"), "origin": pd.Series([], dtype="int64"),
                         "destination": pd.Series([], dtype="int64"), "trips": pd.Series([], dtype="int64")})


def stub_grades(ctx):
    c = ctx["feeds"]["communities"]
    score = np.zeros(len(c))
    return pd.DataFrame({"community_id": c["community_id"], "score": score, "grade": "slight", "lo": score,
                         "hi": score, "reasons": None})


def split_days(pings_file: Path, out_dir: Path) -> list[Path]:
    """One part per local day (the ts text carries the local offset, so its first 10 chars are the day)."""
    table = pq.read_table(pings_file)
    day = pc.utf8_slice_codeunits(table["ts"], 0, 10)
    parts = []
    for d in sorted(pc.unique(day).to_pylist()):
        path = out_dir / f"part-{d}.parquet"
        pq.write_table(table.filter(pc.equal(day, d)), path)
        parts.append(path)
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--cities", type=int, default=None)
    args = ap.parse_args()
    n_subs = args.subscribers or (3_000 if args.quick else 30_000)
    n_cities = args.cities or (3 if args.quick else 6)
    steps, stubbed = {}, []
    for step, module, fn in (("flows", "forecast.flows", stub_flows), ("grades", "forecast.grades", stub_grades)):
        if importlib.util.find_spec(module) is None:
            steps[step] = fn
            stubbed.append(step)
    params = replace(BuildParams(), n_members=50)
    with tempfile.TemporaryDirectory(prefix="riskcard-bench-build-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        generate_nation_to_dir(NationConfig(n_cities=n_cities, n_subscribers=n_subs, n_days=15, as_of="2020-02-02",
                                            epidemic_days=40), KEY, tmp / "gen", progress=False)
        gen_s = time.perf_counter() - t
        feeds = tmp / "feeds"
        (feeds / "pings").mkdir(parents=True)
        for p in (tmp / "gen").glob("*.parquet"):
            if p.name != "pings.parquet":
                p.rename(feeds / p.name)
        parts = split_days(tmp / "gen" / "pings.parquet", tmp)
        (tmp / "gen" / "pings.parquet").unlink()
        first_days, last = parts[:-1], parts[-1]
        for p in first_days:
            p.rename(feeds / "pings" / p.name)
        last_day = last.stem.removeprefix("part-")
        prev_day = first_days[-1].stem.removeprefix("part-")
        as_full = (pd.Timestamp(prev_day) + pd.Timedelta(days=1)).date().isoformat()
        quiet = lambda _m: None  # noqa: E731
        out = tmp / "out"

        t = time.perf_counter()
        full = run_build(feeds, as_full, out, pseudonym_key=KEY, params=params, steps=steps, progress=False, log=quiet)
        full_s = time.perf_counter() - t

        t = time.perf_counter()
        raw = pq.read_table(last).to_pandas()
        raw_read_s = time.perf_counter() - t
        pings_per_day = len(raw)
        del raw
        last.rename(feeds / "pings" / last.name)
        as_daily = (pd.Timestamp(last_day) + pd.Timedelta(days=1)).date().isoformat()
        t = time.perf_counter()
        daily = run_build(feeds, as_daily, out, pseudonym_key=KEY, params=params, steps=steps, progress=False, log=quiet)
        daily_s = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "subscribers": n_subs,
        "cities": n_cities,
        "pings_per_day": pings_per_day,
        "full_rebuild_s": round(full_s, 2),
        "full_rebuild_days": len(first_days),
        "daily_build_s": round(daily_s, 2),
        "daily_parts_processed": daily["ping_parts_processed"],
        "daily_parts_cached": daily["ping_parts_cached"],
        "daily_build_step_s": daily["timings_s"],
        "raw_read_one_day_s": round(raw_read_s, 3),
        "daily_build_vs_raw_read": round(daily_s / raw_read_s, 1),
        "snapshot_bytes": daily["snapshot_bytes"],
        "snapshot_bytes_per_subscriber": round(daily["snapshot_bytes"] / n_subs, 1),
        "daily_build_s_per_1m_subscribers_extrapolated": round(daily_s * 1_000_000 / n_subs, 1),
        "full_rebuild_s_per_1m_subscribers_extrapolated": round(full_s * 1_000_000 / n_subs, 1),
        "generate_s": round(gen_s, 1),
        "stubbed_steps": stubbed,
        "max_rss_mb": round(rss_mb),
        "stays": full["stays"],
        "warnings": daily["warnings"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
