"""R_t as a daily series with intervals, the growth rate and the doubling time, from reported counts.

The renewal-equation estimator of Cori et al. (2013): over a sliding window of ``window_days`` ending
on day t, ``R_t ~ Gamma(a + sum I, 1 / (1 / b + sum Lambda))`` with ``Lambda_t = sum_s w_s I_{t-s}``
(``w`` the discretised serial interval: gamma, mean 7.5 days, sd 3.4, Li Q. et al., NEJM 2020) and
the prior ``Gamma(a=1, b=5)``. Growth rate per day from R (Wallinga & Lipsitch 2007, gamma serial
interval of shape ``k`` and scale ``s``): ``r = (R^(1/k) - 1) / s``; doubling time ``ln 2 / r``
where ``r > 0`` (NaN otherwise). All regions at once (vectorised); reported counts include the
reporting delay, so R_t on day t describes infections about a reporting delay earlier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

SERIAL_INTERVAL_MEAN_DAYS = 7.5
SERIAL_INTERVAL_SD_DAYS = 3.4
LEVELS = (0.025, 0.25, 0.5, 0.75, 0.975)


def serial_interval_pmf(mean_days: float = SERIAL_INTERVAL_MEAN_DAYS, sd_days: float = SERIAL_INTERVAL_SD_DAYS,
                        max_days: int = 30) -> np.ndarray:
    """Discretised gamma serial interval on days 1 .. ``max_days`` (sums to 1).

    Examples
    --------
    >>> w = serial_interval_pmf()
    >>> round(float(w.sum()), 6), int(np.argmax(w)) + 1
    (1.0, 6)
    """
    k = (mean_days / sd_days) ** 2
    cdf = stats.gamma.cdf(np.arange(0, max_days + 1) + 0.5, k, scale=sd_days**2 / mean_days)
    w = np.diff(cdf)
    return w / w.sum()


def rt_quantiles(daily: pd.DataFrame, window_days: int = 7, levels=LEVELS, prior_shape: float = 1.0,
                 prior_scale: float = 5.0, min_cases: float = 12.0) -> dict[float, pd.DataFrame]:
    """Quantiles of R_t per day and region.

    Parameters
    ----------
    daily : DataFrame
        Daily reported cases, consecutive dates x regions, >= 0.
    window_days : int
        Days of the sliding window.
    levels : tuple of float
        Quantile levels.
    prior_shape, prior_scale : float
        Gamma prior of R.
    min_cases : float
        Windows with fewer cases than this are NaN (the estimate would be the prior).

    Returns
    -------
    dict of float to DataFrame
        Level -> dates x regions.

    Examples
    --------
    >>> d = pd.DataFrame({"A": 10.0 * 1.1 ** np.arange(40)}, index=pd.date_range("2020-01-01", periods=40))
    >>> q = rt_quantiles(d)
    >>> 1.7 < float(q[0.5]["A"].iloc[-1]) < 2.3
    True
    """
    y = daily.to_numpy(float)
    w = serial_interval_pmf()
    lam = np.zeros_like(y)
    for s, ws in enumerate(w, start=1):  # 30 lags, each a vectorised shift over all days and regions
        lam[s:] += ws * y[:-s]
    csum = lambda a: np.cumsum(np.vstack([np.zeros((1, a.shape[1])), a]), axis=0)  # noqa: E731
    cy, cl = csum(y), csum(lam)
    end = np.arange(1, len(y) + 1)
    start = np.maximum(end - window_days, 0)
    sy, sl = cy[end] - cy[start], cl[end] - cl[start]
    shape = prior_shape + sy
    scale = 1.0 / (1.0 / prior_scale + sl)
    ok = (sy >= min_cases) & (sl > 0)
    return {lv: pd.DataFrame(np.where(ok, stats.gamma.ppf(lv, shape, scale=scale), np.nan),
                             index=daily.index, columns=daily.columns) for lv in levels}


def growth_rate(rt: np.ndarray | float, mean_days: float = SERIAL_INTERVAL_MEAN_DAYS,
                sd_days: float = SERIAL_INTERVAL_SD_DAYS) -> np.ndarray:
    """Growth rate per day implied by R (gamma serial interval).

    Examples
    --------
    >>> float(growth_rate(1.0))
    0.0
    >>> bool(growth_rate(2.0) > 0 > growth_rate(0.5))
    True
    """
    k = (mean_days / sd_days) ** 2
    s = sd_days**2 / mean_days
    return (np.power(np.asarray(rt, float), 1.0 / k) - 1.0) / s


def doubling_time_days(r: np.ndarray | float) -> np.ndarray:
    """``ln 2 / r`` where the growth rate ``r`` > 0, NaN elsewhere (no doubling).

    Examples
    --------
    >>> round(float(doubling_time_days(np.log(2) / 7)), 6), bool(np.isnan(doubling_time_days(-0.1)))
    (7.0, True)
    """
    r = np.asarray(r, float)
    return np.where(r > 0, np.log(2.0) / np.where(r > 0, r, 1.0), np.nan)
