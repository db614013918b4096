"""Benchmark: community look-ups under gunicorn against a bare Flask endpoint, same config, same run.

Serves the real app (``miniapp.wsgi:app``) with the production gunicorn config
(``miniapp/gunicorn_conf.py``; ``RISKCARD_GUNICORN_*`` variables) over a published fixture snapshot
with 5,000 extra communities (``tests/miniapp/snapshot_fixture.py``), and beside it a bare Flask
app (one route returning a small JSON) under the very same config. The load generator
(``benchmarks/_load.py``, asyncio, keep-alive) runs in another process.

Figures:

* ``throughput_ratio_vs_bare`` — closed-loop requests/s of community look-ups (``GET
  /api/v1/communities/<id>`` and ``GET /community/<id>`` pages in turn, ids drawn over the whole
  snapshot by a Zipf popularity law, see :func:`lookup_paths`) divided by the bare endpoint's, rounds interleaved (bare, app, bare, app, ...), the
  median of the per-round ratios. 64 keep-alive clients by default: enough to keep every gunicorn
  thread busy, so the figure is throughput and not round-trip latency. Target >= 0.7.
* ``cpu_throughput_ratio_vs_bare`` — the same comparison by the servers' own CPU time per answered
  request (user + system of the gunicorn master and workers, from /proc): the capacity ratio when
  the server has the cores to itself. On a shared machine, requests/s follow how much CPU the
  other tenants leave; CPU time per request does much less, so both are reported.
* ``p99_ms_at_1000`` — p99 latency of the same look-ups at 1,000 requests/s open loop (latency
  from each request's due time: no coordinated omission). Target < 25 ms.

Usage::

    python benchmarks/serve.py            # 5 throughput rounds of 6 s each, 20 s at 1,000 requests/s
    python benchmarks/serve.py --quick    # 3 rounds of 2.5 s each, 6 s at 1,000 requests/s (under a minute)

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _load import run_in_process, free_port, wait_ready  # noqa: E402

TARGET_RATIO = 0.7
TARGET_P99_MS = 25.0
EXTRA_COMMUNITIES = 5000
BARE_APP = '''
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping():
    return jsonify({"ok": True, "name": "bare"})


@app.get("/healthz")
def healthz():
    return "ok"
'''






def _gunicorn(app: str, port: int, env: dict, cwd: Path) -> subprocess.Popen:
    env = {**env, "RISKCARD_GUNICORN_BIND": f"127.0.0.1:{port}"}
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf", app],
                            cwd=cwd, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def server_cpu_s(master_pid: int) -> float:
    """CPU seconds (user + system) used so far by a gunicorn master and its workers, live or ended (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == master_pid:  # its own time and that of the workers it has reaped (max_requests restarts)
            total += sum(int(f) for f in fields[11:15]) / tick
        elif ppid == master_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measured(master_pid: int, run) -> dict:
    """Run ``run()`` (a load-generator call) and add the server's CPU milliseconds per answered request."""
    before = server_cpu_s(master_pid)
    result = run()
    used = server_cpu_s(master_pid) - before
    result["server_cpu_ms_per_request"] = round(used * 1000 / result["ok"], 3) if result["ok"] else None
    return result


def response_cache_counts(metrics_port: int) -> dict:
    """Response-cache hits and misses over the whole run, from the app's internal metrics listener."""
    import http.client

    from prometheus_client.parser import text_string_to_metric_families

    out = {"hit": 0.0, "miss": 0.0}
    for _ in range(50):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        return out
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "riskcard_response_cache_total":
                out[sample.labels["result"]] += sample.value
    return out


def lookup_paths(community_ids: list[int], n: int = 4000, zipf_s: float = 1.1, seed: int = 7) -> list[str]:
    """API look-ups and community pages in turn, for ids drawn by popularity.

    Look-ups are not uniform: a few communities (large, or in the news) get most of them. Ids are
    ranked at random and drawn with probability proportional to ``1 / rank ** zipf_s``, so every
    community can come up while the popular ones come up often (the store's cache sees both).
    """
    rng = random.Random(seed)
    ranked = list(community_ids)
    rng.shuffle(ranked)
    weights = [1.0 / (rank + 1) ** zipf_s for rank in range(len(ranked))]
    ids = rng.choices(ranked, weights=weights, k=n // 2)
    return [p for cid in ids for p in (f"/api/v1/communities/{cid}", f"/community/{cid}")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter rounds, under a minute")
    ap.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the production config)")
    ap.add_argument("--app", default="miniapp.wsgi:app", help="WSGI app to measure (to try a variant; PYTHONPATH applies)")
    ap.add_argument("--connections", type=int, default=64,
                    help="closed-loop clients (enough to keep every gunicorn thread busy: throughput, not latency)")
    args = ap.parse_args(argv)
    from tests.miniapp.snapshot_fixture import COMMUNITIES, TEST_KEY, publish_fixture

    rounds, round_s, open_s = (3, 2.5, 6.0) if args.quick else (5, 6.0, 20.0)
    with tempfile.TemporaryDirectory(prefix="riskcard-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        t = time.perf_counter()
        snapshots = publish_fixture(tmp / "snapshots", extra_communities=EXTRA_COMMUNITIES)
        build_s = time.perf_counter() - t
        (tmp / "bare_app.py").write_text(BARE_APP)
        app_port, bare_port = free_port(), free_port()
        env = {**os.environ, "RISKCARD_SNAPSHOT_DIR": str(snapshots), "RISKCARD_STATE_URL": f"sqlite:///{tmp}/state.db",
               "RISKCARD_PSEUDONYM_KEY": TEST_KEY.hex(), "RISKCARD_SECRET_KEY": "s" * 48,
               "RISKCARD_SIGNING_KEY_DIR": f"{tmp}/keys", "RISKCARD_PUBLIC_URL": f"http://127.0.0.1:{app_port}",
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp), *filter(None, [os.environ.get("PYTHONPATH")])])}
        if args.workers:
            env["RISKCARD_GUNICORN_WORKERS"] = str(args.workers)
        ids = [c[0] for c in COMMUNITIES] + [1000 + i for i in range(EXTRA_COMMUNITIES)]
        paths = lookup_paths(ids)
        metrics_port = free_port()  # the app runs with its metrics on, as in production (docs/observability.md)
        app_srv = _gunicorn(args.app, app_port, {**env, "RISKCARD_METRICS_PORT": str(metrics_port)}, ROOT)
        bare_srv = _gunicorn("bare_app:app", bare_port, env, ROOT)
        try:
            wait_ready(app_port)
            wait_ready(bare_port)
            # warm-up: imports, templates, connections, the OS page cache of the snapshot
            run_in_process("closed", app_port, paths, 1.5 if args.quick else 4.0, connections=args.connections)
            run_in_process("closed", bare_port, ["/ping"], 1.0, connections=args.connections)
            bare_runs, app_runs = [], []
            for _ in range(rounds):
                bare_runs.append(measured(bare_srv.pid, lambda: run_in_process(
                    "closed", bare_port, ["/ping"], round_s, connections=args.connections)))
                app_runs.append(measured(app_srv.pid, lambda: run_in_process(
                    "closed", app_port, paths, round_s, connections=args.connections)))
                print(json.dumps({"bare": bare_runs[-1], "lookups": app_runs[-1]}), flush=True)
            at1000 = run_in_process("open", app_port, paths, open_s, rate=1000.0)
            print(json.dumps({"open_loop_lookups_at_1000": at1000}), flush=True)
            bare_at1000 = run_in_process("open", bare_port, ["/ping"], min(open_s, 4.0), rate=1000.0)
            print(json.dumps({"open_loop_bare_at_1000": bare_at1000}), flush=True)
            cache = response_cache_counts(metrics_port)
        finally:
            _stop(app_srv)
            _stop(bare_srv)
    ratios = [a["achieved_rps"] / b["achieved_rps"] for a, b in zip(app_runs, bare_runs) if b["achieved_rps"]]
    ratio = round(statistics.median(ratios), 3) if ratios else None
    errors = sum(r["errors"] for r in app_runs + bare_runs) + at1000["errors"]
    cpu_app = statistics.median(r["server_cpu_ms_per_request"] for r in app_runs)
    cpu_bare = statistics.median(r["server_cpu_ms_per_request"] for r in bare_runs)
    result = {
        "throughput_ratio_vs_bare": ratio,
        "p99_ms_at_1000": at1000["p99_ms"],
        "p50_ms_at_1000": at1000["p50_ms"],
        "achieved_rps_at_1000": at1000["achieved_rps"],
        "lookup_rps": round(statistics.median(r["achieved_rps"] for r in app_runs), 1),
        "bare_rps": round(statistics.median(r["achieved_rps"] for r in bare_runs), 1),
        "bare_p99_ms_at_1000": bare_at1000["p99_ms"],
        "server_cpu_ms_per_lookup": cpu_app,
        "server_cpu_ms_per_bare": cpu_bare,
        "cpu_throughput_ratio_vs_bare": round(cpu_bare / cpu_app, 3) if cpu_app else None,
        "ratios_by_round": [round(r, 3) for r in ratios],
        "response_cache_hit_share": round(cache["hit"] / max(1.0, cache["hit"] + cache["miss"]), 3),
        "metrics_on": True,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "errors": errors,
        "communities": len(ids),
        "snapshot_build_s": round(build_s, 1),
        "target_ratio": TARGET_RATIO,
        "target_p99_ms": TARGET_P99_MS,
        "met": bool(ratio is not None and ratio >= TARGET_RATIO and at1000["p99_ms"] < TARGET_P99_MS and errors == 0),
        "quick": args.quick,
    }
    if args.app != "miniapp.wsgi:app":
        result["app"] = args.app
    print(json.dumps(result))


if __name__ == "__main__":
    main()
