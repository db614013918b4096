"""The features behind a community's risk grade, from data available on the grading day.

Every feature of a community ``c`` graded on local day D uses only data known on D: cases confirmed
on D-14 .. D-1, companions (exposure tags) found up to D, itineraries of D-14 .. D-1 and the stays
that tell where each subscriber lives. Counts are *sources of infection* so that the model in
:mod:`forecast.grades` can add them up:

================  =============================================================================
``residents``     population of the community (the communities feed)
``own_7``         confirmed cases living in ``c``, confirmed D-7 .. D-1
``own_8_14``      the same, D-14 .. D-8
``near``          cases confirmed D-14 .. D-1 in *other* communities within ``near_radius_m``,
                  weighted by ``1 - distance / near_radius_m`` (a case next door counts almost 1)
``exposed``       residents tagged as companions (>= 60 min with a case) whose last shared minute
                  was D-14 .. D-1, and who are not cases themselves
``imported``      residents' days in *other* cities (>= 4 h a day, D-14 .. D-1), each weighted by
                  that city's daily cases per resident over D-14 .. D-1: the expected number of
                  infection-days brought home
``city``          residents x the home city's daily cases per resident over D-7 .. D-1
``city_imported`` residents x the home city's ``imported`` per observed resident: the infections its
                  travellers are expected to have brought into the city, which seed chains that no
                  case has revealed yet (a city with no case is not a city with no risk)
``growth``        the home city's weekly growth: log((cases D-7..D-1 + 1) / (cases D-14..D-8 + 1)),
                  or the forecast's, clipped to [-1, 1]
``density``       log of residents per cell of the community over the median of all communities
================  =============================================================================

City rates divide by the *covered* population of the city (the sum of its communities'
populations), so that cases and people are counted over the same area.

Homes: a subscriber's home community is where their stays cover most of the night (00:00-06:00
local time), see :func:`home_communities`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.itinerary import local_seconds
from forecast.schema import DEFAULT_TZ

DAY_S = 86_400
EARTH_RADIUS_M = 6_371_000.0
NIGHT_HOURS = (0, 6)

FEATURES = {
    "community_id": "int64",
    "city_code": "int64",
    "residents": "float64",
    "n_cells": "int64",
    "observed_residents": "int64",  # subscribers whose home is here (from stays)
    "own_7": "float64",
    "own_8_14": "float64",
    "near": "float64",
    "near_cases": "int64",  # unweighted count of the near cases, for the reasons
    "exposed": "float64",
    "imported": "float64",
    "imported_residents": "int64",  # residents back from another city that had cases
    "city": "float64",
    "city_imported": "float64",
    "city_per100k_7d": "float64",  # the home city's cases per 100k over D-7 .. D-1
    "growth": "float64",
    "density": "float64",
    "has_cases_data": "bool",
    "has_location_data": "bool",
}


def _day(as_of) -> np.datetime64:
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return np.datetime64(ts.normalize().to_datetime64(), "s")


def home_communities(stays: pd.DataFrame, *, tz: str = DEFAULT_TZ, night_hours: tuple[int, int] = NIGHT_HOURS
                     ) -> pd.DataFrame:
    """Each subscriber's home community: the one where their stays cover the most night time.

    Night is ``night_hours`` (local, default 00:00-06:00) of every day a stay touches (stays are cut
    into at most three local days; longer stays count their first three nights). Subscribers with no
    night-time stay are home where they spent the most minutes.

    Parameters
    ----------
    stays : DataFrame
        STAYS (``uid, start_s, end_s, community_id``). Not modified.
    tz : str
        Zone of the local night.
    night_hours : (int, int)
        First and last hour of the night.

    Returns
    -------
    DataFrame
        ``uid, community_id`` (int64), one row per subscriber, sorted by uid.

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 22:00", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [1, 1, 2], "start_s": [t, t + 10 * 3600, t],
    ...                       "end_s": [t + 10 * 3600, t + 20 * 3600, t + 3600], "community_id": [7, 8, 9]})
    >>> home_communities(stays).to_dict("records")
    [{'uid': 1, 'community_id': 7}, {'uid': 2, 'community_id': 9}]
    """
    if not len(stays):
        return pd.DataFrame({"uid": pd.Series([], dtype="int64"), "community_id": pd.Series([], dtype="int64")})
    s = local_seconds(stays["start_s"].to_numpy(np.int64), tz)
    e = local_seconds(stays["end_s"].to_numpy(np.int64), tz)
    d0 = s // DAY_S * DAY_S
    night = np.zeros(len(s), np.int64)
    for k in range(3):
        lo, hi = d0 + k * DAY_S + night_hours[0] * 3600, d0 + k * DAY_S + night_hours[1] * 3600
        night += np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0, None)
    seconds = np.maximum(e - s, 0)
    uid, comm = stays["uid"].to_numpy(np.int64), stays["community_id"].to_numpy(np.int64)
    keep = comm >= 0
    if not keep.all():
        uid, comm, night, seconds = uid[keep], comm[keep], night[keep], seconds[keep]
    if not len(uid):
        return pd.DataFrame({"uid": pd.Series([], dtype="int64"), "community_id": pd.Series([], dtype="int64")})
    # per (uid, community) sums by hashing one int64 key (a two-key groupby costs ~15 s on 30M stays)
    if (uid[1:] >= uid[:-1]).all():  # the build's stays come sorted by uid: codes without hashing
        new = np.ones(len(uid), bool)
        new[1:] = uid[1:] != uid[:-1]
        u_code, u_vals = np.cumsum(new) - 1, uid[new]
    else:
        u_code, u_vals = pd.factorize(uid, sort=True)
    c_code, c_vals = pd.factorize(comm, sort=True)
    k_code, k_vals = pd.factorize(u_code.astype(np.int64) * len(c_vals) + c_code)
    night_s = np.bincount(k_code, weights=night, minlength=len(k_vals))  # exact: integer sums < 2**53
    total_s = np.bincount(k_code, weights=seconds, minlength=len(k_vals))
    # night time dominates; total time breaks ties and covers subscribers never seen at night
    weight = night_s * 1e3 + total_s / 1e3
    ku, kc = k_vals // len(c_vals), k_vals % len(c_vals)
    order = np.lexsort((c_vals[kc], -weight, ku))
    first = np.ones(len(order), bool)
    first[1:] = ku[order][1:] != ku[order][:-1]
    best = order[first]
    out = pd.DataFrame({"uid": np.asarray(u_vals)[ku[best]], "community_id": np.asarray(c_vals)[kc[best]]})
    return out.astype({"uid": "int64", "community_id": "int64"})


def _xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return EARTH_RADIUS_M * np.c_[np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]


def _near_weighted(comms: pd.DataFrame, cases_14: np.ndarray, radius_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Per community: sum over other communities within radius of cases x (1 - d / radius), and the count."""
    from scipy.spatial import cKDTree

    n = len(comms)
    ok = comms["lon"].notna().to_numpy() & comms["lat"].notna().to_numpy()
    src = np.flatnonzero(ok & (cases_14 > 0))
    w_sum, c_sum = np.zeros(n), np.zeros(n, np.int64)
    if not len(src) or radius_m <= 0:
        return w_sum, c_sum
    xyz = _xyz(comms["lon"].to_numpy(float), comms["lat"].to_numpy(float))
    dst = np.flatnonzero(ok)
    m = cKDTree(xyz[src]).sparse_distance_matrix(cKDTree(xyz[dst]), radius_m, output_type="coo_matrix")
    i, j, dist = src[m.row], dst[m.col], m.data
    other = i != j
    i, j, dist = i[other], j[other], dist[other]
    np.add.at(w_sum, j, cases_14[i] * (1.0 - dist / radius_m))
    np.add.at(c_sum, j, cases_14[i].astype(np.int64))
    return w_sum, c_sum


