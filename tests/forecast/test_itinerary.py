"""City-days and 14-day itineraries: local midnights, same-city bridging, the D-14..D-1 window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.accuracy import itinerary_exactness
from forecast.itinerary import city_days, itineraries, local_seconds, visited_city_sets
from forecast.schema import CITY_DAYS, ITINERARY

MIDNIGHT = int(pd.Timestamp("2020-01-10", tz="Asia/Shanghai").timestamp())  # local 2020-01-10 00:00
H = 3600


def _stays(rows):
    uid, start, end, city = zip(*rows)
    return pd.DataFrame({"uid": uid, "start_s": start, "end_s": end, "city_code": city})


def test_local_seconds_uses_the_zone():
    assert local_seconds(np.array([MIDNIGHT]))[0] % 86400 == 0
    utc = local_seconds(np.array([MIDNIGHT]), "UTC")[0]
    assert utc % 86400 == 16 * H  # 16:00 UTC the day before
    ny = local_seconds(np.array([1_583_650_800, 1_583_650_800 - 86400 * 10]), "America/New_York")
    assert (ny - np.array([1_583_650_800, 1_583_650_800 - 86400 * 10])).tolist() == [-4 * H, -5 * H]


def test_a_stay_across_midnight_is_split_between_local_days():
    cd = city_days(_stays([(1, MIDNIGHT - 2 * H, MIDNIGHT + 5 * H, 110000)]), min_city_minutes=0)
    assert cd["minutes"].tolist() == [120.0, 300.0]
    assert cd["local_date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-09", "2020-01-10"]
    assert cd.dtypes.astype(str).to_dict() == CITY_DAYS


def test_gaps_between_stays_in_the_same_city_count_but_not_across_cities():
    s = _stays([
        (1, MIDNIGHT + 1 * H, MIDNIGHT + 3 * H, 110000),
        (1, MIDNIGHT + 4 * H, MIDNIGHT + 6 * H, 110000),  # 1 h gap, same city: bridged
        (1, MIDNIGHT + 8 * H, MIDNIGHT + 11 * H, 120000),  # 2 h gap, other city: not counted
    ])
    cd = city_days(s, min_city_minutes=0).set_index("city_code")["minutes"].to_dict()
    assert cd == {110000: 300.0, 120000: 180.0}
    assert city_days(s, min_city_minutes=0, bridge_gap_minutes=30).set_index("city_code")["minutes"][110000] == 240.0


def test_min_city_minutes_keeps_only_visited_cities():
    s = _stays([(1, MIDNIGHT, MIDNIGHT + 4 * H, 110000), (1, MIDNIGHT + 5 * H, MIDNIGHT + 8 * H, 120000)])
    assert city_days(s)["city_code"].tolist() == [110000]  # 4 h counts, 3 h does not
    assert len(city_days(s, min_city_minutes=0)) == 2


def test_raw_city_days_from_pings_count_each_ping_in_its_own_city():
    cells = pd.DataFrame({"cell_id": [1, 2], "lon": [116.0, 116.1], "lat": [39.9, 39.9],
                          "city_code": [110000, 130600], "community_id": [1, 2]})
    pings = pd.DataFrame({"uid": [1, 1, 1], "ts_s": [MIDNIGHT + H, MIDNIGHT + 2 * H, MIDNIGHT + 3 * H],
                          "cell_id": [1, 2, 1]})
    cd = city_days(None, pings=pings, cells=cells, min_city_minutes=0)
    assert cd.set_index("city_code")["minutes"].to_dict() == {110000: 60.0, 130600: 60.0}


def test_itinerary_window_is_the_14_days_before_the_query_day():
    days = pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-15", "2020-01-16", "2020-01-10"])
    cd = pd.DataFrame({"uid": [1, 1, 1, 1, 2], "local_date": days, "city_code": [10, 20, 30, 40, 10],
                       "minutes": [300.0, 300.0, 300.0, 300.0, 100.0]})
    it = itineraries(cd, "2020-01-16")  # covers 2020-01-02 .. 2020-01-15
    assert it["city_code"].tolist() == [20, 30]
    assert it.dtypes.astype(str).to_dict() == ITINERARY
    assert itineraries(cd, pd.Timestamp("2020-01-16", tz="Asia/Shanghai"))["city_code"].tolist() == [20, 30]
    assert visited_city_sets(it).to_dict() == {1: (20, 30)}
    with pytest.raises(ValueError):
        itineraries(cd, "2020-01-16", window_days=0)


def test_itinerary_counts_days_and_first_last():
    days = pd.to_datetime(["2020-01-03", "2020-01-05", "2020-01-05"])
    cd = pd.DataFrame({"uid": [1, 1, 1], "local_date": days, "city_code": [10, 10, 20], "minutes": [250.0] * 3})
    it = itineraries(cd, "2020-01-10").set_index("city_code")
    assert it.loc[10, "days"] == 2 and str(it.loc[10, "first_date"].date()) == "2020-01-03"
    assert str(it.loc[10, "last_date"].date()) == "2020-01-05"


def test_itinerary_exactness_splits_near_and_away_from_borders():
    subs = pd.DataFrame({"uid": [1, 2, 3], "near_border": [False, False, True]})
    day = pd.Timestamp("2020-01-05")
    truth = pd.DataFrame({"uid": [1, 2, 3], "local_date": [day] * 3, "city_code": [10, 10, 10],
                          "minutes": [600.0] * 3})
    det = truth.assign(city_code=[10, 11, 12])
    ex = itinerary_exactness(det, truth, "2020-01-10", subs)
    assert ex["exact_share_away"] == 0.5 and ex["error_near"] == 1.0


@pytest.fixture(scope="module")
def nation():
    synth = pytest.importorskip("forecast.synth")
    return synth.generate_nation(synth.NationConfig(n_subscribers=800, n_cities=6, seed=7), pseudonym_key=b"k" * 32)


def test_itineraries_are_exact_away_from_borders_and_smoothing_lowers_border_error(nation):
    from forecast.stays import detect_stays, learn_serving_cities

    pings = nation.canonical_pings()
    q = nation.config.as_of
    cells = learn_serving_cities(pings, nation.cells)
    smooth = itinerary_exactness(city_days(detect_stays(pings, cells), min_city_minutes=0),
                                 nation.true_city_days, q, nation.subscribers)
    raw = itinerary_exactness(city_days(None, pings=pings, cells=nation.cells, min_city_minutes=0),
                              nation.true_city_days, q, nation.subscribers)
    assert smooth["exact_share_away"] >= 0.995
    assert smooth["error_near"] < raw["error_near"]


@pytest.mark.parametrize("chunk_rows", [None, 7])
def test_row_order_of_stays_and_city_days_does_not_change_the_results(chunk_rows, monkeypatch):
    rng = np.random.default_rng(5)
    n = 600
    uid = rng.integers(-(2**62), 2**62, 25)[rng.integers(0, 25, n)]
    start = 1_580_000_000 + rng.integers(0, 20 * 86_400, n)
    stays = pd.DataFrame({"uid": uid, "start_s": start, "end_s": start + rng.integers(600, 30_000, n),
                          "city_code": rng.choice([110000, 120000, 130600], n)})
    by_uid = stays.sort_values(["uid", "start_s"], kind="stable").reset_index(drop=True)
    # subscribers grouped but not in uid order (a feed's order of first appearance), and shuffled rows
    first_seen = by_uid.groupby("uid")["start_s"].transform("min")
    grouped = by_uid.assign(_k=first_seen).sort_values(["_k", "uid", "start_s"], kind="stable").drop(columns="_k")
    want = city_days(by_uid, min_city_minutes=0)
    assert len(want) > 100 and want["uid"].is_monotonic_increasing
    if chunk_rows:  # chunks of whole subscribers, as city_days cuts large inputs
        monkeypatch.setattr("forecast.itinerary._CHUNK_ROWS", chunk_rows)
        pd.testing.assert_frame_equal(city_days(by_uid, min_city_minutes=0), want)
    for other in (grouped, stays.sample(frac=1.0, random_state=2)):
        pd.testing.assert_frame_equal(city_days(other, min_city_minutes=0), want)
    shuffled = want.sample(frac=1.0, random_state=3)
    for q in ("2020-01-30", "2020-02-10"):
        pd.testing.assert_frame_equal(itineraries(shuffled, q), itineraries(want, q))


def test_split_at_midnights_matches_a_piece_by_piece_reference():
    from forecast.itinerary import DAY_S, _split_days

    rng = np.random.default_rng(6)
    n = 400
    start = rng.integers(0, 10 * DAY_S, n)
    end = start + rng.choice([-50, 0, 1, 3600, DAY_S, 3 * DAY_S + 17], n) + rng.integers(0, 2, n)
    uid, city = rng.integers(0, 9, n), rng.integers(0, 3, n)
    want = []
    for u, s, e, c in zip(uid, start, end, city):
        day = s // DAY_S
        while True:
            want.append((u, day * DAY_S, c, min(e, (day + 1) * DAY_S) - max(s, day * DAY_S)))
            day += 1
            if day * DAY_S >= max(e, s + 1):
                break
    got = list(zip(*(a.tolist() for a in _split_days(uid, start, end, city))))
    assert got == [tuple(int(x) for x in w) for w in want]
