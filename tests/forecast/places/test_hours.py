"""Opening hours: open now in the city's zone, never open when unknown."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from forecast.places import open_state, open_states, parse_hours

TZ = "Asia/Shanghai"


def at_local(hour: int, minute: int = 0, day: int = 10) -> datetime:  # 2020-02-10 is a Monday
    return datetime(2020, 2, day, (hour - 8) % 24, minute, tzinfo=timezone.utc) if hour >= 8 else \
        datetime(2020, 2, day - 1, hour + 16, minute, tzinfo=timezone.utc)


@pytest.mark.parametrize("text,hour,want", [
    ("08:00-17:00", 7, "closed"), ("08:00-17:00", 8, "open"), ("08:00-17:00", 17, "closed"),
    ("08:00-12:00,14:00-17:30", 13, "closed"), ("08:00-12:00；14:00-17:30", 15, "open"),
    ("20:00-08:00", 23, "open"), ("20:00-08:00", 3, "open"), ("20:00-08:00", 12, "closed"),
    ("24小时", 3, "open"), ("", 12, "unknown"), ("周六至周日 08:00-17:00", 12, "closed"),
    ("Mon-Fri 08:00-17:00", 12, "open"),
])
def test_open_state(text, hour, want):
    assert open_state(parse_hours(text), at_local(hour), TZ) == want


def test_unreadable_hours_are_none_and_never_open():
    assert parse_hours("sometimes") is None and parse_hours("25:00-26:00") is None
    assert open_state(None, at_local(12), TZ) == "unknown"
    assert open_states(["24h", None, float("nan")], at_local(12), TZ).tolist() == ["open", "unknown", "unknown"]
    with pytest.raises(ValueError):
        open_state(parse_hours("24h"), datetime(2020, 2, 10, 12), TZ)
