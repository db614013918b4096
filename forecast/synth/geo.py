"""Geography and population of the synthetic nation: real cities, communities, places, cells, people.

Cities are real (names, coordinates and populations of Li et al. 2020's 375 cities, with the Chinese
names and 6-digit codes of the city case series). Communities, points of interest (POIs), cell
towers and subscribers are synthetic and drawn from one ``numpy.random.Generator``.

A *place* is where a subscriber is at any moment: a community (home or work) or a POI (market,
restaurant, station ...). Each place is served by its own cell. Communities near a city border are
also served, for a share of their pings, by a *border cell* registered to the neighbouring city: the
itinerary card's wrong-city error. The ground truth keeps the true city of the place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.epidemic import china2020
from forecast.phones import pseudonymise
from forecast.schema import CITIES


CITY_TABLE_PATH = Path(__file__).resolve().parents[1] / "data" / "cities_china2020.csv"
CITY_TABLE = CITIES  # the embedded city table has exactly the cities feed's columns
# Units missing from the city case series (merged, renamed or county-level in 2020).
_MISSING_ZH = {
    210400: ("抚顺市", "Liaoning"), 341400: ("巢湖市", "Anhui"), 371200: ("莱芜市", "Shandong"),
    469003: ("儋州市", "Hainan"), 542100: ("昌都市", "Tibet"), 542200: ("山南市", "Tibet"),
    542300: ("日喀则市", "Tibet"), 542600: ("林芝市", "Tibet"), 632100: ("海东市", "Qinghai"),
    652100: ("吐鲁番市", "Xinjiang"), 652200: ("哈密市", "Xinjiang"), 900001: ("和田县", "Xinjiang"),
    900002: ("墨玉县", "Xinjiang"), 900003: ("于田县", "Xinjiang"), 900004: ("个旧市", "Yunnan"),
}
_KM_PER_DEG = 111.2

_NAME_HEADS = list(
    "幸福 阳光 百步亭 金色 翠苑 东湖 丽景 和平 锦绣 华府 绿城 碧桂 枫林 桂花 紫荆 梧桐 香榭 春晓 "
    "朝阳 明珠 滨江 望江 天水 青山 银河 书香 怡景 康乐 长青 瑞祥 嘉禾 鸿福 泰和 万福 兴华 建设 "
    "光明 红星 新华 育才 铁路 电力 纺织 钢花 水岸 湖畔 半岛 江南 御景 盛世 龙湾 凤凰 月湖 星河 "
    "文华 松鹤 竹园 荷塘".split()
)
_NAME_TAILS = "花园 小区 家园 新村 公寓 苑 里 社区 雅居 名邸 山庄 大院 新城 华庭 公馆".split()
_DISTRICTS = "城东区 城西区 城南区 城北区 高新区 经开区 新城区 江滨区".split()
_POI_KINDS = ("农贸市场", "饭店", "火车站", "人民医院", "购物中心", "公园", "超市", "面馆")
_POI_HEADS = "中心 东门 西街 南站 北苑 新街口 老城 滨河 人民路 解放路 中山路 建国路".split()


def read_china2020_cities(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Build the city table (``CITY_TABLE`` columns) from the shared li2020 and case-series files.

    Rows of ``li2020_pop.csv`` and ``li2020_city_coordinates.csv`` are aligned by position; the Chinese
    name and province come from ``china_city_confirmed_cum.csv`` (by the 6-digit code), else from a
    small built-in list. Code 659004 appears three times (Wujiaqu twice, Beitun once): the first row is
    kept, so the table has 373 cities.

    Examples
    --------
    >>> t = read_china2020_cities()  # doctest: +SKIP
    >>> len(t), t.loc[t.city_code == 420100, "name"].item()  # doctest: +SKIP
    (373, '武汉市')
    """
    d = china2020.data_dir(data_dir)
    pop = pd.read_csv(d / "li2020_pop.csv")
    coords = pd.read_csv(d / "li2020_city_coordinates.csv")
    if len(pop) != len(coords) or not (pop["City"].to_numpy() == coords["Name"].to_numpy()).all():
        raise ValueError("li2020_pop.csv and li2020_city_coordinates.csv are not aligned row by row")
    cum = pd.read_csv(d / "china_city_confirmed_cum.csv", usecols=["province", "city_code", "city_zh"])
    zh = cum.drop_duplicates("city_code").set_index("city_code")
    t = pd.DataFrame(
        {
            "city_code": coords["Code"].astype("int64"),
            "name_en": coords["Name"],
            "lon": coords["Long"].astype("float64"),
            "lat": coords["Lat"].astype("float64"),
            "population": pop["Population"].round().astype("int64"),
        }
    ).drop_duplicates("city_code")
    t["name"] = t["city_code"].map(zh["city_zh"])
    t["province"] = t["city_code"].map(zh["province"])
    missing = t["name"].isna()
    t.loc[missing, "name"] = t.loc[missing, "city_code"].map(lambda c: _MISSING_ZH[c][0])
    t.loc[missing, "province"] = t.loc[missing, "city_code"].map(lambda c: _MISSING_ZH[c][1])
    return t[list(CITY_TABLE)].astype(CITY_TABLE).reset_index(drop=True)


