"""The markets feed: good rows in, every bad row quarantined with its reason."""

from __future__ import annotations

import pandas as pd

from forecast.crowding import read_markets
from forecast.crowding.synth import market_city, market_pings


def test_every_row_ends_in_the_markets_or_the_quarantine(tmp_path):
    text = ("market_id,name,name_en,city_code,address,lon,lat,cell_ids\n"
            "1,菜篮子市场,Basket,330300,府前街1号,120.6,28.0,101;102\n"
            "2,,Nameless,330300,,120.6,28.0,101\n"
            "3,南门菜场,South,33030,,120.6,28.0,101\n"
            "4,江滨市场,River,330300,,190.0,28.0,101\n"
            "5,城西市场,West,330300,,120.6,28.0,\n"
            "6,新桥菜场,Xinqiao,330300,,120.6,28.0,101;abc\n"
            "7,黎明市场,Liming,330300,,120.6,28.0,101;999\n"
            "1,重复市场,Dup,330300,,120.6,28.0,102\n"
            "x,双屿菜场,Shuangyu,330300,,120.6,28.0,102\n"
            "8,双屿菜场,Shuangyu,330300,,120.6,28.0,102|101\n")
    (tmp_path / "markets.csv").write_text(text, encoding="utf-8")
    cells = pd.DataFrame({"cell_id": [101, 102]})
    markets, mc, q, counts = read_markets(tmp_path / "markets.csv", cells)
    assert markets["market_id"].tolist() == [1, 8]
    assert mc.values.tolist() == [[1, 101], [1, 102], [8, 101], [8, 102]]
    assert dict(zip(q["market_id"], q["reason"])) == {
        "2": "missing_value", "3": "out_of_range", "4": "out_of_range", "5": "missing_value", "6": "bad_value",
        "7": "unknown_cell", "1": "duplicate_key", "x": "bad_type"}
    assert counts["rows_in"] == counts["rows_ok"] + counts["rows_quarantined"] == 10


def test_generator_truth_matches_what_it_pings_when_everyone_pings():
    city = market_city(3, peak_visitors=30, seed=1)
    t0 = int(pd.Timestamp("2020-03-04 08:00", tz="Asia/Shanghai").timestamp())
    pings, truth = market_pings(city, t0, t0 + 7200, ping_prob=1.0, seed=2)
    from forecast.crowding import slot_counts

    seen = slot_counts(pings, city.market_cells).set_index(["market_id", "slot_s"])["subscribers"]
    assert truth.set_index(["market_id", "slot_s"])["present"].equals(seen.rename("present"))
    assert truth["present"].sum() > 100
