"""Settings: one name each, read from the environment with the ``RISKCARD_`` prefix.

Flask keeps them without the prefix (``RISKCARD_STATE_URL`` -> ``app.config["STATE_URL"]``).
docs/settings.md lists every one. There is no default secret: secrets must be set, or generated
into the instance folder by ``riskcard demo`` for a local demo.
"""

from __future__ import annotations

import os

# name (without prefix) -> (default, description). None default = must be set where it is used.
SETTINGS: dict[str, tuple[object, str]] = {
    "SNAPSHOT_DIR": ("var/snapshots", "Directory of published snapshots; the served one is named by its CURRENT file."),
    "STATE_URL": ("sqlite:///var/state.db", "State store: sqlite:///PATH (WAL, one host) or redis://HOST:PORT/DB."),
    "PSEUDONYM_KEY": (None, "Hex key (>= 16 bytes) of the HMAC that turns phone numbers into pseudonyms."),
    "SECRET_KEY": (None, "Flask secret for sessions and CSRF tokens."),
    "SIGNING_KEY_DIR": ("var/keys", "Directory of Ed25519 signing keys (PEM); the newest signs, all verify."),
    "PUBLIC_URL": ("http://127.0.0.1:8000", "Public base URL: card links, QR codes, Twilio signature checks."),
    "TZ": ("Asia/Shanghai", "IANA time zone of local days."),
    "SMS_BACKEND": ("outbox", "outbox (write messages to the state store's outbox, for demos) or twilio."),
    "TWILIO_ACCOUNT_SID": (None, "Twilio account SID (SMS_BACKEND=twilio)."),
    "TWILIO_AUTH_TOKEN": (None, "Twilio auth token: signs webhooks and authenticates the REST API."),
    "TWILIO_FROM": (None, "Sender number or Messaging Service SID for outbound SMS."),
    "TWILIO_API_BASE": (None, "Override of Twilio's API base URL (tests point it at a local stub)."),
    "SMS_NUMBER": (None, "The number people text to reach the SMS bot, as shown in HELP replies and on the chat."),
    "TRUST_PROXY_HOPS": (0, "Number of reverse proxies in front whose X-Forwarded-* headers are trusted."),
    "MAX_CONTENT_LENGTH": (64 * 1024, "Largest request body accepted, in bytes."),
    "OTP_ALLOWED_REGIONS": ("CN", "Comma-separated ISO regions whose mobile numbers may be sent a one-time code."),
    "OTP_HOURLY_BUDGET": (2000, "One-time codes the whole service sends in any hour (SMS pumping guard)."),
    "OTP_DAILY_BUDGET": (20000, "One-time codes the whole service sends in any 24 hours."),
    "METRICS_TOKEN": (None, "Bearer token that lets a non-loopback scraper read /metrics (else loopback only)."),
    "DEMO": (0, "1 enables demo-only pages: /outbox shows the demo outbox file, one-time codes included."),
    "DEMO_OUTBOX": (None, "Demo only (DEMO=1, SMS_BACKEND=outbox): file of the messages as sent, shown at /outbox."),
}


def env_name(name: str) -> str:
    """The environment variable of a setting.

    Examples
    --------
    >>> env_name("STATE_URL")
    'RISKCARD_STATE_URL'
    """
    return f"RISKCARD_{name}"


def defaults() -> dict[str, object]:
    """Default values of the settings that have one."""
    return {k: v for k, (v, _) in SETTINGS.items() if v is not None}


def from_environ(environ: "os._Environ[str] | dict[str, str] | None" = None) -> dict[str, object]:
    """Settings given in the environment, without prefix, typed like their defaults."""
    environ = os.environ if environ is None else environ
    out: dict[str, object] = {}
    for name, (default, _) in SETTINGS.items():
        raw = environ.get(env_name(name))
        if raw is None:
            continue
        out[name] = int(raw) if isinstance(default, int) else raw
    return out
