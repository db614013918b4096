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


def test_every_command_is_documented_with_an_example():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"riskcard {name}" in text, f"docs/cli.md does not show `riskcard {name}`"
        assert "Example" in (command.help or ""), f"`riskcard {name}` has no example in its docstring"


def test_every_command_has_working_help():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
