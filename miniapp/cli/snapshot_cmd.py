"""``riskcard snapshot-pull``: serve on this app host the snapshot the build host published (catch up)."""

from __future__ import annotations

import json

import click


@click.command("snapshot-pull")
@click.option("--source", envvar="RISKCARD_SNAPSHOT_SOURCE", required=True,
              help="The build host's snapshot directory: http(s) URL or path (RISKCARD_SNAPSHOT_SOURCE).")
@click.option("--snapshots", "snapshot_dir", envvar="RISKCARD_SNAPSHOT_DIR", default="var/snapshots",
              show_default=True, type=click.Path(file_okay=False), help="This host's snapshot directory (RISKCARD_SNAPSHOT_DIR).")
@click.option("--keep", type=click.IntRange(2, 100), default=3, show_default=True, help="Published snapshots kept.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def command(source: str, snapshot_dir: str, keep: int, as_json: bool) -> None:
    """Copy the snapshot the source's CURRENT names, verify its sha256, publish it here under the same
    name with the atomic CURRENT swap. Does nothing when this host serves it already, so it is run
    before the server starts, from a timer, and by the daily build after publishing (docs/deploy.md).

    Example: riskcard snapshot-pull --source http://10.77.0.1:8081/snapshots/ --snapshots /srv/riskcard/snapshots
    """
    from miniapp.snapshot import SnapshotError, pull_snapshot

    try:
        out = pull_snapshot(source, snapshot_dir, keep=keep)
    except SnapshotError as exc:
        raise click.ClickException(f"snapshot not pulled, the served one is unchanged / 未同步，当前快照未改变: {exc}") from None
    if as_json:
        click.echo(json.dumps(out, sort_keys=True))
    elif out["changed"]:
        click.echo(f"now serving 当前快照 {out['name']} (was 原为 {out['previous']}, copied {out['bytes']:,} B)")
    else:
        click.echo(f"up to date 已是最新 {out['name']}")


if __name__ == "__main__":
    command()
