"""Scale-out benchmark: the engine steps on a Dask LocalCluster with 1 and 2 workers, and memory under a limit.

    .venv/bin/python benchmarks/scale.py            # full: ~34M pings for speed, ~136M (>= 8 GB raw) for memory
    .venv/bin/python benchmarks/scale.py --quick    # under a minute, same keys

What is timed: the distributed engine steps of a build (miniapp.pipeline.cluster.executor.DaskExecutor): ingest
(validation + pseudonymisation of raw Parquet pings), repartition by pseudonym hash, stays and
city-days, itineraries, flows, companion search. Not timed: generating the data, starting the cluster,
the forecast and the SQLite snapshot (they do not depend on the number of subscribers' pings).

Data: one synthetic nation from forecast.synth (14 days), its pings split by subscriber into parts and
replicated with other phone numbers (replica r adds r * 10^6 to every number), so any size is reached
quickly with realistic pings. Peak memory per worker is each worker process's peak RSS (getrusage);
the raw pings' in-memory size is pandas' deep memory usage of the raw feed, measured on one part.
The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.synth import NationConfig, generate_nation_to_dir  # noqa: E402
from miniapp.pipeline import (BuildContext, BuildParams, CompanionResult, DaskExecutor, dask_client,  # noqa: E402
                              list_feed_folder, parse_bytes)
from miniapp.pipeline.inputs import read_reference_feeds  # noqa: E402

KEY = b"riskcard-benchmark-scale-key-001"
AS_OF = "2020-02-01"
REFERENCE = ("cities", "communities", "cells", "cases", "case_trips", "city_cases")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_base(work: Path, n_subscribers: int) -> Path:
    base = work / "base"
    if not (base / "truth" / "summary.json").is_file():
        shutil.rmtree(base, ignore_errors=True)
        generate_nation_to_dir(NationConfig(n_cities=6, n_subscribers=n_subscribers, n_days=14, as_of=AS_OF), KEY,
                               base, progress=False)
    return base


def make_feeds(base: Path, out: Path, replicas: int, chunks: int) -> dict:
    """Feeds with ``replicas`` copies of the base pings (other numbers), each cut into ``chunks`` parts."""
    if (out / "done.json").is_file():
        return json.loads((out / "done.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    (out / "pings").mkdir(parents=True)
    for name in REFERENCE:
        shutil.copy(base / f"{name}.parquet", out / f"{name}.parquet")
    table = pq.read_table(base / "pings.parquet")
    digits = pc.cast(pc.utf8_slice_codeunits(table["msisdn"], 3), pa.int64())  # "+86" + 11 digits
    lo, hi = pc.min_max(digits).values()
    bounds = [lo.as_py() + (hi.as_py() - lo.as_py() + 1) * i // chunks for i in range(chunks + 1)]
    rows = 0
    for r in range(replicas):
        number = pc.add(digits, r * 1_000_000)
        msisdn = pc.binary_join_element_wise("+86", pc.cast(number, pa.string()), "")
        t = table.set_column(table.schema.get_field_index("msisdn"), "msisdn", msisdn)
        for c in range(chunks):
            mask = pc.and_(pc.greater_equal(digits, bounds[c]), pc.less(digits, bounds[c + 1]))
            part = t.filter(mask)
            pq.write_table(part, out / "pings" / f"part-{r:03d}-{c:02d}.parquet", row_group_size=500_000)
            rows += part.num_rows
    sample = pq.read_table(out / "pings" / "part-000-00.parquet").to_pandas()
    info = {"pings": rows, "parts": replicas * chunks,
            "raw_bytes_per_ping": float(sample.memory_usage(deep=True).sum() / max(1, len(sample)))}
    (out / "done.json").write_text(json.dumps(info))
    return info


def run_engine(client, feeds: Path, work: Path, params: BuildParams) -> dict:
    """The distributed engine steps on ``feeds`` from scratch; seconds per step."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    folder = list_feed_folder(feeds)
    ref, _, _ = read_reference_feeds(folder, KEY, params.tz)
    pids = client.run(_warm)
    assert os.getpid() not in pids.values() and len(set(pids.values())) == len(pids)  # worker processes
    ex = DaskExecutor(client, collect=False)
    t = {}
    t0 = time.perf_counter()
    info = ex.ingest(folder.ping_parts, ref["cells"], work / "cache", KEY, params, progress=False, quarantine_dir=work / "q")
    t["ingest_stays_s"] = time.perf_counter() - t0
    ctx = BuildContext(AS_OF, params, ref)
    for name in ("itineraries", "flows", "companions"):
        t1 = time.perf_counter()
        result = ex.steps[name](ctx)
        rows = len(result.exposure if isinstance(result, CompanionResult) else result)
        t[f"{name}_s"] = time.perf_counter() - t1
        t[f"{name}_rows"] = rows
    t["total_s"] = time.perf_counter() - t0
    t["pings_in"] = info["pings_in"]
    t["n_buckets"], t["batch_rows"] = ex.plan.n_buckets, ex.plan.batch_rows
    t["companion_groups"] = ex.timings.get("companion_groups")
    t["pings_per_s"] = info["pings_in"] / t["total_s"]
    return t


