"""Issue 16.8, sign-out does not end the session on the server.

The attack: someone copies the card session cookie (a shared computer, a proxy log, a synced
browser profile); the holder signs out; the copy is sent again. The session is a signed cookie, so
before the fix the copy still showed the itinerary card, for up to 15 minutes, in the test client
and over HTTP against gunicorn alike (both replays below got the card, 200). After the fix the card
session carries a random id recorded in the state store; sign-out deletes it and every card view
checks it, so the copy gets the start page.
"""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

from miniapp.sms_out import read_demo_outbox
from miniapp.state import StateUnavailable
from tests.miniapp.codes import last_code
from tests.miniapp.snapshot_fixture import PHONES

MASKED = "138****8000"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _sign_in(client, app, phone: str = PHONES["companion"]) -> str:
    csrf = _csrf(client.get("/card/").get_data(as_text=True))
    assert client.post("/card/code", data={"number": phone, "csrf_token": csrf}).status_code == 302
    assert client.post("/card/verify", data={"code": last_code(app), "csrf_token": csrf}).status_code == 302
    assert client.post("/card/consent", data={"agree": "yes", "csrf_token": csrf}).status_code == 302
    return csrf


def _replay(app, cookie: str):
    """A second browser that only has the copied cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def test_copied_cookie_shows_no_card_after_sign_out(app, client):
    csrf = _sign_in(client, app)
    assert MASKED in client.get("/card/show").get_data(as_text=True)
    copied = client.get_cookie("session").value
    thief = _replay(app, copied)
    assert thief.get("/card/show").status_code == 200  # before sign-out the copy works: the attack is real

    r = client.post("/card/logout", data={"csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/")

    thief = _replay(app, copied)
    for path in ("/card/show", "/card/consent"):
        r = thief.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/card/"), path
        assert MASKED not in r.get_data(as_text=True)
    # the copy carries the session's CSRF token too, yet cannot act for the holder
    r = thief.post("/card/revoke", data={"csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/")
    assert not [e for e in app.extensions["riskcard"].state.audit_log() if e["event"] == "card.revoked"]
    # the holder's own browser, with the old cookie put back, is signed out as well
    client.set_cookie("session", copied)
    assert client.get("/card/show").headers["Location"].endswith("/card/")
    assert "card.signed_out" in [e["event"] for e in app.extensions["riskcard"].state.audit_log()]


def test_sign_out_ends_only_that_session(app):
    one, two = app.test_client(), app.test_client()
    csrf_one = _sign_in(one, app)
    _sign_in(two, app)
    one.post("/card/logout", data={"csrf_token": csrf_one})
    assert one.get("/card/show").status_code == 302
    assert MASKED in two.get("/card/show").get_data(as_text=True)  # the other phone stays signed in
    # signing in again gives a new session that works
    _sign_in(one, app)
    assert one.get("/card/show").status_code == 200


def test_a_session_unknown_to_the_server_is_no_session(app, client):
    """A signed cookie made without a server record (say, before this change) shows no card."""
    _sign_in(client, app)
    with client.session_transaction() as s:
        card = dict(s["card"])
        card.pop("sid", None)
        s["card"] = card
    assert client.get("/card/show").headers["Location"].endswith("/card/")
    with client.session_transaction() as s:
        s["card"] = {**card, "sid": "made-up-session-id"}
    assert client.get("/card/show").headers["Location"].endswith("/card/")


def test_state_store_down_shows_no_card(app, client, monkeypatch):
    _sign_in(client, app)

    def down(*args, **kwargs):
        raise StateUnavailable("down")

    monkeypatch.setattr(app.extensions["riskcard"].state, "session_subject", down)
    r = client.get("/card/show")
    assert r.status_code == 503 and MASKED not in r.get_data(as_text=True)


# -- the same over HTTP against gunicorn (2 worker processes), with real cookies ---------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get_with_cookie(port: int, path: str, cookie: str) -> tuple[int, dict, str]:
    """One request carrying only ``cookie``, on a new connection (likely another worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "Connection": "close"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def test_copied_cookie_after_sign_out_under_gunicorn(tmp_path):
    from miniapp.proofs import generate_key
    from tests.miniapp.servers import Gunicorn
    from tests.miniapp.snapshot_fixture import publish_fixture

    snapshots = publish_fixture(tmp_path / "snapshots")
    generate_key(tmp_path / "keys")  # gunicorn's signing key
    outbox = tmp_path / "outbox.jsonl"
    demo = {"RISKCARD_DEMO": "1", "RISKCARD_SMS_BACKEND": "outbox", "RISKCARD_DEMO_OUTBOX": str(outbox)}
    with Gunicorn(tmp_path, snapshots, workers=2, env=demo) as g:
        base = f"http://127.0.0.1:{g.port}"
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)

        def call(path: str, form: dict | None = None) -> tuple[int, str]:
            data = urllib.parse.urlencode(form).encode() if form is not None else None
            try:
                with opener.open(urllib.request.Request(base + path, data=data), timeout=10) as resp:
                    return resp.status, resp.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        csrf = _csrf(call("/card/")[1])
        assert call("/card/code", {"number": PHONES["companion"], "csrf_token": csrf})[0] == 302
        code = re.search(r"\b(\d{6})\b", read_demo_outbox(outbox, limit=1)[0]["body"]).group(1)
        assert call("/card/verify", {"code": code, "csrf_token": csrf})[0] == 302
        assert call("/card/consent", {"agree": "yes", "csrf_token": csrf})[0] == 302
        status, html = call("/card/show")
        assert status == 200 and MASKED in html

        copied = "; ".join(f"{c.name}={c.value}" for c in jar if c.name == "session")
        assert copied.startswith("session=")
        for _ in range(4):  # the copy works from any worker before sign-out
            status, _, page = _get_with_cookie(g.port, "/card/show", copied)
            assert status == 200 and MASKED in page

        assert call("/card/logout", {"csrf_token": csrf})[0] == 302
        for _ in range(4):  # and from no worker after it
            status, headers, page = _get_with_cookie(g.port, "/card/show", copied)
            assert status == 302 and headers["Location"].endswith("/card/") and MASKED not in page
        status, page = call("/card/show")  # the holder's browser too
        assert status == 302 and MASKED not in page
