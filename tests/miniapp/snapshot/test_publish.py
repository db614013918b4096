"""Publishing: checks, atomic swap, pruning, rollback, and faults (kill -9, disk full, corrupt files)."""

from __future__ import annotations

import importlib
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from miniapp.pipeline import write_and_publish
from miniapp.snapshot import SnapshotError, SnapshotStore, file_sha256, open_current
from tests.miniapp.snapshot_fixture import fixture_meta, publish_fixture, snapshot_tables, write_fixture_snapshot

# the module, not the function of the same name the package re-exports
P = importlib.import_module("miniapp.snapshot.publish")

ROOT = Path(__file__).resolve().parents[3]


def served_ok(snapshot_dir: Path) -> str:
    """Assert that CURRENT names a complete, checked, openable snapshot; return its name."""
    pointer = P.read_current(snapshot_dir)
    assert pointer is not None
    store = SnapshotStore(snapshot_dir / pointer["name"], pointer["sha256"], full_check=True)
    assert [r["name"] for r in store.search_communities("bbt")][:1] == ["百步亭花园"]
    assert store.community(1)["grade"] == "high"
    store.close()
    return pointer["name"]


def test_publish_points_current_and_records_checksum(tmp_path):
    d = tmp_path / "snaps"
    publish_fixture(d)
    (entry,) = P.list_snapshots(d)
    pointer = P.read_current(d)
    assert entry["current"] and pointer["name"] == entry["name"]
    assert pointer["sha256"] == entry["sha256"] == file_sha256(entry["path"])
    assert not list(d.glob(".build-*")) and not list(d.glob(".*.tmp-*"))
    served_ok(d)


def test_publish_from_another_directory_copies_in(tmp_path):
    src = write_fixture_snapshot(tmp_path / "elsewhere.db")
    out = P.publish(src, tmp_path / "snaps")
    assert out["previous"] is None and (tmp_path / "snaps" / out["name"]).exists() and src.exists()


def test_keep_prunes_old_snapshots_never_the_current(tmp_path):
    d = tmp_path / "snaps"
    names = []
    for day in ("2020-02-07", "2020-02-08", "2020-02-09", "2020-02-10"):
        names.append(write_and_publish(snapshot_tables(day), d, fixture_meta(day), keep=2)["name"])
    kept = [e["name"] for e in P.list_snapshots(d)]
    assert kept == names[-2:]
    assert not list(d.glob(f"{names[0]}*"))  # the checksum file went with it
    assert P.read_current(d)["name"] == names[-1]


def test_rollback_goes_back_one_and_checks_the_target(tmp_path):
    d = tmp_path / "snaps"
    a = write_and_publish(snapshot_tables("2020-02-09"), d, fixture_meta("2020-02-09"))["name"]
    b = write_and_publish(snapshot_tables("2020-02-10"), d, fixture_meta("2020-02-10"))["name"]
    out = P.rollback(d)
    assert (out["name"], out["previous"]) == (a, b) and P.read_current(d)["name"] == a
    with pytest.raises(SnapshotError, match="nothing to roll back"):
        P.rollback(d)
    P.rollback(d, to=b)
    assert P.read_current(d)["name"] == b
    with pytest.raises(SnapshotError, match="no published snapshot named"):
        P.rollback(d, to="snapshot-19990101T000000000000Z.db")
    # a damaged older file is refused and the current one stays
    with open(d / a, "r+b") as f:
        f.seek(5000)
        f.write(b"\xff" * 64)
    with pytest.raises(SnapshotError, match="sha256"):
        P.rollback(d)
    assert P.read_current(d)["name"] == b


def _good_file(tmp_path: Path) -> Path:
    return write_fixture_snapshot(tmp_path / "good.db")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "zeroed_page", "empty_file", "missing"])
def test_broken_files_are_never_published(tmp_path, damage):
    d = publish_fixture(tmp_path / "snaps")
    before = (d / P.CURRENT).read_bytes()
    good = _good_file(tmp_path)
    bad = P.new_build_path(d)
    data = good.read_bytes()
    if damage == "truncated":  # a half-written file
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        bad.write_bytes(os.urandom(len(data)))
    elif damage == "zeroed_page":
        bad.write_bytes(data[:4096 * 3] + b"\x00" * 4096 + data[4096 * 4:])
    elif damage == "empty_file":
        bad.write_bytes(b"")
    with pytest.raises(SnapshotError):
        P.publish(bad, d)
    assert (d / P.CURRENT).read_bytes() == before
    assert len(P.list_snapshots(d)) == 1
    served_ok(d)


