"""Synthetic markets and their pings, with the true number of people at each market in each slot.

Visitors per market and 15-minute slot are Poisson around a weekly profile (closed before 06:00 and
after 20:00, a morning peak near 08:30, a smaller one near 17:00, weekends 30 % busier, a day-to-day
wobble of about 15 %), optionally multiplied for chosen slots (a crowd, a quiet hour). Each visitor
pings at least once in the slot with probability ``ping_prob`` (the carrier does not see everyone) at
one of the market's cells; ``background_per_slot`` other pings land on other cells, so every slot
has data. The truth is the distinct visitors present, seen or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.crowding.counts import SLOT_S

NAMES_ZH = ("菜篮子市场", "府前农贸市场", "南门菜场", "江滨市场", "城西农贸市场", "新桥菜场", "黎明市场", "双屿菜场")
NAMES_EN = ("Vegetable Basket Market", "Fuqian Farmers' Market", "South Gate Market", "Riverside Market",
            "West Town Farmers' Market", "Xinqiao Market", "Liming Market", "Shuangyu Market")


@dataclass(frozen=True)
class MarketCity:
    """Markets (:data:`~forecast.crowding.markets.MARKETS` plus ``cell_ids`` text), their cells, the other
    cells, and each market's peak visitors per 15 minutes (``peak``, subscribers)."""

    markets: pd.DataFrame
    market_cells: pd.DataFrame
    other_cells: np.ndarray
    peak: np.ndarray


def market_city(n_markets: int, *, cells_per_market: int = 2, city_code: int = 330300, lon: float = 120.65,
                lat: float = 28.0, first_cell_id: int = 9_000_000, n_other_cells: int = 200, peak_visitors: float = 60.0,
                cell_ids=None, other_cells=None, seed: int = 0) -> MarketCity:
    """A city's markets with their cells.

    Parameters
    ----------
    n_markets : int
        Markets to make.
    cells_per_market : int
        Cells serving each market.
    city_code, lon, lat : int, float, float
        The city and its centre; markets lie within about 5 km.
    first_cell_id : int
        Cell ids are numbered from it (unless ``cell_ids`` are given).
    n_other_cells : int
        Cells at no market (unless ``other_cells`` are given).
    peak_visitors : float
        Mean subscribers per 15 minutes at the busiest market's peak; others between a third and all of it.
    cell_ids, other_cells : array-like, optional
        Existing cells to use (``n_markets * cells_per_market`` of them, and the rest).
    seed : int
        Random seed.

    Returns
    -------
    MarketCity

    Examples
    --------
    >>> c = market_city(3)
    >>> c.markets["market_id"].tolist(), len(c.market_cells), c.markets["cell_ids"].iloc[0]
    ([1, 2, 3], 6, '9000000;9000001')
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_markets + 1, dtype=np.int64)
    cells = (np.arange(first_cell_id, first_cell_id + n_markets * cells_per_market, dtype=np.int64)
             if cell_ids is None else np.asarray(cell_ids, dtype=np.int64)[: n_markets * cells_per_market])
    mc = pd.DataFrame({"market_id": np.repeat(ids, cells_per_market), "cell_id": cells})
    others = (np.arange(cells.max() + 1, cells.max() + 1 + n_other_cells, dtype=np.int64) if other_cells is None
              else np.setdiff1d(np.asarray(other_cells, dtype=np.int64), cells))
    k = (ids - 1) % len(NAMES_ZH)
    suffix = np.where(ids > len(NAMES_ZH), ((ids - 1) // len(NAMES_ZH) + 1).astype(str), "")
    markets = pd.DataFrame({
        "market_id": ids,
        "name": [NAMES_ZH[i] + s for i, s in zip(k, suffix)],
        "name_en": [NAMES_EN[i] + (f" {s}" if s else "") for i, s in zip(k, suffix)],
        "city_code": np.int64(city_code),
        "address": [f"{i}号" for i in ids],
        "lon": lon + rng.uniform(-0.05, 0.05, n_markets),
        "lat": lat + rng.uniform(-0.04, 0.04, n_markets),
        "cell_ids": mc.groupby("market_id")["cell_id"].agg(lambda s: ";".join(map(str, s))).to_numpy(),
    })
    peak = peak_visitors * rng.uniform(1 / 3, 1.0, n_markets)
    return MarketCity(markets, mc, others, peak)


def _profile(local_hours: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Share of the peak expected at each local time (fractional hours)."""
    h = local_hours
    shape = np.exp(-((h - 8.5) / 1.6) ** 2) + 0.6 * np.exp(-((h - 17.0) / 1.5) ** 2) + 0.15
    shape = np.where((h >= 6) & (h < 20), shape, 0.0)
    return shape * np.where(weekend, 1.3, 1.0)


