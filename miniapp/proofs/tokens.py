"""Sign and verify card tokens (compact JWS, EdDSA): the claims, the token, the verification result."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: F401 (doctests)

from miniapp.cards import CARD_STATES
from miniapp.proofs.keys import (KeyRing, ProofError, b64url, b64url_decode, canonical_json, load_jwks,
                                 parse_json_object)
from miniapp.proofs.packed import is_packed, pack_token, unpack_token

__all__ = ["MAX_CITIES", "MAX_TOKEN_CHARS", "MAX_TTL_S", "STATUSES", "Verification", "card_url", "issue_card",
           "sign_card", "token_from_text", "verify_token"]

MAX_TOKEN_CHARS = 2048
MAX_TTL_S = 24 * 3600
STATUSES = ("genuine", "forged", "expired", "malformed", "unknown_key", "revoked")
MAX_CITIES = 20  # 14 days of >= 4 h stays: more is implausible, and the QR must stay scannable
_MASKED = re.compile(r"[0-9+]{1,5}\*{3,4}\d{2,4}")


# -- claims --------------------------------------------------------------------------------------
def _iso_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return dt.date.fromisoformat(value).isoformat()
    raise ProofError("window dates must be dates or ISO date text")


def _compact_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Caller's friendly claims -> the token's short ones (validated)."""
    try:
        start, end = claims["window"]
        win = [_iso_date(start), _iso_date(end)]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"window must be (first day, last day): {exc}") from exc
    if win[0] > win[1]:
        raise ProofError("window starts after it ends")
    cities = []
    for c in claims.get("cities") or []:
        if isinstance(c, Mapping):
            name, starred, en = c.get("name"), c.get("starred", c.get("star", False)), c.get("en")
        else:
            name, starred, en = (tuple(c) + (None,))[:3]
        if not isinstance(name, str) or not 0 < len(name) <= 40:
            raise ProofError("city names must be text of 1 to 40 characters")
        entry: list[Any] = [name, int(bool(starred))]
        if en:
            if not isinstance(en, str) or len(en) > 40:
                raise ProofError("English city names must be text of at most 40 characters")
            if en != name:
                entry.append(en)
        cities.append(entry)
    if len(cities) > MAX_CITIES:
        raise ProofError(f"at most {MAX_CITIES} cities fit on a card")
    colour = claims.get("colour")
    if colour not in CARD_STATES:
        raise ProofError(f"colour must be one of {CARD_STATES}")
    masked = claims.get("masked", claims.get("msisdn_masked"))
    if not isinstance(masked, str) or not _MASKED.fullmatch(masked):
        raise ProofError("masked must be a masked number like 138****5678, never a full number")
    out: dict[str, Any] = {"win": win, "cty": cities, "col": colour, "msk": masked}
    updated = claims.get("updated")
    if updated is not None:
        if isinstance(updated, bool) or not isinstance(updated, (str, int)) or len(str(updated)) > 32:
            raise ProofError("updated must be a time as text (at most 32 characters) or Unix seconds")
        out["upd"] = updated
    return out


def _friendly(payload: Mapping[str, Any], kid: str) -> dict[str, Any]:
    """Token payload -> the claims a verifier shows (validated; ``ValueError`` if not well formed).

    ``window`` is ``[first day, last day]``; each city is ``{"name", "en", "star"}``; the masked
    number is under both ``masked`` and ``msisdn_masked``.
    """
    need = {"iss": str, "iat": int, "exp": int, "jti": str, "win": list, "cty": list, "col": str, "msk": str}
    for name, typ in need.items():
        if not isinstance(payload.get(name), typ) or isinstance(payload.get(name), bool):
            raise ValueError(f"claim {name} missing or not {typ.__name__}")
    if len(payload["win"]) != 2 or not all(isinstance(d, str) for d in payload["win"]):
        raise ValueError("claim win is not two dates")
    start, end = (dt.date.fromisoformat(d) for d in payload["win"])
    if payload["col"] not in CARD_STATES or not _MASKED.fullmatch(payload["msk"]):
        raise ValueError("claim col or msk out of range")
    cities = []
    for c in payload["cty"]:
        if not (isinstance(c, list) and len(c) in (2, 3) and all(isinstance(x, str) for x in c[:1] + c[2:])
                and c[1] in (0, 1) and not isinstance(c[1], bool)):
            raise ValueError("claim cty is not [[name, 0|1(, English name)], ...]")
        cities.append({"name": c[0], "en": c[2] if len(c) == 3 else None, "star": bool(c[1])})
    updated = payload.get("upd")
    if updated is not None and (isinstance(updated, bool) or not isinstance(updated, (str, int))):
        raise ValueError("claim upd is not text or a number")
    not_before = payload.get("nbf")  # not issued by us, but honoured when signed in (RFC 7519 4.1.5)
    if not_before is not None and (isinstance(not_before, bool) or not isinstance(not_before, int)):
        raise ValueError("claim nbf is not Unix seconds")
    return {"iss": payload["iss"], "kid": kid, "iat": payload["iat"], "exp": payload["exp"],
            "jti": payload["jti"], "window": [start.isoformat(), end.isoformat()], "cities": cities,
            "colour": payload["col"], "masked": payload["msk"], "msisdn_masked": payload["msk"],
            "updated": updated, **({"nbf": not_before} if not_before is not None else {})}


