"""Daily routines of the synthetic nation: where every subscriber is, day by day, as place segments.

A subscriber's day is five segments in local time: night/morning at the night place until leaving,
the day at the day place (work on weekdays for workers, else home or a few hours' outing to a POI),
back at the night place, an optional evening at a POI, and the night at the night place. Inter-city trips (gravity model: destination
weight population / distance^2) replace these places with places in the destination city for one day
(a day trip) or several (nights at a community of the destination).

Outings and evenings go to POIs chosen with distance decay from the night place (``Routine.poi_choice``,
see :func:`forecast.synth.geo.place_choice`), so people mix mostly with their neighbours, as in real
cities; without it (None) POIs are chosen uniformly over the city.

Every random draw of a day comes from a generator seeded by (seed, day, block of ``Routine.block``
subscribers), so the segments of subscriber ``i`` on day ``d`` do not depend on how a run is chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.synth.geo import Geography, PlaceChoice, Population, choose_places

BLOCK = 16_384  # default subscribers per random stream; generation is chunk-independent at this granularity
SLOTS = 5  # segments per subscriber-day: morning, day, afternoon, evening, night
_SALT_DAY = 1


@dataclass
class Trips:
    """Inter-city trips sorted by person: on trip from local day ``d0`` to ``d1`` (inclusive)."""

    person: np.ndarray  # int64
    d0: np.ndarray  # int32 day index
    d1: np.ndarray
    dest_city: np.ndarray  # int32
    day_place: np.ndarray  # int32 place index in the destination
    night_place: np.ndarray  # int32 community place index in the destination


@dataclass
class Calendar:
    """Local days of the simulation: their UTC start, length and weekday."""

    start_s: np.ndarray  # int64 Unix seconds of each local midnight
    length_s: np.ndarray  # int64
    weekday: np.ndarray  # int8, Monday = 0


@dataclass
class Routine:
    """Everything needed to regenerate any subscriber-day."""

    geo: Geography
    pop: Population
    trips: Trips
    calendar: Calendar
    seed: int
    p_evening: float
    p_outing: float
    p_missing_day: float
    block: int = BLOCK
    poi_choice: PlaceChoice | None = None  # distance-decay POI choice per community; None: uniform in the city
    # people 0 .. n_subscribers - 1 are the carrier's subscribers (they ping); the others are residents the
    # epidemic reaches but the network does not see. None: everyone is a subscriber.
    n_subscribers: int | None = None


@dataclass
class DaySegments:
    """Segments of one day for subscribers ``lo .. lo + m - 1``, arrays of shape (m, SLOTS)."""

    lo: int
    place: np.ndarray  # int32
    start_s: np.ndarray  # int64, absolute
    end_s: np.ndarray
    wake_s: np.ndarray  # (m,) absolute
    sleep_s: np.ndarray
    missing: np.ndarray  # (m,) bool: phone silent all day


def _pick(start: np.ndarray, count: np.ndarray, u: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``start + floor(u * count)`` where ``count > 0``, else ``fallback``."""
    k = np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0))
    return np.where(count > 0, start + k, fallback).astype(np.int32)


def _poi(r: "Routine", home: np.ndarray, city: np.ndarray, u: np.ndarray) -> np.ndarray:
    """POI of an outing or evening from community place ``home`` (in ``city``); ``home`` if there is none."""
    if r.poi_choice is None:
        return _pick(r.geo.city_poi_start[city], r.geo.city_poi_count[city], u, home)
    return choose_places(r.poi_choice, home, u, home)


