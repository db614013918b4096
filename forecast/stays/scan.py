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

from forecast.stays.kernel import EARTH_RADIUS_M, scan_anchors

_STEP_BUDGET = 1 << 16
_MAX_LOOKAHEAD = 64
_MAX_LOCAL_CELLS = 30
_MAX_MASK_CELLS = 62  # distinct cells of a piece that fit the int64 masks of the classification
_MAX_ROUNDS = 4  # rounds of classification and reduction before the exact scans take the rest

__all__ = ["anchors_by_radius", "majority", "longest", "EARTH_RADIUS_M"]


def anchors_by_radius(g_start: np.ndarray, rows: np.ndarray, cell_xyz: np.ndarray, radius_m: float,
                      codes: np.ndarray | None = None, scan: str = "compiled") -> np.ndarray:
    """Anchor runs of the sliding scan (group starts plus triggers), as a boolean mask over runs.

    ``g_start`` marks runs that start a gap-free group, ``rows`` are the runs' cell rows and
    ``cell_xyz`` the cells' unit vectors. "distance >= radius_m" is tested as ``dot <= cos(radius_m
    / R)`` (the haversine in trackintel's form is the arc cosine of the same dot product). A run more
    than ``2 * radius_m`` from the previous run is a trigger whatever the anchor was (triangle
    inequality), so such runs split the groups into independent pieces. With ``codes`` (one per
    run), pieces whose runs all carry one code are not scanned (left as one segment): for callers
    that only need each segment's majority code, their segments would all give that code.

    ``scan="compiled"`` (default): one sequential pass of :func:`forecast.stays.kernel.scan_anchors`
    (numba), linear in the runs; ``scan="numpy"``: the vectorised scan below, the reference (the
    same mask).

    Examples
    --------
    >>> xyz = np.array([[1.0, 0, 0], [np.cos(1e-5), np.sin(1e-5), 0], [np.cos(3e-5), np.sin(3e-5), 0]])
    >>> anchors_by_radius(np.array([True, False, False, False]), np.array([0, 1, 0, 2]), xyz, 100.0).tolist()
    [True, False, False, True]
    >>> anchors_by_radius(np.array([True, False, False, False]), np.array([0, 1, 0, 2]), xyz, 100.0,
    ...                   scan="numpy").tolist()
    [True, False, False, True]
    """
    if scan == "compiled":
        return scan_anchors(g_start, rows, cell_xyz, np.cos(radius_m / EARTH_RADIUS_M),
                            np.cos((2.0 * radius_m + 1.0) / EARTH_RADIUS_M), codes)
    if scan != "numpy":
        raise ValueError(f"unknown scan {scan!r}; use 'compiled' or 'numpy'")
    return _anchors(g_start, rows, cell_xyz, radius_m, codes, 0)


def _anchors(g_start, rows, cell_xyz, radius_m, codes, depth):
    """:func:`anchors_by_radius`; ``depth`` counts the rounds of reduction (``_scan_pieces``)."""
    n_runs = len(rows)
    is_anchor = np.array(g_start, bool, copy=True)
    if n_runs < 2:
        return is_anchor
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
    _scan_pieces(is_anchor, first[open_], size[open_], rows, cell_xyz, radius_m, depth)
    return is_anchor


def _scan_pieces(is_anchor, first, size, rows, cell_xyz, radius_m, depth):
    """Triggers of the pieces ``[first, first + size)`` (each of >= 2 runs), marked in ``is_anchor``.

    Each run is first classified against the run just before it, from the far masks of its piece's
    distinct cells (pairs of cells, not runs: ping-pong between a few towers costs one mask each):

    * *never a trigger* when it is near the run before and every cell far from it is far from that
      run too (whatever the anchor, the run before was then within ``radius_m`` of it or was it);
    * *always a trigger* when every cell near the run before (itself included) is far from it.

    Always-triggers are anchors and cut the piece into independent parts; never-triggers change no
    anchor and are dropped. Parts left with undecided runs are scanned again, reduced to those
    runs (a few rounds), and what still remains by the exact scans below.
    """
    at, piece, sub_rows, pair_of, pair_piece, pair_rows, n_local = _pairs(first, size, rows, len(cell_xyz))
    if depth >= _MAX_ROUNDS or n_local.max() > _MAX_MASK_CELLS:
        _exact_pieces(is_anchor, first, size, rows, cell_xyz, radius_m,
                      (at, piece, sub_rows, pair_of, pair_piece, pair_rows, n_local))
        return
    piece_first = np.zeros(len(piece), bool)
    piece_first[np.cumsum(size) - size] = True
    far_mask, local_bit = _far_masks(pair_rows, pair_piece, n_local, cell_xyz, np.cos(radius_m / EARTH_RADIUS_M))
    near_mask = (np.left_shift(np.int64(1), n_local[pair_piece]) - 1) & ~far_mask
    # classify each run against the one before it (a piece's first run is its anchor); far is
    # symmetric (the same dot product), so a cell's mask says both whom it is far from as the anchor
    # and who is far from it as the candidate
    mask = far_mask[pair_of]
    mask_prev, mask_cur = mask[:-1], mask[1:]
    far_step = (mask_prev & local_bit[pair_of[1:]]) != 0
    never = ~far_step & ((mask_cur & ~mask_prev) == 0)
    always = far_step & ((near_mask[pair_of[:-1]] & ~mask_cur) == 0)
    never[piece_first[1:]] = False
    always[piece_first[1:]] = False
    is_anchor[at[1:][always]] = True
    open_run = np.r_[False, ~(never | always)]
    open_run[piece_first] = False
    if not open_run.any():
        return
    # the parts (cut at anchors) that hold undecided runs, reduced to their anchor and those runs
    part_start = piece_first.copy()
    part_start[1:] |= always
    part = np.cumsum(part_start) - 1
    needed = np.zeros(int(part[-1]) + 1, bool)
    needed[part[open_run]] = True
    keep = needed[part] & (part_start | open_run)
    at_k = at[keep]
    if len(at_k) == len(at):  # nothing decided: no round will do better
        _exact_pieces(is_anchor, first, size, rows, cell_xyz, radius_m,
                      (at, piece, sub_rows, pair_of, pair_piece, pair_rows, n_local))
        return
    sub = _anchors(part_start[keep], sub_rows[keep], cell_xyz, radius_m, None, depth + 1)
    is_anchor[at_k[sub]] = True


