"""Synthetic place feeds for the demo: the authority's case places and the fever clinics of each city.

Case places sit a few hundred metres from the communities of confirmed cases (a shop, a market, a
station), dated in the days before the case was confirmed; each city gets four clinics and testing
sites with different hours (round the clock, office hours, night, and unpublished), so the demo shows
open, closed and unknown. Pure: frames in, frames out (columns of docs/places.md's feeds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VENUE_KINDS = ("超市", "菜市场", "药店", "地铁站", "餐馆")
CLINIC_HOURS = ("24h", "08:00-17:00", "", "20:00-08:00")
M_PER_DEG_LAT = 111_195.0


def synth_case_places(communities: pd.DataFrame, cases: pd.DataFrame, *, seed: int = 7,
                      max_places: int = 60) -> pd.DataFrame:
    """Case places near the communities of confirmed cases (one per case community, newest cases first).

    Parameters
    ----------
    communities : DataFrame
        Canonical communities (community_id, name, city_code, lon, lat).
    cases : DataFrame
        Canonical cases (community_id, confirmed_date).
    seed : int
        Random seed.
    max_places : int
        Most places.

    Returns
    -------
    DataFrame
        The case_places feed (place_id, name, address, city_code, lon, lat, first_date, last_date, what).

    Examples
    --------
    >>> comms = pd.DataFrame({"community_id": [1], "name": ["百步亭"], "city_code": [420100], "lon": [114.3], "lat": [30.6]})
    >>> cases = pd.DataFrame({"community_id": [1], "confirmed_date": pd.to_datetime(["2020-02-01"])})
    >>> synth_case_places(comms, cases)[["name", "first_date", "last_date"]].values.tolist()
    [['百步亭附近超市', '2020-01-28', '2020-01-30']]
    """
    if not len(cases):
        return pd.DataFrame(columns=["place_id", "name", "address", "city_code", "lon", "lat", "first_date",
                                     "last_date", "what"])
    last = cases.groupby("community_id")["confirmed_date"].max().sort_values(ascending=False).head(max_places)
    c = communities.set_index("community_id").loc[last.index]
    rng = np.random.default_rng(seed)
    n = len(c)
    dist_m, angle = rng.uniform(150, 900, n), rng.uniform(0, 2 * np.pi, n)
    lat = c["lat"].to_numpy() + dist_m * np.sin(angle) / M_PER_DEG_LAT
    lon = c["lon"].to_numpy() + dist_m * np.cos(angle) / (M_PER_DEG_LAT * np.cos(np.radians(c["lat"].to_numpy())))
    kind = np.array(VENUE_KINDS, dtype=object)[np.arange(n) % len(VENUE_KINDS)]
    confirmed = pd.to_datetime(last.to_numpy())
    return pd.DataFrame({
        "place_id": [f"cp{i + 1:04d}" for i in range(n)],
        "name": c["name"].to_numpy(dtype=object) + "附近" + kind,
        "address": c["name"].to_numpy(dtype=object) + "旁",
        "city_code": c["city_code"].to_numpy(),
        "lon": lon.round(6), "lat": lat.round(6),
        "first_date": (confirmed - pd.Timedelta(days=4)).strftime("%Y-%m-%d"),
        "last_date": (confirmed - pd.Timedelta(days=2)).strftime("%Y-%m-%d"),
        "what": "确诊病例确诊前曾到访",
    })


def synth_clinics(cities: pd.DataFrame, *, seed: int = 7) -> pd.DataFrame:
    """Four clinics and testing sites per city, around its centre, with the hours of :data:`CLINIC_HOURS`.

    Parameters
    ----------
    cities : DataFrame
        Canonical cities (city_code, name, lon, lat).
    seed : int
        Random seed.

    Returns
    -------
    DataFrame
        The clinics feed (clinic_id, name, address, city_code, lon, lat, kind, hours, phone).

    Examples
    --------
    >>> out = synth_clinics(pd.DataFrame({"city_code": [420100], "name": ["武汉"], "lon": [114.3], "lat": [30.6]}))
    >>> out["hours"].tolist(), out["kind"].tolist()[:2]
    (['24h', '08:00-17:00', '', '20:00-08:00'], ['fever_clinic', 'testing_site'])
    """
    rng = np.random.default_rng(seed)
    k = len(CLINIC_HOURS)
    rep = cities.loc[cities.index.repeat(k)].reset_index(drop=True)
    n = len(rep)
    off_lat, off_lon = rng.uniform(-0.05, 0.05, n), rng.uniform(-0.05, 0.05, n)
    idx = np.tile(np.arange(k), len(cities))
    kind = np.where(idx % 2 == 0, "fever_clinic", "testing_site")
    label = np.where(kind == "fever_clinic", "第{}人民医院发热门诊", "第{}核酸检测点")
    return pd.DataFrame({
        "clinic_id": [f"cl{i + 1:04d}" for i in range(n)],
        "name": [rep.at[i, "name"] + label[i].format(idx[i] + 1) for i in range(n)],
        "address": rep["name"].to_numpy(dtype=object) + "市区",
        "city_code": rep["city_code"].to_numpy(),
        "lon": (rep["lon"].to_numpy() + off_lon).round(6), "lat": (rep["lat"].to_numpy() + off_lat).round(6),
        "kind": kind, "hours": np.array(CLINIC_HOURS, dtype=object)[idx],
        "phone": np.where(idx == 2, "", [f"0{rep.at[i, 'city_code'] // 1000 % 1000:03d}-6{i:07d}" for i in range(n)]),
    })
