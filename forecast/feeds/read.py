"""Reading and validating feeds: raw files in, canonical tables, a quarantine and a report out.

Each feed (pings, cells, communities, cities, cases, case_trips, city_cases; docs/data.md) is one file
(``.parquet``, ``.csv``, ``.csv.gz``) or a directory of ``part-*`` files read in order. A file that
cannot be read at all raises :class:`FeedError`. Otherwise every row ends in exactly one place: the
canonical table (forecast/schema.py), or the quarantine with a reason code and a detail. No good row
is dropped and no raw phone number leaves: pings and cases carry ``uid`` (a keyed HMAC pseudonym),
and the quarantine shows numbers masked.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import schema
from forecast.feeds.files import BadLine, FeedError, feed_parts, iter_part_batches, read_part
from forecast.feeds.parse import Problems
from forecast.feeds.rules import FEED_ORDER, SPECS, Context, FeedSpec, quarantine_rows

__all__ = [
    "FEED_KINDS",
    "FeedCounts",
    "FeedReport",
    "find_feed",
    "iter_ping_batches",
    "read_feed",
    "read_feeds",
    "write_quarantine",
]

FEED_KINDS = FEED_ORDER
QUARANTINE_COLUMNS = ("source", "row", "reason", "detail")
FLAG_DECREASING = "decreasing_cumulative"


@dataclass
class FeedCounts:
    """Counts for one feed. ``rows_in == rows_ok + rows_quarantined`` always holds."""

    rows_in: int = 0
    rows_ok: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined rows per reason code
    flags: dict[str, int] = field(default_factory=dict)  # kept rows with a warning, per code
    files: list[str] = field(default_factory=list)

    def merged(self, other: FeedCounts) -> FeedCounts:
        def add(a: dict, b: dict) -> dict:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}

        return FeedCounts(
            self.rows_in + other.rows_in,
            self.rows_ok + other.rows_ok,
            self.rows_quarantined + other.rows_quarantined,
            add(self.reasons, other.reasons),
            add(self.flags, other.flags),
            self.files + [f for f in other.files if f not in self.files],
        )

    def to_dict(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "rows_ok": self.rows_ok,
            "rows_quarantined": self.rows_quarantined,
            "reasons": dict(sorted(self.reasons.items())),
            "flags": dict(sorted(self.flags.items())),
            "files": list(self.files),
        }


@dataclass
class FeedReport:
    """Per-feed counts of an ingest run.

    Examples
    --------
    >>> a = FeedReport({"pings": FeedCounts(3, 2, 1, {"bad_ts": 1})})
    >>> b = FeedReport({"pings": FeedCounts(2, 2, 0)})
    >>> m = a.merge(b)
    >>> m["pings"].rows_in, m.rows_quarantined, m.to_dict()["feeds"]["pings"]["reasons"]
    (5, 1, {'bad_ts': 1})
    """

    feeds: dict[str, FeedCounts] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> FeedCounts:
        return self.feeds[kind]

    def __contains__(self, kind: str) -> bool:
        return kind in self.feeds

    @property
    def rows_in(self) -> int:
        return sum(c.rows_in for c in self.feeds.values())

    @property
    def rows_ok(self) -> int:
        return sum(c.rows_ok for c in self.feeds.values())

    @property
    def rows_quarantined(self) -> int:
        return sum(c.rows_quarantined for c in self.feeds.values())

    def merge(self, other: FeedReport) -> FeedReport:
        """A new report with the counts of both (feeds present in both are summed)."""
        feeds = dict(self.feeds)
        for kind, counts in other.feeds.items():
            feeds[kind] = feeds[kind].merged(counts) if kind in feeds else counts.merged(FeedCounts())
        return FeedReport(feeds)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict: ``{"feeds": {kind: counts}, "totals": {...}}``."""
        return {
            "feeds": {k: c.to_dict() for k, c in self.feeds.items()},
            "totals": {"rows_in": self.rows_in, "rows_ok": self.rows_ok, "rows_quarantined": self.rows_quarantined},
        }


def _spec(kind: str) -> FeedSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown feed kind {kind!r}; expected one of {list(SPECS)}") from None


def _mask(n: int, pos: np.ndarray) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[pos] = True
    return m


