"""Issue 17, the API's small things: errors name the problem, an index at /api/v1/, a servers entry."""

from __future__ import annotations


def test_a_missing_q_names_the_problem(client):
    r = client.get("/api/v1/communities")
    error = r.get_json()["error"]
    assert r.status_code == 400 and "q is required" in error["message"] and "缺少参数 q" in error["message_zh"]
    assert "go back and try again" not in error["message"]


def test_a_bad_limit_names_the_problem(client):
    error = client.get("/api/v1/communities?q=bbt&limit=999").get_json()["error"]
    assert "limit must be a whole number from 1 to 50" in error["message"]


def test_the_api_has_an_index_listing_every_documented_endpoint(client):
    r = client.get("/api/v1/")
    body = r.get_json()
    assert r.status_code == 200 and body["openapi"].endswith("/api/v1/openapi.json")
    paths = {e["path"] for e in body["endpoints"]}
    assert {"/api/v1/communities", "/api/v1/meta", "/api/v1/same-trip"} <= paths


def test_the_openapi_document_names_its_server(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["servers"] == [{"url": app.config["PUBLIC_URL"], "description": "this service"}]


def test_one_small_count_threshold_everywhere(client):
    from forecast.contacts import MIN_COUNT

    small = client.get("/api/v1/meta").get_json()["small_count"]
    privacy = client.get("/privacy").get_data(as_text=True)
    assert small == MIN_COUNT and f"少于{small}的数字不显示" in privacy
