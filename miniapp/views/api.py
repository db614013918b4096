"""The JSON API under /api/v1, its OpenAPI 3 document, and the CSV download of grades."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for

from forecast.same_trip import INPUT_ERRORS, answer_message
from forecast.trips import (CARRIAGE_PATTERN, MAX_CARRIAGE_CHARS, MAX_TRIP_NUMBER_CHARS, TRIP_NUMBER_PATTERN,
                            TripInputError)
from miniapp.openapi import openapi_document
from miniapp.views.pages import MAX_ID, MAX_QUERY_CHARS, clean_query, current_store

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 50
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _arg(name: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """A query argument, cleaned; a value longer than the OpenAPI document allows is a 400."""
    raw = request.args.get(name) or ""
    if len(raw) > max_chars:
        abort(400, description=(f"参数 {name} 最长 {max_chars} 个字符。", f"{name} is at most {max_chars} characters."))
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
        abort(400, description=(f"limit 须为 1 到 {MAX_LIMIT} 的整数。", f"limit must be a whole number from 1 to {MAX_LIMIT}."))
    return int(raw)


@bp.get("/")
def index():
    """What the API offers, with links: a starting point for a person or a client."""
    doc = openapi_document()
    return jsonify(description=doc["info"]["description"], openapi=url_for("api.openapi", _external=True),
                   endpoints=[{"path": path, "summary": item["get"]["summary"]}
                              for path, item in sorted(doc["paths"].items())])


@bp.get("/openapi.json")
def openapi():
    public = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    return jsonify({**openapi_document(), "servers": [{"url": public or "/", "description": "this service"}]})


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
        abort(400, description=("缺少参数 q：小区名、拼音或首字母（1-40个字符）。",
                                "q is required: a community name, its pinyin or initials (1 to 40 characters)."))
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
    """Three outcomes (``your_carriage``, ``other_carriage``, ``no_case``) for input that reads; a 400
    naming the parameter otherwise. Checked against the same patterns as the OpenAPI document."""
    day = request.args.get("date")
    number = request.args.get("number")
    car = request.args.get("car") or None
    if not day or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", day) or not _valid_date(day):
        abort(400, description=("date 须为日历日期 YYYY-MM-DD，例如 2020-01-20。",
                                "date must be a calendar date YYYY-MM-DD, such as 2020-01-20."))
    if not number or len(number) > MAX_TRIP_NUMBER_CHARS or not re.search(TRIP_NUMBER_PATTERN, number):
        abort(400, description=("number 须为车次或航班号，例如 G1234、D4053 或 CA1234。",
                                "number must be a train or flight number, such as G1234, D4053 or CA1234."))
    if car is not None and (len(car) > MAX_CARRIAGE_CHARS or not re.search(CARRIAGE_PATTERN, car)):
        abort(400, description=("car 须为车厢号，例如 6 或 06车厢。", "car must be a carriage, such as 6 or 06."))
    try:
        answer = current_store().same_trip_answer(day, number, car)
    except TripInputError as exc:
        abort(400, description=INPUT_ERRORS[exc.field])
    zh, en = answer_message(answer)
    return jsonify(**answer, message=en, message_zh=zh)


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