def _sort_pings(uid: np.ndarray, ts: np.ndarray, cell: np.ndarray, rank: np.ndarray | None = None) -> np.ndarray:
    """Order of rows by (uid, ts_s, cell_id).

    One stable argsort of a packed int64 key (rank of uid, then seconds) instead of a 3-key lexsort;
    only runs of equal (uid, ts_s), which are rare, are sorted again by cell_id. ``rank`` (the uid's
    rank among the distinct uids, from validation) saves hashing every row here.
    """
    if len(uid) == 0:
        return np.zeros(0, dtype=np.int64)
    if rank is None:
        rank, uniq = pd.factorize(uid, sort=True)
        n_uniq = len(uniq)
    else:
        n_uniq = int(rank.max()) + 1
    t0, span = int(ts.min()), int(ts.max()) - int(ts.min()) + 1
    if n_uniq * span >= 2**62:  # cannot pack: fall back to the general sort
        return np.lexsort((cell, ts, uid))
    key = rank.astype(np.int64) * span + (ts - t0)
    order = np.argsort(key, kind="stable")
    k = key[order]
    tie = np.zeros(len(k), dtype=bool)
    tie[1:] = k[1:] == k[:-1]
    tie[:-1] |= tie[1:]
    if tie.any():
        pos = np.flatnonzero(tie)
        sub = order[pos]
        order[pos] = sub[np.lexsort((cell[sub], key[sub]))]
    return order


def _dedup_pings(values: dict[str, np.ndarray], ok_pos: np.ndarray, p: Problems) -> np.ndarray:
    """Sort good pings by (uid, ts_s, cell_id), flag exact repeats; return the kept positions in order."""
    cols = ("uid", "ts_s", "cell_id")
    rank = values.get("_uid_rank")
    if len(ok_pos) == len(p.ids):  # all good: no need to gather
        uid, ts, cell = (values[c] for c in cols)
    else:
        uid, ts, cell = (values[c][ok_pos] for c in cols)
        rank = None if rank is None else rank[ok_pos]
    order = _sort_pings(uid, ts, cell, rank)
    uid, ts, cell = uid[order], ts[order], cell[order]
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (uid[1:] == uid[:-1]) & (ts[1:] == ts[:-1]) & (cell[1:] == cell[:-1])
    sorted_pos = ok_pos[order]
    p.flag(_mask(len(p.ids), sorted_pos[dup]), "duplicate", "same subscriber, time and cell as an earlier row")
    return sorted_pos[~dup]


def _dedup_table(spec: FeedSpec, canon: pd.DataFrame, ok_pos: np.ndarray, p: Problems) -> np.ndarray:
    """Flag exact repeats and repeated keys (the first row wins); return kept positions, sorted."""
    ok = canon.iloc[ok_pos]
    n = len(p.ids)
    dup = ok.duplicated(keep="first").to_numpy()
    p.flag(_mask(n, ok_pos[dup]), "duplicate", "same values as an earlier row")
    if spec.key:
        keep = ~dup
        key_dup = ok[keep].duplicated(subset=list(spec.key), keep="first").to_numpy()
        p.flag(_mask(n, ok_pos[keep][key_dup]), "duplicate_key", f"same {'+'.join(spec.key)} as an earlier row, other values")
    kept = np.flatnonzero(~p.bad)
    order = canon.iloc[kept].reset_index(drop=True).sort_values(list(spec.sort_by), kind="stable").index.to_numpy()
    return kept[order]


def _flags(spec: FeedSpec, out: pd.DataFrame) -> dict[str, int]:
    """Warnings on kept rows. A decreasing cumulative count is a reporting correction: kept, counted."""
    if spec.kind != "city_cases" or out.empty:
        return {}
    same_city = out["city_code"].to_numpy()[1:] == out["city_code"].to_numpy()[:-1]
    drop = np.diff(out["confirmed"].to_numpy()) < 0
    n = int((same_city & drop).sum())
    return {FLAG_DECREASING: n} if n else {}


