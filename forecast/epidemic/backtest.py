"""Rolling-origin backtests of the SEIR forecast against persistence and log-linear baselines.

At each origin the model and the baselines see only the data up to that day (reporting changes are
corrected only once their date has been reported). Forecasts are scored against the *reported* daily
counts (not the corrected ones). By default Hubei 2020-02-12 (clinical diagnoses added) is excluded
as a scoring target; ``exclude=()`` scores it too.

Anything learned from scores (optional spread calibration, the ensemble weight) is learned at each
origin from the earlier origins' tasks whose target dates are already observed (<= the origin):
nothing is fitted on the evaluation period itself. Calibration (``calibration=``): ``"none"``
(default: chosen on the development origins, see docs/forecast.md), ``"single"`` (one factor on
the log1p spread) or ``"levels"`` (one factor per central interval, so the 50 % and 95 % intervals
are calibrated separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.epidemic import baselines, china2020, fit, importation, scoring, seir
from forecast.epidemic import dispersion as dispersion_mod

DEFAULT_EXCLUDE = (("Hubei", "2020-02-12"),)
#: The log-linear baseline is scored only from origins with at least this much history; relative
#: WIS against it uses the tasks where both are scored.
LOGLINEAR_MIN_DAYS = 7
SPREAD_GRID = np.round(np.arange(0.5, 3.01, 0.1), 2)
#: Calibration is learned only once the past holds at least this many observed tasks (with fewer,
#: e.g. 3 horizons of one origin, the learned factors are noise).
CALIBRATION_MIN_TASKS = 1000
#: Development origins (hyper-parameters were chosen on origins up to this date); evaluation is
#: reported on the later origins and on the whole period.
DEV_END = pd.Timestamp("2020-02-08")


@dataclass(frozen=True)
class Imports:
    """What the import term needs (:func:`forecast.epidemic.importation.import_term`): the epidemic
    origin's reported daily counts and residents, its travellers per day to each region (dates x
    the regions of the backtest, 0 for the region that holds the origin) and that region's name
    (its outgoing flows are replaced by the term)."""

    origin_daily: pd.Series
    origin_population: float
    travellers: pd.DataFrame
    origin_region: str


@dataclass(frozen=True)
class Inputs:
    """Reported daily counts (dates x regions), populations, a static OD matrix and, optionally,
    the import term's inputs."""

    daily: pd.DataFrame
    population: np.ndarray
    flows: np.ndarray | None
    log: tuple[str, ...] = ()
    imports: Imports | None = None


def province_inputs(path=None) -> Inputs:
    """The 34 provinces: daily increments of the cumulative series, populations, Tencent flows and
    Wuhan's outflow for the import term (Kraemer et al.'s province shares of Wuhan's outflow x the
    Baidu index x persons per index unit, :func:`forecast.epidemic.importation.persons_per_index`;
    Wuhan's reported counts of the li2020 set).

    Examples
    --------
    >>> inp = province_inputs()
    >>> inp.daily.shape[1], inp.flows.shape, str(inp.daily.index[0].date())
    (34, (34, 34), '2020-01-21')
    >>> tr = inp.imports.travellers
    >>> float(tr["Hubei"].sum()), bool(tr.loc["2020-01-21", "Henan"] > 3e4)
    (0.0, True)
    """
    daily, log = fit.daily_from_cumulative(china2020.read_province_cum(path))
    provinces = list(daily.columns)
    return Inputs(daily, china2020.province_population(provinces),
                  china2020.province_mobility(provinces, path), tuple(log), wuhan_imports(provinces, path))


