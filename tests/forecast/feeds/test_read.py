"""Feeds: every kind of bad input gets a clear error or a quarantine reason; no good row is lost."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast import schema
from forecast.epidemic import china2020
from forecast.feeds import (FEED_KINDS, FeedCounts, FeedError, FeedReport, iter_ping_batches, read_feed, read_feeds,
                            write_quarantine)
from forecast.phones import normalise_msisdn, pseudonymise

KEY = b"test-key-0123456789abcdef"
from forecast.feeds import places as place_rules  # noqa: E402

MIXED = Path(__file__).resolve().parents[3] / "fixtures" / "feeds" / "mixed"
CANONICAL = {
    "pings": schema.PINGS,
    "cells": schema.CELLS,
    "communities": schema.COMMUNITIES,
    "cities": schema.CITIES,
    "cases": schema.CASES,
    "case_trips": schema.TRIPS,
    "city_cases": schema.CITY_SERIES,
    "case_places": place_rules.CASE_PLACES,
    "clinics": place_rules.CLINICS,
}
RAW_NUMBER = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def uid_of(number: str) -> int:
    return pseudonymise(normalise_msisdn(number), KEY)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def pings_csv(tmp_path: Path, rows: list[str], name: str = "pings.csv") -> Path:
    return write_csv(tmp_path / name, "msisdn,ts,cell_id\n" + "".join(r + "\n" for r in rows))


@pytest.fixture(scope="module")
def mixed():
    return read_feeds(MIXED, pseudonym_key=KEY)


# ---- the fixture mixing good and bad rows of every kind --------------------------------------------


@pytest.mark.parametrize("kind", FEED_KINDS)
def test_mixed_fixture_every_row_lands_where_expected(mixed, kind):
    tables, quarantine, report = mixed
    expect = pd.read_csv(MIXED / f"{kind}.csv", dtype=str, keep_default_na=False)["expect"]
    counts = report[kind]
    assert counts.rows_in == len(expect)
    assert counts.rows_ok == (expect == "ok").sum() == len(tables[kind])
    assert counts.rows_quarantined == (expect != "ok").sum() == len(quarantine[kind])
    q = quarantine[kind]
    assert dict(zip(q["row"], q["reason"])) == {i: r for i, r in enumerate(expect) if r != "ok"}
    assert (q["detail"] != "").all()


@pytest.mark.parametrize("kind", FEED_KINDS)
def test_canonical_columns_and_dtypes(mixed, kind):
    frame = mixed[0][kind]
    assert list(frame.columns) == list(CANONICAL[kind])
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in CANONICAL[kind].items()
    }


def test_no_good_ping_is_dropped(mixed):
    """Good rows in == rows out, computed independently of the reader."""
    raw = pd.read_csv(MIXED / "pings.csv", dtype=str, keep_default_na=False)
    good = raw[raw["expect"] == "ok"]
    expected = {(uid_of(m), int(t), int(float(c))) for m, t, c in zip(good["msisdn"], good["ts_s"], good["cell_id"])}
    assert len(expected) == len(good)
    got = set(mixed[0]["pings"].itertuples(index=False, name=None))
    assert got == expected


def test_pings_sorted_by_uid_then_time(mixed):
    p = mixed[0]["pings"]
    assert p.equals(p.sort_values(["uid", "ts_s", "cell_id"]).reset_index(drop=True))


def test_no_raw_number_in_quarantine_or_outputs(mixed, tmp_path):
    tables, quarantine, report = mixed
    assert "msisdn" not in tables["pings"] and "msisdn" not in tables["cases"]
    paths = write_quarantine(quarantine, tmp_path)
    assert set(paths) == set(FEED_KINDS)
    for path in paths.values():
        assert not RAW_NUMBER.search(path.read_text(encoding="utf-8")), path.name
    assert "138****8003" in paths["pings"].read_text(encoding="utf-8")
    assert not RAW_NUMBER.search(str(report.to_dict()))


def test_decreasing_cumulative_is_kept_and_flagged(mixed):
    series = mixed[0]["city_cases"]
    wuhan = series[series["city_code"] == 420100]["confirmed"].tolist()
    assert wuhan == [495, 572, 570, 618]
    assert mixed[2]["city_cases"].flags == {"decreasing_cumulative": 1}


def test_trip_codes_are_normalised(mixed):
    trips = mixed[0]["case_trips"]
    assert trips["number"].tolist() == ["G1234", "CA1234", "K88"]
    assert trips["mode"].tolist() == ["train", "flight", "bus"]


# ---- one test per kind of bad input ----------------------------------------------------------------


def test_wrong_types_are_quarantined(tmp_path):
    path = pings_csv(tmp_path, ["13800138000,1579744800,12", "13800138000,1579744800,twelve", "13800138000,1579744800,1.5"])
    out, q, report = read_feed(path, "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [12]
    assert q["reason"].tolist() == ["bad_type", "bad_type"]
    assert report["pings"].reasons == {"bad_type": 2}


def test_parquet_column_of_the_wrong_type(tmp_path):
    table = pa.table({"msisdn": ["13800138000"] * 2, "ts": [1579744800] * 2, "cell_id": ["7", "x"]})
    pq.write_table(table, tmp_path / "p.parquet")
    out, q, _ = read_feed(tmp_path / "p.parquet", "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [7] and q["reason"].tolist() == ["bad_type"]


def test_unparseable_times(tmp_path):
    rows = ["13800138000,2020-01-23 25:00,1", "13800138000,23/01/2020,1", "13800138000,noon,1", "13800138000,2020-01-23 10:00,1"]
    out, q, _ = read_feed(pings_csv(tmp_path, rows), "pings", pseudonym_key=KEY)
    assert len(out) == 1 and q["reason"].tolist() == ["bad_ts"] * 3


def test_times_with_and_without_offset(tmp_path):
    """Naive times are local in tz; offsets and Unix seconds are absolute."""
    rows = ["13800138000,2020-01-23 10:00,1", "13800138000,2020-01-23T10:00+08:00,2", "13800138000,1579744800,3"]
    path = pings_csv(tmp_path, rows)
    shanghai, _, _ = read_feed(path, "pings", pseudonym_key=KEY)
    assert shanghai["ts_s"].tolist() == [1579744800] * 3
    utc, _, _ = read_feed(path, "pings", pseudonym_key=KEY, tz="UTC")
    assert utc["ts_s"].tolist() == [1579744800, 1579744800, 1579773600]


def test_nonexistent_local_time_is_bad_ts(tmp_path):
    # 2020-03-08 02:30 did not exist in New York (clocks jumped from 02:00 to 03:00).
    out, q, _ = read_feed(pings_csv(tmp_path, ["13800138000,2020-03-08 02:30,1"]), "pings", pseudonym_key=KEY, tz="America/New_York")
    assert out.empty and q["reason"].tolist() == ["bad_ts"]


def test_out_of_range_times(tmp_path):
    rows = ["13800138000,1579744800,1", "13800138000,1579744799,1", "13800138000,1579831200,1", "13800138000,0,1"]
    out, q, _ = read_feed(pings_csv(tmp_path, rows), "pings", pseudonym_key=KEY, valid_window=(1579744800, 1579831200))
    assert out["ts_s"].tolist() == [1579744800]
    assert q["reason"].tolist() == ["ts_out_of_range"] * 3


def test_unknown_cells(tmp_path):
    cells = pd.DataFrame({"cell_id": [1, 2]})
    out, q, _ = read_feed(pings_csv(tmp_path, ["13800138000,1579744800,1", "13800138000,1579744801,3"]), "pings", pseudonym_key=KEY, cells=cells)
    assert out["cell_id"].tolist() == [1] and q["reason"].tolist() == ["unknown_cell"]
    assert q["cell_id"].tolist() == ["3"]


def test_duplicates_removed_once(tmp_path):
    rows = ["13800138000,1579744800,1", "+8613800138000,2020-01-23T02:00:00Z,1", "13800138000,1579744800,2", "13800138000,1579744800,1"]
    out, q, report = read_feed(pings_csv(tmp_path, rows), "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [1, 2]
    assert q["row"].tolist() == [1, 3] and set(q["reason"]) == {"duplicate"}
    assert report["pings"].reasons == {"duplicate": 2}


def test_unsorted_input_is_accepted_and_sorted(tmp_path):
    rng = np.random.default_rng(3)
    ts = rng.permutation(np.arange(1579744800, 1579744800 + 600, 60))
    numbers = rng.choice(["13800138000", "13900139000", "15000150000"], len(ts))
    rows = [f"{n},{t},{i}" for i, (n, t) in enumerate(zip(numbers, ts))]
    out, q, _ = read_feed(pings_csv(tmp_path, rows), "pings", pseudonym_key=KEY)
    assert q.empty and len(out) == len(rows)
    assert (np.diff(out["uid"]) >= 0).all()
    for _, g in out.groupby("uid"):
        assert g["ts_s"].is_monotonic_increasing


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "pings.csv").write_bytes(b"")
    with pytest.raises(FeedError, match=r"pings\.csv: empty file"):
        read_feed(tmp_path / "pings.csv", "pings", pseudonym_key=KEY)
    (tmp_path / "pings.parquet").write_bytes(b"")
    with pytest.raises(FeedError, match="empty file"):
        read_feed(tmp_path / "pings.parquet", "pings", pseudonym_key=KEY)


def test_header_only_file_is_an_empty_feed(tmp_path):
    out, q, report = read_feed(pings_csv(tmp_path, []), "pings", pseudonym_key=KEY)
    assert out.empty and q.empty and report["pings"].rows_in == 0
    assert list(out.columns) == list(schema.PINGS)


def test_truncated_parquet_is_an_error(tmp_path):
    table = pa.table({"msisdn": ["13800138000"] * 1000, "ts": np.arange(1000) + 1579744800, "cell_id": [1] * 1000})
    pq.write_table(table, tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(FeedError, match=r"cut\.parquet: not a readable Parquet file"):
        read_feed(tmp_path / "cut.parquet", "pings", pseudonym_key=KEY)


def test_truncated_csv_keeps_every_complete_row(tmp_path):
    path = tmp_path / "pings.csv"
    path.write_text("msisdn,ts,cell_id\n13800138000,1579744800,1\n13800138000,1579744860,2\n13800138000,15797", encoding="utf-8")
    out, q, report = read_feed(path, "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [1, 2]
    assert q["reason"].tolist() == ["bad_row"]
    assert "13800138000" not in q["detail"].iloc[0]
    assert report["pings"].rows_in == 3


def test_truncated_gzip_is_an_error(tmp_path):
    body = "msisdn,ts,cell_id\n" + "13800138000,1579744800,1\n" * 5000
    data = gzip.compress(body.encode())
    (tmp_path / "pings.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(FeedError, match=r"pings\.csv\.gz"):
        read_feed(tmp_path / "pings.csv.gz", "pings", pseudonym_key=KEY)


def test_gzip_csv_is_read(tmp_path):
    (tmp_path / "pings.csv.gz").write_bytes(gzip.compress(b"msisdn,ts,cell_id\n13800138000,1579744800,1\n"))
    out, _, _ = read_feed(tmp_path / "pings.csv.gz", "pings", pseudonym_key=KEY)
    assert out["ts_s"].tolist() == [1579744800]


def test_wrong_columns_name_the_file_and_the_expectation(tmp_path):
    path = write_csv(tmp_path / "pings.csv", "phone,time,cell\n13800138000,1579744800,1\n")
    with pytest.raises(FeedError, match=r"pings\.csv: missing columns \['msisdn', 'ts', 'cell_id'\]"):
        read_feed(path, "pings", pseudonym_key=KEY)
    pq.write_table(pa.table({"msisdn": ["13800138000"], "ts": [1579744800]}), tmp_path / "p.parquet")
    with pytest.raises(FeedError, match=r"missing columns \['cell_id'\]"):
        read_feed(tmp_path / "p.parquet", "pings", pseudonym_key=KEY)


def test_column_names_tolerate_case_space_bom_and_extra_columns(tmp_path):
    path = tmp_path / "pings.csv"
    path.write_bytes("\ufeffMSISDN , Ts,cell_id,note\n13800138000,1579744800,1,hello\n".encode())
    out, _, _ = read_feed(path, "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [1]


def test_missing_file_and_unknown_kind(tmp_path):
    with pytest.raises(FeedError, match="file not found"):
        read_feed(tmp_path / "nope.csv", "pings", pseudonym_key=KEY)
    with pytest.raises(FeedError, match="unknown file type"):
        read_feed(write_csv(tmp_path / "pings.txt", "x"), "pings", pseudonym_key=KEY)
    with pytest.raises(ValueError, match="unknown feed kind"):
        read_feed(tmp_path / "x.csv", "towers")


def test_pings_need_a_key(tmp_path):
    with pytest.raises(ValueError, match="pseudonym_key"):
        read_feed(pings_csv(tmp_path, []), "pings")


def test_wrong_field_count_rows(tmp_path):
    rows = ["13800138000,1579744800,1,extra", "13800138000,1579744800", "13800138000,1579744801,1"]
    out, q, _ = read_feed(pings_csv(tmp_path, rows), "pings", pseudonym_key=KEY)
    assert len(out) == 1 and q["reason"].tolist() == ["bad_row", "bad_row"]
    assert not RAW_NUMBER.search(" ".join(q["detail"]))


# ---- formats ---------------------------------------------------------------------------------------


def test_parquet_typed_columns(tmp_path):
    ts = pd.to_datetime(["2020-01-23 10:00", "2020-01-23 11:00"]).tz_localize("Asia/Shanghai")
    pq.write_table(pa.table({"msisdn": pa.array([13800138000, 13800138001]), "ts": pa.array(ts), "cell_id": pa.array([1, None], pa.int64())}), tmp_path / "a.parquet")
    out, q, _ = read_feed(tmp_path / "a.parquet", "pings", pseudonym_key=KEY)
    assert out.to_dict("list") == {"uid": [uid_of("13800138000")], "ts_s": [1579744800], "cell_id": [1]}
    assert q["reason"].tolist() == ["missing_value"] and q["msisdn"].tolist() == ["138****8001"]
    naive = pa.table({"msisdn": ["13800138000"], "ts": pa.array(pd.to_datetime(["2020-01-23 10:00"])), "cell_id": [1]})
    pq.write_table(naive, tmp_path / "b.parquet")
    assert read_feed(tmp_path / "b.parquet", "pings", pseudonym_key=KEY)[0]["ts_s"].tolist() == [1579744800]


def test_parquet_odd_column_types_are_row_problems(tmp_path):
    table = pa.table({
        "msisdn": pa.array([b"13800138000", b"\xff\xfe", b"13800138001"], pa.binary()),
        "ts": pa.array([1579744800.5, float("nan"), 1579744801.0]),
        "cell_id": pa.array([[1], [2], [3]]),
    })
    pq.write_table(table, tmp_path / "odd.parquet")
    out, q, report = read_feed(tmp_path / "odd.parquet", "pings", pseudonym_key=KEY)
    assert out.empty and report["pings"].rows_quarantined == 3
    assert q["reason"].tolist() == ["bad_type", "bad_msisdn", "bad_type"]


def test_parquet_dates(tmp_path):
    import datetime as dt

    table = pa.table({"date": pa.array([dt.date(2020, 1, 23), None]), "city_code": [420100, 420100], "confirmed": pa.array([1, 2], pa.int32())})
    pq.write_table(table, tmp_path / "city_cases.parquet")
    out, q, _ = read_feed(tmp_path / "city_cases.parquet", "city_cases")
    assert out["date"].tolist() == [pd.Timestamp("2020-01-23")] and str(out["date"].dtype) == "datetime64[s]"
    assert q["reason"].tolist() == ["missing_value"]


def test_large_cell_ids_survive_nulls(tmp_path):
    big = 2**60 + 1  # not representable as float64
    pq.write_table(pa.table({"cell_id": pa.array([big, None], pa.int64()), "lon": [114.0, 114.0], "lat": [30.0, 30.0], "city_code": [420100, 420100], "community_id": [1, 1]}), tmp_path / "c.parquet")
    out, q, _ = read_feed(tmp_path / "c.parquet", "cells")
    assert out["cell_id"].tolist() == [big] and q["reason"].tolist() == ["missing_value"]


def test_directory_of_parts_in_order(tmp_path):
    parts = tmp_path / "pings"
    parts.mkdir()
    for i in (2, 10, 1):
        pq.write_table(pa.table({"msisdn": ["13800138000"], "ts": [1579744800 + i], "cell_id": [i]}), parts / f"part-{i}.parquet")
    pings_csv(parts, ["13800138000,1579744800,99", "bad,1579744800,1"], name="part-3.csv")
    (parts / "_SUCCESS").write_text("")
    out, q, report = read_feed(parts, "pings", pseudonym_key=KEY)
    assert out["cell_id"].tolist() == [99, 1, 2, 10]
    assert [Path(f).name for f in report["pings"].files] == ["part-1.parquet", "part-2.parquet", "part-3.csv", "part-10.parquet"]
    assert q["source"].tolist() == ["part-3.csv"] and q["row"].tolist() == [1]


def test_empty_directory_is_an_error(tmp_path):
    (tmp_path / "pings").mkdir()
    with pytest.raises(FeedError, match="no part-"):
        read_feed(tmp_path / "pings", "pings", pseudonym_key=KEY)


def test_iter_ping_batches_matches_read_feed(tmp_path):
    rng = np.random.default_rng(5)
    n = 2_000
    table = pa.table({
        "msisdn": (13800138000 + rng.integers(0, 30, n)).astype(str),
        "ts": 1579744800 + rng.permutation(n),
        "cell_id": rng.integers(0, 5, n),
    })
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=300)
    pq.write_table(table, tmp_path / "p2.parquet")
    pings_csv(tmp_path, [f"{m},{t},{c}" for m, t, c in zip(*(table[k].to_pylist() for k in ("msisdn", "ts", "cell_id")))])
    whole, _, _ = read_feed(tmp_path / "p.parquet", "pings", pseudonym_key=KEY)
    for name in ("p.parquet", "pings.csv"):
        batches = list(iter_ping_batches(tmp_path / name, pseudonym_key=KEY, batch_rows=512))
        assert max(len(b) for b, _, _ in batches) <= 512 and len(batches) >= 4
        merged = pd.concat([b for b, _, _ in batches]).sort_values(["uid", "ts_s", "cell_id"]).reset_index(drop=True)
        assert merged.equals(whole)
        report = FeedReport()
        for _, _, r in batches:
            report = report.merge(r)
        assert report["pings"].rows_in == n == report["pings"].rows_ok


# ---- other feeds -----------------------------------------------------------------------------------


def test_cities_without_name_en(tmp_path):
    path = write_csv(tmp_path / "cities.csv", "city_code,name,province,lon,lat,population\n420100,武汉市,湖北省,114.3,30.59,11081000\n")
    out, _, _ = read_feed(path, "cities")
    assert out[["name", "name_en"]].values.tolist() == [["武汉市", ""]]


def test_real_city_series_reads_clean():
    path = china2020.data_dir() / "china_city_confirmed_cum.csv"
    out, q, report = read_feed(path, "city_cases")
    assert q.empty and len(out) == report["city_cases"].rows_in > 20_000
    assert report["city_cases"].flags["decreasing_cumulative"] > 0  # real corrections are kept, counted


# ---- read_feeds --------------------------------------------------------------------------------------


def test_read_feeds_references_flow_downstream(mixed):
    tables, quarantine, _ = mixed
    assert set(tables["cells"]["community_id"]) <= set(tables["communities"]["community_id"])
    assert set(tables["pings"]["cell_id"]) <= set(tables["cells"]["cell_id"])
    assert set(tables["case_trips"]["case_id"]) <= set(tables["cases"]["case_id"])


def test_read_feeds_errors(tmp_path):
    with pytest.raises(FeedError, match="not found"):
        read_feeds(tmp_path / "none", pseudonym_key=KEY)
    with pytest.raises(FeedError, match="no feed files"):
        read_feeds(tmp_path, pseudonym_key=KEY)
    shutil.copy(MIXED / "cells.csv", tmp_path / "cells.csv")
    with pytest.raises(FeedError, match="no pings feed"):
        read_feeds(tmp_path, pseudonym_key=KEY, required=("pings",))
    tables, _, report = read_feeds(tmp_path, pseudonym_key=KEY)
    assert set(tables) == {"cells"} and report["cells"].rows_ok == 4  # no community reference given
    pings_csv(tmp_path, [], name="pings.csv")
    pq.write_table(pa.table({"msisdn": ["1"], "ts": [1], "cell_id": [1]}), tmp_path / "pings.parquet")
    with pytest.raises(FeedError, match="several files"):
        read_feeds(tmp_path, pseudonym_key=KEY)


def test_report_merge_and_dict():
    a = FeedReport({"pings": FeedCounts(3, 2, 1, {"bad_ts": 1}, files=["a"])})
    b = FeedReport({"pings": FeedCounts(4, 3, 1, {"bad_ts": 1}, files=["b"]), "cells": FeedCounts(1, 1, 0)})
    d = a.merge(b).to_dict()
    assert d["feeds"]["pings"] == {"rows_in": 7, "rows_ok": 5, "rows_quarantined": 2, "reasons": {"bad_ts": 2}, "flags": {}, "files": ["a", "b"]}
    assert d["totals"] == {"rows_in": 8, "rows_ok": 6, "rows_quarantined": 2}
    assert a.to_dict()["totals"]["rows_in"] == 3  # merge does not mutate


def test_inputs_are_not_mutated(mixed, tmp_path):
    cells = mixed[0]["cells"]
    before = cells.copy()
    read_feed(MIXED / "pings.csv", "pings", pseudonym_key=KEY, cells=cells)
    assert cells.equals(before)


# ---- fuzzing (issue 9) -------------------------------------------------------------------------------

_cell_text = st.one_of(
    st.text(max_size=25),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["13800138000", "+86 139 0013 9000", "2020-01-23 10:00", "2020-01-23T02:00:00Z", "1579744800", "", "1.0", "nan", "inf", '"', ",", "\n"]),
)


RAW_COLUMNS = {
    "pings": schema.RAW_PINGS, "cells": schema.CELLS, "communities": schema.COMMUNITIES,
    "cities": schema.CITIES, "cases": schema.RAW_CASES, "case_trips": schema.CASE_TRIPS,
    "city_cases": schema.CITY_CASES,
    "case_places": place_rules.RAW_CASE_PLACES, "clinics": place_rules.RAW_CLINICS,
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(FEED_KINDS), rows=st.lists(st.lists(_cell_text, min_size=10, max_size=10), max_size=12))
def test_fuzz_csv_rows_never_crash_and_every_row_is_accounted(tmp_path, kind, rows):
    columns = list(RAW_COLUMNS[kind])
    frame = pd.DataFrame([r[: len(columns)] for r in rows], columns=columns, dtype=object)
    path = tmp_path / f"{kind}.csv"
    frame.to_csv(path, index=False)
    out, q, report = read_feed(path, kind, pseudonym_key=KEY, cells=pd.DataFrame({"cell_id": [1, 2, 3]}))
    c = report[kind]
    assert c.rows_in == c.rows_ok + c.rows_quarantined
    assert c.rows_ok == len(out) and c.rows_quarantined == len(q)
    assert c.rows_in == len(rows) or "bad_row" in c.reasons
    assert not RAW_NUMBER.search(q.drop(columns=["detail"]).to_csv())


_good_ping = st.tuples(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.integers(1579000000, 1580000000),
    st.integers(1, 3),
    st.sampled_from(["unix", "utc", "local", "offset"]),
)
_bad_ping = st.tuples(_cell_text, _cell_text, _cell_text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(good=st.lists(_good_ping, max_size=15), bad=st.lists(_bad_ping, max_size=15), seed=st.integers(0, 2**32 - 1))
def test_fuzz_no_good_row_is_ever_dropped(tmp_path, good, bad, seed):
    """Random good pings (in any accepted time form) shuffled among random junk all come out."""
    def ts_text(t: int, form: str) -> str:
        stamp = pd.Timestamp(t, unit="s", tz="UTC")
        return {
            "unix": str(t),
            "utc": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local": stamp.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M:%S"),
            "offset": stamp.tz_convert("Asia/Shanghai").isoformat(),
        }[form]

    rows = [(m, ts_text(t, form), str(c)) for m, t, c, form in good] + list(bad)
    order = np.random.default_rng(seed).permutation(len(rows))
    pd.DataFrame([rows[i] for i in order], columns=["msisdn", "ts", "cell_id"], dtype=object).to_csv(tmp_path / "p.csv", index=False)
    out, q, report = read_feed(tmp_path / "p.csv", "pings", pseudonym_key=KEY, cells=pd.DataFrame({"cell_id": [1, 2, 3]}))
    expected = {(uid_of(m), t, c) for m, t, c, _ in good}
    got = set(out.itertuples(index=False, name=None))
    assert expected <= got
    assert len(out) == len(got)  # no duplicates left
    assert report["pings"].rows_in == report["pings"].rows_ok + report["pings"].rows_quarantined


_typed_value = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(FEED_KINDS),
    values=st.lists(st.lists(_typed_value, min_size=10, max_size=10), max_size=10),
    as_int=st.booleans(),
)
def test_fuzz_any_feed_from_parquet(tmp_path, kind, values, as_int):
    """Random ints or text in every column of every feed: no crash, every row accounted for."""
    spec_cols = RAW_COLUMNS[kind]
    cols = {}
    for j, name in enumerate(spec_cols):
        col = [v[j] for v in values]
        if as_int:
            cols[name] = pa.array([v if isinstance(v, int) else None for v in col], pa.int64())
        else:
            cols[name] = pa.array([None if v is None else str(v) for v in col], pa.string())
    path = tmp_path / f"{kind}.parquet"
    pq.write_table(pa.table(cols) if cols else pa.table({}), path)
    out, q, report = read_feed(path, kind, pseudonym_key=KEY)
    c = report[kind]
    assert c.rows_in == len(values) == c.rows_ok + c.rows_quarantined == len(out) + len(q)
    assert set(q["reason"]) <= REASON_CODES


REASON_CODES = {
    "bad_row", "missing_value", "bad_type", "out_of_range", "bad_msisdn", "bad_ts", "ts_out_of_range",
    "bad_date", "date_out_of_range", "bad_value", "negative_count", "unknown_cell", "unknown_city",
    "unknown_community", "unknown_case", "duplicate", "duplicate_key",
}


def test_reason_codes_are_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "data.md").read_text(encoding="utf-8")
    for code in REASON_CODES | {"decreasing_cumulative"}:
        assert f"`{code}`" in doc, code


def test_cells_keep_an_optional_site_id_and_quarantine_a_bad_one(tmp_path):
    text = ("cell_id,lon,lat,city_code,community_id,site_id\n"
            "1,114.30,30.60,420100,1,77\n2,114.30,30.60,420100,1,77\n3,114.31,30.61,420100,1,x\n")
    out, q, _ = read_feed(write_csv(tmp_path / "cells.csv", text), "cells")
    assert out["site_id"].tolist() == [77, 77] and out["site_id"].dtype == "int64"
    assert q["reason"].tolist() == ["bad_type"] and "site_id" in q["detail"].iloc[0]
    plain = "cell_id,lon,lat,city_code,community_id\n1,114.30,30.60,420100,1\n"
    out, q, _ = read_feed(write_csv(tmp_path / "plain.csv", plain), "cells")
    assert list(out.columns) == list(schema.CELLS) and q.empty  # no site_id column: none is made up
