"""A small synthetic market city refreshed into a crowd store, for the crowd, view and bot tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.crowding import market_city, market_pings, msisdns
from miniapp.crowd import refresh_crowd

KEY = b"k" * 32
TZ = "Asia/Shanghai"
NOW = int(pd.Timestamp("2020-03-04 09:00", tz=TZ).timestamp())  # a Wednesday morning


def make_city(tmp: Path, n_markets: int = 4, now_s: int = NOW, days: int = 57, factor=(0.3, 1.0, 2.5, 1.0),
              flat: bool = False):
    """Markets feed and a pings folder (``part-00000.parquet``) in ``tmp``; returns (city, paths, truth)."""
    city = market_city(n_markets, peak_visitors=30, seed=3)
    pings, truth = market_pings(city, now_s - days * 86400, now_s, n_subscribers=5000,
                                slot_factor={now_s - 900: np.asarray(factor[:n_markets])}, flat=flat, seed=4)
    (tmp / "pings").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"msisdn": msisdns(pings["uid"].to_numpy()), "ts": pings["ts_s"].to_numpy(),
                  "cell_id": pings["cell_id"].to_numpy()}).to_parquet(tmp / "pings" / "part-00000.parquet", index=False)
    city.markets.to_csv(tmp / "markets.csv", index=False)
    return city, {"markets": tmp / "markets.csv", "pings": tmp / "pings", "crowd": tmp / "crowd"}, truth


def refresh(paths: dict, now_s: int = NOW, **kw) -> dict:
    """One refresh of the kit's city (a backfill of its whole history unless told otherwise)."""
    kw.setdefault("backfill_days", 57)
    return refresh_crowd(paths["crowd"], markets_path=paths["markets"], pings_path=paths["pings"], pseudonym_key=KEY,
                         now_s=now_s, tz=TZ, residents_per_subscriber=60, **kw)
