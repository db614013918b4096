"""Issue 17, the bot's answers: each defect as the user met it, through the real app and the signed
webhook (the real twilio library signs) or the chat endpoint."""

from __future__ import annotations

import pytest

from bot.commands import parse
from bot.replies import choices_text
from miniapp.app import create_app
from tests.miniapp.snapshot_fixture import PHONES
from tests.security.sms_kit import ACCOUNT, TOKEN, text


@pytest.fixture
def sms_client(app_config):
    return create_app({**app_config, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT}).test_client()


def test_twin_names_are_told_apart_and_the_rest_is_counted():
    twins = [{"name": "百步亭家园", "city_name": c, "district": "城北区"} for c in ("深圳", "北京", "武汉", "上海", "广州", "成都")]
    reply, shown = choices_text(twins, "zh", "sms")
    items = [reply.split(f"{i} ", 1)[1].split(" ", 1)[0] for i in range(1, shown + 1)]
    assert len(set(items)) == shown  # no two choices read the same
    assert f"另有{len(twins) - shown}个" in reply and "城市名" in reply
    en, shown_en = choices_text(twins, "en", "chat")
    assert f"and {len(twins) - shown_en} more" in en


def test_bare_initials_are_answered_in_chinese():
    assert parse("bbt").lang == "zh" and parse("baibuting").lang == "zh"
    assert parse("what is this").lang == "en"


def test_ok_after_the_consent_question_is_consent(sms_client):
    sender = "+86" + PHONES["traveller"]
    status, [question] = text(sms_client, sender, "行程")
    assert "同意" in question
    status, [answer] = text(sms_client, sender, "好的")
    assert status == 200 and "武汉*" in answer  # the itinerary, not "not understood"


def test_ok_without_a_pending_question_is_not_consent(sms_client):
    status, [answer] = text(sms_client, "+86" + PHONES["green"], "好的")
    assert "武汉" not in answer and "近14天" not in answer


def test_start_in_the_chat_is_answered(client):
    r = client.post("/chat/api", json={"session": "s" * 24, "text": "START"})
    reply = r.get_json()["reply"]
    assert r.status_code == 200 and "SMS" in reply and "START" in reply


def test_non_json_to_the_chat_is_415_through_the_real_app(client):
    for body, kind in (("text=帮助", "application/x-www-form-urlencoded"), ("帮助", "text/plain")):
        r = client.post("/chat/api", data=body, content_type=kind)
        assert r.status_code == 415 and r.get_json()["error"]["status"] == 415
