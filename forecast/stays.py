"""Stays (驻留): where a subscriber remained, detected from pings on sorted arrays.

The rule (docs/engine.md)
-------------------------
``method="sliding"`` is the sliding rule of Li et al. (2008) exactly as trackintel 1.4's
``generate_staypoints(method="sliding", dist_threshold=radius_m, time_threshold=min_stay_minutes,
gap_threshold=max_gap_minutes, include_last=include_last)`` applies it, per subscriber, on pings
sorted by time (ties keep their input order):

* an *anchor* ping starts a candidate; each later ping is compared with the anchor by haversine
  distance (earth radius 6 371 000 m);
* the first ping at ``>= radius_m`` from the anchor *triggers*: the candidate is the pings from the
  anchor up to (not including) the trigger, its end time is the trigger's time, and it is a stay when
  ``end - start >= min_stay_minutes``; either way the trigger becomes the new anchor;
* a ping that follows the previous one after more than ``max_gap_minutes`` discards the candidate
  (no stay) and becomes the new anchor;
* at the subscriber's last ping the open candidate is a stay only with ``include_last`` (then it
  includes the last ping and ends at its time) and ``end - start >= min_stay_minutes``.

``radius_m=None`` replaces the distance test by "another cell": every change of cell triggers.

How it is vectorised
--------------------
A trigger is always the first ping of a *run* (consecutive pings of one subscriber at one cell, not
split by a gap): a ping at the same cell as its predecessor is at the same distance from the anchor.
So the scan works on runs, not pings. Each gap-free group of runs is scanned by all groups at once:
every step tests the next ``k`` runs of every still-open group against its anchor in one array
operation, with ``k`` chosen so that a step touches about ``_STEP_BUDGET`` pairs (few groups left:
long look-ahead; many groups: short). Work is linear in the number of runs; steps are few.

Each stay's city is the city where most of its time was spent (border smoothing: a tower across a
border cannot flip a stay), time being attributed to a ping until the next ping (the last ping of a
stay until the stay's end); ``community_id`` and ``cell_id`` likewise; ``lon``/``lat`` is the mean
of the pings' cell positions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .schema import STAYS, empty

EARTH_RADIUS_M = 6_371_000.0
_STEP_BUDGET = 1 << 16
_MAX_LOOKAHEAD = 64
_CHUNK_PINGS = 1_000_000

__all__ = ["detect_stays", "sort_pings", "CellTable", "EARTH_RADIUS_M"]


class CellTable:
    """Cell positions, cities and communities, with a fast ``cell_id`` -> row lookup.

    Parameters
    ----------
    cells : DataFrame
        CELLS table (``cell_id, lon, lat, city_code, community_id``).

    Examples
    --------
    >>> t = CellTable(pd.DataFrame({"cell_id": [7, 3], "lon": [116.0, 117.0], "lat": [39.0, 39.5],
    ...                              "city_code": [110000, 120000], "community_id": [1, 2]}))
    >>> t.rows(np.array([3, 7, 3])).tolist()
    [1, 0, 1]
    """

    def __init__(self, cells: pd.DataFrame):
        missing = {"cell_id", "lon", "lat", "city_code", "community_id"} - set(cells.columns)
        if missing:
            raise ValueError(f"cells table lacks columns {sorted(missing)}")
        ids = cells["cell_id"].to_numpy(np.int64)
        if len(np.unique(ids)) != len(ids):
            raise ValueError("cells table has duplicate cell_id values")
        self.cell_id = ids
        self.lon = cells["lon"].to_numpy(np.float64)
        self.lat = cells["lat"].to_numpy(np.float64)
        lon_rad, lat_rad = np.radians(self.lon), np.radians(self.lat)
        self.xyz = np.column_stack(
            (np.cos(lat_rad) * np.cos(lon_rad), np.cos(lat_rad) * np.sin(lon_rad), np.sin(lat_rad))
        )
        self.city_code = cells["city_code"].to_numpy(np.int64)
        self.community_id = cells["community_id"].to_numpy(np.int64)
        # dense city codes (0..n_cities-1, in city_code order) keep the majority sort keys small
        self.cities, city_rank = np.unique(self.city_code, return_inverse=True)
        self.city_rank = city_rank.astype(np.int64).ravel()
        self.communities, comm_rank = np.unique(self.community_id, return_inverse=True)
        self.community_rank = comm_rank.astype(np.int64).ravel()
        lo = int(ids.min()) if len(ids) else 0
        hi = int(ids.max()) if len(ids) else -1
        self._dense = None
        if len(ids) and lo >= 0 and hi < 4 * len(ids) + 1024:
            dense = np.full(hi + 1, -1, np.int64)
            dense[ids] = np.arange(len(ids))
            self._dense = dense
        else:
            self._order = np.argsort(ids)
            self._sorted = ids[self._order]

    def rows(self, cell_ids: np.ndarray) -> np.ndarray:
        """Row index of each cell id; raises ``ValueError`` on an unknown cell."""
        cell_ids = np.asarray(cell_ids, np.int64)
        if self._dense is not None:
            ok = (cell_ids >= 0) & (cell_ids < len(self._dense))
            rows = self._dense[np.where(ok, cell_ids, 0)]
            rows = np.where(ok, rows, -1)
        else:
            pos = np.searchsorted(self._sorted, cell_ids)
            pos = np.minimum(pos, len(self._sorted) - 1)
            found = self._sorted[pos] == cell_ids if len(self._sorted) else np.zeros(len(cell_ids), bool)
            rows = np.where(found, self._order[pos] if len(self._sorted) else 0, -1)
        if len(rows) and rows.min() < 0:
            bad = np.unique(cell_ids[rows < 0])[:5].tolist()
            raise ValueError(f"pings refer to cells missing from the cells table, e.g. {bad}")
        return rows


def sort_pings(uid: np.ndarray, ts_s: np.ndarray) -> np.ndarray | None:
    """Order that groups pings by subscriber and sorts them by time, or None if they already are.

    "Already" means each subscriber's pings are contiguous and in time order (subscribers need not
    be in uid order); the check costs a few passes, far less than a sort. Ties keep input order.

    Examples
    --------
    >>> sort_pings(np.array([5, 5, 2]), np.array([1, 2, 0])) is None
    True
    >>> sort_pings(np.array([5, 2, 5]), np.array([1, 0, 2])).tolist()
    [1, 0, 2]
    """
    n = len(uid)
    if n < 2:
        return None
    same = uid[1:] == uid[:-1]
    back_in_time = same & (ts_s[1:] < ts_s[:-1])
    if not back_in_time.any():
        block_uids = uid[np.flatnonzero(~same) + 1]
        n_blocks = len(block_uids) + 1
        if n_blocks == 1 or len(np.unique(np.append(block_uids, uid[0]))) == n_blocks:
            return None
    return np.lexsort((ts_s, uid))


def _anchors_by_radius(g_start, xyz, radius_m):
    """Anchor runs of the sliding scan (group starts plus triggers), as a boolean mask over runs.

    ``g_start`` marks runs that start a gap-free group; ``xyz`` holds unit vectors of the runs'
    cells. "distance >= radius_m" is tested as ``dot <= cos(radius_m / R)`` (the haversine in
    trackintel's form is the arc cosine of the same dot product). A run more than ``2 * radius_m``
    from the previous run is a trigger whatever the anchor was (triangle inequality), so such runs
    split the groups into independent pieces scanned in parallel.
    """
    n_runs = len(xyz)
    cos_r = np.cos(radius_m / EARTH_RADIUS_M)
    is_anchor = g_start.copy()
    if n_runs > 1:
        step_dot = np.einsum("ij,ij->i", xyz[1:], xyz[:-1])
        is_anchor[1:] |= step_dot <= np.cos((2.0 * radius_m + 1.0) / EARTH_RADIUS_M)
    first = np.flatnonzero(is_anchor)
    end = np.append(first[1:], n_runs)
    open_ = end - first > 1
    anchor = first[open_]
    probe = anchor + 1
    end = end[open_]
    while len(anchor):
        k = int(min(_MAX_LOOKAHEAD, max(1, _STEP_BUDGET // len(anchor)), int((end - probe).max())))
        idx = probe[:, None] + np.arange(k)
        valid = idx < end[:, None]
        np.minimum(idx, n_runs - 1, out=idx)
        dot = np.einsum("ikj,ij->ik", xyz[idx], xyz[anchor])
        far = (dot <= cos_r) & valid
        hit = far.any(axis=1)
        first_hit = far.argmax(axis=1)
        trig = probe[hit] + first_hit[hit]
        is_anchor[trig] = True
        anchor[hit] = trig
        probe[hit] = trig + 1
        probe[~hit] += k
        keep = probe < end
        anchor, probe, end = anchor[keep], probe[keep], end[keep]
    return is_anchor


def _majority(seg_of_run, code, weight, n_seg, first_run):
    """Per segment, the code with the largest summed weight (ties: smallest code).

    Runs are ordered by segment; ``first_run`` is each non-empty segment's first run. Only
    segments whose runs carry more than one code are sorted (few: most stays lie in one city).
    """
    out = np.zeros(n_seg, np.int64)
    out[seg_of_run[first_run]] = code[first_run]
    differs = (code[1:] != code[:-1]) & (seg_of_run[1:] == seg_of_run[:-1])
    if not differs.any():
        return out
    mixed = np.zeros(n_seg, bool)
    mixed[seg_of_run[1:][differs]] = True
    sel = mixed[seg_of_run]
    s, c, w = seg_of_run[sel], code[sel], weight[sel]
    order = np.argsort(s * np.int64(int(c.max()) + 1) + c, kind="stable")
    s, c, w = s[order], c[order], w[order]
    start = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (c[1:] != c[:-1])])
    ks, kc, kw = s[start], c[start], np.add.reduceat(w, start)
    seg_start = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    best_w = np.maximum.reduceat(kw, seg_start)
    cand = np.flatnonzero(kw == np.repeat(best_w, np.diff(np.r_[seg_start, len(ks)])))
    cand = cand[np.r_[True, ks[cand][1:] != ks[cand][:-1]]]
    out[ks[cand]] = kc[cand]
    return out


def _longest(seg_of_run, value, weight, n_seg, first_run):
    """Per segment, the value of its run with the largest weight (ties: the earliest run)."""
    best_w = np.maximum.reduceat(weight, first_run)
    cand = np.flatnonzero(weight == np.repeat(best_w, np.diff(np.r_[first_run, len(weight)])))
    cand = cand[np.r_[True, seg_of_run[cand][1:] != seg_of_run[cand][:-1]]]
    out = np.zeros(n_seg, np.int64)
    out[seg_of_run[cand]] = value[cand]
    return out


def _smooth_border_bounces(r_rows, r_ts, r_uid_start, r_group_start, table: CellTable, bounce_s: float, last_ts: int):
    """Border smoothing on runs: a short excursion to another city's cells is the home tower's.

    A *city run* is a maximal sequence of runs of one subscriber in one city. A city run that
    lasts at most ``bounce_s`` (from its first ping to the next city run's first ping), has the
    same city on both sides and is shorter than both of them is a tower across the border
    answering for the place the subscriber never left: its runs take the cell of the run before it. Returns the runs to keep (a run
    that now has the same cell as its predecessor merges into it) and the new cell rows.
    """
    n_runs = len(r_rows)
    city = table.city_rank[r_rows]
    c_start = np.flatnonzero(np.r_[True, (city[1:] != city[:-1]) | r_uid_start[1:]])
    n_c = len(c_start)
    if n_c < 3:
        return np.ones(n_runs, bool), r_rows
    c_city = city[c_start]
    c_uid_start = r_uid_start[c_start]
    c_next_ts = np.append(r_ts[c_start[1:]], last_ts)
    dur = c_next_ts - r_ts[c_start]
    bounce = np.zeros(n_c, bool)
    bounce[1:-1] = (
        (c_city[:-2] == c_city[2:])
        & ~c_uid_start[1:-1]
        & ~c_uid_start[2:]
        & (dur[1:-1] <= bounce_s)
        & (dur[1:-1] < dur[:-2])  # strictly shorter than both sides: two neighbours are never
        & (dur[1:-1] < dur[2:])  # both bounces, so the one before a bounce keeps its own cell
    )
    if not bounce.any():
        return np.ones(n_runs, bool), r_rows
    c_of_run = np.cumsum(np.r_[True, (city[1:] != city[:-1]) | r_uid_start[1:]]) - 1
    # a bounce takes the cell of the last run before it (never itself a bounce: cities differ)
    new_rows = r_rows.copy()
    in_bounce = bounce[c_of_run]
    new_rows[in_bounce] = r_rows[c_start[c_of_run[in_bounce]] - 1]
    keep = np.r_[True, (new_rows[1:] != new_rows[:-1]) | r_group_start[1:]]
    return keep, new_rows


def _stays_sorted(uid, ts, cell, table: CellTable, min_stay_s, radius_m, max_gap_s, include_last, bounce_s):
    """Stays of pings already grouped by uid and time-sorted; returns a dict of columns."""
    n = len(uid)
    new_uid = np.empty(n, bool)
    new_uid[0] = True
    np.not_equal(uid[1:], uid[:-1], out=new_uid[1:])
    brk = np.empty(n, bool)  # a new gap-free group starts here
    brk[0] = True
    np.greater(ts[1:] - ts[:-1], max_gap_s, out=brk[1:])
    brk |= new_uid
    run_start = np.empty(n, bool)
    run_start[0] = True
    np.not_equal(cell[1:], cell[:-1], out=run_start[1:])
    run_start |= brk
    rs = np.flatnonzero(run_start)  # first ping of each run
    del run_start
    n_runs = len(rs)
    r_group_start = brk[rs]
    r_uid_start = new_uid[rs]
    del brk, new_uid
    r_ts = ts[rs]
    r_rows = table.rows(cell[rs])
    if bounce_s is not None and n_runs > 2:
        keep_run, r_rows = _smooth_border_bounces(r_rows, r_ts, r_uid_start, r_group_start, table, bounce_s, ts[-1])
        rs, r_group_start, r_uid_start, r_ts, r_rows = (
            rs[keep_run], r_group_start[keep_run], r_uid_start[keep_run], r_ts[keep_run], r_rows[keep_run]
        )
        n_runs = len(rs)
    r_len = np.diff(np.append(rs, n))

    if radius_m is None:
        is_anchor = np.ones(n_runs, bool)
    else:
        is_anchor = _anchors_by_radius(r_group_start, table.xyz[r_rows], float(radius_m))
    seg_first = np.flatnonzero(is_anchor)  # segments partition the runs; each group starts one
    n_seg = len(seg_first)
    seg_next = np.append(seg_first[1:], n_runs)
    # a segment is closed by a trigger when the next segment continues the same group
    next_in_group = np.zeros(n_seg, bool)
    inner = seg_next < n_runs
    next_in_group[inner] = ~r_group_start[seg_next[inner]]
    # the open candidate at a subscriber's last ping
    last_of_uid = np.zeros(n_seg, bool)
    last_of_uid[~inner] = True
    last_of_uid[inner] = r_uid_start[seg_next[inner]]
    last_of_uid &= ~next_in_group

    start_s = r_ts[seg_first]
    end_s = np.empty(n_seg, np.int64)
    end_s[next_in_group] = r_ts[seg_next[next_in_group]]
    last_ping = np.append(rs, n)[seg_next] - 1  # last ping of the segment's runs
    end_s[~next_in_group] = ts[last_ping[~next_in_group]]
    keep = (end_s - start_s >= min_stay_s) & (next_in_group | (last_of_uid & include_last))

    # run weights: time until the next run starts (closed), or until the last ping (open)
    r_next_ts = np.empty(n_runs, np.int64)
    r_next_ts[:-1] = r_ts[1:]
    r_next_ts[-1] = ts[-1]
    grp_last_run = np.append(np.flatnonzero(r_group_start)[1:] - 1, n_runs - 1)
    r_next_ts[grp_last_run] = ts[np.append(rs, n)[grp_last_run + 1] - 1]
    r_weight = r_next_ts - r_ts
    # closed segments: the last run's time runs to the trigger (= next run's start, already so)

    seg_of_run = np.cumsum(is_anchor) - 1
    n_pings = np.add.reduceat(r_len, seg_first)
    # open segments kept with include_last include the last ping; closed ones exclude the trigger
    lon_sum = np.add.reduceat(r_len * table.lon[r_rows], seg_first)
    lat_sum = np.add.reduceat(r_len * table.lat[r_rows], seg_first)

    ks = np.flatnonzero(keep)
    kept_runs = keep[seg_of_run]
    k_seg, k_rows, k_w = seg_of_run[kept_runs], r_rows[kept_runs], r_weight[kept_runs]
    if len(k_seg):
        k_first = np.flatnonzero(np.r_[True, k_seg[1:] != k_seg[:-1]])
        city = table.cities[_majority(k_seg, table.city_rank[k_rows], k_w, n_seg, k_first)[ks]]
        comm = table.communities[_majority(k_seg, table.community_rank[k_rows], k_w, n_seg, k_first)[ks]]
        cellid = _longest(k_seg, table.cell_id[k_rows], k_w, n_seg, k_first)[ks]
    else:
        city = comm = cellid = np.zeros(0, np.int64)
    npk = n_pings[ks]
    return {
        "uid": uid[rs[seg_first[ks]]],
        "start_s": start_s[ks],
        "end_s": end_s[ks],
        "cell_id": cellid,
        "lon": lon_sum[ks] / npk,
        "lat": lat_sum[ks] / npk,
        "city_code": city,
        "community_id": comm,
        "n_pings": npk.astype(np.int64),
    }


def detect_stays(
    pings: pd.DataFrame,
    cells: pd.DataFrame | CellTable,
    *,
    min_stay_minutes: float = 30,
    radius_m: float | None = 500,
    max_gap_minutes: float = 360,
    method: str = "sliding",
    include_last: bool = True,
    border_bounce_minutes: float | None = 120,
    chunk_pings: int = _CHUNK_PINGS,
) -> pd.DataFrame:
    """Detect stays from pings with the sliding rule (Li et al. 2008, as trackintel does it).

    Parameters
    ----------
    pings : DataFrame
        Canonical PINGS (``uid, ts_s, cell_id``), sorted or not (sorted input skips the sort).
    cells : DataFrame or CellTable
        CELLS table; every ping's cell must be in it.
    min_stay_minutes : float
        Shortest stay (trackintel's ``time_threshold``), compared with ``>=``.
    radius_m : float or None
        Distance from the anchor ping that ends a stay (``dist_threshold``, ``>=``); ``None``: any
        change of cell ends it.
    max_gap_minutes : float
        A silence longer than this discards the open candidate (``gap_threshold``, ``>``).
    method : {"sliding"}
        Only the sliding rule is implemented.
    include_last : bool
        Keep the open candidate at each subscriber's last ping (trackintel's ``include_last``).
    border_bounce_minutes : float or None
        Border smoothing before the scan: a stretch of pings in another city lasting at most this
        long, between pings in one city (and shorter than the stretches on both sides), is taken
        as a tower across the border and given the cell before it. ``None``: no smoothing (the
        plain sliding rule, identical to trackintel's).
    chunk_pings : int
        Pings per uid-aligned chunk; bounds the temporaries (memory), not the result.

    Returns
    -------
    DataFrame
        STAYS, one row per stay, ordered by subscriber (input order of subscribers when the input
        was grouped, uid order otherwise) and time.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.50], "lat": [39.90, 39.90],
    ...                       "city_code": [110000, 110000], "community_id": [11, 12]})
    >>> pings = pd.DataFrame({"uid": [9] * 4, "ts_s": [0, 1800, 3600, 7200], "cell_id": [1, 1, 2, 2]})
    >>> detect_stays(pings, cells)[["uid", "start_s", "end_s", "cell_id", "n_pings"]]
       uid  start_s  end_s  cell_id  n_pings
    0    9        0   3600        1        2
    1    9     3600   7200        2        2
    """
    if method != "sliding":
        raise ValueError(f"unknown stay method {method!r}; only 'sliding' is implemented")
    missing = {"uid", "ts_s", "cell_id"} - set(pings.columns)
    if missing:
        raise ValueError(f"pings lack columns {sorted(missing)}")
    if min_stay_minutes < 0 or max_gap_minutes < 0 or (radius_m is not None and radius_m <= 0):
        raise ValueError("min_stay_minutes and max_gap_minutes must be >= 0 and radius_m > 0 (or None)")
    table = cells if isinstance(cells, CellTable) else CellTable(cells)
    uid = pings["uid"].to_numpy(np.int64)
    ts = pings["ts_s"].to_numpy(np.int64)
    cell = pings["cell_id"].to_numpy(np.int64)
    if len(uid) == 0:
        return empty(STAYS)
    order = sort_pings(uid, ts)
    if order is not None:
        uid, ts, cell = uid[order], ts[order], cell[order]
        del order
    min_stay_s = float(min_stay_minutes) * 60.0
    max_gap_s = float(max_gap_minutes) * 60.0
    bounce_s = None if not border_bounce_minutes else float(border_bounce_minutes) * 60.0
    parts = []
    n = len(uid)
    lo = 0
    while lo < n:
        hi = min(n, lo + max(1, int(chunk_pings)))
        if hi < n and uid[hi] == uid[hi - 1]:  # cut at a subscriber boundary
            # each subscriber's pings are contiguous, so uid[hi]'s pings in [lo, hi) are a suffix
            before = int(np.count_nonzero(uid[lo:hi] != uid[hi]))
            if before:
                hi = lo + before
            else:  # one subscriber fills the chunk: take all of its pings
                hi += int(np.argmax(uid[hi:] != uid[hi])) or (n - hi)
        parts.append(
            _stays_sorted(uid[lo:hi], ts[lo:hi], cell[lo:hi], table, min_stay_s, radius_m, max_gap_s, include_last,
                          bounce_s)
        )
        lo = hi
    cols = {c: np.concatenate([p[c] for p in parts]) for c in STAYS}
    return pd.DataFrame(cols).astype(STAYS)
