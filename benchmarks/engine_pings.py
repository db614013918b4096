"""Ping generators for benchmarks/engine.py, and the statistics that compare them with the synthetic
nation (forecast.synth).

Cells: a 400 x 400 lattice 300 m apart (1.2 x 1.1 km per 4 cells), 16 cities of 100 x 100 cells
(30 x 27 km each).

``kind="routine"`` (the speed runs): subscribers with a home, a work place (70 %) 0-4.5 km away in
the same city, an evening place 0-1 km from home; pings every 5-60 min from 07:00 to 23:00 (nights
silent), a missing day for 35 % of subscribers (3 % per day); 19 % live 0.3-1.2 km from a city
border and have 30 % of their pings at home answered by a tower 1.2-2.1 km across it (registered
to the neighbouring city), 30 % of those who work cross the border to work; 13 % make an
inter-city trip (1 % per day) of 1-3 days to another city; 3 % of pings come from a cell adjacent
to the right one (sector and neighbour hand-overs). These are the synthetic nation's parameters
(NationConfig defaults); :func:`ping_stats` measures both.

``switch_rate=RATE`` (the ping-pong runs, ``benchmarks/engine.py --pingpong``): radio ping-pong as in
dense-city signalling, written without regard to how the engine scans. Every cell of the network
becomes a site served by 2-4 cells (:func:`pingpong_network`): itself and 1-3 companions, each
another sector at the same position (one in three) or a tower at a uniform random point of the disc
of ``spread_m`` (default 100 m, the stay radius) around it; two companions may be up to twice that
apart. A subscriber at a place is served by the cells of its site in turn: the served cell changes
on a share of the pings chosen so that the stream switches cell at ``switch_rate`` (place changes
included), each switch to another cell of the site picked at random (:func:`pingpong_cells`).
Pings are sparser than the routine ones: every 5-120 min in waking hours.

``kind="walk"`` (the stress run, the previous generator): a random walk, people stay at a cell,
15 % of pings from a neighbouring cell, a move of up to 6 cells on 12 % of pings, pings every 5-60
min day and night. Far harsher than real subscribers: 0.34 runs per ping and 70 % of the pings in
gap-free stretches that change city.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

T0 = int(pd.Timestamp("2020-05-01", tz="Asia/Shanghai").timestamp())
GRID = 400
CITY = 100  # cells per city side
DAY_S = 86_400
AWAKE_S = 16 * 3600  # 07:00 .. 23:00

__all__ = ["make_cells", "make_pings", "ping_stats", "pingpong_network", "pingpong_cells", "T0", "GRID"]


def make_cells(grid: int = GRID, pingpong: bool = False) -> pd.DataFrame:
    """CELLS of the lattice: ``grid x grid`` cells 300 m apart, cities of ``CITY x CITY`` cells;
    ``pingpong``: with the companion cells of :func:`pingpong_network`."""
    if pingpong:
        return _lattice_network(grid)[0]
    g = np.arange(grid * grid, dtype=np.int64)
    gx, gy = g % grid, g // grid
    city = 100_000 + (gx // CITY) * 10_000 + (gy // CITY) * 100
    return pd.DataFrame({"cell_id": g + 1_000_000, "lon": 113.0 + gx * 0.0035, "lat": 30.0 + gy * 0.0027,
                         "city_code": city, "community_id": gx // 10 + (gy // 10) * 1000})


_NETWORKS: dict = {}


def _lattice_network(grid: int = GRID):
    if grid not in _NETWORKS:
        _NETWORKS[grid] = pingpong_network(make_cells(grid))
    return _NETWORKS[grid]


def pingpong_network(cells: pd.DataFrame, *, spread_m: float = 100.0, seed: int = 7, sector_share: float = 1 / 3,
                     max_cells: int = 4):
    """Sites for radio ping-pong: each cell of ``cells`` is served with 1 .. ``max_cells - 1``
    companion cells (new ids above the largest), each another sector at its position
    (``sector_share``) or a tower at a uniform random point of the disc of ``spread_m`` around it,
    in the same city and community. Returns (all cells, the sorted primary ids, their serving cells
    as an ``(n, max_cells)`` id array, the number of serving cells of each)."""
    rng = np.random.default_rng(seed)
    n = len(cells)
    k = rng.integers(2, max_cells + 1, n)
    owner = np.repeat(np.arange(n), k - 1)
    m = len(owner)
    r = spread_m * np.sqrt(rng.random(m))
    r[rng.random(m) < sector_share] = 0.0
    theta = rng.random(m) * 2 * np.pi
    lat0 = cells["lat"].to_numpy(np.float64)[owner]
    lon0 = cells["lon"].to_numpy(np.float64)[owner]
    deg = 180.0 / np.pi / 6_371_000.0
    comp = pd.DataFrame({"cell_id": int(cells["cell_id"].max()) + 1 + np.arange(m, dtype=np.int64),
                         "lon": lon0 + r * np.sin(theta) * deg / np.cos(np.radians(lat0)),
                         "lat": lat0 + r * np.cos(theta) * deg})
    for col in cells.columns.difference(["cell_id", "lon", "lat"]):
        comp[col] = cells[col].to_numpy()[owner]
    ids = cells["cell_id"].to_numpy(np.int64)
    order = np.argsort(ids, kind="stable")
    members = np.full((n, max_cells), -1, np.int64)
    members[:, 0] = ids
    slot = np.arange(m) - np.repeat(np.cumsum(k - 1) - (k - 1), k - 1) + 1
    members[owner, slot] = comp["cell_id"].to_numpy()
    full = pd.concat([cells, comp[cells.columns]], ignore_index=True)
    return full, ids[order], members[order], k[order]


def pingpong_cells(cell_ids: np.ndarray, switch_rate: float, rng: np.random.Generator, cells: pd.DataFrame,
                   primary: np.ndarray, members: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The served cell of each ping of a stream at the primary cells ``cell_ids`` (subscriber
    after subscriber, in time order), with ping-pong among the serving cells of
    :func:`pingpong_network` (``cells, primary, members, k``): at the pings that stay at their
    primary cell the served cell moves to another of the site's cells with the probability that
    makes the stream switch cell at ``switch_rate`` overall (place changes count as switches)."""
    cell_ids = np.asarray(cell_ids, np.int64)
    row = np.searchsorted(primary, cell_ids)
    n = len(cell_ids)
    if n == 0:
        return cell_ids.copy()
    moved = float(np.mean(cell_ids[1:] != cell_ids[:-1])) if n > 1 else 0.0
    q = min(1.0, max(0.0, (switch_rate - moved) / max(1e-9, 1.0 - moved)))
    ki = k[row]
    switch = rng.random(n) < q
    offset = np.where(switch, 1 + (rng.random(n) * (ki - 1)).astype(np.int64), 0)
    member = np.cumsum(offset) % ki
    return members[row, member]


