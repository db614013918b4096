"""Read a snapshot's 30-day forecast series, R_t series and the epidemic origin's outflow per city (m007).

Functions of a :class:`~miniapp.snapshot.read.SnapshotStore` (one indexed read each) returning plain
JSON-serialisable data; a snapshot written before m007 has no such tables, and the answer is None.
"""

from __future__ import annotations

import sqlite3

FORECAST_TARGETS = ("confirmed_daily", "close_contacts_daily")
RT_TARGETS = ("rt", "growth_rate_per_day", "doubling_time_days")
QUANTILE_COLUMNS = ("q025", "q25", "q50", "q75", "q975")


def _known_city(store, city_code: int) -> bool:
    return bool(store.rows("SELECT 1 FROM cities WHERE city_code = ?", (int(city_code),)))


def _series(store, city_code: int, targets: tuple[str, ...]) -> dict | None:
    """``target -> rows`` of a known city, or None for an unknown city or a snapshot without the series."""
    if not _known_city(store, city_code):
        return None
    marks = ", ".join("?" * len(targets))
    try:
        rows = store.rows(f"SELECT target, date, {', '.join(QUANTILE_COLUMNS)} FROM forecast_series "
                          f"WHERE city_code = ? AND target IN ({marks}) ORDER BY target, date",
                          (int(city_code), *targets))
    except sqlite3.OperationalError:  # a snapshot from before m007
        return None
    out: dict = {t: [] for t in targets}
    for r in rows:
        out[r.pop("target")].append(r)
    return out


def city_forecast(store, city_code: int) -> dict | None:
    """The city's 30-day forecast: daily confirmed and expected close contacts, with 50 % and 95 % intervals.

    Parameters
    ----------
    store : SnapshotStore
        The served snapshot.
    city_code : int
        The city.

    Returns
    -------
    dict or None
        ``city_code, as_of, targets`` (target -> list of ``date, q025, q25, q50, q75, q975``),
        ``close_contacts_basis`` (what close contacts are made of: ``contacts_per_case, source,
        cases_searched, companion_pairs``; None when the snapshot does not record it),
        ``deaths`` and ``suspected`` (None, with ``not_served`` saying why); None for an unknown city
        or a snapshot without the series.
    """
    s = _series(store, city_code, FORECAST_TARGETS)
    if s is None:
        return None
    meta = store.meta()
    return {"city_code": int(city_code), "as_of": meta.get("as_of"),
            "targets": s, "close_contacts_basis": meta.get("close_contacts_basis"),
            "not_served": {"deaths_daily": "the city_cases feed has no death counts / 病例数据不含死亡数",
                           "suspected_daily": "no feed defines suspected cases; not estimated / 无疑似病例数据"}}


def city_rt(store, city_code: int) -> dict | None:
    """The city's R_t per reported day (95 % and 50 % intervals), growth rate per day and doubling time.

    Parameters
    ----------
    store : SnapshotStore
    city_code : int

    Returns
    -------
    dict or None
        ``city_code, as_of, rt, growth_rate_per_day, doubling_time_days`` (lists of
        ``date, q025 .. q975``; doubling time NULL where the epidemic is not growing); None as
        :func:`city_forecast`.
    """
    s = _series(store, city_code, RT_TARGETS)
    if s is None:
        return None
    return {"city_code": int(city_code), "as_of": store.meta().get("as_of"), **s}


def city_outflow(store, city_code: int) -> dict | None:
    """Travellers arriving per day from the epidemic origin city and residents who went there and came back.

    Parameters
    ----------
    store : SnapshotStore
    city_code : int

    Returns
    -------
    dict or None
        ``city_code, origin_city_code, small_count, days`` (``date, outflow, round_trips``; None where the
        count is below ``small_count``); None as :func:`city_forecast`.
    """
    if not _known_city(store, city_code):
        return None
    try:
        rows = store.rows("SELECT date, origin_city_code, outflow, round_trips FROM city_mobility "
                          "WHERE city_code = ? ORDER BY date", (int(city_code),))
    except sqlite3.OperationalError:
        return None
    meta = store.meta()
    origin = rows[0]["origin_city_code"] if rows else None
    return {"city_code": int(city_code), "origin_city_code": origin, "small_count": meta.get("small_count"),
            "days": [{k: r[k] for k in ("date", "outflow", "round_trips")} for r in rows]}
