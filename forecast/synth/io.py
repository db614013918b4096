"""Files of the synthetic nation: typed Parquet/CSV writing (whole frames, streamed chunks or one file per
local day) and reading.

Columns follow the :mod:`forecast.schema` tables; CSV dates are written as ``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

_ARROW = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "datetime64[s]": pa.timestamp("s"),
          "bool": pa.bool_()}


def arrow_schema(table: dict) -> pa.Schema:
    """The Arrow schema of a :mod:`forecast.schema` table.

    Examples
    --------
    >>> arrow_schema({"uid": "int64", "local_date": "datetime64[s]"}).types
    [DataType(int64), TimestampType(timestamp[s])]
    """
    return pa.schema([(c, _ARROW[t]) for c, t in table.items()])


def arrow_table(df: pd.DataFrame, table: dict) -> pa.Table:
    """``df``'s columns of ``table`` as an Arrow table with its schema.

    Examples
    --------
    >>> arrow_table(pd.DataFrame({"a": [1], "b": ["x"]}), {"b": "string"}).column_names
    ['b']
    """
    return pa.Table.from_pandas(df[list(table)], schema=arrow_schema(table), preserve_index=False)


class TableWriter:
    """Append Arrow tables of one schema to one Parquet or CSV file, chunk by chunk.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     w = TableWriter(Path(d) / "t.csv", {"a": "int64"}, "csv")
    ...     w.write(pa.table({"a": [1]})); w.write(pa.table({"a": [2]})); w.close()
    ...     (Path(d) / "t.csv").read_text().split()
    ['"a"', '1', '2']
    """

    def __init__(self, path: Path, table: dict, fmt: str) -> None:
        self.schema = arrow_schema(table)
        self.fmt = fmt
        self.path = Path(path)
        if fmt == "parquet":
            # unique-per-row text (timestamps) gains nothing from a dictionary; zstd halves the files
            dictionary = [c for c in self.schema.names if c not in ("ts", "start_s", "end_s", "ts_s")]
            self._w = pq.ParquetWriter(self.path, self.schema, compression="zstd", use_dictionary=dictionary)
        elif fmt == "csv":
            self._w = pacsv.CSVWriter(self.path, self.schema)
        else:
            raise ValueError("fmt must be parquet or csv")

    def write(self, tab: pa.Table) -> None:
        """Write one chunk (cast to the file's schema)."""
        self._w.write_table(tab.select(self.schema.names).cast(self.schema))

    def close(self) -> None:
        """Finish the file (also writes an empty file's header/footer)."""
        self._w.close()


class DayPartWriter:
    """Append Arrow tables of one schema to one file per local day, ``part-YYYY-MM-DD.<fmt>`` in
    ``out_dir``, routing each row by the first 10 characters of its ISO-8601 text time ``day_column``
    (its local date). A day's file holds that day's rows in the order they were written, so writing a
    feed chunk by chunk gives the same parts as writing it whole and splitting it by day afterwards.
    Files are created on a day's first row (a day without rows has no file).

    Examples
    --------
    >>> import tempfile
    >>> ts = ["2020-01-02T08:00:00+08:00", "2020-01-01T09:00:00+08:00", "2020-01-02T10:00:00+08:00"]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     w = DayPartWriter(Path(d), {"ts": "string", "n": "int64"}, "csv")
    ...     w.write(pa.table({"ts": ts, "n": [1, 2, 3]}))
    ...     [(p.name, p.read_text().split()[1:]) for p in w.close()][0]
    ('part-2020-01-01.csv', ['"2020-01-01T09:00:00+08:00",2'])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     w = DayPartWriter(Path(d), {"ts": "string", "n": "int64"}, "csv")
    ...     w.write(pa.table({"ts": ts, "n": [1, 2, 3]}))
    ...     [p.read_text().split()[1:] for p in w.close()][1]
    ['"2020-01-02T08:00:00+08:00",1', '"2020-01-02T10:00:00+08:00",3']
    """

    def __init__(self, out_dir: Path, table: dict, fmt: str, day_column: str = "ts") -> None:
        if fmt not in ("parquet", "csv"):
            raise ValueError("fmt must be parquet or csv")
        self.out_dir, self.table, self.fmt, self.day_column = Path(out_dir), table, fmt, day_column
        self._writers: dict[str, TableWriter] = {}

    def _writer(self, day: str) -> TableWriter:
        if day not in self._writers:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._writers[day] = TableWriter(self.out_dir / f"part-{day}.{self.fmt}", self.table, self.fmt)
        return self._writers[day]

    def write(self, tab: pa.Table) -> None:
        """Write one chunk, each row to the file of its day (rows keep their order within a day)."""
        if tab.num_rows == 0:
            return
        day = pc.utf8_slice_codeunits(tab[self.day_column], 0, 10)
        lo_hi = pc.min_max(day)
        lo, hi = lo_hi["min"].as_py(), lo_hi["max"].as_py()
        if lo == hi:  # the usual chunk: one day
            self._writer(lo).write(tab)
            return
        for d in sorted(pc.unique(day).to_pylist()):
            self._writer(d).write(tab.filter(pc.equal(day, d)))

    def close(self) -> list[Path]:
        """Finish every file; returns their paths in day order."""
        for w in self._writers.values():
            w.close()
        return [self._writers[d].path for d in sorted(self._writers)]


def write_frame(df: pd.DataFrame | pa.Table, table: dict, path: Path, fmt: str) -> Path:
    """Write a whole frame with the columns and types of ``table`` (see :func:`read_table`)."""
    w = TableWriter(path, table, fmt)
    try:
        w.write(df if isinstance(df, pa.Table) else arrow_table(df, table))
    finally:
        w.close()
    return Path(path)


def read_table(path: Path, table: dict) -> pd.DataFrame:
    """Read a Parquet or CSV file written by :func:`write_frame` into the dtypes of ``table``.

    Examples
    --------
    >>> import tempfile
    >>> t = {"a": "int64", "d": "datetime64[s]", "s": "string"}
    >>> df = pd.DataFrame({"a": [1], "d": pd.to_datetime(["2020-01-02"]).astype("datetime64[s]"), "s": ["x"]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_frame(df, t, Path(d) / "f.csv", "csv")
    ...     read_table(Path(d) / "f.csv", t).equals(df.astype(t))
    True
    """
    path = Path(path)
    if path.suffix == ".parquet":
        df = pq.read_table(path).to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    else:
        text = {c: "string" for c, t in table.items() if t == "string"}
        df = pd.read_csv(path, dtype=text, keep_default_na=False, na_values={c: [""] for c in table if c not in text})
        for c, t in table.items():
            if t == "datetime64[s]":
                df[c] = pd.to_datetime(df[c])
            elif t == "bool":
                df[c] = df[c].astype(str).str.lower().eq("true")
    return df[list(table)].astype(table)
