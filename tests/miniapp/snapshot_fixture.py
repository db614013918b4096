"""A complete, small set of snapshot tables built in code, for the snapshot, store, pages and bot tests.

Usage::

    from tests.miniapp.snapshot_fixture import snapshot_tables, write_fixture_snapshot, publish_fixture
    tables = snapshot_tables()                       # dict of DataFrames, one per snapshot table
    path = write_fixture_snapshot(tmp_path / "s.db")  # a written snapshot file
    snapshot_dir = publish_fixture(tmp_path / "snapshots")  # a published one; open_current() serves it

People: ``UIDS`` maps a role to a uid derived from a fake number with ``TEST_KEY``:
``companion`` (orange: companion of a case, was in Wuhan), ``traveller`` (yellow: visited Wuhan,
a starred city), ``green`` (Beijing and Shanghai only), ``possible`` (a possible companion: about 50
min with a case, within the measurement error of the 60-min rule; Beijing only, so green with a softer
notice). ``PHONES`` holds their fake numbers.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.phones import normalise_msisdn, pseudonymise

AS_OF = "2020-02-10"  # the query day D; the window is D-14 .. D-1
TEST_KEY = b"riskcard-test-pseudonym-key-0001"
PHONES = {"companion": "13800138000", "traveller": "13900139000", "green": "13700137000",
          "possible": "13300133000"}
UIDS = {role: pseudonymise(normalise_msisdn(p), TEST_KEY) for role, p in PHONES.items()}

CITIES = [
    # city_code, name, name_en, province, lon, lat, population
    (420100, "武汉", "Wuhan", "湖北省", 114.305, 30.593, 11_081_000),
    (110100, "北京", "Beijing", "北京市", 116.407, 39.904, 21_536_000),
    (310100, "上海", "Shanghai", "上海市", 121.474, 31.230, 24_281_000),
    (440300, "深圳", "Shenzhen", "广东省", 114.058, 22.543, 13_438_000),
]
COMMUNITIES = [
    # community_id, name, city_code, district, lon, lat, population, grade (None: no data)
    (1, "百步亭花园", 420100, "江岸区", 114.290, 30.640, 130_000, "high"),
    (2, "百步亭安居苑", 420100, "江岸区", 114.293, 30.643, 12_000, "medium_high"),
    (3, "东亭小区", 420100, "武昌区", 114.360, 30.560, 8_000, "medium_low"),
    (4, "汉口花园", 420100, "江岸区", 114.280, 30.660, 20_000, "low"),
    (5, "望京西园", 110100, "朝阳区", 116.470, 40.000, 15_000, "slight"),
    (6, "长宁新村", 310100, "长宁区", 121.420, 31.220, 9_000, "low"),
    (7, "白石洲", 440300, "南山区", 113.960, 22.540, 60_000, "slight"),
    (8, "SOHO现代城", 110100, "朝阳区", 116.480, 39.910, 5_000, "slight"),
    (9, "新建小区", 440300, "宝安区", 113.880, 22.560, 3_000, None),
]
LEVEL_SCORE = {"slight": 0.2, "low": 1.0, "medium_low": 3.0, "medium_high": 8.0, "high": 20.0}
STARRED = {420100}


def _d(day: str, offset: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=offset)).isoformat()


def _reasons(level: str) -> list[dict]:
    return [
        {"factor": "recent_cases", "text_zh": "近14天附近有确诊病例", "text_en": "Confirmed cases nearby in the last 14 days",
         "contribution": 0.6 if level in ("high", "medium_high") else 0.1},
        {"factor": "inflow", "text_zh": "来自高风险城市的人员流入", "text_en": "Inflow from high-risk cities",
         "contribution": 0.3},
    ]


def snapshot_tables(as_of: str = AS_OF, extra_communities: int = 0, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Every snapshot table as a data frame; grades are current on ``as_of``.

    ``extra_communities`` adds generated communities (ids from 1000) to make bigger files.
    """
    rng = np.random.default_rng(seed)
    cities = pd.DataFrame(CITIES, columns=["city_code", "name", "name_en", "province", "lon", "lat", "population"])
    comm_rows = [c[:7] for c in COMMUNITIES]
    graded = [(c[0], c[7]) for c in COMMUNITIES if c[7] is not None]
    levels = list(LEVEL_SCORE)
    for i in range(extra_communities):
        cid = 1000 + i
        city = CITIES[i % len(CITIES)]
        comm_rows.append((cid, f"测试{i}号小区", city[0], "测试区", city[4] + 0.001 * (i % 50), city[5], 1000 + i))
        graded.append((cid, levels[i % len(levels)]))
    communities = pd.DataFrame(comm_rows, columns=["community_id", "name", "city_code", "district", "lon", "lat", "population"])

    grade_rows = []
    for cid, level in graded:
        base = LEVEL_SCORE[level]
        for k in range(30):  # 30 days of history ending on as_of, rising towards the current level
            score = round(base * (0.5 + 0.5 * k / 29), 4)
            day_level = level if k == 29 else levels[max(0, levels.index(level) - (1 if k < 15 else 0))]
            grade_rows.append((cid, _d(as_of, k - 29), score, day_level, score * 0.6, score * 1.6,
                               "up" if level in ("high", "medium_high") else "flat",
                               json.dumps(_reasons(level), ensure_ascii=False) if k == 29 else None))
    grades = pd.DataFrame(grade_rows, columns=["community_id", "date", "score", "grade", "lo", "hi", "trend", "reasons"])
    grades["date"] = pd.to_datetime(grades["date"]).astype("datetime64[s]")

    fc_rows = []
    regions = [f"city:{c[0]}" for c in CITIES] + [f"community:{cid}" for cid, _ in graded]
    for region in regions:
        med = 5.0 if region.endswith(":420100") or region in ("community:1", "community:2") else 0.5
        for k in range(1, 8):
            q50 = med * (1 + 0.05 * k)
            fc_rows.append((region, _d(as_of, k), q50 * 0.4, q50 * 0.7, q50, q50 * 1.4, q50 * 2.2))
    forecasts = pd.DataFrame(fc_rows, columns=["region", "date", "q05", "q25", "q50", "q75", "q95"])

    city_risk = pd.DataFrame(
        [(c[0], 1.8 if c[0] in STARRED else 0.9, 1.5 if c[0] in STARRED else 0.7,
          2.2 if c[0] in STARRED else 1.1, int(c[0] in STARRED)) for c in CITIES],
        columns=["city_code", "rt", "rt_lo", "rt_hi", "starred"],
    )
    city_cases = pd.DataFrame(
        [(c[0], _d(as_of, k - 29), int(rng.integers(0, 50 if c[0] in STARRED else 3))) for c in CITIES for k in range(30)],
        columns=["city_code", "date", "confirmed"],
    )
    start = _d(as_of, -14)
    itineraries = pd.DataFrame(
        [
            (UIDS["companion"], 420100, start, _d(as_of, -1), 14),
            (UIDS["traveller"], 110100, start, _d(as_of, -6), 9),
            (UIDS["traveller"], 420100, _d(as_of, -5), _d(as_of, -3), 3),
            (UIDS["green"], 110100, start, _d(as_of, -4), 11),
            (UIDS["green"], 310100, _d(as_of, -3), _d(as_of, -1), 3),
            (UIDS["possible"], 110100, start, _d(as_of, -1), 14),
        ],
        columns=["uid", "city_code", "first_date", "last_date", "days"],
    )
    itineraries["uid"] = itineraries["uid"].astype("int64")
    exposure = pd.DataFrame([(UIDS["companion"], _d(as_of, -3), 95.0, 1, "companion"),
                             (UIDS["possible"], _d(as_of, -4), 50.0, 1, "possible")],
                            columns=["uid", "last_date", "minutes", "cases", "level"])
    exposure["uid"] = exposure["uid"].astype("int64")
    nearby = pd.DataFrame(
        [
            (1, "百步亭花园路口", 120.0, 12, _d(as_of, -2)),
            (1, "grid 500m 114.295,30.645", 650.0, 2, _d(as_of, -4)),  # below the small-count threshold
            (2, "百步亭花园路口", 300.0, 12, _d(as_of, -2)),
            (3, "grid 500m 114.365,30.565", 400.0, 4, _d(as_of, -6)),
        ],
        columns=["community_id", "place", "distance_m", "cases", "last_date"],
    )
    flows = pd.DataFrame(
        [(_d(as_of, -k), o, d, int(t * (1 + k / 10)))
         for k in range(1, 8)
         for o, d, t in [(420100, 110100, 900), (310100, 110100, 400), (440300, 110100, 50), (110100, 420100, 300)]],
        columns=["date", "origin", "destination", "trips"],
    )
    trips = pd.DataFrame(
        [(_d(as_of, -8), "train", "G1234", "5", 2), (_d(as_of, -8), "train", "G1234", "7", 1),
         (_d(as_of, -9), "flight", "CA1234", None, 1)],
        columns=["date", "mode", "number", "car", "cases"],
    )
    return {
        "cities": cities, "communities": communities, "grades": grades, "forecasts": forecasts,
        "city_risk": city_risk, "city_cases": city_cases, "itineraries": itineraries, "exposure": exposure,
        "nearby_cases": nearby, "flows": flows, "trips_of_cases": trips,
    }