def _validate(raw: pd.DataFrame, bad_lines: list[BadLine], spec: FeedSpec, ctx: Context, files: list[str]):
    """Validate one raw chunk: (canonical frame, quarantine frame, counts)."""
    raw = raw.reset_index(drop=True)
    p = Problems(len(raw))
    values = spec.validate(raw, p, ctx)
    ok_pos = np.flatnonzero(~p.bad)
    if spec.kind == "pings":
        kept = _dedup_pings(values, ok_pos, p)
    else:
        canon_all = pd.DataFrame(values)
        kept = _dedup_table(spec, canon_all, ok_pos, p)
    cols = {**spec.canonical, **{c: t for c, t in spec.optional_canonical.items() if c in values}}
    out = pd.DataFrame({c: pd.Series(values[c][kept]).astype(t) for c, t in cols.items()})

    bad_pos = np.flatnonzero(p.bad)
    q = quarantine_rows(raw.iloc[bad_pos], spec).reset_index(drop=True)
    q["source"] = raw["_source"].to_numpy()[bad_pos] if len(bad_pos) else np.array([], dtype=object)
    q["row"] = raw["_row"].to_numpy(dtype=np.int64)[bad_pos]
    q["reason"] = p.reasons()[bad_pos]
    q["detail"] = p.details()[bad_pos]
    if bad_lines:
        lines = pd.DataFrame(
            {
                "source": [b.source for b in bad_lines],
                "row": -1,
                "reason": "bad_row",
                "detail": [b.detail for b in bad_lines],
            }
        )
        q = pd.concat([q, lines], ignore_index=True)
    q = _quarantine_frame(q, spec)
    reasons = q["reason"].value_counts()
    counts = FeedCounts(
        rows_in=len(raw) + len(bad_lines),
        rows_ok=len(out),
        rows_quarantined=len(q),
        reasons={str(k): int(v) for k, v in reasons.items()},
        flags=_flags(spec, out),
        files=files,
    )
    return out, q, counts


def _quarantine_frame(q: pd.DataFrame, spec: FeedSpec) -> pd.DataFrame:
    raw_cols = [c for c in spec.required + spec.optional if c in spec.required or c in q]
    q = q.reindex(columns=raw_cols + list(QUARANTINE_COLUMNS))
    text_cols = [c for c in q.columns if c != "row"]
    q[text_cols] = q[text_cols].fillna("").astype("string")
    q["row"] = q["row"].astype("int64")
    return q


def read_feed(
    path: str | os.PathLike,
    kind: str,
    *,
    pseudonym_key: bytes | None = None,
    cells: pd.DataFrame | None = None,
    tz: str = schema.DEFAULT_TZ,
    valid_window: tuple[int, int] | None = None,
    cities: pd.DataFrame | None = None,
    communities: pd.DataFrame | None = None,
    cases: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, FeedReport]:
    """Read and validate one feed.

    Parameters
    ----------
    path : path-like
        A ``.parquet``/``.csv``/``.csv.gz`` file, or a directory of ``part-*`` files (read in order).
    kind : str
        One of :data:`FEED_KINDS`.
    pseudonym_key : bytes, optional
        HMAC key (>= 16 bytes); required for feeds with phone numbers (pings, cases).
    cells, cities, communities, cases : DataFrame, optional
        Canonical reference tables; when given, rows naming an unknown cell, city, community or case
        are quarantined (``unknown_cell`` ...).
    tz : str
        IANA zone of naive local times and local days.
    valid_window : (int, int), optional
        ``[start_s, end_s)`` in Unix seconds; pings outside it are ``ts_out_of_range``. Default
        2000-01-01 .. 2100-01-01.

    Returns
    -------
    canonical : DataFrame
        Good rows with the columns and dtypes of the feed's canonical table (forecast/schema.py);
        pings sorted by (uid, ts_s) with exact duplicates removed.
    quarantine : DataFrame
        Bad rows as delivered (text; phone numbers masked) plus ``source``, ``row``, ``reason``,
        ``detail``.
    report : FeedReport

    Raises
    ------
    FeedError
        If a file is missing, empty, truncated or corrupt, or lacks columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = pathlib.Path(tmp.name)
    >>> example = "13800138000"
    >>> _ = (d / "pings.csv").write_text(
    ...     "msisdn,ts,cell_id\\n"
    ...     f"{example},2020-01-23 10:00,7\\n"
    ...     f"{example},2020-01-23T02:00:00Z,7\\n"
    ...     "12345,1579744800,7\\n")
    >>> pings, bad, report = read_feed(d / "pings.csv", "pings", pseudonym_key=b"k" * 32)
    >>> pings[["ts_s", "cell_id"]].values.tolist()
    [[1579744800, 7]]
    >>> bad[["msisdn", "reason"]].values.tolist()
    [['138****8000', 'duplicate'], ['***', 'bad_msisdn']]
    >>> report["pings"].rows_in, report["pings"].rows_ok, report["pings"].rows_quarantined
    (3, 1, 2)
    >>> tmp.cleanup()
    """
    spec = _spec(kind)
    ctx = Context(pseudonym_key, tz, valid_window, cells, cities, communities, cases)
    if spec.has_msisdn:
        ctx.key(kind)
    parts = feed_parts(path)
    raws, bad_lines = [], []
    for part in parts:
        raw, bad = read_part(part, spec.required, spec.optional)
        raws.append(raw)
        bad_lines.extend(bad)
    raw = raws[0] if len(raws) == 1 else pd.concat(raws, ignore_index=True)
    out, q, counts = _validate(raw, bad_lines, spec, ctx, [str(p) for p in parts])
    return out, q, FeedReport({kind: counts})


