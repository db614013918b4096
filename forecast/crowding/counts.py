"""People at each market's cells: distinct subscribers per market and 15-minute slot, and in the last window.

A subscriber seen at any of a market's cells in a slot counts once for that market and slot (a cell
may serve two markets; then it counts for both). Vectorised: one merge, one drop of duplicates, one
group count; no loop over pings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SLOT_S = 15 * 60  # history is kept per 15-minute slot (aligned to the Unix epoch, so to local quarter hours)
WINDOW_S = 15 * 60  # "people now" = distinct subscribers in the last 15 minutes


def _at_markets(pings: pd.DataFrame, market_cells: pd.DataFrame) -> pd.DataFrame:
    """Pings at market cells, one row per (ping, market) with ``market_id``, ``uid``, ``ts_s``."""
    cells = market_cells["cell_id"].to_numpy(dtype=np.int64)
    keep = np.isin(pings["cell_id"].to_numpy(dtype=np.int64), cells)
    near = pd.DataFrame({"uid": pings["uid"].to_numpy()[keep], "ts_s": pings["ts_s"].to_numpy()[keep],
                         "cell_id": pings["cell_id"].to_numpy()[keep]})
    return near.merge(market_cells[["market_id", "cell_id"]], on="cell_id", how="inner")


def slot_counts(pings: pd.DataFrame, market_cells: pd.DataFrame, market_ids=None, *, slot_s: int = SLOT_S,
                observed_slots=None) -> pd.DataFrame:
    """Distinct subscribers per market and slot, for every slot the pings cover (zeros included).

    A slot is *observed* when any ping (at any cell) falls in it: a market with nobody in an observed
    slot gets 0; a slot without any ping is no data, not zero, and gets no row.

    Parameters
    ----------
    pings : DataFrame
        Canonical pings (``uid``, ``ts_s``, ``cell_id``).
    market_cells : DataFrame
        ``market_id``, ``cell_id``.
    market_ids : array-like, optional
        The markets to report (default: those in ``market_cells``).
    slot_s : int
        Slot length in seconds.
    observed_slots : array-like, optional
        Starts of the slots with any ping at all, when ``pings`` holds only the pings at market cells
        (default: the slots of ``pings``).

    Returns
    -------
    DataFrame
        ``market_id``, ``slot_s`` (slot start, Unix seconds), ``subscribers`` (int64), sorted.

    Examples
    --------
    >>> pings = pd.DataFrame({"uid": [1, 1, 2, 3], "ts_s": [0, 10, 20, 1000], "cell_id": [5, 6, 5, 9]})
    >>> mc = pd.DataFrame({"market_id": [1, 1], "cell_id": [5, 6]})
    >>> slot_counts(pings, mc).values.tolist()
    [[1, 0, 2], [1, 900, 0]]
    """
    ids = np.unique(market_cells["market_id"].to_numpy(dtype=np.int64) if market_ids is None
                    else np.asarray(market_ids, dtype=np.int64))
    ts = pings["ts_s"].to_numpy(dtype=np.int64)
    slots = np.unique(ts // slot_s) * slot_s if observed_slots is None else np.unique(np.asarray(observed_slots, np.int64))
    near = _at_markets(pings, market_cells)
    near["slot_s"] = near["ts_s"].to_numpy() // slot_s * slot_s
    seen = near.drop_duplicates(["market_id", "slot_s", "uid"]).groupby(["market_id", "slot_s"]).size()
    grid = pd.MultiIndex.from_product([ids, slots], names=["market_id", "slot_s"])
    out = seen.reindex(grid, fill_value=0).rename("subscribers").reset_index()
    out["subscribers"] = out["subscribers"].astype(np.int64)
    return out


def now_counts(pings: pd.DataFrame, market_cells: pd.DataFrame, now_s: int, market_ids=None, *,
               window_s: int = WINDOW_S) -> pd.Series:
    """Distinct subscribers per market in ``[now_s - window_s, now_s)``.

    Parameters
    ----------
    pings : DataFrame
        Canonical pings (``uid``, ``ts_s``, ``cell_id``).
    market_cells : DataFrame
        ``market_id``, ``cell_id``.
    now_s : int
        The end of the window (Unix seconds).
    market_ids : array-like, optional
        The markets to report (default: those in ``market_cells``).
    window_s : int
        Window length in seconds.

    Returns
    -------
    Series
        int64 counts indexed by ``market_id`` (0 where nobody was seen).

    Examples
    --------
    >>> pings = pd.DataFrame({"uid": [1, 1, 2, 3], "ts_s": [0, 10, 20, 1000], "cell_id": [5, 6, 5, 5]})
    >>> mc = pd.DataFrame({"market_id": [1, 2], "cell_id": [5, 6]})
    >>> now_counts(pings, mc, 900).to_dict()
    {1: 2, 2: 1}
    """
    ids = np.unique(market_cells["market_id"].to_numpy(dtype=np.int64) if market_ids is None
                    else np.asarray(market_ids, dtype=np.int64))
    ts = pings["ts_s"].to_numpy(dtype=np.int64)
    recent = pings[(ts >= now_s - window_s) & (ts < now_s)]
    near = _at_markets(recent, market_cells)
    seen = near.drop_duplicates(["market_id", "uid"]).groupby("market_id").size()
    out = seen.reindex(pd.Index(ids, name="market_id"), fill_value=0).astype(np.int64)
    return out.rename("subscribers")


def merge_history(old: pd.DataFrame | None, new: pd.DataFrame, *, keep_from_s: int | None = None) -> pd.DataFrame:
    """History of slot counts after a refresh: old and new rows, the larger count where both have a slot.

    A later read of the same slot saw at least the pings of an earlier one (files only arrive or
    rotate away), so the larger distinct count is the better one.

    Parameters
    ----------
    old, new : DataFrame
        ``market_id``, ``slot_s``, ``subscribers`` (``old`` may be None).
    keep_from_s : int, optional
        Rows of slots before it are dropped (the history kept is bounded).

    Returns
    -------
    DataFrame
        The merged history, sorted by (market_id, slot_s).

    Examples
    --------
    >>> a = pd.DataFrame({"market_id": [1, 1], "slot_s": [0, 900], "subscribers": [5, 7]})
    >>> b = pd.DataFrame({"market_id": [1, 1], "slot_s": [900, 1800], "subscribers": [6, 2]})
    >>> merge_history(a, b, keep_from_s=900).values.tolist()
    [[1, 900, 7], [1, 1800, 2]]
    """
    cols = ["market_id", "slot_s", "subscribers"]
    both = new[cols] if old is None or old.empty else pd.concat([old[cols], new[cols]], ignore_index=True)
    out = both.groupby(["market_id", "slot_s"], as_index=False)["subscribers"].max()
    if keep_from_s is not None:
        out = out[out["slot_s"].to_numpy() >= keep_from_s]
    return out.astype({"market_id": np.int64, "slot_s": np.int64, "subscribers": np.int64}).reset_index(drop=True)
