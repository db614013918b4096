"""The production gunicorn configuration (also used by benchmarks/serve.py and benchmarks/bot.py).

Every value can be overridden with the matching RISKCARD_GUNICORN_* environment variable."""

import html
import multiprocessing
import os

import gunicorn.util

from miniapp.security import HEADERS

bind = os.environ.get("RISKCARD_GUNICORN_BIND", "127.0.0.1:8000")
# Requests are short, CPU-light indexed reads: one process per core plus one, a few threads each.
workers = int(os.environ.get("RISKCARD_GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("RISKCARD_GUNICORN_THREADS", 4))
worker_class = "gthread"
keepalive = 5
timeout = 30
graceful_timeout = 20
max_requests = 200000
max_requests_jitter = 20000
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190
accesslog = None  # access logs would carry card tokens and IPs; errors only
errorlog = "-"
loglevel = os.environ.get("RISKCARD_GUNICORN_LOGLEVEL", "warning")
preload_app = True
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), shared by every
# server that user runs (tests, benchmarks, several deployments); riskcard does not use it.
control_socket_disable = True


def secure_write_error(sock, status_int, reason, mesg):
    """gunicorn's own error answers (414 request line too long, 431 headers, 400 bad request: sent
    before the app sees the request) with the app's security headers and a short bilingual page."""
    body = (f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{int(status_int)}</title>"
            f"</head><body><h1>{int(status_int)}</h1><p>请求有误，请返回重试。 Something in the request was not "
            f"right: {html.escape(str(reason))}.</p></body></html>").encode("utf-8")
    head = [f"HTTP/1.1 {int(status_int)} {reason}", "Connection: close", "Content-Type: text/html; charset=utf-8",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in HEADERS.items())]
    gunicorn.util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def on_starting(server):
    """In the master, before workers fork: gunicorn's error pages get the security headers too."""
    gunicorn.util.write_error = secure_write_error
