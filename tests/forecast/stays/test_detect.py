"""Stays: trackintel's sliding rule reproduced exactly, border smoothing, accuracy on the synthetic nation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from forecast.accuracy import stay_scores
from forecast.schema import STAYS
from forecast.stays import CellTable, detect_stays, learn_serving_cities, sort_pings

PLAIN = {"border_radius_m": None, "max_tail_minutes": None}  # the rule exactly as trackintel has it


def _cells(n=4, spacing_deg=0.01, cities=None):
    return pd.DataFrame(
        {
            "cell_id": np.arange(1, n + 1, dtype=np.int64) * 10,
            "lon": 116.0 + np.arange(n) * spacing_deg,
            "lat": np.full(n, 39.9),
            "city_code": np.asarray(cities if cities is not None else [110000] * n, np.int64),
            "community_id": np.arange(n, dtype=np.int64) + 100,
        }
    )


def _pings(uid, minutes, cells):
    return pd.DataFrame(
        {
            "uid": np.asarray(uid, np.int64),
            "ts_s": (np.asarray(minutes, np.int64) * 60) + 1_580_000_000,
            "cell_id": np.asarray(cells, np.int64),
        }
    )


def reference_stays(pings, cells, min_stay_minutes, radius_m, max_gap_minutes, include_last):
    """trackintel 1.4 ``_generate_staypoints_sliding_user``, transcribed loop for loop."""
    pos = cells.set_index("cell_id")
    out = []
    p = pings.assign(_i=np.arange(len(pings))).sort_values(["uid", "ts_s", "_i"], kind="stable")
    for u, df in p.groupby("uid", sort=True):
        t = df["ts_s"].to_numpy()
        cid = df["cell_id"].to_numpy()
        x = pos.loc[cid, "lon"].to_numpy()
        y = pos.loc[cid, "lat"].to_numpy()

        def far(i, j):
            if radius_m is None:
                return cid[i] != cid[j]
            lo1, la1, lo2, la2 = map(math.radians, (x[i], y[i], x[j], y[j]))
            v = math.cos(la1 - la2) - math.cos(la1) * math.cos(la2) * (1 - math.cos(lo1 - lo2))
            return 6_371_000 * math.acos(max(-1.0, min(1.0, v))) >= radius_m

        start = curr = 0
        for curr in range(1, len(t)):
            if t[curr] - t[curr - 1] > max_gap_minutes * 60:
                start = curr
                continue
            if far(start, curr):
                if t[curr] - t[start] >= min_stay_minutes * 60:
                    out.append((u, t[start], t[curr], curr - start))
                start = curr
        if include_last and t[curr] - t[start] >= min_stay_minutes * 60:
            out.append((u, t[start], t[curr], curr - start + 1))
    return pd.DataFrame(out, columns=["uid", "start_s", "end_s", "n_pings"], dtype="int64")


def test_trigger_ends_the_stay_at_its_own_time_and_starts_the_next():
    cells = _cells()
    p = _pings([1] * 5, [0, 20, 40, 60, 100], [10, 10, 10, 20, 20])
    s = detect_stays(p, cells, min_stay_minutes=30, radius_m=500, **PLAIN)
    assert s["start_s"].tolist() == [p.ts_s[0], p.ts_s[3]]
    assert s["end_s"].tolist() == [p.ts_s[3], p.ts_s[4]]  # first stay ends at the trigger ping
    assert s["n_pings"].tolist() == [3, 2]  # the trigger belongs to the next stay
    assert list(s.columns) == list(STAYS) and s.dtypes.astype(str).to_dict() == STAYS


def test_min_stay_is_inclusive_and_gap_discards_the_candidate():
    cells = _cells()
    exact = _pings([1] * 3, [0, 15, 30], [10, 10, 20])
    assert len(detect_stays(exact, cells, min_stay_minutes=30, include_last=False, **PLAIN)) == 1
    gap = _pings([1] * 4, [0, 60, 500, 520], [10, 10, 10, 20])
    s = detect_stays(gap, cells, min_stay_minutes=10, max_gap_minutes=360, include_last=False, **PLAIN)
    # the 440-minute silence throws away the candidate begun at 0; a new one starts at 500
    assert s["start_s"].tolist() == [gap.ts_s[2]]


def test_include_last_keeps_the_open_candidate():
    cells = _cells()
    p = _pings([1] * 4, [0, 10, 50, 90], [10, 20, 20, 20])
    with_last = detect_stays(p, cells, min_stay_minutes=30, include_last=True, **PLAIN)
    without = detect_stays(p, cells, min_stay_minutes=30, include_last=False, **PLAIN)
    assert len(without) == 0
    assert with_last[["start_s", "end_s", "n_pings"]].values.tolist() == [[p.ts_s[1], p.ts_s[3], 3]]


def test_radius_none_means_any_change_of_cell():
    cells = _cells(spacing_deg=0.0001)  # cells 8.5 m apart: one stay by radius, two by cell
    p = _pings([1] * 4, [0, 40, 80, 120], [10, 10, 20, 20])
    assert len(detect_stays(p, cells, radius_m=500, min_stay_minutes=30, **PLAIN)) == 1
    assert len(detect_stays(p, cells, radius_m=None, min_stay_minutes=30, **PLAIN)) == 2


@pytest.mark.parametrize("seed", range(6))
def test_equals_trackintel_loop_on_random_pings(seed):
    rng = np.random.default_rng(seed)
    cells = pd.DataFrame(
        {
            "cell_id": rng.choice(10_000, 8, replace=False).astype(np.int64),
            "lon": 116 + rng.random(8) * 0.03,
            "lat": 39 + rng.random(8) * 0.03,
            "city_code": rng.integers(1, 3, 8),
            "community_id": rng.integers(1, 4, 8),
        }
    )
    for trial in range(25):
        n = int(rng.integers(0, 80))
        p = pd.DataFrame(
            {
                "uid": rng.integers(0, 5, n),
                "ts_s": rng.integers(0, 60_000, n),
                "cell_id": rng.choice(cells["cell_id"].to_numpy(), n),
            }
        )
        kw = dict(
            min_stay_minutes=float(rng.choice([0, 10, 30])),
            radius_m=[None, 300.0, 1000.0][trial % 3],
            max_gap_minutes=float(rng.choice([20, 90, 1000])),
            include_last=bool(rng.integers(0, 2)),
        )
        got = detect_stays(p, cells, chunk_pings=int(rng.integers(1, 40)), **PLAIN, **kw)
        want = reference_stays(p, cells, **kw)
        cols = ["uid", "start_s", "end_s", "n_pings"]
        got = got[cols].sort_values(cols).reset_index(drop=True)
        want = want.sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_unsorted_input_and_chunking_give_the_same_stays():
    rng = np.random.default_rng(3)
    cells = _cells(6)
    n = 3000
    p = pd.DataFrame(
        {
            "uid": rng.integers(0, 40, n),
            "ts_s": rng.integers(0, 86400 * 3, n),
            "cell_id": rng.choice(cells["cell_id"].to_numpy(), n),
        }
    )
    shuffled = detect_stays(p, cells)
    ordered = p.sort_values(["uid", "ts_s"], kind="stable").reset_index(drop=True)
    assert sort_pings(ordered["uid"].to_numpy(), ordered["ts_s"].to_numpy()) is None
    pd.testing.assert_frame_equal(shuffled, detect_stays(ordered, cells))
    pd.testing.assert_frame_equal(shuffled, detect_stays(ordered, cells, chunk_pings=97))
    assert len(shuffled) > 0


def test_a_feed_in_time_order_gives_the_same_stays_as_sorted_input():
    rng = np.random.default_rng(4)
    cells = _cells(6)
    n = 4000
    p = pd.DataFrame(
        {
            "uid": rng.integers(-(2**62), 2**62, 50)[rng.integers(0, 50, n)],
            "ts_s": np.sort(rng.integers(0, 86400 * 3, n)),  # ties included
            "cell_id": rng.choice(cells["cell_id"].to_numpy(), n),
        }
    )
    order = sort_pings(p["uid"].to_numpy(), p["ts_s"].to_numpy())
    assert order is not None and (np.sort(order) == np.arange(n)).all()
    uid_sorted = p["uid"].to_numpy()[order]
    assert len(np.flatnonzero(uid_sorted[1:] != uid_sorted[:-1])) == 49  # contiguous subscribers
    cols = ["uid", "start_s", "end_s", "n_pings", "cell_id"]
    feed = detect_stays(p, cells)[cols].sort_values(cols).reset_index(drop=True)
    ordered = p.sort_values(["uid", "ts_s"], kind="stable")
    want = detect_stays(ordered, cells)[cols].sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(feed, want)


def test_a_feed_of_more_than_65536_subscribers_is_grouped_by_first_appearance():
    rng = np.random.default_rng(8)
    n_sub = 90_000
    uid = rng.permutation(rng.integers(-(2**62), 2**62, n_sub))[rng.integers(0, n_sub, 3 * n_sub)]
    ts = np.sort(rng.integers(0, 86400, len(uid)))
    _, first_seen, code = np.unique(uid, return_index=True, return_inverse=True)
    assert len(first_seen) > 1 << 16  # codes need two radix passes
    rank = np.empty(len(first_seen), np.int64)
    rank[np.argsort(first_seen)] = np.arange(len(first_seen))  # subscribers numbered as they appear
    want = np.argsort(rank[code.ravel()], kind="stable")
    assert (sort_pings(uid, ts) == want).all()


@pytest.mark.parametrize("scan", ["compiled", "numpy"])
def test_pointer_jumping_and_lockstep_scans_find_the_same_anchors(scan):
    from forecast.stays.scan import _lockstep, anchors_by_radius

    rng = np.random.default_rng(9)
    for trial in range(60):
        n_cells = int(rng.integers(2, 45))  # pieces with more than 30 distinct cells take the lockstep
        ang = rng.random((n_cells, 2)) * rng.choice([1e-4, 5e-4, 2e-3])
        xyz = np.column_stack((np.cos(ang[:, 1]) * np.cos(ang[:, 0]), np.cos(ang[:, 1]) * np.sin(ang[:, 0]),
                               np.sin(ang[:, 1])))
        n = int(rng.integers(1, 500))
        rows = rng.integers(0, n_cells, n)
        g_start = rng.random(n) < 0.03
        g_start[0] = True
        radius_m = float(rng.choice([50, 100, 300, 1000, 3000]))
        want = g_start.copy()
        first = np.flatnonzero(g_start)
        _lockstep(want, first.copy(), np.append(first[1:], n), xyz[rows], np.cos(radius_m / 6_371_000.0))
        assert (anchors_by_radius(g_start, rows, xyz, radius_m, scan=scan) == want).all(), trial


def _pingpong_world(rng, n_sites, spread_m):
    """Sites 0-600 m apart, each served by 2-4 cells: the site's own, other sectors at its position
    and towers up to ``spread_m`` from it (radio ping-pong, as dense-city signalling)."""
    deg = 180.0 / math.pi / 6_371_000.0
    site_xy = rng.random((n_sites, 2)) * 600.0
    k = rng.integers(2, 5, n_sites)
    owner = np.repeat(np.arange(n_sites), k)
    r = spread_m * np.sqrt(rng.random(len(owner)))
    r[rng.random(len(owner)) < 1 / 3] = 0.0
    r[np.r_[0, np.cumsum(k)[:-1]]] = 0.0
    th = rng.random(len(owner)) * 2 * math.pi
    x, y = site_xy[owner, 0] + r * np.sin(th), site_xy[owner, 1] + r * np.cos(th)
    cells = pd.DataFrame({"cell_id": np.arange(len(owner), dtype=np.int64) + 500,
                          "lon": 116.3 + x * deg / math.cos(math.radians(39.9)), "lat": 39.9 + y * deg,
                          "city_code": np.where(x < 300, 110000, 130600), "community_id": owner + 1})
    return cells, owner, np.r_[0, np.cumsum(k)[:-1]], k


def _pingpong_stream(rng, n, n_uid, owner_start, k, switch_rate):
    """Pings of ``n_uid`` subscribers moving between sites now and then and served by the cells of
    their site in turn, switching cell on about ``switch_rate`` of the pings."""
    site = np.cumsum(rng.random(n) < 0.05) % len(k)
    member = np.cumsum(np.where(rng.random(n) < switch_rate, rng.integers(1, 4, n), 0)) % k[site]
    uid = np.sort(rng.integers(0, n_uid, n))
    ts = np.cumsum(rng.integers(60, 3 * 3600, n))
    return pd.DataFrame({"uid": uid, "ts_s": ts, "cell_id": (owner_start[site] + member + 500).astype(np.int64)})


@pytest.mark.parametrize("seed", range(8))
def test_radio_pingpong_streams_equal_the_trackintel_loop(seed):
    rng = np.random.default_rng(100 + seed)
    for trial in range(6):
        spread = float(rng.choice([30.0, 99.0, 150.0]))  # within the radius, and beyond it
        cells, owner, owner_start, k = _pingpong_world(rng, int(rng.integers(2, 12)), spread)
        p = _pingpong_stream(rng, int(rng.integers(50, 400)), int(rng.integers(1, 6)), owner_start, k,
                             float(rng.choice([0.3, 0.7, 0.95])))
        kw = dict(min_stay_minutes=float(rng.choice([0, 30])), radius_m=float(rng.choice([50.0, 100.0, 200.0])),
                  max_gap_minutes=float(rng.choice([90, 720])), include_last=bool(rng.integers(0, 2)))
        cols = ["uid", "start_s", "end_s", "n_pings"]
        want = reference_stays(p, cells, **kw).sort_values(cols).reset_index(drop=True)
        got = detect_stays(p, cells, chunk_pings=int(rng.integers(20, 500)), **PLAIN, **kw)
        got = got[cols].sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        assert len(want) > 0 or kw["min_stay_minutes"] > 0, (seed, trial)


@pytest.mark.parametrize("scan", ["compiled", "numpy"])
def test_pingpong_anchors_equal_the_lockstep_scan_on_long_streams(scan):
    from forecast.stays.scan import _lockstep, anchors_by_radius

    rng = np.random.default_rng(21)
    for trial in range(20):
        cells, owner, owner_start, k = _pingpong_world(rng, int(rng.integers(3, 40)),
                                                       float(rng.choice([50.0, 100.0, 160.0])))
        p = _pingpong_stream(rng, 20_000, 1, owner_start, k, float(rng.choice([0.5, 0.7, 0.9])))
        table = CellTable(cells)
        rows = table.rows(p["cell_id"].to_numpy())
        keep = np.r_[True, rows[1:] != rows[:-1]]  # runs
        rows = rows[keep]
        g_start = rng.random(len(rows)) < 0.01
        g_start[0] = True
        radius_m = float(rng.choice([50.0, 100.0, 200.0, 3000.0]))
        want = g_start.copy()
        first = np.flatnonzero(g_start)
        _lockstep(want, first.copy(), np.append(first[1:], len(rows)), table.xyz[rows],
                  np.cos(radius_m / 6_371_000.0))
        assert (anchors_by_radius(g_start, rows, table.xyz, radius_m, scan=scan) == want).all(), trial
        assert want.sum() > g_start.sum() or radius_m == 3000.0 or len(k) < 4, trial


def test_inputs_are_not_mutated_and_bad_input_is_refused():
    cells = _cells()
    p = _pings([1, 1], [0, 40], [10, 20])
    before = p.copy()
    detect_stays(p, cells)
    pd.testing.assert_frame_equal(p, before)
    with pytest.raises(ValueError, match="missing from the cells table"):
        detect_stays(_pings([1], [0], [999]), cells)
    with pytest.raises(ValueError, match="lack columns"):
        detect_stays(p.drop(columns="cell_id"), cells)
    with pytest.raises(ValueError, match="only 'sliding'"):
        detect_stays(p, cells, method="dbscan")
    assert detect_stays(p.iloc[:0], cells).empty


def test_stay_city_is_the_majority_of_time_and_lon_lat_the_mean():
    cells = _cells(2, spacing_deg=0.0001, cities=[110000, 130600])
    p = _pings([1] * 4, [0, 10, 20, 70], [20, 10, 10, 10])  # 10 min in 130600, 60 min in 110000
    s = detect_stays(p, cells, radius_m=500, min_stay_minutes=30, **PLAIN)
    assert s["city_code"].tolist() == [110000]
    assert s["lon"].iloc[0] == pytest.approx(116.0 + 0.0001 / 4)


def test_tail_ends_a_stay_soon_after_its_last_ping_before_a_silence():
    cells = _cells()
    p = _pings([1] * 4, [0, 40, 600, 640], [10, 10, 20, 20])  # last ping at home 40, next at 600
    s = detect_stays(p, cells, border_radius_m=None, max_tail_minutes=30, max_gap_minutes=720)
    assert s["end_s"].iloc[0] == p.ts_s[1] + 30 * 60


def _border_pings():
    # home cell 10 (city A) and a border tower 20 km/1.5 away registered to city B that answers
    # every third ping; then a real 6 h trip to a cell 30 km away in city B
    cells = pd.DataFrame(
        {
            "cell_id": [10, 20, 30],
            "lon": [116.0, 116.015, 116.35],
            "lat": [39.9, 39.9, 39.9],
            "city_code": [110000, 130600, 130600],
            "community_id": [1, 2, 3],
        }
    )
    minutes = np.arange(0, 600, 20)
    cell = np.where(np.arange(len(minutes)) % 3 == 2, 20, 10)
    trip = np.arange(660, 1020, 20)
    back = np.arange(1080, 1300, 20)
    p = _pings(
        [7] * (len(minutes) + len(trip) + len(back)),
        np.concatenate([minutes, trip, back]),
        np.concatenate([cell, np.full(len(trip), 30), np.full(len(back), 10)]),
    )
    return cells, p


def test_border_smoothing_keeps_the_stay_whole_and_in_its_city():
    cells, p = _border_pings()
    raw = detect_stays(p, cells, border_radius_m=None)
    smooth = detect_stays(p, cells)
    assert len(raw) > 10  # the border tower cuts the home stay into pieces
    assert smooth["city_code"].tolist() == [110000, 130600, 110000]  # the real trip survives
    assert smooth["cell_id"].tolist() == [10, 30, 10]


def test_learn_serving_cities_finds_the_border_tower():
    cells, p = _border_pings()
    learned = learn_serving_cities(p, cells)
    assert learned.set_index("cell_id")["serves_city_code"].to_dict() == {10: 110000, 20: 110000, 30: 130600}
    assert "serves_city_code" not in cells  # input untouched
    t = CellTable(learned)
    assert t.cities[t.serve_rank].tolist() == [110000, 110000, 130600]


@pytest.fixture(scope="module")
def nation():
    synth = pytest.importorskip("forecast.synth")
    return synth.generate_nation(synth.NationConfig(n_subscribers=600, n_cities=6, seed=5), pseudonym_key=b"k" * 32)


def test_accuracy_on_the_synthetic_nation(nation):
    pings = nation.canonical_pings()
    cells = learn_serving_cities(pings, nation.cells)
    scores = stay_scores(detect_stays(pings, cells), nation.true_stays, pings=pings)
    assert scores["precision"] >= 0.98
    assert scores["recall"] >= 0.98
    raw = stay_scores(detect_stays(pings, nation.cells, **PLAIN), nation.true_stays, pings=pings)
    assert raw["precision"] < scores["precision"]  # smoothing is what buys the precision


@pytest.mark.parametrize("shuffle", [False, True])
def test_sort_stays_merges_sorted_parts_like_a_two_key_sort(shuffle):
    from forecast.stays import sort_stays

    rng = np.random.default_rng(3)
    parts = []
    for day in range(5):  # each part sorted by (uid, start), as the build caches them
        uid = rng.integers(-2**62, 2**62, 50)[rng.integers(0, 50, 400)]
        start = day * 86_400 + rng.integers(0, 86_000, 400)
        parts.append(pd.DataFrame({"uid": uid, "start_s": start, "end_s": start + 60}).sort_values(["uid", "start_s"]))
    stays = pd.concat(parts, ignore_index=True)
    if shuffle:
        stays = stays.sample(frac=1.0, random_state=0)
    before = stays.copy()
    got = sort_stays(stays)
    want = stays.sort_values(["uid", "start_s"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(stays, before)  # input untouched
