"""Issue 17, same trip: the truth table. Cases on trains, flights and carriages; queries in every
written form; three outcomes, distinct in words (zh, en) and in the API; invalid input is a clear
400, never "no case". Each row is checked through the store, the page and the API.

The snapshot's trips are stored as the old build stored them (numbers upper-cased without spaces,
carriages as typed: ``06``, ``CCA0123``), so the rows also show that published snapshots answer
right; the last tests build a snapshot from a ``case_trips`` feed and find its numbers normalised.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecast.trips import (CARRIAGE_PATTERN, TRIP_NUMBER_PATTERN, TripInputError, normalise_carriage,
                            normalise_trip_number)
from miniapp.snapshot import SnapshotStore, new_build_path, publish, write_snapshot
from tests.miniapp.snapshot_fixture import TEST_KEY, fixture_meta, snapshot_tables

DAY = "2020-01-20"
# As an old build stored them: upper-cased, no spaces, carriages as typed.
STORED = [
    (DAY, "train", "G1234", "06", 2),     # the user test: carriage "6" must find "06"
    (DAY, "train", "D4053", "06", 1),     # the user test: carriage 05 is another carriage
    (DAY, "train", "G0123", "第3车厢", 1),  # a leading zero; a carriage written in words
    (DAY, "train", "1461", "12车", 1),     # a train of digits only
    (DAY, "train", "K1", None, 1),        # carriage not known
    (DAY, "flight", "CA1234", None, 1),
    (DAY, "flight", "MU5101", None, 3),
    (DAY, "flight", "CCA0123", None, 1),  # ICAO, leading zero: CA123
    (DAY, "flight", "CSC8633", None, 1),  # ICAO of 3U
    (DAY, "flight", "G50123", None, 1),   # China Express G5 123 (its number reads like a train's)
]

YOURS, MAYBE, OTHER, NONE = "yours", "maybe", "other", "none"
OUTCOME = {YOURS: "your_carriage", MAYBE: "your_carriage", OTHER: "other_carriage", NONE: "no_case"}

# id, number as typed, carriage as typed, expected answer, (mode, number) found or checked, carriage named
ROWS = [
    # carriages in every written form (G1234, case in carriage 06)
    ("car-6-finds-stored-06", "G1234", "6", YOURS, ("train", "G1234"), None),
    ("car-06", "G1234", "06", YOURS, ("train", "G1234"), None),
    ("car-6che", "G1234", "6车", YOURS, ("train", "G1234"), None),
    ("car-06chexiang", "G1234", "06车厢", YOURS, ("train", "G1234"), None),
    ("car-di6chexiang", "G1234", "第6车厢", YOURS, ("train", "G1234"), None),
    ("car-6hao-chexiang", "G1234", "6号车厢", YOURS, ("train", "G1234"), None),
    ("car-english-car-6", "G1234", "car 6", YOURS, ("train", "G1234"), None),
    ("car-english-coach-6", "G1234", "Coach 6", YOURS, ("train", "G1234"), None),
    ("car-fullwidth", "G1234", "第６车厢", YOURS, ("train", "G1234"), None),
    ("car-other-7", "G1234", "7", OTHER, ("train", "G1234"), "6"),
    ("car-not-given", "G1234", "", MAYBE, ("train", "G1234"), None),
    # the user test: carriage 05 on D4053, the case in 06
    ("d4053-car-05-other-carriage", "D4053", "05", OTHER, ("train", "D4053"), "6"),
    ("d4053-car-6", "D4053", "6", YOURS, ("train", "D4053"), None),
    # train numbers in every written form
    ("train-lower", "g1234", "6", YOURS, ("train", "G1234"), None),
    ("train-spaces", " g 1234 ", "6", YOURS, ("train", "G1234"), None),
    ("train-fullwidth", "Ｇ１２３４", "6", YOURS, ("train", "G1234"), None),
    ("train-leading-zero", "G01234", "6", YOURS, ("train", "G1234"), None),
    ("train-hyphen", "G-1234", "6", YOURS, ("train", "G1234"), None),
    ("train-leading-zero-stored", "G123", "3", YOURS, ("train", "G123"), None),
    ("train-leading-zero-both", "g 0123", "03车厢", YOURS, ("train", "G123"), None),
    ("train-stored-words-other", "G123", "4", OTHER, ("train", "G123"), "3"),
    ("train-digits-only", "1461", "12", YOURS, ("train", "1461"), None),
    ("train-digits-leading-zero", "01461", "第12车厢", YOURS, ("train", "1461"), None),
    ("train-carriage-unknown", "K1", "5", MAYBE, ("train", "K1"), None),
    ("train-carriage-unknown-zero", "k 0001", "", MAYBE, ("train", "K1"), None),
    # flights: IATA and ICAO, leading zeros, spaces, hyphens, full width; carriage unknown on the case
    ("flight-iata", "CA1234", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-space", "CA 1234", "12", MAYBE, ("flight", "CA1234"), None),
    ("flight-icao", "CCA1234", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-icao-lower-space", "cca 1234", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-leading-zero", "CA01234", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-hyphen", "CA-1234", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-fullwidth", "ＣＡ１２３４", "", MAYBE, ("flight", "CA1234"), None),
    ("flight-mu", "MU5101", "", MAYBE, ("flight", "MU5101"), None),
    ("flight-ces", "CES5101", "", MAYBE, ("flight", "MU5101"), None),
    ("flight-mu-leading-zero", "mu 05101", "", MAYBE, ("flight", "MU5101"), None),
    ("flight-stored-icao-zero", "CA123", "", MAYBE, ("flight", "CA123"), None),
    ("flight-stored-icao-zero-asked-zero", "CA0123", "", MAYBE, ("flight", "CA123"), None),
    ("flight-3u", "3U8633", "", MAYBE, ("flight", "3U8633"), None),
    ("flight-3u-lower", "3u 8633", "", MAYBE, ("flight", "3U8633"), None),
    ("flight-g5-written-like-a-train", "G5123", "", MAYBE, ("flight", "G5123"), None),
    ("flight-g5-space", "G5 123", "", MAYBE, ("flight", "G5123"), None),
    ("flight-g5-icao", "HXA123", "", MAYBE, ("flight", "G5123"), None),
    # checked, and truly nothing found: the only rows that may say "no case"
    ("none-other-train", "G9999", "6", NONE, ("train", "G9999"), None),
    ("none-train-g-5123", "G 5123", "", NONE, ("train", "G5123"), None),  # the separator says train
    ("none-unknown-airline", "ZZ9999", "", NONE, ("flight", "ZZ9999"), None),
    ("none-fullwidth-gg-is-flight-gg1234", "ＧＧ１２３４", "", NONE, ("flight", "GG1234"), None),
]
ROW_IDS = [r[0] for r in ROWS]
# id, date, number, carriage, the parameter that does not read
INVALID = [
    ("date-month-13", "2020-13-45", "G1234", "", "date"),
    ("date-words", "yesterday", "G1234", "", "date"),
    ("date-missing", "", "G1234", "", "date"),
    ("number-five-digits", DAY, "G12345", "", "number"),
    ("number-letters-only", DAY, "ABC", "", "number"),
    ("number-zero", DAY, "G0", "", "number"),
    ("number-missing", DAY, "", "", "number"),
    ("car-words", DAY, "G1234", "abc", "car"),
    ("car-zero", DAY, "G1234", "0", "car"),
]
INVALID_IDS = [r[0] for r in INVALID]
WORDS = {  # outcome -> a phrase of its zh and en message, found in no other outcome's
    YOURS: ("就在您的", "in your carriage ("),
    MAYBE: ("可能与您在同一车厢", "may have shared your carriage"),
    OTHER: ("不是您的", "not yours"),
    NONE: ("未发现确诊病例", "No confirmed case is known"),
}


def trips_table(rows=STORED) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "mode", "number", "car", "cases"])


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("truth") / "snapshots"
    d.mkdir()
    tables = snapshot_tables()
    tables["trips_of_cases"] = trips_table()
    tmp = new_build_path(d)
    write_snapshot(tables, tmp, fixture_meta())
    publish(tmp, d, keep=2)
    return d


@pytest.fixture(scope="module")
def store(snapshot_dir):
    (path,) = [p for p in snapshot_dir.glob("*.db")]
    return SnapshotStore(path)


@pytest.fixture(scope="module")
def truth_client(snapshot_dir, tmp_path_factory):
    from miniapp.app import create_app
    from miniapp.proofs import generate_key

    tmp = tmp_path_factory.mktemp("truth-app")
    (tmp / "keys").mkdir()
    generate_key(tmp / "keys")
    return create_app({
        "TESTING": True, "SECRET_KEY": "truth-secret-" + "x" * 32, "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(snapshot_dir), "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(tmp / "keys"), "PUBLIC_URL": "https://riskcard.test",
    }).test_client()


def _check_answer(answer: dict, expect: str, found: tuple[str, str], other_car: str | None) -> None:
    assert answer["outcome"] == OUTCOME[expect], answer
    rows = answer["trips"] + answer["other_carriages"]
    if expect == NONE:
        assert rows == [] and (answer["mode"], answer["number"]) == found
        return
    assert {(r["mode"], r["number"]) for r in rows} == {found}, rows  # no false "no case": it was found
    assert answer["carriage_known"] is (expect == YOURS)
    if expect == OTHER:
        assert answer["trips"] == [] and [r["car"] for r in answer["other_carriages"]] == [other_car]
    else:
        assert answer["trips"]


@pytest.mark.parametrize(("row_id", "number", "car", "expect", "found", "other_car"), ROWS, ids=ROW_IDS)
def test_store(store, row_id, number, car, expect, found, other_car):
    _check_answer(store.same_trip_answer(DAY, number, car or None), expect, found, other_car)


@pytest.mark.parametrize(("row_id", "number", "car", "expect", "found", "other_car"), ROWS, ids=ROW_IDS)
def test_page(truth_client, row_id, number, car, expect, found, other_car):
    for lang, words in (("zh", WORDS[expect][0]), ("en", WORDS[expect][1])):
        r = truth_client.get("/same-trip", query_string={"date": DAY, "number": number, "car": car, "lang": lang})
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and 'id="error"' not in html
        assert f'data-outcome="{OUTCOME[expect]}"' in html and words in html, html
        others = [w[0 if lang == "zh" else 1] for k, w in WORDS.items() if k != expect]
        assert not any(w in html for w in others), "one outcome's words only"
        assert found[1] in html
        if other_car:
            assert (f"在第{other_car}车厢" if lang == "zh" else f"in carriage {other_car}, not yours") in html


@pytest.mark.parametrize(("row_id", "number", "car", "expect", "found", "other_car"), ROWS, ids=ROW_IDS)
def test_api(truth_client, row_id, number, car, expect, found, other_car):
    params = {"date": DAY, "number": number, **({"car": car} if car else {})}
    r = truth_client.get("/api/v1/same-trip", query_string=params)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    _check_answer(body, expect, found, other_car)
    assert WORDS[expect][1] in body["message"] and WORDS[expect][0] in body["message_zh"]


@pytest.mark.parametrize(("row_id", "day", "number", "car", "field"), INVALID, ids=INVALID_IDS)
def test_invalid_input_is_an_error_never_no_case(truth_client, store, row_id, day, number, car, field):
    with pytest.raises(TripInputError) as exc:
        store.same_trip_answer(day, number, car or None)
    assert exc.value.field == field
    page = truth_client.get("/same-trip", query_string={"date": day, "number": number, "car": car})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and 'id="error"' in html and 'id="answer"' not in html
    assert "未发现" not in html and '<form method="get" action="/same-trip">' in html
    assert f'value="{number}"' in html  # the form again, as typed
    api = truth_client.get("/api/v1/same-trip", query_string={"date": day, "number": number, "car": car})
    error = api.get_json()["error"]
    assert api.status_code == 400 and error["status"] == 400
    assert error["message"].startswith(field) and field in error["message_zh"], error


def test_the_three_outcomes_read_differently(store):
    """In both languages each outcome has its own words, and the carriage is named."""
    from forecast.same_trip import answer_message

    answers = {k: store.same_trip_answer(DAY, n, c) for k, n, c in
               [(YOURS, "D4053", "6"), (MAYBE, "D4053", None), (OTHER, "D4053", "05"), (NONE, "D4054", "5")]}
    messages = {k: answer_message(a) for k, a in answers.items()}
    assert len({m[0] for m in messages.values()}) == 4 and len({m[1] for m in messages.values()}) == 4
    assert messages[OTHER] == ("有确诊病例乘坐过车次 D4053（2020-01-20），在第6车厢，不是您的第5车厢。",
                               "A confirmed case was on train D4053, in carriage 6, not yours (carriage 5).")


def test_the_old_list_keeps_its_shape(store):
    """same_trip() (the list tests and callers rely on): the rows that may have been in your carriage."""
    assert store.same_trip(DAY, "G1234", "6") == [{"date": DAY, "mode": "train", "number": "G1234", "car": "6",
                                                   "cases": 2}]
    assert store.same_trip(DAY, "D4053", "5") == [] and store.same_trip("2020-13-45", "G1234") == []


# ---- the API's document and the server agree: every written form the document allows reads --------


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(TRIP_NUMBER_PATTERN))
def test_every_number_the_document_allows_reads(text):
    mode, number = normalise_trip_number(text)
    assert mode in ("train", "flight") and re.fullmatch(r"[0-9A-Z]{0,3}[1-9][0-9]{0,3}", number)


@settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(CARRIAGE_PATTERN))
def test_every_carriage_the_document_allows_reads(text):
    car = normalise_carriage(text)
    assert car is None or 1 <= int(car) <= 99


def test_the_api_document_uses_the_shared_patterns(truth_client):
    doc = truth_client.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/same-trip"]["get"]["parameters"]}
    assert params["number"]["pattern"] == TRIP_NUMBER_PATTERN and params["car"]["pattern"] == CARRIAGE_PATTERN
    outcome = doc["paths"]["/api/v1/same-trip"]["get"]["responses"]["200"]["content"]["application/json"]
    assert outcome["schema"]["properties"]["outcome"]["enum"] == ["your_carriage", "other_carriage", "no_case"]


# ---- a build from feeds stores numbers and carriages normalised ---------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from forecast.synth import NationConfig, generate_nation_to_dir
    from miniapp.pipeline import BuildParams, run_build
    from tests.miniapp.pipeline.stubs import stub_flows, stub_grades

    d = tmp_path_factory.mktemp("feeds-build")
    feeds = d / "feeds"
    generate_nation_to_dir(NationConfig(n_cities=2, n_subscribers=60, n_days=3, as_of="2020-02-01"), TEST_KEY,
                           feeds, progress=False)
    cases = pd.read_parquet(feeds / "cases.parquet")["case_id"].tolist()
    assert len(cases) >= 3
    (feeds / "case_trips.parquet").unlink()
    trips = pd.DataFrame([  # one trip written many ways, as reporting offices write them
        (cases[0], DAY, "train", "g 01234", "06车厢"),
        (cases[1], DAY, "Train", "Ｇ１２３４", "6"),
        (cases[2], DAY, "train", "G-1234", "第7车厢"),
        (cases[0], DAY, "flight", "CCA 0123", ""),
        (cases[1], DAY, "flight", "ca123", None),
        (cases[2], DAY, "bus", "k 12", None),
    ], columns=["case_id", "date", "mode", "number", "car"])
    trips.to_csv(feeds / "case_trips.csv", index=False)
    run_build(feeds, "2020-02-01", d / "out", pseudonym_key=TEST_KEY, steps={"flows": stub_flows, "grades": stub_grades},
              params=replace(BuildParams(), n_members=20), progress=False, log=lambda _m: None)
    (path,) = (d / "out" / "snapshots").glob("*.db")
    return path


def test_a_build_from_feeds_stores_numbers_normalised(built):
    with sqlite3.connect(f"file:{built}?mode=ro", uri=True) as con:
        rows = sorted(con.execute("SELECT date, mode, number, car, cases FROM trips_of_cases").fetchall(),
                      key=lambda r: (r[1], r[2], r[3] or ""))
    assert rows == [(DAY, "bus", "K12", None, 1), (DAY, "flight", "CA123", None, 2),
                    (DAY, "train", "G1234", "6", 2), (DAY, "train", "G1234", "7", 1)]


def test_a_build_from_feeds_answers_every_form(built):
    store = SnapshotStore(built)
    assert store.same_trip_answer(DAY, "G1234", "06")["trips"] == [
        {"date": DAY, "mode": "train", "number": "G1234", "car": "6", "cases": 2}]
    assert store.same_trip_answer(DAY, "ＣＣＡ１２３", None)["outcome"] == "your_carriage"
    assert store.same_trip_answer(DAY, "G1234", "8")["outcome"] == "other_carriage"


def test_per_trip_case_counts_are_shown_as_published_and_the_privacy_page_says_so(truth_client):
    """A trip with one case reads "1 例" (the authority publishes each case trip), and the privacy page,
    which says counts below the threshold are hidden, names this exception instead of being wrong."""
    page = truth_client.get(f"/same-trip?date={DAY}&number=D4053&car=6&lang=zh").get_data(as_text=True)
    answer = page[page.index('id="answer"'):]
    assert re.search(r"\b1 例", answer), answer
    privacy = truth_client.get("/privacy?lang=zh").get_data(as_text=True)
    assert "同行程查询" in privacy and "按原样显示" in privacy
    english = truth_client.get("/privacy?lang=en").get_data(as_text=True)
    assert "same-trip check" in english and "as published" in english
