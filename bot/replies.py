"""Compose replies in Chinese and English, sized for SMS.

SMS segment rules (3GPP TS 23.038 / 23.040, as Twilio applies them):

* a text made only of GSM-7 characters is sent in 7-bit: 160 septets in one segment, or 153 per
  segment when it is split (the rest is the concatenation header); characters of the extension table
  (``^{}\\[~]|€`` and form feed) take two septets and are never split across segments;
* any other character (all Chinese) switches the whole message to UCS-2: 70 UTF-16 code units in one
  segment, 67 per segment when split; a character outside the BMP (emoji) takes two code units and is
  never split.

So two segments hold 306 GSM-7 characters or 134 Chinese characters. Replies are kept to at most two
segments; a longer answer is cut and ends with a link to the full page (:func:`fit_sms`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Iterable

from forecast.schema import GRADE_LEVELS, GRADE_NAMES_ZH
from miniapp.cards import COLOUR_NAMES, NO_RECORDS

MAX_SMS_SEGMENTS = 2
CHAT_MAX_CHARS = 1000
ELLIPSIS = "…"

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    """True if ``text`` can be sent in the GSM-7 alphabet.

    Examples
    --------
    >>> is_gsm7("RISK xhxq [2]"), is_gsm7("风险"), is_gsm7("café"), is_gsm7("naïve")
    (True, False, True, False)
    """
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXT for ch in text)


def _units(text: str) -> tuple[list[int], int, int]:
    """Cost of each character, and the single/multi segment capacities, for ``text``'s encoding."""
    if is_gsm7(text):
        return [2 if ch in _GSM7_EXT else 1 for ch in text], 160, 153
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text], 70, 67


def sms_segments(text: str) -> int:
    """Number of SMS segments ``text`` is sent in (0 for an empty text).

    Examples
    --------
    >>> sms_segments("a" * 160), sms_segments("a" * 161), sms_segments("a" * 306), sms_segments("a" * 307)
    (1, 2, 2, 3)
    >>> sms_segments("风" * 70), sms_segments("风" * 71), sms_segments("风" * 134), sms_segments("风" * 135)
    (1, 2, 2, 3)
    >>> sms_segments("€" * 80), sms_segments("😷" * 35), sms_segments("😷" * 36)
    (1, 1, 2)
    """
    costs, single, multi = _units(text)
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for c in costs:  # greedy fill: a two-unit character never straddles a boundary
        if used + c > multi:
            segments, used = segments + 1, 0
        used += c
    return segments


def fit_sms(text: str, link: str | None = None, max_segments: int = MAX_SMS_SEGMENTS) -> str:
    """Return ``text`` if it fits in ``max_segments``, else its longest head that fits with ``… link``.

    Examples
    --------
    >>> fit_sms("short") == "short"
    True
    >>> out = fit_sms("风险" * 100, "https://r.cn/c/1")
    >>> out.endswith("… https://r.cn/c/1"), sms_segments(out)
    (True, 2)
    """
    if sms_segments(text) <= max_segments:
        return text
    suffix = f"{ELLIPSIS} {link}" if link else ELLIPSIS
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits, by bisection (segments grow with length)
        mid = (lo + hi + 1) // 2
        if sms_segments(text[:mid].rstrip() + suffix) <= max_segments:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + suffix


def fit(text: str, channel: str, link: str | None = None) -> str:
    """Size ``text`` for ``channel``: two SMS segments, or ``CHAT_MAX_CHARS`` in the chat.

    Examples
    --------
    >>> fit("x" * 2000, "chat").endswith(ELLIPSIS)
    True
    """
    if channel == "sms":
        return fit_sms(text, link)
    return text if len(text) <= CHAT_MAX_CHARS else text[: CHAT_MAX_CHARS - 1] + ELLIPSIS


