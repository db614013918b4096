"""The internal metrics listener: Prometheus text on ``127.0.0.1:RISKCARD_METRICS_PORT``, never the public app.

What it serves (docs/observability.md):

* the counters of :mod:`miniapp.metrics`, added up over every gunicorn worker from
  ``PROMETHEUS_MULTIPROC_DIR`` (in one process, that process's own);
* what is looked at when scraped, in the listener's own connections: the served snapshot (its age,
  checksum, whether it opens), the state store (up or down) and the SMS code budget left in each
  window (read with ``retry_after_s``, which never counts a hit);
* the build's step durations, from the ``build.prom`` file the build writes beside the snapshots.

Under gunicorn the master starts it (``miniapp/gunicorn_conf.py``, ``when_ready``) as a process of its
own, ``python -m miniapp.scrape``: nothing that could hold a lock is running in the master when it
forks workers, and the listener exits when the master goes away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from miniapp import config as settings
from miniapp.snapshot import read_current
from miniapp.snapshot.files import atomic_write_text, open_readonly
from miniapp.state import open_state

log = logging.getLogger(__name__)

BUILD_METRICS_FILE = "build.prom"
BUDGETS = (("1h", "OTP_HOURLY_BUDGET", 2000, "otp:budget:1h", 3600),
           ("24h", "OTP_DAILY_BUDGET", 20000, "otp:budget:24h", 24 * 3600))


def snapshot_facts(snapshot_dir: str | os.PathLike) -> dict:
    """The published snapshot as the listener sees it now: one small read, no hashing.

    Parameters
    ----------
    snapshot_dir : str or path-like
        The directory holding ``CURRENT``.

    Returns
    -------
    dict
        ``readable`` (bool), ``reason`` (why not, or None), ``name``, ``sha256``, ``as_of``, ``built_at``
        and ``age_s`` (seconds since it was built; None when unknown).

    Examples
    --------
    >>> import tempfile
    >>> snapshot_facts(tempfile.mkdtemp())["reason"]
    'nothing is published'
    """
    facts = {"readable": False, "reason": None, "name": None, "sha256": None, "as_of": None, "built_at": None,
             "age_s": None}
    try:
        pointer = read_current(snapshot_dir)
    except Exception as exc:  # noqa: BLE001 - a damaged pointer is a fact to report
        facts["reason"] = str(exc)
        return facts
    if pointer is None:
        facts["reason"] = "nothing is published"
        return facts
    facts.update(name=pointer["name"], sha256=pointer["sha256"])
    try:
        conn = open_readonly(Path(snapshot_dir) / pointer["name"])
        try:
            meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta WHERE key IN"
                                                              " ('as_of', 'built_at')")}
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - unreadable: not ready
        facts["reason"] = f"snapshot {pointer['name']} cannot be read: {exc}"
        return facts
    facts.update(readable=True, as_of=meta.get("as_of"), built_at=meta.get("built_at"))
    try:
        built = datetime.fromisoformat(str(meta.get("built_at")))
        built = built if built.tzinfo else built.replace(tzinfo=timezone.utc)
        facts["age_s"] = max(0.0, time.time() - built.timestamp())
    except ValueError:
        pass
    return facts


def window_count(state, bucket: str, window_s: int, limit: int) -> int:
    """Events counted in ``bucket``'s sliding window, found without counting one (``retry_after_s`` only).

    ``retry_after_s(bucket, k, window_s)`` is 0 exactly while fewer than ``k`` events are live, so a
    binary search over ``k`` in ``1..limit`` finds the count (capped at ``limit``) in ~log2(limit) reads.

    Parameters
    ----------
    state : StateStore
        The state store.
    bucket : str
        The rate-limit bucket.
    window_s : int
        Its window in seconds.
    limit : int
        The largest count of interest (the budget).

    Returns
    -------
    int
        ``min(live events, limit)``.

    Examples
    --------
    >>> st = open_state("sqlite:///:memory:")
    >>> for _ in range(3):
    ...     _ = st.hit("b", 10, 60)
    >>> window_count(st, "b", 60, 10)
    3
    """
    lo, hi = 0, max(0, int(limit))  # count >= lo is known; find the largest k with count >= k
    while lo < hi:
        k = (lo + hi + 1) // 2
        if state.retry_after_s(bucket, k, window_s) > 0:
            lo = k
        else:
            hi = k - 1
    return lo


def state_facts(config: Mapping[str, object]) -> dict:
    """The state store seen now: ``up`` and the codes budget used per window, or ``error``.

    Parameters
    ----------
    config : mapping
        Settings (``STATE_URL``, ``OTP_HOURLY_BUDGET``, ``OTP_DAILY_BUDGET``).

    Returns
    -------
    dict
        ``up`` (bool), ``budgets`` ({window: (limit, used)}) and ``error`` (None or why it is down).

    Examples
    --------
    >>> state_facts({"STATE_URL": "sqlite:///:memory:"})["budgets"]["1h"]
    (2000, 0)
    """
    out: dict = {"up": False, "budgets": {}, "error": None}
    try:
        state = open_state(str(config.get("STATE_URL") or "sqlite:///var/state.db"))
    except Exception as exc:  # noqa: BLE001
        out["error"] = type(exc).__name__
        return out
    try:
        out["up"] = bool(state.ping())
        for window, name, default, bucket, window_s in BUDGETS:
            limit = int(config.get(name) or default)
            out["budgets"][window] = (limit, window_count(state, bucket, window_s, limit))
    except Exception as exc:  # noqa: BLE001 - down is a value, not an error of the scrape
        out["up"], out["error"] = False, type(exc).__name__
    finally:
        try:
            state.close()
        except Exception:  # noqa: BLE001
            pass
    return out


class LiveCollector:
    """Gauges looked at when scraped: snapshot, state store, budgets, readiness, the build's timings."""

    def __init__(self, config: Mapping[str, object]):
        self.config = config

    def collect(self) -> Iterator:
        snap_dir = Path(str(self.config.get("SNAPSHOT_DIR") or "var/snapshots"))
        snap = snapshot_facts(snap_dir)
        state = state_facts(self.config)
        yield GaugeMetricFamily("riskcard_snapshot_readable", "1 when the published snapshot opens", int(snap["readable"]))
        if snap["age_s"] is not None:
            yield GaugeMetricFamily("riskcard_snapshot_age_seconds", "Seconds since the published snapshot was built",
                                    round(snap["age_s"], 1))
        if snap["name"]:
            info = InfoMetricFamily("riskcard_snapshot", "The published snapshot (file, sha256 checksum, as_of day)")
            info.add_metric([], {"name": str(snap["name"]), "sha256": str(snap["sha256"]), "as_of": str(snap["as_of"])})
            yield info
        yield GaugeMetricFamily("riskcard_state_up", "1 when the state store answers a ping", int(state["up"]))
        yield GaugeMetricFamily("riskcard_ready", "1 when /readyz would answer 200 (snapshot readable, state up)",
                                int(snap["readable"] and state["up"]))
        left = GaugeMetricFamily("riskcard_sms_budget_remaining", "One-time codes the global budget still allows",
                                 labels=["window"])
        cap = GaugeMetricFamily("riskcard_sms_budget_limit", "The global budget of one-time codes", labels=["window"])
        for window, (limit, used) in state["budgets"].items():
            left.add_metric([window], max(0, limit - used))
            cap.add_metric([window], limit)
        yield left
        yield cap
        yield from build_metric_families(snap_dir)


