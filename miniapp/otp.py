"""One-time SMS codes as NIST SP 800-63B (5.1.3 out-of-band, 5.2.2 rate limiting) describes them.

- 6 digits from :mod:`secrets`; valid ``CODE_TTL_S`` (10 minutes); used once; a new request replaces
  the previous code.
- Only a keyed hash is stored: HMAC-SHA256(app secret, subject + code). A leaked state store does not
  reveal codes, and the 10**6 possible codes cannot be tried offline without the secret. The store
  compares hashes in constant time.
- At most ``MAX_CODE_FAILURES`` (100) wrong codes per number, then the number is locked until an
  operator unlocks it or the 24 h cool-off passes (:mod:`miniapp.state`).
- Requests are limited per number, per client IP, and per number prefix (``+86`` and the first 7
  digits): SMS pumping fraud sends codes to ranges of numbers the fraudster is paid for, so one range
  gets a budget of its own. Checks are limited per number and per IP too.

The subject under which a number's code is kept is its pseudonym (``forecast.phones``); the raw
number reaches neither the store nor the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from forecast.phones import PhoneNumberError, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.state import StateStore

CODE_DIGITS = 6
CODE_TTL_S = 10 * 60

# (bucket kind, limit, window_s): every rule must allow the request.
REQUEST_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("ip", 10, 3600),
    ("ip", 30, 24 * 3600),
    ("number", 3, 15 * 60),
    ("number", 10, 24 * 3600),
    ("prefix", 20, 3600),
    ("prefix", 100, 24 * 3600),
)
VERIFY_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("number", 10, 15 * 60),
    ("ip", 60, 15 * 60),
)
REQUEST_REASONS = ("sent", "invalid_number", "locked", "rate_limited_ip", "rate_limited_number",
                   "rate_limited_prefix")
VERIFY_RESULTS = ("ok", "wrong", "expired", "missing", "locked", "invalid", "rate_limited")


def generate_code() -> str:
    """A uniformly random 6-digit code from the operating system's secure generator.

    Examples
    --------
    >>> c = generate_code()
    >>> len(c), c.isdigit()
    (6, True)
    """
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def subject_of(number_e164: str, key: bytes) -> str:
    """The pseudonym under which ``number_e164``'s code, limits and consent are kept.

    Examples
    --------
    >>> example = "+8613800138000"
    >>> subject_of(example, b"k" * 32)
    '68ba9da759ce5549'
    """
    return uid_to_pseudonym(pseudonymise(number_e164, key))


def hash_code(code: str, subject: str, *, secret: bytes) -> str:
    """Keyed hash of a code, bound to its subject (a code for one number is useless for another).

    Examples
    --------
    >>> len(hash_code("123456", "68ba9da759ce5549", secret=b"s" * 32))
    64
    >>> hash_code("123456", "a", secret=b"s" * 32) == hash_code("123456", "b", secret=b"s" * 32)
    False
    """
    return hmac.new(secret, f"{subject}:{code}".encode(), hashlib.sha256).hexdigest()


def number_prefix(number_e164: str) -> str:
    """The range a number belongs to, for SMS-pumping limits: ``+86`` and 7 digits, else ``+`` and 7.

    Examples
    --------
    >>> example, us_example = "+8613800138000", "+14155550100"
    >>> number_prefix(example)
    '+861380013'
    >>> number_prefix(us_example)
    '+1415555'
    """
    return number_e164[:10] if number_e164.startswith("+86") else number_e164[:8]


def clean_code(text: object) -> str | None:
    """The 6 ASCII digits typed (full-width digits and spaces allowed), or None if it is not a code.

    Examples
    --------
    >>> clean_code(" １２３ ４５６ ")
    '123456'
    >>> clean_code("12345") is None, clean_code("١٢٣٤٥٦") is None
    (True, True)
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    s = "".join(unicodedata.normalize("NFKC", text).split())
    return s if len(s) == CODE_DIGITS and s.isascii() and s.isdigit() else None


def _check_number(number_e164: object) -> str | None:
    if not isinstance(number_e164, str):
        return None
    try:
        return number_e164 if normalise_msisdn(number_e164) == number_e164 else None
    except PhoneNumberError:
        return None


