"""The pseudonym key of commands that read or write feeds, from a file or the environment."""

from __future__ import annotations

import os
from pathlib import Path

import click

from miniapp.config import env_name


def pseudonym_key(key_file: str | None = None) -> bytes:
    """The HMAC key of phone pseudonyms: hex in ``key_file``, else in RISKCARD_PSEUDONYM_KEY."""
    if key_file:
        text = Path(key_file).read_text(encoding="utf-8").strip()
        source = key_file
    else:
        text = os.environ.get(env_name("PSEUDONYM_KEY"), "").strip()
        source = env_name("PSEUDONYM_KEY")
        if not text:
            raise click.ClickException(
                f"{source} is not set: the pseudonym key (hex, >= 16 bytes) is needed to turn numbers into uids. "
                f"Hint: export {source}=$(python -c 'import secrets; print(secrets.token_hex(32))') / "
                f"未设置假名密钥 {source}（十六进制，至少 16 字节）。")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise click.ClickException(f"{source} is not hex / 密钥不是十六进制") from None
    if len(key) < 16:
        raise click.ClickException(f"{source} is too short: need >= 16 bytes (32 hex characters) / 密钥太短")
    return key
