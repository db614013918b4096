"""Parse what a person texted (Chinese or English) into an :class:`Intent`.

The parser is tolerant: Unicode is folded with NFKC (full-width letters, digits and punctuation
become ASCII), case is ignored, spaces anywhere in a keyword are ignored, a one-letter typo in an
English keyword of four letters or more is forgiven, and a Chinese keyword typed with the wrong
characters of the same sound (an input-method slip such as 形成 for 行程) is recognised through its
pinyin.

Twilio handles some words itself on SMS (opt-out, opt-in and help keywords, matched on the whole
message). On SMS those words are never our commands: they map to ``opt_out``, ``opt_in`` or
``carrier_help`` and nothing else, and no fuzzy match ever lands on them. In the web chat, which
Twilio never sees, ``HELP`` is our help, ``YES`` is consent and ``START`` asks for alerts (which only
SMS sends).

A text that is no command (most often a community's name, pinyin or initials) is answered in Chinese
unless it is clearly English words (:func:`reply_language`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from pypinyin import lazy_pinyin

CHANNELS = ("sms", "chat")
MAX_TEXT_CHARS = 500

# Twilio's default keywords for long codes (Messaging docs, "Advanced Opt-Out"), matched on the whole
# message, case-insensitive. They are handled by Twilio on SMS and are never our commands there.
TWILIO_OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
TWILIO_OPT_IN = frozenset({"START", "YES", "UNSTOP"})
TWILIO_HELP = frozenset({"HELP", "INFO"})
TWILIO_RESERVED = TWILIO_OPT_OUT | TWILIO_OPT_IN | TWILIO_HELP

# Chinese carriers' convention: "回复TD退订" (TD = tui ding).
ZH_OPT_OUT = frozenset({"退订", "TD", "取消订阅", "退订短信"})
ZH_OPT_IN = frozenset({"订阅", "重新订阅"})

# keyword (after folding) -> (intent kind, language). Pinyin keys catch homophone slips.
_KEYWORDS: dict[str, tuple[str, str]] = {
    "行程": ("itinerary", "zh"),
    "行程卡": ("itinerary", "zh"),
    "查行程": ("itinerary", "zh"),
    "CXMYD": ("itinerary", "zh"),
    "TRIP": ("itinerary", "en"),
    "TRIPS": ("itinerary", "en"),
    "ITINERARY": ("itinerary", "en"),
    "帮助": ("help", "zh"),
    "菜单": ("help", "zh"),
    "MENU": ("help", "en"),
    "同意": ("consent_yes", "zh"),
    "AGREE": ("consent_yes", "en"),
    "不同意": ("consent_no", "zh"),
    "拒绝": ("consent_no", "zh"),
    "DISAGREE": ("consent_no", "en"),
    "NO": ("consent_no", "en"),
}
_PINYIN_KEYWORDS: dict[str, tuple[str, str]] = {
    "xingcheng": ("itinerary", "zh"),
    "xingchengka": ("itinerary", "zh"),
    "bangzhu": ("help", "zh"),
    "caidan": ("help", "zh"),
    "tongyi": ("consent_yes", "zh"),
    "butongyi": ("consent_no", "zh"),
}
# Prefixes that take an argument: RISK <name>, 风险 <小区>.
_RISK_PREFIXES: tuple[tuple[str, str], ...] = (
    ("风险等级", "zh"), ("风险", "zh"), ("查询", "zh"), ("查", "zh"),
    ("RISK", "en"), ("FENGXIAN", "zh"),
)
_RISK_PINYIN = ("fengxian",)
# Market crowding: 市场 <名称>, 菜场 <名称>, 人流 <名称>, MARKET <name> (alone: the list of markets).
_MARKET_PREFIXES: tuple[tuple[str, str], ...] = (("市场", "zh"), ("菜场", "zh"), ("人流", "zh"), ("MARKET", "en"),
                                                  ("MARKETS", "en"), ("SHICHANG", "zh"))
_FUZZY_EN = ("TRIP", "CXMYD", "ITINERARY", "MENU", "AGREE", "DISAGREE", "RISK")

# Short yeses that mean consent only as the answer to a pending consent question (bot/conversation.py):
# on their own they are not a command. Folded (NFKC, upper case, edge punctuation stripped).
SOFT_YES = frozenset({"好的", "好", "好啊", "好滴", "可以", "行", "嗯", "嗯嗯", "OK", "OKAY", "OK了"})
# Words that make a bare text clearly English. None is a pinyin syllable or a likely string of pinyin
# initials (``an``, ``he``, ``you``, ``me``, ``at``, ``to`` ... are left out), so pinyin and initials of a
# community (``bbt``, ``baibuting``) stay Chinese.
ENGLISH_WORDS = frozenset({
    "WHAT", "WHERE", "WHEN", "WHICH", "WHY", "HOW", "THE", "THIS", "THAT", "THESE", "THOSE", "IS", "ARE",
    "WAS", "WERE", "AM", "MY", "YOUR", "OUR", "THEIR", "IT", "ITS", "OF", "IN", "FOR", "FROM", "WITH", "AND",
    "NOT", "DOES", "DID", "HAVE", "HAS", "HELLO", "HI", "HEY", "THANKS", "THANK", "THX", "PLEASE", "SORRY",
    "OK", "OKAY", "YES", "STOP", "START", "HELP", "INFO", "RISK", "TRIP", "TRIPS", "MENU", "AGREE", "SHOW",
    "CHECK", "TELL", "WANT", "NEED", "SEND", "SENDING", "STUFF", "COMMUNITY", "CITY", "CARD", "ITINERARY",
    "GRADE", "LEVEL", "AREA", "SAFE", "TEST", "COVID", "VIRUS", "CASES", "NEAR", "GOOD", "MORNING", "TODAY",
    "NOW", "ANY", "SOME", "ABOUT", "CAN'T", "WHAT'S", "I'M", "DON'T",
})

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORDS = re.compile(r"[A-Z']+")
_SHORT_ENGLISH = frozenset({"HI", "HEY", "OK", "THX", "YES"})
_SPACES = re.compile(r"\s+")
_EDGE_PUNCT = " \t\r\n.,;:!?。,;:!?、~-_\"'`()[]{}<>《》「」【】"
_CHOICE = re.compile(r"^(?:第|NO\.?|#)?\s*([1-9])\s*(?:个|号|项)?$")


@dataclass(frozen=True)
class Intent:
    """What a message asks for.

    ``kind`` is one of ``itinerary``, ``risk`` (``arg`` = the community asked for), ``market`` (``arg`` = the
    market asked for, may be empty), ``choice``
    (``arg`` = "1".."9"), ``help``, ``consent_yes``, ``consent_no``, ``opt_out``, ``opt_in``,
    ``carrier_help`` (Twilio answers HELP/INFO itself on SMS), ``empty`` or ``unknown`` (``arg`` =
    the folded text). ``lang`` is ``zh`` or ``en``: the language to answer in.
    """

    kind: str
    arg: str = ""
    lang: str = "zh"


def fold(text: str) -> str:
    """Fold ``text`` for matching: NFKC, collapse spaces, strip edge punctuation, upper-case ASCII.

    Examples
    --------
    >>> fold("  ｒｉｓｋ　 Xinhua ！")
    'RISK XINHUA'
    >>> fold("行 程。")
    '行 程'
    """
    s = unicodedata.normalize("NFKC", text or "")
    s = "".join(ch for ch in s if unicodedata.category(ch)[0] != "C" or ch in "\t\n\r ")
    s = _SPACES.sub(" ", s).strip(_EDGE_PUNCT)
    return s.upper()[:MAX_TEXT_CHARS]


def has_cjk(text: str) -> bool:
    """True if ``text`` contains a Chinese character.

    Examples
    --------
    >>> has_cjk("风险 xinhua"), has_cjk("RISK")
    (True, False)
    """
    return bool(_CJK.search(text))


def reply_language(folded: str) -> str:
    """The language to answer a text that is no command in: by its script, then by known English words.

    Chinese characters, pinyin and pinyin initials are answered in Chinese; only a text with a word of
    :data:`ENGLISH_WORDS` is answered in English: among other words, or alone when it has four letters
    or more or is one of ``HI``, ``HEY``, ``OK``, ``THX``, ``YES``.

    Parameters
    ----------
    folded : str
        The text as :func:`fold` returns it.

    Returns
    -------
    str
        ``zh`` or ``en``.

    Examples
    --------
    >>> reply_language("BBT"), reply_language("BAIBUTING"), reply_language("HELLO"), reply_language("WHAT IS BBT")
    ('zh', 'zh', 'en', 'en')
    """
    if has_cjk(folded):
        return "zh"
    words = _WORDS.findall(folded)
    known = [w for w in words if w in ENGLISH_WORDS]
    if not known:
        return "zh"
    if len(words) >= 2 or len(known[0]) >= 4 or known[0] in _SHORT_ENGLISH:
        return "en"
    return "zh"  # one short word alone (THE, FOR ...) may as well be pinyin initials


def is_soft_yes(text: str) -> bool:
    """True if ``text`` is a short yes (:data:`SOFT_YES`: 好的, 可以, 行, OK, 嗯 ...).

    It is consent only as the answer to a pending consent question; the brain decides that.

    Parameters
    ----------
    text : str
        The message as received.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_soft_yes("好的。"), is_soft_yes(" ok! "), is_soft_yes("好的行程"), is_soft_yes("")
    (True, True, False, False)
    """
    return fold(text if isinstance(text, str) else "").replace(" ", "") in SOFT_YES


def within_one_edit(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` differ by at most one insertion, deletion, substitution or swap.

    Examples
    --------
    >>> within_one_edit("TRIP", "TRPI"), within_one_edit("TRIP", "TRP"), within_one_edit("TRIP", "TAPE")
    (True, True, False)
    """
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def _pinyin_key(text: str) -> str:
    return "".join(lazy_pinyin(text)).replace(" ", "").lower()


