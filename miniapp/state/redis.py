"""Redis backend of the state store, for several serving hosts.

Check-and-set operations are Lua scripts (atomic on the server). Times come from the injectable clock
and are stored with the values, so behaviour is the same as SQLite's; Redis' native TTLs (a margin
longer than the documented lifetimes) only collect garbage. Keys of one subject share a hash tag
(``{subject}``). If Redis cannot be reached every method raises
:class:`~miniapp.state.StateUnavailable` within about ``SOCKET_TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from typing import Any, Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from miniapp.state import base as S

SOCKET_TIMEOUT_S = 2.0
TTL_MARGIN_S = 3600  # native TTLs outlive the logical lifetime so 'expired' is reported, not 'missing'

_CHECK_CODE = """
local now = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local n = 0
local f = redis.call('HMGET', KEYS[2], 'n', 'last')
if f[1] then
  if now - tonumber(f[2]) >= tonumber(ARGV[4]) then redis.call('DEL', KEYS[2]) else n = tonumber(f[1]) end
end
if n >= max then return 'locked' end
local c = redis.call('HMGET', KEYS[1], 'h', 'exp')
if not c[1] then return 'missing' end
if tonumber(c[2]) <= now then redis.call('DEL', KEYS[1]); return 'expired' end
-- compare digests of the digests: the time taken reveals nothing about the stored hash
if redis.sha1hex(c[1]) == redis.sha1hex(ARGV[1]) then redis.call('DEL', KEYS[1], KEYS[2]); return 'ok' end
n = n + 1
redis.call('HSET', KEYS[2], 'n', n, 'last', now)
redis.call('EXPIRE', KEYS[2], ARGV[5])
if n >= max then redis.call('DEL', KEYS[1]) end
return 'wrong'
"""

_FAILURES = """
local f = redis.call('HMGET', KEYS[1], 'n', 'last')
if not f[1] then return 0 end
if tonumber(ARGV[1]) - tonumber(f[2]) >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]); return 0 end
return tonumber(f[1])
"""

# Sliding window. KEYS: the bucket's log (a sorted set: one member per counted hit, scored by when it
# leaves the window), the fixed-window counter of releases before it; ARGV: now, limit, the new hit's
# expiry, a unique member, native TTL. Times stay the strings Python sent: Lua would round them to 14
# digits. A log not yet created first takes over the old counter's in-flight count, so an upgrade hands
# no bucket a fresh budget.
_HIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local old = redis.call('HMGET', KEYS[2], 'n', 'exp')
  if old[1] and tonumber(old[2]) > tonumber(ARGV[1]) then
    for i = 1, math.min(tonumber(old[1]), tonumber(ARGV[2])) do
      redis.call('ZADD', KEYS[1], old[2], 'carried:' .. i)
    end
    redis.call('EXPIRE', KEYS[1], ARGV[5])
  end
  redis.call('DEL', KEYS[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS: sliding-window logs; ARGV: now. Drops hits that left their window; counts logs left empty (gone).
_PURGE_LOGS = """
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then
    redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1])
    if redis.call('EXISTS', k) == 0 then n = n + 1 end
  end
end
return n
"""

# KEYS: proof, proofs index, the subject's proofs (by issue time); ARGV: subject, iat, exp, ttl, jti, kid or ''.
_RECORD_PROOF = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'subject', ARGV[1], 'iat', ARGV[2], 'exp', ARGV[3])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'kid', ARGV[6]) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[5])
if redis.call('TTL', KEYS[3]) < tonumber(ARGV[4]) then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
return 1
"""

# Revoke one recorded proof unless it already is; list it under its key and bump that key's counter.
_REVOKE_ONE = """
local function revoke(key, jti, now, prefix)
  if redis.call('HEXISTS', key, 'revoked') == 1 then return 0 end
  redis.call('HSET', key, 'revoked', now)
  local kid = redis.call('HGET', key, 'kid')
  if kid then
    redis.call('ZADD', prefix .. 'revoked:' .. kid, redis.call('HGET', key, 'exp'), jti)
    redis.call('HINCRBY', prefix .. 'crlctr', kid, 1)
  end
  return 1
end
"""

