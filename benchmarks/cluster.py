"""Benchmark: the deployment rehearsed in network namespaces (deploy/rehearse.py), as root.

nginx (TLS, proxy cache, limits) in front of two gunicorn app hosts and Redis (AOF appendfsync always),
each in its own namespace on a private /24. Figures (docs/deploy.md):

* ``lookups_per_s`` / ``static_per_s`` / ``ratio_vs_static`` — closed-loop look-ups through the front
  answered from nginx's cache, against nginx serving a static file (``/static/site.css``) in the
  same run (wrk, 32 keep-alive TLS connections, rounds interleaved, medians); ``lookup_p99_ms``.
  Target >= 5,000 look-ups/s with p99 < 25 ms.
* ``errors`` / ``requests`` / ``p99_ms`` — a steady open-loop rate of uncached look-ups (they reach
  the app hosts) while app host 1 is killed (SIGKILL) and restarted, Redis is killed (SIGKILL) and
  restarted and a new snapshot is published to both hosts. Target 0 errors.
* ``lost`` — known writes (codes, consents, opt-outs, proofs, revocations) acknowledged by the state
  store during the run and missing after it. Target 0. ``recover_s``: seconds from the Redis kill
  until writes are acknowledged again; ``app_restart_s``; ``snapshot_live_s`` (publish on the build
  host until both hosts serve it and the front's cache key follows).

Usage::

    sudo .venv/bin/python benchmarks/cluster.py          # 3 rounds of 6 s, 40 s of faults
    sudo .venv/bin/python benchmarks/cluster.py --quick  # 2 rounds of 2 s, 15 s of faults

The last line of stdout is one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "deploy"))

import rehearse  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = rehearse.main(sys.argv[1:] if argv is None else argv)
    out = {**out, "targets": {"errors": 0, "lost": 0, "lookups_per_s": 5000, "lookup_p99_ms": 25.0}}
    out["meets_targets"] = bool(out["errors"] == 0 and out["lost"] == 0
                                and out.get("lookups_per_s", 0) >= 5000 and out.get("lookup_p99_ms", 1e9) < 25.0)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