def wuhan_imports(provinces: list[str], path=None) -> Imports:
    """Wuhan's travellers per day to ``provinces`` (none to Hubei, which holds Wuhan), its reported
    counts and residents (the li2020 files), for :class:`Imports`.

    Examples
    --------
    >>> imp = wuhan_imports(["Hubei", "Beijing"])
    >>> imp.travellers.shape[1], imp.origin_region, str(imp.origin_daily.index[0].date())
    (2, 'Hubei', '2020-01-10')
    """
    k = china2020.read_kraemer_province_outflow(path)
    wide = k.pivot(index="date", columns="province", values="scale").sort_index()
    per_index = importation.persons_per_index(china2020.read_kraemer_scale(path))
    trav = wide.reindex(columns=provinces).fillna(0.0) * per_index
    trav["Hubei"] = 0.0
    inc = china2020.read_li2020_incidence(path)["Wuhan"]
    inc = inc.iloc[:, 0] if inc.ndim > 1 else inc
    pop = china2020.read_li2020_population(path)["Wuhan"]
    pop = float(pop.iloc[0] if np.ndim(pop) else pop)
    return Imports(inc.astype(float), pop, trav, "Hubei")


def city_inputs(path=None, min_cases: int = 100) -> Inputs:
    """Cities of the li2020 set with >= ``min_cases`` cumulative cases by 2020-03-10 (city series
    are incomplete before 01-24 and lag provinces by ~1 day; 0 before a city's first row).
    Regions are named ``"<English name> <code>"`` (some English names are shared). No reporting
    change is corrected at city level (Wuhan's clinical jump shows on 02-13 there).

    Examples
    --------
    >>> inp = city_inputs(min_cases=1000)
    >>> "Wuhan 420100" in inp.daily.columns, inp.flows.shape[0] == inp.daily.shape[1]
    (True, True)
    """
    cum = china2020.read_city_cum(path)
    coords = china2020.read_li2020_coordinates(path)
    pop = china2020.read_li2020_population(path).to_numpy(float)
    pos = pd.Series(np.arange(len(coords)), index=coords["Code"])
    pos = pos[~pos.index.duplicated()]  # code 659004 appears on 3 rows (Wujiaqu, Beitun): keep the first
    cum = cum[cum["city_code"].isin(pos.index)]
    big = cum[cum["date"] <= "2020-03-10"].groupby("city_code")["confirmed"].max()
    keep = big[big >= min_cases].index
    cum = cum[cum["city_code"].isin(keep)]
    first = coords.iloc[pos.to_numpy()]
    label = pd.Series((first["Name"] + " " + first["Code"].astype(str)).to_numpy(), index=pos.index)
    cum = cum.assign(city=cum["city_code"].map(label))
    daily, log = fit.daily_from_cumulative(cum, region_col="city")
    codes = [int(c.rsplit(" ", 1)[1]) for c in daily.columns]
    idx = pos[codes].to_numpy()
    flows = china2020.read_li2020_mobility(path).mean(axis=0)[np.ix_(idx, idx)]
    log.append(f"{len(codes)} cities with >= {min_cases} cases")
    return Inputs(daily, pop[idx], flows, tuple(log))


def _rescale(q: np.ndarray, s) -> np.ndarray:
    """Scale the log1p distance of each quantile from the median: ``s`` a scalar or 11 factors,
    one per central interval (the pair of levels p and 1 - p); monotone output."""
    if np.all(np.asarray(s) == 1.0):
        return q  # exactly unchanged: a log1p/expm1 round trip would move integer quantiles off ties
    lq = np.log1p(q)
    med = lq[scoring.MEDIAN_INDEX]
    f = np.ones(len(scoring.QUANTILES))
    f[:scoring.MEDIAN_INDEX] = s
    f[scoring.MEDIAN_INDEX + 1:] = np.asarray(s * np.ones(scoring.MEDIAN_INDEX))[::-1]
    out = np.maximum(np.expm1(med + f.reshape((-1,) + (1,) * (q.ndim - 1)) * (lq - med)), 0.0)
    return np.maximum.accumulate(out, axis=0)


def _pinball(q: np.ndarray, y: np.ndarray, p: float) -> float:
    return float(np.mean(np.maximum(p * (y - q), (p - 1) * (y - q))))


