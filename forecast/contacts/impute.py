"""Silent days in the companion search: cut the bridged time out, or impute a subscriber's routine.

A *silent day* is a local day inside the data on which a subscriber's phone sent no ping (3 % of
subscriber-days in the synthetic nation). :func:`forecast.contacts.stays.join_contact_stays` bridges
it: when the stays before and after the silence are at one cell, the subscriber is put there the whole
time ("at home all day"), else the stay before runs until the stay after begins (its trigger).

This module offers two alternatives (docs/contacts.md, "Measured accuracy"):

* :func:`cut_silent_days` removes the silent days from the stays (nothing is claimed about a day
  no ping shows);
* :func:`impute_silent_days` does the same and adds *imputed* stays from the subscriber's own
  routine on the days that were seen: per day type (weekday / weekend) and hour of day, the cell
  where the subscriber was at the half hour on most seen days, only where that cell was seen on at
  least ``min_share`` of those days and on at least ``min_days`` days (:func:`routine_cells`).
  Imputed stays carry ``imputed=True``; a pair found only through them is a *possible* companion
  ("imputed routine"), never a rule companion.

Hours are local wall-clock hours from the local midnight (``midnight + h * 3600``); on a day with a
daylight-saving change the last hour is approximate (no change in ``Asia/Shanghai``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.schema import DEFAULT_TZ, STAYS

HOURS = 24
_SHIFT = 40  # subscriber code above, seconds since the first midnight below (34,000 years of seconds)


def _days(first_day, last_day, tz: str):
    """Local midnights (Unix s) of ``first_day .. last_day + 1`` and the weekday of each day."""
    d = pd.date_range(pd.Timestamp(first_day).date(), pd.Timestamp(last_day).date(), freq="D")
    mid = pd.DatetimeIndex(list(d) + [d[-1] + pd.Timedelta(days=1)] if len(d) else []).tz_localize(tz)
    return mid.as_unit("s").asi8, np.asarray(d.day_of_week, np.int64)


def _seen_matrix(seen_days: pd.DataFrame, uids: np.ndarray, first_day, n_days: int) -> np.ndarray:
    """(subscriber code, day) -> at least one ping that local day."""
    seen = np.zeros((len(uids), n_days), bool)
    if not len(seen_days) or not len(uids):
        return seen
    u = seen_days["uid"].to_numpy(np.int64)
    day = (pd.to_datetime(seen_days["local_date"]).dt.normalize()
           - pd.Timestamp(pd.Timestamp(first_day).date())).dt.days.to_numpy(np.int64)
    pos = np.minimum(np.searchsorted(uids, u), len(uids) - 1)
    ok = (uids[pos] == u) & (day >= 0) & (day < n_days)
    seen[pos[ok], day[ok]] = True
    return seen


def _sorted_stays(stays: pd.DataFrame):
    s = stays.sort_values(["uid", "start_s"], kind="stable", ignore_index=True)
    uids, code = np.unique(s["uid"].to_numpy(np.int64), return_inverse=True)
    return s, uids, code.astype(np.int64)


def routine_cells(
    stays: pd.DataFrame,
    seen_days: pd.DataFrame,
    *,
    first_day,
    last_day,
    min_share: float = 0.6,
    min_days: int = 3,
    by_weekday: bool = True,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Each subscriber's regular cell per day type and hour of day, from the days that were seen.

    Parameters
    ----------
    stays : DataFrame
        ``uid, start_s, end_s, cell_id`` (joined companion stays; a subscriber's stays do not overlap).
    seen_days : DataFrame
        ``uid, local_date``: the subscriber-days with at least one ping.
    first_day, last_day : date-like
        Local days of the data (inclusive).
    min_share : float
        Least share of the seen days of the day type on which the cell was the one at the half hour.
    min_days : int
        Least number of seen days of the day type on which that cell was seen at that hour.
    by_weekday : bool
        Separate routines for Monday-Friday (``day_type`` 0) and Saturday-Sunday (1); else one (0).
    tz : str
        Time zone of the local days.

    Returns
    -------
    DataFrame
        ``uid, day_type, hour, cell_id, n_days, share``: only the regular (uid, day type, hour).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-06", tz="Asia/Shanghai").timestamp())  # a Monday
    >>> stays = pd.DataFrame({"uid": [7] * 3, "start_s": [t + d * 86_400 for d in range(3)],
    ...                       "end_s": [t + d * 86_400 + 36_000 for d in range(3)], "cell_id": [4, 4, 5]})
    >>> seen = pd.DataFrame({"uid": [7] * 3, "local_date": pd.date_range("2020-01-06", periods=3)})
    >>> r = routine_cells(stays, seen, first_day="2020-01-06", last_day="2020-01-08", min_days=2)
    >>> r[["hour", "cell_id", "n_days"]].drop_duplicates(["cell_id", "n_days"]).to_dict("records")
    [{'hour': 0, 'cell_id': 4, 'n_days': 2}]
    >>> round(float(r["share"].iloc[0]), 3)
    0.667
    """
    cols = {"uid": "int64", "day_type": "int64", "hour": "int64", "cell_id": "int64", "n_days": "int64",
            "share": "float64"}
    mid, weekday = _days(first_day, last_day, tz)
    n_days = len(weekday)
    if not len(stays) or not n_days:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in cols.items()})
    s, uids, code = _sorted_stays(stays)
    seen = _seen_matrix(seen_days, uids, first_day, n_days)
    dtype = (weekday >= 5).astype(np.int64) if by_weekday else np.zeros(n_days, np.int64)
    t0 = int(mid[0])
    start = s["start_s"].to_numpy(np.int64) - t0
    end = s["end_s"].to_numpy(np.int64) - t0
    cell = s["cell_id"].to_numpy(np.int64)
    key = (code << _SHIFT) + np.clip(start, 0, (1 << _SHIFT) - 1)
    pu, pd_ = np.nonzero(seen)  # probes: every seen (subscriber, day) x hour, at the half hour
    pu, pd_ = np.repeat(pu, HOURS), np.repeat(pd_, HOURS)
    ph = np.tile(np.arange(HOURS, dtype=np.int64), len(pu) // HOURS)
    pt = mid[pd_] - t0 + ph * 3600 + 1800
    j = np.searchsorted(key, (pu << _SHIFT) + pt, side="right") - 1
    hit = (j >= 0) & (code[np.maximum(j, 0)] == pu) & (end[np.maximum(j, 0)] > pt)
    probes = pd.DataFrame({"u": pu[hit], "day_type": dtype[pd_[hit]], "hour": ph[hit], "cell_id": cell[j[hit]]})
    seen_per_type = np.stack([seen[:, dtype == k].sum(axis=1) for k in range(2)], axis=1)  # (u, type)
    cnt = probes.groupby(["u", "day_type", "hour", "cell_id"], sort=True).size().rename("n_days").reset_index()
    cnt = cnt.sort_values(["u", "day_type", "hour", "n_days"], ascending=[True, True, True, False], kind="stable")
    top = cnt.drop_duplicates(["u", "day_type", "hour"], keep="first")
    share = top["n_days"].to_numpy(np.float64) / np.maximum(
        seen_per_type[top["u"].to_numpy(), top["day_type"].to_numpy()], 1)
    top = top.assign(share=share)
    top = top[(top["n_days"] >= int(min_days)) & (top["share"] >= float(min_share))]
    out = pd.DataFrame({"uid": uids[top["u"].to_numpy()], "day_type": top["day_type"].to_numpy(np.int64),
                        "hour": top["hour"].to_numpy(np.int64), "cell_id": top["cell_id"].to_numpy(np.int64),
                        "n_days": top["n_days"].to_numpy(np.int64), "share": top["share"].to_numpy(np.float64)})
    return out.reset_index(drop=True)


def cut_silent_days(
    stays: pd.DataFrame, seen_days: pd.DataFrame, *, first_day, last_day, tz: str = DEFAULT_TZ
) -> pd.DataFrame:
    """Remove each subscriber's silent local days (no ping; inside ``first_day .. last_day``) from the stays.

    A stay bridged across a silent day is split into the part before its local midnight and the part
    after the next one; both keep the stay's ``n_pings``. Subscribers with no seen day in the range
    are left as they are.

    Parameters
    ----------
    stays : DataFrame
        STAYS (any extra columns are kept). Not modified.
    seen_days : DataFrame
        ``uid, local_date``: the subscriber-days with at least one ping.
    first_day, last_day : date-like
        Local days of the data (inclusive); days outside are never silent.
    tz : str
        Time zone of the local days.

    Returns
    -------
    DataFrame
        The stays minus the silent days, sorted by ``(uid, start_s)``.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-06", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [7], "start_s": [t + 72_000], "end_s": [t + 2 * 86_400 + 25_200],
    ...                       "cell_id": [4], "n_pings": [3]})
    >>> seen = pd.DataFrame({"uid": [7, 7], "local_date": pd.to_datetime(["2020-01-06", "2020-01-08"])})
    >>> got = cut_silent_days(stays, seen, first_day="2020-01-06", last_day="2020-01-08")
    >>> ((got[["start_s", "end_s"]] - t) // 3600).to_dict("records")
    [{'start_s': 20, 'end_s': 24}, {'start_s': 48, 'end_s': 55}]
    """
    mid, weekday = _days(first_day, last_day, tz)
    n_days = len(weekday)
    if not len(stays) or not n_days:
        return stays.sort_values(["uid", "start_s"], kind="stable", ignore_index=True)
    s, uids, code = _sorted_stays(stays)
    seen = _seen_matrix(seen_days, uids, first_day, n_days)
    silent = ~seen & seen.any(axis=1, keepdims=True)
    # allowed intervals per subscriber: the complement of the (merged) silent days
    su, sd = np.nonzero(silent)
    if not len(su):
        return s
    new = np.ones(len(su), bool)
    new[1:] = (su[1:] != su[:-1]) | (sd[1:] != sd[:-1] + 1)
    head = np.flatnonzero(new)
    tail = np.append(head[1:] - 1, len(su) - 1)
    g_u, g_lo, g_hi = su[head], mid[sd[head]], mid[sd[tail] + 1]
    lo_inf, hi_inf = np.iinfo(np.int64).min // 4, np.iinfo(np.int64).max // 4
    # every subscriber gets intervals (-inf, g1_lo), (g1_hi, g2_lo), ..., (gk_hi, +inf)
    a_u = np.concatenate([np.arange(len(uids)), g_u])
    a_lo = np.concatenate([np.full(len(uids), lo_inf), g_hi])
    order = np.lexsort((a_lo, a_u))
    a_u, a_lo = a_u[order], a_lo[order]
    a_hi = np.full(len(a_u), hi_inf)
    nxt_same = np.append(a_u[1:] == a_u[:-1], False)
    g_lo_sorted = g_lo[np.lexsort((g_lo, g_u))]
    a_hi[nxt_same] = g_lo_sorted  # the gap that ends each allowed interval, in the same (u, time) order
    start, end = s["start_s"].to_numpy(np.int64), s["end_s"].to_numpy(np.int64)
    # allowed intervals overlapping each stay: those of its subscriber with hi > start and lo < end
    first = np.searchsorted(a_u, code, side="left")
    n_a = np.searchsorted(a_u, code, side="right") - first
    rows, k = [], []
    for step in range(int(n_a.max()) if len(n_a) else 0):  # a few intervals per subscriber at most
        has = n_a > step
        i = first[has] + step
        ok = (a_hi[i] > start[has]) & (a_lo[i] < end[has])
        rows.append(np.flatnonzero(has)[ok])
        k.append(i[ok])
    rows, k = np.concatenate(rows), np.concatenate(k)
    order = np.lexsort((k, rows))
    rows, k = rows[order], k[order]
    out = s.iloc[rows].reset_index(drop=True)
    new_s, new_e = np.maximum(start[rows], a_lo[k]), np.minimum(end[rows], a_hi[k])
    keep = new_e > new_s
    out = out.assign(start_s=new_s, end_s=new_e)[keep].reset_index(drop=True)
    return out


def impute_silent_days(
    stays: pd.DataFrame,
    seen_days: pd.DataFrame,
    *,
    first_day,
    last_day,
    min_share: float = 0.6,
    min_days: int = 3,
    by_weekday: bool = True,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Replace each subscriber's silent days by stays imputed from the subscriber's own routine.

    The silent days are cut out (:func:`cut_silent_days`); then, for every silent day of a subscriber
    with at least one seen day, each hour whose cell is regular for that day type
    (:func:`routine_cells` with ``min_share``, ``min_days``, ``by_weekday``) becomes an imputed stay at
    that cell, consecutive hours at one cell one stay. Hours without a regular cell stay empty.

    Parameters
    ----------
    stays : DataFrame
        STAYS of the companion search (joined across parts). Not modified.
    seen_days : DataFrame
        ``uid, local_date``: the subscriber-days with at least one ping.
    first_day, last_day : date-like
        Local days of the data (inclusive).
    min_share, min_days, by_weekday, tz
        See :func:`routine_cells`.

    Returns
    -------
    DataFrame
        STAYS plus ``imputed`` (bool), sorted by ``(uid, start_s)``. Imputed stays take ``lon, lat,
        city_code, community_id`` from a real stay of the subscriber at that cell, and ``n_pings`` =
        their length in minutes, so that the index's trigger correction (half the mean ping interval)
        moves their end by at most 30 s; a search that knows the flag should not correct them at all.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-06", tz="Asia/Shanghai").timestamp())  # a Monday
    >>> work = [(t + d * 86_400 + 9 * 3600, t + d * 86_400 + 17 * 3600) for d in (0, 1, 2, 4)]
    >>> home = [(t - 86_400, work[0][0])] + [(w[1], n[0]) for w, n in zip(work, work[1:])]
    >>> home[-1] = (work[2][1], work[3][0])  # Wednesday evening .. Friday morning: Thursday is silent
    >>> home.append((work[3][1], t + 5 * 86_400))
    >>> rows = sorted([(s, e, 1) for s, e in home] + [(s, e, 2) for s, e in work])
    >>> stays = pd.DataFrame({"uid": 7, "start_s": [r[0] for r in rows], "end_s": [r[1] for r in rows],
    ...     "cell_id": [r[2] for r in rows], "lon": 0.0, "lat": 0.0, "city_code": 1, "community_id": 1,
    ...     "n_pings": 5})
    >>> seen = pd.DataFrame({"uid": 7, "local_date": pd.to_datetime(
    ...     ["2020-01-06", "2020-01-07", "2020-01-08", "2020-01-10"])})
    >>> got = impute_silent_days(stays, seen, first_day="2020-01-06", last_day="2020-01-10")
    >>> thu = got[got["imputed"]]
    >>> ((thu["start_s"] - t - 3 * 86_400) // 3600).tolist(), thu["cell_id"].tolist()
    ([0, 9, 17], [1, 2, 1])
    """
    cut = cut_silent_days(stays, seen_days, first_day=first_day, last_day=last_day, tz=tz)
    cut = cut.assign(imputed=False)
    mid, weekday = _days(first_day, last_day, tz)
    n_days = len(weekday)
    if not len(stays) or not n_days:
        return cut
    uids = np.unique(stays["uid"].to_numpy(np.int64))
    seen = _seen_matrix(seen_days, uids, first_day, n_days)
    silent = ~seen & seen.any(axis=1, keepdims=True)
    routine = routine_cells(stays, seen_days, first_day=first_day, last_day=last_day, min_share=min_share,
                            min_days=min_days, by_weekday=by_weekday, tz=tz)
    su, sd = np.nonzero(silent)
    if not len(su) or not len(routine):
        return cut
    dtype = (weekday >= 5).astype(np.int64) if by_weekday else np.zeros(n_days, np.int64)
    # routine lookup: (u, day_type, hour) -> cell, dense over the silent subscribers only
    r_u = np.searchsorted(uids, routine["uid"].to_numpy(np.int64))
    table = np.full((len(uids), 2, HOURS), -1, np.int64)
    table[r_u, routine["day_type"].to_numpy(), routine["hour"].to_numpy()] = routine["cell_id"].to_numpy(np.int64)
    cells = table[su, dtype[sd]]  # (silent day, hour)
    iu, ih = np.nonzero(cells >= 0)
    if not len(iu):
        return cut
    u, day, hour, cell = su[iu], sd[iu], ih, cells[iu, ih]
    # consecutive hours of one silent day at one cell are one stay
    new = np.ones(len(u), bool)
    new[1:] = (iu[1:] != iu[:-1]) | (hour[1:] != hour[:-1] + 1) | (cell[1:] != cell[:-1])
    head = np.flatnonzero(new)
    tail = np.append(head[1:] - 1, len(u) - 1)
    start = mid[day[head]] + hour[head] * 3600
    end = np.minimum(mid[day[tail]] + (hour[tail] + 1) * 3600, mid[day[tail] + 1])
    attrs = stays[["uid", "cell_id", "lon", "lat", "city_code", "community_id"]].drop_duplicates(["uid", "cell_id"])
    imp = pd.DataFrame({"uid": uids[u[head]], "start_s": start, "end_s": end, "cell_id": cell[head],
                        "n_pings": np.maximum((end - start) // 60, 1)})
    imp = imp.merge(attrs, on=["uid", "cell_id"], how="left").assign(imputed=True)
    out = pd.concat([cut, imp[list(STAYS) + ["imputed"]].astype(STAYS)], ignore_index=True)
    return out.sort_values(["uid", "start_s"], kind="stable", ignore_index=True)
