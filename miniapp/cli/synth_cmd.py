"""``riskcard synth``: generate a synthetic nation (feeds + ground truth) into a directory."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from miniapp.cli.pseudonym import pseudonym_key


def _date(ctx, param, value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD / 日期格式应为 YYYY-MM-DD") from None


@click.command("synth")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--subscribers", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--cities", type=click.IntRange(1, 370), default=6, show_default=True, help="Most populous cities.")
@click.option("--days", type=click.IntRange(min=1), default=14, show_default=True, help="Days with pings before --as-of.")
@click.option("--as-of", default="2020-02-01", show_default=True, callback=_date, help="Local date of the snapshot.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--communities-per-city", type=click.IntRange(1, 8999), default=8, show_default=True)
@click.option("--epidemic-days", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--chunk-subscribers", type=click.IntRange(min=1), default=16_384, show_default=True,
              help="Subscribers generated and written per step (memory ~ 0.2 KB per ping of a step).")
@click.option("--pseudonym-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding the hex key (instead of RISKCARD_PSEUDONYM_KEY).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(out_dir, subscribers, cities, days, as_of, seed, communities_per_city, epidemic_days, fmt,
            chunk_subscribers, pseudonym_key_file, quiet) -> None:
    """Generate a synthetic nation: pings, cells, communities, cities, cases, case trips, city case
    series, and the ground truth under OUT/truth (true stays, city-days, contacts, infections).

    Example: RISKCARD_PSEUDONYM_KEY=$(openssl rand -hex 32) riskcard synth --out var/nation --subscribers 2000 --cities 6 --days 14 --as-of 2020-02-01 --seed 0
    """
    from forecast.synth import NationConfig, generate_nation_to_dir

    key = pseudonym_key(pseudonym_key_file)
    if days > epidemic_days:
        raise click.BadParameter("must not exceed --epidemic-days / 不能超过疫情模拟天数", param_hint="--days")
    cfg = NationConfig(n_cities=cities, n_subscribers=subscribers, n_days=days, as_of=as_of, seed=seed,
                       communities_per_city=communities_per_city, epidemic_days=epidemic_days)
    paths = generate_nation_to_dir(cfg, key, Path(out_dir), chunk_subscribers=chunk_subscribers, fmt=fmt,
                                   progress=not quiet)
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    summary.pop("config", None)
    click.echo(json.dumps({"out": str(out_dir), **summary}, ensure_ascii=False))