# KEYS: proof, proofs index; ARGV: now, now + max ttl, record ttl, jti, key prefix.
_REVOKE_PROOF = _REVOKE_ONE + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'iat', ARGV[1], 'exp', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return revoke(KEYS[1], ARGV[4], ARGV[1], ARGV[5])
"""

# KEYS: the subject's proofs (by issue time); ARGV: before_s, now, key prefix. Returns how many were revoked.
_REVOKE_SUBJECT = _REVOKE_ONE + """
local n = 0
for _, jti in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  local key = ARGV[3] .. 'proof:' .. jti
  if redis.call('EXISTS', key) == 1 then n = n + revoke(key, jti, ARGV[2], ARGV[3]) end
end
return n
"""

_UPDATE_STATUS = """
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
local key = ARGV[4] .. id
redis.call('HSET', key, 'status', ARGV[1], 'updated_s', ARGV[3])
if ARGV[2] == '' then redis.call('HDEL', key, 'error_code') else redis.call('HSET', key, 'error_code', ARGV[2]) end
return 1
"""

# KEYS: candidate keys; ARGV: field, cutoff. Deletes keys whose field <= cutoff.
_DEL_IF_OLD = """
local n = 0
for _, k in ipairs(KEYS) do
  local v = redis.call('HGET', k, ARGV[1])
  if v and tonumber(v) <= tonumber(ARGV[2]) then redis.call('DEL', k); n = n + 1 end
end
return n
"""

# KEYS: zset, ARGV: cutoff, member key prefix, sid-map prefix (or ''). Deletes members scored <= cutoff.
_PURGE_INDEX = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  if ARGV[3] ~= '' then
    local sid = redis.call('HGET', key, 'sid')
    if sid then redis.call('DEL', ARGV[3] .. sid) end
  end
  redis.call('DEL', key)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return #ids
"""


