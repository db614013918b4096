"""The city page's forecast section (issue 19): the 30-day forecast, R_t and the origin's outflow as charts.

Used by :func:`miniapp.views.pages.city`; the same data as the open-data routes of
:mod:`miniapp.views.open_data`, drawn with :func:`miniapp.charts.line_chart`.
"""

from __future__ import annotations

import math

from miniapp import charts
from miniapp.i18n import tr
from miniapp.snapshot import forecast_series


def _finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


def city_sections(store, city_code: int) -> dict | None:
    """Charts and figures of the city's forecast section, or None when the snapshot has none.

    Parameters
    ----------
    store : SnapshotStore
        The served snapshot.
    city_code : int
        The city.

    Returns
    -------
    dict or None
        ``contacts_chart`` (SVG), ``rt_chart`` (SVG or None), ``latest_rt`` (the last R_t row),
        ``growth`` and ``doubling`` (the last rows or None), ``contacts_30d`` (median total of the
        30 days), ``contacts_basis`` (what close contacts are made of, or None when not recorded), ``outflow_chart`` (SVG or None), ``origin_city_code``, ``outflow_days``.
    """
    fc = forecast_series.city_forecast(store, city_code)
    rt = forecast_series.city_rt(store, city_code)
    out_f = forecast_series.city_outflow(store, city_code)
    if fc is None or not fc["targets"]["confirmed_daily"]:
        return None
    lang = tr("zh", "en")
    contacts = fc["targets"]["close_contacts_daily"]
    res: dict = {"horizon_days": len(fc["targets"]["confirmed_daily"]),
                 "contacts_basis": fc.get("close_contacts_basis"),
                 "contacts_30d": sum(d["q50"] for d in contacts),
                 "contacts_chart": charts.line_chart(
                     [], [], band=([d["q025"] for d in contacts], [d["q975"] for d in contacts]),
                     band_dates=[d["date"] for d in contacts], median=[d["q50"] for d in contacts],
                     title=tr("预期每日密切接触者（预测，95% 区间）", "Expected close contacts per day (forecast, 95 % interval)"),
                     unit=tr("人/日", "people per day"), lang=lang)}
    rows = [d for d in (rt or {}).get("rt", []) if _finite(d["q50"])]
    res["rt_chart"] = charts.line_chart(
        [d["date"] for d in rows], [d["q50"] for d in rows],
        band=([d["q025"] for d in rows], [d["q975"] for d in rows]), band_dates=[d["date"] for d in rows],
        title=tr("有效再生数 Rt（95% 区间）", "Effective reproduction number Rt (95 % interval)"),
        unit="Rt", lang=lang) if rows else None
    res["latest_rt"] = rows[-1] if rows else None
    growth = (rt or {}).get("growth_rate_per_day") or []
    res["growth"] = growth[-1] if growth and res["latest_rt"] and growth[-1]["date"] == rows[-1]["date"] else None
    dbl = (rt or {}).get("doubling_time_days") or []
    res["doubling"] = dbl[-1] if dbl and res["latest_rt"] and dbl[-1]["date"] == rows[-1]["date"] else None
    days = (out_f or {}).get("days") or []
    res["origin_city_code"] = (out_f or {}).get("origin_city_code")
    res["outflow_days"] = days
    res["outflow_chart"] = charts.line_chart(
        [d["date"] for d in days], [d["outflow"] for d in days],
        title=tr("每日来自疫源城市的旅客（少于阈值不显示）", "Travellers per day from the epidemic origin (small counts hidden)"),
        unit=tr("人次/日", "trips per day"), lang=lang) if any(d["outflow"] is not None for d in days) else None
    return res
