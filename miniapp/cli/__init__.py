"""The ``riskcard`` command group. Each command lives in its own module here and is a thin wrapper
over library functions; this module only assembles them."""

from __future__ import annotations

import importlib

import click

# Modules in this package that each define ``command`` (a click command or group).
COMMAND_MODULES: list[str] = [
    "demo_cmd",
    "keys_cmd",
    "verify_cmd",
    "revoke_cmd",
    "serve_cmd",
    "alerts_cmd",
    "synth_cmd",
    "build_cmd",
    "rollback_cmd",
    "forecast_cmd",
    "backtest_cmd",
    "purge_cmd",
    "crowd_cmd",
    "snapshot_cmd",
]


@click.group()
@click.version_option(package_name="riskcard")
def cli() -> None:
    """riskcard: epidemic-risk grades, itinerary cards and the engine behind them.

    Example: riskcard demo
    """


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"{__name__}.{_name}").command)
