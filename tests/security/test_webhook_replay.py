"""Issue 16.7, webhook replay.

The attack: capture one signed Twilio request (signed with the real twilio library's validator) and
send it again. Before the fix the same request was accepted 3 of 3 times: a replayed 行程 returned
the itinerary and a fresh card link each time. And a request without AccountSid was accepted
while an account is configured.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import pytest
from twilio.request_validator import RequestValidator

from bot import sms
from miniapp.app import create_app
from tests.miniapp.snapshot_fixture import PHONES

TOKEN = "replay-test-token"
ACCOUNT = "AC" + "7" * 32
URL = "https://riskcard.test/sms/inbound"


@pytest.fixture
def twilio_app(app_config):
    return create_app({**app_config, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT})


def _signed(params: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(URL, params)}


def _texts(resp) -> list[str]:
    return [m.text or "" for m in ET.fromstring(resp.data).iter("Message")]


def test_a_captured_request_is_answered_once(twilio_app):
    client = twilio_app.test_client()
    sender = "+86" + PHONES["traveller"]
    agree = {"From": sender, "To": "+14155550100", "Body": "同意", "AccountSid": ACCOUNT,
             "MessageSid": "SM" + secrets.token_hex(16)}
    client.post("/sms/inbound", data={**agree, "Body": "行程", "MessageSid": "SM" + secrets.token_hex(16)},
                headers=_signed({**agree, "Body": "行程"}))  # (asks for consent; not the captured one)
    captured = {**agree, "Body": "行程", "MessageSid": "SM" + secrets.token_hex(16)}
    client.post("/sms/inbound", data=agree, headers=_signed(agree))
    before = sms.counts().get("replayed", 0)
    answers = [client.post("/sms/inbound", data=captured, headers=_signed(captured)) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    first, *replays = [_texts(r) for r in answers]
    assert first and "/c/" in " ".join(first)  # the first one is answered with the itinerary and a link
    assert replays == [[], []]  # the replays get nothing
    assert sms.counts()["replayed"] == before + 2


def test_a_request_without_account_sid_is_refused(twilio_app):
    params = {"From": "+86" + PHONES["green"], "To": "+14155550100", "Body": "帮助",
              "MessageSid": "SM" + secrets.token_hex(16)}
    assert twilio_app.test_client().post("/sms/inbound", data=params, headers=_signed(params)).status_code == 403


def test_a_request_without_a_message_sid_is_refused(twilio_app):
    params = {"From": "+86" + PHONES["green"], "To": "+14155550100", "Body": "帮助", "AccountSid": ACCOUNT}
    assert twilio_app.test_client().post("/sms/inbound", data=params, headers=_signed(params)).status_code == 400