def _keyword(compact: str) -> tuple[str, str] | None:
    """Exact, then pinyin (homophones and typed pinyin), then one-edit English match."""
    if compact in _KEYWORDS:
        return _KEYWORDS[compact]
    if len(compact) <= 12:
        py = _pinyin_key(compact) if has_cjk(compact) else compact.lower()
        if py in _PINYIN_KEYWORDS:
            return _PINYIN_KEYWORDS[py]
    if compact.isascii() and compact.isalpha() and compact not in TWILIO_RESERVED and len(compact) >= 4:
        for word in _FUZZY_EN:
            if word != "RISK" and within_one_edit(compact, word):
                return _KEYWORDS[word]
    return None


def _risk_query(folded: str) -> tuple[str, str] | None:
    """``(query, lang)`` if ``folded`` is a risk question with a community name, else None."""
    head, _, rest = folded.partition(" ")
    if rest and head.isascii() and head.isalpha() and (head == "RISK" or (len(head) >= 4 and within_one_edit(head, "RISK"))):
        return rest.strip(), "en"
    if rest and head.lower() in _RISK_PINYIN:
        return rest.strip(), "zh"
    for prefix, lang in _RISK_PREFIXES:
        if has_cjk(prefix) and folded.startswith(prefix):
            rest = folded[len(prefix):].strip(_EDGE_PUNCT)
            if rest:
                return rest, lang
    # homophone slip in the first two characters (疯险 for 风险)
    if len(folded) > 2 and has_cjk(folded[:2]) and _pinyin_key(folded[:2]) == "fengxian":
        rest = folded[2:].strip(_EDGE_PUNCT)
        if rest:
            return rest, "zh"
    return None


