"""Exposure tags (forecast/contacts/exposure.py): the sort-and-reduce equals a pandas groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.contacts import EXPOSURE, exposure_tags


def _groupby_reference(comp: pd.DataFrame) -> pd.DataFrame:
    g = comp.groupby("uid", sort=True)
    return pd.DataFrame({"first_s": g["first_s"].min(), "last_s": g["last_s"].max(),
                         "minutes": g["shared_minutes"].sum(), "n_cases": g["case_id"].nunique()}).reset_index()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tags_equal_the_groupby_reference(seed):
    rng = np.random.default_rng(seed)
    n = 5_000
    first = rng.integers(1_579_000_000, 1_580_000_000, n)
    comp = pd.DataFrame({"case_id": pd.array(rng.choice([f"c{i}" for i in range(40)], n), dtype="string"),
                         "uid": rng.integers(-2**62, 2**62, 300)[rng.integers(0, 300, n)],
                         "shared_minutes": rng.integers(60, 600, n) / 1.0,
                         "first_s": first, "last_s": first + rng.integers(3_600, 90_000, n)})
    cases = pd.DataFrame({"uid": comp["uid"].iloc[:5].to_numpy()})
    got = exposure_tags(comp, cases)
    want = _groupby_reference(comp)
    assert list(got.columns) == list(EXPOSURE) and len(got) == len(want) == comp["uid"].nunique()
    for col in ("uid", "first_s", "last_s", "n_cases"):
        assert got[col].tolist() == want[col].tolist(), col
    np.testing.assert_allclose(got["minutes"], want["minutes"], rtol=1e-12)
    assert got["is_case"].sum() == cases["uid"].nunique()
    assert (got["n_cases"] > 1).any()  # shared companions of several cases are counted once per case


def test_no_companions():
    empty = pd.DataFrame({"case_id": pd.array([], dtype="string"), "uid": np.zeros(0, np.int64),
                          "shared_minutes": np.zeros(0), "first_s": np.zeros(0, np.int64), "last_s": np.zeros(0, np.int64)})
    out = exposure_tags(empty)
    assert len(out) == 0 and list(out.columns) == list(EXPOSURE)
