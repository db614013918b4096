"""The Twilio webhooks, with requests signed by twilio's own RequestValidator and TwiML parsed."""

from __future__ import annotations

import secrets
import logging
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import sms
from bot.replies import sms_segments

INBOUND = "/sms/inbound"
STATUS = "/sms/status"


def params(kit, body: str, sender: str | None = None, **extra) -> dict:
    return {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": kit.ACCOUNT_SID, "From": sender or kit.phone(1),
            "To": "+14155550100", "Body": body, "NumMedia": "0", **extra}


def post(client, kit, body: str, sender: str | None = None, url: str | None = None, path: str = INBOUND,
         data: dict | None = None, signature: str | None = None, **extra):
    data = data if data is not None else params(kit, body, sender, **extra)
    sig = signature if signature is not None else kit.sign(url or kit.PUBLIC_URL + path, data)
    return client.post(path, data=data, headers={"X-Twilio-Signature": sig})


def messages(resp) -> list[str]:
    assert resp.status_code == 200
    assert resp.mimetype in ("application/xml", "text/xml")
    root = ET.fromstring(resp.get_data())
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def test_valid_signature_gets_twiml(client, kit):
    [text] = messages(post(client, kit, "帮助"))
    assert "行程" in text and "风险" in text and sms_segments(text) <= 2


def test_tampered_body_is_refused(client, kit):
    data = params(kit, "帮助")
    sig = kit.sign(kit.PUBLIC_URL + INBOUND, data)
    resp = post(client, kit, "", data={**data, "Body": "行程"}, signature=sig)
    assert resp.status_code == 403 and resp.get_data() == b""


def test_missing_signature_is_refused(client, kit):
    resp = client.post(INBOUND, data=params(kit, "帮助"))
    assert resp.status_code == 403 and resp.get_data() == b""


def test_wrong_token_and_wrong_url_are_refused(client, kit):
    data = params(kit, "帮助")
    assert post(client, kit, "", data=data, signature=kit.sign(kit.PUBLIC_URL + INBOUND, data, "other-token")).status_code == 403
    assert post(client, kit, "帮助", url="https://evil.example.com" + INBOUND).status_code == 403
    assert post(client, kit, "帮助", url=kit.PUBLIC_URL + STATUS).status_code == 403


def test_request_arriving_behind_a_proxy_validates_against_public_url(client, kit):
    # The test client requests http://localhost/sms/inbound (what the app sees behind a TLS proxy);
    # a signature for that internal URL is refused, the one for the public URL is accepted.
    assert post(client, kit, "帮助", url="http://localhost" + INBOUND).status_code == 403
    data = params(kit, "帮助")
    resp = client.post(INBOUND, data=data, base_url="http://10.0.0.7:8000",
                       headers={"X-Twilio-Signature": kit.sign(kit.PUBLIC_URL + INBOUND, data),
                                "X-Forwarded-Proto": "https", "X-Forwarded-Host": "riskcard.example.cn"})
    assert messages(resp)


def test_public_url_with_prefix_port_and_query(app, client, kit):
    app.config["PUBLIC_URL"] = "https://gw.example.cn:8443/riskcard/"
    data = params(kit, "帮助")
    url = "https://gw.example.cn:8443/riskcard" + INBOUND + "?v=2"
    resp = client.post(INBOUND + "?v=2", data=data, headers={"X-Twilio-Signature": kit.sign(url, data)})
    assert messages(resp)
    # twilio's validator accepts the URL with or without its port (Twilio signs either form) ...
    resp = client.post(INBOUND + "?v=2", data=data,
                       headers={"X-Twilio-Signature": kit.sign(url.replace(":8443", ""), data)})
    assert resp.status_code == 200
    # ... but the path prefix and the query string are part of what is signed
    for wrong in (url.replace("/riskcard", ""), url.replace("?v=2", "")):
        resp = client.post(INBOUND + "?v=2", data=data, headers={"X-Twilio-Signature": kit.sign(wrong, data)})
        assert resp.status_code == 403


def test_other_account_is_refused(client, kit):
    assert post(client, kit, "帮助", AccountSid="AC" + "9" * 32).status_code == 403


def test_oversized_body_is_refused(client, kit):
    resp = post(client, kit, "风" * 20_000)
    assert resp.status_code == 413


def test_bad_sender_gets_a_polite_answer_and_is_counted(client, kit):
    before = sms.counts().get("bad_sender", 0)
    [text] = messages(post(client, kit, "行程", sender="not-a-number"))
    assert "无法识别" in text and "Sorry" in text
    assert sms.counts()["bad_sender"] == before + 1


