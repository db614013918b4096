"""Revocation lists of card proofs, one per signing key, and the freshness rule of offline verifiers.

Published at ``/.well-known/crl/{kid}.json``, in the shape SMART Health Cards use::

    {"kid": KID, "method": "rid", "ctr": 7, "rids": ["3q2-7wXkH1xB2Dc4", ...], "iat": 1700000000}

- ``rids``: the revocation ids of the key's revoked cards until an hour after they expire (then
  they cannot verify anyway). A revocation id is :func:`revocation_id` of the card's ``jti``: the first
  96 bits of its SHA-256, base64url. It says nothing about the holder (a ``jti`` is 96 random bits
  drawn per card and the pseudonym is not in it), and a verifier computes it from the card alone.
- ``ctr``: grows by one with every revocation of a card of that key, so a verifier that saw ``ctr`` 7
  knows whether its copy is current.
- ``iat``: when the list was made. Offline verifiers refuse a list, and a key set
  (``/.well-known/jwks.json`` carries ``iat`` too), older than 24 h (:func:`check_fresh`), as EU
  Digital COVID Certificate verifiers do with their trust lists.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Mapping

from miniapp.proofs.keys import ProofError, b64url, b64url_decode, parse_json_object

METHOD = "rid"
MAX_DOCUMENT_AGE_S = 24 * 3600
FUTURE_LEEWAY_S = 300
_KID = re.compile(r"[A-Za-z0-9_-]{43}")


def revocation_id(jti: str) -> str:
    """The revocation id of a card: base64url of the first 96 bits of SHA-256 of its ``jti``.

    Parameters
    ----------
    jti : str
        The card's unique id (its ``jti`` claim).

    Returns
    -------
    str
        16 base64url characters.

    Examples
    --------
    >>> revocation_id("vwNR7LFy-y-bg6vf")
    'kCT2F6fPmmMJsSLF'
    """
    return b64url(hashlib.sha256(jti.encode("utf-8")).digest()[:12])


def is_kid(text: Any) -> bool:
    """True for text shaped like a key id (43 base64url characters, an RFC 7638 thumbprint).

    Parameters
    ----------
    text : object
        Anything.

    Returns
    -------
    bool
        Whether ``text`` is a str of 43 base64url characters.

    Examples
    --------
    >>> is_kid("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"), is_kid("../etc/passwd")
    (True, False)
    """
    return isinstance(text, str) and _KID.fullmatch(text) is not None


def revocation_list(state: Any, kid: str, *, now: int | None = None) -> dict:
    """The revocation list of key ``kid``, as published at ``/.well-known/crl/{kid}.json``.

    Parameters
    ----------
    state : StateStore
        Where revocations are recorded (``revocation_list(kid)`` gives the counter and the ``jti``).
    kid : str
        The signing key's id.
    now : int, optional
        When the list is made, Unix seconds (default: the clock).

    Returns
    -------
    dict
        ``{"kid", "method": "rid", "ctr", "rids", "iat"}``; ``rids`` sorted.

    Raises
    ------
    StateUnavailable
        If the state store cannot be reached: no list is better than an empty one.

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> st = open_state("sqlite:///:memory:", clock=lambda: 1_700_000_000)
    >>> st.record_proof("j1", "68ba9da759ce5549", 1_700_000_000, 1_700_086_400, kid="K" * 43)
    >>> st.revoke_proof("j1")
    >>> revocation_list(st, "K" * 43, now=1_700_000_000)["rids"] == [revocation_id("j1")]
    True
    """
    ctr, jtis = state.revocation_list(kid)
    return {"kid": kid, "method": METHOD, "ctr": int(ctr), "rids": sorted(revocation_id(j) for j in jtis),
            "iat": int(time.time()) if now is None else int(now)}


@dataclass(frozen=True)
class RevocationList:
    """A checked revocation list of one key (see :func:`load_revocation_list`)."""

    kid: str
    ctr: int
    rids: frozenset[str]
    iat: int

    def revokes(self, jti: str) -> bool:
        """True if the card with this ``jti`` is on the list."""
        return revocation_id(jti) in self.rids


def load_revocation_list(document: Mapping[str, Any] | str | bytes) -> RevocationList:
    """Check a revocation list (dict or JSON text) and return it.

    Parameters
    ----------
    document : mapping, str or bytes
        The list as published, parsed or as JSON text.

    Returns
    -------
    RevocationList
        Its key id, counter, revocation ids and timestamp.

    Raises
    ------
    ProofError
        If it is not JSON, not an object, has duplicate members, or ``kid``, ``method`` (``"rid"``),
        ``ctr``, ``rids`` (a list of text) or ``iat`` is missing or of the wrong type.

    Examples
    --------
    >>> load_revocation_list('{"kid": "%s", "method": "rid", "ctr": 2, "rids": ["a"], "iat": 5}' % ("K" * 43)).ctr
    2
    >>> load_revocation_list('{"kid": "x", "method": "rid", "ctr": 2, "rids": [], "iat": 5}')
    Traceback (most recent call last):
    ...
    miniapp.proofs.keys.ProofError: not a revocation list: kid is not a key id
    """
    try:
        doc = (parse_json_object(document.encode() if isinstance(document, str) else document)
               if isinstance(document, (str, bytes)) else dict(document))
    except (ValueError, TypeError, RecursionError) as exc:
        raise ProofError(f"not a revocation list: {exc}") from exc

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ProofError(f"not a revocation list: {what}")

    need(is_kid(doc.get("kid")), "kid is not a key id")
    need(doc.get("method") == METHOD, f"method is not {METHOD!r}")
    for name in ("ctr", "iat"):
        need(isinstance(doc.get(name), int) and not isinstance(doc.get(name), bool), f"{name} is not an integer")
    rids = doc.get("rids")
    need(isinstance(rids, list) and all(isinstance(r, str) for r in rids), "rids is not a list of text")
    return RevocationList(doc["kid"], doc["ctr"], frozenset(rids), doc["iat"])


def check_fresh(issued_s: Any, what: str, *, now: int | None = None, max_age_s: int = MAX_DOCUMENT_AGE_S) -> int:
    """Refuse a key set or revocation list that is too old (or undated, or dated in the future).

    Parameters
    ----------
    issued_s : object
        The document's ``iat`` (Unix seconds); anything but an integer is refused.
    what : str
        What the document is, for the message (``"key set"``, ``"revocation list"``).
    now : int, optional
        Unix seconds (default: the clock).
    max_age_s : int
        The oldest a document may be; default ``MAX_DOCUMENT_AGE_S`` (24 h).

    Returns
    -------
    int
        The document's age in seconds.

    Raises
    ------
    ProofError
        If ``issued_s`` is missing, more than ``max_age_s`` ago, or more than ``FUTURE_LEEWAY_S`` ahead.

    Examples
    --------
    >>> check_fresh(1_000, "key set", now=4_600)
    3600
    >>> check_fresh(1_000, "key set", now=1_000 + 25 * 3600)
    Traceback (most recent call last):
    ...
    miniapp.proofs.keys.ProofError: the key set has expired: it is 25.0 h old, more than 24 h: fetch it again
    """
    now_s = int(time.time()) if now is None else int(now)
    if isinstance(issued_s, bool) or not isinstance(issued_s, int):
        raise ProofError(f"the {what} has no date (iat), so it cannot be shown to be at most "
                         f"{max_age_s / 3600:g} h old: fetch it again")
    age = now_s - issued_s
    if age > max_age_s:
        raise ProofError(f"the {what} has expired: it is {age / 3600:.1f} h old, more than {max_age_s / 3600:g} h: "
                         "fetch it again")
    if age < -FUTURE_LEEWAY_S:
        raise ProofError(f"the {what} is dated {-age} s in the future: check this computer's clock")
    return max(age, 0)


def unverified_ids(token: str) -> tuple[str, str]:
    """``(kid, jti)`` read from a token without checking its signature (to revoke it, say).

    Parameters
    ----------
    token : str
        A compact card token (see :func:`miniapp.proofs.token_from_text` for URLs).

    Returns
    -------
    tuple of str
        The header's ``kid`` and the payload's ``jti``.

    Raises
    ------
    ProofError
        If the token is not three base64url JSON parts with a text ``kid`` and ``jti``.

    Examples
    --------
    >>> unverified_ids("eyJhbGciOiJFZERTQSIsImtpZCI6ImsifQ.eyJqdGkiOiJqMSJ9.c2ln")
    ('k', 'j1')
    """
    parts = token.strip().split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        header, payload = (parse_json_object(b64url_decode(p)) for p in parts[:2])
    except (ValueError, RecursionError) as exc:
        raise ProofError(f"not a card token: {exc}") from exc
    kid, jti = header.get("kid"), payload.get("jti")
    if not isinstance(kid, str) or not isinstance(jti, str) or not jti:
        raise ProofError("not a card token: no kid or jti")
    return kid, jti
