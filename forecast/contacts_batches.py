"""The companion search split by case: batches of cases searched side by side (docs/contacts.md).

A case's companions depend only on the stays near that case, so the planned cases can be dealt into
``n_batches`` batches (round robin: cases of similar age, so of similar work, land in every batch),
each searched in full on its own (its own index over the stays near its cases, the 60-minute rule
applied at once) and the rows put back in case order. Each batch returns only its companions, a
thousandth of the partial sums a split by place would send back, so a process pool's ``map`` runs
the batches in parallel at little cost. The result equals :func:`forecast.contacts_partition.
find_companions_by_place` for any number of batches.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import pandas as pd

from .contacts_cases import STATUS_OK
from .contacts_partition import (case_cell_ranges, combine_pair_totals, group_pair_totals, near_cases, plan_cases,
                                 search_stays, split_by_place)
from .schema import DEFAULT_TZ


def search_case_batch(task: tuple[pd.DataFrame, pd.DataFrame], *, cells: pd.DataFrame | None, span_s: tuple[int, int],
                      n_groups: int = 1, min_shared_minutes: float = 60,
                      min_possible_minutes: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One batch: ``(stays near its cases, its plan rows)`` -> ``(companions, case report)``.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> s = pd.DataFrame({"uid": [1, 2], "start_s": [t, t], "end_s": [t + 7200, t + 5400], "cell_id": [5, 5]})
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1], "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> plan = plan_cases(s, cases, (t, t + 7200))
    >>> found, report = search_case_batch((s, plan), cells=None, span_s=(t, t + 7200))
    >>> found[["case_id", "uid", "shared_minutes"]].values.tolist(), report["n_companions"].tolist()
    ([['c1', 2, 90.0]], [1])
    """
    stays, plan = task
    totals = [group_pair_totals(g, plan, cells, span_s=span_s) for g in split_by_place(stays, n_groups)]
    found = combine_pair_totals(totals, plan, min_shared_minutes=min_shared_minutes,
                                min_possible_minutes=min_possible_minutes)
    report = found.attrs.pop("case_report")
    return found, report


def find_companions_by_case(stays: pd.DataFrame, cases: pd.DataFrame, cells: pd.DataFrame | None = None, *,
                            n_batches: int = 2, map_batches: Callable = map, n_groups: int = 1,
                            window_days: int = 15, min_shared_minutes: float = 60,
                            min_possible_minutes: float | None = None, as_of=None, tz: str = DEFAULT_TZ,
                            stay_end: str = "auto", pad_minutes: float = 15.0, min_pings: int = 1) -> pd.DataFrame:
    """:func:`forecast.contacts_partition.find_companions_by_place` with the cases in ``n_batches``
    batches run by ``map_batches`` (default the builtin ``map``; a process pool's ``map`` runs them
    side by side). Same rows, same order, same ``attrs["case_report"]``.

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
    batches = [b for b in (ok[k::max(1, n_batches)] for k in range(max(1, n_batches))) if len(b)] or [ok]
    tasks = []
    for b in batches:
        sub = plan.iloc[b].reset_index(drop=True)
        tasks.append((adjusted[near_cases(adjusted, case_cell_ranges(mine, sub))].reset_index(drop=True), sub))
    del adjusted
    search = partial(search_case_batch, cells=cells, span_s=span, n_groups=n_groups,
                     min_shared_minutes=min_shared_minutes, min_possible_minutes=min_possible_minutes)
    results = list(map_batches(search, tasks))
    # back in case order: each batch's rows are in (its case, uid) order
    report = plan.copy()
    n_comp, n_possible = np.zeros(len(plan), np.int64), np.zeros(len(plan), np.int64)
    frames, position = [], []
    for b, (found, sub_report) in zip(batches, results):
        n_comp[b] = sub_report["n_companions"].to_numpy(np.int64)
        n_possible[b] = sub_report["n_possible"].to_numpy(np.int64)
        pos_of_case = pd.Series(b, index=sub_report["case_id"].astype("string").to_numpy(object))
        frames.append(found)
        position.append(pos_of_case.reindex(found["case_id"].astype("string").to_numpy(object)).to_numpy(np.int64))
    out = pd.concat(frames, ignore_index=True)
    pos = np.concatenate(position)
    out = out.take(np.lexsort((out["uid"].to_numpy(np.int64), pos))).reset_index(drop=True)
    report["n_companions"], report["n_possible"] = n_comp, n_possible
    out.attrs["case_report"] = report
    return out
