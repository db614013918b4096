"""The one brain behind the SMS and web-chat bots: (channel, subject, text) -> reply text.

The caller proves who is talking: on SMS the number that texted (turned into its pseudonym and
``uid``), in the chat a random session id (and, only if the web app has verified a number in that
browser session, its ``uid``). The brain reads the snapshot store (grades, itineraries) and keeps
the little it must remember in the state store: consent, opt-outs, the numbered choices offered in
the last reply, rate-limit buckets and an audit entry for every itinerary shown.

Itineraries are personal: they are answered only for a proven ``uid``, only after consent
(``同意`` / ``AGREE``; ``YES`` too in the chat, never on SMS where it is Twilio's opt-in word), and
every answer is audited.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from bot import nearby, replies as R
from bot.commands import Intent, has_cjk, is_soft_yes, parse
from miniapp.cards import card_for
from miniapp.crowd import find_markets, market_view
from miniapp.proofs import ProofError
from miniapp.snapshot.places import nearest_case_places, nearest_clinics

log = logging.getLogger(__name__)

CONSENT_SCOPE = "itinerary"
MEMORY_TTL_S = 15 * 60
# Per subject: messages per hour, and itinerary answers per hour (each one is an audited look-up).
MESSAGES_PER_HOUR = 60
ITINERARIES_PER_HOUR = 10


#: What an opted-out SMS number is still answered (CTIA and Twilio's rules): STOP again, START, and HELP
#: (Twilio answers HELP / INFO itself; 帮助 is the Chinese HELP). MENU and the rest get nothing.
ANSWERED_AFTER_STOP = frozenset({"opt_out", "opt_in", "carrier_help"})
HELP_WORDS_AFTER_STOP = frozenset({"帮助", "求助"})
#: Communities looked up per question: the store's most. A list this long is counted as "N or more".
SEARCH_LIMIT = 50
#: Signs around a city's name in a question (``深圳,百步亭家园``).
_PLACE_SEPARATORS = " ,，、·.。:："


@dataclass(frozen=True)
class Reply:
    """What to answer. ``text`` may be empty: no reply (Twilio answers its own keywords)."""

    text: str
    intent: str
    lang: str


def _default_link(public_url: str, path: str) -> str:
    return public_url.rstrip("/") + path


@dataclass
class Conversation:
    """Answer messages.

    Parameters
    ----------
    state : StateStore
        From :func:`miniapp.state.open_state`.
    store : callable
        Returns the current snapshot store (``search_communities``, ``community``, ``itinerary``), or
        None while nothing is published.
    public_url : str
        Base of the links in replies.
    card_link : callable, optional
        ``uid -> url`` of the person's signed card (the web app mints a short link); default
        ``PUBLIC_URL/card``.
    community_link : callable, optional
        ``community_id -> url``; default ``PUBLIC_URL/community/<id>``.
    sms_number : str, optional
        The number people text (``RISKCARD_SMS_NUMBER``): named in the help and in the chat's answers
        that only SMS can give. Unset: those texts name no number.

    The store may also have ``cities()`` (the real one has): a question that adds a city to a
    community's name (``风险 深圳 百步亭家园``) is then narrowed to that city.

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> class Store:
    ...     def search_communities(self, q, limit=10): return []
    >>> conv = Conversation(open_state("sqlite:///:memory:"), lambda: Store(), "https://r.cn")
    >>> conv.reply("sms", "68ba9da759ce5549", "帮助").intent
    'help'
    >>> conv.reply("sms", "68ba9da759ce5549", "风险 无此小区").text[:4]
    '未找到“'
    """

    state: Any
    store: Callable[[], Any]
    public_url: str
    card_link: Callable[[int, str | None], str] | None = None
    community_link: Callable[[int], str] | None = None
    sms_number: str | None = None
    messages_per_hour: int = MESSAGES_PER_HOUR
    itineraries_per_hour: int = ITINERARIES_PER_HOUR
    crowd: Callable[[], Any] | None = None  # the crowd store reader (miniapp.crowd.CrowdReader); None: no markets
    _handlers: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._handlers = {
            "itinerary": self._itinerary,
            "consent_yes": self._consent_yes,
            "consent_no": self._consent_no,
            "risk": self._risk,
            "market": self._market,
            "choice": self._choice,
            "help": lambda ctx, it: R.help_text(it.lang, ctx.channel, self.sms_number),
            "opt_out": self._opt_out,
            "opt_in": self._opt_in,
            "carrier_help": lambda ctx, it: "",
            "empty": lambda ctx, it: R.help_text(it.lang, ctx.channel, self.sms_number),
            "unknown": self._unknown,
            "near": self._near,
            "clinic": self._near,
        }

    # ---- entry point ---------------------------------------------------------------------------
    def reply(self, channel: str, subject: str, text: str, uid: int | None = None,
              masked: str | None = None) -> Reply:
        """Answer one message.

        Parameters
        ----------
        channel : str
            ``sms`` or ``chat``.
        subject : str
            Who is talking: the sender's pseudonym (SMS) or a keyed hash of the chat session.
        text : str
            The message as received.
        uid : int, optional
            The proven subscriber (SMS sender; chat only after the web app verified a number).
        masked : str, optional
            The masked number (``138****5678``) shown in the itinerary answer.
        """
        intent = parse(text, channel)
        ctx = _Ctx(channel, subject, uid, masked, self._memory_key(channel, subject))
        memory = self.state.recall(ctx.memory_key) or {}
        if intent.kind == "choice" and memory.get("lang") in ("zh", "en"):
            intent = Intent(intent.kind, intent.arg, memory["lang"])
        ctx.memory = memory
        if intent.kind == "unknown" and memory.get("pending") == "itinerary" and is_soft_yes(text):
            # 好的 / 可以 / OK ... as the answer to the consent question just asked (and only then)
            lang = "zh" if has_cjk(text) else memory.get("lang") if memory.get("lang") in ("zh", "en") else intent.lang
            intent = Intent("consent_yes", lang=lang)
        after_stop_ok = intent.kind in ANSWERED_AFTER_STOP or (
            intent.kind == "help" and unicodedata.normalize("NFKC", text).strip() in HELP_WORDS_AFTER_STOP)
        if channel == "sms" and not after_stop_ok and self.state.is_opted_out(subject, "sms"):
            # after STOP / 退订 a number gets the confirmation and HELP only, until START / 订阅
            return Reply("", "opted_out", intent.lang)
        if intent.kind not in ("opt_out", "opt_in", "carrier_help") and not self.state.hit(
            f"bot:{channel}:{subject}", self.messages_per_hour, 3600
        ):
            return Reply(R.message("rate_limited", intent.lang), "rate_limited", intent.lang)
        text_out = self._handlers[intent.kind](ctx, intent)
        if memory.get("pending") and intent.kind != "itinerary":
            self._forget_pending(ctx)  # answered, or asked something else: a later 好的 is not consent
        return Reply(text_out, intent.kind, intent.lang)

    def _forget_pending(self, ctx: "_Ctx") -> None:
        current = self.state.recall(ctx.memory_key) or {}
        if current.pop("pending", None) is not None:
            self.state.remember(ctx.memory_key, current, MEMORY_TTL_S)

    @staticmethod
    def _memory_key(channel: str, subject: str) -> str:
        return f"conv:{channel}:{subject}"

    def _remember(self, ctx: "_Ctx", **value: Any) -> None:
        self.state.remember(ctx.memory_key, value, MEMORY_TTL_S)

    def _link(self, kind: str, ident: int, masked: str | None = None) -> str:
        if kind == "card":
            if self.card_link and ident:
                return self.card_link(ident, masked)
            return _default_link(self.public_url, "/card")
        return self.community_link(ident) if self.community_link else _default_link(self.public_url, f"/community/{ident}")

    def _snapshot(self) -> Any:
        return self.store() if callable(self.store) else self.store

    def _verify_text(self, ctx: "_Ctx", lang: str) -> str:
        """How to see an itinerary without a proven number: text the service, or verify on the web."""
        return R.fit(R.message_with_number("itinerary_chat_verify", lang, self.sms_number,
                                           link=self._link("card", 0)), ctx.channel)

    def _card_link(self, ctx: "_Ctx") -> str:
        """The signed card's link; the card page when the card cannot be signed (the answer still goes out)."""
        try:
            return self._link("card", int(ctx.uid), ctx.masked)
        except (ProofError, KeyError, TypeError, ValueError) as exc:
            log.warning("card link not made: %s", type(exc).__name__)
            return _default_link(self.public_url, "/card")

    # ---- itinerary -----------------------------------------------------------------------------
    def _itinerary(self, ctx: "_Ctx", intent: Intent) -> str:
        if ctx.uid is None:
            return self._verify_text(ctx, intent.lang)
        if not self.state.has_consent(ctx.subject, CONSENT_SCOPE):
            self._remember(ctx, pending="itinerary", lang=intent.lang)
            return R.consent_text(intent.lang, ctx.channel)
        return self._answer_itinerary(ctx, intent.lang)

    def _answer_itinerary(self, ctx: "_Ctx", lang: str) -> str:
        if not self.state.hit(f"bot:itinerary:{ctx.subject}", self.itineraries_per_hour, 3600):
            return R.message("rate_limited", lang)
        store = self._snapshot()
        if store is None:
            return R.message("no_data", lang)
        card = card_for(store, int(ctx.uid))
        if not (card.get("window_start") and card.get("window_end")):
            # records without their window: the snapshot's window is theirs (never empty dates)
            meta = store.meta() or {}
            card = {**card, "window_start": card.get("window_start") or meta.get("window_start"),
                    "window_end": card.get("window_end") or meta.get("window_end")}
        self.state.audit("itinerary_shown", subject=ctx.subject, channel=ctx.channel, found=card["has_records"])
        return R.itinerary_text(card, lang, ctx.channel, self._card_link(ctx), ctx.masked)

    def _consent_yes(self, ctx: "_Ctx", intent: Intent) -> str:
        if ctx.uid is None:
            return self._verify_text(ctx, intent.lang)
        self.state.set_consent(ctx.subject, CONSENT_SCOPE, True)
        self.state.audit("consent_given", subject=ctx.subject, scope=CONSENT_SCOPE, channel=ctx.channel)
        if ctx.memory.get("pending") == "itinerary":
            self._remember(ctx, lang=intent.lang)
        return self._answer_itinerary(ctx, intent.lang)

    def _consent_no(self, ctx: "_Ctx", intent: Intent) -> str:
        if ctx.uid is not None:
            self.state.set_consent(ctx.subject, CONSENT_SCOPE, False)
            self.state.audit("consent_refused", subject=ctx.subject, scope=CONSENT_SCOPE, channel=ctx.channel)
        self._remember(ctx, lang=intent.lang)
        return R.message("consent_no", intent.lang)

    # ---- risk ----------------------------------------------------------------------------------
    def _risk(self, ctx: "_Ctx", intent: Intent) -> str:
        if not intent.arg:
            return R.message("risk_no_name", intent.lang)
        store = self._snapshot()
        if store is None:
            return R.message("no_data", intent.lang)
        matches = self._search(intent.arg, store)
        if not matches:
            return R.fit(R.message("not_found", intent.lang, q=intent.arg[:20]), ctx.channel)
        return self._matches(ctx, intent.lang, matches, store, intent.arg)

    def _matches(self, ctx: "_Ctx", lang: str, matches: list[dict], store: Any, query: str) -> str:
        if len(matches) == 1:
            return self._community(ctx, lang, int(matches[0]["community_id"]), store)
        text, shown = R.choices_text(matches, lang, ctx.channel, query=query, capped=len(matches) >= SEARCH_LIMIT)
        self._remember(ctx, choices=[int(m["community_id"]) for m in matches[:shown]], lang=lang)
        return text

    def _search(self, query: str, store: Any) -> list[dict]:
        """Communities matching ``query``; failing that, ``query`` read as a city (and district) plus a name."""
        matches = store.search_communities(query, limit=SEARCH_LIMIT) or []
        if matches:
            return matches
        cities = getattr(store, "cities", None)
        if not callable(cities):
            return []
        q = " ".join(query.lower().split())
        for city in cities() or []:
            for alias in _city_aliases(city):
                if q.startswith(alias):
                    rest = q[len(alias):]
                elif q.endswith(alias):
                    rest = q[: -len(alias)]
                else:
                    continue
                rest = rest.strip(_PLACE_SEPARATORS)
                if rest:
                    return self._search_in_city(rest, city.get("city_code"), store)
        return []

    def _search_in_city(self, rest: str, city_code: Any, store: Any) -> list[dict]:
        """``rest`` (a name, perhaps with a district: ``城北区 百步亭家园``) among one city's communities."""
        def found(name: str, district: str = "") -> list[dict]:
            hits = store.search_communities(name, limit=SEARCH_LIMIT) or []
            return [m for m in hits if m.get("city_code") == city_code
                    and (not district or str(m.get("district") or "").startswith(district))]

        matches = found(rest)
        if matches:
            return matches
        words = rest.split()
        splits = [(" ".join(words[1:]), words[0]), (" ".join(words[:-1]), words[-1])] if len(words) > 1 else []
        for mark in ("区", "县"):  # 城北区百步亭家园: the district ends at its 区 or 县
            at = rest.find(mark)
            if 0 < at < len(rest) - 1:
                splits.append((rest[at + 1:], rest[: at + 1]))
        for name, district in splits:
            district = district.strip(_PLACE_SEPARATORS)
            short = district.rstrip("区县") or district
            matches = found(name.strip(_PLACE_SEPARATORS), short) if name.strip(_PLACE_SEPARATORS) else []
            if matches:
                return matches
        return []

    def _community(self, ctx: "_Ctx", lang: str, community_id: int, store: Any) -> str:
        community = store.community(community_id)
        if community is None:
            return R.message("no_data", lang)
        return R.risk_text(community, lang, ctx.channel, self._link("community", community_id))

    def _choice(self, ctx: "_Ctx", intent: Intent) -> str:
        choices = ctx.memory.get("choices") or []
        n = int(intent.arg)
        if not choices or n > len(choices):
            return R.message("choice_expired", intent.lang)
        store = self._snapshot()
        if store is None:
            return R.message("no_data", intent.lang)
        return self._community(ctx, intent.lang, int(choices[n - 1]), store)

    # ---- places near a community (附近 / NEAR, 门诊 / CLINIC; bot/nearby.py) ----------------------------
    def _near(self, ctx: "_Ctx", intent: Intent) -> str:
        if not intent.arg:
            return nearby.ask_text(intent.lang)
        store = self._snapshot()
        if store is None:
            return R.message("no_data", intent.lang)
        matches = self._search(intent.arg, store)
        if not matches:
            return R.fit(R.message("not_found", intent.lang, q=intent.arg[:20]), ctx.channel)
        c = store.community(int(matches[0]["community_id"]))  # the best match, named in the answer
        if c is None or c.get("lon") is None:
            return R.message("no_data", intent.lang)
        page = "/places" if intent.kind == "near" else "/clinics"
        link = _default_link(self.public_url, f"{page}?community={c['community_id']}")
        if intent.kind == "near":
            return nearby.near_text(c["name"], nearest_case_places(store, c["lon"], c["lat"]), intent.lang,
                                    ctx.channel, link)
        tz = str(store.meta().get("tz") or "Asia/Shanghai")
        now = self.clock() if callable(getattr(self, "clock", None)) else datetime.now(timezone.utc)  # tests set clock
        return nearby.clinic_text(c["name"], nearest_clinics(store, c["lon"], c["lat"], now, tz), intent.lang,
                                  ctx.channel, link)

    # ---- subscriptions -------------------------------------------------------------------------
    def _opt_out(self, ctx: "_Ctx", intent: Intent) -> str:
        if ctx.channel != "sms":
            return R.message_with_number("opt_out_chat", intent.lang, self.sms_number)
        self.state.set_opt_out(ctx.subject, True, channel="sms")
        self.state.audit("opt_out", subject=ctx.subject, channel="sms")
        # Twilio confirms its own keywords (and blocks our reply); we confirm 退订 / TD ourselves.
        return "" if intent.lang == "en" else R.message("opt_out", intent.lang)

    def _opt_in(self, ctx: "_Ctx", intent: Intent) -> str:
        if ctx.channel != "sms":  # START / 订阅 in the chat: alerts are SMS-only; say so, and help
            return (R.message_with_number("opt_in_chat", intent.lang, self.sms_number) + " "
                    + R.help_text(intent.lang, ctx.channel, self.sms_number))
        self.state.set_opt_out(ctx.subject, False, channel="sms")
        self.state.audit("opt_in", subject=ctx.subject, channel="sms")
        return "" if intent.lang == "en" else R.message("opt_in", intent.lang)

    # ---- market crowding (docs/crowding.md) ------------------------------------------------------
    def _market(self, ctx: "_Ctx", intent: Intent) -> str:
        store = self.crowd() if self.crowd is not None else None
        if store is None:
            return R.market_message("market_no_data", intent.lang)
        if not intent.arg:
            meta = store.meta()
            views = [market_view(m, meta) for m in store.markets()]
            return R.market_list_text(views, intent.lang, ctx.channel, _default_link(self.public_url, "/markets"))
        found = find_markets(store, intent.arg, limit=1)
        if not found:
            return R.market_message("market_not_found", intent.lang, q=intent.arg[:20])
        m = found[0]
        return R.market_text(m, intent.lang, ctx.channel, _default_link(self.public_url, f"/market/{m['market_id']}"))

    # ---- anything else -------------------------------------------------------------------------
    def _unknown(self, ctx: "_Ctx", intent: Intent) -> str:
        # A bare community name is the commonest "unknown" text: answer it as a risk question.
        query = intent.arg
        if 2 <= len(query) <= 40:
            store = self._snapshot()
            matches = self._search(query, store) if store is not None else []
            if matches:
                return self._matches(ctx, intent.lang, matches, store, query)
        return R.message("unknown", intent.lang)