# ---- fixed texts -----------------------------------------------------------------------------------
MESSAGES: dict[str, dict[str, str]] = {
    "help_sms": {
        "zh": "防疫助手:发 行程 查本人近14天行程;发 风险+小区名(汉字、拼音或首字母,如 风险 xhxq)查风险等级;发 退订 停止提醒。",
        "en": "Riskcard: text TRIP for your own 14-day itinerary, RISK <community> for its risk grade "
        "(Chinese, pinyin or initials), MENU for this help, STOP to stop alerts.",
    },
    "help_chat": {
        "zh": "防疫助手:输入 行程 查本人近14天行程(需先验证号码);输入 风险+小区名(汉字、拼音或首字母)查风险等级。",
        "en": "Riskcard: type TRIP for your own 14-day itinerary (after verifying your number), "
        "RISK <community> for its risk grade (Chinese, pinyin or initials).",
    },
    "consent_sms": {
        "zh": "查询本人近14天行程需您同意:本机号码即身份证明,结果只回复本机,查询会记录备查。回复 同意 继续,回复 不同意 取消。",
        "en": "Your 14-day itinerary needs your consent: this phone number is the proof, the answer "
        "goes only to this phone and the query is logged. Reply AGREE to continue, NO to cancel.",
    },
    "consent_chat": {
        "zh": "查询本人近14天行程需您同意:结果只显示给已验证号码的本人,查询会记录备查。输入 同意 继续,不同意 取消。",
        "en": "Your 14-day itinerary needs your consent: it is shown only to the verified owner of "
        "the number and the query is logged. Type AGREE (or YES) to continue, NO to cancel.",
    },
    "consent_no": {
        "zh": "好的,未查询您的行程。需要时再发 行程。",
        "en": "OK, your itinerary was not looked up. Text TRIP when you want it.",
    },
    "itinerary_no_records": {
        "zh": "近14天({start}至{end})本号码没有位置记录,无法证明行程。这不是绿色行程卡。",
        "en": "No location records for this number for the last 14 days ({start} to {end}): no itinerary can be "
        "shown. This is not a green card.",
    },
    "itinerary_no_records_undated": {
        "zh": "近14天本号码没有位置记录,无法证明行程。这不是绿色行程卡。",
        "en": "No location records for this number for the last 14 days: no itinerary can be shown. This is not "
        "a green card.",
    },
    "itinerary_none": {
        "zh": "近14天({start}至{end})未查到您在任何城市停留4小时以上的记录。",
        "en": "No stay of 4 hours or more in any city found for the last 14 days ({start} to {end}).",
    },
    "itinerary_none_undated": {
        "zh": "近14天未查到您在任何城市停留4小时以上的记录。",
        "en": "No stay of 4 hours or more in any city found for the last 14 days.",
    },
    "itinerary_chat_verify": {
        "zh": "行程只给本人查看:请打开 {link} 验证号码后查看。",
        "en": "Itineraries go only to their owner: verify your number at {link}.",
    },
    "no_data": {
        "zh": "数据正在更新,请稍后再试。",
        "en": "Data is being updated; please try again shortly.",
    },
    "not_found": {
        "zh": "未找到“{q}”。请发 风险+小区名,可用汉字、拼音或首字母,如 风险 xhxq。",
        "en": "No community matches \"{q}\". Text RISK and the name in Chinese, pinyin or initials.",
    },
    "risk_no_name": {
        "zh": "请在 风险 后写小区名,如:风险 新华小区 或 风险 xhxq。",
        "en": "Add the community's name after RISK, e.g. RISK xinhua or RISK xhxq.",
    },
    "choice_expired": {
        "zh": "没有待选的列表了,请重新发 风险+小区名。",
        "en": "There is no list to choose from now; text RISK <name> again.",
    },
    "unknown": {
        "zh": "没看懂。发 行程 查本人行程,发 风险+小区名 查风险,发 帮助 看说明。",
        "en": "Sorry, I did not understand. Text TRIP for your itinerary, RISK <name> for a "
        "community's risk, MENU for help.",
    },
    "opt_out": {
        "zh": "已退订,不再向本号码发送提醒短信。发 订阅 可恢复。",
        "en": "You are unsubscribed and will get no more alerts. Text START to resubscribe.",
    },
    "opt_out_chat": {
        "zh": "网页聊天不会主动发消息。要停止短信提醒,请用手机回复 退订。",
        "en": "The web chat never sends unasked. To stop SMS alerts, reply STOP or 退订 by SMS.",
    },
    "opt_in_chat": {
        "zh": "提醒只通过短信发送,网页聊天不能订阅:请用手机回复 订阅 给发提醒的短信号码。",
        "en": "Alerts come by SMS only; the web chat cannot subscribe you: reply START by SMS to the number "
        "that sent them.",
    },
    "opt_in": {
        "zh": "已恢复订阅提醒。发 退订 可随时取消。",
        "en": "You are subscribed to alerts again. Text STOP to unsubscribe.",
    },
    "rate_limited": {
        "zh": "查询太频繁,请稍后再试。",
        "en": "Too many requests; please try again later.",
    },
    "busy": {
        "zh": "服务暂时繁忙,请稍后再试。",
        "en": "The service is busy; please try again later.",
    },
    "bad_sender": {
        "zh": "无法识别您的号码,暂不能查询。Sorry, we could not read your number.",
        "en": "无法识别您的号码,暂不能查询。Sorry, we could not read your number.",
    },
    "alert": {
        "zh": "【防疫提醒】您近期与一名确诊病例有时空伴随(同一地点累计60分钟以上)。请尽快做核酸检测、减少外出并向社区报备。详情 {link} 回TD退订",
        "en": "Health alert: you recently shared a place with a confirmed case for 60 minutes or "
        "more. Please get tested, limit outings and tell your community office. {link} STOP to opt out",
    },
}

