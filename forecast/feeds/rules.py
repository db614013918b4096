"""The rules of each feed: its columns, how each raw column becomes a canonical one, and its keys.

A validator takes the raw frame of a chunk and a :class:`~forecast.feeds.parse.Problems` record and
returns the canonical columns for every row (values of flagged rows are placeholders). Checks run in
column order, so a row's reason is the first problem found. docs/data.md lists the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast import schema
from forecast.feeds.parse import Problems, as_text, parse_date, parse_float, parse_int, parse_text, parse_ts
from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise_codes
from forecast.feeds import places as place_rules

TRIP_MODES = ("train", "flight", "bus", "ship")
CITY_CODE_RANGE = (100000, 999999)


@dataclass(frozen=True)
class Context:
    """What validation may need beyond the rows: the key, the zone, and reference tables."""

    pseudonym_key: bytes | None = None
    tz: str = schema.DEFAULT_TZ
    valid_window: tuple[int, int] | None = None
    cells: pd.DataFrame | None = None
    cities: pd.DataFrame | None = None
    communities: pd.DataFrame | None = None
    cases: pd.DataFrame | None = None

    def key(self, kind: str) -> bytes:
        if self.pseudonym_key is None:
            raise ValueError(f"{kind}: a pseudonym_key is needed to read phone numbers (set RISKCARD_PSEUDONYM_KEY)")
        return self.pseudonym_key


@dataclass(frozen=True)
class FeedSpec:
    kind: str
    required: tuple[str, ...]
    canonical: dict[str, str]
    validate: Callable[[pd.DataFrame, Problems, Context], dict[str, np.ndarray]]
    sort_by: tuple[str, ...]
    key: tuple[str, ...] = ()  # unique key; a second row with the same key is 'duplicate_key'
    optional: tuple[str, ...] = field(default=())
    has_msisdn: bool = False
    # optional columns kept in the canonical table when the feed has them (name -> dtype)
    optional_canonical: dict[str, str] = field(default_factory=dict)


def _msisdn(raw: pd.DataFrame, p: Problems, ctx: Context, kind: str, *, with_rank: bool = False):
    """uid per row (0 where flagged); with ``with_rank`` also each row's rank among the distinct uids
    (equal uids, equal rank), the ping sort's first key, from the distinct numbers rather than by
    hashing every row again."""
    col = raw["msisdn"]
    # Text columns go straight in (stripped per distinct value); other types become text first.
    text = col if pd.api.types.is_string_dtype(col.dtype) and col.dtype != object else as_text(col)
    codes, uid_u, err_u = pseudonymise_codes(text, ctx.key(kind))
    p.flag((err_u == "empty")[codes], "missing_value", "msisdn: empty")
    p.flag((err_u != "")[codes], "bad_msisdn", "msisdn: not a valid phone number")
    if not with_rank:
        return uid_u[codes]
    _, rank_u = np.unique(uid_u, return_inverse=True)
    return uid_u[codes], rank_u.astype(np.int64)[codes]


def _known(values: np.ndarray, ref: pd.DataFrame | None, column: str) -> np.ndarray:
    """True where ``values`` occur in ``ref[column]`` (all True without a reference)."""
    if ref is None:
        return np.ones(len(values), dtype=bool)
    return pd.Index(pd.unique(ref[column].to_numpy())).get_indexer(values) >= 0


def _city_code(raw: pd.DataFrame, p: Problems, ctx: Context) -> np.ndarray:
    code = parse_int(raw["city_code"], "city_code", p)
    lo, hi = CITY_CODE_RANGE
    p.flag((code < lo) | (code > hi), "out_of_range", "city_code: not a 6-digit code")
    p.flag(~_known(code, ctx.cities, "city_code"), "unknown_city", "city_code: not in the cities feed")
    return code


def _count(raw: pd.DataFrame, column: str, p: Problems) -> np.ndarray:
    v = parse_int(raw[column], column, p)
    p.flag(v < 0, "negative_count", f"{column}: negative")
    return v


def _lon_lat(raw: pd.DataFrame, p: Problems) -> dict[str, np.ndarray]:
    return {
        "lon": parse_float(raw["lon"], "lon", p, lo=-180.0, hi=180.0),
        "lat": parse_float(raw["lat"], "lat", p, lo=-90.0, hi=90.0),
    }


def _pings(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    uid, uid_rank = _msisdn(raw, p, ctx, "pings", with_rank=True)
    ts_s = parse_ts(raw["ts"], "ts", p, tz=ctx.tz, window_s=ctx.valid_window)
    cell_id = parse_int(raw["cell_id"], "cell_id", p)
    p.flag(~_known(cell_id, ctx.cells, "cell_id"), "unknown_cell", "cell_id: not in the cells feed")
    return {"uid": uid, "ts_s": ts_s, "cell_id": cell_id, "_uid_rank": uid_rank}


def _cells(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    out = {"cell_id": parse_int(raw["cell_id"], "cell_id", p)}
    out.update(_lon_lat(raw, p))
    out["city_code"] = _city_code(raw, p, ctx)
    out["community_id"] = parse_int(raw["community_id"], "community_id", p)
    p.flag(
        ~_known(out["community_id"], ctx.communities, "community_id"),
        "unknown_community",
        "community_id: not in the communities feed",
    )
    if "site_id" in raw:  # the mast of each cell, where the carrier gives it (forecast.stays.sites)
        out["site_id"] = parse_int(raw["site_id"], "site_id", p)
    return out


def _communities(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    out = {
        "community_id": parse_int(raw["community_id"], "community_id", p),
        "name": parse_text(raw["name"], "name", p),
        "city_code": _city_code(raw, p, ctx),
        "district": parse_text(raw["district"], "district", p, required=False),
    }
    out.update(_lon_lat(raw, p))
    out["population"] = _count(raw, "population", p)
    return out


def _cities(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    code = parse_int(raw["city_code"], "city_code", p)
    lo, hi = CITY_CODE_RANGE
    p.flag((code < lo) | (code > hi), "out_of_range", "city_code: not a 6-digit code")
    out = {
        "city_code": code,
        "name": parse_text(raw["name"], "name", p),
        "name_en": parse_text(raw["name_en"], "name_en", p, required=False)
        if "name_en" in raw
        else np.full(len(raw), "", dtype=object),
        "province": parse_text(raw["province"], "province", p, required=False),
    }
    out.update(_lon_lat(raw, p))
    out["population"] = _count(raw, "population", p)
    return out


def _cases(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    out = {
        "case_id": parse_text(raw["case_id"], "case_id", p),
        "confirmed_date": parse_date(raw["confirmed_date"], "confirmed_date", p, tz=ctx.tz),
        "city_code": _city_code(raw, p, ctx),
        "community_id": parse_int(raw["community_id"], "community_id", p),
    }
    p.flag(
        ~_known(out["community_id"], ctx.communities, "community_id"),
        "unknown_community",
        "community_id: not in the communities feed",
    )
    out["uid"] = _msisdn(raw, p, ctx, "cases")
    return out


def _case_trips(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    case_id = parse_text(raw["case_id"], "case_id", p)
    p.flag(~_known(case_id, ctx.cases, "case_id"), "unknown_case", "case_id: not in the cases feed")
    date = parse_date(raw["date"], "date", p, tz=ctx.tz)
    mode = as_text(raw["mode"]).str.lower()
    p.flag((mode == "").to_numpy(dtype=bool), "missing_value", "mode: empty")
    p.flag(~mode.isin(TRIP_MODES).to_numpy(dtype=bool), "bad_value", f"mode: not one of {', '.join(TRIP_MODES)}")
    number = as_text(raw["number"]).str.upper().str.replace(r"\s+", "", regex=True)
    p.flag((number == "").to_numpy(dtype=bool), "missing_value", "number: empty")
    car = parse_text(raw["car"], "car", p, required=False)
    return {
        "case_id": case_id,
        "date": date,
        "mode": mode.to_numpy(dtype=object),
        "number": number.to_numpy(dtype=object),
        "car": car,
    }


def _city_cases(raw: pd.DataFrame, p: Problems, ctx: Context) -> dict[str, np.ndarray]:
    return {
        "date": parse_date(raw["date"], "date", p, tz=ctx.tz),
        "city_code": _city_code(raw, p, ctx),
        "confirmed": _count(raw, "confirmed", p),
    }


def _spec(kind, raw_schema, canonical, validate, sort_by, key=(), optional=(), has_msisdn=False,
          optional_canonical=None) -> FeedSpec:
    required = tuple(c for c in raw_schema if c not in optional)
    extra = dict(optional_canonical or {})
    return FeedSpec(kind, required, canonical, validate, sort_by, key, tuple(optional) + tuple(extra), has_msisdn,
                    extra)


SPECS: dict[str, FeedSpec] = {
    s.kind: s
    for s in (
        _spec("cities", schema.CITIES, schema.CITIES, _cities, ("city_code",), ("city_code",), ("name_en",)),
        _spec("communities", schema.COMMUNITIES, schema.COMMUNITIES, _communities, ("community_id",), ("community_id",)),
        _spec("cells", schema.CELLS, schema.CELLS, _cells, ("cell_id",), ("cell_id",),
              optional_canonical=schema.CELLS_OPTIONAL),
        _spec("pings", schema.RAW_PINGS, schema.PINGS, _pings, ("uid", "ts_s", "cell_id"), has_msisdn=True),
        _spec("cases", schema.RAW_CASES, schema.CASES, _cases, ("confirmed_date", "case_id"), ("case_id",), has_msisdn=True),
        _spec("case_trips", schema.CASE_TRIPS, schema.TRIPS, _case_trips, ("case_id", "date", "mode", "number", "car")),
        _spec("city_cases", schema.CITY_CASES, schema.CITY_SERIES, _city_cases, ("city_code", "date"), ("date", "city_code")),
        _spec("case_places", place_rules.RAW_CASE_PLACES, place_rules.CASE_PLACES, place_rules.validate_case_places,
              ("city_code", "place_id"), ("place_id",), place_rules.OPTIONAL_CASE_PLACES),
        _spec("clinics", place_rules.RAW_CLINICS, place_rules.CLINICS, place_rules.validate_clinics,
              ("city_code", "clinic_id"), ("clinic_id",), place_rules.OPTIONAL_CLINICS),
    )
}
# Reference feeds come first: later feeds are checked against them.
FEED_ORDER = tuple(SPECS)

_CN_MOBILE_IN_TEXT = r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)"


def _mask_one(text: str) -> str:
    try:
        return mask_msisdn(normalise_msisdn(text))
    except PhoneNumberError:
        return "***"


def mask_msisdn_column(s: pd.Series) -> np.ndarray:
    """Masked form of each raw number (``'***'`` if not a number); each distinct value once.

    Examples
    --------
    >>> example = ["13800138000", "x", None]
    >>> mask_msisdn_column(pd.Series(example)).tolist()
    ['138****8000', '***', '***']
    """
    codes, uniques = pd.factorize(as_text(s))
    masked = np.array([_mask_one(str(u)) for u in uniques] + ["***"], dtype=object)
    return masked[np.where(codes < 0, len(uniques), codes)]


def quarantine_rows(raw: pd.DataFrame, spec: FeedSpec) -> pd.DataFrame:
    """Rows as delivered, as text; phone numbers masked wherever they appear."""
    out = {}
    for col in spec.required + spec.optional:
        if col not in raw:
            continue
        if col == "msisdn":
            out[col] = mask_msisdn_column(raw[col])
        else:
            out[col] = as_text(raw[col]).str.replace(_CN_MOBILE_IN_TEXT, "***", regex=True).to_numpy(dtype=object)
    return pd.DataFrame(out, index=raw.index)
