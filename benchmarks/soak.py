"""Soak: the serving mix at a fixed rate for minutes, under gunicorn with the production config.

Serves the real app (``miniapp.wsgi:app``, ``miniapp/gunicorn_conf.py``) over a published fixture
snapshot (``tests/miniapp/snapshot_fixture.py`` plus extra communities) and a SQLite state store, and
drives it open loop from a separate process (request *i* is due at ``t0 + i / rate`` and timed from
then, so queueing is not hidden). The mix, in turn:

* 70 % community lookups: ``/community/<id>``, ``/api/v1/communities/<id>``, ``/api/v1/communities?q=``
* 15 % card verification pages ``/v/<token>`` (genuine Ed25519 tokens; the state store is asked
  whether each was revoked)
* 15 % Twilio SMS webhooks ``POST /sms/inbound``, validly signed, from distinct fake senders (help,
  risk look-ups, itinerary requests and consents: state-store writes and audit entries)

The server runs from a copy of the source tree taken at start. An error is any non-200 answer, a timeout, a dropped connection, or the bot's "busy" apology. Every
``--sample-s`` seconds the resident memory (RSS) of each gunicorn worker is sampled from /proc; the
memory slope (MB/min) is fitted per worker over its lifetime after the first minute (workers are
recycled after ``max_requests``, so a sum over workers would saw-tooth).

Usage::

    python benchmarks/soak.py                # 300 requests/s for 10 minutes
    python benchmarks/soak.py --quick        # 300 requests/s for 30 s (same keys), under a minute
    python benchmarks/soak.py --minutes 3 --rate 300

The last line of stdout is one JSON object: p50_ms, p99_ms, throughput_rps, errors, requests,
rss_mb_first/last, rss_slope_mb_per_min_max, and the reference p99 of ``/healthz`` measured in the
same run at the same rate (p99_ratio_vs_healthz).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import free_port, wait_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What the server needs, copied once so a long soak serves one consistent version of the code even
# if the working tree changes meanwhile (a worker recycled after max_requests would load new templates).
SERVED_SOURCES = ("miniapp", "bot", "forecast", "templates", "static")
AUTH_TOKEN = "soak-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "cd" * 16
BOT_MESSAGES = ["帮助", "风险 bbt", "风险 百步亭", "RISK dtxq", "望京", "行程", "同意", "TRIP", "AGREE", "MENU"]
QUERIES = ["bbt", "百步亭", "baibuting", "wjxy", "hkhy", "dtxq", "cnxc", "bsz", "soho", "望京"]
TIMEOUT_S = 10.0


# ---- load generator (its own process) -------------------------------------------------------------------
class Connection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status, length, close = int(raw[9:12]), 0, False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))], 2)


async def open_loop(port: int, requests: list, rate: float, seconds: float, window_s: float,
                    connections: int = 64) -> dict:
    n = int(rate * seconds)
    lat: list[tuple[float, float]] = []  # (due time since t0, latency ms)
    errors: list[tuple[float, str]] = []
    kinds: dict[str, list[float]] = {}
    due: asyncio.Queue = asyncio.Queue()
    busy = "繁忙".encode()

    async def worker() -> None:
        conn = Connection("127.0.0.1", port)
        while True:
            item = await due.get()
            if item is None:
                conn.close()
                return
            i, t_due = item
            kind, method, path, body, headers = requests[i % len(requests)]
            try:
                status, data = await asyncio.wait_for(conn.send(method, path, body, headers), TIMEOUT_S)
                what = "ok" if status == 200 and not (kind == "bot" and busy in data) else f"{kind} {status}"
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError) as exc:
                conn.close()
                what = f"{kind} {type(exc).__name__}"
            done = time.perf_counter()
            if what == "ok":
                lat.append((t_due - t0, (done - t_due) * 1000))
                kinds.setdefault(kind, []).append((done - t_due) * 1000)
            else:
                errors.append((t_due - t0, what))

    workers = [asyncio.ensure_future(worker()) for _ in range(connections)]
    t0 = time.perf_counter() + 0.1
    for i in range(n):
        t_due = t0 + i / rate
        wait = t_due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        due.put_nowait((i, t_due))
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    windows = []
    for w in range(int(seconds // window_s) + (seconds % window_s > 0)):
        lo, hi = w * window_s, (w + 1) * window_s
        wl = [ms for t, ms in lat if lo <= t < hi]
        windows.append({"t_s": round(hi, 1), "ok": len(wl), "errors": sum(lo <= t < hi for t, _ in errors),
                        "p50_ms": _pct(wl, 0.5), "p99_ms": _pct(wl, 0.99)})
    all_ms = [ms for _, ms in lat]
    return {"requests": n, "ok": len(lat), "errors": len(errors),
            "error_samples": sorted({w for _, w in errors})[:5], "seconds": round(elapsed, 1),
            "throughput_rps": round(len(lat) / elapsed, 1), "p50_ms": _pct(all_ms, 0.5), "p90_ms": _pct(all_ms, 0.9),
            "p99_ms": _pct(all_ms, 0.99), "max_ms": _pct(all_ms, 1.0),
            "p99_ms_by_kind": {k: _pct(v, 0.99) for k, v in sorted(kinds.items())}, "windows": windows}


def _loadgen_main(args) -> None:
    spec = json.loads(Path(args.requests).read_text(encoding="utf-8"))
    reqs = [(r["kind"], r["method"], r["path"], r["body"].encode("latin-1"), r["headers"]) for r in spec]
    print(json.dumps(asyncio.run(open_loop(args.port, reqs, args.rate, args.seconds, args.sample_s))))


# ---- the request mix ------------------------------------------------------------------------------------
def build_requests(public_url: str, community_ids: list[int], tokens: list[str], n: int = 4000) -> list[dict]:
    """A deterministic mix of ``n`` requests, in the order they are sent (70 % / 15 % / 15 %)."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    out = []
    for i in range(n):
        slot = i % 20
        if slot < 14:
            cid = community_ids[(i * 7919) % len(community_ids)]
            path = [f"/community/{cid}", f"/api/v1/communities/{cid}",
                    f"/api/v1/communities?q={quote(QUERIES[i % len(QUERIES)])}"][i % 3]
            out.append({"kind": "lookup", "method": "GET", "path": path, "body": "", "headers": {}})
        elif slot < 17:
            out.append({"kind": "verify", "method": "GET", "path": "/v/" + tokens[i % len(tokens)], "body": "",
                        "headers": {}})
        else:
            params = {"MessageSid": "SM" + f"{i:032x}", "AccountSid": ACCOUNT_SID, "From": "+86139" + f"{i % 100_000:08d}",
                      "To": "+12025550100", "Body": BOT_MESSAGES[i % len(BOT_MESSAGES)], "NumMedia": "0"}
            sig = validator.compute_signature(public_url + "/sms/inbound", params)
            out.append({"kind": "bot", "method": "POST", "path": "/sms/inbound",
                        "body": urlencode(params).encode().decode("latin-1"),
                        "headers": {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}})
    return out


