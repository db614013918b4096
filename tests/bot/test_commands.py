"""The command parser, and the brain's answers to any text (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import commands as C
from bot.conversation import Conversation
from bot.replies import sms_segments


@pytest.mark.parametrize("text, kind, lang", [
    ("行程", "itinerary", "zh"),
    (" 行 程 ", "itinerary", "zh"),
    ("行程。", "itinerary", "zh"),
    ("形成", "itinerary", "zh"),          # input-method homophone
    ("xingcheng", "itinerary", "zh"),
    ("CXMYD", "itinerary", "zh"),
    ("ｃｘｍｙｄ", "itinerary", "zh"),      # full-width
    ("cxmdy", "itinerary", "zh"),         # swapped letters
    ("TRIP", "itinerary", "en"),
    ("trip!", "itinerary", "en"),
    ("Tirp", "itinerary", "en"),
    ("TRIPP", "itinerary", "en"),
    ("T R I P", "itinerary", "en"),
    ("帮助", "help", "zh"),
    ("菜单", "help", "zh"),
    ("menu", "help", "en"),
    ("？", "help", "zh"),
    ("?", "help", "en"),
    ("同意", "consent_yes", "zh"),
    ("AGREE", "consent_yes", "en"),
    ("agre", "consent_yes", "en"),
    ("不同意", "consent_no", "zh"),
    ("no", "consent_no", "en"),
    ("退订", "opt_out", "zh"),
    ("TD", "opt_out", "zh"),
    ("订阅", "opt_in", "zh"),
    ("", "empty", "zh"),
    ("   ", "empty", "zh"),
    ("今天天气", "unknown", "zh"),
])
def test_keywords(text, kind, lang):
    intent = C.parse(text)
    assert (intent.kind, intent.lang) == (kind, lang)


@pytest.mark.parametrize("text, arg, lang", [
    ("风险 新华小区", "新华小区", "zh"),
    ("风险新华小区", "新华小区", "zh"),
    ("风险：新华", "新华", "zh"),
    ("疯险 新华", "新华", "zh"),           # homophone of 风险
    ("RISK xinhua", "xinhua", "en"),
    ("risk   XHXQ", "xhxq", "en"),
    ("rsik xhxq", "xhxq", "en"),
    ("ＲＩＳＫ　新华", "新华", "en"),
    ("fengxian xhxq", "xhxq", "zh"),
])
def test_risk_queries(text, arg, lang):
    assert C.parse(text) == C.Intent("risk", arg, lang)


@pytest.mark.parametrize("text", ["1", "２", " 3 ", "第2个", "#4", "5."])
def test_choices(text):
    intent = C.parse(text)
    assert intent.kind == "choice" and intent.arg in "12345"


@pytest.mark.parametrize("word", sorted(C.TWILIO_RESERVED))
def test_twilio_reserved_words_are_never_our_commands_on_sms(word):
    for variant in (word, word.lower(), f" {word.title()} ", f"{word}."):
        kind = C.parse(variant, "sms").kind
        assert kind in ("opt_out", "opt_in", "carrier_help")
        expected = "opt_out" if word in C.TWILIO_OPT_OUT else "opt_in" if word in C.TWILIO_OPT_IN else "carrier_help"
        assert kind == expected


def test_fuzzy_matching_never_lands_on_or_comes_from_reserved_words():
    # one edit away from our keywords, but exactly a Twilio word: Twilio's meaning wins
    for word in C.TWILIO_RESERVED:
        assert C.parse(word, "sms").kind not in ("itinerary", "help", "consent_yes", "risk")
    # near-misses of reserved words are not opt-outs (Twilio matches exact words only)
    assert C.parse("STOPP", "sms").kind == "unknown"
    assert C.parse("stop sending me stuff", "sms").kind == "unknown"


def test_chat_gives_help_and_yes_their_plain_meaning():
    assert C.parse("HELP", "chat").kind == "help"
    assert C.parse("yes", "chat").kind == "consent_yes"
    assert C.parse("YES", "sms").kind == "opt_in"
    assert C.parse("STOP", "chat").kind == "opt_out"


def test_bad_channel_is_refused():
    with pytest.raises(ValueError):
        C.parse("行程", "fax")


def test_within_one_edit():
    assert C.within_one_edit("CXMYD", "CXMDY")
    assert C.within_one_edit("AGREE", "AGRE")
    assert not C.within_one_edit("AGREE", "AG")
    assert not C.within_one_edit("TRIP", "DRIP!!")


# ---- property tests ---------------------------------------------------------------------------------
_texts = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50),
    st.sampled_from(["行程", "TRIP", "风险", "RISK ", "同意", "AGREE", "YES", "2", "退订", "订阅", "STOP", "？"]).flatmap(
        lambda w: st.text(max_size=20).map(lambda t: w + t)),
)


@given(text=_texts, channel=st.sampled_from(C.CHANNELS))
@settings(max_examples=400, deadline=None)
def test_parse_never_crashes_and_is_well_formed(text, channel):
    intent = C.parse(text, channel)
    assert intent.lang in ("zh", "en")
    assert intent.kind in {"itinerary", "risk", "choice", "help", "consent_yes", "consent_no", "opt_out",
                           "opt_in", "carrier_help", "near", "clinic", "market", "empty", "unknown"}
    if intent.kind == "choice":
        assert intent.arg in "123456789" and len(intent.arg) == 1


@given(texts=st.lists(_texts, min_size=1, max_size=4), channel=st.sampled_from(C.CHANNELS),
       with_uid=st.booleans())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_gets_a_reply_and_none_crashes(texts, channel, with_uid, state, store, kit):
    """Any sequence of messages gets an answer that fits two SMS segments; nothing raises."""
    conv = Conversation(state, lambda: store, kit.PUBLIC_URL, messages_per_hour=10_000, itineraries_per_hour=10_000)
    number = kit.phone(1)
    uid = kit.uid_of(number) if with_uid or channel == "sms" else None
    subject = kit.subject_of(number) if uid is not None else "chat-abcdefghijklmnop"
    for text in texts:
        reply = conv.reply(channel, subject, text, uid=uid, masked="138****8001")
        if channel == "sms" and reply.intent in ("opt_out", "opt_in", "carrier_help") and reply.lang == "en":
            assert reply.text == ""  # Twilio answers its own keywords
        elif reply.intent == "opted_out":
            assert channel == "sms" and reply.text == ""  # after STOP: nothing but HELP and START
        else:
            assert reply.text.strip()
        if channel == "sms":
            assert sms_segments(reply.text) <= 2