def _market_query(folded: str) -> tuple[str, str] | None:
    """``(name, lang)`` if ``folded`` asks how crowded a market is (name may be empty), else None."""
    compact = folded.replace(" ", "")
    for prefix, lang in _MARKET_PREFIXES:
        if compact == prefix:
            return "", lang
        head, _, rest = folded.partition(" ")
        if not has_cjk(prefix) and head == prefix and rest.strip():
            return rest.strip(), lang
        if has_cjk(prefix) and folded.startswith(prefix) and folded[len(prefix):].strip(_EDGE_PUNCT):
            return folded[len(prefix):].strip(_EDGE_PUNCT), lang
    return None


# Places near a community: 附近 <小区> / NEAR <community> (case places), 门诊 <小区> / CLINIC <community> (open clinics).
_NEAR_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("附近病例", "near", "zh"), ("附近", "near", "zh"), ("FUJIN", "near", "zh"), ("NEAR", "near", "en"),
    ("发热门诊", "clinic", "zh"), ("门诊", "clinic", "zh"), ("MENZHEN", "clinic", "zh"), ("CLINICS", "clinic", "en"),
    ("CLINIC", "clinic", "en"),
)


def near_query(folded: str) -> tuple[str, str, str] | None:
    """``(kind, community, lang)`` for 附近 / NEAR / 门诊 / CLINIC questions (community may be empty), else None.

    Examples
    --------
    >>> near_query("附近 百步亭"), near_query("NEAR BBT"), near_query("CLINIC")
    (('near', '百步亭', 'zh'), ('near', 'bbt', 'en'), ('clinic', '', 'en'))
    >>> near_query("NEARBY") is None
    True
    """
    compact = folded.replace(" ", "")
    for prefix, kind, lang in _NEAR_PREFIXES:
        if compact == prefix:
            return kind, "", lang
        head, _, rest = folded.partition(" ")
        if not has_cjk(prefix) and head == prefix and rest.strip():
            return kind, rest.strip().lower(), lang
        if has_cjk(prefix) and folded.startswith(prefix) and folded[len(prefix):].strip(_EDGE_PUNCT):
            return kind, folded[len(prefix):].strip(_EDGE_PUNCT).lower(), lang
    return None


