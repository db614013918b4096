"""The markets feed: each market (name, place, city) with the cells that serve it; bad rows quarantined.

One row per market (docs/data.md, docs/crowding.md)::

    market_id,name,name_en,city_code,address,lon,lat,cell_ids
    1,菜篮子市场,Vegetable Basket Market,330300,鹿城区府前街1号,120.65,28.01,101;102

``cell_ids`` lists the market's cells separated by ``;`` (or ``|``). Rules, first problem wins, as for
every feed (forecast/feeds/): ``market_id`` an integer (``bad_type``), ``name`` present
(``missing_value``), ``city_code`` six digits, ``lon``/``lat`` in range, ``cell_ids`` present and all
integers (``bad_value``) and, with a cells feed, all known (``unknown_cell``); a repeated ``market_id``
is ``duplicate_key`` (the first row wins). Every row ends either in the markets or in the quarantine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.feeds.files import feed_parts, read_part
from forecast.feeds.parse import Problems, as_text, parse_float, parse_int, parse_text
from forecast.feeds.rules import CITY_CODE_RANGE

MARKETS = {"market_id": "int64", "name": "string", "name_en": "string", "city_code": "int64", "address": "string",
           "lon": "float64", "lat": "float64"}
RAW_COLUMNS = ("market_id", "name", "name_en", "city_code", "address", "lon", "lat", "cell_ids")
OPTIONAL = ("name_en", "address")
QUARANTINE_COLUMNS = RAW_COLUMNS + ("source", "row", "reason", "detail")
_SEP = r"[;|]"


def _cells_of(raw: pd.DataFrame, p: Problems, cells: pd.DataFrame | None) -> pd.DataFrame:
    """Long table (row, cell_id) of each row's cells; rows with a bad list are flagged."""
    text = as_text(raw["cell_ids"]) if "cell_ids" in raw else pd.Series([""] * len(raw), dtype="string")
    p.flag((text == "").to_numpy(dtype=bool), "missing_value", "cell_ids: empty")
    parts = text.str.split(_SEP).explode().str.strip()
    row = parts.index.to_numpy(dtype=np.int64)
    tok = parts.fillna("").to_numpy(dtype=object).astype(str)
    is_int = pd.Series(tok).str.fullmatch(r"[0-9]{1,18}").to_numpy(dtype=bool)
    bad_row = np.zeros(len(raw), dtype=bool)
    bad_row[row[~is_int & (tok != "")]] = True
    p.flag(bad_row, "bad_value", "cell_ids: not a list of cell ids separated by ;")
    ids = np.where(is_int, tok, "0").astype(np.int64)
    if cells is not None:
        unknown = is_int & ~np.isin(ids, cells["cell_id"].to_numpy(dtype=np.int64))
        bad_row = np.zeros(len(raw), dtype=bool)
        bad_row[row[unknown]] = True
        p.flag(bad_row, "unknown_cell", "cell_ids: a cell not in the cells feed")
    return pd.DataFrame({"row": row[is_int], "cell_id": ids[is_int]})


