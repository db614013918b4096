"""Places people go: nearest published case places and nearest open fever clinics, pages and API.

From a community (``?community=<id>``) or from the phone's own position. The position is taken by the
browser (geolocation), rounded on the device to 0.01 degree (about 1 km) and sent in a POST body, never
in a URL (URLs end up in proxy logs); the server rounds it again, answers, and keeps nothing: no log
line, audit entry or cache holds it. Maps: Leaflet over the tile server named by ``RISKCARD_TILE_URL``
(points shifted to GCJ-02 when ``RISKCARD_TILE_CRS=gcj02``), else a built-in labelled SVG map whose
markers are 48 px targets (docs/places.md).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from html import escape

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from forecast.places import round_position, wgs84_to_gcj02
from miniapp.charts import MARKER_RADIUS, map_layout
from miniapp.i18n import tr
from miniapp.snapshot.places import nearest_case_places, nearest_clinics
from miniapp.views.pages import MAX_ID, current_store

bp = Blueprint("places", __name__)

CLINIC_KINDS_TEXT = {"fever_clinic": ("发热门诊", "fever clinic"), "testing_site": ("核酸检测点", "testing site")}
BAD_POSITION = ("位置无效：需要经度 -180 到 180、纬度 -90 到 90。", "That position does not read: lon -180 to 180, lat -90 to 90.")
NO_ORIGIN = ("请选择小区或使用本机位置。", "Choose a community or use this phone's position.")


def now_utc() -> datetime:
    """The answer's "now" (tests may set ``app.extensions["riskcard.clock"]``, a callable)."""
    clock = current_app.extensions.get("riskcard.clock")
    return clock() if clock else datetime.now(timezone.utc)


def _community(store, raw) -> dict:
    try:
        cid = int(str(raw))
    except ValueError:
        abort(400, description=("小区编号须为整数。", "community must be a whole number."))
    c = store.community(cid) if 0 <= cid <= MAX_ID else None
    if c is None:
        abort(404)
    return c


def _position(values) -> tuple[float, float]:
    """(lon, lat) from a form or JSON body, rounded to about 1 km; 400 when it does not read."""
    try:
        lon, lat = float(values.get("lon")), float(values.get("lat"))
    except (TypeError, ValueError, AttributeError):
        abort(400, description=BAD_POSITION)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        abort(400, description=BAD_POSITION)
    return round_position(lon, lat)


def origin_of(store, values, community_arg) -> dict:
    """Where to measure from: ``{"lon", "lat", "community"}`` (community None for a position)."""
    if community_arg not in (None, ""):
        c = _community(store, community_arg)
        if c.get("lon") is None or c.get("lat") is None:
            abort(404)
        return {"lon": float(c["lon"]), "lat": float(c["lat"]), "community": c}
    if values is not None and (values.get("lon") is not None or values.get("lat") is not None):
        lon, lat = _position(values)
        return {"lon": lon, "lat": lat, "community": None}
    abort(400, description=NO_ORIGIN)


def tile_settings() -> dict:
    """The map's tile server from the settings: ``url`` (None: the SVG map), ``crs``, ``attribution``."""
    cfg = current_app.config
    url = str(cfg.get("TILE_URL") or "").strip() or None
    crs = str(cfg.get("TILE_CRS") or "wgs84").lower().replace("-", "")
    return {"url": url, "crs": "gcj02" if crs == "gcj02" else "wgs84", "attribution": str(cfg.get("TILE_ATTRIBUTION") or "")}


def map_points(origin: dict, items: list[dict], crs: str, origin_label: str) -> list[dict]:
    """Points for the map, in the tiles' coordinate system: the origin first (label "★"), then ``items`` 1..n.

    Parameters
    ----------
    origin : dict
        ``lon``, ``lat`` (WGS-84).
    items : list of dict
        Places with ``name``, ``lon``, ``lat`` (WGS-84).
    crs : str
        ``wgs84`` or ``gcj02``.
    origin_label : str
        The origin's name (the community, or "your position").

    Returns
    -------
    list of dict
        ``label``, ``name``, ``lon``, ``lat`` (shifted for gcj02), ``origin`` (bool).

    Examples
    --------
    >>> pts = map_points({"lon": 116.377817, "lat": 39.911954}, [], "gcj02", "x")
    >>> round(pts[0]["lon"], 6), round(pts[0]["lat"], 6)
    (116.384047, 39.913345)
    """
    pts = [{"label": "★", "name": origin_label, "lon": origin["lon"], "lat": origin["lat"], "origin": True}]
    pts += [{"label": str(i + 1), "name": p["name"], "lon": p["lon"], "lat": p["lat"], "origin": False}
            for i, p in enumerate(items)]
    if crs == "gcj02" and pts:
        lon, lat = wgs84_to_gcj02([p["lon"] for p in pts], [p["lat"] for p in pts])
        for p, x, y in zip(pts, lon.tolist(), lat.tolist()):
            p["lon"], p["lat"] = x, y
    return pts


