"""``riskcard serve``: serve the published snapshot with gunicorn's production configuration."""

from __future__ import annotations

import os
import sys

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="gunicorn worker processes (default: cores + 1)")
def command(host: str, port: int, workers: int | None) -> None:
    """Serve the web app and the bot webhooks.

    Settings come from RISKCARD_* variables (docs/settings.md).

    Example: RISKCARD_SNAPSHOT_DIR=var/snapshots riskcard serve --port 8000
    """
    os.environ["RISKCARD_GUNICORN_BIND"] = f"{host}:{port}"
    if workers:
        os.environ["RISKCARD_GUNICORN_WORKERS"] = str(workers)
    args = [sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf", "miniapp.wsgi:app"]
    os.execv(sys.executable, args)
