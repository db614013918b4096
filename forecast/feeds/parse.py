"""Vectorised column parsers for feed validation.

Every parser takes a whole column as delivered (any dtype: text from CSV, typed from Parquet) and
returns the canonical values as a NumPy array. Rows that fail are flagged on a shared
:class:`Problems` record with a stable reason code (docs/data.md); a row keeps only its first problem.
No parser raises on bad values: bad values are data, not errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Plausible instants and days: anything outside is a corrupted clock, not an observation.
DEFAULT_MIN_S = 946_684_800  # 2000-01-01T00:00:00Z
DEFAULT_MAX_S = 4_102_444_800  # 2100-01-01T00:00:00Z

# ASCII digits only ([0-9], not \d: \d accepts other scripts' digits), no \s: pyarrow (RE2) runs these.
_INT_RE = r"[+-]?[0-9]{1,18}"
_HMS = r"(?:[T ][0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]{1,9})?)?)?)"
_ISO_NAIVE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}" + _HMS + "?"
_ISO_AWARE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}" + _HMS + r" ?(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)"
_UNIX_S_RE = r"[+-]?[0-9]{1,12}(?:\.[0-9]*)?"


class Problems:
    """First problem of each row of a chunk: a reason code and a short detail.

    Examples
    --------
    >>> p = Problems(3)
    >>> p.flag(np.array([False, True, True]), "bad_type", "x: not an integer")
    >>> p.flag(np.array([False, False, True]), "missing_value", "y: empty")
    >>> p.reasons().tolist(), int(p.bad.sum())
    (['', 'bad_type', 'bad_type'], 2)
    """

    def __init__(self, n_rows: int):
        self.ids = np.zeros(n_rows, dtype=np.int32)
        self.table: list[tuple[str, str]] = [("", "")]

    def flag(self, mask: np.ndarray, reason: str, detail: str) -> None:
        """Give ``reason`` to the rows in ``mask`` that have no problem yet."""
        mask = np.asarray(mask, dtype=bool) & (self.ids == 0)
        if mask.any():
            self.table.append((reason, detail))
            self.ids[mask] = len(self.table) - 1

    @property
    def bad(self) -> np.ndarray:
        return self.ids != 0

    def reasons(self) -> np.ndarray:
        """Reason code per row ('' for good rows), as an object array."""
        return np.array([r for r, _ in self.table], dtype=object)[self.ids]

    def details(self) -> np.ndarray:
        return np.array([d for _, d in self.table], dtype=object)[self.ids]


def as_text(s: pd.Series) -> pd.Series:
    """A column as stripped text; nulls become ''.

    Examples
    --------
    >>> as_text(pd.Series([" a ", None, 3])).tolist()
    ['a', '', '3']
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = pd.Series(s.map(lambda v: v.isoformat(), na_action="ignore"), index=s.index).astype("string")
    else:
        try:
            t = s.astype("string")
        except (UnicodeDecodeError, TypeError, ValueError):  # bytes that are not UTF-8, odd objects
            t = s.map(_safe_str, na_action="ignore").astype("string")
    return t.fillna("").str.strip()


def _safe_str(value) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _arrow_strings(s: pd.Series):
    """The Arrow array behind a text column, or None when it is not Arrow-backed text."""
    import pyarrow as pa

    arr = getattr(s.array, "_pa_array", None)
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


_FAST_CHUNK_ROWS = 1 << 20
_FAST_MIN_ROWS = 1 << 12


