"""Read the published snapshot: the API that pages, the JSON API and the bot code against.

:class:`SnapshotStore` opens one snapshot file read-only and immutable (``mode=ro&immutable=1``: no
locks, no journal), one connection per thread and process, and answers every public question with
one or two indexed reads. Every answer is plain JSON-serialisable data (dicts, lists, str, int,
float, None). :mod:`miniapp.snapshot.current` follows the published one.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata
from collections import OrderedDict
from datetime import date as _date
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

from forecast.contacts import MIN_COUNT
from forecast.same_trip import match_trips, parse_trip_query
from forecast.schema import GRADE_LEVELS, GRADE_NAMES_ZH
from forecast.trips import TripInputError
from miniapp.snapshot.files import SnapshotError, file_sha256, open_readonly
from miniapp.snapshot.publish import check_snapshot

log = logging.getLogger(__name__)

GRADE_NAMES_EN = {"slight": "slight", "low": "low", "medium_low": "medium-low", "medium_high": "medium-high",
                  "high": "high", "unknown": "no data"}
GRADE_ZH = {**GRADE_NAMES_ZH, "unknown": "暂无数据"}
SCORE_UNIT_EN = "expected new infections per 100k residents per day, next 7 days"
SCORE_UNIT_ZH = "未来7天每10万居民每日预期新增感染数"
NO_DATA_REASON = {"factor": "no_data", "text_zh": "该小区暂无足够数据，暂不评级。",
                  "text_en": "There is not enough data to grade this community yet.", "contribution": None}
HISTORY_DAYS = 30
MAP_COMMUNITIES = 5000
SEARCH_CANDIDATES = 500
# community() answers cached per store, keyed by (snapshot sha256, id): the snapshot is immutable, so
# an answer never goes stale, and a newly published snapshot is a new store with an empty cache.
# Kept as JSON text (about 3 KB each, so ~50 MB at most per process) and parsed on every hit, so
# each caller gets objects of its own to change.
COMMUNITY_CACHE_ENTRIES = 16384
# Damage to the file under a running process (docs/reliability.md): SQLite's primary result codes that
# mean the file itself is bad or unreadable (IOERR, CORRUPT, CANTOPEN, NOTADB). Such an error, one
# without a code (text that does not decode), or any SQLite error after the file's size/mtime/inode
# changed, makes the store re-hash the file; a checksum that no longer matches marks it damaged. A
# re-hash that found the file intact is not repeated for the same file signature within
# REHASH_INTERVAL_S (a bad query must not cost a full hash each time).
FILE_ERROR_CODES = frozenset({10, 11, 14, 26})
REHASH_INTERVAL_S = 10.0
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NOT_LATIN = re.compile(r"[^0-9a-z]+")


def _grade_fields(grade: str | None) -> dict:
    g = grade if grade in GRADE_LEVELS else "unknown"
    return {"grade": g, "grade_zh": GRADE_ZH[g], "grade_en": GRADE_NAMES_EN[g]}


def _day(iso: str, offset: int) -> str:
    return (_date.fromisoformat(iso) + timedelta(days=offset)).isoformat()


def _fts_phrase(tokens: list[str]) -> str:
    return '"' + " ".join(t.replace('"', "") for t in tokens) + '"'


def _failover(method):
    """Answer from the store's replacement once its file is found damaged (the query that finds it too).

    An SQLite error that is not damage (the file still matches its checksum) propagates unchanged.
    """
    name = method.__name__

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self.damaged is None:
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.DatabaseError, SnapshotError) as exc:
                if not self._confirm_damage(exc):
                    raise
        return getattr(self._replacement(), name)(*args, **kwargs)

    return guarded


class _LRU:
    """A small thread-safe LRU map.

    Examples
    --------
    >>> c = _LRU(2)
    >>> c.put("a", 1); c.put("b", 2); _ = c.get("a"); c.put("c", 3)
    >>> c.get("b") is None, c.get("a"), len(c)
    (True, 1, 2)
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _latin_key(text: str) -> str:
    from pypinyin import lazy_pinyin

    return _NOT_LATIN.sub("", "".join(lazy_pinyin(text)).lower())


