"""scripts/compare_snapshots.py finds every changed row and ignores only the build's own facts."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

from miniapp.snapshot import write_snapshot
from tests.miniapp.snapshot_fixture import fixture_meta, snapshot_tables

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_snapshots.py"
spec = importlib.util.spec_from_file_location("compare_snapshots", SCRIPT)
compare_snapshots = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_snapshots)


def test_same_content_built_twice_has_no_difference(tmp_path, capsys):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    write_snapshot(snapshot_tables(), a, fixture_meta())
    write_snapshot(snapshot_tables(), b, {**fixture_meta(), "code_version": "other"})
    out = compare_snapshots.compare(a, b)
    assert out["differences"] == [] and out["tables"] >= 10 and out["rows"] > 50
    assert compare_snapshots.main([str(a), str(b)]) == 0
    assert capsys.readouterr().out.strip().endswith('"differences": 0}')


def test_one_changed_value_is_found(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    write_snapshot(snapshot_tables(), a, fixture_meta())
    tables = snapshot_tables()
    grades = tables["grades"].copy()
    grades.loc[grades.index[0], "score"] = grades["score"].iloc[0] + 1e-9
    tables["grades"] = grades
    write_snapshot(tables, b, fixture_meta())
    diffs = compare_snapshots.compare(a, b)["differences"]
    assert len(diffs) == 1 and diffs[0].startswith("grades:")
    assert compare_snapshots.main([str(a), str(b)]) == 1


def test_a_missing_table_is_found(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    write_snapshot(snapshot_tables(), a, fixture_meta())
    write_snapshot(snapshot_tables(), b, fixture_meta())
    with sqlite3.connect(b) as con:
        con.execute("DROP TABLE trips_of_cases")
    con.close()
    assert "table only in a.db: trips_of_cases" in compare_snapshots.compare(a, b)["differences"]
