"""The crowd store is replaced atomically: readers see the old store or the new one, never a broken one;
a refresh that fails midway leaves the old one served and says so."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from miniapp.crowd import STORE_NAME, CrowdReader, RefreshError, read_failure
from tests.miniapp.crowd.kit import NOW, make_city, refresh


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crowd")
    c, paths, truth = make_city(tmp)
    return c, paths, truth


def test_a_refresh_serves_levels_from_the_pings_feed(city):
    _, paths, _ = city
    out = refresh(paths)
    assert out["markets"] == 4 and out["pings_read"] > 10_000
    store = CrowdReader(paths["crowd"])()
    levels = {m["market_id"]: m["level"] for m in store.markets()}
    assert levels[1] == "green" and levels[3] == "red"  # now x0.3 and x2.5 of the usual
    assert store.meta()["now_s"] == NOW and not list(paths["crowd"].glob("*.tmp-*"))


def test_a_reader_during_a_refresh_sees_the_old_store_whole_then_the_new(city):
    _, paths, _ = city
    refresh(paths)
    reader = CrowdReader(paths["crowd"])
    old = reader()
    seen = {}

    def during(tmp):  # the new file is complete but not yet swapped in
        s = reader()
        seen["now_s"], seen["n"] = s.meta()["now_s"], len(s.markets())

    refresh(paths, now_s=NOW + 900, lookback_minutes=60, backfill_days=0, _before_replace=during)
    assert seen == {"now_s": NOW, "n": 4}
    assert old.meta()["now_s"] == NOW and len(old.markets()) == 4  # an open store keeps reading its own file
    assert reader().meta()["now_s"] == NOW + 900


def test_readers_in_a_thread_never_see_a_broken_store(city):
    _, paths, _ = city
    refresh(paths)
    reader = CrowdReader(paths["crowd"])
    stop = threading.Event()
    results, errors = [], []

    def read_loop():
        while not stop.is_set():
            try:
                s = reader()
                results.append((s.meta()["now_s"], len(s.markets()), len(s.history())))
            except (sqlite3.Error, KeyError, TypeError) as exc:  # pragma: no cover - the failure being tested
                errors.append(repr(exc))

    t = threading.Thread(target=read_loop)
    t.start()
    try:
        for k in range(1, 4):
            refresh(paths, now_s=NOW + 900 * k, lookback_minutes=60, backfill_days=0)
    finally:
        stop.set()
        t.join()
    assert not errors
    assert results and all(n == 4 and h > 0 for _, n, h in results)
    assert {r[0] for r in results} <= {NOW + 900 * k for k in range(0, 4)}


def test_a_refresh_failing_midway_leaves_the_old_store_served(city):
    _, paths, _ = city
    refresh(paths)
    before = (paths["crowd"] / STORE_NAME).read_bytes()

    def boom(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(RefreshError, match="served store is unchanged"):
        refresh(paths, now_s=NOW + 900, backfill_days=0, _before_replace=boom)
    assert (paths["crowd"] / STORE_NAME).read_bytes() == before
    assert not list(paths["crowd"].glob("*.tmp-*"))
    assert "No space left" in read_failure(paths["crowd"])["reason"]
    assert CrowdReader(paths["crowd"])().meta()["now_s"] == NOW
    refresh(paths)  # the next success clears the failure note
    assert read_failure(paths["crowd"]) is None


def test_a_markets_feed_with_no_valid_row_fails_and_changes_nothing(city, tmp_path):
    _, paths, _ = city
    refresh(paths)
    bad = tmp_path / "markets.csv"
    bad.write_text("market_id,name,city_code,lon,lat,cell_ids\nx,甲,330300,120,28,1\n", encoding="utf-8")
    with pytest.raises(RefreshError, match="no valid market"):
        refresh({**paths, "markets": bad}, now_s=NOW + 900, backfill_days=0)
    assert CrowdReader(paths["crowd"])().meta()["now_s"] == NOW
    assert (paths["crowd"] / "quarantine" / "markets.quarantine.csv").read_text(encoding="utf-8").count("bad_type") == 1


def test_history_is_carried_over_so_a_short_lookback_still_has_the_usual(city):
    _, paths, _ = city
    refresh(paths)
    out = refresh(paths, now_s=NOW, backfill_days=0, lookback_minutes=30)
    assert out["pings_at_markets"] < 5000 and "no_history" not in out["levels"]
