"""Baselines for relative WIS: persistence the Forecast Hub way, and log-linear growth.

Persistence (COVIDhub-baseline): median = last observed value (or the mean of the last week with
``level="week_mean"``); the spread comes from the empirical distribution of past one-day changes,
symmetrised (each change and its negative); horizon h adds h resampled changes (a random walk,
whose samples are symmetrised again so the median is exactly the last value), clipped at 0.

Log-linear: least squares of ``log(y + 1)`` on time over the last ``window_days``; normal prediction
intervals on the log scale (residual sd with the parameter-uncertainty term of a linear
regression, normal quantiles).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from forecast.epidemic.scoring import QUANTILES


def _history(history: np.ndarray, min_days: int) -> np.ndarray:
    h = np.asarray(history, float)
    if h.ndim == 1:
        h = h[:, None]
    if h.ndim != 2 or len(h) < min_days:
        raise ValueError(f"need a (days, regions) history of >= {min_days} days / 历史数据天数不足")
    if not np.all(np.isfinite(h)) or (h < 0).any():
        raise ValueError("history must be finite and >= 0 / 历史数据必须为非负有限数")
    return h


def persistence_quantiles(history: np.ndarray, horizon_days: int, *, level: str = "last",
                          n_samples: int = 4000, seed: int = 0) -> np.ndarray:
    """Quantiles ``(23, horizon_days, regions)`` of the persistence baseline.

    Parameters
    ----------
    history : ndarray
        Daily counts up to the forecast origin, ``(days,)`` or ``(days, regions)``; at least 2 days,
        finite and >= 0 (``ValueError`` otherwise).
    horizon_days : int
        Days forecast after the last day of ``history``.
    level : {"last", "week_mean"}
        The median: the last day's value, or the mean of the last 7 days.
    n_samples : int
        Random-walk paths drawn per region (doubled by the symmetrisation).
    seed : int
        Seed of the random generator (the same seed gives the same quantiles).

    Returns
    -------
    ndarray
        ``(23, horizon_days, regions)``: the quantiles at the levels of
        :data:`forecast.epidemic.scoring.QUANTILES` (axis 0), clipped at 0.

    Examples
    --------
    >>> q = persistence_quantiles(np.array([10.0, 12, 11, 13, 12]), 2)
    >>> q.shape, q[11, :, 0].tolist()
    ((23, 2, 1), [12.0, 12.0])
    >>> bool(q[0, 1, 0] < q[0, 0, 0] < 12 < q[22, 0, 0] < q[22, 1, 0])
    True
    """
    h = _history(history, 2)
    if level == "last":
        centre = h[-1]
    elif level == "week_mean":
        centre = h[-7:].mean(axis=0)
    else:
        raise ValueError("level must be 'last' or 'week_mean'")
    diffs = np.diff(h, axis=0)
    sym = np.concatenate([diffs, -diffs])  # (2(T-1), R)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sym), (n_samples, horizon_days, h.shape[1]))
    steps = np.take_along_axis(sym[None], idx.reshape(n_samples, -1, h.shape[1]), axis=1)
    walk = np.cumsum(steps.reshape(n_samples, horizon_days, h.shape[1]), axis=1)
    walk = np.concatenate([walk, -walk])  # exactly symmetric sample: its median is 0
    q = np.quantile(walk, QUANTILES, axis=0) + centre
    return np.maximum(q, 0.0)


def loglinear_quantiles(history: np.ndarray, horizon_days: int, *, window_days: int = 14) -> np.ndarray:
    """Quantiles ``(23, horizon_days, regions)`` of a log-linear growth fit to the last days.

    Parameters
    ----------
    history : ndarray
        Daily counts up to the forecast origin, ``(days,)`` or ``(days, regions)``; at least 3 days,
        finite and >= 0 (``ValueError`` otherwise).
    horizon_days : int
        Days forecast after the last day of ``history``.
    window_days : int
        Number of last days of ``history`` the line is fitted to.

    Returns
    -------
    ndarray
        ``(23, horizon_days, regions)``: the quantiles at the levels of
        :data:`forecast.epidemic.scoring.QUANTILES` (axis 0), clipped at 0.

    Examples
    --------
    >>> y = np.round(np.exp(0.1 * np.arange(14)) * 20)
    >>> q = loglinear_quantiles(y, 3)
    >>> bool(abs(q[11, 0, 0] - 20 * np.exp(1.4)) < 3)
    True
    """
    h = _history(history, 3)[-window_days:]
    n = len(h)
    t = np.arange(n, dtype=float)
    ly = np.log1p(h)
    tm = t.mean()
    sxx = ((t - tm) ** 2).sum()
    slope = ((t - tm)[:, None] * (ly - ly.mean(axis=0))).sum(axis=0) / sxx
    icpt = ly.mean(axis=0) - slope * tm
    resid = ly - (icpt + slope * t[:, None])
    sd = np.sqrt((resid**2).sum(axis=0) / max(n - 2, 1))
    tf = n - 1 + np.arange(1, horizon_days + 1, dtype=float)
    mean = icpt[None] + slope[None] * tf[:, None]  # (H, R)
    pred_sd = sd[None] * np.sqrt(1 + 1 / n + ((tf - tm) ** 2 / sxx))[:, None]
    z = stats.norm.ppf(QUANTILES)
    q = np.expm1(mean[None] + z[:, None, None] * pred_sd[None])
    return np.maximum(q, 0.0)
