"""A subscriber's signed card, and the short links an SMS carries to it.

Shared by the web card flow and the bot (whose SMS replies carry a short link to a signed card).
"""

from __future__ import annotations

import secrets

from miniapp.cards import card_claims, card_for
from miniapp.proofs.tokens import issue_card

SHORT_LINK_TTL_S = 24 * 3600
_LINK_PREFIX = "cardlink:"


def issue_card_token(state, store, keyring, uid: int, pseudonym: str, masked: str) -> tuple[dict, str]:
    """Build ``uid``'s card, sign it and record the proof.

    Parameters
    ----------
    state : StateStore
        Where the proof is recorded (for revocation) and the issue audited.
    store : SnapshotStore
        The snapshot being served.
    keyring : KeyRing
        The signing keys.
    uid : int
        The subscriber's pseudonym as an integer.
    pseudonym : str
        The same pseudonym as text (the state store's subject).
    masked : str
        The masked number the card shows.

    Returns
    -------
    tuple
        (card, token): the card (:func:`miniapp.cards.card_for`) and its signed token.
    """
    card = card_for(store, uid)
    return card, issue_card(state, pseudonym, card_claims(card, masked), keyring)


def mint_short_link(state, token: str, ttl_s: int = SHORT_LINK_TTL_S) -> str:
    """Store ``token`` under a short random id (for SMS) and return the id.

    Parameters
    ----------
    state : StateStore
        Where the link is kept (conversation memory, key ``cardlink:{id}``).
    token : str
        The signed card token the link leads to.
    ttl_s : int
        How long the link resolves, in seconds; default ``SHORT_LINK_TTL_S`` (24 h, a token's longest life).

    Returns
    -------
    str
        The link id: 12 random URL-safe characters (72 bits).
    """
    link_id = secrets.token_urlsafe(9)
    state.remember(_LINK_PREFIX + link_id, {"token": token}, ttl_s)
    return link_id


def resolve_short_link(state, link_id: str) -> str | None:
    """The token behind a short link, or None when unknown or expired.

    Parameters
    ----------
    state : StateStore
        The store :func:`mint_short_link` wrote to.
    link_id : str
        The id from the link; empty ids and ids longer than 32 characters are unknown.

    Returns
    -------
    str or None
        The token, or None when the id is unknown, malformed or past its ttl.
    """
    if not link_id or len(link_id) > 32:
        return None
    value = state.recall(_LINK_PREFIX + link_id)
    return value.get("token") if value else None
