"""Stays and cases built in code for the companion-search tests, and the one-index reference search."""

from __future__ import annotations

import numpy as np
import pandas as pd
from forecast.contacts import StayIndex, find_companions

TZ = "Asia/Shanghai"
T0 = int(pd.Timestamp("2020-01-05", tz=TZ).timestamp())
DAY = 86_400


CONFIRMED = pd.Timestamp("2020-01-19")  # local day; window = 2020-01-04 .. 2020-01-19 inclusive


def random_stays(n_subs=300, n_days=15, n_cells=25, seed=0):
    """Non-overlapping random stays per subscriber (exact intervals, no n_pings)."""
    rng = np.random.default_rng(seed)
    per = n_days * 5
    dur = rng.integers(10, 300, (n_subs, per)) * 60
    gap = rng.integers(0, 90, (n_subs, per)) * 60
    start = T0 + np.cumsum(dur + gap, axis=1) - dur
    end = start + dur
    uid = np.repeat(np.arange(n_subs, dtype=np.int64) * 1_000_003 - 10**8, per)
    cell = rng.integers(0, n_cells, n_subs * per) + 500
    return pd.DataFrame({"uid": uid, "start_s": start.ravel(), "end_s": end.ravel(), "cell_id": cell})


def make_cases(uids, day=CONFIRMED):
    return pd.DataFrame({"case_id": [f"case{i}" for i in range(len(uids))], "uid": np.asarray(uids, np.int64),
                         "confirmed_date": day, "city_code": 330300, "community_id": 1})


def with_pings(stays: pd.DataFrame, seed: int = 4) -> pd.DataFrame:
    """Trigger-ended stays (n_pings), some sharing a boundary with the next: the midpoint rule applies."""
    rng = np.random.default_rng(seed)
    return stays.assign(n_pings=rng.integers(1, 8, len(stays)))


def one_index(stays, cases, **kw):
    out = find_companions(StayIndex.build(stays), cases, **kw)
    return out.drop(columns=["places"])
