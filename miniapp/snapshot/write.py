"""Write a snapshot: the engine's tables into one new, checked, immutable SQLite file.

:func:`write_snapshot` takes data frames whose columns follow :data:`miniapp.snapshot.schema.TABLES`
and writes a *new* file (it refuses to overwrite). The file is never modified after this function
returns; :mod:`miniapp.snapshot.publish` checks it and swaps it in, :mod:`miniapp.snapshot.read` reads it.

Community search keys are derived here with pypinyin: 百步亭 gets the full pinyin ``baibuting``, the
initials ``bbt``, and the same for every suffix starting at a syllable (``buting``, ``bt`` ...), all
in the FTS5 table ``communities_fts``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import sqlite_utils
from pypinyin import lazy_pinyin

from forecast.contacts import MIN_COUNT
from miniapp.snapshot import schema
from miniapp.snapshot.files import SnapshotError, file_sha256, fsync_file


# A mainland mobile number, bare or with +86/0086/86, not inside a longer run of digits.
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86|0086)?1[3-9]\d{9}(?!\d)")
SMALL_COUNT = MIN_COUNT  # the one small-count threshold (forecast.contacts): counts below it are never shown
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CHAR_TOKEN = re.compile(f"[{_HAN}]|[0-9a-z]+")
_LATIN = re.compile(r"[^0-9a-z]+")
_CHUNK_ROWS = 200_000


def name_keys(name: str) -> dict[str, str]:
    """Search keys of a community name.

    Returns
    -------
    dict with ``pinyin`` and ``initials`` (whole name) and the FTS columns ``chars``, ``head`` and
    ``tail``.

    Examples
    --------
    >>> k = name_keys("百步亭花园")
    >>> k["pinyin"], k["initials"], k["chars"]
    ('baibutinghuayuan', 'bbthy', '百 步 亭 花 园')
    >>> k["tail"].split()[:2]
    ['butinghuayuan', 'bthy']
    >>> name_keys("SOHO现代城")["initials"]
    'sxdc'
    """
    text = str(name).lower()
    syllables = [t for t in (_LATIN.sub("", s.lower()) for s in lazy_pinyin(text)) if t]
    initials = [s[0] for s in syllables]
    tail = []
    for i in range(1, len(syllables)):
        tail.append("".join(syllables[i:]))
        tail.append("".join(initials[i:]))
    pinyin, first = "".join(syllables), "".join(initials)
    return {
        "pinyin": pinyin,
        "initials": first,
        "chars": " ".join(_CHAR_TOKEN.findall(text)),
        "head": f"{pinyin} {first}".strip(),
        "tail": " ".join(tail),
    }


def _dates_as_text(s: pd.Series) -> list:
    """Dates (datetime64, tz-aware or text) as ISO ``YYYY-MM-DD`` text, None for missing."""
    codes, uniques = pd.factorize(s, sort=False)
    labels = np.array([pd.Timestamp(u).strftime("%Y-%m-%d") for u in uniques] + [None], dtype=object)
    return labels[np.where(codes < 0, len(uniques), codes)].tolist()


def _values(s: pd.Series, sqltype: str, column: str) -> list:
    """One column as a list of Python values SQLite can bind."""
    if column.endswith("date") or pd.api.types.is_datetime64_any_dtype(s):
        return _dates_as_text(s)
    if sqltype == "INTEGER":
        if s.isna().any():
            return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else int(v)).tolist()
        return s.astype("int64").tolist()
    if sqltype == "REAL":
        return pd.to_numeric(s).astype("float64").tolist()  # NaN binds as NULL
    out = s.astype(object)
    return out.where(out.notna(), None).map(lambda v: v if v is None or isinstance(v, str) else str(v)).tolist()


def _check_no_phone(df: pd.DataFrame, table: str) -> None:
    """Raise if any text value looks like a phone number (checked once per distinct value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for col in df.columns:
        s = df[col]
        if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
            continue
        uniq = pd.unique(s.dropna().astype(str))
        if not len(uniq):
            continue
        # RE2 prefilter over the whole column, exact check (with digit boundaries) on the few candidates
        rough = pc.match_substring_regex(pa.array(uniq, type=pa.string()), r"1[3-9]\d{9}")
        candidates = uniq[np.asarray(rough.to_numpy(zero_copy_only=False), dtype=bool)]
        n = sum(1 for v in candidates if PHONE_RE.search(v))
        if n:
            raise SnapshotError(f"refusing to write: {n} value(s) in {table}.{col} look like phone numbers")


def _prepare(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check the input tables against the schema; return them with missing optional columns added."""
    unknown = set(tables) - (set(schema.TABLES) - {"meta"})
    if unknown:
        raise SnapshotError(f"unknown snapshot table(s): {', '.join(sorted(unknown))}")
    out: dict[str, pd.DataFrame] = {}
    for table, columns in schema.TABLES.items():
        if table == "meta":
            continue
        df = tables.get(table)
        if df is None:
            if table in schema.REQUIRED_NONEMPTY:
                raise SnapshotError(f"table {table} is required")
            df = pd.DataFrame({c: [] for c in columns})
        missing = [c for c in columns if c not in df.columns and c not in schema.OPTIONAL_COLUMNS.get(table, set())]
        if missing:
            raise SnapshotError(f"table {table} lacks column(s) {', '.join(missing)}")
        df = df.reindex(columns=list(columns))  # copy with schema order; optional missing -> NaN
        _check_no_phone(df, table)
        out[table] = df
    return out


def _insert(conn: sqlite3.Connection, table: str, columns: dict[str, str], df: pd.DataFrame, bar=None) -> int:
    names = list(columns)
    sql = f"INSERT INTO [{table}] ({', '.join(f'[{c}]' for c in names)}) VALUES ({', '.join('?' * len(names))})"
    for start in range(0, len(df), _CHUNK_ROWS):
        part = df.iloc[start : start + _CHUNK_ROWS]
        cols = [_values(part[c], columns[c], c) for c in names]
        conn.executemany(sql, zip(*cols))
        if bar is not None:
            bar.update(len(part))
    return len(df)


def _exposure_levels(exposure: pd.DataFrame) -> pd.DataFrame:
    """Exposure rows with ``level`` filled (missing -> ``companion``) and checked.

    Examples
    --------
    >>> e = pd.DataFrame({"uid": [1, 2], "level": [None, "possible"]})
    >>> _exposure_levels(e)["level"].tolist()
    ['companion', 'possible']
    """
    out = exposure.copy()
    level = out["level"].astype(object).where(out["level"].notna(), "companion")
    bad = ~level.isin(schema.EXPOSURE_LEVELS)
    if bad.any():
        raise SnapshotError(f"refusing to write: {int(bad.sum())} exposure row(s) with a level other than "
                            f"{' or '.join(schema.EXPOSURE_LEVELS)}")
    out["level"] = level
    return out


def _communities(communities: pd.DataFrame, grades: pd.DataFrame, grade_date: str | None) -> pd.DataFrame:
    """Communities with their search keys and current grade."""
    names = communities["name"].astype(str)
    uniq = names.drop_duplicates()
    keys = pd.DataFrame([name_keys(n) for n in uniq], index=uniq.to_numpy())  # per distinct name
    out = communities.copy()
    out["pinyin"] = keys["pinyin"].reindex(names).to_numpy()
    out["initials"] = keys["initials"].reindex(names).to_numpy()
    for c in ("chars", "head", "tail"):
        out["_" + c] = keys[c].reindex(names).to_numpy()
    if grade_date is not None and len(grades):
        g = grades[grades["date"] == grade_date].drop_duplicates("community_id", keep="last")
        g = g.set_index("community_id")
        out["grade"] = g["grade"].reindex(out["community_id"]).to_numpy()
        out["score"] = g["score"].reindex(out["community_id"]).to_numpy()
    else:
        out["grade"], out["score"] = None, np.nan
    return out


def _jsonable(v: object) -> object:
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def write_snapshot(
    tables: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    meta: Mapping[str, object] | None = None,
    *,
    grade_date: str | None = None,
    small_count: int = SMALL_COUNT,
    progress: bool = False,
) -> dict:
    """Write the snapshot tables into a new SQLite file at ``path``.

    Parameters
    ----------
    tables : mapping of table name to pandas.DataFrame
        Columns as in :data:`miniapp.snapshot.schema.TABLES` (``meta`` excluded; ``cities``,
        ``communities`` and ``grades`` required, the others may be missing). Date columns may be
        datetime64 or ISO text.
    path : path-like
        The new file; it must not exist (a build writes to a temporary name and publishes it).
    meta : mapping
        Build facts (as_of, code_version, params, inputs ...), stored JSON-encoded in ``meta``.
    grade_date : str, optional
        The day whose grades are current; default the latest date in ``grades``.
    small_count : int
        Nearby case counts below it are stored as NULL (shown as "fewer than N").
    progress : bool
        Show tqdm progress bars.

    Returns
    -------
    dict with ``path``, ``rows`` (per table), ``bytes`` and ``sha256``.

    Raises
    ------
    SnapshotError
        Missing tables or columns, a phone number in any text, an existing file, a failed
        integrity check.

    Examples
    --------
    >>> import tempfile
    >>> cities = pd.DataFrame({"city_code": [420100], "name": ["武汉"]})
    >>> comms = pd.DataFrame({"community_id": [1], "name": ["百步亭"], "city_code": [420100],
    ...                       "lon": [114.3], "lat": [30.6]})
    >>> grades = pd.DataFrame({"community_id": [1], "date": ["2020-02-01"], "score": [0.4],
    ...                        "grade": ["low"]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = write_snapshot({"cities": cities, "communities": comms, "grades": grades},
    ...                          Path(d) / "s.db", {"as_of": "2020-02-02"})
    >>> out["rows"]["communities"], len(out["sha256"])
    (1, 64)
    """
    path = Path(path)
    if path.exists():
        raise SnapshotError(f"{path} exists; a snapshot is written once, to a new file")
    prepared = _prepare(tables)
    grades = prepared["grades"].copy()
    grades["date"] = _dates_as_text(grades["date"])
    grades["reasons"] = grades["reasons"].map(
        lambda v: v if v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v))
        else json.dumps(v, ensure_ascii=False, default=_jsonable)
    )
    _check_no_phone(grades[["reasons"]], "grades")
    if grade_date is None and len(grades):
        grade_date = max(d for d in grades["date"] if d is not None)
    prepared["grades"] = grades
    comms = _communities(prepared["communities"], grades, grade_date)
    prepared["exposure"] = _exposure_levels(prepared["exposure"])
    near = prepared["nearby_cases"].copy()
    cases = pd.to_numeric(near["cases"])
    near["cases"] = cases.astype("Int64").where(cases >= small_count)
    prepared["nearby_cases"] = near

    meta_rows = dict(meta or {})
    meta_rows.setdefault("built_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta_rows["grade_date"] = grade_date
    meta_rows["schema_version"] = schema.LATEST_VERSION
    meta_rows["small_count"] = small_count
    rows = {t: len(df) for t, df in prepared.items()}
    meta_rows["rows"] = rows
    meta_df = pd.DataFrame(
        {
            "key": list(meta_rows),
            "value": [json.dumps(v, ensure_ascii=False, default=_jsonable, sort_keys=True) for v in meta_rows.values()],
        }
    )
    _check_no_phone(meta_df, "meta")
    rows["meta"] = len(meta_df)

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a private new file: nothing to recover
        conn.execute("PRAGMA synchronous = OFF")  # fsynced once at the end
        conn.execute("PRAGMA cache_size = -262144")
        schema.migrate(conn, indexes=False)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=sum(rows.values()), desc="snapshot", unit="row", unit_scale=True)
        conn.execute("BEGIN")
        _insert(conn, "meta", schema.TABLES["meta"], meta_df, bar)
        comm_cols = {**schema.TABLES["communities"], **schema.DERIVED_COLUMNS["communities"]}
        _insert(conn, "communities", comm_cols, comms, bar)
        fts = pd.DataFrame({"rowid": comms["community_id"], "chars": comms["_chars"],
                            "head": comms["_head"], "tail": comms["_tail"]})
        _insert(conn, "communities_fts", {"rowid": "INTEGER", "chars": "TEXT", "head": "TEXT", "tail": "TEXT"}, fts)
        for table, df in prepared.items():
            if table != "communities":
                _insert(conn, table, schema.TABLES[table], df, bar)
        conn.execute("COMMIT")
        if bar is not None:
            bar.close()
        db = sqlite_utils.Database(conn)
        for sql in schema.INDEXES:
            db.execute(sql)
        db.analyze()
        conn.execute("INSERT INTO communities_fts(communities_fts) VALUES ('optimize')")
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise SnapshotError(f"integrity check failed on the new snapshot: {'; '.join(check[:5])}")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()
    fsync_file(path)
    return {"path": str(path), "rows": rows, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