def learn_level_factors(q: np.ndarray, y: np.ndarray, grid: np.ndarray = SPREAD_GRID) -> np.ndarray:
    """Per central interval, the factor of ``grid`` minimising the quantile (pinball) loss of its
    two quantiles, rescaled as :func:`_rescale` does, on past tasks ``q (23, n)``, ``y (n,)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.lognormal(3, 0.5, 4000)
    >>> from scipy import stats
    >>> narrow = np.expm1(3 + 0.25 * stats.norm.ppf(scoring.QUANTILES)[:, None]) * np.ones((1, 4000))
    >>> f = learn_level_factors(narrow, y)
    >>> bool(f[0] > 1.5 and f[-1] > 1.5)  # too narrow by 2 on the log scale: widened
    True
    """
    lq = np.log1p(q)
    med = lq[scoring.MEDIAN_INDEX]
    out = np.ones(scoring.MEDIAN_INDEX)
    for k in range(scoring.MEDIAN_INDEX):
        j = len(scoring.QUANTILES) - 1 - k
        loss = [_pinball(np.maximum(np.expm1(med + g * (lq[k] - med)), 0), y, scoring.QUANTILES[k])
                + _pinball(np.maximum(np.expm1(med + g * (lq[j] - med)), 0), y, scoring.QUANTILES[j])
                for g in grid]
        out[k] = grid[int(np.argmin(loss))]
    return out


#: SEIR variants that may be compared at every origin on the past tasks only. Default: one variant
#: (the fit defaults); e.g. ``({"lockdown_beta_factor": 1.0}, {"lockdown_beta_factor": 0.5})``.
SEIR_CANDIDATES: tuple[dict, ...] = ({},)
WEIGHT_GRID = np.round(np.arange(0.0, 1.01, 0.1), 2)


