"""Case places and clinics near a community or a position: pages, API, CSP, and no position kept."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from datetime import datetime, timezone

import pytest

from forecast.places import haversine_m
from tests.miniapp.places_fixture import publish_places_fixture

NOON_LOCAL = datetime(2020, 2, 10, 4, 0, tzinfo=timezone.utc)  # 12:00 in Wuhan


def _app(app_config, tmp_path, **extra):
    from miniapp.app import create_app

    cfg = {**app_config, "SNAPSHOT_DIR": str(publish_places_fixture(tmp_path / "places-snapshots")), **extra}
    app = create_app(cfg)
    app.extensions["riskcard.clock"] = lambda: NOON_LOCAL
    return app


@pytest.fixture
def places_client(app_config, tmp_path):
    return _app(app_config, tmp_path).test_client()


def _csrf(client, path):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_community_page_lists_real_nearest_places_with_distances(places_client):
    html = places_client.get("/community/1").get_data(as_text=True)
    section = html[html.index('id="case-places"'):]
    names = re.findall(r"<li>([^ ·<]+) · 距离 ([0-9.]+) km", section)
    assert [n for n, _ in names][:3] == ["百步亭超市", "惠民菜场", "汉口火车站"]
    want = haversine_m(114.2915, 30.6405, 114.290, 30.640) / 1000
    assert float(names[0][1]) == pytest.approx(round(float(want), 1))
    assert "0.0 km" not in section and "望京SOHO" not in section


def test_community_page_without_the_feed_says_not_published_never_none_nearby(client):
    html = client.get("/community/1").get_data(as_text=True)
    assert "未包含卫生健康部门公布的病例场所" in html and "没有公布的病例场所" not in html


def test_api_near_community_matches_haversine(places_client):
    r = places_client.get("/api/v1/places/near", query_string={"community": 1})
    assert r.status_code == 200
    body = r.get_json()
    assert body["published"] is True and body["origin"]["community_id"] == 1
    for p in body["places"]:
        assert p["distance_m"] == pytest.approx(float(haversine_m(p["lon"], p["lat"], 114.290, 30.640)), abs=0.06)
    d = [p["distance_m"] for p in body["places"]]
    assert d == sorted(d)


def test_api_position_in_a_post_body_is_rounded_and_never_logged_or_stored(places_client, app_config, caplog):
    caplog.set_level(logging.DEBUG)
    r = places_client.post("/api/v1/places/near", json={"lon": 114.291234, "lat": 30.640987})
    assert r.status_code == 200
    assert r.get_json()["origin"] == {"community_id": None, "rounded_to_deg": 0.01, "lon": 114.29, "lat": 30.64}
    assert "114.29" not in caplog.text and "30.64" not in caplog.text
    db = app_config["STATE_URL"].removeprefix("sqlite:///")
    conn = sqlite3.connect(db)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert "114.29" not in dump and "30.64" not in dump


def test_api_refuses_a_position_in_a_form_or_bad_numbers(places_client):
    assert places_client.post("/api/v1/places/near", data={"lon": "114", "lat": "30"}).status_code == 415
    r = places_client.post("/api/v1/places/near", json={"lon": "east", "lat": 30})
    assert r.status_code == 400 and "position" in r.get_json()["error"]["message"]
    assert places_client.post("/api/v1/clinics/near", json={"lon": 1e999, "lat": 30}).status_code == 400
    assert places_client.post("/api/v1/clinics/near", json=[1, 2]).status_code == 400
    assert places_client.get("/api/v1/places/near").status_code == 400
    assert places_client.get("/api/v1/places/near?community=999999").status_code == 404
    assert places_client.get("/api/v1/places/near?community=x").status_code == 400


def test_clinics_open_now_with_hours_unknown_apart_and_never_called_open(places_client):
    body = places_client.get("/api/v1/clinics/near", query_string={"community": 1}).get_json()
    assert [c["clinic_id"] for c in body["open"]] == ["c2", "c1"]
    assert all(c["state"] == "open" and c["hours"] for c in body["open"])
    assert [c["clinic_id"] for c in body["hours_unknown"]] == ["c3"]
    assert body["closed_nearby"] == 1  # c4, 20:00-22:00, at noon
    assert body["tz"] == "Asia/Shanghai" and body["now"].startswith("2020-02-10T04:00")


@pytest.mark.parametrize("lang,open_word,unknown", [("zh", "开放中", "开放时间未公布"), ("en", "Open now", "opening hours not published")])
def test_clinics_page_both_languages(places_client, lang, open_word, unknown):
    html = places_client.get(f"/clinics?community=1&lang={lang}").get_data(as_text=True)
    assert open_word in html and unknown in html
    listed = html[html.index('id="clinics-list"'):html.index("</ol>", html.index('id="clinics-list"'))]
    assert "协和医院发热门诊" in listed and "社区卫生服务中心" not in listed and "夜间门诊" not in listed


def test_places_page_by_position_form_post(places_client):
    token = _csrf(places_client, "/places")
    r = places_client.post("/places", data={"csrf_token": token, "lon": "114.29", "lat": "30.64"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "距您大致位置最近的病例场所" in html and "百步亭超市" in html
    assert r.headers["Cache-Control"] == "no-store"
    assert "geolocation=(self)" in r.headers["Permissions-Policy"]
    assert places_client.post("/places", data={"lon": "114.29", "lat": "30.64"}).status_code == 400  # no token


def test_svg_map_by_default_markers_are_44px_targets(places_client):
    html = places_client.get("/places?community=1").get_data(as_text=True)
    assert "<svg" in html and 'aria-label="1 百步亭超市"' in html and "leaflet" not in html.lower()
    radii = [float(r) for r in re.findall(r'<circle[^>]* r="([0-9.]+)"', html)]
    assert radii and min(radii) * 2 >= 44
    csp = places_client.get("/places").headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp


def test_tile_server_is_the_only_host_added_to_the_csp(app_config, tmp_path):
    app = _app(app_config, tmp_path, TILE_URL="https://tiles.example.test/{z}/{x}/{y}.png", TILE_CRS="gcj02")
    c = app.test_client()
    r = c.get("/places?community=1")
    csp = r.headers["Content-Security-Policy"]
    img = re.search(r"img-src ([^;]+);", csp).group(1).split()
    assert img == ["'self'", "data:", "https://tiles.example.test"]
    assert c.get("/").headers["Content-Security-Policy"] == csp
    html = r.get_data(as_text=True)
    assert 'data-tile-crs="gcj02"' in html and "leaflet/leaflet.js" in html
    points = json.loads(re.search(r'<script type="application/json" id="map-points">(.*?)</script>', html, re.S).group(1))
    from forecast.places import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(114.290, 30.640)
    assert (points[0]["lon"], points[0]["lat"]) == pytest.approx((float(lon), float(lat)), abs=1e-9)


def test_vendored_leaflet_is_the_pinned_npm_copy():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    lock = json.loads((root / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/leaflet"]["version"] == "1.9.4"
    js = (root / "static/leaflet/leaflet.js").read_text()
    assert "Leaflet 1.9.4" in js[:400]
    npm_copy = root / "node_modules/leaflet/dist/leaflet.js"
    if npm_copy.exists():
        assert npm_copy.read_text() == js
