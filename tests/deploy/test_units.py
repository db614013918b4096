"""deploy/'s systemd units and timers pass ``systemd-analyze verify``; the templates render completely."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service")) + sorted((ROOT / "deploy" / "systemd").glob("*.timer")) \
    + [ROOT / "deploy" / "redis" / "riskcard-redis.service"]


def test_units_pass_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # the units name the installed paths (/opt/riskcard/venv); point them at this checkout's interpreter
    venv_bin = Path(sys.executable).parent
    for unit in UNITS:
        text = unit.read_text().replace("/opt/riskcard/venv/bin", str(venv_bin)).replace(
            "/srv/riskcard/.venv/bin", str(venv_bin))
        (tmp_path / unit.name).write_text(text)
    proc = subprocess.run([tool, "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
                          capture_output=True, text=True, timeout=60)
    # only what is said about these units (the machine's own installed units may have problems of their own)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if any(line.startswith(u.name) or str(tmp_path / u.name) in line for u in UNITS)]
    assert problems == [], proc.stdout + proc.stderr


def test_every_timer_has_its_service():
    timers = list((ROOT / "deploy" / "systemd").glob("*.timer"))
    assert len(timers) >= 4
    for timer in timers:
        assert (timer.with_suffix(".service")).exists(), timer.name
        assert re.search(r"^(OnCalendar|OnUnitActiveSec)=", timer.read_text(), re.M), timer.name


def test_templates_render_with_every_value(tmp_path):
    sys.path.insert(0, str(ROOT / "deploy"))
    import rehearse

    values = {name: "x" for name in ("NGINX_USER", "WORKER_PROCESSES", "RUN_DIR", "LOG_DIR", "MIME_TYPES", "LIMIT_EXEMPT",
                                     "LOOKUP_RATE", "WRITE_RATE", "MAX_BODY", "SNAPSHOT_KEY_CONF", "CACHE_DIR",
                                     "UPSTREAM_SERVERS", "FRONT_ADDR", "SERVER_NAME", "TLS_CERT", "TLS_KEY", "REAL_IP",
                                     "STATIC_DIR", "INTERNAL_ADDR", "APP_SUBNET", "BUILD_SNAPSHOTS")}
    text = rehearse.render(ROOT / "deploy" / "nginx" / "riskcard.conf.template", values)
    assert "${" not in text and "$snapshot_key" in text and "$remote_addr" in text
    with pytest.raises(KeyError):
        rehearse.render(ROOT / "deploy" / "nginx" / "riskcard.conf.template", {})


def test_nginx_body_limit_matches_the_app():
    from miniapp.config import SETTINGS

    rehearse_src = (ROOT / "deploy" / "rehearse.py").read_text()
    assert SETTINGS["MAX_CONTENT_LENGTH"][0] == 64 * 1024 and '"MAX_BODY": "64k"' in rehearse_src


def test_no_secret_is_committed_in_deploy():
    for path in (ROOT / "deploy").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text, path
            assert not re.search(r"requirepass [0-9a-f]{16,}", text), path
