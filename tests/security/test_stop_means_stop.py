"""Issue 16.11, STOP stops only alerts.

The attack (on a person's behalf): after STOP (Twilio's OptOutType, or a plain STOP / 退订) the bot
still answered 行程, RISK and MENU. After STOP a number gets the confirmation and HELP only;
START / 订阅 resumes.
"""

from __future__ import annotations

import pytest

from miniapp.app import create_app
from tests.miniapp.snapshot_fixture import PHONES
from tests.security.sms_kit import ACCOUNT, TOKEN, text


@pytest.fixture
def client(app_config):
    return create_app({**app_config, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT}).test_client()


@pytest.mark.parametrize("stop", [("STOP", {"OptOutType": "STOP"}), ("退订", {}), ("TD", {})],
                         ids=["twilio-opt-out-type", "tuiding", "td"])
def test_after_stop_only_help_and_start_are_answered(client, stop):
    sender = "+86" + PHONES["traveller"]
    body, extra = stop
    assert text(client, sender, body, **extra)[0] == 200
    for asked in ("行程", "RISK 百步亭", "MENU", "风险 bbt", "同意"):
        assert text(client, sender, asked) == (200, []), asked
    status, [help_text] = text(client, sender, "帮助")
    assert status == 200 and help_text
    start = ("START", {"OptOutType": "START"}) if extra else ("订阅", {})
    text(client, sender, start[0], **start[1])
    status, replies = text(client, sender, "行程")
    assert status == 200 and replies and replies[0]  # answered again (the consent question)
