"""Ed25519 signing keys of itinerary-card proofs: key files, key ids, key sets (JWKS), rotation.

See :mod:`miniapp.proofs` for the file layout and the rotation procedure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DEFAULT_ISSUER = "riskcard"
_B64 = re.compile(r"[A-Za-z0-9_-]*")
_KEY_FILE = re.compile(r"(\d+)_([A-Za-z0-9_-]{43})\.pem")


class ProofError(ValueError):
    """Bad claims to sign, or unusable key material."""


# -- encoding helpers ----------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    """Base64url without padding.

    Parameters
    ----------
    data : bytes
        The bytes to encode.

    Returns
    -------
    str
        ASCII text of the URL- and filename-safe alphabet (``A-Z a-z 0-9 - _``) with the trailing
        ``=`` padding removed.

    References
    ----------
    .. [1] RFC 7515, JSON Web Signature (JWS), section 2 ("Base64url Encoding") and appendix C.

    Examples
    --------
    >>> b64url(b"\\xfb\\xff")
    '-_8'
    """
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url`; ``ValueError`` for anything else.

    Parameters
    ----------
    text : str
        Unpadded base64url text, as :func:`b64url` writes it.

    Returns
    -------
    bytes
        The decoded bytes.

    Raises
    ------
    ValueError
        If ``text`` has a character outside the base64url alphabet, an impossible length (``len % 4 == 1``),
        padding, or non-zero unused trailing bits (a non-canonical encoding).

    References
    ----------
    .. [1] RFC 7515, JSON Web Signature (JWS), section 2 ("Base64url Encoding") and appendix C.

    Examples
    --------
    >>> b64url_decode("-_8")
    b'\\xfb\\xff'
    """
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:  # non-canonical trailing bits
        raise ValueError("not canonical base64url")
    return data


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate member")
    return out


def parse_json_object(data: bytes) -> dict:
    obj = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


# -- keys ----------------------------------------------------------------------------------------
def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The public key as an OKP JWK (RFC 8037), without kid.

    Parameters
    ----------
    public : Ed25519PublicKey
        The public key.

    Returns
    -------
    dict of str to str
        ``{"kty": "OKP", "crv": "Ed25519", "x": ...}`` where ``x`` is the base64url of the 32 raw key bytes.

    References
    ----------
    .. [1] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE, section 2.

    Examples
    --------
    >>> k = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    >>> public_jwk(k)["x"]
    'O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik'
    """
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def jwk_thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an OKP JWK: the key id.

    Only the required members ``crv``, ``kty`` and ``x`` are hashed, in that (lexicographic) order and
    without whitespace; any other members (``kid``, ``use``, ``alg``) are ignored.

    Parameters
    ----------
    jwk : mapping of str to str
        An OKP JWK with at least ``crv``, ``kty`` and ``x``; a missing one raises ``KeyError``.

    Returns
    -------
    str
        The 43-character base64url SHA-256 thumbprint.

    References
    ----------
    .. [1] RFC 7638, JSON Web Key (JWK) Thumbprint, section 3.
    .. [2] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE, section 2 and
       appendix A.3.

    Examples
    --------
    RFC 8037 appendix A.3:

    >>> jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
    'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'
    """
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class Key:
    """One Ed25519 key of a ring; ``private`` is None for keys read from a JWKS."""

    kid: str
    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None
    not_before_s: int = 0


@dataclass
class KeyRing:
    """Keys that verify; the newest private key whose not-before time has come signs."""

    keys: list[Key] = field(default_factory=list)
    issuer: str = DEFAULT_ISSUER

    def get(self, kid: str) -> Key | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def signer(self, now_s: int) -> Key:
        ready = [k for k in self.keys if k.private is not None and k.not_before_s <= now_s]
        if not ready:
            raise ProofError("no signing key is ready: run `riskcard keys new`")
        return max(ready, key=lambda k: (k.not_before_s, k.kid))


def generate_key(key_dir: str | os.PathLike, *, not_before_s: int | None = None) -> str:
    """Create a new Ed25519 key in ``key_dir`` and return its kid.

    With ``not_before_s`` in the future the key is published (JWKS) before it starts signing, so
    verifiers that cache the key set know it by the time its first token is shown.

    Parameters
    ----------
    key_dir : str or path-like
        The key directory; created (mode 0700) if missing. The key is written there as a PKCS#8 PEM file
        ``{not_before_s}_{kid}.pem`` of mode 0600, never overwriting an existing file.
    not_before_s : int, optional
        Unix seconds from which the key may sign; default: now (it signs at once).

    Returns
    -------
    str
        The new key's kid: the 43-character RFC 7638 thumbprint of its public JWK.

    References
    ----------
    .. [1] RFC 7638, JSON Web Key (JWK) Thumbprint.
    .. [2] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> kid = generate_key(d)
    >>> len(kid), load_signing_keys(d).keys[0].kid == kid
    (43, True)
    """
    directory = Path(key_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)  # private keys inside: owner only, whoever made the directory
    private = Ed25519PrivateKey.generate()
    kid = jwk_thumbprint(public_jwk(private.public_key()))
    not_before = int(time.time()) if not_before_s is None else int(not_before_s)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = directory / f"{not_before}_{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return kid


