"""Metapopulation SEIR with documented and undocumented infections, coupled by an origin-destination
matrix (Li et al., Science 2020), vectorised over ensemble members and regions.

Every state array has shape ``(n_members, n_regions)``. Compartments per region: ``S`` susceptible,
``E`` exposed, ``Id`` documented infectious (will be confirmed), ``Iu`` undocumented infectious,
``R`` removed alive, ``Dd`` dead, ``C`` cumulative confirmed (reported). ``pipe`` (members x regions x
``max_delay_days``) holds the documented infections of the last days not yet reported: day ``t``'s
reported count is the convolution of new documented infections with the reporting-delay pmf.

Travel moves ``S, E, Iu, R`` (not ``Id``: documented cases are isolated) from origin to destination in
proportion to ``trips[o, d] * theta * travel_factor``, so the total population over all regions is
conserved (deaths aside) whatever the flows are.

Transmission: ``beta`` per member and region (the filter in :mod:`forecast.epidemic.fit` lets it drift),
times a per-day, per-region multiplier from :func:`schedule_arrays` (lockdowns and later measures).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

COMPARTMENTS = ("S", "E", "Id", "Iu", "R", "Dd", "C")
MOBILE = ("S", "E", "Iu", "R")
#: The 2020-01-23 Wuhan lockdown: travel reduced to 2 % of normal everywhere (Li et al. 2020).
WUHAN_LOCKDOWN = pd.Timestamp("2020-01-23")


@dataclass(frozen=True)
class Intervention:
    """A change from ``date`` on (inclusive): travel and/or transmission and/or reporting delay.

    ``travel_factor`` multiplies all flows (``regions``: only flows out of or into these region
    indices); ``beta_factor`` multiplies transmission in ``regions`` (all when ``None``);
    ``delay_mean_days`` sets the mean reporting delay from that day on; ``ascertainment_odds_factor``
    multiplies the odds ``alpha / (1 - alpha)`` of a new infection being documented (more testing:
    Li et al. 2020 estimated alpha 0.14 before and 0.65 after 2020-01-23, odds x 11.4). Factors of
    later interventions multiply earlier ones.

    Examples
    --------
    >>> Intervention("2020-01-23", travel_factor=0.02).travel_factor
    0.02
    """

    date: str | pd.Timestamp
    travel_factor: float | None = None
    beta_factor: float | None = None
    regions: tuple[int, ...] | None = None
    delay_mean_days: float | None = None
    ascertainment_odds_factor: float | None = None


def lockdown_2020(beta_factor: float = 1.0, ascertainment_odds_factor: float | None = None
                  ) -> list[Intervention]:
    """The default 2020 schedule: travel cut to 2 % from 2020-01-23, reporting delay 9 -> 6 days.

    ``beta_factor`` < 1 adds a prior drop of transmission on that day (the filter re-estimates beta
    from data anyway). Delays follow Li et al. (2020): mean 9 days before, 6 days after 01-23.
    ``ascertainment_odds_factor`` (> 1: more infections documented from that day) is the odds
    ratio of the documented fraction after / before (Li et al.: 0.65 / 0.35 over 0.14 / 0.86,
    about 11.4).

    Examples
    --------
    >>> [i.travel_factor for i in lockdown_2020()]
    [0.02]
    """
    return [Intervention(WUHAN_LOCKDOWN, travel_factor=0.02, beta_factor=beta_factor, delay_mean_days=6.0,
                         ascertainment_odds_factor=ascertainment_odds_factor)]


def schedule_arrays(
    dates: pd.DatetimeIndex,
    n_regions: int,
    interventions: list[Intervention] | None = None,
    base_delay_mean_days: float = 9.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-day travel factors ``(T, R)``, beta multipliers ``(T, R)`` and mean delays ``(T,)``.

    Examples
    --------
    >>> d = pd.date_range("2020-01-21", periods=4)
    >>> tr, bm, dl = schedule_arrays(d, 2, lockdown_2020(0.5))
    >>> tr[:, 0].tolist(), bm[:, 1].tolist(), dl.tolist()
    ([1.0, 1.0, 0.02, 0.02], [1.0, 1.0, 0.5, 0.5], [9.0, 9.0, 6.0, 6.0])
    """
    dates = pd.DatetimeIndex(dates)
    travel = np.ones((len(dates), n_regions))
    beta_mult = np.ones((len(dates), n_regions))
    delay = np.full(len(dates), float(base_delay_mean_days))
    for iv in interventions or []:
        on = np.asarray(dates >= pd.Timestamp(iv.date))
        cols = slice(None) if iv.regions is None else list(iv.regions)
        if iv.travel_factor is not None:
            travel[np.ix_(on, np.arange(n_regions)[cols])] *= iv.travel_factor
        if iv.beta_factor is not None:
            beta_mult[np.ix_(on, np.arange(n_regions)[cols])] *= iv.beta_factor
        if iv.delay_mean_days is not None:
            delay[on] = iv.delay_mean_days
    return travel, beta_mult, delay