class RedisState:
    """State store in Redis. See :mod:`miniapp.state` for the contract.

    Parameters
    ----------
    url : str
        ``redis://HOST:PORT/DB``.
    clock : callable
        Unix seconds.
    prefix : str
        Namespace of every key (several deployments can share one server).
    """

    def __init__(self, url: str, *, clock: S.Clock, prefix: str = "rc:") -> None:
        self.clock = clock
        self.prefix = prefix
        try:
            self.r = redis.Redis.from_url(
                url, decode_responses=True, socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=SOCKET_TIMEOUT_S, retry=Retry(NoBackoff(), 1),
                health_check_interval=30)
        except ValueError as exc:
            raise S.StateValueError(f"bad redis url: {exc}") from exc
        self._scripts = {name: self.r.register_script(src) for name, src in {
            "check_code": _CHECK_CODE, "failures": _FAILURES, "hit": _HIT, "record_proof": _RECORD_PROOF,
            "revoke_proof": _REVOKE_PROOF, "update_status": _UPDATE_STATUS, "del_if_old": _DEL_IF_OLD,
            "purge_index": _PURGE_INDEX, "purge_logs": _PURGE_LOGS}.items()}
        self._scripts["revoke_subject"] = self.r.register_script(_REVOKE_SUBJECT)

    # -- plumbing -------------------------------------------------------------------------------
    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.BusyLoadingError) as exc:
            raise S.StateUnavailable(f"state store (redis) unavailable: {exc}") from exc
        except redis.exceptions.RedisError as exc:
            raise S.StateUnavailable(f"state store (redis) error: {exc}") from exc

    def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        with self._guard():
            return self._scripts[name](keys=keys, args=args)

    def _now(self) -> int:
        return S.now_s(self.clock)

    def close(self) -> None:
        self.r.close()

    def ping(self) -> bool:
        try:
            with self._guard():
                return bool(self.r.ping())
        except S.StateUnavailable:
            return False

    # -- one-time codes -------------------------------------------------------------------------
    def _code_keys(self, subject: str) -> list[str]:
        return [self._k("code", "{" + subject + "}"), self._k("fail", "{" + subject + "}")]

    def put_code(self, subject: str, code_hash: str, ttl_s: int) -> None:
        S.check_subject(subject)
        S.check_key(code_hash, "code_hash")
        S.check_positive(ttl_s, "ttl_s")
        key = self._code_keys(subject)[0]
        with self._guard():
            pipe = self.r.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping={"h": code_hash, "exp": self._now() + ttl_s})
            pipe.expire(key, ttl_s + TTL_MARGIN_S)
            pipe.execute()

    def check_code(self, subject: str, code_hash: str) -> str:
        S.check_subject(subject)
        if not isinstance(code_hash, str):
            raise S.StateValueError("code_hash must be text")
        return self._run("check_code", self._code_keys(subject),
                         [code_hash, self._now(), S.MAX_CODE_FAILURES, S.LOCK_COOLOFF_S,
                          S.LOCK_COOLOFF_S + TTL_MARGIN_S])

    def code_failures(self, subject: str) -> int:
        S.check_subject(subject)
        return int(self._run("failures", self._code_keys(subject)[1:], [self._now(), S.LOCK_COOLOFF_S]))

    def code_locked(self, subject: str) -> bool:
        return self.code_failures(subject) >= S.MAX_CODE_FAILURES

    def unlock(self, subject: str) -> None:
        S.check_subject(subject)
        with self._guard():
            self.r.delete(self._code_keys(subject)[1])

    # -- rate limits ----------------------------------------------------------------------------
    def _log_key(self, bucket: str, window_s: int) -> str:
        return self._k("rlog", f"{bucket}|{window_s}")

    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        now = S.clock_time(self.clock)
        start = S.check_hit(bucket, limit, window_s, int(now))
        keys = [self._log_key(bucket, window_s), self._k("rl", f"{bucket}|{window_s}|{start}")]
        member = f"{now!r}:{secrets.token_hex(8)}"
        return bool(self._run("hit", keys, [repr(now), limit, repr(now + window_s), member,
                                            window_s + TTL_MARGIN_S]))

    def retry_after_s(self, bucket: str, limit: int, window_s: int) -> int:
        now = S.clock_time(self.clock)
        S.check_hit(bucket, limit, window_s, int(now))
        with self._guard():
            live = self.r.zrangebyscore(self._log_key(bucket, window_s), f"({now!r}", "+inf", withscores=True)
        return S.wait_s([score for _, score in live], limit, window_s, now)

    # -- consent and opt-outs ------------------------------------------------------------------
    def set_consent(self, subject: str, scope: str, given: bool) -> None:
        S.check_subject(subject)
        S.check_key(scope, "scope")
        with self._guard():
            self.r.hset(self._k("consent", subject), scope, int(bool(given)))

    def has_consent(self, subject: str, scope: str) -> bool:
        S.check_subject(subject)
        with self._guard():
            return self.r.hget(self._k("consent", subject), scope) == "1"

    def set_opt_out(self, subject: str, opted_out: bool, channel: str = "sms") -> None:
        S.check_subject(subject)
        S.check_key(channel, "channel")
        with self._guard():
            self.r.hset(self._k("optout", subject), channel, int(bool(opted_out)))

    def is_opted_out(self, subject: str, channel: str = "sms") -> bool:
        S.check_subject(subject)
        with self._guard():
            return self.r.hget(self._k("optout", subject), channel) == "1"

    # -- conversation memory ------------------------------------------------------------------
    def remember(self, key: str, value: dict, ttl_s: int) -> None:
        S.check_key(key)
        text = S.encode_value(value)
        S.check_positive(ttl_s, "ttl_s")
        k = self._k("mem", key)
        with self._guard():
            pipe = self.r.pipeline(transaction=True)
            pipe.delete(k)
            pipe.hset(k, mapping={"v": text, "exp": self._now() + ttl_s})
            pipe.expire(k, ttl_s + TTL_MARGIN_S)
            pipe.execute()

    def recall(self, key: str) -> dict | None:
        S.check_key(key)
        with self._guard():
            text, exp = self.r.hmget(self._k("mem", key), ["v", "exp"])
        if text is None or int(exp) <= self._now():
            return None
        return json.loads(text)

    # -- proofs and alerts --------------------------------------------------------------------
    def record_proof(self, jti: str, subject: str, issued_s: int, expires_s: int, kid: str | None = None) -> None:
        S.check_key(jti, "jti")
        S.check_subject(subject)
        if kid is not None:
            S.check_key(kid, "kid")
        ttl = max(int(expires_s) - self._now(), 0) + S.PROOF_RECORD_GRACE_S + TTL_MARGIN_S
        self._run("record_proof", [self._k("proof", jti), self._k("proofs"), self._k("subjproofs", subject)],
                  [subject, int(issued_s), int(expires_s), ttl, jti, kid or ""])

    def proof_revoked(self, jti: str) -> bool:
        S.check_key(jti, "jti")
        with self._guard():
            return bool(self.r.hexists(self._k("proof", jti), "revoked"))

    def revoke_proof(self, jti: str) -> None:
        S.check_key(jti, "jti")
        now = self._now()
        ttl = S.MAX_PROOF_TTL_S + S.PROOF_RECORD_GRACE_S + TTL_MARGIN_S
        self._run("revoke_proof", [self._k("proof", jti), self._k("proofs")],
                  [now, now + S.MAX_PROOF_TTL_S, ttl, jti, self.prefix])

    def revoke_subject_proofs(self, subject: str, before_s: int) -> int:
        S.check_subject(subject)
        return int(self._run("revoke_subject", [self._k("subjproofs", subject)],
                             [int(before_s), self._now(), self.prefix]))

    def revocation_list(self, kid: str) -> tuple[int, list[str]]:
        S.check_key(kid, "kid")
        cutoff = self._now() - S.REVOCATION_LISTED_AFTER_EXPIRY_S
        with self._guard():
            pipe = self.r.pipeline(transaction=True)  # one snapshot: the counter and the list agree
            pipe.hget(self._k("crlctr"), kid)
            pipe.zrangebyscore(self._k("revoked", kid), f"({cutoff}", "+inf")
            ctr, jtis = pipe.execute()
        return int(ctr or 0), sorted(jtis)

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
        with self._guard():
            self.r.delete(self._k("mem", S.SESSION_KEY_PREFIX + sid))

    def claim_alert(self, exposure_key: str) -> bool:
        S.check_key(exposure_key, "exposure_key")
        with self._guard():
            return self.r.zadd(self._k("alerts"), {exposure_key: self._now()}, nx=True) == 1

    # -- outbox -------------------------------------------------------------------------------
    def record_message(self, message: dict) -> None:
        m = S.check_message(message, self._now())
        with self._guard():
            mid = f"{self.r.incr(self._k('msg', 'seq')):012d}"
            fields = {k: v for k, v in m.items() if v is not None}
            fields["updated_s"] = m["ts"]
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._k("msg", mid), mapping=fields)
            pipe.zadd(self._k("msgs"), {mid: m["ts"]})
            if m["sid"] is not None:
                pipe.set(self._k("msgsid", m["sid"]), mid)
            pipe.execute()

    def update_message_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        S.check_key(sid, "sid")
        S.check_key(status, "status")
        self._run("update_status", [self._k("msgsid", sid)],
                  [status, "" if error_code is None else int(error_code), self._now(), self._k("msg", "")])

    def outbox(self, limit: int = 50) -> list[dict]:
        with self._guard():
            ids = self.r.zrevrange(self._k("msgs"), 0, int(limit) - 1)
            pipe = self.r.pipeline(transaction=False)
            for mid in ids:
                pipe.hgetall(self._k("msg", mid))
            rows = pipe.execute()
        out = []
        for h in rows:
            row = {k: h.get(k) for k in ("sid", "to", "body", "status")}
            for k in ("ts", "error_code", "updated_s"):
                row[k] = int(h[k]) if h.get(k) is not None else None
            out.append(S.merge_message(row, h.get("extra")))
        return out

    # -- audit --------------------------------------------------------------------------------
    def audit(self, event: str, subject: str | None = None, **fields: Any) -> None:
        S.check_key(event, "event")
        if subject is not None:
            S.check_subject(subject)
        S.encode_fields(fields)
        now = self._now()
        entry = S.encode_value({"ts": now, "event": event, "subject": subject, **fields})
        with self._guard():
            seq = self.r.incr(self._k("audit", "seq"))
            self.r.zadd(self._k("audit"), {f"{seq:012d}|{entry}": now})

    def audit_log(self, limit: int = 100) -> list[dict]:
        with self._guard():
            members = self.r.zrevrange(self._k("audit"), 0, int(limit) - 1)
        return [json.loads(m.split("|", 1)[1]) for m in members]

    # -- retention ----------------------------------------------------------------------------
    def _scan(self, pattern: str) -> list[str]:
        return list(self.r.scan_iter(match=self.prefix + pattern, count=500))

    def _del_if_old(self, pattern: str, field: str, cutoff: int) -> int:
        keys = self._scan(pattern)
        n = 0
        for i in range(0, len(keys), 200):
            n += int(self._scripts["del_if_old"](keys=keys[i:i + 200], args=[field, cutoff]))
        return n

    def _purge_logs(self, now: int) -> int:
        keys = self._scan("rlog:*")
        return sum(int(self._scripts["purge_logs"](keys=keys[i:i + 200], args=[now]))
                   for i in range(0, len(keys), 200))

    def purge(self, now_s: int | None = None) -> dict[str, int]:
        now = self._now() if now_s is None else int(now_s)
        with self._guard():
            counts = {
                "codes": self._del_if_old("code:*", "exp", now),
                "code_failures": self._del_if_old("fail:*", "last", now - S.LOCK_COOLOFF_S),
                "buckets": self._del_if_old("rl:*", "exp", now) + self._purge_logs(now),
                "memory": self._del_if_old("mem:*", "exp", now),
                "proofs": int(self._scripts["purge_index"](
                    keys=[self._k("proofs")], args=[now - S.PROOF_RECORD_GRACE_S, self._k("proof", ""), ""])),
                "alerts": int(self.r.zremrangebyscore(self._k("alerts"), "-inf", now - S.ALERT_RETENTION_S)),
                "messages": int(self._scripts["purge_index"](
                    keys=[self._k("msgs")], args=[now - S.MESSAGE_RETENTION_S, self._k("msg", ""),
                                                  self._k("msgsid", "")])),
                "audit": int(self.r.zremrangebyscore(self._k("audit"), "-inf", now - S.AUDIT_RETENTION_S)),
            }
            self._trim_proof_indexes(now)
        return counts

    def _trim_proof_indexes(self, now: int) -> None:
        """Drop index entries of purged proofs: revocation lists (by expiry) and subjects' proofs (by issue time)."""
        cutoff = now - S.PROOF_RECORD_GRACE_S
        for key in self._scan("revoked:*"):
            self.r.zremrangebyscore(key, "-inf", cutoff)
        for key in self._scan("subjproofs:*"):
            self.r.zremrangebyscore(key, "-inf", cutoff - S.MAX_PROOF_TTL_S)
