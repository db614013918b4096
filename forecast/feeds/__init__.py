"""Feeds in: read and validate the carrier's and the authority's files, quarantine bad rows.

Every feed (pings, cells, communities, cities, cases, case_trips, city_cases; docs/data.md) is read
by :func:`read_feed` in chunks, checked row by row against its rules, and split into good rows and
quarantined ones with a reason code; phone numbers become keyed pseudonyms on the way in.

- :mod:`~forecast.feeds.read`: the entry points and the run report (:class:`FeedReport`);
- :mod:`~forecast.feeds.files`: finding a feed's files (one file or a folder of daily parts), formats;
- :mod:`~forecast.feeds.parse`: vectorised parsers of times, numbers and text;
- :mod:`~forecast.feeds.rules`: each feed's columns and row rules.
"""

from forecast.feeds.files import FeedError, feed_parts
from forecast.feeds.read import (FEED_KINDS, FeedCounts, FeedReport, find_feed, iter_ping_batches, read_feed,
                                 read_feeds, write_quarantine)

__all__ = ["FEED_KINDS", "FeedCounts", "FeedError", "FeedReport", "feed_parts", "find_feed", "iter_ping_batches",
           "read_feed", "read_feeds", "write_quarantine"]
