"""The itinerary card flow end to end through the app: code by SMS, consent, card, QR, verify."""

from __future__ import annotations

import re

import pytest

from tests.miniapp.snapshot_fixture import PHONES
from tests.miniapp.codes import last_code
from tests.miniapp.qr_read import qr_url


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _last_code(app) -> str:
    return last_code(app)


def _get_card(client, app, phone: str) -> str:
    token = _csrf(client.get("/card/").get_data(as_text=True))
    r = client.post("/card/code", data={"number": phone, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/verify")
    page = client.get("/card/verify").get_data(as_text=True)
    assert phone[:3] + "****" + phone[-4:] in page
    r = client.post("/card/verify", data={"code": _last_code(app), "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/consent")
    r = client.post("/card/consent", data={"agree": "yes", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/show")
    r = client.get("/card/show")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_card_flow_companion_is_orange_with_starred_city_and_verifiable_qr(client, app):
    html = _get_card(client, app, PHONES["companion"])
    assert "138****8000" in html
    assert "pill-orange" in html and "武汉" in html and "★" in html
    url = qr_url(html)
    assert url.startswith("https://riskcard.test/v/")
    verified = client.get(url.replace("https://riskcard.test", ""))
    page = verified.get_data(as_text=True)
    assert verified.status_code == 200 and 'verdict-genuine' in page and "138****8000" in page
    # the proof was recorded (for revocation) and the view audited, under the pseudonym only
    events = [e["event"] for e in app.extensions["riskcard"].state.audit_log()]
    assert "card.issued" in events and "itinerary_viewed" in events


def test_green_card(client, app):
    html = _get_card(client, app, PHONES["green"])
    assert "pill-green" in html and "★" not in html.split('id="cities"')[1].split("</ul>")[0]


def test_tampered_token_is_forged(client, app):
    url = qr_url(_get_card(client, app, PHONES["traveller"]))
    digits = url.replace("https://riskcard.test", "")[len("/v/"):]
    assert digits.isdigit()  # the QR code carries the packed token (miniapp/proofs/packed.py)
    assert "verdict-genuine" in client.get(f"/v/{digits}").get_data(as_text=True)
    changed = digits[:-30] + str((int(digits[-30]) + 1) % 10) + digits[-29:]
    assert "verdict-genuine" not in client.get(f"/v/{changed}").get_data(as_text=True)
    from miniapp.proofs import unpack_token

    head, payload, sig = unpack_token(digits, app.extensions["riskcard"].keyring).split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    r = client.get(f"/v/{head}.{flipped}.{sig}")
    assert "verdict-genuine" not in r.get_data(as_text=True)
    assert "verdict-forged" in r.get_data(as_text=True) or "verdict-malformed" in r.get_data(as_text=True)


def test_garbage_and_huge_tokens(client):
    assert "verdict-malformed" in client.get("/v/not-a-token").get_data(as_text=True)
    r = client.get("/v/" + "a" * 5000)
    assert r.status_code == 400 and "Traceback" not in r.get_data(as_text=True)


@pytest.mark.parametrize("number", ["12345", "abc", "+86 12345678901", ""])
def test_malformed_numbers_get_a_friendly_400(client, number):
    token = _csrf(client.get("/card/").get_data(as_text=True))
    r = client.post("/card/code", data={"number": number, "csrf_token": token})
    assert r.status_code == 400 and 'id="error"' in r.get_data(as_text=True)


def test_wrong_then_replayed_code(client, app):
    token = _csrf(client.get("/card/").get_data(as_text=True))
    client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token})
    code = _last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/card/verify", data={"code": wrong, "csrf_token": token}).status_code == 400
    assert client.post("/card/verify", data={"code": code, "csrf_token": token}).status_code == 302
    # the pending number is gone and the code used: replaying starts over
    assert client.post("/card/verify", data={"code": code, "csrf_token": token}).status_code == 302
    assert client.post("/card/verify", data={"code": code, "csrf_token": token}).headers["Location"].endswith("/card/")


def test_form_without_csrf_token_is_refused(client):
    r = client.post("/card/code", data={"number": PHONES["green"]})
    assert r.status_code == 400


def test_card_page_needs_a_verified_number(client):
    r = client.get("/card/show")
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/")


def test_code_requests_are_rate_limited_per_number(client):
    token = _csrf(client.get("/card/").get_data(as_text=True))
    statuses = [client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token}).status_code for _ in range(5)]
    assert statuses[:3] == [302, 302, 302] and statuses[3] == 429


def test_state_store_down_gives_a_clear_503(app, client, monkeypatch):
    from miniapp.state import StateUnavailable

    def down(*a, **k):
        raise StateUnavailable("down")

    monkeypatch.setattr(app.extensions["riskcard"].state, "ping", down)
    token = _csrf(client.get("/card/").get_data(as_text=True))
    r = client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token})
    assert r.status_code == 503 and "暂时不可用" in r.get_data(as_text=True)
    assert client.get("/community/1").status_code == 200  # risk pages do not need the state store


def test_jwks_is_published(client):
    doc = client.get("/.well-known/jwks.json").get_json()
    assert doc["keys"] and doc["keys"][0]["kty"] == "OKP" and doc["keys"][0]["crv"] == "Ed25519"


def test_session_cookie_never_carries_the_number_readably(client, app):
    import base64 as b64
    import zlib

    token = _csrf(client.get("/card/").get_data(as_text=True))
    client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token})
    cookie = client.get_cookie("session").value
    payload = cookie.lstrip(".").split(".")[0]
    raw = b64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    text = (zlib.decompress(raw) if cookie.startswith(".") else raw).decode("utf-8", "replace")
    assert '"pending"' in text
    assert PHONES["green"] not in text and PHONES["green"][-8:] not in text


def test_key_rotation_needs_no_restart(client, app, app_config):
    from miniapp.proofs import generate_key

    before = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    new_kid = generate_key(app_config["SIGNING_KEY_DIR"], not_before_s=0)
    after = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert after == before | {new_kid}


def test_possible_companion_sees_the_softer_notice_and_keeps_green(client, app):
    html = _get_card(client, app, PHONES["possible"])
    assert "pill-green" in html and "pill-orange" not in html
    notice = html.split('id="possible-companion">')[1].split("</p>")[0]
    assert "您可能曾与确诊病例在同一地点停留（约40-60分钟，测量有误差）。请留意健康状况。" in notice
    assert 'role="alert"' not in html  # the companion's alert is not shown
    english = client.get("/card/show?lang=en").get_data(as_text=True)
    assert ("You may have shared a place with a confirmed case (about 40-60 minutes; the measurement is "
            "approximate). Watch your health.") in english and "pill-orange" not in english


def test_companion_card_has_no_possible_notice(client, app):
    html = _get_card(client, app, PHONES["companion"])
    assert 'role="alert"' in html and 'id="possible-companion"' not in html
