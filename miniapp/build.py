"""The build: feeds -> engine -> snapshot tables -> a new snapshot file -> published.

``run_build(feeds_dir, as_of, out_dir)`` runs every step and prints a summary. Layout of ``out_dir``::

    snapshots/                    published snapshots (RISKCARD_SNAPSHOT_DIR), see miniapp.publish
    cache/pings/<part>/           per ping-feed part: stays.parquet, city_days.parquet,
                                  companion_stays.parquet (the companion search's), manifest.json
    cache/grades/<date>.parquet   each day's grades, for the 30-day history
    cache/_pool/                  task and result files of the worker processes (--processes), while running
    quarantine/<as_of>/           rejected feed rows (phone numbers masked) with reasons
    reports/build-<as_of>.json    the summary of the run

Incremental: each part of the pings feed (``pings/part-*.parquet``, one per day as the carrier
delivers) is read once; its stays and city-days are cached with the part's size and mtime, the
stay parameters and a hash of the cells table. A daily build reads only the new part and redoes the
cheap steps (itineraries, flows, companions, forecast, grades) from the cache. Stays are cut at part
boundaries (a stay across midnight becomes two; city-day minutes are unaffected).

Retention: cached location data (stays, city-days) whose last day is older than the longest window
that needs it is deleted, with a report line; ``purge_feeds`` deletes such ping parts too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from miniapp.build_steps import (DEFAULT_STEPS, BuildParams, _atomic_parquet, companion_stay_params, exposure_with_possible,
                                 grades_with_history, star_cities)
from miniapp.build_local import LocalExecutor
from miniapp.publish import atomic_write_text, new_build_path, publish
from miniapp.snapshot import SnapshotError, file_sha256, write_snapshot

REFERENCE_FEEDS = ("cities", "communities", "cells", "cases", "case_trips", "city_cases")


# ---- small helpers ---------------------------------------------------------------------------------


def _frame_hash(df: pd.DataFrame | None) -> str:
    if df is None or not len(df):
        return "empty"
    return hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()).hexdigest()[:16]


def _n_rows(df: pd.DataFrame | None) -> int:
    return 0 if df is None else int(len(df))


def _day_s(day: str, tz: str) -> int:
    return int(pd.Timestamp(day).tz_localize(tz).timestamp())


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("riskcard")
    except PackageNotFoundError:
        v = "0+unknown"
    head = Path(__file__).resolve().parents[1] / ".git" / "HEAD"
    with contextlib.suppress(OSError, IndexError):
        ref = head.read_text().strip()
        sha = (head.parent / ref.split(" ", 1)[1]).read_text().strip() if ref.startswith("ref:") else ref
        v += f"+g{sha[:10]}"
    return v


class _Progress:
    """Step timings and a one-line log per step."""

    def __init__(self, log: Callable[[str], None], total: int):
        self.log, self.total, self.n, self.timings = log, total, 0, {}

    @contextlib.contextmanager
    def step(self, name: str):
        self.n += 1
        t = time.perf_counter()
        self.log(f"[{self.n}/{self.total}] {name} ...")
        yield
        self.timings[name] = round(time.perf_counter() - t, 3)


# ---- reading feeds, with the ping cache ------------------------------------------------------------


def read_reference_feeds(feeds_dir: Path, key: bytes, tz: str) -> tuple[dict, dict, object]:
    """Every feed except pings, each checked against the ones before it."""
    from forecast.feeds import FeedReport, find_feed, read_feed

    tables, quarantine, report = {}, {}, FeedReport()
    for kind in REFERENCE_FEEDS:
        path = find_feed(feeds_dir, kind)
        if path is None:
            continue
        refs = {k: tables.get(k) for k in ("cells", "cities", "communities", "cases")}
        tables[kind], quarantine[kind], r = read_feed(path, kind, pseudonym_key=key, tz=tz, **refs)
        report = report.merge(r)
    for kind in ("cities", "communities", "cells"):
        if kind not in tables:
            raise SnapshotError(f"{feeds_dir}: the {kind} feed is missing; a build needs cities, communities and cells")
    return tables, quarantine, report


def serving_cells(feeds_dir: Path, cells: pd.DataFrame, cache_dir: Path, key: bytes, params: BuildParams) -> pd.DataFrame:
    """``cells`` with the city each tower really serves (``serves_city_code``), learned once from pings.

    Towers across a city border answer the neighbours' phones; without this the itinerary card
    names the wrong city near borders (docs/engine.md). Serving cities are a property of the
    network, so they are learned from the newest ping part once per cells table and kept in the
    cache; a new cells feed relearns them (and so recomputes every part's stays).
    """
    from forecast.feeds import find_feed, read_feed
    from forecast.feeds_files import feed_parts
    from forecast.stays import learn_serving_cities

    path = cache_dir / "serving_cells.parquet"
    ident = _frame_hash(cells)
    with contextlib.suppress(OSError, ValueError):
        cached = pd.read_parquet(path)
        if json.loads((cache_dir / "serving_cells.json").read_text()).get("cells") == ident:
            return cached
    feed = find_feed(feeds_dir, "pings")
    parts = feed_parts(feed) if feed is not None else []
    if not parts:
        return cells
    pings, _, _ = read_feed(parts[-1], "pings", pseudonym_key=key, cells=cells, tz=params.tz)
    learned = learn_serving_cities(pings, cells, max_gap_minutes=params.max_gap_minutes)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _atomic_parquet(learned, path)
    atomic_write_text(cache_dir / "serving_cells.json", json.dumps({"cells": ident, "learned_from": parts[-1].name}))
    return learned


def stay_ident(cells: pd.DataFrame, params: BuildParams) -> dict:
    """What a cached part's stays depend on besides the part itself (stay parameters, cells table)."""
    return {"min_stay_minutes": params.min_stay_minutes, "radius_m": params.stay_radius_m,
            "max_gap_minutes": params.max_gap_minutes, "tz": params.tz, "cells": _frame_hash(cells),
            "companion_stays": companion_stay_params(params)}


def part_stays(pings: pd.DataFrame, table, params: BuildParams) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stays, (all) city-day minutes and the companion search's stays of one part's pings: the engine
    calls every executor makes.

    The companion stays have their own settings (``BuildParams.companion_*``) and keep each
    subscriber's open first and last stay of the part, joined across parts by :func:`companion_window_stays`.
    """
    from forecast.contacts_stays import part_contact_stays
    from forecast.itinerary import city_days
    from forecast.stays import detect_stays

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
    from forecast.contacts_stays import join_contact_stays
    from forecast.schema import STAYS, empty

    if part_stays is None or not len(part_stays):
        return empty(STAYS)
    c = companion_stay_params(params)
    joined = join_contact_stays(part_stays, min_stay_minutes=c["min_stay_minutes"],
                                max_gap_minutes=c["max_gap_minutes"], max_tail_minutes=c["max_tail_minutes"],
                                backfill_minutes=params.companion_backfill_minutes, tz=params.tz)
    return window_stays(joined, as_of, params)


def window_stays(stays: pd.DataFrame, as_of: str, params: BuildParams) -> pd.DataFrame:
    """The stays that overlap the retention window before ``as_of`` (what the later steps see)."""
    start_s = _day_s(as_of, params.tz) - params.retention_days * 86_400
    end_s = _day_s(as_of, params.tz)
    return stays[(stays["end_s"] > start_s) & (stays["start_s"] < end_s)].reset_index(drop=True)


def ingest_part(part: Path, pdir: Path, ident: dict, cells: pd.DataFrame, key: bytes, params: BuildParams,
                quarantine_dir: Path) -> tuple[dict, object]:
    """Read one ping part, compute its stays, city-days and companion stays, and cache them in ``pdir``.

    Returns the part's manifest (written last: a killed run leaves no valid manifest) and its feed
    report. Runs in the build's process or in a worker process (:class:`LocalExecutor`).
    """
    from forecast.feeds import read_feed, write_quarantine
    from forecast.stays import CellTable

    pings, q, r = read_feed(part, "pings", pseudonym_key=key, cells=cells, tz=params.tz)
    s, cd, cs = part_stays(pings, CellTable(cells), params)
    del pings
    if len(q):
        write_quarantine({"pings": q}, quarantine_dir / part.name)
    pdir.mkdir(parents=True, exist_ok=True)
    _atomic_parquet(s, pdir / "stays.parquet")
    _atomic_parquet(cd, pdir / "city_days.parquet")
    _atomic_parquet(cs, pdir / "companion_stays.parquet")
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


def process_pings(feeds_dir: Path, cells: pd.DataFrame, cache_dir: Path, key: bytes, params: BuildParams,
                  *, progress: bool, quarantine_dir: Path, map_parts: Callable = map
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Stays and city-days of every ping part, from the cache where the part has not changed.

    Parts that changed are read by :func:`ingest_part` through ``map_parts`` (default: one after
    another; a process pool's ``map`` reads several at once). ``info["companion_stays"]`` holds the
    parts' companion stays (concatenated, not yet joined).
    """
    from forecast.feeds import FeedReport, find_feed
    from forecast.feeds_files import feed_parts

    path = find_feed(feeds_dir, "pings")
    parts = feed_parts(path) if path is not None else []
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
    from forecast.schema import CITY_DAYS, STAYS, empty

    def read_all(name: str):
        return pd.concat([frames.pop((str(d), name)) for d in pdirs], ignore_index=True) if pdirs else None

    s = read_all("stays.parquet")
    d = read_all("city_days.parquet")
    info["report"] = report
    info["companion_stays"] = read_all("companion_stays.parquet")
    return (s if s is not None else empty(STAYS)), (d if d is not None else empty(CITY_DAYS)), info


def apply_retention(cache_dir: Path, feeds_dir: Path, as_of: str, params: BuildParams, *,
                    purge_feeds: bool = False) -> dict:
    """Delete cached location data (and with ``purge_feeds`` the ping parts) older than the windows need."""
    cutoff = (date.fromisoformat(as_of) - timedelta(days=params.retention_days)).isoformat()
    deleted, feeds_deleted = [], []
    for manifest_path in sorted((cache_dir / "pings").glob("*/manifest.json")):
        with contextlib.suppress(OSError, ValueError):
            m = json.loads(manifest_path.read_text())
            if m.get("last_date") and m["last_date"] < cutoff:
                shutil.rmtree(manifest_path.parent)
                deleted.append(manifest_path.parent.name)
                part = feeds_dir / "pings" / m["ident"]["name"]
                if purge_feeds and part.is_file():
                    part.unlink()
                    feeds_deleted.append(part.name)
    return {"cutoff": cutoff, "cache_parts_deleted": deleted, "feed_parts_deleted": feeds_deleted}


# ---- run -----------------------------------------------------------------------------------------------


def write_and_publish(
    tables: Mapping[str, pd.DataFrame],
    snapshot_dir: str | os.PathLike,
    meta: Mapping[str, object],
    *,
    keep: int = 3,
    progress: bool = False,
) -> dict:
    """Write ``tables`` to a temporary file beside the served snapshots and publish it.

    The served snapshot is never touched: the new file has a ``.build-*`` name until
    :func:`miniapp.publish.publish` has checked it. On any failure (disk full, a failed check, an
    interrupt) the temporary file is removed and :class:`SnapshotError` says why.

    Returns
    -------
    dict: the writer's summary (rows, bytes) and the publish result (name, sha256, previous, pruned).
    """
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    tmp = new_build_path(snapshot_dir)
    try:
        written = write_snapshot(tables, tmp, meta, progress=progress)
        published = publish(tmp, snapshot_dir, keep=keep)
    except BaseException as exc:
        for p in (tmp, tmp.with_name(tmp.name + "-journal")):
            with contextlib.suppress(OSError):
                p.unlink()
        if isinstance(exc, (sqlite3.Error, OSError)):
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SnapshotError(f"writing the snapshot failed ({reason}; is the disk full?); "
                                "the served snapshot is unchanged") from None
        raise
    return {**written, **published}


def _input_hashes(feeds_dir: Path, manifests: dict) -> dict[str, str]:
    out = {}
    for p in sorted(feeds_dir.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            out[p.name] = file_sha256(p)
    for name, m in manifests.items():
        out[f"pings/{name}"] = m["sha256"]
    return out


def run_build(
    feeds_dir: str | os.PathLike,
    as_of: str,
    out_dir: str | os.PathLike,
    *,
    pseudonym_key: bytes,
    params: BuildParams | None = None,
    steps: Mapping[str, Callable] | None = None,
    progress: bool = True,
    purge_feeds: bool = False,
    figures: Mapping[str, object] | None = None,
    log: Callable[[str], None] = print,
    executor: LocalExecutor | None = None,
) -> dict:
    """Run the engine on ``feeds_dir`` for query day ``as_of`` and publish a snapshot in ``out_dir/snapshots``.

    Parameters
    ----------
    feeds_dir : path-like
        Feed files (docs/data.md); pings may be a ``pings/`` directory of daily parts.
    as_of : str
        The query day D (ISO date): itineraries cover D-14 .. D-1, grades and forecasts are as of D.
    out_dir : path-like
        Build directory (snapshots, cache, quarantine, reports; see the module docstring).
    pseudonym_key : bytes
        HMAC key of the phone-number pseudonyms.
    params : BuildParams
    steps : mapping, optional
        Replacements for entries of :data:`DEFAULT_STEPS` (engine steps not wired yet, tests).
    figures : mapping, optional
        Backtest and calibration figures to publish (methods page); default ``out_dir/figures.json``.
    executor : LocalExecutor, optional
        Where the engine steps run: in this process (default) or on a Dask cluster
        (:class:`miniapp.distributed.DaskExecutor`); the snapshot's content is the same.

    Returns
    -------
    dict: the summary (also written to ``out_dir/reports/build-<as_of>.json``).
    """
    t0 = time.perf_counter()
    p = params or BuildParams()
    as_of = date.fromisoformat(str(as_of)).isoformat()
    feeds_dir, out_dir = Path(feeds_dir), Path(out_dir)
    cache_dir, snap_dir = out_dir / "cache", out_dir / "snapshots"
    qdir = out_dir / "quarantine" / as_of
    ex = executor or LocalExecutor()
    if isinstance(ex, LocalExecutor):
        # the pool's task files live in the build directory, where a killed run's leftovers are found
        shutil.rmtree(cache_dir / "_pool", ignore_errors=True)
        ex.build_scratch_dir = cache_dir / "_pool"
    run = {**DEFAULT_STEPS, **ex.steps, **(steps or {})}  # the caller's replacements win
    prog = _Progress(log, 11)
    ctx: dict = {"as_of": as_of, "params": p, "warnings": []}

    with prog.step("read feeds"):
        feeds, quarantine, report = read_reference_feeds(feeds_dir, pseudonym_key, p.tz)
        if any(len(q) for q in quarantine.values()):
            from forecast.feeds import write_quarantine

            write_quarantine({k: q for k, q in quarantine.items() if len(q)}, qdir)
        ctx["feeds"] = feeds
    with prog.step("stays and city-days (cached per ping part)"):
        serving = serving_cells(feeds_dir, feeds["cells"], cache_dir, pseudonym_key, p)
        stays, cdays, ping_info = ex.process_pings(feeds_dir, serving, cache_dir, pseudonym_key, p,
                                                   progress=progress, quarantine_dir=qdir)
        from forecast.stays import sort_stays

        # sorted once by (uid, start): the parts' own order merged, and later steps skip their sorts
        ctx["stays"] = sort_stays(window_stays(stays, as_of, p))
        del stays
        ctx["companion_stays"] = companion_window_stays(ping_info.pop("companion_stays", None), as_of, p)
        ctx["city_days"] = cdays
    with prog.step("itineraries"):
        itin = run["itineraries"](ctx)
    with prog.step("flows"):
        ctx["flows"] = flows = run["flows"](ctx)
    with prog.step("companions"):
        exposure = run["companions"](ctx)
        n_companions = int(len(exposure))
        exposure = exposure_with_possible(exposure, ctx.get("possible_companions"), feeds.get("cases"), p.tz)
    with prog.step("forecast"):
        fc = run["forecast"](ctx)
        ctx["forecast"] = fc
    with prog.step("grades"):
        today = run["grades"](ctx)
        grades = grades_with_history(today, cache_dir, as_of, p.history_days)
        city_risk = star_cities(fc["city_risk"], feeds["cities"], today, feeds["communities"])
    with prog.step("nearby cases and same-trip"):
        nearby = run["nearby_cases"](ctx)
        trips = run["trips"](ctx)
    with prog.step("retention"):
        retention = apply_retention(cache_dir, feeds_dir, as_of, p, purge_feeds=purge_feeds)
    if figures is None and (out_dir / "figures.json").is_file():
        figures = json.loads((out_dir / "figures.json").read_text(encoding="utf-8"))
    tables = {
        "cities": feeds["cities"], "communities": feeds["communities"], "grades": grades,
        "forecasts": fc["forecasts"], "city_risk": city_risk, "city_cases": fc["city_cases"],
        "itineraries": itin, "exposure": exposure, "nearby_cases": nearby,
        "flows": flows.rename(columns={"local_date": "date"}), "trips_of_cases": trips,
    }
    meta = {
        "as_of": as_of, "tz": p.tz, "code_version": code_version(), "params": asdict(p),
        "window_start": (date.fromisoformat(as_of) - timedelta(days=p.window_days)).isoformat(),
        "window_end": (date.fromisoformat(as_of) - timedelta(days=1)).isoformat(),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": _input_hashes(feeds_dir, ping_info["manifests"]),
        "methods_figures": dict(figures or {}),
    }
    with prog.step("write snapshot"):
        out = write_and_publish(tables, snap_dir, meta, keep=p.keep, progress=progress)
    with prog.step("summary"):
        feed_totals = report.to_dict()["totals"]
        summary = {
            "as_of": as_of, "snapshot": out["name"], "sha256": out["sha256"], "snapshot_bytes": out["bytes"],
            "rows_in": feed_totals["rows_in"] + ping_info["pings_in"],
            "quarantined": feed_totals["rows_quarantined"] + ping_info["pings_quarantined"],
            "ping_parts": ping_info["parts"], "ping_parts_cached": ping_info["cached"],
            "ping_parts_processed": ping_info["processed"], "stays": int(len(ctx["stays"])),
            "subscribers": int(ctx["stays"]["uid"].nunique()) if len(ctx["stays"]) else 0,
            "itinerary_rows": int(len(itin)), "companions": n_companions,
            "possible_companions": _n_rows(ctx.get("possible_companions")), "cities": int(len(feeds["cities"])),
            "starred_cities": int(city_risk["starred"].sum()), "communities": int(len(feeds["communities"])),
            "grades": int((grades["date"] == as_of).sum()), "retention": retention, "warnings": ctx["warnings"],
            "pruned": out["pruned"], "timings_s": prog.timings, "total_s": round(time.perf_counter() - t0, 3),
        }
        reports = out_dir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"build-{as_of}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    log(format_summary(summary))
    return summary


def format_summary(s: dict) -> str:
    """The end-of-build summary as a few lines of text (Chinese and English)."""
    r = s["retention"]
    lines = [
        f"snapshot 快照 {s['snapshot']} ({s['snapshot_bytes'] / 1e6:.1f} MB) as of {s['as_of']}",
        f"rows in 输入行 {s['rows_in']:,} · quarantined 隔离 {s['quarantined']:,}",
        f"ping parts {s['ping_parts']} ({s['ping_parts_cached']} cached, {s['ping_parts_processed']} processed)"
        f" · stays 驻留 {s['stays']:,} · subscribers {s['subscribers']:,}",
        f"cities 城市 {s['cities']} (starred {s['starred_cities']}) · communities {s['communities']:,}"
        f" · grades 评级 {s['grades']:,} · itinerary rows {s['itinerary_rows']:,} · companions {s['companions']:,}",
        f"retention 数据保留: deleted {len(r['cache_parts_deleted'])} cached part(s) of location data older than "
        f"{r['cutoff']}" + (f" and {len(r['feed_parts_deleted'])} feed part(s)" if r["feed_parts_deleted"] else ""),
        f"total {s['total_s']:.1f} s",
    ]
    lines += [f"warning 警告: {w}" for w in s["warnings"]]
    return "\n".join(lines)
