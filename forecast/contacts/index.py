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

from forecast.contacts.arrays import (absorb_pingpong, chunks, csr_neighbours, expand, heads, is_sorted_pair,
                                      midpoints, pad, pingpong_pairs, place_codes, radius_pairs, stay_arrays,
                                      unique_sorted)

_PLACE_SHIFT = 32
_CLASS_SHIFT = 58  # 6 bits of class, 26 bits of place (67M cells), 32 bits of seconds (136 years)
_MAX_PLACES = 1 << (_CLASS_SHIFT - _PLACE_SHIFT)
_TIME_MASK = (1 << _PLACE_SHIFT) - 1
_CLASS_GROWTH = 4
_CHUNK_CANDIDATES = 4_000_000

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
        pingpong_minutes: float | None = None,
        pingpong_min_count: int = 3,
        span_s: tuple[int, int] | None = None,
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
        stay_end : {"auto", "trigger", "last_ping", "adjusted"}
            What a stay's ``end_s`` is (see module docstring); ``"auto"``: ``"trigger"`` when the
            stays have ``n_pings``, else ``"last_ping"``; ``"adjusted"``: the intervals are already
            the best estimates (:func:`forecast.contacts.partition.search_stays`) and are used as given.
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
            times are matched as one place. ``None`` (the default) turns this off: on the synthetic
            nation the rule also swallows real short visits (home -> shop -> home looks the same) and
            costs recall at every sampling, with border smoothing in ``detect_stays`` handling the
            towers across a border (docs/contacts.md).
        pingpong_min_count : int
            Least number of ping-pongs for a pair of cells to be joined.
        span_s : (int, int), optional
            The data's span (first stay start, last stay end) when the stays are a part of it (one
            place group of :mod:`forecast.contacts.partition`): case windows are cut there.

        Examples
        --------
        >>> stays = pd.DataFrame({"uid": [1, 2], "start_s": [0, 1800], "end_s": [7200, 9000],
        ...                       "cell_id": [5, 5]})
        >>> StayIndex.build(stays, pad_minutes=0).n_stays
        2
        """
        stay_end, (uid, start, end, cell, npk), report = stay_arrays(
            stays, stay_end, min_pings, ("trigger", "last_ping", "adjusted"))
        report["stay_end"] = stay_end

        place_cells, place = place_codes(cell, cells)
        if len(place_cells) >= _MAX_PLACES:
            raise ValueError(f"too many distinct cells for the index ({len(place_cells)})")
        if radius_m is not None and cells is None:
            raise ValueError("radius_m needs the cells table (lon, lat)")

        # by uid, then start; input from detect_stays is usually already in this order
        if len(uid) > 1 and not is_sorted_pair(uid, start):
            order = np.lexsort((start, uid))
            uid, start, end, place, npk = uid[order], start[order], end[order], place[order], npk[order]
        uids, uid_code = unique_sorted(uid)
        if pingpong_minutes is not None:
            max_s = int(pingpong_minutes * 60)
            pp = pingpong_pairs(uid_code, start, end, place, max_s, int(pingpong_min_count))
            n0 = len(uid_code)
            uid_code, start, end, place, npk = absorb_pingpong(uid_code, start, end, place, npk, pp, max_s)
            report["pingpong_pairs"] = int(len(pp))
            report["stays_merged_pingpong"] = int(n0 - len(uid_code))
        nb_ptr = nb_idx = None
        if radius_m is not None:
            nb_ptr, nb_idx = csr_neighbours(len(place_cells), radius_pairs(place_cells, cells, float(radius_m)))
        uid_ptr = np.searchsorted(uid_code, np.arange(len(uids) + 1)).astype(np.int64)

        pad_s = int(round(pad_minutes * 60))
        if stay_end == "trigger":
            p_start, p_end = midpoints(uid_code, start, end, npk)
        elif stay_end == "adjusted":
            p_start, p_end = start.copy(), end.copy()
        else:
            p_start, p_end = pad(uid_code, start, end, pad_s)
        span = (int(start.min()), int(end.max())) if len(uid) else (0, 0)
        if span_s is not None:
            span = (int(span_s[0]), int(span_s[1]))
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

    def companions(self, case_uids, case_windows, *, min_shared_minutes: float = 60,
                   batch_queries: int = 256) -> pd.DataFrame:
        """Companions of a batch of subscribers, each with its own time window.

        Parameters
        ----------
        case_uids : array of int64
            One uid per query (position ``i`` is query ``i``).
        case_windows : array of shape (n, 2)
            ``(start_s, end_s)`` per query, Unix seconds; the shared time is counted inside it.
        min_shared_minutes : float
            Keep companions with at least this much shared time.
        batch_queries : int
            Queries searched together; bounds the memory of the intermediate stay pairs.

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
        if len(code) <= batch_queries:
            return _aggregate(self._pairs(code, win - self.t0_s), self, float(min_shared_minutes))
        # The overlapping-stay pairs of all queries at once can run to GBs (a night at home meets
        # every neighbour); queries are independent, so they are searched in batches and stacked.
        parts = []
        for lo in range(0, len(code), batch_queries):
            part = _aggregate(self._pairs(code[lo:lo + batch_queries], win[lo:lo + batch_queries] - self.t0_s),
                              self, float(min_shared_minutes))
            parts.append(part.assign(query=part["query"] + lo))
        return pd.concat(parts, ignore_index=True)

    # ---- internals ------------------------------------------------------------------------------
    def case_stays(self, code: np.ndarray, win_rel: np.ndarray):
        """Case stays clipped to each query's window: (query, place, start, end) relative to t0."""
        ok = code >= 0
        q = np.flatnonzero(ok)
        lo = self.uid_ptr[code[ok]]
        n = self.uid_ptr[code[ok] + 1] - lo
        rows = expand(lo, n)
        q = np.repeat(q, n)
        s = np.maximum(self.u_start[rows].astype(np.int64), win_rel[q, 0])
        e = np.minimum(self.u_end[rows].astype(np.int64), win_rel[q, 1])
        keep = e > s
        return q[keep], self.u_place[rows[keep]].astype(np.int64), s[keep], e[keep], code[q[keep]]

    def _candidate_ranges(self, code: np.ndarray, win_rel: np.ndarray):
        """Case stays (query, start, end, own uid code) and, per duration class, the key range
        ``[lo, hi)`` of the stays each case stay must be tested against."""
        q, place, s, e, own = self.case_stays(code, win_rel)
        if self.neighbour_ptr is not None:
            lo = self.neighbour_ptr[place]
            n = self.neighbour_ptr[place + 1] - lo
            place = self.neighbour_idx[expand(lo, n)]
            q, s, e, own = (np.repeat(a, n) for a in (q, s, e, own))
        ranges = []
        for k, longest in enumerate(self.class_max_s):
            base = (np.int64(k) << _CLASS_SHIFT) | (place << _PLACE_SHIFT)
            lo = np.searchsorted(self.key, base | np.maximum(s - longest, 0), side="left")
            hi = np.searchsorted(self.key, base | e, side="left")
            ranges.append((lo, hi))
        return q, s, e, own, ranges

    def candidate_counts(self, code: np.ndarray, win_rel: np.ndarray) -> np.ndarray:
        """Per query, how many stays the search tests (its work and memory), without testing them."""
        q, _, _, _, ranges = self._candidate_ranges(code, win_rel)
        n = sum((hi - lo for lo, hi in ranges), np.zeros(len(q), np.int64))
        return np.bincount(q, weights=n, minlength=len(code)).astype(np.int64)

    def _pairs(self, code: np.ndarray, win_rel: np.ndarray) -> dict:
        q, s, e, own, ranges = self._candidate_ranges(code, win_rel)
        parts = []
        for lo, hi in ranges:
            n = hi - lo
            for sl in chunks(n, _CHUNK_CANDIDATES):
                cand = expand(lo[sl], n[sl])
                rep = np.repeat(np.arange(sl.start, sl.stop), n[sl])
                c_uid = self.k_uid[cand]
                c_start = self.key[cand] & _TIME_MASK
                first = np.maximum(c_start, s[rep])
                last = np.minimum(self.k_end[cand].astype(np.int64), e[rep])
                hit = (last > first) & (c_uid != own[rep])
                # summed per (query, companion, place) at once: a night at home meets the same
                # neighbours every night, and the raw stay pairs of a batch can run to GBs
                parts.append(_sum_triples(q[rep[hit]], c_uid[hit].astype(np.int64),
                                          (self.key[cand[hit]] >> _PLACE_SHIFT) & (_MAX_PLACES - 1),
                                          first[hit], last[hit], len(self.uids) + 1, len(self.place_cells) + 1))
        names = ("query", "uid_code", "place", "first", "last", "sec")
        if not parts:
            return {c: np.zeros(0, np.int64) for c in names}
        return {c: np.concatenate([p[i] for p in parts]) for i, c in enumerate(names)}


