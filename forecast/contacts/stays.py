"""Stays for the companion search, detected per ping part and joined across part boundaries.

The companion search needs other stays than the itinerary (docs/contacts.md): same site (the cells of
one mast and those within ``site_radius_m`` of it, :mod:`forecast.stays.sites`; ``radius_m=None``), ended at the trigger (``max_tail_minutes=None``, so the evening at home runs
through the silent night) and tolerant of a missing day (``max_gap_minutes=2880``). A build detects
stays one ping part (one day) at a time, and a part boundary at midnight would cut every night at
home in two and lose the silent hours between the last evening ping and the first morning ping.

So each part keeps what the next part may continue: :func:`part_contact_stays` runs the sliding rule
with no minimum length and keeps, besides the stays of ``>= min_stay_minutes``, each subscriber's
first and last stay of the part, flagged ``open_start`` / ``open_end``. :func:`join_contact_stays`
then rebuilds what one pass over all pings would give: a part's last stay and the next part's first
stay at the same cell become one stay; at different cells the first ends at the second's start (its
trigger); a silence longer than ``max_gap_minutes`` joins nothing. Only then are stays shorter than
``min_stay_minutes`` dropped. With ``radius_m=None`` the segments of the sliding rule do not depend on
the minimum length, so the result equals the stays of all pings at once except where border
smoothing (a neighbourhood rule inside a part) would differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.schema import DEFAULT_TZ, STAYS, empty
from forecast.stays import CellTable, detect_stays, pings_at_sites, uid_start_order

CONTACT_STAY_PARAMS = {"min_stay_minutes": 15.0, "radius_m": None, "max_gap_minutes": 2880.0,
                       "max_tail_minutes": None, "site_radius_m": 100.0}
FLAGS = ("open_start", "open_end")


def part_contact_stays(
    pings: pd.DataFrame,
    cells,
    *,
    min_stay_minutes: float = 15,
    radius_m: float | None = None,
    max_gap_minutes: float = 2880,
    max_tail_minutes: float | None = None,
    site_radius_m: float | None = 100.0,
) -> pd.DataFrame:
    """Companion-search stays of one ping part, with the open ends flagged for :func:`join_contact_stays`.

    Parameters
    ----------
    pings : DataFrame
        Canonical PINGS of one part (``uid, ts_s, cell_id``). Not modified.
    cells : DataFrame or forecast.stays.CellTable
    min_stay_minutes, radius_m, max_gap_minutes, max_tail_minutes
        As :func:`forecast.stays.detect_stays`; the minimum length is applied to inner stays here
        and to the open ones after joining.
    site_radius_m : float or None
        The search's place is a site (:func:`forecast.stays.sites.cell_sites`: the cells table's
        ``site_id``, else the cells within this many metres of a lead cell), so that radio ping-pong
        among a site's sectors and next masts neither cuts a stay nor puts two people at one site at
        different places. ``None``: the place is the cell.

    Returns
    -------
    DataFrame
        STAYS columns plus ``open_start`` (the subscriber's first stay in the part) and ``open_end``
        (the last, ending at its last ping); ``cell_id`` is the site's lead cell.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.50], "lat": [39.90, 39.90],
    ...                       "city_code": [110000, 110000], "community_id": [11, 12]})
    >>> pings = pd.DataFrame({"uid": [9] * 4, "ts_s": [0, 600, 3600, 4000], "cell_id": [1, 2, 2, 1]})
    >>> part_contact_stays(pings, cells)[["start_s", "end_s", "cell_id", "open_start", "open_end"]]
       start_s  end_s  cell_id  open_start  open_end
    0        0    600        1        True     False
    1      600   4000        2       False     False
    2     4000   4000        1       False      True
    """
    s = contact_stays(pings, cells, min_stay_minutes=0, radius_m=radius_m, max_gap_minutes=max_gap_minutes,
                      max_tail_minutes=max_tail_minutes, site_radius_m=site_radius_m, include_last=True)
    uid = s["uid"].to_numpy(np.int64)
    first = np.ones(len(uid), bool)
    first[1:] = uid[1:] != uid[:-1]
    last = np.ones(len(uid), bool)
    last[:-1] = first[1:]
    long = (s["end_s"].to_numpy(np.int64) - s["start_s"].to_numpy(np.int64)) >= float(min_stay_minutes) * 60
    keep = long | first | last
    return s.assign(open_start=first, open_end=last)[keep].reset_index(drop=True)


def contact_stays(
    pings: pd.DataFrame,
    cells,
    *,
    min_stay_minutes: float = 15,
    radius_m: float | None = None,
    max_gap_minutes: float = 2880,
    max_tail_minutes: float | None = None,
    site_radius_m: float | None = 100.0,
    include_last: bool = True,
) -> pd.DataFrame:
    """Companion-search stays of pings in one pass: :func:`forecast.stays.detect_stays` at sites.

    Parameters
    ----------
    pings : DataFrame
        Canonical PINGS (``uid, ts_s, cell_id``). Not modified.
    cells : DataFrame or forecast.stays.CellTable
    min_stay_minutes, radius_m, max_gap_minutes, max_tail_minutes, include_last
        As :func:`forecast.stays.detect_stays`.
    site_radius_m : float or None
        As :func:`part_contact_stays`: the place is the ping's site; ``None``: the cell.

    Returns
    -------
    DataFrame
        STAYS; ``cell_id`` is the lead cell of the stay's site.

    Examples
    --------
    Two sectors of one mast take turns serving a phone that does not move:

    >>> cells = pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.40], "lat": [39.90, 39.90],
    ...                       "city_code": [110000, 110000], "community_id": [11, 11]})
    >>> pings = pd.DataFrame({"uid": [9] * 5, "ts_s": [0, 600, 1200, 1800, 2400], "cell_id": [1, 2, 1, 2, 1]})
    >>> contact_stays(pings, cells)[["start_s", "end_s", "cell_id", "n_pings"]]
       start_s  end_s  cell_id  n_pings
    0        0   2400        1        5
    >>> len(contact_stays(pings, cells, site_radius_m=None, min_stay_minutes=0))
    5
    """
    table = cells if isinstance(cells, CellTable) else CellTable(cells)
    if site_radius_m is not None or table.site_id is not None:
        pings = pings_at_sites(pings, table, site_radius_m)
    return detect_stays(pings, table, min_stay_minutes=min_stay_minutes, radius_m=radius_m,
                        max_gap_minutes=max_gap_minutes, max_tail_minutes=max_tail_minutes, include_last=include_last)


def join_contact_stays(
    stays: pd.DataFrame,
    *,
    min_stay_minutes: float = 15,
    max_gap_minutes: float = 2880,
    max_tail_minutes: float | None = None,
    backfill_minutes: float = 0,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Join the stays of consecutive parts (outputs of :func:`part_contact_stays`, concatenated).

    Parameters
    ----------
    stays : DataFrame
        STAYS plus ``open_start, open_end``, in any order. Not modified. Without the flags the
        stays are taken as already joined and only sorted and filtered.
    min_stay_minutes, max_gap_minutes, max_tail_minutes : float
        The part's settings (same meaning as in :func:`forecast.stays.detect_stays`).
    backfill_minutes : float
        Each subscriber's first stay starts up to this much before its first ping, but not before
        that day's local midnight: where the data begins, the night before the first morning ping
        is credited to the place of that ping, as the trigger rule credits the time after a stay's
        last ping to that stay. 0 turns it off.
    tz : str
        Time zone of the local midnight.

    Returns
    -------
    DataFrame
        STAYS, sorted by ``(uid, start_s)``, every stay ``>= min_stay_minutes``.

    Examples
    --------
    >>> day1 = pd.DataFrame({"uid": [9, 9], "start_s": [0, 3600], "end_s": [3600, 5000],
    ...     "cell_id": [1, 2], "lon": 0.0, "lat": 0.0, "city_code": 1, "community_id": 1,
    ...     "n_pings": [2, 3], "open_start": [True, False], "open_end": [False, True]})
    >>> day2 = day1.assign(start_s=[9000, 12600], end_s=[12600, 14000], open_start=[True, False],
    ...                    open_end=[False, True])
    >>> join_contact_stays(pd.concat([day1, day2]))[["start_s", "end_s", "cell_id", "n_pings"]]
       start_s  end_s  cell_id  n_pings
    0        0   3600        1        2
    1     3600   9000        2        3
    2     9000  12600        1        2
    3    12600  14000        2        3

    Where the data begins, the night before the first ping goes to the first stay:

    >>> t = int(pd.Timestamp("2020-01-20 07:00", tz="Asia/Shanghai").timestamp())
    >>> first = day1.assign(start_s=day1["start_s"] + t, end_s=day1["end_s"] + t)
    >>> got = join_contact_stays(first, backfill_minutes=720)["start_s"] - t
    >>> (got // 3600).tolist()
    [-7, 1]
    """
    if not len(stays):
        return empty(STAYS)

    order = uid_start_order(stays["uid"].to_numpy(np.int64), stays["start_s"].to_numpy(np.int64))
    rows = order  # input row of each sorted row; narrowed to the kept heads below

    def col(name, dtype):
        return stays[name].to_numpy(dtype)[order]

    uid, start, end, cell, npk = (col(c, np.int64) for c in ("uid", "start_s", "end_s", "cell_id", "n_pings"))
    n = len(uid)
    if all(f in stays.columns for f in FLAGS):
        o_start, o_end = col("open_start", bool), col("open_end", bool)
        link = np.zeros(n, bool)  # link[i]: row i continues row i - 1 across a part boundary
        link[1:] = ((uid[1:] == uid[:-1]) & o_end[:-1] & o_start[1:] & (start[1:] >= end[:-1])
                    & (start[1:] - end[:-1] <= float(max_gap_minutes) * 60))
        merge = link.copy()
        merge[1:] &= cell[1:] == cell[:-1]
        head = np.flatnonzero(~merge)
        tail = np.append(head[1:] - 1, n - 1)
        end = end[tail]
        npk = np.add.reduceat(npk, head)
        # a joined stay at another cell ends at the next one's start (its trigger)
        nxt = np.append(link[head[1:]], False)
        if nxt.any():
            to = np.append(start[head[1:]], 0)[nxt]
            if max_tail_minutes is not None:
                to = np.minimum(to, end[nxt] + int(float(max_tail_minutes) * 60))
            end[nxt] = np.maximum(end[nxt], to)
        rows, start, uid = rows[head], start[head], uid[head]
    if backfill_minutes and n:
        first = np.ones(len(start), bool)
        first[1:] = uid[1:] != uid[:-1]
        day = pd.DatetimeIndex(pd.to_datetime(start[first], unit="s", utc=True)).tz_convert(tz).normalize()
        back = np.maximum(start[first] - int(float(backfill_minutes) * 60), day.as_unit("s").asi8)
        start = start.copy()
        start[first] = np.minimum(start[first], back)
    keep = end - start >= float(min_stay_minutes) * 60
    out = stays[list(STAYS)].take(rows[keep]).reset_index(drop=True)
    return out.assign(start_s=start[keep], end_s=end[keep], n_pings=npk[keep]).astype(STAYS)
