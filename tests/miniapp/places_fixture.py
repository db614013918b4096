"""Case places and clinics around the snapshot fixture's communities, from small text (CSV in code).

``publish_places_fixture(dir)`` publishes the shared fixture's tables plus these two (as the build
writes them, read through the real feed validation, so a bad row here would be quarantined).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from miniapp.pipeline.places import read_place_feeds

# Around 百步亭花园 (community 1, 114.290, 30.640) and 望京西园 (community 5, Beijing).
CASE_PLACES_CSV = """place_id,name,address,city_code,lon,lat,first_date,last_date,what
p1,百步亭超市,百步亭花园路18号,420100,114.2915,30.6405,2020-02-01,2020-02-03,确诊病例曾购物
p2,惠民菜场,后湖大道66号,420100,114.2990,30.6460,2020-02-04,2020-02-04,确诊病例工作场所
p3,汉口火车站,金家墩特1号,420100,114.2580,30.6190,2020-01-28,2020-01-30,确诊病例曾途经
p4,望京SOHO,望京街10号,110100,116.4810,39.9960,2020-02-05,2020-02-06,确诊病例工作场所
p5,坏行,某路,420100,east,30.6,2020-02-01,2020-02-02,坐标无效
"""
CLINICS_CSV = """clinic_id,name,address,city_code,lon,lat,kind,hours,phone
c1,协和医院发热门诊,解放大道1277号,420100,114.2700,30.5850,fever_clinic,24h,027-85726114
c2,江岸区核酸检测点,二七路5号,420100,114.3050,30.6300,testing_site,00:00-24:00,027-82830000
c3,社区卫生服务中心,百步亭社区,420100,114.2930,30.6420,fever_clinic,,
c4,夜间门诊,后湖路3号,420100,114.2920,30.6410,fever_clinic,20:00-22:00,027-11112222
c5,坏钟点,某路,420100,114.29,30.64,fever_clinic,sometimes,027-1
"""


def place_tables() -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The two tables as the build step writes them, and the quarantined rows (through the real step)."""
    from tests.miniapp.snapshot_fixture import snapshot_tables

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "case_places.csv").write_text(CASE_PLACES_CSV, encoding="utf-8")
        (Path(d) / "clinics.csv").write_text(CLINICS_CSV, encoding="utf-8")
        tables, quarantine, _ = read_place_feeds(d, "Asia/Shanghai", snapshot_tables()["cities"])
    return tables, quarantine


def publish_places_fixture(snapshot_dir: Path, with_places: bool = True) -> Path:
    """Publish the shared fixture snapshot plus the place tables (or without them) into ``snapshot_dir``."""
    from miniapp.snapshot import new_build_path, publish, write_snapshot
    from tests.miniapp.snapshot_fixture import AS_OF, fixture_meta, snapshot_tables

    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    tmp = new_build_path(snapshot_dir)
    extra = place_tables()[0] if with_places else {}
    write_snapshot({**snapshot_tables(AS_OF), **extra}, tmp, fixture_meta(AS_OF))
    publish(tmp, snapshot_dir)
    return snapshot_dir
