"""A small backtest on a couple of real provinces, the summary keys, and the CLI wrappers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from forecast.epidemic import backtest, china2020, dispersion, fit, scoring

DATA = china2020.data_dir()


def _two_provinces() -> backtest.Inputs:
    cum = china2020.read_province_cum()
    cum = cum[cum["province"].isin(["Hubei", "Guangdong"])]
    daily, log = fit.daily_from_cumulative(cum)
    regions = list(daily.columns)
    return backtest.Inputs(daily, china2020.province_population(regions), None, tuple(log))


def test_small_backtest_returns_keys_and_scores():
    inputs = _two_provinces()
    origins = pd.date_range("2020-02-05", "2020-02-14", freq="3D")
    tasks = backtest.run_backtest(inputs, origins, 5, imports="none", fit_kwargs={"n_members": 40},
                                  forecast_kwargs={"draws_per_member": 5})
    assert len(tasks) == 4 * 2 * 5
    hubei_0212 = tasks[(tasks.region == "Hubei") & (tasks.target_date == pd.Timestamp("2020-02-12"))]
    assert len(hubei_0212) > 0 and hubei_0212["excluded"].all()
    s = backtest.summarise(tasks)
    for key in ("relative_wis_vs_persistence", "relative_wis_vs_loglinear", "coverage_50", "coverage_95"):
        assert np.isfinite(s[key])
        assert all(key in h for h in s["by_horizon"])
    assert s["n_tasks"] == len(tasks) - len(hubei_0212)
    assert backtest.summarise(tasks, include_excluded=True)["n_tasks"] == len(tasks)
    assert [h["horizon_days"] for h in s["by_horizon"]] == [1, 2, 3, 4, 5]
    assert 0 <= s["coverage_50"] <= s["coverage_95"] <= 1
    # default: no spread calibration; randomised coverage and the periods are reported
    assert tasks[["spread_50", "spread_95"]].eq(1.0).all().all()
    assert 0 <= s["coverage_50_randomised"] <= s["coverage_95_randomised"] <= 1
    assert 0 <= s["coverage_50_if_calibrated"] <= s["coverage_95_if_calibrated"] <= 1
    per = s["by_period"]  # origins 02-05, 02-08 <= DEV_END < 02-11, 02-14
    assert set(per) == {"development", "evaluation"}
    assert per["development"]["n_tasks"] + per["evaluation"]["n_tasks"] == s["n_tasks"]
    assert per["development"]["n_tasks"] == 2 * 2 * 5 - 1  # Hubei 02-12 (from 02-08) excluded


def test_level_calibration_learns_only_from_the_past(monkeypatch):
    """Levels calibration: factor 1 until enough past tasks are observed, then learned per interval."""
    rng = np.random.default_rng(3)
    dates = pd.date_range("2020-01-21", periods=40)
    d = pd.DataFrame(rng.poisson(50, (40, 30)).astype(float), index=dates, columns=[f"R{i}" for i in range(30)])
    inp = backtest.Inputs(d, np.full(30, 1e6), None)
    monkeypatch.setattr(backtest, "CALIBRATION_MIN_TASKS", 300)
    origins = pd.date_range("2020-01-28", periods=6, freq="3D")
    t = backtest.run_backtest(inp, origins, 5, calibration="levels", imports="none", fit_kwargs={"n_members": 20},
                              forecast_kwargs={"draws_per_member": 2})
    first = t[t.origin == origins[0]]
    assert first[["spread_50", "spread_95"]].eq(1.0).all().all()
    seen = [int(((t.origin < o) & (t.target_date <= o)).sum()) for o in origins]
    learned = t.groupby("origin")[["spread_50", "spread_95"]].first()
    for o, n in zip(origins, seen):
        if n < backtest.CALIBRATION_MIN_TASKS:
            assert learned.loc[o].eq(1.0).all()
    assert not learned.iloc[-1].eq(1.0).all()  # enough past tasks by the last origin
    with pytest.raises(ValueError, match="calibration"):
        backtest.run_backtest(inp, origins[:1], 3, calibration="magic", imports="none", fit_kwargs={"n_members": 10})


def test_rescale_per_level_shrinks_50_keeps_95():
    from forecast.epidemic import scoring

    q = np.expm1(np.log(100.0) + np.linspace(-2, 2, 23))[:, None]
    f = np.ones(11)
    f[5:] = 0.5  # the central intervals up to 60 % narrowed, the wider ones kept
    out = backtest._rescale(q, f)
    assert np.all(np.diff(out[:, 0]) >= 0)
    assert out[scoring.MEDIAN_INDEX, 0] == pytest.approx(q[scoring.MEDIAN_INDEX, 0])
    assert out[1, 0] == pytest.approx(q[1, 0]) and out[21, 0] == pytest.approx(q[21, 0])  # 95 % kept
    lo50, hi50 = list(np.round(scoring.QUANTILES, 3)).index(0.25), list(np.round(scoring.QUANTILES, 3)).index(0.75)
    assert out[hi50, 0] - out[lo50, 0] < q[hi50, 0] - q[lo50, 0]  # 50 % narrowed


def test_origin_outside_data_raises():
    d = pd.DataFrame({"A": np.arange(1.0, 11)}, index=pd.date_range("2020-01-21", periods=10))
    inp = backtest.Inputs(d, np.array([1e6]), None)
    with pytest.raises(fit.SeriesError, match="outside"):
        backtest.run_backtest(inp, pd.DatetimeIndex(["2020-03-01"]), 3, imports="none", fit_kwargs={"n_members": 10})


def test_too_little_history_raises():
    d = pd.DataFrame({"A": np.arange(1.0, 11)}, index=pd.date_range("2020-01-21", periods=10))
    inp = backtest.Inputs(d, np.array([1e6]), None)
    with pytest.raises(fit.SeriesError, match="history"):
        backtest.run_backtest(inp, pd.DatetimeIndex(["2020-01-22"]), 3, imports="none", fit_kwargs={"n_members": 10})


def test_province_inputs_shapes():
    inp = backtest.province_inputs()
    assert inp.daily.shape[1] == 34 and (inp.daily >= 0).all().all()
    assert inp.flows.shape == (34, 34) and np.all(np.diag(inp.flows) == 0)
    hubei = list(inp.daily.columns).index("Hubei")
    assert inp.flows[hubei].sum() > 0


def test_forecast_cli_writes_quantiles_and_rejects_bad_input(tmp_path):
    from miniapp.cli.forecast_cmd import command

    dates = pd.date_range("2020-01-20", periods=12)
    rows = [{"date": d.date().isoformat(), "province": p, "confirmed": int(c * (i + 1) ** 1.5)}
            for i, d in enumerate(dates) for p, c in (("Hubei", 20), ("Beijing", 2))]
    series = tmp_path / "s.csv"
    pd.DataFrame(rows).to_csv(series, index=False)
    flows = tmp_path / "f.csv"
    pd.DataFrame({"origin": ["Hubei"], "destination": ["Beijing"], "trips": [5000]}).to_csv(flows, index=False)
    out = tmp_path / "q.csv"
    runner = CliRunner()
    res = runner.invoke(command, ["--series", str(series), "--flows", str(flows), "--as-of", "2020-01-31",
                                  "--out", str(out), "--horizon-days", "5", "--members", "30"])
    assert res.exit_code == 0, res.output
    q = pd.read_csv(out)
    assert set(q["target"]) == {"confirmed_daily", "close_contacts_daily", "rt"}
    assert q[q.target == "confirmed_daily"]["quantile"].nunique() == 23
    bad = runner.invoke(command, ["--series", str(series), "--as-of", "2020-05-01", "--out", str(out)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output and "as-of" in bad.output
    unknown = tmp_path / "u.csv"
    pd.DataFrame(rows).assign(province="Atlantis").drop_duplicates(["date"]).to_csv(unknown, index=False)
    res2 = runner.invoke(command, ["--series", str(unknown), "--as-of", "2020-01-31", "--out", str(out)])
    assert res2.exit_code != 0 and "unknown regions" in res2.output


def test_backtest_cli_json_keys():
    from miniapp.cli.backtest_cmd import command

    res = CliRunner().invoke(command, ["--json", "--start", "2020-02-20", "--end", "2020-02-23",
                                       "--horizon-days", "3", "--members", "30"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    for key in ("relative_wis_vs_persistence", "relative_wis_vs_loglinear", "coverage_50", "coverage_95"):
        assert key in summary and key in summary["by_horizon"][0]


def test_rescale_by_ones_keeps_integer_quantiles_exactly():
    q = np.repeat(np.arange(23.0)[:, None], 3, axis=1)
    assert backtest._rescale(q, np.ones(11)) is q  # no log1p/expm1 round trip that breaks ties
    assert backtest._rescale(q, 1.0) is q


def test_own_draw_comes_from_the_samples():
    rng = np.random.default_rng(0)
    samples = rng.poisson(5, (50, 4, 3)).astype(float)
    draw = backtest._own_draw(samples, pd.Timestamp("2020-02-01"))
    assert draw.shape == (4, 3)
    assert all(draw[h, r] in samples[:, h, r] for h in range(4) for r in range(3))
    assert np.array_equal(draw, backtest._own_draw(samples, pd.Timestamp("2020-02-01")))  # reproducible


def test_backtest_with_the_import_term_and_fitted_dispersion():
    full = backtest.province_inputs()
    keep = ["Hubei", "Guangdong", "Tibet"]
    pos = [list(full.daily.columns).index(k) for k in keep]
    imp = backtest.Imports(full.imports.origin_daily, full.imports.origin_population,
                           full.imports.travellers[keep], "Hubei")
    inp = backtest.Inputs(full.daily[keep], full.population[pos], full.flows[np.ix_(pos, pos)], (), imp)
    origins = pd.DatetimeIndex(["2020-01-27"])
    kw = dict(fit_kwargs={"n_members": 30}, forecast_kwargs={"draws_per_member": 2})
    t = backtest.run_backtest(inp, origins, 4, imports="fit_and_forecast", dispersion="history", **kw)
    assert len(t) == 3 * 4 and np.isfinite(t["wis_seir"]).all()
    t2 = backtest.run_backtest(inp, pd.DatetimeIndex(["2020-01-27", "2020-01-30"]), 4, imports="fit", **kw)
    assert t2["nb_size"].eq(20.0).all()  # too few past tasks: the default size
    assert t["nb_size"].nunique() == 1 and 1 <= t["nb_size"].iloc[0] <= 1000
    flows, term_fit, term_fc = backtest._import_term(inp, full.daily[keep].loc[:"2020-01-27"],
                                                     pd.Timestamp("2020-01-27"), 4, {"n_members": 30})
    assert flows[0].sum() == 0 and flows[1:, 0].sum() > 0  # Hubei's outgoing row replaced by the term
    assert term_fit.shape == (14 + 7, 30, 3) and term_fc.shape == (4, 30, 3)
    assert term_fit[:, :, 1].sum() > term_fit[:, :, 2].sum() > 0 and term_fit[:, :, 0].sum() == 0
    with pytest.raises(ValueError, match="imports"):
        backtest.run_backtest(backtest.Inputs(inp.daily, inp.population, None), origins, 2, imports="fit")
    with pytest.raises(ValueError, match="imports"):
        backtest.run_backtest(inp, origins, 2, imports="all")
    with pytest.raises(ValueError, match="dispersion"):
        backtest.run_backtest(inp, origins, 2, dispersion="wide")


def test_learned_dispersion_recovers_the_size_and_waits_for_enough_past_tasks(monkeypatch):
    rng = np.random.default_rng(4)
    m = rng.uniform(2, 300, 4000)
    y = rng.negative_binomial(2, 2 / (2 + m)).astype(float)
    assert 1.5 < dispersion.learn_nb_size(np.tile(m, (23, 1)), y) < 2.7
    poisson = rng.poisson(m).astype(float)
    assert dispersion.learn_nb_size(np.tile(m, (23, 1)), poisson) > 100
    # an ensemble spread that already explains the errors needs little extra noise
    spread = m * np.exp(stats.norm.ppf(scoring.QUANTILES)[:, None] * 0.8)
    wide = m * np.exp(rng.normal(0, 0.8, m.size))
    point = np.tile(m, (23, 1))
    assert dispersion.learn_nb_size(spread, np.round(wide)) > dispersion.learn_nb_size(point, np.round(wide))
    # only past tasks observed at the origin count, and only once there are enough of them
    dates = pd.date_range("2020-02-01", periods=10)
    task = (None, None, np.round(np.tile(m[:40], (10, 1))), dates, np.ones((10, 40), bool),
            np.tile(m[:40], (23, 10, 1)))
    assert backtest._past_nb_size([task], pd.Timestamp("2020-02-03"), 20.0) == 20.0  # 120 tasks seen
    monkeypatch.setattr(backtest, "CALIBRATION_MIN_TASKS", 100)
    assert backtest._past_nb_size([task], pd.Timestamp("2020-02-03"), 20.0) > 100  # exact means: no extra noise
    assert backtest._past_nb_size([task], pd.Timestamp("2020-02-02"), 20.0) == 20.0  # 80 seen at 02-02


def test_backtest_cli_dispersion_and_imports_options():
    from miniapp.cli.backtest_cmd import command

    args = ["--json", "--start", "2020-02-20", "--end", "2020-02-20", "--horizon-days", "2", "--members", "20",
            "--seed", "0"]
    res = CliRunner().invoke(command, args + ["--dispersion", "history", "--imports", "fit_and_forecast"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["dispersion"] == "history" and summary["imports"] == "fit_and_forecast"
    assert {"relative_wis_vs_persistence_seed_mean", "coverage_95_seed_mean",
            "coverage_50_randomised_seed_mean"} <= set(summary)
    city = CliRunner().invoke(command, args[:-2] + ["--seed", "0", "--level", "city", "--members", "10"])
    assert city.exit_code == 0, city.output  # the default import term is province-only: cities run without it
    assert json.loads(city.output.strip().splitlines()[-1])["imports"] == "none"
    bad = CliRunner().invoke(command, args + ["--imports", "everything"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