def sign_card(claims: Mapping[str, Any], keyring: KeyRing, *, ttl_s: int = MAX_TTL_S,
              now: int | None = None) -> str:
    """Sign a card's claims; return the compact token.

    Parameters
    ----------
    claims : mapping
        ``window`` (first, last day); ``cities``: ``[(name, starred[, English name]), ...]`` or dicts
        with ``name``, ``star`` (or ``starred``) and optional ``en``; ``colour``; ``masked`` (or
        ``msisdn_masked``); optional ``updated`` (data update time), ``iss`` and ``jti``.
    keyring : KeyRing
        Its current signer signs.
    ttl_s : int
        Lifetime, at most 24 h.
    now : int, optional
        Issue time in Unix seconds (default: the clock).

    Returns
    -------
    str
        The compact JWS ``b64url(header).b64url(payload).b64url(signature)``, header
        ``{"alg": "EdDSA", "kid": ...}``, at most ``MAX_TOKEN_CHARS`` (2048) characters; ``iat`` is
        ``now``, ``exp`` is ``now + ttl_s`` and ``jti`` is random unless given.

    Raises
    ------
    ProofError
        If ``ttl_s`` is not 1 to ``MAX_TTL_S`` seconds, no key of the ring is ready to sign, the claims are
        invalid (window, more than ``MAX_CITIES`` cities, colour, an unmasked number, ``updated``) or the
        token would be longer than ``MAX_TOKEN_CHARS``.

    References
    ----------
    .. [1] RFC 7515, JSON Web Signature (JWS), section 7.1 (compact serialization).
    .. [2] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE, section 3.1 (EdDSA).

    Examples
    --------
    >>> from miniapp.proofs.keys import Key, jwk_thumbprint, public_jwk
    >>> ring = KeyRing([Key("", Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key(),
    ...                     Ed25519PrivateKey.from_private_bytes(bytes(32)))])
    >>> ring = KeyRing([Key(jwk_thumbprint(public_jwk(k.public)), k.public, k.private) for k in ring.keys])
    >>> claims = {"window": ("2020-01-10", "2020-01-23"), "cities": [("武汉", True), ("北京", False)],
    ...           "colour": "yellow", "masked": "138****8000"}
    >>> token = sign_card(claims, ring, now=1_580_000_000)
    >>> v = verify_token(token, ring, now=1_580_000_100)
    >>> v.status, v.claims["cities"][0], v.claims["masked"]
    ('genuine', {'name': '武汉', 'en': None, 'star': True}, '138****8000')
    >>> verify_token(token, ring, now=1_580_000_000 + 25 * 3600).status
    'expired'
    """
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 0 < ttl_s <= MAX_TTL_S:
        raise ProofError(f"ttl_s must be 1 to {MAX_TTL_S} seconds")
    now_s = int(time.time()) if now is None else int(now)
    key = keyring.signer(now_s)
    jti = claims.get("jti") or secrets.token_urlsafe(12)
    payload = {"iss": claims.get("iss") or keyring.issuer, "iat": now_s, "exp": now_s + ttl_s, "jti": jti,
               **_compact_claims(claims)}
    signing_input = b64url(canonical_json({"alg": "EdDSA", "kid": key.kid})) + "." + b64url(canonical_json(payload))
    assert key.private is not None
    token = signing_input + "." + b64url(key.private.sign(signing_input.encode("ascii")))
    if len(token) > MAX_TOKEN_CHARS:
        raise ProofError(f"token would be {len(token)} characters, more than {MAX_TOKEN_CHARS}: fewer cities")
    return token


