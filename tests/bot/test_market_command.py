"""The bot's market command: 市场 <名称> / MARKET <name>, answered from the crowd store."""

from __future__ import annotations

import pytest

from bot.commands import parse
from bot.conversation import Conversation
from bot.replies import sms_segments
from miniapp.crowd import CrowdReader
from miniapp.state import open_state
from tests.miniapp.crowd.kit import make_city, refresh


@pytest.mark.parametrize("text, arg, lang", [("市场 南门", "南门", "zh"), ("菜场南门菜场", "南门菜场", "zh"),
                                             ("ｍａｒｋｅｔ south gate", "south gate", "en"), ("人流", "", "zh"),
                                             ("MARKET", "", "en")])
def test_market_questions_parse(text, arg, lang):
    assert parse(text) == parse(text, "chat") and parse(text).kind == "market"
    assert (parse(text).arg, parse(text).lang) == (arg, lang)


def test_other_commands_are_unchanged():
    assert parse("风险 南门").kind == "risk" and parse("行程").kind == "itinerary"


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("botcrowd")
    _, paths, _ = make_city(tmp)
    refresh(paths)
    return Conversation(open_state("sqlite:///:memory:"), lambda: None, "https://r.cn", crowd=CrowdReader(paths["crowd"]))


def test_one_market_is_answered_with_its_state_and_link(conv):
    # The kit's store is of 2020: far too old now, so the bot says it cannot tell rather than a colour.
    r = conv.reply("sms", "a" * 16, "市场 南门")
    assert r.intent == "market" and "南门菜场" in r.text and "数据过旧" in r.text and "https://r.cn/market/3" in r.text
    assert not any(c in r.text for c in ("绿色", "橙色", "红色"))
    en = conv.reply("sms", "b" * 16, "MARKET south gate")
    assert "South Gate Market" in en.text and "too old" in en.text


def test_the_list_fits_an_sms(conv):
    r = conv.reply("sms", "c" * 16, "市场")
    assert r.text.startswith("市场人流:") and "https://r.cn/markets" in r.text and sms_segments(r.text) <= 3


def test_unknown_market_and_no_store(conv, tmp_path):
    assert "未找到市场" in conv.reply("sms", "d" * 16, "市场 无此市场").text
    none = Conversation(open_state("sqlite:///:memory:"), lambda: None, "https://r.cn", crowd=CrowdReader(tmp_path))
    assert "暂无市场人流数据" in none.reply("sms", "e" * 16, "市场 南门").text
