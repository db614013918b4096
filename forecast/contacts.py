"""Companion search (伴随者): who shared a place with a confirmed case, and for how long.

The co-location rule (docs/contacts.md)
---------------------------------------
Two subscribers are *at the same place* when both have a stay at the same cell (or, with
``radius_m``, at cells whose centres are within ``radius_m`` of each other). Their *shared time* is
the overlap of the two stays' time intervals, summed over every pair of stays inside the case's
window. A companion is a subscriber whose shared time with the case is ``>= min_shared_minutes``.

Stays are seen through sparse pings, so their ends are uncertain by up to one ping interval. The
index puts each boundary at its best estimate before matching (``stay_end``):

* ``"trigger"`` (stays from :func:`forecast.stays.detect_stays`, trackintel's rule): a stay runs from
  its first ping to the first ping *elsewhere* (the trigger), so it includes the unseen move. Its end
  is moved back to the midpoint between its estimated last ping and the trigger, i.e. by half its
  mean ping interval ``(end_s - start_s) / n_pings / 2``; a stay that started at that trigger starts at
  the same midpoint.
* ``"last_ping"`` (a stay runs from its first to its last ping, shorter than the real visit): each
  stay is stretched into the gaps around it, by half the gap to the subscriber's previous/next stay
  and at most ``pad_minutes`` per side.

Either way one subscriber's stays never overlap after the change, so summing overlaps never counts a
minute twice.

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

from .contacts_arrays import (
    _absorb_pingpong,
    _chunks,
    _csr_neighbours,
    _expand,
    _heads,
    _is_sorted_pair,
    _midpoints,
    _pad,
    _pingpong_pairs,
    _place_codes,
    _radius_pairs,
    _unique_sorted,
)
from .schema import COMPANIONS, DEFAULT_TZ

_PLACE_SHIFT = 32
_CLASS_SHIFT = 58  # 6 bits of class, 26 bits of place (67M cells), 32 bits of seconds (136 years)
_MAX_PLACES = 1 << (_CLASS_SHIFT - _PLACE_SHIFT)
_TIME_MASK = (1 << _PLACE_SHIFT) - 1
_CLASS_GROWTH = 4
_CHUNK_CANDIDATES = 8_000_000

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
        stay_end: str = "auto",
        pad_minutes: float = 15.0,
        min_pings: int = 1,
        pingpong_minutes: float | None = 60,
        pingpong_min_count: int = 3,
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
        stay_end : {"auto", "trigger", "last_ping"}
            What a stay's ``end_s`` is (see module docstring); ``"auto"``: ``"trigger"`` when the
            stays have ``n_pings``, else ``"last_ping"``.
        pad_minutes : float
            With ``"last_ping"``: most a stay is stretched at each end into the gap around it.
        min_pings : int
            Stays seen by fewer pings are not matched (when the stays have ``n_pings``): one ping
            shows someone passing, and a one-ping stay's length is mostly the unseen gap after it.
            The measured trade-off is in docs/contacts.md.
        pingpong_minutes : float or None
            Learn cells that serve the same place from the data: when a subscriber's stays go
            A, B, A with the stay at B no longer than this, (A, B) is a *ping-pong* (a phone switching
            between two towers, e.g. one across a border). Pairs seen at least ``pingpong_min_count``
            times are matched as one place. ``None`` turns this off.
        pingpong_min_count : int
            Least number of ping-pongs for a pair of cells to be joined.

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
        if stay_end == "auto":
            stay_end = "trigger" if "n_pings" in stays.columns else "last_ping"
        if stay_end not in ("trigger", "last_ping"):
            raise ValueError(f"stay_end must be 'trigger' or 'last_ping', not {stay_end!r}")
        if stay_end == "trigger" and "n_pings" not in stays.columns:
            raise ValueError("stay_end='trigger' needs the stays' n_pings")
        uid = stays["uid"].to_numpy(np.int64)
        start = stays["start_s"].to_numpy(np.int64)
        end = stays["end_s"].to_numpy(np.int64)
        cell = stays["cell_id"].to_numpy(np.int64)
        npk = stays["n_pings"].to_numpy(np.int64) if stay_end == "trigger" else np.ones(len(uid), np.int64)
        bad = end < start
        few = (stays["n_pings"].to_numpy(np.int64) < min_pings) if "n_pings" in stays.columns else np.zeros(len(uid), bool)
        report = {"stays_in": int(len(uid)), "stays_bad_interval": int(bad.sum()),
                  "stays_too_few_pings": int((few & ~bad).sum()), "stay_end": stay_end}
        if bad.any() or few.any():  # reported, not silently repaired
            keep = ~bad & ~few
            uid, start, end, cell, npk = uid[keep], start[keep], end[keep], cell[keep], npk[keep]

        place_cells, place = _place_codes(cell, cells)
        if len(place_cells) >= _MAX_PLACES:
            raise ValueError(f"too many distinct cells for the index ({len(place_cells)})")
        if radius_m is not None and cells is None:
            raise ValueError("radius_m needs the cells table (lon, lat)")

        # by uid, then start; input from detect_stays is usually already in this order
        if len(uid) > 1 and not _is_sorted_pair(uid, start):
            order = np.lexsort((start, uid))
            uid, start, end, place, npk = uid[order], start[order], end[order], place[order], npk[order]
        uids, uid_code = _unique_sorted(uid)
        if pingpong_minutes is not None:
            max_s = int(pingpong_minutes * 60)
            pp = _pingpong_pairs(uid_code, start, end, place, max_s, int(pingpong_min_count))
            n0 = len(uid_code)
            uid_code, start, end, place, npk = _absorb_pingpong(uid_code, start, end, place, npk, pp, max_s)
            report["pingpong_pairs"] = int(len(pp))
            report["stays_merged_pingpong"] = int(n0 - len(uid_code))
        nb_ptr = nb_idx = None
        if radius_m is not None:
            nb_ptr, nb_idx = _csr_neighbours(len(place_cells), _radius_pairs(place_cells, cells, float(radius_m)))
        uid_ptr = np.searchsorted(uid_code, np.arange(len(uids) + 1)).astype(np.int64)

        pad_s = int(round(pad_minutes * 60))
        if stay_end == "trigger":
            p_start, p_end = _midpoints(uid_code, start, end, npk)
        else:
            p_start, p_end = _pad(uid_code, start, end, pad_s)
        span = (int(start.min()), int(end.max())) if len(uid) else (0, 0)
        del start, end, uid, cell, npk  # large temporaries (memory)
        t0 = (int(p_start.min()) if len(p_start) else 0) - 1
        p_start -= t0
        p_end -= t0
        rs, re_ = p_start, p_end
        if len(rs) and re_.max() >= 1 << 32:
            raise ValueError("stays span more than 136 years")

        # key = class | place | start; class k holds stays up to bucket * 4**k
        key = place.astype(np.int64) << _PLACE_SHIFT
        key |= rs
        dur = re_ - rs
        limit = int(bucket_minutes) * 60
        class_max = [limit]
        longest = int(dur.max()) if len(dur) else 0
        while longest > limit:
            key += (dur > limit).astype(np.int64) << _CLASS_SHIFT
            limit *= _CLASS_GROWTH
            class_max.append(limit)
        del dur
        order = np.argsort(key)
        key = key[order]
        k_end = re_[order].astype(np.uint32)
        k_uid = uid_code[order].astype(np.int32)
        del order
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
            key=key,
            k_end=k_end,
            k_uid=k_uid,
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

    def _pairs(self, code: np.ndarray, win_rel: np.ndarray) -> dict:
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
                    (
                        q[rep[hit]],
                        c_uid[hit].astype(np.int64),
                        (self.key[cand[hit]] >> _PLACE_SHIFT) & (_MAX_PLACES - 1),
                        first[hit],
                        last[hit],
                    )
                )
        names = ("query", "uid_code", "place", "first", "last")
        if not parts:
            return {c: np.zeros(0, np.int64) for c in names}
        return {c: np.concatenate([p[i] for p in parts]) for i, c in enumerate(names)}


def _aggregate(pairs: dict, index: StayIndex, min_shared_minutes: float) -> pd.DataFrame:
    """Sum overlaps per (query, companion), keep those above the threshold, list their places.

    Sort-and-reduce on one int64 key (query, uid, place); no pandas groupby on the hot path.
    """
    q, uc, place, first, last = (pairs[k] for k in ("query", "uid_code", "place", "first", "last"))
    n_u, n_p = len(index.uids) + 1, len(index.place_cells) + 1
    pair_key = q * n_u + uc
    if len(q) and int(pair_key.max()) < np.iinfo(np.int64).max // n_p:
        order = np.argsort(pair_key * n_p + place)
    else:
        order = np.lexsort((place, pair_key))
    pk, pl, fi, la = pair_key[order], place[order], first[order], last[order]
    sec = la - fi
    # per (pair, place)
    head = _heads(pk, pl)
    pp_sec = np.add.reduceat(sec, head) if len(head) else sec[:0]
    pp_first = np.minimum.reduceat(fi, head) if len(head) else fi[:0]
    pp_last = np.maximum.reduceat(la, head) if len(head) else la[:0]
    pp_key, pp_place = pk[head], pl[head]
    # per pair
    h2 = _heads(pp_key)
    p_sec = np.add.reduceat(pp_sec, h2) if len(h2) else pp_sec[:0]
    p_first = np.minimum.reduceat(pp_first, h2) if len(h2) else pp_first[:0]
    p_last = np.maximum.reduceat(pp_last, h2) if len(h2) else pp_last[:0]
    p_n = np.diff(np.append(h2, len(pp_key)))
    keep = p_sec >= min_shared_minutes * 60
    # places of kept pairs, most shared minutes first, as a list column (vectorised via Arrow)
    pair_of_pp = np.repeat(np.arange(len(h2)), p_n)
    kpp = keep[pair_of_pp]
    o2 = np.lexsort((pp_place[kpp], -pp_sec[kpp], pair_of_pp[kpp]))
    cells = index.place_cells[pp_place[kpp][o2]]
    offsets = np.concatenate([[0], np.cumsum(p_n[keep])]).astype(np.int64)
    places = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(cells, type=pa.int64()))
    k = pp_key[h2][keep]
    out = pd.DataFrame(
        {
            "query": k // n_u,
            "uid": index.uids[k % n_u],
            "shared_minutes": p_sec[keep].astype(np.float64) / 60.0,
            "n_places": p_n[keep].astype(np.int64),
            "first_s": p_first[keep] + index.t0_s,
            "last_s": p_last[keep] + index.t0_s,
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


def companion_accuracy(
    found: pd.DataFrame, truth: pd.DataFrame, *, min_shared_minutes: float = 60, band_minutes: float = 15
) -> dict:
    """Recall and precision of found (case_id, uid) pairs against true contacts.

    A true companion has true shared minutes ``>= min_shared_minutes``; a found pair counts as correct
    when it is a true companion. ``recall_outside_band`` and ``precision_outside_band`` leave out
    pairs whose true time is within ``band_minutes`` of the threshold (where sparse pings cannot
    decide): recall over true pairs ``>= min + band``, precision against true ``>= min - band``.

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
    t_hi = truth[truth["shared_minutes"] >= min_shared_minutes + band_minutes]
    t_lo = truth[truth["shared_minutes"] >= min_shared_minutes - band_minutes]
    thk = set(zip(t_hi["case_id"].astype(str), t_hi["uid"].astype("int64")))
    tlk = set(zip(t_lo["case_id"].astype(str), t_lo["uid"].astype("int64")))
    return {
        "true_pairs": len(tk),
        "found_pairs": len(fk),
        "recall": hit / len(tk) if tk else 1.0,
        "precision": hit / len(fk) if fk else 1.0,
        "recall_outside_band": len(thk & fk) / len(thk) if thk else 1.0,
        "precision_outside_band": len(tlk & fk) / len(fk) if fk else 1.0,
    }
