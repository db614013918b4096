"""The companion search on Dask: by pseudonym bucket, then by place group (docs/scale.md).

The same pure functions as the local step (:func:`miniapp.pipeline.steps.case_companions`, which runs
:func:`forecast.contacts.partition.find_companions_by_place` in one process), as tasks:

1. *search stays* (per pseudonym bucket): the bucket's companion stays of every part in the window,
   joined across parts (:func:`miniapp.pipeline.cache.companion_window_stays`) and put at their best-estimate
   intervals (:func:`forecast.contacts.partition.search_stays`): both work per subscriber, and a
   subscriber's rows are all in one bucket. The rows are written to one Parquet file per place group;
   the task returns the bucket's span and its cases' own stays.
2. the client plans the cases (:func:`forecast.contacts.partition.plan_cases`: checks and windows).
3. *place group* (per group): the group's files of all buckets, only the stays near a case
   (:func:`forecast.contacts.partition.near_cases`), one index, partial shared time per (case,
   companion), written per batch of cases (:func:`forecast.contacts.partition.iter_group_pair_totals`).
4. *sum* (per batch of cases): the groups' files of the batch added up, the rule and the level
   (:func:`forecast.contacts.partition.combine_pair_totals`); the client stacks the batches in order.

A task holds one bucket's or one group's stays, or one batch of cases' partial pairs; the number of
groups comes from the workers' memory limit (:func:`companion_groups`). The scratch files live under the cache directory and are removed at
the end, also when the step fails.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.contacts import (STATUS_OK, case_cell_ranges, combine_pair_totals, iter_group_pair_totals, near_cases,
                               plan_cases, search_stays, split_by_place)
from miniapp.pipeline.cache import atomic_parquet, companion_window_stays
from miniapp.pipeline.context import BuildContext
from miniapp.pipeline.params import BuildParams, companion_search_args

# Estimate for a place group's task per search stay read: the stays frame (32 B), the index's copies and
# sort temporaries (~100 B), with room for the pieces of tested stays (bounded separately, ~4M at a
# time). benchmarks/scale.py's memory run reports the workers' peaks (docs/scale.md).
GROUP_BYTES_PER_STAY = 250
COMPANION_STAYS_PER_STAY = 1.0  # companion stays per itinerary stay (the manifests count the latter)


def companion_groups(total_stays: int, memory_limit_bytes: int, *, n_workers: int, task_share: float = 0.5) -> int:
    """Place groups so that one group's task stays within ``task_share`` of a worker's memory limit.

    At least one per worker (so that all of them search), a power of two.

    Parameters
    ----------
    total_stays : int
        Stays of the build (the companion search's stays are about ``COMPANION_STAYS_PER_STAY`` of them).
    memory_limit_bytes : int
        Memory limit of one worker.
    n_workers : int
        Workers of the cluster.
    task_share : float
        Share of a worker's limit one group's task may use.

    Returns
    -------
    int
        Place groups, a power of two, at least ``n_workers``.

    Examples
    --------
    >>> companion_groups(1_000_000, 2_000_000_000, n_workers=2)
    2
    >>> companion_groups(50_000_000, 2_000_000_000, n_workers=2)
    16
    """
    budget = max(1.0, memory_limit_bytes * task_share)
    need = math.ceil(total_stays * COMPANION_STAYS_PER_STAY * GROUP_BYTES_PER_STAY / budget)
    n = max(n_workers, need, 1)
    return int(2 ** math.ceil(math.log2(n)))


def _group_file(scratch: Path, g: int, k: int) -> Path:
    return scratch / f"g{g:04d}-b{k:04d}.parquet"


def search_stays_task(read_bucket, k: int, as_of: str, params: BuildParams, n_groups: int, scratch: str,
                      case_uids: np.ndarray) -> dict:
    """Task 1 for bucket ``k``: write its search stays by place group; return span, report, case stays."""
    stays = companion_window_stays(read_bucket(k), as_of, params)
    adjusted, span, report = search_stays(stays)
    del stays
    for g, rows in enumerate(split_by_place(adjusted, n_groups)):
        atomic_parquet(rows, _group_file(Path(scratch), g, k))
    mine = adjusted[adjusted["uid"].isin(case_uids)].reset_index(drop=True)
    return {"span": span if len(adjusted) else None, "report": report, "case_stays": mine}


def group_task(scratch: str, g: int, n_buckets: int, plan: pd.DataFrame, cells: pd.DataFrame,
               span: tuple[int, int], ranges: pd.DataFrame, batch_queries: int) -> int:
    """Task 3 for place group ``g``: partial shared time per (case, companion) at the group's places,
    written per batch of cases, a heavy batch in pieces (``t-q<first query>-g<group>-<piece>.parquet``);
    returns the rows written."""
    files = [_group_file(Path(scratch), g, k) for k in range(n_buckets)]
    frames = [pd.read_parquet(f) for f in files if f.is_file()]
    stays = pd.concat([f[near_cases(f, ranges)] for f in frames], ignore_index=True)  # only stays near a case
    del frames
    rows = 0
    for i, (lo, totals) in enumerate(iter_group_pair_totals(stays, plan, cells, span_s=span,
                                                            batch_queries=batch_queries)):
        atomic_parquet(totals, Path(scratch) / f"t-q{lo:07d}-g{g:04d}-{i:05d}.parquet")
        rows += len(totals)
    return rows


def combine_task(scratch: str, lo: int, plan: pd.DataFrame, min_shared_minutes: float,
                 min_possible_minutes: float | None) -> pd.DataFrame:
    """Task 4 for the batch of cases starting at query ``lo``: the groups' sums, the rule and the level."""
    frames = [pd.read_parquet(f) for f in sorted(Path(scratch).glob(f"t-q{lo:07d}-g*.parquet"))]
    return combine_pair_totals(frames, plan, min_shared_minutes=min_shared_minutes,
                               min_possible_minutes=min_possible_minutes)


def distributed_case_companions(client, read_bucket, n_buckets: int, cases: pd.DataFrame, ctx: BuildContext, *,
                                n_groups: int, scratch: Path, batch_queries: int = 256) -> pd.DataFrame | None:
    """The local step's :func:`miniapp.pipeline.steps.case_companions` on the cluster (same rows, same report).

    ``read_bucket(k)`` returns bucket ``k``'s companion stays of all parts (run on a worker).
    ``None`` when no subscriber has companion stays. Small inputs (the plan, the cells, the case
    ranges) travel inside the tasks, not scattered: a worker restarted for memory loses nothing.

    Parameters
    ----------
    client : distributed.Client
        The cluster.
    read_bucket : callable
        ``read_bucket(k)``: bucket ``k``'s companion stays, run on a worker.
    n_buckets : int
        Pseudonym buckets.
    cases : DataFrame
        The CASES feed.
    ctx : BuildContext
        The build's day, settings and cells.
    n_groups : int
        Place groups (:func:`companion_groups`).
    scratch : Path
        Shared directory for the tasks' partial sums (deleted at the end).
    batch_queries : int
        Cases per summing task.

    Returns
    -------
    DataFrame or None
        The pairs found with ``level`` and ``attrs["case_report"]``, as the local search returns them.
    """
    args = companion_search_args(ctx.params, ctx.as_of)
    p = ctx.params
    case_uids = pd.to_numeric(cases["uid"], errors="coerce").dropna().astype(np.int64).unique()
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        fs = [client.submit(search_stays_task, read_bucket, k, ctx.as_of, p, n_groups, str(scratch), case_uids,
                            pure=False, key=f"companion-stays-b{k}") for k in range(n_buckets)]
        got = client.gather(fs)
        spans = [r["span"] for r in got if r["span"] is not None]
        if not spans:
            return None
        span = (min(s[0] for s in spans), max(s[1] for s in spans))
        case_stays = pd.concat([r["case_stays"] for r in got], ignore_index=True)
        plan = plan_cases(case_stays, cases, span, window_days=args["window_days"], as_of=args["as_of"],
                          tz=args["tz"])
        ranges = case_cell_ranges(case_stays, plan)
        cells = ctx.feeds["cells"]
        gs = [client.submit(group_task, str(scratch), g, n_buckets, plan, cells, span, ranges, batch_queries,
                            pure=False, key=f"companion-group-{g}") for g in range(n_groups)]
        client.gather(gs)
        n_ok = int((plan["status"] == STATUS_OK).sum())
        cs = [client.submit(combine_task, str(scratch), lo, plan, args["min_shared_minutes"],
                            args["min_possible_minutes"], pure=False, key=f"companion-sum-q{lo}")
              for lo in range(0, n_ok, batch_queries)]
        found = client.gather(cs)
        return stack_batches(found, plan)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def stack_batches(found: list[pd.DataFrame], plan: pd.DataFrame) -> pd.DataFrame:
    """Companions of consecutive case batches as one result, the case report's counts summed.

    Examples
    --------
    >>> plan = pd.DataFrame({"case_id": ["a", "b"], "status": ["ok", "ok"]})
    >>> a = pd.DataFrame({"case_id": ["a"], "uid": [1]})
    >>> a.attrs["case_report"] = plan.assign(n_companions=[1, 0], n_possible=[0, 0])
    >>> b = pd.DataFrame({"case_id": ["b", "b"], "uid": [1, 2]})
    >>> b.attrs["case_report"] = plan.assign(n_companions=[0, 2], n_possible=[0, 0])
    >>> out = stack_batches([a, b], plan)
    >>> out["uid"].tolist(), out.attrs["case_report"]["n_companions"].tolist()
    ([1, 1, 2], [1, 2])
    """
    report = plan.copy()
    for col in ("n_companions", "n_possible"):
        report[col] = np.sum([f.attrs["case_report"][col].to_numpy(np.int64) for f in found], axis=0) if found \
            else np.zeros(len(plan), np.int64)
    frames = [f.copy(deep=False) for f in found]
    for f in frames:
        f.attrs = {}
    out = pd.concat(frames, ignore_index=True)
    out.attrs["case_report"] = report
    return out


def scratch_dir(part_dirs: list[str]) -> Path:
    """A fresh scratch directory under the cache (``cache/_companion_groups-<pid>``)."""
    cache = Path(part_dirs[0]).parent.parent if part_dirs else Path(".")
    return cache / f"_companion_groups-{os.getpid()}"
