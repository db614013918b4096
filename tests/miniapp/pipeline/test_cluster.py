"""The build on a Dask LocalCluster (two worker processes) publishes the same snapshot content as locally."""

from __future__ import annotations

import contextlib

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from miniapp.pipeline import BuildParams, LocalExecutor, run_build
from miniapp.pipeline.cluster import DaskExecutor, dask_client, plan_partitions

from tests.miniapp.pipeline.stubs import stub_grades

ROOT = Path(__file__).resolve().parents[3]
KEY = b"riskcard-test-pseudonym-key-0002"
AS_OF = "2020-02-01"
PARAMS = replace(BuildParams(), n_members=20)
STEPS = {"grades": stub_grades}
META_IGNORED = {"built_at", "code_version", "rows"}  # rows: per-table counts are compared as tables


@pytest.fixture(scope="module")
def nation(tmp_path_factory):
    """A small synthetic nation, pings in one part per local day, plus a few bad rows to quarantine."""
    from forecast.synth import NationConfig, generate_nation_to_dir

    d = tmp_path_factory.mktemp("nation")
    generate_nation_to_dir(NationConfig(n_cities=3, n_subscribers=300, n_days=6, as_of=AS_OF), KEY, d, progress=False)
    pings = pd.read_parquet(d / "pings.parquet")
    (d / "pings.parquet").unlink()
    day = pd.to_datetime(pings["ts"], utc=True, format="mixed").dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d")
    (d / "pings").mkdir()
    for i, (value, frame) in enumerate(pings.groupby(day)):
        if i == 1:  # bad rows: a short number, an unknown cell, an exact duplicate
            bad = frame.iloc[:3].copy()
            bad["msisdn"] = ["12345", bad["msisdn"].iloc[1], bad["msisdn"].iloc[2]]
            bad["cell_id"] = [bad["cell_id"].iloc[0], 999_999_999_999, bad["cell_id"].iloc[2]]
            # next to their originals: duplicates are found within an ingest batch (iter_ping_batches)
            frame = pd.concat([frame.iloc[:3], bad, frame.iloc[3:]], ignore_index=True)
        frame.to_parquet(d / "pings" / f"part-{value}.parquet", index=False, row_group_size=2_000)
    return d


def _tables(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows, ordered by all columns; meta without the build's own facts."""
    conn = sqlite3.connect(path)
    out = {}
    names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    for name in names:
        cols = [c[1] for c in conn.execute(f"PRAGMA table_info([{name}])")]
        order = ", ".join(f"[{c}]" for c in cols)
        rows = conn.execute(f"SELECT * FROM [{name}] ORDER BY {order}").fetchall()
        if name == "meta":
            rows = [r for r in rows if r[0] not in META_IGNORED]
        out[name] = rows
    conn.close()
    return out


def _quarantine(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text() for p in sorted((out / "quarantine").rglob("*.csv"))}


def test_plan_partitions_follow_the_memory_limit():
    small = plan_partitions(1_000_000_000, n_workers=2, total_rows=10**9, max_part_rows=10**8)
    big = plan_partitions(8_000_000_000, n_workers=2, total_rows=10**9, max_part_rows=10**8)
    assert small.n_buckets > big.n_buckets and small.batch_rows < big.batch_rows
    assert small.batch_rows * 300 < 0.5e9  # one ingest batch fits half a worker's memory


def test_distributed_build_equals_local_build(nation, tmp_path):
    quiet = {"progress": False, "log": lambda _m: None}
    local = run_build(nation, AS_OF, tmp_path / "local", pseudonym_key=KEY, params=PARAMS, steps=STEPS, **quiet)
    with dask_client(workers=2, worker_memory="1GB", local_directory=tmp_path / "dask") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        # small batches and several buckets: every part is validated in pieces and split four ways;
        # the companion search runs in three place groups (the local build: one), cases in batches of 2
        ex = DaskExecutor(client, n_buckets=4, batch_rows=2_000, companion_groups=3, companion_batch_cases=2)
        dist = run_build(nation, AS_OF, tmp_path / "dist", pseudonym_key=KEY, params=PARAMS, steps=STEPS,
                         executor=ex, **quiet)
        again = run_build(nation, AS_OF, tmp_path / "dist", pseudonym_key=KEY, params=PARAMS, steps=STEPS,
                          executor=DaskExecutor(client, n_buckets=4, batch_rows=2_000), **quiet)

    a = _tables(tmp_path / "local" / "snapshots" / local["snapshot"])
    b = _tables(tmp_path / "dist" / "snapshots" / dist["snapshot"])
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"table {name} differs"
    assert len(a["itineraries"]) > 100 and len(a["grades"]) > 0
    for k in ("rows_in", "quarantined", "stays", "subscribers", "itinerary_rows", "companions", "possible_companions",
              "ping_parts"):
        assert local[k] == dist[k], k
    assert local["quarantined"] == 3
    assert _quarantine(tmp_path / "local") == _quarantine(tmp_path / "dist")

    parts = sorted((tmp_path / "dist" / "cache" / "pings").iterdir())
    assert len(parts) == dist["ping_parts"] and dist["ping_parts_processed"] == len(parts)
    assert all(len(list(p.glob("stays-b*.parquet"))) == 4 and not (p / "_pings").exists() for p in parts)
    assert all(len(list(p.glob("companion_stays-b*.parquet"))) == 4 for p in parts)
    assert local["companions"] > 0  # the comparison means something
    assert ex.timings["companion_groups"] == 3
    assert not list((tmp_path / "dist" / "cache").glob("_companion_groups-*"))  # scratch removed
    uids = pd.read_parquet(parts[0] / "stays-b0003.parquet")["uid"].to_numpy()
    assert len(uids) and (np.mod(uids, 4) == 3).all()  # partitioned by pseudonym hash
    assert (again["ping_parts_cached"], again["ping_parts_processed"]) == (len(parts), 0)
    assert _tables(tmp_path / "dist" / "snapshots" / again["snapshot"])["itineraries"] == a["itineraries"]


def test_local_build_with_two_processes_equals_one_process(nation, tmp_path):
    """LocalExecutor(processes=2): ping parts read side by side, companion place groups side by side."""
    quiet = {"progress": False, "log": lambda _m: None}
    one = run_build(nation, AS_OF, tmp_path / "one", pseudonym_key=KEY, params=PARAMS, steps=STEPS, **quiet)
    ex = LocalExecutor(processes=2, pool_min_part_bytes=0, pool_min_stays=0)
    two = run_build(nation, AS_OF, tmp_path / "two", pseudonym_key=KEY, params=PARAMS, steps=STEPS, executor=ex, **quiet)
    assert ex.pool_tasks > two["ping_parts"]  # every part and the batches of cases ran in worker processes
    assert not list((tmp_path / "two" / "cache" / "_pool").rglob("*.pkl"))  # task and result files removed
    assert ex.worker_peak_bytes > 50_000_000  # measured in the workers (a Python with pandas loaded)
    a = _tables(tmp_path / "one" / "snapshots" / one["snapshot"])
    b = _tables(tmp_path / "two" / "snapshots" / two["snapshot"])
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], f"table {name} differs"
    assert one["companions"] > 0 and len(a["exposure"]) > 0  # the comparison means something
    assert two["ping_parts_processed"] == two["ping_parts"] > 1 and two["quarantined"] == one["quarantined"] == 3
    assert _quarantine(tmp_path / "one") == _quarantine(tmp_path / "two")
    manifests = sorted((tmp_path / "two" / "cache" / "pings").glob("*/manifest.json"))
    assert len(manifests) == two["ping_parts"]


