"""Companion search (伴随者): who shared a place with a confirmed case, and for how long.

The co-location rule (docs/contacts.md)
---------------------------------------
Two subscribers are *at the same place* when both have a stay at the same cell (or, with
``radius_m``, at cells whose centres are within ``radius_m`` of each other). Their *shared time* is
the overlap of the two stays' time intervals, summed over every pair of stays inside the case's
window. A companion is a subscriber whose shared time with the case is ``>= min_shared_minutes``.

Stays are seen through sparse pings: a stay from :func:`forecast.stays.detect_stays` runs from its
first ping to its last, so it is shorter than the real visit by about one ping interval. The index
therefore *pads* each stay into the gap around it: the start moves back by half the gap to the
subscriber's previous stay and the end moves forward by half the gap to the next one, each by at
most ``pad_minutes`` (at the first and last stay of a subscriber, by ``pad_minutes``). Padded stays of
one subscriber never overlap, so summing overlaps never counts a minute twice.

The index
---------
Stays are sorted by ``(duration class, place, start)`` into one int64 key. A duration class holds
stays no longer than ``bucket_minutes * 4**k``, so a query "stays at place p overlapping [s, e)" is,
per class, one binary search for starts in ``[s - longest_k, e)`` followed by an exact overlap
filter: O(log n + candidates) with no per-bucket copies of long stays. A whole batch of cases is
answered with the same array operations (no loop over cases or stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from .schema import COMPANIONS, DEFAULT_TZ

_PLACE_SHIFT = 32
_CLASS_SHIFT = 58  # 6 bits of class, 26 bits of place (67M cells), 32 bits of seconds (136 years)
_MAX_PLACES = 1 << (_CLASS_SHIFT - _PLACE_SHIFT)
_TIME_MASK = (1 << _PLACE_SHIFT) - 1
_CLASS_GROWTH = 4
_CHUNK_CANDIDATES = 8_000_000
_EARTH_M_PER_DEG = 111_320.0

STATUS_OK = "ok"
STATUS_NO_STAYS = "no_stays"
STATUS_NO_STAYS_IN_WINDOW = "no_stays_in_window"
STATUS_DUPLICATE = "duplicate_case_id"
STATUS_BAD_CASE = "bad_case"
STATUS_MESSAGES = {
    STATUS_OK: ("已检索", "searched"),
    STATUS_NO_STAYS: ("该病例无任何位置记录，无法检索伴随者", "no pings or stays for this case; no companions can be found"),
    STATUS_NO_STAYS_IN_WINDOW: ("该病例在检索时段内无位置记录", "the case has no stays inside its window"),
    STATUS_DUPLICATE: ("病例编号重复，已忽略此行", "case_id repeated; this row was ignored (the first one is used)"),
    STATUS_BAD_CASE: ("病例缺少确诊日期或用户标识", "case has no confirmed_date or uid"),
}


@dataclass(frozen=True)
class StayIndex:
    """Spatio-temporal index over stays. Build once with :meth:`build`, query many times.

    Attributes are read-only arrays; see the module docstring for the layout.
    """

    t0_s: int
    span_s: tuple[int, int]  # (first stay start, last stay end), Unix seconds, unpadded
    place_cells: np.ndarray  # place code -> cell_id
    neighbour_ptr: np.ndarray | None  # CSR of places within radius_m (None: same cell only)
    neighbour_idx: np.ndarray | None
    uids: np.ndarray  # uid code -> uid (sorted)
    # by uid: CSR over stays sorted by (uid, start), padded times relative to t0
    uid_ptr: np.ndarray
    u_start: np.ndarray
    u_end: np.ndarray
    u_place: np.ndarray
    # by (class, place, start)
    key: np.ndarray
    k_end: np.ndarray
    k_uid: np.ndarray
    class_max_s: np.ndarray
    pad_minutes: float
    radius_m: float | None
    report: dict = field(default_factory=dict)

    @property
    def n_stays(self) -> int:
        """Number of stays indexed."""
        return int(len(self.key))

    @classmethod
    def build(
        cls,
        stays: pd.DataFrame,
        cells: pd.DataFrame | None = None,
        *,
        radius_m: float | None = None,
        bucket_minutes: int = 60,
        pad_minutes: float = 15.0,
    ) -> "StayIndex":
        """Build the index.

        Parameters
        ----------
        stays : DataFrame
            At least ``uid, start_s, end_s, cell_id`` (the STAYS schema). Not modified.
        cells : DataFrame, optional
            CELLS table; required when ``radius_m`` is given.
        radius_m : float, optional
            Treat cells whose centres lie within this distance as the same place.
        bucket_minutes : int
            Length of the shortest duration class; class k holds stays up to
            ``bucket_minutes * 4**k``.
        pad_minutes : float
            Most a stay is stretched at each end into the gap around it (see module docstring).

        Examples
        --------
        >>> stays = pd.DataFrame({"uid": [1, 2], "start_s": [0, 1800], "end_s": [7200, 9000],
        ...                       "cell_id": [5, 5]})
        >>> StayIndex.build(stays, pad_minutes=0).n_stays
        2
        """
        missing = {"uid", "start_s", "end_s", "cell_id"} - set(stays.columns)
        if missing:
            raise ValueError(f"stays lack columns: {sorted(missing)}")
        uid = stays["uid"].to_numpy(np.int64)
        start = stays["start_s"].to_numpy(np.int64)
        end = stays["end_s"].to_numpy(np.int64)
        cell = stays["cell_id"].to_numpy(np.int64)
        bad = end < start
        report = {"stays_in": int(len(uid)), "stays_bad_interval": int(bad.sum())}
        if bad.any():  # reported, not silently repaired
            keep = ~bad
            uid, start, end, cell = uid[keep], start[keep], end[keep], cell[keep]

        place_cells, place = _place_codes(cell, cells)
        if len(place_cells) >= _MAX_PLACES:
            raise ValueError(f"too many distinct cells for the index ({len(place_cells)})")
        nb_ptr = nb_idx = None
        if radius_m is not None:
            if cells is None:
                raise ValueError("radius_m needs the cells table (lon, lat)")
            nb_ptr, nb_idx = _neighbours(place_cells, cells, float(radius_m))

        # by uid, then start; input from detect_stays is usually already in this order
        if len(uid) > 1 and not _is_sorted_pair(uid, start):
            order = np.lexsort((start, uid))
            uid, start, end, place = uid[order], start[order], end[order], place[order]
        uids, uid_code = _unique_sorted(uid)
        uid_ptr = np.searchsorted(uid_code, np.arange(len(uids) + 1)).astype(np.int64)

        pad_s = int(round(pad_minutes * 60))
        p_start, p_end = _pad(uid_code, start, end, pad_s)
        span = (int(start.min()), int(end.max())) if len(uid) else (0, 0)
        t0 = (int(p_start.min()) if len(uid) else 0) - 1
        rs = (p_start - t0).astype(np.int64)
        re_ = (p_end - t0).astype(np.int64)
        if len(rs) and re_.max() >= 1 << 32:
            raise ValueError("stays span more than 136 years")

        bucket_s = int(bucket_minutes) * 60
        dur = re_ - rs
        klass = np.zeros(len(dur), dtype=np.int64)
        limit = bucket_s
        class_max = [bucket_s]
        longest = int(dur.max()) if len(dur) else 0
        while longest > limit:
            klass += dur > limit
            limit *= _CLASS_GROWTH
            class_max.append(limit)
        key = (klass << _CLASS_SHIFT) | (place.astype(np.int64) << _PLACE_SHIFT) | rs
        order = np.argsort(key, kind="stable")
        return cls(
            t0_s=t0,
            span_s=span,
            place_cells=place_cells,
            neighbour_ptr=nb_ptr,
            neighbour_idx=nb_idx,
            uids=uids,
            uid_ptr=uid_ptr,
            u_start=rs.astype(np.uint32),
            u_end=re_.astype(np.uint32),
            u_place=place.astype(np.int32),
            key=key[order],
            k_end=re_[order].astype(np.uint32),
            k_uid=uid_code[order].astype(np.int32),
            class_max_s=np.asarray(class_max, dtype=np.int64),
            pad_minutes=float(pad_minutes),
            radius_m=None if radius_m is None else float(radius_m),
            report=report,
        )

    def uid_codes(self, uids) -> np.ndarray:
        """Map uids to their code in the index; -1 for a uid with no stays."""
        u = np.asarray(uids, dtype=np.int64)
        pos = np.searchsorted(self.uids, u)
        pos_c = np.minimum(pos, max(len(self.uids) - 1, 0))
        found = (pos < len(self.uids)) & (self.uids[pos_c] == u) if len(self.uids) else np.zeros(len(u), bool)
        return np.where(found, pos_c, -1)

    def companions(self, case_uids, case_windows, *, min_shared_minutes: float = 60) -> pd.DataFrame:
        """Companions of a batch of subscribers, each with its own time window.

        Parameters
        ----------
        case_uids : array of int64
            One uid per query (position ``i`` is query ``i``).
        case_windows : array of shape (n, 2)
            ``(start_s, end_s)`` per query, Unix seconds; the shared time is counted inside it.
        min_shared_minutes : float
            Keep companions with at least this much shared time.

        Returns
        -------
        DataFrame
            ``query, uid, shared_minutes, n_places, first_s, last_s, places, top_cell``: one row per
            (query, companion), ``places`` the cells shared (most minutes first).

        Examples
        --------
        >>> stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [0, 1800, 0],
        ...                       "end_s": [7200, 9000, 600], "cell_id": [5, 5, 5]})
        >>> idx = StayIndex.build(stays, pad_minutes=0)
        >>> out = idx.companions([1], [(0, 86400)], min_shared_minutes=60)
        >>> out[["query", "uid", "shared_minutes", "n_places"]].to_dict("records")
        [{'query': 0, 'uid': 2, 'shared_minutes': 90.0, 'n_places': 1}]
        """
        q_uid = np.asarray(case_uids, dtype=np.int64).reshape(-1)
        win = np.asarray(case_windows, dtype=np.int64).reshape(-1, 2)
        if len(win) != len(q_uid):
            raise ValueError("one window per case uid")
        code = self.uid_codes(q_uid)
        pairs = self._pairs(code, win - self.t0_s)
        return _aggregate(pairs, self, float(min_shared_minutes))

    # ---- internals ------------------------------------------------------------------------------
    def case_stays(self, code: np.ndarray, win_rel: np.ndarray):
        """Case stays clipped to each query's window: (query, place, start, end) relative to t0."""
        ok = code >= 0
        q = np.flatnonzero(ok)
        lo = self.uid_ptr[code[ok]]
        n = self.uid_ptr[code[ok] + 1] - lo
        rows = _expand(lo, n)
        q = np.repeat(q, n)
        s = np.maximum(self.u_start[rows].astype(np.int64), win_rel[q, 0])
        e = np.minimum(self.u_end[rows].astype(np.int64), win_rel[q, 1])
        keep = e > s
        return q[keep], self.u_place[rows[keep]].astype(np.int64), s[keep], e[keep], code[q[keep]]

    def _pairs(self, code: np.ndarray, win_rel: np.ndarray) -> pd.DataFrame:
        q, place, s, e, own = self.case_stays(code, win_rel)
        if self.neighbour_ptr is not None:
            lo = self.neighbour_ptr[place]
            n = self.neighbour_ptr[place + 1] - lo
            place = self.neighbour_idx[_expand(lo, n)]
            q, s, e, own = (np.repeat(a, n) for a in (q, s, e, own))
        parts = []
        for k, longest in enumerate(self.class_max_s):
            base = (np.int64(k) << _CLASS_SHIFT) | (place << _PLACE_SHIFT)
            lo = np.searchsorted(self.key, base | np.maximum(s - longest, 0), side="left")
            hi = np.searchsorted(self.key, base | e, side="left")
            n = hi - lo
            for sl in _chunks(n, _CHUNK_CANDIDATES):
                cand = _expand(lo[sl], n[sl])
                rep = np.repeat(np.arange(sl.start, sl.stop), n[sl])
                c_uid = self.k_uid[cand]
                c_start = self.key[cand] & _TIME_MASK
                first = np.maximum(c_start, s[rep])
                last = np.minimum(self.k_end[cand].astype(np.int64), e[rep])
                hit = (last > first) & (c_uid != own[rep])
                parts.append(
                    pd.DataFrame(
                        {
                            "query": q[rep[hit]],
                            "uid_code": c_uid[hit],
                            "place": (self.key[cand[hit]] >> _PLACE_SHIFT) & (_MAX_PLACES - 1),
                            "first": first[hit],
                            "last": last[hit],
                        }
                    )
                )
        if not parts:
            return pd.DataFrame({c: np.zeros(0, np.int64) for c in ("query", "uid_code", "place", "first", "last")})
        return pd.concat(parts, ignore_index=True)


