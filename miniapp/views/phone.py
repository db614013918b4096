"""The demo phone (``/demo/phone``, only with ``RISKCARD_DEMO=1``): text the SMS bot as a demo test number.

The demo sends and receives no real SMS, and the bot answers only requests signed as Twilio signs
them. This page plays the phone and Twilio's part. A message typed as one of the demo's test numbers
is posted to ``/sms/inbound`` with the form fields Twilio sends (a fresh ``MessageSid`` each time, the
demo's ``AccountSid``, ``From``, ``To`` = ``RISKCARD_SMS_NUMBER``, ``Body``) and an
``X-Twilio-Signature`` made by twilio's own ``RequestValidator.compute_signature`` with the demo's auth
token over ``PUBLIC_URL/sms/inbound``, the URL the webhook checks. The request goes through this
server's own WSGI app in-process (werkzeug's test client on ``app.wsgi_app``): the same middleware,
hooks and webhook code as a request from Twilio, but no socket, so a single-threaded server cannot wait
on itself and nothing leaves the process. The TwiML answer is shown as SMS bubbles.

The conversation is kept in the state store (a random id in the session cookie, one thread per test
number, pseudonymous key); the page never stores a number.
"""

from __future__ import annotations

import logging
import re
import secrets
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session
from twilio.request_validator import RequestValidator
from werkzeug.test import Client

from forecast.phones import PhoneNumberError, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.cards import COLOUR_NAMES, COLOURS
from miniapp.demo import pick_people
from miniapp.i18n import tr

log = logging.getLogger(__name__)

bp = Blueprint("phone", __name__)

#: Twilio's longest inbound message body (10 segments).
MAX_BODY_CHARS = 1600
#: Bubbles kept per thread, and how long a thread is kept.
MAX_BUBBLES = 30
THREAD_TTL_S = 3600
#: The ``To`` of the demo's messages when ``RISKCARD_SMS_NUMBER`` is not set: Twilio's test number.
DEFAULT_TO = "+15005550006"
_SESSION_KEY = "demo_phone"
_SENDER_KEY = "demo_phone_sender"
_NUMBERS_CACHE = "riskcard.demo_phone_numbers"
# The state store holds no number (it refuses runs of 11 or more digits): in a stored bubble the service
# number is this mark, put back when shown, and any other long run of digits is masked.
_TO_MARK = "\u2063TO\u2063"
_LONG_DIGITS = re.compile(r"\+?\d{11,}")


def phone_enabled(config) -> bool:
    """Whether the demo phone is served: ``DEMO=1`` and a Twilio auth token to sign with.

    Parameters
    ----------
    config : mapping
        The app's settings (``DEMO``, ``TWILIO_AUTH_TOKEN``).

    Returns
    -------
    bool

    Examples
    --------
    >>> phone_enabled({"DEMO": "1", "TWILIO_AUTH_TOKEN": "t"}), phone_enabled({"DEMO": 0, "TWILIO_AUTH_TOKEN": "t"})
    (True, False)
    """
    try:
        demo = int(config.get("DEMO") or 0)
    except (TypeError, ValueError):
        demo = 0
    return bool(demo) and bool(config.get("TWILIO_AUTH_TOKEN"))