def ascertainment_arrays(dates: pd.DatetimeIndex, n_regions: int,
                         interventions: list[Intervention] | None = None) -> np.ndarray:
    """Per-day, per-region multipliers ``(T, R)`` of the odds of documentation (1 = unchanged).

    Examples
    --------
    >>> d = pd.date_range("2020-01-22", periods=2)
    >>> ascertainment_arrays(d, 1, lockdown_2020(0.5, 4.0))[:, 0].tolist()
    [1.0, 4.0]
    """
    dates = pd.DatetimeIndex(dates)
    odds = np.ones((len(dates), n_regions))
    for iv in interventions or []:
        if iv.ascertainment_odds_factor is None:
            continue
        on = np.asarray(dates >= pd.Timestamp(iv.date))
        cols = np.arange(n_regions) if iv.regions is None else np.asarray(iv.regions)
        odds[np.ix_(on, cols)] *= iv.ascertainment_odds_factor
    return odds


def effective_alpha(alpha: np.ndarray, odds_factor: np.ndarray | float) -> np.ndarray:
    """Documented fraction with its odds multiplied by ``odds_factor``.

    Examples
    --------
    >>> round(float(effective_alpha(np.array(0.14), 11.4)), 2)
    0.65
    """
    odds = alpha / np.maximum(1.0 - alpha, 1e-12) * odds_factor
    return odds / (1.0 + odds)


def delay_pmf(mean_days: float, shape: float = 1.85, max_days: int = 25) -> np.ndarray:
    """Discretised gamma reporting delay (shape 1.85 as Li et al.), days ``0 .. max_days - 1``.

    Examples
    --------
    >>> w = delay_pmf(6.0)
    >>> round(float(w.sum()), 6), round(float((w * np.arange(25)).sum()), 1)
    (1.0, 5.9)
    """
    if mean_days <= 0:
        raise ValueError("mean_days must be > 0 / 报告延迟均值必须大于 0")
    edges = np.concatenate([[0.0], np.arange(max_days) + 0.5])  # day k collects (k - 0.5, k + 0.5]
    cdf = stats.gamma.cdf(edges, a=shape, scale=mean_days / shape)
    w = np.diff(cdf)
    return w / w.sum()


