"""Snapshot schema: table definitions and numbered migrations.

A snapshot is one SQLite file, written once by :func:`miniapp.snapshot.write_snapshot` and then only
read. Its format is versioned with ``PRAGMA user_version``: every migration is a function
``m<NNN>_<what>(conn)`` listed in :data:`MIGRATIONS` in order, and :func:`migrate` applies the ones a
file has not seen yet. A new file gets all of them; a file written at an older version is brought up
to date without losing rows (the migrations only add tables, columns and indexes).

Privacy: people appear only as ``uid`` (the int64 keyed pseudonym of :mod:`forecast.phones`) in
``itineraries`` and ``exposure``. No table has a column for a phone number.

Dates are ISO text ``YYYY-MM-DD`` (local calendar days); times are ISO 8601 text with an offset.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

# Columns of every table as the writer expects them in its input data frames: name -> SQLite type.
# Columns marked optional in OPTIONAL_COLUMNS may be missing from the input (filled with NULL).
TABLES: dict[str, dict[str, str]] = {
    "meta": {"key": "TEXT", "value": "TEXT"},
    "cities": {
        "city_code": "INTEGER",
        "name": "TEXT",
        "name_en": "TEXT",
        "province": "TEXT",
        "lon": "REAL",
        "lat": "REAL",
        "population": "INTEGER",
    },
    "communities": {
        "community_id": "INTEGER",
        "name": "TEXT",
        "city_code": "INTEGER",
        "district": "TEXT",
        "lon": "REAL",
        "lat": "REAL",
        "population": "INTEGER",
    },
    # One row per community and graded day; the row at the snapshot's grade_date is the current one.
    "grades": {
        "community_id": "INTEGER",
        "date": "TEXT",
        "score": "REAL",  # expected new infections per 100k residents per day, next 7 days
        "grade": "TEXT",  # forecast.schema.GRADE_LEVELS
        "lo": "REAL",
        "hi": "REAL",
        "trend": "TEXT",  # up | flat | down
        "reasons": "TEXT",  # JSON list of {factor, text_zh, text_en, contribution}
    },
    # region is "city:<city_code>", "community:<community_id>" or "nation".
    "forecasts": {
        "region": "TEXT",
        "date": "TEXT",
        "q05": "REAL",
        "q25": "REAL",
        "q50": "REAL",
        "q75": "REAL",
        "q95": "REAL",
    },
    "city_risk": {"city_code": "INTEGER", "rt": "REAL", "rt_lo": "REAL", "rt_hi": "REAL", "starred": "INTEGER"},
    # Daily new confirmed cases of a city (the reported series the forecast is fitted to).
    "city_cases": {"city_code": "INTEGER", "date": "TEXT", "confirmed": "INTEGER"},
    "itineraries": {
        "uid": "INTEGER",
        "city_code": "INTEGER",
        "first_date": "TEXT",
        "last_date": "TEXT",
        "days": "INTEGER",
    },
    # level: "companion" (shared time >= the 60-min rule) or "possible" (estimated 40-60 min, within
    # the measurement error of sparse pings; docs/contacts.md "Search threshold"). Added by m006.
    "exposure": {"uid": "INTEGER", "last_date": "TEXT", "minutes": "REAL", "cases": "INTEGER", "level": "TEXT"},
    "nearby_cases": {
        "community_id": "INTEGER",
        "place": "TEXT",  # a place name or a grid label such as "grid 500 m 114.301,30.612"
        "distance_m": "REAL",
        "cases": "INTEGER",
        "last_date": "TEXT",
    },
    "flows": {"date": "TEXT", "origin": "INTEGER", "destination": "INTEGER", "trips": "INTEGER"},
    "trips_of_cases": {"date": "TEXT", "mode": "TEXT", "number": "TEXT", "car": "TEXT", "cases": "INTEGER"},
    # Per city and day (m007; docs/forecast.md "Served"): target is confirmed_daily, close_contacts_daily
    # (30-day forecast), rt, growth_rate_per_day, doubling_time_days (estimated from the reported series).
    "forecast_series": {"city_code": "INTEGER", "target": "TEXT", "date": "TEXT", "q025": "REAL", "q25": "REAL",
                        "q50": "REAL", "q75": "REAL", "q975": "REAL"},
    # Travellers from the epidemic origin city arriving per day (outflow) and residents who went there and
    # came back (round_trips, by day of departure; stays >= 2 h at both ends); NULL below small_count (m007).
    "city_mobility": {"city_code": "INTEGER", "date": "TEXT", "origin_city_code": "INTEGER", "outflow": "INTEGER",
                      "round_trips": "INTEGER"},
    # The authority's published case places and the fever clinics / testing sites (m008; docs/places.md).
    # Coordinates WGS-84; dates ISO text; hours as in the clinics feed ('' = unknown).
    "case_places": {"place_id": "TEXT", "name": "TEXT", "address": "TEXT", "city_code": "INTEGER", "lon": "REAL",
                    "lat": "REAL", "first_date": "TEXT", "last_date": "TEXT", "what": "TEXT"},
    "clinics": {"clinic_id": "TEXT", "name": "TEXT", "address": "TEXT", "city_code": "INTEGER", "lon": "REAL",
                "lat": "REAL", "kind": "TEXT", "hours": "TEXT", "phone": "TEXT"},
}

# Tables that must have rows for a snapshot to be publishable.
REQUIRED_NONEMPTY = ("meta", "cities", "communities", "grades")

OPTIONAL_COLUMNS: dict[str, set[str]] = {
    "cities": {"name_en", "province", "lon", "lat", "population"},
    "communities": {"district", "population"},
    "grades": {"lo", "hi", "trend", "reasons"},
    "city_risk": {"rt_lo", "rt_hi"},
    "forecasts": {"q05", "q25", "q75", "q95"},
    "nearby_cases": {"last_date"},
    "trips_of_cases": {"car"},
    "exposure": {"level"},  # missing or empty -> "companion" (the writer fills it)
    "forecast_series": {"q025", "q25", "q75", "q975"},
    "city_mobility": {"outflow", "round_trips"},
    "case_places": {"address", "what"},
    "clinics": {"address", "hours", "phone"},
}

EXPOSURE_LEVELS = ("companion", "possible")

# Columns the writer derives itself (not expected in the input data frames).
DERIVED_COLUMNS: dict[str, dict[str, str]] = {
    "communities": {
        "pinyin": "TEXT",  # full pinyin, no spaces: 百步亭 -> baibuting
        "initials": "TEXT",  # first letters: bbt
        "grade": "TEXT",  # current grade, denormalised so a search is one read
        "score": "REAL",
    },
}

_PK = {
    "meta": "key",
    "cities": "city_code",
    "communities": "community_id",
    "grades": "community_id, date",
    "forecasts": "region, date",
    "city_risk": "city_code",
    "city_cases": "city_code, date",
}


def _create(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> None:
    cols = ", ".join(f"[{c}] {t}" for c, t in columns.items())
    pk = f", PRIMARY KEY ({_PK[table]})" if table in _PK else ""
    without_rowid = " WITHOUT ROWID" if table in ("grades", "forecasts", "meta", "city_cases") else ""
    conn.execute(f"CREATE TABLE IF NOT EXISTS [{table}] ({cols}{pk}){without_rowid}")


# ---- migrations ------------------------------------------------------------------------------------
# Each takes an open connection inside a transaction and must only add things.


def m001_core(conn: sqlite3.Connection) -> None:
    """Core tables: meta, places, grades, forecasts, city risk, itineraries, flows."""
    for table in ("meta", "cities", "communities", "grades", "forecasts", "city_risk", "itineraries", "flows"):
        _create(conn, table, TABLES[table])


def m002_search(conn: sqlite3.Connection) -> None:
    """Community search: pinyin columns, the current grade on the community row, and an FTS5 index.

    ``communities_fts`` is contentless (rowid = community_id) with three columns: ``chars`` (the
    name's characters, one token each, so a 汉字 substring is a phrase), ``head`` (full pinyin and
    initials of the whole name) and ``tail`` (the same for every suffix that starts at a syllable).
    """
    have = {r[1] for r in conn.execute("PRAGMA table_info(communities)")}
    for col, typ in DERIVED_COLUMNS["communities"].items():
        if col not in have:
            conn.execute(f"ALTER TABLE communities ADD COLUMN [{col}] {typ}")
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS communities_fts USING fts5("
        "chars, head, tail, content='', tokenize='unicode61 remove_diacritics 2')"
    )


def m003_people_and_cases(conn: sqlite3.Connection) -> None:
    """Exposure of companions, aggregated nearby case places, and the trips of confirmed cases."""
    for table in ("exposure", "nearby_cases", "trips_of_cases"):
        # exposure as it was at version 3: the columns later migrations add are theirs to add
        columns = {c: t for c, t in TABLES[table].items() if (table, c) not in _ADDED_LATER}
        _create(conn, table, columns)


def m004_indexes(conn: sqlite3.Connection) -> None:
    """Indexes for the store's reads (created after the bulk insert by the writer)."""
    for sql in INDEXES:
        conn.execute(sql)