# -- verification --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    """Outcome of :func:`verify_token`. ``claims`` is set for genuine, expired and revoked tokens."""

    status: str
    claims: dict[str, Any] | None
    reason: str

    @property
    def genuine(self) -> bool:
        return self.status == "genuine"


def _bad(status: str, reason: str, claims: dict | None = None) -> Verification:
    return Verification(status, claims, reason)


def verify_token(token: Any, keys: KeyRing | Mapping[str, Any], *, now: int | None = None,
                 leeway_s: int = 60, issuer: str | None = None, state: Any = None) -> Verification:
    """Check a token offline. Never raises for any input.

    Parameters
    ----------
    token : str
        The compact token, or its packed QR form (decimal digits, :func:`miniapp.proofs.pack_token`);
        anything else is ``malformed``.
    keys : KeyRing or dict
        A ring, or a JWK Set document.
    now : int, optional
        Unix seconds (default: the clock).
    leeway_s : int
        Allowed clock difference for ``iat`` and ``exp``.
    issuer : str, optional
        If given, tokens of another issuer are ``forged``.
    state : StateStore, optional
        If given, revoked ``jti`` are reported as ``revoked``.

    Returns
    -------
    Verification
        status ``genuine | forged | expired | malformed | unknown_key | revoked`` and a reason.

    Examples
    --------
    >>> verify_token("x" * 5000, {"keys": []}).reason
    'token longer than 2048 characters'
    >>> verify_token("a.b", {"keys": []}).status
    'malformed'
    """
    if not isinstance(token, str):
        return _bad("malformed", "token is not text")
    if is_packed(token.strip()):  # the QR code's form of the same token (miniapp/proofs/packed.py)
        try:
            ring = keys if isinstance(keys, KeyRing) else load_jwks(keys)
            token = unpack_token(token.strip(), ring)
        except ProofError as exc:
            status, _, reason = str(exc).partition(": ")
            if status not in STATUSES:  # the key set itself is unusable
                status, reason = "unknown_key", f"key set unusable: {exc}"
            return _bad(status, reason)
    if len(token) > MAX_TOKEN_CHARS:
        return _bad("malformed", f"token longer than {MAX_TOKEN_CHARS} characters")
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii():
        return _bad("malformed", "token is not three base64url parts")
    try:
        header = parse_json_object(b64url_decode(parts[0]))
        payload_bytes = b64url_decode(parts[1])
        signature = b64url_decode(parts[2])
    except (ValueError, RecursionError):
        return _bad("malformed", "token parts are not base64url JSON")
    if header.get("alg") != "EdDSA":
        return _bad("forged", f"algorithm {str(header.get('alg'))[:20]!r} is not EdDSA")
    kid = header.get("kid")
    if not isinstance(kid, str):
        return _bad("malformed", "header has no key id")
    try:
        ring = keys if isinstance(keys, KeyRing) else load_jwks(keys)
    except ProofError as exc:
        return _bad("unknown_key", f"key set unusable: {exc}")
    key = ring.get(kid)
    if key is None:
        return _bad("unknown_key", f"key id {kid[:43]!r} is not a published key")
    try:
        key.public.verify(signature, (parts[0] + "." + parts[1]).encode("ascii"))
    except InvalidSignature:
        return _bad("forged", "signature does not match the key")
    try:
        claims = _friendly(parse_json_object(payload_bytes), kid)
    except (ValueError, RecursionError) as exc:
        return _bad("malformed", f"signed claims invalid: {exc}")
    now_s = int(time.time()) if now is None else int(now)
    if issuer is not None and claims["iss"] != issuer:
        return _bad("forged", f"issuer {claims['iss'][:40]!r} is not {issuer!r}")
    if claims["exp"] - claims["iat"] > MAX_TTL_S or claims["exp"] <= claims["iat"]:
        return _bad("malformed", "lifetime is not within 24 hours")
    if claims["iat"] > now_s + leeway_s:
        return _bad("malformed", "issued in the future", claims)
    if claims.get("nbf", claims["iat"]) > now_s + leeway_s:
        return _bad("malformed", "not valid yet (nbf)", claims)
    if now_s >= claims["exp"] + leeway_s:
        return _bad("expired", "expired", claims)
    if state is not None and state.proof_revoked(claims["jti"]):
        return _bad("revoked", "revoked by the issuer", claims)
    return Verification("genuine", claims, "signature valid, not expired")


