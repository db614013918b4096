"""The read-only store API that pages, the JSON API and the bot use."""

from __future__ import annotations

import importlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniapp.cards import COLOUR_POLICY, POSSIBLE_COMPANION_NOTICE, card_from_records
from miniapp.pipeline import write_and_publish
from miniapp.snapshot import SnapshotError, SnapshotStore, open_current, write_snapshot
from tests.miniapp.snapshot_fixture import AS_OF, UIDS, fixture_meta, publish_fixture, snapshot_tables

# the module, not the function of the same name the package re-exports
P = importlib.import_module("miniapp.snapshot.publish")


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory):
    return publish_fixture(tmp_path_factory.mktemp("snaps"))


@pytest.fixture(scope="module")
def snap(snap_dir):
    pointer = P.read_current(snap_dir)
    return SnapshotStore(snap_dir / pointer["name"], pointer["sha256"])


def names(rows):
    return [r["name"] for r in rows]


@pytest.mark.parametrize("q", ["百步亭", "步亭", "baibuting", "BaiBuTing", "bai bu ting", "bbt", "BBT", "ｂｂｔ",
                               "buting", "百步ting", "bbthy"])
def test_search_by_hanzi_pinyin_and_initials(snap, q):
    got = names(snap.search_communities(q))
    assert got[0] == "百步亭花园", q
    assert "东亭小区" not in got


def test_search_ranking_and_limit(snap):
    assert names(snap.search_communities("百步亭安居苑")) == ["百步亭安居苑"]
    # exact initials beat longer prefixes; whole-name prefixes beat matches inside a name
    assert names(snap.search_communities("bai"))[:2] == ["百步亭花园", "白石洲"]
    assert len(snap.search_communities("x", limit=2)) == 2
    assert names(snap.search_communities("soho")) == ["SOHO现代城"]
    assert names(snap.search_communities("xdc")) == ["SOHO现代城"]


def test_search_result_fields(snap):
    (r,) = [r for r in snap.search_communities("新建") if r["community_id"] == 9]
    assert r["grade"] == "unknown" and r["grade_zh"] == "暂无数据" and r["score"] is None
    top = snap.search_communities("bbt")[0]
    assert {k: top[k] for k in ("community_id", "city_code", "city_name", "district", "grade", "grade_zh", "score")} == {
        "community_id": 1, "city_code": 420100, "city_name": "武汉", "district": "江岸区", "grade": "high",
        "grade_zh": "偏高", "score": 20.0}


@pytest.mark.parametrize("q", ["", "   ", "zzzzqqq", '"', "'; DROP TABLE communities; --", "*", "NEAR(a b)",
                               "chars:百", "百 OR 步", "\x00", "😀", "a" * 5000, "-bbt", "^"])
def test_search_odd_input_is_harmless(snap, q):
    out = snap.search_communities(q)
    assert isinstance(out, list)
    json.dumps(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=30))
def test_search_never_raises(snap, q):
    assert isinstance(snap.search_communities(q, limit=5), list)


def test_community_page_data(snap):
    c = snap.community(1)
    json.dumps(c)
    assert (c["name"], c["city"], c["district"], c["population"]) == ("百步亭花园", "武汉", "江岸区", 130_000)
    assert (c["grade"], c["grade_zh"], c["score"], c["interval"], c["trend"]) == ("high", "偏高", 20.0, [12.0, 32.0], "up")
    assert {r["factor"] for r in c["reasons"]} == {"recent_cases", "inflow"}
    assert all(set(r) >= {"factor", "text_zh", "text_en", "contribution"} for r in c["reasons"])
    assert len(c["history"]) == 30 and c["history"][-1] == {"date": AS_OF, "score": 20.0, "grade": "high"}
    assert [h["date"] for h in c["history"]] == sorted(h["date"] for h in c["history"])
    assert len(c["forecast"]) == 7 and all(f["q05"] <= f["q50"] <= f["q95"] for f in c["forecast"])
    assert c["forecast"][0]["date"] == "2020-02-11"
    near = c["nearby_cases"]
    assert [n["distance_m"] for n in near] == [120.0, 650.0] and c["nearest_case_m"] == 120.0
    assert (near[0]["cases"], near[0]["cases_text"]) == (12, "12")
    assert (near[1]["cases"], near[1]["cases_text"], near[1]["suppressed"]) == (None, "<5", True)
    assert c["city_starred"] is True and c["updated_at"] == snap.meta()["built_at"]


