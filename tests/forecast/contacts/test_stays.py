"""Companion-search stays at sites: radio ping-pong among a mast's cells neither cuts a stay nor hides a
companion (two phones at one spot camped on different sectors)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.contacts import StayIndex, contact_stays, find_companions, join_contact_stays, part_contact_stays

T0 = int(pd.Timestamp("2020-01-20 08:00", tz="Asia/Shanghai").timestamp())
# one mast with three sectors (cells 1-3, same position) and a mast 2 km north (cell 9)
CELLS = pd.DataFrame({"cell_id": [1, 2, 3, 9], "lon": [114.30, 114.30, 114.30, 114.30],
                      "lat": [30.60, 30.60, 30.60, 30.618], "city_code": 420100, "community_id": [1, 1, 1, 2]})


def _pingpong(uid, cells, start_s, minutes, every_s=300, seed=0):
    """A phone that does not move, served by a random one of ``cells`` at each ping."""
    rng = np.random.default_rng(seed)
    ts = start_s + np.arange(0, minutes * 60 + 1, every_s)
    return pd.DataFrame({"uid": uid, "ts_s": ts, "cell_id": rng.choice(cells, len(ts))})


def test_a_phone_served_by_a_masts_sectors_in_turn_makes_one_stay():
    pings = pd.concat([_pingpong(1, [1, 2, 3], T0, 180), _pingpong(1, [9], T0 + 200 * 60, 60)], ignore_index=True)
    assert (pings["cell_id"].iloc[1:37].to_numpy() != pings["cell_id"].iloc[:36].to_numpy()).mean() > 0.5
    at_sites = contact_stays(pings, CELLS)
    assert at_sites["cell_id"].tolist() == [1, 9]
    assert at_sites["start_s"].iloc[0] == T0 and at_sites["end_s"].iloc[0] == T0 + 200 * 60
    per_cell = contact_stays(pings, CELLS, site_radius_m=None)
    assert len(per_cell) < 2 or per_cell["end_s"].sub(per_cell["start_s"]).max() < 180 * 60


def test_two_phones_at_one_mast_on_different_sectors_are_companions_at_sites_only():
    case = _pingpong(1, [1], T0, 120)  # the case camps on sector 1 for two hours
    other = _pingpong(2, [2, 3], T0, 120, seed=1)  # the companion on sectors 2 and 3
    far = _pingpong(3, [9], T0, 120, seed=2)  # someone 2 km away at the same time
    pings = pd.concat([case, other, far], ignore_index=True).sort_values(["uid", "ts_s"], ignore_index=True)
    cases = pd.DataFrame({"case_id": ["c1"], "uid": [1], "confirmed_date": [pd.Timestamp("2020-01-21")]})

    def found(site_radius_m):
        stays = contact_stays(pings, CELLS, site_radius_m=site_radius_m)
        got = find_companions(StayIndex.build(stays, CELLS), cases, as_of=pd.Timestamp("2020-01-22"))
        return got[got["shared_minutes"] >= 60]

    at_sites = found(100.0)
    assert at_sites["uid"].tolist() == [2] and at_sites["shared_minutes"].iloc[0] >= 110
    assert found(None).empty  # per cell the two phones never share a place


def test_daily_parts_at_sites_join_into_the_stays_of_one_pass():
    days = [_pingpong(7, [1, 2, 3], T0 + d * 86_400, 15 * 60, every_s=600, seed=d) for d in range(3)]
    pings = pd.concat(days, ignore_index=True)
    parts = pd.concat([part_contact_stays(p, CELLS) for p in days], ignore_index=True)
    joined = join_contact_stays(parts)
    whole = contact_stays(pings, CELLS)
    cols = ["uid", "start_s", "end_s", "cell_id", "n_pings"]
    pd.testing.assert_frame_equal(joined[cols], whole[cols].sort_values(["uid", "start_s"], ignore_index=True))
    assert len(joined) == 1 and joined["n_pings"].iloc[0] == len(pings)  # three days, one site, one stay
