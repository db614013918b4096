"""``riskcard crowd refresh``: a thin wrapper; success prints a JSON summary, a failure exits 1 and says so."""

from __future__ import annotations

import json

from click.testing import CliRunner

from miniapp.cli import cli
from tests.miniapp.crowd.kit import make_city


def test_refresh_command_and_its_failure(tmp_path, monkeypatch):
    _, paths, _ = make_city(tmp_path, days=2)
    monkeypatch.setenv("RISKCARD_PSEUDONYM_KEY", (b"k" * 32).hex())
    args = ["crowd", "refresh", "--crowd-dir", str(paths["crowd"]), "--markets", str(paths["markets"]),
            "--pings", str(paths["pings"]), "--snapshots", str(tmp_path / "none"), "--backfill-days", "3650", "--json"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["markets"] == 4 and summary["levels"] == {"stale": 4}  # 2020 pings are far older than now
    (tmp_path / "bad.csv").write_text("market_id,name,city_code,lon,lat,cell_ids\n", encoding="utf-8")
    bad = CliRunner().invoke(cli, args[:5] + [str(tmp_path / "bad.csv")] + args[6:])
    assert bad.exit_code == 1 and "still serving the previous levels" in bad.output
