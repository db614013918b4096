"""WGS-84 <-> GCJ-02, the offset datum of maps published in mainland China.

Chinese tile providers (AutoNavi/Gaode, Tencent, and Baidu's base before its own BD-09 shift) draw
their tiles in GCJ-02: a WGS-84 point must be shifted (a few hundred metres) before it is drawn on
them. The forward formula is the one published in the open-source ``eviltransform`` and
``coordtransform`` libraries (Krasowsky 1940 ellipsoid, a = 6378245 m, e^2 = 0.00669342162296594323);
outside mainland China no shift applies. The inverse has no closed form: it is solved by fixed-point
iteration to better than 1 mm.
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0
_EE = 0.00669342162296594323
# The rough bounding box the published formula treats as "in China" (outside: no shift).
CHINA_LON = (72.004, 137.8347)
CHINA_LAT = (0.8293, 55.8271)


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon >= CHINA_LON[0]) & (lon <= CHINA_LON[1]) & (lat >= CHINA_LAT[0]) & (lat <= CHINA_LAT[1])


def _delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
             + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
             + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Shift WGS-84 degrees to GCJ-02 (unchanged outside mainland China's box).

    Parameters
    ----------
    lon, lat : float or array-like
        WGS-84 degrees.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        GCJ-02 longitude and latitude (new arrays; the inputs are not changed).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.377817, 39.911954)  # Beijing, eviltransform's go/transform_test.go
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.384047, 39.913345)
    >>> [float(v) for v in wgs84_to_gcj02(2.3522, 48.8566)]  # Paris: no shift
    [2.3522, 48.8566]
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    d_lon, d_lat = _delta(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_wgs84(lon, lat, *, tolerance_deg: float = 1e-9, max_iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Undo the GCJ-02 shift: the WGS-84 point whose shift lands on (``lon``, ``lat``).

    Fixed-point iteration ``w <- w - (f(w) - g)``; it converges in a few steps because the shift
    changes slowly (about 1e-4 of a degree per degree).

    Parameters
    ----------
    lon, lat : float or array-like
        GCJ-02 degrees.
    tolerance_deg : float
        Stop when every point moves less than this (1e-9 degrees is about 0.1 mm).
    max_iterations : int
        Upper bound on iterations.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        WGS-84 longitude and latitude.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(116.38404722455657, 39.91334545536069)
    >>> round(float(lon), 6), round(float(lat), 6)
    (116.377817, 39.911954)
    """
    g_lon = np.asarray(lon, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iterations):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if max(float(np.max(np.abs(e_lon), initial=0.0)), float(np.max(np.abs(e_lat), initial=0.0))) < tolerance_deg:
            break
    return w_lon, w_lat