def cast_text_fast(s: pd.Series, to) -> tuple[np.ndarray, np.ndarray] | None:
    """Arrow's cast of an Arrow-backed text column to ``to``: ``(int64 values, ok mask)``, or None.

    A fast path only: rows the cast rejects (and nulls) are not ok, and the caller parses them the
    slow, forgiving way. Arrow casts a whole array or fails, and a failing cast costs about a
    microsecond per bad row, so each chunk is first tried on a sample of ~1,000 rows: a chunk whose
    sample fails (many odd rows) goes to the slow path whole; a chunk that fails with a clean sample
    (a few odd rows) is halved until pieces of ``_FAST_MIN_ROWS`` rows, which go to the slow path.
    Either way the cost stays near the cast's or the slow parser's, and the result does not depend
    on the chunking.

    Examples
    --------
    >>> import pyarrow as pa
    >>> v, ok = cast_text_fast(pd.Series(["2020-01-23T02:00:00Z", "x", None], dtype="str"),
    ...                        pa.timestamp("s", tz="UTC"))
    >>> ok.tolist()
    [False, False, False]
    >>> v, ok = cast_text_fast(pd.Series(["2020-01-23T10:00:00+08:00"] * 5, dtype="str"), pa.timestamp("s", tz="UTC"))
    >>> int(v[0]), bool(ok.all())
    (1579744800, True)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _arrow_strings(s)
    if arr is None:
        return None
    n = len(arr)
    values = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)

    def try_cast(piece):
        try:
            return pc.cast(piece, to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None

    def cast(lo: int, hi: int) -> None:
        out = try_cast(arr.slice(lo, hi - lo))
        if out is None:
            if hi - lo > _FAST_MIN_ROWS:
                mid = (lo + hi) // 2
                cast(lo, mid)
                cast(mid, hi)
            return
        out = out.cast(pa.int64())
        values[lo:hi] = pc.fill_null(out, 0).to_numpy(zero_copy_only=False)
        ok[lo:hi] = pc.is_valid(out).to_numpy(zero_copy_only=False)

    for lo in range(0, n, _FAST_CHUNK_ROWS):
        hi = min(n, lo + _FAST_CHUNK_ROWS)
        sample = np.arange(lo, hi, max(1, (hi - lo) // 1024))
        if try_cast(arr.take(pa.array(sample))) is not None:
            cast(lo, hi)
    return values, ok


def _is_int_dtype(dtype) -> bool:
    return pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _is_float_dtype(dtype) -> bool:
    return pd.api.types.is_float_dtype(dtype)


def parse_int(s: pd.Series, name: str, problems: Problems, *, required: bool = True) -> np.ndarray:
    """Integers from any column; '12', ' 12 ', '12.0' and 12.0 are accepted, '1.5' and 'x' are not.

    Examples
    --------
    >>> p = Problems(4)
    >>> parse_int(pd.Series(["12", "12.0", "x", ""]), "cell_id", p).tolist()
    [12, 12, 0, 0]
    >>> p.reasons().tolist()
    ['', '', 'bad_type', 'missing_value']
    """
    n = len(s)
    out = np.zeros(n, dtype=np.int64)
    if _is_int_dtype(s.dtype):
        missing = s.isna().to_numpy()
        out[~missing] = s[~missing].to_numpy(dtype=np.int64)
    elif _is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        ok = ~missing & np.isfinite(v) & (np.abs(v) < 2.0**62)
        ok &= np.floor(np.where(ok, v, 0.0)) == np.where(ok, v, 0.0)
        out[ok] = v[ok].astype(np.int64)
        problems.flag(~missing & ~ok, "bad_type", f"{name}: not an integer")
    else:
        import pyarrow as pa

        missing = np.zeros(n, dtype=bool)
        ok = np.zeros(n, dtype=bool)
        fast = cast_text_fast(s, pa.int64())
        if fast is not None:  # plain digits through Arrow (at most 18, as _INT_RE)
            ok = fast[1] & (np.abs(fast[0]) < 10**18)
            out[ok] = fast[0][ok]
        todo = np.flatnonzero(~ok)
        if len(todo):
            t = as_text(s.iloc[todo] if len(todo) < n else s).str.replace(r"\.0*$", "", regex=True)
            missing[todo] = (t == "").to_numpy(dtype=bool)
            good = t.str.fullmatch(_INT_RE).to_numpy(dtype=bool, na_value=False)
            if good.any():
                out[todo[good]] = t[good].astype("int64").to_numpy()
            ok[todo[good]] = True
        problems.flag(~missing & ~ok, "bad_type", f"{name}: not an integer")
    if required:
        problems.flag(missing, "missing_value", f"{name}: empty")
    return out


def parse_float(s: pd.Series, name: str, problems: Problems, *, lo: float, hi: float) -> np.ndarray:
    """Finite floats within [lo, hi].

    Examples
    --------
    >>> p = Problems(3)
    >>> parse_float(pd.Series(["114.3", "200", "east"]), "lon", p, lo=-180, hi=180).tolist()
    [114.3, 0.0, 0.0]
    >>> p.reasons().tolist()
    ['', 'out_of_range', 'bad_type']
    """
    if _is_int_dtype(s.dtype) or _is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
    else:
        t = as_text(s)
        missing = (t == "").to_numpy(dtype=bool)
        v = pd.to_numeric(t.where(~missing, None), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    problems.flag(missing, "missing_value", f"{name}: empty")
    bad = ~np.isfinite(v)
    problems.flag(bad, "bad_type", f"{name}: not a number")
    v = np.where(bad, 0.0, v)
    problems.flag((v < lo) | (v > hi), "out_of_range", f"{name}: outside [{lo:g}, {hi:g}]")
    return np.where(problems.bad, 0.0, v)


def parse_text(s: pd.Series, name: str, problems: Problems, *, required: bool = True) -> np.ndarray:
    """Stripped text as an object array ('' where empty and optional)."""
    t = as_text(s)
    if required:
        problems.flag((t == "").to_numpy(dtype=bool), "missing_value", f"{name}: empty")
    return t.to_numpy(dtype=object)


def _wall_to_utc_s(wall: pd.Series, tz: str) -> np.ndarray:
    """Naive local wall times -> UTC seconds; nonexistent/ambiguous local times give NaT -> INT64 min."""
    local = wall.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return _aware_to_s(local)


def _aware_to_s(aware: pd.Series) -> np.ndarray:
    naive_utc = aware.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = naive_utc.to_numpy(dtype="datetime64[s]")
    return arr.astype(np.int64)  # NaT -> INT64 min


_NAT = np.iinfo(np.int64).min


def parse_ts(
    s: pd.Series,
    name: str,
    problems: Problems,
    *,
    tz: str,
    window_s: tuple[int, int] | None = None,
) -> np.ndarray:
    """Instants as Unix seconds (UTC).

    Accepted: Unix seconds (integers, numeric text), ISO-8601 text with an offset (``Z``, ``+08:00``)
    and without one (then a local wall time in ``tz``), and Parquet timestamps (naive ones are local
    in ``tz``). Instants outside ``window_s`` (default 2000-01-01 .. 2100-01-01) are
    ``ts_out_of_range``.

    Examples
    --------
    >>> p = Problems(4)
    >>> parse_ts(pd.Series(["2020-01-23 10:00", "2020-01-23T02:00:00Z", "1579744800", "soon"]),
    ...          "ts", p, tz="Asia/Shanghai").tolist()
    [1579744800, 1579744800, 1579744800, 0]
    >>> p.reasons().tolist()
    ['', '', '', 'bad_ts']
    """
    n = len(s)
    out = np.full(n, _NAT, dtype=np.int64)
    dtype = s.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        missing = s.isna().to_numpy()
        if getattr(dtype, "tz", None) is not None:
            out = _aware_to_s(s)
        else:
            out = _wall_to_utc_s(s, tz)
    elif _is_int_dtype(dtype):
        missing = s.isna().to_numpy()
        out[~missing] = s[~missing].to_numpy(dtype=np.int64)
    elif _is_float_dtype(dtype):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        ok = np.isfinite(v) & (np.abs(v) < 1e15)
        out[ok] = np.floor(v[ok]).astype(np.int64)
    else:
        # ISO-8601 with an offset, the form carriers deliver, through Arrow; the rest the slow way
        missing = np.zeros(n, dtype=bool)
        fast = cast_text_fast(s, _utc_seconds())
        todo = np.arange(n) if fast is None else np.flatnonzero(~fast[1])
        if fast is not None:
            out = np.where(fast[1], fast[0], _NAT)
        if len(todo):
            out[todo] = _parse_ts_text(s.iloc[todo] if len(todo) < n else s, tz, missing, todo)
    problems.flag(missing, "missing_value", f"{name}: empty")
    problems.flag(out == _NAT, "bad_ts", f"{name}: not Unix seconds or ISO-8601")
    lo, hi = window_s if window_s is not None else (DEFAULT_MIN_S, DEFAULT_MAX_S)
    problems.flag((out < lo) | (out >= hi), "ts_out_of_range", f"{name}: outside the valid window")
    return np.where(problems.bad, 0, out)


def _utc_seconds():
    import pyarrow as pa

    return pa.timestamp("s", tz="UTC")


def _parse_ts_text(s: pd.Series, tz: str, missing: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The forgiving text parser of :func:`parse_ts`; sets ``missing[pos]`` for empty rows."""
    out = np.full(len(s), _NAT, dtype=np.int64)
    t = as_text(s)
    missing[pos] = (t == "").to_numpy(dtype=bool)
    unix = t.str.fullmatch(_UNIX_S_RE).to_numpy(dtype=bool, na_value=False)
    if unix.any():
        out[unix] = np.floor(pd.to_numeric(t[unix]).to_numpy(dtype=np.float64)).astype(np.int64)
    aware = t.str.fullmatch(_ISO_AWARE_RE).to_numpy(dtype=bool, na_value=False)
    if aware.any():
        parsed = pd.to_datetime(t[aware].str.replace(",", ".", regex=False), format="ISO8601", errors="coerce", utc=True)
        out[aware] = _aware_to_s(parsed)
    naive = t.str.fullmatch(_ISO_NAIVE_RE).to_numpy(dtype=bool, na_value=False)
    if naive.any():
        # utc=True only so that pandas never sees mixed offsets; the wall time is then local.
        parsed = pd.to_datetime(t[naive].str.replace(",", ".", regex=False), format="ISO8601", errors="coerce", utc=True)
        out[naive] = _wall_to_utc_s(parsed.dt.tz_localize(None), tz)
    return out


