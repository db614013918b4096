"""``riskcard verify``: check an itinerary-card token offline with a key set file or key directory."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from zoneinfo import ZoneInfo

import click

from miniapp.config import SETTINGS, env_name

STATUS_ZH = {"genuine": "真实", "forged": "伪造", "expired": "已过期", "malformed": "格式错误",
             "unknown_key": "未知密钥", "revoked": "已撤销"}


def _local(ts: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


@click.command("verify")
@click.argument("token")
@click.option("--jwks", "jwks_file", type=click.Path(dir_okay=False, exists=True),
              help="JWK Set file (saved from /.well-known/jwks.json or `riskcard keys jwks`).")
@click.option("--key-dir", type=click.Path(file_okay=False, exists=True),
              help="Directory of signing keys (default RISKCARD_SIGNING_KEY_DIR when no --jwks).")
@click.option("--now", "now_s", type=int, default=None, help="Check as of these Unix seconds (default: now).")
@click.option("--as-json", is_flag=True, help="Print the result as one JSON object.")
def command(token: str, jwks_file: str | None, key_dir: str | None, now_s: int | None, as_json: bool) -> None:
    """Verify TOKEN (or a scanned .../v/TOKEN URL, or - for stdin) offline. Exit 0 if genuine, else 1.

    Example: riskcard verify "https://riskcard.example/v/eyJ..." --jwks jwks.json
    """
    from miniapp.proofs import ProofError, load_jwks, load_signing_keys
    from miniapp.proofs import token_from_text, verify_token

    if jwks_file and key_dir:
        raise click.UsageError("give --jwks or --key-dir, not both")
    text = sys.stdin.read(64 * 1024) if token == "-" else token
    try:
        if jwks_file:
            with open(jwks_file, "rb") as fh:
                keys = load_jwks(fh.read(1024 * 1024))
        else:
            keys = load_signing_keys(key_dir or os.environ.get(env_name("SIGNING_KEY_DIR"),
                                                               str(SETTINGS["SIGNING_KEY_DIR"][0])))
    except (ProofError, OSError) as exc:
        raise click.ClickException(f"cannot read the keys: {exc}") from exc
    v = verify_token(token_from_text(text), keys, now=now_s)
    if as_json:
        click.echo(json.dumps({"status": v.status, "reason": v.reason, "claims": v.claims}, ensure_ascii=False))
        sys.exit(0 if v.genuine else 1)
    tz = ZoneInfo(os.environ.get(env_name("TZ"), str(SETTINGS["TZ"][0])))
    click.echo(f"status 状态: {v.status} {STATUS_ZH[v.status]}")
    click.echo(f"reason 原因: {v.reason}")
    if v.claims:
        c = v.claims
        click.echo(f"number 号码: {c['masked']}")
        click.echo(f"window 时段: {c['window'][0]} .. {c['window'][1]}")
        cities = ", ".join(f"{x['name']}{'*' if x['star'] else ''}" for x in c["cities"]) or "-"
        click.echo(f"cities 城市 (* = risk city 风险城市): {cities}")
        click.echo(f"colour 颜色: {c['colour']}")
        click.echo(f"issued 签发: {_local(c['iat'], tz)}   expires 过期: {_local(c['exp'], tz)}")
        click.echo(f"key 密钥: {c['kid']}   id: {c['jti']}")
    sys.exit(0 if v.genuine else 1)