def city_growth_from_cases(cases: pd.DataFrame, as_of) -> pd.Series:
    """Weekly growth of each city's confirmed cases: log((D-7..D-1 + 1) / (D-14..D-8 + 1)) in [-1, 1].

    Parameters
    ----------
    cases : DataFrame
        CASES (at least ``city_code, confirmed_date``).
    as_of : date-like
        The grading day D (local; a time zone is dropped without conversion).

    Returns
    -------
    Series
        Named ``growth``, indexed by ``city_code`` (every city in ``cases``), values in [-1, 1]
        (0: as many cases in both weeks).

    Examples
    --------
    >>> cases = pd.DataFrame({"city_code": [1] * 4 + [2], "confirmed_date": pd.to_datetime(
    ...     ["2020-01-10", "2020-01-16", "2020-01-17", "2020-01-18", "2020-01-12"])})
    >>> city_growth_from_cases(cases, "2020-01-20").round(3).to_dict()
    {1: 0.693, 2: -0.693}
    """
    d = _day(as_of)
    day = pd.to_datetime(cases["confirmed_date"]).to_numpy().astype("datetime64[s]")
    recent = (day >= d - np.timedelta64(7, "D")) & (day < d)
    before = (day >= d - np.timedelta64(14, "D")) & (day < d - np.timedelta64(7, "D"))
    g = pd.DataFrame({"city_code": cases["city_code"].to_numpy(np.int64), "r": recent, "b": before})
    s = g.groupby("city_code")[["r", "b"]].sum()
    return np.log((s["r"] + 1.0) / (s["b"] + 1.0)).clip(-1.0, 1.0).rename("growth")