def twilio_request(public_url: str, token: str, account_sid: str, sender: str, to: str,
                   body: str) -> tuple[str, dict[str, str], str]:
    """An inbound SMS as Twilio posts it: the webhook URL, the form fields and their signature.

    Parameters
    ----------
    public_url : str
        ``PUBLIC_URL``: the webhook is ``PUBLIC_URL/sms/inbound``, the URL the signature covers.
    token : str
        The Twilio auth token (``TWILIO_AUTH_TOKEN``).
    account_sid : str
        ``AccountSid`` (``TWILIO_ACCOUNT_SID``); empty: a made-up demo one.
    sender, to : str
        ``From`` (E.164) and ``To``.
    body : str
        What was texted.

    Returns
    -------
    tuple of (str, dict, str)
        The URL, the form fields (a fresh ``MessageSid``) and ``X-Twilio-Signature``, made by twilio's
        ``RequestValidator.compute_signature``.

    Examples
    --------
    >>> url, form, sig = twilio_request("http://127.0.0.1:8000/", "t" * 32, "AC" + "0" * 32, "+8613800138000",
    ...                                 "+15005550006", "帮助")
    >>> url, RequestValidator("t" * 32).validate(url, form, sig), form["MessageSid"][:2]
    ('http://127.0.0.1:8000/sms/inbound', True, 'SM')
    """
    url = str(public_url).rstrip("/") + "/sms/inbound"
    sid = "SM" + secrets.token_hex(16)
    form = {
        "MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": account_sid or "AC" + "0" * 32,
        "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    return url, form, RequestValidator(token).compute_signature(url, form)


def post_inbound(wsgi_app, url: str, form: dict[str, str], signature: str) -> tuple[int, list[str]]:
    """Post a signed inbound SMS to ``wsgi_app`` in-process; the status and the messages of its TwiML.

    Parameters
    ----------
    wsgi_app : callable
        The WSGI application (``app.wsgi_app``: the app with its middleware).
    url : str
        The webhook URL (its scheme and host become the request's, as Twilio's would).
    form : dict
        The form fields.
    signature : str
        ``X-Twilio-Signature``.

    Returns
    -------
    tuple of (int, list of str)
        The HTTP status and the texts of the ``<Message>`` elements (none when the bot answers nothing).
    """
    parts = urlsplit(url)
    resp = Client(wsgi_app).post(parts.path, data=form, headers={"X-Twilio-Signature": signature},
                                 base_url=f"{parts.scheme}://{parts.netloc}", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    try:
        if resp.status_code != 200:
            return resp.status_code, []
        return 200, [m.text or "" for m in ET.fromstring(resp.get_data()).iter("Message")]
    finally:
        resp.close()


def demo_numbers(app) -> dict[str, str]:
    """The demo's test numbers by card colour (those ``riskcard demo`` prints), found once per snapshot.

    Parameters
    ----------
    app : Flask
        The app (its settings name the demo folder: ``DEMO_OUTBOX``'s, or two above ``SNAPSHOT_DIR``).

    Returns
    -------
    dict
        ``colour -> E.164 number`` (orange, yellow, green as found); empty without the demo's feeds.
    """
    config = app.config
    snapshot_dir = Path(str(config.get("SNAPSHOT_DIR") or ""))
    store = app.extensions["riskcard"].store()
    stamp = store.meta().get("sha256") if store is not None else None
    cached = app.extensions.get(_NUMBERS_CACHE)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    folders = [Path(str(config["DEMO_OUTBOX"])).parent] if config.get("DEMO_OUTBOX") else []
    folders.append(snapshot_dir.parent.parent)  # the demo folder: build/snapshots and feeds/ side by side
    numbers: dict[str, str] = {}
    for folder in folders:
        if store is not None and (folder / "feeds" / "pings.parquet").exists():
            try:
                found = pick_people(folder / "feeds", snapshot_dir, bytes.fromhex(str(config["PSEUDONYM_KEY"])))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("demo phone: no test numbers (%s)", type(exc).__name__)
                continue
            numbers = {c: found[c] for c in COLOURS if c in found}
            break
    app.extensions[_NUMBERS_CACHE] = (stamp, numbers)
    return numbers


def storable(text: str, to: str) -> str:
    """A bubble's text as the thread keeps it: the service number ``to`` marked, other long numbers masked.

    Parameters
    ----------
    text : str
        What was texted, or answered.
    to : str
        The service number.

    Returns
    -------
    str

    Examples
    --------
    >>> shown(storable("text +15005550006, not 13800138000", "+15005550006"), "+15005550006")
    'text +15005550006, not 138****8000'
    """
    text = text.replace(to, _TO_MARK) if to else text
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:-8] + "****" + m.group(0)[-4:], text)


