"""Array primitives of the stay scan (docs/engine.md): sliding-rule anchors, per-segment majority and
longest run. Internal to :mod:`forecast.stays` and :mod:`forecast.stays.border`; arrays in and out.

The sliding rule's anchors (Li et al. 2008, as trackintel applies it) are found in two ways, both
exact and vectorised over all subscribers at once:

* **pointer jumping** for pieces that visit at most ``_MAX_LOCAL_CELLS`` distinct cells (nearly all
  of them: people use a handful of towers). Each run gets its *next trigger*, the first later run
  of the piece at ``>= radius_m`` from it (per distinct cell: the next occurrence of each far cell,
  a bit mask per cell), and the anchors are the chain of next triggers from the piece's first run,
  followed by pointer doubling (``log2`` of the chain length steps);
* a **lockstep scan** for the rest: each step tests the next ``k`` runs of every open piece
  against its anchor.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_000.0
_STEP_BUDGET = 1 << 16
_MAX_LOOKAHEAD = 64
_MAX_LOCAL_CELLS = 30

__all__ = ["anchors_by_radius", "majority", "longest", "EARTH_RADIUS_M"]


def anchors_by_radius(g_start: np.ndarray, rows: np.ndarray, cell_xyz: np.ndarray, radius_m: float,
                      codes: np.ndarray | None = None) -> np.ndarray:
    """Anchor runs of the sliding scan (group starts plus triggers), as a boolean mask over runs.

    ``g_start`` marks runs that start a gap-free group, ``rows`` are the runs' cell rows and
    ``cell_xyz`` the cells' unit vectors. "distance >= radius_m" is tested as ``dot <= cos(radius_m
    / R)`` (the haversine in trackintel's form is the arc cosine of the same dot product). A run more
    than ``2 * radius_m`` from the previous run is a trigger whatever the anchor was (triangle
    inequality), so such runs split the groups into independent pieces. With ``codes`` (one per
    run), pieces whose runs all carry one code are not scanned (left as one segment): for callers
    that only need each segment's majority code, their segments would all give that code.

    Examples
    --------
    >>> xyz = np.array([[1.0, 0, 0], [np.cos(1e-5), np.sin(1e-5), 0], [np.cos(3e-5), np.sin(3e-5), 0]])
    >>> anchors_by_radius(np.array([True, False, False, False]), np.array([0, 1, 0, 2]), xyz, 100.0).tolist()
    [True, False, False, True]
    """
    n_runs = len(rows)
    is_anchor = np.array(g_start, bool, copy=True)
    if n_runs < 2:
        return is_anchor
    cos_r = np.cos(radius_m / EARTH_RADIUS_M)
    xyz = np.take(cell_xyz, rows, axis=0)
    step_dot = np.einsum("ij,ij->i", xyz[1:], xyz[:-1])
    is_anchor[1:] |= step_dot <= np.cos((2.0 * radius_m + 1.0) / EARTH_RADIUS_M)
    del step_dot
    first = np.flatnonzero(is_anchor)
    size = np.diff(np.append(first, n_runs))
    open_ = size > 1
    if codes is not None:  # only pieces whose runs carry more than one code
        change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        mixed = np.zeros(len(first), bool)
        mixed[np.searchsorted(first, change, side="right") - 1] = True
        open_ &= mixed
    if not open_.any():
        return is_anchor
    first, size = first[open_], size[open_]
    # runs of the open pieces, compacted (pieces stay contiguous and in order)
    piece = np.repeat(np.arange(len(first)), size)
    at = np.arange(len(piece)) - np.repeat(np.cumsum(size) - size, size) + np.repeat(first, size)
    sub_rows = rows[at]
    key = piece * np.int64(len(cell_xyz)) + sub_rows
    order = np.argsort(key, kind="stable")
    skey = key[order]
    new_pair = np.empty(len(skey), bool)
    new_pair[0] = True
    np.not_equal(skey[1:], skey[:-1], out=new_pair[1:])
    pair_first = np.flatnonzero(new_pair)
    pair_of = np.empty(len(skey), np.int64)
    pair_of[order] = np.cumsum(new_pair) - 1
    pair_piece = piece[order[pair_first]]
    n_local = np.bincount(pair_piece, minlength=len(first))
    small = n_local <= _MAX_LOCAL_CELLS
    if small.any():
        sel = small[piece]
        _jump_pieces(is_anchor, at[sel], piece[sel], pair_of[sel], pair_piece, n_local, small,
                     sub_rows[order[pair_first]], cell_xyz, cos_r)
    if not small.all():
        big = ~small
        _lockstep(is_anchor, first[big], first[big] + size[big], xyz, cos_r)
    return is_anchor


def _jump_pieces(is_anchor, at, piece, pair_of, pair_piece, n_local, small, pair_rows, cell_xyz, cos_r):
    """Pointer-jumping scan of pieces with few distinct cells; marks their triggers in ``is_anchor``.

    ``at``: original run index of each run (pieces contiguous), ``piece``: its piece, ``pair_of``:
    its (piece, cell) pair; pairs are numbered piece by piece (``pair_piece``: the piece of each pair,
    ``pair_rows``: its cell row), ``n_local``: distinct cells per piece, ``small``: pieces to scan.
    """
    pair_start = np.flatnonzero(np.r_[True, pair_piece[1:] != pair_piece[:-1]])  # first pair of each piece
    local_of_pair = np.arange(len(pair_piece)) - np.repeat(pair_start, n_local)
    # far masks: bit b of mask[a] says pair b of a's piece is >= radius from a; pieces with L
    # distinct cells are an (n, L, L) block of dot products, one block per L
    pair_xyz = np.take(cell_xyz, pair_rows, axis=0)
    mask_of_pair = np.zeros(len(pair_piece), np.int32)
    piece_l = n_local[pair_piece]
    for size_l in np.unique(n_local[small]):
        sel = np.flatnonzero(piece_l == size_l)
        p = np.take(pair_xyz, sel, axis=0).reshape(-1, size_l, 3)
        far = np.einsum("pid,pjd->pij", p, p) <= cos_r
        bits = far * (np.int32(1) << np.arange(size_l, dtype=np.int32))
        mask_of_pair[sel] = bits.sum(axis=2, dtype=np.int32).ravel()
    # pieces with more distinct cells first, so that the pass for local cell c covers a prefix
    start = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
    size = np.diff(np.append(start, len(piece)))
    by = np.argsort(-n_local[piece[start]], kind="stable")
    start, size = start[by], size[by]
    new_start = np.cumsum(size) - size
    perm = np.repeat(start - new_start, size) + np.arange(len(piece))
    at, pair_of = at[perm], pair_of[perm]
    m = len(at)
    mask = mask_of_pair[pair_of]
    local = local_of_pair[pair_of].astype(np.int8)
    end = np.repeat((new_start + size).astype(np.int32), size)
    prefix = np.cumsum(size)  # runs in the first k pieces
    n_loc_sorted = n_local[piece[start]]
    # next trigger of each run: the first later run of its piece whose cell is in its far mask
    idx = np.arange(m, dtype=np.int32)
    nt = np.full(m + 1, m, np.int32)
    nxt = np.empty(m + 1, np.int32)
    for c in range(int(n_loc_sorted[0])):
        hi = int(prefix[np.searchsorted(-n_loc_sorted, -c, side="left") - 1])  # pieces with > c cells
        nxt[hi] = m
        pos = np.where(local[:hi] == c, idx[:hi], np.int32(m))
        nxt[:hi] = np.minimum.accumulate(pos[::-1])[::-1]
        has = np.bitwise_and(mask[:hi], np.int32(1 << c)) != 0
        np.minimum(nt[:hi], np.where(has, nxt[1:hi + 1], np.int32(m)), out=nt[:hi])
    nt[:m][nt[:m] >= end] = m  # a candidate beyond the piece's end is no trigger
    # anchors: the chain start, nt(start), nt(nt(start)) ... by pointer doubling
    cur = new_start.astype(np.int32)
    marked = np.zeros(m + 1, bool)
    jump = nt
    while True:
        step = jump[cur]
        step = step[step < m]
        if not len(step):
            break
        marked[step] = True
        cur = np.concatenate([cur, step])
        jump = jump[jump]
    is_anchor[at[marked[:m]]] = True


def _lockstep(is_anchor, anchor, end, xyz, cos_r):
    """Sliding scan of pieces ``[anchor, end)`` in lockstep: each step tests the next ``k`` runs of
    every open piece against its anchor (``k`` chosen so a step handles ~65k pairs)."""
    n_runs = len(xyz)
    probe = anchor + 1
    while len(anchor):
        k = int(min(_MAX_LOOKAHEAD, max(1, _STEP_BUDGET // len(anchor)), int((end - probe).max())))
        idx = probe[:, None] + np.arange(k)
        valid = idx < end[:, None]
        np.minimum(idx, n_runs - 1, out=idx)
        dot = np.einsum("ikj,ij->ik", np.take(xyz, idx, axis=0), np.take(xyz, anchor, axis=0))
        far = (dot <= cos_r) & valid
        hit = far.any(axis=1)
        first_hit = far.argmax(axis=1)
        trig = probe[hit] + first_hit[hit]
        is_anchor[trig] = True
        anchor[hit] = trig
        probe[hit] = trig + 1
        probe[~hit] += k
        keep = probe < end
        anchor, probe, end = anchor[keep], probe[keep], end[keep]


def majority(seg_of_run, code, weight, n_seg, first_run):
    """Per segment, the code with the largest summed weight (ties: smallest code).

    Runs are ordered by segment; ``first_run`` is each non-empty segment's first run. Only
    segments whose runs carry more than one code are sorted (few: most stays lie in one city).

    Examples
    --------
    >>> majority(np.array([0, 0, 0, 1]), np.array([5, 7, 7, 9]), np.array([3, 2, 2, 1]), 2, np.array([0, 3])).tolist()
    [7, 9]
    """
    out = np.zeros(n_seg, np.int64)
    out[seg_of_run[first_run]] = code[first_run]
    differs = (code[1:] != code[:-1]) & (seg_of_run[1:] == seg_of_run[:-1])
    if not differs.any():
        return out
    mixed = np.zeros(n_seg, bool)
    mixed[seg_of_run[1:][differs]] = True
    sel = mixed[seg_of_run]
    s, c, w = seg_of_run[sel], code[sel], weight[sel]
    order = np.argsort(s * np.int64(int(c.max()) + 1) + c, kind="stable")
    s, c, w = s[order], c[order], w[order]
    start = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (c[1:] != c[:-1])])
    ks, kc, kw = s[start], c[start], np.add.reduceat(w, start)
    seg_start = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    best_w = np.maximum.reduceat(kw, seg_start)
    cand = np.flatnonzero(kw == np.repeat(best_w, np.diff(np.r_[seg_start, len(ks)])))
    cand = cand[np.r_[True, ks[cand][1:] != ks[cand][:-1]]]
    out[ks[cand]] = kc[cand]
    return out


def longest(seg_of_run, value, weight, n_seg, first_run):
    """Per segment, the value of its run with the largest weight (ties: the earliest run).

    Examples
    --------
    >>> longest(np.array([0, 0, 1]), np.array([5, 7, 9]), np.array([1, 3, 1]), 2, np.array([0, 2])).tolist()
    [7, 9]
    """
    best_w = np.maximum.reduceat(weight, first_run)
    cand = np.flatnonzero(weight == np.repeat(best_w, np.diff(np.r_[first_run, len(weight)])))
    cand = cand[np.r_[True, seg_of_run[cand][1:] != seg_of_run[cand][:-1]]]
    out = np.zeros(n_seg, np.int64)
    out[seg_of_run[cand]] = value[cand]
    return out
