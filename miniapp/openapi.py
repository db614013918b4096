"""The OpenAPI 3 document of /api/v1 (served at /api/v1/openapi.json, fuzzed by schemathesis)."""

from __future__ import annotations

from forecast.same_trip import OUTCOMES
from forecast.trips import CARRIAGE_PATTERN, MAX_CARRIAGE_CHARS, MAX_TRIP_NUMBER_CHARS, MODES, TRIP_NUMBER_PATTERN

GRADES = ["slight", "low", "medium_low", "medium_high", "high", "unknown"]

_error = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": {"type": "integer"}, "message": {"type": "string"}, "message_zh": {"type": "string"}},
        }
    },
}
_community_hit = {
    "type": "object",
    "required": ["community_id", "name", "city_code", "grade"],
    "properties": {
        "community_id": {"type": "integer"},
        "name": {"type": "string"},
        "city_code": {"type": "integer"},
        "city_name": {"type": ["string", "null"]},
        "district": {"type": ["string", "null"]},
        "grade": {"type": "string", "enum": GRADES},
        "grade_zh": {"type": ["string", "null"]},
        "score": {"type": ["number", "null"]},
    },
}
_reason = {
    "type": "object",
    "required": ["factor", "text_zh", "text_en"],
    "properties": {
        "factor": {"type": "string"},
        "text_zh": {"type": "string"},
        "text_en": {"type": "string"},
        "contribution": {"type": ["number", "null"]},
    },
}
_community = {
    "type": "object",
    "required": ["community_id", "name", "city_code", "grade", "reasons", "history", "forecast"],
    "properties": {
        **_community_hit["properties"],
        "trend": {"type": ["string", "null"], "enum": ["up", "flat", "down", None]},
        "reasons": {"type": "array", "items": _reason},
        "history": {"type": "array", "items": {"type": "object"}},
        "forecast": {"type": "array", "items": {"type": "object"}},
        "nearby_cases": {"type": "array", "items": {"type": "object"}},
        "city_starred": {"type": "boolean"},
        "updated_at": {"type": ["string", "null"]},
    },
}
_city = {
    "type": "object",
    "required": ["city_code", "name", "starred"],
    "properties": {
        "city_code": {"type": "integer"},
        "name": {"type": "string"},
        "name_en": {"type": ["string", "null"]},
        "province": {"type": ["string", "null"]},
        "population": {"type": ["integer", "null"]},
        "rt": {"type": ["number", "null"]},
        "starred": {"type": "boolean"},
    },
}


_trip_row = {
    "type": "object",
    "required": ["date", "mode", "number", "car", "cases"],
    "properties": {
        "date": {"type": "string", "format": "date"},
        "mode": {"type": "string"},
        "number": {"type": "string"},
        "car": {"type": ["string", "null"]},
        "cases": {"type": "integer", "minimum": 0},
    },
}
_same_trip = {
    "type": "object",
    "required": ["date", "mode", "number", "car", "outcome", "carriage_known", "message", "message_zh", "trips",
                 "other_carriages"],
    "properties": {
        "date": {"type": "string", "format": "date"},
        "mode": {"type": "string", "enum": list(MODES)},
        "number": {"type": "string"},
        "car": {"type": ["string", "null"]},
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "carriage_known": {"type": "boolean"},
        "message": {"type": "string"},
        "message_zh": {"type": "string"},
        "trips": {"type": "array", "items": _trip_row},
        "other_carriages": {"type": "array", "items": _trip_row},
    },
}


_market = {
    "type": "object",
    "required": ["market_id", "name", "level", "as_of"],
    "properties": {
        "market_id": {"type": "integer"},
        "name": {"type": "string"},
        "name_en": {"type": ["string", "null"]},
        "city_code": {"type": ["integer", "null"]},
        "address": {"type": ["string", "null"]},
        "lon": {"type": ["number", "null"]},
        "lat": {"type": ["number", "null"]},
        "level": {"type": "string", "enum": ["green", "orange", "red", "no_history", "stale"]},
        "level_zh": {"type": "string"},
        "level_en": {"type": "string"},
        "ratio": {"type": ["number", "null"]},
        "people_now": {"type": ["integer", "null"]},
        "usual_people": {"type": ["integer", "null"]},
        "weeks": {"type": ["integer", "null"]},
        "as_of": {"type": "string"},
        "age_minutes": {"type": "integer"},
    },
}

