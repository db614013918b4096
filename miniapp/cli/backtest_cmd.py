"""``riskcard backtest``: rolling-origin backtest of the SEIR forecast on the real 2020 China data."""

from __future__ import annotations

import json

import click
import pandas as pd

from forecast.epidemic import backtest

COLUMNS = ["n_tasks", "mean_wis_seir", "mean_wis_persistence", "mean_wis_loglinear",
           "relative_wis_vs_persistence", "relative_wis_vs_loglinear", "coverage_50", "coverage_95",
           "coverage_50_randomised", "coverage_95_randomised"]


@click.command("backtest")
@click.option("--level", type=click.Choice(["province", "city"]), default="province", show_default=True)
@click.option("--start", default="2020-01-24", show_default=True)
@click.option("--end", default="2020-03-10", show_default=True)
@click.option("--every-days", default=3, show_default=True, type=click.IntRange(1, 30))
@click.option("--horizon-days", default=30, show_default=True, type=click.IntRange(1, 30))
@click.option("--members", default=300, show_default=True, type=click.IntRange(10, 5000))
@click.option("--include-hubei-0212", is_flag=True, help="Score Hubei 2020-02-12 too (excluded by default).")
@click.option("--no-correct", is_flag=True, help="Fit on the raw series (no reporting-change correction).")
@click.option("--calibration", type=click.Choice(["none", "single", "levels"]), default="none", show_default=True,
              help="Spread calibration learned from past origins' observed tasks only.")
@click.option("--dispersion", type=click.Choice(list(backtest.DISPERSIONS)), default="learned", show_default=True,
              help="Negative-binomial size of the reporting noise: fixed 20, from the counts' noise around "
                   "their trend, or learned by maximum likelihood on earlier origins' observed tasks.")
@click.option("--imports", type=click.Choice(list(backtest.IMPORTS)), default="fit", show_default=True,
              help="Import term from Wuhan's outflow (province level): none, over the fit up to the origin, "
                   "or over the forecast too (docs/forecast.md).")
@click.option("--beta-walk-sd", default=None, type=click.FloatRange(0, 3),
              help="Filter's daily random-walk sd of log beta (default: fit_eakf's, 0.7).")
@click.option("--seed", default=None, type=int, help="One seed of the filter's ensemble (instead of --seeds).")
@click.option("--seeds", default="0,1,2", show_default=True,
              help="Monte Carlo seeds, comma-separated: scores per seed and their mean (issue 19).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Override of RISKCARD_CHINA2020_DIR.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object of the scores.")
def command(level, start, end, every_days, horizon_days, members, include_hubei_0212, no_correct, calibration,
            dispersion, imports, beta_walk_sd, seed, seeds, data_dir, as_json):
    """Backtest forecasts from rolling origins and print scores by horizon / 滚动回测并按预测天数输出评分.

    Example: riskcard backtest --json --level province --start 2020-01-24 --end 2020-03-10 --every-days 3
    """
    try:
        inputs = backtest.province_inputs(data_dir) if level == "province" else backtest.city_inputs(data_dir)
        if level == "city" and imports != "none":
            imports = "none"  # Wuhan's outflow is read by province only
            click.echo("note: --imports applies to provinces only; cities run without it / 城市级不含输入项",
                       err=True)
        origins = pd.date_range(start, end, freq=f"{every_days}D")
        seed_list = [seed] if seed is not None else [int(s) for s in str(seeds).split(",") if s.strip()]
        if not seed_list:
            raise click.ClickException("--seeds: give at least one seed / 至少一个随机种子")
        per_seed = {}
        for sd in seed_list:
            fit_kwargs = {"n_members": members, "seed": sd}
            if beta_walk_sd is not None:
                fit_kwargs["beta_walk_sd"] = beta_walk_sd
            per_seed[sd] = backtest.run_backtest(
                inputs, origins, horizon_days, correct=not no_correct,
                exclude=() if include_hubei_0212 else backtest.DEFAULT_EXCLUDE,
                calibration=calibration, fit_kwargs=fit_kwargs, dispersion=dispersion, imports=imports)
        tasks = per_seed[seed_list[0]]
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - users get a message, never a traceback
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    summary = backtest.summarise(tasks)
    seed_summaries = {sd: backtest.summarise(t) for sd, t in per_seed.items()}
    for line in inputs.log:
        click.echo(f"correction: {line}", err=True)
    table = backtest.horizon_table(summary)[COLUMNS]
    click.echo(f"{level}: {len(origins)} origins x {inputs.daily.shape[1]} regions x {horizon_days} horizons")
    click.echo(table.round(3).to_string())
    for name, per in summary.get("by_period", {}).items():
        click.echo(f"{name} origins: " + ", ".join(f"{k}={per[k]:.3f}" for k in COLUMNS[4:]))
    if as_json:
        summary.update(level=level, start=start, end=end, every_days=every_days,
                       hubei_2020_02_12_scored=include_hubei_0212, corrected=not no_correct,
                       calibration=calibration, dispersion=dispersion, imports=imports, seed=seed_list[0],
                       development_end=str(backtest.DEV_END.date()),
                       fit_kwargs=fit_kwargs, horizon_days=horizon_days, seeds=seed_list,
                       **backtest.seed_means(seed_summaries))
        click.echo(json.dumps(summary))