def market_pings(city: MarketCity, start_s: int, end_s: int, *, n_subscribers: int = 100_000, ping_prob: float = 0.85,
                 background_per_slot: int = 50, slot_factor: dict | None = None, tz: str = "Asia/Shanghai",
                 flat: bool = False, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pings at the markets (and some elsewhere) in ``[start_s, end_s)``, and the truth.

    Parameters
    ----------
    city : MarketCity
        From :func:`market_city`.
    start_s, end_s : int
        The time range (Unix seconds; slots are whole 15-minute slots inside it).
    n_subscribers : int
        Subscribers of the city (``uid`` 0 .. n-1); visitors are drawn from them.
    ping_prob : float
        Chance that a visitor pings at least once while there.
    background_per_slot : int
        Pings per slot at other cells.
    slot_factor : dict, optional
        ``slot_start_s -> factor per market`` (array) multiplying the expected visitors of that slot.
    tz : str
        IANA zone of the weekly profile.
    flat : bool
        Every hour like the peak, every day alike (tests that must not depend on the hour they run at).
    seed : int
        Random seed.

    Returns
    -------
    pings : DataFrame
        ``uid``, ``ts_s``, ``cell_id`` (int64), in time order.
    truth : DataFrame
        ``market_id``, ``slot_s``, ``present`` (distinct visitors, seen or not), every slot and market.

    Examples
    --------
    >>> c = market_city(2, peak_visitors=40)
    >>> t0 = int(pd.Timestamp("2020-03-04 08:00", tz="Asia/Shanghai").timestamp())
    >>> pings, truth = market_pings(c, t0, t0 + 3600, seed=1)
    >>> len(truth), bool(truth["present"].sum() > 0), bool(pings["ts_s"].between(t0, t0 + 3599).all())
    (8, True, True)
    """
    rng = np.random.default_rng(seed)
    slots = np.arange(-(-start_s // SLOT_S) * SLOT_S, end_s - SLOT_S + 1, SLOT_S, dtype=np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(slots + SLOT_S // 2, unit="s", utc=True)).tz_convert(tz)
    hours = (local.hour + local.minute / 60).to_numpy(dtype=float)
    day = np.asarray(local.normalize().asi8 // 10**9, dtype=np.int64)
    weekend = np.asarray(local.day_of_week >= 5)
    n_m = len(city.markets)
    days, day_idx = np.unique(day, return_inverse=True)
    wobble = rng.lognormal(0.0, 0.15, size=(n_m, len(days)))
    shape = np.ones(len(slots)) if flat else _profile(hours, weekend)
    lam = city.peak[:, None] * shape[None, :] * wobble[:, day_idx]
    for s, f in (slot_factor or {}).items():
        lam[:, slots == s] *= np.asarray(f, dtype=float)[:, None]
    present_n = rng.poisson(lam)  # markets x slots
    m_idx, s_idx = np.nonzero(present_n)
    reps = present_n[m_idx, s_idx]
    v_market = np.repeat(m_idx, reps)
    v_slot = np.repeat(s_idx, reps)
    v_uid = rng.integers(0, n_subscribers, len(v_market), dtype=np.int64)
    ids = city.markets["market_id"].to_numpy(dtype=np.int64)
    visits = pd.DataFrame({"m": v_market, "s": v_slot, "uid": v_uid}).drop_duplicates()
    present = visits.groupby(["m", "s"]).size()
    truth_grid = np.zeros((n_m, len(slots)), dtype=np.int64)
    truth_grid[present.index.get_level_values(0), present.index.get_level_values(1)] = present.to_numpy()
    truth = pd.DataFrame({"market_id": np.repeat(ids, len(slots)), "slot_s": np.tile(slots, n_m),
                          "present": truth_grid.ravel()})
    seen = visits[rng.random(len(visits)) < ping_prob]
    k = 1 + rng.poisson(0.5, len(seen))
    pm, ps, pu = (np.repeat(seen[c].to_numpy(), k) for c in ("m", "s", "uid"))
    cells_by_market = city.market_cells.groupby("market_id")["cell_id"].apply(np.asarray)
    per = np.array([len(cells_by_market[i]) for i in ids])
    flat = np.concatenate([cells_by_market[i] for i in ids])
    offset = np.concatenate([[0], np.cumsum(per)[:-1]])
    cell = flat[offset[pm] + rng.integers(0, 1 << 30, len(pm)) % per[pm]]
    ts = slots[ps] + rng.integers(0, SLOT_S, len(pm))
    nb = background_per_slot * len(slots)
    b_ts = np.repeat(slots, background_per_slot) + rng.integers(0, SLOT_S, nb)
    b_cell = city.other_cells[rng.integers(0, len(city.other_cells), nb)] if len(city.other_cells) else cell[:0]
    pings = pd.DataFrame({"uid": np.concatenate([pu, rng.integers(0, n_subscribers, nb, dtype=np.int64)]),
                          "ts_s": np.concatenate([ts, b_ts]).astype(np.int64),
                          "cell_id": np.concatenate([cell, b_cell]).astype(np.int64)})
    return pings.sort_values("ts_s", kind="stable").reset_index(drop=True), truth


def msisdns(uid: np.ndarray) -> np.ndarray:
    """Synthetic mobile numbers (``139`` and 8 digits) of ``uid`` < 10**8, for writing a raw pings feed.

    Parameters
    ----------
    uid : array-like of int

    Returns
    -------
    ndarray of str

    Examples
    --------
    >>> msisdns([0, 12]).tolist()
    ['13900000000', '13900000012']
    """
    return np.char.add("139", np.char.zfill(np.asarray(uid, dtype=np.int64).astype(str), 8))
