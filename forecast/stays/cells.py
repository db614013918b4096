"""The cells table as the stay scan reads it: positions, cities and communities, and a fast
``cell_id`` -> row lookup (dense when the ids are compact, by binary search otherwise)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CellTable"]


class CellTable:
    """Cell positions, cities and communities, with a fast ``cell_id`` -> row lookup.

    Parameters
    ----------
    cells : DataFrame
        CELLS table (``cell_id, lon, lat, city_code, community_id``; optionally ``site_id``, the
        mast of each cell, and ``serves_city_code``).

    Examples
    --------
    >>> t = CellTable(pd.DataFrame({"cell_id": [7, 3], "lon": [116.0, 117.0], "lat": [39.0, 39.5],
    ...                              "city_code": [110000, 120000], "community_id": [1, 2]}))
    >>> t.rows(np.array([3, 7, 3])).tolist()
    [1, 0, 1]
    """

    def __init__(self, cells: pd.DataFrame):
        missing = {"cell_id", "lon", "lat", "city_code", "community_id"} - set(cells.columns)
        if missing:
            raise ValueError(f"cells table lacks columns {sorted(missing)}")
        ids = cells["cell_id"].to_numpy(np.int64)
        if len(np.unique(ids)) != len(ids):
            raise ValueError("cells table has duplicate cell_id values")
        self.cell_id = ids
        self.lon = cells["lon"].to_numpy(np.float64)
        self.lat = cells["lat"].to_numpy(np.float64)
        lon_rad, lat_rad = np.radians(self.lon), np.radians(self.lat)
        self.xyz = np.column_stack(
            (np.cos(lat_rad) * np.cos(lon_rad), np.cos(lat_rad) * np.sin(lon_rad), np.sin(lat_rad))
        )
        self.city_code = cells["city_code"].to_numpy(np.int64)
        self.community_id = cells["community_id"].to_numpy(np.int64)
        # the site (mast) of each cell where the table names it (forecast.stays.sites); else None
        self.site_id = cells["site_id"].to_numpy(np.int64) if "site_id" in cells else None
        # dense city codes (0..n_cities-1, in city_code order) keep the majority sort keys small
        # cities as dense ranks keep the majority sort keys small; a cell may serve a city other
        # than the one it is registered to (column serves_city_code, see learn_serving_cities)
        serves = cells["serves_city_code"].to_numpy(np.int64) if "serves_city_code" in cells else self.city_code
        self.cities = np.unique(np.concatenate([self.city_code, serves]))
        self.city_rank = np.searchsorted(self.cities, self.city_code).astype(np.int64)
        self.serve_rank = np.searchsorted(self.cities, serves).astype(np.int64)
        self.communities, comm_rank = np.unique(self.community_id, return_inverse=True)
        self.community_rank = comm_rank.astype(np.int64).ravel()
        lo = int(ids.min()) if len(ids) else 0
        hi = int(ids.max()) if len(ids) else -1
        self._dense = None
        self._lo = lo
        if len(ids) and hi - lo < 4 * len(ids) + 1024:  # ids fairly dense: direct lookup table
            dense = np.full(hi - lo + 1, -1, np.int64)
            dense[ids - lo] = np.arange(len(ids))
            self._dense = dense
        else:
            self._order = np.argsort(ids)
            self._sorted = ids[self._order]

    def rows(self, cell_ids: np.ndarray) -> np.ndarray:
        """Row index of each cell id; raises ``ValueError`` on an unknown cell."""
        cell_ids = np.asarray(cell_ids, np.int64)
        if self._dense is not None:
            off = cell_ids - self._lo
            if len(off) and off.min() >= 0 and off.max() < len(self._dense):
                rows = self._dense[off]
            else:
                ok = (off >= 0) & (off < len(self._dense))
                rows = self._dense[np.where(ok, off, 0)]
                rows[~ok] = -1
        else:
            pos = np.searchsorted(self._sorted, cell_ids)
            pos = np.minimum(pos, len(self._sorted) - 1)
            found = self._sorted[pos] == cell_ids if len(self._sorted) else np.zeros(len(cell_ids), bool)
            rows = np.where(found, self._order[pos] if len(self._sorted) else 0, -1)
        if len(rows) and rows.min() < 0:
            bad = np.unique(cell_ids[rows < 0])[:5].tolist()
            raise ValueError(f"pings refer to cells missing from the cells table, e.g. {bad}")
        return rows
