"""Faults while serving, with the production gunicorn configuration and a real redis-server.

- A gunicorn worker killed (SIGKILL) under load: the only failed requests are those that were in
  flight at the kill, and the server goes on serving (the master starts a new worker).
- A corrupt snapshot published under the running server's feet is refused; the previous one keeps
  serving over HTTP; a good one published afterwards is picked up without a restart.
- Redis down: risk pages are still served (200), the card flow answers 503 with a page saying the
  card is unavailable and risk pages still work, the bot answers politely; state written before the
  outage (consent, audit, outbox) is there after Redis restarts (append-only file, fsync always).

Kill-under-load figures (requests, failures, in flight) are printed with ``-s`` for docs/reliability.md.
"""

from __future__ import annotations

import secrets
import hashlib
import http.client
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.miniapp.redis_server import RedisServer
from tests.miniapp.codes import last_code
from tests.miniapp.servers import Gunicorn, http_get
from tests.miniapp.snapshot_fixture import PHONES, TEST_KEY, fixture_meta, publish_fixture, snapshot_tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tmp_path):
    snapshots = publish_fixture(tmp_path / "snapshots")
    with Gunicorn(tmp_path, snapshots) as g:
        yield g


# ---- a worker killed under load ---------------------------------------------------------------------


PATHS = ["/community/1", "/api/v1/communities?q=bbt", "/api/v1/communities/2", "/city/420100", "/"]


def _load(port: int, stop: threading.Event, results: list, lock: threading.Lock, rate_per_thread: float,
          active: list) -> None:
    """Closed-loop client at a bounded rate, a new connection per request: (start, end, status|error)."""
    i = 0
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        i += 1
        with lock:
            active[0] += 1
        start = time.monotonic()
        try:
            status, body = http_get(port, path, timeout_s=10)
            outcome = status if status == 200 and b"Traceback" not in body else f"status {status}"
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
        end = time.monotonic()
        with lock:
            active[0] -= 1
            results.append((start, end, outcome))
        time.sleep(max(0.0, 1 / rate_per_thread - (end - start)))