def test_itinerary_needs_consent_then_answers_with_cities_and_link(client, kit, state):
    [ask] = messages(post(client, kit, "行程"))
    assert "同意" in ask and "YES" not in ask
    [answer] = messages(post(client, kit, "同意"))
    assert "武汉*" in answer and "北京" in answer and "黄色" in answer and "138****8001" in answer
    assert answer.endswith(kit.PUBLIC_URL + "/card")
    [again] = messages(post(client, kit, "TRIP"))  # consent remembered
    assert "Wuhan*" in again and "Colour: Yellow." in again
    events = [e for e in state.audit_log() if e["event"] == "itinerary_shown"]
    assert len(events) == 2 and events[0]["subject"] == kit.subject_of(kit.phone(1))
    assert state.has_consent(kit.subject_of(kit.phone(1)), "itinerary")


def test_yes_on_sms_is_twilio_opt_in_not_consent(client, kit, state):
    messages(post(client, kit, "行程"))
    assert messages(post(client, kit, "YES")) == []  # Twilio answers its own keyword
    assert not state.has_consent(kit.subject_of(kit.phone(1)), "itinerary")


def test_long_itinerary_fits_two_segments(client, kit):
    messages(post(client, kit, "AGREE", sender=kit.phone(2)))
    [text] = messages(post(client, kit, "行程", sender=kit.phone(2)))
    assert sms_segments(text) <= 2 and "等40城" in text and "橙色" in text


def test_risk_choices_are_remembered(client, kit):
    [listing] = messages(post(client, kit, "风险 新华"))
    assert "1 新华小区" in listing and "2 新华里" in listing
    [picked] = messages(post(client, kit, "2"))
    assert picked.startswith("新华里(江汉区)") and "中高" in picked and "近7天新增3例" in picked
    [direct] = messages(post(client, kit, "risk bbthy"))
    assert direct.startswith("百步亭花园") and "rising" in direct


def test_opt_out_and_back_in(client, kit, state):
    subject = kit.subject_of(kit.phone(3))
    [ack] = messages(post(client, kit, "退订", sender=kit.phone(3)))
    assert "已退订" in ack and state.is_opted_out(subject)
    assert messages(post(client, kit, "START", sender=kit.phone(3))) == []
    assert not state.is_opted_out(subject)
    assert messages(post(client, kit, "stop", sender=kit.phone(3))) == []
    assert state.is_opted_out(subject)
    messages(post(client, kit, "行程", sender=kit.phone(3), OptOutType="START"))
    assert not state.is_opted_out(subject)


def test_help_is_left_to_twilio(client, kit):
    assert messages(post(client, kit, "HELP")) == []
    assert messages(post(client, kit, "info")) == []
    [menu] = messages(post(client, kit, "menu"))
    assert "TRIP" in menu


def test_store_failure_still_answers(app, client, kit):
    class Broken:
        def search_communities(self, q, limit=10):
            raise RuntimeError("snapshot gone")

    app.extensions["riskcard"]["store"] = lambda: Broken()
    app.extensions.pop("riskcard.bot", None)
    [text] = messages(post(client, kit, "风险 新华"))
    assert "繁忙" in text


def test_status_callback_records_delivery(client, kit, state):
    sid = "SM" + "b" * 32
    state.record_message({"sid": sid, "to": kit.subject_of(kit.phone(4)), "body": "alert", "status": "queued"})
    data = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": kit.ACCOUNT_SID, "To": kit.phone(4)}
    resp = post(client, kit, "", path=STATUS, data=data)
    assert resp.status_code == 204
    assert state.outbox()[0]["status"] == "delivered"


def test_status_21610_marks_the_recipient_opted_out(client, kit, state):
    sid = "SM" + "c" * 32
    state.record_message({"sid": sid, "to": kit.subject_of(kit.phone(5)), "body": "alert", "status": "queued"})
    data = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610", "AccountSid": kit.ACCOUNT_SID,
            "To": kit.phone(5)}
    assert post(client, kit, "", path=STATUS, data=data).status_code == 204
    assert state.outbox()[0]["error_code"] == 21610
    assert state.is_opted_out(kit.subject_of(kit.phone(5)))


@pytest.mark.parametrize("data", [
    {"MessageSid": "x", "MessageStatus": "delivered"},
    {"MessageSid": "SM" + "d" * 32, "MessageStatus": "exploded"},
])
def test_bad_status_callbacks(client, kit, data):
    assert post(client, kit, "", path=STATUS, data={**data, "AccountSid": kit.ACCOUNT_SID}).status_code == 400
    assert client.post(STATUS, data=data).status_code == 403


def test_no_raw_number_in_logs(client, kit, caplog):
    caplog.set_level(logging.DEBUG)
    for body in ("行程", "同意", "风险 新华", "退订"):
        post(client, kit, body, sender=kit.phone(6))
    post(client, kit, "x", sender="12345")
    national = kit.phone(6)[3:]
    assert all(national not in r.getMessage() for r in caplog.records)


@given(body=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200),
       n=st.integers(min_value=10, max_value=12))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_signed_text_gets_valid_twiml(client, kit, body, n):
    resp = post(client, kit, body, sender=kit.phone(n))
    texts = messages(resp)
    assert len(texts) <= 1 and all(sms_segments(t) <= 2 for t in texts)
    assert "繁忙" not in "".join(texts)
