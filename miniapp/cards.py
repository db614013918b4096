"""Itinerary cards: what a card shows, what its signed proof carries, and short links to it.

Shared by the web card flow and the bot (whose SMS replies carry a short link to a signed card).
"""

from __future__ import annotations

import datetime as dt
import secrets

SHORT_LINK_TTL_S = 24 * 3600
_LINK_PREFIX = "cardlink:"


def card_for(store, uid: int) -> dict:
    """The card of ``uid``: the snapshot's itinerary, or the window with no cities.

    A subscriber the snapshot does not know has no city with a 4 h stay in the window: green.
    """
    card = store.itinerary(uid)
    if card is None:
        meta = store.meta()
        as_of = dt.date.fromisoformat(str(meta["as_of"]))
        card = {
            "window_start": (as_of - dt.timedelta(days=14)).isoformat(),
            "window_end": (as_of - dt.timedelta(days=1)).isoformat(),
            "cities": [],
            "companion": False,
            "colour": "green",
            "updated_at": meta.get("built_at"),
        }
    return card


def card_claims(card: dict, masked: str) -> dict:
    """What the signed proof carries: no pseudonym, no raw number.

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


def issue_card_token(state, store, keyring, uid: int, pseudonym: str, masked: str) -> tuple[dict, str]:
    """Build ``uid``'s card, sign it, record the proof; return (card, token)."""
    from miniapp.proofs import issue_card

    card = card_for(store, uid)
    return card, issue_card(state, pseudonym, card_claims(card, masked), keyring)


def mint_short_link(state, token: str, ttl_s: int = SHORT_LINK_TTL_S) -> str:
    """Store ``token`` under a short random id (for SMS) and return the id."""
    link_id = secrets.token_urlsafe(9)
    state.remember(_LINK_PREFIX + link_id, {"token": token}, ttl_s)
    return link_id


def resolve_short_link(state, link_id: str) -> str | None:
    """The token behind a short link, or None when unknown or expired."""
    if not link_id or len(link_id) > 32:
        return None
    value = state.recall(_LINK_PREFIX + link_id)
    return value.get("token") if value else None
