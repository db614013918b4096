"""The JSON API under /api/v1, its OpenAPI 3 document, and the CSV download of grades."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from flask import Blueprint, Response, abort, jsonify, request

from miniapp.openapi import openapi_document
from miniapp.views.pages import MAX_ID, MAX_QUERY_CHARS, clean_query, current_store

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 50
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRIP_NUMBER = re.compile(r"^[A-Z]{0,3}\d{1,5}$")
MAX_CAR_CHARS = 10


def _arg(name: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """A query argument, cleaned; a value longer than the OpenAPI document allows is a 400."""
    raw = request.args.get(name) or ""
    if len(raw) > max_chars:
        abort(400)
    return clean_query(raw)


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _limit(default: int = 10) -> int:
    raw = request.args.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        abort(400)
    return int(raw)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/meta")
def meta():
    return jsonify(current_store().meta())


@bp.get("/communities")
def communities():
    q = _arg("q")
    limit = _limit()
    if not q:
        if request.args.get("q"):  # valid by the document (1-40 characters), nothing searchable in it
            return jsonify(query=q, communities=[])
        abort(400)
    return jsonify(query=q, communities=current_store().search_communities(q, limit=limit))


@bp.get("/communities/<int:community_id>")
def community(community_id: int):
    c = current_store().community(community_id) if community_id <= MAX_ID else None
    if c is None:
        abort(404)
    return jsonify(c)


@bp.get("/cities")
def cities():
    return jsonify(cities=current_store().cities())


@bp.get("/cities/<int:city_code>")
def city(city_code: int):
    c = current_store().city(city_code) if city_code <= MAX_ID else None
    if c is None:
        abort(404)
    return jsonify(c)


@bp.get("/same-trip")
def same_trip():
    day = _arg("date")
    number = _arg("number").upper().replace(" ", "")
    car = _arg("car", MAX_CAR_CHARS) or None
    if not _valid_date(day) or not _TRIP_NUMBER.fullmatch(number):
        abort(400)
    return jsonify(date=day, number=number, car=car, trips=current_store().same_trip(day, number, car))


@bp.get("/grades.csv")
def grades_csv():
    store = current_store()
    columns = ["community_id", "name", "city_code", "city_name", "district", "date", "grade", "grade_zh", "score", "trend"]

    def rows():
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for g in store.grades():
            writer.writerow(g)
            if buf.tell() > 64 * 1024:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    as_of = store.meta().get("as_of", "snapshot")
    return Response(
        rows(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="riskcard-grades-{as_of}.csv"'},
    )
