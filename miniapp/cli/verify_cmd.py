"""``riskcard verify``: check an itinerary-card token offline with a key set (file or URL) or key directory,
and the revocation list of the card's key; key sets and lists older than 24 h are refused."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from zoneinfo import ZoneInfo

import click

from miniapp.config import SETTINGS, env_name

STATUS_ZH = {"genuine": "真实", "forged": "伪造", "expired": "已过期", "malformed": "格式错误",
             "unknown_key": "未知密钥", "revoked": "已撤销", "revocation_unavailable": "暂时无法检查是否已撤销"}
MAX_DOCUMENT_BYTES = 1024 * 1024
FETCH_TIMEOUT_S = 10


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def _read(source: str) -> bytes:
    """The bytes of a file or an http(s) URL (at most MAX_DOCUMENT_BYTES); OSError when unreadable."""
    if not _is_url(source):
        with open(source, "rb") as fh:
            return fh.read(MAX_DOCUMENT_BYTES)
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(source, headers={"Accept": "application/json"}),
                                timeout=FETCH_TIMEOUT_S) as resp:
        return resp.read(MAX_DOCUMENT_BYTES)


def _crl_next_to(jwks_source: str, kid: str) -> str:
    """Where the list of ``kid`` lies beside a key set: crl/KID.json, as on the site (/.well-known/crl/KID.json)."""
    if _is_url(jwks_source):
        from urllib.parse import urljoin

        return urljoin(jwks_source, f"crl/{kid}.json")
    return os.path.join(os.path.dirname(os.path.abspath(jwks_source)), "crl", f"{kid}.json")


def _local(ts: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


@click.command("verify")
@click.argument("token")
@click.option("--jwks", "jwks_file", metavar="FILE_OR_URL",
              help="JWK Set: a file (saved from /.well-known/jwks.json or `riskcard keys jwks`) or its URL. "
                   "Refused when older than 24 h (its iat).")
@click.option("--crl", "crl_source", metavar="FILE_OR_URL", default=None,
              help="Revocation list of the card's key (/.well-known/crl/KID.json or `riskcard revoke list KID`); "
                   "default: crl/KID.json next to --jwks. Refused when older than 24 h.")
@click.option("--key-dir", type=click.Path(file_okay=False, exists=True),
              help="Directory of signing keys (default RISKCARD_SIGNING_KEY_DIR when no --jwks).")
@click.option("--now", "now_s", type=int, default=None, help="Check as of these Unix seconds (default: now).")
@click.option("--as-json", is_flag=True, help="Print the result as one JSON object.")
def command(token: str, jwks_file: str | None, crl_source: str | None, key_dir: str | None, now_s: int | None,
            as_json: bool) -> None:
    """Verify TOKEN (or a scanned .../v/TOKEN URL, or - for stdin) offline. Exit 0 if genuine, else 1.

    A key set (--jwks) or revocation list (--crl, or crl/KID.json next to the key set) older than 24 h,
    or without a date, is refused (exit 1): fetch them again. Without a list, revocation is reported as
    not checked; with a key set given by URL the list is fetched from beside it.

    Example: riskcard verify "https://riskcard.example/v/eyJ..." --jwks jwks.json
    """
    from miniapp.proofs import ProofError, Verification, check_fresh, load_jwks, load_revocation_list, load_signing_keys
    from miniapp.proofs import token_from_text, verify_token
    from miniapp.proofs.keys import parse_json_object

    def refused(exc: Exception) -> click.ClickException:
        return click.ClickException(f"refused 拒绝: {exc} / 密钥集或撤销列表超过24小时、没有日期或不可用，请重新下载。")

    if jwks_file and key_dir:
        raise click.UsageError("give --jwks or --key-dir, not both")
    text = sys.stdin.read(64 * 1024) if token == "-" else token
    jwks_doc = None
    try:
        if jwks_file:
            jwks_doc = parse_json_object(_read(jwks_file))
            keys = load_jwks(jwks_doc)
        else:
            keys = load_signing_keys(key_dir or os.environ.get(env_name("SIGNING_KEY_DIR"),
                                                               str(SETTINGS["SIGNING_KEY_DIR"][0])))
    except (ProofError, OSError, ValueError, RecursionError) as exc:
        raise click.ClickException(f"cannot read the keys: {exc}") from exc
    if jwks_doc is not None:
        try:
            check_fresh(jwks_doc.get("iat"), "key set", now=now_s)
        except ProofError as exc:
            raise refused(exc) from None
    v = verify_token(token_from_text(text), keys, now=now_s)
    revocation: dict = {"checked": False}
    if v.genuine and v.claims:
        kid = v.claims["kid"]
        where = crl_source or (_crl_next_to(jwks_file, kid) if jwks_file else None)
        implicit = crl_source is None and where is not None and not _is_url(where)
        if where is not None and not (implicit and not os.path.exists(where)):
            try:
                crl = load_revocation_list(_read(where))
                check_fresh(crl.iat, "revocation list", now=now_s)
                if crl.kid != kid:
                    raise ProofError(f"the revocation list is for key {crl.kid}, the card was signed by key {kid}")
            except (ProofError, OSError) as exc:
                raise refused(exc) from None
            revocation = {"checked": True, "source": where, "ctr": crl.ctr, "iat": crl.iat}
            if crl.revokes(v.claims["jti"]):
                v = Verification("revoked", v.claims, f"on the revocation list of key {kid} (ctr {crl.ctr})")
    if as_json:
        click.echo(json.dumps({"status": v.status, "reason": v.reason, "claims": v.claims, "revocation": revocation},
                              ensure_ascii=False))
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
    if revocation["checked"]:
        click.echo(f"revocation 撤销: checked 已检查 (list ctr {revocation['ctr']} of {_local(revocation['iat'], tz)})")
    elif v.genuine:
        click.echo("revocation 撤销: not checked 未检查 - no revocation list: save /.well-known/crl/KID.json as "
                   "crl/KID.json next to the key set, or give --crl / 没有撤销列表")
    sys.exit(0 if v.genuine else 1)
