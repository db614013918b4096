"""Column parsers (forecast/feeds/parse.py): Arrow's fast path gives what the forgiving parser gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from forecast.feeds.parse import Problems, cast_text_fast, parse_int, parse_ts

ODD_TIMES = ["2020-01-23 10:00", "1579744800", "soon", "", None, " 2020-01-23T02:00:00Z ", "2020-01-23T10:00:00.5+08:00",
             "2020-01-23T10:00:00+0800", "2020-01-23T10:00+08", "2100-01-01T00:00:00Z", "2020-02-30T10:00:00+08:00"]
ODD_INTS = ["12", " 12 ", "12.0", "1.5", "x", "", None, "-7", "+3", "1234567890123456789", "00042"]


def _column(good: list[str], odd: list, n_odd: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    values = list(good)
    for pos in rng.choice(len(values), size=n_odd, replace=False):
        values[pos] = odd[pos % len(odd)]
    return values


def _parse_both(parser, values: list, **kw):
    """(values, reasons) through the Arrow-backed column and through a plain object column (slow path)."""
    out = []
    for dtype in ("str", object):
        p = Problems(len(values))
        v = parser(pd.Series(values, dtype=dtype), "col", p, **kw)
        out.append((v, p.reasons()))
    return out


@pytest.mark.parametrize("n_odd", [0, 3, 40, 2_000])
def test_fast_timestamps_equal_the_slow_parser(n_odd):
    base = 1_579_700_000
    good = [pd.Timestamp(base + 37 * i, unit="s", tz="UTC").tz_convert("Asia/Shanghai").isoformat()
            for i in range(20_000)]
    values = _column(good, ODD_TIMES, n_odd, seed=n_odd)
    (fast, fast_r), (slow, slow_r) = _parse_both(parse_ts, values, tz="Asia/Shanghai")
    assert fast.tolist() == slow.tolist()
    assert fast_r.tolist() == slow_r.tolist()
    untouched = np.array([v == g for v, g in zip(values, good)])
    assert (fast[untouched] == base + 37 * np.flatnonzero(untouched)).all()
    assert (fast_r[untouched] == "").all()


def test_a_few_bad_rows_cost_only_their_pieces():
    """Sparse bad rows (missed by the sample): the chunk is halved down to the pieces holding them,
    which the slow path parses; every other row takes the fast path, and no row is lost."""
    good = ["2020-01-23T10:00:00+08:00"] * 50_000
    values = [v if i % 4_000 != 1_234 else "bad" for i, v in enumerate(good)]
    fast_ok = cast_text_fast(pd.Series(values, dtype="str"), pa.timestamp("s", tz="UTC"))[1]
    assert 50_000 - 13 * 4_096 <= fast_ok.sum() < 50_000 - 13
    (fast, fast_r), (slow, slow_r) = _parse_both(parse_ts, values, tz="Asia/Shanghai")
    assert fast.tolist() == slow.tolist() and fast_r.tolist() == slow_r.tolist()
    assert (fast_r == "bad_ts").sum() == 13 and (fast[fast_r == ""] == 1_579_744_800).all()


def test_many_bad_rows_send_the_chunk_to_the_slow_path():
    values = ["2020-01-23T10:00:00+08:00", "2020-01-23 10:00:00"] * 10_000  # half naive local times
    assert not cast_text_fast(pd.Series(values, dtype="str"), pa.timestamp("s", tz="UTC"))[1].any()
    (fast, fast_r), (slow, _) = _parse_both(parse_ts, values, tz="Asia/Shanghai")
    assert fast.tolist() == slow.tolist() and (fast == 1_579_744_800).all() and (fast_r == "").all()


@pytest.mark.parametrize("n_odd", [0, 5, 500])
def test_fast_integers_equal_the_slow_parser(n_odd):
    good = [str(100_000_000 + i) for i in range(10_000)]
    values = _column(good, ODD_INTS, n_odd, seed=n_odd)
    (fast, fast_r), (slow, slow_r) = _parse_both(parse_int, values)
    assert fast.tolist() == slow.tolist()
    assert fast_r.tolist() == slow_r.tolist()
    if n_odd:
        assert {"bad_type", "missing_value"} <= set(fast_r.tolist())