class SnapshotStore:
    """Read-only access to one snapshot file.

    Parameters
    ----------
    path : path-like
        The snapshot file.
    expected_sha256 : str, optional
        The checksum recorded when it was published; the file is refused if it differs.
    full_check : bool
        Run ``PRAGMA integrity_check`` (slow on big files; publish has already run it). Otherwise a
        matching ``expected_sha256`` suffices, and without one ``PRAGMA quick_check`` runs.
    on_damage : callable, optional
        Called with this store once its file is found damaged after opening (an SQLite error
        confirmed by re-hashing, or :meth:`check_file`); returns the store to answer from instead, or
        raises. :class:`~miniapp.snapshot.current.CurrentSnapshot` passes its fallback. Without it a
        damaged store raises :class:`SnapshotError`.

    Raises
    ------
    SnapshotError
        The file is missing, corrupt, of another schema version, or incomplete.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from miniapp.snapshot.write import write_snapshot
    >>> d = tempfile.mkdtemp()
    >>> _ = write_snapshot({"cities": pd.DataFrame({"city_code": [420100], "name": ["武汉"]}),
    ...     "communities": pd.DataFrame({"community_id": [1], "name": ["百步亭"], "city_code": [420100],
    ...                                  "lon": [114.3], "lat": [30.6]}),
    ...     "grades": pd.DataFrame({"community_id": [1], "date": ["2020-02-09"], "score": [0.4],
    ...                             "grade": ["low"]})}, Path(d) / "s.db", {"as_of": "2020-02-10"})
    >>> store = SnapshotStore(Path(d) / "s.db")
    >>> [r["name"] for r in store.search_communities("bbt")]
    ['百步亭']
    >>> store.community(1)["grade_zh"]
    '偏低'
    """

    def __init__(self, path: str | os.PathLike, expected_sha256: str | None = None, *, full_check: bool = False,
                 on_damage: Callable[["SnapshotStore"], "SnapshotStore"] | None = None):
        self.path = Path(path)
        self.on_damage = on_damage
        self.damaged: str | None = None  # why the file is no longer the one checked at opening
        self._check_lock = threading.Lock()
        self._file_signature = self._stat_signature()  # before the hash: a change during the check shows
        self._intact_hashed_at = float("-inf")
        full = True if full_check else (None if expected_sha256 else False)
        self._facts = check_snapshot(self.path, expected_sha256, full=full)
        self._local = threading.local()
        self._community_cache = _LRU(COMMUNITY_CACHE_ENTRIES)
        conn = self._conn()
        self._meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        self._meta["sha256"] = self._facts["sha256"]
        self._meta["snapshot"] = self.path.name
        self._meta.setdefault("tz", "Asia/Shanghai")
        as_of = str(self._meta.get("as_of"))
        self._meta.setdefault("window_start", _day(as_of, -14))
        self._meta.setdefault("window_end", _day(as_of, -1))
        self._grade_date = self._meta.get("grade_date")
        self._starred = {r[0] for r in conn.execute("SELECT city_code FROM city_risk WHERE starred")}
        self._city_rows = {
            r["city_code"]: dict(r)
            for r in conn.execute(
                "SELECT ci.city_code, ci.name, ci.name_en, ci.province, ci.lon, ci.lat, ci.population,"
                " cr.rt, cr.rt_lo, cr.rt_hi, COALESCE(cr.starred, 0) AS starred,"
                " (SELECT COUNT(*) FROM communities c WHERE c.city_code = ci.city_code) AS n_communities"
                " FROM cities ci LEFT JOIN city_risk cr USING (city_code) ORDER BY ci.city_code"
            )
        }
        for row in self._city_rows.values():
            row["starred"] = bool(row["starred"])

    # ---- plumbing ----------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():  # never share a connection across fork
            try:
                conn = open_readonly(self.path)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA mmap_size = 268435456")
            except sqlite3.DatabaseError as exc:
                raise SnapshotError(f"snapshot {self.path.name} cannot be opened: {exc}") from None
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _rows(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        return [dict(r) for r in self._conn().execute(sql, params)]

    def rows(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Rows of one read-only query, for readers in other modules (:mod:`miniapp.snapshot.forecast_series`)."""
        return self._rows(sql, params)

    def _stat_signature(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def check_file(self, rehash: bool = False) -> str | None:
        """Whether the file on disk is still the one checked at opening; cheap unless it changed.

        A ``stat`` (size, mtime, inode) each call; the file is re-hashed only when that changed, or
        when ``rehash`` asks (an SQLite error suggesting damage; not repeated within
        ``REHASH_INTERVAL_S`` after a re-hash found the file intact). A checksum that no longer
        matches, or a file gone, marks the store damaged for good (``damaged`` says why).

        Parameters
        ----------
        rehash : bool
            Re-hash even though size, mtime and inode are unchanged (an in-place write can keep them).

        Returns
        -------
        str or None
            None while the file is intact, else why it is not (also kept in ``damaged``).
        """
        if self.damaged is not None:
            return self.damaged
        with self._check_lock:
            if self.damaged is not None:
                return self.damaged
            signature = self._stat_signature()
            if signature is None:
                self.damaged = "the file is gone or cannot be read"
                return self.damaged
            recent = time.monotonic() - self._intact_hashed_at < REHASH_INTERVAL_S
            if signature == self._file_signature and (not rehash or recent):
                return None
            try:
                sha = file_sha256(self.path)
            except OSError as exc:
                self.damaged = f"the file cannot be read ({exc.strerror or exc})"
                return self.damaged
            if sha != self._facts["sha256"]:
                self.damaged = "its bytes no longer match the sha256 checked when it was opened"
                return self.damaged
            self._file_signature, self._intact_hashed_at = signature, time.monotonic()  # touched, not changed
            return None

    def _confirm_damage(self, exc: Exception) -> bool:
        """An error from a query: is the file damaged? (A stat, and a re-hash when it could be.)"""
        code = getattr(exc, "sqlite_errorcode", None)
        file_error = isinstance(exc, SnapshotError) or code is None or code & 0xFF in FILE_ERROR_CODES
        return self.check_file(rehash=file_error) is not None

    def _replacement(self) -> "SnapshotStore":
        if self.on_damage is None:
            raise SnapshotError(f"snapshot {self.path.name} is damaged: {self.damaged}")
        return self.on_damage(self)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __repr__(self) -> str:
        return f"SnapshotStore({str(self.path)!r})"

    # ---- public API --------------------------------------------------------------------------------
    @_failover
    def meta(self) -> dict:
        """Build facts: as_of, built_at, code_version, params, inputs, sha256, tz, window, grade_date."""
        return json.loads(json.dumps(self._meta))

    @_failover
    def search_communities(self, query: str, limit: int = 10) -> list[dict]:
        """Communities whose name matches ``query`` as 汉字 substring, full pinyin or initials (prefix).

        Ranked: exact name/pinyin/initials first, then prefixes of the whole name, then matches
        inside the name; ties by population.
        """
        q = unicodedata.normalize("NFKC", str(query or "")).strip().lower()[:64]
        limit = max(1, min(int(limit), 50))
        if not q:
            return []
        han = _HAN.findall(q)
        latin = _latin_key(q)
        matches: list[str] = []
        if han:
            tokens = re.findall(f"{_HAN.pattern}|[0-9a-z]+", q)
            matches.append(f"chars : {_fts_phrase(tokens)}")
        if latin:
            matches.append(f'head : "{latin}"*')
            matches.append(f'tail : "{latin}"*')
        if not matches:
            return []
        ids: list[int] = []
        seen: set[int] = set()
        conn = self._conn()
        for m in matches:
            for (rowid,) in conn.execute(
                "SELECT rowid FROM communities_fts WHERE communities_fts MATCH ? LIMIT ?", (m, SEARCH_CANDIDATES)
            ):
                if rowid not in seen:
                    seen.add(rowid)
                    ids.append(rowid)
            if len(ids) >= SEARCH_CANDIDATES or (han and ids):  # a 汉字 hit beats a homophone
                break
        if not ids:
            return []
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._rows(
            "SELECT c.community_id, c.name, c.city_code, ci.name AS city_name, ci.name_en AS city_name_en,"
            " c.district, c.grade, c.score FROM communities c LEFT JOIN cities ci USING (city_code)"
            " WHERE c.community_id IN (SELECT value FROM json_each(:ids))"
            " ORDER BY CASE WHEN c.name = :q OR c.pinyin = :lat OR c.initials = :lat THEN 0"
            "  WHEN c.name LIKE :like ESCAPE '\\' OR (:lat <> '' AND (c.pinyin LIKE :latlike OR c.initials LIKE :latlike))"
            "  THEN 1 ELSE 2 END, c.population DESC, c.community_id LIMIT :limit",
            {"ids": json.dumps(ids), "q": q, "lat": latin, "like": like, "latlike": latin + "%", "limit": limit},
        )
        for r in rows:
            r.update(_grade_fields(r["grade"]))
        return rows

    @_failover
    def community(self, community_id: int) -> dict | None:
        """Everything the community page shows, or None for an unknown id."""
        try:
            cid = int(community_id)
        except (TypeError, ValueError):
            return None
        key = (self._facts["sha256"], cid)
        cached = self._community_cache.get(key)
        if cached is None:
            out = self._community(cid)
            if out is None:
                return None
            cached = json.dumps(out, ensure_ascii=False)
            self._community_cache.put(key, cached)
        return json.loads(cached)

    def _community(self, cid: int) -> dict | None:
        rows = self._rows(
            "SELECT c.community_id, c.name, c.city_code, ci.name AS city_name, ci.name_en AS city_name_en,"
            " ci.province, c.district, c.lon, c.lat, c.population FROM communities c"
            " LEFT JOIN cities ci USING (city_code) WHERE c.community_id = ?", (cid,))
        if not rows:
            return None
        out = rows[0]
        out["city"] = out["city_name"]
        gd = self._grade_date
        g = self._rows("SELECT score, grade, lo, hi, trend, reasons FROM grades WHERE community_id = ? AND date = ?",
                       (cid, gd))
        if g:
            g = g[0]
            out.update(_grade_fields(g["grade"]))
            out["score"] = g["score"]
            out["interval"] = [g["lo"], g["hi"]] if g["lo"] is not None and g["hi"] is not None else None
            out["trend"] = g["trend"] if g["trend"] in ("up", "flat", "down") else "flat"
            try:
                out["reasons"] = json.loads(g["reasons"]) if g["reasons"] else []
            except ValueError:
                out["reasons"] = []
        else:
            out.update(_grade_fields(None))
            out.update(score=None, interval=None, trend="flat", reasons=[dict(NO_DATA_REASON)])
        out["score_unit"], out["score_unit_zh"] = SCORE_UNIT_EN, SCORE_UNIT_ZH
        out["history"] = []
        if gd:
            out["history"] = self._rows(
                "SELECT date, score, grade FROM grades WHERE community_id = ? AND date > ? AND date <= ? ORDER BY date",
                (cid, _day(gd, -HISTORY_DAYS), gd))
        out["forecast"] = self._forecast(f"community:{cid}")
        small = self._meta.get("small_count", MIN_COUNT)
        near = self._rows(
            "SELECT place, distance_m, cases, last_date FROM nearby_cases WHERE community_id = ?"
            " ORDER BY distance_m LIMIT 20", (cid,))
        for n in near:
            n["place_name"] = n["place"]
            n["suppressed"] = n["cases"] is None or n["cases"] < small  # a snapshot may hold what it should not
            if n["suppressed"]:
                n["cases"] = None
            n["cases_text"] = f"<{small}" if n["suppressed"] else str(n["cases"])
        out["nearby_cases"] = near
        out["nearest_case_m"] = near[0]["distance_m"] if near else None
        out["city_starred"] = out["city_code"] in self._starred
        out["updated_at"] = self._meta.get("built_at")
        out["as_of"] = self._meta.get("as_of")
        return out

    def _forecast(self, region: str) -> list[dict]:
        return self._rows("SELECT date, q05, q25, q50, q75, q95 FROM forecasts WHERE region = ? ORDER BY date",
                          (region,))

    @_failover
    def city(self, city_code: int) -> dict | None:
        """The city page: R_t with interval, forecast, case history, inflow sources, communities for a map."""
        try:
            code = int(city_code)
        except (TypeError, ValueError):
            return None
        base = self._city_rows.get(code)
        if base is None:
            return None
        out = dict(base)
        out["rt_interval"] = [out["rt_lo"], out["rt_hi"]] if out["rt_lo"] is not None else None
        out["forecast"] = self._forecast(f"city:{code}")
        as_of = str(self._meta.get("as_of"))
        out["history"] = self._rows(
            "SELECT date, confirmed FROM city_cases WHERE city_code = ? AND date >= ? ORDER BY date",
            (code, _day(as_of, -HISTORY_DAYS)))
        inflow = self._rows(
            "SELECT origin AS city_code, SUM(trips) AS trips FROM flows WHERE destination = ? AND date >= ?"
            " AND origin <> destination GROUP BY origin ORDER BY trips DESC LIMIT 10", (code, _day(as_of, -7)))
        total = sum(r["trips"] for r in inflow) or 1
        small = int(self._meta.get("small_count") or MIN_COUNT)
        for r in inflow:
            c = self._city_rows.get(r["city_code"], {})
            r.update(name=c.get("name"), name_en=c.get("name_en"), starred=r["city_code"] in self._starred,
                     share=round(r["trips"] / total, 4))
            # trips are journeys of people: a small count is withheld, its share too (it would tell it)
            r["suppressed"] = r["trips"] < small
            if r["suppressed"]:
                r.update(trips=None, share=None)
            r["trips_text"] = f"<{small}" if r["suppressed"] else f"{r['trips']:,}"
        out["inflow"] = inflow
        out["covered_population"] = int(self._conn().execute(
            "SELECT COALESCE(SUM(population), 0) FROM communities WHERE city_code = ?", (code,)).fetchone()[0])
        comms = self._rows("SELECT community_id, name, lon, lat, grade FROM communities WHERE city_code = ?"
                           " ORDER BY community_id LIMIT ?", (code, MAP_COMMUNITIES))
        counts = {g: 0 for g in (*GRADE_LEVELS, "unknown")}
        for c in comms:
            c.update(_grade_fields(c["grade"]))
            counts[c["grade"]] += 1
        out["communities"] = comms
        out["grade_counts"] = counts
        out["updated_at"] = self._meta.get("built_at")
        return out

    @_failover
    def cities(self) -> list[dict]:
        """All cities: code, names, province, population, rt, starred, number of communities."""
        return [dict(c) for c in self._city_rows.values()]

    @_failover
    def starred_cities(self) -> set[int]:
        """Codes of the cities that now have a community graded medium-high or high."""
        return set(self._starred)

    @_failover
    def itinerary(self, uid: int) -> dict | None:
        """The snapshot's records of one subscriber (by uid), or None when it has none.

        The facts only: the window, the cities with >= 4 h on a day (``starred`` where the city now
        has a community at medium-high or high) and the exposure rows; :func:`miniapp.cards.card_for`
        turns them into a card.
        """
        try:
            uid = int(uid)
        except (TypeError, ValueError):
            return None
        rows = self._rows("SELECT city_code, first_date, last_date, days FROM itineraries WHERE uid = ?"
                          " ORDER BY first_date, city_code", (uid,))
        exposure = self._rows("SELECT last_date, minutes, cases, level FROM exposure WHERE uid = ?", (uid,))
        if not rows and not exposure:
            return None
        cities = []
        for r in rows:
            c = self._city_rows.get(r["city_code"], {})
            cities.append({"city_code": r["city_code"], "name": c.get("name"), "name_en": c.get("name_en"),
                           "starred": r["city_code"] in self._starred, "first_date": r["first_date"],
                           "last_date": r["last_date"], "days": r["days"]})
        return {"window_start": self._meta["window_start"], "window_end": self._meta["window_end"],
                "cities": cities, "exposure": exposure,
                "updated_at": self._meta.get("built_at"), "as_of": self._meta.get("as_of")}

    @_failover
    def same_trip_answer(self, date: str, number: str, car: str | None = None) -> dict:
        """Whether a confirmed case was on train or flight ``number`` on ``date``, in carriage ``car``.

        Query and stored values are compared in the normal form of :mod:`forecast.trips`, so older
        snapshots (numbers and carriages stored as typed: ``G01234``, ``06``) answer the same.

        Parameters
        ----------
        date : str
            ``YYYY-MM-DD``.
        number : str
            A train or flight number in any written form.
        car : str, optional
            The asker's carriage in any written form.

        Returns
        -------
        dict
            :func:`forecast.same_trip.match_trips`: ``outcome`` (``your_carriage``, ``other_carriage``,
            ``no_case``), ``carriage_known``, ``trips``, ``other_carriages``, the normal ``number``.

        Raises
        ------
        TripInputError
            When the date, number or carriage does not read (``field`` names it): no check ran.
        """
        query = parse_trip_query(date, number, car)
        rows = self._rows("SELECT date, mode, number, car, cases FROM trips_of_cases WHERE date = ?", (query.date,))
        return match_trips(rows, query)

    def same_trip(self, date: str, number: str, car: str | None = None) -> list[dict]:
        """Confirmed cases' trips on ``date`` by train or flight ``number`` that may have been in ``car``.

        The rows of :meth:`same_trip_answer` in the asker's carriage or of unknown carriage; ``[]``
        also when the input does not read (a caller that must tell "no case" from "not checked" uses
        :meth:`same_trip_answer`).
        """
        try:
            return self.same_trip_answer(date, number, car)["trips"]
        except TripInputError:
            return []

    def grades(self) -> Iterator[dict]:
        """Current grade of every community, for the CSV download (streamed).

        A long stream: the file is looked at (a ``stat``) before it starts, and a damaged one streams
        from the replacement. Damage met after rows were sent cannot be mended: the stream ends with
        :class:`SnapshotError` (the download is cut short, never mixed from two snapshots).
        """
        if self.damaged is None:
            self.check_file()
        if self.damaged is not None:
            yield from self._replacement().grades()
            return
        sent = 0
        try:
            for row in self._grades():
                yield row
                sent += 1
            return
        except (sqlite3.DatabaseError, SnapshotError) as exc:
            if not self._confirm_damage(exc):
                raise
        replacement = self._replacement()
        if sent:
            raise SnapshotError(f"snapshot {self.path.name} was found damaged after {sent} grade rows were sent")
        yield from replacement.grades()

    def _grades(self) -> Iterator[dict]:
        cur = self._conn().execute(
            "SELECT c.community_id, c.name, c.city_code, ci.name AS city_name, c.district, g.date,"
            " g.grade, g.score, g.lo, g.hi, g.trend FROM communities c LEFT JOIN cities ci USING (city_code)"
            " LEFT JOIN grades g ON g.community_id = c.community_id AND g.date = ?"
            " ORDER BY c.city_code, c.community_id", (self._grade_date,))
        for r in cur:
            row = dict(r)
            row.update(_grade_fields(row["grade"]))
            yield row

    @_failover
    def methods_figures(self) -> dict:
        """Backtest and calibration figures stored at build time (may be empty)."""
        figures = self._meta.get("methods_figures")
        return json.loads(json.dumps(figures)) if isinstance(figures, dict) else {}


