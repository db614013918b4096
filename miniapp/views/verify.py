"""Verification of itinerary-card QR codes by whoever scans them, the public keys (JWKS) and each key's
revocation list (``/.well-known/crl/{kid}.json``).

Revocation fails closed: a card with a valid signature whose revocation cannot be checked (the state
store is down) is ``revocation_unavailable`` (503, "cannot check revocation now"), never ``genuine``.
"""

from __future__ import annotations

import datetime as dt

import logging

from flask import Blueprint, abort, current_app, jsonify, render_template

from miniapp.cards import COLOUR_NAMES
from miniapp.errors import RETRY_AFTER_S
from miniapp.metrics import VERIFY
from miniapp.proofs import is_kid, jwks as make_jwks, resolve_short_link, revocation_list, verify_token
from miniapp.state import StateError

log = logging.getLogger(__name__)


bp = Blueprint("verify", __name__)

MAX_TOKEN_CHARS = 4096
STATUS_CODES = {"genuine": 200, "expired": 200, "revoked": 200, "forged": 200, "unknown_key": 200, "malformed": 400,
                "revocation_unavailable": 503}


@bp.get("/v/<path:token>")
def check(token: str):
    services = current_app.extensions["riskcard"]
    if len(token) > MAX_TOKEN_CHARS:
        result_status, claims, reason = "malformed", None, "token too long"
    else:
        v = verify_token(token, services.keyring)
        result_status, claims, reason = v.status, v.claims, v.reason
        if result_status == "genuine" and claims:
            result_status, reason = _revocation(services, claims.get("jti"), reason)
    times = {}
    if claims:
        for k in ("iat", "exp"):
            if isinstance(claims.get(k), (int, float)):
                times[k] = dt.datetime.fromtimestamp(claims[k], dt.timezone.utc).astimezone(_tz()).strftime("%Y-%m-%d %H:%M")
    VERIFY.labels(result_status).inc()
    headers = {"Retry-After": str(RETRY_AFTER_S)} if result_status == "revocation_unavailable" else {}
    return (render_template("verify.html", status=result_status, claims=claims, reason=reason, times=times,
                            colour_names=COLOUR_NAMES), STATUS_CODES.get(result_status, 400), headers)


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config.get("TZ", "Asia/Shanghai"))


def _revocation(services, jti, reason: str) -> tuple[str, str]:
    """(status, reason) of a card whose signature is valid: genuine, revoked, or not checkable now."""
    try:
        if services.state.proof_revoked(str(jti)):
            return "revoked", "revoked by the issuer or the holder"
    except StateError as exc:  # fail closed: a card we cannot check is not shown as genuine
        log.warning("revocation of a card cannot be checked: %s", exc)
        return "revocation_unavailable", "signature valid, but revocation cannot be checked now"
    return "genuine", reason


@bp.get("/c/<link_id>")
def short_link(link_id: str):
    """A short link from an SMS: redirect to the signed card's verify page."""
    from flask import abort, redirect, url_for


    token = resolve_short_link(current_app.extensions["riskcard"].state, link_id)
    if token is None:
        abort(404)
    return redirect(url_for("verify.check", token=token))


@bp.get("/.well-known/jwks.json")
def jwks():
    resp = jsonify(make_jwks(current_app.extensions["riskcard"].keyring))
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


@bp.get("/.well-known/crl/<kid>.json")
def crl(kid: str):
    """The revocation list of one of our signing keys (miniapp/proofs/revocation.py); 503 if the store is down."""
    services = current_app.extensions["riskcard"]
    if not is_kid(kid) or services.keyring.get(kid) is None:
        abort(404)
    resp = jsonify(revocation_list(services.state, kid))
    resp.headers["Cache-Control"] = "public, max-age=60"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp
