"""Outbound SMS for one-time codes and alerts: the demo outbox or Twilio's REST API.

Whatever the backend, the state store records the message with the masked number only, and with
any one-time code in it masked (``secret=``): no code is ever stored in plain text there. Only a
demo (``RISKCARD_DEMO=1`` with ``RISKCARD_SMS_BACKEND=outbox``) keeps the messages as sent, in a file
of its own (``RISKCARD_DEMO_OUTBOX``) that production never writes, so that a demo user can read a
code sent to a test number at ``/outbox``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from forecast.phones import mask_msisdn

log = logging.getLogger(__name__)


class SmsUnavailable(RuntimeError):
    """The SMS backend could not take the message."""


def twilio_client(config: Mapping[str, object]):
    """A twilio REST client from settings, pointed at TWILIO_API_BASE when set (tests, stubs)."""
    from twilio.rest import Client

    sid, token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise SmsUnavailable("RISKCARD_TWILIO_ACCOUNT_SID and RISKCARD_TWILIO_AUTH_TOKEN must be set for SMS_BACKEND=twilio")
    client = Client(str(sid), str(token))
    base = config.get("TWILIO_API_BASE")
    if base:
        client.api.base_url = str(base).rstrip("/")
    return client


CODE_MASK = "******"
DEMO_OUTBOX_KEEP = 200  # messages the demo outbox file keeps


def demo_outbox_path(config: Mapping[str, object]) -> Path | None:
    """The demo's outbox file, or None unless this is a demo sending to the outbox.

    Parameters
    ----------
    config : mapping
        ``DEMO``, ``SMS_BACKEND`` and ``DEMO_OUTBOX``.

    Returns
    -------
    Path or None

    Examples
    --------
    >>> demo_outbox_path({"DEMO": 1, "SMS_BACKEND": "outbox", "DEMO_OUTBOX": "var/demo/outbox.jsonl"}).name
    'outbox.jsonl'
    >>> demo_outbox_path({"DEMO": 0, "SMS_BACKEND": "outbox", "DEMO_OUTBOX": "x"}) is None
    True
    """
    if not int(config.get("DEMO") or 0) or config.get("SMS_BACKEND", "outbox") != "outbox":
        return None
    path = config.get("DEMO_OUTBOX")
    return Path(str(path)) if path else None


def read_demo_outbox(path: Path, limit: int = 20) -> list[dict]:
    """The demo outbox's newest messages first, as sent (codes included).

    Parameters
    ----------
    path : Path
        The file (:func:`demo_outbox_path`).
    limit : int
        Messages returned at most.

    Returns
    -------
    list of dict
        ``ts``, ``to`` (masked), ``body`` (as sent), ``purpose``.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    out = []
    for line in reversed(lines[-max(0, int(limit)):]):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _append_demo_outbox(path: Path, message: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(message, ensure_ascii=False) + "\n")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) > 2 * DEMO_OUTBOX_KEEP:  # trim now and then; a demo never needs more
        tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines[-DEMO_OUTBOX_KEEP:]) + "\n")
        os.replace(tmp, path)


def send_sms(config: Mapping[str, object], state, to_e164: str, body: str, *, purpose: str,
             subject: str | None = None, secret: str | None = None) -> dict:
    """Send ``body`` to ``to_e164`` and record it; returns the recorded message (masked).

    Parameters
    ----------
    config : mapping
        ``SMS_BACKEND`` (``outbox`` or ``twilio``), the Twilio settings, ``DEMO``, ``DEMO_OUTBOX``.
    state : StateStore
        Where the message is recorded (masked number, masked code).
    to_e164 : str
        The destination.
    body : str
        The text sent.
    purpose : str
        ``otp``, ``alert`` ...: what the message is for.
    subject : str, optional
        The destination's pseudonym.
    secret : str, optional
        A one-time code inside ``body``: sent, but recorded as ``******``.

    Returns
    -------
    dict
        The recorded message: ``to`` (masked), ``subject``, ``body`` (code masked), ``purpose``,
        ``ts``, ``sid``, ``status``.

    Raises
    ------
    SmsUnavailable
        When the backend could not take the message.

    Examples
    --------
    >>> class S:
    ...     def record_message(self, m): self.m = m
    >>> s = S()
    >>> example = "+8613800138000"
    >>> m = send_sms({"SMS_BACKEND": "outbox"}, s, example, "code 123456", purpose="otp", secret="123456")
    >>> m["to"], m["body"]
    ('138****8000', 'code ******')
    """
    recorded = body.replace(secret, CODE_MASK) if secret else body
    message = {
        "to": mask_msisdn(to_e164),
        "subject": subject,
        "body": recorded,
        "purpose": purpose,
        "ts": int(time.time()),
    }
    backend = str(config.get("SMS_BACKEND", "outbox"))
    if backend == "outbox":
        message.update(sid="OUT" + secrets.token_hex(16), status="outbox")
        demo = demo_outbox_path(config)
        if demo is not None:
            _append_demo_outbox(demo, {"ts": message["ts"], "to": message["to"], "body": body, "purpose": purpose})
    elif backend == "twilio":
        from twilio.base.exceptions import TwilioException

        kwargs = {"to": to_e164, "body": body}
        sender = str(config.get("TWILIO_FROM") or "")
        kwargs["messaging_service_sid" if sender.startswith("MG") else "from_"] = sender
        public = str(config.get("PUBLIC_URL", "")).rstrip("/")
        if public.startswith("https://"):
            kwargs["status_callback"] = public + "/sms/status"
        try:
            sent = twilio_client(config).messages.create(**kwargs)
        except TwilioException as exc:
            log.warning("SMS to %s failed: %s", message["to"], exc)
            message.update(sid=None, status="failed", error=str(getattr(exc, "code", "") or "error"))
            state.record_message(message)
            raise SmsUnavailable("the SMS could not be sent") from exc
        message.update(sid=sent.sid, status=sent.status or "queued")
    else:
        raise SmsUnavailable(f"unknown SMS_BACKEND {backend!r}: use outbox or twilio")
    state.record_message(message)
    return message