def svg_map(points: list[dict], title: str, colour: str = "#b3261e", width: int = 320) -> str:
    """The built-in map: numbered 48-unit markers (tap targets), each linked to its row of the list.

    Examples
    --------
    >>> svg = svg_map([{"label": "★", "name": "A", "lon": 114.3, "lat": 30.6, "origin": True},
    ...                {"label": "1", "name": "B", "lon": 114.31, "lat": 30.61, "origin": False}], "map")
    >>> 'href="#place-1"' in svg and 'aria-label="1 B"' in svg and "<title>map</title>" in svg
    True
    """
    xs, ys, height = map_layout([p["lon"] for p in points], [p["lat"] for p in points], width=width)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="group" aria-label="{escape(title)}" class="place-map">',
             f"<title>{escape(title)}</title>",
             f'<rect x="0" y="0" width="{width}" height="{height}" rx="8" fill="#f1f3f4"/>']
    for p, x, y in zip(points, xs, ys):
        fill = "#0b57d0" if p["origin"] else colour
        target = "place-origin" if p["origin"] else f"place-{p['label']}"
        parts.append(f'<a href="#{target}" aria-label="{escape(p["label"] + " " + p["name"])}">'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER_RADIUS}" fill="{fill}" stroke="#fff" stroke-width="2"/>'
                     f'<text x="{x:.1f}" y="{y + 6:.1f}" text-anchor="middle" font-weight="700" fill="#fff">'
                     f'{escape(p["label"])}</text></a>')
    parts.append("</svg>")
    return "".join(parts)


def _map(origin: dict, items: list[dict], title: str, colour: str) -> dict:
    tiles = tile_settings()
    label = origin["community"]["name"] if origin["community"] else tr("您的大致位置（约1公里）", "your rough position (about 1 km)")
    pts = map_points(origin, items, tiles["crs"], label)
    return {"tiles": tiles, "points_json": json.dumps(pts, ensure_ascii=False), "title": title,
            "svg": None if tiles["url"] else svg_map(pts, title, colour)}


def _clinic_text(c: dict) -> dict:
    zh, en = CLINIC_KINDS_TEXT.get(c.get("kind"), ("门诊", "clinic"))
    return {**c, "kind_text": tr(zh, en),
            "hours_text": c["hours"] if c.get("hours") else tr("开放时间未公布", "opening hours not published")}


@bp.app_context_processor
def _places_helpers() -> dict:
    def places_near_community(c: dict) -> dict:
        """Nearest published case places of a community, for the community page."""
        if not c or c.get("lon") is None or c.get("lat") is None:
            return {"published": False, "places": []}
        return nearest_case_places(current_store(), float(c["lon"]), float(c["lat"]))

    return {"places_near_community": places_near_community}


@bp.after_request
def _allow_geolocation(resp):
    # Only these pages may ask for the position (the rest of the site keeps geolocation=()).
    resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(self)"
    resp.headers["Cache-Control"] = "no-store" if request.method == "POST" else resp.headers.get("Cache-Control", "no-cache")
    return resp


@bp.route("/places", methods=["GET", "POST"])
def places_page():
    store = current_store()
    if request.method == "GET" and not request.args.get("community"):
        return render_template("places.html", origin=None, near=None, map=None)
    origin = origin_of(store, request.form if request.method == "POST" else None, request.args.get("community"))
    near = nearest_case_places(store, origin["lon"], origin["lat"])
    return render_template("places.html", origin=origin, near=near,
                           map=_map(origin, near["places"], tr("附近病例场所地图", "Map of nearby case places"), "#b3261e"))


@bp.route("/clinics", methods=["GET", "POST"])
def clinics_page():
    store = current_store()
    if request.method == "GET" and not request.args.get("community"):
        return render_template("places_clinics.html", origin=None, near=None, map=None)
    origin = origin_of(store, request.form if request.method == "POST" else None, request.args.get("community"))
    tz = str(store.meta().get("tz") or current_app.config.get("TZ") or "Asia/Shanghai")
    near = nearest_clinics(store, origin["lon"], origin["lat"], now_utc(), tz)
    near["open"] = [_clinic_text(c) for c in near["open"]]
    near["hours_unknown"] = [_clinic_text(c) for c in near["hours_unknown"]]
    return render_template("places_clinics.html", origin=origin, near=near,
                           map=_map(origin, near["open"], tr("附近开放的发热门诊地图", "Map of open clinics nearby"), "#1e7b34"))


def _api_origin(store) -> dict:
    try:
        body = request.get_json(silent=True) if request.method == "POST" else None
    except RecursionError:  # nesting deeper than the parser goes: not a position (silent= covers ValueError only)
        body = None
    if request.method == "POST" and not isinstance(body, dict):
        abort(400, description=("请求体须为 JSON 对象 {\"lon\": …, \"lat\": …}。", "The body must be a JSON object {\"lon\": ..., \"lat\": ...}."))
    origin = origin_of(store, body, request.args.get("community") if request.method == "GET" else None)
    return origin


def _origin_json(origin: dict) -> dict:
    c = origin["community"]
    if c:
        return {"community_id": c["community_id"], "name": c["name"], "lon": origin["lon"], "lat": origin["lat"]}
    return {"community_id": None, "rounded_to_deg": 0.01, "lon": origin["lon"], "lat": origin["lat"]}


@bp.route("/api/v1/places/near", methods=["GET", "POST"])
def places_api():
    store = current_store()
    origin = _api_origin(store)
    return jsonify(origin=_origin_json(origin), **nearest_case_places(store, origin["lon"], origin["lat"]))


@bp.route("/api/v1/clinics/near", methods=["GET", "POST"])
def clinics_api():
    store = current_store()
    origin = _api_origin(store)
    tz = str(store.meta().get("tz") or current_app.config.get("TZ") or "Asia/Shanghai")
    return jsonify(origin=_origin_json(origin), **nearest_clinics(store, origin["lon"], origin["lat"], now_utc(), tz))
