"""Read the place tables of a snapshot: nearest published case places and nearest open clinics.

The two tables are small (a city publishes hundreds of places, not millions), so each snapshot's are
read once into memory (:func:`places_of`, keyed by the file's sha256: a snapshot never changes) and
every question is a vectorised haversine over them (:mod:`forecast.places`). A position asked about
is used for the answer only: it is never stored, logged or cached. A snapshot without a place feed
says so (``published`` False): pages then say the places were not published, never "none nearby".
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.places import haversine_m, open_states
from miniapp.snapshot.files import open_readonly
from miniapp.snapshot.read import SnapshotStore
from miniapp.snapshot.write import write_snapshot

NEAREST_LIMIT = 5
CASE_PLACE_RADIUS_M = 50_000.0  # farther than this a place is not "near": said so, not listed
CLINIC_RADIUS_M = 50_000.0
_CACHE: dict[str, "PlaceTables"] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class PlaceIndex:
    """One place table ready for questions: its rows as plain dicts and their positions as arrays.

    Built once per snapshot, so that a question is one vectorised haversine and a sort of the places
    in the radius (no data frame per request: a community page asks on every miss of the cache).
    """

    rows: tuple
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def of(cls, df: pd.DataFrame) -> "PlaceIndex":
        rows = tuple({k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                     for r in df.to_dict(orient="records"))
        return cls(rows, df["lon"].to_numpy(dtype=np.float64, copy=True), df["lat"].to_numpy(dtype=np.float64, copy=True))

    def nearest(self, lon: float, lat: float, limit: int, radius_m: float) -> list[dict]:
        """Rows within ``radius_m`` of the point, nearest first (ties in table order), with ``distance_m``
        (the same rule as :func:`forecast.places.nearest_places`); new dicts, the index is not changed."""
        if not self.rows or limit <= 0:
            return []
        d = haversine_m(self.lon, self.lat, lon, lat)
        keep = np.flatnonzero(np.isfinite(d) & (d <= radius_m))
        order = keep[np.argsort(d[keep], kind="stable")][:limit]
        return [{**self.rows[i], "distance_m": float(d[i])} for i in order]


@dataclass(frozen=True)
class PlaceTables:
    """The case places and clinics of one snapshot, as tables and as indexes."""

    case_places: pd.DataFrame
    clinics: pd.DataFrame
    case_index: PlaceIndex
    clinic_index: PlaceIndex


def _read(path) -> PlaceTables:
    conn = open_readonly(path)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        frames = {}
        for table in ("case_places", "clinics"):
            frames[table] = (pd.read_sql_query(f"SELECT * FROM [{table}]", conn) if table in have
                             else pd.DataFrame(columns=["lon", "lat", "city_code"]))
    finally:
        conn.close()
    cases = frames["case_places"].fillna({"address": "", "what": ""}) if len(frames["case_places"]) \
        else frames["case_places"]
    clinics = frames["clinics"].fillna({"address": "", "hours": "", "phone": ""}) if len(frames["clinics"]) \
        else frames["clinics"]
    return PlaceTables(cases, clinics, PlaceIndex.of(cases), PlaceIndex.of(clinics))


def places_of(store) -> PlaceTables:
    """The place tables of ``store``'s snapshot (read once per snapshot file).

    Parameters
    ----------
    store : SnapshotStore
        The served store (its ``path`` and ``meta()["sha256"]`` are used).

    Returns
    -------
    PlaceTables
    """
    sha = str(store.meta()["sha256"])
    found = _CACHE.get(sha)
    if found is None:
        found = _read(store.path)
        with _LOCK:
            if len(_CACHE) > 8:
                _CACHE.clear()
            _CACHE[sha] = found
    return found


def _records(rows: list[dict], columns: list[str]) -> list[dict]:
    return [{**{c: r[c] for c in columns if c in r}, "distance_m": round(r["distance_m"], 1)} for r in rows]


def nearest_case_places(store, lon: float, lat: float, limit: int = NEAREST_LIMIT) -> dict:
    """The published case places nearest to a point.

    Parameters
    ----------
    store : SnapshotStore
    lon, lat : float
        WGS-84 degrees.
    limit : int
        Most places listed.

    Returns
    -------
    dict
        ``published`` (whether the snapshot has a case-places feed at all), ``places`` (nearest
        first: place_id, name, address, city_code, lon, lat, first_date, last_date, what,
        distance_m) within ``radius_m``, and ``radius_m``.

    Examples
    --------
    >>> store = example_store()
    >>> [(p["name"], round(p["distance_m"])) for p in nearest_case_places(store, 114.29, 30.64)["places"]]
    [('超市', 96)]
    """
    index = places_of(store).case_index
    near = index.nearest(float(lon), float(lat), limit, CASE_PLACE_RADIUS_M)
    cols = ["place_id", "name", "address", "city_code", "lon", "lat", "first_date", "last_date", "what"]
    return {"published": bool(index.rows), "radius_m": CASE_PLACE_RADIUS_M, "places": _records(near, cols)}


def nearest_clinics(store, lon: float, lat: float, now: datetime, tz: str, limit: int = NEAREST_LIMIT) -> dict:
    """The clinics and testing sites nearest to a point that are open at ``now``, and those whose hours are unknown.

    Parameters
    ----------
    store : SnapshotStore
    lon, lat : float
        WGS-84 degrees.
    now : datetime
        Timezone-aware instant (the answer's "now").
    tz : str
        The city's IANA zone (hours are local).
    limit : int
        Most clinics in each list.

    Returns
    -------
    dict
        ``published``; ``open`` (nearest open now, with ``hours`` and ``state`` 'open'); ``hours_unknown``
        (nearest whose hours the feed does not give: never called open); ``closed_nearby`` (how many
        of the nearest ``4 * limit`` are closed now); ``now`` (ISO) and ``tz``.

    Examples
    --------
    >>> from datetime import timezone
    >>> out = nearest_clinics(example_store(), 114.29, 30.64, datetime(2020, 2, 10, 4, tzinfo=timezone.utc), "Asia/Shanghai")
    >>> [c["name"] for c in out["open"]], [c["name"] for c in out["hours_unknown"]]
    (['医院'], ['卫生站'])
    """
    index = places_of(store).clinic_index
    near = index.nearest(float(lon), float(lat), 4 * limit, CLINIC_RADIUS_M)
    states = open_states([r.get("hours") or "" for r in near], now, tz) if near else []
    near = [{**r, "state": str(state)} for r, state in zip(near, states)]
    cols = ["clinic_id", "name", "address", "city_code", "lon", "lat", "kind", "hours", "phone", "state"]
    return {
        "published": bool(index.rows),
        "radius_m": CLINIC_RADIUS_M,
        "open": _records([r for r in near if r["state"] == "open"][:limit], cols),
        "hours_unknown": _records([r for r in near if r["state"] == "unknown"][:limit], cols),
        "closed_nearby": sum(r["state"] == "closed" for r in near),
        "now": now.isoformat(timespec="minutes"),
        "tz": tz,
    }


def example_store():
    """A tiny snapshot with one case place and two clinics, for the examples (a temporary file).

    Returns
    -------
    SnapshotStore

    Examples
    --------
    >>> len(places_of(example_store()).clinics)
    2
    """
    path = Path(tempfile.mkdtemp()) / "example.db"
    one = {"city_code": [420100], "lon": [114.3], "lat": [30.6]}
    write_snapshot({
        "cities": pd.DataFrame({**one, "name": ["武汉"]}),
        "communities": pd.DataFrame({**one, "community_id": [1], "name": ["百步亭"]}),
        "grades": pd.DataFrame({"community_id": [1], "date": ["2020-02-09"], "score": [0.4], "grade": ["low"]}),
        "case_places": pd.DataFrame({"place_id": ["p1"], "name": ["超市"], "city_code": [420100], "lon": [114.291],
                                     "lat": [30.64], "first_date": ["2020-02-01"], "last_date": ["2020-02-03"]}),
        "clinics": pd.DataFrame({"clinic_id": ["c1", "c2"], "name": ["医院", "卫生站"], "city_code": [420100] * 2,
                                 "lon": [114.28, 114.29], "lat": [30.63, 30.65], "kind": ["fever_clinic"] * 2,
                                 "hours": ["24h", ""], "phone": ["027-85726114", ""]}),
    }, path, {"as_of": "2020-02-10"})
    return SnapshotStore(path)
