"""The QR form of a card token: the same signed JWS, packed into decimal digits.

A card's JWS (:mod:`miniapp.proofs.tokens`) is about 510 characters; as a URL in a QR code's byte
mode that is QR version 18 (89 modules). The QR code carries the same token packed instead:

    version byte 1 | first 8 bytes of the kid | 64-byte signature | raw DEFLATE of the payload JSON

(the payload is compressed with a preset dictionary of the claim names, the card colours and the
date and time forms), as one big integer written in decimal, behind ``{PUBLIC_URL}/v/``. Digits use
the QR numeric mode (3.3 bits a digit against 8 bits a character in byte mode): a typical card is
QR version 11 (61 modules), so each module is 40 % larger at the same size on a screen. The ideas
are those of SMART Health Cards (numeric mode) and the EU Digital COVID Certificate (compression).

Nothing is lost: the header ``{"alg":"EdDSA","kid":KID}`` is rebuilt from the key set (the kid whose
first 8 bytes match; every match is tried), the payload bytes are the signed ones, so unpacking
gives back the exact JWS, verified as any other (same signature, ``jti``, expiry and revocation).
Unpacking is bounded: at most :data:`MAX_PACKED_DIGITS` digits and :data:`MAX_PAYLOAD_BYTES`
bytes of payload after decompression (a crafted DEFLATE bomb stops there).
"""

from __future__ import annotations

import zlib

from cryptography.exceptions import InvalidSignature

from miniapp.proofs.keys import KeyRing, ProofError, b64url, b64url_decode, canonical_json, parse_json_object

__all__ = ["MAX_PACKED_DIGITS", "MAX_PAYLOAD_BYTES", "is_packed", "pack_token", "unpack_token", "unverified_jti"]

PACK_VERSION = 1
KID_PREFIX_BYTES = 8
SIGNATURE_BYTES = 64
MAX_PAYLOAD_BYTES = 2048
MAX_PACKED_DIGITS = 4096
_SENTINEL = b"\x01"  # keeps leading zero bytes through the integer
# Strings that cards repeat (DEFLATE finds them here instead of spending bits on them). Changing
# this makes every packed card unreadable: a new dictionary needs a new PACK_VERSION.
_DICTIONARY = (
    b'"upd":"2020-01-01T00:00:00+08:00","msk":"1****","col":"no_records","col":"orange","col":"yellow",'
    b'"col":"green","cty":[["",0,""],["",1,""]],"win":["2020-01-","2020-01-"],"jti":"","exp":17,"iat":17,'
    b'{"iss":"riskcard","iat":17'
)


def is_packed(text: str) -> bool:
    """Whether ``text`` looks like a packed token (only ASCII digits).

    Parameters
    ----------
    text : str
        A token as scanned.

    Returns
    -------
    bool
        True for a non-empty run of ASCII digits.

    Examples
    --------
    >>> is_packed("1234"), is_packed("a.b.c"), is_packed("")
    (True, False, False)
    """
    return isinstance(text, str) and text.isascii() and text.isdigit()


def pack_token(token: str) -> str:
    """Pack a compact JWS that :func:`miniapp.proofs.sign_card` made into decimal digits.

    Parameters
    ----------
    token : str
        ``b64url(header).b64url(payload).b64url(signature)`` with header ``{"alg":"EdDSA","kid":KID}``.

    Returns
    -------
    str
        The digits (no leading zero); :func:`unpack_token` gives ``token`` back.

    Raises
    ------
    ProofError
        If ``token`` is not such a JWS.

    Examples
    --------
    >>> from miniapp.proofs.keys import b64url, canonical_json
    >>> kid = b64url(bytes(range(32)))
    >>> tok = ".".join([b64url(canonical_json({"alg": "EdDSA", "kid": kid})), b64url(b'{"iss":"riskcard"}'),
    ...                 b64url(bytes(64))])
    >>> digits = pack_token(tok)
    >>> digits.isdigit(), len(digits) < len(tok) * 2
    (True, True)
    """
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        kid = _header_kid(header_b64)
        kid_bytes, payload, signature = b64url_decode(kid), b64url_decode(payload_b64), b64url_decode(signature_b64)
    except (AttributeError, ValueError) as exc:
        raise ProofError(f"not a card token: {exc}") from exc
    if len(signature) != SIGNATURE_BYTES or len(kid_bytes) < KID_PREFIX_BYTES or len(payload) > MAX_PAYLOAD_BYTES:
        raise ProofError("not a card token: signature, key id or payload of the wrong size")
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=_DICTIONARY)
    packed = (_SENTINEL + bytes([PACK_VERSION]) + kid_bytes[:KID_PREFIX_BYTES] + signature
              + deflate.compress(payload) + deflate.flush())
    return str(int.from_bytes(packed, "big"))


