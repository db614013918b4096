"""Issue 16.5, deep JSON crashes /chat/api.

The attack: ~1,200 nested arrays in 1.2 KB. Before the fix: 500 and a traceback in the log for every
request, before the rate limit. Any body gets a clear 400 and no traceback. Checked on the served
app (gunicorn) and through the test client.
"""

from __future__ import annotations

import http.client
import json
import logging

import pytest

from tests.miniapp.servers import Gunicorn, free_port
from tests.miniapp.snapshot_fixture import publish_fixture

BODIES = [
    b"[" * 1200 + b"]" * 1200,
    b'{"session": "' + b"a" * 20 + b'", "text": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    b'{"a":' * 600 + b"1" + b"}" * 600,
    b"\xff\xfe{}",
    b'{"session": "' + b"a" * 20 + b'", "text": "\\ud800"}',
]


@pytest.mark.parametrize("body", BODIES, ids=["arrays", "nested-text", "objects", "not-utf8", "lone-surrogate"])
def test_any_body_gets_a_clear_answer_not_a_500(client, body, caplog):
    with caplog.at_level(logging.DEBUG):
        r = client.post("/chat/api", data=body, content_type="application/json")
    assert r.status_code in (400, 200) and r.status_code != 500
    if r.status_code == 400:
        assert "session" in json.loads(r.get_data())["error"]
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_deep_json_on_the_served_app_leaves_no_traceback(tmp_path):
    port = free_port()
    with Gunicorn(tmp_path, publish_fixture(tmp_path / "snapshots"), workers=1, port=port) as g:
        statuses = []
        for _ in range(20):  # bounded: each answered before any rate limit
            conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
            try:
                conn.request("POST", "/chat/api", body=BODIES[0],
                             headers={"Content-Type": "application/json", "Connection": "close"})
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
            finally:
                conn.close()
        log_text = g.log.read_text(errors="replace")
    assert statuses == [400] * 20
    assert "Traceback" not in log_text and "RecursionError" not in log_text
