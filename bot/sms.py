"""The Twilio SMS webhooks: inbound messages (answered with TwiML) and delivery status callbacks.

Every request must carry a valid ``X-Twilio-Signature``: an HMAC of the URL Twilio called and the
POST parameters, keyed with the account's auth token. The URL is rebuilt from ``PUBLIC_URL`` (the
address Twilio was given), not from the request, so it validates behind a reverse proxy or a TLS
terminator. Anything unsigned, forged, or for another account gets a bare 403. When the account is
configured, a request must name it (``AccountSid``); a request without one is refused too.

A signed request can be captured and sent again: each inbound ``MessageSid`` is answered once in
``REPLAY_WINDOW_S`` (24 h, kept in the state store so every worker and host sees it); a replay gets an
empty answer and is counted (``replayed``).

The sender's number is normalised, turned into its pseudonym at once, and never logged or stored; logs
carry the masked form at most.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from bot import replies as R
from bot.conversation import conversation_for, services
from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.metrics import WEBHOOK

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)

# A 1600-character Chinese SMS is ~14 KB form-encoded, plus Twilio's other fields.
MAX_WEBHOOK_BYTES = 32 * 1024
OPTED_OUT_ERROR = 21610
# Twilio's message statuses (Message resource), as delivered to status callbacks.
STATUSES = frozenset({
    "accepted", "scheduled", "canceled", "queued", "sending", "sent", "failed", "delivered",
    "undelivered", "receiving", "received", "read", "partially_delivered",
})
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
REPLAY_WINDOW_S = 24 * 3600

_counts: Counter = Counter()
_counts_lock = threading.Lock()


def count(event: str) -> None:
    """Count an event of this process (``forged``, ``bad_sender``, ``error`` ...)."""
    with _counts_lock:
        _counts[event] += 1
    WEBHOOK.labels(event).inc()


def counts() -> dict[str, int]:
    """This process's counters, for health pages and tests.

    Examples
    --------
    >>> isinstance(counts(), dict)
    True
    """
    with _counts_lock:
        return dict(_counts)


def public_url_of_request() -> str:
    """The URL Twilio signed: ``PUBLIC_URL`` + this request's path and query string."""
    base = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    qs = request.query_string.decode("latin-1")
    return base + request.path + (f"?{qs}" if qs else "")


def signature_ok() -> bool:
    """True if the request is signed by Twilio for ``PUBLIC_URL`` and (if set) our account."""
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not token or not signature:
        return False
    validator = RequestValidator(str(token))
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not validator.validate(public_url_of_request(), request.form, signature, algorithm):
        return False
    account = current_app.config.get("TWILIO_ACCOUNT_SID")
    return not account or request.form.get("AccountSid") == account


def _forbidden() -> Response:
    count("forged")
    return Response(b"", status=403)


def _too_large() -> Response | None:
    length = request.content_length
    if length is not None and length > MAX_WEBHOOK_BYTES:
        count("too_large")
        return Response(b"", status=413)
    request.max_content_length = MAX_WEBHOOK_BYTES  # also caps chunked bodies
    return None


def twiml(text: str) -> Response:
    """A TwiML answer with one message (or none when ``text`` is empty).

    Examples
    --------
    >>> from flask import Flask
    >>> with Flask(__name__).app_context():
    ...     twiml("你好").get_data(as_text=True)
    '<?xml version="1.0" encoding="UTF-8"?><Response><Message>你好</Message></Response>'
    """
    resp = MessagingResponse()
    if text:
        resp.message(text)
    return Response(resp.to_xml(), status=200, mimetype="application/xml")


@bp.post("/sms/inbound")
def inbound() -> Response:
    """Twilio's webhook for an incoming SMS: answer it in the same request, with TwiML."""
    too_large = _too_large()
    if too_large is not None:
        return too_large
    if not signature_ok():
        return _forbidden()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    if not _SID.match(sid):
        count("bad_sid")
        return Response(b"", status=400)
    try:
        first_time = services()["state"].hit(f"sms:sid:{sid}", 1, REPLAY_WINDOW_S)
    except Exception as exc:  # noqa: BLE001 - without the store no answer can be checked for replay
        count("error")
        log.warning("sms replay check failed: %s", type(exc).__name__)
        return twiml(R.message("busy", "zh") + " " + R.message("busy", "en"))
    if not first_time:
        count("replayed")
        log.warning("replayed inbound sms %s refused", sid[:6] + "...")
        return twiml("")
    try:
        e164 = normalise_msisdn(request.form.get("From", ""))
    except PhoneNumberError:
        count("bad_sender")
        log.info("sms from an unreadable sender number")
        return twiml(R.message("bad_sender", "zh"))
    svc = services()
    uid = pseudonymise(e164, svc["pseudonym_key"])
    subject = uid_to_pseudonym(uid)
    masked = mask_msisdn(e164)
    body = request.form.get("Body", "")
    opt_out_type = (request.form.get("OptOutType") or "").upper()  # set by Twilio Advanced Opt-Out
    try:
        conv = conversation_for(current_app)
        if opt_out_type in ("STOP", "START"):
            conv.state.set_opt_out(subject, opt_out_type == "STOP", channel="sms")
            conv.state.audit("opt_out" if opt_out_type == "STOP" else "opt_in", subject=subject, channel="sms")
            count("opt_out_type")
            return twiml("")
        reply = conv.reply("sms", subject, body, uid=uid, masked=masked)
        count(f"intent_{reply.intent}")
        return twiml(reply.text)
    except Exception as exc:  # noqa: BLE001 - Twilio must always get an answer, the user a polite one
        count("error")
        log.warning("sms reply failed for %s: %s", masked, type(exc).__name__)
        return twiml(R.message("busy", "zh") + " " + R.message("busy", "en"))


@bp.post("/sms/status")
def status() -> Response:
    """Twilio's delivery status callback: record the status of a message we sent."""
    too_large = _too_large()
    if too_large is not None:
        return too_large
    if not signature_ok():
        return _forbidden()
    sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
    state_name = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").lower()
    if not _SID.match(sid) or state_name not in STATUSES:
        count("bad_status")
        return Response(b"", status=400)
    raw_code = request.form.get("ErrorCode") or ""
    error_code = int(raw_code) if raw_code.isdigit() else None
    try:
        state = services()["state"]
        state.update_message_status(sid, state_name, error_code)
        if error_code == OPTED_OUT_ERROR:
            _record_opt_out(state, request.form.get("To", ""))
    except Exception as exc:  # noqa: BLE001 - a non-2xx makes Twilio retry; the status is not lost
        count("error")
        log.warning("status callback not recorded: %s", type(exc).__name__)
        return Response(b"", status=503)
    count(f"status_{state_name}")
    return Response(b"", status=204)


def _record_opt_out(state, to: str) -> None:
    try:
        e164 = normalise_msisdn(to)
    except PhoneNumberError:
        return
    subject = uid_to_pseudonym(pseudonymise(e164, services()["pseudonym_key"]))
    state.set_opt_out(subject, True, channel="sms")
    state.audit("opt_out", subject=subject, channel="sms", source="error_21610")