def build_metric_families(snapshot_dir: Path) -> Iterator:
    """The families in the build's ``build.prom`` (nothing when absent or unreadable)."""
    try:
        text = (Path(snapshot_dir) / BUILD_METRICS_FILE).read_text(encoding="utf-8")
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError):
        return iter(())
    return iter(families)


def write_build_metrics(snapshot_dir: str | os.PathLike, summary: Mapping[str, object]) -> Path:
    """Write the build's step durations beside the snapshots, as Prometheus text (atomically).

    Parameters
    ----------
    snapshot_dir : str or path-like
        The directory of published snapshots (the listener reads ``build.prom`` there).
    summary : mapping
        :func:`~miniapp.pipeline.run_build`'s summary: ``timings_s`` ({step: seconds}), ``total_s``, ``as_of``.

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> p = write_build_metrics(tempfile.mkdtemp(), {"timings_s": {"read feeds": 1.5}, "total_s": 2.0, "as_of": "2020-02-10"})
    >>> [f.name for f in build_metric_families(p.parent)]
    ['riskcard_build_step_duration_seconds', 'riskcard_build_duration_seconds', 'riskcard_build_last_success_timestamp_seconds']
    """
    def esc(v: object) -> str:
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")

    lines = ["# HELP riskcard_build_step_duration_seconds Duration of each step of the last build",
             "# TYPE riskcard_build_step_duration_seconds gauge"]
    timings = summary.get("timings_s") or {}
    lines += [f'riskcard_build_step_duration_seconds{{step="{esc(k)}"}} {float(v)}' for k, v in dict(timings).items()]
    lines += ["# HELP riskcard_build_duration_seconds Duration of the last build",
              "# TYPE riskcard_build_duration_seconds gauge",
              f"riskcard_build_duration_seconds {float(summary.get('total_s') or 0.0)}",
              "# HELP riskcard_build_last_success_timestamp_seconds When the last build published (Unix time)",
              "# TYPE riskcard_build_last_success_timestamp_seconds gauge",
              f"riskcard_build_last_success_timestamp_seconds {time.time():.0f}"]
    path = Path(snapshot_dir) / BUILD_METRICS_FILE
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


