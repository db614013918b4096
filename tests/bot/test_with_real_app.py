"""The bot inside the real app: create_app, a real published snapshot, twilio's own signatures."""

from __future__ import annotations

import secrets
import re
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from tests.miniapp.snapshot_fixture import PHONES

TOKEN = "twilio-test-auth-token-0123456789"


@pytest.fixture
def real_app(app_config):
    from miniapp.app import create_app

    return create_app({**app_config, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32})


def sms(client, body: str, sender: str):
    url = "https://riskcard.test/sms/inbound"
    params = {"From": sender, "To": "+15005550006", "Body": body, "AccountSid": "AC" + "0" * 32,
              "MessageSid": "SM" + secrets.token_hex(16)}
    sig = RequestValidator(TOKEN).compute_signature(url, params)
    r = client.post("/sms/inbound", data=params, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 200
    return " ".join(m.text or "" for m in ET.fromstring(r.data).iter("Message"))


def test_trip_by_sms_gives_cities_and_a_short_link_to_a_genuine_card(real_app):
    client = real_app.test_client()
    sender = "+86" + PHONES["companion"]
    first = sms(client, "行程", sender)
    assert "同意" in first  # consent first
    sms(client, "同意", sender)
    reply = sms(client, "行程", sender)
    assert "武汉" in reply
    link = re.search(r"https://riskcard\.test(/c/[\w-]+)", reply).group(1)
    r = client.get(link)
    assert r.status_code == 302 and "/v/" in r.headers["Location"]
    page = client.get(r.headers["Location"].replace("https://riskcard.test", "")).get_data(as_text=True)
    assert "verdict-genuine" in page and "138****8000" in page


def test_risk_by_sms_finds_community_by_initials(real_app):
    reply = sms(real_app.test_client(), "风险 bbt", "+86" + PHONES["green"])
    assert "百步亭" in reply


def test_unknown_short_link_is_404(real_app):
    assert real_app.test_client().get("/c/nope").status_code == 404


@pytest.mark.parametrize("lang, trip, agree, said", [
    ("zh", "行程", "同意", "可能曾与确诊病例同处约40-60分钟"),
    ("en", "TRIP", "AGREE", "You may have shared a place with a case for about 40-60 min"),
])
def test_trip_by_sms_tells_a_possible_companion_softly(real_app, lang, trip, agree, said):
    from bot.replies import sms_segments

    client = real_app.test_client()
    sender = "+86" + PHONES["possible"]
    sms(client, trip, sender)
    sms(client, agree, sender)
    reply = sms(client, trip, sender)
    assert said in reply and sms_segments(reply) <= 2
    assert ("北京" in reply) if lang == "zh" else ("Beijing" in reply)
    assert ("绿色" in reply) if lang == "zh" else ("Colour: Green." in reply)
    assert "橙色" not in reply and "orange" not in reply.lower()


def test_trip_by_sms_of_a_companion_has_no_possible_clause(real_app):
    client = real_app.test_client()
    sender = "+86" + PHONES["companion"]
    sms(client, "行程", sender)
    sms(client, "同意", sender)
    reply = sms(client, "行程", sender)
    assert "橙色" in reply and "40-60" not in reply
