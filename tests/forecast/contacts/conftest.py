"""Fixtures of the split searches' tests: random stays with ping counts and their cases."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.forecast.contacts.fixtures import CONFIRMED, make_cases, random_stays, with_pings


@pytest.fixture(scope="module")
def stays():
    return with_pings(random_stays(n_subs=250, n_cells=30, seed=7))


@pytest.fixture(scope="module")
def cases(stays):
    uids = stays["uid"].drop_duplicates().to_numpy()[:40]
    c = make_cases(uids)
    extra = pd.DataFrame({"case_id": ["case0", "nostays"], "uid": [uids[0], 12345],
                          "confirmed_date": [CONFIRMED, CONFIRMED], "city_code": 330300, "community_id": 1})
    return pd.concat([c, extra], ignore_index=True)  # a duplicate case id and a case with no stays
