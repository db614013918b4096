"""City-days and 14-day itineraries (行程卡): which cities a subscriber stayed in for >= 4 h a day.

Rules (docs/engine.md)
----------------------
* Minutes in a city on a local day come from stays: each stay counts in its (majority-time) city,
  split at local midnights. The time between two consecutive stays of a subscriber in the *same*
  city is counted in that city too when it is at most ``bridge_gap_minutes`` (the person moved
  within the city; passing through another city never counts, since only stays count).
* A city is *visited* on a day with ``>= min_city_minutes`` (240) there.
* The itinerary for a query on local day D lists the cities visited on some day of D-14 .. D-1.

Local days use wall-clock time of ``tz`` (Asia/Shanghai by default, no DST). For a zone with DST a
piece that spans the change is off by the shift (at most one hour, on that day only).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from forecast.schema import CITY_DAYS, DEFAULT_TZ, ITINERARY, empty
from forecast.stays import CellTable, sort_pings

DAY_S = 86_400
_CHUNK_ROWS = 131_072  # stays per chunk of city_days (whole subscribers)

__all__ = ["local_seconds", "city_days", "itineraries", "visited_city_sets"]


def local_seconds(ts_s: np.ndarray, tz: str = DEFAULT_TZ) -> np.ndarray:
    """Wall-clock seconds of ``tz`` for UTC Unix seconds (int64), offsets looked up per hour.

    Parameters
    ----------
    ts_s : array_like of int64
        UTC Unix seconds.
    tz : str
        IANA time zone (``Asia/Shanghai`` by default).

    Returns
    -------
    ndarray of int64
        Seconds since 1970-01-01 00:00 wall-clock time of ``tz``, one per input (UTC offset of the
        hour each time falls in).

    Examples
    --------
    >>> local_seconds(np.array([0, 3600]), "Asia/Shanghai").tolist()
    [28800, 32400]
    """
    ts_s = np.asarray(ts_s, np.int64)
    if len(ts_s) == 0:
        return ts_s.copy()
    h0 = int(ts_s.min()) // 3600
    offset = _hour_offsets(tz, h0, int(ts_s.max()) // 3600)
    if len(offset) == 1:
        return ts_s + offset[0]
    return ts_s + offset[ts_s // 3600 - h0]


@lru_cache(maxsize=64)
def _hour_offsets(tz: str, h0: int, h1: int) -> np.ndarray:
    """UTC offsets (seconds) of ``tz`` for the hours ``h0 .. h1`` since the epoch; one value if constant."""
    hours = pd.DatetimeIndex((np.arange(h0, h1 + 1, dtype=np.int64) * 3600).astype("datetime64[s]"), tz="UTC")
    wall = hours.tz_convert(tz).tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    offset = wall - np.arange(h0, h1 + 1, dtype=np.int64) * 3600
    offset = offset[:1] if (offset == offset[0]).all() else offset
    offset.flags.writeable = False
    return offset


def to_day_s(query_date) -> int:
    """Local calendar day (date, Timestamp, string or datetime64) as seconds of its midnight.

    Parameters
    ----------
    query_date : date, Timestamp, str or numpy.datetime64
        The local day; a time of day is dropped, and a time zone is dropped without conversion.

    Returns
    -------
    int
        Unix seconds of that day's midnight read as UTC (the ``local_date`` convention of CITY_DAYS).

    Raises
    ------
    TypeError
        If ``query_date`` is none of the accepted types.
    """
    if isinstance(query_date, (np.datetime64, str, dt.date, pd.Timestamp)):
        ts = pd.Timestamp(query_date)
    else:
        raise TypeError(f"query_date must be a date, got {type(query_date).__name__}")
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return int(ts.normalize().value // 1_000_000_000)


def _split_days(uid, start_local, end_local, city):
    """Cut [start, end) local-second intervals at midnights; returns (uid, day_s, city, seconds)."""
    d0 = start_local // DAY_S
    d1 = (np.maximum(end_local, start_local + 1) - 1) // DAY_S
    extra = d1 - d0  # midnights crossed
    if not extra.any():
        return uid, d0 * DAY_S, city, end_local - start_local
    n_days = extra + 1
    first = np.cumsum(n_days) - n_days  # first piece of each interval
    total = int(first[-1] + n_days[-1])
    # piece days: +1 within an interval, a jump to the next interval's first day between them
    day = np.ones(total, np.int64)
    day[0] = d0[0]
    day[first[1:]] = d0[1:] - d1[:-1]
    np.cumsum(day, out=day)
    day *= DAY_S
    seconds = np.full(total, DAY_S, np.int64)  # whole days in the middle
    seconds[first + extra] = end_local - d1 * DAY_S  # last pieces
    seconds[first] = np.minimum(end_local, (d0 + 1) * DAY_S) - start_local  # first (or only) pieces
    return np.repeat(uid, n_days), day, np.repeat(city, n_days), seconds


def _order_uid_day_city(uid, day_s, city):
    """Order sorting rows by (uid, day, city), or None if sorted. Rows grouped by subscriber with
    days in order (the usual case) only need the groups put in uid order and the cities of
    multi-row days sorted."""
    if len(uid) < 2:
        return None
    new_uid = uid[1:] != uid[:-1]
    if not (new_uid | (day_s[1:] >= day_s[:-1])).all():
        return np.lexsort((city, day_s, uid))
    order = None
    if not (uid[1:] >= uid[:-1]).all():
        # subscribers grouped but not in uid order: order the groups (one key per subscriber)
        first = np.flatnonzero(np.r_[True, new_uid])
        if len(np.unique(uid[first])) != len(first):
            return np.lexsort((city, day_s, uid))
        size = np.diff(np.append(first, len(uid)))
        by = np.argsort(uid[first], kind="stable")
        order = np.repeat(first[by] - (np.cumsum(size[by]) - size[by]), size[by]) + np.arange(len(uid))
        uid, day_s, city = uid[order], day_s[order], city[order]
    same_day = (uid[1:] == uid[:-1]) & (day_s[1:] == day_s[:-1])
    if not (same_day & (city[1:] < city[:-1])).any():
        return order
    # rows of days with several cities: sort those by (day group, city) and put them back in place
    group = np.cumsum(np.r_[True, ~same_day])
    multi = np.r_[same_day, False] | np.r_[False, same_day]
    idx = np.flatnonzero(multi)
    within = np.arange(len(uid))
    within[idx] = idx[np.lexsort((city[idx], group[idx]))]
    return within if order is None else order[within]


def _sum_by_key(uid, day_s, city, seconds, min_minutes=0.0):
    """Sum seconds by (uid, day, city); returns CITY_DAYS columns (uid, day_s, city, minutes) sorted
    by (uid, day, city), minutes > 0 and, when ``min_minutes > 0``, >= ``min_minutes`` only."""
    keep = seconds > 0
    if not keep.all():
        uid, day_s, city, seconds = uid[keep], day_s[keep], city[keep], seconds[keep]
    # pieces come grouped by subscriber and in time order: sum consecutive equal keys first, so
    # the sort below sees about one row per subscriber-day
    first = np.flatnonzero(
        np.r_[True, (uid[1:] != uid[:-1]) | (day_s[1:] != day_s[:-1]) | (city[1:] != city[:-1])]
    )
    uid, day_s, city, seconds = uid[first], day_s[first], city[first], np.add.reduceat(seconds, first)
    order = _order_uid_day_city(uid, day_s, city)
    if order is not None:
        uid, day_s, city, seconds = uid[order], day_s[order], city[order], seconds[order]
    first = np.flatnonzero(
        np.r_[True, (uid[1:] != uid[:-1]) | (day_s[1:] != day_s[:-1]) | (city[1:] != city[:-1])]
    )
    minutes = np.add.reduceat(seconds, first) / 60.0
    if min_minutes > 0:
        sel = minutes >= min_minutes
        first, minutes = first[sel], minutes[sel]
    return uid[first], day_s[first], city[first], minutes


def _uid_chunks(uid: np.ndarray, chunk_rows: int):
    """(lo, hi) bounds of chunks of about ``chunk_rows`` rows of uid-sorted rows, cut between uids."""
    n, lo = len(uid), 0
    while lo < n:
        hi = min(n, lo + chunk_rows)
        if hi < n:
            cut = int(np.searchsorted(uid, uid[hi], side="left"))
            hi = cut if cut > lo else int(np.searchsorted(uid, uid[hi], side="right"))
        yield lo, hi
        lo = hi


def city_days(
    stays: pd.DataFrame | None,
    *,
    tz: str = DEFAULT_TZ,
    pings: pd.DataFrame | None = None,
    cells: pd.DataFrame | None = None,
    min_city_minutes: float = 240,
    bridge_gap_minutes: float = 360,
) -> pd.DataFrame:
    """Minutes each subscriber spent in each city per local day.

    Parameters
    ----------
    stays : DataFrame or None
        STAYS (from :func:`forecast.stays.detect_stays`); each stay counts in its ``city_code``.
    tz : str
        IANA zone of the local days.
    pings, cells : DataFrame, optional
        Unsmoothed baseline (used to measure border smoothing): when both are given the stays are
        ignored and every ping counts in its own cell's city until the subscriber's next ping (at
        most ``bridge_gap_minutes`` later).
    min_city_minutes : float
        Keep rows with ``minutes >= min_city_minutes`` (240: visited cities; 0: all minutes).
    bridge_gap_minutes : float
        Gaps between consecutive stays in the same city up to this long count in that city.

    Returns
    -------
    DataFrame
        CITY_DAYS sorted by ``uid, local_date, city_code``.

    Examples
    --------
    >>> stays = pd.DataFrame({"uid": [1, 1], "start_s": [1577836800, 1577876400],
    ...                       "end_s": [1577858400, 1577880000], "city_code": [110000, 120000]})
    >>> city_days(stays, min_city_minutes=0)
       uid local_date  city_code  minutes
    0    1 2020-01-01     110000    360.0
    1    1 2020-01-01     120000     60.0
    """
    gap_s = float(bridge_gap_minutes) * 60.0
    if pings is not None and cells is not None:
        uid = pings["uid"].to_numpy(np.int64)
        ts = pings["ts_s"].to_numpy(np.int64)
        cell = pings["cell_id"].to_numpy(np.int64)
        order = sort_pings(uid, ts)
        if order is not None:
            uid, ts, cell = uid[order], ts[order], cell[order]
        table = cells if isinstance(cells, CellTable) else CellTable(cells)
        city = table.city_code[table.rows(cell)]
        end = ts.copy()
        if len(ts) > 1:
            nxt_ok = (uid[1:] == uid[:-1]) & (ts[1:] - ts[:-1] <= gap_s)
            end[:-1] = np.where(nxt_ok, ts[1:], ts[:-1])
        start = ts
    else:
        if stays is None:
            raise ValueError("city_days needs stays, or pings and cells")
        uid = stays["uid"].to_numpy(np.int64)
        start = stays["start_s"].to_numpy(np.int64)
        end = stays["end_s"].to_numpy(np.int64).copy()
        city = stays["city_code"].to_numpy(np.int64)
        if len(uid) > 1:
            order = sort_pings(uid, start)
            if order is not None:
                uid, start, end, city = uid[order], start[order], end[order], city[order]
            bridge = (
                (uid[1:] == uid[:-1])
                & (city[1:] == city[:-1])
                & (start[1:] >= end[:-1])
                & (start[1:] - end[:-1] <= gap_s)
            )
            end[:-1] = np.where(bridge, start[1:], end[:-1])
    if len(uid) == 0:
        return empty(CITY_DAYS)
    if len(uid) > _CHUNK_ROWS and not (uid[1:] >= uid[:-1]).all():
        # subscribers grouped (sorted above) but not in uid order: order the groups, not the rows
        first = np.flatnonzero(np.r_[True, uid[1:] != uid[:-1]])
        size = np.diff(np.append(first, len(uid)))
        by = np.argsort(uid[first], kind="stable")
        order = np.repeat(first[by] - (np.cumsum(size[by]) - size[by]), size[by]) + np.arange(len(uid))
        uid, start, end, city = uid[order], start[order], end[order], city[order]
        del order
    chunks = [(0, len(uid))] if not (uid[1:] >= uid[:-1]).all() else list(_uid_chunks(uid, _CHUNK_ROWS))
    # chunks of whole subscribers in uid order: each is summed and sorted on its own (in cache)
    parts = [
        _sum_by_key(*_split_days(uid[lo:hi], local_seconds(start[lo:hi], tz), local_seconds(end[lo:hi], tz),
                                 city[lo:hi]), min_minutes=float(min_city_minutes))
        for lo, hi in chunks
    ]
    cols = [p[0] if len(parts) == 1 else np.concatenate(p) for p in zip(*parts)]
    out = pd.DataFrame({"uid": cols[0], "local_date": cols[1].astype("datetime64[s]"), "city_code": cols[2],
                        "minutes": cols[3]}, copy=False)
    return out.astype(CITY_DAYS)


def itineraries(
    city_days: pd.DataFrame,
    query_date,
    *,
    window_days: int = 14,
    min_city_minutes: float = 240,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Cities each subscriber visited (>= 4 h on a local day) in the window before ``query_date``.

    Parameters
    ----------
    city_days : DataFrame
        CITY_DAYS (from :func:`city_days`; rows under ``min_city_minutes`` are ignored).
    query_date : date-like
        Local day D of the query; the window is D - ``window_days`` .. D - 1.
    window_days : int
        Length of the window in full days.
    min_city_minutes : float
        Minutes in a city on one day that make it a visited city.
    tz : str
        Zone of ``local_date`` (kept for symmetry; the dates are already local).

    Returns
    -------
    DataFrame
        ITINERARY: one row per (uid, city) with the first and last visited day and the number of
        visited days, sorted by ``uid, first_date, city_code``.

    Examples
    --------
    >>> cd = pd.DataFrame({"uid": [1, 1, 1], "city_code": [110000, 120000, 110000],
    ...                    "local_date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-20"]),
    ...                    "minutes": [300.0, 250.0, 600.0]})
    >>> itineraries(cd, "2020-01-15")
       uid  city_code first_date  last_date  days
    0    1     110000 2020-01-01 2020-01-01     1
    1    1     120000 2020-01-02 2020-01-02     1
    """
    del tz
    if window_days < 1:
        raise ValueError("window_days must be >= 1")
    d = to_day_s(query_date)
    day = city_days["local_date"].to_numpy().astype("datetime64[s]").astype(np.int64)
    sel = (day >= d - window_days * DAY_S) & (day < d) & (city_days["minutes"].to_numpy() >= min_city_minutes)
    uid = city_days["uid"].to_numpy(np.int64)[sel]
    city = city_days["city_code"].to_numpy(np.int64)[sel]
    day = day[sel]
    if len(uid) == 0:
        return empty(ITINERARY)
    new_uid = uid[1:] != uid[:-1]
    span = int(city.max()) - int(city.min()) + 1
    if (uid[1:] >= uid[:-1]).all() and (new_uid | (day[1:] >= day[:-1])).all() and len(uid) * span < 1 << 62:
        # rows by uid then day (as city_days returns them): a stable sort of (subscriber, city) keeps days in order
        key = np.cumsum(np.r_[0, new_uid]) * span + (city - int(city.min()))
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((day, city, uid))
    uid, city, day = uid[order], city[order], day[order]
    first = np.flatnonzero(np.r_[True, (uid[1:] != uid[:-1]) | (city[1:] != city[:-1])])
    last = np.r_[first[1:], len(uid)] - 1
    new_day = np.r_[True, (uid[1:] != uid[:-1]) | (city[1:] != city[:-1]) | (day[1:] != day[:-1])]
    n_days = np.add.reduceat(new_day.astype(np.int64), first)
    o = np.lexsort((city[first], day[first], uid[first]))
    first, last, n_days = first[o], last[o], n_days[o]
    out = pd.DataFrame(
        {
            "uid": uid[first],
            "city_code": city[first],
            "first_date": day[first].astype("datetime64[s]"),
            "last_date": day[last].astype("datetime64[s]"),
            "days": n_days,
        }
    )
    return out.astype(ITINERARY)


def visited_city_sets(itinerary: pd.DataFrame) -> pd.Series:
    """Each subscriber's set of visited cities as a sorted tuple, indexed by uid.

    Parameters
    ----------
    itinerary : DataFrame
        ITINERARY (at least ``uid`` and ``city_code``), e.g. from :func:`itineraries`.

    Returns
    -------
    Series
        Index ``uid``; each value a tuple of that subscriber's ``city_code`` values in ascending order.

    Examples
    --------
    >>> it = pd.DataFrame({"uid": [1, 1, 2], "city_code": [120000, 110000, 110000]})
    >>> visited_city_sets(it).to_dict()
    {1: (110000, 120000), 2: (110000,)}
    """
    return itinerary.groupby("uid")["city_code"].agg(lambda s: tuple(sorted(s.tolist())))
