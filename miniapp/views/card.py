"""The itinerary card: number -> one-time code by SMS -> consent -> card with a signed QR code.

The flow keeps no readable number between requests: the session holds the pseudonym and the
masked number, plus, while a code is pending (10 minutes), the number sealed with AES-GCM
(miniapp/sealed.py), because the code is bound to the number it was sent to.
"""

from __future__ import annotations

import base64
import time

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.cards import COLOUR_NAMES
from miniapp.errors import STATE_DOWN
from miniapp.i18n import tr
from miniapp.otp import request_code, verify_code
from miniapp.proofs import issue_card_token
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
    v = session.get("card")
    if not v or v.get("until", 0) < time.time():
        return None
    return int(v["uid"]), v["pseudonym"], v["masked"]


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
    code, reason = request_code(state, e164, _client_ip(), secret=services.app_secret, pseudonym_key=services.pseudonym_key)
    if code is None:
        status = 429 if reason.startswith("rate_limited") or reason == "locked" else 400
        if reason == "locked":
            msg = tr("该号码验证失败次数过多，已被暂时锁定。", "Too many failed attempts for this number; it is locked for now.")
        elif reason.startswith("rate_limited"):
            msg = tr("请求验证码太频繁，请稍后再试。", "Too many code requests. Please wait and try again.")
        else:
            msg = tr("暂时无法发送验证码。", "We cannot send a code right now.")
        return render_template("card_start.html", error=msg, number=""), status
    body = tr(
        f"【风险卡】验证码 {code}，10分钟内有效。请勿告诉他人。",
        f"[riskcard] Your code is {code}. It expires in 10 minutes. Do not share it.",
    )
    try:
        send_sms(current_app.config, state, e164, body, purpose="otp", subject=_pseudonym(e164))
    except SmsUnavailable:
        return render_template("card_start.html", error=tr("短信发送失败，请稍后再试。", "The SMS could not be sent. Please try again later."), number=""), 503
    session["pending"] = {"n": seal(e164, services.app_secret, "otp"), "until": time.time() + CODE_TTL_S}
    return redirect(url_for("card.enter_code"))


def _pseudonym(e164: str) -> str:
    return uid_to_pseudonym(pseudonymise(e164, _services().pseudonym_key))


def _pending_number() -> str | None:
    """The number a code is pending for (sealed in the session), or None."""
    pending = session.get("pending")
    if not pending or pending.get("until", 0) < time.time():
        return None
    return unseal(str(pending.get("n", "")), _services().app_secret, "otp")


@bp.get("/verify")
def enter_code():
    e164 = _pending_number()
    if e164 is None:
        return redirect(url_for("card.start"))
    return render_template("card_code.html", masked=mask_msisdn(e164), error=None)


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
        return render_template("card_code.html", masked=mask_msisdn(e164), error=msg), status
    uid = pseudonymise(e164, _services().pseudonym_key)
    session.pop("pending", None)
    session["card"] = {
        "uid": uid,
        "pseudonym": uid_to_pseudonym(uid),
        "masked": mask_msisdn(e164),
        "until": time.time() + SESSION_TTL_S,
    }
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
            session.pop("card", None)
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
    verify_url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("verify.check", token=token)
    qr = "data:image/png;base64," + base64.b64encode(qr_png(verify_url)).decode("ascii")
    return render_template("card.html", card=card, masked=masked, qr=qr, verify_url=verify_url, colour_names=COLOUR_NAMES)


@bp.post("/logout")
def logout():
    session.pop("card", None)
    session.pop("pending", None)
    return redirect(url_for("card.start"))
