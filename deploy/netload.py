"""The rehearsal's clients, each run inside a namespace by deploy/rehearse.py (one JSON object on stdout).

* ``load`` — open-loop GETs over TLS keep-alive connections to the front, latency from each request's
  due time (no coordinated omission); a kept-alive connection the server closed meanwhile is retried
  once (as HTTP clients do for idempotent requests); any other failure or non-200 is an error.
* ``writer`` — known state-store writes of every kind (codes, consents, opt-outs, proofs, revocations)
  through :mod:`miniapp.state`, each retried until acknowledged; the acknowledged ones are printed.
* ``check`` — every acknowledged write is present (in Redis, or in a restored copy with ``--port``).
* ``limits`` — from a non-exempt address: a burst of look-ups (429s past nginx's burst) and a body
  larger than ``client_max_body_size`` (413).

Usage: ``python deploy/netload.py load --host 10.77.0.1 --cafile cert.pem --paths paths.json --rate 100 --seconds 10``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import ssl
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_NAME = "riskcard.test"


async def _open_loop(args) -> dict:
    """Open-loop GETs over TLS keep-alive connections; latency from each request's due time."""
    ctx = ssl.create_default_context(cafile=args.cafile)
    paths = json.loads(Path(args.paths).read_text())
    free: list = []
    slots = asyncio.Semaphore(args.connections)  # at most this many requests in flight (connections open)
    lat, errors, samples, retried = [], 0, [], 0
    deadline_n = int(args.rate * args.seconds)

    async def conn():
        return await asyncio.wait_for(asyncio.open_connection(args.host, 443, ssl=ctx, server_hostname=SERVER_NAME), 5)

    async def once(rw, path):
        r, w = rw
        w.write(f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nAccept: */*\r\n\r\n".encode())
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
        status = int(head[9:12])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m:
            await asyncio.wait_for(r.readexactly(int(m.group(1))), 10)
        return status, b"connection: close" in head.lower()

    async def one(i, due):
        nonlocal errors, retried
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        async with slots:
            await attempts(i, due)

    async def attempts(i, due):
        nonlocal errors, retried
        path = paths[i % len(paths)].replace("{i}", str(i))
        for attempt in range(2):
            reused = bool(free) and attempt == 0  # the retry takes a new connection, as browsers do
            try:
                rw = free.pop() if reused else await conn()
            except (OSError, asyncio.TimeoutError) as exc:
                errors += 1
                samples.append(f"connect: {exc!r}"[:120])
                return
            try:
                status, close = await once(rw, path)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError) as exc:
                rw[1].close()
                if reused and attempt == 0 and not isinstance(exc, asyncio.TimeoutError):
                    retried += 1  # a kept-alive connection the server closed meanwhile: retry the GET once
                    continue
                errors += 1
                samples.append(f"{path}: {exc!r}"[:120])
                return
            if close:
                rw[1].close()
            else:
                free.append(rw)
            if status != 200:
                errors += 1
                samples.append(f"{path}: {status}")
            else:
                lat.append((time.perf_counter() - due) * 1000)
            return

    t0 = time.perf_counter() + 0.2
    tasks = [asyncio.create_task(one(i, t0 + i / args.rate)) for i in range(deadline_n)]
    done, pending = await asyncio.wait(tasks, timeout=args.seconds + 60)
    for task in pending:  # not answered a minute after the load ended: errors, never latencies
        task.cancel()
        errors += 1
        samples.append("unanswered")
    lat.sort()
    return {"requests": deadline_n, "ok": len(lat), "errors": errors, "retried_keepalive": retried,
            "p50_ms": round(lat[len(lat) // 2], 2) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99)], 2) if lat else None, "error_samples": samples[:5]}


def _writer(args) -> dict:
    """Known writes of every kind, each retried until acknowledged; the acknowledged ones are recorded."""
    from miniapp.state import StateUnavailable, open_state

    url = Path(args.state_url_file).read_text().strip()
    st = open_state(url)
    acked, refused, outage, first_refused = [], 0, [], None
    deadline = time.monotonic() + args.seconds
    i = 0
    while time.monotonic() < deadline:
        subj = f"{i:016x}"
        ops = [("code", lambda: st.put_code(subj, "h" * 8 + subj, 3600)),
               ("consent", lambda: st.set_consent(subj, "itinerary", True)),
               ("optout", lambda: st.set_opt_out(subj, True)),
               ("proof", lambda: st.record_proof(f"p{subj}", subj, int(time.time()), int(time.time()) + 3600, "k1")),
               ("revocation", lambda: st.revoke_proof(f"r{subj}"))]
        for kind, op in ops:
            while time.monotonic() < deadline + 20:
                try:
                    op()
                    if first_refused is not None:
                        outage.append(round(time.monotonic() - first_refused, 3))
                        first_refused = None
                    acked.append([kind, subj])
                    break
                except StateUnavailable:
                    refused += 1
                    first_refused = first_refused or time.monotonic()
                    time.sleep(0.02)
        i += 1
        time.sleep(1.0 / args.rate)
    return {"acked": acked, "refused": refused, "outages_s": outage, "cycles": i}


def _check(args) -> dict:
    from miniapp.state import open_state

    url = Path(args.state_url_file).read_text().strip()
    if args.port:
        url = re.sub(r":6379/", f":{args.port}/", url)
    st = open_state(url)
    acked = json.loads(Path(args.acked).read_text())
    missing = []
    for kind, subj in acked:
        present = {"code": lambda: st.r.exists(st._k("code", "{" + subj + "}")) == 1,
                   "consent": lambda: st.has_consent(subj, "itinerary"),
                   "optout": lambda: st.is_opted_out(subj),
                   "proof": lambda: st.r.exists(st._k("proof", f"p{subj}")) == 1,
                   "revocation": lambda: st.proof_revoked(f"r{subj}")}[kind]()
        if not present:
            missing.append([kind, subj])
    return {"checked": len(acked), "missing": len(missing), "missing_samples": missing[:5]}


async def _limits(args) -> dict:
    """From a non-exempt address: a burst of look-ups (429 expected past the burst) and an oversized body (413)."""
    ctx = ssl.create_default_context(cafile=args.cafile)
    r, w = await asyncio.open_connection(args.host, 443, ssl=ctx, server_hostname=SERVER_NAME, local_addr=(args.source, 0))
    statuses = []
    for _ in range(args.burst):
        w.write(f"GET /api/v1/communities/1 HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n".encode())
        head = await r.readuntil(b"\r\n\r\n")
        statuses.append(int(head[9:12]))
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if m:
            await r.readexactly(int(m.group(1)))
    body = b"x" * (200 * 1024)
    w.write(f"POST /chat/api HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode())
    head = await r.readuntil(b"\r\n\r\n")
    w.close()
    return {"lookups_429": statuses.count(429), "lookups_200": statuses.count(200), "body_status": int(head[9:12])}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    for opt in ("--host", "--cafile", "--paths", "--state-url-file", "--acked", "--source"):
        ap.add_argument(opt)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--burst", type=int, default=400)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(ROOT))
    out = {"load": lambda: asyncio.run(_open_loop(args)), "writer": lambda: _writer(args),
           "check": lambda: _check(args), "limits": lambda: asyncio.run(_limits(args))}[args.mode]()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
