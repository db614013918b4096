"""The itinerary card (行程卡): the one home of what a card says.

- the colour policy (:data:`COLOUR_POLICY`, first matching rule wins) and the colours' names in
  Chinese and English (:data:`COLOUR_NAMES`), which the card page, the verify page and the bot show;
- the card of a subscriber (:func:`card_for`), built from the snapshot's records of them, including
  the answer for a number the snapshot has no records of (:data:`NO_RECORDS`: a state of its own,
  signed as such, never a green card);
- what the signed proof carries (:func:`card_claims`).

The snapshot (:meth:`miniapp.snapshot.SnapshotStore.itinerary`) holds the facts: the cities of the
window and the exposure rows. The rules that turn facts into a colour live here only.
"""

from __future__ import annotations

import datetime as dt
from typing import Mapping

# The itinerary card's colour policy (docs/snapshot.md): first matching row wins. Only a companion
# (>= 60 min, the rule) turns orange; a possible companion (estimated 40-60 min, within the
# measurement error) keeps its colour and gets POSSIBLE_COMPANION_NOTICE instead.
COLOUR_POLICY = (
    ("orange", "companion", "与确诊病例有时空伴随", "Shared a place with a confirmed case for 60 min or more"),
    ("yellow", "starred_city", "14天内到访过带星号的城市", "Visited a starred city in the last 14 days"),
    ("green", "default", "14天内未到访带星号的城市", "No starred city in the last 14 days"),
)
COLOURS = tuple(rule[0] for rule in COLOUR_POLICY)
# A number the snapshot has no records of in the window gets a card of its own state, never a colour:
# nothing was checked, so nothing may read as "all clear" (a green card).
NO_RECORDS = "no_records"
NO_RECORDS_REASON = {
    "zh": "本号码在此期间没有位置记录，无法证明行程。这不是绿色行程卡。",
    "en": "No location records for this number in the window, so no itinerary can be shown. This is not a green card.",
}
#: What a card may say: one of the colours, or that there are no records.
CARD_STATES = COLOURS + (NO_RECORDS,)
COLOUR_NAMES = {
    "green": {"zh": "绿色", "en": "Green"},
    "yellow": {"zh": "黄色", "en": "Yellow"},
    "orange": {"zh": "橙色", "en": "Orange"},
    NO_RECORDS: {"zh": "无记录", "en": "No records"},
}
POSSIBLE_COMPANION_NOTICE = {
    "zh": "您可能曾与确诊病例在同一地点停留（约40-60分钟，测量有误差）。请留意健康状况。",
    "en": "You may have shared a place with a confirmed case (about 40-60 minutes; the measurement is "
          "approximate). Watch your health.",
}


#: Days a companion watches their health after the last shared time: the 14 days of medical
#: observation from the last contact of China's 2020 close-contact rules (NHC, 新型冠状病毒肺炎防控方案).
OBSERVE_DAYS_AFTER_EXPOSURE = 14


def exposure_details(records: Mapping) -> dict | None:
    """When and how long a person shared a place with cases, and until when to watch their health.

    Parameters
    ----------
    records : mapping
        A subscriber's records (:meth:`SnapshotStore.itinerary`): ``exposure`` rows with
        ``last_date``, ``minutes``, ``cases`` and ``level``.

    Returns
    -------
    dict or None
        ``level`` (``companion`` before ``possible``), ``last_date`` (ISO date of the last shared
        time), ``minutes`` (shared with cases, rounded), ``cases`` and ``observe_until`` (ISO date,
        :data:`OBSERVE_DAYS_AFTER_EXPOSURE` days after ``last_date``); None without exposure.

    Examples
    --------
    >>> exposure_details({"exposure": [{"last_date": "2020-01-30", "minutes": 73.4, "cases": 1, "level": "companion"}]})
    {'level': 'companion', 'last_date': '2020-01-30', 'minutes': 73, 'cases': 1, 'observe_until': '2020-02-13'}
    >>> exposure_details({"exposure": []}) is None
    True
    """
    rows = [e for e in records.get("exposure") or [] if e.get("last_date")]
    if not rows:
        return None
    level = "companion" if any(e.get("level") == "companion" for e in rows) else "possible"
    mine = [e for e in rows if e.get("level", "companion") == level]
    last = max(str(e["last_date"])[:10] for e in mine)
    until = (dt.date.fromisoformat(last) + dt.timedelta(days=OBSERVE_DAYS_AFTER_EXPOSURE)).isoformat()
    return {"level": level, "last_date": last, "minutes": int(round(sum(float(e.get("minutes") or 0) for e in mine))),
            "cases": int(sum(int(e.get("cases") or 0) for e in mine)), "observe_until": until}


