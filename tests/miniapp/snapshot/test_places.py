"""The snapshot's place index answers exactly as the engine's reference rule, without a data frame per question."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.places import nearest_places
from miniapp.snapshot.places import PlaceIndex


def _random_places(rng: np.random.Generator, n: int) -> pd.DataFrame:
    lon = 114.3 + rng.normal(0, 0.2, n)
    lat = 30.6 + rng.normal(0, 0.2, n)
    dup = rng.random(n) < 0.1  # exact ties of position: table order must decide
    lon[dup], lat[dup] = 114.3, 30.6
    return pd.DataFrame({"place_id": [f"p{i}" for i in range(n)], "name": [f"场所{i}" for i in range(n)],
                         "city_code": rng.integers(420100, 420105, n), "lon": lon, "lat": lat})


def test_nearest_equals_the_engine_rule_on_random_sets():
    rng = np.random.default_rng(11)
    for _ in range(200):
        places = _random_places(rng, int(rng.integers(0, 60)))
        before = places.copy()
        lon, lat = 114.3 + rng.normal(0, 0.1), 30.6 + rng.normal(0, 0.1)
        limit, radius_m = int(rng.integers(1, 8)), float(rng.choice([2_000.0, 20_000.0, 50_000.0]))
        got = PlaceIndex.of(places).nearest(lon, lat, limit, radius_m)
        want = nearest_places(places, lon, lat, limit=limit, radius_m=radius_m)
        assert [r["place_id"] for r in got] == want["place_id"].tolist()
        assert np.array_equal(np.array([r["distance_m"] for r in got], dtype=float), want["distance_m"].to_numpy())
        assert all(type(r["city_code"]) is int for r in got)  # plain values, ready for JSON and templates
        pd.testing.assert_frame_equal(places, before)


def test_missing_values_are_none_and_answers_do_not_share_rows():
    places = pd.DataFrame({"place_id": ["a", "b"], "what": ["超市", np.nan], "lon": [114.3, 114.31], "lat": [30.6, 30.6]})
    index = PlaceIndex.of(places)
    first = index.nearest(114.31, 30.6, 5, 50_000.0)
    assert [r["place_id"] for r in first] == ["b", "a"] and first[0]["what"] is None
    first[0]["name"] = "changed"
    assert "name" not in index.nearest(114.31, 30.6, 5, 50_000.0)[0]
    assert index.nearest(0.0, 0.0, 5, 50_000.0) == [] and PlaceIndex.of(places.iloc[:0]).nearest(0, 0, 5, 1e9) == []