def _routine_block(n_users: int, ppu: int, rng: np.random.Generator, *, n_days: int = 14,
                   near_border_share: float = 0.19, border_cell_share: float = 0.3,
                   cross_border_work_share: float = 0.3, work_share: float = 0.7, p_outing: float = 0.4,
                   trip_rate_per_day: float = 0.01, p_missing_day: float = 0.03, neighbour_share: float = 0.03,
                   interval_s: tuple[int, int] = (300, 3600)):
    """(ts_s, cell_id) of ``n_users`` subscribers with ``ppu`` pings each, subscriber after subscriber."""
    n_c = GRID // CITY
    cx, cy = rng.integers(0, n_c, n_users), rng.integers(0, n_c, n_users)
    hx = cx * CITY + rng.integers(12, CITY - 12, n_users)
    hy = cy * CITY + rng.integers(12, CITY - 12, n_users)
    # near-border homes: 1-4 cells inside an edge of the city that faces another city; their border
    # tower 4-7 cells further on, across the line
    near = rng.random(n_users) < near_border_share
    side = rng.integers(0, 2, n_users)  # 0: an x edge, 1: a y edge
    c_side = np.where(side == 0, cx, cy)
    up = c_side < n_c - 1  # face the neighbour with the larger index when there is one
    edge = c_side * CITY + np.where(up, CITY, 0)
    inside = rng.integers(1, 5, n_users)
    home_b = np.where(up, edge - inside, edge + inside - 1)
    beyond = inside + rng.integers(3, 7, n_users)
    across = np.where(up, edge + beyond - 1, edge - beyond)
    hx = np.where(near & (side == 0), home_b, hx)
    hy = np.where(near & (side == 1), home_b, hy)
    bx, by = np.where(side == 0, across, hx), np.where(side == 1, across, hy)
    works = rng.random(n_users) < work_share
    off = rng.integers(-15, 16, (n_users, 2))
    wx = np.clip(hx + off[:, 0], cx * CITY + 1, cx * CITY + CITY - 2)
    wy = np.clip(hy + off[:, 1], cy * CITY + 1, cy * CITY + CITY - 2)
    cross = near & works & (rng.random(n_users) < cross_border_work_share)
    push = np.where(up, 2, -2)
    wx = np.where(cross, bx + np.where(side == 0, push, 0), wx)
    wy = np.where(cross, by + np.where(side == 1, push, 0), wy)
    ex = np.clip(hx + rng.integers(-3, 4, n_users), 0, GRID - 1)
    ey = np.clip(hy + rng.integers(-3, 4, n_users), 0, GRID - 1)
    tx = (cx + 1 + rng.integers(0, n_c - 1, n_users)) % n_c * CITY + rng.integers(10, CITY - 10, n_users)
    ty = rng.integers(0, n_c, n_users) * CITY + rng.integers(10, CITY - 10, n_users)
    # times: 5-60 min apart in waking hours; a missing day moves the later pings one day on
    dt = rng.integers(interval_s[0], interval_s[1], (n_users, ppu))
    awake = np.cumsum(dt, axis=1) - dt[:, :1] + rng.integers(0, 3600, (n_users, 1))
    del dt
    day = awake // AWAKE_S
    sod = 7 * 3600 + awake % AWAKE_S
    del awake
    missing = np.where(rng.random(n_users) < 1 - (1 - p_missing_day) ** n_days, rng.integers(0, n_days, n_users),
                       1 << 30)
    day += day >= missing[:, None]
    ts = T0 + day * DAY_S + sod
    hour = sod // 3600
    del sod
    place = np.zeros((n_users, ppu), np.int64)  # 0 home, 1 work, 2 evening place, 3 trip
    place[(hour >= 9) & (hour < 17) & (day % 7 < 5) & works[:, None]] = 1
    outing = rng.random((n_users, n_days + 8)) < p_outing
    place[(hour >= 18) & (hour < 21) & np.take_along_axis(outing, np.minimum(day, n_days + 7), 1)] = 2
    del hour
    tripper = rng.random(n_users) < 1 - (1 - trip_rate_per_day) ** n_days
    t0 = rng.integers(0, n_days, n_users)
    t1 = t0 + rng.integers(1, 4, n_users)
    place[tripper[:, None] & (day >= t0[:, None]) & (day < t1[:, None])] = 3
    del day
    x = np.take_along_axis(np.stack([hx, wx, ex, tx], 1), place, 1)
    y = np.take_along_axis(np.stack([hy, wy, ey, ty], 1), place, 1)
    border = near[:, None] & (place == 0) & (rng.random((n_users, ppu)) < border_cell_share)
    del place
    x = np.where(border, bx[:, None], x)
    y = np.where(border, by[:, None], y)
    hop = rng.random((n_users, ppu)) < neighbour_share
    x += np.where(hop, rng.integers(-1, 2, (n_users, ppu)), 0)
    y += np.where(hop, rng.integers(-1, 2, (n_users, ppu)), 0)
    np.clip(x, 0, GRID - 1, out=x)
    np.clip(y, 0, GRID - 1, out=y)
    return ts.ravel(), (x + y * GRID + 1_000_000).ravel()


