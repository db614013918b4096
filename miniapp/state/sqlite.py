"""SQLite backend of the state store: WAL mode, one file, safe for several gunicorn workers.

Every check-and-set runs inside ``BEGIN IMMEDIATE`` (the write lock is taken before the read), so two
processes cannot both consume one code or both claim one alert. ``busy_timeout`` makes a writer wait
for the lock instead of failing; if it still cannot get it, or the file is unusable, the call raises
:class:`~miniapp.state.StateUnavailable`.

The schema is built by numbered migrations recorded in ``PRAGMA user_version``; opening an older file
upgrades it in place.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

from miniapp.state import base as S

BUSY_TIMEOUT_MS = 5000

# Migration N (1-based) brings user_version from N-1 to N. Never edit a released one; append.
MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE codes (subject TEXT PRIMARY KEY, code_hash TEXT NOT NULL, expires_s INTEGER NOT NULL);
    CREATE TABLE code_failures (subject TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                                last_failure_s INTEGER NOT NULL);
    CREATE TABLE buckets (bucket TEXT PRIMARY KEY, window_start_s INTEGER NOT NULL,
                          count INTEGER NOT NULL, expires_s INTEGER NOT NULL);
    CREATE TABLE consent (subject TEXT NOT NULL, scope TEXT NOT NULL, given INTEGER NOT NULL,
                          updated_s INTEGER NOT NULL, PRIMARY KEY (subject, scope));
    CREATE TABLE opt_outs (subject TEXT NOT NULL, channel TEXT NOT NULL, opted_out INTEGER NOT NULL,
                           updated_s INTEGER NOT NULL, PRIMARY KEY (subject, channel));
    CREATE TABLE memory (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_s INTEGER NOT NULL);
    CREATE TABLE proofs (jti TEXT PRIMARY KEY, subject TEXT, issued_s INTEGER NOT NULL,
                         expires_s INTEGER NOT NULL, revoked_s INTEGER);
    CREATE TABLE alerts (exposure_key TEXT PRIMARY KEY, claimed_s INTEGER NOT NULL);
    CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sid TEXT, to_ TEXT, body TEXT,
                           status TEXT, ts INTEGER NOT NULL);
    CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, event TEXT NOT NULL,
                        subject TEXT, fields TEXT NOT NULL);
    """,
    # 2: delivery errors and lookups by sid; purge by time
    """
    ALTER TABLE messages ADD COLUMN error_code INTEGER;
    ALTER TABLE messages ADD COLUMN updated_s INTEGER;
    CREATE INDEX messages_sid ON messages (sid);
    CREATE INDEX messages_ts ON messages (ts);
    CREATE INDEX audit_ts ON audit (ts);
    CREATE INDEX proofs_expires ON proofs (expires_s);
    """,
    # 3: free-form message fields (purpose, subject pseudonym, error text) as JSON
    """
    ALTER TABLE messages ADD COLUMN extra TEXT;
    """,
    # 4: sliding-window rate limits: one row per counted hit, leaving the window at expires_s (the hit's
    # time + window_s, fractional seconds). The fixed windows' in-flight counts move here as hits that leave
    # when their window would have ended, so the upgrade hands no bucket a fresh budget. `buckets` stays, empty
    # and no longer written, so workers of the previous release keep working during a rolling restart.
    """
    CREATE TABLE rate_hits (bucket TEXT NOT NULL, expires_s REAL NOT NULL);
    CREATE INDEX rate_hits_bucket ON rate_hits (bucket, expires_s);
    CREATE INDEX rate_hits_expires ON rate_hits (expires_s);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT MAX(count) FROM buckets))
    INSERT INTO rate_hits (bucket, expires_s) SELECT b.bucket, b.expires_s FROM buckets AS b JOIN n ON n.i <= b.count;
    DELETE FROM buckets;
    """,
    # 5: revocation with form: the key that signed each proof (its revocation list), a person's proofs by
    # issue time (revoke all issued before T), and one counter per key that grows with every revocation.
    # Proofs recorded before this have no kid: they can still be revoked, but are on no published list.
    """
    ALTER TABLE proofs ADD COLUMN kid TEXT;
    CREATE INDEX proofs_subject ON proofs (subject, issued_s);
    CREATE INDEX proofs_kid_revoked ON proofs (kid, expires_s) WHERE revoked_s IS NOT NULL;
    CREATE TABLE revocation_counters (kid TEXT PRIMARY KEY, ctr INTEGER NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations after the file's ``user_version`` up to ``target``; return the version.

    Each migration and its version bump commit together, so a crash leaves a consistent version.

    Examples
    --------
    >>> conn = sqlite3.connect(":memory:", isolation_level=None)
    >>> migrate(conn, target=1), migrate(conn) == SCHEMA_VERSION
    (1, True)
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise S.StateUnavailable(f"state database schema {current} is newer than this code ({SCHEMA_VERSION})")
    for version in range(current + 1, target + 1):
        # executescript commits first; run the whole migration as one explicit transaction.
        conn.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[version - 1]}; PRAGMA user_version = {version}; COMMIT;")
    return max(current, target)


class SQLiteState:
    """State store in one SQLite file. See :mod:`miniapp.state` for the contract.

    Examples
    --------
    >>> st = SQLiteState(":memory:", clock=lambda: 1_600_000_000)
    >>> st.put_code("68ba9da759ce5549", "h1", ttl_s=600)
    >>> st.check_code("68ba9da759ce5549", "h1"), st.check_code("68ba9da759ce5549", "h1")
    ('ok', 'missing')
    >>> st.close()
    """

    def __init__(self, path: str, *, clock: S.Clock) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        with self._guard():
            self._connection()

    # -- connection handling -------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork (gunicorn --preload): reopen in the child.
        if self._conn is not None and (self._pid == os.getpid() or self.path == ":memory:"):
            return self._conn
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # the store holds consent, audit and code hashes: owner only (SQLite gives -wal/-shm the same mode)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
        self._conn, self._pid = conn, os.getpid()
        return conn

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise S.StateUnavailable(f"state store (sqlite) unavailable: {exc}") from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its start."""
        with self._guard():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._guard():
            return self._connection().execute(sql, params).fetchall()

    def _now(self) -> int:
        return S.now_s(self.clock)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def ping(self) -> bool:
        try:
            return self._read("SELECT 1")[0][0] == 1
        except S.StateUnavailable:
            return False

    # -- one-time codes -------------------------------------------------------------------------
    def put_code(self, subject: str, code_hash: str, ttl_s: int) -> None:
        S.check_subject(subject)
        S.check_key(code_hash, "code_hash")
        expires = self._now() + S.check_positive(ttl_s, "ttl_s")
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO codes VALUES (?, ?, ?)", (subject, code_hash, expires))

    def _failures(self, c: sqlite3.Connection, subject: str, now: int) -> int:
        row = c.execute("SELECT failures, last_failure_s FROM code_failures WHERE subject = ?",
                        (subject,)).fetchone()
        if row is None:
            return 0
        if now - row["last_failure_s"] >= S.LOCK_COOLOFF_S:  # cool-off over: forget the failures
            c.execute("DELETE FROM code_failures WHERE subject = ?", (subject,))
            return 0
        return int(row["failures"])

    def check_code(self, subject: str, code_hash: str) -> str:
        S.check_subject(subject)
        if not isinstance(code_hash, str):
            raise S.StateValueError("code_hash must be text")
        now = self._now()
        with self._tx() as c:
            failures = self._failures(c, subject, now)
            if failures >= S.MAX_CODE_FAILURES:
                return "locked"
            row = c.execute("SELECT code_hash, expires_s FROM codes WHERE subject = ?", (subject,)).fetchone()
            if row is None:
                return "missing"
            if row["expires_s"] <= now:
                c.execute("DELETE FROM codes WHERE subject = ?", (subject,))
                return "expired"
            if hmac.compare_digest(row["code_hash"].encode(), code_hash.encode()):
                c.execute("DELETE FROM codes WHERE subject = ?", (subject,))
                c.execute("DELETE FROM code_failures WHERE subject = ?", (subject,))
                return "ok"
            c.execute("INSERT OR REPLACE INTO code_failures VALUES (?, ?, ?)", (subject, failures + 1, now))
            if failures + 1 >= S.MAX_CODE_FAILURES:
                c.execute("DELETE FROM codes WHERE subject = ?", (subject,))
            return "wrong"

    def code_failures(self, subject: str) -> int:
        S.check_subject(subject)
        with self._tx() as c:
            return self._failures(c, subject, self._now())

    def code_locked(self, subject: str) -> bool:
        return self.code_failures(subject) >= S.MAX_CODE_FAILURES

    def unlock(self, subject: str) -> None:
        S.check_subject(subject)
        with self._tx() as c:
            c.execute("DELETE FROM code_failures WHERE subject = ?", (subject,))

    # -- rate limits ----------------------------------------------------------------------------
    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        now = S.clock_time(self.clock)
        S.check_hit(bucket, limit, window_s, int(now))
        key = f"{bucket}|{window_s}"
        with self._tx() as c:  # count and insert under the write lock: concurrent workers cannot overshoot
            c.execute("DELETE FROM rate_hits WHERE bucket = ? AND expires_s <= ?", (key, now))
            count = c.execute("SELECT COUNT(*) FROM rate_hits WHERE bucket = ?", (key,)).fetchone()[0]
            if count >= limit:
                return False
            c.execute("INSERT INTO rate_hits (bucket, expires_s) VALUES (?, ?)", (key, now + window_s))
            return True

    def retry_after_s(self, bucket: str, limit: int, window_s: int) -> int:
        now = S.clock_time(self.clock)
        S.check_hit(bucket, limit, window_s, int(now))
        rows = self._read("SELECT expires_s FROM rate_hits WHERE bucket = ? AND expires_s > ?",
                          (f"{bucket}|{window_s}", now))
        return S.wait_s([r[0] for r in rows], limit, window_s, now)

    # -- consent and opt-outs ------------------------------------------------------------------
    def set_consent(self, subject: str, scope: str, given: bool) -> None:
        S.check_subject(subject)
        S.check_key(scope, "scope")
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO consent VALUES (?, ?, ?, ?)", (subject, scope, int(bool(given)), self._now()))

    def has_consent(self, subject: str, scope: str) -> bool:
        S.check_subject(subject)
        rows = self._read("SELECT given FROM consent WHERE subject = ? AND scope = ?", (subject, scope))
        return bool(rows and rows[0]["given"])

    def set_opt_out(self, subject: str, opted_out: bool, channel: str = "sms") -> None:
        S.check_subject(subject)
        S.check_key(channel, "channel")
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO opt_outs VALUES (?, ?, ?, ?)",
                      (subject, channel, int(bool(opted_out)), self._now()))

    def is_opted_out(self, subject: str, channel: str = "sms") -> bool:
        S.check_subject(subject)
        rows = self._read("SELECT opted_out FROM opt_outs WHERE subject = ? AND channel = ?", (subject, channel))
        return bool(rows and rows[0]["opted_out"])

    # -- conversation memory ------------------------------------------------------------------
    def remember(self, key: str, value: dict, ttl_s: int) -> None:
        S.check_key(key)
        text = S.encode_value(value)
        expires = self._now() + S.check_positive(ttl_s, "ttl_s")
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO memory VALUES (?, ?, ?)", (key, text, expires))

    def recall(self, key: str) -> dict | None:
        S.check_key(key)
        rows = self._read("SELECT value FROM memory WHERE key = ? AND expires_s > ?", (key, self._now()))
        return json.loads(rows[0]["value"]) if rows else None

    # -- proofs and alerts --------------------------------------------------------------------
    def record_proof(self, jti: str, subject: str, issued_s: int, expires_s: int, kid: str | None = None) -> None:
        S.check_key(jti, "jti")
        S.check_subject(subject)
        if kid is not None:
            S.check_key(kid, "kid")
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO proofs (jti, subject, issued_s, expires_s, kid) VALUES (?, ?, ?, ?, ?)",
                      (jti, subject, int(issued_s), int(expires_s), kid))

    def proof_revoked(self, jti: str) -> bool:
        S.check_key(jti, "jti")
        rows = self._read("SELECT revoked_s FROM proofs WHERE jti = ?", (jti,))
        return bool(rows and rows[0]["revoked_s"] is not None)

    def revoke_proof(self, jti: str) -> None:
        S.check_key(jti, "jti")
        now = self._now()
        with self._tx() as c:
            # A proof not recorded here is still revoked: keep the row as long as any proof could live.
            c.execute("INSERT OR IGNORE INTO proofs (jti, subject, issued_s, expires_s) VALUES (?, NULL, ?, ?)",
                      (jti, now, now + S.MAX_PROOF_TTL_S))
            self._revoke(c, "jti = ?", (jti,), now)

    def _revoke(self, c: sqlite3.Connection, where: str, params: tuple, now: int) -> int:
        """Revoke the unrevoked proofs matching ``where``; bump their keys' counters; how many changed."""
        kids = [r["kid"] for r in c.execute(f"SELECT kid FROM proofs WHERE revoked_s IS NULL AND {where}", params)]
        c.execute(f"UPDATE proofs SET revoked_s = ? WHERE revoked_s IS NULL AND {where}", (now, *params))
        for kid in {k for k in kids if k is not None}:
            c.execute("INSERT INTO revocation_counters VALUES (?, 1) ON CONFLICT (kid) DO UPDATE SET ctr = ctr + 1",
                      (kid,))
        return len(kids)

    def revoke_subject_proofs(self, subject: str, before_s: int) -> int:
        S.check_subject(subject)
        with self._tx() as c:
            return self._revoke(c, "subject = ? AND issued_s < ?", (subject, int(before_s)), self._now())

    def revocation_list(self, kid: str) -> tuple[int, list[str]]:
        S.check_key(kid, "kid")
        cutoff = self._now() - S.REVOCATION_LISTED_AFTER_EXPIRY_S
        with self._guard():
            c = self._connection()
            c.execute("BEGIN")  # one snapshot: the counter and the list agree
            try:
                row = c.execute("SELECT ctr FROM revocation_counters WHERE kid = ?", (kid,)).fetchone()
                jtis = [r["jti"] for r in c.execute(
                    "SELECT jti FROM proofs WHERE kid = ? AND revoked_s IS NOT NULL AND expires_s > ? ORDER BY jti",
                    (kid, cutoff))]
            finally:
                c.execute("COMMIT")
        return (int(row["ctr"]) if row else 0), jtis

    # -- card sessions (kept with conversation memory) ----------------------------------------
    def open_session(self, sid: str, subject: str, ttl_s: int) -> None:
        S.check_key(sid, "sid")
        self.remember(S.SESSION_KEY_PREFIX + sid, {"subject": S.check_subject(subject)}, ttl_s)

    def session_subject(self, sid: str) -> str | None:
        S.check_key(sid, "sid")
        value = self.recall(S.SESSION_KEY_PREFIX + sid)
        return value.get("subject") if value else None

    def end_session(self, sid: str) -> None:
        S.check_key(sid, "sid")
        with self._tx() as c:
            c.execute("DELETE FROM memory WHERE key = ?", (S.SESSION_KEY_PREFIX + sid,))

    def claim_alert(self, exposure_key: str) -> bool:
        S.check_key(exposure_key, "exposure_key")
        with self._tx() as c:
            cur = c.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?)", (exposure_key, self._now()))
            return cur.rowcount == 1

    # -- outbox -------------------------------------------------------------------------------
    def record_message(self, message: dict) -> None:
        m = S.check_message(message, self._now())
        with self._tx() as c:
            c.execute("INSERT INTO messages (sid, to_, body, status, ts, error_code, updated_s, extra) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (m["sid"], m["to"], m["body"], m["status"], m["ts"], m["error_code"], m["ts"], m["extra"]))

    def update_message_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        S.check_key(sid, "sid")
        S.check_key(status, "status")
        with self._tx() as c:
            c.execute("UPDATE messages SET status = ?, error_code = ?, updated_s = ? WHERE sid = ?",
                      (status, None if error_code is None else int(error_code), self._now(), sid))

    def outbox(self, limit: int = 50) -> list[dict]:
        rows = self._read("SELECT sid, to_, body, status, ts, error_code, updated_s, extra FROM messages "
                          "ORDER BY ts DESC, id DESC LIMIT ?", (int(limit),))
        return [S.merge_message({"sid": r["sid"], "to": r["to_"], "body": r["body"], "status": r["status"],
                                 "ts": r["ts"], "error_code": r["error_code"], "updated_s": r["updated_s"]},
                                r["extra"]) for r in rows]

    # -- audit --------------------------------------------------------------------------------
    def audit(self, event: str, subject: str | None = None, **fields: Any) -> None:
        S.check_key(event, "event")
        if subject is not None:
            S.check_subject(subject)
        text = S.encode_fields(fields)
        with self._tx() as c:
            c.execute("INSERT INTO audit (ts, event, subject, fields) VALUES (?, ?, ?, ?)",
                      (self._now(), event, subject, text))

    def audit_log(self, limit: int = 100) -> list[dict]:
        rows = self._read("SELECT ts, event, subject, fields FROM audit ORDER BY ts DESC, id DESC LIMIT ?",
                          (int(limit),))
        return [{**json.loads(r["fields"]), "ts": r["ts"], "event": r["event"], "subject": r["subject"]}
                for r in rows]

    # -- retention ----------------------------------------------------------------------------
    def purge(self, now_s: int | None = None) -> dict[str, int]:
        now = self._now() if now_s is None else int(now_s)
        deletes = {
            "codes": ("DELETE FROM codes WHERE expires_s <= ?", now),
            "code_failures": ("DELETE FROM code_failures WHERE last_failure_s <= ?", now - S.LOCK_COOLOFF_S),
            "buckets": ("DELETE FROM buckets WHERE expires_s <= ?", now),  # fixed windows (schema 1-3)
            "memory": ("DELETE FROM memory WHERE expires_s <= ?", now),
            "proofs": ("DELETE FROM proofs WHERE expires_s <= ?", now - S.PROOF_RECORD_GRACE_S),
            "alerts": ("DELETE FROM alerts WHERE claimed_s <= ?", now - S.ALERT_RETENTION_S),
            "messages": ("DELETE FROM messages WHERE ts <= ?", now - S.MESSAGE_RETENTION_S),
            "audit": ("DELETE FROM audit WHERE ts <= ?", now - S.AUDIT_RETENTION_S),
        }
        counts: dict[str, int] = {}
        with self._tx() as c:
            for kind, (sql, cutoff) in deletes.items():
                counts[kind] = c.execute(sql, (cutoff,)).rowcount
            # a sliding-window bucket is gone once every hit of its log has left the window
            counts["buckets"] += c.execute(
                "SELECT COUNT(DISTINCT bucket) FROM rate_hits WHERE expires_s <= ? AND bucket NOT IN "
                "(SELECT bucket FROM rate_hits WHERE expires_s > ?)", (now, now)).fetchone()[0]
            c.execute("DELETE FROM rate_hits WHERE expires_s <= ?", (now,))
        return counts

    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])