def load_signing_keys(key_dir: str | os.PathLike, *, issuer: str = DEFAULT_ISSUER) -> KeyRing:
    """Read every ``*.pem`` key of ``key_dir`` (retired ``*.pem.retired`` files are left out).

    Parameters
    ----------
    key_dir : str or path-like
        The key directory (``RISKCARD_SIGNING_KEY_DIR``); a missing directory gives an empty ring.
    issuer : str
        The ring's issuer, the ``iss`` of the tokens it signs; default ``DEFAULT_ISSUER`` (``"riskcard"``).

    Returns
    -------
    KeyRing
        Every active key with its private key and its not-before time (Unix seconds, from the file name),
        in file-name order; empty if there are none.

    Raises
    ------
    ProofError
        If a key file cannot be read or its name does not match its key.

    Examples
    --------
    >>> import tempfile
    >>> load_signing_keys(tempfile.mkdtemp()).keys
    []
    """
    directory = Path(key_dir)
    keys: list[Key] = []
    if not directory.is_dir():
        return KeyRing([], issuer)
    for path in sorted(directory.glob("*.pem")):
        m = _KEY_FILE.fullmatch(path.name)
        if m is None:
            raise ProofError(f"unexpected file in key directory: {path.name}")
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ProofError(f"cannot read key file {path.name}: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise ProofError(f"key file {path.name} is not an Ed25519 key")
        kid = jwk_thumbprint(public_jwk(private.public_key()))
        if kid != m.group(2):
            raise ProofError(f"key file {path.name} holds key {kid}: renamed or tampered")
        keys.append(Key(kid, private.public_key(), private, int(m.group(1))))
    return KeyRing(keys, issuer)


def retire_key(key_dir: str | os.PathLike, kid: str) -> Path:
    """Stop signing and verifying with ``kid``: rename its file ``*.pem.retired``.

    Parameters
    ----------
    key_dir : str or path-like
        The key directory.
    kid : str
        The key id of an active key in ``key_dir``.

    Returns
    -------
    Path
        The retired file's new path (``{not_before_s}_{kid}.pem.retired``).

    Raises
    ------
    ProofError
        If ``key_dir`` holds no active key ``kid``.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> kid = generate_key(d)
    >>> retire_key(d, kid).suffix, load_signing_keys(d).keys
    ('.retired', [])
    """
    matches = [p for p in Path(key_dir).glob(f"*_{kid}.pem") if _KEY_FILE.fullmatch(p.name)]
    if not matches:
        raise ProofError(f"no active key {kid} in {key_dir}")
    target = matches[0].with_name(matches[0].name + ".retired")
    matches[0].rename(target)
    return target


def jwks(keyring: KeyRing, *, now: int | None = None) -> dict:
    """The public JWK Set of a ring, for ``/.well-known/jwks.json``; never private material.

    Parameters
    ----------
    keyring : KeyRing
        The keys to publish; every key is included, also those whose not-before time has not yet come.
    now : int, optional
        When the set is made, in Unix seconds (default: the clock).

    Returns
    -------
    dict
        ``{"keys": [...], "iat": now}``, newest not-before time first; each key is its OKP JWK (``kty``,
        ``crv``, ``x``) with ``kid``, ``"use": "sig"`` and ``"alg": "EdDSA"``. ``iat`` dates the set:
        offline verifiers refuse a set older than 24 h (:func:`miniapp.proofs.revocation.check_fresh`).

    References
    ----------
    .. [1] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE, sections 2 and 3.1.
    .. [2] RFC 7638, JSON Web Key (JWK) Thumbprint (the ``kid``).

    Examples
    --------
    >>> ring = KeyRing([Key("k", Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())])
    >>> sorted(jwks(ring)["keys"][0])
    ['alg', 'crv', 'kid', 'kty', 'use', 'x']
    """
    return {"keys": [{**public_jwk(k.public), "kid": k.kid, "use": "sig", "alg": "EdDSA"}
                     for k in sorted(keyring.keys, key=lambda k: (-k.not_before_s, k.kid))],
            "iat": int(time.time()) if now is None else int(now)}


def load_jwks(document: Mapping[str, Any] | str | bytes, *, issuer: str = DEFAULT_ISSUER) -> KeyRing:
    """A verify-only ring from a JWK Set (dict or JSON text). Keys other than Ed25519 are skipped.

    Parameters
    ----------
    document : mapping, str or bytes
        The JWK Set, parsed or as JSON text, with a list under ``keys``. A key without ``kid`` gets its
        thumbprint as kid.
    issuer : str
        The ring's issuer; default ``DEFAULT_ISSUER`` (``"riskcard"``).

    Returns
    -------
    KeyRing
        One :class:`Key` per OKP Ed25519 entry, in document order, without private key and with
        not-before time 0.

    Raises
    ------
    ProofError
        If the document is not a JWK Set, an Ed25519 key's ``x`` is not a 32-byte base64url key, or a
        key's ``kid`` is not its thumbprint.

    References
    ----------
    .. [1] RFC 8037, CFRG Elliptic Curve Diffie-Hellman (ECDH) and Signatures in JOSE, section 2.
    .. [2] RFC 7638, JSON Web Key (JWK) Thumbprint.

    Examples
    --------
    >>> ring = KeyRing([Key("", Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())])
    >>> doc = jwks(ring)
    >>> doc["keys"][0]["kid"] = jwk_thumbprint(doc["keys"][0])
    >>> len(load_jwks(json.dumps(doc)).keys)
    1
    """
    try:
        doc = json.loads(document) if isinstance(document, (str, bytes)) else document
        entries = doc["keys"]
        if not isinstance(entries, list):
            raise TypeError("keys is not a list")
    except (ValueError, TypeError, KeyError) as exc:
        raise ProofError(f"not a JWK Set: {exc}") from exc
    keys: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        try:
            raw = b64url_decode(entry["x"])
            public = Ed25519PublicKey.from_public_bytes(raw)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofError(f"bad Ed25519 key in JWK Set: {exc}") from exc
        kid = jwk_thumbprint(entry)
        if entry.get("kid", kid) != kid:
            raise ProofError(f"kid {entry.get('kid')!r} is not the thumbprint of its key")
        keys.append(Key(kid, public))
    return KeyRing(keys, issuer)
