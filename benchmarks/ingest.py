"""Benchmark: feed ingest (forecast.feeds.read_feed) speed on pings from Parquet.

Builds a pings file in a temporary directory (N rows, ~N/50 subscribers, unsorted, 0.1% bad rows of
mixed kinds), then times:
  * reference: pyarrow.parquet.read_table(...).to_pandas() of the same file (raw read, no checks);
  * read_feed with Unix-seconds int64 ts (the carrier's usual form), with the cells check;
  * read_feed with ISO-8601 text ts (half with an offset, half naive local: the forgiving parser);
  * read_feed with ISO-8601 text ts, all with the +08:00 offset and E.164 numbers (+86...), as the
    synthetic carrier delivers them (Arrow's cast and the pseudonym fast path);
  * iter_ping_batches over the int64 file in batches of N/4 rows.
Speed is quoted as rows/s (best of 2-3 runs) and as the ratio to the raw read measured in the same run.

    .venv/bin/python benchmarks/ingest.py            # 5M pings
    .venv/bin/python benchmarks/ingest.py --quick    # 1M pings

The last line of stdout is one JSON object.
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
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.feeds import iter_ping_batches, read_feed  # noqa: E402

KEY = b"benchmark-key-not-secret-000000"


def build(n: int, seed: int, iso: bool | str) -> pa.Table:
    rng = np.random.default_rng(seed)
    n_sub = max(n // 50, 10)
    subs = 13_000_000_000 + rng.choice(7_000_000_000, n_sub, replace=False)
    sub = rng.integers(0, n_sub, n)
    msisdn = pd.Series(subs[sub].astype(str))
    ts = 1_579_000_000 + rng.integers(0, 14 * 86_400, n)
    cell = rng.integers(1, 20_001, n)
    bad = rng.random(n) < 0.001
    msisdn[bad & (rng.random(n) < 0.5)] = "12345"
    cell[bad & (rng.random(n) >= 0.5)] = 999_999
    if iso == "offset":
        local = pd.Series(pd.to_datetime(ts, unit="s", utc=True)).dt.tz_convert("Asia/Shanghai")
        ts_col = pa.array(local.dt.strftime("%Y-%m-%dT%H:%M:%S+08:00").to_numpy(dtype=str))
        msisdn = "+86" + msisdn.where(msisdn != "12345", "2345")
    elif iso:
        t = pd.Series(pd.to_datetime(ts, unit="s", utc=True))
        aware = t.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        local = t.dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M:%S")
        ts_col = pa.array(np.where(rng.random(n) < 0.5, aware, local).astype(str))
    else:
        ts_col = pa.array(ts)
    return pa.table({"msisdn": pa.array(msisdn.to_numpy(dtype=str)), "ts": ts_col, "cell_id": pa.array(cell)})


def timed(fn, repeat: int = 3):
    """Result of ``fn`` and its best time over ``repeat`` runs (the machine is shared and noisy)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1M pings instead of 5M")
    ap.add_argument("--rows", type=int, default=None)
    args = ap.parse_args()
    n = args.rows or (1_000_000 if args.quick else 5_000_000)
    cells = pd.DataFrame({"cell_id": np.arange(1, 20_001, dtype=np.int64)})
    with tempfile.TemporaryDirectory() as tmp:
        int_path, iso_path = Path(tmp) / "pings.parquet", Path(tmp) / "pings_iso.parquet"
        offset_path = Path(tmp) / "pings_offset.parquet"
        for path, iso in ((int_path, False), (iso_path, True), (offset_path, "offset")):
            table = build(n, 1, iso=iso)
            pq.write_table(table, path, row_group_size=1_000_000)
            del table

        warm = Path(tmp) / "warm.parquet"
        pq.write_table(build(10_000, 2, iso=True), warm)
        read_feed(warm, "pings", pseudonym_key=KEY, cells=cells)  # first-call costs (imports, tz data)
        _, t_raw = timed(lambda: len(pq.read_table(int_path).to_pandas()))
        (pings, q, report), t_int = timed(lambda: read_feed(int_path, "pings", pseudonym_key=KEY, cells=cells))
        counts = report["pings"]
        del pings, q
        assert counts.rows_in == n == counts.rows_ok + counts.rows_quarantined
        (_, _, report_iso), t_iso = timed(lambda: read_feed(iso_path, "pings", pseudonym_key=KEY, cells=cells), repeat=2)
        assert report_iso["pings"].rows_ok == counts.rows_ok
        (_, _, report_off), t_off = timed(lambda: read_feed(offset_path, "pings", pseudonym_key=KEY, cells=cells))
        assert report_off["pings"].rows_ok == counts.rows_ok

        def batches():
            return sum(len(b) for b, _, _ in iter_ping_batches(int_path, pseudonym_key=KEY, cells=cells, batch_rows=n // 4))

        rows_batched, t_batch = timed(batches, repeat=2)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "rows": n,
        "rows_per_s": round(n / t_int),
        "rows_per_s_iso_text": round(n / t_iso),
        "rows_per_s_iso_offset_e164": round(n / t_off),
        "rows_per_s_batched": round(n / t_batch),
        "raw_read_rows_per_s": round(n / t_raw),
        "ratio_vs_raw_read": round(t_raw / t_int, 3),
        "rows_ok": counts.rows_ok,
        "rows_quarantined": counts.rows_quarantined,
        "rows_batched": rows_batched,
        "peak_rss_mb": round(peak_mb),
    }
    print(f"read_feed {n:,} pings: {t_int:.2f} s ({n / t_int:,.0f} rows/s); ISO text ts {t_iso:.2f} s; "
          f"ISO +08:00 and E.164 {t_off:.2f} s; "
          f"batched {t_batch:.2f} s; raw pyarrow read {t_raw:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