KILLED_BUILD = """
import sys
sys.path.insert(0, {root!r})
from dataclasses import replace
from miniapp.pipeline.run import BuildParams, LocalExecutor, run_build
from tests.miniapp.pipeline.test_cluster import KEY, PARAMS, STEPS

if __name__ == "__main__":
    ex = LocalExecutor(processes=2, pool_min_part_bytes=0, pool_min_stays=0)
    run_build(sys.argv[1], sys.argv[2], sys.argv[3], pseudonym_key=KEY, params=PARAMS, steps=STEPS, executor=ex,
              progress=False)
"""


def _children(pid: int) -> list[int]:
    """The process's children that run Python (the pool's workers; not its resource tracker)."""
    from pathlib import Path

    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread or child may end while it is read
            found += [int(c) for c in (task / "children").read_text().split()]
    workers = []
    for c in found:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes():
                workers.append(c)
    return workers


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped by whoever adopted it has ended)."""
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_build_killed_while_its_workers_run_leaves_the_served_snapshot(nation, tmp_path):
    """kill -9 of the build process while its pool reads ping parts: the served snapshot stays, and the
    next build (orphaned workers may still be finishing a part: cache files are replaced atomically)
    publishes, its pool's leftovers removed."""
    import signal
    import subprocess
    import sys
    import time

    from miniapp.snapshot import read_current
    from miniapp.snapshot import SnapshotStore

    def served_ok(snapshot_dir):  # CURRENT names a complete snapshot that passes the full check
        pointer = read_current(snapshot_dir)
        SnapshotStore(snapshot_dir / pointer["name"], pointer["sha256"], full_check=True).close()
        return pointer["name"]

    quiet = {"progress": False, "log": lambda _m: None}
    out = tmp_path / "out"
    first = run_build(nation, AS_OF, out, pseudonym_key=KEY, params=PARAMS, steps=STEPS, **quiet)
    shutil.rmtree(out / "cache" / "pings")  # every part is read again, by the pool
    script = tmp_path / "build.py"
    script.write_text(KILLED_BUILD.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script), str(nation), AS_OF, str(out)], cwd=ROOT)
    deadline = time.monotonic() + 120
    while not list((out / "cache" / "_pool").glob("riskcard-pool-*/task-*.pkl")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the build ended before its pool started"
    workers = _children(proc.pid)  # the task files are written before the pool spawns its workers
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
        workers = _children(proc.pid)
    assert workers, "no pool worker found"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert served_ok(out / "snapshots") == first["snapshot"]
    deadline = time.monotonic() + 15  # orphaned workers end by themselves (they watch their parent)
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)], "pool workers outlived the killed build"
    again = run_build(nation, AS_OF, out, pseudonym_key=KEY, params=PARAMS, steps=STEPS,
                      executor=LocalExecutor(processes=2, pool_min_part_bytes=0, pool_min_stays=0), **quiet)
    assert served_ok(out / "snapshots") == again["snapshot"] != first["snapshot"]
    assert not list((out / "cache" / "_pool").rglob("*.pkl"))


def test_cli_checks_the_cluster_options(nation, tmp_path):
    from click.testing import CliRunner

    from miniapp.cli import cli

    env = {"RISKCARD_PSEUDONYM_KEY": KEY.hex()}
    base = ["build", "--feeds", str(nation), "--as-of", AS_OF, "--out", str(tmp_path), "--quiet"]
    r = CliRunner().invoke(cli, base + ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], env=env)
    assert r.exit_code == 2 and "--workers or --scheduler" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, base + ["--workers", "2", "--worker-memory", "lots"], env=env)
    assert r.exit_code == 2 and "2GB" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "snapshots").exists()
