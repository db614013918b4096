"""The state store's contract: the protocol both backends implement, its errors, and the checks they share."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

# NIST SP 800-63B 5.2.2: at most 100 consecutive failed attempts per subscriber, then lock.
MAX_CODE_FAILURES = 100
LOCK_COOLOFF_S = 24 * 3600
PROOF_RECORD_GRACE_S = 7 * 24 * 3600
ALERT_RETENTION_S = 30 * 24 * 3600
MESSAGE_RETENTION_S = 30 * 24 * 3600
AUDIT_RETENTION_S = 180 * 24 * 3600
MAX_PROOF_TTL_S = 24 * 3600
# A revoked proof stays on its key's revocation list until this long after its expiry (beyond any
# verifier's clock leeway); after that it cannot verify anyway.
REVOCATION_LISTED_AFTER_EXPIRY_S = 3600
# Card sessions are kept with conversation memory under this key prefix (so ``purge`` counts them as memory).
SESSION_KEY_PREFIX = "cardsession:"

CODE_RESULTS = ("ok", "wrong", "expired", "missing", "locked")
MAX_KEY_CHARS = 200
MAX_VALUE_BYTES = 16 * 1024

Clock = Callable[[], float]

# 11 or more consecutive digits (optionally after +) look like a phone number, not a pseudonym.
# A run of digits inside a longer token (hex sids, proof ids) is not a number someone typed.
_PHONE_LIKE = re.compile(r"(?<![0-9A-Za-z])\+?\d{11,}(?![0-9A-Za-z])")
# A pseudonym (16 hex characters) may by chance be all digits; E.164 numbers have at most 15.
_PSEUDONYM = re.compile(r"[0-9a-f]{16}")


class StateError(Exception):
    """Base class of state-store errors."""


class StateUnavailable(StateError):
    """The backend cannot be reached (Redis down, database locked for too long, disk gone).

    Callers show a clear "temporarily unavailable" page; risk pages do not depend on the state store.
    """


class StateValueError(StateError, ValueError):
    """An argument the store refuses (raw phone number as subject, oversized value, bad url)."""


@runtime_checkable
class StateStore(Protocol):
    """What both backends implement. Times are Unix seconds (int)."""

    clock: Clock

    # one-time codes
    def put_code(self, subject: str, code_hash: str, ttl_s: int) -> None:
        """Store the keyed hash of a new code for ``subject``, replacing any previous code."""

    def check_code(self, subject: str, code_hash: str) -> str:
        """``'ok' | 'wrong' | 'expired' | 'missing' | 'locked'``; ``'ok'`` consumes the code atomically."""

    def code_locked(self, subject: str) -> bool:
        """True while ``subject`` is locked out after ``MAX_CODE_FAILURES`` failures."""

    def code_failures(self, subject: str) -> int:
        """Failed checks counted against ``subject`` since its last success or unlock."""

    def unlock(self, subject: str) -> None:
        """Operator action: clear the failure counter and lock of ``subject``."""

    # rate limits
    def hit(self, bucket: str, limit: int, window_s: int) -> bool:
        """Count one event in ``bucket``'s sliding window; True if allowed (and counted).

        Allowed while fewer than ``limit`` events were counted in the last ``window_s`` seconds, so
        no interval of ``window_s`` seconds ever admits more than ``limit`` (refused ones are not
        counted). ``bucket`` and ``window_s`` together name the log: one bucket may carry several rules.
        """

    def retry_after_s(self, bucket: str, limit: int, window_s: int) -> int:
        """Whole seconds until ``hit`` would be allowed again: 0 now, ``window_s`` for a zero limit."""

    # consent and opt-outs
    def set_consent(self, subject: str, scope: str, given: bool) -> None: ...

    def has_consent(self, subject: str, scope: str) -> bool: ...

    def set_opt_out(self, subject: str, opted_out: bool, channel: str = "sms") -> None: ...

    def is_opted_out(self, subject: str, channel: str = "sms") -> bool: ...

    # conversation memory
    def remember(self, key: str, value: dict, ttl_s: int) -> None: ...

    def recall(self, key: str) -> dict | None: ...

    # proofs and alerts
    def record_proof(self, jti: str, subject: str, issued_s: int, expires_s: int, kid: str | None = None) -> None:
        """Record an issued proof (for revocation); ``kid`` is the key that signed it (its revocation list)."""

    def proof_revoked(self, jti: str) -> bool: ...

    def revoke_proof(self, jti: str) -> None:
        """Revoke one proof (also one never recorded); bumps its key's revocation counter if it changed."""

    def revoke_subject_proofs(self, subject: str, before_s: int) -> int:
        """Revoke every recorded proof of ``subject`` issued before ``before_s``; how many were newly revoked."""

    def revocation_list(self, kid: str) -> tuple[int, list[str]]:
        """``(counter, jtis)`` of key ``kid``: the counter grows with every revocation of one of its proofs;
        the jtis are its revoked proofs until ``REVOCATION_LISTED_AFTER_EXPIRY_S`` after their expiry."""

    # card sessions (the web card flow's server-side session record)
    def open_session(self, sid: str, subject: str, ttl_s: int) -> None:
        """Record session ``sid`` of ``subject`` for ``ttl_s`` seconds."""

    def session_subject(self, sid: str) -> str | None:
        """The subject of a live session ``sid``; None once it ended or expired, or if it never existed."""

    def end_session(self, sid: str) -> None:
        """End session ``sid`` at once (sign-out); unknown ids are ignored."""

    def claim_alert(self, exposure_key: str) -> bool:
        """True the first time ``exposure_key`` is claimed, False ever after (atomic)."""

    # outbox
    def record_message(self, message: dict) -> None: ...

    def update_message_status(self, sid: str, status: str, error_code: int | None = None) -> None: ...

    def outbox(self, limit: int = 50) -> list[dict]:
        """Newest first."""

    # audit
    def audit(self, event: str, subject: str | None = None, **fields: Any) -> None: ...

    def audit_log(self, limit: int = 100) -> list[dict]:
        """Newest first; each entry has ``ts``, ``event``, ``subject`` and its fields."""

    # retention and health
    def purge(self, now_s: int | None = None) -> dict[str, int]:
        """Delete what is past its documented lifetime; counts deleted per kind."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def check_hit(bucket: str, limit: int, window_s: int, now_s: int) -> int:
    """Check the arguments of ``hit`` and ``retry_after_s``; return the start of the fixed window
    containing ``now_s``, which names the counters of schemas before the sliding window (their
    in-flight counts are carried over, so an upgrade hands no bucket a fresh budget).

    Examples
    --------
    >>> check_hit("rl:ip:127.0.0.1", 10, 3600, 7250)
    7200
    """
    check_key(bucket, "bucket")
    check_positive(window_s, "window_s")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise StateValueError("limit must be a non-negative integer")
    return now_s - now_s % window_s


def check_subject(subject: str) -> str:
    """Return ``subject`` if it may be stored, else raise :class:`StateValueError`.

    Raw phone numbers are refused: the store only ever sees pseudonyms.

    Parameters
    ----------
    subject : str
        A pseudonym (``forecast.phones``, 16 hex characters) or another subject key of 1 to
        ``MAX_KEY_CHARS`` (200) characters.

    Returns
    -------
    str
        ``subject``, unchanged.

    Raises
    ------
    StateValueError
        If ``subject`` is not text of 1 to ``MAX_KEY_CHARS`` characters, or it is not a 16-hex-character
        pseudonym and contains a free-standing run of 11 or more digits (optionally after ``+``), which
        looks like a phone number.

    Examples
    --------
    >>> check_subject("68ba9da759ce5549")
    '68ba9da759ce5549'
    >>> check_subject("1234567890123456")  # a pseudonym that happens to be all digits
    '1234567890123456'
    >>> example = "+8613800138000"
    >>> check_subject(example)
    Traceback (most recent call last):
    ...
    miniapp.state.base.StateValueError: subject looks like a raw phone number; store pseudonyms only
    """
    check_key(subject, "subject")
    if not _PSEUDONYM.fullmatch(subject) and _PHONE_LIKE.search(subject):
        raise StateValueError("subject looks like a raw phone number; store pseudonyms only")
    return subject


def check_key(key: str, what: str = "key") -> str:
    """Return ``key`` if it is a non-empty str of at most ``MAX_KEY_CHARS`` characters.

    Examples
    --------
    >>> check_key("rl:ip:127.0.0.1")
    'rl:ip:127.0.0.1'
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise StateValueError(f"{what} must be text of 1 to {MAX_KEY_CHARS} characters")
    return key


