"""The search split by case gives exactly the one-index search (forecast/contacts/batches.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from forecast.contacts import find_companions_by_case
from tests.forecast.contacts.fixtures import one_index



@pytest.mark.parametrize("n_batches, n_groups", [(1, 1), (2, 1), (3, 2), (50, 1)])
def test_split_by_case_equalsone_index(stays, cases, n_batches, n_groups):  # noqa: F811
    want = one_index(stays, cases, min_possible_minutes=40)
    got = find_companions_by_case(stays, cases, n_batches=n_batches, n_groups=n_groups, min_possible_minutes=40)
    assert len(want) > 500 and set(want["level"]) == {"companion", "possible"}
    pd.testing.assert_frame_equal(got, want)
    pd.testing.assert_frame_equal(got.attrs["case_report"], want.attrs["case_report"])


def test_batches_through_a_pool_map(stays, cases):  # noqa: F811
    want = find_companions_by_case(stays, cases, n_batches=1)
    with ThreadPoolExecutor(2) as pool:
        got = find_companions_by_case(stays, cases, n_batches=4, map_batches=pool.map)
    pd.testing.assert_frame_equal(got, want)


def test_no_cases_with_stays(stays):  # noqa: F811
    nobody = pd.DataFrame({"case_id": ["x"], "uid": [12345], "confirmed_date": pd.to_datetime(["2020-01-14"])})
    out = find_companions_by_case(stays, nobody, n_batches=3)
    assert len(out) == 0 and out.attrs["case_report"]["status"].tolist() == ["no_stays"]
