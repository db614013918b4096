"""Dispersion of the forecast's negative-binomial reporting noise, fitted on data before the origin
only (docs/forecast.md "Dispersion"): from the noise of the counts around their trend
(:func:`nb_size_from_history`) or by maximum likelihood on earlier forecasts' observed errors
(:func:`learn_nb_size`). Pure: numpy/pandas in and out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from forecast.epidemic.scoring import QUANTILES

#: Candidate sizes of :func:`learn_nb_size` (0.5 .. 1000, log-spaced): from far wider than Poisson
#: to Poisson.
NB_SIZE_GRID = np.geomspace(0.5, 1000.0, 45)


def nb_size_from_history(daily: pd.DataFrame, window_days: int = 7, bounds: tuple[float, float] = (1.0, 1000.0)
                         ) -> float:
    """Negative-binomial size of daily counts around their trend, from the history only (method of
    moments pooled over days and regions): the trend ``m`` is the centred ``window_days`` moving
    mean, the residual variance ``(y - m)^2 / (1 - 1/window_days)`` (the mean contains ``y``
    itself) is ``m + m^2 / size``, so ``size = sum m^2 / sum (residual variance - m)``, clipped
    to ``bounds`` (``bounds[1]``: no overdispersion found). Days without a full window (the last
    ``window_days // 2``) and zero trends are left out.

    Parameters
    ----------
    daily : DataFrame
        Daily counts up to the forecast origin, dates x regions.
    window_days : int
        Width of the centred moving mean (odd).
    bounds : (float, float)
        Smallest and largest size returned.

    Returns
    -------
    float
        The pooled size (variance ``m + m^2 / size``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> trend = np.linspace(50, 500, 60)[:, None] * np.ones((1, 20))
    >>> y = pd.DataFrame(rng.negative_binomial(5, 5 / (5 + trend)).astype(float))
    >>> 3.5 < nb_size_from_history(y) < 7
    True
    """
    y = daily.to_numpy(float)
    m = daily.rolling(window_days, center=True).mean().to_numpy()
    ok = np.isfinite(m) & (m > 0)
    if not ok.any():
        return float(bounds[1])
    var = (y[ok] - m[ok]) ** 2 / (1.0 - 1.0 / window_days)
    excess = float((var - m[ok]).sum())
    if excess <= 0:
        return float(bounds[1])
    return float(np.clip((m[ok] ** 2).sum() / excess, *bounds))


def learn_nb_size(mean_q: np.ndarray, y: np.ndarray, grid: np.ndarray = NB_SIZE_GRID) -> float:
    """Maximum-likelihood size of the negative-binomial reporting noise around an ensemble's
    expected counts, from past tasks: the predictive of task ``j`` is the mixture over the 23
    quantiles ``mean_q[:, j]`` of the members' expected counts (each weighted by the probability
    between the midpoints of its neighbouring levels) of NB(quantile, size); the size of ``grid``
    with the highest log-likelihood of ``y`` is returned.

    Parameters
    ----------
    mean_q : ndarray
        ``(23, n)`` quantiles (levels :data:`forecast.epidemic.scoring.QUANTILES`) of the members'
        expected counts, one column per past task.
    y : ndarray
        ``(n,)`` the observed counts of those tasks.
    grid : ndarray
        Candidate sizes.

    Returns
    -------
    float
        The size (variance ``m + m^2 / size`` around a member's expected count ``m``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = rng.uniform(5, 500, 3000)
    >>> y = rng.negative_binomial(4, 4 / (4 + m)).astype(float)
    >>> 3 < learn_nb_size(np.tile(m, (23, 1)), y) < 5.5
    True
    """
    edges = np.r_[0.0, (QUANTILES[1:] + QUANTILES[:-1]) / 2, 1.0]
    w = np.diff(edges)[:, None]
    m = np.maximum(np.asarray(mean_q, float), 1e-9)
    y = np.asarray(y, float)
    ll = []
    for k in grid:
        lp = (gammaln(y + k) - gammaln(k) - gammaln(y + 1))[None] + k * np.log(k / (k + m)) \
            + y[None] * np.log(m / (k + m))
        top = lp.max(axis=0)
        ll.append(float(np.sum(top + np.log((w * np.exp(lp - top)).sum(axis=0)))))
    return float(grid[int(np.argmax(ll))])
