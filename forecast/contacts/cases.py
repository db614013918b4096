"""Case batches for the companion search: validation, windows and the batch search (docs/contacts.md).

:func:`check_cases` says for every case row whether and over which window it is searched;
:func:`find_companions` runs the whole batch through a :class:`forecast.contacts.StayIndex` at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.contacts.arrays import strings_by_code
from forecast.contacts.index import StayIndex
from forecast.schema import COMPANIONS, DEFAULT_TZ

STATUS_OK = "ok"
STATUS_NO_STAYS = "no_stays"
STATUS_NO_STAYS_IN_WINDOW = "no_stays_in_window"
STATUS_DUPLICATE = "duplicate_case_id"
STATUS_BAD_CASE = "bad_case"
STATUS_MESSAGES = {
    STATUS_OK: ("已检索", "searched"),
    STATUS_NO_STAYS: ("该病例无任何位置记录，无法检索伴随者", "no pings or stays for this case; no companions can be found"),
    STATUS_NO_STAYS_IN_WINDOW: ("该病例在检索时段内无位置记录", "the case has no stays inside its window"),
    STATUS_DUPLICATE: ("病例编号重复，已忽略此行", "case_id repeated; this row was ignored (the first one is used)"),
    STATUS_BAD_CASE: ("病例缺少确诊日期或用户标识", "case has no confirmed_date or uid"),
}


def check_cases(
    index: StayIndex,
    cases: pd.DataFrame,
    *,
    window_days: int = 15,
    as_of=None,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Validate a batch of cases and work out each one's search window.

    The window of a case confirmed on local day D is ``[D - window_days, D + 1)`` in local time
    (the 15 days before confirmation and the day of confirmation), cut at ``as_of`` and at the end of
    the data; a cut is reported in ``window_clipped``.

    Parameters
    ----------
    index : StayIndex
        The index of the stays searched; its ``span_s`` bounds the windows, its subscribers say which
        cases have stays.
    cases : DataFrame
        CASES (``case_id, uid, confirmed_date`` are used; missing ones raise ``ValueError``). Not modified.
    window_days : int
        Days before the confirmation day searched (the confirmation day itself is included).
    as_of : datetime-like, optional
        Time of the search; windows end there at the latest (naive values are local time in ``tz``).
    tz : str
        IANA time zone of ``confirmed_date`` calendar days (tz-aware dates are converted to it).

    Returns
    -------
    DataFrame
        One row per input row: ``case_id, uid, window_start_s, window_end_s, window_clipped,
        n_case_stays, status, message_zh, message_en``. Rows with status ``duplicate_case_id`` or
        ``bad_case`` are not searched.

    Examples
    --------
    >>> stays = pd.DataFrame({"uid": [1], "start_s": [1_580_000_000], "end_s": [1_580_007_200],
    ...                       "cell_id": [5]})
    >>> from forecast.contacts.index import StayIndex
    >>> idx = StayIndex.build(stays)
    >>> cases = pd.DataFrame({"case_id": ["a", "a", "b"], "uid": [1, 1, 9],
    ...     "confirmed_date": pd.to_datetime(["2020-01-27", "2020-01-27", "2020-01-27"])})
    >>> check_cases(idx, cases)["status"].tolist()
    ['ok', 'duplicate_case_id', 'no_stays']
    """
    for col in ("case_id", "uid", "confirmed_date"):
        if col not in cases.columns:
            raise ValueError(f"cases lack column {col!r}")
    case_id = cases["case_id"].astype("string").reset_index(drop=True)
    uid = pd.to_numeric(cases["uid"], errors="coerce").astype("Int64").reset_index(drop=True)
    day = pd.to_datetime(cases["confirmed_date"], errors="coerce").reset_index(drop=True)
    if getattr(day.dt, "tz", None) is not None:
        day = day.dt.tz_convert(tz).dt.tz_localize(None)
    day = day.dt.normalize()
    local = pd.DatetimeIndex(day).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    w_end = pd.Series((local + pd.Timedelta(days=1)).as_unit("s").asi8, dtype="int64")
    w_start = pd.Series((local - pd.Timedelta(days=int(window_days))).as_unit("s").asi8, dtype="int64")
    bad = case_id.isna() | uid.isna() | day.isna()
    dup = case_id.duplicated(keep="first") & ~bad

    limit_end = index.span_s[1]
    if as_of is not None:
        stamp = pd.Timestamp(as_of)
        stamp = stamp.tz_localize(tz) if stamp.tzinfo is None else stamp
        limit_end = min(limit_end, int(stamp.timestamp()))
    clipped = (w_end > limit_end) | (w_start < index.span_s[0])
    w_end_c = np.minimum(w_end, limit_end)
    w_start_c = np.maximum(w_start, index.span_s[0])

    code = index.uid_codes(uid.fillna(0).to_numpy(np.int64))
    cnt = np.zeros(len(code), dtype=np.int64)
    good = (code >= 0) & ~bad.to_numpy() & ~dup.to_numpy()
    if good.any():
        rel = np.stack([w_start_c, w_end_c], axis=1) - index.t0_s
        q, *_ = index.case_stays(np.where(good, code, -1), rel)
        cnt = np.bincount(q, minlength=len(code)).astype(np.int64)

    status = np.full(len(code), STATUS_OK, dtype=object)
    status[cnt == 0] = STATUS_NO_STAYS_IN_WINDOW
    status[code < 0] = STATUS_NO_STAYS
    status[dup.to_numpy()] = STATUS_DUPLICATE
    status[bad.to_numpy()] = STATUS_BAD_CASE
    msgs = pd.Series(status).map(STATUS_MESSAGES)
    return pd.DataFrame(
        {
            "case_id": case_id,
            "uid": uid,
            "window_start_s": pd.Series(np.where(bad, 0, w_start_c), dtype="Int64").where(~bad),
            "window_end_s": pd.Series(np.where(bad, 0, w_end_c), dtype="Int64").where(~bad),
            "window_clipped": (clipped & ~bad).to_numpy(),
            "n_case_stays": cnt,
            "status": pd.array(status, dtype="string"),
            "message_zh": pd.array(msgs.str[0], dtype="string"),
            "message_en": pd.array(msgs.str[1], dtype="string"),
        }
    )


