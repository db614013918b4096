"""Stays (驻留): where a subscriber remained, detected from pings on sorted arrays (docs/engine.md).

``method="sliding"`` is the rule of Li et al. (2008) as trackintel 1.4's ``generate_staypoints``
applies it per subscriber on pings in time order: the first ping at ``>= radius_m`` from the anchor
triggers (the candidate = anchor .. trigger - 1, ending at the trigger's time, is a stay when it
lasts ``>= min_stay_minutes``; the trigger becomes the anchor); a silence ``> max_gap_minutes``
discards the candidate; the last candidate counts only with ``include_last``. With
``border_radius_m=None, max_tail_minutes=None`` the stays equal trackintel's staypoints.

Works on runs (consecutive pings at one cell): a trigger is always a run's first ping. By default
(``scan="compiled"``) runs, border smoothing, anchors and stay attributes are each one compiled
sequential pass (:mod:`forecast.stays.kernel`, numba), linear in the pings however often the cell
switches; ``scan="numpy"`` is the vectorised reference that scans all subscribers at once
(:func:`forecast.stays.scan.anchors_by_radius`: next triggers from per-cell masks and pointer
doubling, or a lockstep scan), with the same result to the bit.

On by default: border smoothing (pings at a tower of another city inside a neighbourhood visit are
moved to the visit's city, :func:`forecast.stays.border.smooth_borders`; towers that mostly serve
another city are learned by :func:`learn_serving_cities`) and a tail (a stay ends at most
``max_tail_minutes`` after its last ping, not at the next morning's trigger).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.schema import STAYS, empty
from forecast.stays.border import smooth_borders, visit_cities
from forecast.stays.cells import CellTable
from forecast.stays.kernel import group_by_code, ping_runs, smooth_runs, stay_attributes
from forecast.stays.scan import anchors_by_radius, longest, majority

_CHUNK_PINGS = 500_000
_STEP_CAP_S = 3600

__all__ = ["detect_stays", "learn_serving_cities", "sort_pings", "sort_stays", "uid_start_order"]


def sort_pings(uid: np.ndarray, ts_s: np.ndarray) -> np.ndarray | None:
    """Order that groups pings by subscriber and sorts them by time, or None if they already are.

    "Already" means each subscriber's pings are contiguous and in time order (subscribers need not
    be in uid order); the check costs a few passes, far less than a sort. Ties keep input order.
    Pings in time order across subscribers (a feed) are grouped by order of first appearance with
    a linear-time stable sort; anything else is sorted by (uid, time).

    Parameters
    ----------
    uid : ndarray of int64
        Subscriber of each ping.
    ts_s : ndarray of int64
        Time of each ping, UTC Unix seconds.

    Returns
    -------
    ndarray of int64 or None
        Row positions that put the pings grouped by subscriber and in time order; None when they are
        already (no copy needed).

    Examples
    --------
    >>> sort_pings(np.array([5, 5, 2]), np.array([1, 2, 0])) is None
    True
    >>> sort_pings(np.array([5, 2, 5]), np.array([1, 0, 2])).tolist()
    [1, 0, 2]
    """
    return _grouping(uid, ts_s)[0]


def _grouping(uid: np.ndarray, ts_s: np.ndarray, scatter: bool = False):
    """(order as :func:`sort_pings`, ``uid[order]`` when it comes cheaper than a gather, else None,
    and None). With ``scatter``, a feed in time order gives (None, the grouped uids, the subscriber
    code of each ping) instead: the caller groups the pings by those codes itself."""
    n = len(uid)
    if n < 2:
        return None, None, None
    same = uid[1:] == uid[:-1]
    back = ts_s[1:] < ts_s[:-1]
    if not back.any():  # a feed in time order, or one subscriber, or grouped pings in time order
        n_blocks = n - int(np.count_nonzero(same))
        if n_blocks == 1 or (uid[1:] >= uid[:-1]).all():
            return None, None, None
        # subscribers as dense codes in order of first appearance (hashing, linear)
        codes, uniques = pd.factorize(uid)
        if len(uniques) == n_blocks:
            return None, None, None  # grouped
        # a stable sort by subscriber alone suffices: the codes sorted by 16-bit radix passes
        sorted_uid = np.repeat(np.asarray(uniques, np.int64), np.bincount(codes, minlength=len(uniques)))
        if scatter:
            return None, sorted_uid, codes
        order = np.argsort((codes & 0xFFFF).astype(np.uint16), kind="stable")
        if len(uniques) > 1 << 16:
            high = (codes[order] >> 16).astype(np.uint16)
            del codes
            order = order[np.argsort(high, kind="stable")]
        return order, sorted_uid, None
    if not (same & back).any():
        block_uids = uid[np.flatnonzero(~same) + 1]
        n_blocks = len(block_uids) + 1
        if len(np.unique(np.append(block_uids, uid[0]))) == n_blocks:
            return None, None, None
    return np.lexsort((ts_s, uid)), None, None


def uid_start_order(uid: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Stable order by ``(uid, start)``. Concatenated parts are each sorted already: a stable sort
    by uid merges those runs (timsort) in a fraction of a two-key sort, and keeps each subscriber's
    parts in time order; anything else falls back to the two-key sort.

    Parameters
    ----------
    uid : ndarray of int64
        Subscriber of each row.
    start : ndarray of int64
        Start of each row (e.g. ``start_s``, UTC Unix seconds).

    Returns
    -------
    ndarray of int64
        Row positions sorted by ``(uid, start)``; ties keep input order.

    Examples
    --------
    >>> uid_start_order(np.array([1, 2, 1, 2]), np.array([0, 0, 9, 9])).tolist()
    [0, 2, 1, 3]
    >>> uid_start_order(np.array([1, 1]), np.array([9, 0])).tolist()
    [1, 0]
    """
    order = np.argsort(uid, kind="stable")
    u, s = uid[order], start[order]
    if len(u) > 1 and ((u[1:] == u[:-1]) & (s[1:] < s[:-1])).any():
        order = np.lexsort((start, uid))
    return order


