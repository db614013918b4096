"""Inter-city trips and daily flows (漫入/漫出), from stays.

Rules (docs/engine.md)
----------------------
* An *end stay* is a stay of ``>= min_end_stay_minutes`` (120: the migration statistics' rule).
* A *trip* joins two consecutive end stays of a subscriber in different cities: it departs at the
  end of the first and arrives at the start of the second. Shorter stays in between (a station, a
  motorway stop) are passed through and never count as origin or destination.
* A trip's ``local_date`` is the local day of its departure.
* A *round trip* ("went there and came back") is a trip A -> B followed by that subscriber's next
  trip B -> A, optionally within ``max_away_days``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.itinerary import DAY_S, local_seconds, to_day_s
from forecast.schema import DEFAULT_TZ, FLOWS, empty
from forecast.stays import sort_pings

TRIPS = {
    "uid": "int64",
    "depart_s": "int64",
    "arrive_s": "int64",
    "origin": "int64",
    "destination": "int64",
    "local_date": "datetime64[s]",
}
ROUND_TRIPS = {
    "uid": "int64",
    "origin": "int64",
    "destination": "int64",
    "depart_s": "int64",
    "return_s": "int64",
    "local_date": "datetime64[s]",
}

__all__ = ["TRIPS", "ROUND_TRIPS", "trips", "daily_flows", "inflow_from", "round_trips", "round_trip_counts"]


def trips(stays: pd.DataFrame, *, min_end_stay_minutes: float = 120, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """Inter-city trips between consecutive end stays (>= 2 h) of each subscriber.

    Parameters
    ----------
    stays : DataFrame
        STAYS (at least ``uid, start_s, end_s, city_code``; times in UTC Unix seconds), in any order.
    min_end_stay_minutes : float
        Least duration, in minutes, of an end stay (120: 2 hours); shorter stays are passed through.
    tz : str
        IANA time zone of the departure's local day (``Asia/Shanghai`` by default).

    Returns
    -------
    DataFrame
        TRIPS: ``uid``, ``depart_s`` (end of the origin stay), ``arrive_s`` (start of the destination
        stay), ``origin`` and ``destination`` (city codes) and ``local_date`` (local day of departure),
        each subscriber's trips in time order.

    Examples
    --------
    >>> st = pd.DataFrame({"uid": [1, 1, 1], "start_s": [1577836800, 1577851200, 1577858400],
    ...                    "end_s": [1577847600, 1577852400, 1577880000],
    ...                    "city_code": [110000, 130100, 120000]})
    >>> trips(st)[["uid", "origin", "destination", "local_date"]]
       uid  origin  destination local_date
    0    1  110000       120000 2020-01-01
    """
    keep = (stays["end_s"].to_numpy() - stays["start_s"].to_numpy()) >= min_end_stay_minutes * 60
    uid = stays["uid"].to_numpy(np.int64)[keep]
    start = stays["start_s"].to_numpy(np.int64)[keep]
    end = stays["end_s"].to_numpy(np.int64)[keep]
    city = stays["city_code"].to_numpy(np.int64)[keep]
    order = sort_pings(uid, start)
    if order is not None:
        uid, start, end, city = uid[order], start[order], end[order], city[order]
    if len(uid) < 2:
        return empty(TRIPS)
    move = np.flatnonzero((uid[1:] == uid[:-1]) & (city[1:] != city[:-1]))
    depart = end[move]
    day = local_seconds(depart, tz) // DAY_S * DAY_S
    return pd.DataFrame(
        {
            "uid": uid[move],
            "depart_s": depart,
            "arrive_s": start[move + 1],
            "origin": city[move],
            "destination": city[move + 1],
            "local_date": day.astype("datetime64[s]"),
        }
    ).astype(TRIPS)


def daily_flows(trip_table: pd.DataFrame, *, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """Trips per local day and (origin, destination) pair: the FLOWS table.

    ``tz`` is accepted for symmetry; the trips' ``local_date`` already carries the local day.

    Parameters
    ----------
    trip_table : DataFrame
        TRIPS (from :func:`trips`; at least ``local_date, origin, destination``).
    tz : str
        Unused (see above).

    Returns
    -------
    DataFrame
        FLOWS: ``local_date, origin, destination, trips`` (number of trips), sorted by those keys.

    Examples
    --------
    >>> t = pd.DataFrame({"local_date": pd.to_datetime(["2020-01-01"] * 3),
    ...                   "origin": [1, 1, 2], "destination": [2, 2, 1]})
    >>> daily_flows(t)
      local_date  origin  destination  trips
    0 2020-01-01       1            2      2
    1 2020-01-01       2            1      1
    """
    del tz
    if len(trip_table) == 0:
        return empty(FLOWS)
    out = (
        trip_table.groupby(["local_date", "origin", "destination"], sort=True)
        .size()
        .rename("trips")
        .reset_index()
    )
    out["local_date"] = out["local_date"].astype("datetime64[s]")
    return out.astype(FLOWS)


def inflow_from(flows: pd.DataFrame, origin_city_code: int, *, start_date=None, end_date=None,
                by_day: bool = True) -> pd.DataFrame:
    """Trips leaving ``origin_city_code``, per destination (and per day unless ``by_day=False``).

    ``start_date``/``end_date`` bound ``local_date`` (inclusive). Sorted by trips, largest first.

    Parameters
    ----------
    flows : DataFrame
        FLOWS (``local_date, origin, destination, trips``), e.g. from :func:`daily_flows`.
    origin_city_code : int
        The 6-digit code of the city the trips leave.
    start_date, end_date : date-like, optional
        First and last local day counted (inclusive); None: no bound.
    by_day : bool
        True: one row per (day, destination); False: days summed, one row per destination.

    Returns
    -------
    DataFrame
        ``local_date`` (only when ``by_day``), ``origin``, ``destination`` and ``trips`` (int64 sum),
        sorted by ``trips`` descending, then by the keys; a fresh 0-based index.

    Examples
    --------
    >>> f = pd.DataFrame({"local_date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-02"]),
    ...                   "origin": [420100, 420100, 110000], "destination": [110000, 110000, 420100],
    ...                   "trips": [5, 7, 1]})
    >>> inflow_from(f, 420100, by_day=False)
       origin  destination  trips
    0  420100       110000     12
    """
    day = flows["local_date"].to_numpy().astype("datetime64[s]").astype(np.int64)
    sel = flows["origin"].to_numpy(np.int64) == int(origin_city_code)
    if start_date is not None:
        sel &= day >= to_day_s(start_date)
    if end_date is not None:
        sel &= day <= to_day_s(end_date)
    f = flows.loc[sel]
    keys = ["local_date", "origin", "destination"] if by_day else ["origin", "destination"]
    out = f.groupby(keys, sort=True)["trips"].sum().reset_index()
    out["trips"] = out["trips"].astype("int64")
    return out.sort_values(["trips"] + keys, ascending=[False] + [True] * len(keys), kind="stable").reset_index(
        drop=True
    )


def round_trips(trip_table: pd.DataFrame, *, max_away_days: float | None = None) -> pd.DataFrame:
    """Trips A -> B followed by the same subscriber's next trip B -> A ("went there and came back").

    Parameters
    ----------
    trip_table : DataFrame
        TRIPS (from :func:`trips`; ``uid, depart_s, arrive_s, origin, destination, local_date``).
    max_away_days : float, optional
        Longest time away, in days, from arriving at B to departing B for A; None: no limit.

    Returns
    -------
    DataFrame
        ROUND_TRIPS: ``uid``, ``origin`` (A), ``destination`` (B), ``depart_s`` (departure from A),
        ``return_s`` (arrival back at A) and ``local_date`` (local day of the departure from A).

    Examples
    --------
    >>> t = pd.DataFrame({"uid": [1, 1, 2], "depart_s": [0, 90000, 0], "arrive_s": [3600, 93600, 3600],
    ...                   "origin": [1, 2, 1], "destination": [2, 1, 3],
    ...                   "local_date": pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-01"])})
    >>> round_trips(t)[["uid", "origin", "destination", "depart_s", "return_s"]]
       uid  origin  destination  depart_s  return_s
    0    1       1            2         0     93600
    """
    uid = trip_table["uid"].to_numpy(np.int64)
    dep = trip_table["depart_s"].to_numpy(np.int64)
    arr = trip_table["arrive_s"].to_numpy(np.int64)
    o = trip_table["origin"].to_numpy(np.int64)
    d = trip_table["destination"].to_numpy(np.int64)
    order = sort_pings(uid, dep)
    if order is not None:
        uid, dep, arr, o, d = uid[order], dep[order], arr[order], o[order], d[order]
        dates = trip_table["local_date"].to_numpy()[order]
    else:
        dates = trip_table["local_date"].to_numpy()
    if len(uid) < 2:
        return empty(ROUND_TRIPS)
    back = (uid[1:] == uid[:-1]) & (o[1:] == d[:-1]) & (d[1:] == o[:-1])
    if max_away_days is not None:
        back &= (dep[1:] - arr[:-1]) <= max_away_days * DAY_S
    i = np.flatnonzero(back)
    return pd.DataFrame(
        {
            "uid": uid[i],
            "origin": o[i],
            "destination": d[i],
            "depart_s": dep[i],
            "return_s": arr[i + 1],
            "local_date": dates[i],
        }
    ).astype(ROUND_TRIPS)


def round_trip_counts(round_trip_table: pd.DataFrame) -> pd.DataFrame:
    """Round trips and distinct subscribers per (origin, destination), most frequent first.

    Parameters
    ----------
    round_trip_table : DataFrame
        ROUND_TRIPS (from :func:`round_trips`; at least ``uid, origin, destination``).

    Returns
    -------
    DataFrame
        ``origin, destination, round_trips, subscribers`` (int64): round trips and distinct ``uid``
        per pair, sorted by ``round_trips`` descending, then by ``origin, destination``.

    Examples
    --------
    >>> rt = pd.DataFrame({"uid": [1, 1, 2], "origin": [1, 1, 1], "destination": [2, 2, 2]})
    >>> round_trip_counts(rt)
       origin  destination  round_trips  subscribers
    0       1            2            3            2
    """
    cols = ["origin", "destination", "round_trips", "subscribers"]
    if len(round_trip_table) == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols})
    g = round_trip_table.groupby(["origin", "destination"], sort=True)["uid"]
    out = pd.DataFrame({"round_trips": g.size(), "subscribers": g.nunique()}).reset_index()
    out = out.astype("int64")
    return out.sort_values(["round_trips", "origin", "destination"], ascending=[False, True, True],
                           kind="stable").reset_index(drop=True)[cols]
