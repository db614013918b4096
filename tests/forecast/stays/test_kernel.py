"""The compiled stay scan (forecast/stays/kernel.py) gives exactly what the numpy reference gives."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.stays import CellTable, detect_stays, learn_serving_cities
from forecast.stays import kernel
from forecast.stays.border import smooth_borders
from forecast.stays.scan import anchors_by_radius

ROOT = Path(__file__).resolve().parents[3]
PLAIN = {"border_radius_m": None, "max_tail_minutes": None}
DEG = 180.0 / math.pi / 6_371_000.0


def _world(rng, n_sites, spread_m, extent_m):
    """Sites over ``extent_m`` (two cities, the border in the middle), each served by 2-4 cells
    within ``spread_m`` (radio ping-pong); returns (cells, first cell of each site, cells per site)."""
    site_xy = rng.random((n_sites, 2)) * [extent_m, 600.0]
    k = rng.integers(2, 5, n_sites)
    owner = np.repeat(np.arange(n_sites), k)
    r = spread_m * np.sqrt(rng.random(len(owner)))
    r[rng.random(len(owner)) < 1 / 3] = 0.0
    th = rng.random(len(owner)) * 2 * math.pi
    x, y = site_xy[owner, 0] + r * np.sin(th), site_xy[owner, 1] + r * np.cos(th)
    cells = pd.DataFrame({"cell_id": np.arange(len(owner), dtype=np.int64) * 3 + 700,
                          "lon": 116.3 + x * DEG / math.cos(math.radians(39.9)), "lat": 39.9 + y * DEG,
                          "city_code": np.where(x < extent_m / 2, 110000, 130600),
                          "community_id": owner // 2 + 1})
    return cells, np.r_[0, np.cumsum(k)[:-1]], k


def _stream(rng, n, n_uid, first, k, switch_rate):
    """Pings of ``n_uid`` subscribers (sorted by uid and time) moving between sites now and then,
    served by the cells of their site in turn, switching cell on about ``switch_rate`` of the pings;
    steps of 1 min to 14 h (some beyond the gap)."""
    site = np.cumsum(rng.random(n) < 0.04) * 7 % len(k)
    member = np.cumsum(np.where(rng.random(n) < switch_rate, rng.integers(1, 4, n), 0)) % k[site]
    uid = np.sort(rng.integers(0, n_uid, n)) * 1000 - 5
    step = np.where(rng.random(n) < 0.02, rng.integers(6 * 3600, 14 * 3600, n), rng.integers(60, 2 * 3600, n))
    ts = np.cumsum(step)
    first_ping = np.flatnonzero(np.r_[True, uid[1:] != uid[:-1]])
    ts = 1_580_000_000 + ts - np.repeat(ts[first_ping], np.diff(np.r_[first_ping, n]))  # each from its own start
    cell = (first[site] + member) * 3 + 700
    return pd.DataFrame({"uid": uid.astype(np.int64), "ts_s": ts.astype(np.int64), "cell_id": cell.astype(np.int64)})


def _both(pings, cells, **kw):
    got = detect_stays(pings, cells, scan="compiled", **kw)
    want = detect_stays(pings, cells, scan="numpy", **kw)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    return got


@pytest.mark.parametrize("switch_rate", [0.16, 0.7])
@pytest.mark.parametrize("seed", range(3))
def test_compiled_and_numpy_scans_give_the_same_stays(seed, switch_rate):
    rng = np.random.default_rng(1000 * seed + int(switch_rate * 100))
    n_stays = 0
    for trial in range(8):
        cells, first, k = _world(rng, int(rng.integers(3, 40)), float(rng.choice([30.0, 99.0, 150.0])),
                                 float(rng.choice([800.0, 8000.0])))
        p = _stream(rng, int(rng.integers(200, 3000)), int(rng.integers(1, 12)), first, k, switch_rate)
        order = ["sorted", "feed", "shuffled"][trial % 3]
        if order == "feed":  # time order across subscribers: grouped by the compiled scatter
            p = p.iloc[np.argsort(p["ts_s"].to_numpy(), kind="stable")]
        elif order == "shuffled":
            p = p.iloc[rng.permutation(len(p))]
        kw = dict(min_stay_minutes=float(rng.choice([0, 30])), radius_m=rng.choice([None, 50.0, 100.0, 300.0]),
                  max_gap_minutes=float(rng.choice([90, 720])), include_last=bool(rng.integers(0, 2)),
                  chunk_pings=int(rng.integers(50, 5000)))
        for extra in ({}, PLAIN, {"max_tail_minutes": None}, {"border_radius_m": 1500.0}):
            n_stays += len(_both(p, cells, **kw, **extra))
        learned = learn_serving_cities(p, cells, scan="compiled")
        pd.testing.assert_frame_equal(learned, learn_serving_cities(p, cells, scan="numpy"), check_exact=True)
        n_stays += len(_both(p, learned, **kw))
    assert n_stays > 100


def test_long_stays_sum_positions_in_numpys_order():
    """Stays of hundreds of runs: the compiled sums follow numpy's pairwise summation exactly."""
    rng = np.random.default_rng(5)
    cells, first, k = _world(rng, 1, 20.0, 10.0)
    n = 5000
    p = pd.DataFrame({"uid": np.repeat([3, 4], n // 2).astype(np.int64),
                      "ts_s": np.tile(np.arange(n // 2, dtype=np.int64) * 300, 2),
                      "cell_id": (first[0] + rng.integers(0, k[0], n)) * 3 + 700})
    got = _both(p, cells, radius_m=100.0, **PLAIN)
    assert len(got) == 2 and got["n_pings"].tolist() == [n // 2, n // 2]


def test_anchors_compiled_equal_numpy_with_and_without_codes():
    rng = np.random.default_rng(8)
    for trial in range(40):
        cells, first, k = _world(rng, int(rng.integers(2, 50)), float(rng.choice([30.0, 99.0, 400.0])),
                                 float(rng.choice([500.0, 5000.0])))
        table = CellTable(cells)
        n = int(rng.integers(1, 3000))
        rows = rng.integers(0, len(cells), n)
        keep = np.r_[True, rows[1:] != rows[:-1]]
        rows = rows[keep]
        g_start = rng.random(len(rows)) < 0.02
        g_start[0] = True
        radius_m = float(rng.choice([50.0, 100.0, 300.0, 3000.0]))
        codes = table.city_rank[rows] if trial % 2 else None
        got = anchors_by_radius(g_start, rows, table.xyz, radius_m, codes=codes, scan="compiled")
        want = anchors_by_radius(g_start, rows, table.xyz, radius_m, codes=codes, scan="numpy")
        assert (got == want).all(), trial
    with pytest.raises(ValueError, match="g_start"):
        kernel.scan_anchors(np.array([False, True]), np.array([0, 1]), table.xyz, 0.5, 0.4)
    with pytest.raises(ValueError, match="unknown scan"):
        anchors_by_radius(g_start, rows, table.xyz, 100.0, scan="fortran")
    with pytest.raises(ValueError, match="unknown scan"):
        detect_stays(_stream(rng, 10, 1, first, k, 0.5), cells, scan="fortran")


def test_smooth_runs_equals_the_numpy_border_smoothing():
    rng = np.random.default_rng(13)
    moved = 0
    for trial in range(40):
        cells, first, k = _world(rng, int(rng.integers(2, 30)), float(rng.choice([30.0, 400.0])),
                                 float(rng.choice([3000.0, 9000.0])))
        table = CellTable(cells)
        n = int(rng.integers(2, 2000))
        rows = rng.integers(0, len(cells), n)
        rows = rows[np.r_[True, rows[1:] != rows[:-1]]]
        g_start = rng.random(len(rows)) < rng.choice([0.005, 0.05])
        g_start[0] = True
        w = rng.integers(0, 3600, len(rows))
        radius_m = float(rng.choice([1000.0, 3000.0]))
        keep, new_rows = kernel.smooth_runs(rows, w, g_start, table, radius_m)
        want_keep, want_rows = smooth_borders(rows, w, g_start, table, radius_m, scan="numpy")
        assert (keep == want_keep).all() and (new_rows == want_rows).all(), trial
        moved += int((new_rows != rows).sum())
    assert moved > 0


def test_group_by_code_is_a_stable_counting_sort():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 50, 10_000)
    ts, cell = rng.integers(0, 1 << 40, 10_000), rng.integers(0, 1 << 40, 10_000)
    order = np.argsort(codes, kind="stable")
    got_ts, got_cell = kernel.group_by_code(codes, 50, ts, cell)
    assert (got_ts == ts[order]).all() and (got_cell == cell[order]).all()


@pytest.mark.slow
def test_numba_cache_dir_is_used_and_a_fresh_process_gets_the_same_stays(tmp_path):
    """NUMBA_CACHE_DIR (docs/engine.md) takes the compiled code; a fresh process compiles it there."""
    code = ("import numpy as np, pandas as pd; from forecast.stays import detect_stays; "
            "c = pd.DataFrame({'cell_id': [1, 2], 'lon': [116.4, 116.5], 'lat': [39.9, 39.9], "
            "'city_code': [1, 1], 'community_id': [1, 2]}); "
            "p = pd.DataFrame({'uid': [9, 9, 9, 9], 'ts_s': [0, 1800, 3600, 7200], 'cell_id': [1, 1, 2, 2]}); "
            "print(detect_stays(p, c)['n_pings'].tolist())")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[2, 2]"
    assert list(tmp_path.rglob("*.nbi")), "no numba cache index written to NUMBA_CACHE_DIR"
