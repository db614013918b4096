"""Border smoothing of runs before the stay scan (docs/engine.md, "What we add on top").

Towers across a city border answer some pings of people who never left their city. Inside one
*neighbourhood visit* (the sliding rule with ``border_radius_m``, a few km) the city with the most
time wins; runs at cells registered to another city take the cell of the visit's nearest earlier
run in the winning city. Internal to :mod:`forecast.stays`; arrays in and out.
"""

from __future__ import annotations

import numpy as np

from forecast.stays.scan import anchors_by_radius, majority

__all__ = ["smooth_borders", "visit_cities"]


def visit_cities(g_start, rows, weight, city_rank, cell_xyz, border_radius_m, reg_rank=None, scan="compiled"):
    """Neighbourhood visits of runs and the winning city of each run's visit.

    The visits are the sliding rule's segments with ``border_radius_m``; each takes the code in
    ``city_rank`` (per cell row) with the most ``weight``. Stretches of runs in one registered city
    (``reg_rank``, per cell row; default ``city_rank``) are one visit (a visit there could only
    win that city or, with serving cities, move no run). ``scan``: as in
    :func:`forecast.stays.scan.anchors_by_radius`. Returns (first run of each visit, visit of each
    run, winning city code of each run).

    Examples
    --------
    >>> xyz = np.array([[1.0, 0, 0], [np.cos(2e-4), np.sin(2e-4), 0]])
    >>> _, _, win = visit_cities(np.array([True, False, False]), np.array([0, 1, 0]), np.array([50, 10, 50]),
    ...                          np.array([0, 1]), xyz, 3000.0)
    >>> win.tolist()
    [0, 0, 0]
    """
    # pieces in one registered city are not scanned: their visits would all win that city
    reg_rank = city_rank if reg_rank is None else reg_rank
    anchor = anchors_by_radius(g_start, rows, cell_xyz, border_radius_m, codes=reg_rank[rows], scan=scan)
    first = np.flatnonzero(anchor)
    seg = np.cumsum(anchor) - 1
    win = majority(seg, city_rank[rows], weight, len(first), first)
    return first, seg, win[seg]


def smooth_borders(r_rows, w, r_group_start, table, border_radius_m: float, scan: str = "compiled"):
    """Move runs at border towers to the city of their neighbourhood visit.

    In each visit the city with the most time wins (each cell counting for the city it serves,
    ``table.serve_rank``, see :func:`forecast.stays.learn_serving_cities`); runs at cells
    registered to any other city take the cell of the nearest earlier run of the visit in the
    winning city (or the first later one). A real trip to another city lasts beyond the
    neighbourhood (cities are tens of km apart), so it is a visit of its own and keeps its cells.
    Only gap-free groups that change city are scanned (``scan``: as in
    :func:`forecast.stays.scan.anchors_by_radius`). Returns (runs to keep, new cell rows): a run
    whose new cell equals its predecessor's merges into it.

    Examples
    --------
    >>> import pandas as pd
    >>> from forecast.stays.cells import CellTable
    >>> t = CellTable(pd.DataFrame({"cell_id": [1, 2], "lon": [116.40, 116.415], "lat": [39.9, 39.9],
    ...                             "city_code": [110000, 130600], "community_id": [11, 21]}))
    >>> keep, rows = smooth_borders(np.array([0, 1, 0]), np.array([3600, 600, 3600]),
    ...                             np.array([True, False, False]), t, 3000.0)
    >>> keep.tolist(), rows.tolist()
    ([True, False, False], [0, 0, 0])
    """
    keep_all = np.ones(len(r_rows), bool)
    city = table.city_rank[r_rows]
    changes = np.flatnonzero((city[1:] != city[:-1]) & ~r_group_start[1:]) + 1
    if len(changes) == 0:
        return keep_all, r_rows
    group = np.cumsum(r_group_start) - 1
    needed = np.zeros(int(group[-1]) + 1, bool)
    needed[group[changes]] = True
    sel = needed[group]
    rows, gs = r_rows[sel], r_group_start[sel]
    n_runs = len(rows)
    first, seg, win = visit_cities(gs, rows, w[sel], table.serve_rank, table.xyz, border_radius_m, table.city_rank,
                                   scan)
    minority = table.city_rank[rows] != win
    if not minority.any():
        return keep_all, r_rows
    # a moved run takes the cell of the nearest run before it in the visit that is in the winning
    # city (the visit's first such run when there is none before)
    idx = np.arange(n_runs)
    prev_ok = np.maximum.accumulate(np.where(minority, -1, idx))
    next_ok = np.minimum.accumulate(np.where(minority, n_runs, idx)[::-1])[::-1]
    last = np.append(first[1:], n_runs) - 1
    donor = np.where(prev_ok >= first[seg], prev_ok, np.where(next_ok <= last[seg], next_ok, idx))
    new_rows = r_rows.copy()
    new_rows[sel] = rows[donor]  # a visit with no run in the winning city keeps its cells
    return np.r_[True, (new_rows[1:] != new_rows[:-1]) | r_group_start[1:]], new_rows