def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_errors = {
    "400": _ok(_error, "Bad request"),
    "404": _ok(_error, "Not found"),
    "429": _ok(_error, "Too many requests"),
    "503": _ok(_error, "No snapshot published yet"),
}


_quantile_row = {"type": "object", "required": ["date", "q50"], "properties": {
    "date": {"type": "string", "format": "date"}, **{q: {"type": ["number", "null"]}
                                                    for q in ("q025", "q25", "q50", "q75", "q975")}}}
_series = {"type": "array", "items": _quantile_row}


def _open_data_paths() -> dict:
    """The per-city open-data routes (30-day forecast, R_t, the epidemic origin's outflow; JSON and CSV)."""
    code = [{"name": "city_code", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}]
    csv_ok = {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}
    forecast = {"type": "object", "required": ["city_code", "targets"], "properties": {
        "city_code": {"type": "integer"}, "as_of": {"type": ["string", "null"]},
        "targets": {"type": "object", "properties": {"confirmed_daily": _series, "close_contacts_daily": _series}},
        "close_contacts_basis": {"type": ["object", "null"], "properties": {
            "contacts_per_case": {"type": "number"}, "source": {"type": "string", "enum": ["measured", "default"]},
            "cases_searched": {"type": "integer"}, "companion_pairs": {"type": "integer"}}},
        "not_served": {"type": "object"}}}
    rt = {"type": "object", "required": ["city_code", "rt"], "properties": {
        "city_code": {"type": "integer"}, "as_of": {"type": ["string", "null"]}, "rt": _series,
        "growth_rate_per_day": _series, "doubling_time_days": _series}}
    day = {"type": "object", "required": ["date"], "properties": {
        "date": {"type": "string", "format": "date"}, "outflow": {"type": ["integer", "null"]},
        "round_trips": {"type": ["integer", "null"]}}}
    outflow = {"type": "object", "required": ["city_code", "days"], "properties": {
        "city_code": {"type": "integer"}, "origin_city_code": {"type": ["integer", "null"]},
        "small_count": {"type": ["integer", "null"]}, "days": {"type": "array", "items": day}}}
    base = "/api/v1/cities/{city_code}"
    return {
        f"{base}/forecast.json": {"get": {"summary": "A city's 30-day forecast: daily confirmed and expected close "
                                                     "contacts, 50 % and 95 % intervals",
                                          "parameters": code, "responses": {"200": _ok(forecast), **_errors}}},
        f"{base}/forecast.csv": {"get": {"summary": "The same forecast as CSV (target, date, quantiles)",
                                         "parameters": code, "responses": {"200": csv_ok, **_errors}}},
        f"{base}/rt": {"get": {"summary": "A city's R_t per day with intervals, growth rate and doubling time",
                               "parameters": code, "responses": {"200": _ok(rt), **_errors}}},
        f"{base}/rt.csv": {"get": {"summary": "The same R_t series as CSV", "parameters": code,
                                   "responses": {"200": csv_ok, **_errors}}},
        f"{base}/outflow": {"get": {"summary": "Travellers per day from the epidemic origin city, and residents who "
                                               "went there and came back (null below the small-count threshold)",
                                    "parameters": code, "responses": {"200": _ok(outflow), **_errors}}},
        f"{base}/outflow.csv": {"get": {"summary": "The same outflow as CSV", "parameters": code,
                                        "responses": {"200": csv_ok, **_errors}}},
    }