def delay_weights(dates: pd.DatetimeIndex, interventions: list[Intervention] | None = None,
                  max_days: int = 25, by_cohort: bool = False) -> np.ndarray:
    """Per-day weights ``(T, max_days)`` on the pipeline (position k = documented k days ago).

    ``by_cohort=False``: every position uses the pmf of the reporting day (a change of the delay
    also re-times the documented infections already waiting, and a shorter delay loses part of
    their reports). ``by_cohort=True``: position k uses the pmf of the day the infection was
    documented (``t - k``), so every cohort is reported in full with its own delay.

    Examples
    --------
    >>> d = pd.date_range("2020-01-23", periods=2)
    >>> w = delay_weights(d, lockdown_2020(), by_cohort=True)
    >>> bool(np.allclose(w[0, 1:], delay_pmf(9.0)[1:])), bool(np.allclose(w[0, 0], delay_pmf(6.0)[0]))
    (True, True)
    """
    dates = pd.DatetimeIndex(dates)
    lead = max_days - 1 if by_cohort else 0
    ext = pd.date_range(dates[0] - pd.Timedelta(days=lead), dates[-1], freq="D")
    _, _, delay = schedule_arrays(ext, 1, interventions)
    pmfs = {m: delay_pmf(m, max_days=max_days) for m in np.unique(delay)}
    table = np.stack([pmfs[m] for m in delay])  # by reporting day, or by documentation day (cohort)
    if not by_cohort:
        return table
    k = np.arange(max_days)
    rows = np.arange(len(dates))[:, None] + max_days - 1 - k[None]
    return table[rows, k[None]]


@dataclass
class Params:
    """Ensemble parameters, each ``(n_members, 1)`` (global) or ``(n_members, n_regions)``.

    beta: transmission rate of documented infections per day; mu: relative transmissibility of
    undocumented ones; Z: latent period (days); D: infectious period (days); alpha: fraction
    documented (ascertainment); theta: flow multiplier; cfr: deaths per documented removal.
    """

    beta: np.ndarray
    mu: np.ndarray
    Z: np.ndarray
    D: np.ndarray
    alpha: np.ndarray
    theta: np.ndarray
    cfr: np.ndarray


def draw_params(n_members: int, n_regions: int, rng: np.random.Generator, cfr: float = 0.0,
                beta_range: tuple[float, float] = (0.6, 1.5)) -> Params:
    """Prior ensemble of parameters (ranges of Li et al. 2020, Table S1).

    Examples
    --------
    >>> p = draw_params(5, 3, np.random.default_rng(0))
    >>> p.beta.shape, p.mu.shape
    ((5, 3), (5, 1))
    """
    u = lambda lo, hi, r=1: rng.uniform(lo, hi, (n_members, r))  # noqa: E731
    return Params(
        beta=u(*beta_range, n_regions),
        mu=u(0.2, 1.0),
        Z=u(3.0, 5.0),
        D=u(3.0, 5.0),
        alpha=u(0.1, 0.6),
        theta=u(1.0, 1.75),
        cfr=np.full((n_members, 1), float(cfr)),
    )


@dataclass
class State:
    """Compartments ``(members, regions)`` and the pipeline of unreported documented infections."""

    S: np.ndarray
    E: np.ndarray
    Id: np.ndarray
    Iu: np.ndarray
    R: np.ndarray
    Dd: np.ndarray
    C: np.ndarray
    pipe: np.ndarray = field(repr=False)

    def copy(self) -> "State":
        return State(**{k: v.copy() for k, v in self.__dict__.items()})

    def alive(self) -> np.ndarray:
        return self.S + self.E + self.Id + self.Iu + self.R


def initial_state(
    population: np.ndarray, seed_exposed: np.ndarray, n_members: int, max_delay_days: int = 25
) -> State:
    """All susceptible but ``seed_exposed`` (per region, or ``(members, regions)``) exposed.

    Examples
    --------
    >>> s = initial_state(np.array([100.0, 50.0]), np.array([1.0, 0.0]), 3)
    >>> s.alive().sum(axis=1).tolist()
    [150.0, 150.0, 150.0]
    """
    pop = np.broadcast_to(np.asarray(population, float), (n_members, len(population))).copy()
    e = np.minimum(np.broadcast_to(np.asarray(seed_exposed, float), pop.shape), pop)
    z = np.zeros_like(pop)
    return State(S=pop - e, E=e.copy(), Id=z.copy(), Iu=z.copy(), R=z.copy(), Dd=z.copy(), C=z.copy(),
                 pipe=np.zeros(pop.shape + (max_delay_days,)))


