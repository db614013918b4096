"""A small HTTP/1.1 load generator for the serving benchmarks, run in its own process.

Two modes, both over keep-alive connections with asyncio streams (no per-request thread, so the
generator spends little CPU per request and leaves the cores to the server):

* :func:`closed_loop` — ``connections`` clients each send their next request as soon as the last
  answer is in, for ``duration_s``: the server's throughput (requests/s).
* :func:`open_loop` — request *i* is due at ``t0 + i / rate`` whatever happened before; its latency
  is measured from that due time, so a slow server cannot hide its queue (no coordinated omission).

Run as a script it prints one JSON object; ``run_in_process`` starts it so from an orchestrator::

    python benchmarks/_load.py closed --port 8000 --path /a --path /b --seconds 5 --connections 16
    python benchmarks/_load.py open --port 8000 --path /a --rate 1000 --seconds 10

Every response must be ``200`` (any other status, a timeout or a dropped connection is an error,
counted and sampled, never a latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 10.0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends GETs and reads whole responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _summary(lat_ms: list[float], errors: list[str], n: int, elapsed_s: float) -> dict:
    lat_ms.sort()

    def pct(p: float) -> float:
        return round(lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))], 2) if lat_ms else float("nan")

    return {"requests": n, "ok": len(lat_ms), "errors": len(errors), "error_samples": sorted(set(errors))[:3],
            "seconds": round(elapsed_s, 2), "achieved_rps": round(len(lat_ms) / elapsed_s, 1) if elapsed_s else 0.0,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0)}


async def _one(conn: Connection, path: str) -> tuple[bool, str]:
    try:
        status = await asyncio.wait_for(conn.get(path), TIMEOUT_S)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        conn.close()
        return False, type(exc).__name__
    return status == 200, str(status)


async def closed_loop(host: str, port: int, paths: list[str], seconds: float, connections: int = 16) -> dict:
    """Throughput: ``connections`` clients back to back for ``seconds``; paths taken in turn."""
    lat_ms: list[float] = []
    errors: list[str] = []
    counter = iter(range(10**12))
    end = time.perf_counter() + seconds

    async def client() -> None:
        conn = Connection(host, port)
        while time.perf_counter() < end:
            i = next(counter)
            t = time.perf_counter()
            ok, what = await _one(conn, paths[i % len(paths)])
            if ok:
                lat_ms.append((time.perf_counter() - t) * 1000)
            else:
                errors.append(what)
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return _summary(lat_ms, errors, len(lat_ms) + len(errors), time.perf_counter() - t0)


async def open_loop(host: str, port: int, paths: list[str], rate: float, seconds: float,
                    connections: int = 64) -> dict:
    """Latency at a fixed arrival rate: request i is due at ``t0 + i / rate``, timed from then."""
    n = int(rate * seconds)
    lat_ms: list[float] = []
    errors: list[str] = []
    due: asyncio.Queue = asyncio.Queue()

    async def worker() -> None:
        conn = Connection(host, port)
        while True:
            item = await due.get()
            if item is None:
                conn.close()
                return
            i, t_due = item
            ok, what = await _one(conn, paths[i % len(paths)])
            if ok:
                lat_ms.append((time.perf_counter() - t_due) * 1000)
            else:
                errors.append(what)

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
    return _summary(lat_ms, errors, n, time.perf_counter() - t0)


def run_in_process(mode: str, port: int, paths: list[str], seconds: float, *, rate: float = 0.0,
                   connections: int | None = None, host: str = "127.0.0.1") -> dict:
    """Run the generator in a separate Python process and return its JSON summary."""
    args = [sys.executable, str(Path(__file__).resolve()), mode, "--host", host, "--port", str(port),
            "--seconds", str(seconds)]
    for p in paths:
        args += ["--path", p]
    if rate:
        args += ["--rate", str(rate)]
    if connections:
        args += ["--connections", str(connections)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["closed", "open"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", action="append", required=True, help="request path (repeat: taken in turn)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=1000.0, help="open loop: requests per second")
    ap.add_argument("--connections", type=int, default=None)
    args = ap.parse_args(argv)
    if args.mode == "closed":
        result = asyncio.run(closed_loop(args.host, args.port, args.path, args.seconds, args.connections or 16))
    else:
        result = asyncio.run(open_loop(args.host, args.port, args.path, args.rate, args.seconds, args.connections or 64))
    result.update(mode=args.mode, rate=args.rate if args.mode == "open" else None)
    print(json.dumps(result))


if __name__ == "__main__":
    main()


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout_s: float = 60, path: str = "/healthz") -> None:
    """Wait until a server on ``port`` answers ``path`` with 200."""
    import http.client

    end = time.time() + timeout_s
    while time.time() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not become ready (is a snapshot published?)")
