"""The build: feeds -> engine -> snapshot tables -> a new snapshot file -> published.

``run_build(feeds_dir, as_of, out_dir)`` runs every step and prints a summary. Layout of ``out_dir``::

    snapshots/                    published snapshots (RISKCARD_SNAPSHOT_DIR), see miniapp.snapshot.publish
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
import json
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from forecast.feeds import write_quarantine
from forecast.stays import sort_stays
from miniapp.pipeline.cache import (apply_retention, companion_window_stays, grades_with_history, serving_cells,
                                    window_stays)
from miniapp.pipeline.context import BuildContext
from miniapp.pipeline.inputs import input_hashes, list_feed_folder, read_reference_feeds
from miniapp.pipeline.local import LocalExecutor
from miniapp.pipeline.params import BuildParams
from miniapp.pipeline.places import read_place_feeds
from miniapp.pipeline.steps import DEFAULT_STEPS, star_cities
from miniapp.scrape import write_build_metrics
from miniapp.snapshot import SnapshotError, new_build_path, publish, write_snapshot


# ---- small helpers ---------------------------------------------------------------------------------


def _n_rows(df: pd.DataFrame | None) -> int:
    return 0 if df is None else int(len(df))


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


# ---- run -----------------------------------------------------------------------------------------------


def write_and_publish(
    tables: Mapping[str, pd.DataFrame],
    snapshot_dir: str | os.PathLike,
    meta: Mapping[str, object],
    *,
    keep: int = 3,
    progress: bool = False,
    small_count: int | None = None,
) -> dict:
    """Write ``tables`` to a temporary file beside the served snapshots and publish it.

    The served snapshot is never touched: the new file has a ``.build-*`` name until
    :func:`miniapp.snapshot.publish.publish` has checked it. On any failure (disk full, a failed check, an
    interrupt) the temporary file is removed and :class:`SnapshotError` says why.

    Parameters
    ----------
    tables : mapping
        Snapshot table name -> its data frame (:data:`miniapp.snapshot.schema.TABLES`).
    snapshot_dir : path-like
        The served snapshots' directory.
    meta : mapping
        The snapshot's meta rows (as_of, window, inputs, code version ...).
    keep : int
        Published snapshots kept (older ones are pruned, never the current one).
    progress : bool
        Show the writer's progress bar.
    small_count : int, optional
        Counts of people below it are withheld (``BuildParams.small_count``; default the writer's).

    Returns
    -------
    dict
        The writer's summary (rows, bytes) and the publish result (name, sha256, previous, pruned).
    """
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    tmp = new_build_path(snapshot_dir)
    try:
        extra = {} if small_count is None else {"small_count": int(small_count)}
        written = write_snapshot(tables, tmp, meta, progress=progress, **extra)
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
        (:class:`miniapp.pipeline.cluster.executor.DaskExecutor`); the snapshot's content is the same.

    Returns
    -------
    dict
        The summary (also written to ``out_dir/reports/build-<as_of>.json``).
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

    with prog.step("read feeds"):
        folder = list_feed_folder(feeds_dir)  # the one listing every later reader uses
        feeds, quarantine, report = read_reference_feeds(folder, pseudonym_key, p.tz)
        place_tables, place_quarantine, place_report = read_place_feeds(feeds_dir, p.tz, feeds.get("cities"))
        quarantine, report = {**quarantine, **place_quarantine}, report.merge(place_report)
        if any(len(q) for q in quarantine.values()):
            write_quarantine({k: q for k, q in quarantine.items() if len(q)}, qdir)
    with prog.step("stays and city-days (cached per ping part)"):
        serving = serving_cells(folder.ping_parts, feeds["cells"], cache_dir, pseudonym_key, p)
        stays, cdays, ping_info = ex.process_pings(folder.ping_parts, serving, cache_dir, pseudonym_key, p,
                                                   progress=progress, quarantine_dir=qdir)
        # sorted once by (uid, start): the parts' own order merged, and later steps skip their sorts. One
        # step at a time, each result rebinding the name, so no more than two copies of the window's stays
        # are alive at once (three at once were the 1M build's peak, docs/snapshot.md)
        stays = window_stays(stays, as_of, p)
        stays = sort_stays(stays)
        companion_stays = companion_window_stays(ping_info.pop("companion_stays", None), as_of, p)
        ctx = BuildContext(as_of, p, feeds, stays=stays, city_days=cdays, companion_stays=companion_stays)
        del stays, companion_stays
    with prog.step("itineraries"):
        itin = run["itineraries"](ctx)
    with prog.step("flows"):
        ctx = replace(ctx, flows=run["flows"](ctx))
    with prog.step("companions"):
        ctx = replace(ctx, companions=run["companions"](ctx))
    with prog.step("forecast"):
        ctx = replace(ctx, forecast=run["forecast"](ctx))
        fc = ctx.forecast
    with prog.step("grades"):
        graded = run["grades"](ctx)
        grades = grades_with_history(graded.grades, cache_dir, as_of, p.history_days)
        city_risk = star_cities(fc.city_risk, feeds["cities"], graded.grades, feeds["communities"])
        forecasts = (pd.concat([fc.forecasts, graded.forecasts], ignore_index=True)
                     if len(fc.forecasts) else graded.forecasts)
    with prog.step("nearby cases and same-trip"):
        nearby = run["nearby_cases"](ctx)
        trips = run["trips"](ctx)
    with prog.step("retention"):
        retention = apply_retention(cache_dir, folder, as_of, p, purge_feeds=purge_feeds)
    if figures is None and (out_dir / "figures.json").is_file():
        figures = json.loads((out_dir / "figures.json").read_text(encoding="utf-8"))
    tables = {
        "cities": feeds["cities"], "communities": feeds["communities"], "grades": grades,
        "forecasts": forecasts, "city_risk": city_risk, "city_cases": fc.city_cases,
        "itineraries": itin, "exposure": ctx.companions.exposure, "nearby_cases": nearby,
        "flows": ctx.flows.rename(columns={"local_date": "date"}), "trips_of_cases": trips,
    }
    for name, extra in (("forecast_series", fc.series), ("city_mobility", fc.mobility)):  # issue 19 (m007)
        if extra is not None:
            tables[name] = extra
    tables.update(place_tables)  # case_places, clinics (docs/places.md)
    meta = {
        "as_of": as_of, "tz": p.tz, "code_version": code_version(), "params": asdict(p),
        "window_start": (date.fromisoformat(as_of) - timedelta(days=p.window_days)).isoformat(),
        "window_end": (date.fromisoformat(as_of) - timedelta(days=1)).isoformat(),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "inputs": input_hashes(folder, ping_info["manifests"]),
        "methods_figures": dict(figures or {}),
        "close_contacts_basis": fc.close_contacts_basis,
    }
    with prog.step("write snapshot"):
        out = write_and_publish(tables, snap_dir, meta, keep=p.keep, progress=progress, small_count=p.small_count)
    with prog.step("summary"):
        feed_totals = report.to_dict()["totals"]
        summary = {
            "as_of": as_of, "snapshot": out["name"], "sha256": out["sha256"], "snapshot_bytes": out["bytes"],
            "rows_in": feed_totals["rows_in"] + ping_info["pings_in"],
            "quarantined": feed_totals["rows_quarantined"] + ping_info["pings_quarantined"],
            "ping_parts": ping_info["parts"], "ping_parts_cached": ping_info["cached"],
            "ping_parts_processed": ping_info["processed"], "stays": int(len(ctx.stays)),
            "subscribers": int(ctx.stays["uid"].nunique()) if len(ctx.stays) else 0,
            "itinerary_rows": int(len(itin)), "companions": ctx.companions.n_companions,
            "possible_companions": _n_rows(ctx.companions.possible), "cities": int(len(feeds["cities"])),
            "starred_cities": int(city_risk["starred"].sum()), "communities": int(len(feeds["communities"])),
            "grades": int((grades["date"] == as_of).sum()), "retention": retention, "warnings": list(fc.warnings),
            "pruned": out["pruned"], "timings_s": prog.timings, "total_s": round(time.perf_counter() - t0, 3),
        }
        reports = out_dir / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        (reports / f"build-{as_of}.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        write_build_metrics(snap_dir, summary)  # step durations for the metrics listener (docs/observability.md)
    log(format_summary(summary))
    return summary


def format_summary(s: dict) -> str:
    """The end-of-build summary as a few lines of text (Chinese and English).

    Parameters
    ----------
    s : dict
        The summary :func:`run_build` returns.

    Returns
    -------
    str
        A few lines for the terminal, warnings last.
    """
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
