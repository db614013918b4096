"""The synthetic nation's epidemic: transmission by co-location, SEIR-like natural history, reports.

Each day, a susceptible subscriber's hazard is ``transmission_per_hour`` times the integral, over the
time they spend at each place, of (infectious people present) / (people present): every infectious
person-hour at a place causes ``transmission_per_hour`` infections in expectation, shared among those
present in proportion to the time they share. Infected people are latent 2-4 days, then infectious
5-7 days; a share ``ascertainment`` is confirmed 2-8 days after becoming infectious and is isolated
(stops transmitting) from that day. Imported seeds are infected in the first week, mostly in the
seed city.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.synth.routine import Routine, day_segments, n_blocks

_SALT_EPI = 2
_TIME_BITS = 18  # seconds within a local day (< 2**17) fit below the place index in one int64 key


@dataclass
class Epidemic:
    """Per subscriber: day indices (-1 when not applicable) of infection, infectiousness, confirmation."""

    infected_day: np.ndarray  # int32
    infectious_day: np.ndarray
    end_day: np.ndarray  # first day no longer infectious (recovered or isolated)
    confirmed_day: np.ndarray  # -1 when never confirmed
    imported: np.ndarray  # bool


def shared_infectious_hours(place: np.ndarray, start_rel: np.ndarray, end_rel: np.ndarray,
                            infectious: np.ndarray) -> np.ndarray:
    """For each segment, the integral of (infectious present / present) over it, in hours.

    Segments are (place, start, end) in seconds within one day; ``infectious`` flags segments of
    infectious people. Computed with one sort of the 2n start/end events by (place, time).

    Examples
    --------
    >>> place = np.array([0, 0, 0, 1]); s = np.array([0, 0, 3600, 0]); e = np.array([7200, 7200, 7200, 3600])
    >>> shared_infectious_hours(place, s, e, np.array([True, False, False, False])).round(3).tolist()
    [0.833, 0.833, 0.333, 0.0]
    """
    n = len(place)
    if n == 0:
        return np.zeros(0)
    key = np.concatenate([(place.astype(np.int64) << _TIME_BITS) | start_rel, (place.astype(np.int64) << _TIME_BITS) | end_rel])
    d_all = np.concatenate([np.ones(n), -np.ones(n)])
    d_inf = np.concatenate([infectious, -infectious.astype(np.float64)]).astype(np.float64)
    order = np.argsort(key, kind="stable")
    k = key[order]
    present = np.cumsum(d_all[order])
    inf = np.cumsum(d_inf[order])
    t = k & ((1 << _TIME_BITS) - 1)
    dt = np.zeros(2 * n)
    same_place = (k[1:] >> _TIME_BITS) == (k[:-1] >> _TIME_BITS)
    dt[:-1] = np.where(same_place, t[1:] - t[:-1], 0)
    ratio = np.divide(inf, present, out=np.zeros(2 * n), where=present > 0.5)
    g = np.concatenate([[0.0], np.cumsum(ratio * dt)[:-1]])
    pos = np.empty(2 * n, np.int64)
    pos[order] = np.arange(2 * n)
    return (g[pos[n:]] - g[pos[:n]]) / 3600.0


def simulate_epidemic(r: Routine, n_days: int, transmission_per_hour: float, ascertainment: float,
                      seed_infections: int, seed_city_share: float, progress=None) -> Epidemic:
    """Run the epidemic over ``n_days`` local days of ``r.calendar`` for all subscribers.

    Examples
    --------
    >>> from forecast.synth.nation import NationConfig, build_routine
    >>> r = build_routine(NationConfig(n_cities=2, n_subscribers=100, epidemic_days=20), b"k" * 16)
    >>> e = simulate_epidemic(r, 30, 0.05, 0.7, 3, 1.0)
    >>> hit = e.infected_day >= 0
    >>> int(hit.sum()) >= 3, bool((e.infectious_day[hit] > e.infected_day[hit]).all())
    (True, True)
    """
    n = len(r.pop.home)
    rng = np.random.default_rng([r.seed, _SALT_EPI])
    infected = np.full(n, -1, np.int32)
    infectious = np.full(n, -1, np.int32)
    end = np.full(n, -1, np.int32)
    confirmed = np.full(n, -1, np.int32)
    imported = np.zeros(n, bool)

    # imported seeds: a share in the seed city (the first city), the rest anywhere, in the first week
    k = min(int(seed_infections), n)
    in_seed_city = np.flatnonzero(r.pop.home_city == 0)
    k_city = min(int(round(k * seed_city_share)), len(in_seed_city))
    chosen = rng.choice(in_seed_city, k_city, replace=False) if k_city else np.zeros(0, np.int64)
    rest = np.setdiff1d(np.arange(n), chosen)
    chosen = np.concatenate([chosen, rng.choice(rest, min(k - k_city, len(rest)), replace=False)]).astype(np.int64)
    seed_day = rng.integers(0, min(7, n_days), len(chosen))
    blocks = n_blocks(n, r.block)

    def infect(who: np.ndarray, day: int, g: np.random.Generator) -> None:
        m = len(who)
        latent = g.integers(2, 5, m)
        duration = g.integers(5, 8, m)
        delay = g.integers(2, 9, m)
        seen = g.random(m) < ascertainment
        infected[who] = day
        infectious[who] = day + latent
        conf = np.where(seen, day + latent + delay, -1)
        confirmed[who] = conf
        end[who] = np.where(seen, np.minimum(day + latent + duration, conf), day + latent + duration)

    for day in range(n_days):
        g = np.random.default_rng([r.seed, _SALT_EPI, day])
        u = g.random(n)
        is_inf = (infectious >= 0) & (infectious <= day) & (day < end)
        new = np.zeros(0, np.int64)
        if is_inf.any() and transmission_per_hour > 0:
            seg = day_segments(r, day, 0, blocks)
            person = np.repeat(np.arange(n, dtype=np.int64), seg.place.shape[1])
            place = seg.place.ravel()
            s = (seg.start_s - r.calendar.start_s[day]).ravel()
            e = (seg.end_s - r.calendar.start_s[day]).ravel()
            inf_seg = is_inf[person] & (e > s)
            # only places visited by someone infectious today matter
            hot = np.zeros(len(r.geo.place_city), bool)
            hot[place[inf_seg]] = True
            sel = hot[place] & (e > s)
            hours = shared_infectious_hours(place[sel], s[sel], e[sel], inf_seg[sel])
            exposure = np.bincount(person[sel], hours, minlength=n)
            p = -np.expm1(-transmission_per_hour * exposure)
            new = np.flatnonzero((infected < 0) & (u < p))
        seeds = chosen[(seed_day == day) & (infected[chosen] < 0)]
        if len(seeds):
            imported[seeds] = True
        who = np.union1d(new, seeds)
        if len(who):
            infect(who, day, g)
        if progress is not None:
            progress(1)
    return Epidemic(infected, infectious, end, confirmed, imported)
