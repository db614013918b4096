"""The companion search split by place: the same answer in bounded memory (docs/contacts.md, "Split by place").

A pair's shared time is a sum over places, so the search can be cut by place without changing its
result. Stays are put in ``n_groups`` *place groups* by a hash of their cell; each group is indexed
(:class:`forecast.contacts.StayIndex`) and searched for every case on its own, giving per
(case, companion) partial sums with no threshold; the sums are added up over the groups and only then
is the 60-minute rule applied. One group is the plain search. The build runs the groups one after
another (memory: one group's index at a time), the Dask executor as tasks (``miniapp/pipeline/cluster/executor.py``).

The steps, each pure:

1. :func:`search_stays` (per subscriber, so on any split by subscriber): the stays' intervals at their
   best estimates (the index's ``stay_end`` rule, which needs each subscriber's neighbouring stays and so
   runs before the split by place), sorted by ``(uid, start_s)``.
2. :func:`place_group`: the group of each stay's cell.
3. :func:`plan_cases`: the cases' checks and windows (:func:`forecast.contacts.cases.check_cases` on
   the cases' own stays and the whole data's span); :func:`case_cell_ranges`: the cells the cases
   stayed at and when, so that only stays near a case are indexed (:func:`near_cases`).
4. :func:`group_pair_totals`: one group's partial sums per (case, companion).
5. :func:`combine_pair_totals`: the sums over all groups, the rule and the level; the same rows as
   :func:`forecast.contacts.cases.find_companions` except its ``places`` list (``top_cell`` is kept).

Same place = same cell: a ``radius_m`` neighbourhood crosses groups, so it needs the one-group search.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from forecast.contacts.arrays import (chunks, heads, is_sorted_pair, midpoints, pad, stay_arrays, strings_by_code,
                                      unique_sorted)
from forecast.contacts.cases import STATUS_OK, check_cases
from forecast.contacts.index import StayIndex, by_pair_and_place
from forecast.schema import COMPANIONS, DEFAULT_TZ

SEARCH_STAYS = {"uid": "int64", "start_s": "int64", "end_s": "int64", "cell_id": "int64"}
PAIR_TOTALS = {"query": "int64", "uid": "int64", "seconds": "int64", "first_s": "int64", "last_s": "int64",
               "n_places": "int64", "top_cell": "int64", "top_seconds": "int64"}
_HASH = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: neighbouring cell ids land in different groups


def search_stays(stays: pd.DataFrame, *, stay_end: str = "auto", pad_minutes: float = 15.0,
                 min_pings: int = 1) -> tuple[pd.DataFrame, tuple[int, int], dict]:
    """Stays at their best-estimate intervals, as :meth:`StayIndex.build` adjusts them.

    Parameters
    ----------
    stays : DataFrame
        ``uid, start_s, end_s, cell_id`` (and ``n_pings``), all stays of each subscriber present
        (any split by subscriber). Not modified.
    stay_end, pad_minutes, min_pings
        As in :meth:`StayIndex.build`.

    Returns
    -------
    (DataFrame, (int, int), dict)
        :data:`SEARCH_STAYS` rows sorted by ``(uid, start_s)``; the span of the input stays (first
        start, last end; ``(0, 0)`` when empty); the counts of dropped stays.

    Examples
    --------
    >>> stays = pd.DataFrame({"uid": [1, 1], "start_s": [0, 3600], "end_s": [3600, 7200],
    ...                       "cell_id": [5, 6], "n_pings": [2, 4]})
    >>> s, span, report = search_stays(stays)
    >>> s[["start_s", "end_s"]].values.tolist(), span
    ([[0, 2700], [2700, 6750]], (0, 7200))
    """
    stay_end, (uid, start, end, cell, npk), report = stay_arrays(stays, stay_end, min_pings,
                                                                  ("trigger", "last_ping"))
    if not is_sorted_pair(uid, start):
        order = np.lexsort((start, uid))
        uid, start, end, cell, npk = uid[order], start[order], end[order], cell[order], npk[order]
    span = (int(start.min()), int(end.max())) if len(uid) else (0, 0)
    _, code = unique_sorted(uid)
    if stay_end == "trigger":
        start_adj, end_adj = midpoints(code, start, end, npk)
    else:
        start_adj, end_adj = pad(code, start, end, int(round(pad_minutes * 60)))
    out = pd.DataFrame({"uid": uid, "start_s": start_adj, "end_s": end_adj, "cell_id": cell})
    return out, span, report


def place_group(cell_id, n_groups: int) -> np.ndarray:
    """The place group (0 .. n_groups - 1) of each cell: a fixed hash, the same in every process.

    Parameters
    ----------
    cell_id : array_like of int64
        Cell ids.
    n_groups : int
        Number of place groups, at least 1 (``ValueError`` otherwise).

    Returns
    -------
    ndarray of int64
        One group number in ``0 .. n_groups - 1`` per cell id, in input order.

    Examples
    --------
    >>> place_group([1, 2, 3, 1], 4).tolist()
    [1, 2, 0, 1]
    """
    c = np.asarray(cell_id, dtype=np.int64).astype(np.uint64)
    if n_groups < 1:
        raise ValueError("n_groups must be at least 1")
    with np.errstate(over="ignore"):
        h = (c * _HASH) >> np.uint64(32)
    return (h % np.uint64(n_groups)).astype(np.int64)


def split_by_place(stays: pd.DataFrame, n_groups: int) -> Iterator[pd.DataFrame]:
    """:func:`search_stays` rows cut into ``n_groups`` place groups, yielded one at a time (each keeps
    the row order), so that only one group's copy is alive at once.

    Parameters
    ----------
    stays : DataFrame
        :func:`search_stays` rows (at least ``cell_id``).
    n_groups : int
        Number of place groups (see :func:`place_group`).

    Yields
    ------
    DataFrame
        The rows of ``stays`` in place group 0, 1, ..., ``n_groups - 1`` in turn (possibly empty),
        each with a 0-based index.

    Examples
    --------
    >>> s = pd.DataFrame({"uid": [1, 1, 2], "start_s": [0, 10, 0], "end_s": [10, 20, 20], "cell_id": [1, 2, 1]})
    >>> [len(g) for g in split_by_place(s, 4)]
    [0, 2, 1, 0]
    """
    g = place_group(stays["cell_id"].to_numpy(np.int64), n_groups)
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n_groups + 1))
    del g
    for k in range(n_groups):
        yield stays.iloc[order[bounds[k]:bounds[k + 1]]].reset_index(drop=True)


def plan_cases(case_stays: pd.DataFrame, cases: pd.DataFrame, span_s: tuple[int, int], *,
               window_days: int = 15, as_of=None, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """The case report of :func:`check_cases` from the cases' own search stays and the data's span.

    ``case_stays`` needs only the cases' subscribers' rows of :func:`search_stays` (more do no harm).
    The report's ``status == "ok"`` rows, in order, are the queries of :func:`group_pair_totals`.

    Parameters
    ----------
    case_stays : DataFrame
        :data:`SEARCH_STAYS` rows (:func:`search_stays`) of at least the cases' subscribers.
    cases : DataFrame
        CASES (``case_id, uid, confirmed_date`` are used). Not modified.
    span_s : (int, int)
        The whole data's span in UTC Unix seconds (first start, last end; from :func:`search_stays`).
    window_days : int
        Days before the confirmation day searched (the confirmation day itself is included).
    as_of : datetime-like, optional
        Time of the search; windows are cut there (naive values are local time in ``tz``).
    tz : str
        IANA time zone of ``confirmed_date`` calendar days.

    Returns
    -------
    DataFrame
        The case report of :func:`forecast.contacts.cases.check_cases`: one row per case row with
        ``case_id, uid, window_start_s, window_end_s, window_clipped, n_case_stays, status, message_zh,
        message_en``.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> s = pd.DataFrame({"uid": [1], "start_s": [t], "end_s": [t + 7200], "cell_id": [5]})
    >>> cases = pd.DataFrame({"case_id": ["c1", "c2"], "uid": [1, 9],
    ...                       "confirmed_date": pd.to_datetime(["2020-01-25", "2020-01-25"])})
    >>> plan_cases(s, cases, (t, t + 7200))["status"].tolist()
    ['ok', 'no_stays']
    """
    index = StayIndex.build(case_stays[list(SEARCH_STAYS)], stay_end="adjusted", span_s=span_s)
    return check_cases(index, cases, window_days=window_days, as_of=as_of, tz=tz)


def case_cell_ranges(case_stays: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """Per cell, the time range of the planned cases' stays there inside their windows.

    Only stays at these cells overlapping these ranges can share time with a case, so each group's
    index holds just those (:func:`group_pair_totals`): exact, and in a city where cases are few most
    stays are never indexed.

    Parameters
    ----------
    case_stays : DataFrame
        :data:`SEARCH_STAYS` rows (:func:`search_stays`) of at least the cases' subscribers.
    plan : DataFrame
        :func:`plan_cases`; only its ``status == "ok"`` rows (``uid, window_start_s, window_end_s``) count.

    Returns
    -------
    DataFrame
        ``cell_id, lo_s, hi_s`` sorted by cell.

    Examples
    --------
    >>> s = pd.DataFrame({"uid": [1, 1, 2], "start_s": [0, 500, 0], "end_s": [100, 900, 50], "cell_id": [5, 5, 6]})
    >>> plan = pd.DataFrame({"uid": [1], "status": ["ok"], "window_start_s": [50], "window_end_s": [800]})
    >>> case_cell_ranges(s, plan).values.tolist()
    [[5, 50, 800]]
    """
    run = plan[plan["status"] == STATUS_OK]
    win = pd.DataFrame({"uid": run["uid"].to_numpy(np.int64), "w0": run["window_start_s"].to_numpy(np.int64),
                        "w1": run["window_end_s"].to_numpy(np.int64)})
    m = case_stays[list(SEARCH_STAYS)].merge(win, on="uid")
    lo = np.maximum(m["start_s"].to_numpy(np.int64), m["w0"].to_numpy(np.int64))
    hi = np.minimum(m["end_s"].to_numpy(np.int64), m["w1"].to_numpy(np.int64))
    m = pd.DataFrame({"cell_id": m["cell_id"].to_numpy(np.int64), "lo_s": lo, "hi_s": hi})[hi > lo]
    return m.groupby("cell_id", as_index=False, sort=True).agg(lo_s=("lo_s", "min"), hi_s=("hi_s", "max"))


def near_cases(stays: pd.DataFrame, ranges: pd.DataFrame) -> np.ndarray:
    """Which stays are at a cell of ``ranges`` (:func:`case_cell_ranges`) and overlap its range.

    Parameters
    ----------
    stays : DataFrame
        Stays with ``start_s, end_s, cell_id`` (UTC Unix seconds), e.g. :func:`search_stays` rows.
    ranges : DataFrame
        :func:`case_cell_ranges`: ``cell_id, lo_s, hi_s``, sorted by ``cell_id``.

    Returns
    -------
    ndarray of bool
        One flag per row of ``stays``: at a listed cell and overlapping ``[lo_s, hi_s)`` there.

    Examples
    --------
    >>> s = pd.DataFrame({"start_s": [0, 0, 900], "end_s": [60, 60, 1000], "cell_id": [5, 6, 5]})
    >>> near_cases(s, pd.DataFrame({"cell_id": [5], "lo_s": [50], "hi_s": [800]})).tolist()
    [True, False, False]
    """
    cells = ranges["cell_id"].to_numpy(np.int64)
    c = stays["cell_id"].to_numpy(np.int64)
    if not len(cells):
        return np.zeros(len(c), bool)
    pos = np.minimum(np.searchsorted(cells, c), len(cells) - 1)
    at = cells[pos] == c
    return at & (stays["end_s"].to_numpy(np.int64) > ranges["lo_s"].to_numpy(np.int64)[pos]) \
        & (stays["start_s"].to_numpy(np.int64) < ranges["hi_s"].to_numpy(np.int64)[pos])


def group_pair_totals(stays: pd.DataFrame, plan: pd.DataFrame, cells: pd.DataFrame | None = None, *,
                      span_s: tuple[int, int], ranges: pd.DataFrame | None = None,
                      batch_queries: int = 256, max_candidates: int = 4_000_000) -> pd.DataFrame:
    """Partial shared time per (case, companion) at the places of one group, with no threshold.

    Parameters
    ----------
    stays : DataFrame
        :func:`search_stays` rows of one place group (all subscribers' stays at those cells).
    plan : DataFrame
        :func:`plan_cases`; its ``status == "ok"`` rows are queries ``0, 1, ...``.
    cells : DataFrame, optional
        The CELLS table (place codes; not needed for the result).
    span_s : (int, int)
        The whole data's span (from :func:`search_stays`).
    ranges : DataFrame, optional
        :func:`case_cell_ranges`: only the stays near the cases are indexed (the same answer, less work).
    batch_queries, max_candidates : int
        Cases searched together, in pieces of about ``max_candidates`` tested stays (memory).

    Returns
    -------
    DataFrame
        :data:`PAIR_TOTALS`: ``query, uid, seconds, first_s, last_s, n_places`` and the group's
        ``top_cell`` (most shared seconds, ties to the smallest cell id) with its ``top_seconds``.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> s = pd.DataFrame({"uid": [1, 2], "start_s": [t, t + 1800], "end_s": [t + 7200, t + 3600],
    ...                   "cell_id": [5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1], "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> plan = plan_cases(s, cases, (t, t + 7200))
    >>> group_pair_totals(s, plan, span_s=(t, t + 7200))[["query", "uid", "seconds"]].values.tolist()
    [[0, 2, 1800]]
    """
    parts = list(iter_group_pair_totals(stays, plan, cells, span_s=span_s, ranges=ranges,
                                        batch_queries=batch_queries, max_candidates=max_candidates))
    if not parts:
        return pd.DataFrame({k: np.zeros(0, np.int64) for k in PAIR_TOTALS})
    return pd.concat([p for _, p in parts], ignore_index=True)


def iter_group_pair_totals(stays: pd.DataFrame, plan: pd.DataFrame, cells: pd.DataFrame | None = None, *,
                           span_s: tuple[int, int], ranges: pd.DataFrame | None = None,
                           batch_queries: int = 256,
                           max_candidates: int = 4_000_000) -> Iterator[tuple[int, pd.DataFrame]]:
    """:func:`group_pair_totals` one batch of cases at a time: yields ``(first query, totals)`` for
    queries of the batch ``first .. first + batch_queries - 1`` (a batch may come in several pieces of
    about ``max_candidates`` tested stays), so that a caller can write each away (the partial pairs
    of all cases at once can exceed a worker's memory).

    Parameters
    ----------
    stays, plan, cells, span_s, ranges, batch_queries, max_candidates
        As in :func:`group_pair_totals`.

    Yields
    ------
    (int, DataFrame)
        The first query of the batch and a :data:`PAIR_TOTALS` piece for queries of that batch
        (``query`` numbers are those of the whole plan); nothing when there are no stays or no ``ok`` cases.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> s = pd.DataFrame({"uid": [1, 2], "start_s": [t, t + 1800], "end_s": [t + 7200, t + 3600],
    ...                   "cell_id": [5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1", "c2"], "uid": [1, 2],
    ...                       "confirmed_date": pd.to_datetime(["2020-01-25"] * 2)})
    >>> plan = plan_cases(s, cases, (t, t + 7200))
    >>> [(lo, len(p)) for lo, p in iter_group_pair_totals(s, plan, span_s=(t, t + 7200), batch_queries=1)]
    [(0, 1), (1, 1)]
    """
    run = plan[plan["status"] == STATUS_OK]
    if ranges is not None and len(stays):
        stays = stays[near_cases(stays, ranges)]
    if not len(stays) or not len(run):
        return
    index = StayIndex.build(stays[list(SEARCH_STAYS)], cells, stay_end="adjusted", span_s=span_s)
    del stays
    uid = run["uid"].to_numpy(np.int64)
    win = np.stack([run["window_start_s"].to_numpy(np.int64), run["window_end_s"].to_numpy(np.int64)], axis=1)
    code = index.uid_codes(uid)
    counts = index.candidate_counts(code, win - index.t0_s)
    for lo in range(0, len(code), batch_queries):
        # a batch's memory follows its candidate stays (a night at home meets the whole cell):
        # heavy batches are searched in pieces of about max_candidates
        for piece in chunks(counts[lo:lo + batch_queries], max_candidates):
            sl = slice(lo + piece.start, lo + piece.stop)
            part = _pair_totals(index._pairs(code[sl], win[sl] - index.t0_s), index)
            part["query"] += sl.start
            yield lo, part


def _top_of_groups(head: np.ndarray, seconds: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Per group of rows (``head``: first row of each), the row with most seconds, ties to the smallest cell."""
    group = np.repeat(np.arange(len(head)), np.diff(np.append(head, len(seconds))))
    best = np.maximum.reduceat(seconds, head)[group] == seconds
    c = np.where(best, cell, np.iinfo(np.int64).max)
    top_cell = np.minimum.reduceat(c, head)
    row = np.flatnonzero(best & (cell == top_cell[group]))
    return row[np.searchsorted(group[row], np.arange(len(head)))]  # first such row of each group


def _pair_totals(pairs: dict, index: StayIndex) -> pd.DataFrame:
    """Sum overlapping stay pairs per (query, companion); the top place by seconds. Sort-and-reduce on
    one int64 key (query, companion, place) where it fits, as the one-index search does."""
    n_u = len(index.uids) + 1
    pk, pl, fi, la, sec = by_pair_and_place(pairs, n_u, len(index.place_cells) + 1)
    head = heads(pk, pl)  # per (pair, place)
    if not len(head):
        return pd.DataFrame({k: np.zeros(0, np.int64) for k in PAIR_TOTALS})
    pp_sec = np.add.reduceat(sec, head)
    pp_first, pp_last = np.minimum.reduceat(fi, head), np.maximum.reduceat(la, head)
    pp_key, pp_cell = pk[head], index.place_cells[pl[head]]
    h2 = heads(pp_key)
    top = _top_of_groups(h2, pp_sec, pp_cell)
    k = pp_key[h2]
    return pd.DataFrame({
        "query": k // n_u,
        "uid": index.uids[k % n_u],
        "seconds": np.add.reduceat(pp_sec, h2),
        "first_s": np.minimum.reduceat(pp_first, h2) + index.t0_s,
        "last_s": np.maximum.reduceat(pp_last, h2) + index.t0_s,
        "n_places": np.diff(np.append(h2, len(pp_key))).astype(np.int64),
        "top_cell": pp_cell[top],
        "top_seconds": pp_sec[top],
    })


def combine_pair_totals(parts: Iterable[pd.DataFrame], plan: pd.DataFrame, *, min_shared_minutes: float = 60,
                        min_possible_minutes: float | None = None) -> pd.DataFrame:
    """Add up the groups' partial sums and apply the rule: the companions of the planned cases.

    :func:`sum_pair_totals` then :func:`label_companions`.

    Parameters
    ----------
    parts : iterable of DataFrame
        :data:`PAIR_TOTALS` from :func:`group_pair_totals`, one per place group (None or empty ones allowed).
    plan : DataFrame
        :func:`plan_cases`, whose ``status == "ok"`` rows are the queries.
    min_shared_minutes : float
        Least total shared time, in minutes, for a companion (the rule).
    min_possible_minutes : float, optional
        Also keep possible companions with at least this many (and fewer than ``min_shared_minutes``)
        shared minutes; None: none.

    Returns
    -------
    DataFrame
        COMPANIONS columns, ``top_cell`` and ``level`` (``"companion"`` or ``"possible"``), in
        (case, uid) order; ``attrs["case_report"]`` is ``plan`` with ``n_companions`` and
        ``n_possible``. As :func:`forecast.contacts.cases.find_companions`, without ``places``.

    Examples
    --------
    >>> plan = pd.DataFrame({"case_id": ["c1"], "status": ["ok"]})
    >>> a = pd.DataFrame({"query": [0], "uid": [2], "seconds": [2400], "first_s": [100], "last_s": [2500],
    ...                   "n_places": [1], "top_cell": [5], "top_seconds": [2400]})
    >>> b = a.assign(top_cell=7, first_s=9000, last_s=10800, seconds=1800, top_seconds=1800)
    >>> out = combine_pair_totals([a, b], plan)
    >>> out[["case_id", "uid", "shared_minutes", "n_places", "top_cell", "level"]].values.tolist()
    [['c1', 2, 70.0, 2, 5, 'companion']]
    """
    found = sum_pair_totals(parts, min_shared_minutes=min_shared_minutes, min_possible_minutes=min_possible_minutes)
    return label_companions(found, plan)


def sum_pair_totals(parts: Iterable[pd.DataFrame], *, min_shared_minutes: float = 60,
                    min_possible_minutes: float | None = None) -> pd.DataFrame:
    """The groups' partial sums added up per (query, uid), the pairs under the least threshold dropped.

    Numbers only (no case ids): ``query, uid, shared_minutes, n_places, first_s, last_s, top_cell`` and
    ``companion`` (True: by the rule, False: a possible companion), in (query, uid) order.

    Examples
    --------
    >>> a = pd.DataFrame({"query": [0], "uid": [2], "seconds": [2400], "first_s": [100], "last_s": [2500],
    ...                   "n_places": [1], "top_cell": [5], "top_seconds": [2400]})
    >>> sum_pair_totals([a, a], min_possible_minutes=40)[["uid", "shared_minutes", "companion"]].values.tolist()
    [[2, 80.0, True]]
    """
    frames = [p for p in parts if p is not None and len(p)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({k: np.zeros(0, np.int64) for k in PAIR_TOTALS})
    q, uid = df["query"].to_numpy(np.int64), df["uid"].to_numpy(np.int64)
    order = None if is_sorted_pair(q, uid) else np.lexsort((uid, q))  # one group's totals come sorted

    def col(name):
        v = df[name].to_numpy(np.int64)
        return v if order is None else v[order]

    q, uid = col("query"), col("uid")
    head = heads(q, uid)
    sec = np.add.reduceat(col("seconds"), head) if len(head) else np.zeros(0, np.int64)
    least = min_shared_minutes if min_possible_minutes is None else min(min_shared_minutes, min_possible_minutes)
    keep = sec >= least * 60
    h = head[keep]
    tcell = col("top_cell")[_top_of_groups(head, col("top_seconds"), col("top_cell"))][keep] if len(head) \
        else np.zeros(0, np.int64)

    def red(name, ufunc):
        v = col(name)
        return ufunc.reduceat(v, head)[keep] if len(head) else v[:0]

    minutes = sec[keep].astype(np.float64) / 60.0
    return pd.DataFrame({"query": q[h], "uid": uid[h], "shared_minutes": minutes,
                         "n_places": red("n_places", np.add), "first_s": red("first_s", np.minimum),
                         "last_s": red("last_s", np.maximum), "top_cell": tcell,
                         "companion": minutes >= min_shared_minutes})


def label_companions(found: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """:func:`sum_pair_totals` rows (queries of ``plan``'s ``ok`` rows, in (query, uid) order) with their
    case ids and levels, and ``attrs["case_report"]``: the rows of :func:`combine_pair_totals`."""
    run = plan[plan["status"] == STATUS_OK]
    q = found["query"].to_numpy(np.int64)
    rule = found["companion"].to_numpy(bool)
    out = pd.DataFrame({"case_id": strings_by_code(run["case_id"].astype("string").to_numpy(object), q),
                        "uid": found["uid"].to_numpy(np.int64),
                        "shared_minutes": found["shared_minutes"].to_numpy(np.float64),
                        "n_places": found["n_places"].to_numpy(np.int64),
                        "first_s": found["first_s"].to_numpy(np.int64), "last_s": found["last_s"].to_numpy(np.int64)})
    out = out.astype(COMPANIONS)
    out["top_cell"] = found["top_cell"].to_numpy(np.int64)
    out["level"] = strings_by_code(["possible", "companion"], rule.astype(np.int64))
    report = plan.copy()
    ok = report["status"].to_numpy(object) == STATUS_OK
    n_comp, n_possible = (np.zeros(len(report), np.int64) for _ in range(2))
    n_comp[ok] = np.bincount(q[rule], minlength=len(run))
    n_possible[ok] = np.bincount(q[~rule], minlength=len(run))
    report["n_companions"], report["n_possible"] = n_comp, n_possible
    out.attrs["case_report"] = report
    return out


def find_companions_by_place(stays: pd.DataFrame, cases: pd.DataFrame, cells: pd.DataFrame | None = None, *,
                             n_groups: int = 4, window_days: int = 15, min_shared_minutes: float = 60,
                             min_possible_minutes: float | None = None, as_of=None, tz: str = DEFAULT_TZ,
                             stay_end: str = "auto", pad_minutes: float = 15.0, min_pings: int = 1) -> pd.DataFrame:
    """:func:`forecast.contacts.cases.find_companions` over ``stays``, one place group at a time.

    Memory holds the adjusted stays and one group's index; the result equals the one-index search
    (without ``places``) for any ``n_groups``. To search on several processes, split by case instead
    (:func:`forecast.contacts.batches.find_companions_by_case`).

    Parameters
    ----------
    stays : DataFrame
        STAYS (at least ``uid, start_s, end_s, cell_id``, and ``n_pings`` for ``stay_end="trigger"``),
        all stays of each subscriber. Not modified.
    cases : DataFrame
        CASES (``case_id, uid, confirmed_date`` are used). Not modified.
    cells : DataFrame, optional
        The CELLS table (place codes for the index; not needed for the result).
    n_groups : int
        Number of place groups searched one after another (memory; the result does not depend on it).
    window_days : int
        Days before the confirmation day searched (the confirmation day itself is included).
    min_shared_minutes : float
        Least total shared time, in minutes, for a companion (the rule).
    min_possible_minutes : float, optional
        Also return possible companions with at least this many (and fewer than
        ``min_shared_minutes``) shared minutes; None: none.
    as_of : datetime-like, optional
        Time of the search; windows are cut there (naive values are local time in ``tz``).
    tz : str
        IANA time zone of ``confirmed_date`` calendar days.
    stay_end, pad_minutes, min_pings
        As in :meth:`forecast.contacts.StayIndex.build` (``pad_minutes`` in minutes).

    Returns
    -------
    DataFrame
        As :func:`combine_pair_totals`: COMPANIONS columns, ``top_cell`` and ``level`` (``"companion"``
        or ``"possible"``), in (case, uid) order, with ``attrs["case_report"]``.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [t, t, t + 3000],
    ...                       "end_s": [t + 7200, t + 5400, t + 9000], "cell_id": [5, 5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1], "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> out = find_companions_by_place(stays, cases, n_groups=3, pad_minutes=0)
    >>> out[["uid", "shared_minutes"]].to_dict("records")
    [{'uid': 2, 'shared_minutes': 90.0}, {'uid': 3, 'shared_minutes': 70.0}]
    """
    adjusted, span, _ = search_stays(stays, stay_end=stay_end, pad_minutes=pad_minutes, min_pings=min_pings)
    case_uids = pd.to_numeric(cases["uid"], errors="coerce").dropna().astype(np.int64).to_numpy()
    mine = adjusted[adjusted["uid"].isin(case_uids)]
    plan = plan_cases(mine, cases, span, window_days=window_days, as_of=as_of, tz=tz)
    ranges = case_cell_ranges(mine, plan)
    adjusted = adjusted[near_cases(adjusted, ranges)]
    totals = [group_pair_totals(g, plan, cells, span_s=span) for g in split_by_place(adjusted, n_groups)]
    return combine_pair_totals(totals, plan, min_shared_minutes=min_shared_minutes,
                               min_possible_minutes=min_possible_minutes)
