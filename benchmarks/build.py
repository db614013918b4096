"""Benchmark: `riskcard build` — a full 14-day rebuild and a daily incremental build.

Generates a synthetic nation (forecast.synth) with 15 days of pings, written straight into one ping
part per local day (``generate_nation_to_dir(pings_by_day=True, truth=False)``: memory does not grow
with the days, and the truth tables the build never reads are skipped). Then, in one run:
  * full rebuild: the first 14 days, cold cache (every part read, stays and city-days computed);
  * daily build: the 15th day's part arrives, the build reads only it and redoes the cheap steps;
  * reference: pyarrow's read of that one part into an Arrow table (no checks, no pandas), to quote
    the daily build as a ratio.
Generation and each build run in a child process, so their peak memory (``generate_peak_mb``,
``full_rebuild_peak_mb``, ``daily_build_peak_mb``) is their own, not this harness's.

Outbreak presets (``--outbreak``), both transmission_per_hour 0.014, ascertainment 0.7, 40 epidemic days:
  * ``realistic`` (default): one imported seed per 5,000 subscribers, the same spread. Measured
    share of subscribers confirmed inside the 15-day ping window (6 cities): 0.25 % at 30k, 0.40 % at
    100k, 0.33 % at 300k, 0.39 % at 1M (0.41 % by as_of and 0.037 % on the window's last day at 300k).
    Reference, Wuhan 2020: 11.08M residents (end of 2019); 49,973 confirmed cases reported up to
    18 March 2020, 25,619 of them between 23 January and 4 February, the 13 days around the peak
    (0.23 % of residents), with a peak of 3,374 new cases on 1 February (0.03 % a day) (Wang et al.,
    Respiratory Research 21:257, 2020, from the Hubei surveillance system).
  * ``synth-default``: NationConfig's default, one seed per 500 subscribers: 2.8 % confirmed in the
    window at 100k, 3.1 % at 300k, 3.5 % at 1M (4.4 % by as_of, 0.37 % on the last day), about ten
    times Wuhan's rate; the companion step's work is per case, so this is the pessimistic setting of
    the first runs.
Communities (one cell each) keep about ``--residents-per-community`` residents (default 2,000: 8 per
city, the old fixed number, below 108,000 subscribers in 6 cities; more above), so a case's companions
(a night at home shares the community's cell) do not grow tenfold with a tenfold nation.

    .venv/bin/python benchmarks/build.py                 # 30,000 subscribers
    .venv/bin/python benchmarks/build.py --quick         # 3,000 subscribers, under a minute
    .venv/bin/python benchmarks/build.py --subscribers 300000 --outbreak synth-default
    .venv/bin/python benchmarks/build.py --subscribers 1000000 --ping-interval-minutes 5 34 \\
        --keep /work/bench-1m                            # ~50 pings a subscriber-day; feeds kept for reruns
    .venv/bin/python benchmarks/build.py ... --keep DIR --generate-only   # generate (or check) only

``--pingpong RATE``: radio ping-pong in the feeds (benchmarks/engine_pings.py, the generator of
``benchmarks/engine.py --pingpong``): every cell gets 1-3 companion cells within 100 m (sectors and
nearby towers, added to ``cells.parquet``) and each day's pings are re-served among a site's cells
so that the stream switches cell at RATE (``pingpong_switch_rate_measured``: on the last day's first
2M rows, in feed order, which is subscriber after subscriber). Written once next to the generated
feeds (``gen-pingpong-RATE``) and reused with ``--keep``.

``--keep DIR``: the generated feeds live in ``DIR/gen`` and are reused by a later run with the same
nation (same subscribers, cities, outbreak, ping interval); each run builds from hard links to them in a
temporary directory under DIR, so a build (retention deletes old parts) never changes the kept copy.
The per-1M-subscriber figures are linear extrapolations from the measured run (labelled as such).
The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.synth import NationConfig, generate_nation_to_dir  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_pings import pingpong_cells, pingpong_network  # noqa: E402
from miniapp.pipeline import BuildParams
from miniapp.pipeline import LocalExecutor
from miniapp.pipeline import run_build  # noqa: E402

KEY = b"benchmark-key-not-secret-000000"
SUBSCRIBERS_PER_SEED = {"realistic": 5_000, "synth-default": 500}  # synth-default: NationConfig's own rule


def nation_config(n_subscribers: int, n_cities: int, outbreak: str, residents_per_community: int,
                  ping_interval_minutes: tuple[int, int]) -> NationConfig:
    """The benchmark's nation: 15 days of pings before 2020-02-02, the outbreak preset, communities of
    about ``residents_per_community`` (at least 8 per city), 3 POIs per 4 communities (at least 6)."""
    cpc = max(8, n_subscribers // (n_cities * residents_per_community))
    return NationConfig(n_cities=n_cities, n_subscribers=n_subscribers, n_days=15, as_of="2020-02-02",
                        epidemic_days=40, communities_per_city=cpc, pois_per_city=max(6, cpc * 3 // 4),
                        seed_infections=max(3, n_subscribers // SUBSCRIBERS_PER_SEED[outbreak]),
                        ping_interval_minutes=tuple(ping_interval_minutes))


def _peak_mb() -> float:
    # VmHWM, not ru_maxrss: ru_maxrss survives fork+exec and would report the parent's peak.
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def _generate_in_child(cfg: NationConfig, out: Path) -> tuple[dict, float, float]:
    t = time.perf_counter()
    paths = generate_nation_to_dir(cfg, KEY, out, progress=False, pings_by_day=True, truth=False)
    elapsed = time.perf_counter() - t
    return json.loads(paths["summary"].read_text()), elapsed, _peak_mb()


def _build_in_child(feeds: Path, as_of: str, out: Path, params: BuildParams, processes: int) -> tuple:
    """run_build in this (child) process: (summary, seconds, peak RSS in MB, largest pool worker's peak in MB,
    ping parts read side by side)."""
    t = time.perf_counter()
    ex = LocalExecutor(processes=processes)
    summary = run_build(feeds, as_of, out, pseudonym_key=KEY, params=params, progress=False, log=lambda _m: None,
                        executor=ex)
    return summary, time.perf_counter() - t, _peak_mb(), ex.worker_peak_bytes / 2**20, ex.part_reads_at_once


def _read_in_child(part: Path) -> tuple[int, float, float]:
    t = time.perf_counter()
    rows = pq.read_table(part).num_rows
    return rows, time.perf_counter() - t, _peak_mb()


def in_child(fn, *args):
    """``fn(*args)`` in a fresh (spawned) process, so its peak memory is its own."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def generated(cfg: NationConfig, gen: Path) -> dict:
    """The generation record of ``gen`` (config, summary, seconds, peak MB), generating it unless a
    finished generation of the same config is there already."""
    record_path = gen / "benchmark_generation.json"
    want = json.loads(json.dumps(asdict(cfg)))
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record["config"] == want:
            return {**record, "reused": True}
    if gen.exists():
        shutil.rmtree(gen)
    summary, seconds, peak_mb = in_child(_generate_in_child, cfg, gen)
    record = {"config": want, "summary": summary, "generate_s": round(seconds, 1), "generate_peak_mb": round(peak_mb)}
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False))  # written last: marks it complete
    return {**record, "reused": False}