def community_features(
    communities: pd.DataFrame,
    cells: pd.DataFrame | None,
    cases: pd.DataFrame | None,
    as_of,
    *,
    homes: pd.DataFrame | None = None,
    exposure: pd.DataFrame | None = None,
    itinerary: pd.DataFrame | None = None,
    city_growth: pd.Series | None = None,
    near_radius_m: float = 2000.0,
) -> pd.DataFrame:
    """The features of every community on local day ``as_of`` (see the module docstring).

    Parameters
    ----------
    communities : DataFrame
        COMMUNITIES (``community_id, city_code, lon, lat, population``).
    cells : DataFrame or None
        CELLS (``cell_id, community_id``); a community with no cell cannot be located by the network.
    cases : DataFrame or None
        CASES (``confirmed_date, community_id, city_code``; ``uid`` to flag exposed cases). Only rows
        confirmed before ``as_of`` are used. ``None``: no case data at all.
    as_of : date-like
        The grading day D (local).
    homes : DataFrame, optional
        ``uid, community_id`` (:func:`home_communities`). Without it exposure and imports are unknown.
    exposure : DataFrame, optional
        Exposure tags (:func:`forecast.contacts.exposure.exposure_tags`: ``uid, last_exposure_date``).
    itinerary : DataFrame, optional
        ITINERARY of the window D-14 .. D-1 (:func:`forecast.itinerary.itineraries`).
    city_growth : Series, optional
        Weekly growth per city_code (e.g. from the forecast); default :func:`city_growth_from_cases`.
    near_radius_m : float
        Radius of "near" cases.

    Returns
    -------
    DataFrame
        Columns of :data:`FEATURES`, one row per community in input order.

    Examples
    --------
    >>> comms = pd.DataFrame({"community_id": [1, 2], "city_code": [9, 9], "lon": [120.0, 120.01],
    ...                       "lat": [30.0, 30.0], "population": [1000, 2000]})
    >>> cells = pd.DataFrame({"cell_id": [10, 20], "community_id": [1, 2]})
    >>> cases = pd.DataFrame({"confirmed_date": pd.to_datetime(["2020-01-19"]), "community_id": [1],
    ...                       "city_code": [9], "uid": [5]})
    >>> f = community_features(comms, cells, cases, "2020-01-20")
    >>> f[["own_7", "near_cases"]].to_dict("list")
    {'own_7': [1.0, 0.0], 'near_cases': [0, 1]}
    """
    d = _day(as_of)
    comms = communities.reset_index(drop=True)
    n = len(comms)
    cid = comms["community_id"].to_numpy(np.int64)
    pos = pd.Series(np.arange(n), index=cid)
    pop = pd.to_numeric(comms["population"], errors="coerce").to_numpy(float)
    city = comms["city_code"].to_numpy(np.int64)
    out = {"community_id": cid, "city_code": city, "residents": pop}

    n_cells = np.zeros(n, np.int64)
    if cells is not None and len(cells):
        cc = cells["community_id"].to_numpy(np.int64)
        hit = pos.reindex(cc).to_numpy()
        ok = ~np.isnan(hit)
        n_cells = np.bincount(hit[ok].astype(np.int64), minlength=n)[:n]
    out["n_cells"] = n_cells

    def by_comm(mask: np.ndarray, comm: np.ndarray) -> np.ndarray:
        p = pos.reindex(comm[mask]).to_numpy()
        p = p[~np.isnan(p)].astype(np.int64)
        return np.bincount(p, minlength=n)[:n].astype(float)

    has_cases = cases is not None
    if has_cases and len(cases):
        day = cases["confirmed_date"].to_numpy().astype("datetime64[s]")
        ccomm = pd.to_numeric(cases["community_id"], errors="coerce").fillna(-1).to_numpy(np.int64)
        r7 = (day >= d - np.timedelta64(7, "D")) & (day < d)
        r14 = (day >= d - np.timedelta64(14, "D")) & (day < d - np.timedelta64(7, "D"))
        own_7, own_8_14 = by_comm(r7, ccomm), by_comm(r14, ccomm)
        case_uids = cases["uid"].to_numpy(np.int64) if "uid" in cases.columns else np.zeros(0, np.int64)
        known = cases[day < d]
    else:
        own_7, own_8_14 = np.zeros(n), np.zeros(n)
        case_uids = np.zeros(0, np.int64)
        known = pd.DataFrame({"city_code": pd.Series([], dtype="int64"),
                              "confirmed_date": pd.Series([], dtype="datetime64[s]")})
    out["own_7"], out["own_8_14"] = own_7, own_8_14
    out["near"], out["near_cases"] = _near_weighted(comms, own_7 + own_8_14, near_radius_m)

    # city rates over the covered population
    covered = pd.Series(np.nan_to_num(pop), index=city).groupby(level=0).sum()
    cases_7 = pd.Series(own_7, index=city).groupby(level=0).sum()
    cases_14 = cases_7 + pd.Series(own_8_14, index=city).groupby(level=0).sum()
    rate_7 = (cases_7 / 7.0 / covered.where(covered > 0)).fillna(0.0)  # daily cases per resident
    rate_14 = (cases_14 / 14.0 / covered.where(covered > 0)).fillna(0.0)
    out["city"] = np.nan_to_num(pop) * rate_7.reindex(city).to_numpy()
    out["city_per100k_7d"] = rate_7.reindex(city).to_numpy() * 7.0 * 1e5
    growth = city_growth if city_growth is not None else city_growth_from_cases(known, d)
    out["growth"] = pd.Series(growth, dtype=float).reindex(city).fillna(0.0).clip(-1.0, 1.0).to_numpy()
    per_cell = np.where(n_cells > 0, np.nan_to_num(pop) / np.maximum(n_cells, 1), np.nan)
    med = np.nanmedian(per_cell[per_cell > 0]) if np.any(per_cell > 0) else 1.0
    out["density"] = np.where(per_cell > 0, np.log(np.where(per_cell > 0, per_cell, 1.0) / med), 0.0)

    has_loc = homes is not None and len(homes) > 0
    observed = np.zeros(n, np.int64)
    exposed, imported, imported_res = np.zeros(n), np.zeros(n), np.zeros(n, np.int64)
    if has_loc:
        h_uid = homes["uid"].to_numpy(np.int64)
        h_comm = homes["community_id"].to_numpy(np.int64)
        observed = by_comm(np.ones(len(h_uid), bool), h_comm).astype(np.int64)
        home_of = pd.Series(h_comm, index=h_uid)
        home_of = home_of[~home_of.index.duplicated()]
        if exposure is not None and len(exposure):
            last = exposure["last_exposure_date"].to_numpy().astype("datetime64[s]")
            euid = exposure["uid"].to_numpy(np.int64)
            sel = (last >= d - np.timedelta64(14, "D")) & (last < d) & ~np.isin(euid, case_uids)
            exposed = by_comm(np.ones(int(sel.sum()), bool), home_of.reindex(euid[sel]).fillna(-1).to_numpy(np.int64))
        if itinerary is not None and len(itinerary):
            iuid = itinerary["uid"].to_numpy(np.int64)
            icity = itinerary["city_code"].to_numpy(np.int64)
            hc = home_of.reindex(iuid).fillna(-1).to_numpy(np.int64)
            hp = pos.reindex(hc).to_numpy()
            ok = ~np.isnan(hp)
            hp = np.where(ok, hp, 0).astype(np.int64)
            away = ok & (icity != city[hp])
            w = rate_14.reindex(icity).fillna(0.0).to_numpy() * itinerary["days"].to_numpy(float)
            imported = np.bincount(hp[away], w[away], minlength=n)[:n]
            risky = away & (w > 0)
            who = pd.DataFrame({"uid": iuid[risky], "p": hp[risky]}).drop_duplicates("uid")
            imported_res = np.bincount(who["p"].to_numpy(np.int64), minlength=n)[:n].astype(np.int64)
    # the city's imports per observed resident (observed: subscribers whose home we know)
    obs_city = pd.Series(observed.astype(float), index=city).groupby(level=0).sum()
    imp_city = pd.Series(imported, index=city).groupby(level=0).sum()
    per_res = (imp_city / obs_city.where(obs_city > 0)).fillna(0.0)
    out["city_imported"] = np.nan_to_num(pop) * per_res.reindex(city).to_numpy()
    out.update(observed_residents=observed, exposed=exposed, imported=imported, imported_residents=imported_res,
               has_cases_data=np.full(n, has_cases), has_location_data=np.full(n, has_loc))
    return pd.DataFrame(out).astype(FEATURES)[list(FEATURES)]
