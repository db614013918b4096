"""Crowding at markets (Wenzhou's market crowd monitor): people now against the usual count.

Pure: frames and arrays in, frames out (docs/crowding.md).

- :mod:`~forecast.crowding.markets`: the markets feed (markets and their cells), validated, bad rows quarantined;
- :mod:`~forecast.crowding.counts`: distinct subscribers per market and 15-minute slot, and now;
- :mod:`~forecast.crowding.levels`: the usual count for the weekday and hour, and the three levels;
- :mod:`~forecast.crowding.synth`: a market ping generator whose true counts are known.
"""

from forecast.crowding.counts import SLOT_S, WINDOW_S, merge_history, now_counts, slot_counts
from forecast.crowding.levels import (GREEN_BELOW, LEVELS, RED_ABOVE, RULE_EN, RULE_ZH, assess, level_of_ratio,
                                      usual_counts)
from forecast.crowding.markets import MARKETS, read_markets, validate_markets
from forecast.crowding.synth import MarketCity, market_city, market_pings, msisdns

__all__ = ["GREEN_BELOW", "LEVELS", "MARKETS", "MarketCity", "RED_ABOVE", "RULE_EN", "RULE_ZH", "SLOT_S", "WINDOW_S",
           "assess", "level_of_ratio", "market_city", "market_pings", "merge_history", "msisdns", "now_counts", "read_markets",
           "slot_counts", "usual_counts", "validate_markets"]