def check_no_phone(value: Any, what: str) -> None:
    """Raise :class:`StateValueError` if ``value`` (or any str inside it) contains a raw phone number.

    Examples
    --------
    >>> check_no_phone({"masked": "138****8000", "n": 3}, "fields")
    >>> check_no_phone({"sid": "OUT38291048573920abcd"}, "fields")
    >>> example = ["13800138000"]
    >>> check_no_phone(example, "fields")
    Traceback (most recent call last):
    ...
    miniapp.state.base.StateValueError: fields contain what looks like a raw phone number
    """
    if isinstance(value, str):
        if not _PSEUDONYM.fullmatch(value) and _PHONE_LIKE.search(value):
            raise StateValueError(f"{what} contain what looks like a raw phone number")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_no_phone(k, what)
            check_no_phone(v, what)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_no_phone(v, what)


def encode_value(value: dict) -> str:
    """JSON text of a memory value (a dict of JSON types, at most ``MAX_VALUE_BYTES``).

    Examples
    --------
    >>> encode_value({"choices": [1, 2]})
    '{"choices":[1,2]}'
    """
    if not isinstance(value, dict):
        raise StateValueError("value must be a dict")
    check_no_phone(value, "value")
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateValueError(f"value is not JSON: {exc}") from exc
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise StateValueError(f"value is larger than {MAX_VALUE_BYTES} bytes")
    return text


