"""Nearest places: distances equal a plain-Python haversine reference, order equals a brute-force sort."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from forecast.places import EARTH_RADIUS_M, haversine_m, nearest_places, round_position


def reference_haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The textbook haversine, scalar, with the math module (independent of the numpy code)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


lons = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)
lats = st.floats(min_value=18.0, max_value=53.0, allow_nan=False)
points = st.lists(st.tuples(lons, lats), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(points, lons, lats, st.integers(min_value=1, max_value=10))
def test_nearest_distances_equal_the_reference_and_are_the_k_smallest(pts, lon, lat, limit):
    places = pd.DataFrame({"name": [f"p{i}" for i in range(len(pts))], "lon": [p[0] for p in pts],
                           "lat": [p[1] for p in pts]})
    before = places.copy()
    out = nearest_places(places, lon, lat, limit=limit)
    ref = sorted((reference_haversine_m(x, y, lon, lat), i) for i, (x, y) in enumerate(pts))[:limit]
    assert len(out) == min(limit, len(pts))
    for got, (want, _) in zip(out["distance_m"], ref):
        assert got == pytest_approx(want)
    for row in out.itertuples():
        assert row.distance_m == pytest_approx(reference_haversine_m(row.lon, row.lat, lon, lat))
    pd.testing.assert_frame_equal(places, before)  # the input is not changed


def pytest_approx(v: float):
    import pytest

    return pytest.approx(v, rel=1e-9, abs=1e-6)


def test_known_distance_and_radius():
    # Beijing Tiananmen to Shanghai People's Square: about 1,068 km
    assert float(haversine_m(116.3975, 39.9087, 121.4737, 31.2304)) / 1000 == pytest_approx_km(1068)
    p = pd.DataFrame({"lon": [114.30, 114.40], "lat": [30.60, 30.60]})
    assert nearest_places(p, 114.30, 30.60, radius_m=1000)["lon"].tolist() == [114.30]
    assert nearest_places(p.iloc[:0], 114.3, 30.6).empty


def pytest_approx_km(v):
    import pytest

    return pytest.approx(v, abs=1.0)


def test_rounding_is_about_a_kilometre_at_most():
    lon, lat = 114.30561, 30.59274
    r = round_position(lon, lat)
    assert r == (114.31, 30.59)
    assert float(haversine_m(lon, lat, *r)) < 800  # half of 0.01 degree each way
    assert np.isfinite(haversine_m(0, 90, 180, -90))
