"""``riskcard rollback``: serve the previous published snapshot again (or list them)."""

from __future__ import annotations

import click


@click.command("rollback")
@click.option("--snapshots", "snapshot_dir", envvar="RISKCARD_SNAPSHOT_DIR", default="var/snapshots",
              show_default=True, type=click.Path(file_okay=False), help="Snapshot directory (RISKCARD_SNAPSHOT_DIR).")
@click.option("--to", "to", default=None, help="Name of the snapshot to serve (default: the one before the current).")
@click.option("--list", "list_only", is_flag=True, help="List the published snapshots and change nothing.")
def command(snapshot_dir, to, list_only) -> None:
    """Go back one snapshot: CURRENT is moved atomically to the previous published file, after its
    checksum and integrity are checked. Servers pick it up within a second, without restart.

    Example: riskcard rollback --snapshots var/snapshots
    """
    from miniapp.snapshot import list_snapshots, rollback
    from miniapp.snapshot import SnapshotError

    if list_only:
        entries = list_snapshots(snapshot_dir)
        if not entries:
            click.echo("no published snapshot / 没有已发布的快照")
        for e in entries:
            click.echo(f"{'*' if e['current'] else ' '} {e['name']}  {e['bytes']:>12,} B  sha256 {(e['sha256'] or '?')[:12]}")
        return
    try:
        out = rollback(snapshot_dir, to=to)
    except SnapshotError as exc:
        raise click.ClickException(f"rollback refused / 回滚被拒绝: {exc}") from None
    click.echo(f"now serving 当前快照 {out['name']} (was 原为 {out['previous']})")
