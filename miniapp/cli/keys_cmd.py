"""``riskcard keys``: create, list and retire the Ed25519 keys that sign itinerary cards."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import click

from miniapp.config import SETTINGS, env_name


def default_key_dir() -> str:
    return os.environ.get(env_name("SIGNING_KEY_DIR"), str(SETTINGS["SIGNING_KEY_DIR"][0]))


#: Key ids (RFC 7638 thumbprints) and card ids are base64url: one in 64 begins with "-", which click would
#: take for an option; a command with an id argument keeps unknown options as the argument (none of them
#: has short options).
ID_ARGUMENT = {"ignore_unknown_options": True}

key_dir_option = click.option(
    "--key-dir", type=click.Path(file_okay=False), default=default_key_dir, show_default="RISKCARD_SIGNING_KEY_DIR",
    help="Directory of the signing keys.")


@click.group("keys")
def command() -> None:
    """Signing keys of itinerary cards (newest signs, all listed verify).

    Example: riskcard keys new && riskcard keys list
    """


def _load(key_dir: str):
    from miniapp.proofs import ProofError, load_signing_keys

    try:
        return load_signing_keys(key_dir)
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("new")
@key_dir_option
@click.option("--activate-in-hours", type=float, default=0.0, show_default=True,
              help="Publish now, start signing later (let verifiers' cached key sets catch up).")
def new(key_dir: str, activate_in_hours: float) -> None:
    """Create a key and print its key id.

    Example: RISKCARD_SIGNING_KEY_DIR=var/keys riskcard keys new --activate-in-hours 1
    """
    from miniapp.proofs import generate_key

    if activate_in_hours < 0:
        raise click.BadParameter("must not be negative", param_hint="--activate-in-hours")
    kid = generate_key(key_dir, not_before_s=int(time.time() + activate_in_hours * 3600))
    click.echo(kid)


@command.command("list")
@key_dir_option
def list_keys(key_dir: str) -> None:
    """List keys: key id, signing from, and which one signs now.

    Example: riskcard keys list --key-dir var/keys
    """
    ring = _load(key_dir)
    if not ring.keys:
        click.echo(f"no keys in {key_dir} (run: riskcard keys new)")
        return
    now = int(time.time())
    try:
        signer = ring.signer(now).kid
    except ValueError:
        signer = None
    for k in sorted(ring.keys, key=lambda k: -k.not_before_s):
        since = dt.datetime.fromtimestamp(k.not_before_s, dt.timezone.utc).isoformat(timespec="seconds")
        role = "signing" if k.kid == signer else ("pending" if k.not_before_s > now else "verify-only")
        click.echo(f"{k.kid}  {since}  {role}")


@command.command("retire", context_settings=ID_ARGUMENT)
@key_dir_option
@click.argument("kid")
def retire(key_dir: str, kid: str) -> None:
    """Retire a key: it stops signing and verifying (its file is kept as *.pem.retired).

    Example: riskcard keys retire kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k
    """
    from miniapp.proofs import ProofError, retire_key

    try:
        click.echo(str(retire_key(key_dir, kid)))
    except ProofError as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("jwks")
@key_dir_option
def jwks_cmd(key_dir: str) -> None:
    """Print the public key set (JSON) for offline verifiers.

    Example: riskcard keys jwks > jwks.json && riskcard verify TOKEN --jwks jwks.json
    """
    from miniapp.proofs import jwks

    click.echo(json.dumps(jwks(_load(key_dir)), indent=2))