def build_trips(geo: Geography, pop: Population, n_days: int, trip_rate_per_day: float,
                rng: np.random.Generator) -> Trips:
    """Trips started at ``trip_rate_per_day`` per subscriber; 30 % day trips, else 1-10 nights.

    Examples
    --------
    >>> from forecast.synth.geo import build_geography, build_population, read_city_table, select_cities
    >>> g = build_geography(select_cities(read_city_table(), 3), 4, 2, 0.25, np.random.default_rng(0))
    >>> p = build_population(g, 50, 0.7, 0.3, 0, b"k" * 16, np.random.default_rng(0))
    >>> t = build_trips(g, p, 30, 0.05, np.random.default_rng(0))
    >>> bool((g.place_city[t.day_place] == t.dest_city).all()), bool((t.dest_city != p.home_city[t.person]).all())
    (True, True)
    """
    n, n_c = len(pop.home), len(geo.cities)
    if n_c < 2 or trip_rate_per_day <= 0:
        z = np.zeros(0, np.int64)
        return Trips(z, z.astype(np.int32), z.astype(np.int32), z.astype(np.int32), z.astype(np.int32), z.astype(np.int32))
    counts = rng.poisson(trip_rate_per_day * n_days, n)
    person = np.repeat(np.arange(n, dtype=np.int64), counts)
    m = len(person)
    d0 = rng.integers(0, n_days, m)
    nights = np.where(rng.random(m) < 0.3, 0, np.minimum(rng.geometric(0.35, m), 10))
    d1 = d0 + nights
    order = np.lexsort((d0, person))
    person, d0, d1 = person[order], d0[order], d1[order]
    # drop a trip that starts before an earlier trip of the same person has ended
    span = n_days + 32
    run_max = np.maximum.accumulate(person * span + d1) - person * span
    prev_max = np.concatenate([[-1], run_max[:-1]])
    same = np.concatenate([[False], person[1:] == person[:-1]])
    keep = ~(same & (d0 <= prev_max))
    person, d0, d1 = person[keep], d0[keep], d1[keep]
    m = len(person)
    # gravity destinations, sampled per origin city
    lon, lat = geo.cities["lon"].to_numpy(), geo.cities["lat"].to_numpy()
    dx = (lon[None, :] - lon[:, None]) * np.cos(np.radians(lat[:, None])) * 111.2
    dy = (lat[None, :] - lat[:, None]) * 111.2
    w = geo.cities["population"].to_numpy(np.float64)[None, :] / np.maximum(np.hypot(dx, dy), 50.0) ** 2
    np.fill_diagonal(w, 0.0)
    cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    origin = pop.home_city[person]
    u = rng.random(m)
    dest = np.empty(m, np.int32)
    for c in np.unique(origin):  # one searchsorted per origin city, not per trip
        sel = origin == c
        dest[sel] = np.minimum(np.searchsorted(cum[c], u[sel], side="right"), n_c - 1)
    night = _pick(geo.city_comm_start[dest], geo.city_comm_count[dest], rng.random(m), np.zeros(m, np.int32))
    poi = _pick(geo.city_poi_start[dest], geo.city_poi_count[dest], rng.random(m), night)
    comm = _pick(geo.city_comm_start[dest], geo.city_comm_count[dest], rng.random(m), night)
    day_place = np.where(rng.random(m) < 0.5, poi, comm).astype(np.int32)
    return Trips(person, d0.astype(np.int32), d1.astype(np.int32), dest, day_place, night)


def _block_segments(r: Routine, day: int, block: int) -> DaySegments:
    lo = block * r.block
    hi = min(lo + r.block, len(r.pop.home))
    m = hi - lo
    rng = np.random.default_rng([r.seed, _SALT_DAY, day, block])
    u = rng.random((12, m))
    pop = r.pop
    h = 3600.0
    home, work, city = pop.home[lo:hi], pop.work[lo:hi], pop.home_city[lo:hi]
    weekend = r.calendar.weekday[day] >= 5
    working = (work >= 0) & (not weekend)
    outing_day = ~working & (u[8] < r.p_outing)
    outing = _poi(r, home, city, u[7])
    day_place = np.where(working, work, np.where(outing_day, outing, home))
    has_eve = u[3] < r.p_evening
    eve_place = np.where(has_eve, _poi(r, home, city, u[9]), home)
    night_am, night_pm = home.copy(), home.copy()
    on_trip = np.zeros(m, bool)

    t = r.trips
    a, b = np.searchsorted(t.person, [lo, hi])
    act = a + np.flatnonzero((t.d0[a:b] <= day) & (day <= t.d1[a:b]))
    if len(act):
        i = (t.person[act] - lo).astype(np.int64)
        d0, d1, dest = t.d0[act], t.d1[act], t.dest_city[act]
        dest_eve = np.where(has_eve[i], _poi(r, t.night_place[act], dest, u[9, i]), t.night_place[act])
        on_trip[i] = True
        day_place[i] = t.day_place[act]
        away_evening = (d1 > d0) & (day < d1)
        eve_place[i] = np.where(away_evening, dest_eve, eve_place[i])
        night_pm[i] = np.where(away_evening, t.night_place[act], night_pm[i])
        night_am[i] = np.where(day > d0, t.night_place[act], night_am[i])

    # a working (or travelling) day runs leave -> back; an outing is a few hours in the morning or afternoon
    wake = 5.5 * h + 2.0 * h * u[0]
    leave = wake + 0.5 * h + 1.0 * h * u[1]
    back = 17.0 * h + 2.5 * h * u[2]
    short = outing_day & ~on_trip
    out_start = leave + (1.0 + 2.0 * u[10]) * h
    out_end = out_start + (1.5 + 2.5 * u[11]) * h
    day_from = np.where(short, out_start, leave)
    day_to = np.where(short, out_end, back)
    eve_from = np.where(short, np.maximum(back, out_end), back)
    eve_to = np.where(has_eve, eve_from + 1.0 * h + 2.0 * h * u[4], eve_from)
    sleep = np.minimum(np.maximum(22.5 * h + 1.45 * h * u[5], eve_to + 0.25 * h), 23.95 * h)
    eve_to = np.minimum(eve_to, sleep)
    missing = u[6] < r.p_missing_day

    length = float(r.calendar.length_s[day])
    rel = np.stack([np.zeros(m), day_from, day_to, eve_from, eve_to, np.full(m, length)], axis=1).round().astype(np.int64)
    d_start = r.calendar.start_s[day]
    return DaySegments(
        lo=lo,
        place=np.stack([night_am, day_place, night_pm, eve_place, night_pm], axis=1).astype(np.int32),
        start_s=d_start + rel[:, :-1],
        end_s=d_start + rel[:, 1:],
        wake_s=d_start + wake.round().astype(np.int64),
        sleep_s=d_start + sleep.round().astype(np.int64),
        missing=missing,
    )