def m005_city_cases(conn: sqlite3.Connection) -> None:
    """The daily case series of each city, for the city page's chart."""
    _create(conn, "city_cases", TABLES["city_cases"])


def m006_exposure_level(conn: sqlite3.Connection) -> None:
    """``exposure.level``: ``companion`` (the 60-min rule) or ``possible`` (estimated 40-60 min).

    Rows of an older file were all companions, so they get the default ``companion``.
    """
    have = {r[1] for r in conn.execute("PRAGMA table_info(exposure)")}
    if "level" not in have:
        levels = ", ".join(f"'{v}'" for v in EXPOSURE_LEVELS)
        conn.execute(f"ALTER TABLE exposure ADD COLUMN level TEXT NOT NULL DEFAULT 'companion' CHECK (level IN ({levels}))")


def m007_forecast_series(conn: sqlite3.Connection) -> None:
    """30-day forecast series, R_t / growth / doubling time per city and day, and the origin's outflow."""
    for table in ("forecast_series", "city_mobility"):
        _create(conn, table, TABLES[table])
    conn.execute("CREATE INDEX IF NOT EXISTS idx_forecast_series_city ON forecast_series(city_code, target, date)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_city_mobility_city ON city_mobility(city_code, date)")


def m008_places(conn: sqlite3.Connection) -> None:
    """Published case places and fever clinics / testing sites, with their city indexes (docs/places.md)."""
    for table in ("case_places", "clinics"):
        _create(conn, table, TABLES[table])
    conn.execute("CREATE INDEX IF NOT EXISTS idx_case_places_city ON case_places(city_code)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_clinics_city ON clinics(city_code)")