def _peak_rss() -> int:
    """This process's peak resident memory (VmHWM), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _warm() -> int:
    import forecast.contacts  # noqa: F401  (imports are not the engine's cost)
    import forecast.feeds  # noqa: F401
    import miniapp.pipeline.run  # noqa: F401

    return os.getpid()


def worker_peaks(client) -> list[int]:
    return sorted(client.run(_peak_rss).values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--work", default=None, help="Work directory (default: a directory under /tmp)")
    ap.add_argument("--worker-memory", default="2GB")
    ap.add_argument("--keep", action="store_true", help="Keep the generated feeds")
    ap.add_argument("--only", choices=("speed", "memory"), default=None,
                    help="Run one half (the other's keys are null)")
    a = ap.parse_args()
    work = Path(a.work or f"/tmp/riskcard-scale-{'quick' if a.quick else 'full'}")
    work.mkdir(parents=True, exist_ok=True)
    limit = parse_bytes(a.worker_memory)
    # quick: 2k subscribers (~0.85M pings) x 2; full: 20k (~8.5M) x 4 for speed, x 16 (~136M) for memory
    subs, speed_rep, mem_rep, chunks = (2_000, 2, 4, 4) if a.quick else (20_000, 4, 16, 4)
    params = replace(BuildParams(), n_members=20)
    t0 = time.perf_counter()
    base = make_base(work, subs)
    speed = make_feeds(base, work / "feeds-speed", speed_rep, chunks)
    mem = make_feeds(base, work / "feeds-mem", mem_rep, chunks)
    log(f"data ready in {time.perf_counter() - t0:.0f} s: speed {speed['pings']:,} pings, memory {mem['pings']:,} "
        f"pings ({mem['pings'] * mem['raw_bytes_per_ping'] / 1e9:.1f} GB raw in memory)")
    load_before = os.getloadavg()[0]
    runs = {}
    for n in (1, 2) if a.only != "memory" else ():
        with dask_client(workers=n, worker_memory=a.worker_memory, local_directory=work / "spill") as client:
            runs[n] = run_engine(client, work / "feeds-speed", work / f"out-speed-{n}", params)
        log(f"{n} worker(s): {runs[n]['pings_per_s']:,.0f} pings/s ({runs[n]['total_s']:.1f} s)")
    big, peaks, restarted = {}, [None], None
    if a.only != "speed":
        with dask_client(workers=2, worker_memory=a.worker_memory, local_directory=work / "spill") as client:
            before = set(client.scheduler_info()["workers"])
            big = run_engine(client, work / "feeds-mem", work / "out-mem", params)
            peaks = worker_peaks(client)
            restarted = before != set(client.scheduler_info()["workers"])
        log(f"memory run: {big['pings_in']:,} pings in {big['total_s']:.0f} s, worker peaks {[p / 1e9 for p in peaks]} GB")
    client_peak = _peak_rss()
    if not a.keep:
        for d in ("out-speed-1", "out-speed-2", "out-mem"):
            shutil.rmtree(work / d, ignore_errors=True)
    sp = runs.get(1) and runs.get(2)

    def steps(run):
        return {k: round(v, 2) for k, v in run.items() if k.endswith("_s")} if run else None

    result = {
        "quick": a.quick, "only": a.only,
        "pings_speed": speed["pings"], "pings_memory": mem["pings"],
        "raw_bytes_per_ping": round(mem["raw_bytes_per_ping"], 1),
        "memory_dataset_raw_bytes": int(mem["pings"] * mem["raw_bytes_per_ping"]),
        "worker_memory_limit_bytes": limit,
        "dataset_over_limit": round(mem["pings"] * mem["raw_bytes_per_ping"] / limit, 2),
        "pings_per_s_1_worker": round(runs[1]["pings_per_s"]) if sp else None,
        "pings_per_s_2_workers": round(runs[2]["pings_per_s"]) if sp else None,
        "speedup_2_workers": round(runs[2]["pings_per_s"] / runs[1]["pings_per_s"], 3) if sp else None,
        "steps_1_worker_s": steps(runs.get(1)), "steps_2_workers_s": steps(runs.get(2)),
        "memory_run_s": round(big["total_s"], 1) if big else None,
        "memory_run_pings_per_s": round(big["pings_per_s"]) if big else None,
        "memory_run_steps_s": steps(big),
        "n_buckets": big.get("n_buckets"), "batch_rows": big.get("batch_rows"),
        "companion_groups": big.get("companion_groups"),
        "peak_worker_bytes": max(peaks) if peaks[0] is not None else None, "peak_worker_bytes_all": peaks,
        "worker_restarted": restarted,
        "client_peak_bytes": int(client_peak),
        "itinerary_rows": big.get("itineraries_rows"), "exposure_rows": big.get("companions_rows"),
        "load_avg_1min_before": round(load_before, 2), "load_avg_1min_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
