"""Verification of itinerary-card QR codes by whoever scans them, and the public keys (JWKS)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, jsonify, render_template

from miniapp.cards import COLOUR_NAMES
from miniapp.proofs import jwks as make_jwks, resolve_short_link, verify_token


bp = Blueprint("verify", __name__)

MAX_TOKEN_CHARS = 4096
STATUS_CODES = {"genuine": 200, "expired": 200, "revoked": 200, "forged": 200, "unknown_key": 200, "malformed": 400}


@bp.get("/v/<path:token>")
def check(token: str):
    services = current_app.extensions["riskcard"]
    if len(token) > MAX_TOKEN_CHARS:
        result_status, claims, reason = "malformed", None, "token too long"
    else:
        v = verify_token(token, services.keyring)
        result_status, claims, reason = v.status, v.claims, v.reason
        if result_status == "genuine" and claims and _revoked(services, claims.get("jti")):
            result_status = "revoked"
    times = {}
    if claims:
        for k in ("iat", "exp"):
            if isinstance(claims.get(k), (int, float)):
                times[k] = dt.datetime.fromtimestamp(claims[k], dt.timezone.utc).astimezone(_tz()).strftime("%Y-%m-%d %H:%M")
    return (render_template("verify.html", status=result_status, claims=claims, reason=reason, times=times,
                            colour_names=COLOUR_NAMES), STATUS_CODES.get(result_status, 400))


def _tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(current_app.config.get("TZ", "Asia/Shanghai"))


def _revoked(services, jti) -> bool:
    if not jti:
        return False
    try:
        return bool(services.state.proof_revoked(str(jti)))
    except Exception:  # noqa: BLE001 - verification works offline of the state store
        return False


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