def validate_markets(raw: pd.DataFrame, cells: pd.DataFrame | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Validate the raw markets feed.

    Parameters
    ----------
    raw : DataFrame
        The feed as delivered (columns of :data:`RAW_COLUMNS`; ``name_en`` and ``address`` optional;
        ``_source`` and ``_row`` if read from a file).
    cells : DataFrame, optional
        Canonical cells; when given, a market naming an unknown cell is quarantined.

    Returns
    -------
    markets : DataFrame
        Good rows as :data:`MARKETS`, sorted by ``market_id``.
    market_cells : DataFrame
        ``market_id``, ``cell_id`` (each pair once).
    quarantine : DataFrame
        Bad rows as text with ``source``, ``row``, ``reason``, ``detail``.
    counts : dict
        ``rows_in``, ``rows_ok``, ``rows_quarantined``, ``reasons``.

    Examples
    --------
    >>> raw = pd.DataFrame({"market_id": ["1", "2", "x", "1"], "name": ["甲", "乙", "丙", "丁"],
    ...                     "city_code": ["330300"] * 4, "lon": ["120.6"] * 4, "lat": ["28.0"] * 4,
    ...                     "cell_ids": ["5;6", "7;9", "5", "5"]})
    >>> cells = pd.DataFrame({"cell_id": [5, 6, 7]})
    >>> m, mc, q, c = validate_markets(raw, cells)
    >>> m["market_id"].tolist(), mc.values.tolist(), q["reason"].tolist()
    ([1], [[1, 5], [1, 6]], ['unknown_cell', 'bad_type', 'duplicate_key'])
    """
    raw = raw.reset_index(drop=True)
    n = len(raw)
    p = Problems(n)
    mid = parse_int(raw["market_id"], "market_id", p)
    name = parse_text(raw["name"], "name", p)
    code = parse_int(raw["city_code"], "city_code", p)
    lo, hi = CITY_CODE_RANGE
    p.flag((code < lo) | (code > hi), "out_of_range", "city_code: not a 6-digit code")
    lon = parse_float(raw["lon"], "lon", p, lo=-180.0, hi=180.0)
    lat = parse_float(raw["lat"], "lat", p, lo=-90.0, hi=90.0)
    long = _cells_of(raw, p, cells)
    first = ~pd.Series(np.where(p.bad, -1, mid)).duplicated(keep="first").to_numpy() | p.bad
    p.flag(~first, "duplicate_key", "market_id: same market_id as an earlier row")
    ok = np.flatnonzero(~p.bad)

    def opt(col: str) -> np.ndarray:
        return as_text(raw[col]).to_numpy(dtype=object) if col in raw else np.full(n, "", dtype=object)

    markets = pd.DataFrame({"market_id": mid, "name": name, "name_en": opt("name_en"), "city_code": code,
                            "address": opt("address"), "lon": lon, "lat": lat}).iloc[ok]
    markets = markets.astype(MARKETS).sort_values("market_id").reset_index(drop=True)
    long = long[~p.bad[long["row"].to_numpy()]]
    market_cells = pd.DataFrame({"market_id": mid[long["row"].to_numpy()], "cell_id": long["cell_id"].to_numpy()})
    market_cells = market_cells.drop_duplicates().sort_values(["market_id", "cell_id"]).reset_index(drop=True)
    bad = np.flatnonzero(p.bad)
    q = pd.DataFrame({c: (as_text(raw[c]).to_numpy(dtype=object)[bad] if c in raw else "") for c in RAW_COLUMNS})
    q["source"] = raw["_source"].to_numpy()[bad] if "_source" in raw else ""
    q["row"] = raw["_row"].to_numpy(dtype=np.int64)[bad] if "_row" in raw else bad.astype(np.int64)
    q["reason"] = p.reasons()[bad]
    q["detail"] = p.details()[bad]
    reasons = q["reason"].value_counts()
    counts = {"rows_in": n, "rows_ok": len(markets), "rows_quarantined": len(q),
              "reasons": {str(k): int(v) for k, v in sorted(reasons.items())}}
    return markets, market_cells, q.reset_index(drop=True), counts


def read_markets(path: str | os.PathLike, cells: pd.DataFrame | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Read and validate a markets feed file (``.csv``, ``.csv.gz``, ``.parquet``, or a folder of parts).

    Parameters
    ----------
    path : path-like
        The markets feed.
    cells : DataFrame, optional
        Canonical cells (see :func:`validate_markets`).

    Returns
    -------
    tuple
        As :func:`validate_markets`.

    Raises
    ------
    forecast.feeds.FeedError
        If the file is missing, unreadable or lacks columns.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = Path(d) / "markets.csv"
    ...     _ = f.write_text("market_id,name,city_code,lon,lat,cell_ids\\n1,菜场,330300,120.6,28.0,5;6\\n", "utf-8")
    ...     m, mc, q, c = read_markets(f)
    >>> m["name"].tolist(), mc["cell_id"].tolist(), c["rows_quarantined"]
    (['菜场'], [5, 6], 0)
    """
    required = tuple(c for c in RAW_COLUMNS if c not in OPTIONAL)
    raws, bad_lines = [], []
    for part in feed_parts(Path(path)):
        raw, bad = read_part(part, required, OPTIONAL)
        raws.append(raw)
        bad_lines.extend(bad)
    markets, market_cells, q, counts = validate_markets(pd.concat(raws, ignore_index=True), cells)
    if bad_lines:
        lines = pd.DataFrame({"source": [b.source for b in bad_lines], "row": -1, "reason": "bad_row",
                              "detail": [b.detail for b in bad_lines]})
        q = pd.concat([q, lines], ignore_index=True)
        counts = {**counts, "rows_in": counts["rows_in"] + len(bad_lines),
                  "rows_quarantined": counts["rows_quarantined"] + len(bad_lines),
                  "reasons": {**counts["reasons"], "bad_row": counts["reasons"].get("bad_row", 0) + len(bad_lines)}}
    return markets, market_cells, q, counts
