"""Pings and ground-truth tables of the synthetic nation, from day segments (vectorised per block).

Pings come at irregular intervals, uniform in ``ping_interval_minutes``, from waking to sleeping
(nights are silent; a missing day has none). A ping is served by the cell of the place where the
subscriber is; at a near-border place a share ``border_cell_share`` is served by the border cell,
registered to the neighbouring city.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from forecast.synth.routine import DaySegments, Routine, day_segments, subscriber_segments

_SALT_PING = 4
_KEY_SHIFT = 18  # seconds within a day fit below the subscriber's index in one int64 key


def day_pings(r: Routine, seg: DaySegments, day: int, block: int, interval_minutes: tuple[int, int],
              border_cell_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pings of one block-day: (subscriber index, ts_s, cell_id), sorted by subscriber then time.

    Examples
    --------
    >>> from forecast.synth.nation import NationConfig, build_routine
    >>> from forecast.synth.routine import day_segments
    >>> r = build_routine(NationConfig(n_cities=2, n_subscribers=50), b"k" * 16)
    >>> who, ts, cell = day_pings(r, day_segments(r, 30, 0, 1), 30, 0, (5, 60), 0.3)
    >>> bool((np.diff(who) >= 0).all()), 20 < len(ts) / 50 < 40
    (True, True)
    """
    m = seg.place.shape[0]
    rng = np.random.default_rng([r.seed, _SALT_PING, day, block])
    lo_s, hi_s = interval_minutes[0] * 60.0, interval_minutes[1] * 60.0
    cur = seg.wake_s + rng.random(m) * lo_s  # first ping soon after waking
    active = np.flatnonzero(~seg.missing & (cur < seg.sleep_s))
    who_parts, ts_parts = [], []
    width = max(8, int(24 * 3600 / (lo_s + hi_s) * 2 / 3))
    while len(active):
        gaps = rng.uniform(lo_s, hi_s, (len(active), width))
        t = cur[active, None] + np.concatenate([np.zeros((len(active), 1)), np.cumsum(gaps[:, :-1], axis=1)], axis=1)
        ok = t < seg.sleep_s[active, None]
        who_parts.append(np.broadcast_to(active[:, None], t.shape)[ok])
        ts_parts.append(t[ok])
        cur[active] = t[:, -1] + gaps[:, -1]
        active = active[cur[active] < seg.sleep_s[active]]
    who = np.concatenate(who_parts) if who_parts else np.zeros(0, np.int64)
    ts = np.floor(np.concatenate(ts_parts)).astype(np.int64) if ts_parts else np.zeros(0, np.int64)
    d0 = r.calendar.start_s[day]
    # rounds are in time order per subscriber, so a stable radix sort by subscriber sorts by (who, ts)
    order = np.argsort(who.astype(np.int16) if m <= 32_768 else who, kind="stable")
    who, ts = who[order], ts[order]
    key = (who.astype(np.int64) << _KEY_SHIFT) | (ts - d0)
    seg_key = ((np.arange(m, dtype=np.int64)[:, None] << _KEY_SHIFT) | (seg.start_s - d0)).ravel()
    idx = np.searchsorted(seg_key, key, side="right") - 1
    place = seg.place.ravel()[idx]
    cell = r.geo.place_cell[place]
    border = r.geo.place_border_cell[place]
    use_border = (border >= 0) & (rng.random(len(place)) < border_cell_share)
    return who + seg.lo, ts, np.where(use_border, border, cell)


def pings_arrow(r: Routine, seg: DaySegments, who: np.ndarray, text: np.ndarray, cell: np.ndarray) -> pa.Table:
    """The raw pings feed (msisdn, ts, cell_id) of subscriber indices ``who`` (all in ``seg``'s block),
    with ``text`` their :func:`iso_records`.

    Examples
    --------
    >>> from forecast.synth.nation import NationConfig, build_routine
    >>> from forecast.synth.routine import day_segments
    >>> r = build_routine(NationConfig(n_cities=2, n_subscribers=5), b"k" * 16)
    >>> t = pings_arrow(r, day_segments(r, 0, 0, 1), np.array([3]), iso_records(np.array([1579303391]), "Asia/Shanghai"),
    ...                 np.array([7]))
    >>> t.column_names, t["ts"].to_pylist(), t["msisdn"][0].as_py() == r.pop.msisdn[3]
    (['msisdn', 'ts', 'cell_id'], ['2020-01-18T07:23:11+08:00'], True)
    """
    msisdn = pa.array(r.pop.msisdn[seg.lo: seg.lo + seg.place.shape[0]])
    return pa.table({"msisdn": msisdn.take(pa.array(who - seg.lo)), "ts": records_to_arrow(text).cast(pa.string()),
                     "cell_id": pa.array(cell, pa.int64())})