def _aggregate(pairs: pd.DataFrame, index: StayIndex, min_shared_minutes: float) -> pd.DataFrame:
    """Sum overlaps per (query, companion), keep those above the threshold, list their places."""
    pairs = pairs.assign(sec=pairs["last"] - pairs["first"])
    per_place = pairs.groupby(["query", "uid_code", "place"], sort=False).agg(
        sec=("sec", "sum"), first=("first", "min"), last=("last", "max")
    )
    per_pair = per_place.groupby(level=[0, 1], sort=False).agg(
        sec=("sec", "sum"), n_places=("sec", "size"), first=("first", "min"), last=("last", "max")
    )
    per_pair = per_pair[per_pair["sec"] >= min_shared_minutes * 60]
    # places of kept pairs, most shared minutes first, as a list column (vectorised via Arrow)
    pp = per_place.reset_index()
    pp = pp.merge(per_pair[[]].reset_index(), on=["query", "uid_code"], how="inner")
    pp = pp.sort_values(["query", "uid_code", "sec", "place"], ascending=[True, True, False, True])
    per_pair = per_pair.sort_index()
    cells = index.place_cells[pp["place"].to_numpy()]
    offsets = np.concatenate([[0], np.cumsum(per_pair["n_places"].to_numpy())]).astype(np.int32)
    places = pa.ListArray.from_arrays(pa.array(offsets), pa.array(cells, type=pa.int64()))
    out = pd.DataFrame(
        {
            "query": per_pair.index.get_level_values(0).to_numpy(np.int64),
            "uid": index.uids[per_pair.index.get_level_values(1).to_numpy()],
            "shared_minutes": per_pair["sec"].to_numpy(np.float64) / 60.0,
            "n_places": per_pair["n_places"].to_numpy(np.int64),
            "first_s": per_pair["first"].to_numpy(np.int64) + index.t0_s,
            "last_s": per_pair["last"].to_numpy(np.int64) + index.t0_s,
            "places": pd.Series(pd.arrays.ArrowExtensionArray(places)),
        }
    )
    out["top_cell"] = cells[offsets[:-1]] if len(out) else np.zeros(0, np.int64)
    return out


