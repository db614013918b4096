"""The local executor of the build: the engine steps in the build process, or in a pool of worker processes.

:class:`LocalExecutor` plugs into :func:`miniapp.pipeline.run.run_build` (``executor=``), as the Dask executor
does (miniapp/pipeline/cluster/executor.py). With ``processes`` > 1 (``riskcard build --processes``, default the CPU
count) changed ping parts are read in worker processes and the companion search runs one batch of cases
per process; tasks and results travel as pickle files in a scratch directory (``OUT/cache/_pool``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pandas as pd

from miniapp.pipeline.cache import process_pings
from miniapp.pipeline.context import BuildContext, CompanionResult
from miniapp.pipeline.steps import step_companions


def _results(pool, futures: list, scratch: Path, executor: "LocalExecutor") -> Iterator:
    import pickle

    try:
        for f in futures:
            path, peak = f.result()
            path = Path(path)
            executor.worker_peak_bytes = max(executor.worker_peak_bytes, peak)
            with open(path, "rb") as fh:
                result = pickle.load(fh)
            path.unlink()
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(scratch, ignore_errors=True)


def exit_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Pool initializer: end this worker within ``poll_s`` once its build process is gone.

    A build killed with SIGKILL cannot shut its pool down, and a spawned worker waiting for its next
    task would otherwise live on (holding a part's memory, ~9 GB at 1M subscribers). When the parent
    dies the worker is re-parented, so a daemon thread watching ``os.getppid()`` sees it.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="riskcard-exit-with-parent", daemon=True).start()


def _call_through_files(fn: Callable, path_in: str, path_out: str) -> tuple[str, int]:
    """``fn(item)`` in a pool worker, the item and the result passed as pickle files: a pipe moves a
    GB of arrays at ~100 MB/s, a file at memory speed (a 20M-row result: 20 s -> 4 s)."""
    import pickle

    with open(path_in, "rb") as fh:
        item = pickle.load(fh)
    os.unlink(path_in)
    result = fn(item)
    del item
    with open(path_out + ".tmp", "wb") as fh:
        pickle.dump(result, fh, protocol=5)
    os.replace(path_out + ".tmp", path_out)
    return path_out, _peak_rss_bytes()


# A worker reading a ping part peaks at about this many bytes per ping (raw text columns, parsed arrays and
# the sort; measured 180 on a 50.4M-ping day of ISO-time Parquet, benchmarks/build.py), with a margin.
INGEST_PEAK_BYTES_PER_PING = 200
CSV_BYTES_PER_PING = 40  # a CSV line "8613800000000,2020-01-20T08:00:00+08:00,1234"; gzip about 4x smaller


def ingest_peak_bytes(part: Path) -> int:
    """The memory a worker needs to read ``part``: its pings (Parquet metadata, else estimated from the
    file's size) times :data:`INGEST_PEAK_BYTES_PER_PING`."""
    part = Path(part)
    pings = 0
    with contextlib.suppress(Exception):  # noqa: BLE001 - an unreadable part is the reader's error to report
        if part.suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pings = pq.ParquetFile(part).metadata.num_rows
    if not pings:
        size = part.stat().st_size if part.exists() else 0
        pings = size * (4 if part.name.endswith(".gz") else 1) // CSV_BYTES_PER_PING
    return int(pings) * INGEST_PEAK_BYTES_PER_PING


def available_memory_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo (Linux), or None where it cannot be read."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        info = Path("/proc/meminfo").read_text()
        return int(next(line.split()[1] for line in info.splitlines() if line.startswith("MemAvailable:"))) * 1024
    return None


def parts_that_fit(processes: int, peak_bytes: list[int], available_bytes: int | None, *,
                   share: float = 0.8) -> int:
    """How many ping parts to read side by side: at most ``processes``, and only as many of the largest
    as fit in ``share`` of the available memory (at least one: a part too large for the machine is
    read alone, where it has the best chance).

    Examples
    --------
    >>> parts_that_fit(2, [10 * 2**30] * 14, 22 * 2**30)  # a 1M-subscriber day needs ~10 GB
    1
    >>> parts_that_fit(2, [2**30] * 14, 22 * 2**30)
    2
    >>> parts_that_fit(4, [2**30], None)  # memory unknown: the processes asked for
    4
    """
    if available_bytes is None or not peak_bytes:
        return max(1, processes)
    largest = max(1, max(peak_bytes))
    return max(1, min(processes, int(share * available_bytes // largest)))


def _peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux VmHWM; 0 where /proc is missing)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    return 0


class LocalExecutor:
    """Runs the engine steps on this machine: the default executor of :func:`run_build`.

    With ``processes`` > 1 the two heavy steps use a pool of that many worker processes: changed
    ping parts are read side by side (:func:`miniapp.pipeline.cache.ingest_part`), and the companion search runs one batch of
    cases per process (:func:`forecast.contacts.batches.find_companions_by_case`). The result is the
    same for any number of processes.

    An executor provides ``process_pings`` (same signature and result as :func:`miniapp.pipeline.cache.process_pings`) and
    ``steps``, replacements for entries of :data:`miniapp.pipeline.steps.DEFAULT_STEPS`.

    Examples
    --------
    >>> LocalExecutor().steps
    {}
    >>> list(LocalExecutor(processes=2).steps)
    ['companions']
    >>> LocalExecutor(processes=2).pool_min_stays  # fewer companion stays: one process is quicker
    2000000
    """

    def __init__(self, processes: int = 1, scratch_dir: str | os.PathLike | None = None, *,
                 pool_min_part_bytes: int = 32_000_000, pool_min_stays: int = 2_000_000):
        self.processes = max(1, int(processes))
        # the pool's task and result files: scratch_dir, else the build's OUT/cache/_pool (set by run_build),
        # else the temp directory
        self.scratch_dir, self.build_scratch_dir = scratch_dir, None
        # below these sizes starting worker processes (~2 s) costs more than it saves
        self.pool_min_part_bytes, self.pool_min_stays = pool_min_part_bytes, pool_min_stays
        self.pool_tasks = 0  # tasks run in worker processes (a count for reports and tests)
        self.worker_peak_bytes = 0  # the largest worker's peak memory
        self.part_reads_at_once = 0  # ping parts the last pool read side by side (bounded by memory)

    @property
    def steps(self) -> Mapping[str, Callable]:
        return {} if self.processes == 1 else {"companions": self.step_companions}

    def step_companions(self, ctx: BuildContext) -> CompanionResult:
        """The companions step, one batch of cases per process when the stays are many."""
        n = len(ctx.stays if ctx.companion_stays is None else ctx.companion_stays)
        return step_companions(ctx, n_batches=self.processes if n >= self.pool_min_stays else 1, map_batches=self.map)

    def _map_parts(self, fn: Callable, items) -> Iterator:
        items = list(items)
        big = sum(item[0].stat().st_size for item in items) >= self.pool_min_part_bytes
        if not big:
            return map(fn, items)
        self.part_reads_at_once = parts_that_fit(self.processes, [ingest_peak_bytes(item[0]) for item in items],
                                                 available_memory_bytes())
        return self.map(fn, items, max_workers=self.part_reads_at_once)

    def map(self, fn: Callable, items, *, max_workers: int | None = None) -> Iterator:
        """``fn`` over ``items`` in the pool, results in order; in this process with ``processes=1``.

        Every item is submitted before this returns, so the caller can do other work (read the
        cache) while the pool runs; the pool is shut down when the results are consumed. At most
        ``max_workers`` (default ``processes``) items run at once.
        """
        items = list(items)
        if self.processes == 1 or not items:
            return map(fn, items)
        import multiprocessing
        import pickle
        import tempfile
        from concurrent.futures import ProcessPoolExecutor

        self.pool_tasks += len(items)
        parent = self.scratch_dir or self.build_scratch_dir
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="riskcard-pool-", dir=parent))
        # spawn, not fork: the build process runs Arrow's thread pools, which fork does not copy safely
        pool = ProcessPoolExecutor(min(self.processes, len(items), max_workers or self.processes), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=exit_with_parent, initargs=(os.getpid(),))
        try:
            futures = []
            for i in range(len(items)):
                path_in = scratch / f"task-{i}.pkl"
                with open(path_in, "wb") as fh:
                    pickle.dump(items[i], fh, protocol=5)
                items[i] = None  # the worker reads it from the file: free this copy
                futures.append(pool.submit(_call_through_files, fn, str(path_in), str(scratch / f"result-{i}.pkl")))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return _results(pool, futures, scratch, self)

    def process_pings(self, *args, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """Stays and city-days of every ping part (:func:`miniapp.pipeline.cache.process_pings`), changed parts side by side."""
        return process_pings(*args, map_parts=self._map_parts, **kwargs)
