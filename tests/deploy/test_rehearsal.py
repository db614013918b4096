"""The deployment rehearsed for real (deploy/rehearse.py --smoke): namespaces, nginx, two gunicorn hosts,
Redis; one host killed, Redis killed, a new snapshot published, under a steady load through nginx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))

import rehearse  # noqa: E402


def test_rehearsal_loses_nothing_and_answers_every_request():
    why = rehearse.can_rehearse()
    if why:
        pytest.skip(f"no rehearsal here: {why}")
    proc = subprocess.run([sys.executable, str(ROOT / "deploy" / "rehearse.py"), "--smoke", "--prefix", "rct",
                           "--subnet", "10.77.1.0/24"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["requests"] > 0 and out["ok"] == out["requests"], out["error_samples"]
    assert out["errors"] == 0, out["error_samples"]
    assert out["writes_acked"] > 0
    assert out["writes_refused_while_down"] > 0  # Redis really was down while writes were tried
    assert out["lost"] == 0, out["lost_samples"]
    assert out["backup_restore_checked"] == out["writes_acked"] and out["backup_restore_lost"] == 0
    assert out["new_snapshot_sha_both_hosts"] and out["front_key_switched"], out.get("front_key_last")
    assert out["lookups_429"] > 0 and out["body_status"] == 413
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "rct-" not in listed  # cleaned up


def test_a_killed_runs_leftovers_are_cleared_and_one_rehearsal_per_prefix_runs_at_once():
    why = rehearse.can_rehearse()
    if why:
        pytest.skip(f"no rehearsal here: {why}")
    # a veth pair created by a run killed before moving it into its namespace stays in the root namespace
    rehearse.sh("ip", "link", "add", "rcuh0", "type", "veth", "peer", "name", "rcub0")
    net = rehearse.Net("rcu", "10.77.2.0/24", {"front": ["10.77.2.2"]})
    try:
        net.close()
        assert "rcuh0" not in rehearse.sh("ip", "-br", "link").stdout
    finally:
        rehearse.sh("ip", "link", "del", "rcuh0", check=False)
    with rehearse.prefix_lock("rcu"):
        with pytest.raises(SystemExit, match="another rehearsal with prefix 'rcu'"):
            with rehearse.prefix_lock("rcu", wait_s=0.0):
                pass
    with rehearse.prefix_lock("rcu", wait_s=0.0):  # released: the next one runs
        pass