def iter_ping_batches(
    path: str | os.PathLike,
    *,
    pseudonym_key: bytes,
    batch_rows: int = 5_000_000,
    cells: pd.DataFrame | None = None,
    tz: str = schema.DEFAULT_TZ,
    valid_window: tuple[int, int] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, FeedReport]]:
    """Read a large pings feed in batches of at most ``batch_rows`` rows, with bounded memory.

    Each batch is validated exactly as :func:`read_feed` does, and yields ``(pings, quarantine,
    report)``; merge the reports for the run's totals. Sorting and duplicate removal are per batch.

    Parameters
    ----------
    path : path-like
        A pings file (``.parquet``/``.csv``/``.csv.gz``) or a directory of ``part-*`` files (read in order).
    pseudonym_key : bytes
        HMAC key (>= 16 bytes) that turns numbers into ``uid``.
    batch_rows : int
        Most rows per batch; a batch never spans two part files.
    cells : DataFrame, optional
        Canonical CELLS; when given, pings at an unknown cell are quarantined (``unknown_cell``).
    tz : str
        IANA zone of naive local times.
    valid_window : (int, int), optional
        ``[start_s, end_s)`` in Unix seconds; pings outside it are ``ts_out_of_range``. Default
        2000-01-01 .. 2100-01-01.

    Yields
    ------
    pings : DataFrame
        The batch's good rows as PINGS, sorted by (uid, ts_s), exact duplicates removed.
    quarantine : DataFrame
        The batch's bad rows as delivered (numbers masked) plus ``source``, ``row``, ``reason``, ``detail``.
    report : FeedReport
        The batch's counts under ``"pings"``.

    Raises
    ------
    FeedError
        If a file is missing, empty, truncated or corrupt, or lacks columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = tempfile.TemporaryDirectory()
    >>> d = pathlib.Path(tmp.name)
    >>> example = ("13800138000", "13800138001")
    >>> _ = (d / "pings.csv").write_text(f"msisdn,ts,cell_id\\n{example[0]},1579744800,1\\n{example[1]},1579744800,2\\n")
    >>> [len(b) for b, _, _ in iter_ping_batches(d / "pings.csv", pseudonym_key=b"k" * 32, batch_rows=1)]
    [1, 1]
    >>> tmp.cleanup()
    """
    spec = _spec("pings")
    ctx = Context(pseudonym_key, tz, valid_window, cells)
    ctx.key("pings")
    for part in feed_parts(path):
        for raw, bad in iter_part_batches(part, spec.required, spec.optional, batch_rows):
            out, q, counts = _validate(raw, bad, spec, ctx, [str(part)])
            yield out, q, FeedReport({"pings": counts})


_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")