# The texts that name the number people text (RISKCARD_SMS_NUMBER), by the name of their variant without
# it in MESSAGES; that variant is used when the setting is empty.
WITH_NUMBER: dict[str, dict[str, str]] = {
    "help_sms": {
        "zh": "防疫助手(短信号码 {number}):发 行程 查本人近14天行程;发 风险+小区名(汉字、拼音或首字母,如 风险 xhxq)查风险等级;发 退订 停止提醒。",
        "en": "Riskcard (text {number}): text TRIP for your own 14-day itinerary, RISK <community> for its risk "
        "grade (Chinese, pinyin or initials), MENU for this help, STOP to stop alerts.",
    },
    "help_chat": {
        "zh": "防疫助手:输入 行程 查本人近14天行程(需先验证号码);输入 风险+小区名(汉字、拼音或首字母)查风险等级。"
        "也可用手机发短信到 {number}:发 行程 查本人行程(本机号码即证明)。",
        "en": "Riskcard: type TRIP for your own 14-day itinerary (after verifying your number), "
        "RISK <community> for its risk grade (Chinese, pinyin or initials). Or text TRIP to {number} from "
        "your phone: your number is the proof.",
    },
    "itinerary_chat_verify": {
        "zh": "行程只给本人查看:请用手机发短信 行程 到 {number},或打开 {link} 验证号码后查看。",
        "en": "Itineraries go only to their owner: text TRIP from your phone to {number}, or "
        "verify your number at {link}.",
    },
    "opt_out_chat": {
        "zh": "网页聊天不会主动发消息。要停止短信提醒,请用手机发 退订 到 {number}。",
        "en": "The web chat never sends unasked. To stop SMS alerts, text STOP or 退订 to {number} from your phone.",
    },
    "opt_in_chat": {
        "zh": "提醒只通过短信发送,网页聊天不能订阅:请用手机发 订阅 到 {number}。",
        "en": "Alerts come by SMS only; the web chat cannot subscribe you: text START to {number} from your phone.",
    },
}

# One short clause for a possible companion (estimated 40-60 min with a case; the card has the full
# notice). It has priority over listing every city.
POSSIBLE_COMPANION = {
    "zh": "可能曾与确诊病例同处约40-60分钟(测量有误差),请留意健康。",
    "en": "You may have shared a place with a case for about 40-60 min (approximate); watch your health.",
}

TRENDS = {
    "up": {"zh": "上升", "en": "rising"},
    "flat": {"zh": "持平", "en": "flat"},
    "down": {"zh": "下降", "en": "falling"},
}


def message(name: str, lang: str, **fields: Any) -> str:
    """A fixed text in ``lang`` (``zh`` unless ``en``), with ``fields`` filled in.

    Examples
    --------
    >>> message("not_found", "en", q="xyz")
    'No community matches "xyz". Text RISK and the name in Chinese, pinyin or initials.'
    """
    texts = MESSAGES[name]
    return texts["en" if lang == "en" else "zh"].format(**fields)