def read_city_table(path: str | Path | None = None) -> pd.DataFrame:
    """The embedded city table (``forecast/data/cities_china2020.csv``, made by
    ``scripts/make_city_table.py``), so an installed package needs no shared data.

    Examples
    --------
    >>> t = read_city_table()
    >>> len(t), t.loc[t.city_code == 420100, "name"].item()
    (373, '武汉市')
    """
    return pd.read_csv(path or CITY_TABLE_PATH, dtype={"name": "string"}).astype(CITY_TABLE)


def select_cities(table: pd.DataFrame, n_cities: int, city_codes: tuple[int, ...] | None = None) -> pd.DataFrame:
    """The ``n_cities`` most populous mainland cities, or exactly ``city_codes`` in that order.

    Examples
    --------
    >>> select_cities(read_city_table(), 3)["name_en"].tolist()
    ['Chongqing', 'Shanghai', 'Beijing']
    """
    if city_codes:
        idx = pd.Index(table["city_code"]).get_indexer(list(city_codes))
        if (idx < 0).any():
            raise ValueError(f"unknown city codes: {[c for c, i in zip(city_codes, idx) if i < 0]}")
        return table.iloc[idx].reset_index(drop=True)
    table = table[~table["province"].isin(["Taiwan", "Hong Kong", "Macau"])]
    if not 1 <= n_cities <= len(table):
        raise ValueError(f"n_cities must be between 1 and {len(table)}")
    return table.sort_values(["population", "city_code"], ascending=[False, True]).head(n_cities).reset_index(drop=True)


@dataclass
class Geography:
    """Places and cells of the nation, as frames and as arrays indexed by place index."""

    cities: pd.DataFrame
    communities: pd.DataFrame
    cells: pd.DataFrame
    places: pd.DataFrame
    place_city: np.ndarray  # int32 city index (true city)
    place_cell: np.ndarray  # int64 cell_id of the place's own cell
    place_border_cell: np.ndarray  # int64 cell_id of the border cell, -1 if none
    city_comm_start: np.ndarray  # first place index of each city's communities
    city_comm_count: np.ndarray
    city_poi_start: np.ndarray
    city_poi_count: np.ndarray
    comm_weight: np.ndarray  # float64 per community place: residential weight
    comm_border: np.ndarray  # bool per community place
    neighbour: np.ndarray  # int32 per city: index of the nearest other city (-1 if alone)


def _offset_lonlat(lon, lat, dx_km, dy_km):
    return lon + dx_km / (_KM_PER_DEG * np.cos(np.radians(lat))), lat + dy_km / _KM_PER_DEG