def _travel(state: State, trips: np.ndarray, scale: np.ndarray) -> None:
    """Move one day of travel along ``trips`` (in place on the fresh copy ``state``); the mobile
    compartments share one matrix product."""
    if not np.any(trips):
        return
    movable = np.maximum(state.alive() - state.Id, 1e-9)
    out_total = trips.sum(axis=1)  # (R,)
    # per-member share leaving each origin today, capped so a region cannot empty in a day
    rate = np.minimum(scale * out_total / movable, 0.5)  # (K, R)
    dest_share = np.divide(trips, out_total[:, None], out=np.zeros_like(trips, dtype=float),
                           where=out_total[:, None] > 0)
    xs = np.stack([getattr(state, name) for name in MOBILE])  # (4, K, R)
    leaving = xs * rate
    # float32 product: the O(K R^2) hot spot; relative rounding ~1e-7 of the travellers per day
    arrivals = leaving.reshape(-1, xs.shape[-1]).astype(np.float32) @ dest_share.astype(np.float32)
    moved = xs - leaving + arrivals.reshape(xs.shape)
    for name, x in zip(MOBILE, moved):
        setattr(state, name, x)


def step(
    state: State,
    params: Params,
    trips: np.ndarray,
    travel_factor: np.ndarray,
    beta_mult: np.ndarray,
    delay_w: np.ndarray,
    substeps: int = 2,
    copy: bool = True,
    alpha_odds: np.ndarray | float = 1.0,
) -> tuple[State, np.ndarray, np.ndarray]:
    """Advance one day; return the new state, reported cases and deaths of the day ``(K, R)``.

    ``trips`` is ``(R, R)`` (origin x destination, trips per day), ``travel_factor`` and ``beta_mult``
    are ``(R,)``; ``delay_w`` is the reporting-delay pmf; ``alpha_odds`` multiplies the odds of
    documentation (:func:`ascertainment_arrays`). The input state is not modified unless
    ``copy=False`` (for loops that own the state).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> p = draw_params(4, 2, rng)
    >>> s0 = initial_state(np.array([1e5, 1e5]), np.array([50.0, 0.0]), 4)
    >>> s1, rep, dead = step(s0, p, np.zeros((2, 2)), np.ones(2), np.ones(2), delay_pmf(6.0))
    >>> bool(np.allclose(s1.alive().sum(axis=1), 2e5)), float(s1.E[:, 1].max())
    (True, 0.0)
    """
    s = state.copy() if copy else state
    dt = 1.0 / substeps
    beta = params.beta * beta_mult
    new_doc_day = np.zeros_like(s.S)
    deaths_day = np.zeros_like(s.S)
    p_e = 1.0 - np.exp(-dt / params.Z)
    p_i = 1.0 - np.exp(-dt / params.D)
    scale = params.theta * travel_factor
    alpha = params.alpha if np.all(np.asarray(alpha_odds) == 1.0) else effective_alpha(params.alpha, alpha_odds)
    for _ in range(substeps):
        n = np.maximum(s.alive(), 1.0)
        force = beta * (s.Id + params.mu * s.Iu) / n
        infections = s.S * (1.0 - np.exp(-force * dt))
        onset = s.E * p_e
        rem_d = s.Id * p_i
        rem_u = s.Iu * p_i
        new_doc = alpha * onset
        s.S = s.S - infections
        s.E = s.E + infections - onset
        s.Id = s.Id + new_doc - rem_d
        s.Iu = s.Iu + (onset - new_doc) - rem_u
        died = params.cfr * rem_d
        s.R = s.R + rem_d - died + rem_u
        s.Dd = s.Dd + died
        new_doc_day += new_doc
        deaths_day += died
    _travel(s, trips, scale)
    s.pipe = np.concatenate([new_doc_day[..., None], s.pipe[..., :-1]], axis=-1)
    reported = s.pipe @ delay_w[: s.pipe.shape[-1]]
    s.C = s.C + reported
    return s, reported, deaths_day