class _ThisProcess:
    """The counters of this process (no multiprocess directory: tests, a dev server)."""

    def collect(self) -> Iterator:
        return REGISTRY.collect()


def exposition(config: Mapping[str, object], multiproc_dir: str | None = None) -> bytes:
    """The metrics text a scrape gets.

    Parameters
    ----------
    config : mapping
        Settings (``SNAPSHOT_DIR``, ``STATE_URL``, budgets).
    multiproc_dir : str, optional
        gunicorn's ``PROMETHEUS_MULTIPROC_DIR``; default the environment's. Without one, this
        process's counters.

    Returns
    -------
    bytes
        Prometheus text format 0.0.4.

    Examples
    --------
    >>> import tempfile
    >>> text = exposition({"SNAPSHOT_DIR": tempfile.mkdtemp(), "STATE_URL": "sqlite:///:memory:"}).decode()
    >>> "riskcard_state_up 1.0" in text, "riskcard_snapshot_readable 0.0" in text
    (True, True)
    """
    registry = CollectorRegistry()
    mp = multiproc_dir if multiproc_dir is not None else os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if mp:
        multiprocess.MultiProcessCollector(registry, path=mp)
    else:
        registry.register(_ThisProcess())
    registry.register(LiveCollector(config))
    return generate_latest(registry)


def metrics_app(config: Mapping[str, object]):
    """A WSGI app answering ``GET /metrics`` with :func:`exposition` (404 elsewhere).

    Parameters
    ----------
    config : mapping
        Settings.

    Returns
    -------
    callable
        The WSGI app (bound to loopback by :func:`serve`).

    Examples
    --------
    >>> from werkzeug.test import Client
    >>> import tempfile
    >>> app = metrics_app({"SNAPSHOT_DIR": tempfile.mkdtemp(), "STATE_URL": "sqlite:///:memory:"})
    >>> Client(app).get("/metrics").status_code, Client(app).get("/").status_code
    (200, 404)
    """
    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        try:
            body = exposition(config)
        except Exception:  # noqa: BLE001 - a scrape never crashes the listener
            log.exception("metrics exposition failed")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"metrics unavailable\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app


def serve(host: str, port: int, config: Mapping[str, object], parent_pid: int | None = None) -> None:
    """Serve :func:`metrics_app` on ``host:port`` until killed, or until ``parent_pid`` is gone.

    Parameters
    ----------
    host : str
        Loopback address (127.0.0.1); the metrics are for the host's own scraper.
    port : int
        ``RISKCARD_METRICS_PORT``.
    config : mapping
        Settings.
    parent_pid : int, optional
        The gunicorn master: exit when it has gone (checked every second).
    """
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):  # no access log
            pass

    httpd = make_server(host, port, metrics_app(config), server_class=WSGIServer, handler_class=Quiet)
    if parent_pid:
        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    httpd.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """``python -m miniapp.scrape --port N [--host 127.0.0.1] [--parent PID]``: settings from the environment."""
    ap = argparse.ArgumentParser(description="riskcard's internal metrics listener")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parent", type=int, default=None)
    args = ap.parse_args(argv)
    config = {**settings.defaults(), **settings.from_environ()}
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    serve(args.host, args.port, config, args.parent)


if __name__ == "__main__":
    main()
