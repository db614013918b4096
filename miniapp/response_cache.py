"""A response cache for public lookups, in front of Flask.

The snapshot is immutable, so a community or city page is a pure function of (snapshot, path,
query, language). Responses to those GETs are kept per worker, keyed by the served snapshot's
checksum, and answered without entering Flask; publishing a new snapshot changes the key, so
nothing stale is ever served. Only 200 responses without Set-Cookie are kept, and only for paths
that read no session (they carry no form, hence no CSRF token).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Callable, Iterable

from werkzeug.wrappers import Request

from miniapp.metrics import cache_result, count_status

CACHEABLE_PATHS = re.compile(r"^/(community/\d+|city/\d+|api/v1/communities/\d+|api/v1/cities(/\d+)?)$")
MAX_ENTRIES = 4096
MAX_BODY_BYTES = 256 * 1024
MAX_ACCEPT_LANGUAGES = 1024  # distinct Accept-Language headers whose language is remembered


class ResponseCache:
    """WSGI middleware: ``app.wsgi_app = ResponseCache(app.wsgi_app, snapshot_key, language_of)``.

    Parameters
    ----------
    wsgi_app : callable
        The application behind the cache.
    snapshot_key : callable
        Returns the served snapshot's checksum, or None when nothing is served (then no caching).
    language_of : callable
        The language a request will be answered in (the same rule the app uses).
    """

    def __init__(self, wsgi_app: Callable, snapshot_key: Callable[[], str | None], language_of: Callable[[Request], str],
                 max_entries: int = MAX_ENTRIES):
        self.wsgi_app = wsgi_app
        self.snapshot_key = snapshot_key
        self.language_of = language_of
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[str, list, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        self._by_accept: dict[str, str] = {}

    def _language(self, environ: dict) -> str:
        """``language_of`` of this request; without a query or a ``lang`` cookie it depends only on
        Accept-Language, so the answer per header is remembered (no Request object per look-up)."""
        if environ.get("QUERY_STRING") or "lang" in environ.get("HTTP_COOKIE", ""):
            return self.language_of(Request(environ))
        accept = environ.get("HTTP_ACCEPT_LANGUAGE", "")
        lang = self._by_accept.get(accept)
        if lang is None:
            lang = self.language_of(Request(environ))
            if len(self._by_accept) < MAX_ACCEPT_LANGUAGES:
                self._by_accept[accept] = lang
        return lang

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not CACHEABLE_PATHS.match(path):
            return self.wsgi_app(environ, start_response)
        query = environ.get("QUERY_STRING", "")
        if "lang=" in query:  # the answer sets a cookie
            return self.wsgi_app(environ, start_response)
        snapshot = self.snapshot_key()
        if snapshot is None:
            return self.wsgi_app(environ, start_response)
        key = (snapshot, path, query, self._language(environ), environ.get("wsgi.url_scheme"))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        cache_result(entry is not None)
        if entry is not None:
            status, headers, body = entry
            count_status(status)
            start_response(status, list(headers))
            return [body]
        self.misses += 1
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        headers = captured.get("headers", [])
        if (
            captured.get("status", "").startswith("200")
            and len(body) <= MAX_BODY_BYTES
            and not any(k.lower() == "set-cookie" for k, _ in headers)
        ):
            with self._lock:
                self._entries[key] = (captured["status"], list(headers), body)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return [body]
