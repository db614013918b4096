"""Levels on hand-built cases: the three colours at their boundaries, and the cannot-tell states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.crowding import assess, level_of_ratio, now_counts, slot_counts, usual_counts

TZ = "Asia/Shanghai"
NOW = int(pd.Timestamp("2020-03-04 10:30", tz=TZ).timestamp())  # a Wednesday, 10:15-10:30 is "now"
WEEK = 7 * 86400
MC = pd.DataFrame({"market_id": [1, 1, 2], "cell_id": [10, 11, 20]})


def _history(per_week: dict[int, list[int]], market: int = 1, hour_start: int | None = None) -> pd.DataFrame:
    """History rows: for week k back, the four 15-minute counts of the 10:00 hour."""
    hour = NOW - 1800 if hour_start is None else hour_start
    rows = [(market, hour - k * WEEK + 900 * j, c) for k, counts in per_week.items() for j, c in enumerate(counts)]
    return pd.DataFrame(rows, columns=["market_id", "slot_s", "subscribers"])


def _pings(n_people: int, cell: int = 10, start: int = NOW - 900) -> pd.DataFrame:
    uid = np.arange(n_people, dtype=np.int64)
    return pd.DataFrame({"uid": np.repeat(uid, 2), "ts_s": start + np.tile([5, 600], n_people), "cell_id": cell})


def _level(now_people: int, usual_per_week: dict[int, list[int]], **kw) -> str:
    pings = _pings(now_people)
    now = now_counts(pings, MC, NOW)
    usual = usual_counts(_history(usual_per_week), [1, 2], NOW, tz=TZ)
    return assess(now, usual, now_s=NOW, newest_ping_s=NOW - 10, small_count=5, **kw).loc[1, "level"]


def test_ratio_boundaries_as_stated():
    assert level_of_ratio([0.0, 0.79, 0.8, 1.0, 1.2, 1.2001, 9]).tolist() == [
        "green", "green", "orange", "orange", "orange", "red", "red"]


@pytest.mark.parametrize("now_people, expected", [(15, "green"), (20, "orange"), (24, "orange"), (25, "red")])
def test_people_now_against_the_median_of_same_weekdays(now_people, expected):
    # usual: hour means 10, 20, 20, 30, 40 over five weeks -> median 20
    weeks = {1: [10] * 4, 2: [20] * 4, 3: [20] * 4, 4: [30] * 4, 5: [40] * 4}
    assert _level(now_people, weeks) == expected


def test_hour_mean_uses_the_observed_slots_and_only_same_weekday_same_hour():
    weeks = {k: [16, 24, 20, 20] for k in (1, 2, 3, 4)}  # hour mean 20
    h = pd.concat([_history(weeks), _history({1: [500] * 4}, hour_start=NOW - 1800 - 86400),  # yesterday: ignored
                   _history({1: [500] * 4}, hour_start=NOW - 1800 - WEEK + 3600)])  # the next hour: ignored
    u = usual_counts(h, [1], NOW, tz=TZ)
    assert u.loc[1, "usual"] == 20.0 and u.loc[1, "weeks"] == 4


def test_not_enough_history_is_not_a_colour():
    weeks = {1: [20] * 4, 2: [20] * 4, 3: [20] * 4}  # three weeks < 4
    assert _level(1, weeks) == "no_history"
    assert _level(100, weeks) == "no_history"


def test_market_without_any_history_row_says_so():
    now = now_counts(_pings(30), MC, NOW)
    a = assess(now, usual_counts(_history({k: [20] * 4 for k in range(1, 9)}), [1, 2], NOW, tz=TZ), now_s=NOW,
               newest_ping_s=NOW - 10)
    assert a.loc[2, "level"] == "no_history" and a.loc[1, "level"] == "red"


@pytest.mark.parametrize("newest", [None, NOW - 1801, NOW - 86400])
def test_old_data_is_data_too_old_never_green(newest):
    now = now_counts(_pings(0), MC, NOW)  # nobody seen: would be green if it could be checked
    usual = usual_counts(_history({k: [20] * 4 for k in range(1, 9)}), [1, 2], NOW, tz=TZ)
    a = assess(now, usual, now_s=NOW, newest_ping_s=newest, stale_after_s=1800)
    assert set(a["level"]) == {"stale"} and a["ratio"].isna().all()


def test_small_counts_are_not_numbers_and_the_floor_keeps_a_quiet_hour_green():
    weeks = {k: [1, 2, 1, 0] for k in range(1, 9)}  # usual about 1 subscriber: below the small count
    now = now_counts(_pings(3), MC, NOW)
    a = assess(now, usual_counts(_history(weeks), [1, 2], NOW, tz=TZ), now_s=NOW, newest_ping_s=NOW - 10,
               small_count=5, residents_per_subscriber=60)
    assert a.loc[1, "level"] == "green"  # 3 / max(1, 5) = 0.6
    assert a.loc[1, "people_now"] is None and a.loc[1, "usual_people"] is None


def test_counts_are_scaled_to_residents_and_the_ratio_is_not():
    weeks = {k: [20] * 4 for k in range(1, 9)}
    now = now_counts(_pings(30), MC, NOW)
    usual = usual_counts(_history(weeks), [1, 2], NOW, tz=TZ)
    a1 = assess(now, usual, now_s=NOW, newest_ping_s=NOW, residents_per_subscriber=1)
    a60 = assess(now, usual, now_s=NOW, newest_ping_s=NOW, residents_per_subscriber=60)
    assert a60.loc[1, "people_now"] == 1800 and a60.loc[1, "usual_people"] == 1200
    assert a1.loc[1, "ratio"] == a60.loc[1, "ratio"] == 1.5 and a60.loc[1, "level"] == "red"


def test_a_subscriber_counts_once_per_market_and_a_shared_cell_counts_for_both():
    mc = pd.DataFrame({"market_id": [1, 2, 2], "cell_id": [10, 10, 20]})
    pings = pd.DataFrame({"uid": [7, 7, 7, 8], "ts_s": [NOW - 800, NOW - 700, NOW - 600, NOW - 500],
                          "cell_id": [10, 20, 10, 99]})
    assert now_counts(pings, mc, NOW).to_dict() == {1: 1, 2: 1}
    s = slot_counts(pings, mc)
    assert s["subscribers"].tolist() == [1, 1]


def test_slots_without_any_ping_are_no_data_not_zero():
    pings = pd.DataFrame({"uid": [1, 2], "ts_s": [0, 3 * 900 + 1], "cell_id": [99, 10]})
    s = slot_counts(pings, MC)
    assert sorted(set(s["slot_s"])) == [0, 2700]  # slots 900 and 1800 had no ping at all
    assert s.set_index(["market_id", "slot_s"]).loc[(1, 0), "subscribers"] == 0


def test_inputs_are_not_mutated():
    pings = _pings(10)
    before = pings.copy()
    now_counts(pings, MC, NOW)
    slot_counts(pings, MC)
    pd.testing.assert_frame_equal(pings, before)