def test_worker_killed_under_load_fails_only_requests_in_flight(server, capsys):
    results: list[tuple[float, float, object]] = []
    lock, stop, active = threading.Lock(), threading.Event(), [0]
    threads = [threading.Thread(target=_load, args=(server.port, stop, results, lock, 50.0, active), daemon=True)
               for _ in range(12)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    before = server.workers()
    assert len(before) == 2
    victim = before[0]
    deadline = time.monotonic() + 2
    while active[0] < 4 and time.monotonic() < deadline:  # kill while requests are on their way
        time.sleep(0.0005)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(timeout=30)

    failed = [r for r in results if r[2] != 200]
    in_flight = [r for r in results if r[0] <= killed_at <= r[1]]
    after = [r for r in results if r[0] > killed_at + 0.05]
    print(json.dumps({"requests": len(results), "failed": len(failed), "in_flight_at_kill": len(in_flight),
                      "served_after_kill": sum(r[2] == 200 for r in after),
                      "failure_kinds": sorted({str(r[2]) for r in failed})}))
    assert len(results) > 100
    # every failure overlaps the instant of the kill: nothing sent afterwards failed
    assert all(r[0] <= killed_at <= r[1] for r in failed), failed
    assert len(failed) <= len(in_flight)
    assert after and all(r[2] == 200 for r in after)
    # the master replaced the worker and the server still answers
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (len(server.workers()) < 2 or victim in server.workers()):
        time.sleep(0.2)
    assert victim not in server.workers() and len(server.workers()) == 2
    assert http_get(server.port, "/community/1")[0] == 200


# ---- a corrupt snapshot published under the server's feet ---------------------------------------------


def _as_of(port: int) -> str:
    status, body = http_get(port, "/api/v1/meta")
    assert status == 200
    return json.loads(body)["as_of"]


def _point_current(snapshots: Path, path: Path, sha256: str) -> None:
    from miniapp.snapshot import CURRENT
    from miniapp.snapshot import atomic_write_text

    atomic_write_text(snapshots / CURRENT, json.dumps({"name": path.name, "sha256": sha256,
                                                       "published_at": "2020-02-11T00:00:00Z"}))


def _stays_on(port: int, as_of: str, seconds: float = 2.5) -> None:
    """For longer than the servers' re-check interval (1 s), every worker keeps serving ``as_of``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert _as_of(port) == as_of
        assert http_get(port, "/community/1")[0] == 200
        assert http_get(port, "/healthz")[0] == 200
        time.sleep(0.05)


def test_corrupt_snapshot_is_refused_and_previous_keeps_serving(server, tmp_path):
    from miniapp.pipeline import write_and_publish
    from miniapp.snapshot import file_sha256
    from tests.miniapp.snapshot_fixture import write_fixture_snapshot

    snapshots = Path(server.env["RISKCARD_SNAPSHOT_DIR"])
    assert _as_of(server.port) == "2020-02-10"

    # 1. bit rot: a file whose content no longer matches the checksum recorded at publishing
    rotten = snapshots / "snapshot-20300101T000000000000Z.db"
    write_fixture_snapshot(rotten, as_of="2020-02-11")
    sha = file_sha256(rotten)
    with open(rotten, "r+b") as f:
        f.seek(rotten.stat().st_size // 2)
        f.write(b"\xa5" * 4096)
    _point_current(snapshots, rotten, sha)
    _stays_on(server.port, "2020-02-10")

    # 2. a truncated file (a copy cut short), with its own checksum
    cut = snapshots / "snapshot-20300102T000000000000Z.db"
    write_fixture_snapshot(tmp_path / "whole.db", as_of="2020-02-12")
    cut.write_bytes((tmp_path / "whole.db").read_bytes()[:8192])
    _point_current(snapshots, cut, hashlib.sha256(cut.read_bytes()).hexdigest())
    _stays_on(server.port, "2020-02-10")

    # 3. a damaged pointer
    (snapshots / "CURRENT").write_text("{not json")
    _stays_on(server.port, "2020-02-10")

    # the refusals are logged, and a good snapshot published afterwards is served without restart
    write_and_publish(snapshot_tables("2020-02-13"), snapshots, fixture_meta("2020-02-13"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _as_of(server.port) != "2020-02-13":
        time.sleep(0.1)
    time.sleep(1.5)  # every worker looks at CURRENT again within its 1 s interval
    seen = [_as_of(server.port) for _ in range(8)]
    assert seen == ["2020-02-13"] * 8, (seen, server.log.read_text(errors="replace")[-3000:])
    log = server.log.read_text(errors="replace")
    assert "refused new snapshot" in log and "Traceback" not in log


# ---- Redis down ----------------------------------------------------------------------------------------


@pytest.fixture
def redis_app(tmp_path):
    require_binary("redis-server")
    from miniapp.app import create_app
    from miniapp.proofs import generate_key

    server = RedisServer(tmp_path, persistent=True)
    server.start()
    (tmp_path / "keys").mkdir()
    generate_key(tmp_path / "keys")
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "redis-down-" + "x" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(publish_fixture(tmp_path / "snapshots")),
        "STATE_URL": server.url,
        "SIGNING_KEY_DIR": str(tmp_path / "keys"),
        "PUBLIC_URL": "https://riskcard.test",
        "SMS_BACKEND": "outbox",
        "DEMO": 1,
        "DEMO_OUTBOX": str(tmp_path / "outbox.jsonl"),
        "TWILIO_AUTH_TOKEN": "redis-down-token",
    })
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        yield app, server
    finally:
        server.stop()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _signed_sms(text: str) -> tuple[dict, dict]:
    from twilio.request_validator import RequestValidator

    params = {"From": "+86" + PHONES["traveller"], "To": "+14155550100", "Body": text,
              "MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "1" * 32}
    sig = RequestValidator("redis-down-token").compute_signature("https://riskcard.test/sms/inbound", params)
    return params, {"X-Twilio-Signature": sig}


def test_redis_down_risk_pages_served_card_says_unavailable_nothing_lost(redis_app):
    from forecast.phones import normalise_msisdn
    from miniapp.otp import subject_of
    from miniapp.state import open_state

    app, redis_server = redis_app
    client = app.test_client()
    phone = PHONES["companion"]
    subject = subject_of(normalise_msisdn(phone), TEST_KEY)

    # before the outage: a whole card flow writes code, limits, outbox, consent, proof and audit
    token = _csrf(client.get("/card/").get_data(as_text=True))
    assert client.post("/card/code", data={"number": phone, "csrf_token": token}).status_code == 302
    code = last_code(app)
    assert client.post("/card/verify", data={"code": code, "csrf_token": token}).status_code == 302
    assert client.post("/card/consent", data={"agree": "yes", "csrf_token": token}).status_code == 302
    assert client.get("/card/show").status_code == 200

    redis_server.stop()

    for path in ["/", "/community/1", "/city/420100", "/api/v1/communities?q=bbt", "/api/v1/communities/1",
                 "/same-trip?date=2020-02-01&number=G1", "/methods", "/privacy", "/.well-known/jwks.json"]:
        assert client.get(path).status_code == 200, path
    assert client.get("/healthz").get_json() == {"alive": True}  # alive: the process answers
    ready = client.get("/readyz")  # not ready: the state store is down (risk pages above still answer)
    assert ready.status_code == 503 and ready.get_json()["snapshot"] is True and ready.get_json()["state"] is False
    assert ready.get_json()["reason"] == "state store unreachable"
    for resp in [client.post("/card/code", data={"number": phone, "csrf_token": token}), client.get("/card/show"),
                 client.post("/card/consent", data={"agree": "yes", "csrf_token": token})]:
        page = resp.get_data(as_text=True)
        assert resp.status_code == 503, page[:300]
        assert "行程卡和验证码服务暂时不可用" in page and "风险查询不受影响" in page
        assert resp.headers["Retry-After"] == "30"
    english = client.get("/card/show?lang=en")
    assert english.status_code == 503 and "Community and city risk pages still work" in english.get_data(as_text=True)
    params, headers = _signed_sms("风险 bbt")
    sms = client.post("/sms/inbound", data=params, headers=headers)
    assert sms.status_code == 200 and b"<Message>" in sms.get_data()

    redis_server.start()  # same port, same directory: the append-only file is replayed
    state = open_state(redis_server.url)
    try:
        assert state.has_consent(subject, "itinerary")
        events = [e["event"] for e in state.audit_log(limit=50)]
        assert "consent" in events and "itinerary_viewed" in events
        otp = [m for m in state.outbox(limit=10) if m.get("purpose") == "otp"]
        assert otp and all(code not in (m.get("body") or "") for m in otp)  # recorded, code masked
        assert state.check_code(subject, "0" * 64) == "missing"  # the used code stayed used
    finally:
        state.close()
    assert client.get("/card/show").status_code == 200  # the verified session carries on