def find_feed(feed_dir: str | os.PathLike, kind: str) -> Path | None:
    """The file or part directory of ``kind`` in ``feed_dir`` (``pings.parquet``, ``pings/`` ...), or None.

    Parameters
    ----------
    feed_dir : path-like
        The directory of the feeds.
    kind : str
        One of :data:`FEED_KINDS` (the file's stem, e.g. ``"pings"``).

    Returns
    -------
    Path or None
        ``feed_dir/<kind>.parquet``, ``.pq``, ``.csv`` or ``.csv.gz``, or the directory ``feed_dir/<kind>``;
        None when there is none.

    Raises
    ------
    FeedError
        If more than one of them exists.
    """
    feed_dir = Path(feed_dir)
    found = [feed_dir / f"{kind}{s}" for s in _SUFFIXES if (feed_dir / f"{kind}{s}").is_file()]
    if (feed_dir / kind).is_dir():
        found.append(feed_dir / kind)
    if len(found) > 1:
        raise FeedError(f"{feed_dir}: several files for feed {kind!r}: {[p.name for p in found]}; keep one")
    return found[0] if found else None


def read_feeds(
    feed_dir: str | os.PathLike,
    *,
    pseudonym_key: bytes,
    tz: str = schema.DEFAULT_TZ,
    valid_window: tuple[int, int] | None = None,
    required: tuple[str, ...] = (),
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame], FeedReport]:
    """Read every feed found in ``feed_dir``, reference feeds first.

    cities, then communities (checked against cities), cells (against cities and communities),
    pings (against cells), cases (against cities and communities), case_trips (against cases) and
    city_cases (against cities). Feeds that are absent are skipped unless named in ``required``.

    Parameters
    ----------
    feed_dir : path-like
        The directory of the feeds (``pings.csv``, ``cells.parquet``, ``pings/part-*`` ...).
    pseudonym_key : bytes
        HMAC key (>= 16 bytes) for the feeds with phone numbers (pings, cases).
    tz : str
        IANA zone of naive local times and local days.
    valid_window : (int, int), optional
        ``[start_s, end_s)`` in Unix seconds for pings (see :func:`read_feed`).
    required : tuple of str
        Feed kinds that must be present (``FeedError`` otherwise).

    Returns
    -------
    tables : dict of kind -> canonical DataFrame
    quarantine : dict of kind -> quarantine DataFrame
    report : FeedReport
    """
    feed_dir = Path(feed_dir)
    if not feed_dir.is_dir():
        raise FeedError(f"{feed_dir}: feed directory not found")
    tables: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    report = FeedReport()
    for kind in FEED_ORDER:
        path = find_feed(feed_dir, kind)
        if path is None:
            if kind in required:
                raise FeedError(f"{feed_dir}: no {kind} feed; expected {kind}.parquet, {kind}.csv(.gz) or {kind}/part-*")
            continue
        refs = {k: tables.get(k) for k in ("cells", "cities", "communities", "cases")}
        tables[kind], quarantine[kind], r = read_feed(
            path, kind, pseudonym_key=pseudonym_key, tz=tz, valid_window=valid_window, **refs
        )
        report = report.merge(r)
    if not tables:
        raise FeedError(f"{feed_dir}: no feed files; expected names like {[k + '.csv' for k in FEED_ORDER]}")
    return tables, quarantine, report


def write_quarantine(quarantine: dict[str, pd.DataFrame], out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write each feed's quarantine as ``out_dir/<kind>.quarantine.csv`` (UTF-8, header always).

    Files are written to a temporary name and renamed, so a reader never sees half a file.

    Parameters
    ----------
    quarantine : dict of str to DataFrame
        Quarantine frames by feed kind (e.g. the second result of :func:`read_feeds`).
    out_dir : path-like
        Directory to write to; created if missing. Existing files of the same name are replaced.

    Returns
    -------
    dict of str to Path
        The path written for each feed kind.

    Examples
    --------
    >>> import tempfile
    >>> q = {"pings": pd.DataFrame({"msisdn": ["***"], "reason": ["bad_msisdn"]})}
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_quarantine(q, tmp)
    ...     paths["pings"].read_text().splitlines()
    ['msisdn,reason', '***,bad_msisdn']
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, frame in quarantine.items():
        path = out_dir / f"{kind}.quarantine.csv"
        tmp = path.with_name(path.name + ".tmp")
        frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
        paths[kind] = path
    return paths