def _community_names(rng: np.random.Generator, n: int) -> np.ndarray:
    combos = np.array([h + t for h in _NAME_HEADS for t in _NAME_TAILS])
    pick = rng.permutation(len(combos))
    phases = np.array(["", "二期", "三期", "四期", "五期", "六期", "七期", "八期", "九期", "十期"])
    i = np.arange(n)
    if n > len(combos) * len(phases):
        raise ValueError(f"at most {len(combos) * len(phases)} communities per city")
    return np.char.add(combos[pick[i % len(combos)]], phases[i // len(combos)])


def build_geography(cities: pd.DataFrame, communities_per_city: int, pois_per_city: int,
                    border_share: float, rng: np.random.Generator) -> Geography:
    """Communities, POIs and cells around each city; see the module docstring.

    Examples
    --------
    >>> g = build_geography(select_cities(read_city_table(), 2), 4, 2, 0.25, np.random.default_rng(0))
    >>> len(g.communities), len(g.places), int((g.place_border_cell >= 0).sum())
    (8, 12, 2)
    """
    n_c, cpc = len(cities), int(communities_per_city)
    if not 1 <= cpc < 9000:
        raise ValueError("communities_per_city must be between 1 and 8999")
    if not 0 <= pois_per_city < 1000:
        raise ValueError("pois_per_city must be between 0 and 999")
    lon0, lat0 = cities["lon"].to_numpy(), cities["lat"].to_numpy()
    codes = cities["city_code"].to_numpy(np.int64)
    radius_km = 6.0 + 14.0 * np.sqrt(cities["population"].to_numpy() / 1e7)
    # nearest other city: the border a border community faces
    dx = (lon0[None, :] - lon0[:, None]) * np.cos(np.radians(lat0[:, None])) * _KM_PER_DEG
    dy = (lat0[None, :] - lat0[:, None]) * _KM_PER_DEG
    dist = np.hypot(dx, dy) + np.where(np.eye(n_c, dtype=bool), np.inf, 0.0)
    neighbour = np.argmin(dist, axis=1).astype(np.int32) if n_c > 1 else np.full(1, -1, np.int32)
    bearing = np.arctan2(dy[np.arange(n_c), neighbour], dx[np.arange(n_c), neighbour]) if n_c > 1 else np.zeros(1)

    n_border = int(round(border_share * cpc)) if n_c > 1 else 0
    if border_share > 0 and n_c > 1:
        n_border = max(1, min(cpc, n_border))
    city_of_comm = np.repeat(np.arange(n_c), cpc)
    k = np.tile(np.arange(cpc), n_c)
    is_border = k < n_border
    r = radius_km[city_of_comm] * np.where(is_border, rng.uniform(0.9, 1.0, n_c * cpc), 0.85 * np.sqrt(rng.random(n_c * cpc)))
    ang = np.where(is_border, bearing[city_of_comm] + rng.uniform(-0.35, 0.35, n_c * cpc), rng.uniform(0, 2 * np.pi, n_c * cpc))
    c_lon, c_lat = _offset_lonlat(lon0[city_of_comm], lat0[city_of_comm], r * np.cos(ang), r * np.sin(ang))
    sector = (((ang - bearing[city_of_comm]) % (2 * np.pi)) / (2 * np.pi) * 4).astype(int) % 4
    district = np.array(_DISTRICTS)[np.where(r < 0.35 * radius_km[city_of_comm], 4 + (k % 4), sector)]
    names = np.concatenate([_community_names(rng, cpc) for _ in range(n_c)])
    comm_id = codes[city_of_comm] * 10_000 + k
    weight = rng.lognormal(0.0, 0.5, n_c * cpc)

    # POIs: near a random community of their city
    city_of_poi = np.repeat(np.arange(n_c), pois_per_city)
    j = np.tile(np.arange(pois_per_city), n_c)
    host = city_of_poi * cpc + rng.integers(0, cpc, n_c * pois_per_city)
    p_lon, p_lat = _offset_lonlat(c_lon[host], c_lat[host], rng.normal(0, 0.3, len(host)), rng.normal(0, 0.3, len(host)))
    kinds = np.array(_POI_KINDS)[j % len(_POI_KINDS)]
    heads = np.array(_POI_HEADS)[(j // len(_POI_KINDS)) % len(_POI_HEADS)]
    poi_names = np.char.add(np.char.add(names[host], heads) if pois_per_city > len(_POI_KINDS) else names[host], kinds)
    poi_names = np.char.add(poi_names, np.where(j >= len(_POI_KINDS) * len(_POI_HEADS), np.char.mod("%d号", j), ""))
    poi_place_id = 10_000_000_000 + codes[city_of_poi] * 1000 + j

    n_comm, n_poi = len(comm_id), len(poi_place_id)
    n_place = n_comm + n_poi
    place_cell = 100_000_000 + np.arange(n_place, dtype=np.int64)
    # border cells: 1-2 km further toward the neighbour, registered to the neighbour city
    b = np.flatnonzero(is_border)
    nb_city = neighbour[city_of_comm[b]] if len(b) else np.zeros(0, np.int64)
    step = rng.uniform(1.0, 2.0, len(b))
    b_lon, b_lat = _offset_lonlat(c_lon[b], c_lat[b], step * np.cos(bearing[city_of_comm[b]]), step * np.sin(bearing[city_of_comm[b]]))
    # the border cell's community: the neighbour city's community nearest to the cell
    nb_comm = nb_city[:, None] * cpc + np.arange(cpc)[None, :]
    d2 = (c_lon[nb_comm] - b_lon[:, None]) ** 2 + (c_lat[nb_comm] - b_lat[:, None]) ** 2
    b_comm = comm_id[nb_comm[np.arange(len(b)), np.argmin(d2, axis=1)]] if len(b) else np.zeros(0, np.int64)
    border_cell_id = 100_000_000 + n_place + np.arange(len(b), dtype=np.int64)
    place_border_cell = np.full(n_place, -1, np.int64)
    place_border_cell[b] = border_cell_id

    cell_jitter = rng.normal(0, 0.15, (2, n_place))
    all_lon = np.concatenate([c_lon, p_lon])
    all_lat = np.concatenate([c_lat, p_lat])
    cl_lon, cl_lat = _offset_lonlat(all_lon, all_lat, cell_jitter[0], cell_jitter[1])
    place_city = np.concatenate([city_of_comm, city_of_poi]).astype(np.int32)
    place_comm = np.concatenate([comm_id, comm_id[host]])
    cells = pd.DataFrame(
        {
            "cell_id": np.concatenate([place_cell, border_cell_id]),
            "lon": np.concatenate([cl_lon, b_lon]),
            "lat": np.concatenate([cl_lat, b_lat]),
            "city_code": np.concatenate([codes[place_city], codes[nb_city]]),
            "community_id": np.concatenate([place_comm, b_comm]),
        }
    )
    communities = pd.DataFrame(
        {"community_id": comm_id, "name": names, "city_code": codes[city_of_comm], "district": district,
         "lon": c_lon, "lat": c_lat, "population": np.zeros(n_comm, np.int64)}
    )
    places = pd.DataFrame(
        {
            "place_id": np.concatenate([comm_id, poi_place_id]),
            "kind": np.concatenate([np.full(n_comm, "community"), np.full(n_poi, "poi")]),
            "name": np.concatenate([names, poi_names]),
            "city_code": codes[place_city],
            "community_id": place_comm,
            "cell_id": place_cell,
            "border_cell_id": place_border_cell,
            "lon": all_lon,
            "lat": all_lat,
        }
    )
    return Geography(
        cities=cities, communities=communities, cells=cells, places=places, place_city=place_city,
        place_cell=place_cell, place_border_cell=place_border_cell,
        city_comm_start=np.arange(n_c) * cpc, city_comm_count=np.full(n_c, cpc),
        city_poi_start=n_comm + np.arange(n_c) * pois_per_city, city_poi_count=np.full(n_c, pois_per_city),
        comm_weight=weight, comm_border=is_border, neighbour=neighbour,
    )


@dataclass
class PlaceChoice:
    """Where people from each community go: for every community place (row) its ``k`` nearest candidate
    places of the same city and the cumulative probabilities of choosing them, ``exp(-distance /
    scale_km)`` normalised over the candidates (padding has probability 0)."""

    cand: np.ndarray  # (n_comm, k) int32 place index, -1 for padding
    cum: np.ndarray  # (n_comm * k,) float64: row + cumulative probability, one searchsorted for any rows
    count: np.ndarray  # (n_comm,) int32 real candidates per row
    scale_km: float


def _local_xyz(geo: Geography, idx: np.ndarray) -> np.ndarray:
    """Kilometre coordinates of places ``idx``, projected at their city's latitude, with cities moved
    1e5 km apart in a third axis so that a nearest-neighbour query never leaves the city."""
    lon = geo.places["lon"].to_numpy(float)[idx]
    lat = geo.places["lat"].to_numpy(float)[idx]
    city = geo.place_city[idx]
    lat0 = geo.cities["lat"].to_numpy(float)[city]
    return np.c_[lon * np.cos(np.radians(lat0)) * _KM_PER_DEG, lat * _KM_PER_DEG, city * 1e5]


def place_choice(geo: Geography, kind: str, scale_km: float, max_candidates: int = 64) -> PlaceChoice:
    """Distance-decay choice of ``kind`` places ("community" or "poi") from every community.

    The probability of going from community ``h`` to place ``j`` of the same city is proportional to
    ``exp(-d(h, j) / scale_km)`` over the ``max_candidates`` nearest such places (all of them when the
    city has fewer; beyond that the kernel is truncated, e.g. 64 places reach past 3 scales in a city of
    a few hundred communities). A city without such places gives rows with no candidate.

    Examples
    --------
    >>> g = build_geography(select_cities(read_city_table(), 2), 4, 2, 0.25, np.random.default_rng(0))
    >>> c = place_choice(g, "poi", 1.0)
    >>> c.cand.shape, bool((g.place_city[c.cand] == g.place_city[:8, None]).all())
    ((8, 2), True)
    >>> bool(np.allclose(c.cum.reshape(8, 2)[:, -1] - np.arange(8), 1.0))
    True
    """
    from scipy.spatial import cKDTree

    n_comm = len(geo.comm_weight)
    start = geo.city_comm_start if kind == "community" else geo.city_poi_start
    count = geo.city_comm_count if kind == "community" else geo.city_poi_count
    target = np.concatenate([np.arange(s, s + c) for s, c in zip(start, count)]).astype(np.int64)
    per_city = count[geo.place_city[:n_comm]].astype(np.int32)
    k = int(max(1, min(max_candidates, count.max() if len(count) else 0)))
    if not len(target):
        return PlaceChoice(np.full((n_comm, k), -1, np.int32), np.repeat(np.arange(n_comm, dtype=float), k) + 1.0,
                           np.zeros(n_comm, np.int32), float(scale_km))
    dist, j = cKDTree(_local_xyz(geo, target)).query(_local_xyz(geo, np.arange(n_comm)), k=k)
    dist, j = dist.reshape(n_comm, k), j.reshape(n_comm, k)
    ok = np.isfinite(dist) & (dist < 1e4)  # same city (other cities are >= 1e5 km away on the third axis)
    cand = np.where(ok, target[np.minimum(j, len(target) - 1)], -1).astype(np.int32)
    d = np.where(ok, dist, 0.0)
    w = np.where(ok, np.exp(-(d - d[:, :1]) / float(scale_km)), 0.0)  # relative to the nearest: no underflow
    tot = w.sum(axis=1, keepdims=True)
    cum = np.cumsum(np.divide(w, tot, out=np.zeros_like(w), where=tot > 0), axis=1)
    cum[ok.sum(axis=1) > 0, -1] = 1.0
    cum = np.where(ok | (tot == 0), cum, 1.0)
    return PlaceChoice(cand, (cum + np.arange(n_comm)[:, None]).ravel(), np.minimum(ok.sum(axis=1), per_city).astype(np.int32),
                       float(scale_km))


def choose_places(choice: PlaceChoice, row: np.ndarray, u: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Place chosen by uniform draws ``u`` in [0, 1) from community places ``row``; ``fallback`` where the
    row has no candidate.

    Examples
    --------
    >>> c = PlaceChoice(np.array([[5, 6], [7, -1]], np.int32), np.array([0.25, 1.0, 2.0, 2.0]), np.array([2, 1], np.int32), 1.0)
    >>> choose_places(c, np.array([0, 0, 1]), np.array([0.1, 0.5, 0.9]), np.array([0, 0, 0])).tolist()
    [5, 6, 7]
    """
    row = np.asarray(row, np.int64)
    k = choice.cand.shape[1]
    at = np.searchsorted(choice.cum, row + np.asarray(u, float), side="right") - row * k
    at = np.clip(at, 0, np.maximum(choice.count[row] - 1, 0))
    return np.where(choice.count[row] > 0, choice.cand[row, at], fallback).astype(np.int32)


@dataclass
class Population:
    """Subscribers as arrays indexed by subscriber index (0..n-1)."""

    uid: np.ndarray  # int64
    msisdn: np.ndarray  # E.164 text (raw feeds only)
    home: np.ndarray  # int32 place index of the home community
    work: np.ndarray  # int32 place index of the work community, -1 when not working
    home_city: np.ndarray  # int32 city index


def phone_numbers(n: int, seed: int) -> np.ndarray:
    """``n`` distinct E.164 Chinese mobile numbers, a bijection of the subscriber index (so a chunked run
    numbers subscriber ``i`` the same way as a whole run).

    Examples
    --------
    >>> phone_numbers(2, 0).tolist()
    ['+8613000000000', '+8613001000003']
    """
    span = 7_000_000_000  # 130 0000 0000 .. 199 9999 9999
    a, b = 1_000_003, (seed * 2_654_435_761) % span  # 1000003 is coprime to 7e9
    body = (np.arange(n, dtype=np.int64) * a + b) % span
    return np.char.add("+86", (13_000_000_000 + body).astype(str))


def build_population(geo: Geography, n_subscribers: int, work_share: float, cross_border_work_share: float,
                     seed: int, key: bytes, rng: np.random.Generator, work_choice: PlaceChoice | None = None
                     ) -> Population:
    """Homes weighted by city population and community weight; work mostly in the home city (a share of
    near-border workers work across the border). One HMAC per subscriber.

    The work community in the home city is drawn from ``work_choice`` (distance decay from home, see
    :func:`place_choice`), or uniformly over the city's communities when it is None.

    Examples
    --------
    >>> g = build_geography(select_cities(read_city_table(), 2), 4, 2, 0.25, np.random.default_rng(0))
    >>> p = build_population(g, 10, 0.7, 0.3, 0, b"k" * 16, np.random.default_rng(0))
    >>> len(np.unique(p.uid)), bool((g.place_city[p.home] == p.home_city).all())
    (10, True)
    """
    n = int(n_subscribers)
    n_comm = len(geo.comm_weight)
    city_pop = geo.cities["population"].to_numpy(np.float64)
    comm_city = geo.place_city[:n_comm]
    p_home = geo.comm_weight * (city_pop / np.bincount(comm_city, geo.comm_weight, len(city_pop)))[comm_city]
    cum = np.cumsum(p_home / p_home.sum())
    home = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), n_comm - 1).astype(np.int32)
    home_city = geo.place_city[home]
    # work community: same city, weighted; near-border workers may cross the border
    u = rng.random(n)
    cross = geo.comm_border[home] & (rng.random(n) < cross_border_work_share) & (geo.neighbour[home_city] >= 0)
    work_city = np.where(cross, geo.neighbour[home_city], home_city)
    start, count = geo.city_comm_start[work_city], geo.city_comm_count[work_city]
    # a crossing worker works at one of the neighbour's border communities (the first ones of a city)
    n_border = np.bincount(comm_city[geo.comm_border], minlength=len(city_pop))[work_city]
    count = np.where(cross, np.maximum(n_border, 1), count)
    pick = start + np.minimum((u * count).astype(np.int64), count - 1)
    if work_choice is not None:
        pick = np.where(cross, pick, choose_places(work_choice, home, u, pick))
    work = np.where(rng.random(n) < work_share, pick, -1).astype(np.int32)
    msisdn = phone_numbers(n, seed)
    uid = np.fromiter((pseudonymise(m, key) for m in msisdn.tolist()), dtype=np.int64, count=n)
    return Population(uid=uid, msisdn=msisdn, home=home, work=work, home_city=home_city.astype(np.int32))
