"""The rules of the two place feeds: the authority's case places, and fever clinics / testing sites.

``case_places``: each place the authority published where confirmed cases had been (name, address,
coordinates, the days, what happened). ``clinics``: fever clinics and testing sites with opening
hours and a public phone. Coordinates are WGS-84 unless the optional ``crs`` column says ``gcj02``
(coordinates copied from a Chinese map), in which case they are converted at ingest. A row is
quarantined, with a reason code, when a field does not read, its city is unknown, its days are in the
wrong order, its hours do not read, or any text carries a personal mobile number (``personal_data``:
the writer refuses phone numbers, and a published place must not name a person). docs/places.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.feeds.parse import Problems, as_text, parse_date, parse_float, parse_int, parse_text
from forecast.places import gcj02_to_wgs84, parse_hours

CITY_CODE_RANGE = (100000, 999999)
CLINIC_KINDS = ("fever_clinic", "testing_site")
CRS_NAMES = ("wgs84", "gcj02")
# A mainland mobile number anywhere in a text (landlines and hotlines such as 023-63692000 are fine).
MOBILE_IN_TEXT = r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]){8}(?![0-9])"
_PHONE_CHARS = r"[0-9+()\- /,;转]{3,40}"

RAW_CASE_PLACES = {"place_id": "string", "name": "string", "address": "string", "city_code": "int64",
                   "lon": "float64", "lat": "float64", "first_date": "string", "last_date": "string",
                   "what": "string", "crs": "string"}
CASE_PLACES = {"place_id": "string", "name": "string", "address": "string", "city_code": "int64",
               "lon": "float64", "lat": "float64", "first_date": "datetime64[s]", "last_date": "datetime64[s]",
               "what": "string"}
RAW_CLINICS = {"clinic_id": "string", "name": "string", "address": "string", "city_code": "int64",
               "lon": "float64", "lat": "float64", "kind": "string", "hours": "string", "phone": "string",
               "crs": "string"}
CLINICS = {"clinic_id": "string", "name": "string", "address": "string", "city_code": "int64",
           "lon": "float64", "lat": "float64", "kind": "string", "hours": "string", "phone": "string"}
OPTIONAL_CASE_PLACES = ("address", "what", "crs")
OPTIONAL_CLINICS = ("address", "hours", "phone", "crs")


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    return raw[name] if name in raw else pd.Series([""] * len(raw), index=raw.index, dtype="string")


def _city(raw: pd.DataFrame, p: Problems, cities: pd.DataFrame | None) -> np.ndarray:
    code = parse_int(raw["city_code"], "city_code", p)
    lo, hi = CITY_CODE_RANGE
    p.flag((code < lo) | (code > hi), "out_of_range", "city_code: not a 6-digit code")
    if cities is not None:
        known = pd.Index(pd.unique(cities["city_code"].to_numpy())).get_indexer(code) >= 0
        p.flag(~known, "unknown_city", "city_code: not in the cities feed")
    return code


def _position(raw: pd.DataFrame, p: Problems) -> dict[str, np.ndarray]:
    lon = parse_float(raw["lon"], "lon", p, lo=-180.0, hi=180.0)
    lat = parse_float(raw["lat"], "lat", p, lo=-90.0, hi=90.0)
    crs = as_text(_col(raw, "crs")).str.lower().str.replace("-", "", regex=False)
    crs = crs.where(crs != "", "wgs84")
    p.flag(~crs.isin(CRS_NAMES).to_numpy(dtype=bool), "bad_value", "crs: not wgs84 or gcj02")
    gcj = (crs == "gcj02").to_numpy(dtype=bool)
    if gcj.any():
        w_lon, w_lat = gcj02_to_wgs84(lon[gcj], lat[gcj])
        lon, lat = lon.copy(), lat.copy()
        lon[gcj], lat[gcj] = w_lon, w_lat
    return {"lon": lon, "lat": lat}


def _no_personal_data(values: dict[str, np.ndarray], columns: tuple[str, ...], p: Problems) -> None:
    for c in columns:
        has = pd.Series(values[c], dtype="string").fillna("").str.contains(MOBILE_IN_TEXT, regex=True)
        p.flag(has.to_numpy(dtype=bool), "personal_data", f"{c}: contains a personal mobile number")


def validate_case_places(raw: pd.DataFrame, p: Problems, ctx) -> dict[str, np.ndarray]:
    """Canonical CASE_PLACES columns of a raw chunk (flags on ``p``; ``ctx`` gives tz and cities).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> raw = pd.DataFrame({"place_id": ["a", "b"], "name": ["超市", "站"], "city_code": ["420100", "420100"],
    ...                     "lon": ["114.3", "114.3"], "lat": ["30.6", "30.6"], "first_date": ["2020-01-20"] * 2,
    ...                     "last_date": ["2020-01-22", "2020-01-19"], "what": ["确诊病例曾到访", ""]})
    >>> p = Problems(2)
    >>> out = validate_case_places(raw, p, SimpleNamespace(tz="Asia/Shanghai", cities=None))
    >>> p.reasons().tolist()
    ['', 'bad_value']
    """
    out = {"place_id": parse_text(raw["place_id"], "place_id", p), "name": parse_text(raw["name"], "name", p),
           "address": parse_text(_col(raw, "address"), "address", p, required=False),
           "city_code": _city(raw, p, getattr(ctx, "cities", None))}
    out.update(_position(raw, p))
    out["first_date"] = parse_date(raw["first_date"], "first_date", p, tz=ctx.tz)
    out["last_date"] = parse_date(raw["last_date"], "last_date", p, tz=ctx.tz)
    p.flag(out["last_date"] < out["first_date"], "bad_value", "last_date: before first_date")
    out["what"] = parse_text(_col(raw, "what"), "what", p, required=False)
    _no_personal_data(out, ("name", "address", "what"), p)
    return out


def validate_clinics(raw: pd.DataFrame, p: Problems, ctx) -> dict[str, np.ndarray]:
    """Canonical CLINICS columns of a raw chunk (flags on ``p``; ``ctx`` gives cities).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> raw = pd.DataFrame({"clinic_id": ["a", "b", "c"], "name": ["医院"] * 3, "city_code": ["420100"] * 3,
    ...                     "lon": ["114.3"] * 3, "lat": ["30.6"] * 3, "kind": ["fever_clinic"] * 3,
    ...                     "hours": ["24h", "sometimes", ""], "phone": ["027-85726114", "", "13800138000"]})
    >>> p = Problems(3)
    >>> out = validate_clinics(raw, p, SimpleNamespace(tz="Asia/Shanghai", cities=None))
    >>> p.reasons().tolist()
    ['', 'bad_hours', 'personal_data']
    """
    out = {"clinic_id": parse_text(raw["clinic_id"], "clinic_id", p), "name": parse_text(raw["name"], "name", p),
           "address": parse_text(_col(raw, "address"), "address", p, required=False),
           "city_code": _city(raw, p, getattr(ctx, "cities", None))}
    out.update(_position(raw, p))
    kind = as_text(raw["kind"]).str.lower()
    p.flag((kind == "").to_numpy(dtype=bool), "missing_value", "kind: empty")
    p.flag(~kind.isin(CLINIC_KINDS).to_numpy(dtype=bool), "bad_value", f"kind: not one of {', '.join(CLINIC_KINDS)}")
    out["kind"] = kind.to_numpy(dtype=object)
    hours = parse_text(_col(raw, "hours"), "hours", p, required=False)
    readable = {h: parse_hours(h) is not None for h in set(hours.tolist())}
    p.flag(np.array([not readable[h] for h in hours], dtype=bool), "bad_hours",
           "hours: not 24h or HH:MM-HH:MM ranges (optionally after weekdays)")
    out["hours"] = hours
    phone = parse_text(_col(raw, "phone"), "phone", p, required=False)
    _no_personal_data({"phone": phone}, ("phone",), p)
    ok = pd.Series(phone, dtype="string").str.fullmatch(_PHONE_CHARS) | (pd.Series(phone, dtype="string") == "")
    p.flag(~ok.to_numpy(dtype=bool), "bad_value", "phone: not a phone number")
    out["phone"] = phone
    _no_personal_data(out, ("name", "address"), p)
    return out