def block_day_pings(r: Routine, block: int, day: int, interval_minutes: tuple[int, int], border_cell_share: float,
                    tz: str) -> pa.Table:
    """The raw pings feed of one block-day (:func:`day_pings` as text), sorted by subscriber then time:
    the rows of that local day of the block's pings in :mod:`forecast.synth`, in the same order.

    Examples
    --------
    >>> from forecast.synth.nation import NationConfig, build_routine
    >>> r = build_routine(NationConfig(n_cities=2, n_subscribers=50), b"k" * 16)
    >>> t = block_day_pings(r, 0, 30, (5, 60), 0.3, "Asia/Shanghai")
    >>> sorted({s[:10] for s in t["ts"].to_pylist()}), 20 < t.num_rows / 50 < 40
    (['2020-01-22'], True)
    """
    seg = subscriber_segments(r, day_segments(r, day, block, block + 1))
    who, ts, cell = day_pings(r, seg, day, block, interval_minutes, border_cell_share)
    return pings_arrow(r, seg, who, iso_records(ts, tz), cell)


_OFFSET_Q_MIN = -64  # quarter hours: -16:00 .. +16:00 covers every real UTC offset
_ISO = np.dtype([("date", "S10"), ("t", "S1"), ("time", "S8"), ("offset", "S6")])  # 25 packed bytes


