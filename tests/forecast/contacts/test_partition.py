"""The search split by place gives exactly the one-index search (forecast/contacts/partition.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.contacts import (combine_pair_totals, find_companions_by_place,
                               group_pair_totals, place_group, plan_cases, search_stays, split_by_place)
from tests.forecast.contacts.fixtures import make_cases, one_index



@pytest.mark.parametrize("n_groups", [1, 3, 8])
def test_split_by_place_equalsone_index(stays, cases, n_groups):
    want = one_index(stays, cases, min_possible_minutes=40)
    got = find_companions_by_place(stays, cases, n_groups=n_groups, min_possible_minutes=40)
    assert len(want) > 500  # the fixture really has companions and possible companions
    assert set(want["level"]) == {"companion", "possible"}
    pd.testing.assert_frame_equal(got, want)
    rep_want = want.attrs["case_report"]
    pd.testing.assert_frame_equal(got.attrs["case_report"], rep_want)
    assert rep_want["status"].tolist()[-2:] == ["duplicate_case_id", "no_stays"]
    # the duplicate of case0 reports no companions of its own: case0's first row has them
    assert rep_want["n_possible"].iloc[0] > 0 and rep_want["n_companions"].iloc[0] > 0
    assert (rep_want[["n_companions", "n_possible"]].iloc[-2:] == 0).all().all()


def test_heavy_batches_searched_in_pieces_give_the_same_sums(stays, cases):
    adjusted, span, _ = search_stays(stays)
    plan = plan_cases(adjusted, cases, span)
    whole = group_pair_totals(adjusted, plan, span_s=span)
    pieces = group_pair_totals(adjusted, plan, span_s=span, batch_queries=8, max_candidates=50)
    assert len(whole) > 1000
    pd.testing.assert_frame_equal(pieces, whole)


def test_last_ping_stays_and_as_of_cut(stays, cases):
    plain = stays.drop(columns=["n_pings"])
    as_of = pd.Timestamp("2020-01-12 08:00")
    want = one_index(plain, cases, as_of=as_of)
    got = find_companions_by_place(plain, cases, n_groups=5, as_of=as_of)
    pd.testing.assert_frame_equal(got, want)
    assert got.attrs["case_report"]["window_clipped"].all()


def test_groups_cover_every_stay_once_and_keep_a_cell_together(stays):
    adjusted, span, report = search_stays(stays)
    groups = list(split_by_place(adjusted, 6))
    assert sum(len(g) for g in groups) == len(adjusted) == report["stays_in"]
    cells = [set(g["cell_id"]) for g in groups]
    assert all(not (a & b) for i, a in enumerate(cells) for b in cells[i + 1:])
    assert span == (int(stays["start_s"].min()), int(stays["end_s"].max()))
    # the hash spreads neighbouring ids (cell ids are often consecutive)
    assert len(set(place_group(np.arange(1000, 1064), 8).tolist())) == 8


def test_partial_sums_add_up_across_groups():
    t = int(pd.Timestamp("2020-01-10 10:00", tz="Asia/Shanghai").timestamp())
    # 40 min together at cell 1 and 30 min at cell 2: neither alone reaches 60, together 70
    stays = pd.DataFrame({"uid": [1, 2, 1, 2], "start_s": [t, t, t + 7200, t + 7200],
                          "end_s": [t + 2400, t + 2400, t + 9000, t + 9000], "cell_id": [1, 1, 2, 2]})
    adjusted, span, _ = search_stays(stays, pad_minutes=0)
    cases = make_cases([1])
    plan = plan_cases(adjusted, cases, span)
    groups = list(split_by_place(adjusted, 2))
    assert all(len(g) == 2 for g in groups)  # cells 1 and 2 fall in different groups
    parts = [group_pair_totals(g, plan, span_s=span) for g in groups]
    assert sorted(p["seconds"].iloc[0] for p in parts) == [1800, 2400]
    out = combine_pair_totals(parts, plan)
    assert out[["uid", "shared_minutes", "n_places", "top_cell"]].values.tolist() == [[2, 70.0, 2, 1]]
    assert combine_pair_totals(parts[:1], plan).empty


def test_bad_rows_are_counted_and_nothing_crashes():
    stays = pd.DataFrame({"uid": [1, 2, 3], "start_s": [100, 500, 0], "end_s": [50, 9000, 9000],
                          "cell_id": [1, 1, 1], "n_pings": [3, 3, 1]})
    adjusted, _, report = search_stays(stays, min_pings=2)
    assert report == {"stays_in": 3, "stays_bad_interval": 1, "stays_too_few_pings": 1}
    assert adjusted["uid"].tolist() == [2]
    empty = find_companions_by_place(stays.iloc[:0], make_cases([1]))
    assert empty.empty and empty.attrs["case_report"]["status"].tolist() == ["no_stays"]
    with pytest.raises(ValueError, match="n_groups"):
        place_group([1], 0)
    with pytest.raises(ValueError, match="lack columns"):
        search_stays(stays.drop(columns=["cell_id"]))


def test_pseudonyms_of_opposite_signs_in_any_row_order():
    """Real pseudonyms span the whole int64 range; a difference of two overflows (the order check must not)."""
    from forecast.contacts.arrays import is_sorted_pair

    big = np.array([-(2**62) - 12345, 2**62 + 6789], dtype=np.int64)
    assert not is_sorted_pair(big[::-1], np.zeros(2, np.int64))
    assert is_sorted_pair(big, np.zeros(2, np.int64))
    t = int(pd.Timestamp("2020-01-10 10:00", tz="Asia/Shanghai").timestamp())
    stays = pd.DataFrame({"uid": big[::-1], "start_s": [t, t], "end_s": [t + 7200, t + 7200], "cell_id": [1, 1]})
    adjusted, span, _ = search_stays(stays, pad_minutes=0)
    plan = plan_cases(adjusted.iloc[::-1], make_cases(big), span)  # the rows out of (uid, start) order
    assert plan["status"].tolist() == ["ok", "ok"]
    out = find_companions_by_place(stays, make_cases(big[:1]), pad_minutes=0)
    assert out[["uid", "shared_minutes"]].values.tolist() == [[big[1], 120.0]]
