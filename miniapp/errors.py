"""Errors users see: a friendly page (or JSON under /api and /chat), the right status, never a
traceback; every error is counted by status code (exposed at /metrics)."""

from __future__ import annotations

import logging
from collections import Counter

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from miniapp.i18n import tr

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


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/chat/", "/.well-known/")) or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    counts: Counter[int] = Counter()
    app.extensions["riskcard_error_counts"] = counts

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = exc.code or 500
        return _render(code)

    from miniapp.state import StateUnavailable

    @app.errorhandler(StateUnavailable)
    def _state_down(exc: StateUnavailable):
        log.warning("state store unavailable on %s: %s", request.path, exc)
        return _render(503)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        return _render(500)

    def _render(code: int):
        counts[code] += 1
        zh, en = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
        if _wants_json():
            return jsonify(error={"status": code, "message": en, "message_zh": zh}), code
        try:
            return render_template("error.html", status=code, message=tr(zh, en)), code
        except Exception:  # noqa: BLE001 - a broken template must not hide the error
            log.exception("error page failed")
            return InternalServerError.description, code

    @app.get("/metrics")
    def metrics():
        lines = ["# TYPE riskcard_errors_total counter"]
        lines += [f'riskcard_errors_total{{status="{c}"}} {n}' for c, n in sorted(counts.items())]
        return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; version=0.0.4"}