# ---- case batches ----------------------------------------------------------------------------------
def check_cases(
    index: StayIndex,
    cases: pd.DataFrame,
    *,
    window_days: int = 15,
    as_of=None,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Validate a batch of cases and work out each one's search window.

    The window of a case confirmed on local day D is ``[D - window_days, D + 1)`` in local time
    (the 15 days before confirmation and the day of confirmation), cut at ``as_of`` and at the end of
    the data; a cut is reported in ``window_clipped``.

    Returns
    -------
    DataFrame
        One row per input row: ``case_id, uid, window_start_s, window_end_s, window_clipped,
        n_case_stays, status, message_zh, message_en``. Rows with status ``duplicate_case_id`` or
        ``bad_case`` are not searched.

    Examples
    --------
    >>> stays = pd.DataFrame({"uid": [1], "start_s": [1_580_000_000], "end_s": [1_580_007_200],
    ...                       "cell_id": [5]})
    >>> idx = StayIndex.build(stays)
    >>> cases = pd.DataFrame({"case_id": ["a", "a", "b"], "uid": [1, 1, 9],
    ...     "confirmed_date": pd.to_datetime(["2020-01-27", "2020-01-27", "2020-01-27"])})
    >>> check_cases(idx, cases)["status"].tolist()
    ['ok', 'duplicate_case_id', 'no_stays']
    """
    for col in ("case_id", "uid", "confirmed_date"):
        if col not in cases.columns:
            raise ValueError(f"cases lack column {col!r}")
    case_id = cases["case_id"].astype("string").reset_index(drop=True)
    uid = pd.to_numeric(cases["uid"], errors="coerce").astype("Int64").reset_index(drop=True)
    day = pd.to_datetime(cases["confirmed_date"], errors="coerce").reset_index(drop=True)
    if getattr(day.dt, "tz", None) is not None:
        day = day.dt.tz_convert(tz).dt.tz_localize(None)
    day = day.dt.normalize()
    local = pd.DatetimeIndex(day).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    w_end = pd.Series((local + pd.Timedelta(days=1)).as_unit("s").asi8, dtype="int64")
    w_start = pd.Series((local - pd.Timedelta(days=int(window_days))).as_unit("s").asi8, dtype="int64")
    bad = case_id.isna() | uid.isna() | day.isna()
    dup = case_id.duplicated(keep="first") & ~bad

    limit_end = index.span_s[1]
    if as_of is not None:
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp
        limit_end = min(limit_end, int(stamp.timestamp()))
    clipped = (w_end > limit_end) | (w_start < index.span_s[0])
    w_end_c = np.minimum(w_end, limit_end)
    w_start_c = np.maximum(w_start, index.span_s[0])

    code = index.uid_codes(uid.fillna(0).to_numpy(np.int64))
    cnt = np.zeros(len(code), dtype=np.int64)
    good = (code >= 0) & ~bad.to_numpy() & ~dup.to_numpy()
    if good.any():
        rel = np.stack([w_start_c, w_end_c], axis=1) - index.t0_s
        q, *_ = index.case_stays(np.where(good, code, -1), rel)
        cnt = np.bincount(q, minlength=len(code)).astype(np.int64)

    status = np.full(len(code), STATUS_OK, dtype=object)
    status[cnt == 0] = STATUS_NO_STAYS_IN_WINDOW
    status[code < 0] = STATUS_NO_STAYS
    status[dup.to_numpy()] = STATUS_DUPLICATE
    status[bad.to_numpy()] = STATUS_BAD_CASE
    msgs = pd.Series(status).map(STATUS_MESSAGES)
    return pd.DataFrame(
        {
            "case_id": case_id,
            "uid": uid,
            "window_start_s": pd.Series(np.where(bad, 0, w_start_c), dtype="Int64").where(~bad),
            "window_end_s": pd.Series(np.where(bad, 0, w_end_c), dtype="Int64").where(~bad),
            "window_clipped": (clipped & ~bad).to_numpy(),
            "n_case_stays": cnt,
            "status": pd.array(status, dtype="string"),
            "message_zh": pd.array(msgs.str[0], dtype="string"),
            "message_en": pd.array(msgs.str[1], dtype="string"),
        }
    )


def find_companions(
    index: StayIndex,
    cases: pd.DataFrame,
    *,
    window_days: int = 15,
    min_shared_minutes: float = 60,
    as_of=None,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Companions of every case in ``cases`` (one vectorised pass for the whole batch).

    Parameters
    ----------
    index : StayIndex
    cases : DataFrame
        CASES schema (``case_id, confirmed_date, uid`` are used). Not modified.
    window_days : int
        Days before the confirmation day searched (the confirmation day itself is included).
    min_shared_minutes : float
        Least total shared time for a companion.
    as_of : datetime-like, optional
        Time of the search; windows are cut there (naive values are local time in ``tz``).
    tz : str
        Time zone of ``confirmed_date`` calendar days.

    Returns
    -------
    DataFrame
        COMPANIONS columns plus ``places`` (list of cell_id, most shared minutes first) and
        ``top_cell``. ``result.attrs["case_report"]`` holds :func:`check_cases` for the batch
        (cases with no stays, duplicates dropped, windows clipped).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [t, t, t + 3000],
    ...                       "end_s": [t + 7200, t + 5400, t + 9000], "cell_id": [5, 5, 5]})
    >>> idx = StayIndex.build(stays, pad_minutes=0)
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1],
    ...                       "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> out = find_companions(idx, cases)
    >>> out[["case_id", "uid", "shared_minutes"]].to_dict("records")
    [{'case_id': 'c1', 'uid': 2, 'shared_minutes': 90.0}, {'case_id': 'c1', 'uid': 3, 'shared_minutes': 70.0}]
    >>> out.attrs["case_report"]["window_clipped"].tolist()
    [True]
    """
    report = check_cases(index, cases, window_days=window_days, as_of=as_of, tz=tz)
    run = report[report["status"] == STATUS_OK]
    win = np.stack(
        [run["window_start_s"].to_numpy(np.int64), run["window_end_s"].to_numpy(np.int64)], axis=1
    ).reshape(-1, 2)
    found = index.companions(run["uid"].to_numpy(np.int64), win, min_shared_minutes=min_shared_minutes)
    case_ids = run["case_id"].to_numpy(object)
    out = pd.DataFrame({"case_id": pd.array(case_ids[found["query"].to_numpy()], dtype="string")})
    for col in list(COMPANIONS)[1:] + ["places", "top_cell"]:
        out[col] = found[col].to_numpy() if col != "places" else found[col].array
    out = out.astype({k: v for k, v in COMPANIONS.items()})
    n_comp = out.groupby("case_id").size()
    n = report["case_id"].map(n_comp).fillna(0).to_numpy(np.int64)
    report["n_companions"] = np.where(report["status"].to_numpy(object) == STATUS_OK, n, 0)
    out.attrs["case_report"] = report
    return out


def companion_accuracy(found: pd.DataFrame, truth: pd.DataFrame, *, min_shared_minutes: float = 60) -> dict:
    """Recall and precision of found (case_id, uid) pairs against true contacts.

    A true companion has true shared minutes ``>= min_shared_minutes``; a found pair counts as correct
    when it is a true companion.

    Examples
    --------
    >>> found = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 2], "shared_minutes": [70.0, 65.0]})
    >>> truth = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 3], "shared_minutes": [80.0, 90.0]})
    >>> companion_accuracy(found, truth)["recall"]
    0.5
    """
    t = truth[truth["shared_minutes"] >= min_shared_minutes]
    f = found[found["shared_minutes"] >= min_shared_minutes]
    tk = set(zip(t["case_id"].astype(str), t["uid"].astype("int64")))
    fk = set(zip(f["case_id"].astype(str), f["uid"].astype("int64")))
    hit = len(tk & fk)
    return {
        "true_pairs": len(tk),
        "found_pairs": len(fk),
        "recall": hit / len(tk) if tk else 1.0,
        "precision": hit / len(fk) if fk else 1.0,
    }


# ---- helpers -----------------------------------------------------------------------------------------
def _expand(lo: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(lo[i], lo[i] + n[i])`` for all i without a Python loop."""
    n = np.asarray(n, dtype=np.int64)
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(n) - n
    return np.repeat(np.asarray(lo, dtype=np.int64) - starts, n) + np.arange(total, dtype=np.int64)


def _chunks(n: np.ndarray, budget: int):
    """Slices over ``n`` whose sums stay near ``budget`` (bounded memory for big batches)."""
    if len(n) == 0:
        return []
    cum = np.cumsum(n)
    cuts = np.searchsorted(cum, np.arange(budget, int(cum[-1]), budget), side="left")
    bounds = np.unique(np.concatenate([[0], cuts + 1, [len(n)]]))
    bounds = bounds[bounds <= len(n)]
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _is_sorted_pair(a: np.ndarray, b: np.ndarray) -> bool:
    da = np.diff(a)
    return bool(np.all(da >= 0) and np.all((da > 0) | (np.diff(b) >= 0)))


def _unique_sorted(sorted_vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values and codes of an already sorted array (linear time)."""
    if len(sorted_vals) == 0:
        return sorted_vals.copy(), np.zeros(0, dtype=np.int64)
    new = np.empty(len(sorted_vals), dtype=bool)
    new[0] = True
    np.not_equal(sorted_vals[1:], sorted_vals[:-1], out=new[1:])
    return sorted_vals[new], np.cumsum(new) - 1


def _place_codes(cell: np.ndarray, cells: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense place codes: the cells table's cells first (sorted), then unknown cells of the stays."""
    known = np.unique(cells["cell_id"].to_numpy(np.int64)) if cells is not None else np.zeros(0, np.int64)
    pos = np.searchsorted(known, cell)
    hit = (pos < len(known)) & (known[np.minimum(pos, max(len(known) - 1, 0))] == cell) if len(known) else np.zeros(len(cell), bool)
    if hit.all():
        return known, pos
    extra, inv = np.unique(cell[~hit], return_inverse=True)
    code = pos.copy()
    code[~hit] = len(known) + inv
    return np.concatenate([known, extra]), code


def _neighbours(place_cells: np.ndarray, cells: pd.DataFrame, radius_m: float):
    """CSR of places within ``radius_m`` of each place (itself included)."""
    from scipy.spatial import cKDTree

    c = cells.drop_duplicates("cell_id").set_index("cell_id")
    lon = c["lon"].reindex(place_cells).to_numpy(np.float64)
    lat = c["lat"].reindex(place_cells).to_numpy(np.float64)
    known = ~(np.isnan(lon) | np.isnan(lat))
    lat0 = np.nanmean(lat) if known.any() else 0.0
    xy = np.stack([lon * np.cos(np.radians(lat0)), lat], axis=1) * _EARTH_M_PER_DEG
    xy[~known] = np.nan
    ids = np.flatnonzero(known)
    pairs = cKDTree(xy[known]).query_pairs(radius_m, output_type="ndarray") if len(ids) else np.zeros((0, 2), int)
    a = np.concatenate([np.arange(len(place_cells)), ids[pairs[:, 0]], ids[pairs[:, 1]]])
    b = np.concatenate([np.arange(len(place_cells)), ids[pairs[:, 1]], ids[pairs[:, 0]]])
    order = np.lexsort((b, a))
    ptr = np.searchsorted(a[order], np.arange(len(place_cells) + 1)).astype(np.int64)
    return ptr, b[order].astype(np.int64)


def _pad(uid_code: np.ndarray, start: np.ndarray, end: np.ndarray, pad_s: int):
    """Stretch stays into the gaps around them: half the gap, at most ``pad_s`` each side."""
    if pad_s <= 0 or len(start) == 0:
        return start.copy(), end.copy()
    same_prev = np.zeros(len(start), dtype=bool)
    same_prev[1:] = uid_code[1:] == uid_code[:-1]
    gap_before = np.full(len(start), 2 * pad_s, dtype=np.int64)
    gap_before[1:] = np.where(same_prev[1:], start[1:] - end[:-1], 2 * pad_s)
    gap_before = np.maximum(gap_before, 0)
    gap_after = np.full(len(start), 2 * pad_s, dtype=np.int64)
    gap_after[:-1] = np.where(same_prev[1:], gap_before[1:], 2 * pad_s)
    # both sides take the floor of half the gap, so padded neighbours never overlap
    return start - np.minimum(gap_before // 2, pad_s), end + np.minimum(gap_after // 2, pad_s)
