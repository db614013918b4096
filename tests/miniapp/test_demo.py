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


def test_demo_app_serves_the_built_snapshot(tmp_path):
    from miniapp.app import create_app
    from miniapp.demo import DemoSize, demo_settings, prepare_demo

    info = prepare_demo(tmp_path / "demo", DemoSize(subscribers=400), log=lambda m: None)
    env = demo_settings(tmp_path / "demo")
    app = create_app({k.removeprefix("RISKCARD_"): v for k, v in env.items()} | {"DEMO": 1})
    client = app.test_client()
    c = info["communities"][0]
    assert client.get(f"/community/{c['id']}").status_code == 200
    assert c["name"] in client.get("/search", query_string={"q": c["initials"]}).get_data(as_text=True)
    assert client.get("/outbox").status_code == 200