def message_with_number(name: str, lang: str, number: str | None, **fields: Any) -> str:
    """The text ``name`` naming the service's SMS number, or its variant without one when it is not set.

    Parameters
    ----------
    name : str
        A key of :data:`WITH_NUMBER` (and of :data:`MESSAGES`, the text without a number).
    lang : str
        ``zh`` or ``en``.
    number : str or None
        The number people text (``RISKCARD_SMS_NUMBER``); None or empty: the text names none.
    **fields
        The other fields of the text.

    Returns
    -------
    str

    Examples
    --------
    >>> message_with_number("opt_in_chat", "en", "10690012345").endswith("text START to 10690012345 from your phone.")
    True
    >>> "{" in message_with_number("opt_in_chat", "zh", None)
    False
    """
    number = str(number or "").strip()
    if number:
        return WITH_NUMBER[name]["en" if lang == "en" else "zh"].format(number=number, **fields)
    return message(name, lang, **fields)


def help_text(lang: str, channel: str, number: str | None = None) -> str:
    """The help menu for ``channel`` (SMS never names Twilio's reserved words as commands).

    Parameters
    ----------
    lang : str
        ``zh`` or ``en``.
    channel : str
        ``sms`` or ``chat``.
    number : str, optional
        The number people text (``RISKCARD_SMS_NUMBER``), named in the menu when set.

    Returns
    -------
    str

    Examples
    --------
    >>> "MENU" in help_text("en", "sms") and "HELP" not in help_text("en", "sms")
    True
    >>> help_text("zh", "sms", "10690012345")[:23]
    '防疫助手(短信号码 10690012345):'
    """
    return message_with_number("help_sms" if channel == "sms" else "help_chat", lang, number)


def consent_text(lang: str, channel: str) -> str:
    """The consent question asked before the first itinerary answer.

    Examples
    --------
    >>> "AGREE" in consent_text("en", "sms") and "YES" not in consent_text("en", "sms")
    True
    """
    return message("consent_sms" if channel == "sms" else "consent_chat", lang)