def unpack_token(digits: str, keys: KeyRing) -> str:
    """The compact JWS that ``digits`` packs, its header rebuilt with the key of ``keys`` it names.

    Parameters
    ----------
    digits : str
        What :func:`pack_token` returned (as scanned from the QR code).
    keys : KeyRing
        The published keys; the kid is the key whose id starts with the packed 8 bytes. When two
        keys share them, the one whose signature verifies is taken.

    Returns
    -------
    str
        The JWS, not yet verified: pass it to :func:`miniapp.proofs.verify_token`.

    Raises
    ------
    ProofError
        ``"malformed: ..."`` for digits that are not a packed token (too long, wrong version,
        truncated, a payload over :data:`MAX_PAYLOAD_BYTES`), ``"unknown_key: ..."`` when no key of
        ``keys`` has the packed key id.

    Examples
    --------
    >>> from miniapp.proofs.keys import b64url, canonical_json, Key
    >>> kid = b64url(bytes(range(32)))
    >>> tok = ".".join([b64url(canonical_json({"alg": "EdDSA", "kid": kid})), b64url(b'{"iss":"riskcard"}'),
    ...                 b64url(bytes(64))])
    >>> unpack_token(pack_token(tok), KeyRing([Key(kid, None)])) == tok
    True
    >>> unpack_token("12", KeyRing([]))
    Traceback (most recent call last):
    ...
    miniapp.proofs.keys.ProofError: malformed: not a packed card token
    """
    prefix, signature, payload = _read(digits)
    candidates = [k for k in keys.keys if _kid_prefix(k.kid) == prefix]
    if not candidates:
        raise ProofError("unknown_key: the packed key id is not a published key")
    signed = [(_header(k.kid) + "." + b64url(payload)) for k in candidates]
    for key, signing_input in zip(candidates, signed):
        if len(candidates) == 1 or _verifies(key, signature, signing_input):
            return signing_input + "." + b64url(signature)
    return signed[0] + "." + b64url(signature)  # no key verifies: the verifier will say forged


def unverified_jti(digits: str) -> str:
    """The ``jti`` (card id) in a packed token, its signature unchecked (to revoke a scanned card).

    Parameters
    ----------
    digits : str
        A packed token.

    Returns
    -------
    str
        The payload's ``jti``.

    Raises
    ------
    ProofError
        If ``digits`` is not a packed token or its claims have no text ``jti``.

    Examples
    --------
    >>> from miniapp.proofs.keys import b64url, canonical_json
    >>> tok = ".".join([b64url(canonical_json({"alg": "EdDSA", "kid": b64url(bytes(32))})),
    ...                 b64url(b'{"jti":"card-1"}'), b64url(bytes(64))])
    >>> unverified_jti(pack_token(tok))
    'card-1'
    """
    payload = _read(digits)[2]
    try:
        jti = parse_json_object(payload).get("jti")
    except (ValueError, RecursionError) as exc:
        raise ProofError(f"malformed: the packed claims are not JSON: {exc}") from exc
    if not isinstance(jti, str) or not jti:
        raise ProofError("malformed: the packed claims have no card id (jti)")
    return jti


def _read(digits: str) -> tuple[bytes, bytes, bytes]:
    """(kid prefix, signature, payload bytes) of a packed token; ``ProofError`` "malformed: ..." else."""
    if not is_packed(digits) or len(digits) > MAX_PACKED_DIGITS or digits[0] == "0":
        raise ProofError("malformed: not a packed card token")
    number = int(digits)
    packed = number.to_bytes((number.bit_length() + 7) // 8, "big")
    head = 2 + KID_PREFIX_BYTES + SIGNATURE_BYTES
    if len(packed) <= head or packed[:1] != _SENTINEL:
        raise ProofError("malformed: not a packed card token")
    if packed[1] != PACK_VERSION:
        raise ProofError(f"malformed: packed card version {packed[1]} is not {PACK_VERSION}")
    prefix = packed[2:2 + KID_PREFIX_BYTES]
    signature = packed[2 + KID_PREFIX_BYTES:head]
    inflate = zlib.decompressobj(-15, zdict=_DICTIONARY)
    try:
        payload = inflate.decompress(packed[head:], MAX_PAYLOAD_BYTES)
    except zlib.error as exc:
        raise ProofError("malformed: the packed claims are not readable") from exc
    if inflate.unconsumed_tail or not inflate.eof or inflate.unused_data:
        raise ProofError("malformed: the packed claims are truncated, too long or followed by more bytes")
    return prefix, signature, payload


def _header(kid: str) -> str:
    return b64url(canonical_json({"alg": "EdDSA", "kid": kid}))


def _header_kid(header_b64: str) -> str:
    header = parse_json_object(b64url_decode(header_b64))
    kid = header.get("kid")
    if header != {"alg": "EdDSA", "kid": kid} or not isinstance(kid, str) or _header(kid) != header_b64:
        raise ValueError("header is not {alg: EdDSA, kid} as this service writes it")
    return kid


def _kid_prefix(kid: str) -> bytes | None:
    try:
        return b64url_decode(kid)[:KID_PREFIX_BYTES]
    except ValueError:
        return None


def _verifies(key, signature: bytes, signing_input: str) -> bool:
    try:
        key.public.verify(signature, signing_input.encode("ascii"))
    except InvalidSignature:
        return False
    return True
