"""Real servers for tests: gunicorn with the production configuration on a free loopback port."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.miniapp.snapshot_fixture import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str, timeout_s: float = 5) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def scrape_metrics(port: int, timeout_s: float = 30) -> tuple[int, bytes]:
    """GET /metrics from the internal metrics listener (``RISKCARD_METRICS_PORT``), waiting for it to listen:
    gunicorn's master starts it as a process of its own once it is ready."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return http_get(port, "/metrics")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Gunicorn:
    """gunicorn with miniapp/gunicorn_conf.py on a free loopback port, in its own process group."""

    def __init__(self, tmp: Path, snapshots: Path, workers: int = 2, threads: int = 4,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = tmp / "gunicorn.log"
        (tmp / "keys").mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RISKCARD_SNAPSHOT_DIR": str(snapshots),
            "RISKCARD_STATE_URL": f"sqlite:///{tmp / 'state.db'}",
            "RISKCARD_PSEUDONYM_KEY": TEST_KEY.hex(),
            "RISKCARD_SECRET_KEY": "faults-" + "s" * 40,
            "RISKCARD_SIGNING_KEY_DIR": str(tmp / "keys"),
            "RISKCARD_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "RISKCARD_GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "RISKCARD_GUNICORN_WORKERS": str(workers),
            "RISKCARD_GUNICORN_THREADS": str(threads),
            "RISKCARD_GUNICORN_LOGLEVEL": "info",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf", "miniapp.wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + self.log.read_text(errors="replace")[-2000:])
            try:
                if http_get(self.port, "/healthz", 2)[0] == 200 and len(self.workers()) >= 1:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not become ready")

    def workers(self) -> list[int]:
        assert self.proc is not None
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._out.close()
