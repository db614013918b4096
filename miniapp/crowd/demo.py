"""The demo's markets: six markets on the demo nation's cells, eight weeks of their synthetic pings up
to now, and one refresh, so the market pages have levels (``riskcard demo``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from forecast.crowding import market_city, market_pings, msisdns
from forecast.feeds import find_feed
from miniapp.crowd.refresh import refresh_crowd
from miniapp.crowd.store import STORE_NAME, CrowdStore

DEMO_MARKETS = 6
HISTORY_DAYS = 57  # eight weeks and a day: every hour has its 8 same weekdays
PEAK_VISITORS = 40.0  # subscribers per 15 minutes at the busiest market's peak (x 60 residents each)


def crowd_paths(demo_dir: Path) -> dict[str, Path]:
    """Where the demo keeps its crowd feeds and store.

    Parameters
    ----------
    demo_dir : Path
        The demo's directory.

    Returns
    -------
    dict
        ``dir`` (the store), ``markets`` (feed), ``pings`` (folder of parts).

    Examples
    --------
    >>> sorted(crowd_paths(Path("var/demo")))
    ['dir', 'markets', 'pings']
    """
    return {"dir": demo_dir / "crowd", "markets": demo_dir / "crowd_feeds" / "markets.csv",
            "pings": demo_dir / "crowd_feeds" / "pings"}


def prepare_demo_crowd(demo_dir: Path, feeds: Path, key: bytes, *, residents_per_subscriber: float,
                       n_subscribers: int, stale_after_minutes: int = 30, now_s: int | None = None,
                       refresh_after_minutes: int | None = None, log: Callable[[str], None] = print) -> dict | None:
    """Markets, their pings up to now, and one refresh; nothing when the store is still fresh.

    Parameters
    ----------
    demo_dir : Path
        The demo's directory.
    feeds : Path
        The demo nation's feeds (its cells serve the markets).
    key : bytes
        The pseudonym key.
    residents_per_subscriber : float
        The demo's factor (shown counts are residents).
    n_subscribers : int
        Subscribers the visitors are drawn from.
    stale_after_minutes : int
        The store's staleness limit (its pages then say "data too old").
    now_s : int, optional
        Now (default: the clock).
    refresh_after_minutes : int, optional
        A store younger than this is kept (default: ``stale_after_minutes``).
    log : callable
        Progress lines.

    Returns
    -------
    dict or None
        The refresh summary, or None when the store was fresh.
    """
    paths = crowd_paths(demo_dir)
    now_s = int(time.time()) if now_s is None else int(now_s)
    store_path = paths["dir"] / STORE_NAME
    if store_path.exists():
        meta = CrowdStore(store_path).meta()
        keep_minutes = stale_after_minutes if refresh_after_minutes is None else refresh_after_minutes
        if now_s - int(meta.get("now_s") or 0) < keep_minutes * 60:
            return None
    log("market crowding: eight weeks of synthetic market pings up to now, and one refresh ...")
    cells_path = find_feed(feeds, "cells")
    cells = pd.read_parquet(cells_path) if cells_path and cells_path.suffix in (".parquet", ".pq") else (
        pd.read_csv(cells_path) if cells_path else None)
    ids = None if cells is None else np.sort(cells["cell_id"].to_numpy(dtype=np.int64))
    kw = {} if ids is None else {"cell_ids": ids[:DEMO_MARKETS * 2], "other_cells": ids[DEMO_MARKETS * 2:],
                                 "city_code": int(cells.sort_values("cell_id")["city_code"].iloc[0]),
                                 "lon": float(cells["lon"].iloc[0]), "lat": float(cells["lat"].iloc[0])}
    city = market_city(DEMO_MARKETS, peak_visitors=PEAK_VISITORS, seed=20, **kw)
    end_s = now_s // 900 * 900
    rng = np.random.default_rng(end_s // 900)
    factor = rng.choice([0.4, 1.0, 1.8], DEMO_MARKETS)  # now: some quiet, some as usual, some crowded
    pings, _ = market_pings(city, end_s - HISTORY_DAYS * 86400, end_s, n_subscribers=n_subscribers,
                            slot_factor={end_s - 900: factor}, seed=int(end_s // 900) % 2**31)
    paths["pings"].mkdir(parents=True, exist_ok=True)
    for old in paths["pings"].glob("part-*"):
        old.unlink()
    raw = pd.DataFrame({"msisdn": msisdns(pings["uid"].to_numpy()), "ts": pings["ts_s"].to_numpy(),
                        "cell_id": pings["cell_id"].to_numpy()})
    raw.to_parquet(paths["pings"] / "part-00000.parquet", index=False)
    city.markets.to_csv(paths["markets"], index=False)
    return refresh_crowd(paths["dir"], markets_path=paths["markets"], pings_path=paths["pings"], pseudonym_key=key,
                         cells_path=cells_path, now_s=end_s, backfill_days=HISTORY_DAYS,
                         residents_per_subscriber=residents_per_subscriber, stale_after_minutes=stale_after_minutes)


def run_while_parent(parent_pid: int, every_s: float, task: Callable[[], object], *, poll_s: float = 5.0,
                     sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                     parent: Callable[[], int] = os.getppid) -> int:
    """Run ``task`` every ``every_s`` seconds for as long as ``parent_pid`` is this process's parent.

    The demo's stand-in for the 15-minute crowd timer of a deployment (deploy/): ``riskcard demo``
    starts it beside the server it becomes, and it stops within ``poll_s`` of that server's end (the
    process is then re-parented). A task that fails is logged by the caller's task and retried at the
    next turn; the loop never outlives the server.

    Parameters
    ----------
    parent_pid : int
        The server's process id.
    every_s : float
        Seconds between runs (the first run is ``every_s`` after the start).
    task : callable
        What to run.
    poll_s : float
        How often the parent is looked at.
    sleep, clock, parent : callable
        The clock, for tests.

    Returns
    -------
    int
        How many times ``task`` ran.

    Examples
    --------
    >>> t = [0.0]
    >>> def sleep(s): t[0] += s
    >>> parents = iter([1] * 7 + [99])
    >>> run_while_parent(1, 10.0, lambda: None, poll_s=5.0, sleep=sleep, clock=lambda: t[0],
    ...                  parent=lambda: next(parents))
    3
    """
    runs, last = 0, clock()
    while parent() == parent_pid:
        if clock() - last >= every_s:
            task()
            runs, last = runs + 1, clock()
        sleep(poll_s)
    return runs
