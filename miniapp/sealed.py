"""Sealing small values for a cookie: AES-GCM under a key derived from the app secret.

The card flow must remember, for 10 minutes, which number a code was sent to. The session cookie is
signed but readable; a sealed value is neither readable nor forgeable by the browser.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _key(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"riskcard-seal:" + purpose.encode()).derive(secret)


def seal(text: str, secret: bytes, purpose: str) -> str:
    """Encrypt and authenticate ``text``; the result is URL-safe text.

    Examples
    --------
    >>> example = "+8613800138000"
    >>> s = seal(example, b"k" * 32, "otp")
    >>> "138" in s, unseal(s, b"k" * 32, "otp") == example
    (False, True)
    >>> unseal(s, b"k" * 32, "other") is None
    True
    """
    nonce = os.urandom(12)
    data = AESGCM(_key(secret, purpose)).encrypt(nonce, text.encode("utf-8"), purpose.encode())
    return base64.urlsafe_b64encode(nonce + data).decode("ascii")


def unseal(sealed: str, secret: bytes, purpose: str) -> str | None:
    """The text inside ``sealed``, or None if it was altered, sealed for another purpose or is junk."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        return AESGCM(_key(secret, purpose)).decrypt(raw[:12], raw[12:], purpose.encode()).decode("utf-8")
    except (InvalidTag, ValueError, UnicodeError, AttributeError):
        return None