def sort_stays(stays: pd.DataFrame) -> pd.DataFrame:
    """``stays`` in ``(uid, start_s)`` order (stable), cheap for parts that are each sorted already
    (:func:`uid_start_order`); later steps then find them sorted and skip their own sort. Not modified.

    Parameters
    ----------
    stays : DataFrame
        Stays with at least ``uid`` and ``start_s`` (e.g. STAYS, or several parts concatenated).

    Returns
    -------
    DataFrame
        The same rows and columns sorted by ``(uid, start_s)``, with a 0-based index.

    Examples
    --------
    >>> s = pd.DataFrame({"uid": [2, 1, 2, 1], "start_s": [0, 0, 9, 9], "end_s": [5, 5, 12, 12]})
    >>> sort_stays(s)[["uid", "start_s"]].values.tolist()
    [[1, 0], [1, 9], [2, 0], [2, 9]]
    """
    if len(stays) < 2:
        return stays.reset_index(drop=True)
    order = uid_start_order(stays["uid"].to_numpy(np.int64), stays["start_s"].to_numpy(np.int64))
    if (order[1:] > order[:-1]).all():
        return stays.reset_index(drop=True)
    return stays.take(order).reset_index(drop=True)


def _runs(uid, ts, cell, table: CellTable, max_gap_s, border_radius_m, scan="compiled"):
    """Runs of sorted pings (after border smoothing): first ping, group/uid start flags, cell
    rows and time weights of each run.

    A ping's time weight is the time until the subscriber's next ping, at most ``_STEP_CAP_S`` (so
    the last ping before a silent night does not carry the night); a run's is the sum over its pings.
    """
    n = len(uid)
    if scan == "compiled":
        rs, r_group_start, r_uid_start, r_weight = ping_runs(uid, ts, cell, max_gap_s, _STEP_CAP_S)
        r_rows = table.rows(cell[rs])
        if border_radius_m is not None and len(rs) > 1:
            keep, r_rows = smooth_runs(r_rows, r_weight, r_group_start, table, border_radius_m)
            if not keep.all():  # merged runs weigh the sum of their parts
                kept = np.flatnonzero(keep)
                rs, r_group_start, r_uid_start, r_rows = rs[kept], r_group_start[kept], r_uid_start[kept], r_rows[kept]
                r_weight = np.add.reduceat(r_weight, kept)
        return rs, r_group_start, r_uid_start, r_rows, r_weight
    new_uid = np.empty(n, bool)
    new_uid[0] = True
    np.not_equal(uid[1:], uid[:-1], out=new_uid[1:])
    step = np.empty(n + 1, np.int64)  # step[i + 1]: seconds from ping i to ping i + 1
    step[0] = 0
    np.subtract(ts[1:], ts[:-1], out=step[1:n])
    brk = np.empty(n, bool)  # a new gap-free group starts here
    brk[0] = True
    np.greater(step[1:n], max_gap_s, out=brk[1:])
    brk |= new_uid
    run_start = np.empty(n, bool)
    run_start[0] = True
    np.not_equal(cell[1:], cell[:-1], out=run_start[1:])
    run_start |= brk
    rs = np.flatnonzero(run_start)  # first ping of each run
    del run_start
    r_group_start = brk[rs]
    r_uid_start = new_uid[rs]
    del brk
    r_rows = table.rows(cell[rs])
    # cumulative weights in place: step[j] - step[i] is the weight of pings i .. j - 1
    np.minimum(step[1:n], _STEP_CAP_S, out=step[1:n])
    step[1:n][new_uid[1:]] = 0
    step[n] = 0
    np.cumsum(step[1:], out=step[1:])
    del new_uid
    rs_end = np.append(rs, n)
    if border_radius_m is not None and len(rs) > 1:
        keep, r_rows = smooth_borders(r_rows, np.diff(step[rs_end]), r_group_start, table, border_radius_m, scan)
        if not keep.all():
            rs, r_group_start, r_uid_start, r_rows = rs[keep], r_group_start[keep], r_uid_start[keep], r_rows[keep]
            rs_end = np.append(rs, n)
    return rs, r_group_start, r_uid_start, r_rows, np.diff(step[rs_end])


