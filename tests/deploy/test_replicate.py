"""Several app hosts, one build: pull_snapshot copies, verifies and swaps; a host that missed a publish catches up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from miniapp.snapshot import SnapshotError, list_snapshots, pull_snapshot, push_snapshot, read_current
from tests.miniapp.snapshot_fixture import publish_fixture


def test_hosts_get_the_build_hosts_snapshot_under_its_name(tmp_path):
    build = publish_fixture(tmp_path / "build")
    out = push_snapshot(build, [tmp_path / "app1", tmp_path / "app2"])
    src = read_current(build)
    for host in ("app1", "app2"):
        here = read_current(tmp_path / host)
        assert (here["name"], here["sha256"]) == (src["name"], src["sha256"])
    assert all(r["changed"] and r["bytes"] > 0 for r in out)
    assert pull_snapshot(str(build), tmp_path / "app1")["changed"] is False


def test_a_host_that_missed_a_publish_catches_up(tmp_path):
    build = publish_fixture(tmp_path / "build")
    pull_snapshot(str(build), tmp_path / "app1")
    publish_fixture(build, as_of="2020-02-11")
    publish_fixture(build, as_of="2020-02-12")  # app1 was down for two publishes
    out = pull_snapshot(str(build), tmp_path / "app1")
    assert out["changed"] and read_current(tmp_path / "app1")["sha256"] == read_current(build)["sha256"]
    assert len(list_snapshots(tmp_path / "app1")) == 2


def test_a_damaged_copy_is_refused_and_the_served_one_stays(tmp_path):
    build = publish_fixture(tmp_path / "build")
    pull_snapshot(str(build), tmp_path / "app1")
    before = read_current(tmp_path / "app1")
    publish_fixture(build, as_of="2020-02-11")
    pointer = read_current(build)
    path = build / pointer["name"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damaged at the source after publishing (or in transit)
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="does not match the source's sha256"):
        pull_snapshot(str(build), tmp_path / "app1")
    assert read_current(tmp_path / "app1") == before
    assert not list((tmp_path / "app1").glob(".build-*"))


def test_a_rollback_at_the_source_is_followed_without_copying(tmp_path):
    from miniapp.snapshot import rollback

    build = publish_fixture(tmp_path / "build")
    pull_snapshot(str(build), tmp_path / "app1")
    publish_fixture(build, as_of="2020-02-11")
    pull_snapshot(str(build), tmp_path / "app1")
    rollback(build)
    out = pull_snapshot(str(build), tmp_path / "app1")
    assert out["changed"] and out["bytes"] == 0
    assert read_current(tmp_path / "app1")["sha256"] == read_current(build)["sha256"]


def test_pull_over_http(tmp_path):
    """The app hosts pull from the build host's internal HTTP listener."""
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    build = publish_fixture(tmp_path / "build")
    handler = partial(SimpleHTTPRequestHandler, directory=str(build))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        proc = subprocess.run([sys.executable, "-m", "miniapp.cli.snapshot_cmd", "--source", url, "--snapshots",
                               str(tmp_path / "app1"), "--json"], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sha256"] == read_current(build)["sha256"]


def test_publish_keeps_a_given_name_once(tmp_path):
    from miniapp.snapshot import new_build_path, publish
    from tests.miniapp.snapshot_fixture import write_fixture_snapshot

    d = tmp_path / "snaps"
    d.mkdir()
    name = "snapshot-20200210T031500123456Z.db"
    assert publish(write_fixture_snapshot(new_build_path(d)), d, name=name)["name"] == name
    with pytest.raises(SnapshotError, match="already published"):
        publish(write_fixture_snapshot(new_build_path(d)), d, name=name)
    with pytest.raises(SnapshotError, match="not a snapshot name"):
        publish(write_fixture_snapshot(new_build_path(d)), d, name="../x.db")


def test_secrets_from_files(tmp_path):
    from miniapp.config import from_environ

    (tmp_path / "k").write_text("cd" * 16 + "\n")
    (tmp_path / "empty").write_text("\n")
    assert from_environ({"RISKCARD_SECRET_KEY_FILE": str(tmp_path / "k")})["SECRET_KEY"] == "cd" * 16
    assert from_environ({"RISKCARD_SECRET_KEY": "given", "RISKCARD_SECRET_KEY_FILE": str(tmp_path / "k")})[
        "SECRET_KEY"] == "given"
    with pytest.raises(RuntimeError, match="is empty"):
        from_environ({"RISKCARD_SECRET_KEY_FILE": str(tmp_path / "empty")})
    with pytest.raises(RuntimeError, match="cannot read"):
        from_environ({"RISKCARD_STATE_URL_FILE": str(tmp_path / "missing")})
