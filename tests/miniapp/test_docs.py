"""The docs tell the truth about settings and commands."""

from pathlib import Path

from click.testing import CliRunner

from miniapp.cli import cli
from miniapp.config import SETTINGS, env_name

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_setting_is_documented():
    text = (DOCS / "settings.md").read_text(encoding="utf-8")
    missing = [env_name(k) for k in SETTINGS if f"`{env_name(k)}`" not in text]
    assert missing == []


def test_every_command_has_an_example():
    import click

    for name, command in cli.commands.items():
        assert "Example" in (command.help or ""), f"`riskcard {name}` has no example in its docstring"
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                assert "Example" in (sub.help or ""), f"`riskcard {name} {sub_name}` has no example"


def test_cli_doc_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_cli_docs", DOCS.parent / "scripts" / "gen_cli_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == gen.render(), (
        "docs/cli.md is stale: run .venv/bin/python scripts/gen_cli_docs.py"
    )


def test_every_command_has_working_help():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
