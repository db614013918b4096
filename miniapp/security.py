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


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
        return
    if request.mimetype not in FORM_TYPES:
        if request.mimetype == "application/json":
            return
        abort(415)
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="csrf")


def init_app(app: Flask) -> None:
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_SECURE", str(app.config.get("PUBLIC_URL", "")).startswith("https"))
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(_check_csrf)

    @app.after_request
    def _headers(resp: Response) -> Response:
        for k, v in HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp
