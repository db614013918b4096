"""Great-circle distances and the nearest places to a point, vectorised.

Distances are haversine distances on a sphere of radius :data:`EARTH_RADIUS_M` (the IUGG mean
radius, 6,371,008.8 m): within 0.5 % of the ellipsoid's, which is far below what a "1.2 km away"
answer needs. Coordinates are WGS-84 degrees (what feeds and phones give).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8
# About 1.1 km of latitude: how a phone's position is rounded before it leaves the device.
ROUND_DEGREES = 2


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (arrays broadcast).

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : float or array-like
        Longitudes and latitudes in degrees (WGS-84).

    Returns
    -------
    numpy.ndarray
        Distances in metres (a 0-d array for scalars).

    Examples
    --------
    >>> round(float(haversine_m(116.3975, 39.9087, 121.4737, 31.2304)) / 1000)  # Beijing - Shanghai
    1068
    >>> float(haversine_m(114.3, 30.6, 114.3, 30.6))
    0.0
    """
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((phi2 - phi1) / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def round_position(lon: float, lat: float, digits: int = ROUND_DEGREES) -> tuple[float, float]:
    """A position rounded to ``digits`` decimals of a degree (2: about 1.1 km), for privacy.

    Parameters
    ----------
    lon, lat : float
        Degrees.
    digits : int
        Decimals kept.

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> round_position(114.30561, 30.59274)
    (114.31, 30.59)
    """
    return round(float(lon), digits), round(float(lat), digits)


def nearest_places(places: pd.DataFrame, lon: float, lat: float, *, limit: int = 5,
                   radius_m: float | None = None) -> pd.DataFrame:
    """The ``limit`` places nearest to (``lon``, ``lat``), nearest first, with ``distance_m``.

    Parameters
    ----------
    places : DataFrame
        Any table with ``lon`` and ``lat`` columns (degrees); other columns are kept.
    lon, lat : float
        The point, degrees.
    limit : int
        Most rows returned.
    radius_m : float, optional
        Only places within this distance.

    Returns
    -------
    DataFrame
        A new frame: the nearest rows with a ``distance_m`` column, sorted by distance then by their
        order in ``places`` (ties keep input order); the input is not changed.

    Examples
    --------
    >>> p = pd.DataFrame({"name": ["a", "b", "c"], "lon": [114.30, 114.31, 114.40], "lat": [30.60, 30.60, 30.60]})
    >>> out = nearest_places(p, 114.309, 30.60, limit=2)
    >>> out["name"].tolist(), out["distance_m"].round().tolist()
    (['b', 'a'], [96.0, 861.0])
    """
    if not len(places) or limit <= 0:
        return places.iloc[:0].assign(distance_m=np.zeros(0))
    d = haversine_m(places["lon"].to_numpy(dtype=np.float64), places["lat"].to_numpy(dtype=np.float64), lon, lat)
    keep = np.flatnonzero(np.isfinite(d) & ((d <= radius_m) if radius_m is not None else True))
    order = keep[np.argsort(d[keep], kind="stable")][:limit]
    return places.iloc[order].assign(distance_m=d[order]).reset_index(drop=True)
