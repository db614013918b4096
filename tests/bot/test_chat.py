"""The JSON chat endpoint: same brain as SMS, JSON only, size limited, same-origin."""

from __future__ import annotations

import pytest

import time

from bot.chat import VERIFIED_SESSION_KEY

SESSION = "s3ss10n-abcdefghijklmnop"


def say(client, text, session=SESSION, **headers):
    return client.post("/chat/api", json={"session": session, "text": text}, headers=headers)


def test_risk_question_and_numbered_choice(client):
    listing = say(client, "风险 xinhua")
    assert listing.status_code == 200 and "1 新华小区" in listing.json["reply"]
    picked = say(client, "1").json
    assert picked["reply"].startswith("新华小区(江岸区)") and picked["intent"] == "choice"
    # another session has its own memory
    assert "没有待选" in say(client, "1", session="other-session-0123456789").json["reply"]


def test_help_and_yes_mean_ours_in_chat(client):
    assert "TRIP" in say(client, "HELP").json["reply"]
    assert say(client, "YES").json["intent"] == "consent_yes"


def test_itinerary_needs_a_verified_number(client, app, kit):
    reply = say(client, "行程").json["reply"]
    assert "验证号码" in reply and kit.PUBLIC_URL + "/card" in reply
    with client.session_transaction() as sess:
        sess[VERIFIED_SESSION_KEY] = {"uid": kit.uid_of(kit.phone(1)), "pseudonym": kit.subject_of(kit.phone(1)),
                                      "masked": "138****8001", "until": time.time() - 1}
    assert "验证号码" in say(client, "行程").json["reply"]  # expired verification
    with client.session_transaction() as sess:
        sess[VERIFIED_SESSION_KEY] = {**sess[VERIFIED_SESSION_KEY], "until": time.time() + 600}
    assert "同意" in say(client, "行程").json["reply"]
    answer = say(client, "yes").json["reply"]
    assert "武汉*" not in answer and "Wuhan*" in answer  # answered in the language of the consent word
    assert "武汉*" in say(client, "行程").json["reply"]


def test_stop_in_chat_explains_sms_opt_out(client, state):
    reply = say(client, "退订").json["reply"]
    assert "短信" in reply


@pytest.mark.parametrize("kwargs, status", [
    ({"data": "session=x&text=y", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "{\"session\": ", "content_type": "application/json"}, 400),
    ({"json": ["not", "a", "dict"]}, 400),
    ({"json": {"session": "short", "text": "hi"}}, 400),
    ({"json": {"session": SESSION, "text": 5}}, 400),
    ({"json": {"session": SESSION, "text": "风" * 501}}, 413),
    ({"json": {"session": SESSION, "text": "x" * 5000}}, 413),
])
def test_bad_requests_get_clear_errors(client, kwargs, status):
    resp = client.post("/chat/api", **kwargs)
    assert resp.status_code == status and resp.is_json and resp.json["error"]


def test_foreign_origin_is_refused(client, kit):
    assert say(client, "帮助", Origin="https://evil.example.com").status_code == 403
    assert say(client, "帮助", Origin=kit.PUBLIC_URL).status_code == 200
    assert say(client, "帮助", Origin="http://localhost").status_code == 200


def test_rate_limit_per_address(client, monkeypatch):
    import bot.chat

    monkeypatch.setattr(bot.chat, "REQUESTS_PER_MINUTE_PER_IP", 3)
    codes = [say(client, "帮助").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_state_failure_is_a_polite_503(client, app):
    class Down:
        def hit(self, *a, **k):
            from miniapp.state import StateUnavailable

            raise StateUnavailable("redis down")

    app.extensions["riskcard"]["state"] = Down()
    app.extensions.pop("riskcard.bot", None)
    resp = say(client, "帮助")
    assert resp.status_code == 503 and "繁忙" in resp.json["error"]
