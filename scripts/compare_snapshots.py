"""Compare two snapshot files: every table, row by row; exit status 1 on any difference.

Used to show that a change of code layout changes no answer: build the demo before and after from
the same feeds and keys, then compare. The build's own facts (``built_at``, ``code_version``) are
expected to differ and are left out of the ``meta`` table's comparison.

Example::

    .venv/bin/python scripts/compare_snapshots.py before/snapshots/snapshot-A.db after/snapshots/snapshot-B.db

The last line is one JSON object: tables compared, rows compared, differences.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

IGNORED_META = ("built_at", "code_version")


def open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)


def tables(con: sqlite3.Connection) -> dict[str, str]:
    """Table name -> its CREATE statement (SQLite's own tables left out)."""
    rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return dict(rows.fetchall())


def rows_of(con: sqlite3.Connection, table: str) -> list[tuple]:
    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
    order = ", ".join(f'"{c}"' for c in cols)
    rows = con.execute(f'SELECT {order} FROM "{table}" ORDER BY {order}').fetchall()
    if table == "meta" and "key" in cols:
        k = cols.index("key")
        rows = [r for r in rows if r[k] not in IGNORED_META]
    return rows


def compare(a: Path, b: Path, *, show: int = 5) -> dict:
    """Differences between the snapshots ``a`` and ``b``: schema, then each table's rows."""
    ca, cb = open_ro(a), open_ro(b)
    try:
        ta, tb = tables(ca), tables(cb)
        diffs = [f"table only in {a.name}: {t}" for t in sorted(set(ta) - set(tb))]
        diffs += [f"table only in {b.name}: {t}" for t in sorted(set(tb) - set(ta))]
        n_rows = 0
        for t in sorted(set(ta) & set(tb)):
            if ta[t] != tb[t]:
                diffs.append(f"{t}: schema differs")
                continue
            ra, rb = rows_of(ca, t), rows_of(cb, t)
            n_rows += len(ra)
            if ra != rb:
                sa, sb = set(ra), set(rb)
                only_a, only_b = sorted(sa - sb, key=repr)[:show], sorted(sb - sa, key=repr)[:show]
                diffs.append(f"{t}: {len(ra)} vs {len(rb)} rows; only in {a.name}: {only_a}; only in {b.name}: {only_b}")
        return {"tables": len(set(ta) & set(tb)), "rows": n_rows, "differences": diffs}
    finally:
        ca.close()
        cb.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    out = compare(args.a, args.b)
    for line in out["differences"]:
        print(line)
    print(json.dumps({"tables": out["tables"], "rows": out["rows"], "differences": len(out["differences"])}))
    return 1 if out["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
