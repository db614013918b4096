"""The build steps' small decisions (miniapp/pipeline/steps.py)."""

from __future__ import annotations

import pandas as pd

from forecast.epidemic import DEFAULT_CONTACTS_PER_CASE
from miniapp.pipeline.context import CompanionResult
from miniapp.pipeline.steps import close_contacts_basis

NO_ROWS = pd.DataFrame()


def _result(statuses: list[str], pair_case_ids: list[str]) -> CompanionResult:
    report = pd.DataFrame({"case_id": [f"c{i}" for i in range(len(statuses))], "status": statuses})
    pairs = pd.DataFrame({"case_id": pair_case_ids, "uid": range(len(pair_case_ids))})
    return CompanionResult(NO_ROWS, companions=pairs, case_report=report)


def test_cases_searched_without_companions_count_as_zero():
    # 4 searched cases, one with 6 companions: 1.5 per case, not the 6 of the cases that had some
    b = close_contacts_basis(_result(["ok"] * 4 + ["no_stays_in_window"], ["c0"] * 6))
    assert b == {"contacts_per_case": 1.5, "source": "measured", "cases_searched": 4, "companion_pairs": 6}


def test_a_search_that_found_no_one_is_a_measured_zero_not_the_default():
    b = close_contacts_basis(_result(["ok", "ok"], []))
    assert b["source"] == "measured" and b["contacts_per_case"] == 0.0 and b["cases_searched"] == 2


def test_no_case_searched_falls_back_to_the_default_and_says_so():
    for companions in (None, CompanionResult(NO_ROWS), _result(["no_stays", "duplicate_case_id"], [])):
        b = close_contacts_basis(companions)
        assert b == {"contacts_per_case": DEFAULT_CONTACTS_PER_CASE, "source": "default", "cases_searched": 0,
                     "companion_pairs": 0}
