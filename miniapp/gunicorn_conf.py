"""The production gunicorn configuration (also used by benchmarks/serve.py and benchmarks/bot.py).

Every value can be overridden with the matching RISKCARD_GUNICORN_* environment variable."""

import multiprocessing
import os

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
