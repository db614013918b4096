"""Trips between >= 2 h stays, daily flows, inflow from a city, round trips."""

from __future__ import annotations

import pandas as pd

from forecast.flows import daily_flows, inflow_from, round_trip_counts, round_trips, trips
from forecast.schema import FLOWS

D0 = int(pd.Timestamp("2020-01-20", tz="Asia/Shanghai").timestamp())
H = 3600


def _stays(rows):
    uid, start_h, end_h, city = zip(*rows)
    return pd.DataFrame({"uid": uid, "start_s": [D0 + int(h * H) for h in start_h],
                         "end_s": [D0 + int(h * H) for h in end_h], "city_code": city})


def test_trips_skip_short_stays_between_long_ones():
    st = _stays([
        (1, 0, 9, 420100),
        (1, 10, 10.5, 421000),  # 30 min at a station: passed through
        (1, 12, 20, 110000),
        (1, 21, 22, 110000),  # same city: no trip
        (2, 0, 1, 420100),  # 1 h: too short to be an origin
        (2, 2, 8, 110000),
    ])
    t = trips(st)
    assert t[["uid", "origin", "destination"]].values.tolist() == [[1, 420100, 110000]]
    assert t["depart_s"].iloc[0] == D0 + 9 * H and t["arrive_s"].iloc[0] == D0 + 12 * H
    assert str(t["local_date"].iloc[0].date()) == "2020-01-20"


def test_daily_flows_inflow_and_round_trips():
    st = _stays([
        (1, 0, 9, 420100), (1, 12, 40, 110000), (1, 50, 70, 420100),
        (2, 0, 9, 420100), (2, 12, 20, 110000),
        (3, 0, 9, 420100), (3, 12, 20, 310000),
    ])
    t = trips(st)
    f = daily_flows(t)
    assert f.dtypes.astype(str).to_dict() == FLOWS
    assert f["trips"].sum() == 4
    inflow = inflow_from(f, 420100, by_day=False)
    assert inflow[["destination", "trips"]].values.tolist() == [[110000, 2], [310000, 1]]
    assert inflow_from(f, 420100, start_date="2020-01-21")["trips"].sum() == 0
    rt = round_trips(t)
    assert rt[["uid", "origin", "destination"]].values.tolist() == [[1, 420100, 110000]]
    assert rt["return_s"].iloc[0] == D0 + 50 * H
    assert len(round_trips(t, max_away_days=0.5)) == 0  # away 31 h
    assert round_trip_counts(rt).values.tolist() == [[420100, 110000, 1, 1]]


def test_empty_inputs_give_empty_tables():
    empty_stays = _stays([(1, 0, 1, 1)]).iloc[:0]
    t = trips(empty_stays)
    assert t.empty and daily_flows(t).empty and round_trips(t).empty and round_trip_counts(round_trips(t)).empty
