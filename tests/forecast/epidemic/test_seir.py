"""Metapopulation SEIR: conservation, independence without flows, lockdown switch, fitting inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.epidemic import dispersion, fit, seir

DATES = pd.date_range("2020-01-10", periods=30)


def _setup(n_members=6, n_regions=3, seed=0):
    rng = np.random.default_rng(seed)
    params = seir.draw_params(n_members, n_regions, rng)
    pop = np.array([1e6, 5e5, 2e6])[:n_regions]
    state = seir.initial_state(pop, np.r_[200.0, np.zeros(n_regions - 1)], n_members)
    return state, params, pop


def test_population_conserved_with_flows_and_no_deaths():
    state, params, pop = _setup()
    flows = np.array([[0, 5e4, 1e4], [2e4, 0, 3e3], [1e4, 7e3, 0]], float)
    end, rep, dead = seir.simulate(state, params, DATES, flows)
    assert np.allclose(end.alive().sum(axis=1), pop.sum())
    assert dead.sum() == 0
    # people actually moved: regional totals differ from the start
    assert not np.allclose(end.alive(), pop)


def test_deaths_leave_the_population():
    state, params, pop = _setup()
    params = seir.Params(**{**params.__dict__, "cfr": np.full((6, 1), 0.05)})
    end, rep, dead = seir.simulate(state, params, DATES, None)
    assert dead.sum() > 0
    assert np.allclose(end.alive().sum(axis=1) + end.Dd.sum(axis=1), pop.sum())


def test_zero_flows_keep_regions_independent():
    state, params, _ = _setup()
    end, rep, _ = seir.simulate(state, params, DATES, np.zeros((3, 3)))
    assert rep[:, :, 1:].sum() == 0 and end.E[:, 1:].sum() == 0
    alone_state = seir.initial_state(np.array([1e6]), np.array([200.0]), 6)
    alone_params = seir.Params(**{k: v[:, :1] for k, v in params.__dict__.items()})
    _, rep1, _ = seir.simulate(alone_state, alone_params, DATES, None)
    assert np.allclose(rep1[:, :, 0], rep[:, :, 0])


def test_flows_spread_infection():
    state, params, _ = _setup()
    _, rep, _ = seir.simulate(state, params, DATES, np.full((3, 3), 2e4))
    assert rep[-1, :, 1:].min() > 0


def test_lockdown_switch_reduces_spread():
    state, params, _ = _setup()
    flows = np.full((3, 3), 2e4)
    _, free, _ = seir.simulate(state, params, DATES, flows, [])
    lock = [seir.Intervention("2020-01-15", travel_factor=0.02, beta_factor=0.4)]
    _, locked, _ = seir.simulate(state, params, DATES, flows, lock)
    assert locked[:, :, 1:].sum() < 0.5 * free[:, :, 1:].sum()
    assert locked[:, :, 0].sum() < free[:, :, 0].sum()


def test_schedule_regions_and_delay():
    tr, bm, dl = seir.schedule_arrays(pd.date_range("2020-01-22", periods=3), 3,
                                      [seir.Intervention("2020-01-23", beta_factor=0.5, regions=(1,),
                                                         delay_mean_days=4.0)])
    assert bm[:, 1].tolist() == [1.0, 0.5, 0.5] and bm[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert dl.tolist() == [9.0, 4.0, 4.0] and (tr == 1).all()


def test_rt_positive_and_decreases_with_lockdown_factor():
    state, params, _ = _setup()
    assert (seir.reproduction_number(state, params, 0.5) < seir.reproduction_number(state, params)).all()


def test_bad_flows_raise():
    with pytest.raises(ValueError, match="flows"):
        seir.as_daily_trips(np.ones((2, 3)), 5, 3)
    with pytest.raises(ValueError):
        seir.as_daily_trips(-np.ones((3, 3)), 5, 3)


def test_series_corrections_and_errors():
    cum = pd.DataFrame({"date": ["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"],
                        "province": "A", "confirmed": [2, 5, 4, 8]})
    daily, log = fit.daily_from_cumulative(cum)
    assert daily["A"].tolist() == [3.0, 0.0, 0.0, 3.0]  # gap filled, decrease read as revision
    assert len(log) == 2 and (daily >= 0).all().all()
    bad = cum.assign(confirmed=["1", "x", "3", "4"])
    with pytest.raises(fit.SeriesError, match="non-numeric"):
        fit.daily_from_cumulative(bad)
    with pytest.raises(fit.SeriesError, match="columns"):
        fit.daily_from_cumulative(cum.drop(columns="confirmed"))


def test_fit_rejects_short_or_bad_input():
    d = pd.DataFrame({"A": [1.0, 2.0]}, index=pd.date_range("2020-01-20", periods=2))
    with pytest.raises(fit.SeriesError, match="history"):
        fit.fit_eakf(d, np.array([1e6]), n_members=10)
    d5 = pd.DataFrame({"A": [1.0, 2, -3, 4, 5]}, index=pd.date_range("2020-01-20", periods=5))
    with pytest.raises(fit.SeriesError, match=">= 0"):
        fit.fit_eakf(d5, np.array([1e6]), n_members=10)
    gappy = d5.abs().iloc[[0, 1, 3, 4]]
    with pytest.raises(fit.SeriesError, match="gaps"):
        fit.fit_eakf(gappy, np.array([1e6]), n_members=10)
    with pytest.raises(fit.SeriesError, match="population"):
        fit.fit_eakf(d5.abs(), np.array([0.0]), n_members=10)


def test_hubei_correction_only_after_its_date():
    d = pd.DataFrame({"Hubei": [100.0] * 10 + [1000.0]}, index=pd.date_range("2020-02-02", periods=11))
    before, log0 = fit.correct_reporting_changes(d.iloc[:-1])
    assert log0 == [] and before.equals(d.iloc[:-1])
    after, log1 = fit.correct_reporting_changes(d)
    assert after["Hubei"].iloc[-1] == 100.0 and after["Hubei"].sum() == d["Hubei"].sum() and len(log1) == 1


def test_fit_tracks_growth_and_forecast_shapes():
    t = np.arange(25)
    d = pd.DataFrame({"A": np.round(5 * np.exp(0.15 * t)), "B": np.round(3 * np.exp(-0.05 * t) + 1)},
                     index=pd.date_range("2020-02-01", periods=25))
    f = fit.fit_eakf(d, np.array([1e7, 1e7]), n_members=100, interventions=[])
    smp = fit.forecast_samples(f, 7)
    med = np.median(smp["confirmed"], axis=0)
    assert med[0, 0] > d["A"].iloc[-5]  # growth continues in A
    assert med[0, 1] < 10  # B stays small
    table = fit.quantile_table(f, smp, contacts_per_case=10.0)
    conf = table[(table.target == "confirmed_daily") & (table.quantile == 0.5)]
    cc = table[(table.target == "close_contacts_daily") & (table.quantile == 0.5)]
    assert np.allclose(cc["value"].to_numpy(), 10 * conf["value"].to_numpy())
    q = table[table.target == "confirmed_daily"].pivot_table(index=["region", "horizon_days"],
                                                              columns="quantile", values="value")
    assert (np.diff(q.to_numpy(), axis=1) >= 0).all()


def test_ascertainment_change_documents_more_infections():
    assert seir.effective_alpha(np.array([0.2]), 1.0)[0] == pytest.approx(0.2)
    assert seir.effective_alpha(np.array([0.14]), 11.4)[0] == pytest.approx(0.65, abs=0.005)
    odds = seir.ascertainment_arrays(pd.date_range("2020-01-21", periods=4), 2,
                                     [seir.Intervention("2020-01-23", ascertainment_odds_factor=3.0, regions=(0,))])
    assert odds[:, 0].tolist() == [1.0, 1.0, 3.0, 3.0] and (odds[:, 1] == 1.0).all()
    state, params, _ = _setup()
    _, base, _ = seir.simulate(state, params, DATES, None, [])
    _, more, _ = seir.simulate(state, params, DATES, None, [seir.Intervention(DATES[0], ascertainment_odds_factor=4.0)])
    assert more[:, :, 0].sum() > 1.5 * base[:, :, 0].sum()
    low = seir.reproduction_number(state, params)
    assert (seir.reproduction_number(state, params, alpha_odds=4.0) != low).any()


def test_delay_weights_by_cohort_report_every_cohort_once():
    """A pulse of documented infections before a switch 9 -> 4 days: by cohort it is reported in full
    with the 9-day delay; by reporting day part of it is lost at the switch."""
    dates = pd.date_range("2020-01-20", periods=40)
    ivs = [seir.Intervention("2020-01-23", delay_mean_days=4.0)]
    for by_cohort, total in ((True, 1.0), (False, None)):
        w = seir.delay_weights(dates, ivs, 25, by_cohort=by_cohort)
        # pulse documented on day 0: at day t it sits at pipeline position t
        reported = np.array([w[t, t] if t < 25 else 0.0 for t in range(len(dates))])
        if total is not None:
            assert reported.sum() == pytest.approx(total)
            assert np.allclose(reported[:25], seir.delay_pmf(9.0))
        else:
            assert reported.sum() < 0.9
    same = seir.delay_weights(dates, None, 25, by_cohort=True)
    assert np.allclose(same, seir.delay_weights(dates, None, 25, by_cohort=False))


def test_fit_with_ascertainment_change_and_cohort_delays():
    t = np.arange(20)
    d = pd.DataFrame({"A": np.round(5 * np.exp(0.15 * t))}, index=pd.date_range("2020-01-14", periods=20))
    plain = fit.fit_eakf(d, np.array([1e7]), n_members=60, ascertainment_odds_factor=None, delay_by_cohort=False)
    fitted = fit.fit_eakf(d, np.array([1e7]), n_members=60, ascertainment_odds_factor=11.4, delay_by_cohort=True)
    assert fitted.delay_by_cohort and not plain.delay_by_cohort
    assert any(iv.ascertainment_odds_factor == 11.4 for iv in fitted.interventions)
    smp = fit.forecast_samples(fitted, 5, draws_per_member=2)
    assert smp["confirmed"].shape == (120, 5, 1) and np.isfinite(smp["rt"]).all()


def test_imports_seed_an_isolated_region_and_keep_the_population():
    state, params, pop = _setup()
    imports = np.zeros((len(DATES), 1, 3))
    imports[:5, 0, 2] = 10.0  # 50 infections arrive in region 2, which no flow reaches
    end, rep, _ = seir.simulate(state, params, DATES, None, imports=imports)
    _, rep0, _ = seir.simulate(state, params, DATES, None)
    assert rep0[:, :, 2].sum() == 0 and rep[:, :, 2].sum() > 0
    assert np.allclose(rep[:, :, :2], rep0[:, :, :2])  # other regions untouched
    assert np.allclose(end.alive().sum(axis=1), pop.sum())
    s = seir.initial_state(np.array([5.0]), np.array([0.0]), 2)
    seir.add_imports(s, np.array([[-1.0], [9.0]]))  # negative: none; more than S: capped
    assert s.E[:, 0].tolist() == [0.0, 5.0] and s.S[:, 0].tolist() == [5.0, 0.0]


def test_fit_with_imports_and_fitted_dispersion():
    d = pd.DataFrame({"A": [1.0, 2, 3, 5, 8, 12], "B": [0.0] * 6}, index=pd.date_range("2020-01-20", periods=6))
    pop = np.array([1e6, 1e6])
    imports = np.zeros((14 + 6, 1, 2))
    imports[:10, 0, 1] = 20.0  # B receives infections during the spin-up
    with_imp = fit.fit_eakf(d, pop, imports=imports, n_members=30)
    without = fit.fit_eakf(d, pop, n_members=30)
    assert with_imp.state.E[:, 1].mean() + with_imp.state.Iu[:, 1].mean() > \
        without.state.E[:, 1].mean() + without.state.Iu[:, 1].mean()
    with pytest.raises(fit.SeriesError, match="imports"):
        fit.fit_eakf(d, pop, imports=imports[:5], n_members=10)
    rng = np.random.default_rng(1)
    trend = np.linspace(20, 300, 50)[:, None] * np.ones((1, 10))
    noisy = pd.DataFrame(rng.negative_binomial(3, 3 / (3 + trend)).astype(float))
    poisson = pd.DataFrame(rng.poisson(trend).astype(float))
    assert 2 < dispersion.nb_size_from_history(noisy) < 4.5
    assert dispersion.nb_size_from_history(poisson) > 50  # no overdispersion: a large size
    assert dispersion.nb_size_from_history(pd.DataFrame(np.zeros((10, 2)))) == 1000.0