def _stays_sorted(uid, ts, cell, table: CellTable, min_stay_s, radius_m, max_gap_s, include_last, border_radius_m,
                  tail_s, scan):
    """Stays of pings already grouped by uid and time-sorted; returns a dict of columns."""
    n = len(uid)
    rs, r_group_start, r_uid_start, r_rows, r_weight = _runs(uid, ts, cell, table, max_gap_s, border_radius_m, scan)
    n_runs = len(rs)
    rs_end = np.append(rs, n)
    if radius_m is None:
        seg_first = np.arange(n_runs)
    else:
        seg_first = np.flatnonzero(anchors_by_radius(r_group_start, r_rows, table.xyz, float(radius_m), scan=scan))
    # segments partition the runs; each group starts one. A segment is closed by a trigger when the
    # next segment continues the same group; the open candidate at a subscriber's last ping otherwise
    seg_next = np.append(seg_first[1:], n_runs)
    next_in_group = ~np.append(r_group_start, True)[seg_next]
    last_of_uid = np.append(r_uid_start, True)[seg_next] & ~next_in_group
    after = rs_end[seg_next]  # the first ping after the segment (the trigger when closed)
    start_s = ts[rs[seg_first]]
    last_ts = ts[after - 1]
    end_s = np.where(next_in_group, ts[np.minimum(after, n - 1)], last_ts)
    if tail_s is not None:  # after a silence the subscriber may have left long before the trigger
        np.minimum(end_s, last_ts + np.int64(tail_s), out=end_s)
    keep = (end_s - start_s >= min_stay_s) & (next_in_group | (last_of_uid & include_last))
    ks = np.flatnonzero(keep)
    k_first, k_next = seg_first[ks], seg_next[ks]
    npk = rs_end[k_next] - rs[k_first]
    # stays of one run read their run; the others reduce their runs (open segments kept with
    # include_last include the last ping; closed ones exclude the trigger)
    if scan == "compiled":
        lon_sum, lat_sum, city, comm, cellid = stay_attributes(k_first, k_next, rs_end, r_rows, r_weight, table)
    else:
        lon_sum, lat_sum, city, comm, cellid = _attributes(k_first, k_next, rs, rs_end, npk, r_rows, r_weight, table)
    return {
        "uid": uid[rs[k_first]],
        "start_s": start_s[ks],
        "end_s": end_s[ks],
        "cell_id": cellid,
        "lon": lon_sum / npk,
        "lat": lat_sum / npk,
        "city_code": table.cities[city],
        "community_id": table.communities[comm],
        "n_pings": npk.astype(np.int64),
    }


def _attributes(k_first, k_next, rs, rs_end, npk, r_rows, r_weight, table):
    """Per stay of runs ``[k_first, k_next)``: sums of longitudes and latitudes, serving-city and
    community ranks with the most time, cell id of the longest run (the numpy twin of
    :func:`forecast.stays.kernel.stay_attributes`)."""
    k_rows = r_rows[k_first]
    lon_sum = npk * table.lon[k_rows]
    lat_sum = npk * table.lat[k_rows]
    city = table.serve_rank[k_rows]
    comm = table.community_rank[k_rows]
    cellid = table.cell_id[k_rows]
    multi = np.flatnonzero(k_next - k_first > 1)
    if len(multi):
        m_first, m_next = k_first[multi], k_next[multi]
        m_size = m_next - m_first
        m_seg = np.repeat(np.arange(len(multi)), m_size)
        m_run = np.arange(len(m_seg)) + np.repeat(m_first - (np.cumsum(m_size) - m_size), m_size)
        m_start = np.cumsum(m_size) - m_size
        m_rows, m_w = r_rows[m_run], r_weight[m_run]
        m_len = rs_end[m_run + 1] - rs[m_run]
        lon_sum[multi] = np.add.reduceat(m_len * table.lon[m_rows], m_start)
        lat_sum[multi] = np.add.reduceat(m_len * table.lat[m_rows], m_start)
        city[multi] = majority(m_seg, table.serve_rank[m_rows], m_w, len(multi), m_start)
        comm[multi] = majority(m_seg, table.community_rank[m_rows], m_w, len(multi), m_start)
        cellid[multi] = longest(m_seg, table.cell_id[m_rows], m_w, len(multi), m_start)
    return lon_sum, lat_sum, city, comm, cellid


