"""Benchmark: `riskcard build` — a full 14-day rebuild and a daily incremental build.

Generates a synthetic nation (forecast.synth) with 15 days of pings, split into one ping part per
local day. Then, in one run:
  * full rebuild: the first 14 days, cold cache (every part read, stays and city-days computed);
  * daily build: the 15th day's part arrives, the build reads only it and redoes the cheap steps;
  * reference: pyarrow's raw read of that one part (no checks), to quote the daily build as a ratio.
Each build runs in a child process, so its peak memory (``full_rebuild_peak_mb``,
``daily_build_peak_mb``) is the build's own, not the generator's or this harness's.

    .venv/bin/python benchmarks/build.py                 # 30,000 subscribers
    .venv/bin/python benchmarks/build.py --quick         # 3,000 subscribers, under a minute
    .venv/bin/python benchmarks/build.py --subscribers 200000

The per-1M-subscriber figure is a linear extrapolation from the measured run (labelled as such).
The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.synth import NationConfig, generate_nation_to_dir  # noqa: E402
from miniapp.build import BuildParams, run_build  # noqa: E402

KEY = b"benchmark-key-not-secret-000000"


def split_days(pings_file: Path, out_dir: Path, batch_rows: int = 2_000_000) -> list[Path]:
    """One part per local day (the ts text carries the local offset, so its first 10 chars are the day),
    streamed in batches so the whole feed is never in memory."""
    writers: dict[str, pq.ParquetWriter] = {}
    source = pq.ParquetFile(pings_file)
    try:
        for batch in source.iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([batch])
            day = pc.utf8_slice_codeunits(table["ts"], 0, 10)
            for d in pc.unique(day).to_pylist():
                if d not in writers:
                    writers[d] = pq.ParquetWriter(out_dir / f"part-{d}.parquet", table.schema)
                writers[d].write_table(table.filter(pc.equal(day, d)))
    finally:
        for w in writers.values():
            w.close()
    return [out_dir / f"part-{d}.parquet" for d in sorted(writers)]


def _build_in_child(feeds: Path, as_of: str, out: Path, params: BuildParams) -> tuple[dict, float, float]:
    """run_build in this (child) process: (summary, seconds, peak RSS in MB)."""
    t = time.perf_counter()
    summary = run_build(feeds, as_of, out, pseudonym_key=KEY, params=params, progress=False, log=lambda _m: None)
    elapsed = time.perf_counter() - t
    # VmHWM, not ru_maxrss: ru_maxrss survives fork+exec and would report the parent's peak.
    status = Path("/proc/self/status").read_text()
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return summary, elapsed, hwm_kb / 1024


def build_measured(feeds: Path, as_of: str, out: Path, params: BuildParams) -> tuple[dict, float, float]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_build_in_child, feeds, as_of, out, params).result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--cities", type=int, default=None)
    args = ap.parse_args()
    n_subs = args.subscribers or (3_000 if args.quick else 30_000)
    n_cities = args.cities or (3 if args.quick else 6)
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
        out = tmp / "out"
        full, full_s, full_mb = build_measured(feeds, as_full, out, params)

        t = time.perf_counter()
        raw = pq.read_table(last).to_pandas()
        raw_read_s = time.perf_counter() - t
        pings_per_day = len(raw)
        del raw
        last.rename(feeds / "pings" / last.name)
        as_daily = (pd.Timestamp(last_day) + pd.Timedelta(days=1)).date().isoformat()
        daily, daily_s, daily_mb = build_measured(feeds, as_daily, out, params)
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
        "full_rebuild_peak_mb": round(full_mb),
        "daily_build_peak_mb": round(daily_mb),
        "harness_max_rss_mb": round(rss_mb),
        "stays": full["stays"],
        "warnings": daily["warnings"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
