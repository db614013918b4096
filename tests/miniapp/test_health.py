"""/healthz says the process answers (nothing else is looked at); /readyz says it can serve: the
published snapshot is readable and the state store answers, else 503 with the reason in JSON."""

from __future__ import annotations

import os
import random

from miniapp.app import create_app
from miniapp.snapshot import read_current
from tests.miniapp.redis_server import RedisServer


def _damage(path) -> None:
    """Overwrite the middle of the file in place (as a disk or a careless operator would)."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 4)
        f.write(random.Random(18).randbytes(size // 2))
        f.flush()
        os.fsync(f.fileno())


def test_ready_when_snapshot_and_state_are_sound(client):
    assert client.get("/healthz").get_json() == {"alive": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"snapshot": True, "state": True, "ready": True}


def test_alive_but_not_ready_without_a_snapshot(app_config, tmp_path):
    empty = tmp_path / "no-snapshots"
    empty.mkdir()
    client = create_app({**app_config, "SNAPSHOT_DIR": str(empty)}).test_client()
    assert client.get("/healthz").status_code == 200  # the process answers: do not restart it
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 503 and body["ready"] is False and body["snapshot"] is False
    assert body["reason"].startswith("snapshot: ") and "no snapshot is published" in body["reason"]
    assert ready.headers["Retry-After"]


def test_redis_down_is_not_ready_and_says_so(app_config, tmp_path):
    (tmp_path / "redis").mkdir()
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    try:
        client = create_app({**app_config, "STATE_URL": redis.url}).test_client()
        assert client.get("/readyz").status_code == 200
    finally:
        redis.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json() == {"snapshot": True, "state": False, "ready": False, "reason": "state store unreachable"}
    assert client.get("/healthz").get_json() == {"alive": True}
    assert client.get("/community/1").status_code == 200  # risk pages still answer


def test_a_damaged_snapshot_is_not_ready(app_config):
    client = create_app(app_config).test_client()
    assert client.get("/readyz").status_code == 200
    served = client.application.config["SNAPSHOT_DIR"]
    from pathlib import Path

    _damage(Path(served) / read_current(served)["name"])
    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 503 and body["snapshot"] is False and body["snapshot_damaged"] is True
    assert "damaged" in body["reason"] and body["state"] is True
    assert client.get("/healthz").status_code == 200
