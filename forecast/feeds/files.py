"""Finding and reading feed files: Parquet or CSV (``.csv``, ``.csv.gz``), one file or a directory of
part files. File-level problems raise :class:`FeedError`; row-level problems are left to validation.

Every raw frame read here has the feed's columns under their normalised names (stripped, lower case)
plus ``_source`` (file name) and ``_row`` (0-based data row within that file). CSV lines with the
wrong number of fields cannot be aligned to columns; they are returned separately as *bad lines*.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")
# Runs of 7+ digits, and Chinese mobile numbers written with separators (138 0013 8000).
_DIGIT_RUN = re.compile(r"\+?\d{7,}|1[3-9]\d[\s\-]\d{4}[\s\-]\d{4}")


class FeedError(ValueError):
    """A feed file that cannot be read at all: missing, empty, truncated/corrupt, wrong columns.

    The message names the file and what was expected; it never contains row values.
    """


@dataclass(frozen=True)
class BadLine:
    """A CSV line whose number of fields does not match the header."""

    source: str
    expected: int
    found: int
    text: str  # with digit runs masked: no raw number leaves ingest

    @property
    def detail(self) -> str:
        return f"expected {self.expected} fields, found {self.found}: {self.text[:80]}"


def mask_digit_runs(text: str) -> str:
    """Replace every run of 7+ digits (phone-number-like) by ``***``.

    Examples
    --------
    >>> example = "13800138000,x,2,9"
    >>> mask_digit_runs(example)
    '***,x,2,9'
    """
    return _DIGIT_RUN.sub("***", text)


def feed_format(path: Path) -> str:
    """``'parquet'`` or ``'csv'`` from the file name.

    Examples
    --------
    >>> feed_format(Path("pings.csv.gz")), feed_format(Path("part-0001.parquet"))
    ('csv', 'parquet')
    """
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise FeedError(f"{path}: unknown file type; expected .parquet, .csv or .csv.gz")


def _natural_key(path: Path) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]


def feed_parts(path: str | Path) -> list[Path]:
    """The files of a feed: the file itself, or a directory's ``part-*`` files in natural order.

    Parameters
    ----------
    path : str or Path
        A ``.parquet``/``.pq``/``.csv``/``.csv.gz`` file, or a directory of ``part-*`` files with those
        suffixes.

    Returns
    -------
    list of Path
        ``[path]`` for a file; a directory's part files sorted by name with numbers compared as numbers
        (``part-2`` before ``part-10``).

    Raises
    ------
    FeedError
        If the file does not exist or has an unknown suffix, or the directory has no part files.
    """
    path = Path(path)
    if path.is_dir():
        parts = [p for p in path.iterdir() if p.is_file() and p.name.startswith("part-")]
        parts = [p for p in parts if p.name.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES)]
        if not parts:
            raise FeedError(f"{path}: directory has no part-*.parquet or part-*.csv files")
        return sorted(parts, key=_natural_key)
    if not path.exists():
        raise FeedError(f"{path}: file not found")
    feed_format(path)
    return [path]


def _normalise_name(name: str) -> str:
    return str(name).replace("\ufeff", "").strip().lower()


def column_map(path: Path, names: list[str], required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    """Map normalised feed column -> column name in the file; raise FeedError if any is missing."""
    norm = [_normalise_name(n) for n in names]
    dupes = sorted({n for n in norm if norm.count(n) > 1 and n in required + optional})
    if dupes:
        raise FeedError(f"{path}: duplicate columns {dupes}")
    missing = [c for c in required if c not in norm]
    if missing:
        raise FeedError(
            f"{path}: missing columns {missing}; expected columns {list(required)}"
            + (f" (optional {list(optional)})" if optional else "")
            + f", found {norm[:20]}"
        )
    return {n: orig for n, orig in zip(norm, names) if n in required + optional}


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise FeedError(f"{path}: empty file (0 bytes); expected a header and rows")


_INT_TO_NULLABLE = {
    t: pd.Int64Dtype()
    for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())
}


def _arrow_to_pandas(table: pa.Table, cmap: dict[str, str], source: str, row0: int) -> pd.DataFrame:
    """Columns renamed to their normalised names; integer columns nullable (no float round trip)."""
    df = table.select(list(cmap.values())).to_pandas(types_mapper=_INT_TO_NULLABLE.get)
    df.columns = list(cmap.keys())
    df["_source"] = pd.Categorical.from_codes(np.zeros(len(df), dtype=np.int8), [source])
    df["_row"] = pd.RangeIndex(row0, row0 + len(df))
    return df.reset_index(drop=True)


def _open_parquet(path: Path) -> pq.ParquetFile:
    _check_not_empty(path)
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FeedError(f"{path}: not a readable Parquet file (truncated or corrupt): {exc}") from None


def _csv_header(path: Path) -> list[str]:
    _check_not_empty(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FeedError(f"{path}: cannot read the header ({type(exc).__name__}); expected UTF-8 CSV text") from None
    if not line.strip():
        raise FeedError(f"{path}: empty file (no header line)")
    return next(csv.reader(io.StringIO(line)))


def _csv_options(path: Path, names: list[str], bad: list[BadLine]):
    def on_invalid(row) -> str:
        bad.append(BadLine(path.name, row.expected_columns, row.actual_columns, mask_digit_runs(row.text or "")))
        return "skip"

    # The header line is given as names: BOMs and odd spacing in it cannot break the column types.
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24)
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid)
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return read, parse, convert


def _csv_error(path: Path, exc: Exception) -> FeedError:
    return FeedError(f"{path}: not readable as CSV (truncated, corrupt or not UTF-8): {exc}")


def read_part(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> tuple[pd.DataFrame, list[BadLine]]:
    """Read one feed file whole."""
    bad: list[BadLine] = []
    if feed_format(path) == "parquet":
        pf = _open_parquet(path)
        cmap = column_map(path, pf.schema_arrow.names, required, optional)
        try:
            table = pf.read(columns=list(cmap.values()))
        except (pa.ArrowException, OSError) as exc:
            raise FeedError(f"{path}: Parquet data unreadable (truncated or corrupt): {exc}") from None
        return _arrow_to_pandas(table, cmap, path.name, 0), bad
    names = _csv_header(path)
    cmap = column_map(path, names, required, optional)
    try:
        table = pacsv.read_csv(path, *_csv_options(path, names, bad))
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise _csv_error(path, exc) from None
    return _arrow_to_pandas(table, cmap, path.name, 0), bad


def iter_part_batches(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...], batch_rows: int
) -> Iterator[tuple[pd.DataFrame, list[BadLine]]]:
    """Read one feed file in batches of about ``batch_rows`` rows, with bounded memory."""
    if feed_format(path) == "parquet":
        pf = _open_parquet(path)
        cmap = column_map(path, pf.schema_arrow.names, required, optional)
        row0 = 0
        try:
            for batch in pf.iter_batches(batch_size=batch_rows, columns=list(cmap.values())):
                yield _arrow_to_pandas(pa.Table.from_batches([batch]), cmap, path.name, row0), []
                row0 += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise FeedError(f"{path}: Parquet data unreadable after row {row0} (truncated or corrupt): {exc}") from None
        return
    names = _csv_header(path)
    cmap = column_map(path, names, required, optional)
    bad: list[BadLine] = []
    row0 = 0
    pending: pa.Table | None = None
    schema = pa.schema([(n, pa.string()) for n in names])
    try:
        reader = pacsv.open_csv(path, *_csv_options(path, names, bad))
        for batch in reader:
            table = pa.Table.from_batches([batch])
            pending = table if pending is None else pa.concat_tables([pending, table])
            while pending.num_rows >= batch_rows:
                yield _arrow_to_pandas(pending.slice(0, batch_rows), cmap, path.name, row0), bad[:]
                bad.clear()
                row0 += batch_rows
                pending = pending.slice(batch_rows)
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise _csv_error(path, exc) from None
    if (pending is not None and pending.num_rows) or bad or row0 == 0:
        table = pending if pending is not None else schema.empty_table()
        yield _arrow_to_pandas(table, cmap, path.name, row0), bad[:]
