"""The crowd store: one small SQLite file (``crowd.db``) that each refresh replaces whole.

A refresh writes ``crowd.db.tmp-<pid>``, commits, fsyncs the file and its directory, then
``os.replace`` swaps it in: a reader sees the old file or the new one, never a half-written one (an
open connection keeps reading the file it opened). A refresh that fails leaves the served file as it
was and records the failure in ``refresh-failed.json`` beside it (removed by the next success).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd

STORE_NAME = "crowd.db"
FAILURE_NAME = "refresh-failed.json"
SCHEMA_VERSION = 1
_TABLES = {
    "markets": "market_id INTEGER PRIMARY KEY, name TEXT NOT NULL, name_en TEXT, city_code INTEGER, address TEXT, "
               "lon REAL, lat REAL, n_cells INTEGER, level TEXT NOT NULL, ratio REAL, weeks INTEGER, "
               "people_now INTEGER, usual_people INTEGER",
    "market_cells": "market_id INTEGER NOT NULL, cell_id INTEGER NOT NULL, PRIMARY KEY (market_id, cell_id)",
    "history": "market_id INTEGER NOT NULL, slot_s INTEGER NOT NULL, subscribers INTEGER NOT NULL, "
               "PRIMARY KEY (market_id, slot_s)",
    "meta": "key TEXT PRIMARY KEY, value TEXT",
}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_store(crowd_dir: str | os.PathLike, tables: dict[str, pd.DataFrame], meta: dict, *, _before_replace=None) -> Path:
    """Write a new crowd store and swap it in atomically.

    Parameters
    ----------
    crowd_dir : path-like
        The store's directory (created if missing).
    tables : dict
        ``markets``, ``market_cells``, ``history`` frames (columns of the tables above).
    meta : dict
        Meta rows (JSON-encoded values).
    _before_replace : callable, optional
        Test hook, called with the temporary path just before the swap.

    Returns
    -------
    Path
        The served store.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     m = pd.DataFrame({"market_id": [1], "name": ["菜场"], "level": ["green"]})
    ...     p = write_store(d, {"markets": m}, {"refreshed_at_s": 1})
    ...     CrowdStore(p).markets()[0]["level"]
    'green'
    """
    crowd_dir = Path(crowd_dir)
    crowd_dir.mkdir(parents=True, exist_ok=True)
    path = crowd_dir / STORE_NAME
    tmp = crowd_dir / f"{STORE_NAME}.tmp-{os.getpid()}-{threading.get_ident()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            for name, cols in _TABLES.items():
                con.execute(f"CREATE TABLE {name} ({cols})")
            for name in ("markets", "market_cells", "history"):
                frame = tables.get(name)
                if frame is not None and len(frame):
                    frame.to_sql(name, con, if_exists="append", index=False, chunksize=50_000)
            rows = [(k, json.dumps(v)) for k, v in {**meta, "schema_version": SCHEMA_VERSION}.items()]
            con.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            con.commit()
        finally:
            con.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if _before_replace is not None:
            _before_replace(tmp)
        os.replace(tmp, path)
        _fsync_dir(crowd_dir)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(FileNotFoundError):
        (crowd_dir / FAILURE_NAME).unlink()
    return path


def write_failure(crowd_dir: str | os.PathLike, reason: str, at_s: float | None = None) -> None:
    """Record a failed refresh beside the store (the served store is not touched)."""
    crowd_dir = Path(crowd_dir)
    crowd_dir.mkdir(parents=True, exist_ok=True)
    tmp = crowd_dir / f"{FAILURE_NAME}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"at_s": int(at_s if at_s is not None else time.time()), "reason": reason[:500]}))
    os.replace(tmp, crowd_dir / FAILURE_NAME)


def read_failure(crowd_dir: str | os.PathLike) -> dict | None:
    """The last failed refresh (``at_s``, ``reason``) if it came after the served store, else None.

    Parameters
    ----------
    crowd_dir : path-like
        The store's directory.

    Returns
    -------
    dict or None

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     read_failure(d) is None
    True
    """
    try:
        return json.loads((Path(crowd_dir) / FAILURE_NAME).read_text())
    except (OSError, ValueError):
        return None


class CrowdStore:
    """One crowd store file, read-only.

    Parameters
    ----------
    path : path-like
        A ``crowd.db``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._meta = {r["key"]: json.loads(r["value"]) for r in self._query("SELECT key, value FROM meta")}

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def meta(self) -> dict:
        """The refresh's meta rows (``refreshed_at_s``, ``newest_ping_s``, ``small_count`` ...)."""
        return dict(self._meta)

    def markets(self) -> list[dict]:
        """Every market with its level, by name."""
        return [dict(r) for r in self._query("SELECT * FROM markets ORDER BY name, market_id")]

    def market(self, market_id: int) -> dict | None:
        """One market and its cells, or None."""
        rows = self._query("SELECT * FROM markets WHERE market_id = ?", (int(market_id),))
        if not rows:
            return None
        out = dict(rows[0])
        out["cells"] = [r[0] for r in self._query("SELECT cell_id FROM market_cells WHERE market_id = ? ORDER BY cell_id",
                                                   (int(market_id),))]
        return out

    def history(self) -> pd.DataFrame:
        """The slot counts kept (``market_id``, ``slot_s``, ``subscribers``), for the next refresh."""
        with self._lock:
            return pd.read_sql_query("SELECT market_id, slot_s, subscribers FROM history", self._con)

    def close(self) -> None:
        self._con.close()


class CrowdReader:
    """The served crowd store of a directory, reopened when a refresh has swapped in a new file.

    Calling it returns the current :class:`CrowdStore` (or None when there is none, or it is unreadable).

    Parameters
    ----------
    crowd_dir : path-like
        The store's directory (``RISKCARD_CROWD_DIR``).
    """

    def __init__(self, crowd_dir: str | os.PathLike):
        self.crowd_dir = Path(crowd_dir)
        self._store: CrowdStore | None = None
        self._stamp: tuple | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CrowdStore | None:
        path = self.crowd_dir / STORE_NAME
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    store = CrowdStore(path)
                except (sqlite3.Error, ValueError):
                    return self._store
                self._store, self._stamp = store, stamp  # the old connection closes when nobody holds it
            return self._store

    def failure(self) -> dict | None:
        """The last failed refresh after the served store, if any (see :func:`read_failure`)."""
        return read_failure(self.crowd_dir)