def openapi_document() -> dict:
    """The OpenAPI 3.1 document.

    Examples
    --------
    >>> doc = openapi_document()
    >>> doc["openapi"], "/api/v1/communities" in doc["paths"]
    ('3.1.0', True)
    """
    q = {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 40}}
    limit = {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 50}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "riskcard API",
            "version": "1",
            "description": "Community risk grades, city risk and same-trip queries. Public, aggregated data only.",
        },
        "servers": [{"url": "/", "description": "this service"}],
        "paths": {
            "/api/v1/": {"get": {"summary": "What the API offers, with links", "responses": {"200": _ok({"type": "object", "required": ["endpoints"], "properties": {"endpoints": {"type": "array"}, "openapi": {"type": "string"}}}), **_errors}}},
            "/api/v1/meta": {"get": {"summary": "Snapshot metadata", "responses": {"200": _ok({"type": "object"}), **_errors}}},
            "/api/v1/communities": {
                "get": {
                    "summary": "Search communities by Chinese name, pinyin or initials",
                    "parameters": [q, limit],
                    "responses": {
                        "200": _ok({"type": "object", "required": ["communities"], "properties": {"query": {"type": "string"}, "communities": {"type": "array", "items": _community_hit}}}),
                        **_errors,
                    },
                }
            },
            "/api/v1/communities/{community_id}": {
                "get": {
                    "summary": "A community's grade, reasons, trend and forecast",
                    "parameters": [{"name": "community_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {"200": _ok(_community), **_errors},
                }
            },
            "/api/v1/cities": {
                "get": {
                    "summary": "Cities with R_t and stars",
                    "responses": {"200": _ok({"type": "object", "properties": {"cities": {"type": "array", "items": _city}}}), **_errors},
                }
            },
            "/api/v1/cities/{city_code}": {
                "get": {
                    "summary": "A city's R_t, forecast, inflow and community grades",
                    "parameters": [{"name": "city_code", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {"200": _ok(_city), **_errors},
                }
            },
            "/api/v1/same-trip": {
                "get": {
                    "summary": "Whether confirmed cases travelled on a train or flight",
                    "description": "Three outcomes: your_carriage (a case on this train or flight in your carriage; "
                                   "carriage_known false: either carriage is unknown, so it may have been), "
                                   "other_carriage (cases only in the carriages named in other_carriages), no_case "
                                   "(checked, none found). Numbers in any written form (G01234, g 1234, CA 0123, "
                                   "CCA1234, full-width); carriages as 6, 06, 6车, 第6车厢, car 6. Input that does "
                                   "not read is a 400 naming the parameter: never no_case.",
                    "parameters": [
                        {"name": "date", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                        {"name": "number", "in": "query", "required": True,
                         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_TRIP_NUMBER_CHARS,
                                    "pattern": TRIP_NUMBER_PATTERN}},
                        {"name": "car", "in": "query", "required": False,
                         "schema": {"type": "string", "maxLength": MAX_CARRIAGE_CHARS, "pattern": CARRIAGE_PATTERN}},
                    ],
                    "responses": {"200": _ok(_same_trip), **_errors},
                }
            },
            **_open_data_paths(),  # issue 19: per-city forecast, R_t, outflow (miniapp/views/open_data.py)
            **places_paths(),
            "/api/v1/grades.csv": {
                "get": {
                    "summary": "All community grades as CSV",
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}, **_errors},
                }
            },
            "/api/v1/markets": {
                "get": {
                    "summary": "Markets with their crowd level now (green, orange, red, or cannot tell)",
                    "description": "Refreshed every 15 minutes. level no_history or stale means it could not be "
                                   "told: never a colour then. people_now is null below the small-count threshold.",
                    "responses": {"200": _ok({"type": "object", "required": ["markets"], "properties": {
                        "markets": {"type": "array", "items": _market}, "rule_zh": {"type": "string"},
                        "rule_en": {"type": "string"}, "small_count": {"type": "integer"},
                        "as_of": {"type": "string"}}}), **_errors},
                }
            },
            "/api/v1/markets/{market_id}": {
                "get": {
                    "summary": "One market's crowd level now",
                    "parameters": [{"name": "market_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}],
                    "responses": {"200": _ok(_market), **_errors},
                }
            },
        },
    }


# ---- places near a community or a position (miniapp/views/places.py, docs/places.md) ----------------
_origin = {
    "type": "object",
    "required": ["lon", "lat"],
    "properties": {"community_id": {"type": ["integer", "null"]}, "name": {"type": "string"},
                   "rounded_to_deg": {"type": "number"}, "lon": {"type": "number"}, "lat": {"type": "number"}},
}
_place = {
    "type": "object",
    "required": ["place_id", "name", "lon", "lat", "distance_m"],
    "properties": {"place_id": {"type": "string"}, "name": {"type": "string"}, "address": {"type": ["string", "null"]},
                   "city_code": {"type": "integer"}, "lon": {"type": "number"}, "lat": {"type": "number"},
                   "first_date": {"type": ["string", "null"]}, "last_date": {"type": ["string", "null"]},
                   "what": {"type": ["string", "null"]}, "distance_m": {"type": "number", "minimum": 0}},
}
_clinic = {
    "type": "object",
    "required": ["clinic_id", "name", "lon", "lat", "hours", "state", "distance_m"],
    "properties": {"clinic_id": {"type": "string"}, "name": {"type": "string"}, "address": {"type": ["string", "null"]},
                   "city_code": {"type": "integer"}, "lon": {"type": "number"}, "lat": {"type": "number"},
                   "kind": {"type": "string", "enum": ["fever_clinic", "testing_site"]},
                   "hours": {"type": "string", "description": "as published; '' = not published"},
                   "phone": {"type": ["string", "null"]}, "state": {"type": "string", "enum": ["open", "unknown"]},
                   "distance_m": {"type": "number", "minimum": 0}},
}
_near_places = {
    "type": "object",
    "required": ["origin", "published", "radius_m", "places"],
    "properties": {"origin": _origin, "published": {"type": "boolean"}, "radius_m": {"type": "number"},
                   "places": {"type": "array", "items": _place}},
}
_near_clinics = {
    "type": "object",
    "required": ["origin", "published", "open", "hours_unknown", "closed_nearby", "now", "tz"],
    "properties": {"origin": _origin, "published": {"type": "boolean"}, "radius_m": {"type": "number"},
                   "open": {"type": "array", "items": _clinic}, "hours_unknown": {"type": "array", "items": _clinic},
                   "closed_nearby": {"type": "integer", "minimum": 0}, "now": {"type": "string"},
                   "tz": {"type": "string"}},
}
_position_body = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["lon", "lat"],
        "properties": {"lon": {"type": "number", "minimum": -180, "maximum": 180},
                       "lat": {"type": "number", "minimum": -90, "maximum": 90}}}}},
    "description": "WGS-84 degrees. Send them rounded (0.01 degree is about 1 km); the server rounds them to "
                   "0.01 degree, answers, and stores and logs nothing of them. A body, never a URL: URLs end up in "
                   "proxy logs.",
}


