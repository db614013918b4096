"""The importation model and the R_t series on small arrays and on the shipped 2020 data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.epidemic import china2020, importation, rt_series


def _wuhan() -> pd.Series:
    w = china2020.read_li2020_incidence()["Wuhan"]
    return w.iloc[:, 0] if w.ndim > 1 else w


def test_calibration_gives_five_million_over_the_window():
    scale = china2020.read_kraemer_scale()
    per = importation.persons_per_index(scale)
    assert scale.loc["2020-01-10":"2020-01-22"].sum() * per == pytest.approx(5e6)
    with pytest.raises(ValueError):
        importation.persons_per_index(scale * 0)


def test_travellers_follow_shares_and_nothing_after_the_origin_is_used():
    d = pd.date_range("2020-01-10", periods=4)
    sh = pd.DataFrame({"A": [10.0, 10, 10, 90], "B": [1.0, 1, 1, 1]}, index=d)
    tr = importation.travellers(sh, pd.Series(1.0, index=d), 1000.0)
    assert tr["A"].iloc[0] == 100.0 and tr["B"].iloc[0] == 10.0
    ext = importation.extend_after(tr, d[2], "2020-01-20")
    assert len(ext) == 11 and ext["A"].iloc[-1] == 100.0  # the 90 % of day 4 (after the origin) is not seen


def test_more_travellers_more_imports_and_reports_with_intervals():
    days = pd.date_range("2020-01-10", "2020-01-21")
    y = _wuhan().loc[days]
    tr = pd.DataFrame({"big": 2e4, "small": 2e3, "none": 0.0}, index=pd.date_range("2020-01-10", "2020-02-10"))
    imp = importation.importation_forecast(y, 1.06e7, tr, np.full(3, 1e7), "2020-01-21", "2020-02-10",
                                           n_members=60, n_prior=600)
    tot = imp.imported.sum(axis=1).mean(axis=0)
    assert tot[0] > 5 * tot[1] > 0 and tot[2] == 0
    q = importation.cumulative_by(imp, "2020-02-10")
    assert (q["reported_q025"] <= q["reported_q50"]).all() and (q["reported_q50"] <= q["reported_q975"]).all()
    assert q.loc[0, "reported_q50"] > q.loc[1, "reported_q50"] and q.loc[2, "reported_q975"] == 0
    assert imp.prevalence.shape == (60, len(imp.dates)) and 1 <= imp.ess <= 600


def test_usable_before_any_destination_reported():
    days = pd.date_range("2020-01-10", "2020-01-15")  # Wuhan's own counts: zeros; no destination reported yet
    tr = pd.DataFrame({"A": 1e4}, index=pd.date_range("2020-01-10", "2020-01-31"))
    imp = importation.importation_forecast(_wuhan().loc[days], 1.06e7, tr, np.array([1e7]), "2020-01-15",
                                           "2020-01-31", n_members=40, n_prior=400)
    assert imp.imported.sum() > 0  # the Li et al. seeds still carry infections out


def test_rt_series_recovers_a_constant_growth():
    r = 0.05
    d = pd.DataFrame({"A": 20 * np.exp(r * np.arange(60)), "B": np.zeros(60)},
                     index=pd.date_range("2020-01-01", periods=60))
    q = rt_series.rt_quantiles(d)
    est = float(rt_series.growth_rate(q[0.5]["A"].iloc[-1]))
    assert est == pytest.approx(r, abs=0.01)
    assert q[0.5]["B"].isna().all()  # no cases: no estimate, not the prior
    assert float(rt_series.doubling_time_days(est)) == pytest.approx(np.log(2) / r, rel=0.25)


def test_import_term_uses_nothing_after_the_origin_and_follows_a_known_lockdown():
    from forecast.epidemic import seir

    days = pd.date_range("2020-01-10", "2020-01-24")
    y = _wuhan().loc[days]
    tr = pd.DataFrame({"A": 1e4, "B": 0.0}, index=pd.date_range("2020-01-01", "2020-02-05"))
    later = tr.copy()
    later.loc["2020-01-25":, "A"] = 9e5  # travellers after the origin are not seen
    kw = dict(n_members=30, n_prior=300, interventions=seir.lockdown_2020(0.5, 11.4))
    a, ess = importation.import_term(y, 1.06e7, tr, np.full(2, 1e7), "2020-01-24", "2020-01-05", "2020-02-05", **kw)
    b, _ = importation.import_term(y, 1.06e7, later, np.full(2, 1e7), "2020-01-24", "2020-01-05", "2020-02-05", **kw)
    assert a.shape == (30, 32, 2) and np.array_equal(a, b) and ess >= 1
    assert a[:, :5].sum() == 0 and a[:, :, 1].sum() == 0  # nothing before Wuhan's first date, none to B
    # the lockdown of 01-23 is known at 01-24: later days travel at 2 % of the level before it
    c, _ = importation.import_term(y, 1.06e7, tr, np.full(2, 1e7), "2020-01-24", "2020-01-05", "2020-02-05",
                                   n_members=30, n_prior=300, interventions=[])
    assert a[:, -5:].sum() < 0.1 * c[:, -5:].sum()