def _sum_triples(q, uc, place, first, last, n_u: int, n_p: int) -> tuple:
    """Overlapping stay pairs summed per (query, companion code, place): seconds, first and last second."""
    if len(q) and int(q.max()) < np.iinfo(np.int64).max // (n_u * n_p):
        key = (q * n_u + uc) * n_p + place
        order = np.argsort(key)
        key = key[order]
        head = heads(key)
        # the triple back from the key at the heads only: three gathers of every pair fewer
        k, place_h = np.divmod(key[head], n_p)
        q_h, uc_h = np.divmod(k, n_u)
    else:
        order = np.lexsort((place, uc, q))
        q, uc, place = q[order], uc[order], place[order]
        head = heads(q, uc, place)
        q_h, uc_h, place_h = q[head], uc[head], place[head]
    if not len(head):
        return q[:0], uc[:0], place[:0], first[:0], last[:0], first[:0]
    first, last = first[order], last[order]
    return (q_h, uc_h, place_h, np.minimum.reduceat(first, head), np.maximum.reduceat(last, head),
            np.add.reduceat(last - first, head))


def by_pair_and_place(pairs: dict, n_u: int, n_p: int) -> tuple:
    """Stay pairs sorted by (query, companion, place), on one int64 key where it fits: the pair key
    ``query * n_u + companion code``, place, first, last and seconds."""
    q, uc, place = pairs["query"], pairs["uid_code"], pairs["place"]
    pair_key = q * n_u + uc
    if len(q) and int(pair_key.max()) < np.iinfo(np.int64).max // n_p:
        order = np.argsort(pair_key * n_p + place)
    else:
        order = np.lexsort((place, pair_key))
    return pair_key[order], place[order], pairs["first"][order], pairs["last"][order], pairs["sec"][order]