def parse(text: str, channel: str = "sms") -> Intent:
    """Parse one message into an :class:`Intent`.

    Parameters
    ----------
    text : str
        The message body as received (any Unicode; ``None`` counts as empty).
    channel : str
        ``sms`` or ``chat``. On SMS, Twilio's reserved words are never our commands.

    Examples
    --------
    >>> parse("行程")
    Intent(kind='itinerary', arg='', lang='zh')
    >>> parse(" ｔｒｉｐ ")
    Intent(kind='itinerary', arg='', lang='en')
    >>> parse("cxmdy")
    Intent(kind='itinerary', arg='', lang='zh')
    >>> parse("形成")
    Intent(kind='itinerary', arg='', lang='zh')
    >>> parse("风险 新华小区")
    Intent(kind='risk', arg='新华小区', lang='zh')
    >>> parse("rsik xhxq")
    Intent(kind='risk', arg='xhxq', lang='en')
    >>> parse("市场 南门"), parse("market").kind
    (Intent(kind='market', arg='南门', lang='zh'), 'market')
    >>> parse("２")
    Intent(kind='choice', arg='2', lang='zh')
    >>> parse("STOP").kind, parse("退订").kind, parse("yes").kind, parse("yes", "chat").kind
    ('opt_out', 'opt_out', 'opt_in', 'consent_yes')
    >>> parse("HELP").kind, parse("help", "chat").kind, parse("START", "chat").kind
    ('carrier_help', 'help', 'opt_in')
    >>> parse("bbt"), parse("hello").lang
    (Intent(kind='unknown', arg='bbt', lang='zh'), 'en')
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}")
    text = text if isinstance(text, str) else ""
    folded = fold(text)
    if not folded:
        if "?" in unicodedata.normalize("NFKC", text):
            return Intent("help", lang="en" if "？" not in text else "zh")
        return Intent("empty")
    compact = folded.replace(" ", "")
    lang = "zh" if has_cjk(folded) else "en"

    if channel == "sms" and folded in TWILIO_RESERVED:
        kind = "opt_out" if folded in TWILIO_OPT_OUT else "opt_in" if folded in TWILIO_OPT_IN else "carrier_help"
        return Intent(kind, lang="en")
    if compact in ZH_OPT_OUT:
        return Intent("opt_out", lang="zh")
    if compact in ZH_OPT_IN:
        return Intent("opt_in", lang="zh")
    if channel == "chat":
        if folded in TWILIO_OPT_OUT:
            return Intent("opt_out", lang="en")
        if folded in ("START", "UNSTOP"):  # (YES is consent in the chat)
            return Intent("opt_in", lang="en")
        if folded == "YES":
            return Intent("consent_yes", lang="en")
        if folded in TWILIO_HELP:
            return Intent("help", lang="en")
        if folded in TWILIO_OPT_IN:  # START / UNSTOP: subscriptions are SMS-only; the brain says so
            return Intent("opt_in", lang="en")

    m = _CHOICE.match(folded)
    if m:
        return Intent("choice", m.group(1), "zh")  # digits are neutral: the brain uses the remembered language
    found = _keyword(compact)
    if found:
        return Intent(found[0], lang=found[1])
    market = _market_query(folded)
    if market:
        return Intent("market", market[0].lower(), market[1])
    near = near_query(folded)
    if near:
        return Intent(near[0], near[1], near[2])
    risk = _risk_query(folded)
    if risk:
        return Intent("risk", risk[0].lower(), risk[1])
    if compact in {"RISK", "风险", "FENGXIAN"}:
        return Intent("risk", "", "en" if compact == "RISK" else "zh")
    if lang == "en" and compact.isalpha() and " " not in folded.strip() and len(compact) <= 20:
        lang = "zh"  # one bare Latin word is pinyin or initials of a community (bbt), asked by a Chinese reader
    # A bare text (most often a community's name, pinyin or initials): Chinese unless clearly English.
    return Intent("unknown", folded.lower(), reply_language(folded))
