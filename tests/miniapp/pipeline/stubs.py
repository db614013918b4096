"""Stand-ins for engine steps, so that build tests can check the pipeline without the full engine."""

from __future__ import annotations

import numpy as np
import pandas as pd

from miniapp.pipeline import GradesResult


def stub_flows(ctx):
    return pd.DataFrame({"local_date": pd.Series([], dtype="datetime64[s]"), "origin": pd.Series([], dtype="int64"),
                         "destination": pd.Series([], dtype="int64"), "trips": pd.Series([], dtype="int64")})


def stub_grades(ctx):
    """A stand-in for forecast.grades: cases in the last 14 days per 100k residents."""
    c = ctx.feeds["communities"]
    cases = ctx.feeds["cases"]
    recent = cases[cases["confirmed_date"] >= pd.Timestamp(ctx.as_of) - pd.Timedelta(days=14)]
    n = recent.groupby("community_id").size().reindex(c["community_id"]).fillna(0).to_numpy()
    score = n / np.maximum(c["population"].to_numpy(), 1) * 1e5 / 7
    grade = np.select([score < 1, score < 10, score < 25, score < 75], ["slight", "low", "medium_low", "medium_high"], "high")
    grades = pd.DataFrame({"community_id": c["community_id"], "score": score, "grade": grade, "lo": score * 0.5,
                           "hi": score * 2, "reasons": [[{"factor": "recent_cases", "text_zh": "近期病例",
                                                          "text_en": "recent cases", "contribution": 1.0}]] * len(c)})
    return GradesResult(grades, pd.DataFrame(columns=["region", "date", "q05", "q25", "q50", "q75", "q95"]))
