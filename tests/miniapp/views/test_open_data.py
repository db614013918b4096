"""Per-city open data (issue 19): 30-day forecast, R_t series, the origin's outflow; JSON, CSV, OpenAPI."""

from __future__ import annotations

import csv
import html
import io

import pytest

from tests.miniapp.forecast_fixture import publish_forecast_fixture


@pytest.fixture
def client(app_config, tmp_path):
    from miniapp.app import create_app

    cfg = {**app_config, "SNAPSHOT_DIR": str(publish_forecast_fixture(tmp_path / "fc-snapshots"))}
    return create_app(cfg).test_client()


def test_forecast_json_has_30_days_of_confirmed_and_contacts(client):
    r = client.get("/api/v1/cities/420100/forecast.json")
    assert r.status_code == 200
    body = r.get_json()
    conf = body["targets"]["confirmed_daily"]
    assert len(conf) == 30 and conf[0]["date"] == "2020-02-11" and conf[-1]["date"] == "2020-03-11"
    assert all(d["q025"] <= d["q50"] <= d["q975"] for d in conf)
    contacts = body["targets"]["close_contacts_daily"]
    assert len(contacts) == 30 and contacts[5]["q50"] >= conf[5]["q50"]
    assert "deaths_daily" in body["not_served"] and "suspected_daily" in body["not_served"]


def test_forecast_csv_is_the_same_series(client):
    r = client.get("/api/v1/cities/420100/forecast.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {x["target"] for x in rows} == {"confirmed_daily", "close_contacts_daily"} and len(rows) == 60
    js = client.get("/api/v1/cities/420100/forecast.json").get_json()["targets"]["confirmed_daily"]
    first = [x for x in rows if x["target"] == "confirmed_daily"][0]
    assert float(first["q50"]) == pytest.approx(js[0]["q50"])


def test_rt_series_with_intervals_growth_and_doubling(client):
    body = client.get("/api/v1/cities/420100/rt").get_json()
    rt = body["rt"]
    assert len(rt) >= 20 and all(d["q025"] <= d["q50"] <= d["q975"] for d in rt)
    assert len(body["growth_rate_per_day"]) == len(rt)
    # doubling time only where growing: each row's median growth rate > 0
    growing = {d["date"] for d in body["growth_rate_per_day"] if d["q50"] > 0}
    assert {d["date"] for d in body["doubling_time_days"]} <= growing
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/cities/420100/rt.csv").get_data(as_text=True))))
    assert {x["target"] for x in rows} >= {"rt", "growth_rate_per_day"}


def test_outflow_suppresses_small_counts(client):
    body = client.get("/api/v1/cities/110100/outflow").get_json()
    assert body["origin_city_code"] == 420100 and body["small_count"] == 5
    days = {d["date"]: d for d in body["days"]}
    assert days["2020-02-03"] == {"date": "2020-02-03", "outflow": 40, "round_trips": 6}
    assert days["2020-02-04"]["round_trips"] is None  # 1 person: below the threshold
    sh = client.get("/api/v1/cities/310100/outflow").get_json()["days"]
    assert sh[0]["outflow"] is None  # 2 travellers: below the threshold
    text = client.get("/api/v1/cities/110100/outflow.csv").get_data(as_text=True)
    assert "2020-02-03,420100,40,6" in text and "2020-02-04,420100,," in text


def test_unknown_city_is_404_and_routes_are_in_openapi(client):
    assert client.get("/api/v1/cities/999999/forecast.json").status_code == 404
    assert client.get("/api/v1/cities/999999/outflow.csv").status_code == 404
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for p in ("forecast.json", "forecast.csv", "rt", "rt.csv", "outflow", "outflow.csv"):
        assert f"/api/v1/cities/{{city_code}}/{p}" in paths


def test_snapshot_without_the_series_answers_empty_series(app_config):
    from miniapp.app import create_app

    c = create_app(app_config).test_client()  # the shared fixture: no m007 rows, but the tables exist
    r = c.get("/api/v1/cities/420100/forecast.json")
    assert r.status_code == 200 and r.get_json()["targets"]["confirmed_daily"] == []


@pytest.mark.parametrize("lang,words", [("zh", ["未来30天预测", "倍增时间|未在增长", "去过并返回", "少于5"]),
                                        ("en", ["Forecast, next 30 days", "doubling time|not growing",
                                                "Went there and came back", "fewer than 5"])])
def test_city_page_forecast_section(client, lang, words):
    import re

    r = client.get(f"/city/110100?lang={lang}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'id="forecast-30d"' in html and 'id="rt-chart"' in html and "<svg" in html
    for w in words:
        assert re.search(w, html), w


MEASURED = {"contacts_per_case": 2.5, "source": "measured", "cases_searched": 4, "companion_pairs": 10}
DEFAULT = {"contacts_per_case": 8.7, "source": "default", "cases_searched": 0, "companion_pairs": 0}


@pytest.mark.parametrize("basis,zh,en", [
    (MEASURED, "每例同行人数 2.50（本次构建的同行人员查询：4 例病例中共找到 10 对同行）",
     "x 2.50 companions per case (this build's companion search: 10 companion pairs among 4 cases searched)"),
    (DEFAULT, "全国已追踪密切接触者与确诊病例之比", "this build's companion search had no case to search, so this is not a "
     "measured figure"),
    (None, "本快照未记录密切接触者的计算依据", "This snapshot does not record what its close contacts are based on")])
def test_close_contacts_say_what_they_are_made_of(app_config, tmp_path, basis, zh, en):
    """The page and the API name the ratio behind the close contacts: measured by this build, the national
    default (never called measured), or not recorded (a snapshot from before the basis was kept)."""
    from miniapp.app import create_app

    folder = publish_forecast_fixture(tmp_path / "fc", close_contacts_basis=basis)
    c = create_app({**app_config, "SNAPSHOT_DIR": str(folder)}).test_client()
    body = c.get("/api/v1/cities/420100/forecast.json").get_json()
    assert body["close_contacts_basis"] == basis
    if basis is not None:
        conf, contacts = body["targets"]["confirmed_daily"], body["targets"]["close_contacts_daily"]
        assert contacts[5]["q50"] == pytest.approx(conf[5]["q50"] * basis["contacts_per_case"], rel=1e-6, abs=1e-6)
    zh_html = html.unescape(c.get("/city/420100?lang=zh").get_data(as_text=True))
    en_html = html.unescape(c.get("/city/420100?lang=en").get_data(as_text=True))
    assert zh in zh_html and en in en_html
    if basis is not DEFAULT:
        assert "national ratio" not in en_html
    if basis is not MEASURED:
        assert "companions per case (this build" not in en_html
