"""The build's cache: per ping part stays, city-days and companion stays, their manifests, retention.

Layout under ``OUT/cache``::

    pings/<part>/                 per ping-feed part: stays.parquet, city_days.parquet,
                                  companion_stays.parquet (the companion search's), manifest.json
    grades/<date>.parquet         each day's grades, for the 30-day history
    serving_cells.parquet         the city each tower serves, learned once per cells table

Each part of the pings feed (one per day as the carrier delivers) is read once; its results are cached
with the part's size and mtime, the stay parameters and a hash of the cells table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from forecast.contacts import join_contact_stays, part_contact_stays
from forecast.feeds import FeedReport, read_feed, write_quarantine
from forecast.grades import trend_labels
from forecast.itinerary import city_days
from forecast.schema import CITY_DAYS, STAYS, empty
from forecast.stays import CellTable, detect_stays, learn_serving_cities
from miniapp.pipeline.inputs import FeedFolder
from miniapp.pipeline.params import BuildParams, companion_stay_params
from miniapp.snapshot import atomic_write_text, file_sha256


def frame_hash(df: pd.DataFrame | None) -> str:
    if df is None or not len(df):
        return "empty"
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()).hexdigest()[:16]


def day_start_s(day: str, tz: str) -> int:
    return int(pd.Timestamp(day).tz_localize(tz).timestamp())


def serving_cells(ping_parts: Sequence[Path], cells: pd.DataFrame, cache_dir: Path, key: bytes, params: BuildParams
                  ) -> pd.DataFrame:
    """``cells`` with the city each tower really serves (``serves_city_code``), learned once from pings.

    Towers across a city border answer the neighbours' phones; without this the itinerary card
    names the wrong city near borders (docs/engine.md). Serving cities are a property of the
    network, so they are learned from the newest ping part once per cells table and kept in the
    cache; a new cells feed relearns them (and so recomputes every part's stays).
    """
    path = cache_dir / "serving_cells.parquet"
    ident = frame_hash(cells)
    with contextlib.suppress(OSError, ValueError):
        cached = pd.read_parquet(path)
        if json.loads((cache_dir / "serving_cells.json").read_text()).get("cells") == ident:
            return cached
    parts = list(ping_parts)
    if not parts:
        return cells
    pings, _, _ = read_feed(parts[-1], "pings", pseudonym_key=key, cells=cells, tz=params.tz)
    learned = learn_serving_cities(pings, cells, max_gap_minutes=params.max_gap_minutes)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_parquet(learned, path)
    atomic_write_text(cache_dir / "serving_cells.json", json.dumps({"cells": ident, "learned_from": parts[-1].name}))
    return learned


def stay_ident(cells: pd.DataFrame, params: BuildParams) -> dict:
    """What a cached part's stays depend on besides the part itself (stay parameters, cells table)."""
    return {"min_stay_minutes": params.min_stay_minutes, "radius_m": params.stay_radius_m,
            "max_gap_minutes": params.max_gap_minutes, "tz": params.tz, "cells": frame_hash(cells),
            "companion_stays": companion_stay_params(params)}


def part_stays(pings: pd.DataFrame, table, params: BuildParams) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stays, (all) city-day minutes and the companion search's stays of one part's pings: the engine
    calls every executor makes.

    The companion stays have their own settings (``BuildParams.companion_*``) and keep each
    subscriber's open first and last stay of the part, joined across parts by :func:`companion_window_stays`.
    """
    s = detect_stays(pings, table, min_stay_minutes=params.min_stay_minutes, radius_m=params.stay_radius_m,
                     max_gap_minutes=params.max_gap_minutes)
    cs = part_contact_stays(pings, table, **companion_stay_params(params))
    return s, city_days(s, tz=params.tz, min_city_minutes=0), cs


def companion_window_stays(part_stays: pd.DataFrame | None, as_of: str, params: BuildParams) -> pd.DataFrame:
    """The companion stays of all parts joined across part boundaries, cut to the retention window.

    Examples
    --------
    >>> companion_window_stays(None, "2020-02-01", BuildParams()).columns.tolist()[:3]
    ['uid', 'start_s', 'end_s']
    """
    if part_stays is None or not len(part_stays):
        return empty(STAYS)
    c = companion_stay_params(params)
    joined = join_contact_stays(part_stays, min_stay_minutes=c["min_stay_minutes"],
                                max_gap_minutes=c["max_gap_minutes"], max_tail_minutes=c["max_tail_minutes"],
                                backfill_minutes=params.companion_backfill_minutes, tz=params.tz)
    del part_stays  # the caller hands its only reference over: the parts are freed before the window's copy
    return window_stays(joined, as_of, params)


def window_stays(stays: pd.DataFrame, as_of: str, params: BuildParams) -> pd.DataFrame:
    """The stays that overlap the retention window before ``as_of`` (what the later steps see)."""
    start_s = day_start_s(as_of, params.tz) - params.retention_days * 86_400
    end_s = day_start_s(as_of, params.tz)
    inside = ((stays["end_s"] > start_s) & (stays["start_s"] < end_s)).to_numpy()
    if inside.all():  # nothing to cut (a full rebuild's window): no copy
        return stays.reset_index(drop=True)
    return stays[inside].reset_index(drop=True)


def ingest_part(part: Path, pdir: Path, ident: dict, cells: pd.DataFrame, key: bytes, params: BuildParams,
                quarantine_dir: Path) -> tuple[dict, object]:
    """Read one ping part, compute its stays, city-days and companion stays, and cache them in ``pdir``.

    Returns the part's manifest (written last: a killed run leaves no valid manifest) and its feed
    report. Runs in the build's process or in a worker process (:class:`LocalExecutor`).
    """
    pings, q, r = read_feed(part, "pings", pseudonym_key=key, cells=cells, tz=params.tz)
    s, cd, cs = part_stays(pings, CellTable(cells), params)
    del pings
    if len(q):
        write_quarantine({"pings": q}, quarantine_dir / part.name)
    pdir.mkdir(parents=True, exist_ok=True)
    atomic_parquet(s, pdir / "stays.parquet")
    atomic_parquet(cd, pdir / "city_days.parquet")
    atomic_parquet(cs, pdir / "companion_stays.parquet")
    dates = cd["local_date"] if len(cd) else pd.Series([], dtype="datetime64[s]")
    manifest = {"ident": ident, "sha256": file_sha256(part), "rows_in": r["pings"].rows_in,
                "rows_quarantined": r["pings"].rows_quarantined, "stays": len(s),
                "first_date": str(dates.min().date()) if len(dates) else None,
                "last_date": str(dates.max().date()) if len(dates) else None}
    manifest_path = pdir / "manifest.json"
    tmp = manifest_path.with_name(f".manifest.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(manifest))
    os.replace(tmp, manifest_path)
    return manifest, r


def _ingest_args(args: tuple) -> tuple[dict, object]:
    return ingest_part(*args)


def process_pings(ping_parts: Sequence[Path], cells: pd.DataFrame, cache_dir: Path, key: bytes, params: BuildParams,
                  *, progress: bool, quarantine_dir: Path, map_parts: Callable = map
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Stays and city-days of every ping part, from the cache where the part has not changed.

    Parts that changed are read by :func:`ingest_part` through ``map_parts`` (default: one after
    another; a process pool's ``map`` reads several at once). ``info["companion_stays"]`` holds the
    parts' companion stays (concatenated, not yet joined).
    """
    parts = list(ping_parts)
    stay_params = stay_ident(cells, params)
    report, info = FeedReport(), {"parts": len(parts), "cached": 0, "processed": 0, "pings_in": 0,
                                  "pings_quarantined": 0, "manifests": {}}
    manifests, todo, pdirs = {}, [], []
    for part in parts:
        st = part.stat()
        ident = {"name": part.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, **stay_params}
        pdir = cache_dir / "pings" / part.name.replace(os.sep, "_")
        pdirs.append(pdir)
        manifest = None
        with contextlib.suppress(OSError, ValueError):
            manifest = json.loads((pdir / "manifest.json").read_text())
        if manifest and manifest.get("ident") == ident:
            info["cached"] += 1
            manifests[part.name] = manifest
        else:
            todo.append((part, pdir, ident, cells, key, params, quarantine_dir))
    results = map_parts(_ingest_args, todo)  # a pool works on these while the cached parts are read below
    names = ("stays.parquet", "city_days.parquet", "companion_stays.parquet")
    changed = {str(t[1]) for t in todo}
    frames = {(str(d), name): pd.read_parquet(d / name) for d in pdirs if str(d) not in changed for name in names}
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="ping parts", unit="part")
    for (part, pdir, *_), (manifest, r) in zip(todo, results):
        report = report.merge(r)
        manifests[part.name] = manifest
        info["processed"] += 1
        frames.update({(str(pdir), name): pd.read_parquet(pdir / name) for name in names})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    for part in parts:
        m = manifests[part.name]
        info["pings_in"] += m["rows_in"]
        info["pings_quarantined"] += m["rows_quarantined"]
        info["manifests"][part.name] = m

    def read_all(name: str):
        return pd.concat([frames.pop((str(d), name)) for d in pdirs], ignore_index=True) if pdirs else None

    s = read_all("stays.parquet")
    d = read_all("city_days.parquet")
    info["report"] = report
    info["companion_stays"] = read_all("companion_stays.parquet")
    return (s if s is not None else empty(STAYS)), (d if d is not None else empty(CITY_DAYS)), info


