"""The lookup cache answers exactly what the app would, per language, and never after a new snapshot."""

from __future__ import annotations

from tests.miniapp.snapshot_fixture import publish_fixture


def _cache(app):
    return app.wsgi_app


def test_cached_answer_equals_the_app_answer(client, app):
    first = client.get("/community/1")
    second = client.get("/community/1")
    assert _cache(app).hits == 1
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]


def test_languages_are_cached_apart(client, app):
    zh = client.get("/community/1").get_data(as_text=True)
    en = client.get("/community/1", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "偏高" in zh and ">High<" in en


def test_not_found_and_cookie_setting_answers_are_not_cached(client, app):
    client.get("/community/999999")
    client.get("/community/999999")
    client.get("/community/1?lang=en")
    client.get("/community/1?lang=en")
    assert _cache(app).hits == 0


def test_a_new_snapshot_is_never_answered_from_the_old_cache(client, app, app_config, monkeypatch):
    import time

    before = client.get("/api/v1/communities/1").get_json()
    publish_fixture(app_config["SNAPSHOT_DIR"], as_of="2020-02-20")
    monkeypatch.setattr(time, "monotonic", lambda: 1e12)  # past the store's once-a-second check
    store = app.extensions["riskcard"].store()
    assert store.meta()["as_of"] == "2020-02-20"
    after = client.get("/api/v1/communities/1").get_json()
    assert after["updated_at"] != before["updated_at"] or after != before
