"""Scores of quantile forecasts: the weighted interval score (WIS) of Bracher et al. (2021), as the
COVID-19 Forecast Hub computes it from 23 quantiles, interval coverage and relative WIS.

WIS with K = 11 central intervals (alpha = 0.02, 0.05, 0.1, 0.2, ..., 0.9) and the median:
``WIS = (0.5 |y - m| + sum_k (alpha_k / 2) IS_alpha_k) / (K + 0.5)`` where
``IS_alpha = (u - l) + (2 / alpha)(l - y)_+ + (2 / alpha)(y - u)_+``. Equivalently, the mean pinball
loss over the 23 quantiles times 2 (up to the weights); we compute the interval form.

Relative WIS here is the ratio of mean WIS of a model to the mean WIS of a baseline over exactly the
same (origin, location, horizon) tasks (not the Hub's pairwise geometric-mean version).
"""

from __future__ import annotations

import numpy as np

#: The Forecast Hub's 23 quantile levels.
QUANTILES = np.array([0.01, 0.025] + [round(0.05 * k, 2) for k in range(1, 20)] + [0.975, 0.99])
MEDIAN_INDEX = 11


def _check(q: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(q, float)
    y = np.asarray(y, float)
    if q.shape[0] != len(QUANTILES):
        raise ValueError(f"need the {len(QUANTILES)} quantiles on axis 0, got {q.shape[0]} / 分位数个数不符")
    if q.shape[1:] != y.shape:
        raise ValueError(f"quantiles {q.shape[1:]} and observations {y.shape} differ in shape / 形状不一致")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(y))):
        raise ValueError("quantiles and observations must be finite / 必须为有限数")
    return np.sort(q, axis=0), y