def with_pingpong(gen: Path, out: Path, rate: float) -> dict:
    """A copy of the feeds in ``gen`` with radio ping-pong at ``rate`` in ``out`` (reused when it
    is complete): companion cells added to the cells, every ping part re-served among them."""
    import numpy as np
    import pyarrow as pa

    record_path = out / "benchmark_pingpong.json"
    source = json.loads((gen / "benchmark_generation.json").read_text())
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record["rate"] == rate and record["source"] == source["config"]:
            return {**record, "reused": True}
    if out.exists():
        shutil.rmtree(out)
    (out / "pings").mkdir(parents=True)
    t = time.perf_counter()
    for p in gen.glob("*.parquet"):
        _link(p, out / p.name)
    (out / "truth").mkdir()
    for p in (gen / "truth").glob("*"):
        _link(p, out / "truth" / p.name)
    (out / "cells.parquet").unlink()
    cells = pd.read_parquet(gen / "cells.parquet")
    full, primary, members, k = pingpong_network(cells)
    full.to_parquet(out / "cells.parquet", index=False)
    rng = np.random.default_rng(21)
    measured = None
    for part in sorted((gen / "pings").glob("part-*.parquet")):
        table = pq.read_table(part)
        cell = table.column("cell_id").to_numpy()
        served = pingpong_cells(cell, rate, rng, full, primary, members, k)
        i = table.schema.get_field_index("cell_id")
        table = table.set_column(i, table.schema.field(i), pa.array(served, pa.int64()))
        pq.write_table(table, out / "pings" / part.name)
        head = min(len(served), 2_000_000)
        who = table.column("msisdn").slice(0, head).to_numpy(zero_copy_only=False)
        same = who[1:] == who[:-1]
        measured = float(np.mean(served[1:head][same] != served[: head - 1][same]))
        del table, cell, served
    record = {"rate": rate, "source": source["config"], "pingpong_s": round(time.perf_counter() - t, 1),
              "pingpong_switch_rate_measured": measured, "cells": int(len(full))}
    record_path.write_text(json.dumps(record, indent=2))
    return {**record, "reused": False}


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=None)
    ap.add_argument("--cities", type=int, default=None)
    ap.add_argument("--outbreak", choices=sorted(SUBSCRIBERS_PER_SEED), default="realistic")
    ap.add_argument("--residents-per-community", type=int, default=2_000)
    ap.add_argument("--ping-interval-minutes", type=int, nargs=2, default=(5, 60), metavar=("LOW", "HIGH"),
                    help="uniform gap between a subscriber's pings; 5 60 gives 30.5 pings a subscriber-day, "
                         "5 34 ~50 (50.4 measured), 5 35 49.1")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated feeds here and reuse them")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                    help="worker processes of the build (riskcard build --processes; default the CPU count)")
    ap.add_argument("--full-processes", type=int, default=None,
                    help="worker processes of the 14-day full rebuild only (default --processes): the rebuild "
                         "reads a part per worker at once, ~9 GB each at 1M subscribers with ping-pong")
    ap.add_argument("--generate-only", action="store_true", help="generate into --keep and stop")
    ap.add_argument("--pingpong", type=float, default=None, metavar="RATE",
                    help="radio ping-pong in the feeds: the stream switches cell at RATE (e.g. 0.7)")
    args = ap.parse_args()
    if args.generate_only and args.keep is None:
        ap.error("--generate-only needs --keep")
    n_subs = args.subscribers or (3_000 if args.quick else 30_000)
    n_cities = args.cities or (3 if args.quick else 6)
    cfg = nation_config(n_subs, n_cities, args.outbreak, args.residents_per_community, args.ping_interval_minutes)
    params = replace(BuildParams(), n_members=50)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="riskcard-bench-build-", dir=args.keep) as tmp:
        tmp = Path(tmp)
        gen = (args.keep or tmp) / "gen"
        record = generated(cfg, gen)
        summary = record["summary"]
        gen_figures = {
            "subscribers": n_subs, "cities": n_cities, "outbreak": args.outbreak,
            "seed_infections": cfg.seed_infections, "communities_per_city": cfg.communities_per_city,
            "ping_interval_minutes": list(cfg.ping_interval_minutes),
            "pings_per_subscriber_day": round(summary["pings_per_subscriber_day"], 2),
            "cases_by_as_of": summary["n_cases"], "cases_in_ping_window": summary["n_cases_in_ping_window"],
            "cases_in_ping_window_share": round(summary["cases_in_ping_window_share"], 5),
            "generate_s": record["generate_s"], "generate_peak_mb": record["generate_peak_mb"],
            "generation_reused": record["reused"],
        }
        if args.pingpong is not None:
            pp = with_pingpong(gen, (args.keep or tmp) / f"gen-pingpong-{args.pingpong}", args.pingpong)
            gen = (args.keep or tmp) / f"gen-pingpong-{args.pingpong}"
            gen_figures.update({"pingpong_rate": args.pingpong, "pingpong_s": pp["pingpong_s"],
                                "pingpong_reused": pp["reused"], "cells": pp["cells"],
                                "pingpong_switch_rate_measured": pp["pingpong_switch_rate_measured"]})
        if args.generate_only:
            print(json.dumps(gen_figures))
            return
        feeds = tmp / "feeds"
        (feeds / "pings").mkdir(parents=True)
        for p in gen.glob("*.parquet"):
            _link(p, feeds / p.name)
        parts = sorted((gen / "pings").glob("part-*.parquet"))
        first_days, last = parts[:-1], parts[-1]
        for p in first_days:
            _link(p, feeds / "pings" / p.name)
        last_day = last.stem.removeprefix("part-")
        prev_day = first_days[-1].stem.removeprefix("part-")
        as_full = (pd.Timestamp(prev_day) + pd.Timedelta(days=1)).date().isoformat()
        out = tmp / "out"
        full, full_s, full_mb, full_workers_mb, full_reads = in_child(_build_in_child, feeds, as_full, out, params,
                                                          args.full_processes or args.processes)

        pings_per_day, raw_read_s, _ = in_child(_read_in_child, last)
        _link(last, feeds / "pings" / last.name)
        as_daily = (pd.Timestamp(last_day) + pd.Timedelta(days=1)).date().isoformat()
        daily, daily_s, daily_mb, daily_workers_mb, _ = in_child(_build_in_child, feeds, as_daily, out, params,
                                                              args.processes)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        **gen_figures,
        "pings_per_day": pings_per_day,
        "full_rebuild_s": round(full_s, 2),
        "full_rebuild_days": len(first_days),
        "daily_build_s": round(daily_s, 2),
        "daily_parts_processed": daily["ping_parts_processed"],
        "daily_parts_cached": daily["ping_parts_cached"],
        "daily_build_step_s": daily["timings_s"],
        "raw_arrow_read_one_day_s": round(raw_read_s, 3),
        "daily_build_vs_raw_arrow_read": round(daily_s / raw_read_s, 1),
        "snapshot_bytes": daily["snapshot_bytes"],
        "snapshot_bytes_per_subscriber": round(daily["snapshot_bytes"] / n_subs, 1),
        "daily_build_s_per_1m_subscribers_extrapolated": round(daily_s * 1_000_000 / n_subs, 1),
        "full_rebuild_s_per_1m_subscribers_extrapolated": round(full_s * 1_000_000 / n_subs, 1),
        "processes": args.processes,
        "full_rebuild_processes": args.full_processes or args.processes,
        "full_rebuild_part_reads_at_once": full_reads,  # bounded by the memory available (LocalExecutor)
        "full_rebuild_peak_mb": round(full_mb),
        "full_rebuild_worker_peak_mb": round(full_workers_mb),
        "daily_build_peak_mb": round(daily_mb),
        "daily_build_worker_peak_mb": round(daily_workers_mb),
        "harness_max_rss_mb": round(rss_mb),
        "stays": full["stays"],
        "warnings": daily["warnings"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
