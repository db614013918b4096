"""The companion search split by case: batches of cases searched side by side (docs/contacts.md).

A case's companions depend only on the stays near that case, so the planned cases can be dealt into
``n_batches`` batches (round robin: cases of similar age, so of similar work, land in every batch),
each searched in full on its own (its own index over the stays near its cases, the 60-minute rule
applied at once) and the rows put back in case order. Each batch returns only its companions, as
numbers (case ids are attached once, at the end), so a process pool's ``map`` runs the batches side
by side at little cost. The result equals :func:`forecast.contacts.partition.find_companions_by_place`
for any number of batches.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import pandas as pd

from forecast.contacts.cases import STATUS_OK
from forecast.contacts.partition import (case_cell_ranges, group_pair_totals, iter_group_pair_totals,
                                         label_companions, near_cases, plan_cases, search_stays, split_by_place,
                                         sum_pair_totals)
from forecast.schema import DEFAULT_TZ


def search_case_batch(task: tuple[pd.DataFrame, pd.DataFrame], *, cells: pd.DataFrame | None, span_s: tuple[int, int],
                      n_groups: int = 1, min_shared_minutes: float = 60,
                      min_possible_minutes: float | None = None) -> pd.DataFrame:
    """One batch: ``(stays near its cases, its plan rows)`` -> its companions as numbers
    (:func:`forecast.contacts.partition.sum_pair_totals`; ``query`` counts the batch's ``ok`` rows).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> s = pd.DataFrame({"uid": [1, 2], "start_s": [t, t], "end_s": [t + 7200, t + 5400], "cell_id": [5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1], "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> plan = plan_cases(s, cases, (t, t + 7200))
    >>> search_case_batch((s, plan), cells=None, span_s=(t, t + 7200))[["query", "uid", "shared_minutes"]].values.tolist()
    [[0.0, 2.0, 90.0]]
    """
    stays, plan = task
    rule = {"min_shared_minutes": min_shared_minutes, "min_possible_minutes": min_possible_minutes}
    if n_groups == 1:
        # one index: each piece holds whole cases, so the rule applies piece by piece and memory
        # holds the companions, not every partial sum (14 GB -> 7 GB at 1M subscribers)
        found = [sum_pair_totals([part], **rule) for _, part in iter_group_pair_totals(stays, plan, cells, span_s=span_s)]
        return pd.concat(found, ignore_index=True) if found else sum_pair_totals([], **rule)
    totals = [group_pair_totals(g, plan, cells, span_s=span_s) for g in split_by_place(stays, n_groups)]
    return sum_pair_totals(totals, **rule)


def find_companions_by_case(stays: pd.DataFrame, cases: pd.DataFrame, cells: pd.DataFrame | None = None, *,
                            n_batches: int = 2, map_batches: Callable = map, n_groups: int = 1,
                            window_days: int = 15, min_shared_minutes: float = 60,
                            min_possible_minutes: float | None = None, as_of=None, tz: str = DEFAULT_TZ,
                            stay_end: str = "auto", pad_minutes: float = 15.0, min_pings: int = 1) -> pd.DataFrame:
    """:func:`forecast.contacts.partition.find_companions_by_place` with the cases in ``n_batches``
    batches run by ``map_batches`` (default the builtin ``map``; a process pool's ``map`` runs them
    side by side). Same rows, same order, same ``attrs["case_report"]``.

    Parameters
    ----------
    stays : DataFrame
        STAYS (at least ``uid, start_s, end_s, cell_id``, and ``n_pings`` for ``stay_end="trigger"``),
        all stays of each subscriber. Not modified.
    cases : DataFrame
        CASES (``case_id, uid, confirmed_date`` are used). Not modified.
    cells : DataFrame, optional
        The CELLS table (place codes for the index; not needed for the result).
    n_batches : int
        Number of batches of cases (at most the number of searchable cases, at least 1).
    map_batches : callable
        ``map``-like callable ``(function, iterable of tasks) -> iterable of results``, in task order.
    n_groups : int
        Place groups within each batch (1: one index per batch, searched piece by piece).
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
        As :func:`forecast.contacts.partition.find_companions_by_place`: COMPANIONS columns, ``top_cell``
        and ``level`` (``"companion"`` or ``"possible"``), in (case, uid) order, with
        ``attrs["case_report"]`` (:func:`forecast.contacts.cases.check_cases` with ``n_companions`` and
        ``n_possible``).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [t, t, t + 3000],
    ...                       "end_s": [t + 7200, t + 5400, t + 9000], "cell_id": [5, 5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1", "c3"], "uid": [1, 3],
    ...                       "confirmed_date": pd.to_datetime(["2020-01-25"] * 2)})
    >>> out = find_companions_by_case(stays, cases, pad_minutes=0, min_possible_minutes=40)
    >>> out[["case_id", "uid", "shared_minutes", "level"]].values.tolist()
    [['c1', 2, 90.0, 'companion'], ['c1', 3, 70.0, 'companion'], ['c3', 1, 70.0, 'companion'], ['c3', 2, 40.0, 'possible']]
    """
    adjusted, span, _ = search_stays(stays, stay_end=stay_end, pad_minutes=pad_minutes, min_pings=min_pings)
    case_uids = pd.to_numeric(cases["uid"], errors="coerce").dropna().astype(np.int64).to_numpy()
    mine = adjusted[adjusted["uid"].isin(case_uids)]
    plan = plan_cases(mine, cases, span, window_days=window_days, as_of=as_of, tz=tz)
    ok = np.flatnonzero(plan["status"].to_numpy(object) == STATUS_OK)
    k = max(1, min(n_batches, len(ok)))

    def tasks():  # batch b: the planned cases b, b + k, b + 2k, ... (made one at a time, for memory)
        for b in range(k):
            sub = plan.iloc[ok[b::k]].reset_index(drop=True)
            yield adjusted[near_cases(adjusted, case_cell_ranges(mine, sub))].reset_index(drop=True), sub

    search = partial(search_case_batch, cells=cells, span_s=span, n_groups=n_groups,
                     min_shared_minutes=min_shared_minutes, min_possible_minutes=min_possible_minutes)
    frames = list(map_batches(search, tasks()))  # at least one batch, if empty
    query = np.concatenate([f["query"].to_numpy(np.int64) * k + b for b, f in enumerate(frames)])
    # each batch's rows are in (query, uid) order: a stable sort by query merges them (one gather per column)
    order = np.argsort(query, kind="stable")
    found = {"query": query[order]}
    for c in frames[0].columns.drop("query"):
        found[c] = np.concatenate([f[c].to_numpy() for f in frames])[order]
    del frames
    return label_companions(pd.DataFrame(found, copy=False), plan)
