"""Market pages, poster and API over a real crowd store (SQLite file on disk)."""

from __future__ import annotations

import time

import pytest

from miniapp.app import create_app
from miniapp.openapi import openapi_document
from tests.miniapp.crowd.kit import NOW, make_city, refresh

FRESH = int(time.time()) // 900 * 900


def _app(crowd_dir, tmp):
    return create_app({"TESTING": True, "SECRET_KEY": "t" * 32, "PSEUDONYM_KEY": "00" * 16, "CROWD_DIR": str(crowd_dir),
                       "SNAPSHOT_DIR": str(tmp / "no-snapshot"), "PUBLIC_URL": "https://riskcard.test",
                       "STATE_URL": "sqlite:///" + str(tmp / "state.db")})


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fresh")
    # whatever the hour the test runs at; the quiet market nearly empty so that a day's random wobble (lognormal,
    # the same draw for "today" whatever the date) cannot lift it above 0.8 of its usual count
    _, paths, _ = make_city(tmp, now_s=FRESH, days=36, flat=True, factor=(0.05, 1.0, 2.5, 1.0))
    refresh(paths, now_s=FRESH)
    return _app(paths["crowd"], tmp).test_client()


@pytest.fixture(scope="module")
def old(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("old")
    _, paths, _ = make_city(tmp, now_s=NOW)
    refresh(paths, now_s=NOW)  # a store of 2020: far older than the staleness limit
    return paths, _app(paths["crowd"], tmp).test_client()


def test_list_shows_every_market_with_a_level_and_the_rule(fresh):
    html = fresh.get("/markets").get_data(as_text=True)
    assert html.count('href="/market/') == 4 and "数据时间" in html
    assert "level-red" in html and "level-green" in html and "0.8" in html and "1.2" in html
    en = fresh.get("/markets?lang=en").get_data(as_text=True)
    assert "Market crowding" in en and "South Gate Market" in en


def test_market_page_says_now_usual_and_as_of(fresh):
    html = fresh.get("/market/3?lang=zh").get_data(as_text=True)
    assert 'data-level="red"' in html and "比平常挤" in html and "通常" in html
    assert "约 " in html and "人" in html and "/market/3/poster" in html


def test_small_counts_are_not_numbers_on_the_page(fresh):
    body = fresh.get("/api/v1/markets").get_json()
    small = body["small_count"]
    for m in body["markets"]:
        assert m["people_now"] is None or m["people_now"] >= small * 60
    quiet = [m for m in body["markets"] if m["people_now"] is None]
    for m in quiet:
        assert "少于" in fresh.get(f"/market/{m['market_id']}?lang=zh").get_data(as_text=True)


def test_api_matches_its_openapi_description(fresh):
    schema = openapi_document()["paths"]["/api/v1/markets"]["get"]["responses"]["200"]["content"]["application/json"]
    props = schema["schema"]["properties"]["markets"]["items"]
    body = fresh.get("/api/v1/markets").get_json()
    assert len(body["markets"]) == 4
    for m in body["markets"]:
        assert set(props["required"]) <= set(m) and set(m) <= set(props["properties"])
        assert m["level"] in props["properties"]["level"]["enum"]
    one = fresh.get("/api/v1/markets/2").get_json()
    assert one["market_id"] == 2 and one["as_of"].endswith("+00:00")


def test_unknown_market_is_a_friendly_404(fresh):
    r = fresh.get("/market/999")
    assert r.status_code == 404 and "Traceback" not in r.get_data(as_text=True)
    assert fresh.get("/api/v1/markets/999").status_code == 404
    assert fresh.get("/market/99999999999999999999").status_code == 404


def test_poster_names_the_market_page_url(fresh):
    html = fresh.get("/market/2/poster?lang=zh").get_data(as_text=True)
    assert "<svg" in html and "https://riskcard.test/market/2" in html and "扫码" in html


def test_an_old_store_says_data_too_old_and_shows_no_colour(old):
    _, client = old
    html = client.get("/markets").get_data(as_text=True)
    assert "数据过旧" in html and not any(f"level-{c}" in html for c in ("green", "orange", "red"))
    assert {m["level"] for m in client.get("/api/v1/markets").get_json()["markets"]} == {"stale"}
    page = client.get("/market/1").get_data(as_text=True)
    assert "2020-03-04 09:00" in page and "分钟前" in page


def test_a_failed_refresh_is_said_and_the_previous_levels_stay(old):
    paths, client = old
    from miniapp.crowd import RefreshError

    with pytest.raises(RefreshError):
        refresh({**paths, "markets": paths["crowd"] / "missing.csv"}, now_s=NOW + 900)
    html = client.get("/market/1").get_data(as_text=True)
    assert 'id="refresh-failed"' in html and "2020-03-04 09:00" in html


def test_no_store_yet(tmp_path):
    client = _app(tmp_path / "nothing", tmp_path).test_client()
    assert "暂无人流数据" in client.get("/markets").get_data(as_text=True)
    r = client.get("/api/v1/markets")
    assert r.status_code == 503 and r.get_json()["error"]["status"] == 503
    assert client.get("/market/1").status_code == 404
