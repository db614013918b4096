"""The compiled stay scan (numba): feed grouping, runs of pings, border smoothing, sliding-rule
anchors and stay attributes, each one sequential pass whose cost is linear in the pings however
often the cell switches (radio ping-pong). Internal to :mod:`forecast.stays`, which keeps the
vectorised numpy code as the reference (``scan="numpy"``, the same result to the bit;
docs/engine.md); arrays in and out.

Compiled on a process's first call, cached on disk where it can be (:mod:`forecast.stays.compiled`).
"""

from __future__ import annotations

import numpy as np

from forecast.stays.compiled import njit_cached

EARTH_RADIUS_M = 6_371_000.0  # metres (the haversine's R, as trackintel)

__all__ = ["EARTH_RADIUS_M", "group_by_code", "ping_runs", "scan_anchors", "smooth_runs", "stay_attributes"]


@njit_cached
def _mark_triggers(rows, xyz, i, j, cos_r, out):  # pragma: no cover - compiled
    """The sliding rule inside one piece ``[i, j)``: a run at ``>= radius_m`` from the anchor (``dot <=
    cos_r``) is a trigger and the new anchor; the piece's first run is its anchor."""
    anchor = rows[i]
    for k in range(i + 1, j):
        c = rows[k]
        d = xyz[anchor, 0] * xyz[c, 0] + xyz[anchor, 1] * xyz[c, 1] + xyz[anchor, 2] * xyz[c, 2]
        if d <= cos_r:
            out[k] = True
            anchor = c


@njit_cached
def _scan(g_start, rows, xyz, cos_r, cos_2r, codes, use_codes, out):  # pragma: no cover - compiled
    n = rows.shape[0]
    if not use_codes:  # one pass: a run far from the run before it triggers whatever the anchor
        anchor = 0
        for k in range(n):
            out[k] = g_start[k]
            if g_start[k]:
                anchor = rows[k]
                continue
            a, b, c = rows[k - 1], rows[k], anchor
            d = xyz[a, 0] * xyz[b, 0] + xyz[a, 1] * xyz[b, 1] + xyz[a, 2] * xyz[b, 2]
            if d > cos_2r:
                d = xyz[c, 0] * xyz[b, 0] + xyz[c, 1] * xyz[b, 1] + xyz[c, 2] * xyz[b, 2]
                if d > cos_r:
                    continue
            out[k] = True
            anchor = b
        return
    for i in range(n):
        out[i] = g_start[i]
    i = 0
    while i < n:
        # a piece: from a group start or a run more than 2 radius_m (+1 m) from the run before it,
        # up to the next such run (that run is an anchor whatever the anchor was)
        mixed = use_codes and i > 0 and codes[i] != codes[i - 1]
        j = i + 1
        while j < n and not g_start[j]:
            a, b = rows[j], rows[j - 1]
            d = xyz[a, 0] * xyz[b, 0] + xyz[a, 1] * xyz[b, 1] + xyz[a, 2] * xyz[b, 2]
            if d <= cos_2r:
                break
            if use_codes and codes[j] != codes[j - 1]:
                mixed = True
            j += 1
        if j < n:
            out[j] = True
        if j - i > 1 and (mixed or not use_codes):
            _mark_triggers(rows, xyz, i, j, cos_r, out)
        i = j