def detect_stays(
    pings: pd.DataFrame,
    cells: pd.DataFrame | CellTable,
    *,
    min_stay_minutes: float = 30,
    radius_m: float | None = 100,
    max_gap_minutes: float = 720,
    method: str = "sliding",
    include_last: bool = True,
    border_radius_m: float | None = 3000,
    max_tail_minutes: float | None = 30,
    chunk_pings: int = _CHUNK_PINGS,
    scan: str = "compiled",
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
    border_radius_m : float or None
        Border smoothing before the scan: within a neighbourhood visit (the same sliding rule
        with this radius), pings at cells of a city other than the visit's majority-time city are
        taken as towers across the border and moved to the visit's main cell. ``None``: no
        smoothing (the plain sliding rule, identical to trackintel's).
    max_tail_minutes : float or None
        A stay ends at the trigger ping, but at most this long after its own last ping (a stay
        before a silent night ends soon after its last ping instead of the next morning); the
        ``min_stay_minutes`` test uses that end. ``None``: always at the trigger (trackintel).
    chunk_pings : int
        Pings per uid-aligned chunk; bounds the temporaries (memory), not the result.
    scan : {"compiled", "numpy"}
        The sliding-rule scan: one compiled sequential pass (numba, :mod:`forecast.stays.kernel`,
        cost linear in the pings however often the cell switches) or the vectorised numpy scan
        (:mod:`forecast.stays.scan`, the reference). Both give the same stays.

    Returns
    -------
    DataFrame
        STAYS, one row per stay, ordered by subscriber (input order of subscribers when the input
        was grouped, order of first appearance for a time-ordered feed, uid order otherwise) and
        time.

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
    if scan not in ("compiled", "numpy"):
        raise ValueError(f"unknown scan {scan!r}; use 'compiled' or 'numpy'")
    if min_stay_minutes < 0 or max_gap_minutes < 0 or (radius_m is not None and radius_m <= 0):
        raise ValueError("min_stay_minutes and max_gap_minutes must be >= 0 and radius_m > 0 (or None)")
    table = cells if isinstance(cells, CellTable) else CellTable(cells)
    min_stay_s = float(min_stay_minutes) * 60.0
    max_gap_s = float(max_gap_minutes) * 60.0
    border_radius_m = None if not border_radius_m else float(border_radius_m)
    tail_s = None if max_tail_minutes is None else float(max_tail_minutes) * 60.0
    parts = [
        _stays_sorted(u, t, c, table, min_stay_s, radius_m, max_gap_s, include_last, border_radius_m, tail_s, scan)
        for u, t, c in _sorted_chunks(pings, chunk_pings, scan)
    ]
    if not parts:
        return empty(STAYS)
    cols = {c: parts[0][c] if len(parts) == 1 else np.concatenate([p[c] for p in parts]) for c in STAYS}
    return pd.DataFrame(cols, copy=False)


def _sorted_chunks(pings: pd.DataFrame, chunk_pings: int, scan: str = "numpy"):
    """Yield (uid, ts_s, cell_id) arrays of pings grouped by uid and time-sorted, cut into chunks of
    about ``chunk_pings`` at subscriber boundaries (a chunk holds whole subscribers). With
    ``scan="compiled"`` a feed in time order is grouped by one compiled counting scatter (grouped
    copies of ts_s and cell_id) instead of a radix argsort and gathers."""
    missing = {"uid", "ts_s", "cell_id"} - set(pings.columns)
    if missing:
        raise ValueError(f"pings lack columns {sorted(missing)}")
    uid = pings["uid"].to_numpy(np.int64)
    ts = pings["ts_s"].to_numpy(np.int64)
    cell = pings["cell_id"].to_numpy(np.int64)
    order, sorted_uid, codes = _grouping(uid, ts, scatter=scan == "compiled")
    if codes is not None:
        ts, cell = group_by_code(codes, len(uid) and int(codes.max()) + 1, ts, cell)
        uid = sorted_uid
    if order is not None:
        uid = uid[order] if sorted_uid is None else sorted_uid
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
        if order is None:
            yield uid[lo:hi], ts[lo:hi], cell[lo:hi]
        else:  # gather chunk by chunk: no sorted copy of the whole input
            yield uid[lo:hi], ts[order[lo:hi]], cell[order[lo:hi]]
        lo = hi


def learn_serving_cities(
    pings: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    border_radius_m: float = 3000,
    max_gap_minutes: float = 720,
    min_share: float = 0.5,
    chunk_pings: int = _CHUNK_PINGS,
    scan: str = "compiled",
) -> pd.DataFrame:
    """Learn which city each tower really serves (towers across a border), from pings.

    The pings are cut into neighbourhood visits (the sliding rule with ``border_radius_m``) and
    each visit takes the city where most of its time was spent (registered cities). A cell whose
    time falls more than ``min_share`` in visits of one other city serves that city: a tower
    across the border that answers the neighbours' phones. Run it on a few weeks of pings (it is
    a property of the network, not of one day) and pass the result to :func:`detect_stays`.

    Parameters
    ----------
    pings : DataFrame
        Canonical PINGS (``uid, ts_s, cell_id``), sorted or not.
    cells : DataFrame
        CELLS table; every ping's cell must be in it. A ``serves_city_code`` column already there is
        ignored and replaced.
    border_radius_m : float
        Radius, in metres, of a neighbourhood visit (the sliding rule's distance).
    max_gap_minutes : float
        A silence longer than this, in minutes, ends a visit.
    min_share : float
        Share of a cell's time (0 .. 1) that visits of one other city must exceed for the cell to
        serve that city.
    chunk_pings : int
        Pings per uid-aligned chunk; bounds the temporaries (memory), not the result.
    scan : {"compiled", "numpy"}
        The sliding-rule scan, as in :func:`detect_stays`.

    Returns
    -------
    DataFrame
        ``cells`` with a column ``serves_city_code`` (= ``city_code`` for ordinary cells).

    References
    ----------
    Li, Q., Zheng, Y., Xie, X., Chen, Y., Liu, W. and Ma, W.-Y. (2008). Mining user similarity based on
    location history. Proceedings of the 16th ACM SIGSPATIAL International Conference on Advances in
    Geographic Information Systems, 34.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.415], "lat": [39.9, 39.9],
    ...                       "city_code": [110000, 130600], "community_id": [11, 21]})
    >>> pings = pd.DataFrame({"uid": [5] * 6, "ts_s": [0, 1800, 3600, 5400, 7200, 9000],
    ...                       "cell_id": [1, 2, 1, 1, 2, 1]})
    >>> learn_serving_cities(pings, cells)["serves_city_code"].tolist()
    [110000, 110000]
    """
    registered = cells.drop(columns=["serves_city_code"], errors="ignore")
    table = CellTable(registered)
    n_cells, n_cities = len(table.cell_id), len(table.cities)
    total = np.zeros(n_cells)
    f_rows, f_city, f_w = [], [], []
    for uid, ts, cell in _sorted_chunks(pings, chunk_pings, scan):
        rs, g_start, _, rows, w = _runs(uid, ts, cell, table, float(max_gap_minutes) * 60.0, None, scan)
        visit_city = visit_cities(g_start, rows, w, table.city_rank, table.xyz, float(border_radius_m), scan=scan)[2]
        total += np.bincount(rows, w, minlength=n_cells)
        foreign = visit_city != table.city_rank[rows]
        f_rows.append(rows[foreign])
        f_city.append(visit_city[foreign])
        f_w.append(w[foreign])
    serves = table.city_code.copy()
    rows = np.concatenate(f_rows) if f_rows else np.zeros(0, np.int64)
    if len(rows):
        key = rows * n_cities + np.concatenate(f_city)
        order = np.argsort(key, kind="stable")
        key, w = key[order], np.concatenate(f_w)[order]
        start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        k, kw = key[start], np.add.reduceat(w, start)
        row, city = k // n_cities, k % n_cities
        best = np.lexsort((-kw, row))
        row, city, kw = row[best], city[best], kw[best]
        top = np.r_[True, row[1:] != row[:-1]]
        row, city, kw = row[top], city[top], kw[top]
        switch = kw > min_share * total[row]
        serves[row[switch]] = table.cities[city[switch]]
    out = cells.copy()
    out["serves_city_code"] = serves
    return out
