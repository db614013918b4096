"""Public pages: search, community, city, same-trip query, methods, privacy, QR posters."""

from __future__ import annotations

import unicodedata

from flask import Blueprint, abort, current_app, render_template, request, url_for

from forecast.same_trip import INPUT_ERRORS, answer_message
from forecast.trips import TripInputError
from forecast.contacts import MIN_COUNT
from forecast.grades import THRESHOLDS
from forecast.schema import GRADE_NAMES_ZH
from miniapp import charts
from miniapp.views import forecast_sections
from miniapp.i18n import tr
from miniapp.qr import qr_svg
from miniapp.sms_out import demo_outbox_path, read_demo_outbox

bp = Blueprint("pages", __name__)

MAX_QUERY_CHARS = 40
MAP_MAX_POINTS = 40  # markers big enough to tap, on a phone-wide map: the highest grades first
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
        lang=tr("zh", "en"),
    )
    meta = store.meta()
    return render_template("community.html", c=c, chart=chart, meta=meta,
                           small_count=int(meta.get("small_count") or MIN_COUNT))


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
        lang=tr("zh", "en"),
    )
    communities = c.get("communities") or []
    shown = sorted(communities, key=lambda p: -GRADE_ORDER.get(str(p.get("grade")), -1))[:MAP_MAX_POINTS]
    for i, p in enumerate(shown):  # the marker's number, listed under the map with the name
        p.update(label=str(i + 1), grade_text=tr(p.get("grade_zh") or "", p.get("grade_en") or ""))
    grade_map = charts.community_map(shown, title=tr("小区风险地图", "Map of community grades"))
    counts = c.get("grade_counts") or {}
    legend = [{"grade": g, "grade_zh": {**GRADE_NAMES_ZH, "unknown": "暂无数据"}[g], "count": counts.get(g, 0)}
              for g in (*GRADE_ORDER, "unknown") if g != "unknown" or counts.get(g)]
    meta = store.meta()
    return render_template("city.html", c=c, chart=chart, grade_map=grade_map, meta=meta, shown=shown,
                           legend=legend, map_shown=len(shown), map_total=len(communities),
                           small_count=int(meta.get("small_count") or MIN_COUNT),
                           fs=forecast_sections.city_sections(store, city_code))


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


# The backtest figures the methods page can show (key, zh, en), in this order, when a snapshot has them.
BACKTEST_ROWS = [
    {"key": "relative_wis_vs_persistence", "zh": "相对WIS（对比“与最近一天持平”的基线，小于1即更好）",
     "en": "Relative WIS against persistence (below 1 is better)"},
    {"key": "relative_wis_vs_loglinear", "zh": "相对WIS（对比对数线性增长）", "en": "Relative WIS against log-linear growth"},
    {"key": "coverage_50", "zh": "50%区间覆盖率（目标0.50）", "en": "50% interval coverage (target 0.50)"},
    {"key": "coverage_90", "zh": "90%区间覆盖率（目标0.90）", "en": "90% interval coverage (target 0.90)"},
    {"key": "coverage_95", "zh": "95%区间覆盖率（目标0.95）", "en": "95% interval coverage (target 0.95)"},
    {"key": "mae", "zh": "平均绝对误差（例/日）", "en": "Mean absolute error (cases per day)"},
]


def threshold_rows(thresholds=THRESHOLDS) -> list[dict]:
    """The five grades with their score range and what it means in a 1,000-resident community.

    Parameters
    ----------
    thresholds : sequence of float
        Lower bounds of low, medium-low, medium-high and high (per 100k residents per day).

    Returns
    -------
    list of dict
        ``grade, name_zh, range, per_1000_week`` from slight to high.

    Examples
    --------
    >>> [(r["grade"], r["range"], r["per_1000_week"]) for r in threshold_rows((1.0, 5.0))]
    [('slight', '< 1', '< 0.07'), ('low', '1 – 5', '0.07 – 0.35'), ('medium_low', '≥ 5', '≥ 0.35')]
    """
    bounds = [float(t) for t in thresholds]
    week = lambda v: f"{v * 7 * 1000 / 1e5:.2f}".rstrip("0").rstrip(".")  # noqa: E731 - per 1,000 over 7 days
    rows = []
    for i, g in enumerate(list(GRADE_ORDER)[: len(bounds) + 1]):
        lo, hi = (bounds[i - 1] if i else None), (bounds[i] if i < len(bounds) else None)
        if lo is None:
            rng, per = f"< {hi:g}", f"< {week(hi)}"
        elif hi is None:
            rng, per = f"≥ {lo:g}", f"≥ {week(lo)}"
        else:
            rng, per = f"{lo:g} – {hi:g}", f"{week(lo)} – {week(hi)}"
        rows.append({"grade": g, "name_zh": GRADE_NAMES_ZH[g], "range": rng, "per_1000_week": per})
    return rows


@bp.get("/methods")
def methods():
    store = current_app.extensions["riskcard"].store()
    figures = store.methods_figures() if store is not None else {}
    return render_template("methods.html", figures=figures, thresholds=threshold_rows(), backtest_rows=BACKTEST_ROWS)


@bp.get("/privacy")
def privacy():
    store = current_app.extensions["riskcard"].store()
    small = int((store.meta() if store is not None else {}).get("small_count") or MIN_COUNT)
    return render_template("privacy.html", small_count=small)


@bp.get("/outbox")
def outbox():
    """Demo only: the SMS outbox, so a demo user can read the one-time code sent to a test number."""
    path = demo_outbox_path(current_app.config)
    if path is None:
        abort(404)
    return render_template("outbox.html", messages=read_demo_outbox(path, limit=20))
