"""Signed itinerary-card proofs: compact JWS (RFC 7515) with EdDSA / Ed25519 (RFC 8037).

A card's QR code carries ``{PUBLIC_URL}/v/{token}``, the token packed into digits (:mod:`~miniapp.proofs.packed`). Anyone can check a token offline with the
public keys (``/.well-known/jwks.json`` or ``riskcard verify``); only the key holder can make one.

Token: ``b64url(header).b64url(payload).b64url(signature)``; header ``{"alg":"EdDSA","kid":KID}``,
``kid`` = RFC 7638 JWK thumbprint of the public key. Payload (short names keep the QR small)::

    iss  issuer                 iat, exp  Unix seconds, exp - iat <= 24 h
    jti  unique id              win       [first day, last day] ISO dates of the 14-day window
    cty  [[city name, 0|1 starred(, English name)], ...]  col  green | yellow | orange | no_records
    msk  masked number, e.g. 138****5678                   upd  data update time (optional)

Keys live in ``RISKCARD_SIGNING_KEY_DIR`` as PKCS#8 PEM files ``{not_before_s}_{kid}.pem`` (mode
0600). Rotation: ``generate_key`` adds a key; the newest key whose not-before time has come signs;
every key in the directory verifies and is published. Retiring a key renames it
``*.pem.retired``: tokens it signed stop verifying (so retire a key only after 24 h, when all of its
tokens have expired anyway, unless it leaked).

- :mod:`~miniapp.proofs.keys`: key files, key ids, key sets (JWKS), rotation;
- :mod:`~miniapp.proofs.tokens`: the claims, signing and verifying;
- :mod:`~miniapp.proofs.packed`: the QR code's form of a token (the same JWS packed into digits);
- :mod:`~miniapp.proofs.links`: a subscriber's signed card, and the short links an SMS carries;
- :mod:`~miniapp.proofs.revocation`: the revocation list of each key (``/.well-known/crl/{kid}.json``) and
  the 24-hour freshness rule of offline verifiers.
"""

from miniapp.proofs.keys import (DEFAULT_ISSUER, Key, KeyRing, ProofError, b64url, b64url_decode, generate_key,
                                 jwk_thumbprint, jwks, load_jwks, load_signing_keys, public_jwk, retire_key)
from miniapp.proofs.links import SHORT_LINK_TTL_S, issue_card_token, mint_short_link, resolve_short_link
from miniapp.proofs.packed import MAX_PACKED_DIGITS, is_packed, pack_token, unpack_token, unverified_jti
from miniapp.proofs.revocation import (MAX_DOCUMENT_AGE_S, RevocationList, check_fresh, is_kid, load_revocation_list,
                                       revocation_id, revocation_list, unverified_ids)
from miniapp.proofs.tokens import (MAX_CITIES, MAX_TOKEN_CHARS, MAX_TTL_S, STATUSES, Verification, card_url,
                                   issue_card, sign_card, token_from_text, verify_token)

__all__ = [
    "DEFAULT_ISSUER", "MAX_CITIES", "MAX_TOKEN_CHARS", "MAX_TTL_S", "SHORT_LINK_TTL_S", "STATUSES", "Key", "KeyRing",
    "ProofError", "Verification", "b64url", "b64url_decode", "card_url", "generate_key", "issue_card",
    "issue_card_token", "jwk_thumbprint", "jwks", "load_jwks", "load_signing_keys", "mint_short_link", "public_jwk",
    "MAX_PACKED_DIGITS", "is_packed", "pack_token", "unpack_token", "unverified_jti",
    "resolve_short_link", "retire_key", "sign_card", "token_from_text", "verify_token",
    "MAX_DOCUMENT_AGE_S", "RevocationList", "check_fresh", "is_kid", "load_revocation_list", "revocation_id",
    "revocation_list", "unverified_ids",
]