@lru_cache(maxsize=1)
def _text_tables() -> tuple[np.ndarray, np.ndarray]:
    """'HH:MM:SS' for every second of a day and '+HH:MM' for every quarter-hour offset."""
    sod = np.arange(86_400)
    digits = np.stack([sod // 36000, sod // 3600 % 10, sod // 600 % 6, sod // 60 % 10, sod // 10 % 6, sod % 10])
    chars = np.full((86_400, 8), ord(":"), np.uint8)
    chars[:, [0, 1, 3, 4, 6, 7]] = (48 + digits.T).astype(np.uint8)
    q = np.arange(_OFFSET_Q_MIN, -_OFFSET_Q_MIN + 1)
    minutes = np.abs(q) * 15
    off = np.char.add(np.where(q >= 0, "+", "-"), np.char.add(np.char.mod("%02d:", minutes // 60), np.char.mod("%02d", minutes % 60)))
    return chars.view("S8").ravel(), off.astype("S6")


def iso_records(ts_s: np.ndarray, tz: str) -> np.ndarray:
    """ISO-8601 local times with offset as 25-byte records (``_ISO``), assembled from lookup tables
    (no per-value formatting); fastest when ``ts_s`` is sorted by day.

    Examples
    --------
    >>> iso_records(np.array([1579303391]), "Asia/Shanghai").view("S25").tolist()
    [b'2020-01-18T07:23:11+08:00']
    """
    ts_s = np.asarray(ts_s, dtype=np.int64)
    n = len(ts_s)
    local = pd.DatetimeIndex(ts_s.astype("datetime64[s]")).tz_localize("UTC").tz_convert(tz).tz_localize(None)
    local_s = local.as_unit("s").asi8
    day = local_s // 86400
    rec = np.empty(n, _ISO)
    if n == 0:
        return rec
    times, offsets = _text_tables()
    d_lo, d_hi = int(day.min()), int(day.max())
    dates = np.arange(d_lo, d_hi + 1).astype("datetime64[D]").astype("S10")
    if (np.diff(day) >= 0).all():  # day-sorted: one constant per run of a day
        cuts = np.searchsorted(day, np.arange(d_lo, d_hi + 2))
        for k in range(d_hi - d_lo + 1):  # per local day, not per ping
            rec["date"][cuts[k]: cuts[k + 1]] = dates[k]
    else:
        rec["date"] = dates[day - d_lo]
    rec["t"] = b"T"
    rec["time"] = times[local_s - day * 86400]
    rec["offset"] = offsets[(local_s - ts_s) // 900 - _OFFSET_Q_MIN]
    return rec


def records_to_arrow(rec: np.ndarray) -> pa.Array:
    """A string array over fixed-width records (zero copy).

    Examples
    --------
    >>> records_to_arrow(np.array([b"ab", b"cd"], dtype="S2")).to_pylist()
    ['ab', 'cd']
    """
    n, width = len(rec), rec.dtype.itemsize
    value_offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(value_offsets), pa.py_buffer(np.ascontiguousarray(rec).view(np.uint8)))


def iso_strings(ts_s: np.ndarray, tz: str) -> pa.Array:
    """ISO-8601 local times with offset (``2020-01-18T07:23:11+08:00``) for Unix seconds.

    Examples
    --------
    >>> iso_strings(np.array([1579303391]), "Asia/Shanghai").to_pylist()
    ['2020-01-18T07:23:11+08:00']
    >>> iso_strings(np.array([0]), "America/New_York").to_pylist()
    ['1969-12-31T19:00:00-05:00']
    """
    return records_to_arrow(iso_records(ts_s, tz))


def merge_segments(person: np.ndarray, place: np.ndarray, start_s: np.ndarray, end_s: np.ndarray):
    """Merge consecutive segments of one person at one place into stays (input sorted by person, time;
    zero-length segments dropped).

    Examples
    --------
    >>> out = merge_segments(np.array([0, 0, 0, 1]), np.array([5, 5, 6, 5]), np.array([0, 10, 20, 0]), np.array([10, 20, 30, 9]))
    >>> [a.tolist() for a in out]
    [[0, 0, 1], [5, 6, 5], [0, 20, 0], [20, 30, 9]]
    """
    keep = end_s > start_s
    person, place, start_s, end_s = person[keep], place[keep], start_s[keep], end_s[keep]
    if len(person) == 0:
        return person, place, start_s, end_s
    new = np.ones(len(person), bool)
    new[1:] = (person[1:] != person[:-1]) | (place[1:] != place[:-1]) | (start_s[1:] != end_s[:-1])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:], [len(person)]]) - 1
    return person[first], place[first], start_s[first], end_s[last]


def stack_days(segs: list[DaySegments]):
    """Concatenate per-day segments of the same subscribers into person-major arrays
    (person, place, start_s, end_s, day index within ``segs``), sorted by person then time.

    Examples
    --------
    >>> from forecast.synth.routine import DaySegments
    >>> one = lambda d: DaySegments(0, np.array([[1, 2]]), np.array([[d, d + 5]]), np.array([[d + 5, d + 9]]),
    ...                             np.array([d]), np.array([d + 9]), np.array([False]))
    >>> stack_days([one(0), one(10)])[2].tolist()
    [0, 5, 10, 15]
    """
    m = segs[0].place.shape[0]
    place = np.stack([s.place for s in segs], axis=1).reshape(-1)
    start = np.stack([s.start_s for s in segs], axis=1).reshape(-1)
    end = np.stack([s.end_s for s in segs], axis=1).reshape(-1)
    k = segs[0].place.shape[1]
    person = np.repeat(np.arange(m, dtype=np.int64) + segs[0].lo, len(segs) * k)
    day = np.tile(np.repeat(np.arange(len(segs)), k), m)
    return person, place, start, end, day


def city_day_minutes(person: np.ndarray, day: np.ndarray, city: np.ndarray, minutes: np.ndarray):
    """Sum minutes by (person, day, city); only positive sums. Returns the three keys and the sums.

    Examples
    --------
    >>> out = city_day_minutes(np.array([1, 1, 1]), np.array([0, 0, 0]), np.array([2, 2, 3]), np.array([5.0, 6.0, 0.0]))
    >>> [a.tolist() for a in out]
    [[1], [0], [2], [11.0]]
    """
    df = pd.DataFrame({"p": person, "d": day, "c": city, "m": minutes})
    g = df[df["m"] > 0].groupby(["p", "d", "c"], sort=True)["m"].sum().reset_index()
    return g["p"].to_numpy(), g["d"].to_numpy(), g["c"].to_numpy(), g["m"].to_numpy(np.float64)


def contact_minutes(case_k: np.ndarray, case_group: np.ndarray, case_s: np.ndarray, case_e: np.ndarray,
                    person: np.ndarray, group: np.ndarray, s: np.ndarray, e: np.ndarray,
                    max_pairs: int = 4_000_000):
    """Shared minutes of every (case, person) pair at the same place, by interval overlap.

    ``group`` is (place, local day) as one int64: segments never cross a local midnight, so only
    segments of one group can overlap. Case segments are sorted by (group, start); for each person
    segment the candidates are the case segments of its group starting before it ends. Person
    segments must be sorted by person; they are taken in batches of about ``max_pairs`` candidate
    pairs (cut between persons) to bound memory.
    Returns (case index, person, shared minutes) summed per pair, only positive, sorted by case, person.

    Examples
    --------
    >>> out = contact_minutes(np.array([0]), np.array([7]), np.array([0]), np.array([3600]),
    ...                       np.array([5, 6, 5]), np.array([7, 7, 8]), np.array([1800, 3600, 0]), np.array([7200, 9000, 100]))
    >>> [a.tolist() for a in out]
    [[0], [5], [30.0]]
    """
    z = np.zeros(0, np.int64)
    if len(case_k) == 0 or len(person) == 0:
        return z, z, np.zeros(0)
    order = np.lexsort((case_s, case_group))
    ck, cg, cs, ce = case_k[order], case_group[order].astype(np.int64), case_s[order], case_e[order]
    base = int(min(cs.min(), s.min()))
    span = 1 << 24  # > seconds from base within the window's days
    ckey = cg * span + (cs - base)
    g = group.astype(np.int64)
    lo = np.searchsorted(ckey, g * span, side="left")
    n_cand = np.searchsorted(ckey, g * span + (e - base), side="left") - lo
    cum = np.cumsum(n_cand)
    if cum[-1] == 0:
        return z, z, np.zeros(0)
    # batch boundaries: roughly every max_pairs candidates, moved to the next change of person
    person_start = np.flatnonzero(np.concatenate([[True], person[1:] != person[:-1]]))
    cuts = np.searchsorted(cum, np.arange(max_pairs, int(cum[-1]), max_pairs))
    at_person = person_start[np.minimum(np.searchsorted(person_start, cuts), len(person_start) - 1)]
    cuts = np.unique(np.concatenate([[0], at_person, [len(person)]]))
    out = [_pairs(ck, cs, ce, person[a:b], s[a:b], e[a:b], lo[a:b], n_cand[a:b])
           for a, b in zip(cuts[:-1], cuts[1:])]
    kk, pp, mm = (np.concatenate(x) for x in zip(*out))
    srt = np.lexsort((pp, kk))  # batches are person-disjoint: no pair repeats across them
    return kk[srt], pp[srt], mm[srt]


def _pairs(ck, cs, ce, person, s, e, lo, n_cand):
    has = np.flatnonzero(n_cand)
    n_c = n_cand[has]
    total = int(n_c.sum())
    if total == 0:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros(0)
    seg_of = np.repeat(has, n_c)
    j = np.arange(total) - np.repeat(np.cumsum(n_c) - n_c - lo[has], n_c)
    overlap = np.minimum(e[seg_of], ce[j]) - np.maximum(s[seg_of], cs[j])
    ok = overlap > 0
    kk, pp, mm = ck[j[ok]], person[seg_of[ok]], overlap[ok]
    if len(kk) == 0:
        return kk.astype(np.int64), pp, mm.astype(np.float64)
    p_lo = int(pp.min())
    width = int(pp.max()) - p_lo + 1
    if np.all(np.diff(person) >= 0) and int(ck.max()) < 32_768:
        # pairs come person-major: a stable radix sort by case gives (case, person) order in O(n)
        srt = np.argsort(kk.astype(np.int16), kind="stable")
        key = kk[srt] * width + (pp[srt] - p_lo)
        first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        uniq, minutes = key[first], np.add.reduceat(mm[srt].astype(np.float64), first) / 60.0
    else:
        uniq, inv = np.unique(kk * width + (pp - p_lo), return_inverse=True)
        minutes = np.bincount(inv, mm, minlength=len(uniq)) / 60.0
    return (uniq // width).astype(np.int64), uniq % width + p_lo, minutes
