"""Issue 16 item 10: the served snapshot damaged in place (same file name, ``CURRENT`` unchanged).

The attack overwrites 256 KB in the middle of the file every worker is serving. Before the fix, the
requests that touched those pages answered 500 "database disk image is malformed" (a traceback each in
the log) while ``/healthz`` said 200. Now the damage is detected (a query's ``sqlite3.DatabaseError``
confirmed by re-hashing the file, or the served file's size/mtime changed at the periodic look), the
process falls back to the newest other published snapshot whose bytes match its recorded sha256,
``/readyz`` turns red (503, ``snapshot_damaged: true``), ``riskcard_snapshot_damaged_total`` counts
it on the internal metrics port (``miniapp.scrape``) and one warning is logged; without any sound snapshot the answer is a clear 503.

The gunicorn test prints its figures with ``-s`` (requests sent, statuses) for docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

import miniapp.snapshot.read as read_module
from miniapp.app import create_app
from miniapp.scrape import exposition
from miniapp.snapshot import CurrentSnapshot, SnapshotStore, read_current
from tests.miniapp.servers import Gunicorn, free_port, http_get, scrape_metrics
from tests.miniapp.snapshot_fixture import publish_fixture

OLD, NEW = "2020-02-10", "2020-02-11"
# 500 generated communities make a ~2 MB file whose middle 256 KB are pages of the grades table:
# community() of about 120 of the ids 1000..1499 then fails with "database disk image is malformed".
EXTRA = 500
DAMAGE_BYTES = 256 * 1024
CITY_CODES = (420100, 110100, 310100, 440300)
METRIC = re.compile(r"^riskcard_snapshot_damaged_total ([0-9.]+)$", re.M)


def _value(text: str, sample: str) -> float:
    """A sample's value in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def two_snapshots(root: Path) -> tuple[Path, Path, Path]:
    """Publish OLD then NEW (NEW is served); return the directory, the served file and the fallback."""
    snaps = publish_fixture(root / "snapshots", as_of=OLD, extra_communities=EXTRA)
    old = snaps / read_current(snaps)["name"]
    publish_fixture(snaps, as_of=NEW, extra_communities=EXTRA)
    served = snaps / read_current(snaps)["name"]
    assert served != old
    return snaps, served, old


