"""Settings: one name each, read from the environment with the ``RISKCARD_`` prefix.

Flask keeps them without the prefix (``RISKCARD_STATE_URL`` -> ``app.config["STATE_URL"]``).
docs/settings.md lists every one. There is no default secret: secrets must be set, or generated
into the instance folder by ``riskcard demo`` for a local demo.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

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
    "METRICS_PORT": (0, "Loopback port of the internal metrics listener gunicorn's master starts (0: none)."),
    "DEMO": (0, "1 enables demo-only pages: /outbox shows the demo outbox file, one-time codes included."),
    "DEMO_OUTBOX": (None, "Demo only (DEMO=1, SMS_BACKEND=outbox): file of the messages as sent, shown at /outbox."),
    "TILE_URL": (None, "Map tile server, a Leaflet URL template (https://tiles.example/{z}/{x}/{y}.png); unset: the built-in SVG map. Its host is the only one the CSP adds to img-src."),
    "TILE_CRS": ("wgs84", "Coordinate system of the tiles: wgs84, or gcj02 for Chinese providers (points are shifted to it)."),
    "TILE_ATTRIBUTION": ("", "Attribution text the tile provider requires, shown on the map."),
    "SNAPSHOT_SOURCE": (None, "App hosts: the build host's snapshot directory (http(s) URL or path) riskcard snapshot-pull copies."),
    "CROWD_DIR": ("var/crowd", "Directory of the crowd store (crowd.db), replaced whole by each `riskcard crowd refresh`."),
    "CROWD_MARKETS": (None, "The markets feed (markets.csv: market_id, name, city_code, lon, lat, cell_ids ...)."),
    "CROWD_PINGS": (None, "The carrier's latest pings for crowding: a pings feed file or a folder of part-* files."),
    "CROWD_CELLS": (None, "Optional cells feed; markets naming an unknown cell are quarantined."),
    "CROWD_LOOKBACK_MINUTES": (60, "Pings (and ping files) older than this are not read by a crowd refresh."),
    "CROWD_STALE_MINUTES": (30, "Newest ping, or the crowd store, older than this: markets say 'data too old', no colour."),
}

# Secrets may instead be given as a file: RISKCARD_<NAME>_FILE names a file holding the value (systemd
# credentials, Docker/Kubernetes secrets); the variable itself wins when both are set.
SECRET_FILE_SETTINGS = ("PSEUDONYM_KEY", "SECRET_KEY", "TWILIO_AUTH_TOKEN", "STATE_URL")


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
        if raw is None and name in SECRET_FILE_SETTINGS and environ.get(env_name(name) + "_FILE"):
            raw = read_secret_file(environ[env_name(name) + "_FILE"], env_name(name) + "_FILE")
        if raw is None:
            continue
        out[name] = int(raw) if isinstance(default, int) else raw
    return out


def read_secret_file(path: str, setting: str = "secret file") -> str:
    """The value held in a secret file (``RISKCARD_<NAME>_FILE``), without surrounding white space.

    Parameters
    ----------
    path : str
        The file (``$CREDENTIALS_DIRECTORY/secret_key`` under systemd's ``LoadCredential=``).
    setting : str
        The variable that named it, for the error message.

    Returns
    -------
    str
        The secret.

    Raises
    ------
    RuntimeError
        If the file cannot be read or is empty (a service never starts with an empty secret).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
    ...     _ = f.write("ab" * 16 + " ")
    >>> from_environ({"RISKCARD_PSEUDONYM_KEY_FILE": f.name})["PSEUDONYM_KEY"] == "ab" * 16
    True
    """
    try:
        with open(path, encoding="utf-8") as f:
            value = f.read().strip()
    except OSError as exc:
        raise RuntimeError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    if not value:
        raise RuntimeError(f"{setting}: {path} is empty")
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (``deploy/app/logging.json`` gives it to gunicorn and the app).

    Examples
    --------
    >>> rec = logging.LogRecord("riskcard", logging.WARNING, __file__, 1, "state store %s", ("down",), None)
    >>> json.loads(JsonFormatter().format(rec))["message"]
    'state store down'
    """

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage(),
               "pid": record.process}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)