def test_community_without_data_and_unknown_id(snap):
    c = snap.community(9)
    assert c["grade"] == "unknown" and c["score"] is None and c["reasons"][0]["factor"] == "no_data"
    assert c["history"] == [] and c["forecast"] == [] and c["city_starred"] is False
    assert snap.community(424242) is None and snap.community("x") is None


def test_city(snap):
    c = snap.city(110100)
    json.dumps(c)
    assert (c["name"], c["name_en"], c["starred"], c["rt"], c["rt_interval"]) == ("北京", "Beijing", False, 0.9, [0.7, 1.1])
    assert [i["city_code"] for i in c["inflow"]] == [420100, 310100, 440300]
    assert c["inflow"][0]["name"] == "武汉" and c["inflow"][0]["starred"] is True
    assert abs(sum(i["share"] for i in c["inflow"]) - 1) < 1e-3
    assert {x["name"] for x in c["communities"]} == {"望京西园", "SOHO现代城"}
    assert len(c["forecast"]) == 7 and len(c["history"]) == 30
    assert snap.city(420100)["starred"] is True and snap.city(999999) is None


def test_cities_and_stars(snap):
    cities = snap.cities()
    assert [c["city_code"] for c in cities] == [110100, 310100, 420100, 440300]
    assert snap.starred_cities() == {420100}
    cities[0]["name"] = "changed"  # callers get copies
    assert snap.cities()[0]["name"] == "北京"


@pytest.mark.parametrize("role,colour,n_cities", [("companion", "orange", 1), ("traveller", "yellow", 2),
                                                   ("green", "green", 2), ("possible", "green", 1)])
def test_itinerary_colours(snap, role, colour, n_cities):
    it = card_from_records(snap.itinerary(UIDS[role]))
    json.dumps(it)
    assert it["colour"] == colour and len(it["cities"]) == n_cities
    assert (it["window_start"], it["window_end"]) == ("2020-01-27", "2020-02-09")
    assert it["companion"] is (role == "companion")
    assert it["possible_companion"] is (role == "possible")
    assert any(c["starred"] for c in it["cities"]) is (role in ("companion", "traveller"))
    assert {c["city_code"]: c["name"] for c in it["cities"]}.keys() <= {420100, 110100, 310100}
    assert colour in {p[0] for p in COLOUR_POLICY}


def test_possible_companion_keeps_its_colour_and_gets_the_softer_notice(snap):
    it = card_from_records(snap.itinerary(UIDS["possible"]))
    assert it["colour"] == "green" and it["colour_rule"] == "default"
    assert it["notice_zh"] == POSSIBLE_COMPANION_NOTICE["zh"] and "40-60" in it["notice_zh"]
    assert it["notice_en"].startswith("You may have shared a place")
    assert card_from_records(snap.itinerary(UIDS["companion"]))["notice_zh"] is None


def test_possible_companion_in_a_starred_city_is_yellow_and_companion_wins(tmp_path):
    tables = snapshot_tables()
    uid = UIDS["possible"]
    itin = tables["itineraries"]
    tables["itineraries"] = itin.assign(city_code=itin["city_code"].where(itin["uid"] != uid, 420100))
    tables["exposure"] = tables["exposure"].assign(uid=[uid, uid])  # a companion of one case, possible of another
    write_snapshot(tables, tmp_path / "both.db", fixture_meta())
    it = card_from_records(SnapshotStore(tmp_path / "both.db").itinerary(uid))
    assert (it["colour"], it["companion"], it["possible_companion"]) == ("orange", True, False)
    tables["exposure"] = tables["exposure"].iloc[[1]]
    write_snapshot(tables, tmp_path / "possible.db", fixture_meta())
    it = card_from_records(SnapshotStore(tmp_path / "possible.db").itinerary(uid))
    assert (it["colour"], it["companion"], it["possible_companion"]) == ("yellow", False, True)


def test_itinerary_unknown(snap):
    assert snap.itinerary(12345) is None and snap.itinerary("nope") is None


