"""Benchmark: generating a synthetic nation to files in chunks (``generate_nation_to_dir``).

Measures wall seconds, peak resident memory and pings per subscriber-day for N subscribers x 14 days
(6 cities), and estimates 1M subscribers from it (the cost is close to linear in subscribers at a fixed
number of subscribers per community; true contacts grow with community size, so the estimate keeps
residents per community fixed). Reference measured in the same run: sorting 10M random int64 with numpy.

Usage::

    python benchmarks/synth.py                      # 100k subscribers
    python benchmarks/synth.py --subscribers 1000000
    python benchmarks/synth.py --quick              # 10k subscribers, well under a minute

The last line of stdout is one JSON object with at least ``seconds``, ``peak_rss_mb``,
``pings_per_subscriber_day`` and ``est_1m_seconds``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.synth import NationConfig, generate_nation_to_dir  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--residents-per-community", type=int, default=400)
    ap.add_argument("--chunk-subscribers", type=int, default=16_384)
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    ap.add_argument("--out", default=None, help="keep the output here (default: a temporary directory)")
    args = ap.parse_args()
    n = 10_000 if args.quick else args.subscribers
    n_cities = 6
    cpc = max(8, n // (n_cities * args.residents_per_community))
    cfg = NationConfig(n_cities=n_cities, n_subscribers=n, n_days=14, communities_per_city=cpc,
                       pois_per_city=max(6, cpc // 2))
    t = time.perf_counter()
    np.sort(np.random.default_rng(0).integers(0, 2**62, 10_000_000))
    ref = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t = time.perf_counter()
        paths = generate_nation_to_dir(cfg, b"benchmark-key-0123456789", out, chunk_subscribers=args.chunk_subscribers,
                                       fmt=args.format, progress=False)
        seconds = time.perf_counter() - t
        summary = json.loads(paths["summary"].read_text())
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "subscribers": n, "days": cfg.n_days, "cities": n_cities, "communities_per_city": cpc,
        "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1), "output_mb": round(size_mb, 1),
        "pings": summary["n_pings"], "pings_per_subscriber_day": round(summary["pings_per_subscriber_day"], 2),
        "pings_per_s": round(summary["n_pings"] / seconds), "cases": summary["n_cases"],
        "infections": summary["n_infections"], "true_contacts": summary["n_contacts"],
        "ref_sort_10m_s": round(ref, 3), "seconds_per_ref": round(seconds / ref, 1),
        "est_1m_seconds": round(seconds * 1_000_000 / n),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
