"""Sites: the cells of one mast are one place, whatever the order of the table, without chaining."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.stays import CellTable, cell_sites, pings_at_sites

M_PER_DEG_LAT = 6_371_000.0 * np.pi / 180.0


def _cells(north_m, east_m=None, ids=None):
    north_m = np.asarray(north_m, float)
    east_m = np.zeros_like(north_m) if east_m is None else np.asarray(east_m, float)
    lat = 30.0 + north_m / M_PER_DEG_LAT
    lon = 114.0 + east_m / (M_PER_DEG_LAT * np.cos(np.radians(30.0)))
    ids = np.arange(1, len(north_m) + 1) if ids is None else np.asarray(ids)
    return pd.DataFrame({"cell_id": ids, "lon": lon, "lat": lat, "city_code": 420100, "community_id": 1})


def _dist_m(a, b):
    la, lb = np.radians(a["lat"].to_numpy()), np.radians(b["lat"].to_numpy())
    dl = np.radians(a["lon"].to_numpy() - b["lon"].to_numpy())
    h = np.sin((lb - la) / 2) ** 2 + np.cos(la) * np.cos(lb) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(h))


def test_sectors_of_a_mast_share_a_site_and_a_mast_300_m_away_does_not():
    cells = _cells([0, 0, 0, 60, 300, 300], ids=[14, 12, 13, 15, 21, 20])
    assert cell_sites(cells, radius_m=100).tolist() == [12, 12, 12, 12, 20, 20]
    assert cell_sites(cells, radius_m=None).tolist() == [14, 12, 13, 15, 21, 20]


def test_every_cell_is_within_the_radius_of_its_lead_so_a_street_of_masts_does_not_chain():
    cells = _cells(np.arange(20) * 80.0)  # a mast every 80 m: each within 100 m of the next
    lead = cell_sites(cells, radius_m=100)
    assert len(np.unique(lead)) == 10  # pairs, not one site along the street
    lead_rows = cells.set_index("cell_id").loc[lead].reset_index()
    assert (_dist_m(cells, lead_rows) <= 100.0 + 1e-6).all()


def test_sites_do_not_depend_on_the_order_of_the_rows():
    rng = np.random.default_rng(5)
    cells = _cells(rng.uniform(0, 2000, 400), rng.uniform(0, 2000, 400), ids=rng.permutation(400) * 3 + 7)
    want = pd.Series(cell_sites(cells, 100), index=cells["cell_id"])
    shuffled = cells.sample(frac=1.0, random_state=2)
    got = pd.Series(cell_sites(shuffled, 100), index=shuffled["cell_id"])
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index())
    assert want.nunique() < len(cells)  # some cells were grouped (the test is not vacuous)
    # each lead leads itself, and is the smallest id of its site
    assert (want.loc[want.unique()].to_numpy() == want.unique()).all()
    assert (want.groupby(want).apply(lambda s: s.index.min()) == want.groupby(want).first().index).all()


def test_a_site_id_column_is_used_as_given():
    cells = _cells([0, 0, 5000], ids=[31, 30, 40]).assign(site_id=[7, 8, 7])
    assert cell_sites(cells).tolist() == [31, 30, 31]  # 31 and 40 share mast 7 though 5 km apart
    assert cell_sites(CellTable(cells)).tolist() == [31, 30, 31]


def test_pings_at_sites_maps_cells_and_refuses_unknown_ones():
    cells = _cells([0, 0], ids=[5, 6])
    pings = pd.DataFrame({"uid": [1, 1, 1], "ts_s": [0, 60, 120], "cell_id": [6, 5, 6]})
    before = pings.copy()
    assert pings_at_sites(pings, cells)["cell_id"].tolist() == [5, 5, 5]
    pd.testing.assert_frame_equal(pings, before)  # input not modified
    with pytest.raises(ValueError, match="missing from the cells table"):
        pings_at_sites(pings.assign(cell_id=[6, 9, 5]), cells)
    with pytest.raises(ValueError, match="radius_m"):
        cell_sites(cells, radius_m=0)
