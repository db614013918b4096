"""Benchmark: the Twilio SMS webhook under gunicorn at a fixed request rate.

Serves the real app (``miniapp.wsgi:app`` with ``miniapp.gunicorn_conf``, the production settings) on
a small published snapshot (``tests/miniapp/snapshot_fixture.py``) and a SQLite state store, then
drives ``POST /sms/inbound`` from a separate load-generator process, open loop: request i is due at
``t0 + i / rate`` whatever happened before, and its latency is measured from that due time, so a slow
server cannot hide its queue (no coordinated omission). Every request carries a valid
X-Twilio-Signature for a distinct fake sender; the messages mix help, risk look-ups (snapshot search),
itinerary requests and consents (state-store writes and an audit entry).

Reference, measured in the same run under the same gunicorn: ``GET /healthz`` at the same rate.

Usage::

    python benchmarks/bot.py            # 100, 200 and 300 requests/s, 30 s each
    python benchmarks/bot.py --quick    # 200 requests/s for 12 s (+ reference), under a minute

The last line of stdout is one JSON object with at least ``p99_ms_at_200``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "ab" * 16
TARGET_P99_MS = 50.0
MESSAGES = ["帮助", "MENU", "风险 bbt", "风险 百步亭", "RISK dtxq", "望京", "行程", "同意", "TRIP", "AGREE"]


# ---- load generator (runs in its own process) ----------------------------------------------------------
def _requests(public_url: str, n: int, path: str) -> list[tuple[str, bytes, dict]]:
    """Pre-built, pre-signed requests so the generator spends its time sending, not hashing."""
    from twilio.request_validator import RequestValidator

    if path != "/sms/inbound":
        return [("GET", b"", {})]
    validator = RequestValidator(AUTH_TOKEN)
    out = []
    for i in range(n):
        number = "+86139" + f"{i % 100_000:08d}"
        params = {"MessageSid": "SM" + f"{i:032x}", "AccountSid": ACCOUNT_SID, "From": number,
                  "To": "+12025550100", "Body": MESSAGES[i % len(MESSAGES)], "NumMedia": "0"}
        sig = validator.compute_signature(public_url + path, params)
        out.append(("POST", urlencode(params).encode(), {"X-Twilio-Signature": sig,
                                                          "Content-Type": "application/x-www-form-urlencoded"}))
    return out


def loadgen(host: str, port: int, path: str, rate: float, duration_s: float, public_url: str,
            connections: int = 48) -> dict:
    """Open-loop load at ``rate`` requests/s for ``duration_s``; latencies from each request's due time."""
    n = int(rate * duration_s)
    reqs = _requests(public_url, n, path)
    due: queue.Queue = queue.Queue()
    lat_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        while True:
            item = due.get()
            if item is None:
                return
            i, t_due = item
            wait = t_due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            method, body, headers = reqs[i % len(reqs)]
            try:
                conn.request(method, path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                # a 200 with the "service busy" apology is a failure too
                ok = resp.status == 200 and "繁忙".encode() not in data
                if not ok and resp.status == 200:
                    resp = "busy reply"
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                ok, resp = False, exc
            done = time.perf_counter()
            with lock:
                if ok:
                    lat_ms.append((done - t_due) * 1000)
                else:
                    errors.append(str(getattr(resp, "status", resp))[:80])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    t0 = time.perf_counter() + 0.2
    for i in range(n):
        due.put((i, t0 + i / rate))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat_ms.sort()

    def pct(p: float) -> float:
        return round(lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))], 2) if lat_ms else float("nan")

    return {"path": path, "rate": rate, "requests": n, "ok": len(lat_ms), "errors": len(errors),
            "error_samples": sorted(set(errors))[:3], "achieved_rps": round(n / elapsed, 1),
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0)}


# ---- orchestration ---------------------------------------------------------------------------------------




def _run_loadgen(port: int, path: str, rate: float, duration_s: float, public_url: str) -> dict:
    args = [sys.executable, __file__, "--loadgen", "--port", str(port), "--path", path, "--rate", str(rate),
            "--duration", str(duration_s), "--public-url", public_url]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 requests/s only, under a minute")
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--path", default="/sms/inbound", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=200, help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--public-url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the production config)")
    args = ap.parse_args(argv)
    if args.loadgen:
        print(json.dumps(loadgen("127.0.0.1", args.port, args.path, args.rate, args.duration, args.public_url)))
        return

    sys.path.insert(0, str(ROOT))
    from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

    rates = [200.0] if args.quick else [100.0, 200.0, 300.0]
    duration_s = 12.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory(prefix="riskcard-bench-bot-") as tmp:
        snapshots = Path(tmp) / "snapshots"
        publish_fixture(snapshots)
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "RISKCARD_SNAPSHOT_DIR": str(snapshots), "RISKCARD_STATE_URL": f"sqlite:///{tmp}/state.db",
               "RISKCARD_PSEUDONYM_KEY": TEST_KEY.hex(), "RISKCARD_SECRET_KEY": "b" * 48,
               "RISKCARD_SIGNING_KEY_DIR": f"{tmp}/keys", "RISKCARD_PUBLIC_URL": public_url,
               "RISKCARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "RISKCARD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
               "RISKCARD_GUNICORN_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
        if args.workers:
            env["RISKCARD_GUNICORN_WORKERS"] = str(args.workers)
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf",
                                   "miniapp.wsgi:app"], cwd=ROOT, env=env, start_new_session=True)
        try:
            wait_ready(port)
            _run_loadgen(port, "/sms/inbound", 100, 3, public_url)  # warm-up: imports, caches, connections
            runs = {}
            for rate in rates:
                runs[rate] = _run_loadgen(port, "/sms/inbound", rate, duration_s, public_url)
                print(json.dumps(runs[rate]), flush=True)
            ref = _run_loadgen(port, "/healthz", 200, 8.0 if args.quick else 20.0, public_url)
            print(json.dumps(ref), flush=True)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    at200 = runs[200.0]
    result = {
        "p99_ms_at_200": at200["p99_ms"],
        "p50_ms_at_200": at200["p50_ms"],
        "max_ms_at_200": at200["max_ms"],
        "achieved_rps_at_200": at200["achieved_rps"],
        "errors_at_200": at200["errors"],
        "target_p99_ms": TARGET_P99_MS,
        "met": bool(at200["p99_ms"] < TARGET_P99_MS and at200["errors"] == 0),
        "reference_healthz_p99_ms_at_200": ref["p99_ms"],
        "p99_ratio_vs_healthz": round(at200["p99_ms"] / ref["p99_ms"], 2) if ref["p99_ms"] else None,
        "p99_ms_by_rate": {str(int(r)): v["p99_ms"] for r, v in runs.items()},
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