def card_url(public_url: str, token: str) -> str:
    """The URL a card's QR code opens: the token packed into digits (:func:`miniapp.proofs.pack_token`).

    Parameters
    ----------
    public_url : str
        The service's public base URL (``PUBLIC_URL``); trailing slashes are dropped.
    token : str
        The signed card token (compact JWS).

    Returns
    -------
    str
        ``{public_url}/v/{digits}``; the verify page and :func:`verify_token` take it back.

    Raises
    ------
    ProofError
        If ``token`` is not a card token this service signed.

    Examples
    --------
    >>> from miniapp.proofs.keys import Key, jwk_thumbprint, public_jwk
    >>> private = Ed25519PrivateKey.from_private_bytes(bytes(32))
    >>> ring = KeyRing([Key(jwk_thumbprint(public_jwk(private.public_key())), private.public_key(), private)])
    >>> token = sign_card({"window": ("2020-01-10", "2020-01-23"), "cities": [("武汉", True)], "colour": "yellow",
    ...                    "masked": "138****8000"}, ring, now=1_580_000_000)
    >>> url = card_url("https://riskcard.example/", token)
    >>> url.startswith("https://riskcard.example/v/"), len(url) < len(token)
    (True, True)
    >>> verify_token(token_from_text(url), ring, now=1_580_000_100).status
    'genuine'
    """
    return public_url.rstrip("/") + "/v/" + pack_token(token)


def token_from_text(text: str) -> str:
    """The token of a scanned URL (``.../v/TOKEN``) or the text itself.

    Parameters
    ----------
    text : str
        A scanned or pasted card URL, or a bare token; surrounding whitespace is ignored.

    Returns
    -------
    str
        What follows the last ``/v/`` (or the whole text), without any query (``?...``) or fragment
        (``#...``). It is not checked: pass it to :func:`verify_token`.

    Examples
    --------
    >>> token_from_text("https://riskcard.example/v/a.b.c?x=1")
    'a.b.c'
    >>> token_from_text("a.b.c")
    'a.b.c'
    """
    text = text.strip()
    if "/v/" in text:
        text = text.rsplit("/v/", 1)[1]
    return text.split("?", 1)[0].split("#", 1)[0]


def issue_card(state: Any, subject: str, claims: Mapping[str, Any], keyring: KeyRing, *,
               ttl_s: int = MAX_TTL_S, now: int | None = None) -> str:
    """Sign a card, record its proof (for revocation) and audit the issue; return the token.

    Parameters
    ----------
    state : StateStore
        Where the proof (``jti``, subject, ``iat``, ``exp`` and the signing ``kid``, whose revocation list it
        joins if revoked) is recorded and a ``card.issued`` audit entry written.
    subject : str
        The subscriber's pseudonym, never a raw number.
    claims : mapping
        The card's claims, as for :func:`sign_card`.
    keyring : KeyRing
        Its current signer signs.
    ttl_s : int
        Lifetime in seconds, at most 24 h; default ``MAX_TTL_S`` (24 h).
    now : int, optional
        Issue time in Unix seconds (default: the clock).

    Returns
    -------
    str
        The compact token, as :func:`sign_card` returns it.

    Raises
    ------
    ProofError
        As :func:`sign_card`: bad claims or ``ttl_s``, or no signing key ready. Nothing is recorded.
    StateValueError
        If ``subject`` looks like a raw phone number.

    Examples
    --------
    >>> import tempfile
    >>> from miniapp.state import open_state
    >>> from miniapp.proofs.keys import generate_key, load_signing_keys
    >>> d = tempfile.mkdtemp(); _ = generate_key(d, not_before_s=0)
    >>> st = open_state("sqlite:///:memory:")
    >>> tok = issue_card(st, "68ba9da759ce5549", {"window": ("2020-01-10", "2020-01-23"), "cities": [],
    ...                  "colour": "green", "masked": "138****8000"}, load_signing_keys(d))
    >>> st.audit_log()[0]["event"]
    'card.issued'
    """
    token = sign_card(claims, keyring, ttl_s=ttl_s, now=now)
    header, body = (parse_json_object(b64url_decode(part)) for part in token.split(".")[:2])
    state.record_proof(body["jti"], subject, body["iat"], body["exp"], kid=header["kid"])
    state.audit("card.issued", subject, jti=body["jti"], masked=body["msk"], exp=body["exp"])
    return token