def scan_anchors(g_start: np.ndarray, rows: np.ndarray, cell_xyz: np.ndarray, cos_r: float, cos_2r: float,
                 codes: np.ndarray | None = None) -> np.ndarray:
    """Anchor runs of the sliding rule, as a boolean mask over runs (the compiled twin of
    :func:`forecast.stays.scan.anchors_by_radius`, the same mask).

    Parameters
    ----------
    g_start : ndarray of bool
        Runs that start a gap-free group (the first run does).
    rows : ndarray of int64
        Cell row of each run.
    cell_xyz : ndarray of float64, shape (n_cells, 3)
        Unit vectors of the cells.
    cos_r : float
        ``cos(radius_m / R)``: a run with ``dot <= cos_r`` to the anchor triggers.
    cos_2r : float
        ``cos((2 radius_m + 1) / R)``: a run with ``dot <= cos_2r`` to the run before it starts a
        piece (a trigger whatever the anchor).
    codes : ndarray of int64, optional
        One code per run; pieces whose runs all carry one code (and whose first run carries the
        code of the run before it) are not scanned, as in the numpy scan.

    Returns
    -------
    ndarray of bool
        Group starts, piece starts and triggers.

    Examples
    --------
    >>> xyz = np.array([[1.0, 0, 0], [np.cos(1e-5), np.sin(1e-5), 0], [np.cos(3e-5), np.sin(3e-5), 0]])
    >>> r = 100.0 / 6_371_000.0
    >>> scan_anchors(np.array([True, False, False, False]), np.array([0, 1, 0, 2]), xyz, np.cos(r),
    ...              np.cos(2 * r + 1 / 6_371_000.0)).tolist()
    [True, False, False, True]
    """
    g = np.ascontiguousarray(g_start, dtype=np.bool_)
    if len(g) and not g[0]:
        raise ValueError("the first run starts a group (g_start[0] must be True)")
    r = np.ascontiguousarray(rows, dtype=np.int64)
    xyz = np.ascontiguousarray(cell_xyz, dtype=np.float64)
    use_codes = codes is not None
    c = np.ascontiguousarray(codes, dtype=np.int64) if use_codes else np.zeros(0, np.int64)
    out = np.empty(len(r), np.bool_)
    _scan(g, r, xyz, float(cos_r), float(cos_2r), c, use_codes, out)
    return out


@njit_cached
def _runs(uid, ts, cell, max_gap_s, cap_s, rs, g_start, u_start, weight):  # pragma: no cover - compiled
    n = uid.shape[0]
    m = 0
    for i in range(n):
        new_uid = i == 0 or uid[i] != uid[i - 1]
        brk = new_uid or (ts[i] - ts[i - 1]) > max_gap_s
        if brk or cell[i] != cell[i - 1]:
            rs[m] = i
            g_start[m] = brk
            u_start[m] = new_uid
            weight[m] = 0
            m += 1
        if i + 1 < n and uid[i + 1] == uid[i]:
            weight[m - 1] += min(ts[i + 1] - ts[i], cap_s)
    return m


def ping_runs(uid: np.ndarray, ts: np.ndarray, cell: np.ndarray, max_gap_s: float, cap_s: int):
    """Runs of sorted pings (consecutive pings of one subscriber at one cell, no silence longer
    than ``max_gap_s``) in one pass.

    Parameters
    ----------
    uid, ts, cell : ndarray of int64
        Pings grouped by subscriber and in time order.
    max_gap_s : float
        A step longer than this starts a new gap-free group.
    cap_s : int
        A ping weighs the time to the subscriber's next ping, at most this.

    Returns
    -------
    tuple of ndarray
        First ping of each run, its group-start and subscriber-start flags and its time weight.

    Examples
    --------
    >>> rs, gs, us, w = ping_runs(np.array([1, 1, 1, 2]), np.array([0, 60, 9000, 0]), np.array([5, 5, 6, 5]),
    ...                           3600.0, 3600)
    >>> rs.tolist(), gs.tolist(), us.tolist(), w.tolist()
    ([0, 2, 3], [True, True, True], [True, False, True], [3660, 0, 0])
    """
    n = len(uid)
    rs = np.empty(n, np.int64)
    g_start = np.empty(n, np.bool_)
    u_start = np.empty(n, np.bool_)
    weight = np.empty(n, np.int64)
    m = _runs(np.ascontiguousarray(uid, np.int64), np.ascontiguousarray(ts, np.int64),
              np.ascontiguousarray(cell, np.int64), float(max_gap_s), np.int64(cap_s), rs, g_start, u_start, weight)
    return rs[:m].copy(), g_start[:m].copy(), u_start[:m].copy(), weight[:m].copy()


@njit_cached(inline="always")
def _block_sum(a, lo, n):  # pragma: no cover - compiled
    # numpy's pairwise summation of a block of at most 128 values, step for step
    if n < 8:
        r = 0.0
        for i in range(n):
            r += a[lo + i]
        return r
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    top = n - n % 8
    while i < top:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit_cached(inline="always")
