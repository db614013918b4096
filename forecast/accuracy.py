"""Accuracy of detected stays and itineraries against ground truth (the synthetic nation's).

Stay matching (docs/engine.md)
------------------------------
A detected stay and a true stay of the same subscriber are *candidates* when their time overlap is
at least ``min_overlap_share`` (50 %) of the shorter of the two. Matching is one to one: a pair
matches when each is the other's candidate with the largest overlap (ties: the earlier stay).
*Precision* is the share of detected stays that match a true stay (of any length); *recall* is the
share of observable true stays of ``>= min_stay_minutes`` (at least two pings inside: one ping
shows no duration) that match a detected stay; *recall_all* counts every true stay that long.

Itinerary exactness
-------------------
A subscriber's itinerary is exact when the set of cities with ``>= min_city_minutes`` on some local
day of the window is the same in the detection and in the truth (``true_city_days``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.itinerary import DAY_S, to_day_s

__all__ = ["match_stays", "pings_inside", "stay_scores", "itinerary_exactness"]


def match_stays(detected: pd.DataFrame, truth: pd.DataFrame, *, min_overlap_share: float = 0.5):
    """One-to-one matches between detected and true stays.

    Both tables need ``uid, start_s, end_s``; stays of one subscriber must not overlap each other
    within a table (true for :func:`forecast.stays.detect_stays` and the synthetic truth).

    Parameters
    ----------
    detected : DataFrame
        Detected stays with ``uid``, ``start_s``, ``end_s`` (UTC Unix seconds), e.g. STAYS.
    truth : DataFrame
        True stays with the same columns, e.g. TRUE_STAYS.
    min_overlap_share : float
        Least overlap, as a share of the shorter stay's duration, that makes two stays candidates
        (0.5: half of the shorter stay).

    Returns
    -------
    (ndarray, ndarray)
        Row positions (in ``detected`` and in ``truth``) of the matched pairs.

    Examples
    --------
    >>> det = pd.DataFrame({"uid": [1, 1], "start_s": [0, 5000], "end_s": [3600, 9000]})
    >>> tru = pd.DataFrame({"uid": [1, 1, 2], "start_s": [600, 4000, 0], "end_s": [3000, 9600, 60]})
    >>> [a.tolist() for a in match_stays(det, tru)]
    [[0, 1], [0, 1]]
    """
    d_u = detected["uid"].to_numpy(np.int64)
    d_s = detected["start_s"].to_numpy(np.int64)
    d_e = detected["end_s"].to_numpy(np.int64)
    t_u = truth["uid"].to_numpy(np.int64)
    t_s = truth["start_s"].to_numpy(np.int64)
    t_e = truth["end_s"].to_numpy(np.int64)
    if len(d_u) == 0 or len(t_u) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # one int64 key per (subscriber, time): dense subscriber code in the high bits
    _, code = np.unique(np.concatenate([d_u, t_u]), return_inverse=True)
    code = code.ravel().astype(np.int64) << 32
    t0 = min(d_s.min(), t_s.min())
    dk, tk = code[: len(d_u)], code[len(d_u):]
    t_order = np.lexsort((t_s, t_u))
    ss, se = t_s[t_order], t_e[t_order]
    tk = tk[t_order]
    # true stays overlapping detected stay i: same subscriber, end > d_s, start < d_e; stays of a
    # subscriber do not overlap, so their ends are sorted too and the range is contiguous
    lo = np.searchsorted(tk + (se - t0), dk + (d_s - t0), side="right")
    hi = np.searchsorted(tk + (ss - t0), dk + (d_e - t0), side="left")
    cnt = np.maximum(hi - lo, 0)
    di = np.repeat(np.arange(len(d_u)), cnt)
    tj = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    ov = np.minimum(d_e[di], se[tj]) - np.maximum(d_s[di], ss[tj])
    shorter = np.minimum(d_e[di] - d_s[di], se[tj] - ss[tj])
    ok = (ov > 0) & (ov >= min_overlap_share * shorter)
    di, tj, ov = di[ok], tj[ok], ov[ok]
    if len(di) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # best candidate per detected stay and per true stay (largest overlap, then lowest index)
    o1 = np.lexsort((tj, -ov, di))
    best_t = np.full(len(d_u), -1)
    first = np.r_[True, di[o1][1:] != di[o1][:-1]]
    best_t[di[o1][first]] = tj[o1][first]
    o2 = np.lexsort((di, -ov, tj))
    best_d = np.full(len(t_u), -1)
    first = np.r_[True, tj[o2][1:] != tj[o2][:-1]]
    best_d[tj[o2][first]] = di[o2][first]
    mutual = (best_t[di] == tj) & (best_d[tj] == di)
    return di[mutual], t_order[tj[mutual]]


def pings_inside(stays: pd.DataFrame, pings: pd.DataFrame) -> np.ndarray:
    """Number of each stay's subscriber's pings with ``start_s <= ts_s < end_s`` (int64 array).

    Parameters
    ----------
    stays : DataFrame
        Stays with ``uid``, ``start_s``, ``end_s`` (UTC Unix seconds).
    pings : DataFrame
        Pings with ``uid`` and ``ts_s`` (UTC Unix seconds), in any order.

    Returns
    -------
    ndarray of int64
        One count per row of ``stays``, in row order.

    Examples
    --------
    >>> st = pd.DataFrame({"uid": [1, 2], "start_s": [0, 0], "end_s": [100, 100]})
    >>> pings_inside(st, pd.DataFrame({"uid": [1, 1, 2, 1], "ts_s": [5, 50, 500, 100]})).tolist()
    [2, 0]
    """
    p_u = pings["uid"].to_numpy(np.int64)
    s_u = stays["uid"].to_numpy(np.int64)
    _, code = np.unique(np.concatenate([p_u, s_u]), return_inverse=True)
    code = code.ravel().astype(np.int64) << 32
    t0 = min(int(pings["ts_s"].min()), int(stays["start_s"].min())) if len(p_u) and len(s_u) else 0
    key = np.sort(code[: len(p_u)] + (pings["ts_s"].to_numpy(np.int64) - t0))
    sc = code[len(p_u):]
    lo = np.searchsorted(key, sc + (stays["start_s"].to_numpy(np.int64) - t0), side="left")
    hi = np.searchsorted(key, sc + (stays["end_s"].to_numpy(np.int64) - t0), side="left")
    return (hi - lo).astype(np.int64)


def stay_scores(detected: pd.DataFrame, truth: pd.DataFrame, *, pings: pd.DataFrame | None = None,
                min_stay_minutes: float = 30, min_true_pings: int = 2,
                min_overlap_share: float = 0.5) -> dict:
    """Precision and recall of detected stays against true stays (see the module docstring).

    ``recall`` counts the true stays of ``>= min_stay_minutes`` that are *observable*: with at
    least ``min_true_pings`` pings inside (a stay seen by one ping, or none, shows no duration);
    ``recall_all`` counts every true stay of ``>= min_stay_minutes``. Without ``pings`` both are
    ``recall_all``.

    Parameters
    ----------
    detected : DataFrame
        Detected stays with ``uid``, ``start_s``, ``end_s`` (UTC Unix seconds), e.g. STAYS.
    truth : DataFrame
        True stays with the same columns, e.g. TRUE_STAYS.
    pings : DataFrame, optional
        Pings (``uid``, ``ts_s``) that make a true stay observable; None: every long true stay counts.
    min_stay_minutes : float
        Least duration, in minutes, of a true stay that recall counts.
    min_true_pings : int
        Least number of pings inside a true stay that makes it observable.
    min_overlap_share : float
        Least overlap, as a share of the shorter stay, for a match (see :func:`match_stays`).

    Returns
    -------
    dict
        ``precision``, ``recall`` and ``recall_all`` (floats in [0, 1]; 1.0 when there is nothing to
        count), ``n_detected`` (detected stays), ``n_true`` (true stays of ``>= min_stay_minutes``),
        ``n_observable`` (those observable) and ``n_matched`` (matched pairs), all ints.

    Examples
    --------
    >>> det = pd.DataFrame({"uid": [1, 1], "start_s": [0, 5000], "end_s": [3600, 9000]})
    >>> tru = pd.DataFrame({"uid": [1, 1], "start_s": [600, 4000], "end_s": [3000, 9600]})
    >>> sc = stay_scores(det, tru)
    >>> sc["precision"], sc["recall"], sc["n_matched"]
    (1.0, 1.0, 2)
    """
    di, tj = match_stays(detected, truth, min_overlap_share=min_overlap_share)
    long_true = (truth["end_s"].to_numpy() - truth["start_s"].to_numpy()) >= min_stay_minutes * 60
    observable = long_true & (pings_inside(truth, pings) >= min_true_pings if pings is not None else True)
    matched_true = np.zeros(len(truth), bool)
    matched_true[tj] = True
    n_long, n_obs = int(long_true.sum()), int(observable.sum())
    return {
        "precision": float(len(di) / len(detected)) if len(detected) else 1.0,
        "recall": float((matched_true & observable).sum() / n_obs) if n_obs else 1.0,
        "recall_all": float((matched_true & long_true).sum() / n_long) if n_long else 1.0,
        "n_detected": int(len(detected)),
        "n_true": n_long,
        "n_observable": n_obs,
        "n_matched": int(len(di)),
    }


def _city_pairs(city_days: pd.DataFrame, lo_day_s: int, hi_day_s: int, min_city_minutes: float) -> pd.DataFrame:
    day = city_days["local_date"].to_numpy().astype("datetime64[s]").astype(np.int64)
    sel = (day >= lo_day_s) & (day < hi_day_s) & (city_days["minutes"].to_numpy() >= min_city_minutes)
    return city_days.loc[sel, ["uid", "city_code"]].drop_duplicates()


def itinerary_exactness(detected_city_days: pd.DataFrame, true_city_days: pd.DataFrame, query_date,
                        subscribers: pd.DataFrame, *, window_days: int = 14,
                        min_city_minutes: float = 240) -> dict:
    """Share of subscribers whose visited-city set is exactly right, overall and by border status.

    ``subscribers`` needs ``uid`` and ``near_border`` (bool). Subscribers with no visited city in
    either table count as exact (both sets empty).

    Parameters
    ----------
    detected_city_days : DataFrame
        CITY_DAYS from detection (``uid, local_date, city_code, minutes``).
    true_city_days : DataFrame
        TRUE_CITY_DAYS, the same columns from the ground truth.
    query_date : date-like
        Local day D of the query (date, Timestamp, string or datetime64); the window is
        D - ``window_days`` .. D - 1.
    subscribers : DataFrame
        The subscribers to score: ``uid`` and ``near_border`` (bool).
    window_days : int
        Length of the window in days.
    min_city_minutes : float
        Minutes in a city on one local day that make it a visited city (240: 4 hours).

    Returns
    -------
    dict
        ``exact_share`` (all subscribers), ``exact_share_away`` (not near a border) and
        ``exact_share_near`` (near a border), floats in [0, 1] (1.0 for an empty group);
        ``error_near`` (1 - ``exact_share_near``); ``n_subscribers`` and ``n_near_border`` (ints).

    Examples
    --------
    >>> subs = pd.DataFrame({"uid": [1, 2], "near_border": [False, True]})
    >>> day = pd.Timestamp("2020-01-10")
    >>> det = pd.DataFrame({"uid": [1, 2], "local_date": [day, day], "city_code": [11, 12],
    ...                     "minutes": [300.0, 300.0]})
    >>> tru = det.assign(city_code=[11, 13])
    >>> itinerary_exactness(det, tru, "2020-01-15", subs)["exact_share_away"]
    1.0
    """
    d = to_day_s(query_date)
    lo = d - window_days * DAY_S
    det = _city_pairs(detected_city_days, lo, d, min_city_minutes)
    tru = _city_pairs(true_city_days, lo, d, min_city_minutes)
    # a (uid, city) pair found in only one of the two sets makes that subscriber's itinerary wrong
    both = pd.concat([det, tru], ignore_index=True)
    once = both.groupby(["uid", "city_code"]).size()
    wrong_uids = once[once.to_numpy() == 1].index.get_level_values("uid").unique().to_numpy()
    uid = subscribers["uid"].to_numpy(np.int64)
    near = subscribers["near_border"].to_numpy(bool)
    exact = ~np.isin(uid, wrong_uids)

    def share(mask):
        return float(exact[mask].mean()) if mask.any() else 1.0

    return {
        "exact_share": share(np.ones(len(uid), bool)),
        "exact_share_away": share(~near),
        "exact_share_near": share(near),
        "error_near": 1.0 - share(near),
        "n_subscribers": int(len(uid)),
        "n_near_border": int(near.sum()),
    }
