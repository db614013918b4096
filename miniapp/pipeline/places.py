"""The build step of the place feeds: the authority's case places and the clinics, into the snapshot.

Both feeds are optional: a folder without them builds a snapshot whose pages say the places were not
published (never "no place nearby"). Bad rows are quarantined like every other feed's (counted in the
run report, written beside the others); good rows are kept (docs/places.md).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.feeds import FeedReport, find_feed, read_feed

PLACE_FEEDS = ("case_places", "clinics")


def read_place_feeds(feed_dir: str | Path, tz: str, cities: pd.DataFrame | None) -> tuple[dict, dict, FeedReport]:
    """Read the case-places and clinics feeds of ``feed_dir`` (each checked against ``cities``).

    Parameters
    ----------
    feed_dir : path-like
        The feed folder.
    tz : str
        Zone of local dates.
    cities : DataFrame or None
        The canonical cities table; rows naming another city are quarantined (``unknown_city``).

    Returns
    -------
    tuple
        Snapshot tables by name (only the feeds present), quarantined rows by feed, and the report.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "clinics.csv").write_text("clinic_id,name,city_code,lon,lat,kind,hours\\n"
    ...     "c1,协和医院,420100,114.27,30.58,fever_clinic,24h\\nc2,x,420100,114.27,30.58,clinic,\\n")
    >>> tables, quarantine, report = read_place_feeds(d, "Asia/Shanghai", None)
    >>> list(tables), report["clinics"].rows_ok, quarantine["clinics"]["reason"].tolist()
    (['clinics'], 1, ['bad_value'])
    """
    tables, quarantine, report = {}, {}, FeedReport()
    for kind in PLACE_FEEDS:
        path = find_feed(feed_dir, kind)
        if path is None:
            continue
        table, quarantine[kind], r = read_feed(path, kind, tz=tz, cities=cities)
        for col in ("first_date", "last_date"):
            if col in table:
                table[col] = table[col].dt.strftime("%Y-%m-%d")
        tables[kind] = table
        report = report.merge(r)
    return tables, quarantine, report
