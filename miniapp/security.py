"""Security headers and CSRF protection for HTML forms.

Forms carry a token tied to the signed session cookie. JSON endpoints need no token (a browser
cannot send cross-site JSON without CORS, which we never allow); the Twilio webhook is authenticated
by its signature instead (blueprints listed in CSRF_EXEMPT_BLUEPRINTS).
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session
from flask.wrappers import Response

CSRF_EXEMPT_BLUEPRINTS = {"sms"}
# The only endpoints that take JSON bodies (safe by construction, see bot/chat.py); every other POST is a form.
JSON_ENDPOINTS = {"chat.chat_api", "places.places_api", "places.clinics_api"}  # places: a position in the body
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def tile_origin(tile_url: object) -> str | None:
    """The origin (scheme://host[:port]) of a tile URL template, for the CSP's img-src; None if unset or not http(s).

    Examples
    --------
    >>> tile_origin("https://tiles.example.org/{z}/{x}/{y}.png")
    'https://tiles.example.org'
    >>> tile_origin("http://127.0.0.1:8123/t/{z}/{x}/{y}.png"), tile_origin(None), tile_origin("javascript:x")
    ('http://127.0.0.1:8123', None, None)
    """
    from urllib.parse import urlsplit

    text = str(tile_url or "").strip()
    parts = urlsplit(text.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in parts.netloc for c in " ;'\""):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(tile_url: object = None) -> str:
    """The CSP: :data:`HEADERS`'s, with the configured tile server's origin (only it) added to img-src.

    Examples
    --------
    >>> "img-src 'self' data: https://t.example;" in content_security_policy("https://t.example/{z}/{x}/{y}.png")
    True
    >>> content_security_policy() == HEADERS["Content-Security-Policy"]
    True
    """
    csp = HEADERS["Content-Security-Policy"]
    origin = tile_origin(tile_url)
    return csp.replace("img-src 'self' data:;", f"img-src 'self' data: {origin};") if origin else csp


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.routing_exception is not None:
        return  # no such route or method: routing answers 404 / 405 (TRACE is 405, not 415)
    if request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
        return
    if request.endpoint in JSON_ENDPOINTS:
        if request.mimetype != "application/json":
            # JSON only, form types too (docs/bot.md): 415, answered in the endpoint's own JSON by its
            # blueprint's 415 handler (bot/chat.py), before any view runs
            abort(415)
        return
    if request.mimetype not in FORM_TYPES:
        abort(415)  # a JSON body (or any other type) sent to a form route never skips the CSRF check
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="csrf")


def init_app(app: Flask) -> None:
    """Cookie attributes, the CSRF check and the security headers.

    Flask defines ``SESSION_COOKIE_SAMESITE`` (None) and ``SESSION_COOKIE_SECURE`` (False) itself, so
    they are set here, not defaulted: ``HttpOnly`` and ``SameSite=Lax`` always, ``Secure`` when the
    public URL is https (the browser then never sends the session over plain http).

    Parameters
    ----------
    app : Flask
        The app being created.
    """
    https = str(app.config.get("PUBLIC_URL", "")).startswith("https://")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or https
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(_check_csrf)

    headers = {**HEADERS, "Content-Security-Policy": content_security_policy(app.config.get("TILE_URL"))}

    @app.after_request
    def _headers(resp: Response) -> Response:
        for k, v in headers.items():
            resp.headers.setdefault(k, v)
        return resp
