"""Sites: the cells of one mast (or of masts a few tens of metres apart), one place for the search.

A phone that stays at one spot is often served alternately by a site's sector cells and the masts
next to it (radio ping-pong: the stream switches cell on most pings in dense cities). The itinerary's
stays absorb that with their radius (cells within ``radius_m`` of the stay's anchor are the stay);
the companion search matches stays by place key, so there a place must be a key that ping-pong does
not change: the site. Where the cells table names the site (``site_id``, e.g. the eNodeB of an LTE
cell), that is used; otherwise cells are grouped by distance: in ``cell_id`` order, each cell not yet
in a site leads a new one, which takes every cell not yet placed within ``radius_m`` of the lead. Every
cell of a site is thus within ``radius_m`` of its lead (the site is at most ``2 * radius_m`` across: no
chaining along a street of masts), and the grouping does not depend on the order of the table's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from forecast.stays.cells import CellTable
from forecast.stays.compiled import njit_cached
from forecast.stays.scan import EARTH_RADIUS_M

__all__ = ["cell_sites", "pings_at_sites"]


@njit_cached
def _lead_cells(order, indptr, indices):  # pragma: no cover - compiled
    """Greedy leaders over rows taken in ``order``: ``lead[row]`` is the row of the cell leading its site."""
    n = order.shape[0]
    lead = np.full(n, -1, np.int64)
    for k in range(n):
        i = order[k]
        if lead[i] >= 0:
            continue
        lead[i] = i
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if lead[j] < 0:
                lead[j] = i
    return lead


def cell_sites(cells: pd.DataFrame | CellTable, radius_m: float | None = 100.0) -> np.ndarray:
    """The lead cell of each cell's site: the ``cell_id`` the companion search keys a place by.

    Parameters
    ----------
    cells : DataFrame or CellTable
        CELLS table (``cell_id, lon, lat, city_code, community_id``), optionally with ``site_id``; a
        ``site_id`` column is used as it is (the lead of a site is its smallest ``cell_id``), and
        ``radius_m`` is then not used. Not modified.
    radius_m : float or None
        Cells within this distance (metres, great circle) of a site's lead cell belong to that site.
        ``None`` (and no ``site_id``): every cell is its own site.

    Returns
    -------
    ndarray of int64
        For each row of ``cells``, the ``cell_id`` of its site's lead cell (the smallest id of the
        site when grouped by distance, since leads are taken in ``cell_id`` order).

    Examples
    --------
    Two sector cells at one mast and a third cell 300 m east (0.0035 degrees of longitude at 40 N):

    >>> cells = pd.DataFrame({"cell_id": [12, 11, 20], "lon": [116.4000, 116.4000, 116.4035],
    ...                       "lat": [40.0, 40.0, 40.0], "city_code": 110000, "community_id": 1})
    >>> cell_sites(cells, radius_m=100).tolist()
    [11, 11, 20]
    >>> cell_sites(cells, radius_m=None).tolist()
    [12, 11, 20]
    >>> cell_sites(cells.assign(site_id=[1, 2, 2])).tolist()
    [12, 11, 11]
    """
    table = cells if isinstance(cells, CellTable) else CellTable(cells)
    ids = table.cell_id
    if table.site_id is not None:
        site = pd.Series(ids).groupby(table.site_id).transform("min")
        return site.to_numpy(np.int64)
    if radius_m is None or len(ids) < 2:
        return ids.copy()
    if radius_m <= 0:
        raise ValueError("radius_m must be > 0 (or None)")
    chord = 2.0 * np.sin(float(radius_m) / EARTH_RADIUS_M / 2.0)  # on the unit sphere of CellTable.xyz
    pairs = cKDTree(table.xyz).query_pairs(chord, output_type="ndarray")
    a = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64)
    b = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64)
    by = np.lexsort((ids[b], a))  # each cell's neighbours in cell_id order
    indptr = np.concatenate([[0], np.cumsum(np.bincount(a, minlength=len(ids)))]).astype(np.int64)
    lead = _lead_cells(np.argsort(ids, kind="stable").astype(np.int64), indptr, b[by])
    return ids[lead]


def pings_at_sites(pings: pd.DataFrame, cells: pd.DataFrame | CellTable, radius_m: float | None = 100.0,
                   ) -> pd.DataFrame:
    """The pings with each ``cell_id`` replaced by its site's lead cell (:func:`cell_sites`).

    Parameters
    ----------
    pings : DataFrame
        Canonical PINGS (``uid, ts_s, cell_id``). Not modified.
    cells : DataFrame or CellTable
        CELLS table, optionally with ``site_id``.
    radius_m : float or None
        As :func:`cell_sites`.

    Returns
    -------
    DataFrame
        A copy of ``pings`` whose ``cell_id`` is the lead cell of the ping's site. Raises
        ``ValueError`` on a cell missing from the table, as the stay scan does.

    Examples
    --------
    >>> cells = pd.DataFrame({"cell_id": [11, 12], "lon": 116.4, "lat": 40.0, "city_code": 110000,
    ...                       "community_id": 1})
    >>> pings = pd.DataFrame({"uid": [1, 1, 1], "ts_s": [0, 300, 600], "cell_id": [11, 12, 11]})
    >>> pings_at_sites(pings, cells)["cell_id"].tolist()
    [11, 11, 11]
    """
    table = cells if isinstance(cells, CellTable) else CellTable(cells)
    lead = cell_sites(table, radius_m)
    return pings.assign(cell_id=lead[table.rows(pings["cell_id"].to_numpy(np.int64))])
