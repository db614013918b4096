"""Key nginx's cache on the snapshot every app host serves, then reload nginx (run on the front host).

Once every app host answers ``GET /api/v1/meta`` with the same ``sha256``, that checksum is written
into the include ``snapshot_key.conf`` (atomically: a temp file, then ``os.replace``) and nginx is
reloaded (graceful). While the hosts disagree or one does not answer, nothing changes: the old key
stays, so the cache never mixes two snapshots; exit status 1 says "not yet" (the timer tries again).

    python deploy/front_key.py --host http://10.77.0.11:8000 --host http://10.77.0.12:8000 \\
        --include /etc/nginx/riskcard/snapshot_key.conf --reload "nginx -s reload"

The last stdout line is one JSON object: ``switched``, ``sha256`` (or null), ``hosts`` (each
host's checksum or error). Only the given hosts are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "snapshot_key.conf.template"


def host_checksum(base_url: str, timeout_s: float) -> str:
    """The ``sha256`` a host's ``/api/v1/meta`` reports (raises on any failure)."""
    with urllib.request.urlopen(base_url.rstrip("/") + "/api/v1/meta", timeout=timeout_s) as resp:
        sha = json.loads(resp.read()).get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        raise ValueError("meta has no sha256")
    return sha


def include_text(sha256: str) -> str:
    """The include, from deploy/nginx/snapshot_key.conf.template (comment lines dropped)."""
    lines = [line for line in TEMPLATE.read_text().splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines).replace("${SNAPSHOT_SHA256}", sha256) + "\n"


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", action="append", required=True, help="an app host's base URL (repeat for each)")
    ap.add_argument("--include", required=True, type=Path, help="the snapshot_key.conf nginx includes")
    ap.add_argument("--reload", default="nginx -s reload", help="command that reloads nginx")
    ap.add_argument("--timeout-s", type=float, default=3.0)
    args = ap.parse_args(argv)
    seen: dict[str, str] = {}
    for host in args.host:
        try:
            seen[host] = host_checksum(host, args.timeout_s)
        except Exception as exc:  # noqa: BLE001 - reported, and the key stays
            seen[host] = f"error: {type(exc).__name__}: {str(exc)[:120]}"
    shas = set(seen.values())
    sha = shas.pop() if len(shas) == 1 and not next(iter(seen.values())).startswith("error") else None
    switched = False
    if sha is not None:
        text = include_text(sha)
        current = args.include.read_text() if args.include.exists() else ""
        if current != text:
            write_atomic(args.include, text)
            subprocess.run(shlex.split(args.reload), check=True, timeout=30)
            switched = True
    print(json.dumps({"switched": switched, "sha256": sha, "hosts": seen}))
    return 0 if sha is not None else 1


if __name__ == "__main__":
    sys.exit(main())