def _city_aliases(city: dict) -> list[str]:
    """How a question may name ``city``: 深圳市, 深圳, shenzhen (longest first)."""
    names = {str(city.get("name") or "").strip(), str(city.get("name_en") or "").strip().lower()}
    if city.get("name"):
        names.add(f"{city['name']}市")
    return sorted((n for n in names if n), key=len, reverse=True)


@dataclass
class _Ctx:
    channel: str
    subject: str
    uid: int | None
    masked: str | None
    memory_key: str
    memory: dict = field(default_factory=dict)


def services() -> Any:
    """The app's shared objects: ``current_app.extensions["riskcard"]`` (item access)."""
    from flask import current_app

    return current_app.extensions["riskcard"]


def _optional(svc: Any, name: str) -> Any:
    try:
        return svc[name]
    except (KeyError, AttributeError):
        return None


def conversation_for(app: Any) -> Conversation:
    """The :class:`Conversation` of ``app``, built once from its services and settings.

    Uses ``extensions["riskcard"]`` items ``state``, ``store`` (a callable returning the current
    snapshot store) and, if present, ``card_link`` (``uid -> url``) and ``community_link``; the setting
    ``SMS_NUMBER`` is the number its answers name.
    """
    conv = app.extensions.get("riskcard.bot")
    if conv is None:
        svc = app.extensions["riskcard"]
        conv = Conversation(
            state=svc["state"],
            store=svc["store"],
            public_url=str(app.config.get("PUBLIC_URL") or ""),
            card_link=_optional(svc, "card_link"),
            community_link=_optional(svc, "community_link"),
            sms_number=str(app.config.get("SMS_NUMBER") or "").strip() or None,
            crowd=app.extensions.get("riskcard.crowd"),
        )
        app.extensions["riskcard.bot"] = conv
    return conv
