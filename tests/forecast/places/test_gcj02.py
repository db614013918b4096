"""WGS-84 <-> GCJ-02 against published reference pairs, within 1 m both ways.

The pairs are the test points of the open-source eviltransform library (googollee/eviltransform,
go/transform_test.go: Shanghai, Shenzhen, Beijing; the same points appear in its C, JavaScript and
Python tests), given there as (wgsLat, wgsLng, gcjLat, gcjLng).
"""

from __future__ import annotations

import numpy as np
import pytest

from forecast.places import gcj02_to_wgs84, haversine_m, wgs84_to_gcj02

# (wgs_lat, wgs_lon, gcj_lat, gcj_lon), eviltransform go/transform_test.go
REFERENCE = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", REFERENCE)
def test_forward_within_1_m(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert float(haversine_m(lon, lat, gcj_lon, gcj_lat)) < 1.0
    assert float(haversine_m(wgs_lon, wgs_lat, gcj_lon, gcj_lat)) > 100  # the shift is real (hundreds of metres)


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", REFERENCE)
def test_inverse_within_1_m(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert float(haversine_m(lon, lat, wgs_lon, wgs_lat)) < 1.0


def test_vectorised_round_trip_and_no_shift_outside_china():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(75, 134, 500), rng.uniform(19, 52, 500)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert float(np.max(haversine_m(back[0], back[1], lon, lat))) < 0.01
    out = wgs84_to_gcj02([2.3522, -74.006], [48.8566, 40.7128])  # Paris, New York
    assert out[0].tolist() == [2.3522, -74.006] and out[1].tolist() == [48.8566, 40.7128]


def test_reference_errors_reported():
    """The figures of docs/places.md: the largest error over the reference points, in metres."""
    fwd = max(float(haversine_m(*wgs84_to_gcj02(w_lon, w_lat), g_lon, g_lat)) for w_lat, w_lon, g_lat, g_lon in REFERENCE)
    inv = max(float(haversine_m(*gcj02_to_wgs84(g_lon, g_lat), w_lon, w_lat)) for w_lat, w_lon, g_lat, g_lon in REFERENCE)
    print(f"gcj02 forward max error {fwd:.4f} m, inverse {inv:.4f} m")
    assert fwd < 1.0 and inv < 1.0
