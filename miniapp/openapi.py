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


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_errors = {
    "400": _ok(_error, "Bad request"),
    "404": _ok(_error, "Not found"),
    "429": _ok(_error, "Too many requests"),
    "503": _ok(_error, "No snapshot published yet"),
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
            "/api/v1/grades.csv": {
                "get": {
                    "summary": "All community grades as CSV",
                    "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}, **_errors},
                }
            },
        },
    }
