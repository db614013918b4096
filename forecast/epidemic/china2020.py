"""Readers for the real 2020 China data shipped in ``forecast/data/china2020`` (see its README).

The directory defaults to ``forecast/data/china2020`` and can be overridden with the
environment variable ``RISKCARD_CHINA2020_DIR`` or a ``path`` argument. File I/O only in ``read_*``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

#: Year-end 2019 resident population (millions), China Statistical Yearbook 2020; Hong Kong, Macau
#: and Taiwan from their statistics offices (approximate). Used where no population file is given.
PROVINCE_POPULATION_M = {
    "Beijing": 21.54, "Tianjin": 15.62, "Hebei": 75.92, "Shanxi": 37.29, "Inner Mongolia": 25.40,
    "Liaoning": 43.52, "Jilin": 26.91, "Heilongjiang": 37.51, "Shanghai": 24.28, "Jiangsu": 80.70,
    "Zhejiang": 58.50, "Anhui": 63.66, "Fujian": 39.73, "Jiangxi": 46.66, "Shandong": 100.70,
    "Henan": 96.40, "Hubei": 59.27, "Hunan": 69.18, "Guangdong": 115.21, "Guangxi": 49.60,
    "Hainan": 9.45, "Chongqing": 31.24, "Sichuan": 83.75, "Guizhou": 36.23, "Yunnan": 48.58,
    "Tibet": 3.51, "Shaanxi": 38.76, "Gansu": 26.47, "Qinghai": 6.08, "Ningxia": 6.95,
    "Xinjiang": 25.23, "Hong Kong": 7.50, "Macau": 0.68, "Taiwan": 23.60,
}


def data_dir(path: str | Path | None = None) -> Path:
    """The data directory: ``path``, else ``$RISKCARD_CHINA2020_DIR``, else the copy the package ships.

    Examples
    --------
    >>> data_dir("/tmp").name
    'tmp'
    """
    if path is not None:
        return Path(path)
    env = os.environ.get("RISKCARD_CHINA2020_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "data" / "china2020"


def _file(name: str, path: str | Path | None) -> Path:
    f = data_dir(path) / name
    if not f.exists():
        raise FileNotFoundError(f"{f} not found; set RISKCARD_CHINA2020_DIR / 找不到数据文件")
    return f


def read_province_cum(path: str | Path | None = None) -> pd.DataFrame:
    """``date`` (datetime64), ``province``, ``confirmed`` (cumulative) for the 34 provinces.

    Examples
    --------
    >>> df = read_province_cum()
    >>> int(df[(df.province == "Hubei") & (df.date == "2020-03-31")]["confirmed"].iloc[0])
    67802
    """
    df = pd.read_csv(_file("china_province_confirmed_cum.csv", path))
    return df.assign(date=pd.to_datetime(df["date"]))


def read_city_cum(path: str | Path | None = None) -> pd.DataFrame:
    """City cumulative confirmed, rows as observed (no imputation).

    Examples
    --------
    >>> str(read_city_cum().query("city_code == 420100")["date"].min().date())
    '2020-01-23'
    """
    df = pd.read_csv(_file("china_city_confirmed_cum.csv", path))
    return df.assign(date=pd.to_datetime(df["date"]))


def read_li2020_incidence(path: str | Path | None = None) -> pd.DataFrame:
    """Daily new reported cases, 375 cities (dates x cities, city order of ``city_index``).

    Examples
    --------
    >>> read_li2020_incidence().shape
    (30, 375)
    """
    df = pd.read_csv(_file("li2020_daily_new_reported_375cities.csv", path))
    wide = df.pivot(index="date", columns="city_index", values="new_reported").sort_index()
    names = df.drop_duplicates("city_index").set_index("city_index")["city_en"]
    wide.columns = [names[c] for c in wide.columns]
    wide.index = pd.to_datetime(wide.index)
    return wide.astype(float)


def read_li2020_population(path: str | Path | None = None) -> pd.Series:
    """Population by city (English name, li2020 order).

    Examples
    --------
    >>> int(read_li2020_population()["Wuhan"])
    10607700
    """
    df = pd.read_csv(_file("li2020_pop.csv", path))
    return df.set_index("City")["Population"].astype(float)


def read_li2020_coordinates(path: str | Path | None = None) -> pd.DataFrame:
    """``Code`` (6-digit city code), ``Long``, ``Lat``, ``Name`` for the 375 cities.

    Examples
    --------
    >>> read_li2020_coordinates()["Code"].iloc[0]
    np.int64(110000)
    """
    return pd.read_csv(_file("li2020_city_coordinates.csv", path))


def read_li2020_mobility(path: str | Path | None = None) -> np.ndarray:
    """Tencent mobility index as a ``(14, 375, 375)`` origin x destination array in the li2020 city
    order (rows of li2020_pop.csv; days assumed 2020-01-10 .. 2020-01-23).

    The file names cities in English and nine names are shared by two cities (Suzhou, Taizhou,
    Yichun ...): a flow naming such a city is split equally between the two (documented
    approximation).

    Examples
    --------
    >>> m = read_li2020_mobility()
    >>> m.shape, bool((m >= 0).all())
    ((14, 375, 375), True)
    """
    df = pd.read_csv(_file("li2020_Mobility.csv", path))
    names = list(read_li2020_population(path).index)
    uniq = pd.Index(pd.unique(pd.Series(names)))
    member = np.zeros((len(uniq), len(names)))
    member[uniq.get_indexer(names), np.arange(len(names))] = 1.0
    member /= member.sum(axis=1, keepdims=True)
    df = df[df["Origin"].isin(uniq) & df["Destination"].isin(uniq)]
    n_days = int(df["Day"].max())
    by_name = np.zeros((n_days, len(uniq), len(uniq)))
    np.add.at(by_name, (df["Day"].to_numpy() - 1, uniq.get_indexer(df["Origin"]),
                        uniq.get_indexer(df["Destination"])), df["Mobility Index"].to_numpy(float))
    return np.einsum("ai,tab,bj->tij", member, by_name, member, optimize=True)


def province_of_city_code(path: str | Path | None = None) -> pd.Series:
    """Province (English) by 2-digit code prefix, from the city confirmed file.

    Examples
    --------
    >>> province_of_city_code()[42]
    'Hubei'
    """
    df = read_city_cum(path)
    return df.assign(p=df["city_code"] // 10000).drop_duplicates("p").set_index("p")["province"]


def province_mobility(provinces: list[str], path: str | Path | None = None) -> np.ndarray:
    """Static ``(R, R)`` province OD: the li2020 Tencent city flows summed by province, averaged
    over the 14 days (intra-province flows dropped). Provinces without cities get no flows.

    Examples
    --------
    >>> m = province_mobility(["Hubei", "Beijing"])
    >>> bool(m[0, 1] > 0 and m[0, 0] == 0)
    True
    """
    coords = read_li2020_coordinates(path)  # same row order as li2020_pop
    prov = province_of_city_code(path)
    city_flows = read_li2020_mobility(path).mean(axis=0)
    p_idx = pd.Series(np.arange(len(provinces)), index=provinces)
    cp = (coords["Code"] // 10000).map(prov).map(p_idx)
    ok = cp.notna().to_numpy()
    agg = np.zeros((len(coords), len(provinces)))
    agg[np.flatnonzero(ok), cp[ok].astype(int).to_numpy()] = 1.0
    out = agg.T @ city_flows @ agg
    np.fill_diagonal(out, 0.0)
    return out


def province_population(provinces: list[str]) -> np.ndarray:
    """Populations (persons) of ``provinces``; unknown names raise a clear error.

    Examples
    --------
    >>> province_population(["Hubei"]).tolist()
    [59270000.0]
    """
    unknown = [p for p in provinces if p not in PROVINCE_POPULATION_M]
    if unknown:
        raise KeyError(f"unknown regions (no population): {unknown} / 未知地区")
    return np.array([PROVINCE_POPULATION_M[p] * 1e6 for p in provinces])


def read_wuhan_outflow_shares(path: str | Path | None = None) -> pd.DataFrame:
    """Baidu Qianxi: ``date``, ``destination`` (Chinese city name), ``pct_of_origin_outflow`` (% of
    Wuhan's outflow that day going to the destination; top-100 destinations a day).

    Examples
    --------
    >>> df = read_wuhan_outflow_shares()
    >>> str(df["date"].min().date()), int(df.groupby("date").size().max())
    ('2020-01-01', 100)
    """
    df = pd.read_csv(_file("baidu_wuhan_outflow_city_pct_2020-01-01_2020-03-31.csv", path))
    return df.assign(date=pd.to_datetime(df["date"]))[["date", "destination", "pct_of_origin_outflow"]]


def read_kraemer_scale(path: str | Path | None = None) -> pd.Series:
    """Baidu's outflow-size index of Wuhan by date (2019 and 2020 days), from Kraemer et al. 2020.

    Examples
    --------
    >>> s = read_kraemer_scale()
    >>> float(s[pd.Timestamp("2020-01-22")])
    11.84
    """
    df = pd.read_csv(_file("kraemer_migration_scale_from_wuhan.csv", path))
    return df.assign(date=pd.to_datetime(df["date"])).set_index("date")["scale"].sort_index().astype(float)


def read_kraemer_province_outflow(path: str | Path | None = None) -> pd.DataFrame:
    """Wuhan's outflow by destination province and day (Kraemer et al. 2020): ``date, province,
    percentage`` (% of the day's outflow) and ``scale`` (``percentage`` x the day's index / 100).

    Examples
    --------
    >>> df = read_kraemer_province_outflow()
    >>> df["province"].nunique(), str(df["date"].max().date())
    (31, '2020-02-05')
    """
    df = pd.read_csv(_file("kraemer_human_mobility_from_wuhan.csv", path))
    return df.assign(date=pd.to_datetime(df["date"]))


def city_codes_by_name(path: str | Path | None = None) -> pd.DataFrame:
    """``city_zh, city_code, province, population`` for the cities of the confirmed file that the
    li2020 population table covers (population by the shared 6-digit code; first row of a code).

    Examples
    --------
    >>> t = city_codes_by_name().set_index("city_zh")
    >>> int(t.loc["武汉市", "city_code"]), int(t.loc["武汉市", "population"])
    (420100, 10607700)
    """
    cum = read_city_cum(path).drop_duplicates("city_code")[["city_zh", "city_code", "province"]]
    coords = read_li2020_coordinates(path)
    pop = read_li2020_population(path).to_numpy(float)
    by_code = pd.Series(pop, index=coords["Code"].to_numpy())
    by_code = by_code[~by_code.index.duplicated()]
    out = cum[cum["city_code"].isin(by_code.index)].drop_duplicates("city_zh")
    return out.assign(population=by_code.reindex(out["city_code"]).to_numpy()).reset_index(drop=True)
