"""A same-trip question and its answer: was a confirmed case on my train or flight, in my carriage?

Pure: the snapshot store reads the stored trips of the day and hands them here; the page and the
API show the answer. Three outcomes, each with its own words (zh, en): a case on this train or
flight in the asker's carriage (or where either carriage is unknown: it may have been), a case only
in other carriages (named), no case found. Input that does not read raises
:class:`~forecast.trips.TripInputError` naming it: the check did not run, so there is no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as _date

from forecast.trips import (MAX_TRIP_NUMBER_CHARS, MODES, TripInputError, carriage_or_unknown, compact_number,
                            fold_text, normalise_carriage, stored_readings, trip_number_candidates)

# What to tell a person whose input could not be read (zh, en); the check did not run.
INPUT_ERRORS = {
    "date": ("请输入日期，例如 2020-01-20。", "Enter a date such as 2020-01-20."),
    "number": ("请输入车次或航班号，例如 G1234、D4053 或 CA1234。",
               "Enter a train or flight number such as G1234, D4053 or CA1234."),
    "car": ("请输入车厢号，例如 6 或 06车厢，或留空。", "Enter a carriage such as 6 or 06, or leave it empty."),
}
OUTCOMES = ("your_carriage", "other_carriage", "no_case")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class TripQuery:
    """A same-trip question in normal form: the day, every reading of the number, the carriage."""

    date: str
    readings: tuple[tuple[str, str], ...]
    compact: str
    car: str | None


def parse_trip_query(date, number, car=None) -> TripQuery:
    """Read a same-trip question as typed; the check runs only on a question that reads.

    Parameters
    ----------
    date : str
        ``YYYY-MM-DD`` (full-width digits too).
    number : str
        A train or flight number in any written form.
    car : str, optional
        The asker's carriage in any written form; empty or None when not given.

    Returns
    -------
    TripQuery

    Raises
    ------
    TripInputError
        Naming the input (``field``: ``date``, ``number`` or ``car``) that does not read.

    Examples
    --------
    >>> parse_trip_query("2020-01-20", "ｄ４０５３", "05车厢")
    TripQuery(date='2020-01-20', readings=(('train', 'D4053'),), compact='D4053', car='5')
    """
    day = fold_text(date)
    try:
        if not _ISO_DATE.fullmatch(day):
            raise ValueError(day)
        day = _date.fromisoformat(day).isoformat()
    except ValueError:
        raise TripInputError(f"not a date: {str(date)[:MAX_TRIP_NUMBER_CHARS]!r}", "date") from None
    readings = trip_number_candidates(number)
    if not readings:
        raise TripInputError(f"not a train or flight number: {str(number)[:MAX_TRIP_NUMBER_CHARS]!r}", "number")
    try:
        carriage = normalise_carriage(car)
    except TripInputError as exc:
        raise TripInputError(str(exc), "car") from None
    return TripQuery(day, tuple(readings), compact_number(number), carriage)


def _car_key(row: dict) -> tuple:
    car = row["car"]
    return (row["mode"], row["number"], car is not None, int(car) if car is not None and car.isdigit() else 0,
            str(car or ""))


def match_trips(rows: list[dict], query: TripQuery) -> dict:
    """Answer a same-trip question from the stored trips of its day, in one of three outcomes.

    Stored numbers and carriages are read here as the query is (older snapshots stored them as
    typed: ``06``, ``CCA1234``). A stored carriage that does not read is unknown.

    Parameters
    ----------
    rows : list of dict
        Stored trips of ``query.date``: ``date``, ``mode``, ``number``, ``car``, ``cases``.
    query : TripQuery
        From :func:`parse_trip_query`.

    Returns
    -------
    dict
        ``date``, ``mode`` and ``number`` (the likeliest reading), ``car`` (the asker's, or None),
        ``outcome``: ``your_carriage`` (a case on this train or flight in the asker's carriage, or
        where either carriage is unknown: then ``carriage_known`` is False, "may have been in your
        carriage"), ``other_carriage`` (only in other carriages, named in ``other_carriages``) or
        ``no_case``; ``trips``: rows in the asker's carriage or of unknown carriage;
        ``other_carriages``: rows in other carriages. Rows are ``date, mode, number, car, cases``
        in normal form, repeats of one trip summed.
    """
    wanted = set(query.readings)
    merged: dict[tuple, dict] = {}
    for r in rows:
        mode = str(r.get("mode") or "").strip().lower()
        readings = stored_readings(mode, str(r.get("number") if r.get("number") is not None else ""))
        hit = [x for x in readings if x in wanted]
        if not hit and mode not in MODES and readings[0][1] == query.compact:
            hit = [readings[0]]
        if not hit:
            continue
        car = carriage_or_unknown(r.get("car"))
        key = (hit[0][0], hit[0][1], car)
        row = merged.setdefault(key, {"date": query.date, "mode": hit[0][0], "number": hit[0][1], "car": car,
                                      "cases": 0})
        row["cases"] += int(r.get("cases") or 0)
    found = sorted(merged.values(), key=_car_key)
    same = [r for r in found if query.car is None or r["car"] is None or r["car"] == query.car]
    other = [r for r in found if r not in same]
    if same:
        outcome = "your_carriage"
    elif other:
        outcome = "other_carriage"
    else:
        outcome = "no_case"
    known = query.car is not None and any(r["car"] == query.car for r in same)
    mode, number = query.readings[0]
    return {"date": query.date, "mode": mode, "number": number, "car": query.car, "outcome": outcome,
            "carriage_known": known, "trips": same, "other_carriages": other}


def _trip_words(answer: dict) -> tuple[str, str]:
    shown = list(dict.fromkeys((r["mode"], r["number"]) for r in answer["trips"] + answer["other_carriages"]))
    shown = shown or [(answer["mode"], answer["number"])]
    zh = "、".join(("航班 " if m == "flight" else "车次 " if m == "train" else "") + n for m, n in shown)
    en = " / ".join(("flight " if m == "flight" else "train " if m == "train" else "") + n for m, n in shown)
    return zh, en


def answer_message(answer: dict) -> tuple[str, str]:
    """The answer in words, Chinese and English; each outcome says something different.

    Parameters
    ----------
    answer : dict
        From :func:`match_trips`.

    Returns
    -------
    (str, str)
        ``(zh, en)``.

    Examples
    --------
    >>> q = parse_trip_query("2020-01-20", "D4053", "05")
    >>> answer_message(match_trips([{"mode": "train", "number": "D4053", "car": "06", "cases": 1}], q))[1]
    'A confirmed case was on train D4053, in carriage 6, not yours (carriage 5).'
    """
    what_zh, what_en = _trip_words(answer)
    car = answer["car"]
    if answer["outcome"] == "your_carriage":
        if answer["carriage_known"]:
            return (f"有确诊病例乘坐过{what_zh}（{answer['date']}），就在您的第{car}车厢。",
                    f"A confirmed case travelled on {what_en} on {answer['date']}, in your carriage ({car}).")
        if car is None:
            why = ("您没有填写车厢", "you did not give your carriage")
        else:
            why = ("病例所在车厢不详", "the case's carriage is not known")
        return (f"有确诊病例乘坐过{what_zh}（{answer['date']}），可能与您在同一车厢（{why[0]}）。",
                f"A confirmed case travelled on {what_en} on {answer['date']} and may have shared "
                f"your carriage ({why[1]}).")
    if answer["outcome"] == "other_carriage":
        cars = sorted({r["car"] for r in answer["other_carriages"]}, key=lambda c: (len(c), c))
        return (f"有确诊病例乘坐过{what_zh}（{answer['date']}），在第{'、'.join(cars)}车厢，不是您的第{car}车厢。",
                f"A confirmed case was on {what_en}, in carriage {', '.join(cars)}, not yours (carriage {car}).")
    return (f"未发现确诊病例乘坐该车次/航班（{what_zh}，{answer['date']}）。",
            f"No confirmed case is known to have travelled on {what_en} on {answer['date']}.")
