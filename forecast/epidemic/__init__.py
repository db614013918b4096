"""The epidemic: a metapopulation SEIR, its fit to case series, baselines, scoring and backtests (docs/forecast.md).

- :mod:`~forecast.epidemic.seir`: the model (compartments, mobility coupling, interventions, R_t);
- :mod:`~forecast.epidemic.fit`: the ensemble Kalman filter fit, forecast samples and quantiles, the
  OD matrix and the forecast sequence the CLI and the build share;
- :mod:`~forecast.epidemic.baselines`: persistence and log-linear baselines (the Forecast Hub's);
- :mod:`~forecast.epidemic.scoring`: weighted interval score, coverage, relative WIS;
- :mod:`~forecast.epidemic.dispersion`: the forecast's negative-binomial dispersion fitted before the origin;
- :mod:`~forecast.epidemic.backtest`: rolling-origin backtests on the 2020 data;
- :mod:`~forecast.epidemic.china2020`: readers of the 2020 case counts and mobility.
"""

from forecast.epidemic.baselines import loglinear_quantiles, persistence_quantiles
from forecast.epidemic.fit import (DEFAULT_CONTACTS_PER_CASE, FitResult, SeriesError, correct_reporting_changes,
                                   daily_from_cumulative, fit_eakf, forecast_quantiles, forecast_samples, od_matrix,
                                   quantile_table)
from forecast.epidemic.scoring import QUANTILES, coverage, relative_wis, wis
from forecast.epidemic.seir import reproduction_number, simulate

__all__ = [
    "DEFAULT_CONTACTS_PER_CASE", "QUANTILES", "FitResult", "SeriesError", "correct_reporting_changes", "coverage",
    "daily_from_cumulative", "fit_eakf", "forecast_quantiles", "forecast_samples", "od_matrix", "loglinear_quantiles", "persistence_quantiles",
    "quantile_table", "relative_wis", "reproduction_number", "simulate", "wis",
]
