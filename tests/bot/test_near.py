"""附近 / NEAR and 门诊 / CLINIC over a real snapshot with the place feeds, SMS and chat, both languages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.commands import parse
from bot.conversation import Conversation
from bot.replies import sms_segments
from miniapp.snapshot import open_current
from miniapp.state import open_state
from tests.miniapp.places_fixture import publish_places_fixture


@pytest.fixture
def conv(tmp_path):
    def make(with_places: bool = True) -> Conversation:
        current = open_current(publish_places_fixture(tmp_path / f"snap{int(with_places)}", with_places))
        c = Conversation(state=open_state(f"sqlite:///{tmp_path / f'state{int(with_places)}.db'}"), store=current,
                         public_url="https://riskcard.test")
        c.clock = lambda: datetime(2020, 2, 10, 4, 0, tzinfo=timezone.utc)  # noon in Wuhan
        return c

    return make


@pytest.mark.parametrize("text,kind,arg,lang", [
    ("附近 百步亭花园", "near", "百步亭花园", "zh"), ("附近百步亭花园", "near", "百步亭花园", "zh"),
    ("NEAR bbthy", "near", "bbthy", "en"), ("near", "near", "", "en"), ("门诊 百步亭", "clinic", "百步亭", "zh"),
    ("CLINIC bbthy", "clinic", "bbthy", "en"), ("发热门诊", "clinic", "", "zh")])
def test_parse(text, kind, arg, lang):
    it = parse(text, "sms")
    assert (it.kind, it.arg, it.lang) == (kind, arg, lang)


def test_near_names_the_nearest_places_with_distances_and_fits_two_segments(conv):
    out = conv().reply("sms", "s1", "附近 百步亭花园")
    assert out.text.startswith("百步亭花园附近病例场所:百步亭超市 0.2km")
    assert "惠民菜场" in out.text and "https://riskcard.test/places?community=1" in out.text
    assert sms_segments(out.text) <= 2


def test_near_in_english_on_the_chat(conv):
    out = conv().reply("chat", "c1", "NEAR bbthy")
    assert out.text.startswith("Case places near 百步亭花园: 百步亭超市 0.2km")


def test_near_without_the_feed_never_says_none_nearby(conv):
    out = conv(with_places=False).reply("chat", "c1", "附近 百步亭花园")
    assert "未包含公布的病例场所" in out.text and "没有" not in out.text


def test_clinic_lists_open_ones_and_unknown_hours_apart(conv):
    out = conv().reply("chat", "c1", "CLINIC bbthy")
    open_part, _, unknown_part = out.text.partition("Hours not published")
    assert "江岸区核酸检测点" in open_part and "协和医院发热门诊" in open_part
    assert "社区卫生服务中心" in unknown_part and "社区卫生服务中心" not in open_part
    assert "夜间门诊" not in out.text  # closed at noon


def test_near_asks_for_a_community_and_says_when_none_matches(conv):
    c = conv()
    assert c.reply("chat", "c1", "附近").text.startswith("请发 附近+小区名")
    assert "不存在" in c.reply("chat", "c1", "附近 不存在小区").text
