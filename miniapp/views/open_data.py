"""Open data per city (issue 19): the 30-day forecast, R_t, and the epidemic origin's outflow, as JSON and CSV.

Routes under /api/v1/cities/<code>/: ``forecast.json`` / ``forecast.csv``, ``rt`` / ``rt.csv``,
``outflow`` / ``outflow.csv`` (documented in docs/api.md and the OpenAPI document).
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, jsonify

from miniapp.snapshot import forecast_series
from miniapp.views.pages import MAX_ID, current_store

bp = Blueprint("open_data", __name__, url_prefix="/api/v1/cities")


def _answer(reader, city_code: int) -> dict:
    out = reader(current_store(), city_code) if city_code <= MAX_ID else None
    if out is None:
        abort(404)
    return out


def _csv(name: str, city_code: int, columns: list[str], rows) -> Response:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="riskcard-{name}-{city_code}.csv"'})


def _long(series: dict) -> list[dict]:
    return [{"target": t, **r} for t, rows in series.items() for r in rows]


@bp.get("/<int:city_code>/forecast.json")
def forecast_json(city_code: int):
    return jsonify(_answer(forecast_series.city_forecast, city_code))


@bp.get("/<int:city_code>/forecast.csv")
def forecast_csv(city_code: int):
    out = _answer(forecast_series.city_forecast, city_code)
    return _csv("forecast", city_code, ["target", "date", *forecast_series.QUANTILE_COLUMNS], _long(out["targets"]))


@bp.get("/<int:city_code>/rt")
def rt_json(city_code: int):
    return jsonify(_answer(forecast_series.city_rt, city_code))


@bp.get("/<int:city_code>/rt.csv")
def rt_csv(city_code: int):
    out = _answer(forecast_series.city_rt, city_code)
    series = {t: out[t] for t in forecast_series.RT_TARGETS}
    return _csv("rt", city_code, ["target", "date", *forecast_series.QUANTILE_COLUMNS], _long(series))


@bp.get("/<int:city_code>/outflow")
def outflow_json(city_code: int):
    return jsonify(_answer(forecast_series.city_outflow, city_code))


@bp.get("/<int:city_code>/outflow.csv")
def outflow_csv(city_code: int):
    out = _answer(forecast_series.city_outflow, city_code)
    rows = [{"origin_city_code": out["origin_city_code"], **d} for d in out["days"]]
    return _csv("outflow", city_code, ["date", "origin_city_code", "outflow", "round_trips"], rows)
