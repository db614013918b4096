"""Errors users see: a friendly page (or JSON under /api and /chat), the right status, never a
traceback; every error is counted by status code (``riskcard_errors_total``, served on the internal
metrics port by :mod:`miniapp.scrape`; the public app has no /metrics)."""

from __future__ import annotations

import logging
import math
from collections import Counter

from flask import Flask, abort, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from miniapp import metrics
from miniapp.i18n import tr
from miniapp.state import StateUnavailable

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("请求有误，请返回重试。", "Something in the request was not right. Please go back and try again."),
    403: ("无权访问。", "Not allowed."),
    404: ("没有找到这个页面或小区。", "We could not find that page or community."),
    405: ("不支持这种请求方式。", "That kind of request is not supported here."),
    413: ("提交的内容太大。", "What you sent is too large."),
    415: ("不支持这种内容格式。", "That content type is not supported."),
    429: ("请求太频繁，请稍后再试。", "Too many requests. Please wait a little and try again."),
    500: ("服务暂时出错，我们已记录，请稍后再试。", "Something went wrong on our side. It has been logged; please try again later."),
    503: ("服务暂时不可用，请稍后再试。", "The service is briefly unavailable. Please try again later."),
}
# When the state store is down only what needs it stops: say so, and that risk pages still work.
STATE_DOWN = (
    "行程卡和验证码服务暂时不可用，请稍后再试。小区和城市风险查询不受影响。",
    "The itinerary card and SMS codes are briefly unavailable. Please try again later. "
    "Community and city risk pages still work.",
)
RETRY_AFTER_S = 30


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/chat/", "/.well-known/")) or request.accept_mimetypes.best == "application/json"


def refuse_oversized() -> None:
    """413 for any declared body over the limit, whatever its type and whether or not the view reads it."""
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413)


def init_app(app: Flask) -> None:
    counts: Counter[int] = Counter()
    app.extensions["riskcard_error_counts"] = counts
    # First of all before-request hooks, so an oversized body is refused before CSRF or type checks.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = exc.code or 500
        if code == 503 and exc.description == STATE_DOWN[1]:
            return _render(503, STATE_DOWN)
        if isinstance(exc.description, tuple) and len(exc.description) == 2:
            return _render(code, exc.description)  # a view named the problem: abort(400, description=(zh, en))
        return _render(code)


    @app.errorhandler(StateUnavailable)
    def _state_down(exc: StateUnavailable):
        log.warning("state store unavailable on %s: %s", request.path, exc)
        return _render(503, STATE_DOWN)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return _render(500)

    def _render(code: int, message: tuple[str, str] | None = None):
        counts[code] += 1
        metrics.ERRORS.labels(str(code)).inc()
        zh, en = message or MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
        headers = {"Retry-After": str(RETRY_AFTER_S)} if code == 503 else {}
        if code == 429:  # the view that refused may know the wait (sliding windows): flask.g.retry_after_s
            try:
                wait_s = math.ceil(float(g.get("retry_after_s", RETRY_AFTER_S)))
            except (TypeError, ValueError, OverflowError):
                wait_s = RETRY_AFTER_S
            headers["Retry-After"] = str(min(max(wait_s, 1), 24 * 3600))  # whole seconds, 1 s to a day
        if _wants_json():
            return jsonify(error={"status": code, "message": en, "message_zh": zh}), code, headers
        try:
            return render_template("error.html", status=code, message=tr(zh, en)), code, headers
        except Exception:  # noqa: BLE001 - a broken template must not hide the error
            log.exception("error page failed")
            return InternalServerError.description, code, headers

    @app.after_request
    def _every_429_says_when(resp):
        """A view that answers 429 itself (a form page) gets the header and the count too."""
        if resp.status_code == 429 and "Retry-After" not in resp.headers:
            counts[429] += 1
            metrics.ERRORS.labels("429").inc()
            try:
                wait_s = math.ceil(float(g.get("retry_after_s", RETRY_AFTER_S)))
            except (TypeError, ValueError, OverflowError):
                wait_s = RETRY_AFTER_S
            resp.headers["Retry-After"] = str(min(max(wait_s, 1), 24 * 3600))
        return resp
