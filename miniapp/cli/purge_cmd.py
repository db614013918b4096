"""``riskcard purge``: delete what the state store keeps past its documented lifetimes."""

from __future__ import annotations

import json

import click


@click.command("purge")
@click.option("--state-url", envvar="RISKCARD_STATE_URL", default="sqlite:///var/state.db", show_default=True,
              help="State store (RISKCARD_STATE_URL).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
def command(state_url: str, as_json: bool) -> None:
    """Delete one-time codes, rate-limit buckets, conversation memory, proof records, alert keys,
    outbox messages and audit entries past their lifetimes (docs/security.md, "Lifetimes"), print how
    many of each were deleted, and record the purge in the audit log. Run it daily (cron or a timer);
    the build deletes old location data itself.

    Example: RISKCARD_STATE_URL=sqlite:///var/state.db riskcard purge
    """
    from miniapp.state import StateError
    from miniapp.state import open_state

    try:
        state = open_state(state_url)
        try:
            counts = state.purge()
            state.audit("purge", None, **{f"deleted_{k}": int(v) for k, v in counts.items()})
        finally:
            state.close()
    except StateError as exc:
        raise click.ClickException(f"purge failed / 清理失败: {exc}") from None
    if as_json:
        click.echo(json.dumps(counts, sort_keys=True))
        return
    click.echo(f"purged 已清理 {sum(counts.values())} record(s) past their lifetime:")
    for kind, n in counts.items():
        click.echo(f"  {kind:14s} {n}")