def as_daily_trips(flows: np.ndarray | None, n_days: int, n_regions: int) -> np.ndarray:
    """Normalise flows to ``(days, R, R)``: a static ``(R, R)`` matrix repeats; a shorter daily array
    repeats its mean for the remaining days; ``None`` means no travel.

    Examples
    --------
    >>> as_daily_trips(np.ones((2, 2)), 3, 2).shape
    (3, 2, 2)
    """
    if flows is None:
        return np.zeros((n_days, n_regions, n_regions))
    f = np.asarray(flows, float)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3 or f.shape[1:] != (n_regions, n_regions):
        raise ValueError(f"flows must be (R, R) or (days, R, R) with R={n_regions}, got {f.shape} / 流量矩阵维度不符")
    if not np.all(np.isfinite(f)) or (f < 0).any():
        raise ValueError("flows must be finite and >= 0 / 流量必须为非负有限数")
    f = f.copy()
    np.einsum("tii->ti", f)[:] = 0.0  # staying is not travel
    if f.shape[0] >= n_days:
        return f[:n_days]
    return np.concatenate([f, np.repeat(f.mean(axis=0, keepdims=True), n_days - f.shape[0], axis=0)])


def add_imports(state: State, imported: np.ndarray) -> None:
    """Add a day's imported infections ``(members or 1, regions)`` to the exposed, in place: each one
    turns a susceptible resident into an exposed one (an infected traveller arrives, an uninfected
    one of the same trip leaves), so the population is unchanged; capped at ``S``.

    Examples
    --------
    >>> s = initial_state(np.array([100.0, 50.0]), np.array([0.0, 0.0]), 2)
    >>> add_imports(s, np.array([[3.0, 80.0]]))
    >>> s.E[0].tolist(), s.S[0].tolist(), s.alive().sum(axis=1).tolist()
    ([3.0, 50.0], [97.0, 0.0], [150.0, 150.0])
    """
    arrive = np.minimum(np.broadcast_to(np.maximum(imported, 0.0), state.S.shape), state.S)
    state.S = state.S - arrive
    state.E = state.E + arrive


