"""Community grades: score (forecast infections per 100k per day), five levels, reasons, stars (docs/methods.md).

- :mod:`~forecast.grades.model`: the score, its intervals, the five grades and their reasons;
- :mod:`~forecast.grades.features`: per-community features (homes from night stays, exposure, imports);
- :mod:`~forecast.grades.evaluate`: the grades' evaluation on synthetic panels (AUC, calibration).
"""

from forecast.grades.evaluate import PanelSpec, build_panels, default_specs, evaluate, fit_model, nation_panel
from forecast.grades.features import FEATURES, city_growth_from_cases, community_features, home_communities
from forecast.grades.model import (DEFAULT_MODEL, SOURCES, THRESHOLDS, GradeModel, cases_only_score, china_rule_grade,
                                   coverage, grade_communities, grade_features, grade_of, predict, reasons_json,
                                   score_quantiles, starred_cities, trend_labels)

__all__ = [
    "DEFAULT_MODEL", "FEATURES", "SOURCES", "THRESHOLDS", "GradeModel", "PanelSpec", "build_panels",
    "cases_only_score", "china_rule_grade", "city_growth_from_cases", "community_features", "coverage",
    "default_specs", "evaluate", "fit_model", "grade_communities", "grade_features", "grade_of", "home_communities",
    "nation_panel", "predict", "reasons_json", "score_quantiles", "starred_cities", "trend_labels",
]