def damage_in_place(path: Path, keep_mtime: bool = False, seed: int = 16) -> None:
    """Overwrite the middle 256 KB (or half the file if smaller) with random bytes, in place."""
    st = path.stat()
    n = min(DAMAGE_BYTES, st.st_size // 2)
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2 - n // 2)
        f.write(random.Random(seed).randbytes(n))
        f.flush()
        os.fsync(f.fileno())
    if keep_mtime:  # a careful attacker: size, inode and mtime as before
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def damaged_ids(damaged_copy: Path) -> list[int]:
    """Generated community ids whose grades rows sit on a damaged page (read from a copy of the file)."""
    conn = sqlite3.connect(f"file:{damaged_copy}?mode=ro&immutable=1", uri=True)
    bad = []
    try:
        for cid in range(1000, 1000 + EXTRA):
            try:
                conn.execute("SELECT * FROM grades WHERE community_id = ?", (cid,)).fetchall()
            except sqlite3.DatabaseError:
                bad.append(cid)
    finally:
        conn.close()
    return bad


# ---- unit level: CurrentSnapshot and the app's test client ------------------------------------------------


def test_a_query_on_a_damaged_file_falls_back_even_when_size_and_mtime_are_kept(tmp_path, caplog):
    snaps, served, old = two_snapshots(tmp_path)
    current = CurrentSnapshot(snaps, check_interval_s=3600)  # no periodic look: only the query path
    store = current()
    assert store.meta()["as_of"] == NEW and store.community(1400)["as_of"] == NEW
    damage_in_place(served, keep_mtime=True)
    caplog.set_level(logging.INFO)
    answers = [store.community(cid) for cid in range(1000, 1000 + EXTRA)]  # the view still holds the old store
    assert all(a is not None for a in answers)
    fallback = current()
    assert fallback is not store and fallback.path == old and fallback.meta()["as_of"] == OLD
    assert {a["as_of"] for a in answers[400:]} == {OLD}  # after the damage was met, from the fallback
    assert current.damaged and current.damaged["name"] == served.name
    assert current.damaged_total == 1
    assert served.name in current.error and old.name in current.error
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_the_periodic_look_notices_a_changed_file_before_any_query(tmp_path):
    snaps, served, old = two_snapshots(tmp_path)
    current = CurrentSnapshot(snaps, check_interval_s=0)
    assert current().path == served
    damage_in_place(served)
    assert current().path == old and current.damaged_total == 1
    assert current().path == old and current.damaged_total == 1  # counted once, not per look
    # a new good snapshot published afterwards is served, and the damage is over
    publish_fixture(snaps, as_of="2020-02-12", extra_communities=EXTRA)
    assert current().meta()["as_of"] == "2020-02-12" and current.damaged is None and current.error is None


def test_a_fresh_process_facing_a_damaged_published_file_reports_the_damage(tmp_path):
    snaps, served, old = two_snapshots(tmp_path)
    damage_in_place(served)
    current = CurrentSnapshot(snaps)  # a worker started after the damage: it never served the file
    assert current().path == old
    assert current.damaged and current.damaged["name"] == served.name and current.damaged_total == 1


def test_an_sqlite_error_on_an_intact_file_is_not_damage(tmp_path, monkeypatch):
    """A failing query on a file that still matches its checksum propagates; no fallback, one re-hash."""
    snaps, served, _ = two_snapshots(tmp_path)
    reports = []
    store = SnapshotStore(served, on_damage=reports.append)
    hashes = []
    real_hash = read_module.file_sha256
    monkeypatch.setattr(read_module, "file_sha256", lambda path: hashes.append(path) or real_hash(path))

    def failing(sql, params=()):
        raise sqlite3.OperationalError("not damage")

    monkeypatch.setattr(store, "_rows", failing)
    for _ in range(3):
        with pytest.raises(sqlite3.OperationalError, match="not damage"):
            store.community(1400)
    assert store.damaged is None and reports == [] and len(hashes) == 1  # re-hashed once, then trusted


def _app(tmp_path: Path, snaps: Path, app_config: dict):
    app = create_app({**app_config, "SNAPSHOT_DIR": str(snaps)})
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_through_the_app_no_500_answers_from_the_fallback_health_red_counted(tmp_path, app_config, caplog):
    snaps, served, old = two_snapshots(tmp_path)
    client = _app(tmp_path, snaps, app_config).test_client()
    assert client.get("/api/v1/meta").get_json()["as_of"] == NEW
    assert client.get("/readyz").get_json() == {"snapshot": True, "state": True, "ready": True}
    errors_500 = _value(exposition(client.application.config).decode(), 'riskcard_errors_total{status="500"}')
    damage_in_place(served)
    caplog.set_level(logging.INFO)
    statuses, seen = Counter(), []
    for cid in range(1300, 1440, 2):  # through the damaged pages (ids about 1309..1427)
        for path in (f"/api/v1/communities/{cid}", f"/community/{cid}"):
            resp = client.get(path)
            statuses[resp.status_code] += 1
            if path.startswith("/api/"):
                seen.append(resp.get_json()["as_of"])
    assert statuses == {200: 140}
    # intact pages read before the damage was met answer from the served file; from then on, the fallback
    switched = seen.index(OLD)
    assert set(seen[:switched]) <= {NEW} and set(seen[switched:]) == {OLD} and switched <= 5, seen
    csv = client.get("/api/v1/grades.csv")
    assert csv.status_code == 200 and OLD in csv.headers["Content-Disposition"]
    assert csv.get_data(as_text=True).count("\n") == 1 + 9 + EXTRA  # header + every community
    health = client.get("/readyz")
    body = health.get_json()
    assert health.status_code == 503 and body["snapshot"] is False and body["snapshot_damaged"] is True
    assert body["serving"] == old.name and "damaged" in body["reason"]
    metrics = exposition(client.application.config).decode()  # what the internal metrics port serves
    assert int(float(METRIC.search(metrics).group(1))) >= 1
    assert _value(metrics, 'riskcard_errors_total{status="500"}') == errors_500  # no 500 answered
    assert not any(r.exc_info for r in caplog.records)
    assert sum("damaged" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING) == 1


def test_without_any_good_snapshot_the_answer_is_a_clear_503(tmp_path, app_config):
    snaps = publish_fixture(tmp_path / "only", as_of=NEW, extra_communities=EXTRA)
    served = snaps / read_current(snaps)["name"]
    client = _app(tmp_path, snaps, app_config).test_client()
    assert client.get("/api/v1/meta").status_code == 200  # opens the store (meta is not in the response cache)
    damage_in_place(served)
    for path in ("/api/v1/communities/1400", "/api/v1/communities/1401", "/community/1402", "/api/v1/meta"):
        resp = client.get(path)
        assert resp.status_code == 503, (path, resp.get_data(as_text=True)[:300])
        assert resp.headers["Retry-After"] == "30"
    api = client.get("/api/v1/communities/1403").get_json()["error"]
    assert api["message_zh"] and api["message"] and api["status"] == 503
    page = client.get("/community/1404?lang=zh").get_data(as_text=True)
    assert "服务暂时不可用" in page and "Traceback" not in page
    health = client.get("/readyz")
    assert health.status_code == 503 and health.get_json()["snapshot_damaged"] is True
    assert health.get_json()["serving"] is None


# ---- the attack on the real server -------------------------------------------------------------------------


def _paths(n: int) -> list[str]:
    """``n`` API and page URLs, most through the damaged pages."""
    out = []
    for i in range(n):
        cid = 1300 + (7 * i) % 140
        kind = i % 10
        if kind in (0, 1, 2, 3):
            out.append(f"/api/v1/communities/{cid}")
        elif kind in (4, 5):
            out.append(f"/community/{cid}")
        elif kind == 6:
            out.append(f"/api/v1/communities?q=ceshi{cid - 1000}")
        elif kind == 7:
            out.append(f"/city/{CITY_CODES[i % 4]}" if i % 20 < 10 else f"/api/v1/cities/{CITY_CODES[i % 4]}")
        elif kind == 8:
            out.append("/api/v1/meta")
        else:
            out.append("/api/v1/grades.csv" if i % 30 == 9 else "/")
    return out


def test_attack_on_the_served_file_under_gunicorn(tmp_path, capsys):
    snaps, served, old = two_snapshots(tmp_path)
    pristine_copy = tmp_path / "pristine-new.db"
    shutil.copyfile(served, pristine_copy)
    pristine = {NEW: SnapshotStore(pristine_copy), OLD: SnapshotStore(old)}
    metrics_port = free_port()
    with Gunicorn(tmp_path, snaps, workers=2, threads=4, env={"RISKCARD_METRICS_PORT": str(metrics_port)}) as server:
        for _ in range(8):  # both workers open the served snapshot
            assert json.loads(http_get(server.port, "/api/v1/meta")[1])["as_of"] == NEW
            assert http_get(server.port, "/api/v1/communities/1400")[0] == 200

        damage_in_place(served)
        damaged_copy = tmp_path / "damaged-copy.db"
        shutil.copyfile(served, damaged_copy)
        assert len(damaged_ids(damaged_copy)) > 50  # the damage does hit table pages

        # during: 100 requests sent at once after the damage
        statuses: Counter = Counter()
        as_of: Counter = Counter()
        for path in _paths(100):
            status, body = http_get(server.port, path, timeout_s=30)
            statuses[status] += 1
            assert b"Traceback" not in body
            if status == 200 and path.startswith("/api/v1/communities/"):
                record = json.loads(body)
                as_of[record["as_of"]] += 1
                # an answer is the intact record of one snapshot: the fallback, or an undamaged page read
                # before this worker met the damage; never garbage
                assert record == json.loads(json.dumps(pristine[record["as_of"]].community(int(path.rsplit("/", 1)[1]))))
        during = dict(statuses)

        # after: every worker has looked at its served file again (1 s interval): all from the fallback
        time.sleep(1.5)
        after: Counter = Counter()
        after_as_of: Counter = Counter()
        for path in _paths(40):
            status, body = http_get(server.port, path, timeout_s=30)
            after[status] += 1
            if status == 200 and (path.startswith("/api/v1/communities/") or path == "/api/v1/meta"):
                after_as_of[json.loads(body)["as_of"]] += 1

        healths = [http_get(server.port, "/readyz") for _ in range(6)]
        metrics = [scrape_metrics(metrics_port)[1].decode() for _ in range(6)]
        assert http_get(server.port, "/metrics")[0] == 404  # never on the public port
        log = server.log.read_text(errors="replace")
        print(json.dumps({"requests_during": 100, "statuses_during": during, "community_as_of_during": dict(as_of),
                          "requests_after": 40, "statuses_after": dict(after), "as_of_after": dict(after_as_of),
                          "healthz": [h[0] for h in healths],
                          "damaged_total": [int(float(m.group(1))) if (m := METRIC.search(t)) else None for t in metrics],
                          "warnings": log.count("is damaged")}))
        assert statuses.get(500, 0) == 0 and set(statuses) == {200}, during
        assert set(after) == {200}, dict(after)
        assert set(after_as_of) == {OLD}, dict(after_as_of)
        assert as_of[OLD] > 0
        for status, body in healths:
            health = json.loads(body)
            assert status == 503 and health["snapshot"] is False and health["snapshot_damaged"] is True
            assert health["serving"] == old.name
        for text in metrics:
            found = METRIC.search(text)
            assert found and int(float(found.group(1))) >= 1, text
            assert 'status="500"' not in text
        assert "Traceback" not in log
        assert 1 <= log.count("is damaged") <= 2, log[-3000:]  # one warning per worker