def simulate(
    state: State,
    params: Params,
    dates: pd.DatetimeIndex,
    flows: np.ndarray | None = None,
    interventions: list[Intervention] | None = None,
    beta_walk_sd: float = 0.0,
    rng: np.random.Generator | None = None,
    delay_by_cohort: bool = False,
    imports: np.ndarray | None = None,
) -> tuple[State, np.ndarray, np.ndarray]:
    """Run the model over ``dates``; return the final state, daily reported cases and deaths
    ``(days, members, regions)``. ``beta_walk_sd`` > 0 lets log beta follow a random walk;
    ``delay_by_cohort``: see :func:`delay_weights`; ``imports``: infections arriving from outside
    the regions (:func:`add_imports`).

    Parameters
    ----------
    state : State
        Start state, arrays ``(members, regions)``; not modified.
    params : Params
        Ensemble parameters (:func:`draw_params` or a fit's posterior).
    dates : DatetimeIndex
        The consecutive days simulated, one step per day.
    flows : ndarray, optional
        Trips per day, origin x destination, ``(R, R)`` or ``(days, R, R)`` (see
        :func:`as_daily_trips`); None: no travel.
    interventions : list of Intervention, optional
        Changes of travel, transmission, reporting delay and ascertainment (e.g. :func:`lockdown_2020`);
        None: none.
    beta_walk_sd : float
        Standard deviation per day of the random walk of log beta (0: beta fixed).
    rng : numpy.random.Generator, optional
        Source of the random walk; None: ``default_rng(0)``.
    delay_by_cohort : bool
        Report each day's documented infections with the delay of the day they were documented.
    imports : ndarray, optional
        ``(days, members or 1, regions)`` imported infections per day (e.g.
        :func:`forecast.epidemic.importation.import_term`); None: none.

    Returns
    -------
    state : State
        The state after the last day.
    reported : ndarray
        Reported (confirmed) cases per day, ``(days, members, regions)``.
    deaths : ndarray
        Deaths per day, ``(days, members, regions)``.

    References
    ----------
    Li, R., Pei, S., Chen, B., Song, Y., Zhang, T., Yang, W. and Shaman, J. (2020). Substantial
    undocumented infection facilitates the rapid dissemination of novel coronavirus (SARS-CoV-2).
    Science 368(6490), 489-493.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> p = draw_params(8, 3, rng)
    >>> s0 = initial_state(np.full(3, 1e6), np.array([100.0, 0, 0]), 8)
    >>> d = pd.date_range("2020-01-10", periods=20)
    >>> sT, rep, dead = simulate(s0, p, d, np.full((3, 3), 1e4))
    >>> rep.shape, bool(rep[-1, :, 2].min() > 0)
    ((20, 8, 3), True)
    """
    dates = pd.DatetimeIndex(dates)
    n_regions = state.S.shape[1]
    trips = as_daily_trips(flows, len(dates), n_regions)
    travel, beta_mult, delay = schedule_arrays(dates, n_regions, interventions)
    odds = ascertainment_arrays(dates, n_regions, interventions)
    rng = rng or np.random.default_rng(0)
    weights = delay_weights(dates, interventions, state.pipe.shape[-1], delay_by_cohort)
    reps, deaths = [], []
    p = params
    state = state.copy()
    for t in range(len(dates)):
        if beta_walk_sd > 0:
            p = replace(p, beta=p.beta * np.exp(rng.normal(0.0, beta_walk_sd, p.beta.shape)))
        if imports is not None:
            add_imports(state, imports[t])
        state, rep, dead = step(state, p, trips[t], travel[t], beta_mult[t], weights[t], copy=False,
                                alpha_odds=odds[t])
        reps.append(rep)
        deaths.append(dead)
    return state, np.stack(reps), np.stack(deaths)


def reproduction_number(state: State, params: Params, beta_mult: np.ndarray | float = 1.0,
                        alpha_odds: np.ndarray | float = 1.0) -> np.ndarray:
    """Effective reproduction number per member and region ``(K, R)``:
    ``R_t = beta (alpha + (1 - alpha) mu) D S / N`` (``alpha`` with its odds times ``alpha_odds``).

    Parameters
    ----------
    state : State
        Compartments ``(members, regions)``; ``S`` over the living population ``N`` scales R.
    params : Params
        Ensemble parameters (``beta`` per day, ``mu``, ``D`` in days, ``alpha``).
    beta_mult : ndarray or float
        Multiplier of transmission, ``(R,)`` or a scalar (e.g. a row of :func:`schedule_arrays`).
    alpha_odds : ndarray or float
        Multiplier of the odds of documentation, ``(R,)`` or a scalar (:func:`ascertainment_arrays`).

    Returns
    -------
    ndarray
        ``(members, regions)``: R_t per member and region.

    References
    ----------
    Li, R., Pei, S., Chen, B., Song, Y., Zhang, T., Yang, W. and Shaman, J. (2020). Substantial
    undocumented infection facilitates the rapid dissemination of novel coronavirus (SARS-CoV-2).
    Science 368(6490), 489-493.

    Examples
    --------
    >>> p = Params(*(np.array([[v]]) for v in (1.0, 0.5, 4.0, 4.0, 0.2, 1.0, 0.0)))
    >>> s = initial_state(np.array([100.0]), np.array([0.0]), 1)
    >>> round(float(reproduction_number(s, p)[0, 0]), 6)
    2.4
    """
    n = np.maximum(state.alive(), 1.0)
    alpha = effective_alpha(params.alpha, alpha_odds)
    return params.beta * beta_mult * (alpha + (1 - alpha) * params.mu) * params.D * state.S / n
