"""The production gunicorn configuration (also used by benchmarks/serve.py and benchmarks/bot.py).

Every value can be overridden with the matching RISKCARD_GUNICORN_* environment variable."""

import html
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import gunicorn.util

from miniapp.security import HEADERS

# Metrics (docs/observability.md): every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR,
# set here, before the app (preload_app) imports prometheus-client; the master's metrics listener on
# 127.0.0.1:RISKCARD_METRICS_PORT adds them up. A directory of our own unless the operator names one.
METRICS_PORT = int(os.environ.get("RISKCARD_METRICS_PORT") or 0)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="riskcard-metrics-")
    _OWN_METRICS_DIR = True
else:
    _OWN_METRICS_DIR = False
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
_listener: "subprocess.Popen | None" = None

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
    """In the master, before workers fork: gunicorn's error pages get the security headers too, and
    the counts of an earlier server in the same metrics directory are wiped (counters start at 0)."""
    gunicorn.util.write_error = secure_write_error
    for f in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        if f.name.startswith(("counter_", "gauge_", "histogram_", "summary_")) and _pid_of(f) != os.getpid():
            f.unlink(missing_ok=True)


def _pid_of(f: Path) -> int | None:
    tail = f.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def when_ready(server):
    """The master is listening: start the internal metrics listener (a process of its own, loopback only)."""
    global _listener
    if not METRICS_PORT:
        return
    _listener = subprocess.Popen([sys.executable, "-m", "miniapp.scrape", "--host", "127.0.0.1",
                                  "--port", str(METRICS_PORT), "--parent", str(os.getpid())], env=os.environ.copy())
    server.log.info("metrics on http://127.0.0.1:%d/metrics (pid %d)", METRICS_PORT, _listener.pid)


def child_exit(server, worker):
    """A worker ended: its live gauges go (counters stay counted; prometheus-client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The master stops: stop the listener and remove the metrics directory we made."""
    if _listener is not None and _listener.poll() is None:
        _listener.terminate()
        try:
            _listener.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _listener.kill()
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
