"""Opening hours of clinics and testing sites: parse the feed's text, say whether a place is open now.

The feed writes hours as ``24h`` (``24小时``, ``全天``), or one or more ``HH:MM-HH:MM`` ranges separated
by ``,`` or ``;`` (``08:00-12:00,14:00-17:30``; a range ending before it starts runs past midnight,
``20:00-08:00``), optionally after weekdays ``Mon-Fri`` / ``周一至周五`` (a place open only on those
days). Empty text means the hours are unknown: such a place is never called open.

An answer is one of :data:`OPEN_STATES`: ``open``, ``closed`` or ``unknown``. Times are local times
in the city's time zone (a timezone-aware instant is converted first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

OPEN_STATES = ("open", "closed", "unknown")
_ALL_DAY = {"24h", "24H", "24小时", "全天", "24/7", "00:00-24:00"}
_RANGE = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)\s*[-–~至到]\s*([01]?\d|2[0-4]):([0-5]\d)$")
_DAYS_EN = {"MON": 0, "TUE": 1, "WED": 2, "THU": 3, "FRI": 4, "SAT": 5, "SUN": 6}
_DAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_DAYS_RE = re.compile(r"^(?:(MON|TUE|WED|THU|FRI|SAT|SUN)(?:-(MON|TUE|WED|THU|FRI|SAT|SUN))?"
                      r"|周([一二三四五六日天])(?:[至到-]周?([一二三四五六日天]))?)\s+(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Hours:
    """Parsed hours: ``ranges`` of (start_minute, end_minute) in a day (end may pass 1440), and
    ``days`` (weekday numbers, Monday 0) they apply on. ``ranges`` empty means unknown."""

    ranges: tuple[tuple[int, int], ...]
    days: frozenset[int] = frozenset(range(7))

    @property
    def known(self) -> bool:
        return bool(self.ranges)


def _day_set(a: int, b: int | None) -> frozenset[int]:
    if b is None:
        return frozenset({a})
    return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))


def parse_hours(text: str | None) -> Hours | None:
    """Read an opening-hours text; ``Hours(())`` (unknown) for empty text, None when it does not read.

    Parameters
    ----------
    text : str or None
        As in the clinics feed (see the module docstring).

    Returns
    -------
    Hours or None
        None means the text is malformed (the feed quarantines such a row).

    Examples
    --------
    >>> parse_hours("08:00-12:00, 14:00-17:30").ranges
    ((480, 720), (840, 1050))
    >>> parse_hours("20:00-08:00").ranges
    ((1200, 1920),)
    >>> sorted(parse_hours("周一至周五 08:00-17:00").days)
    [0, 1, 2, 3, 4]
    >>> parse_hours("").known, parse_hours("24小时").ranges, parse_hours("sometimes")
    (False, ((0, 1440),), None)
    """
    s = " ".join(str(text or "").replace("：", ":").replace("，", ",").replace("；", ";").split())
    if not s:
        return Hours(())
    days = frozenset(range(7))
    m = _DAYS_RE.match(s)
    if m:
        if m.group(1):
            days = _day_set(_DAYS_EN[m.group(1).upper()], _DAYS_EN[m.group(2).upper()] if m.group(2) else None)
        else:
            days = _day_set(_DAYS_ZH[m.group(3)], _DAYS_ZH[m.group(4)] if m.group(4) else None)
        s = m.group(5).strip()
    if s in _ALL_DAY:
        return Hours(((0, 1440),), days)
    ranges = []
    for part in re.split(r"[,;]", s):
        r = _RANGE.match(part.strip())
        if not r:
            return None
        h1, m1, h2, m2 = (int(v) for v in r.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start > 1440 or end > 1440 or start == end:
            return None
        ranges.append((start, end if end > start else end + 1440))
    return Hours(tuple(ranges), days)


def open_state(hours: Hours | None, now: datetime, tz: str) -> str:
    """``open``, ``closed`` or ``unknown`` at ``now`` (aware) in zone ``tz``.

    Parameters
    ----------
    hours : Hours or None
        From :func:`parse_hours`; None or unknown hours give ``unknown``.
    now : datetime
        A timezone-aware instant.
    tz : str
        The city's IANA zone.

    Returns
    -------
    str
        One of :data:`OPEN_STATES`.

    Examples
    --------
    >>> from datetime import timezone
    >>> h = parse_hours("20:00-08:00")
    >>> open_state(h, datetime(2020, 2, 1, 23, 0, tzinfo=timezone.utc), "Asia/Shanghai")  # 07:00 local
    'open'
    >>> open_state(h, datetime(2020, 2, 1, 4, 0, tzinfo=timezone.utc), "Asia/Shanghai")   # 12:00 local
    'closed'
    >>> open_state(parse_hours(""), datetime(2020, 2, 1, 4, 0, tzinfo=timezone.utc), "Asia/Shanghai")
    'unknown'
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if hours is None or not hours.known:
        return "unknown"
    local = now.astimezone(ZoneInfo(tz))
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    for start, end in hours.ranges:
        if day in hours.days and start <= minute < end:
            return "open"
        if (day - 1) % 7 in hours.days and end > 1440 and minute + 1440 < end:  # yesterday's night range
            return "open"
    return "closed"


def open_states(hours_texts, now: datetime, tz: str) -> np.ndarray:
    """:func:`open_state` of each hours text (each distinct text parsed once).

    Parameters
    ----------
    hours_texts : sequence of str
        Opening-hours texts.
    now : datetime
        A timezone-aware instant.
    tz : str
        The city's IANA zone.

    Returns
    -------
    numpy.ndarray
        Object array of :data:`OPEN_STATES` values.

    Examples
    --------
    >>> from datetime import timezone
    >>> open_states(["24h", "", "08:00-09:00"], datetime(2020, 2, 1, 4, 0, tzinfo=timezone.utc), "Asia/Shanghai").tolist()
    ['open', 'unknown', 'closed']
    """
    texts = ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in hours_texts]
    uniq = {t: open_state(parse_hours(t), now, tz) for t in set(texts)}
    return np.array([uniq[t] for t in texts], dtype=object)