def _walk_block(n: int, first_user: int, ppu: int, rng: np.random.Generator):
    """(ts_s, cell_id) of ``n`` random-walk pings, ``ppu`` per subscriber (the stress generator)."""
    user = first_user + np.arange(n) // ppu
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    lens = np.diff(np.r_[starts, n])
    dt = rng.integers(300, 3600, n)
    cs = np.cumsum(dt)
    ts = T0 + cs - np.repeat(cs[starts] - dt[starts], lens)
    step = np.where((rng.random(n) < 0.12)[:, None], rng.integers(-6, 7, (n, 2)), 0)
    pos = np.cumsum(step, axis=0)
    pos -= np.repeat(pos[starts] - step[starts], lens, axis=0)
    pos = (pos + rng.integers(50, GRID - 50, (len(starts), 2)).repeat(lens, axis=0)) % GRID
    pos += np.where((rng.random(n) < 0.15)[:, None], rng.integers(-1, 2, (n, 2)), 0)  # neighbour cell
    np.clip(pos, 0, GRID - 1, out=pos)
    return ts, pos[:, 0] + pos[:, 1] * GRID + 1_000_000


def make_pings(n: int, *, kind: str = "routine", seed: int = 1, pings_per_user: int | None = None,
               time_ordered: bool = False, switch_rate: float | None = None) -> pd.DataFrame:
    """``n`` pings (PINGS columns) of ``kind`` "routine" or "walk"; sorted by (uid, time) (uids
    ascending), or ordered by time across subscribers as a feed arrives (``time_ordered``).
    ``switch_rate``: routine places with radio ping-pong (cells of ``make_cells(pingpong=True)``),
    pings every 5-120 min, the stream switching cell at about that rate.

    Examples
    --------
    >>> p = make_pings(2000, pings_per_user=400)
    >>> len(p), p["uid"].nunique(), bool(p["uid"].is_monotonic_increasing)
    (2000, 5, True)
    """
    ppu = pings_per_user or (426 if kind == "routine" else 500)  # 426: the synthetic nation's mean
    rng = np.random.default_rng(seed)
    n_users = max(1, -(-n // ppu))
    pseudonyms = np.sort(rng.integers(-(2**62), 2**62, n_users))
    uid = np.empty(n, np.int64)
    ts = np.empty(n, np.int64)
    cell = np.empty(n, np.int64)
    block_users = max(1, 1_000_000 // ppu)
    for u0 in range(0, n_users, block_users):
        u1 = min(n_users, u0 + block_users)
        lo, hi = u0 * ppu, min(n, u1 * ppu)
        if kind == "routine" and switch_rate is not None:
            t, c = _routine_block(u1 - u0, ppu, rng, interval_s=(300, 7200))
            t, c = t[: hi - lo], c[: hi - lo]
            c = pingpong_cells(c, switch_rate, rng, *_lattice_network())
        elif kind == "routine":
            t, c = _routine_block(u1 - u0, ppu, rng)
            t, c = t[: hi - lo], c[: hi - lo]
        elif kind == "walk":
            t, c = _walk_block(hi - lo, u0, ppu, rng)
        else:
            raise ValueError(f"unknown ping kind {kind!r}")
        uid[lo:hi] = np.repeat(pseudonyms[u0:u1], ppu)[: hi - lo]
        ts[lo:hi], cell[lo:hi] = t, c
    if time_ordered:
        order = np.argsort(ts, kind="stable")
        uid, ts, cell = uid[order], ts[order], cell[order]
        del order
    return pd.DataFrame({"uid": uid, "ts_s": ts, "cell_id": cell}, copy=False)


def ping_stats(pings: pd.DataFrame, cells: pd.DataFrame, max_gap_minutes: float = 720) -> dict:
    """Statistics that drive the engine's cost, to compare generators with the synthetic nation.

    ``runs_per_ping``: changes of cell per ping; ``pings_out_of_home_city``: share of pings at a cell
    of a city other than the subscriber's most pinged one; ``subscribers_out_of_home_city``: share
    with any such ping; ``city_changes_per_ping``; ``pings_in_city_changing_stretches``: share of
    pings in gap-free stretches that change city (the ones border smoothing scans);
    ``pings_per_subscriber_day``; ``gaps_over_6h``: share of steps longer than 6 h (nights).
    """
    from forecast.stays import CellTable, sort_pings

    uid = pings["uid"].to_numpy(np.int64)
    ts = pings["ts_s"].to_numpy(np.int64)
    cell = pings["cell_id"].to_numpy(np.int64)
    order = sort_pings(uid, ts)
    if order is not None:
        uid, ts, cell = uid[order], ts[order], cell[order]
    table = CellTable(cells)
    city = table.city_rank[table.rows(cell)]
    new = np.r_[True, uid[1:] != uid[:-1]]
    sub = np.cumsum(new) - 1
    n_sub = int(sub[-1]) + 1
    counts = np.zeros((n_sub, len(table.cities)), np.int64)
    np.add.at(counts, (sub, city), 1)
    away = city != counts.argmax(axis=1)[sub]
    step = np.diff(ts)
    brk = new | np.r_[True, step > max_gap_minutes * 60]
    group = np.cumsum(brk) - 1
    change = np.flatnonzero((city[1:] != city[:-1]) & ~brk[1:]) + 1
    changing = np.zeros(int(group[-1]) + 1, bool)
    changing[group[change]] = True
    days = (np.maximum.reduceat(ts, np.flatnonzero(new)) - ts[new]) / DAY_S + 1
    return {
        "runs_per_ping": float(np.mean(np.r_[True, (cell[1:] != cell[:-1]) | new[1:]])),
        "pings_out_of_home_city": float(away.mean()),
        "subscribers_out_of_home_city": float(np.bincount(sub, away, n_sub).astype(bool).mean()),
        "city_changes_per_ping": len(change) / len(uid),
        "pings_in_city_changing_stretches": float(changing[group].mean()),
        "pings_per_subscriber_day": float(len(uid) / days.sum()),
        "gaps_over_6h": float((step[~new[1:]] > 6 * 3600).mean()),
    }