def shown(text: str, to: str) -> str:
    """A kept bubble's text as the page shows it (:func:`storable` undone for the service number).

    Parameters
    ----------
    text : str
        A kept bubble's text.
    to : str
        The service number.

    Returns
    -------
    str
    """
    return str(text).replace(_TO_MARK, to)


def _thread_key(sender: str) -> str:
    sid = session.get(_SESSION_KEY)
    if not isinstance(sid, str) or len(sid) < 16:
        sid = session[_SESSION_KEY] = secrets.token_urlsafe(16)
    try:
        e164 = normalise_msisdn(sender)
    except PhoneNumberError:
        e164 = sender
    subject = uid_to_pseudonym(pseudonymise(e164, bytes.fromhex(str(current_app.config["PSEUDONYM_KEY"]))))
    return f"demo:phone:{sid}:{subject}"


def _state():
    return current_app.extensions["riskcard"]["state"]


def _page(numbers: dict[str, str], sender: str, error: str | None = None, status: int = 200):
    to = str(current_app.config.get("SMS_NUMBER") or DEFAULT_TO)
    kept = (_state().recall(_thread_key(numbers[sender])) or {}).get("bubbles", []) if sender in numbers else []
    bubbles = [{**b, "text": shown(b.get("text", ""), to)} for b in kept]
    choices = [(c, tr(COLOUR_NAMES[c]["zh"], COLOUR_NAMES[c]["en"]), n) for c, n in numbers.items()]
    return render_template("phone.html", choices=choices, sender=sender, bubbles=bubbles, to=to, error=error,
                           max_body=MAX_BODY_CHARS), status


@bp.get("/demo/phone")
def phone():
    """The phone: a test number to text as, the conversation so far, a box to type in."""
    if not phone_enabled(current_app.config):
        abort(404)
    numbers = demo_numbers(current_app)
    sender = session.get(_SENDER_KEY)
    return _page(numbers, sender if sender in numbers else next(iter(numbers), ""))


@bp.post("/demo/phone")
def send():
    """Text the bot: sign as Twilio, post to /sms/inbound in-process, keep both sides of the exchange."""
    if not phone_enabled(current_app.config):
        abort(404)
    numbers = demo_numbers(current_app)
    sender, body = request.form.get("sender", ""), request.form.get("body", "")
    if sender not in numbers:
        return _page(numbers, next(iter(numbers), ""), tr("请选择一个测试号码。", "Pick one of the test numbers."), 400)
    if not body.strip() or len(body) > MAX_BODY_CHARS:
        return _page(numbers, sender, tr(f"短信内容需为1到{MAX_BODY_CHARS}个字。",
                                         f"A message has 1 to {MAX_BODY_CHARS} characters."), 400)
    config = current_app.config
    to = str(config.get("SMS_NUMBER") or DEFAULT_TO)
    url, form, signature = twilio_request(str(config["PUBLIC_URL"]), str(config["TWILIO_AUTH_TOKEN"]),
                                          str(config.get("TWILIO_ACCOUNT_SID") or ""), numbers[sender], to, body)
    status, replies = post_inbound(current_app.wsgi_app, url, form, signature)
    bubbles = [{"dir": "out", "text": storable(body, to)}] + [{"dir": "in", "text": storable(r, to)} for r in replies if r]
    if status != 200 or not any(replies):  # the page says why in the reader's language (phone.html)
        bubbles.append({"dir": "note", "text": "", "status": status})
    key = _thread_key(numbers[sender])
    kept = (_state().recall(key) or {}).get("bubbles", [])
    _state().remember(key, {"bubbles": (kept + bubbles)[-MAX_BUBBLES:]}, THREAD_TTL_S)
    session[_SENDER_KEY] = sender
    return redirect("/demo/phone", code=303)
