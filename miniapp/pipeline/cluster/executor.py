"""The build's engine steps on a Dask cluster, over Parquet partitioned by pseudonym hash.

:class:`DaskExecutor` plugs into :func:`miniapp.pipeline.run.run_build` (``executor=``) and runs the same pure
functions as the local path (``forecast.stays.detect_stays``, ``forecast.itinerary.city_days`` and
``itineraries``, the flows step, ``forecast.contacts`` and ``forecast.contacts.exposure``) on partitions of the
data; the snapshot's content is identical to the local build's (tests/miniapp/pipeline/test_cluster.py).

Layout, per ping part (the same cache directory and manifest as the local build, a different
``ident["layout"]``, so retention and incremental builds work unchanged)::

    cache/pings/<part>/_pings/b0007-00002.parquet   canonical pings of bucket 7, ingest batch 2 (temporary)
    cache/pings/<part>/stays-b0007.parquet          stays of the bucket's subscribers in this part
    cache/pings/<part>/city_days-b0007.parquet      their city-day minutes
    cache/pings/<part>/companion_stays-b0007.parquet  their stays for the companion search
    cache/pings/<part>/manifest.json                written last

Tasks
-----
1. *ingest* (one per changed part): read the part in batches of ``batch_rows`` (validation and
   pseudonymisation by ``forecast.feeds.iter_ping_batches``, quarantine written as locally) and split
   each batch by bucket ``uid mod n_buckets`` into Parquet.
2. *stays* (per part and bucket): :func:`miniapp.pipeline.cache.part_stays` (``detect_stays``, ``city_days``
   and the companion search's stays). Every subscriber's pings of a part are in one bucket, and the
   functions work per subscriber, so the union over buckets equals the local result (stays are cut at
   part boundaries in both; the companion stays are joined across parts per subscriber).
3. *itineraries*, *flows* (per bucket, over all parts): the local step on the bucket's rows; the
   itineraries are concatenated (per subscriber), the flows summed (trip counts are additive).
4. *companions* (miniapp/pipeline/cluster/companions.py): per bucket, the window's companion stays joined
   across parts and put at their search intervals, written by place group; per place group, one index
   and the partial shared time of every case's companions; summed on the client, then the rule. The
   answer is the local one for any number of groups (shared time adds up over places).

Partition sizes come from the workers' memory limit (:func:`plan_partitions`, constants measured on
this machine); task results other than counts live in Parquet, and what dask holds (itinerary
frames, the index) spills to disk under memory pressure (dask's own ``distributed.worker.memory``).
Workers must see the same file system as the client (one machine, or a shared mount).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from forecast.feeds import FeedReport, iter_ping_batches, write_quarantine
from forecast.schema import CITY_DAYS, ITINERARY, PINGS, STAYS, empty
from forecast.stays import CellTable
from miniapp.pipeline.cache import atomic_parquet, part_stays, stay_ident, window_stays
from miniapp.pipeline.cluster.companions import companion_groups, distributed_case_companions, scratch_dir
from miniapp.pipeline.context import BuildContext, CompanionResult
from miniapp.pipeline.params import BuildParams
from miniapp.pipeline.steps import DEFAULT_STEPS, exposure_table, step_itineraries
from miniapp.snapshot import file_sha256

# Measured on this machine (benchmarks/scale.py, /tmp probes): validating a raw Parquet ping batch
# peaks at about 400 MB of reader buffers plus ~260 bytes per row; stays + city-days need ~60 bytes
# per canonical ping; the later per-bucket steps ~40 bytes per stay or city-day row.
INGEST_FIXED_BYTES = 400_000_000
INGEST_BYTES_PER_ROW = 300
STAYS_BYTES_PER_PING = 80
TASK_MEMORY_SHARE = 0.5  # of a worker's limit, for one task (dask spills at 0.6-0.7, pauses at 0.8)
STAYS_PER_PING = 0.06  # stays and city-day rows per ping (synthetic nation: ~0.055)

__all__ = ["DaskExecutor", "Plan", "bucket_of", "dask_client", "parse_bytes", "plan_partitions"]


# ---- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Partition sizes: ``n_buckets`` pseudonym-hash buckets, ingest batches of ``batch_rows`` rows."""

    n_buckets: int
    batch_rows: int


