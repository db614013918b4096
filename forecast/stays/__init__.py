"""Stays: where a subscriber stayed, from the pings (the sliding rule of Li et al. 2008).

- :mod:`~forecast.stays.detect`: :func:`detect_stays` (trackintel-equivalent staypoints) and the
  learned serving city of each tower (:func:`learn_serving_cities`);
- :mod:`~forecast.stays.scan`: the vectorised scan behind it (anchors by radius, majorities);
- :mod:`~forecast.stays.kernel`: the compiled scan (numba; feed grouping, runs, border smoothing,
  anchors, stay attributes), the default; the numpy code stays the reference (``scan="numpy"``);
- :mod:`~forecast.stays.border`: border smoothing, the city of a visit near a border;
- :mod:`~forecast.stays.cells`: :class:`CellTable`, the cells table as the scan reads it;
- :mod:`~forecast.stays.sites`: the site (mast) of each cell, the companion search's place
  (:func:`cell_sites`, :func:`pings_at_sites`);
- :mod:`~forecast.stays.compiled`: :func:`njit_cached`, numba with an on-disk cache where possible.
"""

from forecast.stays.cells import CellTable
from forecast.stays.detect import detect_stays, learn_serving_cities, sort_pings, sort_stays, uid_start_order
from forecast.stays.scan import EARTH_RADIUS_M
from forecast.stays.sites import cell_sites, pings_at_sites

__all__ = ["CellTable", "EARTH_RADIUS_M", "cell_sites", "detect_stays", "learn_serving_cities", "pings_at_sites",
           "sort_pings", "sort_stays", "uid_start_order"]