def _aggregate(pairs: dict, index: StayIndex, min_shared_minutes: float) -> pd.DataFrame:
    """Sum overlaps per (query, companion), keep those above the threshold, list their places.

    Sort-and-reduce on one int64 key (query, uid, place); no pandas groupby on the hot path.
    """
    n_u, n_p = len(index.uids) + 1, len(index.place_cells) + 1
    pk, pl, fi, la, sec = by_pair_and_place(pairs, n_u, n_p)
    # per (pair, place)
    head = heads(pk, pl)
    pp_sec = np.add.reduceat(sec, head) if len(head) else sec[:0]
    pp_first = np.minimum.reduceat(fi, head) if len(head) else fi[:0]
    pp_last = np.maximum.reduceat(la, head) if len(head) else la[:0]
    pp_key, pp_place = pk[head], pl[head]
    # per pair
    h2 = heads(pp_key)
    p_sec = np.add.reduceat(pp_sec, h2) if len(h2) else pp_sec[:0]
    p_first = np.minimum.reduceat(pp_first, h2) if len(h2) else pp_first[:0]
    p_last = np.maximum.reduceat(pp_last, h2) if len(h2) else pp_last[:0]
    p_n = np.diff(np.append(h2, len(pp_key)))
    keep = p_sec >= min_shared_minutes * 60
    # places of kept pairs, most shared minutes first, as a list column (vectorised via Arrow)
    pair_of_pp = np.repeat(np.arange(len(h2)), p_n)
    kpp = keep[pair_of_pp]
    kcells = index.place_cells[pp_place[kpp]]
    o2 = np.lexsort((kcells, -pp_sec[kpp], pair_of_pp[kpp]))  # ties: smallest cell id first
    cells = kcells[o2]
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


__all__ = ["StayIndex"]