def find_companions(
    index: StayIndex,
    cases: pd.DataFrame,
    *,
    window_days: int = 15,
    min_shared_minutes: float = 60,
    min_possible_minutes: float | None = None,
    as_of=None,
    tz: str = DEFAULT_TZ,
) -> pd.DataFrame:
    """Companions of every case in ``cases`` (one vectorised pass for the whole batch).

    Parameters
    ----------
    index : StayIndex
    cases : DataFrame
        CASES schema (``case_id, confirmed_date, uid`` are used). Not modified.
    window_days : int
        Days before the confirmation day searched (the confirmation day itself is included).
    min_shared_minutes : float
        Least total shared time for a companion (the rule).
    min_possible_minutes : float, optional
        Also return *possible companions*: pairs with at least this much (and less than
        ``min_shared_minutes``) estimated shared time, ``level="possible"``. Sparse pings make a
        pair's shared time uncertain by about +-25 min, so true companions near the rule's
        threshold can be estimated below it (docs/contacts.md, "Search threshold").
    as_of : datetime-like, optional
        Time of the search; windows are cut there (naive values are local time in ``tz``).
    tz : str
        Time zone of ``confirmed_date`` calendar days.

    Returns
    -------
    DataFrame
        COMPANIONS columns plus ``places`` (list of cell_id, most shared minutes first),
        ``top_cell`` and ``level`` (``"companion"``, or ``"possible"`` below the rule).
        ``result.attrs["case_report"]`` holds :func:`check_cases` for the batch (with ``n_companions``
        and ``n_possible``; cases with no stays, duplicates dropped, windows clipped).

    Examples
    --------
    >>> t = int(pd.Timestamp("2020-01-20 10:00", tz="Asia/Shanghai").timestamp())
    >>> stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [t, t, t + 3000],
    ...                       "end_s": [t + 7200, t + 5400, t + 9000], "cell_id": [5, 5, 5]})
    >>> from forecast.contacts.index import StayIndex
    >>> idx = StayIndex.build(stays, pad_minutes=0)
    >>> cases = pd.DataFrame({"case_id": ["c1"], "uid": [1],
    ...                       "confirmed_date": pd.to_datetime(["2020-01-25"])})
    >>> out = find_companions(idx, cases)
    >>> out[["case_id", "uid", "shared_minutes"]].to_dict("records")
    [{'case_id': 'c1', 'uid': 2, 'shared_minutes': 90.0}, {'case_id': 'c1', 'uid': 3, 'shared_minutes': 70.0}]
    >>> out.attrs["case_report"]["window_clipped"].tolist()
    [True]
    >>> find_companions(idx, cases, min_shared_minutes=80, min_possible_minutes=40)["level"].tolist()
    ['companion', 'possible']
    """
    report = check_cases(index, cases, window_days=window_days, as_of=as_of, tz=tz)
    run = report[report["status"] == STATUS_OK]
    win = np.stack(
        [run["window_start_s"].to_numpy(np.int64), run["window_end_s"].to_numpy(np.int64)], axis=1
    ).reshape(-1, 2)
    least = min_shared_minutes if min_possible_minutes is None else min(min_shared_minutes, min_possible_minutes)
    found = index.companions(run["uid"].to_numpy(np.int64), win, min_shared_minutes=least)
    case_ids = run["case_id"].to_numpy(object)
    out = pd.DataFrame({"case_id": strings_by_code(case_ids, found["query"].to_numpy())})
    for col in list(COMPANIONS)[1:] + ["places", "top_cell"]:
        out[col] = found[col].to_numpy() if col != "places" else found[col].array
    out = out.astype({k: v for k, v in COMPANIONS.items()})
    rule = out["shared_minutes"].to_numpy(np.float64) >= min_shared_minutes
    out["level"] = strings_by_code(["possible", "companion"], rule.astype(np.int64))
    n_comp = out[rule].groupby("case_id").size()
    n_possible = out[~rule].groupby("case_id").size()
    n = report["case_id"].map(n_comp).fillna(0).to_numpy(np.int64)
    report["n_companions"] = np.where(report["status"].to_numpy(object) == STATUS_OK, n, 0)
    n = report["case_id"].map(n_possible).fillna(0).to_numpy(np.int64)
    report["n_possible"] = np.where(report["status"].to_numpy(object) == STATUS_OK, n, 0)  # not on a duplicate
    out.attrs["case_report"] = report
    return out
