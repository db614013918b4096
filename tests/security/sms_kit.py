"""Signed Twilio webhook requests for the attack tests, signed by the real twilio library."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator

TOKEN = "security-test-token"
ACCOUNT = "AC" + "7" * 32
URL = "https://riskcard.test/sms/inbound"


def signed(params: dict) -> dict:
    """The ``X-Twilio-Signature`` header Twilio would send with ``params`` to :data:`URL`."""
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(URL, params)}


def text(client, sender: str, body: str, **extra) -> tuple[int, list[str]]:
    """Send one SMS (a fresh MessageSid, as Twilio gives each message); status and the replies."""
    params = {"From": sender, "To": "+14155550100", "Body": body, "AccountSid": ACCOUNT,
              "MessageSid": "SM" + secrets.token_hex(16), **extra}
    r = client.post("/sms/inbound", data=params, headers=signed(params))
    return r.status_code, [m.text or "" for m in ET.fromstring(r.data).iter("Message")] if r.status_code == 200 else []
