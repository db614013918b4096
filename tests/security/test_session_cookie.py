"""Issue 16.4, the session cookie without SameSite and Secure.

The attack: read the Set-Cookie header the served app sends. Before the fix it had neither
SameSite nor Secure, even with an https public URL (``setdefault`` does nothing because Flask
defines those keys). Checked on the real server: gunicorn with the production configuration.
"""

from __future__ import annotations

import http.client

import pytest

from tests.miniapp.servers import Gunicorn, free_port
from tests.miniapp.snapshot_fixture import publish_fixture


def _set_cookie(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/card/", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.getheader("Set-Cookie") or ""
    finally:
        conn.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_session_cookie_attributes_on_the_served_app(tmp_path, scheme):
    port = free_port()
    public = f"http://127.0.0.1:{port}" if scheme == "http" else "https://riskcard.test"
    with Gunicorn(tmp_path, publish_fixture(tmp_path / "snapshots"), workers=1, port=port,
                  env={"RISKCARD_PUBLIC_URL": public}) as g:
        cookie = _set_cookie(g.port)
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert cookie.startswith("session=")
    assert attrs.get("samesite") == "SameSite=Lax" and "httponly" in attrs
    assert ("secure" in attrs) is (scheme == "https")
