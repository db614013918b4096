"""Write docs/cli.md from the `riskcard` click group (run after changing a command).

Usage: .venv/bin/python scripts/gen_cli_docs.py   (tests/miniapp/test_docs.py checks it is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

HEADER = """# The `riskcard` command

One click group; each command is a thin wrapper over library functions. Every command takes
`--help`. Settings come from `RISKCARD_*` environment variables (docs/settings.md).

This page is generated from the commands by `scripts/gen_cli_docs.py`; do not edit it by hand.
"""


def _help(cmd: click.Command, path: list[str]) -> str:
    ctx = click.Context(cmd, info_name=" ".join(path))
    return cmd.get_help(ctx)


def render() -> str:
    from miniapp.cli import cli

    parts = [HEADER]
    for name in sorted(cli.commands):
        cmd = cli.commands[name]
        parts.append(f"\n## riskcard {name}\n\n```\n{_help(cmd, ['riskcard', name])}\n```\n")
        if isinstance(cmd, click.Group):
            for sub in sorted(cmd.commands):
                parts.append(f"\n### riskcard {name} {sub}\n\n```\n{_help(cmd.commands[sub], ['riskcard', name, sub])}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
