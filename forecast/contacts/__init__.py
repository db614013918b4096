"""Companion search (伴随者): who shared a place with a confirmed case, and for how long (docs/contacts.md).

- :mod:`~forecast.contacts.index`: :class:`StayIndex`, the spatio-temporal index of stays;
- :mod:`~forecast.contacts.arrays`: the array helpers the index and the partitioned search share;
- :mod:`~forecast.contacts.cases`: case checks and windows (:func:`check_cases`), the batch search
  (:func:`find_companions`);
- :mod:`~forecast.contacts.stays`: the stays the search runs on, per feed part and joined;
- :mod:`~forecast.contacts.partition`: the same search split by place group (what the build runs);
- :mod:`~forecast.contacts.batches`: the same search split by case, batches side by side;
- :mod:`~forecast.contacts.impute`: routine cells on silent days;
- :mod:`~forecast.contacts.exposure`: exposure tags and their small-count-suppressed aggregates;
- :mod:`~forecast.contacts.accuracy`: recall and precision against a truth table.
"""

from forecast.contacts.accuracy import companion_accuracy, true_companions, visible_true_stays
from forecast.contacts.batches import find_companions_by_case
from forecast.contacts.cases import (STATUS_BAD_CASE, STATUS_DUPLICATE, STATUS_MESSAGES, STATUS_NO_STAYS,
                                     STATUS_NO_STAYS_IN_WINDOW, STATUS_OK, check_cases, find_companions)
from forecast.contacts.exposure import EXPOSURE, MIN_COUNT, community_exposure, companion_heatmap, exposure_tags
from forecast.contacts.impute import cut_silent_days, impute_silent_days, routine_cells
from forecast.contacts.index import StayIndex
from forecast.contacts.partition import (case_cell_ranges, combine_pair_totals, find_companions_by_place,
                                         group_pair_totals, iter_group_pair_totals, near_cases, place_group,
                                         plan_cases, search_stays, split_by_place)
from forecast.contacts.stays import CONTACT_STAY_PARAMS, contact_stays, join_contact_stays, part_contact_stays

__all__ = [
    "CONTACT_STAY_PARAMS", "EXPOSURE", "MIN_COUNT", "STATUS_BAD_CASE", "STATUS_DUPLICATE", "STATUS_MESSAGES",
    "STATUS_NO_STAYS", "STATUS_NO_STAYS_IN_WINDOW", "STATUS_OK", "StayIndex", "case_cell_ranges", "check_cases",
    "combine_pair_totals", "contact_stays", "community_exposure", "companion_accuracy", "companion_heatmap", "cut_silent_days",
    "exposure_tags", "find_companions", "find_companions_by_case", "find_companions_by_place", "group_pair_totals",
    "impute_silent_days", "iter_group_pair_totals", "join_contact_stays", "near_cases", "part_contact_stays",
    "place_group", "plan_cases", "routine_cells", "search_stays", "split_by_place", "true_companions",
    "visible_true_stays",
]
