"""The usual count for a weekday and hour, and the level of each market now.

The rule (stated on every market page, docs/crowding.md):

- *people now*: distinct subscribers seen at the market's cells in the last 15 minutes;
- *usual*: for each of the previous 8 same weekdays, the mean of that hour's four 15-minute counts;
  the usual count is their median (at least 4 such days with data, else **not enough history**);
- *ratio* = people now / max(usual, small count) (the floor keeps a nearly empty hour from turning
  two shoppers into "crowded");
- **green** below 0.8 (quieter than usual), **orange** 0.8 to 1.2 (as busy as usual), **red** above
  1.2 (busier than usual);
- **data too old** instead of a colour when the newest ping is older than the staleness limit: a level
  is never shown when it could not be checked.

Both counts are scaled to residents by the residents-per-subscriber factor when there is one; the ratio
does not change. A count below the small-count threshold is never shown as a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.contacts import MIN_COUNT
from forecast.crowding.counts import WINDOW_S

GREEN_BELOW = 0.8
RED_ABOVE = 1.2
LEVELS = ("green", "orange", "red", "no_history", "stale")
WEEKS = 8
MIN_WEEKS = 4
RULE_ZH = ("与过去8个同一星期几、同一小时的通常人数（中位数）相比：不到0.8倍为绿色（比平常空），"
           "0.8至1.2倍为橙色（与平常相当），超过1.2倍为红色（比平常挤）。历史不足4周显示“历史数据不足”，"
           "数据过旧显示“数据过旧”，不显示颜色。")
RULE_EN = ("Compared with the usual count (the median) at this hour on the previous 8 same weekdays: below 0.8 "
           "times is green (quieter than usual), 0.8 to 1.2 times orange (as usual), above 1.2 times red "
           "(busier than usual). With fewer than 4 weeks of history it says 'not enough history', and with "
           "old data 'data too old', never a colour.")


def level_of_ratio(ratio: np.ndarray) -> np.ndarray:
    """``green`` / ``orange`` / ``red`` for each ratio of people now to the usual count.

    Parameters
    ----------
    ratio : array-like of float
        People now divided by the (floored) usual count.

    Returns
    -------
    ndarray of str (object)

    Examples
    --------
    >>> level_of_ratio([0.5, 0.8, 1.2, 1.21]).tolist()
    ['green', 'orange', 'orange', 'red']
    """
    r = np.asarray(ratio, dtype=float)
    return np.where(r < GREEN_BELOW, "green", np.where(r > RED_ABOVE, "red", "orange")).astype(object)


def _hour_starts(now_s: int, tz: str, weeks: int) -> np.ndarray:
    """Start (Unix s) of the local hour of the window ending at ``now_s``, on each of the previous ``weeks`` weeks."""
    mid = pd.Timestamp(int(now_s) - WINDOW_S // 2, unit="s", tz="UTC").tz_convert(tz)
    hour = mid.floor("h", ambiguous=False, nonexistent="shift_forward")
    return np.array([int((hour - pd.DateOffset(weeks=k)).timestamp()) for k in range(1, weeks + 1)], dtype=np.int64)


def usual_counts(history: pd.DataFrame, market_ids, now_s: int, *, tz: str = "Asia/Shanghai", weeks: int = WEEKS
                 ) -> pd.DataFrame:
    """The usual count of each market for the weekday and hour of ``now_s``.

    Parameters
    ----------
    history : DataFrame
        ``market_id``, ``slot_s``, ``subscribers`` (observed 15-minute slots only).
    market_ids : array-like
        The markets to report.
    now_s : int
        The end of the "now" window (Unix seconds).
    tz : str
        IANA zone of the local weekday and hour.
    weeks : int
        Same weekdays looked back.

    Returns
    -------
    DataFrame
        Indexed by ``market_id``: ``usual`` (float, NaN without history) and ``weeks`` (days with data).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-03-04 10:15", tz="Asia/Shanghai").timestamp())
    >>> h = pd.DataFrame({"market_id": 1, "slot_s": [t - 7 * 86400 * k - 900 for k in (1, 2, 3, 4)],
    ...                   "subscribers": [10, 20, 30, 40]})
    >>> usual_counts(h, [1, 2], t).to_dict("index")
    {1: {'usual': 25.0, 'weeks': 4}, 2: {'usual': nan, 'weeks': 0}}
    """
    ids = pd.Index(np.unique(np.asarray(market_ids, dtype=np.int64)), name="market_id")
    starts = _hour_starts(now_s, tz, weeks)
    slot = history["slot_s"].to_numpy(dtype=np.int64)
    week = np.full(len(slot), -1, dtype=np.int64)
    for k, s in enumerate(starts):  # `weeks` (8) comparisons of whole columns
        week[(slot >= s) & (slot < s + 3600)] = k
    h = pd.DataFrame({"market_id": history["market_id"].to_numpy(), "week": week,
                      "subscribers": history["subscribers"].to_numpy(dtype=float)})[week >= 0]
    per_day = h.groupby(["market_id", "week"])["subscribers"].mean()  # the hour's mean of its observed slots
    g = per_day.groupby(level="market_id")
    out = pd.DataFrame({"usual": g.median(), "weeks": g.size()}).reindex(ids)
    out["weeks"] = out["weeks"].fillna(0).astype(np.int64)
    return out


def assess(now: pd.Series, usual: pd.DataFrame, *, now_s: int, newest_ping_s: int | None, stale_after_s: int = 1800,
           min_weeks: int = MIN_WEEKS, small_count: int = MIN_COUNT, residents_per_subscriber: float = 1.0) -> pd.DataFrame:
    """Each market's level, with the counts that may be shown.

    Parameters
    ----------
    now : Series
        Distinct subscribers now per market (:func:`~forecast.crowding.counts.now_counts`).
    usual : DataFrame
        :func:`usual_counts` of the same markets.
    now_s : int
        When the levels are for (Unix seconds).
    newest_ping_s : int or None
        The newest ping read; None (no ping at all) or older than ``stale_after_s`` makes every level ``stale``.
    stale_after_s : int
        Oldest newest-ping still trusted.
    min_weeks : int
        Fewest same weekdays with data for a usual count (else ``no_history``).
    small_count : int
        Counts of subscribers below it are not shown (``people_now`` / ``usual_people`` are None).
    residents_per_subscriber : float
        Scales subscribers to residents in the shown counts (1 when there is no factor).

    Returns
    -------
    DataFrame
        Indexed by ``market_id``: ``level`` (one of :data:`LEVELS`), ``ratio`` (float or NaN),
        ``weeks``, ``people_now`` and ``usual_people`` (rounded residents, None when suppressed or unknown).

    Examples
    --------
    >>> now = pd.Series([30, 3, 50], index=pd.Index([1, 2, 3], name="market_id"))
    >>> usual = pd.DataFrame({"usual": [40.0, 20.0, float("nan")], "weeks": [8, 5, 1]}, index=now.index)
    >>> a = assess(now, usual, now_s=1000, newest_ping_s=990)
    >>> a["level"].tolist(), a["people_now"].tolist()
    (['green', 'green', 'no_history'], [30, None, 50])
    >>> assess(now, usual, now_s=9000, newest_ping_s=990)["level"].unique().tolist()
    ['stale']
    """
    ids = now.index
    u = usual.reindex(ids)
    subs = now.to_numpy(dtype=float)
    usual_v = u["usual"].to_numpy(dtype=float)
    weeks = u["weeks"].fillna(0).to_numpy(dtype=np.int64)
    known = (weeks >= min_weeks) & np.isfinite(usual_v)
    ratio = np.where(known, subs / np.maximum(np.nan_to_num(usual_v), float(small_count)), np.nan)
    level = np.where(known, level_of_ratio(np.nan_to_num(ratio)), "no_history").astype(object)
    if newest_ping_s is None or now_s - int(newest_ping_s) > stale_after_s:
        level[:] = "stale"
        ratio[:] = np.nan
    factor = float(residents_per_subscriber or 1.0)
    people = np.where(subs >= small_count, np.round(subs * factor), np.nan)
    usual_people = np.where(known & (np.nan_to_num(usual_v) >= small_count), np.round(np.nan_to_num(usual_v) * factor),
                            np.nan)
    return pd.DataFrame({
        "level": level, "ratio": ratio, "weeks": weeks,
        "people_now": pd.array(people, dtype="Int64").astype(object),
        "usual_people": pd.array(usual_people, dtype="Int64").astype(object),
    }, index=ids).replace({pd.NA: None})