def test_a_snapshot_without_required_rows_is_refused(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    tables = snapshot_tables()
    tables["grades"] = tables["grades"].iloc[:0]
    with pytest.raises(SnapshotError, match="no rows in grades"):
        write_and_publish(tables, d, fixture_meta())
    assert len(P.list_snapshots(d)) == 1 and not list(d.glob(".build-*"))
    served_ok(d)


def test_failure_while_swapping_leaves_current(tmp_path, monkeypatch):
    d = publish_fixture(tmp_path / "snaps")
    before = (d / P.CURRENT).read_bytes()
    real = P.atomic_write_text

    def disk_full_on_current(path, text):
        if Path(path).name == P.CURRENT:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(P, "atomic_write_text", disk_full_on_current)
    with pytest.raises(SnapshotError, match="No space left.*still serving"):
        write_and_publish(snapshot_tables(), d, fixture_meta())
    assert (d / P.CURRENT).read_bytes() == before
    served_ok(d)


def test_atomic_write_failure_keeps_old_content_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "CURRENT"
    P.atomic_write_text(target, "old")

    def fail(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(P.os, "replace", fail)
    with pytest.raises(OSError):
        P.atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["CURRENT"]


def test_damaged_pointer_is_reported(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    (d / P.CURRENT).write_text("{not json")
    with pytest.raises(SnapshotError, match="CURRENT pointer .* damaged"):
        P.read_current(d)


# ---- faults in a real child process -----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from miniapp.pipeline.run import write_and_publish
    from tests.miniapp.snapshot_fixture import fixture_meta, snapshot_tables
    d = Path(sys.argv[1])
    mode = sys.argv[2]
    tables = snapshot_tables("2020-02-11", extra_communities=int(sys.argv[3]))
    if mode == "disk_full":
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        limit = int(sys.argv[4])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    print("ready", flush=True)
    try:
        write_and_publish(tables, d, fixture_meta("2020-02-11"), keep=3)
    except Exception as exc:
        print("FAILED", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("published", flush=True)
    """
).format(root=str(ROOT))


def _child(d: Path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(d), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _fork(fn) -> int:
    """Run ``fn`` in a forked child (a real process, modules already imported); return its pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            fn()
        except BaseException:  # noqa: BLE001 - report through the exit status
            code = 3
        finally:
            os._exit(code)
    return pid


def test_kill_minus_9_at_random_points_keeps_the_served_snapshot(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    current = open_current(d, check_interval_s=0)
    assert current() is not None
    tables = snapshot_tables("2020-02-11", extra_communities=300)
    rng = random.Random(6)

    def build_forever():
        while True:
            write_and_publish(tables, d, fixture_meta("2020-02-11"), keep=3)

    for _ in range(8):
        pid = _fork(build_forever)
        time.sleep(rng.uniform(0.0, 0.8))  # a random point in the write / check / swap cycle
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        name = served_ok(d)
        store = current()  # a running server follows what is published, never a broken file
        assert store is not None and store.path.name == name and current.error is None
    P.prune(d, keep=3)
    assert not list(d.glob(".build-*"))  # files left by killed builds are cleaned up
    assert len(P.list_snapshots(d)) <= 3


def test_kill_minus_9_at_every_step_of_publish(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    first = P.read_current(d)["name"]
    tables = snapshot_tables("2020-02-11")
    outcomes = []
    for k in range(1, 40):

        def build_and_die_at_step_k(k=k):
            calls = [0]

            def trap(real):
                def wrapped(*a, **kw):
                    calls[0] += 1
                    if calls[0] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real(*a, **kw)
                return wrapped

            os.replace, os.fsync = trap(os.replace), trap(os.fsync)  # only in the child
            write_and_publish(tables, d, fixture_meta("2020-02-11"))

        _, status = os.waitpid(_fork(build_and_die_at_step_k), 0)
        name = served_ok(d)
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            outcomes.append("done")
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        outcomes.append("old" if name == first else "new")
    assert outcomes[-1] == "done" and outcomes[0] == "old" and len(outcomes) >= 6
    # until the pointer moved the old one was served, afterwards the new one: never anything else
    first_new = outcomes.index("new") if "new" in outcomes else len(outcomes) - 1
    assert set(outcomes[:first_new]) == {"old"} and "old" not in outcomes[first_new:]
    P.prune(d, keep=3)
    assert not list(d.glob(".build-*")) and not list(d.glob(".*.tmp-*"))  # debris of killed builds


def test_disk_full_during_a_build_leaves_the_served_snapshot(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    before = (d / P.CURRENT).read_bytes()
    proc = _child(d, "disk_full", 3000, 2_000_000)  # the file would be ~10 MB
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "SnapshotError" in out and "disk" in out
    assert (d / P.CURRENT).read_bytes() == before
    assert not list(d.glob(".build-*"))
    served_ok(d)


def test_corrupt_current_file_is_refused_and_previous_served(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    current = open_current(d, check_interval_s=0)
    old = current()
    out = write_and_publish(snapshot_tables("2020-02-11"), d, fixture_meta("2020-02-11"))
    path = Path(out["path"])
    with open(path, "r+b") as f:  # bit rot or a bad copy after publishing
        f.seek(path.stat().st_size // 2)
        f.write(b"\xa5" * 512)
    assert current() is old
    assert "refused" in current.error and "sha256" in current.error
    shutil.copy(path, tmp_path / "copy.db")
    with pytest.raises(SnapshotError):
        SnapshotStore(path, out["sha256"])
    assert json.loads((d / P.CURRENT).read_text())["name"] == path.name
