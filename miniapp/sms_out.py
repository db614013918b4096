"""Outbound SMS for one-time codes and alerts: the demo outbox or Twilio's REST API.

Whatever the backend, the state store records the message with the masked number only.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping

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


def send_sms(config: Mapping[str, object], state, to_e164: str, body: str, *, purpose: str, subject: str | None = None) -> dict:
    """Send ``body`` to ``to_e164`` and record it; returns the recorded message (masked).

    Examples
    --------
    >>> class S:
    ...     def record_message(self, m): self.m = m
    >>> s = S()
    >>> example = "+8613800138000"
    >>> send_sms({"SMS_BACKEND": "outbox"}, s, example, "code 123456", purpose="otp")["to"]
    '138****8000'
    """
    message = {
        "to": mask_msisdn(to_e164),
        "subject": subject,
        "body": body,
        "purpose": purpose,
        "ts": int(time.time()),
    }
    backend = str(config.get("SMS_BACKEND", "outbox"))
    if backend == "outbox":
        message.update(sid="OUT" + secrets.token_hex(16), status="outbox")
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
