"""One crowd refresh: the latest pings and the markets feed in, a new crowd store out.

Reads only the ping files written since the look-back (a file last modified before it holds no newer
ping), validates them as the pings feed is validated (forecast/feeds/), counts distinct subscribers per
market and 15-minute slot, merges them into the history carried over from the served store, and
writes the levels of now (forecast/crowding/) as a new store, swapped in atomically. Any failure
leaves the served store as it was and is recorded (``refresh-failed.json``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.crowding import (RULE_EN, RULE_ZH, GREEN_BELOW, RED_ABOVE, assess, merge_history, now_counts,
                               read_markets, slot_counts, usual_counts)
from forecast.contacts import MIN_COUNT
from forecast.crowding import SLOT_S
from forecast.feeds import FeedError, feed_parts, read_feed, write_quarantine
from forecast.feeds.files import iter_part_batches
from forecast.feeds.parse import Problems, parse_int, parse_ts
from forecast.feeds.rules import SPECS, Context
from miniapp.crowd.store import STORE_NAME, CrowdStore, write_failure, write_store

WEEK_S = 7 * 86400


class RefreshError(RuntimeError):
    """A refresh failed; the served store is unchanged."""


def _read_pings(pings_path: Path, key: bytes, since_s: int, now_s: int, tz: str, cells: np.ndarray
                ) -> tuple[pd.DataFrame, np.ndarray, int | None, int, int]:
    """The pings at market cells in ``[since_s, now_s)``, validated as the pings feed is (forecast/feeds/rules.py);
    also the observed slots and the newest ping over all cells. Only a ping's time and cell are parsed
    before the market filter: the number (and its keyed pseudonym) only for the pings at markets."""
    spec, ctx = SPECS["pings"], Context(key, tz)
    frames, slots, newest, quarantined, rows = [], [], None, 0, 0
    for part in feed_parts(pings_path):
        if part.stat().st_mtime < since_s:
            continue
        for raw, bad in iter_part_batches(part, spec.required, spec.optional, 5_000_000):
            quarantined += len(bad)
            rows += len(raw) + len(bad)
            p0 = Problems(len(raw))
            cell = parse_int(raw["cell_id"], "cell_id", p0)
            ts = parse_ts(raw["ts"], "ts", p0, tz=tz)
            quarantined += int(p0.bad.sum())
            ok = ~p0.bad & (ts >= since_s) & (ts < now_s)
            if ok.any():
                slots.append(np.unique(ts[ok] // SLOT_S) * SLOT_S)
                newest = max(newest or 0, int(ts[ok].max()))
            at = np.flatnonzero(ok & np.isin(cell, cells))
            sub = raw.iloc[at].reset_index(drop=True)
            p = Problems(len(sub))
            values = spec.validate(sub, p, ctx)
            quarantined += int(p.bad.sum())
            good = ~p.bad
            frames.append(pd.DataFrame({c: np.asarray(values[c])[good].astype(np.int64) for c in ("uid", "ts_s", "cell_id")}))
    pings = (pd.concat(frames, ignore_index=True) if frames else
             pd.DataFrame({c: pd.Series(dtype="int64") for c in ("uid", "ts_s", "cell_id")}))
    return pings, (np.unique(np.concatenate(slots)) if slots else np.zeros(0, np.int64)), newest, quarantined, rows


def refresh_crowd(crowd_dir: str | os.PathLike, *, markets_path: str | os.PathLike, pings_path: str | os.PathLike | None,
                  pseudonym_key: bytes, cells_path: str | os.PathLike | None = None, now_s: int | None = None,
                  lookback_minutes: int = 60, backfill_days: int = 0, tz: str = "Asia/Shanghai", small_count: int = MIN_COUNT,
                  residents_per_subscriber: float | None = None, stale_after_minutes: int = 30, weeks: int = 8,
                  min_weeks: int = 4, pings: pd.DataFrame | None = None, _before_replace=None) -> dict:
    """Refresh the crowd store once.

    Parameters
    ----------
    crowd_dir : path-like
        The store's directory (``RISKCARD_CROWD_DIR``).
    markets_path : path-like
        The markets feed (forecast/crowding/markets.py).
    pings_path : path-like or None
        The carrier's latest pings: a pings feed file or a folder of ``part-*`` files.
    pseudonym_key : bytes
        The HMAC key of the pings feed's numbers.
    cells_path : path-like, optional
        The cells feed; markets naming an unknown cell are then quarantined.
    now_s : int, optional
        When the levels are for (default: now).
    lookback_minutes : int
        Pings older than this are not read (files last modified before it are skipped).
    backfill_days : int
        Read this many days of pings instead (the first refresh of a new deployment; 0 = off).
    tz : str
        IANA zone of weekdays and hours.
    small_count : int
        Counts of subscribers below it are never shown.
    residents_per_subscriber : float, optional
        Scales shown counts to residents (the snapshot's factor, if it has one).
    stale_after_minutes : int
        A newest ping older than this makes every level "data too old".
    weeks, min_weeks : int
        Same weekdays looked back, and the fewest needed.
    pings : DataFrame, optional
        Canonical pings to use instead of reading ``pings_path`` (benchmarks and tests).
    _before_replace : callable, optional
        Test hook (see :func:`miniapp.crowd.store.write_store`).

    Returns
    -------
    dict
        ``refreshed_at_s``, ``now_s``, ``newest_ping_s``, ``pings_read``, ``levels`` (count per level),
        ``markets``, ``history_rows``, ``refresh_s``.

    Raises
    ------
    RefreshError
        When anything fails; the served store is unchanged and the failure is recorded.

    Examples
    --------
    >>> import tempfile
    >>> from forecast.crowding import market_city
    >>> with tempfile.TemporaryDirectory() as d:
    ...     c = market_city(2)
    ...     _ = c.markets.to_csv(Path(d) / "markets.csv", index=False)
    ...     empty = pd.DataFrame({"uid": [1], "ts_s": [0], "cell_id": [1]})
    ...     out = refresh_crowd(Path(d) / "crowd", markets_path=Path(d) / "markets.csv", pings_path=None,
    ...                         pseudonym_key=b"k" * 32, now_s=10**9, pings=empty)
    >>> out["levels"]
    {'stale': 2}
    """
    t0 = time.perf_counter()
    crowd_dir = Path(crowd_dir)
    now_s = int(time.time()) if now_s is None else int(now_s)
    try:
        cells = None
        if cells_path is not None:
            cells = read_feed(cells_path, "cells")[0]
        markets, market_cells, quarantine, mcounts = read_markets(markets_path, cells)
        write_quarantine({"markets": quarantine}, crowd_dir / "quarantine")
        if markets.empty:
            raise RefreshError(f"{markets_path}: no valid market ({mcounts['rows_quarantined']} rows quarantined)")
        since_s = now_s - (backfill_days * 86400 if backfill_days else lookback_minutes * 60)
        quarantined = 0
        cells_wanted = market_cells["cell_id"].to_numpy(dtype=np.int64)
        if pings is None:
            if pings_path is None:
                raise RefreshError("no pings source (set RISKCARD_CROWD_PINGS)")
            pings, observed, newest, quarantined, rows_read = _read_pings(Path(pings_path), pseudonym_key, since_s, now_s, tz,
                                                               cells_wanted)
        else:
            ts = pings["ts_s"].to_numpy()
            pings = pings[(ts >= since_s) & (ts < now_s)]
            rows_read = len(pings)
            observed = np.unique(pings["ts_s"].to_numpy(dtype=np.int64) // SLOT_S) * SLOT_S
            newest = int(pings["ts_s"].max()) if len(pings) else None
        ids = markets["market_id"].to_numpy()
        old = None
        if (crowd_dir / STORE_NAME).exists():
            prev = CrowdStore(crowd_dir / STORE_NAME)
            old = prev.history()
            prev.close()
        new = slot_counts(pings, market_cells, ids, observed_slots=observed)
        history = merge_history(old, new, keep_from_s=now_s - (weeks + 1) * WEEK_S)
        history = history[history["market_id"].isin(ids)]
        levels = assess(now_counts(pings, market_cells, now_s, ids),
                        usual_counts(history, ids, now_s, tz=tz, weeks=weeks),
                        now_s=now_s, newest_ping_s=newest, stale_after_s=stale_after_minutes * 60,
                        min_weeks=min_weeks, small_count=small_count,
                        residents_per_subscriber=residents_per_subscriber or 1.0)
        table = markets.set_index("market_id").join(levels).reset_index()
        table["n_cells"] = table["market_id"].map(market_cells.groupby("market_id").size()).astype("int64")
        table["ratio"] = table["ratio"].astype(float).round(3)
        meta = {"refreshed_at_s": int(time.time()), "now_s": now_s, "newest_ping_s": newest,
                "pings_read": int(rows_read), "pings_at_markets": int(len(pings)), "pings_quarantined": int(quarantined),
                "markets_quarantined": int(mcounts["rows_quarantined"]), "small_count": int(small_count),
                "residents_per_subscriber": residents_per_subscriber, "stale_after_s": stale_after_minutes * 60,
                "weeks": weeks, "min_weeks": min_weeks, "green_below": GREEN_BELOW, "red_above": RED_ABOVE,
                "rule_zh": RULE_ZH, "rule_en": RULE_EN, "tz": tz}
        write_store(crowd_dir, {"markets": table.astype(object).where(table.notna(), None),
                                "market_cells": market_cells, "history": history}, meta,
                    _before_replace=_before_replace)
    except (RefreshError, FeedError, OSError, ValueError, KeyError, RuntimeError) as exc:
        write_failure(crowd_dir, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, RefreshError):
            raise
        raise RefreshError(f"crowd refresh failed, the served store is unchanged: {exc}") from exc
    counts = table["level"].value_counts()
    return {"refreshed_at_s": meta["refreshed_at_s"], "now_s": now_s, "newest_ping_s": newest,
            "pings_read": int(rows_read), "pings_at_markets": int(len(pings)), "markets": int(len(table)), "history_rows": int(len(history)),
            "levels": {str(k): int(v) for k, v in sorted(counts.items())},
            "refresh_s": round(time.perf_counter() - t0, 3)}
