"""``riskcard revoke``: revoke one card, or all of a person's cards issued before a time; print a key's list."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from zoneinfo import ZoneInfo

import click

from miniapp.cli.keys_cmd import ID_ARGUMENT
from miniapp.config import SETTINGS, env_name

_PSEUDONYM = re.compile(r"[0-9a-f]{16}")

state_url_option = click.option(
    "--state-url", envvar="RISKCARD_STATE_URL", default="sqlite:///var/state.db", show_default=True,
    help="State store (RISKCARD_STATE_URL).")


@click.group("revoke")
def command() -> None:
    """Revoke itinerary cards: the verify page then says REVOKED, and so does each key's published
    revocation list (/.well-known/crl/KID.json), which offline verifiers read.

    Example: riskcard revoke subject 68ba9da759ce5549 && riskcard revoke card 3q2-7wXkH1xB2Dc4
    """


def _open(state_url: str):
    from miniapp.state import StateError, open_state

    try:
        return open_state(state_url)
    except StateError as exc:
        raise click.ClickException(f"cannot open the state store / 无法打开状态存储: {exc}") from None


def _before_s(text: str | None) -> int:
    """Unix seconds of --before: an integer, or an ISO 8601 time (without zone: RISKCARD_TZ)."""
    if text is None:
        return int(time.time()) + 1  # every card issued so far, this second's too
    text = text.strip()
    if re.fullmatch(r"\d{1,12}", text):
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("give Unix seconds or an ISO 8601 time, e.g. 2020-02-01T12:00+08:00 / "
                                 "请给出 Unix 秒数或 ISO 8601 时间", param_hint="--before") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(os.environ.get(env_name("TZ"), str(SETTINGS["TZ"][0]))))
    return int(when.timestamp())


@command.command("card", context_settings=ID_ARGUMENT)
@click.argument("card_id")
@state_url_option
def card(card_id: str, state_url: str) -> None:
    """Revoke one card by its id (jti, shown by `riskcard verify`), or give the card's token or .../v/ URL.

    Example: riskcard revoke card 3q2-7wXkH1xB2Dc4 --state-url sqlite:///var/state.db
    """
    from miniapp.proofs import ProofError, is_packed, token_from_text, unverified_ids, unverified_jti
    from miniapp.state import StateError

    text = card_id.strip()
    scanned = token_from_text(text)
    # a token or a scanned URL (the QR code's packed digits are hundreds long; a card id is 16 characters):
    # its id, signature unchecked (revoking a forgery harms no one)
    if "." in text or (is_packed(scanned) and len(scanned) > 64):
        try:
            text = unverified_jti(scanned) if is_packed(scanned) else unverified_ids(scanned)[1]
        except ProofError as exc:
            raise click.BadParameter(f"{exc} / 不是行程卡", param_hint="CARD_ID") from None
    state = _open(state_url)
    try:
        already = state.proof_revoked(text)
        state.revoke_proof(text)
        state.audit("card.revoked", None, by="operator", jti=text, count=0 if already else 1)
    except StateError as exc:
        raise click.ClickException(f"revocation failed / 撤销失败: {exc}") from None
    finally:
        state.close()
    click.echo(f"card {text}: {'already revoked / 早已撤销' if already else 'revoked / 已撤销'}")


@command.command("subject")
@click.argument("number_or_pseudonym")
@click.option("--before", "before", default=None, metavar="TIME",
              help="Revoke the cards issued before TIME (Unix seconds or ISO 8601; default: every card so far).")
@click.option("--pseudonym-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Hex pseudonym key file (default: RISKCARD_PSEUDONYM_KEY).")
@state_url_option
def subject(number_or_pseudonym: str, before: str | None, pseudonym_key_file: str | None, state_url: str) -> None:
    """Revoke all cards of one person issued before a time, by phone number (pseudonymised with the
    pseudonym key, never stored) or by pseudonym (16 hex characters). Cards issued later are not touched.

    Example: riskcard revoke subject 68ba9da759ce5549 --before 2020-02-01T12:00+08:00
    """
    from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
    from miniapp.cli.pseudonym import pseudonym_key
    from miniapp.state import StateError

    text = number_or_pseudonym.strip()
    if _PSEUDONYM.fullmatch(text):
        pseudonym, shown = text, text
    else:
        try:
            e164 = normalise_msisdn(text)
        except PhoneNumberError:
            raise click.BadParameter("not a phone number nor a pseudonym (16 hex characters) / "
                                     "不是手机号，也不是假名", param_hint="NUMBER_OR_PSEUDONYM") from None
        pseudonym, shown = uid_to_pseudonym(pseudonymise(e164, pseudonym_key(pseudonym_key_file))), mask_msisdn(e164)
    before_s = _before_s(before)
    state = _open(state_url)
    try:
        count = state.revoke_subject_proofs(pseudonym, before_s)
        state.audit("card.revoked", pseudonym, by="operator", before=before_s, count=count)
    except StateError as exc:
        raise click.ClickException(f"revocation failed / 撤销失败: {exc}") from None
    finally:
        state.close()
    when = dt.datetime.fromtimestamp(before_s, dt.timezone.utc).isoformat(timespec="seconds")
    click.echo(f"{shown} ({pseudonym}): revoked {count} card(s) issued before {when} / 已撤销 {count} 张行程卡")


@command.command("list", context_settings=ID_ARGUMENT)
@click.argument("kid")
@state_url_option
def list_cmd(kid: str, state_url: str) -> None:
    """Print the revocation list of key KID (JSON, as /.well-known/crl/KID.json) for offline verifiers.

    Example: riskcard revoke list KID > crl/KID.json && riskcard verify TOKEN --jwks jwks.json
    """
    from miniapp.proofs import is_kid, revocation_list
    from miniapp.state import StateError

    if not is_kid(kid):
        raise click.BadParameter("a key id is 43 base64url characters (riskcard keys list) / 密钥编号格式不对",
                                 param_hint="KID")
    state = _open(state_url)
    try:
        doc = revocation_list(state, kid)
    except StateError as exc:
        raise click.ClickException(f"cannot read the revocations / 无法读取撤销记录: {exc}") from None
    finally:
        state.close()
    click.echo(json.dumps(doc, indent=2))