def fixture_meta(as_of: str = AS_OF) -> dict:
    """Build facts as run_build would record them."""
    return {
        "as_of": as_of,
        "window_start": _d(as_of, -14),
        "window_end": _d(as_of, -1),
        "tz": "Asia/Shanghai",
        "code_version": "test",
        "params": {"window_days": 14, "min_city_minutes": 240},
        "inputs": {"pings.parquet": "0" * 64},
        "methods_figures": {"backtest": {"coverage_90": 0.88, "mae": 1.2}},
    }


def write_fixture_snapshot(path: Path, as_of: str = AS_OF, **kwargs) -> Path:
    """Write the fixture tables as a snapshot file at ``path`` and return it."""
    from miniapp.snapshot import write_snapshot

    write_snapshot(snapshot_tables(as_of, **kwargs), path, fixture_meta(as_of))
    return Path(path)


def publish_fixture(snapshot_dir: Path, as_of: str = AS_OF, keep: int = 3, **kwargs) -> Path:
    """Write and publish a fixture snapshot into ``snapshot_dir``; return the directory."""
    from miniapp.snapshot import new_build_path, publish

    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    tmp = new_build_path(snapshot_dir)
    write_fixture_snapshot(tmp, as_of, **kwargs)
    publish(tmp, snapshot_dir, keep=keep)
    return snapshot_dir
