"""The snapshot writer and its schema migrations."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from tests.miniapp.snapshot_fixture import AS_OF, PHONES, UIDS, fixture_meta, snapshot_tables, write_fixture_snapshot

from forecast.phones import normalise_msisdn
from miniapp.snapshot import SnapshotError, file_sha256, schema
from miniapp.snapshot.write import PHONE_RE, name_keys, write_snapshot


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("snap") / "s.db"
    write_fixture_snapshot(path)
    return path


def test_rows_schema_version_and_integrity(built):
    tables = snapshot_tables()
    conn = sqlite3.connect(built)
    assert schema.user_version(conn) == schema.LATEST_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for table, df in tables.items():
        assert conn.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0] == len(df), table
    assert conn.execute("SELECT COUNT(*) FROM communities_fts").fetchone()[0] == len(tables["communities"])
    # the file is a plain rollback-journal database, nothing pending
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_indexes_and_analyze(built):
    conn = sqlite3.connect(built)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_itineraries_uid", "idx_exposure_uid", "idx_trips_number", "idx_communities_city"} <= names
    assert conn.execute("SELECT COUNT(*) FROM sqlite_stat1").fetchone()[0] > 0
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM itineraries WHERE uid = 5"))
    assert "idx_itineraries_uid" in plan


def test_meta_dates_and_current_grade(built):
    conn = sqlite3.connect(built)
    meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    assert meta["as_of"] == AS_OF and meta["grade_date"] == AS_OF
    assert meta["params"] == fixture_meta()["params"] and meta["schema_version"] == schema.LATEST_VERSION
    # datetime64 input became ISO dates
    assert conn.execute("SELECT MAX(date) FROM grades").fetchone()[0] == AS_OF
    assert conn.execute("SELECT grade, score FROM communities WHERE community_id = 1").fetchone() == ("high", 20.0)
    assert conn.execute("SELECT grade FROM communities WHERE community_id = 9").fetchone() == (None,)
    assert conn.execute("SELECT pinyin, initials FROM communities WHERE community_id = 1").fetchone() == (
        "baibutinghuayuan", "bbthy")


def test_small_counts_suppressed(built):
    conn = sqlite3.connect(built)
    rows = dict(conn.execute("SELECT distance_m, cases FROM nearby_cases WHERE community_id = 1"))
    assert rows == {120.0: 12, 650.0: None}


def test_no_phone_number_in_any_text_column(built):
    conn = sqlite3.connect(built)
    hits = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for col in conn.execute(f"PRAGMA table_info([{table}])"):
            for (value,) in conn.execute(f"SELECT [{col[1]}] FROM [{table}] WHERE typeof([{col[1]}]) = 'text'"):
                if PHONE_RE.search(value):
                    hits.append((table, col[1]))
    assert hits == []
    raw = built.read_bytes()
    for phone in PHONES.values():
        assert phone.encode() not in raw and normalise_msisdn(phone).encode() not in raw
    # people are there, by uid only
    assert conn.execute("SELECT COUNT(*) FROM itineraries WHERE uid = ?", (UIDS["companion"],)).fetchone()[0] == 1


@pytest.mark.parametrize("table,column", [("communities", "name"), ("nearby_cases", "place"), ("trips_of_cases", "car")])
def test_refuses_phone_numbers(tmp_path, table, column):
    tables = snapshot_tables()
    df = tables[table].copy()
    df[column] = df[column].astype(object)
    df.loc[df.index[0], column] = "call +86 138-0013-8000".replace("-", "")
    tables[table] = df
    with pytest.raises(SnapshotError, match=f"{table}.{column} look like phone"):
        write_snapshot(tables, tmp_path / "s.db", fixture_meta())


def test_refuses_phone_in_meta(tmp_path):
    with pytest.raises(SnapshotError, match="meta"):
        write_snapshot(snapshot_tables(), tmp_path / "s.db", {**fixture_meta(), "note": "13800138000"})


def test_refuses_existing_file_and_bad_tables(tmp_path, built):
    with pytest.raises(SnapshotError, match="exists"):
        write_snapshot(snapshot_tables(), built, fixture_meta())
    tables = snapshot_tables()
    del tables["grades"]
    with pytest.raises(SnapshotError, match="grades is required"):
        write_snapshot(tables, tmp_path / "a.db", fixture_meta())
    tables = snapshot_tables()
    tables["itineraries"] = tables["itineraries"].drop(columns=["days"])
    with pytest.raises(SnapshotError, match="lacks column"):
        write_snapshot(tables, tmp_path / "b.db", fixture_meta())
    with pytest.raises(SnapshotError, match="unknown"):
        write_snapshot({**snapshot_tables(), "phones": pd.DataFrame()}, tmp_path / "c.db", fixture_meta())


def test_does_not_mutate_inputs(tmp_path):
    tables = snapshot_tables()
    before = {k: v.copy() for k, v in tables.items()}
    write_snapshot(tables, tmp_path / "s.db", fixture_meta())
    for k in tables:
        pd.testing.assert_frame_equal(tables[k], before[k])


def test_checksum_is_of_the_file(tmp_path):
    out = write_snapshot(snapshot_tables(), tmp_path / "s.db", fixture_meta())
    assert out["sha256"] == file_sha256(tmp_path / "s.db") and out["bytes"] > 0


def test_name_keys():
    k = name_keys("百步亭")
    assert (k["pinyin"], k["initials"]) == ("baibuting", "bbt")
    assert set(k["tail"].split()) == {"buting", "bt", "ting", "t"}
    assert name_keys("重庆小区")["pinyin"].startswith("chongqing")
    assert name_keys("")["pinyin"] == ""


def _columns(conn, table):
    return [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]


@pytest.mark.parametrize("old_version", [1, 2, 3, 5])
def test_migrations_from_older_versions_lose_nothing(tmp_path, old_version):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    assert schema.migrate(conn, old_version) == old_version
    tables = snapshot_tables()
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    written = {}
    for table, df in tables.items():
        if table not in present:
            continue
        cols = [c for c in _columns(conn, table) if c in df.columns]
        rows = [tuple(None if pd.isna(v) else (str(v.date()) if isinstance(v, pd.Timestamp) else
                                                (v.item() if hasattr(v, "item") else v)) for v in r)
                for r in df[cols].itertuples(index=False)]
        conn.executemany(f"INSERT INTO [{table}] ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        written[table] = (cols, sorted(rows, key=repr))
    conn.commit()
    conn.close()
    assert written  # some data existed at the old version

    conn = sqlite3.connect(path)
    assert schema.migrate(conn) == schema.LATEST_VERSION
    for table, (cols, rows) in written.items():
        got = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM [{table}]").fetchall(), key=repr)
        assert got == rows, table
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert set(schema.TABLES) | {"communities_fts", "idx_itineraries_uid"} <= present
    assert {"pinyin", "initials", "grade", "score"} <= set(_columns(conn, "communities"))
    assert schema.migrate(conn) == schema.LATEST_VERSION  # idempotent


def test_exposure_level_written_and_checked(built, tmp_path):
    conn = sqlite3.connect(built)
    levels = dict(conn.execute("SELECT uid, level FROM exposure"))
    assert levels == {UIDS["companion"]: "companion", UIDS["possible"]: "possible"}
    # input without a level column: every row is a companion
    tables = snapshot_tables()
    tables["exposure"] = tables["exposure"].drop(columns="level")
    write_snapshot(tables, tmp_path / "no_level.db", fixture_meta())
    got = sqlite3.connect(tmp_path / "no_level.db").execute("SELECT DISTINCT level FROM exposure").fetchall()
    assert got == [("companion",)]
    tables["exposure"] = snapshot_tables()["exposure"].assign(level=["companion", "maybe"])
    with pytest.raises(SnapshotError, match="level"):
        write_snapshot(tables, tmp_path / "bad_level.db", fixture_meta())
    assert not (tmp_path / "bad_level.db").exists()


def test_exposure_level_migration_keeps_rows_as_companions(tmp_path):
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    assert schema.migrate(conn, 5) == 5
    assert "level" not in _columns(conn, "exposure")
    rows = [(11, "2020-02-07", 95.0, 1), (12, "2020-02-08", 61.5, 2)]
    conn.executemany("INSERT INTO exposure (uid, last_date, minutes, cases) VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()

    conn = sqlite3.connect(path)
    assert schema.migrate(conn) == schema.LATEST_VERSION
    got = conn.execute("SELECT uid, last_date, minutes, cases, level FROM exposure ORDER BY uid").fetchall()
    assert got == [r + ("companion",) for r in rows]
    conn.execute("INSERT INTO exposure (uid, level) VALUES (13, 'possible')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO exposure (uid, level) VALUES (14, 'maybe')")
    # a new file gets the same column (with its default) as an upgraded one
    fresh = sqlite3.connect(":memory:")
    schema.migrate(fresh)
    assert [r[1:5] for r in fresh.execute("PRAGMA table_info(exposure)")] == \
        [r[1:5] for r in conn.execute("PRAGMA table_info(exposure)")]


def test_migrate_refuses_newer_file():
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 1}")
    with pytest.raises(ValueError, match="newer"):
        schema.migrate(conn)


def test_failed_migration_rolls_back(monkeypatch):
    conn = sqlite3.connect(":memory:")
    schema.migrate(conn, 1)

    def boom(c):
        c.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(schema, "MIGRATIONS", (schema.m001_core, boom))
    with pytest.raises(RuntimeError):
        schema.migrate(conn, 2)
    assert schema.user_version(conn) == 1
    assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def test_build_exposure_rows_carry_possible_companions_into_the_snapshot(tmp_path):
    from miniapp.pipeline.steps import exposure_with_possible

    day = pd.Timestamp("2020-02-07")
    companions = pd.DataFrame({"uid": [UIDS["companion"]], "last_date": [day], "minutes": [95.0], "cases": [1]})
    t0 = int(pd.Timestamp("2020-02-06 02:00", tz="UTC").timestamp())
    possible = pd.DataFrame({
        "case_id": ["c1", "c2", "c1"],
        "uid": [UIDS["possible"], UIDS["possible"], UIDS["companion"]],  # the companion stays a companion
        "shared_minutes": [45.0, 55.0, 50.0],
        "first_s": [t0, t0 + 86400, t0], "last_s": [t0 + 2700, t0 + 86400 + 3300, t0 + 3000],
        "level": "possible",
    })
    before = possible.copy()
    rows = exposure_with_possible(companions, possible, None, "Asia/Shanghai")
    pd.testing.assert_frame_equal(possible, before)  # inputs are not changed
    assert rows["level"].tolist() == ["companion", "possible"] and rows["uid"].is_unique
    assert rows.iloc[1][["minutes", "cases"]].tolist() == [100.0, 2]
    tables = {**snapshot_tables(), "exposure": rows}
    write_snapshot(tables, tmp_path / "s.db", fixture_meta())
    got = sqlite3.connect(tmp_path / "s.db").execute("SELECT uid, last_date, level FROM exposure ORDER BY level").fetchall()
    assert got == [(UIDS["companion"], "2020-02-07", "companion"), (UIDS["possible"], "2020-02-07", "possible")]
    # nothing possible: the companions alone, all labelled
    assert exposure_with_possible(companions, None, None, "Asia/Shanghai")["level"].tolist() == ["companion"]
    assert exposure_with_possible(companions, possible.iloc[[2]], None, "Asia/Shanghai")["level"].tolist() == ["companion"]
