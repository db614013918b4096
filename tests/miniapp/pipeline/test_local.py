"""LocalExecutor: ping parts are read side by side only as far as the memory allows."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq

from miniapp.pipeline import local
from miniapp.pipeline.local import INGEST_PEAK_BYTES_PER_PING, LocalExecutor, ingest_peak_bytes, parts_that_fit


def _parts(tmp_path, n_parts=3, rows=1000):
    paths = []
    for i in range(n_parts):
        path = tmp_path / f"part-{i}.parquet"
        pq.write_table(pa.table({"msisdn": ["x"] * rows, "ts": ["t"] * rows, "cell_id": list(range(rows))}), path)
        paths.append(path)
    return paths


def test_a_parts_read_peak_is_estimated_from_its_pings(tmp_path):
    (part,) = _parts(tmp_path, 1, rows=1234)
    assert ingest_peak_bytes(part) == 1234 * INGEST_PEAK_BYTES_PER_PING
    line = "8613800000000,2020-01-20T08:00:00+08:00,1234\n"
    csv = tmp_path / "part-9.csv"
    csv.write_text(line * 500)
    assert 400 <= ingest_peak_bytes(csv) / INGEST_PEAK_BYTES_PER_PING <= 600
    gz = tmp_path / "part-10.csv.gz"
    gz.write_bytes(gzip.compress((line * 500).encode()))
    assert ingest_peak_bytes(gz) > 0


def test_parts_that_fit_never_exceed_the_processes_and_read_at_least_one():
    gb = 2**30
    assert parts_that_fit(2, [10 * gb, 9 * gb], 22 * gb) == 1  # two 1M-subscriber days do not fit at once
    assert parts_that_fit(2, [5 * gb] * 3, 22 * gb) == 2
    assert parts_that_fit(8, [gb] * 3, 4 * gb) == 3
    assert parts_that_fit(2, [40 * gb], 22 * gb) == 1  # too large for the machine: alone
    assert parts_that_fit(3, [gb], None) == 3


def test_the_pool_reads_parts_one_at_a_time_when_two_would_not_fit(tmp_path, monkeypatch):
    parts = _parts(tmp_path)
    items = [(p, "payload") for p in parts]
    ex = LocalExecutor(processes=2, pool_min_part_bytes=0)
    need = ingest_peak_bytes(parts[0])
    monkeypatch.setattr(local, "available_memory_bytes", lambda: int(need * 1.5))
    assert list(ex._map_parts(len, items)) == [2, 2, 2]  # every part read, in order
    assert ex.part_reads_at_once == 1 and ex.pool_tasks == 3
    monkeypatch.setattr(local, "available_memory_bytes", lambda: need * 100)
    assert list(ex._map_parts(len, items)) == [2, 2, 2]
    assert ex.part_reads_at_once == 2