def short_date(value: Any) -> str:
    """``MM-DD`` of a date given as ISO text, ``date``/``datetime``, pandas Timestamp or Unix seconds.

    Examples
    --------
    >>> short_date("2020-02-01"), short_date(dt.date(2020, 2, 1)), short_date(1580515200)
    ('02-01', '02-01', '02-01')
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            return ""
        value = dt.datetime.fromtimestamp(value, dt.timezone(dt.timedelta(hours=8)))
    if hasattr(value, "strftime"):
        try:
            return value.strftime("%m-%d")
        except ValueError:  # pandas NaT
            return ""
    s = str(value or "")
    return s[5:10] if len(s) >= 10 and s[4] == "-" else s


def window_text(itinerary: dict, lang: str) -> str:
    """The 14-day window of an itinerary, with its dates when both are known, never empty brackets.

    Parameters
    ----------
    itinerary : dict
        With ``window_start`` and ``window_end`` (ISO text, dates, or missing).
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str
        ``近14天(01-20至02-02)`` / ``the last 14 days (01-20 to 02-02)``, or without the brackets.

    Examples
    --------
    >>> window_text({"window_start": "2020-01-20", "window_end": "2020-02-02"}, "zh")
    '近14天(01-20至02-02)'
    >>> window_text({"window_start": None}, "zh"), window_text({}, "en")
    ('近14天', 'the last 14 days')
    """
    start, end = short_date(itinerary.get("window_start")), short_date(itinerary.get("window_end"))
    if lang == "en":
        return f"the last 14 days ({start} to {end})" if start and end else "the last 14 days"
    return f"近14天({start}至{end})" if start and end else "近14天"


def city_name(city: dict, lang: str) -> str:
    """A city's name in ``lang``, the other language's, or its code: never ``None``.

    Parameters
    ----------
    city : dict
        ``name``, ``name_en``, ``city_code`` (any may be missing or None).
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str

    Examples
    --------
    >>> city_name({"name": "武汉", "name_en": "Wuhan"}, "en"), city_name({"name": None, "city_code": 999999}, "zh")
    ('Wuhan', '城市999999')
    >>> city_name({}, "en")
    'an unnamed city'
    """
    first, second = ("name_en", "name") if lang == "en" else ("name", "name_en")
    name = city.get(first) or city.get(second)
    if name:
        return str(name)
    code = city.get("city_code")
    if code is not None and str(code).strip():
        return f"city {code}" if lang == "en" else f"城市{code}"
    return "an unnamed city" if lang == "en" else "未知城市"


def _city_list(cities: list[dict], lang: str, n: int) -> str:
    sep = "、" if lang == "zh" else ", "
    names = [f"{city_name(c, lang)}{'*' if c.get('starred') else ''}" for c in cities[:n]]
    more = len(cities) - n
    text = sep.join(names)
    if more > 0:
        text += f"等{len(cities)}城" if lang == "zh" else f" and {more} more"
    return text


def itinerary_text(itinerary: dict, lang: str, channel: str, link: str, masked: str | None = None) -> str:
    """The itinerary answer: window, cities (``*`` = starred), colour and the card link.

    A possible companion (``itinerary["possible_companion"]``) gets one short clause
    (:data:`POSSIBLE_COMPANION`) before the link. Cities are dropped from the end (``等N城`` /
    ``and N more``) until the answer fits.

    Examples
    --------
    >>> it = {"window_start": "2020-01-20", "window_end": "2020-02-02", "colour": "yellow",
    ...       "cities": [{"name": "武汉", "name_en": "Wuhan", "starred": True},
    ...                  {"name": "北京", "name_en": "Beijing", "starred": False}]}
    >>> itinerary_text(it, "zh", "sms", "https://r.cn/c/x")
    '近14天(01-20至02-02)到访:武汉*、北京。*为有中高风险地区的城市。黄色。行程卡 https://r.cn/c/x'
    >>> itinerary_text({**it, "possible_companion": True}, "zh", "sms", "https://r.cn/c/x").split("。")[-2]
    '可能曾与确诊病例同处约40-60分钟(测量有误差),请留意健康'
    >>> itinerary_text({**it, "cities": [], "colour": "no_records"}, "en", "sms", "https://r.cn/c/x")[:73]
    'No location records for this number for the last 14 days (01-20 to 02-02)'
    >>> itinerary_text({"cities": [], "colour": "orange", "companion": True}, "zh", "sms", "https://r.cn/c/x")
    '近14天未查到您在任何城市停留4小时以上的记录。橙色。行程卡 https://r.cn/c/x'
    """
    lang = "en" if lang == "en" else "zh"
    window = window_text(itinerary, lang)
    cities = list(itinerary.get("cities") or [])
    possible = POSSIBLE_COMPANION[lang] if itinerary.get("possible_companion") and not itinerary.get("companion") else ""
    start, end = short_date(itinerary.get("window_start")), short_date(itinerary.get("window_end"))
    dated = "" if start and end else "_undated"  # never empty brackets
    if itinerary.get("colour") == NO_RECORDS:
        return fit(message("itinerary_no_records" + dated, lang, start=start, end=end) + f" {link}", channel, link)
    colour = COLOUR_NAMES.get(str(itinerary.get("colour")), {}).get(lang, "")
    if not cities:  # no city of 4 h or more, yet records (an exposure): the card's colour still counts
        head = message("itinerary_none" + dated, lang, start=start, end=end)
        if lang == "en":
            text = head + (f" Colour: {colour}." if colour else "") + (f" {possible}" if possible else "") + f" Card {link}"
        else:
            text = head + (f"{colour}。" if colour else "") + possible + f"行程卡 {link}"
        return fit(text, channel, link)
    who = f"{masked} " if masked else ""
    text = ""
    for n in range(len(cities), 0, -1):
        listed = _city_list(cities, lang, n)
        if lang == "en":
            colour_part = f" Colour: {colour}." if colour else ""
            text = (f"{who}{window[0].upper()}{window[1:]}: {listed}. * = city with a medium/high-risk "
                    f"area.{colour_part}{' ' + possible if possible else ''} Card {link}")
        else:
            colour_part = f"{colour}。" if colour else ""
            text = f"{who}{window}到访:{listed}。*为有中高风险地区的城市。{colour_part}{possible}行程卡 {link}"
        if channel != "sms" or sms_segments(text) <= MAX_SMS_SEGMENTS:
            return fit(text, channel, link)
    return fit(text, channel, link)


_SINGULAR = {"residents": "resident", "cases": "case", "people": "person", "persons": "person",
             "communities": "community", "cities": "city", "companions": "companion", "days": "day",
             "infections": "infection", "deaths": "death", "trips": "trip"}
_ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 (" + "|".join(_SINGULAR) + r")\b")
_END_PUNCT = "。.．!！;；,，、 "


def singular_counts(text: str) -> str:
    """English counts of one made singular: ``1 residents`` -> ``1 resident`` (``11``, ``0.1`` untouched).

    Parameters
    ----------
    text : str
        An English sentence (a grade's reason, as the model writes it).

    Returns
    -------
    str

    Examples
    --------
    >>> singular_counts("1 residents confirmed; 21 residents; 1 cities; 0.1 cases")
    '1 resident confirmed; 21 residents; 1 city; 0.1 cases'
    """
    return _ONE_PLURAL.sub(lambda m: "1 " + _SINGULAR[m.group(1)], text)


def _main_reason(reasons: Iterable[dict], lang: str) -> str:
    """The reason that contributes most, in ``lang``, without its closing punctuation."""
    ranked = sorted((r for r in reasons or [] if isinstance(r, dict)), key=lambda r: -float(r.get("contribution") or 0))
    if not ranked:
        return ""
    r = ranked[0]
    text = (r.get("text_en") or r.get("text_zh")) if lang == "en" else (r.get("text_zh") or r.get("text_en"))
    text = str(text or "").strip().rstrip(_END_PUNCT)
    return singular_counts(text) if lang == "en" else text


def grade_en(grade: str) -> str:
    """English name of a grade level (``medium_high`` -> ``medium-high``).

    Examples
    --------
    >>> grade_en("medium_high")
    'medium-high'
    """
    return str(grade or "").replace("_", "-")


def place_text(community: dict, lang: str) -> str:
    """Where a community is: its city and district (``武汉江岸区`` / ``Wuhan, 江岸区``), or ``""``.

    Parameters
    ----------
    community : dict
        ``city_name``, ``city_name_en``, ``district`` (any may be missing).
    lang : str
        ``zh`` or ``en``.

    Returns
    -------
    str

    Examples
    --------
    >>> place_text({"city_name": "武汉", "city_name_en": "Wuhan", "district": "江岸区"}, "en")
    'Wuhan, 江岸区'
    >>> place_text({"city_name": "武汉", "district": "江岸区"}, "zh"), place_text({"district": None}, "zh")
    ('武汉江岸区', '')
    """
    city = (community.get("city_name_en") or community.get("city_name")) if lang == "en" else community.get("city_name")
    parts = [str(x) for x in (city, community.get("district")) if x]
    return ", ".join(parts) if lang == "en" else "".join(parts)


def _named(name: str, place: str, lang: str) -> str:
    if not place:
        return name
    return f"{name} ({place})" if lang == "en" else f"{name}({place})"


def risk_text(community: dict, lang: str, channel: str, link: str) -> str:
    """A community's grade, trend and main reason, with a link to its page.

    A community without a grade is said to be not graded (not enough data), with no trend: it is never
    given a made-up grade or trend.

    Examples
    --------
    >>> c = {"name": "新华小区", "district": "江岸区", "grade": "medium_high", "grade_zh": "中高",
    ...      "trend": "up", "reasons": [{"text_zh": "近7天新增3例", "text_en": "3 new cases in 7 days",
    ...      "contribution": 0.6}], "city_starred": True}
    >>> risk_text(c, "zh", "sms", "https://r.cn/q/1")
    '新华小区(江岸区):中高风险,趋势上升。主因:近7天新增3例。详情 https://r.cn/q/1'
    >>> risk_text({"name": "新建小区", "city_name": "深圳", "grade": "unknown"}, "zh", "sms", "https://r.cn/q/9")
    '新建小区(深圳):暂无评级,数据不足,无法判断风险高低,不代表没有风险。详情 https://r.cn/q/9'
    """
    lang = "en" if lang == "en" else "zh"
    where = _named(str(community.get("name") or ""), place_text(community, lang), lang)
    if community.get("grade") not in GRADE_LEVELS:
        if lang == "en":
            text = f"{where}: not graded: too little data to tell (not a sign of no risk)."
        else:
            text = f"{where}:暂无评级,数据不足,无法判断风险高低,不代表没有风险。"
        text += f" Details {link}" if lang == "en" else f"详情 {link}"
        return fit(text, channel, link)
    trend = TRENDS.get(str(community.get("trend")), {"zh": "未知", "en": "unknown"})
    reason = _main_reason(community.get("reasons") or [], lang)
    if lang == "en":
        text = f"{where}: {grade_en(community.get('grade'))} risk, trend {trend['en']}."
        text += f" Main reason: {reason}." if reason else ""
    else:
        grade_zh = community.get("grade_zh") or GRADE_NAMES_ZH.get(str(community.get("grade")), "")
        text = f"{where}:{grade_zh}风险,趋势{trend['zh']}。"
        text += f"主因:{reason}。" if reason else ""
    text += f" Details {link}" if lang == "en" else f"详情 {link}"
    return fit(text, channel, link)


def _choice_labels(matches: list[dict], lang: str) -> list[str]:
    """Each match as a choice: name, city and district; a label two matches share gets the community's number."""
    labels = [_named(str(m.get("name") or ""), place_text(m, lang), lang) for m in matches]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    out = []
    for m, label in zip(matches, labels):
        if counts[label] > 1 and m.get("community_id") is not None:
            place = place_text(m, lang)
            ident = f"no. {m['community_id']}" if lang == "en" else f"编号{m['community_id']}"
            label = _named(str(m.get("name") or ""), f"{place}, {ident}" if place and lang == "en"
                           else f"{place},{ident}" if place else ident, lang)
        out.append(label)
    return out


def _more_text(matches: list[dict], shown: int, lang: str, query: str, capped: bool) -> str:
    """How many more there are and how to narrow the list: add the city (an example with a hidden one's)."""
    more = len(matches) - shown
    if more <= 0:
        return ""
    first_hidden = matches[shown]
    city = (first_hidden.get("city_name_en") or first_hidden.get("city_name")) if lang == "en" \
        else first_hidden.get("city_name")
    query = " ".join(str(query or "").split())[:20]
    if lang == "en":
        text = f". {more}{'+' if capped else ''} more: add the city to narrow"
        return text + (f", e.g. RISK {city} {query}" if city and query else "")
    text = f"。另有{more}个{'以上' if capped else ''},加上城市名可缩小范围"
    return text + (f",如 风险 {city} {query}" if city and query else "")


def choices_text(matches: list[dict], lang: str, channel: str, max_choices: int = 5, query: str = "",
                 capped: bool = False) -> tuple[str, int]:
    """A numbered list of matching communities; returns the text and how many were listed.

    Each choice names the community's city and district, so that no two read the same (the very same
    name, city and district get the community's number too). As many as fit in two SMS segments are
    listed (at most ``max_choices``); the rest are counted, with how to narrow the list (add the city).

    Parameters
    ----------
    matches : list of dict
        The communities found (``name``, ``city_name``, ``city_name_en``, ``district``, ``community_id``).
    lang : str
        ``zh`` or ``en``.
    channel : str
        ``sms`` or ``chat``.
    max_choices : int
        At most this many are listed.
    query : str
        What was asked for (the example of how to narrow repeats it).
    capped : bool
        ``matches`` was cut at the search limit: there may be more (``以上`` / ``+``).

    Returns
    -------
    tuple of (str, int)
        The text and the number of choices listed (1 .. ``shown`` can be replied).

    Examples
    --------
    >>> ms = [{"name": "新华小区", "district": "江岸区"}, {"name": "新华里", "district": "江汉区"}]
    >>> choices_text(ms, "zh", "sms")
    ('找到2个,回复序号:1 新华小区(江岸区) 2 新华里(江汉区)', 2)
    >>> twins = [{"name": "百步亭家园", "city_name": c, "district": "城北区"} for c in ("深圳", "北京", "武汉")]
    >>> choices_text(twins, "zh", "sms", max_choices=2, query="百步亭家园")[0]
    '找到3个,回复序号:1 百步亭家园(深圳城北区) 2 百步亭家园(北京城北区)。另有1个,加上城市名可缩小范围,如 风险 武汉 百步亭家园'
    """
    if not matches:
        return "", 0
    lang = "en" if lang == "en" else "zh"
    total = f"{len(matches)}{'+' if capped else ''}" if lang == "en" else f"{len(matches)}{'个以上' if capped else '个'}"
    head = f"找到{total},回复序号:" if lang == "zh" else f"{total} match, reply with a number: "
    labels = _choice_labels(matches, lang)
    text, shown = "", 0
    for n in range(min(max_choices, len(matches)), 0, -1):
        items = " ".join(f"{i} {label}" for i, label in enumerate(labels[:n], start=1))
        text, shown = head + items + _more_text(matches, n, lang, query, capped), n
        if channel != "sms" or sms_segments(text) <= MAX_SMS_SEGMENTS:
            return text, shown
    return fit_sms(text), shown  # even one name is too long: listed cut short


# ---- market crowding (docs/crowding.md) ------------------------------------------------------------
MARKET_MESSAGES = {
    "market_no_data": {"zh": "暂无市场人流数据,请稍后再试。", "en": "No market crowd data yet. Please try again later."},
    "market_not_found": {"zh": "未找到市场“{q}”。发 市场 查看全部市场。", "en": 'No market matches "{q}". Text MARKET for the list.'},
}


def market_message(name: str, lang: str, **fields: Any) -> str:
    """A fixed market text in ``lang``.

    Examples
    --------
    >>> market_message("market_not_found", "en", q="x")
    'No market matches "x". Text MARKET for the list.'
    """
    return MARKET_MESSAGES[name]["en" if lang == "en" else "zh"].format(**fields)


def market_text(market: dict, lang: str, channel: str, link: str) -> str:
    """How crowded one market is now (a :func:`miniapp.crowd.market_view` row), with its page's link.

    "Not enough history" and "data too old" are said as such: never a colour when it could not tell.

    Examples
    --------
    >>> m = {"name": "南门菜场", "level": "red", "level_zh": "红色 · 比平常挤", "level_en": "Red · busier than usual",
    ...      "people_zh": "约 300 人", "people_en": "about 300 people", "as_of": "2020-03-04T00:30:00+00:00"}
    >>> market_text(m, "zh", "sms", "https://r.cn/market/1")
    '南门菜场:红色 · 比平常挤,现在约 300 人(00:30 UTC)。详情 https://r.cn/market/1'
    >>> market_text({**m, "level": "stale", "level_en": "Data too old to tell"}, "en", "sms", "https://r.cn/market/1")
    '南门菜场: Data too old to tell. Details https://r.cn/market/1'
    """
    lang = "en" if lang == "en" else "zh"
    name = str(market.get("name_en") or market.get("name") or "") if lang == "en" else str(market.get("name") or "")
    level = market.get(f"level_{lang}") or ""
    at = str(market.get("as_of") or "")[11:16]
    if market.get("level") in ("green", "orange", "red"):
        if lang == "en":
            text = f"{name}: {level}, {market.get('people_en')} now ({at} UTC)."
        else:
            text = f"{name}:{level},现在{market.get('people_zh')}({at} UTC)。"
    else:
        text = f"{name}: {level}." if lang == "en" else f"{name}:{level}。"
    text += f" Details {link}" if lang == "en" else f"详情 {link}"
    return fit(text, channel, link)


def market_list_text(markets: list[dict], lang: str, channel: str, link: str) -> str:
    """Every market's level in a line (as many as fit), with the list page's link.

    Examples
    --------
    >>> ms = [{"name": "南门菜场", "level": "green"}, {"name": "江滨市场", "level": "stale"}]
    >>> market_list_text(ms, "zh", "sms", "https://r.cn/markets")
    '市场人流:南门菜场 绿,江滨市场 无法判断。详情 https://r.cn/markets'
    """
    lang = "en" if lang == "en" else "zh"
    short = {"zh": {"green": "绿", "orange": "橙", "red": "红"}, "en": {"green": "green", "orange": "orange", "red": "red"}}
    unknown = "无法判断" if lang == "zh" else "cannot tell"
    items = [f"{m.get('name_en') or m.get('name') if lang == 'en' else m.get('name')} "
             f"{short[lang].get(str(m.get('level')), unknown)}" for m in markets]
    head = "市场人流:" if lang == "zh" else "Markets: "
    tail = f"详情 {link}" if lang == "zh" else f" Details {link}"
    for n in range(len(items), 0, -1):
        text = head + ("," if lang == "zh" else ", ").join(items[:n]) + ("。" if lang == "zh" else ".") + tail
        if channel != "sms" or sms_segments(text) <= MAX_SMS_SEGMENTS:
            return text
    return fit(head + tail, channel, link)