def places_paths() -> dict:
    """The two place operations: nearest published case places, nearest clinics open now.

    Examples
    --------
    >>> sorted(places_paths())
    ['/api/v1/clinics/near', '/api/v1/places/near']
    """
    community = {"name": "community", "in": "query", "required": True,
                 "schema": {"type": "integer", "minimum": 0}, "description": "measure from this community's centre"}
    out = {}
    for path, schema, summary, desc in (
        ("/api/v1/places/near", _near_places, "Nearest case places the health authority published",
         "Nearest first, within radius_m, with distance_m (haversine). published false: the snapshot has no "
         "case-places feed (not: no place nearby)."),
        ("/api/v1/clinics/near", _near_clinics, "Nearest fever clinics and testing sites open now",
         "open: open now in the city's time zone by the published hours (hours stated); hours_unknown: hours not "
         "published, never called open; closed_nearby: how many of the nearest are outside their hours now."),
    ):
        out[path] = {
            "get": {"summary": summary + " (from a community)", "description": desc, "parameters": [community],
                    "responses": {"200": _ok(schema), **_errors}},
            "post": {"summary": summary + " (from a position)", "description": desc, "requestBody": _position_body,
                     "responses": {"200": _ok(schema), "415": _ok(_error, "Not JSON"), **_errors}},
        }
    return out