def _key(secret: bytes, pseudonym_key: bytes | None) -> bytes:
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < 16:
        raise ValueError("secret must be at least 16 bytes")
    return bytes(pseudonym_key if pseudonym_key is not None else secret)


def request_code(state: StateStore, number_e164: str, ip: str, *, secret: bytes,
                 pseudonym_key: bytes | None = None, now: int | None = None) -> tuple[str | None, str]:
    """Issue a new code for ``number_e164`` if the limits allow; the caller sends it by SMS.

    Parameters
    ----------
    state : StateStore
        Where the code's hash, the limits and the audit entry go.
    number_e164 : str
        A normalised number (``forecast.phones.normalise_msisdn``).
    ip : str
        The client's address (after trusted proxies).
    secret : bytes
        The app secret that keys the code hash.
    pseudonym_key : bytes, optional
        Key of the number's pseudonym (``RISKCARD_PSEUDONYM_KEY``); ``secret`` if not given.
    now : int, optional
        Unused by the logic (the store's clock rules); kept for symmetry with other APIs.

    Returns
    -------
    (code or None, reason)
        ``reason`` is one of ``REQUEST_REASONS``; a code only with ``'sent'``.

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> st = open_state("sqlite:///:memory:")
    >>> example, national_example = "+8613800138000", "13800138000"
    >>> code, reason = request_code(st, example, "203.0.113.9", secret=b"s" * 32)
    >>> reason, len(code)
    ('sent', 6)
    >>> verify_code(st, example, code, secret=b"s" * 32), verify_code(st, example, code, secret=b"s" * 32)
    ('ok', 'missing')
    >>> request_code(st, national_example, "203.0.113.9", secret=b"s" * 32)
    (None, 'invalid_number')
    """
    key = _key(secret, pseudonym_key)
    number = _check_number(number_e164)
    if number is None:
        return None, "invalid_number"
    subject = subject_of(number, key)
    if state.code_locked(subject):
        state.audit("otp.request", subject, result="locked")
        return None, "locked"
    buckets = {"ip": f"otp:req:ip:{ip}", "number": f"otp:req:n:{subject}",
               "prefix": f"otp:req:p:{number_prefix(number)}"}
    for kind, limit, window_s in REQUEST_LIMITS:
        if not state.hit(f"{buckets[kind]}:{window_s}", limit, window_s):
            reason = f"rate_limited_{kind}"
            state.audit("otp.request", subject, result=reason)
            return None, reason
    code = generate_code()
    state.put_code(subject, hash_code(code, subject, secret=bytes(secret)), CODE_TTL_S)
    state.audit("otp.request", subject, result="sent")
    return code, "sent"


def verify_code(state: StateStore, number_e164: str, code: str, *, secret: bytes,
                pseudonym_key: bytes | None = None, ip: str | None = None) -> str:
    """Check a typed code; ``'ok'`` consumes it.

    Returns one of ``VERIFY_RESULTS``: ``ok``, ``wrong``, ``expired``, ``missing`` (none issued, or
    already used), ``locked`` (too many failures), ``invalid`` (not a number or not 6 digits; not
    counted as a failure) or ``rate_limited`` (too many checks for this number or IP).

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> st = open_state("sqlite:///:memory:")
    >>> example = "+8613800138000"
    >>> verify_code(st, example, "12345x", secret=b"s" * 32)
    'invalid'
    """
    key = _key(secret, pseudonym_key)
    number = _check_number(number_e164)
    typed = clean_code(code)
    if number is None or typed is None:
        return "invalid"
    subject = subject_of(number, key)
    buckets = {"number": f"otp:chk:n:{subject}", "ip": f"otp:chk:ip:{ip}"}
    for kind, limit, window_s in VERIFY_LIMITS:
        if kind == "ip" and ip is None:
            continue
        if not state.hit(f"{buckets[kind]}:{window_s}", limit, window_s):
            state.audit("otp.verify", subject, result="rate_limited")
            return "rate_limited"
    result = state.check_code(subject, hash_code(typed, subject, secret=bytes(secret)))
    state.audit("otp.verify", subject, result=result)
    return result
