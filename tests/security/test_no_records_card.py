"""Issue 16.2, a number with no records got a signed, genuine green card.

The attack: prove a number the carrier has no location records of (the code reaches it, so the
proof is real) and show its card. Before the fix: colour green, no cities, and the verify page said
"真实有效" beside a green pill: an "all clear" nobody had checked. Now the card, the signed payload,
the verify page and the bot all say "no records", never green.
"""

from __future__ import annotations

import re

from miniapp.app import create_app
from miniapp.proofs import verify_token
from tests.miniapp.codes import last_code
from tests.miniapp.qr_read import qr_url
from tests.security.sms_kit import ACCOUNT, TOKEN, text

UNKNOWN = "13600136000"  # a valid mainland mobile number the fixture snapshot has never seen


def _card(app, phone: str) -> str:
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/card/").get_data(as_text=True)).group(1)
    assert client.post("/card/code", data={"number": phone, "csrf_token": token}).status_code == 302
    assert client.post("/card/verify", data={"code": last_code(app), "csrf_token": token}).status_code == 302
    assert client.post("/card/consent", data={"agree": "yes", "csrf_token": token}).status_code == 302
    r = client.get("/card/show")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_no_records_card_is_never_green(app):
    html = _card(app, UNKNOWN)
    assert "pill-no_records" in html and "无记录" in html and "这不是绿色行程卡" in html
    assert "pill-green" not in html and "绿色</span>" not in html
    url = qr_url(html)
    token = url.rsplit("/v/", 1)[1]
    result = verify_token(token, app.extensions["riskcard"].keyring)
    assert result.status == "genuine" and result.claims["colour"] == "no_records" and result.claims["cities"] == []
    page = app.test_client().get(url.replace("https://riskcard.test", "")).get_data(as_text=True)
    assert "这不是绿色行程卡" in page and "pill-green" not in page


def test_no_records_card_in_english(app):
    client = app.test_client()
    html = _card(app, UNKNOWN)
    assert "pill-no_records" in html
    page = client.get("/v/" + qr_url(html).rsplit("/v/", 1)[1] + "?lang=en").get_data(as_text=True)
    assert "No location records" in page and "This is not a green card" in page


def test_the_bot_says_no_records_not_green(app_config):
    client = create_app({**app_config, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT}).test_client()
    sender = "+86" + UNKNOWN
    text(client, sender, "行程")
    status, [reply] = text(client, sender, "同意")
    assert status == 200 and "没有位置记录" in reply and "不是绿色行程卡" in reply and "绿色。" not in reply
    status, [reply] = text(client, sender, "TRIP")
    assert "No location records" in reply and "Colour: Green" not in reply
