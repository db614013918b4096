"""``riskcard alerts send``: exposure alerts to companions of cases, per the documented policy."""

from __future__ import annotations

import csv
import json
import secrets
import sys

import click


class OutboxSender:
    """SMS_BACKEND=outbox (demo): nothing leaves the machine; the state store's outbox shows it."""

    def send(self, to: str, body: str) -> tuple[str, str]:
        return "OUT" + secrets.token_hex(16), "outbox"


def _settings() -> dict:
    from miniapp import config

    return {**config.defaults(), **config.from_environ()}


@click.group("alerts")
def command() -> None:
    """Outbound exposure alerts (docs/bot.md, "Alert policy").

    Example: riskcard alerts send --order var/orders/2020-02-01.csv --dry-run
    """


@command.command("send")
@click.option("--order", "order_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV from the health authority: msisdn[,case_id][,lang].")
@click.option("--dry-run", is_flag=True, help="Decide and report; send, claim and record nothing.")
@click.option("--basis", type=click.Choice(["authority_order", "opt_in"]), default="authority_order",
              show_default=True, help="Legal basis: the order alone, or the order and the person's opt-in.")
@click.option("--per-minute", default=60, show_default=True, type=click.IntRange(1, 6000))
@click.option("--details", is_flag=True, help="Also list each recipient (masked) and outcome.")
def send(order_path: str, dry_run: bool, basis: str, per_minute: int, details: bool) -> None:
    """Alert the companions listed in an authority order, at most once per exposure.

    Skips opted-out people, waits out quiet hours (22:00-08:00 local) and rate limits, retries
    timeouts and 5xx, and records every send and status. Prints a JSON summary.

    Example: riskcard alerts send --order order.csv --dry-run
    """
    from miniapp.cli.pseudonym import pseudonym_key
    from bot.alerts import AlertPolicy, TwilioSender, exposures_from_order, make_client, send_alerts
    from miniapp.state import open_state
    from miniapp.snapshot import open_current

    cfg = _settings()
    key = pseudonym_key()
    store = open_current(str(cfg["SNAPSHOT_DIR"]))()
    if store is None:
        raise click.ClickException(f"no snapshot is published in {cfg['SNAPSHOT_DIR']}")
    try:
        with open(order_path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"cannot read the order file: {type(exc).__name__}") from exc
    if rows and "msisdn" not in rows[0]:
        raise click.ClickException("the order file needs a msisdn column")
    exposures, skipped = exposures_from_order(rows, store, key)
    public = str(cfg.get("PUBLIC_URL") or "").rstrip("/")
    sender = None
    if not dry_run:
        if cfg.get("SMS_BACKEND") == "twilio":
            if not cfg.get("TWILIO_FROM"):
                raise click.ClickException("set RISKCARD_TWILIO_FROM")
            sender = TwilioSender(make_client(cfg), str(cfg["TWILIO_FROM"]), public + "/sms/status")
        else:
            sender = OutboxSender()
    state = open_state(str(cfg["STATE_URL"]))
    try:
        report = send_alerts(exposures, state=state, sender=sender, pseudonym_key=key, link=public + "/card",
                             policy=AlertPolicy(basis=basis, tz=str(cfg.get("TZ") or "Asia/Shanghai"),
                                                per_minute=per_minute),
                             dry_run=dry_run)
    finally:
        state.close()
    summary = {"dry_run": dry_run, "basis": basis, "listed": len(rows), "skipped": skipped, **report["counts"]}
    if details:
        for d in report["details"]:
            click.echo(json.dumps(d, ensure_ascii=False))
    click.echo(json.dumps(summary, ensure_ascii=False))
    if report["counts"].get("failed"):
        sys.exit(1)
