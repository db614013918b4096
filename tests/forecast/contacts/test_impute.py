"""Silent days in the companion search: cutting them out and imputing the subscriber's routine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.contacts import cut_silent_days, impute_silent_days, routine_cells
from forecast.schema import STAYS

TZ = "Asia/Shanghai"
MONDAY = pd.Timestamp("2020-01-06")
T0 = int(MONDAY.tz_localize(TZ).timestamp())
DAY, H = 86_400, 3600


def week_of_stays(uid: int, days, *, work_cell=2, home_cell=1, evening_cells=None):
    """Home at night, work 9-17 on weekdays (home on weekends), one continuous stay list over ``days``
    (day offsets from Monday 2020-01-06), bridged across days that are not listed (as join_contact_stays
    does: the stay before the silence runs to the next one)."""
    rows = []
    for i, d in enumerate(days):
        base = T0 + d * DAY
        weekend = (MONDAY + pd.Timedelta(days=d)).day_of_week >= 5
        if not weekend:
            rows.append((base + 9 * H, base + 17 * H, work_cell))
        if evening_cells is not None:
            rows.append((base + 19 * H, base + 21 * H, evening_cells[i % len(evening_cells)]))
    rows.sort()
    out, t = [], T0 + days[0] * DAY - 6 * H
    for s, e, c in rows:  # home fills the time between the day's stays
        out.append((t, s, home_cell))
        out.append((s, e, c))
        t = e
    out.append((t, T0 + (days[-1] + 1) * DAY, home_cell))
    return pd.DataFrame({"uid": uid, "start_s": [r[0] for r in out], "end_s": [r[1] for r in out],
                         "cell_id": [r[2] for r in out], "lon": 0.0, "lat": 0.0, "city_code": 1,
                         "community_id": 1, "n_pings": 6}).astype(STAYS)


def seen_of(uid: int, days) -> pd.DataFrame:
    return pd.DataFrame({"uid": uid, "local_date": [MONDAY + pd.Timedelta(days=d) for d in days]})


def test_cut_removes_exactly_the_silent_days_and_keeps_the_rest():
    days = [0, 1, 2, 4, 5, 6]  # Thursday silent
    stays = week_of_stays(7, days)
    other = week_of_stays(8, list(range(7)))
    both = pd.concat([stays, other], ignore_index=True)
    before = both.copy()
    got = cut_silent_days(both, pd.concat([seen_of(7, days), seen_of(8, range(7))]), first_day=MONDAY,
                          last_day=MONDAY + pd.Timedelta(days=6), tz=TZ)
    pd.testing.assert_frame_equal(both, before)  # input not modified
    g7, g8 = got[got["uid"] == 7], got[got["uid"] == 8]
    thu0, thu1 = T0 + 3 * DAY, T0 + 4 * DAY
    assert not ((g7["start_s"] < thu1) & (g7["end_s"] > thu0)).any()
    # the time outside Thursday is unchanged
    full = (stays["end_s"] - stays["start_s"]).sum()
    assert (g7["end_s"] - g7["start_s"]).sum() == full - DAY
    pd.testing.assert_frame_equal(g8.reset_index(drop=True), other)


def test_cut_leaves_subscribers_never_seen_and_days_outside_the_range():
    stays = week_of_stays(7, [0, 1, 2])
    got = cut_silent_days(stays, seen_of(9, [0]), first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=2), tz=TZ)
    pd.testing.assert_frame_equal(got, stays)
    # day 3 is silent but outside the data's days: nothing is cut there
    got = cut_silent_days(stays, seen_of(7, [0, 1, 2]), first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=2),
                          tz=TZ)
    pd.testing.assert_frame_equal(got, stays)


def test_routine_needs_share_and_days():
    days = [0, 1, 2, 3, 4]
    stays = week_of_stays(7, days, evening_cells=[5, 5, 6, 6, 7])  # evenings: 2/5 at 5, 2/5 at 6
    seen = seen_of(7, days)
    r = routine_cells(stays, seen, first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=4), tz=TZ)
    by_hour = r.set_index("hour")["cell_id"]
    assert by_hour[3] == 1 and by_hour[12] == 2  # home at night, work by day
    assert 20 not in by_hour.index  # the evening is at no cell on >= 60 % of the days
    low = routine_cells(stays, seen, first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=4), min_share=0.4,
                         min_days=2, tz=TZ)
    assert low.set_index("hour")["cell_id"][20] in (5, 6)
    strict = routine_cells(stays, seen, first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=4), min_days=6, tz=TZ)
    assert strict.empty  # only 5 seen days


def test_imputed_day_follows_the_weekday_routine_not_the_bridge():
    silent_sat = 12
    days = [d for d in range(14) if d not in (3, silent_sat)]  # silent: the first Thursday, the second Saturday
    stays = week_of_stays(7, days)
    seen = seen_of(7, days)
    last = MONDAY + pd.Timedelta(days=13)
    got = impute_silent_days(stays, seen, first_day=MONDAY, last_day=last, tz=TZ)
    imp = got[got["imputed"]]
    thu = imp[(imp["start_s"] >= T0 + 3 * DAY) & (imp["start_s"] < T0 + 4 * DAY)]
    assert list(zip((thu["start_s"] - T0 - 3 * DAY) // H, thu["cell_id"])) == [(0, 1), (9, 2), (17, 1)]
    sat = imp[(imp["start_s"] >= T0 + silent_sat * DAY) & (imp["start_s"] < T0 + (silent_sat + 1) * DAY)]
    assert set(sat["cell_id"]) == {1}  # weekends are at home, never at work
    # the imputed stays fill the silent days exactly, and nothing overlaps
    g = got.sort_values("start_s")
    assert (g["start_s"].to_numpy()[1:] >= g["end_s"].to_numpy()[:-1]).all()
    assert (imp["end_s"] - imp["start_s"]).sum() == 2 * DAY
    assert (imp["n_pings"] == (imp["end_s"] - imp["start_s"]) // 60).all()
    assert list(got.columns) == list(STAYS) + ["imputed"]


def test_without_weekday_split_a_weekend_gets_the_weekday_routine():
    days = [0, 1, 2, 3, 4, 5, 7, 8]  # Sunday (6) silent, one weekend day seen
    stays = week_of_stays(7, days)
    got = impute_silent_days(stays, seen_of(7, days), first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=8),
                             by_weekday=False, tz=TZ)
    sun = got[got["imputed"]]
    assert 2 in set(sun["cell_id"])
    split = impute_silent_days(stays, seen_of(7, days), first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=8),
                               tz=TZ)
    assert not split["imputed"].any()  # one seen weekend day < min_days: no weekend routine


@pytest.mark.parametrize("n_rows", [0, 1])
def test_empty_and_nothing_silent(n_rows):
    stays = week_of_stays(7, [0, 1]).iloc[:n_rows] if n_rows else week_of_stays(7, [0]).iloc[:0]
    got = impute_silent_days(stays, seen_of(7, [0, 1]), first_day=MONDAY, last_day=MONDAY + pd.Timedelta(days=1),
                             tz=TZ)
    assert len(got) == len(stays) and not got["imputed"].any()


def _cell_at(stays: pd.DataFrame, uid: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The cell of the stay covering each (uid, t); -1 where none does."""
    q = pd.DataFrame({"uid": uid, "t": t, "row": np.arange(len(t))}).sort_values("t")
    s = stays.rename(columns={"start_s": "t"})[["uid", "t", "end_s", "cell_id"]].sort_values("t")
    m = pd.merge_asof(q, s, on="t", by="uid")
    cell = np.where(m["end_s"].to_numpy(np.float64) > m["t"].to_numpy(np.float64),
                    m["cell_id"].fillna(-1).to_numpy(np.float64), -1)
    out = np.empty(len(t), np.int64)
    out[m["row"].to_numpy()] = cell.astype(np.int64)
    return out


