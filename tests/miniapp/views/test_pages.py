"""Public pages through the real app over a real published snapshot."""

from __future__ import annotations

import re

import pytest


def test_home_lists_cities_and_search_form(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'name="q"' in html and "武汉" in html
    assert "★" in html  # Wuhan is starred in the fixture


@pytest.mark.parametrize("q", ["百步亭", "baibuting", "bbt", "BBT", "ｂｂｔ"])
def test_search_by_hanzi_pinyin_and_initials(client, q):
    r = client.get("/search", query_string={"q": q})
    assert r.status_code == 200
    assert "百步亭花园" in r.get_data(as_text=True)


def test_search_with_no_match_says_so(client):
    r = client.get("/search", query_string={"q": "不存在的地方"})
    assert r.status_code == 200
    assert 'id="no-results"' in r.get_data(as_text=True)


def test_community_page_shows_grade_reasons_chart_and_star(client):
    html = client.get("/community/1").get_data(as_text=True)
    assert "百步亭花园" in html
    assert "grade-high" in html and "偏高" in html
    assert 'id="reasons"' in html
    assert "<svg" in html and "polyline" in html
    assert "所在城市有中高或偏高风险小区" in html


def test_community_page_in_english(client):
    html = client.get("/community/1?lang=en").get_data(as_text=True)
    assert ">High<" in html and "Why" in html


def test_community_without_data_is_unknown_not_made_up(client):
    html = client.get("/community/9").get_data(as_text=True)
    assert "grade-unknown" in html
    assert 'id="score"' not in html


def test_unknown_community_is_a_friendly_404(client):
    r = client.get("/community/999999")
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "没有找到" in html and "Traceback" not in html


def test_poster_carries_a_qr_code_of_the_page(client):
    import io

    import zxingcpp
    from PIL import Image

    from miniapp.qr import qr_png

    html = client.get("/community/1/poster").get_data(as_text=True)
    assert "<svg" in html and "https://riskcard.test/community/1" in html
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png("https://riskcard.test/community/1"))))
    assert [d.text for d in decoded] == ["https://riskcard.test/community/1"]


def test_city_page_has_rt_map_and_inflow(client):
    html = client.get("/city/420100").get_data(as_text=True)
    assert "武汉" in html and "<circle" in html
    assert re.search(r'href="/community/\d+"', html)


def test_same_trip_query_validates_and_answers(client):
    assert client.get("/same-trip").status_code == 200
    bad = client.get("/same-trip", query_string={"date": "yesterday", "number": "G1"})
    assert bad.status_code == 400 and 'id="error"' in bad.get_data(as_text=True)
    ok = client.get("/same-trip", query_string={"date": "2020-01-01", "number": "ZZ9999"})
    assert ok.status_code == 200 and 'id="answer"' in ok.get_data(as_text=True)


def test_security_headers_on_every_page(client):
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_huge_body_is_refused_with_413(client):
    r = client.post("/card/code", data={"number": "1" * 200_000})
    assert r.status_code == 413
    assert "Traceback" not in r.get_data(as_text=True)


def test_methods_and_privacy_pages(client):
    assert "4小时" in client.get("/methods").get_data(as_text=True)
    assert "15" in client.get("/privacy").get_data(as_text=True)


def test_language_switch_keeps_the_search(client):
    html = client.get("/search", query_string={"q": "bbt"}).get_data(as_text=True)
    assert "/search?q=bbt&amp;lang=en" in html


def test_update_time_is_local(client):
    html = client.get("/community/1").get_data(as_text=True)
    assert "+00:00" not in html


def test_big_city_map_is_capped(app_config, tmp_path):
    from miniapp.app import create_app
    from tests.miniapp.snapshot_fixture import publish_fixture

    publish_fixture(tmp_path / "big", extra_communities=3000)  # ~750 in Wuhan
    client = create_app({**app_config, "SNAPSHOT_DIR": str(tmp_path / "big")}).test_client()
    html = client.get("/city/420100").get_data(as_text=True)
    from miniapp.views.pages import MAP_MAX_POINTS  # markers big enough to tap (issue 17): a few dozen at most

    shown = MAP_MAX_POINTS
    assert html.count("<circle") == shown and f"{shown} 个小区（共" in html and len(html) < 80_000
