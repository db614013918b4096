"""A market as the pages, the API and the bot show it: its level checked against the store's age,
its counts as text with small counts suppressed, in Chinese and English."""

from __future__ import annotations

import time
from datetime import datetime, timezone

LEVEL_TEXT = {
    "green": ("绿色 · 比平常空", "Green · quieter than usual"),
    "orange": ("橙色 · 与平常相当", "Orange · as busy as usual"),
    "red": ("红色 · 比平常挤", "Red · busier than usual"),
    "no_history": ("历史数据不足，无法判断", "Not enough history to tell"),
    "stale": ("数据过旧，无法判断", "Data too old to tell"),
}

def market_view(m: dict, meta: dict, now_s: float | None = None) -> dict:
    """A market as pages, the API and the bot show it: the level checked against the store's age.

    Parameters
    ----------
    m : dict
        A market row of the crowd store.
    meta : dict
        The store's meta.
    now_s : float, optional
        The reading time (default: now).

    Returns
    -------
    dict
        The row plus ``level`` (``stale`` when the store is too old), ``as_of`` (ISO UTC), ``age_minutes``,
        ``level_zh``, ``level_en``, ``people_zh``, ``people_en`` and ``small_count_people``.

    Examples
    --------
    >>> meta = {"now_s": 0, "stale_after_s": 1800, "small_count": 10}
    >>> v = market_view({"market_id": 1, "name": "菜场", "level": "red", "people_now": None}, meta, now_s=60)
    >>> v["level"], v["people_en"]
    ('red', 'fewer than 10 people')
    >>> market_view({"market_id": 1, "name": "菜场", "level": "red", "people_now": 40}, meta, now_s=3600)["level"]
    'stale'
    """
    now_s = time.time() if now_s is None else now_s
    out = dict(m)
    as_of = int(meta.get("now_s") or 0)
    age_s = max(0, now_s - as_of)
    if age_s > int(meta.get("stale_after_s") or 1800):
        out["level"] = "stale"
        out["ratio"] = None
    factor = float(meta.get("residents_per_subscriber") or 1.0)
    small = int(round(int(meta.get("small_count") or 10) * factor))
    zh, en = LEVEL_TEXT[out["level"]]
    people = out.get("people_now")
    out.update(
        as_of=datetime.fromtimestamp(as_of, timezone.utc).isoformat(timespec="seconds"),
        age_minutes=int(age_s // 60), level_zh=zh, level_en=en, small_count_people=small,
        people_zh=f"约 {people:,} 人" if people is not None else f"少于 {small:,} 人",
        people_en=f"about {people:,} people" if people is not None else f"fewer than {small:,} people",
    )
    usual = out.get("usual_people")
    out["usual_zh"] = f"约 {usual:,} 人" if usual is not None else ("少于 %d 人" % small if out["level"] in ("green", "orange", "red") else "—")
    out["usual_en"] = f"about {usual:,} people" if usual is not None else (f"fewer than {small} people" if out["level"] in ("green", "orange", "red") else "—")
    return out


def find_markets(store, query: str, limit: int = 5) -> list[dict]:
    """Markets whose Chinese or English name contains ``query`` (case-insensitive), as :func:`market_view` rows.

    Parameters
    ----------
    store : CrowdStore
        The served crowd store.
    query : str
        Part of a name.
    limit : int
        Most markets returned.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> class S:
    ...     def meta(self): return {"now_s": 0}
    ...     def markets(self): return [{"market_id": 1, "name": "南门菜场", "name_en": "South Gate", "level": "red"}]
    >>> [m["market_id"] for m in find_markets(S(), "south gate")]
    [1]
    """
    q = query.strip().lower()
    meta = store.meta()
    hits = [m for m in store.markets() if q and (q in str(m.get("name") or "").lower() or q in str(m.get("name_en") or "").lower())]
    return [market_view(m, meta) for m in hits[:limit]]
