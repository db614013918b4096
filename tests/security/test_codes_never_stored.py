"""Issue 16.3, one-time codes in plain text in the state store.

The attack: after a code is sent, read the state store's own files (the SQLite database and its
WAL, Redis's append-only file) and look for the code. Before the fix the outbox recorded the SMS
body with the code for 30 days ("验证码 988828" in the AOF). Only a keyed hash of a code may be
stored; the message log masks it; only a demo keeps the message as sent, in a file of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

from miniapp.app import create_app
from tests.conftest import require_binary
from tests.miniapp.codes import last_code
from tests.miniapp.redis_server import RedisServer
from tests.miniapp.snapshot_fixture import PHONES


def _ask_code(app) -> None:
    client = app.test_client()
    html = client.get("/card/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/card/code", data={"number": PHONES["companion"], "csrf_token": token}).status_code == 302


def _files_bytes(*paths: Path) -> bytes:
    return b"".join(p.read_bytes() for p in paths if p.is_file())


def test_sqlite_state_files_hold_no_code(app_config, tmp_path):
    app = create_app(app_config)
    _ask_code(app)
    code = last_code(app)  # the demo outbox file has it: that is what a demo user reads
    state = app.extensions["riskcard"].state
    [message] = state.outbox()
    assert code not in message["body"] and "******" in message["body"]
    db = Path(app_config["STATE_URL"].removeprefix("sqlite:///"))
    raw = _files_bytes(db, db.with_name(db.name + "-wal"))
    assert len(raw) > 0 and code.encode() not in raw


def test_redis_append_only_file_holds_no_code(app_config, tmp_path):
    require_binary("redis-server")
    server = RedisServer(tmp_path / "redis", persistent=True)
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        app = create_app({**app_config, "STATE_URL": server.url})
        _ask_code(app)
        code = last_code(app)
        aof = b"".join(p.read_bytes() for p in (tmp_path / "redis").rglob("*") if p.is_file())
        assert b"otp" in aof and code.encode() not in aof
    finally:
        server.stop()


def test_without_demo_mode_no_file_and_no_outbox_page(app_config, tmp_path):
    app = create_app({**app_config, "DEMO": 0})
    _ask_code(app)
    assert not Path(app_config["DEMO_OUTBOX"]).exists()
    assert app.test_client().get("/outbox").status_code == 404
    [message] = app.extensions["riskcard"].state.outbox()
    assert "******" in message["body"] and not re.search(r"\d{6}", message["body"].replace(message["to"], ""))


def test_demo_outbox_file_is_private(app_config):
    app = create_app(app_config)
    _ask_code(app)
    assert Path(app_config["DEMO_OUTBOX"]).stat().st_mode & 0o777 == 0o600
    assert last_code(app) in app.test_client().get("/outbox").get_data(as_text=True)