def test_on_the_synthetic_nation_imputed_days_are_its_silent_days_and_beat_the_bridge():
    """On generated pings: the days imputed are among the synth's silent days, and at the imputed hours the
    imputed cell is the true place's cell more often than the cell the bridged stays claim."""
    from forecast.synth import nation as synth
    from forecast.contacts import CONTACT_STAY_PARAMS, contact_stays

    nation = synth.generate_nation(synth.NationConfig(n_subscribers=600, n_cities=2, n_days=14, seed=3), b"k" * 32)
    pings = nation.canonical_pings()
    bridged = contact_stays(pings, nation.cells, **CONTACT_STAY_PARAMS)
    day = pd.to_datetime(pings["ts_s"], unit="s", utc=True).dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    seen = pd.DataFrame({"uid": pings["uid"], "local_date": day}).drop_duplicates()
    got = impute_silent_days(bridged, seen, first_day=day.min(), last_day=day.max(), tz=TZ)
    imp = got[got["imputed"]]
    assert len(imp) and not got.loc[~got["imputed"], list(STAYS)].empty
    imp_day = pd.to_datetime(imp["start_s"], unit="s", utc=True).dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    silent = set(zip(nation.silent_days["uid"], pd.to_datetime(nation.silent_days["local_date"])))
    assert set(zip(imp["uid"], imp_day)) <= silent
    # every imputed hour, probed at its half hour
    n_hours = ((imp["end_s"] - imp["start_s"]) // H).to_numpy()
    uid = np.repeat(imp["uid"].to_numpy(), n_hours)
    t = np.repeat(imp["start_s"].to_numpy(), n_hours) + H // 2 + H * (
        np.arange(n_hours.sum()) - np.repeat(np.cumsum(n_hours) - n_hours, n_hours))
    place_cell = nation.places.set_index("place_id")["cell_id"]
    true = nation.true_stays.assign(cell_id=place_cell.reindex(nation.true_stays["place_id"]).to_numpy())
    truth = _cell_at(true, uid, t)
    assert (truth >= 0).all()
    right_imputed = np.mean(_cell_at(imp, uid, t) == truth)
    right_bridged = np.mean(_cell_at(bridged, uid, t) == truth)
    assert right_imputed > right_bridged
