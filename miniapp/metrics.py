"""The app's Prometheus counters (prometheus-client), counted where things happen.

This module only defines and counts; :mod:`miniapp.scrape` serves them on the internal metrics port
(never on the public app). Under gunicorn, ``miniapp/gunicorn_conf.py`` sets
``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus-client, so every worker writes its
counts to files there and the metrics listener adds them up; without it (tests, a dev server) they
live in this process. Names follow Prometheus conventions (``riskcard_*_total`` counters); every
metric is described in docs/observability.md.
"""

from __future__ import annotations

import functools
from typing import Callable, Iterable

from prometheus_client import Counter

REQUESTS = Counter("riskcard_http_requests_total", "HTTP answers of the app, by status code", ["status"])
ERRORS = Counter("riskcard_errors_total", "Error answers (the friendly error page or JSON), by status code",
                 ["status"])
RESPONSE_CACHE = Counter("riskcard_response_cache_total", "Look-ups of the per-worker response cache, by result",
                         ["result"])
CODES = Counter("riskcard_otp_requests_total",
                "One-time code requests, by outcome: sent, or the reason it was refused", ["reason"])
CODE_CHECKS = Counter("riskcard_otp_checks_total", "Typed one-time codes checked, by result", ["result"])
RATE_LIMITED = Counter("riskcard_rate_limited_total", "Requests refused by a rate limit (answered 429), by limit",
                       ["limit"])
VERIFY = Counter("riskcard_verify_total", "QR card verifications, by verdict (genuine, expired, forged, revoked, ...)",
                 ["outcome"])
WEBHOOK = Counter("riskcard_webhook_events_total",
                  "Twilio webhook outcomes (forged, replayed, bad_sid, intent_*, status_*, error, ...)", ["event"])
SNAPSHOT_DAMAGED = Counter("riskcard_snapshot_damaged_total",
                           "Served snapshot files found damaged under a running worker")

# Children resolved once: a labelled inc() is a dict look-up and a lock; the hot path skips the look-up.
_HIT, _MISS = RESPONSE_CACHE.labels("hit"), RESPONSE_CACHE.labels("miss")
_STATUS: dict[str, object] = {}


def cache_result(hit: bool) -> None:
    """Count one response-cache look-up.

    Parameters
    ----------
    hit : bool
        Whether the answer came from the cache.

    Examples
    --------
    >>> before = RESPONSE_CACHE.labels("hit")._value.get()
    >>> cache_result(True)
    >>> RESPONSE_CACHE.labels("hit")._value.get() - before
    1.0
    """
    (_HIT if hit else _MISS).inc()


def count_status(status: str) -> None:
    """Count one HTTP answer by its status line (``"200 OK"``) or code.

    Parameters
    ----------
    status : str
        The WSGI status line; its first three characters are the code.

    Examples
    --------
    >>> before = REQUESTS.labels("204")._value.get()
    >>> count_status("204 NO CONTENT")
    >>> REQUESTS.labels("204")._value.get() - before
    1.0
    """
    code = str(status)[:3]
    child = _STATUS.get(code)
    if child is None:
        child = _STATUS[code] = REQUESTS.labels(code if code.isdigit() else "other")
    child.inc()


class CountRequests:
    """WSGI middleware counting every answer by status (outermost, so cached answers count too).

    Parameters
    ----------
    wsgi_app : callable
        The application.

    Examples
    --------
    >>> def app(environ, start_response):
    ...     start_response("418 I'M A TEAPOT", [])
    ...     return [b""]
    >>> before = REQUESTS.labels("418")._value.get()
    >>> _ = CountRequests(app)({}, lambda status, headers, exc_info=None: None)
    >>> REQUESTS.labels("418")._value.get() - before
    1.0
    """

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        def counted(status, headers, exc_info=None):
            count_status(status)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, counted)


def counts_outcome(counter: Counter, pick: Callable[[object], str], limited: Callable[[str], str | None] | None = None):
    """Decorate a function whose result names an outcome: count it in ``counter``.

    Parameters
    ----------
    counter : Counter
        A counter with one label.
    pick : callable
        The outcome label from the function's result.
    limited : callable, optional
        The rate limit an outcome stands for (``riskcard_rate_limited_total``), or None.

    Returns
    -------
    callable
        The decorator.

    Examples
    --------
    >>> @counts_outcome(CODE_CHECKS, str)
    ... def check():
    ...     return "doctest"
    >>> before = CODE_CHECKS.labels("doctest")._value.get()
    >>> check(), CODE_CHECKS.labels("doctest")._value.get() - before
    ('doctest', 1.0)
    """
    def decorate(function):
        @functools.wraps(function)
        def counted(*args, **kwargs):
            result = function(*args, **kwargs)
            try:
                outcome = str(pick(result))
                counter.labels(outcome).inc()
                limit = limited(outcome) if limited else None
                if limit:
                    RATE_LIMITED.labels(limit).inc()
            except Exception:  # noqa: BLE001 - counting never changes an answer
                pass
            return result

        return counted

    return decorate
