"""The itinerary card: number + consent box -> one-time code by SMS -> card with a signed QR code.

One page asks for the number and the consent (a checkbox, as the 2020 card did); the code page then
leads straight to the card. The consent is recorded and audited only when the code proves the number.
Without the box ticked, the consent page asks after the code (and "no" there still means no card).

The flow keeps no readable number between requests: the session holds the pseudonym and the
masked number, plus, while a code is pending (10 minutes), the number sealed with AES-GCM
(miniapp/sealed.py), because the code is bound to the number it was sent to.

The card session is a signed cookie *and* a record on the server: it carries a random session id that
the state store keeps for the session's 15 minutes. Every card view checks the record, and sign-out
deletes it, so a copy of the cookie shows no card once the holder has signed out. "Revoke my cards"
revokes every card issued to the number so far (the verify page then says REVOKED) and signs out.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import time
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.cards import COLOUR_NAMES, OBSERVE_DAYS_AFTER_EXPOSURE
from miniapp.errors import STATE_DOWN
from miniapp.i18n import tr
from miniapp.otp import request_code, retry_after_s, verify_code
from miniapp.proofs import issue_card_token, pack_token, verify_token
from miniapp.qr import qr_png
from miniapp.sealed import seal, unseal
from miniapp.sms_out import SmsUnavailable, send_sms
from miniapp.state import StateUnavailable

bp = Blueprint("card", __name__, url_prefix="/card")

CONSENT_SCOPE = "itinerary"
SESSION_TTL_S = 15 * 60
CODE_TTL_S = 10 * 60



def _services():
    return current_app.extensions["riskcard"]


def _state_or_503():
    """The state store, or a 503 page saying the card is unavailable (risk pages still work)."""
    try:
        state = _services().state
        if state.ping():
            return state
    except StateUnavailable:
        pass
    abort(503, description=STATE_DOWN[1])


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _verified_subject() -> tuple[int, str, str] | None:
    """(uid, pseudonym, masked number) of this browser's card session, or None.

    The signed cookie is not enough: its session id must still be live in the state store (sign-out
    ends it there). A store that cannot be reached raises StateUnavailable (a 503 page, no card).
    """
    v = session.get("card")
    if not v or v.get("until", 0) < time.time():
        return None
    sid = v.get("sid")
    live = isinstance(sid, str) and 0 < len(sid) <= 64 and _services().state.session_subject(sid) == v.get("pseudonym")
    if not live:
        session.pop("card", None)
        return None
    return int(v["uid"]), v["pseudonym"], v["masked"]


def _end_session(state) -> None:
    """Sign out: forget the session in this browser and end it on the server."""
    card = session.pop("card", None) or {}
    session.pop("pending", None)
    sid = card.get("sid")
    if isinstance(sid, str) and 0 < len(sid) <= 64:
        state.end_session(sid)
        state.audit("card.signed_out", card.get("pseudonym"), channel="web")


@bp.get("/")
def start():
    return render_template("card_start.html", error=None, number="")


@bp.post("/code")
def send_code():
    state = _state_or_503()
    raw = request.form.get("number", "")
    try:
        e164 = normalise_msisdn(raw)
    except PhoneNumberError:
        return render_template(
            "card_start.html",
            error=tr("手机号格式不对，请输入11位手机号。", "That is not a valid mobile number. Enter your 11-digit number."),
            number="",
        ), 400
    services = _services()
    code, reason = request_code(state, e164, _client_ip(), secret=services.app_secret,
                                pseudonym_key=services.pseudonym_key, policy=services.otp_policy)
    if code is None:
        status = 429 if reason.startswith("rate_limited") or reason == "locked" else 400
        if reason == "budget_exhausted":
            status = 503
        if reason in ("invalid_number", "region_not_allowed", "not_mobile"):
            msg = tr("此服务仅支持中国大陆手机号码，该号码无法接收验证码。",
                     "This service is for mainland China mobile numbers only; this number cannot get a code.")
        elif reason == "budget_exhausted":
            msg = tr("验证码发送量已达上限，请稍后再试。", "We have sent as many codes as we can for now. Please try later.")
        elif reason == "locked":
            msg = tr("该号码验证失败次数过多，已被暂时锁定。", "Too many failed attempts for this number; it is locked for now.")
        elif reason.startswith("rate_limited"):
            g.retry_after_s = retry_after_s(state, e164, _client_ip(), secret=services.app_secret,
                                            pseudonym_key=services.pseudonym_key, policy=services.otp_policy)
            msg = tr("请求验证码太频繁，请稍后再试。", "Too many code requests. Please wait and try again.")
        else:
            msg = tr("暂时无法发送验证码。", "We cannot send a code right now.")
        return render_template("card_start.html", error=msg, number=""), status
    body = tr(
        f"【风险卡】验证码 {code}，10分钟内有效。请勿告诉他人。",
        f"[riskcard] Your code is {code}. It expires in 10 minutes. Do not share it.",
    )
    try:
        send_sms(current_app.config, state, e164, body, purpose="otp", subject=_pseudonym(e164), secret=code)
    except SmsUnavailable:
        return render_template("card_start.html", error=tr("短信发送失败，请稍后再试。", "The SMS could not be sent. Please try again later."), number=""), 503
    # The consent box of the start page travels with the pending number; it is recorded (and audited)
    # only once the code proves the number, so nobody can consent for a number they do not hold.
    session["pending"] = {"n": seal(e164, services.app_secret, "otp"), "until": time.time() + CODE_TTL_S,
                          "agree": request.form.get("consent") == "yes"}
    return redirect(url_for("card.enter_code"))


def _pseudonym(e164: str) -> str:
    return uid_to_pseudonym(pseudonymise(e164, _services().pseudonym_key))


def _pending_number() -> str | None:
    """The number a code is pending for (sealed in the session), or None."""
    pending = session.get("pending")
    if not pending or pending.get("until", 0) < time.time():
        return None
    return unseal(str(pending.get("n", "")), _services().app_secret, "otp")


def _pending_agreed() -> bool:
    """Whether the consent box was ticked when the pending code was asked for."""
    return bool((session.get("pending") or {}).get("agree"))


@bp.get("/verify")
def enter_code():
    e164 = _pending_number()
    if e164 is None:
        return redirect(url_for("card.start"))
    return render_template("card_code.html", masked=mask_msisdn(e164), error=None, agreed=_pending_agreed())


@bp.post("/verify")
def check_code():
    state = _state_or_503()
    e164 = _pending_number()
    if e164 is None:
        return redirect(url_for("card.start"))
    code = "".join(ch for ch in request.form.get("code", "") if not ch.isspace())[:12]
    services = _services()
    result = verify_code(state, e164, code, secret=services.app_secret, pseudonym_key=services.pseudonym_key, ip=_client_ip())
    if result != "ok":
        msg = {
            "wrong": tr("验证码不正确。", "That code is not right."),
            "expired": tr("验证码已过期，请重新获取。", "The code has expired. Please ask for a new one."),
            "missing": tr("验证码已使用或不存在，请重新获取。", "That code was used or does not exist. Please ask for a new one."),
            "locked": tr("失败次数过多，号码已被暂时锁定。", "Too many failed attempts; the number is locked for now."),
            "rate_limited": tr("尝试太频繁，请稍后再试。", "Too many attempts. Please wait and try again."),
            "invalid": tr("请输入6位数字验证码。", "Enter the 6-digit code."),
        }.get(result, tr("验证失败。", "Verification failed."))
        status = 429 if result in ("locked", "rate_limited") else 400
        if result == "rate_limited":
            g.retry_after_s = retry_after_s(state, e164, _client_ip(), secret=services.app_secret,
                                            pseudonym_key=services.pseudonym_key, verify=True)
        return render_template("card_code.html", masked=mask_msisdn(e164), error=msg, agreed=_pending_agreed()), status
    uid = pseudonymise(e164, _services().pseudonym_key)
    agreed = _pending_agreed()
    session.pop("pending", None)
    sid = secrets.token_urlsafe(18)  # 144 random bits; the server's record of this session
    state.open_session(sid, uid_to_pseudonym(uid), SESSION_TTL_S)
    session["card"] = {
        "uid": uid,
        "pseudonym": uid_to_pseudonym(uid),
        "masked": mask_msisdn(e164),
        "until": time.time() + SESSION_TTL_S,
        "sid": sid,
    }
    if agreed:  # the start page's box, ticked: recorded and audited as the consent page does
        state.set_consent(uid_to_pseudonym(uid), CONSENT_SCOPE, True)
        state.audit("consent", uid_to_pseudonym(uid), scope=CONSENT_SCOPE, given=True, channel="web")
    if state.has_consent(uid_to_pseudonym(uid), CONSENT_SCOPE):
        return redirect(url_for("card.show"))
    return redirect(url_for("card.consent"))


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    who = _verified_subject()
    if who is None:
        return redirect(url_for("card.start"))
    if request.method == "POST":
        state = _state_or_503()
        agreed = request.form.get("agree") == "yes"
        state.set_consent(who[1], CONSENT_SCOPE, agreed)
        state.audit("consent", who[1], scope=CONSENT_SCOPE, given=agreed, channel="web")
        if not agreed:
            _end_session(state)
            return render_template("card_declined.html")
        return redirect(url_for("card.show"))
    return render_template("card_consent.html", masked=who[2])


@bp.get("/show")
def show():
    who = _verified_subject()
    if who is None:
        return redirect(url_for("card.start"))
    uid, pseudonym, masked = who
    state = _state_or_503()
    if not state.has_consent(pseudonym, CONSENT_SCOPE):
        return redirect(url_for("card.consent"))
    store = _services().store()
    if store is None:
        abort(503)
    card, token = issue_card_token(state, store, _services().keyring, uid, pseudonym, masked)
    state.audit("itinerary_viewed", pseudonym, channel="web", window_end=card["window_end"])
    verify_url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("verify.check", token=pack_token(token))
    qr = "data:image/png;base64," + base64.b64encode(qr_png(verify_url)).decode("ascii")
    claims = verify_token(token, _services().keyring).claims or {}
    tz = ZoneInfo(str(current_app.config.get("TZ", "Asia/Shanghai")))

    def local(ts: object) -> str:
        return dt.datetime.fromtimestamp(int(ts), tz).strftime("%Y-%m-%d %H:%M") if isinstance(ts, int) else ""

    return render_template("card.html", card=card, masked=masked, qr=qr, verify_url=verify_url,
                           colour_names=COLOUR_NAMES, issued_text=local(claims.get("iat")),
                           valid_until_text=local(claims.get("exp")), observe_days=OBSERVE_DAYS_AFTER_EXPOSURE,
                           tz=str(tz), now_text=dt.datetime.now(tz).strftime("%Y-%m-%d %H:%M:%S"))


@bp.post("/revoke")
def revoke():
    """"Revoke my cards": every card issued to this number so far becomes REVOKED; then sign out."""
    who = _verified_subject()
    if who is None:
        return redirect(url_for("card.start"))
    _, pseudonym, masked = who
    state = _state_or_503()
    count = state.revoke_subject_proofs(pseudonym, int(time.time()) + 1)
    state.audit("card.revoked", pseudonym, by="holder", count=count, channel="web")
    _end_session(state)
    return render_template("card.html", revoked_count=count, masked=masked)


@bp.post("/logout")
def logout():
    """Sign out here and on the server: a copy of the session cookie shows no card afterwards."""
    _end_session(_services().state)
    return redirect(url_for("card.start"))
