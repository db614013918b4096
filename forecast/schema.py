"""Column contracts shared by every step of the engine.

Each table is a mapping of column name to pandas dtype. Raw feeds (what the carrier and the health
authority deliver) are validated by :mod:`forecast.feeds` into the *canonical* tables below; every
other step of the engine takes and returns canonical tables only.

Conventions
-----------
* Times are Unix seconds in UTC, int64, in columns ending ``_s`` (``ts_s``, ``start_s``). Local
  calendar days are ``datetime64[s]`` midnight values in columns named ``local_date`` and are computed
  with an explicit IANA time zone (``Asia/Shanghai`` by default).
* Durations carry their unit: ``minutes``, ``window_days``.
* A subscriber is ``uid`` (int64): the first 8 bytes of HMAC-SHA256(key, E.164 number), read as a
  signed big-endian integer. Its text form, the *pseudonym*, is the same 8 bytes as 16 lowercase hex
  characters (:func:`forecast.phones.uid_to_pseudonym`). No raw number passes ingest.
* ``city_code`` is the 6-digit Chinese administrative code (int64), ``community_id`` and ``cell_id``
  are int64.
"""

from __future__ import annotations

DEFAULT_TZ = "Asia/Shanghai"

# ---- raw feeds, as delivered (docs/data.md) -------------------------------------------------------
RAW_PINGS = {"msisdn": "string", "ts": "string", "cell_id": "int64"}
CELLS = {
    "cell_id": "int64",
    "lon": "float64",
    "lat": "float64",
    "city_code": "int64",
    "community_id": "int64",
}
CELLS_OPTIONAL = {"site_id": "int64"}  # the mast of each cell, where the carrier's table has it
COMMUNITIES = {
    "community_id": "int64",
    "name": "string",
    "city_code": "int64",
    "district": "string",
    "lon": "float64",
    "lat": "float64",
    "population": "int64",
}
CITIES = {
    "city_code": "int64",
    "name": "string",
    "name_en": "string",
    "province": "string",
    "lon": "float64",
    "lat": "float64",
    "population": "int64",
}
RAW_CASES = {
    "case_id": "string",
    "confirmed_date": "string",
    "city_code": "int64",
    "community_id": "int64",
    "msisdn": "string",
}
CASE_TRIPS = {
    "case_id": "string",
    "date": "string",
    "mode": "string",  # train | flight | bus | ship
    "number": "string",  # G1234, CA1234 ...
    "car": "string",  # carriage / seat block, may be empty
}
CITY_CASES = {"date": "string", "city_code": "int64", "confirmed": "int64"}  # cumulative

# ---- canonical tables (after ingest) --------------------------------------------------------------
PINGS = {"uid": "int64", "ts_s": "int64", "cell_id": "int64"}
CASES = {
    "case_id": "string",
    "confirmed_date": "datetime64[s]",
    "city_code": "int64",
    "community_id": "int64",
    "uid": "int64",
}
# Journeys of cases (same-trip search): date is the local travel day; mode lower case, number upper case.
TRIPS = {
    "case_id": "string",
    "date": "datetime64[s]",
    "mode": "string",
    "number": "string",
    "car": "string",
}
# Cumulative confirmed cases per city and local day (as reported; may decrease after corrections).
CITY_SERIES = {"date": "datetime64[s]", "city_code": "int64", "confirmed": "int64"}
# A stay: the subscriber remained within radius_m (or one cell) for >= min_stay_minutes.
# lon/lat is the stay's centre; city_code is the city where most of the stay's time was spent
# (so a tower across a border cannot flip a stay); cell_id is its dominant cell.
STAYS = {
    "uid": "int64",
    "start_s": "int64",
    "end_s": "int64",
    "cell_id": "int64",
    "lon": "float64",
    "lat": "float64",
    "city_code": "int64",
    "community_id": "int64",
    "n_pings": "int64",
}
# Minutes a subscriber spent in a city on a local day (only rows with minutes > 0).
CITY_DAYS = {"uid": "int64", "local_date": "datetime64[s]", "city_code": "int64", "minutes": "float64"}
# One row per (uid, city) visited in the 14-day window ending the day before the query date.
ITINERARY = {
    "uid": "int64",
    "city_code": "int64",
    "first_date": "datetime64[s]",
    "last_date": "datetime64[s]",
    "days": "int64",
}
# Daily trips between cities, >= 2 h stay at both ends.
FLOWS = {"local_date": "datetime64[s]", "origin": "int64", "destination": "int64", "trips": "int64"}
# Companions of cases: shared minutes at the same place within the case's window.
COMPANIONS = {
    "case_id": "string",
    "uid": "int64",
    "shared_minutes": "float64",
    "n_places": "int64",
    "first_s": "int64",
    "last_s": "int64",
}

# ---- ground truth written by the synthetic generator ----------------------------------------------
TRUE_STAYS = {
    "uid": "int64",
    "start_s": "int64",
    "end_s": "int64",
    "place_id": "int64",
    "community_id": "int64",
    "city_code": "int64",
}
TRUE_CITY_DAYS = CITY_DAYS
TRUE_CONTACTS = {"case_id": "string", "uid": "int64", "shared_minutes": "float64"}
TRUE_INFECTIONS = {
    "uid": "int64",
    "infected_date": "datetime64[s]",
    "confirmed_date": "datetime64[s]",  # NaT when never confirmed
    "community_id": "int64",  # home community (where the person lives, not where infected)
    "city_code": "int64",  # home city
    "infectious_date": "datetime64[s]",  # first infectious day (latent before)
    "imported": "bool",  # a seed infection from outside, not by co-location
}

GRADE_LEVELS = ("slight", "low", "medium_low", "medium_high", "high")
GRADE_NAMES_ZH = {
    "slight": "轻微",
    "low": "偏低",
    "medium_low": "中低",
    "medium_high": "中高",
    "high": "偏高",
}


def empty(table: dict) -> "pandas.DataFrame":  # noqa: F821 - documented return type
    """Return an empty data frame with the columns and dtypes of ``table``.

    Parameters
    ----------
    table : dict
        Column name -> pandas dtype, one of the tables of this module (e.g. ``PINGS``, ``STAYS``).

    Returns
    -------
    pandas.DataFrame
        No rows; the columns of ``table``, in its order, with its dtypes.

    Examples
    --------
    >>> empty(PINGS).dtypes.to_dict()
    {'uid': dtype('int64'), 'ts_s': dtype('int64'), 'cell_id': dtype('int64')}
    """
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in table.items()})
