"""Public pages: search, community, city, same-trip query, methods, privacy, QR posters."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, abort, current_app, render_template, request, url_for

from forecast.same_trip import INPUT_ERRORS, answer_message
from forecast.trips import TripInputError
from miniapp import charts
from miniapp.i18n import tr
from miniapp.qr import qr_svg
from miniapp.sms_out import demo_outbox_path, read_demo_outbox

bp = Blueprint("pages", __name__)

MAX_QUERY_CHARS = 40
MAP_MAX_POINTS = 400  # keeps the city page light: the highest grades first
GRADE_ORDER = {g: i for i, g in enumerate(("slight", "low", "medium_low", "medium_high", "high"))}
# Ids in the URL beyond SQLite's integer range cannot exist (and would overflow the query): 404.
MAX_ID = 2**63 - 1


def current_store():
    """The served snapshot, or a 503 page when none is published yet."""
    store = current_app.extensions["riskcard"].store()
    if store is None:
        abort(503)
    return store


def clean_query(text: str | None) -> str:
    """Normalise a search box's text: NFKC (full-width to half-width), trimmed, bounded.

    Examples
    --------
    >>> clean_query("  ＢＢＴ ")
    'BBT'
    >>> clean_query(None)
    ''
    """
    s = unicodedata.normalize("NFKC", text or "").strip()
    s = "".join(ch for ch in s if unicodedata.category(ch)[0] != "C")
    return s[:MAX_QUERY_CHARS]


@bp.get("/")
def home():
    store = current_store()
    q = clean_query(request.args.get("q"))
    results = store.search_communities(q, limit=20) if q else []
    return render_template("home.html", q=q, results=results, cities=store.cities(), meta=store.meta())


@bp.get("/search")
def search():
    return home()


@bp.get("/community/<int:community_id>")
def community(community_id: int):
    store = current_store()
    c = store.community(community_id) if community_id <= MAX_ID else None
    if c is None:
        abort(404)
    history = c.get("history") or []
    fc = c.get("forecast") or []
    chart = charts.line_chart(
        [h["date"] for h in history],
        [h["score"] for h in history],
        band=([f["q05"] for f in fc], [f["q95"] for f in fc]) if fc else None,
        band_dates=[f["date"] for f in fc] if fc else None,
        median=[f["q50"] for f in fc] if fc else None,
        title=tr("30天风险趋势与预测", "30-day risk trend and forecast"),
        unit=tr("每10万人每日预期新增感染", "expected new infections per 100k per day"),
    )
    return render_template("community.html", c=c, chart=chart, meta=store.meta())


@bp.get("/community/<int:community_id>/poster")
def poster(community_id: int):
    store = current_store()
    c = store.community(community_id) if community_id <= MAX_ID else None
    if c is None:
        abort(404)
    url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("pages.community", community_id=community_id)
    return render_template("poster.html", c=c, qr=qr_svg(url), url=url)


@bp.get("/city/<int:city_code>")
def city(city_code: int):
    store = current_store()
    c = store.city(city_code) if city_code <= MAX_ID else None
    if c is None:
        abort(404)
    fc = c.get("forecast") or []
    hist = c.get("history") or []
    chart = charts.line_chart(
        [h["date"] for h in hist],
        [h["confirmed"] for h in hist],
        band=([f["q05"] for f in fc], [f["q95"] for f in fc]) if fc else None,
        band_dates=[f["date"] for f in fc] if fc else None,
        median=[f["q50"] for f in fc] if fc else None,
        title=tr("每日新增确诊与预测", "Daily new confirmed cases and forecast"),
        unit=tr("例/日", "cases per day"),
    )
    communities = c.get("communities") or []
    shown = sorted(communities, key=lambda p: -GRADE_ORDER.get(str(p.get("grade")), -1))[:MAP_MAX_POINTS]
    grade_map = charts.community_map(shown, title=tr("小区风险地图", "Map of community grades"))
    return render_template("city.html", c=c, chart=chart, grade_map=grade_map, meta=store.meta(),
                           map_shown=len(shown), map_total=len(communities))


@bp.get("/same-trip")
def same_trip():
    """The same-trip question: three answers (your carriage or maybe, another carriage, no case), or
    the form again with what did not read (400): never "no case" for a check that did not run."""
    store = current_store()
    date = clean_query(request.args.get("date"))
    number = clean_query(request.args.get("number"))
    car = clean_query(request.args.get("car"))
    answer = message = error = None
    if date or number or car:
        try:
            answer = store.same_trip_answer(date, number, car or None)
        except TripInputError as exc:
            error = tr(*INPUT_ERRORS[exc.field])
        else:
            message = tr(*answer_message(answer))
    status = 400 if error else 200
    return render_template("same_trip.html", date=date, number=number, car=car, answer=answer, message=message,
                           error=error), status


@bp.get("/methods")
def methods():
    store = current_app.extensions["riskcard"].store()
    figures = store.methods_figures() if store is not None else {}
    return render_template("methods.html", figures=figures)


@bp.get("/privacy")
def privacy():
    return render_template("privacy.html")


@bp.get("/outbox")
def outbox():
    """Demo only: the SMS outbox, so a demo user can read the one-time code sent to a test number."""
    path = demo_outbox_path(current_app.config)
    if path is None:
        abort(404)
    return render_template("outbox.html", messages=read_demo_outbox(path, limit=20))
