"""Importation from an epidemic origin's outflow: travellers, prevalence at the origin, imported
infections and the cases they will cause, per destination and day (docs/forecast.md "Importation").

* Travellers per destination and day = the destination's share of the origin's outflow (Baidu
  Qianxi, % of the day's outflow) x the origin's outflow-size index (Baidu, via Kraemer et al.
  2020) x persons per index unit, calibrated to a known head count (:func:`persons_per_index`:
  about 5 million left Wuhan from 2020-01-10 to 01-22, the city's mayor on 2020-01-26).
* Prevalence at the origin comes from its own epidemic, fitted to its reported daily counts up to the
  origin date: an ensemble of the SEIR of :mod:`forecast.epidemic.seir` started on ``start`` with
  exposed and undocumented infections uniform on ``[0, seed_max]`` (Li et al. 2020 seeded Wuhan
  this way on 2020-01-10, ``seed_max`` 2000) and the Li et al. prior ranges of the parameters,
  weighted by the negative-binomial likelihood of the origin's counts and resampled (importance
  sampling; the origin loses its travellers to a sink region while being fitted).
* The resampled members then run the metapopulation SEIR, origin + destinations, with the
  travellers as the origin's row of the daily trips: travel is the import term. Imported infections
  per day = travellers x the share of the origin's mobile residents infected ``(E + Iu) / (N -
  Id)``; destinations' reported cases follow the model's ascertainment and reporting delay.
* After the origin date nothing is known: travellers are the mean of the last ``window_days``
  days (:func:`extend_after`), and no intervention is assumed unless given.

Pure: numpy/pandas in and out; readers are in :mod:`forecast.epidemic.china2020`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from forecast.epidemic import seir

#: People who left Wuhan before the lockdown (the mayor, 2020-01-26: "more than five million"),
#: counted here over the Chunyun days 2020-01-10 .. 01-22.
WUHAN_LEFT_BEFORE_LOCKDOWN = 5.0e6
CALIBRATION_WINDOW = ("2020-01-10", "2020-01-22")
#: Li et al. (2020): initial exposed and undocumented infections in Wuhan on 2020-01-10, each U[0, 2000].
LI2020_SEED_MAX = 2000.0


@dataclass(frozen=True)
class Importation:
    """What :func:`importation_forecast` returns; arrays over members ``K``, days ``T``, destinations ``R``.

    Attributes
    ----------
    dates : DatetimeIndex
        The simulated days (``start`` .. ``end``).
    destinations : list of str
        Destination names, column order of the arrays.
    travellers : ndarray
        ``(T, R)`` travellers per day from the origin.
    prevalence : ndarray
        ``(K, T)`` share of the origin's mobile residents infected (E + Iu).
    imported : ndarray
        ``(K, T, R)`` expected imported infections per day.
    reported : ndarray
        ``(K * draws, T, R)`` reported cases per day (negative-binomial draws around each member).
    origin_reported : ndarray
        ``(K, T)`` the origin's expected reported cases per day.
    ess : float
        Effective sample size of the origin fit's importance weights.
    """

    dates: pd.DatetimeIndex
    destinations: list
    travellers: np.ndarray
    prevalence: np.ndarray
    imported: np.ndarray
    reported: np.ndarray
    origin_reported: np.ndarray
    ess: float


def persons_per_index(scale: pd.Series, head_count: float = WUHAN_LEFT_BEFORE_LOCKDOWN,
                      window: tuple[str, str] = CALIBRATION_WINDOW) -> float:
    """Persons per unit of the outflow-size index, so that the index summed over ``window`` is ``head_count``.

    Parameters
    ----------
    scale : Series
        The origin's outflow-size index by date.
    head_count : float
        People known to have left over ``window``.
    window : (str, str)
        First and last day (inclusive).

    Returns
    -------
    float
        Persons per index unit per day.

    Examples
    --------
    >>> s = pd.Series([2.0, 3.0], index=pd.to_datetime(["2020-01-10", "2020-01-11"]))
    >>> persons_per_index(s, 1000.0, ("2020-01-10", "2020-01-11"))
    200.0
    """
    total = float(scale.loc[window[0]:window[1]].sum())
    if total <= 0:
        raise ValueError("the index has no outflow in the calibration window / 校准期内无流出")
    return head_count / total


def travellers(shares_pct: pd.DataFrame, scale: pd.Series, per_index: float) -> pd.DataFrame:
    """Travellers per day and destination: share (% of the origin's outflow) x index x persons per unit.

    Parameters
    ----------
    shares_pct : DataFrame
        Dates x destinations, % of the day's outflow (missing: 0).
    scale : Series
        The origin's outflow-size index by date (dates without it give 0 travellers).
    per_index : float
        :func:`persons_per_index`.

    Returns
    -------
    DataFrame
        Dates x destinations, persons per day.

    Examples
    --------
    >>> sh = pd.DataFrame({"A": [50.0], "B": [10.0]}, index=pd.to_datetime(["2020-01-10"]))
    >>> travellers(sh, pd.Series([2.0], index=sh.index), 100.0).iloc[0].tolist()
    [100.0, 20.0]
    """
    s = scale.reindex(shares_pct.index).fillna(0.0).to_numpy(float)
    return shares_pct.fillna(0.0) / 100.0 * s[:, None] * per_index


def extend_after(daily: pd.DataFrame, origin, end, window_days: int = 3) -> pd.DataFrame:
    """Travellers known up to ``origin``; each later day to ``end`` the mean of the last ``window_days``.

    Parameters
    ----------
    daily : DataFrame
        Dates x destinations (may run past ``origin``: those rows are ignored).
    origin, end : date-like
        Last known day; last day wanted.
    window_days : int
        Days averaged.

    Returns
    -------
    DataFrame
        Consecutive dates from the first of ``daily`` to ``end``.

    Examples
    --------
    >>> d = pd.DataFrame({"A": [1.0, 3.0, 99.0]}, index=pd.date_range("2020-01-01", periods=3))
    >>> extend_after(d, "2020-01-02", "2020-01-04", 2)["A"].tolist()
    [1.0, 3.0, 2.0, 2.0]
    """
    known = daily.loc[:pd.Timestamp(origin)]
    dates = pd.date_range(known.index[0], pd.Timestamp(end), freq="D")
    out = known.reindex(dates)
    tail = known.iloc[-window_days:].mean()
    return out.fillna(tail).fillna(0.0)


def _run(params: seir.Params, state: seir.State, dates: pd.DatetimeIndex, trips: np.ndarray,
         interventions) -> tuple[np.ndarray, np.ndarray]:
    """Daily prevalence of the origin (column 0) ``(K, T)`` and reported cases ``(T, K, R)``."""
    n_regions = state.S.shape[1]
    travel, beta_mult, _ = seir.schedule_arrays(dates, n_regions, interventions)
    odds = seir.ascertainment_arrays(dates, n_regions, interventions)
    weights = seir.delay_weights(dates, interventions, state.pipe.shape[-1], True)
    prev, reps = [], []
    s = state.copy()
    for t in range(len(dates)):
        prev.append((s.E[:, 0] + s.Iu[:, 0]) / np.maximum(s.alive()[:, 0] - s.Id[:, 0], 1.0))
        s, rep, _ = seir.step(s, params, trips[t], travel[t], beta_mult[t], weights[t], copy=False,
                              alpha_odds=odds[t])
        reps.append(rep)
    return np.stack(prev, axis=1), np.stack(reps)


def importation_forecast(origin_daily: pd.Series, origin_population: float, trav: pd.DataFrame,
                         destination_population: np.ndarray, origin, end, *, n_members: int = 300,
                         n_prior: int = 3000, seed_max: float = LI2020_SEED_MAX, nb_size: float = 20.0,
                         likelihood_size: float = 5.0,
                         draws_per_member: int = 3, interventions: list | None = None,
                         seed: int = 0) -> Importation:
    """Fit the origin's epidemic to its reported counts up to ``origin`` and run the metapopulation
    SEIR with the origin's travellers as the import term, to ``end``.

    Parameters
    ----------
    origin_daily : Series
        The origin's reported new cases by date; the first date is the start of the epidemic run
        (seeds on that day); dates after ``origin`` are not used.
    origin_population : float
        Residents of the origin.
    trav : DataFrame
        Travellers per day (dates x destinations) from the origin, covering the start to ``end``
        (e.g. :func:`extend_after`); days missing give no travel.
    destination_population : ndarray
        ``(R,)`` residents of the destinations, column order of ``trav``.
    origin, end : date-like
        Last day of data; last day simulated.
    n_members, n_prior : int
        Members kept; prior members weighed by the origin's likelihood.
    seed_max : float
        Initial exposed and undocumented at the origin are each uniform on ``[0, seed_max]``.
    nb_size : float
        Negative-binomial size of the reporting noise of the draws.
    likelihood_size : float
        Negative-binomial size of the origin fit's likelihood (5: wider than the draws' noise, so
        that the importance weights do not collapse on a few members; chosen on the effective
        sample size of the fit, never on a destination's count).
    draws_per_member : int
        Noisy draws per member in ``reported``.
    interventions : list of Intervention, optional
        Known changes (none by default: nothing after the origin is known).
    seed : int
        Random seed.

    Returns
    -------
    Importation

    Examples
    --------
    >>> days = pd.date_range("2020-01-10", periods=12)
    >>> y = pd.Series(np.r_[np.zeros(6), [4, 17, 59, 77, 60, 105]], index=days)
    >>> tr = pd.DataFrame({"A": 1e4, "B": 1e3}, index=pd.date_range("2020-01-10", "2020-01-31"))
    >>> imp = importation_forecast(y, 1e7, tr, np.array([1e7, 1e7]), "2020-01-21", "2020-01-31",
    ...                            n_members=50, n_prior=300)
    >>> imp.imported.shape, bool(imp.imported[:, :, 0].sum() > imp.imported[:, :, 1].sum())
    ((50, 22, 2), True)
    """
    rng = np.random.default_rng(seed)
    origin, end = pd.Timestamp(origin), pd.Timestamp(end)
    start = pd.Timestamp(origin_daily.index[0])
    dates = pd.date_range(start, end, freq="D")
    known = origin_daily.loc[:origin]  # the likelihood uses the reported days up to the origin only
    y = known.reindex(pd.date_range(start, known.index[-1], freq="D")).fillna(0.0).to_numpy(float)
    tv = trav.reindex(dates).fillna(0.0).to_numpy(float)  # (T, R)
    n_dest = tv.shape[1]
    # 1. the origin alone (its travellers go to a sink), n_prior members, weighed by its counts
    p0 = seir.draw_params(n_prior, 1, rng)
    p0 = replace(p0, theta=np.ones_like(p0.theta))  # travellers are head counts: no scaling
    e0, iu0 = rng.uniform(0, seed_max, (2, n_prior))
    sink = float(np.sum(destination_population)) + 1e9
    pop2 = np.array([origin_population, sink])
    s0 = seir.initial_state(pop2, np.c_[e0, np.zeros(n_prior)], n_prior)
    s0.Iu[:, 0] = iu0
    s0.S[:, 0] -= iu0
    trips2 = np.zeros((len(dates), 2, 2))
    trips2[:, 0, 1] = tv.sum(axis=1)
    p2 = replace(p0, beta=np.repeat(p0.beta, 2, axis=1))
    _, rep2 = _run(p2, s0, dates, trips2, interventions)
    mean = np.maximum(rep2[: len(y), :, 0], 1e-9)  # (days, K)
    ll = stats.nbinom.logpmf(y[:, None], likelihood_size, likelihood_size / (likelihood_size + mean)).sum(axis=0)
    w = np.exp(ll - ll.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    pick = rng.choice(n_prior, n_members, p=w)
    # 2. the kept members over origin + destinations: travel is the import term
    p = seir.Params(beta=np.repeat(p0.beta[pick], n_dest + 1, axis=1), mu=p0.mu[pick], Z=p0.Z[pick],
                    D=p0.D[pick], alpha=p0.alpha[pick], theta=p0.theta[pick], cfr=p0.cfr[pick])
    pop = np.r_[origin_population, np.asarray(destination_population, float)]
    seeds = np.zeros((n_members, n_dest + 1))
    seeds[:, 0] = e0[pick]
    s = seir.initial_state(pop, seeds, n_members)
    s.Iu[:, 0] = iu0[pick]
    s.S[:, 0] -= iu0[pick]
    trips = np.zeros((len(dates), n_dest + 1, n_dest + 1))
    trips[:, 0, 1:] = tv
    prev, rep = _run(p, s, dates, trips, interventions)
    imported = prev[:, :, None] * tv[None]  # (K, T, R)
    m = np.repeat(np.transpose(rep[:, :, 1:], (1, 0, 2)), draws_per_member, axis=0)
    draws = rng.negative_binomial(nb_size, nb_size / (nb_size + np.maximum(m, 1e-9))).astype(float)
    return Importation(dates, list(trav.columns), tv, prev, imported, draws, rep[:, :, 0].T, ess)


def import_term(origin_daily: pd.Series, origin_population: float, trav: pd.DataFrame,
                destination_population: np.ndarray, origin, start, end, *, n_members: int = 300,
                n_prior: int = 3000, interventions: list | None = None, window_days: int = 3,
                seed: int = 0) -> tuple[np.ndarray, float]:
    """Expected imported infections per member, day and destination, ``(K, T, R)`` over ``start .. end``:
    the import term of a metapopulation SEIR fitted from ``start`` (e.g. a province backtest).

    Only data up to ``origin`` are used: the origin's reported counts (its epidemic is fitted as in
    :func:`importation_forecast`, with the ``interventions`` known at the origin) and the travellers
    up to ``origin``. Later days: the mean of the last ``window_days`` known days of the travel
    regime before the latest change of the travel factor known at the origin (the days right after
    a lockdown are a transition, not a level), times each day's travel factor over that regime's
    (no change known: the last ``window_days`` known days, as :func:`extend_after`). Days before
    the origin's first reported date have no imports (its infections then are in the seeds of its fit).

    Parameters
    ----------
    origin_daily : Series
        The epidemic origin's reported new cases by date (its first date starts its fit).
    origin_population : float
        Residents of the origin.
    trav : DataFrame
        Travellers per day from the origin, dates x destinations (rows after ``origin`` are ignored).
    destination_population : ndarray
        ``(R,)`` residents of the destinations, column order of ``trav``.
    origin, start, end : date-like
        Last day of data; first and last day of the term.
    n_members, n_prior : int
        Members returned (the origin fit's resampled members); prior members of the origin fit.
    interventions : list of Intervention, optional
        Known changes (e.g. :func:`forecast.epidemic.seir.lockdown_2020` once its date has passed).
    window_days : int
        Known days averaged for the days after the origin.
    seed : int
        Random seed.

    Returns
    -------
    imports : ndarray
        ``(n_members, T, R)`` expected imported infections, ``T`` the days ``start .. end``.
    ess : float
        Effective sample size of the origin fit.

    Examples
    --------
    >>> days = pd.date_range("2020-01-10", periods=12)
    >>> y = pd.Series(np.r_[np.zeros(6), [4, 17, 59, 77, 60, 105]], index=days)
    >>> tr = pd.DataFrame({"A": 1e4, "B": 0.0}, index=pd.date_range("2020-01-01", "2020-01-21"))
    >>> imp, ess = import_term(y, 1e7, tr, np.array([1e7, 1e7]), "2020-01-21", "2020-01-05",
    ...                        "2020-01-25", n_members=20, n_prior=200)
    >>> imp.shape, float(imp[:, :5].sum()), bool(imp[:, :, 0].sum() > 0 == imp[:, :, 1].sum())
    ((20, 21, 2), 0.0, True)
    """
    origin, start, end = pd.Timestamp(origin), pd.Timestamp(start), pd.Timestamp(end)
    first = pd.Timestamp(origin_daily.index[0])
    known = trav.loc[:origin]
    days = pd.date_range(known.index[0], max(end, origin), freq="D")
    tf = seir.schedule_arrays(days, 1, interventions)[0][:, 0]
    n_known = len(known)
    # the level of travel after the origin: the mean of the last window_days known days of the
    # travel regime before the latest known change (the days around a change are a transition),
    # times the travel factor of each later day over that regime's
    regime = n_known - int(np.argmax(tf[:n_known][::-1] != tf[n_known - 1])) if np.any(
        tf[:n_known] != tf[n_known - 1]) else 0
    base_end = regime if regime > 0 else n_known
    base = known.iloc[max(0, base_end - window_days):base_end].mean()
    ext = known.reindex(days)
    later = days > known.index[-1]
    ext.loc[later] = np.outer(tf[later] / tf[base_end - 1], base.to_numpy())
    ext = ext.fillna(0.0)
    imp = importation_forecast(origin_daily.loc[:origin], origin_population, ext, destination_population, origin,
                               max(end, origin), n_members=n_members, n_prior=n_prior,
                               interventions=interventions, seed=seed, draws_per_member=1)
    out = np.zeros((n_members, len(pd.date_range(start, end, freq="D")), trav.shape[1]))
    pos = pd.Series(np.arange(len(imp.dates)), index=imp.dates)
    want = pd.date_range(max(start, first), end, freq="D")
    if len(want):
        out[:, np.asarray(pd.date_range(start, end, freq="D").isin(want))] = imp.imported[:, pos[want].to_numpy()]
    return out, imp.ess


def cumulative_by(imp: Importation, target, observed_at_origin: np.ndarray | None = None, origin=None,
                  quantiles=(0.025, 0.25, 0.5, 0.75, 0.975)) -> pd.DataFrame:
    """Quantiles of reported cases and imported infections per destination, cumulative to ``target``.

    With ``observed_at_origin`` and ``origin``, reported = observed cumulative at the origin + the
    model's reports after it; else the model's reports from the start.

    Parameters
    ----------
    imp : Importation
    target : date-like
        Last day counted.
    observed_at_origin : ndarray, optional
        ``(R,)`` reported cumulative cases at ``origin``.
    origin : date-like, optional
        The origin date (needed with ``observed_at_origin``).
    quantiles : tuple of float
        Levels.

    Returns
    -------
    DataFrame
        One row per destination: ``destination``, ``reported_q<level>`` and ``imported_q<level>``
        (``q50`` etc., level x 100 with the decimal point dropped: ``q025`` for 0.025).

    Examples
    --------
    >>> d = pd.date_range("2020-01-01", periods=3)
    >>> imp = Importation(d, ["A"], np.ones((3, 1)), np.ones((2, 3)), np.ones((2, 3, 1)),
    ...                   np.ones((2, 3, 1)), np.ones((2, 3)), 2.0)
    >>> cumulative_by(imp, "2020-01-02", np.array([5.0]), "2020-01-01")["reported_q50"].tolist()
    [6.0]
    """
    target = pd.Timestamp(target)
    upto = np.asarray(imp.dates <= target)
    after = upto.copy()
    base = 0.0
    if observed_at_origin is not None:
        after &= np.asarray(imp.dates > pd.Timestamp(origin))
        base = np.asarray(observed_at_origin, float)[None]
    rep = imp.reported[:, after].sum(axis=1) + base
    imp_in = imp.imported[:, upto].sum(axis=1)
    out = pd.DataFrame({"destination": imp.destinations})
    for q in quantiles:
        out[f"reported_{_qname(q)}"] = np.quantile(rep, q, axis=0)
        out[f"imported_{_qname(q)}"] = np.quantile(imp_in, q, axis=0)
    return out


def _qname(q: float) -> str:
    """``q025`` for 0.025, ``q25`` for 0.25, ``q50`` for 0.5, ``q975`` for 0.975."""
    s = f"{q:.3f}".split(".")[1].rstrip("0")
    return "q" + (s if len(s) >= 2 else s + "0")