# (table, column) pairs added by a migration after the table's own: not created with the table.
_ADDED_LATER = {("exposure", "level")}

INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_communities_city ON communities(city_code)",
    "CREATE INDEX IF NOT EXISTS idx_grades_date ON grades(date, community_id)",
    "CREATE INDEX IF NOT EXISTS idx_itineraries_uid ON itineraries(uid)",
    "CREATE INDEX IF NOT EXISTS idx_exposure_uid ON exposure(uid)",
    "CREATE INDEX IF NOT EXISTS idx_nearby_community ON nearby_cases(community_id, distance_m)",
    "CREATE INDEX IF NOT EXISTS idx_flows_destination ON flows(destination, date)",
    "CREATE INDEX IF NOT EXISTS idx_trips_number ON trips_of_cases(number, date)",
)

MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    m001_core,
    m002_search,
    m003_people_and_cases,
    m004_indexes,
    m005_city_cases,
    m006_exposure_level,
    m007_forecast_series,
    m008_places,
)
LATEST_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new file).

    Examples
    --------
    >>> user_version(sqlite3.connect(":memory:"))
    0
    """
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION, *, indexes: bool = True) -> int:
    """Apply the migrations the file has not seen, up to ``target``; return the new version.

    Each migration runs in its own transaction together with the ``user_version`` bump, so a crash
    leaves the file at a consistent version. ``indexes=False`` defers :func:`m004_indexes` (the
    writer creates indexes after its bulk insert, which is much faster) but still records it.

    Examples
    --------
    >>> conn = sqlite3.connect(":memory:")
    >>> migrate(conn, 1)
    1
    >>> migrate(conn) == LATEST_VERSION
    True
    >>> "communities_fts" in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    True
    """
    if not 0 <= target <= LATEST_VERSION:
        raise ValueError(f"schema version must be between 0 and {LATEST_VERSION}")
    version = user_version(conn)
    if version > LATEST_VERSION:
        raise ValueError(f"snapshot schema version {version} is newer than this code ({LATEST_VERSION})")
    if conn.in_transaction:
        conn.commit()
    saved, conn.isolation_level = conn.isolation_level, None  # explicit transactions below
    try:
        for number in range(version + 1, target + 1):
            step = MIGRATIONS[number - 1]
            conn.execute("BEGIN")
            try:
                if indexes or step is not m004_indexes:
                    step(conn)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    finally:
        conn.isolation_level = saved
    return user_version(conn)