def wis(q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Weighted interval score of quantiles ``q`` (23 on axis 0, ascending levels) for ``y``.

    Parameters
    ----------
    q : ndarray
        Quantiles, shape ``(23, ...)``: axis 0 at the levels of :data:`QUANTILES` (sorted before use).
    y : ndarray
        Observations, shape ``q.shape[1:]``. Both must be finite (``ValueError`` otherwise).

    Returns
    -------
    ndarray
        WIS per observation, shape ``y.shape``, in the units of ``y`` (0 for a perfect point forecast).

    References
    ----------
    Bracher, J., Ray, E. L., Gneiting, T. and Reich, N. G. (2021). Evaluating epidemic forecasts in an
    interval format. PLOS Computational Biology 17(2), e1008618.

    Examples
    --------
    >>> perfect = np.full((23, 1), 7.0)
    >>> wis(perfect, np.array([7.0])).tolist()
    [0.0]
    >>> float(wis(np.full((23,), 2.0)[:, None], np.array([4.0]))[0])  # point forecast: |y - m| = 2
    2.0
    """
    q, y = _check(q, y)
    lower, upper = q[:MEDIAN_INDEX], q[MEDIAN_INDEX + 1:][::-1]
    alphas = 2 * QUANTILES[:MEDIAN_INDEX]
    a = alphas.reshape((-1,) + (1,) * y.ndim)
    interval = (upper - lower) + (2 / a) * np.maximum(lower - y, 0) + (2 / a) * np.maximum(y - upper, 0)
    total = 0.5 * np.abs(y - q[MEDIAN_INDEX]) + (a / 2 * interval).sum(axis=0)
    return total / (len(alphas) + 0.5)


def wis_components(q: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """WIS split into dispersion, overprediction and underprediction (they sum to :func:`wis`).

    Examples
    --------
    >>> c = wis_components(np.full((23, 1), 2.0), np.array([4.0]))
    >>> {k: float(v[0]) for k, v in c.items()}
    {'dispersion': 0.0, 'overprediction': 0.0, 'underprediction': 2.0}
    """
    q, y = _check(q, y)
    lower, upper = q[:MEDIAN_INDEX], q[MEDIAN_INDEX + 1:][::-1]
    a = (2 * QUANTILES[:MEDIAN_INDEX]).reshape((-1,) + (1,) * y.ndim)
    k = MEDIAN_INDEX + 0.5
    med = q[MEDIAN_INDEX]
    return {
        "dispersion": (a / 2 * (upper - lower)).sum(axis=0) / k,
        "overprediction": (np.maximum(lower - y, 0).sum(axis=0) + 0.5 * np.maximum(med - y, 0)) / k,
        "underprediction": (np.maximum(y - upper, 0).sum(axis=0) + 0.5 * np.maximum(y - med, 0)) / k,
    }


def coverage(q: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """1.0 where ``y`` lies in the central ``level`` interval (closed), else 0.0.

    Parameters
    ----------
    q : ndarray
        Quantiles, shape ``(23, ...)``: axis 0 at the levels of :data:`QUANTILES` (sorted before use).
    y : ndarray
        Observations, shape ``q.shape[1:]``.
    level : float
        Nominal coverage of the central interval, e.g. 0.5 or 0.95; both of its bounds,
        ``(1 - level) / 2`` and ``(1 + level) / 2``, must be among :data:`QUANTILES` (``ValueError``
        otherwise).

    Returns
    -------
    ndarray of float
        Shape ``y.shape``: 1.0 where ``y`` is covered, 0.0 where not.

    Examples
    --------
    >>> q = np.tile(QUANTILES[:, None] * 10, (1, 3))  # quantile p at 10 p
    >>> coverage(q, np.array([5.0, 2.5, 9.8]), 0.5).tolist()
    [1.0, 1.0, 0.0]
    """
    q, y = _check(q, y)
    lo_p = round((1 - level) / 2, 3)
    levels = np.round(QUANTILES, 3).tolist()
    if lo_p not in levels or round(1 - lo_p, 3) not in levels:
        raise ValueError(f"no central {level} interval among the 23 quantiles / 无此区间")
    lo, hi = q[levels.index(lo_p)], q[levels.index(round(1 - lo_p, 3))]
    return ((y >= lo) & (y <= hi)).astype(float)


def coverage_randomised(q: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Expected coverage of the central ``level`` interval under a randomised PIT (Czado et al.
    2009), for count data: the forecast's probability integral transform at ``y`` is taken
    uniform on ``[a, b]``, ``a`` the highest quantile level below ``y`` (0 if none) and ``b`` the
    lowest level above it (1 if none); the score is the share of ``[a, b]`` inside the interval.
    Ties at a boundary (e.g. ``y = 0`` with the lower quantiles 0) then count in proportion instead
    of as always covered, which makes closed-interval coverage of small counts read too high.

    Examples
    --------
    >>> q = np.zeros((23, 1)); q[15:, 0] = 1.0  # levels 0.01..0.65 at 0, 0.7.. at 1
    >>> coverage(q, np.array([0.0]), 0.5).tolist(), coverage_randomised(q, np.array([0.0]), 0.5).round(3).tolist()
    ([1.0], [0.643])
    """
    q, y = _check(q, y)
    levels = QUANTILES.reshape((-1,) + (1,) * y.ndim)
    below = np.where(q < y, levels, 0.0).max(axis=0)
    above = np.where(q > y, levels, 1.0).min(axis=0)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    overlap = np.clip(np.minimum(above, hi) - np.maximum(below, lo), 0, None)
    return overlap / (above - below)


def relative_wis(model_wis: np.ndarray, baseline_wis: np.ndarray) -> float:
    """Mean WIS of the model over mean WIS of the baseline on the same tasks (NaN tasks dropped
    from both).

    Parameters
    ----------
    model_wis : ndarray
        WIS of the model per task (:func:`wis`).
    baseline_wis : ndarray
        WIS of the baseline on the same tasks, same shape (``ValueError`` otherwise).

    Returns
    -------
    float
        The ratio of means (< 1: the model beats the baseline); NaN when no task has both scores
        finite or the baseline's mean is 0.

    Examples
    --------
    >>> relative_wis(np.array([1.0, 3.0]), np.array([4.0, 4.0]))
    0.5
    """
    m, b = np.asarray(model_wis, float), np.asarray(baseline_wis, float)
    if m.shape != b.shape:
        raise ValueError("model and baseline must score the same tasks / 任务集合必须相同")
    ok = np.isfinite(m) & np.isfinite(b)
    den = b[ok].mean() if ok.any() else np.nan
    return float(m[ok].mean() / den) if den and np.isfinite(den) else float("nan")
