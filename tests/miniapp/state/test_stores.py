"""The state store contract, run against both backends (SQLite file and a real redis-server)."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from miniapp.state import StateStore, StateUnavailable, StateValueError, base as S, open_state
from miniapp.state.sqlite import MIGRATIONS, SCHEMA_VERSION, migrate

SUBJ = "68ba9da759ce5549"
OTHER = "0123456789abcdef"


def test_both_backends_implement_the_protocol(store):
    assert isinstance(store, StateStore)
    assert store.ping() is True


# -- one-time codes ------------------------------------------------------------------------------
def test_code_is_single_use(store):
    store.put_code(SUBJ, "hash-a", ttl_s=600)
    assert store.check_code(SUBJ, "hash-a") == "ok"
    assert store.check_code(SUBJ, "hash-a") == "missing"


def test_wrong_then_right_code(store):
    store.put_code(SUBJ, "hash-a", ttl_s=600)
    assert store.check_code(SUBJ, "hash-b") == "wrong"
    assert store.code_failures(SUBJ) == 1
    assert store.check_code(SUBJ, "hash-a") == "ok"
    assert store.code_failures(SUBJ) == 0


def test_code_expires(store, clock):
    store.put_code(SUBJ, "hash-a", ttl_s=600)
    clock.advance(599)
    store.put_code(OTHER, "hash-o", ttl_s=600)
    assert store.check_code(OTHER, "hash-o") == "ok"
    clock.advance(1)
    assert store.check_code(SUBJ, "hash-a") == "expired"
    assert store.check_code(SUBJ, "hash-a") == "missing"


def test_new_code_replaces_the_old(store):
    store.put_code(SUBJ, "hash-a", ttl_s=600)
    store.put_code(SUBJ, "hash-b", ttl_s=600)
    assert store.check_code(SUBJ, "hash-a") == "wrong"
    assert store.check_code(SUBJ, "hash-b") == "ok"


def test_missing_code_checks_do_not_count_as_failures(store):
    assert store.check_code(SUBJ, "hash-a") == "missing"
    assert store.code_failures(SUBJ) == 0


def test_lock_after_max_failures_then_unlock(store):
    store.put_code(SUBJ, "right", ttl_s=600)
    results = [store.check_code(SUBJ, f"wrong-{i}") for i in range(S.MAX_CODE_FAILURES)]
    assert results == ["wrong"] * S.MAX_CODE_FAILURES
    assert store.code_locked(SUBJ)
    assert store.check_code(SUBJ, "right") == "locked"
    store.put_code(SUBJ, "fresh", ttl_s=600)
    assert store.check_code(SUBJ, "fresh") == "locked"
    assert not store.code_locked(OTHER)
    store.unlock(SUBJ)
    assert not store.code_locked(SUBJ)
    assert store.check_code(SUBJ, "fresh") == "ok"


def test_lock_lifts_after_cool_off(store, clock):
    store.put_code(SUBJ, "right", ttl_s=10 * S.LOCK_COOLOFF_S)
    for i in range(S.MAX_CODE_FAILURES - 1):
        store.check_code(SUBJ, f"w{i}")
    store.put_code(SUBJ, "right", ttl_s=10 * S.LOCK_COOLOFF_S)  # the 100th failure also deletes the code
    assert store.check_code(SUBJ, "w-last") == "wrong"
    assert store.check_code(SUBJ, "right") == "locked"
    clock.advance(S.LOCK_COOLOFF_S - 1)
    assert store.code_locked(SUBJ)
    clock.advance(1)
    assert not store.code_locked(SUBJ)
    store.put_code(SUBJ, "right", ttl_s=600)
    assert store.check_code(SUBJ, "right") == "ok"


def test_concurrent_checks_cannot_both_succeed(store_url, clock):
    stores = [open_state(store_url, clock=clock) for _ in range(6)]
    try:
        for round_ in range(15):
            stores[0].put_code(SUBJ, f"h{round_}", ttl_s=600)
            barrier = threading.Barrier(len(stores))

            def check(st):
                barrier.wait()
                return st.check_code(SUBJ, f"h{round_}")

            with ThreadPoolExecutor(len(stores)) as ex:
                results = list(ex.map(check, stores))
            assert results.count("ok") == 1, results
            assert set(results) <= {"ok", "missing"}
    finally:
        for st in stores:
            st.close()


# -- rate limits ---------------------------------------------------------------------------------
def test_hit_allows_limit_per_window(store, clock):
    clock.t = 26_666_667 * 60 + 20  # 20 s into a 60 s window
    assert [store.hit("ip:1", 3, 60) for _ in range(5)] == [True, True, True, False, False]
    assert store.hit("ip:2", 3, 60) is True
    clock.advance(59)  # 59 s after the first hits: still inside their window (sliding, not fixed)
    assert store.hit("ip:1", 3, 60) is False and store.retry_after_s("ip:1", 3, 60) == 1
    clock.advance(1)  # 60 s after them: they have left the window
    assert store.hit("ip:1", 3, 60) is True


def test_hit_zero_limit_denies(store):
    assert store.hit("closed", 0, 60) is False


def test_concurrent_hits_count_exactly(store_url, clock):
    stores = [open_state(store_url, clock=clock) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as ex:
            allowed = list(ex.map(lambda i: stores[i % 4].hit("burst", 25, 3600), range(80)))
        assert sum(allowed) == 25
    finally:
        for st in stores:
            st.close()


# -- consent, opt-outs, memory -------------------------------------------------------------------
def test_consent_and_opt_out(store):
    assert not store.has_consent(SUBJ, "itinerary")
    store.set_consent(SUBJ, "itinerary", True)
    assert store.has_consent(SUBJ, "itinerary")
    assert not store.has_consent(SUBJ, "alerts")
    store.set_consent(SUBJ, "itinerary", False)
    assert not store.has_consent(SUBJ, "itinerary")
    store.set_opt_out(SUBJ, True)
    assert store.is_opted_out(SUBJ) and not store.is_opted_out(SUBJ, "chat")
    assert not store.is_opted_out(OTHER)
    store.set_opt_out(SUBJ, False)
    assert not store.is_opted_out(SUBJ)


def test_memory_round_trip_and_ttl(store, clock):
    store.remember("bot:abc", {"choices": ["武汉", "Wuhan"], "n": 2}, ttl_s=300)
    assert store.recall("bot:abc") == {"choices": ["武汉", "Wuhan"], "n": 2}
    assert store.recall("bot:none") is None
    clock.advance(300)
    assert store.recall("bot:abc") is None


def test_memory_refuses_bad_values(store):
    with pytest.raises(StateValueError):
        store.remember("k", {"x": "y" * (S.MAX_VALUE_BYTES + 1)}, ttl_s=60)
    with pytest.raises(StateValueError):
        store.remember("k", {"x": float("nan")}, ttl_s=60)
    with pytest.raises(StateValueError):
        store.remember("k", ["not", "a", "dict"], ttl_s=60)  # type: ignore[arg-type]


# -- proofs, alerts ------------------------------------------------------------------------------
def test_proof_revocation(store, clock):
    now = int(clock())
    store.record_proof("jti-1", SUBJ, now, now + 3600)
    assert not store.proof_revoked("jti-1")
    store.revoke_proof("jti-1")
    assert store.proof_revoked("jti-1")
    assert not store.proof_revoked("jti-2")
    store.revoke_proof("jti-unrecorded")
    assert store.proof_revoked("jti-unrecorded")


def test_alert_claimed_once(store):
    assert store.claim_alert("case42:subj") is True
    assert store.claim_alert("case42:subj") is False
    assert store.claim_alert("case42:other") is True


def test_concurrent_alert_claims(store_url, clock):
    stores = [open_state(store_url, clock=clock) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as ex:
            won = list(ex.map(lambda i: stores[i % 4].claim_alert(f"k{i % 10}"), range(40)))
        assert sum(won) == 10
    finally:
        for st in stores:
            st.close()


# -- outbox and audit ----------------------------------------------------------------------------
def test_outbox_newest_first_with_status_updates(store, clock):
    store.record_message({"to": "138****8000", "body": "验证码 123456", "sid": "SM1", "status": "queued"})
    clock.advance(1)
    store.record_message({"to": SUBJ, "body": "second", "sid": "SM2"})
    store.update_message_status("SM1", "failed", error_code=30003)
    store.update_message_status("SM-unknown", "delivered")
    box = store.outbox()
    assert [m["sid"] for m in box] == ["SM2", "SM1"]
    assert box[0]["status"] == "queued" and box[0]["error_code"] is None
    assert box[1]["status"] == "failed" and box[1]["error_code"] == 30003
    assert box[1]["body"] == "验证码 123456"
    assert len(store.outbox(limit=1)) == 1


def test_outbox_keeps_extra_fields(store):
    store.record_message({"to": "138****8000", "subject": SUBJ, "body": "b", "purpose": "otp", "sid": None,
                          "status": "failed", "error": "21211"})
    m = store.outbox()[0]
    assert (m["purpose"], m["subject"], m["error"], m["status"], m["sid"]) == ("otp", SUBJ, "21211", "failed", None)
    with pytest.raises(StateValueError):
        store.record_message({"to": "138****8000", "body": "b", "note": "call 13800138000"})


def test_audit_log(store, clock):
    store.audit("card.issued", SUBJ, jti="j1", masked="138****8000")
    clock.advance(5)
    store.audit("code.requested", None, ip="203.0.113.9")
    log = store.audit_log()
    assert [e["event"] for e in log] == ["code.requested", "card.issued"]
    assert log[1] == {"ts": S.now_s(clock) - 5, "event": "card.issued", "subject": SUBJ, "jti": "j1",
                      "masked": "138****8000"}
    with pytest.raises(StateValueError):
        store.audit("x", None, ts=1)


@pytest.mark.parametrize("call", [
    lambda st: st.put_code("+8613800138000", "h", 60),
    lambda st: st.set_consent("13800138000", "itinerary", True),
    lambda st: st.audit("card.issued", SUBJ, number="13800138000"),
    lambda st: st.record_message({"to": "+8613800138000", "body": "hi"}),
    lambda st: st.record_message({"to": "138****8000", "subject": "+8613800138000", "body": "hi"}),
    lambda st: st.remember("k", {"n": "8613800138000"}, 60),
])
def test_raw_phone_numbers_refused(store, call):
    with pytest.raises(StateValueError, match="phone number"):
        call(store)


# -- retention -----------------------------------------------------------------------------------
def test_purge_deletes_past_lifetimes_only(store, clock):
    t0 = S.now_s(clock)
    store.put_code(SUBJ, "h", ttl_s=600)
    store.put_code(OTHER, "h", ttl_s=10 * 24 * 3600)
    store.remember("m1", {"a": 1}, ttl_s=60)
    store.hit("b", 5, 60)
    store.record_proof("old", SUBJ, t0, t0 + 3600)
    store.claim_alert("alert-old")
    store.record_message({"to": SUBJ, "body": "old", "sid": "SMold"})
    store.audit("old", SUBJ)
    store.check_code(OTHER, "wrong")  # a failure counter
    store.set_opt_out(SUBJ, True)
    store.set_consent(SUBJ, "itinerary", True)

    assert sum(store.purge(t0).values()) == 0  # nothing is past its lifetime yet

    counts = store.purge(t0 + S.AUDIT_RETENTION_S)
    assert counts == {"codes": 2, "code_failures": 1, "buckets": 1, "memory": 1, "proofs": 1, "alerts": 1,
                      "messages": 1, "audit": 1}
    assert store.audit_log() == [] and store.outbox() == []
    assert store.claim_alert("alert-old") is True
    assert store.is_opted_out(SUBJ) and store.has_consent(SUBJ, "itinerary")  # kept until changed


def test_purge_keeps_what_is_younger(store, clock):
    t0 = S.now_s(clock)
    store.audit("young", SUBJ)
    store.record_message({"to": SUBJ, "body": "young", "sid": "SMy"})
    counts = store.purge(t0 + S.MESSAGE_RETENTION_S - 1)
    assert counts["audit"] == 0 and counts["messages"] == 0
    assert len(store.audit_log()) == 1 and len(store.outbox()) == 1
    store.update_message_status("SMy", "delivered")
    assert store.purge(t0 + S.MESSAGE_RETENTION_S)["messages"] == 1
    assert store.outbox() == []


# -- opening -------------------------------------------------------------------------------------
def test_open_state_refuses_unknown_scheme():
    with pytest.raises(StateValueError):
        open_state("postgres://x")


# -- SQLite specifics ----------------------------------------------------------------------------
def test_sqlite_is_wal_and_current_schema(tmp_path, clock):
    st = open_state(f"sqlite:///{tmp_path / 'sub' / 's.db'}", clock=clock)
    try:
        assert st._read("PRAGMA journal_mode")[0][0] == "wal"
        assert st.schema_version() == SCHEMA_VERSION
    finally:
        st.close()


def test_sqlite_upgrades_old_file_in_place(tmp_path, clock):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO messages (sid, to_, body, status, ts) VALUES ('SM9', ?, 'hello', 'sent', 5)", (SUBJ,))
    conn.execute("INSERT INTO audit (ts, event, subject, fields) VALUES (5, 'card.issued', ?, '{\"jti\":\"j\"}')",
                 (SUBJ,))
    conn.execute("INSERT INTO consent VALUES (?, 'itinerary', 1, 5)", (SUBJ,))
    conn.close()

    st = open_state(f"sqlite:///{path}", clock=clock)
    try:
        assert st.schema_version() == SCHEMA_VERSION > 1
        assert st.outbox()[0]["sid"] == "SM9" and st.outbox()[0]["error_code"] is None
        st.update_message_status("SM9", "undelivered", 30005)  # uses the column migration 2 added
        assert st.outbox()[0]["error_code"] == 30005
        assert st.audit_log() == [{"ts": 5, "event": "card.issued", "subject": SUBJ, "jti": "j"}]
        st.record_message({"to": "138****8000", "body": "b", "sid": "SM10", "purpose": "otp"})  # migration 3
        assert st.outbox()[0]["purpose"] == "otp"
        assert st.has_consent(SUBJ, "itinerary")
    finally:
        st.close()


def test_sqlite_refuses_newer_schema(tmp_path, clock):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StateUnavailable, match="newer"):
        open_state(f"sqlite:///{path}", clock=clock)


def _claim_in_process(args):
    url, keys = args
    st = open_state(url)
    try:
        return sum(st.claim_alert(k) for k in keys)
    finally:
        st.close()


def test_sqlite_atomic_across_processes(tmp_path):
    url = f"sqlite:///{tmp_path / 'mp.db'}"
    open_state(url).close()
    keys = [f"k{i}" for i in range(30)]
    with mp.get_context("spawn").Pool(3) as pool:
        won = pool.map(_claim_in_process, [(url, keys)] * 3)
    assert sum(won) == len(keys)


def _use_inherited_store(st, q):
    q.put((st.claim_alert("child"), st._pid == __import__("os").getpid()))


def test_sqlite_reopens_connection_after_fork(tmp_path, clock):
    st = open_state(f"sqlite:///{tmp_path / 'fork.db'}", clock=clock)
    assert st.claim_alert("parent")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    child = ctx.Process(target=_use_inherited_store, args=(st, q))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and q.get(timeout=5) == (True, True)
    assert st.claim_alert("child") is False and st.claim_alert("parent") is False
    st.close()


def test_sqlite_unusable_file_is_unavailable(tmp_path, clock):
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateUnavailable):
        open_state(f"sqlite:///{path}", clock=clock)


# -- Redis specifics -----------------------------------------------------------------------------
def test_redis_down_raises_state_unavailable(own_redis_server, clock):
    st = open_state(own_redis_server.url, clock=clock)
    st.put_code(SUBJ, "h", ttl_s=600)
    own_redis_server.stop()
    assert st.ping() is False
    for call in (lambda: st.check_code(SUBJ, "h"), lambda: st.hit("b", 1, 60),
                 lambda: st.audit("x", SUBJ), lambda: st.outbox(), lambda: st.purge()):
        with pytest.raises(StateUnavailable, match="redis"):
            call()
    own_redis_server.start()  # back on the same port: the store reconnects by itself
    assert st.ping() is True
    st.put_code(SUBJ, "h2", ttl_s=600)
    assert st.check_code(SUBJ, "h2") == "ok"
    st.close()


def test_redis_unreachable_from_the_start(clock):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    st = open_state(f"redis://127.0.0.1:{port}/0", clock=clock)
    with pytest.raises(StateUnavailable):
        st.put_code(SUBJ, "h", ttl_s=60)
