"""The crowd store: market levels refreshed every 15 minutes, apart from the daily build (docs/crowding.md).

- :mod:`~miniapp.crowd.store`: the store file (its own small SQLite), written to a temporary file,
  fsynced and swapped in with ``os.replace``; the reader that follows the swap (:class:`CrowdReader`);
- :mod:`~miniapp.crowd.refresh`: one refresh: feeds in, counts, levels, a new store out;
- :mod:`~miniapp.crowd.demo`: the demo's markets, their synthetic pings and one refresh;
- :mod:`~miniapp.crowd.show`: a market as pages, API and bot show it (age checked, small counts as text).
"""

from miniapp.crowd.refresh import RefreshError, refresh_crowd
from miniapp.crowd.show import LEVEL_TEXT, find_markets, market_view
from miniapp.crowd.store import STORE_NAME, CrowdReader, CrowdStore, read_failure, write_store

__all__ = ["LEVEL_TEXT", "STORE_NAME", "CrowdReader", "CrowdStore", "RefreshError", "find_markets", "market_view",
           "read_failure", "refresh_crowd", "write_store"]
