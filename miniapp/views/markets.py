"""Market crowding: the list of markets with their level, one page per market, a QR poster, JSON.

Read from the crowd store (miniapp/crowd/), never from the snapshot: levels change every 15
minutes. A store older than ``RISKCARD_CROWD_STALE_MINUTES`` shows "data too old", never a colour.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, jsonify, render_template, url_for

from forecast.crowding import RULE_EN, RULE_ZH
from miniapp.crowd import CrowdReader, market_view
from miniapp.qr import qr_svg

bp = Blueprint("markets", __name__)
MAX_ID = 2**63 - 1



@bp.record_once
def _reader(state) -> None:
    app = state.app
    app.extensions["riskcard.crowd"] = CrowdReader(app.config.get("CROWD_DIR") or "var/crowd")


def crowd_reader() -> CrowdReader:
    """This app's :class:`CrowdReader` (``RISKCARD_CROWD_DIR``)."""
    return current_app.extensions["riskcard.crowd"]


def _local(ts_s: int | None) -> str | None:
    if ts_s is None:
        return None
    tz = ZoneInfo(str(current_app.config.get("TZ") or "Asia/Shanghai"))
    return datetime.fromtimestamp(int(ts_s), tz).strftime("%Y-%m-%d %H:%M")


def _store_or_none():
    return crowd_reader()()


def _views(store) -> list[dict]:
    meta = store.meta()
    return [market_view(m, meta) for m in store.markets()]


@bp.get("/markets")
def markets():
    store = _store_or_none()
    if store is None:
        return render_template("markets.html", markets=[], meta={}, as_of=None, failure=crowd_reader().failure(),
                               rule=(RULE_ZH, RULE_EN)), 200
    meta = store.meta()
    return render_template("markets.html", markets=_views(store), meta=meta, as_of=_local(meta.get("now_s")),
                           failure=crowd_reader().failure(), rule=(meta.get("rule_zh") or RULE_ZH, meta.get("rule_en") or RULE_EN))


def _market_or_404(market_id: int):
    store = _store_or_none()
    m = store.market(market_id) if store is not None and market_id <= MAX_ID else None
    if m is None:
        abort(404)
    return store, m


@bp.get("/market/<int:market_id>")
def market(market_id: int):
    store, m = _market_or_404(market_id)
    meta = store.meta()
    v = market_view(m, meta)
    return render_template("market.html", m=v, as_of=_local(meta.get("now_s")), failure=crowd_reader().failure(),
                           rule=(meta.get("rule_zh") or RULE_ZH, meta.get("rule_en") or RULE_EN),
                           poster_url=url_for("markets.poster", market_id=market_id))


@bp.get("/market/<int:market_id>/poster")
def poster(market_id: int):
    _, m = _market_or_404(market_id)
    url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("markets.market", market_id=market_id)
    return render_template("market_poster.html", m=m, qr=qr_svg(url), url=url)


def _api_row(v: dict) -> dict:
    keys = ("market_id", "name", "name_en", "city_code", "address", "lon", "lat", "level", "level_zh", "level_en",
            "ratio", "people_now", "usual_people", "weeks", "as_of", "age_minutes")
    return {k: v.get(k) for k in keys}


@bp.get("/api/v1/markets")
def api_markets():
    store = _store_or_none()
    if store is None:
        abort(503, description=("人流数据尚未生成。", "No crowd data yet."))
    meta = store.meta()
    return jsonify(markets=[_api_row(v) for v in _views(store)], rule_zh=meta.get("rule_zh") or RULE_ZH,
                   rule_en=meta.get("rule_en") or RULE_EN, small_count=int(meta.get("small_count") or 10),
                   as_of=market_view({"level": "stale"}, meta)["as_of"])


@bp.get("/api/v1/markets/<int:market_id>")
def api_market(market_id: int):
    store, m = _market_or_404(market_id)
    return jsonify(_api_row(market_view(m, store.meta())))
