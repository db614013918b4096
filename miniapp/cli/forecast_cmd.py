"""``riskcard forecast``: fit the metapopulation SEIR to a case series (and flows) and write quantiles."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd

from forecast.epidemic import china2020, fit

REGION_COLUMNS = ("region", "province", "city", "city_code", "city_en")


def _read_table(path: str) -> pd.DataFrame:
    p = Path(path)
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    return pd.read_csv(p)


def load_series(path: str) -> tuple[pd.DataFrame, list[str]]:
    """Daily counts (dates x regions) from a long CSV/Parquet with ``date``, a region column and
    ``confirmed`` (cumulative) or ``new``/``new_reported`` (daily)."""
    df = _read_table(path)
    region = next((c for c in REGION_COLUMNS if c in df.columns), None)
    if region is None or "date" not in df.columns:
        raise click.UsageError(f"series needs 'date' and one of {REGION_COLUMNS} / 病例序列需要日期和地区列")
    if "confirmed" in df.columns:
        return fit.daily_from_cumulative(df, region_col=region)
    new = next((c for c in ("new", "new_reported") if c in df.columns), None)
    if new is None:
        raise click.UsageError("series needs 'confirmed' (cumulative) or 'new' / 需要累计或新增列")
    cum = df.sort_values("date").assign(confirmed=lambda d: d.groupby(region)[new].cumsum())
    first = pd.to_datetime(cum["date"]).min() - pd.Timedelta(days=1)
    zero = pd.DataFrame({"date": first, region: cum[region].unique(), "confirmed": 0})
    return fit.daily_from_cumulative(pd.concat([zero, cum.assign(date=pd.to_datetime(cum["date"]))]),
                                     region_col=region)


def load_flows(path: str | None, regions: list[str]) -> np.ndarray | None:
    """Static OD matrix (mean over days) from a table origin, destination, trips|Mobility Index."""
    if path is None:
        return None
    df = _read_table(path).rename(columns={"Origin": "origin", "Destination": "destination",
                                           "Mobility Index": "trips"})
    if not {"origin", "destination", "trips"} <= set(df.columns):
        raise click.UsageError("flows need origin, destination, trips / 流量表需要 origin, destination, trips")
    df = df.assign(origin=df["origin"].astype(str), destination=df["destination"].astype(str))
    day_col = next((c for c in ("local_date", "date", "Day") if c in df.columns), None)
    if not (df["origin"].isin(regions) & df["destination"].isin(regions)).any():
        raise click.UsageError("no flow matches the series' regions / 流量与病例地区不匹配")
    return fit.od_matrix(df, regions, day_col=day_col)


@click.command("forecast")
@click.option("--series", required=True, type=click.Path(exists=True, dir_okay=False), help="Case series CSV/Parquet.")
@click.option("--flows", type=click.Path(exists=True, dir_okay=False), help="Flows CSV/Parquet (optional).")
@click.option("--population", type=click.Path(exists=True, dir_okay=False),
              help="CSV region,population (default: built-in province populations).")
@click.option("--as-of", "as_of", required=True, help="Last day of data used (YYYY-MM-DD).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .csv or .parquet.")
@click.option("--horizon-days", default=30, show_default=True, type=click.IntRange(1, 60))
@click.option("--members", default=300, show_default=True, type=click.IntRange(10, 5000))
@click.option("--contacts-per-case", default=fit.DEFAULT_CONTACTS_PER_CASE, show_default=True, type=float)
@click.option("--spread-scale", default=1.0, show_default=True, type=float,
              help="Log-scale widening (>1) or narrowing of the ensemble quantiles; 1 = the raw "
                   "ensemble, which the province backtest found calibrated (docs/forecast.md).")
@click.option("--no-correct", is_flag=True, help="Do not correct known reporting changes.")
def command(series, flows, population, as_of, out, horizon_days, members, contacts_per_case, spread_scale,
            no_correct):
    """Fit the SEIR to SERIES up to --as-of and write quantile forecasts / 拟合并输出分位数预测.

    Example: riskcard forecast --series china_province_confirmed_cum.csv --as-of 2020-02-10 --out q.csv
    """
    try:
        daily, log = load_series(series)
        day = pd.Timestamp(as_of)
        if day not in daily.index:
            raise fit.SeriesError(f"--as-of {as_of} is not in the series / 日期不在序列中")
        daily = daily.loc[:day]
        if not no_correct:
            daily, more = fit.correct_reporting_changes(daily)
            log += more
        regions = list(daily.columns)
        if population:
            p = _read_table(population)
            pop = p.set_index(p.columns[0])[p.columns[1]].astype(float)
            missing = [r for r in regions if r not in pop.index]
            if missing:
                raise fit.SeriesError(f"unknown regions (no population): {missing} / 未知地区")
            pop = pop[regions].to_numpy()
        else:
            pop = china2020.province_population(regions)
        od = load_flows(flows, regions)
        table = fit.forecast_quantiles(daily, pop, od, horizon_days=horizon_days, n_members=members,
                                       spread_scale=spread_scale, contacts_per_case=contacts_per_case)
    except (fit.SeriesError, KeyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - users get a message, never a traceback
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from None
    for line in log:
        click.echo(f"correction: {line}", err=True)
    if out.endswith(".parquet"):
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    click.echo(f"wrote {len(table)} rows for {len(regions)} regions to {out} / 已写出")