def apply_retention(cache_dir: Path, folder: FeedFolder, as_of: str, params: BuildParams, *,
                    purge_feeds: bool = False) -> dict:
    """Delete cached location data (and with ``purge_feeds`` the ping parts) older than the windows need.

    Parameters
    ----------
    cache_dir : Path
        The build's cache (``cache/pings/<part>/manifest.json``).
    folder : FeedFolder
        The listing of the feed folder; only parts of a ``pings/`` directory are ever deleted.
    as_of : str
        The query day (ISO date).
    params : BuildParams
        ``retention_days``: the longest window that needs location data, plus the query day.
    purge_feeds : bool
        Also delete the ping parts whose cached data was deleted.

    Returns
    -------
    dict
        ``cutoff`` (ISO date), ``cache_parts_deleted`` and ``feed_parts_deleted`` (names).
    """
    parts = {part.name: part for part in folder.ping_parts} if folder.pings_are_parts else {}
    cutoff = (date.fromisoformat(as_of) - timedelta(days=params.retention_days)).isoformat()
    deleted, feeds_deleted = [], []
    for manifest_path in sorted((cache_dir / "pings").glob("*/manifest.json")):
        with contextlib.suppress(OSError, ValueError):
            m = json.loads(manifest_path.read_text())
            if m.get("last_date") and m["last_date"] < cutoff:
                shutil.rmtree(manifest_path.parent)
                deleted.append(manifest_path.parent.name)
                part = parts.get(m["ident"]["name"])
                if purge_feeds and part is not None and part.is_file():
                    part.unlink()
                    feeds_deleted.append(part.name)
    return {"cutoff": cutoff, "cache_parts_deleted": deleted, "feed_parts_deleted": feeds_deleted}


