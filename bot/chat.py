"""The web chat endpoint: ``POST /chat/api`` with JSON ``{"session": ..., "text": ...}`` -> ``{"reply": ...}``.

CSRF-safe by construction: only ``application/json`` bodies are accepted, which a cross-site form
cannot send and a cross-site script can send only after a CORS preflight that this app never
approves; a foreign ``Origin`` is refused as well. Bodies are size-limited, and requests are rate
limited per client address and per chat session.

The chat session id is random and chosen by the browser; it is not a proof of any number, so it is
stored only as a keyed hash. An itinerary is answered in the chat only when the web app has verified
a number in this browser session (the card flow's ``session["card"]``, until it expires).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, jsonify, request, session
from werkzeug.exceptions import HTTPException

from bot.conversation import conversation_for, services
from miniapp.metrics import RATE_LIMITED
from forecast.phones import uid_to_pseudonym

log = logging.getLogger(__name__)

bp = Blueprint("chat", __name__)

MAX_CHAT_BYTES = 4 * 1024
MAX_TEXT_CHARS = 500
REQUESTS_PER_MINUTE_PER_IP = 120
# Set by the card flow (miniapp/views/card.py) once a number is proven with a one-time code:
# {"uid": int, "pseudonym": str, "masked": str, "until": unix seconds}.
VERIFIED_SESSION_KEY = "card"
_SESSION = re.compile(r"^[A-Za-z0-9_-]{16,128}$")

_ERRORS = {
    "size": (413, "消息太长。Message too long."),
    "type": (415, "请以 JSON 发送。Send JSON (application/json)."),
    "origin": (403, "来源不被允许。Origin not allowed."),
    "bad": (400, "请求格式不对:需要 session 和 text。Bad request: session and text are required."),
    "busy": (503, "服务暂时繁忙,请稍后再试。The service is busy; try again later."),
}


def _error(kind: str):
    status, text = _ERRORS[kind]
    return jsonify({"error": text}), status


@bp.errorhandler(415)
def not_json(exc: HTTPException):
    """415 for a body that is not JSON, in the chat's own JSON error, wherever it is refused.

    The app's CSRF hook (miniapp/security.py) refuses a non-JSON body to a JSON endpoint before the
    view runs; the blueprint's handler gives that refusal the same body as the
    view's own check.

    Parameters
    ----------
    exc : HTTPException
        The 415.

    Returns
    -------
    tuple
        The JSON response and its status.
    """
    return _error("type")


def chat_subject(session_id: str, key: bytes) -> str:
    """The stored name of a chat session: ``chat-`` and a keyed hash in base32 (no digit runs).

    Examples
    --------
    >>> chat_subject("a" * 32, b"k" * 16)
    'chat-g5irysq6uhysq3sja42ccwkzsy'
    """
    digest = hmac.new(key, session_id.encode("ascii"), hashlib.sha256).digest()[:16]
    return "chat-" + base64.b32encode(digest).decode("ascii").rstrip("=").lower()


MAX_JSON_DEPTH = 4  # {"session": ..., "text": ...} is one level; anything deeper is not a chat message


def parse_chat_body(raw: bytes) -> object:
    """The JSON of a chat request, or None for anything that is not small, flat, valid JSON.

    Nesting is measured before parsing: a body of a thousand nested arrays would otherwise reach
    the parser's recursion limit (a RecursionError, not a ValueError) on every request.

    Parameters
    ----------
    raw : bytes
        The request body (at most ``MAX_CHAT_BYTES``).

    Returns
    -------
    object or None
        The parsed JSON value; None when it is not UTF-8, too deeply nested, or not JSON.

    Examples
    --------
    >>> parse_chat_body(b'{"session": "s", "text": "hi"}')
    {'session': 's', 'text': 'hi'}
    >>> parse_chat_body(b"[" * 1200 + b"]" * 1200) is None, parse_chat_body(bytes([255])) is None
    (True, True)
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:  # at most MAX_CHAT_BYTES characters
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _same_origin(origin: str) -> bool:
    allowed = {urlsplit(request.host_url).netloc, urlsplit(str(current_app.config.get("PUBLIC_URL") or "")).netloc}
    return urlsplit(origin).netloc in allowed


def _verified() -> tuple[int | None, str | None]:
    v = session.get(VERIFIED_SESSION_KEY)
    if not isinstance(v, dict) or not isinstance(v.get("uid"), int) or float(v.get("until") or 0) < time.time():
        return None, None
    masked = v.get("masked")
    return int(v["uid"]), masked if isinstance(masked, str) else None


@bp.post("/chat/api")
def chat_api():
    """Answer one chat message with the same brain as the SMS bot."""
    if request.content_length is not None and request.content_length > MAX_CHAT_BYTES:
        return _error("size")
    if request.mimetype != "application/json":
        return _error("type")
    origin = request.headers.get("Origin")
    if origin and not _same_origin(origin):
        return _error("origin")
    request.max_content_length = MAX_CHAT_BYTES
    data = parse_chat_body(request.get_data(cache=False))
    if not isinstance(data, dict):
        return _error("bad")
    session_id, text = data.get("session"), data.get("text")
    if not isinstance(session_id, str) or not _SESSION.match(session_id) or not isinstance(text, str):
        return _error("bad")
    if len(text) > MAX_TEXT_CHARS:
        return _error("size")
    try:
        svc = services()
        conv = conversation_for(current_app)
        bucket = f"chat:ip:{request.remote_addr}"
        if not conv.state.hit(bucket, REQUESTS_PER_MINUTE_PER_IP, 60):
            # the app's error handler answers: counted at /metrics, Retry-After = when the window has room
            g.retry_after_s = conv.state.retry_after_s(bucket, REQUESTS_PER_MINUTE_PER_IP, 60)
            RATE_LIMITED.labels("chat_ip").inc()
            abort(429)
        uid, masked = _verified()
        # A verified person is one subject across SMS and chat (consent, memory, limits).
        subject = uid_to_pseudonym(uid) if uid is not None else chat_subject(session_id, svc["pseudonym_key"])
        reply = conv.reply("chat", subject, text, uid=uid, masked=masked)
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the user gets a polite answer, never a traceback
        log.warning("chat reply failed: %s", type(exc).__name__)
        return _error("busy")
    return jsonify({"reply": reply.text, "intent": reply.intent, "lang": reply.lang})
