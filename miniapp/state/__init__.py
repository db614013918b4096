"""The state store: the little that changes while serving.

One-time codes, rate-limit buckets, consent, opt-outs, conversation memory, issued proofs, sent
alerts, the SMS outbox and the audit log. Two backends implement :class:`StateStore` and pass the
same tests: SQLite in WAL mode (one host, several gunicorn workers) and Redis (several hosts).
:func:`open_state` picks one from ``RISKCARD_STATE_URL``:
:mod:`~miniapp.state.base` (the protocol and shared checks), :mod:`~miniapp.state.sqlite`,
:mod:`~miniapp.state.redis`.

Rules every backend keeps:

- subjects are pseudonyms (``forecast.phones``), never raw numbers; :func:`check_subject` refuses
  anything that looks like a phone number;
- times are Unix seconds from an injectable ``clock`` (``time.time`` by default);
- check-and-set operations (``check_code``, ``hit``, ``claim_alert``) are atomic across processes;
- rate limits are sliding windows: ``hit(bucket, limit, window_s)`` keeps a log of the hits it
  counted (their times with fractions of a second) and allows one more only while fewer than
  ``limit`` are in the last ``window_s`` seconds, so no interval of ``window_s`` ever admits more
  than ``limit``, however the hits fall around clock boundaries (fixed windows let twice the limit
  through across a boundary). Refused hits are not counted. ``retry_after_s`` says how long until
  the next hit would be allowed (what a 429's ``Retry-After`` carries);
- a backend that cannot be reached raises :class:`StateUnavailable`, never a driver exception.

Documented lifetimes (``purge`` deletes past them; Redis expires most of them natively):

=================  ==========================================================
what               lifetime
=================  ==========================================================
one-time code      its ttl (10 minutes), and deleted as soon as it is used
failure counter    until a correct code, an operator unlock, or the cool-off
                   (``LOCK_COOLOFF_S``, 24 h after the last failure)
rate-limit hit     its window (``window_s`` after it was counted); a bucket
                   goes with its last hit
memory             its ttl
issued proof       its expiry + ``PROOF_RECORD_GRACE_S`` (7 days)
sent alert key     ``ALERT_RETENTION_S`` (30 days)
outbox message     ``MESSAGE_RETENTION_S`` (30 days)
audit entry        ``AUDIT_RETENTION_S`` (180 days)
=================  ==========================================================
"""

from __future__ import annotations

import time

from miniapp.state.base import (ALERT_RETENTION_S, AUDIT_RETENTION_S, CODE_RESULTS, LOCK_COOLOFF_S, MAX_CODE_FAILURES,
                                MAX_PROOF_TTL_S, MESSAGE_RETENTION_S, PROOF_RECORD_GRACE_S, Clock, StateError,
                                StateStore, StateUnavailable, StateValueError, check_subject, now_s)
from miniapp.state.redis import RedisState
from miniapp.state.sqlite import SQLiteState

__all__ = [
    "ALERT_RETENTION_S", "AUDIT_RETENTION_S", "CODE_RESULTS", "LOCK_COOLOFF_S", "MAX_CODE_FAILURES",
    "MAX_PROOF_TTL_S", "MESSAGE_RETENTION_S", "PROOF_RECORD_GRACE_S", "RedisState", "SQLiteState", "StateError",
    "StateStore", "StateUnavailable", "StateValueError", "check_subject", "now_s", "open_state",
]


def open_state(url: str, *, clock: Clock | None = None) -> StateStore:
    """Open the state store named by ``url``.

    Parameters
    ----------
    url : str
        ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:`` (one
        connection, tests only) or ``redis://HOST:PORT/DB`` (also ``rediss://`` and ``unix://``).
    clock : callable, optional
        Returns the time in Unix seconds; ``time.time`` by default (tests inject a fake one).

    Returns
    -------
    StateStore
        A :class:`SQLiteState` for ``sqlite:///`` urls, a :class:`RedisState` for the others; the caller
        closes it.

    Raises
    ------
    StateValueError
        For an unknown scheme, or a ``url`` that is not text.
    StateUnavailable
        If the backend cannot be opened.

    Examples
    --------
    >>> st = open_state("sqlite:///:memory:", clock=lambda: 1_600_000_000)
    >>> st.hit("demo", limit=1, window_s=60), st.hit("demo", limit=1, window_s=60)
    (True, False)
    >>> st.close()
    """
    clock = clock or time.time
    if not isinstance(url, str):
        raise StateValueError("state url must be text")
    if url.startswith("sqlite:///"):
        return SQLiteState(url[len("sqlite:///"):], clock=clock)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisState(url, clock=clock)
    raise StateValueError("state url must start with sqlite:/// or redis://")