def _pairwise(a, lo, n, f_lo, f_n, f_state, f_left):  # pragma: no cover - compiled
    # numpy's pairwise summation (np.add.reduce / reduceat on float64): blocks of <= 128 values,
    # halves (rounded down to a multiple of 8) added as a binary tree; the recursion unrolled on a
    # stack of frames (lo, n, state 0 fresh / 1 left pending / 2 left done / 3 right pending, left sum)
    if n <= 128:
        return _block_sum(a, lo, n)
    top = 0
    f_lo[0], f_n[0], f_state[0] = lo, n, 0
    result = 0.0
    while top >= 0:
        m = f_n[top]
        if m <= 128 or f_state[top] == 3:
            if m <= 128:
                v = _block_sum(a, f_lo[top], m)
            else:
                v = f_left[top] + result
            top -= 1
            if top < 0:
                return v
            if f_state[top] == 1:
                f_left[top] = v
                f_state[top] = 2
            else:
                result = v  # the right half's sum, read by its parent at state 3
            continue
        half = m // 2
        half -= half % 8
        if f_state[top] == 0:
            f_state[top] = 1
            f_lo[top + 1], f_n[top + 1], f_state[top + 1] = f_lo[top], half, 0
        else:  # state 2: the left half is summed, now the right half
            f_state[top] = 3
            f_lo[top + 1], f_n[top + 1], f_state[top + 1] = f_lo[top] + half, m - half, 0
        top += 1
    return result


@njit_cached
def _attributes(k_first, k_next, rs_end, r_rows, r_weight, lon, lat, serve_rank, comm_rank, cell_id,
                acc_city, acc_comm, buf_lon, buf_lat, lon_sum, lat_sum, city, comm, cellid):  # pragma: no cover
    f_lo = np.empty(64, np.int64)  # frames of the pairwise sums (depth <= log2 of the longest stay)
    f_n = np.empty(64, np.int64)
    f_state = np.empty(64, np.int64)
    f_left = np.empty(64, np.float64)
    for s in range(k_first.shape[0]):
        a, b = k_first[s], k_next[s]
        row = r_rows[a]
        length = float(rs_end[a + 1] - rs_end[a])
        city[s] = serve_rank[row]
        comm[s] = comm_rank[row]
        if b - a == 1:
            lon_sum[s] = length * lon[row]
            lat_sum[s] = length * lat[row]
            cellid[s] = cell_id[row]
            continue
        mixed_city = mixed_comm = False
        best_run, w_run = a, r_weight[a]
        for j in range(a, b):
            row = r_rows[j]
            length = float(rs_end[j + 1] - rs_end[j])
            buf_lon[j - a] = length * lon[row]
            buf_lat[j - a] = length * lat[row]
            mixed_city |= serve_rank[row] != city[s]
            mixed_comm |= comm_rank[row] != comm[s]
            if r_weight[j] > w_run:  # the longest run, ties: the earliest
                w_run, best_run = r_weight[j], j
        cellid[s] = cell_id[r_rows[best_run]]
        # reduceat: the first value plus the pairwise sum of the others
        lon_sum[s] = buf_lon[0] + _pairwise(buf_lon, 1, b - a - 1, f_lo, f_n, f_state, f_left)
        lat_sum[s] = buf_lat[0] + _pairwise(buf_lat, 1, b - a - 1, f_lo, f_n, f_state, f_left)
        if mixed_city:
            city[s] = _majority(a, b, r_rows, r_weight, serve_rank, acc_city)
        if mixed_comm:
            comm[s] = _majority(a, b, r_rows, r_weight, comm_rank, acc_comm)


@njit_cached(inline="always")
def _majority(a, b, r_rows, r_weight, rank, acc):  # pragma: no cover - compiled
    # the code of runs [a, b) with the most weight (ties: the smallest); acc is all zero before and after
    for j in range(a, b):
        acc[rank[r_rows[j]]] += r_weight[j]
    best, w_best = -1, -1
    for j in range(a, b):
        c = rank[r_rows[j]]
        if acc[c] > w_best or (acc[c] == w_best and c < best):
            w_best, best = acc[c], c
    for j in range(a, b):
        acc[rank[r_rows[j]]] = 0
    return best