def colour_of(facts: Mapping[str, bool]) -> tuple[str, str, str, str]:
    """The first rule of :data:`COLOUR_POLICY` that ``facts`` meet: (colour, rule, reason zh, reason en).

    Parameters
    ----------
    facts : mapping
        ``companion`` (a companion of a case by the rule) and ``starred_city`` (a starred city in
        the window); missing facts are false.

    Returns
    -------
    tuple
        The colour, the name of the rule that chose it, and the reason in Chinese and English.

    Examples
    --------
    >>> colour_of({"companion": False, "starred_city": True})[:2]
    ('yellow', 'starred_city')
    >>> colour_of({})[0]
    'green'
    """
    met = {**facts, "default": True}
    return next(rule for rule in COLOUR_POLICY if met.get(rule[1]))


def card_from_records(records: Mapping) -> dict:
    """A card from the snapshot's records of one subscriber (:meth:`SnapshotStore.itinerary`).

    Parameters
    ----------
    records : mapping
        ``window_start``, ``window_end``, ``cities`` (each with ``starred``), ``exposure`` (rows with
        ``level``), ``updated_at``, ``as_of``.

    Returns
    -------
    dict
        The records plus ``companion``, ``possible_companion``, the notices, ``colour``,
        ``colour_rule`` and the reasons.

    Examples
    --------
    >>> rec = {"window_start": "2020-01-18", "window_end": "2020-01-31", "exposure": [],
    ...        "cities": [{"name": "武汉", "starred": True}]}
    >>> card = card_from_records(rec)
    >>> card["colour"], card["colour_reason_en"]
    ('yellow', 'Visited a starred city in the last 14 days')
    """
    cities = list(records.get("cities") or [])
    levels = {e.get("level") for e in records.get("exposure") or []}
    companion = "companion" in levels
    possible = not companion and "possible" in levels
    colour, rule, why_zh, why_en = colour_of({"companion": companion,
                                              "starred_city": any(c.get("starred") for c in cities)})
    return {**records, "cities": cities, "companion": companion, "possible_companion": possible,
            "exposure_details": exposure_details(records),
            "notice_zh": POSSIBLE_COMPANION_NOTICE["zh"] if possible else None,
            "notice_en": POSSIBLE_COMPANION_NOTICE["en"] if possible else None,
            "colour": colour, "colour_rule": rule, "colour_reason_zh": why_zh, "colour_reason_en": why_en}


def no_records(meta: Mapping) -> dict:
    """The records of a subscriber the snapshot knows nothing of: the window, no city, no exposure.

    Parameters
    ----------
    meta : mapping
        The snapshot's meta (``window_start``, ``window_end``, ``built_at``, ``as_of``).

    Returns
    -------
    dict
        Records in the form of :meth:`SnapshotStore.itinerary`.

    Examples
    --------
    >>> no_records({"window_start": "2020-01-18", "window_end": "2020-01-31", "as_of": "2020-02-01"})["cities"]
    []
    """
    return {"window_start": meta["window_start"], "window_end": meta["window_end"], "cities": [], "exposure": [],
            "updated_at": meta.get("built_at"), "as_of": meta.get("as_of")}


def card_for(store, uid: int) -> dict:
    """The card of ``uid`` from ``store`` (a :class:`miniapp.snapshot.SnapshotStore`).

    Parameters
    ----------
    store : SnapshotStore
        The snapshot being served.
    uid : int
        The subscriber's pseudonym (``forecast.phones``).

    Returns
    -------
    dict
        :func:`card_from_records` of the snapshot's records; when it has none, :func:`no_records`
        with the state :data:`NO_RECORDS` instead of a colour. ``has_records`` says which.
    """
    records = store.itinerary(uid)
    if records is not None:
        return {**card_from_records(records), "has_records": True}
    return {**no_records(store.meta()), "companion": False, "possible_companion": False, "exposure_details": None,
            "notice_zh": None,
            "notice_en": None, "colour": NO_RECORDS, "colour_rule": NO_RECORDS,
            "colour_reason_zh": NO_RECORDS_REASON["zh"], "colour_reason_en": NO_RECORDS_REASON["en"],
            "has_records": False}


def card_claims(card: Mapping, masked: str) -> dict:
    """What the signed proof carries: no pseudonym, no raw number.

    Parameters
    ----------
    card : mapping
        A card (:func:`card_for`).
    masked : str
        The masked number (``138****5678``).

    Returns
    -------
    dict
        The claims :func:`miniapp.proofs.sign_card` signs.

    Examples
    --------
    >>> card_claims({"window_start": "2020-01-27", "window_end": "2020-02-09", "colour": "green",
    ...              "cities": [{"name": "北京", "name_en": "Beijing", "starred": False}]}, "138****8000")["cities"]
    [{'name': '北京', 'en': 'Beijing', 'star': False}]
    """
    return {
        "window": [card["window_start"], card["window_end"]],
        "cities": [{"name": c["name"], "en": c.get("name_en"), "star": bool(c.get("starred"))} for c in card["cities"]],
        "colour": card["colour"],
        "msisdn_masked": masked,
        "updated": card.get("updated_at"),
    }
