"""Community risk grades: thresholds, monotonicity, unknowns, reasons, trend, stars, and a small evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.grades import (DEFAULT_MODEL, FEATURES, SOURCES, THRESHOLDS, GradeModel, cases_only_score,
                             china_rule_grade, grade_communities, grade_features, grade_of, home_communities, predict,
                             score_quantiles, starred_cities, trend_labels)
from forecast.schema import GRADE_LEVELS


def _features(n: int = 1, **cols) -> pd.DataFrame:
    f = pd.DataFrame({k: np.zeros(n) for k in FEATURES}).astype(FEATURES)
    f["community_id"] = np.arange(1, n + 1)
    f["residents"] = 2000.0
    f["n_cells"] = 1
    f["observed_residents"] = 100
    f["has_cases_data"] = True
    f["has_location_data"] = True
    for k, v in cols.items():
        f[k] = v
    return f


def test_thresholds_give_the_right_grade():
    eps = 1e-9
    edges = [0.0, *THRESHOLDS]
    for level, lo in zip(GRADE_LEVELS, edges):
        assert grade_of([lo + eps])[0] == level
    assert grade_of([THRESHOLDS[0] - eps])[0] == "slight"
    assert grade_of([THRESHOLDS[-1] * 100])[0] == "high"
    assert grade_of([np.nan])[0] == "unknown"
    assert list(THRESHOLDS) == sorted(THRESHOLDS)


def test_published_model_is_monotone_by_construction():
    assert all(DEFAULT_MODEL.coef[k] >= 0 for k in SOURCES)
    assert DEFAULT_MODEL.growth >= 0 and DEFAULT_MODEL.density >= 0 and DEFAULT_MODEL.dispersion > 0


@pytest.mark.parametrize("factor", ["own_7", "own_8_14", "near", "exposed", "imported", "city", "city_imported", "growth",
                                    "density"])
def test_score_never_falls_when_a_factor_grows(factor):
    values = np.linspace(-1, 1, 9) if factor in ("growth", "density") else np.array([0, 1, 2, 5, 10, 50, 100, 300, 1000.0])
    f = _features(len(values), **{"city": 0.01, factor: values})
    s = predict(f)["score"]
    assert np.all(np.diff(s) >= -1e-12)
    m = GradeModel(coef={k: 1.0 for k in SOURCES}, growth=0.5, density=0.5)  # every factor active: strictly up
    assert np.all(np.diff(predict(f, m)["score"]) > 0)


def test_score_is_per_100k_per_day_and_intervals_bracket_it():
    m = GradeModel(coef={"base": 2e-5}, dispersion=0.01)  # 2 infections per 100k residents per day
    f = _features(1, residents=5e5)
    p = predict(f, m)
    assert p["score"][0] == pytest.approx(2.0)
    assert p["mu"][0] == pytest.approx(2e-5 * 5e5 * 7)
    assert p["lo"][0] <= p["score"][0] <= p["hi"][0]
    q = score_quantiles(p["mu"], [5e5], m)
    assert np.all(np.diff(q[0]) >= 0) and q[0, 0] == pytest.approx(p["lo"][0]) and q[0, -1] == pytest.approx(p["hi"][0])


def test_unknown_is_stated_never_guessed():
    f = _features(5, own_7=[3.0] * 5)
    f.loc[1, "residents"] = 0.0
    f.loc[2, "n_cells"] = 0
    f.loc[3, "has_cases_data"] = False
    f.loc[4, "observed_residents"] = 0
    g = grade_features(f)
    assert g["grade"].tolist()[1:] == ["unknown"] * 4 and g["grade"][0] != "unknown"
    assert g["score"][1:].isna().all() and g["lo"][1:].isna().all()
    texts = [r[0]["text_en"] for r in g["reasons"][1:]]
    assert ["population" in texts[0], "cell" in texts[1], "case data" in texts[2], "location" in texts[3]] == [True] * 4
    assert all(r[0]["factor"] == "unknown" and r[0]["text_zh"] for r in g["reasons"][1:])


def test_reasons_present_sorted_and_adding_up():
    f = _features(3, own_7=[0.0, 2.0, 0.0], exposed=[0.0, 40.0, 3.0], city=[0.0, 0.05, 0.02], growth=[0.0, 0.5, -0.5],
                  imported=[0.0, 0.2, 0.0], imported_residents=[0, 7, 0], near=[0.0, 1.5, 0.0], near_cases=[0, 2, 0])
    m = GradeModel(coef={k: 0.01 for k in SOURCES}, growth=0.5, density=0.2)
    g = grade_features(f, m)
    for score, reasons in zip(g["score"], g["reasons"]):
        assert reasons and all(r["text_zh"] and r["text_en"] for r in reasons)
        c = [abs(r["contribution"]) for r in reasons]
        assert c == sorted(c, reverse=True)
        assert sum(r["contribution"] for r in reasons) == pytest.approx(score, abs=0.05)
    busy = {r["factor"]: r for r in g["reasons"][1]}
    assert {"own_7", "exposed", "city", "growth", "imported", "near"} <= set(busy)
    assert "40" in busy["exposed"]["text_zh"] and "rising" in busy["growth"]["text_en"]
    assert "fewer than 5" in {r["factor"]: r for r in g["reasons"][2]}["exposed"]["text_en"]  # small counts hidden
    assert {r["factor"]: r for r in g["reasons"][2]}["growth"]["contribution"] < 0  # a falling city lowers the score


def test_trend_against_a_week_earlier():
    assert trend_labels([30.0, 10.0, 2.0, 12.0], [10.0, 30.0, 1.2, 11.0]).tolist() == ["up", "down", "flat", "flat"]
    f = _features(2, own_7=[5.0, 0.0])
    g = grade_features(f, score_week_ago=pd.Series([0.0, 1e6], index=[1, 2]))
    assert g["trend"].tolist() == ["up", "down"]
    assert grade_features(f)["trend"].isna().all()


def test_starred_cities():
    grades = pd.DataFrame({"community_id": [1, 2, 3, 4, 5], "grade": ["high", "medium_high", "medium_low", "unknown", "low"]})
    comms = pd.DataFrame({"community_id": [1, 2, 3, 4, 5], "city_code": [100, 100, 200, 300, 400]})
    s = starred_cities(grades, comms)
    assert s.to_dict("records") == [{"city_code": 100, "hot_communities": 2}]
    assert starred_cities(grades.assign(grade="low"), comms).empty


def test_references():
    f = _features(4, own_7=[0.0, 1.0, 30.0, 0.0], own_8_14=[0.0, 0.0, 30.0, 2.0])
    assert china_rule_grade(f).tolist() == [0, 1, 2, 1]
    assert cases_only_score(f)[3] == pytest.approx(2 / 14 / 2000 * 1e5)


def _toy():
    comms = pd.DataFrame({"community_id": [1, 2, 3, 4], "name": list("abcd"), "city_code": [9, 9, 9, 8],
                          "lon": [120.0, 120.005, 120.5, 110.0], "lat": [30.0, 30.0, 30.0, 30.0],
                          "population": [1000, 3000, 2000, 500]})
    cells = pd.DataFrame({"cell_id": [10, 20, 30, 40], "community_id": [1, 2, 3, 4]})
    cases = pd.DataFrame({"case_id": ["a", "b", "c"], "confirmed_date": pd.to_datetime(["2020-01-19", "2020-01-12", "2020-01-01"]),
                          "city_code": [9, 9, 9], "community_id": [1, 1, 3], "uid": [5, 6, 7]})
    homes = pd.DataFrame({"uid": [5, 6, 7, 8, 9, 10], "community_id": [1, 1, 3, 2, 2, 4]})
    exposure = pd.DataFrame({"uid": [8, 9, 5], "last_exposure_date": pd.to_datetime(["2020-01-18", "2020-01-17", "2020-01-18"])})
    itin = pd.DataFrame({"uid": [10], "city_code": [9], "first_date": pd.to_datetime(["2020-01-15"]),
                         "last_date": pd.to_datetime(["2020-01-16"]), "days": [2]})
    return comms, cells, cases, homes, exposure, itin


def test_grade_communities_end_to_end_without_mutating_inputs():
    args = _toy()
    before = [a.copy(deep=True) for a in args]
    comms, cells, cases, homes, exposure, itin = args
    every = GradeModel(coef={**{k: 0.1 for k in SOURCES}, "base": 1e-6}, growth=0.3, density=0.1)  # all factors show
    g = grade_communities(comms, cells, cases, "2020-01-20", homes=homes, exposure=exposure, itinerary=itin,
                          model=every)
    for a, b in zip(args, before):
        pd.testing.assert_frame_equal(a, b)
    assert g["community_id"].tolist() == [1, 2, 3, 4]
    assert set(g["grade"]) <= set(GRADE_LEVELS)
    by = g.set_index("community_id")
    assert by.loc[1, "score"] > by.loc[3, "score"]  # recent own cases beat an old one
    factors = {r["factor"] for r in by.loc[2, "reasons"]}
    assert {"near", "exposed"} <= factors  # next door to community 1, two residents exposed (not cases)
    from forecast.grades import community_features

    f = community_features(comms, cells, cases, "2020-01-20", homes=homes, exposure=exposure, itinerary=itin)
    assert f["imported"].tolist()[3] > 0 and f["imported_residents"].tolist() == [0, 0, 0, 1]  # back from city 9
    assert f["exposed"].tolist() == [0.0, 2.0, 0.0, 0.0]  # uid 5 is a case: not counted as exposed
    assert grade_communities(comms, cells, None, "2020-01-20", homes=homes)["grade"].eq("unknown").all()
    assert grade_communities(comms, cells, cases, "2020-01-20")["grade"].eq("unknown").all()  # no location data


def test_city_level_floor_features():
    from forecast.grades import community_features

    comms, cells, cases, homes, exposure, itin = _toy()
    f = community_features(comms, cells, cases, "2020-01-20", homes=homes, exposure=exposure, itinerary=itin)
    # city 8 (one community, one observed resident) imported what its traveller brought back; city 9 nothing
    assert f["city_imported"].tolist()[:3] == [0.0, 0.0, 0.0]
    assert f["city_imported"].tolist()[3] == pytest.approx(500 * f["imported"].tolist()[3] / 1)
    m = GradeModel(coef={"city_imported": 1.0})
    g = grade_features(f.assign(own_7=0.0, own_8_14=0.0, city=0.0), m)
    assert g["reasons"][3][0]["factor"] == "city_imported" and g["grade"][3] != "slight"
    assert g["grade"][:3].eq("slight").all()  # no case, no import: the floor
    assert all(r["text_zh"] and r["text_en"] for rs in g["reasons"] for r in rs)


def test_network_counts_are_scaled_to_residents():
    f = _features(2, exposed=[10.0, 10.0], observed_residents=[1000, 500])
    p = predict(f, GradeModel(coef={"exposed": 0.01}))
    assert p["mu"][1] == pytest.approx(2 * p["mu"][0])  # half the residents observed: twice the companions
    tiny = predict(_features(1, residents=50.0), GradeModel(coef={"base": 1e-5}, dispersion=1.0))
    assert tiny["lo"][0] <= tiny["score"][0] <= tiny["hi"][0]  # 95% quantile 0 infections: still brackets


def test_home_is_where_the_nights_are():
    t = int(pd.Timestamp("2020-01-20 08:00", tz="Asia/Shanghai").timestamp())
    stays = pd.DataFrame({"uid": [1, 1, 1], "start_s": [t - 10 * 3600, t, t + 10 * 3600],
                          "end_s": [t, t + 10 * 3600, t + 12 * 3600], "community_id": [5, 6, 6]})
    assert home_communities(stays).to_dict("records") == [{"uid": 1, "community_id": 5}]
    assert home_communities(stays.iloc[:0]).empty


def _home_reference(stays: pd.DataFrame, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """The rule written plainly: most night seconds (00-06 local, first three nights), then most seconds."""
    from forecast.itinerary import local_seconds

    s, e = (local_seconds(stays[c].to_numpy(np.int64), tz) for c in ("start_s", "end_s"))
    d0 = s // 86_400 * 86_400
    night = sum(np.clip(np.minimum(e, d0 + k * 86_400 + 6 * 3600) - np.maximum(s, d0 + k * 86_400), 0, None)
                for k in range(3))
    f = pd.DataFrame({"uid": stays["uid"], "community_id": stays["community_id"], "night": night,
                      "secs": np.maximum(e - s, 0)})
    f = f[f["community_id"] >= 0]
    tot = f.groupby(["uid", "community_id"]).sum().reset_index()
    tot["w"] = tot["night"] * 1e3 + tot["secs"] / 1e3
    tot = tot.sort_values(["uid", "w", "community_id"], ascending=[True, False, True])
    return tot.drop_duplicates("uid")[["uid", "community_id"]].reset_index(drop=True)


@pytest.mark.parametrize("presorted", [True, False])
def test_home_communities_equal_the_plain_rule(presorted):
    rng = np.random.default_rng(7)
    n = 20_000
    start = 1_579_000_000 + rng.integers(0, 14 * 86_400, n)
    stays = pd.DataFrame({"uid": rng.integers(-2**62, 2**62, 2_000)[rng.integers(0, 2_000, n)], "start_s": start,
                          "end_s": start + rng.integers(0, 3, n) * 3_600 * rng.integers(1, 12, n),
                          "community_id": rng.integers(-1, 30, n)})
    if presorted:
        stays = stays.sort_values(["uid", "start_s"], ignore_index=True)
    got = home_communities(stays)
    want = _home_reference(stays)
    assert got["uid"].tolist() == want["uid"].tolist()
    assert got["community_id"].tolist() == want["community_id"].tolist()


def test_small_synthetic_evaluation_beats_the_references():
    from forecast.grades import PanelSpec, evaluate, nation_panel

    spec = PanelSpec("large", 7, None, n_cities=5, communities_per_city=20, n_subscribers=3000, n_days=18,
                     epidemic_days=30, day_step=2)
    panel = nation_panel(spec)
    assert panel["community_id"].nunique() == 100 and panel["date"].nunique() == 3
    ev = evaluate(panel, DEFAULT_MODEL)
    assert 0.0 < ev["positive_share"] < 1.0
    assert ev["auc"] > ev["auc_china_rule"] + 0.03
    assert ev["auc"] > ev["auc_cases_only"] + 0.03
    assert len(ev["calibration"]) == 5