def run_backtest(inputs: Inputs, origins: pd.DatetimeIndex, horizon_days: int = 14, *,
                 exclude=DEFAULT_EXCLUDE, correct: bool = True, calibration: str = "none",
                 candidates: tuple[dict, ...] = SEIR_CANDIDATES, fit_kwargs: dict | None = None,
                 forecast_kwargs: dict | None = None, imports: str = "fit",
                 dispersion: str = "learned") -> pd.DataFrame:
    """Score every (origin, region, horizon) task; one row each.

    At each origin every SEIR variant in ``candidates`` (fit keyword sets) is fitted; the variant
    with the lowest mean WIS on the *past* tasks (target date <= origin) makes the ``seir``
    forecast (the first variant while there are none), its spread calibrated as ``calibration``
    says (``"none"``, ``"single"``, ``"levels"``; learned from past tasks once there are
    :data:`CALIBRATION_MIN_TASKS`). ``ensemble`` is the quantile average ``w * seir + (1 - w) *
    persistence_week`` with ``w`` chosen on the past tasks the same way (0.5 while there are none).

    Columns: origin, region, horizon_days, target_date, observed, excluded, spread_50, spread_95
    (calibration factors of the 50 % and 95 % intervals), variant, ensemble_weight, and per model
    (``seir``, ``ensemble``, ``persistence``, ``persistence_week``, ``loglinear``): ``wis_*``,
    ``cov50_*``, ``cov95_*`` (closed intervals) and ``rcov50_*``, ``rcov95_*`` (randomised PIT,
    :func:`forecast.epidemic.scoring.coverage_randomised`); ``scov50_seir``, ``scov95_seir``: the closed-
    interval coverage of the uncalibrated SEIR quantiles on an outcome drawn from their own
    samples (what a calibrated forecast of these counts would show; see :func:`_own_draw`).
    Origins whose targets run past the data are scored on the horizons available.

    ``imports`` (default ``"fit"``; other than ``"none"`` it needs ``inputs.imports``): the import term
    (:func:`forecast.epidemic.importation.import_term`, fitted at each origin on the data up to it)
    replaces the outgoing flows of ``inputs.imports.origin_region`` and is added to the exposed of
    every region from the first day of the spin-up to the origin (``"fit"``) or to the last forecast
    day (``"fit_and_forecast"``: then the origin's epidemic is also forecast, by its importance-
    sampled fit, which has no filter).
    ``dispersion``: the negative-binomial size of the forecast's reporting noise (column
    ``nb_size``): ``"fixed"`` (``forecast_kwargs``', default 20), ``"history"``
    (:func:`forecast.epidemic.dispersion.nb_size_from_history` of the counts up to the origin: their noise
    around a 7-day trend) or ``"learned"`` (the default;
    :func:`forecast.epidemic.dispersion.learn_nb_size`: maximum likelihood on the earlier origins'
    tasks observed by the origin, once there are :data:`CALIBRATION_MIN_TASKS`; 20 before).

    Examples
    --------
    >>> d = pd.DataFrame({"A": np.arange(1.0, 21), "B": np.ones(20)},
    ...                  index=pd.date_range("2020-01-21", periods=20))
    >>> inp = Inputs(d, np.array([1e6, 1e6]), None)
    >>> t = run_backtest(inp, pd.date_range("2020-01-28", periods=2, freq="3D"), 3, imports="none",
    ...                  fit_kwargs={"n_members": 20}, forecast_kwargs={"draws_per_member": 2})
    >>> len(t), sorted(t["horizon_days"].unique().tolist())
    (12, [1, 2, 3])
    """
    if calibration not in ("none", "single", "levels"):
        raise ValueError("calibration must be 'none', 'single' or 'levels'")
    if dispersion not in DISPERSIONS:
        raise ValueError(f"dispersion must be one of {DISPERSIONS}")
    if imports not in IMPORTS:
        raise ValueError(f"imports must be one of {IMPORTS}")
    if imports != "none" and inputs.imports is None:
        raise ValueError(f"imports={imports!r} needs inputs.imports (province_inputs has them); "
                         "use imports='none' / 缺少输入病例数据")
    fit_kwargs = fit_kwargs or {}
    forecast_kwargs = forecast_kwargs or {}
    candidates = tuple(candidates) or ({},)
    daily = inputs.daily
    regions = list(daily.columns)
    excl = {(r, pd.Timestamp(d)) for r, d in exclude}
    rows, past = [], []
    for origin in pd.DatetimeIndex(origins):
        hist = daily.loc[:origin]
        if hist.index[-1] != origin:
            raise fit.SeriesError(f"origin {origin.date()} is outside the data / 起始日超出数据范围")
        if correct:
            hist, _ = fit.correct_reporting_changes(hist)
        future = daily.loc[origin + pd.Timedelta(days=1):origin + pd.Timedelta(days=horizon_days)]
        h = len(future)
        if h == 0:
            continue
        raw, own, means = [], [], []
        fk = dict(forecast_kwargs)
        if dispersion == "history":
            fk["nb_size"] = dispersion_mod.nb_size_from_history(hist)
        elif dispersion == "learned":
            fk["nb_size"] = _past_nb_size(past, origin, fk.get("nb_size", 20.0))
        for cand in candidates:
            kw = {**fit_kwargs, **cand}
            flows, imp_fit, imp_fc = inputs.flows, None, None
            if imports != "none":
                flows, imp_fit, imp_fc = _import_term(inputs, hist, origin, h, kw)
                imp_fc = imp_fc if imports == "fit_and_forecast" else None
            f = fit.fit_eakf(hist, inputs.population, flows, imports=imp_fit, **kw)
            smp = fit.forecast_samples(f, h, flows, imports=imp_fc, **fk)
            raw.append(np.quantile(smp["confirmed"], scoring.QUANTILES, axis=0))
            own.append(_own_draw(smp["confirmed"], origin))
            means.append(np.quantile(smp["confirmed_mean"], scoring.QUANTILES, axis=0))
        y = future.to_numpy(float)
        q_pw = baselines.persistence_quantiles(hist.to_numpy(), h, level="week_mean")
        c, factors, w = _select(past, origin, len(candidates), calibration)
        q_seir = _rescale(raw[c], factors)
        qs = {
            "seir": q_seir,
            "ensemble": w * q_seir + (1 - w) * q_pw,
            "persistence": baselines.persistence_quantiles(hist.to_numpy(), h),
            "persistence_week": q_pw,
            "loglinear": baselines.loglinear_quantiles(hist.to_numpy(), h),
        }
        hz = np.broadcast_to(np.arange(1, h + 1)[:, None], y.shape)
        tdates = np.broadcast_to(future.index.to_numpy()[:, None], y.shape)
        regs = np.broadcast_to(np.array(regions, dtype=object)[None], y.shape)
        row = {"origin": origin, "region": regs.ravel(), "horizon_days": hz.ravel(),
               "target_date": tdates.ravel(), "observed": y.ravel(), "spread_50": factors[-1],
               "spread_95": factors[1], "variant": c, "ensemble_weight": w,
               "nb_size": float(fk.get("nb_size", 20.0))}
        for lv in (50, 95):  # coverage these quantiles would show if the forecast were calibrated
            row[f"scov{lv}_seir"] = scoring.coverage(raw[c], own[c], lv / 100).ravel()
        for name, q in qs.items():
            if name == "loglinear" and len(hist) < LOGLINEAR_MIN_DAYS:
                for col in SCORE_COLUMNS:
                    row[f"{col}_{name}"] = np.full(y.size, np.nan)  # not scored: too little history
                continue
            row[f"wis_{name}"] = scoring.wis(q, y).ravel()
            for lv in (50, 95):
                row[f"cov{lv}_{name}"] = scoring.coverage(q, y, lv / 100).ravel()
                row[f"rcov{lv}_{name}"] = scoring.coverage_randomised(q, y, lv / 100).ravel()
        frame = pd.DataFrame(row)
        frame["excluded"] = [(r, pd.Timestamp(d)) in excl for r, d in zip(frame["region"], frame["target_date"])]
        rows.append(frame)
        keep = ~frame["excluded"].to_numpy().reshape(y.shape)
        past.append((raw, q_pw, y, future.index, keep, means[c]))
    return pd.concat(rows, ignore_index=True)


