"""`riskcard demo`: generate once, build once, print what to try; the second run reuses everything."""

from __future__ import annotations

import re
import stat

from click.testing import CliRunner

from miniapp.cli import cli


def test_demo_builds_prints_examples_and_reuses_its_work(tmp_path):
    demo_dir = tmp_path / "demo"
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--no-serve", "--dir", str(demo_dir), "--subscribers", "400"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8000/" in first.output
    assert re.search(r"/community/\d+", first.output)
    assert (demo_dir / "build" / "snapshots" / "CURRENT").exists()
    secrets_file = demo_dir / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    built = sorted(p.name for p in (demo_dir / "build" / "snapshots").glob("*.db"))

    second = runner.invoke(cli, ["demo", "--no-serve", "--dir", str(demo_dir), "--subscribers", "400"])
    assert second.exit_code == 0, second.output
    assert "building" not in second.output and "generating" not in second.output
    assert sorted(p.name for p in (demo_dir / "build" / "snapshots").glob("*.db")) == built


def test_demo_app_serves_the_built_snapshot_and_its_crowd_timer_refreshes_an_old_store(tmp_path):
    import sqlite3

    from miniapp.app import create_app
    from miniapp.crowd.demo import crowd_paths
    from miniapp.demo import DemoSize, demo_settings, prepare_demo, refresh_demo_crowd

    info = prepare_demo(tmp_path / "demo", DemoSize(subscribers=400), log=lambda m: None)
    env = demo_settings(tmp_path / "demo")
    app = create_app({k.removeprefix("RISKCARD_"): v for k, v in env.items()} | {"DEMO": 1})
    client = app.test_client()
    c = info["communities"][0]
    assert client.get(f"/community/{c['id']}").status_code == 200
    assert c["name"] in client.get("/search", query_string={"q": c["initials"]}).get_data(as_text=True)
    assert client.get("/outbox").status_code == 200
    assert 'href="/market/' in client.get("/markets").get_data(as_text=True)

    # the demo's crowd timer (beside the server): a store just made is kept; one 20 minutes old is refreshed
    size = DemoSize(subscribers=400)
    assert refresh_demo_crowd(tmp_path / "demo", size, log=lambda m: None) is None
    con = sqlite3.connect(crowd_paths(tmp_path / "demo")["dir"] / "crowd.db")
    with con:
        con.execute("UPDATE meta SET value = CAST(value AS INTEGER) - 1200 WHERE key = 'now_s'")
    con.close()
    out = refresh_demo_crowd(tmp_path / "demo", size, log=lambda m: None)
    assert out is not None and out["markets"] == 6 and sum(out["levels"].values()) == 6


def test_crowd_timer_ends_at_once_when_the_server_is_not_its_parent(tmp_path):
    # the process id given is not this process's parent: the timer ends without a refresh
    import os

    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo"), "--crowd-timer-for", str(os.getpid())])
    assert result.exit_code == 0 and result.output == ""
    assert not (tmp_path / "demo").exists()

