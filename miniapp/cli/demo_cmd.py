"""``riskcard demo``: the main job on the embedded default: generate, build, serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click


@click.command("demo")
@click.option("--dir", "demo_dir", default="var/demo", show_default=True, type=click.Path(file_okay=False), help="Where the demo keeps everything.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--subscribers", default=3000, show_default=True, type=click.IntRange(min=100))
@click.option("--no-serve", is_flag=True, help="Generate and build, print the examples, do not serve.")
@click.option("--crowd-timer-for", "crowd_timer_for", type=int, default=None, hidden=True,
              help="Internal: refresh the demo's market crowding every 14 minutes while this process id is the parent.")
def command(demo_dir: str, port: int, subscribers: int, no_serve: bool, crowd_timer_for: int | None) -> None:
    """Generate a synthetic nation (once), build its snapshot (once) and serve it.

    While it serves, a small process beside the server refreshes the markets' crowding every 14
    minutes, as a deployment's timer does (docs/crowding.md); it ends with the server.

    Example: riskcard demo --port 8000
    """
    from miniapp.demo import DemoSize, prepare_demo, refresh_demo_crowd

    if crowd_timer_for is not None:
        from miniapp.crowd.demo import run_while_parent

        size = DemoSize(subscribers=subscribers)
        try:
            run_while_parent(crowd_timer_for, 14 * 60,
                             lambda: refresh_demo_crowd(Path(demo_dir), size, log=lambda m: click.echo(m, err=True)))
        except KeyboardInterrupt:  # Ctrl-C reaches the whole foreground group: end quietly with the server
            pass
        return

    info = prepare_demo(Path(demo_dir), DemoSize(subscribers=subscribers), port=port, log=lambda m: click.echo(m, err=True))
    url = info["url"]
    click.echo("")
    click.echo(f"riskcard demo: {url}/")
    click.echo("  try these communities / 试试这些小区:")
    for c in info["communities"]:
        click.echo(f"    {c['name']} ({c['grade_zh']}): search '{c['initials']}' or open {url}/community/{c['id']}")
    click.echo(f"  itinerary card / 行程卡: {url}/card/  (synthetic test numbers; codes appear at {url}/outbox)")
    for colour, number in info["people"].items():
        click.echo(f"    {colour:7s} {number}")
    click.echo(f"  API: {url}/api/v1/openapi.json   same-trip: {url}/same-trip   methods: {url}/methods")
    if no_serve:
        return
    os.environ.update(info["env"])
    os.environ["RISKCARD_GUNICORN_BIND"] = f"127.0.0.1:{port}"
    os.environ.setdefault("RISKCARD_GUNICORN_WORKERS", "2")
    click.echo("serving; Ctrl-C stops / 按 Ctrl-C 停止", err=True)
    # this process becomes the server (exec keeps its id): the timer runs while that id is its parent
    subprocess.Popen([sys.executable, "-c", "from miniapp.cli import cli; cli()", "demo", "--dir", demo_dir,
                      "--subscribers", str(subscribers), "--crowd-timer-for", str(os.getpid())])
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf", "miniapp.wsgi:app"])