def parse_bytes(text: str | int) -> int:
    """Bytes from ``'2GB'``, ``'512MiB'`` or an int.

    Parameters
    ----------
    text : str or int
        A size with an SI or binary unit, or bytes.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> parse_bytes("2GB"), parse_bytes("1.5 GiB"), parse_bytes(1000)
    (2000000000, 1610612736, 1000)
    """
    from dask.utils import parse_bytes as _parse

    return int(_parse(text))


def plan_partitions(memory_limit_bytes: int, *, n_workers: int, total_rows: int, max_part_rows: int) -> Plan:
    """Choose partition sizes so that one task stays within ``TASK_MEMORY_SHARE`` of a worker's limit.

    Parameters
    ----------
    memory_limit_bytes : int
        Memory limit of one worker.
    n_workers : int
        Workers (at least two buckets each, so that the per-bucket steps keep all of them busy).
    total_rows, max_part_rows : int
        Pings in the whole feed and in its largest part (estimates are fine).

    Returns
    -------
    Plan
        ``n_buckets`` (a power of two) and ``batch_rows`` (pings read per batch).

    Examples
    --------
    >>> plan_partitions(2_000_000_000, n_workers=2, total_rows=130_000_000, max_part_rows=2_000_000)
    Plan(n_buckets=4, batch_rows=2000000)
    >>> plan_partitions(2_000_000_000, n_workers=2, total_rows=10**10, max_part_rows=2_000_000).n_buckets
    64
    >>> plan_partitions(200_000_000, n_workers=2, total_rows=10_000, max_part_rows=10_000)
    Plan(n_buckets=4, batch_rows=100000)
    """
    budget = max(1.0, memory_limit_bytes * TASK_MEMORY_SHARE)
    batch_rows = int(min(5_000_000, max(100_000, (budget - INGEST_FIXED_BYTES) / INGEST_BYTES_PER_ROW)))
    per_part = math.ceil(max_part_rows * STAYS_BYTES_PER_PING / budget)
    downstream = math.ceil(total_rows * STAYS_PER_PING * 2 * 40 / budget)
    n = max(2 * n_workers, per_part, downstream, 1)
    return Plan(n_buckets=int(2 ** math.ceil(math.log2(n))), batch_rows=batch_rows)


def bucket_of(uid: np.ndarray, n_buckets: int) -> np.ndarray:
    """The bucket of each pseudonym: ``uid mod n_buckets`` (uids are HMAC output, so uniform).

    Parameters
    ----------
    uid : ndarray
        Pseudonyms (int64).
    n_buckets : int
        Buckets.

    Returns
    -------
    ndarray
        The bucket of each, in ``0 .. n_buckets - 1``.

    Examples
    --------
    >>> bucket_of(np.array([-3, 0, 5, 2**62]), 4).tolist()
    [1, 0, 1, 0]
    """
    return np.mod(np.asarray(uid, dtype=np.int64), int(n_buckets))


