"""WIS, coverage and relative WIS against hand-computed values; baselines on known series."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from forecast.epidemic import baselines, scoring


def test_quantile_levels():
    assert len(scoring.QUANTILES) == 23
    assert scoring.QUANTILES[scoring.MEDIAN_INDEX] == 0.5
    assert np.allclose(scoring.QUANTILES + scoring.QUANTILES[::-1], 1.0)


def test_perfect_point_forecast_scores_zero():
    q = np.full((23, 4), 3.0)
    assert np.all(scoring.wis(q, np.full(4, 3.0)) == 0)


def test_wis_hand_computed():
    # quantile p at 100 p: median 50, central (1 - a) interval [50 a, 100 - 50 a].
    q = (scoring.QUANTILES * 100)[:, None]
    # y = 50: no penalties; WIS = sum_k (a_k / 2)(100 - 100 a_k) / 11.5
    a = 2 * scoring.QUANTILES[:11]
    expected = (a / 2 * (100 - 100 * a)).sum() / 11.5
    assert scoring.wis(q, np.array([50.0]))[0] == pytest.approx(expected)
    # y = 120: every interval misses by 120 - u_k, the median by 70
    u = 100 - 50 * a
    pen = (a / 2 * ((u - 50 * a) + 2 / a * (120 - u))).sum()
    assert scoring.wis(q, np.array([120.0]))[0] == pytest.approx((0.5 * 70 + pen) / 11.5)


def test_wis_equals_twice_mean_pinball_loss():
    rng = np.random.default_rng(0)
    q = np.sort(rng.gamma(2, 10, (23, 50)), axis=0)
    y = rng.gamma(2, 10, 50)
    tau = scoring.QUANTILES[:, None]
    pinball = np.where(y >= q, tau * (y - q), (1 - tau) * (q - y))
    # Bracher et al.: WIS = (1 / (K + 1/2)) * sum over the 23 quantiles of the pinball loss
    assert np.allclose(scoring.wis(q, y), pinball.sum(axis=0) / 11.5)
    comp = scoring.wis_components(q, y)
    assert np.allclose(sum(comp.values()), scoring.wis(q, y))


def test_coverage():
    q = np.tile(stats.norm.ppf(scoring.QUANTILES)[:, None], (1, 5))
    y = np.array([0.0, 0.67, 0.7, 1.9, -2.0])
    assert scoring.coverage(q, y, 0.5).tolist() == [1, 1, 0, 0, 0]
    assert scoring.coverage(q, y, 0.95).tolist() == [1, 1, 1, 1, 0]
    rng = np.random.default_rng(1)
    big = rng.normal(size=20000)
    qq = np.tile(stats.norm.ppf(scoring.QUANTILES)[:, None], (1, big.size))
    assert scoring.coverage(qq, big, 0.95).mean() == pytest.approx(0.95, abs=0.01)
    with pytest.raises(ValueError):
        scoring.coverage(q, y, 0.33)


def test_relative_wis_and_bad_inputs():
    assert scoring.relative_wis(np.array([1.0, 2.0, np.nan]), np.array([2.0, 4.0, 1.0])) == 0.5
    with pytest.raises(ValueError):
        scoring.wis(np.zeros((22, 2)), np.zeros(2))
    with pytest.raises(ValueError):
        scoring.wis(np.zeros((23, 2)), np.zeros(3))
    with pytest.raises(ValueError):
        scoring.wis(np.full((23, 1), np.nan), np.zeros(1))


def test_persistence_from_known_series():
    hist = np.array([[10.0], [12.0], [11.0], [13.0], [12.0]])  # changes +2 -1 +2 -1
    q = baselines.persistence_quantiles(hist, 3, n_samples=20000)
    assert (q[11] == 12).all()
    # one day ahead the symmetrised changes are {-2, -1, +1, +2} with equal weight
    assert q[0, 0, 0] == pytest.approx(10.0) and q[22, 0, 0] == pytest.approx(14.0)
    assert (q[-1, 2] > q[-1, 0]).all()  # spread grows with horizon
    wk = baselines.persistence_quantiles(hist, 1, level="week_mean")
    assert wk[11, 0, 0] == pytest.approx(11.6)
    zero = baselines.persistence_quantiles(np.array([[1.0], [0.0], [0.0]]), 2)
    assert (zero >= 0).all()


def test_loglinear_and_errors():
    y = np.exp(0.2 * np.arange(10)) * 50
    q = baselines.loglinear_quantiles(y[:, None], 2)
    assert q[11, 1, 0] == pytest.approx(np.expm1(np.log1p(y)[-1] + 0.4), rel=0.05)
    with pytest.raises(ValueError, match="history"):
        baselines.loglinear_quantiles(np.array([1.0, 2.0]), 3)
    with pytest.raises(ValueError, match=">= 0"):
        baselines.persistence_quantiles(np.array([1.0, -2.0, 3.0]), 3)


def test_randomised_coverage_counts_ties_in_proportion():
    from forecast.epidemic.scoring import coverage, coverage_randomised

    zeros = np.zeros((23, 3))
    y = np.array([0.0, 0.0, 5.0])
    # a forecast that is all zeros: the closed interval always covers 0, the randomised PIT
    # is uniform on [0, 1], so 50 % of it lies in the central 50 % interval
    assert coverage(zeros, y, 0.5)[:2].tolist() == [1.0, 1.0]
    assert coverage_randomised(zeros, y, 0.5)[:2] == pytest.approx([0.5, 0.5])
    assert coverage_randomised(zeros, y, 0.5)[2] == 0.0  # above every quantile
    # a continuous-looking forecast: y strictly inside the central 50 % interval counts fully
    q = np.tile(scoring.QUANTILES[:, None] * 100, (1, 2))
    assert coverage_randomised(q, np.array([50.5, 3.0]), 0.5).tolist() == [1.0, 0.0]