def stay_attributes(k_first, k_next, rs_end, r_rows, r_weight, table):
    """Attributes of the stays made of runs ``[k_first, k_next)``, in one pass over their runs.

    Parameters
    ----------
    k_first, k_next : ndarray of int64
        First run of each stay and the run after its last.
    rs_end : ndarray of int64
        First ping of each run, then the number of pings.
    r_rows, r_weight : ndarray of int64
        Cell row and time weight of each run.
    table : forecast.stays.CellTable
        The cells (positions, serving-city and community ranks, ids).

    Returns
    -------
    tuple of ndarray
        Per stay: sums of its pings' longitudes and latitudes (in numpy's summation order), the
        serving-city rank and community rank with the most time (ties: the smallest), the cell id of
        its run with the most time (ties: the earliest).

    Examples
    --------
    >>> import pandas as pd
    >>> from forecast.stays import CellTable
    >>> t = CellTable(pd.DataFrame({"cell_id": [7, 8], "lon": [116.0, 117.0], "lat": [39.0, 40.0],
    ...                             "city_code": [1, 2], "community_id": [5, 6]}))
    >>> lon, lat, city, comm, cell = stay_attributes(np.array([0]), np.array([3]), np.array([0, 2, 3, 4]),
    ...                                             np.array([0, 1, 0]), np.array([60, 600, 0]), t)
    >>> lon.tolist(), city.tolist(), cell.tolist()
    ([465.0], [1], [8])
    """
    n = len(k_first)
    out = [np.empty(n, np.float64), np.empty(n, np.float64)] + [np.empty(n, np.int64) for _ in range(3)]
    longest = int((k_next - k_first).max()) if n else 0
    _attributes(np.ascontiguousarray(k_first, np.int64), np.ascontiguousarray(k_next, np.int64),
                np.ascontiguousarray(rs_end, np.int64), np.ascontiguousarray(r_rows, np.int64),
                np.ascontiguousarray(r_weight, np.int64), *(np.ascontiguousarray(a) for a in (
                    table.lon, table.lat, table.serve_rank, table.community_rank, table.cell_id)), np.zeros(len(table.cities), np.int64),
                np.zeros(len(table.communities), np.int64), np.empty(longest, np.float64),
                np.empty(longest, np.float64), *out)
    return tuple(out)


@njit_cached
def _scatter(codes, ts, cell, start, ts_out, cell_out):  # pragma: no cover - compiled
    for i in range(codes.shape[0]):
        start[codes[i] + 1] += 1
    for g in range(1, start.shape[0]):
        start[g] += start[g - 1]
    for i in range(codes.shape[0]):
        p = start[codes[i]]
        ts_out[p] = ts[i]
        cell_out[p] = cell[i]
        start[codes[i]] = p + 1


def group_by_code(codes: np.ndarray, n_codes: int, ts: np.ndarray, cell: np.ndarray):
    """``ts`` and ``cell`` grouped by ``codes`` (0 .. ``n_codes - 1``), stable: a counting sort that
    scatters the values in one pass (no order array, no gathers).

    Parameters
    ----------
    codes : ndarray of int
        Group of each element (e.g. subscribers numbered by ``pandas.factorize``).
    n_codes : int
        Number of groups.
    ts, cell : ndarray of int64
        Values to group.

    Returns
    -------
    tuple of ndarray
        ``ts`` and ``cell`` in code order, input order within a code.

    Examples
    --------
    >>> t, c = group_by_code(np.array([1, 0, 1, 0]), 2, np.array([10, 11, 12, 13]), np.array([5, 6, 7, 8]))
    >>> t.tolist(), c.tolist()
    ([11, 13, 10, 12], [6, 8, 5, 7])
    """
    ts_out = np.empty(len(codes), np.int64)
    cell_out = np.empty(len(codes), np.int64)
    _scatter(np.ascontiguousarray(codes, np.int64), np.ascontiguousarray(ts, np.int64),
             np.ascontiguousarray(cell, np.int64), np.zeros(int(n_codes) + 1, np.int64), ts_out, cell_out)
    return ts_out, cell_out


