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
from typing import Any, Iterable

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
    "opt_in_chat": {
        "zh": "订阅和退订只适用于短信,网页聊天无需订阅。",
        "en": "Subscribing (START) and stopping (STOP) are for SMS; the web chat needs neither.",
    },
    "itinerary_no_records": {
        "zh": "近14天({start}至{end})本号码没有位置记录,无法证明行程。这不是绿色行程卡。",
        "en": "No location records for this number for {start} to {end}: no itinerary can be shown. This is not a "
        "green card.",
    },
    "itinerary_none": {
        "zh": "近14天({start}至{end})未查到您在任何城市停留4小时以上的记录。",
        "en": "No stay of 4 hours or more in any city found for {start} to {end}.",
    },
    "itinerary_chat_verify": {
        "zh": "行程只给本人查看:请用手机发短信 行程 到本号码,或打开 {link} 验证号码后查看。",
        "en": "Itineraries go only to their owner: text TRIP from your phone to this number, or "
        "verify your number at {link}.",
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


def help_text(lang: str, channel: str) -> str:
    """The help menu for ``channel`` (SMS never names Twilio's reserved words as commands).

    Examples
    --------
    >>> "MENU" in help_text("en", "sms") and "HELP" not in help_text("en", "sms")
    True
    """
    return message("help_sms" if channel == "sms" else "help_chat", lang)


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
        value = dt.datetime.fromtimestamp(value, dt.timezone(dt.timedelta(hours=8)))
    if hasattr(value, "strftime"):
        return value.strftime("%m-%d")
    s = str(value or "")
    return s[5:10] if len(s) >= 10 and s[4] == "-" else s


def _city_list(cities: list[dict], lang: str, n: int) -> str:
    sep = "、" if lang == "zh" else ", "
    names = []
    for c in cities[:n]:
        name = (c.get("name_en") or c.get("name")) if lang == "en" else (c.get("name") or c.get("name_en"))
        names.append(f"{name}{'*' if c.get('starred') else ''}")
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
    >>> itinerary_text({**it, "cities": [], "colour": "no_records"}, "en", "sms", "https://r.cn/c/x")[:48]
    'No location records for this number for 01-20 to'
    """
    start, end = short_date(itinerary.get("window_start")), short_date(itinerary.get("window_end"))
    cities = list(itinerary.get("cities") or [])
    lang = "en" if lang == "en" else "zh"
    possible = POSSIBLE_COMPANION[lang] if itinerary.get("possible_companion") and not itinerary.get("companion") else ""
    if itinerary.get("colour") == NO_RECORDS:
        return fit(message("itinerary_no_records", lang, start=start, end=end) + f" {link}", channel, link)
    if not cities:
        head = message("itinerary_none", lang, start=start, end=end)
        return fit(head + (f" {possible}" if possible else "") + f" {link}", channel, link)
    colour = COLOUR_NAMES.get(str(itinerary.get("colour")), {"zh": "", "en": ""})[lang if lang == "en" else "zh"]
    who = f"{masked} " if masked else ""
    text = ""
    for n in range(len(cities), 0, -1):
        listed = _city_list(cities, lang, n)
        if lang == "en":
            text = (f"{who}Last 14 days ({start} to {end}): {listed}. * = city with a medium/high-risk "
                    f"area. Colour: {colour}.{' ' + possible if possible else ''} Card {link}")
        else:
            text = f"{who}近14天({start}至{end})到访:{listed}。*为有中高风险地区的城市。{colour}。{possible}行程卡 {link}"
        if channel != "sms" or sms_segments(text) <= MAX_SMS_SEGMENTS:
            return fit(text, channel, link)
    return fit(text, channel, link)


def _main_reason(reasons: Iterable[dict], lang: str) -> str:
    ranked = sorted((r for r in reasons or [] if isinstance(r, dict)), key=lambda r: -float(r.get("contribution") or 0))
    if not ranked:
        return ""
    r = ranked[0]
    return str((r.get("text_en") or r.get("text_zh")) if lang == "en" else (r.get("text_zh") or r.get("text_en")) or "")


def grade_en(grade: str) -> str:
    """English name of a grade level (``medium_high`` -> ``medium-high``).

    Examples
    --------
    >>> grade_en("medium_high")
    'medium-high'
    """
    return str(grade or "").replace("_", "-")


def risk_text(community: dict, lang: str, channel: str, link: str) -> str:
    """A community's grade, trend and main reason, with a link to its page.

    Examples
    --------
    >>> c = {"name": "新华小区", "district": "江岸区", "grade": "medium_high", "grade_zh": "中高",
    ...      "trend": "up", "reasons": [{"text_zh": "近7天新增3例", "text_en": "3 new cases in 7 days",
    ...      "contribution": 0.6}], "city_starred": True}
    >>> risk_text(c, "zh", "sms", "https://r.cn/q/1")
    '新华小区(江岸区):中高风险,趋势上升。主因:近7天新增3例。详情 https://r.cn/q/1'
    """
    name = community.get("name") or ""
    district = community.get("district") or ""
    trend = TRENDS.get(str(community.get("trend")), {"zh": "未知", "en": "unknown"})
    reason = _main_reason(community.get("reasons") or [], lang)
    if lang == "en":
        where = f"{name} ({district})" if district else name
        text = f"{where}: {grade_en(community.get('grade'))} risk, trend {trend['en']}."
        text += f" Main reason: {reason}." if reason else ""
    else:
        where = f"{name}({district})" if district else name
        text = f"{where}:{community.get('grade_zh') or ''}风险,趋势{trend['zh']}。"
        text += f"主因:{reason}。" if reason else ""
    text += f" Details {link}" if lang == "en" else f"详情 {link}"
    return fit(text, channel, link)


def choices_text(matches: list[dict], lang: str, channel: str, max_choices: int = 5) -> tuple[str, int]:
    """A numbered list of matching communities; returns the text and how many were listed.

    As many as fit in two SMS segments are listed (at most ``max_choices``).

    Examples
    --------
    >>> ms = [{"name": "新华小区", "district": "江岸区"}, {"name": "新华里", "district": "江汉区"}]
    >>> choices_text(ms, "zh", "sms")
    ('找到多个,回复序号:1 新华小区(江岸区) 2 新华里(江汉区)', 2)
    >>> twins = [{"name": "百步亭家园", "city_name": c, "district": "城北区"} for c in ("深圳", "北京", "武汉")]
    >>> choices_text(twins, "zh", "sms", max_choices=2)[0]
    '找到多个,回复序号:1 百步亭家园(深圳·城北区) 2 百步亭家园(北京·城北区) 另有1个,可加城市名缩小范围'

    """
    head = "找到多个,回复序号:" if lang == "zh" else "Several match; reply with a number: "
    labels = [_choice_label(m, lang) for m in matches]
    text, shown = head, 0
    for i, label in enumerate(labels[:max_choices], start=1):
        more = len(matches) - i
        tail = "" if not more else (f" 另有{more}个,可加城市名缩小范围" if lang == "zh"
                                    else f" and {more} more: add the city to narrow it")
        candidate = text + (" " if i > 1 else "") + f"{i} {label}"
        if channel == "sms" and sms_segments(candidate + tail) > MAX_SMS_SEGMENTS:
            break
        text, shown = candidate, i
    if shown == 0:  # even one name is too long: list it cut short
        return fit_sms(head + f"1 {labels[0]}"), 1
    more = len(matches) - shown
    if more:
        text += f" 另有{more}个,可加城市名缩小范围" if lang == "zh" else f" and {more} more: add the city to narrow it"
    return text, shown


def _choice_label(m: dict, lang: str) -> str:
    """A community as a choice: its name with city and district, so that no two read the same."""
    city = (m.get("city_name_en") if lang == "en" else None) or m.get("city_name") or ""
    where = "·".join(x for x in (city, m.get("district") or "") if x)
    return f"{m.get('name', '')}" + (f"({where})" if where else "")