def test_same_trip(snap):
    d = "2020-02-02"
    assert [r["cases"] for r in snap.same_trip(d, "G1234")] == [2, 1]
    assert snap.same_trip(d, " g 1234 ", "7") == [{"date": d, "mode": "train", "number": "G1234", "car": "7", "cases": 1}]
    assert snap.same_trip(d, "G1234", "9") == []
    assert snap.same_trip("2020-02-01", "CA1234", "12")[0]["car"] is None  # unknown car: could be any
    assert snap.same_trip("2020-02-03", "G1234") == [] and snap.same_trip("not a date", "G1234") == []
    assert snap.same_trip(d, "") == []


def test_grades_csv_rows(snap):
    rows = list(snap.grades())
    assert len(rows) == 9 and json.dumps(rows)
    by_id = {r["community_id"]: r for r in rows}
    assert by_id[1]["grade"] == "high" and by_id[9]["grade"] == "unknown" and by_id[1]["date"] == AS_OF


def test_meta_and_methods(snap):
    m = snap.meta()
    assert m["as_of"] == AS_OF and m["tz"] == "Asia/Shanghai" and len(m["sha256"]) == 64
    assert m["code_version"] == "test" and m["params"]["window_days"] == 14
    assert snap.methods_figures() == {"backtest": {"coverage_90": 0.88, "mae": 1.2}}


def test_read_only(snap):
    with pytest.raises(sqlite3.OperationalError):
        snap._conn().execute("DELETE FROM communities")


def test_threads_share_a_store(snap):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: snap.community(1 + i % 9)["name"], range(200)))
    assert results[:9] == [snap.community(i)["name"] for i in range(1, 10)]


def test_open_current_follows_new_snapshots(tmp_path):
    d = tmp_path / "snaps"
    current = open_current(d, check_interval_s=0)
    assert current() is None and "no snapshot" in current.error
    with pytest.raises(SnapshotError, match="no snapshot"):
        current.require()
    publish_fixture(d)
    first = current()
    assert first.meta()["as_of"] == AS_OF
    write_and_publish(snapshot_tables("2020-02-11"), d, fixture_meta("2020-02-11"))
    second = current()
    assert second is not first and second.meta()["as_of"] == "2020-02-11"
    assert current() is second  # unchanged pointer: same store
    P.rollback(d)
    assert current().meta()["as_of"] == AS_OF


def test_open_current_looks_at_most_once_per_interval(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    current = open_current(d, check_interval_s=3600)
    first = current()
    write_and_publish(snapshot_tables("2020-02-11"), d, fixture_meta("2020-02-11"))
    assert current() is first  # not looked at again within the interval
    assert open_current(d, check_interval_s=3600) is current  # one per directory and process


def test_corrupt_new_snapshot_is_refused_and_previous_served(tmp_path):
    d = publish_fixture(tmp_path / "snaps")
    current = open_current(d, check_interval_s=0)
    first = current()
    # an operator copies a broken file in and points CURRENT at it by hand
    bad = d / "snapshot-20300101T000000000000Z.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 8192)
    P.atomic_write_text(d / P.CURRENT, json.dumps({"name": bad.name, "sha256": "0" * 64}))
    assert current() is first and "refused" in current.error
    assert first.community(1)["name"] == "百步亭花园"
    with pytest.raises(SnapshotError, match="sha256"):
        SnapshotStore(bad, "0" * 64)
    with pytest.raises(SnapshotError):
        SnapshotStore(bad)
    (d / P.CURRENT).write_text("garbage")
    assert current() is first and "damaged" in current.error
    with pytest.raises(SnapshotError, match="cannot be read"):
        SnapshotStore(d / "missing.db")


def test_a_fresh_process_facing_a_bad_current_serves_the_last_good_snapshot(tmp_path):
    """A worker started after a corrupt publish has no previous store of its own to keep."""
    import json

    from miniapp.snapshot import CurrentSnapshot
    from tests.miniapp.snapshot_fixture import publish_fixture

    snap_dir = publish_fixture(tmp_path / "s", as_of="2020-02-10")
    publish_fixture(snap_dir, as_of="2020-02-11")
    pointer = json.loads((snap_dir / "CURRENT").read_text())
    (snap_dir / pointer["name"]).write_bytes(b"not a database")  # the served file is damaged
    current = CurrentSnapshot(snap_dir)  # as in a worker that has opened nothing yet
    store = current()
    assert store is not None and store.meta()["as_of"] == "2020-02-10"
    assert "refused" in current.error