@njit_cached
def _smooth(r_rows, weight, g_start, city_rank, serve_rank, xyz, cos_r, cos_2r, acc, anchor, new_rows, keep):
    # pragma: no cover - compiled; forecast.stays.border.smooth_borders, group by group
    n = r_rows.shape[0]
    for j in range(n):
        new_rows[j] = r_rows[j]
    prev_code = -1  # registered city of the last run of the previous group that was smoothed
    g0 = 0
    while g0 < n:
        g1 = g0 + 1
        changes = False
        while g1 < n and not g_start[g1]:
            changes |= city_rank[r_rows[g1]] != city_rank[r_rows[g1 - 1]]
            g1 += 1
        if not changes:  # a group in one registered city: nothing to smooth
            g0 = g1
            continue
        # neighbourhood visits: the sliding rule with the border radius; pieces (cut at runs more
        # than 2 radii from the run before) in one registered city are not scanned, as in
        # forecast.stays.scan (whose "run before" a group's first run is the last smoothed run)
        for j in range(g0, g1):
            anchor[j] = j == g0
        i = g0
        while i < g1:
            code_i = city_rank[r_rows[i]]
            mixed = (prev_code >= 0 and code_i != prev_code) if i == g0 else code_i != city_rank[r_rows[i - 1]]
            j = i + 1
            while j < g1:
                a, b = r_rows[j], r_rows[j - 1]
                d = xyz[a, 0] * xyz[b, 0] + xyz[a, 1] * xyz[b, 1] + xyz[a, 2] * xyz[b, 2]
                if d <= cos_2r:
                    break
                if city_rank[a] != city_rank[b]:
                    mixed = True
                j += 1
            if j < g1:
                anchor[j] = True
            if j - i > 1 and mixed:
                _mark_triggers(r_rows, xyz, i, j, cos_r, anchor)
            i = j
        prev_code = city_rank[r_rows[g1 - 1]]
        # each visit: the serving city with the most time wins; runs registered elsewhere take the
        # cell of the visit's nearest earlier run in the winning city (else its first later one)
        v0 = g0
        while v0 < g1:
            v1 = v0 + 1
            while v1 < g1 and not anchor[v1]:
                v1 += 1
            win = _majority(v0, v1, r_rows, weight, serve_rank, acc)
            first_ok = -1
            for k in range(v0, v1):
                if city_rank[r_rows[k]] == win:
                    first_ok = k
                    break
            if first_ok >= 0:
                last_ok = -1
                for k in range(v0, v1):
                    if city_rank[r_rows[k]] == win:
                        last_ok = k
                    else:
                        new_rows[k] = r_rows[last_ok] if last_ok >= 0 else r_rows[first_ok]
            v0 = v1
        g0 = g1
    for j in range(n):
        keep[j] = j == 0 or g_start[j] or new_rows[j] != new_rows[j - 1]


def smooth_runs(r_rows: np.ndarray, weight: np.ndarray, g_start: np.ndarray, table, border_radius_m: float):
    """Border smoothing of runs in one compiled pass (the twin of
    :func:`forecast.stays.border.smooth_borders`, the same result).

    Parameters
    ----------
    r_rows, weight : ndarray of int64
        Cell row and time weight of each run.
    g_start : ndarray of bool
        Runs that start a gap-free group (the first run does).
    table : forecast.stays.CellTable
        The cells (positions, registered and serving city ranks).
    border_radius_m : float
        Radius of a neighbourhood visit.

    Returns
    -------
    tuple of ndarray
        Runs to keep (a run whose new cell equals its predecessor's merges into it) and the new
        cell row of every run.

    Examples
    --------
    >>> import pandas as pd
    >>> from forecast.stays import CellTable
    >>> t = CellTable(pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.415], "lat": [39.9, 39.9],
    ...                             "city_code": [110000, 130600], "community_id": [11, 21]}))
    >>> keep, rows = smooth_runs(np.array([0, 1, 0]), np.array([3600, 600, 3600]), np.array([True, False, False]),
    ...                          t, 3000.0)
    >>> keep.tolist(), rows.tolist()
    ([True, False, False], [0, 0, 0])
    """
    n = len(r_rows)
    g = np.ascontiguousarray(g_start, np.bool_)
    if n and not g[0]:
        raise ValueError("the first run starts a group (g_start[0] must be True)")
    new_rows = np.empty(n, np.int64)
    keep = np.empty(n, np.bool_)
    radius_m = float(border_radius_m)
    _smooth(np.ascontiguousarray(r_rows, np.int64), np.ascontiguousarray(weight, np.int64), g,
            np.ascontiguousarray(table.city_rank), np.ascontiguousarray(table.serve_rank),
            np.ascontiguousarray(table.xyz, np.float64), np.cos(radius_m / EARTH_RADIUS_M),
            np.cos((2.0 * radius_m + 1.0) / EARTH_RADIUS_M),
            np.zeros(len(table.cities), np.int64), np.empty(n, np.bool_), new_rows, keep)
    return keep, new_rows