# ---- the cluster -----------------------------------------------------------------------------------


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, *, worker_memory: str | int = "2GB",
                local_directory: str | os.PathLike | None = None) -> Iterator:
    """A ``distributed.Client``: a LocalCluster of ``workers`` processes (one thread each, ``worker_memory``
    each, spilling to ``local_directory``), or the existing cluster at ``scheduler`` (``tcp://host:port``).

    Parameters
    ----------
    workers : int, optional
        Worker processes of a local cluster (default: one per core).
    scheduler : str, optional
        Address of an existing scheduler; then no local cluster is started.
    worker_memory : str or int
        Memory limit of each local worker.
    local_directory : path-like, optional
        Where local workers spill.

    Yields
    ------
    distributed.Client
        A client, closed (and the local cluster stopped) on exit.

    Examples
    --------
    >>> with dask_client(workers=2, worker_memory="1GB") as client:  # doctest: +SKIP
    ...     len(client.scheduler_info()["workers"])
    2
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    cluster = LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                           memory_limit=worker_memory, dashboard_address=":0", scheduler_port=0,
                           local_directory=None if local_directory is None else str(local_directory),
                           silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _workers(client) -> tuple[int, int]:
    """(number of workers, smallest memory limit) of the cluster."""
    info = client.scheduler_info(n_workers=-1)["workers"] if _accepts_n_workers(client) else \
        client.scheduler_info()["workers"]
    limits = [w.get("memory_limit") or 0 for w in info.values()]
    positive = [v for v in limits if v > 0]
    return max(1, len(info)), min(positive) if positive else 4_000_000_000


def _accepts_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


# ---- worker tasks (module level: pickled by reference) -------------------------------------------------


def _bucket_file(pdir: Path, kind: str, k: int) -> Path:
    return pdir / f"{kind}-b{k:04d}.parquet"


def _ingest_task(part: str, pdir: str, cells: pd.DataFrame, key: bytes, tz: str, n_buckets: int, batch_rows: int,
                 quarantine_dir: str) -> dict:
    """Validate one ping part in batches and write its canonical pings split by bucket."""
    part_path, pdir_path = Path(part), Path(pdir)
    if pdir_path.exists():  # another layout or a killed run: start clean
        shutil.rmtree(pdir_path)
    tmp = pdir_path / "_pings"
    tmp.mkdir(parents=True)
    report, quarantined = FeedReport(), []
    for i, (pings, q, r) in enumerate(iter_ping_batches(part_path, pseudonym_key=key, batch_rows=batch_rows,
                                                         cells=cells, tz=tz)):
        report = report.merge(r)
        if len(q):
            quarantined.append(q)
        b = bucket_of(pings["uid"].to_numpy(), n_buckets)
        order = np.argsort(b, kind="stable")  # keeps each bucket in (uid, ts_s) order
        bounds = np.searchsorted(b[order], np.arange(n_buckets + 1))
        for k in np.flatnonzero(np.diff(bounds)):
            pings.iloc[order[bounds[k]:bounds[k + 1]]].to_parquet(tmp / f"b{k:04d}-{i:05d}.parquet", index=False)
    if quarantined:
        write_quarantine({"pings": pd.concat(quarantined, ignore_index=True)}, Path(quarantine_dir) / part_path.name)
    counts = report["pings"] if "pings" in report else None
    return {"report": report, "rows_in": counts.rows_in if counts else 0,
            "rows_quarantined": counts.rows_quarantined if counts else 0, "sha256": file_sha256(part_path)}


def _stays_task(pdir: str, k: int, table, params: BuildParams, _ingested: dict) -> dict:
    """Stays and city-days of bucket ``k`` of one part (the local build's :func:`part_stays`)."""
    pdir_path = Path(pdir)
    files = sorted((pdir_path / "_pings").glob(f"b{k:04d}-*.parquet"))
    pings = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else empty(PINGS)
    s, cd, cs = part_stays(pings, table, params)
    del pings
    atomic_parquet(s, _bucket_file(pdir_path, "stays", k))
    atomic_parquet(cd, _bucket_file(pdir_path, "city_days", k))
    atomic_parquet(cs, _bucket_file(pdir_path, "companion_stays", k))
    for f in files:
        f.unlink()
    dates = cd["local_date"]
    return {"stays": int(len(s)), "first_date": str(dates.min().date()) if len(dates) else None,
            "last_date": str(dates.max().date()) if len(dates) else None}


def _read_part(pdir: Path, kind: str, n_buckets: int, buckets=None, columns=None) -> pd.DataFrame:
    """One part's rows of ``kind`` (stays, city_days, companion_stays) in the local build's order: by uid,
    then time."""
    ks = range(n_buckets) if buckets is None else buckets
    frames = [pd.read_parquet(_bucket_file(pdir, kind, k), columns=columns) for k in ks]
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values("uid", kind="stable", ignore_index=True) if len(frames) > 1 else df


def _read_rows(pdirs: list[str], kind: str, n_buckets: int, buckets=None, columns=None) -> pd.DataFrame:
    if not pdirs:
        df = empty(CITY_DAYS if kind == "city_days" else STAYS)
        return df if columns is None else df[columns]
    return pd.concat([_read_part(Path(p), kind, n_buckets, buckets, columns) for p in pdirs], ignore_index=True)


def _bucket_step(step: Callable, kind: str, ctx: BuildContext, pdirs: list[str], n_buckets: int, k: int
                 ) -> pd.DataFrame:
    """Run a local step on the rows of bucket ``k``: its subscribers' city-days or (window's) stays."""
    rows = _read_rows(pdirs, kind, n_buckets, [k])
    if kind == "stays":
        return step(replace(ctx, stays=window_stays(rows, ctx.as_of, ctx.params)))
    return step(replace(ctx, **{kind: rows}))


def _companion_bucket_rows(pdirs: list[str], n_buckets: int, k: int) -> pd.DataFrame:
    """Bucket ``k``'s companion stays of all parts (the rows the local step joins, per subscriber)."""
    return _read_rows(pdirs, "companion_stays", n_buckets, [k])


# ---- the executor -------------------------------------------------------------------------------------


class DaskExecutor:
    """Runs the engine steps of :func:`miniapp.pipeline.run.run_build` on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
    n_buckets, batch_rows : int, optional
        Partition sizes; by default from the workers' memory limit (:func:`plan_partitions`).
    companion_groups : int, optional
        Place groups of the companion search; by default from the workers' memory limit
        (:func:`miniapp.pipeline.cluster.companions.companion_groups`).
    companion_batch_cases : int
        Cases per batch of the companion search's partial pairs: one task sums a batch over all
        place groups, and its memory grows with the batch's companions (a dense cell gives a case tens
        of thousands; 32 cases stayed under 2 GB workers in benchmarks/scale.py, 256 did not).
    collect : bool
        Gather the stays and city-days into the build process (``process_pings``' result, as the local
        executor returns them). The distributed steps read them from Parquet either way.

    Examples
    --------
    >>> from miniapp.pipeline.run import run_build
    >>> with dask_client(workers=2) as client:  # doctest: +SKIP
    ...     run_build("var/nation", "2020-02-01", "var", pseudonym_key=key, executor=DaskExecutor(client))
    """

    def __init__(self, client, *, n_buckets: int | None = None, batch_rows: int | None = None,
                 companion_groups: int | None = None, companion_batch_cases: int = 32, collect: bool = True):
        self.client = client
        self.n_workers, self.memory_limit = _workers(client)
        self._n_buckets, self._batch_rows = n_buckets, batch_rows
        self.companion_groups = companion_groups
        self.companion_batch_cases = companion_batch_cases
        self.total_stays = 0
        self.collect = collect
        self.plan: Plan | None = None
        self.part_dirs: list[str] = []
        self.timings: dict[str, float] = {}

    @property
    def steps(self) -> dict[str, Callable]:
        """The steps this executor distributes (replacing :data:`miniapp.pipeline.steps.DEFAULT_STEPS` entries)."""
        return {"itineraries": self.step_itineraries, "flows": self.step_flows, "companions": self.step_companions}

    # ---- stays and city-days ----------------------------------------------------------------------------
    def _plan(self, parts: list[Path]) -> Plan:
        rows = [_estimate_rows(p) for p in parts] or [0]
        auto = plan_partitions(self.memory_limit, n_workers=self.n_workers, total_rows=sum(rows),
                               max_part_rows=max(rows))
        return Plan(self._n_buckets or auto.n_buckets, self._batch_rows or auto.batch_rows)

    def ingest(self, ping_parts: Sequence[Path], cells: pd.DataFrame, cache_dir: Path, key: bytes, params: BuildParams, *,
               progress: bool, quarantine_dir: Path) -> dict:
        """Stays and city-days of every changed ping part, as bucket files; returns the run's ping info."""
        from distributed import as_completed


        parts = list(ping_parts)
        self.plan = plan = self._plan(parts)
        base_ident = {**stay_ident(cells, params), "layout": f"uid-mod-{plan.n_buckets}"}
        info = {"parts": len(parts), "cached": 0, "processed": 0, "pings_in": 0, "pings_quarantined": 0,
                "manifests": {}, "n_buckets": plan.n_buckets, "batch_rows": plan.batch_rows}
        report = FeedReport()
        cells_f, table_f = self.client.scatter([cells, CellTable(cells)], broadcast=True, hash=False)
        todo, manifests, self.part_dirs = {}, {}, []
        for part in parts:
            st = part.stat()
            ident = {"name": part.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, **base_ident}
            pdir = cache_dir / "pings" / part.name.replace(os.sep, "_")
            self.part_dirs.append(str(pdir))
            manifest = None
            with contextlib.suppress(OSError, ValueError):
                manifest = json.loads((pdir / "manifest.json").read_text())
            if manifest and manifest.get("ident") == ident:
                info["cached"] += 1
                manifests[part.name] = manifest
                continue
            ing = self.client.submit(_ingest_task, str(part), str(pdir), cells_f, key, params.tz, plan.n_buckets,
                                     plan.batch_rows, str(quarantine_dir), pure=False, key=f"ingest-{part.name}")
            todo[part.name] = (ident, pdir, ing, [
                self.client.submit(_stays_task, str(pdir), k, table_f, params, ing, pure=False,
                                   key=f"stays-{part.name}-b{k}") for k in range(plan.n_buckets)])
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="ping parts (dask)", unit="part")
        by_future = {f.key: name for name, (_, _, ing, fs) in todo.items() for f in fs}
        left = {name: len(fs) for name, (*_, fs) in todo.items()}
        for fut in as_completed([f for *_, fs in todo.values() for f in fs]):
            name = by_future[fut.key]
            left[name] -= 1
            if left[name]:
                continue
            ident, pdir, ing, fs = todo[name]
            got, per_bucket = ing.result(), [f.result() for f in fs]
            report = report.merge(got["report"])
            first = [b["first_date"] for b in per_bucket if b["first_date"]]
            last = [b["last_date"] for b in per_bucket if b["last_date"]]
            manifest = {"ident": ident, "sha256": got["sha256"], "rows_in": got["rows_in"],
                        "rows_quarantined": got["rows_quarantined"], "stays": sum(b["stays"] for b in per_bucket),
                        "first_date": min(first) if first else None, "last_date": max(last) if last else None}
            with contextlib.suppress(OSError):
                (pdir / "_pings").rmdir()
            tmp = pdir / f".manifest.tmp-{os.getpid()}"
            tmp.write_text(json.dumps(manifest))
            os.replace(tmp, pdir / "manifest.json")  # written last: a killed run leaves no valid manifest
            manifests[name] = manifest
            info["processed"] += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        for part in parts:  # the local order
            m = manifests[part.name]
            info["pings_in"] += m["rows_in"]
            info["pings_quarantined"] += m["rows_quarantined"]
            info["manifests"][part.name] = m
        info["report"] = report
        self.total_stays = sum(int(m.get("stays") or 0) for m in info["manifests"].values())
        return info

    def process_pings(self, ping_parts: Sequence[Path], cells: pd.DataFrame, cache_dir: Path, key: bytes,
                      params: BuildParams, *, progress: bool, quarantine_dir: Path):
        """Like :func:`miniapp.pipeline.cache.process_pings`: (stays, city_days, info), computed on the cluster."""
        info = self.ingest(ping_parts, cells, cache_dir, key, params, progress=progress, quarantine_dir=quarantine_dir)
        n = self.plan.n_buckets
        if not self.collect:
            return empty(STAYS), empty(CITY_DAYS), info
        info["companion_stays"] = _read_rows(self.part_dirs, "companion_stays", n)
        return _read_rows(self.part_dirs, "stays", n), _read_rows(self.part_dirs, "city_days", n), info

    # ---- steps over buckets -------------------------------------------------------------------------------
    def _light(self, ctx: BuildContext) -> BuildContext:
        """What a worker needs of the build context (not the collected stays)."""
        return BuildContext(ctx.as_of, ctx.params,
                            {k: v for k, v in ctx.feeds.items() if k in ("cells", "cases", "communities", "cities")})

    def _map_buckets(self, step: Callable, kind: str, ctx: BuildContext, name: str) -> list[pd.DataFrame]:
        light = self.client.scatter([self._light(ctx)], broadcast=True, hash=False)[0]
        fs = [self.client.submit(_bucket_step, step, kind, light, self.part_dirs, self.plan.n_buckets, k, pure=False,
                                 key=f"{name}-b{k}") for k in range(self.plan.n_buckets)]
        return self.client.gather(fs)

    def step_itineraries(self, ctx: BuildContext) -> pd.DataFrame:
        """Itineraries per bucket (the local step), concatenated in the local order."""
        parts = [f for f in self._map_buckets(step_itineraries, "city_days", ctx, "itineraries") if len(f)]
        if not parts:
            return empty(ITINERARY)
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["uid", "first_date", "city_code"], kind="stable", ignore_index=True)

    def step_flows(self, ctx: BuildContext) -> pd.DataFrame:
        """Flows per bucket (the local step), summed over buckets."""
        frames = self._map_buckets(DEFAULT_STEPS["flows"], "stays", ctx, "flows")
        return sum_flows(frames)

    def step_companions(self, ctx: BuildContext) -> CompanionResult:
        """The companion search by pseudonym bucket, then by place group (miniapp/pipeline/cluster/companions.py)."""
        from functools import partial


        cases = ctx.feeds.get("cases")
        if cases is None or not len(cases):
            return exposure_table(None, cases, ctx.params.tz)
        n = self.plan.n_buckets
        n_groups = self.companion_groups or companion_groups(self.total_stays, self.memory_limit,
                                                             n_workers=self.n_workers)
        self.timings["companion_groups"] = n_groups
        found = distributed_case_companions(self.client, partial(_companion_bucket_rows, self.part_dirs, n), n,
                                            cases, ctx, n_groups=n_groups, scratch=scratch_dir(self.part_dirs),
                                            batch_queries=self.companion_batch_cases)
        return exposure_table(found, cases, ctx.params.tz)


def sum_flows(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Sum per-bucket flows: counts are added per (local_date, origin, destination), sorted by those.

    Examples
    --------
    >>> a = pd.DataFrame({"local_date": pd.to_datetime(["2020-01-01"]), "origin": [1], "destination": [2],
    ...                   "trips": [3]})
    >>> sum_flows([a, a]).to_dict("records")[0]["trips"]
    6
    """
    frames = [f for f in frames if f is not None]
    if not frames:
        raise ValueError("no flows")
    df = pd.concat(frames, ignore_index=True)
    keys = [c for c in ("local_date", "origin", "destination") if c in df.columns]
    counts = [c for c in df.columns if c not in keys]
    out = df.groupby(keys, sort=True, as_index=False)[counts].sum()
    return out.astype(frames[0].dtypes.to_dict())


def _estimate_rows(part: Path) -> int:
    """Rows of a feed part: Parquet metadata, or ~40 bytes a line for CSV."""
    if part.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        with contextlib.suppress(Exception):
            return int(pq.ParquetFile(part).metadata.num_rows)
    return int(part.stat().st_size // 40)