def mint_tokens(key_dir: Path, n: int = 50) -> list[str]:
    from miniapp.proofs import generate_key, load_signing_keys
    from miniapp.proofs import sign_card

    generate_key(key_dir, not_before_s=0)
    ring = load_signing_keys(key_dir)
    cities = [("武汉", True, "Wuhan"), ("北京", False, "Beijing"), ("上海", False, "Shanghai")]
    return [sign_card({"window": ("2020-01-27", "2020-02-09"), "cities": cities[: 1 + i % 3],
                       "colour": ["green", "yellow", "orange"][i % 3], "masked": f"139****{i:04d}"}, ring)
            for i in range(n)]


# ---- orchestration --------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None




def _slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return None
    ts = [t for t, _ in samples]
    ms = [m for _, m in samples]
    tm, mm = sum(ts) / len(ts), sum(ms) / len(ms)
    den = sum((t - tm) ** 2 for t in ts)
    return round(60 * sum((t - tm) * (m - mm) for t, m in samples) / den, 3) if den else None


def _run_loadgen(port: int, requests_file: Path, rate: float, seconds: float, sample_s: float) -> dict:
    args = [sys.executable, str(Path(__file__).resolve()), "--loadgen", "--port", str(port), "--requests",
            str(requests_file), "--rate", str(rate), "--seconds", str(seconds), "--sample-s", str(sample_s)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="soak duration (default 10)")
    ap.add_argument("--quick", action="store_true", help="30 s instead of --minutes (under a minute in all)")
    ap.add_argument("--rate", type=float, default=300.0, help="requests per second, open loop (default 300)")
    ap.add_argument("--sample-s", type=float, default=10.0, help="RSS and window sampling interval")
    ap.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: the production config)")
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--requests", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.loadgen:
        _loadgen_main(args)
        return

    sys.path.insert(0, str(ROOT))
    from miniapp.snapshot import SnapshotStore
    from miniapp.snapshot import read_current
    from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

    seconds = 30.0 if args.quick else args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="riskcard-soak-") as tmp_name:
        tmp = Path(tmp_name)
        snapshots = publish_fixture(tmp / "snapshots", extra_communities=500)
        community_ids = [g["community_id"] for g in SnapshotStore(snapshots / read_current(snapshots)["name"]).grades()]
        tokens = mint_tokens(tmp / "keys")
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        requests_file = tmp / "requests.json"
        requests_file.write_text(json.dumps(build_requests(public_url, community_ids, tokens)), encoding="utf-8")
        healthz_file = tmp / "healthz.json"
        healthz_file.write_text(json.dumps([{"kind": "healthz", "method": "GET", "path": "/healthz", "body": "",
                                             "headers": {}}]), encoding="utf-8")
        src = tmp / "src"
        for name in SERVED_SOURCES:
            if (ROOT / name).exists():
                shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        env = {**os.environ, "RISKCARD_SNAPSHOT_DIR": str(snapshots), "RISKCARD_STATE_URL": f"sqlite:///{tmp}/state.db",
               "RISKCARD_PSEUDONYM_KEY": TEST_KEY.hex(), "RISKCARD_SECRET_KEY": "soak" * 12,
               "RISKCARD_SIGNING_KEY_DIR": str(tmp / "keys"), "RISKCARD_PUBLIC_URL": public_url,
               "RISKCARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "RISKCARD_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
               "RISKCARD_GUNICORN_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(src)}
        if args.workers:
            env["RISKCARD_GUNICORN_WORKERS"] = str(args.workers)
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf",
                                   "miniapp.wsgi:app"], cwd=src, env=env, start_new_session=True)
        samples: dict[int, list[tuple[float, float]]] = {}
        stop = threading.Event()

        def sample(t_start: float) -> None:
            while not stop.is_set():
                t = time.monotonic() - t_start
                for pid in _children(server.pid):
                    mb = _rss_mb(pid)
                    if mb is not None:
                        samples.setdefault(pid, []).append((t, mb))
                stop.wait(args.sample_s)

        try:
            wait_ready(port)
            _run_loadgen(port, requests_file, min(args.rate, 200.0), 3.0, 3.0)  # warm-up: imports, caches
            sampler = threading.Thread(target=sample, args=(time.monotonic(),), daemon=True)
            sampler.start()
            run = _run_loadgen(port, requests_file, args.rate, seconds, args.sample_s)
            stop.set()
            sampler.join()
            for w in run.pop("windows"):
                print(json.dumps(w), flush=True)
            ref = _run_loadgen(port, healthz_file, args.rate, min(20.0, seconds / 3), args.sample_s)
            ref.pop("windows")
            print(json.dumps({"reference_healthz": ref}), flush=True)
        finally:
            stop.set()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    settle_s = 60.0 if seconds >= 180 else 0.0  # after the first minute: imports and caches are warm
    slopes = {pid: _slope_mb_per_min([s for s in ss if s[0] >= settle_s]) for pid, ss in samples.items()}
    firsts = [ss[0][1] for ss in samples.values() if ss]
    lasts = [ss[-1][1] for ss in samples.values() if ss]
    fitted = [s for s in slopes.values() if s is not None]
    result = {
        "rate_rps": args.rate, "seconds": round(seconds, 1), "requests": run["requests"], "errors": run["errors"],
        "error_samples": run["error_samples"], "throughput_rps": run["throughput_rps"], "p50_ms": run["p50_ms"],
        "p90_ms": run["p90_ms"], "p99_ms": run["p99_ms"], "max_ms": run["max_ms"],
        "p99_ms_by_kind": run["p99_ms_by_kind"],
        "reference_healthz_p99_ms": ref["p99_ms"],
        "p99_ratio_vs_healthz": round(run["p99_ms"] / ref["p99_ms"], 2) if ref["p99_ms"] else None,
        "workers_seen": len(samples), "rss_samples": sum(len(s) for s in samples.values()),
        "rss_mb_first": round(sum(firsts) / len(firsts), 1) if firsts else None,
        "rss_mb_last": round(sum(lasts) / len(lasts), 1) if lasts else None,
        "rss_slope_mb_per_min_max": max(fitted) if fitted else None,
        "rss_slope_mb_per_min_by_worker": sorted(fitted),
        "zero_errors": run["errors"] == 0, "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