def encode_fields(fields: dict) -> str:
    """JSON text of audit fields; refuses raw phone numbers and the reserved names.

    Examples
    --------
    >>> encode_fields({"masked": "138****8000", "ip": "203.0.113.9"})
    '{"masked":"138****8000","ip":"203.0.113.9"}'
    """
    reserved = {"ts", "event", "subject"} & set(fields)
    if reserved:
        raise StateValueError(f"audit field names reserved: {sorted(reserved)}")
    return encode_value(dict(fields))


_MESSAGE_FIELDS = ("sid", "to", "body", "status", "ts", "error_code")


def check_message(message: dict, now: int) -> dict:
    """Normalise an outbox message: keys ``sid to body status ts error_code extra``, no raw numbers.

    ``to`` must be a pseudonym or a masked number; ``ts`` defaults to ``now``; any other keys (for
    example ``subject``, ``purpose``, ``error``) are kept as JSON text in ``extra``.

    Examples
    --------
    >>> m = check_message({"to": "138****8000", "body": "code 123456", "purpose": "otp"}, 10)
    >>> m["ts"], m["status"], m["extra"]
    (10, 'queued', '{"purpose":"otp"}')
    """
    if not isinstance(message, dict):
        raise StateValueError("message must be a dict")
    m = {k: message.get(k) for k in _MESSAGE_FIELDS}
    m["ts"] = now if m["ts"] is None else int(m["ts"])
    m["status"] = m["status"] or "queued"
    for k in ("sid", "to", "body", "status"):
        if m[k] is not None and not isinstance(m[k], str):
            raise StateValueError(f"message {k} must be text")
    if m["body"] is not None and len(m["body"]) > 2000:
        raise StateValueError("message body is longer than 2000 characters")
    if m["error_code"] is not None:
        m["error_code"] = int(m["error_code"])
    check_no_phone({k: m[k] for k in ("sid", "to", "body")}, "message fields")
    extra = {k: v for k, v in message.items() if k not in _MESSAGE_FIELDS and v is not None}
    m["extra"] = encode_value(extra) if extra else None
    return m


def merge_message(row: dict, extra: str | None) -> dict:
    """An outbox row with its extra fields merged in (the named fields win).

    Examples
    --------
    >>> merge_message({"sid": "SM1"}, '{"purpose":"otp","sid":"x"}')
    {'purpose': 'otp', 'sid': 'SM1'}
    """
    return {**(json.loads(extra) if extra else {}), **row}


def check_positive(value: int, what: str) -> int:
    """Return ``value`` as int if it is a positive integer.

    Examples
    --------
    >>> check_positive(600, "ttl_s")
    600
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise StateValueError(f"{what} must be a positive integer")
    return value


def wait_s(expiries_s: Sequence[float], limit: int, window_s: int, now: float) -> int:
    """Whole seconds until a sliding-window log admits one more hit.

    Parameters
    ----------
    expiries_s : sequence of float
        When each counted hit of the log leaves the window (its time + ``window_s``); any order, and
        entries already past ``now`` are ignored.
    limit : int
        Hits allowed per window.
    window_s : int
        The window's length, returned for a zero limit (which never admits a hit).
    now : float
        The time in Unix seconds.

    Returns
    -------
    int
        0 if fewer than ``limit`` hits are in the window, else the seconds (rounded up) until enough
        of them have left it.

    Examples
    --------
    >>> wait_s([100.0, 130.5, 160.0], 3, 60, 110.0), wait_s([100.0, 130.5, 160.0], 2, 60, 110.0)
    (0, 21)
    >>> wait_s([], 0, 60, 110.0)
    60
    """
    if limit <= 0:
        return int(window_s)
    live = sorted(e for e in expiries_s if e > now)
    if len(live) < limit:
        return 0
    return max(1, math.ceil(live[len(live) - limit] - now))


def clock_time(clock: Clock) -> float:
    """The clock's time in Unix seconds with its fractions (rate-limit logs need them).

    Whole seconds would let a sliding window admit a hit up to a second early: two hits 899.2 s
    apart can fall in whole seconds 900 apart.

    Parameters
    ----------
    clock : callable
        Returns the time in Unix seconds, like ``time.time``.

    Returns
    -------
    float
        The time, unrounded.

    Examples
    --------
    >>> clock_time(lambda: 1600000000.25)
    1600000000.25
    """
    return float(clock())


def now_s(clock: Clock) -> int:
    """The clock's time in whole Unix seconds.

    Parameters
    ----------
    clock : callable
        Returns the time in Unix seconds (float), like ``time.time``.

    Returns
    -------
    int
        The time truncated to whole seconds.

    Examples
    --------
    >>> now_s(lambda: 1600000000.9)
    1600000000
    """
    return int(clock())


