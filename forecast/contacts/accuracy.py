"""How well the companion search finds true contacts: recall and precision against a truth table."""

from __future__ import annotations

import pandas as pd

from forecast.contacts.index import StayIndex


def companion_accuracy(
    found: pd.DataFrame, truth: pd.DataFrame, *, min_shared_minutes: float = 60, band_minutes: float = 15
) -> dict:
    """Recall and precision of found (case_id, uid) pairs against true contacts.

    A true companion has true shared minutes ``>= min_shared_minutes``; a found pair counts as correct
    when it is a true companion. ``recall_outside_band`` and ``precision_outside_band`` leave out
    pairs whose true time is within ``band_minutes`` of the threshold (where sparse pings cannot
    decide): recall over true pairs ``>= min + band``, precision against true ``>= min - band``.

    Parameters
    ----------
    found : DataFrame
        Found pairs: ``case_id, uid, shared_minutes`` (e.g. COMPANIONS); pairs under
        ``min_shared_minutes`` are left out.
    truth : DataFrame
        True contacts: ``case_id, uid, shared_minutes`` (TRUE_CONTACTS, e.g. from :func:`true_companions`).
    min_shared_minutes : float
        The rule's threshold, in minutes of shared time (60).
    band_minutes : float
        Half-width, in minutes, of the band around the threshold left out of the ``*_outside_band`` scores.

    Returns
    -------
    dict
        ``true_pairs`` and ``found_pairs`` (ints: distinct pairs at or above the threshold), ``recall``,
        ``precision``, ``recall_outside_band`` and ``precision_outside_band`` (floats in [0, 1]; 1.0
        when there is nothing to count).

    Examples
    --------
    >>> found = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 2], "shared_minutes": [70.0, 65.0]})
    >>> truth = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 3], "shared_minutes": [80.0, 90.0]})
    >>> companion_accuracy(found, truth)["recall"]
    0.5
    """
    t = truth[truth["shared_minutes"] >= min_shared_minutes]
    f = found[found["shared_minutes"] >= min_shared_minutes]
    tk = set(zip(t["case_id"].astype(str), t["uid"].astype("int64")))
    fk = set(zip(f["case_id"].astype(str), f["uid"].astype("int64")))
    hit = len(tk & fk)
    t_hi = truth[truth["shared_minutes"] >= min_shared_minutes + band_minutes]
    t_lo = truth[truth["shared_minutes"] >= min_shared_minutes - band_minutes]
    thk = set(zip(t_hi["case_id"].astype(str), t_hi["uid"].astype("int64")))
    tlk = set(zip(t_lo["case_id"].astype(str), t_lo["uid"].astype("int64")))
    return {
        "true_pairs": len(tk),
        "found_pairs": len(fk),
        "recall": hit / len(tk) if tk else 1.0,
        "precision": hit / len(fk) if fk else 1.0,
        "recall_outside_band": len(thk & fk) / len(thk) if thk else 1.0,
        "precision_outside_band": len(tlk & fk) / len(fk) if fk else 1.0,
    }


def true_companions(true_stays: pd.DataFrame, case_report: pd.DataFrame) -> pd.DataFrame:
    """Exact shared minutes between each searched case and everyone, from true stays at places.

    Parameters
    ----------
    true_stays : DataFrame
        ``uid, start_s, end_s, place_id`` (TRUE_STAYS); a subscriber's stays must not overlap.
    case_report : DataFrame
        :func:`forecast.contacts.cases.check_cases` output (or ``find_companions(...).attrs["case_report"]``):
        rows with status ``ok`` are scored over their ``window_start_s .. window_end_s``.

    Returns
    -------
    DataFrame
        ``case_id, uid, shared_minutes`` (TRUE_CONTACTS), every pair with a positive overlap.

    Examples
    --------
    >>> ts = pd.DataFrame({"uid": [1, 2], "start_s": [0, 1800], "end_s": [7200, 9000], "place_id": [4, 4]})
    >>> rep = pd.DataFrame({"case_id": ["a"], "uid": [1], "window_start_s": [0], "window_end_s": [3600],
    ...                     "status": ["ok"]})
    >>> true_companions(ts, rep).to_dict("records")
    [{'case_id': 'a', 'uid': 2, 'shared_minutes': 30.0}]
    """
    import numpy as np


    run = case_report[case_report["status"] == "ok"]
    st = true_stays[["uid", "start_s", "end_s", "place_id"]].rename(columns={"place_id": "cell_id"})
    idx = StayIndex.build(st, stay_end="last_ping", pad_minutes=0, pingpong_minutes=None)
    win = run[["window_start_s", "window_end_s"]].to_numpy(np.int64).reshape(-1, 2)
    found = idx.companions(run["uid"].to_numpy(np.int64), win, min_shared_minutes=0)
    return pd.DataFrame({"case_id": pd.array(run["case_id"].to_numpy(object)[found["query"].to_numpy()],
                                             dtype="string"),
                         "uid": found["uid"].to_numpy(np.int64),
                         "shared_minutes": found["shared_minutes"].to_numpy(np.float64)})


def visible_true_stays(true_stays: pd.DataFrame, pings: pd.DataFrame, *, silence_hours: float = 16) -> pd.DataFrame:
    """True stays cut to what pings can show: each subscriber's time from first to last ping, minus
    silences longer than ``silence_hours`` (a missing day; the silent nights are shorter and stay in).

    Parameters
    ----------
    true_stays : DataFrame
        TRUE_STAYS (at least ``uid, start_s, end_s``; UTC Unix seconds).
    pings : DataFrame
        PINGS (at least ``uid, ts_s``), in any order.
    silence_hours : float
        Gaps between consecutive pings longer than this many hours end a visible segment.

    Returns
    -------
    DataFrame
        The columns of ``true_stays``, with ``start_s, end_s`` clipped to each visible segment (a stay
        spanning several segments gives several rows); rows of zero length and subscribers without
        pings are dropped, and the index is 0-based.

    Examples
    --------
    >>> ts = pd.DataFrame({"uid": [1], "start_s": [0], "end_s": [200_000], "place_id": [4]})
    >>> pings = pd.DataFrame({"uid": [1, 1, 1], "ts_s": [100, 3600, 190_000]})
    >>> visible_true_stays(ts, pings)[["start_s", "end_s"]].to_dict("records")
    [{'start_s': 100, 'end_s': 3600}]
    """
    import numpy as np

    p = pings.sort_values(["uid", "ts_s"], kind="stable")
    u, t = p["uid"].to_numpy(np.int64), p["ts_s"].to_numpy(np.int64)
    brk = np.ones(len(u) + 1, dtype=bool)
    brk[1:-1] = (u[1:] != u[:-1]) | (t[1:] - t[:-1] > silence_hours * 3600)
    head, tail = np.flatnonzero(brk[:-1]), np.flatnonzero(brk[1:])
    seg = pd.DataFrame({"uid": u[head], "seg_s": t[head], "seg_e": t[tail]})
    seg = seg[seg["seg_e"] > seg["seg_s"]]
    ts = true_stays.merge(seg, on="uid")
    ts = ts.assign(start_s=np.maximum(ts["start_s"], ts["seg_s"]), end_s=np.minimum(ts["end_s"], ts["seg_e"]))
    return ts[ts["end_s"] > ts["start_s"]].drop(columns=["seg_s", "seg_e"]).reset_index(drop=True)