_DATE_FORMS = (
    (r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", "%Y-%m-%d"),
    (r"[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}", "%Y/%m/%d"),
    (r"[0-9]{8}", "%Y%m%d"),
)


def parse_date(s: pd.Series, name: str, problems: Problems, *, tz: str) -> np.ndarray:
    """Calendar days as ``datetime64[s]`` midnights.

    Text as ``2020-01-23``, ``2020/1/23`` or ``20200123``; Parquet dates; Parquet timestamps give their
    local day in ``tz``. Days outside 2000..2099 are ``date_out_of_range``.

    Examples
    --------
    >>> p = Problems(3)
    >>> d = parse_date(pd.Series(["2020-01-23", "2020/1/24", "Jan 25"]), "date", p, tz="Asia/Shanghai")
    >>> [str(x) for x in d]
    ['2020-01-23T00:00:00', '2020-01-24T00:00:00', 'NaT']
    >>> p.reasons().tolist()
    ['', '', 'bad_date']
    """
    n = len(s)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        missing = s.isna().to_numpy()
        d = s.dt.tz_convert(tz).dt.tz_localize(None) if getattr(s.dtype, "tz", None) is not None else s
        out = d.dt.floor("D").to_numpy(dtype="datetime64[s]")
    elif s.dtype == object and len(s) and s.map(lambda v: hasattr(v, "toordinal"), na_action="ignore").fillna(False).all():
        # Parquet date32 columns arrive as datetime.date objects.
        missing = s.isna().to_numpy()
        out = pd.to_datetime(s, errors="coerce").to_numpy(dtype="datetime64[s]")
    else:
        t = as_text(s)
        missing = (t == "").to_numpy(dtype=bool)
        for regex, fmt in _DATE_FORMS:
            m = t.str.fullmatch(regex).to_numpy(dtype=bool, na_value=False)
            if m.any():
                out[m] = pd.to_datetime(t[m], format=fmt, errors="coerce").to_numpy(dtype="datetime64[s]")
    problems.flag(missing, "missing_value", f"{name}: empty")
    problems.flag(np.isnat(out), "bad_date", f"{name}: not a date (YYYY-MM-DD)")
    lo, hi = np.datetime64("2000-01-01", "s"), np.datetime64("2100-01-01", "s")
    problems.flag(~np.isnat(out) & ((out < lo) | (out >= hi)), "date_out_of_range", f"{name}: outside 2000..2099")
    return np.where(problems.bad, np.datetime64("NaT", "s"), out)
