"""``riskcard build``: run the engine on a feed directory and publish a new snapshot."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import click


def _date(ctx, param, value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD / 日期格式应为 YYYY-MM-DD") from None


@click.command("build")
@click.option("--feeds", "feeds_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Directory of feed files (docs/data.md); pings may be a pings/ directory of daily parts.")
@click.option("--as-of", required=True, callback=_date, help="Query day D (YYYY-MM-DD): itineraries cover D-14 .. D-1.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Build directory: snapshots/ (serve it with RISKCARD_SNAPSHOT_DIR), cache/, quarantine/, reports/.")
@click.option("--keep", type=click.IntRange(2, 100), default=3, show_default=True, help="Published snapshots kept.")
@click.option("--members", type=click.IntRange(10, 1000), default=100, show_default=True, help="Forecast ensemble size.")
@click.option("--purge-feeds", is_flag=True, help="Also delete ping feed parts older than the retention window.")
@click.option("--pseudonym-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding the hex key (instead of RISKCARD_PSEUDONYM_KEY).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (last line).")
@click.option("--processes", type=click.IntRange(1, 256), default=None,
              help="Worker processes of the local build: changed ping parts and companion place groups side by "
                   "side [default: the CPU count].")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Run the engine on a local Dask cluster of N worker processes (1 thread each).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the engine on an existing Dask cluster (workers must see the same files).")
@click.option("--worker-memory", default="2GB", show_default=True,
              help="Memory limit per local worker (--workers); partition sizes follow it, excess spills to disk.")
@click.option("--buckets", type=click.IntRange(1, 65536), default=None,
              help="Pseudonym-hash partitions (default: from the workers' memory limit).")
def command(feeds_dir, as_of, out_dir, keep, members, purge_feeds, pseudonym_key_file, quiet, as_json,
            processes, workers, scheduler, worker_memory, buckets) -> None:
    """Build a snapshot from FEEDS for day AS_OF and publish it atomically in OUT/snapshots.

    A build that fails or is killed never touches the served snapshot. With --workers or
    --scheduler the engine runs on Dask; the snapshot's content is the same.

    Example: riskcard build --feeds var/nation --as-of 2020-02-01 --out var --processes 2

    On a local Dask cluster: riskcard build --feeds var/nation --as-of 2020-02-01 --out var --workers 2 --worker-memory 2GB
    """
    from dataclasses import replace

    from miniapp.pipeline import BuildParams
    from miniapp.pipeline import run_build
    from miniapp.cli.pseudonym import pseudonym_key
    from miniapp.snapshot import SnapshotError

    key = pseudonym_key(pseudonym_key_file)
    params = replace(BuildParams(), keep=keep, n_members=members)
    log = (lambda _msg: None) if as_json else click.echo
    if workers and scheduler:
        raise click.UsageError("use --workers or --scheduler, not both / 二者只能选一")
    if processes and (workers or scheduler):
        raise click.UsageError("--processes is for the local build; with Dask use --workers / --processes 仅用于本地构建")
    try:
        with _executor(workers, scheduler, worker_memory, buckets, out_dir, processes) as executor:
            summary = run_build(feeds_dir, as_of, out_dir, pseudonym_key=key, params=params, progress=not quiet,
                                purge_feeds=purge_feeds, log=log, executor=executor)
    except NotImplementedError as exc:
        raise click.ClickException(f"build step not available yet / 构建步骤尚未实现: {exc}") from None
    except (SnapshotError, ValueError, OSError, TimeoutError) as exc:
        raise click.ClickException(f"build failed, the served snapshot is unchanged / 构建失败，当前快照未改变: {exc}") from None
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))


@contextlib.contextmanager
def _executor(workers, scheduler, worker_memory, buckets, out_dir, processes=None):
    """A LocalExecutor (``processes``, default the CPU count), or a DaskExecutor on a local or existing cluster."""
    if not workers and not scheduler:
        import os

        from miniapp.pipeline import LocalExecutor

        yield LocalExecutor(processes=processes or os.cpu_count() or 1)
        return
    from pathlib import Path

    from miniapp.pipeline import DaskExecutor, dask_client, parse_bytes

    try:
        parse_bytes(worker_memory)
    except (ValueError, TypeError):
        raise click.BadParameter("use a size like 2GB / 请使用如 2GB 的大小", param_hint="--worker-memory") from None
    spill = Path(out_dir) / "dask-spill"
    with dask_client(workers, scheduler, worker_memory=worker_memory, local_directory=spill) as client:
        yield DaskExecutor(client, n_buckets=buckets)
