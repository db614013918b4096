"""One-time SMS codes as NIST SP 800-63B (5.1.3 out-of-band, 5.2.2 rate limiting) describes them.

- 6 digits from :mod:`secrets`; valid ``CODE_TTL_S`` (10 minutes); used once; a new request replaces
  the previous code.
- Only a keyed hash is stored: HMAC-SHA256(app secret, subject + code). A leaked state store does not
  reveal codes, and the 10**6 possible codes cannot be tried offline without the secret. The store
  compares hashes in constant time.
- At most ``MAX_CODE_FAILURES`` (100) wrong codes per number, then the number is locked until an
  operator unlocks it or the 24 h cool-off passes (:mod:`miniapp.state`).
- Codes go only to the numbers the service is for (:class:`OtpPolicy`): mobile numbers of the allowed
  regions (default mainland China) that are valid in their numbering plan (the ``phonenumbers``
  library: premium-rate, satellite, shared-cost, VoIP and fixed-line numbers are refused). SMS
  pumping fraud sends codes to numbers the fraudster is paid for, often abroad or premium.
- Requests are limited per number, per client IP, per number prefix (``+86`` and the first 7
  digits: one range gets a budget of its own), and by a global hourly and daily budget of codes
  for the whole service, so that rotating addresses and prefixes cannot run up the bill. Checks
  are limited per number and per IP too.

The subject under which a number's code is kept is its pseudonym (``forecast.phones``); the raw
number reaches neither the store nor the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Mapping

import phonenumbers
from phonenumbers import PhoneNumberType

from forecast.phones import PhoneNumberError, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.metrics import CODE_CHECKS, CODES, counts_outcome
from miniapp.state import StateStore

log = logging.getLogger(__name__)

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
REQUEST_REASONS = ("sent", "invalid_number", "region_not_allowed", "not_mobile", "locked", "rate_limited_ip",
                   "rate_limited_number", "rate_limited_prefix", "budget_exhausted")
#: Number types a code may go to: only numbers a person carries (FIXED_LINE_OR_MOBILE: plans such as
#: the US's that do not tell the two apart).
SMS_NUMBER_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
#: Share of a budget used at which the service logs a warning (and /metrics shows it).
BUDGET_WARN_SHARE = 0.8


@dataclass(frozen=True)
class OtpPolicy:
    """Who may be sent a code, and how many codes the whole service sends.

    Attributes
    ----------
    allowed_regions : tuple of str
        ISO 3166 regions whose mobile numbers may get a code (``RISKCARD_OTP_ALLOWED_REGIONS``).
    hourly_budget, daily_budget : int
        Codes the service sends in any hour / day, all numbers together (``RISKCARD_OTP_HOURLY_BUDGET``,
        ``RISKCARD_OTP_DAILY_BUDGET``).
    """

    allowed_regions: tuple[str, ...] = ("CN",)
    hourly_budget: int = 2000
    daily_budget: int = 20000

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> "OtpPolicy":
        """The policy of the app's settings (missing settings keep the defaults).

        Parameters
        ----------
        config : mapping
            ``OTP_ALLOWED_REGIONS`` (comma-separated), ``OTP_HOURLY_BUDGET``, ``OTP_DAILY_BUDGET``.

        Returns
        -------
        OtpPolicy

        Examples
        --------
        >>> OtpPolicy.from_config({"OTP_ALLOWED_REGIONS": "cn, HK", "OTP_HOURLY_BUDGET": "5"})
        OtpPolicy(allowed_regions=('CN', 'HK'), hourly_budget=5, daily_budget=20000)
        """
        d = cls()
        regions = str(config.get("OTP_ALLOWED_REGIONS") or ",".join(d.allowed_regions))
        return cls(tuple(r.strip().upper() for r in regions.split(",") if r.strip()),
                   int(config.get("OTP_HOURLY_BUDGET") or d.hourly_budget),
                   int(config.get("OTP_DAILY_BUDGET") or d.daily_budget))

    @property
    def budgets(self) -> tuple[tuple[str, int, int], ...]:
        """(bucket, limit, window_s) of the global budgets."""
        return (("otp:budget:1h", self.hourly_budget, 3600), ("otp:budget:24h", self.daily_budget, 24 * 3600))


def destination_refusal(number_e164: str, allowed_regions: tuple[str, ...] = ("CN",)) -> str | None:
    """Why a code may not be sent to ``number_e164``, or None when it may.

    Parameters
    ----------
    number_e164 : str
        A normalised number.
    allowed_regions : tuple of str
        ISO 3166 regions whose mobile numbers are served.

    Returns
    -------
    str or None
        ``'invalid_number'`` (not valid in its numbering plan), ``'region_not_allowed'`` (another
        region, or an international network such as satellite phones), ``'not_mobile'`` (fixed line,
        premium rate, shared cost, VoIP, pager ...), or None.

    Examples
    --------
    >>> example, fixed, satellite, us = "+8613800138000", "+861012345678", "+882161234567", "+14155550100"
    >>> destination_refusal(example) is None
    True
    >>> destination_refusal(fixed), destination_refusal(satellite), destination_refusal(us)
    ('not_mobile', 'region_not_allowed', 'region_not_allowed')
    >>> destination_refusal(us, ("CN", "US")) is None
    True
    """
    try:
        parsed = phonenumbers.parse(number_e164, None)
    except phonenumbers.NumberParseException:
        return "invalid_number"
    if not phonenumbers.is_valid_number(parsed):
        return "invalid_number"
    if phonenumbers.region_code_for_number(parsed) not in allowed_regions:
        return "region_not_allowed"
    if phonenumbers.number_type(parsed) not in SMS_NUMBER_TYPES:
        return "not_mobile"
    return None
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


def _request_buckets(subject: str, number: str, ip: str | None) -> dict[str, str]:
    return {"ip": f"otp:req:ip:{ip}", "number": f"otp:req:n:{subject}", "prefix": f"otp:req:p:{number_prefix(number)}"}


def _verify_buckets(subject: str, ip: str | None) -> dict[str, str]:
    return {"number": f"otp:chk:n:{subject}", "ip": f"otp:chk:ip:{ip}"}


def retry_after_s(state: StateStore, number_e164: str, ip: str | None, *, secret: bytes,
                  pseudonym_key: bytes | None = None, verify: bool = False,
                  policy: OtpPolicy = OtpPolicy()) -> int:
    """Seconds until no rate limit refuses :func:`request_code` (or :func:`verify_code`) any more.

    What a 429 puts in ``Retry-After``: the longest wait among the rules that refuse now (every rule
    must allow). Nothing is counted.

    Parameters
    ----------
    state : StateStore
        The store holding the limits' sliding windows.
    number_e164 : str
        The number asked for (or checked), as given to ``request_code`` / ``verify_code``.
    ip : str or None
        The client's address; None skips the per-IP check limit, as ``verify_code`` does.
    secret : bytes
        The app secret.
    pseudonym_key : bytes, optional
        Key of the number's pseudonym; ``secret`` if not given.
    verify : bool
        The check limits (``VERIFY_LIMITS``) instead of the request limits and global budgets.
    policy : OtpPolicy
        Whose global budgets count (requests only).

    Returns
    -------
    int
        0 if no limit refuses now, or the number is not valid (a lock is not a rate limit).

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> st = open_state("sqlite:///:memory:", clock=lambda: 1_600_000_000)
    >>> example = "+8613800138000"
    >>> [request_code(st, example, "203.0.113.9", secret=b"s" * 32)[1] for _ in range(4)][-1]
    'rate_limited_number'
    >>> retry_after_s(st, example, "203.0.113.9", secret=b"s" * 32)
    900
    """
    number = _check_number(number_e164)
    if number is None:
        return 0
    subject = subject_of(number, _key(secret, pseudonym_key))
    if verify:
        buckets = _verify_buckets(subject, ip)
        rules = [(f"{buckets[kind]}:{w}", limit, w) for kind, limit, w in VERIFY_LIMITS
                 if kind != "ip" or ip is not None]
    else:
        buckets = _request_buckets(subject, number, ip)
        rules = [(f"{buckets[kind]}:{w}", limit, w) for kind, limit, w in REQUEST_LIMITS] + list(policy.budgets)
    return max((state.retry_after_s(bucket, limit, w) for bucket, limit, w in rules), default=0)


@counts_outcome(CODES, lambda r: r[1], lambda r: r[len('rate_limited_'):] if r.startswith('rate_limited_') else None)
def request_code(state: StateStore, number_e164: str, ip: str, *, secret: bytes,
                 pseudonym_key: bytes | None = None, now: int | None = None,
                 policy: OtpPolicy = OtpPolicy()) -> tuple[str | None, str]:
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
    policy : OtpPolicy
        Which numbers may get a code, and the service's global budget of codes.

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
    refusal = destination_refusal(number, policy.allowed_regions)
    if refusal is not None:
        state.audit("otp.request", subject, result=refusal)
        return None, refusal
    if state.code_locked(subject):
        state.audit("otp.request", subject, result="locked")
        return None, "locked"
    buckets = _request_buckets(subject, number, ip)
    for kind, limit, window_s in REQUEST_LIMITS:
        if not state.hit(f"{buckets[kind]}:{window_s}", limit, window_s):
            reason = f"rate_limited_{kind}"
            state.audit("otp.request", subject, result=reason)
            return None, reason
    for bucket, limit, window_s in policy.budgets:  # last: a refused request spends no budget
        if not state.hit(bucket, limit, window_s):
            log.error("the global budget of one-time codes is spent (%d per %d s): no code sent", limit, window_s)
            state.audit("otp.request", subject, result="budget_exhausted")
            return None, "budget_exhausted"
        # a shadow bucket at BUDGET_WARN_SHARE of the budget: once it is full, every code is near the cap
        if not state.hit(f"{bucket}:warn", max(1, int(limit * BUDGET_WARN_SHARE)), window_s):
            log.warning("one-time codes near the global budget: over %d%% of %d per %d s used",
                        int(BUDGET_WARN_SHARE * 100), limit, window_s)
    code = generate_code()
    state.put_code(subject, hash_code(code, subject, secret=bytes(secret)), CODE_TTL_S)
    state.audit("otp.request", subject, result="sent")
    return code, "sent"


@counts_outcome(CODE_CHECKS, str, lambda r: 'code_checks' if r == 'rate_limited' else None)
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
    buckets = _verify_buckets(subject, ip)
    for kind, limit, window_s in VERIFY_LIMITS:
        if kind == "ip" and ip is None:
            continue
        if not state.hit(f"{buckets[kind]}:{window_s}", limit, window_s):
            state.audit("otp.verify", subject, result="rate_limited")
            return "rate_limited"
    result = state.check_code(subject, hash_code(typed, subject, secret=bytes(secret)))
    state.audit("otp.verify", subject, result=result)
    return result