def atomic_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def grades_with_history(today: pd.DataFrame, cache_dir: Path, as_of: str, history_days: int) -> pd.DataFrame:
    """Today's grades saved to the cache, joined with the cached grades of the previous days."""
    gdir = cache_dir / "grades"
    gdir.mkdir(parents=True, exist_ok=True)
    today = today.assign(date=as_of)
    if "trend" not in today or today["trend"].isna().all():
        today = today.assign(trend=None)
    cols = ["community_id", "date", "score", "grade", "lo", "hi", "trend", "reasons"]
    today = today.reindex(columns=cols)
    first = (date.fromisoformat(as_of) - timedelta(days=history_days - 1)).isoformat()
    past = []
    for p in sorted(gdir.glob("*.parquet")):
        if first <= p.stem < as_of:
            past.append(pd.read_parquet(p, columns=["community_id", "date", "score", "grade"]))
        elif p.stem < first:
            p.unlink()  # outside every history the pages show
    week_ago = (date.fromisoformat(as_of) - timedelta(days=7)).isoformat()
    hist = pd.concat(past, ignore_index=True) if past else pd.DataFrame(columns=["community_id", "date", "score"])
    ref = hist[hist["date"] == week_ago].set_index("community_id")["score"]
    if len(ref):
        before = ref.reindex(today["community_id"]).to_numpy(float)
        now = today["score"].to_numpy(float)

        trend = trend_labels(now, before)
        today["trend"] = today["trend"].where(today["trend"].notna(), pd.Series(trend, index=today.index))
    today["trend"] = today["trend"].fillna("flat")
    to_save = today.copy()
    to_save["reasons"] = to_save["reasons"].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
    atomic_parquet(to_save, gdir / f"{as_of}.parquet")
    return pd.concat([hist.reindex(columns=cols), today], ignore_index=True)
