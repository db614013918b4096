"""Replay the daily builds of past days: each day built from the feeds as they were known that day.

A service that has run for a while has one cached grade file per day (``cache/grades/<date>.parquet``),
which is where the 30-day trend of a community comes from. A new deployment (or the demo) has none.
:func:`run_daily_builds` makes them the honest way: it runs :func:`~miniapp.pipeline.run.run_build`
once per day, oldest first, each on a *view* of the feed folder holding only what had arrived by that
day: the ping parts of the days before it (within the retention window, as a purging carrier keeps
them), the cases confirmed before it (and those cases' trips), the city case series up to the day
before. So a past day's grade uses only the data available on that day, exactly as the daily build
would have made it, and the last build is the one served.

A pings feed delivered as one file is split into daily parts once (by local day of each ping).
"""

from __future__ import annotations

import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import pandas as pd

from forecast.feeds import feed_parts, find_feed
from miniapp.pipeline.params import BuildParams
from miniapp.pipeline.run import run_build

REPLAY_DIR = "replay"  # under the build directory, removed when the replay is done
_SHARED_FEEDS = ("cities", "communities", "cells")  # reference feeds that do not grow with time


def _read(path: Path) -> pd.DataFrame:
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_parquet(path)


def _link(src: Path, dst: Path) -> None:
    try:
        os.symlink(src.resolve(), dst)
    except OSError:  # a file system without symlinks
        shutil.copy2(src, dst)


def daily_ping_parts(feeds_dir: str | os.PathLike, parts_dir: str | os.PathLike, tz: str) -> dict[str, Path]:
    """The pings feed as one file per local day (``part-YYYY-MM-DD.parquet``).

    Parameters
    ----------
    feeds_dir : path-like
        The feed folder; its pings are a ``pings/part-YYYY-MM-DD.*`` directory (used as it is) or one
        file (split into ``parts_dir`` once: parts already there are kept).
    parts_dir : path-like
        Where the split parts go.
    tz : str
        Time zone of the local days.

    Returns
    -------
    dict
        ISO day -> its part file, in day order.
    """
    pings = find_feed(Path(feeds_dir), "pings")
    if pings is None:
        return {}
    if pings.is_dir():
        out = {}
        for p in feed_parts(pings):
            day = p.name.split(".", 1)[0].removeprefix("part-")
            try:
                out[date.fromisoformat(day).isoformat()] = p
            except ValueError:
                raise ValueError(f"{p.name}: a replay needs daily ping parts named part-YYYY-MM-DD") from None
        return dict(sorted(out.items()))
    parts_dir = Path(parts_dir)
    done = parts_dir / ".complete"
    if not done.exists():
        parts_dir.mkdir(parents=True, exist_ok=True)
        raw = _read(pings)
        local = pd.to_datetime(raw["ts"], format="ISO8601", utc=True).dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
        for day, rows in raw.groupby(local.to_numpy(), sort=True):
            rows.to_parquet(parts_dir / f"part-{day}.parquet", index=False)
        done.write_text("")
    return {p.stem.removeprefix("part-"): p for p in sorted(parts_dir.glob("part-*.parquet"))}


def feeds_as_of(feeds_dir: str | os.PathLike, day: str, view_dir: str | os.PathLike,
                ping_parts: dict[str, Path], retention_days: int) -> Path:
    """A feed folder holding what had arrived by the start of ``day`` (a new, empty ``view_dir``).

    Parameters
    ----------
    feeds_dir : path-like
        The full feed folder.
    day : str
        The build day D (ISO date).
    view_dir : path-like
        Where the view is made (must not exist).
    ping_parts : dict
        Daily ping parts (:func:`daily_ping_parts`); those of D - ``retention_days`` .. D-1 are linked.
    retention_days : int
        Days of location data a carrier keeps (``BuildParams.retention_days``).

    Returns
    -------
    Path
        ``view_dir``: cities, communities and cells linked; cases confirmed before D, their trips
        before D, the city series before D; the ping parts as ``pings/``.
    """
    feeds_dir, view = Path(feeds_dir), Path(view_dir)
    view.mkdir(parents=True)
    for kind in _SHARED_FEEDS:
        src = find_feed(feeds_dir, kind)
        if src is not None:
            _link(src, view / src.name)
    known: set[str] = set()
    src = find_feed(feeds_dir, "cases")
    if src is not None:
        cases = _read(src)
        cases = cases[cases["confirmed_date"].astype(str).str.slice(0, 10) < day]
        known = set(cases["case_id"].astype(str))
        cases.to_parquet(view / "cases.parquet", index=False)
    src = find_feed(feeds_dir, "case_trips")
    if src is not None:
        trips = _read(src)
        trips = trips[trips["case_id"].astype(str).isin(known) & (trips["date"].astype(str).str.slice(0, 10) < day)]
        trips.to_parquet(view / "case_trips.parquet", index=False)
    src = find_feed(feeds_dir, "city_cases")
    if src is not None:
        series = _read(src)
        series[series["date"].astype(str).str.slice(0, 10) < day].to_parquet(view / "city_cases.parquet", index=False)
    first = (date.fromisoformat(day) - timedelta(days=retention_days)).isoformat()
    kept = [p for d, p in ping_parts.items() if first <= d < day]
    if kept:
        (view / "pings").mkdir()
        for p in kept:
            _link(p, view / "pings" / p.name)
    return view


def run_daily_builds(feeds_dir: str | os.PathLike, first_day: str, last_day: str, out_dir: str | os.PathLike, *,
                     pseudonym_key: bytes, params: BuildParams | None = None, log: Callable[[str], None] = print,
                     progress: bool = False) -> list[dict]:
    """Build every day from ``first_day`` to ``last_day``, each on the feeds as known that day.

    Parameters
    ----------
    feeds_dir : path-like
        The full feed folder (docs/data.md).
    first_day, last_day : str
        ISO dates; the last build is the snapshot served.
    out_dir : path-like
        The build directory (as :func:`run_build`); its cache keeps each day's grades.
    pseudonym_key : bytes
        HMAC key of the phone-number pseudonyms.
    params : BuildParams
    log : callable
        Receives one line per day (the builds' own output is kept quiet).
    progress : bool
        Progress bars of the builds.

    Returns
    -------
    list of dict
        Each build's summary, oldest first.
    """
    p = params or BuildParams()
    out_dir = Path(out_dir)
    scratch = out_dir / REPLAY_DIR
    d0, d1 = date.fromisoformat(first_day), date.fromisoformat(last_day)
    if d1 < d0:
        raise ValueError("last_day is before first_day")
    summaries = []
    try:
        parts = daily_ping_parts(feeds_dir, scratch / "pings", p.tz)
        for k in range((d1 - d0).days + 1):
            day = (d0 + timedelta(days=k)).isoformat()
            view = scratch / day
            shutil.rmtree(view, ignore_errors=True)
            feeds_as_of(feeds_dir, day, view, parts, p.retention_days)
            s = run_build(view, day, out_dir, pseudonym_key=pseudonym_key, params=p, progress=progress,
                          log=lambda m: None)
            shutil.rmtree(view, ignore_errors=True)
            log(f"built {day} ({s['total_s']:.1f} s): {s['grades']} grades, {s['starred_cities']} starred cities")
            summaries.append(s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summaries
