"""Fit the metapopulation SEIR to daily case series and forecast with quantiles.

Pipeline: :func:`daily_from_cumulative` (gaps, decreases: documented corrections) ->
:func:`correct_reporting_changes` (Hubei 2020-02-12 clinical diagnoses) -> :func:`fit_eakf` (an
ensemble adjustment Kalman filter as Li et al. 2020: states, the pipeline of unreported documented
infections, a per-region log beta and logit ascertainment are adjusted every day from that day's
count, on the log scale) ->
:func:`forecast_samples` (ensemble run forward, log beta keeps its random walk, negative binomial
reporting noise) -> :func:`quantile_table` (the Forecast Hub's 23 quantiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from forecast.epidemic import seir
from forecast.epidemic.scoring import QUANTILES

#: Expected close contacts per confirmed case. Default: ~8.7, China's NHC cumulative traced close
#: contacts (~707,000) over cumulative confirmed (~81,500) at 2020-03-31 (approximate); replace with
#: the engine's measured companions-per-case ratio.
DEFAULT_CONTACTS_PER_CASE = 8.7
MIN_HISTORY_DAYS = 4
#: Odds ratio of the documented fraction after / before 2020-01-23 (Li et al. 2020: alpha 0.14
#: before, 0.65 over 01-24..02-08): (0.65 / 0.35) / (0.14 / 0.86) = 11.4.
LI2020_ASCERTAINMENT_ODDS = 11.4


class SeriesError(ValueError):
    """A case series that cannot be fitted (gaps after correction, too little history, bad values)."""


@dataclass(frozen=True)
class ReportingChange:
    """A known one-day reporting change: the excess over the previous days' median on ``date`` in
    ``region`` is moved back over the ``spread_days`` before it, in proportion to their counts."""

    date: str
    region: str
    reason: str
    spread_days: int = 21
    baseline_days: int = 3


#: Hubei added clinically diagnosed cases on 2020-02-12 (14,840 new, ~13,332 of them clinical).
HUBEI_CLINICAL_2020_02_12 = ReportingChange("2020-02-12", "Hubei", "clinically diagnosed cases added / 临床诊断病例纳入")


def daily_from_cumulative(cum: pd.DataFrame, date_col: str = "date", region_col: str = "province",
                          value_col: str = "confirmed") -> tuple[pd.DataFrame, list[str]]:
    """Daily increments (dates x regions) from a long cumulative table, with a log of corrections.

    Corrections (documented, counted): missing dates of a region are forward-filled (0 before its
    first report); a cumulative value below an earlier one is raised to the running maximum (the
    later lower figure is read as a revision, so no negative increment is produced). The first
    date has no increment and is dropped. Bad values raise :class:`SeriesError`.

    Parameters
    ----------
    cum : DataFrame
        Long cumulative table: one row per (date, region), e.g. CITY_SERIES; values numeric and >= 0.
    date_col : str
        Column of the dates (anything :func:`pandas.to_datetime` reads; times of day are dropped).
    region_col : str
        Column of the regions (read as str).
    value_col : str
        Column of the cumulative counts.

    Returns
    -------
    daily : DataFrame
        Daily increments (float), index every date from the second to the last, one column per region.
    log : list of str
        One line per kind of correction made (forward fills, raised decreases); empty if none.

    Raises
    ------
    SeriesError
        When a column is missing, a value or date is bad or negative, or a (date, region) repeats.

    Examples
    --------
    >>> df = pd.DataFrame({"date": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-05"],
    ...                    "province": "A", "confirmed": [1, 4, 3, 9]})
    >>> d, log = daily_from_cumulative(df)
    >>> d["A"].tolist(), len(log)
    ([3.0, 0.0, 0.0, 5.0], 2)
    """
    missing = {date_col, region_col, value_col} - set(cum.columns)
    if missing:
        raise SeriesError(f"series lacks columns {sorted(missing)} / 病例序列缺少列")
    values = pd.to_numeric(cum[value_col], errors="coerce")
    dates = pd.to_datetime(cum[date_col], errors="coerce")
    if values.isna().any() or dates.isna().any() or (values < 0).any():
        raise SeriesError("series has non-numeric, negative or missing values or dates / 病例序列含无效值或日期")
    long = pd.DataFrame({"date": dates.dt.normalize(), "region": cum[region_col].astype(str), "v": values})
    if long.duplicated(["date", "region"]).any():
        raise SeriesError("series has duplicate (date, region) rows / 病例序列有重复行")
    wide = long.pivot(index="date", columns="region", values="v").sort_index()
    full = pd.date_range(wide.index.min(), wide.index.max(), freq="D")
    log: list[str] = []
    n_gap_dates = len(full) - len(wide.index)
    wide = wide.reindex(full)
    n_gaps = int(wide.isna().sum().sum() - wide.ffill().isna().sum().sum())
    if n_gaps:
        log.append(f"forward-filled {n_gaps} missing cumulative values ({n_gap_dates} whole dates)")
    wide = wide.ffill().fillna(0.0)
    mono = wide.cummax()
    n_dec = int((mono.to_numpy() != wide.to_numpy()).sum())
    if n_dec:
        log.append(f"raised {n_dec} decreasing cumulative values to the running maximum")
    daily = mono.diff().iloc[1:]
    return daily.astype(float), log


def correct_reporting_changes(daily: pd.DataFrame, changes: list[ReportingChange] | None = None
                              ) -> tuple[pd.DataFrame, list[str]]:
    """Move the excess of each known reporting change (on a date inside ``daily``) to the days before
    it. Changes after the last date are not applied (no look-ahead in backtests). Totals are kept.

    Parameters
    ----------
    daily : DataFrame
        Daily counts, dates (DatetimeIndex) x regions (e.g. from :func:`daily_from_cumulative`). Not modified.
    changes : list of ReportingChange, optional
        The known changes; None: ``[HUBEI_CLINICAL_2020_02_12]``; ``[]``: none.

    Returns
    -------
    daily : DataFrame
        A corrected copy of ``daily``.
    log : list of str
        One line per change applied (region, date, the excess moved and the reason).

    Examples
    --------
    >>> d = pd.DataFrame({"Hubei": [10.0] * 5 + [110.0]}, index=pd.date_range("2020-02-07", periods=6))
    >>> c, log = correct_reporting_changes(d)
    >>> c["Hubei"].tolist(), bool(c["Hubei"].sum() == d["Hubei"].sum())
    ([30.0, 30.0, 30.0, 30.0, 30.0, 10.0], True)
    """
    changes = [HUBEI_CLINICAL_2020_02_12] if changes is None else changes
    out = daily.copy()
    log = []
    for ch in changes:
        day = pd.Timestamp(ch.date)
        if ch.region not in out.columns or day not in out.index:
            continue
        i = out.index.get_loc(day)
        col = out.columns.get_loc(ch.region)
        before = out.iloc[max(0, i - ch.baseline_days):i, col].to_numpy()
        if len(before) == 0:
            continue
        base = float(np.median(before))
        excess = float(out.iat[i, col]) - base
        if excess <= 0:
            continue
        window = out.iloc[max(0, i - ch.spread_days):i, col].to_numpy()
        weights = window / window.sum() if window.sum() > 0 else np.full(len(window), 1.0 / len(window))
        out.iloc[max(0, i - ch.spread_days):i, col] = window + excess * weights
        out.iat[i, col] = base
        log.append(f"{ch.region} {ch.date}: moved {excess:.0f} ({ch.reason}) to the {len(window)} days before")
    return out, log


@dataclass
class FitResult:
    """Posterior ensemble at the last fitted day (``as_of``)."""

    state: seir.State
    params: seir.Params
    regions: list[str]
    as_of: pd.Timestamp
    interventions: list[seir.Intervention]
    beta_walk_sd: float
    log: list[str] = field(default_factory=list)
    forecast_walk_sd: float | None = None
    delay_by_cohort: bool = False


def _eakf_update(xs: list[np.ndarray], h: np.ndarray, y: np.ndarray, oev: np.ndarray) -> list[np.ndarray]:
    """One EAKF update per region (observation of region i adjusts region i's variables only)."""
    hm = h.mean(axis=0)
    hd = h - hm
    hv = (hd**2).mean(axis=0)
    ok = hv > 1e-9
    hv_safe = np.where(ok, hv, 1.0)
    post_var = hv_safe * oev / (hv_safe + oev)
    post_mean = post_var * (hm / hv_safe + y / oev)
    h_post = post_mean + np.sqrt(oev / (oev + hv_safe)) * hd
    dy = np.where(ok, h_post - h, 0.0)
    out = []
    for x in xs:
        xd = x - x.mean(axis=0)
        if x.ndim == 3:
            gain = np.einsum("krl,kr->rl", xd, hd) / x.shape[0] / hv_safe[:, None]
            out.append(x + gain[None] * dy[..., None])
        else:
            gain = (xd * hd).mean(axis=0) / hv_safe
            out.append(x + gain * dy)
    return out


def fit_eakf(daily: pd.DataFrame, population: np.ndarray, flows: np.ndarray | None = None, *,
             interventions: list[seir.Intervention] | None = None, n_members: int = 300,
             spinup_days: int = 14, beta_walk_sd: float = 0.7, inflation: float = 1.03,
             oev_rel: float = 0.2, seed: int = 0, min_history_days: int = MIN_HISTORY_DAYS,
             beta_range: tuple[float, float] = (0.6, 1.5), lockdown_beta_factor: float = 0.5,
             max_r0: float = 3.0, update_pipe: bool = True, update_alpha: bool = True,
             forecast_walk_sd: float | None = 0.03,
             ascertainment_odds_factor: float | None = LI2020_ASCERTAINMENT_ODDS,
             spinup_walk_sd: float | None = 0.0, delay_by_cohort: bool = True,
             imports: np.ndarray | None = None) -> FitResult:
    """Fit by an ensemble adjustment Kalman filter over the dates of ``daily`` (dates x regions).

    The model runs ``spinup_days`` before the first date from seeds scaled to the first counts.
    Each day, region i's count adjusts region i's log E, Id, Iu, pipeline, log beta and logit
    alpha (local update, vectorised over regions), on the log1p scale with observation error
    variance ``1 / (y + 1) + oev_rel^2`` (``y`` a 3-day mean: Poisson-like at small counts, a
    constant coefficient of variation at large ones). States are inflated by ``inflation`` before
    each update; log beta follows a random walk (sd ``beta_walk_sd`` per day once data arrive,
    ``spinup_walk_sd`` during the spin-up, when no data can correct it: 0 keeps the prior;
    ``forecast_walk_sd`` in forecasts); the R0 of the base beta is capped at ``max_r0``; ``lockdown_beta_factor``
    multiplies transmission from 2020-01-23 and ``ascertainment_odds_factor`` the odds of
    documentation (see :func:`forecast.epidemic.seir.lockdown_2020`; both are ignored when
    ``interventions`` is given). ``alpha`` is the documented fraction before any ascertainment
    change; the effective fraction of each day is :func:`forecast.epidemic.seir.effective_alpha`.
    ``delay_by_cohort``: each day's documented infections are reported with the delay of the day
    they were documented (:func:`forecast.epidemic.seir.delay_weights`).

    ``flows``: ``(R, R)`` or ``(days, R, R)`` trips aligned with ``daily``'s dates (a shorter daily
    array is extended with its mean).

    Parameters
    ----------
    daily : DataFrame
        Daily new confirmed cases: consecutive days (DatetimeIndex) x regions, finite and >= 0, at least
        ``min_history_days`` rows.
    population : ndarray
        Residents per region, ``(R,)`` in the column order of ``daily``, all > 0.
    flows : ndarray, optional
        Trips per day, origin x destination (see above); None: regions do not mix.
    interventions : list of Intervention, optional
        Known changes of travel, transmission, delay and ascertainment; None:
        :func:`forecast.epidemic.seir.lockdown_2020` with ``lockdown_beta_factor`` and
        ``ascertainment_odds_factor``.
    n_members : int
        Ensemble members.
    spinup_days : int
        Days the model runs before the first date of ``daily``.
    beta_walk_sd : float
        Standard deviation per day of the random walk of log beta while data arrive.
    inflation : float
        Multiplicative inflation of the ensemble spread before each update (1: none).
    oev_rel : float
        Relative part (a coefficient of variation) of the observation error variance.
    seed : int
        Seed of the random generator (prior draws, seeds, random walk).
    min_history_days : int
        Least number of days of ``daily``.
    beta_range : (float, float)
        Uniform prior range of beta (transmission rate per day).
    lockdown_beta_factor : float
        Multiplier of transmission from 2020-01-23 in the default schedule.
    max_r0 : float
        Cap on the R0 of the base beta.
    update_pipe, update_alpha : bool
        Whether the filter adjusts the pipeline of unreported documented infections, and logit alpha.
    forecast_walk_sd : float, optional
        Standard deviation per day of the random walk of log beta in forecasts; None: ``beta_walk_sd``.
    ascertainment_odds_factor : float, optional
        Multiplier of the odds of documentation from 2020-01-23 in the default schedule (Li et al.
        2020: 11.4); None: unchanged.
    spinup_walk_sd : float, optional
        Standard deviation per day of the random walk of log beta during the spin-up; None: ``beta_walk_sd``.
    delay_by_cohort : bool
        Report each day's documented infections with the delay of the day they were documented.
    imports : ndarray, optional
        Imported infections per day from outside the regions, ``(spinup_days + days, members or 1,
        regions)`` from the first day of the spin-up to the last of ``daily`` (the import term,
        e.g. :func:`forecast.epidemic.importation.import_term` transposed to days first); added to
        the exposed each day (:func:`forecast.epidemic.seir.add_imports`). None: none.

    Returns
    -------
    FitResult
        The posterior ensemble at the last date of ``daily`` (``as_of``): ``state`` and ``params``
        ``(members, regions)``, ``regions`` (the column names as str), the ``interventions`` used, and
        the random-walk settings the forecast uses.

    Raises
    ------
    SeriesError
        When ``daily`` is too short, has gaps or bad values, or ``population`` does not fit it.

    References
    ----------
    Li, R., Pei, S., Chen, B., Song, Y., Zhang, T., Yang, W. and Shaman, J. (2020). Substantial
    undocumented infection facilitates the rapid dissemination of novel coronavirus (SARS-CoV-2).
    Science 368(6490), 489-493.

    Examples
    --------
    >>> d = pd.DataFrame({"A": [1.0, 2, 3, 5, 8, 12], "B": [0.0, 0, 1, 1, 2, 3]},
    ...                  index=pd.date_range("2020-01-20", periods=6))
    >>> f = fit_eakf(d, np.array([1e6, 1e6]), n_members=20)
    >>> f.state.S.shape, str(f.as_of.date())
    ((20, 2), '2020-01-25')
    """
    if len(daily) < min_history_days:
        raise SeriesError(f"need >= {min_history_days} days of history, got {len(daily)} / 历史数据天数不足")
    y_all = daily.to_numpy(float)
    if not np.all(np.isfinite(y_all)) or (y_all < 0).any():
        raise SeriesError("daily counts must be finite and >= 0 / 每日病例数必须为非负有限数")
    if not pd.DatetimeIndex(daily.index).equals(pd.date_range(daily.index[0], periods=len(daily))):
        raise SeriesError("daily series has date gaps; use daily_from_cumulative / 日期不连续")
    pop = np.asarray(population, float)
    if pop.shape != (daily.shape[1],) or not np.all(pop > 0):
        raise SeriesError("population must be > 0 for every region / 每个地区的人口必须大于 0")
    if interventions is None:
        interventions = seir.lockdown_2020(lockdown_beta_factor, ascertainment_odds_factor)
    rng = np.random.default_rng(seed)
    n_regions = daily.shape[1]
    params = seir.draw_params(n_members, n_regions, rng, beta_range=beta_range)
    params = replace(params, alpha=np.repeat(params.alpha, n_regions, axis=1))
    start = pd.Timestamp(daily.index[0]) - pd.Timedelta(days=spinup_days)
    dates = pd.date_range(start, daily.index[-1], freq="D")
    trips = seir.as_daily_trips(None if flows is None else _align_flows(flows, len(daily), spinup_days),
                                len(dates), n_regions)
    travel, beta_mult, _ = seir.schedule_arrays(dates, n_regions, interventions)
    odds = seir.ascertainment_arrays(dates, n_regions, interventions)
    y0 = y_all[: min(3, len(y_all))].mean(axis=0) + 0.3
    alpha0 = seir.effective_alpha(params.alpha, odds[spinup_days])
    seed_e = (y0 / alpha0) * np.exp(rng.uniform(np.log(0.02), np.log(0.5), (n_members, n_regions)))
    state = seir.initial_state(pop, seed_e, n_members)
    weights = seir.delay_weights(dates, interventions, state.pipe.shape[-1], delay_by_cohort)
    y_smooth = pd.DataFrame(y_all).rolling(3, min_periods=1).mean().to_numpy()
    beta_lo, beta_hi = np.log(0.05), np.log(3.0)
    if imports is not None and np.shape(imports)[0] != len(dates):
        raise SeriesError(f"imports must cover the {len(dates)} days of spin-up and data / 输入病例天数不符")
    for t in range(len(dates)):
        sd = beta_walk_sd if t >= spinup_days or spinup_walk_sd is None else spinup_walk_sd
        params = replace(params, beta=params.beta * np.exp(rng.normal(0, sd, params.beta.shape)))
        if imports is not None:
            seir.add_imports(state, imports[t])
        state, rep, _ = seir.step(state, params, trips[t], travel[t], beta_mult[t], weights[t], copy=False,
                                  alpha_odds=odds[t])
        ti = t - spinup_days
        if ti < 0:
            continue
        # update on the log scale: exponential dynamics make log counts close to linear-Gaussian
        xs = [np.log1p(state.E), np.log1p(state.Id), np.log1p(state.Iu), np.log1p(state.pipe),
              np.log(params.beta), np.log(params.alpha / (1 - params.alpha))]
        xs = [x.mean(axis=0) + inflation * (x - x.mean(axis=0)) for x in xs]
        h = np.log1p(np.expm1(xs[3]) @ weights[t])
        oev = 1.0 / (y_smooth[ti] + 1.0) + oev_rel**2
        E, Id, Iu, pipe, lb, la = _eakf_update(xs, h, np.log1p(y_all[ti]), oev)
        if not update_alpha:
            la = xs[5]
        if not update_pipe:
            pipe = xs[3]
        alive = state.alive()
        E, Id, Iu = (np.minimum(np.expm1(np.maximum(v, 0)), alive) for v in (E, Id, Iu))
        state = replace(state, E=E, Id=Id, Iu=Iu, pipe=np.expm1(np.clip(pipe, 0, 20)))
        state.S = np.clip(alive - state.E - state.Id - state.Iu - state.R, 0, None)
        state.R = alive - state.S - state.E - state.Id - state.Iu  # conserve population
        alpha = 1 / (1 + np.exp(-np.clip(la, -4.0, 4.0)))
        a_eff = seir.effective_alpha(alpha, odds[t])
        # R0 of the base beta bounded by max_r0 (the published range in January 2020 was 1.4-4)
        hi = np.minimum(beta_hi, np.log(max_r0 / ((a_eff + (1 - a_eff) * params.mu) * params.D)))
        params = replace(params, beta=np.exp(np.clip(lb, beta_lo, hi)), alpha=alpha)
        state.C = np.broadcast_to(daily.iloc[: ti + 1].sum().to_numpy(), state.C.shape).copy()
    return FitResult(state, params, [str(c) for c in daily.columns], pd.Timestamp(daily.index[-1]),
                     interventions, beta_walk_sd, forecast_walk_sd=forecast_walk_sd,
                     delay_by_cohort=delay_by_cohort)


def _align_flows(flows: np.ndarray, n_days: int, spinup_days: int) -> np.ndarray:
    """Daily flows given for the data days: repeat the first day over the spin-up."""
    f = np.asarray(flows, float)
    if f.ndim == 3:
        f = np.concatenate([np.repeat(f[:1], spinup_days, axis=0), f])
    return f


def forecast_samples(fit: FitResult, horizon_days: int = 30, flows: np.ndarray | None = None, *,
                     nb_size: float = 20.0, draws_per_member: int = 3, seed: int = 1,
                     imports: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Ensemble forecast: samples ``(n_samples, horizon, regions)`` of daily confirmed and deaths
    (negative binomial with size ``nb_size`` around each member's path) and ``rt`` ``(members,
    regions)`` at the origin.

    Parameters
    ----------
    fit : FitResult
        The posterior ensemble (:func:`fit_eakf`); the forecast starts the day after ``fit.as_of``.
    horizon_days : int
        Days forecast, at least 1 (``ValueError`` otherwise).
    flows : ndarray, optional
        Trips per day during the forecast, ``(R, R)`` or ``(days, R, R)``; None: no travel.
    nb_size : float
        Size (dispersion) of the negative binomial: variance ``m + m^2 / nb_size`` around a mean ``m``.
    draws_per_member : int
        Noisy draws per ensemble member.
    seed : int
        Seed of the random generator.
    imports : ndarray, optional
        ``(horizon_days, members or 1, regions)`` imported infections per forecast day; None: none.

    Returns
    -------
    dict of str to ndarray
        ``"confirmed"`` and ``"deaths"``: ``(members * draws_per_member, horizon_days, regions)`` daily
        counts (deaths all 0 when the fit has no death rate); ``"confirmed_mean"``: ``(members,
        horizon_days, regions)`` each member's expected daily confirmed (before the reporting noise);
        ``"rt"``: ``(members, regions)`` at the origin.

    Examples
    --------
    >>> d = pd.DataFrame({"A": [1.0, 2, 3, 5, 8, 12]}, index=pd.date_range("2020-01-20", periods=6))
    >>> f = fit_eakf(d, np.array([1e6]), n_members=20)
    >>> s = forecast_samples(f, 7, draws_per_member=2)
    >>> s["confirmed"].shape, s["rt"].shape
    ((40, 7, 1), (20, 1))
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be >= 1 / 预测天数必须 >= 1")
    rng = np.random.default_rng(seed)
    dates = pd.date_range(fit.as_of + pd.Timedelta(days=1), periods=horizon_days, freq="D")
    n_regions = fit.state.S.shape[1]
    _, bm, _ = seir.schedule_arrays(pd.DatetimeIndex([fit.as_of]), n_regions, fit.interventions)
    odds = seir.ascertainment_arrays(pd.DatetimeIndex([fit.as_of]), n_regions, fit.interventions)
    rt = seir.reproduction_number(fit.state, fit.params, bm[0], odds[0])
    _, rep, dead = seir.simulate(fit.state, fit.params, dates, flows, fit.interventions,
                                 beta_walk_sd=fit.beta_walk_sd if fit.forecast_walk_sd is None
                                 else fit.forecast_walk_sd, rng=rng, delay_by_cohort=fit.delay_by_cohort,
                                 imports=imports)
    out = {"rt": rt, "confirmed_mean": np.transpose(rep, (1, 0, 2))}
    for name, mean in (("confirmed", rep), ("deaths", dead)):
        if name == "deaths" and not np.any(fit.params.cfr):
            out[name] = np.zeros((mean.shape[1] * draws_per_member,) + mean.shape[::2])
            continue
        m = np.repeat(np.transpose(mean, (1, 0, 2)), draws_per_member, axis=0)  # (K*d, H, R)
        m = np.maximum(m, 1e-9)
        out[name] = rng.negative_binomial(nb_size, nb_size / (nb_size + m)).astype(float)
    return out


def sample_quantiles(samples: np.ndarray, spread_scale: float = 1.0) -> np.ndarray:
    """The 23 quantiles over axis 0; ``spread_scale`` widens (>1) or narrows the spread around the
    median on the log1p scale (a calibration learned from past origins only).

    Examples
    --------
    >>> q = sample_quantiles(np.arange(101.0)[:, None])
    >>> q.shape, float(q[11, 0])
    ((23, 1), 50.0)
    """
    q = np.quantile(samples, QUANTILES, axis=0)
    if spread_scale != 1.0:
        lq = np.log1p(q)
        med = lq[QUANTILES.tolist().index(0.5)]
        q = np.expm1(med + spread_scale * (lq - med))
    return np.maximum(q, 0.0)


def quantile_table(fit: FitResult, samples: dict[str, np.ndarray], *, spread_scale: float = 1.0,
                   contacts_per_case: float = DEFAULT_CONTACTS_PER_CASE, with_deaths: bool = False
                   ) -> pd.DataFrame:
    """Long table: region, as_of, target, horizon_days, target_date, quantile, value.

    Targets: ``confirmed_daily``, ``close_contacts_daily`` (= confirmed x ``contacts_per_case``),
    ``deaths_daily`` (only with ``with_deaths``: the shared 2020 data has no deaths, so the death
    rate is a parameter, not a fit) and ``rt`` (horizon 0: at the origin).

    Parameters
    ----------
    fit : FitResult
        The fit the samples come from (its ``regions`` and ``as_of``).
    samples : dict of str to ndarray
        :func:`forecast_samples` output.
    spread_scale : float
        Log-scale widening (> 1) or narrowing of the quantiles around the median (1: the raw samples).
    contacts_per_case : float
        Close contacts per confirmed case, for the ``close_contacts_daily`` target.
    with_deaths : bool
        Add the ``deaths_daily`` target.

    Returns
    -------
    DataFrame
        One row per (target, quantile, horizon, region): ``region`` (str), ``as_of`` (Timestamp),
        ``target``, ``horizon_days`` (1 .. horizon; 0 for ``rt``), ``target_date`` (``as_of`` plus
        ``horizon_days``), ``quantile`` (one of the 23 levels) and ``value``.

    Examples
    --------
    >>> d = pd.DataFrame({"A": [1.0, 2, 3, 5, 8, 12]}, index=pd.date_range("2020-01-20", periods=6))
    >>> f = fit_eakf(d, np.array([1e6]), n_members=20)
    >>> t = quantile_table(f, forecast_samples(f, 3, draws_per_member=2))
    >>> sorted(t["target"].unique()), len(t)
    (['close_contacts_daily', 'confirmed_daily', 'rt'], 161)
    """
    conf = sample_quantiles(samples["confirmed"], spread_scale)  # (23, H, R)
    blocks = {"confirmed_daily": conf, "close_contacts_daily": conf * contacts_per_case}
    if with_deaths:
        blocks["deaths_daily"] = sample_quantiles(samples["deaths"], spread_scale)
    blocks["rt"] = np.quantile(samples["rt"], QUANTILES, axis=0)[:, None, :]
    frames = []
    for target, q in blocks.items():
        n_q, n_h, n_r = q.shape
        hz = np.arange(1, n_h + 1) if target != "rt" else np.zeros(1, int)
        idx = pd.MultiIndex.from_product([QUANTILES, hz, fit.regions], names=["quantile", "horizon_days", "region"])
        frames.append(pd.DataFrame({"value": q.reshape(-1)}, index=idx).reset_index().assign(target=target))
    t = pd.concat(frames, ignore_index=True)
    t["as_of"] = fit.as_of
    t["target_date"] = fit.as_of + pd.to_timedelta(t["horizon_days"], unit="D")
    return t[["region", "as_of", "target", "horizon_days", "target_date", "quantile", "value"]]


def od_matrix(flows: pd.DataFrame, regions: list, *, day_col: str | None = None) -> np.ndarray:
    """Mean daily trips between ``regions``: origins in rows, destinations in columns.

    Parameters
    ----------
    flows : DataFrame
        ``origin, destination, trips`` (one row per pair and day when ``day_col`` is given).
        Rows whose origin or destination is not in ``regions`` are left out.
    regions : list
        The regions of the case series, in its column order (same dtype as ``origin``).
    day_col : str, optional
        Column of the day: trips are divided by its number of distinct days (default: one day).

    Returns
    -------
    ndarray
        ``(len(regions), len(regions))`` mean trips per day, zero where no flow was recorded.

    Examples
    --------
    >>> f = pd.DataFrame({"origin": ["A", "A", "B", "C"], "destination": ["B", "B", "A", "A"],
    ...                   "trips": [10.0, 30.0, 4.0, 99.0], "day": [1, 2, 1, 1]})
    >>> od_matrix(f, ["A", "B"], day_col="day").tolist()
    [[0.0, 20.0], [2.0, 0.0]]
    """
    pos = pd.Series(np.arange(len(regions)), index=regions)
    known = flows["origin"].isin(pos.index) & flows["destination"].isin(pos.index)
    d = flows[known]
    n_days = max(1, int(d[day_col].nunique())) if day_col is not None else 1
    out = np.zeros((len(regions), len(regions)))
    np.add.at(out, (pos[d["origin"]].to_numpy(), pos[d["destination"]].to_numpy()),
              pd.to_numeric(d["trips"], errors="raise").to_numpy(float) / n_days)
    return out


def forecast_quantiles(daily: pd.DataFrame, population: np.ndarray, od: np.ndarray | None = None, *,
                       horizon_days: int = 30, n_members: int = 300, spread_scale: float = 1.0,
                       contacts_per_case: float = DEFAULT_CONTACTS_PER_CASE,
                       interventions: list[seir.Intervention] | None = None) -> pd.DataFrame:
    """The forecast sequence the CLI and the build share: :func:`fit_eakf` -> :func:`forecast_samples`
    -> :func:`quantile_table`.

    Parameters
    ----------
    daily : DataFrame
        Daily new confirmed cases, dates x regions, up to the forecast origin.
    population : ndarray
        Residents per region, in the column order of ``daily``.
    od : ndarray, optional
        Mean daily trips between regions (:func:`od_matrix`); none: regions do not mix.
    horizon_days : int
        Days forecast past the last day of ``daily``.
    n_members : int
        Ensemble members of the fit.
    spread_scale : float
        Log-scale widening (> 1) or narrowing of the quantiles (1: the raw ensemble).
    contacts_per_case : float
        Close contacts per confirmed case, for the ``close_contacts_daily`` target.
    interventions : list of Intervention, optional
        Known changes of transmission (e.g. :func:`forecast.epidemic.seir.lockdown_2020`).

    Returns
    -------
    DataFrame
        The long quantile table of :func:`quantile_table`.

    Raises
    ------
    SeriesError
        When the series is too short or has no cases to fit.

    Examples
    --------
    >>> d = pd.DataFrame({"A": [1.0, 2, 3, 5, 8, 12]}, index=pd.date_range("2020-01-20", periods=6))
    >>> t = forecast_quantiles(d, np.array([1e6]), horizon_days=3, n_members=20)
    >>> sorted(t["target"].unique())
    ['close_contacts_daily', 'confirmed_daily', 'rt']
    """
    result = fit_eakf(daily, population, od, n_members=n_members, interventions=interventions)
    samples = forecast_samples(result, horizon_days, od)
    return quantile_table(result, samples, spread_scale=spread_scale, contacts_per_case=contacts_per_case)