def _far_masks(pair_rows, pair_piece, n_local, cell_xyz, cos_r):
    """Per distinct cell of a piece (a pair, numbered piece by piece): the bit mask of its piece's
    cells at ``>= radius`` from it (bit = local number), and its own bit. The dot products are the
    scans' own (``einsum`` over the last axis, symmetric), one flat batch per piece size ``L``."""
    pair_xyz = np.take(cell_xyz, pair_rows, axis=0)
    far_mask = np.zeros(len(pair_rows), np.int64)
    local = np.arange(len(pair_rows), dtype=np.int64) - np.repeat(np.cumsum(n_local) - n_local, n_local)
    piece_l = n_local[pair_piece]
    self_far = np.einsum("ij,ij->i", pair_xyz, pair_xyz) <= cos_r  # only for a radius below ~1 m
    for size_l in np.unique(piece_l):
        base = np.flatnonzero(piece_l == size_l).reshape(-1, size_l)
        iu, ju = np.triu_indices(int(size_l), 1)
        a, b = base[:, iu].ravel(), base[:, ju].ravel()
        far = np.einsum("ij,ij->i", np.take(pair_xyz, a, axis=0), np.take(pair_xyz, b, axis=0)) <= cos_r
        # each far pair sets the other's bit in both masks (bits are distinct: a sum is an or)
        both = np.concatenate([a[far], b[far]])
        np.add.at(far_mask, both, np.left_shift(np.int64(1), local[np.concatenate([b[far], a[far]])]))
    far_mask[self_far] |= np.left_shift(np.int64(1), local[self_far])
    return far_mask, np.left_shift(np.int64(1), local)


def _pairs(first, size, rows, n_cells):
    """The runs of pieces ``[first, first + size)`` compacted (pieces contiguous, in order) and
    their distinct cells, numbered piece by piece (a stable sort by (piece, cell): the runs are
    nearly in that order already). Returns (original run index, piece, cell row of each run; pair
    of each run; piece and cell row of each pair; distinct cells per piece)."""
    piece = np.repeat(np.arange(len(first), dtype=np.int64), size)
    at = np.arange(len(piece), dtype=np.int64) + np.repeat(first - (np.cumsum(size) - size), size)
    sub_rows = rows[at]
    order = np.argsort(piece * np.int64(n_cells) + sub_rows, kind="stable")
    s_piece, s_rows = piece[order], sub_rows[order]
    new_pair = np.empty(len(order), bool)
    new_pair[0] = True
    np.not_equal(s_rows[1:], s_rows[:-1], out=new_pair[1:])
    new_pair[1:] |= s_piece[1:] != s_piece[:-1]
    pair_first = np.flatnonzero(new_pair)
    pair_of = np.empty(len(order), np.int64)
    pair_of[order] = np.cumsum(new_pair) - 1
    pair_piece = s_piece[pair_first]
    n_local = np.bincount(pair_piece, minlength=len(first))
    return at, piece, sub_rows, pair_of, pair_piece, s_rows[pair_first], n_local


def _exact_pieces(is_anchor, first, size, rows, cell_xyz, radius_m, pairs):
    """The exact scans of pieces ``[first, first + size)`` (``pairs``: their :func:`_pairs`): pointer
    jumping on per-cell far masks for pieces with at most ``_MAX_LOCAL_CELLS`` distinct cells, the
    lockstep scan for the others."""
    cos_r = np.cos(radius_m / EARTH_RADIUS_M)
    at, piece, sub_rows, pair_of, pair_piece, pair_rows, n_local = pairs
    small = n_local <= _MAX_LOCAL_CELLS
    if small.any():
        sel = small[piece]
        _jump_pieces(is_anchor, at[sel], piece[sel], pair_of[sel], pair_piece, n_local, small, pair_rows,
                     cell_xyz, cos_r)
    if not small.all():
        big = ~small
        _lockstep(is_anchor, first[big], first[big] + size[big], np.take(cell_xyz, rows, axis=0), cos_r)


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
