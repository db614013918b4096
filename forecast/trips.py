"""Train and flight numbers and carriages in every written form, normalised one way (same-trip search).

The build (the ``case_trips`` feed), the snapshot store (stored and queried values) and the views all
use these functions, so a query and a stored trip compare in the same normal form:

- trains (12306): a letter prefix G, D, C, Z, T, K, Y, S or L and 1-4 digits, or 1-4 digits alone;
  a leading zero is not significant (``G0123`` = ``G123``): ``train``, ``G1234``;
- flights: the IATA airline designator and 1-4 digits without leading zeros (``CA0123`` = ``CA123``);
  the ICAO designators of the Chinese carriers become their IATA ones (``CCA1234`` = ``CA1234``);
- any case, spaces and hyphens (``ca 1234``, ``G-1234``), full-width characters (``ＧＧ１２３４``
  folds to ``GG1234``, a flight of airline GG; ``Ｇ１２３４`` to the train ``G1234``);
- carriages: ``6``, ``06``, ``6车``, ``06车厢``, ``第6车厢``, ``6号车厢``, ``car 6``, ``coach 6`` are all ``"6"``.

A written form can read two ways: ``G5123`` is the train G5123 and also flight 123 of China Express
(G5). :func:`trip_number_candidates` gives every reading; a separator settles it (``G5 123`` is the
flight, ``G 5123`` the train). :data:`TRIP_NUMBER_PATTERN` and :data:`CARRIAGE_PATTERN` describe the
written forms as JSON Schema patterns (the API's document); every text they match normalises.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd

TRAIN_PREFIXES = "GDCZTKYSL"
MAX_NUMBER_DIGITS = 4
MAX_CARRIAGE = 99
MAX_TRIP_NUMBER_CHARS = 20
MAX_CARRIAGE_CHARS = 10
MODES = ("train", "flight")

# IATA -> ICAO designators of the carriers of mainland China, Hong Kong, Macao and Taiwan.
AIRLINES_IATA_TO_ICAO = {
    "CA": "CCA", "MU": "CES", "CZ": "CSN", "HU": "CHH", "3U": "CSC", "MF": "CXA", "ZH": "CSZ", "FM": "CSH",
    "SC": "CDG", "9C": "CQH", "HO": "DKH", "KN": "CUA", "GS": "GCR", "JD": "CBJ", "8L": "LKE", "BK": "OKA",
    "EU": "UEA", "G5": "HXA", "PN": "CHB", "TV": "TBA", "NS": "HBH", "KY": "KNA", "QW": "QDA", "DR": "RLH",
    "DZ": "EPA", "A6": "OTT", "GJ": "CDC", "GX": "CBG", "UQ": "CUH", "JR": "JOY", "RY": "CJX", "FU": "FZA",
    "GT": "CGH", "OQ": "CQN", "Y8": "YZR", "CN": "GDC", "LT": "SNG", "GY": "CGZ", "9H": "CGN", "AQ": "JYH",
    "HX": "CRK", "CX": "CPA", "UO": "HKE", "NX": "AMU", "CI": "CAL", "BR": "EVA",
}
AIRLINES_ICAO_TO_IATA = {icao: iata for iata, icao in AIRLINES_IATA_TO_ICAO.items()}
# Designators of a letter and a digit whose letter also begins train numbers (G5123: train or flight?).
_AMBIGUOUS_IATA = frozenset(c for c in AIRLINES_IATA_TO_ICAO if c[0] in TRAIN_PREFIXES and c[1].isdigit())

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212_.·/]+")
_DIGITS = re.compile(r"[0-9]+")
_CARRIAGE_FORMS = (
    re.compile(r"(?:第)?0*(?P<n>[0-9]{1,3})(?:号)?(?:节车厢|车厢|节|车|厢)?"),
    re.compile(r"(?:car|coach|carriage|wagon)(?:no|#)?0*(?P<n>[0-9]{1,3})"),
)


class TripInputError(ValueError):
    """Raised for text that is not a train or flight number, not a carriage, or not a date.

    ``field`` names the input (``date``, ``number``, ``car``); :mod:`forecast.same_trip` has its words.
    """

    def __init__(self, message: str, field: str = "number") -> None:
        super().__init__(message)
        self.field = field




def _ci(word: str) -> str:
    """A regex matching ``word`` in any case, half- or full-width (for the JSON Schema patterns)."""
    return "".join(f"[{c.upper()}{c.lower()}{chr(ord(c.upper()) + 0xFEE0)}{chr(ord(c.lower()) + 0xFEE0)}]"
                   for c in word)


def _class(chars: str) -> str:
    return "[" + "".join(c + c.lower() + chr(ord(c) + 0xFEE0) + chr(ord(c.lower()) + 0xFEE0) for c in chars) + "]"


_P_LETTER = "[A-Za-zＡ-Ｚａ-ｚ]"
_P_DIGIT = "[0-9０-９]"
_P_SIG = "[0０]*[1-9１-９][0-9０-９]{0,%d}" % (MAX_NUMBER_DIGITS - 1)
_P_WS = "[ \u3000]*"
_P_SEP = "[ \u3000\\-－]*"
_P_SEP1 = "[ \u3000\\-－]+"
_NOT_TRAIN = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in TRAIN_PREFIXES)
TRIP_NUMBER_PATTERN = "^" + _P_WS + "(?:" + "|".join([
    _P_SIG,                                                    # 1461: a train of digits only
    _class(TRAIN_PREFIXES) + _P_SEP + _P_SIG,                  # G1234, G 01234, g-1234
    _P_LETTER + _P_LETTER + _P_SEP + _P_SIG,                   # CA1234, ca 0123
    _P_DIGIT + _P_LETTER + _P_SEP + _P_SIG,                    # 3U8633
    _class(_NOT_TRAIN) + _P_DIGIT + _P_SEP + _P_SIG,           # A6123
    "(?:" + "|".join(_ci(c) for c in sorted(_AMBIGUOUS_IATA)) + ")" + _P_SEP + _P_SIG,  # G51234
    _P_LETTER + _P_DIGIT + _P_SEP1 + _P_SIG,                   # G1 234: a separator says flight
    _P_LETTER + _P_LETTER + _P_LETTER + _P_SEP + _P_SIG,       # CCA1234
]) + ")" + _P_WS + "$"
"""The written forms of a train or flight number (a JSON Schema / ECMA-262 pattern, used with ``re.search``)."""

_P_CAR = "[0０]*[1-9１-９][0-9０-９]?"
CARRIAGE_PATTERN = "^" + _P_WS + "(?:" + "|".join([
    "(?:第" + _P_WS + ")?" + _P_CAR + _P_WS + "(?:号)?" + _P_WS + "(?:节车厢|车厢|节|车)?",
    "(?:" + "|".join(_ci(w) for w in ("car", "coach", "carriage")) + ")" + _P_WS + "(?:[#＃]" + _P_WS + ")?" + _P_CAR,
]) + ")?" + _P_WS + "$"
"""The written forms of a carriage, or nothing (a JSON Schema / ECMA-262 pattern, used with ``re.search``)."""


def fold_text(text) -> str:
    """Text folded for comparison: NFKC (full-width to half-width), upper case, trimmed.

    Parameters
    ----------
    text : str or None
        Any text; None and missing values fold to ``""``.

    Returns
    -------
    str

    Examples
    --------
    >>> fold_text(" ｃａ　１２３４ ")
    'CA 1234'
    """
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    return unicodedata.normalize("NFKC", str(text)).upper().strip()


def compact_number(text) -> str:
    """A number as older builds stored it, and as buses and ships are compared: folded, no separators.

    Parameters
    ----------
    text : str or None
        A number as typed or delivered.

    Returns
    -------
    str

    Examples
    --------
    >>> compact_number("ca-1234")
    'CA1234'
    """
    return _SEPARATORS.sub("", fold_text(text))


def _significant(digits: str) -> str | None:
    sig = digits.lstrip("0")
    return sig if sig and len(sig) <= MAX_NUMBER_DIGITS else None


def _readings(compact: str, split_at: int | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if not compact.isascii():
        return out
    if _DIGITS.fullmatch(compact) and split_at is None:
        sig = _significant(compact)
        if sig:
            out.append(("train", sig))
        return out
    head, tail = compact[:1], compact[1:]
    if head in TRAIN_PREFIXES and _DIGITS.fullmatch(tail) and split_at in (None, 1):
        sig = _significant(tail)
        if sig:
            out.append(("train", head + sig))
    code, tail = compact[:2], compact[2:]
    if (len(code) == 2 and code.isalnum() and not code.isdigit() and _DIGITS.fullmatch(tail)
            and split_at in (None, 2)):
        letter_digit = code[0].isalpha() and code[1].isdigit()
        if (not letter_digit or code[0] not in TRAIN_PREFIXES or code in _AMBIGUOUS_IATA or split_at == 2):
            sig = _significant(tail)
            if sig:
                out.append(("flight", code + sig))
    code, tail = compact[:3], compact[3:]
    if len(code) == 3 and code.isalpha() and _DIGITS.fullmatch(tail) and split_at in (None, 3):
        sig = _significant(tail)
        if sig:
            out.append(("flight", AIRLINES_ICAO_TO_IATA.get(code, code) + sig))
    return out


def trip_number_candidates(text, mode: str | None = None) -> list[tuple[str, str]]:
    """Every reading of a written train or flight number, in normal form; empty when there is none.

    Parameters
    ----------
    text : str
        The number as typed or delivered (``g 01234``, ``ＣＡ１２３４``, ``CCA-1234``).
    mode : str, optional
        ``train`` or ``flight`` when known (a stored trip): only readings of that mode.

    Returns
    -------
    list of (str, str)
        ``(mode, number)`` pairs, the likeliest first: ``[("train", "G5123"), ("flight", "G5123")]``
        for ``G5123``; one pair for most numbers.

    Examples
    --------
    >>> trip_number_candidates("G5123")
    [('train', 'G5123'), ('flight', 'G5123')]
    >>> trip_number_candidates("G5 123")
    [('flight', 'G5123')]
    >>> trip_number_candidates("mu 05101")
    [('flight', 'MU5101')]
    """
    folded = fold_text(text)
    parts = [p for p in _SEPARATORS.split(folded) if p]
    compact = "".join(parts)
    if not compact:
        return []
    # One separator between a prefix and the digits tells how the number is read; others are noise.
    split_at = len(parts[0]) if len(parts) == 2 and _DIGITS.fullmatch(parts[1]) and len(parts[0]) <= 3 else None
    readings = _readings(compact, split_at)
    if not readings and split_at is not None:
        readings = _readings(compact, None)
    if mode is not None:
        readings = [r for r in readings if r[0] == mode]
    return list(dict.fromkeys(readings))


def normalise_trip_number(text, mode: str | None = None) -> tuple[str, str]:
    """The normal form of a train or flight number.

    Parameters
    ----------
    text : str
        The number in any written form (see the module docstring).
    mode : str, optional
        ``train`` or ``flight`` when known.

    Returns
    -------
    (str, str)
        ``(mode, number)``: ``("train", "G1234")``, ``("flight", "CA1234")``; the likeliest reading
        when there are two (:func:`trip_number_candidates`).

    Raises
    ------
    TripInputError
        When the text is not a train or flight number.

    Examples
    --------
    >>> normalise_trip_number("ｇ０１２３４")
    ('train', 'G1234')
    >>> normalise_trip_number("CCA 0123")
    ('flight', 'CA123')
    """
    readings = trip_number_candidates(text, mode)
    if not readings:
        raise TripInputError(f"not a train or flight number: {str(text)[:MAX_TRIP_NUMBER_CHARS]!r}")
    return readings[0]


def normalise_carriage(text) -> str | None:
    """The normal form of a carriage: its number without leading zeros.

    Parameters
    ----------
    text : str or None
        ``6``, ``06``, ``6车``, ``06车厢``, ``第6车厢``, ``6号车厢``, ``car 6``, ``coach 6``, full-width too.

    Returns
    -------
    str or None
        ``"6"``; None when no carriage is given (empty or missing).

    Raises
    ------
    TripInputError
        When the text is given but is not a carriage (``abc``, ``0``, ``100``).

    Examples
    --------
    >>> [normalise_carriage(t) for t in ("06", "第６车厢", "Coach 6", "", None)]
    ['6', '6', '6', None, None]
    """
    folded = _SEPARATORS.sub("", fold_text(text).lower())
    if not folded:
        return None
    for form in _CARRIAGE_FORMS:
        m = form.fullmatch(folded)
        if m and m.group("n").isascii() and 1 <= int(m.group("n")) <= MAX_CARRIAGE:
            return str(int(m.group("n")))
    raise TripInputError(f"not a carriage: {str(text)[:MAX_CARRIAGE_CHARS]!r}")


def carriage_or_unknown(text) -> str | None:
    """:func:`normalise_carriage`, with None (not known) for text that is not a carriage.

    A stored carriage that cannot be read says nothing about where the case sat: it is treated as
    unknown (the case may have been in any carriage).

    Parameters
    ----------
    text : str or None

    Returns
    -------
    str or None
    """
    try:
        return normalise_carriage(text)
    except TripInputError:
        return None


@functools.lru_cache(maxsize=65536)
def stored_readings(mode: str, number: str) -> tuple[tuple[str, str], ...]:
    """A stored trip's readings: by its mode, else any reading (a mode given wrongly), else as typed.

    Parameters
    ----------
    mode : str
        The stored mode (``train``, ``flight``, ``bus``, ``ship``).
    number : str
        The stored number, as an older build kept it (``G01234``, ``CCA1234``) or normalised.

    Returns
    -------
    tuple of (str, str)
        ``(mode, number)`` readings, never empty: a bus, a ship or a number that does not read is
        itself, folded without separators (:func:`compact_number`).
    """
    mode = mode.strip().lower()
    if mode in MODES:
        readings = trip_number_candidates(number, mode) or trip_number_candidates(number)
        if readings:
            return tuple(readings[:1]) if readings[0][0] == mode else tuple(readings)
    return ((mode, compact_number(number)),)


def _stored_number(mode, number) -> str:
    return stored_readings(str(mode or ""), str(number if number is not None else ""))[0][1]


def normalise_trip_numbers(numbers: pd.Series, modes: pd.Series) -> pd.Series:
    """Stored numbers in normal form, row by row with their mode (the build's ``case_trips``).

    Parameters
    ----------
    numbers : pandas.Series
        Numbers as delivered.
    modes : pandas.Series
        Each row's mode (``train``, ``flight``, ``bus``, ``ship``).

    Returns
    -------
    pandas.Series
        The normal number of each train and flight; buses, ships and numbers that do not read as
        their mode are kept folded without separators (:func:`compact_number`), never dropped.
    """
    pairs = pd.DataFrame({"mode": modes.to_numpy(dtype=object), "number": numbers.to_numpy(dtype=object)},
                         index=numbers.index)
    keys = pairs.astype(str).agg("\x1f".join, axis=1) if len(pairs) else pd.Series([], dtype=object)
    first = ~keys.duplicated()
    mapping = {k: _stored_number(m, n) for k, m, n in zip(keys[first], pairs["mode"][first], pairs["number"][first])}
    return keys.map(mapping).astype(object)


def normalise_carriages(cars: pd.Series) -> pd.Series:
    """Stored carriages in normal form (the build's ``case_trips``).

    Parameters
    ----------
    cars : pandas.Series
        Carriages as delivered (``06``, ``6车``, empty).

    Returns
    -------
    pandas.Series
        ``"6"`` for a readable carriage, None when empty; text that is not a carriage is kept as
        delivered (trimmed), and read as unknown by the store (:func:`carriage_or_unknown`).
    """
    values = pd.Series(cars, dtype=object)
    seen: dict[str, str | None] = {}
    out = []
    for v in values.to_numpy(dtype=object):
        key = fold_text(v)
        if key not in seen:
            try:
                seen[key] = normalise_carriage(key)
            except TripInputError:
                seen[key] = str(v).strip()
        out.append(seen[key])
    return pd.Series(out, index=values.index, dtype=object)