def day_segments(r: Routine, day: int, block_lo: int, block_hi: int) -> DaySegments:
    """Segments of local day ``day`` for the subscribers of blocks ``block_lo .. block_hi - 1``.

    Examples
    --------
    >>> from forecast.synth.geo import build_geography, build_population, read_city_table, select_cities
    >>> g = build_geography(select_cities(read_city_table(), 2), 4, 2, 0.25, np.random.default_rng(0))
    >>> p = build_population(g, 20, 0.7, 0.3, 0, b"k" * 16, np.random.default_rng(0))
    >>> cal = Calendar(np.array([1_579_536_000]), np.array([86_400]), np.array([0], np.int8))
    >>> r = Routine(g, p, build_trips(g, p, 1, 0.0, np.random.default_rng(0)), cal, 0, 0.3, 0.4, 0.0)
    >>> s = day_segments(r, 0, 0, 1)
    >>> s.place.shape, bool((s.end_s - s.start_s).sum(axis=1).max() == 86_400)
    ((20, 5), True)
    """
    parts = [_block_segments(r, day, b) for b in range(block_lo, block_hi)]
    if len(parts) == 1:
        return parts[0]
    return DaySegments(
        lo=parts[0].lo,
        place=np.concatenate([p.place for p in parts]),
        start_s=np.concatenate([p.start_s for p in parts]),
        end_s=np.concatenate([p.end_s for p in parts]),
        wake_s=np.concatenate([p.wake_s for p in parts]),
        sleep_s=np.concatenate([p.sleep_s for p in parts]),
        missing=np.concatenate([p.missing for p in parts]),
    )


def subscriber_segments(r: Routine, seg: DaySegments) -> DaySegments:
    """``seg`` cut to the subscribers (people ``0 .. r.n_subscribers - 1``): what the network sees.

    The residents who are not subscribers share the same day segments (the epidemic runs on all of
    them) but have no pings and no truth tables.

    Parameters
    ----------
    r : Routine
        The routine (``r.n_subscribers``: None when everyone is a subscriber).
    seg : DaySegments
        One day's segments of a block of people.

    Returns
    -------
    DaySegments
        ``seg`` itself when the whole block subscribes, else its first rows (the block's subscribers).

    Examples
    --------
    >>> z = np.zeros((4, SLOTS), np.int64)
    >>> seg = DaySegments(0, z.astype(np.int32), z, z, np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(4, bool))
    >>> class R: n_subscribers = 3
    >>> subscriber_segments(R, seg).place.shape
    (3, 5)
    """
    n = r.n_subscribers
    m = seg.place.shape[0]
    if n is None or seg.lo + m <= n:
        return seg
    k = max(0, int(n) - seg.lo)
    return DaySegments(lo=seg.lo, place=seg.place[:k], start_s=seg.start_s[:k], end_s=seg.end_s[:k],
                       wake_s=seg.wake_s[:k], sleep_s=seg.sleep_s[:k], missing=seg.missing[:k])


def n_blocks(n_subscribers: int, block: int = BLOCK) -> int:
    """Number of random-stream blocks for ``n_subscribers``.

    Examples
    --------
    >>> n_blocks(1), n_blocks(BLOCK), n_blocks(BLOCK + 1)
    (1, 1, 2)
    """
    return max(1, -(-int(n_subscribers) // int(block)))