SCORE_COLUMNS = ("wis", "cov50", "cov95", "rcov50", "rcov95")


def _import_term(inputs: Inputs, hist: pd.DataFrame, origin: pd.Timestamp, horizon_days: int, kw: dict
                 ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Flows without the origin region's outgoing row, and the import term ``(days, members, R)``
    over the fit (spin-up + data) and over the forecast, from data up to ``origin`` only."""
    imp = inputs.imports
    spinup = kw.get("spinup_days", 14)
    start = hist.index[0] - pd.Timedelta(days=spinup)
    end = origin + pd.Timedelta(days=horizon_days)
    iv = kw.get("interventions") or seir.lockdown_2020(kw.get("lockdown_beta_factor", 0.5),
                                                       kw.get("ascertainment_odds_factor",
                                                              fit.LI2020_ASCERTAINMENT_ODDS))
    iv = [i for i in iv if pd.Timestamp(i.date) <= origin]  # only the changes known at the origin
    trav = imp.travellers.reindex(columns=hist.columns).fillna(0.0)
    term, _ = importation.import_term(imp.origin_daily, imp.origin_population, trav, inputs.population,
                                      origin, start, end, n_members=kw.get("n_members", 300),
                                      interventions=iv, seed=kw.get("seed", 0))
    term = np.transpose(term, (1, 0, 2))
    n_fit = len(hist) + spinup
    flows = None
    if inputs.flows is not None:
        flows = np.array(inputs.flows, float)
        flows[..., list(hist.columns).index(imp.origin_region), :] = 0.0
    return flows, term[:n_fit], term[n_fit:]


def _own_draw(samples: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    """One sample path ``(horizon, regions)`` drawn from the forecast's own samples (another
    member for every task): an outcome of a world where the forecast is exactly calibrated. The
    Hub's closed-interval coverage of the forecast's quantiles on such outcomes is the coverage
    a calibrated forecast of these counts would show (above nominal where counts are small)."""
    rng = np.random.default_rng(int(origin.strftime("%Y%m%d")))
    pick = rng.integers(0, samples.shape[0], samples.shape[1:])
    return np.take_along_axis(samples, pick[None], axis=0)[0]


DISPERSIONS = ("fixed", "history", "learned")
IMPORTS = ("none", "fit", "fit_and_forecast")


def _past_nb_size(past: list, origin: pd.Timestamp, default: float) -> float:
    """:func:`forecast.epidemic.dispersion.learn_nb_size` on the past tasks observed at ``origin``
    (``default`` while fewer than :data:`CALIBRATION_MIN_TASKS`)."""
    qs, ys = [], []
    for _, _, y, dates, keep, mean_q in past:
        seen = np.asarray(dates <= origin)[:, None] & keep
        qs.append(mean_q[:, seen])
        ys.append(y[seen])
    if not ys or sum(len(v) for v in ys) < CALIBRATION_MIN_TASKS:
        return float(default)
    return dispersion_mod.learn_nb_size(np.concatenate(qs, axis=1), np.concatenate(ys))


def _select(past: list, origin: pd.Timestamp, n_candidates: int, calibration: str
            ) -> tuple[int, np.ndarray, float]:
    """(variant, 11 spread factors, ensemble weight) from the past tasks already observed at
    ``origin``; (0, ones, 0.5) when there are none."""
    raws, pws, ys = [[] for _ in range(n_candidates)], [], []
    for raw, q_pw, y, dates, keep, _ in past:
        seen = np.asarray(dates <= origin)[:, None] & keep
        if seen.any():
            for i in range(n_candidates):
                raws[i].append(raw[i][:, seen])
            pws.append(q_pw[:, seen])
            ys.append(y[seen])
    ones = np.ones(scoring.MEDIAN_INDEX)
    if not ys:
        return 0, ones, 0.5
    y = np.concatenate(ys)
    pooled = [np.concatenate(r, axis=1) for r in raws]
    c = int(np.argmin([scoring.wis(q, y).mean() for q in pooled]))
    factors = ones
    if calibration != "none" and len(y) >= CALIBRATION_MIN_TASKS:
        if calibration == "levels":
            factors = learn_level_factors(pooled[c], y)
        else:
            scores = [scoring.wis(_rescale(pooled[c], s), y).mean() for s in SPREAD_GRID]
            factors = np.full(scoring.MEDIAN_INDEX, SPREAD_GRID[int(np.argmin(scores))])
    q_seir, q_pw = _rescale(pooled[c], factors), np.concatenate(pws, axis=1)
    w_scores = [scoring.wis(w * q_seir + (1 - w) * q_pw, y).mean() for w in WEIGHT_GRID]
    return c, factors, float(WEIGHT_GRID[int(np.argmin(w_scores))])


MODELS = ("seir", "ensemble", "persistence", "persistence_week", "loglinear")


def _summary(t: pd.DataFrame) -> dict:
    out: dict = {"n_tasks": int(len(t))}
    for model, pre in (("seir", ""), ("ensemble", "ensemble_")):
        out.update({
            f"{pre}relative_wis_vs_persistence": scoring.relative_wis(t[f"wis_{model}"], t["wis_persistence"]),
            f"{pre}relative_wis_vs_persistence_week": scoring.relative_wis(t[f"wis_{model}"],
                                                                           t["wis_persistence_week"]),
            f"{pre}relative_wis_vs_loglinear": scoring.relative_wis(t[f"wis_{model}"], t["wis_loglinear"]),
            f"{pre}coverage_50": float(t[f"cov50_{model}"].mean()),
            f"{pre}coverage_95": float(t[f"cov95_{model}"].mean()),
        })
    for m in MODELS:
        out[f"mean_wis_{m}"] = float(t[f"wis_{m}"].mean())
    for m in MODELS[2:]:
        out[f"coverage_50_{m}"] = float(t[f"cov50_{m}"].mean())
        out[f"coverage_95_{m}"] = float(t[f"cov95_{m}"].mean())
    if "rcov50_seir" in t:
        for m, pre in (("seir", ""), ("persistence", "persistence_")):
            for lv in (50, 95):
                out[f"{pre}coverage_{lv}_randomised"] = float(t[f"rcov{lv}_{m}"].mean())
    if "scov50_seir" in t:
        for lv in (50, 95):
            out[f"coverage_{lv}_if_calibrated"] = float(t[f"scov{lv}_seir"].mean())
    if "observed" in t:
        pos = t["observed"] > 0
        out["n_tasks_observed_positive"] = int(pos.sum())
        for lv in (50, 95):
            out[f"coverage_{lv}_observed_positive"] = float(t.loc[pos, f"cov{lv}_seir"].mean())
    return out


def summarise(tasks: pd.DataFrame, include_excluded: bool = False) -> dict:
    """Pooled scores (relative WIS = ratio of mean WIS on the same tasks), the same by horizon and,
    when the tasks have origins, by period (``development``: origins <= :data:`DEV_END`, on which
    the hyper-parameters were chosen; ``evaluation``: the later origins).

    Examples
    --------
    >>> t = pd.DataFrame({"horizon_days": [1, 2], "excluded": [False, False],
    ...                   **{f"wis_{m}": [1.0, 3.0] for m in MODELS},
    ...                   **{f"cov{c}_{m}": [1.0, 0.0] for c in (50, 95) for m in MODELS}})
    >>> s = summarise(t)
    >>> s["relative_wis_vs_persistence"], s["coverage_95"], len(s["by_horizon"])
    (1.0, 0.5, 2)
    """
    t = tasks if include_excluded else tasks[~tasks["excluded"]]
    out = _summary(t)
    out["by_horizon"] = [{"horizon_days": int(h), **_summary(g)} for h, g in t.groupby("horizon_days")]
    if "origin" in t:
        dev = t["origin"] <= DEV_END
        out["by_period"] = {name: _summary(t[sel]) for name, sel in
                            (("development", dev), ("evaluation", ~dev)) if sel.any()}
    return out


def horizon_table(summary: dict) -> pd.DataFrame:
    """The by-horizon part of :func:`summarise` as a table (one row per horizon, plus ``all``).

    Examples
    --------
    >>> horizon_table({"n_tasks": 1, "coverage_50": 0.5, "by_horizon": []}).index.tolist()
    ['all']
    """
    rows = [{k: v for k, v in h.items()} for h in summary["by_horizon"]]
    rows.append({"horizon_days": "all", **{k: v for k, v in summary.items()
                                            if k not in ("by_horizon", "by_period")}})
    return pd.DataFrame(rows).set_index("horizon_days")


def seed_means(summaries: dict) -> dict:
    """The headline scores per Monte Carlo seed and their mean over seeds (issue 19's keys).

    Parameters
    ----------
    summaries : dict
        Seed -> :func:`summarise` output of the same backtest run with that seed.

    Returns
    -------
    dict
        ``relative_wis_vs_persistence_seed_mean``, ``coverage_95_seed_mean``,
        ``coverage_50_randomised_seed_mean`` and ``per_seed`` (seed -> those three scores, and the
        same prefixed ``development_`` / ``evaluation_`` when the summaries have ``by_period``).

    Examples
    --------
    >>> s = {0: {"relative_wis_vs_persistence": 0.6, "coverage_95": 0.9, "coverage_50_randomised": 0.5},
    ...      1: {"relative_wis_vs_persistence": 0.8, "coverage_95": 0.94, "coverage_50_randomised": 0.4}}
    >>> round(seed_means(s)["relative_wis_vs_persistence_seed_mean"], 3)
    0.7
    """
    keys = ("relative_wis_vs_persistence", "coverage_95", "coverage_50_randomised")
    per = {str(sd): {k: s.get(k) for k in keys} for sd, s in summaries.items()}
    out = {f"{k}_seed_mean": float(np.mean([v[k] for v in per.values() if v[k] is not None])) for k in keys}
    for sd, s in summaries.items():  # the tuning split of each seed (development / evaluation origins)
        for period, ps in s.get("by_period", {}).items():
            per[str(sd)].update({f"{period}_{k}": ps.get(k) for k in keys})
    out["per_seed"] = per
    return out
