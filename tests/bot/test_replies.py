"""Segment counting (GSM-7 vs UCS-2) and reply sizes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import replies as R

LINK = "https://riskcard.example.cn/c/Ab3dE6gH"


@pytest.mark.parametrize("text, segments", [
    ("", 0),
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("a" * 459, 3),
    ("€" * 80, 1), ("€" * 81, 2),               # extension characters take two septets
    ("a" + "€" * 76, 1), ("a" * 152 + "€" + "a" * 10, 2),  # the escape pair is not split
    ("风" * 70, 1), ("风" * 71, 2), ("风" * 134, 2), ("风" * 135, 3),
    ("a" * 69 + "风", 1), ("a" * 70 + "风", 2),  # one Chinese character makes it all UCS-2
    ("😷" * 35, 1), ("😷" * 36, 2), ("😷" * 66, 2), ("😷" * 67, 3),  # 134 units, but a surrogate pair is never split
])
def test_segment_counts(text, segments):
    assert R.sms_segments(text) == segments


def test_gsm7_alphabet():
    assert R.is_gsm7("Hello @ £5 [ok] ~ ^")
    assert not R.is_gsm7("Hello 世界")
    assert not R.is_gsm7("ç")  # only the capital Ç is in GSM-7
    assert not R.is_gsm7("‘curly’")


@given(st.text(max_size=600), st.booleans())
@settings(max_examples=300, deadline=None)
def test_fit_sms_always_fits_and_keeps_a_prefix(text, with_link):
    link = LINK if with_link else None
    out = R.fit_sms(text, link)
    assert R.sms_segments(out) <= 2
    if R.sms_segments(text) <= 2:
        assert out == text
    else:
        assert out.endswith(f"… {LINK}" if link else "…")
        head = out[: -len(f"… {LINK}")] if link else out[:-1]
        assert text.startswith(head)


def test_fit_sms_uses_the_room_it_has():
    out = R.fit_sms("风" * 300, LINK)
    # 134 UCS-2 units minus "… " and the link
    assert out.count("风") == 134 - 2 - len(LINK)


@pytest.mark.parametrize("name", sorted(R.MESSAGES))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_fixed_texts_fit_two_segments(name, lang):
    text = R.message(name, lang, link=LINK, q="某某某某某某某某某某", start="01-20", end="02-02")
    assert R.sms_segments(text) <= 2


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_english_help_and_consent_stay_in_gsm7(lang):
    if lang == "en":
        assert R.is_gsm7(R.help_text("en", "sms"))
        assert R.is_gsm7(R.consent_text("en", "sms"))
    assert "YES" not in R.consent_text(lang, "sms") and "HELP" not in R.help_text(lang, "sms")


def _itinerary(n):
    names = [("武汉", "Wuhan", True), ("北京", "Beijing", False), ("乌鲁木齐", "Urumqi", False)]
    return {"window_start": "2020-01-20", "window_end": "2020-02-02", "colour": "yellow",
            "cities": [{"name": names[i % 3][0], "name_en": names[i % 3][1], "starred": names[i % 3][2]}
                       for i in range(n)]}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("n", [0, 1, 3, 10, 60])
def test_itinerary_fits_and_keeps_the_link(lang, n):
    text = R.itinerary_text(_itinerary(n), lang, "sms", LINK, masked="138****8000")
    assert R.sms_segments(text) <= 2
    assert text.endswith(LINK)
    if n >= 1:
        assert ("武汉*" in text) if lang == "zh" else ("Wuhan*" in text)
    if n == 60:
        assert ("等60城" in text) if lang == "zh" else ("more" in text)


def test_itinerary_in_chat_lists_every_city():
    text = R.itinerary_text(_itinerary(60), "zh", "chat", LINK)
    assert text.count("、") == 59


def test_risk_text_names_grade_trend_and_main_reason():
    c = {"name": "新华小区" * 20, "district": "江岸区", "grade": "high", "grade_zh": "偏高", "trend": "down",
         "reasons": [{"text_zh": "小", "text_en": "minor", "contribution": 0.1},
                     {"text_zh": "近7天新增5例", "text_en": "5 new cases", "contribution": 0.9}]}
    zh = R.risk_text({**c, "name": "新华小区"}, "zh", "sms", LINK)
    assert "偏高" in zh and "下降" in zh and "近7天新增5例" in zh and zh.endswith(LINK)
    en = R.risk_text({**c, "name": "新华小区"}, "en", "sms", LINK)
    assert "high risk" in en and "falling" in en and "5 new cases" in en
    long = R.risk_text(c, "zh", "sms", LINK)
    assert R.sms_segments(long) == 2 and long.endswith(f"… {LINK}")


def test_choices_list_only_what_fits():
    many = [{"name": f"很长很长很长很长的小区名字{i}", "district": "某某区"} for i in range(9)]
    text, shown = R.choices_text(many, "zh", "sms")
    assert R.sms_segments(text) <= 2
    assert 1 <= shown < 9 and f"{shown} 很长" in text and f"{shown + 1} 很长" not in text


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("n", [0, 1, 3, 10, 60])
def test_possible_companion_clause_fits_two_segments(lang, n):
    it = {**_itinerary(n), "possible_companion": True, "companion": False}
    text = R.itinerary_text(it, lang, "sms", LINK, masked="138****8000")
    assert R.sms_segments(text) <= 2 and text.endswith(LINK)
    assert R.POSSIBLE_COMPANION[lang] in text
    if n >= 1:
        assert ("武汉*" in text) if lang == "zh" else ("Wuhan*" in text)
    plain = R.itinerary_text(_itinerary(n), lang, "sms", LINK, masked="138****8000")
    assert "40-60" not in plain
    # a companion is told by the colour (orange), not by the softer clause
    assert "40-60" not in R.itinerary_text({**it, "companion": True}, lang, "sms", LINK)
