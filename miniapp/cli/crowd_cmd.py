"""``riskcard crowd refresh``: refresh the market crowd levels (every 15 minutes, apart from the daily build)."""

from __future__ import annotations

import json

import click


def _snapshot_figures(snapshot_dir: str) -> tuple[int | None, float | None]:
    """The served snapshot's small-count threshold and residents-per-subscriber factor (None if absent)."""
    from miniapp.snapshot import open_current

    try:
        store = open_current(snapshot_dir)()
    except Exception:  # noqa: BLE001 - no snapshot: the defaults, said in the output
        return None, None
    if store is None:
        return None, None
    meta = store.meta()
    small = meta.get("small_count")
    factor = meta.get("residents_per_subscriber")
    return (int(small) if small else None), (float(factor) if factor else None)


@click.group("crowd")
def command() -> None:
    """Market crowding (docs/crowding.md).

    Example: riskcard crowd refresh
    """


@command.command("refresh")
@click.option("--crowd-dir", envvar="RISKCARD_CROWD_DIR", default="var/crowd", show_default=True,
              type=click.Path(file_okay=False), help="The crowd store's directory (RISKCARD_CROWD_DIR).")
@click.option("--markets", "markets_path", envvar="RISKCARD_CROWD_MARKETS", required=True, type=click.Path(exists=True),
              help="The markets feed (RISKCARD_CROWD_MARKETS).")
@click.option("--pings", "pings_path", envvar="RISKCARD_CROWD_PINGS", required=True, type=click.Path(exists=True),
              help="The latest pings: a file or a folder of part-* files (RISKCARD_CROWD_PINGS).")
@click.option("--cells", "cells_path", envvar="RISKCARD_CROWD_CELLS", default=None, type=click.Path(exists=True),
              help="Optional cells feed to check the markets' cells against (RISKCARD_CROWD_CELLS).")
@click.option("--snapshots", "snapshot_dir", envvar="RISKCARD_SNAPSHOT_DIR", default="var/snapshots", show_default=True,
              help="Snapshot directory: its small-count threshold and residents-per-subscriber factor are used.")
@click.option("--lookback-minutes", envvar="RISKCARD_CROWD_LOOKBACK_MINUTES", default=60, show_default=True, type=int,
              help="Read pings of the last N minutes (RISKCARD_CROWD_LOOKBACK_MINUTES).")
@click.option("--stale-minutes", envvar="RISKCARD_CROWD_STALE_MINUTES", default=30, show_default=True, type=int,
              help="A newest ping older than this: 'data too old' (RISKCARD_CROWD_STALE_MINUTES).")
@click.option("--backfill-days", default=0, show_default=True, type=int,
              help="Read this many days of pings (the first refresh of a deployment builds its history).")
@click.option("--tz", envvar="RISKCARD_TZ", default="Asia/Shanghai", show_default=True, help="Local zone (RISKCARD_TZ).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def refresh(crowd_dir, markets_path, pings_path, cells_path, snapshot_dir, lookback_minutes, stale_minutes,
            backfill_days, tz, as_json) -> None:
    """Count the people now at each market's cells, compare with the usual count for this weekday and
    hour, and swap in a new crowd store atomically. A failed refresh changes nothing served (the pages
    show the previous levels and how old they are) and exits with status 1. Run it every 14 minutes
    (deploy/systemd/riskcard-crowd.timer), so that a level is at most 15 minutes behind its pings.

    Example: RISKCARD_PSEUDONYM_KEY=... riskcard crowd refresh --markets feeds/markets.csv --pings live/pings
    """
    from forecast.contacts import MIN_COUNT
    from miniapp.cli.pseudonym import pseudonym_key
    from miniapp.crowd import RefreshError, refresh_crowd

    small, factor = _snapshot_figures(snapshot_dir)
    try:
        out = refresh_crowd(crowd_dir, markets_path=markets_path, pings_path=pings_path, cells_path=cells_path,
                            pseudonym_key=pseudonym_key(), lookback_minutes=lookback_minutes,
                            backfill_days=backfill_days, tz=tz, small_count=small or MIN_COUNT,
                            residents_per_subscriber=factor, stale_after_minutes=stale_minutes)
    except RefreshError as exc:
        raise click.ClickException(f"crowd refresh failed / 人流刷新失败 (still serving the previous levels): {exc}") from None
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
        return
    levels = ", ".join(f"{k} {v}" for k, v in out["levels"].items())
    click.echo(f"crowd store refreshed 人流已刷新: {out['markets']} markets ({levels}), {out['pings_read']:,} pings, "
               f"{out['refresh_s']} s")
