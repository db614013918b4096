"""A deterministic synthetic nation with ground truth: feeds for the engine and the truth to score it.

Real Chinese cities (:mod:`forecast.synth.geo`), subscribers with daily routines and inter-city trips
(:mod:`forecast.synth.routine`), an epidemic spreading by co-location (:mod:`forecast.synth.epidemic`)
and pings with wrong-city border cells (:mod:`forecast.synth.pings`). Everything is drawn from
``numpy.random.default_rng`` streams keyed by the seed, the day and a fixed block of subscribers, so
a run is identical whatever its chunk size.

Time line (local days in ``config.tz``): the epidemic runs from ``as_of - epidemic_days`` to
``as_of + future_days`` (so future infections are known); pings cover the ``n_days`` days before
``as_of``; the case feeds hold confirmations up to ``as_of - 1``. ``true_contacts`` lists, for each
confirmed case, everyone who shared a place with it in the ``contact_window_days`` days before
confirmation and on the day itself (local days ``D - 15 .. D``, as :mod:`forecast.contacts` searches),
restricted to the ping window and to subscribers (what a search over pings can see).

Residents and subscribers: by default every resident is a subscriber. With
``residents_per_subscriber = k > 1`` the nation has ``k`` times as many residents; the epidemic
spreads among all of them (the same routines, the same places), the case feeds report every
resident's case, communities count all their residents, and only the first ``n_subscribers`` people
(a random sample) ping: a carrier that sees one resident in ``k``. This is how a nation of a few
thousand subscribers gets communities of a realistic size (1,000-5,000 residents) and an outbreak
whose incidence per resident is realistic too.

Examples
--------
>>> nation = generate_nation(NationConfig(n_cities=2, n_subscribers=60, n_days=3, epidemic_days=10), b"k" * 16)
>>> sorted(nation.cities["name"])
['上海市', '重庆市']
>>> nation.canonical_pings().columns.tolist()
['uid', 'ts_s', 'cell_id']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from forecast import schema
from forecast.synth.epidemic import Epidemic, simulate_epidemic
from forecast.synth.geo import build_geography, build_population, place_choice, read_city_table, select_cities
from forecast.synth.io import DayPartWriter, TableWriter, arrow_table, read_table, write_frame
from forecast.synth.pings import (block_day_pings, city_day_minutes, contact_minutes, day_pings, iso_records,
                                  merge_segments, pings_arrow, stack_days)
from forecast.synth.routine import BLOCK, Calendar, Routine, build_trips, day_segments, n_blocks, subscriber_segments

SUBSCRIBERS = {"uid": "int64", "home_community_id": "int64", "work_community_id": "int64",
               "home_city_code": "int64", "near_border": "bool"}
PLACES = {"place_id": "int64", "kind": "string", "name": "string", "city_code": "int64", "community_id": "int64",
          "cell_id": "int64", "border_cell_id": "int64", "lon": "float64", "lat": "float64"}
# subscriber-days without any ping (phone off): no method can see where they were
SILENT_DAYS = {"uid": "int64", "local_date": "datetime64[s]"}
FEEDS = {"pings": schema.RAW_PINGS, "cells": schema.CELLS, "communities": schema.COMMUNITIES, "cities": schema.CITIES,
         "cases": schema.RAW_CASES, "case_trips": schema.CASE_TRIPS, "city_cases": schema.CITY_CASES}
TRUTH = {"true_stays": schema.TRUE_STAYS, "true_city_days": schema.TRUE_CITY_DAYS,
         "true_contacts": schema.TRUE_CONTACTS, "true_infections": schema.TRUE_INFECTIONS,
         "subscribers": SUBSCRIBERS, "places": PLACES, "silent_days": SILENT_DAYS}


@dataclass(frozen=True)
class NationConfig:
    """Parameters of a synthetic nation (units in the names; probabilities per subscriber-day)."""

    n_cities: int = 6
    n_subscribers: int = 2000
    n_days: int = 14
    as_of: str = "2020-02-01"
    epidemic_days: int = 40
    seed: int = 0
    tz: str = schema.DEFAULT_TZ
    ping_interval_minutes: tuple[int, int] = (5, 60)
    communities_per_city: int = 8
    pois_per_city: int = 6
    city_codes: tuple[int, ...] | None = None  # overrides n_cities: these cities, the first seeds the epidemic
    work_share: float = 0.7
    border_share: float = 0.125  # share of each city's communities that lie near its border
    border_cell_share: float = 0.3  # share of pings at a near-border place served by the border cell
    cross_border_work_share: float = 0.3  # share of near-border residents working across the border
    trip_rate_per_day: float = 0.01
    p_evening: float = 0.3
    p_outing: float = 0.4
    p_missing_day: float = 0.03
    # distance decay of place choice, probability ~ exp(-distance / scale) (mean trip ~ 2 x scale in a
    # uniformly built city); None: uniform over the city (no spatial locality)
    work_scale_km: float | None = 4.0  # commute: mean ~8 km, China's big-city one-way commutes are ~8-11 km
    poi_scale_km: float | None = 1.0  # shops, markets, restaurants: the "15-minute" neighbourhood (~1-2 km)
    transmission_per_hour: float = 0.014
    ascertainment: float = 0.7
    seed_infections: int | None = None  # default: max(3, residents // 500)
    # Residents per subscriber: the nation has n_subscribers x this many residents, living, working and
    # catching the infection alike; only the first n_subscribers (a random sample: homes are drawn
    # independently) are the carrier's subscribers, with pings and truth tables. The case feeds count
    # every resident (a health authority reports all cases); communities' population is their residents.
    # 1: every resident is a subscriber.
    residents_per_subscriber: int = 1
    seed_city_share: float = 0.7
    future_days: int = 14
    contact_window_days: int = 15
    block_subscribers: int = BLOCK  # subscribers per random stream (output is independent of chunking)

    def __post_init__(self) -> None:
        if self.n_days < 1 or self.epidemic_days < self.n_days:
            raise ValueError("need 1 <= n_days <= epidemic_days")
        if self.n_subscribers < 1:
            raise ValueError("n_subscribers must be >= 1")
        if int(self.residents_per_subscriber) != self.residents_per_subscriber or self.residents_per_subscriber < 1:
            raise ValueError("residents_per_subscriber must be a whole number >= 1")
        lo, hi = self.ping_interval_minutes
        if not 0 < lo <= hi:
            raise ValueError("ping_interval_minutes must be (low, high) with 0 < low <= high")
        if not 1 <= self.block_subscribers <= 32_768:
            raise ValueError("block_subscribers must be between 1 and 32768")
        for name in ("work_scale_km", "poi_scale_km"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0 or None (uniform)")


@dataclass
class Nation:
    """A generated nation: feeds (raw schemas) and ground truth (``TRUE_*``), see :mod:`forecast.schema`."""

    config: NationConfig
    cities: pd.DataFrame
    communities: pd.DataFrame
    cells: pd.DataFrame
    pings: pd.DataFrame
    cases: pd.DataFrame
    case_trips: pd.DataFrame
    city_cases: pd.DataFrame
    true_stays: pd.DataFrame
    true_city_days: pd.DataFrame
    true_contacts: pd.DataFrame
    true_infections: pd.DataFrame
    subscribers: pd.DataFrame
    places: pd.DataFrame = field(default_factory=lambda: schema.empty(PLACES))
    silent_days: pd.DataFrame = field(default_factory=lambda: schema.empty(SILENT_DAYS))
    _canonical: pd.DataFrame | None = field(default=None, repr=False)

    def canonical_pings(self) -> pd.DataFrame:
        """Pings as ingest would make them (``PINGS``: uid, ts_s, cell_id), sorted by uid, ts_s.

        Examples
        --------
        >>> n = generate_nation(NationConfig(n_cities=2, n_subscribers=20, n_days=2, epidemic_days=5), b"k" * 16)
        >>> p = n.canonical_pings()
        >>> bool(((p.uid.diff() > 0) | ((p.uid.diff() == 0) & (p.ts_s.diff() >= 0)))[1:].all())
        True
        """
        p = self._canonical if self._canonical is not None else schema.empty(schema.PINGS)
        return p.sort_values(["uid", "ts_s"], kind="stable").reset_index(drop=True)


def _calendar(cfg: NationConfig) -> tuple[Calendar, pd.DatetimeIndex]:
    first = pd.Timestamp(cfg.as_of) - pd.Timedelta(days=cfg.epidemic_days)
    days = pd.date_range(first, periods=cfg.epidemic_days + cfg.future_days + 2, freq="D")
    starts = days.tz_localize(cfg.tz).tz_convert("UTC").as_unit("s").asi8
    cal = Calendar(starts[:-1], np.diff(starts), days[:-1].day_of_week.to_numpy().astype(np.int8))
    return cal, days[:-1]


def build_routine(config: NationConfig, pseudonym_key: bytes) -> Routine:
    """Geography, population, trips and calendar of a nation (no epidemic, no pings yet).

    Examples
    --------
    >>> r = build_routine(NationConfig(n_cities=3, n_subscribers=30), b"k" * 16)
    >>> len(r.geo.cities), len(r.pop.uid), len(r.calendar.start_s)
    (3, 30, 55)
    """
    cfg = config
    rng = np.random.default_rng([cfg.seed, 0])
    cities = select_cities(read_city_table(), cfg.n_cities, cfg.city_codes)
    geo = build_geography(cities, cfg.communities_per_city, cfg.pois_per_city, cfg.border_share, rng)
    work_choice = place_choice(geo, "community", cfg.work_scale_km) if cfg.work_scale_km else None
    poi_choice = place_choice(geo, "poi", cfg.poi_scale_km) if cfg.poi_scale_km else None
    residents = cfg.n_subscribers * int(cfg.residents_per_subscriber)
    pop = build_population(geo, residents, cfg.work_share, cfg.cross_border_work_share, cfg.seed,
                           pseudonym_key, rng, work_choice)
    geo.communities["population"] = np.bincount(pop.home, minlength=len(geo.communities))[: len(geo.communities)]
    cal, _ = _calendar(cfg)
    trips = build_trips(geo, pop, len(cal.start_s), cfg.trip_rate_per_day, rng)
    return Routine(geo, pop, trips, cal, cfg.seed, cfg.p_evening, cfg.p_outing, cfg.p_missing_day, cfg.block_subscribers,
                   poi_choice, n_subscribers=cfg.n_subscribers if residents > cfg.n_subscribers else None)


def _conform(df: pd.DataFrame, table: dict) -> pd.DataFrame:
    return df[list(table)].astype(table).reset_index(drop=True)


def _case_tables(cfg: NationConfig, r: Routine, epi: Epidemic, dates: pd.DatetimeIndex):
    """Cases feed, case trips, city case series, true infections; and the case index per subscriber."""
    as_of = cfg.epidemic_days
    date_str = np.asarray(dates.strftime("%Y-%m-%d"))
    codes = r.geo.cities["city_code"].to_numpy(np.int64)
    comm = r.geo.communities["community_id"].to_numpy(np.int64)
    who = np.flatnonzero((epi.confirmed_day >= 0) & (epi.confirmed_day < as_of))
    who = who[np.lexsort((who, epi.confirmed_day[who]))]
    case_id = np.char.add("C", np.char.mod("%06d", np.arange(1, len(who) + 1)))
    raw = r.pop.msisdn[who]
    raw = np.where(np.arange(len(who)) % 2 == 0, pd.Series(raw, dtype=object).str[3:].to_numpy(dtype=str), raw)
    cases = pd.DataFrame({"case_id": case_id, "confirmed_date": date_str[epi.confirmed_day[who]],
                          "city_code": codes[r.pop.home_city[who]], "community_id": comm[r.pop.home[who]], "msisdn": raw})
    case_of = np.full(len(r.pop.uid), -1, np.int64)
    case_of[who] = np.arange(len(who))

    t = r.trips
    k = case_of[t.person] if len(t.person) else np.zeros(0, np.int64)
    leg_k = np.concatenate([k, k])
    leg_day = np.concatenate([t.d0, t.d1])
    origin = np.concatenate([r.pop.home_city[t.person], t.dest_city])
    dest = np.concatenate([t.dest_city, r.pop.home_city[t.person]])
    conf = epi.confirmed_day[who][np.maximum(leg_k, 0)] if len(who) else np.zeros(len(leg_k), np.int32)
    ok = (leg_k >= 0) & (leg_day >= conf - 14) & (leg_day < conf)
    g = np.random.default_rng([cfg.seed, 3])
    lon, lat = r.geo.cities["lon"].to_numpy(), r.geo.cities["lat"].to_numpy()
    km = np.hypot((lon[dest] - lon[origin]) * np.cos(np.radians(lat[origin])), lat[dest] - lat[origin]) * 111.2
    train = km < 800
    n_ok = int(ok.sum())
    train_no = np.char.add(np.where(g.random(n_ok) < 0.7, "G", "D"), g.integers(1, 9999, n_ok).astype(str))
    airline = np.array(["CA", "MU", "CZ", "HU"])[g.integers(0, 4, n_ok)]
    number = np.where(train[ok], train_no, np.char.add(airline, g.integers(1000, 9999, n_ok).astype(str)))
    car = np.where(train[ok], np.char.mod("%02d", g.integers(1, 17, n_ok)), "")
    case_trips = pd.DataFrame({"case_id": case_id[leg_k[ok]], "date": date_str[leg_day[ok]],
                               "mode": np.where(train[ok], "train", "flight"), "number": number, "car": car})
    case_trips = case_trips.sort_values(["case_id", "date"], kind="stable")

    n_c = len(codes)
    daily = np.zeros((as_of, n_c), np.int64)
    np.add.at(daily, (epi.confirmed_day[who], r.pop.home_city[who]), 1)
    cum = np.cumsum(daily, axis=0)
    city_cases = pd.DataFrame({"date": np.repeat(date_str[:as_of], n_c), "city_code": np.tile(codes, as_of),
                               "confirmed": cum.ravel()})

    inf = np.flatnonzero(epi.infected_day >= 0)
    day64 = dates.to_numpy().astype("datetime64[s]")
    ext = np.concatenate([day64, day64[-1] + np.arange(1, 40).astype("timedelta64[D]")])  # confirmations after the run
    conf_date = np.where(epi.confirmed_day[inf] >= 0, ext[np.maximum(epi.confirmed_day[inf], 0)], np.datetime64("NaT"))
    true_inf = pd.DataFrame({"uid": r.pop.uid[inf], "infected_date": day64[epi.infected_day[inf]],
                             "confirmed_date": conf_date, "community_id": comm[r.pop.home[inf]],
                             "city_code": codes[r.pop.home_city[inf]],
                             "infectious_date": ext[epi.infectious_day[inf]], "imported": epi.imported[inf]})
    return (_conform(cases, schema.RAW_CASES), _conform(case_trips, schema.CASE_TRIPS),
            _conform(city_cases, schema.CITY_CASES), _conform(true_inf, schema.TRUE_INFECTIONS), who, case_of)


def _window_days(cfg: NationConfig) -> range:
    return range(cfg.epidemic_days - cfg.n_days, cfg.epidemic_days)


def _case_segments(cfg: NationConfig, r: Routine, epi: Epidemic, who: np.ndarray, case_of: np.ndarray):
    """Segments of confirmed cases inside their contact window and the ping window (pre-pass).

    Only cases who are subscribers: a search over pings can see no one else's contacts."""
    parts = []
    if r.n_subscribers is not None:
        who = who[who < r.n_subscribers]
    blocks = np.unique(who // r.block)
    for b in blocks:
        segs = [subscriber_segments(r, day_segments(r, d, b, b + 1)) for d in _window_days(cfg)]
        person, place, s, e, di = stack_days(segs)
        day = di + _window_days(cfg).start
        conf = epi.confirmed_day[person]
        k = case_of[person]
        ok = (k >= 0) & (day >= conf - cfg.contact_window_days) & (day <= conf) & (e > s)
        # merge a day's consecutive segments at one place: fewer candidate pairs later
        mp, mg, ms, me = merge_segments(person[ok], place[ok].astype(np.int64) * 4096 + day[ok], s[ok], e[ok])
        parts.append((case_of[mp], mg, ms, me))
    if not parts:
        z = np.zeros(0, np.int64)
        return z, z, z, z
    return tuple(np.concatenate(x) for x in zip(*parts))


def _block_tables(cfg: NationConfig, r: Routine, b: int, case_segs, case_ids: pa.Array, case_person: np.ndarray,
                  dates: pd.DatetimeIndex, canonical: bool = True, pings: bool = True,
                  truth: bool = True) -> dict[str, object]:
    """Pings (arrow; None unless ``pings``) and truth frames (unless not ``truth``) for one block of
    subscribers over the ping window."""
    days = list(_window_days(cfg))
    segs = [subscriber_segments(r, day_segments(r, d, b, b + 1)) for d in days]
    if pings:
        who, ts, cell = [], [], []
        for d, seg in zip(days, segs):
            w, t, c = day_pings(r, seg, d, b, cfg.ping_interval_minutes, cfg.border_cell_share)
            who.append(w), ts.append(t), cell.append(c)
        who, ts, cell = np.concatenate(who), np.concatenate(ts), np.concatenate(cell)
        text = iso_records(ts, cfg.tz)  # day-major here, which makes it cheap
        order = np.argsort((who - segs[0].lo).astype(np.int16), kind="stable")  # radix sort: block <= 32768
        who, ts, cell, text = who[order], ts[order], cell[order], text[order]
        pings = pings_arrow(r, segs[0], who, text, cell)
        canonical = pd.DataFrame({"uid": r.pop.uid[who], "ts_s": ts, "cell_id": cell}) if canonical else None
        del who, ts, cell, text, order
    else:
        pings = canonical = None
    if not truth:
        return {"pings": pings, "canonical": canonical}

    person, place, s, e, di = stack_days(segs)
    geo = r.geo
    place_id = geo.places["place_id"].to_numpy(np.int64)
    place_comm = geo.places["community_id"].to_numpy(np.int64)
    codes = geo.cities["city_code"].to_numpy(np.int64)
    mp, mpl, ms, me = merge_segments(person, place, s, e)
    stays = pd.DataFrame({"uid": r.pop.uid[mp], "start_s": ms, "end_s": me, "place_id": place_id[mpl],
                          "community_id": place_comm[mpl], "city_code": codes[geo.place_city[mpl]]})
    cp, cd, cc, cm = city_day_minutes(person, di, geo.place_city[place], (e - s) / 60.0)
    local = dates.to_numpy().astype("datetime64[s]")[np.asarray(days)]
    city_days = pd.DataFrame({"uid": r.pop.uid[cp], "local_date": local[cd], "city_code": codes[cc], "minutes": cm})
    silent = np.stack([sg.missing for sg in segs], axis=1)  # (subscriber, day)
    si, sd = np.nonzero(silent)
    silent_days = pd.DataFrame({"uid": r.pop.uid[segs[0].lo + si], "local_date": local[sd]})
    gp, gg, gs, ge = merge_segments(person, place.astype(np.int64) * 4096 + (di + days[0]), s, e)
    k, p, minutes = contact_minutes(*case_segs, gp, gg, gs, ge)
    not_self = case_person[k] != p if len(k) else np.zeros(0, bool)
    # sorted by case then subscriber index within the block; no Python strings per row
    contacts = pa.table({"case_id": case_ids.take(pa.array(k[not_self], pa.int64())),
                         "uid": pa.array(r.pop.uid[p[not_self]], pa.int64()),
                         "shared_minutes": pa.array(minutes[not_self], pa.float64())})
    return {"pings": pings, "canonical": canonical, "true_stays": _conform(stays, schema.TRUE_STAYS),
            "true_city_days": _conform(city_days, schema.TRUE_CITY_DAYS), "true_contacts": contacts,
            "silent_days": _conform(silent_days, SILENT_DAYS)}


def _prepare(config: NationConfig, pseudonym_key: bytes, progress: bool, contacts: bool = True):
    cfg = config
    r = build_routine(cfg, pseudonym_key)
    _, dates = _calendar(cfg)
    seeds = cfg.seed_infections if cfg.seed_infections is not None else max(3, len(r.pop.uid) // 500)
    with tqdm(total=len(dates), desc="epidemic", unit="day", disable=not progress) as bar:
        epi = simulate_epidemic(r, len(dates), cfg.transmission_per_hour, cfg.ascertainment, seeds,
                                cfg.seed_city_share, progress=bar.update)
    cases, case_trips, city_cases, true_inf, who, case_of = _case_tables(cfg, r, epi, dates)
    case_segs = _case_segments(cfg, r, epi, who, case_of) if contacts else None  # only true contacts need them
    geo = r.geo
    comm = geo.communities["community_id"].to_numpy(np.int64)
    # near a border: living or working in a community that a border cell also serves
    near_border = geo.comm_border[r.pop.home] | ((r.pop.work >= 0) & geo.comm_border[np.maximum(r.pop.work, 0)])
    sub = slice(0, cfg.n_subscribers)  # the subscribers are the first people (all of them by default)
    subscribers = pd.DataFrame({"uid": r.pop.uid[sub], "home_community_id": comm[r.pop.home[sub]],
                                "work_community_id": np.where(r.pop.work[sub] >= 0, comm[np.maximum(r.pop.work[sub], 0)], -1),
                                "home_city_code": geo.cities["city_code"].to_numpy(np.int64)[r.pop.home_city[sub]],
                                "near_border": near_border[sub]})
    static = {"cities": _conform(geo.cities, schema.CITIES), "communities": _conform(geo.communities, schema.COMMUNITIES),
              "cells": _conform(geo.cells, schema.CELLS), "cases": cases, "case_trips": case_trips,
              "city_cases": city_cases, "true_infections": true_inf,
              "subscribers": _conform(subscribers, SUBSCRIBERS), "places": _conform(geo.places, PLACES)}
    case_ids = pa.array(cases["case_id"].to_numpy(dtype=object), pa.string())
    return r, dates, static, case_segs, case_ids, who


def generate_nation(config: NationConfig, pseudonym_key: bytes) -> Nation:
    """Generate a whole nation in memory (for tests and small demos; see :func:`generate_nation_to_dir`).

    Parameters
    ----------
    config : NationConfig
        The nation's parameters (cities, subscribers, days, epidemic, seed).
    pseudonym_key : bytes
        HMAC key (>= 16 bytes) that turns the subscribers' numbers into ``uid``.

    Returns
    -------
    Nation
        The feeds in their raw schemas (``pings``, ``cells``, ``communities``, ``cities``, ``cases``,
        ``case_trips``, ``city_cases``) and the ground truth (``true_stays``, ``true_city_days``,
        ``true_contacts``, ``true_infections``, ``subscribers``, ``places``, ``silent_days``).

    Examples
    --------
    >>> n = generate_nation(NationConfig(n_cities=2, n_subscribers=40, n_days=2, epidemic_days=6), b"k" * 16)
    >>> len(n.subscribers), n.pings.dtypes.astype(str).tolist()
    (40, ['string', 'string', 'int64'])
    """
    r, dates, static, case_segs, case_ids, who = _prepare(config, pseudonym_key, progress=False)
    parts = [_block_tables(config, r, b, case_segs, case_ids, who, dates) for b in range(n_blocks(config.n_subscribers, r.block))]
    cat = {k: pd.concat([p[k] for p in parts], ignore_index=True)
           for k in ("canonical", "true_stays", "true_city_days", "silent_days")}
    as_pandas = {pa.string(): pd.StringDtype()}.get
    pings = pa.concat_tables([p["pings"] for p in parts]).to_pandas(types_mapper=as_pandas)
    contacts = _conform(pa.concat_tables([p["true_contacts"] for p in parts]).to_pandas(types_mapper=as_pandas),
                        schema.TRUE_CONTACTS)
    return Nation(config=config, pings=_conform(pings, schema.RAW_PINGS), true_stays=cat["true_stays"],
                  true_city_days=cat["true_city_days"], true_contacts=contacts, _canonical=cat["canonical"],
                  silent_days=cat["silent_days"],
                  **{k: static[k] for k in ("cities", "communities", "cells", "cases", "case_trips", "city_cases",
                                            "true_infections", "subscribers", "places")})


def _paths(out_dir: Path, fmt: str) -> dict[str, Path]:
    if fmt not in ("parquet", "csv"):
        raise ValueError("fmt must be parquet or csv")
    out = {k: out_dir / f"{k}.{fmt}" for k in FEEDS}
    out.update({k: out_dir / "truth" / f"{k}.{fmt}" for k in TRUTH})
    return out


def _write_config(cfg: NationConfig, out_dir: Path, extra: dict | None = None) -> Path:
    path = out_dir / "truth" / "summary.json"
    path.write_text(json.dumps({"config": asdict(cfg), **(extra or {})}, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def write_nation(nation: Nation, out_dir: Path, fmt: str = "parquet") -> dict[str, Path]:
    """Write the feeds to ``out_dir`` and the truth to ``out_dir/truth`` as Parquet or CSV.

    Parameters
    ----------
    nation : Nation
        The nation to write (e.g. from :func:`generate_nation`).
    out_dir : Path
        Output directory; it and ``out_dir/truth`` are created if missing, files of the same name replaced.
    fmt : {"parquet", "csv"}
        File format (``ValueError`` otherwise).

    Returns
    -------
    dict of str to Path
        The path of each feed (``out_dir/<name>.<fmt>``), each truth table (``out_dir/truth/<name>.<fmt>``)
        and ``"summary"`` (``out_dir/truth/summary.json``, the config).

    Examples
    --------
    >>> import tempfile
    >>> n = generate_nation(NationConfig(n_cities=2, n_subscribers=20, n_days=2, epidemic_days=5), b"k" * 16)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_nation(n, Path(d), "csv")
    ...     len(read_truth(Path(d))["subscribers"])
    20
    """
    out_dir = Path(out_dir)
    paths = _paths(out_dir, fmt)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    for name, table in {**FEEDS, **TRUTH}.items():
        write_frame(getattr(nation, name), table, paths[name], fmt)
    paths["summary"] = _write_config(nation.config, out_dir)
    return paths


def read_truth(out_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the truth tables written by :func:`write_nation` or :func:`generate_nation_to_dir`, typed by
    their schemas (Parquet preferred when both exist).

    Parameters
    ----------
    out_dir : Path
        The directory written (the tables are read from ``out_dir/truth``).

    Returns
    -------
    dict of str to DataFrame
        Each truth table (``true_stays``, ``true_city_days``, ``true_contacts``, ``true_infections``,
        ``subscribers``, ``places``, ``silent_days``) with its schema's columns and dtypes.

    Raises
    ------
    FileNotFoundError
        If a truth table is missing in both formats.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = generate_nation_to_dir(NationConfig(n_cities=2, n_subscribers=20, n_days=2, epidemic_days=5),
    ...                                b"k" * 16, Path(d), progress=False)
    ...     sorted(read_truth(Path(d)))
    ['places', 'silent_days', 'subscribers', 'true_city_days', 'true_contacts', 'true_infections', 'true_stays']
    """
    out = {}
    for name, table in TRUTH.items():
        for fmt in ("parquet", "csv"):
            p = Path(out_dir) / "truth" / f"{name}.{fmt}"
            if p.exists():
                out[name] = read_table(p, table)
                break
        else:
            raise FileNotFoundError(f"{p} not found")
    return out


def generate_nation_to_dir(config: NationConfig, pseudonym_key: bytes, out_dir: Path, chunk_subscribers: int = 16_384,
                           fmt: str = "parquet", progress: bool = True, pings_by_day: bool = False,
                           truth: bool = True) -> dict[str, Path]:
    """Generate a nation straight to files, ``chunk_subscribers`` at a time (rounded up to whole blocks
    of ``config.block_subscribers``): memory grows with the chunk (about 0.2 KB per ping), not with the nation. The output
    equals ``write_nation(generate_nation(config, key), out_dir, fmt)`` row for row, whatever the chunk.
    ``truth/summary.json`` holds the config and figures (pings per subscriber-day, counts, cases
    confirmed inside the ping window).

    ``pings_by_day``: write the pings feed as ``pings/part-YYYY-MM-DD.<fmt>``, one part per local day,
    instead of ``pings.<fmt>``; each part holds that day's rows of ``pings.<fmt>`` in the same order
    (what splitting the whole file by day gives), and is generated a chunk-day at a time, so memory no
    longer grows with the number of days. ``truth=False``: write no truth tables (only
    ``truth/summary.json``) and skip computing them (true contacts and stays are most of the work
    apart from the pings); the feeds are unchanged.

    Parameters
    ----------
    config : NationConfig
        The nation's parameters.
    pseudonym_key : bytes
        HMAC key (>= 16 bytes) that turns the subscribers' numbers into ``uid``.
    out_dir : Path
        Output directory; it and ``out_dir/truth`` are created if missing.
    chunk_subscribers : int
        Subscribers generated at a time (memory; the output does not depend on it).
    fmt : {"parquet", "csv"}
        File format (``ValueError`` otherwise).
    progress : bool
        Show progress bars (tqdm) on stderr.
    pings_by_day : bool
        Write the pings as one part file per local day (see above).
    truth : bool
        Write (and compute) the truth tables.

    Returns
    -------
    dict of str to Path
        As :func:`write_nation` (without the truth tables when ``truth=False``); with ``pings_by_day``
        ``"pings"`` is the directory ``out_dir/pings``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = generate_nation_to_dir(NationConfig(n_cities=2, n_subscribers=30, n_days=2, epidemic_days=5),
    ...                                    b"k" * 16, Path(d), chunk_subscribers=10, fmt="csv", progress=False)
    ...     sorted(p.name for p in paths.values())[:3]
    ['case_trips.csv', 'cases.csv', 'cells.csv']
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = generate_nation_to_dir(NationConfig(n_cities=2, n_subscribers=30, n_days=2, as_of="2020-02-01",
    ...                                    epidemic_days=5), b"k" * 16, Path(d), progress=False, pings_by_day=True,
    ...                                    truth=False)
    ...     sorted(p.name for p in paths["pings"].iterdir()), (Path(d) / "truth" / "true_stays.parquet").exists()
    (['part-2020-01-30.parquet', 'part-2020-01-31.parquet'], False)
    """
    out_dir = Path(out_dir)
    paths = _paths(out_dir, fmt)
    if not truth:
        paths = {k: v for k, v in paths.items() if k not in TRUTH}
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    r, dates, static, case_segs, case_ids, who = _prepare(config, pseudonym_key, progress, contacts=truth)
    for name in ("cities", "communities", "cells", "cases", "case_trips", "city_cases", "true_infections",
                 "subscribers", "places"):
        if name in paths:
            write_frame(static[name], {**FEEDS, **TRUTH}[name], paths[name], fmt)
    streamed = ("true_stays", "true_city_days", "true_contacts", "silent_days") if truth else ()
    writers = {k: TableWriter(paths[k], TRUTH[k], fmt) for k in streamed}
    if pings_by_day:
        paths["pings"] = out_dir / "pings"
        writers["pings"] = DayPartWriter(paths["pings"], FEEDS["pings"], fmt)
    else:
        writers["pings"] = TableWriter(paths["pings"], FEEDS["pings"], fmt)
    per_chunk = max(1, -(-int(chunk_subscribers) // r.block))
    nb = n_blocks(config.n_subscribers, r.block)
    n_pings = n_contacts = 0
    try:
        with tqdm(total=config.n_subscribers, desc="subscribers", unit="sub", disable=not progress) as bar:
            for c0 in range(0, nb, per_chunk):
                blocks = range(c0, min(nb, c0 + per_chunk))
                if pings_by_day:  # a chunk-day at a time: in each day's part, rows follow the chunks
                    for d in _window_days(config):
                        tab = pa.concat_tables([block_day_pings(r, b, d, config.ping_interval_minutes,
                                                             config.border_cell_share, config.tz) for b in blocks])
                        writers["pings"].write(tab)
                        n_pings += tab.num_rows
                if truth or not pings_by_day:
                    parts = [_block_tables(config, r, b, case_segs, case_ids, who, dates, canonical=False,
                                           pings=not pings_by_day, truth=truth) for b in blocks]
                if not pings_by_day:
                    writers["pings"].write(pa.concat_tables([p["pings"] for p in parts]))
                    n_pings += sum(p["pings"].num_rows for p in parts)
                if truth:
                    for k in ("true_stays", "true_city_days", "silent_days"):
                        writers[k].write(arrow_table(pd.concat([p[k] for p in parts], ignore_index=True), TRUTH[k]))
                    writers["true_contacts"].write(pa.concat_tables([p["true_contacts"] for p in parts]))
                    n_contacts += sum(p["true_contacts"].num_rows for p in parts)
                bar.update(min(config.n_subscribers, blocks.stop * r.block) - c0 * r.block)
    finally:
        for w in writers.values():
            w.close()
    window = dates[_window_days(config).start].strftime("%Y-%m-%d")
    in_window = int((static["cases"]["confirmed_date"] >= window).sum())
    paths["summary"] = _write_config(config, out_dir, {
        "n_pings": n_pings, "pings_per_subscriber_day": n_pings / (config.n_subscribers * config.n_days),
        "n_cases": len(static["cases"]), "n_infections": len(static["true_infections"]),
        "n_cases_in_ping_window": in_window,
        "cases_in_ping_window_share": in_window / (config.n_subscribers * int(config.residents_per_subscriber)),
        "n_contacts": n_contacts if truth else None})
    return paths
